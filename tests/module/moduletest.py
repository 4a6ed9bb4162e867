"""Module tests of pam_ion: the built pam_ion.so, loaded by the real libpam
through pamdrive, against the real relay and the stand-in provider
(tests/provider), with a scripted person at the terminal and the scripted
phone (tests/provider/phone.py).  Python 3 standard library only.  The
daemons, the files and the drivers' output are the test stand's
(tests/stand); what is here is what only the module tests need: the
syslog capture, sanitizer builds, the scripted person, one run of pamdrive
and the assertions.

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
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
from stand.build import (PROVIDER_DIR as _PROVIDER_DIR,  # noqa: E402
                         compiler_file, default_paths, env_path, has_asan,
                         ldd, provider_missing)
from stand.daemons import (KEY_HEADER, Provider as _Provider,  # noqa: E402
                           Relay as _Relay, key_hash,  # noqa: F401
                           relay_headers)
from stand.drive import link_in, unescape  # noqa: E402,F401
from stand.files import (ModuleFiles, module_line, write_pam_dir,  # noqa: E402
                         write_private)
from stand.proc import free_port, http  # noqa: E402,F401
import phone  # noqa: E402  (tests/provider/phone.py, on the stand's path)

_BIN = default_paths()
MODULE = env_path("PAM_ION_MODULE", _BIN["module"])
PAMDRIVE = env_path("PAMDRIVE", _BIN["pamdrive"])
RELAY_BIN = env_path("RELAY_BIN", _BIN["relay"])
PROVIDER_DIR = env_path("PROVIDER_DIR", _PROVIDER_DIR)
CC = os.environ.get("ION_CC") or "cc"

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
PAM_PERM_DENIED = 6
PAM_CONV_ERR = 19
PAM_IGNORE = 25

# What the module says (src/login.c, src/prompt.c).
PROMPT_CODE = "After signing in, type the code shown on your phone: "
PROMPT_ENTER = "After signing in on your phone, press Enter: "
PROMPT_AGAIN_CODE = ("Not signed in yet. Finish signing in on your phone, "
                     "then type the code shown there: ")
PROMPT_AGAIN_ENTER = ("Not signed in yet. Finish signing in on your phone, "
                      "then press Enter: ")
PROMPT_WRONG = "That code does not match. Type the code shown on your phone: "
VALID_RE = re.compile(r"^The link is valid for (\d+) minutes?\.$", re.M)

SANITIZER_RE = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error:|"
                          r"SUMMARY: \w+Sanitizer")
SYSLOG_RE = re.compile(r"^<(\d+)>(\w{3} [ \d]\d \d\d:\d\d:\d\d) ([^:\[]*)"
                       r"(?:\[\d+\])?: (.*)$", re.S)
MODULE_LOG_RE = re.compile(r"^pam_ion\(([^:]*):auth\): (.*)$", re.S)
# The account phase's lines (pam_sm_acct_mgmt).
ACCOUNT_LOG_RE = re.compile(r"^pam_ion\(([^:]*):account\): (.*)$", re.S)
LOG_AUTHPRIV = 10
LOG_ERR, LOG_NOTICE, LOG_INFO = 3, 5, 6


def log(*msg):
    print(*msg, file=sys.stderr, flush=True)


def requirements_missing():
    """Why the tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "the module tests need root (root-owned config files)"
    for p in (MODULE, PAMDRIVE, RELAY_BIN):
        if not os.access(p, os.X_OK if p != MODULE else os.R_OK):
            return "missing %s (build it first)" % p
    return provider_missing(PROVIDER_DIR)


# ---------------------------------------------------------------- daemons

class Provider(_Provider):
    """The stand-in provider with the module tests' client and ACCOUNTS.
    par: "off" (the default), "on" or "required" (see set_par)."""

    def __init__(self, workdir, redirect_uri, accounts=ACCOUNTS, par="off",
                 extra_args=(), context=None):
        super().__init__(workdir, CLIENT_ID, CLIENT_SECRET, redirect_uri,
                         accounts, extra_args, par=par,
                         provider_dir=PROVIDER_DIR, context=context,
                         start_timeout=START_TIMEOUT)


