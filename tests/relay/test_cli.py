"""pam-ion-relay command line: every flag, good and bad values, signals."""

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import relaytest as rt
from stand.files import write_private
from stand.redis import RedisServer

KEYS = rt.write_keys_file(rt.CLIENT_A.line)
atexit.register(shutil.rmtree, os.path.dirname(KEYS), True)
REQ = ["--public-url", rt.PUBLIC_URL, "--authorize-url-prefix", rt.PREFIX,
       "--client-keys", KEYS]
LISTEN = ["--listen", "127.0.0.1:0"]
ULIMIT = 1024           # open-file limit for the max-connections range tests


def have_ipv6():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def url_of_len(n, scheme="https://", tail=".example"):
    host = "r" * (n - len(scheme) - len(tail))
    u = scheme + host + tail
    assert len(u) == n
    return u


def run_bad(argv, shell_prefix=None, timeout=10):
    """Run the relay with argv (after the binary); it must not start."""
    cmd = [rt.relay_bin()] + argv
    if shell_prefix:
        cmd = ["/bin/sh", "-c", shell_prefix + ' && exec "$0" "$@"'] + cmd
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return None, out.decode("utf-8", "replace"), err.decode("utf-8",
                                                                "replace")
    return p.returncode, out.decode("utf-8", "replace"), err.decode(
        "utf-8", "replace")


