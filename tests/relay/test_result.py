"""GET /v1/logins/result: bearer, pending, long-poll, exactly-once."""

import socket
import struct
import time
import unittest

import relaytest as rt

PARKED = "pam_ion_relay_parked_polls"


class Result(rt.RelayTestCase):

    def setUp(self):
        # the gauge shows when a poll is parked; test_metrics checks that it
        # exists at all, so without it these tests fall back to sleeping
        try:
            self.parked0 = self.relay.metric(PARKED)
        except AssertionError:
            self.parked0 = None

    def tearDown(self):
        # no test may leave a poll parked for the next one
        if self.parked0 is not None:
            self.relay.wait_metric(PARKED, self.parked0, 5)

    def assertParked(self, n):
        """Wait until n more polls than at the start of the test are parked."""
        if self.parked0 is None:
            time.sleep(0.7)
            return
        got = rt.wait_parked(self.relay, self.parked0 + n)
        self.assertEqual(got, self.parked0 + n,
                         "parked polls gauge: want %d, got %r"
                         % (self.parked0 + n, got))

    # -------------------------------------------------------------- 401/404

    def test_unauthorized(self):
        login = self.relay.new_login()
        good = login.secret
        cases = {
            "no header": None,
            "empty": "",
            "scheme only": "Bearer",
            "scheme and space": "Bearer ",
            "no scheme": good,
            "basic": "Basic " + good,
            "42 chars": "Bearer " + good[:42],
            "44 chars": "Bearer " + good + "A",
            "plus": "Bearer " + good[:42] + "+",
            "slash": "Bearer " + good[:42] + "/",
            "padded": "Bearer " + good + "=",
            "trailing token": "Bearer " + good + " x",
            "non-ascii": "Bearer " + good[:42] + "\u00e9",
        }
        for name, value in cases.items():
            with self.subTest(case=name):
                h = {} if value is None else {
                    "Authorization": value.encode("utf-8").decode("latin-1")}
                r = self.relay.poll(None, 0, headers=h)
                self.assertJsonError(r, 401, "unauthorized")
                www = r.header("WWW-Authenticate")
                self.assertIsNotNone(www, r)
                self.assertRegex(www, r"\ABearer\b", r)
                self.assertSecurityHeaders(r)
        # none of that touched the login
        self.assertEqual(login.poll(0).status, 202)

    def test_unknown_login(self):
        secret, _ = rt.new_secret()
        for wait in (None, 0, 2):
            with self.subTest(wait=wait):
                r = self.relay.poll(secret, wait)
                self.assertJsonError(r, 404, "unknown_login")
                self.assertLess(r.elapsed, 1.0, "unknown login parked")

    def test_state_is_not_a_bearer(self):
        # the state S (seen on screen) must not work as the poll secret
        login = self.relay.new_login()
        r = self.relay.poll(login.state, 0)
        self.assertJsonError(r, 404, "unknown_login")

    # -------------------------------------------------------------- 202

    def test_pending_no_wait(self):
        login = self.relay.new_login()
        for wait in (None, 0, "00"):
            with self.subTest(wait=wait):
                r = login.poll(wait)
                self.assertEqual(r.status, 202, r)
                self.assertEqual(r.json(), {"status": "pending"})
                self.assertEqual(r.header("Content-Type", "").split(";")[0],
                                 "application/json")
                self.assertLess(r.elapsed, 0.5)
                self.assertSecurityHeaders(r)

    def test_pending_wait_1(self):
        login = self.relay.new_login()
        r = login.poll(1)
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json(), {"status": "pending"})
        self.assertGreaterEqual(r.elapsed, 0.9)
        self.assertLess(r.elapsed, 2.5)

    def test_pending_wait_2(self):
        login = self.relay.new_login()
        r = login.poll(2)
        self.assertEqual(r.status, 202, r)
        self.assertGreaterEqual(r.elapsed, 1.9)
        self.assertLess(r.elapsed, 3.5)

    def test_bad_wait(self):
        login = self.relay.new_login()
        for wait in ("abc", "-1", "1x", "1.5", "0x1", "-0x1"):
            with self.subTest(wait=wait):
                r = login.poll(wait)
                self.assertEqual(r.status, 400, r)
                self.assertJsonError(r, 400)
        self.assertEqual(login.poll(0).status, 202)

    # -------------------------------------------------------------- 200

    def test_code_once(self):
        login = self.relay.new_login()
        self.assertEqual(login.callback_code("Code-1.x").status, 200)
        r = login.poll(0)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type", "").split(";")[0],
                         "application/json")
        self.assertEqual(r.json(), {"code": "Code-1.x"})
        self.assertSecurityHeaders(r)
        # exactly once: then the login is forgotten
        self.assertJsonError(login.poll(0), 404, "unknown_login")
        self.assertJsonError(login.poll(2), 404, "unknown_login")
        self.assertEqual(self.relay.get(login.path).status, 404)
        self.assertEqual(login.callback_code("again").status, 404)

    def test_result_before_poll_is_immediate(self):
        login = self.relay.new_login()
        self.assertEqual(login.callback_code("k").status, 200)
        r = login.poll(25)
        self.assertEqual(r.status, 200, r)
        self.assertLess(r.elapsed, 1.0)

    def test_iss_passed_through(self):
        login = self.relay.new_login()
        iss = "https://auth.example/tenant?x=1&y=2"
        self.assertEqual(login.callback_code("c1", iss=iss).status, 200)
        r = login.poll(0)
        self.assertEqual(r.json(), {"code": "c1", "iss": iss})

    def test_error_results(self):
        cases = [
            [("error", "access_denied")],
            [("error", "access_denied"),
             ("error_description", "User said no & left")],
            [("error", "login_required"), ("iss", "https://auth.example")],
            [("error", "server_error"), ("error_description", "d"),
             ("iss", "https://auth.example")],
        ]
        for params in cases:
            with self.subTest(params=params):
                login = self.relay.new_login()
                cb = self.relay.callback([("state", login.state)] + params)
                self.assertEqual(cb.status, 200, cb)
                r = login.poll(0)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json(), dict(params))
                self.assertJsonError(login.poll(0), 404, "unknown_login")

    # -------------------------------------------------------------- parking

    def test_parked_poll_woken_by_callback(self):
        login = self.relay.new_login()
        p = rt.Poller(self.relay, login.secret, 25)
        p.start()
        self.assertParked(1)
        t_cb = time.monotonic()
        cb = login.callback_code("wake-me")
        self.assertEqual(cb.status, 200, cb)
        p.join(5)
        self.assertFalse(p.is_alive(), "parked poll not woken")
        self.assertIsNone(p.exc)
        self.assertEqual(p.resp.status, 200, p.resp)
        self.assertEqual(p.resp.json(), {"code": "wake-me"})
        self.assertLess(p.t_done - t_cb, 1.0, "woken late: timed out?")
        if self.parked0 is not None:
            self.assertEqual(self.relay.metric(PARKED), self.parked0)

    def test_parked_poll_woken_by_error_callback(self):
        login = self.relay.new_login()
        p = rt.Poller(self.relay, login.secret, 25)
        p.start()
        self.assertParked(1)
        t_cb = time.monotonic()
        cb = self.relay.callback([("state", login.state),
                                  ("error", "access_denied")])
        self.assertEqual(cb.status, 200, cb)
        p.join(5)
        self.assertFalse(p.is_alive())
        self.assertEqual(p.resp.status, 200, p.resp)
        self.assertEqual(p.resp.json(), {"error": "access_denied"})
        self.assertLess(p.t_done - t_cb, 1.0)

    def test_second_poll_replaces_parked(self):
        login = self.relay.new_login()
        p1 = rt.Poller(self.relay, login.secret, 25)
        p1.start()
        self.assertParked(1)
        t2 = time.monotonic()
        p2 = rt.Poller(self.relay, login.secret, 25)
        p2.start()
        p1.join(3)
        self.assertFalse(p1.is_alive(), "first poll not answered")
        self.assertEqual(p1.resp.status, 202, p1.resp)
        self.assertEqual(p1.resp.json(), {"status": "pending"})
        self.assertLess(p1.t_done - t2, 2.0)
        self.assertParked(1)
        self.assertTrue(p2.is_alive(), "second poll did not park")
        cb = login.callback_code("second")
        self.assertEqual(cb.status, 200)
        p2.join(5)
        self.assertFalse(p2.is_alive())
        self.assertEqual(p2.resp.status, 200, p2.resp)
        self.assertEqual(p2.resp.json(), {"code": "second"})

    def test_parked_polls_for_different_logins(self):
        logins = [self.relay.new_login() for _ in range(3)]
        ps = [rt.Poller(self.relay, l.secret, 25) for l in logins]
        for p in ps:
            p.start()
        self.assertParked(3)
        # waking one wakes only that one
        logins[1].callback_code("one")
        ps[1].join(3)
        self.assertEqual(ps[1].resp.json(), {"code": "one"})
        time.sleep(0.3)
        self.assertTrue(ps[0].is_alive() and ps[2].is_alive())
        logins[0].callback_code("zero")
        logins[2].callback_code("two")
        for p, want in ((ps[0], "zero"), (ps[2], "two")):
            p.join(3)
            self.assertEqual(p.resp.json(), {"code": want})

    def test_disconnected_parked_poll_noticed(self):
        login = self.relay.new_login()
        s = socket.create_connection((self.relay.host, self.relay.port), 5)
        s.sendall(("GET /v1/logins/result?wait=25 HTTP/1.1\r\n"
                   "Host: relay\r\nAuthorization: Bearer %s\r\n%s\r\n"
                   % (login.secret, rt.KEY_LINE)).encode())
        self.assertParked(1)
        self.assertIsNotNone(self.parked0, "needs the parked polls gauge")
        t0 = time.monotonic()
        s.close()
        got = self.relay.wait_metric(PARKED, self.parked0, 2.5)
        self.assertEqual(got, self.parked0,
                         "parked gauge still %r %.1f s after the client left"
                         % (got, time.monotonic() - t0))
        # the result is not lost to the dead connection
        self.assertEqual(login.callback_code("after").status, 200)
        r = login.poll(0)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"code": "after"})


