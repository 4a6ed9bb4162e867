/*
 * Unit tests of routes.h: hand-built requests against a real store and a
 * real waiters table whose suspend and resume are stubs.
 */
#include <sys/socket.h>

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka.h wants stdarg.h, stddef.h, stdint.h and setjmp.h first. */
#include <cmocka.h>

#include "b64url.h"
#include "conns.h"
#include "crypto.h"
#include "errors.h"
#include "routes.h"

#define PUBLIC "https://relay.example"
#define PREFIX "https://auth.example/oauth2"
#define PREFIX2 "http://127.0.0.1:9000/auth/"
#define MAX_PENDING 4
#define TTL 300

#define JSON_TYPE "application/json"
#define HTML_TYPE "text/html; charset=utf-8"

/* Bodies and URLs use @S@ for the login's state. */
#define URL_OK PREFIX "/authorize?client_id=c&state=@S@&scope=openid"
#define CTX_OK                                                                 \
	"{\"host\":\"h.example\",\"user\":\"alice\",\"rhost\":\"192.0.2.1\","  \
	"\"service\":\"sshd\"}"
#define BODY(state, url, ctx)                                                  \
	"{\"state\":\"" state "\",\"authorize_url\":\"" url                    \
	"\",\"context\":" ctx "}"
#define BODY_OK BODY("@S@", URL_OK, CTX_OK)
#define BODY_CTX(ctx) BODY("@S@", URL_OK, ctx)
#define BODY_URL(url) BODY("@S@", url, CTX_OK)

struct conn {
	atomic_int suspends;
	atomic_int resumes;
};

struct fixture {
	struct relay_opts opts;
	struct relay_app app;
	struct relay_waiters_ops ops;
	struct conn conns[4];
};

static void
stub_suspend(void *c)
{
	atomic_fetch_add(&((struct conn *)c)->suspends, 1);
}

static void
stub_resume(void *c)
{
	atomic_fetch_add(&((struct conn *)c)->resumes, 1);
}

static uint64_t
stub_tick(void *arg, uint64_t now_ms)
{
	(void)arg;
	(void)now_ms;
	return 0;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->opts.public_url, PUBLIC);
	f->opts.prefixes[0] = PREFIX;
	f->opts.prefixes[1] = PREFIX2;
	assert_int_equal(relay_url_parse(PREFIX, &f->opts.prefix_urls[0]), 0);
	assert_int_equal(relay_url_parse(PREFIX2, &f->opts.prefix_urls[1]), 0);
	f->opts.nprefixes = 2;
	f->opts.ttl = TTL;
	f->opts.max_pending = MAX_PENDING;
	f->app.opts = &f->opts;
	assert_int_equal(relay_store_new(MAX_PENDING, TTL, &f->app.store), 0);
	f->ops.suspend = stub_suspend;
	f->ops.resume = stub_resume;
	f->ops.tick = stub_tick;
	assert_int_equal(relay_waiters_new(8, &f->ops, &f->app.waiters), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	relay_waiters_free(&f->app.waiters);
	relay_store_free(&f->app.store);
	free(f);
	return 0;
}

/* The poll secret P and state S of login n. */
struct login {
	char secret[ION_TOKEN_CHARS + 1];
	char state[ION_TOKEN_CHARS + 1];
	char bearer[ION_TOKEN_CHARS + 8];
	char link_path[RELAY_LINK_MAX + 1]; /* "/l/ID" once registered */
};

static struct login
login_for(unsigned n)
{
	unsigned char raw[ION_SECRET_LEN];
	struct login l;
	size_t i;

	memset(&l, 0, sizeof(l));
	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(n * 31 + i);
	ion_b64url_encode(raw, sizeof(raw), l.secret);
	assert_int_equal(
	    ion_state_from_secret(l.secret, strlen(l.secret), l.state), 0);
	snprintf(l.bearer, sizeof(l.bearer), "Bearer %s", l.secret);
	return l;
}

/* Replaces every @S@ in tmpl with state; the caller frees the result. */
static char *
fill(const char *tmpl, const char *state)
{
	size_t n = strlen(tmpl) + 1, sl = strlen(state);
	const char *p;
	char *out, *o;

	for (p = tmpl; (p = strstr(p, "@S@")) != NULL; p += 3)
		n += sl;
	out = o = malloc(n);
	assert_non_null(out);
	while ((p = strstr(tmpl, "@S@")) != NULL) {
		memcpy(o, tmpl, (size_t)(p - tmpl));
		o += p - tmpl;
		memcpy(o, state, sl);
		o += sl;
		tmpl = p + 3;
	}
	strcpy(o, tmpl);
	return out;
}

static struct relay_request
request(const char *method, const char *path)
{
	struct relay_request req;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = path;
	req.client = "192.0.2.99";
	req.body = "";
	return req;
}

static void
post_register(struct fixture *f, const char *content_type, const char *body,
    struct relay_response *resp)
{
	struct relay_request req = request("POST", "/v1/logins");

	req.content_type = content_type;
	req.body = body;
	req.body_len = strlen(body);
	relay_route(&f->app, &req, resp);
}

static json_t *
json_of(const struct relay_response *resp)
{
	json_t *j;

	assert_string_equal(resp->content_type, JSON_TYPE);
	assert_non_null(resp->body);
	j = json_loadb(resp->body, resp->body_len, 0, NULL);
	assert_non_null(j);
	return j;
}

static void
expect_json_error(const struct relay_response *resp, const char *reason)
{
	json_t *j = json_of(resp);
	const char *e = json_string_value(json_object_get(j, "error"));

	if (e == NULL || strcmp(e, reason) != 0)
		fail_msg("expected error '%s', got body %.*s", reason,
		    (int)resp->body_len, resp->body);
	assert_true(json_is_string(json_object_get(j, "error_description")));
	json_decref(j);
}

static unsigned long
rejections(struct fixture *f, enum relay_reject r)
{
	return atomic_load(&f->app.metrics.rejections[r]);
}

/* Registers login l (confirm as given); fills l->link_path. */
static void
register_login(struct fixture *f, struct login *l, bool confirm)
{
	struct relay_response resp;
	char *tmpl, *body;
	const char *link;
	json_t *j;

	if (confirm)
		tmpl = strdup(BODY_OK);
	else
		tmpl = strdup("{\"state\":\"@S@\",\"authorize_url\":\"" URL_OK
			      "\",\"context\":" CTX_OK ",\"confirm\":false}");
	body = fill(tmpl, l->state);
	post_register(f, JSON_TYPE, body, &resp);
	if (resp.status != 201)
		fail_msg("register: %u %.*s", resp.status, (int)resp.body_len,
		    resp.body);
	j = json_of(&resp);
	link = json_string_value(json_object_get(j, "link"));
	assert_non_null(link);
	assert_true(strncmp(link, PUBLIC "/l/", strlen(PUBLIC "/l/")) == 0);
	assert_int_equal(
	    strlen(link), strlen(PUBLIC "/l/") + RELAY_LINK_ID_LEN);
	assert_true(ion_b64url_is_alphabet(
	    link + strlen(PUBLIC "/l/"), RELAY_LINK_ID_LEN));
	assert_true(strlen(link) <= RELAY_LINK_MAX);
	snprintf(
	    l->link_path, sizeof(l->link_path), "%s", link + strlen(PUBLIC));
	assert_int_equal(
	    json_integer_value(json_object_get(j, "expires_in")), TTL);
	json_decref(j);
	relay_response_clear(&resp);
	free(body);
	free(tmpl);
}

