"""Access rules (issue 11): require_groups (groups_claim), require_claims,
acr_values and require_acr, max_age and login_prompt, decided in
pam_sm_authenticate and again in pam_sm_acct_mgmt.  Each case is a real
sign-in through libpam (pamdrive), the relay, the stand-in provider and
the scripted phone; the provider's accounts get the claims each case needs
(POST /__test/account: in the id_token, or at userinfo only), the acr their
sign-in reports, and sessions as old as a case wants (POST
/__test/age-sessions); hostile tokens are re-signed with the provider's
key (misbehave.js), so only the rule can refuse them.

What the module promises (the contract these tests hold it to):
- A rule that fails in pam_sm_authenticate: PAM_AUTH_ERR (7), never 0 or
  25, and one syslog line naming the rule ("access rule KEY not met") and
  the verified sub, without the claim's value.
- require_groups: member of one of them; the claim (groups_claim, default
  groups) must be a JSON array of strings, else not a member.
- require_claims NAME=VALUE: a string equal byte for byte, true/false, an
  integer in decimal, an array with one element that holds; null, objects,
  reals and a missing claim never hold; every pair must hold.
- acr_values are sent (space-joined, also in a pushed request); require_acr:
  acr a string equal to one of them.
- max_age sent; auth_time a JSON integer, not more than 60 s ahead, not
  older than max_age + 60 s.  login_prompt = yes sends prompt=login.
- Claims from the id_token; userinfo only for what a rule needs and the
  id_token lacks, filling only what is missing.
- pam_sm_acct_mgmt: PAM_IGNORE (25) for a handle pam_ion did not
  authenticate (or whose authentication failed); else the account line's
  own rules on the kept claims: PAM_PERM_DENIED (6) or PAM_SUCCESS, and
  PAM_PERM_DENIED when PAM_USER changed since.

An account line written "[success=ok ignore=ok default=bad]" hands the
module's own code back from pam_acct_mgmt (libpam returns PAM_IGNORE then,
where a "required" line alone would turn it into PAM_PERM_DENIED), so the
account cases see what pam_ion returned; the stack cases use the lines an
administrator writes."""

import re
import unittest
import urllib.parse

from hostile import HostileCase
from moduletest import (LOG_NOTICE, PAM_AUTH_ERR, PAM_IGNORE,
                        PAM_PERM_DENIED, PAM_SUCCESS, SANITIZER_RE, Person,
                        new_phone, write_private)

# A group name and a claim value too long to log whole, with '.' so that
# they are not "token-like" to assertNoSecrets.
LONG_GROUP = "engineering." + ".".join(["platform-team"] * 12)
LONG_VALUE = "cost-centre." + ".".join(["4711-finance"] * 12)

# The module's own code from pam_acct_mgmt (see the module doc).
TRANSPARENT = "[success=ok ignore=ok default=bad]"

# Stacks an administrator writes, as in test_module_hostile_stack.py.
AUTH_STACKS = {
    "permit-then-required": ("auth required pam_permit.so\n"
                             "auth required {module} config={conf}{args}\n"),
    "sufficient-then-deny": ("auth sufficient {module} config={conf}{args}\n"
                             "auth required pam_deny.so\n"),
}

ACR_HIGH = "urn:ion:loa:high"
ACR_SUBSTANTIAL = "urn:ion:loa:substantial"
ACR_LOW = "urn:ion:loa:low"


def strip_params(*names):
    """An edit_url for the phone: the authorize URL without these query
    parameters (what the person at the phone can do to the link)."""
    def edit(url):
        u = urllib.parse.urlsplit(url)
        q = [(k, v) for k, v in urllib.parse.parse_qsl(
            u.query, keep_blank_values=True) if k not in names]
        return urllib.parse.urlunsplit(u._replace(
            query=urllib.parse.urlencode(q)))
    return edit


def args_text(args):
    return "".join(" " + a for a in args)


class RulesCase(HostileCase):
    """Sign-ins with rules, and what a denial must look like."""

    def give(self, sub="alice", **kw):
        """The account's claims etc. for this case (set_account)."""
        self.provider.set_account(sub, **kw)

    def run_rules(self, options=None, args=(), person=None, token=None,
                  endpoint=None, **run):
        """One sign-in with the rules in pam_ion.conf (options) and/or as
        module arguments (args); token/endpoint: a misbehaviour queued
        first."""
        s = self.hsetup(options)
        if args:
            s.write_stack("auth required {module} config={conf}%s\n" %
                          args_text(args))
        if token is not None:
            self.provider.misbehave(token)
        if endpoint is not None:
            self.provider.misbehave(endpoint)
        return s.run(person or Person(), **run)

    def assertAllowed(self, out, user="alice"):
        self.assertResult(out, PAM_SUCCESS, user=user)
        self.assertSignedInLog(out, user)

    def assertRuleLog(self, out, key, sub="alice", logs=None,
                      phase="auth", hidden=()):
        """One line of the module's naming the rule and the verified sub,
        with none of `hidden` (claim values) in it."""
        text = self.assertOneLog(out, r"access rule %s not met" %
                                 re.escape(key), logs=logs, phase=phase)
        self.check(out, re.search(r"\bsub[ =]%s\b" % re.escape(sub), text),
                   "the line does not name the verified sub %r" % sub)
        for h in hidden:
            self.check(out, h not in text,
                       "a claim value is in the log line: %r" % h[:30])
        return text

    def assertDenied(self, out, key, sub="alice", hidden=()):
        """pam_sm_authenticate refused for the rule `key`: PAM_AUTH_ERR,
        never 0 or 25, one LOG_NOTICE line naming the rule and sub."""
        self.check(out, out.code not in (PAM_SUCCESS, PAM_IGNORE),
                   "FAIL OPEN: PAM code %s %s" % (out.code, out.code_name))
        self.assertResult(out, PAM_AUTH_ERR)
        text = self.assertRuleLog(out, key, sub, hidden=hidden)
        self.check(out, out.logs[0]["severity"] == LOG_NOTICE,
                   "severity %s, expected LOG_NOTICE" %
                   out.logs[0]["severity"])
        self.check(out, not text.startswith("signed in"), "signed in?")
        return text

    def last_authorize(self, out):
        reqs = self.provider.stats()["authorize_requests"]
        self.check(out, len(reqs) >= 1, "no authorize request recorded")
        return reqs[-1]

    def userinfo_requests(self):
        return self.provider.stats()["userinfo"]


