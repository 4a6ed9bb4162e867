#!/usr/bin/env python3
"""Self test of the stand-in provider: the whole sign-in round trip through
the real pam-ion-relay and the scripted phone, the way pam_ion will play it,
then every misbehaviour of the control API.

    python3 tests/provider/selftest.py [--relay PATH] [-v]

The relay binary comes from --relay, else $PAM_ION_RELAY, else the usual
build directories of the repository.  Needs `npm ci` in tests/provider.
Python 3 standard library only; exits non-zero on any failure.
"""
import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import phone  # noqa: E402
from stand.daemons import Provider, Relay, b64url as b64  # noqa: E402
from stand.proc import StandError, free_port, stop_all  # noqa: E402

CLIENT_ID, CLIENT_SECRET = "pam-test", "s3cret-for-the-stand-in-0123456789"
ALICE = ("alice", "alice@example.org", True, "Alice Example")
BOB = ("bob", "bob@example.org", False, "Bob: Unverified")
VERBOSE = False


# ------------------------------------------------------------ small helpers

def unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def request(url, method="GET", body=None, headers=None, timeout=15):
    """(status, headers, body bytes)."""
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        path = u.path + ("?" + u.query if u.query else "")
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers = dict(headers or {}, **{"Content-Type":
                                             "application/json"})
        c.request(method, path, body, headers or {})
        r = c.getresponse()
        return r.status, r.headers, r.read()
    finally:
        c.close()


def jwt_parts(token):
    h, p, s = token.split(".")
    return json.loads(unb64(h)), json.loads(unb64(p)), unb64(s), \
        (h + "." + p).encode()


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


# ------------------------------------------------------------ JOSE, by hand
# Enough to check the provider's signatures without third-party packages.

SHA256_DIGESTINFO = bytes.fromhex("3031300d060960864801650304020105000420")


def rsa_verify(jwk, data, sig):
    n = int.from_bytes(unb64(jwk["n"]), "big")
    e = int.from_bytes(unb64(jwk["e"]), "big")
    k = (n.bit_length() + 7) // 8
    if len(sig) != k:
        return False
    m = pow(int.from_bytes(sig, "big"), e, n).to_bytes(k, "big")
    t = SHA256_DIGESTINFO + hashlib.sha256(data).digest()
    return hmac.compare_digest(m, b"\x00\x01" + b"\xff" * (k - 3 - len(t))
                               + b"\x00" + t)


P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551
P256_A = P256_P - 3
P256_G = (0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296,
          0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5)


def _ec_add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and (a[1] + b[1]) % P256_P == 0:
        return None
    if a == b:
        lam = (3 * a[0] * a[0] + P256_A) * pow(2 * a[1], -1, P256_P)
    else:
        lam = (b[1] - a[1]) * pow(b[0] - a[0], -1, P256_P)
    lam %= P256_P
    x = (lam * lam - a[0] - b[0]) % P256_P
    return x, (lam * (a[0] - x) - a[1]) % P256_P


def _ec_mul(k, pt):
    r = None
    while k:
        if k & 1:
            r = _ec_add(r, pt)
        pt = _ec_add(pt, pt)
        k >>= 1
    return r


def es256_verify(jwk, data, sig):
    if len(sig) != 64:
        return False
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    if not (0 < r < P256_N and 0 < s < P256_N):
        return False
    q = (int.from_bytes(unb64(jwk["x"]), "big"),
         int.from_bytes(unb64(jwk["y"]), "big"))
    z = int.from_bytes(hashlib.sha256(data).digest(), "big")
    w = pow(s, -1, P256_N)
    pt = _ec_add(_ec_mul(z * w % P256_N, P256_G), _ec_mul(r * w % P256_N, q))
    return pt is not None and pt[0] % P256_N == r


def _der_len(n):
    if n < 128:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def _der(tag, content):
    return bytes([tag]) + _der_len(len(content)) + content


