#include "relayc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "errors.h"
#include "relay_proto.h"
#include "url.h"

/* Why a 401 from the relay is a configuration error, for the log. */
#define WHY_KEY_REFUSED                                                        \
	"the relay refused this host's relay key (relay_key_file)"
#define WHY_BAD_LINK "relay returned a link outside relay_url"
#define WHY_POLL_REFUSED "relay refused the poll"

#define RELAY_ANSWER_MAX (16 * 1024)
#define RELAY_URL_MAX 1024
#define LINK_LIFETIME_MAX 86400 /* a day: more is not an answer of ours */
#define RESULT_MEMBER_MAX 2048	/* code, error_description, iss */
#define RESULT_ERROR_MAX 256

enum relay_request { REQ_REGISTER, REQ_POLL };

/*
 * What each request to the relay says and returns when no usable answer
 * came: a registration's timeout stays one; a poll's may pass (a relay
 * stopped for a moment), so it is worth another poll (poll_failed());
 * anything else, an oversized answer too, is a relay that does not work.
 */
static const struct ion_http_failure no_answer[] = {
	[REQ_REGISTER] = { "relay timed out", ION_ERR_TIMEOUT,
	    "relay answer too large", ION_ERR_UNAVAIL, "relay unreachable" },
	[REQ_POLL] = { "relay poll timed out", ION_ERR_RETRY,
	    "relay answer too large", ION_ERR_UNAVAIL, "relay unreachable" },
};

static char *
endpoint(const char *relay_url, const char *path)
{
	char *url;

	if (strlen(relay_url) > RELAY_URL_MAX ||
	    (url = malloc(strlen(relay_url) + strlen(path) + 1)) == NULL)
		return NULL;
	strcpy(url, relay_url);
	strcat(url, path);
	return url;
}

/* The relay's own refusals that mean "try later", not "you are wrong". */
static bool
unavailable(long status)
{
	return status == 429 || status >= 500;
}

/*
 * A refusal of what we sent (4xx other than 429).  Anything else that is
 * not the expected answer (another 2xx, a 3xx, a body that does not
 * parse) is a relay that does not work, not a mistake of ours.
 */
static bool
refused(long status)
{
	return status >= 400 && status < 500 && !unavailable(status);
}

bool
ion_relay_link_ok(const char *relay_url, const char *link)
{
	struct ion_url u, base;

	if (relay_url == NULL || link == NULL ||
	    strnlen(link, ION_RELAY_LINK_MAX + 1) > ION_RELAY_LINK_MAX)
		return false;
	/*
	 * url.h's reading refuses what could lead out of relay_url's path
	 * ("." and ".." segments, %2e, user info); the prefix check wants the
	 * same scheme, host and port.  Then '/' and more: never relay_url
	 * itself.
	 */
	if (ion_url_parse(link, &u) != 0 ||
	    ion_url_parse(relay_url, &base) != 0 || base.query != NULL ||
	    base.has_fragment || u.has_fragment)
		return false;
	return ion_url_under_prefix(&u, &base) &&
	    u.path_len > base.path_len + 1 && u.path[base.path_len] == '/';
}

/* A registration's JSON body (malloc'd), or NULL. */
static char *
register_body(const struct ion_relay_login *login)
{
	json_t *body;
	char *text;

	body = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:b}",
	    ION_RELAY_J_STATE, login->state, ION_RELAY_J_AUTHORIZE_URL,
	    login->authorize_url, ION_RELAY_J_CONTEXT, ION_RELAY_J_HOST,
	    login->host, ION_RELAY_J_USER, login->user, ION_RELAY_J_RHOST,
	    login->rhost, ION_RELAY_J_SERVICE, login->service,
	    ION_RELAY_J_CONFIRM, login->confirm);
	text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	return text;
}

/*
 * The link and its lifetime from a 201's body.  The person opens the link:
 * it must lead to the relay, nowhere else (ion_relay_link_ok()).
 */