# ---------------------------------------------------------------- groups

class Groups(RulesCase):

    def test_member(self):
        """A member of one of the groups → PAM_SUCCESS; every claim the
        rule needs is in the id_token, so userinfo is not asked."""
        self.give(claims={"groups": ["staff", "ops"]})
        out = self.run_rules({"require_groups": "admins ops"})
        self.assertAllowed(out)
        self.check(out, self.userinfo_requests() == 0,
                   "userinfo was asked for claims the id_token has")

    def test_member_as_module_argument(self):
        """The rule as a bracketed module argument (libpam's syntax)."""
        self.give(claims={"groups": ["ops"]})
        out = self.run_rules(args=["[require_groups=admins ops]"])
        self.assertAllowed(out)

    def test_not_a_member(self):
        self.give(claims={"groups": ["staff", LONG_GROUP]})
        out = self.run_rules({"require_groups": "admins ops"})
        self.assertDenied(out, "require_groups", hidden=[LONG_GROUP])

    def test_not_a_member_as_module_argument(self):
        self.give(claims={"groups": ["staff"]})
        out = self.run_rules(args=["[require_groups=admins ops]"])
        self.assertDenied(out, "require_groups")

    def test_claim_missing(self):
        """No groups claim anywhere (id_token nor userinfo)."""
        out = self.run_rules({"require_groups": "ops"})
        self.assertDenied(out, "require_groups")

    def test_claim_a_string(self):
        """"ops", not ["ops"]: not a member, even though it names ops."""
        self.give(claims={"groups": "ops"})
        out = self.run_rules({"require_groups": "ops"})
        self.assertDenied(out, "require_groups")

    def test_claim_an_object(self):
        for value in ({"ops": True}, {"0": "ops"}, {}):
            with self.subTest(value=value):
                self.provider.reset()
                self.give(claims={"groups": value})
                out = self.run_rules({"require_groups": "ops"})
                self.assertDenied(out, "require_groups")

    def test_claim_other_types(self):
        for value in (True, 1, None):
            with self.subTest(value=value):
                self.provider.reset()
                self.give(claims={"groups": value})
                out = self.run_rules({"require_groups": "ops"})
                self.assertDenied(out, "require_groups")

    def test_array_with_non_strings(self):
        """An array holding any non-string is not a list of groups, even
        when it holds the group as well."""
        for value in (["ops", 1], [None, "ops"], [["ops"]], ["ops", {}],
                      ["ops", True], [1.5]):
            with self.subTest(value=value):
                self.provider.reset()
                self.give(claims={"groups": value})
                out = self.run_rules({"require_groups": "ops"})
                self.assertDenied(out, "require_groups")

    def test_empty_array(self):
        self.give(claims={"groups": []})
        out = self.run_rules({"require_groups": "ops"})
        self.assertDenied(out, "require_groups")

    def test_case_and_prefix_differ(self):
        """Byte for byte: OPS, ops-team, a trailing blank are other
        groups."""
        for value in (["OPS"], ["ops-team"], ["ops "], [" ops"], ["op"]):
            with self.subTest(value=value):
                self.provider.reset()
                self.give(claims={"groups": value})
                out = self.run_rules({"require_groups": "ops"})
                self.assertDenied(out, "require_groups")

    def test_nul_inside_a_group_name(self):
        """"ops\\u0000evil" is not ops (a C string would stop at the NUL):
        refused, by the rule or as a malformed token, never let in."""
        self.give(claims={"groups": ["ops\u0000evil"]})
        out = self.run_rules({"require_groups": "ops"})
        self.check(out, out.code not in (PAM_SUCCESS, PAM_IGNORE),
                   "FAIL OPEN: %s" % out.code)
        self.assertResult(out, PAM_AUTH_ERR)
        self.assertOneLog(out, r"failed")

    def test_10000_groups_member_last(self):
        """10,000 groups, the one that counts last.  So large a claim is at
        userinfo (as providers do past a limit: the id_token would be over
        100 kB), which the module asks because the rule needs it."""
        groups = ["group-%05d" % i for i in range(9999)] + ["ops"]
        self.give(claims={"groups": groups}, userinfo_only=["groups"])
        out = self.run_rules({"require_groups": "admins ops"})
        self.assertAllowed(out)
        self.check(out, self.userinfo_requests() == 1, "userinfo asked once")

    def test_10000_groups_in_the_id_token(self):
        """The same 10,000 groups in the id_token itself (over 100 kB, past
        what the module reads of a token answer and of a JWS): refused
        as too large, never let in, even though the group is there."""
        groups = ["group-%05d" % i for i in range(9999)] + ["ops"]
        self.give(claims={"groups": groups})
        out = self.run_rules({"require_groups": "admins ops"})
        self.check(out, out.code not in (PAM_SUCCESS, PAM_IGNORE),
                   "FAIL OPEN: %s" % out.code)
        self.assertResult(out, PAM_AUTH_ERR)
        self.assertOneLog(out, r"failed: .*(large|long)")

    def test_10000_groups_not_a_member(self):
        groups = ["group-%05d" % i for i in range(10000)]
        self.give(claims={"groups": groups}, userinfo_only=["groups"])
        out = self.run_rules({"require_groups": "admins ops"})
        self.assertDenied(out, "require_groups", hidden=["group-09999"])

    # Group names as the token has them -> as pam_ion.conf writes them:
    # bytes as they are, but '%' starts a %XX escape ('%' itself is %25),
    # and a blank or a '#' (which the line cannot hold) is %20 or %23.
    ODD = {
        "\u00c4rzte-\u03a9": "\u00c4rzte-\u03a9",
        "\u65e5\u672c": "\u65e5\u672c",
        "100%": "100%25",
        "o'brien": "o'brien",
        'say"hi"': 'say"hi"',
        "a=b": "a=b",
        "DOMAIN\\admins": "DOMAIN\\admins",
        "Linux Admins": "Linux%20Admins",
        "#wheel": "%23wheel",
        "%41": "%2541",
        "caf\u00e9": "caf%C3%A9",
    }

    def test_odd_bytes(self):
        """Group names with UTF-8, '%', quotes, '=', a backslash, a blank
        and a '#', as pam_ion.conf writes them: each matches itself."""
        for name, written in self.ODD.items():
            with self.subTest(name=name, written=written):
                self.provider.reset()
                self.give(claims={"groups": ["staff", name]})
                out = self.run_rules({"require_groups": "nobody " + written})
                self.assertAllowed(out)

    def test_odd_bytes_near_misses(self):
        """What the token holds differs from the name in one byte (or is
        the name as written, escapes undecoded; or split at the blank):
        not a member."""
        near = [("\u00c4rzte-\u03a9", ["A\u0308rzte-\u03a9"]),  # NFD
                ("100%25", ["100%25"]), ("100%25", ["100"]),
                ("o'brien", ["o\u2019brien"]),
                ("Linux%20Admins", ["Linux", "Admins"]),
                ("Linux%20Admins", ["Linux%20Admins"]),
                ("Linux%20Admins", ["Linux+Admins"]),
                ("%23wheel", ["%23wheel"]), ("%2541", ["A"]),
                ("%41", ["%41"]), ("caf%C3%A9", ["cafe\u0301"])]
        for written, groups in near:
            with self.subTest(written=written, token=groups):
                self.provider.reset()
                self.give(claims={"groups": ["staff"] + groups})
                out = self.run_rules({"require_groups": written})
                self.assertDenied(out, "require_groups")

    def test_bad_escapes_are_configuration_errors(self):
        """A NUL (%00), a lone '%' or a bad escape: PAM_SERVICE_ERR before
        anything is shown, never a sign-in."""
        for written in ("%00", "100%", "%zz", "ops%2", "%"):
            with self.subTest(written=written):
                self.give(claims={"groups": [written, "ops"]})
                out = self.run_rules({"require_groups": "ops " + written})
                self.assertConfigFailure(out, r".*require_groups")

    def test_odd_bytes_as_module_argument(self):
        """The same through libpam's argument parsing (bracketed)."""
        for name in ("\u00c4rzte-\u03a9", "100%", "o'brien", 'say"hi"',
                     "Linux Admins", "#wheel"):
            with self.subTest(name=name):
                self.provider.reset()
                self.give(claims={"groups": [name]})
                out = self.run_rules(
                    args=["[require_groups=nobody %s]" % self.ODD[name]])
                self.assertAllowed(out)

    def test_groups_claim(self):
        """groups_claim = roles: roles decides, groups does not count."""
        self.give(claims={"roles": ["ops"], "groups": ["staff"]})
        out = self.run_rules({"groups_claim": "roles",
                              "require_groups": "ops"})
        self.assertAllowed(out)
        self.provider.reset()
        self.give(claims={"roles": ["staff"], "groups": ["ops"]})
        out = self.run_rules({"groups_claim": "roles",
                              "require_groups": "ops"})
        self.assertDenied(out, "require_groups")


