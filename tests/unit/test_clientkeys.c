/* Unit tests of clientkeys.h: the --client-keys file and the live set. */
#include <sys/stat.h>

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

#include "b64url.h"
#include "clientkeys.h"
#include "crypto.h"
#include "errors.h"
#include "relay_proto.h"

/* Two keys, and a well-formed hash that is neither of theirs. */
#define KEY1 "key-one-0123456789abcdefghijklmnopqrstuv"
#define HASH1 "6a8d2d4b3e1b6cbbf4b8d2b5d1c4b1a8d1e3b0a9b7a6e5f4c3d2e1f0a9b8c7d6"
#define KEY2 "key-two-0123456789abcdefghijklmnopqrstuv"

static void
hex_of(const char *key, char out[2 * ION_SHA256_LEN + 1])
{
	unsigned char h[ION_SHA256_LEN];
	size_t i;

	assert_int_equal(ion_sha256(key, strlen(key), NULL, 0, NULL, 0, h), 0);
	for (i = 0; i < sizeof(h); i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* "NAME HEX\n" for key. */
static char *
line_for(const char *name, const char *key)
{
	char hex[2 * ION_SHA256_LEN + 1], *line;

	hex_of(key, hex);
	assert_true(asprintf(&line, "%s %s\n", name, hex) > 0);
	return line;
}

static int
parse(const char *text, struct relay_keyset **ks, char *err, size_t errlen)
{
	err[0] = '\0';
	return relay_keyset_parse(
	    "clients", text, strlen(text), ks, err, errlen);
}

static void
test_parse_good(void **state)
{
	struct relay_keyset *ks = NULL;
	struct relay_clients *c = NULL;
	struct relay_client who;
	char hex1[65], hex2[65], text[1024], err[256];

	(void)state;
	hex_of(KEY1, hex1);
	hex_of(KEY2, hex2);
	/* comments, blank lines, tabs, trailing blanks, no final newline */
	snprintf(text, sizeof(text),
	    "# the PAM hosts\n"
	    "\n"
	    "   \t\n"
	    "  # indented comment\n"
	    "host-1.example %s\n"
	    "\thost_2\t \t%s  \t",
	    hex1, hex2);
	assert_int_equal(parse(text, &ks, err, sizeof(err)), 0);
	assert_int_equal(relay_keyset_count(ks), 2);
	assert_int_equal(relay_clients_new(&ks, &c), 0);
	assert_null(ks);
	assert_int_equal(relay_clients_count(c), 2);
	memset(&who, 0, sizeof(who));
	assert_true(relay_clients_find(c, KEY1, &who));
	assert_string_equal(who.name, "host-1.example");
	assert_true(relay_clients_has(c, who.hash));
	assert_true(relay_clients_find(c, KEY2, &who));
	assert_string_equal(who.name, "host_2");
	relay_clients_free(&c);
	assert_null(c);
	relay_clients_free(&c);

	/* an empty file is a valid set of no clients */
	assert_int_equal(parse("", &ks, err, sizeof(err)), 0);
	assert_int_equal(relay_keyset_count(ks), 0);
	relay_keyset_free(&ks);
	assert_int_equal(parse("# none yet\n", &ks, err, sizeof(err)), 0);
	assert_int_equal(relay_keyset_count(ks), 0);
	relay_keyset_free(&ks);
	relay_keyset_free(NULL);
}

static const struct {
	const char *text; /* @H@ stands for a valid hash */
	const char *err;  /* expected in the message */
} bad_files[] = {
	{ "host\n", "clients:1: expected 'NAME SHA256HEX'" },
	{ "# c\nhost @H@ extra\n", "clients:2: expected 'NAME SHA256HEX'" },
	{ "\n\nhost @H@\r\n", "clients:3: the hash must be" },
	{ "host=@H@\n", "clients:1: expected" },
	{ "host:x @H@\n", "clients:1: the name must be" },
	{ "h\xc3\xa9 @H@\n", "clients:1: the name must be" },
	{ "0123456789012345678901234567890123456789012345678901234567890123"
	  "4 @H@\n",
	    "clients:1: the name must be" },
	{ "host 6A8D2D4B3E1B6CBBF4B8D2B5D1C4B1A8D1E3B0A9B7A6E5F4C3D2E1F0A9B8C7"
	  "D6\n",
	    "clients:1: the hash must be 64 lowercase hex" },
	{ "host 6a8d\n", "clients:1: the hash must be" },
	{ "host @H@0\n", "clients:1: the hash must be" },
	{ "host g" HASH1 "\n", "clients:1: the hash must be" },
	{ "host sha256:" HASH1 "\n", "clients:1: the hash must be" },
	{ "host\x01 @H@\n", "clients:1: the name must be" },
	{ "a @H@\n"
	  "b " HASH1 "\n"
	  "a " HASH1 "0\n",
	    "clients:3: the hash must be" },
};

static void
test_parse_bad_lines(void **state)
{
	char hex1[65], err[256];
	size_t i;

	(void)state;
	hex_of(KEY1, hex1);
	for (i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		struct relay_keyset *ks = NULL;
		char text[1024];
		const char *t = bad_files[i].text, *at;
		size_t o = 0;

		while ((at = strstr(t, "@H@")) != NULL) {
			memcpy(text + o, t, (size_t)(at - t));
			o += (size_t)(at - t);
			memcpy(text + o, hex1, 64);
			o += 64;
			t = at + 3;
		}
		strcpy(text + o, t);
		if (parse(text, &ks, err, sizeof(err)) != ION_ERR_INVALID ||
		    strstr(err, bad_files[i].err) == NULL)
			fail_msg("file %zu: err '%s', expected '%s'", i, err,
			    bad_files[i].err);
		assert_null(ks);
		assert_null(strchr(err, '\n'));
	}
}

/* Duplicates name the later line, however the file is ordered. */
static void
test_parse_duplicates(void **state)
{
	struct relay_keyset *ks = NULL;
	char *a1 = line_for("a", KEY1), *a2 = line_for("a", KEY2);
	char *b1 = line_for("b", KEY1), *b2 = line_for("b", KEY2);
	char text[1024], err[256];

	(void)state;
	snprintf(text, sizeof(text), "%s# x\n%s", a1, a2);
	assert_int_equal(parse(text, &ks, err, sizeof(err)), ION_ERR_INVALID);
	assert_string_equal(
	    err, "clients:3: duplicate name a (first on line 1)");
	snprintf(text, sizeof(text), "%s%s", b2, a2);
	assert_int_equal(parse(text, &ks, err, sizeof(err)), ION_ERR_INVALID);
	assert_non_null(strstr(err, "clients:2: duplicate hash"));
	assert_non_null(strstr(err, "(first on line 1)"));
	/* the earliest repeat wins: here the hash on line 2 */
	snprintf(text, sizeof(text), "%s%s%s", b1, a1, b2);
	assert_int_equal(parse(text, &ks, err, sizeof(err)), ION_ERR_INVALID);
	assert_non_null(strstr(err, "clients:2: duplicate hash"));
	snprintf(text, sizeof(text), "%s%s%s", a2, b2, a1);
	assert_int_equal(parse(text, &ks, err, sizeof(err)), ION_ERR_INVALID);
	assert_non_null(strstr(err, "clients:2: duplicate hash"));
	/* distinct names and keys are fine */
	snprintf(text, sizeof(text), "%s%s", a1, b2);
	assert_int_equal(parse(text, &ks, err, sizeof(err)), 0);
	relay_keyset_free(&ks);
	free(a1);
	free(a2);
	free(b1);
	free(b2);
}

/* Keys that are not printable ASCII without spaces of 32..256 chars. */
static void
test_find_key_text(void **state)
{
	struct relay_keyset *ks = NULL;
	struct relay_clients *c = NULL;
	struct relay_client who;
	char text[4096], err[256], key[ION_RELAY_KEY_MAX + 2];
	char *l1, *l2, *l3;
	size_t o = 0;

	(void)state;
	/* the shortest and the longest keys accepted */
	memset(key, 'k', sizeof(key));
	key[ION_RELAY_KEY_MIN] = '\0';
	l1 = line_for("shortest", key);
	memset(key, 'k', sizeof(key));
	key[ION_RELAY_KEY_MAX] = '\0';
	l2 = line_for("longest", key);
	l3 = line_for("one", KEY1);
	o += (size_t)snprintf(text + o, sizeof(text) - o, "%s%s%s", l1, l2, l3);
	assert_int_equal(parse(text, &ks, err, sizeof(err)), 0);
	assert_int_equal(relay_clients_new(&ks, &c), 0);
	memset(key, 'k', sizeof(key));
	key[ION_RELAY_KEY_MIN] = '\0';
	assert_true(relay_clients_find(c, key, &who));
	assert_string_equal(who.name, "shortest");
	key[ION_RELAY_KEY_MIN - 1] = '\0';
	assert_false(relay_clients_find(c, key, &who));
	memset(key, 'k', sizeof(key));
	key[ION_RELAY_KEY_MAX] = '\0';
	assert_true(relay_clients_find(c, key, &who));
	assert_string_equal(who.name, "longest");
	key[ION_RELAY_KEY_MAX] = 'k';
	key[ION_RELAY_KEY_MAX + 1] = '\0';
	assert_false(relay_clients_find(c, key, &who));
	assert_false(relay_clients_find(c, NULL, &who));
	assert_false(relay_clients_find(c, "", &who));
	assert_false(relay_clients_find(c, KEY1 " ", &who));
	assert_false(relay_clients_find(c, " " KEY1, &who));
	assert_false(relay_clients_find(c, KEY1 "\x7f", &who));
	assert_false(
	    relay_clients_find(c, "key-one-0123456789abcdef\tghijk", &who));
	assert_false(relay_clients_find(c, KEY2, &who));
	assert_true(relay_clients_find(c, KEY1, &who));
	relay_clients_free(&c);
	free(l1);
	free(l2);
	free(l3);
}

/* SIGHUP's swap: a removed line is gone at once, an added one there. */
static void
test_replace(void **state)
{
	struct relay_keyset *ks = NULL;
	struct relay_clients *c = NULL;
	struct relay_client who, old;
	char *l1 = line_for("one", KEY1), *l2 = line_for("two", KEY2);
	char err[256];

	(void)state;
	assert_int_equal(parse(l1, &ks, err, sizeof(err)), 0);
	assert_int_equal(relay_clients_new(&ks, &c), 0);
	assert_true(relay_clients_find(c, KEY1, &old));
	assert_false(relay_clients_find(c, KEY2, &who));
	assert_int_equal(parse(l2, &ks, err, sizeof(err)), 0);
	relay_clients_replace(c, &ks);
	assert_null(ks);
	assert_false(relay_clients_find(c, KEY1, &who));
	assert_false(relay_clients_has(c, old.hash));
	assert_true(relay_clients_find(c, KEY2, &who));
	assert_string_equal(who.name, "two");
	assert_int_equal(relay_clients_count(c), 1);
	relay_clients_free(&c);
	free(l1);
	free(l2);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void
expect_load(const char *path, int want, const char *needle)
{
	struct relay_keyset *ks = NULL;
	char err[512] = "";
	int r = relay_keyset_load(path, &ks, err, sizeof(err));

	if (r != want || (needle != NULL && strstr(err, needle) == NULL))
		fail_msg("%s: %d '%s', expected %d '%s'", path, r, err, want,
		    needle ? needle : "");
	if (r == 0)
		assert_non_null(ks);
	else
		assert_null(ks);
	relay_keyset_free(&ks);
}

/* The file's owner and mode decide who may use the relay: checked. */
static void
test_load_file_rules(void **state)
{
	char dir[] = "/tmp/test_clientkeys.XXXXXX", path[128], link[128];
	char sub[128], *line = line_for("one", KEY1);

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/clients", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	expect_load(path, ION_ERR_NOT_FOUND, ": does not exist");
	write_file(path, line, 0600);
	expect_load(path, 0, NULL);
	assert_int_equal(chmod(path, 0644), 0);
	expect_load(path, 0, NULL);
	assert_int_equal(chmod(path, 0400), 0);
	expect_load(path, 0, NULL);
	assert_int_equal(chmod(path, 0620), 0);
	expect_load(path, ION_ERR_CONFIG, "writable by group or others");
	assert_int_equal(chmod(path, 0602), 0);
	expect_load(path, ION_ERR_CONFIG, "writable by group or others");
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(symlink(path, link), 0);
	expect_load(link, ION_ERR_CONFIG, "symbolic link");
	assert_int_equal(mkdir(sub, 0700), 0);
	expect_load(sub, ION_ERR_CONFIG, "not a regular file");
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 4242, 4242), 0);
		expect_load(path, ION_ERR_CONFIG,
		    "owned by uid 4242, not by root or uid 0");
		assert_int_equal(chown(path, 0, 0), 0);
	}
	write_file(path, "badline\n", 0600);
	expect_load(path, ION_ERR_INVALID, "/clients:1: expected");
	unlink(link);
	unlink(path);
	rmdir(sub);
	rmdir(dir);
	free(line);
}

