"""Connection timeout, connection limits, header size, TTL expiry."""

import socket
import time
import unittest

import relaytest as rt


def connect(relay):
    return socket.create_connection((relay.host, relay.port), timeout=5)


def closed_within(sock, seconds):
    """Wait for the server to close sock; return the time it took or None."""
    t0 = time.monotonic()
    deadline = t0 + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            return None
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - t0
        if not data:
            return time.monotonic() - t0
        # a response (e.g. 408) before the close is fine; keep reading


def get_on(sock, path="/healthz", keep_alive=True):
    sock.sendall(("GET %s HTTP/1.1\r\nHost: relay\r\n%s\r\n"
                  % (path, "" if keep_alive else "Connection: close\r\n"))
                 .encode())
    sock.settimeout(5)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(rest) < length:
        chunk = sock.recv(4096)
        if not chunk:
            break
        rest += chunk
    return rt.status_of(buf)


class ConnectionTimeout(rt.RelayTestCase):
    relay_args = ("--connection-timeout", "2")

    LIMIT = 6.0     # 2 s timeout plus slack for a busy machine

    def test_idle_connection_closed(self):
        s = connect(self.relay)
        try:
            t = closed_within(s, self.LIMIT)
            self.assertIsNotNone(t, "idle connection still open after %.0f s"
                                 % self.LIMIT)
            self.assertGreater(t, 1.0, "closed before the timeout")
        finally:
            s.close()

    def test_partial_request_closed(self):
        # classic slowloris: a request line and some headers, then nothing
        s = connect(self.relay)
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: relay\r\nX-A: 1\r\n")
            t = closed_within(s, self.LIMIT)
            self.assertIsNotNone(t, "half-sent request still open after "
                                 "%.0f s" % self.LIMIT)
        finally:
            s.close()

    def test_partial_body_closed(self):
        s = connect(self.relay)
        try:
            s.sendall(b"POST /v1/logins HTTP/1.1\r\nHost: relay\r\n"
                      + rt.KEY_LINE.encode() +
                      b"Content-Type: application/json\r\n"
                      b"Content-Length: 1000\r\n\r\n{\"state\": ")
            t = closed_within(s, self.LIMIT)
            self.assertIsNotNone(t, "half-sent body still open after %.0f s"
                                 % self.LIMIT)
        finally:
            s.close()

    def test_idle_keep_alive_closed(self):
        s = connect(self.relay)
        try:
            self.assertEqual(get_on(s), 200)
            t = closed_within(s, self.LIMIT)
            self.assertIsNotNone(t, "idle keep-alive connection still open "
                                 "after %.0f s" % self.LIMIT)
        finally:
            s.close()

    def test_trickling_request_closed(self):
        # "an idle or slow connection is closed": one header byte every
        # 0.5 s never leaves the connection idle for 2 s, but is slow
        s = connect(self.relay)
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: relay\r\nX-Slow: ")
            t0 = time.monotonic()
            closed = False
            while time.monotonic() - t0 < 12:
                try:
                    s.sendall(b"a")
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                s.settimeout(0.5)
                try:
                    if s.recv(4096) == b"":
                        closed = True
                        break
                except socket.timeout:
                    pass
                except ConnectionResetError:
                    closed = True
                    break
            elapsed = time.monotonic() - t0
            self.assertTrue(closed, "a request trickling in one byte every "
                            "0.5 s was kept open for %.0f s" % elapsed)
            self.assertLess(elapsed, 10)
        finally:
            s.close()

    def test_parked_poll_exempt(self):
        login = self.relay.new_login()
        r = login.poll(5, timeout=15)
        self.assertEqual(r.status, 202, r)
        self.assertGreater(r.elapsed, 4.5)

    def test_active_connection_survives(self):
        # requests every second keep a connection alive beyond the timeout
        s = connect(self.relay)
        try:
            for _ in range(4):
                self.assertEqual(get_on(s), 200)
                time.sleep(1.0)
        finally:
            s.close()


class PerIpLimit(rt.RelayTestCase):
    relay_args = ("--max-connections-per-ip", "2")

    def test_third_connection_refused(self):
        a, b = connect(self.relay), connect(self.relay)
        try:
            self.assertEqual(get_on(a), 200)
            self.assertEqual(get_on(b), 200)
            raw, _ = rt.raw_exchange(
                self.relay.port,
                b"GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n", timeout=3,
                host=self.relay.host)
            st = rt.status_of(raw)
            self.assertTrue(st is None or st >= 400,
                            "third connection from one address was served: "
                            "%r" % raw[:200])
            # the first two still work
            self.assertEqual(get_on(a), 200)
            self.assertEqual(get_on(b), 200)
        finally:
            a.close()
        try:
            # one place is free again
            deadline = time.monotonic() + 3
            while True:
                try:
                    r = self.relay.get("/healthz", timeout=3)
                    if r.status == 200:
                        break
                except OSError:
                    pass
                self.assertLess(time.monotonic(), deadline,
                                "no connection accepted after one closed")
                time.sleep(0.1)
        finally:
            b.close()


