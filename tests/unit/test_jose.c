/*
 * Unit tests of jose.h: keys are made here with OpenSSL, tokens signed here
 * with them, and every way a token or key set can be wrong is tried.
 */
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
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "b64url.h"
#include "config.h"
#include "errors.h"
#include "jose.h"

#define ALL_ALGS                                                               \
	(ION_ALG_RS256 | ION_ALG_RS384 | ION_ALG_RS512 | ION_ALG_PS256 |       \
	    ION_ALG_PS384 | ION_ALG_PS512 | ION_ALG_ES256 | ION_ALG_ES384 |    \
	    ION_ALG_ES512)
#define DEFAULT_ALGS (ION_ALG_RS256 | ION_ALG_PS256 | ION_ALG_ES256)
#define PAYLOAD "{\"iss\":\"https://issuer.example\",\"sub\":\"alice\"}"

enum signer { SIGN_RS, SIGN_PS, SIGN_ES, SIGN_HS, SIGN_E1, SIGN_NONE };

struct keys {
	EVP_PKEY *rsa, *rsa2, *rsa1024, *ec256, *ec256b, *ec384;
};

static struct keys *K;

static int
setup(void **state)
{
	(void)state;
	K = calloc(1, sizeof(*K));
	K->rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	K->rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	K->rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	K->ec256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	K->ec256b = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	K->ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	return K->rsa && K->rsa2 && K->rsa1024 && K->ec256 && K->ec256b &&
		K->ec384
	    ? 0
	    : -1;
}

static int
teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(K->rsa);
	EVP_PKEY_free(K->rsa2);
	EVP_PKEY_free(K->rsa1024);
	EVP_PKEY_free(K->ec256);
	EVP_PKEY_free(K->ec256b);
	EVP_PKEY_free(K->ec384);
	free(K);
	return 0;
}

static char *
b64(const void *p, size_t len)
{
	char *out = malloc(ION_B64URL_LEN(len) + 1);

	assert_non_null(out);
	ion_b64url_encode(p, len, out);
	return out;
}

static char *
bn_b64(const EVP_PKEY *pk, const char *param, size_t pad)
{
	BIGNUM *bn = NULL;
	unsigned char buf[1024];
	size_t len;
	char *s;

	assert_int_equal(EVP_PKEY_get_bn_param(pk, param, &bn), 1);
	len = pad ? pad : (size_t)BN_num_bytes(bn);
	assert_true(len <= sizeof(buf));
	assert_int_equal(BN_bn2binpad(bn, buf, (int)len), (int)len);
	BN_free(bn);
	s = b64(buf, len);
	return s;
}

/* The public JWK of pk, with kid when not NULL. */
static json_t *
jwk_of(const EVP_PKEY *pk, const char *kid)
{
	json_t *j;
	char *a, *b;

	if (EVP_PKEY_is_a(pk, "RSA")) {
		a = bn_b64(pk, OSSL_PKEY_PARAM_RSA_N, 0);
		b = bn_b64(pk, OSSL_PKEY_PARAM_RSA_E, 0);
		j = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", a, "e", b);
	} else {
		size_t coord = (size_t)(EVP_PKEY_get_bits(pk) + 7) / 8;

		a = bn_b64(pk, OSSL_PKEY_PARAM_EC_PUB_X, coord);
		b = bn_b64(pk, OSSL_PKEY_PARAM_EC_PUB_Y, coord);
		j = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv",
		    coord == 32 ? "P-256" : "P-384", "x", a, "y", b);
	}
	free(a);
	free(b);
	assert_non_null(j);
	if (kid != NULL)
		json_object_set_new(j, "kid", json_string(kid));
	return j;
}

/* {"keys":[...]} of the given JWKs (references stolen), as text. */
static char *
set_of(json_t *k1, json_t *k2)
{
	json_t *set = json_pack("{s:[]}", "keys");
	json_t *keys = json_object_get(set, "keys");
	char *s;

	if (k1 != NULL)
		json_array_append_new(keys, k1);
	if (k2 != NULL)
		json_array_append_new(keys, k2);
	s = json_dumps(set, JSON_COMPACT);
	json_decref(set);
	assert_non_null(s);
	return s;
}

static const EVP_MD *
md_for(const char *alg)
{
	if (strstr(alg, "384") != NULL)
		return EVP_sha384();
	if (strstr(alg, "512") != NULL)
		return EVP_sha512();
	return EVP_sha256();
}

