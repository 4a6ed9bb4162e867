"""One sign-in through pam-ion-relay, played the way the PAM module and a
phone will play it (the provider's sign-in itself is skipped: the demo
"provider" redirects straight back with a made-up code)."""
import base64
import hashlib
import http.client
import json
import os
import re
import sys
import threading
import time
import urllib.parse


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def request(base, method, path, body=None, headers=None):
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=40)
    c.request(method, path, body, headers or {})
    r = c.getresponse()
    return r.status, r.read().decode()


def main():
    base, auto = sys.argv[1], sys.argv[2] == "yes"
    secret = os.urandom(32)
    state = b64(hashlib.sha256(secret).digest())
    # The nonce is tied to the state; the relay checks that it is.
    nonce = b64(hashlib.sha256(b"pam_ion-nonce" + state.encode()).digest())
    authorize = (base + "/demo-idp/authorize?response_type=code&client_id=demo"
                 "&redirect_uri=" + urllib.parse.quote(base + "/callback", safe="")
                 + "&scope=openid%20profile%20email&state=" + state
                 + "&nonce=" + nonce)
    body = json.dumps({"state": state, "authorize_url": authorize,
                       "context": {"host": os.uname().nodename, "user": "demo",
                                   "rhost": "127.0.0.1", "service": "demo"}})
    status, text = request(base, "POST", "/v1/logins", body,
                           {"Content-Type": "application/json",
                            "Authorization": "Bearer " + b64(secret)})
    print("module: registered the login ->", status, text)
    link = json.loads(text)["link"]
    print("module: the QR code would show", link)

    def phone():
        time.sleep(0.3)
        path = urllib.parse.urlsplit(link).path
        st, page = request(base, "GET", path)
        print("phone: opened the link ->", st,
              re.search(r"<h1>(.*?)</h1>", page).group(1))
        st, page = request(base, "GET", "/callback?state=" + state +
                           "&code=demo-code-" + b64(os.urandom(6)))
        code = re.search(r'<p id="code">(\d{6})</p>', page).group(1)
        print("phone: signed in; the page says: type", code)

    if auto:
        threading.Thread(target=phone).start()
    else:
        print("\nOpen", link, "in a browser. The demo has no real provider:")
        print("after the landing page, visit", base + "/callback?state=" +
              state + "&code=anything", "to play iON's redirect.\n")
    t0 = time.monotonic()
    while True:
        st, text = request(base, "GET", "/v1/logins/result?wait=25", None,
                           {"Authorization": "Bearer " + b64(secret)})
        if st != 202:
            break
    print("module: long-poll answered after %.0f ms ->" %
          ((time.monotonic() - t0) * 1000), st, text)
    result = json.loads(text)
    if "code" in result:
        expect = int.from_bytes(hashlib.sha256(
            b"pam_ion-confirm" + state.encode() + result["code"].encode())
            .digest()[:4], "big") % 1000000
        print("module: the confirmation code to expect is %06d" % expect)
    st, text = request(base, "GET", "/v1/logins/result", None,
                       {"Authorization": "Bearer " + b64(secret)})
    print("module: a second collection is refused ->", st)
    return 0 if "code" in result else 1


if __name__ == "__main__":
    sys.exit(main())
