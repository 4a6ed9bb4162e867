/*
 * ion_jws_verify() with a fuzzed JWK Set document and the fixed, validly
 * signed tokens of jws_fixture.h (and a forged one).
 *
 * Properties: a token verifies only under the key that signed it, so a
 * success means the fuzzed set holds that very key (the same RSA modulus
 * and exponent, or the same EC point); a forged token never verifies,
 * whatever the set.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "b64url.h"
#include "config.h"
#include "errors.h"
#include "fuzz.h"
#include "jose.h"
#include "jws_fixture.h"

#define ALL_ALGS ((ION_ALG_ES512 << 1) - 1)
#define MAX_BYTES 2100 /* a 16384-bit modulus and some */

struct bytes {
	unsigned char b[MAX_BYTES];
	size_t len;
};

static const char *const signed_tokens[] = FUZZ_SIGNED_TOKENS;
#define NTOKENS (sizeof(signed_tokens) / sizeof(signed_tokens[0]))

static struct ion_jws *jws[NTOKENS];
static struct ion_jws *forged;
static struct bytes rsa_n, rsa_e, ec_x, ec_y;

/* Decodes s; leading zero bytes dropped when strip (integers). */
static bool
decode(const char *s, size_t len, bool strip, struct bytes *out)
{
	long n = ion_b64url_decode(s, len, out->b, sizeof(out->b));
	size_t z = 0;

	if (n < 0)
		return false;
	out->len = (size_t)n;
	while (strip && z < out->len && out->b[z] == 0)
		z++;
	memmove(out->b, out->b + z, out->len - z);
	out->len -= z;
	return true;
}

static bool
member_is(
    const json_t *key, const char *name, bool strip, const struct bytes *want)
{
	const json_t *v = json_object_get(key, name);
	struct bytes got;

	return json_is_string(v) &&
	    decode(json_string_value(v), json_string_length(v), strip, &got) &&
	    got.len == want->len && memcmp(got.b, want->b, got.len) == 0;
}

/* True when some key of the set is the fixture's RSA (or EC) key. */
static bool
holds_key(const char *doc, bool ec)
{
	json_t *set = json_loads(doc, 0, NULL), *keys, *key;
	bool found = false;
	size_t i;

	keys = json_object_get(set, "keys");
	json_array_foreach(keys, i, key)
	{
		if (ec ? member_is(key, "x", false, &ec_x) &&
			    member_is(key, "y", false, &ec_y)
		       : member_is(key, "n", true, &rsa_n) &&
			    member_is(key, "e", true, &rsa_e))
			found = true;
	}
	json_decref(set);
	return found;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *f, *p;
	size_t i;

	(void)argc;
	(void)argv;
	if (!decode(FUZZ_RSA_N, strlen(FUZZ_RSA_N), true, &rsa_n) ||
	    !decode(FUZZ_RSA_E, strlen(FUZZ_RSA_E), true, &rsa_e) ||
	    !decode(FUZZ_EC_X, strlen(FUZZ_EC_X), false, &ec_x) ||
	    !decode(FUZZ_EC_Y, strlen(FUZZ_EC_Y), false, &ec_y))
		fuzz_fail("bad fixture keys");
	for (i = 0; i < NTOKENS; i++) {
		if (ion_jws_parse(signed_tokens[i], &jws[i]) != 0 ||
		    ion_jws_verify(jws[i], FUZZ_JWKS, ALL_ALGS) != 0)
			fuzz_fail("fixture token %zu does not verify", i);
	}
	/* The first token with a character of its payload changed. */
	f = fuzz_strndup(signed_tokens[0], strlen(signed_tokens[0]));
	p = strchr(f, '.') + 10;
	*p = *p == 'A' ? 'B' : 'A';
	if (ion_jws_parse(f, &forged) != 0)
		fuzz_fail("forged token does not parse");
	free(f);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *doc = fuzz_strndup(data, size);
	size_t i;
	int r;

	for (i = 0; i < NTOKENS; i++) {
		r = ion_jws_verify(jws[i], doc, ALL_ALGS);
		fuzz_log("token %zu: %s", i, ion_strerror(r));
		if (r != 0) {
			FUZZ_CHECK(ion_jws_payload(jws[i], NULL) == NULL);
			continue;
		}
		if (!holds_key(doc, strcmp(ion_jws_alg(jws[i]), "ES256") == 0))
			fuzz_fail("token %zu verified under a key that did "
				  "not sign it",
			    i);
		FUZZ_CHECK(ion_jws_payload(jws[i], NULL) != NULL);
	}
	if (ion_jws_verify(forged, doc, ALL_ALGS) == 0)
		fuzz_fail("a forged token verified");
	free(doc);
	return 0;
}
