"""The relay with its default options behind nginx (issue 9, "Parked polls
never starve the rest"): 1,000 sign-ins wait at once, and landing pages,
callbacks and /healthz are still answered, and each woken poll gets its code.

nginx is Debian's, started here with the documented site
(stand/nginx.py, after packaging/nginx/pam-ion-relay.conf) in a directory
of its own.  Behind it every request reaches the relay from 127.0.0.1, so
the relay's per-address limit counts all of them together.  nginx limits
per client address, so the sign-ins come from 40 PAM hosts (127.0.0.2 to
127.0.0.41, 25 each) and every phone has an address of its own (127.1.x.y).

The test prints its latency figures; it asserts behaviour, with only a
generous bound on time (ANSWER_WITHIN): speed goals belong in tests/bench.
"""

import asyncio
import json
import sys
import time
import unittest
import urllib.parse

import relaytest as rt
from stand.nginx import Nginx, nginx_missing, relay_site
from stand.proc import free_port

HOSTS = ["127.0.0.%d" % (2 + i) for i in range(40)]
PER_HOST = 25
N = len(HOSTS) * PER_HOST
WOKEN = 50              # sign-ins whose phone lands and calls back
SPACING = 0.06          # a host starts a sign-in every 60 ms
MONITOR = "127.2.0.1"   # the address /healthz comes from
MONITOR_DIRECT = "127.3.0.1"  # /metrics, from beside nginx
HEALTHZ = 10            # /healthz at once with the phones
QUIET = 10              # landing pages and /healthz one at a time
PHONES_QUIET = 2000     # their phones' addresses: phone_address(2000 + i)
RELEASE_AT_ONCE = 64    # callbacks at once when the rest are released
ANSWER_WITHIN = 5.0     # s: a sanity bound, not a speed goal
PARK_WITHIN = 15.0      # s after the last sign-in started
WAIT = 25               # the polls' ?wait=; the whole test stays below it
# What nginx logs when the relay closes a connection without an answer.
UNANSWERED = "while reading response header from upstream"


def phone_address(i):
    return "127.1.%d.%d" % (i // 250, i % 250 + 1)


# ---------------------------------------------------------------- HTTP

class Answer:
    """One exchange: status (None when the connection closed or broke
    unanswered), body, when it was sent and answered, and why it broke."""

    def __init__(self):
        self.status = None
        self.body = b""
        self.error = None
        self.t_sent = self.t_done = None

    @property
    def elapsed(self):
        return self.t_done - self.t_sent

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<%s %r %s>" % (self.status, self.body[:120], self.error or "")


def dechunk(body):
    """The body of a chunked answer; ValueError when it is cut short."""
    out = b""
    while True:
        size, _, rest = body.partition(b"\r\n")
        n = int(size.split(b";")[0], 16)
        if n == 0:
            return out
        out += rest[:n]
        body = rest[n + 2:]


def parse(raw, ans):
    """Fills ans from the bytes of a whole answer (the server closed)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = rt.status_of(lines[0] + b"\r\n") if sep else None
    if status is None:
        ans.error = "closed unanswered (%d bytes)" % len(raw)
        return
    chunked = any(line.lower().replace(b" ", b"") ==
                  b"transfer-encoding:chunked" for line in lines[1:])
    try:
        ans.body = dechunk(body) if chunked else body
    except ValueError:
        ans.error = "a broken chunked body"
        return
    ans.status = status


async def exchange(src, port, method, path, headers=None, body=b"",
                   timeout=WAIT + 10):
    """One request from address src on a connection of its own (as the
    module and a phone's browser would, Connection: close)."""
    ans = Answer()
    head = "%s %s HTTP/1.1\r\nHost: relay.example\r\nConnection: close\r\n" \
        % (method, path)
    for k, v in (headers or {}).items():
        head += "%s: %s\r\n" % (k, v)
    if body:
        head += "Content-Length: %d\r\n" % len(body)
    writer = None
    ans.t_sent = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            "127.0.0.1", port, local_addr=(src, 0)), timeout)
        writer.write(head.encode("ascii") + b"\r\n" + body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout)
        parse(raw, ans)
    except (OSError, asyncio.TimeoutError) as e:
        ans.error = "%s: %s" % (type(e).__name__, e)
    finally:
        ans.t_done = time.monotonic()
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
    return ans


