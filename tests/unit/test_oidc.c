/*
 * Unit tests of oidc.h against http_server.py standing in for the
 * provider: discovery (its members, the configured endpoints, the one
 * refetch of a cached document), the PAR endpoint and the RFC 9207
 * promise, the pushed authorization request, the iss rule, the one
 * refetch of a cached key set with two keys under one kid, what each
 * request says when no usable answer came, and *why left alone on success.
 */
#include <sys/stat.h>

#include <ftw.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* cmocka.h wants stdarg.h, stddef.h, stdint.h and setjmp.h first. */
#include <cmocka.h>

#include "cache.h"
#include "clock.h"
#include "config.h"
#include "errors.h"
#include "fixture.h"
#include "jws_fixture.h"
#include "oidc.h"
#include "server_fixture.h"

#define CLIENT_ID "pam client"
#define SECRET "s3cret:value"
#define STATE "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
#define NONCE "n-0S6_WzA2Mj"
#define CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
#define REQUEST_URI                                                            \
	"urn:ietf:params:oauth:request_uri:6esc_11ACC5bwc014ltc14eY22c"
#define WHY_REQUIRED                                                           \
	"par = required but the provider offers no pushed authorization "      \
	"requests"

#define WHY_PAR_FIELDS "PAR response lacks a good request_uri or expires_in"
#define WHY_PAR_URN                                                            \
	"PAR response's request_uri is not a "                                 \
	"urn:ietf:params:oauth:request_uri: value the relay accepts"

#define DISCOVERY "/.well-known/openid-configuration"
#define WHY_LACKS                                                              \
	"discovery lacks an endpoint (or names one that breaks the URL rules)"
#define WHY_ISSUER "discovery names another issuer"
#define WHY_MALFORMED "discovery document malformed"
/* What a function that succeeds must leave in *why. */
#define UNTOUCHED "untouched"

static struct fixture_server srv;
static char cache_root[64];
static unsigned ncache;

static int
setup(void **state)
{
	(void)state;
	if (fixture_mkdtemp(cache_root, sizeof(cache_root), "oidc") != 0)
		return -1;
	return fixture_start(&srv);
}

static int
teardown(void **state)
{
	(void)state;
	fixture_stop(&srv);
	return fixture_rmtree(cache_root);
}

/* A configuration as config.c would make it, with an empty cache. */
static void
make_cfg(struct ion_cfg *cfg, enum ion_par_mode par, char *cache_dir)
{
	static char issuer[128], redirect[160];

	snprintf(issuer, sizeof(issuer), "%s", srv.base);
	snprintf(redirect, sizeof(redirect), "%s/relay/callback", srv.base);
	snprintf(cache_dir, 128, "%s/c%u", cache_root, ncache++);
	memset(cfg, 0, sizeof(*cfg));
	cfg->issuer = issuer;
	cfg->client_id = (char *)(uintptr_t)CLIENT_ID;
	cfg->client_secret = (char *)(uintptr_t)SECRET;
	cfg->redirect_uri = redirect;
	cfg->scope = (char *)(uintptr_t) "openid profile email";
	cfg->par = par;
	cfg->cache_dir = cache_dir;
	cfg->allowed_algs = ION_ALG_RS256 | ION_ALG_PS256 | ION_ALG_ES256;
}

static void
make_provider(struct ion_provider *p, bool par)
{
	static char authz[128], par_ep[128], jwks[128];

	snprintf(authz, sizeof(authz), "%s/authorize", srv.base);
	snprintf(par_ep, sizeof(par_ep), "%s/par", srv.base);
	snprintf(jwks, sizeof(jwks), "%s/jwks", srv.base);
	memset(p, 0, sizeof(*p));
	p->issuer = srv.base;
	p->authorization_endpoint = authz;
	p->token_endpoint = authz;
	p->jwks_uri = jwks;
	p->par_endpoint = par ? par_ep : NULL;
}

static int
authorize(const struct ion_cfg *cfg, const struct ion_provider *p,
    char **ret_url, bool *ret_pushed, const char **why)
{
	struct ion_http *h = fixture_http();
	int r;

	*ret_url = NULL;
	*ret_pushed = false;
	r = ion_oidc_authorize(
	    h, cfg, p, STATE, NONCE, CHALLENGE, ret_url, ret_pushed, why);
	ion_http_free(&h);
	return r;
}

static void
test_par_push(void **state)
{
	struct ion_provider p;
	struct ion_cfg cfg;
	const char *why = NULL;
	char cache[128], want[512], *url = NULL, *v;
	json_t *last;
	const char *body;
	bool pushed;

	(void)state;
	make_cfg(&cfg, ION_PAR_AUTO, cache);
	make_provider(&p, true);
	fixture_script(&srv, "/par", 201,
	    "{\"request_uri\": \"" REQUEST_URI "\", \"expires_in\": 60}", NULL);
	assert_int_equal(authorize(&cfg, &p, &url, &pushed, &why), 0);
	assert_true(pushed);
	/* client_id and request_uri, nothing else (RFC 9126 section 4). */
	snprintf(want, sizeof(want),
	    "%s/authorize?client_id=pam+client&request_uri=urn%%3Aietf%%"
	    "3Aparams%%3Aoauth%%3Arequest_uri%%3A6esc_11ACC5bwc014ltc14eY22c",
	    srv.base);
	assert_string_equal(url, want);
	free(url);

	/* The request went to the PAR endpoint, authenticated as at the
	 * token endpoint: Basic of form-encoded id and secret. */
	last = fixture_last(&srv, "/par");
	assert_string_equal(
	    json_string_value(json_object_get(last, "method")), "POST");
	body = json_string_value(json_object_get(last, "body"));
	assert_non_null(strstr(body, "response_type=code"));
	assert_non_null(strstr(body, "client_id=pam+client"));
	assert_non_null(strstr(body, "state=" STATE));
	assert_non_null(strstr(body, "nonce=" NONCE));
	assert_non_null(strstr(body, "code_challenge=" CHALLENGE));
	assert_non_null(strstr(body, "code_challenge_method=S256"));
	assert_non_null(strstr(body, "scope=openid+profile+email"));
	assert_non_null(strstr(body, "redirect_uri=http%3A%2F%2F127.0.0.1"));
	json_decref(last);
	v = fixture_last_header(&srv, "/par", "authorization");
	/* base64("pam+client:s3cret%3Avalue") */
	assert_string_equal(v, "Basic cGFtK2NsaWVudDpzM2NyZXQlM0F2YWx1ZQ==");
	free(v);
	v = fixture_last_header(&srv, "/par", "content-type");
	assert_string_equal(v, "application/x-www-form-urlencoded");
	free(v);
}

