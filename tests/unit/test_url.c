/* Unit tests of url.h: strict URL parsing, prefix checks, state param. */
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

#include "errors.h"
#include "url.h"

#define NO_QUERY NULL
#define ANY_ERROR 1 /* ION_ERR_DENIED or ION_ERR_INVALID */

static const struct {
	const char *in;
	bool https;
	const char *host;
	unsigned port;
	const char *path;
	const char *query; /* NO_QUERY when absent */
	bool fragment;
} good[] = {
	{ "https://a.example", true, "a.example", 443, "", NO_QUERY, false },
	{ "https://a.example/", true, "a.example", 443, "/", NO_QUERY, false },
	{ "http://a.example", false, "a.example", 80, "", NO_QUERY, false },
	{ "HTTPS://A.Example/Path", true, "a.example", 443, "/Path", NO_QUERY,
	    false },
	{ "hTtP://LOCALHOST:8080/cb", false, "localhost", 8080, "/cb", NO_QUERY,
	    false },
	{ "https://a.example:8443/x", true, "a.example", 8443, "/x", NO_QUERY,
	    false },
	{ "https://a.example:443", true, "a.example", 443, "", NO_QUERY,
	    false },
	{ "http://a.example:443/", false, "a.example", 443, "/", NO_QUERY,
	    false },
	{ "https://a.example:1/", true, "a.example", 1, "/", NO_QUERY, false },
	{ "https://a.example:65535/", true, "a.example", 65535, "/", NO_QUERY,
	    false },
	{ "https://auth.ionelectricity.com/oauth2/authorize?client_id=x&"
	  "state=y",
	    true, "auth.ionelectricity.com", 443, "/oauth2/authorize",
	    "client_id=x&state=y", false },
	{ "https://a.example?x=1", true, "a.example", 443, "", "x=1", false },
	{ "https://a.example/p?", true, "a.example", 443, "/p", "", false },
	{ "https://a.example/p#frag", true, "a.example", 443, "/p", NO_QUERY,
	    true },
	{ "https://a.example#", true, "a.example", 443, "", NO_QUERY, true },
	{ "https://a.example/p?q=1#f?g", true, "a.example", 443, "/p", "q=1",
	    true },
	{ "https://a.example/p?a=b?c/d", true, "a.example", 443, "/p",
	    "a=b?c/d", false },
	/* Dots and escapes in a query are the provider's business. */
	{ "https://a.example/p?a=/../%2e%2f%5c", true, "a.example", 443, "/p",
	    "a=/../%2e%2f%5c", false },
	{ "https://a.example/p?u=x@y", true, "a.example", 443, "/p", "u=x@y",
	    false },
	{ "https://a.example/a@b", true, "a.example", 443, "/a@b", NO_QUERY,
	    false },
	{ "https://[::1]:8443/x", true, "[::1]", 8443, "/x", NO_QUERY, false },
	{ "https://[::1]", true, "[::1]", 443, "", NO_QUERY, false },
	{ "http://[2001:DB8::A:1]/", false, "[2001:db8::a:1]", 80, "/",
	    NO_QUERY, false },
	{ "http://[::ffff:127.0.0.1]:80/", false, "[::ffff:127.0.0.1]", 80, "/",
	    NO_QUERY, false },
	{ "http://127.0.0.1:8080/cb", false, "127.0.0.1", 8080, "/cb", NO_QUERY,
	    false },
	{ "https://xn--bcher-kva.example/", true, "xn--bcher-kva.example", 443,
	    "/", NO_QUERY, false },
	{ "https://a-b.c-d.example/", true, "a-b.c-d.example", 443, "/",
	    NO_QUERY, false },
	/* Percent escapes other than dots and slashes stay in a path. */
	{ "https://a.example/%41b/%20", true, "a.example", 443, "/%41b/%20",
	    NO_QUERY, false },
	/* Segments that merely contain dots are no dot segments. */
	{ "https://a.example/a.b/..c/c../.../.x", true, "a.example", 443,
	    "/a.b/..c/c../.../.x", NO_QUERY, false },
	{ "https://a.example//x//", true, "a.example", 443, "//x//", NO_QUERY,
	    false },
	{ "https://a.example/~user/p=1,2+3!$'()*", true, "a.example", 443,
	    "/~user/p=1,2+3!$'()*", NO_QUERY, false },
	/* escapes of bytes below 0x80 other than '.', '/', backslash, '%' */
	{ "https://a.example/%7e%7E%24%2d%2C", true, "a.example", 443,
	    "/%7e%7E%24%2d%2C", NO_QUERY, false },
	/* ';', "%25" and escapes of high bytes are fine in a query */
	{ "https://a.example/p?a=;b&c=%25&d=%c0%ae&e=%ff&f=..;", true,
	    "a.example", 443, "/p", "a=;b&c=%25&d=%c0%ae&e=%ff&f=..;", false },
	{ "https://a.example/p#;%25%c0", true, "a.example", 443, "/p", NO_QUERY,
	    true },
};

static void
test_parse_good(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct ion_url u;
		int r;

		memset(&u, 0xa5, sizeof(u));
		r = ion_url_parse(good[i].in, &u);
		if (r != 0)
			fail_msg("'%s': got %d, expected 0", good[i].in, r);
		assert_int_equal(u.https, good[i].https);
		assert_string_equal(u.host, good[i].host);
		assert_int_equal(u.port, good[i].port);
		/* path and query point into the parsed string */
		assert_true(u.path >= good[i].in &&
		    u.path <= good[i].in + strlen(good[i].in));
		assert_int_equal(u.path_len, strlen(good[i].path));
		assert_memory_equal(u.path, good[i].path, u.path_len);
		if (good[i].query == NO_QUERY) {
			assert_null(u.query);
		} else {
			assert_non_null(u.query);
			assert_true(u.query > good[i].in &&
			    u.query <= good[i].in + strlen(good[i].in));
			assert_int_equal(u.query[-1], '?');
			assert_int_equal(u.query_len, strlen(good[i].query));
			assert_memory_equal(
			    u.query, good[i].query, u.query_len);
		}
		if (u.has_fragment != good[i].fragment)
			fail_msg("'%s': has_fragment %d", good[i].in,
			    u.has_fragment);
	}
}

