"""Shared helpers for the pam-ion-relay contract tests.

Only the Python 3 standard library is used.  A test starts the real relay
binary (RELAY_BIN, else ../../build/src/relay/pam-ion-relay next to this file)
on 127.0.0.1 with port 0, learns the port from the "listening on" line on
stderr, keeps every later stderr line in Relay.logs, and stops it with SIGTERM,
which must end it with exit status 0.

Run one file:   cd tests/relay && RELAY_BIN=/path/to/pam-ion-relay \
                    python3 -B -m unittest -v test_register
Run them all:   ctest --test-dir build -L relay -j7 --output-on-failure
Files: test_cli (flags, signals), test_register (POST /v1/logins),
test_pages (HTML pages, headers), test_result (polls), test_longpoll (the
25 s wait cap), test_limits (timeouts, connection limits, header size, TTL),
test_metrics (/healthz, /metrics, counters, secrets kept out of the log),
test_clientkeys (--client-keys, PAM-Ion-Client-Key, SIGHUP, a login bound to
its client, --new-client-key), test_transplant (the code-transplant attack:
code reuse, PAR URLs), test_parked (--max-parked: "busy" answers, the rest
served while polls are parked).

The store: RELAY_STORE=redis in the environment (ctest's relay.redis.*
variants) makes every Relay use --store with one redis-server started once
per test process (stand/redis.py, at the first Relay; stopped at exit) and
a --store-prefix of its own, so no two relays of a process share a login,
unless the test gives --store itself.  ON_REDIS says which store runs;
memory_store_only(why) skips a test that is about the memory store alone.

Every relay starts with a keys file of two clients, CLIENT_A and CLIENT_B
(unless a test gives its own), and every /v1 request sends CLIENT_A's key
unless its headers name PAM-Ion-Client-Key (the value None sends none).
"""

import atexit
import base64
import itertools
import hashlib
import html.parser
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from stand.daemons import KEY_HEADER, b64url, key_hash  # noqa: E402
from stand.redis import RedisServer  # noqa: E402
DEFAULT_BIN = os.path.normpath(
    os.path.join(HERE, "..", "..", "build", "src", "relay", "pam-ion-relay"))

PUBLIC_URL = "https://relay.example"
PREFIX = "https://a.example/oauth2"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
LOG_PREFIX = "pam-ion-relay: "

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

REJECTION_REASONS = (
    "bad_request", "bad_state", "unsupported_media_type", "too_large",
    "url_not_allowed", "state_mismatch", "nonce_mismatch", "state_exists",
    "full", "unknown_login", "already_used", "unauthorized", "not_found",
    "method_not_allowed", "client_key", "code_reused", "request_uri_reused",
    "busy",
)

METRIC_TYPES = {
    "pam_ion_relay_pending_logins": "gauge",
    "pam_ion_relay_parked_polls": "gauge",
    "pam_ion_relay_registrations_total": "counter",
    "pam_ion_relay_callbacks_total": "counter",
    "pam_ion_relay_results_delivered_total": "counter",
    "pam_ion_relay_expirations_total": "counter",
    "pam_ion_relay_rejections_total": "counter",
}

B64URL_RE = re.compile(r"^[A-Za-z0-9_-]+$")
LISTEN_RE = re.compile(r"listening on (\[[0-9A-Fa-f:.]+\]|[0-9.]+):(\d+)")


def next_log_second():
    """Sleeps into the next second of CLOCK_MONOTONIC (Python's monotonic
    clock on Linux, and the one the relay's log rate limit counts in), so
    a test starts with that second's lines unused."""
    time.sleep(1.0 - time.monotonic() % 1.0 + 0.02)


def relay_bin():
    return os.environ.get("RELAY_BIN") or DEFAULT_BIN


# ---------------------------------------------------------------- the store

STORE = os.environ.get("RELAY_STORE") or "memory"
if STORE not in ("memory", "redis"):
    raise RuntimeError("RELAY_STORE=%r: want memory or redis" % STORE)
ON_REDIS = STORE == "redis"

_redis = None
_prefixes = itertools.count(1)


def redis_server():
    """The redis-server of this test process, started at the first call
    and stopped (its directory removed) at exit."""
    global _redis
    if _redis is None:
        _redis = RedisServer()
        atexit.register(_redis.__exit__, None, None, None)
    return _redis


