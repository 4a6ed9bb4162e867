"""Shared pieces of the fail-closed matrix (test_module_hostile_*.py) and the
attack tests (test_module_attack.py): a base class whose one assertion says
what "fails closed" means for a run, people who act on the link the module
shows, a scriptable fake relay (it records the PAM-Ion-Client-Key of every
request), a small certificate authority (openssl CLI), and a client of the
relay's /v1 API with a chosen key (RelayLogin: an attacker's own login, or
one registered as the module would).

Fails closed, for every hostile case:
- the PAM code is the expected failure, never PAM_SUCCESS or PAM_IGNORE,
  and pamdrive exits 1;
- the result comes within login_timeout plus a little (and, where a case
  says so, much sooner: within http_timeout for a hung server);
- exactly one syslog line, the module's, at LOG_NOTICE, naming the reason,
  and no secret in it: not the client secret, the authorization code, the
  state, the confirmation code or anything typed, nothing like a JWT or
  any long token-like string (moduletest.ModuleTestCase.assertNoSecrets),
  and, where a fake relay saw it, not the poll secret.
"""

import hashlib
import http.server
import json
import os
import socket
import subprocess
import threading
import time
import urllib.parse

from moduletest import (CLIENT_ID, KEY_HEADER, LOG_ERR, PAM_SUCCESS, Relay,
                        ModuleTestCase, Person, free_port, relay_headers)
import phone  # noqa: E402  (tests/provider, on the path through moduletest)
from stand.daemons import b64url as b64  # noqa: E402  (through moduletest)
from stand.proc import http as http_json  # noqa: E402

PAM_IGNORE = 25
SLACK_S = 3.0  # "a little" past login_timeout
# prompt = auto, confirm = no: honoured only for a login at a local terminal
# (neither PAM_RHOST nor PAM_RUSER, PAM_TTY a console), so the cases that use
# it run with rhost=None, tty=CONSOLE.
# They are the cases where whatever the relay hands over goes straight to
# the token exchange, with nobody to type a confirmation code.
AUTO_LOCAL = {"prompt": "auto", "confirm": "no"}
# What the hostile setups use unless a case says otherwise: short enough
# that a hung server costs seconds, long enough for a loaded machine.
LOGIN_TIMEOUT = 30
HTTP_TIMEOUT = 3
# login.c's RELAY_BLIP_MAX_MS: how long the module polls a relay that fails
# every poll for now (busy, restarting, gone) before it takes it for down.
RELAY_BLIP_S = 10.0


