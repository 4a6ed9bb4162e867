#!/usr/bin/env python3
"""End-to-end: pam_ion inside a real OpenSSH sshd, a real ssh client in a
pty, the stand-in provider, the real relay and the scripted phone.

    python3 tests/e2e/test_sshd.py [-v] [--keep]

What it does:
  1. starts the provider (tests/provider/provider.js) and the relay on
     127.0.0.1 with a --client-keys file (this host's key and another
     host's, made with pam-ion-relay --new-client-key), writes a pam_ion
     config, client secret, relay key, user map (alice@example.org ->
     iontest) and cache dir, root-owned, in a temp dir;
  2. creates the local user iontest if missing (and removes it at the end
     if it did);
  3. runs /usr/sbin/sshd in the foreground on a free loopback port with its
     own config and host key, through a symlink named sshd-ion-RANDOM:
     sshd takes its PAM service name from its argv[0]'s base name, so the
     stack is /etc/pam.d/sshd-ion-RANDOM (written here, always removed);
  4. run 1: ssh iontest@127.0.0.1 'id -un' in a pty (LANG=C.UTF-8); reads
     the QR code off the screen, renders it to a PNG, decodes it with
     zbarimg and checks it is exactly the link printed as text (also on a
     dark surround, and cell for cell as the terminal shows it: that last
     one only warns, unless PAM_ION_E2E_STRICT_SCREEN=1); the relay's page
     for the link must name the PAM service sshd-ion-RANDOM; the phone
     signs in on that link, the confirmation code is typed, and the remote
     command must print iontest and ssh exit 0;
  5. run 2: the phone signs in, a wrong code is typed three times: ssh must
     be refused, the person must see "The code did not match", and the
     provider must have seen the sign-in but no token request;
  6. run 3: the config says prompt = auto, confirm = no: sshd sets
     PAM_RHOST, so the module asks for the confirmation code anyway (the
     code prompt, the phone shows a code) and the login needs it;
  7. stops everything and removes what it made.

Inputs (environment; ctest sets them): PAM_ION_MODULE (pam_ion.so),
PAM_ION_RELAY (pam-ion-relay), PAM_ION_PROVIDER_DIR (tests/provider, with
node_modules from `npm ci`).  Needs root, sshd, ssh, zbarimg and node.
A module built with ASan gets its runtime preloaded into sshd.  --keep
keeps the temp dir (logs, configs, the QR images); -v echoes the screen.
Exits 0 on success, 1 on failure, 77 when it cannot run here (not root).
Python 3 standard library only.
"""
import argparse
import errno
import os
import pty
import pwd
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import qrimage  # noqa: E402
from stand.build import (PROVIDER_DIR, compiler_file,  # noqa: E402
                         default_paths, env_path, has_asan, ldd)
from stand.daemons import Provider, Relay  # noqa: E402
from stand.files import ModuleFiles, write_private  # noqa: E402
from stand.proc import StandError, free_port, request  # noqa: E402
import phone as phone_mod  # noqa: E402  (tests/provider/phone.py)

SSHD = "/usr/sbin/sshd"
USER = "iontest"
EMAIL = "alice@example.org"
CLIENT_ID = "pam-e2e"
SKIP = 77
PAM_MARK = "# written by pam_ion tests/e2e/test_sshd.py"
RELAY_CLIENT = "e2e-sshd"  # this host's name in the relay's keys file

PROMPT_CODE = "After signing in, type the code shown on your phone: "
PROMPT_WRONG = "That code does not match. Type the code shown on your phone: "
LINK_INTRO = "or open this link:"
MSG_ABORTED = "The code did not match"

STEP_TIMEOUT = 45  # seconds for any one thing to show up on the screen
TOTAL_TIMEOUT = 240  # the whole test; ctest's TIMEOUT is 300
# The QR code as the terminal shows it must decode too (see read_sign_in);
# PAM_ION_E2E_STRICT_SCREEN=1 makes that a failure instead of a warning.
STRICT_SCREEN = os.environ.get("PAM_ION_E2E_STRICT_SCREEN", "1") == "1"

VERBOSE = False


