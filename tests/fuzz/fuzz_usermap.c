/*
 * ion_usermap_lookup() on a fuzzed map file, with fixed claims or, when the
 * input holds "\0\0", with the fuzzed claims (JSON) that follow it.
 *
 * Input: MAP-FILE ["\0\0" CLAIMS-JSON].  The map is written to the
 * process's private directory (root-owned, 0644), and looked up under the
 * user claims "email" and "preferred_username".
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "fuzz.h"
#include "usermap.h"

#define CLAIMS                                                                 \
	"{\"iss\":\"https://issuer.example\",\"sub\":\"248289761001\","        \
	"\"email\":\"alice@example.com\",\"email_verified\":true,"             \
	"\"preferred_username\":\"alice\",\"name\":\"Alice\"}"

static char *map_path;
static json_t *fixed_claims;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	map_path = fuzz_path("users");
	if ((fixed_claims = json_loads(CLAIMS, 0, NULL)) == NULL)
		fuzz_fail("bad fixed claims");
	return 0;
}

static bool
valid_user(const char *s)
{
	size_t i, len = strlen(s);

	if (len == 0 || len > 32 || s[0] == '-')
		return false;
	for (i = 0; i < len; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyz"
			   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-",
			s[i]) == NULL &&
		    !(s[i] == '$' && i == len - 1))
			return false;
	return true;
}

/* True when the map's text holds "sub:" and the claims' sub. */
static bool
sub_listed(const json_t *claims, const char *map, size_t len)
{
	const json_t *sub = json_object_get(claims, "sub");
	char *key;
	bool found;

	if (!json_is_string(sub))
		return false;
	key = fuzz_malloc(4 + json_string_length(sub) + 1);
	memcpy(key, "sub:", 4);
	memcpy(key + 4, json_string_value(sub), json_string_length(sub) + 1);
	found = memmem(map, len, key, strlen(key)) != NULL;
	free(key);
	return found;
}

static void
lookup(const char *claim, const json_t *claims, const char *map, size_t len)
{
	char err[256], *user = NULL;
	int r;

	memset(err, 'x', sizeof(err));
	r = ion_usermap_lookup(
	    map_path, claim, claims, &user, err, sizeof(err));
	fuzz_log("%s: %s %s", claim, r == 0 ? user : ion_strerror(r),
	    r == 0 ? "" : err);
	FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	if (r != 0) {
		FUZZ_CHECK(user == NULL);
		FUZZ_CHECK(err[0] != '\0');
		return;
	}
	/* The user is a valid name that the map holds as a whole word. */
	FUZZ_CHECK(user != NULL && valid_user(user));
	FUZZ_CHECK(memmem(map, len, user, strlen(user)) != NULL);
	/*
	 * An unverified email never maps: then only a "sub:" line can have
	 * matched.
	 */
	if (strcmp(claim, "email") == 0 &&
	    !json_is_true(json_object_get(claims, "email_verified")))
		FUZZ_CHECK(sub_listed(claims, map, len));
	free(user);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *rest;
	size_t mlen, clen;
	json_t *claims = fixed_claims;

	fuzz_split2(data, size, &mlen, &rest, &clen);
	fuzz_write_file(map_path, data, mlen, 0644);
	if (rest != NULL) {
		/* As the module reads them: duplicates refused. */
		claims = json_loadb(
		    (const char *)rest, clen, JSON_REJECT_DUPLICATES, NULL);
		if (claims == NULL)
			return 0;
	}
	lookup("email", claims, (const char *)data, mlen);
	lookup("preferred_username", claims, (const char *)data, mlen);
	if (claims != fixed_claims)
		json_decref(claims);
	return 0;
}
