"""pam-ion map VALUE... and map --check, on the module's usermap.c."""

import os
import unittest

from tooltest import ToolCase, run

MAP = ("# the map\n"
       "alice@example.com root\n"
       "sub:248289761001 daemon\n"
       "bob@example.com nosuchaccount\n")


class Map(ToolCase):
    def test_values(self):
        f = self.files(MAP)
        status, out, err = run("map", "--config", f.conf,
                               "alice@example.com", "sub:248289761001")
        self.assertEqual((status, err), (0, ""))
        self.assertEqual(out, "alice@example.com root\n"
                         "sub:248289761001 daemon\n")

    def test_unmapped_and_missing_account(self):
        f = self.files(MAP)
        status, out, _ = run("map", "--config", f.conf, "carol@example.com",
                             "bob@example.com", "sub:alice@example.com",
                             "alice@example.com")
        self.assertEqual(status, 1)
        self.assertEqual(out.splitlines(), [
            "carol@example.com -",
            "bob@example.com nosuchaccount (no such local account)",
            # a sub: value is the identifier, never the user claim
            "sub:alice@example.com -",
            "alice@example.com root"])

    def test_other_user_claim(self):
        f = self.files("alice root\n", options={"user_claim":
                                                "preferred_username"})
        status, out, _ = run("map", "--config", f.conf, "alice")
        self.assertEqual((status, out), (0, "alice root\n"))

    def test_check_good(self):
        f = self.files(MAP)
        status, out, err = run("map", "--config", f.conf, "--check")
        self.assertEqual((status, out, err), (0, "ok: %s\n" % f.map_file,
                                              ""))

    def test_check_broken(self):
        for text, mode, words in [
                (MAP + "alice@example.com daemon\n", 0o644,
                 ":5: the key is also on line 2 with a different user"),
                (MAP + "only-one-field\n", 0o644, ":5:"),
                (MAP + "x bad/user\n", 0o644, ":5:"),
                (MAP, 0o666, "writable by group or others"),
        ]:
            with self.subTest(words=words):
                f = self.files(text)
                os.chmod(f.map_file, mode)
                status, out, err = run("map", "--config", f.conf, "--check")
                self.assertEqual(status, 1, out)
                self.assertTrue(out.startswith("FAIL: %s" % f.map_file),
                                out)
                self.assertIn(words, out)
                self.assertEqual(len(out.splitlines()), 1)
                # map VALUE refuses the same file, on stderr
                status, out, err = run("map", "--config", f.conf,
                                       "alice@example.com")
                self.assertEqual((status, out), (1, ""))
                self.assertIn(words, err)
                for name in os.listdir(self.dir):
                    p = os.path.join(self.dir, name)
                    if os.path.isdir(p):
                        os.rmdir(p)
                    else:
                        os.unlink(p)

    def test_missing_map_file(self):
        f = self.files(MAP)
        os.unlink(f.map_file)
        status, out, _ = run("map", "--config", f.conf, "--check")
        self.assertEqual(status, 1)
        self.assertTrue(out.startswith("FAIL: %s" % f.map_file), out)


if __name__ == "__main__":
    unittest.main()
