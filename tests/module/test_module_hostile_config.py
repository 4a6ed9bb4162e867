"""Fail-closed matrix, part 6: configuration, the user map and who the user
is.  A bad configuration → PAM_SERVICE_ERR (3) before anything is shown,
with one LOG_ERR line 'configuration: FILE[:LINE]: ...'.  The user map is
read only after the sign-in: a malformed map → PAM_SERVICE_ERR then; odd
but well-formed lines (tabs, CRLF, comments) are fine.  A token user that
maps to another account → PAM_AUTH_ERR (7); no user name at all → what
pam_get_user gives (an empty name → PAM_USER_UNKNOWN (10), none →
PAM_CONV_ERR (19))."""

import hashlib
import json
import os
import re
import time
import unittest

from hostile import HostileCase, closed_port
from moduletest import (CLIENT_SECRET, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL,
                        PAM_SERVICE_ERR, PAM_SUCCESS, PAM_USER_UNKNOWN,
                        Person, http)

PAM_CONV_ERR = 19


def rewrite(path, text, mode=0o644, uid=0):
    with open(path, "w") as f:
        f.write(text)
    os.chown(path, uid, 0)
    os.chmod(path, mode)


class ConfigFile(HostileCase):

    def conf_error(self, s, pattern):
        out = s.run(Person())
        text = self.assertConfigFailure(out, pattern)
        self.check(out, CLIENT_SECRET not in text, "the secret is quoted")
        self.check(out, self.provider.stats()["discovery"] == 0,
                   "the provider was asked")
        return out, text

    def test_unknown_key(self):
        s = self.hsetup(extra_lines=["login_timout = 30"])
        self.conf_error(s, r"%s:%d: login_timout: unknown key$" % (
            re.escape(s.conf), s.line_of("login_timout")))

    def test_bad_number_suffix(self):
        s = self.hsetup({"login_timeout": "30s"})
        self.conf_error(s, r"%s:%d: login_timeout: expected seconds in "
                        r"10\.\.3600$" % (re.escape(s.conf),
                                          s.line_of("login_timeout")))

    def test_bad_number_negative(self):
        s = self.hsetup({"http_timeout": "-1"})
        self.conf_error(s, r".*:\d+: http_timeout: expected seconds")

    def test_bad_number_overflow(self):
        s = self.hsetup({"login_timeout": "99999999999999999999"})
        self.conf_error(s, r".*:\d+: login_timeout: expected seconds")

    def test_bad_number_zero(self):
        s = self.hsetup({"http_timeout": "0"})
        self.conf_error(s, r".*:\d+: http_timeout: expected seconds")

    def test_http_timeout_not_below_login_timeout(self):
        s = self.hsetup({"login_timeout": "10", "http_timeout": "10"})
        self.conf_error(s, r".*: (http|login)_timeout: must be")

    def test_bad_boolean(self):
        s = self.hsetup({"user_from_token": "maybe"})
        self.conf_error(s, r".*:\d+: user_from_token: expected yes or no")

    def test_allowed_algs_hs256(self):
        s = self.hsetup({"allowed_algs": "RS256 HS256"})
        self.conf_error(s, r".*:\d+: allowed_algs: ")

    def test_allowed_algs_none(self):
        s = self.hsetup({"allowed_algs": "none"})
        self.conf_error(s, r".*:\d+: allowed_algs: ")

    def test_repeated_key(self):
        s = self.hsetup(extra_lines=["client_id = someone-else"])
        self.conf_error(s, r".*:\d+: client_id: ")

    def test_comment_after_value(self):
        s = self.hsetup({"client_id": "pam-test # the id"})
        self.conf_error(s, r".*:\d+: client_id: ")

    def test_config_file_missing(self):
        s = self.hsetup()
        os.unlink(s.conf)
        self.conf_error(s, r"%s: " % re.escape(s.conf))

    def test_config_file_symlink(self):
        """The config file is a symlink (to a root-owned, 0644 copy) →
        refused."""
        s = self.hsetup()
        real = s.conf + ".real"
        os.rename(s.conf, real)
        os.symlink(real, s.conf)
        self.conf_error(s, r"%s: .*" % re.escape(s.conf))

    def test_config_file_group_writable(self):
        s = self.hsetup()
        os.chmod(s.conf, 0o664)
        self.conf_error(s, r"%s: writable by group or others \(mode 0664\); "
                        r"chmod go-w it$" %
                        re.escape(s.conf))

    def test_config_file_not_root(self):
        s = self.hsetup()
        os.chown(s.conf, 65534, 65534)
        self.conf_error(s, r"%s: owned by uid 65534, not root$" %
                        re.escape(s.conf))

    def test_config_file_is_a_fifo(self):
        """A FIFO in the config file's place must not hang the module."""
        s = self.hsetup()
        os.unlink(s.conf)
        os.mkfifo(s.conf, 0o644)
        self.conf_error(s, r"%s: not a regular file$" % re.escape(s.conf))

    def test_secret_file_wrong_owner(self):
        s = self.hsetup()
        os.chown(s.secret_file, 65534, 65534)
        self.conf_error(s, r".*:\d+: client_secret_file: .*owned by uid "
                        r"65534, not root$")

    def test_secret_file_wrong_mode(self):
        s = self.hsetup(secret_mode=0o640)
        self.conf_error(s, r".*:\d+: client_secret_file: .*mode 0640; it "
                        r"must be 0600 or 0400$")

    def test_secret_file_missing(self):
        s = self.hsetup()
        os.unlink(s.secret_file)
        self.conf_error(s, r".*:\d+: client_secret_file: ")

    def test_secret_file_symlink(self):
        s = self.hsetup()
        real = s.secret_file + ".real"
        os.rename(s.secret_file, real)
        os.symlink(real, s.secret_file)
        self.conf_error(s, r".*:\d+: client_secret_file: ")

    def test_secret_file_empty(self):
        s = self.hsetup()
        rewrite(s.secret_file, "\n", 0o600)
        self.conf_error(s, r".*:\d+: client_secret_file: ")

    def test_issuer_plain_http_remote(self):
        s = self.hsetup({"issuer": "http://auth.example.org"})
        self.conf_error(s, r".*:\d+: issuer: ")

    def test_unknown_argument(self):
        s = self.hsetup(args=["debug=yes", "secret=" + CLIENT_SECRET])
        self.conf_error(s, r"argument 'secret=\.\.\.': unknown key$")


