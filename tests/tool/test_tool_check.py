"""pam-ion check against the stand-in provider and the real relay
(tests/module/moduletest.py starts them), a pam.d directory and a PAM module
directory of the test's own (--pam-dir, --module-dir) and an sshd_config for
`sshd -T -f` (--sshd-config): every finding it reports, good and broken."""

import email.utils
import http.server
import os
import sys
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "module"))
import moduletest as mt  # noqa: E402
from tooltest import run  # noqa: E402

from stand.files import write_pam_dir, write_private  # noqa: E402

SSHD = "/usr/sbin/sshd"
GOOD_SSHD = ("UsePAM yes\nKbdInteractiveAuthentication yes\n"
             "LoginGraceTime 120\n")
WRONG_KEY = "w" * 43
# the PAM modules the test's module directory holds (empty files: check
# only looks whether a module is there)
MODULES = ["pam_ion.so", "pam_unix.so", "pam_deny.so", "pam_permit.so",
           "pam_faildelay.so", "pam_cap.so", "pam_rootok.so",
           "pam_succeed_if.so"]
# Debian's pam-auth-update output for a profile with success=end default=
# ignore: pam_ion's success jumps over pam_deny onto pam_permit
DEBIAN_ION = ("auth [success=1 default=ignore] pam_ion.so\n"
              "auth requisite pam_deny.so\n"
              "auth required pam_permit.so\n")


def setUpModule():
    why = mt.requirements_missing()
    if why is None and not os.access(os.environ.get("PAM_ION_TOOL", ""),
                                     os.X_OK):
        why = "PAM_ION_TOOL is not the built pam-ion"
    if why:
        raise unittest.SkipTest(why)


def tearDownModule():
    mt.close_stack()


class SkewedKeys(http.server.BaseHTTPRequestHandler):
    """Serves the provider's JWKS with a Date header `skew` seconds off."""
    jwks = b"{}"
    skew = 0

    def do_GET(self):
        self.send_response_only(200)
        self.send_header("Date", email.utils.formatdate(
            time.time() + self.skew, usegmt=True))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.jwks)))
        self.end_headers()
        self.wfile.write(self.jwks)

    def log_message(self, *args):
        pass