static void
get_callback(struct fixture *f, const struct relay_param *args, size_t nargs,
    struct relay_response *resp)
{
	struct relay_request req = request("GET", "/callback");

	req.args = args;
	req.nargs = nargs;
	relay_route(&f->app, &req, resp);
}

static void
get_result(struct fixture *f, const char *authorization,
    const struct relay_param *args, size_t nargs, struct relay_response *resp)
{
	struct relay_request req = request("GET", "/v1/logins/result");

	req.authorization = authorization;
	req.args = args;
	req.nargs = nargs;
	relay_route(&f->app, &req, resp);
}

static const struct {
	const char *method;
	const char *path;
	unsigned status;
	const char *allow; /* NULL: none expected */
} methods[] = {
	{ "GET", "/v1/logins", 405, "POST" },
	{ "PUT", "/v1/logins", 405, "POST" },
	{ "HEAD", "/v1/logins", 405, "POST" },
	{ "DELETE", "/v1/logins", 405, "POST" },
	{ "POST", "/v1/logins/result", 405, "GET" },
	{ "HEAD", "/v1/logins/result", 405, "GET" },
	{ "POST", "/callback", 405, "GET" },
	{ "HEAD", "/callback", 405, "GET" },
	{ "POST", "/l/AAAAAAAAAAA", 405, "GET, HEAD" },
	{ "PUT", "/l/AAAAAAAAAAA", 405, "GET, HEAD" },
	{ "POST", "/healthz", 405, "GET, HEAD" },
	{ "DELETE", "/metrics", 405, "GET, HEAD" },
	{ "OPTIONS", "/metrics", 405, "GET, HEAD" },
	{ "get", "/healthz", 405, "GET, HEAD" },
};

static void
test_methods(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		struct relay_request req =
		    request(methods[i].method, methods[i].path);
		struct relay_response resp;
		unsigned long before =
		    rejections(f, RELAY_REJECT_METHOD_NOT_ALLOWED);

		relay_route(&f->app, &req, &resp);
		if (resp.status != methods[i].status)
			fail_msg("%s %s: status %u", methods[i].method,
			    methods[i].path, resp.status);
		assert_non_null(resp.allow);
		assert_string_equal(resp.allow, methods[i].allow);
		assert_null(resp.www_authenticate);
		assert_false(resp.park);
		expect_json_error(&resp, "method_not_allowed");
		assert_int_equal(
		    rejections(f, RELAY_REJECT_METHOD_NOT_ALLOWED), before + 1);
		relay_response_clear(&resp);
	}
	assert_int_equal(relay_store_count(f->app.store), 0);
}

static const char *const not_found_paths[] = {
	"/",
	"",
	"/v1",
	"/v1/",
	"/v1/logins/",
	"/v1/logins/result/",
	"/V1/LOGINS",
	"/callback/",
	"/callbacks",
	"/l",
	"/healthz/",
	"/metrics.txt",
	"/favicon.ico",
	"/../v1/logins",
};

static void
test_not_found(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(not_found_paths) / sizeof(not_found_paths[0]);
	     i++) {
		static const char *const ms[] = { "GET", "POST", "HEAD" };
		size_t m;

		for (m = 0; m < 3; m++) {
			struct relay_request req =
			    request(ms[m], not_found_paths[i]);
			struct relay_response resp;
			unsigned long before =
			    rejections(f, RELAY_REJECT_NOT_FOUND);

			relay_route(&f->app, &req, &resp);
			if (resp.status != 404)
				fail_msg("%s '%s': status %u", ms[m],
				    not_found_paths[i], resp.status);
			assert_string_equal(resp.content_type, HTML_TYPE);
			assert_non_null(
			    strstr(resp.body, "<h1>Not found</h1>"));
			assert_null(resp.allow);
			assert_int_equal(
			    rejections(f, RELAY_REJECT_NOT_FOUND), before + 1);
			relay_response_clear(&resp);
		}
	}
}

static void
test_healthz_and_metrics(void **state)
{
	struct fixture *f = *state;
	struct relay_request req = request("GET", "/healthz");
	struct relay_response resp;
	struct login l = login_for(1);

	relay_route(&f->app, &req, &resp);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.body_len, 3);
	assert_memory_equal(resp.body, "ok\n", 3);
	assert_non_null(strstr(resp.content_type, "text/plain"));
	relay_response_clear(&resp);
	req.method = "HEAD";
	relay_route(&f->app, &req, &resp);
	assert_int_equal(resp.status, 200);
	relay_response_clear(&resp);

	register_login(f, &l, true);
	req = request("POST", "/nowhere");
	relay_route(&f->app, &req, &resp);
	relay_response_clear(&resp);
	req = request("HEAD", "/metrics");
	relay_route(&f->app, &req, &resp);
	assert_int_equal(resp.status, 200);
	assert_non_null(strstr(resp.content_type, "version=0.0.4"));
	assert_int_equal(resp.body_len, strlen(resp.body));
	assert_non_null(
	    strstr(resp.body, "\npam_ion_relay_pending_logins 1\n"));
	assert_non_null(strstr(resp.body, "\npam_ion_relay_parked_polls 0\n"));
	assert_non_null(
	    strstr(resp.body, "\npam_ion_relay_registrations_total 1\n"));
	assert_non_null(strstr(resp.body,
	    "\npam_ion_relay_rejections_total{reason=\"not_found\"} 1\n"));
	assert_non_null(strstr(resp.body,
	    "\npam_ion_relay_rejections_total{reason=\"full\"} 0\n"));
	relay_response_clear(&resp);
	assert_null(resp.body);
	assert_int_equal(resp.status, 0);
}

static void
test_register_happy(void **state)
{
	struct fixture *f = *state;
	struct login l = login_for(1), l2 = login_for(2);
	struct relay_request req;
	struct relay_response resp;
	char *body;

	register_login(f, &l, true);
	assert_int_equal(atomic_load(&f->app.metrics.registrations), 1);
	assert_int_equal(relay_store_count(f->app.store), 1);
	assert_true(relay_store_exists(f->app.store, l.state));

	/* the landing page names the login and links to the provider */
	req = request("GET", l.link_path);
	relay_route(&f->app, &req, &resp);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.content_type, HTML_TYPE);
	assert_non_null(strstr(resp.body, "h.example"));
	assert_non_null(strstr(resp.body, "alice"));
	body = fill("href=\"" PREFIX "/authorize?client_id=c&amp;state=@S@"
		    "&amp;scope=openid\"",
	    l.state);
	assert_non_null(strstr(resp.body, body));
	free(body);
	relay_response_clear(&resp);
	req.method = "HEAD";
	relay_route(&f->app, &req, &resp);
	assert_int_equal(resp.status, 200);
	relay_response_clear(&resp);

	/* content type parameters and case, a second prefix, no user */
	body = fill(BODY("@S@", PREFIX2 "x?state=@S@",
			"{\"host\":\"h\",\"service\":\"login\"}"),
	    l2.state);
	post_register(f, "Application/JSON ; charset=utf-8", body, &resp);
	assert_int_equal(resp.status, 201);
	assert_int_equal(resp.retry_after, 0);
	relay_response_clear(&resp);
	free(body);
	assert_int_equal(atomic_load(&f->app.metrics.registrations), 2);
}

