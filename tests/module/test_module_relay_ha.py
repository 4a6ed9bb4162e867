"""pam_ion against two relays on one Redis behind nginx (issue 9), through
real PAM:
- a whole sign-in the instances share (registered on one, the poll parked
  on the other, the callback on the one without the poll, the poll woken
  through Redis) → PAM_SUCCESS;
- the instance that holds the module's parked poll SIGKILLed, then the
  phone signs in → PAM_SUCCESS (nginx sends the cut poll to the other
  instance itself; with proxy_next_upstream off the module's own next
  poll, after a 502, lands there);
- a rolling restart of both instances while the module waits, then the
  phone signs in → PAM_SUCCESS;
- Redis restarted under the parked poll: as deployed (nothing saved) it
  comes back without the sign-in, and the module fails closed at once
  with PAM_AUTHINFO_UNAVAIL (9); with its data (saved first) the module
  rides out the outage → PAM_SUCCESS.

Every test starts its own cluster: Debian's redis-server (stand/redis.py,
nothing saved), relays A and B on it (the same --store URL, the same
--store-prefix, the same --client-keys file, --public-url the nginx
address) and Debian's nginx with the documented site (stand/nginx.py) in
front of both, on the port the stand-in provider redirects to.  The
module's relay_url is nginx: plain http on loopback, which the module
allows.  nginx balances round robin, so the module's registration and its
first poll reach different instances.  What each instance did is read
from its log ("login ID registered ...", "... landing page shown",
"... callback with a code") and its /metrics (asked directly: nginx
denies /metrics), where pam_ion_relay_parked_polls also says which
instance holds the module's poll.  The cluster is stopped whatever
happens (addCleanup; the stand's daemons also die with the harness).

The person's phone waits until the test has done its damage (Disrupted),
then signs in; prompt = auto, confirm = yes: the module polls while the
QR code is shown (that poll is what the instances hold), then asks for the
code the phone shows."""

import concurrent.futures
import os
import re
import signal
import sys
import tempfile
import threading
import time
import types
import unittest

from hostile import RELAY_BLIP_S, HostileCase
from moduletest import (MODULE_HOST, OTHER_HOST, PAM_AUTHINFO_UNAVAIL,
                        PAM_SUCCESS, RELAY_BIN, RELAY_TTL, SANITIZE,
                        SANITIZER_RE, START_TIMEOUT, Person, Provider,
                        Stack, Syslog, _sanitizer_env, log,
                        requirements_missing)
from stand.daemons import Relay, keys_file_text, new_client_key
from stand.files import write_private
from stand.nginx import Nginx, nginx_missing, relay_site
from stand.proc import StandError, free_port, request
from stand.redis import RedisServer, redis_missing

PREFIX = "pam_ion:ha-test:"  # --store-prefix, the same on every instance
LOGIN_TIMEOUT = 30          # s: a test that goes wrong ends in time
SETTLE = 15.0               # s: what waiting for a parked poll may take
# The module, confirming: the QR code without a prompt, polling meanwhile.
OPTIONS = {"prompt": "auto", "confirm": "yes",
           "login_timeout": str(LOGIN_TIMEOUT), "http_timeout": "5"}
LINE_RE = re.compile(r"\blogin ([A-Za-z0-9_-]+)(?: registered\b|: landing "
                     r"page shown|: callback with a code)")
# The line of the poll's location in stand/nginx.py's site, after which
# proxy_next_upstream off goes where a test wants nginx not to send a poll
# that failed to the other instance itself.
POLL_LOCATION = "proxy_read_timeout 60s;"
STEPS = (("registered", "registered"), ("landing page shown", "landing"),
         ("callback with a code", "callback"))


# ---------------------------------------------------------------- the cluster

class NginxRelay(Relay):
    """The stand's relay, whose --public-url is nginx's address (the
    links it hands out, and the callback the provider redirects to, go
    through nginx); it is still asked directly for /healthz and
    /metrics."""

    def __init__(self, *args, public_url, **kw):
        self.public_url = public_url
        super().__init__(*args, **kw)

    def start(self, argv, **kw):
        argv = list(argv)
        argv[argv.index("--public-url") + 1] = self.public_url
        return super().start(argv, **kw)


