/*
 * The module's side of the relay's /v1 API: register a sign-in, then
 * collect its result with long polls.  Every request carries this host's
 * relay key in the PAM-Ion-Client-Key header (relay_proto.h); the key goes
 * nowhere else.  Codes are scrubbed on clear.
 *
 * *why (a static, log-safe sentence) is set when a function returns
 * anything but 0, and only then: on success it is left as it was.
 */
#ifndef ION_RELAYC_H
#define ION_RELAYC_H

#include <stdbool.h>

#include "http.h"

/* The longest short link accepted from the relay. */
#define ION_RELAY_LINK_MAX 256

struct ion_relay_login {
	const char *key;    /* this host's relay key (relay_key_file) */
	const char *secret; /* the poll secret, 43 characters (Bearer) */
	const char *state;
	const char *authorize_url;
	const char *host, *user, *rhost, *service; /* user/rhost may be "" */
	bool confirm;
};

/*
 * POST {relay_url}/v1/logins.  On success *ret_link is the short link
 * (malloc'd) and *ret_expires_in its lifetime in seconds.  ION_ERR_UNAVAIL
 * / ION_ERR_TIMEOUT when the relay cannot be reached, is full or fails, or
 * answers anything but the API's answers (another status than 201 and
 * 4xx, a malformed or oversized body, a link that is not under relay_url:
 * a relay that does not work); ION_ERR_CONFIG when it answers 401 (it
 * does not accept this host's relay key); ION_ERR_INVALID when it refuses
 * what we sent (another 4xx, but 429).
 *
 * The link must be a URL as ion_url_parse() reads it (url.h: RFC 3986
 * characters only, no user info, no "." or ".." segment, plain or
 * encoded) and lie under relay_url: the same scheme, host and port
 * (scheme and host compared without case), relay_url's path, then '/' and
 * more, no fragment; at most ION_RELAY_LINK_MAX characters.  The person is
 * told to open it, so a relay must not be able to send them elsewhere.
 */
int ion_relay_register(struct ion_http *h, const char *relay_url,
    const struct ion_relay_login *login, char **ret_link,
    unsigned *ret_expires_in, const char **why);

struct ion_relay_result {
	char *code;		 /* scrubbed on clear; NULL for an error */
	char *error;		 /* the provider's error, or NULL */
	char *error_description; /* or NULL */
	char *iss;		 /* RFC 9207 iss, or NULL */
	/*
	 * With ION_ERR_RETRY: the relay's Retry-After in seconds, when it
	 * sent one from 1 to ION_RELAY_RETRY_AFTER_MAX_S as a number; else 0.
	 */
	unsigned retry_after_s;
	/*
	 * With ION_ERR_RETRY: the relay itself said it is busy (503
	 * ION_RELAY_ERR_BUSY), so it is up, unlike a proxy with no relay.
	 */
	bool busy;
};

/* The longest Retry-After of the relay's that ion_relay_poll() passes on. */
#define ION_RELAY_RETRY_AFTER_MAX_S 5

/*
 * GET {relay_url}/v1/logins/result?wait=SECONDS with the relay key and the
 * poll secret; a wait over ION_RELAY_WAIT_MAX_S asks for that much.  0
 * with *ret filled for a result; ION_ERR_PENDING when none came within
 * wait; ION_ERR_NOT_FOUND when the relay does not know the
 * login (expired); ION_ERR_CONFIG / ION_ERR_INVALID as above.
 *
 * ION_ERR_RETRY (*why "relay unreachable", "relay poll timed out" or
 * "relay refused the poll") for a failure that may pass: a 502, 503 or
 * 504 (a relay busy or restarting, or the proxy in front of it saying
 * so; ret->retry_after_s is its Retry-After), no answer at all (the
 * connection refused, reset or closed, or a failure on the way: this
 * relay registered the sign-in moments ago), or no answer within the
 * poll's own timeout.  The caller bounds how long it retries.
 * ION_ERR_UNAVAIL for an answer that is not the API's: another 5xx or a
 * 429, another status, a 200 with a malformed answer, an answer too large.
 */
int ion_relay_poll(struct ion_http *h, const char *relay_url, const char *key,
    const char *secret, unsigned wait, struct ion_relay_result *ret,
    const char **why);

/*
 * True when link is one the relay may hand out for relay_url (see
 * ion_relay_register()).
 */
bool ion_relay_link_ok(const char *relay_url, const char *link);
void ion_relay_result_clear(struct ion_relay_result *r);

#endif
