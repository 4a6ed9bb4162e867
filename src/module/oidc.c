#include "oidc.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cache.h"
#include "crypto.h"
#include "errors.h"
#include "idtoken.h"
#include "jose.h"
#include "url.h"

#define DISCOVERY_PATH "/.well-known/openid-configuration"
#define FORM_MAX (16 * 1024)
#define PAR_RESP_MAX (16 * 1024)
#define FORM_TYPE "application/x-www-form-urlencoded"

/*
 * The wire names, each written once.  Request parameters (RFC 6749, PKCE
 * RFC 7636, OpenID Connect Core 1.0, PAR RFC 9126; request_uri is also the
 * PAR answer's member) and their fixed values:
 */
#define OIDC_P_RESPONSE_TYPE "response_type"
#define OIDC_P_CLIENT_ID "client_id"
#define OIDC_P_REDIRECT_URI "redirect_uri"
#define OIDC_P_SCOPE "scope"
#define OIDC_P_STATE "state"
#define OIDC_P_NONCE "nonce"
#define OIDC_P_CODE_CHALLENGE "code_challenge"
#define OIDC_P_CODE_CHALLENGE_METHOD "code_challenge_method"
#define OIDC_P_REQUEST_URI "request_uri"
#define OIDC_P_ACR_VALUES "acr_values"
#define OIDC_P_MAX_AGE "max_age"
#define OIDC_P_PROMPT "prompt"
#define OIDC_V_PROMPT_LOGIN "login"
#define OIDC_P_GRANT_TYPE "grant_type"
#define OIDC_P_CODE "code"
#define OIDC_P_CODE_VERIFIER "code_verifier"
#define OIDC_V_RESPONSE_TYPE "code"
#define OIDC_V_CODE_CHALLENGE_METHOD "S256"
#define OIDC_V_GRANT_TYPE "authorization_code"
/* Members of the PAR and token answers (RFC 9126 2.2, RFC 6749 5.1). */
#define OIDC_M_EXPIRES_IN "expires_in"
#define OIDC_M_ID_TOKEN "id_token"
#define OIDC_M_ACCESS_TOKEN "access_token"
/* Discovery members (OpenID Connect Discovery 1.0, RFC 9126, RFC 9207). */
#define DISC_ISSUER "issuer"
#define DISC_AUTHORIZE "authorization_endpoint"
#define DISC_TOKEN "token_endpoint"
#define DISC_JWKS "jwks_uri"
#define DISC_USERINFO "userinfo_endpoint"
#define DISC_PAR "pushed_authorization_request_endpoint"
#define DISC_ISS "authorization_response_iss_parameter_supported"
#define DISC_ACRS "acr_values_supported"
#define DISC_CLAIMS "claims_supported"

enum provider_request { REQ_DOC, REQ_PAR, REQ_TOKEN, REQ_USERINFO };

/*
 * What each request to the provider says and returns when no usable
 * answer came.  An answer over its cap is the provider's fault; a PAR
 * endpoint that times out is one that does not work (oidc.h).
 */
static const struct ion_http_failure no_answer[] = {
	[REQ_DOC] = { "provider timed out", ION_ERR_TIMEOUT,
	    "provider document too large", ION_ERR_AUTH,
	    "provider unreachable" },
	[REQ_PAR] = { "PAR endpoint timed out", ION_ERR_UNAVAIL,
	    "PAR response too large", ION_ERR_AUTH,
	    "PAR endpoint unreachable" },
	[REQ_TOKEN] = { "token endpoint timed out", ION_ERR_TIMEOUT,
	    "token response too large", ION_ERR_AUTH,
	    "token endpoint unreachable" },
	[REQ_USERINFO] = { "userinfo endpoint timed out", ION_ERR_TIMEOUT,
	    "userinfo too large", ION_ERR_AUTH,
	    "userinfo endpoint unreachable" },
};

static int
nomem(const char **why)
{
	*why = "out of memory";
	return ION_ERR_NOMEM;
}

static void
provider_clear(struct ion_provider *p)
{
	free(p->issuer);
	free(p->authorization_endpoint);
	free(p->token_endpoint);
	free(p->jwks_uri);
	free(p->userinfo_endpoint);
	free(p->par_endpoint);
	json_decref(p->acr_values_supported);
	json_decref(p->claims_supported);
	memset(p, 0, sizeof(*p));
}

