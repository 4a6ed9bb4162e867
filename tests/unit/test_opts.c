/* Unit tests of opts.h: pam-ion-relay's command line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka.h wants stdarg.h, stddef.h, stdint.h and setjmp.h first. */
#include <cmocka.h>

#include "opts.h"

#define MAX_ARGS 48
#define OPEN_FILES 1024 /* --max-connections up to 1024 - 64 = 960 */

#define PUBLIC "https://relay.example"
#define PREFIX "https://auth.example/oauth2"
#define KEYS "/etc/pam-ion-relay/clients"
#define REQUIRED                                                               \
	"--public-url", PUBLIC, "--authorize-url-prefix", PREFIX,              \
	    "--client-keys", KEYS

/* A NULL-terminated list of arguments, after the program name. */
#define ARGS(...) ((const char *const[]) { __VA_ARGS__, NULL })

/* A writable argv, as getopt_long permutes it and opts borrows from it. */
struct argv_buf {
	int argc;
	char *argv[MAX_ARGS + 2];
};

static void
argv_make(struct argv_buf *a, const char *const *args)
{
	size_t i;

	memset(a, 0, sizeof(*a));
	a->argv[a->argc++] = strdup("pam-ion-relay");
	for (i = 0; args[i] != NULL; i++) {
		assert_true(a->argc < MAX_ARGS);
		a->argv[a->argc++] = strdup(args[i]);
	}
	a->argv[a->argc] = NULL;
}

/*
 * relay_opts_parse sets optind = 1, not 0, so glibc's getopt keeps its
 * pointer into the previous argv across calls (see
 * test_reparse_after_short_cluster).  Freed strings could be handed out
 * again and read through that pointer, making other tests fail at random;
 * so every argv is kept until the end of the run.
 */
static char *kept[4096];
static size_t nkept;

static void
argv_free(struct argv_buf *a)
{
	int i;

	for (i = 0; i < a->argc; i++) {
		assert_true(nkept < sizeof(kept) / sizeof(kept[0]));
		kept[nkept++] = a->argv[i];
	}
	memset(a, 0, sizeof(*a));
}

static int
free_kept(void **state)
{
	(void)state;
	while (nkept > 0)
		free(kept[--nkept]);
	return 0;
}

struct result {
	enum relay_opts_result r;
	struct relay_opts o;
	char err[512];
};

/* Parses args (the argv is freed: only for tests that do not look at
 * o.prefixes). */
static void
run(struct result *res, unsigned long open_files, const char *const *args)
{
	struct argv_buf a;

	argv_make(&a, args);
	memset(res, 0, sizeof(*res));
	res->r = relay_opts_parse(
	    a.argc, a.argv, open_files, &res->o, res->err, sizeof(res->err));
	argv_free(&a);
}

static void
expect_usage(const char *const *args, const char *needle)
{
	struct result res;
	size_t i;

	run(&res, OPEN_FILES, args);
	if (res.r != RELAY_OPTS_USAGE || strstr(res.err, needle) == NULL ||
	    strchr(res.err, '\n') != NULL) {
		char line[512] = "";

		for (i = 0; args[i] != NULL; i++) {
			strncat(line, args[i], sizeof(line) - strlen(line) - 2);
			strcat(line, " ");
		}
		fail_msg("[%s]: result %d, err '%s'; expected usage error "
			 "naming '%s'",
		    line, res.r, res.err, needle);
	}
}

static void
test_defaults(void **state)
{
	struct result res;

	(void)state;
	run(&res, OPEN_FILES * 16, ARGS(REQUIRED));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	assert_string_equal(res.o.listen_host, "127.0.0.1");
	assert_string_equal(res.o.listen_port, "8080");
	assert_string_equal(res.o.public_url, PUBLIC);
	assert_int_equal(res.o.nprefixes, 1);
	assert_int_equal(res.o.ttl, 300);
	assert_int_equal(res.o.max_pending, 10000);
	assert_int_equal(res.o.max_connections, 4096);
	/* the default listen address is loopback: behind a local proxy */
	assert_int_equal(res.o.max_connections_per_ip, 4096);
	assert_int_equal(res.o.max_parked, 3072);
	assert_int_equal(res.o.connection_timeout, 15);
	assert_in_range(res.o.threads, 4, 64);
}

static void
test_all_options(void **state)
{
	struct argv_buf a;
	struct relay_opts o;
	char err[256] = "";

	(void)state;
	argv_make(&a,
	    ARGS("--listen", "0.0.0.0:9000", "--public-url",
		"https://relay.example/", "--authorize-url-prefix",
		"https://auth.example/oauth2/", "--authorize-url-prefix",
		"http://127.0.0.1:9000/auth",
		"--authorize-url-prefix=https://"
		"b.example",
		"--store", "memory", "--ttl", "120", "--max-pending", "5",
		"--max-connections", "100", "--max-connections-per-ip", "7",
		"--max-parked", "60", "--connection-timeout=30", "--threads",
		"3", "--client-keys", KEYS));
	assert_int_equal(
	    relay_opts_parse(a.argc, a.argv, OPEN_FILES, &o, err, sizeof(err)),
	    RELAY_OPTS_RUN);
	assert_string_equal(o.listen_host, "0.0.0.0");
	assert_string_equal(o.listen_port, "9000");
	/* the trailing slash is stripped */
	assert_string_equal(o.public_url, "https://relay.example");
	assert_int_equal(o.nprefixes, 3);
	/* prefixes are borrowed from argv, and parsed */
	assert_ptr_equal(o.prefixes[0], a.argv[6]);
	assert_string_equal(o.prefixes[0], "https://auth.example/oauth2/");
	assert_string_equal(o.prefixes[1], "http://127.0.0.1:9000/auth");
	assert_string_equal(o.prefixes[2], "https://b.example");
	assert_string_equal(o.prefix_urls[0].host, "auth.example");
	assert_int_equal(o.prefix_urls[0].path_len, strlen("/oauth2/"));
	assert_int_equal(o.prefix_urls[1].port, 9000);
	assert_false(o.prefix_urls[1].https);
	assert_string_equal(o.prefix_urls[2].host, "b.example");
	assert_int_equal(o.ttl, 120);
	assert_int_equal(o.max_pending, 5);
	assert_int_equal(o.max_connections, 100);
	assert_int_equal(o.max_connections_per_ip, 7);
	assert_int_equal(o.max_parked, 60);
	assert_int_equal(o.connection_timeout, 30);
	assert_int_equal(o.threads, 3);
	argv_free(&a);
}

