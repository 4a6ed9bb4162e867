#include "routes.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b64url.h"
#include "crypto.h"
#include "errors.h"
#include "log.h"
#include "pages.h"
#include "relay_proto.h"
#include "url.h"

#define JSON_TYPE "application/json"
#define HTML_TYPE "text/html; charset=utf-8"
#define TEXT_TYPE "text/plain; charset=utf-8"
#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

#define PATH_HEALTHZ "/healthz"
#define PATH_METRICS "/metrics"

/* What the suppressed lines of a kind are called in the log. */
#define KEY_REFUSALS "requests refused for their client key"
#define BUSY_REFUSALS "polls refused for --max-parked"

#define CODE_MAX 1024
#define ERROR_MAX 128
#define TEXT_MAX 1024

/* Context field caps: a DNS name, a login name, a service name. */
#define HOST_MAX 255
#define USER_MAX 256
#define RHOST_MAX 255
#define SERVICE_MAX 64

static void
set_body(struct relay_response *resp, unsigned status, const char *type,
    char *body, size_t len)
{
	free(resp->body);
	resp->status = body != NULL ? status : 500;
	resp->content_type = body != NULL ? type : TEXT_TYPE;
	resp->body = body;
	resp->body_len = body != NULL ? len : 0;
}

static void
json_answer(struct relay_response *resp, unsigned status, json_t *obj)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

	json_decref(obj);
	set_body(resp, status, JSON_TYPE, text, text ? strlen(text) : 0);
}

/*
 * A JSON refusal {"error", "error_description"}, counted by reason; error
 * is the reason's name unless given.
 */
static void
json_reject_as(struct relay_app *app, struct relay_response *resp,
    unsigned status, enum relay_reject reason, const char *error,
    const char *description)
{
	atomic_fetch_add(&app->metrics.rejections[reason], 1);
	json_answer(resp, status,
	    json_pack("{s:s, s:s}", ION_RELAY_J_ERROR,
		error != NULL ? error : relay_reject_name(reason),
		ION_RELAY_J_ERROR_DESCRIPTION, description));
}

static void
json_reject(struct relay_app *app, struct relay_response *resp, unsigned status,
    enum relay_reject reason, const char *description)
{
	json_reject_as(app, resp, status, reason, NULL, description);
}

static void
reject_client_key(struct relay_app *app, struct relay_response *resp)
{
	/* Counted apart from a bad Bearer, answered alike: "unauthorized". */
	json_reject_as(app, resp, 401, RELAY_REJECT_CLIENT_KEY,
	    relay_reject_name(RELAY_REJECT_UNAUTHORIZED),
	    "send this host's relay key as " ION_RELAY_CLIENT_KEY_HEADER);
}

/*
 * The client behind the request's key.  Every /v1 request needs one, and
 * it is checked before anything else is read: only PAM hosts may register
 * logins (or the relay hosts pages anyone writes and fills up) and
 * collect codes.  Otherwise answers 401 and returns false.
 */
static bool
authenticate(struct relay_app *app, const struct relay_request *req,
    struct relay_response *resp, struct relay_client *ret)
{
	if (req->client_key != NULL &&
	    relay_clients_find(app->clients, req->client_key, ret))
		return true;
	reject_client_key(app, resp);
	/*
	 * Never the key itself: a mistyped key is close to the right one.
	 * Anyone can send these, so at most a few lines a second; the
	 * metric still counts every one.
	 */
	relay_log_limited(&app->key_refusal_log, KEY_REFUSALS, RELAY_LOG_WARN,
	    "refused a request to %s from %s: %s",
	    strcmp(req->path, ION_RELAY_PATH_LOGINS) == 0
		? ION_RELAY_PATH_LOGINS
		: ION_RELAY_PATH_RESULT,
	    req->client,
	    req->client_key == NULL ? "no " ION_RELAY_CLIENT_KEY_HEADER
				    : "unknown client key");
	return false;
}

/* An HTML refusal for the phone, counted by reason. */
static void
page_reject(struct relay_app *app, struct relay_response *resp, unsigned status,
    enum relay_reject reason, const char *title, const char *text)
{
	size_t len = 0;
	char *page;

	atomic_fetch_add(&app->metrics.rejections[reason], 1);
	page = relay_page_message(title, text, &len);
	set_body(resp, status, HTML_TYPE, page, len);
}

/*
 * Text a person will read on the landing page: valid UTF-8 (jansson checked
 * that), no control characters, and none of the invisible direction marks
 * that could make "root" read as something else.
 */
static bool
is_display_text(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);

	if (len > max)
		return false;
	for (; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return false;
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			return false; /* C1 controls */
		if (p[0] == 0xd8 && p[1] == 0x9c)
			return false; /* U+061C arabic letter mark */
		if (p[0] == 0xe2 && p[1] == 0x80 &&
		    ((p[2] >= 0x8e && p[2] <= 0x8f) ||
			(p[2] >= 0xaa && p[2] <= 0xae)))
			return false; /* U+200E/F, U+202A-E */
		if (p[0] == 0xe2 && p[1] == 0x81 && p[2] >= 0xa6 &&
		    p[2] <= 0xa9)
			return false; /* U+2066-9 */
		if (p[0] == 0xe2 && p[1] == 0x80 &&
		    ((p[2] >= 0x8b && p[2] <= 0x8d) || p[2] == 0xa8 ||
			p[2] == 0xa9))
			return false; /* U+200B-D zero width, U+2028/9 */
		if (p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
			return false; /* U+FEFF */
		if (p[0] == 0xf3 && p[1] == 0xa0 &&
		    (p[2] == 0x80 || p[2] == 0x81))
			return false; /* U+E0000-E007F tag characters */
	}
	return true;
}