class PlantedCache(HostileCase):
    """A discovery document planted in the cache directory, naming a key
    set nobody serves: used only from a directory root alone can write."""

    def plant(self, s):
        url = self.provider.issuer + "/.well-known/openid-configuration"
        doc = http("GET", url)[1]
        self.provider.reset()
        doc["jwks_uri"] = "http://127.0.0.1:%d/planted-jwks" % closed_port()
        body = json.dumps(doc).encode()
        now = int(time.time())
        name = hashlib.sha256(url.encode()).hexdigest() + ".cache"
        path = os.path.join(s.cache_dir, name)
        with open(path, "wb") as f:
            f.write(b"pam_ion-cache 1 %d %d %d\n" % (now - 1, now + 300,
                                                     len(body)) + body)
        os.chown(path, 0, 0)
        os.chmod(path, 0o600)

    def test_control_planted_entry_is_used(self):
        """Control: in the proper cache directory (root, 0700) the entry is
        used: the planted key set is unreachable → PAM_AUTHINFO_UNAVAIL."""
        s = self.hsetup()
        self.plant(s)
        out = s.run(Person())
        self.assertFailsClosed(out, PAM_AUTHINFO_UNAVAIL,
                               r"provider unreachable")
        self.check(out, self.provider.stats()["discovery"] == 0,
                   "discovery was fetched")

    def test_world_writable_cache_dir_is_not_trusted(self):
        """The same entry in a cache directory others may write (0777):
        not read (discovery is fetched afresh) → PAM_SUCCESS, and nothing
        is written there."""
        s = self.hsetup()
        self.plant(s)
        os.chmod(s.cache_dir, 0o777)
        out = s.run(Person())
        self.assertResult(out, PAM_SUCCESS, user="alice")
        st = self.provider.stats()
        self.check(out, (st["discovery"], st["jwks"]) == (1, 1),
                   "discovery, jwks = %r" % ((st["discovery"], st["jwks"]),))
        self.check(out, len(s.cache_files()) == 1, "written to: %r" %
                   s.cache_files())


