"""Fail-closed matrix, part 8: TLS.  The stand-in provider serves HTTPS
(provider.js --tls-cert/--tls-key, issuer https://127.0.0.1:PORT) with
certificates from a throwaway CA made here with the openssl CLI; the test
swaps the certificate it serves (POST /__test/tls).

(a) a certificate for another host name, (b) an expired one, (c) one from
a CA the module does not trust (with ca_file naming our CA, and with the
system store) → PAM_AUTHINFO_UNAVAIL (9) at discovery, before anything is
shown; (d) the right CA through ca_file → the whole sign-in over HTTPS
succeeds.  Also: a certificate that goes bad between discovery and the
token request → PAM_AUTHINFO_UNAVAIL at the token endpoint."""

import os
import shutil
import ssl
import unittest

from hostile import CertAuthority, HostileCase, read
from moduletest import (PAM_AUTHINFO_UNAVAIL, PAM_SUCCESS, Person, Provider,
                        Stack, requirements_missing)


class TlsStack(Stack):
    """Stack with provider.js over HTTPS (--tls-cert/--tls-key); the relay
    stays on loopback HTTP.  The provider's control API is called without
    verifying the certificate (it changes under the tests' hands)."""

    prefix = "pam-ion-module-tls-"

    def prepare(self):
        self.ca = CertAuthority(self.dir, "trusted")
        self.other_ca = CertAuthority(self.dir, "untrusted")
        self.good = self.ca.leaf("good")
        self.certs = {
            "good": self.good,
            "wrong_host": self.ca.leaf("wronghost", san="DNS:wrong.example"),
            "expired": self.ca.leaf("expired", start="20200101000000Z",
                                    end="20200201000000Z"),
            "untrusted": self.other_ca.leaf("untrusted"),
            "not_yet_valid": self.ca.leaf("future", start="20990101000000Z",
                                          end="20990201000000Z"),
        }

    def new_provider(self, redirect_uri):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        cert, key = self.good
        provider = Provider(self.dir, redirect_uri, par=None, context=ctx,
                            extra_args=["--tls-cert", cert, "--tls-key", key])
        if not provider.issuer.startswith("https://"):
            provider.stop()
            raise AssertionError("the provider serves %s, not https" %
                                 provider.issuer)
        return provider

    def serve(self, name):
        cert, key = self.certs[name]
        self.provider.control("POST", "tls", {"cert": read(cert),
                                              "key": read(key)})


class Tls(HostileCase):

    @classmethod
    def setUpClass(cls):
        why = requirements_missing()
        if why:
            raise unittest.SkipTest(why)
        if shutil.which("openssl") is None:
            raise unittest.SkipTest("openssl is not installed")
        cls.stack = TlsStack()
        cls.provider = cls.stack.provider
        cls.relay = cls.stack.relay
        # The scripted phone (urllib) trusts our CA only.
        cls._old_cert_file = os.environ.get("SSL_CERT_FILE")
        os.environ["SSL_CERT_FILE"] = cls.stack.ca.cert

    @classmethod
    def tearDownClass(cls):
        if cls._old_cert_file is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = cls._old_cert_file
        cls.stack.close()

    def setUp(self):
        self.stack.serve("good")
        super().setUp()

    def tls_setup(self, ca_file=True, **kw):
        opts = {"ca_file": self.stack.ca.cert} if ca_file else {}
        opts.update(kw.pop("options", {}))
        return self.hsetup(opts, **kw)

    def bad_cert(self, name, ca_file=True):
        self.stack.serve(name)
        s = self.tls_setup(ca_file)
        out = s.run(Person())
        self.assertFailsClosed(out, PAM_AUTHINFO_UNAVAIL,
                               r"provider unreachable", within=5.0)
        self.check(out, out.infos == [] and out.prompts == [],
                   "something was shown")
        self.check(out, self.provider.stats()["discovery"] == 0,
                   "the provider answered discovery over a bad TLS "
                   "connection")
        return out

    def test_d_right_ca_full_sign_in(self):
        """(d) ca_file = our CA: discovery, token, JWKS and userinfo over
        HTTPS → PAM_SUCCESS."""
        s = self.tls_setup()
        out = s.run(Person())
        self.assertResult(out, PAM_SUCCESS, user="alice")
        self.assertSignedInLog(out, "alice")
        st = self.provider.stats()
        self.check(out, st["discovery"] == 1 and st["token"] == 1 and
                   st["jwks"] == 1, "requests %r" % {
                       k: st[k] for k in ("discovery", "token", "jwks")})

    def test_a_wrong_host_name(self):
        """(a) a certificate of our CA for wrong.example, served at
        127.0.0.1."""
        self.bad_cert("wrong_host")

    def test_b_expired(self):
        self.bad_cert("expired")

    def test_b_not_yet_valid(self):
        self.bad_cert("not_yet_valid")

    def test_c_untrusted_ca(self):
        """(c) a certificate from another CA; ca_file names ours."""
        self.bad_cert("untrusted")

    def test_c_own_ca_not_in_system_store(self):
        """(c) our CA's certificate, no ca_file: the system store (ca_path
        = /etc/ssl/certs) does not know our CA."""
        self.bad_cert("good", ca_file=False)

    def test_c_ca_file_wrong_ca(self):
        """ca_file names the other CA: our certificate is not trusted."""
        self.stack.serve("good")
        s = self.hsetup({"ca_file": self.stack.other_ca.cert})
        out = s.run(Person())
        self.assertFailsClosed(out, PAM_AUTHINFO_UNAVAIL,
                               r"provider unreachable", within=5.0)

    def test_certificate_goes_bad_before_token_request(self):
        """Discovery over a good certificate; the certificate is swapped
        for an expired one while the person types the code → the token
        request fails its handshake → PAM_AUTHINFO_UNAVAIL, and the code
        never reaches the provider."""
        stack = self.stack

        def answer(code):
            stack.serve("expired")
            return code

        s = self.tls_setup()
        out = s.run(Person(answers=[answer]))
        self.assertFailsClosed(out, PAM_AUTHINFO_UNAVAIL,
                               r"token endpoint unreachable")
        self.check(out, self.provider.stats()["token"] == 0,
                   "the token request went through")

    def test_http_to_https_port(self):
        """issuer http:// at the HTTPS port (a misconfiguration): no
        answer the module can use → PAM_AUTHINFO_UNAVAIL."""
        s = self.hsetup({"issuer": self.provider.issuer.replace(
            "https://", "http://")})
        out = s.run(Person())
        self.assertFailsClosed(out, PAM_AUTHINFO_UNAVAIL,
                               r"provider (unreachable|document not "
                               r"available)", within=5.0)


if __name__ == "__main__":
    unittest.main()