void
ion_provider_free(struct ion_provider **pp)
{
	struct ion_provider *p;

	if (pp == NULL || (p = *pp) == NULL)
		return;
	provider_clear(p);
	free(p);
	*pp = NULL;
}

/* Issuers compare exactly, but for a trailing '/' the config drops. */
static bool
same_issuer(const char *configured, const char *discovered)
{
	size_t n = strlen(configured), m = strlen(discovered);

	if (m == n + 1 && discovered[n] == '/')
		m = n;
	return m == n && memcmp(configured, discovered, n) == 0;
}

/* A copy of a string member that is an allowed URL, or NULL. */
static char *
url_member(json_t *doc, const char *key)
{
	json_t *v = json_object_get(doc, key);

	if (!json_is_string(v) || !ion_url_allowed(json_string_value(v)))
		return NULL;
	return strdup(json_string_value(v));
}

int
ion_oidc_fetch_doc(struct ion_http *h, const struct ion_cfg *cfg,
    const char *url, bool force, char **ret_body, bool *ret_cached,
    const char **why)
{
	struct ion_http_resp resp;
	time_t now = time(NULL);
	size_t len;
	char *body;
	int r;

	*ret_cached = false;
	if (!force &&
	    ion_cache_load(cfg->cache_dir, url, now, ret_body, &len, NULL) ==
		0) {
		*ret_cached = true;
		return 0;
	}
	memset(&resp, 0, sizeof(resp));
	r = ion_http_get(h, url, NULL, 0, ION_OIDC_MAX_DOC, &resp);
	if (r != 0)
		return ion_http_failed(r, &no_answer[REQ_DOC], why);
	if (resp.status != 200) {
		*why = "provider document not available";
		ion_http_resp_clear(&resp);
		return ION_ERR_UNAVAIL;
	}
	(void)ion_cache_store(
	    cfg->cache_dir, url, resp.body, resp.len, resp.cache_control, now);
	body = resp.body;
	resp.body = NULL; /* transferred */
	ion_http_resp_clear(&resp);
	*ret_body = body;
	return 0;
}

/*
 * A list the document advertises (a new reference), or NULL when it is
 * absent or not an array of strings: only ever advice (oidc.h).
 */
static json_t *
advertised(json_t *doc, const char *key)
{
	json_t *list = json_object_get(doc, key);
	size_t i;

	if (!json_is_array(list))
		return NULL;
	for (i = 0; i < json_array_size(list); i++)
		if (!json_is_string(json_array_get(list, i)))
			return NULL;
	return json_incref(list);
}

/*
 * The issuer and endpoints of a discovery document (doc, NULL when it did
 * not parse) into p, which is empty.  An endpoint that is absent or not an
 * allowed URL stays NULL, for the configuration to fill (use_configured());
 * the optional ones, when present, must be good.  0, ION_ERR_AUTH or
 * ION_ERR_NOMEM.
 */
static int
read_discovery(
    json_t *doc, const char *issuer, struct ion_provider *p, const char **why)
{
	json_t *iss, *promise;

	if (!json_is_object(doc)) {
		*why = "discovery document malformed";
		return ION_ERR_AUTH;
	}
	iss = json_object_get(doc, DISC_ISSUER);
	if (!json_is_string(iss) ||
	    !same_issuer(issuer, json_string_value(iss))) {
		*why = "discovery names another issuer";
		return ION_ERR_AUTH;
	}
	if ((p->issuer = strdup(json_string_value(iss))) == NULL)
		return nomem(why);
	p->authorization_endpoint = url_member(doc, DISC_AUTHORIZE);
	p->token_endpoint = url_member(doc, DISC_TOKEN);
	p->jwks_uri = url_member(doc, DISC_JWKS);
	p->userinfo_endpoint = url_member(doc, DISC_USERINFO);
	/*
	 * Optional, but when there, as strict as the others: a PAR endpoint
	 * we could not use must not quietly turn into "no PAR", nor a
	 * promise of iss into none.
	 */
	if (json_object_get(doc, DISC_PAR) != NULL &&
	    (p->par_endpoint = url_member(doc, DISC_PAR)) == NULL) {
		*why = "discovery has a bad " DISC_PAR;
		return ION_ERR_AUTH;
	}
	promise = json_object_get(doc, DISC_ISS);
	if (promise != NULL && !json_is_boolean(promise)) {
		*why = "discovery has a bad " DISC_ISS;
		return ION_ERR_AUTH;
	}
	p->iss_parameter_supported = json_is_true(promise);
	p->acr_values_supported = advertised(doc, DISC_ACRS);
	p->claims_supported = advertised(doc, DISC_CLAIMS);
	return 0;
}

