"""--client-keys, PAM-Ion-Client-Key, SIGHUP and --new-client-key.

Only PAM hosts may use /v1: every request there needs a key whose SHA-256
is in the keys file, a login is collected only with the key that registered
it, and SIGHUP re-reads the file (a failed reload keeps the clients in
force).  The relay refuses to start without a usable keys file.
"""

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

import relaytest as rt

P = "pam_ion_relay_"
REQ = ["--listen", "127.0.0.1:0", "--public-url", rt.PUBLIC_URL,
       "--authorize-url-prefix", rt.PREFIX]


def run_relay(argv, timeout=10):
    """Runs the relay binary with argv; returns (status, stdout, stderr)."""
    p = subprocess.run([rt.relay_bin()] + argv, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


class TempDir(unittest.TestCase):
    assertJsonError = rt.RelayTestCase.assertJsonError

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="relay-keys-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def keys(self, text, mode=0o600, name="clients"):
        return rt.write_keys_file(text, mode, self.dir, name)


class RefusedAtStart(TempDir):
    """A relay without a usable keys file does not start: exit status 2 and
    one stderr line that says what is wrong with which file and line."""

    def assertRefused(self, argv, *needles):
        rc, out, err = run_relay(argv)
        lines = err.splitlines()
        self.assertEqual(rc, 2, "exit status; stderr %r" % err)
        self.assertEqual(out, "")
        self.assertEqual(len(lines), 1, "one line, got %r" % err)
        self.assertTrue(lines[0].startswith("pam-ion-relay: --client-keys"),
                        lines[0])
        for n in needles:
            self.assertIn(n, lines[0])
        self.assertNotIn("listening", err)
        return lines[0]

    def test_no_option_no_open_mode(self):
        self.assertRefused(REQ, "--client-keys is required")

    def test_missing_file(self):
        path = os.path.join(self.dir, "nope")
        self.assertRefused(REQ + ["--client-keys", path],
                           path + ": does not exist")

    def test_group_or_other_writable(self):
        for mode in (0o620, 0o660, 0o602, 0o666, 0o622):
            with self.subTest(mode=oct(mode)):
                path = self.keys(rt.CLIENT_A.line, mode)
                self.assertRefused(REQ + ["--client-keys", path], path,
                                   "writable by group or others",
                                   "(mode %04o); chmod go-w it" % mode)

    def test_readable_by_others_is_fine(self):
        # hashes only: reading them gets nobody a key
        path = self.keys(rt.CLIENT_A.line, 0o644)
        relay = rt.Relay(client_keys=path)
        self.assertEqual(relay.stop(), 0)

    def test_symlink(self):
        path = self.keys(rt.CLIENT_A.line)
        link = os.path.join(self.dir, "link")
        os.symlink(path, link)
        self.assertRefused(REQ + ["--client-keys", link], link,
                           "is a symbolic link")

    def test_directory(self):
        self.assertRefused(REQ + ["--client-keys", self.dir],
                           "not a regular file")

    @unittest.skipUnless(os.geteuid() == 0, "needs root to chown")
    def test_owned_by_someone_else(self):
        path = self.keys(rt.CLIENT_A.line)
        os.chown(path, 4242, 4242)
        self.assertRefused(REQ + ["--client-keys", path],
                           "owned by uid 4242, not by root")

    def test_uppercase_hash(self):
        path = self.keys(rt.CLIENT_A.line + "host-up %s\n"
                         % rt.CLIENT_B.hash.upper())
        self.assertRefused(REQ + ["--client-keys", path],
                           path + ":2: the hash must be 64 lowercase hex")

    def test_bad_lines(self):
        cases = [
            ("host-a\n", ":1: expected 'NAME SHA256HEX'"),
            ("# hosts\n\nhost-a %s extra\n" % rt.CLIENT_A.hash,
             ":3: expected 'NAME SHA256HEX'"),
            ("host/a %s\n" % rt.CLIENT_A.hash, ":1: the name must be"),
            ("%s %s\n" % ("h" * 65, rt.CLIENT_A.hash), ":1: the name must be"),
            ("host-a %s\n" % rt.CLIENT_A.hash[:63], ":1: the hash must be"),
            ("host-a %s\n" % rt.CLIENT_A.key, ":1: the hash must be"),
        ]
        for text, needle in cases:
            with self.subTest(text=text):
                path = self.keys(text)
                self.assertRefused(REQ + ["--client-keys", path],
                                   path + needle)

    def test_duplicates(self):
        a2 = rt.Client(rt.CLIENT_A.name)
        with self.subTest("name"):
            path = self.keys(rt.CLIENT_A.line + rt.CLIENT_B.line + a2.line)
            self.assertRefused(REQ + ["--client-keys", path],
                               path + ":3: duplicate name host-a.example "
                               "(first on line 1)")
        with self.subTest("hash"):
            same_key = rt.Client("host-c", rt.CLIENT_B.key)
            path = self.keys(rt.CLIENT_B.line + "# c\n" + same_key.line)
            self.assertRefused(REQ + ["--client-keys", path],
                               path + ":3: duplicate hash")


class Header(rt.RelayTestCase):
    """PAM-Ion-Client-Key on every /v1 request, checked first."""

    def assertKeyRefused(self, r):
        doc = self.assertJsonError(r, 401, "unauthorized")
        self.assertIn(rt.KEY_HEADER, doc["error_description"])
        return doc

    def test_register_without_or_with_a_wrong_key(self):
        relay = self.relay
        pending = relay.metric(P + "pending_logins")
        wrong = [None, "", rt.CLIENT_A.key[:-1], rt.CLIENT_A.key + "x",
                 rt.CLIENT_A.key.upper(), "k" * 43, rt.CLIENT_A.hash,
                 rt.Client("host-a.example").key, "k" * 31, "k" * 257]
        for key in wrong:
            with self.subTest(key=key):
                r, login = relay.register(extra=None)
                self.assertEqual(r.status, 201)     # with the key: fine
                self.assertEqual(login.poll(0).status, 202)
                r, _ = relay.register_with(key)
                self.assertKeyRefused(r)
                self.assertEqual(
                    relay.req("GET", "/v1/logins/result",
                              headers={"Authorization": "Bearer "
                                       + login.secret,
                                       rt.KEY_HEADER: key}).status, 401)
        self.assertEqual(relay.metric(P + "pending_logins"),
                         pending + len(wrong))

    def test_key_checked_before_anything_else(self):
        relay = self.relay
        no_key = {rt.KEY_HEADER: None}
        # before the method, the body's size and type, and the Bearer
        for method, path, body, h in (
                ("DELETE", "/v1/logins", None, {}),
                ("GET", "/v1/logins", None, {}),
                ("POST", "/v1/logins/result", None, {}),
                ("POST", "/v1/logins", " " * 9000, {}),
                ("POST", "/v1/logins", "{}", {"Content-Type": "text/plain"}),
                ("POST", "/v1/logins", "not json",
                 {"Content-Type": "application/json"}),
                ("GET", "/v1/logins/result?wait=x", None, {}),
                ("GET", "/v1/logins/result", None,
                 {"Authorization": "Bearer nope"})):
            with self.subTest(method=method, path=path):
                h = dict(h, **no_key)
                r = relay.req(method, path, body=body, headers=h)
                self.assertKeyRefused(r)
                self.assertIsNone(r.header("Allow"))
                self.assertSecurityHeaders(r)

    def test_other_paths_need_no_key(self):
        login = self.relay.new_login()
        for path in ("/healthz", "/metrics", login.path):
            self.assertEqual(self.relay.get(path).status, 200, path)
        self.assertEqual(login.callback_code("no-key-needed").status, 200)

    def test_refusals_counted_and_logged_without_the_key(self):
        relay = self.relay
        # earlier tests' refusals may have used up this second's lines
        rt.next_log_second()
        m0 = relay.metrics()
        n0 = len(relay.log_lines())
        bogus = rt.b64url(os.urandom(32))
        relay.register_with(None)
        relay.register_with(bogus)
        relay.req("GET", "/v1/logins/result", headers={rt.KEY_HEADER: bogus})
        m1 = relay.metrics()
        self.assertEqual(m1.value(P + "rejections_total", reason="client_key")
                         - m0.value(P + "rejections_total",
                                    reason="client_key"), 3)
        self.assertEqual(m1.value(P + "rejections_total",
                                  reason="unauthorized"),
                         m0.value(P + "rejections_total",
                                  reason="unauthorized"))
        deadline = time.monotonic() + 3
        while True:
            lines = relay.log_lines()[n0:]
            refused = [l for l in lines if "refused a request to /v1" in l]
            if len(refused) >= 3 or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        self.assertEqual(len(refused), 3, lines)
        self.assertIn("from 127.0.0.1: no PAM-Ion-Client-Key", refused[0])
        self.assertIn("from 127.0.0.1: unknown client key", refused[1])
        self.assertIn("/v1/logins/result from 127.0.0.1", refused[2])
        self.assertNotIn(bogus, relay.log_text())

    def test_registration_log_names_the_client(self):
        relay = self.relay
        a = relay.new_login()
        r, b = relay.register_with(rt.CLIENT_B.key)
        self.assertEqual(r.status, 201)
        relay.wait_log("login %s registered" % a.id)
        log = relay.wait_log("login %s registered" % b.id)
        self.assertRegex(log, r"login %s registered by client host-a\.example "
                         r"from 127\.0\.0\.1 for " % re.escape(a.id))
        self.assertRegex(log, r"login %s registered by client host-b\.example "
                         r"from 127\.0\.0\.1 for " % re.escape(b.id))

    def test_other_clients_login_is_unknown(self):
        relay = self.relay
        login = relay.new_login()                   # host-a's
        as_b = {rt.KEY_HEADER: rt.CLIENT_B.key}
        unknown_secret, _ = rt.new_secret()
        want = relay.poll(unknown_secret, 0, headers=as_b)
        self.assertJsonError(want, 404, "unknown_login")
        r = login.poll(0, headers=as_b)
        self.assertEqual((r.status, r.body), (want.status, want.body))
        # a poll by host-b is not parked: it is answered at once
        r = login.poll(5, headers=as_b)
        self.assertEqual((r.status, r.body), (want.status, want.body))
        self.assertLess(r.elapsed, 2.0)
        self.assertEqual(login.callback_code("code-for-a").status, 200)
        r = login.poll(0, headers=as_b)
        self.assertEqual((r.status, r.body), (want.status, want.body))
        # the rightful client still gets it, once
        r = login.poll(0)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"code": "code-for-a"})
        self.assertJsonError(login.poll(0), 404, "unknown_login")

    def test_parked_poll_of_the_other_client(self):
        relay = self.relay
        login = relay.new_login()
        b = rt.Poller(relay, login.secret, 10)
        b.relay = _KeyedRelay(relay, rt.CLIENT_B.key)
        a = rt.Poller(relay, login.secret, 10)
        b.start()
        b.join(5)
        self.assertEqual(b.resp.status, 404)
        a.start()
        self.assertEqual(rt.wait_parked(relay, 1), 1)
        self.assertEqual(login.callback_code("parked-a").status, 200)
        a.join(5)
        self.assertEqual(a.resp.json(), {"code": "parked-a"})

    @classmethod
    def tearDownClass(cls):
        text = cls.relay.log_text()
        super().tearDownClass()
        for key in (rt.CLIENT_A.key, rt.CLIENT_B.key):
            if key in text:
                raise AssertionError("a client key is in the log")


