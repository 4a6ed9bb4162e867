/*
 * ion_url_parse(), ion_url_problem(), ion_url_under_prefix(),
 * ion_url_param() and the loopback rule on fuzzed URLs.
 *
 * Input: URL ["\0" PREFIX ["\0" NAME ["\0" EXPECTED]]], one NUL between
 * parts.  URL is checked against PREFIX (when given and it parses) and
 * against fixed prefixes; its query is searched for NAME (default
 * "state") with EXPECTED (default a fixed state).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "fuzz.h"
#include "url.h"

#define STATE "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"

static const char *const fixed_prefixes[] = {
	"https://auth.example/oauth2",
	"https://auth.example/oauth2/",
	"http://127.0.0.1:9000/auth/",
	"https://[::1]:8443",
};
#define NFIXED (sizeof(fixed_prefixes) / sizeof(fixed_prefixes[0]))

static struct ion_url prefixes[NFIXED];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	size_t i;

	(void)argc;
	(void)argv;
	for (i = 0; i < NFIXED; i++)
		if (ion_url_parse(fixed_prefixes[i], &prefixes[i]) != 0)
			fuzz_fail("bad fixed prefix %s", fixed_prefixes[i]);
	return 0;
}

static bool
has_dot_segment(const char *p, size_t len)
{
	size_t i, seg = 0;

	for (i = 0; i <= len; i++)
		if (i == len || p[i] == '/') {
			if ((i - seg == 1 && p[seg] == '.') ||
			    (i - seg == 2 && p[seg] == '.' &&
				p[seg + 1] == '.'))
				return true;
			seg = i + 1;
		}
	return false;
}

/* What a parsed URL promises (url.h), s being the string parsed. */
static void
check_parsed(const char *s, const struct ion_url *u)
{
	size_t len = strlen(s), i;

	FUZZ_CHECK(u->port >= 1 && u->port <= 65535);
	FUZZ_CHECK(u->host[0] != '\0');
	for (i = 0; u->host[i] != '\0'; i++)
		FUZZ_CHECK(u->host[i] < 'A' || u->host[i] > 'Z');
	FUZZ_CHECK(u->path >= s && u->path + u->path_len <= s + len);
	FUZZ_CHECK(u->query == NULL ||
	    (u->query > s && u->query + u->query_len <= s + len &&
		u->query[-1] == '?'));
	FUZZ_CHECK(memchr(u->path, '?', u->path_len) == NULL &&
	    memchr(u->path, '#', u->path_len) == NULL);
	/* No way around a prefix: no dot segment in the path. */
	FUZZ_CHECK(!has_dot_segment(u->path, u->path_len));
	/* A URL lies under itself. */
	FUZZ_CHECK(ion_url_under_prefix(u, u));
}

/* ion_url_problem() is ion_url_parse() and two rules more (url.h). */
static void
check_problem(const char *s)
{
	struct ion_url u;
	const char *why;
	bool query = false, parsed = ion_url_parse(s, &u) == 0;

	why = ion_url_problem(s, ION_URL_ANY_HTTP, &query);
	FUZZ_CHECK((why == NULL) == (parsed && !u.has_fragment));
	if (why == NULL)
		FUZZ_CHECK(query == (u.query != NULL));
	why = ion_url_problem(s, 0, NULL);
	FUZZ_CHECK((why == NULL) ==
	    (parsed && !u.has_fragment &&
		(u.https || ion_url_is_loopback(&u))));
	FUZZ_CHECK(ion_url_allowed(s) == (why == NULL));
	/* Never loopback by a name that merely contains one. */
	if (ion_url_host_is_loopback(s))
		FUZZ_CHECK(strncmp(s, "127.", 4) == 0 || s[0] == '[' ||
		    strcasecmp(s, "localhost") == 0);
}

static void
check_prefix(const struct ion_url *u, const struct ion_url *p)
{
	if (!ion_url_under_prefix(u, p))
		return;
	FUZZ_CHECK(u->https == p->https && u->port == p->port &&
	    strcmp(u->host, p->host) == 0);
	FUZZ_CHECK(u->path_len >= p->path_len || p->path_len <= 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ion_url u, p;
	char **parts;
	const char *name = "state", *expected = STATE;
	unsigned count = 0;
	bool all_equal = false;
	size_t i;
	int n, r;

	parts = fuzz_argv(NULL, data, size, 4, &n);
	if (n == 0) {
		free(parts);
		return 0;
	}
	if (n > 2)
		name = parts[2];
	if (n > 3)
		expected = parts[3];
	check_problem(parts[0]);
	r = ion_url_parse(parts[0], &u);
	if (r != 0) {
		FUZZ_CHECK(r == ION_ERR_INVALID || r == ION_ERR_RANGE ||
		    r == ION_ERR_DENIED);
		free(parts);
		return 0;
	}
	check_parsed(parts[0], &u);
	(void)ion_url_is_loopback(&u);
	for (i = 0; i < NFIXED; i++)
		check_prefix(&u, &prefixes[i]);
	if (n > 1 && ion_url_parse(parts[1], &p) == 0) {
		check_parsed(parts[1], &p);
		check_prefix(&u, &p);
	}
	r = ion_url_param(&u, name, expected, &count, &all_equal);
	if (r == 0) {
		FUZZ_CHECK(!all_equal || count > 0);
		if (u.query == NULL)
			FUZZ_CHECK(count == 0);
	} else
		FUZZ_CHECK(r == ION_ERR_INVALID);
	free(parts);
	return 0;
}
