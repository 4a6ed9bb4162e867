/*
 * Unit tests of relayc.h: the link check on its own, and registration and
 * polls against http_server.py standing in for the relay.
 */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h wants stdarg.h, stddef.h, stdint.h and setjmp.h first. */
#include <cmocka.h>

#include "errors.h"
#include "relay_proto.h"
#include "relayc.h"
#include "server_fixture.h"

#define KEY "Zm9yIHRoZSByZWxheSBvbmx5OiB0aGlzIGhvc3QncyBr"
#define OTHER_KEY "YW5vdGhlciBob3N0J3Mga2V5LCBub3QgdGhpcyBvbmU"
#define SECRET "dGhlIHBvbGwgc2VjcmV0IG9mIHRoZSB0ZXN0cyEhISE"
#define STATE "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
#define WHY_KEY "the relay refused this host's relay key (relay_key_file)"
#define WHY_LINK "relay returned a link outside relay_url"

static struct fixture_server srv;
static char relay_url[128];

static int
setup(void **state)
{
	(void)state;
	if (fixture_start(&srv) != 0)
		return -1;
	snprintf(relay_url, sizeof(relay_url), "%s/relay", srv.base);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	fixture_stop(&srv);
	return 0;
}

static const struct {
	const char *relay_url, *link;
	bool ok;
} links[] = {
	{ "https://relay.example", "https://relay.example/l/abc", true },
	{ "https://relay.example", "HTTPS://Relay.Example/l/abc", true },
	{ "https://relay.example/pam", "https://relay.example/pam/l/a", true },
	{ "https://relay.example:8443", "https://relay.example:8443/l/a",
	    true },
	{ "http://127.0.0.1:9", "http://127.0.0.1:9/l/x?y=1", true },
	{ "https://relay.example", "https://relay.example/l/a%20b", true },
	{ "https://relay.example", "https://relay.example/l/...", true },
	/* not under relay_url */
	{ "https://relay.example", "https://evil.example/l/abc", false },
	{ "https://relay.example", "http://relay.example/l/abc", false },
	{ "https://relay.example", "https://relay.example.evil/l/a", false },
	{ "https://relay.example", "https://relay.example@evil.example/l",
	    false },
	{ "https://relay.example", "https://relay.example:444/l/a", false },
	{ "https://relay.example:8443", "https://relay.example/l/a", false },
	{ "https://relay.example/pam", "https://relay.example/pamx/l", false },
	{ "https://relay.example/pam", "https://relay.example/PAM/l/a", false },
	{ "https://relay.example/pam", "https://relay.example/l/a", false },
	{ "https://relay.example", "https://relay.example", false },
	{ "https://relay.example", "https://relay.example/", false },
	{ "https://relay.example", "https://relay.example?l=a", false },
	{ "https://relay.example", "//relay.example/l/a", false },
	{ "https://relay.example", "/l/a", false },
	{ "https://relay.example", "", false },
	/* back out of the path */
	{ "https://relay.example/pam", "https://relay.example/pam/../x",
	    false },
	{ "https://relay.example/pam", "https://relay.example/pam/%2e%2E/x",
	    false },
	{ "https://relay.example/pam", "https://relay.example/pam/.%2e/x",
	    false },
	{ "https://relay.example/pam", "https://relay.example/pam/./x", false },
	{ "https://relay.example/pam", "https://relay.example/pam/l/..",
	    false },
	/* url.h's reading: more than dot segments (tighter than before) */
	{ "https://relay.example", "https://relay.example/l/a%2f..%2fx",
	    false },
	{ "https://relay.example", "https://relay.example/l/a%5cx", false },
	{ "https://relay.example", "https://relay.example/l/%252e%252e",
	    false },
	{ "https://relay.example", "https://relay.example/l/a;x", false },
	{ "https://relay.example", "https://relay.example/l/a%", false },
	{ "https://relay.example", "https://relay.example/l/a#f", false },
	{ "https://relay.example", "https://relay.example/?l=a", false },
	{ "https://relay.example", "https://relay.example/#l", false },
	{ "https://relay.example", "https://relay..example/l/a", false },
	/* the same origin spelled out: port 443 is https's */
	{ "https://relay.example", "https://relay.example:443/l/a", true },
	{ "https://relay.example:443", "https://relay.example/l/a", true },
	/* relay_url itself must be a plain URL */
	{ "https://relay.example/?x", "https://relay.example/?x/l/a", false },
	{ "relay.example", "relay.example/l/a", false },
	/* characters a URL may not hold */
	{ "https://relay.example", "https://relay.example/l/a b", false },
	{ "https://relay.example", "https://relay.example/l/a\"b", false },
	{ "https://relay.example", "https://relay.example/l/<x>", false },
	{ "https://relay.example", "https://relay.example/l/\\x", false },
	{ "https://relay.example", "https://relay.example/l/\x1b[0m", false },
	{ "https://relay.example", "https://relay.example/l/\xc3\xa9", false },
	{ "https://relay.example", "https://relay.example/l/a\tb", false },
};

