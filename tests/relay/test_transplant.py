"""The code transplant, and what stops it at the relay.

The attack: someone at `ssh alice@host` reads the module's authorize URL
(state S_m, nonce N(S_m), PKCE challenge) off the landing page, registers a
state S_a of their own, sends the victim the module's URL with only the
state changed, collects the victim's code C under S_a, and brings C to
/callback?state=S_m.  The confirmation code the relay then shows would let
them finish alice's sign-in: PKCE and nonce match.

What stops it: registering needs a client key (test_clientkeys), and even a
key holder (a compromised other PAM host) cannot move a code: the relay
accepts each code for one login only.  PAR URLs (RFC 9126) carry no state
for anyone to change; the relay takes them only in their plain form.
"""

import unittest
import urllib.parse

import relaytest as rt

P = "pam_ion_relay_"
PAR_URI = "urn:ietf:params:oauth:request_uri:bwc4JK-ESC0w8acc191e-Y1LTC2"


def par_url(query=None, prefix=rt.PREFIX):
    if query is None:
        query = "client_id=pam-test&request_uri=" + urllib.parse.quote(
            PAR_URI, safe="")
    return prefix + "/authorize?" + query


class CodeReuse(rt.RelayTestCase):

    def rejections(self, reason):
        return self.relay.metric(P + "rejections_total", reason=reason)

    def assertRefusedReuse(self, r, state, code):
        page = self.assertHtml(r, 409)
        self.assertIn("this sign-in response was already used",
                      rt.norm_text(page.text))
        # no confirmation code: the whole point
        self.assertNotIn(rt.confirmation_code(state, code), r.text)
        self.assertNotIn("code", page.ids)
        self.assertNotIn(code, r.text)
        self.assertSecurityHeaders(r)

    def test_transplant_by_another_key_holder(self):
        relay = self.relay
        victim = relay.new_login()                  # host-a: alice's login
        # host-b, compromised, registers a login of its own
        r, attacker = relay.register_with(rt.CLIENT_B.key)
        self.assertEqual(r.status, 201)
        m0 = self.rejections("code_reused")
        c0 = relay.metric(P + "callbacks_total")
        # the victim signs in through the URL with S_a: the provider
        # redirects to the relay with S_a and the victim's code
        code = "victims-code-" + rt.b64url(b"transplant-1")
        self.assertEqual(attacker.callback_code(code).status, 200)
        r = relay.poll(attacker.secret, 0,
                       headers={rt.KEY_HEADER: rt.CLIENT_B.key})
        self.assertEqual(r.json(), {"code": code})
        # and brings the code to alice's login
        r = victim.callback_code(code)
        self.assertRefusedReuse(r, victim.state, code)
        self.assertEqual(self.rejections("code_reused"), m0 + 1)
        self.assertEqual(relay.metric(P + "callbacks_total"), c0 + 1)
        self.assertTrue(any("refused a callback from 127.0.0.1: its code "
                            "was already accepted for another login" in l
                            for l in relay.log_lines()), relay.log_text())
        # alice's login got nothing: still pending, its link unused
        self.assertEqual(victim.poll(0).status, 202)
        self.assertEqual(relay.get(victim.path).status, 200)
        # and her own sign-in still completes
        self.assertEqual(victim.callback_code("alices-own").status, 200)
        self.assertEqual(victim.poll(0).json(), {"code": "alices-own"})

    def test_same_client_two_states(self):
        relay = self.relay
        one, two = relay.new_login(), relay.new_login()
        self.assertEqual(one.callback_code("shared-code").status, 200)
        self.assertRefusedReuse(two.callback_code("shared-code"),
                                two.state, "shared-code")
        self.assertEqual(two.poll(0).status, 202)
        # with iss, or in another order of parameters: the same code
        r = relay.callback([("iss", "https://a.example"),
                            ("code", "shared-code"), ("state", two.state)])
        self.assertEqual(r.status, 409)
        self.assertEqual(two.poll(0).status, 202)
        self.assertEqual(one.poll(0).json(), {"code": "shared-code"})

    def test_refused_after_the_first_login_is_gone(self):
        relay = self.relay
        first = relay.new_login()
        self.assertEqual(first.callback_code("collected-code").status, 200)
        self.assertEqual(first.poll(0).status, 200)
        self.assertJsonError(first.poll(0), 404, "unknown_login")
        later = relay.new_login()
        self.assertRefusedReuse(later.callback_code("collected-code"),
                                later.state, "collected-code")
        self.assertEqual(later.poll(0).status, 202)

    def test_a_parked_poll_is_not_woken(self):
        relay = self.relay
        one, two = relay.new_login(), relay.new_login()
        self.assertEqual(one.callback_code("parked-code").status, 200)
        p = rt.Poller(relay, two.secret, 2)
        p.start()
        self.assertEqual(two.callback_code("parked-code").status, 409)
        p.join(5)
        self.assertEqual(p.resp.status, 202)

    def test_error_results_are_not_codes(self):
        relay = self.relay
        one, two = relay.new_login(), relay.new_login()
        for login in (one, two):
            r = relay.callback([("state", login.state),
                                ("error", "access_denied")])
            self.assertEqual(r.status, 200)
            self.assertEqual(login.poll(0).json(), {"error": "access_denied"})

    def test_refused_callbacks_remember_nothing(self):
        relay = self.relay
        login = relay.new_login()
        # unknown state: 404, and the code is not remembered
        _, stranger = rt.new_secret()
        r = relay.callback([("state", stranger), ("code", "not-kept")])
        self.assertEqual(r.status, 404)
        self.assertEqual(login.callback_code("not-kept").status, 200)
        self.assertEqual(login.poll(0).json(), {"code": "not-kept"})

    def test_used_codes_gauge(self):
        relay = self.relay
        g0 = relay.metric(P + "used_codes")
        login = relay.new_login()
        self.assertEqual(login.callback_code("gauge-code").status, 200)
        self.assertEqual(relay.metric(P + "used_codes"), g0 + 1)