class HostileCase(ModuleTestCase):
    """ModuleTestCase with the fail-closed assertion."""

    def hsetup(self, options=None, **kw):
        """A setup with login_timeout 30 and http_timeout 3 (unless
        options say otherwise)."""
        opts = {"login_timeout": str(LOGIN_TIMEOUT),
                "http_timeout": str(HTTP_TIMEOUT)}
        opts.update(options or {})
        return self.setup(options=opts, **kw)

    def login_timeout_of(self, out):
        return int(out.setup.options.get("login_timeout", "110"))

    def assertFailsClosed(self, out, code, reason, user="alice",
                          within=None):
        """out failed with PAM code `code` (never 0 or 25), in time, with
        exactly one syslog line naming `reason` (a regular expression
        for the start of the reason) and free of secrets."""
        self.assertNotIn(code, (PAM_SUCCESS, PAM_IGNORE))
        self.check(out, out.code not in (PAM_SUCCESS, PAM_IGNORE),
                   "FAIL OPEN: PAM code %s %s" % (out.code, out.code_name))
        self.assertResult(out, code)
        limit = self.login_timeout_of(out) + SLACK_S
        self.check(out, out.elapsed <= limit,
                   "the result took %.1f s, login_timeout + %.0f s is %.0f s"
                   % (out.elapsed, SLACK_S, limit))
        if within is not None:
            self.check(out, out.elapsed <= within,
                       "the result took %.1f s, expected at most %.1f s" %
                       (out.elapsed, within))
        return self.assertFailedLog(out, user, reason)

    def assertConfigFailure(self, out, pattern):
        """PAM_SERVICE_ERR before anything is shown, one LOG_ERR line
        'configuration: ...' matching pattern, no secret."""
        self.check(out, out.code not in (PAM_SUCCESS, PAM_IGNORE),
                   "FAIL OPEN: PAM code %s" % out.code)
        self.assertResult(out, 3)
        self.check(out, out.events == [], "something was shown or asked")
        self.check(out, out.elapsed < 5.0, "took %.1f s" % out.elapsed)
        return self.assertOneLog(out, r"^configuration: " + pattern, LOG_ERR)

    def own_relay(self):
        d = os.path.join(self.stack.dir, "relay-%d" % time.monotonic_ns())
        os.mkdir(d)
        r = Relay(d, closed_port(),
                  self.provider.issuer + "/oauth2/authorize",
                  keys=self.relay.keys)
        self.addCleanup(r.stop)
        return r

    def dies_while_parked(self, sig, then=None):
        """The relay gets sig 1.5 s after the link is shown (the module's
        poll is parked by then); then(relay), if given, once it is gone."""
        relay = self.own_relay()

        def act(link):
            time.sleep(1.5)  # the module's poll is parked by now
            relay.proc.send_signal(sig)
            relay.proc.wait(10)
            if then is not None:
                then(relay)
            return relay.proc.returncode

        s = self.hsetup({"prompt": "auto", "relay_url": relay.url})
        p = Actor(act)
        out = s.run(p)
        self.check(out, p.act_error is None, "actor: %s" % p.act_error)
        self.check(out, len(out.infos) >= 1, "no QR code was shown")
        return out

    def misbehave(self, spec):
        return self.provider.misbehave(spec)

    def signing_kid(self, kty):
        for k in self.provider.stats()["signing_keys"]:
            if k["kty"] == kty:
                return k["kid"]
        raise AssertionError("the provider signs with no %s key" % kty)

    def assertApplied(self, out, token=0, endpoint=0):
        """The queued misbehaviours were used (the case tested what it
        says it tested)."""
        st = self.provider.stats()
        self.check(out, len(st["misbehaviours_applied"]) == token and
                   st["misbehaviours_pending"] == 0,
                   "token misbehaviours applied %r, pending %d" % (
                       st["misbehaviours_applied"],
                       st["misbehaviours_pending"]))
        self.check(out, len(st["endpoint_misbehaviours_applied"]) >=
                   endpoint and st["endpoint_misbehaviours_pending"] == 0,
                   "endpoint misbehaviours applied %r, pending %d" % (
                       st["endpoint_misbehaviours_applied"],
                       st["endpoint_misbehaviours_pending"]))
        return st


# ---------------------------------------------------------------- people

class Actor(Person):
    """A person (as moduletest.Person) plus `act(link)`, run in a thread as
    soon as the link is shown: what an attacker (or a test) does with it.
    Exceptions in act are kept in act_error and reported by the test."""

    def __init__(self, act, **kw):
        kw.setdefault("login", None)
        kw.setdefault("answers", [])
        super().__init__(**kw)
        self._act = act
        self.act_error = None
        self.act_result = None
        self._act_thread = None

    def saw_link(self, link):
        super().saw_link(link)
        self._act_thread = threading.Thread(target=self._run, args=(link,),
                                            daemon=True)
        self._act_thread.start()

    def _run(self, link):
        try:
            self.act_result = self._act(link)
        except Exception as e:  # noqa: BLE001  (reported by the test)
            self.act_error = "%s: %s" % (type(e).__name__, e)

    def wait_phone(self, timeout=30):
        super().wait_phone(timeout)
        if self._act_thread is not None:
            self._act_thread.join(timeout)


def authorize_url_of(link):
    """The authorize URL behind a relay short link (its landing page's
    continue button), and its query as a dict."""
    status, _, body = phone.Phone().fetch(link)
    if status != 200:
        raise AssertionError("the link answered %d" % status)
    hrefs = [h for cls, h in phone._parse(body).links
             if "btn" in cls.split()]
    if len(hrefs) != 1:
        raise AssertionError("landing page with %d buttons" % len(hrefs))
    url = urllib.parse.urljoin(link, hrefs[0])
    return url, dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def deliver_callback(relay_url, params):
    """GET {relay}/callback?params as a browser would; (status, text)."""
    status, _, body = phone.Phone().fetch(
        relay_url + "/callback?" + urllib.parse.urlencode(params))
    return status, body


