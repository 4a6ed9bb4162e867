"""Fail-closed matrix, part 5: the relay down, dying under a parked poll,
answering slowly, or answering garbage (a fake relay on loopback).

The relay is not trusted with the sign-in: whatever it answers, the module
never succeeds without a code the provider accepts.  Unreachable, failing,
slow or garbled → PAM_AUTHINFO_UNAVAIL (9), and so is a short link that
is not under relay_url; a relay that refuses the registration (4xx) or
the host's key (401) → PAM_SERVICE_ERR (3, the module's request, key or
the relay's prefix is misconfigured); a forged code → PAM_AUTH_ERR (7).

A poll that fails for now (502, 503, 504, the connection refused or
dropped, the poll's own timeout) is made again a second later; a relay
that fails every poll for RELAY_BLIP_S is down → PAM_AUTHINFO_UNAVAIL,
long before login_timeout.  A registration that fails is not retried.

The fake relays run prompt = auto, confirm = no as a local login (no
PAM_RHOST, no PAM_RUSER, PAM_TTY a console; confirm = no is honoured only
there), so that
whatever they hand over goes to the token exchange unconfirmed."""

import signal
import unittest

from hostile import (AUTO_LOCAL, RELAY_BLIP_S, FakeRelay, HostileCase,
                     answer, closed_port, link_on, stall)
from moduletest import (CONSOLE, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL,
                        PAM_SERVICE_ERR, Person)

AUTO_SHORT = dict(AUTO_LOCAL, login_timeout="10", http_timeout="3")


class RealRelay(HostileCase):

    def test_relay_down_before_login(self):
        s = self.hsetup({"relay_url": "http://127.0.0.1:%d" %
                         closed_port()})
        out = s.run(Person())
        self.assertFailsClosed(out, PAM_AUTHINFO_UNAVAIL,
                               r"relay unreachable", within=3.0)
        self.check(out, out.infos == [] and out.prompts == [],
                   "a QR code or prompt without a relay")

    def assertRodeOut(self, out, reason):
        """Failed with PAM_AUTHINFO_UNAVAIL after polling a relay that
        was gone for RELAY_BLIP_S (from 1.5 s on), not at login_timeout."""
        self.assertFailsClosed(out, PAM_AUTHINFO_UNAVAIL, reason,
                               within=1.5 + RELAY_BLIP_S + 5.0)
        self.check(out, out.elapsed >= RELAY_BLIP_S,
                   "gave up after %.1f s" % out.elapsed)

    def test_relay_killed_while_poll_parked(self):
        """SIGKILL: the parked poll's connection drops; the module polls
        again each second while nobody listens, then →
        PAM_AUTHINFO_UNAVAIL after RELAY_BLIP_S."""
        out = self.dies_while_parked(signal.SIGKILL)
        self.assertRodeOut(out, r"relay unreachable")

    def test_relay_stopped_while_poll_parked(self):
        """SIGTERM: the relay answers the parked poll 'pending' and exits;
        the next polls find nobody → PAM_AUTHINFO_UNAVAIL after
        RELAY_BLIP_S."""
        out = self.dies_while_parked(signal.SIGTERM)
        self.assertRodeOut(out, r"relay unreachable")

