/*
 * The one place that knows the order of a sign-in (../shared/DESIGN.md,
 * "The flow"): secrets, registration at the relay, the QR code, collecting
 * the code, the confirmation code, the token exchange, verification,
 * userinfo, mapping to a local account.  Not PAM-aware: the caller passes
 * what it knows about the session and a conversation, and maps the result
 * to a PAM code.
 */
#ifndef ION_LOGIN_H
#define ION_LOGIN_H

#include <stddef.h>

#include "config.h"
#include "prompt.h"

struct ion_login_env {
	const char *host;    /* this machine's name */
	const char *user;    /* PAM_USER, or NULL when the service has none */
	const char *rhost;   /* PAM_RHOST, or NULL */
	const char *service; /* PAM_SERVICE */
};

struct ion_login_stats {
	unsigned http_requests; /* made during this sign-in */
	unsigned long time_to_qr_us;
	char subject[128]; /* the verified sub (printable), or "" */
};

/*
 * Runs one sign-in.  0 when the id_token verified and mapped to a local
 * account that equals env->user (or, with user_from_token and no
 * env->user, to any account): *ret_user is that account (malloc'd).
 * Otherwise a negative ION_ERR_*: UNAVAIL/TIMEOUT (provider or relay),
 * AUTH/REFUSED (token invalid, denied, state/nonce/claim mismatch),
 * NO_USER, CONFIG, CONV, ABORTED.  why (always set) is a short log-safe
 * reason without secrets.
 */
int ion_login_run(const struct ion_cfg *cfg, const struct ion_login_env *env,
    const struct ion_conv *conv, char **ret_user, char *why, size_t whylen,
    struct ion_login_stats *stats);

#endif