# The relay's clients in the tests: host1 is the module's (every Setup's
# relay_key_file holds its key), host2 "another PAM host" (the attack tests'
# attacker holds its key).
MODULE_HOST, OTHER_HOST = "host1", "host2"


class Relay(_Relay):
    """The real pam-ion-relay on a fixed loopback port, with a
    --client-keys file (root, 0600) for host1 and host2, logins kept
    RELAY_TTL seconds.

    keys        name -> key of the relay's clients; made with
                --new-client-key unless given (a second relay of a test
                takes the stack's keys, so the setups' key files fit)
    key         host1's key (the module's)
    keys_file   the --client-keys file; rewrite it with set_keys()"""

    def __init__(self, workdir, port, prefix, keys=None, extra_args=()):
        super().__init__(RELAY_BIN, workdir, port, prefix,
                         clients=(MODULE_HOST, OTHER_HOST), keys=keys,
                         extra_args=["--ttl", str(RELAY_TTL)] +
                         list(extra_args),
                         env=_sanitizer_env(dict(os.environ)),
                         start_timeout=START_TIMEOUT)


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

# From the build (CMake passes ION_SANITIZE), or seen in the module itself.
SANITIZE = (os.environ.get("ION_SANITIZE", "OFF").upper() in
            ("ON", "1", "YES", "TRUE") or has_asan(MODULE))


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
                libs = ldd(binary)
            except (OSError, subprocess.TimeoutExpired):
                continue
            for name, path in libs.items():
                if path is not None or not re.search(r"(asan|ubsan)\S*\.so",
                                                     name):
                    continue
                p = compiler_file(CC, name)
                if p and os.path.dirname(p) not in libdirs:
                    libdirs.append(os.path.dirname(p))
        if has_asan(MODULE) and not has_asan(PAMDRIVE):
            for name in ("libclang_rt.asan-x86_64.so", "libasan.so"):
                preload = compiler_file(CC, name)
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
        # pamdrive's header: keeps LeakSanitizer's tracer alive
        env["PAMDRIVE_PIN"] = MODULE
        libdir, _ = sanitizer_runtime()
        if libdir:
            old = env.get("LD_LIBRARY_PATH")
            env["LD_LIBRARY_PATH"] = libdir + (":" + old if old else "")
    return env


# ---------------------------------------------------------------- the stack

class Stack:
    """Provider, relay and syslog socket shared by the tests of one file.
    A subclass changes the provider (new_provider) and makes what it needs
    first (prepare)."""

    prefix = "pam-ion-module-"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix=self.prefix)
        os.chmod(self.dir, 0o755)
        self.provider = self.relay = self.syslog = None
        try:
            self.syslog = Syslog(self.dir)
            self.prepare()
            for attempt in range(3):
                port = free_port()
                self.provider = self.new_provider(
                    "http://127.0.0.1:%d/callback" % port)
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

    def prepare(self):
        """What a subclass makes in self.dir before the daemons start."""

    def new_provider(self, redirect_uri):
        return Provider(self.dir, redirect_uri)

    def close(self):
        for d in (self.relay, self.provider):
            if d is not None:
                d.stop()
        if (SANITIZE and self.relay is not None and
                SANITIZER_RE.search(self.relay.logs(100000))):
            log("module tests: WARNING: sanitizer report in the relay's "
                "log:\n" + self.relay.logs(200))
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