static int
read_link(const struct ion_http_resp *resp, const char *relay_url,
    char **ret_link, unsigned *ret_expires_in, const char **why)
{
	json_t *ans, *link, *expires;
	char *copy;
	int r = ION_ERR_UNAVAIL;

	ans = json_loadb(resp->body, resp->len, JSON_REJECT_DUPLICATES, NULL);
	link = json_object_get(ans, ION_RELAY_J_LINK);
	expires = json_object_get(ans, ION_RELAY_J_EXPIRES_IN);
	if (!json_is_string(link) || json_string_length(link) == 0 ||
	    json_string_length(link) > ION_RELAY_LINK_MAX ||
	    strlen(json_string_value(link)) != json_string_length(link) ||
	    !json_is_integer(expires) || json_integer_value(expires) <= 0 ||
	    json_integer_value(expires) > LINK_LIFETIME_MAX)
		*why = "relay answer malformed";
	else if (!ion_relay_link_ok(relay_url, json_string_value(link)))
		*why = WHY_BAD_LINK;
	else if ((copy = strdup(json_string_value(link))) == NULL) {
		*why = "out of memory";
		r = ION_ERR_NOMEM;
	} else {
		*ret_link = copy;
		*ret_expires_in = (unsigned)json_integer_value(expires);
		r = 0;
	}
	json_decref(ans);
	return r;
}

/* The relay's answer to a registration; errors as ion_relay_register(). */
static int
read_registered(const struct ion_http_resp *resp, const char *relay_url,
    char **ret_link, unsigned *ret_expires_in, const char **why)
{
	/*
	 * The poll secret is ours and matches the state by construction, so
	 * a 401 is about the key: this host is not (or no longer) one the
	 * relay knows.  Only the administrator can mend that.
	 */
	if (resp->status == 401) {
		*why = WHY_KEY_REFUSED;
		return ION_ERR_CONFIG;
	}
	if (resp->status != 201) {
		*why = refused(resp->status) ? "relay refused the login"
		    : unavailable(resp->status)
		    ? "relay full or failing"
		    : "relay answered an unexpected status";
		return refused(resp->status) ? ION_ERR_INVALID
					     : ION_ERR_UNAVAIL;
	}
	return read_link(resp, relay_url, ret_link, ret_expires_in, why);
}

int
ion_relay_register(struct ion_http *h, const char *relay_url,
    const struct ion_relay_login *login, char **ret_link,
    unsigned *ret_expires_in, const char **why)
{
	struct ion_http_header key = { ION_RELAY_CLIENT_KEY_HEADER,
		login->key };
	struct ion_http_resp resp;
	char *url = NULL, *text = NULL;
	int r;

	memset(&resp, 0, sizeof(resp));
	if ((text = register_body(login)) == NULL ||
	    (url = endpoint(relay_url, ION_RELAY_PATH_LOGINS)) == NULL) {
		*why = "out of memory";
		r = ION_ERR_NOMEM;
		goto out;
	}
	r = ion_http_post_bearer(h, url, "application/json", text, strlen(text),
	    login->secret, &key, RELAY_ANSWER_MAX, &resp);
	r = r != 0
	    ? ion_http_failed(r, &no_answer[REQ_REGISTER], why)
	    : read_registered(&resp, relay_url, ret_link, ret_expires_in, why);
out:
	ion_http_resp_clear(&resp);
	free(text);
	free(url);
	return r;
}