class FakeRelays(HostileCase):
    """A loopback server in the relay's place; `prompt = auto`, nobody
    signs in (there is nothing to sign in to)."""

    def fake(self, register=None, poll=None):
        f = FakeRelay(register, poll)
        self.addCleanup(f.close)
        return f

    def run_fake(self, f, options=AUTO_LOCAL, timeout=40):
        s = self.hsetup(dict(options, relay_url=f.url))
        return s.run(Person(login=None, answers=[]), timeout=timeout,
                     rhost=None, tty=CONSOLE)

    def assertNoPollSecret(self, out, f):
        """The poll secret the module sent the (fake) relay is not in the
        log line; every request carried this host's relay key."""
        self.check(out, f.bearers, "the module sent no poll secret")
        for b in f.bearers:
            self.check(out, b not in out.logs[0]["raw"],
                       "the poll secret is in the log line")
        self.check(out, f.keys and all(k == self.relay.key for k in f.keys),
                   "requests without the relay key (or another): %d of %d"
                   % (sum(k != self.relay.key for k in f.keys),
                      len(f.keys)))

    # -- registration (POST /v1/logins)

    def bad_register(self, register, code, reason, within=5.0):
        f = self.fake(register=register)
        out = self.run_fake(f)
        self.assertFailsClosed(out, code, reason, within=within)
        self.assertNoPollSecret(out, f)
        self.check(out, out.infos == [], "a QR code was shown")
        self.check(out, f.polls() == 0, "polled after a failed registration")
        return out

    def test_register_200_html(self):
        self.bad_register(lambda h: answer(h, 200, "<html>hello</html>",
                                           "text/html"),
                          PAM_AUTHINFO_UNAVAIL,
                          r"relay answered an unexpected status")

    def test_register_201_not_json(self):
        self.bad_register(lambda h: answer(h, 201, "{link:", "text/plain"),
                          PAM_AUTHINFO_UNAVAIL, r"relay answer malformed")

    def test_register_201_without_link(self):
        self.bad_register(lambda h: answer(h, 201, {"expires_in": 300}),
                          PAM_AUTHINFO_UNAVAIL, r"relay answer malformed")

    def test_register_201_bad_expires(self):
        self.bad_register(lambda h: answer(h, 201, {
            "link": link_on(h), "expires_in": "300"}),
            PAM_AUTHINFO_UNAVAIL, r"relay answer malformed")

    def test_register_201_link_too_long(self):
        self.bad_register(lambda h: answer(h, 201, {
            "link": link_on(h, "x" * 300), "expires_in": 300}),
            PAM_AUTHINFO_UNAVAIL, r"relay answer malformed")

    def test_register_huge_answer(self):
        self.bad_register(lambda h: answer(h, 201, {
            "link": link_on(h), "expires_in": 300,
            "pad": "x" * (1 << 20)}), PAM_AUTHINFO_UNAVAIL,
            r"relay answer too large")

    def test_register_link_not_under_relay_url(self):
        """The relay's link must sit under relay_url (else the QR code
        could send the person anywhere) → PAM_AUTHINFO_UNAVAIL, no QR
        code: another host, another port, a port with a digit more, user
        info, https, a path that merely starts like the relay's."""
        links = {
            "other host": lambda h: "http://evil.example/l/abcdefghijk",
            "other port": lambda h: "http://127.0.0.1:1/l/abcdefghijk",
            "longer port": lambda h: "http://127.0.0.1:%d0/l/abcdefghijk"
            % h.server.server_address[1],
            "user info": lambda h: "http://127.0.0.1:%d@evil.example/l/x"
            % h.server.server_address[1],
            "other scheme": lambda h: "https://127.0.0.1:%d/l/abcdefghijk"
            % h.server.server_address[1],
        }
        for name, make in links.items():
            with self.subTest(link=name):
                self.bad_register(
                    lambda h, make=make: answer(h, 201, {
                        "link": make(h), "expires_in": 300}),
                    PAM_AUTHINFO_UNAVAIL,
                    r"relay returned a link outside relay_url")

    def test_register_401(self):
        """The relay does not know this host's key (401) → PAM_SERVICE_ERR:
        the key file or the relay's --client-keys is misconfigured."""
        self.bad_register(lambda h: answer(h, 401, {
            "error": "unauthorized"}), PAM_SERVICE_ERR,
            r"the relay refused this host's relay key")

    def test_register_302(self):
        def f(h):
            h.send_response(302)
            h.send_header("Location", "http://127.0.0.1:1/v1/logins")
            h.send_header("Content-Length", "0")
            h.end_headers()
        self.bad_register(f, PAM_AUTHINFO_UNAVAIL,
                          r"relay answered an unexpected status")

    def test_register_500(self):
        self.bad_register(lambda h: answer(h, 500, "oops", "text/plain"),
                          PAM_AUTHINFO_UNAVAIL, r"relay full or failing")

    def test_register_429(self):
        self.bad_register(lambda h: answer(h, 429, {"error": "full"}),
                          PAM_AUTHINFO_UNAVAIL, r"relay full or failing")

    def test_register_403(self):
        """The relay refuses the login (403: authorize URL not under its
        prefix): the two are configured apart → PAM_SERVICE_ERR."""
        self.bad_register(lambda h: answer(h, 403, {"error": "no"}),
                          PAM_SERVICE_ERR, r"relay refused the login")

    def test_register_slow(self):
        """The registration answer comes after http_timeout (3 s) →
        PAM_AUTHINFO_UNAVAIL at http_timeout."""
        out = self.bad_register(stall(8), PAM_AUTHINFO_UNAVAIL,
                                r"relay timed out",
                                within=3.0 + 2.0)
        self.check(out, out.elapsed >= 2.5, "gave up after %.1f s" %
                   out.elapsed)

    # -- the result (GET /v1/logins/result)

    def bad_poll(self, poll, code, reason, within=6.0, options=AUTO_LOCAL):
        f = self.fake(poll=poll)
        out = self.run_fake(f, options)
        self.assertFailsClosed(out, code, reason, within=within)
        self.assertNoPollSecret(out, f)
        self.check(out, len(out.infos) >= 1, "no QR code was shown")
        return out, f

    def test_poll_200_html(self):
        self.bad_poll(lambda h: answer(h, 200, "<html>ok</html>",
                                       "text/html"),
                      PAM_AUTHINFO_UNAVAIL, r"relay answer malformed")

    def test_poll_200_empty_object(self):
        self.bad_poll(lambda h: answer(h, 200, {}), PAM_AUTHINFO_UNAVAIL,
                      r"relay answer malformed")

    def test_poll_code_not_a_string(self):
        self.bad_poll(lambda h: answer(h, 200, {"code": 12345}),
                      PAM_AUTHINFO_UNAVAIL, r"relay answer malformed")

    def test_poll_code_and_error(self):
        self.bad_poll(lambda h: answer(h, 200, {"code": "x",
                                                "error": "access_denied"}),
                      PAM_AUTHINFO_UNAVAIL, r"relay answer malformed")

    def test_poll_duplicate_members(self):
        self.bad_poll(lambda h: answer(h, 200, '{"code":"a","code":"b"}'),
                      PAM_AUTHINFO_UNAVAIL, r"relay answer malformed")

    def test_poll_huge(self):
        self.bad_poll(lambda h: answer(h, 200, {"code": "x" * (1 << 20)}),
                      PAM_AUTHINFO_UNAVAIL, r"relay answer too large")

    def test_poll_302(self):
        def f(h):
            h.send_response(302)
            h.send_header("Location", "http://127.0.0.1:1/")
            h.send_header("Content-Length", "0")
            h.end_headers()
        self.bad_poll(f, PAM_AUTHINFO_UNAVAIL,
                      r"relay answered an unexpected status")

    def test_poll_500(self):
        self.bad_poll(lambda h: answer(h, 500, "x", "text/plain"),
                      PAM_AUTHINFO_UNAVAIL, r"relay refused the poll")

    def test_poll_404(self):
        """The relay forgot the login (expired, restarted) →
        PAM_AUTHINFO_UNAVAIL."""
        self.bad_poll(lambda h: answer(h, 404, {"error": "unknown"}),
                      PAM_AUTHINFO_UNAVAIL,
                      r"the relay no longer knows this sign-in")

    def test_poll_401(self):
        """The relay refuses the key at the poll (revoked meanwhile) →
        PAM_SERVICE_ERR."""
        self.bad_poll(lambda h: answer(h, 401, {"error": "unauthorized"}),
                      PAM_SERVICE_ERR,
                      r"the relay refused this host's relay key")

    def test_poll_403(self):
        """The relay refuses the poll itself (4xx): documented as
        PAM_AUTH_ERR."""
        self.bad_poll(lambda h: answer(h, 403, {"error": "no"}),
                      PAM_AUTH_ERR, r"relay refused the poll")

    def test_poll_never_answers(self):
        """A poll that is never answered: login_timeout (10 s) ends it →
        PAM_AUTHINFO_UNAVAIL."""
        out, _ = self.bad_poll(stall(60), PAM_AUTHINFO_UNAVAIL,
                               r"relay poll timed out|login_timeout "
                               r"reached", within=10.0 + 3.0,
                               options=AUTO_SHORT)
        self.check(out, out.elapsed >= 8.0, "gave up after %.1f s" %
                   out.elapsed)

    def test_poll_pending_at_once_forever(self):
        """202 at once, every time (a relay shutting down for good): no
        busy loop, and login_timeout ends it → PAM_AUTHINFO_UNAVAIL."""
        out, f = self.bad_poll(lambda h: answer(h, 202, {"status":
                                                         "pending"}),
                               PAM_AUTHINFO_UNAVAIL, r"login_timeout reached",
                               within=10.0 + 3.0, options=AUTO_SHORT)
        self.check(out, f.polls() <= 25, "%d polls in %.1f s" % (
            f.polls(), out.elapsed))

    def test_poll_forged_code(self):
        """The relay (or whoever runs it) hands over a code of its own →
        the provider refuses it → PAM_AUTH_ERR."""
        out, _ = self.bad_poll(lambda h: answer(h, 200, {
            "code": "forged-by-the-relay", "iss": self.provider.issuer}),
            PAM_AUTH_ERR, r"token endpoint refused the code")
        self.check(out, self.provider.stats()["token"] == 1,
                   "the code was not even tried")
        self.check(out, "forged-by-the-relay" not in out.logs[0]["raw"],
                   "the code is in the log line")

    def test_poll_forged_code_wrong_iss(self):
        out, _ = self.bad_poll(lambda h: answer(h, 200, {
            "code": "forged", "iss": "https://evil.example"}),
            PAM_AUTH_ERR, r"authorization response from another issuer")
        self.check(out, self.provider.stats()["token"] == 0, "exchanged")

    def test_poll_forged_code_enter_confirm(self):
        """prompt = enter, confirm = yes: a forged code does not even reach
        the provider, as nobody can type its confirmation code → three
        wrong tries → PAM_AUTH_ERR."""
        f = self.fake(poll=lambda h: answer(h, 200, {
            "code": "forged", "iss": self.provider.issuer}))
        s = self.hsetup({"relay_url": f.url})
        out = s.run(Person(login=None, answers=["123456", "654321",
                                                "000000"]))
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"confirmation code wrong 3 times")
        self.check(out, self.provider.stats()["token"] == 0, "exchanged")


if __name__ == "__main__":
    unittest.main()
