#!/usr/bin/env python3
"""valgrind.logins: pam_ion under memcheck for many consecutive sign-ins in
one long-lived process, as a PAM application such as sshd runs them: no
memcheck errors, no leaks, no descriptors left open, flat memory.

The stand-in provider (tests/provider/provider.js) and the real relay
(pam-ion-relay) run natively on 127.0.0.1.  The PAM application is
tests/bench/module_bench_drive (pam_start_confdir, pam_authenticate, pam_end
per sign-in, all in one process; used as it is), with pam_ion in
`prompt = auto`, `confirm = no` mode as a local login (no PAM_RHOST, PAM_TTY
/dev/tty1: confirm = no is honoured only at a local terminal); only that
process runs under valgrind.  The relay
runs with a --client-keys file holding this host's key (made with
pam-ion-relay --new-client-key), which the module reads from relay_key_file.

Protocol with the driver (module_bench_drive.c): it prints "READY <pid>";
per "login" on its stdin it prints the conversation messages as they arrive
("MSG <t> INFO <text>", the short link on a line of its own), the
transaction's log lines and one "RESULT code=<pam code> ...", then waits in
fgets() for the next command.  The module waits for the relay by itself
(prompt = auto), so when the link appears this runner plays the phone
in-process (tests/provider/phone.py's flow, one phone and so one provider
session for the whole run) while the module's poll is parked at the relay.
Between sign-ins, while the driver sits in fgets(), this runner samples its
memory: VmRSS from /proc/<pid>/status and, under valgrind, the client heap
in use (memcheck's own count, `vgdb --pid=<pid> leak_check summary`).

Three phases, each a new driver process starting with an empty cache (so
the first sign-in fetches discovery and JWKS, every later one uses the warm
cache: the provider must see exactly one discovery and one JWKS request per
phase, and one token request per sign-in):

  native    --logins sign-ins without valgrind.  Flat memory: VmRSS after
            the last sign-in minus VmRSS after sign-in logins/10 (100) must
            stay below RSS_GROWTH_LIMIT_KIB (see there for the bound).
  reload    --reload-logins sign-ins under memcheck, nothing preloaded: at
            every pam_start libpam loads pam_ion.so and with it the whole
            library stack (libcurl and what Debian's libcurl drags in:
            gnutls through librtmp, krb5, ldap, ssh2, ...), and at every
            pam_end it unloads it again.  Whatever any of them leaves behind
            per load shows up here.
  pinned    --logins sign-ins under memcheck with pam_ion.so's own shared
            libraries (its DT_NEEDED ones the driver does not link already:
            libcurl, libcjose, libjansson, libcrypto, libqrencode) preloaded,
            as in a host process that links them itself; libpam still loads
            and unloads pam_ion.so at every sign-in.  This is the 1,000
            consecutive sign-ins in one process.  Reloading the library
            stack costs about 0.35 s of CPU per sign-in under memcheck (~75 %
            of it): 1,000 sign-ins in the reload phase took 521 s (440 s of
            CPU) on a 2-core machine, more than a ctest may take, so the
            reload phase covers that path with fewer sign-ins.

Each memcheck phase passes when valgrind's exit status is the driver's 0
(--error-exitcode=99 with --errors-for-leak-kinds=definite,indirect: no
memcheck error, no definite or indirect leak), its log agrees (ERROR
SUMMARY: 0 errors, nothing definitely or indirectly lost), no descriptor
but stdin, stdout and stderr is open at exit (--track-fds=yes; valgrind
3.19 lists them without counting them as errors, so the log is read), and
the client heap in use does not grow between the samples (HEAP_GROWTH_LIMIT
below).  The process's VmRSS under valgrind is printed but not judged: it is
mostly valgrind's own memory, which grows by itself when a library is
loaded again and again: the code of every load is translated anew (the
translation cache, capped below, fills in the first ~150 sign-ins) and
valgrind's bookkeeping for every load keeps growing after that (~13 KB per
sign-in pinned, ~30 KB reloading the whole stack, while the client heap
stays the same to the byte).  The native phase judges the RSS of the same
sign-ins, and memcheck's heap count judges the client's heap exactly.

If the time budget runs out, the pinned phase stops early (and fails below
--min-logins); the number run is printed either way.

Frames in pam_ion.so print as ??? in a leak record when libpam had already
unloaded the module at the leak check; the runner then says how to run
again with valgrind's --keep-debuginfo=yes for file and line.  It is not on
by default: it keeps a copy of the debug information of every load (about
1 MB of valgrind's memory per sign-in) and costs a third more time.

Suppressions: pam_ion.supp, next to this file, for third-party noise only,
each entry with its reason.

Python 3 standard library only.  Needs root (the module refuses files root
does not own), valgrind (with vgdb), node and `npm ci` in tests/provider;
exits 77 (skipped) without them, or when the module has AddressSanitizer
in it (an ASan build cannot run under valgrind).  Paths come from the
environment (the CMake test sets them) or the options:

    PAM_ION_MODULE  RELAY_BIN  DRIVER  PROVIDER_DIR  VALGRIND  VGDB
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
from stand.build import (PROVIDER_DIR, default_paths, env_path,  # noqa: E402
                         has_asan, ldd, provider_missing)
from stand.daemons import Provider, Relay  # noqa: E402
from stand.drive import Driver  # noqa: E402
from stand.files import (ModuleFiles, empty_dir, module_line,  # noqa: E402
                         write_pam_dir)
from stand.proc import StandError, free_port, stop_all, tail  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SUPP = os.path.join(HERE, "pam_ion.supp")
BIN = default_paths()

CLIENT_ID = "pam-valgrind"
RELAY_CLIENT = "valgrind"  # this host's name in the relay's keys file
CLIENT_SECRET = "vg-s3cret-Wq4zT8nL2pX6"
ACCOUNT = "alice:alice@example.org:true:Alice Example"
LOCAL_USER = "root"  # alice@example.org maps to it (the driver runs as root)
LOCAL_TTY = "/dev/tty1"  # a virtual console: confirm = no is honoured
SERVICE = "ion-valgrind"
LOGIN_TIMEOUT_S = 120  # the module's own limit per sign-in (valgrind is slow)
HTTP_TIMEOUT_S = 30
STEP_TIMEOUT_S = 180.0  # any one wait of this runner
EXIT_TIMEOUT_S = 300.0  # valgrind's leak check at exit
VGDB_TIMEOUT_S = 120.0

# Flat memory, natively: VmRSS after the last sign-in minus VmRSS after
# sign-in 100 (of 1,000).  Measured on Debian 12 / x86-64: +112 to +148
# KiB, almost all of it before sign-in 500 (glibc's heap settling: the
# arena's free lists and the top chunk find their working size), +20 KiB
# from 500 to 1,000, while memcheck counts the very same heap bytes at
# every sample.  1 MiB is about seven times that, yet a leak of a little
# over 1 KiB per sign-in (one curl handle, one QR code or one response body
# kept) would cross it over the 900 sign-ins in between.
RSS_GROWTH_LIMIT_KIB = 1024
# Under memcheck, the client heap in use (every block not yet freed,
# reachable or not, as memcheck counts it) between the same two samples.
# Measured: the very same number of bytes and blocks at every sample.  The
# bound leaves room for one late allocation of some library, nothing more:
# 2 bytes more per sign-in over the pinned phase's 900 sign-ins in between,
# or 12 bytes per sign-in over the reload phase's 90, cross it.
HEAP_GROWTH_LIMIT = 1024

PAM_SUCCESS = 0

# What this runner raises and what the stand raises are reported alike.
Failure = StandError


def log(*msg):
    print("valgrind.logins:", *msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------ setup

def write_config(tmp, module, issuer, relay_url, relay_key):
    """pam_ion.conf, secret, user map, cache dir and a pam.d directory, as
    root wants them."""
    files = ModuleFiles(tmp, issuer, CLIENT_ID, CLIENT_SECRET, relay_url,
                        relay_key, "alice@example.org %s\n" % LOCAL_USER, {
                            "prompt": "auto",
                            "confirm": "no",
                            "login_timeout": str(LOGIN_TIMEOUT_S),
                            "http_timeout": str(HTTP_TIMEOUT_S),
                            "debug": "yes"},
                        comment="# written by tests/valgrind/test_valgrind.py")
    # libpam reads "other" as the default stack; empty: nothing loaded.
    confdir = write_pam_dir(os.path.join(tmp, "pam.d"), {
        SERVICE: module_line(module, files.conf), "other": ""})
    return confdir, files.cache_dir


def module_libraries(module, driver):
    """Full paths of the shared libraries pam_ion.so names (DT_NEEDED) that
    the driver does not load already, for LD_PRELOAD."""
    out = subprocess.run(["readelf", "-d", module], capture_output=True,
                         text=True, timeout=30).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]", out)
    have, paths = ldd(driver), ldd(module)
    libs = [paths[n] for n in needed if n not in have and paths.get(n)]
    if not libs:
        raise Failure("found none of pam_ion.so's libraries to preload "
                      "(NEEDED: %s)" % ", ".join(needed))
    return libs


# ------------------------------------------------------------ the driver

def vm_status(pid):
    """VmRSS, VmHWM, RssAnon ... of pid, in KiB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k.startswith("Vm") or k.startswith("Rss"):
                out[k] = int(v.split()[0])
    return out


