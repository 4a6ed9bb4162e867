/*
 * base64url (b64url.h): the input decoded, and encoded, with the round
 * trips the strict codec promises: a string that decodes is the one
 * encoding of its bytes, and bytes encode to a string that decodes back to
 * them.  Buffers are exactly as large as needed, so AddressSanitizer sees
 * any overrun.
 */
#include <stdlib.h>
#include <string.h>

#include "b64url.h"
#include "fuzz.h"

static void
check_decode(const char *in, size_t len)
{
	size_t cap = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
	unsigned char *out = fuzz_malloc(cap);
	char *again;
	long n;

	n = ion_b64url_decode(in, len, out, cap);
	if (n < 0) {
		free(out);
		return;
	}
	FUZZ_CHECK(len % 4 != 1);
	FUZZ_CHECK(ion_b64url_is_alphabet(in, len));
	FUZZ_CHECK((size_t)n == cap && ION_B64URL_LEN((size_t)n) == len);
	/* Canonical: encoding the bytes gives back the very same string. */
	again = fuzz_malloc(ION_B64URL_LEN((size_t)n) + 1);
	FUZZ_CHECK(ion_b64url_encode(out, (size_t)n, again) == len);
	FUZZ_CHECK(memcmp(again, in, len) == 0);
	free(again);
	/* One byte less room: refused, not overrun. */
	if (n > 0)
		FUZZ_CHECK(ion_b64url_decode(in, len, out, cap - 1) == -1);
	free(out);
}

static void
check_encode(const uint8_t *data, size_t size)
{
	char *enc = fuzz_malloc(ION_B64URL_LEN(size) + 1);
	unsigned char *dec = fuzz_malloc(size);
	size_t n;

	n = ion_b64url_encode(data, size, enc);
	FUZZ_CHECK(n == ION_B64URL_LEN(size) && enc[n] == '\0');
	FUZZ_CHECK(ion_b64url_is_alphabet(enc, n));
	FUZZ_CHECK(ion_b64url_decode(enc, n, dec, size) == (long)size);
	FUZZ_CHECK(size == 0 || memcmp(dec, data, size) == 0);
	free(dec);
	free(enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes, not NUL-terminated. */
	char *in = fuzz_malloc(size);

	if (size > 0)
		memcpy(in, data, size);
	check_decode(in, size);
	check_encode(data, size);
	free(in);
	return 0;
}