static const struct {
	const char *in;
	int r;
	const char *why;
} bad[] = {
	{ "", ION_ERR_RANGE, "empty" },
	/* schemes */
	{ "ftp://a.example/", ION_ERR_INVALID, "scheme" },
	{ "javascript:alert(1)", ION_ERR_INVALID, "scheme" },
	{ "//a.example/", ION_ERR_INVALID, "no scheme" },
	{ "a.example/", ION_ERR_INVALID, "no scheme" },
	{ "https:/a.example/", ION_ERR_INVALID, "one slash" },
	{ "https:a.example", ION_ERR_INVALID, "no slashes" },
	{ "https//a.example", ION_ERR_INVALID, "no colon" },
	{ "httpss://a.example", ION_ERR_INVALID, "scheme" },
	{ "https://", ION_ERR_INVALID, "no host" },
	{ "https:///x", ION_ERR_INVALID, "no host" },
	{ "https://?x", ION_ERR_INVALID, "no host" },
	{ "https://:443/", ION_ERR_INVALID, "no host" },
	/* user info */
	{ "https://user@a.example/", ION_ERR_DENIED, "user info" },
	{ "https://user:pw@a.example/", ION_ERR_DENIED, "user info" },
	{ "https://a.example@evil.example/", ION_ERR_DENIED, "user info" },
	{ "https://a.example:443@evil.example/", ION_ERR_DENIED, "user info" },
	{ "https://@a.example/", ION_ERR_DENIED, "empty user info" },
	{ "https://a.example@/", ION_ERR_DENIED, "user info, no host" },
	/* backslashes, which browsers read as slashes */
	{ "https://a.example\\@evil.example/", ION_ERR_INVALID, "backslash" },
	{ "https://evil.example\\.a.example/", ION_ERR_INVALID, "backslash" },
	{ "https:\\\\a.example/", ION_ERR_INVALID, "backslash" },
	{ "https://a.example/x\\y", ION_ERR_INVALID, "backslash in path" },
	{ "https://a.example/x?y=\\", ION_ERR_INVALID, "backslash in query" },
	/* white space */
	{ " https://a.example/", ION_ERR_INVALID, "leading space" },
	{ "https://a.example/ ", ION_ERR_INVALID, "trailing space" },
	{ "https://a .example/", ION_ERR_INVALID, "space in host" },
	{ "https://a.example/a b", ION_ERR_INVALID, "space in path" },
	{ "https://a.example/?a b", ION_ERR_INVALID, "space in query" },
	{ "https://a.example/#a b", ION_ERR_INVALID, "space in fragment" },
	{ "https://a.example/\t", ION_ERR_INVALID, "tab" },
	{ "https://a.exa\nmple/", ION_ERR_INVALID, "newline" },
	{ "https://a.example/\r\nSet-Cookie:x", ION_ERR_INVALID, "CRLF" },
	/* control characters */
	{ "https://a.example/\x01", ION_ERR_INVALID, "control" },
	{ "https://a.example/\x1f", ION_ERR_INVALID, "control" },
	{ "https://a.example/\x7f", ION_ERR_INVALID, "DEL" },
	{ "https://a.example\x1b/", ION_ERR_INVALID, "ESC" },
	/* non-ASCII bytes */
	{ "https://\xc3\xa9.example/", ION_ERR_INVALID, "non-ASCII host" },
	{ "https://a.example/\xc3\xa9", ION_ERR_INVALID, "non-ASCII path" },
	{ "https://a.example/?q=\xff", ION_ERR_INVALID, "non-ASCII query" },
	{ "https://a\xe2\x80\xae.example/", ION_ERR_INVALID, "RLO" },
	/* characters RFC 3986 does not allow anywhere */
	{ "https://a.example/<script>", ION_ERR_INVALID, "'<'" },
	{ "https://a.example/?q=\"x\"", ION_ERR_INVALID, "'\"'" },
	{ "https://a.example/{x}", ION_ERR_INVALID, "'{'" },
	{ "https://a.example/a|b", ION_ERR_INVALID, "'|'" },
	{ "https://a.example/a^b", ION_ERR_INVALID, "'^'" },
	{ "https://a.example/a`b", ION_ERR_INVALID, "'`'" },
	/* ports */
	{ "https://a.example:0/", ION_ERR_RANGE, "port 0" },
	{ "https://a.example:65536/", ION_ERR_RANGE, "port 65536" },
	{ "https://a.example:99999/", ION_ERR_RANGE, "port 99999" },
	{ "https://a.example:123456/", ION_ERR_INVALID, "port of 6 digits" },
	{ "https://a.example:abc/", ION_ERR_INVALID, "port abc" },
	{ "https://a.example:/", ION_ERR_INVALID, "empty port" },
	{ "https://a.example:", ION_ERR_INVALID, "empty port" },
	{ "https://a.example:-1/", ION_ERR_INVALID, "negative port" },
	{ "https://a.example:+443/", ION_ERR_INVALID, "signed port" },
	{ "https://a.example:44 3/", ION_ERR_INVALID, "space in port" },
	{ "https://a.example:443:443/", ION_ERR_INVALID, "two ports" },
	{ "https://a.example:0x1bb/", ION_ERR_INVALID, "hex port" },
	/* IPv6 literals */
	{ "https://[::1/", ION_ERR_INVALID, "unclosed bracket" },
	{ "https://[::1", ION_ERR_INVALID, "unclosed bracket" },
	{ "https://[::1]x/", ION_ERR_INVALID, "junk after bracket" },
	{ "https://[::1]]/", ION_ERR_INVALID, "two brackets" },
	{ "https://[]/", ION_ERR_INVALID, "empty brackets" },
	{ "https://[:]/", ION_ERR_INVALID, "too short" },
	{ "https://[::g]/", ION_ERR_INVALID, "non-hex" },
	{ "https://[::1%25eth0]/", ION_ERR_INVALID, "zone id" },
	{ "https://[::1]:/", ION_ERR_INVALID, "empty port" },
	{ "https://[::1]:0/", ION_ERR_RANGE, "port 0" },
	{ "https://[::1]:65536/", ION_ERR_RANGE, "port 65536" },
	{ "https://::1/", ION_ERR_INVALID, "IPv6 without brackets" },
	{ "https://a.example]/", ION_ERR_INVALID, "stray bracket" },
	{ "https://a[::1]/", ION_ERR_INVALID, "bracket inside a name" },
	/* host names */
	{ "https://a.example./", ION_ERR_INVALID, "trailing dot" },
	{ "https://a.example.:443/", ION_ERR_INVALID, "trailing dot" },
	{ "https://a.example.", ION_ERR_INVALID, "trailing dot" },
	{ "http://127.0.0.1./", ION_ERR_INVALID, "trailing dot" },
	{ "https://./", ION_ERR_INVALID, "dot only" },
	{ "https://.a.example/", ION_ERR_INVALID, "leading dot" },
	{ "https://-a.example/", ION_ERR_INVALID, "leading hyphen" },
	{ "https://a%2eexample/", ION_ERR_INVALID, "'%' in host" },
	{ "https://%61.example/", ION_ERR_INVALID, "'%' in host" },
	{ "https://a.example%2f.evil/", ION_ERR_INVALID, "'%' in host" },
	{ "https://a_b.example/", ION_ERR_INVALID, "'_' in host" },
	{ "https://a!b.example/", ION_ERR_INVALID, "'!' in host" },
	{ "https://a;b.example/", ION_ERR_INVALID, "';' in host" },
	{ "https://a,b.example/", ION_ERR_INVALID, "',' in host" },
	{ "https://a=b.example/", ION_ERR_INVALID, "'=' in host" },
	{ "https://a..example/", ION_ERR_INVALID, "empty label" },
	{ "https://a.example../", ION_ERR_INVALID, "empty label" },
	/* dot segments, plain and percent-encoded: DENIED */
	{ "https://a.example/./x", ION_ERR_DENIED, "/./" },
	{ "https://a.example/../x", ION_ERR_DENIED, "/../" },
	{ "https://a.example/x/..", ION_ERR_DENIED, "trailing /.." },
	{ "https://a.example/x/.", ION_ERR_DENIED, "trailing /." },
	{ "https://a.example/x/../y", ION_ERR_DENIED, "inner /../" },
	{ "https://a.example/..", ION_ERR_DENIED, "/.. alone" },
	{ "https://a.example/x/..?q", ION_ERR_DENIED, "/.. before query" },
	{ "https://a.example/x/.#f", ION_ERR_DENIED, "/. before fragment" },
	{ "https://a.example/%2e/x", ION_ERR_DENIED, "%2e" },
	{ "https://a.example/%2E/x", ION_ERR_DENIED, "%2E" },
	{ "https://a.example/%2e%2e/x", ION_ERR_DENIED, "%2e%2e" },
	{ "https://a.example/.%2e/x", ION_ERR_DENIED, ".%2e" },
	{ "https://a.example/%2E./x", ION_ERR_DENIED, "%2E." },
	{ "https://a.example/x/%2e%2E", ION_ERR_DENIED, "trailing %2e%2E" },
	/* encoded slashes and backslashes: refused, either way */
	{ "https://a.example/x%2fy", ANY_ERROR, "%2f" },
	{ "https://a.example/x%2F..%2Fy", ANY_ERROR, "%2F" },
	{ "https://a.example/x%5cy", ANY_ERROR, "%5c" },
	{ "https://a.example/x%5C..%5Cy", ANY_ERROR, "%5C" },
	/* path parameters: "..;" is ".." to some servers, so no ';' at all */
	{ "https://a.example/authorize;x", ION_ERR_DENIED, "';' in path" },
	{ "https://a.example/authorize/..;/x", ION_ERR_DENIED, "..;" },
	{ "https://a.example/x/.;/y", ION_ERR_DENIED, ".;" },
	{ "https://a.example/;", ION_ERR_DENIED, "';' alone" },
	{ "https://a.example/x;", ION_ERR_DENIED, "trailing ';'" },
	{ "https://a.example/~user/;p=1,2+3!$'()*", ION_ERR_DENIED,
	    "matrix parameter" },
	{ "https://a.example/x;?q=1", ION_ERR_DENIED, "';' before query" },
	/* an escaped '%' is decoded twice by some: %252e is '.' then */
	{ "https://a.example/%25", ION_ERR_DENIED, "%25" },
	{ "https://a.example/%252e%252e/x", ION_ERR_DENIED, "%252e%252e" },
	{ "https://a.example/x/%252f", ION_ERR_DENIED, "%252f" },
	{ "https://a.example/x%2541", ION_ERR_DENIED, "%2541" },
	/* escaped bytes >= 0x80: overlong UTF-8 forms of '.' and '/' */
	{ "https://a.example/%c0%ae/x", ION_ERR_DENIED, "%c0%ae" },
	{ "https://a.example/%C0%AE%C0%AE/x", ION_ERR_DENIED, "%C0%AE%C0%AE" },
	{ "https://a.example/x%c0%afy", ION_ERR_DENIED, "%c0%af" },
	{ "https://a.example/%e0%80%ae/x", ION_ERR_DENIED, "%e0%80%ae" },
	{ "https://a.example/%80", ION_ERR_DENIED, "%80" },
	{ "https://a.example/x%8f", ION_ERR_DENIED, "%8f" },
	{ "https://a.example/x%9F", ION_ERR_DENIED, "%9F" },
	{ "https://a.example/x%a0", ION_ERR_DENIED, "%a0" },
	{ "https://a.example/x%ff", ION_ERR_DENIED, "%ff" },
	{ "https://a.example/x%FF", ION_ERR_DENIED, "%FF" },
	{ "https://a.example/%c3%a9", ION_ERR_DENIED, "escaped UTF-8" },
	/* invalid escapes are malformed */
	{ "https://a.example/x%zz", ION_ERR_INVALID, "%zz" },
	{ "https://a.example/%zz/x", ION_ERR_INVALID, "%zz segment" },
	{ "https://a.example/x%2g", ION_ERR_INVALID, "%2g" },
	{ "https://a.example/x%g2", ION_ERR_INVALID, "%g2" },
	{ "https://a.example/x%-1", ION_ERR_INVALID, "%-1" },
	{ "https://a.example/x%%41", ION_ERR_INVALID, "%%" },
	/* a truncated escape is malformed, not a dot segment */
	{ "https://a.example/x%2", ION_ERR_INVALID, "truncated escape" },
	{ "https://a.example/x%", ION_ERR_INVALID, "truncated escape" },
	{ "https://a.example/x%2?q", ION_ERR_INVALID, "truncated escape" },
};

