/*
 * Where the relay keeps logins between registration and collection.  One
 * login is keyed twice: by its state S (the module's poll and iON's callback
 * find it so) and by the short link id (the phone finds it so).  All
 * functions are safe to call from any thread.
 *
 * Two stores sit behind these functions: memory (store_memory.c, one
 * process) and redis (store_redis.c, any number of relays sharing one
 * Redis).  Every function but the constructors dispatches through struct
 * relay_store_ops (store.c).  A store that cannot reach its server answers
 * ION_ERR_UNAVAIL from the functions that return an int.
 *
 * Views and results handed out are copies owned by the caller, so pages can
 * be rendered without holding the store's lock.
 */
#ifndef RELAY_STORE_H
#define RELAY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "clock.h"
#include "crypto.h"
#include "relay_proto.h"

#define RELAY_STATE_LEN 43 /* base64url of 32 bytes */

/* What a registration brings; strings are borrowed for the call. */
struct relay_login_spec {
	const char *state;
	const char *authorize_url;
	const char *host;
	const char *user;  /* "" when the service has none yet */
	const char *rhost; /* "" for a local login */
	const char *service;
	bool confirm;
	/* SHA-256 of the registering client's key: only it may collect */
	const unsigned char *client;
	/* its name in the keys file, shown on the pages; copied */
	const char *client_name;
	/*
	 * The decoded request_uri of a pushed authorization request, NULL
	 * for a plain authorize URL: remembered so it is registered once.
	 */
	const char *request_uri;
	size_t request_uri_len;
};

/* A copy of a login's public parts: one allocation, free() it. */
struct relay_login_view {
	const char *authorize_url;
	const char *host;
	const char *user;
	const char *rhost;
	const char *service;
	const char *client_name; /* the keys file's name of who registered */
	bool confirm;
	time_t created;
	char link_id[ION_RELAY_LINK_ID_LEN + 1];
	char strings[]; /* the six strings above point in here */
};

/* The outcome iON's redirect brought: code or error, never both. */
struct relay_result {
	const char *code;			 /* NULL for an error result */
	const char *error;			 /* NULL for a code result */
	const char *error_description;		 /* may be NULL */
	const char *iss;			 /* may be NULL */
	size_t size;				 /* of the whole allocation */
	char link_id[ION_RELAY_LINK_ID_LEN + 1]; /* set by take_result */
	char strings[];
};

struct relay_store;

/* True when s is a state: RELAY_STATE_LEN base64url characters. */
bool relay_state_ok(const char *s);

/* Where a store lives: the parsed --store argument. */
enum relay_store_kind {
	RELAY_STORE_MEMORY = 0,
	RELAY_STORE_REDIS_TCP,	/* redis://[USER@]HOST[:PORT][/DB] */
	RELAY_STORE_REDIS_UNIX, /* redis+unix:///PATH[?db=N] */
};

#define RELAY_STORE_PREFIX_MAX 64
#define RELAY_STORE_DEFAULT_PREFIX "pam_ion:"
#define RELAY_STORE_PASSWORD_MAX 512

struct relay_store_url {
	enum relay_store_kind kind;
	char host[256]; /* a name or an address, without brackets */
	unsigned port;
	char path[108]; /* of the unix socket */
	unsigned db;
	char user[65]; /* an ACL user, "" for the default user */
};

/* What relay_store_open() needs; strings are copied. */
struct relay_store_config {
	struct relay_store_url url;
	const char *password; /* NULL: no AUTH */
	const char *prefix;   /* of every key and channel */
	unsigned long max_pending;
	unsigned ttl_seconds;
	unsigned timeout_ms; /* of one command to the store's server */
};

/*
 * Opens the store cfg names.  A redis store is returned even while its
 * server cannot be reached: it keeps trying (relay_store_health() says
 * why it is down).  0, or ION_ERR_NOMEM / ION_ERR_SYSTEM / ION_ERR_INVALID.
 */
int relay_store_open(
    const struct relay_store_config *cfg, struct relay_store **ret);

/*
 * What a store tells the relay while it runs, from a thread of its own:
 * woken(arg, state) when a result for state was stored or put back (by any
 * relay sharing the store), lost(arg) when it lost its server (every
 * parked poll should look again, and get ION_ERR_UNAVAIL).
 */
struct relay_store_events {
	void (*woken)(void *arg, const char *state);
	void (*lost)(void *arg);
	void *arg;
};

/*
 * Starts telling ev's callbacks; the memory store has nothing to tell.
 * relay_store_unwatch() stops it and returns when no callback runs any
 * more; call it before whatever the callbacks reach is freed.
 */
void relay_store_watch(
    struct relay_store *st, const struct relay_store_events *ev);
void relay_store_unwatch(struct relay_store *st);

/*
 * True when the store can serve; otherwise writes why not (one line, no
 * secrets) to why.
 */
bool relay_store_health(struct relay_store *st, char *why, size_t whylen);

/*
 * True when every call is a round trip to a server (redis): worth saving
 * where a later call looks anyway.
 */
bool relay_store_remote(struct relay_store *st);