/* Values at the edges of their ranges, accepted. */
static void
test_good_values(void **state)
{
	struct result res;

	(void)state;
	run(&res, OPEN_FILES,
	    ARGS(REQUIRED, "--ttl", "10", "--max-pending", "1",
		"--max-connections", "16", "--max-connections-per-ip", "1",
		"--max-parked", "1", "--connection-timeout", "1", "--threads",
		"1"));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	assert_int_equal(res.o.ttl, 10);
	assert_int_equal(res.o.max_pending, 1);
	assert_int_equal(res.o.max_connections, 16);
	assert_int_equal(res.o.max_connections_per_ip, 1);
	assert_int_equal(res.o.max_parked, 1);
	assert_int_equal(res.o.connection_timeout, 1);
	assert_int_equal(res.o.threads, 1);

	run(&res, OPEN_FILES,
	    ARGS(REQUIRED, "--ttl", "3600", "--max-pending", "10000000",
		"--max-connections", "960", "--max-connections-per-ip", "960",
		"--max-parked", "896", "--connection-timeout", "300",
		"--threads", "64"));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	assert_int_equal(res.o.ttl, 3600);
	assert_int_equal(res.o.max_pending, 10000000);
	assert_int_equal(res.o.max_connections, 960);
	assert_int_equal(res.o.max_connections_per_ip, 960);
	assert_int_equal(res.o.max_parked, 896);
	assert_int_equal(res.o.connection_timeout, 300);
	assert_int_equal(res.o.threads, 64);

	/* the last of a repeated option wins */
	run(&res, OPEN_FILES, ARGS(REQUIRED, "--ttl", "20", "--ttl=30"));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	assert_int_equal(res.o.ttl, 30);
}

static const struct {
	const char *value;
	const char *host;
	const char *port;
} listens[] = {
	{ "127.0.0.1:8080", "127.0.0.1", "8080" },
	{ "0.0.0.0:0", "0.0.0.0", "0" },
	{ "localhost:65535", "localhost", "65535" },
	{ "[::1]:8443", "::1", "8443" },
	{ "[::]:80", "::", "80" },
	{ "relay.example:00080", "relay.example", "80" },
};

static void
test_listen(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(listens) / sizeof(listens[0]); i++) {
		struct result res;

		run(&res, OPEN_FILES,
		    ARGS(REQUIRED, "--listen", listens[i].value));
		if (res.r != RELAY_OPTS_RUN)
			fail_msg("--listen %s: %s", listens[i].value, res.err);
		assert_string_equal(res.o.listen_host, listens[i].host);
		assert_string_equal(res.o.listen_port, listens[i].port);
	}
}

static const struct {
	const char *option;
	const char *value;
	const char *needle; /* the error must contain this */
} bad_values[] = {
	{ "--listen", "8080", "--listen" },
	{ "--listen", ":8080", "--listen" },
	{ "--listen", "host:", "--listen" },
	{ "--listen", "host:65536", "--listen" },
	{ "--listen", "host:abc", "--listen" },
	{ "--listen", "host:-1", "--listen" },
	{ "--listen", "host:80x", "--listen" },
	{ "--listen", "::1:8080", "--listen" },
	{ "--listen", "[::1]8080", "--listen" },
	{ "--listen", "[::1]", "--listen" },
	{ "--listen", "[::1:8080", "--listen" },
	{ "--listen", "[]:8080", "--listen" },
	{ "--listen", "", "--listen" },
	{ "--public-url", "", "--public-url" },
	{ "--public-url", "relay.example", "--public-url" },
	{ "--public-url", "ftp://relay.example", "--public-url" },
	{ "--public-url", "https://user@relay.example", "--public-url" },
	{ "--public-url", "https://relay.example/?x=1", "query" },
	{ "--public-url", "https://relay.example/#top", "fragment" },
	{ "--public-url", "https://relay.example/a b", "--public-url" },
	{ "--public-url", "http://relay.example", "https" },
	{ "--public-url", "http://10.0.0.1:8080", "https" },
	/* 47 characters */
	{ "--public-url", "https://relay.example/aaaaaaaaaaaaaaaaaaaaaaaaa",
	    "46" },
	{ "--public-url", "https://relay.example/aaaaaaaaaaaaaaaaaaaaaaaaa/",
	    "46" },
	{ "--authorize-url-prefix", "", "--authorize-url-prefix" },
	{ "--authorize-url-prefix", "auth.example", "--authorize-url-prefix" },
	{ "--authorize-url-prefix", "https://u:p@auth.example/",
	    "--authorize-url-prefix" },
	{ "--authorize-url-prefix", "https://auth.example/?x", "query" },
	{ "--authorize-url-prefix", "https://auth.example/#x", "fragment" },
	{ "--authorize-url-prefix", "https://auth.example/../x",
	    "--authorize-url-prefix" },
	{ "--authorize-url-prefix", "http://auth.example/", "https" },
	{ "--store", "file", "--store" },
	{ "--store", "", "--store" },
	{ "--store", "MEMORY", "--store" },
	{ "--ttl", "9", "--ttl" },
	{ "--ttl", "3601", "--ttl" },
	{ "--ttl", "0", "--ttl" },
	{ "--ttl", "-1", "--ttl" },
	{ "--ttl", "", "--ttl" },
	{ "--ttl", "abc", "--ttl" },
	{ "--ttl", "10s", "--ttl" },
	{ "--ttl", " 10", "--ttl" },
	{ "--ttl", "+10", "--ttl" },
	{ "--ttl", "0x10", "--ttl" },
	{ "--ttl", "99999999999", "--ttl" },
	{ "--ttl", "18446744073709551916", "--ttl" },
	{ "--max-pending", "0", "--max-pending" },
	{ "--max-pending", "10000001", "--max-pending" },
	{ "--max-pending", "1e3", "--max-pending" },
	{ "--max-connections", "15", "--max-connections" },
	{ "--max-connections", "961", "--max-connections" },
	{ "--max-connections", "4096", "--max-connections" },
	{ "--max-connections", "x", "--max-connections" },
	{ "--max-connections-per-ip", "0", "--max-connections-per-ip" },
	{ "--max-connections-per-ip", "10000001", "--max-connections-per-ip" },
	{ "--max-connections-per-ip", "-5", "--max-connections-per-ip" },
	{ "--max-parked", "0", "--max-parked" },
	{ "--max-parked", "-1", "--max-parked" },
	{ "--max-parked", "x", "--max-parked" },
	{ "--max-parked", "10000001", "--max-parked" },
	{ "--max-parked", "897", "--max-parked" }, /* 960 less 64 */
	{ "--connection-timeout", "0", "--connection-timeout" },
	{ "--connection-timeout", "301", "--connection-timeout" },
	{ "--connection-timeout", "1.5", "--connection-timeout" },
	{ "--threads", "0", "--threads" },
	{ "--threads", "65", "--threads" },
	{ "--threads", "auto", "--threads" },
};