def v1_headers(secret, json_body=False):
    h = {rt.KEY_HEADER: rt.CLIENT_A.key, "Authorization": "Bearer " + secret}
    if json_body:
        h["Content-Type"] = "application/json"
    return h


# ---------------------------------------------------------------- figures

def ms(seconds):
    return "%.1f ms" % (seconds * 1000.0)


def figures(what, times):
    """p50/p99/max of times (nearest rank), as one line."""
    if not times:
        return "%s: none answered" % what
    t = sorted(times)

    def rank(p):
        return t[max(0, -(-len(t) * p // 100) - 1)]
    return "%s (%d): p50 %s, p99 %s, max %s" % (
        what, len(t), ms(rank(50)), ms(rank(99)), ms(t[-1]))


def tally(answers):
    """status (or error) -> count."""
    out = {}
    for a in answers:
        k = a.status if a.status is not None else a.error
        out[k] = out.get(k, 0) + 1
    return out


def outcome(s):
    """What the poll of sign-in s came to: "its code", "wrong code", "not
    answered", "not registered", or the status or error it got."""
    if not s.poll.done():
        return "not answered"
    if s.poll.exception() is not None:
        return repr(s.poll.exception())
    a = s.poll.result()
    if a is None:
        return "not registered"
    if a.status != 200:
        return a.status if a.status is not None else a.error
    try:
        ok = a.json() == {"code": s.code}
    except ValueError:
        ok = False
    return "its code" if ok else "wrong code"


# ---------------------------------------------------------------- sign-ins

class SignIn:
    """One login as a PAM host runs it: register, then a long poll."""

    def __init__(self, host, index):
        self.host = host
        self.index = index
        self.secret, self.state = rt.new_secret()
        self.code = "code-%04d.%s" % (index, self.state[:8])
        self.id = None
        self.reg = None
        self.poll = None            # the poll's task
        self.landing = self.callback = None

    async def run(self, port):
        doc = {"state": self.state,
               "authorize_url": rt.authorize_url(self.state),
               "context": rt.default_context()}
        self.reg = await exchange(self.host, port, "POST", "/v1/logins",
                                  v1_headers(self.secret, True),
                                  json.dumps(doc).encode("utf-8"))
        if self.reg.status != 201:
            return None
        link = self.reg.json().get("link", "")
        self.id = link.rsplit("/l/", 1)[-1]
        return await exchange(self.host, port, "GET",
                              "/v1/logins/result?wait=%d" % WAIT,
                              v1_headers(self.secret))


class BehindNginx(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        why = nginx_missing()
        if why:
            raise unittest.SkipTest(why)
        # The default limits: only the options the relay requires.
        cls.relay = rt.Relay(())
        try:
            port = free_port()
            cls.nginx = Nginx(port, relay_site(
                port, ["127.0.0.1:%d" % cls.relay.port]))
        except Exception:
            cls.relay.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.nginx.stop()
        cls.nginx.remove()
        rc = cls.relay.stop()
        if rc != 0:
            raise AssertionError(
                "relay did not exit 0 on SIGTERM (rc=%r); stderr:\n%s"
                % (rc, cls.relay.log_text()[-4000:]))

    def test_thousand_waiting(self):
        self.problems = []
        self.lines = []
        try:
            asyncio.run(self.scenario())
        finally:
            print("\n".join(["", "behind nginx, default options:"]
                            + ["  " + l for l in self.lines]),
                  file=sys.stderr)
        if self.problems:
            errors = [l for l in self.nginx.error_lines()
                      if "[error]" in l or "[warn]" in l]
            self.fail("\n".join(self.problems + [
                "nginx error.log: %d lines, %d of them a connection "
                "the relay closed or reset unanswered; the first:"
                % (len(errors), sum(1 for l in errors if UNANSWERED in l))]
                + errors[:3]))

    def problem(self, text):
        self.problems.append(text)

    def say(self, text):
        self.lines.append(text)

    async def metric(self, name):
        """A metric of the relay's, asked directly (nginx denies /metrics)
        from an address of its own."""
        a = await exchange(MONITOR_DIRECT, self.relay.port, "GET", "/metrics")
        if a.status != 200:
            raise AssertionError("GET /metrics on the relay: %r" % a)
        return rt.Metrics(a.body.decode("utf-8")).value(name)

    async def wait_metric(self, name, want, timeout):
        deadline = time.monotonic() + timeout
        while True:
            v = await self.metric(name)
            if v == want or time.monotonic() > deadline:
                return v
            await asyncio.sleep(0.05)

    async def scenario(self):
        signins = [SignIn(HOSTS[k % len(HOSTS)], k) for k in range(N)]
        t0 = time.monotonic()
        await self.start_all(signins)
        parked = await self.parked(signins, t0)
        if parked == 0:
            return
        # Steps of 41 (prime to 40): every host, early and late sign-ins.
        woken = [signins[i * 41 % N] for i in range(WOKEN)]
        woken = [s for s in woken if s.id is not None]
        await self.phones(woken)
        await self.woken_polls(woken, N - len(woken))
        if self.problems:
            return
        rest = [s for s in signins if s not in woken and s.id is not None]
        await self.one_at_a_time(rest)
        await self.release(rest)
        await self.delivered_once(signins, woken)

    async def start_all(self, signins):
        """Each host starts a sign-in every SPACING s, as its users come:
        nginx's limit_req lets 40 requests from one address through at
        once, then 10 a second, and 25 sign-ins (50 requests) in 1.5 s
        stay inside that."""
        port = self.nginx.port

        async def host(h):
            for s in signins[h::len(HOSTS)]:
                s.poll = asyncio.ensure_future(s.run(port))
                await asyncio.sleep(SPACING)
        await asyncio.gather(*(host(h) for h in range(len(HOSTS))))

    async def parked(self, signins, t0):
        """Waits until every poll is parked or answered; returns how many
        are parked."""
        deadline = time.monotonic() + PARK_WITHIN
        while True:
            parked = await self.metric("pam_ion_relay_parked_polls")
            done = sum(1 for s in signins if s.poll.done())
            if parked + done >= N or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        regs = [s.reg for s in signins if s.reg is not None]
        self.say(figures("registrations through nginx", [
            a.elapsed for a in regs if a.status == 201]))
        self.say("%d of %d polls parked at the relay %.2f s after the "
                 "first sign-in" % (parked, N, time.monotonic() - t0))
        if tally(regs) != {201: N}:
            self.problem("registrations: %r (want 201 for all %d)"
                         % (tally(regs), N))
        slow = [a for a in regs if a.elapsed > ANSWER_WITHIN]
        if slow:
            self.problem("registrations: %d answered after %.0f s"
                         % (len(slow), ANSWER_WITHIN))
        early = {}
        for s in signins:
            k = outcome(s)
            if k not in ("not answered", "not registered"):
                early[k] = early.get(k, 0) + 1
        if early:
            self.problem("polls answered before any callback: %r" % early)
        if parked != N:
            self.problem("%s polls parked, want %d" % (parked, N))
        return parked

    async def phones(self, woken):
        """A phone per sign-in of woken opens its link and comes back with
        a code; /healthz is asked meanwhile."""
        port = self.nginx.port

        async def phone(i, s):
            src = phone_address(i)
            s.landing = await exchange(src, port, "GET", "/l/" + s.id)
            q = urllib.parse.urlencode([("state", s.state),
                                        ("code", s.code)])
            s.callback = await exchange(src, port, "GET", "/callback?" + q)

        health = [exchange(MONITOR, port, "GET", "/healthz")
                  for _ in range(HEALTHZ)]
        answers = await asyncio.gather(*health, *(
            phone(i, s) for i, s in enumerate(woken)))
        self.check_answers("landing pages, %d phones at once" % len(woken),
                           [s.landing for s in woken])
        self.check_answers("callbacks, the same phones",
                           [s.callback for s in woken])
        self.check_answers("/healthz, %d at once with them" % HEALTHZ,
                           answers[:HEALTHZ])

    async def one_at_a_time(self, waiting):
        """Landing pages of sign-ins still waiting, and /healthz, one after
        another: what a single request costs with the polls parked."""
        port = self.nginx.port
        pages, health = [], []
        for i, s in enumerate(waiting[:QUIET]):
            pages.append(await exchange(phone_address(PHONES_QUIET + i),
                                        port, "GET", "/l/" + s.id))
            health.append(await exchange(MONITOR, port, "GET", "/healthz"))
        self.check_answers("landing pages, one at a time", pages)
        self.check_answers("/healthz, one at a time", health)

    def check_answers(self, what, got):
        """Each of got answered 200 within ANSWER_WITHIN; its figures."""
        self.say(figures(what, [a.elapsed for a in got if a.status == 200]))
        if tally(got) != {200: len(got)}:
            self.problem("%s: %r (want 200 for all %d)"
                         % (what, tally(got), len(got)))
        slow = [a for a in got if a.elapsed > ANSWER_WITHIN]
        if slow:
            self.problem("%s: %d answered after %.0f s"
                         % (what, len(slow), ANSWER_WITHIN))

    async def woken_polls(self, woken, want_parked):
        """The polls whose login got its callback return its code; the
        others stay parked."""
        await asyncio.wait([s.poll for s in woken], timeout=ANSWER_WITHIN)
        self.check_codes("the woken polls", woken)
        self.say(figures("woken polls, from the callback sent to the "
                         "poll's answer", [
                             s.poll.result().t_done - s.callback.t_sent
                             for s in woken if outcome(s) == "its code"]))
        parked = await self.wait_metric("pam_ion_relay_parked_polls",
                                        want_parked, 3.0)
        if parked != want_parked:
            self.problem("%s polls parked after the wake, want %d"
                         % (parked, want_parked))

    def check_codes(self, what, signins):
        got = {}
        for s in signins:
            k = outcome(s)
            got[k] = got.get(k, 0) + 1
        if got != {"its code": len(signins)}:
            self.problem("%s, %.0f s after their callbacks: %r (want its "
                         "code for all %d)" % (what, ANSWER_WITHIN, got,
                                               len(signins)))

    async def release(self, rest):
        """The other phones come back: every parked poll gets its code."""
        port = self.nginx.port
        still = [s for s in rest if s.poll.done()]
        if still:
            self.problem("%d polls answered while their login waited"
                         % len(still))
        gate = asyncio.Semaphore(RELEASE_AT_ONCE)

        async def phone(i, s):
            q = urllib.parse.urlencode([("state", s.state),
                                        ("code", s.code)])
            async with gate:
                s.callback = await exchange(phone_address(WOKEN + i), port,
                                            "GET", "/callback?" + q)

        t = time.monotonic()
        await asyncio.gather(*(phone(i, s) for i, s in enumerate(rest)))
        await asyncio.wait([s.poll for s in rest], timeout=ANSWER_WITHIN)
        self.say("the other %d released (callback, code) in %.2f s"
                 % (len(rest), time.monotonic() - t))
        cbs = [s.callback for s in rest]
        if tally(cbs) != {200: len(cbs)}:
            self.problem("release callbacks: %r" % tally(cbs))
        self.check_codes("the released polls", rest)

    async def delivered_once(self, signins, woken):
        """Each code went out once: counted once, the logins forgotten,
        a second poll finds nothing.  No code in nginx's access log."""
        n = await self.wait_metric("pam_ion_relay_results_delivered_total",
                                   N, 3.0)
        if n != N:
            self.problem("results delivered: %s, want %d" % (n, N))
        for name in ("pam_ion_relay_parked_polls",
                     "pam_ion_relay_pending_logins"):
            v = await self.metric(name)
            if v != 0:
                self.problem("%s: %s after all were delivered" % (name, v))
        again = await asyncio.gather(*(exchange(
            s.host, self.nginx.port, "GET", "/v1/logins/result?wait=0",
            v1_headers(s.secret)) for s in woken))
        if tally(again) != {404: len(woken)}:
            self.problem("a second poll: %r, want 404 for all %d"
                         % (tally(again), len(woken)))
        with open(self.nginx.access_log, encoding="utf-8") as f:
            log = f.read()
        if any(s.code in log for s in signins):
            self.problem("a code is in nginx's access log")


if __name__ == "__main__":
    unittest.main()
