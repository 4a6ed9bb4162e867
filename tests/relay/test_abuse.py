"""Abuse: slow clients, parked polls that vanish, a registration flood.

Each case starts its own relay with the limits it needs, keeps a real login
(register -> landing page -> parked poll -> callback -> result) working
through the attack with each step under STEP_LIMIT, bounds the relay's
memory (VmRSS from /proc), checks that /metrics counted what was refused,
and at the end that the relay's stderr holds no code, poll secret, Bearer
value or query string and that SIGTERM ends it with status 0.

The input attacks (callback flood, oversized and repeated parameters,
markup in echoed fields) are in test_abuse_input, which uses the helpers
defined here.
"""

import json
import os
import re
import socket
import struct
import threading
import time
import unittest

import relaytest as rt

QUERY_PARAM_RE = re.compile(r"(?<![A-Za-z0-9_])(?:code|state|error|"
                            r"error_description|iss|wait|nonce|p\d+)=")
PATH_QUERY_RE = re.compile(r"(?:/callback|/v1/logins/result|/v1/logins|"
                           r"/l/[^\s?\"]*|/healthz|/metrics)\?")
STEP_LIMIT = 1.0        # seconds per step of a real login under attack
MIB = 1024 * 1024


# ---------------------------------------------------------------- helpers

