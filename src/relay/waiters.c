#include "waiters.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "crypto.h"
#include "errors.h"
#include "siphash.h"
#include "store.h"

#define NIL UINT32_MAX
#define KICK_TAG UINT64_MAX
#define MAX_IDLE_MS 1000

struct slot {
	void *conn;
	uint64_t deadline_ms;
	uint32_t gen;	   /* tells a stale epoll event from a live one */
	uint32_t next;	   /* index chain, or free list */
	uint32_t heap_pos; /* NIL when not in the deadline heap */
	int fd;
	bool in_use, in_index, suspended, in_epoll;
	enum relay_wake woken;
	char state[RELAY_STATE_LEN + 1];
};

struct relay_waiters {
	pthread_mutex_t lock;
	pthread_cond_t drained;
	struct slot *slots;
	uint32_t nslots, free_head, used;
	uint32_t *index; /* state -> first slot, chained through next */
	uint32_t nindex; /* a power of two */
	uint32_t *heap;	 /* slot numbers, earliest deadline first */
	uint32_t heap_len;
	uint64_t planned_ms; /* when the thread means to look next */
	bool stopping, shutting_down;
	int epfd, kickfd;
	pthread_t thread;
	bool thread_started;
	struct relay_waiters_ops ops;
	unsigned char key[16];
};

static uint32_t
index_bucket(const struct relay_waiters *w, const char *state)
{
	return (uint32_t)relay_siphash(w->key, state, RELAY_STATE_LEN) &
	    (w->nindex - 1);
}

static void
heap_swap(struct relay_waiters *w, uint32_t a, uint32_t b)
{
	uint32_t t = w->heap[a];

	w->heap[a] = w->heap[b];
	w->heap[b] = t;
	w->slots[w->heap[a]].heap_pos = a;
	w->slots[w->heap[b]].heap_pos = b;
}

static uint64_t
heap_key(const struct relay_waiters *w, uint32_t pos)
{
	return w->slots[w->heap[pos]].deadline_ms;
}

static void
heap_up(struct relay_waiters *w, uint32_t pos)
{
	while (pos > 0 && heap_key(w, (pos - 1) / 2) > heap_key(w, pos)) {
		heap_swap(w, pos, (pos - 1) / 2);
		pos = (pos - 1) / 2;
	}
}

static void
heap_down(struct relay_waiters *w, uint32_t pos)
{
	for (;;) {
		uint32_t l = 2 * pos + 1, r = l + 1, m = pos;

		if (l < w->heap_len && heap_key(w, l) < heap_key(w, m))
			m = l;
		if (r < w->heap_len && heap_key(w, r) < heap_key(w, m))
			m = r;
		if (m == pos)
			return;
		heap_swap(w, pos, m);
		pos = m;
	}
}

static void
heap_remove(struct relay_waiters *w, uint32_t i)
{
	uint32_t pos = w->slots[i].heap_pos;

	if (pos == NIL)
		return;
	w->heap_len--;
	if (pos != w->heap_len) {
		heap_swap(w, pos, w->heap_len);
		heap_down(w, pos);
		heap_up(w, pos);
	}
	w->slots[i].heap_pos = NIL;
}

static void
index_remove(struct relay_waiters *w, uint32_t i)
{
	uint32_t *pp;

	if (!w->slots[i].in_index)
		return;
	pp = &w->index[index_bucket(w, w->slots[i].state)];
	while (*pp != NIL && *pp != i)
		pp = &w->slots[*pp].next;
	if (*pp == i)
		*pp = w->slots[i].next;
	w->slots[i].in_index = false;
}

static void
kick(struct relay_waiters *w)
{
	uint64_t one = 1;

	if (write(w->kickfd, &one, sizeof(one)) < 0) {
		/* The counter is full: the thread is awake anyway. */
	}
}

/* Wakes slot i for the given reason; with the lock held. */
static void
wake_slot(struct relay_waiters *w, uint32_t i, enum relay_wake why)
{
	struct slot *s = &w->slots[i];

	if (!s->in_use || s->woken != RELAY_WAKE_NONE)
		return;
	s->woken = why;
	index_remove(w, i);
	heap_remove(w, i);
	if (s->in_epoll) {
		/* Before the resume: once resumed, MHD may close the fd. */
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, s->fd, NULL);
		s->in_epoll = false;
	}
	if (s->suspended) {
		s->suspended = false;
		w->ops.resume(s->conn);
	}
}

