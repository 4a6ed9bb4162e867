"""Fail-closed matrix, part 2: discovery, the key set (JWKS) and userinfo
misbehaving (tests/provider/misbehave.js, "endpoint" misbehaviours).
Unreachable, failing (5xx) or hung → PAM_AUTHINFO_UNAVAIL (9); malformed,
oversized, naming another issuer, or keys that must not be used →
PAM_AUTH_ERR (7).  Each setup has its own, cold cache."""

import unittest

from hostile import HTTP_TIMEOUT, HostileCase, closed_port
from moduletest import (PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL, PAM_SUCCESS,
                        Person, http)

HUGE = 300 * 1024  # over the module's 256 KiB cap for documents


class Discovery(HostileCase):
    """Discovery fails before anything is shown: no QR code, no prompt."""

    def bad_discovery(self, spec, code, reason, within=None, **setup):
        s = self.hsetup(**setup)
        if spec is not None:
            self.misbehave(dict(spec, endpoint="discovery"))
        out = s.run(Person())
        if spec is not None:
            self.assertApplied(out, endpoint=1)
        self.assertFailsClosed(out, code, reason, within=within)
        self.check(out, out.infos == [] and out.prompts == [],
                   "a QR code or a prompt without a provider")
        self.check(out, self.provider.stats()["token"] == 0,
                   "the token endpoint was asked")
        return out

    def test_discovery_unreachable(self):
        self.bad_discovery(None, PAM_AUTHINFO_UNAVAIL,
                           r"provider unreachable", within=3.0,
                           options={"issuer": "http://127.0.0.1:%d" %
                                    closed_port()})

    def test_discovery_503(self):
        self.bad_discovery({"response": "status", "status": 503},
                           PAM_AUTHINFO_UNAVAIL,
                           r"provider document not available")

    def test_discovery_500_json(self):
        self.bad_discovery({"response": "status", "status": 500,
                            "body": "{}", "content_type":
                            "application/json"}, PAM_AUTHINFO_UNAVAIL,
                           r"provider document not available")

    def test_discovery_malformed(self):
        self.bad_discovery({"response": "not_json"}, PAM_AUTH_ERR,
                           r"discovery document malformed")

    def test_discovery_huge(self):
        self.bad_discovery({"response": "huge", "bytes": HUGE}, PAM_AUTH_ERR,
                           r"provider document too large")

    def test_discovery_endless(self):
        """A document that never ends: cut at the cap, not read whole."""
        self.bad_discovery({"response": "endless"}, PAM_AUTH_ERR,
                           r"provider document too large",
                           within=HTTP_TIMEOUT)

    def test_discovery_hang(self):
        """No answer at all → PAM_AUTHINFO_UNAVAIL after http_timeout
        (3 s), not login_timeout."""
        out = self.bad_discovery({"response": "hang"}, PAM_AUTHINFO_UNAVAIL,
                                 r"provider timed out",
                                 within=HTTP_TIMEOUT + 2.0)
        self.check(out, out.elapsed >= HTTP_TIMEOUT - 0.5,
                   "gave up after %.1f s, before http_timeout" %
                   out.elapsed)

    def test_discovery_slow_headers_then_hang(self):
        self.bad_discovery({"response": "hang_after_headers"},
                           PAM_AUTHINFO_UNAVAIL, r"provider timed out",
                           within=HTTP_TIMEOUT + 2.0)

    def test_discovery_names_another_issuer(self):
        self.bad_discovery({"json": {"issuer": "https://evil.example"}},
                           PAM_AUTH_ERR, r"discovery names another issuer")

    def test_discovery_issuer_missing(self):
        self.bad_discovery({"json": {"issuer": None}}, PAM_AUTH_ERR,
                           r"discovery names another issuer")

    def test_discovery_without_jwks_uri(self):
        self.bad_discovery({"json": {"jwks_uri": None}}, PAM_AUTH_ERR,
                           r"discovery lacks an endpoint")

    def test_discovery_plain_http_endpoint(self):
        """A token endpoint over plain HTTP to a non-loopback host."""
        self.bad_discovery({"json": {"token_endpoint":
                                     "http://auth.example.org/token"}},
                           PAM_AUTH_ERR, r"discovery lacks an endpoint")

    def test_discovery_redirect(self):
        """A 302 is not followed; a discovery document that is not there
        (not 200) counts as unavailable → PAM_AUTHINFO_UNAVAIL."""
        self.bad_discovery({"response": "redirect",
                            "location": self.provider.issuer +
                            "/.well-known/openid-configuration"},
                           PAM_AUTHINFO_UNAVAIL,
                           r"provider document not available")
        self.assertEqual(self.provider.stats()["discovery"], 1,
                         "the redirect was followed")


