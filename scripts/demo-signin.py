"""One real sign-in through PAM: starts the stand-in provider and the relay
on loopback, writes a pam_ion configuration in a private directory, and runs
pam_authenticate (tests/module/pamdrive) with this terminal as the
conversation.  With --auto, a scripted phone (tests/provider/phone.py) opens
the link, signs in as alice and types the confirmation code.

    demo-signin.py BUILD [--auto] [--client-keys FILE --relay-key-file FILE]

The relay runs with --client-keys FILE and the module with a copy of the
key in --relay-key-file (scripts/demo.sh makes both with pam-ion-relay
--new-client-key); without them this script makes a key the same way.
The provider, the relay and the files come from the test stand
(tests/stand)."""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from stand.daemons import Provider, Relay  # noqa: E402
from stand.drive import link_in, unescape  # noqa: E402
from stand.files import ModuleFiles, module_line, write_pam_dir  # noqa: E402
from stand.proc import StandError, free_port, stop_all  # noqa: E402
import phone  # noqa: E402  (tests/provider/phone.py, on the stand's path)

CLIENT_ID, CLIENT_SECRET = "pam-demo", "demo-s3cret"
SERVICE = "pam_ion-demo"


def start(build, tmp, client_keys, relay_key_file):
    """The provider and the relay; (issuer, relay URL, the module's key)."""
    rport = free_port()
    relay_url = "http://127.0.0.1:%d" % rport
    prov = Provider(tmp, CLIENT_ID, CLIENT_SECRET, relay_url + "/callback",
                    ["alice:alice@example.org:true:Alice Example"])
    binary = os.path.join(build, "src/relay/pam-ion-relay")
    prefix = prov.issuer + "/oauth2/authorize"
    if client_keys:
        Relay(binary, tmp, rport, prefix, keys_file=client_keys)
        with open(relay_key_file) as f:
            key = f.read().strip()
    else:
        key = Relay(binary, tmp, rport, prefix, clients=("demo-host",)).key
    return prov.issuer, relay_url, key


def converse(drive, auto):
    """Plays the conversation on this terminal; the PAM code."""
    link, code = None, 1
    for line in drive.stdout:
        tag, _, text = line.rstrip("\n").partition(" ")
        text = unescape(text)
        if tag in ("INFO", "ERROR"):
            print(text)
            link = link_in(text) or link
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
    return code


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
    drive = None
    try:
        try:
            issuer, relay_url, key = start(build, tmp, a.client_keys,
                                           a.relay_key_file)
        except StandError as e:
            sys.exit("demo: %s" % e)
        user = os.environ.get("USER", "root")
        files = ModuleFiles(tmp, issuer, CLIENT_ID, CLIENT_SECRET, relay_url,
                            key, "alice@example.org %s\n" % user,
                            comment="# scripts/demo-signin.py")
        pamd = write_pam_dir(os.path.join(tmp, "pam.d"), {
            SERVICE: module_line(os.path.abspath(
                os.path.join(build, "pam_ion.so")), files.conf)})
        print("provider %s, relay %s; signing in as %s through PAM\n" %
              (issuer, relay_url, user))
        drive = subprocess.Popen(
            [os.path.join(build, "tests/module/pamdrive"), pamd, SERVICE,
             user, "127.0.0.1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        return 0 if converse(drive, auto) == 0 else 1
    finally:
        if drive is not None and drive.poll() is None:
            drive.kill()
            drive.wait()
        stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
