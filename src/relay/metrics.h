/*
 * The relay's counters, exported at GET /metrics in Prometheus' text format.
 * Counters are atomics: any thread may bump them without a lock.
 */
#ifndef RELAY_METRICS_H
#define RELAY_METRICS_H

#include <stdatomic.h>
#include <stddef.h>

/* Why a request was refused; each has a series of its own. */
enum relay_reject {
	RELAY_REJECT_BAD_REQUEST,
	RELAY_REJECT_BAD_STATE,
	RELAY_REJECT_UNSUPPORTED_MEDIA_TYPE,
	RELAY_REJECT_TOO_LARGE,
	RELAY_REJECT_URL_NOT_ALLOWED,
	RELAY_REJECT_STATE_MISMATCH,
	RELAY_REJECT_NONCE_MISMATCH,
	RELAY_REJECT_STATE_EXISTS,
	RELAY_REJECT_FULL,
	RELAY_REJECT_UNKNOWN_LOGIN,
	RELAY_REJECT_ALREADY_USED,
	RELAY_REJECT_UNAUTHORIZED,
	RELAY_REJECT_NOT_FOUND,
	RELAY_REJECT_METHOD_NOT_ALLOWED,
	RELAY_REJECT_CLIENT_KEY,  /* no or unknown PAM-Ion-Client-Key */
	RELAY_REJECT_CODE_REUSED, /* a code already accepted for a login */
	RELAY_REJECT_REQUEST_URI_REUSED, /* a pushed request registered twice */
	RELAY_REJECT_BUSY, /* a poll found every --max-parked place taken */
	RELAY_REJECT_STORE_UNAVAILABLE, /* the store's server is unreachable */
	RELAY_REJECT_COUNT
};

struct relay_metrics {
	atomic_ulong registrations;
	atomic_ulong callbacks;
	atomic_ulong results_delivered;
	atomic_ulong expirations;
	atomic_ulong polls_timed_out;
	atomic_ulong polls_gone;
	atomic_ulong slow_requests;
	atomic_ulong client_key_reloads;	 /* SIGHUP: the file was read */
	atomic_ulong client_key_reload_failures; /* SIGHUP: kept the old set */
	atomic_ulong rejections[RELAY_REJECT_COUNT];
};

/* A gauge the store does not keep: its series is left out. */
#define RELAY_GAUGE_NONE ((unsigned long)(size_t)-1)

/* The gauges, read when the text is rendered. */
struct relay_gauges {
	size_t pending;	   /* logins held */
	size_t parked;	   /* polls waiting */
	size_t clients;	   /* lines of the --client-keys file in force */
	size_t used_codes; /* codes remembered against reuse, or NONE */
	size_t store_up;   /* 1 or 0 */
	/* the store's counters */
	size_t store_errors;
	size_t store_reconnects;
};

/* The wire name of a reason: also the "error" member of JSON answers. */
const char *relay_reject_name(enum relay_reject reason);

/*
 * Renders the exposition text, with the gauges passed in.  Returns a
 * malloc'd string (the caller frees it), or NULL when out of memory.
 */
char *relay_metrics_render(const struct relay_metrics *m,
    const struct relay_gauges *g, size_t *ret_len);

#endif
