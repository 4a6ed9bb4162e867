"""Parked polls never starve the rest (--max-parked).

A poll that would wait while every --max-parked place is taken is answered
503 "busy" with Retry-After: 1 at once; callbacks, landing pages and
/healthz are answered all the while, a place given back is taken by the
next poll, and the parked polls still get their results.  With the
default options, the documented deployment (every client behind a local
proxy, so all from 127.0.0.1) keeps serving with hundreds of polls parked:
the per-address limit there defaults to --max-connections.

The figures printed are for reading, not asserted: the tests assert what
is answered, not how fast.
"""

import json
import sys
import time
import types
import unittest

import relaytest as rt
from test_abuse import KeepAlive

BUSY = {"error": "busy",
        "error_description": "too many sign-ins are waiting; poll again "
        "shortly"}
WAIT = 20       # the parked polls' wait: far longer than any test step


def figure(name, seconds):
    print("  %s: %.1f ms" % (name, seconds * 1000), file=sys.stderr)


def park(relay, login, wait=WAIT):
    """Sends a long poll for login on a connection of its own and returns
    that connection, its answer not read."""
    c = KeepAlive(relay, timeout=WAIT + 10)
    c.send("GET", "/v1/logins/result?wait=%d" % wait,
           (("Authorization", "Bearer " + login.secret),
            (rt.KEY_HEADER, rt.CLIENT_A.key)))
    return c


class Serving:
    """Checks shared by the cases: the rest of the relay answers."""

    def assert_serving(self, login, label):
        """A landing page, a callback and /healthz, each answered on a
        connection of its own while polls are parked."""
        relay = self.relay
        t0 = time.monotonic()
        r = relay.get(login.path, timeout=5)
        self.assertEqual(r.status, 200, "%s: landing page %r" % (label, r))
        figure(label + ": landing page", time.monotonic() - t0)
        t0 = time.monotonic()
        r = relay.callback([("state", login.state), ("code", "c-" + label)],
                           timeout=5)
        self.assertEqual(r.status, 200, "%s: callback %r" % (label, r))
        figure(label + ": callback", time.monotonic() - t0)
        t0 = time.monotonic()
        r = relay.get("/healthz", timeout=5)
        self.assertEqual(r.status, 200, "%s: /healthz %r" % (label, r))
        figure(label + ": /healthz", time.monotonic() - t0)
        # the result the callback stored is there for its module
        r = relay.poll(login.secret, 0)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json().get("code"), "c-" + label)

    def busy(self, login, wait=WAIT):
        """Polls login while every place is taken: answered 503 busy."""
        relay = self.relay
        r = relay.poll(login.secret, wait, timeout=WAIT + 10)
        figure("busy answer", r.elapsed)
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.json(), BUSY)
        self.assertEqual(r.header("Retry-After"), "1")
        self.assertEqual(r.header("Content-Type"), "application/json")
        # at once: not after the poll's wait, nor the connection timeout
        self.assertLess(r.elapsed, WAIT / 4)
        return r


class ParkedCap(rt.RelayTestCase, Serving):
    relay_args = ("--max-parked", "5")

    def test_cap(self):
        relay = self.relay
        busy0 = relay.metric("pam_ion_relay_rejections_total", reason="busy")
        parked = [relay.new_login() for _ in range(5)]
        extra = [relay.new_login() for _ in range(3)]
        conns = [park(relay, l) for l in parked]
        try:
            self.assertEqual(rt.wait_parked(relay, 5), 5)
            # the sixth poll: busy, at once, and not parked
            self.busy(extra[0])
            self.assertEqual(relay.metric("pam_ion_relay_parked_polls"), 5)
            # a poll that need not wait is answered as always
            r = relay.poll(extra[0].secret, 0)
            self.assertEqual(r.status, 202, r)
            self.assertEqual(r.json(), {"status": "pending"})
            # the rest of the relay is served (extra[1]'s callback too)
            self.assert_serving(extra[1], "5 of 5 parked")
            # a result ready is collected, never "busy"
            r = relay.callback([("state", extra[2].state),
                                ("code", "ready")])
            self.assertEqual(r.status, 200, r)
            r = relay.poll(extra[2].secret, WAIT)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json().get("code"), "ready")
            # an unknown login is still 404, not "busy"
            r = relay.poll(rt.new_secret()[0], WAIT)
            self.assertEqual(r.status, 404, r)
            # a parked poll gets its result; its place is taken again
            r = relay.callback([("state", parked[0].state), ("code", "p0")])
            self.assertEqual(r.status, 200, r)
            st, _, body = conns[0].receive()
            self.assertEqual(st, 200, body)
            self.assertIn(b'"p0"', body)
            self.assertEqual(rt.wait_parked(relay, 4), 4)
            conns.append(park(relay, extra[0]))
            self.assertEqual(rt.wait_parked(relay, 5), 5)
            self.busy(relay.new_login())
            # every parked poll still gets its result
            for i, l in enumerate(parked[1:] + [extra[0]], 1):
                r = relay.callback([("state", l.state), ("code", "p%d" % i)])
                self.assertEqual(r.status, 200, r)
            for i, c in enumerate(conns[1:], 1):
                st, _, body = c.receive()
                self.assertEqual(st, 200, body)
                self.assertIn(b'"p%d"' % i, body)
            self.assertEqual(rt.wait_parked(relay, 0), 0)
        finally:
            for c in conns:
                c.close()
        self.assertEqual(
            relay.metric("pam_ion_relay_rejections_total", reason="busy"),
            busy0 + 2)
        self.assertIn("refused a poll: all 5 places for parked polls are "
                      "taken (--max-parked)",
                      relay.wait_log("--max-parked)"))


