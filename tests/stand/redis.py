"""Debian's redis-server for the relay's Redis store, run by the harness
itself: a fresh directory of its own holds the config, the log, the
password file and (unix=True) the socket, so the system's service and
/etc/redis are never touched.  Nothing is saved: no RDB (save ""), no AOF.

    with RedisServer() as r:            # 127.0.0.1 on a free port
        relay --store r.url
    RedisServer(unix=True)              # a unix socket, mode 0700
    RedisServer(password="pw")          # requirepass: --store-password-file
    RedisServer(acl_user=("relay", "pw"))  # AUTH relay pw, only P* keys

Redis 7's DEBUG command is off by default; it is enabled here for local
connections (debug_sleep() needs it)."""

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from stand.files import write_private
from stand.proc import (Daemon, StandError, _running, die_with_parent,
                        free_port, tail)

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_CLI = "/usr/bin/redis-cli"

# What an ACL user made for the relay may run (besides its keys ~P* and
# channels &P*): the commands the store runs, as pam-ion-relay(8) lists them.
RELAY_COMMANDS = (
    "evalsha", "eval", "script|load", "publish", "subscribe", "ping",
    "select", "info", "get", "getrange", "set", "del", "exists", "pttl", "zadd",
    "zcard", "zcount", "zrem", "zremrangebyscore", "time",
)


def redis_missing():
    """Why redis-server cannot run here, or None."""
    for path in (REDIS_SERVER, REDIS_CLI):
        if not os.access(path, os.X_OK):
            return ("%s is not installed (scripts/deps.sh installs "
                    "redis-server and redis-tools)" % path)
    return None


