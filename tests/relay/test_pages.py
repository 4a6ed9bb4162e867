"""HTML pages: landing page, callback pages, 404/405, headers everywhere."""

import datetime
import re
import unittest
import urllib.parse

import relaytest as rt

# attributes that could load or navigate to something
URL_ATTRS = {"href", "src", "srcset", "action", "formaction", "data",
             "poster", "background", "xlink:href", "ping", "manifest",
             "codebase", "cite", "longdesc", "lowsrc", "dynsrc"}

NASTY = "q\"1'2<3>4&5"          # every character that must be escaped
AMP_ENTITY = "a&amp;b"          # shows whether '&' is escaped


def utc_minutes(t0, t1):
    out = set()
    t = t0.replace(second=0, microsecond=0)
    while t <= t1:
        out.add(t.strftime("%Y-%m-%d %H:%M UTC"))
        t += datetime.timedelta(minutes=1)
    return out


class PageChecks:
    def assertSafePage(self, r, allowed_href=None):
        """No script, no outside resources, viewport meta, headers."""
        self.assertSecurityHeaders(r)
        low = r.text.lower()
        self.assertNotIn("<script", low)
        self.assertNotIn("javascript:", low)
        self.assertNotIn("url(", low)
        self.assertNotIn("@import", low)
        page = rt.Page(r.text)
        for tag, attrs in page.tags:
            self.assertNotIn(tag, ("script", "link", "img", "iframe", "object",
                                   "embed", "form", "base", "frame",
                                   "video", "audio", "source"), r.text)
            for k, v in attrs.items():
                self.assertFalse(k.startswith("on"),
                                 "event handler %s=%r" % (k, v))
                if k in URL_ATTRS:
                    self.assertEqual((tag, k), ("a", "href"),
                                     "%s %s=%r" % (tag, k, v))
                    self.assertIsNotNone(allowed_href,
                                         "link on a page that has none: %r"
                                         % v)
                    self.assertEqual(v, allowed_href)
            if tag == "meta":
                self.assertNotEqual((attrs.get("http-equiv") or "").lower(),
                                    "refresh")
        self.assertTrue(any(t == "meta" and
                            (a.get("name") or "").lower() == "viewport"
                            for t, a in page.tags),
                        "no <meta name=viewport>")
        return page