class ConnectionLimit(rt.RelayTestCase):
    relay_args = ("--max-connections", "16", "--max-connections-per-ip", "16")

    def test_limit(self):
        socks = []
        try:
            for i in range(16):
                s = connect(self.relay)
                socks.append(s)
                self.assertEqual(get_on(s), 200,
                                 "connection %d of 16 not served" % (i + 1))
            raw, _ = rt.raw_exchange(
                self.relay.port,
                b"GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n", timeout=3,
                host=self.relay.host)
            st = rt.status_of(raw)
            self.assertTrue(st is None or st >= 400,
                            "17th connection was served: %r" % raw[:200])
        finally:
            for s in socks:
                s.close()
        deadline = time.monotonic() + 3
        while True:
            try:
                if self.relay.get("/healthz", timeout=3).status == 200:
                    break
            except OSError:
                pass
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.1)


class HeaderSize(rt.RelayTestCase):

    def check_refused(self, req, statuses=(413, 431)):
        raw, closed = rt.raw_exchange(self.relay.port, req, timeout=5,
                                      host=self.relay.host)
        st = rt.status_of(raw)
        if st is None:
            self.assertTrue(closed, "no answer and no close")
        else:
            self.assertIn(st, statuses, raw[:300])

    def test_one_big_header(self):
        for size in (20 * 1024, 64 * 1024):
            with self.subTest(size=size):
                self.check_refused(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n"
                                   b"X-Big: " + b"a" * size + b"\r\n\r\n")

    def test_many_headers(self):
        hdrs = b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 40) for i in range(500))
        self.check_refused(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n"
                           + hdrs + b"\r\n")

    def test_long_request_line(self):
        self.check_refused(b"GET /healthz?" + b"x" * (20 * 1024)
                           + b" HTTP/1.1\r\nHost: relay\r\n\r\n",
                           (413, 414, 431))

    def test_big_bearer(self):
        self.check_refused(b"GET /v1/logins/result HTTP/1.1\r\nHost: relay\r\n"
                           + rt.KEY_LINE.encode() + b"Authorization: Bearer " + b"A" * (20 * 1024)
                           + b"\r\n\r\n")

    def test_normal_headers_accepted(self):
        r = self.relay.get("/healthz", headers={"X-Cookie": "c" * 4000,
                                                "User-Agent": "u" * 200})
        self.assertEqual(r.status, 200, r)

    def test_still_serving(self):
        self.check_refused(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n"
                           b"X-Big: " + b"a" * (32 * 1024) + b"\r\n\r\n")
        self.assertEqual(self.relay.get("/healthz").status, 200)


class TtlExpiry(rt.RelayTestCase):
    relay_args = ("--ttl", "10", "--max-pending", "2")

    EXP = "pam_ion_relay_expirations_total"
    PEND = "pam_ion_relay_pending_logins"

    def test_expiry(self):
        m0 = self.relay.metrics()
        self.assertIsNotNone(m0.value(self.EXP), "no expirations counter")
        t0 = time.monotonic()
        login = self.relay.new_login()
        self.assertEqual(login.expires_in, 10)
        # still there shortly before the TTL
        time.sleep(7)
        self.assertEqual(self.relay.get(login.path).status, 200)
        keep = self.relay.new_login()       # registered later: lives longer
        time.sleep(max(0, 11.5 - (time.monotonic() - t0)))
        with self.subTest("expiry counted before anyone asks"):
            m = self.relay.metrics()
            self.assertEqual(m.value(self.EXP) - m0.value(self.EXP), 1)
            self.assertEqual(m.value(self.PEND), m0.value(self.PEND) + 1)
        # the expired login no longer counts against --max-pending 2
        third = self.relay.new_login()
        r = self.relay.get(login.path)
        page = self.assertHtml(r, 404)
        self.assertIn("unknown or has expired", rt.norm_text(page.text))
        self.assertJsonError(login.poll(0), 404, "unknown_login")
        self.assertHtml(login.callback_code("late"), 404)
        m1 = self.relay.metrics()
        self.assertEqual(m1.value(self.EXP) - m0.value(self.EXP), 1)
        self.assertEqual(m1.value(self.PEND), m0.value(self.PEND) + 2)
        # the other logins are unaffected
        for n, l in enumerate((keep, third)):
            self.assertEqual(self.relay.get(l.path).status, 200)
            self.assertEqual(l.poll(0).status, 202)
            # a code is accepted once: each login its own
            self.assertEqual(l.callback_code("x%d" % n).status, 200)
            self.assertEqual(l.poll(0).status, 200)


if __name__ == "__main__":
    unittest.main()
