/* Unit tests of store.h through the in-memory store. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* cmocka.h wants stdarg.h, stddef.h, stdint.h and setjmp.h first. */
#include <cmocka.h>

#include "b64url.h"
#include "clock.h"
#include "crypto.h"
#include "errors.h"
#include "store.h"
#include "store_fixture.h"

static int
add(struct relay_store *st, unsigned n, char link[ION_RELAY_LINK_ID_LEN + 1])
{
	char state[RELAY_STATE_LEN + 1];
	struct relay_login_spec s;

	make_state(n, state);
	s = spec_for(state);
	return relay_store_add(st, &s, link);
}

static void
test_add_and_view(void **state)
{
	struct relay_store *st = NULL;
	struct relay_login_view *v = NULL;
	struct relay_login_spec s;
	char st1[RELAY_STATE_LEN + 1], link[ION_RELAY_LINK_ID_LEN + 1];
	char link2[ION_RELAY_LINK_ID_LEN + 1];
	time_t before = time(NULL);

	(void)state;
	assert_int_equal(relay_store_new(10, 300, &st), 0);
	assert_int_equal(relay_store_count(st), 0);
	make_state(1, st1);
	s = spec_for(st1);
	s.user = "";
	s.rhost = "";
	s.confirm = false;
	memset(link, '#', sizeof(link));
	assert_int_equal(relay_store_add(st, &s, link), 0);
	assert_int_equal(strlen(link), ION_RELAY_LINK_ID_LEN);
	assert_true(ion_b64url_is_alphabet(link, ION_RELAY_LINK_ID_LEN));
	assert_int_equal(relay_store_count(st), 1);
	assert_true(relay_store_exists(st, st1));

	assert_int_equal(relay_store_view_link(st, link, &v), 0);
	assert_non_null(v);
	assert_string_equal(v->authorize_url, URL "x");
	assert_string_equal(v->host, "host.example");
	assert_string_equal(v->user, "");
	assert_string_equal(v->rhost, "");
	assert_string_equal(v->service, "sshd");
	assert_string_equal(v->client_name, "host-a");
	assert_false(v->confirm);
	assert_string_equal(v->link_id, link);
	assert_in_range(v->created, before, time(NULL));
	free(v);

	/* A second login gets another link; views stay apart. */
	assert_int_equal(add(st, 2, link2), 0);
	assert_string_not_equal(link, link2);
	assert_int_equal(relay_store_view_link(st, link2, &v), 0);
	assert_string_equal(v->user, "alice");
	assert_string_equal(v->rhost, "192.0.2.7");
	assert_true(v->confirm);
	free(v);
	assert_int_equal(relay_store_count(st), 2);
	relay_store_free(&st);
	assert_null(st);
	relay_store_free(&st); /* NULL is fine */
	relay_store_free(NULL);
}

/* The strings are copied: the caller's buffers may change afterwards. */
static void
test_add_copies(void **state)
{
	struct relay_store *st = NULL;
	struct relay_login_view *v = NULL;
	struct relay_login_spec s;
	char st1[RELAY_STATE_LEN + 1], link[ION_RELAY_LINK_ID_LEN + 1];
	char host[32] = "h1.example", name[32] = "host-a";

	(void)state;
	assert_int_equal(relay_store_new(10, 300, &st), 0);
	make_state(1, st1);
	s = spec_for(st1);
	s.host = host;
	/* the client's name outlives a reload of the keys it came from */
	s.client_name = name;
	assert_int_equal(relay_store_add(st, &s, link), 0);
	strcpy(host, "changed");
	strcpy(name, "changed");
	st1[0] = 'X';
	make_state(1, st1);
	assert_int_equal(relay_store_view_link(st, link, &v), 0);
	assert_string_equal(v->host, "h1.example");
	assert_string_equal(v->client_name, "host-a");
	free(v);
	assert_true(relay_store_exists(st, st1));
	relay_store_free(&st);
}

static void
test_exists_and_full(void **state)
{
	struct relay_store *st = NULL;
	struct relay_result *res = NULL, in = code_result("c");
	struct relay_login_view *v = NULL;
	char link[ION_RELAY_LINK_ID_LEN + 1], st1[RELAY_STATE_LEN + 1];

	(void)state;
	assert_int_equal(relay_store_new(3, 300, &st), 0);
	assert_int_equal(add(st, 1, link), 0);
	assert_int_equal(add(st, 1, link), ION_ERR_EXISTS);
	assert_int_equal(relay_store_count(st), 1);
	assert_int_equal(add(st, 2, link), 0);
	assert_int_equal(add(st, 3, link), 0);
	assert_int_equal(add(st, 4, link), ION_ERR_FULL);
	assert_int_equal(add(st, 5, link), ION_ERR_FULL);
	assert_int_equal(relay_store_count(st), 3);
	make_state(4, st1);
	assert_false(relay_store_exists(st, st1));
	/*
	 * A result being delivered still holds its place; once it went out
	 * whole, the login is gone and there is room again.
	 */
	make_state(2, st1);
	assert_int_equal(relay_store_put_result(st, st1, &in, &v), 0);
	free(v);
	assert_int_equal(relay_store_take_result(st, st1, CLIENT, &res), 0);
	relay_result_free(&res);
	assert_int_equal(add(st, 4, link), ION_ERR_FULL);
	assert_int_equal(relay_store_count(st), 3);
	assert_false(relay_store_delivered(st, st1, true));
	assert_int_equal(relay_store_count(st), 2);
	assert_int_equal(add(st, 4, link), 0);
	assert_int_equal(relay_store_count(st), 3);
	relay_store_free(&st);
}