/* *field becomes a copy of configured, when that is set; false on ENOMEM. */
static bool
override(char **field, const char *configured)
{
	char *copy;

	if (configured == NULL)
		return true;
	if ((copy = strdup(configured)) == NULL)
		return false;
	free(*field);
	*field = copy;
	return true;
}

/*
 * Configured endpoints win over discovered ones; then p must have an
 * issuer and every endpoint but userinfo and PAR.
 */
static int
use_configured(
    const struct ion_cfg *cfg, struct ion_provider *p, const char **why)
{
	if (!override(&p->authorization_endpoint, cfg->authorize_endpoint) ||
	    !override(&p->token_endpoint, cfg->token_endpoint) ||
	    !override(&p->jwks_uri, cfg->jwks_uri) ||
	    !override(&p->userinfo_endpoint, cfg->userinfo_endpoint) ||
	    !override(&p->par_endpoint, cfg->par_endpoint))
		return nomem(why);
	if (p->issuer == NULL || p->authorization_endpoint == NULL ||
	    p->token_endpoint == NULL || p->jwks_uri == NULL) {
		*why = "discovery lacks an endpoint (or names one that breaks "
		       "the URL rules)";
		return ION_ERR_AUTH;
	}
	return 0;
}

/*
 * p (empty) from the discovery document at url, through the cache unless
 * force, and the configured endpoints.  *ret_cached as ion_oidc_fetch_doc().
 */
static int
load_provider(struct ion_http *h, const struct ion_cfg *cfg, const char *url,
    bool force, struct ion_provider *p, bool *ret_cached, const char **why)
{
	char *body = NULL;
	json_t *doc;
	int r;

	if ((r = ion_oidc_fetch_doc(
		 h, cfg, url, force, &body, ret_cached, why)) != 0)
		return r;
	doc = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
	if ((r = read_discovery(doc, cfg->issuer, p, why)) == 0)
		r = use_configured(cfg, p, why);
	json_decref(doc);
	free(body);
	return r;
}

/* {issuer}/.well-known/openid-configuration (malloc'd), or NULL. */
static char *
discovery_url(const char *issuer)
{
	char *url = malloc(strlen(issuer) + sizeof(DISCOVERY_PATH));

	if (url != NULL) {
		strcpy(url, issuer);
		strcat(url, DISCOVERY_PATH);
	}
	return url;
}

/* p (empty) through discovery, then the configured endpoints. */
static int
discover(struct ion_http *h, const struct ion_cfg *cfg, struct ion_provider *p,
    const char **why)
{
	char *url = discovery_url(cfg->issuer);
	const char *first_why = NULL;
	bool cached = false;
	int r;

	if (url == NULL)
		return nomem(why);
	r = load_provider(h, cfg, url, false, p, &cached, &first_why);
	if (r == ION_ERR_AUTH && cached) {
		/*
		 * A document from the cache that does not do is fetched
		 * again, once: a provider's bad answer must not outlive its
		 * cache lifetime here.  Why the cached one did not do is
		 * forgotten: a good fresh one is a success.
		 */
		provider_clear(p);
		r = load_provider(h, cfg, url, true, p, &cached, why);
	} else if (r != 0)
		*why = first_why;
	free(url);
	return r;
}

/*
 * p (empty) with every endpoint configured: no discovery at all, so no PAR
 * endpoint but par_endpoint, and no RFC 9207 promise (a response without
 * iss is taken; one with iss is checked).
 */
static int
configured_only(
    const struct ion_cfg *cfg, struct ion_provider *p, const char **why)
{
	if ((p->issuer = strdup(cfg->issuer)) == NULL)
		return nomem(why);
	return use_configured(cfg, p, why);
}