static void
test_parse_bad(void **state)
{
	size_t i;
	int failures = 0;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ion_url u;
		int r = ion_url_parse(bad[i].in, &u);
		bool ok = bad[i].r == ANY_ERROR
		    ? r == ION_ERR_DENIED || r == ION_ERR_INVALID
		    : r == bad[i].r;

		if (!ok) {
			print_error("'%s' (%s): got %d (%s), expected %d\n",
			    bad[i].in, bad[i].why, r, ion_strerror(r),
			    bad[i].r);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
}

/* Nothing is written to ret on failure. */
static void
test_parse_bad_leaves_ret(void **state)
{
	struct ion_url u, before;

	(void)state;
	memset(&u, 0x5a, sizeof(u));
	memcpy(&before, &u, sizeof(u));
	assert_int_not_equal(ion_url_parse("https://a.example/../x", &u), 0);
	assert_memory_equal(&u, &before, sizeof(u));
}

static void
test_parse_lengths(void **state)
{
	char *s = malloc(ION_URL_MAX + 2);
	char host[300];
	struct ion_url u;
	size_t n;

	(void)state;
	assert_non_null(s);
	/* ION_URL_MAX characters are fine, one more is not. */
	strcpy(s, "https://a.example/");
	n = strlen(s);
	memset(s + n, 'x', ION_URL_MAX - n);
	s[ION_URL_MAX] = '\0';
	assert_int_equal(ion_url_parse(s, &u), 0);
	assert_int_equal(u.path_len, ION_URL_MAX - n + 1);
	s[ION_URL_MAX] = 'x';
	s[ION_URL_MAX + 1] = '\0';
	assert_int_equal(ion_url_parse(s, &u), ION_ERR_RANGE);
	free(s);

	/* A host of 255 characters fits, 256 do not. */
	strcpy(host, "https://");
	memset(host + 8, 'h', 255);
	strcpy(host + 8 + 255, "/x");
	assert_int_equal(ion_url_parse(host, &u), 0);
	assert_int_equal(strlen(u.host), 255);
	memset(host + 8, 'h', 256);
	strcpy(host + 8 + 256, "/x");
	assert_int_not_equal(ion_url_parse(host, &u), 0);
}

/*
 * The loopback rule on host strings (as libcurl hands them to http.c), and
 * on the same hosts in URLs where they parse.
 */
static const struct {
	const char *host;
	bool loopback;
} loopback_hosts[] = {
	{ "127.0.0.1", true },
	{ "127.255.255.254", true },
	{ "127.1.2.3", true },
	{ "[::1]", true },
	{ "[0:0:0:0:0:0:0:1]", true },
	{ "[0::1]", true },
	{ "localhost", true },
	{ "LOCALHOST", true },
	{ "LocalHost", true },
	/* a dotted quad is exactly four decimal parts */
	{ "127.1", false },
	{ "2130706433", false },
	{ "0x7f.0.0.1", false },
	{ "0177.0.0.1", false },
	{ "1270.0.0.1", false },
	{ "127.0.0.1.", false },
	{ "127.evil.example", false },
	{ "127.0.0.1.evil.example", false },
	{ "127.0.0.1.nip.io", false },
	{ "128.0.0.1", false },
	{ "126.255.255.255", false },
	{ "10.0.0.1", false },
	{ "0.0.0.0", false },
	/* IPv6 only in brackets, only ::1, no zone */
	{ "::1", false },
	{ "[::1", false },
	{ "::1]", false },
	{ "[::1]x", false },
	{ "[::1%eth0]", false },
	{ "[::1%25eth0]", false },
	{ "[::ffff:127.0.0.1]", false },
	{ "[::2]", false },
	{ "[::]", false },
	{ "[]", false },
	{ "[", false },
	{ "", false },
	/* only the name itself */
	{ "localhost.", false },
	{ "localhost.example", false },
	{ "evil-localhost", false },
	{ "localhostx", false },
	{ "mylocalhost", false },
	{ "a.example", false },
};

static void
test_is_loopback(void **state)
{
	static const char *const forms[][2] = { { "http://", "/x" },
		{ "http://", ":8080" }, { "https://", "/" } };
	char url[128];
	size_t i, j;
	int failures = 0;

	(void)state;
	for (i = 0; i < sizeof(loopback_hosts) / sizeof(loopback_hosts[0]);
	     i++) {
		const char *host = loopback_hosts[i].host;
		bool want = loopback_hosts[i].loopback;
		struct ion_url u;

		if (ion_url_host_is_loopback(host) != want) {
			print_error("host '%s': expected %d\n", host, want);
			failures++;
		}
		for (j = 0; j < sizeof(forms) / sizeof(forms[0]); j++) {
			snprintf(url, sizeof(url), "%s%s%s", forms[j][0], host,
			    forms[j][1]);
			if (ion_url_parse(url, &u) == 0 &&
			    ion_url_is_loopback(&u) != want) {
				print_error("'%s': expected %d\n", url, want);
				failures++;
			}
		}
	}
	assert_int_equal(failures, 0);
}

static const struct {
	const char *url;
	bool ok;
} urls[] = {
	{ "https://auth.example", true },
	{ "HTTPS://AUTH.EXAMPLE/x", true },
	{ "https://auth.example:443/a/b?c=d&e=f", true },
	{ "https://[2001:db8::1]:8443/", true },
	{ "https://192.0.2.1/", true },
	{ "http://127.0.0.1", true },
	{ "http://127.0.0.1:8080/cb", true },
	{ "http://127.255.255.254/", true },
	{ "http://127.1.2.3:1/x?y", true },
	{ "http://[::1]/", true },
	{ "http://[::1]:9000", true },
	{ "http://[0:0:0:0:0:0:0:1]/", true },
	{ "http://localhost/", true },
	{ "HTTP://LOCALHOST:80/", true },
	{ "http://127.0.0.1.evil.example/", false },
	{ "http://127.0.0.1.nip.io", false },
	{ "http://127.0.0.1@evil.example/", false },
	{ "http://evil.example@127.0.0.1/", false },
	{ "http://evil.example#@127.0.0.1/", false },
	{ "http://localhost.evil.example", false },
	{ "http://localhost./", false },
	{ "http://evil-localhost/", false },
	{ "http://128.0.0.1/", false },
	{ "http://126.255.255.255/", false },
	{ "http://127.1/", false },
	{ "http://2130706433/", false },
	{ "http://0x7f000001/", false },
	{ "http://0177.0.0.1/", false },
	{ "http://[::ffff:127.0.0.1]/", false },
	{ "http://[::2]/", false },
	{ "http://example.com/", false },
	{ "http://10.0.0.1/", false },
	{ "https://auth.example/#frag", false },
	{ "https://auth.example/a b", false },
	{ "https://auth.example/\t", false },
	{ "https://auth.example/\x7f", false },
	{ "https://auth.example/\xe2\x82\xac", false },
	{ "https://a\\b.example/", false },
	{ "ftp://auth.example/", false },
	{ "https:/auth.example/", false },
	{ "//auth.example/", false },
	{ "", false },
	{ "https://", false },
	{ "https://:443/", false },
	{ "https://a.example:0/", false },
	{ "https://a.example:99999/", false },
	{ "https://a.example:-1/", false },
	{ "https://[::1/", false },
	{ "javascript:alert(1)", false },
	/* the relay's reading, stricter than the config's was */
	{ "https://a.example/../x", false },
	{ "https://a.example/x/.", false },
	{ "https://a.example/%2e%2e/x", false },
	{ "https://a.example/x%2fy", false },
	{ "https://a.example/caf%C3%A9", false },
	{ "https://a.example/x%", false },
	{ "https://a.example/x;y", false },
	{ "https://a.example/x?a=%zz", true },
	{ "https://a..example/", false },
	{ "http://[0::1]:9000/x", true },
};

static void
test_url_allowed(void **state)
{
	char *longurl;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++)
		if (ion_url_allowed(urls[i].url) != urls[i].ok)
			fail_msg("'%s': expected %s", urls[i].url,
			    urls[i].ok ? "allowed" : "refused");
	assert_false(ion_url_allowed(NULL));

	longurl = malloc(5000);
	assert_non_null(longurl);
	strcpy(longurl, "https://a.example/");
	memset(longurl + 18, 'a', 4096 - 18);
	longurl[4096] = '\0';
	assert_true(ion_url_allowed(longurl));
	longurl[4096] = 'a';
	longurl[4097] = '\0';
	assert_false(ion_url_allowed(longurl));
	free(longurl);
}