static void
test_link_ok(void **state)
{
	char longlink[400];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (ion_relay_link_ok(links[i].relay_url, links[i].link) !=
		    links[i].ok)
			fail_msg("'%s' under '%s': expected %s", links[i].link,
			    links[i].relay_url, links[i].ok ? "ok" : "refused");
	/* ION_RELAY_LINK_MAX characters at most. */
	strcpy(longlink, "https://relay.example/l/");
	memset(longlink + strlen(longlink), 'a',
	    ION_RELAY_LINK_MAX - strlen(longlink));
	longlink[ION_RELAY_LINK_MAX] = '\0';
	assert_true(ion_relay_link_ok("https://relay.example", longlink));
	strcat(longlink, "a");
	assert_false(ion_relay_link_ok("https://relay.example", longlink));
	assert_false(ion_relay_link_ok(NULL, "https://relay.example/l/a"));
	assert_false(ion_relay_link_ok("https://relay.example", NULL));
}

static int
do_register(const char *key, char **ret_link, const char **why)
{
	struct ion_relay_login login = {
		.key = key,
		.secret = SECRET,
		.state = STATE,
		.authorize_url = "https://auth.example/authorize?state=x",
		.host = "host.example",
		.user = "alice",
		.rhost = "192.0.2.1",
		.service = "sshd",
		.confirm = true,
	};
	struct ion_http *h = fixture_http();
	unsigned expires = 0;
	int r;

	*ret_link = NULL;
	r = ion_relay_register(h, relay_url, &login, ret_link, &expires, why);
	if (r == 0)
		assert_int_equal(expires, 300);
	ion_http_free(&h);
	return r;
}

static void
test_register_key(void **state)
{
	const char *why = NULL;
	char *link = NULL, *v, want[256];
	json_t *last, *body;

	(void)state;
	fixture_script(&srv, "/relay/v1/logins", 201,
	    "{\"link\": \"{base}/relay/l/AbC123\", \"expires_in\": 300}", KEY);
	assert_int_equal(do_register(KEY, &link, &why), 0);
	snprintf(want, sizeof(want), "%s/l/AbC123", relay_url);
	assert_string_equal(link, want);
	free(link);
	/* The key went out in its header, the poll secret as the bearer. */
	v = fixture_last_header(&srv, "/relay/v1/logins", "pam-ion-client-key");
	assert_string_equal(v, KEY);
	free(v);
	v = fixture_last_header(&srv, "/relay/v1/logins", "authorization");
	assert_string_equal(v, "Bearer " SECRET);
	free(v);
	/* ... and nowhere else: not in the body. */
	last = fixture_last(&srv, "/relay/v1/logins");
	assert_null(
	    strstr(json_string_value(json_object_get(last, "body")), KEY));
	body = json_loads(
	    json_string_value(json_object_get(last, "body")), 0, NULL);
	assert_true(json_is_true(json_object_get(body, "confirm")));
	assert_string_equal(
	    json_string_value(json_object_get(body, "state")), STATE);
	json_decref(body);
	json_decref(last);
}

static void
test_register_key_refused(void **state)
{
	const char *why = NULL;
	char *link = NULL;

	(void)state;
	fixture_script(&srv, "/relay/v1/logins", 201,
	    "{\"link\": \"{base}/relay/l/AbC123\", \"expires_in\": 300}", KEY);
	assert_int_equal(do_register(OTHER_KEY, &link, &why), ION_ERR_CONFIG);
	assert_null(link);
	assert_string_equal(why, WHY_KEY);
}

