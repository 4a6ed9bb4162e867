"""Several relay instances on one Redis store, as one relay.

Every instance here is the real pam-ion-relay started with
`--store redis://... --store-prefix P` on one redis-server the test starts
(tests/stand/redis.py), whatever RELAY_STORE says; each test takes a
prefix of its own, so the store-wide counts (pending logins,
--max-pending) see only its logins.  Each case runs with two instances
(TwoInstances) and with three (ThreeInstances): A, B and C below are
relays[0], [1] and [2] (C is A when there are two).

What is asserted is the contract across instances: a login registered on
one instance is the same login on every other (landing page, callback,
poll), a parked poll on one is woken by a callback on another within
milliseconds (pub/sub), a result is handed out once however many
instances are polled at once, the first callback wins, a code is accepted
for one login only, a parked poll ends at the login's TTL (Expiry, with
the shortest --ttl, 10 s: two and three instances at once), and
--max-pending and pending_logins count the whole store.  UnixSocket: the
same over redis+unix:///PATH?db=N, the keys in that database.

The wake latencies printed are for reading; the only timed assertion is
the generous bound that tells a wake from a timeout (1 s).
"""

import os
import sys
import threading
import time
import unittest

import relaytest as rt
from stand.redis import RedisServer, redis_missing

P = "pam_ion_relay_"
PARKED = P + "parked_polls"
PENDING = P + "pending_logins"
DELIVERED = P + "results_delivered_total"
WAKE_BOUND = 1.0        # a wake, not a timeout: it should take ms
TTL = 10                # the shortest --ttl the relay takes

REDIS = None


def setUpModule():
    global REDIS
    why = redis_missing()
    if why is not None:
        raise unittest.SkipTest(why)
    REDIS = RedisServer()


def tearDownModule():
    if REDIS is not None:
        REDIS.stop()
        REDIS.remove()
    left = children()
    if left:
        raise AssertionError("processes left behind: %r" % left)


def children():
    """(pid, name) of this process's children still alive."""
    me, found = os.getpid(), []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == me and fields[0] != "Z":
            found.append((int(pid), stat[stat.index("(") + 1:
                                         stat.rindex(")")]))
    return found


def figure(name, seconds):
    print("  %s: %.1f ms" % (name, seconds * 1000), file=sys.stderr)


def new_prefix():
    return "t%s:" % rt.b64url(os.urandom(6)).replace("-", "x").replace(
        "_", "y")


def start_relays(test, n, args=(), prefix=None):
    """n relays on REDIS under one fresh prefix (or prefix), each stopped
    with SIGTERM at the test's end, which must end it with status 0."""
    prefix = prefix or new_prefix()
    relays = []
    for _ in range(n):
        relay = rt.Relay(["--store", REDIS.url, "--store-prefix", prefix]
                         + list(args))
        test.addCleanup(stop_relay, test, relay)
        relays.append(relay)
    return relays


def stop_relay(test, relay):
    rc = relay.stop()
    test.assertEqual(rc, 0, "relay did not exit 0 on SIGTERM (rc=%r); "
                     "stderr:\n%s" % (rc, relay.log_text()[-3000:]))


def total(relays, name, **labels):
    return sum(r.metric(name, **labels) or 0 for r in relays)


def wait_gone(test, relays, secret, timeout=3.0):
    """Polls secret on every relay until each says 404: the login was
    forgotten store-wide once its result went out."""
    deadline = time.monotonic() + timeout
    for relay in relays:
        while True:
            r = relay.poll(secret, 0)
            if r.status == 404 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        test.assertJsonError(r, 404, "unknown_login")


