/*
 * JWS verification.  cjose does the signature arithmetic, and nothing else:
 * left to itself it imports a token with "alg": "none", verifies with
 * whatever algorithm the token names, and (0.6.2) splits an ECDSA signature
 * of any length in half, so that a signature with a byte appended still
 * verifies.  So this file parses the token and the key set itself,
 * strictly, picks the algorithm from the allow-list and the one key that
 * fits it, checks the signature length, and only then asks cjose.
 */
#include "jose.h"

#include <cjose/cjose.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64url.h"
#include "config.h"
#include "crypto.h"
#include "errors.h"

#define MAX_KEYS 64
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384

enum kty { KTY_RSA, KTY_EC };

struct alg {
	const char *name;
	unsigned bit; /* enum ion_alg */
	enum kty kty;
	const char *crv;	/* EC only */
	cjose_jwk_ec_curve nid; /* EC only */
	size_t coord;		/* EC only: bytes per coordinate */
};

/* Each algorithm tied to the one key type (and curve) it may use. */
static const struct alg algs[] = {
	{ "RS256", ION_ALG_RS256, KTY_RSA, NULL, CJOSE_JWK_EC_INVALID, 0 },
	{ "RS384", ION_ALG_RS384, KTY_RSA, NULL, CJOSE_JWK_EC_INVALID, 0 },
	{ "RS512", ION_ALG_RS512, KTY_RSA, NULL, CJOSE_JWK_EC_INVALID, 0 },
	{ "PS256", ION_ALG_PS256, KTY_RSA, NULL, CJOSE_JWK_EC_INVALID, 0 },
	{ "PS384", ION_ALG_PS384, KTY_RSA, NULL, CJOSE_JWK_EC_INVALID, 0 },
	{ "PS512", ION_ALG_PS512, KTY_RSA, NULL, CJOSE_JWK_EC_INVALID, 0 },
	{ "ES256", ION_ALG_ES256, KTY_EC, "P-256", CJOSE_JWK_EC_P_256, 32 },
	{ "ES384", ION_ALG_ES384, KTY_EC, "P-384", CJOSE_JWK_EC_P_384, 48 },
	{ "ES512", ION_ALG_ES512, KTY_EC, "P-521", CJOSE_JWK_EC_P_521, 66 },
};

/* Header members that would let the token pick its own key or rules. */
static const char *const refused_members[] = { "crit", "jku", "jwk", "x5u",
	"x5c" };

struct ion_jws {
	char *compact; /* the token as given (a bearer token: scrubbed) */
	size_t compact_len;
	char *alg;
	char *kid;		/* NULL when absent */
	unsigned char *payload; /* NUL-terminated */
	size_t payload_len;
	size_t sig_len;
	bool verified;
};

static const struct alg *
alg_lookup(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (strcmp(algs[i].name, name) == 0)
			return &algs[i];
	return NULL;
}

/*
 * Decodes one base64url part into a new NUL-terminated buffer.  The decoder
 * is canonical: one token, one byte string.
 */
static int
decode_part(const char *s, size_t len, unsigned char **ret, size_t *ret_len)
{
	unsigned char *buf;
	size_t cap = len / 4 * 3 + 3;
	long n;

	if (len == 0)
		return ION_ERR_INVALID;
	if ((buf = malloc(cap + 1)) == NULL)
		return ION_ERR_NOMEM;
	if ((n = ion_b64url_decode(s, len, buf, cap)) <= 0) {
		ion_scrub(buf, cap + 1);
		free(buf);
		return ION_ERR_INVALID;
	}
	buf[n] = '\0';
	*ret = buf;
	*ret_len = (size_t)n;
	return 0;
}

static void
free_part(unsigned char **p, size_t len)
{
	if (*p != NULL) {
		ion_scrub(*p, len);
		free(*p);
		*p = NULL;
	}
}