/* ion_url_problem() names what it refuses; NULL (OK) says if a query. */
#define OK NULL
static const struct {
	const char *url;
	unsigned flags;
	const char *why; /* a part of the reason; OK when allowed */
	bool query;
} problems[] = {
	{ "https://a.example/x", 0, OK, false },
	{ "https://a.example/x?", 0, OK, true },
	{ "https://a.example/x?a=b", 0, OK, true },
	{ "http://127.0.0.1:9000", 0, OK, false },
	{ "http://proxy.example:3128", ION_URL_ANY_HTTP, OK, false },
	{ "http://proxy.example:3128", 0,
	    "http:// is allowed only to a loopback address (127.0.0.0/8, "
	    "[::1], localhost); use https://",
	    false },
	{ "", 0, "not an http:// or https:// URL", false },
	{ "ftp://a.example", 0, "not an http:// or https:// URL", false },
	{ "https:", 0, "not an http:// or https:// URL", false },
	{ "https://a example", 0, "white space", false },
	{ "https://a.example/\xc3\xa9", 0, "non-ASCII", false },
	{ "https://a.example\\@x", 0, "characters a URL may not hold", false },
	{ "https://u@a.example", ION_URL_ANY_HTTP, "user info", false },
	{ "https://", 0, "no host", false },
	{ "https://:443/", 0, "no host", false },
	{ "https://a.example:0", 0, "bad port", false },
	{ "https://a.example:65536", 0, "bad port", false },
	{ "https://a.example:", 0, "bad port", false },
	{ "https://a.example:8x", 0, "bad port", false },
	{ "https://[::1]x/", 0, "bad port", false },
	{ "https://[::1", 0, "bad IPv6 address", false },
	{ "https://[nope]", 0, "bad IPv6 address", false },
	{ "https://a_b.example", 0, "bad host name", false },
	{ "https://a..example", 0, "bad host name", false },
	{ "https://a.example.", 0, "bad host name", false },
	{ "https://%61.example", 0, "bad host name", false },
	{ "https://a.example/#f", 0, "a fragment ('#') is not allowed", false },
	{ "https://a.example/../x", 0, "'.' or '..' segment in the path",
	    false },
	{ "https://a.example/%2e/x", 0,
	    "encoded '.', '/', '\\', '%' or "
	    "non-ASCII character in the path",
	    false },
	{ "https://a.example/caf%c3%a9", 0, "encoded", false },
	{ "https://a.example/x;y", 0, "';' in the path", false },
	{ "https://a.example/x%2", 0, "bad percent escape in the path", false },
};

