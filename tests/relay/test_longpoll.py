"""GET /v1/logins/result?wait=N with N above 25 waits 25 s, not N.

Kept in its own file so that ctest runs this 25-second test in parallel with
the others. The polls below run at the same time, so it takes ~25 s in all.
"""

import time
import unittest

import relaytest as rt


class WaitCap(rt.RelayTestCase):

    def test_wait_above_25_is_25(self):
        waits = ["26", "100", "3600", "99999999999999999999999"]
        logins = [self.relay.new_login() for _ in waits]
        pollers = [rt.Poller(self.relay, l.secret, w, timeout=60)
                   for l, w in zip(logins, waits)]
        for p in pollers:
            p.start()
        for p in pollers:
            p.join(60)
        for w, p in zip(waits, pollers):
            with self.subTest(wait=w):
                self.assertFalse(p.is_alive())
                self.assertIsNone(p.exc, p.exc)
                self.assertEqual(p.resp.status, 202, p.resp)
                self.assertEqual(p.resp.json(), {"status": "pending"})
                self.assertGreater(p.elapsed, 24.0)
                self.assertLess(p.elapsed, 28.0)
        # the logins are still there after the wait ran out
        for l in logins:
            self.assertEqual(l.poll(0).status, 202)


if __name__ == "__main__":
    unittest.main()