static void
test_bad_values(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
		expect_usage(
		    ARGS(REQUIRED, bad_values[i].option, bad_values[i].value),
		    bad_values[i].needle);
		/* and before the required options, too */
		expect_usage(
		    ARGS(bad_values[i].option, bad_values[i].value, REQUIRED),
		    bad_values[i].needle);
	}
}

/* The error quotes the bad value, so the administrator sees it. */
static void
test_error_quotes_value(void **state)
{
	(void)state;
	expect_usage(ARGS(REQUIRED, "--ttl", "4000"), "'4000'");
	expect_usage(ARGS(REQUIRED, "--listen", "nope"), "'nope'");
	expect_usage(
	    ARGS("--public-url", "ftp://x", "--authorize-url-prefix", PREFIX),
	    "'ftp://x'");
}

static void
test_max_connections_limit(void **state)
{
	struct result res;

	(void)state;
	/* The limit is the open-file limit less 64... */
	run(&res, 2000, ARGS(REQUIRED, "--max-connections", "1936"));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	assert_int_equal(res.o.max_connections, 1936);
	expect_usage(
	    ARGS(REQUIRED, "--max-connections", "961"), "--max-connections");
	run(&res, 2000, ARGS(REQUIRED, "--max-connections", "1937"));
	assert_int_equal(res.r, RELAY_OPTS_USAGE);
	assert_non_null(strstr(res.err, "1936"));
	/* ...but never below the minimum of 16. */
	run(&res, 20, ARGS(REQUIRED, "--max-connections", "16"));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	run(&res, 20, ARGS(REQUIRED, "--max-connections", "17"));
	assert_int_equal(res.r, RELAY_OPTS_USAGE);
}

static void
test_per_ip_vs_max_connections(void **state)
{
	struct result res;

	(void)state;
	/* Given explicitly, per-ip above the total is an error... */
	run(&res, OPEN_FILES,
	    ARGS(REQUIRED, "--max-connections", "100",
		"--max-connections-per-ip", "101"));
	assert_int_equal(res.r, RELAY_OPTS_USAGE);
	assert_non_null(strstr(res.err, "--max-connections-per-ip"));
	assert_non_null(strstr(res.err, "--max-connections "));
	/* ...equal is fine... */
	run(&res, OPEN_FILES,
	    ARGS(REQUIRED, "--max-connections-per-ip", "100",
		"--max-connections", "100"));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	assert_int_equal(res.o.max_connections_per_ip, 100);
	/* ...and the default of 128 shrinks to a smaller total. */
	run(&res, OPEN_FILES,
	    ARGS(REQUIRED, "--listen", "0.0.0.0:8080", "--max-connections",
		"50"));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	assert_int_equal(res.o.max_connections, 50);
	assert_int_equal(res.o.max_connections_per_ip, 50);
}

/*
 * The per-address default by --listen: a loopback address means a local
 * proxy in front, whose clients all share its address, so it is the value
 * of --max-connections (4096); any other address gets 128.
 */
static const char *const loopback_listens[] = {
	"127.0.0.1:8080",
	"127.0.0.2:8080",
	"127.255.255.254:80",
	"[::1]:8080",
	"localhost:8080",
	"LocalHost:8080",
};

static const char *const other_listens[] = {
	"0.0.0.0:8080",
	"[::]:8080",
	"192.0.2.10:8080",
	"[2001:db8::1]:8080",
	"[::ffff:127.0.0.1]:8080",
	"128.0.0.1:8080",
	"127.0.0.1.example:8080",
	"relay.example:8080",
};

static void
expect_per_ip(const char *listen, unsigned want)
{
	struct result res;

	run(&res, OPEN_FILES * 16, ARGS(REQUIRED, "--listen", listen));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	assert_int_equal(res.o.max_connections, 4096);
	if (res.o.max_connections_per_ip != want)
		fail_msg("--listen %s: per address %u, expected %u", listen,
		    res.o.max_connections_per_ip, want);
}

static void
test_per_ip_by_listen(void **state)
{
	struct result res;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(loopback_listens) / sizeof(loopback_listens[0]);
	     i++)
		expect_per_ip(loopback_listens[i], 4096);
	for (i = 0; i < sizeof(other_listens) / sizeof(other_listens[0]); i++)
		expect_per_ip(other_listens[i], 128);
	/* Given, it is taken as given, loopback or not. */
	run(&res, OPEN_FILES * 16,
	    ARGS(REQUIRED, "--max-connections-per-ip", "20"));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	assert_int_equal(res.o.max_connections_per_ip, 20);
	run(&res, OPEN_FILES * 16,
	    ARGS(REQUIRED, "--listen", "0.0.0.0:80", "--max-connections-per-ip",
		"4096"));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	assert_int_equal(res.o.max_connections_per_ip, 4096);
	/* The loopback default follows --max-connections, in any order. */
	run(&res, OPEN_FILES,
	    ARGS(REQUIRED, "--max-connections", "500", "--listen", "[::1]:1"));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	assert_int_equal(res.o.max_connections_per_ip, 500);
}