static void
test_result_lifecycle(void **state)
{
	struct relay_store *st = NULL;
	struct relay_login_view *v = NULL;
	struct relay_result *res = NULL, in;
	char link[ION_RELAY_LINK_ID_LEN + 1], st1[RELAY_STATE_LEN + 1];
	char code[] = "the-code";

	(void)state;
	assert_int_equal(relay_store_new(10, 300, &st), 0);
	assert_int_equal(add(st, 1, link), 0);
	make_state(1, st1);

	/* No result yet. */
	assert_int_equal(
	    relay_store_take_result(st, st1, CLIENT, &res), ION_ERR_PENDING);
	assert_null(res);
	assert_int_equal(
	    relay_store_take_result(st, st1, CLIENT, &res), ION_ERR_PENDING);

	/* The first result wins and returns the login's view. */
	memset(&in, 0, sizeof(in));
	in.code = code;
	in.iss = "https://auth.example";
	in.size = 3; /* ignored */
	assert_int_equal(relay_store_put_result(st, st1, &in, &v), 0);
	assert_non_null(v);
	assert_string_equal(v->host, "host.example");
	assert_string_equal(v->link_id, link);
	free(v);
	v = NULL;
	strcpy(code, "changed!"); /* the store holds its own copy */

	/* A second result, and the landing page, are refused. */
	in = code_result("other");
	assert_int_equal(
	    relay_store_put_result(st, st1, &in, &v), ION_ERR_USED);
	assert_null(v);
	assert_int_equal(relay_store_view_link(st, link, &v), ION_ERR_USED);
	assert_null(v);
	assert_true(relay_store_exists(st, st1));
	assert_int_equal(relay_store_count(st), 1);

	/* Taken: a copy goes out, and the login waits for the delivery. */
	assert_int_equal(relay_store_take_result(st, st1, CLIENT, &res), 0);
	assert_non_null(res);
	assert_string_equal(res->code, "the-code");
	assert_null(res->error);
	assert_null(res->error_description);
	assert_string_equal(res->iss, "https://auth.example");
	assert_string_equal(res->link_id, link);
	relay_result_free(&res);
	assert_null(res);
	assert_true(relay_store_exists(st, st1));
	assert_int_equal(relay_store_count(st), 1);
	assert_int_equal(
	    relay_store_take_result(st, st1, CLIENT, &res), ION_ERR_PENDING);
	assert_null(res);

	/* Delivered whole: forgotten, so handed out exactly once. */
	assert_false(relay_store_delivered(st, st1, true));
	assert_int_equal(
	    relay_store_take_result(st, st1, CLIENT, &res), ION_ERR_NOT_FOUND);
	assert_false(relay_store_exists(st, st1));
	assert_int_equal(relay_store_count(st), 0);
	assert_int_equal(
	    relay_store_view_link(st, link, &v), ION_ERR_NOT_FOUND);
	in = code_result("late");
	assert_int_equal(
	    relay_store_put_result(st, st1, &in, &v), ION_ERR_NOT_FOUND);
	/* The state is free for a new login. */
	assert_int_equal(add(st, 1, link), 0);
	relay_store_free(&st);
}

static void
test_error_result(void **state)
{
	struct relay_store *st = NULL;
	struct relay_login_view *v = NULL;
	struct relay_result *res = NULL, in;
	char link[ION_RELAY_LINK_ID_LEN + 1], st1[RELAY_STATE_LEN + 1];

	(void)state;
	assert_int_equal(relay_store_new(10, 300, &st), 0);
	assert_int_equal(add(st, 7, link), 0);
	make_state(7, st1);
	memset(&in, 0, sizeof(in));
	in.error = "access_denied";
	in.error_description = "The user said no";
	assert_int_equal(relay_store_put_result(st, st1, &in, &v), 0);
	free(v);
	assert_int_equal(relay_store_take_result(st, st1, CLIENT, &res), 0);
	assert_null(res->code);
	assert_string_equal(res->error, "access_denied");
	assert_string_equal(res->error_description, "The user said no");
	assert_null(res->iss);
	assert_string_equal(res->link_id, link);
	assert_true(res->size >= sizeof(*res) + strlen("access_denied") +
		strlen("The user said no") + 2);
	relay_result_free(&res);
	relay_store_free(&st);
}

static void
test_unknown(void **state)
{
	struct relay_store *st = NULL;
	struct relay_login_view *v = NULL;
	struct relay_result *res = NULL, in = code_result("c");
	char link[ION_RELAY_LINK_ID_LEN + 1], st9[RELAY_STATE_LEN + 1];

	(void)state;
	assert_int_equal(relay_store_new(10, 300, &st), 0);
	assert_int_equal(add(st, 1, link), 0);
	make_state(9, st9);
	assert_false(relay_store_exists(st, st9));
	assert_int_equal(
	    relay_store_put_result(st, st9, &in, &v), ION_ERR_NOT_FOUND);
	assert_int_equal(
	    relay_store_take_result(st, st9, CLIENT, &res), ION_ERR_NOT_FOUND);
	assert_int_equal(
	    relay_store_view_link(st, "AAAAAAAAAAA", &v), ION_ERR_NOT_FOUND);
	/* wrong lengths: a prefix or an extension of a real key */
	assert_int_equal(relay_store_view_link(st, "", &v), ION_ERR_NOT_FOUND);
	{
		char shorter[ION_RELAY_LINK_ID_LEN + 2];

		memcpy(shorter, link, ION_RELAY_LINK_ID_LEN - 1);
		shorter[ION_RELAY_LINK_ID_LEN - 1] = '\0';
		assert_int_equal(
		    relay_store_view_link(st, shorter, &v), ION_ERR_NOT_FOUND);
		memcpy(shorter, link, ION_RELAY_LINK_ID_LEN);
		shorter[ION_RELAY_LINK_ID_LEN] = 'A';
		shorter[ION_RELAY_LINK_ID_LEN + 1] = '\0';
		assert_int_equal(
		    relay_store_view_link(st, shorter, &v), ION_ERR_NOT_FOUND);
	}
	assert_false(relay_store_exists(st, "short"));
	assert_false(relay_store_exists(st, ""));
	assert_int_equal(relay_store_take_result(st, "short", CLIENT, &res),
	    ION_ERR_NOT_FOUND);
	assert_int_equal(
	    relay_store_put_result(st, "short", &in, &v), ION_ERR_NOT_FOUND);
	assert_null(v);
	assert_null(res);
	relay_store_free(&st);
}