int
ion_oidc_discover(struct ion_http *h, const struct ion_cfg *cfg,
    struct ion_provider **ret, const char **why)
{
	struct ion_provider *p;
	int r;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return nomem(why);
	r = ion_cfg_needs_discovery(cfg) ? discover(h, cfg, p, why)
					 : configured_only(cfg, p, why);
	if (r != 0) {
		ion_provider_free(&p);
		return r;
	}
	*ret = p;
	return 0;
}

static void
form_param(struct ion_buf *b, const char *name, const char *value)
{
	char *esc = ion_http_form_escape(value);

	if (esc == NULL) {
		b->failed = true;
		return;
	}
	if (b->len > 0)
		ion_buf_puts(b, "&");
	ion_buf_puts(b, name);
	ion_buf_puts(b, "=");
	ion_buf_puts(b, esc);
	ion_scrub(esc, strlen(esc));
	free(esc);
}

/* The authorization request's parameters, form-encoded (malloc'd). */
static char *
request_params(const struct ion_cfg *cfg, const char *state, const char *nonce,
    const char *code_challenge, size_t *ret_len)
{
	char max_age[16];
	struct ion_buf q;

	ion_buf_init(&q, FORM_MAX);
	form_param(&q, OIDC_P_RESPONSE_TYPE, OIDC_V_RESPONSE_TYPE);
	form_param(&q, OIDC_P_CLIENT_ID, cfg->client_id);
	form_param(&q, OIDC_P_REDIRECT_URI, cfg->redirect_uri);
	form_param(&q, OIDC_P_SCOPE, cfg->scope);
	form_param(&q, OIDC_P_STATE, state);
	form_param(&q, OIDC_P_NONCE, nonce);
	form_param(&q, OIDC_P_CODE_CHALLENGE, code_challenge);
	form_param(
	    &q, OIDC_P_CODE_CHALLENGE_METHOD, OIDC_V_CODE_CHALLENGE_METHOD);
	/* Requests for the access rules; rules.c verifies what they get. */
	if (cfg->acr_values != NULL)
		form_param(&q, OIDC_P_ACR_VALUES, cfg->acr_values);
	if (cfg->has_max_age) {
		snprintf(max_age, sizeof(max_age), "%u", cfg->max_age);
		form_param(&q, OIDC_P_MAX_AGE, max_age);
	}
	if (cfg->login_prompt)
		form_param(&q, OIDC_P_PROMPT, OIDC_V_PROMPT_LOGIN);
	return ion_buf_steal(&q, ret_len);
}

/*
 * RFC 9126 section 4: client_id and request_uri only; the provider takes
 * everything else from what we pushed (malloc'd).
 */
static char *
pushed_params(const struct ion_cfg *cfg, const char *request_uri)
{
	struct ion_buf q;

	ion_buf_init(&q, FORM_MAX);
	form_param(&q, OIDC_P_CLIENT_ID, cfg->client_id);
	form_param(&q, OIDC_P_REQUEST_URI, request_uri);
	return ion_buf_steal(&q, NULL);
}

/*
 * {authorization_endpoint}?query, or &query when it has a query already
 * (malloc'd).  Frees query; NULL when out of memory or query is NULL.
 */
static char *
with_query(const struct ion_provider *p, char *query)
{
	struct ion_buf url;

	if (query == NULL)
		return NULL;
	ion_buf_init(&url, FORM_MAX);
	ion_buf_puts(&url, p->authorization_endpoint);
	ion_buf_puts(
	    &url, strchr(p->authorization_endpoint, '?') != NULL ? "&" : "?");
	ion_buf_puts(&url, query);
	free(query);
	return ion_buf_steal(&url, NULL);
}

char *
ion_oidc_authorize_url(const struct ion_cfg *cfg, const struct ion_provider *p,
    const char *state, const char *nonce, const char *code_challenge)
{
	return with_query(
	    p, request_params(cfg, state, nonce, code_challenge, NULL));
}

/*
 * The PAR endpoint's answer (RFC 9126 section 2.2): its request_uri
 * (malloc'd), or the failure as ion_oidc_authorize() has it.
 */