/* --max-parked: 3/4 of --max-connections, at most 64 fewer than it. */
static const struct {
	const char *max_connections;
	unsigned dflt, most;
} parked_limits[] = {
	{ "4096", 3072, 4032 },
	{ "960", 720, 896 },
	{ "256", 192, 192 }, /* from here down a quarter is kept */
	{ "100", 75, 75 },
	{ "17", 13, 13 },
	{ "16", 12, 12 },
};

static void
test_max_parked(void **state)
{
	struct result res;
	char most[16], over[16];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(parked_limits) / sizeof(parked_limits[0]); i++) {
		const char *mc = parked_limits[i].max_connections;

		run(&res, OPEN_FILES * 16,
		    ARGS(REQUIRED, "--max-connections", mc));
		assert_int_equal(res.r, RELAY_OPTS_RUN);
		assert_int_equal(res.o.max_parked, parked_limits[i].dflt);
		snprintf(most, sizeof(most), "%u", parked_limits[i].most);
		snprintf(over, sizeof(over), "%u", parked_limits[i].most + 1);
		/* the most, in either order */
		run(&res, OPEN_FILES * 16,
		    ARGS(REQUIRED, "--max-parked", most, "--max-connections",
			mc));
		assert_int_equal(res.r, RELAY_OPTS_RUN);
		assert_int_equal(res.o.max_parked, parked_limits[i].most);
		run(&res, OPEN_FILES * 16,
		    ARGS(REQUIRED, "--max-connections", mc, "--max-parked",
			over));
		assert_int_equal(res.r, RELAY_OPTS_USAGE);
		assert_non_null(strstr(res.err, "--max-parked"));
		assert_non_null(strstr(res.err, most));
	}
	/* The refusal says why, in one line. */
	run(&res, OPEN_FILES * 16, ARGS(REQUIRED, "--max-parked", "4096"));
	assert_int_equal(res.r, RELAY_OPTS_USAGE);
	assert_string_equal(res.err,
	    "--max-parked (4096): at most 4032, --max-connections (4096) less "
	    "64 kept for callbacks, landing pages and /healthz");
	/* A smaller open-file limit moves both with --max-connections. */
	run(&res, 1000, ARGS(REQUIRED));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	assert_int_equal(res.o.max_connections, 936);
	assert_int_equal(res.o.max_parked, 702);
	assert_int_equal(res.o.max_connections_per_ip, 936);
}

static void
test_public_url(void **state)
{
	struct result res;

	(void)state;
	/* http:// is fine for a loopback host */
	run(&res, OPEN_FILES,
	    ARGS("--public-url", "http://127.0.0.1:8080/",
		"--authorize-url-prefix", PREFIX, "--client-keys", KEYS));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	assert_string_equal(res.o.public_url, "http://127.0.0.1:8080");
	run(&res, OPEN_FILES,
	    ARGS("--public-url", "http://localhost:8080",
		"--authorize-url-prefix", PREFIX, "--client-keys", KEYS));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	run(&res, OPEN_FILES,
	    ARGS("--public-url", "http://[::1]:8080", "--authorize-url-prefix",
		PREFIX, "--client-keys", KEYS));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	/* with a path */
	run(&res, OPEN_FILES,
	    ARGS("--public-url", "https://relay.example/ion/",
		"--authorize-url-prefix", PREFIX, "--client-keys", KEYS));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	assert_string_equal(res.o.public_url, "https://relay.example/ion");
	/* exactly 46 characters, with or without the trailing slash */
	run(&res, OPEN_FILES,
	    ARGS("--public-url",
		"https://relay.example/aaaaaaaaaaaaaaaaaaaaaaaa",
		"--authorize-url-prefix", PREFIX, "--client-keys", KEYS));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	assert_int_equal(strlen(res.o.public_url), RELAY_PUBLIC_URL_MAX);
	run(&res, OPEN_FILES,
	    ARGS("--public-url",
		"https://relay.example/aaaaaaaaaaaaaaaaaaaaaaaa/",
		"--authorize-url-prefix", PREFIX, "--client-keys", KEYS));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	assert_string_equal(
	    res.o.public_url, "https://relay.example/aaaaaaaaaaaaaaaaaaaaaaaa");
}

/* opts.h: public_url is kept "without trailing '/'". */
static void
test_public_url_never_ends_in_slash(void **state)
{
	struct result res;

	(void)state;
	run(&res, OPEN_FILES,
	    ARGS("--public-url", "https://relay.example//",
		"--authorize-url-prefix", PREFIX, "--client-keys", KEYS));
	if (res.r == RELAY_OPTS_RUN) {
		size_t len = strlen(res.o.public_url);

		if (len > 0 && res.o.public_url[len - 1] == '/')
			fail_msg("--public-url https://relay.example// kept as "
				 "'%s'",
			    res.o.public_url);
	}
}

/*
 * http:// is allowed "only for a loopback host" (url.h: 127.0.0.0/8, [::1]
 * or localhost); a DNS name that starts with "127." is none of those.
 */
static void
test_http_only_for_real_loopback(void **state)
{
	static const char *const names[] = { "http://127.evil.example",
		"http://127.0.0.1.nip.io:8080" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct result res;

		run(&res, OPEN_FILES,
		    ARGS("--public-url", names[i], "--authorize-url-prefix",
			PREFIX, "--client-keys", KEYS));
		if (res.r != RELAY_OPTS_USAGE)
			fail_msg(
			    "--public-url %s: accepted over http", names[i]);
		run(&res, OPEN_FILES,
		    ARGS("--public-url", PUBLIC, "--authorize-url-prefix",
			names[i], "--client-keys", KEYS));
		if (res.r != RELAY_OPTS_USAGE)
			fail_msg(
			    "--authorize-url-prefix %s: accepted over http",
			    names[i]);
	}
}