/* Signs input; the JWS signature bytes in *out, their length returned. */
static size_t
sign(enum signer how, const char *alg, EVP_PKEY *pk, const char *input,
    unsigned char *out, size_t cap)
{
	EVP_MD_CTX *ctx;
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char der[1024];
	size_t len = sizeof(der);

	if (how == SIGN_NONE)
		return 0;
	if (how == SIGN_E1) {
		/*
		 * With e = 1 a signature is its own message: the PKCS #1 v1.5
		 * encoding of the digest (RFC 8017 section 9.2) "verifies"
		 * under any modulus larger than it.  No private key needed.
		 */
		static const unsigned char prefix[] = { 0x30, 0x31, 0x30, 0x0d,
			0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
			0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
		size_t k = (size_t)EVP_PKEY_get_size(pk), ps;
		unsigned int dlen = 0;

		assert_true(k <= cap);
		ps = k - 3 - sizeof(prefix) - 32;
		out[0] = 0x00;
		out[1] = 0x01;
		memset(out + 2, 0xff, ps);
		out[2 + ps] = 0x00;
		memcpy(out + 3 + ps, prefix, sizeof(prefix));
		assert_int_equal(EVP_Digest(input, strlen(input),
				     out + 3 + ps + sizeof(prefix), &dlen,
				     EVP_sha256(), NULL),
		    1);
		return k;
	}
	if (how == SIGN_HS) {
		/* Keyed with the RSA public key's PEM, the classic mix-up. */
		BIO *bio = BIO_new(BIO_s_mem());
		char *pem;
		long pemlen;
		unsigned int mlen = 0;

		assert_int_equal(PEM_write_bio_PUBKEY(bio, pk), 1);
		pemlen = BIO_get_mem_data(bio, &pem);
		assert_non_null(HMAC(md_for(alg), pem, (int)pemlen,
		    (const unsigned char *)input, strlen(input), out, &mlen));
		BIO_free(bio);
		return mlen;
	}
	ctx = EVP_MD_CTX_new();
	assert_int_equal(
	    EVP_DigestSignInit(ctx, &pctx, md_for(alg), NULL, pk), 1);
	if (how == SIGN_PS) {
		assert_int_equal(
		    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING),
		    1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(
				     pctx, RSA_PSS_SALTLEN_DIGEST),
		    1);
	}
	if (how == SIGN_ES) {
		const unsigned char *p = der;
		size_t coord = (size_t)(EVP_PKEY_get_bits(pk) + 7) / 8;
		ECDSA_SIG *es;

		assert_int_equal(
		    EVP_DigestSign(ctx, der, &len, (const unsigned char *)input,
			strlen(input)),
		    1);
		es = d2i_ECDSA_SIG(NULL, &p, (long)len);
		assert_non_null(es);
		assert_true(2 * coord <= cap);
		BN_bn2binpad(ECDSA_SIG_get0_r(es), out, (int)coord);
		BN_bn2binpad(ECDSA_SIG_get0_s(es), out + coord, (int)coord);
		ECDSA_SIG_free(es);
		EVP_MD_CTX_free(ctx);
		return 2 * coord;
	}
	len = cap;
	assert_int_equal(EVP_DigestSign(ctx, out, &len,
			     (const unsigned char *)input, strlen(input)),
	    1);
	EVP_MD_CTX_free(ctx);
	return len;
}

/* A compact JWS of header and payload, signed as told. */
static char *
token(const char *header, const char *payload, enum signer how, const char *alg,
    EVP_PKEY *pk)
{
	char *h = b64(header, strlen(header));
	char *p = b64(payload, strlen(payload));
	char *input, *s, *out;
	unsigned char sig[1024];
	size_t siglen;

	input = malloc(strlen(h) + strlen(p) + 2);
	sprintf(input, "%s.%s", h, p);
	siglen = sign(how, alg, pk, input, sig, sizeof(sig));
	s = b64(sig, siglen);
	out = malloc(strlen(input) + strlen(s) + 2);
	sprintf(out, "%s.%s", input, s);
	free(h);
	free(p);
	free(s);
	free(input);
	return out;
}

/* Parses and verifies; the first error met. */
static int
check(const char *compact, const char *jwks, unsigned algs)
{
	struct ion_jws *jws = NULL;
	size_t len = 0;
	int r;

	if ((r = ion_jws_parse(compact, &jws)) != 0) {
		assert_null(jws);
		return r;
	}
	assert_null(ion_jws_payload(jws, &len));
	r = ion_jws_verify(jws, jwks, algs);
	if (r == 0) {
		const char *p = ion_jws_payload(jws, &len);

		assert_non_null(p);
		assert_int_equal(len, strlen(PAYLOAD));
		assert_string_equal(p, PAYLOAD);
	} else
		assert_null(ion_jws_payload(jws, &len));
	ion_jws_free(&jws);
	assert_null(jws);
	return r;
}

enum keyset {
	SET_RSA,	      /* rsa as k1 */
	SET_RSA_NOKID,	      /* rsa without kid */
	SET_TWO_RSA,	      /* rsa and rsa2, no kids */
	SET_TWO_RSA_REV,      /* rsa2 and rsa, no kids */
	SET_RSA_EC,	      /* rsa and ec256, no kids */
	SET_EC256,	      /* ec256 as k1 */
	SET_EC256B,	      /* ec256b as k1 */
	SET_EC384,	      /* ec384 as k1 */
	SET_EC384_AS_256,     /* ec384's coordinates labelled P-256 */
	SET_EC256_AS_K1,      /* ec256's coordinates labelled secp256k1 */
	SET_RSA1024,	      /* rsa1024 as k1 */
	SET_RSA_USE_ENC,      /* rsa as k1, "use": "enc" */
	SET_RSA_USE_SIG,      /* rsa as k1, "use": "sig" */
	SET_RSA_ALG_RS512,    /* rsa as k1, "alg": "RS512" */
	SET_RSA_ALG_RS256,    /* rsa as k1, "alg": "RS256" */
	SET_RSA_OPS_ENC,      /* rsa as k1, "key_ops": ["encrypt"] */
	SET_RSA_OPS_VERIFY,   /* rsa as k1, "key_ops": ["verify"] */
	SET_RSA_PRIVATE,      /* rsa as k1 with a "d" member */
	SET_RSA_E1,	      /* rsa's n with e = 1 */
	SET_RSA_AND_JUNK,     /* non-objects and an unknown kty, then rsa */
	SET_TWO_SAME_KID,     /* rsa and rsa2, both k1 */
	SET_TWO_SAME_KID_REV, /* rsa2 and rsa, both k1 */
	SET_RSA_OCT,	      /* rsa as k1 and an oct key k2 */
};

