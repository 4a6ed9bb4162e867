"""Fail-closed matrix, part 7: pam_ion inside a stack.  Two stacks an
administrator might write:

    permit-then-required:   auth required pam_permit.so
                            auth required pam_ion.so ...
    sufficient-then-deny:   auth sufficient pam_ion.so ...
                            auth required pam_deny.so

For representative failures (bad signature, wrong nonce, invalid_grant,
relay down, timeout, configuration error) neither stack may succeed
(pamdrive's RESULT != 0); a good sign-in succeeds through both (so the
stacks themselves are sound)."""

import os
import unittest

from hostile import PAM_IGNORE, HostileCase, closed_port
from moduletest import (MODULE, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL,
                        PAM_SERVICE_ERR, PAM_SUCCESS, SERVICE, Person)

STACKS = {
    "permit-then-required": ("auth required pam_permit.so\n"
                             "auth required %s config=%s\n"),
    "sufficient-then-deny": ("auth sufficient %s config=%s\n"
                             "auth required pam_deny.so\n"),
}


class Stacks(HostileCase):

    def run_in(self, stack, person, token=None, **setup):
        s = self.hsetup(**setup)
        path = os.path.join(s.pamd, SERVICE)
        with open(path, "w") as f:
            f.write(STACKS[stack] % (MODULE, s.conf))
        self.provider.reset()
        if token is not None:
            self.provider.misbehave(token)
        return s.run(person, timeout=40)

    def each_stack(self, code, make_person, token=None, **setup):
        """Both stacks fail: permit-then-required with pam_ion's own code
        (`code`), sufficient-then-deny with pam_deny's PAM_AUTH_ERR; one
        syslog line (pam_ion's) each."""
        want = {"permit-then-required": code,
                "sufficient-then-deny": PAM_AUTH_ERR}
        for stack in STACKS:
            with self.subTest(stack=stack):
                out = self.run_in(stack, make_person(), token, **setup)
                self.check(out, out.code not in (PAM_SUCCESS, PAM_IGNORE),
                           "FAIL OPEN: the %s stack answered %s %s" % (
                               stack, out.code, out.code_name))
                self.assertResult(out, want[stack])
                self.check(out, len(out.logs) == 1,
                           "%d syslog lines" % len(out.logs))

    def test_control_success(self):
        for stack in STACKS:
            with self.subTest(stack=stack):
                out = self.run_in(stack, Person())
                self.assertResult(out, PAM_SUCCESS, user="alice")
                self.assertSignedInLog(out, "alice")

    def test_bad_signature(self):
        self.each_stack(PAM_AUTH_ERR, Person,
                        {"id_token": {"tamper_signature": True}})

    def test_wrong_nonce(self):
        self.each_stack(PAM_AUTH_ERR, Person, {"id_token": {"claims": {
            "nonce": "Zm9yZWlnbi1ub25jZS1mcm9tLWFub3RoZXItbG9naW4"}}})

    def test_invalid_grant(self):
        self.each_stack(PAM_AUTH_ERR, Person, {"token": "invalid_grant"})

    def test_relay_down(self):
        self.each_stack(PAM_AUTHINFO_UNAVAIL, Person, options={
            "relay_url": "http://127.0.0.1:%d" % closed_port()})

    def test_timeout(self):
        self.each_stack(PAM_AUTHINFO_UNAVAIL,
                        lambda: Person(login=None, answers=[]), options={
            "prompt": "auto", "login_timeout": "10", "http_timeout": "3"})

    def test_config_error(self):
        self.each_stack(PAM_SERVICE_ERR, Person,
                        extra_lines=["frobnicate = 1"])

    def test_token_user_is_another_account(self):
        self.each_stack(PAM_AUTH_ERR, lambda: Person(login="bob"))


if __name__ == "__main__":
    unittest.main()