# ---------------------------------------------------------------- claims

class Claims(RulesCase):

    def case(self, rule, claims, allowed, **give):
        self.provider.reset()
        self.give(claims=claims, **give)
        out = self.run_rules({"require_claims": rule})
        if allowed:
            self.assertAllowed(out)
        else:
            self.assertDenied(out, "require_claims")
        return out

    def test_string(self):
        self.case("department=ops", {"department": "ops"}, True)
        self.case("department=ops", {"department": "Ops"}, False)
        self.case("department=ops", {"department": "ops "}, False)
        self.case("department=ops", {"department": "op"}, False)
        self.case("department=ops", {"department": LONG_VALUE}, False)

    def test_empty_value_is_a_configuration_error(self):
        """department= (an empty VALUE) is refused as configuration:
        PAM_SERVICE_ERR before anything is shown, never a sign-in."""
        self.give(claims={"department": ""})
        out = self.run_rules({"require_claims": "department="})
        self.assertConfigFailure(out, r".*require_claims")

    def test_escaped_value(self):
        """VALUE after its %XX escapes: a blank as %20, '%' as %25."""
        self.case("department=Sales%20EMEA", {"department": "Sales EMEA"},
                  True)
        self.case("department=Sales%20EMEA", {"department": "Sales%20EMEA"},
                  False)
        self.case("share=100%25", {"share": "100%"}, True)
        self.case("share=100%25", {"share": "100%25"}, False)

    def test_string_value_with_equals_sign(self):
        """NAME=VALUE splits at the first '='."""
        self.case("expr=a=b", {"expr": "a=b"}, True)
        self.case("expr=a=b", {"expr": "a"}, False)

    def test_true(self):
        self.case("mfa=true", {"mfa": True}, True)
        self.case("mfa=true", {"mfa": False}, False)
        self.case("mfa=true", {"mfa": 1}, False)
        self.case("mfa=true", {"mfa": None}, False)

    def test_false(self):
        self.case("mfa=false", {"mfa": False}, True)
        self.case("mfa=false", {"mfa": True}, False)
        self.case("mfa=false", {"mfa": 0}, False)
        self.case("mfa=false", {"mfa": None}, False)

    def test_integer(self):
        self.case("level=3", {"level": 3}, True)
        self.case("level=3", {"level": 4}, False)
        self.case("level=3", {"level": 30}, False)
        self.case("level=-2", {"level": -2}, True)
        self.case("level=0", {"level": 0}, True)
        self.case("level=3", {"level": True}, False)

    def test_real_never_holds(self):
        self.case("level=3.5", {"level": 3.5}, False)
        self.case("level=3", {"level": 3.25}, False)

    def test_array_contains(self):
        self.case("department=ops", {"department": ["dev", "ops"]}, True)
        self.case("mfa=true", {"mfa": [False, True]}, True)
        self.case("level=3", {"level": [1, 3]}, True)

    def test_array_lacks(self):
        self.case("department=ops", {"department": ["dev", "qa"]}, False)
        self.case("department=ops", {"department": []}, False)
        self.case("department=ops", {"department": [["ops"]]}, False)
        self.case("department=ops", {"department": [{"ops": True}]}, False)

    def test_null_and_object_never_hold(self):
        self.case("department=null", {"department": None}, False)
        self.case("department=ops", {"department": None}, False)
        self.case("department=ops", {"department": {"ops": True}}, False)
        self.case("department=ops", {"department": {"department": "ops"}},
                  False)

    def test_missing(self):
        self.case("department=ops", {}, False)

    def test_every_pair(self):
        both = {"mfa": True, "level": 3}
        self.case("mfa=true level=3", both, True)
        self.case("mfa=true level=4", both, False)
        self.case("mfa=false level=3", both, False)

    def test_same_name_twice(self):
        self.case("department=ops department=dev",
                  {"department": ["ops", "dev"]}, True)
        self.case("department=ops department=dev",
                  {"department": ["ops"]}, False)
        self.case("department=ops department=dev", {"department": "ops"},
                  False)

    def test_as_module_argument(self):
        self.give(claims={"mfa": True, "department": "ops"})
        out = self.run_rules(args=["[require_claims=mfa=true department=ops]"])
        self.assertAllowed(out)
        self.provider.reset()
        self.give(claims={"mfa": False, "department": "ops"})
        out = self.run_rules(args=["[require_claims=mfa=true department=ops]"])
        self.assertDenied(out, "require_claims")

    def test_claim_only_at_userinfo_allowed(self):
        """department is not in the id_token: the module asks userinfo
        (once) and the rule holds."""
        out = self.case("department=ops", {"department": "ops"}, True,
                        userinfo_only=["department"])
        self.check(out, self.userinfo_requests() == 1, "userinfo asked once")

    def test_claim_only_at_userinfo_refused(self):
        out = self.case("department=ops", {"department": LONG_VALUE}, False,
                        userinfo_only=["department"])
        self.check(out, self.userinfo_requests() == 1, "userinfo asked once")
        self.check(out, LONG_VALUE not in out.logs[0]["raw"],
                   "the claim's value is in the log")

    def test_userinfo_fills_only_what_is_missing(self):
        """The id_token says department=dev; userinfo (asked for level,
        which only it has) says department=ops: the id_token's stands."""
        self.give(claims={"department": "dev", "level": 3},
                  userinfo_only=["level"])
        out = self.run_rules(
            {"require_claims": "department=ops level=3"},
            endpoint={"endpoint": "userinfo",
                      "json": {"department": "ops"}})
        self.assertApplied(out, endpoint=1)
        self.assertDenied(out, "require_claims")
        self.check(out, self.userinfo_requests() == 1, "userinfo asked once")

    def test_userinfo_of_another_sub(self):
        """Userinfo answers for mallory, with the claim the rule wants:
        refused (sub must match), never let in."""
        self.give(claims={"department": "ops"}, userinfo_only=["department"])
        out = self.run_rules({"require_claims": "department=ops"},
                             endpoint={"endpoint": "userinfo",
                                       "json": {"sub": "mallory"}})
        self.assertFailsClosed(out, PAM_AUTH_ERR, r".*userinfo sub mismatch")


