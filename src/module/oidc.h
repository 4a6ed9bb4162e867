/*
 * The provider side of a sign-in, in plain OAuth 2.0 / OpenID Connect:
 * discovery (cached on disk), the authorize URL (pushed first, RFC 9126,
 * when the provider offers it), the token exchange with
 * client_secret_basic and PKCE, the key set (cached, refetched once for an
 * unknown kid), id_token verification, and userinfo.
 *
 * Each function that takes why sets *why (a static, log-safe sentence)
 * when it fails, and only then: on success *why is left as it was.
 */
#ifndef ION_OIDC_H
#define ION_OIDC_H

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "config.h"
#include "http.h"
#include "relay_proto.h"

#define ION_OIDC_MAX_DOC (256 * 1024) /* discovery, JWKS, userinfo */
#define ION_OIDC_MAX_TOKEN_RESP (64 * 1024)
/* A PAR request_uri as the relay accepts it: see relay_proto.h. */
#define ION_OIDC_REQUEST_URI_PREFIX ION_RELAY_REQUEST_URI_PREFIX
#define ION_OIDC_REQUEST_URI_MAX ION_RELAY_REQUEST_URI_MAX

struct ion_provider {
	char *issuer;
	char *authorization_endpoint;
	char *token_endpoint;
	char *jwks_uri;
	char *userinfo_endpoint; /* NULL when the provider has none */
	char *par_endpoint;	 /* RFC 9126; NULL when not offered */
	/* RFC 9207: authorization responses carry iss; one without is refused
	 */
	bool iss_parameter_supported;
	/*
	 * What discovery advertises (arrays of strings; NULL when absent or
	 * malformed).  Advice for pam-ion check only: no sign-in decides
	 * anything on them.
	 */
	json_t *acr_values_supported;
	json_t *claims_supported;
};

/*
 * The provider's endpoints: the configured ones, the rest from discovery
 * ({issuer}/.well-known/openid-configuration, whose "issuer" must equal the
 * configured issuer exactly), through the disk cache.  No request is made
 * when the cache is fresh, nor when every endpoint is configured
 * (ion_cfg_needs_discovery() false: then the PAR endpoint is par_endpoint
 * or none, and there is no RFC 9207 promise).  Discovery also yields
 * pushed_authorization_request_endpoint (an allowed URL, like the others;
 * par_endpoint overrides it) and
 * authorization_response_iss_parameter_supported (a boolean); either
 * malformed makes the document malformed.
 * ION_ERR_UNAVAIL / ION_ERR_TIMEOUT when discovery cannot be fetched;
 * ION_ERR_AUTH when it is malformed or names another issuer; *why says
 * which, log-safe.
 */
int ion_oidc_discover(struct ion_http *h, const struct ion_cfg *cfg,
    struct ion_provider **ret, const char **why);
void ion_provider_free(struct ion_provider **p);

/*
 * A provider document (discovery, JWKS) at url through the disk cache
 * (cache.h), unless force: fresh from the cache, else fetched and stored.
 * *ret_cached tells whether the body came from the cache.  0 with
 * *ret_body malloc'd; ION_ERR_UNAVAIL / ION_ERR_TIMEOUT (no answer, or not
 * 200) with *why set, log-safe.
 */
int ion_oidc_fetch_doc(struct ion_http *h, const struct ion_cfg *cfg,
    const char *url, bool force, char **ret_body, bool *ret_cached,
    const char **why);

/*
 * The token request's form body for code and verifier (grant_type,
 * client_id, code, redirect_uri, code_verifier; malloc'd, it holds the
 * code), or NULL.  *ret_len (when not NULL) is its length.
 */
char *ion_oidc_token_form(const struct ion_cfg *cfg, const char *code,
    const char *verifier, size_t *ret_len);

/*
 * The authorize URL with the request in its query: response_type=code,
 * client_id, redirect_uri, scope, state, nonce, code_challenge (S256).
 * malloc'd, NULL when out of memory.
 */