class CommandLineErrors(unittest.TestCase):
    """Any wrong flag/value: one stderr line 'pam-ion-relay: ...', exit 2."""

    def check_refused(self, argv, names, shell_prefix=None):
        rc, out, err = run_bad(argv, shell_prefix)
        self.assertIsNotNone(rc, "relay started/hung with %r (stderr %r)"
                             % (argv, err))
        self.assertEqual(rc, 2, "exit status for %r (stderr %r)" % (argv, err))
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, "want exactly one stderr line for %r, "
                         "got %r" % (argv, err))
        self.assertTrue(err.endswith("\n"), repr(err))
        self.assertTrue(lines[0].startswith("pam-ion-relay: "), repr(err))
        if isinstance(names, str):
            names = [names]
        self.assertTrue(any(n in lines[0] for n in names),
                        "error line %r for %r does not name %r"
                        % (lines[0], argv, names))
        self.assertNotIn("listening on", err)

    def check_value_refused(self, opt, value, extra=()):
        if opt == "--listen":
            argv = ["--listen", value] + REQ
        elif opt == "--public-url":
            argv = LISTEN + ["--public-url", value,
                             "--authorize-url-prefix", rt.PREFIX]
        else:
            argv = LISTEN + REQ + list(extra) + [opt, value]
        with self.subTest(opt=opt, value=value):
            self.check_refused(argv, opt.lstrip("-"))

    def test_bad_listen(self):
        for v in ["", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
                  "127.0.0.1:-1", "127.0.0.1:http", "300.0.0.1:80",
                  "[::1", "[::1]:99999", ":", "127.0.0.1:80:80"]:
            self.check_value_refused("--listen", v)

    def test_bad_public_url(self):
        for v in ["", "relay.example", "ftp://relay.example",
                  "http://relay.example", "http://127.0.0.1.evil.example",
                  "http://localhost.evil.example", "http://[::2]:8080",
                  "https://relay.example/?x=1", "https://relay.example?x",
                  "https://relay.example/#frag", "https://user@relay.example",
                  "https://user:pw@relay.example", "https://",
                  "https:relay.example", "https://relay .example"]:
            self.check_value_refused("--public-url", v)

    def test_public_url_too_long(self):
        # 47 characters + "/l/" + 11 = 61 > 60
        self.check_value_refused("--public-url", url_of_len(47))
        self.check_value_refused("--public-url",
                                 "https://relay.example/" + "p" * 40)

    def test_bad_authorize_url_prefix(self):
        for v in ["", "a.example/oauth2", "ftp://a.example/oauth2",
                  "http://a.example/oauth2", "http://127.0.0.1.evil.example/x",
                  "http://localhost.evil.example/x", "https://"]:
            argv = LISTEN + ["--public-url", rt.PUBLIC_URL,
                             "--authorize-url-prefix", v]
            with self.subTest(value=v):
                self.check_refused(argv, "authorize-url-prefix")

    def test_too_many_prefixes(self):
        argv = LISTEN + ["--public-url", rt.PUBLIC_URL]
        for i in range(17):
            argv += ["--authorize-url-prefix", "https://p%d.example/o" % i]
        self.check_refused(argv, "authorize-url-prefix")

    def test_bad_store_url(self):
        for v in ["redis", "redis:", "redis:/", "redis://", "redis:///0",
                  "rediss://127.0.0.1", "http://127.0.0.1:6379",
                  "redis://127.0.0.1:0",
                  "redis://127.0.0.1:65536", "redis://127.0.0.1:http",
                  "redis://127.0.0.1:", "redis://127.0.0.1:-1",
                  "redis://127.0.0.1:99999999999999999999",
                  "redis://127.0.0.1/x", "redis://127.0.0.1/-1",
                  "redis://127.0.0.1/0x", "redis://127.0.0.1/0/",
                  "redis://127.0.0.1/99999999999999999999",
                  "redis://127.0.0.1?db=1", "redis://127.0.0.1/0#f",
                  "redis://[::1", "redis://::1:6379", "redis://@127.0.0.1",
                  "redis://a b.example", "redis+unix://",
                  "redis+unix:///", "redis+unix://tmp/redis.sock",
                  "redis+unix:///tmp/redis.sock?db=x",
                  "redis+unix:///tmp/redis.sock?db=-1",
                  "redis+unix:///tmp/redis.sock?db=",
                  "redis+unix:///tmp/redis.sock?x=1",
                  "redis+unix:///" + "s" * 120]:
            self.check_value_refused("--store", v)

    def test_password_in_store_url(self):
        # a password on the command line is in ps for everyone: the
        # refusal says where it goes instead
        for v in ["redis://:pw@127.0.0.1", "redis://relay:pw@127.0.0.1",
                  "redis://relay:pw@127.0.0.1:6379/0", "redis://:@127.0.0.1"]:
            with self.subTest(value=v):
                argv = LISTEN + REQ + ["--store", v]
                self.check_refused(argv, "--store-password-file")
                rc, out, err = run_bad(argv)
                self.assertNotIn("pw@", err, "the password is echoed back")

    def test_store_url_never_echoed(self):
        # other clients' URL forms carry the password where this one has
        # none (a query, a password alone, one with a '/'): a refused
        # --store is never written back to the journal
        for v in ["redis://127.0.0.1:6379/0?password=SeKrEt1",
                  "redis+unix:///run/redis.sock?db=0&password=SeKrEt1",
                  "redis+unix://:SeKrEt1@/run/redis.sock",
                  "redis://u:SeKrEt1/x@127.0.0.1/0",
                  "rediss://:SeKrEt1@127.0.0.1"]:
            with self.subTest(value=v):
                rc, out, err = run_bad(LISTEN + REQ + ["--store", v])
                self.assertEqual(rc, 2, err)
                self.assertIn("--store", err)
                self.assertNotIn("SeKrEt1", err, "the URL is echoed back")
        # a user name alone may be a password (some clients' form):
        # without --store-password-file it is refused, not named
        rc, out, err = run_bad(LISTEN + REQ
                               + ["--store", "redis://SeKrEt1@127.0.0.1"])
        self.assertEqual(rc, 2, err)
        self.assertIn("--store-password-file", err)
        self.assertNotIn("SeKrEt1", err)

    def test_bad_store_prefix(self):
        for v in ["", "a b", "a*", "a?", "a[b]", "a/b", "a{b}", "\u00e9t\u00e9",
                  "p\tx", "x" * 65]:
            self.check_value_refused("--store-prefix", v,
                                     ["--store", "redis://127.0.0.1"])

    def test_store_options_need_redis(self):
        # without a Redis store they would be ignored: a mistake, said so
        for store in ([], ["--store", "memory"]):
            for opt, v in [("--store-prefix", "pam_ion:"),
                           ("--store-password-file", KEYS)]:
                with self.subTest(store=store, opt=opt):
                    self.check_refused(LISTEN + REQ + store + [opt, v],
                                       opt.lstrip("-"))

    def test_bad_store(self):
        for v in ["", "file", "memoryx", "memory:"]:
            self.check_value_refused("--store", v)

    def test_bad_ttl(self):
        for v in ["9", "3601", "0", "-1", "abc", "", "10s", "1e2",
                  "99999999999999999999", "3.5"]:
            self.check_value_refused("--ttl", v)

    def test_bad_max_pending(self):
        for v in ["0", "10000001", "-1", "x", "", "99999999999999999999"]:
            self.check_value_refused("--max-pending", v)

    def test_bad_max_connections(self):
        for v in ["15", "0", "-1", "x", ""]:
            self.check_value_refused("--max-connections", v,
                                     ["--max-connections-per-ip", "1"])

    def test_max_connections_above_open_file_limit(self):
        # with an open-file limit of 1024 the most allowed is 1024 - 64 = 960
        argv = LISTEN + REQ + ["--max-connections", str(ULIMIT - 64 + 1),
                               "--max-connections-per-ip", "1"]
        self.check_refused(argv, "max-connections",
                           shell_prefix="ulimit -n %d" % ULIMIT)

    def test_bad_limits(self):
        # bad values, and each above what --max-connections 16 allows:
        # per address at most all 16; parked polls leave 4 for callbacks
        for opt, over, says in [
                ("--max-connections-per-ip", "17", "max-connections"),
                ("--max-parked", "13", "--max-parked (13): at most 12")]:
            for v in ["0", "-1", "x", ""]:
                self.check_value_refused(opt, v)
            argv = LISTEN + REQ + ["--max-connections", "16", opt, over]
            self.check_refused(argv, says)

    def test_bad_connection_timeout(self):
        for v in ["0", "301", "-1", "x", ""]:
            self.check_value_refused("--connection-timeout", v)

    def test_bad_threads(self):
        for v in ["0", "65", "-1", "x", ""]:
            self.check_value_refused("--threads", v)

    def test_missing_value(self):
        for opt in ["--ttl", "--listen", "--store", "--store-password-file",
                    "--store-prefix", "--max-pending",
                    "--max-connections", "--max-connections-per-ip",
                    "--max-parked", "--connection-timeout", "--threads"]:
            with self.subTest(opt=opt):
                self.check_refused(REQ + [opt], opt.lstrip("-"))
        with self.subTest(opt="--public-url"):
            self.check_refused(["--authorize-url-prefix", rt.PREFIX,
                                "--public-url"], "public-url")
        with self.subTest(opt="--authorize-url-prefix"):
            self.check_refused(["--public-url", rt.PUBLIC_URL,
                                "--authorize-url-prefix"],
                               "authorize-url-prefix")

    def test_unknown_flags(self):
        for extra, name in [(["--bogus"], "bogus"), (["--bogus=1"], "bogus"),
                            (["-x"], ["-x", "'x'", '"x"']), (["positional"], "positional"),
                            (["--ttl=20x"], "ttl")]:
            with self.subTest(extra=extra):
                self.check_refused(LISTEN + REQ + extra, name)

    def test_missing_required(self):
        with self.subTest("no --public-url"):
            self.check_refused(LISTEN + ["--authorize-url-prefix", rt.PREFIX],
                               "public-url")
        with self.subTest("no --authorize-url-prefix"):
            self.check_refused(LISTEN + ["--public-url", rt.PUBLIC_URL],
                               "authorize-url-prefix")
        with self.subTest("no arguments"):
            self.check_refused([], ["public-url", "authorize-url-prefix"])


