"""A relay that fails for a moment while a sign-in waits for its result:
busy (503, Retry-After), restarting or gone behind a proxy (502, 504, the
connection refused or dropped), stopped for a few seconds.

The module polls again a second later (or after the relay's Retry-After,
up to 5 s) and the sign-in goes on; a relay that fails every poll for
RELAY_BLIP_S (login.c's bound) is down → PAM_AUTHINFO_UNAVAIL (9), long
before login_timeout, unless it is the relay's own 503 "busy": that relay
is up and is polled until login_timeout.  A relay that comes back without the sign-in (the
memory store forgets on restart) answers 404 → 9.  The relay dying
outright under a parked poll is in test_module_hostile_relay.py."""

import os
import signal
import threading
import time
import unittest

from hostile import (AUTO_LOCAL, RELAY_BLIP_S, Actor, FakeRelay, HostileCase,
                     answer)
from moduletest import (CONSOLE, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL,
                        PAM_SUCCESS, Person, Relay)


class RealRelayBlips(HostileCase):

    def test_relay_restarted_while_poll_parked(self):
        """SIGTERM, and a new relay on the same port a moment later: the
        module's poll reaches it, but the memory store forgot the sign-in
        → 404 → PAM_AUTHINFO_UNAVAIL, as soon as it answers (the honest
        outcome until the store outlives a restart)."""
        gone, over = threading.Event(), threading.Event()
        self.addCleanup(over.set)

        def restart():
            # A daemon dies with the thread that started it (the stand
            # sets PR_SET_PDEATHSIG): this thread outlives the sign-in.
            if not gone.wait(30):
                return
            d = os.path.join(self.stack.dir, "relay-%d" % time.monotonic_ns())
            os.mkdir(d)
            r = Relay(d, port[0], self.provider.issuer + "/oauth2/authorize",
                      keys=self.relay.keys)
            self.addCleanup(r.stop)
            over.wait(60)

        port = []
        threading.Thread(target=restart, daemon=True).start()
        out = self.dies_while_parked(
            signal.SIGTERM, then=lambda old: (port.append(old.port),
                                              gone.set()))
        self.assertFailsClosed(out, PAM_AUTHINFO_UNAVAIL,
                               r"the relay no longer knows this sign-in",
                               within=1.5 + RELAY_BLIP_S)

    def test_relay_paused_while_poll_parked(self):
        """The relay SIGSTOPped for 3 s under the parked poll, then
        SIGCONTed; the phone signs in after → PAM_SUCCESS.  (The stack's
        relay: the provider knows its callback only.)"""
        relay = self.relay

        def act(link):
            time.sleep(1.5)  # the module's poll is parked by now
            relay.proc.send_signal(signal.SIGSTOP)
            try:
                time.sleep(3.0)
            finally:
                relay.proc.send_signal(signal.SIGCONT)

        s = self.hsetup({"prompt": "auto"})
        p = Actor(act, login="alice", answers=["{code}"], phone_delay=5.0)
        out = s.run(p)
        self.check(out, p.act_error is None, "actor: %s" % p.act_error)
        self.check(out, p.phone_error is None, "phone: %s" % p.phone_error)
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.assertSignedInLog(out, "alice")


class FakeRelayBlips(HostileCase):
    """A loopback server in the relay's place that fails polls; prompt =
    auto, confirm = no at a console (whatever it hands over goes to the
    token exchange), nobody signs in."""

    def fake_poll(self, poll, code, reason, within):
        f = FakeRelay(poll=poll)
        self.addCleanup(f.close)
        s = self.hsetup(dict(AUTO_LOCAL, relay_url=f.url))
        out = s.run(Person(login=None, answers=[]), rhost=None, tty=CONSOLE)
        self.assertFailsClosed(out, code, reason, within=within)
        self.check(out, len(out.infos) >= 1, "no QR code was shown")
        return out, f

    def test_poll_busy_then_answers(self):
        """503 "busy" (Retry-After: 1) twice, a 502 and a dropped
        connection: each poll is made again a second later, and the answer
        that finally comes is taken (a forged code here: the provider
        refuses it → PAM_AUTH_ERR, not 9)."""
        fails = ["503", "503", "502", "drop"]

        def poll(h):
            if not fails:
                return answer(h, 200, {"code": "forged-after-a-blip",
                                       "iss": self.provider.issuer})
            f = fails.pop(0)
            if f == "drop":
                h.close_connection = True
                h.connection.close()
                return None
            h.send_response(int(f))
            h.send_header("Retry-After", "1")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return None

        out, f = self.fake_poll(poll, PAM_AUTH_ERR,
                                r"token endpoint refused the code",
                                within=4.0 + 6.0)
        self.check(out, f.polls() >= 4, "%d polls" % f.polls())
        self.check(out, self.provider.stats()["token"] == 1,
                   "the code was not tried")

    def test_poll_503_forever(self):
        """A proxy's 503 (no relay behind it) at once, every time: polled
        each second for RELAY_BLIP_S, then → PAM_AUTHINFO_UNAVAIL, long
        before login_timeout (30 s)."""
        out, f = self.fake_poll(
            lambda h: answer(h, 503, "<html>503 Service Temporarily "
                             "Unavailable</html>", "text/html"),
            PAM_AUTHINFO_UNAVAIL, r"relay refused the poll",
            within=RELAY_BLIP_S + 5.0)
        self.check(out, out.elapsed >= RELAY_BLIP_S - 1.0,
                   "gave up after %.1f s" % out.elapsed)
        self.check(out, 8 <= f.polls() <= 13, "%d polls in %.1f s" % (
            f.polls(), out.elapsed))

    def test_poll_busy_until_login_timeout(self):
        """The relay's own 503 "busy", every time: the relay is up, so it
        is polled each second past RELAY_BLIP_S, until login_timeout
        (30 s) → PAM_AUTHINFO_UNAVAIL, login_timeout reached."""
        out, f = self.fake_poll(lambda h: answer(h, 503, {"error": "busy"}),
                                PAM_AUTHINFO_UNAVAIL,
                                r"login_timeout reached", within=35.0)
        self.check(out, out.elapsed >= 25.0,
                   "gave up after %.1f s" % out.elapsed)
        self.check(out, f.polls() >= 20, "%d polls in %.1f s" % (
            f.polls(), out.elapsed))


if __name__ == "__main__":
    unittest.main()