# ---------------------------------------------------------------- acr

class Acr(RulesCase):

    def test_matched(self):
        """acr_values reach the provider (space-joined); the acr the
        sign-in reports is one of require_acr → PAM_SUCCESS."""
        self.give(acr=ACR_HIGH)
        out = self.run_rules({"acr_values": ACR_SUBSTANTIAL + " " + ACR_HIGH,
                              "require_acr": ACR_SUBSTANTIAL + " " +
                              ACR_HIGH})
        self.assertAllowed(out)
        az = self.last_authorize(out)
        self.check(out, az.get("acr_values") ==
                   ACR_SUBSTANTIAL + " " + ACR_HIGH,
                   "acr_values sent: %r" % az.get("acr_values"))

    def test_refused(self):
        self.give(acr=ACR_LOW)
        out = self.run_rules({"acr_values": ACR_HIGH,
                              "require_acr": ACR_HIGH})
        self.assertDenied(out, "require_acr")
        self.check(out, self.last_authorize(out).get("acr_values") ==
                   ACR_HIGH, "acr_values not sent")

    def test_missing_while_required(self):
        """The sign-in reports no acr: the id_token has none."""
        out = self.run_rules({"acr_values": ACR_HIGH,
                              "require_acr": ACR_HIGH})
        self.assertDenied(out, "require_acr")

    def test_require_acr_without_acr_values(self):
        """require_acr alone still checks (nothing is sent)."""
        self.give(acr=ACR_HIGH)
        out = self.run_rules({"require_acr": ACR_HIGH})
        self.assertAllowed(out)
        self.check(out, "acr_values" not in self.last_authorize(out),
                   "acr_values sent without the key")
        self.provider.reset()
        self.give(acr=ACR_LOW)
        out = self.run_rules({"require_acr": ACR_HIGH})
        self.assertDenied(out, "require_acr")

    def test_acr_values_alone_sent_not_required(self):
        """acr_values without require_acr: sent, and the answer is not a
        rule (a low acr signs in)."""
        self.give(acr=ACR_LOW)
        out = self.run_rules({"acr_values": ACR_HIGH})
        self.assertAllowed(out)
        self.check(out, self.last_authorize(out).get("acr_values") ==
                   ACR_HIGH, "acr_values not sent")

    def test_acr_not_a_string(self):
        """acr as a list or a number holding the value: refused."""
        for value in ([ACR_HIGH], {"value": ACR_HIGH}, 3):
            with self.subTest(acr=value):
                self.provider.reset()
                self.give(acr=ACR_HIGH)
                out = self.run_rules({"require_acr": ACR_HIGH},
                                     token={"id_token": {"claims": {
                                         "acr": value}}})
                self.assertApplied(out, token=1)
                self.assertDenied(out, "require_acr")

    def test_acr_prefix_is_not_the_acr(self):
        self.give(acr=ACR_HIGH)
        out = self.run_rules({"require_acr": ACR_HIGH},
                             token={"id_token": {"claims": {
                                 "acr": ACR_HIGH + "-not"}}})
        self.assertDenied(out, "require_acr")

    def test_as_module_argument(self):
        self.give(acr=ACR_HIGH)
        out = self.run_rules(args=["acr_values=" + ACR_HIGH,
                                   "require_acr=" + ACR_HIGH])
        self.assertAllowed(out)
        self.check(out, self.last_authorize(out).get("acr_values") ==
                   ACR_HIGH, "acr_values not sent")