class UserMap(HostileCase):
    """The map is read after the sign-in (the verified claims pick the
    line)."""

    def map_setup(self, text, **kw):
        return self.hsetup(user_map=text, **kw)

    def test_odd_but_valid_lines(self):
        """Tabs between the fields, CRLF line ends, blank lines, comment
        lines, leading blanks → the line still maps → PAM_SUCCESS."""
        text = ("# comment\r\n\r\n   \t\r\n"
                "\talice@example.org\t\talice\t\r\n"
                "   # another comment\r\n"
                "bob@example.org bob")  # no final newline
        s = self.map_setup(text)
        out = s.run(Person())
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.assertSignedInLog(out, "alice")

    def map_error(self, text, pattern):
        s = self.map_setup(text)
        out = s.run(Person())
        self.assertFailsClosed(out, PAM_SERVICE_ERR, pattern)
        return out

    def test_three_fields(self):
        self.map_error("alice@example.org alice root\n",
                       r".*pam_ion\.users:1: expected 'KEY LOCAL-USER'")

    def test_comment_after_user(self):
        self.map_error("alice@example.org alice # me\n",
                       r".*pam_ion\.users:1: expected 'KEY LOCAL-USER' "
                       r"\(comments take a whole line\)")

    def test_one_field(self):
        self.map_error("# ok\nalice@example.org\n",
                       r".*pam_ion\.users:2: expected 'KEY LOCAL-USER'")

    def test_conflicting_lines(self):
        self.map_error("alice@example.org alice\nalice@example.org root\n",
                       r".*pam_ion\.users:\d: the key is also on line \d "
                       r"with a different user")

    def test_bad_local_user(self):
        self.map_error("alice@example.org ../root\n",
                       r".*pam_ion\.users:1: not a valid local user name")

    def test_nul_in_map(self):
        self.map_error("alice@example.org alice\x00root\n",
                       r".*pam_ion\.users:1: NUL character")

    def test_map_missing(self):
        s = self.hsetup()
        os.unlink(s.map_file)
        out = s.run(Person())
        self.assertFailsClosed(out, PAM_SERVICE_ERR,
                               r"%s: " % re.escape(s.map_file))

    def test_map_symlink(self):
        s = self.hsetup()
        real = s.map_file + ".real"
        os.rename(s.map_file, real)
        os.symlink(real, s.map_file)
        out = s.run(Person())
        self.assertFailsClosed(out, PAM_SERVICE_ERR,
                               r"%s: " % re.escape(s.map_file))

    def test_map_writable_by_others(self):
        s = self.hsetup()
        os.chmod(s.map_file, 0o666)
        out = s.run(Person())
        self.assertFailsClosed(out, PAM_SERVICE_ERR,
                               r"%s: writable by group or others" %
                               re.escape(s.map_file))

    def test_token_user_maps_to_another_account(self):
        """PAM_USER alice; bob signs in on the phone (through the link on
        alice's screen) and types his code: bob maps to bob →
        PAM_AUTH_ERR, PAM_USER stays alice."""
        s = self.hsetup()
        out = s.run(Person(login="bob"), user="alice")
        self.assertFailsClosed(out, PAM_AUTH_ERR,
                               r"the identity maps to another account")
        self.check(out, out.user == "alice", "PAM_USER is now %r" %
                   out.user)

    def test_claim_value_posing_as_sub_key(self):
        """user_claim = name, and a map line 'sub:alice root': a token whose
        name claim is 'sub:alice' must not match it (sub: keys match only
        the sub claim).  Bob (name 'sub:alice', verified) → no line →
        PAM_USER_UNKNOWN, never root."""
        s = self.hsetup({"user_claim": "name"},
                        user_map="sub:alice root\n")
        self.misbehave({"id_token": {"claims": {"name": "sub:alice"}}})
        out = s.run(Person(login="bob"), user="root")
        self.assertFailsClosed(out, PAM_USER_UNKNOWN,
                               r"no local account for this identity",
                               user="root")


class NoUser(HostileCase):
    """The service gives no PAM_USER and user_from_token = no: the module
    asks with pam_get_user, as any module would."""

    def test_empty_name(self):
        """An empty answer: pam_get_user succeeds with '' → the module
        refuses → PAM_USER_UNKNOWN, before any QR code."""
        s = self.hsetup()
        out = s.run(Person(login=None, answers=[""]), user=None)
        self.check(out, out.code not in (0, 25), "FAIL OPEN")
        self.assertResult(out, PAM_USER_UNKNOWN)
        self.check(out, len(out.prompts) == 1 and out.infos == [],
                   "asked once, nothing shown: %r" % out.prompts)
        self.assertOneLog(out, r"^no user name given$", 5)
        self.check(out, self.provider.stats()["discovery"] == 0,
                   "the provider was asked")

    def test_no_answer(self):
        """The conversation fails at the name prompt (end of input) →
        pam_get_user's PAM_CONV_ERR."""
        s = self.hsetup()
        out = s.run(Person(login=None, answers=[]), user=None)
        self.check(out, out.code not in (0, 25), "FAIL OPEN")
        self.assertResult(out, PAM_CONV_ERR)
        self.assertOneLog(out, r"^no user name given$", 5)

    def test_user_from_token_maps_nobody(self):
        """user_from_token = yes, carol (verified, not in the map) →
        PAM_USER_UNKNOWN and PAM_USER stays unset."""
        s = self.hsetup({"user_from_token": "yes"})
        out = s.run(Person(login="carol"), user=None)
        self.assertFailsClosed(out, PAM_USER_UNKNOWN,
                               r"no local account for this identity",
                               user=None)
        self.check(out, out.user is None, "PAM_USER set: %r" % out.user)


if __name__ == "__main__":
    unittest.main()
