/* Unit tests of textfile.h: the line reading config.c and usermap.c share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h wants stdarg.h, stddef.h, stdint.h and setjmp.h first. */
#include <cmocka.h>

#include "errors.h"
#include "textfile.h"

/* The lines handed over, as "LINENO:TEXT|" one after the other. */
struct seen {
	char text[256];
	unsigned stop_at; /* return ION_ERR_CONFIG on this line; 0: never */
};

static int
collect(void *arg, char *line, unsigned lineno)
{
	struct seen *s = arg;
	size_t n = strlen(s->text);

	snprintf(s->text + n, sizeof(s->text) - n, "%u:%s|", lineno, line);
	return lineno == s->stop_at ? ION_ERR_CONFIG : 0;
}

static const struct {
	const char *in;
	const char *lines;
} cases[] = {
	{ "", "" },
	{ "a", "1:a|" },
	{ "a\n", "1:a|" },
	{ "a\nb", "1:a|2:b|" },
	{ "\n\nc\n", "3:c|" },
	/* blanks at both ends go, inner ones stay */
	{ " \t a b \t\r\n", "1:a b|" },
	{ "a\r\nb\r\n", "1:a|2:b|" },
	/* blank lines and whole-line comments are skipped */
	{ "   \n\t\r\n# x\n  # y\nz # not a comment\n",
	    "5:z # not a comment|" },
	{ "#\n", "" },
	/* control characters are the caller's to refuse */
	{ "a\x01 b\n", "1:a\x01 b|" },
};

/* ion_text_lines() on a copy of in[0..len), the lines collected in seen. */
static int
walk(const char *in, size_t len, size_t line_max, unsigned stop_at,
    struct seen *seen, char *err, size_t errlen)
{
	char *buf = malloc(len + 1);
	int r;

	assert_non_null(buf);
	memcpy(buf, in, len);
	buf[len] = '\0';
	memset(seen, 0, sizeof(*seen));
	seen->stop_at = stop_at;
	r = ion_text_lines(
	    buf, len, line_max, "/etc/f", collect, seen, err, errlen);
	free(buf);
	return r;
}

static void
test_lines(void **state)
{
	struct seen seen;
	char err[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(walk(cases[i].in, strlen(cases[i].in), 64, 0,
				     &seen, err, sizeof(err)),
		    0);
		if (strcmp(seen.text, cases[i].lines) != 0)
			fail_msg("case %zu: got '%s', expected '%s'", i,
			    seen.text, cases[i].lines);
	}
}

static void
test_lines_refused(void **state)
{
	struct seen seen;
	char err[128];

	(void)state;
	/* Line 2 holds a NUL: nothing after it is read. */
	assert_int_equal(
	    walk("a\nb\0c\nd\n", 8, 64, 0, &seen, err, sizeof(err)),
	    ION_ERR_CONFIG);
	assert_string_equal(err, "/etc/f:2: NUL character");
	assert_string_equal(seen.text, "1:a|");

	/* line_max characters are fine, one more is not (blanks count). */
	assert_int_equal(
	    walk("abcde\n  abc\nabcdef\n", 19, 5, 0, &seen, err, sizeof(err)),
	    ION_ERR_CONFIG);
	assert_string_equal(err, "/etc/f:3: line longer than 5 characters");
	assert_string_equal(seen.text, "1:abcde|2:abc|");

	/* The first nonzero return of fn ends the walk; no err then. */
	err[0] = '\0';
	assert_int_equal(walk("a\nb\nc\n", 6, 64, 2, &seen, err, sizeof(err)),
	    ION_ERR_CONFIG);
	assert_string_equal(seen.text, "1:a|2:b|");
	assert_string_equal(err, "");

	/* errlen 0: err is never written (it may be NULL). */
	assert_int_equal(
	    walk("abcdefgh\n", 9, 5, 0, &seen, NULL, 0), ION_ERR_CONFIG);
}

static void
test_blank_and_control(void **state)
{
	int c;

	(void)state;
	for (c = 1; c < 256; c++)
		assert_int_equal(ion_text_blank((char)c),
		    c == ' ' || c == '\t' || c == '\r');
	assert_false(ion_text_has_control(""));
	assert_false(ion_text_has_control("a b~"));
	assert_false(ion_text_has_control("caf\xc3\xa9"));
	assert_true(ion_text_has_control("a\tb"));
	assert_true(ion_text_has_control("a\r"));
	assert_true(ion_text_has_control("\x1b[0m"));
	assert_true(ion_text_has_control("x\x7f"));
	assert_true(ion_text_has_control("\x01"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_lines_refused),
		cmocka_unit_test(test_blank_and_control),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