/* Oversized registrations are refused, and nothing is kept. */
static void
test_add_limits(void **state)
{
	struct relay_store *st = NULL;
	struct relay_login_spec s;
	char st1[RELAY_STATE_LEN + 1], link[ION_RELAY_LINK_ID_LEN + 1];
	char *big = malloc(70000);

	(void)state;
	assert_non_null(big);
	memset(big, 'h', 69999);
	big[69999] = '\0';
	assert_int_equal(relay_store_new(10, 300, &st), 0);
	make_state(1, st1);
	s = spec_for(st1);
	s.host = big;
	assert_int_not_equal(relay_store_add(st, &s, link), 0);
	s = spec_for("too-short");
	assert_int_not_equal(relay_store_add(st, &s, link), 0);
	assert_int_equal(relay_store_count(st), 0);
	free(big);
	relay_store_free(&st);
}

/*
 * Whatever the store accepts it gives back unchanged: long strings are
 * either refused or kept whole.
 */
static void
test_add_long_fields_kept_or_refused(void **state)
{
	struct relay_store *st = NULL;
	struct relay_login_view *v = NULL;
	struct relay_login_spec s;
	char st1[RELAY_STATE_LEN + 1], link[ION_RELAY_LINK_ID_LEN + 1];
	char *host = malloc(70001), *url = malloc(70001);

	(void)state;
	assert_non_null(host);
	assert_non_null(url);
	memset(host, 'h', 70000);
	host[70000] = '\0';
	memset(url, 'u', 70000);
	url[70000] = '\0';
	assert_int_equal(relay_store_new(10, 300, &st), 0);
	make_state(1, st1);
	s = spec_for(st1);
	s.host = host;
	s.authorize_url = url;
	if (relay_store_add(st, &s, link) == 0) {
		assert_int_equal(relay_store_view_link(st, link, &v), 0);
		if (strcmp(v->host, host) != 0 ||
		    strcmp(v->authorize_url, url) != 0 ||
		    strcmp(v->user, "alice") != 0 ||
		    strcmp(v->service, "sshd") != 0)
			fail_msg("accepted a 70000-byte host and URL, but the "
				 "view has host of %zu bytes, user '%.20s', "
				 "service '%.20s', URL of %zu bytes",
			    strlen(v->host), v->user, v->service,
			    strlen(v->authorize_url));
		free(v);
	}
	free(host);
	free(url);
	relay_store_free(&st);
}

struct expired_log {
	struct relay_store *st;
	size_t calls;
	char states[8][RELAY_STATE_LEN + 1];
};

static void
on_expired(void *arg, const char *state)
{
	struct expired_log *log = arg;

	/* The store's lock is released: calling back in must not hang. */
	(void)relay_store_count(log->st);
	if (log->calls < 8)
		memcpy(log->states[log->calls], state, RELAY_STATE_LEN + 1);
	log->calls++;
}

static void
test_expire(void **state)
{
	struct relay_store *st = NULL;
	struct relay_login_view *v = NULL;
	struct relay_result in = code_result("c");
	struct expired_log log;
	char link[ION_RELAY_LINK_ID_LEN + 1], s[RELAY_STATE_LEN + 1];
	uint64_t now, first, next = 1;

	(void)state;
	memset(&log, 0, sizeof(log));
	assert_int_equal(relay_store_new(10, 300, &st), 0);
	log.st = st;
	now = ion_now_ms();

	/* Nothing to expire in an empty store. */
	assert_int_equal(
	    relay_store_expire(st, now + 10000000, on_expired, &log, &next), 0);
	assert_int_equal(next, 0);

	assert_int_equal(add(st, 1, link), 0);
	usleep(5000);
	assert_int_equal(add(st, 2, link), 0);
	assert_int_equal(add(st, 3, link), 0);
	/* a login with a result expires too (its result is freed) */
	make_state(2, s);
	assert_int_equal(relay_store_put_result(st, s, &in, &v), 0);
	free(v);

	/* Not yet: next is when the first one is due. */
	assert_int_equal(
	    relay_store_expire(st, ion_now_ms(), on_expired, &log, &next), 0);
	assert_int_equal(log.calls, 0);
	assert_in_range(next, now + 300000, ion_now_ms() + 300000);
	first = next;

	/* At exactly that time the first one goes, alone. */
	assert_int_equal(
	    relay_store_expire(st, next, on_expired, &log, &next), 1);
	assert_int_equal(log.calls, 1);
	make_state(1, s);
	assert_string_equal(log.states[0], s);
	assert_false(relay_store_exists(st, s));
	assert_int_equal(relay_store_count(st), 2);
	assert_true(next > first);

	/* Far in the future: the rest, in registration order. */
	assert_int_equal(relay_store_expire(st, now + 1000ull * 1000 * 1000,
			     on_expired, &log, &next),
	    2);
	assert_int_equal(log.calls, 3);
	make_state(2, s);
	assert_string_equal(log.states[1], s);
	make_state(3, s);
	assert_string_equal(log.states[2], s);
	assert_int_equal(next, 0);
	assert_int_equal(relay_store_count(st), 0);
	assert_false(relay_store_exists(st, s));
	relay_store_free(&st);
}