static bool
is_printable_ascii(const char *s, size_t min, size_t max)
{
	size_t len = strlen(s), i;

	if (len < min || len > max)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

static bool
content_type_is_json(const char *ct)
{
	size_t n = strlen(JSON_TYPE);

	if (ct == NULL || strncasecmp(ct, JSON_TYPE, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* Reads context.KEY as a display string; absent is "" unless required. */
static bool
context_field(
    json_t *ctx, const char *key, bool required, size_t max, const char **ret)
{
	json_t *v = json_object_get(ctx, key);

	if (v == NULL) {
		*ret = "";
		return !required;
	}
	if (!json_is_string(v))
		return false;
	*ret = json_string_value(v);
	if (required && (*ret)[0] == '\0')
		return false;
	return is_display_text(*ret, max);
}

static bool
only_keys(json_t *obj, const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		const char *const *a;

		(void)v;
		for (a = allowed; *a != NULL; a++)
			if (strcmp(*a, key) == 0)
				break;
		if (*a == NULL)
			return false;
	}
	return true;
}

/* The state that belongs to the request's "Authorization: Bearer P". */
static bool
bearer_state(const struct relay_request *req, char state[RELAY_STATE_LEN + 1])
{
	const char *auth = req->authorization;

	return auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0 &&
	    ion_state_from_secret(auth + 7, strlen(auth + 7), state) == 0;
}

/*
 * Sorts out request objects (OIDC Core 6, RFC 9101).  A request object,
 * by value (request) or by reference (request_uri), carries parameters of
 * its own that override the query's: state, nonce, code_challenge.  The
 * relay checks the query's state and nonce, so it must see everything the
 * provider will act on.  Hence no request= anywhere, and request_uri only
 * as a pushed authorization request's URL (RFC 9126): exactly one
 * request_uri, in the urn form a PAR endpoint hands out (anything else,
 * https above all, is a request object the provider fetches from where the
 * URL says), and one non-empty client_id, and nothing else.  On a PAR URL
 * writes the decoded request_uri to ret_uri (ION_RELAY_REQUEST_URI_MAX + 1
 * bytes) and its length to ret_uri_len.  ret_par says whether u is one;
 * false return: refused (answered in resp).
 */
static bool
check_par(struct relay_app *app, const struct ion_url *u,
    struct relay_response *resp, char *ret_uri, size_t *ret_uri_len,
    bool *ret_par)
{
	unsigned nobj, nreq, ncid, nall;
	bool obj_empty, req_empty, cid_empty;
	size_t len = 0;
	int r;

	*ret_par = false;
	if (ion_url_param(u, "request", "", &nobj, &obj_empty) != 0 ||
	    ion_url_param(u, "request_uri", "", &nreq, &req_empty) != 0 ||
	    ion_url_param(u, "client_id", "", &ncid, &cid_empty) != 0 ||
	    ion_url_count_params(u, &nall) != 0) {
		json_reject(app, resp, 400, RELAY_REJECT_BAD_REQUEST,
		    "authorize_url has a malformed percent escape");
		return false;
	}
	if (nobj != 0) {
		json_reject(app, resp, 403, RELAY_REJECT_URL_NOT_ALLOWED,
		    "authorize_url must not carry a request object "
		    "(request): its state, nonce and code_challenge would "
		    "override the ones the relay checks; push the request "
		    "(PAR) instead");
		return false;
	}
	if (nreq == 0)
		return true;
	/*
	 * Anything next to request_uri would be ignored by the provider or
	 * read differently by someone: the pushed request alone says what
	 * is asked for.
	 */
	if (nreq != 1 || req_empty || ncid != 1 || cid_empty || nall != 2) {
		json_reject(app, resp, 403, RELAY_REJECT_URL_NOT_ALLOWED,
		    "an authorize_url with request_uri (a pushed "
		    "authorization request) must carry exactly one "
		    "request_uri and one client_id and no other parameter");
		return false;
	}
	r = ion_url_param_get(
	    u, "request_uri", ret_uri, ION_RELAY_REQUEST_URI_MAX + 1, &len);
	if (r != 0 || !ion_relay_request_uri_ok(ret_uri, len)) {
		json_reject(app, resp, 403, RELAY_REJECT_URL_NOT_ALLOWED,
		    "a pushed authorization request's request_uri must be "
		    "\"" ION_RELAY_REQUEST_URI_PREFIX "\" and more (RFC 9126), "
		    "printable and at most 512 characters; any other "
		    "request_uri is a request object the provider fetches, "
		    "which the relay cannot check");
		return false;
	}
	*ret_uri_len = len;
	*ret_par = true;
	return true;
}

/*
 * The parameters pam_ion puts in an authorize URL that is not pushed
 * (request_params() in src/oidc.c), and no others.  A provider acts on
 * every parameter it knows, and some (ASP.NET-based ones) read names in
 * any case: "Request_Uri" or "STATE" next to the "state" the relay
 * checked would be theirs to honour.  What a name may be is therefore a
 * list, matched exactly after percent-decoding, each name at most once.
 * A parameter the module comes to send joins the list in the same
 * release.  acr_values, max_age and prompt are the access rules'
 * requests (pam_ion.conf(5)), with the values the module sends
 * (param_value_ok()): no host can have the relay carry prompt=none (a
 * sign-in that shows nothing), nor an acr_values some providers read as
 * an instruction of another kind.
 */
static const char *const authorize_params[] = { "response_type", "client_id",
	"redirect_uri", "scope", "state", "nonce", "code_challenge",
	"code_challenge_method", "acr_values", "max_age", "prompt", NULL };

#define AUTHORIZE_PARAMS_TEXT                                                  \
	"response_type, client_id, redirect_uri, scope, state, nonce, "        \
	"code_challenge, code_challenge_method, acr_values, max_age, prompt"
#define MAX_AGE_MAX 31536000 /* pam_ion.conf(5) */

/*
 * Whether the value of an allowed parameter is one pam_ion sends: prompt
 * only login; max_age a number up to a year, no leading zero; acr_values
 * words of printable ASCII without '"' or '\\' (as config.c takes them)
 * separated by single spaces.
 */
static bool
param_value_ok(const char *name, const char *value, size_t vlen)
{
	unsigned long n = 0;
	size_t i;

	if (strcmp(name, "prompt") == 0)
		return vlen == 5 && memcmp(value, "login", 5) == 0;
	if (strcmp(name, "max_age") == 0) {
		for (i = 0; i < vlen && i < 9; i++) {
			if (value[i] < '0' || value[i] > '9')
				return false;
			n = n * 10 + (unsigned long)(value[i] - '0');
		}
		return vlen > 0 && i == vlen &&
		    (value[0] != '0' || vlen == 1) && n <= MAX_AGE_MAX;
	}
	if (strcmp(name, "acr_values") == 0) {
		for (i = 0; i < vlen; i++)
			if (value[i] == ' '
				? i == 0 || i + 1 == vlen || value[i - 1] == ' '
				: value[i] < 0x21 || value[i] > 0x7e ||
				    value[i] == '"' || value[i] == '\\')
				return false;
		return vlen > 0;
	}
	return true;
}

/*
 * A decoded name or value a provider could read as something else: NUL
 * (C strings end there), C0 and C1 controls and DEL (line ends, escapes).
 * A space is fine: scope is "openid profile" and pam_ion sends its spaces
 * as '+'.  The relay leaves '+' undecoded, which changes nothing here: as
 * '+' or as a space it is allowed in a value, and no allowed name holds
 * either.
 */
static bool
has_control(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			return true;
		if (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 &&
		    p[i + 1] <= 0x9f)
			return true;
	}
	return false;
}

/*
 * Every parameter of u free of control characters, and on a URL that is
 * not pushed (par false) only names of authorize_params, each at most
 * once; the counts of state and nonce are checked after.  An empty part
 * ("a=1&&b=2") names nothing and is passed over.  false: refused
 * (answered in resp).
 */
static bool
check_params(struct relay_app *app, const struct ion_url *u, bool par,
    struct relay_response *resp)
{
	char name[ION_URL_MAX + 1], value[ION_URL_MAX + 1];
	unsigned seen[sizeof(authorize_params) / sizeof(authorize_params[0])];
	size_t pos = 0, nlen, vlen, i;
	int r;

	memset(seen, 0, sizeof(seen));
	while (
	    (r = ion_url_param_next(u, &pos, name, &nlen, value, &vlen)) == 0) {
		if (has_control(name, nlen) || has_control(value, vlen)) {
			json_reject(app, resp, 403,
			    RELAY_REJECT_URL_NOT_ALLOWED,
			    "authorize_url's parameter names and values must "
			    "not hold NUL or control characters once "
			    "percent-decoded (values may hold spaces)");
			return false;
		}
		if (par || (nlen == 0 && vlen == 0))
			continue;
		for (i = 0; authorize_params[i] != NULL; i++)
			if (strlen(authorize_params[i]) == nlen &&
			    memcmp(authorize_params[i], name, nlen) == 0)
				break;
		if (authorize_params[i] == NULL || seen[i]++ > 0) {
			json_reject(app, resp, 403,
			    RELAY_REJECT_URL_NOT_ALLOWED,
			    "authorize_url may carry only the parameters "
			    "pam_ion sends (" AUTHORIZE_PARAMS_TEXT "), each "
			    "at most once and spelt exactly so: some "
			    "providers read names in any case, and would act "
			    "on one the relay did not check");
			return false;
		}
		if (!param_value_ok(authorize_params[i], value, vlen)) {
			json_reject(app, resp, 403,
			    RELAY_REJECT_URL_NOT_ALLOWED,
			    "authorize_url's prompt may only be login, its "
			    "max_age a number of seconds up to 31536000 and "
			    "its acr_values printable ASCII words, as pam_ion "
			    "sends them");
			return false;
		}
	}
	if (r != ION_ERR_NOT_FOUND) {
		json_reject(app, resp, 400, RELAY_REJECT_BAD_REQUEST,
		    "authorize_url has a malformed percent escape");
		return false;
	}
	return true;
}

static void
reject_bearer(struct relay_app *app, struct relay_response *resp)
{
	resp->www_authenticate = "Bearer";
	json_reject(app, resp, 401, RELAY_REJECT_UNAUTHORIZED,
	    "send the poll secret as Authorization: Bearer");
}

/*
 * The body of POST ION_RELAY_PATH_LOGINS: a JSON object of the known
 * members.  NULL: refused (answered in resp).  The caller frees it.
 */
static json_t *
register_body(struct relay_app *app, const struct relay_request *req,
    struct relay_response *resp)
{
	static const char *const top_keys[] = { ION_RELAY_J_STATE,
		ION_RELAY_J_AUTHORIZE_URL, ION_RELAY_J_CONTEXT,
		ION_RELAY_J_CONFIRM, NULL };
	json_error_t jerr;
	json_t *root;

	if (req->body_too_large) {
		json_reject(app, resp, 413, RELAY_REJECT_TOO_LARGE,
		    "the body is larger than 8192 bytes");
		return NULL;
	}
	if (!content_type_is_json(req->content_type)) {
		json_reject(app, resp, 415, RELAY_REJECT_UNSUPPORTED_MEDIA_TYPE,
		    "Content-Type must be application/json");
		return NULL;
	}
	root =
	    json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(root) || !only_keys(root, top_keys)) {
		json_decref(root);
		json_reject(app, resp, 400, RELAY_REJECT_BAD_REQUEST,
		    "expected a JSON object with state, authorize_url, "
		    "context and optionally confirm");
		return NULL;
	}
	return root;
}

/*
 * spec->state from the body, sent by the holder of its poll secret.
 * false: refused (answered in resp).
 */
static bool
spec_state(struct relay_app *app, const struct relay_request *req, json_t *root,
    struct relay_response *resp, struct relay_login_spec *spec)
{
	json_t *v = json_object_get(root, ION_RELAY_J_STATE);
	char polled[RELAY_STATE_LEN + 1];

	spec->state = json_is_string(v) ? json_string_value(v) : NULL;
	if (!relay_state_ok(spec->state)) {
		json_reject(app, resp, 400, RELAY_REJECT_BAD_STATE,
		    "state must be 43 base64url characters");
		return false;
	}
	/*
	 * Only the holder of the poll secret may register its state: nobody
	 * can then register a state seen on a screen again once its login
	 * is collected or expired, and give a later poll a second result.
	 */
	if (!bearer_state(req, polled)) {
		reject_bearer(app, resp);
		return false;
	}
	if (!ion_ct_equal(polled, spec->state, RELAY_STATE_LEN)) {
		json_reject(app, resp, 403, RELAY_REJECT_STATE_MISMATCH,
		    "state is not the SHA-256 of the poll secret");
		return false;
	}
	return true;
}

/*
 * Reads the body of a registration into spec, whose strings point into
 * root; the authorize URL is only known to be a non-empty string.  false:
 * refused (answered in resp).
 */
static bool
parse_spec(struct relay_app *app, const struct relay_request *req,
    const struct relay_client *client, json_t *root,
    struct relay_response *resp, struct relay_login_spec *spec)
{
	static const char *const ctx_keys[] = { ION_RELAY_J_HOST,
		ION_RELAY_J_USER, ION_RELAY_J_RHOST, ION_RELAY_J_SERVICE,
		NULL };
	json_t *ctx, *v;

	memset(spec, 0, sizeof(*spec));
	spec->client = client->hash;
	/* The pages show who registered, beside the host it claims to be. */
	spec->client_name = client->name;
	if (!spec_state(app, req, root, resp, spec))
		return false;
	ctx = json_object_get(root, ION_RELAY_J_CONTEXT);
	if (!json_is_object(ctx) || !only_keys(ctx, ctx_keys) ||
	    !context_field(
		ctx, ION_RELAY_J_HOST, true, HOST_MAX, &spec->host) ||
	    !context_field(
		ctx, ION_RELAY_J_USER, false, USER_MAX, &spec->user) ||
	    !context_field(
		ctx, ION_RELAY_J_RHOST, false, RHOST_MAX, &spec->rhost) ||
	    !context_field(
		ctx, ION_RELAY_J_SERVICE, true, SERVICE_MAX, &spec->service)) {
		json_reject(app, resp, 400, RELAY_REJECT_BAD_REQUEST,
		    "context must hold host and service (and may hold user "
		    "and rhost): short strings without control characters");
		return false;
	}
	v = json_object_get(root, ION_RELAY_J_CONFIRM);
	if (v != NULL && !json_is_boolean(v)) {
		json_reject(app, resp, 400, RELAY_REJECT_BAD_REQUEST,
		    "confirm must be true or false");
		return false;
	}
	spec->confirm = v == NULL || json_is_true(v);
	v = json_object_get(root, ION_RELAY_J_AUTHORIZE_URL);
	spec->authorize_url = json_is_string(v) ? json_string_value(v) : NULL;
	if (spec->authorize_url == NULL || spec->authorize_url[0] == '\0') {
		json_reject(app, resp, 400, RELAY_REJECT_BAD_REQUEST,
		    "authorize_url must be a non-empty string");
		return false;
	}
	return true;
}

/*
 * The state and nonce of an authorize URL that is not pushed: exactly one
 * each, equal to the registered state and the nonce derived from it.
 * false: refused (answered in resp).
 */
static bool
check_state_nonce(struct relay_app *app, const struct ion_url *u,
    const char *state, struct relay_response *resp)
{
	char nonce[ION_TOKEN_CHARS + 1];
	unsigned count;
	bool all_equal;

	if (ion_url_param(u, "state", state, &count, &all_equal) != 0) {
		json_reject(app, resp, 400, RELAY_REJECT_BAD_REQUEST,
		    "authorize_url has a malformed percent escape");
		return false;
	}
	if (count != 1 || !all_equal) {
		json_reject(app, resp, 403, RELAY_REJECT_STATE_MISMATCH,
		    "authorize_url must carry exactly one state parameter, "
		    "equal to state");
		return false;
	}
	/*
	 * The nonce must be the one derived from the state.  Otherwise
	 * anyone could register another state with a copy of this login's
	 * authorize URL, have the person sign in through it, and bring the
	 * code over to this login: PKCE and nonce would still match.  With
	 * the nonce tied to the state, such a code fails the module's check.
	 */
	if (ion_nonce_from_state(state, nonce) != 0 ||
	    ion_url_param(u, "nonce", nonce, &count, &all_equal) != 0 ||
	    count != 1 || !all_equal) {
		json_reject(app, resp, 403, RELAY_REJECT_NONCE_MISMATCH,
		    "authorize_url must carry exactly one nonce parameter, "
		    "b64url(SHA-256(\"pam_ion-nonce\" || state))");
		return false;
	}
	return true;
}

static bool
under_a_prefix(const struct relay_opts *o, const struct ion_url *u)
{
	size_t i;

	for (i = 0; i < o->nprefixes; i++)
		if (ion_url_under_prefix(u, &o->prefix_urls[i]))
			return true;
	return false;
}

/*
 * The rules for spec->authorize_url: under an allowed prefix, only the
 * parameters pam_ion sends, and the state and nonce of this login unless
 * it is a pushed request, whose decoded request_uri then goes to
 * request_uri (ION_RELAY_REQUEST_URI_MAX + 1 bytes) and spec.  false:
 * refused (answered in resp).
 */
static bool
check_authorize_url(struct relay_app *app, struct relay_login_spec *spec,
    char *request_uri, struct relay_response *resp)
{
	struct ion_url u;
	bool par;
	int r;

	/* User info and dot segments are ways around a prefix: not allowed. */
	r = ion_url_parse(spec->authorize_url, &u);
	if (r == ION_ERR_DENIED) {
		json_reject(app, resp, 403, RELAY_REJECT_URL_NOT_ALLOWED,
		    "authorize_url has user info, dot segments, ';' or an "
		    "escaped '.', '/', '\\', '%' or high byte in its path");
		return false;
	}
	if (r != 0 || u.has_fragment) {
		json_reject(app, resp, 400, RELAY_REJECT_BAD_REQUEST,
		    "authorize_url must be an absolute http(s) URL of at most "
		    "4096 characters without white space, control characters "
		    "or fragment");
		return false;
	}
	if (!under_a_prefix(app->opts, &u)) {
		json_reject(app, resp, 403, RELAY_REJECT_URL_NOT_ALLOWED,
		    "authorize_url is not under an allowed prefix");
		return false;
	}
	/*
	 * We split the query at '&' only; some servers also split at ';'.
	 * "x=1;nonce=A&nonce=N" would then hold one nonce for us and two
	 * for them, and which one wins is theirs to choose.
	 */
	if (u.query != NULL && memchr(u.query, ';', u.query_len) != NULL) {
		json_reject(app, resp, 403, RELAY_REJECT_URL_NOT_ALLOWED,
		    "authorize_url's query must not hold ';' (some servers "
		    "split parameters at it, and would read another state or "
		    "nonce than the relay checked); escape it as %3B");
		return false;
	}
	if (!check_par(
		app, &u, resp, request_uri, &spec->request_uri_len, &par) ||
	    !check_params(app, &u, par, resp))
		return false;
	/*
	 * A pushed request binds state, nonce, PKCE challenge and
	 * redirect_uri at the provider, which refuses any change to them.
	 * A client that pushes a request of its own under another state gets
	 * its code at that state's callback, and the memory of used codes
	 * keeps it from being brought here.
	 */
	if (par) {
		spec->request_uri = request_uri;
		return true;
	}
	return check_state_nonce(app, &u, spec->state, resp);
}

/*
 * The store's server cannot be reached: 503, and the module (or the
 * phone's browser) comes back in retry_after seconds.  The relay logs
 * the outage itself, once (store_redis.c), not per request.
 */
static void
reject_unavailable(
    struct relay_app *app, struct relay_response *resp, unsigned retry_after)
{
	resp->retry_after = retry_after;
	json_reject(app, resp, 503, RELAY_REJECT_STORE_UNAVAILABLE,
	    "the relay's store is unavailable; try again shortly");
}

static void
page_unavailable(struct relay_app *app, struct relay_response *resp)
{
	resp->retry_after = 5;
	page_reject(app, resp, 503, RELAY_REJECT_STORE_UNAVAILABLE,
	    "Try again shortly",
	    "The sign-in service is briefly unavailable. Reload this page "
	    "in a few seconds.");
}

/* Answers a registration that relay_store_add() refused with r. */
static void
refuse_login(struct relay_app *app, const struct relay_request *req,
    const struct relay_client *client, const struct relay_login_spec *spec,
    int r, struct relay_response *resp)
{
	unsigned long max = app->opts->max_pending;
	size_t count;

	switch (r) {
	case ION_ERR_EXISTS:
		json_reject(app, resp, 409, RELAY_REJECT_STATE_EXISTS,
		    "a login with this state exists");
		return;
	case ION_ERR_USED:
		/* See relay_store_add(): another landing page, likely. */
		json_reject(app, resp, 409, RELAY_REJECT_REQUEST_URI_REUSED,
		    "this pushed authorization request (request_uri) is "
		    "already registered for a login; push a new one");
		relay_log(RELAY_LOG_WARN,
		    "refused a login from %s by client %s: its request_uri "
		    "was already registered (a pushed request re-registered?)",
		    req->client, client->name);
		return;
	case ION_ERR_FULL:
		resp->retry_after = 5;
		json_reject(app, resp, 503, RELAY_REJECT_FULL,
		    "too many logins are pending; try again shortly");
		/* Read again outside the store's lock: only for the log. */
		count = relay_store_count(app->store);
		if (count < max && relay_store_remote(app->store))
			relay_log(RELAY_LOG_WARN,
			    "refused a login from %s: the store's server is "
			    "out of memory (its maxmemory)",
			    req->client);
		else if (count < max && spec->request_uri != NULL)
			relay_log(RELAY_LOG_WARN,
			    "refused a login from %s: too many used codes "
			    "and request_uris remembered (%lu)",
			    req->client, max * RELAY_USED_CODES_PER_LOGIN);
		else
			relay_log(RELAY_LOG_WARN,
			    "refused a login from %s: --max-pending (%lu) "
			    "reached",
			    req->client, max);
		return;
	case ION_ERR_UNAVAIL:
		reject_unavailable(app, resp, 5);
		return;
	default:
		json_answer(resp, 500,
		    json_pack("{s:s}", ION_RELAY_J_ERROR, "internal_error"));
		relay_log(RELAY_LOG_ERR, "could not store a login: %s",
		    ion_strerror(r));
	}
}

/* Stores a checked login and answers with its link. */
static void
store_login(struct relay_app *app, const struct relay_request *req,
    const struct relay_client *client, const struct relay_login_spec *spec,
    struct relay_response *resp)
{
	const struct relay_opts *o = app->opts;
	char link_id[ION_RELAY_LINK_ID_LEN + 1], link[RELAY_LINK_MAX + 1];
	char qhost[80], quser[80], qsvc[80];
	int r;

	if ((r = relay_store_add(app->store, spec, link_id)) != 0) {
		refuse_login(app, req, client, spec, r, resp);
		return;
	}
	atomic_fetch_add(&app->metrics.registrations, 1);
	snprintf(link, sizeof(link), "%s" ION_RELAY_PATH_LINK "%s",
	    o->public_url, link_id);
	json_answer(resp, 201,
	    json_pack("{s:s, s:I}", ION_RELAY_J_LINK, link,
		ION_RELAY_J_EXPIRES_IN, (json_int_t)o->ttl));
	relay_log(RELAY_LOG_INFO,
	    "login %s registered by client %s from %s%s for %s on %s as %s",
	    link_id, client->name, req->client,
	    spec->request_uri != NULL ? " (PAR)" : "",
	    relay_log_quote(spec->service, qsvc, sizeof(qsvc)),
	    relay_log_quote(spec->host, qhost, sizeof(qhost)),
	    relay_log_quote(spec->user, quser, sizeof(quser)));
}

static void
route_register(struct relay_app *app, const struct relay_request *req,
    const struct relay_client *client, struct relay_response *resp)
{
	char request_uri[ION_RELAY_REQUEST_URI_MAX + 1];
	struct relay_login_spec spec;
	json_t *root;

	if ((root = register_body(app, req, resp)) == NULL)
		return;
	if (parse_spec(app, req, client, root, resp, &spec) &&
	    check_authorize_url(app, &spec, request_uri, resp))
		store_login(app, req, client, &spec, resp);
	json_decref(root);
}

static void
route_link(struct relay_app *app, const char *id, struct relay_response *resp)
{
	struct relay_login_view *v = NULL;
	size_t len = 0;
	char *page;
	int r;

	r = relay_store_view_link(app->store, id, &v);
	if (r == ION_ERR_UNAVAIL) {
		page_unavailable(app, resp);
		return;
	}
	if (r == ION_ERR_USED) {
		page_reject(app, resp, 409, RELAY_REJECT_ALREADY_USED,
		    "Link already used",
		    "This sign-in link has already been used. Start a new "
		    "sign-in at the terminal if you need one.");
		return;
	}
	if (r != 0) {
		page_reject(app, resp, 404, RELAY_REJECT_UNKNOWN_LOGIN,
		    "Link unknown or expired",
		    "This sign-in link is unknown or has expired. Start a new "
		    "sign-in at the terminal; links last a few minutes.");
		return;
	}
	page = relay_page_landing(v, &len);
	set_body(resp, 200, HTML_TYPE, page, len);
	relay_log(RELAY_LOG_INFO, "login %s: landing page shown", v->link_id);
	free(v);
}

/* Finds a query parameter; more than one of the same name is an error. */
static bool
single_arg(const struct relay_request *req, const char *name, const char **ret)
{
	size_t i, n = 0;

	*ret = NULL;
	for (i = 0; i < req->nargs; i++)
		if (strcmp(req->args[i].name, name) == 0) {
			*ret = req->args[i].value ? req->args[i].value : "";
			n++;
		}
	return n <= 1;
}

/* Refuses a malformed callback; text ends with what to do next. */
static void
bad_callback(struct relay_app *app, struct relay_response *resp,
    enum relay_reject reason, const char *text)
{
	page_reject(app, resp, 400, reason, "Bad sign-in response", text);
}

/*
 * Reads the provider's redirect: state, and a code or an error, each at
 * most once and printable.  false: refused (answered in resp).
 */
static bool
callback_args(struct relay_app *app, const struct relay_request *req,
    struct relay_response *resp, const char **ret_state,
    struct relay_result *ret)
{
	const char *state, *code, *error, *desc, *iss;

	if (req->too_many_args) {
		bad_callback(app, resp, RELAY_REJECT_BAD_REQUEST,
		    "The sign-in response has too many parameters. Start a "
		    "new sign-in at the terminal.");
		return false;
	}
	if (!single_arg(req, "state", &state) ||
	    !single_arg(req, "code", &code) ||
	    !single_arg(req, "error", &error) ||
	    !single_arg(req, "error_description", &desc) ||
	    !single_arg(req, "iss", &iss)) {
		bad_callback(app, resp, RELAY_REJECT_BAD_REQUEST,
		    "The sign-in response repeats a parameter. Start a new "
		    "sign-in at the terminal.");
		return false;
	}
	if (!relay_state_ok(state)) {
		bad_callback(app, resp, RELAY_REJECT_BAD_STATE,
		    "The sign-in response does not name a valid sign-in. "
		    "Start a new sign-in at the terminal.");
		return false;
	}
	if ((code == NULL) == (error == NULL) ||
	    (code != NULL && !is_printable_ascii(code, 1, CODE_MAX)) ||
	    (error != NULL && !is_printable_ascii(error, 1, ERROR_MAX)) ||
	    (iss != NULL && !is_printable_ascii(iss, 1, TEXT_MAX))) {
		bad_callback(app, resp, RELAY_REJECT_BAD_REQUEST,
		    "The sign-in response is malformed. Start a new sign-in "
		    "at the terminal.");
		return false;
	}
	/* A description we cannot show safely is dropped, not the result. */
	if (desc != NULL && !is_printable_ascii(desc, 0, TEXT_MAX))
		desc = NULL;
	memset(ret, 0, sizeof(*ret));
	ret->code = code;
	ret->error = error;
	ret->error_description = error != NULL ? desc : NULL;
	ret->iss = iss;
	*ret_state = state;
	return true;
}

/* Answers a callback that relay_store_put_result() refused with r. */
static void
refuse_callback(struct relay_app *app, const struct relay_request *req, int r,
    struct relay_response *resp)
{
	switch (r) {
	case ION_ERR_DENIED:
		/* See relay_store_put_result(): a code transplant, likely. */
		page_reject(app, resp, 409, RELAY_REJECT_CODE_REUSED,
		    "Sign-in response already used",
		    "This sign-in response was already used for another "
		    "sign-in, so it cannot complete this one. If you did not "
		    "just sign in twice, tell your administrator.");
		relay_log(RELAY_LOG_WARN,
		    "refused a callback from %s: its code was already accepted "
		    "for another login (a code transplant?)",
		    req->client);
		return;
	case ION_ERR_FULL:
		resp->retry_after = 5;
		page_reject(app, resp, 503, RELAY_REJECT_FULL,
		    "Try again shortly",
		    "The relay is busy. Reload this page in a few seconds.");
		if (relay_store_remote(app->store))
			relay_log(RELAY_LOG_WARN,
			    "refused a callback from %s: the store's server "
			    "is out of memory (its maxmemory)",
			    req->client);
		else
			relay_log(RELAY_LOG_WARN,
			    "refused a callback from %s: too many used codes "
			    "remembered (%lu)",
			    req->client,
			    app->opts->max_pending *
				RELAY_USED_CODES_PER_LOGIN);
		return;
	case ION_ERR_UNAVAIL:
		/* The phone reloads this page: the callback comes again. */
		page_unavailable(app, resp);
		return;
	case ION_ERR_USED:
		page_reject(app, resp, 409, RELAY_REJECT_ALREADY_USED,
		    "Sign-in already used",
		    "This sign-in has already received its answer. If that "
		    "was not you, tell your administrator.");
		return;
	default:
		page_reject(app, resp, 404, RELAY_REJECT_UNKNOWN_LOGIN,
		    "Sign-in unknown or expired",
		    "This sign-in is unknown or has expired. Start a new "
		    "sign-in at the terminal.");
	}
}

/* The page for a stored result: signed in (with the code), or cancelled. */
static void
callback_page(const char *state, const struct relay_result *in,
    const struct relay_login_view *v, struct relay_response *resp)
{
	char confirm[ION_CONFIRM_DIGITS + 1], qerr[ERROR_MAX + 3];
	size_t len = 0;
	char *page = NULL;

	if (in->code != NULL) {
		if (ion_confirm_code(state, in->code, confirm) == 0)
			page = relay_page_signed_in(v, confirm, &len);
		ion_scrub(confirm, sizeof(confirm));
		relay_log(RELAY_LOG_INFO, "login %s: callback with a code",
		    v->link_id);
	} else {
		page = relay_page_cancelled(
		    v, in->error, in->error_description, &len);
		relay_log(RELAY_LOG_INFO, "login %s: callback with error %s",
		    v->link_id, relay_log_quote(in->error, qerr, sizeof(qerr)));
	}
	set_body(resp, 200, HTML_TYPE, page, len);
}

static void
route_callback(struct relay_app *app, const struct relay_request *req,
    struct relay_response *resp)
{
	struct relay_login_view *v = NULL;
	struct relay_result in;
	const char *state;
	int r;

	if (!callback_args(app, req, resp, &state, &in))
		return;
	if ((r = relay_store_put_result(app->store, state, &in, &v)) != 0) {
		refuse_callback(app, req, r, resp);
		return;
	}
	atomic_fetch_add(&app->metrics.callbacks, 1);
	relay_waiters_wake(app->waiters, state, RELAY_WAKE_RESULT);
	callback_page(state, &in, v, resp);
	free(v);
}

/*
 * ?wait=SECONDS: digits only; a longer wait than ION_RELAY_WAIT_MAX_S,
 * however many digits, is capped.  false: not a number.
 */
static bool
parse_wait(const char *s, unsigned long *ret)
{
	size_t len = strlen(s);
	unsigned long v = 0;

	if (len == 0 || strspn(s, "0123456789") != len)
		return false;
	if (len > 9)
		v = ION_RELAY_WAIT_MAX_S; /* a huge number: cap it */
	else
		for (; *s != '\0'; s++)
			v = v * 10 + (unsigned long)(*s - '0');
	*ret = v > ION_RELAY_WAIT_MAX_S ? ION_RELAY_WAIT_MAX_S : v;
	return true;
}

static void
route_result(struct relay_app *app, const struct relay_request *req,
    const struct relay_client *client, struct relay_response *resp)
{
	const char *wait;
	unsigned long seconds = 0;
	char state[RELAY_STATE_LEN + 1];

	if (!bearer_state(req, state)) {
		reject_bearer(app, resp);
		return;
	}
	if (req->too_many_args ||
	    !single_arg(req, ION_RELAY_WAIT_PARAM, &wait)) {
		json_reject(app, resp, 400, RELAY_REJECT_BAD_REQUEST,
		    ION_RELAY_WAIT_PARAM " may be given once");
		return;
	}
	if (wait != NULL && !parse_wait(wait, &seconds)) {
		json_reject(app, resp, 400, RELAY_REJECT_BAD_REQUEST,
		    ION_RELAY_WAIT_PARAM " must be a number of seconds");
		return;
	}
	/*
	 * The server looks once more after parking, which no wake can
	 * overtake; with a remote store, where each look is a round trip,
	 * that look is the only one.
	 */
	if (seconds > 0 && !relay_store_remote(app->store) &&
	    relay_route_collect(
		app, state, client->hash, RELAY_WAKE_NONE, false, resp))
		return;
	if (seconds == 0) {
		relay_route_collect(
		    app, state, client->hash, RELAY_WAKE_NONE, true, resp);
		return;
	}
	resp->park = true;
	resp->wait_seconds = (unsigned)seconds;
	memcpy(resp->state, state, sizeof(state));
	memcpy(resp->client, client->hash, sizeof(resp->client));
}

static void
answer_pending(struct relay_response *resp)
{
	json_answer(resp, 202,
	    json_pack("{s:s}", ION_RELAY_J_STATUS, ION_RELAY_J_PENDING));
}

/* A result as the module collects it: { code | error, [description], iss } */
static json_t *
result_json(const struct relay_result *res)
{
	json_t *obj;

	if (res->code != NULL)
		obj = json_pack("{s:s}", ION_RELAY_J_CODE, res->code);
	else
		obj = json_pack("{s:s}", ION_RELAY_J_ERROR, res->error);
	if (obj != NULL && res->error_description != NULL)
		json_object_set_new(obj, ION_RELAY_J_ERROR_DESCRIPTION,
		    json_string(res->error_description));
	if (obj != NULL && res->iss != NULL)
		json_object_set_new(
		    obj, ION_RELAY_J_ISS, json_string(res->iss));
	return obj;
}

bool
relay_route_collect(struct relay_app *app, const char *state,
    const unsigned char client[ION_SHA256_LEN], enum relay_wake why, bool final,
    struct relay_response *resp)
{
	struct relay_result *res = NULL;
	uint64_t due_ms = 0;
	int r;

	/*
	 * A poll that was replaced, abandoned or cut short by shutdown must
	 * not take the result: its client is likely gone, and the result
	 * belongs to whoever polls next.
	 */
	if (why == RELAY_WAKE_GONE || why == RELAY_WAKE_REPLACED ||
	    why == RELAY_WAKE_SHUTDOWN) {
		if (why == RELAY_WAKE_GONE)
			atomic_fetch_add(&app->metrics.polls_gone, 1);
		answer_pending(resp);
		return true;
	}
	/*
	 * Checked where the result is taken, not only when the poll came
	 * in: a key removed by SIGHUP while its poll waited takes nothing.
	 */
	if (!relay_clients_has(app->clients, client)) {
		reject_client_key(app, resp);
		return true;
	}
	r = relay_store_take(app->store, state, client, &res, &due_ms);
	if (r == ION_ERR_UNAVAIL) {
		reject_unavailable(app, resp, 1);
		return true;
	}
	if (r == ION_ERR_PENDING) {
		if (!final) {
			resp->due_ms = due_ms;
			return false;
		}
		if (why == RELAY_WAKE_TIMEOUT)
			atomic_fetch_add(&app->metrics.polls_timed_out, 1);
		answer_pending(resp);
		return true;
	}
	if (r != 0) {
		json_reject(app, resp, 404, RELAY_REJECT_UNKNOWN_LOGIN,
		    "no such login: unknown, expired or already collected");
		return true;
	}
	json_answer(resp, 200, result_json(res));
	/* The server calls relay_route_delivered() once the answer is out. */
	resp->deliver = true;
	memcpy(resp->state, state, RELAY_STATE_LEN);
	resp->state[RELAY_STATE_LEN] = '\0';
	memcpy(resp->link_id, res->link_id, sizeof(resp->link_id));
	relay_result_free(&res);
	return true;
}

void
relay_route_busy(struct relay_app *app, struct relay_response *resp)
{
	/*
	 * A second, not more: places free up as results come in, and the
	 * module's poll is what keeps its sign-in alive.
	 */
	resp->retry_after = 1;
	json_reject(app, resp, 503, RELAY_REJECT_BUSY,
	    "too many sign-ins are waiting; poll again shortly");
	relay_log_limited(&app->busy_log, BUSY_REFUSALS, RELAY_LOG_WARN,
	    "refused a poll: all %u places for parked polls are taken "
	    "(--max-parked)",
	    app->opts->max_parked);
}

void
relay_route_delivered(
    struct relay_app *app, const char *state, const char *link_id, bool ok)
{
	if (ok) {
		atomic_fetch_add(&app->metrics.results_delivered, 1);
		relay_store_delivered(app->store, state, true);
		relay_log(
		    RELAY_LOG_INFO, "login %s: result collected", link_id);
		return;
	}
	if (relay_store_delivered(app->store, state, false)) {
		relay_log(RELAY_LOG_INFO,
		    "login %s: the result did not reach the module; kept for "
		    "its next poll",
		    link_id);
		relay_waiters_wake(app->waiters, state, RELAY_WAKE_RESULT);
	}
}

/* A result for state was stored or put back, maybe by another relay. */
static void
on_store_woken(void *arg, const char *state)
{
	struct relay_app *app = arg;

	relay_waiters_wake(app->waiters, state, RELAY_WAKE_RESULT);
}

/* The store lost its server: a wake could be missed, so every poll looks. */
static void
on_store_lost(void *arg)
{
	struct relay_app *app = arg;

	relay_waiters_wake_all(app->waiters, RELAY_WAKE_STORE_DOWN);
}

void
relay_route_watch_store(struct relay_app *app)
{
	struct relay_store_events ev = {
		.woken = on_store_woken,
		.lost = on_store_lost,
		.arg = app,
	};

	relay_store_watch(app->store, &ev);
}

static void
on_expired(void *arg, const char *state)
{
	struct relay_app *app = arg;

	relay_waiters_wake(app->waiters, state, RELAY_WAKE_EXPIRED);
}

uint64_t
relay_route_tick(void *arg, uint64_t now_ms)
{
	struct relay_app *app = arg;
	uint64_t next = 0;
	size_t n;

	unsigned slow;

	relay_log_limit_flush(&app->key_refusal_log, KEY_REFUSALS);
	relay_log_limit_flush(&app->busy_log, BUSY_REFUSALS);
	n = relay_store_expire(app->store, now_ms, on_expired, app, &next);
	atomic_fetch_add(&app->metrics.expirations, n);
	if (n > 0)
		relay_log(RELAY_LOG_INFO, "%zu login%s expired", n,
		    n == 1 ? "" : "s");
	if (app->conns != NULL &&
	    (slow = relay_conns_sweep(app->conns, now_ms)) > 0) {
		atomic_fetch_add(&app->metrics.slow_requests, slow);
		relay_log(RELAY_LOG_INFO,
		    "closed %u connection%s whose request took too long", slow,
		    slow == 1 ? "" : "s");
	}
	return next;
}

/* 200 "ok", or 503 with why the store cannot serve. */
static void
route_healthz(struct relay_app *app, struct relay_response *resp)
{
	char why[256], *text = NULL;
	int n;

	if (relay_store_health(app->store, why, sizeof(why))) {
		set_body(resp, 200, TEXT_TYPE, strdup("ok\n"), 3);
		return;
	}
	n = asprintf(&text, "store unavailable: %s\n", why);
	set_body(
	    resp, 503, TEXT_TYPE, n < 0 ? NULL : text, n < 0 ? 0 : (size_t)n);
}

static void
route_metrics(struct relay_app *app, struct relay_response *resp)
{
	struct relay_store_stats stats;
	struct relay_gauges g;
	size_t len = 0;
	char *text;
	char why[8];

	relay_store_stats(app->store, &stats);
	g.store_up = relay_store_health(app->store, why, sizeof(why)) ? 1 : 0;
	g.store_errors = stats.errors;
	g.store_reconnects = stats.reconnects;
	g.pending = relay_store_count(app->store);
	g.parked = relay_waiters_count(app->waiters);
	g.clients = relay_clients_count(app->clients);
	g.used_codes = relay_store_used_codes(app->store);
	text = relay_metrics_render(&app->metrics, &g, &len);
	set_body(resp, 200, METRICS_TYPE, text, len);
}

static bool
method_is(const struct relay_request *req, const char *m)
{
	return strcmp(req->method, m) == 0;
}

static void
not_allowed(
    struct relay_app *app, struct relay_response *resp, const char *allow)
{
	resp->allow = allow;
	json_reject(app, resp, 405, RELAY_REJECT_METHOD_NOT_ALLOWED,
	    "method not allowed here");
}

void
relay_route(struct relay_app *app, const struct relay_request *req,
    struct relay_response *resp)
{
	const char *path = req->path;
	bool get = method_is(req, "GET"), head = method_is(req, "HEAD");
	bool v1 = strcmp(path, ION_RELAY_PATH_LOGINS) == 0 ||
	    strcmp(path, ION_RELAY_PATH_RESULT) == 0;
	struct relay_client client;

	memset(resp, 0, sizeof(*resp));
	/* The key first: before the method, the body or the Bearer. */
	if (v1 && !authenticate(app, req, resp, &client))
		return;
	if (strcmp(path, ION_RELAY_PATH_LOGINS) == 0) {
		if (method_is(req, "POST"))
			route_register(app, req, &client, resp);
		else
			not_allowed(app, resp, "POST");
	} else if (strcmp(path, ION_RELAY_PATH_RESULT) == 0) {
		if (get)
			route_result(app, req, &client, resp);
		else
			not_allowed(app, resp, "GET");
	} else if (strcmp(path, ION_RELAY_PATH_CALLBACK) == 0) {
		/* Only GET: a HEAD must not consume the single-use result. */
		if (get)
			route_callback(app, req, resp);
		else
			not_allowed(app, resp, "GET");
	} else if (strncmp(path, ION_RELAY_PATH_LINK,
		       strlen(ION_RELAY_PATH_LINK)) == 0) {
		if (get || head)
			route_link(
			    app, path + strlen(ION_RELAY_PATH_LINK), resp);
		else
			not_allowed(app, resp, "GET, HEAD");
	} else if (strcmp(path, PATH_HEALTHZ) == 0) {
		if (get || head)
			route_healthz(app, resp);
		else
			not_allowed(app, resp, "GET, HEAD");
	} else if (strcmp(path, PATH_METRICS) == 0) {
		if (get || head)
			route_metrics(app, resp);
		else
			not_allowed(app, resp, "GET, HEAD");
	} else
		page_reject(app, resp, 404, RELAY_REJECT_NOT_FOUND, "Not found",
		    "There is nothing at this address.");
}

void
relay_response_clear(struct relay_response *resp)
{
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}
