/*
 * What the relay answers, independent of the HTTP library: a request comes
 * in as struct relay_request, the answer goes out as struct relay_response.
 * The only thing routes cannot finish on their own is a long-poll that has
 * to wait; they say so (resp->park) and the server parks the connection,
 * then calls relay_route_collect() when it has something to answer.
 */
#ifndef RELAY_ROUTES_H
#define RELAY_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clientkeys.h"
#include "conns.h"
#include "log.h"
#include "metrics.h"
#include "opts.h"
#include "store.h"
#include "waiters.h"

#define RELAY_BODY_MAX 8192 /* bytes of a request body */
#define RELAY_MAX_ARGS 32   /* query parameters of one request */

struct relay_app {
	const struct relay_opts *opts;
	struct relay_store *store;
	struct relay_waiters *waiters;
	struct relay_conns *conns;
	struct relay_clients *clients; /* who may use /v1 */
	struct relay_metrics metrics;
	/* the refused-key WARN line, which anyone can cause: rate-limited */
	struct relay_log_limit key_refusal_log;
	/* the WARN line of a poll refused for --max-parked: rate-limited */
	struct relay_log_limit busy_log;
};

struct relay_param {
	const char *name;
	const char *value; /* NULL for a name without '=' */
};

struct relay_request {
	const char *method;
	const char *path; /* percent-decoded, without the query */
	const struct relay_param *args;
	size_t nargs;
	bool too_many_args;
	const char *authorization; /* NULL when absent */
	const char *client_key;	   /* PAM-Ion-Client-Key, NULL when absent */
	const char *content_type;  /* NULL when absent */
	const char *body;
	size_t body_len;
	bool body_too_large;
	const char *client; /* the peer's address, for logs */
};

struct relay_response {
	unsigned status;
	const char *content_type;
	char *body; /* owned: malloc'd */
	size_t body_len;
	const char *allow;	      /* for 405 */
	const char *www_authenticate; /* for 401 */
	unsigned retry_after;	      /* seconds, 0 for none */
	/* set when a poll must wait: the server parks it */
	bool park;
	unsigned wait_seconds;
	/* when the store wants the poll to look again, 0 for never */
	uint64_t due_ms;
	char state[RELAY_STATE_LEN + 1];
	unsigned char client[ION_SHA256_LEN]; /* whose poll it is */
	/* set when the answer carries a result: see relay_route_delivered() */
	bool deliver;
	char link_id[ION_RELAY_LINK_ID_LEN + 1];
};

/* Answers a complete request.  Never fails: errors become responses. */
void relay_route(struct relay_app *app, const struct relay_request *req,
    struct relay_response *resp);

/*
 * Answers a poll for state by the client whose key hashes to client (as
 * resp->client of the parked poll).  why says how its wait ended
 * (RELAY_WAKE_NONE before it waited at all).  When final is false and the
 * login is still pending, returns false and leaves resp alone but for
 * resp->due_ms: the poll should wait, until then at most.  A client no longer
 * in the keys file gets 401, another client's login is unknown (404).  resp
 * must be zeroed or hold a previous answer (whose body is freed).
 */
bool relay_route_collect(struct relay_app *app, const char *state,
    const unsigned char client[ION_SHA256_LEN], enum relay_wake why, bool final,
    struct relay_response *resp);

/*
 * Starts the store's wake-ups: a result stored by any relay sharing the
 * store wakes the poll parked here for it; losing the store's server
 * wakes every parked poll (see relay_store_watch()).
 */
void relay_route_watch_store(struct relay_app *app);

/*
 * Answers a poll that would wait while every --max-parked place is taken:
 * 503 "busy" with Retry-After, at once, so the module polls again shortly
 * and the connections stay free for callbacks and pages.
 */
void relay_route_busy(struct relay_app *app, struct relay_response *resp);

/*
 * Says whether an answer that carried a result (resp->deliver) went out
 * whole: only then is the login forgotten; otherwise the result stays for
 * the module's next poll.
 */
void relay_route_delivered(
    struct relay_app *app, const char *state, const char *link_id, bool ok);

/*
 * The periodic tick: expires logins and closes connections whose request is
 * overdue.  Fits relay_waiters_ops.tick.
 */
uint64_t relay_route_tick(void *app, uint64_t now_ms);

/* Frees what a response owns. */
void relay_response_clear(struct relay_response *resp);

#endif
