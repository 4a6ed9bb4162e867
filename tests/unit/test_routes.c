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
#include "clientkeys.h"
#include "clock.h"
#include "conns.h"
#include "crypto.h"
#include "errors.h"
#include "routes.h"

#define PUBLIC "https://relay.example"
#define PREFIX "https://auth.example/oauth2"
#define PREFIX2 "http://127.0.0.1:9000/auth/"
#define MAX_PENDING 4
#define TTL 300

/* The two PAM hosts the fixture's relay knows, and one it does not. */
#define KEY_A "key-of-host-a-0123456789abcdefghijklmnop"
#define KEY_B "key-of-host-b-0123456789abcdefghijklmnop"
#define KEY_UNKNOWN "key-of-nobody-0123456789abcdefghijklmnop"

#define JSON_TYPE "application/json"
#define HTML_TYPE "text/html; charset=utf-8"

/* The nonce of login_for(2)'s state, computed with Python's hashlib. */
#define NONCE_2 "vZQf3AHC1ogI6CIZppJBkvpK9f0E-OOHvh0MAM-r27A"

/*
 * Bodies and URLs use @S@ for the login's state and @N@ for the nonce that
 * belongs to it, b64url(SHA-256("pam_ion-nonce" || S)).
 */
#define URL_OK PREFIX "/authorize?client_id=c&state=@S@&nonce=@N@&scope=openid"
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
	unsigned char hash_a[ION_SHA256_LEN], hash_b[ION_SHA256_LEN];
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