/* A PAR answer with request_uri v (JSON text) and expires_in 90. */
#define PAR_ANSWER(v) "{\"request_uri\": " v ", \"expires_in\": 90}"
#define URN "urn:ietf:params:oauth:request_uri:"

static void
test_par_answers(void **state)
{
	static const struct {
		long status;
		const char *body;
		int r;
		const char *why; /* NULL: not checked, or left alone (r 0) */
	} cases[] = {
		{ 201, PAR_ANSWER("\"" URN "1\""), 0, NULL },
		{ 200, PAR_ANSWER("\"" URN "1\""), 0, NULL },
		{ 400, "{\"error\": \"invalid_request\"}", ION_ERR_AUTH,
		    "PAR endpoint refused the request" },
		{ 401, "{\"error\": \"invalid_client\"}", ION_ERR_AUTH, NULL },
		{ 403, "{}", ION_ERR_AUTH, NULL },
		{ 500, "{}", ION_ERR_UNAVAIL, "PAR endpoint failed (5xx)" },
		{ 503, "", ION_ERR_UNAVAIL, NULL },
		{ 302, "", ION_ERR_AUTH, NULL },
		{ 204, "", ION_ERR_AUTH, NULL },
		{ 201, "not json", ION_ERR_AUTH,
		    "PAR response is not a JSON object" },
		{ 201, "[\"" URN "1\"]", ION_ERR_AUTH, NULL },
		{ 201, "{}", ION_ERR_AUTH, WHY_PAR_FIELDS },
		{ 201, "{\"expires_in\": 90}", ION_ERR_AUTH, WHY_PAR_FIELDS },
		{ 201, PAR_ANSWER("17"), ION_ERR_AUTH, WHY_PAR_FIELDS },
		{ 201, PAR_ANSWER("null"), ION_ERR_AUTH, WHY_PAR_FIELDS },
		{ 201, "{\"request_uri\": \"" URN "1\"}", ION_ERR_AUTH,
		    WHY_PAR_FIELDS },
		{ 201, "{\"request_uri\": \"" URN "1\", \"expires_in\": 0}",
		    ION_ERR_AUTH, WHY_PAR_FIELDS },
		{ 201, "{\"request_uri\": \"" URN "1\", \"expires_in\": -5}",
		    ION_ERR_AUTH, WHY_PAR_FIELDS },
		{ 201,
		    "{\"request_uri\": \"" URN "1\", \"expires_in\": \"90\"}",
		    ION_ERR_AUTH, WHY_PAR_FIELDS },
		{ 201,
		    "{\"request_uri\": \"" URN "1\", \"request_uri\": \"" URN
		    "2\", \"expires_in\": 90}",
		    ION_ERR_AUTH, "PAR response is not a JSON object" },
		/* the relay's rule: the urn prefix and more, printable */
		{ 201, PAR_ANSWER("\"" URN "x\""), 0, NULL },
		{ 201, PAR_ANSWER("\"" URN "a:b/c?d=e&f%20~\""), 0, NULL },
		{ 201, PAR_ANSWER("\"\""), ION_ERR_AUTH, WHY_PAR_URN },
		{ 201, PAR_ANSWER("\"" URN "\""), ION_ERR_AUTH, WHY_PAR_URN },
		{ 201, PAR_ANSWER("\"urn:x:1\""), ION_ERR_AUTH, WHY_PAR_URN },
		{ 201, PAR_ANSWER("\"https://op.example/r/1\""), ION_ERR_AUTH,
		    WHY_PAR_URN },
		{ 201, PAR_ANSWER("\"URN:IETF:PARAMS:OAUTH:REQUEST_URI:1\""),
		    ION_ERR_AUTH, WHY_PAR_URN },
		{ 201, PAR_ANSWER("\"urn:ietf:params:oauth:request_uri\""),
		    ION_ERR_AUTH, WHY_PAR_URN },
		{ 201, PAR_ANSWER("\" " URN "1\""), ION_ERR_AUTH, WHY_PAR_URN },
		{ 201, PAR_ANSWER("\"" URN "1 2\""), ION_ERR_AUTH,
		    WHY_PAR_URN },
		{ 201, PAR_ANSWER("\"" URN "1\\t\""), ION_ERR_AUTH,
		    WHY_PAR_URN },
		{ 201, PAR_ANSWER("\"" URN "\\u0001\""), ION_ERR_AUTH,
		    WHY_PAR_URN },
		{ 201, PAR_ANSWER("\"" URN "\\u007f\""), ION_ERR_AUTH,
		    WHY_PAR_URN },
		{ 201, PAR_ANSWER("\"" URN "\\u00e9\""), ION_ERR_AUTH,
		    WHY_PAR_URN },
		/* jansson refuses \u0000 in a string without JSON_ALLOW_NUL */
		{ 201, PAR_ANSWER("\"" URN "1\\u0000x\""), ION_ERR_AUTH,
		    "PAR response is not a JSON object" },
	};
	static char body[ION_OIDC_REQUEST_URI_MAX + 128];
	struct ion_provider p;
	struct ion_cfg cfg;
	const char *why;
	char cache[128], *url;
	size_t i, n;
	bool pushed;
	int r;

	(void)state;
	make_cfg(&cfg, ION_PAR_AUTO, cache);
	make_provider(&p, true);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fixture_script(
		    &srv, "/par", cases[i].status, cases[i].body, NULL);
		why = NULL;
		r = authorize(&cfg, &p, &url, &pushed, &why);
		if (r != cases[i].r)
			fail_msg("case %zu: %d (%s), expected %d", i, r,
			    why != NULL ? why : "", cases[i].r);
		if (cases[i].why != NULL &&
		    (why == NULL || strcmp(why, cases[i].why) != 0))
			fail_msg("case %zu: why \"%s\", expected \"%s\"", i,
			    why != NULL ? why : "NULL", cases[i].why);
		if (r == 0)
			assert_null(why);
		if (r == 0)
			assert_non_null(strstr(url,
			    "request_uri=urn%3Aietf%3Aparams%3Aoauth%3A"
			    "request_uri%3A"));
		else
			assert_null(url);
		free(url);
	}

	/*
	 * A request_uri of ION_OIDC_REQUEST_URI_MAX (512, the relay's limit)
	 * characters, and one more.
	 */
	assert_int_equal(ION_OIDC_REQUEST_URI_MAX, 512);
	strcpy(body, "{\"expires_in\": 9, \"request_uri\": \"" URN);
	n = strlen(body);
	memset(body + n, 'u', ION_OIDC_REQUEST_URI_MAX - strlen(URN));
	strcpy(body + n + ION_OIDC_REQUEST_URI_MAX - strlen(URN), "\"}");
	fixture_script(&srv, "/par", 201, body, NULL);
	assert_int_equal(authorize(&cfg, &p, &url, &pushed, &why), 0);
	assert_true(pushed);
	free(url);
	strcpy(body + strlen(body) - 2, "u\"}");
	fixture_script(&srv, "/par", 201, body, NULL);
	assert_int_equal(
	    authorize(&cfg, &p, &url, &pushed, &why), ION_ERR_AUTH);
	assert_string_equal(why, WHY_PAR_URN);
	assert_null(url);
}

