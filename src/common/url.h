/*
 * Strict parsing of the absolute http(s) URLs the relay deals with: its own
 * public URL, the allowed authorize-URL prefixes, and the authorize URLs the
 * module registers.  Anything a browser might read differently from us
 * (user info, backslashes, white space, control or non-ASCII characters,
 * percent signs in the host, dot segments) is refused rather than guessed.
 */
#ifndef ION_URL_H
#define ION_URL_H

#include <stdbool.h>
#include <stddef.h>

#define ION_URL_MAX 4096

struct ion_url {
	bool https;
	char host[256];	  /* lower case; IPv6 literals keep their brackets */
	unsigned port;	  /* explicit or the scheme's default */
	const char *path; /* points into the parsed string; "" when absent */
	size_t path_len;
	const char *query; /* after '?', NULL when absent */
	size_t query_len;
	bool has_fragment;
};

/*
 * Parses s.  0; ION_ERR_DENIED for user info or dot segments (ways around a
 * prefix check); ION_ERR_INVALID / ION_ERR_RANGE for anything else wrong.
 */
int ion_url_parse(const char *s, struct ion_url *ret);

/* True when the host is 127.0.0.0/8, [::1] or "localhost". */
bool ion_url_is_loopback(const struct ion_url *u);

/*
 * True when url lies under prefix on URL boundaries: same scheme, host and
 * port, and the prefix's path is followed in url by '/', '?' or the end (a
 * prefix path that ends in '/' matches any path below it).
 */
bool ion_url_under_prefix(
    const struct ion_url *url, const struct ion_url *prefix);

/*
 * Counts the query parameters of u whose percent-decoded name is pname, and
 * whether every one of them decodes to expected.  ION_ERR_INVALID for a
 * malformed percent escape.
 */
int ion_url_param(const struct ion_url *u, const char *pname,
    const char *expected, unsigned *ret_count, bool *ret_all_equal);

/*
 * Writes the percent-decoded value of u's first query parameter named pname
 * (decoded) to out, NUL-terminated, and its length to ret_len (a value may
 * hold a decoded NUL).  ION_ERR_NOT_FOUND when there is none,
 * ION_ERR_INVALID for a malformed percent escape, ION_ERR_RANGE when the
 * value does not fit in outlen bytes.
 */
int ion_url_param_get(const struct ion_url *u, const char *pname, char *out,
    size_t outlen, size_t *ret_len);

/*
 * Walks u's query one '&'-separated parameter at a time; *pos starts at 0.
 * Writes the percent-decoded name and value ('+' stays '+') to name and
 * value, each ION_URL_MAX + 1 bytes and NUL-terminated, and their lengths
 * to ret_nlen and ret_vlen (either may hold a decoded NUL; a part without
 * '=' has an empty value; the parts are those ion_url_count_params()
 * counts, empty ones included).  0 for a parameter, ION_ERR_NOT_FOUND after the
 * last, ION_ERR_INVALID for a malformed percent escape.
 */
int ion_url_param_next(const struct ion_url *u, size_t *pos, char *name,
    size_t *ret_nlen, char *value, size_t *ret_vlen);

/*
 * Counts the '&'-separated parts of u's query, empty ones included (0 for
 * no query or an empty one).  Always 0.
 */
int ion_url_count_params(const struct ion_url *u, unsigned *ret_count);

#endif
