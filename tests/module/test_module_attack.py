"""The code-transplant and consent-phishing attacks, end to end: the real
pam_ion.so through libpam (pamdrive), the real relay with its client keys,
the stand-in provider, the victim's phone (phone.py) and a scripted
attacker.  Each case says at which step the attack is stopped, and asserts
that step (what the attacker got: HTTP status, page, relay log line) and the
PAM code.

The flow (DESIGN.md): 1 the module makes P, S = H(P), N(S); 2 it registers
S and its authorize URL U_m at the relay with its key K and Bearer P and
gets the short link L; 3 the person opens L (landing page) and signs in at
the provider; 4 the provider redirects to the relay's /callback with state
and code; 5 the module collects the code with K and P; 5b the confirmation
code typed at the terminal; 6 the exchange.

The issue's attack: an attacker starts a login (ssh victim@host), reads U_m
from the landing page, registers a login of their own S_a = H(P_a) at the
relay, has the victim sign in so that the code C lands under S_a, collects
C with P_a, and delivers /callback?state=S_m&code=C to the module's login;
knowing S_m and C, the attacker can compute the confirmation code.  Stopped
at step 2 by the client keys (a) (b), and, for an attacker holding another
host's key, at the callback by the relay's code-reuse rule (c)."""

import hashlib
import os
import re
import shutil
import stat
import tempfile
import threading
import unittest
import urllib.parse

from hostile import (AUTO_LOCAL, Actor, HostileCase, RelayLogin,
                     authorize_url_of, b64, deliver_callback, nonce_of)
from moduletest import (CONSOLE, MODULE_HOST, OTHER_HOST, PAM_AUTH_ERR,
                        PAM_AUTHINFO_UNAVAIL, PAM_SERVICE_ERR, PAM_SUCCESS,
                        PROMPT_CODE, PROMPT_WRONG, Person, _Phone, key_hash)

SHORT = {"login_timeout": "10", "http_timeout": "3"}
CODE_RE = re.compile(r"\d{6}")


def confirm_code(state, code):
    """The confirmation code for state and code, as the module and the
    relay compute it (src/crypto.c ion_confirm_code): the first 4 bytes of
    SHA-256("pam_ion-confirm" || S || C), big-endian, mod 10^6."""
    d = hashlib.sha256(b"pam_ion-confirm" + state.encode() +
                       code.encode()).digest()
    return "%06d" % (int.from_bytes(d[:4], "big") % 1000000)


def page_code(body):
    """The confirmation code a relay page shows (<p id="code">), or None."""
    m = re.search(r'id="code"[^>]*>\s*([0-9 -]+?)\s*<', body or "")
    return m.group(1).replace(" ", "").replace("-", "") if m else None


def with_query(url, **changes):
    """url with query parameters set (a value None removes it); a
    parameter not in url is added at the end."""
    u = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qsl(u.query, keep_blank_values=True)
    out, done = [], set()
    for k, v in q:
        if k in changes:
            if k not in done and changes[k] is not None:
                out.append((k, changes[k]))
            done.add(k)
        else:
            out.append((k, v))
    for k, v in changes.items():
        if k not in done and v is not None:
            out.append((k, v))
    return urllib.parse.urlunsplit(u._replace(
        query=urllib.parse.urlencode(out)))


def random_key():
    return b64(os.urandom(32))


class Attacker(Actor):
    """An Actor whose answers at the terminal come from a function
    (index, prompt text) -> answer or None (None closes the terminal)."""

    def __init__(self, act, typing=None, **kw):
        super().__init__(act, **kw)
        self._typing = typing

    def answer(self, index, text):
        if self._typing is None:
            return super().answer(index, text)
        a = self._typing(index, text)
        if a is not None:
            self.typed.append(a)
        return a


