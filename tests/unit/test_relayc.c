/*
 * Unit tests of relayc.h: the link check on its own, and registration and
 * polls against http_server.py standing in for the relay: every answer the
 * API has, answers it does not have, no answer at all, and *why left
 * alone on success.
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

#include "clock.h"
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
#define WHY_MALFORMED "relay answer malformed"
#define WHY_UNEXPECTED "relay answered an unexpected status"
#define WHY_POLL_REFUSED "relay refused the poll"
/* What a function that succeeds must leave in *why. */
#define UNTOUCHED "untouched"
/* A 201 with this link and lifetime (JSON text). */
#define LINK_ANSWER(link, expires)                                             \
	"{\"link\": " link ", \"expires_in\": " expires "}"

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

/*
 * Registers at url; a request still unanswered after a second has timed
 * out.
 */
static int
register_at(const char *url, const char *key, char **ret_link, const char **why)
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
	ion_http_set_deadline(h, ion_now_ms() + 1000);
	r = ion_relay_register(h, url, &login, ret_link, &expires, why);
	if (r == 0)
		assert_int_equal(expires, 300);
	ion_http_free(&h);
	return r;
}

static int
do_register(const char *key, char **ret_link, const char **why)
{
	return register_at(relay_url, key, ret_link, why);
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
	why = UNTOUCHED;
	assert_int_equal(do_register(KEY, &link, &why), 0);
	assert_string_equal(why, UNTOUCHED);
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
		{ 201, "[]", ION_ERR_UNAVAIL, WHY_MALFORMED },
		{ 201, "{\"link\": \"{base}/relay/l/x\"}", ION_ERR_UNAVAIL,
		    WHY_MALFORMED },
		{ 201, LINK_ANSWER("\"{base}/relay/l/x\"", "\"300\""),
		    ION_ERR_UNAVAIL, WHY_MALFORMED },
		{ 201, LINK_ANSWER("\"{base}/relay/l/x\"", "-1"),
		    ION_ERR_UNAVAIL, WHY_MALFORMED },
		{ 201, LINK_ANSWER("\"{base}/relay/l/x\"", "86401"),
		    ION_ERR_UNAVAIL, WHY_MALFORMED },
		{ 201, LINK_ANSWER("\"\"", "300"), ION_ERR_UNAVAIL,
		    WHY_MALFORMED },
		{ 201, LINK_ANSWER("17", "300"), ION_ERR_UNAVAIL,
		    WHY_MALFORMED },
		{ 201, LINK_ANSWER("\"{base}/relay/l/x\\u0000y\"", "300"),
		    ION_ERR_UNAVAIL, WHY_MALFORMED },
		{ 201,
		    "{\"link\": \"{base}/relay/l/x\", \"link\": "
		    "\"{base}/relay/l/y\", \"expires_in\": 300}",
		    ION_ERR_UNAVAIL, WHY_MALFORMED },
		{ 400, "{}", ION_ERR_INVALID, "relay refused the login" },
		{ 403, "{}", ION_ERR_INVALID, "relay refused the login" },
		{ 404, "{}", ION_ERR_INVALID, "relay refused the login" },
		{ 409, "{}", ION_ERR_INVALID, "relay refused the login" },
		{ 401, "{}", ION_ERR_CONFIG, WHY_KEY },
		{ 429, "{}", ION_ERR_UNAVAIL, "relay full or failing" },
		{ 500, "{}", ION_ERR_UNAVAIL, "relay full or failing" },
		{ 503, "{}", ION_ERR_UNAVAIL, "relay full or failing" },
		{ 200, "{}", ION_ERR_UNAVAIL,
		    "relay answered an unexpected status" },
		{ 202, "{}", ION_ERR_UNAVAIL, WHY_UNEXPECTED },
		{ 302, "", ION_ERR_UNAVAIL, WHY_UNEXPECTED },
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

/*
 * A link longer than ION_RELAY_LINK_MAX, and a body over the module's cap
 * for the relay's answers (16 KiB): neither is an answer of the API.
 */
static void
test_register_too_long(void **state)
{
	static char body[20 * 1024];
	const char *why;
	char *link;
	size_t n;

	(void)state;
	strcpy(body, "{\"expires_in\": 300, \"link\": \"{base}/relay/l/");
	n = strlen(body);
	memset(body + n, 'a', ION_RELAY_LINK_MAX);
	strcpy(body + n + ION_RELAY_LINK_MAX, "\"}");
	fixture_script(&srv, "/relay/v1/logins", 201, body, NULL);
	why = NULL;
	assert_int_equal(do_register(KEY, &link, &why), ION_ERR_UNAVAIL);
	assert_string_equal(why, WHY_MALFORMED);
	assert_null(link);

	memset(body + n, 'a', sizeof(body) - n - 3);
	strcpy(body + sizeof(body) - 3, "\"}");
	fixture_script(&srv, "/relay/v1/logins", 201, body, NULL);
	assert_int_equal(do_register(KEY, &link, &why), ION_ERR_UNAVAIL);
	assert_string_equal(why, "relay answer too large");
	assert_null(link);
}

static int
poll_at(const char *url, const char *key, unsigned wait,
    struct ion_relay_result *res, const char **why)
{
	struct ion_http *h = fixture_http();
	int r;

	memset(res, 0, sizeof(*res));
	/* Whatever wait asks for, a second is all the test waits. */
	ion_http_set_deadline(h, ion_now_ms() + 1000);
	r = ion_relay_poll(h, url, key, SECRET, wait, res, why);
	ion_http_free(&h);
	return r;
}

static int
do_poll(const char *key, struct ion_relay_result *res, const char **why)
{
	return poll_at(relay_url, key, 0, res, why);
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
		{ 503, "{}", KEY, ION_ERR_RETRY },
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

/* Each answer of a poll: what it returns and says. */
static void
test_poll_answers(void **state)
{
	static const struct {
		long status;
		const char *body;
		int r;
		const char *why; /* NULL: left alone */
	} cases[] = {
		{ 200, "{\"code\": \"c0de\"}", 0, NULL },
		{ 200, "{\"error\": \"access_denied\"}", 0, NULL },
		{ 200,
		    "{\"error\": \"access_denied\", \"error_description\": "
		    "\"no\", \"iss\": \"https://i.example\"}",
		    0, NULL },
		{ 200, "{\"code\": \"c0de\", \"error\": \"access_denied\"}",
		    ION_ERR_UNAVAIL, WHY_MALFORMED },
		{ 200, "{\"iss\": \"https://i.example\"}", ION_ERR_UNAVAIL,
		    WHY_MALFORMED },
		{ 200, "{}", ION_ERR_UNAVAIL, WHY_MALFORMED },
		{ 200, "{\"code\": 17}", ION_ERR_UNAVAIL, WHY_MALFORMED },
		{ 200, "{\"code\": \"c0de\", \"iss\": null}", ION_ERR_UNAVAIL,
		    WHY_MALFORMED },
		{ 200, "{\"code\": \"c\\u0000de\"}", ION_ERR_UNAVAIL,
		    WHY_MALFORMED },
		{ 200, "{\"code\": \"a\", \"code\": \"b\"}", ION_ERR_UNAVAIL,
		    WHY_MALFORMED },
		{ 200, "not json", ION_ERR_UNAVAIL, WHY_MALFORMED },
		{ 200, "[\"c0de\"]", ION_ERR_UNAVAIL, WHY_MALFORMED },
		{ 202, "{\"status\": \"pending\"}", ION_ERR_PENDING,
		    "pending" },
		{ 401, "{}", ION_ERR_CONFIG, WHY_KEY },
		{ 404, "{}", ION_ERR_NOT_FOUND,
		    "the relay no longer knows this sign-in (expired)" },
		{ 400, "{}", ION_ERR_INVALID, WHY_POLL_REFUSED },
		{ 409, "{}", ION_ERR_INVALID, WHY_POLL_REFUSED },
		{ 429, "{}", ION_ERR_UNAVAIL, WHY_POLL_REFUSED },
		{ 500, "{}", ION_ERR_UNAVAIL, WHY_POLL_REFUSED },
		{ 501, "{}", ION_ERR_UNAVAIL, WHY_POLL_REFUSED },
		{ 505, "{}", ION_ERR_UNAVAIL, WHY_POLL_REFUSED },
		/* busy or restarting (or the proxy says so): may pass */
		{ 502, "bad gateway", ION_ERR_RETRY, WHY_POLL_REFUSED },
		{ 503, "{\"error\": \"busy\"}", ION_ERR_RETRY,
		    WHY_POLL_REFUSED },
		{ 504, "", ION_ERR_RETRY, WHY_POLL_REFUSED },
		{ 201, "{}", ION_ERR_UNAVAIL, WHY_UNEXPECTED },
		{ 302, "", ION_ERR_UNAVAIL, WHY_UNEXPECTED },
	};
	struct ion_relay_result res;
	const char *why;
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fixture_script(&srv, "/relay/v1/logins/result", cases[i].status,
		    cases[i].body, NULL);
		why = UNTOUCHED;
		r = do_poll(KEY, &res, &why);
		if (r != cases[i].r ||
		    strcmp(why,
			cases[i].why != NULL ? cases[i].why : UNTOUCHED) != 0)
			fail_msg("case %zu: %d '%s', expected %d '%s'", i, r,
			    why, cases[i].r,
			    cases[i].why != NULL ? cases[i].why : UNTOUCHED);
		if (r == 0)
			assert_true((res.code == NULL) != (res.error == NULL));
		else
			assert_true(res.code == NULL && res.error == NULL &&
			    res.error_description == NULL && res.iss == NULL);
		/* only the relay's own 503 busy says the relay is up */
		assert_int_equal(res.busy, cases[i].status == 503);
		ion_relay_result_clear(&res);
	}
	/* a 503 that is not the relay's busy: a proxy with no relay */
	fixture_script(&srv, "/relay/v1/logins/result", 503,
	    "{\"error\": \"unavailable\"}", NULL);
	assert_int_equal(do_poll(KEY, &res, &why), ION_ERR_RETRY);
	assert_false(res.busy);
	ion_relay_result_clear(&res);
	fixture_script(&srv, "/relay/v1/logins/result", 503,
	    "<html>503 Service Temporarily Unavailable</html>", NULL);
	assert_int_equal(do_poll(KEY, &res, &why), ION_ERR_RETRY);
	assert_false(res.busy);
	ion_relay_result_clear(&res);
}

/* The wait parameter, capped at the relay's ION_RELAY_WAIT_MAX_S. */
static void
test_poll_wait(void **state)
{
	static const struct {
		unsigned wait;
		const char *query;
	} cases[] = {
		{ 0, ION_RELAY_WAIT_PARAM "=0" },
		{ 7, ION_RELAY_WAIT_PARAM "=7" },
		{ ION_RELAY_WAIT_MAX_S, ION_RELAY_WAIT_PARAM "=25" },
		{ ION_RELAY_WAIT_MAX_S + 1, ION_RELAY_WAIT_PARAM "=25" },
		{ 4000000000u, ION_RELAY_WAIT_PARAM "=25" },
	};
	struct ion_relay_result res;
	const char *why;
	json_t *last;
	size_t i;

	(void)state;
	assert_int_equal(ION_RELAY_WAIT_MAX_S, 25);
	fixture_script(&srv, "/relay/v1/logins/result", 202,
	    "{\"status\": \"pending\"}", NULL);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(
		    poll_at(relay_url, KEY, cases[i].wait, &res, &why),
		    ION_ERR_PENDING);
		last = fixture_last(&srv, "/relay/v1/logins/result");
		assert_string_equal(
		    json_string_value(json_object_get(last, "query")),
		    cases[i].query);
		json_decref(last);
	}
}