static int
parse_header(const unsigned char *hdr, size_t len, struct ion_jws *jws)
{
	json_error_t jerr;
	json_t *h = NULL, *alg, *kid;
	size_t i;
	int r = ION_ERR_INVALID;

	if ((h = json_loadb((const char *)hdr, len, JSON_REJECT_DUPLICATES,
		 &jerr)) == NULL) {
		if (json_error_code(&jerr) == json_error_out_of_memory)
			r = ION_ERR_NOMEM;
		goto out;
	}
	if (!json_is_object(h))
		goto out;
	for (i = 0; i < sizeof(refused_members) / sizeof(refused_members[0]);
	     i++)
		if (json_object_get(h, refused_members[i]) != NULL)
			goto out;
	alg = json_object_get(h, "alg");
	kid = json_object_get(h, "kid");
	if (!json_is_string(alg) || json_string_length(alg) == 0)
		goto out;
	if (kid != NULL &&
	    (!json_is_string(kid) || json_string_length(kid) == 0))
		goto out;
	r = ION_ERR_NOMEM;
	if ((jws->alg = strdup(json_string_value(alg))) == NULL)
		goto out;
	if (kid != NULL && (jws->kid = strdup(json_string_value(kid))) == NULL)
		goto out;
	r = 0;
out:
	json_decref(h);
	return r;
}

int
ion_jws_parse(const char *compact, struct ion_jws **ret)
{
	struct ion_jws *jws = NULL;
	const char *dot1, *dot2;
	unsigned char *hdr = NULL, *sig = NULL;
	size_t len, hdr_len = 0, sig_len = 0;
	int r = ION_ERR_RANGE;

	if (compact == NULL)
		return ION_ERR_INVALID;
	if ((len = strnlen(compact, ION_JWS_MAX + 1)) > ION_JWS_MAX)
		goto out;
	r = ION_ERR_INVALID;
	if ((dot1 = memchr(compact, '.', len)) == NULL ||
	    (dot2 = memchr(
		 dot1 + 1, '.', len - (size_t)(dot1 + 1 - compact))) == NULL ||
	    memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - compact)) != NULL)
		goto out;
	r = ION_ERR_NOMEM;
	if ((jws = calloc(1, sizeof(*jws))) == NULL)
		goto out;
	if ((r = decode_part(
		 compact, (size_t)(dot1 - compact), &hdr, &hdr_len)) != 0 ||
	    (r = decode_part(dot1 + 1, (size_t)(dot2 - dot1 - 1), &jws->payload,
		 &jws->payload_len)) != 0 ||
	    (r = decode_part(dot2 + 1, len - (size_t)(dot2 + 1 - compact), &sig,
		 &sig_len)) != 0)
		goto out;
	if ((r = parse_header(hdr, hdr_len, jws)) != 0)
		goto out;
	r = ION_ERR_NOMEM;
	if ((jws->compact = strndup(compact, len)) == NULL)
		goto out;
	jws->compact_len = len;
	jws->sig_len = sig_len;
	*ret = jws;
	jws = NULL; /* transferred */
	r = 0;
out:
	free_part(&hdr, hdr_len);
	free_part(&sig, sig_len);
	ion_jws_free(&jws);
	return r;
}

void
ion_jws_free(struct ion_jws **jwsp)
{
	struct ion_jws *jws;

	if (jwsp == NULL || (jws = *jwsp) == NULL)
		return;
	if (jws->compact != NULL) {
		ion_scrub(jws->compact, jws->compact_len);
		free(jws->compact);
	}
	free_part(&jws->payload, jws->payload_len);
	free(jws->alg);
	free(jws->kid);
	free(jws);
	*jwsp = NULL;
}

const char *
ion_jws_alg(const struct ion_jws *jws)
{
	return jws->alg;
}

const char *
ion_jws_kid(const struct ion_jws *jws)
{
	return jws->kid;
}

const char *
ion_jws_payload(const struct ion_jws *jws, size_t *ret_len)
{
	if (!jws->verified)
		return NULL;
	if (ret_len != NULL)
		*ret_len = jws->payload_len;
	return (const char *)jws->payload;
}

/* Decodes a base64url key member into buf; its length, or -1. */
static long
member_bytes(
    const json_t *key, const char *name, unsigned char *buf, size_t cap)
{
	const json_t *v = json_object_get(key, name);

	if (!json_is_string(v) || json_string_length(v) == 0)
		return -1;
	return ion_b64url_decode(
	    json_string_value(v), json_string_length(v), buf, cap);
}

