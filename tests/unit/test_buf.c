/* Unit tests of buf.h: growth, the hard cap, HTML escaping, printf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h wants stdarg.h, stddef.h, stdint.h and setjmp.h first. */
#include <cmocka.h>

#include "buf.h"

static void
test_empty_steal(void **state)
{
	struct ion_buf b;
	size_t len = 99;
	char *p;

	(void)state;
	ion_buf_init(&b, 100);
	p = ion_buf_steal(&b, &len);
	assert_non_null(p);
	assert_string_equal(p, "");
	assert_int_equal(len, 0);
	free(p);
	/* The buffer is reset and usable again. */
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	ion_buf_puts(&b, "again");
	p = ion_buf_steal(&b, NULL);
	assert_string_equal(p, "again");
	free(p);
	ion_buf_free(&b);
}

static void
test_growth(void **state)
{
	struct ion_buf b;
	char expect[10000];
	size_t i, len = 0;
	char *p;

	(void)state;
	ion_buf_init(&b, 1 << 20);
	for (i = 0; i < sizeof(expect); i++) {
		char c = (char)('a' + i % 26);

		ion_buf_append(&b, &c, 1);
		expect[i] = c;
		/* NUL-terminated at every step */
		assert_int_equal(b.len, i + 1);
		assert_int_equal(b.data[b.len], '\0');
		assert_true(b.cap > b.len);
	}
	assert_false(b.failed);
	p = ion_buf_steal(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, sizeof(expect));
	assert_memory_equal(p, expect, sizeof(expect));
	free(p);
	ion_buf_free(&b);
}

static void
test_append_binary_and_empty(void **state)
{
	struct ion_buf b;
	size_t len = 0;
	char *p;

	(void)state;
	ion_buf_init(&b, 64);
	ion_buf_append(&b, "a\0b", 3);
	ion_buf_append(&b, "", 0);
	ion_buf_puts(&b, "");
	p = ion_buf_steal(&b, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(p, "a\0b", 4);
	free(p);
}

static void
test_cap(void **state)
{
	struct ion_buf b;
	size_t len = 0;
	char *p;

	(void)state;
	/* Up to max exactly is fine. */
	ion_buf_init(&b, 10);
	ion_buf_puts(&b, "0123456789");
	assert_false(b.failed);
	p = ion_buf_steal(&b, &len);
	assert_string_equal(p, "0123456789");
	assert_int_equal(len, 10);
	free(p);

	/* One byte past max fails, and the failure sticks. */
	ion_buf_init(&b, 10);
	ion_buf_puts(&b, "01234");
	ion_buf_puts(&b, "567890");
	assert_true(b.failed);
	ion_buf_puts(&b, "x"); /* would fit, but the buffer stays failed */
	assert_true(b.failed);
	len = 77;
	assert_null(ion_buf_steal(&b, &len));
	assert_null(b.data);
	ion_buf_free(&b);

	/* A single append larger than max. */
	ion_buf_init(&b, 10);
	ion_buf_append(&b, "0123456789abcdef", 16);
	assert_null(ion_buf_steal(&b, NULL));

	/* printf and html count against the cap too. */
	ion_buf_init(&b, 10);
	ion_buf_printf(&b, "%d", 1234567890);
	assert_false(b.failed);
	ion_buf_printf(&b, "%d", 1);
	assert_null(ion_buf_steal(&b, NULL));
	ion_buf_init(&b, 10);
	ion_buf_html(&b, "<<<");
	assert_null(ion_buf_steal(&b, NULL));
	ion_buf_init(&b, 0);
	ion_buf_puts(&b, "x");
	assert_null(ion_buf_steal(&b, NULL));
}

static const struct {
	const char *in;
	const char *out;
} html[] = {
	{ "", "" },
	{ "plain text", "plain text" },
	{ "&", "&amp;" },
	{ "<", "&lt;" },
	{ ">", "&gt;" },
	{ "\"", "&quot;" },
	{ "'", "&#39;" },
	{ "<script>alert(\"x\" + 'y') && 1</script>",
	    "&lt;script&gt;alert(&quot;x&quot; + &#39;y&#39;) &amp;&amp; "
	    "1&lt;/script&gt;" },
	{ "a&b", "a&amp;b" },
	{ "&amp;", "&amp;amp;" },
	{ "\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9" },
	{ "<<>>", "&lt;&lt;&gt;&gt;" },
};

static void
test_html(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(html) / sizeof(html[0]); i++) {
		struct ion_buf b;
		size_t len = 0;
		char *p;

		ion_buf_init(&b, 1024);
		ion_buf_puts(&b, "[");
		ion_buf_html(&b, html[i].in);
		ion_buf_puts(&b, "]");
		p = ion_buf_steal(&b, &len);
		assert_non_null(p);
		assert_int_equal(len, strlen(html[i].out) + 2);
		assert_memory_equal(p + 1, html[i].out, strlen(html[i].out));
		free(p);
	}
}

static void
test_printf(void **state)
{
	struct ion_buf b;
	char big[600];
	size_t len = 0, i;
	char *p;

	(void)state;
	ion_buf_init(&b, 4096);
	ion_buf_printf(&b, "%s=%d;", "a", 42);
	ion_buf_printf(&b, "%s", "");
	ion_buf_printf(&b, "%lu %05.1f %c", 7ul, 2.5, 'z');
	p = ion_buf_steal(&b, &len);
	assert_string_equal(p, "a=42;7 002.5 z");
	assert_int_equal(len, strlen(p));
	free(p);

	/* A formatted string longer than the first allocation. */
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ion_buf_init(&b, 4096);
	ion_buf_puts(&b, "x");
	ion_buf_printf(&b, "<%s>", big);
	p = ion_buf_steal(&b, &len);
	assert_int_equal(len, 1 + 2 + sizeof(big) - 1);
	assert_int_equal(p[0], 'x');
	assert_int_equal(p[1], '<');
	for (i = 0; i < sizeof(big) - 1; i++)
		assert_int_equal(p[2 + i], 'q');
	assert_string_equal(p + len - 1, ">");
	free(p);
}

static void
test_reset_and_free(void **state)
{
	struct ion_buf b;

	(void)state;
	ion_buf_init(&b, 50);
	ion_buf_puts(&b, "abc");
	ion_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.max, 50);
	ion_buf_free(&b); /* twice is fine */
	/* A freed failed buffer is usable again. */
	ion_buf_puts(
	    &b, "0123456789012345678901234567890123456789012345678901");
	assert_true(b.failed);
	ion_buf_free(&b);
	assert_false(b.failed);
	ion_buf_puts(&b, "ok");
	assert_string_equal(b.data, "ok");
	ion_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_steal),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_append_binary_and_empty),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_html),
		cmocka_unit_test(test_printf),
		cmocka_unit_test(test_reset_and_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