/* A keys file's text: "NAME SHA256HEX" of each name and key given. */
static struct relay_keyset *
keyset_of(
    const char *name1, const char *key1, const char *name2, const char *key2)
{
	const char *names[2] = { name1, name2 }, *keys[2] = { key1, key2 };
	unsigned char h[ION_SHA256_LEN];
	struct relay_keyset *ks = NULL;
	char text[512], err[256];
	size_t i, j, o = 0;

	for (i = 0; i < 2 && names[i] != NULL; i++) {
		assert_int_equal(
		    ion_sha256(keys[i], strlen(keys[i]), NULL, 0, NULL, 0, h),
		    0);
		o += (size_t)snprintf(
		    text + o, sizeof(text) - o, "%s ", names[i]);
		for (j = 0; j < sizeof(h); j++)
			o += (size_t)snprintf(
			    text + o, sizeof(text) - o, "%02x", h[j]);
		o += (size_t)snprintf(text + o, sizeof(text) - o, "\n");
	}
	if (relay_keyset_parse("clients", text, o, &ks, err, sizeof(err)) != 0)
		fail_msg("keyset: %s", err);
	return ks;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct relay_keyset *ks;

	assert_non_null(f);
	ks = keyset_of("host-a", KEY_A, "host-b", KEY_B);
	assert_int_equal(relay_clients_new(&ks, &f->app.clients), 0);
	assert_int_equal(
	    ion_sha256(KEY_A, strlen(KEY_A), NULL, 0, NULL, 0, f->hash_a), 0);
	assert_int_equal(
	    ion_sha256(KEY_B, strlen(KEY_B), NULL, 0, NULL, 0, f->hash_b), 0);
	strcpy(f->opts.public_url, PUBLIC);
	f->opts.prefixes[0] = PREFIX;
	f->opts.prefixes[1] = PREFIX2;
	assert_int_equal(ion_url_parse(PREFIX, &f->opts.prefix_urls[0]), 0);
	assert_int_equal(ion_url_parse(PREFIX2, &f->opts.prefix_urls[1]), 0);
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
	relay_clients_free(&f->app.clients);
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

/* Replaces every tok in tmpl with val; the caller frees the result. */
static char *
replace_all(const char *tmpl, const char *tok, const char *val)
{
	size_t n = strlen(tmpl) + 1, vl = strlen(val), tl = strlen(tok);
	const char *p;
	char *out, *o;

	for (p = tmpl; (p = strstr(p, tok)) != NULL; p += tl)
		n += vl;
	out = o = malloc(n);
	assert_non_null(out);
	while ((p = strstr(tmpl, tok)) != NULL) {
		memcpy(o, tmpl, (size_t)(p - tmpl));
		o += p - tmpl;
		memcpy(o, val, vl);
		o += vl;
		tmpl = p + tl;
	}
	strcpy(o, tmpl);
	return out;
}

/*
 * Replaces every @S@ in tmpl with state and every @N@ with its nonce; the
 * caller frees the result.
 */
static char *
fill(const char *tmpl, const char *state)
{
	char nonce[ION_TOKEN_CHARS + 1], *t, *out;

	assert_int_equal(ion_nonce_from_state(state, nonce), 0);
	t = replace_all(tmpl, "@S@", state);
	out = replace_all(t, "@N@", nonce);
	free(t);
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
	req.client_key = KEY_A;
	req.body = "";
	return req;
}

static void
post_register(struct fixture *f, const char *authorization,
    const char *content_type, const char *body, struct relay_response *resp)
{
	struct relay_request req = request("POST", "/v1/logins");

	req.authorization = authorization;
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
	post_register(f, l->bearer, JSON_TYPE, body, &resp);
	if (resp.status != 201)
		fail_msg("register: %u %.*s", resp.status, (int)resp.body_len,
		    resp.body);
	j = json_of(&resp);
	link = json_string_value(json_object_get(j, "link"));
	assert_non_null(link);
	assert_true(strncmp(link, PUBLIC "/l/", strlen(PUBLIC "/l/")) == 0);
	assert_int_equal(
	    strlen(link), strlen(PUBLIC "/l/") + ION_RELAY_LINK_ID_LEN);
	assert_true(ion_b64url_is_alphabet(
	    link + strlen(PUBLIC "/l/"), ION_RELAY_LINK_ID_LEN));
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

/* The link id in l's link path. */
static const char *
link_id_of(const struct login *l)
{
	assert_int_equal(strlen(l->link_path), 3 + ION_RELAY_LINK_ID_LEN);
	return l->link_path + 3;
}

/* Sends a code callback for l. */
static void
callback_code(struct fixture *f, const struct login *l, const char *code)
{
	struct relay_response resp;
	struct relay_param args[2];

	args[0].name = "state";
	args[0].value = l->state;
	args[1].name = "code";
	args[1].value = code;
	get_callback(f, args, 2, &resp);
	assert_int_equal(resp.status, 200);
	relay_response_clear(&resp);
}

/* resp is a 200 result for l with this code, to be reported delivered. */
static void
expect_result(
    const struct relay_response *resp, const struct login *l, const char *code)
{
	json_t *j;

	if (resp->status != 200)
		fail_msg("expected a result, got %u %.*s", resp->status,
		    (int)resp->body_len, resp->body ? resp->body : "");
	assert_false(resp->park);
	assert_true(resp->deliver);
	assert_string_equal(resp->state, l->state);
	assert_string_equal(resp->link_id, link_id_of(l));
	j = json_of(resp);
	assert_string_equal(
	    json_string_value(json_object_get(j, "code")), code);
	json_decref(j);
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
	assert_non_null(strstr(resp.body,
	    "\npam_ion_relay_rejections_total{reason=\"nonce_mismatch\"} 0\n"));
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
	/* and who registered it, by its name in the keys file */
	assert_non_null(
	    strstr(resp.body, "<dt>Requested by PAM host</dt><dd>host-a</dd>"));
	body = fill("href=\"" PREFIX "/authorize?client_id=c&amp;state=@S@"
		    "&amp;nonce=@N@&amp;scope=openid\"",
	    l.state);
	assert_non_null(strstr(resp.body, body));
	free(body);
	relay_response_clear(&resp);
	req.method = "HEAD";
	relay_route(&f->app, &req, &resp);
	assert_int_equal(resp.status, 200);
	relay_response_clear(&resp);

	/* content type parameters and case, a second prefix, no user */
	body = fill(BODY("@S@", PREFIX2 "x?state=@S@&nonce=@N@",
			"{\"host\":\"h\",\"service\":\"login\"}"),
	    l2.state);
	post_register(
	    f, l2.bearer, "Application/JSON ; charset=utf-8", body, &resp);
	assert_int_equal(resp.status, 201);
	assert_int_equal(resp.retry_after, 0);
	relay_response_clear(&resp);
	free(body);
	assert_int_equal(atomic_load(&f->app.metrics.registrations), 2);
}

/*
 * What pam_ion sends (request_params() in src/oidc.c): all eight
 * parameters, scope's spaces as '+' (or %20, from another encoder), the
 * redirect URI escaped; and an empty part, which names nothing.
 */
static const char *const good_urls[] = {
	PREFIX "/authorize?response_type=code&client_id=pam-ion&redirect_uri="
	       "https%3A%2F%2Frelay.example%2Fcallback&scope=openid+profile+"
	       "email&state=@S@&nonce=@N@&code_challenge=E9Melhoa2OwvFrEMTJguCH"
	       "aoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
	PREFIX "/authorize?scope=openid%20profile&nonce=@N@&state=@S@",
	PREFIX "/authorize?&state=@S@&&nonce=@N@&",
	PREFIX "/authorize?st%61te=@S@&%6Eonce=@N@",
};

static void
test_register_allowed_params(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(good_urls) / sizeof(good_urls[0]); i++) {
		struct login l = login_for((unsigned)(10 + i));
		struct relay_response resp;
		char *tmpl, *body;

		assert_true(asprintf(&tmpl,
				"{\"state\":\"@S@\",\"authorize_url\":\"%s\","
				"\"context\":" CTX_OK "}",
				good_urls[i]) > 0);
		body = fill(tmpl, l.state);
		post_register(f, l.bearer, JSON_TYPE, body, &resp);
		if (resp.status != 201)
			fail_msg("#%zu %s: status %u: %.*s", i, body,
			    resp.status, (int)resp.body_len, resp.body);
		relay_response_clear(&resp);
		free(body);
		free(tmpl);
	}
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
	post_register(f, l.bearer, JSON_TYPE, body, &resp);
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
	/* zero-width characters, line and paragraph separators, BOM */
	{ JSON_TYPE,
	    BODY_CTX("{\"host\":\"h\",\"service\":\"sshd\",\"user\":"
		     "\"ro\\u200bot\"}"),
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE,
	    BODY_CTX("{\"host\":\"h\",\"service\":\"sshd\",\"user\":"
		     "\"a\\u200c\"}"),
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE,
	    BODY_CTX("{\"host\":\"h\",\"service\":\"sshd\",\"user\":"
		     "\"a\\u200d\"}"),
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE, BODY_CTX("{\"host\":\"h\\u2028x\",\"service\":\"sshd\"}"),
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE,
	    BODY_CTX("{\"host\":\"h\",\"service\":\"sshd\",\"rhost\":"
		     "\"a\\u2029\"}"),
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE, BODY_CTX("{\"host\":\"h\",\"service\":\"\\ufeffsshd\"}"),
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	/* tag characters U+E0000..U+E007F: first, 'A', last */
	{ JSON_TYPE,
	    BODY_CTX("{\"host\":\"h\",\"service\":\"sshd\",\"user\":"
		     "\"a\\udb40\\udc00\"}"),
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE,
	    BODY_CTX("{\"host\":\"h\",\"service\":\"sshd\",\"user\":"
		     "\"root\\udb40\\udc41\"}"),
	    false, 400, RELAY_REJECT_BAD_REQUEST },
	{ JSON_TYPE,
	    BODY_CTX("{\"host\":\"h\\udb40\\udc7f\",\"service\":"
		     "\"sshd\"}"),
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
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@x"), false, 403,
	    RELAY_REJECT_STATE_MISMATCH },
	/* the state is checked before the nonce */
	{ JSON_TYPE, BODY_URL(PREFIX "/a?nonce=@N@"), false, 403,
	    RELAY_REJECT_STATE_MISMATCH },
	/* the nonce parameter: exactly one, the state's own */
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@"), false, 403,
	    RELAY_REJECT_NONCE_MISMATCH },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@&nonce="), false, 403,
	    RELAY_REJECT_NONCE_MISMATCH },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@&nonce"), false, 403,
	    RELAY_REJECT_NONCE_MISMATCH },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@&nonce=n0nce"), false, 403,
	    RELAY_REJECT_NONCE_MISMATCH },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@&nonce=@N@x"), false, 403,
	    RELAY_REJECT_NONCE_MISMATCH },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@&nonce=@S@"), false, 403,
	    RELAY_REJECT_NONCE_MISMATCH },
	/* another login's nonce (login 2's, computed with Python) */
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@&nonce=" NONCE_2), false, 403,
	    RELAY_REJECT_NONCE_MISMATCH },
	/* not in the query */
	{ JSON_TYPE, BODY_URL(PREFIX "/nonce=@N@?state=@S@"), false, 403,
	    RELAY_REJECT_NONCE_MISMATCH },
	/*
	 * Only the parameters pam_ion sends, each at most once and spelt
	 * exactly so (after decoding): some providers read names in any
	 * case, and would take "STATE" or "Request_Uri" for their own.
	 */
	{ JSON_TYPE, BODY_URL(URL_OK "&Request_Uri=https://evil.example/r.jwt"),
	    false, 403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(URL_OK "&REQUEST=eyJhbGciOiJub25lIn0.e30."),
	    false, 403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?STATE=x&state=@S@&nonce=@N@"), false,
	    403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?State=@S@&nonce=@N@"), false, 403,
	    RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@&Nonce=x&nonce=@N@"), false,
	    403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@&nonce=@N@&NONCE=@N@"), false,
	    403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@&nonce_=@N@&nonce=@N@"),
	    false, 403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(URL_OK "&foo=1"), false, 403,
	    RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(URL_OK "&prompt=none"), false, 403,
	    RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(URL_OK "&Client_Id=other"), false, 403,
	    RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(URL_OK "&=x"), false, 403,
	    RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(URL_OK "&sta+te=x"), false, 403,
	    RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(URL_OK "&%C5%BFtate=x"), false, 403,
	    RELAY_REJECT_URL_NOT_ALLOWED },
	/* twice, even twice the same; also once escaped */
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@&state=@S@&nonce=@N@"), false,
	    403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@&st%61te=x&nonce=@N@"), false,
	    403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@&nonce=@N@&nonce=@N@"), false,
	    403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@&nonce=@N@&nonce=x"), false,
	    403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE,
	    BODY_URL(PREFIX "/a?nonce=" NONCE_2 "&state=@S@&nonce=@N@"), false,
	    403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@&nonce=@N@&n%6fnce=@N@"),
	    false, 403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(URL_OK "&scope=openid"), false, 403,
	    RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(URL_OK "&client_id=c"), false, 403,
	    RELAY_REJECT_URL_NOT_ALLOWED },
	/* NUL and control characters, once decoded, in names or values */
	{ JSON_TYPE, BODY_URL(URL_OK "&request%00=1"), false, 403,
	    RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@%00&nonce=@N@"), false, 403,
	    RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@%0a&nonce=@N@"), false, 403,
	    RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@&nonce=@N@&scope=openid%0d"),
	    false, 403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@&nonce=@N@&scope=a%09b"),
	    false, 403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@&nonce=@N@&scope=a%7f"),
	    false, 403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@&nonce=@N@&scope=a%C2%85"),
	    false, 403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state%0a=@S@&nonce=@N@"), false, 403,
	    RELAY_REJECT_URL_NOT_ALLOWED },
	/* a space is a value's, not a name's; nor does it make a state */
	{ JSON_TYPE, BODY_URL(URL_OK "&state%20=x"), false, 403,
	    RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@%20&nonce=@N@"), false, 403,
	    RELAY_REJECT_STATE_MISMATCH },
	{ JSON_TYPE, BODY_URL(PREFIX "/a?state=@S@+&nonce=@N@"), false, 403,
	    RELAY_REJECT_STATE_MISMATCH },
	/* the path hardening of url.c: ';', %25, escaped high bytes */
	{ JSON_TYPE, BODY_URL(PREFIX "/authorize;x?state=@S@&nonce=@N@"), false,
	    403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/authorize/..;/x?state=@S@&nonce=@N@"),
	    false, 403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/%252e%252e/x?state=@S@&nonce=@N@"),
	    false, 403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/%c0%ae%c0%ae/x?state=@S@&nonce=@N@"),
	    false, 403, RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/%80?state=@S@&nonce=@N@"), false, 403,
	    RELAY_REJECT_URL_NOT_ALLOWED },
	{ JSON_TYPE, BODY_URL(PREFIX "/%zz?state=@S@&nonce=@N@"), false, 400,
	    RELAY_REJECT_BAD_REQUEST },
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

		req.authorization = l.bearer;
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

