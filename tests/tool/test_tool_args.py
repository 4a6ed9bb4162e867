"""pam-ion's command line: bad arguments give one line on stderr and exit
status 2; --config is read as the module reads config=."""

import os
import unittest

from tooltest import ToolCase, run


class Args(ToolCase):
    def test_bad_arguments(self):
        for args, words in [
                ((), "missing command"),
                (("frobnicate",), "unknown command 'frobnicate'"),
                (("map",), "give a VALUE"),
                (("map", "--check", "x"), "--check takes no VALUE"),
                (("map", "--bogus"), "unknown option '--bogus'"),
                (("map", "--config"), "--config needs a value"),
                (("map", "--config="), "--config needs a value"),
                (("map", "--config", "/a", "--config", "/b", "x"),
                 "--config given twice"),
                (("map", "--check", "--check"), "--check given twice"),
                (("map", "--check=yes"), "--check takes no value"),
                (("cache",), "missing operand"),
                (("cache", "show", "more"), "unexpected argument 'more'"),
                (("cache", "list"), "unknown action 'list'"),
                (("cache", "--check", "show"), "unknown option '--check'"),
                (("login", "alice", "bob"),
                 "login: unexpected argument 'bob'"),
                (("login", "--service", "x"), "unknown option '--service'"),
                (("check", "extra"), "check: unexpected argument 'extra'"),
                (("check", "--service"), "--service needs a value"),
                (("check", "--pam-dir="), "--pam-dir needs a value"),
                (("check", "--sshd-config", "a", "--sshd-config=b"),
                 "--sshd-config given twice"),
                (("check", "--check"), "unknown option '--check'"),
                (("map", "--service", "sshd", "x"),
                 "unknown option '--service'"),
                (("check", "--match", "user=a;id"),
                 "--match: only letters, digits and _.,=:@- "),
                (("check", "--match="), "--match needs a value"),
                (("check", "--module-dir"), "--module-dir needs a value"),
                (("map", "--match", "user=a", "x"),
                 "unknown option '--match'"),
        ]:
            with self.subTest(args=args):
                status, out, err = run(*args)
                self.assertEqual(status, 2, err)
                self.assertEqual(out, "")
                self.assertEqual(len(err.splitlines()), 1, err)
                self.assertIn(words, err)
                self.assertTrue(err.startswith("pam-ion"), err)

    def test_help_and_version(self):
        status, out, _ = run("--help")
        self.assertEqual(status, 0)
        self.assertIn("pam-ion map", out)
        self.assertIn("[--match user=NAME,host=HOST,addr=ADDR]", out)
        self.assertIn("[--module-dir DIR]", out)
        status, out, _ = run("--version")
        self.assertEqual(status, 0)
        self.assertRegex(out, r"^pam-ion \d+\.\d+\.\d+\n$")

    def test_config_refused_as_the_module_refuses_it(self):
        f = self.files()
        os.chmod(f.secret_file, 0o644)
        status, out, err = run("map", "--config", f.conf, "--check")
        self.assertEqual(status, 1)
        self.assertIn(f.secret_file, err)
        self.assertEqual(out, "")

    def test_relative_config(self):
        f = self.files()
        status, out, err = run("map", "--config=pam_ion.conf", "--check",
                               cwd=f.dir)
        self.assertEqual(status, 0, err)


if __name__ == "__main__":
    unittest.main()
