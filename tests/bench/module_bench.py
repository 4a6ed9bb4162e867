#!/usr/bin/env python3
"""module_bench: benchmark of the pam_ion module through the real libpam.

Starts the stand-in provider (tests/provider/provider.js) and a relay
(pam-ion-relay) on 127.0.0.1, writes a pam_ion configuration in a private
directory (prompt = auto, confirm = no, debug = yes; relay_key_file with the
key of the relay's --client-keys file; a local login on the console, no
PAM_RHOST and PAM_TTY /dev/tty1, as confirm = no is honoured only there),
and runs sign-ins with
module_bench_drive (PAM transactions in one process, timed and CPU-accounted)
as the terminal and a scripted phone (tests/provider/phone.py) as the person.
Prints one table; see tests/bench/README.md, "pam_ion module benchmark".

Phases (all on loopback, every wait bounded, --time-limit overall):
  baseline  the same driver with a pam_permit.so stack: CPU of libpam and
            the driver alone, in one process and in fresh processes
  cold      N sign-ins in one process, the cache directory emptied before
            each (discovery and JWKS fetched every time)
  warm      N sign-ins in the same process, cache kept
  fresh     K sign-ins, each in a new driver process, cache warm (what a
            forking server pays: the module and libcurl are loaded for
            every connection)
  sshd      as fresh, with the shared libraries /usr/sbin/sshd links
            (ldd) preloaded, as they are in sshd's per-connection process:
            libcrypto, krb5/GSSAPI, zlib ... are then not the module's cost

Python 3 standard library only.  Needs root (the module refuses files root
does not own), `npm ci` in tests/provider, and a build with pam_ion.so,
pam-ion-relay and tests/bench/module_bench_drive.
"""
import argparse
import math
import os
import re
import shlex
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
from stand.build import (BUILD, PROVIDER_DIR, ldd,  # noqa: E402
                         provider_missing)
from stand.daemons import Provider, Relay  # noqa: E402
from stand.drive import Driver  # noqa: E402
from stand.files import (ModuleFiles, empty_dir, module_line,  # noqa: E402
                         write_pam_dir)
from stand.proc import StandError, free_port, stop_all, tail  # noqa: E402
import phone  # noqa: E402  (tests/provider/phone.py, on the stand's path)

CLIENT_ID = "pam-bench"
RELAY_CLIENT = "bench"  # this host's name in the relay's keys file
CLIENT_SECRET = "bench-s3cret-Qm7vX2kP9w"
ACCOUNT = "alice:alice@example.org:true:Alice Example"
LOCAL_USER = "root"
LOCAL_TTY = "/dev/tty1"  # a virtual console: confirm = no is honoured
SERVICE = "ion-bench"
PERMIT_SERVICE = "permit-bench"
LOGIN_TIMEOUT_S = 30  # the module gives up by itself after this
STEP_TIMEOUT_S = 40.0  # any one wait of the bench
DEBUG_RE = re.compile(r"(\d+) HTTP requests, (\d+) us to the QR code")
TOKEN_LOG_RE = re.compile(r"POST /oauth2/token -> (\d+) \((\d+) ms\)")
PERMIT_SO = "pam_permit.so"

# What this runner raises and what the stand raises are reported alike.
BenchError = StandError


def log(*msg):
    print("module_bench:", *msg, file=sys.stderr, flush=True)