def nonce_of(state):
    """N(S) = b64url(SHA-256("pam_ion-nonce" || S))."""
    return b64(hashlib.sha256(b"pam_ion-nonce" + state.encode()).digest())


def relay_request(method, url, key=None, secret=None, body=None,
                  timeout=10.0):
    """One /v1 request as a client of the relay would send it (key None:
    no PAM-Ion-Client-Key header); (status, parsed JSON or text)."""
    return http_json(method, url, body, timeout, relay_headers(key, secret))


class RelayLogin:
    """A login as a client of the relay makes one: poll secret P, state
    S = b64url(SHA-256(P)), nonce N(S), a PKCE verifier, and the authorize
    URL (plain, or any URL a test gives).  register() and poll() speak the
    relay's /v1 API with a chosen key."""

    def __init__(self, relay_url, authorize_endpoint, redirect_uri,
                 key=None, host="attacker", user="mallory"):
        self.relay_url = relay_url
        self.key = key
        raw = os.urandom(32)
        self.secret = b64(raw)
        self.state = b64(hashlib.sha256(raw).digest())
        self.nonce = nonce_of(self.state)
        self.verifier = b64(os.urandom(32))
        self.params = {
            "response_type": "code", "client_id": CLIENT_ID,
            "redirect_uri": redirect_uri, "scope": "openid profile email",
            "state": self.state, "nonce": self.nonce,
            "code_challenge": b64(hashlib.sha256(
                self.verifier.encode()).digest()),
            "code_challenge_method": "S256"}
        self.authorize_url = (authorize_endpoint + "?" +
                              urllib.parse.urlencode(self.params))
        self.context = {"host": host, "user": user, "rhost": "",
                        "service": "x"}
        self.link = None

    def register(self, key="default", authorize_url=None, confirm=False):
        """POST /v1/logins; (status, answer).  key "default" is this
        login's key, None sends none."""
        st, ans = relay_request(
            "POST", self.relay_url + "/v1/logins",
            self.key if key == "default" else key, self.secret,
            {"state": self.state,
             "authorize_url": authorize_url or self.authorize_url,
             "confirm": confirm, "context": self.context})
        if st == 201 and isinstance(ans, dict):
            self.link = ans.get("link")
        return st, ans

    def poll(self, key="default", wait=0, secret=None):
        """GET /v1/logins/result?wait=N; (status, answer)."""
        return relay_request(
            "GET", self.relay_url + "/v1/logins/result?wait=%d" % wait,
            self.key if key == "default" else key,
            secret or self.secret, timeout=wait + 10.0)


def attacker_login(relay_url, authorize_endpoint, redirect_uri, key):
    """An attacker's own, well-formed login at the relay (as the module
    registers one), with a relay key the attacker holds (another host's):
    returns its state S.  Its poll secret stays here."""
    login = RelayLogin(relay_url, authorize_endpoint, redirect_uri, key)
    st, ans = login.register()
    if st != 201:
        raise AssertionError("the relay refused the attacker's login: "
                             "%d %r" % (st, ans))
    return login.state


# ---------------------------------------------------------------- fake relay