class KeySet(HostileCase):
    """The JWKS is fetched after the token exchange (cold cache)."""

    def bad_jwks(self, spec, code, reason, within=None, **setup):
        s = self.hsetup(**setup)
        if spec is not None:
            self.misbehave(dict(spec, endpoint="jwks"))
        out = s.run(Person())
        if spec is not None:
            self.assertApplied(out, endpoint=1)
        self.assertFailsClosed(out, code, reason, within=within)
        return out

    def test_jwks_unreachable(self):
        self.bad_jwks(None, PAM_AUTHINFO_UNAVAIL, r"provider unreachable",
                      options={"jwks_uri": "http://127.0.0.1:%d/jwks" %
                               closed_port()})

    def test_jwks_503(self):
        self.bad_jwks({"response": "status", "status": 503},
                      PAM_AUTHINFO_UNAVAIL, r"provider document not "
                      r"available")

    def test_jwks_404(self):
        self.bad_jwks({"response": "status", "status": 404},
                      PAM_AUTHINFO_UNAVAIL, r"provider document not "
                      r"available")

    def test_jwks_malformed(self):
        self.bad_jwks({"response": "not_json"}, PAM_AUTH_ERR,
                      r"key set malformed")

    def test_jwks_without_keys(self):
        self.bad_jwks({"jwks": "no_keys"}, PAM_AUTH_ERR, r"key set malformed")

    def test_jwks_keys_not_a_list(self):
        self.bad_jwks({"json": {"keys": {"kty": "RSA"}}}, PAM_AUTH_ERR,
                      r"key set malformed")

    def test_jwks_huge(self):
        self.bad_jwks({"response": "huge", "bytes": HUGE}, PAM_AUTH_ERR,
                      r"provider document too large")

    def test_jwks_endless(self):
        self.bad_jwks({"response": "endless"}, PAM_AUTH_ERR,
                      r"provider document too large", within=HTTP_TIMEOUT)

    def test_jwks_hang(self):
        out = self.bad_jwks({"response": "hang"}, PAM_AUTHINFO_UNAVAIL,
                            r"provider timed out",
                            within=HTTP_TIMEOUT + 2.0)
        self.check(out, out.elapsed >= HTTP_TIMEOUT - 0.5,
                   "gave up after %.1f s" % out.elapsed)

    def test_jwks_keys_without_kid(self):
        """The token names a kid, the key set has no kids: no key for it
        (the set was just fetched, so no refetch) → PAM_AUTH_ERR."""
        out = self.bad_jwks({"jwks": "no_kid"}, PAM_AUTH_ERR,
                            r"id_token signed with an unknown key")
        self.check(out, self.provider.stats()["jwks"] == 1, "refetched")

    def test_jwks_duplicate_kid(self):
        """Two RSA keys under one kid (one of them the right key), in a
        key set just fetched: the module does not try both, nor fetch it
        again → PAM_AUTH_ERR."""
        out = self.bad_jwks({"jwks": "duplicate_kid"}, PAM_AUTH_ERR,
                            r"key set has two keys with the token's kid")
        self.check(out, self.provider.stats()["jwks"] == 1, "refetched")

    def test_jwks_duplicate_kid_cached(self):
        """The key set with the duplicate kid is in the cache from an
        earlier sign-in (which failed on it): the next sign-in fetches it
        again, once, and the good set verifies → PAM_SUCCESS."""
        s = self.hsetup()
        self.misbehave({"endpoint": "jwks", "jwks": "duplicate_kid"})
        out = s.run(Person())
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"key set has two keys with the token's kid")
        self.provider.reset()
        out = s.run(Person())
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.assertSignedInLog(out, "alice")
        st = self.provider.stats()
        self.check(out, st["jwks"] == 1 and st["discovery"] == 0,
                   "fetches on the second sign-in: jwks %d, discovery %d"
                   % (st["jwks"], st["discovery"]))

    def test_jwks_private_key_published(self):
        """Keys published with their private members: not trusted."""
        self.bad_jwks({"jwks": "private_members"}, PAM_AUTH_ERR,
                      r"id_token signature or algorithm refused")

    def test_jwks_key_use_enc(self):
        """The only RSA key is marked "use": "enc"."""
        kid = self.signing_kid("RSA")
        s = self.hsetup()
        # Rebuild the key set's RSA key with use=enc via a full override.
        jwks = self.jwks_now()
        for k in jwks["keys"]:
            if k["kid"] == kid:
                k["use"] = "enc"
        self.misbehave({"endpoint": "jwks", "json": {"keys": jwks["keys"]}})
        out = s.run(Person())
        self.assertApplied(out, endpoint=1)
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"id_token signature or algorithm refused")

    def test_jwks_key_alg_mismatch(self):
        """The RSA key says "alg": "PS256", the token is RS256."""
        kid = self.signing_kid("RSA")
        s = self.hsetup()
        jwks = self.jwks_now()
        for k in jwks["keys"]:
            if k["kid"] == kid:
                k["alg"] = "PS256"
        self.misbehave({"endpoint": "jwks", "json": {"keys": jwks["keys"]}})
        out = s.run(Person())
        self.assertApplied(out, endpoint=1)
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"id_token signature or algorithm refused")

    def test_jwks_rsa_exponent_one(self):
        """The RSA key with e = 1 (every message its own signature)."""
        kid = self.signing_kid("RSA")
        s = self.hsetup()
        jwks = self.jwks_now()
        for k in jwks["keys"]:
            if k["kid"] == kid:
                k["e"] = "AQ"
        self.misbehave({"endpoint": "jwks", "json": {"keys": jwks["keys"]}})
        out = s.run(Person())
        self.assertApplied(out, endpoint=1)
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"id_token signature or algorithm refused")

    def jwks_now(self):
        """The provider's key set as it is (this fetch is reset away)."""
        status, jwks = http("GET", self.provider.issuer + "/oauth2/jwks")
        self.assertEqual(status, 200)
        self.provider.reset()
        return jwks


