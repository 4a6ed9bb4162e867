"""pam-ion login [USER] in a pty, with the scripted phone (moduletest's
Person) against the stand-in provider and the real relay: it shows the
link and the prompt, prints the verified claims and the mapped account."""

import json
import os
import pty
import select
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "module"))
import moduletest as mt  # noqa: E402
from stand.drive import link_in  # noqa: E402

TOOL = os.environ.get("PAM_ION_TOOL", "")
TIMEOUT = 60
# Every prompt the module shows with confirm = yes, prompt = enter.
PROMPTS = (mt.PROMPT_CODE, mt.PROMPT_WRONG, mt.PROMPT_AGAIN_CODE)


def setUpModule():
    why = mt.requirements_missing()
    if why is None and not os.access(TOOL, os.X_OK):
        why = "PAM_ION_TOOL is not the built pam-ion"
    if why:
        raise unittest.SkipTest(why)


def tearDownModule():
    mt.close_stack()


def login(setup, person, *args):
    """Runs pam-ion login ARGS on a pty, answering prompts as person does;
    (status, everything the terminal showed)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([TOOL, "login", "--config", setup.conf] +
                            list(args), stdin=slave, stdout=slave,
                            stderr=slave, close_fds=True,
                            env={"PATH": os.environ.get("PATH", ""),
                                 "LANG": "C.UTF-8"})
    os.close(slave)
    seen, answered, deadline = "", 0, time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(master, 65536).decode("utf-8",
                                                          "replace")
                except OSError:  # EIO: the child closed the pty
                    break
                if not chunk:
                    break
                seen += chunk.replace("\r\n", "\n")
                link = link_in(seen)
                if link and person.link is None:
                    person.saw_link(link)
                prompts = sum(seen.count(p) for p in PROMPTS)
                if prompts > answered:
                    ans = person.answer(answered, mt.PROMPT_CODE)
                    answered += 1
                    os.write(master, (ans if ans is not None else
                                      "\x04").encode() + b"\n")
            elif proc.poll() is not None:
                break
        status = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return status, seen


class Login(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.st = mt.stack()

    def test_signs_in_and_prints_the_account(self):
        s = self.st.setup()
        person = mt.Person("alice")
        status, seen = login(s, person, "alice")
        print("\n" + seen, file=sys.stderr)
        self.assertEqual(status, 0, seen)
        self.assertIn(person.link, seen)
        self.assertIn(mt.PROMPT_CODE, seen)
        lines = seen.splitlines()
        self.assertEqual(lines[-1], "account alice (no such local account)"
                         if not _user_exists("alice") else
                         "account alice")
        self.assertEqual(lines[-2], "rules none configured")
        claims = json.loads(lines[-3][len("claims "):])
        self.assertEqual(claims["email"], "alice@example.org")
        self.assertIs(claims["email_verified"], True)
        self.assertEqual(claims["iss"], self.st.provider.issuer)

    def test_without_user_shows_the_mapped_account(self):
        s = self.st.setup()
        status, seen = login(s, mt.Person("bob"))
        self.assertEqual(status, 0, seen)
        self.assertTrue(seen.splitlines()[-1].startswith("account bob"),
                        seen)

    def test_other_account_is_refused(self):
        s = self.st.setup()
        status, seen = login(s, mt.Person("bob"), "alice")
        self.assertEqual(status, 1, seen)
        self.assertIn("pam-ion: sign-in failed: the identity maps to "
                      "another account", seen)
        self.assertIn('"email":"bob@example.org"', seen)
        self.assertNotIn("\naccount ", seen)

    def test_wrong_code_is_refused(self):
        s = self.st.setup()
        status, seen = login(s, mt.Person(
            "alice", answers=("{wrong}", "{wrong}", "{wrong}")), "alice")
        self.assertEqual(status, 1, seen)
        self.assertEqual(seen.count(mt.PROMPT_WRONG), 2, seen)
        self.assertIn("pam-ion: sign-in failed:", seen)
        self.assertNotIn("claims ", seen)

    def test_shows_the_rules_met(self):
        self.st.provider.set_account("alice", claims={"groups": ["admins"]})
        self.addCleanup(self.st.provider.reset)
        s = self.st.setup(options={"require_groups": "ops admins",
                                   "max_age": "300"})
        status, seen = login(s, mt.Person("alice"), "alice")
        self.assertEqual(status, 0, seen)
        self.assertIn("\nrule require_groups met: member of admins\n", seen)
        self.assertIn("\nrule max_age met: signed in at iON during this "
                      "sign-in\n", seen)

    def test_shows_the_rule_not_met(self):
        self.st.provider.set_account("alice", claims={"groups": ["users"]})
        self.addCleanup(self.st.provider.reset)
        s = self.st.setup(options={"require_groups": "admins"})
        status, seen = login(s, mt.Person("alice"), "alice")
        self.assertEqual(status, 1, seen)
        self.assertIn("\nrule require_groups NOT met: not a member of any "
                      "required group\n", seen)
        self.assertIn("pam-ion: sign-in failed: access rule require_groups "
                      "not met", seen)
        self.assertIn('"groups":["users"]', seen)
        self.assertNotIn("\naccount ", seen)

    def test_relay_down(self):
        port = mt.free_port()
        s = self.st.setup(options={"relay_url": "http://127.0.0.1:%d"
                                   % port})
        status, seen = login(s, mt.Person(None), "alice")
        self.assertEqual(status, 1, seen)
        self.assertIn("pam-ion: sign-in failed:", seen)


def _user_exists(name):
    import pwd
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


if __name__ == "__main__":
    unittest.main()