static char *
keyset(enum keyset which)
{
	json_t *k;

	switch (which) {
	case SET_RSA:
		return set_of(jwk_of(K->rsa, "k1"), NULL);
	case SET_RSA_NOKID:
		return set_of(jwk_of(K->rsa, NULL), NULL);
	case SET_TWO_RSA:
		return set_of(jwk_of(K->rsa, NULL), jwk_of(K->rsa2, NULL));
	case SET_TWO_RSA_REV:
		return set_of(jwk_of(K->rsa2, NULL), jwk_of(K->rsa, NULL));
	case SET_RSA_EC:
		return set_of(jwk_of(K->rsa, NULL), jwk_of(K->ec256, NULL));
	case SET_EC256:
		return set_of(jwk_of(K->ec256, "k1"), NULL);
	case SET_EC256B:
		return set_of(jwk_of(K->ec256b, "k1"), NULL);
	case SET_EC384:
		return set_of(jwk_of(K->ec384, "k1"), NULL);
	case SET_EC256_AS_K1:
		k = jwk_of(K->ec256, "k1");
		json_object_set_new(k, "crv", json_string("secp256k1"));
		return set_of(k, NULL);
	case SET_EC384_AS_256:
		k = jwk_of(K->ec384, "k1");
		json_object_set_new(k, "crv", json_string("P-256"));
		return set_of(k, NULL);
	case SET_RSA1024:
		return set_of(jwk_of(K->rsa1024, "k1"), NULL);
	case SET_RSA_USE_ENC:
	case SET_RSA_USE_SIG:
		k = jwk_of(K->rsa, "k1");
		json_object_set_new(k, "use",
		    json_string(which == SET_RSA_USE_ENC ? "enc" : "sig"));
		return set_of(k, NULL);
	case SET_RSA_ALG_RS512:
	case SET_RSA_ALG_RS256:
		k = jwk_of(K->rsa, "k1");
		json_object_set_new(k, "alg",
		    json_string(
			which == SET_RSA_ALG_RS512 ? "RS512" : "RS256"));
		return set_of(k, NULL);
	case SET_RSA_OPS_ENC:
	case SET_RSA_OPS_VERIFY:
		k = jwk_of(K->rsa, "k1");
		json_object_set_new(k, "key_ops",
		    json_pack("[s]",
			which == SET_RSA_OPS_ENC ? "encrypt" : "verify"));
		return set_of(k, NULL);
	case SET_RSA_PRIVATE:
		k = jwk_of(K->rsa, "k1");
		json_object_set_new(k, "d", json_string("AQAB"));
		return set_of(k, NULL);
	case SET_RSA_E1:
		k = jwk_of(K->rsa, "k1");
		json_object_set_new(k, "e", json_string("AQ"));
		return set_of(k, NULL);
	case SET_RSA_AND_JUNK: {
		json_t *set = json_pack("{s:[i, s, n, {s:s, s:s}, []]}", "keys",
		    1, "x", "kty", "OKP", "kid", "k1");
		char *s;

		json_array_append_new(
		    json_object_get(set, "keys"), jwk_of(K->rsa, "k1"));
		s = json_dumps(set, JSON_COMPACT);
		json_decref(set);
		return s;
	}
	case SET_TWO_SAME_KID:
		return set_of(jwk_of(K->rsa, "k1"), jwk_of(K->rsa2, "k1"));
	case SET_TWO_SAME_KID_REV:
		return set_of(jwk_of(K->rsa2, "k1"), jwk_of(K->rsa, "k1"));
	case SET_RSA_OCT:
		return set_of(jwk_of(K->rsa, "k1"),
		    json_pack("{s:s, s:s, s:s}", "kty", "oct", "kid", "k2", "k",
			"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"));
	}
	return NULL;
}

enum key { KEY_RSA, KEY_RSA2, KEY_RSA1024, KEY_EC256, KEY_EC384 };

static EVP_PKEY *
key(enum key k)
{
	switch (k) {
	case KEY_RSA:
		return K->rsa;
	case KEY_RSA2:
		return K->rsa2;
	case KEY_RSA1024:
		return K->rsa1024;
	case KEY_EC256:
		return K->ec256;
	case KEY_EC384:
		return K->ec384;
	}
	return NULL;
}

