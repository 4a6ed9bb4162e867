"""Failures that are not the person's: relay or provider unreachable, the
sign-in running out of time, and configuration errors."""

import base64
import os
import re
import unittest

from moduletest import (CLIENT_SECRET, LOG_ERR, PAM_AUTHINFO_UNAVAIL,
                        PAM_SERVICE_ERR, ModuleTestCase, Person, free_port)


class Unavailable(ModuleTestCase):

    def test_relay_down(self):
        """Nothing listens at relay_url → PAM_AUTHINFO_UNAVAIL at once, no
        QR code and no prompt (there is nothing to scan)."""
        s = self.setup(options={
            "relay_url": "http://127.0.0.1:%d" % free_port()})
        p = Person()
        out = s.run(p)
        self.assertResult(out, PAM_AUTHINFO_UNAVAIL)
        self.check(out, out.infos == [] and out.prompts == [],
                   "a QR code or prompt without a relay")
        self.check(out, out.errors ==
                   ["iON sign-in is not available right now."], "told")
        self.check(out, out.elapsed < 5.0, "took %.1f s" % out.elapsed)
        self.assertFailedLog(out, "alice", r"relay unreachable")

    def test_provider_down(self):
        """The issuer does not answer and the cache is cold (discovery
        unreachable) → PAM_AUTHINFO_UNAVAIL at once."""
        s = self.setup(options={
            "issuer": "http://127.0.0.1:%d" % free_port()})
        out = s.run(Person())
        self.assertResult(out, PAM_AUTHINFO_UNAVAIL)
        self.check(out, out.infos == [] and out.prompts == [],
                   "a QR code or prompt without a provider")
        self.check(out, out.errors ==
                   ["iON sign-in is not available right now."], "told")
        self.check(out, out.elapsed < 5.0, "took %.1f s" % out.elapsed)
        self.check(out, s.cache_files() == [], "something was cached")
        self.assertFailedLog(out, "alice", r"provider unreachable")

    def test_relay_key_unknown(self):
        """relay_key_file holds a key the relay does not know: the relay
        answers 401 → PAM_SERVICE_ERR at once, no QR code (a setup
        error, not an outage)."""
        s = self.setup(relay_key=base64.urlsafe_b64encode(
            os.urandom(32)).rstrip(b"=").decode() + "\n")
        out = s.run(Person())
        self.assertResult(out, PAM_SERVICE_ERR)
        self.check(out, out.infos == [] and out.prompts == [],
                   "a QR code or prompt with a refused key")
        self.check(out, out.elapsed < 5.0, "took %.1f s" % out.elapsed)
        self.assertFailedLog(out, "alice",
                             r"the relay refused this host's relay key")
        self.check(out, any(re.search(r"refused a request to /v1/logins "
                                      r"from .*unknown client key", line)
                            for line in self.relay.log_lines()),
                   "the relay did not log the refused key")

    def test_callback_never_comes(self):
        """prompt = auto, login_timeout = 15, and the person never signs in:
        the module long-polls the relay until the deadline, then →
        PAM_AUTHINFO_UNAVAIL, within the 15 s (and not much earlier)."""
        s = self.setup(options={"prompt": "auto", "login_timeout": "15"})
        p = Person(login=None, answers=[])
        out = s.run(p, timeout=40)
        self.assertResult(out, PAM_AUTHINFO_UNAVAIL)
        self.check(out, out.prompts == [], "no prompt in auto mode")
        self.check(out, len(out.infos) >= 2, "the QR code was shown")
        self.check(out, 13.0 <= out.elapsed <= 16.5,
                   "gave up after %.1f s, login_timeout is 15 s" %
                   out.elapsed)
        self.check(out, out.errors ==
                   ["iON sign-in took too long. Start again."], "told")
        self.assertFailedLog(out, "alice", r"login_timeout reached")