def rss_bytes(relay):
    """The relay's resident set size (VmRSS) in bytes."""
    with open("/proc/%d/status" % relay.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for pid %d" % relay.proc.pid)


def settle_rss(relay, seconds=0.5):
    """VmRSS after a short pause, for the allocator and the timer thread."""
    time.sleep(seconds)
    return rss_bytes(relay)


_SANITIZED = {}


def sanitized():
    """Whether the relay under test is an AddressSanitizer build.  ASan
    keeps freed memory in a quarantine (up to 256 MiB) to catch use after
    free, so RSS bounds say nothing there; LeakSanitizer's check at exit
    (a leak makes the exit status non-zero) takes their place."""
    path = rt.relay_bin()
    if path not in _SANITIZED:
        with open(path, "rb") as f:
            _SANITIZED[path] = b"__asan_init" in f.read()
    return _SANITIZED[path]


def random_state():
    """43 base64url characters, like a real state, of no registered login."""
    return rt.state_of_raw(os.urandom(32))


def connect(relay, timeout=10.0):
    return socket.create_connection((relay.host, relay.port), timeout=timeout)


def close_abruptly(sock):
    """Close with a RST (SO_LINGER 0) instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class KeepAlive:
    """A minimal HTTP/1.1 client on one keep-alive connection.

    No retries: a request is sent once, so that counters on the relay
    match what was sent exactly."""

    def __init__(self, relay, timeout=10.0):
        self.sock = connect(relay, timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the relay closed a keep-alive connection")
        self.buf += chunk

    def request(self, method, path, headers=(), body=b""):
        """Returns (status, headers dict with lower-case names, body)."""
        self.send(method, path, headers, body)
        return self.receive()

    def send(self, method, path, headers=(), body=b""):
        """Sends a request; receive() reads its answer."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: relay"]
        lines += ["%s: %s" % kv for kv in headers]
        if body or method == "POST":
            lines.append("Content-Length: %d" % len(body))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
                          + body)

    def receive(self):
        """The next answer: (status, headers dict with lower-case names,
        body)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        hlines = head.decode("latin-1").split("\r\n")
        status = int(hlines[0].split()[1])
        hdrs = {}
        for line in hlines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        length = int(hdrs.get("content-length", "0"))
        while len(self.buf) < length:
            self._fill()
        data, self.buf = self.buf[:length], self.buf[length:]
        return status, hdrs, data


class TimedPoll(threading.Thread):
    """A long poll in the background that notes when its answer arrived
    (relaytest's Poller also waits for the relay's log line)."""

    def __init__(self, relay, secret, wait=25, timeout=40.0):
        super().__init__(daemon=True)
        self.relay, self.secret, self.wait = relay, secret, wait
        self.timeout = timeout
        self.resp = self.exc = self.t_done = None

    def run(self):
        try:
            self.resp = self.relay.get(
                "/v1/logins/result?wait=%d" % self.wait,
                headers={"Authorization": "Bearer " + self.secret},
                timeout=self.timeout)
        except Exception as e:      # noqa: BLE001 - reported by the test
            self.exc = e
        self.t_done = time.monotonic()


# ---------------------------------------------------------------- base

class AbuseCase(rt.RelayTestCase):
    """One relay per class.  secrets collects every code and poll secret
    sent, which the relay's log must never show."""

    secrets = None

    @classmethod
    def setUpClass(cls):
        # the client keys are secrets, too
        cls.secrets = [rt.CLIENT_A.key, rt.CLIENT_B.key]
        cls.figures = {}
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()         # SIGTERM: exit status 0
        text = cls.relay.log_text()
        problems = []
        for s in cls.secrets:
            if s in text:
                problems.append("a code or poll secret: %r" % s)
        if "bearer" in text.lower():
            problems.append("'Bearer'")
        # iON's error value is logged (quoted): it may hold "onerror=" or
        # "</script>?" from the markup case, so look for whole names
        m = QUERY_PARAM_RE.search(text)
        if m:
            problems.append("a query parameter %r" % m.group(0))
        m = PATH_QUERY_RE.search(text)
        if m:
            problems.append("a path with a query: %r" % m.group(0))
        for line in cls.relay.log_lines():
            if not line.startswith(rt.LOG_PREFIX):
                problems.append("a line without the prefix: %r" % line[:200])
                break
        if problems:
            raise AssertionError("the relay's stderr holds %s" %
                                 "; ".join(problems))
        if cls.figures and os.environ.get("ABUSE_FIGURES"):
            for k, v in sorted(cls.figures.items()):
                print("  figure %s.%s = %s" % (cls.__name__, k, v))

    def secret(self, value):
        self.secrets.append(value)
        return value

    def assertRssGrowth(self, delta, limit, what):
        """RSS grew by delta bytes with what; limit is the bound."""
        if sanitized():
            self.figures["rss_note"] = "ASan build: RSS bounds not checked"
            return
        self.assertLess(delta, limit, "%s grew the relay's RSS by %d KiB "
                        "(bound %d KiB)" % (what, delta // 1024,
                                            limit // 1024))

    def rejections(self):
        return self.relay.metrics().rejections()

    def real_login(self, label, step_limit=STEP_LIMIT, confirm=True,
                   before_callback=None):
        """register -> landing page -> parked poll -> callback -> result,
        each step within step_limit seconds.  before_callback() runs while
        the poll is parked.  Returns the step times."""
        relay = self.relay
        steps = {}
        t0 = time.monotonic()
        r, login = relay.register(
            extra=None if confirm else {"confirm": False})
        steps["register"] = time.monotonic() - t0
        self.assertEqual(r.status, 201, "%s: registration: %r" % (label, r))
        self.secret(login.secret)
        t0 = time.monotonic()
        r = relay.get(login.path)
        steps["landing"] = time.monotonic() - t0
        self.assertEqual(r.status, 200, "%s: landing page: %r" % (label, r))
        poll = TimedPoll(relay, login.secret, 25)
        t0 = time.monotonic()
        poll.start()
        # parked: no answer before the callback
        time.sleep(0.3)
        self.assertIsNone(poll.t_done, "%s: the poll was answered before "
                          "the callback: %r %r" % (label, poll.resp, poll.exc))
        if before_callback is not None:
            before_callback()
        code = self.secret("ReAlCoDe-" + os.urandom(8).hex())
        t_cb = time.monotonic()
        r = login.callback_code(code)
        steps["callback"] = time.monotonic() - t_cb
        self.assertEqual(r.status, 200, "%s: callback: %r" % (label, r))
        if confirm:
            self.assertIn(rt.confirmation_code(login.state, code), r.text)
        poll.join(step_limit + 10)
        self.assertIsNotNone(poll.t_done, "%s: the parked poll never came "
                             "back" % label)
        self.assertIsNone(poll.exc, "%s: poll: %r" % (label, poll.exc))
        steps["result"] = poll.t_done - t_cb
        self.assertEqual(poll.resp.status, 200, "%s: %r" % (label, poll.resp))
        self.assertEqual(poll.resp.json(), {"code": code}, label)
        for step, t in steps.items():
            self.assertLess(t, step_limit, "%s: step %s took %.3f s (%r)"
                            % (label, step, t, steps))
        self.figures["%s.latency_ms" % label] = ", ".join(
            "%s %.0f" % (k, v * 1000) for k, v in steps.items())
        return steps


# ---------------------------------------------------------------- slowloris

class Slowloris(AbuseCase):
    """200 connections trickle their headers one byte a second; the
    connection timeout of 2 s closes every one of them (deadline 3 s after
    opening, looked for once a second) while a real login goes through."""

    N = 200
    relay_args = ("--connection-timeout", "2",
                  "--max-connections-per-ip", "300")
    CLOSE_LIMIT = 7.0      # 2 s + 1 s + sweep period + slack

    def test_slowloris(self):
        relay = self.relay
        slow0 = relay.metric("pam_ion_relay_slow_requests_total")
        rss0 = rss_bytes(relay)
        socks, opened, closed_after = [], [], {}
        try:
            for _ in range(self.N):
                s = connect(relay)
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n"
                          b"X-Slow: ")
                socks.append(s)
                opened.append(time.monotonic())
            t_start = opened[0]
            stop = threading.Event()
            answered = []

            def trickle():
                # one byte a second on every connection still open,
                # noticing closes in between; bounded to 15 s
                last_send = 0.0
                while not stop.is_set() and len(closed_after) < self.N:
                    now = time.monotonic()
                    if now - t_start > 15:
                        break
                    if now - last_send >= 1.0:
                        last_send = now
                        for i, s in enumerate(socks):
                            if i in closed_after:
                                continue
                            try:
                                s.send(b"a")
                            except OSError:
                                closed_after[i] = now - opened[i]
                    for i, s in enumerate(socks):
                        if i in closed_after:
                            continue
                        s.setblocking(False)
                        try:
                            data = s.recv(4096)
                        except (BlockingIOError, InterruptedError):
                            continue
                        except OSError:
                            data = b""
                        if data:
                            answered.append(data[:200])
                        closed_after[i] = time.monotonic() - opened[i]
                    time.sleep(0.05)

            th = threading.Thread(target=trickle, daemon=True)
            th.start()
            # while the connections trickle: real logins at normal speed
            time.sleep(0.5)
            self.real_login("during")
            self.assertLess(len(closed_after), self.N,
                            "the attack ended before the real login")
            th.join(20)
            stop.set()
            self.assertFalse(th.is_alive())
        finally:
            for s in socks:
                s.close()
        self.assertEqual(answered, [], "a trickling request was answered")
        self.assertEqual(len(closed_after), self.N,
                         "%d of %d trickling connections still open after "
                         "15 s" % (self.N - len(closed_after), self.N))
        worst = max(closed_after.values())
        first = min(closed_after.values())
        self.figures["close_s"] = "first %.2f, last %.2f" % (first, worst)
        self.assertLess(worst, self.CLOSE_LIMIT, "a trickling connection "
                        "lived %.1f s" % worst)
        self.assertGreater(first, 1.5, "closed before the timeout")
        slow = relay.wait_metric("pam_ion_relay_slow_requests_total",
                                 slow0 + self.N, 3)
        self.assertEqual(slow - slow0, self.N,
                         "slow_requests_total counted %d of %d"
                         % (slow - slow0, self.N))
        self.real_login("after")
        rss1 = settle_rss(relay)
        self.figures["rss_delta_kib"] = (rss1 - rss0) // 1024
        # 200 connections of 12 KiB pools each: 2.4 MiB, and the allocator
        self.assertRssGrowth(rss1 - rss0, 8 * MIB, "200 slow connections")


# ---------------------------------------------------------------- parked polls

class ParkedPollDisconnects(AbuseCase):
    """1,000 parked polls whose clients go away, half with a FIN and half
    with a RST: the relay notices each one, frees its slot, keeps the
    results, and a still-connected real poll gets its result."""

    N = 1000
    relay_args = ("--max-connections", "4000",
                  "--max-connections-per-ip", "3000")
    # each parked poll holds a 12 KiB connection pool, its request state
    # and a slot: 1,000 of them about 13 MiB at most
    PEAK_LIMIT = 16 * MIB
    TWO_ROUNDS_LIMIT = 16 * MIB

    def register_many(self, n, clients=4):
        logins = [None] * n
        errors = []

        def work(k):
            c = KeepAlive(self.relay)
            try:
                for i in range(k, n, clients):
                    secret, state = rt.new_secret()
                    body = json.dumps({
                        "state": state,
                        "authorize_url": rt.authorize_url(state),
                        "context": rt.default_context()})
                    st, _, data = c.request(
                        "POST", "/v1/logins",
                        (("Content-Type", "application/json"),
                         ("Authorization", "Bearer " + secret),
                         (rt.KEY_HEADER, rt.CLIENT_A.key)), body)
                    if st != 201:
                        errors.append((st, data[:200]))
                        return
                    logins[i] = (secret, state)
            finally:
                c.close()

        ths = [threading.Thread(target=work, args=(k,), daemon=True)
               for k in range(clients)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertNotIn(None, logins)
        for secret, _ in logins:
            self.secret(secret)
        return logins

    def park(self, logins):
        socks = []
        for secret, _ in logins:
            s = connect(self.relay)
            s.sendall(("GET /v1/logins/result?wait=25 HTTP/1.1\r\n"
                       "Host: relay\r\nAuthorization: Bearer %s\r\n%s\r\n"
                       % (secret, rt.KEY_LINE)).encode())
            socks.append(s)
        return socks

    def test_disconnected_polls(self):
        relay = self.relay
        t_start = time.monotonic()
        logins = self.register_many(self.N)
        self.figures["register_s"] = "%.2f" % (time.monotonic() - t_start)
        m0 = relay.metrics()
        disc0 = m0.value("pam_ion_relay_polls_disconnected_total")
        self.assertEqual(m0.value("pam_ion_relay_parked_polls"), 0)
        rss0 = settle_rss(relay)

        socks = self.park(logins)
        try:
            got = rt.wait_parked(relay, self.N, 10)
            self.assertEqual(got, self.N, "parked polls")
            rss_peak = rss_bytes(relay)
            # a real login with its poll parked among them stays connected
            r, real = relay.register()
            self.assertEqual(r.status, 201, r)
            self.secret(real.secret)
            poll = TimedPoll(relay, real.secret, 25)
            poll.start()
            self.assertEqual(rt.wait_parked(relay, self.N + 1, 5), self.N + 1)
            # everyone else goes away at once; for the RST half, a callback
            # right behind the close must not be lost either
            t_gone = time.monotonic()
            for i, s in enumerate(socks):
                if i % 2:
                    close_abruptly(s)
                else:
                    s.close()
            raced = []
            for i in range(1, 40, 2):
                code = self.secret("RaCeCoDe-%d-%s" % (i, os.urandom(6).hex()))
                r = relay.callback([("state", logins[i][1]), ("code", code)])
                self.assertEqual(r.status, 200, r)
                raced.append((logins[i][0], code))
        finally:
            for s in socks:
                s.close()
        left = rt.wait_parked(relay, 1, 5)
        t_noticed = time.monotonic() - t_gone
        self.figures["gauge_back_s"] = "%.2f" % t_noticed
        self.assertEqual(left, 1, "parked polls still counted")
        self.assertLess(t_noticed, 2.5, "the relay took %.1f s to notice "
                        "that %d clients went away" % (t_noticed, self.N))
        disc = relay.metric("pam_ion_relay_polls_disconnected_total")
        self.figures["disconnected_counted"] = int(disc - disc0)
        with self.subTest("polls_disconnected_total counts them"):
            # a raced poll may have been woken by its callback before its
            # close was seen: then it ended as a failed delivery, not here
            self.assertLessEqual(disc - disc0, self.N)
            self.assertGreaterEqual(disc - disc0, self.N - len(raced),
                                    "polls_disconnected_total counted %d "
                                    "of %d clients that went away"
                                    % (disc - disc0, self.N))
        # the still-connected real poll gets its result at once
        code = self.secret("ReAlCoDe-" + os.urandom(8).hex())
        self.assertIsNone(poll.t_done, "the real poll ended early: %r %r"
                          % (poll.resp, poll.exc))
        t_cb = time.monotonic()
        self.assertEqual(real.callback_code(code).status, 200)
        poll.join(10)
        self.assertIsNone(poll.exc)
        self.assertEqual(poll.resp.status, 200, poll.resp)
        self.assertEqual(poll.resp.json(), {"code": code})
        self.assertLess(poll.t_done - t_cb, STEP_LIMIT)
        self.figures["real_result_ms"] = "%.0f" % (
            (poll.t_done - t_cb) * 1000)
        self.figures["raced_kept_by_failed_delivery"] = sum(
            1 for line in relay.log_lines()
            if "did not reach the module" in line)
        # no result was lost with the polls that went away
        for secret, code in raced:
            r = relay.poll(secret, 0)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json(), {"code": code})
        for secret, _ in logins[100:110]:
            self.assertEqual(relay.poll(secret, 0).status, 202)
        self.real_login("after")
        rss1 = settle_rss(relay, 1.0)

        # a second round on the same logins: the memory of the first is
        # used again, nothing piles up
        again = [l for i, l in enumerate(logins) if i >= 40]
        socks = self.park(again)
        try:
            self.assertEqual(rt.wait_parked(relay, len(again), 10),
                             len(again))
            for i, s in enumerate(socks):
                if i % 2:
                    close_abruptly(s)
                else:
                    s.close()
        finally:
            for s in socks:
                s.close()
        self.assertEqual(rt.wait_parked(relay, 0, 5), 0)
        rss2 = settle_rss(relay, 1.0)
        self.figures["rss_kib"] = (
            "base %d, 1000 parked %d (+%d), after %d (+%d), after a second "
            "round %d (+%d)" % (rss0 // 1024, rss_peak // 1024,
                                (rss_peak - rss0) // 1024, rss1 // 1024,
                                (rss1 - rss0) // 1024, rss2 // 1024,
                                (rss2 - rss0) // 1024))
        self.assertRssGrowth(rss_peak - rss0, self.PEAK_LIMIT,
                             "1,000 parked polls")
        # glibc keeps the freed connection pools rather than giving them
        # back, so RSS stays near the peak instead of going back to the
        # baseline; the next round reuses most of them (the rest is spread
        # over the worker threads' arenas).  Had each poll left its 12 KiB
        # pool behind, two rounds would add 23 MiB.
        self.assertRssGrowth(rss1 - rss_peak, 1 * MIB,
                             "the polls going away")
        self.assertRssGrowth(rss2 - rss0, self.TWO_ROUNDS_LIMIT,
                             "two rounds of 1,000 parked polls")
        m = relay.metrics()
        self.assertEqual(m.value("pam_ion_relay_pending_logins"),
                         self.N - len(raced))


# ---------------------------------------------------------------- full

class RegistrationFlood(AbuseCase):
    """Fill --max-pending 200; further registrations get 503 with
    Retry-After and count as full; the login already held still
    completes; after the TTL the slots are free and a real login works;
    a second fill reuses the memory of the first."""

    MAX = 200
    EXTRA = 50
    relay_args = ("--max-pending", str(MAX), "--ttl", "10")
    # 200 logins hold at most 8 KiB of authorize URL and context each,
    # plus table entries: under 2 MiB; 8 MiB leaves room for the allocator.
    FILL_LIMIT = 8 * MIB

    def fill(self, client, n):
        made = []
        for _ in range(n):
            secret, state = rt.new_secret()
            self.secret(secret)
            body = json.dumps({"state": state,
                               "authorize_url": rt.authorize_url(state),
                               "context": rt.default_context()})
            st, hdrs, data = client.request(
                "POST", "/v1/logins",
                (("Content-Type", "application/json"),
                 ("Authorization", "Bearer " + secret),
                 (rt.KEY_HEADER, rt.CLIENT_A.key)), body)
            made.append((st, hdrs, data, secret, state))
        return made

    def test_flood(self):
        relay = self.relay
        rej0 = self.rejections()
        exp0 = relay.metric("pam_ion_relay_expirations_total")
        rss0 = settle_rss(relay)
        # the first slot: a real login, registered before the flood
        r, held = relay.register()
        self.assertEqual(r.status, 201, r)
        self.secret(held.secret)
        c = KeepAlive(relay)
        try:
            t0 = time.monotonic()
            made = self.fill(c, self.MAX - 1)
            self.assertEqual([m[0] for m in made], [201] * (self.MAX - 1))
            refused = self.fill(c, self.EXTRA)
            self.figures["fill_s"] = "%.2f" % (time.monotonic() - t0)
        finally:
            c.close()
        for st, hdrs, data, _, _ in refused:
            self.assertEqual(st, 503, data)
            self.assertEqual(hdrs.get("retry-after"), "5")
            self.assertEqual(json.loads(data)["error"], "full")
        self.assertEqual(relay.metric("pam_ion_relay_pending_logins"),
                         self.MAX)
        rej = self.rejections()
        self.assertEqual(rej["full"] - rej0["full"], self.EXTRA)
        rss_full = rss_bytes(relay)
        self.figures["rss_fill_kib"] = (rss_full - rss0) // 1024
        self.assertRssGrowth(rss_full - rss0, self.FILL_LIMIT,
                             "%d pending logins" % self.MAX)
        # a real login cannot start now ...
        r, no = relay.register()
        self.secret(no.secret)
        self.assertJsonError(r, 503, "full")
        # ... but the one already held completes, at normal speed
        poll = TimedPoll(relay, held.secret, 25)
        poll.start()
        time.sleep(0.3)
        code = self.secret("HeLdCoDe-" + os.urandom(8).hex())
        t_cb = time.monotonic()
        self.assertEqual(held.callback_code(code).status, 200)
        poll.join(10)
        self.assertEqual(poll.resp.status, 200, poll.resp)
        self.assertEqual(poll.resp.json(), {"code": code})
        self.assertLess(poll.t_done - t_cb, STEP_LIMIT)
        # its slot is free once the result went out
        self.assertEqual(relay.wait_metric("pam_ion_relay_pending_logins",
                                           self.MAX - 1, 3), self.MAX - 1)
        r, extra = relay.register()
        self.assertEqual(r.status, 201, r)
        self.secret(extra.secret)
        r, no = relay.register()
        self.secret(no.secret)
        self.assertJsonError(r, 503, "full")
        self.assertEqual(self.rejections()["full"] - rej0["full"],
                         self.EXTRA + 2)

        # after the TTL (10 s from each registration) every slot is free
        left = relay.wait_metric("pam_ion_relay_pending_logins", 0, 14)
        self.assertEqual(left, 0, "logins still pending after the TTL")
        # Redis forgets them itself; a relay counts them within a second
        self.assertEqual(relay.wait_metric("pam_ion_relay_expirations_total",
                                           exp0 + self.MAX, 3) - exp0,
                         self.MAX)
        self.real_login("after_ttl")
        rss_after = rss_bytes(relay)

        # a second flood finds the memory of the first
        c = KeepAlive(relay)
        try:
            made = self.fill(c, self.MAX)
            self.assertEqual([m[0] for m in made], [201] * self.MAX)
            refused = self.fill(c, 5)
            self.assertEqual([m[0] for m in refused], [503] * 5)
        finally:
            c.close()
        rss_again = rss_bytes(relay)
        self.figures["rss_kib"] = ("base %d, full %d, expired %d, full again"
                                   " %d" % (rss0 // 1024, rss_full // 1024,
                                            rss_after // 1024,
                                            rss_again // 1024))
        self.assertRssGrowth(rss_again - rss_full, 2 * MIB,
                             "a second fill after the first expired")


if __name__ == "__main__":
    unittest.main()
