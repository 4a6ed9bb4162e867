/*
 * ion_jws_parse() and ion_jws_verify() on a fuzzed compact token against a
 * fixed key set (jws_fixture.h: one RSA key, EC keys on P-256 and P-384).
 *
 * The property that matters is fail-closed: verification succeeds only
 * for a token that one of the set's keys really signed.  The only such
 * tokens are the fixture's (their private keys are gone), so a success
 * for any other string aborts.  The seeds hold those tokens, so the
 * fuzzer starts right next to the success path.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "errors.h"
#include "fuzz.h"
#include "jose.h"
#include "jws_fixture.h"

#define ALL_ALGS ((ION_ALG_ES512 << 1) - 1)

static const char *const signed_tokens[] = FUZZ_SIGNED_TOKENS;

static bool
is_signed_token(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(signed_tokens) / sizeof(signed_tokens[0]); i++)
		if (strcmp(s, signed_tokens[i]) == 0)
			return true;
	return false;
}

static void
verify(struct ion_jws *jws, const char *token, unsigned algs)
{
	const char *payload;
	size_t len = 0;
	int r;

	r = ion_jws_verify(jws, FUZZ_JWKS, algs);
	fuzz_log("algs %#x: %s", algs, ion_strerror(r));
	payload = ion_jws_payload(jws, &len);
	if (r != 0) {
		FUZZ_CHECK(r == ION_ERR_AUTH || r == ION_ERR_NOT_FOUND ||
		    r == ION_ERR_INVALID || r == ION_ERR_EXISTS);
		/* Unverified claims cannot be read. */
		FUZZ_CHECK(payload == NULL);
		return;
	}
	if (!is_signed_token(token))
		fuzz_fail(
		    "a token no key of the set signed verified: '%s'", token);
	FUZZ_CHECK((ion_alg_from_name(ion_jws_alg(jws)) & algs) != 0);
	FUZZ_CHECK(payload != NULL && strlen(payload) == len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ion_jws *jws = NULL;
	char *token = fuzz_strndup(data, size);
	int r;

	r = ion_jws_parse(token, &jws);
	fuzz_log("parse: %s", ion_strerror(r));
	if (r != 0) {
		FUZZ_CHECK(jws == NULL);
		FUZZ_CHECK(r == ION_ERR_INVALID || r == ION_ERR_RANGE);
		free(token);
		return 0;
	}
	FUZZ_CHECK(jws != NULL && ion_jws_alg(jws) != NULL &&
	    ion_jws_alg(jws)[0] != '\0');
	FUZZ_CHECK(ion_jws_kid(jws) == NULL || ion_jws_kid(jws)[0] != '\0');
	FUZZ_CHECK(ion_jws_payload(jws, NULL) == NULL);
	/* Every algorithm allowed, then the default list, then one. */
	verify(jws, token, ALL_ALGS);
	verify(jws, token, ION_ALG_RS256 | ION_ALG_PS256 | ION_ALG_ES256);
	verify(jws, token, ION_ALG_ES384);
	ion_jws_free(&jws);
	FUZZ_CHECK(jws == NULL);
	free(token);
	return 0;
}