/* Posts BODY_OK for l with the Authorization given; returns the status. */
static unsigned
post_as(struct fixture *f, const struct login *l, const char *authorization,
    const char *tmpl, struct relay_response *resp)
{
	char *body = fill(tmpl, l->state);

	post_register(f, authorization, JSON_TYPE, body, resp);
	free(body);
	return resp->status;
}

/*
 * Only the holder of the poll secret registers its state: no secret, a
 * malformed one, or another login's secret are refused before anything is
 * stored.
 */
static void
test_register_unauthorized(void **state)
{
	struct fixture *f = *state;
	struct login l = login_for(1), other = login_for(2);
	char state_bearer[64], long_bearer[64], two_spaces[64], no_scheme[64];
	char basic[64];
	const char *unauthorized[12];
	size_t i, n = 0;

	snprintf(state_bearer, sizeof(state_bearer), "Bearer %s", l.state);
	snprintf(long_bearer, sizeof(long_bearer), "Bearer %sA", l.secret);
	snprintf(two_spaces, sizeof(two_spaces), "Bearer  %s", l.secret);
	snprintf(no_scheme, sizeof(no_scheme), "%s", l.secret);
	snprintf(basic, sizeof(basic), "Basic %s", l.secret);
	unauthorized[n++] = NULL;
	unauthorized[n++] = "";
	unauthorized[n++] = "Bearer";
	unauthorized[n++] = "Bearer ";
	unauthorized[n++] = basic;
	unauthorized[n++] = no_scheme;
	unauthorized[n++] = long_bearer;
	unauthorized[n++] = two_spaces;
	/* non-canonical: the last character's unused bits set */
	unauthorized[n++] =
	    "Bearer AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9";
	for (i = 0; i < n; i++) {
		struct relay_response resp;

		if (post_as(f, &l, unauthorized[i], BODY_OK, &resp) != 401)
			fail_msg("Authorization '%s': status %u",
			    unauthorized[i] ? unauthorized[i] : "(none)",
			    resp.status);
		assert_non_null(resp.www_authenticate);
		assert_string_equal(resp.www_authenticate, "Bearer");
		expect_json_error(&resp, "unauthorized");
		relay_response_clear(&resp);
	}
	assert_int_equal(rejections(f, RELAY_REJECT_UNAUTHORIZED), n);

	/* a well-formed secret whose state is another one: 403 */
	{
		const char *mismatched[2] = { other.bearer, state_bearer };

		for (i = 0; i < 2; i++) {
			struct relay_response resp;

			assert_int_equal(
			    post_as(f, &l, mismatched[i], BODY_OK, &resp), 403);
			assert_null(resp.www_authenticate);
			expect_json_error(&resp, "state_mismatch");
			relay_response_clear(&resp);
		}
		assert_int_equal(rejections(f, RELAY_REJECT_STATE_MISMATCH), 2);
	}
	assert_int_equal(relay_store_count(f->app.store), 0);
	assert_int_equal(atomic_load(&f->app.metrics.registrations), 0);

	/* the scheme is case-insensitive, as for polls */
	{
		struct relay_response resp;
		char buf[64];

		snprintf(buf, sizeof(buf), "bEARER %s", l.secret);
		assert_int_equal(post_as(f, &l, buf, BODY_OK, &resp), 201);
		assert_null(resp.www_authenticate);
		relay_response_clear(&resp);
	}
	assert_true(relay_store_exists(f->app.store, l.state));
	assert_false(relay_store_exists(f->app.store, other.state));
}

/*
 * Where the secret is checked: after the body's form and the state's
 * format, before everything else.
 */
static void
test_register_auth_order(void **state)
{
	struct fixture *f = *state;
	struct login l = login_for(1), other = login_for(2);
	struct relay_request req;
	struct relay_response resp;
	char *body;

	/* too large, wrong type, not JSON, bad state: those come first */
	req = request("POST", "/v1/logins");
	body = fill(BODY_OK, l.state);
	req.content_type = JSON_TYPE;
	req.body = body;
	req.body_len = strlen(body);
	req.body_too_large = true;
	relay_route(&f->app, &req, &resp);
	assert_int_equal(resp.status, 413);
	relay_response_clear(&resp);
	free(body);
	assert_int_equal(post_as(f, &l, NULL, "{", &resp), 400);
	expect_json_error(&resp, "bad_request");
	relay_response_clear(&resp);
	body = fill(BODY_OK, l.state);
	post_register(f, NULL, "text/plain", body, &resp);
	free(body);
	assert_int_equal(resp.status, 415);
	relay_response_clear(&resp);
	assert_int_equal(
	    post_as(f, &l, NULL, BODY("x@S@", URL_OK, CTX_OK), &resp), 400);
	expect_json_error(&resp, "bad_state");
	assert_null(resp.www_authenticate);
	relay_response_clear(&resp);
	assert_int_equal(
	    post_as(f, &l, other.bearer, BODY("x@S@", URL_OK, CTX_OK), &resp),
	    400);
	expect_json_error(&resp, "bad_state");
	relay_response_clear(&resp);

	/* a bad context, URL or nonce: the secret is checked first */
	{
		static const char *const tmpls[] = {
			BODY_CTX("{\"host\":\"h\"}"),
			BODY_URL("https://evil.example/?state=@S@&nonce=@N@"),
			BODY_URL(PREFIX "/a?state=@S@"),
			BODY_URL(PREFIX "/a?state=@S@&nonce=" NONCE_2),
		};
		size_t i;

		for (i = 0; i < sizeof(tmpls) / sizeof(tmpls[0]); i++) {
			assert_int_equal(
			    post_as(f, &l, NULL, tmpls[i], &resp), 401);
			expect_json_error(&resp, "unauthorized");
			relay_response_clear(&resp);
			assert_int_equal(
			    post_as(f, &l, other.bearer, tmpls[i], &resp), 403);
			expect_json_error(&resp, "state_mismatch");
			relay_response_clear(&resp);
		}
	}
	assert_int_equal(rejections(f, RELAY_REJECT_NONCE_MISMATCH), 0);
	assert_int_equal(relay_store_count(f->app.store), 0);
}

/*
 * The nonce the relay wants, pinned with values computed apart from the
 * code under test (Python's hashlib): login_for(1)'s state and nonce.
 */
#define STATE_1 "xZHJD-8PF0a82_01BKf78CxjwxL_r4uTNoE3J4r8gbE"
#define NONCE_1 "4WfyjFbhMCxi-tF0AiFdSeXaQ_UHBAAroo4ro5QZHz0"

