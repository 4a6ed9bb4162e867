/*
 * Unit tests of usermap.h: verified claims to local accounts.  Run as root
 * (as CI does): the tests chown files to uid 1 to provoke ownership errors.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
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

#include "errors.h"
#include "fixture.h"
#include "usermap.h"

#define OTHER_UID 1 /* daemon */
#define NO_USER_EXPECTED NULL

static struct {
	char dir[64];
	char map[128];
} fx;

static const char map_text[] = "# pam_ion users\n"
			       "\n"
			       "   # indented comment\n"
			       "sub:abc123 alice\n"
			       "bob@example.com\tbob\r\n"
			       "  sub:xyz   carol  \n"
			       "carol@example.com carol\n"
			       "name-claim-value dave\n"
			       "sub:dup eve\n"
			       "sub:dup eve\n"
			       "machine@example.com host$\n"
			       "sub:sub:abc123 frank\n"
			       "sub:bob@example.com grace\n"
			       "ünïcode@example.com heidi";

static void
write_map(const char *text, mode_t mode, uid_t uid)
{
	write_file(fx.map, text, strlen(text), mode, uid);
}

static int
setup(void **state)
{
	(void)state;
	if (fixture_mkdtemp(fx.dir, sizeof(fx.dir), "map") != 0)
		return -1;
	snprintf(fx.map, sizeof(fx.map), "%s/pam_ion.users", fx.dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return fixture_rmtree(fx.dir);
}

static int sentinel;

/* Looks claims (JSON text) up; checks r and the user or the message. */
static void
check(const char *claims_json, const char *user_claim, int want_r,
    const char *want)
{
	char *user = (char *)(void *)&sentinel;
	char err[256];
	json_error_t jerr;
	json_t *claims;
	int r;

	claims = json_loads(claims_json, JSON_ALLOW_NUL, &jerr);
	if (claims == NULL)
		fail_msg("bad test JSON %s: %s", claims_json, jerr.text);
	memset(err, 'x', sizeof(err));
	r = ion_usermap_lookup(
	    fx.map, user_claim, claims, &user, err, sizeof(err));
	json_decref(claims);
	assert_non_null(memchr(err, '\0', sizeof(err)));
	if (r != want_r)
		fail_msg("%s (%s): got %d '%s', expected %d", claims_json,
		    user_claim, r, err, want_r);
	if (r == 0) {
		assert_string_equal(user, want);
		free(user);
		return;
	}
	assert_ptr_equal(user, &sentinel); /* ret_* only on success */
	if (want != NULL && strstr(err, want) == NULL)
		fail_msg("%s: message '%s' lacks '%s'", claims_json, err, want);
	if (strchr(err, '\n') != NULL)
		fail_msg("multi-line message '%s'", err);
}

static const struct {
	const char *claims;
	const char *user_claim;
	int r;
	const char *want; /* the user, or part of the message */
} lookups[] = {
	/* sub first, whatever the email says. */
	{ "{\"sub\":\"abc123\"}", "email", 0, "alice" },
	{ "{\"sub\":\"abc123\",\"email\":\"bob@example.com\","
	  "\"email_verified\":true}",
	    "email", 0, "alice" },
	{ "{\"sub\":\"abc123\",\"email\":\"x@y\",\"email_verified\":false}",
	    "email", 0, "alice" },
	{ "{\"sub\":\"xyz\"}", "email", 0, "carol" },
	{ "{\"sub\":\"dup\"}", "email", 0, "eve" },
	/* email, verified. */
	{ "{\"sub\":\"n\",\"email\":\"bob@example.com\","
	  "\"email_verified\":true}",
	    "email", 0, "bob" },
	{ "{\"email\":\"carol@example.com\",\"email_verified\":true}", "email",
	    0, "carol" },
	{ "{\"sub\":\"n\",\"email\":\"machine@example.com\","
	  "\"email_verified\":true}",
	    "email", 0, "host$" },
	{ "{\"sub\":\"n\",\"email\":\"\xc3\xbcn\xc3\xaf"
	  "code@example.com\","
	  "\"email_verified\":true}",
	    "email", 0, "heidi" },
	/* email, not verified: never. */
	{ "{\"sub\":\"n\",\"email\":\"bob@example.com\","
	  "\"email_verified\":false}",
	    "email", ION_ERR_AUTH, "not verified" },
	{ "{\"sub\":\"n\",\"email\":\"bob@example.com\"}", "email",
	    ION_ERR_AUTH, "not verified" },
	{ "{\"sub\":\"n\",\"email\":\"bob@example.com\","
	  "\"email_verified\":\"true\"}",
	    "email", ION_ERR_AUTH, "not verified" },
	{ "{\"sub\":\"n\",\"email\":\"bob@example.com\","
	  "\"email_verified\":1}",
	    "email", ION_ERR_AUTH, "not verified" },
	{ "{\"sub\":\"n\",\"email\":\"nobody@example.com\","
	  "\"email_verified\":false}",
	    "email", ION_ERR_AUTH, "not verified" },
	/* No line. */
	{ "{\"sub\":\"n\",\"email\":\"nobody@example.com\","
	  "\"email_verified\":true}",
	    "email", ION_ERR_NO_USER, "no line maps this identity" },
	{ "{\"sub\":\"n\",\"email\":\"Bob@example.com\","
	  "\"email_verified\":true}",
	    "email", ION_ERR_NO_USER, NULL },
	{ "{\"sub\":\"n\",\"email\":\" bob@example.com\","
	  "\"email_verified\":true}",
	    "email", ION_ERR_NO_USER, NULL },
	{ "{\"sub\":\"n\",\"email\":\"bob@example.com\\u0000x\","
	  "\"email_verified\":true}",
	    "email", ION_ERR_NO_USER, NULL },
	{ "{\"sub\":\"abc123\\u0000\"}", "email", ION_ERR_AUTH, NULL },
	{ "{\"sub\":\"ABC123\"}", "email", ION_ERR_AUTH, NULL },
	{ "{\"sub\":\"\",\"email\":\"\",\"email_verified\":true}", "email",
	    ION_ERR_NO_USER, NULL },
	{ "{\"sub\":123,\"email\":[\"bob@example.com\"],"
	  "\"email_verified\":true}",
	    "email", ION_ERR_NO_USER, NULL },
	{ "{\"sub\":\"n\",\"email_verified\":true}", "email", ION_ERR_NO_USER,
	    NULL },
	{ "{}", "email", ION_ERR_AUTH, NULL },
	/* Another claim: no email_verified needed. */
	{ "{\"sub\":\"n\",\"preferred_username\":\"name-claim-value\"}",
	    "preferred_username", 0, "dave" },
	{ "{\"sub\":\"abc123\",\"preferred_username\":\"name-claim-value\"}",
	    "preferred_username", 0, "alice" },
	/* A claim that looks like a sub key is never taken for one. */
	{ "{\"sub\":\"n\",\"preferred_username\":\"sub:abc123\"}",
	    "preferred_username", ION_ERR_NO_USER, NULL },
	{ "{\"sub\":\"sub:abc123\"}", "email", 0, "frank" },
	{ "{\"sub\":\"n\",\"preferred_username\":42}", "preferred_username",
	    ION_ERR_NO_USER, NULL },
	{ "{\"sub\":\"n\",\"preferred_username\":null}", "preferred_username",
	    ION_ERR_NO_USER, NULL },
	/* user_claim = sub: plain keys match the sub too. */
	{ "{\"sub\":\"name-claim-value\"}", "sub", 0, "dave" },
	{ "{\"sub\":\"bob@example.com\"}", "sub", 0, "grace" },
};

static void
test_lookups(void **state)
{
	size_t i;

	(void)state;
	write_map(map_text, 0644, 0);
	for (i = 0; i < sizeof(lookups) / sizeof(lookups[0]); i++)
		check(lookups[i].claims, lookups[i].user_claim, lookups[i].r,
		    lookups[i].want);
}

static void
test_messages_hide_claims(void **state)
{
	char *user = NULL, err[256];
	json_t *claims;

	(void)state;
	write_map(map_text, 0644, 0);
	claims = json_pack("{s:s, s:s, s:b}", "sub", "secret-sub", "email",
	    "someone@example.org", "email_verified", 1);
	assert_non_null(claims);
	assert_int_equal(ion_usermap_lookup(
			     fx.map, "email", claims, &user, err, sizeof(err)),
	    ION_ERR_NO_USER);
	assert_null(strstr(err, "secret-sub"));
	assert_null(strstr(err, "someone"));
	assert_null(user);
	json_decref(claims);
}

static const struct {
	const char *text;
	const char *want; /* after the path */
} bad_maps[] = {
	{ "alice\n", ":1: expected 'KEY LOCAL-USER'" },
	{ "\n\nbob@example.com\n", ":3: expected 'KEY LOCAL-USER'" },
	{ "a b c\n", ":1: expected 'KEY LOCAL-USER'" },
	{ "a b # comment\n", ":1: expected 'KEY LOCAL-USER' (comments take" },
	{ "sub: alice\n", ":1: empty 'sub:' key" },
	{ "x root;id\n", ":1: not a valid local user name" },
	{ "x -bob\n", ":1: not a valid local user name" },
	{ "x ..\n", ":1: not a valid local user name" },
	{ "x .\n", ":1: not a valid local user name" },
	{ "x a$b\n", ":1: not a valid local user name" },
	{ "x $\n", ":1: not a valid local user name" },
	{ "x b\xc3\xb6"
	  "b\n",
	    ":1: not a valid local user name" },
	{ "x abcdefghijabcdefghijabcdefghijabc\n", ":1: not a valid local" },
	{ "a\x01"
	  "b alice\n",
	    ":1: control character in the key" },
	{ "a\x7f alice\n", ":1: control character in the key" },
	{ "k alice\nk bob\n",
	    ":2: the key is also on line 1 with a different "
	    "user" },
	{ "k alice\nz zed\nm mo\nk alice\nk bob\n",
	    ":5: the key is also on "
	    "line 4" },
	{ "sub:1 a\nb@x b\nsub:1 c\n", ":3: the key is also on line 1" },
};

static void
test_bad_maps(void **state)
{
	char want[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_maps) / sizeof(bad_maps[0]); i++) {
		write_map(bad_maps[i].text, 0644, 0);
		snprintf(want, sizeof(want), "%s%s", fx.map, bad_maps[i].want);
		check("{\"sub\":\"1\"}", "email", ION_ERR_CONFIG, want);
	}
	/* Same key, same user: harmless. */
	write_map("k alice\nk alice\n", 0644, 0);
	check("{\"sub\":\"1\",\"email\":\"k\",\"email_verified\":true}",
	    "email", 0, "alice");
	/* A 32-character user name is fine. */
	write_map("k abcdefghijabcdefghijabcdefghijab\n", 0644, 0);
	check("{\"email\":\"k\",\"email_verified\":true}", "email", 0,
	    "abcdefghijabcdefghijabcdefghijab");
}