/*
 * log.h: "values that come from clients are quoted by the caller with
 * relay_log_quote()".  The registration's context is such a value.
 */
static void
test_register_log_quotes_client_values(void **state)
{
	struct fixture *f = *state;
	struct relay_response resp;
	struct login l = login_for(1);
	char *body, logged[4096];
	FILE *tmp = tmpfile();
	int saved;
	size_t n;

	assert_non_null(tmp);
	body = fill(BODY_CTX("{\"host\":\"h\\\" as \\\"x\","
			     "\"user\":\"u\\\" ok \\\"y\","
			     "\"service\":\"sshd\\\" on \\\"evil\"}"),
	    l.state);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
	post_register(f, JSON_TYPE, body, &resp);
	dup2(saved, STDERR_FILENO);
	close(saved);
	free(body);
	assert_int_equal(resp.status, 201);
	relay_response_clear(&resp);
	rewind(tmp);
	n = fread(logged, 1, sizeof(logged) - 1, tmp);
	logged[n] = '\0';
	fclose(tmp);
	assert_non_null(strstr(logged, "registered"));
	assert_non_null(strstr(logged, "\"h? as ?x\""));
	assert_non_null(strstr(logged, "\"u? ok ?y\""));
	if (strstr(logged, "sshd\" on \"evil") != NULL)
		fail_msg("the service is logged unquoted: %s", logged);
}

static const struct {
	const char *content_type;
	const char *body;
	bool too_large;
	unsigned status;
	enum relay_reject reason;
} bad_registrations[] = {
	{ JSON_TYPE, BODY_OK, true, 413, RELAY_REJECT_TOO_LARGE },
	{ NULL, BODY_OK, false, 415, RELAY_REJECT_UNSUPPORTED_MEDIA_TYPE },
	{ "text/plain", BODY_OK, false, 415,
	    RELAY_REJECT_UNSUPPORTED_MEDIA_TYPE },
	{ "application/jsonx", BODY_OK, false, 415,
	    RELAY_REJECT_UNSUPPORTED_MEDIA_TYPE },
	{ "application/json-patch+json", BODY_OK, false, 415,
	    RELAY_REJECT_UNSUPPORTED_MEDIA_TYPE },
	{ "application/x-www-form-urlencoded", BODY_OK, false, 415,
	    RELAY_REJECT_UNSUPPORTED_MEDIA_TYPE },
	{ "", BODY_OK, false, 415, RELAY_REJECT_UNSUPPORTED_MEDIA_TYPE },
	/* not the expected JSON object */
	{ JSON_TYPE, "", false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE, "{", false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE, "[]", false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE, "null", false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE, "\"x\"", false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE, BODY_OK "x", false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE,
	    "{\"state\":\"@S@\",\"authorize_url\":\"" URL_OK
	    "\",\"context\":" CTX_OK ",\"extra\":1}",
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE,
	    "{\"state\":\"@S@\",\"state\":\"@S@\",\"authorize_url\":\"" URL_OK
	    "\",\"context\":" CTX_OK "}",
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	/* the state */
	{ JSON_TYPE,
	    "{\"authorize_url\":\"" URL_OK "\",\"context\":" CTX_OK "}", false,
	    400, RELAY_REJECT_BAD_STATE },
	{ JSON_TYPE, BODY("x@S@", URL_OK, CTX_OK), false, 400,
	    RELAY_REJECT_BAD_STATE },
	{ JSON_TYPE,
	    BODY("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", URL_OK, CTX_OK),
	    false, 400, RELAY_REJECT_BAD_STATE },
	{ JSON_TYPE,
	    BODY("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+", URL_OK, CTX_OK),
	    false, 400, RELAY_REJECT_BAD_STATE },
	{ JSON_TYPE,
	    BODY("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", URL_OK, CTX_OK),
	    false, 400, RELAY_REJECT_BAD_STATE },
	{ JSON_TYPE,
	    "{\"state\":42,\"authorize_url\":\"" URL_OK "\",\"context\":" CTX_OK
	    "}",
	    false, 400, RELAY_REJECT_BAD_STATE },
	/* the context */
	{ JSON_TYPE, "{\"state\":\"@S@\",\"authorize_url\":\"" URL_OK "\"}",
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE, BODY_CTX("[]"), false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE, BODY_CTX("\"h\""), false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE, BODY_CTX("{\"service\":\"sshd\"}"), false, 400,
	    RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE, BODY_CTX("{\"host\":\"h\"}"), false, 400,
	    RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE, BODY_CTX("{\"host\":\"\",\"service\":\"sshd\"}"), false,
	    400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE, BODY_CTX("{\"host\":\"h\",\"service\":\"\"}"), false, 400,
	    RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE, BODY_CTX("{\"host\":1,\"service\":\"sshd\"}"), false, 400,
	    RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE,
	    BODY_CTX("{\"host\":\"h\",\"service\":\"sshd\",\"user\":null}"),
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE,
	    BODY_CTX("{\"host\":\"h\",\"service\":\"sshd\",\"tty\":\"x\"}"),
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE,
	    BODY_CTX("{\"host\":\"h\",\"service\":\"sshd\",\"user\":"
		     "\"a\\u0001\"}"),
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE, BODY_CTX("{\"host\":\"h\\n\",\"service\":\"sshd\"}"),
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE,
	    BODY_CTX("{\"host\":\"h\",\"service\":\"sshd\",\"rhost\":"
		     "\"a\\u007f\"}"),
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	/* invisible and direction characters that could disguise a name */
	{ JSON_TYPE,
	    BODY_CTX("{\"host\":\"h\",\"service\":\"sshd\",\"user\":"
		     "\"toor\\u202e\"}"),
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE,
	    BODY_CTX("{\"host\":\"h\",\"service\":\"sshd\",\"user\":"
		     "\"a\\u200f\"}"),
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE,
	    BODY_CTX("{\"host\":\"h\",\"service\":\"sshd\",\"user\":"
		     "\"a\\u2066\"}"),
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE,
	    BODY_CTX("{\"host\":\"h\",\"service\":\"sshd\",\"user\":"
		     "\"a\\u061c\"}"),
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE,
	    BODY_CTX("{\"host\":\"h\",\"service\":\"sshd\",\"user\":"
		     "\"a\\u0085\"}"),
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	/* too long: service over 64 characters */
	{ JSON_TYPE,
	    BODY_CTX("{\"host\":\"h\",\"service\":\"sssssssssssssssssssssssss"
		     "ssssssssssssssssssssssssssssssssssssssss\"}"),
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	/* confirm */
	{ JSON_TYPE,
	    "{\"state\":\"@S@\",\"authorize_url\":\"" URL_OK
	    "\",\"context\":" CTX_OK ",\"confirm\":\"yes\"}",
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE,
	    "{\"state\":\"@S@\",\"authorize_url\":\"" URL_OK
	    "\",\"context\":" CTX_OK ",\"confirm\":1}",
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	/* the authorize URL itself */
	{ JSON_TYPE, "{\"state\":\"@S@\",\"context\":" CTX_OK "}", false, 400,
	    RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE,
	    "{\"state\":\"@S@\",\"authorize_url\":7,\"context\":" CTX_OK "}",
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE, BODY_URL("auth.example/oauth2?state=@S@"), false, 400,
	    RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE, BODY_URL(PREFIX "/authorize?state=@S@#frag"), false, 400,
	    RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE, BODY_URL(PREFIX "/a b?state=@S@"), false, 400,
	    RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE, BODY_URL("javascript:alert(1)//?state=@S@"), false, 400,
	    RELAY_REJECT_BAD_REQUEST },
	/* not under a prefix, or user info or dot segments to get around one */
	{ JSON_TYPE, BODY_URL("https://u@auth.example/oauth2/a?state=@S@"),
	    false, 403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE,
	    BODY_URL("https://auth.example@evil.example/oauth2/a?state=@S@"),
	    false, 403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/../x?state=@S@"), false, 403,
	    RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/%2e%2e/x?state=@S@"), false, 403,
	    RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "x/authorize?state=@S@"), false, 403,
	    RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL("https://auth.example.evil/oauth2/a?state=@S@"),
	    false, 403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL("http://auth.example/oauth2/a?state=@S@"), false,
	    403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL("https://auth.example:8443/oauth2/a?state=@S@"),
	    false, 403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL("https://auth.example/?state=@S@"), false, 403,
	    RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL("http://127.0.0.1:9000/auth?state=@S@"), false,
	    403, RELAY_REJECT_URL_NOT_ALLOWED },
	/* a malformed escape in the query */
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@&x=%zz"), false, 400,
	    RELAY_REJECT_BAD_REQUEST },
	/* the state parameter */
	{ JSON_TYPE, BODY_URL(PREFIX "/a?client_id=c"), false, 403,
	    RELAY_REJECT_STATE_MISMATCH },
	{ JSON_TYPE, BODY_URL(PREFIX "/a"), false, 403,
	    RELAY_REJECT_STATE_MISMATCH },
	{ JSON_TYPE,
	    BODY_URL(
		PREFIX "/a?state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
	    false, 403, RELAY_REJECT_STATE_MISMATCH },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@&state=@S@"), false, 403,
	    RELAY_REJECT_STATE_MISMATCH },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@&st%61te=x"), false, 403,
	    RELAY_REJECT_STATE_MISMATCH },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@x"), false, 403,
	    RELAY_REJECT_STATE_MISMATCH },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?State=@S@"), false, 403,
	    RELAY_REJECT_STATE_MISMATCH },
};