class Fail(Exception):
    pass


def say(*msg):
    print("e2e:", *msg, flush=True)


def check(cond, what, detail=None):
    """Passes or raises Fail; DETAIL (what the screen showed…) only then."""
    if not cond:
        raise Fail(what + (":\n" + detail if detail is not None else ""))
    say("ok -", what)


# ------------------------------------------------------------ the stand

class Stand:
    """Every process and file the test makes, and their cleanup."""

    def __init__(self, module, relay_bin, provider_dir, keep=False):
        self.module = module
        self.relay_bin = relay_bin
        self.provider_dir = provider_dir
        self.keep = keep
        self.procs = []  # (name, Popen, log file)
        self.tmp = tempfile.mkdtemp(prefix="pam_ion-e2e-")
        os.chmod(self.tmp, 0o755)  # sshd and PAM read from here as root
        self.tag = secrets.token_hex(4)
        self.service = "sshd-ion-" + self.tag
        self.pam_file = os.path.join("/etc/pam.d", self.service)
        self.pam_written = False
        self.user_created = False
        self.privsep_created = False
        self.provider = self.relay_daemon = self.sshd = None

    # -- processes
    def spawn(self, name, cmd, **kw):
        """cmd in a session of its own (sshd's children too go at stop()),
        its output in name.log."""
        log = open(os.path.join(self.tmp, name + ".log"), "wb")
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=log, start_new_session=True, **kw)
        self.procs.append((name, p, log))
        return p

    def log_text(self, name):
        try:
            with open(os.path.join(self.tmp, name + ".log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def start_provider(self):
        self.relay_port = free_port()
        self.relay = "http://127.0.0.1:%d" % self.relay_port
        self.provider = Provider(
            self.tmp, CLIENT_ID, self.client_secret, self.relay + "/callback",
            ["alice:%s:true:Alice Example" % EMAIL],
            provider_dir=self.provider_dir, start_timeout=30)
        self.issuer = self.provider.issuer
        say("provider at", self.issuer)

    def start_relay(self):
        # This host's key, and another host's (only so that the file holds
        # more than one line).
        self.relay_daemon = Relay(
            self.relay_bin, self.tmp, self.relay_port,
            self.issuer + "/oauth2/authorize",
            clients=(RELAY_CLIENT, "other-host"), start_timeout=15)
        self.relay_key = self.relay_daemon.key
        say("relay at", self.relay)

    # -- files
    def write_module_files(self):
        self.files = ModuleFiles(
            self.tmp, self.issuer, CLIENT_ID, self.client_secret, self.relay,
            self.relay_key, "%s %s\n" % (EMAIL, USER), {
                "login_timeout": "100",
                "http_timeout": "10",
                "debug": "yes"},
            comment="# pam_ion end-to-end test (tests/e2e/test_sshd.py)")
        self.conf = self.files.conf

    def write_conf(self, *extra):
        """pam_ion.conf again (root, 0644), with extra lines; read again by
        the module at every sign-in."""
        self.files.rewrite(*extra)

    def write_pam_service(self):
        text = "\n".join([
            PAM_MARK,
            "auth required %s config=%s" % (self.module, self.conf),
            "account required pam_permit.so",
            "session required pam_permit.so",
            "password required pam_deny.so",
            ""])
        write_private(self.pam_file, text, 0o644)
        self.pam_written = True
        say("PAM service", self.service, "->", self.pam_file)

    # -- the local user
    def ensure_user(self):
        try:
            pw = pwd.getpwnam(USER)
        except KeyError:
            subprocess.run(["useradd", "-m", "-s", "/bin/bash", USER],
                           check=True)
            self.user_created = True
            pw = pwd.getpwnam(USER)
            say("created user", USER)
        if pw.pw_shell not in ("/bin/bash", "/bin/sh", "/usr/bin/bash"):
            raise Fail("user %s has shell %s; the test needs a real shell"
                       % (USER, pw.pw_shell))

    # -- sshd
    def start_sshd(self):
        d = self.tmp
        # sshd's privilege separation directory (systemd usually makes it).
        if not os.path.isdir("/run/sshd"):
            os.makedirs("/run/sshd", 0o755)
            self.privsep_created = True
        hostkey = os.path.join(d, "ssh_host_ed25519_key")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "",
                        "-C", "pam_ion-e2e", "-f", hostkey], check=True,
                       stdout=subprocess.DEVNULL)
        self.sshd_port = free_port()
        self.sshd_conf = os.path.join(d, "sshd_config")
        write_private(self.sshd_conf, "\n".join([
            "ListenAddress 127.0.0.1:%d" % self.sshd_port,
            "HostKey " + hostkey,
            "PidFile " + os.path.join(d, "sshd.pid"),
            "UsePAM yes",
            "KbdInteractiveAuthentication yes",
            "AuthenticationMethods keyboard-interactive",
            "PasswordAuthentication no",
            "PubkeyAuthentication no",
            "HostbasedAuthentication no",
            "PermitRootLogin no",
            "AllowUsers " + USER,
            "LoginGraceTime 120",
            "MaxAuthTries 3",
            "StrictModes no",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "Banner none",
            "X11Forwarding no",
            "AllowTcpForwarding no",
            "AllowAgentForwarding no",
            "PermitTTY yes",
            "LogLevel DEBUG1",
            ""]), 0o644)
        # sshd names its PAM service after its argv[0] (auth-pam.h:
        # SSHD_PAM_SERVICE is __progname): run it through a symlink.
        link = os.path.join(d, self.service)
        os.symlink(SSHD, link)
        check_conf = subprocess.run([link, "-t", "-f", self.sshd_conf],
                                    capture_output=True, text=True)
        if check_conf.returncode != 0:
            raise Fail("sshd -t refused the config:\n" + check_conf.stderr)
        env = dict(os.environ)
        preload = asan_runtime(self.module)
        if preload:
            # An ASan-built module inside a plain sshd: the runtime must be
            # the first library (LD_PRELOAD); sshd's own allocations at exit
            # are not the module's, so no leak check here.
            env["LD_PRELOAD"] = preload
            env["ASAN_OPTIONS"] = "detect_leaks=0:halt_on_error=1"
            say("module built with ASan: sshd runs with LD_PRELOAD=" + preload)
        self.sshd = self.spawn("sshd", [link, "-D", "-e", "-f",
                                        self.sshd_conf], env=env)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if "Server listening on" in self.log_text("sshd"):
                break
            if self.sshd.poll() is not None:
                raise Fail("sshd exited %s:\n%s" %
                           (self.sshd.returncode, self.log_text("sshd")))
            time.sleep(0.05)
        else:
            raise Fail("sshd did not start:\n" + self.log_text("sshd"))
        say("sshd (pid %d) on 127.0.0.1:%d as %s" %
            (self.sshd.pid, self.sshd_port, self.service))

    # -- cleanup
    def stop(self):
        for d in (self.relay_daemon, self.provider):
            if d is not None:
                d.stop()
        for name, p, log in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    p.wait()
            log.close()
        self.procs = []

    def cleanup(self):
        errors = []
        try:
            self.stop()
        except Exception as e:  # keep going: the PAM file must go
            errors.append("stopping: %s" % e)
        if self.pam_written:
            try:
                os.unlink(self.pam_file)
                self.pam_written = False
            except OSError as e:
                errors.append("removing %s: %s" % (self.pam_file, e))
        if self.user_created:
            r = subprocess.run(["userdel", "-r", USER], capture_output=True,
                               text=True)
            # userdel -r warns (exit 12) when the mail spool is missing.
            # A user left behind is untidy, not a failure of the module.
            if r.returncode not in (0, 12):
                say("cleanup: userdel %s: %s" % (USER, r.stderr.strip()))
        if self.privsep_created:
            try:
                os.rmdir("/run/sshd")
            except OSError:
                pass  # another sshd may use it now; it is harmless
        if self.keep:
            say("kept", self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        for e in errors:
            say("cleanup:", e)
        return not errors


def asan_runtime(module):
    """The ASan runtime an instrumented module needs preloaded, or None."""
    for name, path in ldd(module).items():
        if path and re.match(r"libasan\.so|libclang_rt\.asan\S*\.so", name):
            return path
    if not has_asan(module):
        return None
    # Instrumented, with the runtime left to the program (clang's static
    # runtime): clang's shared one.
    for cc in ("clang", "cc"):
        if shutil.which(cc) is None:
            continue
        path = compiler_file(cc, "libclang_rt.asan-" + os.uname().machine +
                             ".so")
        if path:
            return path
    raise Fail("%s is built with ASan but no ASan runtime to preload into "
               "sshd was found" % module)


SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:", "ASan runtime does not come first")


def remove_stale_pam_files():
    """/etc/pam.d files left by an earlier run that was killed (SIGKILL
    leaves no chance to clean up): ours by the mark, their config gone."""
    for name in os.listdir("/etc/pam.d"):
        if not name.startswith("sshd-ion-"):
            continue
        path = os.path.join("/etc/pam.d", name)
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        m = re.search(r"config=(\S+)", text)
        if text.startswith(PAM_MARK) and m and not os.path.exists(m.group(1)):
            os.unlink(path)
            say("removed stale", path)


# ------------------------------------------------------------ ssh in a pty

class Ssh:
    """A real ssh client on a pty of its own (ssh reads keyboard-interactive
    answers from /dev/tty, so it needs a controlling terminal)."""

    def __init__(self, stand, command="id -un"):
        self.out = b""
        self.status = None
        argv = ["ssh", "-F", "/dev/null",
                "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null",
                "-o", "GlobalKnownHostsFile=/dev/null",
                "-o", "PreferredAuthentications=keyboard-interactive",
                "-o", "NumberOfPasswordPrompts=1",
                "-o", "ConnectTimeout=15",
                "-o", "ServerAliveInterval=15",
                "-p", str(stand.sshd_port),
                "%s@127.0.0.1" % USER, command]
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin",
               "HOME": os.environ.get("HOME", "/root"),
               "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "dumb"}
        pid, fd = pty.fork()
        if pid == 0:  # the child: pty.fork made the pty its terminal
            try:
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        say("ssh (pid %d):" % pid, " ".join(argv))

    def _read(self, timeout):
        """Appends what ssh printed within TIMEOUT; False at end."""
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError as e:
            if e.errno == errno.EIO:  # the child closed the pty
                return False
            raise
        if not data:
            return False
        self.out += data
        if VERBOSE:
            sys.stdout.write(data.decode("utf-8", "replace"))
            sys.stdout.flush()
        return True

    def text(self):
        # ssh ends lines with \r\n and starts prompts with a lone \r.
        return self.out.decode("utf-8", "replace").replace("\r", "")

    def expect(self, needle, timeout=STEP_TIMEOUT, since=0):
        """Reads until NEEDLE appears after offset SINCE of the text."""
        deadline = time.monotonic() + timeout
        while needle not in self.text()[since:]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Fail("no %r on the screen within %d s; it shows:\n%s"
                           % (needle, timeout, self.text()))
            if not self._read(min(left, 0.5)):
                raise Fail("ssh ended before %r; it showed:\n%s"
                           % (needle, self.text()))
        return self.text().index(needle, since) + len(needle)

    def type(self, answer):
        os.write(self.fd, answer.encode() + b"\r")

    def finish(self, timeout=STEP_TIMEOUT):
        """Reads to the end and reaps ssh; returns its exit status."""
        deadline = time.monotonic() + timeout
        eof = False
        while True:
            if not eof:
                eof = not self._read(0.2)
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(st)
                while not eof and self._read(0.2):
                    pass  # what it printed last
                break
            if time.monotonic() > deadline:
                self.kill()
                raise Fail("ssh did not end within %d s; it showed:\n%s"
                           % (timeout, self.text()))
            if eof:
                time.sleep(0.05)
        os.close(self.fd)
        self.fd = None
        return self.status

    def kill(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, st = os.waitpid(self.pid, 0)
            self.status = os.waitstatus_to_exitcode(st)
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


# ------------------------------------------------------------ the runs

def zbar(stand, rows, filename, border_light=True):
    """Renders the QR rows to a PNG and scans it: (exit code, text)."""
    png = os.path.join(stand.tmp, filename)
    with open(png, "wb") as f:
        f.write(qrimage.png(rows, border_light=border_light))
    z = subprocess.run(["zbarimg", "--raw", "-q", png], capture_output=True,
                       timeout=30)
    text = z.stdout.decode("utf-8", "replace")
    return z.returncode, text[:-1] if text.endswith("\n") else text


def read_sign_in(stand, ssh, name):
    """Waits for the prompt; checks the link and the QR code shown with it
    and returns the link."""
    end = ssh.expect(PROMPT_CODE)
    screen = ssh.text()[:end]
    lines = screen.split("\n")
    try:
        i = next(k for k, line in enumerate(lines) if line.endswith(LINK_INTRO))
    except StopIteration:
        raise Fail("%s: no %r line on the screen:\n%s"
                   % (name, LINK_INTRO, screen))
    link = lines[i + 1].strip()
    check(re.fullmatch(r"http://127\.0\.0\.1:%d/l/[A-Za-z0-9_-]+"
                       % stand.relay_port, link) is not None,
          "%s: the link is printed as text: %s" % (name, link), screen)
    start, rows = qrimage.find_qr(lines[:i])
    check(start is not None and len(rows) >= 11,
          "%s: a QR code of %d rows x %d columns precedes it"
          % (name, len(rows), len(rows[0]) if rows else 0), screen)
    width = len(rows[0])
    check(all(c == qrimage.FULL for c in rows[0]) and
          all(r[:2] == r[-2:] == qrimage.FULL * 2 for r in rows),
          "%s: it has its quiet zone (light, drawn as blocks)" % name, screen)
    version = (width - 4 - 17) // 4
    check(width == 4 * version + 21 and 1 <= version <= 3 and
          len(rows) == (width + 1) // 2,
          "%s: version %d, %d x %d characters: fits an 80x24 terminal"
          % (name, version, width, len(rows)), screen)
    # Scan it, as a phone would: light modules drawn, dark ones blank.
    rc, decoded = zbar(stand, rows, "%s-qr.png" % name)
    check(rc == 0 and decoded == link,
          "%s: zbarimg decodes the QR code to exactly the link" % name,
          "zbarimg exit %d, text %r, link %r" % (rc, decoded, link))
    # On the terminal the code sits on a dark background: its own drawn
    # quiet zone must be enough.
    rc, decoded = zbar(stand, rows, "%s-qr-dark.png" % name, False)
    check(rc == 0 and decoded == link,
          "%s: it decodes on a dark background too (its drawn quiet zone "
          "suffices)" % name,
          "zbarimg exit %d, text %r, link %r" % (rc, decoded, link))
    # And cell for cell as the terminal shows it: other text on a QR line
    # (ssh's "(user@host) " before a prompt's first line) is background.
    shown = ["".join(c if c in qrimage.CELLS else qrimage.BLANK
                     for c in (line + qrimage.BLANK * width)[:width])
             for line in lines[start:start + len(rows)]]
    if shown != rows:
        rc, decoded = zbar(stand, shown, "%s-qr-as-shown.png" % name, False)
        ok = rc == 0 and decoded == link
        msg = ("%s: the QR code as the terminal shows it (its first line "
               "starts with %r) %s" % (name, lines[start][:-width],
                                       "still decodes" if ok else
                                       "does not decode: that text pushes "
                                       "its top quiet zone aside"))
        if ok or not STRICT_SCREEN:
            say("ok -" if ok else "WARNING -", msg)
        else:
            check(False, msg)
    return link


def landing_page_check(stand, link, name):
    """The relay's page for the link names the context the module sent: the
    PAM service (sshd's argv[0] base name), the account, the origin."""
    st, body = request("GET", link)
    check(st == 200, "%s: the link answers 200 (%d)" % (name, st))
    check(stand.service in body,
          "%s: the landing page names the PAM service %s: sshd ran the "
          "module under its argv[0] base name" % (name, stand.service), body)
    check(USER in body, "%s: the landing page names the account %s"
          % (name, USER), body)
    check("127.0.0.1" in body, "%s: the landing page names the origin "
          "(PAM_RHOST 127.0.0.1)" % name, body)


def phone(stand, link, name):
    try:
        code = phone_mod.sign_in(link, "alice")
    except phone_mod.PhoneError as e:
        raise Fail("%s: the phone failed: %s" % (name, e))
    check(re.fullmatch(r"[0-9]{6}", code) is not None,
          "%s: the phone signed in and shows code %s" % (name, code))
    return code


def run_success(stand):
    name = "run1"
    stand.provider.reset()
    ssh = Ssh(stand)
    try:
        link = read_sign_in(stand, ssh, name)
        landing_page_check(stand, link, name)
        code = phone(stand, link, name)
        mark = len(ssh.text())
        ssh.type(code)
        status = ssh.finish()
    finally:
        ssh.kill()
    after = ssh.text()[mark:]
    out_lines = [x.strip() for x in after.split("\n") if x.strip()]
    check(status == 0, "%s: ssh exits 0 (%s)" % (name, status),
          "after the code it showed:\n" + after)
    check(USER in out_lines,
          "%s: the remote command ran as the mapped user: `id -un` printed "
          "%s" % (name, USER), "after the code ssh showed:\n" + after)
    check("Permission denied" not in after,
          "%s: no 'Permission denied'" % name, after)
    stats = stand.provider.stats()
    check(stats.get("token") == 1,
          "%s: the provider saw exactly one token request (%s)"
          % (name, stats.get("token")))
    check(re.search(r"registered by client %s " % RELAY_CLIENT,
                    stand.log_text("relay")) is not None,
          "%s: the relay logged the login as registered by client %s (its "
          "relay key)" % (name, RELAY_CLIENT))


def run_confirm_no_over_ssh(stand):
    """prompt = auto, confirm = no in the config; sshd sets PAM_RHOST, so
    the module asks for the code anyway, and the phone shows one."""
    name = "run3"
    stand.write_conf("prompt = auto", "confirm = no")
    stand.provider.reset()
    ssh = Ssh(stand)
    try:
        # prompt = auto: sshd shows the QR code only with the next prompt,
        # which comes once the phone is done: sign in from the relay's
        # newest login, then the code prompt must come.
        deadline = time.monotonic() + STEP_TIMEOUT
        link = None
        while link is None and time.monotonic() < deadline:
            m = re.findall(r"login (\S+) registered by client %s "
                           % RELAY_CLIENT, stand.log_text("relay"))
            if len(m) >= 3:
                link = "%s/l/%s" % (stand.relay, m[-1])
            else:
                time.sleep(0.1)
        check(link is not None, "%s: the module registered a login" % name)
        code = phone(stand, link, name)
        pos = ssh.expect(PROMPT_CODE)
        say("ok - %s: confirm = no over ssh: the module asks for the code"
            % name)
        ssh.type(code)
        status = ssh.finish()
    finally:
        ssh.kill()
        stand.write_conf()
    after = ssh.text()[pos:]
    check(status == 0 and USER in [x.strip() for x in after.split("\n")],
          "%s: with the code typed ssh signs in (exit %s)" % (name, status),
          after)


def wrong_code(code):
    return "%06d" % ((int(code) + 500001) % 1000000)


def run_wrong_code(stand):
    name = "run2"
    stand.provider.reset()
    before = stand.relay_daemon.metrics()
    ssh = Ssh(stand)
    try:
        link = read_sign_in(stand, ssh, name)
        code = phone(stand, link, name)
        bad = wrong_code(code)
        pos = len(ssh.text())
        for n in (1, 2):
            ssh.type(bad)
            pos = ssh.expect(PROMPT_WRONG, since=pos)
            say("ok - %s: wrong code %d: asked again" % (name, n))
        ssh.type(bad)
        status = ssh.finish()
    finally:
        ssh.kill()
    after = ssh.text()[pos:]
    shown = "after the third code ssh showed:\n" + after
    check(status != 0, "%s: ssh fails (exit %s) after three wrong codes"
          % (name, status), shown)
    check("Permission denied" in after,
          "%s: ssh says 'Permission denied'" % name, shown)
    check(MSG_ABORTED in after,
          "%s: the person sees the module's %r" % (name, MSG_ABORTED), shown)
    check(USER not in [x.strip() for x in after.split("\n")],
          "%s: the remote command did not run" % name, shown)
    stats = stand.provider.stats()
    check(stats.get("authorize", 0) >= 1 and stats.get("token", 0) == 0,
          "%s: the provider saw the sign-in (authorize %s) and no token "
          "request (%s): the code was checked first"
          % (name, stats.get("authorize"), stats.get("token")))
    after_m = stand.relay_daemon.metrics()
    cb = "pam_ion_relay_callbacks_total"
    check(after_m.get(cb, 0) - before.get(cb, 0) >= 1,
          "%s: the relay saw the phone's callback" % name)


# ------------------------------------------------------------ main

def main():
    global VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="echo what ssh shows")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temp dir (logs, configs, QR images)")
    a = ap.parse_args()
    VERBOSE = a.verbose

    if os.geteuid() != 0:
        say("SKIP: needs root (sshd, /etc/pam.d, useradd)")
        return SKIP
    built = default_paths()
    module = env_path("PAM_ION_MODULE", built["module"])
    relay = env_path("PAM_ION_RELAY", built["relay"])
    provider_dir = env_path("PAM_ION_PROVIDER_DIR", PROVIDER_DIR)
    problems = []
    if not os.path.isfile(module):
        problems.append("pam_ion.so not found (PAM_ION_MODULE)")
    if not os.access(relay, os.X_OK):
        problems.append("pam-ion-relay not found (PAM_ION_RELAY)")
    if not os.path.isdir(
            os.path.join(provider_dir, "node_modules")):
        problems.append("no node_modules in the provider dir: run "
                        "`npm ci` in tests/provider")
    for prog in (SSHD, "ssh", "ssh-keygen", "zbarimg", "node", "useradd"):
        if shutil.which(prog) is None:
            problems.append("%s is missing (scripts/deps.sh installs it)"
                            % prog)
    if problems:
        for p in problems:
            say("FAIL:", p)
        return 1

    # SIGTERM/SIGINT/SIGHUP (ctest's timeout, ^C) still clean up.
    def on_signal(signum, frame):
        raise SystemExit("e2e: signal %d" % signum)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM):
        signal.signal(s, on_signal)
    signal.alarm(TOTAL_TIMEOUT)

    t0 = time.monotonic()
    remove_stale_pam_files()
    stand = Stand(module, relay, provider_dir, keep=a.keep)
    stand.client_secret = secrets.token_urlsafe(24)
    ok = False
    try:
        say("module", module)
        stand.start_provider()
        stand.start_relay()
        stand.write_module_files()
        stand.ensure_user()
        stand.write_pam_service()
        stand.start_sshd()
        run_success(stand)
        run_wrong_code(stand)
        run_confirm_no_over_ssh(stand)
        check(stand.sshd.poll() is None, "sshd is still running")
        log = stand.log_text("sshd")
        check(not any(r in log for r in SANITIZER_REPORTS),
              "no sanitizer report in sshd's log")
        ok = True
    except (Fail, StandError) as e:
        say("FAIL:", e)
    except Exception as e:
        import traceback
        traceback.print_exc()
        say("FAIL: %s: %s" % (type(e).__name__, e))
    finally:
        signal.alarm(0)
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)  # cleanup is bounded; let it end
        if not ok:
            for name in ("sshd", "relay", "provider"):
                tail = stand.log_text(name).splitlines()[-60:]
                say("---- %s.log (last %d lines)" % (name, len(tail)))
                for line in tail:
                    print("    " + line)
        clean = stand.cleanup()
        if os.path.exists(stand.pam_file):
            say("FAIL: %s is still there" % stand.pam_file)
            clean = False
    dt = time.monotonic() - t0
    if ok and clean:
        say("PASS in %.1f s" % dt)
        return 0
    say("FAILED after %.1f s" % dt)
    return 1


if __name__ == "__main__":
    sys.exit(main())