class _KeyedRelay:
    """relay, but polls with another client's key."""

    def __init__(self, relay, key):
        self._relay, self._key = relay, key

    def poll(self, secret, wait=None, headers=None, timeout=40.0):
        h = dict(headers or {})
        h[rt.KEY_HEADER] = self._key
        return self._relay.poll(secret, wait, headers=h, timeout=timeout)


class Reload(TempDir):
    """SIGHUP re-reads the keys file."""

    def start(self, *clients):
        self.path = self.keys("".join(c.line for c in clients))
        relay = rt.Relay(client_keys=self.path)
        self.addCleanup(self.stop, relay)
        return relay

    def stop(self, relay):
        self.assertEqual(relay.stop(), 0)
        for c in (rt.CLIENT_A, rt.CLIENT_B):
            self.assertNotIn(c.key, relay.log_text())

    def test_revoke_and_re_add(self):
        relay = self.start(rt.CLIENT_A, rt.CLIENT_B)
        self.assertEqual(relay.metric(P + "clients"), 2)
        login = relay.new_login()
        poller = rt.Poller(relay, login.secret, 20)
        poller.start()
        self.assertEqual(rt.wait_parked(relay, 1), 1)
        line = relay.reload(rt.CLIENT_B.line)
        self.assertIn("SIGHUP: 1 client from " + self.path, line)
        self.assertEqual(relay.metric(P + "clients"), 1)
        # revoked at once: registering and polling
        r, _ = relay.register()
        self.assertJsonError(r, 401, "unauthorized")
        self.assertJsonError(login.poll(0), 401, "unauthorized")
        r, _ = relay.register_with(rt.CLIENT_B.key)
        self.assertEqual(r.status, 201)
        # the poll parked before takes nothing either
        self.assertEqual(login.callback_code("after-revoke").status, 200)
        poller.join(5)
        self.assertJsonError(poller.resp, 401, "unauthorized")
        # the same key back: its login is its own again
        relay.reload(rt.CLIENT_A.line + rt.CLIENT_B.line)
        r = login.poll(0)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"code": "after-revoke"})
        self.assertEqual(relay.metric(P + "client_key_reloads_total"), 2)

    def test_re_added_name_with_a_new_key_is_another_client(self):
        relay = self.start(rt.CLIENT_A)
        login = relay.new_login()
        self.assertEqual(login.callback_code("old-key-code").status, 200)
        a_new = rt.Client(rt.CLIENT_A.name)
        relay.reload(a_new.line)
        self.assertJsonError(login.poll(0), 401, "unauthorized")
        self.assertJsonError(
            login.poll(0, headers={rt.KEY_HEADER: a_new.key}), 404,
            "unknown_login")

    def test_failed_reload_keeps_the_clients(self):
        relay = self.start(rt.CLIENT_A, rt.CLIENT_B)
        bad = [
            (rt.CLIENT_A.line + "host-b %s\n" % rt.CLIENT_B.hash.upper(),
             0o600, self.path + ":2: the hash must be"),
            (rt.CLIENT_A.line + rt.CLIENT_A.line, 0o600,
             self.path + ":2: duplicate name"),
            (rt.CLIENT_B.line, 0o620, "writable by group or others"),
        ]
        for n, (text, mode, needle) in enumerate(bad, 1):
            with self.subTest(needle=needle):
                rt.replace_keys_file(self.path, text, mode)
                line = relay.reload()
                self.assertIn(needle, line)
                self.assertIn("keeping the 2 clients in force", line)
                self.assertEqual(
                    relay.metric(P + "client_key_reload_failures_total"), n)
                self.assertEqual(relay.new_login().resp.status, 201)
                self.assertEqual(relay.register_with(
                    rt.CLIENT_B.key)[0].status, 201)
        os.unlink(self.path)
        line = relay.reload()
        self.assertIn("does not exist", line)
        self.assertEqual(relay.new_login().resp.status, 201)
        # fixed: the new set applies
        line = relay.reload(rt.CLIENT_B.line)
        self.assertIn("SIGHUP: 1 client from", line)
        self.assertEqual(relay.register()[0].status, 401)
        self.assertEqual(relay.metric(P + "client_key_reloads_total"), 1)
        self.assertEqual(relay.metric(P + "clients"), 1)

    def test_reload_under_load(self):
        """Requests during reloads see the old set or the new one."""
        relay = self.start(rt.CLIENT_A, rt.CLIENT_B)
        stop = threading.Event()
        seen = []

        def hammer():
            while not stop.is_set():
                r, _ = relay.register_with(rt.CLIENT_B.key)
                seen.append(r.status)

        t = threading.Thread(target=hammer, daemon=True)
        t.start()
        for i in range(10):
            relay.reload(rt.CLIENT_B.line if i % 2 else
                         rt.CLIENT_A.line + rt.CLIENT_B.line)
        stop.set()
        t.join(10)
        self.assertTrue(seen)
        self.assertEqual(set(seen) - {201, 503}, set())