class Instance:
    """One relay instance: its port, and every process that has served it
    (A1, A2, ... after restarts), each with a workdir of its own."""

    def __init__(self, cluster, name, port):
        self.cluster = cluster
        self.name = name
        self.port = port
        self.url = "http://127.0.0.1:%d" % port
        self.runs = []      # (label, Relay), oldest first
        self.relay = None   # the running one, or None

    def start(self):
        st = self.cluster.stack
        label = "%s%d" % (self.name, len(self.runs) + 1)
        d = os.path.join(self.cluster.dir, "relay-" + label)
        os.mkdir(d, 0o755)
        self.relay = NginxRelay(
            RELAY_BIN, d, self.port, st.provider.issuer + "/oauth2/authorize",
            public_url=self.cluster.nginx_url, keys_file=st.keys_file,
            extra_args=["--ttl", str(RELAY_TTL),
                        "--store", self.cluster.redis.url,
                        "--store-prefix", PREFIX],
            env=_sanitizer_env(dict(os.environ)),
            start_timeout=START_TIMEOUT)
        self.runs.append((label, self.relay))
        return label

    @property
    def label(self):
        return self.runs[-1][0] if self.relay is not None else None

    def end(self, sig):
        """Sends sig to the running process and waits for it: its exit
        status (negative: the signal)."""
        r = self.relay
        r.proc.send_signal(sig)
        rc = r.proc.wait(10)
        r.stop()
        self.relay = None
        return rc

    def metric(self, name):
        """A metric of the running process (0 when it has no such line),
        None when none runs or it does not answer."""
        if self.relay is None or self.relay.proc.poll() is not None:
            return None
        try:
            return self.relay.metrics().get(name, 0)
        except (OSError, StandError):
            return None

    def healthy(self):
        try:
            return request("GET", self.url + "/healthz", timeout=2.0)[0] \
                == 200
        except OSError:
            return False

    def stop(self):
        """Stops the running process (SIGTERM) and every earlier one; what
        went wrong: the running process gone by itself, or an exit status
        other than 0 on SIGTERM (a list of strings)."""
        problems = []
        if self.relay is not None:
            label, rc = self.label, self.relay.proc.poll()
            if rc is not None:
                problems.append("relay %s exited by itself (%s)" % (label,
                                                                   rc))
            else:
                rc = self.end(signal.SIGTERM)
                if rc != 0:
                    problems.append("relay %s exited %s on SIGTERM" % (
                        label, rc))
        for label, r in self.runs:
            if r.proc is not None:
                r.stop()
            if SANITIZE and SANITIZER_RE.search(r.logs(100000)):
                log("relay_ha: WARNING: sanitizer report in relay %s's "
                    "log:\n%s" % (label, r.logs(200)))
        self.relay = None
        return problems


