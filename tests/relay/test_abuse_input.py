"""Abuse through input: a callback flood, oversized and repeated parameters,
markup in every echoed field.  The helpers and the checks made at the end
of each case (log free of secrets, exit 0 on SIGTERM) are test_abuse's."""

import json
import os
import re
import threading
import time
import unittest

import relaytest as rt
import test_abuse as ab


# ---------------------------------------------------------------- flood

class CallbackFlood(ab.AbuseCase):
    """10,000 callbacks with random well-formed states on 8 keep-alive
    connections: each one 404 unknown_login, counted; nothing is stored, so
    the relay's memory stays where it was, and real logins keep working
    during and after the flood."""

    N = 10000
    CLIENTS = 8
    TIME_LIMIT = 60.0
    MARK = "FlOoDcOdE"
    # An unknown callback keeps nothing: its page (1.2 KiB) and its
    # parameters are freed when the answer is out, and the 8 connections
    # (12 KiB pool each) were warmed up before the baseline.  Measured:
    # +0.1 MiB.  4 MiB leaves room for the allocator and still catches a
    # leak of 420 bytes a callback (keeping the page would add 11 MiB).
    RSS_LIMIT = 4 * ab.MIB

    def flood(self, n, clients):
        counts, errors = {}, []
        lock = threading.Lock()
        deadline = time.monotonic() + self.TIME_LIMIT

        progress = [0] * clients         # requests answered, per client
        self.progress = progress

        def work(k):
            mine = {}
            c = ab.KeepAlive(self.relay)
            try:
                for _ in range(k, n, clients):
                    if time.monotonic() > deadline:
                        errors.append("out of time")
                        return
                    q = "state=%s&code=%s%s" % (ab.random_state(), self.MARK,
                                                os.urandom(8).hex())
                    st, _, _ = c.request("GET", "/callback?" + q)
                    mine[st] = mine.get(st, 0) + 1
                    progress[k] += 1
            except OSError as e:
                errors.append(repr(e))
            finally:
                c.close()
                with lock:
                    for st, v in mine.items():
                        counts[st] = counts.get(st, 0) + v

        ths = [threading.Thread(target=work, args=(k,), daemon=True)
               for k in range(clients)]
        for t in ths:
            t.start()
        return ths, counts, errors

    def test_callback_flood(self):
        relay = self.relay
        self.secrets.append(self.MARK)
        self.real_login("before")
        # warm the workers and the allocator up
        ths, counts, errors = self.flood(400, self.CLIENTS)
        for t in ths:
            t.join(30)
        self.assertEqual((counts, errors), ({404: 400}, []))
        m0 = relay.metrics()
        rss0 = ab.settle_rss(relay)

        flood = {}

        def mid_flood():
            # with the real login's poll parked: start the flood, and once
            # a quarter of it is sent, register another login and open its
            # link; then the callback and the poll's answer go in mid-flood
            flood["t0"] = time.monotonic()
            flood["run"] = self.flood(self.N, self.CLIENTS)
            deadline = time.monotonic() + self.TIME_LIMIT
            while (sum(self.progress) < self.N // 4
                   and time.monotonic() < deadline):
                time.sleep(0.005)
            t0 = time.monotonic()
            r, other = relay.register()
            self.assertEqual(r.status, 201, r)
            self.secret(other.secret)
            self.assertEqual(relay.get(other.path).status, 200)
            flood["other_login"] = other
            flood["register_landing"] = time.monotonic() - t0

        self.real_login("during", before_callback=mid_flood)
        at_result = sum(self.progress)
        ths, counts, errors = flood["run"]
        t0 = flood["t0"]
        for t in ths:
            t.join(self.TIME_LIMIT + 5)
        elapsed = time.monotonic() - t0
        self.figures["flood_progress_at_result"] = at_result
        self.figures["during.register_landing_ms"] = "%.0f" % (
            flood["register_landing"] * 1000)
        self.assertLess(flood["register_landing"], 2 * ab.STEP_LIMIT)
        self.assertLess(at_result, self.N, "the flood was over before the "
                        "real login's result")
        self.assertFalse(any(t.is_alive() for t in ths), "flood still "
                         "running after %.0f s" % elapsed)
        self.assertEqual(errors, [])
        self.assertEqual(counts, {404: self.N})
        rss1 = ab.settle_rss(relay)
        m1 = relay.metrics()
        rej0, rej1 = m0.rejections(), m1.rejections()
        deltas = {k: rej1[k] - rej0[k] for k in rej0 if rej1[k] != rej0[k]}
        # the real logins made during the flood add no rejection
        self.assertEqual(deltas, {"unknown_login": self.N})
        self.assertEqual(m1.value("pam_ion_relay_callbacks_total")
                         - m0.value("pam_ion_relay_callbacks_total"), 1)
        self.assertEqual(m1.value("pam_ion_relay_registrations_total")
                         - m0.value("pam_ion_relay_registrations_total"), 2)
        # only the second login, not yet called back, is held
        self.assertEqual(m1.value("pam_ion_relay_pending_logins"),
                         m0.value("pam_ion_relay_pending_logins") + 1)
        self.assertEqual(flood["other_login"].poll(0).status, 202)
        self.real_login("after")
        self.figures["flood"] = "%d callbacks in %.2f s (%.0f/s)" % (
            self.N, elapsed, self.N / elapsed)
        self.figures["rss_kib"] = "before %d, after %d (%+d)" % (
            rss0 // 1024, rss1 // 1024, (rss1 - rss0) // 1024)
        self.assertRssGrowth(rss1 - rss0, self.RSS_LIMIT, "10,000 callbacks")
        # the log did not grow with the flood
        self.assertLess(len(relay.log_lines()), 100)


# ---------------------------------------------------------------- oversized

class OversizedAndRepeated(ab.AbuseCase):
    """A 100 KiB callback query and a huge header are refused by
    libmicrohttpd (not counted); repeated callback parameters are 400
    bad_request and do not use up the login; registration bodies over 8192
    bytes are 413 too_large, however they arrive."""

    def refused(self, data, statuses):
        raw, closed = rt.raw_exchange(self.relay.port, data, timeout=5,
                                      host=self.relay.host)
        st = rt.status_of(raw)
        if st is None:
            self.assertTrue(closed, "neither an answer nor a close")
        else:
            self.assertIn(st, statuses, raw[:300])
            self.assertTrue(closed, "the connection stayed open after %d"
                            % st)
        return st

    def test_huge_callback_query(self):
        relay = self.relay
        login = relay.new_login()
        self.secret(login.secret)
        rej0 = self.rejections()
        code = self.secret("BiGcOdE" + "A" * (100 * 1024))
        st = self.refused(("GET /callback?state=%s&code=%s HTTP/1.1\r\n"
                           "Host: relay\r\n\r\n" % (login.state, code))
                          .encode(), (413, 414, 431))
        self.figures["query_100k_status"] = st
        # 3,000 parameters in 100 KiB
        q = "&".join("p%d=%s" % (i, "x" * 28) for i in range(3000))
        self.refused(("GET /callback?state=%s&code=c&%s HTTP/1.1\r\n"
                      "Host: relay\r\n\r\n" % (login.state, q)).encode(),
                     (413, 414, 431))
        self.assertEqual(self.rejections(), rej0, "libmicrohttpd's refusals "
                         "are not the relay's")
        # the login was not touched
        self.assertEqual(relay.get(login.path).status, 200)
        self.assertEqual(login.poll(0).status, 202)
        self.real_login("after_query")

    def test_huge_headers(self):
        relay = self.relay
        rej0 = self.rejections()
        login = relay.new_login()
        self.secret(login.secret)
        for path in ("/callback?state=%s&code=HdRcOdE" % login.state,
                     "/v1/logins/result?wait=1", login.path):
            for size in (16 * 1024, 100 * 1024):
                with self.subTest(path=path[:12], size=size):
                    st = self.refused(
                        ("GET %s HTTP/1.1\r\nHost: relay\r\nX-Big: %s\r\n"
                         "\r\n" % (path, "h" * size)).encode(), (431,))
                    self.assertEqual(st, 431)
        secret, state = rt.new_secret()
        self.secret(secret)
        body = json.dumps({"state": state,
                           "authorize_url": rt.authorize_url(state),
                           "context": rt.default_context()}).encode()
        st = self.refused(b"POST /v1/logins HTTP/1.1\r\nHost: relay\r\n"
                          + rt.KEY_LINE.encode() +
                          b"Content-Type: application/json\r\n"
                          b"Authorization: Bearer " + secret.encode()
                          + b"\r\nX-Big: " + b"h" * (64 * 1024)
                          + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
                          + body, (431,))
        self.assertEqual(st, 431)
        self.assertEqual(self.rejections(), rej0)
        self.assertEqual(login.poll(0).status, 202)
        self.assertEqual(relay.get("/l/" + "A" * 11).status, 404)
        self.real_login("after_headers")

    def test_repeated_callback_parameters(self):
        relay = self.relay
        login = relay.new_login()
        self.secret(login.secret)
        s = login.state
        cases = {
            "state": [("state", s), ("state", s), ("code", "DuPcOdE1")],
            "state, another": [("state", s), ("state", ab.random_state()),
                               ("code", "DuPcOdE2")],
            "code": [("state", s), ("code", "DuPcOdE3"),
                     ("code", "DuPcOdE4")],
            "error": [("state", s), ("error", "access_denied"),
                      ("error", "x")],
            "error_description": [("state", s), ("error", "access_denied"),
                                  ("error_description", "a"),
                                  ("error_description", "b")],
            "iss": [("state", s), ("code", "DuPcOdE5"),
                    ("iss", "https://a.example"), ("iss", "https://b")],
            "33 parameters": [("state", s), ("code", "DuPcOdE6")]
            + [("p%d" % i, "v") for i in range(31)],
        }
        for i in range(1, 7):
            self.secret("DuPcOdE%d" % i)
        rej0 = self.rejections()
        for what, params in cases.items():
            with self.subTest(repeated=what):
                r = relay.callback(params)
                page = self.assertHtml(r, 400)
                self.assertSecurityHeaders(r)
                self.assertIn("bad sign-in response", rt.norm_text(page.text))
        rej = self.rejections()
        self.assertEqual(rej["bad_request"] - rej0["bad_request"], len(cases))
        self.assertEqual({k: rej[k] - rej0[k] for k in rej
                          if k != "bad_request" and rej[k] != rej0[k]}, {})
        # 32 parameters in all are still fine, and the login is intact:
        # none of the refused callbacks stored a result
        self.assertEqual(login.poll(0).status, 202)
        self.assertEqual(relay.get(login.path).status, 200)
        code = self.secret("GoOdCoDe-" + os.urandom(6).hex())
        r = relay.callback([("state", s), ("code", code)]
                           + [("p%d" % i, "v") for i in range(30)])
        self.assertEqual(r.status, 200, r)
        r = login.poll(0)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"code": code})

    def registration(self, size):
        """A well-formed registration padded with JSON whitespace to size
        bytes: (secret, body)."""
        secret, state = rt.new_secret()
        self.secret(secret)
        body = json.dumps({"state": state,
                           "authorize_url": rt.authorize_url(state),
                           "context": rt.default_context()})
        self.assertLess(len(body), size)
        return secret, (body[:-1] + " " * (size - len(body)) + "}").encode()

    def post_raw(self, secret, head_extra, body_bytes):
        return rt.raw_exchange(
            self.relay.port,
            b"POST /v1/logins HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n"
            + rt.KEY_LINE.encode() + b"Content-Type: application/json\r\nAuthorization: Bearer "
            + secret.encode() + b"\r\n" + head_extra + b"\r\n" + body_bytes,
            timeout=5, host=self.relay.host)

    def test_registration_body_limit(self):
        relay = self.relay
        rej0 = self.rejections()
        reg0 = relay.metric("pam_ion_relay_registrations_total")
        # exactly 8192 bytes is allowed
        secret, body = self.registration(8192)
        r = relay.register_raw(body, headers={
            "Authorization": "Bearer " + secret})
        self.assertEqual(r.status, 201, r)
        # 8193 bytes, announced
        secret, body = self.registration(8193)
        r = relay.register_raw(body, headers={
            "Authorization": "Bearer " + secret})
        self.assertJsonError(r, 413, "too_large")
        self.assertSecurityHeaders(r)
        # 8193 bytes, chunked: no length announced
        secret, body = self.registration(8193)
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 1000]),
                                             body[i:i + 1000])
                          for i in range(0, len(body), 1000)) + b"0\r\n\r\n"
        raw, _ = self.post_raw(secret, b"Transfer-Encoding: chunked\r\n",
                               chunks)
        self.assertEqual(rt.status_of(raw), 413, raw[:300])
        # a huge announced length: refused before any body is read
        secret, body = self.registration(1000)
        t0 = time.monotonic()
        raw, _ = self.post_raw(secret, b"Content-Length: 1000000000\r\n",
                               body)
        self.assertEqual(rt.status_of(raw), 413, raw[:300])
        self.assertLess(time.monotonic() - t0, 2)
        rej = self.rejections()
        self.assertEqual(rej["too_large"] - rej0["too_large"], 3)
        self.assertEqual(relay.metric("pam_ion_relay_registrations_total")
                         - reg0, 1)
        self.real_login("after_bodies")


