/* Unit tests of metrics.h: reason names and the exposition text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h wants stdarg.h, stddef.h, stdint.h and setjmp.h first. */
#include <cmocka.h>

#include "metrics.h"

static void
test_reject_names(void **state)
{
	int i, j;

	(void)state;
	for (i = 0; i < RELAY_REJECT_COUNT; i++) {
		const char *n = relay_reject_name((enum relay_reject)i);

		assert_non_null(n);
		assert_true(strlen(n) > 0);
		assert_true(
		    strspn(n, "abcdefghijklmnopqrstuvwxyz_") == strlen(n));
		for (j = 0; j < i; j++)
			assert_string_not_equal(
			    n, relay_reject_name((enum relay_reject)j));
	}
	assert_string_equal(
	    relay_reject_name(RELAY_REJECT_BAD_REQUEST), "bad_request");
	assert_string_equal(relay_reject_name(RELAY_REJECT_METHOD_NOT_ALLOWED),
	    "method_not_allowed");
	assert_string_equal(relay_reject_name(RELAY_REJECT_COUNT), "unknown");
}

/* Every reason by name: the series names are what dashboards match on. */
static void
test_reject_names_all(void **state)
{
	static const struct {
		enum relay_reject r;
		const char *name;
	} all[] = {
		{ RELAY_REJECT_BAD_REQUEST, "bad_request" },
		{ RELAY_REJECT_BAD_STATE, "bad_state" },
		{ RELAY_REJECT_UNSUPPORTED_MEDIA_TYPE,
		    "unsupported_media_type" },
		{ RELAY_REJECT_TOO_LARGE, "too_large" },
		{ RELAY_REJECT_URL_NOT_ALLOWED, "url_not_allowed" },
		{ RELAY_REJECT_STATE_MISMATCH, "state_mismatch" },
		{ RELAY_REJECT_NONCE_MISMATCH, "nonce_mismatch" },
		{ RELAY_REJECT_STATE_EXISTS, "state_exists" },
		{ RELAY_REJECT_FULL, "full" },
		{ RELAY_REJECT_UNKNOWN_LOGIN, "unknown_login" },
		{ RELAY_REJECT_ALREADY_USED, "already_used" },
		{ RELAY_REJECT_UNAUTHORIZED, "unauthorized" },
		{ RELAY_REJECT_NOT_FOUND, "not_found" },
		{ RELAY_REJECT_METHOD_NOT_ALLOWED, "method_not_allowed" },
		{ RELAY_REJECT_CLIENT_KEY, "client_key" },
		{ RELAY_REJECT_CODE_REUSED, "code_reused" },
		{ RELAY_REJECT_REQUEST_URI_REUSED, "request_uri_reused" },
		{ RELAY_REJECT_BUSY, "busy" },
		{ RELAY_REJECT_STORE_UNAVAILABLE, "store_unavailable" },
	};
	size_t i;

	(void)state;
	assert_int_equal(sizeof(all) / sizeof(all[0]), RELAY_REJECT_COUNT);
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		assert_string_equal(relay_reject_name(all[i].r), all[i].name);
}

/* A nonce_mismatch series is there from the start, at 0. */
static void
test_render_nonce_mismatch(void **state)
{
	struct relay_metrics m;
	struct relay_gauges g = { .pending = 0 };
	size_t len = 0;
	char *text;

	(void)state;
	memset(&m, 0, sizeof(m));
	text = relay_metrics_render(&m, &g, &len);
	assert_non_null(text);
	assert_non_null(strstr(text,
	    "\npam_ion_relay_rejections_total{reason=\"nonce_mismatch\"} 0\n"));
	free(text);
	atomic_store(&m.rejections[RELAY_REJECT_NONCE_MISMATCH], 3);
	text = relay_metrics_render(&m, &g, &len);
	assert_non_null(text);
	assert_non_null(strstr(text,
	    "\npam_ion_relay_rejections_total{reason=\"nonce_mismatch\"} 3\n"));
	assert_non_null(strstr(text,
	    "\npam_ion_relay_rejections_total{reason=\"state_mismatch\"} 0\n"));
	free(text);
}