class Cluster:
    """redis-server, relays A and B on it, nginx in front of both on the
    stack's nginx port.  close() stops all of it.

    A daemon of the stand dies with the thread that started it
    (PR_SET_PDEATHSIG), and the person's phone, which restarts relays and
    Redis, ends with the sign-in: what it starts, it starts through
    spawn(), in a thread that lives as long as the cluster."""

    def __init__(self, stack, name, proxy_retry=True):
        self.stack = stack
        self.dir = os.path.join(stack.dir, name)
        os.mkdir(self.dir, 0o755)
        self.nginx_url = "http://127.0.0.1:%d" % stack.nginx_port
        self.redis = self.nginx = None
        self.instances = []
        self.over = threading.Event()  # set when the sign-in has ended
        self.spawner = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="relay-ha-spawner")
        try:
            self.redis = RedisServer()
            for n in ("A", "B"):
                inst = Instance(self, n, free_port())
                self.instances.append(inst)
                inst.start()
            site = relay_site(stack.nginx_port, ["127.0.0.1:%d" % i.port
                                                 for i in self.instances])
            if not proxy_retry:
                site = site.replace(POLL_LOCATION, POLL_LOCATION +
                                    "\n                proxy_next_upstream "
                                    "off;")
                if "proxy_next_upstream off;" not in site:
                    raise StandError("no %r in stand/nginx.py's site" %
                                     POLL_LOCATION)
            self.nginx = Nginx(stack.nginx_port, site)
        except BaseException:
            self.close()
            raise

    def spawn(self, fn, *args):
        """fn(*args) in the cluster's own thread; what it returns."""
        return self.spawner.submit(fn, *args).result()

    def close(self):
        """Stops all of it; what went wrong with the relays (see
        Instance.stop)."""
        problems = []
        if self.nginx is not None:
            self.nginx.stop()
            self.nginx.remove()
            self.nginx = None
        for inst in self.instances:
            problems += inst.stop()
        if self.redis is not None:
            self.redis.stop()
            self.redis.remove()
            self.redis = None
        self.spawner.shutdown()
        return problems

    def running(self):
        return [i for i in self.instances if i.relay is not None]

    def parked(self):
        """label -> parked polls, for each running process."""
        return {i.label: i.metric("pam_ion_relay_parked_polls")
                for i in self.running()}

    def _waiting(self, deadline, what):
        """True after a short pause, while one may wait for what (a
        function saying what, for the message); AssertionError when
        SETTLE seconds are up or the sign-in has ended first."""
        if self.over.is_set():
            raise AssertionError("the sign-in ended while waiting for %s"
                                 % what())
        if time.monotonic() > deadline:
            raise AssertionError("still waiting for %s after %.0f s" % (
                what(), SETTLE))
        time.sleep(0.05)
        return True

    def wait_parked(self):
        """Waits until the running processes hold one parked poll between
        them (the module's); the Instance that holds it."""
        deadline = time.monotonic() + SETTLE
        counts = {}
        while self._waiting(deadline, lambda: "one parked poll on the "
                            "instances (parked polls: %r)" % counts):
            counts = self.parked()
            if sum(v or 0 for v in counts.values()) == 1:
                for i in self.running():
                    if counts[i.label] == 1:
                        return i

    def wait_healthy(self):
        """Waits until every running process answers /healthz 200."""
        deadline = time.monotonic() + SETTLE
        sick = []
        while self._waiting(deadline, lambda: "/healthz 200 from %s" %
                            ", ".join(sick)):
            sick = [i.label for i in self.running() if not i.healthy()]
            if not sick:
                return

    def steps(self, link_id):
        """label -> what that process's log says it did for the login
        (registered, landing, callback), for every process so far."""
        out = {}
        for inst in self.instances:
            for label, r in inst.runs:
                did = []
                for line in r.log_lines():
                    m = LINE_RE.search(line)
                    if m is None or m.group(1) != link_id:
                        continue
                    did += [step for text, step in STEPS if text in line]
                out[label] = did
        return out

    def polls_answered(self):
        """The statuses nginx answered the module's polls with, in order
        (its access log)."""
        try:
            with open(self.nginx.access_log, encoding="utf-8",
                      errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            return []
        return [int(m.group(1)) for m in (
            re.search(r'"GET /v1/logins/result" (\d{3}) ', line)
            for line in lines) if m]

    def delivered(self):
        """label -> results delivered, for each running process."""
        return {i.label: i.metric("pam_ion_relay_results_delivered_total")
                for i in self.running()}

    def logs(self):
        parts = []
        for inst in self.instances:
            for label, r in inst.runs:
                parts.append("--- relay %s (port %d) log (tail) ---\n%s" % (
                    label, inst.port, r.logs(40)))
        if self.nginx is not None:
            parts.append("--- nginx error.log (tail) ---\n%s" % "\n".join(
                self.nginx.error_lines()[-20:]))
            try:
                with open(self.nginx.access_log, encoding="utf-8",
                          errors="replace") as f:
                    parts.append("--- nginx access.log (tail) ---\n" +
                                 "".join(f.readlines()[-30:]).rstrip("\n"))
            except OSError:
                pass
        if self.redis is not None:
            parts.append("--- redis log (tail) ---\n" +
                         self.redis.log_tail(15).rstrip("\n"))
        return "\n".join(parts)


class HAStack(Stack):
    """The provider (redirecting to nginx's port), the syslog socket, the
    relays' one --client-keys file (host1 and host2, root, 0600) and the
    port every test's nginx takes.  self.relay is the relay as the module
    sees it: nginx's address, with host1's key."""

    prefix = "pam-ion-module-ha-"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix=self.prefix)
        os.chmod(self.dir, 0o755)
        self.provider = self.relay = self.syslog = None
        self.cluster = None
        self.serial = 0
        try:
            self.syslog = Syslog(self.dir)
            self.nginx_port = free_port()
            self.provider = Provider(
                self.dir, "http://127.0.0.1:%d/callback" % self.nginx_port)
            keys = {n: new_client_key(RELAY_BIN, n)[0]
                    for n in (MODULE_HOST, OTHER_HOST)}
            self.keys_file = write_private(
                os.path.join(self.dir, "relay-client-keys"),
                keys_file_text(keys), 0o600)
            self.relay = types.SimpleNamespace(
                url="http://127.0.0.1:%d" % self.nginx_port,
                key=keys[MODULE_HOST], keys=keys)
        except BaseException:
            self.close()
            raise

    def close(self):
        if self.cluster is not None:
            self.cluster.close()
        self.relay = None  # not a daemon here
        super().close()

    def daemon_logs(self):
        return "--- provider log (tail) ---\n%s\n%s" % (
            self.provider.logs(),
            self.cluster.logs() if self.cluster is not None else "")