/*
 * No usable answer: nothing listens (port 9 on loopback), an answer over
 * the cap, an answer too slow (/slow/ answers after 3 s), a relay_url we
 * may not call.  For a poll, all but the answer over the cap may pass.
 */
static void
test_no_answer(void **state)
{
	static char big[20 * 1024];
	static const struct {
		const char *url; /* after the base; NULL: port 9 */
		int register_r, poll_r;
		const char *register_why, *poll_why;
	} cases[] = {
		{ NULL, ION_ERR_UNAVAIL, ION_ERR_RETRY, "relay unreachable",
		    "relay unreachable" },
		{ "/big", ION_ERR_UNAVAIL, ION_ERR_UNAVAIL,
		    "relay answer too large", "relay answer too large" },
		{ "/slow", ION_ERR_TIMEOUT, ION_ERR_RETRY, "relay timed out",
		    "relay poll timed out" },
	};
	struct ion_relay_result res;
	char url[256], *link;
	const char *why;
	size_t i;
	int r;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	fixture_script(&srv, "/big/v1/logins", 201, big, NULL);
	fixture_script(&srv, "/big/v1/logins/result", 200, big, NULL);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].url == NULL)
			snprintf(url, sizeof(url), "http://127.0.0.1:9");
		else
			snprintf(
			    url, sizeof(url), "%s%s", srv.base, cases[i].url);
		why = UNTOUCHED;
		r = register_at(url, KEY, &link, &why);
		if (r != cases[i].register_r ||
		    strcmp(why, cases[i].register_why) != 0)
			fail_msg("register %zu: %d '%s', expected %d '%s'", i,
			    r, why, cases[i].register_r, cases[i].register_why);
		assert_null(link);
		why = UNTOUCHED;
		r = poll_at(url, KEY, 0, &res, &why);
		if (r != cases[i].poll_r || strcmp(why, cases[i].poll_why) != 0)
			fail_msg("poll %zu: %d '%s', expected %d '%s'", i, r,
			    why, cases[i].poll_r, cases[i].poll_why);
		ion_relay_result_clear(&res);
	}
	/* Not https, not loopback: never asked. */
	assert_int_equal(register_at("http://relay.example", KEY, &link, &why),
	    ION_ERR_UNAVAIL);
	assert_string_equal(why, "relay unreachable");
	assert_int_equal(poll_at("http://relay.example", KEY, 0, &res, &why),
	    ION_ERR_UNAVAIL);
	assert_string_equal(why, "relay unreachable");
}

