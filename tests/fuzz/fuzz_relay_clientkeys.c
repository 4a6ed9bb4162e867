/*
 * The --client-keys file: relay_keyset_parse() and relay_keyset_load() on
 * fuzzed files, and relay_clients_find() on fuzzed keys.
 *
 * Input: FILE ["\0\0" KEY].  @K@ in FILE stands for SHA-256 (lowercase hex)
 * of KEY, so the fuzzer can write lines that admit it.
 *
 * Checks: parsing and loading (0600, in the private directory) agree; a
 * refusal has a one-line message "PATH:LINE: ..." or "PATH: ..."; a parsed
 * set holds exactly the client lines of the file; a key is found only when
 * the file has a line "NAME HASH" with its hash, and the name is that
 * line's; nothing but a well-formed key is ever found.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clientkeys.h"
#include "crypto.h"
#include "errors.h"
#include "fuzz.h"
#include "relay_proto.h"

static bool
key_well_formed(const char *key)
{
	size_t len = strlen(key), i;

	if (len < ION_RELAY_KEY_MIN || len > ION_RELAY_KEY_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (key[i] <= ' ' || key[i] > '~')
			return false;
	return true;
}

/* Client lines: neither blank nor comments. */
static size_t
client_lines(const char *text, size_t len)
{
	const char *p = text, *end = text + len, *nl;
	size_t n = 0;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		while (p < nl && (*p == ' ' || *p == '\t'))
			p++;
		if (p < nl && *p != '#')
			n++;
		p = nl + 1;
	}
	return n;
}

/* Whether text has the line "name hex" (blanks around as parse allows). */
static bool
has_line(const char *text, size_t len, const char *name, const char *hex)
{
	const char *p, *end = text + len;
	size_t nlen = strlen(name), hlen = strlen(hex);

	for (p = memmem(text, len, hex, hlen); p != NULL;
	     p = memmem(p + 1, (size_t)(end - p - 1), hex, hlen)) {
		const char *q = p;

		while (q > text && (q[-1] == ' ' || q[-1] == '\t'))
			q--;
		if (q == p || (size_t)(q - text) < nlen ||
		    memcmp(q - nlen, name, nlen) != 0)
			continue;
		q -= nlen;
		while (q > text && (q[-1] == ' ' || q[-1] == '\t'))
			q--;
		if (q == text || q[-1] == '\n')
			return true;
	}
	return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relay_keyset *ks = NULL, *loaded = NULL;
	struct relay_clients *c = NULL;
	struct relay_client who;
	const uint8_t *rest;
	size_t flen, rest_len, tlen, i;
	unsigned char h[ION_SHA256_LEN];
	char hex[2 * ION_SHA256_LEN + 1], err[512], err2[512], *key, *text;
	char *path;
	const char *tok[] = { "@K@" }, *val[] = { hex };
	int r, r2;

	fuzz_split2(data, size, &flen, &rest, &rest_len);
	key = rest != NULL
	    ? fuzz_strndup(rest, rest_len)
	    : fuzz_strndup("no-key-given-0123456789abcdefghij", 33);
	if (ion_sha256(key, strlen(key), NULL, 0, NULL, 0, h) != 0)
		fuzz_fail("sha256");
	for (i = 0; i < sizeof(h); i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	text = fuzz_expand(data, flen, tok, val, 1, &tlen);
	path = fuzz_path("clients");

	memset(err, 'x', sizeof(err));
	r = relay_keyset_parse(path, text, tlen, &ks, err, sizeof(err));
	fuzz_write_file(path, text, tlen, 0600);
	memset(err2, 'x', sizeof(err2));
	r2 = relay_keyset_load(path, &loaded, err2, sizeof(err2));
	FUZZ_CHECK(r == r2);
	if (r != 0) {
		FUZZ_CHECK(ks == NULL && loaded == NULL);
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		FUZZ_CHECK(strcmp(err, err2) == 0);
		FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0);
		FUZZ_CHECK(err[strlen(path)] == ':');
		FUZZ_CHECK(strchr(err, '\n') == NULL);
		goto out;
	}
	FUZZ_CHECK(ks != NULL && loaded != NULL);
	FUZZ_CHECK(relay_keyset_count(ks) == client_lines(text, tlen));
	FUZZ_CHECK(relay_keyset_count(loaded) == relay_keyset_count(ks));
	if (relay_clients_new(&ks, &c) != 0)
		fuzz_fail("relay_clients_new");
	memset(&who, 0, sizeof(who));
	if (relay_clients_find(c, key, &who)) {
		FUZZ_CHECK(key_well_formed(key));
		FUZZ_CHECK(memcmp(who.hash, h, sizeof(h)) == 0);
		FUZZ_CHECK(relay_client_name_ok(who.name));
		FUZZ_CHECK(has_line(text, tlen, who.name, hex));
		FUZZ_CHECK(relay_clients_has(c, h));
	} else
		FUZZ_CHECK(!key_well_formed(key) || strstr(text, hex) == NULL ||
		    !relay_clients_has(c, h));
	/* the swap SIGHUP does */
	relay_clients_replace(c, &loaded);
	FUZZ_CHECK(loaded == NULL);
	FUZZ_CHECK(relay_clients_count(c) == client_lines(text, tlen));
out:
	relay_clients_free(&c);
	relay_keyset_free(&ks);
	relay_keyset_free(&loaded);
	free(path);
	free(text);
	free(key);
	return 0;
}
