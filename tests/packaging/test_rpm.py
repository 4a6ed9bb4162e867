"""The RPM packages: packaging/rpm/build.sh builds them, and their files,
names, config flags, modes, scriptlets and the module's exports are where
and what Fedora/RHEL expect.

One build for the whole class (setUpClass), into a temporary directory.
Skips only when rpmbuild is missing and build.sh could not install it.

    cd tests/packaging && python3 -B -m unittest -v test_rpm
"""

import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
BUILD = TOP / "packaging" / "rpm" / "build.sh"
EXPORTS = TOP / "tests" / "module" / "exports.sh"
MAN_SUFFIXES = ("", ".gz", ".bz2", ".xz", ".zst")


def run(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True,
                          **kw).stdout


def rpm_eval(expr):
    return run("rpm", "--eval", expr).strip()


def project_version():
    m = re.search(r"^project\(pam_ion VERSION ([0-9.]+)",
                  (TOP / "CMakeLists.txt").read_text(), re.M)
    assert m, "no project(pam_ion VERSION ...) in CMakeLists.txt"
    return m.group(1)


def extract(rpm, dest):
    """The regular files of rpm under dest, from rpm2cpio's newc archive
    (read here rather than with cpio(1), which Debian does not install by
    default)."""
    data = subprocess.run(["rpm2cpio", str(rpm)], check=True,
                          capture_output=True).stdout
    pos = 0
    while True:
        hdr = data[pos:pos + 110]
        if hdr[:6] not in (b"070701", b"070702"):
            raise AssertionError(f"{rpm}: bad cpio header at {pos}")
        f = [int(hdr[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = f[1], f[6], f[11]
        name = data[pos + 110:pos + 110 + namesize - 1].decode()
        pos = (pos + 110 + namesize + 3) & ~3
        if name == "TRAILER!!!":
            return
        if stat.S_ISREG(mode):
            out = dest / name.lstrip("./")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data[pos:pos + size])
            out.chmod(stat.S_IMODE(mode))
        pos = (pos + size + 3) & ~3


class RpmPackages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="test_rpm."))
        out = cls.tmp / "out"
        t0 = time.monotonic()
        p = subprocess.run(["bash", str(BUILD), str(out)],
                           capture_output=True, text=True)
        cls.build_seconds = time.monotonic() - t0
        if p.returncode != 0:
            missing = shutil.which("rpmbuild") is None
            shutil.rmtree(cls.tmp)
            if missing:
                raise unittest.SkipTest(
                    "rpmbuild is missing and could not be installed: "
                    + (p.stderr.strip().splitlines() or ["?"])[-1])
            raise AssertionError(
                f"build.sh failed ({p.returncode}):\n"
                f"{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
        cls.rpms = {}
        for f in sorted(out.glob("*.rpm")):
            name = run("rpm", "-qp", "--queryformat", "%{NAME}", str(f))
            cls.rpms[name] = f
        cls.libdir = rpm_eval("%{_libdir}")
        cls.unitdir = (rpm_eval("%{?_unitdir}")
                       or rpm_eval("%{_prefix}/lib/systemd/system"))
        cls.mandir = rpm_eval("%{_mandir}")
        cls.bindir = rpm_eval("%{_bindir}")
        print(f"\nrpm build: {cls.build_seconds:.1f} s, "
              f"{', '.join(p.name for p in cls.rpms.values())}")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def files(self, name):
        """{path: (perms, user, group)} of package name."""
        out = run("rpm", "-qp", "--queryformat",
                  "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} "
                  "%{FILENAMES}\n]", str(self.rpms[name]))
        res = {}
        for line in out.splitlines():
            perms, user, group, path = line.split(" ", 3)
            res[path] = (perms, user, group)
        # -qlp must say the same.
        self.assertEqual(
            sorted(run("rpm", "-qlp", str(self.rpms[name])).split()),
            sorted(res))
        return res

    def assertMan(self, files, path):
        self.assertTrue(any(path + s in files for s in MAN_SUFFIXES),
                        f"{path}[.gz] not in {sorted(files)}")

    def test_names_version_arch(self):
        self.assertEqual(sorted(self.rpms), ["pam-ion-relay", "pam_ion"])
        arch = rpm_eval("%{_arch}")
        for name, f in self.rpms.items():
            got = run("rpm", "-qp", "--queryformat",
                      "%{NAME} %{VERSION} %{ARCH}", str(f))
            self.assertEqual(got, f"{name} {project_version()} {arch}")
            self.assertTrue(f.name.startswith(f"{name}-{project_version()}-"))
            self.assertTrue(f.name.endswith(f".{arch}.rpm"), f.name)

    def test_module_files(self):
        files = self.files("pam_ion")
        self.assertIn(f"{self.libdir}/security/pam_ion.so", files)
        self.assertIn("/etc/security/pam_ion.conf", files)
        self.assertIn("/etc/security/pam_ion.users", files)
        self.assertMan(files, f"{self.mandir}/man8/pam_ion.8")
        self.assertMan(files, f"{self.mandir}/man5/pam_ion.conf.5")
        self.assertEqual(files["/var/cache/pam_ion"],
                         ("drwx------", "root", "root"))
        # pam-auth-update profiles are Debian's; nothing of the relay here.
        for path in files:
            self.assertNotIn("pam-configs", path)
            self.assertNotIn("pam-ion-relay", path)
        if (TOP / "src" / "tool" / "CMakeLists.txt").exists():
            sbindir = rpm_eval("%{_sbindir}")
            self.assertTrue(f"{self.bindir}/pam-ion" in files or
                            f"{sbindir}/pam-ion" in files, sorted(files))
            self.assertMan(files, f"{self.mandir}/man8/pam-ion.8")

    def test_relay_files(self):
        files = self.files("pam-ion-relay")
        self.assertIn(f"{self.bindir}/pam-ion-relay", files)
        self.assertIn(f"{self.unitdir}/pam-ion-relay.service", files)
        self.assertIn(f"{self.unitdir}/pam-ion-relay@.service", files)
        self.assertIn("/etc/default/pam-ion-relay", files)
        self.assertMan(files, f"{self.mandir}/man8/pam-ion-relay.8")
        self.assertEqual(files["/etc/pam-ion-relay"],
                         ("drwxr-xr-x", "root", "root"))
        for path in files:
            self.assertNotIn("security", path)

    def test_config_files(self):
        self.assertEqual(
            run("rpm", "-qcp", str(self.rpms["pam_ion"])).split(),
            ["/etc/security/pam_ion.conf", "/etc/security/pam_ion.users"])
        self.assertEqual(
            run("rpm", "-qcp", str(self.rpms["pam-ion-relay"])).split(),
            ["/etc/default/pam-ion-relay"])
        # noreplace: an edited file survives an upgrade (flag bit 4).
        for name, f in self.rpms.items():
            out = run("rpm", "-qp", "--queryformat",
                      "[%{FILEFLAGS} %{FILENAMES}\n]", str(f))
            for line in out.splitlines():
                flags, path = line.split(" ", 1)
                if int(flags) & 1:  # RPMFILE_CONFIG
                    self.assertTrue(int(flags) & 16,
                                    f"{path}: config without noreplace")

    def test_config_modes(self):
        # What the module's rootfile.c demands: root-owned, not writable by
        # group or others.  The configuration holds no secret; the user map
        # is root's alone (as in the Debian package).
        module = self.files("pam_ion")
        self.assertEqual(module["/etc/security/pam_ion.conf"],
                         ("-rw-r--r--", "root", "root"))
        self.assertEqual(module["/etc/security/pam_ion.users"],
                         ("-rw-------", "root", "root"))
        relay = self.files("pam-ion-relay")
        self.assertEqual(relay["/etc/default/pam-ion-relay"],
                         ("-rw-r--r--", "root", "root"))
        for files in (module, relay):
            for path, (perms, user, _) in files.items():
                self.assertEqual(user, "root", path)
                if not perms.startswith("l"):
                    # perms[5] and [8]: written by group, by others.
                    self.assertNotIn("w", perms[5] + perms[8],
                                     f"{path}: {perms}")

    def test_contents(self):
        """The module exports only pam_sm_*; the units, the defaults file
        and the conf files are the checkout's, and the units name the
        packaged binary and defaults file."""
        root = self.tmp / "root"
        for f in self.rpms.values():
            extract(f, root)
        so = root / f"{self.libdir}/security/pam_ion.so".lstrip("/")
        p = subprocess.run(["sh", str(EXPORTS), str(so)],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        unitdir = root / self.unitdir.lstrip("/")
        for unit in ("pam-ion-relay.service", "pam-ion-relay@.service"):
            text = (unitdir / unit).read_text()
            self.assertEqual(
                text, (TOP / "packaging/systemd" / unit).read_text())
            self.assertIn("EnvironmentFile=-/etc/default/pam-ion-relay\n",
                          text)
            self.assertIn(f"ExecStart={self.bindir}/pam-ion-relay ", text)
        self.assertEqual(
            (root / "etc/default/pam-ion-relay").read_text(),
            (TOP / "packaging/systemd/pam-ion-relay.default").read_text())
        for name in ("pam_ion.conf", "pam_ion.users"):
            text = (root / "etc/security" / name).read_text()
            self.assertEqual(text,
                             (TOP / "packaging/etc" / name).read_text())
            # Comments and blank lines only: nothing enabled or mapped.
            for line in text.splitlines():
                self.assertTrue(line.strip() == "" or
                                line.lstrip().startswith("#"), line)

    def test_scriptlets(self):
        relay = run("rpm", "-qp", "--scripts", str(self.rpms["pam-ion-relay"]))
        for which in ("postinstall", "preuninstall", "postuninstall"):
            self.assertRegex(relay, rf"(?m)^{which} scriptlet")
        self.assertIn("pam-ion-relay.service", relay)
        self.assertIn("systemctl", relay)
        for tag in ("POSTIN", "PREUN", "POSTUN"):
            body = run("rpm", "-qp", "--queryformat", f"%{{{tag}}}",
                       str(self.rpms["pam-ion-relay"]))
            p = subprocess.run(["sh", "-n"], input=body, text=True,
                               capture_output=True)
            self.assertEqual(p.returncode, 0, f"{tag}: {p.stderr}")
        self.assertEqual(
            run("rpm", "-qp", "--scripts", str(self.rpms["pam_ion"])), "")

    def test_systemd_macros(self):
        """Where systemd-rpm-macros defines them (Fedora, RHEL), the
        scriptlets are the macros' (stand-ins here, which echo their
        arguments) and not the fallback."""
        stubs = []
        for m in ("systemd_post", "systemd_preun", "systemd_postun",
                  "systemd_postun_with_restart"):
            stubs += ["--define", f"{m}() MACRO-{m} %*"]
        spec = run("rpmspec", "-P", *stubs,
                   "--define", "systemd_requires Requires(post): systemd",
                   str(TOP / "packaging/rpm/pam_ion.spec"))
        units = "pam-ion-relay.service pam-ion-relay@.service"
        for want in (f"MACRO-systemd_post {units}",
                     f"MACRO-systemd_preun {units}",
                     "MACRO-systemd_postun_with_restart pam-ion-relay.service",
                     "MACRO-systemd_postun pam-ion-relay@.service",
                     "Requires(post): systemd"):
            self.assertIn(want + "\n", spec)
        self.assertNotIn("systemctl", spec)


if __name__ == "__main__":
    unittest.main()