class Attack(HostileCase):

    def setUp(self):
        super().setUp()
        self.log_mark = len(self.relay.log_lines())

    def relay_log_since(self):
        return self.relay.log_lines()[self.log_mark:]

    def assertRelayLogged(self, out, pattern, what):
        lines = self.relay_log_since()
        self.check(out, any(re.search(pattern, ln) for ln in lines),
                   "no relay log line for %s (/%s/); the relay logged:\n%s"
                   % (what, pattern, "\n".join(lines[-20:])))

    def authz(self):
        return self.provider.issuer + "/oauth2/authorize"

    def redirect_uri(self):
        return self.relay.url + "/callback"

    def attacker_login(self, key):
        return RelayLogin(self.relay.url, self.authz(), self.redirect_uri(),
                          key=key)

    # ------------------------------------------------------------ control

    def test_control_sign_in_with_keys(self):
        """Control: with the keys in place a normal sign-in works → 0; the
        relay logged the registration; the phone's confirmation code is
        the function of S and C the attacker tests rely on."""
        s = self.hsetup()
        p = Person()
        out = s.run(p)
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.assertSignedInLog(out, "alice")
        q = p.callback_query
        self.check(out, confirm_code(q["state"], q["code"]) ==
                   p.phone_result, "the confirmation code is not "
                   "f(S, C) as src/crypto.c computes it")
        self.assertRelayLogged(out, r"login \S+ registered by client %s "
                               % MODULE_HOST, "the registration")

    # ------------------------------------------------------------ (a)

    def test_a_issue_attack_no_key(self):
        """(a) The issue's attack verbatim (prompt = enter, confirm =
        yes).  The attacker reads U_m from the landing page and registers
        S_a = H(P_a) with a well-formed authorize URL of their own, but
        holds no relay key: 401 at step 2 — stopped there (S_a is unknown
        to the relay: a callback for it is a 404).  The victim, phished,
        signs in through the module's own link; the attacker at the
        terminal never sees the code and can only type junk → PAM_AUTH_ERR
        after 3 wrong codes, no token request."""
        got = {}

        def act(link):
            u_m, q_m = authorize_url_of(link)
            got["u_m_state"] = q_m.get("state")
            a = self.attacker_login(key=None)
            got["register"] = a.register()
            got["register_copy"] = a.register(authorize_url=with_query(
                u_m, state=a.state))
            got["callback_a"] = deliver_callback(self.relay.url, {
                "state": a.state, "code": "attackers-code",
                "iss": self.provider.issuer})[0]
            got["poll_a"] = a.poll()[0]

        s = self.hsetup()
        p = Attacker(act, login="alice", answers=["{wrong}"] * 3)
        out = s.run(p)
        self.check(out, p.act_error is None, "attacker: %s" % p.act_error)
        self.check(out, got["register"][0] == 401 and
                   got["register_copy"][0] == 401,
                   "registration without a key: %r / %r" % (
                       got["register"], got["register_copy"]))
        self.check(out, got["callback_a"] == 404 and got["poll_a"] == 401,
                   "S_a is known to the relay: callback %r, poll %r" % (
                       got["callback_a"], got["poll_a"]))
        self.check(out, CODE_RE.fullmatch(p.phone_result or "") is not None,
                   "the victim's phone shows no code: %r" % p.phone_result)
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"confirmation code wrong 3 times")
        self.check(out, out.prompts == [PROMPT_CODE, PROMPT_WRONG,
                                        PROMPT_WRONG], "three prompts")
        self.check(out, self.provider.stats()["token"] == 0, "exchanged")
        self.assertRelayLogged(out, r"refused a request to /v1/logins from "
                               r"\S+: no PAM-Ion-Client-Key",
                               "the refused registration")

    # ------------------------------------------------------------ (b)

    def test_b_wrong_key(self):
        """(b) A key the relay does not hold (random; or the hash from the
        keys file, which is all a reader of that file learns; or host2's
        key with a character changed): every registration 401 at step 2,
        and so is every poll."""
        other = self.relay.keys[OTHER_HOST]
        wrong = {
            "random": random_key(),
            "the hash from the keys file": key_hash(other),
            "a character changed": other[:-1] + ("A" if other[-1] != "A"
                                                 else "B"),
            "the name": OTHER_HOST,
            "empty": "",
        }
        for name, key in wrong.items():
            with self.subTest(key=name):
                a = self.attacker_login(key=key)
                st, ans = a.register()
                self.assertEqual(st, 401, "registration with %s: %r" % (
                    name, ans))
                self.assertEqual(a.poll()[0], 401, "poll with " + name)
        # The real host2 key works (the cases above test the key alone).
        a = self.attacker_login(key=other)
        self.assertEqual(a.register()[0], 201)

    def test_b_revoked_key(self):
        """(b) host2's key revoked by rewriting the keys file and SIGHUP:
        a login host2 registered before can no longer be collected (401),
        a new registration is refused (401) at step 2; host1 (kept)
        registers and collects as before.  Then the module's own key
        revoked: its login ends at registration with PAM_SERVICE_ERR."""
        keys = dict(self.relay.keys)
        self.addCleanup(self.relay.set_keys, keys)
        a = self.attacker_login(key=keys[OTHER_HOST])
        self.assertEqual(a.register()[0], 201)
        self.assertEqual(deliver_callback(self.relay.url, {
            "state": a.state, "code": "code-for-a-revoked-host",
            "iss": self.provider.issuer})[0], 200)
        self.relay.set_keys({MODULE_HOST: keys[MODULE_HOST]})
        self.assertEqual(a.poll()[0], 401, "collected with a revoked key")
        b = self.attacker_login(key=keys[OTHER_HOST])
        self.assertEqual(b.register()[0], 401,
                         "registered with a revoked key")
        # host1 still registers and collects.
        h = self.attacker_login(key=keys[MODULE_HOST])
        self.assertEqual(h.register()[0], 201)
        self.assertEqual(deliver_callback(self.relay.url, {
            "state": h.state, "code": "code-for-host1",
            "iss": self.provider.issuer})[0], 200)
        st, ans = h.poll()
        self.assertEqual((st, ans.get("code") if isinstance(ans, dict)
                          else ans), (200, "code-for-host1"))
        # The module's key revoked → PAM_SERVICE_ERR before any QR code.
        self.relay.set_keys({OTHER_HOST: keys[OTHER_HOST]})
        out = self.hsetup().run(Person())
        self.assertFailsClosed(out, PAM_SERVICE_ERR,
                               r"the relay refused this host's relay key",
                               within=5.0)
        self.check(out, out.infos == [] and out.prompts == [],
                   "a QR code with a revoked key")

    # ------------------------------------------------------------ (c)

    def test_c_code_transplant_with_other_hosts_key(self):
        """(c) The attacker HOLDS host2's key.  Registers S_a with a valid
        URL of their own (201), sends the victim U_m with state=S_a
        straight to the provider; the victim signs in (the provider
        redirects to /callback?state=S_a, so the code C lands in the
        attacker's login); the attacker collects C with P_a and host2's
        key (200) and injects /callback?state=S_m&code=C: the relay
        refuses it (409, no confirmation code on the page) — the step the
        code-reuse rule stops.  Had it been accepted, the attacker could
        type f(S_m, C) at the terminal and sign in as the victim.  The
        module's login gets nothing → PAM_AUTHINFO_UNAVAIL at
        login_timeout, no token request."""
        got = {}
        done = threading.Event()

        def act(link):
            try:
                u_m, q_m = authorize_url_of(link)
                got["s_m"] = s_m = q_m["state"]
                a = self.attacker_login(key=self.relay.keys[OTHER_HOST])
                got["register"] = a.register()[0]
                victim = _Phone()
                got["victim"] = victim.sign_in_url(
                    with_query(u_m, state=a.state), self.relay.url,
                    "alice")
                got["victim_state"] = victim.callback_query.get("state")
                st, ans = a.poll(wait=5)
                got["collect"] = st
                c = ans.get("code") if isinstance(ans, dict) else None
                got["code"] = c
                if c:
                    st, body = deliver_callback(self.relay.url, {
                        "state": s_m, "code": c,
                        "iss": self.provider.issuer})
                    got["inject"] = st
                    got["inject_page_code"] = page_code(body)
                    got["confirm"] = confirm_code(s_m, c)
            finally:
                done.set()

        def typing(index, text):
            # What the attacker types once the transplant is done: the
            # confirmation code computed from S_m and C.
            done.wait(30)
            return got.get("confirm") or "000000"

        s = self.hsetup(dict(SHORT, prompt="auto"))
        p = Attacker(act, typing=typing)
        out = s.run(p, timeout=40)
        self.check(out, p.act_error is None, "attacker: %s" % p.act_error)
        self.check(out, got.get("register") == 201,
                   "host2 could not register: %r" % got.get("register"))
        self.check(out, got.get("victim_state") != got.get("s_m"),
                   "the victim's callback came under S_m: %r" % got)
        self.check(out, got.get("collect") == 200 and got.get("code"),
                   "the attacker did not collect C: %r" % got)
        self.check(out, got.get("inject") == 409,
                   "the relay took C under S_m: %r" % got.get("inject"))
        self.check(out, got.get("inject_page_code") is None,
                   "the refusal page shows a confirmation code")
        self.assertFailsClosed(out, PAM_AUTHINFO_UNAVAIL,
                               r"login_timeout reached")
        self.check(out, out.prompts == [], "the module asked for a code")
        self.check(out, self.provider.stats()["token"] == 0, "exchanged")
        self.assertRelayLogged(out, r"refused a callback from \S+: its code "
                               r"was already accepted for another login",
                               "the refused callback")

    # ------------------------------------------------------------ (d)

    def test_d_collect_another_hosts_login(self):
        """(d) host1 registers a login (from here, as the module would)
        and its callback arrives; a poll with the right poll secret but
        host2's key → 404 (a login is collected only with the key that
        registered it), without a key → 401; host1 still gets the result,
        once."""
        h1 = self.attacker_login(key=self.relay.keys[MODULE_HOST])
        self.assertEqual(h1.register()[0], 201)
        self.assertEqual(deliver_callback(self.relay.url, {
            "state": h1.state, "code": "code-of-host1",
            "iss": self.provider.issuer})[0], 200)
        self.assertEqual(h1.poll(key=self.relay.keys[OTHER_HOST])[0], 404,
                         "another host's key collected the login")
        self.assertEqual(h1.poll(key=None)[0], 401, "no key")
        st, ans = h1.poll()
        self.assertEqual(st, 200)
        self.assertEqual(ans.get("code"), "code-of-host1")
        self.assertEqual(h1.poll()[0], 404, "collected twice")
        # And a state host1 registered cannot be registered by host2.
        h2 = RelayLogin(self.relay.url, self.authz(), self.redirect_uri(),
                        key=self.relay.keys[OTHER_HOST])
        h2.secret, h2.state = h1.secret, h1.state
        self.assertIn(h2.register()[0], (403, 409))

    # ------------------------------------------------------------ (e)

    def test_e_changed_state_or_nonce(self):
        """(e) With a valid key (host2), the transplant's registrations are
        refused at step 2: the module's U_m copied under S_a (state is
        S_m) → 403 state_mismatch; U_m with state changed to S_a (nonce
        still N(S_m)) → 403 nonce_mismatch; the attacker's own URL with
        another nonce → 403 nonce_mismatch, with a second state → 403
        url_not_allowed (the relay takes each parameter once).  Nobody
        signs in: the module's login ends at login_timeout (9)."""
        got = {}

        def act(link):
            u_m, q_m = authorize_url_of(link)
            a = self.attacker_login(key=self.relay.keys[OTHER_HOST])
            got["copy"] = a.register(authorize_url=u_m)
            got["state_changed"] = a.register(
                authorize_url=with_query(u_m, state=a.state))
            got["nonce_changed"] = a.register(authorize_url=with_query(
                a.authorize_url, nonce=nonce_of(q_m["state"])))
            got["two_states"] = a.register(
                authorize_url=a.authorize_url + "&state=" + q_m["state"])
            got["own"] = a.register()

        s = self.hsetup(dict(SHORT, prompt="auto"))
        p = Actor(act)
        out = s.run(p, timeout=40)
        self.check(out, p.act_error is None, "attacker: %s" % p.act_error)
        want = {"copy": (403, "state_mismatch"),
                "state_changed": (403, "nonce_mismatch"),
                "nonce_changed": (403, "nonce_mismatch"),
                "two_states": (403, "url_not_allowed")}
        for k, (st, err) in want.items():
            status, ans = got.get(k, (None, None))
            self.check(out, status == st and isinstance(ans, dict) and
                       ans.get("error") == err,
                       "%s: expected %d %s, got %r %r" % (k, st, err,
                                                          status, ans))
        self.check(out, got.get("own", (None,))[0] == 201,
                   "the attacker's own well-formed login: %r" %
                   (got.get("own"),))
        self.assertFailsClosed(out, PAM_AUTHINFO_UNAVAIL,
                               r"login_timeout reached")

    # ------------------------------------------------------------ (f)

    def remote_no_confirm(self, note, **who):
        """prompt = auto, confirm = no, but the login is not at a local
        terminal: the victim signs in, the module asks for the confirmation
        code anyway (the phone shows one), the attacker types wrong codes →
        PAM_AUTH_ERR after 3, no token request; the log line ends in
        "(confirm = no not honoured: NOTE)"."""
        s = self.hsetup({"prompt": "auto", "confirm": "no"})
        p = Person(login="alice", answers=["{wrong}"] * 3)
        out = s.run(p, **who)
        self.check(out, CODE_RE.fullmatch(p.phone_result or "") is not None,
                   "the phone shows no code (the relay was told confirm = "
                   "no): %r" % p.phone_result)
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"confirmation code wrong 3 times")
        self.check(out, out.prompts == [PROMPT_CODE, PROMPT_WRONG,
                                        PROMPT_WRONG], "three prompts")
        self.check(out, out.first("PROMPT") >= p.callback_at,
                   "asked before the phone was done")
        self.check(out, self.provider.stats()["token"] == 0, "exchanged")
        self.check(out, out.logs[0]["text"].endswith(
            " (confirm = no not honoured: %s)" % note),
                   "the log line does not say why confirm = no was "
                   "overruled (%s)" % note)
        return out

    def test_f_confirm_no_with_rhost(self):
        """(f) confirm = no is not honoured with PAM_RHOST set (sshd, which
        also sets PAM_TTY "ssh"): the step stopped is 5b, the confirmation
        code."""
        self.remote_no_confirm("remote, PAM_RHOST set",
                               rhost="198.51.100.7", tty="ssh")

    def test_f_confirm_no_with_rhost_and_console(self):
        """(f) PAM_RHOST outweighs a console PAM_TTY (login -h, telnetd)."""
        self.remote_no_confirm("remote, PAM_RHOST set",
                               rhost="198.51.100.7", tty=CONSOLE)

    def test_f_confirm_no_with_ruser(self):
        """(f) The same with PAM_RUSER only (su, sudo), even on the
        console."""
        self.remote_no_confirm("PAM_RUSER set", rhost=None,
                               ruser="mallory", tty=CONSOLE)

    def test_f_confirm_no_without_tty(self):
        """(f) Neither PAM_RHOST nor PAM_RUSER nor PAM_TTY (a web console
        or a daemon that sets none): nothing says the person is at the
        machine, so the code is asked for."""
        self.remote_no_confirm("not a local terminal, no PAM_TTY",
                               rhost=None)

    def test_f_confirm_no_on_pts(self):
        """(f) PAM_TTY a pseudo-terminal (what ssh, su, sudo and terminal
        emulators use): asked."""
        self.remote_no_confirm(
            "not a local terminal, PAM_TTY '/dev/pts/0'",
            rhost=None, tty="/dev/pts/0")

    def test_f_confirm_no_tty_ssh(self):
        """(f) PAM_TTY "ssh" (sshd's) without PAM_RHOST: asked."""
        self.remote_no_confirm("not a local terminal, PAM_TTY 'ssh'",
                               rhost=None, tty="ssh")

    def test_f_confirm_no_enter_with_rhost(self):
        """(f) prompt = enter, confirm = no, PAM_RHOST set: the prompt asks
        for the code (not 'press Enter'); Enter alone, then junk, are not
        the code → PAM_AUTH_ERR."""
        s = self.hsetup({"prompt": "enter", "confirm": "no"})
        p = Person(login="alice", sign_in_at=0,
                   answers=["{wrong}", "{wrong}", "{wrong}"])
        out = s.run(p)
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"confirmation code wrong 3 times")
        self.check(out, out.prompts[0] == PROMPT_CODE,
                   "the first prompt is %r" % out.prompts[0])

    def local_without_confirm(self, tty):
        """confirm = no at a local terminal → PAM_SUCCESS without any
        prompt, the phone shows no code, the log line has no note."""
        s = self.hsetup(AUTO_LOCAL)
        p = Person(answers=[])
        out = s.run(p, rhost=None, tty=tty)
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.check(out, out.prompts == [], "a prompt")
        self.check(out, p.phone_result == "DONE", "phone: %r" %
                   p.phone_result)
        text = self.assertSignedInLog(out, "alice")
        self.check(out, "not honoured" not in text, "a note in the log")

    def test_f_control_local_without_confirm(self):
        """(f) Control: neither PAM_RHOST nor PAM_RUSER, PAM_TTY the first
        virtual console (login(1), gdm) and /dev/tty1 the real device
        (4, 1), confirm = no → honoured."""
        self.local_without_confirm(CONSOLE)

    def test_f_confirm_no_on_x_display(self):
        """(f) PAM_TTY ":0" or ":1" without PAM_RHOST: an X display is as
        much an Xvnc or x11vnc login screen (LightDM's VNC server), which a
        viewer anywhere reaches, as the monitor on the desk: asked."""
        self.remote_no_confirm("not a local terminal, PAM_TTY ':0'",
                               rhost=None, tty=":0")
        self.remote_no_confirm("not a local terminal, PAM_TTY ':1'",
                               rhost=None, tty=":1")

    def container_console(self):
        """A pseudo-terminal node (136, 0) to bind over a console device,
        as an LXC-style container's /dev has one (lxc-console, a web
        console).  Made in a directory of the test's; the bind is made in
        pamdrive's mount namespace only, so the real /dev never changes."""
        if self.stack.syslog.mode != "namespace":
            self.skipTest("needs mount namespaces (the bind is private)")
        d = tempfile.mkdtemp(prefix="pam-ion-pts.")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "pts0")
        try:
            os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(136, 0))
        except OSError as e:
            self.skipTest("cannot mknod a device: %s" % e)
        return path

    def test_f_confirm_no_container_tty1(self):
        """(f) PAM_TTY "/dev/tty1" with neither PAM_RHOST nor PAM_RUSER,
        but /dev/tty1 is a pseudo-terminal bind-mounted in place (a
        container's console, in pamdrive's mount namespace only): the name
        is right, the device is not → asked."""
        pts = self.container_console()
        self.remote_no_confirm(
            "not a local terminal, PAM_TTY '/dev/tty1' is not the console "
            "device", rhost=None, tty=CONSOLE, dev_binds=[(pts, "tty1")])

    def test_f_confirm_no_container_console(self):
        """(f) The same for PAM_TTY "console" over /dev/console."""
        pts = self.container_console()
        self.remote_no_confirm(
            "not a local terminal, PAM_TTY 'console' is not the console "
            "device", rhost=None, tty="console",
            dev_binds=[(pts, "console")])

    def test_f_control_console_device_without_confirm(self):
        """(f) Control: PAM_TTY "/dev/console", the real device (5, 1) →
        honoured."""
        self.local_without_confirm("/dev/console")

    # ------------------------------------------------------------ (g)

    def par(self, mode):
        self.provider.set_par(mode)
        self.addCleanup(self.provider.set_par, "off")

    def assertParUrl(self, out, url):
        q = urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query,
                                   keep_blank_values=True)
        self.check(out, sorted(k for k, _ in q) == ["client_id",
                                                    "request_uri"] and
                   url.startswith(self.authz() + "?"),
                   "the registered URL is not a bare PAR URL: %s" % url)

    def test_g_par_sign_in(self):
        """(g) PAR offered (par = auto, the default): discovery names the
        endpoint; a normal sign-in → 0; the module pushed the request
        (client_secret_basic, its state and N(S)); the registered
        authorize URL carries only client_id and request_uri."""
        self.par("on")
        doc = self.provider.discovery()
        self.assertEqual(doc.get("pushed_authorization_request_endpoint"),
                         self.provider.issuer + "/oauth2/par")
        seen = {}

        def act(link):
            seen["url"], _ = authorize_url_of(link)

        s = self.hsetup()
        p = Attacker(act, login="alice", answers=["{code}"])
        out = s.run(p)
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.assertSignedInLog(out, "alice")
        self.assertParUrl(out, seen.get("url", ""))
        st = self.provider.stats()
        self.check(out, st["par"] == 1 and len(st["par_requests"]) == 1,
                   "pushed requests: %r" % st["par_requests"])
        pr = st["par_requests"][0]
        state = p.callback_query.get("state")
        self.check(out, pr["auth"] == "client_secret_basic" and
                   pr["state"] == state and pr["nonce"] == nonce_of(state)
                   and pr["has_code_challenge"] and
                   pr["code_challenge_method"] == "S256",
                   "the pushed request %r" % pr)
        self.check(out, all(sorted(a) == ["client_id", "request_uri"]
                            for a in st["authorize_requests"]),
                   "authorize requests %r" % st["authorize_requests"])

    def test_g_par_state_added_by_attacker(self):
        """(g) PAR on.  The attacker (host2's key) takes U_m (a bare PAR
        URL); the relay refuses it with state=S_a and nonce N(S_a) added
        (403 url_not_allowed: a PAR URL carries nothing else) and bare
        under S_a too (409 request_uri_reused: one pushed request, one
        login, so no landing page of the attacker's own can front the
        module's request).  The attacker sends the victim U_m with
        state=S_a (and nonce N(S_a)) added, straight to the provider: the
        provider takes the pushed request, so the victim's callback lands
        on S_m, never on S_a; the attacker's poll gets nothing (202).
        The victim's code is on the victim's phone; the attacker types
        junk → PAM_AUTH_ERR after 3 wrong codes."""
        self.par("on")
        got = {}
        done = threading.Event()

        def act(link):
            try:
                u_m, q_m = authorize_url_of(link)
                got["u_m"] = u_m
                a1 = self.attacker_login(key=self.relay.keys[OTHER_HOST])
                added = with_query(u_m, state=a1.state, nonce=a1.nonce)
                # A URL with request_uri is a PAR URL: nothing but
                # client_id and request_uri (the provider would ignore
                # the rest anyway).
                got["register_added"] = a1.register(authorize_url=added)
                a2 = self.attacker_login(key=self.relay.keys[OTHER_HOST])
                got["register_bare"] = a2.register(authorize_url=u_m)
                victim = _Phone()
                got["victim"] = victim.sign_in_url(added, self.relay.url,
                                                   "alice")
                got["victim_state"] = victim.callback_query.get("state")
                got["s_a"] = (a1.state, a2.state)
                got["poll_a"] = (a1.poll(wait=1)[0], a2.poll(wait=1)[0])
            finally:
                done.set()

        def typing(index, text):
            done.wait(30)
            return "%06d" % (123456 + index)

        s = self.hsetup()
        p = Attacker(act, typing=typing)
        out = s.run(p)
        self.check(out, p.act_error is None, "attacker: %s" % p.act_error)
        self.assertParUrl(out, got.get("u_m", ""))
        st_added, ans_added = got.get("register_added", (None, None))
        self.check(out, st_added == 403 and isinstance(ans_added, dict) and
                   ans_added.get("error") == "url_not_allowed",
                   "a PAR URL with state and nonce added: %r %r" % (
                       st_added, ans_added))
        st_bare, ans_bare = got.get("register_bare", (None, None))
        self.check(out, st_bare == 409 and isinstance(ans_bare, dict) and
                   ans_bare.get("error") == "request_uri_reused",
                   "the module's pushed request under S_a: %r %r" % (
                       st_bare, ans_bare))
        self.check(out, got.get("victim_state") is not None and
                   got.get("victim_state") not in got.get("s_a", ()),
                   "the victim's callback came under S_a (or none): %r" %
                   got)
        self.check(out, CODE_RE.fullmatch(got.get("victim") or "")
                   is not None, "the victim's phone: %r" % got.get("victim"))
        self.check(out, all(st in (202, 404)
                            for st in got.get("poll_a", (None,))),
                   "the attacker's polls got %r" % (got.get("poll_a"),))
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"confirmation code wrong 3 times")
        self.check(out, self.provider.stats()["token"] == 0, "exchanged")

    def test_g_par_required_module_off(self):
        """(g) PAR required at the provider, the module's par = off: the
        provider refuses the plain request (error=invalid_request to the
        callback) → PAM_AUTH_ERR, no token request."""
        self.par("required")
        self.assertTrue(self.provider.discovery().get(
            "require_pushed_authorization_requests"))
        s = self.hsetup({"par": "off", "prompt": "auto"})
        p = Person(answers=[])
        out = s.run(p)
        self.check(out, p.callback_query.get("error") == "invalid_request",
                   "callback %r" % p.callback_query)
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"the provider answered with an error")
        self.check(out, self.provider.stats()["token"] == 0, "exchanged")

    def test_g_par_required_module_auto(self):
        """(g) PAR required at the provider, par = auto → 0 (the module
        pushes)."""
        self.par("required")
        out = self.hsetup().run(Person())
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.check(out, self.provider.stats()["par"] == 1, "not pushed")

    def test_g_module_par_required_no_endpoint(self):
        """(g) par = required, the provider offers no PAR endpoint →
        PAM_AUTH_ERR before any QR code or authorization request."""
        self.assertNotIn("pushed_authorization_request_endpoint",
                         self.provider.discovery())
        out = self.hsetup({"par": "required"}).run(Person())
        self.assertFailsClosed(out, PAM_AUTH_ERR, r".", within=5.0)
        self.check(out, out.infos == [] and out.prompts == [],
                   "a QR code without PAR")
        st = self.provider.stats()
        self.check(out, st["authorize"] == 0 and st["par"] == 0,
                   "requests: %r" % {k: st[k] for k in ("authorize",
                                                         "par")})

    def test_g_par_on_module_off(self):
        """(g) PAR offered, the module's par = off: a plain authorization
        request (state in the URL) → 0; nothing pushed."""
        self.par("on")
        out = self.hsetup({"par": "off"}).run(Person())
        self.assertResult(out, PAM_SUCCESS, user="alice")
        st = self.provider.stats()
        self.check(out, st["par"] == 0 and "state" in
                   st["authorize_requests"][0], "requests %r" % st)

    # ------------------------------------------------------------ (h)

    def test_h_callback_without_iss(self):
        """(h) RFC 9207: the provider advertises
        authorization_response_iss_parameter_supported and sends iss; a
        callback without it (the phone drops it) → PAM_AUTH_ERR before the
        exchange."""
        self.assertIs(self.provider.discovery().get(
            "authorization_response_iss_parameter_supported"), True)
        p = Person(drop_iss=True)
        out = self.hsetup().run(p)
        self.check(out, "iss" not in p.callback_query and
                   p.callback_query.get("code"), "callback %r" %
                   p.callback_query)
        self.assertFailsClosed(out, PAM_AUTH_ERR, r".*\biss\b")
        self.check(out, self.provider.stats()["token"] == 0, "exchanged")

    def test_h_attacker_injects_without_iss(self):
        """(h) Someone who sees the screen reads S_m and injects a code
        without iss before the victim's callback comes; the module's
        login (a local kiosk, confirm = no, so nothing else stands in the
        way) → PAM_AUTH_ERR, no token request."""
        def act(link):
            _, q = authorize_url_of(link)
            return deliver_callback(self.relay.url, {
                "state": q["state"], "code": "injected-without-iss"})[0]

        s = self.hsetup(AUTO_LOCAL)
        p = Actor(act)
        out = s.run(p, rhost=None, tty=CONSOLE)
        self.check(out, p.act_error is None and p.act_result == 200,
                   "injection: %r %r" % (p.act_result, p.act_error))
        self.assertFailsClosed(out, PAM_AUTH_ERR, r".*\biss\b")
        self.check(out, self.provider.stats()["token"] == 0, "exchanged")

    def test_h_control_no_iss_not_advertised(self):
        """(h) Control: discovery does not advertise
        authorization_response_iss_parameter_supported, the callback has
        no iss → 0 (iss is required only when advertised)."""
        self.provider.misbehave({"endpoint": "discovery", "json": {
            "authorization_response_iss_parameter_supported": None}})
        p = Person(drop_iss=True)
        out = self.hsetup().run(p)
        self.assertResult(out, PAM_SUCCESS, user="alice")


if __name__ == "__main__":
    unittest.main()
