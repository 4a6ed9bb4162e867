/*
 * Unit tests of crypto.h.  The expected values were computed independently
 * with Python's hashlib and base64:
 *
 *   b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
 *   state = b64u(hashlib.sha256(raw_secret).digest())
 *   d = hashlib.sha256(b"pam_ion-confirm" + S.encode() + C.encode()).digest()
 *   code = "%06d" % (int.from_bytes(d[:4], "big") % 1000000)
 *   nonce = b64u(hashlib.sha256(b"pam_ion-nonce" + S.encode()).digest())
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka.h wants stdarg.h, stddef.h, stdint.h and setjmp.h first. */
#include <cmocka.h>

#include "crypto.h"
#include "errors.h"

/* raw secret bytes 0x00..0x1f */
#define SECRET_SEQ "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
#define STATE_SEQ "Yw3NKWbEM2aRElRIu7JbT_QSpJxzLbLIq8G4WBvXEN0"

static const struct {
	const char *secret;
	const char *state;
} state_vectors[] = {
	{ SECRET_SEQ, STATE_SEQ },
	/* 32 bytes of 0xff */
	{ "__________________________________________8",
	    "r5YTdg9yY1-9tEpaCmPDnxKvMPlQpu5clxvhiOicQFE" },
	/* 32 zero bytes */
	{ "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    "Zmh6rfhivXdsj8GLjp-OIAiXFIVu4jOzkCpZHQ1fKSU" },
};

static void
test_state_from_secret(void **state)
{
	char out[ION_TOKEN_CHARS + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(state_vectors) / sizeof(state_vectors[0]); i++) {
		memset(out, '#', sizeof(out));
		assert_int_equal(ion_state_from_secret(state_vectors[i].secret,
				     strlen(state_vectors[i].secret), out),
		    0);
		assert_string_equal(out, state_vectors[i].state);
	}
}

static const char *const bad_secrets[] = {
	/* 42 characters */
	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh",
	/* 44 characters */
	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8A",
	/* padded, and '=' in place of the last character */
	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh=",
	/* '+' and '/' of the standard alphabet */
	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdH+8",
	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdH/8",
	/* space, '.', non-ASCII */
	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd Ah",
	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd.A8",
	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\303\251A",
	/* non-canonical: the last character's two unused bits are set */
	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9",
	"__________________________________________9",
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB",
	"",
};

static void
test_state_from_bad_secret(void **state)
{
	char out[ION_TOKEN_CHARS + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_secrets) / sizeof(bad_secrets[0]); i++) {
		int r = ion_state_from_secret(
		    bad_secrets[i], strlen(bad_secrets[i]), out);

		if (r != ION_ERR_INVALID)
			fail_msg("secret '%s': got %d, expected "
				 "ION_ERR_INVALID",
			    bad_secrets[i], r);
	}
	/* len is what counts, not the NUL. */
	assert_int_equal(ion_state_from_secret(SECRET_SEQ "xyz", 43, out), 0);
	assert_string_equal(out, STATE_SEQ);
	assert_int_equal(
	    ion_state_from_secret(SECRET_SEQ, 42, out), ION_ERR_INVALID);
}

static const struct {
	const char *state;
	const char *code;
	const char *confirm;
} confirm_vectors[] = {
	{ STATE_SEQ, "abc", "864997" },
	/* leading zero */
	{ STATE_SEQ, "SplxlOBeZQQYbYS6WxSbIA", "016978" },
	{ STATE_SEQ, "", "090301" },
	/* two leading zeros */
	{ STATE_SEQ, "code-66", "003294" },
	{ STATE_SEQ, "x0", "096690" },
};

static void
test_confirm_code(void **state)
{
	char out[ION_CONFIRM_DIGITS + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(confirm_vectors) / sizeof(confirm_vectors[0]);
	     i++) {
		memset(out, '#', sizeof(out));
		assert_int_equal(ion_confirm_code(confirm_vectors[i].state,
				     confirm_vectors[i].code, out),
		    0);
		assert_string_equal(out, confirm_vectors[i].confirm);
	}
}

static const struct {
	const char *state;
	const char *nonce;
} nonce_vectors[] = {
	{ STATE_SEQ, "CH9FUOonY0Pzpni_uZg2uaK6l99aRphhPz_IjZXDXzo" },
	{ "r5YTdg9yY1-9tEpaCmPDnxKvMPlQpu5clxvhiOicQFE",
	    "Qf9bG5XfBmF-8VWWafnhiBweRgo28QY15a03hAUGHdQ" },
	{ "Zmh6rfhivXdsj8GLjp-OIAiXFIVu4jOzkCpZHQ1fKSU",
	    "nlRa39IJQY9d6sZEtOXmNXC4X8N-8tSiTweNnTTKFWo" },
};