# ---------------------------------------------------------------- the person

class Disrupted(Person):
    """The person, whose phone first waits for disrupt(link) (what the test
    does to the cluster, in the phone's thread), then signs in (login None:
    never).  An exception in disrupt is kept in disrupt_error and the phone
    stays still.  over is set once pamdrive has ended (run_pam then calls
    wait_phone), so that a disrupt still waiting gives up."""

    def __init__(self, disrupt, over, **kw):
        super().__init__(**kw)
        self.disrupt = disrupt
        self.over = over
        self.disrupt_error = None

    def saw_link(self, link):
        self.link = link
        self._thread = threading.Thread(target=self._disrupt_then_sign_in,
                                        daemon=True)
        self._thread.start()

    def _disrupt_then_sign_in(self):
        try:
            self.disrupt(self.link)
        except Exception as e:  # noqa: BLE001  (reported by the test)
            self.disrupt_error = "%s: %s" % (type(e).__name__, e)
            return
        if self.login is not None:
            self._sign_in()

    def code(self):
        """The phone's code, for the prompt (pamdrive is running)."""
        if self._thread is not None:
            self._thread.join(SETTLE * 3)
        if self.phone_error is not None or self.disrupt_error is not None:
            raise AssertionError("the phone failed: %s" % (
                self.phone_error or self.disrupt_error))
        if not re.fullmatch(r"\d{6}", self.phone_result or ""):
            raise AssertionError("the phone shows no code: %r" %
                                 self.phone_result)
        return self.phone_result

    def wait_phone(self, timeout=30):
        self.over.set()
        super().wait_phone(timeout)


# ---------------------------------------------------------------- the tests

