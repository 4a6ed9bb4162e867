#include "url.h"

#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "urlchar.h"

static int
parse_port(const char *s, size_t len, unsigned *ret)
{
	unsigned long v = 0;
	size_t i;

	if (len == 0 || len > 5)
		return ION_ERR_INVALID;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return ION_ERR_INVALID;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return ION_ERR_RANGE;
	*ret = (unsigned)v;
	return 0;
}

static int
parse_host(const char *s, size_t len, char host[256])
{
	size_t i;

	if (len == 0 || len > 255)
		return ION_ERR_INVALID;
	if (s[0] == '[') {
		/* An IPv6 literal, as inet_pton reads it (no zone ids). */
		char inner[INET6_ADDRSTRLEN];
		struct in6_addr a6;

		if (len < 4 || s[len - 1] != ']' || len - 2 >= sizeof(inner))
			return ION_ERR_INVALID;
		memcpy(inner, s + 1, len - 2);
		inner[len - 2] = '\0';
		if (inet_pton(AF_INET6, inner, &a6) != 1)
			return ION_ERR_INVALID;
	} else {
		for (i = 0; i < len; i++) {
			char c = s[i];

			if (!((c >= 'a' && c <= 'z') ||
				(c >= 'A' && c <= 'Z') ||
				(c >= '0' && c <= '9') || c == '-' || c == '.'))
				return ION_ERR_INVALID;
		}
		if (s[0] == '.' || s[0] == '-')
			return ION_ERR_INVALID;
	}
	for (i = 0; i < len; i++) {
		char c = s[i];

		host[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	/* "example.com." and "example.com" name the same host: refuse the dot.
	 */
	if (host[len - 1] == '.')
		return ION_ERR_INVALID;
	host[len] = '\0';
	return 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * ION_ERR_DENIED for "." and ".." segments and for percent-encoded '.', '/'
 * and '\' (ways to step out of a prefix's path); ION_ERR_INVALID for a
 * truncated percent escape.
 */
static int
check_path(const char *p, size_t len)
{
	size_t i, seg = 0;

	for (i = 0; i <= len; i++) {
		if (i < len && p[i] == '%') {
			char a, b;

			if (i + 2 >= len || hexval(p[i + 1]) < 0 ||
			    hexval(p[i + 2]) < 0)
				return ION_ERR_INVALID;
			a = p[i + 1];
			b = (char)(p[i + 2] | 0x20);
			/* '.', '/', '\', '%' (double decoding), and bytes
			 * of overlong UTF-8 forms of them */
			if (a == '2' && (b == 'e' || b == 'f' || b == '5'))
				return ION_ERR_DENIED;
			if (a == '5' && b == 'c')
				return ION_ERR_DENIED;
			if (hexval(a) >= 8)
				return ION_ERR_DENIED;
		}
		/* "..;" is ".." to some Java servers: no parameters here. */
		if (i < len && p[i] == ';')
			return ION_ERR_DENIED;
		if (i == len || p[i] == '/') {
			size_t slen = i - seg;

			if ((slen == 1 && p[seg] == '.') ||
			    (slen == 2 && p[seg] == '.' && p[seg + 1] == '.'))
				return ION_ERR_DENIED;
			seg = i + 1;
		}
	}
	return 0;
}

int
ion_url_parse(const char *s, struct ion_url *ret)
{
	const char *p, *auth, *auth_end, *colon;
	struct ion_url u;
	size_t i, len;
	int r;

	memset(&u, 0, sizeof(u));
	len = strlen(s);
	if (len == 0 || len > ION_URL_MAX)
		return ION_ERR_RANGE;
	for (i = 0; i < len; i++)
		if (!ion_url_char(s[i]))
			return ION_ERR_INVALID;
	if (strncasecmp(s, "https://", 8) == 0) {
		u.https = true;
		u.port = 443;
		auth = s + 8;
	} else if (strncasecmp(s, "http://", 7) == 0) {
		u.port = 80;
		auth = s + 7;
	} else
		return ION_ERR_INVALID;

	auth_end = auth + strcspn(auth, "/?#");
	/* User info ("user@host") is how prefix checks get fooled: never. */
	if (memchr(auth, '@', (size_t)(auth_end - auth)) != NULL)
		return ION_ERR_DENIED;
	if (*auth == '[') {
		const char *close =
		    memchr(auth, ']', (size_t)(auth_end - auth));

		if (close == NULL)
			return ION_ERR_INVALID;
		colon = close + 1 < auth_end ? close + 1 : NULL;
		if (colon != NULL && *colon != ':')
			return ION_ERR_INVALID;
	} else
		colon = memchr(auth, ':', (size_t)(auth_end - auth));
	if ((r = parse_host(auth, (size_t)((colon ? colon : auth_end) - auth),
		 u.host)) != 0)
		return r;
	if (colon != NULL &&
	    (r = parse_port(
		 colon + 1, (size_t)(auth_end - colon - 1), &u.port)) != 0)
		return r;

	p = auth_end;
	u.path = p;
	u.path_len = strcspn(p, "?#");
	if ((r = check_path(u.path, u.path_len)) != 0)
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

bool
ion_url_is_loopback(const struct ion_url *u)
{
	struct in_addr a;

	/* A dotted quad in 127/8, not a name that merely starts "127." */
	if (inet_pton(AF_INET, u->host, &a) == 1)
		return (ntohl(a.s_addr) >> 24) == 127;
	return strcmp(u->host, "[::1]") == 0 ||
	    strcmp(u->host, "localhost") == 0;
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
			a = hexval(s[i + 1]);
			b = hexval(s[i + 2]);
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