def _der_int(v):
    b = v.to_bytes(v.bit_length() // 8 + 1, "big")
    return _der(0x02, b)


def rsa_spki_pem(jwk):
    """The PEM (SubjectPublicKeyInfo) of an RSA JWK, as OpenSSL writes it."""
    n = int.from_bytes(unb64(jwk["n"]), "big")
    e = int.from_bytes(unb64(jwk["e"]), "big")
    alg = _der(0x30, _der(0x06, bytes.fromhex("2a864886f70d010101"))
               + b"\x05\x00")
    key = _der(0x30, _der_int(n) + _der_int(e))
    der = _der(0x30, alg + _der(0x03, b"\x00" + key))
    text = base64.b64encode(der).decode()
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return ("-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines)
            + "\n-----END PUBLIC KEY-----\n")


# ------------------------------------------------------------ the stand

class Stand:
    """Provider + relay, and what the module does against them."""

    def __init__(self, relay_bin, tmp):
        self.tmp = tmp
        self.relay_port = free_port()
        self.relay = "http://127.0.0.1:%d" % self.relay_port
        self.state_file = os.path.join(tmp, "provider-state.json")
        self.issuer = self.start_provider("provider").issuer
        self.start_relay(relay_bin)
        self.jwks_cache = None

    def start_provider(self, name):
        """provider.js on the state file, its log in tmp/NAME.log."""
        accounts = ["%s:%s:%s:%s" % (sub, email, "true" if verified
                                     else "false", full)
                    for sub, email, verified, full in (ALICE, BOB)]
        try:
            return Provider(self.tmp, CLIENT_ID, CLIENT_SECRET,
                            self.relay + "/callback", accounts,
                            ["--state-file", self.state_file], name=name,
                            provider_dir=HERE)
        except StandError as e:
            raise Fail(str(e)) from None

    def start_relay(self, relay_bin):
        # The relay admits only holders of a key in its --client-keys file
        # ("NAME SHA256HEX" lines), made as an administrator would.
        try:
            relay = Relay(relay_bin, self.tmp, self.relay_port,
                          self.issuer + "/oauth2/authorize",
                          clients=("selftest",), start_timeout=10)
        except StandError as e:
            raise Fail(str(e)) from None
        self.relay_key = relay.key

    def stop(self):
        stop_all()

    # control API
    def control(self, path, body=None):
        st, _, text = request(self.issuer + "/__test/" + path,
                              "GET" if body is None else "POST", body)
        return st, json.loads(text)

    def misbehave(self, spec):
        st, reply = self.control("misbehave", spec)
        check(st == 200, "misbehave %s refused: %s" % (spec, reply))

    def jwks(self):
        st, _, text = request(self.issuer + "/oauth2/jwks")
        check(st == 200, "JWKS answered %d" % st)
        return {k["kid"]: k for k in json.loads(text)["keys"]}

    # what the module does
    def relay_headers(self, secret):
        return {"Authorization": "Bearer " + secret,
                "PAM-Ion-Client-Key": self.relay_key}

    def login(self, user="alice", confirm=True, pkce=True, par=False):
        """Steps 1-2: secrets, authorize URL (pushed first with par),
        POST /v1/logins."""
        lg = {"P": os.urandom(32)}
        lg["S"] = b64(hashlib.sha256(lg["P"]).digest())
        lg["V"] = b64(os.urandom(32))
        # The nonce is tied to the state (newer relays check that it is).
        lg["N"] = b64(hashlib.sha256(b"pam_ion-nonce" +
                                     lg["S"].encode()).digest())
        params = {
            "response_type": "code", "client_id": CLIENT_ID,
            "redirect_uri": self.relay + "/callback",
            "scope": "openid profile email", "state": lg["S"],
            "nonce": lg["N"]}
        if pkce:
            params["code_challenge_method"] = "S256"
            params["code_challenge"] = b64(hashlib.sha256(
                lg["V"].encode()).digest())
        if par:
            # RFC 9126: push the request (client_secret_basic); the
            # authorize URL carries only client_id and request_uri.
            st, _, text = request(
                self.issuer + "/oauth2/par", "POST",
                urllib.parse.urlencode(params),
                {"Content-Type": "application/x-www-form-urlencoded",
                 "Authorization": "Basic " + base64.b64encode((
                     "%s:%s" % (CLIENT_ID, CLIENT_SECRET)).encode()
                 ).decode()})
            check(st == 201, "PAR answered %d %s" % (st, text[:200]))
            lg["request_uri"] = json.loads(text)["request_uri"]
            params = {"client_id": CLIENT_ID,
                      "request_uri": lg["request_uri"]}
        q = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
        lg["U"] = self.issuer + "/oauth2/authorize?" + q
        st, _, text = request(self.relay + "/v1/logins", "POST", {
            "state": lg["S"], "authorize_url": lg["U"], "confirm": confirm,
            "context": {"host": "selftest", "user": user, "rhost": "",
                        "service": "selftest"}},
            self.relay_headers(b64(lg["P"])))
        check(st == 201, "relay refused the login: %d %s" % (st, text))
        lg["link"] = json.loads(text)["link"]
        return lg

    def collect(self, lg):
        """Step 4: the long-poll."""
        for _ in range(3):
            st, _, text = request(self.relay + "/v1/logins/result?wait=10",
                                  headers=self.relay_headers(b64(lg["P"])),
                                  timeout=20)
            if st != 202:
                break
        check(st == 200, "relay result answered %d %s" % (st, text))
        return json.loads(text)

    def exchange(self, code, verifier, auth="basic", secret=CLIENT_SECRET,
                 timeout=15):
        """Step 5: the token request, as iON documents it."""
        form = {"grant_type": "authorization_code", "client_id": CLIENT_ID,
                "code": code, "redirect_uri": self.relay + "/callback"}
        if verifier is not None:
            form["code_verifier"] = verifier
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if auth == "basic":
            headers["Authorization"] = "Basic " + base64.b64encode(
                ("%s:%s" % (CLIENT_ID, secret)).encode()).decode()
        else:
            form["client_secret"] = secret
        return request(self.issuer + "/oauth2/token", "POST",
                       urllib.parse.urlencode(form), headers, timeout)

    def code_for(self, user="alice", pkce=True, par=False):
        """A fresh login through relay and phone; returns (login, code)."""
        lg = self.login(user, pkce=pkce, par=par)
        shown = phone.sign_in(lg["link"], user, verbose=VERBOSE)
        res = self.collect(lg)
        check("code" in res, "no code collected: %s" % res)
        expect = "%06d" % (int.from_bytes(hashlib.sha256(
            b"pam_ion-confirm" + lg["S"].encode() + res["code"].encode())
            .digest()[:4], "big") % 1000000)
        check(shown == expect, "phone showed %s, module expects %s" %
              (shown, expect))
        lg["result"] = res
        return lg, res["code"]

    def tokens(self, user="alice"):
        lg, code = self.code_for(user)
        st, hdrs, body = self.exchange(code, lg["V"])
        return lg, st, hdrs, body


# ------------------------------------------------------------ the checks

def t_discovery(s):
    st, h, text = request(s.issuer + "/.well-known/openid-configuration")
    check(st == 200, "discovery answered %d" % st)
    check(h.get("Cache-Control") == "public, max-age=300",
          "discovery Cache-Control %r" % h.get("Cache-Control"))
    d = json.loads(text)
    want = {
        "issuer": s.issuer,
        "authorization_endpoint": s.issuer + "/oauth2/authorize",
        "token_endpoint": s.issuer + "/oauth2/token",
        "jwks_uri": s.issuer + "/oauth2/jwks",
        "userinfo_endpoint": s.issuer + "/oauth2/userinfo",
        "response_types_supported": ["code"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "grant_types_supported": ["authorization_code"],
    }
    for k, v in want.items():
        check(d.get(k) == v, "discovery %s = %r, want %r" % (k, d.get(k), v))
    check("RS256" in d["id_token_signing_alg_values_supported"], "no RS256")
    check(set(["openid", "profile", "email"]) <= set(d["scopes_supported"]),
          "scopes %s" % d["scopes_supported"])


def t_jwks(s):
    st, h, text = request(s.issuer + "/oauth2/jwks")
    check(st == 200, "JWKS answered %d" % st)
    check(h.get("Cache-Control") == "public, max-age=300",
          "JWKS Cache-Control %r" % h.get("Cache-Control"))
    keys = json.loads(text)["keys"]
    check(sorted(k["kty"] for k in keys) == ["EC", "RSA"],
          "key types %s" % [k["kty"] for k in keys])
    for k in keys:
        check(k.get("kid") and k.get("use") == "sig", "key %s" % k)
        check(not set(k) & {"d", "p", "q", "dp", "dq", "qi"},
              "private members published")
    rsa = [k for k in keys if k["kty"] == "RSA"][0]
    check(len(unb64(rsa["n"])) == 256, "RSA key is not 2048 bits")
    check([k for k in keys if k["kty"] == "EC"][0]["crv"] == "P-256", "crv")


def verify_id_token(s, token, lg, sub="alice"):
    h, p, sig, data = jwt_parts(token)
    keys = s.jwks()
    check(h.get("alg") == "RS256", "id_token alg %s" % h.get("alg"))
    check(h.get("kid") in keys, "id_token kid %s not in JWKS" % h.get("kid"))
    check(rsa_verify(keys[h["kid"]], data, sig), "RS256 signature invalid")
    now = time.time()
    check(p["iss"] == s.issuer, "iss %s" % p["iss"])
    check(p["aud"] == CLIENT_ID or p["aud"] == [CLIENT_ID], "aud %s" %
          p["aud"])
    check(p["nonce"] == lg["N"], "nonce %s, sent %s" % (p["nonce"], lg["N"]))
    check(p["iat"] <= now + 5 and p["exp"] > now, "iat/exp %s %s" %
          (p["iat"], p["exp"]))
    check(p["sub"] == sub, "sub %s" % p["sub"])
    return h, p


def t_round_trip(s):
    s.control("reset", {})
    lg, st, _, body = s.tokens("alice")
    check(lg["result"].get("iss") == s.issuer,
          "RFC 9207 iss at the callback: %s" % lg["result"].get("iss"))
    check(st == 200, "token answered %d %s" % (st, body[:300]))
    tok = json.loads(body)
    check(tok.get("token_type", "").lower() == "bearer", "token_type")
    _, p = verify_id_token(s, tok["id_token"], lg)
    for k, v in (("email", ALICE[1]), ("email_verified", True),
                 ("name", ALICE[3]), ("preferred_username", "alice")):
        check(p.get(k) == v, "id_token %s = %r, want %r" % (k, p.get(k), v))
    st, _, text = request(s.issuer + "/oauth2/userinfo", headers={
        "Authorization": "Bearer " + tok["access_token"]})
    check(st == 200, "userinfo answered %d" % st)
    ui = json.loads(text)
    check(ui.get("sub") == "alice" and ui.get("email") == ALICE[1],
          "userinfo %s" % ui)
    _, stats = s.control("stats")
    rec = stats["token_requests"][-1]
    check(rec["auth"] == "client_secret_basic" and rec["has_code_verifier"],
          "token request record %s" % rec)
    check(stats["authorize_requests"][-1].get("code_challenge_method") ==
          "S256", "authorize request record")
    # warm: a whole login fetched neither discovery nor JWKS from here on
    s.control("reset", {})
    lg, st, _, body = s.tokens("alice")
    _, stats = s.control("stats")
    check(st == 200 and stats["authorize"] == 1 and stats["token"] == 1 and
          stats["discovery"] == 0 and stats["jwks"] == 0,
          "stats after one login: %s" % {k: stats[k] for k in (
              "discovery", "jwks", "authorize", "token", "userinfo")})
    # the code is single-use
    st, _, body = s.exchange(lg["result"]["code"], lg["V"])
    check(st == 400 and json.loads(body)["error"] == "invalid_grant",
          "second use of a code: %d %s" % (st, body[:200]))


def t_par(s):
    """--par (POST /__test/par): discovery, a pushed request through relay
    and phone, the pushed parameters winning over the URL's, PAR
    required, and off again."""
    basic = {"Content-Type": "application/x-www-form-urlencoded",
             "Authorization": "Basic " + base64.b64encode((
                 "%s:%s" % (CLIENT_ID, CLIENT_SECRET)).encode()).decode()}
    disco = s.issuer + "/.well-known/openid-configuration"
    check("pushed_authorization_request_endpoint" not in json.loads(
        request(disco)[2]), "PAR offered by default")
    st, reply = s.control("par", {"par": "bogus"})
    check(st == 400, "par bogus: %d %s" % (st, reply))
    try:
        st, reply = s.control("par", {"par": "on"})
        check(st == 200, "par on: %d %s" % (st, reply))
        d = json.loads(request(disco)[2])
        check(d.get("pushed_authorization_request_endpoint") ==
              s.issuer + "/oauth2/par" and
              "require_pushed_authorization_requests" not in d and
              d.get("authorization_response_iss_parameter_supported") is True,
              "discovery with PAR on: %s" % {
                  k: v for k, v in d.items() if "push" in k or "iss_" in k})
        s.control("reset", {})
        lg, code = s.code_for("alice", par=True)
        check(lg["result"].get("iss") == s.issuer, "iss at the callback")
        st, _, body = s.exchange(code, lg["V"])
        check(st == 200, "token after PAR: %d %s" % (st, body[:200]))
        verify_id_token(s, json.loads(body)["id_token"], lg)
        _, stats = s.control("stats")
        pr = stats["par_requests"]
        check(stats["par"] == 1 and len(pr) == 1 and
              pr[0]["state"] == lg["S"] and pr[0]["nonce"] == lg["N"] and
              pr[0]["auth"] == "client_secret_basic" and
              "code_challenge" not in pr[0] and pr[0]["has_code_challenge"],
              "par stats %s %s" % (stats["par"], pr))
        check(sorted(stats["authorize_requests"][-1]) ==
              ["client_id", "request_uri"], "authorize request %s" %
              stats["authorize_requests"][-1])
        # client_secret_post at the PAR endpoint: refused.
        st, _, body = request(s.issuer + "/oauth2/par", "POST",
                              urllib.parse.urlencode({
                                  "client_id": CLIENT_ID,
                                  "client_secret": CLIENT_SECRET,
                                  "response_type": "code",
                                  "scope": "openid",
                                  "redirect_uri": s.relay + "/callback"}),
                              {"Content-Type":
                               "application/x-www-form-urlencoded"})
        check(st == 401, "PAR with client_secret_post: %d" % st)
        # A state added to a PAR authorize URL is ignored: the redirect
        # carries the pushed one.
        params = {"response_type": "code", "client_id": CLIENT_ID,
                  "redirect_uri": s.relay + "/callback", "scope": "openid",
                  "state": "pushed-state", "nonce": "n"}
        st, _, text = request(s.issuer + "/oauth2/par", "POST",
                              urllib.parse.urlencode(params), basic)
        check(st == 201, "PAR %d" % st)
        uri = json.loads(text)["request_uri"]
        ph = phone.Phone(verbose=VERBOSE)
        got = []
        ph._callback = lambda url, *a: got.append(url) or "DONE"
        ph.sign_in_url(s.issuer + "/oauth2/authorize?" + urllib.parse
                       .urlencode({"client_id": CLIENT_ID,
                                   "request_uri": uri,
                                   "state": "attackers-state"}),
                       s.relay, "alice")
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(
            got[0]).query)) if got else {}
        check(q.get("state") == "pushed-state" and "code" in q,
              "redirect after an added state: %s" % q)
        # Required: a plain request is refused (to the redirect_uri).
        st, reply = s.control("par", {"par": "required"})
        check(st == 200, "par required: %d" % st)
        check(json.loads(request(disco)[2]).get(
            "require_pushed_authorization_requests") is True,
            "discovery does not say PAR is required")
        plain = dict(params, state="plain")
        st, h, _ = request(s.issuer + "/oauth2/authorize?" +
                           urllib.parse.urlencode(plain))
        loc = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(
            h.get("Location", "")).query))
        check(st in (302, 303) and loc.get("error") == "invalid_request" and
              loc.get("state") == "plain",
              "plain request with PAR required: %d %s" % (st, loc))
    finally:
        s.control("par", {"par": "off"})
    check("pushed_authorization_request_endpoint" not in json.loads(
        request(disco)[2]), "PAR still offered after off")


