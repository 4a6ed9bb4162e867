/*
 * Parked long-polls.  A poll that finds no result yet takes a slot here and
 * its connection is suspended; whoever stores the result wakes it by state.
 * One thread of this module watches what a suspended connection cannot
 * notice by itself: its deadline (the poll's wait) and its client going
 * away.  The same thread runs a periodic tick the caller provides (the
 * store's TTL expiry), so the relay has one timer thread in all.
 *
 * The HTTP server is reached only through the two callbacks in struct
 * relay_waiters_ops, so this file knows nothing of libmicrohttpd.
 */
#ifndef RELAY_WAITERS_H
#define RELAY_WAITERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a parked poll was woken. */
enum relay_wake {
	RELAY_WAKE_NONE = 0,   /* not woken (released by its own connection) */
	RELAY_WAKE_RESULT,     /* the callback stored a result */
	RELAY_WAKE_TIMEOUT,    /* its wait ran out */
	RELAY_WAKE_GONE,       /* the client closed the connection */
	RELAY_WAKE_REPLACED,   /* a newer poll for the same login arrived */
	RELAY_WAKE_EXPIRED,    /* the login's TTL ran out */
	RELAY_WAKE_SHUTDOWN,   /* the relay is stopping */
	RELAY_WAKE_STORE_DOWN, /* the store lost its server: look again */
};

struct relay_waiters_ops {
	/* Suspends conn; called from conn's own request handler. */
	void (*suspend)(void *conn);
	/* Resumes a suspended conn; called from any thread. */
	void (*resume)(void *conn);
	/*
	 * The periodic tick, outside any lock of this module; returns when it
	 * wants to run next (CLOCK_MONOTONIC ms, 0 for "in a second").
	 */
	uint64_t (*tick)(void *arg, uint64_t now_ms);
	void *tick_arg;
};

struct relay_waiters;

/*
 * Creates the table with room for max_slots parked polls and starts the
 * watcher thread.  0 or ION_ERR_*.
 */
int relay_waiters_new(unsigned max_slots, const struct relay_waiters_ops *ops,
    struct relay_waiters **ret);

/* Stops the thread and frees everything; accepts NULL, clears the pointer. */
void relay_waiters_free(struct relay_waiters **w);

/*
 * Takes a slot for a poll on state, due at deadline_ms.  A poll already
 * parked for the same state is woken with RELAY_WAKE_REPLACED, even when
 * the table is full and this one gets ION_ERR_FULL.  The poll is
 * not suspended yet: the caller checks for a result first, then calls
 * relay_waiters_suspend().  ION_ERR_FULL when every slot is taken (the
 * caller answers "busy"), ION_ERR_UNAVAIL when the relay is stopping.
 */
int relay_waiters_park(struct relay_waiters *w, const char *state, void *conn,
    int fd, uint64_t deadline_ms, unsigned *ret_ticket);

/*
 * Brings a parked poll's deadline forward to deadline_ms (CLOCK_MONOTONIC);
 * a later one leaves it as it is.
 */
void relay_waiters_advance(
    struct relay_waiters *w, unsigned ticket, uint64_t deadline_ms);

/*
 * Suspends the parked connection unless it was woken since it was parked
 * (then returns false and the caller answers at once).
 */
bool relay_waiters_suspend(struct relay_waiters *w, unsigned ticket);

/* Why the poll was woken so far (RELAY_WAKE_NONE while it waits). */
enum relay_wake relay_waiters_why(struct relay_waiters *w, unsigned ticket);

/* Gives the slot back; returns why it was woken. */
enum relay_wake relay_waiters_release(struct relay_waiters *w, unsigned ticket);

/* Wakes the poll parked for state, if any. */
void relay_waiters_wake(
    struct relay_waiters *w, const char *state, enum relay_wake why);

/* Wakes every parked poll. */
void relay_waiters_wake_all(struct relay_waiters *w, enum relay_wake why);

/*
 * Refuses new polls, wakes every parked one with RELAY_WAKE_SHUTDOWN and
 * waits up to timeout_ms for all their slots to be released.
 */
void relay_waiters_shutdown(struct relay_waiters *w, unsigned timeout_ms);

/* Slots in use: polls parked or being answered. */
size_t relay_waiters_count(struct relay_waiters *w);

#endif
