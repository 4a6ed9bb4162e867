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

#include <sys/stat.h>
#include <sys/types.h>

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "prompt.h"

struct ion_login_env {
	const char *host;    /* this machine's name */
	const char *user;    /* PAM_USER, or NULL when the service has none */
	const char *rhost;   /* PAM_RHOST, or NULL */
	const char *ruser;   /* PAM_RUSER, or NULL */
	const char *tty;     /* PAM_TTY, or NULL */
	const char *service; /* PAM_SERVICE */
	/* Stands in for lstat(2) in the device check of tty; NULL: lstat(2). */
	int (*tty_stat)(const char *path, struct stat *st);
};

/* Whether a sign-in asks for the confirmation code, and why. */
enum ion_confirm {
	ION_CONFIRM_YES, /* confirm = yes */
	ION_CONFIRM_NO,	 /* confirm = no, honoured: a local terminal */
	/* confirm = no, not honoured: */
	ION_CONFIRM_REMOTE,	/* PAM_RHOST is set */
	ION_CONFIRM_RUSER,	/* PAM_RUSER is set */
	ION_CONFIRM_NO_TTY,	/* PAM_TTY is not set */
	ION_CONFIRM_TTY,	/* PAM_TTY names no local terminal */
	ION_CONFIRM_TTY_DEVICE, /* ... or names one, but its device is not */
};

struct ion_login_stats {
	time_t started;		/* when the sign-in started (rules.h) */
	unsigned http_requests; /* made during this sign-in */
	unsigned long time_to_qr_us;
	char subject[128]; /* the verified sub (printable), or "" */
	/*
	 * Whether the confirmation code was asked for, and why; anything but
	 * ION_CONFIRM_YES and ION_CONFIRM_NO: confirm = no was configured
	 * but not honoured (see ion_login_confirm()).
	 */
	enum ion_confirm confirm;
	bool pushed; /* the request went by PAR (RFC 9126) */
	/* polls made again after the relay failed one for now */
	unsigned relay_retries;
};

/*
 * Whether this sign-in asks for the confirmation code.  ION_CONFIRM_YES
 * with cfg->confirm.  With confirm = no, ION_CONFIRM_NO only for a login
 * at a local terminal: env->rhost and env->ruser empty (or NULL), env->tty
 * a name ion_login_tty_name() accepts, and its device one that
 * ion_login_tty_device() accepts (through env->tty_stat).  Otherwise the
 * first reason that applies, in the order REMOTE, RUSER, NO_TTY, TTY,
 * TTY_DEVICE; the code is asked for then.
 */
enum ion_confirm ion_login_confirm(
    const struct ion_cfg *cfg, const struct ion_login_env *env);

/*
 * The name check.  True when tty (a PAM_TTY value) names a terminal at the
 * machine itself: a virtual console "tty1" to "tty63", a serial port
 * "ttyS0" to "ttyS191" (the kernel's tty devices of major 4), "console",
 * each also with "/dev/" in front; *ret_rdev is then the device number
 * that device has: (4, N) for ttyN, (4, 64 + N) for ttySN, (5, 1) for
 * console.  Numbers are decimal without leading zeros.  Everything else is
 * false and *ret_rdev untouched: NULL, "", pseudo-terminals ("/dev/pts/N",
 * what sshd, su, sudo and terminal emulators give), "ssh", X displays
 * (":0", "host:0": a VNC login screen is one too).
 */
bool ion_login_tty_name(const char *tty, dev_t *ret_rdev);

/*
 * The device check, for a tty that passed ion_login_tty_name() with rdev.
 * True when "/dev/" and its name (the name without its "/dev/" prefix, so
 * the path never leaves /dev) is a character device numbered rdev as
 * statf sees it (NULL: lstat(2), which follows no symbolic link).  False
 * when statf fails (no such device), for any other file type, and for any
 * other device number (a pseudo-terminal bind-mounted over /dev/tty1 in a
 * container has major 136).
 */
bool ion_login_tty_device(const char *tty, dev_t rdev,
    int (*statf)(const char *path, struct stat *st));

/*
 * Runs one sign-in.  The confirmation code is asked for unless
 * ion_login_confirm() says ION_CONFIRM_NO: only a login at a local
 * terminal (a kiosk, a console greeter) can be sure the person at the
 * screen started it.
 *
 * 0 when the id_token verified, met the access rules (rules.h) and
 * mapped to a local account that equals env->user (or, with
 * user_from_token and no env->user, to any account): *ret_user is that
 * account (malloc'd).  ret_claims, when not NULL, gets the verified claims
 * (with userinfo's; a new reference) whenever the id_token verified,
 * whatever came after; it is left alone otherwise.
 * Otherwise a negative ION_ERR_*: UNAVAIL/TIMEOUT (provider or relay),
 * AUTH/REFUSED (token invalid, denied, state/nonce/claim mismatch, an
 * access rule not met, no PAR where par = required, no iss where the
 * provider promised it),
 * NO_USER, CONFIG (also: the relay refused this host's relay key), CONV,
 * ABORTED.  why (always set) is a short log-safe
 * reason without secrets.  stats, when not NULL, is filled in whatever
 * the result (what was not reached stays zero).
 */
int ion_login_run(const struct ion_cfg *cfg, const struct ion_login_env *env,
    const struct ion_conv *conv, char **ret_user, json_t **ret_claims,
    char *why, size_t whylen, struct ion_login_stats *stats);

#endif
