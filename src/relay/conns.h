/*
 * Request deadlines, against slowloris.  libmicrohttpd's connection timeout
 * is an idle timeout: a client that sends one byte every few seconds keeps
 * a connection forever.  Here every open connection carries a deadline by
 * which its next request must have arrived whole; a sweep shuts down the
 * sockets of those that missed it, and libmicrohttpd then closes them.
 */
#ifndef RELAY_CONNS_H
#define RELAY_CONNS_H

#include <stdint.h>

struct relay_conns;

/* Room for max connections.  0 or ION_ERR_*. */
int relay_conns_new(unsigned max, struct relay_conns **ret);
void relay_conns_free(struct relay_conns **c);

/*
 * Starts tracking a new connection's socket with a first deadline.  Returns
 * a ticket (>= 0), or -1 when the table is full (the connection then simply
 * has no deadline beyond the idle timeout).
 */
long relay_conns_track(struct relay_conns *c, int fd, uint64_t deadline_ms);

/* Sets a new deadline; 0 means none (a request being answered or parked). */
void relay_conns_set_deadline(
    struct relay_conns *c, long ticket, uint64_t deadline_ms);

/* Stops tracking; to be called before the socket is closed. */
void relay_conns_untrack(struct relay_conns *c, long ticket);

/* Shuts down every socket past its deadline at now_ms; returns how many. */
unsigned relay_conns_sweep(struct relay_conns *c, uint64_t now_ms);

#endif