static void
test_register_rejections(void **state)
{
	struct fixture *f = *state;
	struct login l = login_for(1);
	size_t i;

	for (i = 0;
	     i < sizeof(bad_registrations) / sizeof(bad_registrations[0]);
	     i++) {
		struct relay_request req = request("POST", "/v1/logins");
		struct relay_response resp;
		enum relay_reject reason = bad_registrations[i].reason;
		unsigned long before = rejections(f, reason);
		char *body = fill(bad_registrations[i].body, l.state);

		req.content_type = bad_registrations[i].content_type;
		req.body = body;
		req.body_len = strlen(body);
		req.body_too_large = bad_registrations[i].too_large;
		relay_route(&f->app, &req, &resp);
		if (resp.status != bad_registrations[i].status)
			fail_msg("#%zu %s: status %u, expected %u: %.*s", i,
			    body, resp.status, bad_registrations[i].status,
			    (int)resp.body_len, resp.body);
		expect_json_error(&resp, relay_reject_name(reason));
		assert_int_equal(rejections(f, reason), before + 1);
		assert_false(resp.park);
		relay_response_clear(&resp);
		free(body);
	}
	assert_int_equal(relay_store_count(f->app.store), 0);
	assert_int_equal(atomic_load(&f->app.metrics.registrations), 0);
	/* a valid one still goes through afterwards */
	register_login(f, &l, true);
}

static void
test_register_exists_and_full(void **state)
{
	struct fixture *f = *state;
	struct relay_response resp;
	struct login l;
	unsigned n;
	char *body;

	/* the same state again */
	l = login_for(0);
	register_login(f, &l, true);
	body = fill(BODY_OK, l.state);
	post_register(f, JSON_TYPE, body, &resp);
	free(body);
	assert_int_equal(resp.status, 409);
	expect_json_error(&resp, "state_exists");
	assert_int_equal(rejections(f, RELAY_REJECT_STATE_EXISTS), 1);
	relay_response_clear(&resp);
	/* one more than --max-pending */
	for (n = 1; n < MAX_PENDING; n++) {
		l = login_for(n);
		register_login(f, &l, true);
	}
	l = login_for(MAX_PENDING);
	body = fill(BODY_OK, l.state);
	post_register(f, JSON_TYPE, body, &resp);
	free(body);
	assert_int_equal(resp.status, 503);
	assert_int_equal(resp.retry_after, 5);
	expect_json_error(&resp, "full");
	assert_int_equal(rejections(f, RELAY_REJECT_FULL), 1);
	relay_response_clear(&resp);
	assert_int_equal(relay_store_count(f->app.store), MAX_PENDING);
	assert_int_equal(
	    atomic_load(&f->app.metrics.registrations), MAX_PENDING);
}

static void
test_link(void **state)
{
	struct fixture *f = *state;
	struct relay_request req;
	struct relay_response resp;
	struct login l = login_for(1);
	struct relay_param args[2];
	static const char *const unknown[] = { "/l/AAAAAAAAAAA", "/l/",
		"/l/short", "/l/AAAAAAAAAAAA", "/l/AAAAAAAAAAA/x" };
	size_t i;

	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		req = request("GET", unknown[i]);
		relay_route(&f->app, &req, &resp);
		if (resp.status != 404)
			fail_msg("%s: status %u", unknown[i], resp.status);
		assert_string_equal(resp.content_type, HTML_TYPE);
		relay_response_clear(&resp);
	}
	assert_int_equal(rejections(f, RELAY_REJECT_UNKNOWN_LOGIN),
	    sizeof(unknown) / sizeof(unknown[0]));

	register_login(f, &l, true);
	args[0].name = "state";
	args[0].value = l.state;
	args[1].name = "code";
	args[1].value = "c0de";
	get_callback(f, args, 2, &resp);
	assert_int_equal(resp.status, 200);
	relay_response_clear(&resp);
	/* after the callback the link is used up */
	req = request("GET", l.link_path);
	relay_route(&f->app, &req, &resp);
	assert_int_equal(resp.status, 409);
	assert_string_equal(resp.content_type, HTML_TYPE);
	assert_int_equal(rejections(f, RELAY_REJECT_ALREADY_USED), 1);
	relay_response_clear(&resp);
}