static const struct {
	const char *name;
	const char *header;
	enum signer how;
	const char *sign_alg; /* digest for the signer */
	enum key key;
	enum keyset set;
	unsigned algs;
	int want;
} cases[] = {
	{ "RS256", "{\"alg\":\"RS256\",\"kid\":\"k1\"}", SIGN_RS, "RS256",
	    KEY_RSA, SET_RSA, DEFAULT_ALGS, 0 },
	{ "PS256", "{\"alg\":\"PS256\",\"kid\":\"k1\"}", SIGN_PS, "PS256",
	    KEY_RSA, SET_RSA, DEFAULT_ALGS, 0 },
	{ "ES256", "{\"alg\":\"ES256\",\"kid\":\"k1\"}", SIGN_ES, "ES256",
	    KEY_EC256, SET_EC256, DEFAULT_ALGS, 0 },
	{ "ES384", "{\"alg\":\"ES384\",\"kid\":\"k1\"}", SIGN_ES, "ES384",
	    KEY_EC384, SET_EC384, ALL_ALGS, 0 },
	{ "RS512", "{\"alg\":\"RS512\",\"kid\":\"k1\"}", SIGN_RS, "RS512",
	    KEY_RSA, SET_RSA, ALL_ALGS, 0 },
	{ "RS256 with typ",
	    "{\"typ\":\"JWT\",\"alg\":\"RS256\",\"kid\":\"k1\"}", SIGN_RS,
	    "RS256", KEY_RSA, SET_RSA, DEFAULT_ALGS, 0 },
	/* the algorithm */
	{ "alg none, a signature", "{\"alg\":\"none\",\"kid\":\"k1\"}", SIGN_RS,
	    "RS256", KEY_RSA, SET_RSA, ALL_ALGS, ION_ERR_AUTH },
	{ "alg none, no signature", "{\"alg\":\"none\",\"kid\":\"k1\"}",
	    SIGN_NONE, "", KEY_RSA, SET_RSA, ALL_ALGS, ION_ERR_INVALID },
	{ "alg None", "{\"alg\":\"None\"}", SIGN_RS, "RS256", KEY_RSA,
	    SET_RSA_NOKID, ALL_ALGS, ION_ERR_AUTH },
	{ "alg rs256", "{\"alg\":\"rs256\"}", SIGN_RS, "RS256", KEY_RSA,
	    SET_RSA_NOKID, ALL_ALGS, ION_ERR_AUTH },
	{ "HS256 keyed with the RSA public key",
	    "{\"alg\":\"HS256\",\"kid\":\"k1\"}", SIGN_HS, "HS256", KEY_RSA,
	    SET_RSA, ALL_ALGS, ION_ERR_AUTH },
	{ "HS256 with an oct key in the set",
	    "{\"alg\":\"HS256\",\"kid\":\"k2\"}", SIGN_HS, "HS256", KEY_RSA,
	    SET_RSA_OCT, ALL_ALGS, ION_ERR_AUTH },
	{ "RS256 not allowed", "{\"alg\":\"RS256\",\"kid\":\"k1\"}", SIGN_RS,
	    "RS256", KEY_RSA, SET_RSA, ION_ALG_ES256 | ION_ALG_PS256,
	    ION_ERR_AUTH },
	{ "RS512 not allowed by default", "{\"alg\":\"RS512\",\"kid\":\"k1\"}",
	    SIGN_RS, "RS512", KEY_RSA, SET_RSA, DEFAULT_ALGS, ION_ERR_AUTH },
	{ "nothing allowed", "{\"alg\":\"RS256\",\"kid\":\"k1\"}", SIGN_RS,
	    "RS256", KEY_RSA, SET_RSA, 0, ION_ERR_AUTH },
	{ "PS256 signature under RS256", "{\"alg\":\"RS256\",\"kid\":\"k1\"}",
	    SIGN_PS, "PS256", KEY_RSA, SET_RSA, DEFAULT_ALGS, ION_ERR_AUTH },
	{ "RS256 signature under PS256", "{\"alg\":\"PS256\",\"kid\":\"k1\"}",
	    SIGN_RS, "RS256", KEY_RSA, SET_RSA, DEFAULT_ALGS, ION_ERR_AUTH },
	/* the key's type and curve */
	{ "RS256 token, EC key", "{\"alg\":\"RS256\",\"kid\":\"k1\"}", SIGN_RS,
	    "RS256", KEY_RSA, SET_EC256, DEFAULT_ALGS, ION_ERR_AUTH },
	{ "ES256 token, RSA key", "{\"alg\":\"ES256\",\"kid\":\"k1\"}", SIGN_ES,
	    "ES256", KEY_EC256, SET_RSA, DEFAULT_ALGS, ION_ERR_AUTH },
	{ "ES256 token, key on P-384", "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
	    SIGN_ES, "ES256", KEY_EC384, SET_EC384, ALL_ALGS, ION_ERR_AUTH },
	{ "ES256 token, P-384 key labelled P-256",
	    "{\"alg\":\"ES256\",\"kid\":\"k1\"}", SIGN_ES, "ES256", KEY_EC384,
	    SET_EC384_AS_256, ALL_ALGS, ION_ERR_AUTH },
	{ "ES256 token, P-256 key labelled secp256k1",
	    "{\"alg\":\"ES256\",\"kid\":\"k1\"}", SIGN_ES, "ES256", KEY_EC256,
	    SET_EC256_AS_K1, ALL_ALGS, ION_ERR_AUTH },
	{ "ES384 token, key on P-256", "{\"alg\":\"ES384\",\"kid\":\"k1\"}",
	    SIGN_ES, "ES384", KEY_EC256, SET_EC256, ALL_ALGS, ION_ERR_AUTH },
	{ "RSA 1024 key", "{\"alg\":\"RS256\",\"kid\":\"k1\"}", SIGN_RS,
	    "RS256", KEY_RSA1024, SET_RSA1024, ALL_ALGS, ION_ERR_AUTH },
	{ "RSA key with e = 1, forged signature",
	    "{\"alg\":\"RS256\",\"kid\":\"k1\"}", SIGN_E1, "RS256", KEY_RSA,
	    SET_RSA_E1, ALL_ALGS, ION_ERR_AUTH },
	{ "forged e = 1 signature, real key",
	    "{\"alg\":\"RS256\",\"kid\":\"k1\"}", SIGN_E1, "RS256", KEY_RSA,
	    SET_RSA, ALL_ALGS, ION_ERR_AUTH },
	{ "private key published", "{\"alg\":\"RS256\",\"kid\":\"k1\"}",
	    SIGN_RS, "RS256", KEY_RSA, SET_RSA_PRIVATE, ALL_ALGS,
	    ION_ERR_AUTH },
	/* use, alg and key_ops of the key */
	{ "key use enc", "{\"alg\":\"RS256\",\"kid\":\"k1\"}", SIGN_RS, "RS256",
	    KEY_RSA, SET_RSA_USE_ENC, DEFAULT_ALGS, ION_ERR_AUTH },
	{ "key use sig", "{\"alg\":\"RS256\",\"kid\":\"k1\"}", SIGN_RS, "RS256",
	    KEY_RSA, SET_RSA_USE_SIG, DEFAULT_ALGS, 0 },
	{ "key alg other", "{\"alg\":\"RS256\",\"kid\":\"k1\"}", SIGN_RS,
	    "RS256", KEY_RSA, SET_RSA_ALG_RS512, ALL_ALGS, ION_ERR_AUTH },
	{ "key alg same", "{\"alg\":\"RS256\",\"kid\":\"k1\"}", SIGN_RS,
	    "RS256", KEY_RSA, SET_RSA_ALG_RS256, DEFAULT_ALGS, 0 },
	{ "key alg RS256, PS256 token", "{\"alg\":\"PS256\",\"kid\":\"k1\"}",
	    SIGN_PS, "PS256", KEY_RSA, SET_RSA_ALG_RS256, DEFAULT_ALGS,
	    ION_ERR_AUTH },
	{ "key_ops encrypt", "{\"alg\":\"RS256\",\"kid\":\"k1\"}", SIGN_RS,
	    "RS256", KEY_RSA, SET_RSA_OPS_ENC, DEFAULT_ALGS, ION_ERR_AUTH },
	{ "key_ops verify", "{\"alg\":\"RS256\",\"kid\":\"k1\"}", SIGN_RS,
	    "RS256", KEY_RSA, SET_RSA_OPS_VERIFY, DEFAULT_ALGS, 0 },
	/* choosing by kid */
	{ "kid unknown", "{\"alg\":\"RS256\",\"kid\":\"k9\"}", SIGN_RS, "RS256",
	    KEY_RSA, SET_RSA, DEFAULT_ALGS, ION_ERR_NOT_FOUND },
	{ "kid, key without kid", "{\"alg\":\"RS256\",\"kid\":\"k1\"}", SIGN_RS,
	    "RS256", KEY_RSA, SET_RSA_NOKID, DEFAULT_ALGS, ION_ERR_NOT_FOUND },
	{ "kid differs in case", "{\"alg\":\"RS256\",\"kid\":\"K1\"}", SIGN_RS,
	    "RS256", KEY_RSA, SET_RSA, DEFAULT_ALGS, ION_ERR_NOT_FOUND },
	{ "no kid, one key", "{\"alg\":\"RS256\"}", SIGN_RS, "RS256", KEY_RSA,
	    SET_RSA, DEFAULT_ALGS, 0 },
	{ "no kid, one key without kid", "{\"alg\":\"RS256\"}", SIGN_RS,
	    "RS256", KEY_RSA, SET_RSA_NOKID, DEFAULT_ALGS, 0 },
	/* Ambiguity is refused whichever of the keys signed. */
	{ "no kid, two RSA keys", "{\"alg\":\"RS256\"}", SIGN_RS, "RS256",
	    KEY_RSA, SET_TWO_RSA, DEFAULT_ALGS, ION_ERR_AUTH },
	{ "no kid, two RSA keys, signer last", "{\"alg\":\"RS256\"}", SIGN_RS,
	    "RS256", KEY_RSA, SET_TWO_RSA_REV, DEFAULT_ALGS, ION_ERR_AUTH },
	{ "no kid, one RSA and one EC key", "{\"alg\":\"RS256\"}", SIGN_RS,
	    "RS256", KEY_RSA, SET_RSA_EC, DEFAULT_ALGS, 0 },
	{ "no kid, one EC among RSA", "{\"alg\":\"ES256\"}", SIGN_ES, "ES256",
	    KEY_EC256, SET_RSA_EC, DEFAULT_ALGS, 0 },
	{ "two keys of one kid", "{\"alg\":\"RS256\",\"kid\":\"k1\"}", SIGN_RS,
	    "RS256", KEY_RSA, SET_TWO_SAME_KID, DEFAULT_ALGS, ION_ERR_EXISTS },
	{ "two keys of one kid, signer last",
	    "{\"alg\":\"RS256\",\"kid\":\"k1\"}", SIGN_RS, "RS256", KEY_RSA,
	    SET_TWO_SAME_KID_REV, DEFAULT_ALGS, ION_ERR_EXISTS },
	{ "junk entries skipped", "{\"alg\":\"RS256\",\"kid\":\"k1\"}", SIGN_RS,
	    "RS256", KEY_RSA, SET_RSA_AND_JUNK, DEFAULT_ALGS, 0 },
	/* the signature */
	{ "signed by another key", "{\"alg\":\"RS256\",\"kid\":\"k1\"}",
	    SIGN_RS, "RS256", KEY_RSA2, SET_RSA, DEFAULT_ALGS, ION_ERR_AUTH },
	{ "ES256 signed by another key", "{\"alg\":\"ES256\"}", SIGN_ES,
	    "ES256", KEY_EC256, SET_EC256B, ALL_ALGS, ION_ERR_AUTH },
	/* header members that are refused */
	{ "crit", "{\"alg\":\"RS256\",\"kid\":\"k1\",\"crit\":[\"exp\"]}",
	    SIGN_RS, "RS256", KEY_RSA, SET_RSA, DEFAULT_ALGS, ION_ERR_INVALID },
	{ "jku",
	    "{\"alg\":\"RS256\",\"kid\":\"k1\",\"jku\":\"https://e.example\"}",
	    SIGN_RS, "RS256", KEY_RSA, SET_RSA, DEFAULT_ALGS, ION_ERR_INVALID },
	{ "jwk", "{\"alg\":\"RS256\",\"kid\":\"k1\",\"jwk\":{}}", SIGN_RS,
	    "RS256", KEY_RSA, SET_RSA, DEFAULT_ALGS, ION_ERR_INVALID },
	{ "x5u",
	    "{\"alg\":\"RS256\",\"kid\":\"k1\",\"x5u\":\"https://e.example\"}",
	    SIGN_RS, "RS256", KEY_RSA, SET_RSA, DEFAULT_ALGS, ION_ERR_INVALID },
	{ "x5c", "{\"alg\":\"RS256\",\"kid\":\"k1\",\"x5c\":[\"MII\"]}",
	    SIGN_RS, "RS256", KEY_RSA, SET_RSA, DEFAULT_ALGS, ION_ERR_INVALID },
	{ "duplicate alg", "{\"alg\":\"none\",\"alg\":\"RS256\"}", SIGN_RS,
	    "RS256", KEY_RSA, SET_RSA, DEFAULT_ALGS, ION_ERR_INVALID },
	{ "duplicate kid", "{\"alg\":\"RS256\",\"kid\":\"k1\",\"kid\":\"k1\"}",
	    SIGN_RS, "RS256", KEY_RSA, SET_RSA, DEFAULT_ALGS, ION_ERR_INVALID },
	{ "alg missing", "{\"kid\":\"k1\"}", SIGN_RS, "RS256", KEY_RSA, SET_RSA,
	    DEFAULT_ALGS, ION_ERR_INVALID },
	{ "alg number", "{\"alg\":256}", SIGN_RS, "RS256", KEY_RSA, SET_RSA,
	    DEFAULT_ALGS, ION_ERR_INVALID },
	{ "alg empty", "{\"alg\":\"\"}", SIGN_RS, "RS256", KEY_RSA, SET_RSA,
	    DEFAULT_ALGS, ION_ERR_INVALID },
	{ "kid number", "{\"alg\":\"RS256\",\"kid\":1}", SIGN_RS, "RS256",
	    KEY_RSA, SET_RSA, DEFAULT_ALGS, ION_ERR_INVALID },
	{ "kid empty", "{\"alg\":\"RS256\",\"kid\":\"\"}", SIGN_RS, "RS256",
	    KEY_RSA, SET_RSA, DEFAULT_ALGS, ION_ERR_INVALID },
	{ "header an array", "[\"RS256\"]", SIGN_RS, "RS256", KEY_RSA, SET_RSA,
	    DEFAULT_ALGS, ION_ERR_INVALID },
	{ "header not JSON", "{alg:RS256}", SIGN_RS, "RS256", KEY_RSA, SET_RSA,
	    DEFAULT_ALGS, ION_ERR_INVALID },
	{ "NUL in alg", "{\"alg\":\"RS256\\u0000x\"}", SIGN_RS, "RS256",
	    KEY_RSA, SET_RSA, DEFAULT_ALGS, ION_ERR_INVALID },
};