static void
test_render(void **state)
{
	struct relay_metrics m;
	struct relay_gauges g = { .pending = 11,
		.parked = 12,
		.clients = 13,
		.used_codes = 14,
		.store_up = 1,
		.store_errors = 15,
		.store_reconnects = 16 };
	char line[160];
	size_t len = 0;
	char *text;
	int i;

	(void)state;
	memset(&m, 0, sizeof(m));
	atomic_store(&m.registrations, 7);
	atomic_store(&m.callbacks, 6);
	atomic_store(&m.results_delivered, 5);
	atomic_store(&m.expirations, 4);
	atomic_store(&m.polls_timed_out, 3);
	atomic_store(&m.polls_gone, 2);
	atomic_store(&m.slow_requests, 9);
	atomic_store(&m.client_key_reloads, 21);
	atomic_store(&m.client_key_reload_failures, 22);
	for (i = 0; i < RELAY_REJECT_COUNT; i++)
		atomic_store(&m.rejections[i], 100ul + (unsigned long)i);
	text = relay_metrics_render(&m, &g, &len);
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	assert_non_null(strstr(text,
	    "# TYPE pam_ion_relay_pending_logins gauge\n"
	    "pam_ion_relay_pending_logins 11\n"));
	assert_non_null(strstr(text, "\npam_ion_relay_parked_polls 12\n"));
	assert_non_null(strstr(text,
	    "# TYPE pam_ion_relay_clients gauge\npam_ion_relay_clients 13\n"));
	assert_non_null(strstr(text, "\npam_ion_relay_used_codes 14\n"));
	assert_non_null(
	    strstr(text, "\npam_ion_relay_client_key_reloads_total 21\n"));
	assert_non_null(strstr(
	    text, "\npam_ion_relay_client_key_reload_failures_total 22\n"));
	assert_non_null(strstr(text,
	    "# TYPE pam_ion_relay_registrations_total counter\n"
	    "pam_ion_relay_registrations_total 7\n"));
	assert_non_null(strstr(text, "\npam_ion_relay_callbacks_total 6\n"));
	assert_non_null(
	    strstr(text, "\npam_ion_relay_results_delivered_total 5\n"));
	assert_non_null(strstr(text, "\npam_ion_relay_expirations_total 4\n"));
	assert_non_null(
	    strstr(text, "\npam_ion_relay_polls_timed_out_total 3\n"));
	assert_non_null(
	    strstr(text, "\npam_ion_relay_polls_disconnected_total 2\n"));
	assert_non_null(
	    strstr(text, "# TYPE pam_ion_relay_rejections_total counter\n"));
	for (i = 0; i < RELAY_REJECT_COUNT; i++) {
		snprintf(line, sizeof(line),
		    "\npam_ion_relay_rejections_total{reason=\"%s\"} %d\n",
		    relay_reject_name((enum relay_reject)i), 100 + i);
		assert_non_null(strstr(text, line));
	}
	assert_non_null(strstr(text,
	    "# TYPE pam_ion_relay_store_up gauge\npam_ion_relay_store_up 1\n"));
	assert_non_null(strstr(text,
	    "# TYPE pam_ion_relay_store_errors_total counter\n"
	    "pam_ion_relay_store_errors_total 15\n"));
	assert_non_null(
	    strstr(text, "\npam_ion_relay_store_reconnects_total 16\n"));
	assert_int_equal(text[len - 1], '\n');
	free(text);
}

/* A gauge the store does not keep (used codes in Redis) is left out. */
static void
test_render_no_used_codes(void **state)
{
	struct relay_metrics m;
	struct relay_gauges g = { .used_codes = (size_t)-1 };
	size_t len = 0;
	char *text;

	(void)state;
	memset(&m, 0, sizeof(m));
	text = relay_metrics_render(&m, &g, &len);
	assert_non_null(text);
	assert_null(strstr(text, "pam_ion_relay_used_codes"));
	assert_non_null(strstr(text, "\npam_ion_relay_pending_logins 0\n"));
	assert_non_null(strstr(text, "\npam_ion_relay_store_up 0\n"));
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reject_names),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_reject_names_all),
		cmocka_unit_test(test_render_nonce_mismatch),
		cmocka_unit_test(test_render_no_used_codes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
