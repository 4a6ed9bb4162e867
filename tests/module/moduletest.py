"""Module tests of pam_ion: the built pam_ion.so, loaded by the real libpam
through pamdrive, against the real relay and the stand-in provider
(tests/provider), with a scripted person at the terminal and the scripted
phone (tests/provider/phone.py).  Python 3 standard library only.

Paths come from the environment (the CMake test sets them; the defaults are
the in-tree build/):

    PAM_ION_MODULE      build/pam_ion.so
    PAMDRIVE            build/tests/module/pamdrive
    RELAY_BIN           build/src/relay/pam-ion-relay
    PROVIDER_DIR        tests/provider (npm ci must have run there)
    ION_SANITIZE        ON for an ASan/UBSan build (also assumed when the
                        module has ASan in it): sanitizer options are set,
                        any report on pamdrive's stderr fails the test, a
                        shared sanitizer runtime the loader cannot find
                        (clang -shared-libasan) gets its directory into
                        LD_LIBRARY_PATH, and when the module is instrumented
                        but pamdrive is not, the ASan runtime is preloaded
                        into pamdrive (LD_PRELOAD)
    ION_CC              the build's C compiler, to find those runtimes
                        (-print-file-name)
    PAM_ION_KEEP        set: keep the temporary directory (configs, logs)
    PAM_ION_SYSLOG      "global" forces the fallback described below

The relay runs with a --client-keys file of two clients, host1 (the
module's: every Setup writes its key into relay_key_file, root, 0600) and
host2 ("another PAM host", whose key the attack tests give the attacker);
the keys are made with `pam-ion-relay --new-client-key` (its output checked),
Relay.set_keys() rewrites the file and sends SIGHUP.  confirm = no is
honoured only for a login at a local terminal: Setup.run(rhost=None,
tty=CONSOLE) (and no ruser).

Run one file:   cd tests/module && python3 -B -m unittest -v test_module_signin
Run them all:   ctest --test-dir BUILD -L module -j2 --output-on-failure

The tests need root: the module refuses a configuration, a secret file, a
user map or a cache directory that root does not own.

Everything one run of the module logs with pam_syslog() is captured.  glibc's
syslog() writes to /dev/log, so pamdrive runs in a private mount namespace
(unshare -m) where /dev/log is a datagram socket this harness reads: when the
machine has a /dev/log, the socket is bind-mounted over it inside the
namespace only; when it has none, the namespace gets a small private /dev
(a tmpfs holding the few devices a PAM program needs, bind-mounted from the
real /dev, the console devices the module's device check looks at, made
there with their real numbers (tty1 4:1, console 5:1), and the socket as
/dev/log).  A run can also have files bind-mounted over devices in that
namespace (dev_binds), as a container's /dev has a pseudo-terminal over
/dev/tty1.  Nothing outside the namespace
changes, so test files can run in parallel with each other and with whatever
else the machine runs.  Without mount namespaces (no CAP_SYS_ADMIN) the
harness falls back to binding /dev/log itself for the run, when it is free,
and removes it afterwards.
"""

import atexit
import base64
import ctypes
import hashlib
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
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, "..", ".."))
BUILD = os.path.join(SRC, "build")


def _env_path(name, default):
    return os.path.abspath(os.environ.get(name) or default)


MODULE = _env_path("PAM_ION_MODULE", os.path.join(BUILD, "pam_ion.so"))
PAMDRIVE = _env_path("PAMDRIVE",
                     os.path.join(BUILD, "tests", "module", "pamdrive"))
RELAY_BIN = _env_path("RELAY_BIN",
                      os.path.join(BUILD, "src", "relay", "pam-ion-relay"))
PROVIDER_DIR = _env_path("PROVIDER_DIR",
                         os.path.join(SRC, "tests", "provider"))
CC = os.environ.get("ION_CC") or "cc"

sys.path.insert(0, PROVIDER_DIR)
import phone  # noqa: E402  (tests/provider/phone.py)

CLIENT_ID = "pam-test"
CLIENT_SECRET = "s3cret-Ku8vQ2pZ7mW4xR9t"
SERVICE = "ion-test"
RELAY_TTL = 300  # seconds a login stays at the relay (--ttl)
START_TIMEOUT = 20.0
RUN_TIMEOUT = 60.0

# Accounts at the provider: SUB:EMAIL:VERIFIED:NAME.
ACCOUNTS = [
    "alice:alice@example.org:true:Alice Example",
    "bob:bob@example.org:true:Bob Example",
    "carol:carol@example.org:true:Carol Unmapped",
    "dave:dave@example.org:false:Dave Unverified",
    "erin:erin@example.org:false:Erin By Sub",
]
USER_MAP = """\
# pam_ion test map: CLAIM-VALUE LOCAL-USER
alice@example.org alice
bob@example.org bob
dave@example.org dave
sub:erin erin
"""

# PAM_TTY of a login at the machine's own screen and keyboard (login(1) on
# the first virtual console; gdm sets it too): with neither PAM_RHOST nor
# PAM_RUSER, the one kind of login for which confirm = no is honoured.
CONSOLE = "/dev/tty1"

# PAM codes (Linux-PAM's _pam_types.h).
PAM_SUCCESS = 0
PAM_SERVICE_ERR = 3
PAM_SYSTEM_ERR = 4
PAM_BUF_ERR = 5
PAM_AUTH_ERR = 7
PAM_AUTHINFO_UNAVAIL = 9
PAM_USER_UNKNOWN = 10
PAM_CONV_ERR = 19