static void
test_expire_many(void **state)
{
	struct relay_store *st = NULL;
	struct expired_log log;
	char link[ION_RELAY_LINK_ID_LEN + 1];
	uint64_t next = 1;
	unsigned i;

	(void)state;
	memset(&log, 0, sizeof(log));
	assert_int_equal(relay_store_new(1000, 300, &st), 0);
	log.st = st;
	for (i = 0; i < 300; i++)
		assert_int_equal(add(st, i, link), 0);
	assert_int_equal(relay_store_expire(st, ion_now_ms() + 400000,
			     on_expired, &log, &next),
	    300);
	assert_int_equal(log.calls, 300);
	assert_int_equal(next, 0);
	assert_int_equal(relay_store_count(st), 0);
	relay_store_free(&st);
}

/* A login past its time is gone even before expire() runs. */
static void
test_ttl_zero_is_gone_at_once(void **state)
{
	struct relay_store *st = NULL;
	struct relay_login_view *v = NULL;
	struct relay_result *res = NULL, in = code_result("c");
	char link[ION_RELAY_LINK_ID_LEN + 1], s[RELAY_STATE_LEN + 1];

	(void)state;
	assert_int_equal(relay_store_new(10, 0, &st), 0);
	assert_int_equal(add(st, 1, link), 0);
	make_state(1, s);
	usleep(2000);
	assert_false(relay_store_exists(st, s));
	assert_int_equal(
	    relay_store_view_link(st, link, &v), ION_ERR_NOT_FOUND);
	assert_int_equal(
	    relay_store_put_result(st, s, &in, &v), ION_ERR_NOT_FOUND);
	assert_int_equal(
	    relay_store_take_result(st, s, CLIENT, &res), ION_ERR_NOT_FOUND);
	relay_store_free(&st); /* frees the unexpired entry */
}

/* Past the initial 1024 buckets the tables grow; every login stays. */
static void
test_growth(void **state)
{
	enum { N = 5000 };
	struct relay_store *st = NULL;
	char(*links)[ION_RELAY_LINK_ID_LEN + 1] = calloc(N, sizeof(*links));
	char s[RELAY_STATE_LEN + 1];
	unsigned i;

	(void)state;
	assert_non_null(links);
	assert_int_equal(relay_store_new(N, 300, &st), 0);
	for (i = 0; i < N; i++)
		assert_int_equal(add(st, i, links[i]), 0);
	assert_int_equal(relay_store_count(st), N);
	assert_int_equal(add(st, N, links[0]), ION_ERR_FULL);
	for (i = 0; i < N; i++) {
		struct relay_login_view *v = NULL;

		make_state(i, s);
		assert_true(relay_store_exists(st, s));
		assert_int_equal(relay_store_view_link(st, links[i], &v), 0);
		assert_string_equal(v->link_id, links[i]);
		free(v);
	}
	/* take every other one, then check the rest are still found */
	for (i = 0; i < N; i += 2) {
		struct relay_login_view *v = NULL;
		struct relay_result *res = NULL, in;

		make_state(i, s);
		in = code_result(s); /* each code is accepted once only */
		assert_int_equal(relay_store_put_result(st, s, &in, &v), 0);
		free(v);
		assert_int_equal(
		    relay_store_take_result(st, s, CLIENT, &res), 0);
		assert_string_equal(res->link_id, links[i]);
		relay_result_free(&res);
		assert_false(relay_store_delivered(st, s, true));
	}
	assert_int_equal(relay_store_count(st), N / 2);
	for (i = 0; i < N; i++) {
		make_state(i, s);
		assert_int_equal(relay_store_exists(st, s), i % 2 == 1);
	}
	free(links);
	relay_store_free(&st);
}

/* Link ids are unique across many logins. */
static void
test_link_ids_unique(void **state)
{
	enum { N = 2000 };
	struct relay_store *st = NULL;
	char(*links)[ION_RELAY_LINK_ID_LEN + 1] = calloc(N, sizeof(*links));
	unsigned i, j;

	(void)state;
	assert_non_null(links);
	assert_int_equal(relay_store_new(N, 300, &st), 0);
	for (i = 0; i < N; i++)
		assert_int_equal(add(st, i, links[i]), 0);
	for (i = 0; i < N; i++)
		for (j = i + 1; j < N; j++)
			assert_true(strcmp(links[i], links[j]) != 0);
	free(links);
	relay_store_free(&st);
}

static void
test_result_free_null(void **state)
{
	struct relay_result *res = NULL;

	(void)state;
	relay_result_free(NULL);
	relay_result_free(&res);
	assert_null(res);
}

/* Puts a code result for state n and takes it: the login is delivering. */
static void
put_and_take(struct relay_store *st, unsigned n, const char *code,
    struct relay_result **res)
{
	struct relay_login_view *v = NULL;
	struct relay_result in = code_result(code);
	char s[RELAY_STATE_LEN + 1];

	make_state(n, s);
	assert_int_equal(relay_store_put_result(st, s, &in, &v), 0);
	free(v);
	*res = NULL;
	assert_int_equal(relay_store_take_result(st, s, CLIENT, res), 0);
	assert_non_null(*res);
}

/* ok: the login is forgotten; nothing is left to deliver again. */
static void
test_delivered_ok(void **state)
{
	struct relay_store *st = NULL;
	struct relay_login_view *v = NULL;
	struct relay_result *res = NULL, in = code_result("again");
	char link[ION_RELAY_LINK_ID_LEN + 1], s[RELAY_STATE_LEN + 1];

	(void)state;
	assert_int_equal(relay_store_new(10, 300, &st), 0);
	assert_int_equal(add(st, 1, link), 0);
	assert_int_equal(add(st, 2, link), 0);
	put_and_take(st, 1, "c1", &res);
	relay_result_free(&res);
	make_state(1, s);
	assert_false(relay_store_delivered(st, s, true));
	assert_false(relay_store_exists(st, s));
	assert_int_equal(relay_store_count(st), 1);
	assert_int_equal(
	    relay_store_take_result(st, s, CLIENT, &res), ION_ERR_NOT_FOUND);
	assert_null(res);
	assert_int_equal(
	    relay_store_put_result(st, s, &in, &v), ION_ERR_NOT_FOUND);
	assert_null(v);
	/* Reporting again, either way, changes nothing. */
	assert_false(relay_store_delivered(st, s, false));
	assert_false(relay_store_delivered(st, s, true));
	assert_int_equal(
	    relay_store_take_result(st, s, CLIENT, &res), ION_ERR_NOT_FOUND);
	/* The other login is untouched. */
	make_state(2, s);
	assert_true(relay_store_exists(st, s));
	assert_int_equal(relay_store_count(st), 1);
	relay_store_free(&st);
}

