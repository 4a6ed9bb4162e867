"""POST /v1/logins: every row of the spec."""

import base64
import json
import re
import unittest
import urllib.parse

import relaytest as rt

PREFIX_C = "https://c.example"              # a prefix without a path
PREFIX_LOOP = "http://127.0.0.1:9/oauth2"   # http to loopback


def body(state, url, context=None, **extra):
    d = {"state": state, "authorize_url": url,
         "context": rt.default_context() if context is None else context}
    d.update(extra)
    return json.dumps(d)


class Register(rt.RelayTestCase):
    prefixes = (rt.PREFIX, PREFIX_C, PREFIX_LOOP)

    # -------------------------------------------------------------- success

    def assertCreated(self, r, login=None):
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.header("Content-Type", "").split(";")[0].strip(),
                         "application/json", r)
        self.assertSecurityHeaders(r)
        doc = r.json()
        self.assertEqual(set(doc), {"link", "expires_in"}, doc)
        link = doc["link"]
        self.assertIsInstance(link, str)
        self.assertLessEqual(len(link), 60, link)
        self.assertTrue(link.startswith(rt.PUBLIC_URL + "/l/"), link)
        self.assertRegex(link[len(rt.PUBLIC_URL + "/l/"):],
                         r"\A[A-Za-z0-9_-]{11}\Z")
        self.assertIs(type(doc["expires_in"]), int, doc)
        self.assertEqual(doc["expires_in"], 300, doc)
        return doc

    def test_created(self):
        r, login = self.relay.register()
        doc = self.assertCreated(r)
        # the link works
        page = self.relay.get(login.path)
        self.assertEqual(page.status, 200, page)

    def test_links_differ(self):
        links = set()
        for _ in range(20):
            r, _ = self.relay.register()
            links.add(self.assertCreated(r)["link"])
        self.assertEqual(len(links), 20)
        # each id is the canonical base64url of 8 bytes (64 random bits)
        for link in links:
            lid = link.rsplit("/", 1)[1]
            raw = base64.urlsafe_b64decode(lid + "=")
            self.assertEqual(len(raw), 8)
            self.assertEqual(rt.b64url(raw), lid)

    def test_content_type_with_parameters(self):
        for ct in ["application/json; charset=utf-8",
                   "application/json;charset=UTF-8"]:
            with self.subTest(ct=ct):
                _, s = rt.new_secret()
                r = self.relay.register_raw(body(s, rt.authorize_url(s)),
                                            content_type=ct)
                self.assertCreated(r)

    def test_optional_fields(self):
        cases = [
            {"host": "h", "service": "s"},
            {"host": "h", "service": "s", "user": "", "rhost": ""},
            {"host": "h" * 255, "service": "s" * 64, "user": "u" * 256,
             "rhost": "r" * 255},
            {"host": "h\u00e9\u4e2d", "service": "sudo",
             "user": "j\u00f6rg", "rhost": "\U0001F600"},
        ]
        for ctx in cases:
            with self.subTest(ctx=ctx):
                r, _ = self.relay.register(context=ctx)
                self.assertCreated(r)
        for confirm in (True, False):
            with self.subTest(confirm=confirm):
                r, _ = self.relay.register(confirm=confirm)
                self.assertCreated(r)

    def test_body_whitespace_up_to_8192(self):
        _, s = rt.new_secret()
        b = body(s, rt.authorize_url(s))
        b = b[:-1] + " " * (8192 - len(b)) + "}"
        self.assertEqual(len(b), 8192)
        self.assertCreated(self.relay.register_raw(b))

    def test_authorize_url_4096(self):
        _, s = rt.new_secret()
        u = rt.authorize_url(s, scope="openid+")
        u = rt.authorize_url(s, scope="openid+" + "x" * (4096 - len(u)))
        self.assertEqual(len(u), 4096)
        r, _ = self.relay.register(state=s, url=u)
        self.assertCreated(r)

    # -------------------------------------------------------------- 400

    def test_not_json_or_not_object(self):
        _, s = rt.new_secret()
        good = body(s, rt.authorize_url(s))
        for b in ["", "not json", "[]", "\"str\"", "null", "42", "{",
                  good + " x", good + good, "{'state': 1}"]:
            with self.subTest(body=b[:40]):
                self.assertJsonError(self.relay.register_raw(b), 400,
                                     "bad_request")

    def test_invalid_utf8(self):
        _, s = rt.new_secret()
        b = body(s, rt.authorize_url(s),
                 {"host": "h", "service": "s", "user": "UUUU"}).encode()
        b = b.replace(b"UUUU", b"\xff\xfe")
        self.assertJsonError(self.relay.register_raw(b), 400, "bad_request")
        b2 = body(s, rt.authorize_url(s),
                  {"host": "h", "service": "s", "user": "UUUU"})
        b2 = b2.replace("UUUU", "\\ud800")
        self.assertJsonError(self.relay.register_raw(b2), 400,
                             "bad_request")

    def test_duplicate_keys(self):
        _, s = rt.new_secret()
        u = rt.authorize_url(s)
        ctx = json.dumps(rt.default_context())
        for b in [
            '{"state": "%s", "state": "%s", "authorize_url": "%s", '
            '"context": %s}' % (s, s, u, ctx),
            '{"state": "%s", "authorize_url": "%s", "authorize_url": "%s", '
            '"context": %s}' % (s, u, u, ctx),
            '{"state": "%s", "authorize_url": "%s", "context": %s, '
            '"context": %s}' % (s, u, ctx, ctx),
            '{"state": "%s", "authorize_url": "%s", "confirm": true, '
            '"confirm": true, "context": %s}' % (s, u, ctx),
            '{"state": "%s", "authorize_url": "%s", "context": '
            '{"host": "h", "host": "h", "service": "s"}}' % (s, u),
        ]:
            with self.subTest(body=b[-70:]):
                self.assertJsonError(self.relay.register_raw(b), 400,
                                     "bad_request")
        # and the state is still free afterwards
        r, _ = self.relay.register(state=s, url=u)
        self.assertCreated(r)

    def test_unknown_keys(self):
        r, _ = self.relay.register(extra={"redirect": "https://evil.example"})
        self.assertJsonError(r, 400, "bad_request")
        ctx = dict(rt.default_context(), tty="pts/1")
        r, _ = self.relay.register(context=ctx)
        self.assertJsonError(r, 400, "bad_request")

    def test_missing_keys(self):
        r, _ = self.relay.register(drop=["authorize_url"])
        self.assertJsonError(r, 400, "bad_request")
        r, _ = self.relay.register(drop=["context"])
        self.assertJsonError(r, 400, "bad_request")
        r, _ = self.relay.register(drop=["state"])
        self.assertJsonError(r, 400, ("bad_request", "bad_state"))
        for drop in ("host", "service"):
            ctx = rt.default_context()
            del ctx[drop]
            with self.subTest(missing=drop):
                r, _ = self.relay.register(context=ctx)
                self.assertJsonError(r, 400, "bad_request")

    def test_wrong_types(self):
        _, s = rt.new_secret()
        u = rt.authorize_url(s)
        cases = [
            ("authorize_url", 5), ("authorize_url", None),
            ("authorize_url", [u]),
            ("context", "host"), ("context", []), ("context", None),
            ("confirm", "true"), ("confirm", 1), ("confirm", None),
        ]
        for key, val in cases:
            with self.subTest(key=key, val=val):
                r, _ = self.relay.register(extra={key: val})
                self.assertJsonError(r, 400, "bad_request")
        for key, val in [("state", 42), ("state", None), ("state", [s])]:
            with self.subTest(key=key, val=val):
                r, _ = self.relay.register(extra={key: val})
                self.assertJsonError(r, 400, ("bad_request", "bad_state"))
        for key in ("host", "service", "user", "rhost"):
            for val in (1, None, True, ["x"], {"a": "b"}):
                with self.subTest(ctx_key=key, val=val):
                    ctx = dict(rt.default_context())
                    ctx[key] = val
                    r, _ = self.relay.register(context=ctx)
                    self.assertJsonError(r, 400, "bad_request")

    def test_bad_state_formats(self):
        _, s = rt.new_secret()
        for bad in [s[:42], s + "A", s[:42] + "+", s[:42] + "/",
                    s[:42] + "=", s[:41] + "==", "", s[:42] + " ",
                    s[:42] + "\u00e9", "A" * 64]:
            with self.subTest(state=bad):
                url = rt.authorize_url(urllib.parse.quote(bad, safe=""))
                r, _ = self.relay.register(state=bad, url=url)
                self.assertJsonError(r, 400, "bad_state")

    def test_context_caps(self):
        cases = [("host", "h" * 256), ("host", ""), ("service", "s" * 65),
                 ("service", ""), ("user", "u" * 257), ("rhost", "r" * 256)]
        for key, val in cases:
            with self.subTest(key=key, len=len(val)):
                ctx = dict(rt.default_context())
                ctx[key] = val
                r, _ = self.relay.register(context=ctx)
                self.assertJsonError(r, 400, "bad_request")

    def test_context_control_characters(self):
        for key in ("host", "service", "user", "rhost"):
            for ch in ("\x00", "\x01", "\t", "\n", "\r", "\x1b", "\x7f"):
                with self.subTest(key=key, ch=repr(ch)):
                    ctx = dict(rt.default_context())
                    ctx[key] = "ab" + ch + "cd"
                    r, _ = self.relay.register(context=ctx)
                    self.assertJsonError(r, 400, "bad_request")

    def test_context_c1_control_characters(self):
        # U+0080..U+009F are control characters (Unicode category Cc) too
        for key in ("host", "service", "user", "rhost"):
            for ch in ("\u0085", "\u009b"):
                with self.subTest(key=key, ch=repr(ch)):
                    ctx = dict(rt.default_context())
                    ctx[key] = "ab" + ch + "cd"
                    r, _ = self.relay.register(context=ctx)
                    self.assertJsonError(r, 400, "bad_request")

    def test_context_invisible_characters(self):
        # zero-width characters, line/paragraph separators, the BOM and
        # tag characters could make a name read as another
        chars = ["\u200b", "\u200c", "\u200d", "\u2028", "\u2029",
                 "\ufeff", "\U000e0000", "\U000e0041", "\U000e007f"]
        for key in ("host", "service", "user", "rhost"):
            for ch in chars:
                for ascii_only in (True, False):
                    with self.subTest(key=key, ch=ascii(ch),
                                      escaped=ascii_only):
                        ctx = dict(rt.default_context())
                        ctx[key] = "ro" + ch + "ot"
                        _, s = rt.new_secret()
                        b = json.dumps(
                            {"state": s, "authorize_url": rt.authorize_url(s),
                             "context": ctx}, ensure_ascii=ascii_only)
                        r = self.relay.register_raw(b)
                        self.assertJsonError(r, 400, "bad_request")
        # their neighbours are fine: the ranges are exact
        for ch in ("\u200a", "\u2027", "\u202f", "\u2030", "\ufffd",
                   "\u00e9"):
            with self.subTest(ok=ascii(ch)):
                ctx = dict(rt.default_context(), user="a" + ch + "b")
                r, _ = self.relay.register(context=ctx)
                self.assertCreated(r)

    def test_malformed_authorize_url(self):
        _, s = rt.new_secret()
        u = rt.authorize_url(s)
        long_u = u + "&pad=" + "x" * (4097 - len(u) - 5)
        self.assertEqual(len(long_u), 4097)
        for bad in [long_u, u + "&x=a b", u + "#frag", u.replace("&", "\t&", 1),
                    u + "&x=\x01", u + "&x=\x7f"]:
            with self.subTest(url=bad[:80] + "..." + bad[-20:]):
                r, _ = self.relay.register(state=s, url=bad)
                self.assertJsonError(r, 400, "bad_request")

    # -------------------------------------------------------------- 403

    def test_prefix_boundary_allowed(self):
        ok = [
            "https://a.example/oauth2/authorize?",
            "https://a.example/oauth2?",
            "https://A.EXAMPLE/oauth2/authorize?",
            "https://a.Example/oauth2/x/y?",
            "HTTPS://a.example/oauth2/authorize?",
            "https://c.example/?",
            "https://c.example/anything/else?",
            "https://c.example?",
            "http://127.0.0.1:9/oauth2/authorize?",
        ]
        for base in ok:
            with self.subTest(url=base):
                _, s = rt.new_secret()
                r, _ = self.relay.register(
                    state=s, url=base + "client_id=x&state=" + s
                    + "&nonce=" + rt.nonce_of_state(s))
                self.assertCreated(r)

    def test_prefix_boundary_refused(self):
        bad = [
            "https://a.example/oauth2x?",
            "https://a.example/oauth2x/authorize?",
            "https://a.example/oauth?",
            "https://a.example/OAUTH2/authorize?",
            "https://a.example/?",
            "https://a.example.evil/oauth2/authorize?",
            "https://a.example.evil.example/oauth2/authorize?",
            "https://a.example:444/oauth2/authorize?",
            "http://a.example/oauth2/authorize?",
            "https://user@a.example/oauth2/authorize?",
            "https://a.example@evil.example/oauth2/authorize?",
            "https://user:pw@a.example/oauth2/authorize?",
            "https://evil.example/oauth2/authorize?u=https://a.example/oauth2&",
            "https://evil.example/https://a.example/oauth2/authorize?",
            "https://c.example.evil/?",
            "https://c.examplex/?",
            "https://c.example:8443/?",
            "https://xc.example/?",
            "http://127.0.0.1:10/oauth2/authorize?",
            "http://127.0.0.1/oauth2/authorize?",
            "https://127.0.0.1:9/oauth2/authorize?",
            "http://localhost:9/oauth2/authorize?",
        ]
        for base in bad:
            with self.subTest(url=base):
                _, s = rt.new_secret()
                r, _ = self.relay.register(
                    state=s, url=base + "client_id=x&state=" + s)
                self.assertJsonError(r, 403, "url_not_allowed")
        # refused either as malformed (400) or as not allowed (403)
        for base in ["https://a.example:443x/oauth2/authorize?",
                     "ftp://a.example/oauth2/authorize?",
                     "javascript:alert(1)//https://a.example/oauth2/?",
                     "https:/a.example/oauth2/authorize?",
                     "//a.example/oauth2/authorize?",
                     "https://a.example\\@evil.example/oauth2/authorize?"]:
            with self.subTest(url=base):
                _, s = rt.new_secret()
                r, _ = self.relay.register(
                    state=s, url=base + "client_id=x&state=" + s)
                self.assertIn(r.status, (400, 403), r)
                self.assertJsonError(r, r.status,
                                     ("bad_request", "url_not_allowed"))
        r, _ = self.relay.register(state="", url="")
        self.assertIn(r.status, (400, 403), r)

    def test_state_mismatch(self):
        s_secret, s = rt.new_secret()
        _, other = rt.new_secret()
        base = rt.PREFIX + "/authorize?client_id=x"
        cases = {
            "no state": base,
            "no query": rt.PREFIX + "/authorize",
            "other state": base + "&state=" + other,
            "state in path": rt.PREFIX + "/state=" + s + "?client_id=x",
            "empty state": base + "&state=",
            "state prefix of S": base + "&state=" + s[:42],
            "state longer": base + "&state=" + s + "A",
        }
        for name, url in cases.items():
            with self.subTest(case=name):
                r, _ = self.relay.register(state=s, url=url)
                self.assertJsonError(r, 403, "state_mismatch")
        # nothing above registered S
        r, _ = self.relay.register(state=s)
        self.assertCreated(r)

    # -------------------------------------------------------------- 401

    def assertUnauthorized(self, r):
        self.assertJsonError(r, 401, "unauthorized")
        www = r.header("WWW-Authenticate")
        self.assertIsNotNone(www, r)
        self.assertRegex(www, r"\ABearer\b", r)
        self.assertSecurityHeaders(r)

    def test_no_bearer(self):
        # only the holder of the poll secret registers its state
        secret, s = rt.new_secret()
        r, _ = self.relay.register(state=s, bearer="")
        self.assertUnauthorized(r)
        # register_raw with headers={} sends no Authorization either
        r = self.relay.register_raw(body(s, rt.authorize_url(s)), headers={})
        self.assertUnauthorized(r)
        # nothing was registered: the holder still can
        r, _ = self.relay.register(state=s)
        self.assertCreated(r)

    def test_malformed_bearer(self):
        secret, s = rt.new_secret()
        cases = {
            "empty": "",
            "scheme only": "Bearer",
            "scheme and space": "Bearer ",
            "no scheme": secret,
            "basic": "Basic " + secret,
            "two spaces": "Bearer  " + secret,
            "42 chars": "Bearer " + secret[:42],
            "44 chars": "Bearer " + secret + "A",
            "padded": "Bearer " + secret + "=",
            "plus": "Bearer " + secret[:42] + "+",
            "trailing token": "Bearer " + secret + " x",
        }
        for name, value in cases.items():
            with self.subTest(case=name):
                h = {"Authorization": value} if value else {}
                r = self.relay.register_raw(body(s, rt.authorize_url(s)),
                                            headers=h)
                self.assertUnauthorized(r)
        # the scheme is case-insensitive
        r = self.relay.register_raw(
            body(s, rt.authorize_url(s)),
            headers={"Authorization": "bEARER " + secret})
        self.assertCreated(r)

    def test_bad_state_checked_before_bearer(self):
        # a malformed state is a malformed request, with or without secret
        secret, s = rt.new_secret()
        for bad in (s[:42], s[:42] + "+", "A" * 64):
            for bearer in ("", secret):
                with self.subTest(state=bad, bearer=bool(bearer)):
                    r, _ = self.relay.register(
                        state=bad, url=rt.authorize_url(bad), bearer=bearer)
                    self.assertJsonError(r, 400, "bad_state")
                    self.assertIsNone(r.header("WWW-Authenticate"), r)

    def test_bearer_checked_before_the_rest(self):
        # without the secret nothing else about the body is judged
        _, s = rt.new_secret()
        cases = {
            "bad context": dict(context={"host": "h"}),
            "url not allowed": dict(
                url="https://evil.example/a?state=" + s),
            "state mismatch": dict(url=rt.PREFIX + "/a?x=1"),
            "no nonce": dict(url=rt.PREFIX + "/a?state=" + s),
        }
        for name, kw in cases.items():
            with self.subTest(case=name):
                r, _ = self.relay.register(state=s, bearer="", **kw)
                self.assertUnauthorized(r)

    # -------------------------------------------------------------- 403

    def test_another_secret(self):
        # a well-formed secret whose SHA-256 is another state
        secret, s = rt.new_secret()
        other_secret, other = rt.new_secret()
        r, _ = self.relay.register(state=s, bearer=other_secret)
        self.assertJsonError(r, 403, "state_mismatch")
        self.assertIsNone(r.header("WWW-Authenticate"), r)
        self.assertSecurityHeaders(r)
        # the state itself (seen on a screen) is no secret either
        r, _ = self.relay.register(state=s, bearer=s)
        self.assertJsonError(r, 403, "state_mismatch")
        # neither state got registered
        r, _ = self.relay.register(state=s)
        self.assertCreated(r)
        r, _ = self.relay.register(state=other)
        self.assertCreated(r)

    def test_nonce_mismatch(self):
        _, s = rt.new_secret()
        _, other = rt.new_secret()
        n = rt.nonce_of_state(s)
        base = (rt.PREFIX + "/authorize?client_id=x&state=" + s)
        cases = {
            "no nonce": base,
            "empty nonce": base + "&nonce=",
            "bare nonce": base + "&nonce",
            "constant": base + "&nonce=n0nce",
            "another state's nonce": base + "&nonce="
            + rt.nonce_of_state(other),
            "the state as nonce": base + "&nonce=" + s,
            "SHA-256 of S without the label": base + "&nonce="
            + rt.state_of_raw(s.encode("ascii")),
            "last character changed": base + "&nonce=" + n[:42]
            + ("A" if n[42] != "A" else "B"),
            "longer": base + "&nonce=" + n + "A",
            "nonce in path": rt.PREFIX + "/nonce=" + n + "?state=" + s,
        }
        for name, url in cases.items():
            with self.subTest(case=name):
                r, _ = self.relay.register(state=s, url=url)
                self.assertJsonError(r, 403, "nonce_mismatch")
                self.assertSecurityHeaders(r)
        # the state is checked first
        r, _ = self.relay.register(
            state=s, url=rt.PREFIX + "/authorize?nonce=" + n)
        self.assertJsonError(r, 403, "state_mismatch")
        # nothing above registered S; the nonce may come first, encoded
        r, _ = self.relay.register(
            state=s, url=rt.PREFIX + "/authorize?n%6Fnce=" + n
            + "&client_id=x&state=" + s)
        self.assertCreated(r)

    def test_only_the_module_parameters(self):
        """The parameters pam_ion sends, and no others, each at most once,
        names matched exactly after decoding: some providers (ASP.NET)
        read names in any case, and would honour "Request_Uri" or
        "STATE" beside the state the relay checked.  Of the access rules'
        requests, prompt only as login (never none), max_age only as a
        number up to a year and acr_values only as printable ASCII words,
        as pam_ion sends them."""
        _, s = rt.new_secret()
        _, other = rt.new_secret()
        n = rt.nonce_of_state(s)
        q = urllib.parse.quote
        u = rt.authorize_url(s)
        cases = {
            "Request_Uri": u + "&Request_Uri=https://evil.example/ro.jwt",
            "Request_Uri escaped": u + "&Request_Uri="
            + q("https://evil.example/ro.jwt", safe=""),
            "REQUEST": u + "&REQUEST=x",
            "STATE before state": u.replace("state=", "STATE=x&state=", 1),
            "STATE after state": u + "&STATE=" + other,
            "Nonce beside nonce": u + "&Nonce=" + rt.nonce_of_state(other),
            "NONCE twice the same": u + "&NONCE=" + n,
            "unknown name": u + "&foo=1",
            "prompt=none (a sign-in that shows nothing)": u + "&prompt=none",
            "prompt=consent": u + "&prompt=consent",
            "prompt=login twice": u + "&prompt=login&prompt=login",
            "prompt login and consent": u + "&prompt=login%20consent",
            "Prompt": u + "&Prompt=login",
            "max_age not digits": u + "&max_age=-1",
            "max_age empty": u + "&max_age=",
            "max_age 11 digits": u + "&max_age=12345678901",
            "max_age over a year": u + "&max_age=31536001",
            "max_age leading zero": u + "&max_age=0300",
            "max_age zeros": u + "&max_age=0000000000",
            "acr_values empty": u + "&acr_values=",
            "acr_values quote": u + "&acr_values=a%22b",
            "acr_values backslash": u + "&acr_values=a%5Cb",
            "acr_values not ASCII": u + "&acr_values=caf%C3%A9",
            "acr_values two spaces": u + "&acr_values=a%20%20b",
            "acr_values leading space": u + "&acr_values=%20a",
            "acr_values idp: and a space": u + "&acr_values=idp%3Aevil%20",
            "max_age with a space": u + "&max_age=0%20",
            "two acr_values": u + "&acr_values=a&acr_values=b",
            "LF in acr_values": u + "&acr_values=a%0a",
            "login_hint": u + "&login_hint=root",
            "response_mode": u + "&response_mode=form_post",
            "Client_Id": u + "&Client_Id=other",
            "NUL in a name": u + "&request%00=1",
            "NUL after state": u + "&state%00=x",
            "empty name": u + "&=x",
            "prefixed name": u + "&xstate=" + s,
            "long s": u + "&%C5%BFtate=x",
            "two equal states": u + "&state=" + s,
            "two states": u + "&state=" + other,
            "encoded second state": u + "&st%61te=" + s,
            "two equal nonces": u + "&nonce=" + n,
            "two nonces": u + "&nonce=x",
            "encoded second nonce": u + "&n%6Fnce=" + n,
            "two scopes": u + "&scope=openid",
            "two redirect_uris": u + "&redirect_uri=https%3A%2F%2Fe.example",
            "two response_types": u + "&response_type=token",
            "two code_challenges": u + "&code_challenge=x",
            "LF in state": rt.authorize_url(s).replace(
                "state=" + s, "state=" + s + "%0a"),
            "LF in scope": rt.authorize_url(s, scope="openid%0aprofile"),
            "CR in scope": rt.authorize_url(s, scope="openid%0D"),
            "NUL in scope": rt.authorize_url(s, scope="openid%00"),
            "TAB in scope": rt.authorize_url(s, scope="openid%09profile"),
            "DEL in scope": rt.authorize_url(s, scope="openid%7f"),
            "C1 in scope": rt.authorize_url(s, scope="openid%C2%85"),
            "space in a name": u + "&state%20=x",
        }
        for name, url in cases.items():
            with self.subTest(case=name):
                r, _ = self.relay.register(state=s, url=url)
                doc = self.assertJsonError(r, 403, "url_not_allowed")
                desc = doc["error_description"]
                # the rule, not the name that broke it
                for word in ("Request_Uri", "REQUEST", "STATE", "foo",
                             "none", "xstate"):
                    self.assertNotIn(word, desc)
        # a space in a value is a value's: the state is then not S
        for url in (u.replace("state=" + s, "state=" + s + "%20"),
                    u.replace("state=" + s, "state=" + s + "+")):
            with self.subTest(url=url):
                r, _ = self.relay.register(state=s, url=url)
                self.assertJsonError(r, 403, "state_mismatch")
        # none of the above registered S; the module's own URL does, with
        # scope's spaces as '+' (pam_ion), %20 or a mix, and empty parts
        for url in (u,
                    # the access rules' requests, as pam_ion sends them
                    u + "&acr_values=urn%3Aion%3Amfa+gold&max_age=0"
                    "&prompt=login",
                    u + "&max_age=31536000",
                    u + "&max_age=7&acr_values=a%20b",
                    rt.authorize_url(s, scope="openid%20profile%20email"),
                    rt.authorize_url(s, scope="openid+profile%20email"),
                    rt.PREFIX + "/authorize?&state=" + s + "&&nonce=" + n
                    + "&"):
            with self.subTest(accepted=url):
                _, s2 = rt.new_secret()
                url = url.replace(s, s2).replace(n, rt.nonce_of_state(s2))
                r, _ = self.relay.register(state=s2, url=url)
                self.assertCreated(r)
        r, _ = self.relay.register(state=s, url=u)
        self.assertCreated(r)

    def test_code_transplant_refused(self):
        """The module registers S with U.  An attacker registers S' with
        U' = U with the state swapped: U' still carries the nonce f(S), and
        is refused.  The attacker's own URL must carry f(S'), so a code the
        victim obtains through it is bound to S' and fails the module's
        nonce check for S."""
        _, s = rt.new_secret()
        module = self.relay.new_login(state=s)
        _, s2 = rt.new_secret()
        u2 = module.url.replace("state=" + s, "state=" + s2)
        self.assertNotEqual(u2, module.url)
        self.assertIn("nonce=" + rt.nonce_of_state(s), u2)
        r, _ = self.relay.register(state=s2, url=u2)
        self.assertJsonError(r, 403, "nonce_mismatch")
        # U under S' unchanged: the state parameter gives it away
        r, _ = self.relay.register(state=s2, url=module.url)
        self.assertJsonError(r, 403, "state_mismatch")
        # S' with a URL of its own: fine, but its nonce is f(S'), not f(S)
        r, attacker = self.relay.register(state=s2)
        self.assertCreated(r)
        self.assertIn("nonce=" + rt.nonce_of_state(s2), attacker.url)
        self.assertNotEqual(rt.nonce_of_state(s2), rt.nonce_of_state(s))
        page = rt.Page(self.relay.get(attacker.path).text)
        hrefs = [h for h, _ in page.anchors if h and h.startswith(rt.PREFIX)]
        self.assertEqual(len(hrefs), 1, page.anchors)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(hrefs[0]).query)
        self.assertEqual(q["nonce"], [rt.nonce_of_state(s2)])
        self.assertEqual(q["state"], [s2])
        # every registration the relay took carries f(its own state)
        for login in (module, attacker):
            page = rt.Page(self.relay.get(login.path).text)
            href = [h for h, _ in page.anchors
                    if h and h.startswith(rt.PREFIX)][0]
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(href).query)
            self.assertEqual(q["nonce"], [rt.nonce_of_state(q["state"][0])])
        # the module's login is untouched
        self.assertEqual(module.poll(0).status, 202)

    def test_path_hardening(self):
        refused = [
            "/authorize;x",
            "/authorize/..;/x",
            "/authorize/.;/x",
            "/;jsessionid=1/authorize",
            "/%252e%252e/authorize",
            "/%252e",
            "/%25",
            "/%c0%ae%c0%ae/authorize",
            "/%C0%AE/authorize",
            "/%c0%af",
            "/%80",
            "/%ff",
            "/caf%c3%a9",
        ]
        for path in refused:
            with self.subTest(path=path):
                _, s = rt.new_secret()
                r, _ = self.relay.register(
                    state=s, url=rt.authorize_url(s, path=path))
                self.assertJsonError(r, 403, "url_not_allowed")
                self.assertSecurityHeaders(r)
        for path in ("/%zz", "/a%2g", "/a%"):
            with self.subTest(path=path):
                _, s = rt.new_secret()
                r, _ = self.relay.register(
                    state=s, url=rt.authorize_url(s, path=path))
                self.assertJsonError(r, 400, "bad_request")
        # in the query's values they are the provider's business
        _, s = rt.new_secret()
        r, _ = self.relay.register(state=s, url=rt.authorize_url(
            s, scope="%25+x%3By+%c0%ae+..%3B/"))
        self.assertCreated(r)
        # but not ';': some servers split parameters at it
        for extra in ("&b=x;y", "&d=..;/", "&x=1;nonce=other", ";"):
            with self.subTest(query_extra=extra):
                _, s = rt.new_secret()
                r, _ = self.relay.register(
                    state=s, url=rt.authorize_url(s, extra=extra))
                doc = self.assertJsonError(r, 403, "url_not_allowed")
                self.assertIn("';'", doc["error_description"])
        # and escapes of other ASCII characters stay allowed in the path
        _, s = rt.new_secret()
        r, _ = self.relay.register(
            state=s, url=rt.authorize_url(s, path="/auth%7Eorize%20x"))
        self.assertCreated(r)

    # -------------------------------------------------------------- 409

    def test_duplicate_state(self):
        secret, s = rt.new_secret()
        r, _ = self.relay.register(state=s)
        self.assertCreated(r)
        r2, _ = self.relay.register(state=s)
        self.assertJsonError(r2, 409, "state_exists")
        self.assertSecurityHeaders(r2)
        # also with a different URL and context
        r3, _ = self.relay.register(
            state=s, url=rt.authorize_url(s, path="/other"),
            context={"host": "x", "service": "y"})
        self.assertJsonError(r3, 409, "state_exists")

    # -------------------------------------------------------------- 413/415

    def test_body_too_large(self):
        _, s = rt.new_secret()
        b = body(s, rt.authorize_url(s))
        b1 = b[:-1] + " " * (8193 - len(b)) + "}"
        self.assertEqual(len(b1), 8193)
        for big in (b1, b[:-1] + " " * 100000 + "}"):
            with self.subTest(size=len(big)):
                try:
                    r = self.relay.register_raw(big)
                except (ConnectionResetError, BrokenPipeError) as e:
                    self.fail("connection dropped instead of 413: %r" % e)
                self.assertJsonError(r, 413, "too_large")
                self.assertSecurityHeaders(r)
        # not registered
        r, _ = self.relay.register(state=s)
        self.assertCreated(r)

    def chunked(self, payload, chunk=1000):
        state = json.loads(payload).get("state")
        auth = b""
        if state in rt.SECRETS:
            auth = b"Authorization: Bearer %s\r\n" % rt.SECRETS[state].encode()
        req = (b"POST /v1/logins HTTP/1.1\r\nHost: relay\r\n"
               + rt.KEY_LINE.encode() +
               b"Content-Type: application/json\r\n" + auth +
               b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        for i in range(0, len(payload), chunk):
            part = payload[i:i + chunk]
            req += b"%x\r\n%s\r\n" % (len(part), part)
        req += b"0\r\n\r\n"
        raw, _ = rt.raw_exchange(self.relay.port, req, host=self.relay.host)
        return raw

    def test_chunked_body(self):
        _, s = rt.new_secret()
        b = body(s, rt.authorize_url(s)).encode()
        raw = self.chunked(b)
        self.assertEqual(rt.status_of(raw), 201, raw[:300])
        # a chunked body past 8192 bytes is refused like any other
        _, s2 = rt.new_secret()
        b2 = body(s2, rt.authorize_url(s2)).encode()
        b2 = b2[:-1] + b" " * (9000 - len(b2)) + b"}"
        raw = self.chunked(b2)
        self.assertEqual(rt.status_of(raw), 413, raw[:300])
        self.assertIn(b'"too_large"', raw)
        r, _ = self.relay.register(state=s2)
        self.assertCreated(r)

    def test_deep_nesting(self):
        _, s = rt.new_secret()
        for depth in (100, 3500):
            with self.subTest(depth=depth):
                b = body(s, rt.authorize_url(s))
                b = b[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}"
                self.assertLessEqual(len(b), 8192)
                self.assertJsonError(self.relay.register_raw(b), 400,
                                     "bad_request")
                ctx = ('{"host": ' + "[" * depth + "]" * depth
                       + ', "service": "s"}')
                b = ('{"state": "%s", "authorize_url": "%s", "context": %s}'
                     % (s, rt.authorize_url(s), ctx))
                self.assertJsonError(self.relay.register_raw(b), 400,
                                     "bad_request")
        self.assertEqual(self.relay.get("/healthz").status, 200)

    def test_unsupported_media_type(self):
        _, s = rt.new_secret()
        b = body(s, rt.authorize_url(s))
        for ct in [None, "text/plain", "application/x-www-form-urlencoded",
                   "application/jsonx", "application/json-seq",
                   "text/json", "multipart/form-data; boundary=x"]:
            with self.subTest(ct=ct):
                r = self.relay.register_raw(b, content_type=ct)
                self.assertJsonError(r, 415, "unsupported_media_type")
                self.assertSecurityHeaders(r)

    # -------------------------------------------------------------- 405

    def test_wrong_method(self):
        for m in ("GET", "PUT", "DELETE"):
            with self.subTest(method=m):
                r = self.relay.req(m, "/v1/logins")
                self.assertEqual(r.status, 405, r)
                allow = [a.strip().upper() for a in
                         (r.header("Allow") or "").split(",")]
                self.assertIn("POST", allow, r)
                self.assertSecurityHeaders(r)


class ReRegister(rt.RelayTestCase):
    """A state whose login is collected can be registered again only by the
    holder of its poll secret -- the module.  A third party who saw S on a
    screen cannot, so no later poll of the module gets a second result."""

    PENDING = "pam_ion_relay_pending_logins"

    def collect(self, login, code):
        pending = self.relay.metric(self.PENDING)
        self.assertEqual(login.callback_code(code).status, 200)
        r = login.poll(0)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"code": code})
        # the login is forgotten once the answer went out whole
        self.assertEqual(self.relay.wait_metric(self.PENDING, pending - 1, 3),
                         pending - 1)

    def test_collected_state_needs_its_secret(self):
        secret, s = rt.new_secret()
        login = self.relay.new_login(state=s)
        # while it is pending, a third party learns nothing either
        r, _ = self.relay.register(state=s, bearer="")
        self.assertJsonError(r, 401, "unauthorized")
        self.collect(login, "first")
        # without the secret: 401; with another secret: 403
        r, _ = self.relay.register(state=s, bearer="")
        self.assertJsonError(r, 401, "unauthorized")
        other_secret, _ = rt.new_secret()
        r, _ = self.relay.register(state=s, bearer=other_secret)
        self.assertJsonError(r, 403, "state_mismatch")
        # so a callback with S finds nothing, and the poll gets no result
        self.assertEqual(login.callback_code("second").status, 404)
        self.assertJsonError(login.poll(0), 404, "unknown_login")
        # the secret's holder may start over with it (the module does not,
        # it makes a new secret for every sign-in)
        r, again = self.relay.register(state=s)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(again.secret, secret)
        self.assertEqual(again.poll(0).status, 202)