class Landing(PageChecks, rt.RelayTestCase):

    def test_content(self):
        t0 = datetime.datetime.now(datetime.timezone.utc)
        ctx = {"host": "build01.example", "service": "sshd", "user": "alice",
               "rhost": "192.0.2.7"}
        login = self.relay.new_login(context=ctx)
        t1 = datetime.datetime.now(datetime.timezone.utc)
        r = self.relay.get(login.path)
        page = self.assertHtml(r, 200)
        self.assertSafePage(r, allowed_href=login.url)
        text = rt.norm_text(page.text)
        self.assertIn("sign in to build01.example as alice", text)
        self.assertIn("requested by pam host host-a.example", text)
        self.assertIn("requested from 192.0.2.7", text)
        self.assertIn("sshd", text)
        # the spec's sentence ends in '.'; a longer sentence is tolerated
        self.assertIn("only continue if you started this sign-in yourself",
                      text)
        times = utc_minutes(t0, t1)
        self.assertTrue(any(("at " + t.lower()) in text for t in times),
                        "no 'at %s' in %r" % (sorted(times), text))
        anchors = [a for a in page.anchors if a[0] == login.url]
        self.assertEqual(len(anchors), 1, page.anchors)
        self.assertIn("a.example", anchors[0][1])

    def test_console_login(self):
        for ctx in ({"host": "kiosk", "service": "login", "user": "bob",
                     "rhost": ""},
                    {"host": "kiosk", "service": "login", "user": "bob"}):
            with self.subTest(ctx=ctx):
                login = self.relay.new_login(context=ctx)
                r = self.relay.get(login.path)
                page = self.assertHtml(r, 200)
                text = rt.norm_text(page.text)
                self.assertIn("sign in to kiosk as bob", text)
                self.assertIn("from this machine's console", text)
                self.assertNotIn("requested from at", text)
                self.assertNotIn("requested from none", text)

    def test_escaping_context(self):
        ctx = {"host": "H" + NASTY, "service": "S" + NASTY,
               "user": "U" + NASTY, "rhost": "R" + NASTY}
        login = self.relay.new_login(context=ctx)
        r = self.relay.get(login.path)
        page = self.assertHtml(r, 200)
        self.assertSafePage(r, allowed_href=login.url)
        for key, val in ctx.items():
            with self.subTest(field=key):
                # shown (decoded text contains it) ...
                self.assertIn(val, page.text)
                # ... and no character of it left raw
                for raw in ('q"1', "1'2", "2<3", "3>4", "4&5"):
                    self.assertNotIn(raw, r.text)

    def test_escaping_script_tag(self):
        ctx = {"host": "<script>alert(1)</script>",
               "service": "<img src=x onerror=alert(2)>",
               "user": "\"><script>alert(3)</script>",
               "rhost": "'><svg onload=alert(4)>"}
        login = self.relay.new_login(context=ctx)
        r = self.relay.get(login.path)
        page = self.assertHtml(r, 200)
        self.assertSafePage(r, allowed_href=login.url)
        for val in ctx.values():
            self.assertIn(val, page.text)
            self.assertNotIn(val, r.text)

    def test_escaping_ampersand(self):
        ctx = {"host": "h" + AMP_ENTITY, "service": "s", "user": AMP_ENTITY,
               "rhost": AMP_ENTITY}
        login = self.relay.new_login(context=ctx)
        r = self.relay.get(login.path)
        page = self.assertHtml(r, 200)
        # unescaped, the browser would show "a&b"
        self.assertIn("h" + AMP_ENTITY, page.text)
        self.assertIn(AMP_ENTITY, page.text.replace("h" + AMP_ENTITY, ""))
        self.assertNotIn("a&b", page.text)

    def test_escaping_authorize_url(self):
        # Only pam_ion's parameters are allowed, so the markup goes into
        # scope's value.
        _, s = rt.new_secret()
        url = rt.authorize_url(s, scope="b='x'<y>\"z\"")
        r0, login = self.relay.register(state=s, url=url)
        if r0.status == 400:
            # refusing such characters is allowed; then try the URL-legal ones
            # (no ';': the relay refuses it in a query)
            url = rt.authorize_url(s, scope="b='x'")
            r0, login = self.relay.register(state=s, url=url)
        self.assertEqual(r0.status, 201, r0)
        r = self.relay.get(login.path)
        page = self.assertHtml(r, 200)
        self.assertSafePage(r, allowed_href=url)
        self.assertNotIn("&scope=", r.text)  # would be "&amp;scope="
        self.assertNotIn("b='x'", r.text)
        self.assertNotIn("<y>", r.text)
        self.assertNotIn('"z"', r.text)
        hrefs = [a[0] for a in page.anchors]
        self.assertEqual(hrefs, [url])

    def test_unicode_context(self):
        ctx = {"host": "h\u00e9\u4e2d", "service": "sudo",
               "user": "j\u00f6rg", "rhost": "r\u00e9"}
        login = self.relay.new_login(context=ctx)
        r = self.relay.get(login.path)
        page = self.assertHtml(r, 200)
        self.assertIn("sign in to h\u00e9\u4e2d as j\u00f6rg",
                      rt.norm_text(page.text))

    def test_unknown_link(self):
        for path in ["/l/AAAAAAAAAAA", "/l/zzzzzzzzzzz", "/l/", "/l/x",
                     "/l/AAAAAAAAAAAA", "/l/%3Cscript%3E"]:
            with self.subTest(path=path):
                r = self.relay.get(path)
                page = self.assertHtml(r, 404)
                self.assertSafePage(r)
                if path != "/l/":
                    self.assertIn("unknown or has expired", rt.norm_text(page.text))
                self.assertNotIn("<script", r.text)

    def test_landing_after_callback_already_used(self):
        login = self.relay.new_login()
        self.assertEqual(login.callback_code("abc").status, 200)
        r = self.relay.get(login.path)
        page = self.assertHtml(r, 409)
        self.assertSafePage(r)
        self.assertIn("already used", rt.norm_text(page.text))

    def test_landing_after_result_is_gone(self):
        login = self.relay.new_login()
        self.assertEqual(login.callback_code("abc-gone").status, 200)
        self.assertEqual(login.poll(0).status, 200)
        r = self.relay.get(login.path)
        self.assertHtml(r, 404)

    def test_landing_twice(self):
        login = self.relay.new_login()
        self.assertEqual(self.relay.get(login.path).status, 200)
        self.assertEqual(self.relay.get(login.path).status, 200)

    def test_wrong_method(self):
        login = self.relay.new_login()
        for m, path in (("POST", login.path), ("DELETE", login.path),
                        ("POST", "/callback?state=" + login.state + "&code=x"),
                        ("PUT", "/callback"),
                        ("POST", "/v1/logins/result"),
                        ("POST", "/healthz"), ("POST", "/metrics")):
            with self.subTest(method=m, path=path):
                r = self.relay.req(m, path)
                self.assertEqual(r.status, 405, r)
                allow = [a.strip().upper() for a in
                         (r.header("Allow") or "").split(",")]
                self.assertIn("GET", allow, r)
                self.assertSecurityHeaders(r)
        # and the login was not touched by the POST to /callback
        self.assertEqual(self.relay.get(login.path).status, 200)

    def test_unknown_path(self):
        for path in ["/", "/nope", "/v1", "/v1/logins/x", "/v2/logins",
                     "/callbackx", "/l", "/%3Cscript%3E?x=<b>"]:
            with self.subTest(path=path):
                r = self.relay.get(path.replace("<", "%3C").replace(">", "%3E"))
                self.assertHtml(r, 404)
                self.assertSafePage(r)