static void
test_par_unreachable(void **state)
{
	struct ion_provider p;
	struct ion_cfg cfg;
	const char *why = NULL;
	char cache[128], *url;
	bool pushed;

	(void)state;
	make_cfg(&cfg, ION_PAR_AUTO, cache);
	make_provider(&p, true);
	/* Port 9 on loopback: nothing listens (discard is never run). */
	p.par_endpoint = (char *)(uintptr_t) "http://127.0.0.1:9/par";
	assert_int_equal(
	    authorize(&cfg, &p, &url, &pushed, &why), ION_ERR_UNAVAIL);
	assert_null(url);
}

static void
test_par_modes(void **state)
{
	struct ion_provider p;
	struct ion_cfg cfg;
	const char *why = NULL;
	char cache[128], *url;
	bool pushed;

	(void)state;
	/* required without an endpoint: fail closed. */
	make_cfg(&cfg, ION_PAR_REQUIRED, cache);
	make_provider(&p, false);
	assert_int_equal(
	    authorize(&cfg, &p, &url, &pushed, &why), ION_ERR_AUTH);
	assert_string_equal(why, WHY_REQUIRED);
	assert_null(url);

	/* auto without an endpoint: the request in the URL, as ever. */
	cfg.par = ION_PAR_AUTO;
	assert_int_equal(authorize(&cfg, &p, &url, &pushed, &why), 0);
	assert_false(pushed);
	assert_non_null(strstr(url, "state=" STATE));
	assert_non_null(strstr(url, "nonce=" NONCE));
	assert_null(strstr(url, "request_uri"));
	free(url);

	/* off never pushes, even with an endpoint (which would refuse). */
	fixture_script(&srv, "/par", 500, "{}", NULL);
	cfg.par = ION_PAR_OFF;
	make_provider(&p, true);
	assert_int_equal(authorize(&cfg, &p, &url, &pushed, &why), 0);
	assert_false(pushed);
	assert_non_null(strstr(url, "code_challenge=" CHALLENGE));
	free(url);

	/* required with an endpoint pushes. */
	fixture_script(&srv, "/par", 201,
	    "{\"request_uri\": \"" REQUEST_URI "\", \"expires_in\": 90}", NULL);
	cfg.par = ION_PAR_REQUIRED;
	assert_int_equal(authorize(&cfg, &p, &url, &pushed, &why), 0);
	assert_true(pushed);
	assert_null(strstr(url, "state="));
	free(url);
}

static int
discover_cfg(const struct ion_cfg *cfg, const char *doc,
    struct ion_provider **ret, const char **why)
{
	struct ion_http *h = fixture_http();
	int r;

	if (doc != NULL)
		fixture_script(&srv, DISCOVERY, 200, doc, NULL);
	*ret = NULL;
	r = ion_oidc_discover(h, cfg, ret, why);
	ion_http_free(&h);
	return r;
}

static int
discover(const char *doc, struct ion_provider **ret, const char **why)
{
	struct ion_cfg cfg;
	char cache[128];

	make_cfg(&cfg, ION_PAR_AUTO, cache);
	return discover_cfg(&cfg, doc, ret, why);
}

