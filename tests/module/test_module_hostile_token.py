"""Fail-closed matrix, part 3: the token endpoint misbehaving.  The phone
signs in and the code is typed; then the token answer is replaced.
Refused, malformed or oversized → PAM_AUTH_ERR (7); 5xx, unreachable or
hung → PAM_AUTHINFO_UNAVAIL (9); a redirect is never followed."""

import unittest

from hostile import HTTP_TIMEOUT, HostileCase, closed_port
from moduletest import (PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL, PAM_SUCCESS,
                        Person)


class TokenEndpoint(HostileCase):

    def token_run(self, spec, **setup):
        s = self.hsetup(**setup)
        if spec is not None:
            self.misbehave(spec)
        out = s.run(Person())
        if spec is not None:
            self.assertApplied(out, token=1)
        return out

    def test_invalid_grant(self):
        out = self.token_run({"token": "invalid_grant"})
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"token endpoint refused the code")

    def test_invalid_client_401(self):
        out = self.token_run({"token": "error", "error": "invalid_client",
                              "status": 401})
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"token endpoint refused the code")

    def test_status_500(self):
        out = self.token_run({"token": "status", "status": 500})
        self.assertFailsClosed(out, PAM_AUTHINFO_UNAVAIL,
                               r"token endpoint failed \(5xx\)")

    def test_status_503(self):
        out = self.token_run({"token": "status", "status": 503})
        self.assertFailsClosed(out, PAM_AUTHINFO_UNAVAIL,
                               r"token endpoint failed \(5xx\)")

    def test_status_200_error_body(self):
        """200 with an OAuth error body (no id_token)."""
        out = self.token_run({"token": "error", "error": "invalid_grant",
                              "status": 200})
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"token response has no id_token")

    def test_status_403_html(self):
        out = self.token_run({"token": "status", "status": 403})
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"token endpoint answered an unexpected "
                               r"status")

    def test_not_json(self):
        out = self.token_run({"token": "not_json"})
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"token response is not a JSON object")

    def test_json_array(self):
        out = self.token_run({"token": "status", "status": 200,
                              "body": "[1,2]", "content_type":
                              "application/json"})
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"token response is not a JSON object")

    def test_missing_id_token(self):
        out = self.token_run({"token": "no_id_token"})
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"token response has no id_token")

    def test_id_token_not_a_string(self):
        out = self.token_run({"fields": {"id_token": 42}})
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"token response has no id_token")

    def test_access_token_malformed(self):
        out = self.token_run({"fields": {"access_token": ["x"]}})
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"token response has a malformed "
                               r"access_token")

    def test_huge_response(self):
        """11 MB of valid JSON with a Content-Length: refused at the 64 KiB
        cap, at once."""
        out = self.token_run({"token": "huge", "bytes": 11 * 1000 * 1000})
        self.assertFailsClosed(out, PAM_AUTH_ERR, r"token response too large",
                               within=HTTP_TIMEOUT)

    def test_endless_response(self):
        """200 and a JSON string that never ends (no Content-Length): a
        module that read it whole would never finish; it stops at the cap
        → PAM_AUTH_ERR well within http_timeout."""
        out = self.token_run({"token": "endless"})
        self.assertFailsClosed(out, PAM_AUTH_ERR, r"token response too large",
                               within=HTTP_TIMEOUT)
        st = self.provider.stats()
        self.check(out, len(st["streams"]) == 1 and
                   st["streams"][0]["bytes"] < 64 * 1024 * 1024,
                   "the stream was read far past the cap: %r" %
                   st["streams"])

    def test_hang(self):
        """The token answer never comes → PAM_AUTHINFO_UNAVAIL after
        http_timeout (3 s), long before login_timeout."""
        out = self.token_run({"token": "hang"})
        self.assertFailsClosed(out, PAM_AUTHINFO_UNAVAIL,
                               r"token endpoint timed out",
                               within=HTTP_TIMEOUT + 3.0)
        self.check(out, out.ended - out.answered[-1][1] >= HTTP_TIMEOUT - 0.5,
                   "gave up before http_timeout")

    def test_hang_after_headers(self):
        out = self.token_run({"token": "hang_after_headers"})
        self.assertFailsClosed(out, PAM_AUTHINFO_UNAVAIL,
                               r"token endpoint timed out",
                               within=HTTP_TIMEOUT + 3.0)

    def test_slow_within_http_timeout(self):
        """Control: an answer 1.5 s late (http_timeout 3 s) →
        PAM_SUCCESS."""
        out = self.token_run({"delay_ms": 1500})
        self.assertResult(out, PAM_SUCCESS, user="alice")

    def test_redirect_302_elsewhere(self):
        """302 to another URL: not followed; the module names the status
        → PAM_AUTH_ERR."""
        out = self.token_run({"token": "redirect", "location":
                              "http://127.0.0.1:%d/token" % closed_port()})
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"token endpoint answered an unexpected "
                               r"status")

    def test_redirect_307_to_token_endpoint(self):
        """307 (which would repeat the POST, code and all) to the real token
        endpoint: not followed, the provider sees one token request →
        PAM_AUTH_ERR."""
        out = self.token_run({"token": "redirect", "status": 307,
                              "location": self.provider.issuer +
                              "/oauth2/token"})
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"token endpoint answered an unexpected "
                               r"status")
        self.check(out, self.provider.stats()["token"] == 1,
                   "the redirect was followed")

    def test_token_endpoint_unreachable(self):
        out = self.token_run(None, options={
            "token_endpoint": "http://127.0.0.1:%d/token" % closed_port()})
        self.assertFailsClosed(out, PAM_AUTHINFO_UNAVAIL,
                               r"token endpoint unreachable")


if __name__ == "__main__":
    unittest.main()
