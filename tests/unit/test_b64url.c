/* Unit tests of b64url.h: unpadded base64url, strict and canonical. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka.h wants stdarg.h, stddef.h, stdint.h and setjmp.h first. */
#include <cmocka.h>

#include "b64url.h"

/* RFC 4648 section 10, without the padding (the url alphabet is the same
 * for these). */
static const struct {
	const char *raw;
	const char *enc;
} rfc4648[] = {
	{ "", "" },
	{ "f", "Zg" },
	{ "fo", "Zm8" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg" },
	{ "fooba", "Zm9vYmE" },
	{ "foobar", "Zm9vYmFy" },
};

static void
test_rfc4648_vectors(void **state)
{
	unsigned char out[16];
	char enc[16];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		size_t len = strlen(rfc4648[i].raw);
		long n;

		assert_int_equal(
		    ion_b64url_encode(
			(const unsigned char *)rfc4648[i].raw, len, enc),
		    strlen(rfc4648[i].enc));
		assert_string_equal(enc, rfc4648[i].enc);
		n = ion_b64url_decode(
		    rfc4648[i].enc, strlen(rfc4648[i].enc), out, sizeof(out));
		assert_int_equal(n, (long)len);
		assert_memory_equal(out, rfc4648[i].raw, len);
	}
}

/* The two characters where base64url differs from base64: '-' and '_'. */
static void
test_url_alphabet(void **state)
{
	static const unsigned char raw1[] = { 0xfb, 0xff, 0xbf };
	static const unsigned char raw2[] = { 0xff, 0xfe };
	unsigned char out[8];
	char enc[8];

	(void)state;
	ion_b64url_encode(raw1, sizeof(raw1), enc);
	assert_string_equal(enc, "-_-_");
	ion_b64url_encode(raw2, sizeof(raw2), enc);
	assert_string_equal(enc, "__4");
	assert_int_equal(ion_b64url_decode("-_-_", 4, out, sizeof(out)), 3);
	assert_memory_equal(out, raw1, sizeof(raw1));
	assert_int_equal(ion_b64url_decode("__4", 3, out, sizeof(out)), 2);
	assert_memory_equal(out, raw2, sizeof(raw2));
}

static void
test_round_trip_lengths(void **state)
{
	unsigned char in[40], out[40];
	char enc[ION_B64URL_LEN(40) + 1];
	size_t len, i;

	(void)state;
	for (len = 0; len <= 40; len++) {
		size_t n;

		for (i = 0; i < len; i++)
			in[i] = (unsigned char)(i * 37 + len * 11 + 0x80);
		memset(enc, '#', sizeof(enc));
		n = ion_b64url_encode(in, len, enc);
		assert_int_equal(n, ION_B64URL_LEN(len));
		assert_int_equal(strlen(enc), n);
		assert_true(ion_b64url_is_alphabet(enc, n));
		/* Exactly the room it needs is enough... */
		memset(out, 0, sizeof(out));
		assert_int_equal(
		    ion_b64url_decode(enc, n, out, len), (long)len);
		assert_memory_equal(out, in, len);
		/* ...and one byte less is not. */
		if (len > 0)
			assert_int_equal(
			    ion_b64url_decode(enc, n, out, len - 1), -1);
	}
}

/* All 256 byte values survive, in every position of a 3-byte group. */
static void
test_round_trip_all_bytes(void **state)
{
	unsigned char in[256], out[256];
	char enc[ION_B64URL_LEN(256) + 1];
	size_t shift, i, n;

	(void)state;
	for (shift = 0; shift < 3; shift++) {
		for (i = 0; i < 256; i++)
			in[i] = (unsigned char)(i + shift);
		n = ion_b64url_encode(in, 256 - shift, enc);
		assert_int_equal(ion_b64url_decode(enc, n, out, sizeof(out)),
		    (long)(256 - shift));
		assert_memory_equal(out, in, 256 - shift);
	}
}

