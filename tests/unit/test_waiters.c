/*
 * Unit tests of waiters.h with stub connections: suspend and resume only
 * count their calls, the tick counts its own.  The watcher thread is real,
 * so timeouts and disconnects are waited for with bounded polling loops.
 */
#include <sys/socket.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka.h wants stdarg.h, stddef.h, stdint.h and setjmp.h first. */
#include <cmocka.h>

#include "errors.h"
#include "store.h"
#include "waiters.h"

#define WAIT_LIMIT_MS 1000
#define FAR_MS (60 * 1000)

/* A stand-in for a connection. */
struct conn {
	atomic_int suspends;
	atomic_int resumes;
	atomic_uint_fast64_t resumed_at; /* ion_now_ms() of the last */
};

struct fixture {
	struct relay_waiters *w;
	struct relay_waiters_ops ops;
	atomic_int ticks;
	atomic_uint_fast64_t tick_every_ms; /* 0: let it idle */
	bool tick_arg_ok;
	struct conn conns[16];
};

static void
stub_suspend(void *c)
{
	atomic_fetch_add(&((struct conn *)c)->suspends, 1);
}

static void
stub_resume(void *c)
{
	atomic_store(&((struct conn *)c)->resumed_at, ion_now_ms());
	atomic_fetch_add(&((struct conn *)c)->resumes, 1);
}

static uint64_t
stub_tick(void *arg, uint64_t now_ms)
{
	struct fixture *f = arg;
	uint64_t every = atomic_load(&f->tick_every_ms);

	atomic_fetch_add(&f->ticks, 1);
	return every != 0 ? now_ms + every : 0;
}

static struct fixture *
fixture_new_ticking(unsigned slots, uint64_t tick_every_ms)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	atomic_store(&f->tick_every_ms, tick_every_ms);
	f->ops.suspend = stub_suspend;
	f->ops.resume = stub_resume;
	f->ops.tick = stub_tick;
	f->ops.tick_arg = f;
	assert_int_equal(relay_waiters_new(slots, &f->ops, &f->w), 0);
	assert_non_null(f->w);
	return f;
}

static struct fixture *
fixture_new(unsigned slots)
{
	return fixture_new_ticking(slots, 0);
}

static int
setup(void **state)
{
	*state = fixture_new(8);
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	relay_waiters_free(&f->w);
	assert_null(f->w);
	free(f);
	return 0;
}

static void
make_state(unsigned n, char out[RELAY_STATE_LEN + 1])
{
	snprintf(out, RELAY_STATE_LEN + 1, "state-%037u", n);
}

/* Polls until conn has been resumed want times, for at most limit_ms. */
static bool
wait_resumes(struct conn *c, int want, unsigned limit_ms)
{
	unsigned waited;

	for (waited = 0; waited < limit_ms; waited += 5) {
		if (atomic_load(&c->resumes) >= want)
			return true;
		usleep(5000);
	}
	return atomic_load(&c->resumes) >= want;
}

static unsigned
park(struct fixture *f, unsigned n, struct conn *c, int fd, uint64_t deadline)
{
	char s[RELAY_STATE_LEN + 1];
	unsigned ticket = 9999;

	make_state(n, s);
	assert_int_equal(
	    relay_waiters_park(f->w, s, c, fd, deadline, &ticket), 0);
	return ticket;
}

static void
wake(struct fixture *f, unsigned n, enum relay_wake why)
{
	char s[RELAY_STATE_LEN + 1];

	make_state(n, s);
	relay_waiters_wake(f->w, s, why);
}