static void
test_problem(void **state)
{
	char longurl[ION_URL_MAX + 2];
	const char *why;
	size_t i;
	bool query;

	(void)state;
	for (i = 0; i < sizeof(problems) / sizeof(problems[0]); i++) {
		query = !problems[i].query;
		why =
		    ion_url_problem(problems[i].url, problems[i].flags, &query);
		if (problems[i].why == OK) {
			if (why != NULL)
				fail_msg(
				    "'%s': refused (%s)", problems[i].url, why);
			if (query != problems[i].query)
				fail_msg(
				    "'%s': query %d", problems[i].url, query);
		} else if (why == NULL || strstr(why, problems[i].why) == NULL)
			fail_msg("'%s': got '%s', expected '%s'",
			    problems[i].url, why ? why : "(allowed)",
			    problems[i].why);
	}
	/* ret_query may be NULL. */
	assert_null(ion_url_problem("https://a.example/?q", 0, NULL));
	memset(longurl, 'a', sizeof(longurl));
	memcpy(longurl, "https://a.example/", 18);
	longurl[ION_URL_MAX + 1] = '\0';
	assert_string_equal(
	    ion_url_problem(longurl, 0, NULL), "longer than 4096 characters");
}
#undef OK

static const struct {
	const char *url;
	const char *prefix;
	bool under;
} prefixes[] = {
	/* path boundaries */
	{ "https://a.example/oauth2", "https://a.example/oauth2", true },
	{ "https://a.example/oauth2/x", "https://a.example/oauth2", true },
	{ "https://a.example/oauth2/authorize?client_id=1",
	    "https://a.example/oauth2", true },
	{ "https://a.example/oauth2?q", "https://a.example/oauth2", true },
	{ "https://a.example/oauth2?", "https://a.example/oauth2", true },
	{ "https://a.example/oauth2//x", "https://a.example/oauth2", true },
	{ "https://a.example/oauth2x", "https://a.example/oauth2", false },
	{ "https://a.example/oauth2x/y", "https://a.example/oauth2", false },
	{ "https://a.example/oauth2-evil", "https://a.example/oauth2", false },
	{ "https://a.example/oauth2.x", "https://a.example/oauth2", false },
	{ "https://a.example/oauth", "https://a.example/oauth2", false },
	{ "https://a.example/", "https://a.example/oauth2", false },
	{ "https://a.example", "https://a.example/oauth2", false },
	{ "https://a.example/OAUTH2", "https://a.example/oauth2", false },
	{ "https://a.example/x/oauth2", "https://a.example/oauth2", false },
	/* a prefix ending in '/' */
	{ "https://a.example/oauth2/x", "https://a.example/oauth2/", true },
	{ "https://a.example/oauth2/", "https://a.example/oauth2/", true },
	{ "https://a.example/oauth2/?q", "https://a.example/oauth2/", true },
	{ "https://a.example/oauth2", "https://a.example/oauth2/", false },
	{ "https://a.example/oauth2x", "https://a.example/oauth2/", false },
	{ "https://a.example/oauth2?q", "https://a.example/oauth2/", false },
	/* an empty or root prefix path matches the whole origin */
	{ "https://a.example/anything?q", "https://a.example", true },
	{ "https://a.example", "https://a.example", true },
	{ "https://a.example", "https://a.example/", true },
	{ "https://a.example/x", "https://a.example/", true },
	{ "https://a.example?q", "https://a.example/", true },
	/* hosts: exact, case-insensitive, no suffix or prefix games */
	{ "https://A.EXAMPLE/oauth2", "https://a.example/oauth2", true },
	{ "https://a.example/oauth2", "https://A.Example/oauth2", true },
	{ "https://a.example.evil/oauth2", "https://a.example/oauth2", false },
	{ "https://a.example.evil", "https://a.example", false },
	{ "https://a.examplex/", "https://a.example/", false },
	{ "https://evil.a.example/", "https://a.example/", false },
	{ "https://xa.example/", "https://a.example/", false },
	{ "https://a.example/oauth2", "https://a.example.evil/oauth2", false },
	{ "https://b.example/oauth2", "https://a.example/oauth2", false },
	{ "https://[::1]:8443/x", "https://[::1]:8443/", true },
	{ "https://[::1]/x", "https://[::1]:8443/", false },
	/* schemes and ports, with the scheme's default port explicit or not */
	{ "http://a.example/oauth2", "https://a.example/oauth2", false },
	{ "https://a.example/oauth2", "http://a.example/oauth2", false },
	{ "https://a.example:443/oauth2", "https://a.example/oauth2", true },
	{ "https://a.example/oauth2", "https://a.example:443/oauth2", true },
	{ "http://a.example:80/x", "http://a.example/", true },
	{ "http://a.example/x", "http://a.example:80/", true },
	{ "https://a.example:80/x", "http://a.example/", false },
	{ "http://a.example:443/x", "https://a.example/", false },
	{ "https://a.example:8443/oauth2", "https://a.example/oauth2", false },
	{ "https://a.example/oauth2", "https://a.example:8443/oauth2", false },
	{ "https://a.example:8443/oauth2", "https://a.example:8443/oauth2",
	    true },
	{ "http://127.0.0.1:9000/auth", "http://127.0.0.1:9000/auth", true },
	{ "http://127.0.0.1:9001/auth", "http://127.0.0.1:9000/auth", false },
};