static void
test_prefix_count(void **state)
{
	const char *args[2 * (RELAY_MAX_PREFIXES + 1) + 5];
	struct result res;
	size_t n = 0, i;

	(void)state;
	args[n++] = "--public-url";
	args[n++] = PUBLIC;
	args[n++] = "--client-keys";
	args[n++] = KEYS;
	for (i = 0; i < RELAY_MAX_PREFIXES; i++) {
		args[n++] = "--authorize-url-prefix";
		args[n++] = PREFIX;
	}
	args[n] = NULL;
	run(&res, OPEN_FILES, args);
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	assert_int_equal(res.o.nprefixes, RELAY_MAX_PREFIXES);
	args[n++] = "--authorize-url-prefix";
	args[n++] = PREFIX;
	args[n] = NULL;
	expect_usage(args, "--authorize-url-prefix");
	expect_usage(args, "16");
}

static void
test_required(void **state)
{
	(void)state;
	expect_usage(ARGS("--authorize-url-prefix", PREFIX), "--public-url");
	expect_usage(ARGS("--public-url", PUBLIC), "--authorize-url-prefix");
	expect_usage(ARGS("--ttl", "60"), "required");
	/* there is no open mode */
	expect_usage(
	    ARGS("--public-url", PUBLIC, "--authorize-url-prefix", PREFIX),
	    "--client-keys is required");
	{
		const char *none[] = { NULL };

		expect_usage(none, "--public-url");
	}
}

/* 64 and 65 characters */
#define NAME64                                                                 \
	"0123456789012345678901234567890123456789012345678901234567890123"
#define NAME65 NAME64 "4"

/* The Redis store's options (--store URL, --store-password-file,
 * --store-prefix). */

#define PWFILE "/etc/pam-ion-relay/redis-password"

#define S107 /* a socket path of 107 bytes, the most sun_path holds */         \
	"/run/redis/"                                                          \
	"0123456789012345678901234567890123456789012345678901234567890123"     \
	"45678901234567890123456789012345"
#define S108 S107 "6"

static void
test_store_defaults(void **state)
{
	struct result res;

	(void)state;
	run(&res, OPEN_FILES, ARGS(REQUIRED));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	assert_null(res.o.store);
	assert_null(res.o.store_password_file);
	assert_string_equal(res.o.store_prefix, "pam_ion:");
	assert_int_equal(res.o.store_url.kind, RELAY_STORE_MEMORY);

	run(&res, OPEN_FILES, ARGS(REQUIRED, "--store", "memory"));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	assert_int_equal(res.o.store_url.kind, RELAY_STORE_MEMORY);
	assert_null(res.o.store_password_file);
	assert_string_equal(res.o.store_prefix, "pam_ion:");
}

static const struct {
	const char *value;
	int kind;
	const char *host; /* TCP: without brackets */
	unsigned port;
	const char *path; /* unix */
	unsigned db;
	const char *user;
} store_urls[] = {
	{ "redis://localhost", RELAY_STORE_REDIS_TCP, "localhost", 6379, "", 0,
	    "" },
	{ "redis://127.0.0.1:6380", RELAY_STORE_REDIS_TCP, "127.0.0.1", 6380,
	    "", 0, "" },
	{ "redis://127.0.0.1:6380/3", RELAY_STORE_REDIS_TCP, "127.0.0.1", 6380,
	    "", 3, "" },
	{ "redis://redis.example/15", RELAY_STORE_REDIS_TCP, "redis.example",
	    6379, "", 15, "" },
	{ "redis://redis.example/0", RELAY_STORE_REDIS_TCP, "redis.example",
	    6379, "", 0, "" },
	{ "redis://redis.example:1", RELAY_STORE_REDIS_TCP, "redis.example", 1,
	    "", 0, "" },
	{ "redis://redis.example:65535/1", RELAY_STORE_REDIS_TCP,
	    "redis.example", 65535, "", 1, "" },
	{ "redis://[::1]", RELAY_STORE_REDIS_TCP, "::1", 6379, "", 0, "" },
	{ "redis://[2001:db8::7]:7000/2", RELAY_STORE_REDIS_TCP, "2001:db8::7",
	    7000, "", 2, "" },
	{ "redis://pam-relay@redis.example", RELAY_STORE_REDIS_TCP,
	    "redis.example", 6379, "", 0, "pam-relay" },
	{ "redis://relay_1@10.0.0.5:6380/4", RELAY_STORE_REDIS_TCP, "10.0.0.5",
	    6380, "", 4, "relay_1" },
	{ "redis://" NAME64 "@[::1]:6379", RELAY_STORE_REDIS_TCP, "::1", 6379,
	    "", 0, NAME64 },
	{ "redis+unix:///run/redis/redis.sock", RELAY_STORE_REDIS_UNIX, "", 0,
	    "/run/redis/redis.sock", 0, "" },
	{ "redis+unix:///run/redis/redis.sock?db=4", RELAY_STORE_REDIS_UNIX, "",
	    0, "/run/redis/redis.sock", 4, "" },
	{ "redis+unix:///tmp/r?db=0", RELAY_STORE_REDIS_UNIX, "", 0, "/tmp/r",
	    0, "" },
	{ "redis+unix://" S107, RELAY_STORE_REDIS_UNIX, "", 0, S107, 0, "" },
};

static void
test_store_urls(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(store_urls) / sizeof(store_urls[0]); i++) {
		struct result res;
		const struct relay_store_url *u = &res.o.store_url;

		/* a user comes with the password file (see
		 * test_store_user_needs_password) */
		run(&res, OPEN_FILES,
		    ARGS(REQUIRED, "--store", store_urls[i].value,
			"--store-password-file", PWFILE));
		if (res.r != RELAY_OPTS_RUN)
			fail_msg(
			    "--store %s: %s", store_urls[i].value, res.err);
		assert_non_null(res.o.store);
		assert_string_equal(res.o.store, store_urls[i].value);
		assert_int_equal(u->kind, store_urls[i].kind);
		if (u->kind == RELAY_STORE_REDIS_TCP) {
			assert_string_equal(u->host, store_urls[i].host);
			assert_int_equal(u->port, store_urls[i].port);
		} else {
			assert_string_equal(u->path, store_urls[i].path);
		}
		assert_int_equal(u->db, store_urls[i].db);
		assert_string_equal(u->user, store_urls[i].user);
		/* the prefix keeps its default with Redis, too */
		assert_string_equal(res.o.store_prefix, "pam_ion:");
		assert_string_equal(res.o.store_password_file, PWFILE);
		/* without a user, the password file is not needed */
		if (store_urls[i].user[0] == '\0') {
			run(&res, OPEN_FILES,
			    ARGS(REQUIRED, "--store", store_urls[i].value));
			if (res.r != RELAY_OPTS_RUN)
				fail_msg("--store %s without a password file: "
					 "%s",
				    store_urls[i].value, res.err);
			assert_null(res.o.store_password_file);
		}
	}
}

