"""/healthz, /metrics, and counters moving as they should."""

import re
import unittest

import relaytest as rt

P = "pam_ion_relay_"


class Health(rt.RelayTestCase):

    def test_healthz(self):
        r = self.relay.get("/healthz")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type", "").split(";")[0].strip(),
                         "text/plain", r)
        self.assertEqual(r.text.strip(), "ok")
        self.assertSecurityHeaders(r)

    def test_metrics_format(self):
        r = self.relay.get("/metrics")
        self.assertEqual(r.status, 200, r)
        ct = [p.strip() for p in r.header("Content-Type", "").split(";")]
        self.assertEqual(ct[0], "text/plain", r)
        self.assertIn("version=0.0.4", ct, r)
        self.assertSecurityHeaders(r)
        m = rt.Metrics(r.text)
        self.assertEqual(m.bad_lines, [], "unparsable lines")
        self.assertTrue(r.text.endswith("\n"))
        for name, typ in rt.METRIC_TYPES.items():
            with self.subTest(metric=name):
                self.assertEqual(m.types.get(name), typ)
                if name != P + "rejections_total":
                    v = m.value(name)
                    self.assertIsNotNone(v, "no sample for " + name)
                    self.assertGreaterEqual(v, 0)
        for reason in rt.REJECTION_REASONS:
            with self.subTest(reason=reason):
                self.assertIsNotNone(
                    m.value(P + "rejections_total", reason=reason),
                    "no rejections_total{reason=%r} series" % reason)
        # every sample belongs to a declared family
        for (name, _labels) in m.samples:
            self.assertIn(name, m.types, "sample %s without # TYPE" % name)

    def test_store_metrics(self):
        m = self.relay.metrics()
        if not rt.ON_REDIS:
            self.assertEqual(m.types.get(P + "used_codes"), "gauge")
            self.assertIsNotNone(m.value(P + "used_codes"))
            return
        for name, typ in [(P + "store_up", "gauge"),
                          (P + "store_errors_total", "counter"),
                          (P + "store_reconnects_total", "counter")]:
            with self.subTest(metric=name):
                self.assertEqual(m.types.get(name), typ)
                self.assertIsNotNone(m.value(name), "no sample for " + name)
        self.assertEqual(m.value(P + "store_up"), 1, "store_up while "
                         "/healthz says ok")
        self.assertIsNotNone(
            m.value(P + "rejections_total", reason="store_unavailable"),
            "no rejections_total{reason=\"store_unavailable\"} series")
        # the memory store's gauge: with Redis the line is left out
        self.assertNotIn(P + "used_codes", m.types)
        self.assertIsNone(m.value(P + "used_codes"))