static void
test_lines_and_size(void **state)
{
	char *text, *p, want[512];
	size_t n;

	(void)state;
	/* NUL inside a line. */
	write_file(fx.map, "a\0b alice\n", 10, 0644, 0);
	snprintf(want, sizeof(want), "%s:1: NUL character", fx.map);
	check("{\"sub\":\"1\"}", "email", ION_ERR_CONFIG, want);

	/* A line of 4096 characters is fine, 4097 is not. */
	text = malloc(2 * 1024 * 1024);
	assert_non_null(text);
	memset(text, 'k', 4090);
	memcpy(text + 4090, " alice", 6);
	text[4096] = '\n';
	text[4097] = '\0';
	write_map(text, 0644, 0);
	check("{\"sub\":\"1\"}", "email", ION_ERR_AUTH, NULL);
	memset(text, 'k', 4091);
	memcpy(text + 4091, " alice\n", 8);
	write_map(text, 0644, 0);
	snprintf(want, sizeof(want), "%s:1: line longer than 4096", fx.map);
	check("{\"sub\":\"1\"}", "email", ION_ERR_CONFIG, want);

	/* 1 MiB is the cap on the file. */
	n = 1024 * 1024;
	memset(text, '\n', n);
	memcpy(text, "sub:1 alice", 11);
	write_file(fx.map, text, n, 0644, 0);
	check("{\"sub\":\"1\"}", "email", 0, "alice");
	text[n] = '\n';
	write_file(fx.map, text, n + 1, 0644, 0);
	snprintf(want, sizeof(want), "%s: larger than 1048576 bytes", fx.map);
	check("{\"sub\":\"1\"}", "email", ION_ERR_CONFIG, want);

	/* Many lines, the match near the end, a conflict at the very end. */
	p = text;
	for (n = 0; n < 20000; n++)
		p += sprintf(p, "user%07zu@example.com u\n", n);
	strcpy(p, "sub:last zed\n");
	write_map(text, 0644, 0);
	check("{\"sub\":\"last\"}", "email", 0, "zed");
	check("{\"sub\":\"x\",\"email\":\"user0019999@example.com\","
	      "\"email_verified\":true}",
	    "email", 0, "u");
	strcat(text, "user0000000@example.com v\n");
	write_map(text, 0644, 0);
	snprintf(want, sizeof(want),
	    "%s:20002: the key is also on line 1 with a different user",
	    fx.map);
	check("{\"sub\":\"last\"}", "email", ION_ERR_CONFIG, want);
	free(text);
}