# What the module says (src/login.c, src/prompt.c).
PROMPT_CODE = "After signing in, type the code shown on your phone: "
PROMPT_ENTER = "After signing in on your phone, press Enter: "
PROMPT_AGAIN_CODE = ("Not signed in yet. Finish signing in on your phone, "
                     "then type the code shown there: ")
PROMPT_AGAIN_ENTER = ("Not signed in yet. Finish signing in on your phone, "
                      "then press Enter: ")
PROMPT_WRONG = "That code does not match. Type the code shown on your phone: "
# The message with the link: the short link alone on a line, and how long
# it stays valid.
LINK_LINE_RE = re.compile(r"^(https?://\S+/l/[A-Za-z0-9_-]+)$", re.M)
VALID_RE = re.compile(r"^The link is valid for (\d+) minutes?\.$", re.M)

SANITIZER_RE = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error:|"
                          r"SUMMARY: \w+Sanitizer")
SYSLOG_RE = re.compile(r"^<(\d+)>(\w{3} [ \d]\d \d\d:\d\d:\d\d) ([^:\[]*)"
                       r"(?:\[\d+\])?: (.*)$", re.S)
MODULE_LOG_RE = re.compile(r"^pam_ion\(([^:]*):auth\): (.*)$", re.S)
LOG_AUTHPRIV = 10
LOG_ERR, LOG_NOTICE, LOG_INFO = 3, 5, 6


def link_in(text):
    """The short link a message shows on a line of its own, or None."""
    m = LINK_LINE_RE.search(text)
    return m.group(1) if m else None


def log(*msg):
    print(*msg, file=sys.stderr, flush=True)


def requirements_missing():
    """Why the tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "the module tests need root (root-owned config files)"
    for p in (MODULE, PAMDRIVE, RELAY_BIN):
        if not os.access(p, os.X_OK if p != MODULE else os.R_OK):
            return "missing %s (build it first)" % p
    if not os.path.isdir(os.path.join(PROVIDER_DIR, "node_modules",
                                      "oidc-provider")):
        return "run 'npm ci' in %s first" % PROVIDER_DIR
    if shutil.which("node") is None:
        return "node is not installed"
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, timeout=10.0, headers=None):
    """(status, parsed JSON or text) of one request, no proxies."""
    data = None
    headers = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers,
                                 method=method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    text = raw.decode("utf-8", "replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def unescape(s):
    """pamdrive's escaping: newline as \\n, backslash as \\\\."""
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            out.append("\n" if s[i + 1] == "n" else s[i + 1])
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


# ---------------------------------------------------------------- processes

def _die_with_parent():
    """In the child: SIGTERM when the test process goes, however it goes
    (a ctest timeout kills it), so no provider or relay is left behind."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):  # PR_SET_PDEATHSIG is 1
        pass


class _Daemon:
    """A child process whose stderr is kept in a file (for failures)."""

    def __init__(self, name, workdir):
        self.name = name
        self.errpath = os.path.join(workdir, name + ".log")
        self.proc = None

    def logs(self, tail=60):
        try:
            with open(self.errpath, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-tail:])

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()
        self.proc = None


class Provider(_Daemon):
    """node tests/provider/provider.js with its /__test/ control API.
    par: "off" (the default), "on" or "required" (--par; see set_par)."""

    par = "off"  # (also for subclasses that start provider.js themselves)

    def __init__(self, workdir, redirect_uri, accounts=ACCOUNTS, par="off"):
        super().__init__("provider", workdir)
        args = ["node", os.path.join(PROVIDER_DIR, "provider.js"),
                "--port", "0", "--issuer-host", "127.0.0.1",
                "--par", par,
                "--client", "%s:%s:%s" % (CLIENT_ID, CLIENT_SECRET,
                                          redirect_uri)]
        for a in accounts:
            args += ["--account", a]
        err = open(self.errpath, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=err,
                                     cwd=PROVIDER_DIR,
                                     preexec_fn=_die_with_parent)
        err.close()
        line = self._first_line()
        m = re.match(r"provider listening on (http://\S+)$", line)
        if not m:
            self.stop()
            raise RuntimeError("provider did not start: %r\n%s" %
                               (line, self.logs()))
        self.issuer = m.group(1)
        self.par = par

    def _first_line(self):
        box = []
        t = threading.Thread(target=lambda: box.append(
            self.proc.stdout.readline().decode("utf-8", "replace").strip()),
            daemon=True)
        t.start()
        t.join(START_TIMEOUT)
        return box[0] if box else ""

    def control(self, method, path, body=None):
        status, ans = http(method, self.issuer + "/__test/" + path, body)
        if status != 200:
            raise RuntimeError("provider %s %s: %d %r" % (method, path,
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

    def set_par(self, par):
        """Pushed authorization requests from now on: "off", "on" (offered,
        discovery names the endpoint) or "required" (plain authorization
        requests refused).  Sessions, codes and keys stay."""
        ans = self.control("POST", "par", {"par": par})
        self.par = par
        return ans

    def discovery(self):
        status, doc = http("GET", self.issuer +
                           "/.well-known/openid-configuration")
        if status != 200 or not isinstance(doc, dict):
            raise RuntimeError("discovery: %d %r" % (status, doc))
        return doc


KEY_HEADER = "PAM-Ion-Client-Key"
KEY_RE = re.compile(r"[A-Za-z0-9_-]{43}")
# The relay's clients in the tests: host1 is the module's (every Setup's
# relay_key_file holds its key), host2 "another PAM host" (the attack tests'
# attacker holds its key).
MODULE_HOST, OTHER_HOST = "host1", "host2"


def key_hash(key):
    """What a --client-keys line holds for a key: SHA-256, lowercase hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_client_key(name):
    """A key made by `pam-ion-relay --new-client-key NAME`, its output
    checked: two lines, 'NAME SHA256HEX' (the hash of the key) and the key
    (43 base64url characters).  Returns (key, keys-file line)."""
    r = subprocess.run([RELAY_BIN, "--new-client-key", name],
                       capture_output=True, text=True, timeout=20,
                       stdin=subprocess.DEVNULL)
    lines = r.stdout.splitlines()
    if r.returncode != 0 or len(lines) != 2:
        raise RuntimeError("pam-ion-relay --new-client-key %s: status %d, "
                           "output %r, stderr %r" % (name, r.returncode,
                                                     r.stdout, r.stderr))
    line, key = lines
    if not KEY_RE.fullmatch(key):
        raise RuntimeError("--new-client-key: the key %r is not 43 "
                           "base64url characters" % key[:8])
    if line != "%s %s" % (name, key_hash(key)):
        raise RuntimeError("--new-client-key: the line %r is not 'NAME "
                           "SHA256(key)'" % line)
    return key, line


