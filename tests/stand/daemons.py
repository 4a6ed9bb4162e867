"""The stand-in provider and the real relay on 127.0.0.1, and the relay's
client keys."""

import base64
import hashlib
import os
import re
import signal
import subprocess
import time

from stand.build import PROVIDER_DIR
from stand.files import write_private
from stand.proc import Daemon, Lines, StandError, http, request, \
    wait_healthy

KEY_HEADER = "PAM-Ion-Client-Key"
KEY_RE = re.compile(r"[A-Za-z0-9_-]{43}")


def b64url(raw):
    """base64url without padding, as text."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def key_hash(key):
    """What a --client-keys line holds for a key: SHA-256, lowercase hex."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def new_client_key(relay_bin, name):
    """A key made by `pam-ion-relay --new-client-key NAME`, its output
    checked: two lines, 'NAME SHA256HEX' (the hash of the key) and the key
    (43 base64url characters).  Returns (key, keys-file line)."""
    r = subprocess.run([relay_bin, "--new-client-key", name],
                       capture_output=True, text=True, timeout=20,
                       stdin=subprocess.DEVNULL)
    lines = r.stdout.splitlines()
    if r.returncode != 0 or len(lines) != 2:
        raise StandError("pam-ion-relay --new-client-key %s: status %d, "
                         "output %r, stderr %r" % (name, r.returncode,
                                                   r.stdout, r.stderr))
    line, key = lines
    if not KEY_RE.fullmatch(key):
        raise StandError("--new-client-key: the key %r is not 43 "
                         "base64url characters" % key[:8])
    if line != "%s %s" % (name, key_hash(key)):
        raise StandError("--new-client-key: the line %r is not 'NAME "
                         "SHA256(key)'" % line)
    return key, line


def keys_file_text(keys, extra_lines=()):
    """A --client-keys file: a comment, 'NAME SHA256HEX' per key (a dict
    name -> key), then extra_lines as they are."""
    lines = ["# pam-ion-relay client keys (tests/stand)"]
    lines += ["%s %s" % (n, key_hash(k)) for n, k in keys.items()]
    lines += list(extra_lines)
    return "\n".join(lines) + "\n"


def relay_headers(key=None, secret=None, json_body=False):
    """Headers of a /v1 request: the client key and the poll secret."""
    h = {}
    if key is not None:
        h[KEY_HEADER] = key
    if secret is not None:
        h["Authorization"] = "Bearer " + secret
    if json_body:
        h["Content-Type"] = "application/json"
    return h


class Provider(Daemon):
    """node tests/provider/provider.js on 127.0.0.1 (a port the kernel
    picks) with one client and its accounts (SUB:EMAIL:VERIFIED:NAME), and
    its /__test/ control API.  extra_args go to provider.js as they are
    (--auto-consent, --cache-control ..., --tls-cert ...); par: "off", "on"
    or "required" (--par; see set_par), None leaves provider.js's default.
    context: an ssl.SSLContext for the control API over https."""

    def __init__(self, workdir, client_id, client_secret, redirect_uri,
                 accounts, extra_args=(), par=None, name="provider",
                 provider_dir=PROVIDER_DIR, context=None,
                 start_timeout=20.0):
        super().__init__(name, workdir)
        self.context = context
        self.par = par or "off"
        argv = ["node", os.path.join(provider_dir, "provider.js"),
                "--port", "0", "--issuer-host", "127.0.0.1"]
        if par is not None:
            argv += ["--par", par]
        argv += ["--client", "%s:%s:%s" % (client_id, client_secret,
                                           redirect_uri)]
        for a in accounts:
            argv += ["--account", a]
        self.start(argv + list(extra_args), cwd=provider_dir)
        self.stdout = Lines(self.proc.stdout, start_timeout)
        try:
            line = self.stdout.get("the provider's first line")
        except StandError:
            line = ""
        m = re.match(r"provider listening on (https?://\S+)$", line)
        if not m:
            self.stop()
            raise StandError("provider did not start: %r\n%s" %
                             (line, self.logs()))
        self.issuer = m.group(1)
        self.log_offset = 0

    def control(self, method, path, body=None):
        """A /__test/ request; its JSON answer, StandError unless 200."""
        status, ans = http(method, self.issuer + "/__test/" + path, body,
                           context=self.context)
        if status != 200:
            raise StandError("provider %s %s: %d %r" % (method, path,
                                                        status, ans))
        return ans

    def stats(self):
        return self.control("GET", "stats")

    def reset(self):
        return self.control("POST", "reset", {})

    def rotate_keys(self, keep_old=False):
        return self.control("POST", "rotate-keys", {"keep_old": keep_old})

    def misbehave(self, spec):
        return self.control("POST", "misbehave", spec)

    def set_account(self, sub, claims=None, userinfo_only=(), acr=None,
                    amr=None):
        """The account's extras from now on (POST /__test/account): extra
        claims (a dict: in the id_token and at userinfo), the names of
        those (or of its own claims) it gives at userinfo only, the acr
        and amr its next sign-in reports.  What is not given is cleared;
        /__test/reset clears them all."""
        body = {"sub": sub, "claims": claims or {},
                "userinfo_only": list(userinfo_only)}
        if acr is not None:
            body["acr"] = acr
        if amr is not None:
            body["amr"] = list(amr)
        return self.control("POST", "account", body)

    def age_sessions(self, seconds):
        """Every session signed in `seconds` earlier than it was (its
        auth_time; max_age), as a phone that signed in long ago.  Returns
        how many sessions there are."""
        return self.control("POST", "age-sessions",
                            {"seconds": seconds})["sessions"]

    def set_par(self, par):
        """Pushed authorization requests from now on: "off", "on" (offered,
        discovery names the endpoint) or "required" (plain authorization
        requests refused).  Sessions, codes and keys stay."""
        ans = self.control("POST", "par", {"par": par})
        self.par = par
        return ans

    def discovery(self):
        status, doc = http("GET", self.issuer +
                           "/.well-known/openid-configuration",
                           context=self.context)
        if status != 200 or not isinstance(doc, dict):
            raise StandError("discovery: %d %r" % (status, doc))
        return doc

    def new_log_lines(self):
        """The lines of its log since the last call."""
        with open(self.errpath, encoding="utf-8", errors="replace") as f:
            f.seek(self.log_offset)
            text = f.read()
            self.log_offset = f.tell()
        return text.splitlines()