static void
test_under_prefix(void **state)
{
	size_t i;
	int failures = 0;

	(void)state;
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		struct ion_url u, p;

		assert_int_equal(ion_url_parse(prefixes[i].url, &u), 0);
		assert_int_equal(ion_url_parse(prefixes[i].prefix, &p), 0);
		if (ion_url_under_prefix(&u, &p) != prefixes[i].under) {
			print_error("'%s' under '%s': %d, expected %d\n",
			    prefixes[i].url, prefixes[i].prefix,
			    !prefixes[i].under, prefixes[i].under);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
}

#define S "Yw3NKWbEM2aRElRIu7JbT_QSpJxzLbLIq8G4WBvXEN0"
#define B "https://a.example/authorize"

static const struct {
	const char *url;
	int r;
	unsigned count;
	bool all_equal;
} state_params[] = {
	{ B, 0, 0, false },
	{ B "?", 0, 0, false },
	{ B "#state=" S, 0, 0, false },
	{ B "?client_id=x&scope=openid", 0, 0, false },
	{ B "?state=" S, 0, 1, true },
	{ B "?client_id=x&state=" S "&scope=openid", 0, 1, true },
	{ B "?state=" S "#frag", 0, 1, true },
	{ B "?state=" S "&&", 0, 1, true },
	{ B "?&state=" S, 0, 1, true },
	{ B "?state=other", 0, 1, false },
	{ B "?state=", 0, 1, false },
	{ B "?state", 0, 1, false },
	{ B "?state=" S "x", 0, 1, false },
	{ B "?state=" S "+", 0, 1, false },
	{ B "?state=" S "%00", 0, 1, false },
	{ B "?state=" S "&state=" S, 0, 2, true },
	{ B "?state=" S "&state=other", 0, 2, false },
	{ B "?state=other&state=" S, 0, 2, false },
	{ B "?state=" S "&st%61te=" S, 0, 2, true },
	/* percent-encoded names and values decode before comparing */
	{ B "?st%61te=" S, 0, 1, true },
	{ B "?st%61te=other", 0, 1, false },
	{ B "?%73%74%61%74%65=" S, 0, 1, true },
	{ B "?%73%74%41%74%65=" S, 0, 0, false },
	{ B "?state=%59w3NKWbEM2aRElRIu7JbT_QSpJxzLbLIq8G4WBvXEN0", 0, 1,
	    true },
	{ B "?state=%5fw3NKWbEM2aRElRIu7JbT_QSpJxzLbLIq8G4WBvXEN0", 0, 1,
	    false },
	/* not "state" */
	{ B "?State=" S, 0, 0, false },
	{ B "?STATE=" S, 0, 0, false },
	{ B "?xstate=" S "&statex=" S "&state_=" S, 0, 0, false },
	{ B "?state%00=" S, 0, 0, false },
	{ B "?state+=" S, 0, 0, false },
	{ B "?state%3D" S, 0, 0, false },
	{ B "?a=1%26state%3D" S, 0, 0, false },
	/* malformed escapes, in any parameter */
	{ B "?state=" S "&a=%zz", ION_ERR_INVALID, 0, false },
	{ B "?a=%4&state=" S, ION_ERR_INVALID, 0, false },
	{ B "?state=" S "%", ION_ERR_INVALID, 0, false },
	{ B "?state=" S "%4", ION_ERR_INVALID, 0, false },
	{ B "?st%6=" S, ION_ERR_INVALID, 0, false },
	{ B "?st%g1te=" S, ION_ERR_INVALID, 0, false },
	{ B "?%=" S, ION_ERR_INVALID, 0, false },
};

static void
test_state_param(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(state_params) / sizeof(state_params[0]); i++) {
		struct ion_url u;
		unsigned count = 99;
		bool all_equal = !state_params[i].all_equal;
		int r;

		assert_int_equal(ion_url_parse(state_params[i].url, &u), 0);
		r = ion_url_param(&u, "state", S, &count, &all_equal);
		if (r != state_params[i].r)
			fail_msg("'%s': got %d, expected %d",
			    state_params[i].url, r, state_params[i].r);
		if (r != 0)
			continue;
		if (count != state_params[i].count ||
		    all_equal != state_params[i].all_equal)
			fail_msg("'%s': count %u all_equal %d, expected %u %d",
			    state_params[i].url, count, all_equal,
			    state_params[i].count, state_params[i].all_equal);
	}
}