def cpu_seconds(pid):
    """User + system CPU of pid so far, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------ valgrind

LOST_KINDS = ("definitely lost", "indirectly lost", "possibly lost",
              "still reachable", "suppressed")


def valgrind_argv(valgrind, extra):
    """The issue's memcheck options.  The report goes to the driver's
    stderr (a file): a --log-file would be one more descriptor open at exit
    for --track-fds to list."""
    return [valgrind, "--tool=memcheck", "--leak-check=full",
            "--show-leak-kinds=definite,indirect",
            "--errors-for-leak-kinds=definite,indirect",
            "--error-exitcode=99", "--track-fds=yes",
            # Deep enough to reach from an allocation inside OpenSSL or
            # libcurl back through pam_ion to pam_authenticate.
            "--num-callers=40",
            # valgrind's translation cache: 4 sectors (~110 MB) instead of
            # 32 (~880 MB).  Every load of pam_ion.so is translated anew
            # and the old translations are only dropped when their sector
            # is reused, so with 32 the process grows by ~0.7 MB per
            # sign-in up to ~1 GB; with 4 the cache is full after about
            # 150 sign-ins and then recycled, and the run was no slower.
            # Only valgrind's own memory changes, not what memcheck sees.
            "--num-transtab-sectors=4",
            "--suppressions=" + SUPP] + extra


def leak_counts(text):
    """{kind: (bytes, blocks)} from a LEAK SUMMARY (memcheck's format)."""
    out = {}
    for kind in LOST_KINDS:
        m = re.search(r"^(?:==\d+==)?\s+%s: ([\d,]+) (?:\([^)]*\) )?bytes "
                      r"in ([\d,]+) " % kind, text, re.M)
        if m:
            out[kind] = (int(m.group(1).replace(",", "")),
                         int(m.group(2).replace(",", "")))
    return out


def heap_in_use(vgdb, pid):
    """Client heap in use now, as memcheck counts it (bytes, blocks): a
    leak search through vgdb while the driver waits in fgets()."""
    try:
        r = subprocess.run([vgdb, "--pid=%d" % pid, "leak_check", "summary"],
                           capture_output=True, text=True,
                           timeout=VGDB_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise Failure("vgdb leak_check did not answer in %.0f s" %
                      VGDB_TIMEOUT_S)
    counts = leak_counts(r.stdout)
    if r.returncode != 0 or "still reachable" not in counts:
        raise Failure("vgdb leak_check failed (%d; vgdb needs ptrace to "
                      "reach a process blocked in read()): %s" %
                      (r.returncode, (r.stdout + r.stderr)[-800:]))
    return (sum(v[0] for v in counts.values()),
            sum(v[1] for v in counts.values()))


def read_vglog(path):
    """What valgrind's report says: errors, leaks, open descriptors."""
    with open(path, errors="replace") as f:
        text = f.read()
    body = re.sub(r"^==\d+== ?", "", text, flags=re.M)
    out = {"text": text}
    m = re.search(r"^ERROR SUMMARY: ([\d,]+) errors", body, re.M)
    out["errors"] = int(m.group(1).replace(",", "")) if m else None
    # The last LEAK SUMMARY is the one at exit.
    i = body.rfind("LEAK SUMMARY:")
    out["lost"] = leak_counts(body[i:]) if i >= 0 else {}
    out["no_leaks"] = "All heap blocks were freed" in body
    m = re.search(r"^HEAP SUMMARY:\n\s+in use at exit: ([\d,]+) bytes in "
                  r"([\d,]+) blocks", body, re.M)
    out["at_exit"] = (tuple(int(x.replace(",", "")) for x in m.groups())
                      if m else None)
    m = re.search(r"^FILE DESCRIPTORS: (\d+) open", body, re.M)
    out["fds_open"] = int(m.group(1)) if m else None
    # "Open file descriptor 5: /path" or "Open AF_INET socket 5: ...".
    out["fds"] = [(int(fd), what.strip()) for fd, what in re.findall(
        r"^Open (?:file descriptor|\S+ socket) (\d+): ?(.*)$", body, re.M)]
    return out


def vg_records(vg, limit=150):
    """The parts of the report worth showing: the errors found during the
    run (before the exit's FILE DESCRIPTORS section) and the leak records
    (from HEAP SUMMARY on); the open descriptors are in the FAILED lines."""
    lines = vg["text"].splitlines()

    def find(pattern, default):
        return next((i for i, line in enumerate(lines)
                     if re.search(pattern, line)), default)
    start = find(r"== Parent PID: ", find(r"== Command: ", 0)) + 1
    fds = find(r"== FILE DESCRIPTORS: ", len(lines))
    heap = find(r"== HEAP SUMMARY:", len(lines))

    def cap(part):
        return part[:limit] + (["... (%d more lines)" % (len(part) - limit)]
                               if len(part) > limit else [])
    during = [x for x in lines[start:fds] if not re.fullmatch(r"==\d+== ?",
                                                              x)]
    return "\n".join((cap(during) or ["(no errors during the run)"]) +
                     cap(lines[heap:]))


# ------------------------------------------------------------ phases

class Run:
    """What the phases share: the daemons, the config, the phone."""

    def __init__(self, a, tmp, provider, relay, confdir, cache, phone_mod):
        self.a, self.tmp = a, tmp
        self.provider, self.relay = provider, relay
        self.confdir, self.cache = confdir, cache
        # One phone for the whole run, as a person keeps theirs: its session
        # cookie at the provider stays, so after the first sign-in the
        # provider asks for no password again (fast, and realistic).
        self.phone = phone_mod.Phone()
        self.t0 = time.monotonic()

    def on_link(self, link):
        got = self.phone.sign_in(link, "alice")
        if got != "DONE":
            raise Failure("phone: the relay answered %r, expected the "
                          "confirm = no page" % got)
        return got

    def left(self):
        return self.a.time_budget - (time.monotonic() - self.t0)


def sample_points(n):
    """After which sign-ins memory is sampled: n/10, n/2 and n."""
    return sorted({max(1, n // 10), max(1, n // 2), n})


def run_phase(run, name, n, valgrind, preload=None, budget_reserve=None):
    """One driver process, n sign-ins; returns the phase's record."""
    a = run.a
    rec = {"name": name, "asked": n, "done": 0, "samples": {},
           "failures": [], "valgrind": valgrind, "preload": preload}
    # No RHOST, PAM_TTY the console: a local login, the only kind for which
    # confirm = no is honoured (anything else is asked for the code).
    argv = [a.driver, run.confdir, SERVICE, LOCAL_USER, "", LOCAL_TTY]
    if valgrind:
        argv = valgrind_argv(a.valgrind, a.valgrind_option) + argv
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = ":".join(preload)
    empty_dir(run.cache)
    s0 = run.provider.stats()
    points = sample_points(n)
    log("phase %s: %d sign-ins%s" % (name, n, " under memcheck"
                                     if valgrind else ""))
    t_start = time.monotonic()
    d = Driver(argv, run.tmp, "driver-" + name, env, STEP_TIMEOUT_S,
               ready_timeout=120)
    if d.pid != d.proc.pid:
        d.stop()
        raise Failure("driver pid %d is not the child's %d" %
                      (d.pid, d.proc.pid))
    rec["t_ready"] = time.monotonic() - t_start
    per = []
    cpu0 = cpu_seconds(d.pid)
    t_loop = time.monotonic()
    try:
        for i in range(1, n + 1):
            ts = time.monotonic()
            r = d.login(run.on_link)
            per.append(time.monotonic() - ts)
            if r["code"] != PAM_SUCCESS or r["phone"] is None:
                raise Failure("%s: sign-in %d: pam_authenticate returned "
                              "%d (links shown: %d); module log:\n  %s" %
                              (name, i, r["code"], r["links"],
                               "\n  ".join(r["logs"])))
            rec["done"] = i
            if i == 1 and not os.listdir(run.cache):
                raise Failure("%s: the first sign-in left the cache empty"
                              % name)
            stopping = False
            if budget_reserve is not None and i < n:
                # Stop early only when the next sign-ins would not fit.
                avg = sum(per[-20:]) / len(per[-20:])
                if run.left() < budget_reserve + avg * 3:
                    log("%s: time budget: stopping after %d sign-ins" %
                        (name, i))
                    stopping = True
            if i in points or stopping:
                smp = {"rss": vm_status(d.pid)}
                if valgrind:
                    smp["heap"] = heap_in_use(a.vgdb, d.pid)
                rec["samples"][i] = smp
            if i % 100 == 0:
                log("%s: %d sign-ins, last 100 took %.1f s, VmRSS %d KiB" %
                    (name, i, sum(per[-100:]), vm_status(d.pid)["VmRSS"]))
            if stopping:
                break
        rec["loop_s"] = time.monotonic() - t_loop
        rec["cpu_s"] = cpu_seconds(d.pid) - cpu0
        rec["per"] = per
        s1 = run.provider.stats()
        rec["prov"] = {k: s1[k] - s0[k] for k in ("discovery", "jwks",
                                                   "token")}
        te = time.monotonic()
        d.quit(EXIT_TIMEOUT_S)
        rec["status"] = d.status
        rec["exit_s"] = time.monotonic() - te
    finally:
        d.stop()
    if valgrind:
        rec["vg"] = read_vglog(d.errpath)
    return rec


def judge(rec):
    """Failures of one phase, and the lines that report it."""
    f, out = rec["failures"], []
    name, done = rec["name"], rec["done"]
    per = sorted(rec.get("per", []))
    head = "%s: %d of %d sign-ins succeeded" % (name, done, rec["asked"])
    if per:
        head += (" in %.1f s (p50 %.3f s, max %.2f s, the first with the "
                 "empty cache %.2f s); CPU %.1f s (%.3f s per sign-in); "
                 "start %.1f s, exit%s %.1f s" % (
                     rec["loop_s"], per[len(per) // 2], per[-1],
                     rec["per"][0], rec["cpu_s"], rec["cpu_s"] / done,
                     rec["t_ready"], " and leak check" if rec["valgrind"]
                     else "", rec["exit_s"]))
    out.append(head)
    if rec.get("preload"):
        out.append("  preloaded: " + " ".join(os.path.basename(p)
                                               for p in rec["preload"]))
    smp = rec["samples"]
    keys = sorted(smp)
    if keys:
        out.append("  VmRSS (KiB) after sign-in " + ", ".join(
            "%d: %d" % (k, smp[k]["rss"]["VmRSS"]) for k in keys) +
            "  (RssAnon " + ", ".join("%d" % smp[k]["rss"].get("RssAnon", -1)
                                      for k in keys) + ")")
    if rec["valgrind"] and keys:
        out.append("  client heap in use (memcheck) after sign-in " +
                   ", ".join("%d: %d bytes in %d blocks" %
                             (k, smp[k]["heap"][0], smp[k]["heap"][1])
                             for k in keys))
    if len(keys) >= 2:
        k0, k1 = keys[0], keys[-1]
        if rec["valgrind"]:
            g = smp[k1]["heap"][0] - smp[k0]["heap"][0]
            out.append("  heap growth from sign-in %d to %d: %+d bytes "
                       "(limit %d)" % (k0, k1, g, HEAP_GROWTH_LIMIT))
            if g >= HEAP_GROWTH_LIMIT:
                f.append("%s: the client heap grew %d bytes from sign-in %d "
                         "to %d" % (name, g, k0, k1))
            rss = [smp[k]["rss"]["VmRSS"] for k in keys]
            out.append("  VmRSS growth from sign-in %d to %d: %+d KiB (from "
                       "%d: %+d KiB): valgrind's own memory, not judged "
                       "(see the docstring)" % (k0, k1, rss[-1] - rss[0],
                                                keys[-2], rss[-1] - rss[-2]))
        else:
            g = smp[k1]["rss"]["VmRSS"] - smp[k0]["rss"]["VmRSS"]
            out.append("  VmRSS growth from sign-in %d to %d: %+d KiB "
                       "(limit %d KiB)" % (k0, k1, g, RSS_GROWTH_LIMIT_KIB))
            if g >= RSS_GROWTH_LIMIT_KIB:
                f.append("%s: memory is not flat: VmRSS grew %d KiB from "
                         "sign-in %d to %d" % (name, g, k0, k1))
    elif done == rec["asked"]:
        f.append("%s: too few samples to judge memory" % name)
    if "prov" in rec:
        p = rec["prov"]
        out.append("  provider saw %d discovery, %d JWKS, %d token requests"
                   % (p["discovery"], p["jwks"], p["token"]))
        if p["discovery"] != 1 or p["jwks"] != 1:
            f.append("%s: %d discovery and %d JWKS fetches (expected one "
                     "each: the first sign-in fills the cache, the others "
                     "use it)" % (name, p["discovery"], p["jwks"]))
        if p["token"] != done:
            f.append("%s: %d token requests for %d sign-ins" %
                     (name, p["token"], done))
    if "status" in rec:
        out.append("  exit status %d" % rec["status"])
        if rec["status"] != 0:
            f.append("%s: the driver exited %d%s" % (
                name, rec["status"], " (99: memcheck errors or definite/"
                "indirect leaks)" if rec["valgrind"] else ""))
    vg = rec.get("vg")
    if vg is not None:
        out.append("  memcheck: ERROR SUMMARY %s errors; at exit %s; %s" % (
            vg["errors"],
            "%d bytes in %d blocks in use" % vg["at_exit"]
            if vg["at_exit"] else "?",
            ", ".join("%s %d bytes" % (k, v[0]) for k, v in
                      vg["lost"].items() if k != "suppressed")
            or ("all heap blocks were freed" if vg["no_leaks"] else
                "no leak summary")))
        if "status" in rec and vg["errors"] != 0:
            f.append("%s: memcheck reported %s errors" % (name, vg["errors"]))
        for kind in ("definitely lost", "indirectly lost"):
            if vg["lost"].get(kind, (0, 0))[0] != 0:
                f.append("%s: %s %d bytes in %d blocks" %
                         ((name, kind) + vg["lost"][kind]))
        extra = [x for x in vg["fds"] if x[0] > 2]
        out.append("  descriptors open at exit: %s%s" % (
            vg["fds_open"] if vg["fds_open"] is not None else "?",
            " (stdin, stdout, stderr)" if vg["fds_open"] == 3 and not extra
            else ""))
        if "status" in rec and vg["fds_open"] is None:
            f.append("%s: valgrind's report has no FILE DESCRIPTORS line" %
                     name)
        if extra:
            f.append("%s: %d descriptors left open at exit: %s%s" % (
                name, len(extra), ", ".join("%d (%s)" % x
                                            for x in extra[:8]),
                ", ..." if len(extra) > 8 else ""))
    return out


# ------------------------------------------------------------ main

SKIP = 77  # ctest's SKIP_RETURN_CODE (CMakeLists.txt)


def cannot_run(a, phases):
    """Why this test cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (the module refuses files root does not own)"
    if {"reload", "pinned"} & set(phases):
        for tool in (a.valgrind, a.vgdb):
            if not shutil.which(tool):
                return ("%s is not installed (scripts/deps.sh installs "
                        "valgrind)" % tool)
        if has_asan(a.module):
            return "the module is built with AddressSanitizer"
    return provider_missing(a.provider_dir)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--logins", type=int, default=1000,
                    help="sign-ins of the native and pinned phases "
                    "(default 1000)")
    ap.add_argument("--reload-logins", type=int, default=100,
                    help="sign-ins of the reload phase (default 100)")
    ap.add_argument("--min-logins", type=int, default=300,
                    help="fail when the time budget lets the pinned phase "
                    "run fewer (default 300)")
    ap.add_argument("--time-budget", type=float, default=480.0,
                    help="seconds for the whole run, leak checks included "
                    "(default 480)")
    ap.add_argument("--phases", default="native,reload,pinned",
                    help="comma-separated subset of native,reload,pinned")
    ap.add_argument("--module", default=env_path(
        "PAM_ION_MODULE", BIN["module"]))
    ap.add_argument("--relay", default=env_path("RELAY_BIN", BIN["relay"]))
    ap.add_argument("--driver", default=env_path(
        "DRIVER", BIN["bench_drive"]))
    ap.add_argument("--provider-dir", default=env_path(
        "PROVIDER_DIR", PROVIDER_DIR))
    ap.add_argument("--valgrind", default=os.environ.get("VALGRIND") or
                    shutil.which("valgrind") or "valgrind")
    ap.add_argument("--vgdb", default=os.environ.get("VGDB") or
                    shutil.which("vgdb") or "vgdb")
    ap.add_argument("--valgrind-option", action="append", default=[],
                    metavar="OPT", help="one more valgrind option, e.g. "
                    "--gen-suppressions=all; repeatable")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory (reports, config)")
    a = ap.parse_args()
    phases = [p for p in a.phases.split(",") if p]
    if set(phases) - {"native", "reload", "pinned"} or not phases:
        ap.error("--phases: a subset of native,reload,pinned")
    if a.logins < 10 or a.reload_logins < 10:
        ap.error("at least 10 sign-ins per phase (memory is sampled)")

    for p in (a.module, a.relay, a.driver, SUPP):
        if not os.path.exists(p):
            sys.exit("valgrind.logins: %s is missing; build first" % p)
    why = cannot_run(a, phases)
    if why:
        print("valgrind.logins: SKIPPED: %s" % why)
        return SKIP
    import phone  # tests/provider/phone.py, on the stand's path

    tmp = tempfile.mkdtemp(prefix="pam-ion-valgrind.")
    os.chmod(tmp, 0o755)
    records, failures = [], []
    t0 = time.monotonic()
    try:
        rport = free_port()
        relay_url = "http://127.0.0.1:%d" % rport
        # An hour of Cache-Control: no cache entry expires during the run.
        provider = Provider(
            tmp, CLIENT_ID, CLIENT_SECRET, relay_url + "/callback",
            [ACCOUNT], ["--auto-consent",
                        "--cache-control", "public, max-age=3600"],
            provider_dir=a.provider_dir, start_timeout=30)
        # Its --client-keys file holds this host's key.
        relay = Relay(a.relay, tmp, rport,
                      provider.issuer + "/oauth2/authorize",
                      clients=(RELAY_CLIENT,))
        confdir, cache = write_config(tmp, os.path.abspath(a.module),
                                      provider.issuer, relay_url, relay.key)
        log("provider %s, relay %s, files in %s" % (provider.issuer,
                                                    relay_url, tmp))
        run = Run(a, tmp, provider, relay, confdir, cache, phone)
        run.t0 = t0
        for name in phases:
            if name == "native":
                rec = run_phase(run, name, a.logins, False)
            elif name == "reload":
                rec = run_phase(run, name, a.reload_logins, True)
            else:
                # Whatever comes after this phase needs its time too.
                rest = phases[phases.index(name) + 1:]
                reserve = 60 + (30 if "native" in rest else 0) + \
                    (120 if "reload" in rest else 0)
                rec = run_phase(run, name, a.logins, True,
                                preload=module_libraries(a.module, a.driver),
                                budget_reserve=reserve)
                if rec["done"] < a.min_logins:
                    rec["failures"].append(
                        "pinned: only %d sign-ins ran (the time budget of "
                        "%.0f s ran out), fewer than --min-logins %d" %
                        (rec["done"], a.time_budget, a.min_logins))
            records.append(rec)
    except (Failure, phone.PhoneError, OSError) as e:
        failures.append(str(e))
        for name in ["provider.log", "relay.log"] + sorted(
                n for n in os.listdir(tmp) if n.startswith("driver-")):
            log("--- %s (tail)\n%s" % (name, tail(os.path.join(tmp, name))))
    finally:
        stop_all()

    for rec in records:
        for line in judge(rec):
            print(line)
        if rec["name"] == "pinned" and rec["done"] < rec["asked"]:
            print("  NOTE: %d sign-ins, not the %d asked: the time budget "
                  "(%.0f s) ran out" % (rec["done"], rec["asked"],
                                        a.time_budget))
        if rec["failures"] and rec.get("vg"):
            log("--- memcheck's report of phase %s (all of it in "
                "driver-%s.log)\n%s" % (rec["name"], rec["name"],
                                           vg_records(rec["vg"])))
            log("Frames in pam_ion.so show as ??? when libpam had unloaded "
                "it by the time of the report: for file and line, run again "
                "with fewer sign-ins and valgrind's --keep-debuginfo=yes, "
                "e.g. test_valgrind.py --phases %s -n 50 --reload-logins 10 "
                "--min-logins 1 --valgrind-option=--keep-debuginfo=yes "
                "(it costs ~1 MB of valgrind's memory per sign-in)" %
                rec["name"])
        failures += rec["failures"]
    print("whole run: %.1f s" % (time.monotonic() - t0))
    if a.keep or failures:
        log("kept %s" % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    for f in failures:
        print("FAILED: %s" % f)
    if not failures:
        print("PASSED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