def t_unverified_email(s):
    lg, st, _, body = s.tokens("bob")
    check(st == 200, "token answered %d" % st)
    _, p = verify_id_token(s, json.loads(body)["id_token"], lg, sub="bob")
    check(p.get("email_verified") is False, "bob's email_verified %r" %
          p.get("email_verified"))
    check(p.get("name") == BOB[3], "name with a colon: %r" % p.get("name"))


def t_pkce(s):
    lg, code = s.code_for()
    st, _, body = s.exchange(code, b64(os.urandom(32)))
    check(st == 400 and json.loads(body)["error"] == "invalid_grant",
          "wrong code_verifier: %d %s" % (st, body[:200]))
    lg, code = s.code_for()
    st, _, body = s.exchange(code, None)
    check(st == 400 and json.loads(body)["error"] in ("invalid_grant",
                                                      "invalid_request"),
          "missing code_verifier: %d %s" % (st, body[:200]))
    # without a code_challenge PKCE is not required (iON does not document it)
    lg, code = s.code_for(pkce=False)
    st, _, body = s.exchange(code, None)
    check(st == 200, "login without PKCE: %d %s" % (st, body[:200]))
    verify_id_token(s, json.loads(body)["id_token"], lg)


def t_client_auth(s):
    lg, code = s.code_for()
    st, _, body = s.exchange(code, lg["V"], auth="post")
    check(st == 401 and json.loads(body)["error"] == "invalid_client",
          "client_secret_post: %d %s" % (st, body[:200]))
    lg, code = s.code_for()
    st, _, body = s.exchange(code, lg["V"], secret="wrong")
    check(st == 401 and json.loads(body)["error"] == "invalid_client",
          "wrong secret: %d %s" % (st, body[:200]))