class Counters(rt.RelayTestCase):
    relay_args = ("--max-pending", "50")

    def delta(self, before, after, name, **labels):
        b = before.value(name, **labels)
        a = after.value(name, **labels)
        self.assertIsNotNone(a, name)
        self.assertIsNotNone(b, name)
        return a - b

    def test_flow_counters(self):
        relay = self.relay
        m0 = relay.metrics()
        login = relay.new_login()
        m1 = relay.metrics()
        self.assertEqual(self.delta(m0, m1, P + "registrations_total"), 1)
        self.assertEqual(self.delta(m0, m1, P + "pending_logins"), 1)
        self.assertEqual(self.delta(m0, m1, P + "callbacks_total"), 0)
        self.assertEqual(relay.get(login.path).status, 200)
        self.assertEqual(login.callback_code("c").status, 200)
        m2 = relay.metrics()
        self.assertEqual(self.delta(m1, m2, P + "callbacks_total"), 1)
        self.assertEqual(self.delta(m1, m2, P + "pending_logins"), 0)
        self.assertEqual(self.delta(m1, m2, P + "results_delivered_total"), 0)
        self.assertEqual(login.poll(0).status, 200)
        m3 = relay.metrics()
        self.assertEqual(self.delta(m2, m3, P + "results_delivered_total"), 1)
        self.assertEqual(self.delta(m2, m3, P + "pending_logins"), -1)
        self.assertEqual(self.delta(m0, m3, P + "registrations_total"), 1)
        self.assertEqual(self.delta(m0, m3, P + "expirations_total"), 0)
        # nothing in a good flow is a rejection
        for reason in rt.REJECTION_REASONS:
            self.assertEqual(self.delta(m0, m3, P + "rejections_total",
                                        reason=reason), 0, reason)

    def test_error_callback_counts(self):
        relay = self.relay
        m0 = relay.metrics()
        login = relay.new_login()
        relay.callback([("state", login.state), ("error", "access_denied")])
        self.assertEqual(login.poll(0).status, 200)
        m1 = relay.metrics()
        self.assertEqual(self.delta(m0, m1, P + "callbacks_total"), 1)
        self.assertEqual(self.delta(m0, m1, P + "results_delivered_total"), 1)
        self.assertEqual(self.delta(m0, m1, P + "pending_logins"), 0)

    def test_parked_gauge(self):
        relay = self.relay
        login = relay.new_login()
        g0 = relay.metric(P + "parked_polls")
        p = rt.Poller(relay, login.secret, 25)
        p.start()
        self.assertEqual(rt.wait_parked(relay, g0 + 1), g0 + 1)
        login.callback_code("c-parked")
        p.join(5)
        self.assertEqual(p.resp.status, 200)
        self.assertEqual(relay.wait_metric(P + "parked_polls", g0, 2), g0)

    def test_counters_monotonic_and_unaffected_by_reads(self):
        relay = self.relay
        m0 = relay.metrics()
        for _ in range(3):
            relay.get("/healthz")
            relay.get("/metrics")
        m1 = relay.metrics()
        ours = lambda m: {k: v for k, v in m.samples.items()
                          if k[0] in rt.METRIC_TYPES}
        self.assertTrue(ours(m0))
        self.assertEqual(ours(m0), ours(m1))

    def rejection(self, reason, provoke):
        relay = self.relay
        m0 = relay.metrics()
        r = provoke()
        m1 = relay.metrics()
        changed = {}
        for rr in rt.REJECTION_REASONS:
            d = self.delta(m0, m1, P + "rejections_total", reason=rr)
            if d:
                changed[rr] = d
        self.assertEqual(changed, {reason: 1},
                         "provoking %s (answer %d) moved %r"
                         % (reason, r.status, changed))

    def test_rejection_reasons(self):
        relay = self.relay
        login = relay.new_login()
        used = relay.new_login()
        self.assertEqual(used.callback_code("c-used-once").status, 200)
        other_secret, _ = rt.new_secret()
        _, s = rt.new_secret()
        good = rt.authorize_url(s)
        cases = [
            ("bad_request", lambda: relay.register_raw("not json")),
            ("bad_state", lambda: relay.register(state="short")[0]),
            ("unsupported_media_type",
             lambda: relay.register_raw("{}", content_type="text/plain")),
            ("too_large", lambda: relay.register_raw(" " * 9000 + "{}")),
            ("url_not_allowed",
             lambda: relay.register(url="https://evil.example/o?state=" + s,
                                    state=s)[0]),
            ("state_mismatch",
             lambda: relay.register(url=rt.PREFIX + "/a?client_id=x")[0]),
            ("state_mismatch",
             lambda: relay.register(bearer=other_secret)[0]),
            ("nonce_mismatch",
             lambda: relay.register(state=s,
                                    url=rt.PREFIX + "/a?state=" + s)[0]),
            ("nonce_mismatch",
             lambda: relay.register(url=rt.authorize_url(
                 s, nonce=rt.nonce_of_state(login.state)), state=s)[0]),
            ("unauthorized", lambda: relay.register(bearer="")[0]),
            ("state_exists", lambda: relay.register(state=login.state)[0]),
            ("unknown_login", lambda: relay.poll(other_secret, 0)),
            ("already_used", lambda: used.callback_code("again")),
            ("unauthorized", lambda: relay.poll(None, 0)),
            ("not_found", lambda: relay.get("/nope")),
            ("method_not_allowed", lambda: relay.req("DELETE", "/v1/logins")),
            ("client_key", lambda: relay.req(
                "POST", "/v1/logins", headers={rt.KEY_HEADER: None})),
            ("client_key", lambda: relay.poll(
                login.secret, 0, headers={rt.KEY_HEADER: "k" * 43})),
            ("code_reused", lambda: login.callback_code("c-used-once")),
        ]
        for reason, provoke in cases:
            with self.subTest(reason=reason):
                self.rejection(reason, provoke)

    def test_nonce_mismatch_counted(self):
        relay = self.relay
        m0 = relay.metrics()
        _, s = rt.new_secret()
        for nonce in ("n0nce", rt.nonce_of_state(s) + "x", s):
            r, _ = relay.register(state=s,
                                  url=rt.authorize_url(s, nonce=nonce))
            self.assertEqual(r.status, 403, r)
        m1 = relay.metrics()
        self.assertEqual(self.delta(m0, m1, P + "rejections_total",
                                    reason="nonce_mismatch"), 3)
        self.assertEqual(self.delta(m0, m1, P + "rejections_total",
                                    reason="state_mismatch"), 0)
        self.assertEqual(self.delta(m0, m1, P + "registrations_total"), 0)
        self.assertEqual(self.delta(m0, m1, P + "pending_logins"), 0)
        self.assertEqual(m1.types.get(P + "rejections_total"), "counter")

    def test_full_rejection(self):
        # fill a separate relay so this class's relay keeps its places
        relay = rt.Relay(["--max-pending", "1"])
        try:
            relay.new_login()
            m0 = relay.metrics()
            r, _ = relay.register()
            self.assertEqual(r.status, 503)
            m1 = relay.metrics()
            self.assertEqual(
                self.delta(m0, m1, P + "rejections_total", reason="full"), 1)
            self.assertEqual(self.delta(m0, m1, P + "registrations_total"), 0)
        finally:
            self.assertEqual(relay.stop(), 0)


