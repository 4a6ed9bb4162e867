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

/* Discovery members (OpenID Connect Discovery 1.0, RFC 9126, RFC 9207). */
#define DISC_PAR "pushed_authorization_request_endpoint"
#define DISC_ISS "authorization_response_iss_parameter_supported"

static void
provider_clear(struct ion_provider *p)
{
	free(p->issuer);
	free(p->authorization_endpoint);
	free(p->token_endpoint);
	free(p->jwks_uri);
	free(p->userinfo_endpoint);
	free(p->par_endpoint);
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

/*
 * Fetches url through the cache (unless force); *ret_cached tells whether
 * the body came from the cache rather than from the network just now.
 */
static int
fetch_doc(struct ion_http *h, const struct ion_cfg *cfg, const char *url,
    bool force, char **ret_body, bool *ret_cached, const char **why)
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
	if (r != 0) {
		*why = r == ION_ERR_RANGE  ? "provider document too large"
		    : r == ION_ERR_TIMEOUT ? "provider timed out"
					   : "provider unreachable";
		return r == ION_ERR_RANGE  ? ION_ERR_AUTH
		    : r == ION_ERR_TIMEOUT ? ION_ERR_TIMEOUT
					   : ION_ERR_UNAVAIL;
	}
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

int
ion_oidc_discover(struct ion_http *h, const struct ion_cfg *cfg,
    struct ion_provider **ret, const char **why)
{
	struct ion_provider *p = NULL;
	char *url = NULL, *body = NULL;
	json_t *doc = NULL, *iss, *v;
	bool cached = false, force = false;
	int r = ION_ERR_NOMEM;

	*why = "out of memory";
	if ((p = calloc(1, sizeof(*p))) == NULL)
		goto out;
	if (!ion_cfg_needs_discovery(cfg)) {
		/*
		 * Everything configured: no discovery at all, so no PAR
		 * endpoint but par_endpoint, and no RFC 9207 promise (a
		 * response without iss is taken; one with iss is checked).
		 */
		if ((p->issuer = strdup(cfg->issuer)) == NULL)
			goto out;
	} else {
		if ((url = malloc(
			 strlen(cfg->issuer) + sizeof(DISCOVERY_PATH))) == NULL)
			goto out;
		strcpy(url, cfg->issuer);
		strcat(url, DISCOVERY_PATH);
	again:
		if ((r = fetch_doc(h, cfg, url, force, &body, &cached, why)) !=
		    0)
			goto out;
		r = ION_ERR_AUTH;
		*why = "discovery document malformed";
		doc = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(doc))
			goto bad;
		iss = json_object_get(doc, "issuer");
		if (!json_is_string(iss) ||
		    !same_issuer(cfg->issuer, json_string_value(iss))) {
			*why = "discovery names another issuer";
			goto bad;
		}
		if ((p->issuer = strdup(json_string_value(iss))) == NULL) {
			r = ION_ERR_NOMEM;
			goto out;
		}
		p->authorization_endpoint =
		    url_member(doc, "authorization_endpoint");
		p->token_endpoint = url_member(doc, "token_endpoint");
		p->jwks_uri = url_member(doc, "jwks_uri");
		p->userinfo_endpoint = url_member(doc, "userinfo_endpoint");
		/*
		 * Optional, but when there, as strict as the others: a PAR
		 * endpoint we could not use must not quietly turn into "no
		 * PAR", nor a promise of iss into none.
		 */
		if (json_object_get(doc, DISC_PAR) != NULL &&
		    (p->par_endpoint = url_member(doc, DISC_PAR)) == NULL) {
			*why = "discovery has a bad " DISC_PAR;
			goto bad;
		}
		v = json_object_get(doc, DISC_ISS);
		if (v != NULL && !json_is_boolean(v)) {
			*why = "discovery has a bad " DISC_ISS;
			goto bad;
		}
		p->iss_parameter_supported = json_is_true(v);
	}
	/* Configured endpoints win over discovered ones. */
#define OVERRIDE(field, key)                                                   \
	do {                                                                   \
		if (cfg->key != NULL) {                                        \
			free(p->field);                                        \
			p->field = strdup(cfg->key);                           \
			if (p->field == NULL)                                  \
				goto nomem;                                    \
		}                                                              \
	} while (0)
	OVERRIDE(authorization_endpoint, authorize_endpoint);
	OVERRIDE(token_endpoint, token_endpoint);
	OVERRIDE(jwks_uri, jwks_uri);
	OVERRIDE(userinfo_endpoint, userinfo_endpoint);
	OVERRIDE(par_endpoint, par_endpoint);
#undef OVERRIDE
	r = ION_ERR_AUTH;
	if (p->issuer == NULL || p->authorization_endpoint == NULL ||
	    p->token_endpoint == NULL || p->jwks_uri == NULL) {
		*why = "discovery lacks an endpoint (or one is not https)";
		goto bad;
	}
	*ret = p;
	p = NULL; /* transferred */
	r = 0;
	*why = "discovered";
	goto out;
bad:
	/*
	 * A document from the cache that does not do is fetched again, once:
	 * a provider's bad answer must not outlive its cache lifetime here.
	 */
	if (cached && !force) {
		force = true;
		free(body);
		body = NULL;
		json_decref(doc);
		doc = NULL;
		provider_clear(p);
		goto again;
	}
	goto out;
nomem:
	r = ION_ERR_NOMEM;
	*why = "out of memory";
out:
	ion_provider_free(&p);
	json_decref(doc);
	free(body);
	free(url);
	return r;
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
	struct ion_buf q;

	ion_buf_init(&q, FORM_MAX);
	form_param(&q, "response_type", "code");
	form_param(&q, "client_id", cfg->client_id);
	form_param(&q, "redirect_uri", cfg->redirect_uri);
	form_param(&q, "scope", cfg->scope);
	form_param(&q, "state", state);
	form_param(&q, "nonce", nonce);
	form_param(&q, "code_challenge", code_challenge);
	form_param(&q, "code_challenge_method", "S256");
	return ion_buf_steal(&q, ret_len);
}

