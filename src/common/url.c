#include "url.h"

#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "errors.h"

/* The reasons below name the limit. */
_Static_assert(ION_URL_MAX == 4096, "ION_URL_MAX is not 4096");

#define WHY_LONG "longer than 4096 characters"
#define WHY_CHARS                                                              \
	"holds white space, control, non-ASCII or other characters a URL "     \
	"may not hold"
#define WHY_SCHEME "not an http:// or https:// URL"
#define WHY_USER_INFO "user info ('user@') is not allowed in a URL"
#define WHY_NO_HOST "no host"
#define WHY_HOST_LONG "host name too long"
#define WHY_HOST "bad host name"
#define WHY_IPV6 "bad IPv6 address"
#define WHY_PORT "bad port"
#define WHY_ESCAPE "bad percent escape in the path"
#define WHY_ENCODED                                                            \
	"encoded '.', '/', '\\', '%' or non-ASCII character in the path"
#define WHY_SEMICOLON "';' in the path"
#define WHY_DOT_SEGMENT "'.' or '..' segment in the path"
#define WHY_FRAGMENT "a fragment ('#') is not allowed"
#define WHY_HTTP                                                               \
	"http:// is allowed only to a loopback address (127.0.0.0/8, [::1], "  \
	"localhost); use https://"

bool
ion_url_char(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("-._~:/?#[]@!$&'()*+,;=%", c) != NULL;
}

/* Every refusal says what it refused: r, with why in *ret_why. */
static int
refuse(int r, const char *why, const char **ret_why)
{
	*ret_why = why;
	return r;
}

static int
parse_port(const char *s, size_t len, unsigned *ret, const char **ret_why)
{
	unsigned long v = 0;
	size_t i;

	if (len == 0 || len > 5)
		return refuse(ION_ERR_INVALID, WHY_PORT, ret_why);
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return refuse(ION_ERR_INVALID, WHY_PORT, ret_why);
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return refuse(ION_ERR_RANGE, WHY_PORT, ret_why);
	*ret = (unsigned)v;
	return 0;
}

/*
 * Whether s[0..len) is "[ADDRESS]" with an IPv6 address as inet_pton reads
 * it (no zone ids); the address in *ret_a6 (may be NULL).
 */
static bool
ipv6_literal(const char *s, size_t len, struct in6_addr *ret_a6)
{
	char inner[INET6_ADDRSTRLEN];
	struct in6_addr a6;

	if (len < 4 || s[0] != '[' || s[len - 1] != ']' ||
	    len - 2 >= sizeof(inner))
		return false;
	memcpy(inner, s + 1, len - 2);
	inner[len - 2] = '\0';
	if (inet_pton(AF_INET6, inner, &a6) != 1)
		return false;
	if (ret_a6 != NULL)
		*ret_a6 = a6;
	return true;
}

/* A host name: letters, digits, '-' and '.', no empty label. */
static bool
host_name(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '-' || c == '.'))
			return false;
		if (c == '.' && i > 0 && s[i - 1] == '.')
			return false;
	}
	/* "example.com." and "example.com" name the same host: no end dot. */
	return s[0] != '.' && s[0] != '-' && s[len - 1] != '.';
}