# ---------------------------------------------------------------- max_age

class MaxAge(RulesCase):

    def auth_time(self, when, max_age="300", **kw):
        """A sign-in with max_age whose id_token's auth_time is `when`
        (re-signed; None deletes it)."""
        out = self.run_rules({"max_age": max_age},
                             token={"id_token": {"claims": {
                                 "auth_time": when}}}, **kw)
        self.assertApplied(out, token=1)
        return out

    def test_fresh(self):
        """max_age is sent; the provider's own auth_time (a sign-in just
        now) is fresh → PAM_SUCCESS."""
        out = self.run_rules({"max_age": "300"})
        self.assertAllowed(out)
        self.check(out, self.last_authorize(out).get("max_age") == "300",
                   "max_age not sent: %r" % self.last_authorize(out))

    def test_fresh_max_age_zero(self):
        """max_age = 0 with login_prompt = yes: both sent, a login page
        shown, and the sign-in of just now is fresh enough (leeway)."""
        out = self.run_rules({"max_age": "0", "login_prompt": "yes"})
        self.assertAllowed(out)
        az = self.last_authorize(out)
        self.check(out, az.get("max_age") == "0" and
                   az.get("prompt") == "login",
                   "max_age/prompt not sent: %r" % az)

    def test_stale(self):
        out = self.auth_time("now-3600")
        self.assertDenied(out, "max_age")

    def test_stale_past_the_leeway(self):
        """max_age 300 + 60 s leeway: 420 s ago is too old."""
        out = self.auth_time("now-420")
        self.assertDenied(out, "max_age")

    def test_within_the_leeway(self):
        """330 s ago with max_age 300: within the 60 s leeway."""
        out = self.auth_time("now-330")
        self.assertAllowed(out)

    def test_missing(self):
        out = self.auth_time(None)
        self.assertDenied(out, "max_age")

    def test_in_the_future(self):
        out = self.auth_time("now+3600")
        self.assertDenied(out, "max_age")

    def test_in_the_future_past_the_leeway(self):
        out = self.auth_time("now+180")
        self.assertDenied(out, "max_age")

    def test_not_an_integer(self):
        for value in ("1700000000", 1.5, [1], True):
            with self.subTest(auth_time=value):
                self.provider.reset()
                out = self.auth_time(value)
                self.assertDenied(out, "max_age")

    def test_login_prompt_sent(self):
        out = self.run_rules({"login_prompt": "yes"})
        self.assertAllowed(out)
        self.check(out, self.last_authorize(out).get("prompt") == "login",
                   "prompt=login not sent")
        self.provider.reset()
        out = self.run_rules({})
        self.check(out, "prompt" not in self.last_authorize(out) and
                   "max_age" not in self.last_authorize(out),
                   "prompt or max_age sent without the keys: %r" %
                   self.last_authorize(out))

    def test_fresh_login_even_with_a_session(self):
        """The phone signed in a minute ago (its cookie jar has the
        session): with login_prompt = yes, and with max_age = 0, the
        provider shows the login page again."""
        for options in ({"login_prompt": "yes"}, {"max_age": "0"}):
            with self.subTest(options=options):
                self.provider.reset()
                ph = new_phone()
                out = self.run_rules({}, person=Person(phone=ph))
                self.assertAllowed(out)
                self.check(out, ph.logins == 1, "first sign-in: login page")
                out = self.run_rules({}, person=Person(phone=ph))
                self.assertAllowed(out)
                self.check(out, ph.logins == 1,
                           "the session is not kept without the keys")
                out = self.run_rules(options, person=Person(phone=ph))
                self.assertAllowed(out)
                self.check(out, ph.logins == 2,
                           "no new login page with %r" % options)

    def test_as_module_argument(self):
        out = self.run_rules(args=["max_age=300", "login_prompt=yes"],
                             token={"id_token": {"claims": {
                                 "auth_time": "now-3600"}}})
        self.assertDenied(out, "max_age")
        az = self.last_authorize(out)
        self.check(out, az.get("max_age") == "300" and
                   az.get("prompt") == "login", "not sent: %r" % az)


# ---------------------------------------------------------------- account

