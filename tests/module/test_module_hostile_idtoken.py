"""Fail-closed matrix, part 1: the id_token (the OpenID Foundation's Basic RP
conformance plan and the legacy rp-* list).  Each case is one real sign-in
through libpam, the relay, the stand-in provider and the scripted phone,
with the provider's token answer changed (tests/provider/misbehave.js).
Invalid tokens → PAM_AUTH_ERR (7); the few cases the design accepts
(kid absent with exactly one key of the right type, a rotated key after
one refetch, ES256 with the EC key) → PAM_SUCCESS as controls."""

import unittest

from hostile import HostileCase
from moduletest import PAM_AUTH_ERR, PAM_SUCCESS, Person

SIG = r"id_token signature or algorithm refused"
UNKNOWN_KEY = r"id_token signed with an unknown key"


class IdTokenClaims(HostileCase):
    """OpenID Connect Core 3.1.3.7: each claim check on its own."""

    def bad_claims(self, claims, reason):
        s = self.hsetup()
        self.misbehave({"id_token": {"claims": claims}})
        out = s.run(Person())
        self.assertApplied(out, token=1)
        self.assertFailsClosed(out, PAM_AUTH_ERR, reason)
        self.check(out, out.errors == ["iON sign-in failed."], "told")
        return out

    def test_control_plain_resign(self):
        """Control: the same path with a re-signed, unchanged token →
        PAM_SUCCESS (so each refusal below is the one change's)."""
        s = self.hsetup()
        self.misbehave({"id_token": {}})
        out = s.run(Person())
        self.assertApplied(out, token=1)
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.assertSignedInLog(out, "alice")

    def test_rp_id_token_iss_mismatch(self):
        self.bad_claims({"iss": "https://evil.example"}, r"iss mismatch")

    def test_rp_id_token_iss_missing(self):
        self.bad_claims({"iss": None}, r"iss missing")

    def test_rp_id_token_iss_trailing_slash(self):
        """'issuer/' is another issuer for the id_token (exact match)."""
        self.bad_claims({"iss": self.provider.issuer + "/"}, r"iss mismatch")

    def test_rp_id_token_aud_mismatch(self):
        self.bad_claims({"aud": "other-client"}, r"aud mismatch")

    def test_rp_id_token_aud_missing(self):
        self.bad_claims({"aud": None}, r"aud missing")

    def test_rp_id_token_aud_list_without_us(self):
        self.bad_claims({"aud": ["other-client", "third"], "azp": None},
                        r"aud mismatch")

    def test_rp_id_token_untrusted_aud_without_azp(self):
        """aud holds us and an untrusted audience, no azp."""
        self.bad_claims({"aud": ["pam-test", "untrusted"], "azp": None},
                        r"azp missing")

    def test_rp_id_token_untrusted_aud_wrong_azp(self):
        self.bad_claims({"aud": ["pam-test", "untrusted"],
                         "azp": "untrusted"}, r"azp mismatch")

    def test_rp_id_token_azp_wrong_single_aud(self):
        self.bad_claims({"azp": "untrusted"}, r"azp mismatch")

    def test_rp_id_token_sub_missing(self):
        self.bad_claims({"sub": None}, r"sub missing")

    def test_rp_id_token_sub_empty(self):
        self.bad_claims({"sub": ""}, r"sub empty")

    def test_rp_id_token_iat_missing(self):
        self.bad_claims({"iat": None}, r"iat missing")

    def test_rp_id_token_iat_future(self):
        self.bad_claims({"iat": "now+3600"}, r"iat in the future")

    def test_rp_id_token_iat_before_login(self):
        """Issued an hour before this sign-in began (a stored token)."""
        self.bad_claims({"iat": "now-3600"}, r"iat too old")

    def test_rp_id_token_exp_expired(self):
        self.bad_claims({"exp": "now-3600"}, r"expired")

    def test_rp_id_token_exp_missing(self):
        self.bad_claims({"exp": None}, r"exp missing")

    def test_rp_id_token_exp_string(self):
        self.bad_claims({"exp": "9999999999"}, r"exp malformed")

    def test_rp_id_token_nbf_future(self):
        self.bad_claims({"nbf": "now+3600"}, r"not yet valid")

    def test_rp_nonce_missing(self):
        self.bad_claims({"nonce": None}, r"nonce missing")

    def test_rp_nonce_invalid(self):
        self.bad_claims({"nonce": "Zm9yZWlnbi1ub25jZS1mcm9tLWFub3RoZXItbG9n"
                                  "aW4"}, r"nonce mismatch")


