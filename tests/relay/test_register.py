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
        u = rt.authorize_url(s)
        u = u + "&pad=" + "x" * (4096 - len(u) - 5)
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
                    state=s, url=base + "client_id=x&state=" + s)
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
            "two equal states": base + "&state=" + s + "&state=" + s,
            "two states": base + "&state=" + s + "&state=" + other,
            "prefixed name": base + "&xstate=" + s,
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
        req = (b"POST /v1/logins HTTP/1.1\r\nHost: relay\r\n"
               b"Content-Type: application/json\r\n"
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
