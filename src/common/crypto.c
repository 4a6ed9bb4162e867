#include "crypto.h"

#include <sys/random.h>

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#include "b64url.h"
#include "errors.h"

#define CONFIRM_LABEL "pam_ion-confirm"
#define NONCE_LABEL "pam_ion-nonce"

int
ion_random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;

	/*
	 * getrandom() blocks only until the pool is first initialised, and
	 * returns at most 256 bytes per call without an interrupt risk.
	 */
	while (len > 0) {
		ssize_t n = getrandom(p, len > 256 ? 256 : len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ION_ERR_SYSTEM;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
ion_sha256(const void *a, size_t alen, const void *b, size_t blen,
    const void *c, size_t clen, unsigned char out[ION_SHA256_LEN])
{
	EVP_MD_CTX *ctx = NULL;
	unsigned int outlen = 0;
	int r = ION_ERR_CRYPTO;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return ION_ERR_NOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	if (a != NULL && EVP_DigestUpdate(ctx, a, alen) != 1)
		goto out;
	if (b != NULL && EVP_DigestUpdate(ctx, b, blen) != 1)
		goto out;
	if (c != NULL && EVP_DigestUpdate(ctx, c, clen) != 1)
		goto out;
	if (EVP_DigestFinal_ex(ctx, out, &outlen) != 1 ||
	    outlen != ION_SHA256_LEN)
		goto out;
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

int
ion_state_from_secret(
    const char *secret, size_t len, char state[ION_TOKEN_CHARS + 1])
{
	unsigned char raw[ION_SECRET_LEN], digest[ION_SHA256_LEN];
	int r = ION_ERR_INVALID;

	if (len != ION_TOKEN_CHARS ||
	    ion_b64url_decode(secret, len, raw, sizeof(raw)) != ION_SECRET_LEN)
		goto out;
	if ((r = ion_sha256(raw, sizeof(raw), NULL, 0, NULL, 0, digest)) != 0)
		goto out;
	ion_b64url_encode(digest, sizeof(digest), state);
	r = 0;
out:
	ion_scrub(raw, sizeof(raw));
	return r;
}

int
ion_nonce_from_state(const char *state, char nonce[ION_TOKEN_CHARS + 1])
{
	unsigned char digest[ION_SHA256_LEN];
	int r;

	r = ion_sha256(NONCE_LABEL, strlen(NONCE_LABEL), state, strlen(state),
	    NULL, 0, digest);
	if (r != 0)
		return r;
	ion_b64url_encode(digest, sizeof(digest), nonce);
	return 0;
}

int
ion_confirm_code(
    const char *state, const char *code, char out[ION_CONFIRM_DIGITS + 1])
{
	unsigned char digest[ION_SHA256_LEN];
	unsigned long v;
	int r, i;

	r = ion_sha256(CONFIRM_LABEL, strlen(CONFIRM_LABEL), state,
	    strlen(state), code, strlen(code), digest);
	if (r != 0)
		return r;
	v = (unsigned long)digest[0] << 24 | (unsigned long)digest[1] << 16 |
	    (unsigned long)digest[2] << 8 | digest[3];
	v %= 1000000;
	for (i = ION_CONFIRM_DIGITS - 1; i >= 0; i--) {
		out[i] = (char)('0' + v % 10);
		v /= 10;
	}
	out[ION_CONFIRM_DIGITS] = '\0';
	ion_scrub(digest, sizeof(digest));
	return 0;
}

bool
ion_ct_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

void
ion_scrub(void *p, size_t len)
{
	if (p != NULL)
		OPENSSL_cleanse(p, len);
}

void
ion_hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

int
ion_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}