class Delivery(rt.RelayTestCase):
    """A result is handed out in two steps: a poll gets a copy, and the
    login is forgotten -- and results_delivered_total counted -- only when
    the relay has sent that answer whole.  An answer that could not be sent
    leaves the result for the next poll."""

    relay_args = ("--max-pending", "1000")

    DELIVERED = "pam_ion_relay_results_delivered_total"
    PENDING = "pam_ion_relay_pending_logins"
    KEPT = "the result did not reach the module; kept for its next poll"
    COLLECTED = "result collected"

    def logged(self, login, what):
        return any(login.id in line and what in line
                   for line in self.relay.log_lines())

    def test_delivered_counted_once_answered(self):
        login = self.relay.new_login()
        d0 = self.relay.metric(self.DELIVERED)
        p0 = self.relay.metric(self.PENDING)
        self.assertEqual(login.callback_code("c").status, 200)
        self.assertEqual(self.relay.metric(self.DELIVERED), d0)
        r = login.poll(0)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.relay.wait_metric(self.DELIVERED, d0 + 1, 2),
                         d0 + 1)
        self.assertEqual(self.relay.wait_metric(self.PENDING, p0 - 1, 2),
                         p0 - 1)
        deadline = time.monotonic() + 2
        while (not self.logged(login, self.COLLECTED)
               and time.monotonic() < deadline):
            time.sleep(0.02)
        self.assertTrue(self.logged(login, self.COLLECTED),
                        self.relay.log_text()[-1000:])
        self.assertFalse(self.logged(login, self.KEPT))
        self.assertJsonError(login.poll(0), 404, "unknown_login")

    def outcome(self, login, timeout):
        """How the relay took a poll for login, from its log: "collected"
        (the answer went out), "kept" (the answer failed) or None (not yet,
        or never: the reset came before the request was read)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.logged(login, self.KEPT):
                return "kept"
            if self.logged(login, self.COLLECTED):
                return "collected"
            if time.monotonic() > deadline:
                return None
            time.sleep(0.005)

    def reset_poll(self, login):
        """Polls and resets the connection at once (SO_LINGER 0)."""
        s = socket.create_connection((self.relay.host, self.relay.port), 5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     struct.pack("ii", 1, 0))
        s.sendall(("GET /v1/logins/result HTTP/1.1\r\nHost: relay\r\n"
                   "Authorization: Bearer %s\r\n%s\r\n"
                   % (login.secret, rt.KEY_LINE)).encode())
        s.close()

    def test_broken_answer_keeps_the_result(self):
        """Whether a reset beats the relay's write is a race, so try until
        one answer fails (about one try in eight does here).  Every try
        must be consistent: counted and gone, or not counted and there."""
        seen = {"collected": 0, "kept": 0, None: 0}
        for attempt in range(300):
            login = self.relay.new_login()
            code = "reset-%d" % attempt
            self.assertEqual(login.callback_code(code).status, 200)
            d0 = self.relay.metric(self.DELIVERED)
            self.reset_poll(login)
            how = self.outcome(login, 0.3)
            if how is None:
                r = login.poll(0)
                if r.status == 200:
                    # never taken: this poll got it, and it counts
                    seen[None] += 1
                    self.assertEqual(r.json(), {"code": code})
                    self.assertEqual(self.relay.wait_metric(
                        self.DELIVERED, d0 + 1, 2), d0 + 1)
                    continue
                # the relay was slow, not beaten: its answer is under way
                self.assertEqual(r.status, 202, r)
                how = self.outcome(login, 3)
                self.assertIsNotNone(how, "a delivery that never ended")
            seen[how] += 1
            d1 = self.relay.metric(self.DELIVERED)
            r = login.poll(0)
            if how == "collected":
                self.assertEqual(d1, d0 + 1)
                self.assertJsonError(r, 404, "unknown_login")
                continue
            # kept: not counted, and the same result for the next poll
            self.assertEqual(d1, d0, "kept, yet counted as delivered")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json(), {"code": code})
            self.assertEqual(
                self.relay.wait_metric(self.DELIVERED, d0 + 1, 2), d0 + 1)
            self.assertJsonError(login.poll(0), 404, "unknown_login")
            self.assertEqual(login.callback_code("again").status, 404)
            return
        self.fail("no reset beat the relay's answer in %r" % seen)


class ExpiryWhileParked(rt.RelayTestCase):
    relay_args = ("--ttl", "10")

    def test_parked_poll_gets_404_on_expiry(self):
        t_reg = time.monotonic()
        login = self.relay.new_login()
        self.assertEqual(login.expires_in, 10)
        r = login.poll(25, timeout=40)
        t = time.monotonic() - t_reg
        self.assertJsonError(r, 404, "unknown_login")
        self.assertGreater(t, 8.5, "answered before the TTL ran out")
        self.assertLess(t, 13.5, "answered long after the TTL ran out")
        self.assertEqual(self.relay.metric(PARKED), 0)


if __name__ == "__main__":
    unittest.main()
