/*
 * The one reader of absolute http(s) URLs: the relay's public URL, its
 * allowed authorize-URL prefixes and the authorize URLs the module
 * registers; the module's config, the endpoints discovery hands it and the
 * links the relay hands back.  Anything a browser might read differently
 * from us (user info, backslashes, white space, control or non-ASCII
 * characters, percent signs in the host, dot segments) is refused rather
 * than guessed.
 */
#ifndef ION_URL_H
#define ION_URL_H

#include <stdbool.h>
#include <stddef.h>

#define ION_URL_MAX 4096

/* ion_url_problem(): http:// to any host, not only to a loopback one. */
#define ION_URL_ANY_HTTP 1u

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

/* True for RFC 3986 unreserved and reserved characters and '%'. */
bool ion_url_char(char c);

/*
 * True when host (as in a URL: IPv6 literals in brackets) names this
 * machine: a dotted quad in 127.0.0.0/8 (exactly four decimal parts, never
 * a name that merely starts "127."), the IPv6 loopback address in brackets
 * or "localhost" in any case.
 */
bool ion_url_host_is_loopback(const char *host);

/* ion_url_host_is_loopback() of u's host. */
bool ion_url_is_loopback(const struct ion_url *u);

/*
 * Why url may not be the address of a request, or NULL when it may: what
 * ion_url_parse() refuses, a fragment ('#'), and http:// to a host that is
 * not loopback unless flags hold ION_URL_ANY_HTTP.  The reason is a fixed
 * string for a log or an error message; it never quotes url.  On success
 * *ret_query (when not NULL) says whether url has a query ('?').
 */
const char *ion_url_problem(const char *url, unsigned flags, bool *ret_query);

/* True when url is not NULL and ion_url_problem(url, 0, NULL) is NULL. */
bool ion_url_allowed(const char *url);

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