class UsedCodesExpire(rt.RelayTestCase):
    """Codes are remembered for the TTL; after it, memory is freed."""

    relay_args = ("--ttl", "10")

    def test_forgotten_after_ttl(self):
        relay = self.relay
        login = relay.new_login()
        self.assertEqual(login.callback_code("short-lived").status, 200)
        self.assertEqual(relay.metric(P + "used_codes"), 1)
        self.assertEqual(relay.wait_metric(P + "used_codes", 0, 14), 0)


class ParUrls(rt.RelayTestCase):
    """Pushed authorization requests: client_id and request_uri, only."""

    def test_par_url_accepted(self):
        relay = self.relay
        for url in (par_url(),
                    par_url("request_uri=urn%3Ax%3A1&client_id=pam-test")):
            with self.subTest(url=url):
                r, login = relay.register(url=url)
                self.assertEqual(r.status, 201, r)
                page = rt.Page(relay.get(login.path).text)
                self.assertIn(url, [a[0] for a in page.anchors])
                self.assertEqual(login.callback_code(
                    "par-" + login.id).status, 200)
                self.assertEqual(login.poll(0).json(),
                                 {"code": "par-" + login.id})
        self.assertIn("(PAR) for", relay.log_text())

    def test_par_url_with_anything_else_refused(self):
        relay = self.relay
        uri = "request_uri=" + urllib.parse.quote(PAR_URI, safe="")
        for q in ("client_id=pam-test&%s&state=@S@" % uri,
                  "client_id=pam-test&%s&nonce=@N@" % uri,
                  "client_id=pam-test&%s&state=@S@&nonce=@N@" % uri,
                  "client_id=pam-test&%s&%s" % (uri, uri),
                  "client_id=pam-test&%s&request_uri=urn:x:2" % uri,
                  "client_id=pam-test&client_id=pam-test&%s" % uri,
                  uri,
                  "client_id=pam-test&request_uri=",
                  "client_id=&" + uri,
                  "client_id=pam-test&%s&code_challenge=x" % uri,
                  "client_id=pam-test&%s&redirect_uri=https%%3A%%2F%%2Fe.example"
                  % uri,
                  "client_id=pam-test&%s&response_type=code" % uri,
                  "client_id=pam-test&%s&" % uri):
            with self.subTest(query=q):
                _, s = rt.new_secret()
                q = q.replace("@S@", s).replace("@N@", rt.nonce_of_state(s))
                r, _ = relay.register(state=s, url=par_url(q))
                self.assertJsonError(r, 403, "url_not_allowed")

    def test_par_url_needs_an_allowed_prefix(self):
        r, _ = self.relay.register(
            url=par_url(prefix="https://evil.example/oauth2"))
        self.assertJsonError(r, 403, "url_not_allowed")

    def test_without_request_uri_state_and_nonce_are_needed(self):
        relay = self.relay
        _, s = rt.new_secret()
        r, _ = relay.register(state=s, url=par_url("client_id=pam-test"))
        self.assertJsonError(r, 403, "state_mismatch")
        r, _ = relay.register(
            state=s, url=par_url("client_id=pam-test&state=" + s))
        self.assertJsonError(r, 403, "nonce_mismatch")
        r, _ = relay.register(state=s, url=par_url(
            "client_id=pam-test&state=%s&nonce=%s"
            % (s, rt.nonce_of_state(s))))
        self.assertEqual(r.status, 201, r)


if __name__ == "__main__":
    unittest.main()