static int
read_pushed(const struct ion_http_resp *resp, char **ret_uri, const char **why)
{
	json_t *ans, *ruri, *exp;
	char *uri;
	int r = ION_ERR_AUTH;

	if (resp->status >= 500) {
		*why = "PAR endpoint failed (5xx)";
		return ION_ERR_UNAVAIL;
	}
	/* 201 per RFC 9126 2.2; some providers answer 200. */
	if (resp->status != 201 && resp->status != 200) {
		*why = resp->status >= 400 && resp->status < 500
		    ? "PAR endpoint refused the request"
		    : "PAR endpoint answered an unexpected status";
		return ION_ERR_AUTH;
	}
	ans = json_loadb(resp->body, resp->len, JSON_REJECT_DUPLICATES, NULL);
	ruri = json_object_get(ans, OIDC_P_REQUEST_URI);
	exp = json_object_get(ans, OIDC_M_EXPIRES_IN);
	if (!json_is_object(ans))
		*why = "PAR response is not a JSON object";
	else if (!json_is_string(ruri) || !json_is_integer(exp) ||
	    json_integer_value(exp) <= 0)
		*why = "PAR response lacks a good " OIDC_P_REQUEST_URI
		       " or " OIDC_M_EXPIRES_IN;
	else if (!ion_relay_request_uri_ok(
		     json_string_value(ruri), json_string_length(ruri)))
		*why = "PAR response's " OIDC_P_REQUEST_URI
		       " is not a " ION_OIDC_REQUEST_URI_PREFIX
		       " value the relay accepts";
	else if ((uri = strdup(json_string_value(ruri))) == NULL)
		r = nomem(why);
	else {
		*ret_uri = uri;
		r = 0;
	}
	json_decref(ans);
	return r;
}

/*
 * Pushes the authorization request (RFC 9126 section 2) and returns its
 * request_uri (malloc'd).  Client authentication as at the token endpoint.
 */
static int
push_request(struct ion_http *h, const struct ion_cfg *cfg,
    const struct ion_provider *p, const char *state, const char *nonce,
    const char *code_challenge, char **ret_uri, const char **why)
{
	struct ion_http_resp resp;
	char *params;
	size_t plen = 0;
	int r;

	if ((params = request_params(
		 cfg, state, nonce, code_challenge, &plen)) == NULL)
		return nomem(why);
	memset(&resp, 0, sizeof(resp));
	r = ion_http_post(h, p->par_endpoint, FORM_TYPE, params, plen,
	    cfg->client_id, cfg->client_secret, PAR_RESP_MAX, &resp);
	free(params);
	if (r != 0)
		return ion_http_failed(r, &no_answer[REQ_PAR], why);
	r = read_pushed(&resp, ret_uri, why);
	ion_http_resp_clear(&resp);
	return r;
}

int
ion_oidc_authorize(struct ion_http *h, const struct ion_cfg *cfg,
    const struct ion_provider *p, const char *state, const char *nonce,
    const char *code_challenge, char **ret_url, bool *ret_pushed,
    const char **why)
{
	bool push = cfg->par != ION_PAR_OFF && p->par_endpoint != NULL;
	char *uri = NULL, *url;
	int r;

	/*
	 * Neither configured nor discovered (config.c refuses this when there
	 * is no discovery).  A denial, not a config error: a discovery
	 * document that no longer names its PAR endpoint may be a downgrade
	 * by whoever can change what we fetch, and is not ours to fix.
	 */
	if (cfg->par == ION_PAR_REQUIRED && p->par_endpoint == NULL) {
		*why = "par = required but the provider offers no pushed "
		       "authorization requests";
		return ION_ERR_AUTH;
	}
	if (!push)
		url = ion_oidc_authorize_url(
		    cfg, p, state, nonce, code_challenge);
	else {
		if ((r = push_request(h, cfg, p, state, nonce, code_challenge,
			 &uri, why)) != 0)
			return r;
		url = with_query(p, pushed_params(cfg, uri));
		free(uri);
	}
	if (url == NULL)
		return nomem(why);
	*ret_url = url;
	*ret_pushed = push;
	return 0;
}