class Relay(Daemon):
    """The real pam-ion-relay on 127.0.0.1:port, answering /healthz, with a
    --client-keys file (workdir/relay-client-keys, root, 0600) of the
    named clients, each key made with --new-client-key.

    keys        name -> key of the relay's clients, when given instead of
                clients (a second relay of a test takes the first one's)
    keys_file   a --client-keys file to use as it is (keys then unknown)
    key         the first client's key (the one the module holds)
    extra_args  more options for the relay (--ttl ...)"""

    def __init__(self, binary, workdir, port, authorize_prefix,
                 clients=("host",), keys=None, keys_file=None,
                 extra_args=(), env=None, start_timeout=20.0):
        super().__init__("relay", workdir)
        self.binary = binary
        self.port = port
        self.url = "http://127.0.0.1:%d" % port
        if keys_file is not None:
            self.keys, self.key, self.keys_file = {}, None, keys_file
        else:
            if keys is None:
                keys = {n: new_client_key(binary, n)[0] for n in clients}
            self.keys = dict(keys)
            self.main = next(iter(self.keys))
            self.key = self.keys[self.main]
            self.keys_file = os.path.join(workdir, "relay-client-keys")
            self._write_keys(self.keys)
        self.start([binary, "--listen", "127.0.0.1:%d" % port,
                    "--public-url", self.url,
                    "--authorize-url-prefix", authorize_prefix,
                    "--client-keys", self.keys_file] + list(extra_args),
                   stdout=subprocess.DEVNULL, env=env)
        try:
            wait_healthy(self.url + "/healthz", self.proc, "the relay",
                         start_timeout, self.errpath)
        except StandError:
            self.stop()
            raise

    def _write_keys(self, keys, extra_lines=()):
        """Replaces the keys file at once (rename), root, 0600."""
        write_private(self.keys_file, keys_file_text(keys, extra_lines),
                      0o600, replace=True)

    def probe(self, key):
        """The status a poll for a login nobody registered gets with this
        key: 401 for a key the relay does not hold, 404 for one it does."""
        return http("GET", self.url + "/v1/logins/result?wait=0",
                    headers=relay_headers(key, b64url(os.urandom(32))),
                    timeout=5)[0]

    def set_keys(self, keys, timeout=10.0):
        """Rewrite the keys file with `keys` (name -> key), SIGHUP the
        relay, and wait until it answers by the new file: every key in it
        known (404 to a probe), every key of the old file that is not in it
        refused (401).  The new set becomes self.keys."""
        gone = [k for k in self.keys.values() if k not in keys.values()]
        self._write_keys(keys)
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while True:
            ok = (all(self.probe(k) == 404 for k in keys.values()) and
                  all(self.probe(k) == 401 for k in gone))
            if ok:
                break
            if self.proc.poll() is not None:
                raise StandError("the relay exited after SIGHUP:\n" +
                                 self.logs())
            if time.monotonic() > deadline:
                raise StandError("the relay did not take the new keys "
                                 "file within %.0f s:\n%s" % (
                                     timeout, self.logs()))
            time.sleep(0.1)
        self.keys = dict(keys)
        if self.main in keys:
            self.key = keys[self.main]

    def metrics(self):
        """/metrics as name -> value (the samples of a name with labels
        added up)."""
        status, text = request("GET", self.url + "/metrics")
        if status != 200:
            raise StandError("relay /metrics answered %d" % status)
        out = {}
        for line in text.splitlines():
            m = re.match(r"^(pam_ion_relay_[a-z_]+)(\{[^}]*\})? "
                         r"([0-9.e+]+)$", line)
            if m:
                out[m.group(1)] = out.get(m.group(1), 0) + \
                    float(m.group(3))
        return out
