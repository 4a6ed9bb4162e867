/*
 * The access rules (rules.c) on fuzzed claims, with a fixed configuration
 * using every rule and a fixed "now".  Each verdict is checked against an
 * independent reading of rules.h: a rule is met only when the claims
 * really hold what it requires, and ion_rules_check() agrees with
 * ion_rules_eval().
 *
 * Input: CLAIMS-JSON.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "errors.h"
#include "fuzz.h"
#include "idtoken.h"
#include "rules.h"

#define NOW 1800000000
#define STARTED (NOW - 30)
#define MAX_AGE 300

static char groups_claim[] = "groups";
static char require_groups[] = "admins Linux%20Ops";
static char require_claims[] = "mfa=true level=3 dept=it";
static char require_acr[] = "gold urn:ion:mfa";

static struct ion_cfg cfg;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	cfg.groups_claim = groups_claim;
	cfg.require_groups = require_groups;
	cfg.require_claims = require_claims;
	cfg.require_acr = require_acr;
	cfg.has_max_age = true;
	cfg.max_age = MAX_AGE;
	return 0;
}

static bool
str_is(const json_t *v, const char *s)
{
	return json_is_string(v) && json_string_length(v) == strlen(s) &&
	    memcmp(json_string_value(v), s, strlen(s)) == 0;
}

static bool
groups_ok(const json_t *claims)
{
	const json_t *g = json_object_get(claims, "groups");
	bool member = false;
	size_t i;

	if (!json_is_array(g))
		return false;
	for (i = 0; i < json_array_size(g); i++) {
		if (!json_is_string(json_array_get(g, i)))
			return false;
		member |= str_is(json_array_get(g, i), "admins") ||
		    str_is(json_array_get(g, i), "Linux Ops");
	}
	return member;
}

/* One claim value against one required value, by rules.h's table. */
static bool
holds(const json_t *v, const char *want, bool in_array)
{
	size_t i;

	if (json_is_string(v))
		return str_is(v, want);
	if (json_is_true(v))
		return strcmp(want, "true") == 0;
	if (json_is_false(v))
		return strcmp(want, "false") == 0;
	if (json_is_integer(v))
		return strcmp(want, "3") == 0 && json_integer_value(v) == 3;
	if (json_is_array(v) && !in_array) {
		for (i = 0; i < json_array_size(v); i++)
			if (holds(json_array_get(v, i), want, true))
				return true;
	}
	return false;
}

static bool
claims_ok(const json_t *claims)
{
	return holds(json_object_get(claims, "mfa"), "true", false) &&
	    holds(json_object_get(claims, "level"), "3", false) &&
	    holds(json_object_get(claims, "dept"), "it", false);
}

static bool
acr_ok(const json_t *claims)
{
	const json_t *acr = json_object_get(claims, "acr");

	return str_is(acr, "gold") || str_is(acr, "urn:ion:mfa");
}

static bool
max_age_ok(const json_t *claims)
{
	const json_t *at = json_object_get(claims, "auth_time");
	json_int_t t;

	if (!json_is_integer(at))
		return false;
	t = json_integer_value(at);
	return t >= 0 && t <= NOW + ION_IDTOKEN_LEEWAY_S &&
	    t >= (json_int_t)STARTED - MAX_AGE - ION_IDTOKEN_LEEWAY_S;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ion_rule_result res[ION_RULES_MAX];
	bool want[ION_RULES_MAX], all = true;
	char why[256];
	json_t *claims;
	size_t i, n;
	int r;

	claims = json_loadb((const char *)data, size,
	    JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	if (claims == NULL)
		return 0;
	if (!json_is_object(claims)) {
		json_decref(claims);
		return 0;
	}
	n = ion_rules_eval(&cfg, claims, NOW, STARTED, res);
	FUZZ_CHECK(n == 4);
	want[0] = groups_ok(claims);
	want[1] = claims_ok(claims);
	want[2] = acr_ok(claims);
	want[3] = max_age_ok(claims);
	for (i = 0; i < n; i++) {
		fuzz_log("%s: %s", res[i].rule, res[i].why);
		FUZZ_CHECK(res[i].met == want[i]);
		FUZZ_CHECK(strlen(res[i].why) < sizeof(res[i].why));
		all &= want[i];
	}
	r = ion_rules_check(&cfg, claims, NOW, STARTED, why, sizeof(why));
	FUZZ_CHECK(r == (all ? 0 : ION_ERR_AUTH));
	json_decref(claims);
	return 0;
}
