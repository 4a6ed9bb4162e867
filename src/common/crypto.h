/*
 * The project's only use of OpenSSL's libcrypto: random bytes, SHA-256 and
 * the derived values both the module and the relay compute (the state from
 * the poll secret, the confirmation code).
 */
#ifndef ION_CRYPTO_H
#define ION_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#define ION_SHA256_LEN 32
#define ION_SECRET_LEN 32 /* poll secret, in bytes */
/* Encoded poll secret and state: base64url of 32 bytes, 43 characters. */
#define ION_TOKEN_CHARS 43
#define ION_CONFIRM_DIGITS 6

/* Fills buf with len bytes from the kernel's CSPRNG.  0 or ION_ERR_*. */
int ion_random_bytes(void *buf, size_t len);

/* SHA-256 over the concatenation of up to three parts (NULL parts skipped). */
int ion_sha256(const void *a, size_t alen, const void *b, size_t blen,
    const void *c, size_t clen, unsigned char out[ION_SHA256_LEN]);

/*
 * The state S that belongs to a poll secret given in its encoded form
 * (43 base64url characters for 32 bytes): S = b64url(SHA-256(raw secret)).
 * state must hold ION_TOKEN_CHARS + 1 bytes.  ION_ERR_INVALID when the
 * secret is not exactly that encoding.
 */
int ion_state_from_secret(
    const char *secret, size_t len, char state[ION_TOKEN_CHARS + 1]);

/*
 * The nonce that belongs to state S: b64url(SHA-256("pam_ion-nonce" || S)),
 * 43 characters.  Deriving it from S binds the id_token to this login: the
 * relay only accepts an authorize URL whose nonce is this value, so a code
 * obtained through another login's URL carries another nonce and fails the
 * module's check.  nonce must hold ION_TOKEN_CHARS + 1 bytes.
 */
int ion_nonce_from_state(const char *state, char nonce[ION_TOKEN_CHARS + 1]);

/*
 * The confirmation code for state S and authorization code C: the first four
 * bytes of SHA-256("pam_ion-confirm" || S || C) as a big-endian unsigned
 * integer, modulo 1,000,000, as six digits.  out holds 7 bytes.
 */
int ion_confirm_code(
    const char *state, const char *code, char out[ION_CONFIRM_DIGITS + 1]);

/* Constant-time comparison of two equally long buffers. */
bool ion_ct_equal(const void *a, const void *b, size_t len);

/* Clears len bytes in a way the compiler cannot drop. */
void ion_scrub(void *p, size_t len);

/* Writes len bytes as 2 * len lowercase hex digits and a NUL to out. */
void ion_hex_encode(const unsigned char *in, size_t len, char *out);

/* The value of a hex digit, either case (0 to 15), or -1. */
int ion_hex_value(char c);

#endif