def t_deny(s):
    lg = s.login()
    check(phone.sign_in(lg["link"], "alice", deny=True, verbose=VERBOSE) ==
          "CANCELLED", "deny did not end on the cancelled page")
    res = s.collect(lg)
    check(res.get("error") == "access_denied", "deny result %s" % res)
    lg = s.login()
    check(phone.sign_in(lg["link"], "alice", cancel_login=True,
                        verbose=VERBOSE) == "CANCELLED", "cancel at login")
    check(s.collect(lg).get("error") == "access_denied", "cancel result")


def t_unknown_account(s):
    lg = s.login()
    try:
        phone.sign_in(lg["link"], "mallory", verbose=VERBOSE)
    except phone.PhoneError as e:
        check("mallory" in str(e), "message %s" % e)
    else:
        raise Fail("an unknown account signed in")


class _CodePhone(phone.Phone):
    """A phone that stops at the provider's redirect and hands back its
    query (the code), without going to the relay."""

    def _callback(self, url, iss_override, drop_iss):
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def _direct_sign_in(s, ph, user="alice", **extra):
    """An authorization request with extra parameters (acr_values,
    max_age, prompt) straight to the provider with the phone ph (its
    cookie jar keeps the session), the code exchanged: (id_token claims,
    userinfo)."""
    params = {"response_type": "code", "client_id": CLIENT_ID,
              "redirect_uri": s.relay + "/callback",
              "scope": "openid profile email", "state": b64(os.urandom(16)),
              "nonce": b64(os.urandom(16))}
    params.update(extra)
    q = ph.sign_in_url(s.issuer + "/oauth2/authorize?" +
                       urllib.parse.urlencode(params), s.relay, user)
    check("code" in q, "no code: %s" % q)
    st, _, body = s.exchange(q["code"], None)
    check(st == 200, "token answered %d %s" % (st, body[:200]))
    tok = json.loads(body)
    _, claims, _, _ = jwt_parts(tok["id_token"])
    st, _, text = request(s.issuer + "/oauth2/userinfo", headers={
        "Authorization": "Bearer " + tok["access_token"]})
    check(st == 200, "userinfo answered %d" % st)
    return claims, json.loads(text)


