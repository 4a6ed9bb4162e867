/*
 * Unit tests of store.h through the redis store, against a real
 * redis-server this test starts on a unix socket in a temporary directory
 * (with a password), so two store objects stand for two relays sharing
 * one Redis.  The HTTP-level cases (and the faults) are in tests/relay.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
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

#include "clock.h"
#include "crypto.h"
#include "errors.h"
#include "fixture.h"
#include "store.h"
#include "store_fixture.h"

#ifndef REDIS_SERVER
#define REDIS_SERVER "/usr/bin/redis-server"
#endif
#define PASSWORD "test-password-1"

static char dir[256], sock[300];
static pid_t server = -1;
static unsigned prefix_n;

/* Starts redis-server on sock; waits until the socket is there. */
static void
start_server(void)
{
	struct stat sb;
	char log[320];
	int i;

	snprintf(log, sizeof(log), "%s/redis.log", dir);
	if ((server = fork()) == 0) {
		/* Gone with this test, however it ends. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(REDIS_SERVER, "redis-server", "--port", "0",
		    "--unixsocket", sock, "--unixsocketperm", "700", "--save",
		    "", "--appendonly", "no", "--requirepass", PASSWORD,
		    "--dir", dir, "--logfile", log, "--loglevel", "warning",
		    (char *)NULL);
		_exit(127);
	}
	assert_true(server > 0);
	for (i = 0; i < 200 && stat(sock, &sb) != 0; i++)
		usleep(25000);
	assert_int_equal(stat(sock, &sb), 0);
}

static void
stop_server(void)
{
	if (server > 0) {
		kill(server, SIGKILL);
		waitpid(server, NULL, 0);
		server = -1;
	}
	unlink(sock);
}

static int
setup(void **state)
{
	(void)state;
	/* As in the relay: a write to a server that went is an error. */
	signal(SIGPIPE, SIG_IGN);
	fixture_mkdtemp(dir, sizeof(dir), "store-redis");
	snprintf(sock, sizeof(sock), "%s/redis.sock", dir);
	start_server();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	stop_server();
	fixture_rmtree(dir);
	return 0;
}

/* What the watcher told: wakes by state. */
struct told {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char last[RELAY_STATE_LEN + 1];
	unsigned woken, lost;
};

static struct told told_a = { PTHREAD_MUTEX_INITIALIZER,
	PTHREAD_COND_INITIALIZER, "", 0, 0 };

static void
on_woken(void *arg, const char *state)
{
	struct told *t = arg;

	pthread_mutex_lock(&t->lock);
	snprintf(t->last, sizeof(t->last), "%s", state);
	t->woken++;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

static void
on_lost(void *arg)
{
	struct told *t = arg;

	pthread_mutex_lock(&t->lock);
	t->lost++;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

/* Waits up to 3 s for t->woken to reach n; true when it did. */
static bool
wait_woken(struct told *t, unsigned n)
{
	uint64_t until = ion_now_ms() + 3000;
	bool ok;

	pthread_mutex_lock(&t->lock);
	while (t->woken < n && ion_now_ms() < until) {
		pthread_mutex_unlock(&t->lock);
		usleep(2000);
		pthread_mutex_lock(&t->lock);
	}
	ok = t->woken >= n;
	pthread_mutex_unlock(&t->lock);
	return ok;
}

/* A store on the test's server; prefix shared when given. */
static struct relay_store *
open_store(
    const char *prefix, const char *password, unsigned long max, struct told *t)
{
	struct relay_store_config cfg;
	struct relay_store_events ev = { on_woken, on_lost, t };
	struct relay_store *st = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.url.kind = RELAY_STORE_REDIS_UNIX;
	assert_true(strlen(sock) < sizeof(cfg.url.path));
	memcpy(cfg.url.path, sock, strlen(sock) + 1);
	cfg.password = password;
	cfg.prefix = prefix;
	cfg.max_pending = max;
	cfg.ttl_seconds = 300;
	cfg.timeout_ms = 1000;
	assert_int_equal(relay_store_open(&cfg, &st), 0);
	/* The watcher runs in every relay: without it the store is down. */
	if (t == NULL)
		memset(&ev, 0, sizeof(ev));
	relay_store_watch(st, &ev);
	return st;
}

static void
new_prefix(char *out, size_t len)
{
	snprintf(out, len, "t%u:", ++prefix_n);
}

/* Register on A, view and callback on B, take on A: exactly once. */
static void
test_two_relays(void **unused)
{
	struct relay_store *a, *b;
	struct relay_login_view *v = NULL;
	struct relay_result in = code_result("code-1"), *res = NULL;
	struct relay_login_spec spec;
	char prefix[16], s[RELAY_STATE_LEN + 1],
	    link[ION_RELAY_LINK_ID_LEN + 1];
	char why[128];
	uint64_t due = 0;
	unsigned before;

	(void)unused;
	new_prefix(prefix, sizeof(prefix));
	a = open_store(prefix, PASSWORD, 10, &told_a);
	b = open_store(prefix, PASSWORD, 10, NULL);
	assert_true(relay_store_health(a, why, sizeof(why)));
	make_state(1, s);
	spec = spec_for(s);
	assert_int_equal(relay_store_add(a, &spec, link), 0);
	assert_int_equal(relay_store_add(b, &spec, link), ION_ERR_EXISTS);
	assert_int_equal(relay_store_count(b), 1);
	assert_true(relay_store_exists(b, s));
	assert_int_equal(relay_store_view_link(b, link, &v), 0);
	assert_string_equal(v->host, "host.example");
	assert_string_equal(v->user, "alice");
	assert_string_equal(v->rhost, "192.0.2.7");
	assert_string_equal(v->service, "sshd");
	assert_string_equal(v->client_name, "host-a");
	assert_string_equal(v->authorize_url, URL "x");
	assert_string_equal(v->link_id, link);
	assert_true(v->confirm);
	assert_true(v->created > 0 && v->created <= time(NULL));
	free(v);
	v = NULL;
	/* Pending: the poll may wait until the login's end, not longer. */
	assert_int_equal(
	    relay_store_take(a, s, CLIENT, &res, &due), ION_ERR_PENDING);
	assert_true(due > ion_now_ms() + 299000 && due < ion_now_ms() + 301000);
	before = told_a.woken;
	assert_int_equal(relay_store_put_result(b, s, &in, &v), 0);
	assert_string_equal(v->link_id, link);
	free(v);
	v = NULL;
	/* A's watcher heard B's result. */
	assert_true(wait_woken(&told_a, before + 1));
	assert_string_equal(told_a.last, s);
	/* Another client's login is no login at all. */
	assert_int_equal(
	    relay_store_take(b, s, OTHER, &res, NULL), ION_ERR_NOT_FOUND);
	assert_int_equal(relay_store_view_link(a, link, &v), ION_ERR_USED);
	assert_int_equal(relay_store_take(a, s, CLIENT, &res, NULL), 0);
	assert_string_equal(res->code, "code-1");
	assert_string_equal(res->iss, "https://auth.example");
	assert_null(res->error);
	assert_string_equal(res->link_id, link);
	relay_result_free(&res);
	/* Being delivered by A: B's poll waits, at most for the lease. */
	assert_int_equal(
	    relay_store_take(b, s, CLIENT, &res, &due), ION_ERR_PENDING);
	assert_true(due <= ion_now_ms() + RELAY_DELIVERY_LEASE_MS + 100);
	/* B cannot end A's delivery. */
	assert_false(relay_store_delivered(b, s, false));
	assert_false(relay_store_delivered(a, s, true));
	assert_false(relay_store_exists(b, s));
	assert_int_equal(
	    relay_store_take(b, s, CLIENT, &res, NULL), ION_ERR_NOT_FOUND);
	assert_int_equal(relay_store_view_link(b, link, &v), ION_ERR_NOT_FOUND);
	assert_int_equal(relay_store_count(a), 0);
	assert_int_equal(relay_store_used_codes(a), RELAY_STORE_UNCOUNTED);
	relay_store_free(&a);
	relay_store_free(&b);
}

/* First result wins; a code and a request_uri are accepted once. */
static void
test_first_wins_and_reuse(void **unused)
{
	struct relay_store *a, *b;
	struct relay_login_view *v = NULL;
	struct relay_result one = code_result("code-A"),
			    two = code_result("code-B");
	struct relay_result err;
	struct relay_login_spec spec;
	char prefix[16], s1[RELAY_STATE_LEN + 1], s2[RELAY_STATE_LEN + 1];
	char s3[RELAY_STATE_LEN + 1], s4[RELAY_STATE_LEN + 1];
	char link[ION_RELAY_LINK_ID_LEN + 1];
	const char *uri = "urn:ietf:params:oauth:request_uri:abc";
	struct relay_result *res = NULL;

	(void)unused;
	new_prefix(prefix, sizeof(prefix));
	a = open_store(prefix, PASSWORD, 10, NULL);
	b = open_store(prefix, PASSWORD, 10, NULL);
	make_state(1, s1);
	make_state(2, s2);
	make_state(3, s3);
	make_state(4, s4);
	spec = spec_for(s1);
	assert_int_equal(relay_store_add(a, &spec, link), 0);
	spec = spec_for(s2);
	assert_int_equal(relay_store_add(b, &spec, link), 0);
	assert_int_equal(relay_store_put_result(a, s1, &one, &v), 0);
	free(v);
	assert_int_equal(relay_store_put_result(b, s1, &two, &v), ION_ERR_USED);
	/* code-A, accepted for s1, is refused for s2; s2 still waits. */
	assert_int_equal(
	    relay_store_put_result(b, s2, &one, &v), ION_ERR_DENIED);
	assert_int_equal(
	    relay_store_take(a, s2, CLIENT, &res, NULL), ION_ERR_PENDING);
	memset(&err, 0, sizeof(err));
	err.error = "access_denied";
	err.error_description = "no";
	assert_int_equal(relay_store_put_result(a, s2, &err, &v), 0);
	free(v);
	assert_int_equal(relay_store_take(b, s2, CLIENT, &res, NULL), 0);
	assert_null(res->code);
	assert_string_equal(res->error, "access_denied");
	assert_string_equal(res->error_description, "no");
	assert_null(res->iss);
	relay_result_free(&res);
	/* A pushed request registers once, on any relay. */
	spec = spec_for(s3);
	spec.request_uri = uri;
	spec.request_uri_len = strlen(uri);
	assert_int_equal(relay_store_add(a, &spec, link), 0);
	spec = spec_for(s4);
	spec.request_uri = uri;
	spec.request_uri_len = strlen(uri);
	assert_int_equal(relay_store_add(b, &spec, link), ION_ERR_USED);
	assert_false(relay_store_exists(a, s4));
	/* Unknown logins. */
	assert_int_equal(
	    relay_store_put_result(a, "short", &one, &v), ION_ERR_NOT_FOUND);
	make_state(9, s4);
	assert_int_equal(
	    relay_store_put_result(a, s4, &two, &v), ION_ERR_NOT_FOUND);
	relay_store_free(&a);
	relay_store_free(&b);
}

/* --max-pending counts the logins of every relay. */
static void
test_max_pending_shared(void **unused)
{
	struct relay_store *a, *b;
	struct relay_login_spec spec;
	char prefix[16], s[RELAY_STATE_LEN + 1];
	char link[ION_RELAY_LINK_ID_LEN + 1];
	unsigned i;

	(void)unused;
	new_prefix(prefix, sizeof(prefix));
	a = open_store(prefix, PASSWORD, 3, NULL);
	b = open_store(prefix, PASSWORD, 3, NULL);
	for (i = 0; i < 3; i++) {
		make_state(i, s);
		spec = spec_for(s);
		assert_int_equal(
		    relay_store_add(i % 2 ? a : b, &spec, link), 0);
	}
	make_state(7, s);
	spec = spec_for(s);
	assert_int_equal(relay_store_add(a, &spec, link), ION_ERR_FULL);
	assert_int_equal(relay_store_add(b, &spec, link), ION_ERR_FULL);
	assert_int_equal(relay_store_count(a), 3);
	relay_store_free(&a);
	relay_store_free(&b);
}

/* Threads on two relays take the same result: one gets it at a time. */
struct taker {
	struct relay_store *st;
	const char *state;
	atomic_uint *got;
	atomic_bool *stop;
};

static void *
take_loop(void *arg)
{
	struct taker *t = arg;
	struct relay_result *res = NULL;

	while (!atomic_load(t->stop))
		if (relay_store_take(t->st, t->state, CLIENT, &res, NULL) ==
		    0) {
			atomic_fetch_add(t->got, 1);
			relay_result_free(&res);
		}
	return NULL;
}

static void
test_exactly_once(void **unused)
{
	struct relay_store *st[2];
	struct relay_login_view *v = NULL;
	struct relay_result in = code_result("code-once");
	struct relay_login_spec spec;
	struct taker t[6];
	pthread_t th[6];
	atomic_uint got = 0;
	atomic_bool stop = false;
	char prefix[16], s[RELAY_STATE_LEN + 1];
	char link[ION_RELAY_LINK_ID_LEN + 1];
	int i;

	(void)unused;
	new_prefix(prefix, sizeof(prefix));
	st[0] = open_store(prefix, PASSWORD, 10, NULL);
	st[1] = open_store(prefix, PASSWORD, 10, NULL);
	make_state(5, s);
	spec = spec_for(s);
	assert_int_equal(relay_store_add(st[0], &spec, link), 0);
	assert_int_equal(relay_store_put_result(st[1], s, &in, &v), 0);
	free(v);
	for (i = 0; i < 6; i++) {
		t[i] = (struct taker) { st[i % 2], s, &got, &stop };
		assert_int_equal(
		    pthread_create(&th[i], NULL, take_loop, &t[i]), 0);
	}
	usleep(300000);
	atomic_store(&stop, true);
	for (i = 0; i < 6; i++)
		pthread_join(th[i], NULL);
	/* One take; the lease keeps every other out. */
	assert_int_equal(atomic_load(&got), 1);
	relay_store_free(&st[0]);
	relay_store_free(&st[1]);
}

/* A delivery that did not go out is put back, and the wake published. */
static void
test_put_back(void **unused)
{
	struct relay_store *a, *b;
	struct relay_login_view *v = NULL;
	struct relay_result in = code_result("code-back"), *res = NULL;
	struct relay_login_spec spec;
	char prefix[16], s[RELAY_STATE_LEN + 1];
	char link[ION_RELAY_LINK_ID_LEN + 1];
	unsigned before;

	(void)unused;
	new_prefix(prefix, sizeof(prefix));
	a = open_store(prefix, PASSWORD, 10, &told_a);
	b = open_store(prefix, PASSWORD, 10, NULL);
	make_state(6, s);
	spec = spec_for(s);
	assert_int_equal(relay_store_add(a, &spec, link), 0);
	assert_int_equal(relay_store_put_result(a, s, &in, &v), 0);
	free(v);
	assert_true(wait_woken(&told_a, told_a.woken));
	assert_int_equal(relay_store_take(b, s, CLIENT, &res, NULL), 0);
	relay_result_free(&res);
	before = told_a.woken;
	assert_true(relay_store_delivered(b, s, false));
	assert_true(wait_woken(&told_a, before + 1));
	assert_int_equal(relay_store_take(a, s, CLIENT, &res, NULL), 0);
	assert_string_equal(res->code, "code-back");
	relay_result_free(&res);
	assert_false(relay_store_delivered(a, s, true));
	assert_false(relay_store_exists(b, s));
	relay_store_free(&a);
	relay_store_free(&b);
}

/* Down, wrong password, lost and back: 503s, never a result. */
static void
test_faults(void **unused)
{
	struct relay_store *a, *bad;
	struct relay_login_spec spec;
	struct relay_result *res = NULL;
	struct told t = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
		"", 0, 0 };
	char prefix[16], s[RELAY_STATE_LEN + 1], why[200];
	char link[ION_RELAY_LINK_ID_LEN + 1];
	uint64_t until;

	(void)unused;
	new_prefix(prefix, sizeof(prefix));
	bad = open_store(prefix, "wrong-password", 10, &t);
	assert_false(relay_store_health(bad, why, sizeof(why)));
	assert_non_null(strstr(why, "WRONGPASS"));
	make_state(8, s);
	spec = spec_for(s);
	assert_int_equal(relay_store_add(bad, &spec, link), ION_ERR_UNAVAIL);
	relay_store_free(&bad);

	a = open_store(prefix, PASSWORD, 10, &t);
	assert_true(relay_store_health(a, why, sizeof(why)));
	assert_int_equal(relay_store_add(a, &spec, link), 0);
	stop_server();
	/* The watcher notices and tells; the store answers unavailable. */
	until = ion_now_ms() + 3000;
	while (t.lost == 0 && ion_now_ms() < until)
		usleep(5000);
	assert_int_equal(t.lost, 1);
	assert_false(relay_store_health(a, why, sizeof(why)));
	assert_int_equal(
	    relay_store_take(a, s, CLIENT, &res, NULL), ION_ERR_UNAVAIL);
	assert_int_equal(relay_store_add(a, &spec, link), ION_ERR_UNAVAIL);
	start_server();
	until = ion_now_ms() + 5000;
	while (!relay_store_health(a, why, sizeof(why)) && ion_now_ms() < until)
		usleep(20000);
	assert_true(relay_store_health(a, why, sizeof(why)));
	/* A new server holds nothing: the login is gone, not granted. */
	assert_int_equal(
	    relay_store_take(a, s, CLIENT, &res, NULL), ION_ERR_NOT_FOUND);
	assert_int_equal(relay_store_add(a, &spec, link), 0);
	{
		struct relay_store_stats stats;

		relay_store_stats(a, &stats);
		assert_true(stats.reconnects >= 1);
		assert_true(stats.errors >= 1);
	}
	relay_store_free(&a);
}

/*
 * The stored login leaves out the state and nonce values of its URL (they
 * come from the key); the landing page must still get the URL exactly.
 */
static void
test_url_kept(void **unused)
{
	struct relay_store *a, *b;
	struct relay_login_view *v = NULL;
	struct relay_login_spec spec;
	char prefix[16], s[RELAY_STATE_LEN + 1], n[ION_TOKEN_CHARS + 1];
	char link[ION_RELAY_LINK_ID_LEN + 1], url[1024];
	const char *forms[] = {
		"https://a.example/authorize?response_type=code&state=%s"
		"&nonce=%s&code_challenge=x",
		"https://a.example/authorize?nonce=%2$s&state=%1$s",
		"https://a.example/authorize?state=%s&xnonce=%s&nonce=",
		"https://a.example/authorize?xstate=%s&nonce=%s#frag",
		"https://a.example/"
		"authorize?client_id=c&request_uri=urn%%3Aietf"
		"%%3Aparams%%3Aoauth%%3Arequest_uri%%3A%s%s",
		"https://a.example/authorize?state=%s%s",
	};
	unsigned i;

	(void)unused;
	new_prefix(prefix, sizeof(prefix));
	a = open_store(prefix, PASSWORD, 100, NULL);
	b = open_store(prefix, PASSWORD, 100, NULL);
	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		ion_random_bytes(n, 8);
		snprintf(s, sizeof(s), "%04u%039u", i, (unsigned)n[0] & 0xff);
		assert_int_equal(ion_nonce_from_state(s, n), 0);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(url, sizeof(url), forms[i], s, n);
#pragma GCC diagnostic pop
		spec = spec_for(s);
		spec.authorize_url = url;
		assert_int_equal(relay_store_add(a, &spec, link), 0);
		assert_int_equal(relay_store_view_link(b, link, &v), 0);
		assert_string_equal(v->authorize_url, url);
		assert_string_equal(v->client_name, "host-a");
		free(v);
		v = NULL;
	}
	relay_store_free(&a);
	relay_store_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_relays),
		cmocka_unit_test(test_first_wins_and_reuse),
		cmocka_unit_test(test_max_pending_shared),
		cmocka_unit_test(test_exactly_once),
		cmocka_unit_test(test_put_back),
		cmocka_unit_test(test_url_kept),
		cmocka_unit_test(test_faults),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