static void
test_wake_after_suspend(void **state)
{
	struct fixture *f = *state;
	struct conn *c = &f->conns[0];
	unsigned t;

	assert_int_equal(relay_waiters_count(f->w), 0);
	t = park(f, 1, c, -1, ion_now_ms() + FAR_MS);
	assert_int_equal(relay_waiters_count(f->w), 1);
	/* parking alone suspends nothing */
	assert_int_equal(atomic_load(&c->suspends), 0);
	assert_true(relay_waiters_suspend(f->w, t));
	assert_int_equal(atomic_load(&c->suspends), 1);
	assert_int_equal(atomic_load(&c->resumes), 0);

	wake(f, 1, RELAY_WAKE_RESULT);
	assert_int_equal(atomic_load(&c->resumes), 1);
	/* a second wake of the same login does nothing more */
	wake(f, 1, RELAY_WAKE_EXPIRED);
	assert_int_equal(atomic_load(&c->resumes), 1);
	assert_int_equal(relay_waiters_count(f->w), 1);
	assert_int_equal(relay_waiters_release(f->w, t), RELAY_WAKE_RESULT);
	assert_int_equal(relay_waiters_count(f->w), 0);
	assert_int_equal(atomic_load(&c->resumes), 1);
	assert_int_equal(atomic_load(&c->suspends), 1);
}

static void
test_wake_before_suspend(void **state)
{
	struct fixture *f = *state;
	struct conn *c = &f->conns[0];
	unsigned t;

	t = park(f, 1, c, -1, ion_now_ms() + FAR_MS);
	wake(f, 1, RELAY_WAKE_RESULT);
	assert_int_equal(atomic_load(&c->resumes), 0);
	assert_false(relay_waiters_suspend(f->w, t));
	assert_int_equal(atomic_load(&c->suspends), 0);
	assert_int_equal(atomic_load(&c->resumes), 0);
	assert_int_equal(relay_waiters_release(f->w, t), RELAY_WAKE_RESULT);
	assert_int_equal(relay_waiters_count(f->w), 0);
}

static void
test_release_unwoken(void **state)
{
	struct fixture *f = *state;
	struct conn *c = &f->conns[0];
	unsigned t;

	t = park(f, 1, c, -1, ion_now_ms() + FAR_MS);
	assert_true(relay_waiters_suspend(f->w, t));
	assert_int_equal(relay_waiters_release(f->w, t), RELAY_WAKE_NONE);
	assert_int_equal(relay_waiters_count(f->w), 0);
	/* released means forgotten: a later wake finds nothing */
	wake(f, 1, RELAY_WAKE_RESULT);
	assert_int_equal(atomic_load(&c->resumes), 0);
}

static void
test_wake_only_that_state(void **state)
{
	struct fixture *f = *state;
	unsigned t[6], i;

	for (i = 0; i < 6; i++) {
		t[i] = park(f, i, &f->conns[i], -1, ion_now_ms() + FAR_MS);
		assert_true(relay_waiters_suspend(f->w, t[i]));
	}
	wake(f, 3, RELAY_WAKE_RESULT);
	wake(f, 99, RELAY_WAKE_RESULT); /* unknown: nothing */
	for (i = 0; i < 6; i++)
		assert_int_equal(
		    atomic_load(&f->conns[i].resumes), i == 3 ? 1 : 0);
	for (i = 0; i < 6; i++)
		assert_int_equal(relay_waiters_release(f->w, t[i]),
		    i == 3 ? RELAY_WAKE_RESULT : RELAY_WAKE_NONE);
}

static void
test_timeout(void **state)
{
	struct fixture *f = *state;
	struct conn *c = &f->conns[0], *other = &f->conns[1];
	uint64_t start = ion_now_ms();
	unsigned t, t2;

	t2 = park(f, 2, other, -1, start + FAR_MS);
	assert_true(relay_waiters_suspend(f->w, t2));
	t = park(f, 1, c, -1, start + 50);
	assert_true(relay_waiters_suspend(f->w, t));
	assert_true(wait_resumes(c, 1, WAIT_LIMIT_MS));
	/* not before its deadline */
	assert_true(ion_now_ms() >= start + 50);
	assert_int_equal(atomic_load(&c->resumes), 1);
	assert_int_equal(relay_waiters_release(f->w, t), RELAY_WAKE_TIMEOUT);
	/* the other poll is untouched */
	assert_int_equal(atomic_load(&other->resumes), 0);
	assert_int_equal(relay_waiters_release(f->w, t2), RELAY_WAKE_NONE);
}