/* How many requests the server has had for path (with its query). */
static long
hits(const char *path)
{
	struct ion_http *h = fixture_http();
	struct ion_http_resp resp;
	char url[256];
	json_t *j;
	long n;

	snprintf(url, sizeof(url), "%s/hits", srv.base);
	memset(&resp, 0, sizeof(resp));
	assert_int_equal(ion_http_get(h, url, NULL, 0, 1 << 20, &resp), 0);
	j = json_loadb(resp.body, resp.len, 0, NULL);
	assert_non_null(j);
	n = (long)json_integer_value(
	    json_object_get(json_object_get(j, "hits"), path));
	json_decref(j);
	ion_http_resp_clear(&resp);
	ion_http_free(&h);
	return n;
}

#define DOC_START                                                              \
	"{\"issuer\": \"{base}\", "                                            \
	"\"authorization_endpoint\": \"{base}/authorize\", "                   \
	"\"token_endpoint\": \"{base}/token\", \"jwks_uri\": \"{base}/jwks\""

static void
test_discovery(void **state)
{
	static const struct {
		const char *extra;
		int r;
		bool par, iss;
	} cases[] = {
		{ "", 0, false, false },
		{ ", \"pushed_authorization_request_endpoint\": \"{base}/par\"",
		    0, true, false },
		{ ", \"authorization_response_iss_parameter_supported\": true",
		    0, false, true },
		{ ", \"authorization_response_iss_parameter_supported\": false",
		    0, false, false },
		{ ", \"pushed_authorization_request_endpoint\": "
		  "\"https://par.example/par\", "
		  "\"authorization_response_iss_parameter_supported\": true",
		    0, true, true },
		/* present but unusable: the document is malformed */
		{ ", \"pushed_authorization_request_endpoint\": "
		  "\"http://par.example/par\"",
		    ION_ERR_AUTH, false, false },
		{ ", \"pushed_authorization_request_endpoint\": 1",
		    ION_ERR_AUTH, false, false },
		{ ", \"pushed_authorization_request_endpoint\": \"\"",
		    ION_ERR_AUTH, false, false },
		{ ", \"authorization_response_iss_parameter_supported\": "
		  "\"true\"",
		    ION_ERR_AUTH, false, false },
		{ ", \"authorization_response_iss_parameter_supported\": 1",
		    ION_ERR_AUTH, false, false },
	};
	struct ion_provider *p;
	char doc[1024];
	const char *why;
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(doc, sizeof(doc), "%s%s}", DOC_START, cases[i].extra);
		why = NULL;
		r = discover(doc, &p, &why);
		if (r != cases[i].r)
			fail_msg("case %zu: %d (%s), expected %d", i, r,
			    why != NULL ? why : "", cases[i].r);
		if (r != 0) {
			assert_null(p);
			continue;
		}
		assert_int_equal(p->par_endpoint != NULL, cases[i].par);
		assert_int_equal(p->iss_parameter_supported, cases[i].iss);
		ion_provider_free(&p);
	}
}

/*
 * Every endpoint configured: no discovery (the issuer is unreachable, so a
 * request would fail), the PAR endpoint is par_endpoint or none, and no
 * RFC 9207 promise.  With discovery, par_endpoint overrides what it says.
 */
static void
test_configured_endpoints(void **state)
{
	static const struct {
		bool all, discovered_par, configured_par;
	} cases[] = {
		{ true, false, false },
		{ true, false, true },
		{ false, false, true },
		{ false, true, true },
		{ false, true, false },
	};
	struct ion_provider *p;
	struct ion_http *h;
	struct ion_cfg cfg;
	char cache[128], doc[1024], mine[160], theirs[160];
	const char *why;
	size_t i;
	int r;

	(void)state;
	snprintf(mine, sizeof(mine), "%s/my-par", srv.base);
	snprintf(theirs, sizeof(theirs), "%s/par", srv.base);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(doc, sizeof(doc),
		    "%s%s, "
		    "\"authorization_response_iss_parameter_supported\": true}",
		    DOC_START,
		    cases[i].discovered_par
			? ", \"pushed_authorization_request_endpoint\": "
			  "\"{base}/par\""
			: "");
		fixture_script(
		    &srv, "/.well-known/openid-configuration", 200, doc, NULL);
		make_cfg(&cfg, ION_PAR_REQUIRED, cache);
		if (cases[i].all) {
			cfg.issuer = (char *)(uintptr_t) "http://127.0.0.1:1";
			cfg.authorize_endpoint = theirs;
			cfg.token_endpoint = theirs;
			cfg.jwks_uri = theirs;
		}
		cfg.par_endpoint = cases[i].configured_par ? mine : NULL;
		assert_int_equal(ion_cfg_needs_discovery(&cfg), !cases[i].all);
		h = fixture_http();
		p = NULL;
		why = NULL;
		r = ion_oidc_discover(h, &cfg, &p, &why);
		ion_http_free(&h);
		if (r != 0)
			fail_msg("case %zu: %d (%s)", i, r, why);
		if (cases[i].configured_par)
			assert_string_equal(p->par_endpoint, mine);
		else if (cases[i].discovered_par)
			assert_string_equal(p->par_endpoint, theirs);
		else
			assert_null(p->par_endpoint);
		assert_int_equal(p->iss_parameter_supported, !cases[i].all);
		ion_provider_free(&p);
	}
}