class Callback(PageChecks, rt.RelayTestCase):

    def test_code_page(self):
        login = self.relay.new_login()
        code = "SplxlOBeZQQYbYS6WxSbIA"
        r = login.callback_code(code)
        page = self.assertHtml(r, 200)
        self.assertSafePage(r)
        want = rt.confirmation_code(login.state, code)
        self.assertRegex(r.text, r'<p id="code">%s</p>' % want)
        self.assertEqual(page.ids.get("code"), want)
        self.assertIn("type this code at your terminal",
                      rt.norm_text(page.text))

    def test_code_page_leading_zeros_and_known_vector(self):
        # a fixed vector: computed independently of the relay
        s = "A" * 43
        self.assertEqual(rt.confirmation_code(s, "x"),
                         "%06d" % (int.from_bytes(__import__("hashlib").sha256(
                             b"pam_ion-confirm" + b"A" * 43 + b"x")
                             .digest()[:4], "big") % 1000000))
        # find a code whose confirmation code has a leading zero
        login = self.relay.new_login()
        code = next(c for c in ("c%d" % i for i in range(100000))
                    if rt.confirmation_code(login.state, c).startswith("0"))
        r = login.callback_code(code)
        page = self.assertHtml(r, 200)
        self.assertEqual(page.ids.get("code"),
                         rt.confirmation_code(login.state, code))

    def test_code_percent_decoded(self):
        login = self.relay.new_login()
        code = "a/b=c:d~e.f-g_h"
        r = self.relay.callback("state=%s&code=%s" % (
            login.state, urllib.parse.quote(code, safe="")))
        page = self.assertHtml(r, 200)
        self.assertEqual(page.ids.get("code"),
                         rt.confirmation_code(login.state, code))
        res = login.poll(0)
        self.assertEqual(res.status, 200, res)
        self.assertEqual(res.json(), {"code": code})

    def test_confirm_false(self):
        login = self.relay.new_login(confirm=False)
        r = login.callback_code("xyz")
        page = self.assertHtml(r, 200)
        self.assertSafePage(r)
        self.assertIn("return to your terminal the sign-in to build01.example"
                      " , requested by pam host host-a.example , needs "
                      "nothing more from this phone",
                      rt.norm_text(page.text))
        self.assertNotIn("code", page.ids)
        self.assertNotIn(rt.confirmation_code(login.state, "xyz"), r.text)
        self.assertNotIn("type this code", rt.norm_text(page.text))

    def test_other_params_ignored(self):
        login = self.relay.new_login()
        r = self.relay.callback([("session_state", "abc"),
                                 ("state", login.state), ("code", "k1"),
                                 ("scope", "openid"), ("x", "<b>"),
                                 ("scope", "email"), ("x", "2")])
        page = self.assertHtml(r, 200)
        self.assertEqual(page.ids.get("code"),
                         rt.confirmation_code(login.state, "k1"))

    def test_error_page(self):
        login = self.relay.new_login()
        err = "access_denied<b>'\"&"
        desc = "The user <i>said</i> no & 'left'"
        r = self.relay.callback([("state", login.state), ("error", err),
                                 ("error_description", desc)])
        page = self.assertHtml(r, 200)
        self.assertSafePage(r)
        self.assertIn("cancel", page.text.lower())
        self.assertIn(err, page.text)
        self.assertNotIn("access_denied<b>", r.text)
        self.assertNotIn("<i>said", r.text)
        self.assertNotIn("'\"&", r.text)
        self.assertNotIn("'left'", r.text)
        self.assertNotIn("code", page.ids)
        res = login.poll(0)
        self.assertEqual(res.status, 200)
        self.assertEqual(res.json(), {"error": err,
                                      "error_description": desc})

    def test_unshowable_description_dropped(self):
        # An over-long or control-character description is dropped, not
        # the error itself: the module still learns of it at once.
        for desc in ("d" * 1025, "two\nlines"):
            with self.subTest(desc=desc[:10]):
                login = self.relay.new_login()
                r = self.relay.callback([("state", login.state),
                                         ("error", "access_denied"),
                                         ("error_description", desc)])
                page = self.assertHtml(r, 200)
                self.assertIn("cancel", page.text.lower())
                self.assertNotIn(desc, r.text)
                res = login.poll(0)
                self.assertEqual(res.status, 200)
                self.assertEqual(res.json(), {"error": "access_denied"})

    def test_bad_requests(self):
        login = self.relay.new_login()
        s = login.state
        _, s2 = rt.new_secret()
        cases = {
            "repeated state": [("state", s), ("state", s), ("code", "c")],
            "repeated state differing": [("state", s), ("code", "c"),
                                         ("state", s2)],
            "repeated code": [("state", s), ("code", "c"), ("code", "c")],
            "repeated error": [("state", s), ("error", "e"), ("error", "e")],
            "repeated error_description": [("state", s), ("error", "e"),
                                           ("error_description", "d"),
                                           ("error_description", "d")],
            "repeated iss": [("state", s), ("code", "c"), ("iss", "i"),
                             ("iss", "i")],
            "missing state": [("code", "c")],
            "empty state": [("state", ""), ("code", "c")],
            "short state": [("state", s[:42]), ("code", "c")],
            "long state": [("state", s + "A"), ("code", "c")],
            "bad char state": [("state", s[:42] + "+"), ("code", "c")],
            "both code and error": [("state", s), ("code", "c"),
                                    ("error", "e")],
            "neither": [("state", s)],
            "neither but description": [("state", s),
                                        ("error_description", "d")],
            "empty code": [("state", s), ("code", "")],
            "code 1025": [("state", s), ("code", "c" * 1025)],
            "code control": [("state", s), ("code", "a\x01b")],
            "code DEL": [("state", s), ("code", "a\x7fb")],
            "code newline": [("state", s), ("code", "a\nb")],
            "code non-ASCII": [("state", s), ("code", "caf\u00e9")],
            "empty error": [("state", s), ("error", "")],
            "error 129": [("state", s), ("error", "e" * 129)],
            "error control": [("state", s), ("error", "e\x1b[31m")],
            "iss 1025": [("state", s), ("code", "c"), ("iss", "i" * 1025)],
        }
        all_refused = True
        for name, params in cases.items():
            with self.subTest(case=name):
                r = self.relay.callback(params)
                all_refused = all_refused and r.status == 400
                self.assertHtml(r, 400)
                self.assertSafePage(r)
        if not all_refused:
            return      # a case above was taken: already reported
        # none of them stored a result
        self.assertEqual(login.poll(0).status, 202,
                         "a refused callback stored a result")
        self.assertEqual(login.callback_code("good").status, 200)

    def test_limits_inclusive(self):
        cases = [
            [("code", "c" * 1024)],
            [("code", "~!*()'"), ("iss", "i" * 1024)],
            [("error", "e" * 128), ("error_description", "d" * 1024)],
            [("code", "c!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")],
        ]
        for extra in cases:
            with self.subTest(extra=[(k, len(v)) for k, v in extra]):
                login = self.relay.new_login()
                r = self.relay.callback([("state", login.state)] + extra)
                self.assertHtml(r, 200)
                res = login.poll(0)
                self.assertEqual(res.status, 200)
                self.assertEqual(res.json(), dict(extra))

    def test_unknown_state(self):
        _, s = rt.new_secret()
        r = self.relay.callback([("state", s), ("code", "c")])
        page = self.assertHtml(r, 404)
        self.assertSafePage(r)
        self.assertIn("unknown or expired", rt.norm_text(page.text))

    def test_second_callback(self):
        login = self.relay.new_login()
        self.assertEqual(login.callback_code("first").status, 200)
        for params in ([("state", login.state), ("code", "second")],
                       [("state", login.state), ("error", "access_denied")]):
            with self.subTest(params=params):
                r = self.relay.callback(params)
                page = self.assertHtml(r, 409)
                self.assertSafePage(r)
                self.assertIn("already used", rt.norm_text(page.text))
        # first result wins
        res = login.poll(0)
        self.assertEqual(res.json(), {"code": "first"})
        # then everything is forgotten
        r = self.relay.callback([("state", login.state), ("code", "third")])
        self.assertHtml(r, 404)


