/*
 * One error domain for the whole project: internal functions return 0 on
 * success or a negative ION_ERR_* value.  Only the top layers (pam_ion.c,
 * the relay's request handlers, the tools) translate these into PAM codes,
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
};

/* A short, constant, log-safe name for an error code. */
const char *ion_strerror(int err);

#endif
