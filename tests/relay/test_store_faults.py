"""The relay on Redis when Redis fails: down at start, killed and
restarted mid-poll and mid-registration, slow, full, or refusing the
relay's password; and a relay instance killed with polls parked on it.

Each test starts its own redis-server (tests/stand/redis.py) and the real
pam-ion-relay with `--store redis://... --store-prefix P`, whatever
RELAY_STORE says.  The contract asserted: the relay never exits, hangs or
crashes for Redis; while Redis is away it answers 503 store_unavailable
(registration, poll, with Retry-After) or the 503 page (landing page,
callback), /healthz says 503 "store unavailable: <reason>", parked polls
are answered at once; once Redis is back it reconnects by itself and a
whole sign-in works again, with no wake lost.  Every relay that was not
SIGKILLed by the test must exit 0 on SIGTERM at the end, and no relay or
redis-server is left running.

Timed assertions are generous bounds that tell "answered" from "hung".
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import relaytest as rt
from stand.files import write_private
from stand.redis import RELAY_COMMANDS, RedisServer, redis_missing

P = "pam_ion_relay_"
UP = P + "store_up"
ERRORS = P + "store_errors_total"
RECONNECTS = P + "store_reconnects_total"
PARKED = P + "parked_polls"
WAKE_BOUND = 1.0        # a wake, not a timeout
PROMPT = 3.0            # a parked poll answered when Redis goes: at once
BACK = 8.0              # reconnected after Redis is back (backoff <= 2 s)
UNAVAILABLE = "store_unavailable"
LINK_LEN = 11           # ION_RELAY_LINK_ID_LEN


def setUpModule():
    why = redis_missing()
    if why is not None:
        raise unittest.SkipTest(why)


def tearDownModule():
    left = children()
    for pid, name in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if left:
        raise AssertionError("processes left behind: %r" % left)


def children():
    """(pid, name) of this process's children still alive."""
    me, found = os.getpid(), []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == me and fields[0] != "Z":
            found.append((int(pid), name))
    return found


def figure(name, seconds):
    print("  %s: %.1f ms" % (name, seconds * 1000), file=sys.stderr)