/* The document with one member left out (NULL: none) or replaced. */
static void
make_doc(char *doc, size_t len, const char *leave_out, const char *extra)
{
	static const char *const members[][2] = {
		{ "issuer", "\"{base}\"" },
		{ "authorization_endpoint", "\"{base}/authorize\"" },
		{ "token_endpoint", "\"{base}/token\"" },
		{ "jwks_uri", "\"{base}/jwks\"" },
		{ "userinfo_endpoint", "\"{base}/userinfo\"" },
	};
	size_t i, n = 0;

	n += (size_t)snprintf(doc + n, len - n, "{");
	for (i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		if (leave_out != NULL && strcmp(members[i][0], leave_out) == 0)
			continue;
		n += (size_t)snprintf(doc + n, len - n, "%s\"%s\": %s",
		    n > 1 ? ", " : "", members[i][0], members[i][1]);
	}
	snprintf(doc + n, len - n, "%s%s}", extra != NULL ? ", " : "",
	    extra != NULL ? extra : "");
}

/*
 * Missing and bad members: each required endpoint must be there and be a
 * URL we may call; userinfo may be neither (it is then none).
 */
static void
test_discovery_members(void **state)
{
	static const struct {
		const char *leave_out, *extra;
		int r;
		const char *why; /* for r != 0 */
		bool userinfo;
	} cases[] = {
		{ NULL, NULL, 0, NULL, true },
		{ "userinfo_endpoint", NULL, 0, NULL, false },
		{ "userinfo_endpoint",
		    "\"userinfo_endpoint\": \"http://op.example/userinfo\"", 0,
		    NULL, false },
		{ "issuer", NULL, ION_ERR_AUTH, WHY_ISSUER, false },
		{ "issuer", "\"issuer\": \"{base}/\"", 0, NULL, true },
		{ "issuer", "\"issuer\": \"{base}/x\"", ION_ERR_AUTH,
		    WHY_ISSUER, false },
		{ "issuer", "\"issuer\": 1", ION_ERR_AUTH, WHY_ISSUER, false },
		{ "authorization_endpoint", NULL, ION_ERR_AUTH, WHY_LACKS,
		    false },
		{ "token_endpoint", NULL, ION_ERR_AUTH, WHY_LACKS, false },
		{ "jwks_uri", NULL, ION_ERR_AUTH, WHY_LACKS, false },
		/* endpoints that are not URLs we may call */
		{ "token_endpoint",
		    "\"token_endpoint\": \"http://op.example/token\"",
		    ION_ERR_AUTH, WHY_LACKS, false },
		{ "token_endpoint",
		    "\"token_endpoint\": \"ftp://op.example/t\"", ION_ERR_AUTH,
		    WHY_LACKS, false },
		{ "jwks_uri", "\"jwks_uri\": \"https://u:p@op.example/jwks\"",
		    ION_ERR_AUTH, WHY_LACKS, false },
		{ "jwks_uri", "\"jwks_uri\": 17", ION_ERR_AUTH, WHY_LACKS,
		    false },
		{ "authorization_endpoint",
		    "\"authorization_endpoint\": \"https://op example/a\"",
		    ION_ERR_AUTH, WHY_LACKS, false },
		/* a member twice */
		{ NULL, "\"jwks_uri\": \"{base}/jwks2\"", ION_ERR_AUTH,
		    WHY_MALFORMED, false },
	};
	struct ion_provider *p;
	char doc[2048];
	const char *why;
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		make_doc(doc, sizeof(doc), cases[i].leave_out, cases[i].extra);
		why = UNTOUCHED;
		r = discover(doc, &p, &why);
		if (r != cases[i].r)
			fail_msg("case %zu: %d (%s), expected %d", i, r, why,
			    cases[i].r);
		if (r != 0) {
			assert_null(p);
			assert_string_equal(why, cases[i].why);
			continue;
		}
		assert_string_equal(why, UNTOUCHED);
		assert_int_equal(
		    p->userinfo_endpoint != NULL, cases[i].userinfo);
		ion_provider_free(&p);
	}
	/* Not a JSON object at all. */
	assert_int_equal(discover("not json", &p, &why), ION_ERR_AUTH);
	assert_string_equal(why, WHY_MALFORMED);
	assert_int_equal(discover("[]", &p, &why), ION_ERR_AUTH);
	assert_string_equal(why, WHY_MALFORMED);
	/* No document: the issuer has none there. */
	fixture_script(&srv, DISCOVERY, 404, "{}", NULL);
	assert_int_equal(discover(NULL, &p, &why), ION_ERR_UNAVAIL);
	assert_string_equal(why, "provider document not available");
}

/*
 * An endpoint in the configuration wins over the discovered one, and
 * fills one the document lacks or names badly.
 */
static void
test_discovery_overrides(void **state)
{
	struct ion_provider *p;
	struct ion_cfg cfg;
	char cache[128], doc[2048], mine[160];
	const char *why;

	(void)state;
	snprintf(mine, sizeof(mine), "%s/mine", srv.base);

	make_cfg(&cfg, ION_PAR_AUTO, cache);
	make_doc(doc, sizeof(doc), NULL, NULL);
	cfg.authorize_endpoint = mine;
	cfg.userinfo_endpoint = mine;
	why = UNTOUCHED;
	assert_int_equal(discover_cfg(&cfg, doc, &p, &why), 0);
	assert_string_equal(why, UNTOUCHED);
	assert_string_equal(p->authorization_endpoint, mine);
	assert_string_equal(p->userinfo_endpoint, mine);
	assert_non_null(strstr(p->token_endpoint, "/token"));
	assert_non_null(strstr(p->jwks_uri, "/jwks"));
	ion_provider_free(&p);

	/* The document lacks the token endpoint; the configuration has it. */
	make_cfg(&cfg, ION_PAR_AUTO, cache);
	make_doc(doc, sizeof(doc), "token_endpoint", NULL);
	assert_int_equal(discover_cfg(&cfg, doc, &p, &why), ION_ERR_AUTH);
	assert_string_equal(why, WHY_LACKS);
	cfg.token_endpoint = mine;
	assert_int_equal(discover_cfg(&cfg, doc, &p, &why), 0);
	assert_string_equal(p->token_endpoint, mine);
	ion_provider_free(&p);

	/* ... or names it badly. */
	make_cfg(&cfg, ION_PAR_AUTO, cache);
	make_doc(doc, sizeof(doc), "jwks_uri",
	    "\"jwks_uri\": \"http://op.example/jwks\"");
	cfg.jwks_uri = mine;
	assert_int_equal(discover_cfg(&cfg, doc, &p, &why), 0);
	assert_string_equal(p->jwks_uri, mine);
	ion_provider_free(&p);
}

