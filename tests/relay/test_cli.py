"""pam-ion-relay command line: every flag, good and bad values, signals."""

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import unittest

import relaytest as rt

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

    def test_store_redis_refused_for_now(self):
        for v in ["redis://127.0.0.1:6379", "redis://127.0.0.1:6379/0"]:
            with self.subTest(value=v):
                self.check_refused(LISTEN + REQ + ["--store", v], "store")

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
        for opt in ["--ttl", "--listen", "--store", "--max-pending",
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


class HelpAndVersion(unittest.TestCase):

    def test_help(self):
        p = subprocess.run([rt.relay_bin(), "--help"], capture_output=True,
                           timeout=10, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p)
        out = p.stdout.decode()
        for opt in ["--listen", "--public-url", "--authorize-url-prefix",
                    "--store", "--ttl", "--max-pending", "--max-connections",
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