static void
test_unsafe_file(void **state)
{
	char want[512], link[160];

	(void)state;
	unlink(fx.map);
	snprintf(want, sizeof(want), "%s: does not exist", fx.map);
	check("{\"sub\":\"abc123\"}", "email", ION_ERR_CONFIG, want);

	write_map(map_text, 0644, OTHER_UID);
	snprintf(want, sizeof(want), "%s: owned by uid 1, not root", fx.map);
	check("{\"sub\":\"abc123\"}", "email", ION_ERR_CONFIG, want);

	snprintf(want, sizeof(want), "%s: writable by group or others", fx.map);
	write_map(map_text, 0664, 0);
	check("{\"sub\":\"abc123\"}", "email", ION_ERR_CONFIG, want);
	write_map(map_text, 0646, 0);
	check("{\"sub\":\"abc123\"}", "email", ION_ERR_CONFIG, want);

	/* Root-only readable is fine. */
	write_map(map_text, 0400, 0);
	check("{\"sub\":\"abc123\"}", "email", 0, "alice");

	/* A symlink, even to a good file. */
	snprintf(link, sizeof(link), "%s/real.users", fx.dir);
	write_file(link, map_text, strlen(map_text), 0644, 0);
	assert_int_equal(unlink(fx.map), 0);
	assert_int_equal(symlink(link, fx.map), 0);
	snprintf(want, sizeof(want), "%s: is a symbolic link", fx.map);
	check("{\"sub\":\"abc123\"}", "email", ION_ERR_CONFIG, want);
	assert_int_equal(unlink(fx.map), 0);

	assert_int_equal(mkdir(fx.map, 0755), 0);
	snprintf(want, sizeof(want), "%s: not a regular file", fx.map);
	check("{\"sub\":\"abc123\"}", "email", ION_ERR_CONFIG, want);
	assert_int_equal(rmdir(fx.map), 0);
	assert_int_equal(mkfifo(fx.map, 0644), 0);
	check("{\"sub\":\"abc123\"}", "email", ION_ERR_CONFIG, want);
	assert_int_equal(unlink(fx.map), 0);
}