static void *
watch(void *arg)
{
	struct relay_waiters *w = arg;
	struct epoll_event ev[64];
	uint64_t tick_due = 0;

	for (;;) {
		uint64_t now = ion_now_ms(), until;
		int n, i, timeout;

		if (now >= tick_due) {
			tick_due = w->ops.tick(w->ops.tick_arg, now);
			if (tick_due == 0 || tick_due > now + MAX_IDLE_MS)
				tick_due = now + MAX_IDLE_MS;
		}
		pthread_mutex_lock(&w->lock);
		if (w->stopping) {
			pthread_mutex_unlock(&w->lock);
			break;
		}
		until = tick_due;
		if (w->heap_len > 0 && heap_key(w, 0) < until)
			until = heap_key(w, 0);
		w->planned_ms = until;
		pthread_mutex_unlock(&w->lock);

		timeout = until > now ? (int)(until - now) : 0;
		n = epoll_wait(w->epfd, ev, 64, timeout);
		if (n < 0 && errno != EINTR)
			n = 0;

		pthread_mutex_lock(&w->lock);
		for (i = 0; i < n; i++) {
			uint64_t tag = ev[i].data.u64;
			uint32_t slot = (uint32_t)tag,
				 gen = (uint32_t)(tag >> 32);
			uint64_t drain;

			if (tag == KICK_TAG) {
				if (read(w->kickfd, &drain, sizeof(drain)) <
				    0) {
					/* Nothing to drain. */
				}
				continue;
			}
			if (slot < w->nslots && w->slots[slot].in_use &&
			    w->slots[slot].gen == gen)
				wake_slot(w, slot, RELAY_WAKE_GONE);
		}
		now = ion_now_ms();
		while (w->heap_len > 0 && heap_key(w, 0) <= now)
			wake_slot(w, w->heap[0], RELAY_WAKE_TIMEOUT);
		pthread_mutex_unlock(&w->lock);
	}
	return NULL;
}

/* The slots (all free), the heap and the empty index; false: no memory. */
static bool
make_slots(struct relay_waiters *w, unsigned max_slots)
{
	uint32_t i;

	w->nslots = max_slots;
	for (w->nindex = 16; w->nindex < max_slots; w->nindex *= 2)
		;
	w->slots = calloc(w->nslots, sizeof(*w->slots));
	w->heap = calloc(w->nslots, sizeof(*w->heap));
	w->index = malloc(w->nindex * sizeof(*w->index));
	if (w->slots == NULL || w->heap == NULL || w->index == NULL)
		return false;
	for (i = 0; i < w->nindex; i++)
		w->index[i] = NIL;
	for (i = 0; i < w->nslots; i++) {
		w->slots[i].next = i + 1 < w->nslots ? i + 1 : NIL;
		w->slots[i].heap_pos = NIL;
	}
	return true;
}

int
relay_waiters_new(unsigned max_slots, const struct relay_waiters_ops *ops,
    struct relay_waiters **ret)
{
	struct relay_waiters *w;
	struct epoll_event ev;
	int r = ION_ERR_NOMEM;

	if (max_slots == 0 || max_slots > (1u << 24))
		return ION_ERR_RANGE;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return ION_ERR_NOMEM;
	w->epfd = w->kickfd = -1;
	w->ops = *ops;
	if (!make_slots(w, max_slots))
		goto out;
	if ((r = ion_random_bytes(w->key, sizeof(w->key))) != 0)
		goto out;
	r = ION_ERR_SYSTEM;
	if (pthread_mutex_init(&w->lock, NULL) != 0)
		goto out;
	if (pthread_cond_init(&w->drained, NULL) != 0) {
		pthread_mutex_destroy(&w->lock);
		goto out;
	}
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->epfd < 0 || w->kickfd < 0)
		goto out_sync;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = KICK_TAG;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->kickfd, &ev) != 0)
		goto out_sync;
	if (pthread_create(&w->thread, NULL, watch, w) != 0)
		goto out_sync;
	w->thread_started = true;
	*ret = w;
	return 0;
out_sync:
	pthread_cond_destroy(&w->drained);
	pthread_mutex_destroy(&w->lock);
out:
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->kickfd >= 0)
		close(w->kickfd);
	free(w->slots);
	free(w->heap);
	free(w->index);
	free(w);
	return r;
}

void
relay_waiters_free(struct relay_waiters **pw)
{
	struct relay_waiters *w;

	if (pw == NULL || (w = *pw) == NULL)
		return;
	if (w->thread_started) {
		pthread_mutex_lock(&w->lock);
		w->stopping = true;
		pthread_mutex_unlock(&w->lock);
		kick(w);
		pthread_join(w->thread, NULL);
	}
	pthread_cond_destroy(&w->drained);
	pthread_mutex_destroy(&w->lock);
	close(w->epfd);
	close(w->kickfd);
	free(w->slots);
	free(w->heap);
	free(w->index);
	free(w);
	*pw = NULL;
}