/*
 * A poll that fails for now: the connection closed or reset before an
 * answer (a relay stopped or killed under a parked poll), a relay busy
 * with its Retry-After passed on when it is a plain number up to
 * ION_RELAY_RETRY_AFTER_MAX_S, and a registration that does not.
 */
static void
test_poll_transient(void **state)
{
	static const struct {
		const char *url; /* after the base */
		const char *why;
		unsigned retry_after_s;
	} cases[] = {
		{ "/drop", "relay unreachable", 0 },
		{ "/reset", "relay unreachable", 0 },
		{ "/retry-after/1", WHY_POLL_REFUSED, 1 },
		{ "/retry-after/3", WHY_POLL_REFUSED, 3 },
		{ "/retry-after/5", WHY_POLL_REFUSED, 5 },
		{ "/retry-after/6", WHY_POLL_REFUSED, 0 },
		{ "/retry-after/10", WHY_POLL_REFUSED, 0 },
		{ "/retry-after/0", WHY_POLL_REFUSED, 0 },
		{ "/retry-after/-1", WHY_POLL_REFUSED, 0 },
		{ "/retry-after/2x", WHY_POLL_REFUSED, 0 },
		{ "/retry-after/date", WHY_POLL_REFUSED, 0 },
	};
	const char *why;
	char url[256], *link;
	struct ion_relay_result res;
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(url, sizeof(url), "%s%s", srv.base, cases[i].url);
		why = UNTOUCHED;
		r = poll_at(url, KEY, 0, &res, &why);
		if (r != ION_ERR_RETRY || strcmp(why, cases[i].why) != 0 ||
		    res.retry_after_s != cases[i].retry_after_s)
			fail_msg("%s: %d '%s' %u, expected %d '%s' %u",
			    cases[i].url, r, why, res.retry_after_s,
			    ION_ERR_RETRY, cases[i].why,
			    cases[i].retry_after_s);
		assert_true(res.code == NULL && res.error == NULL);
		ion_relay_result_clear(&res);
	}
	/* Registration does not retry: the module gives up at once. */
	snprintf(url, sizeof(url), "%s/reset", srv.base);
	assert_int_equal(register_at(url, KEY, &link, &why), ION_ERR_UNAVAIL);
	assert_string_equal(why, "relay unreachable");
	snprintf(url, sizeof(url), "%s/retry-after/1", srv.base);
	assert_int_equal(register_at(url, KEY, &link, &why), ION_ERR_UNAVAIL);
	assert_string_equal(why, "relay full or failing");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_link_ok),
		cmocka_unit_test(test_register_key),
		cmocka_unit_test(test_register_key_refused),
		cmocka_unit_test(test_register_answers),
		cmocka_unit_test(test_register_too_long),
		cmocka_unit_test(test_poll),
		cmocka_unit_test(test_poll_answers),
		cmocka_unit_test(test_poll_wait),
		cmocka_unit_test(test_no_answer),
		cmocka_unit_test(test_poll_transient),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