static int
parse_host(const char *s, size_t len, char host[256], const char **ret_why)
{
	size_t i;

	if (len == 0)
		return refuse(ION_ERR_INVALID, WHY_NO_HOST, ret_why);
	if (len > 255)
		return refuse(ION_ERR_INVALID, WHY_HOST_LONG, ret_why);
	if (s[0] == '[' && !ipv6_literal(s, len, NULL))
		return refuse(ION_ERR_INVALID, WHY_IPV6, ret_why);
	if (s[0] != '[' && !host_name(s, len))
		return refuse(ION_ERR_INVALID, WHY_HOST, ret_why);
	for (i = 0; i < len; i++) {
		char c = s[i];

		host[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	host[len] = '\0';
	return 0;
}

/*
 * ION_ERR_DENIED for "." and ".." segments, ';', and percent-encoded '.',
 * '/', '\', '%' or bytes above 0x7f (ways to step out of a prefix's path);
 * ION_ERR_INVALID for a malformed percent escape.
 */
static int
check_path(const char *p, size_t len, const char **ret_why)
{
	size_t i, seg = 0;

	for (i = 0; i <= len; i++) {
		if (i < len && p[i] == '%') {
			char a, b;

			if (i + 2 >= len || ion_hex_value(p[i + 1]) < 0 ||
			    ion_hex_value(p[i + 2]) < 0)
				return refuse(
				    ION_ERR_INVALID, WHY_ESCAPE, ret_why);
			a = p[i + 1];
			b = (char)(p[i + 2] | 0x20);
			/* '.', '/', '\', '%' (double decoding), and bytes
			 * of overlong UTF-8 forms of them */
			if ((a == '2' && (b == 'e' || b == 'f' || b == '5')) ||
			    (a == '5' && b == 'c') || ion_hex_value(a) >= 8)
				return refuse(
				    ION_ERR_DENIED, WHY_ENCODED, ret_why);
		}
		/* "..;" is ".." to some Java servers: no parameters here. */
		if (i < len && p[i] == ';')
			return refuse(ION_ERR_DENIED, WHY_SEMICOLON, ret_why);
		if (i == len || p[i] == '/') {
			size_t slen = i - seg;

			if ((slen == 1 && p[seg] == '.') ||
			    (slen == 2 && p[seg] == '.' && p[seg + 1] == '.'))
				return refuse(
				    ION_ERR_DENIED, WHY_DOT_SEGMENT, ret_why);
			seg = i + 1;
		}
	}
	return 0;
}

/* The scheme and what follows it, or NULL with *ret_why set. */
static const char *
parse_scheme(const char *s, struct ion_url *u, const char **ret_why)
{
	if (strncasecmp(s, "https://", 8) == 0) {
		u->https = true;
		u->port = 443;
		return s + 8;
	}
	if (strncasecmp(s, "http://", 7) == 0) {
		u->port = 80;
		return s + 7;
	}
	*ret_why = WHY_SCHEME;
	return NULL;
}

/* Host and port from the authority auth[0..len). */
static int
parse_authority(
    const char *auth, size_t len, struct ion_url *u, const char **ret_why)
{
	const char *end = auth + len, *colon;
	int r;

	/* User info ("user@host") is how prefix checks get fooled: never. */
	if (memchr(auth, '@', len) != NULL)
		return refuse(ION_ERR_DENIED, WHY_USER_INFO, ret_why);
	if (*auth == '[') {
		const char *close = memchr(auth, ']', len);

		if (close == NULL)
			return refuse(ION_ERR_INVALID, WHY_IPV6, ret_why);
		colon = close + 1 < end ? close + 1 : NULL;
		if (colon != NULL && *colon != ':')
			return refuse(ION_ERR_INVALID, WHY_PORT, ret_why);
	} else
		colon = memchr(auth, ':', len);
	if ((r = parse_host(auth, (size_t)((colon ? colon : end) - auth),
		 u->host, ret_why)) != 0)
		return r;
	if (colon != NULL &&
	    (r = parse_port(
		 colon + 1, (size_t)(end - colon - 1), &u->port, ret_why)) != 0)
		return r;
	return 0;
}

/* ion_url_parse(), saying why in *ret_why when it refuses. */
static int
read_url(const char *s, struct ion_url *ret, const char **ret_why)
{
	const char *p, *auth;
	struct ion_url u;
	size_t i, len, alen;
	int r;

	memset(&u, 0, sizeof(u));
	len = strlen(s);
	if (len == 0)
		return refuse(ION_ERR_RANGE, WHY_SCHEME, ret_why);
	if (len > ION_URL_MAX)
		return refuse(ION_ERR_RANGE, WHY_LONG, ret_why);
	for (i = 0; i < len; i++)
		if (!ion_url_char(s[i]))
			return refuse(ION_ERR_INVALID, WHY_CHARS, ret_why);
	if ((auth = parse_scheme(s, &u, ret_why)) == NULL)
		return ION_ERR_INVALID;
	alen = strcspn(auth, "/?#");
	if ((r = parse_authority(auth, alen, &u, ret_why)) != 0)
		return r;

	p = auth + alen;
	u.path = p;
	u.path_len = strcspn(p, "?#");
	if ((r = check_path(u.path, u.path_len, ret_why)) != 0)
		return r;
	p += u.path_len;
	if (*p == '?') {
		u.query = p + 1;
		u.query_len = strcspn(u.query, "#");
		p = u.query + u.query_len;
	}
	if (*p == '#')
		u.has_fragment = true;
	*ret = u;
	return 0;
}

int
ion_url_parse(const char *s, struct ion_url *ret)
{
	const char *why;

	return read_url(s, ret, &why);
}

bool
ion_url_host_is_loopback(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	/*
	 * A real dotted quad in 127/8 (inet_pton takes exactly four decimal
	 * parts), never a name that merely starts "127.": that could be
	 * "127.0.0.1.evil.example".
	 */
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (host[0] == '[')
		return ipv6_literal(host, strlen(host), &a6) &&
		    memcmp(&a6, &in6addr_loopback, sizeof(a6)) == 0;
	return strcasecmp(host, "localhost") == 0;
}

bool
ion_url_is_loopback(const struct ion_url *u)
{
	return ion_url_host_is_loopback(u->host);
}

const char *
ion_url_problem(const char *url, unsigned flags, bool *ret_query)
{
	struct ion_url u;
	const char *why;

	if (read_url(url, &u, &why) != 0)
		return why;
	if (u.has_fragment)
		return WHY_FRAGMENT;
	if (!u.https && (flags & ION_URL_ANY_HTTP) == 0 &&
	    !ion_url_is_loopback(&u))
		return WHY_HTTP;
	if (ret_query != NULL)
		*ret_query = u.query != NULL;
	return NULL;
}

bool
ion_url_allowed(const char *url)
{
	return url != NULL && ion_url_problem(url, 0, NULL) == NULL;
}

bool
ion_url_under_prefix(const struct ion_url *url, const struct ion_url *prefix)
{
	const char *pp = prefix->path;
	size_t plen = prefix->path_len;

	if (url->https != prefix->https || url->port != prefix->port ||
	    strcmp(url->host, prefix->host) != 0)
		return false;
	if (plen == 0 || (plen == 1 && pp[0] == '/'))
		return true;
	if (url->path_len < plen || memcmp(url->path, pp, plen) != 0)
		return false;
	/* On a boundary: the prefix ends in '/', or the URL's path ends here.
	 */
	return pp[plen - 1] == '/' || url->path_len == plen ||
	    url->path[plen] == '/';
}

/* Percent-decodes s[0..len) into out (room for len + 1); '+' stays '+'. */
static int
pct_decode(const char *s, size_t len, char *out, size_t *ret_len)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '%') {
			int a, b;

			if (i + 2 >= len)
				return ION_ERR_INVALID;
			a = ion_hex_value(s[i + 1]);
			b = ion_hex_value(s[i + 2]);
			if (a < 0 || b < 0)
				return ION_ERR_INVALID;
			out[o++] = (char)(a << 4 | b);
			i += 2;
		} else
			out[o++] = s[i];
	}
	out[o] = '\0';
	*ret_len = o;
	return 0;
}