static void
test_callback_code_wakes_and_confirms(void **state)
{
	struct fixture *f = *state;
	struct relay_response resp;
	struct login l = login_for(1);
	struct relay_param args[3];
	char confirm[ION_CONFIRM_DIGITS + 1], want[64];
	unsigned ticket;

	register_login(f, &l, true);
	/* a poll is parked for this login */
	assert_int_equal(relay_waiters_park(f->app.waiters, l.state,
			     &f->conns[0], -1, relay_now_ms() + 60000, &ticket),
	    0);
	assert_true(relay_waiters_suspend(f->app.waiters, ticket));

	args[0].name = "code";
	args[0].value = "SplxlOBeZQQYbYS6WxSbIA";
	args[1].name = "state";
	args[1].value = l.state;
	args[2].name = "iss";
	args[2].value = "https://auth.example";
	get_callback(f, args, 3, &resp);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.content_type, HTML_TYPE);
	assert_int_equal(
	    ion_confirm_code(l.state, "SplxlOBeZQQYbYS6WxSbIA", confirm), 0);
	snprintf(want, sizeof(want), "<p id=\"code\">%s</p>", confirm);
	assert_non_null(strstr(resp.body, want));
	/* the code itself is never shown */
	assert_null(strstr(resp.body, "SplxlOBeZQQYbYS6WxSbIA"));
	relay_response_clear(&resp);
	assert_int_equal(atomic_load(&f->app.metrics.callbacks), 1);
	/* the parked poll was woken for the result */
	assert_int_equal(atomic_load(&f->conns[0].resumes), 1);
	assert_int_equal(
	    relay_waiters_release(f->app.waiters, ticket), RELAY_WAKE_RESULT);

	/* a second callback for the same login */
	args[0].value = "another";
	get_callback(f, args, 3, &resp);
	assert_int_equal(resp.status, 409);
	assert_string_equal(resp.content_type, HTML_TYPE);
	assert_int_equal(rejections(f, RELAY_REJECT_ALREADY_USED), 1);
	relay_response_clear(&resp);
	assert_int_equal(atomic_load(&f->app.metrics.callbacks), 1);

	/* the poll collects the first code */
	{
		struct relay_param wait = { "wait", "25" };
		json_t *j;

		get_result(f, l.bearer, &wait, 1, &resp);
		assert_int_equal(resp.status, 200);
		assert_false(resp.park);
		j = json_of(&resp);
		assert_string_equal(
		    json_string_value(json_object_get(j, "code")),
		    "SplxlOBeZQQYbYS6WxSbIA");
		assert_string_equal(
		    json_string_value(json_object_get(j, "iss")),
		    "https://auth.example");
		assert_null(json_object_get(j, "error"));
		json_decref(j);
		relay_response_clear(&resp);
	}
}

static void
test_callback_without_confirm(void **state)
{
	struct fixture *f = *state;
	struct relay_response resp;
	struct login l = login_for(1);
	struct relay_param args[2];

	register_login(f, &l, false);
	args[0].name = "state";
	args[0].value = l.state;
	args[1].name = "code";
	args[1].value = "c0de";
	get_callback(f, args, 2, &resp);
	assert_int_equal(resp.status, 200);
	assert_null(strstr(resp.body, "id=\"code\""));
	relay_response_clear(&resp);
}

static void
test_callback_error(void **state)
{
	struct fixture *f = *state;
	struct relay_response resp;
	struct login l = login_for(1);
	struct relay_param args[4];
	json_t *j;

	register_login(f, &l, true);
	args[0].name = "state";
	args[0].value = l.state;
	args[1].name = "error";
	args[1].value = "access_denied";
	args[2].name = "error_description";
	args[2].value = "<b>no</b>";
	args[3].name = "unrelated";
	args[3].value = NULL;
	get_callback(f, args, 4, &resp);
	assert_int_equal(resp.status, 200);
	assert_non_null(strstr(resp.body, "access_denied"));
	assert_non_null(strstr(resp.body, "&lt;b&gt;no&lt;/b&gt;"));
	assert_null(strstr(resp.body, "<b>no</b>"));
	assert_null(strstr(resp.body, "id=\"code\""));
	relay_response_clear(&resp);

	get_result(f, l.bearer, NULL, 0, &resp);
	assert_int_equal(resp.status, 200);
	j = json_of(&resp);
	assert_string_equal(
	    json_string_value(json_object_get(j, "error")), "access_denied");
	assert_string_equal(
	    json_string_value(json_object_get(j, "error_description")),
	    "<b>no</b>");
	assert_null(json_object_get(j, "code"));
	json_decref(j);
	relay_response_clear(&resp);
}

/* A description that cannot be shown safely is dropped, not the result. */
static void
test_callback_drops_bad_description(void **state)
{
	struct fixture *f = *state;
	struct relay_response resp;
	struct login l = login_for(1);
	struct relay_param args[3];
	json_t *j;

	register_login(f, &l, true);
	args[0].name = "state";
	args[0].value = l.state;
	args[1].name = "error";
	args[1].value = "access_denied";
	args[2].name = "error_description";
	args[2].value = "line\nbreak";
	get_callback(f, args, 3, &resp);
	assert_int_equal(resp.status, 200);
	relay_response_clear(&resp);
	get_result(f, l.bearer, NULL, 0, &resp);
	assert_int_equal(resp.status, 200);
	j = json_of(&resp);
	assert_string_equal(
	    json_string_value(json_object_get(j, "error")), "access_denied");
	assert_null(json_object_get(j, "error_description"));
	json_decref(j);
	relay_response_clear(&resp);
}

/* A description only goes with an error; next to a code it is dropped. */
static void
test_callback_code_ignores_description(void **state)
{
	struct fixture *f = *state;
	struct relay_response resp;
	struct login l = login_for(1);
	struct relay_param args[3];
	json_t *j;

	register_login(f, &l, true);
	args[0].name = "state";
	args[0].value = l.state;
	args[1].name = "code";
	args[1].value = "c0de";
	args[2].name = "error_description";
	args[2].value = "ignored";
	get_callback(f, args, 3, &resp);
	assert_int_equal(resp.status, 200);
	relay_response_clear(&resp);
	get_result(f, l.bearer, NULL, 0, &resp);
	assert_int_equal(resp.status, 200);
	j = json_of(&resp);
	assert_string_equal(
	    json_string_value(json_object_get(j, "code")), "c0de");
	assert_null(json_object_get(j, "error_description"));
	assert_null(json_object_get(j, "iss"));
	json_decref(j);
	relay_response_clear(&resp);
}