class Setup(ModuleFiles):
    """One test's files: pam_ion.conf (root, 0644), the client secret
    (root, 0600), the relay key (root, 0600: the relay's host1 key unless
    relay_key gives the file's text), the user map (root, 0644), the cache
    directory (root, 0700) and a pam.d directory with the service's
    stack."""

    def __init__(self, st, dir, options=None, extra_lines=(), args=(),
                 secret_mode=0o600, omit=(), cache_dir=None,
                 user_map=USER_MAP, relay_key=None, relay_key_mode=0o600):
        self.stack = st
        os.mkdir(dir, 0o755)
        opts = {"login_timeout": "60", "http_timeout": "5"}
        opts.update(options or {})
        super().__init__(dir, st.provider.issuer, CLIENT_ID, CLIENT_SECRET,
                         st.relay.url, st.relay.key, user_map, opts,
                         extra_lines, omit,
                         comment="# written by tests/module/moduletest.py",
                         secret_mode=secret_mode, relay_key_text=relay_key,
                         relay_key_mode=relay_key_mode, cache_dir=cache_dir)
        # libpam wants a default stack; it is never used here.
        self.pamd = write_pam_dir(os.path.join(dir, "pam.d"), {
            SERVICE: module_line(MODULE, self.conf, args),
            "other": "auth required pam_deny.so\n"})

    def cache_files(self):
        return sorted(os.listdir(self.cache_dir))

    def write_stack(self, text):
        """The service's stack becomes text: "{module}" stands for
        pam_ion.so, "{conf}" for this setup's pam_ion.conf, as in
        "account required {module} config={conf} require_groups=ops"."""
        path = os.path.join(self.pamd, SERVICE)
        os.unlink(path)
        write_private(path, text.replace("{module}", MODULE).replace(
            "{conf}", self.conf), 0o644)

    def run(self, person=None, user="alice", rhost="198.51.100.7",
            timeout=RUN_TIMEOUT, ruser=None, tty=None, dev_binds=(),
            acct=None, setuser=None, acct_delay=None):
        """One pam_authenticate.  rhost (PAM_RHOST), ruser (PAM_RUSER) and
        tty (PAM_TTY): None leaves them unset.  A login with neither rhost
        nor ruser and a local terminal as tty (CONSOLE, whose device is the
        real one) is the only kind for which confirm = no is honoured.
        dev_binds: see Syslog.wrap().  acct: "1" for pam_acct_mgmt after
        pam_authenticate, "only" for pam_acct_mgmt alone (out.acct_code);
        setuser: PAM_USER before pam_acct_mgmt; acct_delay: seconds
        pamdrive waits before it (pamdrive's header)."""
        return run_pam(self, person or Person(), user, rhost, timeout,
                       ruser, tty, dev_binds, acct, setuser, acct_delay)


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


def new_phone():
    """A phone (phone.py's, recording the callback) to hand to several
    Persons: its cookie jar keeps the provider's session."""
    return _Phone()


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
    phone_kw     deny=True, iss_override=..., drop_iss=..., cancel_login=...,
                 edit_url=f (the person changes the authorize URL to f(url)
                 before following it)
    phone        the phone to use (new_phone(): one phone, one cookie jar,
                 for several sign-ins, so that the provider's session
                 carries over); None: a new phone with an empty jar
    """

    def __init__(self, login="alice", sign_in_at="link", answers=("{code}",),
                 answer_delay=0.0, phone_delay=0.0, phone=None, **phone_kw):
        self.login = login
        self.phone = phone
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
        p = self.phone or _Phone()
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
        self.acct_code = None   # pam_acct_mgmt's, when run (acct=)
        self.acct_name = None
        self.acct_user = None   # PAM_USER after pam_acct_mgmt
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
        if self.acct_code is not None:
            lines.append("ACCT %s %s / USER %s" % (
                self.acct_code, self.acct_name, self.acct_user))
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
            dev_binds=(), acct=None, setuser=None, acct_delay=None):
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
    if acct is not None:
        env["PAMDRIVE_ACCT"] = acct
    if setuser is not None:
        env["PAMDRIVE_SETUSER"] = setuser
    if acct_delay is not None:
        env["PAMDRIVE_ACCT_DELAY"] = str(acct_delay)
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
            elif kind == "ACCT":
                code, _, name = rest.partition(" ")
                out.acct_code, out.acct_name = int(code), name
                out.ended = now
            elif kind == "USER":
                if out.acct_code is None:
                    out.user = rest
                else:
                    out.acct_user = rest
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

    def assertOneLog(self, out, pattern, severity=None, logs=None,
                     phase="auth"):
        """Exactly one syslog line for the run (or of `logs`), the module's
        (authpriv, 'pam_ion(SERVICE:auth): ...', or ':account' with
        phase="account"), matching pattern, and free of every secret the
        test knows of."""
        if logs is None:
            logs = out.logs
        self.check(out, len(logs) == 1,
                   "expected exactly one syslog line, got %d" % len(logs))
        e = logs[0]
        m = (ACCOUNT_LOG_RE if phase == "account" else
             MODULE_LOG_RE).match(e["text"])
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