/* The store's own counters, for /metrics. */
struct relay_store_stats {
	unsigned long errors;	  /* commands that failed */
	unsigned long reconnects; /* connections made again after a loss */
};
void relay_store_stats(struct relay_store *st, struct relay_store_stats *ret);

/* What relay_store_used_codes() answers when the store does not count. */
#define RELAY_STORE_UNCOUNTED ((size_t)-1)

/*
 * Creates an empty memory store.  It also remembers the authorization codes it
 * accepted and the request_uris of pushed requests it registered (each as
 * a domain-separated SHA-256) for ttl_seconds, at most
 * RELAY_USED_CODES_PER_LOGIN times max_pending of them together.  0 or
 * ION_ERR_NOMEM / ION_ERR_SYSTEM.
 */
#define RELAY_USED_CODES_PER_LOGIN 4
int relay_store_new(
    unsigned long max_pending, unsigned ttl_seconds, struct relay_store **ret);
void relay_store_free(struct relay_store **st);

/*
 * Registers a login.  On success writes its new link id (NUL-terminated) to
 * ret_link_id.  ION_ERR_EXISTS when the state is taken; ION_ERR_USED when
 * spec->request_uri was registered for any login within the last ttl
 * seconds; ION_ERR_FULL at max_pending, or for a request_uri when the
 * memory of used codes is full; ION_ERR_INVALID without spec->client or
 * spec->client_name.  Nothing is remembered unless it succeeds.
 */
int relay_store_add(struct relay_store *st, const struct relay_login_spec *spec,
    char ret_link_id[ION_RELAY_LINK_ID_LEN + 1]);

/*
 * The landing page's view of the login behind a link id.  ION_ERR_NOT_FOUND
 * when unknown or expired, ION_ERR_USED when its callback already arrived.
 */
int relay_store_view_link(struct relay_store *st, const char *link_id,
    struct relay_login_view **ret_view);

/*
 * Stores the first result for a state and returns the login's view for the
 * callback page.  ION_ERR_NOT_FOUND, or ION_ERR_USED when a result exists.
 * A code result is refused with ION_ERR_DENIED when the same code was
 * accepted for any login within the last ttl seconds, and with
 * ION_ERR_FULL when the memory of used codes is full; either leaves the
 * login waiting.  in->size is ignored.
 */
int relay_store_put_result(struct relay_store *st, const char *state,
    const struct relay_result *in, struct relay_login_view **ret_view);

/*
 * Hands out a copy of the result for a state and marks it as being
 * delivered: until relay_store_delivered() says how that went, further
 * takes see ION_ERR_PENDING.  ION_ERR_PENDING also while the login waits
 * for its callback; ION_ERR_NOT_FOUND when unknown or expired, or when
 * client (SHA-256 of a client key) is not the one that registered it.
 * Free the copy with relay_result_free().
 */
int relay_store_take_result(struct relay_store *st, const char *state,
    const unsigned char client[ION_SHA256_LEN],
    struct relay_result **ret_result);

/*
 * relay_store_take_result(), and when the answer is ION_ERR_PENDING, when
 * the login is to be looked at again even without a wake (CLOCK_MONOTONIC
 * ms: its end, or the end of another relay's delivery), 0 when the store
 * wakes its polls by itself.
 */
int relay_store_take(struct relay_store *st, const char *state,
    const unsigned char client[ION_SHA256_LEN],
    struct relay_result **ret_result, uint64_t *ret_due_ms);

/*
 * How many used codes and request_uris are remembered now;
 * RELAY_STORE_UNCOUNTED when the store does not count them.
 */
size_t relay_store_used_codes(struct relay_store *st);

/*
 * Ends a delivery: when the answer went out whole (ok), the login is
 * forgotten, so a result is handed out exactly once; otherwise the result
 * waits for the next poll.  Returns true when ok was false and the result
 * is available again.  A redis store holds a delivery for
 * RELAY_DELIVERY_LEASE_MS at most: if its relay dies before it ends it,
 * another relay hands the result out after that.
 */
#define RELAY_DELIVERY_LEASE_MS 5000
bool relay_store_delivered(struct relay_store *st, const char *state, bool ok);

/* True when the state is registered and not expired (with or without result).
 */
bool relay_store_exists(struct relay_store *st, const char *state);

/*
 * Forgets every login whose time is up at now_ms (CLOCK_MONOTONIC), calling
 * expired(arg, state) for each after the store's lock is released.  Returns
 * how many, and writes when the next one is due (0 for none) to ret_next_ms.
 * A redis store's server forgets logins by itself: there it returns how
 * many of them this relay found gone since the last call (each is counted
 * by one relay), and calls expired() for none.
 */
size_t relay_store_expire(struct relay_store *st, uint64_t now_ms,
    void (*expired)(void *arg, const char *state), void *arg,
    uint64_t *ret_next_ms);

/* Logins held (by every relay sharing the store); 0 when it cannot tell. */
size_t relay_store_count(struct relay_store *st);

/* Scrubs and frees a result; accepts NULL and clears the pointer. */
void relay_result_free(struct relay_result **res);

#endif