static void
test_register_answers(void **state)
{
	static const struct {
		long status;
		const char *body;
		int r;
		const char *why;
	} cases[] = {
		{ 201,
		    "{\"link\": \"https://evil.example/l/AbC\", "
		    "\"expires_in\": 300}",
		    ION_ERR_UNAVAIL, WHY_LINK },
		{ 201, "{\"link\": \"{base}/l/AbC\", \"expires_in\": 300}",
		    ION_ERR_UNAVAIL, WHY_LINK },
		{ 201,
		    "{\"link\": \"{base}/relayx/l/AbC\", \"expires_in\": 300}",
		    ION_ERR_UNAVAIL, WHY_LINK },
		{ 201,
		    "{\"link\": \"{base}/relay/l/A bC\", \"expires_in\": 300}",
		    ION_ERR_UNAVAIL, WHY_LINK },
		{ 201, "{\"link\": \"{base}/relay/l/x\", \"expires_in\": 0}",
		    ION_ERR_UNAVAIL, "relay answer malformed" },
		{ 201, "not json", ION_ERR_UNAVAIL, "relay answer malformed" },
		{ 400, "{}", ION_ERR_INVALID, "relay refused the login" },
		{ 403, "{}", ION_ERR_INVALID, "relay refused the login" },
		{ 401, "{}", ION_ERR_CONFIG, WHY_KEY },
		{ 503, "{}", ION_ERR_UNAVAIL, "relay full or failing" },
		{ 200, "{}", ION_ERR_UNAVAIL,
		    "relay answered an unexpected status" },
	};
	const char *why;
	char *link;
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fixture_script(&srv, "/relay/v1/logins", cases[i].status,
		    cases[i].body, NULL);
		why = NULL;
		r = do_register(KEY, &link, &why);
		if (r != cases[i].r || why == NULL ||
		    strcmp(why, cases[i].why) != 0)
			fail_msg("case %zu: %d '%s', expected %d '%s'", i, r,
			    why != NULL ? why : "", cases[i].r, cases[i].why);
		assert_null(link);
	}
}

static int
do_poll(const char *key, struct ion_relay_result *res, const char **why)
{
	struct ion_http *h = fixture_http();
	int r;

	memset(res, 0, sizeof(*res));
	r = ion_relay_poll(h, relay_url, key, SECRET, 0, res, why);
	ion_http_free(&h);
	return r;
}

static void
test_poll(void **state)
{
	static const struct {
		long status;
		const char *body;
		const char *key;
		int r;
	} cases[] = {
		{ 200, "{\"code\": \"c0de\", \"iss\": \"https://i.example\"}",
		    KEY, 0 },
		{ 200, "{\"code\": \"c0de\"}", OTHER_KEY, ION_ERR_CONFIG },
		{ 202, "{\"status\": \"pending\"}", KEY, ION_ERR_PENDING },
		{ 404, "{}", KEY, ION_ERR_NOT_FOUND },
		{ 403, "{}", KEY, ION_ERR_INVALID },
		{ 500, "{}", KEY, ION_ERR_UNAVAIL },
	};
	struct ion_relay_result res;
	const char *why;
	char *v;
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fixture_script(&srv, "/relay/v1/logins/result", cases[i].status,
		    cases[i].body, KEY);
		why = NULL;
		r = do_poll(cases[i].key, &res, &why);
		if (r != cases[i].r)
			fail_msg("case %zu: %d (%s), expected %d", i, r,
			    why != NULL ? why : "", cases[i].r);
		if (r == ION_ERR_CONFIG)
			assert_string_equal(why, WHY_KEY);
		if (r == 0) {
			assert_string_equal(res.code, "c0de");
			assert_string_equal(res.iss, "https://i.example");
		}
		ion_relay_result_clear(&res);
		v = fixture_last_header(
		    &srv, "/relay/v1/logins/result", "pam-ion-client-key");
		assert_string_equal(v, cases[i].key);
		free(v);
		v = fixture_last_header(
		    &srv, "/relay/v1/logins/result", "authorization");
		assert_string_equal(v, "Bearer " SECRET);
		free(v);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_link_ok),
		cmocka_unit_test(test_register_key),
		cmocka_unit_test(test_register_key_refused),
		cmocka_unit_test(test_register_answers),
		cmocka_unit_test(test_poll),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