static void
test_bad_arguments(void **state)
{
	char *user = NULL, err[64];
	json_t *arr = json_array(), *obj = json_object();

	(void)state;
	write_map(map_text, 0644, 0);
	assert_int_equal(
	    ion_usermap_lookup(fx.map, "email", arr, &user, err, sizeof(err)),
	    ION_ERR_INVALID);
	assert_int_equal(
	    ion_usermap_lookup(fx.map, "email", NULL, &user, err, sizeof(err)),
	    ION_ERR_INVALID);
	assert_int_equal(
	    ion_usermap_lookup(fx.map, NULL, obj, &user, err, sizeof(err)),
	    ION_ERR_INVALID);
	assert_int_equal(
	    ion_usermap_lookup(NULL, "email", obj, &user, err, sizeof(err)),
	    ION_ERR_INVALID);
	/* No error buffer at all. */
	assert_int_equal(
	    ion_usermap_lookup(fx.map, "email", obj, &user, NULL, 0),
	    ION_ERR_AUTH);
	/* A tiny one is cut, not overrun. */
	unlink(fx.map);
	memset(err, 'x', sizeof(err));
	assert_int_equal(
	    ion_usermap_lookup(fx.map, "email", obj, &user, err, 8),
	    ION_ERR_CONFIG);
	assert_int_equal(strlen(err), 7);
	assert_int_equal(err[8], 'x');
	assert_null(user);
	json_decref(arr);
	json_decref(obj);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_messages_hide_claims),
		cmocka_unit_test(test_bad_maps),
		cmocka_unit_test(test_lines_and_size),
		cmocka_unit_test(test_unsafe_file),
		cmocka_unit_test(test_bad_arguments),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_usermap: must run as root (chown)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