/* An ACL user cannot sign in without its password: a URL with a user and
 * no --store-password-file is a mistake, said at once. */
static void
test_store_user_needs_password(void **state)
{
	(void)state;
	expect_usage(ARGS(REQUIRED, "--store", "redis://relay@redis.example"),
	    "--store-password-file");
	expect_usage(ARGS("--store", "redis://relay@[::1]:6380/2", REQUIRED),
	    "--store-password-file");
}

static const char *const bad_store_urls[] = {
	"redis",
	"redis:",
	"redis:/",
	"redis://",
	"redis:///0",
	"redis://@redis.example",
	"rediss://redis.example",
	"http://redis.example:6379",
	"redis://redis.example:0",
	"redis://redis.example:65536",
	"redis://redis.example:",
	"redis://redis.example:-1",
	"redis://redis.example:+80",
	"redis://redis.example:0x50",
	"redis://redis.example:http",
	"redis://redis.example:99999999999999999999",
	"redis://redis.example/",
	"redis://redis.example/x",
	"redis://redis.example/-1",
	"redis://redis.example/+1",
	"redis://redis.example/1x",
	"redis://redis.example/0/",
	"redis://redis.example/99999999999999999999",
	"redis://redis.example/4294967296",
	"redis://redis.example?db=1",
	"redis://redis.example/0?db=1",
	"redis://redis.example/0#f",
	"redis://redis.example/0 ",
	"redis://red is.example",
	"redis://[::1",
	"redis://[::1]x",
	"redis://[]:6379",
	"redis://::1:6379",
	"redis://" NAME65 "@redis.example",
	"redis+unix://",
	"redis+unix:///",
	"redis+unix://run/redis.sock",
	"redis+unix://host/run/redis.sock",
	"redis+unix:///run/redis.sock?db=",
	"redis+unix:///run/redis.sock?db=x",
	"redis+unix:///run/redis.sock?db=-1",
	"redis+unix:///run/redis.sock?db=99999999999999999999",
	"redis+unix:///run/redis.sock?x=1",
	"redis+unix:///run/redis.sock?db=1&db=2",
	"redis+unix:///run/redis.sock#f",
	"redis+unix://" S108,
};

static void
test_store_bad_urls(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_store_urls) / sizeof(bad_store_urls[0]);
	     i++) {
		expect_usage(
		    ARGS(REQUIRED, "--store", bad_store_urls[i]), "--store");
		expect_usage(
		    ARGS("--store", bad_store_urls[i], REQUIRED), "--store");
	}
}

/* A password in the URL would be on the command line for everyone to see
 * in ps: refused, saying where it goes instead, without repeating it. */
static const char *const store_urls_with_password[] = {
	"redis://:s3cret@redis.example",
	"redis://relay:s3cret@redis.example",
	"redis://relay:s3cret@redis.example:6379/0",
	"redis://:s3cret@[::1]:6379",
};

static void
test_store_password_in_url(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(store_urls_with_password) /
		 sizeof(store_urls_with_password[0]);
	     i++) {
		struct result res;

		expect_usage(
		    ARGS(REQUIRED, "--store", store_urls_with_password[i]),
		    "--store-password-file");
		run(&res, OPEN_FILES,
		    ARGS(REQUIRED, "--store", store_urls_with_password[i]));
		if (strstr(res.err, "s3cret") != NULL)
			fail_msg(
			    "the error repeats the password: '%s'", res.err);
	}
	/* an empty password is a password in the URL all the same */
	expect_usage(ARGS(REQUIRED, "--store", "redis://relay:@redis.example"),
	    "--store-password-file");
}

static void
test_store_password_file(void **state)
{
	struct argv_buf a;
	struct relay_opts o;
	char err[256] = "";

	(void)state;
	argv_make(&a,
	    ARGS(REQUIRED, "--store", "redis://relay@redis.example",
		"--store-password-file", PWFILE));
	assert_int_equal(
	    relay_opts_parse(a.argc, a.argv, OPEN_FILES, &o, err, sizeof(err)),
	    RELAY_OPTS_RUN);
	assert_string_equal(o.store_password_file, PWFILE);
	/* borrowed from argv, like --client-keys */
	assert_ptr_equal(o.store_password_file, a.argv[a.argc - 1]);
	assert_string_equal(o.store_url.user, "relay");
	argv_free(&a);

	expect_usage(ARGS(REQUIRED, "--store", "redis://redis.example",
			 "--store-password-file", ""),
	    "--store-password-file");
	expect_usage(ARGS(REQUIRED, "--store", "redis://redis.example",
			 "--store-password-file"),
	    "needs a value");
}