class IdTokenSignature(HostileCase):
    """JWS: algorithms, keys and signatures."""

    def bad_token(self, spec, reason=SIG, options=None):
        s = self.hsetup(options)
        self.misbehave({"id_token": spec})
        out = s.run(Person())
        self.assertApplied(out, token=1)
        self.assertFailsClosed(out, PAM_AUTH_ERR, reason)
        return out

    def test_rp_id_token_sig_none(self):
        """alg none, empty signature (rp-id_token-sig-none)."""
        self.bad_token({"alg": "none"}, r"id_token is not a compact JWS")

    def test_rp_id_token_bad_sig_rs256(self):
        """Flipped signature bits (rp-id_token-bad-sig-rs256)."""
        self.bad_token({"tamper_signature": True})

    def test_signed_with_an_unpublished_key(self):
        """Signed with another RSA key, kid names the published one."""
        self.bad_token({"sign_with": "wrong_key"})

    def test_tampered_payload_original_signature(self):
        """sub and email changed after signing."""
        self.bad_token({"tamper_payload": True})

    def test_signature_dropped(self):
        self.bad_token({"drop_signature": True},
                       r"id_token is not a compact JWS")

    def test_rp_id_token_kid_absent_single_jwks(self):
        """No kid, and the key set has exactly one RSA key: the design
        accepts it (jose.h) → PAM_SUCCESS."""
        s = self.hsetup()
        self.misbehave({"id_token": {"kid": None}})
        out = s.run(Person())
        self.assertApplied(out, token=1)
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.assertSignedInLog(out, "alice")

    def test_rp_id_token_kid_absent_multiple_jwks(self):
        """No kid, and the key set has two RSA keys (rotation with the old
        key still published) → PAM_AUTH_ERR: the module does not try
        keys in turn."""
        self.provider.rotate_keys(keep_old=True)
        try:
            self.bad_token({"kid": None})
        finally:
            self.provider.rotate_keys()

    def test_rp_key_rotation_op_sign_key(self):
        """Keys rotated after a login cached them: the next login meets an
        unknown kid, refetches the key set once → PAM_SUCCESS."""
        s = self.hsetup()
        out = s.run(Person())
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.provider.rotate_keys()
        self.provider.reset()
        out = s.run(Person())
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.assertSignedInLog(out, "alice")
        st = self.provider.stats()
        self.check(out, (st["discovery"], st["jwks"]) == (0, 1),
                   "discovery, jwks = %r" % ((st["discovery"], st["jwks"]),))

    def test_rotated_out_key(self):
        """Signed with the key retired by a rotation (no longer published)
        → PAM_AUTH_ERR after one refetch."""
        self.provider.rotate_keys()
        s = self.hsetup()
        self.misbehave({"id_token": {"sign_with": "old_key"}})
        out = s.run(Person())
        self.assertFailsClosed(out, PAM_AUTH_ERR, UNKNOWN_KEY)

    def test_hs256_keyed_with_rsa_public_key(self):
        """Algorithm confusion: HS256 with the RSA public key's PEM as the
        HMAC key, kid of that RSA key."""
        self.bad_token({"sign_with": "hs256_with_rsa_public_key"})

    def test_hs256_keyed_with_rsa_public_jwk(self):
        self.bad_token({"sign_with": "hs256_with_rsa_public_key_jwk"})

    def test_hs256_with_client_secret(self):
        """HS256 with the client secret (legal in OIDC Core 10.1, never
        accepted by the module)."""
        self.bad_token({"sign_with": "client_secret"})

    def test_key_of_wrong_type_for_alg(self):
        """RS256 signed with the RSA key, but the kid names the EC key."""
        self.bad_token({"kid": self.signing_kid("EC")})

    def test_es256_signature_with_rsa_key(self):
        """An ES256 token whose kid names the RSA key."""
        self.bad_token({"sign_with": "ec_key",
                        "kid": self.signing_kid("RSA")})

    def test_control_es256_with_ec_key(self):
        """Control: ES256 signed with the published EC key → PAM_SUCCESS
        (ES256 is allowed; the case above fails for the key type)."""
        s = self.hsetup()
        self.misbehave({"id_token": {"sign_with": "ec_key"}})
        out = s.run(Person())
        self.assertApplied(out, token=1)
        self.assertResult(out, PAM_SUCCESS, user="alice")

    def test_alg_not_in_allowed_algs(self):
        """A correct RS256 token, but allowed_algs = ES256."""
        self.bad_token({}, options={"allowed_algs": "ES256"})

    def test_rs256_key_under_2048_bits(self):
        """Signed with a 1024-bit RSA key the key set publishes under its
        own kid → PAM_AUTH_ERR."""
        s = self.hsetup()
        self.misbehave({"endpoint": "jwks", "jwks": "add_weak_rsa"})
        self.misbehave({"id_token": {"sign_with": "weak_rsa"}})
        out = s.run(Person())
        self.assertApplied(out, token=1, endpoint=1)
        self.assertFailsClosed(out, PAM_AUTH_ERR, SIG)

    def test_unknown_kid(self):
        self.bad_token({"kid": "no-such-kid"}, UNKNOWN_KEY)

    def test_header_jku(self):
        """A jku header pointing at the attacker's key set."""
        self.bad_token({"header": {"jku": "https://evil.example/jwks"}},
                       r"id_token is not a compact JWS")

    def test_header_crit(self):
        self.bad_token({"header": {"crit": ["exp"]}},
                       r"id_token is not a compact JWS")


if __name__ == "__main__":
    unittest.main()
