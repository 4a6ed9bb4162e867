"""pam-ion cache show|clear on the module's cache (cache.c's format)."""

import hashlib
import os
import time
import unittest

from tooltest import ToolCase, run

ISSUER = "http://127.0.0.1:9"
DISCOVERY = ISSUER + "/.well-known/openid-configuration"
JWKS = ISSUER + "/jwks"


def put(cache_dir, url, body, age=0, life=3600):
    """An entry as cache.c writes it."""
    now = int(time.time()) - age
    name = hashlib.sha256(url.encode()).hexdigest() + ".cache"
    path = os.path.join(cache_dir, name)
    data = body.encode()
    with open(path, "wb") as f:
        f.write(b"pam_ion-cache 1 %d %d %d\n" % (now, now + life, len(data)))
        f.write(data)
    os.chmod(path, 0o600)
    return now


class Cache(ToolCase):
    def test_show_and_clear(self):
        f = self.files()
        fetched = put(f.cache_dir, DISCOVERY, '{"jwks_uri": "%s"}' % JWKS)
        put(f.cache_dir, JWKS, '{"keys": []}')
        put(f.cache_dir, "http://127.0.0.1:9/old", "x", age=7200)
        open(os.path.join(f.cache_dir, "." + "a" * 64 + ".tmp-0011"),
             "w").close()
        status, out, err = run("cache", "--config", f.conf, "show")
        self.assertEqual((status, err), (0, ""))
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(fetched))
        self.assertEqual(out.splitlines(), [
            "cache %s" % f.cache_dir,
            "discovery %s: fetched %s, %d bytes" % (DISCOVERY, when,
                                                    len(JWKS) + 16),
            "jwks %s: fetched %s, 12 bytes" % (JWKS, when),
            "entries 4"])
        status, out, err = run("cache", "--config", f.conf, "clear")
        self.assertEqual((status, out, err), (0, "removed 4 entries\n", ""))
        self.assertEqual(os.listdir(f.cache_dir), [])
        status, out, _ = run("cache", "--config", f.conf, "show")
        self.assertEqual(out.splitlines(), [
            "cache %s" % f.cache_dir,
            "discovery %s: not cached (or expired)" % DISCOVERY,
            "entries 0"])

    def test_expired_and_configured_jwks(self):
        f = self.files(options={"jwks_uri": ISSUER + "/keys"})
        put(f.cache_dir, DISCOVERY, "{}", age=7200)
        status, out, _ = run("cache", "--config", f.conf, "show")
        self.assertEqual(status, 0)
        self.assertIn("discovery %s: not cached (or expired)" % DISCOVERY,
                      out)
        self.assertIn("jwks %s/keys: not cached (or expired)" % ISSUER, out)
        self.assertIn("entries 1", out)

    def test_no_directory(self):
        f = self.files(cache_dir=os.path.join(self.dir, "cache"))
        os.rmdir(f.cache_dir)
        status, out, _ = run("cache", "--config", f.conf, "show")
        self.assertEqual(status, 0)
        self.assertIn("entries 0 (no directory yet)", out)
        status, out, _ = run("cache", "--config", f.conf, "clear")
        self.assertEqual((status, out), (0, "removed 0 entries\n"))

    def test_clear_leaves_other_files(self):
        f = self.files()
        put(f.cache_dir, DISCOVERY, "{}")
        keep = os.path.join(f.cache_dir, "README")
        open(keep, "w").close()
        status, out, _ = run("cache", "--config", f.conf, "clear")
        self.assertEqual((status, out), (0, "removed 1 entries\n"))
        self.assertEqual(os.listdir(f.cache_dir), ["README"])


if __name__ == "__main__":
    unittest.main()