class UserInfo(HostileCase):
    """The id_token lacks the claim the map needs (email), so the module
    asks userinfo; userinfo misbehaves."""

    NO_EMAIL = {"id_token": {"claims": {"email": None,
                                        "email_verified": None}}}

    def userinfo_run(self, spec):
        s = self.hsetup()
        self.misbehave(self.NO_EMAIL)
        if spec is not None:
            self.misbehave(dict(spec, endpoint="userinfo"))
        out = s.run(Person())
        self.assertApplied(out, token=1, endpoint=1 if spec else 0)
        self.check(out, self.provider.stats()["userinfo"] == 1,
                   "userinfo was not asked")
        return out

    def test_control_email_from_userinfo(self):
        """Control: userinfo supplies email and email_verified →
        PAM_SUCCESS."""
        out = self.userinfo_run(None)
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.assertSignedInLog(out, "alice")

    def test_email_and_verified_from_one_source(self):
        """email and email_verified are a pair, taken from one source: the
        id_token says email dave@example.org (mapped to dave) without
        email_verified; userinfo says alice@example.org, verified.  A
        module that took the email from one and the flag from the other
        would sign in dave → it must be PAM_AUTH_ERR (from userinfo the
        identity is alice, not PAM_USER dave)."""
        s = self.hsetup()
        self.misbehave({"id_token": {"claims": {
            "email": "dave@example.org", "email_verified": None}}})
        out = s.run(Person(), user="dave")
        self.assertApplied(out, token=1)
        self.check(out, self.provider.stats()["userinfo"] == 1,
                   "userinfo was not asked")
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"the identity maps to another account",
                               user="dave")
        self.check(out, out.user == "dave", "PAM_USER changed")

    def test_rp_userinfo_bad_sub_claim(self):
        """userinfo names another sub (OIDC Core 5.3.2) → PAM_AUTH_ERR."""
        out = self.userinfo_run({"json": {"sub": "mallory"}})
        self.assertFailsClosed(out, PAM_AUTH_ERR, r"userinfo sub mismatch")

    def test_userinfo_sub_missing(self):
        out = self.userinfo_run({"json": {"sub": None}})
        self.assertFailsClosed(out, PAM_AUTH_ERR, r"userinfo sub missing")

    def test_userinfo_malformed(self):
        out = self.userinfo_run({"response": "not_json"})
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"userinfo is not a JSON object")

    def test_userinfo_huge(self):
        out = self.userinfo_run({"response": "huge", "bytes": HUGE})
        self.assertFailsClosed(out, PAM_AUTH_ERR, r"userinfo too large")

    def test_userinfo_401(self):
        out = self.userinfo_run({"response": "status", "status": 401})
        self.assertFailsClosed(out, PAM_AUTH_ERR, r"userinfo refused")

    def test_userinfo_500(self):
        out = self.userinfo_run({"response": "status", "status": 500})
        self.assertFailsClosed(out, PAM_AUTHINFO_UNAVAIL,
                               r"userinfo endpoint failed \(5xx\)")

    def test_userinfo_hang(self):
        out = self.userinfo_run({"response": "hang"})
        self.assertFailsClosed(out, PAM_AUTHINFO_UNAVAIL,
                               r"userinfo endpoint timed out",
                               within=HTTP_TIMEOUT + 2.0)

    def test_userinfo_unreachable(self):
        s = self.hsetup({"userinfo_endpoint": "http://127.0.0.1:%d/ui" %
                         closed_port()})
        self.misbehave(self.NO_EMAIL)
        out = s.run(Person())
        self.assertFailsClosed(out, PAM_AUTHINFO_UNAVAIL,
                               r"userinfo endpoint unreachable")


if __name__ == "__main__":
    unittest.main()