class Clock:
    """The overall time limit."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self, cap=STEP_TIMEOUT_S):
        left = self.end - time.monotonic()
        if left <= 0:
            raise BenchError("--time-limit reached")
        return min(left, cap)


CLOCK = None


# ------------------------------------------------------------ setup

def write_config(tmp, module, issuer, relay_url, relay_key):
    """pam.d directory with the pam_ion and pam_permit services."""
    files = ModuleFiles(tmp, issuer, CLIENT_ID, CLIENT_SECRET, relay_url,
                        relay_key, "alice@example.org %s\n" % LOCAL_USER, {
                            "prompt": "auto",
                            "confirm": "no",
                            "login_timeout": str(LOGIN_TIMEOUT_S),
                            "debug": "yes"},
                        comment="# written by tests/bench/module_bench.py")
    # libpam reads "other" as the default stack; empty: nothing loaded.
    confdir = write_pam_dir(os.path.join(tmp, "pam.d"), {
        SERVICE: module_line(module, files.conf),
        PERMIT_SERVICE: "auth required %s\n" % PERMIT_SO,
        "other": ""})
    return confdir, files.cache_dir


def sshd_libraries(sshd="/usr/sbin/sshd"):
    """The shared libraries sshd links (ldd), or None without sshd."""
    if not os.access(sshd, os.X_OK) or shutil.which("ldd") is None:
        return None
    return [p for p in ldd(sshd).values()
            if p and "/libc.so" not in p] or None


# ------------------------------------------------------------ the driver

def start_driver(binary, confdir, service, logdir, tag, wrap=None,
                 preload=None):
    """One module_bench_drive process, its stderr in logdir/drive-TAG.log."""
    # No RHOST, PAM_TTY the console: a local login, the only kind for
    # which confirm = no is honoured.
    argv = [binary, confdir, service, LOCAL_USER, "", LOCAL_TTY]
    if wrap:
        argv = shlex.split(wrap) + argv
    env = dict(os.environ)
    if preload:
        env["LD_PRELOAD"] = ":".join(preload)
    return Driver(argv, logdir, "drive-" + tag, env, timeout=CLOCK.left)


# ------------------------------------------------------------ the phone

class BenchPhone(phone.Phone):
    """phone.py's flow, stopping before the provider's last redirect: the
    callback URL is returned, so the bench can time that request itself."""

    def _callback(self, url, iss_override, drop_iss):
        return ("CALLBACK", url)


def play_phone(link):
    """Signs in on link; returns (t_callback_ns, t_answer_ns)."""
    p = BenchPhone()
    got = p.sign_in(link, "alice")
    if not (isinstance(got, tuple) and got[0] == "CALLBACK"):
        raise BenchError("phone: did not reach the callback: %r" % (got,))
    t_cb = time.monotonic_ns()  # CLOCK_MONOTONIC, as the driver's
    status, _, body = p.fetch(got[1])
    t_answer = time.monotonic_ns()
    if status != 200 or "terminal" not in body.lower():
        raise BenchError("the relay's callback answered %d: %s" %
                         (status, body[:200]))
    return t_cb, t_answer


# ------------------------------------------------------------ one sign-in

STAT_KEYS = ("discovery", "jwks", "token", "userinfo", "authorize",
             "interaction")
RELAY_KEYS = ("pam_ion_relay_registrations_total",
              "pam_ion_relay_results_delivered_total",
              "pam_ion_relay_polls_timed_out_total",
              "pam_ion_relay_callbacks_total")


def sign_in(driver, provider, relay):
    s0, m0 = provider.stats(), relay.metrics()
    provider.new_log_lines()
    r = driver.login(on_link=play_phone)
    s1, m1 = provider.stats(), relay.metrics()
    if r["code"] != 0:
        raise BenchError("pam_authenticate returned %d; module log:\n  %s" %
                         (r["code"], "\n  ".join(r["logs"])))
    if r["phone"] is None or r["t_msg"] == 0:
        raise BenchError("no link was shown")
    t_cb, t_answer = r["phone"]
    sample = {
        "ttqr": (r["t_msg"] - r["t_auth"]) / 1e6,
        "cb_ret": (r["t_auth_end"] - t_cb) / 1e6,
        "cb_answer": (t_answer - t_cb) / 1e6,
        "cpu": (r["c_end"] - r["c_start"]) / 1e6,
        "cpu_start": (r["c_auth"] - r["c_start"]) / 1e6,
        "cpu_qr": (r["c_msg"] - r["c_auth"]) / 1e6,
        "cpu_after": (r["c_auth_end"] - r["c_msg"]) / 1e6,
        "cpu_end": (r["c_end"] - r["c_auth_end"]) / 1e6,
        "ru_user": r["ru_user_us"] / 1e3,
        "ru_sys": r["ru_sys_us"] / 1e3,
        "wall": (r["t_end"] - r["t_start"]) / 1e6,
        "prov": {k: s1[k] - s0[k] for k in STAT_KEYS},
        "relay": {k: m1.get(k, 0) - m0.get(k, 0) for k in RELAY_KEYS},
        "http": None, "mod_ttqr": None, "token_ms": None,
    }
    for text in r["logs"]:
        m = DEBUG_RE.search(text)
        if m:
            sample["http"] = int(m.group(1))
            sample["mod_ttqr"] = int(m.group(2)) / 1e3
    for line in provider.new_log_lines():
        m = TOKEN_LOG_RE.search(line)
        if m and m.group(1) == "200":
            sample["token_ms"] = float(m.group(2))
    if sample["http"] is None:
        raise BenchError("no debug line from the module; its log:\n  " +
                         "\n  ".join(r["logs"]))
    return sample


# ------------------------------------------------------------ statistics

def pct(xs, p):
    """Nearest-rank percentile (for 50 samples, p99 is the largest)."""
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    return xs[max(0, math.ceil(p / 100.0 * len(xs)) - 1)]


def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def f(v, prec=1):
    return "-" if v is None else "%.*f" % (prec, v)


def col(samples, key, fmt="p50/p99/max", prec=1):
    if not samples:
        return "-"
    xs = [s[key] for s in samples]
    if fmt == "p50/p99/max":
        return "%s / %s / %s" % (f(pct(xs, 50), prec), f(pct(xs, 99), prec),
                                 f(max(x for x in xs if x is not None),
                                   prec) if any(x is not None for x in xs)
                                 else "-")
    if fmt == "p50/p99":
        return "%s / %s" % (f(pct(xs, 50), prec), f(pct(xs, 99), prec))
    if fmt == "p50":
        return f(pct(xs, 50), prec)
    if fmt == "mean":
        return f(mean(xs), prec)
    raise ValueError(fmt)


def print_table(cols, extra_rows):
    """cols: [(title, samples)]; extra_rows: [(label, [cell per col])]."""
    w0, w = 52, 21
    print("| %-*s |" % (w0, "sign-ins, prompt = auto, confirm = no") +
          "".join(" %*s |" % (w, t) for t, _ in cols))
    print("|" + "-" * (w0 + 2) + "|" + "".join("-" * (w + 1) + ":|"
                                              for _ in cols))

    def row(label, cells):
        print("| %-*s |" % (w0, label) +
              "".join(" %*s |" % (w, c) for c in cells))

    def rows(label, fn):
        row(label, [fn(s) if s else "-" for _, s in cols])

    rows("sign-ins (all succeeded)", lambda s: str(len(s)))
    rows("time to QR p50 / p99 / max (ms)",
         lambda s: col(s, "ttqr", prec=2))
    rows("  module's own time to QR p50 (ms, debug log)",
         lambda s: col(s, "mod_ttqr", "p50", 2))
    rows("callback -> pam_authenticate return p50/p99/max (ms)",
         lambda s: col(s, "cb_ret", prec=2))
    rows("  token endpoint inside the provider p50 (ms)",
         lambda s: col(s, "token_ms", "p50", 0))
    rows("  relay's answer to the callback p50 (ms)",
         lambda s: col(s, "cb_answer", "p50", 2))
    rows("CPU per sign-in, pam_start..pam_end p50/p99 (ms)",
         lambda s: col(s, "cpu", "p50/p99", 2))
    rows("  user / sys, mean (ms, getrusage)",
         lambda s: "%s / %s" % (col(s, "ru_user", "mean", 2),
                                col(s, "ru_sys", "mean", 2)))
    rows("  in pam_start (loading the module) p50 (ms)",
         lambda s: col(s, "cpu_start", "p50", 2))
    rows("  pam_authenticate up to the QR p50 (ms)",
         lambda s: col(s, "cpu_qr", "p50", 2))
    rows("  QR to pam_authenticate return p50 (ms)",
         lambda s: col(s, "cpu_after", "p50", 2))
    rows("  in pam_end p50 (ms)", lambda s: col(s, "cpu_end", "p50", 2))
    for label, cells in extra_rows:
        row(label, cells)
    rows("HTTP requests by the module per sign-in (min-max)",
         lambda s: "%d-%d" % (min(x["http"] for x in s),
                              max(x["http"] for x in s)))

    def per(key, where="prov"):
        return lambda s: str(sum(x[where][key] for x in s))
    rows("  discovery fetches (total, provider)", per("discovery"))
    rows("  JWKS fetches (total, provider)", per("jwks"))
    rows("  token / userinfo requests (total, provider)",
         lambda s: "%d / %d" % (sum(x["prov"]["token"] for x in s),
                                sum(x["prov"]["userinfo"] for x in s)))
    rows("  relay registrations / polls answered (total)",
         lambda s: "%d / %d" % (
             sum(x["relay"]["pam_ion_relay_registrations_total"] for x in s),
             sum(x["relay"]["pam_ion_relay_results_delivered_total"] +
                 x["relay"]["pam_ion_relay_polls_timed_out_total"]
                 for x in s)))
    print()


# ------------------------------------------------------------ main

def main():
    global CLOCK
    build = os.environ.get("BUILD_DIR") or BUILD
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--logins", type=int, default=50,
                    help="sign-ins per phase, cold and warm (default 50)")
    ap.add_argument("-k", "--fresh", type=int, default=10,
                    help="sign-ins in fresh processes (default 10)")
    ap.add_argument("--phases", default="baseline,cold,warm,fresh,sshd",
                    help="comma-separated subset of "
                    "baseline,cold,warm,fresh,sshd")
    ap.add_argument("--module", default=os.path.join(build, "pam_ion.so"))
    ap.add_argument("--relay", default=os.path.join(
        build, "src", "relay", "pam-ion-relay"))
    ap.add_argument("--driver", default=os.path.join(
        build, "tests", "bench", "module_bench_drive"))
    ap.add_argument("--cache-control", default="public, max-age=3600",
                    help="Cache-Control of the provider's discovery and "
                    "JWKS (default: an hour, so the warm phase never sees "
                    "an entry expire)")
    ap.add_argument("--wrap", default=None,
                    help="command prefix for every pam_ion driver process "
                    "(not the baseline's), e.g. 'strace -ff -o PREFIX' or "
                    "'perf record -g -o FILE' (with --phases to pick one)")
    ap.add_argument("--logdir", default=None)
    ap.add_argument("--time-limit", type=float, default=300.0)
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory (config, cache)")
    a = ap.parse_args()
    CLOCK = Clock(a.time_limit)
    phases = set(a.phases.split(","))
    if phases - {"baseline", "cold", "warm", "fresh", "sshd"}:
        ap.error("unknown phase in --phases")
    if not 1 <= a.logins <= 1000 or not 0 <= a.fresh <= 100:
        ap.error("--logins 1..1000, --fresh 0..100")
    if os.geteuid() != 0:
        sys.exit("module_bench: needs root (the module refuses files root "
                 "does not own)")
    for p in (a.module, a.relay, a.driver):
        if not os.path.exists(p):
            sys.exit("module_bench: %s is missing; build first" % p)
    why = provider_missing(PROVIDER_DIR)
    if why:
        sys.exit("module_bench: " + why)

    tmp = tempfile.mkdtemp(prefix="module-bench.")
    logdir = a.logdir or tmp
    os.makedirs(logdir, exist_ok=True)
    module = os.path.abspath(a.module)
    results = {}
    failed = []
    try:
        rport = free_port()
        relay_url = "http://127.0.0.1:%d" % rport
        provider = Provider(
            logdir, CLIENT_ID, CLIENT_SECRET, relay_url + "/callback",
            [ACCOUNT], ["--auto-consent", "--cache-control", a.cache_control],
            start_timeout=CLOCK.left())
        # Its --client-keys file holds this host's key.
        relay = Relay(a.relay, logdir, rport,
                      provider.issuer + "/oauth2/authorize",
                      clients=(RELAY_CLIENT,), start_timeout=10)
        confdir, cache = write_config(tmp, module, provider.issuer,
                                      relay_url, relay.key)
        log("provider %s, relay %s, logs in %s" % (provider.issuer,
                                                   relay_url, logdir))

        if "baseline" in phases:
            d = start_driver(a.driver, confdir, PERMIT_SERVICE, logdir, "permit")
            d.login()  # first transaction: loads pam_permit.so once
            base = [d.login() for _ in range(a.logins)]
            d.quit(CLOCK.left())
            results["permit_cpu"] = [(r["c_end"] - r["c_start"]) / 1e6
                                     for r in base]
            procs = []
            for i in range(max(a.fresh, 3)):
                d = start_driver(a.driver, confdir, PERMIT_SERVICE, logdir,
                           "permit-fresh")
                d.login()
                procs.append(d.quit(CLOCK.left())["cpu_ns"] / 1e6)
            results["permit_proc"] = procs

        if phases & {"cold", "warm"}:
            d = start_driver(a.driver, confdir, SERVICE, logdir, "module",
                       wrap=a.wrap)
            empty_dir(cache)
            results["first"] = sign_in(d, provider, relay)
            if "cold" in phases:
                cold = []
                for i in range(a.logins):
                    empty_dir(cache)
                    cold.append(sign_in(d, provider, relay))
                results["cold"] = cold
            if "warm" in phases:
                sign_in(d, provider, relay)  # fills the cache if need be
                results["warm"] = [sign_in(d, provider, relay)
                                   for _ in range(a.logins)]
            results["module_exit"] = d.quit(CLOCK.left())

        preload = sshd_libraries() if "sshd" in phases else None
        if "sshd" in phases and preload is None:
            log("no /usr/sbin/sshd here: phase sshd skipped")
        for phase, pre in (("fresh", None), ("sshd", preload)):
            if phase not in phases or a.fresh == 0 or \
                    (phase == "sshd" and pre is None):
                continue
            if not os.listdir(cache):
                d = start_driver(a.driver, confdir, SERVICE, logdir, "fill")
                sign_in(d, provider, relay)
                d.quit(CLOCK.left())
            fresh = []
            for i in range(a.fresh):
                d = start_driver(a.driver, confdir, SERVICE, logdir, phase,
                           wrap=a.wrap, preload=pre)
                s = sign_in(d, provider, relay)
                s["proc_cpu"] = d.quit(CLOCK.left())["cpu_ns"] / 1e6
                fresh.append(s)
            results[phase] = fresh
        if preload:
            results["preload"] = preload
    except (BenchError, phone.PhoneError, OSError, ValueError) as e:
        failed.append(str(e))
        for name in ("provider.log", "relay.log"):
            log("--- %s (tail)\n%s" % (name, tail(os.path.join(logdir,
                                                               name))))
    finally:
        stop_all()
        if a.keep or failed:
            log("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    report(a, results, failed)
    return 1 if failed or results.get("verdict_failed") else 0


def report(a, res, failed):
    cold, warm = res.get("cold"), res.get("warm")
    fresh, sshd = res.get("fresh"), res.get("sshd")
    cols = [("cold cache", cold or []), ("warm cache", warm or []),
            ("warm, fresh process", fresh or []),
            ("fresh, sshd's libs", sshd or [])]
    permit_proc = pct(res.get("permit_proc", []), 50)
    extra = []
    if fresh and permit_proc is not None:
        d = [s["proc_cpu"] - permit_proc for s in fresh]
        extra.append(("whole process CPU minus pam_permit's p50/p99 (ms)",
                      ["-", "-", "%s / %s" % (f(pct(d, 50), 2),
                                              f(pct(d, 99), 2)), "-"]))
    if any(c for _, c in cols):
        print_table(cols, extra)
    if "permit_cpu" in res:
        print("baseline, pam_permit.so stack in the same driver: CPU per "
              "transaction p50 %s ms, p99 %s ms; whole fresh process p50 "
              "%s ms" % (f(pct(res["permit_cpu"], 50), 3),
                         f(pct(res["permit_cpu"], 99), 3),
                         f(permit_proc, 2)))
    if "first" in res:
        s = res["first"]
        print("first sign-in of the cold/warm process (cache cold, not in "
              "the table): time to QR %.2f ms, CPU %.2f ms (pam_start %.2f)"
              % (s["ttqr"], s["cpu"], s["cpu_start"]))
    if "module_exit" in res:
        e = res["module_exit"]
        print("cold/warm driver process at exit: CPU %.1f ms, max RSS %d KiB"
              % (e["cpu_ns"] / 1e6, e["maxrss_kb"]))
    if "preload" in res:
        print("sshd's libraries preloaded: %s" % " ".join(
            os.path.basename(p) for p in res["preload"]))
    # Consistency: the module's own count against the servers' counters.
    everything = (cold or []) + (warm or []) + (fresh or []) + (sshd or [])
    mism = 0
    for s in everything:
        seen = (sum(s["prov"][k] for k in ("discovery", "jwks", "token",
                                           "userinfo")) +
                s["relay"]["pam_ion_relay_registrations_total"] +
                s["relay"]["pam_ion_relay_results_delivered_total"] +
                s["relay"]["pam_ion_relay_polls_timed_out_total"])
        mism += seen != s["http"]
    if everything:
        print("module's request count = provider + relay counters: %s" %
              ("yes, every sign-in" if mism == 0 else
               "NO for %d sign-ins (a poll may have ended 404 or the "
               "counters raced)" % mism))
    print()

    verdicts = []

    def p(samples, key, q):
        return pct([x[key] for x in samples], q)
    if warm:
        verdicts.append(("time to QR, warm <= 50 ms",
                         "p50 %.2f, p99 %.2f ms" % (p(warm, "ttqr", 50),
                                                    p(warm, "ttqr", 99)),
                         p(warm, "ttqr", 99) <= 50))
        verdicts.append(("callback -> return p50 <= 60 ms (warm)",
                         "p50 %.2f ms (p99 %.2f)" % (
                             p(warm, "cb_ret", 50), p(warm, "cb_ret", 99)),
                         p(warm, "cb_ret", 50) <= 60))
    for name, samples in (("warm, one process", warm),
                          ("fresh process", fresh),
                          ("fresh, sshd's libs", sshd)):
        if samples:
            verdicts.append(("CPU per sign-in <= 10 ms (%s)" % name,
                             "p50 %.2f ms (p99 %.2f)" % (
                                 p(samples, "cpu", 50),
                                 p(samples, "cpu", 99)),
                             p(samples, "cpu", 50) <= 10))
    for name, samples in (("warm", warm), ("fresh processes", fresh),
                          ("sshd's libs", sshd)):
        if samples:
            n = sum(x["prov"]["discovery"] + x["prov"]["jwks"]
                    for x in samples)
            verdicts.append(("zero discovery/JWKS fetches when warm (%s)"
                             % name, "%d in %d sign-ins" % (n, len(samples)),
                             n == 0))
    if cold:
        n = [x["prov"]["discovery"] + x["prov"]["jwks"] for x in cold]
        verdicts.append(("cold: discovery and JWKS fetched once each",
                         "%d-%d fetches per sign-in" % (min(n), max(n)),
                         min(n) == max(n) == 2))
    if verdicts:
        print("| target | measured | verdict |")
        print("|---|---|---|")
        for what, got, ok in verdicts:
            print("| %s | %s | %s |" % (what, got, "met" if ok
                                        else "**not met**"))
        print()
    res["verdict_failed"] = any(not ok for what, got, ok in verdicts
                                if what.startswith("zero"))
    for e in failed:
        print("FAILED: %s" % e)


if __name__ == "__main__":
    sys.exit(main())
