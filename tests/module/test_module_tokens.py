"""The provider side: the discovery/JWKS cache, key rotation, the token
endpoint misbehaving, id_tokens that must be refused, RFC 9207 iss."""

import os
import stat
import unittest

from moduletest import (PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL, PAM_SUCCESS,
                        ModuleTestCase, Person)


class Cache(ModuleTestCase):

    def counts(self):
        st = self.provider.stats()
        return st["discovery"], st["jwks"]

    def test_warm_cache(self):
        """A cold login fetches discovery and the JWKS exactly once each and
        caches them (root-owned, 0600); the next login makes no request
        for either.  Both → PAM_SUCCESS."""
        s = self.setup()
        out = s.run(Person())
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.assertSignedInLog(out, "alice")
        self.check(out, self.counts() == (1, 1),
                   "cold: discovery, jwks = %r, expected (1, 1)" %
                   (self.counts(),))
        files = s.cache_files()
        self.check(out, len(files) == 2, "cache files %r" % files)
        for f in files:
            st = os.lstat(os.path.join(s.cache_dir, f))
            self.check(out, stat.S_ISREG(st.st_mode) and st.st_uid == 0 and
                       stat.S_IMODE(st.st_mode) == 0o600,
                       "cache file %s: mode %o uid %d" % (
                           f, st.st_mode, st.st_uid))
        self.provider.reset()
        out = s.run(Person())
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.assertSignedInLog(out, "alice")
        self.check(out, self.counts() == (0, 0),
                   "warm: discovery, jwks = %r, expected (0, 0)" %
                   (self.counts(),))

    def test_key_rotation(self):
        """The provider rotates its keys (the old ones leave the JWKS) right
        after a login cached them: the next login meets an unknown kid,
        refetches the JWKS once (discovery stays cached) →
        PAM_SUCCESS; the one after that needs no fetch."""
        s = self.setup()
        out = s.run(Person())
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.provider.rotate_keys()
        self.provider.reset()
        out = s.run(Person())
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.assertSignedInLog(out, "alice")
        self.check(out, self.counts() == (0, 1),
                   "after rotation: discovery, jwks = %r, expected (0, 1)" %
                   (self.counts(),))
        self.provider.reset()
        out = s.run(Person())
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.check(out, self.counts() == (0, 0),
                   "the new keys were not cached: %r" % (self.counts(),))

    def test_unknown_kid_refetches_once(self):
        """An id_token naming a kid the provider does not publish, with a
        warm cache: one JWKS refetch, no loop → PAM_AUTH_ERR."""
        s = self.setup()
        out = s.run(Person())
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.provider.reset()
        self.provider.misbehave({"id_token": {"kid": "no-such-kid"}})
        out = s.run(Person())
        self.assertResult(out, PAM_AUTH_ERR)
        self.check(out, self.counts() == (0, 1),
                   "discovery, jwks = %r, expected (0, 1)" %
                   (self.counts(),))
        self.assertFailedLog(out, "alice", r"id_token signed with an "
                             r"unknown key")

    def test_unknown_kid_cold_cache(self):
        """The same with a cold cache: the JWKS just fetched is not fetched
        again → PAM_AUTH_ERR with one JWKS request."""
        s = self.setup()
        self.provider.misbehave({"id_token": {"kid": "no-such-kid"}})
        out = s.run(Person())
        self.assertResult(out, PAM_AUTH_ERR)
        self.check(out, self.counts() == (1, 1),
                   "discovery, jwks = %r, expected (1, 1)" %
                   (self.counts(),))
        self.assertFailedLog(out, "alice", r"id_token signed with an "
                             r"unknown key")


class TokenEndpoint(ModuleTestCase):

    def login_with(self, spec, **person):
        s = self.setup()
        if spec is not None:
            self.provider.misbehave(spec)
        out = s.run(Person(**person))
        st = self.provider.stats()
        if spec is not None:
            self.check(out, len(st["misbehaviours_applied"]) == 1 and
                       st["misbehaviours_pending"] == 0,
                       "the misbehaviour was not applied: %r" %
                       st["misbehaviours_applied"])
        return out

    def test_invalid_grant(self):
        """400 invalid_grant → PAM_AUTH_ERR."""
        out = self.login_with({"token": "invalid_grant"})
        self.assertResult(out, PAM_AUTH_ERR)
        self.check(out, out.errors == ["iON sign-in was cancelled or "
                                       "refused."], "told")
        self.assertFailedLog(out, "alice", r"token endpoint refused the "
                             r"code")

    def test_status_500(self):
        """500 with an HTML body → PAM_AUTHINFO_UNAVAIL."""
        out = self.login_with({"token": "status", "status": 500})
        self.assertResult(out, PAM_AUTHINFO_UNAVAIL)
        self.check(out, out.errors ==
                   ["iON sign-in is not available right now."], "told")
        self.assertFailedLog(out, "alice", r"token endpoint failed \(5xx\)")

    def test_alg_none(self):
        """An unsigned id_token (alg none) → PAM_AUTH_ERR."""
        out = self.login_with({"id_token": {"alg": "none"}})
        self.assertResult(out, PAM_AUTH_ERR)
        self.assertFailedLog(out, "alice", r"id_token\b")

    def test_wrong_nonce(self):
        """An id_token with another nonce (a code from another login) →
        PAM_AUTH_ERR."""
        out = self.login_with({"id_token": {"claims": {
            "nonce": "Zm9yZWlnbi1ub25jZS1mcm9tLWFub3RoZXItbG9naW4"}}})
        self.assertResult(out, PAM_AUTH_ERR)
        self.assertFailedLog(out, "alice", r".*nonce")

    def test_wrong_iss_in_authorization_response(self):
        """RFC 9207: the authorization response names another issuer
        (phone.py --wrong-iss) → PAM_AUTH_ERR before any token request."""
        out = self.login_with(None, iss_override="https://attacker.invalid")
        self.assertResult(out, PAM_AUTH_ERR)
        self.check(out, out.person.callback_query.get("iss") ==
                   "https://attacker.invalid", "the phone changed iss")
        self.check(out, self.provider.stats()["token"] == 0,
                   "the code was exchanged")
        self.assertFailedLog(out, "alice", r"authorization response from "
                             r"another issuer \(iss\)")


if __name__ == "__main__":
    unittest.main()