def t_account_extras(s):
    """POST /__test/account: extra claims in the id_token and at
    userinfo, userinfo_only, the acr a sign-in reports, the step-up for
    acr_values; max_age, prompt=login and age-sessions; reset clears."""
    st, reply = s.control("account", {"sub": "nobody", "claims": {}})
    check(st == 404, "account nobody: %d %s" % (st, reply))
    st, reply = s.control("account", {"sub": "alice", "claims": {"acr": "x"}})
    check(st == 400, "a protocol claim was accepted: %d %s" % (st, reply))
    extra = {"groups": ["staff", "ops"], "mfa": True, "level": 3,
             "nothing": None, "obj": {"a": 1}, "department": "ops"}
    st, reply = s.control("account", {
        "sub": "alice", "claims": extra, "userinfo_only": ["department"],
        "acr": "urn:test:low", "amr": ["pwd"]})
    check(st == 200, "account alice: %d %s" % (st, reply))
    ph = _CodePhone()
    idt, ui = _direct_sign_in(s, ph)
    for k, v in extra.items():
        if k != "department":
            check(idt.get(k, "absent") == v, "id_token %s: %r" % (
                k, idt.get(k, "absent")))
        check(ui.get(k, "absent") == v, "userinfo %s: %r" % (
            k, ui.get(k, "absent")))
    check("department" not in idt, "userinfo_only claim in the id_token")
    check(idt.get("acr") == "urn:test:low" and idt.get("amr") == ["pwd"],
          "acr/amr %r %r" % (idt.get("acr"), idt.get("amr")))
    check("auth_time" not in idt, "auth_time without max_age")
    check(ph.logins == 1, "logins %d" % ph.logins)
    # The session is reused; acr_values of another acr steps up.
    s.control("account", {"sub": "alice", "acr": "urn:test:high"})
    idt, _ = _direct_sign_in(s, ph)
    check(ph.logins == 1 and idt.get("acr") == "urn:test:low",
          "session not reused: logins %d, acr %r" % (ph.logins,
                                                      idt.get("acr")))
    check(idt.get("groups") is None, "claims not cleared by a new spec")
    idt, _ = _direct_sign_in(s, ph, acr_values="urn:test:high")
    check(ph.logins == 2 and idt.get("acr") == "urn:test:high",
          "no step-up: logins %d, acr %r" % (ph.logins, idt.get("acr")))
    # max_age: auth_time in the token; an aged session signs in again.
    idt, _ = _direct_sign_in(s, ph, max_age="600")
    now = time.time()
    check(ph.logins == 2 and isinstance(idt.get("auth_time"), int) and
          now - 30 < idt["auth_time"] <= now + 1,
          "max_age 600: logins %d auth_time %r" % (ph.logins,
                                                   idt.get("auth_time")))
    st, reply = s.control("age-sessions", {"seconds": 3600})
    check(st == 200 and reply["sessions"] >= 1, "age-sessions %s" % reply)
    idt, _ = _direct_sign_in(s, ph)
    check(ph.logins == 2 and "auth_time" not in idt, "aged session reused")
    idt, _ = _direct_sign_in(s, ph, max_age="7200")
    check(ph.logins == 2 and now - 3700 < idt["auth_time"] < now - 3500,
          "aged auth_time %r" % idt.get("auth_time"))
    idt, _ = _direct_sign_in(s, ph, max_age="600")
    check(ph.logins == 3 and idt["auth_time"] >= now - 5,
          "max_age past the session: logins %d auth_time %r" % (
              ph.logins, idt.get("auth_time")))
    for extra_params in ({"prompt": "login"}, {"max_age": "0"}):
        idt, _ = _direct_sign_in(s, ph, **extra_params)
        check("auth_time" in idt, "%s: no auth_time" % extra_params)
    check(ph.logins == 5, "prompt=login / max_age=0 without a login page: "
          "%d" % ph.logins)
    _, stats = s.control("stats")
    rec = stats["authorize_requests"]
    check(rec[-2].get("prompt") == "login" and rec[-1].get("max_age") == "0",
          "authorize_requests do not record prompt/max_age: %s" % rec[-2:])
    s.control("reset", {})
    idt, ui = _direct_sign_in(s, _CodePhone())
    check("groups" not in ui and "acr" not in idt,
          "reset left the extras: %r %r" % (ui, idt.get("acr")))


def t_phone_cli(s):
    lg = s.login()
    p = subprocess.run([sys.executable, os.path.join(HERE, "phone.py"),
                        lg["link"], "--login", "alice", "--wrong-iss"],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0 and len(p.stdout.strip()) == 6,
          "phone.py: %d %r %r" % (p.returncode, p.stdout, p.stderr))
    res = s.collect(lg)
    check(res.get("iss") == phone.WRONG_ISS, "--wrong-iss gave %s" % res)
    p = subprocess.run([sys.executable, os.path.join(HERE, "phone.py"),
                        s.relay + "/l/AAAAAAAAAAA", "--login", "alice"],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode != 0 and "phone:" in p.stderr,
          "phone.py on an unknown link: %d %r" % (p.returncode, p.stderr))


def misbehaving_exchange(s, spec, timeout=15):
    s.misbehave(spec)
    lg, code = s.code_for()
    return (lg,) + s.exchange(code, lg["V"], timeout=timeout)