class RefusalLogLimited(rt.RelayTestCase):
    """Anyone can make the relay refuse a key: the WARN line for it is
    rate-limited, the metric is not."""

    SUPPRESSED_RE = re.compile(
        r"pam-ion-relay: (\d+) more requests refused for their client key "
        r"were not logged \(at most 10 lines a second\)$")

    def test_flood(self):
        relay = self.relay
        m0 = relay.metric(P + "rejections_total", reason="client_key")
        n0 = len(relay.log_lines())
        bogus = rt.b64url(os.urandom(32))
        t0 = time.monotonic()
        for i in range(200):
            key = None if i % 2 else bogus
            path = "/v1/logins" if i % 3 else "/v1/logins/result"
            method = "POST" if path == "/v1/logins" else "GET"
            r = relay.req(method, path, headers={rt.KEY_HEADER: key})
            self.assertEqual(r.status, 401)
        seconds = time.monotonic() - t0
        self.assertEqual(
            relay.metric(P + "rejections_total", reason="client_key"),
            m0 + 200)

        def counts():
            lines = relay.log_lines()[n0:]
            refused = [l for l in lines if "refused a request to /v1" in l]
            suppressed = [int(m.group(1)) for m in
                          map(self.SUPPRESSED_RE.search, lines) if m]
            return refused, suppressed

        # the once-a-second tick reports what was left out
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            refused, suppressed = counts()
            if len(refused) + sum(suppressed) >= 200:
                break
            time.sleep(0.05)
        refused, suppressed = counts()
        self.assertTrue(suppressed, relay.log_text()[-3000:])
        # at most 10 lines in each monotonic second the flood touched
        self.assertLessEqual(len(refused), 10 * (int(seconds) + 2))
        self.assertLess(len(refused), 50)
        self.assertEqual(len(refused) + sum(suppressed), 200,
                         (len(refused), suppressed))
        self.assertNotIn(bogus, relay.log_text())
        # and a line is logged again once a new second begins
        rt.next_log_second()
        n1 = len(relay.log_lines())
        relay.register_with(bogus)
        deadline = time.monotonic() + 3
        while (not any("refused a request to /v1/logins" in l
                       for l in relay.log_lines()[n1:])
               and time.monotonic() < deadline):
            time.sleep(0.01)
        self.assertTrue(any("refused a request to /v1/logins" in l
                            for l in relay.log_lines()[n1:]),
                        relay.log_lines()[n1:])