static void
test_register_nonce_vector(void **state)
{
	struct fixture *f = *state;
	struct login l = login_for(1);
	struct relay_response resp;

	assert_string_equal(l.state, STATE_1);
	/* the nonce may come before the state */
	assert_int_equal(post_as(f, &l, l.bearer,
			     BODY_URL(PREFIX "/authorize?nonce=" NONCE_1
					     "&client_id=c&state=" STATE_1),
			     &resp),
	    201);
	relay_response_clear(&resp);
	assert_int_equal(atomic_load(&f->app.metrics.registrations), 1);
	/* login 2's nonce with its last character changed: refused */
	l = login_for(2);
	assert_int_equal(
	    post_as(f, &l, l.bearer,
		BODY_URL(PREFIX "/authorize?state=@S@&nonce="
				"vZQf3AHC1ogI6CIZppJBkvpK9f0E-OOHvh0"
				"MAM-r27B"),
		&resp),
	    403);
	expect_json_error(&resp, "nonce_mismatch");
	relay_response_clear(&resp);
	/* names and values are compared percent-decoded ('v' is %76) */
	assert_int_equal(post_as(f, &l, l.bearer,
			     BODY_URL(PREFIX "/authorize?st%61te=@S@&n%6fnce="
					     "%76ZQf3AHC1ogI6CIZppJBkvpK9f0E-"
					     "OOHvh0MAM-r27A"),
			     &resp),
	    201);
	relay_response_clear(&resp);
	assert_int_equal(atomic_load(&f->app.metrics.registrations), 2);
}

/* A registration body for state with authorize URL url, verbatim. */
static char *
body_for(const char *state, const char *url)
{
	char *t = replace_all(BODY("@S@", "@U@", CTX_OK), "@S@", state);
	char *b = replace_all(t, "@U@", url);

	free(t);
	return b;
}

/*
 * The code transplant: the module registers S with its URL U.  Someone
 * registering their own S' with a copy of U -- the state swapped, the
 * nonce f(S) kept -- is refused; with a URL of their own the nonce is
 * f(S'), so a code obtained through it is bound to S', not to S.
 */
static void
test_register_transplant(void **state)
{
	struct fixture *f = *state;
	struct login victim = login_for(1), attacker = login_for(2);
	struct relay_response resp;
	struct relay_request req;
	char nv[ION_TOKEN_CHARS + 1], na[ION_TOKEN_CHARS + 1];
	char *u, *tmpl, *u2, *body;

	assert_int_equal(ion_nonce_from_state(victim.state, nv), 0);
	assert_int_equal(ion_nonce_from_state(attacker.state, na), 0);
	assert_string_not_equal(na, nv);
	register_login(f, &victim, true);

	/* U' = U with state=S replaced by S', nonce f(S) kept */
	u = fill(URL_OK, victim.state);
	tmpl = replace_all(u, victim.state, "@S@");
	u2 = replace_all(tmpl, "@S@", attacker.state);
	assert_non_null(strstr(u2, nv));
	assert_null(strstr(u2, victim.state));
	body = body_for(attacker.state, u2);
	post_register(f, attacker.bearer, JSON_TYPE, body, &resp);
	assert_int_equal(resp.status, 403);
	expect_json_error(&resp, "nonce_mismatch");
	relay_response_clear(&resp);
	assert_int_equal(rejections(f, RELAY_REJECT_NONCE_MISMATCH), 1);
	assert_false(relay_store_exists(f->app.store, attacker.state));
	free(body);

	/* U itself under S': its state parameter gives it away */
	body = body_for(attacker.state, u);
	post_register(f, attacker.bearer, JSON_TYPE, body, &resp);
	assert_int_equal(resp.status, 403);
	expect_json_error(&resp, "state_mismatch");
	relay_response_clear(&resp);
	free(body);
	assert_int_equal(relay_store_count(f->app.store), 1);

	/* S' with its own nonce is fine: its landing page sends the person
	 * to a URL whose nonce is f(S'), not f(S) */
	register_login(f, &attacker, true);
	req = request("GET", attacker.link_path);
	relay_route(&f->app, &req, &resp);
	assert_int_equal(resp.status, 200);
	assert_non_null(strstr(resp.body, na));
	assert_null(strstr(resp.body, nv));
	relay_response_clear(&resp);
	/* and the module's login is untouched */
	req = request("GET", victim.link_path);
	relay_route(&f->app, &req, &resp);
	assert_int_equal(resp.status, 200);
	assert_non_null(strstr(resp.body, nv));
	relay_response_clear(&resp);
	free(u2);
	free(tmpl);
	free(u);
}

/*
 * A collected login's state can be registered again only with its secret:
 * a state seen on a screen is not enough to give the module a second result.
 */
static void
test_register_again_after_collect(void **state)
{
	struct fixture *f = *state;
	struct login l = login_for(1), other = login_for(2);
	struct relay_response resp;

	register_login(f, &l, true);
	callback_code(f, &l, "c0de");
	get_result(f, l.bearer, NULL, 0, &resp);
	expect_result(&resp, &l, "c0de");
	relay_response_clear(&resp);
	/* while the answer is on its way the state is still taken */
	assert_int_equal(post_as(f, &l, l.bearer, BODY_OK, &resp), 409);
	expect_json_error(&resp, "state_exists");
	relay_response_clear(&resp);
	relay_route_delivered(&f->app, l.state, link_id_of(&l), true);
	assert_false(relay_store_exists(f->app.store, l.state));

	assert_int_equal(post_as(f, &l, NULL, BODY_OK, &resp), 401);
	relay_response_clear(&resp);
	assert_int_equal(post_as(f, &l, other.bearer, BODY_OK, &resp), 403);
	expect_json_error(&resp, "state_mismatch");
	relay_response_clear(&resp);
	assert_false(relay_store_exists(f->app.store, l.state));
	/* the callback for it is then unknown, not a second result */
	{
		struct relay_param args[2] = { { "state", l.state },
			{ "code", "second" } };

		get_callback(f, args, 2, &resp);
		assert_int_equal(resp.status, 404);
		relay_response_clear(&resp);
	}
	/* the secret's holder -- the module -- may start over with it */
	register_login(f, &l, true);
	assert_true(relay_store_exists(f->app.store, l.state));
}