static char long_code[1026];

static const struct {
	const char *name[3];
	const char *value[3];
	size_t nargs;
	bool too_many;
	enum relay_reject reason;
} bad_callbacks[] = {
	/* a parameter repeated */
	{ { "state", "state", "code" }, { "@S@", "@S@", "c" }, 3, false,
	    RELAY_REJECT_BAD_REQUEST },
	{ { "state", "code", "code" }, { "@S@", "c", "c" }, 3, false,
	    RELAY_REJECT_BAD_REQUEST },
	{ { "state", "error", "error" }, { "@S@", "e", "f" }, 3, false,
	    RELAY_REJECT_BAD_REQUEST },
	{ { "state", "code", "iss" }, { "@S@", "c", "i" }, 3, true,
	    RELAY_REJECT_BAD_REQUEST },
	{ { "iss", "code", "iss" }, { "i", "c", "i" }, 3, false,
	    RELAY_REJECT_BAD_REQUEST },
	{ { "error_description", "error", "error_description" },
	    { "d", "e", "d" }, 3, false, RELAY_REJECT_BAD_REQUEST },
	/* no usable state */
	{ { "code" }, { "c" }, 1, false, RELAY_REJECT_BAD_STATE },
	{ { "state", "code" }, { "short", "c" }, 2, false,
	    RELAY_REJECT_BAD_STATE },
	{ { "state", "code" }, { NULL, "c" }, 2, false,
	    RELAY_REJECT_BAD_STATE },
	{ { "state", "code" }, { "x@S@", "c" }, 2, false,
	    RELAY_REJECT_BAD_STATE },
	{ { "state", "code" },
	    { "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.", "c" }, 2, false,
	    RELAY_REJECT_BAD_STATE },
	/* code or error: exactly one, printable */
	{ { "state" }, { "@S@" }, 1, false, RELAY_REJECT_BAD_REQUEST },
	{ { "state", "code", "error" }, { "@S@", "c", "e" }, 3, false,
	    RELAY_REJECT_BAD_REQUEST },
	{ { "state", "code" }, { "@S@", "" }, 2, false,
	    RELAY_REJECT_BAD_REQUEST },
	{ { "state", "code" }, { "@S@", NULL }, 2, false,
	    RELAY_REJECT_BAD_REQUEST },
	{ { "state", "code" }, { "@S@", "a\tb" }, 2, false,
	    RELAY_REJECT_BAD_REQUEST },
	{ { "state", "code" }, { "@S@", "caf\xc3\xa9" }, 2, false,
	    RELAY_REJECT_BAD_REQUEST },
	{ { "state", "code" }, { "@S@", long_code }, 2, false,
	    RELAY_REJECT_BAD_REQUEST },
	{ { "state", "error" }, { "@S@", "" }, 2, false,
	    RELAY_REJECT_BAD_REQUEST },
	{ { "state", "error" }, { "@S@", "e\x7f" }, 2, false,
	    RELAY_REJECT_BAD_REQUEST },
	{ { "state", "code", "iss" }, { "@S@", "c", "" }, 3, false,
	    RELAY_REJECT_BAD_REQUEST },
	{ { "state", "code", "iss" }, { "@S@", "c", "a\nb" }, 3, false,
	    RELAY_REJECT_BAD_REQUEST },
};

static void
test_callback_rejections(void **state)
{
	struct fixture *f = *state;
	struct login l = login_for(1);
	size_t i, k;

	memset(long_code, 'c', sizeof(long_code) - 1); /* 1025 characters */
	register_login(f, &l, true);
	for (i = 0; i < sizeof(bad_callbacks) / sizeof(bad_callbacks[0]); i++) {
		struct relay_request req = request("GET", "/callback");
		struct relay_param args[3];
		char *vals[3] = { NULL, NULL, NULL };
		struct relay_response resp;
		enum relay_reject reason = bad_callbacks[i].reason;
		unsigned long before = rejections(f, reason);

		for (k = 0; k < bad_callbacks[i].nargs; k++) {
			args[k].name = bad_callbacks[i].name[k];
			if (bad_callbacks[i].value[k] != NULL)
				vals[k] =
				    fill(bad_callbacks[i].value[k], l.state);
			args[k].value = vals[k];
		}
		req.args = args;
		req.nargs = bad_callbacks[i].nargs;
		req.too_many_args = bad_callbacks[i].too_many;
		relay_route(&f->app, &req, &resp);
		if (resp.status != 400)
			fail_msg("callback #%zu: status %u", i, resp.status);
		assert_string_equal(resp.content_type, HTML_TYPE);
		if (rejections(f, reason) != before + 1)
			fail_msg("callback #%zu: not counted as %s", i,
			    relay_reject_name(reason));
		relay_response_clear(&resp);
		for (k = 0; k < 3; k++)
			free(vals[k]);
	}
	/* nothing was stored: the login still waits for its callback */
	assert_int_equal(atomic_load(&f->app.metrics.callbacks), 0);
	{
		struct relay_result *res = NULL;

		assert_int_equal(
		    relay_store_take_result(f->app.store, l.state, &res),
		    ION_ERR_PENDING);
	}
}

static void
test_callback_unknown(void **state)
{
	struct fixture *f = *state;
	struct relay_response resp;
	struct login l = login_for(9);
	struct relay_param args[2];

	args[0].name = "state";
	args[0].value = l.state;
	args[1].name = "code";
	args[1].value = "c";
	get_callback(f, args, 2, &resp);
	assert_int_equal(resp.status, 404);
	assert_string_equal(resp.content_type, HTML_TYPE);
	assert_int_equal(rejections(f, RELAY_REJECT_UNKNOWN_LOGIN), 1);
	relay_response_clear(&resp);
}

static void
test_result_unauthorized(void **state)
{
	struct fixture *f = *state;
	struct login l = login_for(1);
	char buf[128];
	const char *auths[8];
	size_t i, n = 0;

	register_login(f, &l, true);
	auths[n++] = NULL;
	auths[n++] = "";
	auths[n++] = "Bearer";
	auths[n++] = "Bearer ";
	auths[n++] = "Basic dXNlcjpwYXNz";
	/* the state is not the secret */
	snprintf(buf, sizeof(buf), "Bearer %s", l.state);
	auths[n++] = l.state; /* no scheme */
	auths[n++] = "Bearer AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9";
	auths[n++] = "Bearer  AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
	for (i = 0; i < n; i++) {
		struct relay_response resp;

		get_result(f, auths[i], NULL, 0, &resp);
		if (resp.status != 401)
			fail_msg("Authorization '%s': status %u",
			    auths[i] ? auths[i] : "(none)", resp.status);
		assert_non_null(resp.www_authenticate);
		assert_string_equal(resp.www_authenticate, "Bearer");
		expect_json_error(&resp, "unauthorized");
		relay_response_clear(&resp);
	}
	assert_int_equal(rejections(f, RELAY_REJECT_UNAUTHORIZED), n);
	/* the state as a bearer is a valid-looking secret of another login */
	{
		struct relay_response resp;

		get_result(f, buf, NULL, 0, &resp);
		assert_int_equal(resp.status, 404);
		relay_response_clear(&resp);
	}
	/* the scheme is case-insensitive */
	{
		struct relay_response resp;

		snprintf(buf, sizeof(buf), "bEARER %s", l.secret);
		get_result(f, buf, NULL, 0, &resp);
		assert_int_equal(resp.status, 202);
		relay_response_clear(&resp);
	}
}

