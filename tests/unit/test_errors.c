/* Unit tests of errors.h: every code has its own short, constant name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka.h wants stdarg.h, stddef.h, stdint.h and setjmp.h first. */
#include <cmocka.h>

#include "errors.h"

static void
test_names(void **state)
{
	const char *names[13];
	int err, i;

	(void)state;
	for (err = ION_OK; err >= ION_ERR_PENDING; err--) {
		const char *s = ion_strerror(err);

		assert_non_null(s);
		assert_true(strlen(s) > 0);
		assert_string_not_equal(s, "unknown error");
		names[-err] = s;
		for (i = 0; i < -err; i++)
			assert_string_not_equal(names[i], s);
	}
	assert_string_equal(ion_strerror(ION_OK), "success");
	assert_string_equal(ion_strerror(ION_ERR_NOT_FOUND), "not found");
	assert_string_equal(ion_strerror(ION_ERR_PENDING - 1), "unknown error");
	assert_string_equal(ion_strerror(1), "unknown error");
	assert_string_equal(ion_strerror(-1000), "unknown error");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
