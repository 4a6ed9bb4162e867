/*
 * ion_idtoken_check() on a fuzzed payload against a fixed expectation (a
 * fixed "now", so every run is reproducible), then
 * ion_idtoken_merge_userinfo() of fuzzed userinfo into the claims.
 *
 * Input: PAYLOAD-JSON ["\0\0" USERINFO-JSON].  Userinfo is merged into the
 * checked claims when the check passed, else into fixed claims.
 */
#include <jansson.h>
#include <stdbool.h>
#include <string.h>

#include "errors.h"
#include "fuzz.h"
#include "idtoken.h"

#define ISSUER "https://issuer.example"
#define CLIENT_ID "pam-ion-fuzz"
#define NONCE "n-0S6_WzA2Mj"
#define NOW 1700000100
#define STARTED 1700000000
#define CLAIMS                                                                 \
	"{\"iss\":\"" ISSUER "\",\"aud\":\"" CLIENT_ID "\",\"sub\":\"alice\"," \
	"\"nonce\":\"" NONCE "\",\"iat\":1700000000,\"exp\":1700000300}"

static const struct ion_idtoken_expect expect = {
	.issuer = ISSUER,
	.client_id = CLIENT_ID,
	.nonce = NONCE,
	.now = NOW,
	.login_started = STARTED,
};

static json_t *fixed_claims;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if ((fixed_claims = json_loads(CLAIMS, 0, NULL)) == NULL)
		fuzz_fail("bad fixed claims");
	return 0;
}

static json_int_t
int_claim(const json_t *claims, const char *name, json_int_t absent)
{
	const json_t *v = json_object_get(claims, name);

	if (v == NULL)
		return absent;
	FUZZ_CHECK(json_is_integer(v));
	return json_integer_value(v);
}

/* What a passed check promises (idtoken.h). */
static void
check_claims(const json_t *c)
{
	const json_t *aud = json_object_get(c, "aud");
	const json_t *azp = json_object_get(c, "azp");
	const json_t *sub = json_object_get(c, "sub");
	const json_t *nonce = json_object_get(c, "nonce");
	size_t i;
	int found = 0;

	FUZZ_CHECK(json_is_object(c));
	FUZZ_CHECK(json_is_string(json_object_get(c, "iss")) &&
	    strcmp(json_string_value(json_object_get(c, "iss")), ISSUER) == 0);
	if (json_is_string(aud))
		found = strcmp(json_string_value(aud), CLIENT_ID) == 0;
	else {
		FUZZ_CHECK(json_is_array(aud));
		for (i = 0; i < json_array_size(aud); i++)
			found |=
			    strcmp(json_string_value(json_array_get(aud, i)),
				CLIENT_ID) == 0;
		if (json_array_size(aud) > 1)
			FUZZ_CHECK(azp != NULL);
	}
	FUZZ_CHECK(found);
	FUZZ_CHECK(azp == NULL ||
	    (json_is_string(azp) &&
		strcmp(json_string_value(azp), CLIENT_ID) == 0));
	FUZZ_CHECK(int_claim(c, "exp", 0) > NOW - ION_IDTOKEN_LEEWAY_S);
	FUZZ_CHECK(int_claim(c, "iat", 0) <= NOW + ION_IDTOKEN_LEEWAY_S &&
	    int_claim(c, "iat", 0) >= STARTED - ION_IDTOKEN_LEEWAY_S);
	FUZZ_CHECK(int_claim(c, "nbf", 0) <= NOW + ION_IDTOKEN_LEEWAY_S);
	FUZZ_CHECK(json_is_string(nonce) &&
	    json_string_length(nonce) == strlen(NONCE) &&
	    memcmp(json_string_value(nonce), NONCE, strlen(NONCE)) == 0);
	FUZZ_CHECK(json_is_string(sub) && json_string_length(sub) > 0 &&
	    json_string_length(sub) <= 255);
}

static bool
is_email_key(const char *key)
{
	return strcmp(key, "email") == 0 || strcmp(key, "email_verified") == 0;
}

/* Claims about the token or its sign-in: only the id_token may carry. */
static bool
is_event_key(const char *key)
{
	static const char *const only[] = { "iss", "aud", "exp", "iat", "nbf",
		"jti", "azp", "nonce", "at_hash", "c_hash", "sid", "auth_time",
		"acr", "amr" };
	size_t i;

	for (i = 0; i < sizeof(only) / sizeof(only[0]); i++)
		if (strcmp(key, only[i]) == 0)
			return true;
	return false;
}

static bool
has_pair(const json_t *o)
{
	return json_object_get(o, "email") != NULL &&
	    json_object_get(o, "email_verified") != NULL;
}

static bool
same_pair(const json_t *a, const json_t *b)
{
	return json_equal(
		   json_object_get(a, "email"), json_object_get(b, "email")) &&
	    json_equal(json_object_get(a, "email_verified"),
		json_object_get(b, "email_verified"));
}

static void
merge(json_t *claims, const uint8_t *data, size_t size)
{
	json_t *info, *before;
	const char *why = NULL, *key;
	json_t *v;
	int r;

	info =
	    json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (info == NULL)
		return;
	if ((before = json_deep_copy(claims)) == NULL)
		fuzz_fail("out of memory");
	r = ion_idtoken_merge_userinfo(claims, info, &why);
	fuzz_log("merge: %s", r == 0 ? "merged" : why);
	if (r != 0) {
		FUZZ_CHECK(why != NULL);
		/* Refused: the claims are untouched. */
		FUZZ_CHECK(json_equal(claims, before));
	} else {
		/* The id_token's claims win; userinfo only adds. */
		json_object_foreach(before, key, v)
		{
			if (is_email_key(key))
				continue;
			FUZZ_CHECK(json_equal(json_object_get(claims, key), v));
		}
		json_object_foreach(info, key, v)
		{
			if (is_email_key(key))
				continue;
			if (is_event_key(key)) {
				/* never from userinfo */
				FUZZ_CHECK(
				    json_equal(json_object_get(claims, key),
					json_object_get(before, key)) ||
				    (json_object_get(claims, key) == NULL &&
					json_object_get(before, key) == NULL));
				continue;
			}
			FUZZ_CHECK(json_object_get(claims, key) != NULL);
		}
		/* email and email_verified: one whole pair, from one source. */
		if (has_pair(before))
			FUZZ_CHECK(same_pair(claims, before));
		else if (has_pair(info))
			FUZZ_CHECK(same_pair(claims, info));
		else
			FUZZ_CHECK(json_object_get(claims, "email") == NULL &&
			    json_object_get(claims, "email_verified") == NULL);
		FUZZ_CHECK(json_equal(json_object_get(claims, "sub"),
		    json_object_get(info, "sub")));
	}
	json_decref(before);
	json_decref(info);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *rest;
	size_t plen, rlen;
	json_t *claims = NULL;
	const char *why = NULL;
	int r;

	fuzz_split2(data, size, &plen, &rest, &rlen);
	r = ion_idtoken_check((const char *)data, plen, &expect, &claims, &why);
	fuzz_log("check: %s", r == 0 ? "passed" : why);
	if (r == 0) {
		FUZZ_CHECK(claims != NULL);
		check_claims(claims);
	} else {
		FUZZ_CHECK(claims == NULL && why != NULL);
		FUZZ_CHECK(r == ION_ERR_AUTH);
		if ((claims = json_deep_copy(fixed_claims)) == NULL)
			fuzz_fail("out of memory");
	}
	if (rest != NULL)
		merge(claims, rest, rlen);
	json_decref(claims);
	return 0;
}