class Logs(unittest.TestCase):
    """The log never holds a code, a poll secret, a Bearer value or a query."""

    def test_no_secrets_in_logs(self):
        relay = rt.Relay()
        secrets = []
        try:
            code = "SeCrEtCoDe-4f1a2b3c"
            iss = "https://issuer.example/tenant-77"
            login = relay.new_login()
            secrets += [code, login.secret]
            self.assertEqual(relay.get(login.path).status, 200)
            p = rt.Poller(relay, login.secret, 25)
            p.start()
            rt.wait_parked(relay, 1)
            self.assertEqual(login.callback_code(code, iss=iss).status, 200)
            p.join(5)
            self.assertEqual(p.resp.json(), {"code": code, "iss": iss})
            # an error flow
            l2 = relay.new_login()
            secrets.append(l2.secret)
            relay.callback([("state", l2.state), ("error", "access_denied"),
                            ("error_description", "DeScRiPtIoN-99")])
            self.assertEqual(l2.poll(0).status, 200)
            # failures that carry secrets
            l3 = relay.new_login()
            secrets.append(l3.secret)
            relay.callback([("state", l3.state), ("code", "BaDcOdE-1"),
                            ("code", "BaDcOdE-2")])
            relay.callback([("state", l3.state), ("code", "x" * 2000)])
            relay.poll(l3.secret[:42], 0)
            relay.poll(l3.secret + "=", 0)
            secrets += [l3.secret[:42], "BaDcOdE-1", "BaDcOdE-2"]
            other, _ = rt.new_secret()
            relay.poll(other, 0)
            secrets.append(other)
            relay.get("/nope?code=QuErYcOdE&state=x")
            secrets.append("QuErYcOdE")
            _, s = rt.new_secret()
            relay.register(state=s, url="https://evil.example/?state=" + s)
            relay.register(state=s, url=rt.PREFIX + "/a?code=UrLcOdE")
            secrets.append("UrLcOdE")
            # registrations refused for their secret or nonce
            s4_secret, s4 = rt.new_secret()
            relay.register(state=s4, bearer="")
            relay.register(state=s4, bearer=l3.secret)
            relay.register(state=s4, bearer=s4_secret[:42])
            relay.register(state=s4, url=rt.authorize_url(
                s4, nonce="NoNcEvAlUe"))
            secrets += [s4_secret, s4_secret[:42], "NoNcEvAlUe"]
            # the nonce of a registered login is no log material either
            secrets.append(rt.nonce_of_state(login.state))
            self.assertEqual(login.poll(0).status, 404)
        finally:
            rc = relay.stop()
        self.assertEqual(rc, 0)
        lines = relay.log_lines()
        text = "\n".join(lines)
        self.assertTrue(lines, "no log lines at all")
        for line in lines:
            self.assertTrue(line.startswith(rt.LOG_PREFIX), repr(line))
        for secret in secrets:
            self.assertNotIn(secret, text)
        self.assertNotIn("Bearer", text)
        self.assertNotIn("bearer ", text.lower())
        for q in ("code=", "state=", "error_description=", "iss=", "wait="):
            self.assertNotIn(q, text)
        self.assertIsNone(re.search(r"/\S*\?", text), "a path with a query")


if __name__ == "__main__":
    unittest.main()