class ConfigErrors(ModuleTestCase):
    """Each → PAM_SERVICE_ERR before anything is shown, with one LOG_ERR
    line 'configuration: FILE:LINE: key: reason' (FILE: key: reason for a
    key that is missing), never quoting the secret."""

    def assertConfigError(self, s, pattern):
        out = s.run(Person())
        self.assertResult(out, PAM_SERVICE_ERR)
        self.check(out, out.events == [], "something was shown or asked")
        self.check(out, self.provider.stats()["discovery"] == 0,
                   "the provider was asked")
        text = self.assertOneLog(out, r"^configuration: " + pattern, LOG_ERR)
        return out, text

    def test_unknown_key(self):
        s = self.setup(extra_lines=["frobnicate = %s" % "x"])
        self.assertConfigError(s, r"%s:%d: frobnicate: unknown key$" % (
            re.escape(s.conf), s.line_of("frobnicate")))

    def test_client_secret_in_config(self):
        """Someone puts the secret itself into the file: refused, and the
        message does not quote it."""
        s = self.setup(extra_lines=["client_secret = " + CLIENT_SECRET])
        self.assertConfigError(s, r"%s:%d: client_secret: unknown key" % (
            re.escape(s.conf), s.line_of("client_secret ")))

    def test_unknown_argument(self):
        """An unknown module argument; its value is never quoted (it might
        be a secret put in the wrong place)."""
        s = self.setup(args=["frobnicate=1"])
        out, text = self.assertConfigError(
            s, r"argument 'frobnicate=\.\.\.': unknown key$")
        self.check(out, "=1" not in text, "the argument's value is quoted")

    def test_secret_file_mode(self):
        s = self.setup(secret_mode=0o644)
        self.assertConfigError(s, r"%s:%d: client_secret_file: %s: mode 0644;"
                               r" it must be 0600 or 0400$" % (
                                   re.escape(s.conf),
                                   s.line_of("client_secret_file"),
                                   re.escape(s.secret_file)))

    def test_secret_file_not_root(self):
        s = self.setup()
        os.chown(s.secret_file, 65534, 65534)
        self.assertConfigError(s, r"%s:%d: client_secret_file: .*owned by "
                               r"uid 65534, not root$" % (
                                   re.escape(s.conf),
                                   s.line_of("client_secret_file")))

    def test_missing_required_key(self):
        s = self.setup(omit=["client_id"])
        self.assertConfigError(s, r"%s: client_id: required, but set neither"
                               r" in the file nor in the arguments$" %
                               re.escape(s.conf))

    def test_relay_key_file_missing_key(self):
        """relay_key_file is required."""
        s = self.setup(omit=["relay_key_file"])
        self.assertConfigError(s, r"%s: relay_key_file: required" %
                               re.escape(s.conf))

    def test_relay_key_file_mode(self):
        """The relay key readable by others (0644) or by the group (0640)
        is refused, never quoted."""
        for mode in (0o644, 0o640):
            with self.subTest(mode=oct(mode)):
                s = self.setup(relay_key_mode=mode)
                out, text = self.assertConfigError(
                    s, r"%s:%d: relay_key_file: " % (
                        re.escape(s.conf), s.line_of("relay_key_file")))
                self.check(out, self.relay.key not in text, "key quoted")

    def test_relay_key_file_not_root(self):
        s = self.setup()
        os.chown(s.relay_key_file, 65534, 65534)
        self.assertConfigError(s, r"%s:%d: relay_key_file: .*uid 65534" % (
            re.escape(s.conf), s.line_of("relay_key_file")))

    def test_relay_key_file_empty(self):
        """An empty key file (no key on its first line)."""
        s = self.setup(relay_key="")
        self.assertConfigError(s, r"%s:%d: relay_key_file: " % (
            re.escape(s.conf), s.line_of("relay_key_file")))

    def test_relay_key_file_absent(self):
        s = self.setup(options={"relay_key_file": "/nonexistent/relay_key"})
        self.assertConfigError(s, r"%s:%d: relay_key_file: " % (
            re.escape(s.conf), s.line_of("relay_key_file")))

    def test_http_to_non_loopback(self):
        s = self.setup(options={"relay_url": "http://relay.example.org"})
        self.assertConfigError(s, r"%s:%d: relay_url: .*" % (
            re.escape(s.conf), s.line_of("relay_url")))

    def test_http_issuer_non_loopback(self):
        s = self.setup(options={"issuer": "http://auth.example.org"})
        self.assertConfigError(s, r"%s:%d: issuer: .*" % (
            re.escape(s.conf), s.line_of("issuer")))


if __name__ == "__main__":
    unittest.main()