static const struct {
	const char *in;
	const char *why;
} rejected[] = {
	{ "Zg==", "padding" },
	{ "Zm8=", "padding" },
	{ "Zg=", "padding" },
	{ "=", "padding alone" },
	{ "Zm9v+A", "'+' of the standard alphabet" },
	{ "Zm9v/A", "'/' of the standard alphabet" },
	{ "Zm9v Yg", "space" },
	{ " Zm9v", "leading space" },
	{ "Zm9v\nYg", "newline" },
	{ "Zm9v\tYg", "tab" },
	{ "Zm9v\rYg", "carriage return" },
	{ "Zm9\x80", "non-ASCII byte" },
	{ "Zm9.", "dot" },
	{ "Zm9vY", "length % 4 == 1" },
	{ "A", "length 1" },
	{ "Zm9vYmFyZ", "length 9" },
	{ "Zh", "non-canonical: low 4 bits of the last character set" },
	{ "Zn", "non-canonical" },
	{ "Zm9", "non-canonical: low 2 bits of the last character set" },
	{ "Zm-", "non-canonical" },
	{ "Zm9vYh", "non-canonical after a full group" },
	{ "__", "non-canonical" },
};

static void
test_rejects(void **state)
{
	unsigned char out[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rejected) / sizeof(rejected[0]); i++) {
		long n = ion_b64url_decode(
		    rejected[i].in, strlen(rejected[i].in), out, sizeof(out));

		if (n != -1)
			fail_msg("'%s' (%s) decoded to %ld bytes",
			    rejected[i].in, rejected[i].why, n);
	}
}

/* inlen counts characters: a NUL inside the range is not base64url. */
static void
test_rejects_embedded_nul(void **state)
{
	unsigned char out[8];

	(void)state;
	assert_int_equal(ion_b64url_decode("Zm\0v", 4, out, sizeof(out)), -1);
	/* Only inlen characters are read: the rest does not matter. */
	assert_int_equal(ion_b64url_decode("Zm9v====", 4, out, sizeof(out)), 3);
	assert_memory_equal(out, "foo", 3);
}

static void
test_output_too_small(void **state)
{
	unsigned char out[8];

	(void)state;
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(ion_b64url_decode("Zm9vYmFy", 8, out, 5), -1);
	assert_int_equal(ion_b64url_decode("Zm9vYmE", 7, out, 4), -1);
	assert_int_equal(ion_b64url_decode("Zg", 2, out, 0), -1);
	/* Nothing beyond outlen was touched. */
	assert_int_equal(out[5], 0xaa);
	assert_int_equal(ion_b64url_decode("", 0, out, 0), 0);
	assert_int_equal(ion_b64url_decode("Zm9vYmE", 7, out, 5), 5);
	assert_memory_equal(out, "fooba", 5);
}

static void
test_is_alphabet(void **state)
{
	static const char all[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789-_";
	char c[2] = { 0, 0 };
	int i;

	(void)state;
	assert_true(ion_b64url_is_alphabet(all, strlen(all)));
	assert_true(ion_b64url_is_alphabet("", 0));
	for (i = 1; i < 256; i++) {
		c[0] = (char)i;
		assert_int_equal(
		    ion_b64url_is_alphabet(c, 1), strchr(all, i) != NULL);
	}
	/* Only len characters count. */
	assert_true(ion_b64url_is_alphabet("abc=", 3));
	assert_false(ion_b64url_is_alphabet("abc=", 4));
	assert_false(ion_b64url_is_alphabet("a\0b", 3));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_vectors),
		cmocka_unit_test(test_url_alphabet),
		cmocka_unit_test(test_round_trip_lengths),
		cmocka_unit_test(test_round_trip_all_bytes),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_rejects_embedded_nul),
		cmocka_unit_test(test_output_too_small),
		cmocka_unit_test(test_is_alphabet),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