/* !ok: the same result is there for the next take, as often as needed. */
static void
test_delivered_not_ok(void **state)
{
	struct relay_store *st = NULL;
	struct relay_login_view *v = NULL;
	struct relay_result *res = NULL, in;
	char link[ION_RELAY_LINK_ID_LEN + 1], s[RELAY_STATE_LEN + 1];
	int round;

	(void)state;
	assert_int_equal(relay_store_new(10, 300, &st), 0);
	assert_int_equal(add(st, 1, link), 0);
	make_state(1, s);
	memset(&in, 0, sizeof(in));
	in.error = "access_denied";
	in.error_description = "no";
	in.iss = "https://auth.example";
	assert_int_equal(relay_store_put_result(st, s, &in, &v), 0);
	free(v);
	v = NULL;
	for (round = 0; round < 3; round++) {
		assert_int_equal(
		    relay_store_take_result(st, s, CLIENT, &res), 0);
		assert_null(res->code);
		assert_string_equal(res->error, "access_denied");
		assert_string_equal(res->error_description, "no");
		assert_string_equal(res->iss, "https://auth.example");
		assert_string_equal(res->link_id, link);
		/* freeing (and scrubbing) the copy leaves the store's own */
		relay_result_free(&res);
		assert_int_equal(relay_store_take_result(st, s, CLIENT, &res),
		    ION_ERR_PENDING);
		assert_true(relay_store_delivered(st, s, false));
		/* still one login, still used: no second result, no page */
		assert_true(relay_store_exists(st, s));
		assert_int_equal(relay_store_count(st), 1);
		in = code_result("late");
		assert_int_equal(
		    relay_store_put_result(st, s, &in, &v), ION_ERR_USED);
		assert_int_equal(
		    relay_store_view_link(st, link, &v), ION_ERR_USED);
		assert_null(v);
		/* not delivering any more: a second !ok is no news */
		assert_false(relay_store_delivered(st, s, false));
	}
	assert_int_equal(relay_store_take_result(st, s, CLIENT, &res), 0);
	assert_string_equal(res->error, "access_denied");
	relay_result_free(&res);
	assert_false(relay_store_delivered(st, s, true));
	assert_false(relay_store_exists(st, s));
	assert_int_equal(relay_store_count(st), 0);
	relay_store_free(&st);
}

/* Only a take starts a delivery: a report without one changes nothing. */
static void
test_delivered_without_take(void **state)
{
	struct relay_store *st = NULL;
	struct relay_login_view *v = NULL;
	struct relay_result *res = NULL, in = code_result("c");
	char link[ION_RELAY_LINK_ID_LEN + 1], s[RELAY_STATE_LEN + 1];

	(void)state;
	assert_int_equal(relay_store_new(10, 300, &st), 0);
	assert_int_equal(add(st, 1, link), 0);
	make_state(1, s);
	/* waiting for its callback */
	assert_false(relay_store_delivered(st, s, true));
	assert_false(relay_store_delivered(st, s, false));
	assert_true(relay_store_exists(st, s));
	assert_int_equal(relay_store_view_link(st, link, &v), 0);
	free(v);
	v = NULL;
	/* with a result nobody took yet */
	assert_int_equal(relay_store_put_result(st, s, &in, &v), 0);
	free(v);
	assert_false(relay_store_delivered(st, s, true));
	assert_false(relay_store_delivered(st, s, false));
	assert_true(relay_store_exists(st, s));
	assert_int_equal(relay_store_take_result(st, s, CLIENT, &res), 0);
	assert_string_equal(res->code, "c");
	relay_result_free(&res);
	/* unknown states */
	make_state(9, s);
	assert_false(relay_store_delivered(st, s, true));
	assert_false(relay_store_delivered(st, s, false));
	assert_int_equal(relay_store_count(st), 1);
	relay_store_free(&st);
}

/* While one take is delivering, every other take waits; others unaffected. */
static void
test_take_while_delivering(void **state)
{
	struct relay_store *st = NULL;
	struct relay_result *res = NULL, *res2 = NULL;
	char link[ION_RELAY_LINK_ID_LEN + 1], s1[RELAY_STATE_LEN + 1];
	char s2[RELAY_STATE_LEN + 1];
	int i;

	(void)state;
	assert_int_equal(relay_store_new(10, 300, &st), 0);
	assert_int_equal(add(st, 1, link), 0);
	assert_int_equal(add(st, 2, link), 0);
	make_state(1, s1);
	make_state(2, s2);
	put_and_take(st, 1, "one", &res);
	for (i = 0; i < 5; i++) {
		struct relay_result *again = NULL;

		assert_int_equal(
		    relay_store_take_result(st, s1, CLIENT, &again),
		    ION_ERR_PENDING);
		assert_null(again);
	}
	/* Another login's result is handed out meanwhile. */
	put_and_take(st, 2, "two", &res2);
	assert_string_equal(res2->code, "two");
	assert_string_equal(res->code, "one");
	assert_false(relay_store_delivered(st, s2, true));
	assert_true(relay_store_exists(st, s1));
	assert_int_equal(
	    relay_store_take_result(st, s1, CLIENT, &res2), ION_ERR_PENDING);
	relay_result_free(&res);
	relay_result_free(&res2);
	relay_store_free(&st); /* frees a login that is delivering */
}