/* Modulus size in bits of an RSA JWK, or 0 when n or e is unusable. */
static unsigned
rsa_bits(const json_t *key)
{
	unsigned char n[RSA_MAX_BITS / 8 + 1], e[8];
	unsigned long long ev = 0;
	long nlen, elen, i = 0;

	if ((nlen = member_bytes(key, "n", n, sizeof(n))) <= 0 ||
	    (elen = member_bytes(key, "e", e, sizeof(e))) <= 0)
		return 0;
	for (i = 0; i < elen; i++)
		ev = ev << 8 | e[i];
	/* e = 1 would make every message its own signature. */
	if (ev < 3 || (ev & 1) == 0)
		return 0;
	for (i = 0; i < nlen && n[i] == 0; i++)
		;
	if (i == nlen)
		return 0;
	return (unsigned)(nlen - i - 1) * 8 +
	    (unsigned)(32 - __builtin_clz((unsigned)n[i]));
}

static bool
string_member_is(const json_t *key, const char *name, const char *want)
{
	const json_t *v = json_object_get(key, name);

	return json_is_string(v) && strcmp(json_string_value(v), want) == 0;
}

/*
 * True when key may verify a token of alg: its type (and curve) is the one
 * alg requires, it is for signatures ("use", "key_ops"), names no other
 * algorithm, is public only, and is big enough.
 */
static bool
key_fits(const json_t *key, const struct alg *a)
{
	const json_t *use, *kalg, *ops, *op;
	unsigned char coord[66];
	size_t i;
	bool verify = false;

	if (!string_member_is(key, "kty", a->kty == KTY_RSA ? "RSA" : "EC"))
		return false;
	use = json_object_get(key, "use");
	if (use != NULL && !string_member_is(key, "use", "sig"))
		return false;
	kalg = json_object_get(key, "alg");
	if (kalg != NULL && !string_member_is(key, "alg", a->name))
		return false;
	if ((ops = json_object_get(key, "key_ops")) != NULL) {
		if (!json_is_array(ops))
			return false;
		for (i = 0; i < json_array_size(ops); i++) {
			op = json_array_get(ops, i);
			if (json_is_string(op) &&
			    strcmp(json_string_value(op), "verify") == 0)
				verify = true;
		}
		if (!verify)
			return false;
	}
	/* A published private key signs for anyone: not a key to trust. */
	if (json_object_get(key, "d") != NULL)
		return false;
	if (a->kty == KTY_RSA) {
		unsigned bits = rsa_bits(key);

		return bits >= RSA_MIN_BITS && bits <= RSA_MAX_BITS;
	}
	return string_member_is(key, "crv", a->crv) &&
	    member_bytes(key, "x", coord, sizeof(coord)) == (long)a->coord &&
	    member_bytes(key, "y", coord, sizeof(coord)) == (long)a->coord;
}

/*
 * The one key of the set that may verify this token.  With a kid, the keys
 * of that kid (ION_ERR_NOT_FOUND when there are none, ION_ERR_EXISTS when
 * two of them have the key type the algorithm needs: the set is ambiguous,
 * perhaps half-way through a rotation, and worth one refetch); without,
 * all keys; among those exactly one must fit the algorithm.
 */
static int
choose_key(const json_t *set, const struct ion_jws *jws, const struct alg *a,
    const json_t **ret)
{
	const json_t *keys, *key, *found = NULL;
	const char *kty = a->kty == KTY_RSA ? "RSA" : "EC";
	bool kid_seen = false;
	size_t i, nfit = 0, nkty = 0;

	keys = json_object_get(set, "keys");
	if (!json_is_array(keys) || json_array_size(keys) > MAX_KEYS)
		return ION_ERR_INVALID;
	for (i = 0; i < json_array_size(keys); i++) {
		key = json_array_get(keys, i);
		/* RFC 7517 section 5: skip keys not understood. */
		if (!json_is_object(key))
			continue;
		if (jws->kid != NULL) {
			if (!string_member_is(key, "kid", jws->kid))
				continue;
			kid_seen = true;
			/*
			 * RFC 7517 4.5 lets keys of different types share a
			 * kid; two of one type under one kid name no key.
			 */
			if (string_member_is(key, "kty", kty))
				nkty++;
		}
		if (!key_fits(key, a))
			continue;
		found = key;
		nfit++;
	}
	if (jws->kid != NULL && !kid_seen)
		return ION_ERR_NOT_FOUND;
	if (nkty > 1)
		return ION_ERR_EXISTS;
	if (nfit != 1)
		return ION_ERR_AUTH;
	*ret = found;
	return 0;
}

/*
 * Imports the chosen key into cjose from a JWK holding only its public
 * members, so cjose sees nothing this file did not check.
 */