/* --new-client-key: a fresh key and the line that admits exactly it. */
static void
test_new_key(void **state)
{
	char line[RELAY_CLIENT_NAME_MAX + 2 * ION_SHA256_LEN + 2];
	char key[ION_B64URL_LEN(ION_RELAY_KEY_RANDOM_BYTES) + 1];
	char key2[sizeof(key)], hex[65], want[sizeof(line)], err[256];
	unsigned char raw[ION_RELAY_KEY_RANDOM_BYTES];
	struct relay_keyset *ks = NULL;
	struct relay_clients *c = NULL;
	struct relay_client who;

	(void)state;
	assert_int_equal(relay_clientkeys_new_key("host-1.example", line,
			     sizeof(line), key, sizeof(key)),
	    0);
	assert_int_equal(strlen(key), 43);
	assert_int_equal(ion_b64url_decode(key, strlen(key), raw, sizeof(raw)),
	    (long)sizeof(raw));
	hex_of(key, hex);
	snprintf(want, sizeof(want), "host-1.example %s", hex);
	assert_string_equal(line, want);
	assert_int_equal(parse(line, &ks, err, sizeof(err)), 0);
	assert_int_equal(relay_clients_new(&ks, &c), 0);
	assert_true(relay_clients_find(c, key, &who));
	assert_string_equal(who.name, "host-1.example");
	relay_clients_free(&c);
	/* a new key every time */
	assert_int_equal(relay_clientkeys_new_key(
			     "h", line, sizeof(line), key2, sizeof(key2)),
	    0);
	assert_string_not_equal(key, key2);
	assert_int_equal(relay_clientkeys_new_key(
			     "bad name", line, sizeof(line), key, sizeof(key)),
	    ION_ERR_INVALID);
	assert_int_equal(
	    relay_clientkeys_new_key("", line, sizeof(line), key, sizeof(key)),
	    ION_ERR_INVALID);
	assert_int_equal(
	    relay_clientkeys_new_key("h", line, sizeof(line), key, 43),
	    ION_ERR_INVALID);
}

static void
test_name_ok(void **state)
{
	(void)state;
	assert_true(relay_client_name_ok("a"));
	assert_true(relay_client_name_ok("A.b_c-9"));
	assert_false(relay_client_name_ok(""));
	assert_false(relay_client_name_ok("a b"));
	assert_false(relay_client_name_ok("a/b"));
	assert_false(relay_client_name_ok("a\"b"));
	assert_true(relay_client_name_ok("0123456789012345678901234567890123456"
					 "789012345678901234567890123"));
	assert_false(relay_client_name_ok("012345678901234567890123456789012345"
					  "67890123456789012345678901234"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad_lines),
		cmocka_unit_test(test_parse_duplicates),
		cmocka_unit_test(test_find_key_text),
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_load_file_rules),
		cmocka_unit_test(test_new_key),
		cmocka_unit_test(test_name_ok),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