/* A poll whose deadline passes before it suspends is not suspended. */
static void
test_timeout_before_suspend(void **state)
{
	struct fixture *f = *state;
	struct conn *c = &f->conns[0];
	unsigned t;

	t = park(f, 1, c, -1, ion_now_ms() + 20);
	usleep(300 * 1000);
	assert_false(relay_waiters_suspend(f->w, t));
	assert_int_equal(atomic_load(&c->suspends), 0);
	assert_int_equal(relay_waiters_release(f->w, t), RELAY_WAKE_TIMEOUT);
}

/* A deadline already past counts as a timeout too. */
static void
test_deadline_in_the_past(void **state)
{
	struct fixture *f = *state;
	struct conn *c = &f->conns[0];
	unsigned t;

	t = park(f, 1, c, -1, ion_now_ms() - 10);
	if (relay_waiters_suspend(f->w, t))
		assert_true(wait_resumes(c, 1, WAIT_LIMIT_MS));
	assert_int_equal(relay_waiters_release(f->w, t), RELAY_WAKE_TIMEOUT);
}

/*
 * Deadlines in any order, some polls leaving early: each of the others
 * times out, none before its deadline.
 */
static void
test_many_deadlines(void **state)
{
	enum { N = 16, SHORT = 12 };
	struct fixture *f = fixture_new(N);
	uint64_t now = ion_now_ms(), deadline[N];
	unsigned t[N], i;

	(void)state;
	for (i = 0; i < N; i++) {
		/* SHORT ones 30..195 ms away in shuffled order, the rest far */
		deadline[i] = i < SHORT ? now + 30 + (i * 7 % SHORT) * 15
					: now + FAR_MS + i;
		t[i] = park(f, i, &f->conns[i], -1, deadline[i]);
		assert_true(relay_waiters_suspend(f->w, t[i]));
	}
	/* two short ones and one far one leave from the middle of the heap */
	wake(f, 3, RELAY_WAKE_RESULT);
	assert_int_equal(relay_waiters_release(f->w, t[3]), RELAY_WAKE_RESULT);
	assert_int_equal(relay_waiters_release(f->w, t[8]), RELAY_WAKE_NONE);
	wake(f, 13, RELAY_WAKE_EXPIRED);
	for (i = 0; i < SHORT; i++) {
		if (i == 3 || i == 8)
			continue;
		assert_true(wait_resumes(&f->conns[i], 1, WAIT_LIMIT_MS));
		if (atomic_load(&f->conns[i].resumed_at) < deadline[i])
			fail_msg("poll %u woken at %llu, before its deadline "
				 "%llu",
			    i,
			    (unsigned long long)atomic_load(
				&f->conns[i].resumed_at),
			    (unsigned long long)deadline[i]);
	}
	usleep(20 * 1000);
	for (i = 0; i < N; i++) {
		enum relay_wake want = i < SHORT ? RELAY_WAKE_TIMEOUT
		    : i == 13			 ? RELAY_WAKE_EXPIRED
						 : RELAY_WAKE_NONE;

		if (i == 3 || i == 8)
			continue;
		assert_int_equal(atomic_load(&f->conns[i].resumes),
		    want == RELAY_WAKE_NONE ? 0 : 1);
		assert_int_equal(relay_waiters_release(f->w, t[i]), want);
	}
	assert_int_equal(atomic_load(&f->conns[8].resumes), 0);
	assert_int_equal(relay_waiters_count(f->w), 0);
	teardown((void **)&f);
}

static void
test_replaced(void **state)
{
	struct fixture *f = *state;
	struct conn *a = &f->conns[0], *b = &f->conns[1];
	unsigned ta, tb;

	ta = park(f, 1, a, -1, ion_now_ms() + FAR_MS);
	assert_true(relay_waiters_suspend(f->w, ta));
	tb = park(f, 1, b, -1, ion_now_ms() + FAR_MS);
	assert_int_not_equal(ta, tb);
	/* the older poll is woken at once */
	assert_int_equal(atomic_load(&a->resumes), 1);
	assert_int_equal(relay_waiters_count(f->w), 2);
	assert_true(relay_waiters_suspend(f->w, tb));
	assert_int_equal(relay_waiters_release(f->w, ta), RELAY_WAKE_REPLACED);
	/* the result goes to the newer one */
	wake(f, 1, RELAY_WAKE_RESULT);
	assert_int_equal(atomic_load(&b->resumes), 1);
	assert_int_equal(atomic_load(&a->resumes), 1);
	assert_int_equal(relay_waiters_release(f->w, tb), RELAY_WAKE_RESULT);
}