class RequestedBy(PageChecks, rt.RelayTestCase):
    """The pages name the client that registered the login, by its name in
    the keys file: proven with its key, unlike the host the module claims,
    so one PAM host cannot pass itself off as another."""

    def dd_after(self, page_text, label):
        return rt.norm_text(page_text).split(label.lower(), 1)[1].split()[0]

    def test_landing_and_code_pages(self):
        relay = self.relay
        for client in (rt.CLIENT_A, rt.CLIENT_B):
            # host-b claims to be host-a.example: the page tells them apart
            ctx = dict(rt.default_context(), host=rt.CLIENT_A.name)
            with self.subTest(client=client.name):
                r, login = relay.register_with(client.key, context=ctx)
                self.assertEqual(r.status, 201, r)
                r = relay.get(login.path)
                page = self.assertHtml(r, 200)
                self.assertSafePage(r, allowed_href=login.url)
                self.assertIn("<dt>Requested by PAM host</dt><dd>%s</dd>"
                              % client.name, r.text)
                self.assertEqual(
                    self.dd_after(page.text, "requested by pam host"),
                    client.name.lower())
                r = login.callback_code("requested-by-" + login.id)
                page = self.assertHtml(r, 200)
                self.assertSafePage(r)
                self.assertIn("requested by pam host %s."
                              % client.name.lower(),
                              rt.norm_text(page.text).replace(" .", "."))
                self.assertIn("<b>%s</b>" % client.name, r.text)

    def test_name_survives_a_reload(self):
        """The login keeps a copy of the name: the pages still say who
        registered it after its line left the keys file."""
        relay = self.relay
        r, login = relay.register_with(rt.CLIENT_B.key, confirm=False)
        self.assertEqual(r.status, 201, r)
        relay.reload(rt.CLIENT_A.line)
        try:
            r = relay.get(login.path)
            self.assertIn("requested by pam host host-b.example",
                          rt.norm_text(self.assertHtml(r, 200).text))
            r = login.callback_code("after-reload")
            self.assertIn("requested by pam host host-b.example",
                          rt.norm_text(self.assertHtml(r, 200).text))
        finally:
            relay.reload(rt.CLIENT_A.line + rt.CLIENT_B.line)

    def test_names_are_plain(self):
        """Names hold [A-Za-z0-9._-] only (the keys file refuses others),
        and are escaped like every other value all the same."""
        relay = self.relay
        odd = rt.Client("a.b_c-D.9")
        relay.reload(rt.CLIENT_A.line + rt.CLIENT_B.line + odd.line)
        try:
            r, login = relay.register_with(odd.key)
            self.assertEqual(r.status, 201, r)
            r = relay.get(login.path)
            self.assertIn("<dd>a.b_c-D.9</dd>", r.text)
        finally:
            relay.reload(rt.CLIENT_A.line + rt.CLIENT_B.line)