/* A query as long as a URL may be still decodes. */
static void
test_state_param_long(void **state)
{
	char *s = malloc(ION_URL_MAX + 1);
	struct ion_url u;
	unsigned count = 0;
	bool all_equal = false;
	size_t n;

	(void)state;
	assert_non_null(s);
	strcpy(s, B "?state=" S "&pad=");
	n = strlen(s);
	memset(s + n, 'p', ION_URL_MAX - n);
	s[ION_URL_MAX] = '\0';
	assert_int_equal(ion_url_parse(s, &u), 0);
	assert_int_equal(ion_url_param(&u, "state", S, &count, &all_equal), 0);
	assert_int_equal(count, 1);
	assert_true(all_equal);
	free(s);
}

/* The nonce of S: b64url(SHA-256("pam_ion-nonce" || S)), from Python. */
#define N "CH9FUOonY0Pzpni_uZg2uaK6l99aRphhPz_IjZXDXzo"
/* The nonce of another state */
#define N2 "Qf9bG5XfBmF-8VWWafnhiBweRgo28QY15a03hAUGHdQ"

/* ion_url_param counts the parameter it is asked about, by exact name. */
static const struct {
	const char *url;
	unsigned count;
	bool all_equal;
} nonce_params[] = {
	{ B "?state=" S, 0, false },
	{ B "?state=" S "&nonce=" N, 1, true },
	{ B "?nonce=" N "&state=" S, 1, true },
	{ B "?nonce=" N2 "&state=" S, 1, false },
	{ B "?nonce=" N "&nonce=" N, 2, true },
	{ B "?nonce=" N "&nonce=" N2, 2, false },
	{ B "?nonce=" N2 "&nonce=" N, 2, false },
	{ B "?nonce=" N "&n%6fnce=" N, 2, true },
	{ B "?n%6Fnce=" N, 1, true },
	{ B "?nonce=", 1, false },
	{ B "?nonce", 1, false },
	{ B "?nonce=" N "x", 1, false },
	{ B "?nonce=n0nce", 1, false },
	/* the state's value under the name nonce is no nonce */
	{ B "?nonce=" S, 1, false },
	/* other names */
	{ B "?Nonce=" N, 0, false },
	{ B "?nonces=" N "&xnonce=" N "&non=" N "&nonc=" N, 0, false },
	{ B "?state=" N, 0, false },
	{ B "?a=1%26nonce%3D" N, 0, false },
};