static void
test_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *t = token(cases[i].header, PAYLOAD, cases[i].how,
		    cases[i].sign_alg, key(cases[i].key));
		char *set = keyset(cases[i].set);
		int r = check(t, set, cases[i].algs);

		if (r != cases[i].want)
			fail_msg("%s: got %d, want %d", cases[i].name, r,
			    cases[i].want);
		free(t);
		free(set);
	}
}

/* Replaces part n (0, 1, 2) of a compact JWS. */
static char *
replace_part(const char *compact, int n, const char *with)
{
	const char *d1 = strchr(compact, '.'), *d2 = strchr(d1 + 1, '.');
	char *out = malloc(strlen(compact) + strlen(with) + 3);

	if (n == 0)
		sprintf(out, "%s%s", with, d1);
	else if (n == 1)
		sprintf(
		    out, "%.*s.%s%s", (int)(d1 - compact), compact, with, d2);
	else
		sprintf(out, "%.*s.%s", (int)(d2 - compact), compact, with);
	return out;
}

/*
 * The token with its signature bytes cut to keep (when smaller), grown by
 * extra zero bytes, or with bit 0 of byte flip inverted (flip >= 0).
 */
static char *
edit_sig(const char *compact, size_t keep, size_t extra, long flip)
{
	const char *sig = strrchr(compact, '.') + 1;
	unsigned char raw[1100];
	long n = ion_b64url_decode(sig, strlen(sig), raw, sizeof(raw));
	char *enc, *out;

	assert_true(n > 0 && (size_t)n + extra <= sizeof(raw));
	if (keep < (size_t)n)
		n = (long)keep;
	memset(raw + n, 0, extra);
	n += (long)extra;
	if (flip >= 0)
		raw[flip] ^= 1;
	enc = b64(raw, (size_t)n);
	out = replace_part(compact, 2, enc);
	free(enc);
	return out;
}