int
relay_waiters_park(struct relay_waiters *w, const char *state, void *conn,
    int fd, uint64_t deadline_ms, unsigned *ret_ticket)
{
	uint32_t i, b, j;
	struct slot *s;
	bool earlier;

	pthread_mutex_lock(&w->lock);
	if (w->shutting_down) {
		pthread_mutex_unlock(&w->lock);
		return ION_ERR_UNAVAIL;
	}
	b = index_bucket(w, state);
	/*
	 * One poll per login: a newer one means the older client gave up.
	 * Even when the table is full, so that a stale poll cannot take the
	 * result the newer one (answered busy, polling again) waits for.
	 */
	for (j = w->index[b]; j != NIL; j = w->slots[j].next)
		if (memcmp(w->slots[j].state, state, RELAY_STATE_LEN) == 0) {
			wake_slot(w, j, RELAY_WAKE_REPLACED);
			break;
		}
	if (w->free_head == NIL) {
		pthread_mutex_unlock(&w->lock);
		return ION_ERR_FULL;
	}
	i = w->free_head;
	s = &w->slots[i];
	w->free_head = s->next;
	s->conn = conn;
	s->fd = fd;
	s->deadline_ms = deadline_ms;
	s->gen++;
	s->in_use = true;
	s->suspended = s->in_epoll = false;
	s->woken = RELAY_WAKE_NONE;
	memcpy(s->state, state, RELAY_STATE_LEN);
	s->state[RELAY_STATE_LEN] = '\0';
	s->next = w->index[b];
	w->index[b] = i;
	s->in_index = true;
	s->heap_pos = w->heap_len;
	w->heap[w->heap_len++] = i;
	heap_up(w, s->heap_pos);
	w->used++;
	earlier = deadline_ms < w->planned_ms;
	pthread_mutex_unlock(&w->lock);
	if (earlier)
		kick(w);
	*ret_ticket = i;
	return 0;
}

void
relay_waiters_advance(
    struct relay_waiters *w, unsigned ticket, uint64_t deadline_ms)
{
	struct slot *s = &w->slots[ticket];
	bool earlier = false;

	pthread_mutex_lock(&w->lock);
	if (s->in_use && s->heap_pos != NIL && deadline_ms < s->deadline_ms) {
		s->deadline_ms = deadline_ms;
		heap_up(w, s->heap_pos);
		earlier = deadline_ms < w->planned_ms;
	}
	pthread_mutex_unlock(&w->lock);
	if (earlier)
		kick(w);
}

bool
relay_waiters_suspend(struct relay_waiters *w, unsigned ticket)
{
	struct slot *s = &w->slots[ticket];
	struct epoll_event ev;
	bool parked = false;

	pthread_mutex_lock(&w->lock);
	if (s->woken == RELAY_WAKE_NONE) {
		/*
		 * Suspend under the lock: a waker takes it too, so it either
		 * ran before (woken is set) or sees suspended and resumes.
		 */
		w->ops.suspend(s->conn);
		s->suspended = true;
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLRDHUP;
		ev.data.u64 = (uint64_t)s->gen << 32 | ticket;
		if (s->fd >= 0 &&
		    epoll_ctl(w->epfd, EPOLL_CTL_ADD, s->fd, &ev) == 0)
			s->in_epoll = true;
		parked = true;
	}
	pthread_mutex_unlock(&w->lock);
	return parked;
}

enum relay_wake
relay_waiters_why(struct relay_waiters *w, unsigned ticket)
{
	enum relay_wake why;

	pthread_mutex_lock(&w->lock);
	why = w->slots[ticket].woken;
	pthread_mutex_unlock(&w->lock);
	return why;
}

enum relay_wake
relay_waiters_release(struct relay_waiters *w, unsigned ticket)
{
	struct slot *s = &w->slots[ticket];
	enum relay_wake why;

	pthread_mutex_lock(&w->lock);
	why = s->woken;
	index_remove(w, ticket);
	heap_remove(w, ticket);
	if (s->in_epoll) {
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, s->fd, NULL);
		s->in_epoll = false;
	}
	s->in_use = s->suspended = false;
	s->conn = NULL;
	s->fd = -1;
	s->next = w->free_head;
	w->free_head = ticket;
	w->used--;
	if (w->used == 0)
		pthread_cond_broadcast(&w->drained);
	pthread_mutex_unlock(&w->lock);
	return why;
}

void
relay_waiters_wake(
    struct relay_waiters *w, const char *state, enum relay_wake why)
{
	uint32_t j;

	pthread_mutex_lock(&w->lock);
	for (j = w->index[index_bucket(w, state)]; j != NIL;
	     j = w->slots[j].next)
		if (memcmp(w->slots[j].state, state, RELAY_STATE_LEN) == 0) {
			wake_slot(w, j, why);
			break;
		}
	pthread_mutex_unlock(&w->lock);
}

void
relay_waiters_wake_all(struct relay_waiters *w, enum relay_wake why)
{
	uint32_t i;

	pthread_mutex_lock(&w->lock);
	for (i = 0; i < w->nslots; i++)
		wake_slot(w, i, why);
	pthread_mutex_unlock(&w->lock);
}

void
relay_waiters_shutdown(struct relay_waiters *w, unsigned timeout_ms)
{
	struct timespec until;
	uint32_t i;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&w->lock);
	w->shutting_down = true;
	for (i = 0; i < w->nslots; i++)
		wake_slot(w, i, RELAY_WAKE_SHUTDOWN);
	while (w->used > 0)
		if (pthread_cond_timedwait(&w->drained, &w->lock, &until) != 0)
			break;
	pthread_mutex_unlock(&w->lock);
}

size_t
relay_waiters_count(struct relay_waiters *w)
{
	size_t n;

	pthread_mutex_lock(&w->lock);
	n = w->used;
	pthread_mutex_unlock(&w->lock);
	return n;
}