/* Replaced before it suspended: it does not suspend. */
static void
test_replaced_before_suspend(void **state)
{
	struct fixture *f = *state;
	struct conn *a = &f->conns[0], *b = &f->conns[1];
	unsigned ta, tb;

	ta = park(f, 1, a, -1, ion_now_ms() + FAR_MS);
	tb = park(f, 1, b, -1, ion_now_ms() + FAR_MS);
	assert_false(relay_waiters_suspend(f->w, ta));
	assert_int_equal(atomic_load(&a->suspends), 0);
	assert_int_equal(relay_waiters_release(f->w, ta), RELAY_WAKE_REPLACED);
	assert_true(relay_waiters_suspend(f->w, tb));
	assert_int_equal(relay_waiters_release(f->w, tb), RELAY_WAKE_NONE);
}

static void
test_full(void **state)
{
	struct fixture *f = fixture_new(3);
	char s[RELAY_STATE_LEN + 1];
	unsigned t[3], extra = 77, i;

	(void)state;
	for (i = 0; i < 3; i++)
		t[i] = park(f, i, &f->conns[i], -1, ion_now_ms() + FAR_MS);
	assert_int_equal(relay_waiters_count(f->w), 3);
	make_state(10, s);
	assert_int_equal(relay_waiters_park(f->w, s, &f->conns[5], -1,
			     ion_now_ms() + FAR_MS, &extra),
	    ION_ERR_FULL);
	assert_int_equal(extra, 77);
	assert_int_equal(relay_waiters_count(f->w), 3);
	/* a slot given back can be taken again */
	assert_int_equal(relay_waiters_release(f->w, t[1]), RELAY_WAKE_NONE);
	assert_int_equal(relay_waiters_count(f->w), 2);
	assert_int_equal(relay_waiters_park(f->w, s, &f->conns[5], -1,
			     ion_now_ms() + FAR_MS, &extra),
	    0);
	assert_int_equal(relay_waiters_count(f->w), 3);
	relay_waiters_release(f->w, t[0]);
	relay_waiters_release(f->w, t[2]);
	relay_waiters_release(f->w, extra);
	assert_int_equal(relay_waiters_count(f->w), 0);
	teardown((void **)&f);
}

/*
 * A full table still lets a newer poll replace its login's older one: the
 * older is woken (it answers without the result), the newer is refused
 * (busy) and gets the freed slot when it polls again.
 */
static void
test_replaced_when_full(void **state)
{
	struct fixture *f = fixture_new(2);
	char s[RELAY_STATE_LEN + 1];
	unsigned t[2], extra = 77, again;

	(void)state;
	t[0] = park(f, 0, &f->conns[0], -1, ion_now_ms() + FAR_MS);
	t[1] = park(f, 1, &f->conns[1], -1, ion_now_ms() + FAR_MS);
	assert_true(relay_waiters_suspend(f->w, t[0]));
	assert_true(relay_waiters_suspend(f->w, t[1]));
	make_state(1, s);
	assert_int_equal(relay_waiters_park(f->w, s, &f->conns[5], -1,
			     ion_now_ms() + FAR_MS, &extra),
	    ION_ERR_FULL);
	assert_int_equal(extra, 77);
	assert_int_equal(atomic_load(&f->conns[1].resumes), 1);
	assert_int_equal(atomic_load(&f->conns[0].resumes), 0);
	assert_int_equal(
	    relay_waiters_release(f->w, t[1]), RELAY_WAKE_REPLACED);
	again = park(f, 1, &f->conns[5], -1, ion_now_ms() + FAR_MS);
	assert_true(relay_waiters_suspend(f->w, again));
	wake(f, 1, RELAY_WAKE_RESULT);
	assert_int_equal(atomic_load(&f->conns[5].resumes), 1);
	assert_int_equal(relay_waiters_release(f->w, again), RELAY_WAKE_RESULT);
	relay_waiters_release(f->w, t[0]);
	assert_int_equal(relay_waiters_count(f->w), 0);
	teardown((void **)&f);
}

