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

#define RELAY_ANSWER_MAX (16 * 1024)
#define RELAY_URL_MAX 1024

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

/* Why a request to the relay got no usable answer, from ion_http_*(). */
static const char *
http_failure(int r)
{
	return r == ION_ERR_TIMEOUT ? "relay timed out"
	    : r == ION_ERR_RANGE    ? "relay answer too large"
				    : "relay unreachable";
}

int
ion_relay_register(struct ion_http *h, const char *relay_url,
    const struct ion_relay_login *login, char **ret_link,
    unsigned *ret_expires_in, const char **why)
{
	struct ion_http_header key = { ION_RELAY_CLIENT_KEY_HEADER,
		login->key };
	struct ion_http_resp resp;
	json_t *body = NULL, *ans = NULL, *v;
	char *url = NULL, *text = NULL, *link = NULL;
	json_int_t expires;
	int r = ION_ERR_NOMEM;

	memset(&resp, 0, sizeof(resp));
	*why = "out of memory";
	body = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:b}", "state",
	    login->state, "authorize_url", login->authorize_url, "context",
	    "host", login->host, "user", login->user, "rhost", login->rhost,
	    "service", login->service, "confirm", login->confirm);
	if (body == NULL || (text = json_dumps(body, JSON_COMPACT)) == NULL ||
	    (url = endpoint(relay_url, ION_RELAY_PATH_LOGINS)) == NULL)
		goto out;
	r = ion_http_post_bearer(h, url, "application/json", text, strlen(text),
	    login->secret, &key, RELAY_ANSWER_MAX, &resp);
	if (r != 0) {
		*why = http_failure(r);
		r = r == ION_ERR_TIMEOUT ? ION_ERR_TIMEOUT : ION_ERR_UNAVAIL;
		goto out;
	}
	/*
	 * The poll secret is ours and matches the state by construction, so
	 * a 401 is about the key: this host is not (or no longer) one the
	 * relay knows.  Only the administrator can mend that.
	 */
	if (resp.status == 401) {
		r = ION_ERR_CONFIG;
		*why = WHY_KEY_REFUSED;
		goto out;
	}
	if (resp.status != 201) {
		r = refused(resp.status) ? ION_ERR_INVALID : ION_ERR_UNAVAIL;
		*why = refused(resp.status) ? "relay refused the login"
		    : unavailable(resp.status)
		    ? "relay full or failing"
		    : "relay answered an unexpected status";
		goto out;
	}
	r = ION_ERR_UNAVAIL;
	*why = "relay answer malformed";
	ans = json_loadb(resp.body, resp.len, JSON_REJECT_DUPLICATES, NULL);
	v = json_object_get(ans, "link");
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > ION_RELAY_LINK_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v) ||
	    !json_is_integer(json_object_get(ans, "expires_in")))
		goto out;
	expires = json_integer_value(json_object_get(ans, "expires_in"));
	if (expires <= 0 || expires > 86400)
		goto out;
	/* The person opens this link: it must lead to the relay, nowhere else.
	 */
	if (!ion_relay_link_ok(relay_url, json_string_value(v))) {
		*why = WHY_BAD_LINK;
		goto out;
	}
	r = ION_ERR_NOMEM;
	if ((link = strdup(json_string_value(v))) == NULL) {
		*why = "out of memory";
		goto out;
	}
	*ret_link = link;
	*ret_expires_in = (unsigned)expires;
	r = 0;
	*why = "registered";
out:
	ion_http_resp_clear(&resp);
	json_decref(body);
	json_decref(ans);
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

int
ion_relay_poll(struct ion_http *h, const char *relay_url, const char *key,
    const char *secret, unsigned wait, struct ion_relay_result *ret,
    const char **why)
{
	struct ion_http_header hkey = { ION_RELAY_CLIENT_KEY_HEADER, key };
	struct ion_relay_result res;
	struct ion_http_resp resp;
	char path[64], *url = NULL;
	json_t *ans = NULL;
	int r = ION_ERR_NOMEM;

	memset(&res, 0, sizeof(res));
	memset(&resp, 0, sizeof(resp));
	*why = "out of memory";
	snprintf(path, sizeof(path), "%s?wait=%u", ION_RELAY_PATH_RESULT, wait);
	if ((url = endpoint(relay_url, path)) == NULL)
		goto out;
	/* The relay answers within wait seconds; allow for the network. */
	r = ion_http_get_with(
	    h, url, secret, &hkey, (wait + 10) * 1000, RELAY_ANSWER_MAX, &resp);
	if (r != 0) {
		*why = r == ION_ERR_TIMEOUT ? "relay poll timed out"
					    : http_failure(r);
		r = r == ION_ERR_TIMEOUT ? ION_ERR_TIMEOUT : ION_ERR_UNAVAIL;
		goto out;
	}
	if (resp.status == 202) {
		r = ION_ERR_PENDING;
		*why = "pending";
		goto out;
	}
	if (resp.status == 401) {
		r = ION_ERR_CONFIG;
		*why = WHY_KEY_REFUSED;
		goto out;
	}
	if (resp.status == 404) {
		r = ION_ERR_NOT_FOUND;
		*why = "the relay no longer knows this sign-in (expired)";
		goto out;
	}
	if (resp.status != 200) {
		r = refused(resp.status) ? ION_ERR_INVALID : ION_ERR_UNAVAIL;
		*why = refused(resp.status) || unavailable(resp.status)
		    ? "relay refused the poll"
		    : "relay answered an unexpected status";
		goto out;
	}
	r = ION_ERR_UNAVAIL;
	*why = "relay answer malformed";
	ans = json_loadb(resp.body, resp.len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(ans) || !opt_string(ans, "code", 2048, &res.code) ||
	    !opt_string(ans, "error", 256, &res.error) ||
	    !opt_string(
		ans, "error_description", 2048, &res.error_description) ||
	    !opt_string(ans, "iss", 2048, &res.iss) ||
	    (res.code == NULL) == (res.error == NULL))
		goto out;
	*ret = res;
	memset(&res, 0, sizeof(res)); /* transferred */
	r = 0;
	*why = "result";
out:
	ion_relay_result_clear(&res);
	ion_http_resp_clear(&resp);
	json_decref(ans);
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