static void
test_result_pending_and_unknown(void **state)
{
	struct fixture *f = *state;
	struct relay_response resp;
	struct login l = login_for(1), other = login_for(2);
	struct relay_param wait0 = { "wait", "0" };
	json_t *j;

	/* unknown login */
	get_result(f, other.bearer, &wait0, 1, &resp);
	assert_int_equal(resp.status, 404);
	expect_json_error(&resp, "unknown_login");
	relay_response_clear(&resp);
	get_result(f, other.bearer, NULL, 0, &resp);
	assert_int_equal(resp.status, 404);
	relay_response_clear(&resp);
	{
		struct relay_param wait10 = { "wait", "10" };

		/* waiting for a login that does not exist makes no sense */
		get_result(f, other.bearer, &wait10, 1, &resp);
		assert_int_equal(resp.status, 404);
		assert_false(resp.park);
		relay_response_clear(&resp);
	}

	register_login(f, &l, true);
	get_result(f, l.bearer, NULL, 0, &resp);
	assert_int_equal(resp.status, 202);
	assert_false(resp.park);
	j = json_of(&resp);
	assert_string_equal(
	    json_string_value(json_object_get(j, "status")), "pending");
	json_decref(j);
	relay_response_clear(&resp);
	get_result(f, l.bearer, &wait0, 1, &resp);
	assert_int_equal(resp.status, 202);
	relay_response_clear(&resp);
	/* polling does not use the login up */
	assert_true(relay_store_exists(f->app.store, l.state));
}

static const struct {
	const char *wait;
	unsigned seconds;
} waits[] = {
	{ "1", 1 },
	{ "10", 10 },
	{ "25", 25 },
	{ "025", 25 },
	{ "26", 25 },
	{ "999999999", 25 },
	{ "1000000000", 25 },
	{ "99999999999999999999999", 25 },
};

static void
test_result_park(void **state)
{
	struct fixture *f = *state;
	struct login l = login_for(1);
	size_t i;

	register_login(f, &l, true);
	for (i = 0; i < sizeof(waits) / sizeof(waits[0]); i++) {
		struct relay_param p = { "wait", waits[i].wait };
		struct relay_response resp;

		get_result(f, l.bearer, &p, 1, &resp);
		if (!resp.park)
			fail_msg("wait=%s: status %u, no park", waits[i].wait,
			    resp.status);
		assert_int_equal(resp.wait_seconds, waits[i].seconds);
		assert_string_equal(resp.state, l.state);
		assert_null(resp.body);
		relay_response_clear(&resp);
	}
	/* the result poll itself parks nothing: the server does */
	assert_int_equal(relay_waiters_count(f->app.waiters), 0);
}

static const char *const bad_waits[] = {
	"",
	"-1",
	"+1",
	"1.5",
	"10s",
	" 10",
	"0x10",
	"abc",
	"abcdefghijklmnop",
	"1234567890x",
	"-99999999999",
};

static void
test_result_bad_wait(void **state)
{
	struct fixture *f = *state;
	struct login l = login_for(1);
	size_t i;

	register_login(f, &l, true);
	for (i = 0; i < sizeof(bad_waits) / sizeof(bad_waits[0]); i++) {
		struct relay_param p = { "wait", bad_waits[i] };
		struct relay_response resp;

		get_result(f, l.bearer, &p, 1, &resp);
		if (resp.status != 400)
			fail_msg("wait='%s': status %u park %d", bad_waits[i],
			    resp.status, resp.park);
		expect_json_error(&resp, "bad_request");
		relay_response_clear(&resp);
	}
	{
		struct relay_param p = { "wait", NULL };
		struct relay_response resp;

		get_result(f, l.bearer, &p, 1, &resp);
		assert_int_equal(resp.status, 400);
		relay_response_clear(&resp);
	}
	{
		struct relay_param p[2] = { { "wait", "1" }, { "wait", "1" } };
		struct relay_response resp;

		get_result(f, l.bearer, p, 2, &resp);
		assert_int_equal(resp.status, 400);
		assert_false(resp.park);
		relay_response_clear(&resp);
	}
	{
		struct relay_request req = request("GET", "/v1/logins/result");
		struct relay_response resp;

		req.authorization = l.bearer;
		req.too_many_args = true;
		relay_route(&f->app, &req, &resp);
		assert_int_equal(resp.status, 400);
		relay_response_clear(&resp);
	}
	assert_int_equal(rejections(f, RELAY_REJECT_BAD_REQUEST),
	    sizeof(bad_waits) / sizeof(bad_waits[0]) + 3);
}

/* Result there already: answered at once, exactly once. */
static void
test_result_collected_once(void **state)
{
	struct fixture *f = *state;
	struct relay_response resp;
	struct login l = login_for(1);
	struct relay_param args[2], wait = { "wait", "20" };

	register_login(f, &l, true);
	args[0].name = "state";
	args[0].value = l.state;
	args[1].name = "code";
	args[1].value = "c0de";
	get_callback(f, args, 2, &resp);
	relay_response_clear(&resp);

	get_result(f, l.bearer, &wait, 1, &resp);
	assert_int_equal(resp.status, 200);
	assert_false(resp.park);
	assert_int_equal(atomic_load(&f->app.metrics.results_delivered), 1);
	relay_response_clear(&resp);
	get_result(f, l.bearer, &wait, 1, &resp);
	assert_int_equal(resp.status, 404);
	relay_response_clear(&resp);
	assert_int_equal(relay_store_count(f->app.store), 0);
}

