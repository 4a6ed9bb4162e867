#include "conns.h"

#include <sys/socket.h>

#include <pthread.h>
#include <stdlib.h>

#include "errors.h"

struct entry {
	int fd;		      /* -1 when the entry is free */
	uint64_t deadline_ms; /* 0: none */
	long next_free;
};

struct relay_conns {
	pthread_mutex_t lock;
	struct entry *e;
	unsigned n;
	long free_head;
};

int
relay_conns_new(unsigned max, struct relay_conns **ret)
{
	struct relay_conns *c;
	unsigned i;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return ION_ERR_NOMEM;
	if ((c->e = calloc(max, sizeof(*c->e))) == NULL ||
	    pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c->e);
		free(c);
		return ION_ERR_NOMEM;
	}
	c->n = max;
	for (i = 0; i < max; i++) {
		c->e[i].fd = -1;
		c->e[i].next_free = i + 1 < max ? (long)i + 1 : -1;
	}
	c->free_head = max > 0 ? 0 : -1;
	*ret = c;
	return 0;
}

void
relay_conns_free(struct relay_conns **pc)
{
	if (pc == NULL || *pc == NULL)
		return;
	pthread_mutex_destroy(&(*pc)->lock);
	free((*pc)->e);
	free(*pc);
	*pc = NULL;
}

long
relay_conns_track(struct relay_conns *c, int fd, uint64_t deadline_ms)
{
	long t;

	pthread_mutex_lock(&c->lock);
	if ((t = c->free_head) >= 0) {
		c->free_head = c->e[t].next_free;
		c->e[t].fd = fd;
		c->e[t].deadline_ms = deadline_ms;
	}
	pthread_mutex_unlock(&c->lock);
	return t;
}

void
relay_conns_set_deadline(struct relay_conns *c, long t, uint64_t deadline_ms)
{
	if (t < 0 || (unsigned long)t >= c->n)
		return;
	pthread_mutex_lock(&c->lock);
	c->e[t].deadline_ms = deadline_ms;
	pthread_mutex_unlock(&c->lock);
}

void
relay_conns_untrack(struct relay_conns *c, long t)
{
	if (t < 0 || (unsigned long)t >= c->n)
		return;
	pthread_mutex_lock(&c->lock);
	c->e[t].fd = -1;
	c->e[t].deadline_ms = 0;
	c->e[t].next_free = c->free_head;
	c->free_head = t;
	pthread_mutex_unlock(&c->lock);
}

unsigned
relay_conns_sweep(struct relay_conns *c, uint64_t now_ms)
{
	unsigned i, n = 0;

	/*
	 * Under the lock, so untrack (which runs before libmicrohttpd closes
	 * the socket) cannot let us hit an fd number that was reused.
	 */
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->n; i++)
		if (c->e[i].fd >= 0 && c->e[i].deadline_ms != 0 &&
		    c->e[i].deadline_ms <= now_ms) {
			shutdown(c->e[i].fd, SHUT_RDWR);
			c->e[i].deadline_ms = 0;
			n++;
		}
	pthread_mutex_unlock(&c->lock);
	return n;
}
