"""Where things are, and what a built binary is made of."""

import os
import re
import shutil
import subprocess
import sys

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.dirname(TESTS)
BUILD = os.path.join(SRC, "build")
PROVIDER_DIR = os.path.join(TESTS, "provider")

# The scripted phone (tests/provider/phone.py) for every harness.
if PROVIDER_DIR not in sys.path:
    sys.path.insert(0, PROVIDER_DIR)


def env_path(name, default):
    """The absolute path the environment variable name gives, else
    default's."""
    return os.path.abspath(os.environ.get(name) or default)


def default_paths():
    """name -> where the in-tree build/ has it: module, relay, pamdrive,
    bench_drive."""
    return {
        "module": os.path.join(BUILD, "pam_ion.so"),
        "relay": os.path.join(BUILD, "src", "relay", "pam-ion-relay"),
        "pamdrive": os.path.join(BUILD, "tests", "module", "pamdrive"),
        "bench_drive": os.path.join(BUILD, "tests", "bench",
                                    "module_bench_drive"),
    }


def provider_missing(provider_dir=PROVIDER_DIR):
    """Why the stand-in provider cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not os.path.isdir(os.path.join(provider_dir, "node_modules",
                                      "oidc-provider")):
        return "run 'npm ci' in %s first" % provider_dir
    return None


def has_asan(path):
    """True when the binary has AddressSanitizer in it (__asan_init)."""
    try:
        out = subprocess.run(["nm", "-D", path], capture_output=True,
                             text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "__asan_init" in out


def compiler_file(cc, name):
    """Where the compiler cc keeps a runtime library (-print-file-name), or
    None."""
    try:
        p = subprocess.run([cc, "-print-file-name=" + name],
                           capture_output=True, text=True,
                           timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p if os.path.isabs(p) and os.path.exists(p) else None


def ldd(path):
    """The shared libraries path links, as ldd resolves them: name -> full
    path, or None for one ldd reports "not found"."""
    out = subprocess.run(["ldd", path], capture_output=True, text=True,
                         timeout=30).stdout
    libs = {}
    for m in re.finditer(r"^\s*(\S+) => (?:(/\S+) \(|not found)", out, re.M):
        libs[m.group(1)] = m.group(2)
    return libs