def store_args(args=()):
    """What a relay started with args gets for the store: nothing for the
    memory store or when args name --store already; else --store with
    this process's redis-server and a --store-prefix no other relay of the
    process has."""
    if not ON_REDIS or any(str(a).startswith("--store") for a in args):
        return []
    prefix = "pam_ion_test:%d.%d:" % (os.getpid(), next(_prefixes))
    return ["--store", redis_server().url, "--store-prefix", prefix]


def store_prefix(args):
    """The --store-prefix in args, or None."""
    args = [str(a) for a in args]
    for i, a in enumerate(args):
        if a == "--store-prefix" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--store-prefix="):
            return a.split("=", 1)[1]
    return None


def memory_store_only(why):
    """Skips a test (or class) under RELAY_STORE=redis: why says what of
    the memory store it is about."""
    return unittest.skipIf(ON_REDIS, "memory store only: " + why)


# ---------------------------------------------------------------- client keys

class Client:
    """A PAM host as the relay knows it: NAME and SHA-256 of its key."""

    def __init__(self, name, key=None):
        self.name = name
        self.key = key if key is not None else b64url(os.urandom(32))
        self.hash = key_hash(self.key)

    @property
    def line(self):
        return "%s %s\n" % (self.name, self.hash)


CLIENT_A = Client("host-a.example")
CLIENT_B = Client("host-b.example")
DEFAULT = object()
# The header line raw requests to /v1 carry.
KEY_LINE = "%s: %s\r\n" % (KEY_HEADER, CLIENT_A.key)


def write_keys_file(text, mode=0o600, directory=None, name="clients"):
    """Writes a keys file (mode as given) in directory, or in a fresh
    temporary one; returns its path."""
    if directory is None:
        directory = tempfile.mkdtemp(prefix="relay-keys-")
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def replace_keys_file(path, text, mode=0o600):
    """Replaces a keys file atomically, as an administrator's editor or
    configuration tool would."""
    tmp = path + ".new"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.rename(tmp, path)


def with_key(path, headers, key):
    """headers for a request to path: /v1 requests get key unless headers
    name PAM-Ion-Client-Key already (None there sends none)."""
    h = dict(headers or {})
    named = [k for k in h if k.lower() == KEY_HEADER.lower()]
    if not named and path.startswith("/v1/") and key is not None:
        h[KEY_HEADER] = key
    for k in named:
        if h[k] is None:
            del h[k]
    return h


# ---------------------------------------------------------------- identifiers

# Every poll secret made here, by its state: registrations of a state made
# by new_secret() carry its secret as the relay requires, unless a test says
# otherwise.
SECRETS = {}


def new_secret():
    """A poll secret: (bearer value B, state S)."""
    raw = os.urandom(32)
    secret, state = b64url(raw), state_of_raw(raw)
    SECRETS[state] = secret
    return secret, state


def state_of_raw(raw):
    return b64url(hashlib.sha256(raw).digest())


def state_of_secret(secret):
    raw = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    return state_of_raw(raw)


def confirmation_code(state, code):
    d = hashlib.sha256(b"pam_ion-confirm" + state.encode("ascii")
                       + code.encode("ascii")).digest()
    return "%06d" % (int.from_bytes(d[:4], "big") % 1000000)


def nonce_of_state(state):
    """The nonce the relay requires for state S:
    b64url(SHA-256("pam_ion-nonce" || S))."""
    return b64url(hashlib.sha256(b"pam_ion-nonce"
                                 + state.encode("ascii")).digest())


def authorize_url(state, prefix=PREFIX, path="/authorize", extra="",
                  nonce=None, scope="openid+profile+email"):
    """An authorize URL under prefix as the module builds one (request_params
    in src/oidc.c): its eight parameters in its order, spaces as '+', with
    exactly one state=S and the nonce that belongs to S.  scope is put in
    as given (already encoded); extra is added after it."""
    if nonce is None:
        nonce = nonce_of_state(state)
    return (prefix + path + "?response_type=code&client_id=pam-test"
            "&redirect_uri=https%3A%2F%2Frelay.example%2Fcallback"
            "&scope=" + scope + extra + "&state=" + state
            + "&nonce=" + nonce
            + "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
            "&code_challenge_method=S256")


def default_context():
    return {"host": "build01.example", "service": "sshd", "user": "alice",
            "rhost": "192.0.2.7"}


# ---------------------------------------------------------------- HTTP