class HeadersEverywhere(PageChecks, rt.RelayTestCase):
    """The five security headers on every kind of response."""

    def test_headers(self):
        relay = self.relay
        login = relay.new_login()
        _, unknown_state = rt.new_secret()
        unknown_secret, _ = rt.new_secret()
        responses = {}
        r, _ = relay.register()
        responses["201 register"] = r
        responses["400 register"] = relay.register_raw("nope")
        responses["415 register"] = relay.register_raw("{}", "text/plain")
        responses["409 register"] = relay.register(state=login.state)[0]
        responses["403 register"] = relay.register(
            url="https://evil.example/?state=x")[0]
        responses["405 register"] = relay.get("/v1/logins")
        responses["200 landing"] = relay.get(login.path)
        responses["404 landing"] = relay.get("/l/AAAAAAAAAAA")
        responses["404 path"] = relay.get("/nope")
        responses["401 result"] = relay.poll(None)
        responses["404 result"] = relay.poll(unknown_secret)
        responses["400 result"] = relay.poll(login.secret, "abc")
        responses["202 result"] = relay.poll(login.secret, 0)
        responses["400 callback"] = relay.callback([("state", "x")])
        responses["404 callback"] = relay.callback([("state", unknown_state),
                                                    ("code", "c")])
        responses["200 callback"] = login.callback_code("c")
        responses["409 callback"] = login.callback_code("c")
        responses["409 landing"] = relay.get(login.path)
        responses["200 result"] = relay.poll(login.secret, 0)
        responses["200 healthz"] = relay.get("/healthz")
        responses["200 metrics"] = relay.get("/metrics")
        for name, r in responses.items():
            with self.subTest(response=name):
                self.assertEqual(r.status, int(name.split()[0]), r)
                self.assertSecurityHeaders(r, name)

    def test_json_content_type(self):
        relay = self.relay
        unknown_secret, _ = rt.new_secret()
        for r in (relay.register()[0], relay.register_raw("x"),
                  relay.poll(None), relay.poll(unknown_secret)):
            with self.subTest(status=r.status):
                self.assertEqual(
                    r.header("Content-Type", "").split(";")[0].strip(),
                    "application/json", r)
                r.json()


if __name__ == "__main__":
    unittest.main()