static void
test_tampered(void **state)
{
	static const struct {
		const char *header;
		enum signer how;
		const char *alg;
		enum key key;
		enum keyset set;
		size_t siglen;
	} toks[] = {
		{ "{\"alg\":\"RS256\",\"kid\":\"k1\"}", SIGN_RS, "RS256",
		    KEY_RSA, SET_RSA, 256 },
		{ "{\"alg\":\"PS256\",\"kid\":\"k1\"}", SIGN_PS, "PS256",
		    KEY_RSA, SET_RSA, 256 },
		/* cjose 0.6.2 alone takes 65 bytes here, ignoring the last */
		{ "{\"alg\":\"ES256\",\"kid\":\"k1\"}", SIGN_ES, "ES256",
		    KEY_EC256, SET_EC256, 64 },
	};
	const char *other =
	    "{\"iss\":\"https://issuer.example\",\"sub\":\"eve\"}";
	char *p = b64(other, strlen(other));
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(toks) / sizeof(toks[0]); i++) {
		char *t = token(toks[i].header, PAYLOAD, toks[i].how,
		    toks[i].alg, key(toks[i].key));
		char *set = keyset(toks[i].set), *x;

		assert_int_equal(check(t, set, DEFAULT_ALGS), 0);
		/* Another payload under the same signature. */
		x = replace_part(t, 1, p);
		assert_int_equal(check(x, set, DEFAULT_ALGS), ION_ERR_AUTH);
		free(x);
		/* The same signature, re-encoded: still fine. */
		x = edit_sig(t, toks[i].siglen, 0, -1);
		assert_int_equal(check(x, set, DEFAULT_ALGS), 0);
		free(x);
		/* Truncated by one byte, by half; grown by one byte. */
		x = edit_sig(t, toks[i].siglen - 1, 0, -1);
		assert_int_equal(check(x, set, DEFAULT_ALGS), ION_ERR_AUTH);
		free(x);
		x = edit_sig(t, toks[i].siglen / 2, 0, -1);
		assert_int_equal(check(x, set, DEFAULT_ALGS), ION_ERR_AUTH);
		free(x);
		x = edit_sig(t, toks[i].siglen, 1, -1);
		assert_int_equal(check(x, set, DEFAULT_ALGS), ION_ERR_AUTH);
		free(x);
		/* One bit flipped, first and last byte. */
		x = edit_sig(t, toks[i].siglen, 0, 0);
		assert_int_equal(check(x, set, DEFAULT_ALGS), ION_ERR_AUTH);
		free(x);
		x = edit_sig(t, toks[i].siglen, 0, (long)toks[i].siglen - 1);
		assert_int_equal(check(x, set, DEFAULT_ALGS), ION_ERR_AUTH);
		free(x);
		free(t);
		free(set);
	}
	free(p);
}