class Response:
    def __init__(self, status, reason, headers, body, elapsed):
        self.status = status
        self.reason = reason
        self.headers = headers          # list of (name, value)
        self.body = body
        self.elapsed = elapsed

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<Response %d %r %r>" % (self.status, self.headers,
                                        self.body[:300])


def request(port, method, path, body=None, headers=None, host="127.0.0.1",
            timeout=30.0):
    if isinstance(body, str):
        body = body.encode("utf-8")
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    t0 = time.monotonic()
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.reason, r.getheaders(), data,
                        time.monotonic() - t0)
    finally:
        conn.close()


def raw_exchange(port, data, timeout=5.0, host="127.0.0.1"):
    """Send raw bytes, read until the server closes or timeout.

    Returns (bytes received, closed_by_server)."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        buf = b""
        if data:
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass        # answered and closed early: read what came

        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return buf, False
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return buf, False
            except (ConnectionResetError, BrokenPipeError):
                return buf, True
            if not chunk:
                return buf, True
            buf += chunk
    finally:
        s.close()


def status_of(raw):
    m = re.match(rb"HTTP/1\.[01] (\d{3})", raw)
    return int(m.group(1)) if m else None


# ---------------------------------------------------------------- relay

class RelayError(Exception):
    pass


class Relay:
    """One running relay process."""

    def __init__(self, args=(), public_url=PUBLIC_URL, prefixes=(PREFIX,),
                 listen="127.0.0.1:0", shell_prefix=None, client_keys=DEFAULT,
                 key=DEFAULT):
        """client_keys: a keys file's path, None for no --client-keys, or
        by default a fresh file with CLIENT_A and CLIENT_B.  key: what /v1
        requests send by default (CLIENT_A's key).  Under RELAY_STORE=redis
        store_args() are added (self.store_args; self.store_prefix is the
        prefix its keys have in Redis, None with the memory store)."""
        self.public_url = public_url
        self.prefixes = list(prefixes)
        self._keys_dir = None
        if client_keys is DEFAULT:
            client_keys = write_keys_file(CLIENT_A.line + CLIENT_B.line)
            self._keys_dir = os.path.dirname(client_keys)
        self.keys_path = client_keys
        self.key = CLIENT_A.key if key is DEFAULT else key
        argv = [relay_bin()]
        if client_keys is not None:
            argv += ["--client-keys", client_keys]
        if listen is not None:
            argv += ["--listen", listen]
        if public_url is not None:
            argv += ["--public-url", public_url]
        for p in prefixes:
            argv += ["--authorize-url-prefix", p]
        argv += list(args)
        self.store_args = store_args(args)
        argv += self.store_args
        self.store_prefix = store_prefix(argv) if ON_REDIS else None
        self.argv = argv
        if shell_prefix:
            argv = ["/bin/sh", "-c", shell_prefix + ' && exec "$0" "$@"'] + argv
        self.logs = []
        self._links = {}        # state -> link id of its latest login
        self._lock = threading.Lock()
        self._listening = threading.Event()
        self._eof = threading.Event()
        self.addr = None
        self.port = None
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self._out = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        self._outreader = threading.Thread(target=self._drain_out,
                                           daemon=True)
        self._outreader.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._listening.is_set():
            if self._eof.is_set() or self.proc.poll() is not None:
                self._eof.wait(1)
                self._remove_keys()
                raise RelayError("relay exited before listening (rc=%r): %s"
                                 % (self.proc.wait(1), self.log_text()))
            if time.monotonic() > deadline:
                self.kill()
                raise RelayError("no 'listening on' line within %.0f s: %s"
                                 % (START_TIMEOUT, self.log_text()))
            self._listening.wait(0.05)
        host = self.addr.strip("[]")
        if host in ("0.0.0.0",):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        self.host = host
        if self.store_args:
            self._wait_store(deadline)

    def _wait_store(self, deadline):
        """Waits until the store is up, so a test starts with a working
        relay.  The relay tries Redis once before it listens and logs
        "store ... connected"; only without that line is /healthz asked
        (a connection a test with --max-connections-per-ip 1 would trip
        over while the relay has not yet seen it closed)."""
        if any(line.startswith(LOG_PREFIX + "store ")
               and " connected" in line for line in self.log_lines()):
            return
        last = None
        while time.monotonic() < deadline:
            try:
                last = request(self.port, "GET", "/healthz", host=self.host,
                               timeout=2.0)
                if last.status == 200:
                    return
            except OSError as e:
                last = e
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.kill()
        raise RelayError("the relay's store was not up within %.0f s "
                         "(/healthz: %r): %s" % (START_TIMEOUT, last,
                                                 self.log_text()))

    def _drain(self):
        for line in iter(self.proc.stderr.readline, b""):
            text = line.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self.logs.append(text)
            if not self._listening.is_set():
                m = LISTEN_RE.search(text)
                if m:
                    self.addr = m.group(1)
                    self.port = int(m.group(2))
                    self._listening.set()
        self._eof.set()

    def _drain_out(self):
        for line in iter(self.proc.stdout.readline, b""):
            self._out.append(line.decode("utf-8", "replace"))

    def log_text(self):
        with self._lock:
            return "\n".join(self.logs)

    def log_lines(self):
        with self._lock:
            return list(self.logs)

    def wait_log(self, needle, timeout=3.0):
        """The relay writes a line before it answers, but another thread
        here reads it: waits until a line holds needle; returns the log."""
        deadline = time.monotonic() + timeout
        while needle not in self.log_text() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.log_text()

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signal the relay and return its exit status (None if it hung)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = None
        self._reader.join(2)
        self._outreader.join(2)
        self._remove_keys()
        for f in (self.proc.stdout, self.proc.stderr):
            if not f.closed:
                try:
                    f.close()
                except OSError:
                    pass
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._reader.join(2)
        self._outreader.join(2)
        self._remove_keys()

    def _remove_keys(self):
        if self._keys_dir is not None:
            shutil.rmtree(self._keys_dir, ignore_errors=True)
            self._keys_dir = None

    def reload(self, text=None, wait_for=None, timeout=5.0):
        """Rewrites the keys file (when text is given), sends SIGHUP and
        waits for the relay's "SIGHUP:" log line; returns that line."""
        if text is not None:
            replace_keys_file(self.keys_path, text)
        n0 = sum(1 for l in self.log_lines() if "SIGHUP: " in l)
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = [l for l in self.log_lines() if "SIGHUP: " in l]
            if len(lines) > n0:
                return lines[-1]
            time.sleep(0.01)
        raise AssertionError("no SIGHUP line in the log: "
                             + self.log_text()[-2000:])

    # -- HTTP conveniences
    def req(self, method, path, body=None, headers=None, timeout=30.0):
        return request(self.port, method, path, body,
                       with_key(path, headers, self.key), host=self.host,
                       timeout=timeout)

    def get(self, path, headers=None, timeout=30.0):
        return self.req("GET", path, headers=headers, timeout=timeout)

    def register_raw(self, body, content_type="application/json",
                     headers=None):
        """POST body as is.  When headers name no Authorization and the
        body's state came from new_secret(), its secret goes along."""
        h = {}
        if content_type is not None:
            h["Content-Type"] = content_type
        if headers is None:
            try:
                state = json.loads(body).get("state")
                if isinstance(state, str) and state in SECRETS:
                    h["Authorization"] = "Bearer " + SECRETS[state]
            except (ValueError, AttributeError, TypeError, RecursionError):
                pass
        h.update(headers or {})
        return self.req("POST", "/v1/logins", body=body, headers=h)

    def register(self, state=None, url=None, context=None, confirm=None,
                 extra=None, drop=(), secret=None, bearer=None):
        """POST /v1/logins with a well-formed body, optionally altered.
        The poll secret goes along as Authorization: Bearer (bearer
        overrides the header value; bearer="" sends none).

        Returns (response, Login)."""
        if state is None and secret is None:
            secret, state = new_secret()
        elif state is None:
            state = state_of_secret(secret)
        elif secret is None and isinstance(state, str):
            secret = SECRETS.get(state)
        if url is None:
            url = authorize_url(state, self.prefixes[0])
        doc = {"state": state, "authorize_url": url,
               "context": default_context() if context is None else context}
        if confirm is not None:
            doc["confirm"] = confirm
        if extra:
            doc.update(extra)
        for k in drop:
            doc.pop(k, None)
        if bearer is None:
            bearer = secret
        headers = {"Authorization": "Bearer " + bearer} if bearer else {}
        r = self.register_raw(json.dumps(doc), headers=headers)
        login = Login(self, secret, state, url, r)
        if login.id is not None and isinstance(state, str):
            self._links[state] = login.id
        return r, login

    def register_with(self, key, **kw):
        """register() sending this client key (None: no key at all)."""
        old, self.key = self.key, key
        try:
            return self.register(**kw)
        finally:
            self.key = old

    def new_login(self, **kw):
        r, login = self.register(**kw)
        if r.status != 201:
            raise AssertionError("registration failed: %r" % (r,))
        return login

    DELIVERY_LINES = (": result collected",
                      ": the result did not reach the module")

    def _deliveries(self, link):
        marks = tuple("login " + link + d for d in self.DELIVERY_LINES)
        return sum(1 for line in self.log_lines()
                   if any(m in line for m in marks))

    def poll(self, secret, wait=None, headers=None, timeout=40.0):
        """GET /v1/logins/result.  A 200 answer is a result the relay
        forgets only once it has sent the answer whole, a moment after the
        client has it: for a login registered through register(), this
        waits (up to 3 s) for the relay's log line that says how that
        went, so that the next request sees the login gone."""
        path = "/v1/logins/result"
        if wait is not None:
            path += "?wait=" + str(wait)
        h = {}
        if secret is not None:
            h["Authorization"] = "Bearer " + secret
        h.update(headers or {})
        link = None
        if secret is not None:
            try:
                link = self._links.get(state_of_secret(secret))
            except (ValueError, TypeError):
                link = None
        n0 = self._deliveries(link) if link else 0
        r = self.get(path, headers=h, timeout=timeout)
        if r.status == 200 and link:
            deadline = time.monotonic() + 3.0
            while (self._deliveries(link) <= n0
                   and time.monotonic() < deadline):
                time.sleep(0.005)
        return r

    def callback(self, params, timeout=30.0):
        """params: list of (name, value) pairs or a raw query string."""
        if isinstance(params, str):
            q = params
        else:
            q = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
        return self.get("/callback?" + q, timeout=timeout)

    def metrics(self):
        r = self.get("/metrics")
        if r.status != 200:
            raise AssertionError("GET /metrics: %r" % (r,))
        return Metrics(r.text)

    def metric(self, name, **labels):
        return self.metrics().value(name, **labels)

    def wait_metric(self, name, want, timeout, **labels):
        """Poll /metrics until name == want; return the last value seen."""
        deadline = time.monotonic() + timeout
        while True:
            v = self.metric(name, **labels)
            if v == want or time.monotonic() > deadline:
                return v
            time.sleep(0.05)


class Login:
    def __init__(self, relay, secret, state, url, resp):
        self.relay = relay
        self.secret = secret
        self.state = state
        self.url = url
        self.resp = resp
        self.link = self.path = self.id = None
        if resp.status == 201:
            doc = resp.json()
            self.link = doc.get("link")
            self.expires_in = doc.get("expires_in")
            if isinstance(self.link, str) and self.link.startswith(
                    relay.public_url.rstrip("/") + "/l/"):
                self.id = self.link[len(relay.public_url.rstrip("/") + "/l/"):]
                self.path = "/l/" + self.id

    def poll(self, wait=None, **kw):
        return self.relay.poll(self.secret, wait, **kw)

    def callback_code(self, code, iss=None):
        p = [("state", self.state), ("code", code)]
        if iss is not None:
            p.append(("iss", iss))
        return self.relay.callback(p)


class Poller(threading.Thread):
    """A poll running in the background; .resp / .exc / .elapsed when done."""

    def __init__(self, relay, secret, wait, timeout=40.0):
        super().__init__(daemon=True)
        self.relay, self.secret, self.wait = relay, secret, wait
        self.timeout = timeout
        self.resp = self.exc = None
        self.t_done = None

    def run(self):
        self.t_start = time.monotonic()
        try:
            self.resp = self.relay.poll(self.secret, self.wait,
                                        timeout=self.timeout)
        except Exception as e:      # noqa: BLE001 - reported by the test
            self.exc = e
        self.t_done = time.monotonic()

    @property
    def elapsed(self):
        return self.t_done - self.t_start


def wait_parked(relay, want, timeout=3.0):
    return relay.wait_metric("pam_ion_relay_parked_polls", want, timeout)


# ---------------------------------------------------------------- metrics

SAMPLE_RE = re.compile(
    r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)(\s+-?\d+)?$")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Metrics:
    def __init__(self, text):
        self.text = text
        self.types = {}
        self.samples = {}       # (name, frozenset(labels)) -> float
        self.bad_lines = []
        for line in text.splitlines():
            if not line.strip():
                continue
            if line.startswith("#"):
                parts = line.split(None, 3)
                if len(parts) >= 4 and parts[1] == "TYPE":
                    self.types[parts[2]] = parts[3].strip()
                continue
            m = SAMPLE_RE.match(line)
            if not m:
                self.bad_lines.append(line)
                continue
            labels = frozenset(LABEL_RE.findall(m.group(2) or ""))
            try:
                self.samples[(m.group(1), labels)] = float(m.group(3))
            except ValueError:
                self.bad_lines.append(line)

    def value(self, name, **labels):
        return self.samples.get((name, frozenset(labels.items())))

    def rejections(self):
        return {r: self.value("pam_ion_relay_rejections_total", reason=r)
                for r in REJECTION_REASONS}


# ---------------------------------------------------------------- HTML

class Page(html.parser.HTMLParser):
    """Collects what the page tests look at."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input",
            "link", "meta", "source", "track", "wbr"}

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags = []          # (tag, dict(attrs))
        self.texts = []
        self.anchors = []       # [href, text]
        self.ids = {}           # id -> text inside
        self._open_a = None
        self._id_stack = []     # [id, depth, [text]]
        self._depth = 0
        self._skip = 0          # inside <style>/<script>: not page text
        self.feed(text)
        self.close()
        self.text = " ".join(" ".join(self.texts).split())

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag in ("style", "script"):
            self._skip += 1
        if tag == "a":
            self._open_a = [a.get("href"), []]
            self.anchors.append(self._open_a)
        if tag not in self.VOID:
            self._depth += 1
            if "id" in a:
                self._id_stack.append([a["id"], self._depth, []])

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in ("style", "script") and self._skip:
            self._skip -= 1
        if tag == "a" and self._open_a is not None:
            self._open_a[1] = " ".join("".join(self._open_a[1]).split())
            self._open_a = None
        while self._id_stack and self._id_stack[-1][1] >= self._depth:
            i, _, t = self._id_stack.pop()
            self.ids[i] = "".join(t)
        if tag not in self.VOID:
            self._depth -= 1

    def handle_data(self, data):
        if self._skip:
            return
        self.texts.append(data)
        if self._open_a is not None:
            self._open_a[1].append(data)
        for entry in self._id_stack:
            entry[2].append(data)


def norm_text(s):
    """Page text compared loosely: case, whitespace and curly quotes."""
    return " ".join(s.replace("\u2019", "'").split()).lower()


# ---------------------------------------------------------------- test base

class RelayTestCase(unittest.TestCase):
    """One relay per test class: set relay_args / public_url / prefixes."""

    relay_args = ()
    public_url = PUBLIC_URL
    prefixes = (PREFIX,)

    @classmethod
    def setUpClass(cls):
        cls.relay = Relay(cls.relay_args, public_url=cls.public_url,
                          prefixes=cls.prefixes)

    @classmethod
    def tearDownClass(cls):
        rc = cls.relay.stop()
        if rc != 0:
            raise AssertionError("relay did not exit 0 on SIGTERM (rc=%r); "
                                 "stderr:\n%s" % (rc, cls.relay.log_text()[-4000:]))

    def assertSecurityHeaders(self, r, what=""):
        for name, want in SECURITY_HEADERS.items():
            got = r.header_all(name)
            self.assertEqual(got, [want], "%s header %s on %s %r"
                             % (what, name, r.status, r))

    def assertJsonError(self, r, status, error=None):
        self.assertEqual(r.status, status, r)
        ct = r.header("Content-Type", "")
        self.assertEqual(ct.split(";")[0].strip().lower(), "application/json",
                         r)
        doc = r.json()
        self.assertIsInstance(doc, dict, r)
        self.assertIn("error", doc, r)
        self.assertIn("error_description", doc, r)
        self.assertIsInstance(doc["error_description"], str, r)
        if error is not None:
            if isinstance(error, (tuple, list, set)):
                self.assertIn(doc["error"], error, r)
            else:
                self.assertEqual(doc["error"], error, r)
        return doc

    def assertHtml(self, r, status):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.header("Content-Type", "").lower().replace(" ", ""),
                         "text/html;charset=utf-8", r)
        return Page(r.text)