def t_token_misbehaviours(s):
    _, st, h, body = misbehaving_exchange(s, {"token": "status",
                                              "status": 500})
    check(st == 500 and not body.startswith(b"{"), "status 500: %d" % st)

    _, st, h, body = misbehaving_exchange(s, {"token": "invalid_grant"})
    check(st == 400 and json.loads(body)["error"] == "invalid_grant",
          "invalid_grant: %d %s" % (st, body[:100]))

    _, st, h, body = misbehaving_exchange(s, {"token": "not_json"})
    check(st == 200 and "html" in h.get("Content-Type", ""),
          "not_json: %d %s" % (st, h.get("Content-Type")))
    try:
        json.loads(body)
        raise Fail("not_json answered JSON")
    except ValueError:
        pass

    _, st, h, body = misbehaving_exchange(s, {"token": "no_id_token"})
    tok = json.loads(body)
    check(st == 200 and "id_token" not in tok and "access_token" in tok,
          "no_id_token: %s" % tok)

    _, st, h, body = misbehaving_exchange(s, {"token": "huge",
                                              "bytes": 11000000})
    check(st == 200 and len(body) >= 11000000 and
          "id_token" in json.loads(body), "huge: %d bytes" % len(body))

    _, st, h, body = misbehaving_exchange(
        s, {"token": "redirect", "location": "http://127.0.0.1:9/elsewhere"})
    check(st == 302 and h.get("Location") == "http://127.0.0.1:9/elsewhere",
          "redirect: %d %s" % (st, h.get("Location")))

    _, st, h, body = misbehaving_exchange(
        s, {"token": "error", "error": "invalid_client", "status": 401})
    check(st == 401 and json.loads(body)["error"] == "invalid_client",
          "error: %d" % st)

    _, st, h, body = misbehaving_exchange(
        s, {"fields": {"token_type": "MAC", "access_token": None}})
    tok = json.loads(body)
    check(tok["token_type"] == "MAC" and "access_token" not in tok,
          "fields: %s" % tok)

    t0 = time.monotonic()
    try:
        misbehaving_exchange(s, {"token": "hang"}, timeout=1.5)
        raise Fail("hang answered")
    except (socket.timeout, TimeoutError):
        pass
    check(time.monotonic() - t0 < 10, "hang test too slow")
    try:
        r = misbehaving_exchange(s, {"token": "hang_after_headers"},
                                 timeout=1.5)
        raise Fail("hang_after_headers answered %s" % (r[1],))
    except (socket.timeout, TimeoutError):
        pass
    _, stats = s.control("stats")
    check(stats["hung"] in (0, 1, 2), "hung %s" % stats["hung"])

    # bad specs are refused and nothing is queued
    for bad in ({"token": "explode"}, {"token": "huge"}, {"nothing": 1},
                {"id_token": {"sign_with": "moon"}},
                {"id_token": {"alg": "XX999"}}, [1]):
        st, reply = s.control("misbehave", bad)
        check(st == 400 and reply.get("error"), "bad spec %s: %d" % (bad, st))
    _, stats = s.control("stats")
    check(stats["misbehaviours_pending"] == 0, "bad spec got queued")


def id_token_with(s, spec):
    _, st, _, body = misbehaving_exchange(s, {"id_token": spec})
    check(st == 200, "token answered %d for %s" % (st, spec))
    return json.loads(body)["id_token"]


def t_id_token_misbehaviours(s):
    keys = s.jwks()
    rsa = [k for k in keys.values() if k["kty"] == "RSA"][0]
    ec = [k for k in keys.values() if k["kty"] == "EC"][0]

    # a plain re-signature is still valid
    h, p, sig, data = jwt_parts(id_token_with(s, {}))
    check(h["alg"] == "RS256" and h["kid"] == rsa["kid"] and
          rsa_verify(rsa, data, sig), "plain re-signature invalid")

    h, p, sig, data = jwt_parts(id_token_with(s, {"alg": "none"}))
    check(h["alg"] == "none" and sig == b"" and "kid" not in h,
          "alg none: %s %r" % (h, sig))

    h, p, sig, data = jwt_parts(id_token_with(
        s, {"sign_with": "hs256_with_rsa_public_key"}))
    check(h["alg"] == "HS256" and h["kid"] == rsa["kid"], "hs256 header %s"
          % h)
    check(hmac.compare_digest(sig, hmac.new(rsa_spki_pem(rsa).encode(), data,
                                            "sha256").digest()),
          "HS256 is not keyed with the RSA public key's PEM")

    h, p, sig, data = jwt_parts(id_token_with(s, {"alg": "HS256"}))
    check(h["alg"] == "HS256" and hmac.compare_digest(
        sig, hmac.new(CLIENT_SECRET.encode(), data, "sha256").digest()),
        "HS256 with the client secret")

    h, p, sig, data = jwt_parts(id_token_with(s, {"sign_with": "wrong_key"}))
    check(h["kid"] == rsa["kid"] and not rsa_verify(rsa, data, sig),
          "wrong_key verifies with the published key")

    h, p, sig, data = jwt_parts(id_token_with(s, {"sign_with": "ec_key"}))
    check(h["alg"] == "ES256" and h["kid"] == ec["kid"] and
          es256_verify(ec, data, sig), "ES256 signature invalid")

    h, p, sig, data = jwt_parts(id_token_with(s, {
        "claims": {"nonce": None, "email": "eve@example.org",
                   "exp": "now-60", "aud": ["pam-test", "other"]},
        "kid": "no-such-kid", "header": {"typ": None, "crit": ["exp"]}}))
    check("nonce" not in p and p["email"] == "eve@example.org" and
          p["exp"] < time.time() and p["aud"] == ["pam-test", "other"],
          "claims override: %s" % p)
    check(h["kid"] == "no-such-kid" and "typ" not in h and
          h["crit"] == ["exp"] and rsa_verify(rsa, data, sig),
          "header override: %s" % h)

    h, p, sig, data = jwt_parts(id_token_with(s, {"kid": None}))
    check("kid" not in h and rsa_verify(rsa, data, sig), "kid removal")

    h, p, sig, data = jwt_parts(id_token_with(s, {"tamper_payload": True}))
    check(p["sub"].endswith("-tampered") and not rsa_verify(rsa, data, sig),
          "tamper_payload: %s" % p.get("sub"))

    h, p, sig, data = jwt_parts(id_token_with(s, {"tamper_signature": True}))
    check(p["sub"] == "alice" and not rsa_verify(rsa, data, sig),
          "tamper_signature")

    h, p, sig, data = jwt_parts(id_token_with(s, {"alg": "PS256"}))
    check(h["alg"] == "PS256" and len(sig) == 256, "PS256")


