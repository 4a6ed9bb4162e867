"""One real sign-in through PAM: starts the stand-in provider and the relay
on loopback, writes a pam_ion configuration in a private directory, and runs
pam_authenticate (tests/module/pamdrive) with this terminal as the
conversation.  With --auto, a scripted phone (tests/provider/phone.py) opens
the link, signs in as alice and types the confirmation code.

    demo-signin.py BUILD [--auto] [--client-keys FILE --relay-key-file FILE]

The relay runs with --client-keys FILE and the module with relay_key_file
(scripts/demo.sh makes both with pam-ion-relay --new-client-key); without
them this script makes a key the same way."""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "provider"))
import phone  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_line(proc, pattern, what, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.readline()
        if not line:
            time.sleep(0.05)
            continue
        m = re.search(pattern, line)
        if m:
            return m
    sys.exit("demo: %s did not start" % what)


def new_client_key(build, tmp):
    """(keys file, key file) from pam-ion-relay --new-client-key."""
    out = subprocess.run(
        [os.path.join(build, "src/relay/pam-ion-relay"), "--new-client-key",
         "demo-host"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    if len(out) != 2:
        sys.exit("demo: pam-ion-relay --new-client-key printed %d lines"
                 % len(out))
    keys = os.path.join(tmp, "client-keys")
    key = os.path.join(tmp, "relay_key")
    for path, text in ((keys, out[0]), (key, out[1])):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text + "\n")
    return keys, key


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build")
    ap.add_argument("mode", nargs="?", default="",
                    help="--auto: a scripted phone signs in")
    ap.add_argument("--client-keys", help="the relay's keys file")
    ap.add_argument("--relay-key-file", help="the module's relay key")
    a, rest = ap.parse_known_args()
    build = a.build
    auto = a.mode == "--auto" or "--auto" in rest
    if bool(a.client_keys) != bool(a.relay_key_file):
        sys.exit("demo: --client-keys and --relay-key-file go together")
    tmp = tempfile.mkdtemp(prefix="pam_ion-demo.")
    procs = []
    try:
        if a.client_keys:
            keys_file, key_file = a.client_keys, a.relay_key_file
        else:
            keys_file, key_file = new_client_key(build, tmp)
        rport = free_port()
        relay_url = "http://127.0.0.1:%d" % rport
        prov = subprocess.Popen(
            ["node", os.path.join(ROOT, "tests/provider/provider.js"),
             "--port", "0", "--issuer-host", "127.0.0.1",
             "--client", "pam-demo:demo-s3cret:%s/callback" % relay_url,
             "--account", "alice:alice@example.org:true:Alice Example"],
            stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "provider.log"), "w"),
            text=True)
        procs.append(prov)
        issuer = wait_line(prov.stdout, r"listening on (http://\S+)",
                           "the provider").group(1)
        relay_log = open(os.path.join(tmp, "relay.log"), "w")
        relay = subprocess.Popen(
            [os.path.join(build, "src/relay/pam-ion-relay"),
             "--listen", "127.0.0.1:%d" % rport, "--public-url", relay_url,
             "--authorize-url-prefix", issuer + "/oauth2/authorize",
             "--client-keys", keys_file],
            stderr=relay_log)
        procs.append(relay)
        time.sleep(0.3)

        def private(path, text, mode):
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, mode)
            return path

        secret = private(os.path.join(tmp, "secret"), "demo-s3cret\n", 0o600)
        users = private(os.path.join(tmp, "users"),
                        "alice@example.org %s\n" % os.environ.get("USER", "root"),
                        0o644)
        cache = os.path.join(tmp, "cache")
        os.mkdir(cache, 0o700)
        conf = private(os.path.join(tmp, "pam_ion.conf"), "\n".join([
            "issuer = " + issuer, "client_id = pam-demo",
            "client_secret_file = " + secret, "relay_url = " + relay_url,
            "relay_key_file = " + os.path.abspath(key_file),
            "user_map_file = " + users, "cache_dir = " + cache, ""]), 0o644)
        os.mkdir(os.path.join(tmp, "pam.d"))
        private(os.path.join(tmp, "pam.d", "pam_ion-demo"),
                "auth required %s config=%s\n" % (
                    os.path.abspath(os.path.join(build, "pam_ion.so")), conf),
                0o644)
        user = os.environ.get("USER", "root")
        print("provider %s, relay %s; signing in as %s through PAM\n" %
              (issuer, relay_url, user))
        drive = subprocess.Popen(
            [os.path.join(build, "tests/module/pamdrive"),
             os.path.join(tmp, "pam.d"), "pam_ion-demo", user, "127.0.0.1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(drive)
        link, code = None, 0
        for line in drive.stdout:
            tag, _, text = line.rstrip("\n").partition(" ")
            text = text.replace("\\n", "\n").replace("\\\\", "\\")
            if tag in ("INFO", "ERROR"):
                print(text)
                m = re.search(r"(https?://\S+/l/[A-Za-z0-9_-]{11})", text)
                link = m.group(1) if m else link
            elif tag == "PROMPT":
                if auto:
                    print(text, end="", flush=True)
                    answer = phone.sign_in(link, "alice")
                    print(answer, "   (typed by the scripted phone)")
                else:
                    print("\n(Open the link, sign in as 'alice' with any "
                          "password, then type the code shown.)")
                    answer = input(text)
                drive.stdin.write(answer + "\n")
                drive.stdin.flush()
            elif tag == "RESULT":
                print("\npam_authenticate:", text)
                code = int(text.split()[0])
            elif tag == "USER":
                print("PAM_USER:", text)
        drive.wait()
        return 0 if code == 0 else 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
