"""The Debian packages, installed on this machine: files, modes and
conffiles; lintian; the pam-auth-update profile off until enabled, then a real
sign-in through the enabled common-auth with the installed module and
relay; an upgrade over an edited conffile; purge leaves no PAM line.

Changes the machine (needs root): installs libpam-ion and pam-ion-relay
with apt-get and runs pam-auth-update.  Whatever happens, the cleanup
purges both packages and puts /etc/pam.d and /var/lib/pam (pam-auth-update's
state) back byte for byte, then checks that they are.

Environment:
    PAM_ION_DEBS   a directory with libpam-ion_*.deb and pam-ion-relay_*.deb
                   already built (else packaging/debian/build.sh builds them
                   into a temporary directory, about a minute)
    PAMDRIVE, PROVIDER_DIR   as for tests/module (the CMake test sets them)
    PAM_ION_KEEP   set: keep the temporary directory
"""

import glob
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
PACKAGES = ("libpam-ion", "pam-ion-relay")
SAVED_DIRS = ("/etc/pam.d", "/var/lib/pam")
CONF = "/etc/security/pam_ion.conf"
USERS = "/etc/security/pam_ion.users"
PROFILE = "/usr/share/pam-configs/pam-ion"
RELAY = "/usr/bin/pam-ion-relay"
TOOL = "/usr/sbin/pam-ion"
DEFAULTS = "/etc/default/pam-ion-relay"
UNIT_DIR = "/lib/systemd/system"
ADMIN_EDIT = "# edited by the administrator (tests/packaging/test_deb.py)\n"
SERVICE = "ion-test"  # tests/module/moduletest.py's service name


def log(*msg):
    print(*msg, file=sys.stderr, flush=True)


