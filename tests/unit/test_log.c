/*
 * Unit tests of log.h: quoting of client values, one line per call, and
 * the per-second cap of relay_log_limited().
 */
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

#include "log.h"

static const struct {
	const char *in;
	size_t outlen;
	const char *out;
} quotes[] = {
	{ "alice", 80, "\"alice\"" },
	{ "", 80, "\"\"" },
	{ "a\nb", 80, "\"a?b\"" },
	{ "a\r\nfake: line", 80, "\"a??fake: line\"" },
	{ "tab\there", 80, "\"tab?here\"" },
	{ "\x1b[31mred", 80, "\"?[31mred\"" },
	{ "del\x7f", 80, "\"del?\"" },
	{ "caf\xc3\xa9", 80, "\"caf??\"" },
	{ "say \"hi\"", 80, "\"say ?hi?\"" },
	/* at most outlen - 3 characters, a cut one ending in "..." */
	{ "abcdefgh", 8, "\"ab...\"" },
	{ "abcde", 8, "\"abcde\"" },
	{ "abcdef", 3, "\"\"" },
	{ NULL, 10, "\"\"" },
};

static void
test_quote(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(quotes) / sizeof(quotes[0]); i++) {
		char out[128];
		const char *r;

		memset(out, '#', sizeof(out));
		r = relay_log_quote(quotes[i].in, out, quotes[i].outlen);
		assert_ptr_equal(r, out);
		assert_string_equal(out, quotes[i].out);
		assert_true(strlen(out) < quotes[i].outlen);
		assert_int_equal(out[quotes[i].outlen], '#');
	}
}

static void
test_quote_tiny(void **state)
{
	char out[4] = "###";

	(void)state;
	relay_log_quote("abc", out, 2);
	assert_string_equal(out, "");
	assert_int_equal(out[2], '#');
	out[0] = '#';
	relay_log_quote("abc", out, 0);
	assert_int_equal(out[0], '#');
}

/* Runs fn with stderr sent to a temporary file; returns what it got. */
static void
capture_stderr(void (*fn)(void), char *out, size_t outlen)
{
	FILE *tmp = tmpfile();
	int saved;
	size_t n;

	assert_non_null(tmp);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(out, 1, outlen - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
}

static void
log_two(void)
{
	relay_log(RELAY_LOG_INFO, "login %s registered", "AAAA");
	relay_log(RELAY_LOG_ERR, "%d problems", 2);
}

static void
log_long(void)
{
	char big[3000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	relay_log(RELAY_LOG_WARN, "%s", big);
}

static void
test_log_lines(void **state)
{
	char out[4096];
	size_t len;

	(void)state;
	unsetenv("JOURNAL_STREAM");
	relay_log_init();
	capture_stderr(log_two, out, sizeof(out));
	assert_string_equal(out,
	    "pam-ion-relay: login AAAA registered\n"
	    "pam-ion-relay: 2 problems\n");
	/* an overlong message is cut, still one line */
	capture_stderr(log_long, out, sizeof(out));
	len = strlen(out);
	assert_true(len > 100 && len <= 1024);
	assert_int_equal(out[len - 1], '\n');
	assert_ptr_equal(strchr(out, '\n'), out + len - 1);
}

#define WINDOW(second, lines) ((uint64_t)(second) << 20 | (lines))

/* The cap, and the next second's fresh allowance. */
static void
test_limit_cap(void **state)
{
	struct relay_log_limit lim;
	bool fresh;
	int i;

	(void)state;
	memset(&lim, 0, sizeof(lim));
	assert_true(relay_log_limit_admit(&lim, 100, &fresh));
	assert_true(fresh);
	for (i = 1; i < RELAY_LOG_LIMIT_PER_S; i++) {
		assert_true(relay_log_limit_admit(&lim, 100, &fresh));
		assert_false(fresh);
	}
	assert_false(relay_log_limit_admit(&lim, 100, &fresh));
	assert_true(relay_log_limit_admit(&lim, 101, &fresh));
	assert_true(fresh);
	assert_int_equal(atomic_load(&lim.window), WINDOW(101, 1));
}

/*
 * A thread that read second 100 and then lost the race to threads already
 * in 101 counts in 101: resetting the window to 100 would hand out a second
 * allowance, and the next thread in 101 a third.
 */
static void
test_limit_never_back(void **state)
{
	struct relay_log_limit lim;
	bool fresh;

	(void)state;
	memset(&lim, 0, sizeof(lim));
	atomic_store(&lim.window, WINDOW(101, RELAY_LOG_LIMIT_PER_S));
	assert_false(relay_log_limit_admit(&lim, 100, &fresh));
	assert_int_equal(
	    atomic_load(&lim.window), WINDOW(101, RELAY_LOG_LIMIT_PER_S));
	assert_false(relay_log_limit_admit(&lim, 101, &fresh));

	atomic_store(&lim.window, WINDOW(101, 3));
	assert_true(relay_log_limit_admit(&lim, 100, &fresh));
	assert_false(fresh);
	assert_int_equal(atomic_load(&lim.window), WINDOW(101, 4));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_quote_tiny),
		cmocka_unit_test(test_log_lines),
		cmocka_unit_test(test_limit_cap),
		cmocka_unit_test(test_limit_never_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
