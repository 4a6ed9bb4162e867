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
for anyone to change; the relay takes them only in their plain form, with
a request_uri a PAR endpoint hands out, and each pushed request for one
login only.  Request objects (request=, or a request_uri of any other
form), whose inner state and nonce would override the query's, are refused.
"""

import os
import time
import unittest
import urllib.parse

import relaytest as rt

P = "pam_ion_relay_"
URN = "urn:ietf:params:oauth:request_uri:"
PAR_URI = URN + "bwc4JK-ESC0w8acc191e-Y1LTC2"


def fresh_uri():
    """A request_uri as a PAR endpoint would hand out, never used before."""
    return URN + rt.b64url(os.urandom(18))


def used_count(relay):
    """How many codes and request_uris the relay remembers: the memory
    store's used_codes gauge, or with Redis its P u:<hash> keys."""
    if rt.ON_REDIS:
        return len(rt.redis_server().keys(relay.store_prefix + "u:*"))
    return relay.metric(P + "used_codes")


def wait_used(relay, want, timeout):
    """Waits until used_count() is want; returns the last count."""
    deadline = time.monotonic() + timeout
    while True:
        n = used_count(relay)
        if n == want or time.monotonic() > deadline:
            return n
        time.sleep(0.05)


def par_url(query=None, prefix=rt.PREFIX, uri=PAR_URI):
    if query is None:
        query = "client_id=pam-test&request_uri=" + urllib.parse.quote(
            uri, safe="")
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
        needle = ("refused a callback from 127.0.0.1: its code was "
                  "already accepted for another login")
        self.assertIn(needle, relay.wait_log(needle))
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

    @rt.memory_store_only("the used_codes gauge; with Redis the line is "
                          "left out (UsedCodesExpire counts its keys)")
    def test_used_codes_gauge(self):
        relay = self.relay
        g0 = relay.metric(P + "used_codes")
        login = relay.new_login()
        self.assertEqual(login.callback_code("gauge-code").status, 200)
        self.assertEqual(relay.metric(P + "used_codes"), g0 + 1)


class UsedCodesExpire(rt.RelayTestCase):
    """Codes and request_uris are remembered for the TTL; after it, memory
    is freed (with Redis: their keys are gone)."""

    relay_args = ("--ttl", "10")

    def test_forgotten_after_ttl(self):
        relay = self.relay
        login = relay.new_login()
        uri = fresh_uri()
        self.assertEqual(login.callback_code("short-lived").status, 200)
        self.assertEqual(used_count(relay), 1)
        self.assertEqual(relay.new_login(url=par_url(uri=uri)).resp.status,
                         201)
        self.assertEqual(used_count(relay), 2)
        self.assertEqual(wait_used(relay, 0, 14), 0)
        # a pushed request lives far shorter than a TTL; once its TTL is
        # over, its request_uri may come again
        r, _ = relay.register(url=par_url(uri=uri))
        self.assertEqual(r.status, 201, r)


