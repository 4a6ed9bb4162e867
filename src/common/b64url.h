/*
 * base64url without padding (RFC 4648 section 5), as used for the poll
 * secret, the state, the nonce and the PKCE verifier.
 */
#ifndef ION_B64URL_H
#define ION_B64URL_H

#include <stdbool.h>
#include <stddef.h>

/* Characters needed to encode len bytes, not counting the NUL. */
#define ION_B64URL_LEN(len) (((len)*4 + 2) / 3)

/*
 * Encodes len bytes of in into out, which must hold ION_B64URL_LEN(len) + 1
 * bytes; out is NUL-terminated.  Returns the number of characters written.
 */
size_t ion_b64url_encode(const unsigned char *in, size_t len, char *out);

/*
 * Decodes exactly inlen characters of in into out (room for outlen bytes).
 * Strict: no padding, no white space, no other alphabet, and the unused low
 * bits of the last character must be zero, so every byte string has exactly
 * one encoding.  Returns the number of bytes written, or -1 when in is not
 * canonical base64url or does not fit.
 */
long ion_b64url_decode(
    const char *in, size_t inlen, unsigned char *out, size_t outlen);

/* True when s[0..len) consists of base64url characters only. */
bool ion_b64url_is_alphabet(const char *s, size_t len);

#endif