/* Text next to the refused characters is fine: the ranges are exact. */
static void
test_register_display_text_ok(void **state)
{
	struct fixture *f = *state;
	static const char *const ctxs[] = {
		/* U+200A hair space, U+2027, U+202F, U+2030 */
		"{\"host\":\"h\",\"service\":\"sshd\",\"user\":\"a\\u200a\"}",
		"{\"host\":\"h\\u2027x\",\"service\":\"sshd\"}",
		"{\"host\":\"h\",\"service\":\"sshd\",\"rhost\":\"a\\u202fb\"}",
		"{\"host\":\"h\",\"service\":\"s\\u2030\"}",
		/* U+FEFE, U+FFFD, an emoji, Latin, Greek */
		"{\"host\":\"h\",\"service\":\"sshd\",\"user\":\"\\ufefe\"}",
		"{\"host\":\"h\",\"service\":\"sshd\",\"user\":\"\\ufffd\"}",
		"{\"host\":\"h\",\"service\":\"sshd\",\"user\":"
		"\"\\ud83d\\ude00\"}",
		"{\"host\":\"h\",\"service\":\"sshd\",\"user\":"
		"\"Jos\\u00e9 \\u03a9\"}",
	};
	size_t i;

	for (i = 0; i < sizeof(ctxs) / sizeof(ctxs[0]); i++) {
		struct login l = login_for((unsigned)i + 10);
		struct relay_response resp;
		char *tmpl = replace_all(BODY_CTX("@C@"), "@C@", ctxs[i]);

		if (post_as(f, &l, l.bearer, tmpl, &resp) != 201)
			fail_msg("context %s: status %u %.*s", ctxs[i],
			    resp.status, (int)resp.body_len, resp.body);
		relay_response_clear(&resp);
		free(tmpl);
		/* keep under --max-pending */
		relay_route_tick(&f->app, ion_now_ms() + 10ull * TTL * 1000);
	}
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
	post_register(f, l.bearer, JSON_TYPE, body, &resp);
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
	post_register(f, l.bearer, JSON_TYPE, body, &resp);
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
			     &f->conns[0], -1, ion_now_ms() + 60000, &ticket),
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
	assert_non_null(
	    strstr(resp.body, ", requested by PAM host <b>host-a</b>."));
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
	/* an error is a result as well: it is delivered the same way */
	assert_true(resp.deliver);
	assert_string_equal(resp.state, l.state);
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

		assert_int_equal(relay_store_take_result(
				     f->app.store, l.state, f->hash_a, &res),
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

/*
 * Result there already: answered at once, and handed out exactly once --
 * once the answer is reported as delivered.
 */
static void
test_result_collected_once(void **state)
{
	struct fixture *f = *state;
	struct relay_response resp;
	struct login l = login_for(1);
	struct relay_param wait = { "wait", "20" }, wait0 = { "wait", "0" };

	register_login(f, &l, true);
	callback_code(f, &l, "c0de");

	get_result(f, l.bearer, &wait, 1, &resp);
	expect_result(&resp, &l, "c0de");
	/* not counted before the server says it went out */
	assert_int_equal(atomic_load(&f->app.metrics.results_delivered), 0);
	relay_response_clear(&resp);
	assert_false(resp.deliver);
	assert_true(relay_store_exists(f->app.store, l.state));

	/* while it is being delivered, another poll sees it pending */
	get_result(f, l.bearer, &wait0, 1, &resp);
	assert_int_equal(resp.status, 202);
	assert_false(resp.deliver);
	relay_response_clear(&resp);
	get_result(f, l.bearer, &wait, 1, &resp);
	assert_true(resp.park);
	assert_false(resp.deliver);
	relay_response_clear(&resp);

	relay_route_delivered(&f->app, l.state, link_id_of(&l), true);
	assert_int_equal(atomic_load(&f->app.metrics.results_delivered), 1);
	assert_int_equal(relay_store_count(f->app.store), 0);
	get_result(f, l.bearer, &wait, 1, &resp);
	assert_int_equal(resp.status, 404);
	assert_false(resp.deliver);
	assert_false(resp.park);
	relay_response_clear(&resp);
	get_result(f, l.bearer, &wait0, 1, &resp);
	assert_int_equal(resp.status, 404);
	relay_response_clear(&resp);
	assert_int_equal(atomic_load(&f->app.metrics.results_delivered), 1);
}

/*
 * An answer that did not go out whole: the result is kept, a poll parked
 * meanwhile is woken, and the next collect hands out the same result.
 */
static void
test_delivered_not_ok(void **state)
{
	struct fixture *f = *state;
	struct relay_response resp;
	struct login l = login_for(1), other = login_for(2);
	struct relay_param wait0 = { "wait", "0" };
	unsigned ticket, other_ticket;

	register_login(f, &l, true);
	register_login(f, &other, true);
	callback_code(f, &l, "first");
	get_result(f, l.bearer, &wait0, 1, &resp);
	expect_result(&resp, &l, "first");
	relay_response_clear(&resp);

	/* a second poll came meanwhile and was parked; one for another
	 * login, too */
	assert_int_equal(relay_waiters_park(f->app.waiters, l.state,
			     &f->conns[1], -1, ion_now_ms() + 60000, &ticket),
	    0);
	assert_true(relay_waiters_suspend(f->app.waiters, ticket));
	assert_int_equal(
	    relay_waiters_park(f->app.waiters, other.state, &f->conns[2], -1,
		ion_now_ms() + 60000, &other_ticket),
	    0);
	assert_true(relay_waiters_suspend(f->app.waiters, other_ticket));

	relay_route_delivered(&f->app, l.state, link_id_of(&l), false);
	assert_int_equal(atomic_load(&f->app.metrics.results_delivered), 0);
	assert_true(relay_store_exists(f->app.store, l.state));
	/* the parked poll for l is woken for the result; the other is not */
	assert_int_equal(atomic_load(&f->conns[1].resumes), 1);
	assert_int_equal(atomic_load(&f->conns[2].resumes), 0);
	assert_int_equal(
	    relay_waiters_release(f->app.waiters, ticket), RELAY_WAKE_RESULT);
	assert_true(relay_route_collect(
	    &f->app, l.state, f->hash_a, RELAY_WAKE_RESULT, true, &resp));
	expect_result(&resp, &l, "first");
	relay_response_clear(&resp);

	/* failing again, with nobody parked: the next poll gets it */
	relay_route_delivered(&f->app, l.state, link_id_of(&l), false);
	assert_int_equal(atomic_load(&f->conns[1].resumes), 1);
	get_result(f, l.bearer, NULL, 0, &resp);
	expect_result(&resp, &l, "first");
	relay_response_clear(&resp);
	relay_route_delivered(&f->app, l.state, link_id_of(&l), true);
	assert_int_equal(atomic_load(&f->app.metrics.results_delivered), 1);
	assert_false(relay_store_exists(f->app.store, l.state));
	get_result(f, l.bearer, NULL, 0, &resp);
	assert_int_equal(resp.status, 404);
	relay_response_clear(&resp);

	/* a late report changes nothing: nothing is resurrected or woken */
	relay_route_delivered(&f->app, l.state, link_id_of(&l), false);
	assert_false(relay_store_exists(f->app.store, l.state));
	assert_int_equal(atomic_load(&f->conns[1].resumes), 1);
	assert_int_equal(atomic_load(&f->conns[2].resumes), 0);
	assert_true(relay_store_exists(f->app.store, other.state));
	relay_waiters_release(f->app.waiters, other_ticket);
}

/* A report for a login that is not delivering changes nothing. */
static void
test_delivered_without_collect(void **state)
{
	struct fixture *f = *state;
	struct relay_response resp;
	struct login l = login_for(1), unknown = login_for(3);

	register_login(f, &l, true);
	/* before the callback */
	relay_route_delivered(&f->app, l.state, link_id_of(&l), false);
	relay_route_delivered(&f->app, l.state, link_id_of(&l), true);
	assert_true(relay_store_exists(f->app.store, l.state));
	/* with a result nobody collected */
	callback_code(f, &l, "c0de");
	relay_route_delivered(&f->app, l.state, link_id_of(&l), false);
	assert_true(relay_store_exists(f->app.store, l.state));
	get_result(f, l.bearer, NULL, 0, &resp);
	expect_result(&resp, &l, "c0de");
	relay_response_clear(&resp);
	/* unknown */
	relay_route_delivered(&f->app, unknown.state, "AAAAAAAAAAA", false);
	assert_int_equal(relay_store_count(f->app.store), 1);
	assert_int_equal(atomic_load(&f->conns[0].resumes), 0);
}

/* Expired while its answer was on the way: a failure does not revive it. */
static void
test_delivered_after_expiry(void **state)
{
	struct fixture *f = *state;
	struct relay_response resp;
	struct login l = login_for(1);

	register_login(f, &l, true);
	callback_code(f, &l, "c0de");
	get_result(f, l.bearer, NULL, 0, &resp);
	expect_result(&resp, &l, "c0de");
	relay_response_clear(&resp);
	relay_route_tick(&f->app, ion_now_ms() + 10ull * TTL * 1000);
	assert_int_equal(atomic_load(&f->app.metrics.expirations), 1);
	relay_route_delivered(&f->app, l.state, link_id_of(&l), false);
	assert_false(relay_store_exists(f->app.store, l.state));
	get_result(f, l.bearer, NULL, 0, &resp);
	assert_int_equal(resp.status, 404);
	relay_response_clear(&resp);
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
	    &f->app, l.state, f->hash_a, RELAY_WAKE_NONE, false, &resp));
	assert_int_equal(resp.status, 777);
	assert_null(resp.body);
	/* pending, final: 202, nothing to deliver */
	memset(&resp, 0, sizeof(resp));
	assert_true(relay_route_collect(
	    &f->app, l.state, f->hash_a, RELAY_WAKE_NONE, true, &resp));
	assert_int_equal(resp.status, 202);
	assert_false(resp.deliver);
	relay_response_clear(&resp);
	/* timed out: 202, counted */
	assert_true(relay_route_collect(
	    &f->app, l.state, f->hash_a, RELAY_WAKE_TIMEOUT, true, &resp));
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
	    &f->app, l.state, f->hash_a, RELAY_WAKE_GONE, true, &resp));
	assert_int_equal(resp.status, 202);
	assert_false(resp.deliver);
	assert_int_equal(atomic_load(&f->app.metrics.polls_gone), 1);
	relay_response_clear(&resp);
	assert_true(relay_route_collect(
	    &f->app, l.state, f->hash_a, RELAY_WAKE_REPLACED, false, &resp));
	assert_int_equal(resp.status, 202);
	relay_response_clear(&resp);
	assert_true(relay_route_collect(
	    &f->app, l.state, f->hash_a, RELAY_WAKE_SHUTDOWN, true, &resp));
	assert_int_equal(resp.status, 202);
	relay_response_clear(&resp);
	assert_int_equal(atomic_load(&f->app.metrics.polls_gone), 1);
	assert_int_equal(atomic_load(&f->app.metrics.results_delivered), 0);
	assert_true(relay_store_exists(f->app.store, l.state));

	/* woken by the result: 200 with the code, to be reported */
	assert_true(relay_route_collect(
	    &f->app, l.state, f->hash_a, RELAY_WAKE_RESULT, false, &resp));
	assert_int_equal(resp.status, 200);
	assert_true(resp.deliver);
	assert_string_equal(resp.state, l.state);
	assert_string_equal(resp.link_id, link_id_of(&l));
	j = json_of(&resp);
	assert_string_equal(
	    json_string_value(json_object_get(j, "code")), "c0de");
	assert_null(json_object_get(j, "iss"));
	json_decref(j);
	relay_response_clear(&resp);
	assert_int_equal(atomic_load(&f->app.metrics.results_delivered), 0);

	/* being delivered: pending to everyone else */
	assert_false(relay_route_collect(
	    &f->app, l.state, f->hash_a, RELAY_WAKE_RESULT, false, &resp));
	assert_int_equal(resp.status, 0);
	assert_true(relay_route_collect(
	    &f->app, l.state, f->hash_a, RELAY_WAKE_RESULT, true, &resp));
	assert_int_equal(resp.status, 202);
	assert_false(resp.deliver);
	relay_response_clear(&resp);
	relay_route_delivered(&f->app, l.state, link_id_of(&l), true);
	assert_int_equal(atomic_load(&f->app.metrics.results_delivered), 1);

	/* gone now, or never there, or expired: 404 */
	assert_true(relay_route_collect(
	    &f->app, l.state, f->hash_a, RELAY_WAKE_RESULT, true, &resp));
	assert_int_equal(resp.status, 404);
	assert_false(resp.deliver);
	relay_response_clear(&resp);
	assert_true(relay_route_collect(&f->app, unknown.state, f->hash_a,
	    RELAY_WAKE_EXPIRED, false, &resp));
	assert_int_equal(resp.status, 404);
	assert_false(resp.deliver);
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
	    &f->app, l.state, f->hash_a, RELAY_WAKE_TIMEOUT, true, &resp));
	assert_int_equal(resp.status, 200);
	assert_true(resp.deliver);
	relay_response_clear(&resp);
}

