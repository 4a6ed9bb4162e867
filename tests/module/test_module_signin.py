"""The conversation: the QR code and the link, the confirmation code and its
forms, wrong codes, answers before signing in or after login_timeout,
prompt = auto / enter with and without confirm, a denial at the provider,
and the QR renderings.

confirm defaults to yes whatever prompt is; confirm = no is honoured only
for a login at a local terminal (neither PAM_RHOST nor PAM_RUSER, PAM_TTY a
console whose device is the real one; never an X display): the cases
without a confirmation code run with rhost=None, tty=CONSOLE.  That it is not honoured elsewhere is in
test_module_attack.py."""

import re
import unittest

from moduletest import (CONSOLE, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL, PAM_SUCCESS,
                        PROMPT_AGAIN_CODE, PROMPT_CODE, PROMPT_ENTER,
                        PROMPT_WRONG, RELAY_TTL, VALID_RE, ModuleTestCase,
                        Person, decode_qr, is_qr_line, link_in, qr_modules)


class SignIn(ModuleTestCase):

    def assertLinkShown(self, out, person):
        """One message shows the link the phone opened, as text on a line
        of its own, with its validity: the relay's TTL or the time left of
        login_timeout, whichever is less, in minutes rounded up.  No
        message is longer than 511 bytes.  Returns that message."""
        shown = [t for t in out.infos if link_in(t)]
        self.check(out, len(shown) == 1, "one message with the link")
        self.check(out, link_in(shown[0]) == person.link and
                   person.link.startswith(self.relay.url + "/l/"),
                   "the link is the relay's short link")
        limit = min(RELAY_TTL, int(out.setup.options.get("login_timeout",
                                                          "110")))
        # The seconds left when the link is shown are a little less.
        want = {str(-(-(limit - 1) // 60)), str(-(-limit // 60))}
        m = VALID_RE.search(shown[0])
        self.check(out, m is not None and m.group(1) in want,
                   "the validity (%s minutes) is not shown" %
                   " or ".join(sorted(want)))
        for t in out.infos + out.prompts + out.errors:
            self.check(out, len(t.encode("utf-8")) <= 511,
                       "a message longer than 511 bytes (%d)" %
                       len(t.encode("utf-8")))
        return shown[0]

    def assertQr(self, out, person, mode):
        """The QR messages (the ones before the link's): no message over
        511 bytes, each of whole lines (every QR line of one width; text
        lines such as a heading only before the first QR line), and
        together a square QR code that reads as the link."""
        link_at = [i for i, t in enumerate(out.infos) if link_in(t)]
        qr_msgs = out.infos[:link_at[0]]
        self.check(out, len(qr_msgs) >= 2, "the QR code in several messages")
        qr_lines, seen_qr = [], False
        for t in qr_msgs:
            self.check(out, len(t.encode("utf-8")) <= 511,
                       "QR message of %d bytes" % len(t.encode("utf-8")))
            for line in t.split("\n"):
                if is_qr_line(line, mode):
                    qr_lines.append(line)
                    seen_qr = True
                else:
                    self.check(out, not seen_qr and line.strip() != "",
                               "a text or empty line among the QR lines: "
                               "%r" % line)
        widths = {len(line) for line in qr_lines}
        self.check(out, len(widths) == 1,
                   "QR lines of different widths %r (cut lines?)" % widths)
        rows = qr_modules(qr_lines, mode)
        self.check(out, abs(len(rows) - len(rows[0])) <= 1,
                   "the QR code is not square: %d x %d" % (len(rows),
                                                           len(rows[0])))
        decoded = decode_qr(rows, out.setup.dir)
        if decoded is not None:
            self.check(out, decoded == person.link,
                       "the QR code reads %r, not the link" % decoded)
        return qr_lines

    def test_happy_path(self):
        """prompt = enter, confirm = yes, qr = utf8, login_timeout = 110
        (the defaults): QR + link + prompt in one exchange, the phone's
        code typed → PAM_SUCCESS, USER alice."""
        s = self.setup(options={"login_timeout": None, "http_timeout": None})
        p = Person()
        out = s.run(p)
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.check(out, p.phone_result == p.typed[0], "typed the phone's code")
        self.check(out, out.prompts == [PROMPT_CODE], "one prompt")
        self.check(out, out.errors == [], "no error message")
        # Everything is shown before (with) the prompt: sshd needs that.
        self.check(out, [k for k, _, _ in out.events] ==
                   ["INFO"] * len(out.infos) + ["PROMPT"],
                   "the QR code and the link come with the prompt")
        self.assertQr(out, p, "utf8")
        self.assertLinkShown(out, p)
        self.assertSignedInLog(out, "alice")
        st = self.provider.stats()
        self.check(out, st["token"] == 1, "one token request")
        tok = st["token_requests"][0]
        self.check(out, tok["auth"] == "client_secret_basic" and
                   tok["has_code_verifier"] and tok["status"] == 200 and
                   not tok["client_secret_in_body"],
                   "token request: Basic auth and PKCE verifier: %r" % tok)
        az = st["authorize_requests"][0]
        self.check(out, az["code_challenge_method"] == "S256" and
                   az["scope"] == "openid profile email" and
                   az["redirect_uri"] == self.relay.url + "/callback",
                   "authorize request %r" % az)

    def test_code_with_spaces_and_dash(self):
        """'123 456', ' 123-456 ' and '12-34-56' are the code too →
        PAM_SUCCESS."""
        forms = {
            "space": lambda c: c[:3] + " " + c[3:],
            "dash, blanks around": lambda c: " " + c[:3] + "-" + c[3:] + " ",
            "pairs": lambda c: "-".join((c[:2], c[2:4], c[4:])),
        }
        for name, form in forms.items():
            with self.subTest(form=name):
                self.provider.reset()
                s = self.setup()
                p = Person(answers=[form])
                out = s.run(p)
                self.assertResult(out, PAM_SUCCESS, user="alice")
                self.check(out, p.typed[0] != p.phone_result and
                           p.typed[0].replace(" ", "").replace("-", "") ==
                           p.phone_result, "typed the code with separators")
                self.assertSignedInLog(out, "alice")

    def test_wrong_code_three_times(self):
        """Three wrong codes → PAM_AUTH_ERR; the third ends it (no fourth
        prompt, no token request: the code is checked before the exchange)."""
        s = self.setup()
        p = Person(answers=["{wrong}", "12345", "{wrong}", "{code}"])
        out = s.run(p)
        self.assertResult(out, PAM_AUTH_ERR)
        self.check(out, out.prompts == [PROMPT_CODE, PROMPT_WRONG,
                                        PROMPT_WRONG],
                   "three prompts, then the end")
        self.check(out, len(p.typed) == 3, "the real code was never asked")
        self.check(out, out.errors ==
                   ["The code did not match. iON sign-in stopped."],
                   "the person is told")
        self.check(out, self.provider.stats()["token"] == 0,
                   "no token request")
        self.assertFailedLog(out, "alice",
                             r"confirmation code wrong 3 times")

    def test_wrong_then_right(self):
        """A wrong code, then the right one → PAM_SUCCESS."""
        s = self.setup()
        p = Person(answers=["{wrong}", "{code}"])
        out = s.run(p)
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.check(out, out.prompts == [PROMPT_CODE, PROMPT_WRONG],
                   "asked again after the wrong code")
        self.assertSignedInLog(out, "alice")

    def test_empty_answer_before_signing_in(self):
        """Enter before signing in → 'Not signed in yet' (not a wrong try);
        then signing in and typing the code → PAM_SUCCESS."""
        s = self.setup()
        p = Person(sign_in_at=1, answers=["", "{code}"])
        out = s.run(p)
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.check(out, out.prompts == [PROMPT_CODE, PROMPT_AGAIN_CODE],
                   "re-prompted with 'Not signed in yet'")
        self.check(out, out.errors == [], "no error message")
        self.assertSignedInLog(out, "alice")

    def test_auto_confirms_by_default(self):
        """prompt = auto alone (confirm defaults to yes, whatever prompt
        is): the QR code without a prompt, then the phone's code is asked
        → PAM_SUCCESS.  The same for a local login (no PAM_RHOST)."""
        for rhost in ("198.51.100.7", None):
            with self.subTest(rhost=rhost):
                self.provider.reset()
                s = self.setup(options={"prompt": "auto"})
                p = Person()
                out = s.run(p, rhost=rhost)
                self.assertResult(out, PAM_SUCCESS, user="alice")
                self.check(out, out.prompts == [PROMPT_CODE],
                           "the code is asked")
                self.check(out, re.fullmatch(r"\d{6}", p.phone_result or "")
                           is not None, "the phone shows a code")
                self.check(out, out.first("PROMPT") >= p.callback_at,
                           "asked before the phone was done")
                self.assertLinkShown(out, p)
                self.assertSignedInLog(out, "alice")

    def test_auto_without_confirm_local(self):
        """prompt = auto, confirm = no, a local login (a kiosk on the
        console: neither PAM_RHOST nor PAM_RUSER, PAM_TTY /dev/tty1): the
        module continues by itself when the phone is done → PAM_SUCCESS
        without any prompt."""
        s = self.setup(options={"prompt": "auto", "confirm": "no"})
        p = Person(answers=[])
        out = s.run(p, rhost=None, tty=CONSOLE)
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.check(out, out.prompts == [], "no prompt at all")
        self.check(out, p.phone_result == "DONE",
                   "the phone shows no code to type")
        self.assertLinkShown(out, p)
        self.assertSignedInLog(out, "alice")

    def test_auto_with_confirm(self):
        """prompt = auto, confirm = yes: the QR code comes without a prompt;
        the code is asked only after the phone is done → PAM_SUCCESS."""
        s = self.setup(options={"prompt": "auto", "confirm": "yes"})
        p = Person(phone_delay=1.0)
        out = s.run(p)
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.check(out, out.prompts == [PROMPT_CODE], "one prompt")
        self.check(out, p.callback_at is not None and
                   out.first("PROMPT") >= p.callback_at,
                   "the prompt came before the phone reached the callback")
        self.check(out, out.first("PROMPT") - p.callback_at < 2.0,
                   "the prompt came late after the phone was done")
        self.check(out, out.events[-1][0] == "PROMPT" and
                   all(k == "INFO" for k, _, _ in out.events[:-1]),
                   "QR and link first, then only the prompt")
        self.assertSignedInLog(out, "alice")

    def test_enter_without_confirm(self):
        """prompt = enter, confirm = no, a local login: sign in, press
        Enter → PAM_SUCCESS."""
        s = self.setup(options={"prompt": "enter", "confirm": "no"})
        p = Person(sign_in_at=0, answers=[""])
        out = s.run(p, rhost=None, tty=CONSOLE)
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.check(out, out.prompts == [PROMPT_ENTER], "'press Enter'")
        self.check(out, p.phone_result == "DONE", "no code on the phone")
        self.assertSignedInLog(out, "alice")

    def test_deny_at_consent(self):
        """The person denies at the provider's consent page, then presses
        Enter → PAM_AUTH_ERR at once, no token request."""
        s = self.setup()
        p = Person(sign_in_at=0, answers=[""], deny=True)
        out = s.run(p)
        self.assertResult(out, PAM_AUTH_ERR)
        self.check(out, p.phone_result == "CANCELLED",
                   "the relay's cancelled page on the phone")
        self.check(out, len(out.prompts) == 1, "no further prompt")
        self.check(out, out.ended - out.answered[0][1] < 2.0,
                   "%.2f s from the answer to the result" %
                   (out.ended - out.answered[0][1]))
        self.check(out, out.errors ==
                   ["iON sign-in was cancelled or refused."], "told")
        self.check(out, self.provider.stats()["token"] == 0,
                   "no token request")
        self.assertFailedLog(out, "alice",
                             r"the provider answered with an error")

    def test_deny_at_consent_auto(self):
        """prompt = auto: a denial ends the sign-in by itself, within a
        moment of the phone's callback → PAM_AUTH_ERR."""
        s = self.setup(options={"prompt": "auto"})
        p = Person(answers=[], deny=True)
        out = s.run(p)
        self.assertResult(out, PAM_AUTH_ERR)
        self.check(out, p.phone_result == "CANCELLED", "cancelled page")
        self.check(out, out.ended - p.callback_at < 2.0,
                   "the module took %.2f s to notice" %
                   (out.ended - p.callback_at))
        self.check(out, out.prompts == [], "no prompt")
        self.assertFailedLog(out, "alice",
                             r"the provider answered with an error")

    def test_qr_ascii(self):
        """qr = ascii: the code drawn with '#' pairs (light) and spaces
        (dark), plain ASCII, a readable QR code → PAM_SUCCESS."""
        s = self.setup(options={"qr": "ascii"})
        p = Person()
        out = s.run(p)
        self.assertResult(out, PAM_SUCCESS, user="alice")
        qr = self.assertQr(out, p, "ascii")
        self.check(out, all("#" in line for line in qr),
                   "ASCII QR lines without '#'")
        for t in out.infos + out.prompts:
            self.check(out, t.isascii(), "non-ASCII with qr = ascii")
        self.assertLinkShown(out, p)
        self.assertSignedInLog(out, "alice")

    def test_qr_off(self):
        """qr = off: one message with the link only, then the prompt →
        PAM_SUCCESS."""
        s = self.setup(options={"qr": "off"})
        p = Person()
        out = s.run(p)
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.check(out, len(out.infos) == 1, "exactly one message")
        self.assertLinkShown(out, p)
        self.check(out, "#" not in out.infos[0] and
                   "\u2588" not in out.infos[0], "no QR drawing")
        self.check(out, out.prompts == [PROMPT_CODE], "the prompt")
        self.assertSignedInLog(out, "alice")

    def test_answer_after_login_timeout(self):
        """prompt = enter: a conversation cannot be interrupted, so an
        answer that comes after login_timeout (10 s, the least allowed)
        ends the sign-in → PAM_AUTHINFO_UNAVAIL, though the phone is done
        and the code is right (and it is not exchanged)."""
        s = self.setup(options={"login_timeout": "10", "http_timeout": "2"})
        p = Person(sign_in_at=0, answers=["{code}"], answer_delay=10.2)
        out = s.run(p)
        self.assertResult(out, PAM_AUTHINFO_UNAVAIL)
        self.check(out, out.prompts == [PROMPT_CODE], "one prompt")
        self.check(out, self.provider.stats()["token"] == 0,
                   "the code was exchanged after the deadline")
        self.assertFailedLog(out, "alice", r"login_timeout reached")


if __name__ == "__main__":
    unittest.main()
