"""From verified claims to the local account: the map file (email and
sub: keys), email_verified, PAM_USER given or taken from the token."""

import unittest

from moduletest import (PAM_AUTH_ERR, PAM_SUCCESS, PAM_USER_UNKNOWN,
                        ModuleTestCase, Person)


class Identity(ModuleTestCase):

    def test_user_from_token(self):
        """No PAM_USER from the service, user_from_token = yes: nobody is
        asked for a name; the map's account becomes PAM_USER →
        PAM_SUCCESS, USER alice."""
        s = self.setup(options={"user_from_token": "yes"})
        out = s.run(Person(), user=None)
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.check(out, len(out.prompts) == 1,
                   "only the code was asked (no 'login:' prompt)")
        self.assertSignedInLog(out, "alice")

    def test_pam_user_is_another_account(self):
        """PAM_USER bob, but the person signs in as alice (mapped to alice):
        PAM_AUTH_ERR, and PAM_USER stays bob."""
        s = self.setup()
        out = s.run(Person(login="alice"), user="bob")
        self.assertResult(out, PAM_AUTH_ERR, user="bob")
        self.check(out, out.errors == ["iON sign-in failed."], "told")
        self.assertFailedLog(out, "bob",
                             r"the identity maps to another account")

    def test_pam_user_is_another_account_user_from_token(self):
        """user_from_token = yes does not override a PAM_USER the service
        gave: bob stays bob → PAM_AUTH_ERR."""
        s = self.setup(options={"user_from_token": "yes"})
        out = s.run(Person(login="alice"), user="bob")
        self.assertResult(out, PAM_AUTH_ERR, user="bob")
        self.assertFailedLog(out, "bob", r".*maps to another account")

    def test_no_map_line(self):
        """carol signs in (verified email) but has no line in the map →
        PAM_USER_UNKNOWN."""
        s = self.setup()
        out = s.run(Person(login="carol"), user="carol")
        self.assertResult(out, PAM_USER_UNKNOWN)
        self.check(out, out.errors ==
                   ["Your iON account is not allowed on this machine."],
                   "told")
        self.assertFailedLog(out, "carol",
                             r"no local account for this identity")

    def test_no_map_line_user_from_token(self):
        """The same without PAM_USER (user_from_token = yes) →
        PAM_USER_UNKNOWN, and no PAM_USER is set."""
        s = self.setup(options={"user_from_token": "yes"})
        out = s.run(Person(login="carol"), user=None)
        self.assertResult(out, PAM_USER_UNKNOWN)
        self.check(out, out.user is None, "PAM_USER set: %r" % out.user)
        self.assertFailedLog(out, None, r"no local account")

    def test_email_not_verified(self):
        """user_claim = email, dave's map line is his email, but the token
        says email_verified: false → PAM_AUTH_ERR."""
        s = self.setup(options={"user_claim": "email"})
        out = s.run(Person(login="dave"), user="dave")
        self.assertResult(out, PAM_AUTH_ERR)
        self.assertFailedLog(out, "dave", r"email not verified")

    def test_sub_map_line(self):
        """'sub:erin erin' maps by the stable identifier (erin's email is
        not even verified, nor in the map) → PAM_SUCCESS, USER erin."""
        s = self.setup()
        out = s.run(Person(login="erin"), user="erin")
        self.assertResult(out, PAM_SUCCESS, user="erin")
        self.assertSignedInLog(out, "erin")

    def test_sub_map_line_user_from_token(self):
        """The sub: line with user_from_token = yes sets PAM_USER erin."""
        s = self.setup(options={"user_from_token": "yes"})
        out = s.run(Person(login="erin"), user=None)
        self.assertResult(out, PAM_SUCCESS, user="erin")
        self.assertSignedInLog(out, "erin")


if __name__ == "__main__":
    unittest.main()