class NoClassRelay(rt.RelayTestCase):
    """RelayTestCase's assertions without its relay for the whole class:
    each test starts the instances it needs."""

    @classmethod
    def setUpClass(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        pass


class Cases:
    """The cross-instance cases; N instances (set by the subclass)."""

    N = None

    def setUp(self):
        self.relays = start_relays(self, self.N)
        self.A, self.B = self.relays[0], self.relays[1]
        self.C = self.relays[2] if self.N > 2 else self.relays[0]

    def name(self, relay):
        return "ABC"[self.relays.index(relay)]

    # -------------------------------------------------------------- spread

    def test_spread_over_instances(self):
        """Register on A, landing page on B, poll parked on B, callback on
        C (A with two): B answers with the code within ms."""
        for i in range(3):
            with self.subTest(round=i):
                login = self.A.new_login()
                page = self.assertHtml(self.B.get(login.path), 200)
                self.assertIn("build01.example", page.text)
                self.assertIn(login.url, [a[0] for a in page.anchors])
                p = rt.Poller(self.B, login.secret, 25)
                p.start()
                self.assertEqual(rt.wait_parked(self.B, 1), 1,
                                 "the poll did not park on B")
                code = "spread-%d-%s" % (i, login.id)
                t_cb = time.monotonic()
                cb = self.C.callback([("state", login.state),
                                      ("code", code)])
                page = self.assertHtml(cb, 200)
                self.assertEqual(page.ids.get("code"),
                                 rt.confirmation_code(login.state, code), cb)
                p.join(5)
                self.assertFalse(p.is_alive(), "the poll parked on B was "
                                 "not woken by the callback on %s"
                                 % self.name(self.C))
                self.assertIsNone(p.exc)
                self.assertEqual(p.resp.status, 200, p.resp)
                self.assertEqual(p.resp.json(), {"code": code})
                woke = p.t_done - t_cb
                figure("%d instances: callback on %s to the answer on B"
                       % (self.N, self.name(self.C)), woke)
                self.assertLess(woke, WAKE_BOUND,
                                "B answered %.0f ms after the callback: no "
                                "wake, a timeout?" % (woke * 1000))
                # once: gone on every instance
                wait_gone(self, self.relays, login.secret)
                self.assertEqual(self.A.get(login.path).status, 404)
                self.assertEqual(rt.wait_parked(self.B, 0), 0)

    # -------------------------------------------------------------- once

    def test_exactly_once_under_concurrent_polls(self):
        """Many polls of one login on every instance at once: one 200 with
        the code, every other 202 or 404; 20 logins, in rounds of 5, the
        callback before the polls (wait=0) or while they wait (wait=2)."""
        per = 3                 # polls of one login on each instance
        rounds, width = 4, 5
        d0 = total(self.relays, DELIVERED)
        for rnd in range(rounds):
            parked = rnd % 2 == 1
            logins = [self.relays[(rnd + j) % self.N].new_login()
                      for j in range(width)]
            codes = ["once-%d-%d-%s" % (rnd, j, l.id)
                     for j, l in enumerate(logins)]
            if not parked:
                for j, l in enumerate(logins):
                    cb = self.relays[(j + 1) % self.N].callback(
                        [("state", l.state), ("code", codes[j])])
                    self.assertEqual(cb.status, 200, cb)
            answers = [[] for _ in logins]
            errors = []
            barrier = threading.Barrier(width * self.N * per)

            def poll(relay, j):
                try:
                    barrier.wait(10)
                    r = relay.poll(logins[j].secret, 2 if parked else 0,
                                   timeout=10)
                    answers[j].append((self.name(relay), r))
                except Exception as e:      # noqa: BLE001 - reported below
                    errors.append(repr(e))

            threads = [threading.Thread(target=poll, args=(relay, j),
                                        daemon=True)
                       for j in range(width) for relay in self.relays
                       for _ in range(per)]
            for t in threads:
                t.start()
            if parked:
                time.sleep(0.5)
                for j, l in enumerate(logins):
                    cb = self.relays[(j + 2) % self.N].callback(
                        [("state", l.state), ("code", codes[j])])
                    self.assertEqual(cb.status, 200, cb)
            for t in threads:
                t.join(15)
            self.assertFalse(any(t.is_alive() for t in threads),
                             "a poll hung")
            self.assertEqual(errors, [])
            for j, got in enumerate(answers):
                what = "round %d login %d%s: %r" % (
                    rnd, j, " (parked)" if parked else "",
                    [(n, r.status, r.body[:80]) for n, r in got])
                ok = [r for _, r in got if r.status == 200]
                self.assertEqual(len(ok), 1, "not exactly one result: "
                                 + what)
                self.assertEqual(ok[0].json(), {"code": codes[j]}, what)
                others = sorted({r.status for _, r in got
                                 if r.status != 200})
                self.assertTrue(set(others) <= {202, 404}, what)
            for l in logins:
                wait_gone(self, self.relays, l.secret)
        want = d0 + rounds * width
        deadline = time.monotonic() + 3
        while (total(self.relays, DELIVERED) != want
               and time.monotonic() < deadline):
            time.sleep(0.05)
        self.assertEqual(total(self.relays, DELIVERED), want,
                         "results_delivered_total over the instances")

    # -------------------------------------------------------------- first wins

    def test_first_callback_wins(self):
        """One callback with a code of its own on each instance at the
        same moment: one 200 page, the others 409 "already used"; the
        poll gets the winner's code."""
        for rnd in range(5):
            login = self.relays[rnd % self.N].new_login()
            codes = ["first-%d-%s-%d" % (rnd, login.id, j)
                     for j in range(self.N)]
            u0 = total(self.relays, P + "rejections_total",
                       reason="already_used")
            got = [None] * self.N
            barrier = threading.Barrier(self.N)

            def callback(j):
                barrier.wait(10)
                got[j] = self.relays[j].callback(
                    [("state", login.state), ("code", codes[j])],
                    timeout=10)

            threads = [threading.Thread(target=callback, args=(j,),
                                        daemon=True)
                       for j in range(self.N)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(15)
            self.assertNotIn(None, got, "a callback got no answer")
            statuses = [r.status for r in got]
            self.assertEqual(sorted(statuses), [200] + [409] * (self.N - 1),
                             "round %d: %r" % (rnd, got))
            w = statuses.index(200)
            page = self.assertHtml(got[w], 200)
            self.assertEqual(page.ids.get("code"),
                             rt.confirmation_code(login.state, codes[w]))
            for j, r in enumerate(got):
                if j == w:
                    continue
                lost = self.assertHtml(r, 409)
                self.assertIn("already received its answer",
                              rt.norm_text(lost.text), r)
                self.assertNotIn("code", lost.ids, r)
                for c in codes:
                    self.assertNotIn(rt.confirmation_code(login.state, c),
                                     r.text, r)
            self.assertEqual(total(self.relays, P + "rejections_total",
                                   reason="already_used"),
                             u0 + self.N - 1)
            r = self.relays[(rnd + 1) % self.N].poll(login.secret, 0)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json(), {"code": codes[w]},
                             "the poll did not get the winner's code")

    # -------------------------------------------------------------- reuse

    def test_code_reused_across_instances(self):
        """A code accepted for a login on A is refused (409 code_reused)
        for another login on every other instance, before and after the
        first login collected it."""
        first = self.A.new_login()
        second = self.B.new_login()
        code = "reused-" + first.id
        self.assertEqual(first.callback_code(code).status, 200)
        for stage in ("accepted", "collected"):
            for relay in self.relays[1:]:
                with self.subTest(stage=stage, on=self.name(relay)):
                    m0 = relay.metric(P + "rejections_total",
                                      reason="code_reused")
                    r = relay.callback([("state", second.state),
                                        ("code", code)])
                    page = self.assertHtml(r, 409)
                    self.assertIn("this sign-in response was already used",
                                  rt.norm_text(page.text), r)
                    self.assertNotIn("code", page.ids, r)
                    self.assertNotIn(code, r.text)
                    self.assertNotIn(
                        rt.confirmation_code(second.state, code), r.text)
                    self.assertEqual(relay.metric(P + "rejections_total",
                                                  reason="code_reused"),
                                     m0 + 1)
                    self.assertEqual(self.C.poll(second.secret, 0).status,
                                     202, "the refused code reached the "
                                     "second login")
            if stage == "accepted":
                r = self.relays[-1].poll(first.secret, 0)
                self.assertEqual(r.json(), {"code": code})
                wait_gone(self, self.relays, first.secret)
        # the second login still completes with its own code
        own = "own-" + second.id
        self.assertEqual(self.relays[-1].callback(
            [("state", second.state), ("code", own)]).status, 200)
        self.assertEqual(self.A.poll(second.secret, 0).json(), {"code": own})

    # -------------------------------------------------------------- counts

    def test_max_pending_counts_the_whole_store(self):
        """--max-pending 3 on every instance: three logins spread over
        them fill the store; the fourth is refused on every instance, and
        one collected makes room on any."""
        relays = start_relays(self, self.N, ("--max-pending", "3"))
        logins = [relays[i % self.N].new_login() for i in range(3)]
        for i, relay in enumerate(relays):
            with self.subTest(on=self.name(self.relays[i])):
                r, _ = relay.register()
                self.assertJsonError(r, 503, "full")
        # one login collected: room for one more, on any instance
        done = logins[0]
        cb = relays[-1].callback([("state", done.state),
                                  ("code", "full-" + done.id)])
        self.assertEqual(cb.status, 200, cb)
        self.assertEqual(relays[1].poll(done.secret, 0).status, 200)
        wait_gone(self, relays, done.secret)
        r, _ = relays[-1].register()
        self.assertEqual(r.status, 201, r)
        for relay in relays:
            r, _ = relay.register()
            self.assertJsonError(r, 503, "full")

    def test_pending_logins_same_on_every_instance(self):
        """pam_ion_relay_pending_logins counts the store, so every
        instance shows the same figure; the memory store's used_codes line
        is left out."""
        logins = [self.relays[i % self.N].new_login() for i in range(5)]
        for relay in self.relays:
            m = relay.metrics()
            self.assertEqual(m.value(PENDING), 5,
                             "%s: %s" % (self.name(relay), m.text))
            self.assertNotIn(P + "used_codes", m.text)
            self.assertEqual(m.bad_lines, [])
        for i, l in enumerate(logins[:2]):
            cb = self.relays[i % self.N].callback(
                [("state", l.state), ("code", "count-" + l.id)])
            self.assertEqual(cb.status, 200, cb)
            self.assertEqual(self.relays[-1].poll(l.secret, 0).status, 200)
            wait_gone(self, self.relays, l.secret)
        for relay in self.relays:
            self.assertEqual(relay.wait_metric(PENDING, 3, 3), 3,
                             self.name(relay))


class TwoInstances(Cases, NoClassRelay):
    N = 2


class ThreeInstances(Cases, NoClassRelay):
    N = 3


class Expiry(NoClassRelay):
    """A parked poll on B for a login registered on A is answered 404 at
    the login's TTL, not at the end of its wait: two and three
    instances side by side, so the TTL is waited out once."""

    def test_parked_poll_ends_at_the_ttl(self):
        sets = {n: start_relays(self, n, ("--ttl", str(TTL)))
                for n in (2, 3)}
        polls = []
        for n, relays in sets.items():
            t_reg = time.monotonic()
            login = relays[0].new_login()
            self.assertEqual(login.expires_in, TTL)
            for relay in relays[1:]:
                p = rt.Poller(relay, login.secret, 25, timeout=40)
                p.t_reg = t_reg
                p.what = "%d instances, poll on %s" % (
                    n, "ABC"[relays.index(relay)])
                p.start()
                polls.append(p)
        for p in polls:
            p.join(TTL + 15)
            self.assertFalse(p.is_alive(), p.what + ": still parked")
            self.assertIsNone(p.exc, p.what)
            self.assertEqual(p.resp.status, 404, "%s: %r" % (p.what, p.resp))
            self.assertEqual(p.resp.json().get("error"), "unknown_login")
            t = p.t_done - p.t_reg
            figure(p.what + ": answered after registration", t)
            self.assertGreater(t, TTL - 1.5, p.what
                               + ": answered before the TTL ran out")
            self.assertLess(t, TTL + 3.5, p.what
                            + ": answered long after the TTL ran out")
        for relays in sets.values():
            for relay in relays:
                self.assertEqual(relay.metric(PARKED), 0)
                self.assertEqual(relay.wait_metric(PENDING, 0, 2), 0)


class TtlMismatch(NoClassRelay):
    """The code transplant across relays whose --ttl differ (during a
    configuration change, say): the victim's login is registered on B
    (--ttl 60), the attacker's own on A (--ttl 10).  The attacker has the
    victim sign in with only the state changed to its own, collects the
    code on A, and waits until A's TTL is over before bringing the code
    to the victim's state on B.  Denied at the callback (409
    code_reused): the code is remembered for the longest TTL any relay
    registered a login with, not for A's."""

    def test_transplant_after_the_shorter_ttl(self):
        prefix = new_prefix()
        A, = start_relays(self, 1, ("--ttl", str(TTL)), prefix=prefix)
        B, = start_relays(self, 1, ("--ttl", "60"), prefix=prefix)
        victim = B.new_login()
        attacker = A.new_login()
        code = "transplanted-" + victim.id
        self.assertEqual(attacker.callback_code(code).status, 200)
        self.assertEqual(A.poll(attacker.secret, 0).json(), {"code": code})
        time.sleep(TTL + 1.5)
        self.assertEqual(A.poll(attacker.secret, 0).status, 404,
                         "the attacker's login outlived its TTL")
        r = B.callback([("state", victim.state), ("code", code)])
        page = self.assertHtml(r, 409)
        self.assertIn("this sign-in response was already used",
                      rt.norm_text(page.text), r)
        self.assertEqual(B.poll(victim.secret, 0).status, 202,
                         "the transplanted code reached the victim's login")


class StaleConnections(NoClassRelay):
    """Redis closes idle clients (its timeout): the relay's pooled
    connections go stale while it idles, and a burst of registrations
    afterwards must not fail on them (the module does not retry a
    registration)."""

    def test_burst_after_idle(self):
        redis = RedisServer()
        self.addCleanup(redis.remove)
        self.addCleanup(redis.stop)
        redis.cli("CONFIG", "SET", "timeout", "1")
        relay = rt.Relay(["--store", redis.url, "--store-prefix",
                          new_prefix()])
        self.addCleanup(stop_relay, self, relay)

        def burst():
            out = []
            threads = [threading.Thread(
                target=lambda: out.append(relay.register()[0].status))
                for _ in range(12)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            return out

        self.assertEqual(burst(), [201] * 12)
        time.sleep(3)       # every pooled connection idles past 1 s
        self.assertEqual(burst(), [201] * 12,
                         "registrations failed on connections Redis had "
                         "closed")
        self.assertEqual(relay.metric(P + "rejections_total",
                                      reason="store_unavailable"), 0)


class EvictionPolicy(NoClassRelay):
    """A Redis that evicts keys when full could forget a used code and
    accept it a second time: the relay does not use it.  /healthz names
    the policy, and registrations get 503 store_unavailable."""

    def test_evicting_redis_refused(self):
        redis = RedisServer()
        self.addCleanup(redis.remove)
        self.addCleanup(redis.stop)
        redis.cli("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
        relay = rt.Relay(["--store", redis.url, "--store-prefix",
                          new_prefix()])
        self.addCleanup(stop_relay, self, relay)
        r = rt.request(relay.port, "GET", "/healthz")
        self.assertEqual(r.status, 503, r)
        self.assertIn("maxmemory-policy is allkeys-lru", r.text)
        r, _ = relay.register()
        self.assertJsonError(r, 503, "store_unavailable")
        redis.cli("CONFIG", "SET", "maxmemory-policy", "noeviction")
        deadline = time.monotonic() + 5
        while (rt.request(relay.port, "GET", "/healthz").status != 200
               and time.monotonic() < deadline):
            time.sleep(0.1)
        r, _ = relay.register()
        self.assertEqual(r.status, 201, r)


class UnixSocket(NoClassRelay):
    """redis+unix:///PATH?db=N: two instances on a socket, the keys in
    database N under the prefix, none in database 0."""

    def test_unix_socket_and_db(self):
        redis = RedisServer(unix=True, db=5)
        self.addCleanup(redis.remove)
        self.addCleanup(redis.stop)
        prefix = new_prefix()
        A, B = [rt.Relay(["--store", redis.url, "--store-prefix", prefix])
                for _ in range(2)]
        for relay in (A, B):
            self.addCleanup(stop_relay, self, relay)
        login = A.new_login()
        kinds = sorted(k[len(prefix):len(prefix) + 2]
                       for k in redis.keys("*"))
        self.assertEqual(kinds, ["k:", "pe", "s:", "tt"], redis.keys("*"))
        self.assertEqual(redis.cli("-n", "0", "DBSIZE"), "0")
        p = rt.Poller(B, login.secret, 25)
        p.start()
        self.assertEqual(rt.wait_parked(B, 1), 1)
        t0 = time.monotonic()
        self.assertEqual(login.callback_code("unix").status, 200)
        p.join(5)
        self.assertFalse(p.is_alive(), "not woken over the unix socket")
        self.assertEqual(p.resp.json(), {"code": "unix"})
        figure("unix socket: callback on A to the answer on B",
               p.t_done - t0)
        self.assertLess(p.t_done - t0, WAKE_BOUND)


if __name__ == "__main__":
    unittest.main()