static void
test_store_prefix(void **state)
{
	static const char *const good[] = {
		"a",
		"pam_ion:",
		"site-A.relay_1:",
		NAME64,
	};
	static const char *const bad[] = {
		"",
		NAME65,
		"a b",
		"a*",
		"a?",
		"a[b]",
		"a{b}",
		"a/b",
		"a\\b",
		"a\"b",
		"a\tb",
		"\xc3\xa9t\xc3\xa9",
		"a@b",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct result res;

		run(&res, OPEN_FILES,
		    ARGS(REQUIRED, "--store", "redis://redis.example",
			"--store-prefix", good[i]));
		if (res.r != RELAY_OPTS_RUN)
			fail_msg("--store-prefix '%s': %s", good[i], res.err);
		assert_string_equal(res.o.store_prefix, good[i]);
	}
	/* every allowed character, in two prefixes of up to 64 */
	{
		struct result res;

		run(&res, OPEN_FILES,
		    ARGS(REQUIRED, "--store", "redis://redis.example",
			"--store-prefix",
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxy"
			"z"));
		assert_int_equal(res.r, RELAY_OPTS_RUN);
		run(&res, OPEN_FILES,
		    ARGS(REQUIRED, "--store", "redis://redis.example",
			"--store-prefix", "0123456789_:.-"));
		assert_int_equal(res.r, RELAY_OPTS_RUN);
		assert_string_equal(res.o.store_prefix, "0123456789_:.-");
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_usage(ARGS(REQUIRED, "--store", "redis://redis.example",
				 "--store-prefix", bad[i]),
		    "--store-prefix");
	/* before --store is as good as after it */
	{
		struct result res;

		run(&res, OPEN_FILES,
		    ARGS("--store-prefix", "early:", REQUIRED, "--store",
			"redis+unix:///run/redis.sock"));
		assert_int_equal(res.r, RELAY_OPTS_RUN);
		assert_string_equal(res.o.store_prefix, "early:");
		assert_int_equal(res.o.store_url.kind, RELAY_STORE_REDIS_UNIX);
	}
}

/* --store-prefix and --store-password-file mean nothing to the memory
 * store: given with it, they are a mistake, said so. */
static void
test_store_options_need_redis(void **state)
{
	(void)state;
	expect_usage(
	    ARGS(REQUIRED, "--store-prefix", "pam_ion:"), "--store-prefix");
	expect_usage(
	    ARGS(REQUIRED, "--store", "memory", "--store-prefix", "x:"),
	    "--store-prefix");
	expect_usage(ARGS(REQUIRED, "--store-password-file", "/etc/pw"),
	    "--store-password-file");
	expect_usage(ARGS(REQUIRED, "--store-password-file", "/etc/pw",
			 "--store", "memory"),
	    "--store-password-file");
	/* the last --store wins, and it is the memory store */
	expect_usage(ARGS(REQUIRED, "--store", "redis://redis.example",
			 "--store-prefix", "x:", "--store", "memory"),
	    "--store-prefix");
}

/* The last --store wins, as for the other options. */
static void
test_store_last_wins(void **state)
{
	struct result res;

	(void)state;
	run(&res, OPEN_FILES,
	    ARGS(REQUIRED, "--store", "memory", "--store",
		"redis://redis.example/2"));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	assert_int_equal(res.o.store_url.kind, RELAY_STORE_REDIS_TCP);
	assert_int_equal(res.o.store_url.db, 2);
	run(&res, OPEN_FILES,
	    ARGS(REQUIRED, "--store", "redis://redis.example/2", "--store",
		"memory"));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	assert_int_equal(res.o.store_url.kind, RELAY_STORE_MEMORY);
}

static void
test_client_keys(void **state)
{
	struct result res;

	(void)state;
	run(&res, OPEN_FILES, ARGS(REQUIRED));
	assert_int_equal(res.r, RELAY_OPTS_RUN);
	assert_string_equal(res.o.client_keys, KEYS);
	assert_null(res.o.new_client_key);
	/* Twice is refused: the unit's reload must check the file in use. */
	expect_usage(ARGS(REQUIRED, "--client-keys=/other"),
	    "--client-keys: given twice ('" KEYS "' and '/other')");
	expect_usage(ARGS(REQUIRED, "--client-keys", ""), "--client-keys");
	expect_usage(ARGS(REQUIRED, "--client-keys"), "needs a value");
}

/* --new-client-key needs nothing else, and a valid NAME. */
static void
test_new_client_key(void **state)
{
	static const char *const good[] = { "a", "host-1.example.org",
		"A_b.c-9", NAME64 };
	static const char *const bad[] = { "", "a b", "a/b", "a:b", "h\xc3\xa9",
		"a\tb", NAME65, "#x" };
	struct result res;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		run(&res, OPEN_FILES, ARGS("--new-client-key", good[i]));
		assert_int_equal(res.r, RELAY_OPTS_NEW_KEY);
		assert_string_equal(res.o.new_client_key, good[i]);
	}
	run(&res, OPEN_FILES, ARGS(REQUIRED, "--new-client-key", "h"));
	assert_int_equal(res.r, RELAY_OPTS_NEW_KEY);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_usage(
		    ARGS("--new-client-key", bad[i]), "--new-client-key");
	expect_usage(ARGS("--new-client-key"), "needs a value");
	/* other options are still checked */
	expect_usage(ARGS("--new-client-key", "h", "--ttl", "1"), "--ttl");
}

/* --check-client-keys FILE needs nothing else; it is no NAME check. */
static void
test_check_client_keys(void **state)
{
	struct result res;

	(void)state;
	run(&res, OPEN_FILES, ARGS("--check-client-keys", "/etc/keys"));
	assert_int_equal(res.r, RELAY_OPTS_CHECK_KEYS);
	assert_string_equal(res.o.check_client_keys, "/etc/keys");
	assert_null(res.o.new_client_key);
	/* beside a full command line, it still only checks */
	run(&res, OPEN_FILES, ARGS(REQUIRED, "--check-client-keys=/x y"));
	assert_int_equal(res.r, RELAY_OPTS_CHECK_KEYS);
	assert_string_equal(res.o.check_client_keys, "/x y");
	expect_usage(ARGS("--check-client-keys", ""), "--check-client-keys");
	expect_usage(ARGS("--check-client-keys"), "needs a value");
	/* twice is a mistake, not an override, as with --client-keys */
	expect_usage(
	    ARGS("--check-client-keys", "/a", "--check-client-keys=/b"),
	    "--check-client-keys: given twice ('/a' and '/b')");
	expect_usage(
	    ARGS("--check-client-keys", "/a", "--check-client-keys", "/a"),
	    "given twice");
	expect_usage(ARGS("--check-client-keys", "/k", "--new-client-key", "h"),
	    "one at a time");
	/* other options are still checked */
	expect_usage(ARGS("--check-client-keys", "/k", "--ttl", "1"), "--ttl");
}