class CheckClientKeys(TempDir):
    """pam-ion-relay --check-client-keys FILE: the start's rules and
    message, and nothing else needed."""

    def test_good_file(self):
        for clients, want in (((rt.CLIENT_A, rt.CLIENT_B), "2 clients"),
                              ((rt.CLIENT_A,), "1 client"),
                              ((), "0 clients")):
            with self.subTest(want=want):
                path = self.keys("# hosts\n"
                                 + "".join(c.line for c in clients))
                rc, out, err = run_relay(["--check-client-keys", path])
                self.assertEqual((rc, out, err),
                                 (0, "%s: %s\n" % (path, want), ""))

    def test_bad_files(self):
        up = "host-up %s\n" % rt.CLIENT_B.hash.upper()
        cases = [
            (rt.CLIENT_A.line + up, 0o600, ":2: the hash must be 64"),
            ("host-a\n", 0o600, ":1: expected 'NAME SHA256HEX'"),
            (rt.CLIENT_A.line + rt.CLIENT_A.line, 0o600, ":2: duplicate"),
            (rt.CLIENT_A.line, 0o620, "writable by group or others"),
        ]
        for i, (text, mode, needle) in enumerate(cases):
            with self.subTest(needle=needle):
                path = self.keys(text, mode, name="clients%d" % i)
                rc, out, err = run_relay(["--check-client-keys", path])
                self.assertEqual(rc, 1, err)
                self.assertEqual(out, "")
                self.assertEqual(len(err.splitlines()), 1, err)
                self.assertIn(path, err)
                self.assertIn(needle, err)
                # word for word what the relay says when it will not start
                rc2, _, err2 = run_relay(REQ + ["--client-keys", path])
                self.assertEqual(rc2, 2)
                self.assertEqual(err, err2)

    def test_missing_file_and_usage(self):
        path = os.path.join(self.dir, "nope")
        rc, out, err = run_relay(["--check-client-keys", path])
        self.assertEqual((rc, out), (1, ""))
        self.assertIn(path + ": does not exist", err)
        good = self.keys(rt.CLIENT_A.line, name="good")
        for argv in (["--check-client-keys"], ["--check-client-keys", ""],
                     ["--check-client-keys", path, "--new-client-key", "h"],
                     # twice is a mistake: which one would reload check?
                     ["--check-client-keys", good, "--check-client-keys",
                      good]):
            with self.subTest(argv=argv):
                rc, out, err = run_relay(argv)
                self.assertEqual((rc, out), (2, ""), err)
                self.assertEqual(len(err.splitlines()), 1, err)

    def test_client_keys_twice_is_a_mistake(self):
        a = self.keys(rt.CLIENT_A.line, name="a")
        b = self.keys(rt.CLIENT_B.line, name="b")
        rc, out, err = run_relay(REQ + ["--client-keys", a,
                                        "--client-keys", b])
        self.assertEqual(rc, 2, err)
        self.assertIn("--client-keys: given twice", err)