def t_endpoint_misbehaviours(s):
    """Discovery, JWKS and userinfo misbehaving ("endpoint" specs), the
    weak RSA key, the endless token answer, and /__test/tls refused on
    plain HTTP."""
    disc = s.issuer + "/.well-known/openid-configuration"
    jwks_url = s.issuer + "/oauth2/jwks"
    s.control("reset", {})

    # json members, used by exactly `times` requests
    s.misbehave({"endpoint": "discovery", "times": 2,
                 "json": {"issuer": "https://evil.example",
                          "jwks_uri": None}})
    for i in range(2):
        d = json.loads(request(disc)[2])
        check(d["issuer"] == "https://evil.example" and "jwks_uri" not in d,
              "discovery json %d: %s" % (i, d.get("issuer")))
    check(json.loads(request(disc)[2])["issuer"] == s.issuer,
          "the discovery misbehaviour outlived times=2")

    # the JWKS reshaped
    plain = s.jwks()
    rsa = [k for k in plain.values() if k["kty"] == "RSA"][0]

    def jwks_with(change):
        s.misbehave({"endpoint": "jwks", "jwks": change})
        st, _, text = request(jwks_url)
        check(st == 200, "JWKS %s answered %d" % (change, st))
        return json.loads(text)

    keys = jwks_with("no_kid")["keys"]
    check(keys and all("kid" not in k for k in keys), "no_kid %s" % keys)
    keys = jwks_with("duplicate_kid")["keys"]
    same = [k for k in keys if k.get("kid") == rsa["kid"]]
    check(len(same) == 2 and same[0]["n"] != same[1]["n"],
          "duplicate_kid: %d keys with the RSA kid" % len(same))
    weak = [k for k in jwks_with("add_weak_rsa")["keys"]
            if len(unb64(k.get("n", ""))) == 128]
    check(len(weak) == 1, "add_weak_rsa: no 1024-bit key")
    check("keys" not in jwks_with("no_keys"), "no_keys")
    keys = jwks_with("private_members")["keys"]
    check(all("d" in k for k in keys), "private_members")
    check(s.jwks() == plain, "the JWKS stayed changed")

    # signing with the weak key
    h, p, sig, data = jwt_parts(id_token_with(s, {"sign_with": "weak_rsa"}))
    check(h["kid"] == weak[0]["kid"] and rsa_verify(weak[0], data, sig),
          "weak_rsa signature")

    # whole answers
    s.misbehave({"endpoint": "jwks", "response": "status", "status": 503})
    check(request(jwks_url)[0] == 503, "JWKS status 503")
    s.misbehave({"endpoint": "discovery", "response": "not_json"})
    st, _, body = request(disc)
    check(st == 200 and body.startswith(b"<html>"), "discovery not_json")
    s.misbehave({"endpoint": "jwks", "response": "huge", "bytes": 300000})
    st, _, body = request(jwks_url)
    check(st == 200 and len(body) >= 300000 and
          "keys" in json.loads(body), "JWKS huge: %d bytes" % len(body))
    s.misbehave({"endpoint": "jwks", "response": "hang"})
    try:
        request(jwks_url, timeout=1.0)
        raise Fail("JWKS hang answered")
    except (socket.timeout, TimeoutError):
        pass
    s.misbehave({"endpoint": "discovery", "response": "endless"})
    u = urllib.parse.urlsplit(disc)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    c.request("GET", u.path)
    r = c.getresponse()
    first = r.read(1 << 20)
    c.close()
    check(r.status == 200 and first.startswith(b'{"padding":"x') and
          len(first) == 1 << 20, "endless: %d bytes" % len(first))
    for _ in range(50):
        streams = s.control("stats")[1]["streams"]
        if streams:
            break
        time.sleep(0.05)
    check(len(streams) == 1 and streams[0]["bytes"] >= 1 << 20,
          "endless not recorded: %s" % streams)

    # userinfo: another sub
    lg, st, _, body = s.tokens()
    at = json.loads(body)["access_token"]
    s.misbehave({"endpoint": "userinfo", "json": {"sub": "mallory"}})
    st, _, body = request(s.issuer + "/oauth2/userinfo",
                          headers={"Authorization": "Bearer " + at})
    check(st == 200 and json.loads(body)["sub"] == "mallory",
          "userinfo json: %d %s" % (st, body[:80]))

    # the endless token answer (read 64 KiB of it, then hang up)
    s.misbehave({"token": "endless"})
    lg, code = s.code_for()
    form = urllib.parse.urlencode({
        "grant_type": "authorization_code", "code": code,
        "redirect_uri": s.relay + "/callback", "code_verifier": lg["V"]})
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    c.request("POST", "/oauth2/token", form, {
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": "Basic " + base64.b64encode(
            ("%s:%s" % (CLIENT_ID, CLIENT_SECRET)).encode()).decode()})
    r = c.getresponse()
    first = r.read(65536)
    c.close()
    check(r.status == 200 and first.startswith(b'{"padding":"x'),
          "endless token answer: %d %r" % (r.status, first[:20]))

    _, stats = s.control("stats")
    check(stats["endpoint_misbehaviours_pending"] == 0 and
          len(stats["endpoint_misbehaviours_applied"]) >= 12,
          "endpoint misbehaviours: pending %d, applied %d" % (
              stats["endpoint_misbehaviours_pending"],
              len(stats["endpoint_misbehaviours_applied"])))

    # bad specs are refused and nothing is queued
    for bad in ({"endpoint": "token", "json": {}},
                {"endpoint": "jwks"},
                {"endpoint": "jwks", "jwks": "rot13"},
                {"endpoint": "discovery", "jwks": "no_kid"},
                {"endpoint": "jwks", "response": "invalid_grant"},
                {"endpoint": "jwks", "json": {}, "times": 0},
                {"endpoint": "jwks", "json": [], "x": 1}):
        st, reply = s.control("misbehave", bad)
        check(st == 400 and reply.get("error"), "bad spec %s: %d" % (bad, st))
    _, stats = s.control("stats")
    check(stats["endpoint_misbehaviours_pending"] == 0, "bad spec queued")
    st, reply = s.control("tls", {"cert": "x", "key": "y"})
    check(st == 400, "tls on a plain HTTP provider answered %d" % st)
    s.control("reset", {})