class Account(RulesCase):
    """pam_sm_acct_mgmt."""

    def stacked(self, text, options=None):
        s = self.hsetup(options)
        s.write_stack(text)
        return s

    def assertAcct(self, out, code):
        self.check(out, out.acct_code == code,
                   "expected pam_acct_mgmt %d, got %s %s" % (
                       code, out.acct_code, out.acct_name))
        self.check(out, not SANITIZER_RE.search(out.stderr),
                   "sanitizer report on pamdrive's stderr")

    def account_logs(self, out):
        return [e for e in out.logs if ":account)" in e["text"]]

    def auth_logs(self, out):
        return [e for e in out.logs if ":auth)" in e["text"]]

    def test_account_phase_alone(self):
        """pam_acct_mgmt on a handle nobody authenticated: PAM_IGNORE,
        nothing shown, no sign-in started."""
        s = self.stacked("account %s {module} config={conf} "
                       "[require_groups=ops]\n" % TRANSPARENT)
        out = s.run(Person(login=None, answers=[]), acct="only")
        self.assertAcct(out, PAM_IGNORE)
        self.check(out, out.code is None and out.events == [],
                   "pamdrive authenticated or something was shown")
        self.check(out, self.provider.stats()["authorize"] == 0,
                   "a sign-in was started")
        self.check(out, not any("access rule" in e["text"]
                                for e in out.logs), "a rule was judged")

    def test_account_phase_alone_required_then_permit(self):
        """As administrators write it: required pam_ion, then pam_permit:
        pam_ion ignored, so pam_permit decides."""
        s = self.stacked("account required {module} config={conf} "
                       "[require_groups=ops]\n"
                       "account required pam_permit.so\n")
        out = s.run(Person(login=None, answers=[]), acct="only")
        self.assertAcct(out, PAM_SUCCESS)

    def test_after_another_modules_authentication(self):
        """pam_permit authenticated (sufficient, before pam_ion, which
        never ran): PAM_IGNORE."""
        s = self.stacked("auth sufficient pam_permit.so\n"
                       "auth required {module} config={conf}\n"
                       "account %s {module} config={conf} "
                       "[require_groups=ops]\n" % TRANSPARENT)
        out = s.run(Person(login=None, answers=[]), acct="1")
        self.check(out, out.code == PAM_SUCCESS, "pam_permit: %s" % out.code)
        self.assertAcct(out, PAM_IGNORE)
        self.check(out, out.events == [], "pam_ion's auth ran")

    def test_after_pam_ion_failed(self):
        """pam_ion's authentication failed (a rule): the account phase
        has nothing of pam_ion's to judge: PAM_IGNORE."""
        self.give(claims={"groups": ["staff"]})
        s = self.stacked("auth required {module} config={conf} "
                       "[require_groups=ops]\n"
                       "account %s {module} config={conf}\n" % TRANSPARENT)
        out = s.run(Person(), acct="1")
        self.check(out, out.code == PAM_AUTH_ERR, "auth: %s" % out.code)
        self.assertAcct(out, PAM_IGNORE)
        self.assertRuleLog(out, "require_groups", logs=self.auth_logs(out))

    def test_rules_met(self):
        """pam_ion authenticated; the account line's rules hold on the
        kept claims → PAM_SUCCESS, and no second sign-in."""
        self.give(claims={"groups": ["ops"], "mfa": True}, acr=ACR_HIGH)
        s = self.stacked("auth required {module} config={conf}\n"
                       "account %s {module} config={conf} "
                       "[require_groups=admins ops] require_claims=mfa=true "
                       "require_acr=%s\n" % (TRANSPARENT, ACR_HIGH))
        out = s.run(Person(), acct="1")
        self.check(out, out.code == PAM_SUCCESS, "auth: %s" % out.code)
        self.assertAcct(out, PAM_SUCCESS)
        self.check(out, out.exit == 0, "pamdrive exit %s" % out.exit)
        st = self.provider.stats()
        self.check(out, st["authorize"] == 1 and st["token"] == 1,
                   "one sign-in: %r" % {k: st[k] for k in ("authorize",
                                                           "token")})

    def test_rules_not_met_on_the_account_line(self):
        """The auth line has no rules (signs in), the account line's
        require_groups fails → PAM_PERM_DENIED, one line naming it."""
        self.give(claims={"groups": ["staff", LONG_GROUP]})
        s = self.stacked("auth required {module} config={conf}\n"
                       "account %s {module} config={conf} "
                       "[require_groups=admins ops]\n" % TRANSPARENT)
        out = s.run(Person(), acct="1")
        self.check(out, out.code == PAM_SUCCESS, "auth: %s" % out.code)
        self.assertAcct(out, PAM_PERM_DENIED)
        self.check(out, out.exit == 1, "pamdrive exit %s" % out.exit)
        self.assertRuleLog(out, "require_groups", logs=self.account_logs(out),
                           phase="account", hidden=[LONG_GROUP])

    def test_each_rule_on_the_account_line(self):
        """require_claims, require_acr and a userinfo-only claim on the
        account line, judged on what pam_ion kept."""
        # (the auth line's rule, which holds; the account line's, which
        # does not; the account; the key named)
        cases = [
            ("require_claims=mfa=false", "require_claims=mfa=true",
             {"claims": {"mfa": False}}, "require_claims"),
            ("require_acr=" + ACR_LOW, "require_acr=" + ACR_HIGH,
             {"acr": ACR_LOW}, "require_acr"),
            ("require_claims=department=dev", "require_claims=department=ops",
             {"claims": {"department": "dev"},
              "userinfo_only": ["department"]}, "require_claims"),
            ("[require_groups=staff]", "[require_groups=admins ops]",
             {"claims": {"groups": ["staff"]}}, "require_groups"),
        ]
        for auth_rule, rule, give, key in cases:
            with self.subTest(rule=rule):
                self.provider.reset()
                self.give(**give)
                s = self.stacked("auth required {module} config={conf} %s\n"
                               "account %s {module} config={conf} %s\n" % (
                                   auth_rule, TRANSPARENT, rule))
                out = s.run(Person(), acct="1")
                self.check(out, out.code == PAM_SUCCESS,
                           "auth (its own rule holds): %s" % out.code)
                self.assertAcct(out, PAM_PERM_DENIED)
                self.assertRuleLog(out, key, logs=self.account_logs(out),
                                   phase="account")

    def test_account_rules_from_its_own_config(self):
        """The account line reads another pam_ion.conf, which has the
        rule: that file's rules are the account line's."""
        self.give(claims={"groups": ["staff"]})
        s = self.hsetup()
        conf2 = s.conf + ".account"
        with open(s.conf) as f:
            text = f.read()
        write_private(conf2, text + "require_groups = ops\n", 0o644)
        s.write_stack("auth required {module} config={conf}\n"
                      "account %s {module} config=%s\n" % (TRANSPARENT,
                                                           conf2))
        out = s.run(Person(), acct="1")
        self.check(out, out.code == PAM_SUCCESS, "auth: %s" % out.code)
        self.assertAcct(out, PAM_PERM_DENIED)

    def test_pam_user_changed(self):
        """PAM_USER is bob by the account phase (alice signed in):
        PAM_PERM_DENIED, even without rules."""
        s = self.stacked("auth required {module} config={conf}\n"
                       "account %s {module} config={conf}\n" % TRANSPARENT)
        out = s.run(Person(), acct="1", setuser="bob")
        self.check(out, out.code == PAM_SUCCESS and out.user == "alice",
                   "auth: %s %s" % (out.code, out.user))
        self.check(out, out.acct_user == "bob", "PAM_USER %r" % out.acct_user)
        self.assertAcct(out, PAM_PERM_DENIED)
        self.check(out, len(self.account_logs(out)) == 1,
                   "one account line for the changed user")

    def test_pam_user_changed_in_case_or_blank(self):
        """"Alice" and "alice " are other users than alice."""
        for other in ("Alice", "alice ", "alic"):
            with self.subTest(user=other):
                self.provider.reset()
                s = self.stacked("auth required {module} config={conf}\n"
                                 "account %s {module} config={conf}\n" %
                                 TRANSPARENT)
                out = s.run(Person(), acct="1", setuser=other)
                self.check(out, out.code == PAM_SUCCESS, "auth: %s" %
                           out.code)
                self.assertAcct(out, PAM_PERM_DENIED)

    def test_stale_sign_in(self):
        """The person waits at a later prompt until the sign-in is older
        than the account line's login_timeout: a line with rules of its
        own denies (they are never skipped), one without ignores."""
        short = "login_timeout=10 http_timeout=5"
        s = self.stacked("auth required {module} config={conf}\n"
                         "account %s {module} config={conf} %s "
                         "[require_groups=ops]\n" % (TRANSPARENT, short))
        self.provider.set_account("alice", claims={"groups": ["ops"]})
        out = s.run(Person(), acct="1", acct_delay=11)
        self.check(out, out.code == PAM_SUCCESS, "auth: %s" % out.code)
        self.assertAcct(out, PAM_PERM_DENIED)
        self.check(out, any("older than login_timeout" in e["text"]
                            for e in self.account_logs(out)),
                   "no account log line for the old sign-in")
        self.provider.reset()
        s = self.stacked("auth required {module} config={conf}\n"
                         "account %s {module} config={conf} %s\n"
                         % (TRANSPARENT, short))
        out = s.run(Person(), acct="1", acct_delay=11)
        self.check(out, out.code == PAM_SUCCESS, "auth: %s" % out.code)
        self.assertAcct(out, PAM_IGNORE)

    def test_pam_user_unchanged_control(self):
        s = self.stacked("auth required {module} config={conf}\n"
                       "account %s {module} config={conf}\n" % TRANSPARENT)
        out = s.run(Person(), acct="1", setuser="alice")
        self.assertAcct(out, PAM_SUCCESS)

    def test_account_stacks(self):
        """A failing account rule in the stacks administrators write:
        never 0 or 25."""
        stacks = {
            "required-then-permit": ("account required {module} "
                                     "config={conf} [require_groups=ops]\n"
                                     "account required pam_permit.so\n"),
            "sufficient-then-deny": ("account sufficient {module} "
                                     "config={conf} [require_groups=ops]\n"
                                     "account required pam_deny.so\n"),
            "requisite": ("account requisite {module} config={conf} "
                          "[require_groups=ops]\n"
                          "account required pam_permit.so\n"),
        }
        for name, acct in stacks.items():
            with self.subTest(stack=name):
                self.provider.reset()
                self.give(claims={"groups": ["staff"]})
                s = self.stacked("auth required {module} config={conf}\n" +
                               acct)
                out = s.run(Person(), acct="1")
                self.check(out, out.code == PAM_SUCCESS,
                           "auth: %s" % out.code)
                self.check(out, out.acct_code not in (PAM_SUCCESS,
                                                      PAM_IGNORE),
                           "FAIL OPEN: account %s" % out.acct_code)
                if name != "sufficient-then-deny":
                    self.assertAcct(out, PAM_PERM_DENIED)


