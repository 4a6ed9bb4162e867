/* Unit tests of errors.h: every code has its own short, constant name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka.h wants stdarg.h, stddef.h, stdint.h and setjmp.h first. */
#include <cmocka.h>

#include "errors.h"

/* The last code errors.h defines: a new one must be added here too. */
#define LAST_ERR ION_ERR_RETRY

/* Every code with the name it must have: the names are part of the logs. */
static const struct {
	int err;
	int value;
	const char *name;
} codes[] = {
	{ ION_OK, 0, "success" },
	{ ION_ERR_NOMEM, -1, "out of memory" },
	{ ION_ERR_INVALID, -2, "malformed input" },
	{ ION_ERR_RANGE, -3, "value out of range" },
	{ ION_ERR_NOT_FOUND, -4, "not found" },
	{ ION_ERR_EXISTS, -5, "already exists" },
	{ ION_ERR_FULL, -6, "capacity reached" },
	{ ION_ERR_DENIED, -7, "not allowed" },
	{ ION_ERR_SYSTEM, -8, "system error" },
	{ ION_ERR_CRYPTO, -9, "crypto library error" },
	{ ION_ERR_USED, -10, "already used" },
	{ ION_ERR_PENDING, -11, "pending" },
	{ ION_ERR_UNAVAIL, -12, "server unavailable" },
	{ ION_ERR_TIMEOUT, -13, "timed out" },
	{ ION_ERR_AUTH, -14, "verification failed" },
	{ ION_ERR_CONFIG, -15, "bad configuration" },
	{ ION_ERR_CONV, -16, "conversation failed" },
	{ ION_ERR_NO_USER, -17, "no local account" },
	{ ION_ERR_REFUSED, -18, "refused at the provider" },
	{ ION_ERR_ABORTED, -19, "sign-in abandoned" },
	{ ION_ERR_RETRY, -20, "failed for now, retry" },
};

#define NCODES (sizeof(codes) / sizeof(codes[0]))

/* The codes are consecutive from 0 down, with the values they document. */
static void
test_values(void **state)
{
	size_t i;

	(void)state;
	assert_int_equal(NCODES, 1 - LAST_ERR);
	for (i = 0; i < NCODES; i++) {
		if (codes[i].err != codes[i].value)
			fail_msg("code #%zu is %d, expected %d", i,
			    codes[i].err, codes[i].value);
		assert_int_equal(codes[i].err, -(int)i);
	}
}

static void
test_names(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < NCODES; i++) {
		const char *s = ion_strerror(codes[i].err);

		assert_non_null(s);
		if (strcmp(s, codes[i].name) != 0)
			fail_msg("ion_strerror(%d) is \"%s\", expected \"%s\"",
			    codes[i].err, s, codes[i].name);
		/* short and log-safe: printable ASCII, no newline */
		assert_true(strlen(s) > 0 && strlen(s) < 40);
		for (j = 0; s[j] != '\0'; j++)
			assert_true(s[j] >= 0x20 && s[j] < 0x7f);
		assert_string_not_equal(s, "unknown error");
	}
}

/* No two codes share a name: a log line names one cause. */
static void
test_names_distinct(void **state)
{
	int a, b;

	(void)state;
	for (a = ION_OK; a >= LAST_ERR; a--)
		for (b = a - 1; b >= LAST_ERR; b--)
			if (strcmp(ion_strerror(a), ion_strerror(b)) == 0)
				fail_msg("%d and %d are both \"%s\"", a, b,
				    ion_strerror(a));
}

/* The name is a constant: the same pointer every time. */
static void
test_names_constant(void **state)
{
	int err;

	(void)state;
	for (err = ION_OK; err >= LAST_ERR; err--)
		assert_ptr_equal(ion_strerror(err), ion_strerror(err));
}

static void
test_unknown(void **state)
{
	static const int unknown[] = { LAST_ERR - 1, LAST_ERR - 2, 1, 2, 12, 20,
		-1000, 1000, -2147483647 - 1, 2147483647 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		assert_string_equal(ion_strerror(unknown[i]), "unknown error");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_names_distinct),
		cmocka_unit_test(test_names_constant),
		cmocka_unit_test(test_unknown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