/* doc with "{base}" made the server's base URL, as the server does. */
static void
with_base(char *doc)
{
	size_t n = strlen(srv.base);
	char *at;

	while ((at = strstr(doc, "{base}")) != NULL) {
		memmove(at + n, at + 6, strlen(at + 6) + 1);
		memcpy(at, srv.base, n);
	}
}

/*
 * A cached document that does not do is fetched again, once; one fetched
 * during this sign-in is not, and a good cached one is used as it is.
 */
static void
test_discovery_refetch(void **state)
{
	static const struct {
		const char *cached; /* leave out this member; "" none */
		const char *served; /* likewise */
		int r;
		long requests;
	} cases[] = {
		{ "jwks_uri", "", 0, 1 },
		{ "issuer", "", 0, 1 },
		{ "", "jwks_uri", 0, 0 },
		{ "jwks_uri", "jwks_uri", ION_ERR_AUTH, 1 },
		{ NULL, "jwks_uri", ION_ERR_AUTH, 1 },
		{ NULL, "", 0, 1 },
	};
	struct ion_provider *p;
	struct ion_cfg cfg;
	char cache[128], doc[2048], url[256], cached[2048];
	const char *why;
	size_t i;
	long before;
	int r;

	(void)state;
	snprintf(url, sizeof(url), "%s" DISCOVERY, srv.base);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		make_cfg(&cfg, ION_PAR_AUTO, cache);
		if (cases[i].cached != NULL) {
			make_doc(cached, sizeof(cached), cases[i].cached, NULL);
			with_base(cached);
			assert_int_equal(
			    ion_cache_store(cfg.cache_dir, url, cached,
				strlen(cached), "max-age=3600", time(NULL)),
			    0);
		}
		make_doc(doc, sizeof(doc), cases[i].served, NULL);
		fixture_script(&srv, DISCOVERY, 200, doc, NULL);
		before = hits(DISCOVERY);
		why = UNTOUCHED;
		r = discover_cfg(&cfg, NULL, &p, &why);
		if (r != cases[i].r)
			fail_msg("case %zu: %d (%s), expected %d", i, r, why,
			    cases[i].r);
		if (hits(DISCOVERY) - before != cases[i].requests)
			fail_msg("case %zu: %ld requests, expected %ld", i,
			    hits(DISCOVERY) - before, cases[i].requests);
		if (r == 0) {
			assert_string_equal(why, UNTOUCHED);
			ion_provider_free(&p);
		} else
			assert_string_equal(why, WHY_LACKS);
	}
}

/* The helper: a sentence and an error for each way to get no answer. */
static void
test_http_failed(void **state)
{
	static const struct ion_http_failure f = {
		.timed_out = "t",
		.timed_out_r = ION_ERR_REFUSED,
		.too_large = "l",
		.too_large_r = ION_ERR_AUTH,
		.unreachable = "u",
	};
	static const struct {
		int r;
		const char *why;
		int ret;
	} cases[] = {
		{ ION_ERR_TIMEOUT, "t", ION_ERR_REFUSED },
		{ ION_ERR_RANGE, "l", ION_ERR_AUTH },
		{ ION_ERR_UNAVAIL, "u", ION_ERR_UNAVAIL },
		{ ION_ERR_DENIED, "u", ION_ERR_UNAVAIL },
		{ ION_ERR_INVALID, "u", ION_ERR_UNAVAIL },
		{ ION_ERR_NOMEM, "u", ION_ERR_UNAVAIL },
	};
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why = NULL;
		assert_int_equal(
		    ion_http_failed(cases[i].r, &f, &why), cases[i].ret);
		assert_string_equal(why, cases[i].why);
	}
}

enum call { C_DISCOVER, C_PAR, C_TOKEN, C_USERINFO, C_JWKS };

/* One request of kind call to url; why as the function leaves it. */
static int
call_at(enum call call, const char *url, const char **why)
{
	struct ion_http *h = fixture_http();
	struct ion_provider p, *found = NULL;
	struct ion_tokens t;
	struct ion_cfg cfg;
	json_t *claims = json_pack("{s:s}", "sub", "s"), *verified = NULL;
	char cache[128], *authz = NULL;
	bool pushed;
	int r = -1;

	/* A request that has not answered after 1 s has timed out. */
	ion_http_set_deadline(h, ion_now_ms() + 1000);
	make_cfg(&cfg, ION_PAR_AUTO, cache);
	make_provider(&p, true);
	memset(&t, 0, sizeof(t));
	switch (call) {
	case C_DISCOVER:
		cfg.issuer = (char *)(uintptr_t)url;
		r = ion_oidc_discover(h, &cfg, &found, why);
		break;
	case C_PAR:
		p.par_endpoint = (char *)(uintptr_t)url;
		r = ion_oidc_authorize(
		    h, &cfg, &p, STATE, NONCE, CHALLENGE, &authz, &pushed, why);
		break;
	case C_TOKEN:
		p.token_endpoint = (char *)(uintptr_t)url;
		r = ion_oidc_exchange(h, &cfg, &p, "c0de", "verifier", &t, why);
		break;
	case C_USERINFO:
		p.userinfo_endpoint = (char *)(uintptr_t)url;
		r = ion_oidc_userinfo(h, &p, "access", claims, why);
		break;
	case C_JWKS:
		p.jwks_uri = (char *)(uintptr_t)url;
		r = ion_oidc_verify(h, &cfg, &p, FUZZ_TOKEN_RS256, NONCE,
		    1700000000, &verified, why);
		break;
	}
	ion_provider_free(&found);
	ion_tokens_clear(&t);
	free(authz);
	json_decref(claims);
	json_decref(verified);
	ion_http_free(&h);
	return r;
}