class RelayHA(HostileCase):

    @classmethod
    def setUpClass(cls):
        why = requirements_missing() or nginx_missing() or redis_missing()
        if why:
            raise unittest.SkipTest(why)
        cls.stack = HAStack()
        cls.addClassCleanup(cls.stack.close)
        cls.provider = cls.stack.provider
        cls.relay = cls.stack.relay

    def setUp(self):
        super().setUp()
        self.cluster = None
        self.new_cluster()
        self.addCleanup(self.close_cluster)

    def new_cluster(self, **kw):
        """A cluster for the test (Cluster(**kw)), in place of the one it
        had."""
        if self.cluster is not None:
            self.close_cluster()
        self.stack.serial += 1
        self.cluster = Cluster(self.stack, "c%03d" % self.stack.serial, **kw)
        self.stack.cluster = self.cluster

    def close_cluster(self):
        """Stops the cluster; an error when a relay died by itself or did
        not exit 0 on SIGTERM."""
        if self.cluster is None:
            return
        logs = self.cluster.logs()
        problems = self.cluster.close()
        self.stack.cluster = self.cluster = None
        if problems:
            raise AssertionError("%s\n%s" % ("; ".join(problems), logs))

    def sign_in(self, disrupt, login="alice", **person_kw):
        """One pam_authenticate through nginx with prompt = auto, confirm =
        yes; the person's phone does disrupt(link) first.  Returns (the
        outcome, the person)."""
        s = self.setup(options=OPTIONS)
        self.cluster.over.clear()
        p = Disrupted(disrupt, self.cluster.over, login=login,
                      answers=["{code}"] if login else [], **person_kw)
        try:
            out = s.run(p)
        except AssertionError as e:
            raise AssertionError("%s\ndisrupt: %s\n%s" % (
                e, p.disrupt_error, self.stack.daemon_logs())) from None
        self.check(out, p.disrupt_error is None,
                   "what the test does to the cluster failed: %s" %
                   p.disrupt_error)
        return out, p

    def assertSignedIn(self, out, p):
        self.check(out, p.phone_error is None, "phone: %s" % p.phone_error)
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.assertSignedInLog(out, "alice")

    def assertDeliveredOnce(self, out):
        """The running processes delivered one result between them."""
        got = self.cluster.delivered()
        self.check(out, sum(v or 0 for v in got.values()) == 1,
                   "results delivered, per instance: %r (want 1 in all)" %
                   got)
        return got

    def link_id(self, p):
        return p.link.rsplit("/l/", 1)[1]

    # -- 1

    def steer_callback_away(self, link, parked):
        """Opens the landing page through nginx (as a person opening the
        link twice would) until one reaches the instance that does not
        hold the module's poll: nginx's round robin then sends the
        phone's landing page to the one that does, and its callback to
        the other.  Where each went is read from the instances' logs."""
        lid = link.rsplit("/l/", 1)[1]

        def landings():
            return {label: did.count("landing")
                    for label, did in self.cluster.steps(lid).items()}

        for _ in range(4):
            before = landings()
            status = request("GET", link)[0]
            if status != 200:
                raise AssertionError("the landing page answered %d" % status)
            deadline = time.monotonic() + 2.0
            went = []
            while not went and time.monotonic() < deadline:
                went = [label for label, n in landings().items()
                        if n > before.get(label, 0)]
                time.sleep(0.02)
            if went != [parked] and len(went) == 1:
                return
        raise AssertionError("nginx sent every landing page to %s, the "
                             "instance that holds the poll" % parked)

    def test_sign_in_shared_by_both_instances(self):
        """A whole sign-in through nginx, spread over both instances by
        nginx's round robin: the registration on one, the module's poll
        parked on the other; the phone's callback is steered to the
        instance without the poll (steer_callback_away), which stores the
        result in Redis, and the instance holding the poll is woken
        through Redis and hands the result out, once → the module asks
        for the code within a second of the callback (a wake in
        milliseconds, not at the poll's end), PAM_SUCCESS.  The
        instances' logs and metrics show who did what."""
        seen = {}

        def disrupt(link):
            seen["parked"] = self.cluster.wait_parked().label
            seen["keys"] = self.cluster.redis.keys(PREFIX + "*")
            self.steer_callback_away(link, seen["parked"])

        out, p = self.sign_in(disrupt)
        self.assertSignedIn(out, p)
        self.check(out, seen["keys"],
                   "no key under the prefix %r in Redis while the "
                   "sign-in waited" % PREFIX)
        steps = self.cluster.steps(self.link_id(p))
        delivered = self.assertDeliveredOnce(out)
        work = {label: did + ["delivered"] * int(delivered.get(label) or 0)
                for label, did in steps.items()}
        print("\nrelay_ha: one sign-in, by instance: %r (the poll was "
              "parked on %s; callback to prompt %.3f s)" % (
                  work, seen["parked"], out.first("PROMPT") - p.callback_at),
              file=sys.stderr)

        def where(step):
            return [label for label, did in work.items() if step in did]
        for step in ("registered", "callback", "delivered"):
            self.check(out, sum(d.count(step) for d in work.values()) == 1,
                       "%s: once in all, by instance: %r" % (step, work))
        parked = seen["parked"]
        self.check(out, where("registered") != [parked],
                   "registered where the poll was parked: %r" % work)
        self.check(out, where("callback") != [parked],
                   "the callback reached the instance with the poll: %r"
                   % work)
        self.check(out, where("delivered") == [parked],
                   "the result was not handed out by the instance holding "
                   "the poll (%s): %r" % (parked, work))
        self.check(out, out.first("PROMPT") - p.callback_at < 1.0,
                   "the module asked for the code %.1f s after the callback"
                   % (out.first("PROMPT") - p.callback_at))

    # -- 2

    def kill_parked(self):
        """A sign-in where the instance that holds the module's parked
        poll is SIGKILLed before the phone signs in: success, the victim
        killed, the survivor took the callback and handed the result out
        once.  Returns the outcome."""
        seen = {}

        def disrupt(link):
            victim = self.cluster.wait_parked()
            seen["victim"] = victim.label
            seen["rc"] = victim.end(signal.SIGKILL)

        out, p = self.sign_in(disrupt)
        # The step that would deny otherwise: the poll made again after
        # the kill.  Were the login only in the killed process's memory
        # (the memory store), the survivor would answer that poll 404 and
        # the module would end with PAM_AUTHINFO_UNAVAIL ("the relay no
        # longer knows this sign-in"); were the poll parked on nobody's
        # wake, it would end at login_timeout.
        self.assertSignedIn(out, p)
        self.check(out, seen["rc"] == -signal.SIGKILL,
                   "the instance that held the poll (%s) exited %r" % (
                       seen["victim"], seen["rc"]))
        survivor = self.cluster.running()
        self.check(out, len(survivor) == 1, "the survivor died: %r" % [
            i.label for i in survivor])
        steps = self.cluster.steps(self.link_id(p))
        self.check(out, steps[survivor[0].label].count("callback") == 1,
                   "the survivor did not take the callback: %r" % steps)
        self.assertDeliveredOnce(out)
        return out

    def test_instance_with_parked_poll_killed(self):
        """The instance that holds the module's parked poll is SIGKILLed;
        then the phone signs in: the landing page and the callback reach
        the survivor (nginx skips the dead one), and so does the poll:
        nginx, which had sent nothing back yet, sends the same GET to the
        survivor (the documented site keeps nginx's default
        proxy_next_upstream), which finds the result in Redis →
        PAM_SUCCESS."""
        self.kill_parked()

    def test_instance_with_parked_poll_killed_module_polls_again(self):
        """The same with nginx told not to send a failed poll on
        (proxy_next_upstream off): the module gets 502 for the killed
        poll, polls again a second later, and that poll lands on the
        survivor → PAM_SUCCESS."""
        self.new_cluster(proxy_retry=False)
        out = self.kill_parked()
        polls = self.cluster.polls_answered()
        self.check(out, 502 in polls and polls[-1] == 200,
                   "the module's polls, as nginx answered them: %r (want a "
                   "502 for the killed one, 200 at the end)" % polls)

    # -- 3

    def test_rolling_restart_during_sign_in(self):
        """While the module waits: SIGTERM A (it answers the parked poll
        202 and exits 0), A started again on its port, then the same for
        B; the module's poll lands on the new processes; then the phone
        signs in → PAM_SUCCESS, from a login registered by a process that
        is gone."""
        seen = {"rc": {}}

        def disrupt(link):
            seen["parked"] = self.cluster.wait_parked().label
            for inst in self.cluster.instances:
                label = inst.label
                seen["rc"][label] = inst.end(signal.SIGTERM)
                # It answers /healthz 200 when this returns.
                self.cluster.spawn(inst.start)
                # The module is still waiting, on one of the instances.
                self.cluster.wait_parked()
            seen["parked_after"] = self.cluster.wait_parked().label

        out, p = self.sign_in(disrupt)
        self.assertSignedIn(out, p)
        self.check(out, seen["rc"] == {"A1": 0, "B1": 0},
                   "SIGTERM: exit statuses %r, want 0" % seen["rc"])
        self.check(out, seen["parked_after"] in ("A2", "B2"),
                   "the poll is parked on %r" % seen["parked_after"])
        steps = self.cluster.steps(self.link_id(p))
        self.check(out, sum(steps[x].count("registered")
                            for x in ("A1", "B1")) == 1,
                   "not registered by a process now gone: %r" % steps)
        self.check(out, sum(steps[x].count("callback")
                            for x in ("A2", "B2")) == 1,
                   "the callback did not reach a new process: %r" % steps)
        self.assertDeliveredOnce(out)

    # -- 4

    def restart_redis(self, keep_data):
        """A disrupt: Redis restarted (SIGTERM, started again on its port)
        under the parked poll, SAVE first when keep_data, so that it comes
        back with the logins; then, keep_data, waits until both instances
        are back on it (/healthz 200) and the module's poll is parked
        again."""
        seen = {}

        def disrupt(link):
            self.cluster.wait_parked()
            redis = self.cluster.redis
            if keep_data and redis.cli("SAVE") != "OK":
                raise AssertionError("Redis refused SAVE")
            seen["restart_at"] = time.monotonic()
            self.cluster.spawn(redis.restart)
            seen["back_at"] = time.monotonic()
            if keep_data:
                self.cluster.wait_healthy()
                # The module rode out the outage and waits again.
                self.cluster.wait_parked()
        return seen, disrupt

    def assertReconnected(self, out):
        """Both instances answer /healthz 200 and have counted a
        reconnect to Redis."""
        self.cluster.over.clear()  # the sign-in is over: wait anyway
        self.cluster.wait_healthy()
        for inst in self.cluster.instances:
            n = inst.metric("pam_ion_relay_store_reconnects_total")
            self.check(out, n is not None and n >= 1,
                       "%s: pam_ion_relay_store_reconnects_total %r" % (
                           inst.label, n))

    def test_redis_restarted_empty(self):
        """Redis as deployed (nothing saved) restarted under the parked
        poll: the instances answer 503 store_unavailable meanwhile, which
        the module polls through, and reconnect; but the restarted Redis
        has forgotten the sign-in, so the next poll is 404 and the module
        fails closed with PAM_AUTHINFO_UNAVAIL, "the relay no longer knows
        this sign-in", seconds after the restart, not at login_timeout.
        (Nobody signs in: there is nothing left to sign in to.)"""
        seen, disrupt = self.restart_redis(keep_data=False)
        out, p = self.sign_in(disrupt, login=None)
        self.assertFailsClosed(out, PAM_AUTHINFO_UNAVAIL,
                               r"the relay no longer knows this sign-in")
        # Not at login_timeout, nor after a poll's whole wait: the parked
        # poll was answered (503) when the instance lost Redis.
        self.check(out, out.ended - seen["back_at"] <= RELAY_BLIP_S,
                   "ended %.1f s after Redis was back (restarted in %.1f s)"
                   % (out.ended - seen["back_at"],
                      seen["back_at"] - seen["restart_at"]))
        self.assertReconnected(out)

    def test_redis_restarted_with_its_data(self):
        """Redis restarted under the parked poll, coming back with what it
        held (a SAVE before, as a Redis with persistence would): the
        module polls through the 503s, the instances reconnect, and the
        phone signs in → PAM_SUCCESS."""
        seen, disrupt = self.restart_redis(keep_data=True)
        out, p = self.sign_in(disrupt)
        self.assertSignedIn(out, p)
        self.assertReconnected(out)
        self.assertDeliveredOnce(out)


if __name__ == "__main__":
    unittest.main()