/* Copies an optional string member; false when present but not a string. */
static bool
opt_string(json_t *obj, const char *key, size_t max, char **ret)
{
	json_t *v = json_object_get(obj, key);

	*ret = NULL;
	if (v == NULL)
		return true;
	if (!json_is_string(v) || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return false;
	return (*ret = strdup(json_string_value(v))) != NULL;
}

/* A result from a 200's body: a code or an error, never both. */
static int
read_result(const struct ion_http_resp *resp, struct ion_relay_result *ret,
    const char **why)
{
	struct ion_relay_result res;
	json_t *ans;
	int r = ION_ERR_UNAVAIL;

	memset(&res, 0, sizeof(res));
	ans = json_loadb(resp->body, resp->len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(ans) ||
	    !opt_string(ans, ION_RELAY_J_CODE, RESULT_MEMBER_MAX, &res.code) ||
	    !opt_string(ans, ION_RELAY_J_ERROR, RESULT_ERROR_MAX, &res.error) ||
	    !opt_string(ans, ION_RELAY_J_ERROR_DESCRIPTION, RESULT_MEMBER_MAX,
		&res.error_description) ||
	    !opt_string(ans, ION_RELAY_J_ISS, RESULT_MEMBER_MAX, &res.iss) ||
	    (res.code == NULL) == (res.error == NULL))
		*why = "relay answer malformed";
	else {
		*ret = res;
		memset(&res, 0, sizeof(res)); /* transferred */
		r = 0;
	}
	ion_relay_result_clear(&res);
	json_decref(ans);
	return r;
}

/*
 * A Retry-After in seconds when it is one digit from 1 to
 * ION_RELAY_RETRY_AFTER_MAX_S (which is one digit); 0 for none, a date,
 * or anything longer.
 */
static unsigned
retry_after(const char *v)
{
	if (v == NULL || v[0] < '1' ||
	    v[0] > '0' + ION_RELAY_RETRY_AFTER_MAX_S || v[1] != '\0')
		return 0;
	return (unsigned)(v[0] - '0');
}

/* True for the relay's own 503 { "error": "busy" }. */
static bool
relay_busy(const struct ion_http_resp *resp)
{
	json_t *ans, *e;
	bool busy;

	if (resp->status != 503 || resp->body == NULL)
		return false;
	ans = json_loadb(resp->body, resp->len, JSON_REJECT_DUPLICATES, NULL);
	e = json_object_get(ans, ION_RELAY_J_ERROR);
	busy = json_is_string(e) &&
	    strcmp(json_string_value(e), ION_RELAY_ERR_BUSY) == 0;
	json_decref(ans);
	return busy;
}

/* The relay's answer to a poll; errors as ion_relay_poll(). */
static int
read_polled(const struct ion_http_resp *resp, struct ion_relay_result *ret,
    const char **why)
{
	switch (resp->status) {
	case 200:
		return read_result(resp, ret, why);
	case 202:
		*why = "pending";
		return ION_ERR_PENDING;
	case 401:
		*why = WHY_KEY_REFUSED;
		return ION_ERR_CONFIG;
	case 404:
		*why = "the relay no longer knows this sign-in (expired)";
		return ION_ERR_NOT_FOUND;
	case 502: /* the proxy found no relay behind it */
	case 503: /* the relay is busy (too many parked polls) */
	case 504: /* the proxy gave up on the relay */
		*why = WHY_POLL_REFUSED;
		ret->retry_after_s = retry_after(resp->retry_after);
		ret->busy = relay_busy(resp);
		return ION_ERR_RETRY;
	default:
		*why = refused(resp->status) || unavailable(resp->status)
		    ? WHY_POLL_REFUSED
		    : "relay answered an unexpected status";
		return refused(resp->status) ? ION_ERR_INVALID
					     : ION_ERR_UNAVAIL;
	}
}

/*
 * A poll that got no usable answer.  Refused, reset or closed before an
 * answer (ion_http's ION_ERR_UNAVAIL) is a relay restarting or an
 * instance gone behind the proxy: this relay took the registration a
 * moment ago, so the failure is taken to pass, and the caller's bound
 * keeps a relay that stays down (or a TLS failure) to seconds.
 */
static int
poll_failed(int r, const char **why)
{
	int ret = ion_http_failed(r, &no_answer[REQ_POLL], why);

	return r == ION_ERR_UNAVAIL ? ION_ERR_RETRY : ret;
}

int
ion_relay_poll(struct ion_http *h, const char *relay_url, const char *key,
    const char *secret, unsigned wait, struct ion_relay_result *ret,
    const char **why)
{
	struct ion_http_header hkey = { ION_RELAY_CLIENT_KEY_HEADER, key };
	struct ion_http_resp resp;
	char path[64], *url;
	int r;

	if (wait > ION_RELAY_WAIT_MAX_S)
		wait = ION_RELAY_WAIT_MAX_S;
	snprintf(path, sizeof(path), "%s?%s=%u", ION_RELAY_PATH_RESULT,
	    ION_RELAY_WAIT_PARAM, wait);
	if ((url = endpoint(relay_url, path)) == NULL) {
		*why = "out of memory";
		return ION_ERR_NOMEM;
	}
	memset(&resp, 0, sizeof(resp));
	/* The relay answers within wait seconds; allow for the network. */
	r = ion_http_get_with(
	    h, url, secret, &hkey, (wait + 10) * 1000, RELAY_ANSWER_MAX, &resp);
	r = r != 0 ? poll_failed(r, why) : read_polled(&resp, ret, why);
	ion_http_resp_clear(&resp);
	free(url);
	return r;
}

void
ion_relay_result_clear(struct ion_relay_result *r)
{
	if (r->code != NULL) {
		ion_scrub(r->code, strlen(r->code));
		free(r->code);
	}
	free(r->error);
	free(r->error_description);
	free(r->iss);
	memset(r, 0, sizeof(*r));
}