class Faults(rt.RelayTestCase):
    """Each test starts its own Redis and relays."""

    @classmethod
    def setUpClass(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        pass

    # -------------------------------------------------------------- stand

    def redis(self, **kw):
        redis = RedisServer(**kw)
        self.addCleanup(redis.remove)
        self.addCleanup(redis.stop)
        return redis

    def relays(self, redis, n=1, args=(), url=None, password_file=None,
               prefix=None):
        """n relays on redis under a fresh prefix (or prefix); each must
        exit 0 on SIGTERM at the end unless the test SIGKILLed it
        (kill())."""
        prefix = prefix or "f%s:" % rt.b64url(os.urandom(6)).replace(
            "-", "x").replace("_", "y")
        argv = ["--store", url or redis.url, "--store-prefix", prefix]
        if password_file is not None:
            argv += ["--store-password-file", password_file]
        out = []
        for _ in range(n):
            relay = rt.Relay(argv + list(args))
            relay.killed = False
            self.addCleanup(self.stop_relay, relay)
            out.append(relay)
        return out

    def stop_relay(self, relay):
        if relay.killed:
            return
        early = relay.proc.poll()
        rc = relay.stop()
        self.assertIsNone(early, "the relay exited by itself (rc=%r): %s"
                          % (early, relay.log_text()[-3000:]))
        self.assertEqual(rc, 0, "relay did not exit 0 on SIGTERM (rc=%r); "
                         "stderr:\n%s" % (rc, relay.log_text()[-3000:]))

    def stop_now(self, relay):
        """SIGTERM now: exit status 0 whatever the store is doing."""
        self.stop_relay(relay)
        relay.killed = True     # done with: nothing left for the cleanup

    def kill(self, relay):
        relay.killed = True
        relay.kill()
        relay.stop()            # reaped already: closes its pipes

    # -------------------------------------------------------------- checks

    def health(self, relay, status, timeout):
        """Waits until /healthz answers status; returns the last answer."""
        deadline = time.monotonic() + timeout
        while True:
            r = relay.get("/healthz", timeout=5)
            if r.status == status or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(r.status, status, "/healthz within %.0f s: %r"
                         % (timeout, r))
        return r

    def assertDown(self, r, what):
        """/healthz while the store is away: 503 and the reason."""
        self.assertEqual(r.status, 503, "%s: %r" % (what, r))
        self.assertTrue(r.text.startswith("store unavailable: "),
                        "%s: /healthz body %r" % (what, r.text))
        self.assertGreater(len(r.text.strip()), len("store unavailable:"),
                           "%s: no reason given" % what)

    def assertUnavailable(self, r, retry_after=None):
        self.assertJsonError(r, 503, UNAVAILABLE)
        ra = r.header("Retry-After")
        self.assertIsNotNone(ra, r)
        if retry_after is not None:
            self.assertEqual(ra, retry_after, r)
        self.assertSecurityHeaders(r)

    def assertPage503(self, r):
        page = self.assertHtml(r, 503)
        text = rt.norm_text(page.text)
        self.assertTrue("try again" in text or "reload" in text, page.text)
        self.assertSecurityHeaders(r)

    def assertStoreRefuses(self, relay):
        """Registration, poll, landing page and callback while the store
        is away."""
        r, _ = relay.register()
        self.assertUnavailable(r)
        secret, state = rt.new_secret()
        for wait in (0, 5):
            r = relay.poll(secret, wait, timeout=10)
            self.assertUnavailable(r, "1")
            self.assertLess(r.elapsed, PROMPT, "a poll parked with no "
                            "store")
        self.assertPage503(relay.get("/l/" + "A" * LINK_LEN))
        self.assertPage503(relay.callback([("state", state),
                                           ("code", "no-store")]))

    def sign_in(self, reg, poll, cb, what):
        """A whole sign-in: registered on reg, the poll parked on poll
        before the callback on cb; poll is woken with the code."""
        login = reg.new_login()
        self.assertEqual(poll.get(login.path).status, 200)
        p = rt.Poller(poll, login.secret, 25)
        p.start()
        self.assertEqual(rt.wait_parked(poll, 1), 1, what + ": not parked")
        code = "ok-" + login.id
        t0 = time.monotonic()
        cb_resp = cb.callback([("state", login.state), ("code", code)])
        self.assertEqual(cb_resp.status, 200, "%s: %r" % (what, cb_resp))
        p.join(5)
        self.assertFalse(p.is_alive(), what + ": the parked poll was not "
                         "woken (a wake lost?)")
        self.assertIsNone(p.exc, what)
        self.assertEqual(p.resp.status, 200, "%s: %r" % (what, p.resp))
        self.assertEqual(p.resp.json(), {"code": code}, what)
        woke = p.t_done - t0
        figure(what + ": wake", woke)
        self.assertLess(woke, WAKE_BOUND, what + ": woken late")

    # -------------------------------------------------------------- down

    def test_redis_down_at_start(self):
        """The relay starts without Redis, says so, refuses what needs
        the store, and connects by itself once Redis is there."""
        redis = self.redis(start=False)
        relay, other = self.relays(redis, 2)
        self.assertDown(relay.get("/healthz"), "Redis never started")
        m = relay.metrics()
        self.assertEqual(m.value(UP), 0, m.text)
        self.assertIsNotNone(m.value(ERRORS), m.text)
        self.assertIsNotNone(m.value(RECONNECTS), m.text)
        u0 = m.value(P + "rejections_total", reason=UNAVAILABLE) or 0
        self.assertStoreRefuses(relay)
        self.assertGreaterEqual(
            relay.metric(P + "rejections_total", reason=UNAVAILABLE),
            u0 + 5, "store_unavailable not counted")
        self.assertTrue(any("store" in l.lower() for l in relay.log_lines()),
                        "nothing logged about the store: "
                        + relay.log_text())
        self.stop_now(other)
        t0 = time.monotonic()
        redis.start()
        self.health(relay, 200, BACK)
        figure("healthz 200 after Redis started", time.monotonic() - t0)
        self.assertEqual(relay.metric(UP), 1)
        self.sign_in(relay, relay, relay, "Redis started late")

    # -------------------------------------------------------------- killed

    def test_redis_killed_mid_poll(self):
        """Redis SIGKILLed with polls parked on two instances: each is
        answered 503 at once, registration is refused; Redis restarted on
        the same port: both reconnect and a poll parked right after that
        is woken by a callback on the other instance."""
        redis = self.redis()
        A, B = self.relays(redis, 2)
        polls = []
        for reg, park in ((A, B), (B, A)):
            login = reg.new_login()
            p = rt.Poller(park, login.secret, 25)
            p.start()
            polls.append(p)
        for relay in (A, B):
            self.assertEqual(rt.wait_parked(relay, 1), 1)
        e0 = [r.metric(ERRORS) for r in (A, B)]
        c0 = [r.metric(RECONNECTS) for r in (A, B)]
        self.assertEqual([r.metric(UP) for r in (A, B)], [1, 1])
        t_kill = time.monotonic()
        redis.kill()
        for p in polls:
            p.join(PROMPT + 2)
            self.assertFalse(p.is_alive(), "a parked poll still waits "
                             "after Redis died")
            self.assertIsNone(p.exc)
            self.assertUnavailable(p.resp, "1")
            figure("parked poll answered after the kill",
                   p.t_done - t_kill)
            self.assertLess(p.t_done - t_kill, PROMPT)
        for relay in (A, B):
            self.assertEqual(relay.metric(PARKED), 0)
            self.assertDown(self.health(relay, 503, PROMPT), "Redis killed")
            self.assertStoreRefuses(relay)
            self.assertEqual(relay.metric(UP), 0)
        for relay, e in zip((A, B), e0):
            self.assertGreater(relay.metric(ERRORS), e,
                               "store_errors_total after a kill")
        redis.start()
        for relay in (A, B):
            self.health(relay, 200, BACK)
        for relay, c in zip((A, B), c0):
            self.assertEqual(relay.metric(UP), 1)
            self.assertGreater(relay.metric(RECONNECTS), c,
                               "store_reconnects_total after a restart")
        # parked at once after the recovery: the wake must not be lost
        self.sign_in(A, B, A, "after the restart, parked on B")
        self.sign_in(B, A, B, "after the restart, parked on A")

    def test_wake_connection_killed(self):
        """Redis drops only the relays' pub/sub connections (CLIENT KILL
        TYPE pubsub) with a poll parked on B (or sent just after), and a
        callback on A comes at once: B's poll gets the code, or is
        answered at once (503, or 202) and the next poll gets it; it never
        waits out its wait for a wake that was lost while B subscribed
        again."""
        redis = self.redis()
        A, B = self.relays(redis, 2)
        for rnd in range(6):
            login = A.new_login()
            p = rt.Poller(B, login.secret, 20)
            if rnd < 3:
                p.start()
                self.assertEqual(rt.wait_parked(B, 1), 1)
            killed = redis.cli("CLIENT", "KILL", "TYPE", "pubsub")
            if rnd >= 3:
                p.start()
            code = "lost-%d-%s" % (rnd, login.id)
            t0 = time.monotonic()
            cb = A.callback([("state", login.state), ("code", code)])
            self.assertIn(cb.status, (200, 503), cb)
            if cb.status == 503:
                self.health(A, 200, BACK)
                cb = A.callback([("state", login.state), ("code", code)])
                self.assertEqual(cb.status, 200, cb)
            p.join(PROMPT + 3)
            self.assertFalse(p.is_alive(), "round %d (%s pub/sub "
                             "connections killed): the poll on B still "
                             "waits: the wake was lost" % (rnd, killed))
            self.assertIsNone(p.exc)
            r = p.resp
            print("  round %d: %s pub/sub connections killed, the "
                  "callback on A %d, the poll on B %d after %.1f ms"
                  % (rnd, killed, cb.status, r.status,
                     (p.t_done - t0) * 1000), file=sys.stderr)
            # woken by the loss: 503 while B is without its subscription,
            # or 202 when B was back before its look and the result not yet
            # stored; either way its next poll gets the code
            if r.status in (202, 503):
                if r.status == 503:
                    self.assertUnavailable(r, "1")
                self.health(B, 200, BACK)
                r = B.poll(login.secret, 5)
            self.assertEqual(r.status, 200, "round %d: %r" % (rnd, r))
            self.assertEqual(r.json(), {"code": code})
        self.health(B, 200, BACK)
        self.sign_in(A, B, A, "after the pub/sub kills")

    def test_redis_killed_mid_registration(self):
        """A burst of registrations on two instances while Redis is
        killed: each is answered 201 or 503 store_unavailable, none
        hangs; after a restart, a sign-in works."""
        redis = self.redis()
        A, B = self.relays(redis, 2)
        stop = threading.Event()
        answers, errors = [], []
        lock = threading.Lock()

        def burst(relay):
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    r, _ = relay.register()
                except Exception as e:  # noqa: BLE001 - a timeout: a hang
                    with lock:
                        errors.append(repr(e))
                    continue
                with lock:
                    answers.append((t0, r))

        threads = [threading.Thread(target=burst, args=(relay,), daemon=True)
                   for relay in (A, B, A, B)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        redis.kill()
        t_kill = time.monotonic()
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(40)
        self.assertFalse(any(t.is_alive() for t in threads),
                         "a registration hung")
        self.assertEqual(errors, [], "registrations without an answer")
        statuses = {}
        for _, r in answers:
            statuses[r.status] = statuses.get(r.status, 0) + 1
            if r.status != 201:
                self.assertUnavailable(r)
        print("  answers: %r" % statuses, file=sys.stderr)
        self.assertTrue(set(statuses) <= {201, 503}, statuses)
        self.assertIn(201, statuses, "nothing registered before the kill")
        self.assertIn(503, statuses, "nothing refused after the kill")
        # sent when Redis was dead already: nothing can have stored them
        late = [r for t, r in answers if t > t_kill]
        self.assertTrue(late, "no registration sent after the kill")
        self.assertEqual([r for r in late if r.status != 503], [],
                         "registered with Redis dead")
        for relay in (A, B):
            self.assertIsNone(relay.proc.poll(), relay.log_text()[-2000:])
        redis.start()
        for relay in (A, B):
            self.health(relay, 200, BACK)
        self.sign_in(B, A, B, "after the restart")

    # -------------------------------------------------------------- slow

    def test_redis_slow(self):
        """DEBUG SLEEP 3 while requests come, one after another on each
        instance: each is answered 2xx or 503 within about 2 s (a command
        gets 1 s), nothing hangs or crashes; a poll parked meanwhile ends;
        afterwards the login from before and a new sign-in work."""
        redis = self.redis()
        A, B = self.relays(redis, 2)
        known = A.new_login()
        parked = rt.Poller(B, known.secret, 6, timeout=20)
        parked.start()
        self.assertEqual(rt.wait_parked(B, 1), 1)
        sleeper = redis.debug_sleep(3)
        time.sleep(0.2)
        got, errors = [], []
        lock = threading.Lock()

        def ask(name, relay):
            jobs = [
                ("register", relay.register),
                ("poll", lambda: relay.poll(known.secret, 0, timeout=10)),
                ("landing page", lambda: relay.get(known.path, timeout=10)),
                ("healthz", lambda: relay.get("/healthz", timeout=10)),
            ]
            i = 0
            while sleeper.is_alive():
                what, fn = jobs[i % len(jobs)]
                what += " on " + name
                i += 1
                try:
                    r = fn()
                except Exception as e:  # noqa: BLE001 - reported below
                    with lock:
                        errors.append("%s: %r" % (what, e))
                    continue
                if isinstance(r, tuple):
                    r = r[0]
                with lock:
                    got.append((what, r))

        threads = [threading.Thread(target=ask, args=job, daemon=True)
                   for job in (("A", A), ("B", B))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        self.assertEqual(errors, [], "requests without an answer")
        self.assertTrue(any(r.status == 503 for _, r in got),
                        "no request failed: was Redis asleep? %r" % got)
        for what, r in got:
            figure("%s during DEBUG SLEEP: %d" % (what, r.status),
                   r.elapsed)
            self.assertTrue(200 <= r.status < 300 or r.status == 503,
                            "%s: %r" % (what, r))
            self.assertLess(r.elapsed, 2.5, "%s took %.1f s" % (what,
                                                               r.elapsed))
        sleeper.join(10)
        parked.join(10)
        self.assertFalse(parked.is_alive(), "the parked poll hung")
        self.assertIsNone(parked.exc)
        self.assertIn(parked.resp.status, (202, 503), parked.resp)
        for relay in (A, B):
            self.assertIsNone(relay.proc.poll(), relay.log_text()[-2000:])
            self.health(relay, 200, BACK)
        # the login from before is still there (a 503 is not a loss)
        r = B.callback([("state", known.state), ("code", "slow")])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(A.poll(known.secret, 0).json(), {"code": "slow"})
        self.sign_in(A, B, A, "after DEBUG SLEEP")

    # -------------------------------------------------------------- instance

    def test_instance_killed_with_polls_parked(self):
        """A SIGKILLed with two polls parked on it: the same polls sent to
        B get their results, the callback after the poll or before it."""
        redis = self.redis()
        A, B = self.relays(redis, 2)
        one, two = A.new_login(), A.new_login()
        ps = [rt.Poller(A, l.secret, 25) for l in (one, two)]
        for p in ps:
            p.start()
        self.assertEqual(rt.wait_parked(A, 2), 2)
        self.kill(A)
        for p in ps:
            p.join(5)
            self.assertFalse(p.is_alive())
            self.assertIsNotNone(p.exc, "an answer from a SIGKILLed relay? "
                                 "%r" % p.resp)
        # one: the poll again on B, parked, then the callback on B
        p = rt.Poller(B, one.secret, 25)
        p.start()
        self.assertEqual(rt.wait_parked(B, 1), 1)
        t0 = time.monotonic()
        self.assertEqual(B.callback([("state", one.state),
                                     ("code", "one")]).status, 200)
        p.join(5)
        self.assertFalse(p.is_alive(), "the poll on B was not woken")
        self.assertEqual(p.resp.status, 200, p.resp)
        self.assertEqual(p.resp.json(), {"code": "one"})
        self.assertLess(p.t_done - t0, WAKE_BOUND)
        # two: the callback first, then the poll on B
        self.assertEqual(B.get(two.path).status, 200)
        self.assertEqual(B.callback([("state", two.state),
                                     ("code", "two")]).status, 200)
        r = B.poll(two.secret, 25)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"code": "two"})
        self.assertLess(r.elapsed, WAKE_BOUND)
        # forgotten once B's answer went out whole, a moment after
        self.assertEqual(B.wait_metric(P + "pending_logins", 0, 3), 0)

    # -------------------------------------------------------------- lease

    def test_lease_of_a_dead_instance(self):
        """A result whose delivery an instance began and never finished
        (its lease P d:<state> left in Redis, as a relay SIGKILLed
        mid-answer leaves it) is handed out by another instance once the
        lease is over, and not before."""
        redis = self.redis()
        prefix = "lease:"
        A, B = self.relays(redis, 2, prefix=prefix)
        login = A.new_login()
        self.assertEqual(login.callback_code("leased").status, 200)
        lease_ms = 1500
        self.assertEqual(redis.cli("SET", prefix + "d:" + login.state,
                                   "0" * 32, "PX", str(lease_ms)), "OK")
        t0 = time.monotonic()
        r = B.poll(login.secret, 0)
        self.assertEqual(r.status, 202, "handed out under another's lease: "
                         "%r" % r)
        r = B.poll(login.secret, 10)
        t = time.monotonic() - t0
        figure("answered after the lease was set", t)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"code": "leased"})
        self.assertGreater(t, lease_ms / 1000 - 0.2,
                           "handed out before the lease ran out")
        self.assertLess(t, lease_ms / 1000 + WAKE_BOUND,
                        "not handed out when the lease ran out")
        wait_gone = time.monotonic() + 3
        while A.poll(login.secret, 0).status != 404:
            self.assertLess(time.monotonic(), wait_gone, "never forgotten")
            time.sleep(0.05)
        # left in Redis: the used code's hash and the longest TTL,
        # nothing of the login
        left = redis.keys(prefix + "*")
        self.assertEqual(sorted(k[:len(prefix) + 2] for k in left),
                         [prefix + "tt", prefix + "u:"], left)

    # -------------------------------------------------------------- auth

    def password_file(self, text):
        d = tempfile.mkdtemp(prefix="relay-storepw-")
        self.addCleanup(shutil.rmtree, d, True)
        return write_private(os.path.join(d, "pw"), text + "\n", 0o600)

    def test_wrong_credentials(self):
        """No password, a wrong password, an unknown ACL user: the relay
        runs, /healthz 503 with Redis's reason, the log says why once (not
        a line per retry) and never the password; the right ones work."""
        pw_redis = self.redis(password="right-" + rt.b64url(os.urandom(9)))
        acl_pw = "acl-" + rt.b64url(os.urandom(9))
        # RELAY_COMMANDS lacks ZCOUNT, which the store's scripts run
        acl_redis = self.redis(acl_user=("relay", acl_pw),
                               acl_commands=RELAY_COMMANDS + ("zcount",))
        wrong = "wrong-" + rt.b64url(os.urandom(9))
        cases = [
            ("no password", "NOAUTH", pw_redis, None, None),
            ("wrong password", "WRONGPASS", pw_redis, None,
             self.password_file(wrong)),
            ("unknown ACL user", "WRONGPASS", acl_redis,
             "redis://intruder@127.0.0.1:%d/0" % acl_redis.port,
             acl_redis.password_file),
            ("ACL user, wrong password", "WRONGPASS", acl_redis, None,
             self.password_file(wrong)),
        ]
        started = []
        for what, reason, redis, url, pwfile in cases:
            relay, = self.relays(redis, url=url, password_file=pwfile)
            started.append((what, reason, relay))
        # the ACL user may touch only the keys under pam_ion:
        good = [self.relays(pw_redis, password_file=pw_redis.password_file)
                [0],
                self.relays(acl_redis, password_file=acl_redis.password_file,
                            prefix="pam_ion:")[0]]
        time.sleep(3.0)
        for what, reason, relay in started:
            with self.subTest(case=what):
                r = relay.get("/healthz")
                self.assertDown(r, what)
                self.assertIn(reason, r.text, what)
                lines = [l for l in relay.log_lines() if reason in l]
                self.assertEqual(len(lines), 1, "%s: %d lines with %s in "
                                 "3 s:\n%s" % (what, len(lines), reason,
                                               relay.log_text()))
                for secret in (wrong, acl_pw, pw_redis.password):
                    self.assertNotIn(secret, relay.log_text())
                    self.assertNotIn(secret, r.text)
                r, _ = relay.register()
                self.assertUnavailable(r)
                self.assertEqual(relay.metric(UP), 0)
                self.assertIsNone(relay.proc.poll())
        for relay in good:
            self.health(relay, 200, 1)
            for secret in (acl_pw, pw_redis.password):
                self.assertNotIn(secret, relay.log_text())
            self.sign_in(relay, relay, relay, "the right credentials")

    # -------------------------------------------------------------- full

    def quiet_redis(self):
        """A Redis whose memory is all keys: Redis 7 gives each command it
        first sees a latency histogram of some 24 KiB, which would fill
        1 MB by itself."""
        redis = self.redis()
        redis.config_set("latency-tracking", "no")
        return redis

    def fill(self, redis):
        """Fills Redis with junk keys under another prefix and sets
        maxmemory (1 MB, or 64 KiB above what it holds) below what it then
        uses; returns the junk keys."""
        used = int(dict(l.split(":", 1) for l in redis.cli(
            "INFO", "memory").splitlines() if ":" in l)["used_memory"])
        limit = max(1 << 20, used + (64 << 10))
        # Filled to some 300 KB over the limit first, then the limit:
        # filled up to it, Redis would be back under it as soon as the
        # filling client's buffers are freed, and take the next login.
        junk = ["junk:%d" % i for i in range(400)]
        value = "x" * 1024
        pipe = "".join("*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
                       % (len(k), k, len(value), value) for k in junk)
        out = subprocess.run(redis.cli_argv() + ["--pipe"], input=pipe,
                             capture_output=True, text=True, timeout=30)
        self.assertIn("errors: 0,", out.stdout, out.stdout + out.stderr)
        redis.config_set("maxmemory", str(limit))
        self.assertEqual(redis.cli("CONFIG", "GET", "maxmemory-policy")
                         .splitlines()[-1], "noeviction")
        self.assertIn("OOM", redis.cli("SET", "junk:probe", "x"),
                      "Redis is not full")
        return junk

    def test_full_redis(self):
        """Redis at maxmemory (noeviction), filled by someone else's keys:
        a registration is refused 503 full, never 201, and so is a
        callback (the 503 page); what only reads or frees still works (a
        landing page, a result stored before handed out); the junk gone,
        the relay registers again and the login from before completes."""
        redis = self.quiet_redis()
        A, B = self.relays(redis, 2)
        before = A.new_login()
        done = A.new_login()
        self.assertEqual(done.callback_code("stored-before").status, 200)
        junk = self.fill(redis)
        for relay in (A, B):
            r, _ = relay.register()
            self.assertJsonError(r, 503, "full")
            self.assertIsNotNone(r.header("Retry-After"), r)
            self.assertIsNone(relay.proc.poll())
        r = B.callback([("state", before.state), ("code", "while-full")])
        self.assertPage503(r)
        self.assertEqual(B.get(before.path).status, 200)
        r = B.poll(done.secret, 0)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"code": "stored-before"})
        for i in range(0, len(junk), 500):
            redis.cli("DEL", *junk[i:i + 500])
        self.assertEqual(redis.keys("junk:*"), [])
        for relay in (A, B):
            r, login = relay.register()
            self.assertEqual(r.status, 201, r)
        r = B.callback([("state", before.state), ("code", "after-full")])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(B.poll(before.secret, 0).json(),
                         {"code": "after-full"})
        self.sign_in(A, B, A, "after the junk went")

    def test_full_redis_logged_as_such(self):
        """What the relay logs when Redis refuses for its memory names
        Redis's memory, not --max-pending or the used-code cap."""
        redis = self.quiet_redis()
        relay, = self.relays(redis)
        login = relay.new_login()
        self.fill(redis)
        r, _ = relay.register()
        self.assertEqual(r.status, 503, r)
        self.assertEqual(login.callback_code("full").status, 503)
        relay.wait_log("refused a callback")   # read by another thread
        lines = [l for l in relay.log_lines() if "refused a" in l]
        self.assertEqual(len(lines), 2, relay.log_text())
        for line in lines:
            self.assertNotIn("--max-pending", line)
            self.assertNotIn("used codes", line)
            self.assertIn("out of memory", line)


if __name__ == "__main__":
    unittest.main()