# ---------------------------------------------------------------- markup

XSS = {
    "host": "<script>alert('h')</script>\"'><img src=x onerror=alert(1)>&amp;",
    "user": "\"><script>alert(\"u\")</script><b onmouseover='x'>&lt;",
    "rhost": "'\"><svg onload=alert(3)><a href=javascript:alert(4)>r</a>",
    "service": "<script>s</script>\"'&<iframe src=//e.example>",
}
XSS_ERROR = "<script>alert('e')</script>\"'><img src=x onerror=alert(5)>"
XSS_DESC = "\"><script>alert(\"d\")</script>' onfocus='alert(6)' &amp;&#60;"
# the authorize URL may hold only URL characters: quotes and markup come
# in as escapes, apostrophes and entity-like text as they are
# In scope's value: only pam_ion's parameters are allowed, so names like
# "amp" or "lt" that would read as entities cannot be sent at all.
XSS_URL_SCOPE = ("'%22%3E%3Cscript%3Ealert(7)%3C/script%3E"
                 "+'onmouseover='alert(8)'")

PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "h1",
             "dl", "dt", "dd", "p", "a", "b"}


def escaped_re(value):
    """A regex for value as HTML-escaped text: < > & " always escaped, '
    escaped or not."""
    alt = {"<": "&lt;", ">": "&gt;", "&": "&amp;",
           '"': "(?:&quot;|&#34;|&#x22;)",
           "'": "(?:'|&#39;|&#x27;|&apos;)"}
    return re.compile("".join(alt.get(ch) or re.escape(ch) for ch in value))


