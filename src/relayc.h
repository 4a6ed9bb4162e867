/*
 * The module's side of the relay's /v1 API: register a sign-in, then
 * collect its result with long polls.  Codes are scrubbed on clear.
 */
#ifndef ION_RELAYC_H
#define ION_RELAYC_H

#include <stdbool.h>

#include "http.h"

struct ion_relay_login {
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
 * 4xx, a malformed or oversized body: a relay that does not work);
 * ION_ERR_INVALID when it refuses what we sent (4xx other than 429).
 */
int ion_relay_register(struct ion_http *h, const char *relay_url,
    const struct ion_relay_login *login, char **ret_link,
    unsigned *ret_expires_in, const char **why);

struct ion_relay_result {
	char *code;		 /* scrubbed on clear; NULL for an error */
	char *error;		 /* the provider's error, or NULL */
	char *error_description; /* or NULL */
	char *iss;		 /* RFC 9207 iss, or NULL */
};

/*
 * GET {relay_url}/v1/logins/result?wait=SECONDS with the poll secret.
 * 0 with *ret filled for a result; ION_ERR_PENDING when none came within
 * wait; ION_ERR_NOT_FOUND when the relay does not know the login (expired);
 * ION_ERR_UNAVAIL / ION_ERR_TIMEOUT / ION_ERR_INVALID as above (200
 * with a malformed answer: ION_ERR_UNAVAIL).
 */
int ion_relay_poll(struct ion_http *h, const char *relay_url,
    const char *secret, unsigned wait, struct ion_relay_result *ret,
    const char **why);
void ion_relay_result_clear(struct ion_relay_result *r);

#endif