class SmallDefaults(rt.RelayTestCase, Serving):
    """--max-connections 32 and nothing else: 24 parked polls (3/4) from
    one address, the per-address limit that of the whole relay; more get
    "busy", and the other 8 connections serve everything else."""

    relay_args = ("--max-connections", "32")

    def test_three_quarters(self):
        relay = self.relay
        logins = [relay.new_login() for _ in range(30)]
        conns = []
        try:
            for l in logins[:24]:
                conns.append(park(relay, l))
            self.assertEqual(rt.wait_parked(relay, 24), 24)
            for l in logins[24:28]:
                self.busy(l)
            self.assert_serving(logins[28], "24 of 24 parked")
            self.assertEqual(relay.metric("pam_ion_relay_parked_polls"), 24)
        finally:
            for c in conns:
                c.close()


class DefaultsBehindProxy(rt.RelayTestCase, Serving):
    """The lockout of issue 9 as a regression test: with the default
    options, 300 polls parked from 127.0.0.1 (as from a local reverse
    proxy); the 129th connection used to be closed unanswered, and with it
    every callback, landing page and /healthz."""

    N = 300

    def test_many_parked_from_one_address(self):
        relay = self.relay
        t0 = time.monotonic()
        reg = KeepAlive(relay)
        logins = []
        try:
            for _ in range(self.N + 1):
                secret, state = rt.new_secret()
                st, _, _ = reg.request(
                    "POST", "/v1/logins",
                    (("Content-Type", "application/json"),
                     ("Authorization", "Bearer " + secret),
                     (rt.KEY_HEADER, rt.CLIENT_A.key)),
                    json.dumps({"state": state,
                                "authorize_url": rt.authorize_url(state),
                                "context": rt.default_context()}))
                self.assertEqual(st, 201)
                logins.append(types.SimpleNamespace(secret=secret,
                                                    state=state))
        finally:
            reg.close()
        figure("%d registrations" % (self.N + 1), time.monotonic() - t0)
        # the landing page's path, for the one login assert_serving uses
        r, last = relay.register()
        self.assertEqual(r.status, 201, r)
        conns = []
        try:
            t0 = time.monotonic()
            for l in logins[:self.N]:
                conns.append(park(relay, l))
            self.assertEqual(rt.wait_parked(relay, self.N, timeout=10),
                             self.N)
            figure("%d polls parked" % self.N, time.monotonic() - t0)
            self.assert_serving(last, "%d parked" % self.N)
            # a parked poll is woken by its callback, as ever
            r = relay.callback([("state", logins[7].state), ("code", "x")])
            self.assertEqual(r.status, 200, r)
            st, _, body = conns[7].receive()
            self.assertEqual(st, 200, body)
            # and one more poll from the same address parks
            conns.append(park(relay, logins[self.N]))
            self.assertEqual(rt.wait_parked(relay, self.N, timeout=5),
                             self.N)
        finally:
            for c in conns:
                c.close()
        self.assertEqual(rt.wait_parked(relay, 0, timeout=10), 0)
        self.assertEqual(
            relay.metric("pam_ion_relay_rejections_total", reason="busy"), 0)


if __name__ == "__main__":
    unittest.main()
