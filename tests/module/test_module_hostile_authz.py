"""Fail-closed matrix, part 4: the authorization response.  A denial, a
callback for a state that is not ours, an iss that is not the issuer, a
code from another login (replayed after use, or injected unused), wrong
confirmation codes, and a callback that never comes.

Denied or forged → PAM_AUTH_ERR (7); nothing (usable) arrives →
PAM_AUTHINFO_UNAVAIL (9) at login_timeout."""

import re
import unittest

from hostile import (AUTO_LOCAL, Actor, FakeRelay, HostileCase, answer,
                     attacker_login, authorize_url_of, deliver_callback)
from moduletest import (CONSOLE, OTHER_HOST, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL,
                        PAM_SUCCESS, PROMPT_CODE, PROMPT_WRONG, Person)

SHORT = {"prompt": "auto", "login_timeout": "10", "http_timeout": "3"}
SHORT_LOCAL = dict(SHORT, **AUTO_LOCAL)


class AuthorizationResponse(HostileCase):

    def test_access_denied_enter(self):
        """error=access_denied (the person denies at consent), then Enter
        → PAM_AUTH_ERR, no token request."""
        s = self.hsetup()
        out = s.run(Person(sign_in_at=0, answers=[""], deny=True))
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"the provider answered with an error")
        self.check(out, self.provider.stats()["token"] == 0, "exchanged")

    def test_access_denied_auto(self):
        s = self.hsetup({"prompt": "auto"})
        out = s.run(Person(answers=[], deny=True))
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"the provider answered with an error",
                               within=10.0)

    def test_error_injected_by_onlooker(self):
        """Someone who sees the screen opens the link, reads the state and
        delivers error=server_error for it first → PAM_AUTH_ERR (a denial
        of service, never a sign-in)."""
        relay = self.relay.url

        def act(link):
            _, q = authorize_url_of(link)
            return deliver_callback(relay, {
                "state": q["state"], "error": "server_error",
                "iss": self.provider.issuer})

        s = self.hsetup({"prompt": "auto"})
        p = Actor(act)
        out = s.run(p)
        self.check(out, p.act_error is None, "actor: %s" % p.act_error)
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"the provider answered with an error",
                               within=10.0)

    def test_state_not_ours(self):
        """Callbacks for other states (an unknown one, and an attacker's
        own login at the relay) carry codes; the module's poll never gets
        them → PAM_AUTHINFO_UNAVAIL at login_timeout (10 s)."""
        relay = self.relay.url
        issuer = self.provider.issuer

        def act(link):
            got = []
            got.append(deliver_callback(relay, {
                "state": "A" * 43, "code": "stolen-code-for-nobody",
                "iss": issuer})[0])
            st = attacker_login(relay, issuer + "/oauth2/authorize",
                                relay + "/callback",
                                self.relay.keys[OTHER_HOST])
            got.append(deliver_callback(relay, {
                "state": st, "code": "attackers-own-code", "iss": issuer})[0])
            return got

        s = self.hsetup(SHORT)
        p = Actor(act)
        out = s.run(p, timeout=40)
        self.check(out, p.act_error is None, "actor: %s" % p.act_error)
        self.check(out, p.act_result == [404, 200],
                   "relay answers to the injected callbacks: %r" %
                   (p.act_result,))
        self.assertFailsClosed(out, PAM_AUTHINFO_UNAVAIL,
                               r"login_timeout reached")
        self.check(out, out.elapsed >= 8.0, "ended after %.1f s" %
                   out.elapsed)
        self.check(out, self.provider.stats()["token"] == 0,
                   "a code was exchanged")

    def test_iss_not_the_issuer(self):
        """RFC 9207: the callback's iss is another issuer (phone
        --wrong-iss) → PAM_AUTH_ERR before the exchange."""
        s = self.hsetup()
        out = s.run(Person(iss_override="https://attacker.invalid"))
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"authorization response from another "
                               r"issuer \(iss\)")
        self.check(out, self.provider.stats()["token"] == 0, "exchanged")

    def test_iss_with_trailing_slash(self):
        """iss = issuer + '/' is not the issuer either → PAM_AUTH_ERR."""
        s = self.hsetup()
        out = s.run(Person(iss_override=self.provider.issuer + "/"))
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"authorization response from another "
                               r"issuer \(iss\)")

    def deliver_code_to(self, code):
        """Login B (auto, no confirm, a local login): an attacker delivers
        `code` under B's state at the real relay, with the right iss.  The
        relay has accepted that code for login A's state already, so it
        refuses it (409): B never gets a result → PAM_AUTHINFO_UNAVAIL at
        login_timeout (10 s)."""
        relay = self.relay.url
        issuer = self.provider.issuer

        def act(link):
            _, q = authorize_url_of(link)
            return deliver_callback(relay, {"state": q["state"],
                                            "code": code, "iss": issuer})

        s = self.hsetup(SHORT_LOCAL)
        p = Actor(act)
        out = s.run(p, rhost=None, tty=CONSOLE, timeout=40)
        self.check(out, p.act_error is None, "actor: %s" % p.act_error)
        self.check(out, p.act_result and p.act_result[0] == 409,
                   "the relay did not refuse a code it has seen for "
                   "another state: %r" % (p.act_result and
                                          p.act_result[0],))
        self.check(out, "id=\"code\"" not in (p.act_result or ("", ""))[1],
                   "the refusal shows a confirmation code")
        self.assertFailsClosed(out, PAM_AUTHINFO_UNAVAIL,
                               r"login_timeout reached")
        return out, p

    def deliver_code_by_fake_relay(self, code):
        """Login C (auto, no confirm, local) through a relay that hands
        over `code` (as a relay without the code-reuse rule, or a
        compromised one, would): the provider is the last line."""
        f = FakeRelay(poll=lambda h: answer(h, 200, {
            "code": code, "iss": self.provider.issuer}))
        self.addCleanup(f.close)
        s = self.hsetup(dict(AUTO_LOCAL, relay_url=f.url))
        return s.run(Person(login=None, answers=[]), rhost=None,
                     tty=CONSOLE)

    def test_code_replayed_from_earlier_login(self):
        """Login A signs in (its code is used).  A's code delivered under
        login B's state: the relay refuses it (409, the code-reuse rule)
        → B times out (9).  Handed over by a relay that does not refuse
        it, the provider refuses it → PAM_AUTH_ERR."""
        a = Person()
        out_a = self.hsetup().run(a)
        self.assertResult(out_a, PAM_SUCCESS, user="alice")
        code_a = a.callback_query.get("code")
        self.assertTrue(code_a, "no code captured from login A")
        # No reset here: that would drop A's code from the provider.
        out, p = self.deliver_code_to(code_a)
        self.check(out, self.provider.stats()["token"] == 1,
                   "login B exchanged a code")
        out = self.deliver_code_by_fake_relay(code_a)
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"token endpoint refused the code")
        self.check(out, code_a not in out.logs[0]["raw"], "code in the log")
        tok = self.provider.stats()["token_requests"]
        self.check(out, len(tok) == 2 and tok[0]["status"] == 200 and
                   tok[1]["status"] == 400, "token requests %r" % tok)

    def test_code_injected_unused(self):
        """Login A's code is never exchanged (three wrong confirmation
        codes end A first).  Delivered under login B's state the relay
        refuses it (409) → 9; handed over by a relay that does not, it
        fails PKCE at the provider → PAM_AUTH_ERR."""
        a = Person(answers=["{wrong}", "{wrong}", "{wrong}"])
        out_a = self.hsetup().run(a)
        self.assertResult(out_a, PAM_AUTH_ERR)
        code_a = a.callback_query.get("code")
        self.assertTrue(code_a, "no code captured from login A")
        self.check(out_a, self.provider.stats()["token"] == 0,
                   "login A exchanged its code")
        out, p = self.deliver_code_to(code_a)
        self.check(out, self.provider.stats()["token"] == 0,
                   "login B exchanged a code")
        out = self.deliver_code_by_fake_relay(code_a)
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"token endpoint refused the code")
        self.check(out, code_a not in out.logs[0]["raw"], "code in the log")
        tok = self.provider.stats()["token_requests"]
        self.check(out, len(tok) == 1 and tok[0]["status"] == 400 and
                   tok[0]["has_code_verifier"], "token requests %r" % tok)

    def test_wrong_code_three_times(self):
        s = self.hsetup()
        p = Person(answers=["{wrong}", "000000", "{wrong}", "{code}"])
        out = s.run(p)
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"confirmation code wrong 3 times")
        self.check(out, out.prompts == [PROMPT_CODE, PROMPT_WRONG,
                                        PROMPT_WRONG], "three prompts")
        self.check(out, self.provider.stats()["token"] == 0, "exchanged")

    def test_wrong_code_auto_confirm(self):
        """prompt = auto, confirm = yes: three wrong codes after the phone
        is done → PAM_AUTH_ERR."""
        s = self.hsetup({"prompt": "auto", "confirm": "yes"})
        out = s.run(Person(answers=["{wrong}", "{wrong}", "{wrong}"]))
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"confirmation code wrong 3 times")

    def test_code_of_other_login_typed(self):
        """The person types something that is not a code at all."""
        s = self.hsetup()
        out = s.run(Person(answers=["'; DROP TABLE", "%n%n%n",
                                    "9" * 5000]))
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"confirmation code wrong 3 times")

    def test_callback_never_comes(self):
        """prompt = auto, login_timeout = 10: nobody signs in →
        PAM_AUTHINFO_UNAVAIL at login_timeout."""
        s = self.hsetup(SHORT)
        out = s.run(Person(login=None, answers=[]), timeout=40)
        self.assertFailsClosed(out, PAM_AUTHINFO_UNAVAIL,
                               r"login_timeout reached")
        self.check(out, out.elapsed >= 8.0, "ended after %.1f s" %
                   out.elapsed)

    def test_cancelled_at_login_page(self):
        """The person cancels at the provider's login page → error
        callback → PAM_AUTH_ERR."""
        s = self.hsetup({"prompt": "auto"})
        out = s.run(Person(answers=[], cancel_login=True))
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"the provider answered with an error")

    def test_conversation_cancelled(self):
        """The terminal goes away at the prompt (end of input) →
        PAM_CONV_ERR, never success."""
        s = self.hsetup()
        out = s.run(Person(login=None, answers=[]))
        self.assertFailsClosed(out, 19, r"conversation failed")
        self.check(out, re.search(r"cancel", out.logs[0]["text"]),
                   "the reason does not say so")


if __name__ == "__main__":
    unittest.main()