/*
 * What each request to the provider says, and returns, when no usable
 * answer came: unreachable (port 9 on loopback, where nothing listens, or
 * a URL we may not call), over its cap, or too slow.
 */
static void
test_no_answer(void **state)
{
	static const struct {
		enum call call;
		const char *path; /* after the base; NULL: port 9 */
		int r;
		const char *why;
	} cases[] = {
		/* discovery appends DISCOVERY to the issuer, url */
		{ C_DISCOVER, NULL, ION_ERR_UNAVAIL, "provider unreachable" },
		{ C_DISCOVER, "/big", ION_ERR_AUTH,
		    "provider document too large" },
		{ C_DISCOVER, "/slow", ION_ERR_TIMEOUT, "provider timed out" },
		{ C_JWKS, NULL, ION_ERR_UNAVAIL, "provider unreachable" },
		{ C_JWKS, "/big" DISCOVERY, ION_ERR_AUTH,
		    "provider document too large" },
		{ C_JWKS, "/slow/x", ION_ERR_TIMEOUT, "provider timed out" },
		{ C_PAR, NULL, ION_ERR_UNAVAIL, "PAR endpoint unreachable" },
		{ C_PAR, "/big" DISCOVERY, ION_ERR_AUTH,
		    "PAR response too large" },
		/* oidc.h: a PAR endpoint that times out is unavailable */
		{ C_PAR, "/slow/x", ION_ERR_UNAVAIL, "PAR endpoint timed out" },
		{ C_TOKEN, NULL, ION_ERR_UNAVAIL,
		    "token endpoint unreachable" },
		{ C_TOKEN, "/big" DISCOVERY, ION_ERR_AUTH,
		    "token response too large" },
		{ C_TOKEN, "/slow/x", ION_ERR_TIMEOUT,
		    "token endpoint timed out" },
		{ C_USERINFO, NULL, ION_ERR_UNAVAIL,
		    "userinfo endpoint unreachable" },
		{ C_USERINFO, "/big" DISCOVERY, ION_ERR_AUTH,
		    "userinfo too large" },
		{ C_USERINFO, "/slow/x", ION_ERR_TIMEOUT,
		    "userinfo endpoint timed out" },
	};
	static char big[ION_OIDC_MAX_DOC + 2];
	char url[256];
	const char *why;
	size_t i;
	int r;

	(void)state;
	/* Over every cap: discovery's, the key set's, PAR's, the token's. */
	memset(big, 'x', sizeof(big) - 1);
	fixture_script(&srv, "/big" DISCOVERY, 200, big, NULL);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].path == NULL)
			snprintf(url, sizeof(url), "http://127.0.0.1:9");
		else
			snprintf(
			    url, sizeof(url), "%s%s", srv.base, cases[i].path);
		why = UNTOUCHED;
		r = call_at(cases[i].call, url, &why);
		if (r != cases[i].r || strcmp(why, cases[i].why) != 0)
			fail_msg("case %zu: %d '%s', expected %d '%s'", i, r,
			    why, cases[i].r, cases[i].why);
	}
	/* A URL we may not call is one we cannot reach. */
	why = UNTOUCHED;
	assert_int_equal(
	    call_at(C_TOKEN, "http://op.example/token", &why), ION_ERR_UNAVAIL);
	assert_string_equal(why, "token endpoint unreachable");
}

/* A function that succeeds leaves *why as it was. */
static void
test_why_untouched(void **state)
{
	struct ion_provider p, *found = NULL;
	struct ion_http *h;
	struct ion_tokens t;
	struct ion_cfg cfg;
	char cache[128], doc[2048], token[160], userinfo[160], *url = NULL;
	const char *why = UNTOUCHED;
	json_t *claims;
	bool pushed;

	(void)state;
	make_doc(doc, sizeof(doc), NULL, NULL);
	assert_int_equal(discover(doc, &found, &why), 0);
	assert_string_equal(why, UNTOUCHED);
	ion_provider_free(&found);

	make_cfg(&cfg, ION_PAR_AUTO, cache);
	make_provider(&p, false);
	assert_int_equal(authorize(&cfg, &p, &url, &pushed, &why), 0);
	assert_false(pushed);
	assert_string_equal(why, UNTOUCHED);
	free(url);
	assert_int_equal(ion_oidc_check_iss(&p, p.issuer, &why), 0);
	assert_string_equal(why, UNTOUCHED);

	h = fixture_http();
	snprintf(token, sizeof(token), "%s/token", srv.base);
	p.token_endpoint = token;
	fixture_script(&srv, "/token", 200,
	    "{\"id_token\": \"a.b.c\", \"access_token\": \"at\"}", NULL);
	memset(&t, 0, sizeof(t));
	assert_int_equal(
	    ion_oidc_exchange(h, &cfg, &p, "c0de", "verifier", &t, &why), 0);
	assert_string_equal(why, UNTOUCHED);
	assert_string_equal(t.id_token, "a.b.c");
	assert_string_equal(t.access_token, "at");
	ion_tokens_clear(&t);

	snprintf(userinfo, sizeof(userinfo), "%s/userinfo", srv.base);
	p.userinfo_endpoint = userinfo;
	fixture_script(&srv, "/userinfo", 200,
	    "{\"sub\": \"s\", \"name\": \"Alice\"}", NULL);
	claims = json_pack("{s:s}", "sub", "s");
	assert_int_equal(ion_oidc_userinfo(h, &p, "at", claims, &why), 0);
	assert_string_equal(why, UNTOUCHED);
	assert_string_equal(
	    json_string_value(json_object_get(claims, "name")), "Alice");
	json_decref(claims);
	ion_http_free(&h);
}