static void
test_shutdown(void **state)
{
	struct fixture *f = *state;
	char s[RELAY_STATE_LEN + 1];
	unsigned t[3], extra, i;

	for (i = 0; i < 3; i++)
		t[i] = park(f, i, &f->conns[i], -1, ion_now_ms() + FAR_MS);
	assert_true(relay_waiters_suspend(f->w, t[0]));
	assert_true(relay_waiters_suspend(f->w, t[1]));
	/* nobody releases here: it gives up after its timeout */
	relay_waiters_shutdown(f->w, 20);
	assert_int_equal(atomic_load(&f->conns[0].resumes), 1);
	assert_int_equal(atomic_load(&f->conns[1].resumes), 1);
	assert_int_equal(atomic_load(&f->conns[2].resumes), 0);
	assert_false(relay_waiters_suspend(f->w, t[2]));
	/* no new polls, and not for want of room: the caller tells them apart
	 */
	make_state(10, s);
	assert_int_equal(relay_waiters_park(f->w, s, &f->conns[5], -1,
			     ion_now_ms() + FAR_MS, &extra),
	    ION_ERR_UNAVAIL);
	for (i = 0; i < 3; i++)
		assert_int_equal(
		    relay_waiters_release(f->w, t[i]), RELAY_WAKE_SHUTDOWN);
	assert_int_equal(relay_waiters_count(f->w), 0);
}

struct releaser {
	struct fixture *f;
	unsigned ticket;
	enum relay_wake why;
};

static void *
release_when_resumed(void *arg)
{
	struct releaser *r = arg;

	wait_resumes(&r->f->conns[0], 1, WAIT_LIMIT_MS);
	usleep(50 * 1000);
	r->why = relay_waiters_release(r->f->w, r->ticket);
	return NULL;
}

/* Shutdown waits for the woken polls to give their slots back. */
static void
test_shutdown_waits_for_release(void **state)
{
	struct fixture *f = *state;
	struct releaser r;
	pthread_t th;
	uint64_t start;

	r.f = f;
	r.ticket = park(f, 1, &f->conns[0], -1, ion_now_ms() + FAR_MS);
	r.why = RELAY_WAKE_NONE;
	assert_true(relay_waiters_suspend(f->w, r.ticket));
	assert_int_equal(
	    pthread_create(&th, NULL, release_when_resumed, &r), 0);
	start = ion_now_ms();
	relay_waiters_shutdown(f->w, 5000);
	/* returned once released, well before its 5 s */
	assert_int_equal(relay_waiters_count(f->w), 0);
	assert_true(ion_now_ms() - start < 2000);
	pthread_join(th, NULL);
	assert_int_equal(r.why, RELAY_WAKE_SHUTDOWN);
	/* with nothing parked it returns at once */
	start = ion_now_ms();
	relay_waiters_shutdown(f->w, 5000);
	assert_true(ion_now_ms() - start < 1000);
}

static void
test_disconnect(void **state)
{
	struct fixture *f = *state;
	struct conn *c = &f->conns[0];
	int sv[2];
	unsigned t;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	t = park(f, 1, c, sv[0], ion_now_ms() + FAR_MS);
	assert_true(relay_waiters_suspend(f->w, t));
	/* data from the client is no disconnect */
	assert_int_equal(write(sv[1], "GET", 3), 3);
	usleep(100 * 1000);
	assert_int_equal(atomic_load(&c->resumes), 0);
	close(sv[1]);
	assert_true(wait_resumes(c, 1, WAIT_LIMIT_MS));
	assert_int_equal(relay_waiters_release(f->w, t), RELAY_WAKE_GONE);
	close(sv[0]);
}