# ---------------------------------------------------------------- stacks

class Stacks(RulesCase):
    """Each denial in the auth stacks administrators write: permit then
    required pam_ion (pam_ion's PAM_AUTH_ERR), sufficient pam_ion then
    pam_deny (pam_deny's PAM_AUTH_ERR): never 0 or 25."""

    DENIALS = {
        "require_groups": ({"claims": {"groups": ["staff"]}},
                           ["[require_groups=admins ops]"], None),
        "require_claims": ({"claims": {"mfa": False}},
                           ["require_claims=mfa=true"], None),
        "require_acr": ({"acr": ACR_LOW},
                        ["acr_values=" + ACR_HIGH, "require_acr=" + ACR_HIGH],
                        None),
        "max_age": ({}, ["max_age=0", "login_prompt=yes"],
                    {"id_token": {"claims": {"auth_time": "now-3600"}}}),
    }

    def test_each_denial_in_each_stack(self):
        for key, (give, args, token) in self.DENIALS.items():
            for name, text in AUTH_STACKS.items():
                with self.subTest(rule=key, stack=name):
                    self.provider.reset()
                    self.give(**give)
                    s = self.hsetup()
                    s.write_stack(text.replace("{args}", args_text(args)))
                    if token is not None:
                        self.provider.misbehave(token)
                    out = s.run(Person())
                    self.check(out, out.code not in (PAM_SUCCESS,
                                                     PAM_IGNORE),
                               "FAIL OPEN: %s %s" % (out.code,
                                                     out.code_name))
                    self.assertResult(out, PAM_AUTH_ERR)
                    self.assertRuleLog(out, key)

    def test_control_each_stack_when_met(self):
        for name, text in AUTH_STACKS.items():
            with self.subTest(stack=name):
                self.provider.reset()
                self.give(claims={"groups": ["ops"]})
                s = self.hsetup()
                s.write_stack(text.replace(
                    "{args}", " [require_groups=admins ops]"))
                out = s.run(Person())
                self.assertAllowed(out)


# ---------------------------------------------------------------- attacks