static const struct {
	const char *name;
	const char *compact;
	int want;
} malformed[] = {
	{ "empty", "", ION_ERR_INVALID },
	{ "one part", "eyJhbGciOiJSUzI1NiJ9", ION_ERR_INVALID },
	{ "two parts", "eyJhbGciOiJSUzI1NiJ9.e30", ION_ERR_INVALID },
	{ "four parts", "eyJhbGciOiJSUzI1NiJ9.e30.AAAA.AAAA", ION_ERR_INVALID },
	{ "five parts (JWE)", "eyJhbGciOiJSUzI1NiJ9.a.b.c.d", ION_ERR_INVALID },
	{ "empty header", ".e30.AAAA", ION_ERR_INVALID },
	{ "empty payload", "eyJhbGciOiJSUzI1NiJ9..AAAA", ION_ERR_INVALID },
	{ "empty signature", "eyJhbGciOiJSUzI1NiJ9.e30.", ION_ERR_INVALID },
	{ "padding", "eyJhbGciOiJSUzI1NiJ9.e30=.AAAA", ION_ERR_INVALID },
	{ "standard alphabet", "eyJhbGciOiJSUzI1NiJ9.e30.AA+/",
	    ION_ERR_INVALID },
	{ "white space", "eyJhbGciOiJSUzI1NiJ9 .e30.AAAA", ION_ERR_INVALID },
	{ "new line", "eyJhbGciOiJSUzI1NiJ9.e30.AAAA\n", ION_ERR_INVALID },
	{ "non-canonical last character", "eyJhbGciOiJSUzI1NiJ9.e31.AAAA",
	    ION_ERR_INVALID },
	{ "lone last character", "eyJhbGciOiJSUzI1NiJ9.e30.AAAAA",
	    ION_ERR_INVALID },
	{ "header not base64", "e!J.e30.AAAA", ION_ERR_INVALID },
};