class MarkupEscaped(ab.AbuseCase):
    """Script and markup in host, user, rhost, service, the authorize URL's
    query, error and error_description come out only escaped on the
    landing, confirmation and cancelled pages, under the CSP."""

    def assertEscaped(self, r, shown, href=None):
        """shown: values that must appear on the page as text."""
        self.assertHtml(r, 200)
        self.assertSecurityHeaders(r)
        text = r.text
        low = text.lower()
        for bad in ("<script", "<img", "<svg", "<iframe", "<b onmouseover",
                    "<a href=javascript"):
            self.assertNotIn(bad, low)
        page = rt.Page(text)
        links = []
        for tag, attrs in page.tags:
            self.assertIn(tag, PAGE_TAGS, "tag <%s> on the page" % tag)
            for k in attrs:
                self.assertFalse(k.startswith("on"), "attribute %s" % k)
            if tag == "a":
                links.append(attrs)
            allowed = {"a": {"class", "href"}, "meta": {"charset", "name",
                                                        "content"},
                       "html": {"lang"}, "p": {"class", "id"}}.get(tag, set())
            self.assertLessEqual(set(attrs), allowed,
                                 "<%s %r>" % (tag, attrs))
        if href is None:
            self.assertEqual(links, [])
        else:
            # the URL is the whole attribute: no quote broke out of it
            self.assertEqual(links, [{"class": "btn", "href": href}])
            self.assertIsNotNone(escaped_re(href).search(text))
        for value in shown:
            self.assertIn(" ".join(value.split()), page.text,
                          "not shown as text: %r" % value)
            self.assertIsNotNone(escaped_re(value).search(text),
                                 "not escaped as expected: %r" % value)
            self.assertNotIn(value, text)
        return page

    def test_landing_page(self):
        relay = self.relay
        secret, state = rt.new_secret()
        self.secret(secret)
        url = rt.authorize_url(state, scope=XSS_URL_SCOPE)
        r, login = relay.register(state=state, url=url, context=dict(XSS))
        self.assertEqual(r.status, 201, r)
        r = relay.get(login.path)
        self.assertEscaped(r, XSS.values(), href=url)
        # HEAD: same headers, no body
        h = relay.req("HEAD", login.path)
        self.assertEqual(h.status, 200)
        self.assertSecurityHeaders(h)
        self.assertEqual(h.body, b"")

    def test_confirmation_pages(self):
        relay = self.relay
        for confirm in (True, False):
            with self.subTest(confirm=confirm):
                r, login = relay.register(context=dict(XSS), confirm=confirm)
                self.assertEqual(r.status, 201, r)
                self.secret(login.secret)
                code = self.secret("XsScOdE-" + os.urandom(6).hex())
                r = login.callback_code(code, iss="https://a.example/<i>")
                shown = [XSS["host"]] + ([XSS["user"]] if confirm else [])
                self.assertEscaped(r, shown)
                if confirm:
                    self.assertIn(rt.confirmation_code(login.state, code),
                                  r.text)
                # a second callback: the 409 page, also clean
                r = login.callback_code(code)
                self.assertEqual(r.status, 409)
                self.assertSecurityHeaders(r)
                self.assertNotIn("<script", r.text.lower())
                r = login.poll(0)
                self.assertEqual(r.json(), {"code": code,
                                            "iss": "https://a.example/<i>"})

    def test_cancelled_page(self):
        relay = self.relay
        r, login = relay.register(context=dict(XSS))
        self.assertEqual(r.status, 201, r)
        self.secret(login.secret)
        r = relay.callback([("state", login.state), ("error", XSS_ERROR),
                            ("error_description", XSS_DESC)])
        self.assertEscaped(r, [XSS["host"], XSS_ERROR, XSS_DESC])
        self.assertIn("sign-in cancelled", rt.norm_text(rt.Page(r.text).text))
        r = login.poll(0)
        self.assertEqual(r.json(), {"error": XSS_ERROR,
                                    "error_description": XSS_DESC})
        # and the link afterwards: gone, a plain page
        r = relay.get(login.path)
        self.assertEqual(r.status, 404)
        self.assertSecurityHeaders(r)
        self.assertNotIn("<script", r.text.lower())

    def test_real_login_unaffected(self):
        self.real_login("after_markup")


if __name__ == "__main__":
    unittest.main()