int
ion_url_param(const struct ion_url *u, const char *pname, const char *expected,
    unsigned *ret_count, bool *ret_all_equal)
{
	char name[ION_URL_MAX + 1], value[ION_URL_MAX + 1];
	size_t plen = strlen(pname), elen = strlen(expected), pos = 0;
	size_t nlen, vlen;
	unsigned count = 0;
	bool all_equal = true;
	int r;

	while (
	    (r = ion_url_param_next(u, &pos, name, &nlen, value, &vlen)) == 0) {
		if (nlen != plen || memcmp(name, pname, plen) != 0)
			continue;
		count++;
		if (vlen != elen || memcmp(value, expected, vlen) != 0)
			all_equal = false;
	}
	if (r != ION_ERR_NOT_FOUND)
		return r;
	*ret_count = count;
	*ret_all_equal = count > 0 && all_equal;
	return 0;
}

int
ion_url_param_get(const struct ion_url *u, const char *pname, char *out,
    size_t outlen, size_t *ret_len)
{
	char name[ION_URL_MAX + 1], value[ION_URL_MAX + 1];
	size_t plen = strlen(pname), pos = 0, nlen, vlen;
	int r;

	while (
	    (r = ion_url_param_next(u, &pos, name, &nlen, value, &vlen)) == 0) {
		if (nlen != plen || memcmp(name, pname, plen) != 0)
			continue;
		if (vlen + 1 > outlen)
			return ION_ERR_RANGE;
		memcpy(out, value, vlen);
		out[vlen] = '\0';
		*ret_len = vlen;
		return 0;
	}
	return r;
}

int
ion_url_param_next(const struct ion_url *u, size_t *pos, char *name,
    size_t *ret_nlen, char *value, size_t *ret_vlen)
{
	const char *q, *end, *amp, *pend, *eq;
	size_t nlen, vlen = 0;
	int r;

	/* "?" holds no parameter; "?a&" two, the last one empty. */
	if (u->query == NULL || u->query_len == 0 || *pos > u->query_len)
		return ION_ERR_NOT_FOUND;
	q = u->query + *pos;
	end = u->query + u->query_len;
	amp = memchr(q, '&', (size_t)(end - q));
	pend = amp ? amp : end;
	eq = memchr(q, '=', (size_t)(pend - q));
	if ((r = pct_decode(q, (size_t)((eq ? eq : pend) - q), name, &nlen)) !=
	    0)
		return r;
	if (eq != NULL) {
		if ((r = pct_decode(
			 eq + 1, (size_t)(pend - eq - 1), value, &vlen)) != 0)
			return r;
	} else
		value[0] = '\0';
	*pos = amp ? (size_t)(amp - u->query) + 1 : u->query_len + 1;
	*ret_nlen = nlen;
	*ret_vlen = vlen;
	return 0;
}

int
ion_url_count_params(const struct ion_url *u, unsigned *ret_count)
{
	const char *q = u->query, *end;
	unsigned count = 0;

	if (q != NULL && u->query_len > 0) {
		end = q + u->query_len;
		for (count = 1; (q = memchr(q, '&', (size_t)(end - q))) != NULL;
		     q++)
			count++;
	}
	*ret_count = count;
	return 0;
}