def t_rotate(s):
    before = s.jwks()
    st, reply = s.control("rotate-keys", {})
    check(st == 200, "rotate-keys answered %d" % st)
    after = s.jwks()
    check(len(after) == 2 and not set(before) & set(after),
          "kids before %s after %s" % (list(before), list(after)))
    lg, st, _, body = s.tokens()
    check(st == 200, "token after rotation %d" % st)
    h, _ = verify_id_token(s, json.loads(body)["id_token"], lg)
    check(h["kid"] in after, "new tokens use the new kid")
    old_rsa = [k for k in before.values() if k["kty"] == "RSA"][0]
    h, p, sig, data = jwt_parts(id_token_with(s, {"sign_with": "old_key"}))
    check(h["kid"] == old_rsa["kid"] and rsa_verify(old_rsa, data, sig),
          "old_key")
    st, reply = s.control("rotate-keys", {"keep_old": True})
    newest = reply["kids"][:2]
    check(len(s.jwks()) == 4, "keep_old publishes 4 keys")
    lg, st, _, body = s.tokens()
    h, _ = verify_id_token(s, json.loads(body)["id_token"], lg)
    check(h["kid"] in newest, "with old keys published, tokens still use "
          "the newest kid (%s, newest %s)" % (h["kid"], newest))
    st, reply = s.control("rotate-keys", {})
    check(len(s.jwks()) == 2, "back to 2 keys")


def t_reset(s):
    s.misbehave({"token": "invalid_grant"})
    s.control("reset", {})
    _, stats = s.control("stats")
    check(stats["misbehaviours_pending"] == 0 and stats["token"] == 0,
          "reset left %s" % stats)
    lg, st, _, _ = s.tokens()
    check(st == 200, "token after reset %d" % st)


def t_state_file(s):
    with open(s.state_file) as f:
        state = json.load(f)
    check(state["issuer"] == s.issuer and state["pid"] > 0, "state %s" % {
        k: state[k] for k in ("issuer", "port", "pid")})
    check(oct(os.stat(s.state_file).st_mode & 0o777) == "0o600",
          "state file mode")
    kids = sorted(s.jwks())
    # a second provider on the same state file comes up with the same keys
    second = s.start_provider("provider2")
    st, _, text = request(second.issuer + "/oauth2/jwks")
    second.stop()
    check(sorted(k["kid"] for k in json.loads(text)["keys"]) == kids,
          "restart with --state-file changed the keys")


def t_bad_requests(s):
    # garbage must not take the provider down
    for method, path, body in (("GET", "/oauth2/authorize?client_id=nope",
                                None),
                               ("POST", "/oauth2/token", "%%%"),
                               ("GET", "/__test/nothing", None),
                               ("POST", "/interaction/xyz/login", "a=b")):
        st, _, _ = request(s.issuer + path, method, body)
        check(400 <= st < 500, "%s %s answered %d" % (method, path, st))
    c = socket.create_connection(("127.0.0.1", urllib.parse.urlsplit(
        s.issuer).port), 5)
    c.sendall(b"NONSENSE\r\n\r\n")
    c.recv(100)
    c.close()
    check(request(s.issuer + "/.well-known/openid-configuration")[0] == 200,
          "the provider is gone after bad requests")


CHECKS = [t_discovery, t_jwks, t_round_trip, t_par, t_unverified_email, t_pkce,
          t_client_auth, t_deny, t_unknown_account, t_account_extras,
          t_phone_cli,
          t_token_misbehaviours, t_id_token_misbehaviours,
          t_endpoint_misbehaviours, t_rotate,
          t_reset, t_state_file, t_bad_requests]


def find_relay(given):
    for cand in [given, os.environ.get("PAM_ION_RELAY")] + [
            os.path.join(ROOT, d, "src/relay/pam-ion-relay")
            for d in ("build", "_build", "build-debug", "build-release")]:
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def main():
    global VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--relay", help="path of pam-ion-relay")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--keep", action="store_true",
                    help="keep the log directory")
    a = ap.parse_args()
    VERBOSE = a.verbose
    relay = find_relay(a.relay)
    if not relay:
        print("selftest: pam-ion-relay not found: build it and pass --relay "
              "PATH or set PAM_ION_RELAY", file=sys.stderr)
        return 2
    if not shutil.which("node"):
        print("selftest: node is not installed", file=sys.stderr)
        return 2
    if not os.path.isdir(os.path.join(HERE, "node_modules", "oidc-provider")):
        print("selftest: run `npm ci` in %s first" % HERE, file=sys.stderr)
        return 2

    tmp = tempfile.mkdtemp(prefix="pam-ion-provider-selftest.")
    passed = failed = 0
    stand = None
    try:
        stand = Stand(relay, tmp)
        print("selftest: provider %s, relay %s" % (stand.issuer, stand.relay))
        for t in CHECKS:
            t0 = time.monotonic()
            try:
                t(stand)
                passed += 1
                print("ok   %-28s %6.0f ms" % (t.__name__[2:],
                                               (time.monotonic() - t0) * 1e3))
            except Exception as e:  # noqa: BLE001 - report and go on
                failed += 1
                print("FAIL %-28s %s" % (t.__name__[2:], e))
                if VERBOSE or not isinstance(e, Fail):
                    traceback.print_exc()
    except Exception as e:  # noqa: BLE001
        failed += 1
        print("FAIL setup: %s" % e)
    finally:
        if stand:
            stand.stop()
        if failed:
            for name in sorted(os.listdir(tmp)):
                with open(os.path.join(tmp, name), errors="replace") as f:
                    tail = f.readlines()[-25:]
                print("---- %s (last %d lines)" % (name, len(tail)))
                sys.stdout.write("".join(tail))
        if a.keep or failed:
            print("selftest: logs in %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