/*
 * A login that expires while delivering is gone: a failed delivery does
 * not bring it back, and a late report does not touch a new login that
 * took its state meanwhile.
 */
static void
test_expire_while_delivering(void **state)
{
	struct relay_store *st = NULL;
	struct relay_result *res = NULL;
	struct expired_log log;
	char link[ION_RELAY_LINK_ID_LEN + 1], link2[ION_RELAY_LINK_ID_LEN + 1];
	char s[RELAY_STATE_LEN + 1];
	uint64_t next = 1;

	(void)state;
	memset(&log, 0, sizeof(log));
	assert_int_equal(relay_store_new(10, 300, &st), 0);
	log.st = st;
	assert_int_equal(add(st, 1, link), 0);
	make_state(1, s);
	put_and_take(st, 1, "c", &res);
	assert_int_equal(relay_store_expire(st, ion_now_ms() + 400000,
			     on_expired, &log, &next),
	    1);
	assert_int_equal(log.calls, 1);
	assert_string_equal(log.states[0], s);
	assert_int_equal(relay_store_count(st), 0);
	/* the copy handed out is the caller's and still whole */
	assert_string_equal(res->code, "c");
	assert_string_equal(res->link_id, link);
	relay_result_free(&res);
	assert_false(relay_store_delivered(st, s, false));
	assert_false(relay_store_exists(st, s));
	assert_int_equal(
	    relay_store_take_result(st, s, CLIENT, &res), ION_ERR_NOT_FOUND);

	/* A new login with the same state, then the old delivery's report. */
	assert_int_equal(add(st, 1, link2), 0);
	assert_false(relay_store_delivered(st, s, true));
	assert_true(relay_store_exists(st, s));
	assert_int_equal(relay_store_count(st), 1);
	assert_int_equal(
	    relay_store_take_result(st, s, CLIENT, &res), ION_ERR_PENDING);
	assert_false(relay_store_delivered(st, s, false));
	relay_store_free(&st);
}

struct racer {
	struct relay_store *st;
	const char *state;
	pthread_barrier_t *go;
	int got;
};

static void *
racer(void *arg)
{
	struct racer *r = arg;
	struct relay_result *res = NULL;
	int i;

	pthread_barrier_wait(r->go);
	for (i = 0; i < 100; i++) {
		int rc = relay_store_take_result(r->st, r->state, CLIENT, &res);

		if (rc == 0) {
			r->got++;
			relay_result_free(&res);
		} else if (rc != ION_ERR_PENDING)
			r->got += 1000; /* neither: a failure */
	}
	return NULL;
}

/* Many polls at once: exactly one take gets the result. */
static void
test_take_race(void **state)
{
	enum { T = 8 };
	struct relay_store *st = NULL;
	struct relay_result *res = NULL;
	struct racer r[T];
	pthread_t t[T];
	pthread_barrier_t go;
	char link[ION_RELAY_LINK_ID_LEN + 1], s[RELAY_STATE_LEN + 1];
	struct relay_login_view *v = NULL;
	struct relay_result in = code_result("c");
	int i, total = 0;

	(void)state;
	assert_int_equal(relay_store_new(10, 300, &st), 0);
	assert_int_equal(add(st, 1, link), 0);
	make_state(1, s);
	assert_int_equal(relay_store_put_result(st, s, &in, &v), 0);
	free(v);
	assert_int_equal(pthread_barrier_init(&go, NULL, T), 0);
	for (i = 0; i < T; i++) {
		r[i].st = st;
		r[i].state = s;
		r[i].go = &go;
		r[i].got = 0;
		assert_int_equal(pthread_create(&t[i], NULL, racer, &r[i]), 0);
	}
	for (i = 0; i < T; i++) {
		pthread_join(t[i], NULL);
		total += r[i].got;
	}
	pthread_barrier_destroy(&go);
	assert_int_equal(total, 1);
	assert_int_equal(
	    relay_store_take_result(st, s, CLIENT, &res), ION_ERR_PENDING);
	assert_false(relay_store_delivered(st, s, true));
	assert_int_equal(relay_store_count(st), 0);
	relay_store_free(&st);
}

struct worker {
	struct relay_store *st;
	unsigned base;
	int failures;
};