static int
import_key(const json_t *key, const struct alg *a, cjose_jwk_t **ret)
{
	json_t *pub = NULL;
	char *text = NULL;
	cjose_jwk_t *jwk = NULL;
	cjose_err cerr;
	int r = ION_ERR_NOMEM;

	memset(&cerr, 0, sizeof(cerr));
	if (a->kty == KTY_RSA)
		pub = json_pack("{s:s, s:O, s:O}", "kty", "RSA", "n",
		    json_object_get(key, "n"), "e", json_object_get(key, "e"));
	else
		pub = json_pack("{s:s, s:s, s:O, s:O}", "kty", "EC", "crv",
		    a->crv, "x", json_object_get(key, "x"), "y",
		    json_object_get(key, "y"));
	if (pub == NULL || (text = json_dumps(pub, JSON_COMPACT)) == NULL)
		goto out;
	if ((jwk = cjose_jwk_import(text, strlen(text), &cerr)) == NULL) {
		r = cerr.code == CJOSE_ERR_NO_MEMORY ? ION_ERR_NOMEM
						     : ION_ERR_AUTH;
		goto out;
	}
	/* Belt and braces: cjose must have understood what was checked. */
	r = ION_ERR_AUTH;
	if (a->kty == KTY_RSA) {
		if (cjose_jwk_get_kty(jwk, &cerr) != CJOSE_JWK_KTY_RSA)
			goto out;
	} else if (cjose_jwk_get_kty(jwk, &cerr) != CJOSE_JWK_KTY_EC ||
	    cjose_jwk_EC_get_curve(jwk, &cerr) != a->nid)
		goto out;
	*ret = jwk;
	jwk = NULL; /* transferred */
	r = 0;
out:
	cjose_jwk_release(jwk);
	free(text);
	json_decref(pub);
	return r;
}

int
ion_jws_verify(
    struct ion_jws *jws, const char *jwks_json, unsigned allowed_algs)
{
	const struct alg *a;
	const json_t *key = NULL;
	json_t *set = NULL;
	json_error_t jerr;
	cjose_jwk_t *jwk = NULL;
	cjose_jws_t *cj = NULL;
	cjose_header_t *hdr;
	cjose_err cerr;
	const char *calg;
	size_t want_sig;
	int r = ION_ERR_AUTH;

	memset(&cerr, 0, sizeof(cerr));
	jws->verified = false;
	/* The token's alg only selects among what the allow-list permits. */
	if ((a = alg_lookup(jws->alg)) == NULL || (a->bit & allowed_algs) == 0)
		goto out;
	r = ION_ERR_INVALID;
	if (jwks_json == NULL)
		goto out;
	if ((set = json_loads(jwks_json, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		if (json_error_code(&jerr) == json_error_out_of_memory)
			r = ION_ERR_NOMEM;
		goto out;
	}
	if (!json_is_object(set))
		goto out;
	if ((r = choose_key(set, jws, a, &key)) != 0)
		goto out;
	/*
	 * cjose 0.6.2 does not check ECDSA signature lengths: one byte too
	 * many still verifies.  RSA signatures are exactly as long as the
	 * modulus, ECDSA ones are r and s at the curve's size (RFC 7518
	 * sections 3.3 to 3.5): one token, one signature.
	 */
	want_sig = a->kty == KTY_RSA ? (rsa_bits(key) + 7) / 8 : 2 * a->coord;
	r = ION_ERR_AUTH;
	if (jws->sig_len != want_sig)
		goto out;
	if ((r = import_key(key, a, &jwk)) != 0)
		goto out;
	r = ION_ERR_AUTH;
	if ((cj = cjose_jws_import(jws->compact, jws->compact_len, &cerr)) ==
	    NULL) {
		if (cerr.code == CJOSE_ERR_NO_MEMORY)
			r = ION_ERR_NOMEM;
		goto out;
	}
	/* The same bytes, so the same alg; make sure cjose agrees. */
	if ((hdr = cjose_jws_get_protected(cj)) == NULL ||
	    (calg = cjose_header_get(hdr, CJOSE_HDR_ALG, &cerr)) == NULL ||
	    strcmp(calg, a->name) != 0)
		goto out;
	if (!cjose_jws_verify(cj, jwk, &cerr)) {
		if (cerr.code == CJOSE_ERR_NO_MEMORY)
			r = ION_ERR_NOMEM;
		goto out;
	}
	jws->verified = true;
	r = 0;
out:
	cjose_jws_release(cj);
	cjose_jwk_release(jwk);
	json_decref(set);
	return r;
}