class Check(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.st = mt.stack()
        cls.made_run_sshd = False
        if not os.path.isdir("/run/sshd"):
            os.makedirs("/run/sshd", 0o755)
            cls.made_run_sshd = True
        cls.hostkey = os.path.join(cls.st.dir, "hostkey")
        if not os.path.exists(cls.hostkey):
            mt.subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N",
                               "", "-f", cls.hostkey], check=True)

    @classmethod
    def tearDownClass(cls):
        if cls.made_run_sshd:
            os.rmdir("/run/sshd")

    def setup(self, stack_text=None, sshd=GOOD_SSHD, service="sshd",
              pam_files=None, **kw):
        """A Setup, a pam.d with service's stack (default: auth required
        pam_ion.so) and pam_files (name -> text), a PAM module directory
        holding MODULES, and an sshd_config; returns (setup, argv)."""
        kw.setdefault("options", {})
        kw["options"].setdefault("login_timeout", "60")
        s = self.st.setup(**kw)
        pamd = os.path.join(s.dir, "pamd")
        files = {
            service: stack_text or "auth required pam_ion.so config=%s\n"
            % s.conf,
            "common-auth": "auth [success=1 default=ignore] pam_unix.so\n"
                           "auth requisite pam_deny.so\n"
                           "auth required pam_permit.so\n"}
        files.update(pam_files or {})
        write_pam_dir(pamd, files)
        moddir = os.path.join(s.dir, "security")
        os.mkdir(moddir)
        for m in MODULES:
            open(os.path.join(moddir, m), "w").close()
        # a pam_ion.so that is a directory: libpam cannot load it
        os.makedirs(os.path.join(moddir, "dir", "pam_ion.so"))
        sshd_config = os.path.join(s.dir, "sshd_config")
        with open(sshd_config, "w") as f:
            f.write("HostKey %s\n%s" % (self.hostkey, sshd))
        return s, ["check", "--config", s.conf, "--service", service,
                   "--pam-dir", pamd, "--module-dir", moddir,
                   "--sshd-config", sshd_config]

    def run_checked(self, argv):
        """Runs pam-ion ARGV: (status, out), every line a finding."""
        status, out, err = run(*argv)
        self.assertEqual(err, "")
        for line in out.splitlines():
            self.assertRegex(line, r"^(ok: [^\u2014]*|(warn|FAIL): .* \u2014 "
                             r"\S.*)$")
        return status, out

    def check(self, *a, **kw):
        s, argv = self.setup(*a, **kw)
        status, out = self.run_checked(argv)
        return s, status, out

    def line(self, out, start):
        found = [l for l in out.splitlines() if start in l]
        self.assertEqual(len(found), 1, "%r in:\n%s" % (start, out))
        return found[0]

    def assert_finding(self, out, level, what):
        line = self.line(out, what)
        self.assertTrue(line.startswith(level + ": "), line)
        return line

    def test_good_setup(self):
        s, status, out = self.check()
        print("\n" + out, file=sys.stderr)
        self.assertEqual(status, 0, out)
        lines = out.splitlines()
        self.assertTrue(all(l.startswith("ok: ") for l in lines), out)
        for what in ["config %s" % s.conf, "user map %s" % s.map_file,
                     "cache %s" % s.cache_dir,
                     "provider: discovery %s" % self.st.provider.issuer,
                     "provider: token endpoint %s/oauth2/token accepts "
                     "the client" % self.st.provider.issuer,
                     "provider: JWKS ", "clock: ",
                     "relay: %s/healthz" % self.st.relay.url,
                     "relay: this host's key is accepted",
                     "pam stack sshd: pam_ion.so at ",
                     "pam stack sshd: control required",
                     "sshd: usepam yes",
                     "sshd: kbdinteractiveauthentication yes",
                     "sshd: authenticationmethods allows",
                     "sshd: logingracetime 120 > login_timeout 60",
                     "access rules: none; anyone whose identity maps"]:
            self.line(out, what)
        self.assertEqual(len(lines), 16, out)
        # discovery and the keys went through the module's cache
        self.assertEqual(len(s.cache_files()), 2)

    def rules(self, **options):
        """pam-ion check with these access rules: (status, the lines about
        the access rules)."""
        s, status, out = self.check(options=options)
        print("\n" + out, file=sys.stderr)
        return status, [l for l in out.splitlines() if "access rules:" in l]

    def test_rules_used(self):
        status, lines = self.rules(require_groups="admins",
                                   require_claims="sub=alice",
                                   max_age="0", login_prompt="yes")
        self.assertEqual(status, 0)
        self.assertEqual(lines[0], "ok: access rules: require_groups (claim "
                         "groups), require_claims, max_age 0 s, "
                         "login_prompt, judged at every sign-in")
        # the stand-in lists sub and auth_time, not groups, and offers no
        # PAR
        self.assertEqual(len(lines), 3, lines)
        self.assertIn("require_groups needs claim groups", lines[1])
        self.assertIn("warn: access rules: without par = required, "
                      "max_age and login_prompt are in the link the phone "
                      "opens", lines[2])
        self.assertIn("ask the provider for pushed authorization requests",
                      lines[2])

    def test_rules_fresh_and_pushed(self):
        # the provider offers PAR: the fix names it; par = required
        # silences the warning
        self.st.provider.control("POST", "par", {"par": "on"})
        self.addCleanup(self.st.provider.control, "POST", "par",
                        {"par": "off"})
        status, lines = self.rules(max_age="300")
        self.assertEqual(len(lines), 2, lines)
        self.assertIn("set par = required: the provider offers pushed "
                      "authorization requests", lines[1])
        status, lines = self.rules(max_age="300", par="required")
        self.assertEqual(status, 0)
        self.assertEqual(lines, ["ok: access rules: max_age 300 s, judged "
                                 "at every sign-in"])

    def test_rules_auth_time_not_advertised(self):
        # a provider whose discovery lists no auth_time
        self.st.provider.misbehave({"endpoint": "discovery", "times": 1,
                                    "json": {"claims_supported": ["sub"]}})
        try:
            status, lines = self.rules(max_age="0", login_prompt="yes")
        finally:
            self.st.provider.control("POST", "misbehave/clear", {})
        self.assertEqual(status, 0)
        warns = [l for l in lines if l.startswith("warn: ") and
                 "claims_supported" in l]
        self.assertEqual(len(warns), 2, lines)
        self.assertIn("max_age needs claim auth_time,", warns[0])
        self.assertIn("login_prompt needs claim auth_time,", warns[1])

    def test_rules_claim_not_advertised(self):
        # the stand-in provider lists no "groups" claim unless an account
        # has one; sub it lists
        status, lines = self.rules(require_groups="admins",
                                   require_claims="sub=alice dept=it")
        self.assertEqual(status, 0)
        warns = [l for l in lines if l.startswith("warn: ")]
        self.assertEqual(len(warns), 2, lines)
        self.assertIn("require_groups needs claim groups, which the "
                      "provider does not list in claims_supported", warns[0])
        self.assertIn("require_claims needs claim dept,", warns[1])
        self.assertNotIn("claim sub", "\n".join(lines))

    def test_rules_acr_asked_not_verified(self):
        status, lines = self.rules(acr_values="urn:stand-in:acr:default")
        self.assertEqual(status, 0)
        self.assertEqual(len(lines), 2, lines)
        self.assertIn("warn: access rules: acr_values only asks the "
                      "provider; nothing checks the acr it returns", lines[1])

    def test_rules_acr_verified_not_asked(self):
        status, lines = self.rules(require_acr="gold")
        self.assertEqual(status, 0)
        warns = [l for l in lines if l.startswith("warn: ")]
        self.assertEqual(len(warns), 2, lines)
        self.assertIn("require_acr gold is not asked for in acr_values",
                      warns[0])
        self.assertIn("require_acr gold is not in the provider's "
                      "acr_values_supported", warns[1])

    def test_rules_acr_asked_and_verified(self):
        acr = "urn:stand-in:acr:default"
        status, lines = self.rules(acr_values=acr, require_acr=acr)
        self.assertEqual(status, 0)
        self.assertEqual(lines, ["ok: access rules: require_acr, judged at "
                                 "every sign-in"])

    def test_rules_without_discovery(self):
        # the provider unreachable: the configuration is still judged
        port = mt.free_port()
        status, lines = self.rules(issuer="http://127.0.0.1:%d" % port,
                                   acr_values="x")
        self.assertEqual(status, 1)
        self.assertEqual(len(lines), 2, lines)
        self.assertTrue(lines[1].startswith("warn: access rules: "
                                            "acr_values only asks"), lines)

    def test_config_refused(self):
        s, status, out = self.check(secret_mode=0o644)
        self.assertEqual(status, 1)
        line = self.assert_finding(out, "FAIL", "config: ")
        self.assertIn(s.secret_file, line)
        # the stack and sshd are still checked
        self.line(out, "sshd: usepam yes")

    def test_relay_key_missing(self):
        s, argv = self.setup()
        os.unlink(s.relay_key_file)
        status, out, _ = run(*argv)
        self.assertEqual(status, 1)
        self.assertIn(s.relay_key_file,
                      self.assert_finding(out, "FAIL", "config: "))

    def test_user_map_broken(self):
        s, status, out = self.check(user_map="a@example.com root\n"
                                    "a@example.com daemon\n")
        self.assertEqual(status, 1)
        self.assertIn("different user",
                      self.assert_finding(out, "FAIL", "user map: "))

    def test_cache_dir_unsafe(self):
        s, argv = self.setup()
        os.chmod(s.cache_dir, 0o777)
        status, out, _ = run(*argv)
        self.assertEqual(status, 0, out)
        self.assertIn("writable by group or others",
                      self.assert_finding(out, "warn", "cache "))

    def test_provider_unreachable(self):
        port = mt.free_port()
        s, status, out = self.check(
            options={"issuer": "http://127.0.0.1:%d" % port})
        self.assertEqual(status, 1)
        self.assert_finding(out, "FAIL", "provider: discovery ")
        self.assertNotIn("clock:", out)

    def test_client_secret_wrong(self):
        s, argv = self.setup()
        os.unlink(s.secret_file)
        write_private(s.secret_file, "not-the-secret\n", 0o600)
        status, out, _ = run(*argv)
        self.assertEqual(status, 1)
        self.assertIn("check client_id", self.assert_finding(
            out, "FAIL", "refuses the client's authentication"))
        # the other provider findings still run
        self.assert_finding(out, "ok", "provider: JWKS ")

    def test_jwks_no_usable_key(self):
        s, status, out = self.check(options={"allowed_algs": "ES512"})
        self.assertEqual(status, 1)
        self.assertIn("no key for allowed_algs",
                      self.assert_finding(out, "FAIL", "provider: JWKS "))

    def skewed(self, skew):
        doc = self.st.provider.discovery()
        with urllib.request.urlopen(doc["jwks_uri"]) as r:
            SkewedKeys.jwks = r.read()
        SkewedKeys.skew = skew
        srv = http.server.HTTPServer(("127.0.0.1", 0), SkewedKeys)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        return self.check(options={"jwks_uri": "http://127.0.0.1:%d/jwks"
                                   % srv.server_address[1]})

    def test_clock_skew(self):
        _, status, out = self.skewed(-300)
        self.assertEqual(status, 1)
        self.assertIn("more than the 60s",
                      self.assert_finding(out, "FAIL", "clock: -"))
        _, status, out = self.skewed(30)
        self.assertEqual(status, 0, out)
        self.assert_finding(out, "warn", "clock: +")
        _, status, out = self.skewed(0)
        self.assertEqual(status, 0, out)
        self.assert_finding(out, "ok", "clock: ")

    def test_relay_down(self):
        port = mt.free_port()
        s, status, out = self.check(
            options={"relay_url": "http://127.0.0.1:%d" % port})
        self.assertEqual(status, 1)
        self.assert_finding(out, "FAIL", "relay: http://127.0.0.1:%d/healthz"
                            % port)
        self.assertNotIn("this host's key", out)

    def test_relay_key_refused(self):
        s, status, out = self.check(relay_key=WRONG_KEY + "\n")
        self.assertEqual(status, 1)
        self.assert_finding(out, "ok", "relay: http")
        self.assertIn(s.relay_key_file, self.assert_finding(
            out, "FAIL", "relay: the relay refuses this host's key"))

    # (stack, level, words in the finding, other pam.d files); %(pamd)s
    # and %(mod)s are the test's pam.d and module directories
    STACKS = [
        ("auth required pam_unix.so\n", "FAIL", "no pam_ion.so auth line"),
        ("auth requisite %(mod)s/pam_ion.so config=/nonexistent\n", "ok",
         "control requisite: a pam_ion failure fails"),
        ("auth [success=done default=die] pam_ion.so\n", "ok",
         "control [success=done default=die]"),
        # nothing decided at the end of the stack is PAM_PERM_DENIED
        ("auth [success=done auth_err=bad default=ignore] pam_ion.so\n",
         "ok", "a pam_ion failure fails the stack"),
        ("auth sufficient pam_ion.so\n", "ok",
         "a pam_ion failure fails the stack"),
        # every code the module returns counts, not auth_err alone
        ("auth [success=2 auth_err=die default=ignore] pam_ion.so\n"
         "auth [success=1 default=ignore] pam_unix.so\n"
         "auth requisite pam_deny.so\nauth required pam_permit.so\n",
         "warn", "lets a pam_ion failure (authinfo_unavail user_unknown "
         "service_err conv_err buf_err system_err perm_denied) through to "
         "pam_unix.so"),
        ("auth [success=done default=ignore] pam_ion.so\n"
         "@include common-auth\n", "warn",
         "through to pam_unix.so (%(pamd)s/common-auth:1)"),
        ("auth sufficient pam_ion.so\nauth required pam_unix.so\n",
         "warn", "control sufficient lets a pam_ion failure (auth_err"),
        # the Debian profile: a fallback, said as such
        ("auth [success=2 authinfo_unavail=ignore default=die] "
         "pam_ion.so\nauth [success=1 default=ignore] pam_unix.so\n"
         "auth requisite pam_deny.so\nauth required pam_permit.so\n",
         "warn", "falls back to pam_unix.so"),
        # libpam's default= fills only the codes still unset: first wins
        ("auth [success=done default=die default=ignore] pam_ion.so\n"
         "auth required pam_unix.so\n", "ok",
         "a pam_ion failure fails the stack"),
        # libpam matches code names case-sensitively: all codes bad
        ("auth [DEFAULT=die] pam_ion.so\n", "warn", "does not parse"),
        ("auth [DEFAULT=die] pam_ion.so\n", "warn",
         "denies every sign-in"),
        # what comes before pam_ion can grant without it
        ("auth sufficient pam_unix.so\nauth required pam_ion.so\n",
         "warn", "pam_unix.so (%(pamd)s/sshd:1, control sufficient) can "
         "end the stack in success before pam_ion runs"),
        ("auth [success=2 default=ignore] pam_unix.so\n"
         "auth required pam_ion.so\nauth requisite pam_deny.so\n"
         "auth required pam_permit.so\n", "warn",
         "can end the stack in success before pam_ion runs"),
        # libpam 1.5.2 runs a missing -auth module: module_unknown
        ("-auth required pam_ion.so\n", "warn", "returns module_unknown"),
        ("auth required pam_ion.so # iON first\n", "ok",
         "control required: a pam_ion failure fails the stack"),
        ("auth sufficient pam_ion.so\nauth requisite pam_deny.so\n",
         "ok", "a pam_ion failure fails the stack"),
        ("auth optional pam_ion.so\nauth required pam_deny.so\n",
         "warn", "denies every sign-in"),
        ("# comment\n-auth substack common-auth\n"
         "auth required pam_ion.so\n", "ok", "control required"),
        # B1: an earlier success stands when pam_ion's failure is ignored
        ("auth optional pam_faildelay.so delay=2000000\n"
         "auth [success=done default=ignore] pam_ion.so\n"
         "auth optional pam_deny.so\n", "FAIL",
         "end the stack in success with no other module"),
        # B2: a failure jumps over pam_deny onto pam_permit
        ("auth [success=ok default=1] pam_ion.so\n"
         "auth requisite pam_deny.so\nauth required pam_permit.so\n",
         "FAIL", "(auth_err authinfo_unavail"),
        # B3: reset forgets pam_ion's failure
        ("auth required pam_ion.so\nauth [default=reset] pam_deny.so\n"
         "auth required pam_permit.so\n", "FAIL",
         "end the stack in success with no other module"),
        # B4: libpam allows spaces around '='
        ("auth [success=done auth_err = ignore default=bad] pam_ion.so\n"
         "auth required pam_permit.so\n", "FAIL",
         "a pam_ion failure (auth_err) end"),
        # B5: a second default= changes nothing
        ("auth [success=done default=ignore default=die] pam_ion.so\n"
         "auth required pam_permit.so\n", "FAIL",
         "end the stack in success with no other module"),
        # B6: a missing module returns module_unknown
        ("auth [success=done module_unknown=ignore default=die] "
         "/nonexistent/pam_ion.so\nauth required pam_permit.so\n",
         "FAIL", "a pam_ion failure (module_unknown) end"),
        ("auth [success=done module_unknown=ignore default=die] "
         "/nonexistent/pam_ion.so\nauth required pam_permit.so\n",
         "FAIL", "/nonexistent/pam_ion.so (%(pamd)s/sshd:1) does not "
         "exist"),
        ("auth required pam_ion.so\n"
         "auth [module_unknown=reset default=ignore] pam_nosuch.so\n"
         "auth required pam_permit.so\n", "FAIL",
         "end the stack in success with no other module"),
        # B7: a control without brackets is parsed all the same
        ("auth success=done pam_unix.so\nauth required pam_ion.so\n",
         "warn", "control success=done) can end the stack in success "
         "before pam_ion runs"),
        # B8
        ("auth [default=done] pam_unix.so\nauth required pam_ion.so\n",
         "warn", "can end the stack in success before pam_ion runs"),
        # B9: a failure jumps over pam_ion onto pam_permit: no one signs in
        ("auth [success=ok default=1] pam_unix.so\n"
         "auth required pam_ion.so\nauth required pam_permit.so\n",
         "FAIL", "can end the stack in success before pam_ion runs"),
        # jumps of different lengths are different outcomes
        ("auth [success=ok auth_err=1 user_unknown=2 default=die] "
         "pam_unix.so\nauth required pam_ion.so\n"
         "auth requisite pam_deny.so\nauth required pam_permit.so\n",
         "FAIL", "before pam_ion runs, with no module succeeding"),
        # B10: continuation lines are one line
        ("auth required pam_ion.so\nauth \\\n  [default=reset] "
         "pam_deny.so\nauth required pam_permit.so\n", "FAIL",
         "end the stack in success with no other module"),
        # B11: too long to judge as libpam reads it
        ("auth [success=done" + " " * 250 + "default=die] pam_ion.so\n",
         "FAIL", "cannot judge"),
        ("auth required pam_ion.so " + "x" * 1100 + "\n", "FAIL",
         "cannot judge"),
        # a missing include is a line that fails; a missing @include
        # makes Debian's libpam refuse the whole service
        ("auth include nosuch\nauth required pam_ion.so\n", "warn",
         "denies every sign-in"),
        ("@include nosuch\nauth required pam_ion.so\n", "FAIL",
         "@include at %(pamd)s/sshd:1: %(pamd)s/nosuch: No such file or "
         "directory: libpam refuses the whole service"),
        # Debian's pam-auth-update output: success jumps over pam_deny
        (DEBIAN_ION, "ok", "a pam_ion failure fails the stack"),
        ("auth include ion-auth\n", "ok",
         "a pam_ion failure fails the stack", {"ion-auth": DEBIAN_ION}),
        ("auth include ion-auth\nauth required pam_permit.so\n", "FAIL",
         "pam_ion.so (%(pamd)s/ion-auth:1, control [success=ok "
         "default=ignore]) lets",
         {"ion-auth": "auth [success=ok default=ignore] pam_ion.so\n"}),
        # a requisite in a substack ends only the substack, but its
        # failure stands
        ("auth substack ion-sub\nauth required pam_permit.so\n", "ok",
         "a pam_ion failure fails the stack",
         {"ion-sub": "auth requisite pam_ion.so\n"}),
        # a jump counts a substack as one line
        ("auth [success=1 default=ignore] pam_unix.so\n"
         "auth substack ion-sub\nauth required pam_permit.so\n", "warn",
         "can end the stack in success before pam_ion runs",
         {"ion-sub": "auth optional pam_faildelay.so\n"
          "auth requisite pam_ion.so\n"}),
        # libpam adds a jump's digits into an int unchecked: it wraps
        # (4294967297 is 1), and a jump past the end is a failure
        ("auth [success=4294967297 default=1] pam_ion.so\n"
         "auth requisite pam_deny.so\nauth required pam_permit.so\n",
         "FAIL", "lets a pam_ion failure (auth_err authinfo_unavail"),
        ("auth [success=123456789 default=1] pam_ion.so\n"
         "auth requisite pam_deny.so\nauth required pam_permit.so\n",
         "FAIL", "end the stack in success with no other module"),
        ("auth [success=123456789 default=die] pam_ion.so\n"
         "auth required pam_permit.so\n", "warn", "denies every sign-in"),
        # 4294967290 wraps to libpam's "undefined": default= fills it
        ("auth [success=4294967290 default=1] pam_ion.so\n"
         "auth requisite pam_deny.so\nauth required pam_permit.so\n",
         "FAIL", "end the stack in success with no other module"),
        # 4294967295 wraps to ok
        ("auth [success=done default=4294967295] pam_ion.so\n"
         "auth required pam_permit.so\n", "ok",
         "a pam_ion failure fails the stack"),
        # 2147483648 wraps negative: a bad jump that fails and goes on
        ("auth [success=done default=2147483648] pam_ion.so\n"
         "auth required pam_permit.so\n", "ok",
         "a pam_ion failure fails the stack"),
        ("auth [success=4294967296 default=die] pam_ion.so\n", "warn",
         "does not parse (expecting non-zero)"),
        # Debian's @include is case-insensitive
        ("auth [success=done default=ignore] pam_ion.so\n"
         "@INCLUDE permit-auth\n", "FAIL",
         "end the stack in success with no other module",
         {"permit-auth": "auth sufficient pam_permit.so\n"}),
        ("@iNcLuDe nosuch\nauth required pam_ion.so\n", "FAIL",
         "@include at %(pamd)s/sshd:1: %(pamd)s/nosuch: No such file or "
         "directory: libpam refuses the whole service"),
        # ... but only that word: an unknown type is a line that fails
        ("@includeX common-auth\nauth required pam_ion.so\n", "warn",
         "denies every sign-in"),
        # each pam_ion line returns a code of its own: one unreachable,
        # the next refusing, jumps over pam_deny
        ("auth [success=done authinfo_unavail=ignore default=die] "
         "pam_ion.so\nauth [success=done authinfo_unavail=die default=1] "
         "pam_ion.so\nauth requisite pam_deny.so\n"
         "auth required pam_permit.so\n", "FAIL",
         "lets a pam_ion failure (authinfo_unavail) end the stack"),
        ("auth [success=done authinfo_unavail=ignore default=die] "
         "pam_ion.so\nauth [success=done authinfo_unavail=die "
         "default=ignore] pam_ion.so\nauth sufficient pam_unix.so\n",
         "warn", "falls back to pam_unix.so (%(pamd)s/sshd:3)"),
        # modules that succeed without authenticating anyone
        ("auth [success=done default=ignore] pam_ion.so\n"
         "auth optional pam_cap.so\n", "FAIL",
         "end the stack in success with no other module"),
        # su's stock stack: root vouched for by uid, a warning
        ("auth sufficient pam_rootok.so\nauth required pam_ion.so\n",
         "warn", "can end the stack in success before pam_ion runs"),
        ("auth sufficient pam_succeed_if.so uid = 0\n"
         "auth required pam_ion.so\n",
         "FAIL", "before pam_ion runs, with no module succeeding"),
        # a pam_ion.so libpam cannot load returns module_unknown
        ("auth [success=done module_unknown=ignore default=die] "
         "%(mod)s/dir/pam_ion.so\nauth required pam_permit.so\n",
         "FAIL", "a pam_ion failure (module_unknown) end"),
        ("auth [success=done module_unknown=ignore default=die] "
         "%(mod)s/dir/pam_ion.so\nauth required pam_permit.so\n",
         "FAIL", "%(mod)s/dir/pam_ion.so (%(pamd)s/sshd:1) is not a "
         "regular file"),
    ]

    def test_pam_stacks(self):
        for text, level, words, *files in self.STACKS:
            with self.subTest(text=text, words=words):
                s, argv = self.setup(pam_files=files[0] if files else None)
                where = {"pamd": os.path.join(s.dir, "pamd"),
                         "mod": os.path.join(s.dir, "security")}
                with open(os.path.join(where["pamd"], "sshd"), "w") as f:
                    f.write(text % where)
                status, out = self.run_checked(argv)
                self.assertEqual(status, 1 if level == "FAIL" else 0, out)
                line = self.line(out, words % where)
                self.assertTrue(line.startswith(level + ": pam stack sshd"),
                                line)

    def test_line_reads_another_config(self):
        for args, reads in [("config=/etc/other.conf", "/etc/other.conf"),
                            ("debug", "/etc/security/pam_ion.conf")]:
            with self.subTest(args=args):
                s, status, out = self.check(
                    stack_text="auth required pam_ion.so %s\n" % args)
                self.assertEqual(status, 0, out)
                self.assertIn("pam_ion.so reads %s, not the checked %s"
                              % (reads, s.conf), self.assert_finding(
                                  out, "warn", "pam stack sshd: pam_ion.so "
                                  "reads"))

    def test_no_service_file(self):
        s, argv = self.setup()
        argv[argv.index("--service") + 1] = "nosuch"
        status, out, _ = run(*argv)
        self.assertEqual(status, 1)
        self.assertIn("No such file",
                      self.assert_finding(out, "FAIL", "pam stack nosuch"))
        self.assertNotIn("sshd:", out)

    def test_other_service_skips_sshd(self):
        _, status, out = self.check(service="login")
        self.assertEqual(status, 0, out)
        self.line(out, "pam stack login: control required")
        self.assertNotIn("sshd:", out)

    def test_sshd_settings(self):
        for sshd, level, words in [
                ("UsePAM no\nKbdInteractiveAuthentication yes\n", "FAIL",
                 "sshd: usepam is not yes"),
                ("UsePAM yes\nKbdInteractiveAuthentication no\n", "FAIL",
                 "sshd: kbdinteractiveauthentication is not yes"),
                (GOOD_SSHD + "AuthenticationMethods publickey "
                 "password\n", "FAIL",
                 "has no keyboard-interactive"),
                (GOOD_SSHD + "AuthenticationMethods "
                 "publickey,keyboard-interactive:pam\n", "ok",
                 "authenticationmethods allows keyboard-interactive"),
                ("UsePAM yes\nLoginGraceTime 60\n", "FAIL",
                 "logingracetime 60 <= login_timeout 60"),
                ("UsePAM yes\nLoginGraceTime 0\n", "ok",
                 "logingracetime 0 > login_timeout 60"),
                ("UsePAM yes\nNoSuchOption 1\n", "FAIL",
                 "sshd -T failed: %s/sshd_config: line 3: Bad configuration "
                 "option: NoSuchOption"),
        ]:
            with self.subTest(sshd=sshd):
                s, status, out = self.check(sshd=sshd)
                self.assertEqual(status, 1 if level == "FAIL" else 0, out)
                if "%s" in words:
                    words = words % s.dir
                self.assert_finding(out, level, words)

    def test_sshd_match(self):
        match = "Match User bob\n    KbdInteractiveAuthentication no\n"
        # sshd -T alone skips Match blocks: said, with the option to use
        s, status, out = self.check(sshd=GOOD_SSHD + match)
        self.assertEqual(status, 0, out)
        self.assertIn("--match", self.assert_finding(
            out, "warn", "sshd: Match blocks"))
        self.assert_finding(out, "ok", "sshd: kbdinteractiveauthentication")
        # evaluated for the connection the admin names
        for who, level in [("user=bob,host=h.example,addr=192.0.2.1",
                            "FAIL"),
                           ("user=alice,host=h.example,addr=192.0.2.1",
                            "ok")]:
            with self.subTest(who=who):
                s, argv = self.setup(sshd=GOOD_SSHD + match)
                status, out = self.run_checked(argv + ["--match", who])
                self.assertEqual(status, 1 if level == "FAIL" else 0, out)
                self.assert_finding(out, level,
                                    "sshd: kbdinteractiveauthentication")
                self.assertIn(who, self.assert_finding(
                    out, "ok", "sshd: Match blocks evaluated for "))

    def test_sshd_match_in_include(self):
        s, argv = self.setup()
        extra = os.path.join(s.dir, "sshd_extra.conf")
        with open(extra, "w") as f:
            f.write("match address 10.0.0.0/8\n"
                    "  AuthenticationMethods publickey\n")
        sshd_config = argv[argv.index("--sshd-config") + 1]
        with open(sshd_config) as f:
            text = f.read()
        with open(sshd_config, "w") as f:
            f.write("Include %s/sshd_extra*.conf\n%s" % (s.dir, text))
        status, out = self.run_checked(argv)
        self.assertEqual(status, 0, out)
        self.assert_finding(out, "warn", "sshd: Match blocks")
        status, out = self.run_checked(
            argv + ["--match=user=a,host=b,addr=10.1.2.3"])
        self.assertEqual(status, 1, out)
        self.assert_finding(out, "FAIL", "has no keyboard-interactive")

    def test_match_argument(self):
        s, argv = self.setup()
        for bad in ["user=a;id", "user=a b", "user=$(id)"]:
            with self.subTest(bad=bad):
                status, out, err = run(*(argv + ["--match", bad]))
                self.assertEqual(status, 2)
                self.assertEqual(out, "")
                self.assertEqual(len(err.splitlines()), 1, err)
                self.assertIn("--match", err)


if __name__ == "__main__":
    unittest.main()