static void *
worker(void *arg)
{
	struct worker *w = arg;
	unsigned i;

	for (i = 0; i < 500; i++) {
		char s[RELAY_STATE_LEN + 1], link[ION_RELAY_LINK_ID_LEN + 1];
		struct relay_login_spec spec;
		struct relay_login_view *v = NULL;
		struct relay_result *res = NULL, in;

		snprintf(s, sizeof(s), "state-%037u", w->base + i);
		in = code_result(s); /* a code is accepted once only */
		spec = spec_for(s);
		if (relay_store_add(w->st, &spec, link) != 0 ||
		    relay_store_view_link(w->st, link, &v) != 0)
			w->failures++;
		free(v);
		v = NULL;
		if (relay_store_put_result(w->st, s, &in, &v) != 0 ||
		    relay_store_take_result(w->st, s, CLIENT, &res) != 0 ||
		    strcmp(res->link_id, link) != 0)
			w->failures++;
		/* every other delivery fails once and is taken again */
		if (i % 2 == 1) {
			relay_result_free(&res);
			if (!relay_store_delivered(w->st, s, false) ||
			    relay_store_take_result(w->st, s, CLIENT, &res) !=
				0 ||
			    strcmp(res->code, s) != 0)
				w->failures++;
		}
		if (relay_store_delivered(w->st, s, true))
			w->failures++;
		free(v);
		relay_result_free(&res);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	struct relay_store *st = NULL;
	struct worker w[4];
	pthread_t t[4];
	unsigned i;

	(void)state;
	assert_int_equal(relay_store_new(100000, 300, &st), 0);
	for (i = 0; i < 4; i++) {
		w[i].st = st;
		w[i].base = i * 1000;
		w[i].failures = 0;
		assert_int_equal(pthread_create(&t[i], NULL, worker, &w[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	assert_int_equal(relay_store_count(st), 0);
	relay_store_free(&st);
}

static void
ignore_expired(void *arg, const char *state)
{
	(void)arg;
	(void)state;
}

/* A login's result goes only to the client that registered it. */
static void
test_take_other_client(void **state)
{
	struct relay_store *st = NULL;
	struct relay_login_view *v = NULL;
	struct relay_result *res = NULL, in = code_result("bound");
	struct relay_login_spec s;
	char st1[RELAY_STATE_LEN + 1], link[ION_RELAY_LINK_ID_LEN + 1];

	(void)state;
	assert_int_equal(relay_store_new(10, 300, &st), 0);
	make_state(1, st1);
	s = spec_for(st1);
	s.client = NULL;
	assert_int_equal(relay_store_add(st, &s, link), ION_ERR_INVALID);
	s.client = CLIENT;
	assert_int_equal(relay_store_add(st, &s, link), 0);
	/* pending for its client, unknown to the other */
	assert_int_equal(
	    relay_store_take_result(st, st1, OTHER, &res), ION_ERR_NOT_FOUND);
	assert_int_equal(
	    relay_store_take_result(st, st1, CLIENT, &res), ION_ERR_PENDING);
	assert_int_equal(relay_store_put_result(st, st1, &in, &v), 0);
	free(v);
	assert_int_equal(
	    relay_store_take_result(st, st1, OTHER, &res), ION_ERR_NOT_FOUND);
	assert_null(res);
	assert_int_equal(
	    relay_store_take_result(st, st1, NULL, &res), ION_ERR_NOT_FOUND);
	/* the other client's attempt changed nothing */
	assert_int_equal(relay_store_take_result(st, st1, CLIENT, &res), 0);
	assert_string_equal(res->code, "bound");
	relay_result_free(&res);
	relay_store_delivered(st, st1, true);
	relay_store_free(&st);
}

/*
 * A code accepted for one login is refused for any other within the TTL
 * (the code transplant), and the refused login keeps waiting.
 */
static void
test_code_reuse(void **state)
{
	struct relay_store *st = NULL;
	struct relay_login_view *v = NULL;
	struct relay_result *res = NULL, in = code_result("victim-code");
	struct relay_result err;
	char s1[RELAY_STATE_LEN + 1], s2[RELAY_STATE_LEN + 1];
	char s3[RELAY_STATE_LEN + 1], link[ION_RELAY_LINK_ID_LEN + 1];
	uint64_t next;

	(void)state;
	assert_int_equal(relay_store_new(10, 300, &st), 0);
	assert_int_equal(add(st, 1, link), 0);
	assert_int_equal(add(st, 2, link), 0);
	assert_int_equal(add(st, 3, link), 0);
	make_state(1, s1);
	make_state(2, s2);
	make_state(3, s3);
	assert_int_equal(relay_store_put_result(st, s1, &in, &v), 0);
	free(v);
	v = NULL;
	assert_int_equal(relay_store_used_codes(st), 1);
	assert_int_equal(
	    relay_store_put_result(st, s2, &in, &v), ION_ERR_DENIED);
	assert_null(v);
	assert_int_equal(
	    relay_store_take_result(st, s2, CLIENT, &res), ION_ERR_PENDING);
	/* still refused once the first login is collected and gone */
	assert_int_equal(relay_store_take_result(st, s1, CLIENT, &res), 0);
	relay_result_free(&res);
	relay_store_delivered(st, s1, true);
	assert_int_equal(
	    relay_store_put_result(st, s2, &in, &v), ION_ERR_DENIED);
	/* an error result is no code: not remembered, not refused */
	memset(&err, 0, sizeof(err));
	err.error = "access_denied";
	assert_int_equal(relay_store_put_result(st, s3, &err, &v), 0);
	free(v);
	v = NULL;
	assert_int_equal(relay_store_used_codes(st), 1);
	/* another code is fine */
	in = code_result("other-code");
	assert_int_equal(relay_store_put_result(st, s2, &in, &v), 0);
	free(v);
	v = NULL;
	assert_int_equal(relay_store_used_codes(st), 2);
	/* forgotten after the TTL */
	relay_store_expire(
	    st, ion_now_ms() + 301 * 1000, ignore_expired, NULL, &next);
	assert_int_equal(relay_store_used_codes(st), 0);
	relay_store_free(&st);
}

/* The memory of used codes is capped: full refuses, never forgets early. */
static void
test_code_memory_full(void **state)
{
	struct relay_store *st = NULL;
	struct relay_login_view *v = NULL;
	struct relay_result *res = NULL, in;
	char s[RELAY_STATE_LEN + 1], link[ION_RELAY_LINK_ID_LEN + 1];
	char code[32];
	unsigned i, max = 2 * RELAY_USED_CODES_PER_LOGIN;

	(void)state;
	assert_int_equal(relay_store_new(2, 300, &st), 0);
	for (i = 0; i <= max; i++) {
		assert_int_equal(add(st, i, link), 0);
		make_state(i, s);
		snprintf(code, sizeof(code), "code-%u", i);
		in = code_result(code);
		if (i < max) {
			assert_int_equal(
			    relay_store_put_result(st, s, &in, &v), 0);
			free(v);
			v = NULL;
			assert_int_equal(
			    relay_store_take_result(st, s, CLIENT, &res), 0);
			relay_result_free(&res);
			relay_store_delivered(st, s, true);
		} else
			assert_int_equal(relay_store_put_result(st, s, &in, &v),
			    ION_ERR_FULL);
	}
	assert_int_equal(relay_store_used_codes(st), max);
	in = code_result("code-0");
	assert_int_equal(
	    relay_store_put_result(st, s, &in, &v), ION_ERR_DENIED);
	relay_store_free(&st);
}

/* Registers login n with a pushed request's request_uri (any client). */
static int
add_par(struct relay_store *st, unsigned n, const unsigned char *client,
    const char *uri, size_t urilen)
{
	char state[RELAY_STATE_LEN + 1], link[ION_RELAY_LINK_ID_LEN + 1];
	struct relay_login_spec s;

	make_state(n, state);
	s = spec_for(state);
	s.client = client;
	s.request_uri = uri;
	s.request_uri_len = urilen;
	return relay_store_add(st, &s, link);
}

#define URI "urn:ietf:params:oauth:request_uri:abc"

/* One pushed request, one login, whoever registers it again. */
static void
test_request_uri_once(void **state)
{
	struct relay_store *st = NULL;
	struct relay_login_view *v = NULL;
	struct relay_result in;
	char s[RELAY_STATE_LEN + 1], link[ION_RELAY_LINK_ID_LEN + 1];

	(void)state;
	assert_int_equal(relay_store_new(10, 300, &st), 0);
	assert_int_equal(add_par(st, 1, CLIENT, URI, strlen(URI)), 0);
	assert_int_equal(relay_store_used_codes(st), 1);
	assert_int_equal(
	    add_par(st, 2, CLIENT, URI, strlen(URI)), ION_ERR_USED);
	assert_int_equal(add_par(st, 3, OTHER, URI, strlen(URI)), ION_ERR_USED);
	make_state(2, s);
	assert_false(relay_store_exists(st, s));
	/* the length is the value's: a decoded NUL does not cut it short */
	assert_int_equal(add_par(st, 4, CLIENT, URI "\0x", strlen(URI) + 2), 0);
	assert_int_equal(add_par(st, 5, CLIENT, URI "\0y", strlen(URI) + 2), 0);
	/* a state that is taken remembers nothing */
	assert_int_equal(
	    add_par(st, 1, CLIENT, URI "-2", strlen(URI) + 2), ION_ERR_EXISTS);
	assert_int_equal(add_par(st, 6, CLIENT, URI "-2", strlen(URI) + 2), 0);
	/* no request_uri: nothing to remember */
	assert_int_equal(add(st, 7, link), 0);
	assert_int_equal(relay_store_used_codes(st), 4);
	/*
	 * Codes and request_uris are hashed under labels of their own: a code
	 * spelled like a registered request_uri is a new code.
	 */
	make_state(1, s);
	in = code_result(URI);
	assert_int_equal(relay_store_put_result(st, s, &in, &v), 0);
	free(v);
	assert_int_equal(relay_store_used_codes(st), 5);
	relay_store_free(&st);
}

/* Remembered for the TTL, not longer. */
static void
test_request_uri_expires(void **state)
{
	struct relay_store *st = NULL;
	uint64_t next = 0;

	(void)state;
	assert_int_equal(relay_store_new(10, 0, &st), 0);
	assert_int_equal(add_par(st, 1, CLIENT, URI, strlen(URI)), 0);
	relay_store_expire(st, ion_now_ms() + 1, ignore_expired, NULL, &next);
	assert_int_equal(relay_store_used_codes(st), 0);
	assert_int_equal(add_par(st, 2, CLIENT, URI, strlen(URI)), 0);
	relay_store_free(&st);
}

/* A full memory refuses a new pushed request (fail closed); others pass. */
static void
test_request_uri_memory_full(void **state)
{
	struct relay_store *st = NULL;
	struct relay_login_view *v = NULL;
	struct relay_result *res = NULL, in;
	char s[RELAY_STATE_LEN + 1], link[ION_RELAY_LINK_ID_LEN + 1], uri[64];
	unsigned i, max = RELAY_USED_CODES_PER_LOGIN;

	(void)state;
	/* one login at a time, so max request_uris fill the memory */
	assert_int_equal(relay_store_new(1, 300, &st), 0);
	for (i = 0; i < max; i++) {
		snprintf(uri, sizeof(uri), URI "%u", i);
		assert_int_equal(add_par(st, i, CLIENT, uri, strlen(uri)), 0);
		make_state(i, s);
		memset(&in, 0, sizeof(in));
		in.error = "access_denied";
		assert_int_equal(relay_store_put_result(st, s, &in, &v), 0);
		free(v);
		v = NULL;
		assert_int_equal(
		    relay_store_take_result(st, s, CLIENT, &res), 0);
		relay_result_free(&res);
		relay_store_delivered(st, s, true);
	}
	assert_int_equal(relay_store_count(st), 0);
	assert_int_equal(relay_store_used_codes(st), max);
	assert_int_equal(
	    add_par(st, 100, CLIENT, URI "x", strlen(URI) + 1), ION_ERR_FULL);
	assert_int_equal(relay_store_count(st), 0);
	assert_int_equal(add(st, 101, link), 0);
	relay_store_free(&st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_and_view),
		cmocka_unit_test(test_add_copies),
		cmocka_unit_test(test_exists_and_full),
		cmocka_unit_test(test_result_lifecycle),
		cmocka_unit_test(test_error_result),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_add_limits),
		cmocka_unit_test(test_add_long_fields_kept_or_refused),
		cmocka_unit_test(test_expire),
		cmocka_unit_test(test_expire_many),
		cmocka_unit_test(test_ttl_zero_is_gone_at_once),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_link_ids_unique),
		cmocka_unit_test(test_result_free_null),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_delivered_ok),
		cmocka_unit_test(test_delivered_not_ok),
		cmocka_unit_test(test_delivered_without_take),
		cmocka_unit_test(test_take_while_delivering),
		cmocka_unit_test(test_expire_while_delivering),
		cmocka_unit_test(test_take_race),
		cmocka_unit_test(test_take_other_client),
		cmocka_unit_test(test_code_reuse),
		cmocka_unit_test(test_code_memory_full),
		cmocka_unit_test(test_request_uri_once),
		cmocka_unit_test(test_request_uri_expires),
		cmocka_unit_test(test_request_uri_memory_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
