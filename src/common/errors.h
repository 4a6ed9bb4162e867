/*
 * One error domain for the whole project: internal functions return 0 on
 * success or a negative ION_ERR_* value.  Only the top layers (pam_ion.c,
 * the relay's request handlers) translate these into PAM codes,
 * HTTP statuses or exit codes.
 */
#ifndef ION_ERRORS_H
#define ION_ERRORS_H

enum ion_err {
	ION_OK = 0,
	ION_ERR_NOMEM = -1,	/* allocation failed */
	ION_ERR_INVALID = -2,	/* malformed input */
	ION_ERR_RANGE = -3,	/* a value out of its range or too long */
	ION_ERR_NOT_FOUND = -4, /* unknown, expired or already taken */
	ION_ERR_EXISTS = -5,	/* already there */
	ION_ERR_FULL = -6,	/* a capacity limit was reached */
	ION_ERR_DENIED = -7,	/* not allowed */
	ION_ERR_SYSTEM = -8,	/* a system call failed; see errno */
	ION_ERR_CRYPTO = -9,	/* the crypto library failed */
	ION_ERR_USED = -10,	/* a single-use thing was used already */
	ION_ERR_PENDING = -11,	/* not there yet; ask again later */
	ION_ERR_UNAVAIL = -12,	/* a server could not be reached or failed */
	ION_ERR_TIMEOUT = -13,	/* a deadline passed */
	ION_ERR_AUTH = -14,	/* a token or answer failed verification */
	ION_ERR_CONFIG = -15,	/* the configuration is unusable */
	ION_ERR_CONV = -16,	/* the conversation with the person failed */
	ION_ERR_NO_USER = -17,	/* verified, but no local account maps */
	ION_ERR_REFUSED = -18,	/* the person or the provider said no */
	ION_ERR_ABORTED = -19,	/* the person gave up or got the code wrong */
	/*
	 * A server failed in a way that passes (busy, restarting, the
	 * connection dropped): the same request may well succeed shortly.
	 * The caller bounds its retries, then treats it as ION_ERR_UNAVAIL.
	 */
	ION_ERR_RETRY = -20,
};

/* A short, constant, log-safe name for an error code. */
const char *ion_strerror(int err);

#endif