/* {authorization_endpoint}?query, or &query when it has a query already. */
static char *
with_query(const struct ion_provider *p, const char *query)
{
	struct ion_buf url;

	ion_buf_init(&url, FORM_MAX);
	ion_buf_puts(&url, p->authorization_endpoint);
	ion_buf_puts(
	    &url, strchr(p->authorization_endpoint, '?') != NULL ? "&" : "?");
	ion_buf_puts(&url, query);
	return ion_buf_steal(&url, NULL);
}

char *
ion_oidc_authorize_url(const struct ion_cfg *cfg, const struct ion_provider *p,
    const char *state, const char *nonce, const char *code_challenge)
{
	char *query, *url;

	if ((query = request_params(cfg, state, nonce, code_challenge, NULL)) ==
	    NULL)
		return NULL;
	url = with_query(p, query);
	free(query);
	return url;
}

/*
 * Pushes the authorization request (RFC 9126 section 2) and returns its
 * request_uri (malloc'd).  Client authentication as at the token endpoint.
 */
static int
push_request(struct ion_http *h, const struct ion_cfg *cfg,
    const struct ion_provider *p, const char *params, size_t plen,
    char **ret_uri, const char **why)
{
	struct ion_http_resp resp;
	json_t *ans = NULL, *ruri, *exp;
	char *uri = NULL;
	int r;

	memset(&resp, 0, sizeof(resp));
	r = ion_http_post(h, p->par_endpoint,
	    "application/x-www-form-urlencoded", params, plen, cfg->client_id,
	    cfg->client_secret, PAR_RESP_MAX, &resp);
	if (r != 0) {
		*why = r == ION_ERR_RANGE  ? "PAR response too large"
		    : r == ION_ERR_TIMEOUT ? "PAR endpoint timed out"
					   : "PAR endpoint unreachable";
		r = r == ION_ERR_RANGE ? ION_ERR_AUTH : ION_ERR_UNAVAIL;
		goto out;
	}
	if (resp.status >= 500) {
		r = ION_ERR_UNAVAIL;
		*why = "PAR endpoint failed (5xx)";
		goto out;
	}
	r = ION_ERR_AUTH;
	/* 201 per RFC 9126 2.2; some providers answer 200. */
	if (resp.status != 201 && resp.status != 200) {
		*why = resp.status >= 400 && resp.status < 500
		    ? "PAR endpoint refused the request"
		    : "PAR endpoint answered an unexpected status";
		goto out;
	}
	ans = json_loadb(resp.body, resp.len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(ans)) {
		*why = "PAR response is not a JSON object";
		goto out;
	}
	ruri = json_object_get(ans, "request_uri");
	exp = json_object_get(ans, "expires_in");
	if (!json_is_string(ruri) || !json_is_integer(exp) ||
	    json_integer_value(exp) <= 0) {
		*why = "PAR response lacks a good request_uri or expires_in";
		goto out;
	}
	if (!ion_relay_request_uri_ok(
		json_string_value(ruri), json_string_length(ruri))) {
		*why = "PAR response's request_uri is not a "
		       "urn:ietf:params:oauth:request_uri: value the relay "
		       "accepts";
		goto out;
	}
	if ((uri = strdup(json_string_value(ruri))) == NULL) {
		r = ION_ERR_NOMEM;
		*why = "out of memory";
		goto out;
	}
	*ret_uri = uri;
	r = 0;
	*why = "pushed";
out:
	ion_http_resp_clear(&resp);
	json_decref(ans);
	return r;
}