class NewClientKey(TempDir):
    """pam-ion-relay --new-client-key NAME."""

    LINE_RE = re.compile(r"^([A-Za-z0-9._-]{1,64}) ([0-9a-f]{64})$")
    KEY_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")

    def new_key(self, name):
        rc, out, err = run_relay(["--new-client-key", name])
        self.assertEqual(rc, 0, err)
        self.assertEqual(err, "")
        lines = out.split("\n")
        self.assertEqual(len(lines), 3, out)       # two lines, then ""
        self.assertEqual(lines[2], "")
        m = self.LINE_RE.match(lines[0])
        self.assertIsNotNone(m, lines[0])
        self.assertEqual(m.group(1), name)
        self.assertRegex(lines[1], self.KEY_RE)
        self.assertEqual(hashlib.sha256(lines[1].encode()).hexdigest(),
                         m.group(2))
        return lines[0], lines[1]

    def test_output(self):
        l1, k1 = self.new_key("build01.example")
        l2, k2 = self.new_key("build01.example")
        self.assertNotEqual(k1, k2)
        self.assertNotEqual(l1, l2)

    def test_bad_names(self):
        for name in ("", "a b", "a/b", "h" * 65, "a:b", "caf\u00e9", "-"
                     "\n"):
            with self.subTest(name=name):
                rc, out, err = run_relay(["--new-client-key", name])
                self.assertEqual(rc, 2)
                self.assertEqual(out, "")
                self.assertEqual(len(err.splitlines()), 1, err)
                self.assertIn("--new-client-key", err)

    def test_end_to_end(self):
        """The printed line in the relay's file, the key on the host."""
        line, key = self.new_key("build02.example")
        path = self.keys("# hosts\n" + line + "\n")
        relay = rt.Relay(client_keys=path, key=key)
        try:
            login = relay.new_login()
            self.assertIn("registered by client build02.example",
                          relay.wait_log("registered by client"))
            self.assertEqual(login.callback_code("e2e-code").status, 200)
            r = login.poll(0)
            self.assertEqual(r.json(), {"code": "e2e-code"})
            self.assertEqual(relay.register_with(rt.CLIENT_A.key)[0].status,
                             401)
        finally:
            self.assertEqual(relay.stop(), 0)
        self.assertNotIn(key, relay.log_text())


if __name__ == "__main__":
    unittest.main()