class StorePasswordFile(unittest.TestCase):
    """--store-password-file: the client keys' file rules, and not
    readable by others either; the first line is the password.  A file the
    relay refuses stops it at start (exit 2, one line naming the option);
    Redis itself need not be there for that."""

    STORE = ["--store", "redis://127.0.0.1:1"]

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="relay-store-pw-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def pw_file(self, text, mode=0o600, name="store_password"):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def assertRefused(self, path, *needles):
        argv = LISTEN + REQ + self.STORE + ["--store-password-file", path]
        rc, out, err = run_bad(argv)
        self.assertIsNotNone(rc, "relay started with %r: %r" % (path, err))
        lines = err.splitlines()
        self.assertEqual(rc, 2, "exit status; stderr %r" % err)
        self.assertEqual(len(lines), 1, "one line, got %r" % err)
        self.assertTrue(lines[0].startswith("pam-ion-relay: "), lines[0])
        self.assertIn("store-password-file", lines[0])
        for n in needles:
            self.assertIn(n, lines[0])
        self.assertNotIn("listening", err)
        return lines[0]

    def test_missing(self):
        path = os.path.join(self.dir, "nope")
        self.assertRefused(path, path, "does not exist")

    def test_readable_by_others(self):
        for mode in (0o644, 0o604):
            with self.subTest(mode=oct(mode)):
                path = self.pw_file("s3cret-pw\n", mode,
                                    "pw%o" % mode)
                line = self.assertRefused(path, path, "readable by others",
                                          "chmod o-r")
                self.assertNotIn("s3cret-pw", line)

    def test_writable_by_group_or_others(self):
        for mode in (0o620, 0o602, 0o660):
            with self.subTest(mode=oct(mode)):
                path = self.pw_file("pw\n", mode, "pw%o" % mode)
                self.assertRefused(path, path, "writable by group or others")

    def test_symlink(self):
        path = self.pw_file("pw\n")
        link = os.path.join(self.dir, "link")
        os.symlink(path, link)
        self.assertRefused(link, link, "symbolic link")

    def test_directory(self):
        sub = os.path.join(self.dir, "d")
        os.mkdir(sub, 0o700)
        self.assertRefused(sub, "not a regular file")

    @unittest.skipUnless(os.geteuid() == 0, "needs root to chown")
    def test_owned_by_someone_else(self):
        path = self.pw_file("pw\n")
        os.chown(path, 4242, 4242)
        self.assertRefused(path, "owned by uid 4242")

    def test_bad_contents(self):
        for name, text in [("empty", ""), ("newline only", "\n"),
                           ("CR LF only", "\r\n"),
                           ("513 bytes", "Qx" + "p" * 511 + "\n"),
                           ("a tab", "SeKr\tEtPw\n"),
                           ("a control character", "SeKr\x01EtPw\n"),
                           ("DEL", "SeKr\x7fEtPw\n"),
                           ("a CR inside", "SeKr\rEtPw\n"),
                           ("a second line", "SeKrEtPw\nMoReLiNe\n"),
                           ("a NUL inside", "SeKr\0EtPw\n"),
                           ("a later line", "SeKrEtPw\n\n\nMoReLiNe")]:
            with self.subTest(name):
                path = self.pw_file(text, name=name.replace(" ", "_"))
                line = self.assertRefused(path, path)
                for secret in ("Qxppp", "SeKr", "EtPw", "MoReLiNe"):
                    self.assertNotIn(secret, line.replace(path, ""),
                                     "the file's text is in the message")