int
ion_oidc_authorize(struct ion_http *h, const struct ion_cfg *cfg,
    const struct ion_provider *p, const char *state, const char *nonce,
    const char *code_challenge, char **ret_url, bool *ret_pushed,
    const char **why)
{
	struct ion_buf q;
	char *params = NULL, *uri = NULL, *query = NULL, *url = NULL;
	size_t plen = 0;
	bool push = cfg->par != ION_PAR_OFF && p->par_endpoint != NULL;
	int r = ION_ERR_NOMEM;

	*why = "out of memory";
	/*
	 * Neither configured nor discovered (config.c refuses this when there
	 * is no discovery).  A denial, not a config error: a discovery
	 * document that no longer names its PAR endpoint may be a downgrade
	 * by whoever can change what we fetch, and is not ours to fix.
	 */
	if (cfg->par == ION_PAR_REQUIRED && p->par_endpoint == NULL) {
		r = ION_ERR_AUTH;
		*why = "par = required but the provider offers no pushed "
		       "authorization requests";
		goto out;
	}
	if ((params = request_params(
		 cfg, state, nonce, code_challenge, &plen)) == NULL)
		goto out;
	if (!push) {
		if ((url = with_query(p, params)) == NULL)
			goto out;
	} else {
		if ((r = push_request(h, cfg, p, params, plen, &uri, why)) != 0)
			goto out;
		/*
		 * RFC 9126 section 4: client_id and request_uri only; the
		 * provider takes everything else from what we pushed.
		 */
		r = ION_ERR_NOMEM;
		ion_buf_init(&q, FORM_MAX);
		form_param(&q, "client_id", cfg->client_id);
		form_param(&q, "request_uri", uri);
		if ((query = ion_buf_steal(&q, NULL)) == NULL ||
		    (url = with_query(p, query)) == NULL) {
			*why = "out of memory";
			goto out;
		}
	}
	*ret_url = url;
	url = NULL; /* transferred */
	*ret_pushed = push;
	r = 0;
	*why = push ? "pushed" : "authorize URL";
out:
	free(params);
	free(uri);
	free(query);
	free(url);
	return r;
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

int
ion_oidc_exchange(struct ion_http *h, const struct ion_cfg *cfg,
    const struct ion_provider *p, const char *code, const char *verifier,
    struct ion_tokens *ret, const char **why)
{
	struct ion_tokens t;
	struct ion_http_resp resp;
	struct ion_buf form;
	json_t *ans = NULL;
	char *body = NULL;
	size_t len = 0;
	int r = ION_ERR_NOMEM;

	memset(&t, 0, sizeof(t));
	memset(&resp, 0, sizeof(resp));
	*why = "out of memory";
	ion_buf_init(&form, FORM_MAX);
	form_param(&form, "grant_type", "authorization_code");
	form_param(&form, "client_id", cfg->client_id);
	form_param(&form, "code", code);
	form_param(&form, "redirect_uri", cfg->redirect_uri);
	form_param(&form, "code_verifier", verifier);
	if ((body = ion_buf_steal(&form, &len)) == NULL)
		goto out;
	r = ion_http_post(h, p->token_endpoint,
	    "application/x-www-form-urlencoded", body, len, cfg->client_id,
	    cfg->client_secret, ION_OIDC_MAX_TOKEN_RESP, &resp);
	if (r != 0) {
		*why = r == ION_ERR_RANGE  ? "token response too large"
		    : r == ION_ERR_TIMEOUT ? "token endpoint timed out"
					   : "token endpoint unreachable";
		r = r == ION_ERR_RANGE	   ? ION_ERR_AUTH
		    : r == ION_ERR_TIMEOUT ? ION_ERR_TIMEOUT
					   : ION_ERR_UNAVAIL;
		goto out;
	}
	if (resp.status >= 500) {
		r = ION_ERR_UNAVAIL;
		*why = "token endpoint failed (5xx)";
		goto out;
	}
	if (resp.status == 400 || resp.status == 401) {
		r = ION_ERR_REFUSED;
		*why = "token endpoint refused the code";
		goto out;
	}
	r = ION_ERR_AUTH;
	if (resp.status != 200) {
		*why = "token endpoint answered an unexpected status";
		goto out;
	}
	ans = json_loadb(resp.body, resp.len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(ans)) {
		*why = "token response is not a JSON object";
		goto out;
	}
	if ((t.id_token = string_member(ans, "id_token")) == NULL) {
		*why = "token response has no id_token";
		goto out;
	}
	if (json_object_get(ans, "access_token") != NULL &&
	    (t.access_token = string_member(ans, "access_token")) == NULL) {
		*why = "token response has a malformed access_token";
		goto out;
	}
	*ret = t;
	memset(&t, 0, sizeof(t)); /* transferred */
	r = 0;
	*why = "exchanged";
out:
	ion_tokens_clear(&t);
	ion_http_resp_clear(&resp);
	json_decref(ans);
	if (body != NULL) {
		ion_scrub(body, len);
		free(body);
	}
	return r;
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
		*why = "id_token is not a compact JWS";
		r = ION_ERR_AUTH;
		goto out;
	}
	if ((r = fetch_doc(h, cfg, p->jwks_uri, false, &jwks, &cached, why)) !=
	    0)
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
		if ((r = fetch_doc(
			 h, cfg, p->jwks_uri, true, &jwks, &cached, why)) != 0)
			goto out;
		r = ion_jws_verify(jws, jwks, cfg->allowed_algs);
	}
	if (r != 0) {
		*why = r == ION_ERR_NOT_FOUND
		    ? "id_token signed with an unknown key"
		    : r == ION_ERR_INVALID ? "key set malformed"
		    : r == ION_ERR_EXISTS
		    ? "key set has two keys with the token's kid"
		    : "id_token signature or algorithm refused";
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
	if (r != 0) {
		*why = r == ION_ERR_TIMEOUT ? "userinfo endpoint timed out"
		    : r == ION_ERR_RANGE    ? "userinfo too large"
					    : "userinfo endpoint unreachable";
		r = r == ION_ERR_TIMEOUT ? ION_ERR_TIMEOUT
		    : r == ION_ERR_RANGE ? ION_ERR_AUTH
					 : ION_ERR_UNAVAIL;
		goto out;
	}
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