def run(argv, check=True, **kw):
    """argv's output (stdout and stderr); a failure raises with it."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, env=env, **kw)
    if check and p.returncode != 0:
        raise AssertionError("%s: exit status %d\n%s" % (
            " ".join(argv), p.returncode, p.stdout))
    return p.stdout


def multiarch():
    return run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"]).strip()


def installed(pkg):
    p = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       text=True)
    return p.returncode == 0 and p.stdout.split()[-1:] != ["not-installed"]


def snapshot(dirs=SAVED_DIRS):
    """path -> (mode, bytes) of every regular file under dirs, and the
    symbolic links as (None, target)."""
    snap = {}
    for top in dirs:
        for root, _, files in os.walk(top):
            for f in files:
                p = os.path.join(root, f)
                st = os.lstat(p)
                if stat.S_ISLNK(st.st_mode):
                    snap[p] = (None, os.readlink(p))
                elif stat.S_ISREG(st.st_mode):
                    with open(p, "rb") as fh:
                        snap[p] = (stat.S_IMODE(st.st_mode), fh.read())
    return snap


def differences(before, after):
    out = []
    for p in sorted(set(before) | set(after)):
        if p not in after:
            out.append("missing: " + p)
        elif p not in before:
            out.append("new: " + p)
        elif before[p] != after[p]:
            out.append("changed: " + p)
    return out


def restore(before):
    """Puts the files of before back as they were; removes new ones."""
    now = snapshot()
    for p in now:
        if p not in before:
            os.unlink(p)
    for p, (mode, data) in before.items():
        if now.get(p) == (mode, data):
            continue
        if os.path.lexists(p):
            os.unlink(p)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if mode is None:
            os.symlink(data, p)
        else:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(p, mode)


def pam_ion_lines():
    """Every line of /etc/pam.d that names pam_ion."""
    found = []
    for p, (mode, data) in snapshot(("/etc/pam.d",)).items():
        if mode is None:
            continue
        for line in data.decode("utf-8", "replace").splitlines():
            if "pam_ion" in line:
                found.append("%s: %s" % (p, line))
    return found


def apt_install(*debs):
    # --force-confold: keep the administrator's conffiles, without asking.
    return run(["apt-get", "install", "-y", "--no-install-recommends",
                "-o", "Dpkg::Options::=--force-confold",
                "-o", "Dpkg::Options::=--force-confdef"] + list(debs))


def purge():
    pkgs = [p for p in PACKAGES if installed(p)]
    if pkgs:
        run(["dpkg", "--purge"] + pkgs)


class DebTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("installs packages: needs root")
        for tool in ("apt-get", "dpkg", "dpkg-deb", "pam-auth-update"):
            if shutil.which(tool) is None:
                raise unittest.SkipTest("no %s: not a Debian system" % tool)
        for p in PACKAGES:
            if installed(p):
                # Not a skip: a killed earlier run would hide every later
                # one.  Its PAM files may need a look too.
                raise AssertionError(
                    "%s is installed on this machine already: not touching "
                    "it (left by a killed run? apt-get purge libpam-ion "
                    "pam-ion-relay, and check /etc/pam.d)" % p)
        cls.tmp = tempfile.mkdtemp(prefix="pam-ion-deb-")
        os.chmod(cls.tmp, 0o755)
        try:
            cls.debs = cls.packages()
        except BaseException:
            cls.remove_tmp()
            raise
        cls.module = "/lib/%s/security/pam_ion.so" % multiarch()

    @classmethod
    def tearDownClass(cls):
        cls.remove_tmp()

    @classmethod
    def remove_tmp(cls):
        if os.environ.get("PAM_ION_KEEP"):
            log("deb test: kept", cls.tmp)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.saved = snapshot()
        self.addCleanup(self.put_back)

    def put_back(self):
        """Purges the packages, restores the PAM files, checks they are."""
        try:
            purge()
        finally:
            restore(self.saved)
        left = differences(self.saved, snapshot())
        self.assertEqual(left, [], "the PAM files were not restored")
        for p in PACKAGES:
            self.assertFalse(installed(p), "%s still installed" % p)

    @classmethod
    def packages(cls):
        """package -> the .deb to test."""
        d = os.environ.get("PAM_ION_DEBS")
        if not d:
            d = os.path.join(cls.tmp, "debs")
            log("deb test: building the packages into", d)
            run(["bash", os.path.join(TOP, "packaging/debian/build.sh"), d])
        debs = {}
        for p in PACKAGES:
            found = sorted(glob.glob(os.path.join(d, p + "_*.deb")))
            if not found:
                raise AssertionError("no %s_*.deb in %s" % (p, d))
            debs[p] = os.path.abspath(found[-1])
        return debs

    # ------------------------------------------------------------ checks

    def assertFile(self, path, mode, kind=stat.S_IFREG):
        st = os.lstat(path)
        self.assertEqual(stat.S_IFMT(st.st_mode), kind, path)
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid),
                         (mode, 0, 0), "%s: mode, owner, group" % path)

    def assertInstalledFiles(self):
        self.assertFile(self.module, 0o644)
        self.assertFile(CONF, 0o644)
        self.assertFile(USERS, 0o600)
        self.assertFile(PROFILE, 0o644)
        for m in ("man8/pam_ion.8.gz", "man5/pam_ion.conf.5.gz",
                  "man8/pam-ion-relay.8.gz"):
            self.assertFile("/usr/share/man/" + m, 0o644)
        self.assertFile(RELAY, 0o755)
        self.assertFile(DEFAULTS, 0o644)
        for u in ("pam-ion-relay.service", "pam-ion-relay@.service"):
            self.assertFile(os.path.join(UNIT_DIR, u), 0o644)
        # The module is where libpam looks for modules named without a
        # path, next to pam_unix.so.
        self.assertTrue(os.path.exists(os.path.join(
            os.path.dirname(self.module), "pam_unix.so")))
        if os.path.isdir(os.path.join(TOP, "src", "tool")):
            # The admin tool comes with the module (pam-ion(8)).
            tool = [p for p in ("/usr/sbin/pam-ion", "/usr/bin/pam-ion")
                    if os.path.exists(p)]
            self.assertEqual(len(tool), 1, "pam-ion installed once")
            self.assertFile(tool[0], 0o755)
            self.assertFile("/usr/share/man/man8/pam-ion.8.gz", 0o644)
            owner = run(["dpkg", "-S", tool[0]]).split(":")[0]
            self.assertEqual(owner, "libpam-ion")
        conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}\n",
                         "libpam-ion", "pam-ion-relay"])
        for f in (CONF, USERS, DEFAULTS):
            self.assertIn(" %s " % f, conffiles, "%s is a conffile" % f)
        # Neither enabled nor started: no [Install] symlink anywhere.
        wants = glob.glob("/etc/systemd/system/*/pam-ion-relay*")
        self.assertEqual(wants, [], "the relay's unit was enabled")
        # The relay runs (its shared libraries are there).
        out = run([RELAY, "--help"], check=False)
        self.assertIn("--public-url", out)

    def assertEnabledLine(self):
        """common-auth: pam_ion before pam_unix, and its success jumps
        past the primary block (to the line after pam_deny)."""
        with open("/etc/pam.d/common-auth") as fh:
            lines = [ln for ln in fh.read().splitlines()
                     if ln.strip() and not ln.lstrip().startswith("#")]
        ion = [i for i, ln in enumerate(lines) if "pam_ion.so" in ln]
        self.assertEqual(len(ion), 1, "\n".join(lines))
        i = ion[0]
        fields = lines[i].split()
        self.assertEqual(fields[0], "auth")
        ctl = lines[i][lines[i].index("[") + 1:lines[i].index("]")].split()
        self.assertIn("authinfo_unavail=ignore", ctl)
        self.assertIn("default=die", ctl)
        jump = [c for c in ctl if c.startswith("success=")]
        self.assertEqual(len(jump), 1)
        n = int(jump[0].split("=")[1])
        unix = [j for j, ln in enumerate(lines) if "pam_unix.so" in ln]
        deny = [j for j, ln in enumerate(lines) if "pam_deny.so" in ln]
        self.assertTrue(unix and unix[0] > i, "pam_ion before pam_unix")
        self.assertEqual(i + 1 + n, deny[0] + 1,
                         "success jumps to the line after pam_deny:\n" +
                         "\n".join(lines))
        return lines

    # ------------------------------------------------------------ sign-in

    def sign_in_through_common_auth(self):
        """A real sign-in through the enabled common-auth stack: the
        module named "pam_ion.so" without a path (libpam loads the
        packaged one), its settings from /etc/security/pam_ion.conf,
        driven by tests/module's harness with the stand-in provider, the
        scripted phone and the installed relay."""
        os.environ["PAM_ION_MODULE"] = self.module
        os.environ["RELAY_BIN"] = RELAY
        sys.path.insert(0, os.path.join(TOP, "tests", "module"))
        import moduletest as mt
        why = mt.requirements_missing()
        if why:
            self.fail("cannot sign in: " + why)
        self.assertEqual(mt.MODULE, self.module)
        self.assertEqual(mt.RELAY_BIN, RELAY)
        st = mt.stack()
        try:
            s = st.setup(options={"login_timeout": None,
                                  "http_timeout": None})
            # The test's settings become the packaged conffile's (the file
            # keeps its owner and mode); the purge removes it.
            with open(s.conf, "rb") as src, open(CONF, "wb") as dst:
                dst.write(src.read())
            pamd = os.path.join(self.tmp, "pam.d")
            os.mkdir(pamd, 0o755)
            shutil.copy("/etc/pam.d/common-auth", pamd)
            with open(os.path.join(pamd, SERVICE), "w") as fh:
                fh.write("auth required pam_env.so\n@include common-auth\n")
            with open(os.path.join(pamd, "other"), "w") as fh:
                fh.write("auth required pam_deny.so\n")
            s.pamd = pamd
            p = mt.Person()
            out = s.run(p)
            msg = "%s\n%s" % (out.transcript(), st.daemon_logs())
            self.assertEqual(out.code, mt.PAM_SUCCESS, msg)
            self.assertEqual(out.prompts, [mt.PROMPT_CODE], msg)
            self.assertEqual(p.phone_result, p.typed[0], msg)
            stats = st.provider.stats()
            self.assertEqual(stats["token"], 1, msg)
            self.check_with_installed_tool(pamd)
            # Three wrong codes: the module fails and default=die ends
            # the stack there, with no password prompt from pam_unix.
            p = mt.Person(answers=["{wrong}", "12345", "{wrong}"])
            out = s.run(p)
            msg = "%s\n%s" % (out.transcript(), st.daemon_logs())
            self.assertEqual(out.code, mt.PAM_AUTH_ERR, msg)
            self.assertEqual(len(out.prompts), 3, msg)
        finally:
            mt.close_stack()

    def conf_value(self, key):
        with open(CONF) as fh:
            for ln in fh:
                k, _, v = ln.partition("=")
                if k.strip() == key:
                    return v.strip()
        self.fail("%s has no %s" % (CONF, key))

    def installed_check(self, pamd, sshd_text, why):
        """The installed pam-ion check for sshd, its stack the enabled
        common-auth; prints its output for the log."""
        sshd_config = os.path.join(self.tmp, "sshd_config")
        with open(sshd_config, "w") as fh:
            fh.write("HostKey %s\n%s" % (self.hostkey, sshd_text))
        p = subprocess.run([TOOL, "check", "--service", "sshd",
                            "--pam-dir", pamd, "--sshd-config", sshd_config],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=120)
        log("deb test: %s check (%s), exit %d:\n%s%s" % (
            TOOL, why, p.returncode, p.stdout, p.stderr))
        return p

    def check_with_installed_tool(self, pamd):
        """pam-ion check, as installed, against the stand-in provider and
        relay with the packaged config: nothing fails in the good setup,
        and the profile's fallback is named; a secret file with a wrong
        mode, a key the relay refuses and a short LoginGraceTime are each
        caught as FAIL."""
        self.assertTrue(os.access(TOOL, os.X_OK), TOOL)
        with open(os.path.join(pamd, "sshd"), "w") as fh:
            fh.write("auth required pam_env.so\n@include common-auth\n")
        self.hostkey = os.path.join(self.tmp, "hostkey")
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
             self.hostkey])
        made_run_sshd = not os.path.isdir("/run/sshd")
        if made_run_sshd:
            os.makedirs("/run/sshd", 0o755)
        good = ("UsePAM yes\nKbdInteractiveAuthentication yes\n"
                "LoginGraceTime 600\n")
        try:
            p = self.installed_check(pamd, good, "good")
            self.assertEqual(p.returncode, 0, p.stdout)
            self.assertNotIn("FAIL", p.stdout)
            for want in ("ok: config " + CONF, "ok: relay: this host's key "
                         "is accepted", "ok: sshd: usepam yes",
                         "falls back to pam_unix.so"):
                self.assertIn(want, p.stdout)

            secret = self.conf_value("client_secret_file")
            os.chmod(secret, 0o644)
            try:
                p = self.installed_check(pamd, good, "secret 0644")
            finally:
                os.chmod(secret, 0o600)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertRegex(p.stdout, r"FAIL: config: .*mode 0644")

            key = self.conf_value("relay_key_file")
            with open(key) as fh:
                kept = fh.read()
            with open(key, "w") as fh:
                fh.write("w" * 43 + "\n")
            try:
                p = self.installed_check(pamd, good, "a key the relay "
                                         "refuses")
            finally:
                with open(key, "w") as fh:
                    fh.write(kept)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn("FAIL: relay: the relay refuses this host's key",
                          p.stdout)

            p = self.installed_check(
                pamd, "UsePAM yes\nKbdInteractiveAuthentication yes\n"
                "LoginGraceTime 30\n", "LoginGraceTime 30")
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn("FAIL: sshd: logingracetime 30 <=", p.stdout)
        finally:
            if made_run_sshd:
                os.rmdir("/run/sshd")

    # ------------------------------------------------------------ sshd

    def test_sshd_with_installed_module(self):
        """tests/e2e/test_sshd.py (a real sshd, a real ssh client in a pty,
        the stand-in provider and the scripted phone) with the installed
        module at its packaged path and the installed relay.  Its PAM
        service file /etc/pam.d/sshd-ion-RANDOM names the module by that
        path; it removes the file when it ends."""
        apt_install(self.debs["libpam-ion"], self.debs["pam-ion-relay"])
        env = dict(os.environ, PAM_ION_MODULE=self.module,
                   PAM_ION_RELAY=RELAY,
                   PAM_ION_PROVIDER_DIR=os.environ.get(
                       "PROVIDER_DIR", os.path.join(TOP, "tests/provider")))
        p = subprocess.run(
            [sys.executable, "-B", os.path.join(TOP, "tests/e2e/test_sshd.py")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=env, timeout=300)
        log("deb test: tests/e2e/test_sshd.py said (tail):\n" +
            "\n".join(p.stdout.splitlines()[-12:]))
        if p.returncode == 77:
            self.skipTest("tests/e2e/test_sshd.py cannot run here:\n" +
                          p.stdout[-2000:])
        self.assertEqual(p.returncode, 0, p.stdout[-6000:])

    # ------------------------------------------------------------ upgrade

    def newer_package(self):
        """libpam-ion as a later version whose pam_ion.conf differs."""
        d = os.path.join(self.tmp, "newer")
        run(["dpkg-deb", "-R", self.debs["libpam-ion"], d])
        ctl = os.path.join(d, "DEBIAN", "control")
        with open(ctl) as fh:
            text = fh.read()
        version = [ln.split(": ", 1)[1] for ln in text.splitlines()
                   if ln.startswith("Version: ")][0]
        newer = version + "+conftest1"
        with open(ctl, "w") as fh:
            fh.write(text.replace("Version: " + version,
                                  "Version: " + newer))
        with open(os.path.join(d, CONF.lstrip("/")), "a") as fh:
            fh.write("# changed in %s\n" % newer)
        out = os.path.join(self.tmp, "libpam-ion_%s.deb" % newer)
        run(["dpkg-deb", "--root-owner-group", "-b", d, out])
        return out, newer

    # ------------------------------------------------------------ the test

    def test_lintian(self):
        """lintian: no error and no warning that is not overridden with
        a reason (packaging/debian/*.lintian-overrides)."""
        if shutil.which("lintian") is None:
            self.skipTest("no lintian (scripts/deps.sh installs it)")
        out = run(["lintian", "--fail-on", "error,warning",
                   self.debs["libpam-ion"], self.debs["pam-ion-relay"]],
                  check=False)
        bad = [ln for ln in out.splitlines() if ln[:2] in ("E:", "W:")]
        self.assertEqual(bad, [], out)

    def test_install_enable_signin_upgrade_purge(self):
        pam_before = snapshot(("/etc/pam.d",))

        log("deb test: install")
        apt_install(self.debs["libpam-ion"], self.debs["pam-ion-relay"])
        self.assertInstalledFiles()
        # Installing enables nothing.
        self.assertEqual(differences(pam_before, snapshot(("/etc/pam.d",))),
                         [], "the install changed /etc/pam.d")
        self.assertEqual(pam_ion_lines(), [])

        log("deb test: enable (pam-auth-update --enable pam-ion)")
        run(["pam-auth-update", "--enable", "pam-ion"])
        self.assertEnabledLine()
        # Only common-auth changes.
        changed = differences(pam_before, snapshot(("/etc/pam.d",)))
        self.assertEqual(changed, ["changed: /etc/pam.d/common-auth"])

        log("deb test: sign-in through common-auth")
        self.sign_in_through_common_auth()

        log("deb test: upgrade over an edited conffile")
        with open(CONF, "a") as fh:
            fh.write(ADMIN_EDIT)
        with open(CONF) as fh:
            edited = fh.read()
        newer, version = self.newer_package()
        apt_install(newer)
        self.assertEqual(run(["dpkg-query", "-W", "-f=${Version}",
                              "libpam-ion"]), version)
        with open(CONF) as fh:
            self.assertEqual(fh.read(), edited, "the edit was kept")
        self.assertTrue(os.path.exists(CONF + ".dpkg-dist"),
                        "the package's new version is beside it")
        self.assertFile(CONF, 0o644)
        self.assertFile(USERS, 0o600)
        # The upgrade keeps the profile enabled.
        self.assertEnabledLine()

        log("deb test: reinstall the same version")
        run(["apt-get", "install", "-y", "--reinstall",
             "-o", "Dpkg::Options::=--force-confold", newer])
        with open(CONF) as fh:
            self.assertEqual(fh.read(), edited, "the edit was kept")
        self.assertEnabledLine()

        log("deb test: remove, then purge")
        run(["apt-get", "remove", "-y", "libpam-ion"])
        self.assertEqual(pam_ion_lines(), [], "a PAM line after removal")
        self.assertFalse(os.path.exists(self.module))
        self.assertFalse(os.path.exists(PROFILE))
        self.assertTrue(os.path.exists(CONF), "remove keeps the conffiles")
        run(["apt-get", "purge", "-y", "libpam-ion", "pam-ion-relay"])
        for p in (CONF, CONF + ".dpkg-dist", USERS, DEFAULTS, RELAY,
                  self.module, PROFILE):
            self.assertFalse(os.path.lexists(p), "%s after purge" % p)
        self.assertEqual(pam_ion_lines(), [], "a PAM line after purge")
        with open("/var/lib/pam/seen") as fh:
            self.assertNotIn("pam-ion", fh.read().split())
        # pam-auth-update wrote common-auth back as it was.
        self.assertEqual(differences(pam_before, snapshot(("/etc/pam.d",))),
                         [], "/etc/pam.d after purge")


if __name__ == "__main__":
    unittest.main()
