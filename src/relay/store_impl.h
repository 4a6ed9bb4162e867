/*
 * What a store implements: store.c dispatches every relay_store_*() call
 * through these.  Only the stores and store.c include this file.
 */
#ifndef RELAY_STORE_IMPL_H
#define RELAY_STORE_IMPL_H

#include "store.h"

struct relay_store_ops {
	int (*add)(struct relay_store *st, const struct relay_login_spec *spec,
	    char ret_link_id[ION_RELAY_LINK_ID_LEN + 1]);
	int (*view_link)(struct relay_store *st, const char *link_id,
	    struct relay_login_view **ret_view);
	int (*put_result)(struct relay_store *st, const char *state,
	    const struct relay_result *in, struct relay_login_view **ret_view);
	int (*take)(struct relay_store *st, const char *state,
	    const unsigned char client[ION_SHA256_LEN],
	    struct relay_result **ret_result, uint64_t *ret_due_ms);
	bool (*delivered)(struct relay_store *st, const char *state, bool ok);
	bool (*exists)(struct relay_store *st, const char *state);
	size_t (*expire)(struct relay_store *st, uint64_t now_ms,
	    void (*expired)(void *arg, const char *state), void *arg,
	    uint64_t *ret_next_ms);
	size_t (*count)(struct relay_store *st);
	size_t (*used_codes)(struct relay_store *st);
	/* may be NULL: always healthy, no counters, nothing to watch */
	bool (*health)(struct relay_store *st, char *why, size_t whylen);
	void (*stats)(struct relay_store *st, struct relay_store_stats *ret);
	void (*watch)(
	    struct relay_store *st, const struct relay_store_events *ev);
	void (*unwatch)(struct relay_store *st);
	void (*free)(struct relay_store *st);
};

/* The first member of every store. */
struct relay_store {
	const struct relay_store_ops *ops;
	bool remote; /* see relay_store_remote() */
};

/* store_redis.c */
int relay_store_redis_new(
    const struct relay_store_config *cfg, struct relay_store **ret);

/*
 * The labels of the used-code memory's hashes, SHA-256(label || 0 ||
 * value): a code and a request_uri that happen to be the same string are
 * different entries.  Both stores use them.
 */
#define RELAY_USED_CODE "code"
#define RELAY_USED_REQUEST_URI "request_uri"
int relay_store_used_hash(const char *label, const void *value, size_t len,
    unsigned char out[ION_SHA256_LEN]);

/* A copy of in in one allocation (size set, link_id empty); NULL: no memory. */
struct relay_result *relay_result_copy(const struct relay_result *in);

#endif