static void
test_tick_expires(void **state)
{
	struct fixture *f = *state;
	struct relay_response resp;
	struct login a = login_for(1), b = login_for(2);
	unsigned ticket;
	uint64_t now = ion_now_ms(), next;

	register_login(f, &a, true);
	register_login(f, &b, true);
	assert_int_equal(relay_waiters_park(f->app.waiters, a.state,
			     &f->conns[0], -1, now + 60000, &ticket),
	    0);
	assert_true(relay_waiters_suspend(f->app.waiters, ticket));

	/* nothing due yet: the next expiry is a TTL away */
	next = relay_route_tick(&f->app, ion_now_ms());
	assert_in_range(next, now + TTL * 1000, ion_now_ms() + TTL * 1000);
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
	    &f->app, a.state, f->hash_a, RELAY_WAKE_EXPIRED, true, &resp));
	assert_int_equal(resp.status, 404);
	relay_response_clear(&resp);
	assert_int_equal(relay_route_tick(&f->app, ion_now_ms()), 0);
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
	t = relay_conns_track(f->app.conns, sv[0], ion_now_ms() + 100000);
	assert_true(t >= 0);
	relay_route_tick(&f->app, ion_now_ms());
	assert_int_equal(atomic_load(&f->app.metrics.slow_requests), 0);
	relay_route_tick(&f->app, ion_now_ms() + 200000);
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

/* A poll for l with this client key (NULL: none); wait=0. */
static void
get_result_as(struct fixture *f, const struct login *l, const char *key,
    struct relay_response *resp)
{
	struct relay_request req = request("GET", "/v1/logins/result");

	req.client_key = key;
	req.authorization = l->bearer;
	relay_route(&f->app, &req, resp);
}

/*
 * Every /v1 request needs a known client key, checked before the method,
 * the body and the Bearer; the refusal is "unauthorized", counted apart.
 */
static void
test_v1_needs_client_key(void **state)
{
	static const char *const bad_keys[] = {
		NULL,
		"",
		KEY_UNKNOWN,
		KEY_A " ",
		" " KEY_A,
		"key with spaces in it 0123456789abcdef",
		"short-key",
		"key-of-host-a-0123456789abcdefghijklmno\x01",
	};
	static const char *const methods_paths[][2] = {
		{ "POST", "/v1/logins" },
		{ "GET", "/v1/logins" },
		{ "GET", "/v1/logins/result" },
		{ "DELETE", "/v1/logins/result" },
	};
	struct fixture *f = *state;
	struct login l = login_for(1);
	struct relay_response resp;
	char *body = fill(BODY_OK, l.state);
	size_t i, j;
	unsigned long n = 0;

	for (i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++)
		for (j = 0;
		     j < sizeof(methods_paths) / sizeof(methods_paths[0]);
		     j++) {
			struct relay_request req =
			    request(methods_paths[j][0], methods_paths[j][1]);

			req.client_key = bad_keys[i];
			req.authorization = l.bearer;
			req.content_type = JSON_TYPE;
			req.body = body;
			req.body_len = strlen(body);
			req.body_too_large = j == 0 && i == 1;
			relay_route(&f->app, &req, &resp);
			if (resp.status != 401)
				fail_msg("key %zu, %s %s: %u", i,
				    methods_paths[j][0], methods_paths[j][1],
				    resp.status);
			expect_json_error(&resp, "unauthorized");
			assert_false(resp.park);
			relay_response_clear(&resp);
			n++;
		}
	assert_int_equal(rejections(f, RELAY_REJECT_CLIENT_KEY), n);
	assert_int_equal(rejections(f, RELAY_REJECT_UNAUTHORIZED), 0);
	assert_int_equal(relay_store_count(f->app.store), 0);
	/* the same request with the key goes through */
	register_login(f, &l, true);
	assert_int_equal(relay_store_count(f->app.store), 1);
	/* other paths need no key */
	{
		struct relay_request req = request("GET", "/healthz");

		req.client_key = NULL;
		relay_route(&f->app, &req, &resp);
		assert_int_equal(resp.status, 200);
		relay_response_clear(&resp);
	}
	free(body);
}

