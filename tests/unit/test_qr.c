/*
 * Unit tests of qr.h: the QR code as plain text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h wants stdarg.h, stddef.h, stdint.h and setjmp.h first. */
#include <cmocka.h>

#include "errors.h"
#include "qr.h"

#define LINK40 "https://relay.example.com/l/AbCdEfGhIjK" /* 39 chars */
#define FULL "\xe2\x96\x88"

/* Counts code points of one row (UTF-8 lead bytes). */
static size_t
width(const char *row, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)row[i] & 0xc0) != 0x80)
			n++;
	return n;
}

static void
test_utf8_short_link_fits_17_rows(void **state)
{
	char *text = NULL;
	unsigned rows = 0;
	const char *p, *eol;
	size_t w = 0;

	(void)state;
	assert_int_equal(ion_qr_render(LINK40, ION_QR_UTF8, &text, &rows), 0);
	/* version 3 (29 modules) + 2 x 2 quiet: 33 columns, 17 rows */
	assert_int_equal(rows, 17);
	for (p = text;; p = eol + 1) {
		eol = strchr(p, '\n');
		if (w == 0)
			w = width(p, eol ? (size_t)(eol - p) : strlen(p));
		assert_int_equal(
		    width(p, eol ? (size_t)(eol - p) : strlen(p)), w);
		/* only half blocks, full blocks and spaces; no escapes */
		for (const char *c = p; c < (eol ? eol : p + strlen(p)); c++)
			assert_true((unsigned char)*c >= 0x80 || *c == ' ');
		if (eol == NULL)
			break;
	}
	assert_int_equal(w, 33);
	/* the quiet zone: the first row is light all along */
	for (size_t i = 0; i < 33; i++)
		assert_memory_equal(text + 3 * i, FULL, 3);
	free(text);
}

static void
test_ascii_two_chars_per_module(void **state)
{
	char *text = NULL;
	unsigned rows = 0;
	size_t len;

	(void)state;
	assert_int_equal(ion_qr_render(LINK40, ION_QR_ASCII, &text, &rows), 0);
	assert_int_equal(rows, 33);
	len = strcspn(text, "\n");
	assert_int_equal(len, 66);
	assert_int_equal(strspn(text, "#"), 66); /* quiet zone row */
	for (const char *c = text; *c != '\0'; c++)
		assert_true(*c == '#' || *c == ' ' || *c == '\n');
	free(text);
}

static void
test_same_text_same_code(void **state)
{
	char *a = NULL, *b = NULL;
	unsigned ra, rb;

	(void)state;
	assert_int_equal(ion_qr_render(LINK40, ION_QR_UTF8, &a, &ra), 0);
	assert_int_equal(ion_qr_render(LINK40, ION_QR_UTF8, &b, &rb), 0);
	assert_string_equal(a, b);
	free(b);
	assert_int_equal(ion_qr_render(LINK40 "x", ION_QR_UTF8, &b, &rb), 0);
	assert_string_not_equal(a, b);
	free(a);
	free(b);
}

static void
test_refusals(void **state)
{
	char *text = NULL, big[300];
	unsigned rows;

	(void)state;
	assert_int_equal(
	    ion_qr_render(LINK40, ION_QR_OFF, &text, &rows), ION_ERR_INVALID);
	assert_int_equal(
	    ion_qr_render("", ION_QR_UTF8, &text, &rows), ION_ERR_INVALID);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(
	    ion_qr_render(big, ION_QR_UTF8, &text, &rows), ION_ERR_INVALID);
	assert_null(text);
}

static void
test_longer_link_grows(void **state)
{
	char *text = NULL;
	unsigned rows = 0;

	(void)state;
	/* 60 characters: the longest link the relay makes */
	assert_int_equal(ion_qr_render("https://relay-01.pam-ion.example.org"
				       "/l/AbCdEfGhIjK-abcdefghi",
			     ION_QR_UTF8, &text, &rows),
	    0);
	assert_in_range(rows, 17, 21);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_short_link_fits_17_rows),
		cmocka_unit_test(test_ascii_two_chars_per_module),
		cmocka_unit_test(test_same_text_same_code),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_longer_link_grows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
