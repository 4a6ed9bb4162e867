#!/usr/bin/env python3
"""The person's phone, scripted: open the relay's short link, continue to the
provider, sign in, approve (or deny) consent, follow the provider's redirect
back to the relay's /callback and read the confirmation code.

    python3 phone.py LINK --login alice [--password x] [--deny]
                          [--cancel-login] [--wrong-iss [ISS] | --no-iss]

Prints the 6-digit code, CANCELLED for the relay's cancelled page, or DONE
when the relay asks for no code (confirm = no).  Exits 2 with a message on
any unexpected step.  Python 3 standard library only.

As a module: sign_in(link, login, password="x", deny=False) -> str.
"""
import argparse
import html.parser
import http.cookiejar
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 15
MAX_STEPS = 25
WRONG_ISS = "https://attacker.invalid"


class PhoneError(Exception):
    """An unexpected step on the way; the message says which."""


class _Page(html.parser.HTMLParser):
    """Forms (id, action, method, fields) and links (class, href) of a page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self.links = []
        self.ids = {}
        self._form = None
        self._capture = None

    def handle_starttag(self, tag, attrs):
        a = dict((k, v if v is not None else "") for k, v in attrs)
        if tag == "form":
            self._form = {"id": a.get("id", ""), "action": a.get("action", ""),
                          "method": a.get("method", "get").lower(),
                          "fields": []}
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None:
            if a.get("name"):
                self._form["fields"].append(
                    (a["name"], a.get("type", "text").lower(),
                     a.get("value", "")))
        elif tag == "a":
            self.links.append((a.get("class", ""), a.get("href", "")))
        if a.get("id"):
            self._capture = a["id"]
            self.ids.setdefault(a["id"], "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        self._capture = None

    def handle_data(self, data):
        if self._capture is not None:
            self.ids[self._capture] += data

    def form(self, form_id):
        for f in self.forms:
            if f["id"] == form_id:
                return f
        return None


def _parse(text):
    p = _Page()
    p.feed(text)
    p.close()
    return p


class _NoRaise(urllib.request.HTTPErrorProcessor):
    """Hand every response back as it is: redirects are followed by hand."""

    def http_response(self, request, response):
        return response

    https_response = http_response


def _origin(url):
    u = urllib.parse.urlsplit(url)
    return (u.scheme, u.hostname, u.port)


class Phone:
    def __init__(self, verbose=False):
        self.jar = http.cookiejar.CookieJar()
        # No proxies from the environment: everything here is on loopback.
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPCookieProcessor(self.jar), _NoRaise())
        self.verbose = verbose
        self.logins = 0  # login pages this phone signed in at

    def say(self, *msg):
        if self.verbose:
            print("phone:", *msg, file=sys.stderr)

    def fetch(self, url, form=None):
        data = None
        headers = {"User-Agent": "pam_ion-test-phone/1",
                   "Accept": "text/html"}
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        req = urllib.request.Request(url, data=data, headers=headers,
                                     method="POST" if form is not None
                                     else "GET")
        try:
            with self.opener.open(req, timeout=TIMEOUT) as r:
                body = r.read(4 * 1024 * 1024).decode("utf-8", "replace")
                self.say(req.get_method(), url.split("?")[0], "->", r.status)
                return r.status, r.headers, body
        except (urllib.error.URLError, OSError) as e:
            raise PhoneError("%s %s failed: %s" %
                             (req.get_method(), url.split("?")[0], e))

    def sign_in(self, link, login, password="x", deny=False,
                cancel_login=False, iss_override=None, drop_iss=False,
                edit_url=None):
        status, _, body = self.fetch(link)
        if status != 200:
            raise PhoneError("the link %s answered %d" % (link, status))
        hrefs = [h for cls, h in _parse(body).links if "btn" in cls.split()]
        if len(hrefs) != 1:
            raise PhoneError("the landing page has %d continue buttons, "
                             "expected 1" % len(hrefs))
        authorize_url = urllib.parse.urljoin(link, hrefs[0])
        if edit_url is not None:
            # The person changes the link before following it.
            authorize_url = edit_url(authorize_url)
        self.say("continue to", authorize_url.split("?")[0])
        return self.sign_in_url(authorize_url, link, login,
                                password, deny, cancel_login, iss_override,
                                drop_iss)

    def sign_in_url(self, authorize_url, relay, login, password="x",
                    deny=False, cancel_login=False, iss_override=None,
                    drop_iss=False):
        """sign_in from an authorize URL itself (one someone sent the
        person, not through a relay's landing page), until the provider
        redirects to relay (an origin or a URL of it)."""
        provider = _origin(authorize_url)
        relay = _origin(relay)
        url, form = authorize_url, None
        logged_in = consented = False
        for _ in range(MAX_STEPS):
            if _origin(url) == relay:
                if deny and not consented:
                    raise PhoneError("cannot deny: the provider asked for no "
                                     "consent (use --cancel-login)")
                return self._callback(url, iss_override, drop_iss)
            if _origin(url) != provider:
                raise PhoneError("redirected to neither the provider nor the "
                                 "relay: %s" % url.split("?")[0])
            status, headers, body = self.fetch(url, form)
            form = None
            if status in (301, 302, 303, 307, 308):
                loc = headers.get("Location")
                if not loc:
                    raise PhoneError("redirect without Location from %s" %
                                     url.split("?")[0])
                url = urllib.parse.urljoin(url, loc)
                continue
            if status != 200:
                err = _parse(body).ids.get("error", "").strip()
                raise PhoneError("%s answered %d%s" % (
                    url.split("?")[0], status, ": " + err if err else ""))
            page = _parse(body)
            if page.form("login-form") is not None:
                if logged_in:
                    raise PhoneError("sign-in refused for %r: %s" % (
                        login, page.ids.get("error", "").strip() or
                        "the login page came back"))
                if cancel_login:
                    f = page.form("cancel-form")
                    url, form = urllib.parse.urljoin(url, f["action"]), {}
                    self.say("cancel at the login page")
                    continue
                f = page.form("login-form")
                fields = {n: v for n, t, v in f["fields"]}
                fields.update(login=login, password=password)
                url, form = urllib.parse.urljoin(url, f["action"]), fields
                logged_in = True
                self.logins += 1
                self.say("sign in as", login)
                continue
            if page.form("consent-form") is not None:
                if consented:
                    raise PhoneError("the consent page came back")
                consented = True
                f = page.form("deny-form" if deny else "consent-form")
                fields = {n: v for n, t, v in f["fields"]}
                url, form = urllib.parse.urljoin(url, f["action"]), fields
                self.say("deny" if deny else "allow", "at the consent page")
                continue
            err = page.ids.get("error", "").strip()
            raise PhoneError("unexpected page at %s%s" % (
                url.split("?")[0], ": " + err if err else ""))
        raise PhoneError("more than %d steps without reaching the relay" %
                         MAX_STEPS)

    def _callback(self, url, iss_override, drop_iss):
        u = urllib.parse.urlsplit(url)
        q = urllib.parse.parse_qsl(u.query, keep_blank_values=True)
        if iss_override is not None or drop_iss:
            q = [(k, v) for k, v in q if k != "iss"]
            if iss_override is not None:
                q.append(("iss", iss_override))
            url = urllib.parse.urlunsplit(u._replace(
                query=urllib.parse.urlencode(q)))
        status, _, body = self.fetch(url)
        page = _parse(body)
        if status == 200 and "code" in page.ids:
            code = page.ids["code"].strip()
            if not re.fullmatch(r"\d{6}", code):
                raise PhoneError("the relay's code %r is not 6 digits" % code)
            return code
        title = re.search(r"<h1>(.*?)</h1>", body, re.S)
        title = title.group(1).strip() if title else ""
        if status == 200 and "cancelled" in title.lower():
            return "CANCELLED"
        if status == 200 and "terminal" in title.lower():
            return "DONE"
        raise PhoneError("the relay's callback answered %d: %s" %
                         (status, title or body[:200]))


def sign_in_url(authorize_url, relay, login, password="x", deny=False,
                **kw):
    """Sign in starting at AUTHORIZE_URL (no landing page), until the
    provider redirects to RELAY; the same answers as sign_in."""
    verbose = kw.pop("verbose", False)
    return Phone(verbose=verbose).sign_in_url(authorize_url, relay, login,
                                              password, deny, **kw)


def sign_in(link, login, password="x", deny=False, **kw):
    """Sign in on the relay link LINK as LOGIN; returns the 6-digit code,
    "CANCELLED" or "DONE".  Raises PhoneError on anything unexpected."""
    verbose = kw.pop("verbose", False)
    return Phone(verbose=verbose).sign_in(link, login, password, deny, **kw)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("link", help="the relay's short link (the QR code)")
    ap.add_argument("--login", required=True, help="account at the provider")
    ap.add_argument("--password", default="x")
    ap.add_argument("--deny", action="store_true",
                    help="deny at the consent page")
    ap.add_argument("--cancel-login", action="store_true",
                    help="cancel at the login page instead of signing in")
    ap.add_argument("--wrong-iss", nargs="?", const=WRONG_ISS, default=None,
                    metavar="ISS", help="replace the iss of the provider's "
                    "redirect (default %s)" % WRONG_ISS)
    ap.add_argument("--no-iss", action="store_true",
                    help="drop the iss of the provider's redirect")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    try:
        print(sign_in(a.link, a.login, a.password, a.deny,
                      cancel_login=a.cancel_login, iss_override=a.wrong_iss,
                      drop_iss=a.no_iss, verbose=a.verbose))
    except PhoneError as e:
        print("phone: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