/*
 * A login is collected only with the key that registered it: another
 * known client sees 404 exactly as for an unknown login, and the result
 * stays for its owner.
 */
static void
test_result_other_client(void **state)
{
	struct fixture *f = *state;
	struct login l = login_for(1), none = login_for(2);
	struct relay_response resp, unknown;

	register_login(f, &l, true);
	get_result_as(f, &none, KEY_B, &unknown);
	assert_int_equal(unknown.status, 404);
	get_result_as(f, &l, KEY_B, &resp);
	assert_int_equal(resp.status, 404);
	assert_int_equal(resp.body_len, unknown.body_len);
	assert_memory_equal(resp.body, unknown.body, resp.body_len);
	relay_response_clear(&resp);
	callback_code(f, &l, "c0de-for-a");
	get_result_as(f, &l, KEY_B, &resp);
	assert_int_equal(resp.status, 404);
	assert_false(resp.deliver);
	assert_memory_equal(resp.body, unknown.body, resp.body_len);
	relay_response_clear(&resp);
	relay_response_clear(&unknown);
	/* a parked poll by B is taken as B's, too */
	assert_true(relay_route_collect(
	    &f->app, l.state, f->hash_b, RELAY_WAKE_NONE, false, &resp));
	assert_int_equal(resp.status, 404);
	relay_response_clear(&resp);
	assert_true(relay_route_collect(
	    &f->app, l.state, f->hash_b, RELAY_WAKE_RESULT, true, &resp));
	assert_int_equal(resp.status, 404);
	relay_response_clear(&resp);
	get_result_as(f, &l, KEY_A, &resp);
	expect_result(&resp, &l, "c0de-for-a");
	relay_route_delivered(&f->app, resp.state, resp.link_id, true);
	relay_response_clear(&resp);
}

/* A parked poll remembers its client; a key revoked meanwhile takes 401. */
static void
test_result_revoked_while_parked(void **state)
{
	struct fixture *f = *state;
	struct login l = login_for(1);
	struct relay_response resp;
	struct relay_param wait = { "wait", "10" };
	struct relay_request req = request("GET", "/v1/logins/result");
	struct relay_keyset *ks;

	register_login(f, &l, true);
	req.authorization = l.bearer;
	req.args = &wait;
	req.nargs = 1;
	relay_route(&f->app, &req, &resp);
	assert_true(resp.park);
	assert_memory_equal(resp.client, f->hash_a, ION_SHA256_LEN);
	callback_code(f, &l, "c0de");
	/* SIGHUP with host-a's line taken out */
	ks = keyset_of("host-b", KEY_B, NULL, NULL);
	relay_clients_replace(f->app.clients, &ks);
	assert_true(relay_route_collect(
	    &f->app, l.state, resp.client, RELAY_WAKE_RESULT, true, &resp));
	assert_int_equal(resp.status, 401);
	assert_false(resp.deliver);
	expect_json_error(&resp, "unauthorized");
	relay_response_clear(&resp);
	get_result_as(f, &l, KEY_A, &resp);
	assert_int_equal(resp.status, 401);
	relay_response_clear(&resp);
	/* re-added with the same key: the login is its own again */
	ks = keyset_of("host-a", KEY_A, "host-b", KEY_B);
	relay_clients_replace(f->app.clients, &ks);
	get_result_as(f, &l, KEY_A, &resp);
	expect_result(&resp, &l, "c0de");
	relay_route_delivered(&f->app, resp.state, resp.link_id, true);
	relay_response_clear(&resp);
}

/*
 * The code transplant by a key holder: the code a callback brought for its
 * own login is refused for another, which shows no confirmation code and
 * stays pending.
 */
static void
test_callback_code_reused(void **state)
{
	struct fixture *f = *state;
	struct login victim = login_for(1), attacker = login_for(2);
	struct relay_response resp;
	struct relay_param args[2];
	char confirm[ION_CONFIRM_DIGITS + 1];

	register_login(f, &victim, true);
	register_login(f, &attacker, true);
	callback_code(f, &attacker, "the-victims-code");
	args[0].name = "state";
	args[0].value = victim.state;
	args[1].name = "code";
	args[1].value = "the-victims-code";
	get_callback(f, args, 2, &resp);
	assert_int_equal(resp.status, 409);
	assert_string_equal(resp.content_type, HTML_TYPE);
	assert_non_null(strstr(resp.body, "already used"));
	assert_int_equal(
	    ion_confirm_code(victim.state, "the-victims-code", confirm), 0);
	assert_null(strstr(resp.body, confirm));
	assert_null(strstr(resp.body, "<p id=\"code\">"));
	relay_response_clear(&resp);
	assert_int_equal(rejections(f, RELAY_REJECT_CODE_REUSED), 1);
	assert_int_equal(atomic_load(&f->app.metrics.callbacks), 1);
	get_result_as(f, &victim, KEY_A, &resp);
	assert_int_equal(resp.status, 202);
	relay_response_clear(&resp);
	/* the rightful callback still completes the victim's login */
	callback_code(f, &victim, "a-fresh-code");
	get_result_as(f, &victim, KEY_A, &resp);
	expect_result(&resp, &victim, "a-fresh-code");
	relay_route_delivered(&f->app, resp.state, resp.link_id, true);
	relay_response_clear(&resp);
}

/* RFC 9126 2.2's form of a request_uri */
#define URN "urn:ietf:params:oauth:request_uri:"
#define SN "state=@S@&nonce=@N@"

static const struct {
	const char *query; /* after PREFIX "/authorize?" */
	unsigned status;   /* 201 accepted */
} par_urls[] = {
	{ "client_id=c&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri"
	  "%3Abwc4JK-ESC0w8acc191e-Y1LTC2",
	    201 },
	{ "request_uri=" URN "1&client_id=c", 201 },
	{ "client_id=c&request_uri=" URN "%32%33", 201 }, /* "23" */
	{ "client_id=c&request_uri=" URN "1&state=@S@", 403 },
	{ "client_id=c&request_uri=" URN "1&nonce=@N@", 403 },
	{ "client_id=c&request_uri=" URN "1&" SN, 403 },
	{ "client_id=c&request_uri=" URN "1&request_uri=" URN "2", 403 },
	{ "client_id=c&request_uri=" URN "1&request_uri=" URN "1", 403 },
	{ "client_id=c&client_id=c&request_uri=" URN "1", 403 },
	{ "request_uri=" URN "1", 403 },
	{ "client_id=&request_uri=" URN "1", 403 },
	{ "client_id=c&request_uri=", 403 },
	{ "client_id=c&request_uri", 403 },
	{ "client_id=c&request_uri=" URN "1&", 403 },
	{ "client_id=c&request_uri=" URN "1&code_challenge=x", 403 },
	{ "client_id=c&request_uri=" URN "1&redirect_uri=https%3A%2F%2Fx",
	    403 },
	{ "client_id=c&request_uri=" URN "1&scope=openid", 403 },
	{ "client_id=c&request_uri=" URN "%zz", 400 },
	/* a request_uri in any other form is a request object by reference */
	{ "client_id=c&request_uri=urn:x:1", 403 },
	{ "client_id=c&request_uri=https%3A%2F%2Fevil.example%2Fr.jwt", 403 },
	{ "client_id=c&request_uri=https://evil.example/r.jwt", 403 },
	{ "client_id=c&request_uri=" URN, 403 },
	{ "client_id=c&request_uri=URN:IETF:PARAMS:OAUTH:REQUEST_URI:1", 403 },
	{ "client_id=c&request_uri=" URN "a%20b", 403 },
	{ "client_id=c&request_uri=" URN "a%00b", 403 },
	{ "client_id=c&request_uri=" URN "a%0Ab", 403 },
	{ "client_id=c&request_uri=" URN "%C3%A9", 403 },
	{ "client_id=c&" SN "&request_uri=https%3A%2F%2Fevil.example", 403 },
	{ "client_id=c&" SN "&request_uri=" URN "9", 403 },
	/* a request object by value, whatever else is there */
	{ "client_id=c&" SN "&request=eyJhbGciOiJub25lIn0.e30.", 403 },
	{ "client_id=c&" SN "&request=", 403 },
	{ "client_id=c&" SN "&request", 403 },
	{ "client_id=c&" SN "&r%65quest=x", 403 },
	{ "client_id=c&request_uri=" URN "8&request=x", 403 },
	{ "client_id=c&request=%zz&" SN, 400 },
	/* ';' splits parameters for some servers */
	{ "client_id=c&" SN "&x=1;nonce=other", 403 },
	{ "client_id=c;x=1&" SN, 403 },
	{ "client_id=c&request_uri=" URN "7;x", 403 },
	{ "client_id=c&" SN "&scope=openid%3Bx", 201 },
	/* no request_uri: state and nonce are needed as before */
	{ "client_id=c", 403 },
	{ "client_id=c&state=@S@", 403 },
};