static void
test_nonce_param(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(nonce_params) / sizeof(nonce_params[0]); i++) {
		struct ion_url u;
		unsigned count = 99;
		bool all_equal = !nonce_params[i].all_equal;
		int r;

		assert_int_equal(ion_url_parse(nonce_params[i].url, &u), 0);
		r = ion_url_param(&u, "nonce", N, &count, &all_equal);
		if (r != 0)
			fail_msg("'%s': got %d", nonce_params[i].url, r);
		if (count != nonce_params[i].count ||
		    all_equal != nonce_params[i].all_equal)
			fail_msg("'%s': count %u all_equal %d, expected %u %d",
			    nonce_params[i].url, count, all_equal,
			    nonce_params[i].count, nonce_params[i].all_equal);
	}
}

/*
 * ion_url_param_next walks the parts ion_url_count_params counts, empty
 * ones included, decoding names and values but leaving '+' alone.
 */
static void
test_param_next(void **state)
{
	static const struct {
		const char *url;
		const char *parts; /* "name=value|", decoded NULs as '0' */
		int end;
	} cases[] = {
		{ "https://a.example/x", "", ION_ERR_NOT_FOUND },
		{ "https://a.example/x?", "", ION_ERR_NOT_FOUND },
		{ "https://a.example/x?a=1", "a=1|", ION_ERR_NOT_FOUND },
		{ "https://a.example/x?a=1&", "a=1|=|", ION_ERR_NOT_FOUND },
		{ "https://a.example/x?&&a", "=|=|a=|", ION_ERR_NOT_FOUND },
		{ "https://a.example/x?st%61te=a+b%20c&%00=%00",
		    "state=a+b c|0=0|", ION_ERR_NOT_FOUND },
		{ "https://a.example/x?a=b=c", "a=b=c|", ION_ERR_NOT_FOUND },
		{ "https://a.example/x?a=1&b=%zz", "a=1|", ION_ERR_INVALID },
		{ "https://a.example/x?a%2=1", "", ION_ERR_INVALID },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char name[ION_URL_MAX + 1], value[ION_URL_MAX + 1];
		const char *want = cases[i].parts;
		struct ion_url u;
		size_t pos = 0, nlen, vlen, j;
		unsigned n = 0, count;
		int r;

		assert_int_equal(ion_url_parse(cases[i].url, &u), 0);
		while ((r = ion_url_param_next(
			    &u, &pos, name, &nlen, value, &vlen)) == 0) {
			const char *bar = strchr(want, '|');

			for (j = 0; j < nlen; j++)
				if (name[j] == '\0')
					name[j] = '0';
			for (j = 0; j < vlen; j++)
				if (value[j] == '\0')
					value[j] = '0';
			if (bar == NULL ||
			    (size_t)(bar - want) != nlen + 1 + vlen ||
			    memcmp(want, name, nlen) != 0 ||
			    want[nlen] != '=' ||
			    memcmp(want + nlen + 1, value, vlen) != 0)
				fail_msg("%s: part %u is '%s=%s', expected "
					 "'%s'",
				    cases[i].url, n, name, value, want);
			want = bar + 1;
			n++;
		}
		if (r != cases[i].end || *want != '\0')
			fail_msg(
			    "%s: ended %d after %u parts", cases[i].url, r, n);
		if (r == ION_ERR_NOT_FOUND) {
			ion_url_count_params(&u, &count);
			assert_int_equal(n, count);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_bad_leaves_ret),
		cmocka_unit_test(test_parse_lengths),
		cmocka_unit_test(test_is_loopback),
		cmocka_unit_test(test_url_allowed),
		cmocka_unit_test(test_problem),
		cmocka_unit_test(test_under_prefix),
		cmocka_unit_test(test_state_param),
		cmocka_unit_test(test_state_param_long),
		cmocka_unit_test(test_nonce_param),
		cmocka_unit_test(test_param_next),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
