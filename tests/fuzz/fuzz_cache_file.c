/*
 * ion_cache_load() on a fuzzed cache entry: the input is written, root-owned
 * and 0600 as ion_cache_store() leaves it, under the name the cache gives a
 * fixed URL (the hex SHA-256 of the URL, ".cache") in a private directory,
 * and loaded at a fixed "now".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "crypto.h"
#include "errors.h"
#include "fuzz.h"

#define URL "https://issuer.example/.well-known/openid-configuration"
#define NOW 1700000100

static char *cache_dir, *entry_path;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	unsigned char digest[ION_SHA256_LEN];
	char name[2 * ION_SHA256_LEN + sizeof(".cache")];
	size_t i;

	(void)argc;
	(void)argv;
	cache_dir = fuzz_path("cache");
	/* As ion_cache_store() makes it: 0700. */
	if (ion_cache_store(
		cache_dir, "https://x.example/", "", 0, NULL, NOW) != 0)
		fuzz_fail("cannot make the cache directory %s", cache_dir);
	if (ion_sha256(URL, strlen(URL), NULL, 0, NULL, 0, digest) != 0)
		fuzz_fail("sha256");
	for (i = 0; i < sizeof(digest); i++)
		snprintf(name + 2 * i, 3, "%02x", digest[i]);
	strcat(name, ".cache");
	entry_path = fuzz_malloc(strlen(cache_dir) + 1 + strlen(name) + 1);
	sprintf(entry_path, "%s/%s", cache_dir, name);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = NULL;
	const char *nl;
	size_t len = 0;
	time_t fetched = -1;
	int r;

	fuzz_write_file(entry_path, data, size, 0600);
	r = ion_cache_load(cache_dir, URL, NOW, &body, &len, &fetched);
	fuzz_log("load: %s", ion_strerror(r));
	if (r != 0) {
		FUZZ_CHECK(r == ION_ERR_NOT_FOUND);
		FUZZ_CHECK(body == NULL && fetched == -1);
		return 0;
	}
	/* The body is exactly what follows the header line. */
	nl = memchr(data, '\n', size);
	FUZZ_CHECK(nl != NULL);
	FUZZ_CHECK(len == size - (size_t)((const uint8_t *)nl + 1 - data));
	FUZZ_CHECK(memcmp(body, nl + 1, len) == 0 && body[len] == '\0');
	FUZZ_CHECK(len <= ION_CACHE_MAX_BODY);
	FUZZ_CHECK(fetched >= 0 && fetched <= NOW);
	FUZZ_CHECK(memcmp(data, "pam_ion-cache 1 ", 16) == 0);
	free(body);
	return 0;
}