static void
test_nonce_from_state(void **state)
{
	char out[ION_TOKEN_CHARS + 1], again[ION_TOKEN_CHARS + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(nonce_vectors) / sizeof(nonce_vectors[0]); i++) {
		memset(out, '#', sizeof(out));
		assert_int_equal(
		    ion_nonce_from_state(nonce_vectors[i].state, out), 0);
		assert_string_equal(out, nonce_vectors[i].nonce);
		assert_int_equal(strlen(out), ION_TOKEN_CHARS);
		/* the same state always gives the same nonce */
		assert_int_equal(
		    ion_nonce_from_state(nonce_vectors[i].state, again), 0);
		assert_string_equal(again, out);
	}
	/*
	 * The label keeps the nonce apart from other hashes of S: neither
	 * SHA-256(S) nor the confirmation hash's prefix (Python, as above).
	 */
	assert_int_equal(ion_nonce_from_state(STATE_SEQ, out), 0);
	assert_string_not_equal(
	    out, "tMpo9CipQKcfUmeA1OLGioO2NE2cCDcT4-1kT2j2ySI");
	assert_string_not_equal(
	    out, "igy7vQLWDmzLWxP0oktXGMRJovh9mExURt37LuWvZLM");
	/* Every character of the state counts. */
	{
		char s[ION_TOKEN_CHARS + 1];

		memcpy(s, STATE_SEQ, sizeof(s));
		s[ION_TOKEN_CHARS - 1] = 'M';
		assert_int_equal(ion_nonce_from_state(s, again), 0);
		assert_string_not_equal(again, out);
		memcpy(s, STATE_SEQ, sizeof(s));
		s[0] = 'Z';
		assert_int_equal(ion_nonce_from_state(s, again), 0);
		assert_string_not_equal(again, out);
	}
}

static void
test_sha256(void **state)
{
	/* SHA-256("abc"), FIPS 180-2 appendix B.1 */
	static const unsigned char abc[ION_SHA256_LEN] = { 0xba, 0x78, 0x16,
		0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d,
		0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a,
		0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
	unsigned char out[ION_SHA256_LEN];

	(void)state;
	assert_int_equal(ion_sha256("abc", 3, NULL, 0, NULL, 0, out), 0);
	assert_memory_equal(out, abc, sizeof(abc));
	/* The parts are concatenated; NULL parts are skipped. */
	assert_int_equal(ion_sha256("a", 1, "b", 1, "c", 1, out), 0);
	assert_memory_equal(out, abc, sizeof(abc));
	assert_int_equal(ion_sha256(NULL, 5, "ab", 2, "c", 1, out), 0);
	assert_memory_equal(out, abc, sizeof(abc));
}

static void
test_ct_equal(void **state)
{
	unsigned char a[64], b[64];
	size_t i;

	(void)state;
	memset(a, 0x5a, sizeof(a));
	memcpy(b, a, sizeof(b));
	assert_true(ion_ct_equal(a, b, sizeof(a)));
	assert_true(ion_ct_equal(a, b, 0));
	for (i = 0; i < sizeof(a); i++) {
		b[i] ^= 0x01;
		assert_false(ion_ct_equal(a, b, sizeof(a)));
		/* Only len bytes are compared. */
		assert_true(ion_ct_equal(a, b, i));
		b[i] ^= 0x01;
	}
	assert_true(ion_ct_equal("123456", "123456", 6));
	assert_false(ion_ct_equal("123456", "123457", 6));
}

static void
test_random_bytes(void **state)
{
	unsigned char a[32], b[32], big[1000];
	size_t i, zeros = 0;

	(void)state;
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	assert_int_equal(ion_random_bytes(a, sizeof(a)), 0);
	assert_int_equal(ion_random_bytes(b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	/* More than one getrandom() call's worth: all of it gets filled. */
	memset(big, 0, sizeof(big));
	assert_int_equal(ion_random_bytes(big, sizeof(big)), 0);
	for (i = 0; i < sizeof(big); i++)
		zeros += big[i] == 0;
	assert_in_range(zeros, 0, 30);
	assert_int_equal(ion_random_bytes(big, 0), 0);
}

static void
test_scrub(void **state)
{
	unsigned char buf[16];
	size_t i;

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	ion_scrub(buf, 8);
	for (i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], i < 8 ? 0 : 0xee);
	ion_scrub(NULL, 8); /* accepted */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_from_secret),
		cmocka_unit_test(test_state_from_bad_secret),
		cmocka_unit_test(test_confirm_code),
		cmocka_unit_test(test_nonce_from_state),
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_ct_equal),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_scrub),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