static void
test_check_iss(void **state)
{
	struct ion_provider p;
	const char *why = NULL;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.issuer = (char *)(uintptr_t) "https://issuer.example";
	/* Without the promise, iss may be absent, but never wrong. */
	assert_int_equal(ion_oidc_check_iss(&p, NULL, &why), 0);
	assert_int_equal(
	    ion_oidc_check_iss(&p, "https://issuer.example", &why), 0);
	assert_int_equal(ion_oidc_check_iss(&p, "https://other.example", &why),
	    ION_ERR_AUTH);
	assert_string_equal(
	    why, "authorization response from another issuer (iss)");
	assert_int_equal(
	    ion_oidc_check_iss(&p, "https://issuer.example/", &why),
	    ION_ERR_AUTH);
	/* RFC 9207 promised: a response without iss is refused. */
	p.iss_parameter_supported = true;
	assert_int_equal(ion_oidc_check_iss(&p, NULL, &why), ION_ERR_AUTH);
	assert_string_equal(why, "authorization response without iss");
	assert_int_equal(
	    ion_oidc_check_iss(&p, "https://issuer.example", &why), 0);
	assert_int_equal(ion_oidc_check_iss(&p, "https://other.example", &why),
	    ION_ERR_AUTH);
}

/* The fixture's key set with its RSA key twice under kid "rsa1". */
static char *
dup_kid_set(void)
{
	json_t *set = json_loads(FUZZ_JWKS, 0, NULL), *keys;
	char *s;

	assert_non_null(set);
	keys = json_object_get(set, "keys");
	json_array_append_new(keys, json_deep_copy(json_array_get(keys, 0)));
	s = json_dumps(set, JSON_COMPACT);
	json_decref(set);
	assert_non_null(s);
	return s;
}

static int
verify(
    const struct ion_cfg *cfg, const struct ion_provider *p, const char **why)
{
	struct ion_http *h = fixture_http();
	json_t *claims = NULL;
	int r;

	r = ion_oidc_verify(
	    h, cfg, p, FUZZ_TOKEN_RS256, NONCE, 1700000000, &claims, why);
	json_decref(claims);
	ion_http_free(&h);
	return r;
}

static void
test_duplicate_kid(void **state)
{
	struct ion_provider p;
	struct ion_cfg cfg;
	const char *why = NULL;
	char cache[128], *dup = dup_kid_set();
	json_t *last;

	(void)state;
	make_cfg(&cfg, ION_PAR_AUTO, cache);
	make_provider(&p, false);
	/* The fixture token's issuer and audience. */
	p.issuer = (char *)(uintptr_t) "https://issuer.example";
	cfg.client_id = (char *)(uintptr_t) "pam-ion-fuzz";

	/* Fresh from the provider with a duplicate kid: refused. */
	fixture_script(&srv, "/jwks", 200, dup, NULL);
	assert_int_equal(verify(&cfg, &p, &why), ION_ERR_AUTH);
	assert_string_equal(why, "key set has two keys with the token's kid");

	/* Cached with a duplicate kid: fetched again, once, and used. */
	make_cfg(&cfg, ION_PAR_AUTO, cache);
	cfg.client_id = (char *)(uintptr_t) "pam-ion-fuzz";
	assert_int_equal(ion_cache_store(cfg.cache_dir, p.jwks_uri, dup,
			     strlen(dup), "max-age=3600", time(NULL)),
	    0);
	fixture_script(&srv, "/jwks", 200, FUZZ_JWKS, NULL);
	assert_int_equal(verify(&cfg, &p, &why), ION_ERR_AUTH);
	/* The signature verified with the fresh set; the fixture's token
	 * is long expired, which is as far as it gets. */
	assert_string_equal(why, "expired");
	last = fixture_last(&srv, "/jwks");
	assert_string_equal(
	    json_string_value(json_object_get(last, "method")), "GET");
	json_decref(last);

	/* Cached, and still duplicated when fetched again: refused. */
	make_cfg(&cfg, ION_PAR_AUTO, cache);
	cfg.client_id = (char *)(uintptr_t) "pam-ion-fuzz";
	assert_int_equal(ion_cache_store(cfg.cache_dir, p.jwks_uri, dup,
			     strlen(dup), "max-age=3600", time(NULL)),
	    0);
	fixture_script(&srv, "/jwks", 200, dup, NULL);
	assert_int_equal(verify(&cfg, &p, &why), ION_ERR_AUTH);
	assert_string_equal(why, "key set has two keys with the token's kid");
	free(dup);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_par_push),
		cmocka_unit_test(test_par_answers),
		cmocka_unit_test(test_par_unreachable),
		cmocka_unit_test(test_par_modes),
		cmocka_unit_test(test_discovery),
		cmocka_unit_test(test_configured_endpoints),
		cmocka_unit_test(test_discovery_members),
		cmocka_unit_test(test_discovery_overrides),
		cmocka_unit_test(test_discovery_refetch),
		cmocka_unit_test(test_http_failed),
		cmocka_unit_test(test_no_answer),
		cmocka_unit_test(test_why_untouched),
		cmocka_unit_test(test_check_iss),
		cmocka_unit_test(test_duplicate_kid),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