static void
test_malformed(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		struct ion_jws *jws = NULL;
		int r = ion_jws_parse(malformed[i].compact, &jws);

		if (r != malformed[i].want)
			fail_msg("%s: got %d, want %d", malformed[i].name, r,
			    malformed[i].want);
		assert_null(jws);
	}
}

static void
test_too_long(void **state)
{
	char *big = malloc(ION_JWS_MAX + 2);
	struct ion_jws *jws = NULL;

	(void)state;
	memset(big, 'A', ION_JWS_MAX + 1);
	big[4] = '.';
	big[8] = '.';
	big[ION_JWS_MAX + 1] = '\0';
	assert_int_equal(ion_jws_parse(big, &jws), ION_ERR_RANGE);
	assert_null(jws);
	free(big);
}

static void
test_accessors(void **state)
{
	char *t = token("{\"alg\":\"PS256\",\"kid\":\"k1\"}", PAYLOAD, SIGN_PS,
	    "PS256", K->rsa);
	char *t2 =
	    token("{\"alg\":\"RS256\"}", PAYLOAD, SIGN_RS, "RS256", K->rsa);
	char *set = keyset(SET_RSA), *other = keyset(SET_TWO_RSA);
	struct ion_jws *jws = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(ion_jws_parse(t, &jws), 0);
	assert_string_equal(ion_jws_alg(jws), "PS256");
	assert_string_equal(ion_jws_kid(jws), "k1");
	/* No payload before a verify, nor after a failed one. */
	assert_null(ion_jws_payload(jws, &len));
	assert_int_equal(ion_jws_verify(jws, set, DEFAULT_ALGS), 0);
	assert_non_null(ion_jws_payload(jws, &len));
	assert_int_equal(len, strlen(PAYLOAD));
	assert_int_equal(ion_jws_verify(jws, set, ION_ALG_RS256), ION_ERR_AUTH);
	assert_null(ion_jws_payload(jws, &len));
	ion_jws_free(&jws);
	ion_jws_free(&jws); /* NULL is fine */
	ion_jws_free(NULL);
	assert_int_equal(ion_jws_parse(t2, &jws), 0);
	assert_null(ion_jws_kid(jws));
	assert_int_equal(
	    ion_jws_verify(jws, other, DEFAULT_ALGS), ION_ERR_AUTH);
	ion_jws_free(&jws);
	free(t);
	free(t2);
	free(set);
	free(other);
}

static const char *const bad_sets[] = {
	"",
	"not json",
	"[]",
	"{}",
	"{\"keys\":{}}",
	"{\"keys\":\"x\"}",
	"{\"keys\":[],\"keys\":[]}",
	"[{\"keys\":[]}]",
};

static void
test_bad_key_sets(void **state)
{
	char *t = token("{\"alg\":\"RS256\",\"kid\":\"k1\"}", PAYLOAD, SIGN_RS,
	    "RS256", K->rsa);
	json_t *many = json_pack("{s:[]}", "keys");
	char *s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_sets) / sizeof(bad_sets[0]); i++)
		if (check(t, bad_sets[i], DEFAULT_ALGS) != ION_ERR_INVALID)
			fail_msg("key set %zu accepted", i);
	assert_int_equal(check(t, NULL, DEFAULT_ALGS), ION_ERR_INVALID);
	/* An empty set has no key of that kid. */
	assert_int_equal(
	    check(t, "{\"keys\":[]}", DEFAULT_ALGS), ION_ERR_NOT_FOUND);
	/* More keys than any provider publishes. */
	for (i = 0; i < 65; i++)
		json_array_append_new(
		    json_object_get(many, "keys"), jwk_of(K->rsa, "k1"));
	s = json_dumps(many, JSON_COMPACT);
	assert_int_equal(check(t, s, DEFAULT_ALGS), ION_ERR_INVALID);
	free(s);
	json_decref(many);
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_accessors),
		cmocka_unit_test(test_bad_key_sets),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