class RegisterPublicUrlWithPath(rt.RelayTestCase):
    """A trailing '/' on --public-url is dropped; a path is kept."""
    public_url = "https://relay.example/ion/"

    def test_link(self):
        r, _ = self.relay.register()
        self.assertEqual(r.status, 201, r)
        link = r.json()["link"]
        self.assertRegex(link,
                         r"\Ahttps://relay\.example/ion/l/[A-Za-z0-9_-]{11}\Z")


class RegisterLongestPublicUrl(rt.RelayTestCase):
    """A 46-character public URL gives 60-character links."""
    public_url = "https://" + "r" * 30 + ".example"

    def test_link_is_60(self):
        self.assertEqual(len(self.public_url), 46)
        r, _ = self.relay.register()
        self.assertEqual(r.status, 201, r)
        link = r.json()["link"]
        self.assertEqual(len(link), 60, link)
        self.assertTrue(link.startswith(self.public_url + "/l/"), link)


class RegisterTtl(rt.RelayTestCase):
    relay_args = ("--ttl", "120")

    def test_expires_in_is_ttl(self):
        r, _ = self.relay.register()
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["expires_in"], 120)


class RegisterFull(rt.RelayTestCase):
    relay_args = ("--max-pending", "2")

    def test_full(self):
        a = self.relay.new_login()
        self.relay.new_login()
        r, _ = self.relay.register()
        self.assertJsonError(r, 503, "full")
        self.assertSecurityHeaders(r)
        ra = r.header("Retry-After")
        self.assertIsNotNone(ra, r)
        self.assertRegex(ra, r"\A[0-9]+\Z")
        self.assertGreaterEqual(int(ra), 1)
        # a delivered login frees its place
        self.assertEqual(a.callback_code("c0de").status, 200)
        self.assertEqual(a.poll(0).status, 200)
        r, _ = self.relay.register()
        self.assertEqual(r.status, 201, r)
        r, _ = self.relay.register()
        self.assertJsonError(r, 503, "full")


if __name__ == "__main__":
    unittest.main()