int
ion_oidc_check_iss(
    const struct ion_provider *p, const char *iss, const char **why)
{
	/*
	 * A provider that promises iss always sends it: a response without
	 * is not its own (a mix-up, or a code injected at the relay).
	 */
	if (iss == NULL && p->iss_parameter_supported) {
		*why = "authorization response without iss";
		return ION_ERR_AUTH;
	}
	if (iss != NULL && strcmp(iss, p->issuer) != 0) {
		*why = "authorization response from another issuer (iss)";
		return ION_ERR_AUTH;
	}
	return 0;
}

void
ion_tokens_clear(struct ion_tokens *t)
{
	if (t->id_token != NULL) {
		ion_scrub(t->id_token, strlen(t->id_token));
		free(t->id_token);
	}
	if (t->access_token != NULL) {
		ion_scrub(t->access_token, strlen(t->access_token));
		free(t->access_token);
	}
	memset(t, 0, sizeof(*t));
}

static char *
string_member(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return NULL;
	return strdup(json_string_value(v));
}

char *
ion_oidc_token_form(const struct ion_cfg *cfg, const char *code,
    const char *verifier, size_t *ret_len)
{
	struct ion_buf form;

	ion_buf_init(&form, FORM_MAX);
	form_param(&form, OIDC_P_GRANT_TYPE, OIDC_V_GRANT_TYPE);
	form_param(&form, OIDC_P_CLIENT_ID, cfg->client_id);
	form_param(&form, OIDC_P_CODE, code);
	form_param(&form, OIDC_P_REDIRECT_URI, cfg->redirect_uri);
	form_param(&form, OIDC_P_CODE_VERIFIER, verifier);
	return ion_buf_steal(&form, ret_len);
}

/* The tokens of a JSON token answer, or ION_ERR_AUTH. */
static int
read_token_json(
    const struct ion_http_resp *resp, struct ion_tokens *ret, const char **why)
{
	struct ion_tokens t;
	json_t *ans;
	int r = ION_ERR_AUTH;

	memset(&t, 0, sizeof(t));
	ans = json_loadb(resp->body, resp->len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(ans))
		*why = "token response is not a JSON object";
	else if ((t.id_token = string_member(ans, OIDC_M_ID_TOKEN)) == NULL)
		*why = "token response has no " OIDC_M_ID_TOKEN;
	else if (json_object_get(ans, OIDC_M_ACCESS_TOKEN) != NULL &&
	    (t.access_token = string_member(ans, OIDC_M_ACCESS_TOKEN)) == NULL)
		*why = "token response has a malformed " OIDC_M_ACCESS_TOKEN;
	else {
		*ret = t;
		memset(&t, 0, sizeof(t)); /* transferred */
		r = 0;
	}
	ion_tokens_clear(&t);
	json_decref(ans);
	return r;
}

/* The token endpoint's answer, with the errors of ion_oidc_exchange(). */
static int
read_tokens(
    const struct ion_http_resp *resp, struct ion_tokens *ret, const char **why)
{
	if (resp->status >= 500) {
		*why = "token endpoint failed (5xx)";
		return ION_ERR_UNAVAIL;
	}
	if (resp->status == 400 || resp->status == 401) {
		*why = "token endpoint refused the code";
		return ION_ERR_REFUSED;
	}
	if (resp->status != 200) {
		*why = "token endpoint answered an unexpected status";
		return ION_ERR_AUTH;
	}
	return read_token_json(resp, ret, why);
}

int
ion_oidc_exchange(struct ion_http *h, const struct ion_cfg *cfg,
    const struct ion_provider *p, const char *code, const char *verifier,
    struct ion_tokens *ret, const char **why)
{
	struct ion_http_resp resp;
	char *body;
	size_t len = 0;
	int r;

	if ((body = ion_oidc_token_form(cfg, code, verifier, &len)) == NULL)
		return nomem(why);
	memset(&resp, 0, sizeof(resp));
	r = ion_http_post(h, p->token_endpoint, FORM_TYPE, body, len,
	    cfg->client_id, cfg->client_secret, ION_OIDC_MAX_TOKEN_RESP, &resp);
	ion_scrub(body, len);
	free(body);
	if (r != 0)
		return ion_http_failed(r, &no_answer[REQ_TOKEN], why);
	r = read_tokens(&resp, ret, why);
	ion_http_resp_clear(&resp);
	return r;
}