class Attacks(RulesCase):
    """The person at the phone works against the rules."""

    def old_session(self, ph, acr=None, age=3600):
        """The phone signs in once (no rules), then its provider session
        is made `age` seconds old: someone who signed in at iON an hour
        ago, with whatever acr that sign-in had."""
        if acr is not None:
            self.give(acr=acr)
        out = self.run_rules({}, person=Person(phone=ph))
        self.assertAllowed(out)
        self.check(out, ph.logins == 1, "the first sign-in had no login")
        self.check(out, self.provider.age_sessions(age) >= 1, "no session")
        return out

    def test_strip_max_age_and_prompt(self):
        """max_age = 0 and login_prompt = yes; the person strips both from
        the link and the provider reuses the hour-old session: auth_time
        is an hour old → denied at the max_age check."""
        ph = new_phone()
        self.old_session(ph)
        out = self.run_rules(
            {"max_age": "0", "login_prompt": "yes"},
            person=Person(phone=ph, edit_url=strip_params("max_age",
                                                          "prompt")))
        self.check(out, ph.logins == 1, "the provider asked to sign in "
                   "again: the attack did not happen")
        az = self.last_authorize(out)
        self.check(out, "max_age" not in az and "prompt" not in az,
                   "the parameters reached the provider: %r" % az)
        self.assertDenied(out, "max_age")

    def test_strip_max_age_alone(self):
        """max_age = 300 without login_prompt, stripped: the session is an
        hour old → denied."""
        ph = new_phone()
        self.old_session(ph)
        out = self.run_rules(
            {"max_age": "300"},
            person=Person(phone=ph, edit_url=strip_params("max_age")))
        self.check(out, ph.logins == 1, "signed in again")
        self.assertDenied(out, "max_age")

    def test_not_stripped_control(self):
        """The same old session, the link as it is: the provider asks to
        sign in again (max_age, prompt=login) → fresh → PAM_SUCCESS."""
        ph = new_phone()
        self.old_session(ph)
        out = self.run_rules({"max_age": "0", "login_prompt": "yes"},
                             person=Person(phone=ph))
        self.assertAllowed(out)
        self.check(out, ph.logins == 2, "no new login page")

    def test_strip_acr_values(self):
        """The phone's session is of a low-assurance sign-in; the module
        asks acr_values=high and requires it; the person strips acr_values,
        so the provider does not step up → acr low → denied."""
        ph = new_phone()
        self.old_session(ph, acr=ACR_LOW, age=10)
        self.give(acr=ACR_HIGH)  # what a new sign-in would reach
        out = self.run_rules(
            {"acr_values": ACR_HIGH, "require_acr": ACR_HIGH},
            person=Person(phone=ph, edit_url=strip_params("acr_values")))
        self.check(out, ph.logins == 1, "signed in again")
        self.assertDenied(out, "require_acr")

    def test_acr_values_not_stripped_control(self):
        ph = new_phone()
        self.old_session(ph, acr=ACR_LOW, age=10)
        self.give(acr=ACR_HIGH)
        out = self.run_rules(
            {"acr_values": ACR_HIGH, "require_acr": ACR_HIGH},
            person=Person(phone=ph))
        self.assertAllowed(out)
        self.check(out, ph.logins == 2, "no step-up login")

    def test_strip_everything_at_once(self):
        """The sudo stack of the man page, everything stripped: denied."""
        ph = new_phone()
        self.old_session(ph, acr=ACR_LOW)
        self.give(acr=ACR_HIGH, claims={"groups": ["admins"]})
        out = self.run_rules(
            {"max_age": "0", "login_prompt": "yes", "acr_values": ACR_HIGH,
             "require_acr": ACR_HIGH, "require_groups": "admins"},
            person=Person(phone=ph, edit_url=strip_params(
                "max_age", "prompt", "acr_values")))
        self.check(out, ph.logins == 1, "signed in again")
        self.check(out, out.code not in (PAM_SUCCESS, PAM_IGNORE),
                   "FAIL OPEN: %s" % out.code)
        self.assertResult(out, PAM_AUTH_ERR)
        self.assertOneLog(out, r"access rule (max_age|require_acr) not met")

    def test_par_stripping_does_not_matter(self):
        """With PAR the parameters were pushed: the link carries only
        client_id and request_uri, stripping them from it changes nothing,
        and the provider asks to sign in again → PAM_SUCCESS with a fresh
        auth_time and the high acr."""
        ph = new_phone()
        self.old_session(ph, acr=ACR_LOW)
        self.give(acr=ACR_HIGH)
        self.provider.set_par("on")
        out = self.run_rules(
            {"max_age": "0", "login_prompt": "yes", "acr_values": ACR_HIGH,
             "require_acr": ACR_HIGH},
            person=Person(phone=ph, edit_url=strip_params(
                "max_age", "prompt", "acr_values")))
        self.assertAllowed(out)
        self.check(out, ph.logins == 2, "no new login page under PAR")
        st = self.provider.stats()
        self.check(out, st["par"] == 1 and len(st["par_requests"]) == 1,
                   "not pushed: %r" % st["par_requests"])
        pushed = st["par_requests"][0]
        self.check(out, pushed.get("max_age") == "0" and
                   pushed.get("prompt") == "login" and
                   pushed.get("acr_values") == ACR_HIGH,
                   "pushed without the parameters: %r" % pushed)
        az = self.last_authorize(out)
        self.check(out, set(az) <= {"client_id", "request_uri"},
                   "the link carries more than the request_uri: %r" % az)

    def test_par_with_an_old_session_and_a_stale_token(self):
        """PAR, and a token whose auth_time is an hour old anyway (a
        provider that ignored the pushed max_age): denied."""
        self.provider.set_par("on")
        out = self.run_rules({"max_age": "0", "login_prompt": "yes"},
                             token={"id_token": {"claims": {
                                 "auth_time": "now-3600"}}})
        self.assertDenied(out, "max_age")

    def test_forged_groups_unknown_key(self):
        """An id_token claiming admins, signed by a key not in the JWKS:
        denied at the signature, before any rule."""
        self.give(claims={"groups": ["staff"]})
        out = self.run_rules({"require_groups": "admins"},
                             token={"id_token": {
                                 "claims": {"groups": ["admins"]},
                                 "sign_with": "wrong_key"}})
        self.assertApplied(out, token=1)
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"id_token signature or algorithm refused")

    def test_forged_groups_tampered_after_signing(self):
        self.give(claims={"groups": ["staff"]})
        out = self.run_rules({"require_groups": "admins"},
                             token={"id_token": {"tamper_payload": {
                                 "groups": ["admins"]}}})
        self.assertApplied(out, token=1)
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"id_token signature or algorithm refused")

    def test_groups_signed_by_the_provider_control(self):
        """Control: the same groups re-signed with the provider's key are
        believed (so what refused above was the signature)."""
        self.give(claims={"groups": ["staff"]})
        out = self.run_rules({"require_groups": "admins"},
                             token={"id_token": {"claims": {
                                 "groups": ["admins"]}}})
        self.assertApplied(out, token=1)
        self.assertAllowed(out)

    def test_userinfo_cannot_add_a_group(self):
        """The id_token says staff; userinfo (asked for a claim only it
        has) says admins: userinfo fills only what is missing."""
        self.give(claims={"groups": ["staff"], "department": "ops"},
                  userinfo_only=["department"])
        out = self.run_rules({"require_groups": "admins",
                              "require_claims": "department=ops"},
                             endpoint={"endpoint": "userinfo",
                                       "json": {"groups": ["admins"]}})
        self.assertApplied(out, endpoint=1)
        self.assertDenied(out, "require_groups")


if __name__ == "__main__":
    unittest.main()
