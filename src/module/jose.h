/*
 * JWS verification for id_tokens; the only file that includes cjose.
 *
 * The token's "alg" never chooses the check on its own: it must be in the
 * configured allow-list, and the key used must be of the type (and curve)
 * that algorithm requires — RSxxx and PSxxx need an RSA key of at least 2048
 * bits, ES256/384/512 an EC key on P-256/P-384/P-521.  "none" and HSxxx are
 * never accepted.  Keys are chosen by "kid"; a token without "kid" is accepted
 * only when exactly one key of the right type is in the set.  A key with a
 * "use" other than "sig", an "alg" other than the token's, "key_ops"
 * without "verify", or private members ("d"), is skipped.
 */
#ifndef ION_JOSE_H
#define ION_JOSE_H

#include <stddef.h>

/* The longest compact JWS accepted, in characters. */
#define ION_JWS_MAX 16384

struct ion_jws;

/*
 * Splits and decodes a compact JWS (three non-empty base64url parts; the
 * header a JSON object without duplicate members, with a non-empty string
 * "alg", an optional non-empty string "kid", and no "crit", "jku", "jwk",
 * "x5u" or "x5c" members).  ION_ERR_INVALID when malformed, ION_ERR_RANGE
 * when longer than ION_JWS_MAX.  Free the result with ion_jws_free().
 */
int ion_jws_parse(const char *compact, struct ion_jws **ret);
void ion_jws_free(struct ion_jws **jws);

const char *ion_jws_alg(const struct ion_jws *jws);
const char *ion_jws_kid(const struct ion_jws *jws); /* NULL when absent */

/*
 * Verifies the signature with a key from jwks_json (a JWK Set document)
 * for an algorithm in allowed_algs (enum ion_alg bits, config.h).
 * 0 when it verifies; ION_ERR_NOT_FOUND when no key has the token's kid
 * and ION_ERR_EXISTS when two keys of the type its algorithm needs have it
 * (the caller may refetch the key set once); ION_ERR_AUTH for anything
 * else: an algorithm not allowed, a key of the wrong type, several
 * candidate keys, a bad signature; ION_ERR_INVALID for a malformed key set
 * (not a JSON object with a "keys" array of at most 64 entries).  Records
 * the outcome in jws, which is why jws is not const.
 */
int ion_jws_verify(
    struct ion_jws *jws, const char *jwks_json, unsigned allowed_algs);

/*
 * The payload bytes, NUL-terminated, owned by jws; NULL unless the last
 * ion_jws_verify() succeeded, so unverified claims cannot be read.
 */
const char *ion_jws_payload(const struct ion_jws *jws, size_t *ret_len);

#endif