static void
test_collect(void **state)
{
	struct fixture *f = *state;
	struct relay_response resp;
	struct login l = login_for(1), unknown = login_for(2);
	struct relay_param args[2];
	json_t *j;

	register_login(f, &l, true);

	/* pending, not final: false, and resp untouched */
	memset(&resp, 0, sizeof(resp));
	resp.status = 777;
	assert_false(relay_route_collect(
	    &f->app, l.state, RELAY_WAKE_NONE, false, &resp));
	assert_int_equal(resp.status, 777);
	assert_null(resp.body);
	/* pending, final: 202 */
	memset(&resp, 0, sizeof(resp));
	assert_true(relay_route_collect(
	    &f->app, l.state, RELAY_WAKE_NONE, true, &resp));
	assert_int_equal(resp.status, 202);
	relay_response_clear(&resp);
	/* timed out: 202, counted */
	assert_true(relay_route_collect(
	    &f->app, l.state, RELAY_WAKE_TIMEOUT, true, &resp));
	assert_int_equal(resp.status, 202);
	assert_int_equal(atomic_load(&f->app.metrics.polls_timed_out), 1);
	relay_response_clear(&resp);

	args[0].name = "state";
	args[0].value = l.state;
	args[1].name = "code";
	args[1].value = "c0de";
	get_callback(f, args, 2, &resp);
	relay_response_clear(&resp);

	/* gone, replaced or shut down: 202, and the result stays */
	assert_true(relay_route_collect(
	    &f->app, l.state, RELAY_WAKE_GONE, true, &resp));
	assert_int_equal(resp.status, 202);
	assert_int_equal(atomic_load(&f->app.metrics.polls_gone), 1);
	relay_response_clear(&resp);
	assert_true(relay_route_collect(
	    &f->app, l.state, RELAY_WAKE_REPLACED, false, &resp));
	assert_int_equal(resp.status, 202);
	relay_response_clear(&resp);
	assert_true(relay_route_collect(
	    &f->app, l.state, RELAY_WAKE_SHUTDOWN, true, &resp));
	assert_int_equal(resp.status, 202);
	relay_response_clear(&resp);
	assert_int_equal(atomic_load(&f->app.metrics.polls_gone), 1);
	assert_int_equal(atomic_load(&f->app.metrics.results_delivered), 0);
	assert_true(relay_store_exists(f->app.store, l.state));

	/* woken by the result: 200 with the code */
	assert_true(relay_route_collect(
	    &f->app, l.state, RELAY_WAKE_RESULT, false, &resp));
	assert_int_equal(resp.status, 200);
	j = json_of(&resp);
	assert_string_equal(
	    json_string_value(json_object_get(j, "code")), "c0de");
	assert_null(json_object_get(j, "iss"));
	json_decref(j);
	relay_response_clear(&resp);
	assert_int_equal(atomic_load(&f->app.metrics.results_delivered), 1);

	/* gone now, or never there, or expired: 404 */
	assert_true(relay_route_collect(
	    &f->app, l.state, RELAY_WAKE_RESULT, true, &resp));
	assert_int_equal(resp.status, 404);
	relay_response_clear(&resp);
	assert_true(relay_route_collect(
	    &f->app, unknown.state, RELAY_WAKE_EXPIRED, false, &resp));
	assert_int_equal(resp.status, 404);
	expect_json_error(&resp, "unknown_login");
	relay_response_clear(&resp);
}

/* A poll that times out just as the result arrives still gets it. */
static void
test_collect_timeout_with_result(void **state)
{
	struct fixture *f = *state;
	struct relay_response resp;
	struct login l = login_for(1);
	struct relay_param args[2];

	register_login(f, &l, true);
	args[0].name = "state";
	args[0].value = l.state;
	args[1].name = "code";
	args[1].value = "c0de";
	get_callback(f, args, 2, &resp);
	relay_response_clear(&resp);
	assert_true(relay_route_collect(
	    &f->app, l.state, RELAY_WAKE_TIMEOUT, true, &resp));
	assert_int_equal(resp.status, 200);
	relay_response_clear(&resp);
}

static void
test_tick_expires(void **state)
{
	struct fixture *f = *state;
	struct relay_response resp;
	struct login a = login_for(1), b = login_for(2);
	unsigned ticket;
	uint64_t now = relay_now_ms(), next;

	register_login(f, &a, true);
	register_login(f, &b, true);
	assert_int_equal(relay_waiters_park(f->app.waiters, a.state,
			     &f->conns[0], -1, now + 60000, &ticket),
	    0);
	assert_true(relay_waiters_suspend(f->app.waiters, ticket));

	/* nothing due yet: the next expiry is a TTL away */
	next = relay_route_tick(&f->app, relay_now_ms());
	assert_in_range(next, now + TTL * 1000, relay_now_ms() + TTL * 1000);
	assert_int_equal(atomic_load(&f->app.metrics.expirations), 0);
	assert_int_equal(atomic_load(&f->conns[0].resumes), 0);

	/* far in the future: both go, and the parked poll is woken */
	assert_int_equal(
	    relay_route_tick(&f->app, now + 10ull * TTL * 1000), 0);
	assert_int_equal(atomic_load(&f->app.metrics.expirations), 2);
	assert_int_equal(relay_store_count(f->app.store), 0);
	assert_int_equal(atomic_load(&f->conns[0].resumes), 1);
	assert_int_equal(
	    relay_waiters_release(f->app.waiters, ticket), RELAY_WAKE_EXPIRED);
	memset(&resp, 0, sizeof(resp));
	assert_true(relay_route_collect(
	    &f->app, a.state, RELAY_WAKE_EXPIRED, true, &resp));
	assert_int_equal(resp.status, 404);
	relay_response_clear(&resp);
	assert_int_equal(relay_route_tick(&f->app, relay_now_ms()), 0);
}

/* The tick also shuts down connections whose request is overdue. */
static void
test_tick_sweeps_slow_requests(void **state)
{
	struct fixture *f = *state;
	int sv[2];
	long t;
	char c;

	assert_int_equal(relay_conns_new(4, &f->app.conns), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	t = relay_conns_track(f->app.conns, sv[0], relay_now_ms() + 100000);
	assert_true(t >= 0);
	relay_route_tick(&f->app, relay_now_ms());
	assert_int_equal(atomic_load(&f->app.metrics.slow_requests), 0);
	relay_route_tick(&f->app, relay_now_ms() + 200000);
	assert_int_equal(atomic_load(&f->app.metrics.slow_requests), 1);
	assert_int_equal(recv(sv[1], &c, 1, MSG_DONTWAIT), 0);
	relay_conns_untrack(f->app.conns, t);
	relay_conns_free(&f->app.conns);
	close(sv[0]);
	close(sv[1]);
}

static void
test_response_clear(void **state)
{
	struct relay_response resp;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	resp.body = strdup("x");
	resp.status = 200;
	resp.park = true;
	relay_response_clear(&resp);
	assert_null(resp.body);
	assert_int_equal(resp.status, 0);
	assert_false(resp.park);
	relay_response_clear(&resp);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_methods),
		T(test_not_found),
		T(test_healthz_and_metrics),
		T(test_register_happy),
		T(test_register_log_quotes_client_values),
		T(test_register_rejections),
		T(test_register_exists_and_full),
		T(test_link),
		T(test_callback_code_wakes_and_confirms),
		T(test_callback_without_confirm),
		T(test_callback_error),
		T(test_callback_drops_bad_description),
		T(test_callback_code_ignores_description),
		T(test_callback_rejections),
		T(test_callback_unknown),
		T(test_result_unauthorized),
		T(test_result_pending_and_unknown),
		T(test_result_park),
		T(test_result_bad_wait),
		T(test_result_collected_once),
		T(test_collect),
		T(test_collect_timeout_with_result),
		T(test_tick_expires),
		T(test_tick_sweeps_slow_requests),
		cmocka_unit_test(test_response_clear),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
