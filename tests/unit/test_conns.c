/* Unit tests of conns.h: request deadlines on real sockets. */
#include <sys/socket.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

/* cmocka.h wants stdarg.h, stddef.h, stdint.h and setjmp.h first. */
#include <cmocka.h>

#include "conns.h"

/* True when the peer of sv[1] was shut down: a read sees end of file. */
static int
peer_shut(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);

	if (n == 0)
		return 1;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return -1;
}

static void
test_track_until_full(void **state)
{
	struct relay_conns *c = NULL;
	long t[4];
	int i;

	(void)state;
	assert_int_equal(relay_conns_new(3, &c), 0);
	assert_non_null(c);
	for (i = 0; i < 3; i++) {
		t[i] = relay_conns_track(c, 100 + i, 0);
		assert_in_range(t[i], 0, 2);
	}
	assert_true(t[0] != t[1] && t[1] != t[2] && t[0] != t[2]);
	assert_int_equal(relay_conns_track(c, 200, 0), -1);
	/* a ticket given back is handed out again */
	relay_conns_untrack(c, t[1]);
	t[3] = relay_conns_track(c, 201, 0);
	assert_int_equal(t[3], t[1]);
	assert_int_equal(relay_conns_track(c, 202, 0), -1);
	/* bad tickets are ignored */
	relay_conns_untrack(c, -1);
	relay_conns_untrack(c, 3);
	relay_conns_set_deadline(c, -1, 1);
	relay_conns_set_deadline(c, 99, 1);
	assert_int_equal(relay_conns_sweep(c, 0), 0);
	relay_conns_free(&c);
	assert_null(c);
	relay_conns_free(&c);
	relay_conns_free(NULL);
}

static void
test_sweep(void **state)
{
	struct relay_conns *c = NULL;
	int late[2], early[2], none[2], gone[2];
	long tl, te, tn, tg;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, late), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, early), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, none), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, gone), 0);
	assert_int_equal(relay_conns_new(8, &c), 0);
	tl = relay_conns_track(c, late[0], 1000);
	te = relay_conns_track(c, early[0], 5000);
	tn = relay_conns_track(c, none[0], 0);
	tg = relay_conns_track(c, gone[0], 1000);
	assert_true(tl >= 0 && te >= 0 && tn >= 0 && tg >= 0);
	relay_conns_untrack(c, tg);

	/* before any deadline: nothing */
	assert_int_equal(relay_conns_sweep(c, 999), 0);
	assert_int_equal(peer_shut(late[1]), 0);
	/* at the deadline: only the late one, and only once */
	assert_int_equal(relay_conns_sweep(c, 1000), 1);
	assert_int_equal(peer_shut(late[1]), 1);
	assert_int_equal(peer_shut(early[1]), 0);
	assert_int_equal(peer_shut(none[1]), 0);
	assert_int_equal(peer_shut(gone[1]), 0);
	assert_int_equal(relay_conns_sweep(c, 2000), 0);

	/* a request being answered has no deadline; a new one counts */
	relay_conns_set_deadline(c, te, 0);
	assert_int_equal(relay_conns_sweep(c, 1000000), 0);
	assert_int_equal(peer_shut(early[1]), 0);
	relay_conns_set_deadline(c, te, 3000);
	assert_int_equal(relay_conns_sweep(c, 3000), 1);
	assert_int_equal(peer_shut(early[1]), 1);
	assert_int_equal(peer_shut(none[1]), 0);

	relay_conns_untrack(c, tl);
	relay_conns_untrack(c, te);
	relay_conns_untrack(c, tn);
	relay_conns_free(&c);
	close(late[0]);
	close(late[1]);
	close(early[0]);
	close(early[1]);
	close(none[0]);
	close(none[1]);
	close(gone[0]);
	close(gone[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_track_until_full),
		cmocka_unit_test(test_sweep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