def keys_file_text(keys, extra_lines=()):
    """A --client-keys file: a comment, 'NAME SHA256HEX' per key (a dict
    name -> key), then extra_lines as they are."""
    lines = ["# pam-ion-relay client keys (tests/module/moduletest.py)"]
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


class Relay(_Daemon):
    """The real pam-ion-relay on a fixed loopback port, with a
    --client-keys file (root, 0600) for host1 and host2.

    keys        name -> key of the relay's clients; made with
                --new-client-key unless given (a second relay of a test
                takes the stack's keys, so the setups' key files fit)
    key         host1's key (the module's)
    keys_file   the --client-keys file; rewrite it with set_keys()"""

    def __init__(self, workdir, port, prefix, keys=None, extra_args=()):
        super().__init__("relay", workdir)
        self.port = port
        self.url = "http://127.0.0.1:%d" % port
        if keys is None:
            keys = {}
            for name in (MODULE_HOST, OTHER_HOST):
                keys[name], _ = new_client_key(name)
        self.keys = dict(keys)
        self.key = self.keys[MODULE_HOST]
        self.keys_file = os.path.join(workdir, "relay-client-keys")
        self._write_keys(self.keys)
        err = open(self.errpath, "wb")
        self.proc = subprocess.Popen(
            [RELAY_BIN, "--listen", "127.0.0.1:%d" % port,
             "--public-url", self.url, "--authorize-url-prefix", prefix,
             "--client-keys", self.keys_file,
             "--ttl", str(RELAY_TTL)] + list(extra_args),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            env=_sanitizer_env(dict(os.environ)),
            preexec_fn=_die_with_parent)
        err.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("relay exited %d:\n%s" %
                                   (self.proc.returncode, self.logs()))
            try:
                if http("GET", self.url + "/healthz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("relay did not answer /healthz:\n" + self.logs())

    def _write_keys(self, keys, extra_lines=()):
        """Replace the keys file at once (rename), root, 0600."""
        tmp = self.keys_file + ".new"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(keys_file_text(keys, extra_lines))
        os.chown(tmp, 0, 0)
        os.chmod(tmp, 0o600)
        os.rename(tmp, self.keys_file)

    def probe(self, key):
        """The status a poll for a login nobody registered gets with this
        key: 401 for a key the relay does not hold, 404 for one it does."""
        secret = base64.urlsafe_b64encode(os.urandom(32)).rstrip(
            b"=").decode()
        return http("GET", self.url + "/v1/logins/result?wait=0",
                    headers=relay_headers(key, secret), timeout=5)[0]

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
                raise RuntimeError("the relay exited after SIGHUP:\n" +
                                   self.logs())
            if time.monotonic() > deadline:
                raise RuntimeError("the relay did not take the new keys "
                                   "file within %.0f s:\n%s" % (
                                       timeout, self.logs()))
            time.sleep(0.1)
        self.keys = dict(keys)
        if MODULE_HOST in keys:
            self.key = keys[MODULE_HOST]

    def log_lines(self):
        """Every line of the relay's log so far."""
        try:
            with open(self.errpath, encoding="utf-8",
                      errors="replace") as f:
                return f.read().splitlines()
        except OSError:
            return []


# ---------------------------------------------------------------- syslog

class Syslog:
    """A datagram socket that stands in for /dev/log (see the module doc)."""

    DEV_FILES = ("null", "zero", "full", "random", "urandom", "tty")

    def __init__(self, workdir):
        self.path = os.path.join(workdir, "log.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.devdir = os.path.join(workdir, "dev")
        os.mkdir(self.devdir, 0o755)
        self.global_dev_log = False
        self.mode = self._choose_mode()

    def _choose_mode(self):
        forced = os.environ.get("PAM_ION_SYSLOG")  # namespace | global
        if forced == "global":
            return self._be_dev_log()
        try:
            ok = subprocess.run(
                ["unshare", "--mount", "--propagation", "private", "--",
                 "/bin/sh", "-c", "mount -t tmpfs pam-ion-probe \"$1\"",
                 "sh", self.devdir],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return "namespace"
        if forced == "namespace" or os.path.lexists("/dev/log"):
            raise RuntimeError("cannot capture syslog: mount namespaces are "
                               "not available (and /dev/log is taken)")
        return self._be_dev_log()

    def _be_dev_log(self):
        """Last resort: be /dev/log for the run (removed in close())."""
        self.sock.close()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("/dev/log")
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.global_dev_log = True
        return "global"

    def wrap(self, argv, preload=None, dev_binds=()):
        """argv run so that its /dev/log is this socket.  dev_binds: pairs
        (file, name), each file bind-mounted over /dev/name (which must
        exist) inside the namespace only; they need mount namespaces."""
        if self.mode != "namespace":
            if dev_binds:
                raise RuntimeError("dev_binds need mount namespaces")
            return argv if not preload else (
                ["env", "LD_PRELOAD=" + preload] + argv)
        for f, name in dev_binds:
            if not re.fullmatch(r"[A-Za-z0-9_./-]+", f) or \
                    not re.fullmatch(r"[A-Za-z0-9]+", name):
                raise ValueError("dev_binds: %r %r" % (f, name))
        binds = " ".join("%s=%s" % b for b in dev_binds)
        script = r'''
set -e
sock=$1 dev=$2 preload=$3 binds=$4
shift 4
if [ -e /dev/log ] || [ -L /dev/log ]; then
	mount --bind "$sock" /dev/log
else
	mount -t tmpfs -o mode=0755 pam-ion-test-dev "$dev"
	for f in %s; do
		if [ -e "/dev/$f" ]; then
			: >"$dev/$f"
			mount --bind "/dev/$f" "$dev/$f"
		fi
	done
	# The consoles confirm = no is honoured on: the module checks the
	# device numbers, not just the names.
	mknod -m 600 "$dev/tty1" c 4 1
	mknod -m 600 "$dev/console" c 5 1
	ln -s /proc/self/fd "$dev/fd"
	ln -s /proc/self/fd/0 "$dev/stdin"
	ln -s /proc/self/fd/1 "$dev/stdout"
	ln -s /proc/self/fd/2 "$dev/stderr"
	: >"$dev/log"
	mount --bind "$sock" "$dev/log"
	mount --move "$dev" /dev
fi
for b in $binds; do
	[ -e "/dev/${b#*=}" ]
	mount --bind "${b%%=*}" "/dev/${b#*=}"
done
if [ -n "$preload" ]; then
	export LD_PRELOAD="$preload"
fi
exec "$@"
''' % " ".join(self.DEV_FILES)
        return (["unshare", "--mount", "--propagation", "private", "--",
                 "/bin/sh", "-c", script, "sh", self.path, self.devdir,
                 preload or "", binds] + argv)

    def drain(self):
        """Every message received since the last drain, parsed:
        dicts with facility, severity, tag, text, raw."""
        out = []
        while True:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            raw = data.decode("utf-8", "replace").rstrip("\n\0")
            m = SYSLOG_RE.match(raw)
            if m:
                pri = int(m.group(1))
                out.append({"facility": pri >> 3, "severity": pri & 7,
                            "tag": m.group(3), "text": m.group(4),
                            "raw": raw})
            else:
                out.append({"facility": None, "severity": None, "tag": None,
                            "text": raw, "raw": raw})
        return out

    def close(self):
        self.sock.close()
        if self.global_dev_log:
            try:
                os.unlink("/dev/log")
            except OSError:
                pass


# ---------------------------------------------------------------- sanitizers

_runtime = None


def _has_asan(path):
    try:
        out = subprocess.run(["nm", "-D", path], capture_output=True,
                             text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "__asan_init" in out


# From the build (CMake passes ION_SANITIZE), or seen in the module itself.
SANITIZE = (os.environ.get("ION_SANITIZE", "OFF").upper() in
            ("ON", "1", "YES", "TRUE") or _has_asan(MODULE))


def _compiler_file(name):
    """Where the build's compiler keeps a runtime library, or None."""
    try:
        p = subprocess.run([CC, "-print-file-name=" + name],
                           capture_output=True, text=True,
                           timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p if os.path.isabs(p) and os.path.exists(p) else None


def sanitizer_runtime():
    """(LD_LIBRARY_PATH addition, LD_PRELOAD) a sanitizer build needs, each
    None when not needed:
    - a binary linked against a shared sanitizer runtime the loader cannot
      find (clang's -shared-libasan puts it in the compiler's directory):
      that directory goes into LD_LIBRARY_PATH;
    - an instrumented module but an uninstrumented pamdrive (it cannot
      load the module otherwise): the ASan runtime is preloaded."""
    global _runtime
    if _runtime is not None:
        return _runtime
    libdirs, preload = [], None
    if SANITIZE:
        for binary in (MODULE, PAMDRIVE, RELAY_BIN):
            try:
                out = subprocess.run(["ldd", binary], capture_output=True,
                                     text=True, timeout=30).stdout
            except (OSError, subprocess.TimeoutExpired):
                continue
            for m in re.finditer(r"^\s*(\S*(?:asan|ubsan)\S*\.so\S*) => "
                                 r"not found", out, re.M):
                p = _compiler_file(m.group(1))
                if p and os.path.dirname(p) not in libdirs:
                    libdirs.append(os.path.dirname(p))
        if _has_asan(MODULE) and not _has_asan(PAMDRIVE):
            for name in ("libclang_rt.asan-x86_64.so", "libasan.so"):
                preload = _compiler_file(name)
                if preload:
                    break
    _runtime = (":".join(libdirs) or None, preload)
    return _runtime


def _sanitizer_env(env):
    """env with what a sanitizer build needs (nothing otherwise)."""
    if SANITIZE:
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:exitcode=86:"
                       "strict_string_checks=1:"
                       "detect_stack_use_after_return=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:"
                       "halt_on_error=1:exitcode=87")
        env.setdefault("LSAN_OPTIONS", "exitcode=88")
        libdir, _ = sanitizer_runtime()
        if libdir:
            old = env.get("LD_LIBRARY_PATH")
            env["LD_LIBRARY_PATH"] = libdir + (":" + old if old else "")
    return env


# ---------------------------------------------------------------- the stack

class Stack:
    """Provider, relay and syslog socket shared by the tests of one file."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pam-ion-module-")
        os.chmod(self.dir, 0o755)
        self.provider = self.relay = self.syslog = None
        try:
            self.syslog = Syslog(self.dir)
            for attempt in range(3):
                port = free_port()
                self.provider = Provider(
                    self.dir, "http://127.0.0.1:%d/callback" % port)
                try:
                    self.relay = Relay(self.dir, port, self.provider.issuer +
                                       "/oauth2/authorize")
                    break
                except RuntimeError:
                    # Someone took the port in between: start again.
                    self.provider.stop()
                    if attempt == 2:
                        raise
        except BaseException:
            self.close()
            raise
        self.serial = 0

    def close(self):
        for d in (self.relay, self.provider):
            if d is not None:
                d.stop()
        if (SANITIZE and self.relay is not None and
                SANITIZER_RE.search(self.relay.logs(tail=100000))):
            log("module tests: WARNING: sanitizer report in the relay's "
                "log:\n" + self.relay.logs(tail=200))
        if self.syslog is not None:
            self.syslog.close()
        if os.environ.get("PAM_ION_KEEP"):
            log("module tests: kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def daemon_logs(self):
        return ("--- provider log (tail) ---\n%s\n"
                "--- relay log (tail) ---\n%s" % (self.provider.logs(),
                                                  self.relay.logs()))

    def setup(self, **kw):
        self.serial += 1
        return Setup(self, os.path.join(self.dir, "t%03d" % self.serial),
                     **kw)


_stack = None


def stack():
    global _stack
    if _stack is None:
        _stack = Stack()
        atexit.register(close_stack)
    return _stack


def close_stack():
    global _stack
    if _stack is not None:
        _stack.close()
        _stack = None


class Setup:
    """One test's files: pam_ion.conf (root, 0644), the client secret
    (root, 0600), the relay key (root, 0600: the relay's host1 key unless
    relay_key gives the file's text), the user map (root, 0644), the cache
    directory (root, 0700) and a pam.d directory with the service's
    stack."""

    def __init__(self, st, dir, options=None, extra_lines=(), args=(),
                 secret_mode=0o600, omit=(), cache_dir=None,
                 user_map=USER_MAP, relay_key=None, relay_key_mode=0o600):
        self.stack = st
        self.dir = dir
        os.mkdir(dir, 0o755)
        self.conf = os.path.join(dir, "pam_ion.conf")
        self.secret_file = os.path.join(dir, "client_secret")
        self.relay_key_file = os.path.join(dir, "relay_key")
        self.map_file = os.path.join(dir, "pam_ion.users")
        self.cache_dir = cache_dir or os.path.join(dir, "cache")
        self.pamd = os.path.join(dir, "pam.d")
        self._write(self.secret_file, CLIENT_SECRET + "\n", secret_mode)
        self._write(self.relay_key_file,
                    relay_key if relay_key is not None else
                    st.relay.key + "\n", relay_key_mode)
        self._write(self.map_file, user_map, 0o644)
        if not os.path.isdir(self.cache_dir):
            os.mkdir(self.cache_dir, 0o700)
        opts = {
            "issuer": st.provider.issuer,
            "client_id": CLIENT_ID,
            "client_secret_file": self.secret_file,
            "relay_url": st.relay.url,
            "relay_key_file": self.relay_key_file,
            "user_map_file": self.map_file,
            "cache_dir": self.cache_dir,
            "login_timeout": "60",
            "http_timeout": "5",
        }
        for k, v in (options or {}).items():
            if v is None:
                opts.pop(k, None)
            else:
                opts[k] = v
        for k in omit:
            opts.pop(k, None)
        self.options = opts
        self.lines = ["# written by tests/module/moduletest.py"]
        self.lines += ["%s = %s" % kv for kv in opts.items()]
        self.lines += list(extra_lines)
        self._write(self.conf, "\n".join(self.lines) + "\n", 0o644)
        os.mkdir(self.pamd, 0o755)
        self._write(os.path.join(self.pamd, SERVICE),
                    "auth required %s config=%s%s\n" % (
                        MODULE, self.conf,
                        "".join(" " + a for a in args)), 0o644)
        # libpam wants a default stack; it is never used here.
        self._write(os.path.join(self.pamd, "other"),
                    "auth required pam_deny.so\n", 0o644)

    @staticmethod
    def _write(path, text, mode):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chown(path, 0, 0)
        os.chmod(path, mode)

    def line_of(self, prefix):
        """1-based line number of the config line starting with prefix."""
        for i, line in enumerate(self.lines, 1):
            if line.startswith(prefix):
                return i
        raise KeyError(prefix)

    def cache_files(self):
        return sorted(os.listdir(self.cache_dir))

    def run(self, person=None, user="alice", rhost="198.51.100.7",
            timeout=RUN_TIMEOUT, ruser=None, tty=None, dev_binds=()):
        """One pam_authenticate.  rhost (PAM_RHOST), ruser (PAM_RUSER) and
        tty (PAM_TTY): None leaves them unset.  A login with neither rhost
        nor ruser and a local terminal as tty (CONSOLE, whose device is the
        real one) is the only kind for which confirm = no is honoured.
        dev_binds: see Syslog.wrap()."""
        return run_pam(self, person or Person(), user, rhost, timeout,
                       ruser, tty, dev_binds)


# ---------------------------------------------------------------- the person

class _Phone(phone.Phone):
    """phone.py's phone, remembering the authorization response it hands to
    the relay (to check that its code never reaches the log)."""

    def __init__(self):
        super().__init__()
        self.callback_query = {}
        self.callback_at = None

    def _callback(self, url, iss_override, drop_iss):
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        if iss_override is not None or drop_iss:
            q.pop("iss", None)
        if iss_override is not None:
            q["iss"] = iss_override
        self.callback_query = q
        self.callback_at = time.monotonic()
        return super()._callback(url, iss_override, drop_iss)


class Person:
    """The person at the terminal, scripted.

    login        account at the provider ("alice"); None never signs in
    sign_in_at   "link": as soon as the link is shown (in the background,
                 after phone_delay seconds); an int k: just before answering
                 prompt k (0-based), in the foreground
    answers      one per prompt; "{code}" is the phone's confirmation code,
                 "{wrong}" a 6-digit code that differs from it; a callable
                 gets the code and returns the answer; a prompt beyond the
                 list closes stdin (the conversation fails)
    answer_delay seconds to wait before each answer
    phone_kw     deny=True, iss_override=..., drop_iss=..., cancel_login=...
    """

    def __init__(self, login="alice", sign_in_at="link", answers=("{code}",),
                 answer_delay=0.0, phone_delay=0.0, **phone_kw):
        self.login = login
        self.sign_in_at = sign_in_at
        self.answers = list(answers)
        self.answer_delay = answer_delay
        self.phone_delay = phone_delay
        self.phone_kw = phone_kw
        self.link = None
        self.phone_result = None
        self.phone_error = None
        self.phone_done_at = None
        self.callback_at = None  # when the phone went to the relay's callback
        self.callback_query = {}
        self.typed = []
        self._thread = None

    # called by run_pam
    def saw_link(self, link):
        self.link = link
        if self.login is not None and self.sign_in_at == "link":
            self._thread = threading.Thread(target=self._sign_in,
                                            daemon=True)
            self._thread.start()

    def answer(self, index, text):
        if (self.login is not None and self.sign_in_at == index and
                self._thread is None):
            self._sign_in()
        if index >= len(self.answers):
            return None
        if self.answer_delay:
            time.sleep(self.answer_delay)
        a = self.answers[index]
        if callable(a):
            a = a(self.code())
        elif "{code}" in a or "{wrong}" in a:
            code = self.code()
            wrong = "%06d" % ((int(code) + 1) % 1000000)
            a = a.replace("{code}", code).replace("{wrong}", wrong)
        self.typed.append(a)
        return a

    def code(self):
        self.wait_phone()
        if self.phone_error is not None:
            raise AssertionError("the phone failed: %s" % self.phone_error)
        if not re.fullmatch(r"\d{6}", self.phone_result or ""):
            raise AssertionError("the phone shows no code: %r" %
                                 self.phone_result)
        return self.phone_result

    def wait_phone(self, timeout=30):
        if self._thread is not None:
            self._thread.join(timeout)

    def _sign_in(self):
        if self.phone_delay:
            time.sleep(self.phone_delay)
        p = _Phone()
        try:
            self.phone_result = p.sign_in(self.link, self.login,
                                          **self.phone_kw)
        except phone.PhoneError as e:
            self.phone_error = str(e)
        except Exception as e:  # noqa: BLE001  (reported by the test)
            self.phone_error = "%s: %s" % (type(e).__name__, e)
        self.callback_query = p.callback_query
        self.callback_at = p.callback_at
        self.phone_done_at = time.monotonic()


# ---------------------------------------------------------------- one run

class Outcome:
    def __init__(self):
        self.events = []        # (kind, text, monotonic time)
        self.answered = []      # (answer or None for EOF, monotonic time)
        self.code = None
        self.code_name = None
        self.user = None
        self.exit = None
        self.stderr = ""
        self.logs = []
        self.started = self.ended = None
        self.person = None
        self.person_error = None
        self.setup = None

    @property
    def elapsed(self):
        return self.ended - self.started

    def kinds(self, kind):
        return [t for k, t, _ in self.events if k == kind]

    @property
    def infos(self):
        return self.kinds("INFO")

    @property
    def prompts(self):
        return self.kinds("PROMPT")

    @property
    def errors(self):
        return self.kinds("ERROR")

    def first(self, kind):
        for k, _, t in self.events:
            if k == kind:
                return t
        return None

    def transcript(self):
        lines = ["--- conversation (%.2f s) ---" % (
            (self.ended or 0) - (self.started or 0))]
        for k, text, t in self.events:
            lines.append("%6.2f %s %s" % (t - self.started, k,
                                          text.replace("\n", "\\n")[:300]))
        lines.append("RESULT %s %s / USER %s / exit %s" % (
            self.code, self.code_name, self.user, self.exit))
        if self.person is not None:
            lines.append("phone: %r%s; typed %r" % (
                self.person.phone_result,
                " error " + self.person.phone_error
                if self.person.phone_error else "", self.person.typed))
        lines.append("--- syslog ---")
        lines += [e["raw"] for e in self.logs] or ["(nothing)"]
        lines.append("--- pamdrive stderr ---")
        lines.append(self.stderr.strip() or "(nothing)")
        return "\n".join(lines)


def run_pam(setup, person, user, rhost, timeout, ruser=None, tty=None,
            dev_binds=()):
    st = setup.stack
    st.syslog.drain()  # whatever an earlier run left
    argv = [PAMDRIVE, setup.pamd, SERVICE, user or ""]
    # pamdrive: RHOST RUSER TTY in that order, empty = not set
    items = [rhost, ruser, tty]
    while items and items[-1] is None:
        items.pop()
    argv += [v or "" for v in items]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "LANG": "C.UTF-8"}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
              "ASAN_SYMBOLIZER_PATH", "LD_LIBRARY_PATH"):
        if k in os.environ:
            env[k] = os.environ[k]
    env = _sanitizer_env(env)
    out = Outcome()
    out.person = person
    out.setup = setup
    errf = tempfile.TemporaryFile(dir=st.dir)
    out.started = time.monotonic()
    proc = subprocess.Popen(st.syslog.wrap(argv, sanitizer_runtime()[1],
                                           dev_binds),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=errf, env=env, cwd=setup.dir)
    killed = []

    def watchdog():
        killed.append(True)
        proc.kill()

    timer = threading.Timer(timeout, watchdog)
    timer.daemon = True
    timer.start()
    prompt_index = 0
    try:
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            now = time.monotonic()
            kind, _, rest = line.partition(" ")
            if kind in ("INFO", "ERROR", "PROMPT"):
                text = unescape(rest)
                out.events.append((kind, text, now))
                link = link_in(text) if kind == "INFO" else None
                if link and person.link is None:
                    person.saw_link(link)
                if kind == "PROMPT":
                    try:
                        ans = person.answer(prompt_index, text)
                    except AssertionError as e:
                        # Reported with the transcript below.
                        out.person_error = str(e)
                        ans = None
                    prompt_index += 1
                    try:
                        if ans is None:
                            proc.stdin.close()
                        else:
                            proc.stdin.write(ans.encode() + b"\n")
                            proc.stdin.flush()
                    except (BrokenPipeError, ValueError):
                        pass
                    out.answered.append((ans, time.monotonic()))
            elif kind == "RESULT":
                code, _, name = rest.partition(" ")
                out.code, out.code_name = int(code), name
                out.ended = now
            elif kind == "USER":
                out.user = rest
            else:
                out.events.append(("OTHER", line, now))
        proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for f in (proc.stdin, proc.stdout):
            try:
                f.close()
            except (OSError, ValueError):
                pass
        errf.seek(0)
        out.stderr = errf.read().decode("utf-8", "replace")
        errf.close()
    if out.ended is None:
        out.ended = time.monotonic()
    out.exit = proc.returncode
    person.wait_phone()
    out.logs = st.syslog.drain()
    if st.syslog.mode == "global":
        # The machine's /dev/log: other programs may log there meanwhile.
        out.logs = [e for e in out.logs if e["tag"] == "pamdrive"]
    if killed:
        raise AssertionError("pamdrive ran longer than %.0f s\n%s" % (
            timeout, out.transcript()))
    if out.person_error is not None:
        raise AssertionError("the person could not answer: %s\n%s" % (
            out.person_error, out.transcript()))
    return out


# ---------------------------------------------------------------- QR codes

QR_UTF8 = {"\u2588": (0, 0), "\u2580": (0, 1), "\u2584": (1, 0),
           " ": (1, 1)}  # (top dark, bottom dark): blocks are light
QR_CHARS = {"utf8": set(QR_UTF8), "ascii": set("# ")}


def is_qr_line(line, mode):
    return line != "" and set(line) <= QR_CHARS[mode]


def qr_modules(lines, mode):
    """The QR lines the module shows, as rows of modules (True = dark)."""
    rows = []
    for line in lines:
        if mode == "utf8":
            top = [QR_UTF8[c][0] == 1 for c in line]
            bottom = [QR_UTF8[c][1] == 1 for c in line]
            rows += [top, bottom]
        else:
            if len(line) % 2:
                raise ValueError("odd ASCII QR line")
            pairs = [line[i:i + 2] for i in range(0, len(line), 2)]
            if any(p not in ("##", "  ") for p in pairs):
                raise ValueError("ASCII QR line with other characters")
            rows.append([p == "  " for p in pairs])
    return rows


def decode_qr(rows, workdir, scale=4, margin=4):
    """What zbarimg reads from the modules, or None when zbarimg is not
    installed.  A PGM with light as white, a wide light margin."""
    zbar = shutil.which("zbarimg")
    if zbar is None:
        return None
    width = max(len(r) for r in rows) + 2 * margin
    height = len(rows) + 2 * margin
    pix = bytearray()
    for y in range(height):
        r = rows[y - margin] if margin <= y < margin + len(rows) else []
        line = bytearray()
        for x in range(width):
            d = margin <= x < margin + len(r) and r[x - margin]
            line += (b"\x00" if d else b"\xff") * scale
        pix += bytes(line) * scale
    path = os.path.join(workdir, "qr.pgm")
    with open(path, "wb") as f:
        f.write(b"P5\n%d %d\n255\n" % (width * scale, height * scale))
        f.write(bytes(pix))
    res = subprocess.run([zbar, "--raw", "-q", path], capture_output=True,
                         text=True, timeout=30)
    return res.stdout.strip()


# ---------------------------------------------------------------- checks

class ModuleTestCase(unittest.TestCase):
    """Base of the module tests: one shared Stack per test file, provider
    state reset before every test."""

    maxDiff = None

    @classmethod
    def setUpClass(cls):
        why = requirements_missing()
        if why:
            raise unittest.SkipTest(why)
        cls.stack = stack()
        cls.provider = cls.stack.provider
        cls.relay = cls.stack.relay

    def setUp(self):
        self.provider.reset()
        if self.provider.par != "off":
            self.provider.set_par("off")

    def setup(self, **kw):
        return self.stack.setup(**kw)

    def fail_with(self, out, msg):
        self.fail("%s\n%s\n%s" % (msg, out.transcript(),
                                  self.stack.daemon_logs()))

    def check(self, out, cond, msg):
        if not cond:
            self.fail_with(out, msg)

    def assertResult(self, out, code, user=None):
        """The PAM code, the person's phone did what it was told, no
        sanitizer report, and pamdrive's exit status agrees."""
        self.check(out, out.code == code, "expected PAM code %d, got %s %s"
                   % (code, out.code, out.code_name))
        self.check(out, out.exit == (0 if code == PAM_SUCCESS else 1),
                   "pamdrive exit status %s" % out.exit)
        self.check(out, not SANITIZER_RE.search(out.stderr),
                   "sanitizer report on pamdrive's stderr")
        if user is not None:
            self.check(out, out.user == user,
                       "expected USER %r, got %r" % (user, out.user))

    def assertOneLog(self, out, pattern, severity=None):
        """Exactly one syslog line for the run, the module's (authpriv,
        'pam_ion(SERVICE:auth): ...'), matching pattern, and free of every
        secret the test knows of."""
        logs = out.logs
        self.check(out, len(logs) == 1,
                   "expected exactly one syslog line, got %d" % len(logs))
        e = logs[0]
        m = MODULE_LOG_RE.match(e["text"])
        self.check(out, m is not None and m.group(1) == SERVICE,
                   "the syslog line is not the module's: %r" % e["raw"])
        self.check(out, e["facility"] == LOG_AUTHPRIV,
                   "syslog facility %s, expected authpriv" % e["facility"])
        if severity is not None:
            self.check(out, e["severity"] == severity,
                       "syslog severity %s, expected %d" % (e["severity"],
                                                            severity))
        self.check(out, re.search(pattern, m.group(2)) is not None,
                   "the syslog line does not match %r" % pattern)
        self.assertNoSecrets(out, e["raw"])
        return m.group(2)

    def assertSignedInLog(self, out, user):
        """The one line of a success: LOG_INFO 'signed in USER with iON
        (... service SERVICE)'."""
        return self.assertOneLog(
            out, r"^signed in %s with iON \(.*\bservice %s\)$" % (
                re.escape(user), re.escape(SERVICE)), LOG_INFO)

    def assertFailedLog(self, out, user, reason):
        """The one line of a failure: LOG_NOTICE 'iON sign-in for USER
        failed: REASON ... (... PAM-ERROR)', naming the PAM error the
        caller got (a note in parentheses may follow it, such as
        "(confirm = no not honoured: ...)").  reason is a regular
        expression for the reason's start; user None for '(user from
        token)'."""
        return self.assertOneLog(
            out, r"^iON sign-in for %s failed: %s.* \((?:.*; )?%s\)"
            r"(?: \([^()]*\))?$" % (
                re.escape(user or "(user from token)"), reason,
                re.escape(out.code_name or "?")), LOG_NOTICE)

    def assertNoSecrets(self, out, text):
        secrets = [CLIENT_SECRET] + list(self.relay.keys.values())
        p = out.person
        if p is not None:
            if p.phone_result and re.fullmatch(r"\d{6}", p.phone_result):
                secrets.append(p.phone_result)
            secrets += [t for t in p.typed if t.strip()]
            for k in ("code", "state"):
                if p.callback_query.get(k):
                    secrets.append(p.callback_query[k])
        for s in secrets:
            self.check(out, s not in text,
                       "a secret (%r) is in the log line" % s[:8])
        self.check(out, re.search(r"eyJ[A-Za-z0-9_-]{8,}", text) is None,
                   "something like a JWT is in the log line")
        self.check(out, re.search(r"[A-Za-z0-9_-]{40,}", text) is None,
                   "a long token-like string is in the log line")
