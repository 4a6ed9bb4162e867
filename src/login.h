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

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "prompt.h"

struct ion_login_env {
	const char *host;    /* this machine's name */
	const char *user;    /* PAM_USER, or NULL when the service has none */
	const char *rhost;   /* PAM_RHOST, or NULL */
	const char *ruser;   /* PAM_RUSER, or NULL */
	const char *service; /* PAM_SERVICE */
};

struct ion_login_stats {
	unsigned http_requests; /* made during this sign-in */
	unsigned long time_to_qr_us;
	char subject[128]; /* the verified sub (printable), or "" */
	/*
	 * confirm = no was configured but not honoured: PAM_RHOST or
	 * PAM_RUSER was set, so someone else may have started the sign-in.
	 */
	bool confirm_forced;
	bool pushed; /* the request went by PAR (RFC 9126) */
};

/*
 * Runs one sign-in.  The confirmation code is asked for when cfg->confirm,
 * and also despite confirm = no when env->rhost or env->ruser is non-empty
 * (sshd, su, sudo): only a local login (a kiosk, a console greeter) can be
 * sure the person at the screen started it.
 *
 * 0 when the id_token verified and mapped to a local
 * account that equals env->user (or, with user_from_token and no
 * env->user, to any account): *ret_user is that account (malloc'd).
 * Otherwise a negative ION_ERR_*: UNAVAIL/TIMEOUT (provider or relay),
 * AUTH/REFUSED (token invalid, denied, state/nonce/claim mismatch, no
 * PAR where par = required, no iss where the provider promised it),
 * NO_USER, CONFIG (also: the relay refused this host's relay key), CONV,
 * ABORTED.  why (always set) is a short log-safe
 * reason without secrets.
 */
/*
 * Whether this sign-in asks for the confirmation code: cfg->confirm, or
 * env->rhost or env->ruser non-empty (confirm = no is honoured only for a
 * local login with neither).
 */
bool ion_login_must_confirm(
    const struct ion_cfg *cfg, const struct ion_login_env *env);

int ion_login_run(const struct ion_cfg *cfg, const struct ion_login_env *env,
    const struct ion_conv *conv, char **ret_user, char *why, size_t whylen,
    struct ion_login_stats *stats);

#endif