/* Why ion_jws_verify() refused (r, not 0), log-safe. */
static const char *
signature_why(int r)
{
	switch (r) {
	case ION_ERR_NOT_FOUND:
		return "id_token signed with an unknown key";
	case ION_ERR_INVALID:
		return "key set malformed";
	case ION_ERR_EXISTS:
		return "key set has two keys with the token's kid";
	default:
		return "id_token signature or algorithm refused";
	}
}

int
ion_oidc_verify(struct ion_http *h, const struct ion_cfg *cfg,
    const struct ion_provider *p, const char *id_token, const char *nonce,
    time_t login_started, json_t **ret_claims, const char **why)
{
	struct ion_idtoken_expect expect;
	struct ion_jws *jws = NULL;
	const char *payload;
	char *jwks = NULL;
	bool cached = false;
	size_t plen;
	int r;

	if ((r = ion_jws_parse(id_token, &jws)) != 0) {
		*why = r == ION_ERR_RANGE
		    ? "id_token longer than 16384 characters"
		    : "id_token is not a compact JWS";
		r = ION_ERR_AUTH;
		goto out;
	}
	if ((r = ion_oidc_fetch_doc(
		 h, cfg, p->jwks_uri, false, &jwks, &cached, why)) != 0)
		goto out;
	r = ion_jws_verify(jws, jwks, cfg->allowed_algs);
	if ((r == ION_ERR_NOT_FOUND || r == ION_ERR_INVALID ||
		r == ION_ERR_EXISTS) &&
	    cached) {
		/*
		 * An unknown kid, two keys under one kid, or a malformed set,
		 * from the cache: the keys
		 * may have rotated, or a bad answer was cached.  Fetched once,
		 * never when the set was fetched during this sign-in, so a
		 * sign-in costs at most one refetch, however many kids a token
		 * invents.  (A minimum age of the cached set instead would
		 * refuse every sign-in for that long after a rotation.)
		 */
		free(jwks);
		jwks = NULL;
		if ((r = ion_oidc_fetch_doc(
			 h, cfg, p->jwks_uri, true, &jwks, &cached, why)) != 0)
			goto out;
		r = ion_jws_verify(jws, jwks, cfg->allowed_algs);
	}
	if (r != 0) {
		*why = signature_why(r);
		r = ION_ERR_AUTH;
		goto out;
	}
	payload = ion_jws_payload(jws, &plen);
	memset(&expect, 0, sizeof(expect));
	expect.issuer = p->issuer;
	expect.client_id = cfg->client_id;
	expect.nonce = nonce;
	expect.now = time(NULL);
	expect.login_started = login_started;
	r = ion_idtoken_check(payload, plen, &expect, ret_claims, why);
	if (r != 0)
		r = ION_ERR_AUTH;
out:
	ion_jws_free(&jws);
	free(jwks);
	return r;
}

int
ion_oidc_userinfo(struct ion_http *h, const struct ion_provider *p,
    const char *access_token, json_t *claims, const char **why)
{
	struct ion_http_resp resp;
	json_t *info = NULL;
	int r;

	memset(&resp, 0, sizeof(resp));
	if (p->userinfo_endpoint == NULL || access_token == NULL) {
		*why = "no userinfo endpoint or access token";
		return ION_ERR_AUTH;
	}
	r = ion_http_get(
	    h, p->userinfo_endpoint, access_token, 0, ION_OIDC_MAX_DOC, &resp);
	if (r != 0)
		return ion_http_failed(r, &no_answer[REQ_USERINFO], why);
	if (resp.status >= 500) {
		*why = "userinfo endpoint failed (5xx)";
		r = ION_ERR_UNAVAIL;
		goto out;
	}
	r = ION_ERR_AUTH;
	if (resp.status != 200) {
		*why = "userinfo refused";
		goto out;
	}
	info = json_loadb(resp.body, resp.len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(info)) {
		*why = "userinfo is not a JSON object (signed userinfo is not "
		       "supported)";
		goto out;
	}
	r = ion_idtoken_merge_userinfo(claims, info, why) == 0 ? 0
							       : ION_ERR_AUTH;
out:
	ion_http_resp_clear(&resp);
	json_decref(info);
	return r;
}