def wait_health(relay, want, timeout=10.0):
    """GET /healthz until it answers want; returns the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        r = relay.get("/healthz", timeout=5)
        if r.status == want or time.monotonic() > deadline:
            return r
        time.sleep(0.05)


class RedisStoreStarts(unittest.TestCase):
    """Each form of --store with a real redis-server: the relay connects
    (/healthz 200), a login goes through, and its keys are in Redis where
    the URL and --store-prefix say."""

    def redis(self, **kw):
        server = RedisServer(**kw)
        self.addCleanup(server.__exit__, None, None, None)
        return server

    def login_through(self, relay, server, prefix="pam_ion:", db=0,
                      user=None, password=None):
        r = wait_health(relay, 200)
        self.assertEqual(r.status, 200, "the store did not come up: %r\n%s"
                         % (r, relay.log_text()))
        login = relay.new_login()
        stored = self.keys(server, db, prefix)
        self.assertIn(prefix + "s:" + login.state, stored,
                      "the login is not in db %d under %r: %r"
                      % (db, prefix, stored))
        # a code of its own: a used code stays in Redis for the TTL
        code = "store-code-" + os.urandom(6).hex()
        self.assertEqual(login.callback_code(code).status, 200)
        r = login.poll(0)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"code": code})
        return stored

    def keys(self, server, db, prefix):
        return server.keys(prefix + "*", db=db)

    def start(self, args):
        relay = rt.Relay(args)
        self.addCleanup(relay.kill)
        return relay

    def stop_ok(self, relay):
        self.assertEqual(relay.stop(), 0, relay.log_text())

    def test_tcp(self):
        server = self.redis()
        relay = self.start(["--store", "redis://127.0.0.1:%d" % server.port])
        self.login_through(relay, server)
        self.stop_ok(relay)

    def test_tcp_db_and_prefix(self):
        server = self.redis()
        relay = self.start(["--store", "redis://127.0.0.1:%d/3" % server.port,
                            "--store-prefix", "site-A.relay_1:"])
        self.login_through(relay, server, prefix="site-A.relay_1:", db=3)
        self.assertEqual(self.keys(server, 0, ""), [], "keys in db 0")
        self.stop_ok(relay)

    def test_host_name(self):
        server = self.redis()
        relay = self.start(["--store",
                            "redis://localhost:%d/0" % server.port])
        self.login_through(relay, server)
        self.stop_ok(relay)

    def test_unix_socket(self):
        server = self.redis(unix=True)
        for url, db in [(server.url, 0), ("redis+unix://%s" % server.socket,
                                          0),
                        ("redis+unix://%s?db=5" % server.socket, 5)]:
            with self.subTest(url=url):
                relay = self.start(["--store", url])
                self.login_through(relay, server, db=db)
                self.stop_ok(relay)

    def test_requirepass(self):
        server = self.redis(password="pw-" + os.urandom(8).hex())
        relay = self.start(["--store", server.url,
                            "--store-password-file", server.password_file])
        self.login_through(relay, server)
        self.stop_ok(relay)

    def test_password_file_forms(self):
        # the first line is the password: a CR LF, no newline at all or
        # empty lines after it change nothing; 512 bytes is allowed
        pw = "Pw_" + os.urandom(6).hex()
        long_pw = "L" * 512
        for name, text, password, mode in [
                ("CR LF", pw + "\r\n", pw, 0o600),
                ("no newline", pw, pw, 0o600),
                ("empty lines after", pw + "\n\n\n", pw, 0o600),
                ("512 bytes", long_pw + "\n", long_pw, 0o600),
                ("group-readable", pw + "\n", pw, 0o640)]:
            with self.subTest(name):
                server = self.redis(password=password)
                path = os.path.join(server.dir, "pw-file")
                write_private(path, text, mode)
                relay = self.start(["--store", server.url,
                                    "--store-password-file", path])
                self.login_through(relay, server)
                self.stop_ok(relay)

    def test_acl_user(self):
        # a user who may touch only the relay's keys and channels and run
        # only what the store needs (stand/redis.py RELAY_COMMANDS)
        server = self.redis(acl_user=("pam-relay",
                                      "acl-" + os.urandom(8).hex()))
        self.assertIn("pam-relay@", server.url)
        relay = self.start(["--store", server.url,
                            "--store-password-file", server.password_file])
        self.login_through(relay, server)
        self.stop_ok(relay)

    def test_acl_user_with_a_prefix(self):
        server = self.redis(acl_user=("pam-relay", "acl-pw-2"),
                            acl_prefix="tenant7:")
        relay = self.start(["--store", server.url, "--store-prefix",
                            "tenant7:", "--store-password-file",
                            server.password_file])
        self.login_through(relay, server, prefix="tenant7:")
        self.stop_ok(relay)


class HelpAndVersion(unittest.TestCase):

    def test_help(self):
        p = subprocess.run([rt.relay_bin(), "--help"], capture_output=True,
                           timeout=10, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p)
        out = p.stdout.decode()
        for opt in ["--listen", "--public-url", "--authorize-url-prefix",
                    "--store", "--store-password-file", "--store-prefix",
                    "--ttl", "--max-pending", "--max-connections",
                    "--max-connections-per-ip", "--max-parked",
                    "--connection-timeout", "--threads", "--help",
                    "--version"]:
            self.assertIn(opt, out, "usage on stdout lacks " + opt)
        self.assertNotIn("listening on", p.stderr.decode())

    def test_version(self):
        p = subprocess.run([rt.relay_bin(), "--version"], capture_output=True,
                           timeout=10, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p)
        self.assertRegex(p.stdout.decode(), r"\Apam-ion-relay \d+\.\d+\S*\n\Z")
        self.assertNotIn("listening on", p.stderr.decode())


class GoodValuesStart(unittest.TestCase):
    """Every flag with a good value: the relay starts and answers /healthz."""

    def start_ok(self, args=(), public_url=rt.PUBLIC_URL,
                 prefixes=(rt.PREFIX,), listen="127.0.0.1:0",
                 shell_prefix=None):
        relay = rt.Relay(args, public_url=public_url, prefixes=prefixes,
                         listen=listen, shell_prefix=shell_prefix)
        try:
            r = relay.get("/healthz", timeout=10)
            self.assertEqual(r.status, 200, r)
        finally:
            rc = relay.stop()
        self.assertEqual(rc, 0, relay.log_text())
        return relay

    def test_listen(self):
        lst = ["127.0.0.1:0", "0.0.0.0:0"]
        if have_ipv6():
            lst.append("[::1]:0")
        for v in lst:
            with self.subTest(listen=v):
                relay = self.start_ok(listen=v)
                self.assertTrue(relay.port > 0)

    def test_listen_line_has_real_port(self):
        relay = rt.Relay()
        try:
            self.assertNotEqual(relay.port, 0)
            line = [l for l in relay.log_lines() if "listening on" in l][0]
            self.assertTrue(line.startswith("pam-ion-relay: "), line)
            self.assertIn("listening on 127.0.0.1:%d" % relay.port, line)
        finally:
            self.assertEqual(relay.stop(), 0)

    def test_listen_fixed_port(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        relay = self.start_ok(listen="127.0.0.1:%d" % port)
        self.assertEqual(relay.port, port)

    def test_public_url(self):
        for v in ["https://relay.example", "https://relay.example/",
                  "https://relay.example:8443/pam", "http://127.0.0.1:8080",
                  "http://localhost", "http://localhost:9000/r",
                  "http://127.9.9.9", "http://[::1]:9000",
                  url_of_len(46)]:
            with self.subTest(public_url=v):
                self.start_ok(public_url=v)

    def test_authorize_url_prefix(self):
        for v in ["https://a.example/oauth2", "https://a.example",
                  "https://a.example:8443/o", "http://127.0.0.1:9/oauth2",
                  "http://localhost:9/x", "http://[::1]:9/x",
                  "http://127.1.2.3/x"]:
            with self.subTest(prefix=v):
                self.start_ok(prefixes=[v])

    def test_sixteen_prefixes(self):
        self.start_ok(prefixes=["https://p%d.example/o" % i
                                for i in range(16)])

    def test_numeric_ranges(self):
        cases = [
            ["--store", "memory"],
            ["--ttl", "10"], ["--ttl", "300"], ["--ttl", "3600"],
            ["--max-pending", "1"], ["--max-pending", "10000000"],
            ["--max-connections", "16", "--max-connections-per-ip", "16"],
            ["--max-connections-per-ip", "1"],
            ["--max-connections-per-ip", "128"],
            ["--max-connections", "16", "--max-parked", "12"],
            ["--max-parked", "1"],
            ["--connection-timeout", "1"], ["--connection-timeout", "300"],
            ["--threads", "1"], ["--threads", "64"],
        ]
        for args in cases:
            with self.subTest(args=args):
                self.start_ok(args)

    def test_max_connections_up_to_open_file_limit(self):
        self.start_ok(["--max-connections", str(ULIMIT - 64),
                       "--max-connections-per-ip", "1"],
                      shell_prefix="ulimit -n %d" % ULIMIT)


class Signals(unittest.TestCase):
    """SIGTERM/SIGINT: parked polls get 202 pending, exit status 0."""

    def check_signal(self, sig):
        relay = rt.Relay()
        try:
            login = relay.new_login()
            p = rt.Poller(relay, login.secret, 25)
            p.start()
            try:                        # best effort: the gauge itself
                gauge = rt.wait_parked(relay, 1)    # is tested elsewhere
            except AssertionError:
                gauge = None
            time.sleep(0.3)
            t0 = time.monotonic()
            relay.proc.send_signal(sig)
            p.join(5)
            self.assertFalse(p.is_alive(), "parked poll not answered")
            self.assertIsNone(p.exc, "parked poll (parked gauge %r) got %r "
                              "instead of 202" % (gauge, p.exc))
            self.assertEqual(p.resp.status, 202, p.resp)
            self.assertEqual(p.resp.json(), {"status": "pending"})
            rc = relay.proc.wait(10)
            self.assertEqual(rc, 0, relay.log_text())
            self.assertLess(time.monotonic() - t0, 10)
        finally:
            relay.kill()

    # repeated: a shutdown race that drops the 202 only now and then
    # must still show up
    ROUNDS = 8

    def test_sigterm(self):
        for i in range(self.ROUNDS):
            with self.subTest(round=i):
                self.check_signal(signal.SIGTERM)

    def test_sigint(self):
        for i in range(self.ROUNDS):
            with self.subTest(round=i):
                self.check_signal(signal.SIGINT)

    def test_sigterm_idle(self):
        relay = rt.Relay()
        rc = relay.stop(signal.SIGTERM)
        self.assertEqual(rc, 0)

    def test_sigint_idle(self):
        relay = rt.Relay()
        rc = relay.stop(signal.SIGINT)
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    unittest.main()