char *ion_oidc_authorize_url(const struct ion_cfg *cfg,
    const struct ion_provider *p, const char *state, const char *nonce,
    const char *code_challenge);

/*
 * The authorize URL for this sign-in, as cfg->par decides.  With par =
 * auto or required and a PAR endpoint: the same parameters are POSTed
 * there with client_secret_basic (RFC 9126), and the URL is
 * {authorization_endpoint}?client_id=ID&request_uri=URI, nothing else, so
 * nobody on the way (the relay included) can change the request.  Without
 * an endpoint, par = auto and par = off give ion_oidc_authorize_url()'s URL
 * and par = required fails.  *ret_url is malloc'd; *ret_pushed tells
 * whether the request was pushed.  ION_ERR_UNAVAIL when the PAR endpoint
 * cannot be reached, times out or answers 5xx; ION_ERR_AUTH for par =
 * required without an endpoint, a 4xx, or an answer that is not a JSON
 * object with a string request_uri and a positive integer expires_in, and
 * (*why "PAR response's request_uri is not a
 * urn:ietf:params:oauth:request_uri: value the relay accepts") for a
 * request_uri that is not ION_OIDC_REQUEST_URI_PREFIX and at least one
 * more printable ASCII character, no spaces, at most
 * ION_OIDC_REQUEST_URI_MAX characters: the relay would refuse the URL.
 */
int ion_oidc_authorize(struct ion_http *h, const struct ion_cfg *cfg,
    const struct ion_provider *p, const char *state, const char *nonce,
    const char *code_challenge, char **ret_url, bool *ret_pushed,
    const char **why);

/*
 * RFC 9207 on the authorization response's iss (NULL when it had none):
 * when present it must equal the issuer exactly; when absent, the provider
 * must not have promised it (authorization_response_iss_parameter_
 * supported).  0, or ION_ERR_AUTH with *why "authorization response
 * without iss" or "authorization response from another issuer (iss)".
 */
int ion_oidc_check_iss(
    const struct ion_provider *p, const char *iss, const char **why);

struct ion_tokens {
	char *id_token;	    /* scrubbed on clear */
	char *access_token; /* NULL when absent; scrubbed on clear */
};

/*
 * Exchanges code at the token endpoint: form body grant_type, client_id,
 * code, redirect_uri, code_verifier; HTTP Basic client authentication.
 * ION_ERR_REFUSED for an OAuth error answer (invalid_grant, …),
 * ION_ERR_AUTH for a malformed answer or one without id_token,
 * ION_ERR_UNAVAIL / ION_ERR_TIMEOUT when the endpoint cannot be reached or
 * answers 5xx.
 */
int ion_oidc_exchange(struct ion_http *h, const struct ion_cfg *cfg,
    const struct ion_provider *p, const char *code, const char *verifier,
    struct ion_tokens *ret, const char **why);
void ion_tokens_clear(struct ion_tokens *t);

/*
 * Verifies id_token: signature against the provider's key set (from the
 * cache, refetched once when the token names an unknown kid, or the set is
 * malformed or has two keys with one kid, and the set came from the cache;
 * never twice in one sign-in), then the claims
 * (src/idtoken.h).  On success
 * *ret_claims holds the claims (new reference).  ION_ERR_AUTH for an
 * invalid token, ION_ERR_UNAVAIL / ION_ERR_TIMEOUT when the key set cannot
 * be fetched.
 */
int ion_oidc_verify(struct ion_http *h, const struct ion_cfg *cfg,
    const struct ion_provider *p, const char *id_token, const char *nonce,
    time_t login_started, json_t **ret_claims, const char **why);

/*
 * Fetches userinfo with the access token and merges the claims the
 * id_token lacks (its sub must match; email and email_verified as a pair,
 * see ion_idtoken_merge_userinfo()).  Errors as ion_oidc_exchange().
 */
int ion_oidc_userinfo(struct ion_http *h, const struct ion_provider *p,
    const char *access_token, json_t *claims, const char **why);

#endif