class ParUrls(rt.RelayTestCase):
    """Pushed authorization requests: client_id and request_uri, only."""

    def test_par_url_accepted(self):
        relay = self.relay
        for url in (par_url(),
                    par_url("request_uri=%s&client_id=pam-test"
                            % fresh_uri())):
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

    def test_request_object_refused(self):
        """request= (a request object by value, OIDC Core 6.1): its inner
        state, nonce and code_challenge override the query's."""
        relay = self.relay
        for extra in ("&request=eyJhbGciOiJub25lIn0.eyJzdGF0ZSI6IngifQ.",
                      "&request=", "&request", "&r%65quest=x"):
            with self.subTest(extra=extra):
                _, s = rt.new_secret()
                r, _ = relay.register(
                    state=s, url=rt.authorize_url(s, extra=extra))
                doc = self.assertJsonError(r, 403, "url_not_allowed")
                self.assertIn("request object", doc["error_description"])
        # next to a request_uri, too
        _, s = rt.new_secret()
        r, _ = relay.register(state=s, url=par_url(
            "client_id=pam-test&request_uri=%s&request=x" % fresh_uri()))
        self.assertJsonError(r, 403, "url_not_allowed")

    def test_request_uri_by_reference_refused(self):
        """A request_uri not in RFC 9126's urn form is a request object the
        provider fetches from wherever it points (OIDC Core 6.2)."""
        relay = self.relay
        q = urllib.parse.quote
        for uri in ("https://evil.example/req.jwt",
                    "https://a.example/oauth2/par/1",
                    "urn:x:1", URN, URN.upper() + "abc",
                    "urn:ietf:params:oauth:request_uri",
                    " " + URN + "abc", URN + "a b", URN + "a\x00b",
                    URN + "x" * 600):
            with self.subTest(uri=uri[:60]):
                _, s = rt.new_secret()
                r, _ = relay.register(state=s, url=par_url(
                    "client_id=pam-test&request_uri=" + q(uri, safe="")))
                doc = self.assertJsonError(r, 403, "url_not_allowed")
                self.assertIn(URN, doc["error_description"])
        # with state and nonce beside it: still no
        _, s = rt.new_secret()
        r, _ = relay.register(state=s, url=rt.authorize_url(
            s, extra="&request_uri=" + q("https://evil.example/r", safe="")))
        self.assertJsonError(r, 403, "url_not_allowed")

    def test_semicolon_in_query_refused(self):
        relay = self.relay
        uri = fresh_uri()
        for url in (par_url("client_id=pam-test;x=1&request_uri=" + uri),
                    par_url("client_id=pam-test&request_uri=" + uri + ";")):
            with self.subTest(url=url):
                r, _ = relay.register(url=url)
                self.assertJsonError(r, 403, "url_not_allowed")
        # the refusals did not use the request_uri up
        r, _ = relay.register(url=par_url(uri=uri))
        self.assertEqual(r.status, 201, r)

    def test_request_uri_registered_once(self):
        """One pushed request, one login: another registration of its
        request_uri, by the same client or another, under any state and
        in any spelling, is refused for the TTL."""
        relay = self.relay
        uri = fresh_uri()
        m0 = relay.metric(P + "rejections_total", reason="request_uri_reused")
        first = relay.new_login(url=par_url(uri=uri))
        again = (
            (rt.CLIENT_A.key, par_url(uri=uri)),
            (rt.CLIENT_B.key, par_url(uri=uri)),
            (rt.CLIENT_B.key, par_url("request_uri=%s&client_id=other"
                                      % uri)),
            (rt.CLIENT_B.key, par_url(uri=uri, prefix=rt.PREFIX + "/x")),
            # percent-encoded other than the first time: the same URI
            (rt.CLIENT_A.key, par_url("client_id=pam-test&request_uri="
                                      + "".join("%%%02X" % ord(c)
                                                for c in uri))),
        )
        for key, url in again:
            with self.subTest(url=url, key=key[:8]):
                r, _ = relay.register_with(key, url=url)
                doc = self.assertJsonError(r, 409, "request_uri_reused")
                self.assertIn("request_uri", doc["error_description"])
        self.assertEqual(relay.metric(P + "rejections_total",
                                      reason="request_uri_reused"),
                         m0 + len(again))
        # written before the answer, read here by another thread
        needle = ("by client host-b.example: its request_uri was already "
                  "registered")
        self.assertIn(needle, relay.wait_log(needle))
        # the first login is untouched and completes
        page = rt.Page(relay.get(first.path).text)
        self.assertIn(first.url, [a[0] for a in page.anchors])
        self.assertEqual(first.callback_code("par-once").status, 200)
        self.assertEqual(first.poll(0).json(), {"code": "par-once"})
        # still refused once that login is collected
        r, _ = relay.register(url=par_url(uri=uri))
        self.assertJsonError(r, 409, "request_uri_reused")

    def test_refused_registration_remembers_nothing(self):
        relay = self.relay
        taken = relay.new_login()
        uri = fresh_uri()
        # state taken: 409 state_exists, and the request_uri not used up
        r, _ = relay.register(state=taken.state, url=par_url(uri=uri))
        self.assertJsonError(r, 409, "state_exists")
        r, _ = relay.register(url=par_url(uri=uri))
        self.assertEqual(r.status, 201, r)

    def test_request_uri_and_code_memories_apart(self):
        """Codes and request_uris are hashed under labels of their own: a
        code that is spelled like a registered request_uri is a new code."""
        relay = self.relay
        uri = fresh_uri()
        login = relay.new_login(url=par_url(uri=uri))
        self.assertEqual(login.callback_code(uri).status, 200)
        self.assertEqual(login.poll(0).json(), {"code": uri})

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