static void
test_syntax_errors(void **state)
{
	(void)state;
	/* a missing value names the option */
	expect_usage(ARGS(REQUIRED, "--ttl"), "--ttl");
	expect_usage(ARGS(REQUIRED, "--ttl"), "needs a value");
	expect_usage(ARGS(REQUIRED, "--public-url"), "--public-url");
	expect_usage(ARGS(REQUIRED, "--listen"), "--listen");
	expect_usage(
	    ARGS(REQUIRED, "--authorize-url-prefix"), "--authorize-url-prefix");
	/* unknown options */
	expect_usage(ARGS(REQUIRED, "--bogus"), "ambiguous option '--bogus'");
	expect_usage(ARGS("--bogus", REQUIRED), "--bogus");
	expect_usage(ARGS(REQUIRED, "--bogus=1"), "--bogus");
	expect_usage(ARGS(REQUIRED, "-x"), "unknown option '-x'");
	expect_usage(ARGS(REQUIRED, "-h"), "'-h'");
	/* extra positional arguments, anywhere */
	expect_usage(ARGS(REQUIRED, "extra"), "unexpected argument 'extra'");
	expect_usage(ARGS("extra", REQUIRED), "unexpected argument 'extra'");
	expect_usage(ARGS(REQUIRED, "--", "x"), "unexpected argument 'x'");
	expect_usage(ARGS(REQUIRED, "-"), "unexpected argument '-'");
}

/* A flag given a value is refused, and the message says what is wrong. */
static void
test_flag_with_value(void **state)
{
	struct result res;

	(void)state;
	run(&res, OPEN_FILES, ARGS(REQUIRED, "--help=x"));
	assert_int_equal(res.r, RELAY_OPTS_USAGE);
	assert_non_null(strstr(res.err, "--help"));
	if (strstr(res.err, "needs a value") != NULL)
		fail_msg("--help=x: err '%s' says the flag needs a value; "
			 "it takes none",
		    res.err);
}

/* The error is cut to errlen, NUL-terminated. */
static void
test_small_errlen(void **state)
{
	struct argv_buf a;
	struct relay_opts o;
	char err[16];

	(void)state;
	memset(err, 'z', sizeof(err));
	argv_make(&a, ARGS(REQUIRED, "--ttl", "99999"));
	assert_int_equal(
	    relay_opts_parse(a.argc, a.argv, OPEN_FILES, &o, err, sizeof(err)),
	    RELAY_OPTS_USAGE);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	argv_free(&a);
}

/* Runs args with stdout sent to a temporary file; returns what it got. */
static enum relay_opts_result
run_captured(const char *const *args, char *out, size_t outlen)
{
	struct argv_buf a;
	struct relay_opts o;
	char err[256];
	enum relay_opts_result r;
	FILE *tmp = tmpfile();
	int saved;
	size_t n;

	assert_non_null(tmp);
	argv_make(&a, args);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), STDOUT_FILENO) >= 0);
	r = relay_opts_parse(a.argc, a.argv, OPEN_FILES, &o, err, sizeof(err));
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(out, 1, outlen - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
	argv_free(&a);
	return r;
}

static void
test_help_version(void **state)
{
	char out[4096];

	(void)state;
	assert_int_equal(
	    run_captured(ARGS("--help"), out, sizeof(out)), RELAY_OPTS_EXIT);
	assert_non_null(strstr(out, "usage: pam-ion-relay"));
	assert_non_null(strstr(out, "--max-connections-per-ip"));
	assert_non_null(strstr(out, "--max-parked"));
	/* --help wins even without the required options, or after them */
	assert_int_equal(
	    run_captured(ARGS(REQUIRED, "--help"), out, sizeof(out)),
	    RELAY_OPTS_EXIT);
	assert_int_equal(
	    run_captured(ARGS("--version"), out, sizeof(out)), RELAY_OPTS_EXIT);
	assert_non_null(strstr(out, "pam-ion-relay "));
	assert_non_null(strchr(out, '\n'));
}

/*
 * relay_opts_parse resets getopt's state itself, so it can run again: a
 * parse that stopped inside a cluster of short options ("-xy") must not
 * leak into the next one.  The first argv stays alive here so that a
 * stale pointer shows as a wrong answer rather than a use after free.
 */
static void
test_reparse_after_short_cluster(void **state)
{
	static char a0[] = "pam-ion-relay", a1[] = "-xy";
	static char *first[] = { a0, a1, NULL };
	struct argv_buf a;
	struct relay_opts o;
	char err[256] = "";
	enum relay_opts_result r;

	(void)state;
	assert_int_equal(
	    relay_opts_parse(2, first, OPEN_FILES, &o, err, sizeof(err)),
	    RELAY_OPTS_USAGE);
	assert_non_null(strstr(err, "-x"));
	argv_make(&a, ARGS(REQUIRED));
	err[0] = '\0';
	r = relay_opts_parse(a.argc, a.argv, OPEN_FILES, &o, err, sizeof(err));
	argv_free(&a);
	if (r != RELAY_OPTS_RUN)
		fail_msg("a valid command line after '-xy': result %d, err "
			 "'%s'",
		    r, err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_options),
		cmocka_unit_test(test_good_values),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_error_quotes_value),
		cmocka_unit_test(test_max_connections_limit),
		cmocka_unit_test(test_per_ip_vs_max_connections),
		cmocka_unit_test(test_per_ip_by_listen),
		cmocka_unit_test(test_max_parked),
		cmocka_unit_test(test_public_url),
		cmocka_unit_test(test_public_url_never_ends_in_slash),
		cmocka_unit_test(test_http_only_for_real_loopback),
		cmocka_unit_test(test_prefix_count),
		cmocka_unit_test(test_required),
		cmocka_unit_test(test_store_defaults),
		cmocka_unit_test(test_store_urls),
		cmocka_unit_test(test_store_user_needs_password),
		cmocka_unit_test(test_store_bad_urls),
		cmocka_unit_test(test_store_password_in_url),
		cmocka_unit_test(test_store_password_file),
		cmocka_unit_test(test_store_prefix),
		cmocka_unit_test(test_store_options_need_redis),
		cmocka_unit_test(test_store_last_wins),
		cmocka_unit_test(test_client_keys),
		cmocka_unit_test(test_new_client_key),
		cmocka_unit_test(test_check_client_keys),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_flag_with_value),
		cmocka_unit_test(test_small_errlen),
		cmocka_unit_test(test_help_version),
		cmocka_unit_test(test_reparse_after_short_cluster),
	};

	return cmocka_run_group_tests(tests, NULL, free_kept);
}