/* A socket closed while the poll is not suspended yet: seen at suspend. */
static void
test_disconnect_before_suspend(void **state)
{
	struct fixture *f = *state;
	struct conn *c = &f->conns[0];
	int sv[2];
	unsigned t;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	t = park(f, 1, c, sv[0], ion_now_ms() + FAR_MS);
	close(sv[1]);
	if (relay_waiters_suspend(f->w, t))
		assert_true(wait_resumes(c, 1, WAIT_LIMIT_MS));
	assert_int_equal(relay_waiters_release(f->w, t), RELAY_WAKE_GONE);
	close(sv[0]);
}

/*
 * Once a poll is released, its old socket says nothing about the next
 * poll that gets the same slot.
 */
static void
test_disconnect_after_release_is_stale(void **state)
{
	struct fixture *f = fixture_new(1);
	struct conn *a = &f->conns[0], *b = &f->conns[1];
	int sv[2];
	unsigned ta, tb;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ta = park(f, 1, a, sv[0], ion_now_ms() + FAR_MS);
	assert_true(relay_waiters_suspend(f->w, ta));
	wake(f, 1, RELAY_WAKE_RESULT);
	assert_int_equal(relay_waiters_release(f->w, ta), RELAY_WAKE_RESULT);
	tb = park(f, 2, b, -1, ion_now_ms() + FAR_MS);
	assert_int_equal(tb, ta); /* the only slot */
	assert_true(relay_waiters_suspend(f->w, tb));
	close(sv[1]);
	usleep(150 * 1000);
	assert_int_equal(atomic_load(&b->resumes), 0);
	assert_int_equal(relay_waiters_release(f->w, tb), RELAY_WAKE_NONE);
	close(sv[0]);
	teardown((void **)&f);
}

/* The tick runs at once, then when it asks to, with its own argument. */
static void
test_tick(void **state)
{
	struct fixture *f = fixture_new_ticking(4, 20);
	struct conn *c = &f->conns[0];
	unsigned t;
	int ticks;

	(void)state;
	usleep(300 * 1000);
	ticks = atomic_load(&f->ticks);
	assert_in_range(ticks, 4, 20);
	/* parked polls do not stop it */
	t = park(f, 1, c, -1, ion_now_ms() + FAR_MS);
	assert_true(relay_waiters_suspend(f->w, t));
	usleep(200 * 1000);
	assert_true(atomic_load(&f->ticks) - ticks >= 3);
	assert_int_equal(relay_waiters_release(f->w, t), RELAY_WAKE_NONE);
	teardown((void **)&f);
}

/* A tick that returns 0 runs again in about a second. */
static void
test_idle_tick(void **state)
{
	struct fixture *f = *state;
	unsigned waited;
	int first;

	for (waited = 0; waited < 500 && atomic_load(&f->ticks) == 0;
	     waited += 5)
		usleep(5000);
	first = atomic_load(&f->ticks);
	assert_int_equal(first, 1);
	for (waited = 0; waited < 1500 && atomic_load(&f->ticks) == first;
	     waited += 10)
		usleep(10 * 1000);
	assert_true(atomic_load(&f->ticks) > first);
	assert_in_range(waited, 500, 1500);
}

static void
test_new_and_free(void **state)
{
	struct relay_waiters_ops ops;
	struct relay_waiters *w = NULL;

	(void)state;
	memset(&ops, 0, sizeof(ops));
	ops.suspend = stub_suspend;
	ops.resume = stub_resume;
	ops.tick = stub_tick;
	assert_int_equal(relay_waiters_new(0, &ops, &w), ION_ERR_RANGE);
	assert_null(w);
	relay_waiters_free(&w);
	relay_waiters_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_wake_after_suspend, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_wake_before_suspend, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_release_unwoken, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_wake_only_that_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_timeout_before_suspend, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_deadline_in_the_past, setup, teardown),
		cmocka_unit_test(test_many_deadlines),
		cmocka_unit_test_setup_teardown(test_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_replaced_before_suspend, setup, teardown),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_replaced_when_full),
		cmocka_unit_test_setup_teardown(test_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_shutdown_waits_for_release, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_disconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_disconnect_before_suspend, setup, teardown),
		cmocka_unit_test(test_disconnect_after_release_is_stale),
		cmocka_unit_test(test_tick),
		cmocka_unit_test_setup_teardown(
		    test_idle_tick, setup, teardown),
		cmocka_unit_test(test_new_and_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