class RedisServer(Daemon):
    """redis-server in the foreground on 127.0.0.1:port (a free port,
    self.port) or, unix=True, on the socket self.socket (unixsocketperm
    700, no TCP), in its fresh directory self.dir; its log is
    self.dir/redis.log (kept across restart()).

    password: the default user's password (requirepass).
    acl_user: (name, password) of one more user who may only touch the keys
    and channels starting with acl_prefix and run acl_commands; the default
    user then gets a random password when password is None, so only the
    ACL user and cli() get in.  maxmemory: e.g. "10mb" (the policy stays
    noeviction).

    url is what --store takes (with USER@ for the ACL user);
    password_file is a root-owned 0600 file with the password the relay
    must give (the ACL user's, else password), or None.  cli() runs
    redis-cli as the default user (everything allowed).

    The server is started by the constructor unless start=False; stop()
    (SIGTERM) / kill() (SIGKILL) end it, restart() starts it again with
    the same port or socket and config, remove() deletes the directory.
    As a context manager it is stopped and removed on exit."""

    def __init__(self, unix=False, password=None, acl_user=None,
                 maxmemory=None, acl_prefix="pam_ion:",
                 acl_commands=RELAY_COMMANDS, db=0, start=True,
                 start_timeout=20.0):
        why = redis_missing()
        if why is not None:
            raise StandError(why)
        self.dir = tempfile.mkdtemp(prefix="redis-")
        super().__init__("redis", self.dir)
        self.unix = unix
        self.db = db
        self.start_timeout = start_timeout
        self.acl_user = acl_user
        self.password = password
        if acl_user is not None and password is None:
            self.password = secrets.token_hex(16)
        self.conf = os.path.join(self.dir, "redis.conf")
        if unix:
            self.port = None
            self.socket = os.path.join(self.dir, "redis.sock")
            if len(self.socket.encode()) >= 108:
                raise StandError("socket path too long: " + self.socket)
        else:
            self.port = free_port()
            self.socket = None
        lines = [
            "daemonize no",
            "dir " + self.dir,
            'logfile ""',
            "bind 127.0.0.1",
            "port %d" % (0 if unix else self.port),
            'save ""',
            "appendonly no",
            "protected-mode yes",
            "enable-debug-command local",
            "databases 16",
        ]
        if unix:
            lines += ["unixsocket " + self.socket, "unixsocketperm 700"]
        if self.password is not None:
            lines.append("requirepass " + self.password)
        if acl_user is not None:
            name, pw = acl_user
            lines.append("user %s on >%s ~%s* &%s* -@all %s" % (
                name, pw, acl_prefix, acl_prefix,
                " ".join("+" + c for c in acl_commands)))
        if maxmemory is not None:
            lines += ["maxmemory %s" % maxmemory,
                      "maxmemory-policy noeviction"]
        write_private(self.conf, "\n".join(lines) + "\n", 0o600)
        self.password_file = None
        relay_pw = acl_user[1] if acl_user is not None else password
        if relay_pw is not None:
            self.password_file = write_private(
                os.path.join(self.dir, "store_password"), relay_pw + "\n",
                0o600)
        if unix:
            self.url = "redis+unix://%s?db=%d" % (self.socket, db)
            if acl_user is not None:
                # The contract's unix form has no USER; what the relay
                # makes of one is a test's business (url_unix_user).
                self.url_unix_user = "redis+unix://%s@%s?db=%d" % (
                    acl_user[0], self.socket, db)
        else:
            self.url = "redis://%s127.0.0.1:%d/%d" % (
                acl_user[0] + "@" if acl_user is not None else "",
                self.port, db)
        if start:
            try:
                self.start()
            except BaseException:
                self.stop()
                self.remove()
                raise

    # -- the process ---------------------------------------------------

    def start(self):
        """Starts redis-server (its log appended to) and waits until it
        answers PING."""
        if self.proc is not None and self.proc.poll() is None:
            raise StandError("redis-server is already running")
        with open(self.errpath, "a") as log:
            self.proc = subprocess.Popen(
                [REDIS_SERVER, self.conf], stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent, cwd=self.dir)
        _running.append(self)
        self.wait_ready()
        return self.proc

    def wait_ready(self, timeout=None):
        """Waits until PING answers PONG; StandError when the server exits
        first or the time is up."""
        timeout = self.start_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise StandError("redis-server exited %s:\n%s" % (
                    None if self.proc is None else self.proc.returncode,
                    self.logs()))
            try:
                r = self._run_cli(("PING",), timeout=2.0)
                last = (r.stdout + r.stderr).strip()
                if r.returncode == 0 and r.stdout.strip() == "PONG":
                    return
            except subprocess.TimeoutExpired:
                last = "redis-cli PING timed out"
            time.sleep(0.05)
        raise StandError("redis-server did not answer PING within %.0f s "
                         "(last: %r):\n%s" % (timeout, last, self.logs()))

    def stop(self, grace=10.0):
        """SIGTERM (SIGKILL after grace seconds); nothing is saved."""
        super().stop(grace)

    def kill(self):
        """SIGKILL, as a crash would end it; waits for it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        if self in _running:
            _running.remove(self)
        self.proc = None

    def restart(self):
        """stop() then start(): same port or socket, same config, empty
        (nothing was saved)."""
        self.stop()
        self.start()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def remove(self):
        """Deletes the directory (after stop())."""
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        self.remove()
        return False

    # -- talking to it -------------------------------------------------

    def cli_argv(self, user=None, password=None, db=None):
        """redis-cli's argv up to the command, as the default user unless
        user/password say otherwise, in self.db unless db says."""
        argv = [REDIS_CLI, "--no-auth-warning", "-n",
                str(self.db if db is None else db)]
        if self.unix:
            argv += ["-s", self.socket]
        else:
            argv += ["-h", "127.0.0.1", "-p", str(self.port)]
        if user is not None:
            argv += ["--user", user]
        pw = password if password is not None else (
            self.password if user is None else None)
        if pw is not None:
            argv += ["--pass", pw]
        return argv

    def _run_cli(self, args, timeout=30.0, user=None, password=None,
                 db=None):
        return subprocess.run(
            self.cli_argv(user, password, db) + [str(a) for a in args],
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=timeout)

    def cli(self, *args, timeout=30.0, user=None, password=None, db=None,
            check=True):
        """redis-cli ARGS; its stdout without the final newline.  An error
        reply (redis-cli prints "(error) ..." or "ERR ..." and still exits
        0 for some) comes back as text; check: StandError when redis-cli
        itself fails (exit status not 0)."""
        r = self._run_cli(args, timeout, user, password, db)
        if check and r.returncode != 0:
            raise StandError("redis-cli %s: exit %d: %s%s" % (
                " ".join(map(str, args)), r.returncode, r.stdout,
                r.stderr))
        return r.stdout.rstrip("\n")

    def debug_sleep(self, seconds):
        """DEBUG SLEEP seconds from a background thread (Redis answers
        nobody meanwhile); returns the thread (join() it)."""
        t = threading.Thread(target=self.cli,
                             args=("DEBUG", "SLEEP", str(seconds)),
                             kwargs={"timeout": seconds + 30.0,
                                     "check": False},
                             daemon=True)
        t.start()
        return t

    def flushall(self):
        """FLUSHALL: every database empty."""
        out = self.cli("FLUSHALL")
        if out != "OK":
            raise StandError("FLUSHALL answered %r" % out)

    def keys(self, pattern="*", db=None):
        """The keys matching pattern in self.db or db (KEYS: a test's
        few)."""
        out = self.cli("KEYS", pattern, db=db)
        return [k for k in out.splitlines() if k]

    def config_set(self, name, value):
        """CONFIG SET name value; StandError unless OK."""
        out = self.cli("CONFIG", "SET", name, value)
        if out != "OK":
            raise StandError("CONFIG SET %s %s answered %r" % (
                name, value, out))

    def log_tail(self, n=40):
        return tail(self.errpath, n)