class FakeRelay:
    """A loopback HTTP server that plays the relay badly.  `register` and
    `poll` are functions (handler) -> None that write the whole answer
    (see answer()); the default register answers a well-formed 201 with a
    link on this server."""

    def __init__(self, register=None, poll=None):
        self.register = register or self.good_register
        self.poll = poll or (lambda h: answer(h, 202, {"status": "pending"}))
        self.requests = []
        self.bearers = set()  # poll secrets the module sent (to look for)
        self.keys = []  # the PAM-Ion-Client-Key of every request
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def note_bearer(self):
                fake.keys.append(self.headers.get(KEY_HEADER))
                a = self.headers.get("Authorization") or ""
                if a.startswith("Bearer "):
                    fake.bearers.add(a[len("Bearer "):])

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                self.note_bearer()
                fake.requests.append(("POST", self.path))
                if self.path == "/v1/logins":
                    fake.register(self)
                else:
                    answer(self, 404, {"error": "no"})

            def do_GET(self):
                self.note_bearer()
                fake.requests.append(("GET", self.path))
                if self.path.startswith("/v1/logins/result"):
                    fake.poll(self)
                else:
                    answer(self, 404, {"error": "no"})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def good_register(self, h):
        answer(h, 201, {"link": self.link(), "expires_in": 300})

    def link(self, link_id="fakeLinkId0123456789"):
        """A short link under this relay's URL (the module refuses a link
        that is not under relay_url)."""
        return self.url + "/l/" + link_id

    def polls(self):
        return sum(1 for m, p in self.requests
                   if p.startswith("/v1/logins/result"))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def link_on(h, tail="fakeLinkId0123456789"):
    """A short link under the fake relay that h belongs to."""
    return "http://127.0.0.1:%d/l/%s" % (h.server.server_address[1], tail)


def answer(h, status, body, content_type="application/json"):
    """Write a whole answer: body a dict/list (JSON), str or bytes."""
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = body
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    try:
        h.wfile.write(data)
    except OSError:
        pass


def stall(seconds):
    """An answer that comes after `seconds` (the client is long gone)."""
    def f(h):
        time.sleep(seconds)
        answer(h, 500, "late")
    return f


# ---------------------------------------------------------------- TLS

class CertAuthority:
    """A throwaway CA and leaf certificates, made with the openssl CLI in
    workdir.  Leaves are for 127.0.0.1 unless told otherwise."""

    def __init__(self, workdir, name):
        self.dir = os.path.join(workdir, "ca-" + name)
        os.makedirs(self.dir, exist_ok=True)
        self.name = name
        self.key = self._p("ca.key")
        self.cert = self._p("ca.pem")
        self._run("req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-nodes", "-keyout", self.key,
                  "-out", self.cert, "-days", "2", "-subj",
                  "/CN=pam_ion test CA %s" % name,
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        # For `openssl ca` (needed for dates in the past).
        with open(self._p("index.txt"), "w"):
            pass
        with open(self._p("serial"), "w") as f:
            f.write("1000\n")

    def _p(self, name):
        return os.path.join(self.dir, name)

    def _run(self, *args):
        r = subprocess.run(["openssl"] + list(args), capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("openssl %s: %s" % (args[0], r.stderr))
        return r.stdout

    def leaf(self, label, san="IP:127.0.0.1", start=None, end=None):
        """(cert PEM path, key PEM path) signed by this CA.  start/end
        (YYYYMMDDHHMMSSZ) make a certificate valid at other times."""
        key, csr, crt = (self._p(label + ext)
                         for ext in (".key", ".csr", ".pem"))
        self._run("req", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                  "-out", csr, "-subj", "/CN=%s" % label)
        ext = self._p(label + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                    "extendedKeyUsage=serverAuth\n" % san)
        conf = self._p("ca.cnf")
        with open(conf, "w") as f:
            f.write("[ca]\ndefault_ca=test\n[test]\n"
                    "dir=%s\ndatabase=$dir/index.txt\nserial=$dir/serial\n"
                    "new_certs_dir=$dir\ncertificate=$dir/ca.pem\n"
                    "private_key=$dir/ca.key\ndefault_md=sha256\n"
                    "policy=anything\nunique_subject=no\n"
                    "[anything]\ncommonName=supplied\n" % self.dir)
        args = ["ca", "-batch", "-config", conf, "-in", csr, "-out", crt,
                "-extfile", ext, "-notext"]
        if start or end:
            args += ["-startdate", start or "20200101000000Z",
                     "-enddate", end or "20200102000000Z"]
        else:
            args += ["-days", "2"]
        self._run(*args)
        return crt, key


def read(path):
    with open(path) as f:
        return f.read()


def port_is_closed(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def closed_port():
    """A loopback port nothing listens on (as far as one can tell)."""
    for _ in range(20):
        p = free_port()
        if port_is_closed(p):
            return p
    raise RuntimeError("no closed port found")