/* Pushed authorization request URLs (RFC 9126): exactly two parameters. */
static void
test_register_par(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(par_urls) / sizeof(par_urls[0]); i++) {
		struct login l = login_for((unsigned)i + 10);
		struct relay_response resp;
		char tmpl[1024], *body;

		snprintf(tmpl, sizeof(tmpl),
		    "{\"state\":\"@S@\",\"authorize_url\":\"" PREFIX
		    "/authorize?%s\",\"context\":" CTX_OK "}",
		    par_urls[i].query);
		body = fill(tmpl, l.state);
		post_register(f, l.bearer, JSON_TYPE, body, &resp);
		if (resp.status != par_urls[i].status)
			fail_msg("%s: %u %.*s", par_urls[i].query, resp.status,
			    (int)resp.body_len, resp.body);
		relay_response_clear(&resp);
		free(body);
	}
	assert_int_equal(relay_store_count(f->app.store), MAX_PENDING);
}

static unsigned
register_url(struct fixture *f, unsigned n, const char *key, const char *url)
{
	struct login l = login_for(n);
	struct relay_request req = request("POST", "/v1/logins");
	struct relay_response resp;
	char tmpl[1024], *body;
	unsigned status;

	snprintf(tmpl, sizeof(tmpl),
	    "{\"state\":\"@S@\",\"authorize_url\":\"%s\",\"context\":" CTX_OK
	    "}",
	    url);
	body = fill(tmpl, l.state);
	req.client_key = key;
	req.authorization = l.bearer;
	req.content_type = JSON_TYPE;
	req.body = body;
	req.body_len = strlen(body);
	relay_route(&f->app, &req, &resp);
	status = resp.status;
	if (status == 409) {
		json_t *j = json_of(&resp);

		if (strcmp(json_string_value(json_object_get(j, "error")),
			"state_exists") != 0)
			expect_json_error(&resp, "request_uri_reused");
		json_decref(j);
	}
	relay_response_clear(&resp);
	free(body);
	return status;
}

/*
 * One pushed request, one login: whoever registers its request_uri again,
 * in whatever spelling, under another state, gets 409 request_uri_reused;
 * a registration refused for another reason uses nothing up.
 */
static void
test_register_par_once(void **state)
{
	struct fixture *f = *state;
	const char *par = PREFIX "/authorize?client_id=c&request_uri=" URN "o";

	assert_int_equal(register_url(f, 1, KEY_A, par), 201);
	assert_int_equal(register_url(f, 2, KEY_A, par), 409);
	assert_int_equal(register_url(f, 3, KEY_B, par), 409);
	assert_int_equal(register_url(f, 4, KEY_B,
			     PREFIX "/authorize?request_uri=" URN "%6F"
				    "&client_id=other"),
	    409);
	assert_int_equal(rejections(f, RELAY_REJECT_REQUEST_URI_REUSED), 3);
	assert_int_equal(rejections(f, RELAY_REJECT_STATE_EXISTS), 0);
	assert_int_equal(relay_store_count(f->app.store), 1);
	/* the state is taken: 409 state_exists, the request_uri kept free */
	assert_int_equal(
	    register_url(f, 1, KEY_A,
		PREFIX "/authorize?client_id=c&request_uri=" URN "p"),
	    409);
	assert_int_equal(rejections(f, RELAY_REJECT_STATE_EXISTS), 1);
	assert_int_equal(
	    register_url(f, 5, KEY_B,
		PREFIX "/authorize?client_id=c&request_uri=" URN "p"),
	    201);
	assert_int_equal(relay_store_used_codes(f->app.store), 2);
}

/*
 * Anyone can make the relay refuse a key: at most RELAY_LOG_LIMIT_PER_S
 * lines a second say so, then one line how many were left out; the
 * metric counts every refusal.
 */
static void
test_key_refusal_log_limited(void **state)
{
	struct fixture *f = *state;
	struct relay_response resp;
	char logged[16384], *p;
	unsigned long lines = 0, suppressed = 0, n;
	FILE *tmp = tmpfile();
	int saved, i;
	size_t len;

	assert_non_null(tmp);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
	for (i = 0; i < 100; i++) {
		struct relay_request req = request("POST", "/v1/logins");

		req.client_key = i % 2 ? NULL : KEY_UNKNOWN;
		relay_route(&f->app, &req, &resp);
		relay_response_clear(&resp);
	}
	/* the tick in a later second reports the rest */
	usleep(1100 * 1000);
	relay_route_tick(&f->app, ion_now_ms());
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	len = fread(logged, 1, sizeof(logged) - 1, tmp);
	logged[len] = '\0';
	fclose(tmp);
	assert_int_equal(rejections(f, RELAY_REJECT_CLIENT_KEY), 100);
	for (p = logged; (p = strstr(p, "refused a request to")) != NULL; p++)
		lines++;
	for (p = logged; (p = strstr(p, "pam-ion-relay: ")) != NULL; p++)
		if (sscanf(p,
			"pam-ion-relay: %lu more requests refused for their "
			"client key were not logged",
			&n) == 1)
			suppressed += n;
	/* the loop may straddle one second's end: two seconds' lines */
	if (lines > 2 * RELAY_LOG_LIMIT_PER_S || lines + suppressed != 100)
		fail_msg("%lu lines, %lu suppressed:\n%s", lines, suppressed,
		    logged);
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
		T(test_register_allowed_params),
		T(test_register_unauthorized),
		T(test_register_auth_order),
		T(test_register_nonce_vector),
		T(test_register_transplant),
		T(test_register_again_after_collect),
		T(test_register_display_text_ok),
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
		T(test_delivered_not_ok),
		T(test_delivered_without_collect),
		T(test_delivered_after_expiry),
		T(test_collect),
		T(test_collect_timeout_with_result),
		T(test_tick_expires),
		T(test_tick_sweeps_slow_requests),
		T(test_v1_needs_client_key),
		T(test_result_other_client),
		T(test_result_revoked_while_parked),
		T(test_callback_code_reused),
		T(test_register_par),
		T(test_register_par_once),
		T(test_key_refusal_log_limited),
		cmocka_unit_test(test_response_clear),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
