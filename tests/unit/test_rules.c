/*
 * Unit tests of rules.c: each access rule on claims as a provider could
 * send them, well formed and hostile, and the reasons it gives.
 */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h wants stdarg.h, stddef.h, stdint.h and setjmp.h first. */
#include <cmocka.h>

#include "errors.h"
#include "idtoken.h"
#include "rules.h"

#define NOW 1800000000
/* The sign-in being judged started half a minute ago. */
#define STARTED (NOW - 30)
/* The config's strings are not const; these tests never write them. */
#define RW(s) ((char *)(uintptr_t)(const void *)(s))

static json_t *
parse(const char *text)
{
	json_error_t e;
	json_t *j =
	    json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);

	if (j == NULL)
		fail_msg("bad test JSON '%s': %s", text, e.text);
	return j;
}

/* A config using only the rules the caller sets afterwards. */
static void
cfg_init(struct ion_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->groups_claim = RW("groups");
}

/* Judges claims; fails unless the one rule used is met as expected. */
static void
expect(const struct ion_cfg *cfg, const char *claims_text, bool met,
    const char *why)
{
	struct ion_rule_result res[ION_RULES_MAX];
	json_t *claims = parse(claims_text);
	char line[256];
	size_t n;
	int r;

	n = ion_rules_eval(cfg, claims, NOW, STARTED, res);
	assert_int_equal(n, 1);
	if (res[0].met != met || strstr(res[0].why, why) == NULL)
		fail_msg("%s on %s: got %s '%s', expected %s '%s'", res[0].rule,
		    claims_text, res[0].met ? "met" : "not met", res[0].why,
		    met ? "met" : "not met", why);
	r = ion_rules_check(cfg, claims, NOW, STARTED, line, sizeof(line));
	assert_int_equal(r, met ? 0 : ION_ERR_AUTH);
	if (!met) {
		assert_non_null(strstr(line, "access rule "));
		assert_non_null(strstr(line, res[0].rule));
	}
	json_decref(claims);
}

static void
test_groups(void **state)
{
	struct ion_cfg cfg;

	(void)state;
	cfg_init(&cfg);
	cfg.require_groups = RW("admins ops");
	expect(
	    &cfg, "{\"groups\": [\"users\", \"ops\"]}", true, "member of ops");
	expect(&cfg, "{\"groups\": [\"admins\"]}", true, "member of admins");
	expect(&cfg, "{\"groups\": [\"users\"]}", false, "not a member");
	expect(&cfg, "{\"groups\": []}", false, "not a member");
	expect(&cfg, "{}", false, "claim groups missing");
	expect(&cfg, "{\"groups\": \"admins\"}", false, "not an array");
	expect(&cfg, "{\"groups\": {\"admins\": true}}", false, "not an array");
	expect(&cfg, "{\"groups\": null}", false, "not an array");
	/* one non-string spoils the whole claim, even with a match */
	expect(&cfg, "{\"groups\": [\"admins\", 1]}", false, "not an array");
	expect(&cfg, "{\"groups\": [[\"admins\"]]}", false, "not an array");
	/* exact bytes: no case folding, no prefix, no NUL tricks */
	expect(&cfg, "{\"groups\": [\"Admins\", \"admin\", \"adminss\"]}",
	    false, "not a member");
	expect(
	    &cfg, "{\"groups\": [\"admins\\u0000x\"]}", false, "not a member");
	/* another claim name */
	cfg.groups_claim = RW("roles");
	expect(
	    &cfg, "{\"groups\": [\"admins\"]}", false, "claim roles missing");
	expect(&cfg, "{\"roles\": [\"admins\"]}", true, "member of admins");
	/* odd bytes in a name */
	cfg.require_groups = RW("caf\xc3\xa9 50%25\"x'");
	expect(&cfg, "{\"roles\": [\"caf\\u00e9\"]}", true, "member of caf??");
	expect(&cfg, "{\"roles\": [\"50%\\\"x'\"]}", true, "member of 50%\"x'");
	expect(&cfg, "{\"roles\": [\"cafe\"]}", false, "not a member");
}

/* 10,000 groups, the one that matters last. */
static void
test_many_groups(void **state)
{
	struct ion_cfg cfg;
	json_t *claims, *groups;
	struct ion_rule_result res[ION_RULES_MAX];
	char name[32];
	int i;

	(void)state;
	cfg_init(&cfg);
	cfg.require_groups = RW("admins");
	claims = json_object();
	groups = json_array();
	for (i = 0; i < 9999; i++) {
		snprintf(name, sizeof(name), "group-%d", i);
		json_array_append_new(groups, json_string(name));
	}
	json_object_set_new(claims, "groups", groups);
	assert_int_equal(ion_rules_eval(&cfg, claims, NOW, STARTED, res), 1);
	assert_false(res[0].met);
	json_array_append_new(groups, json_string("admins"));
	assert_int_equal(ion_rules_eval(&cfg, claims, NOW, STARTED, res), 1);
	assert_true(res[0].met);
	json_decref(claims);
}

static void
test_claims(void **state)
{
	struct ion_cfg cfg;

	(void)state;
	cfg_init(&cfg);
	cfg.require_claims = RW("dept=it");
	expect(&cfg, "{\"dept\": \"it\"}", true, "1 claim held");
	expect(&cfg, "{\"dept\": \"IT\"}", false, "claim dept does not hold");
	expect(&cfg, "{\"dept\": \"it \"}", false, "does not hold");
	expect(&cfg, "{}", false, "claim dept missing");
	expect(&cfg, "{\"dept\": null}", false, "does not hold");
	expect(&cfg, "{\"dept\": {\"it\": 1}}", false, "does not hold");
	expect(&cfg, "{\"dept\": [\"hr\", \"it\"]}", true, "held");
	expect(&cfg, "{\"dept\": [\"hr\"]}", false, "does not hold");
	expect(&cfg, "{\"dept\": [[\"it\"]]}", false, "does not hold");
	cfg.require_claims = RW("mfa=true");
	expect(&cfg, "{\"mfa\": true}", true, "held");
	expect(&cfg, "{\"mfa\": \"true\"}", true, "held");
	expect(&cfg, "{\"mfa\": false}", false, "does not hold");
	expect(&cfg, "{\"mfa\": 1}", false, "does not hold");
	cfg.require_claims = RW("mfa=false");
	expect(&cfg, "{\"mfa\": false}", true, "held");
	expect(&cfg, "{\"mfa\": null}", false, "does not hold");
	cfg.require_claims = RW("level=3");
	expect(&cfg, "{\"level\": 3}", true, "held");
	expect(&cfg, "{\"level\": 3.0}", false, "does not hold");
	expect(&cfg, "{\"level\": 30}", false, "does not hold");
	expect(&cfg, "{\"level\": [1, 3]}", true, "held");
	cfg.require_claims = RW("level=03");
	expect(&cfg, "{\"level\": 3}", false, "does not hold");
	cfg.require_claims = RW("level=-2");
	expect(&cfg, "{\"level\": -2}", true, "held");
	/* every pair; a name twice: both values */
	cfg.require_claims = RW("dept=it mfa=true");
	expect(
	    &cfg, "{\"dept\": \"it\", \"mfa\": true}", true, "2 claims held");
	expect(&cfg, "{\"dept\": \"it\", \"mfa\": false}", false,
	    "claim mfa does not hold");
	cfg.require_claims = RW("dept=it dept=hr");
	expect(&cfg, "{\"dept\": [\"hr\", \"it\"]}", true, "2 claims held");
	expect(&cfg, "{\"dept\": \"it\"}", false, "does not hold");
	/* a value holding '=' */
	cfg.require_claims = RW("x=a=b");
	expect(&cfg, "{\"x\": \"a=b\"}", true, "held");
	expect(&cfg, "{\"x\": \"a\"}", false, "does not hold");
}

static void
test_acr(void **state)
{
	struct ion_cfg cfg;

	(void)state;
	cfg_init(&cfg);
	cfg.require_acr = RW("urn:ion:mfa gold");
	expect(&cfg, "{\"acr\": \"gold\"}", true, "acr gold");
	expect(&cfg, "{\"acr\": \"urn:ion:mfa\"}", true, "acr urn:ion:mfa");
	expect(&cfg, "{\"acr\": \"silver\"}", false, "not one of");
	expect(&cfg, "{\"acr\": \"gol\"}", false, "not one of");
	expect(&cfg, "{}", false, "acr missing");
	expect(&cfg, "{\"acr\": [\"gold\"]}", false, "not a string");
	expect(&cfg, "{\"acr\": null}", false, "not a string");
}

/* auth_time against "at" seconds from NOW, under cfg's one rule. */
static void
expect_auth_time(const struct ion_cfg *cfg, long at, bool met, const char *why)
{
	char claims[64];

	snprintf(claims, sizeof(claims), "{\"auth_time\": %ld}", NOW + at);
	expect(cfg, claims, met, why);
}

static void
test_max_age(void **state)
{
	struct ion_cfg cfg;

	(void)state;
	cfg_init(&cfg);
	cfg.has_max_age = true;
	cfg.max_age = 0;
	expect_auth_time(&cfg, -5, true, "during this sign-in");
	expect_auth_time(&cfg, -30, true, "during this sign-in");
	/* the leeway, counted from the start of the sign-in */
	expect_auth_time(&cfg, -90, true, "60 s before this sign-in started");
	expect_auth_time(&cfg, -91, false, "61 s before this sign-in started");
	expect_auth_time(&cfg, 60, true, "during");
	expect_auth_time(&cfg, 61, false, "in the future");
	expect(&cfg, "{}", false, "auth_time missing");
	expect(&cfg, "{\"auth_time\": 1800000000.0}", false, "not a time");
	expect(&cfg, "{\"auth_time\": \"1800000000\"}", false, "not a time");
	expect(&cfg, "{\"auth_time\": -1}", false, "not a time");
	expect(&cfg, "{\"auth_time\": 253402300800}", false, "not a time");
	expect(
	    &cfg, "{\"auth_time\": 9223372036854775807}", false, "not a time");
	expect(&cfg, "{\"auth_time\": null}", false, "not a time");
	cfg.max_age = 3600;
	expect_auth_time(&cfg, -3690, true, "3660 s before");
	expect_auth_time(&cfg, -3691, false, "too long before");
}

/* login_prompt = yes checks what prompt=login asked for, as max_age 0. */
static void
test_login_prompt(void **state)
{
	struct ion_cfg cfg;

	(void)state;
	cfg_init(&cfg);
	cfg.login_prompt = true;
	assert_true(ion_rules_any(&cfg));
	expect_auth_time(&cfg, -1, true, "during this sign-in");
	expect_auth_time(&cfg, -90, true, "60 s before");
	/* an old iON session: the person was not asked again */
	expect_auth_time(&cfg, -3600, false, "too long before");
	expect(&cfg, "{}", false, "auth_time missing");
}

/* %XX escapes in group names and claim values: spaces, '#', '%'. */
static void
test_escapes(void **state)
{
	struct ion_cfg cfg;

	(void)state;
	cfg_init(&cfg);
	/* "Linux Admins" is one name, never "Linux" or "Admins" */
	cfg.require_groups = RW("Linux%20Admins");
	expect(&cfg, "{\"groups\": [\"Linux Admins\"]}", true,
	    "member of Linux Admins");
	expect(&cfg, "{\"groups\": [\"Linux\", \"Admins\"]}", false,
	    "not a member");
	expect(
	    &cfg, "{\"groups\": [\"Linux%20Admins\"]}", false, "not a member");
	cfg.require_groups = RW("%23wheel 100%25 %e2%82%ac");
	expect(&cfg, "{\"groups\": [\"#wheel\"]}", true, "member of #wheel");
	expect(&cfg, "{\"groups\": [\"100%\"]}", true, "member of 100%");
	expect(&cfg, "{\"groups\": [\"\u20ac\"]}", true, "member of ???");
	/* a long name is cut, and shows it */
	cfg.require_groups = RW("g123456789012345678901234567890123456789"
				"0123456789012345678901234567890123456789");
	expect(&cfg,
	    "{\"groups\": [\"g123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789\"]}",
	    true, "56789...");
	cfg.require_groups = NULL;
	cfg.require_claims = RW("dept=Research%20and%20Development");
	expect(&cfg, "{\"dept\": \"Research and Development\"}", true,
	    "1 claim held");
	expect(&cfg, "{\"dept\": \"Research\"}", false, "does not hold");
	cfg.require_claims = RW("x=%74rue");
	expect(&cfg, "{\"x\": true}", true, "held");
}

/* Every rule at once: judged in order, the first failure named. */
static void
test_all(void **state)
{
	struct ion_rule_result res[ION_RULES_MAX];
	struct ion_cfg cfg;
	json_t *claims;
	char why[256];

	(void)state;
	cfg_init(&cfg);
	assert_false(ion_rules_any(&cfg));
	claims = parse("{\"sub\": \"s\"}");
	assert_int_equal(ion_rules_eval(&cfg, claims, NOW, STARTED, res), 0);
	assert_int_equal(
	    ion_rules_check(&cfg, claims, NOW, STARTED, why, sizeof(why)), 0);
	json_decref(claims);

	cfg.require_groups = RW("admins");
	cfg.require_claims = RW("mfa=true");
	cfg.require_acr = RW("gold");
	cfg.has_max_age = true;
	cfg.max_age = 300;
	assert_true(ion_rules_any(&cfg));
	claims = parse("{\"groups\": [\"admins\"], \"mfa\": true, "
		       "\"acr\": \"gold\", \"auth_time\": 1800000000}");
	assert_int_equal(ion_rules_eval(&cfg, claims, NOW, STARTED, res), 4);
	assert_string_equal(res[0].rule, "require_groups");
	assert_string_equal(res[1].rule, "require_claims");
	assert_string_equal(res[2].rule, "require_acr");
	assert_string_equal(res[3].rule, "max_age");
	assert_int_equal(
	    ion_rules_check(&cfg, claims, NOW, STARTED, why, sizeof(why)), 0);
	json_object_set_new(claims, "acr", json_string("silver"));
	assert_int_equal(
	    ion_rules_check(&cfg, claims, NOW, STARTED, why, sizeof(why)),
	    ION_ERR_AUTH);
	assert_string_equal(
	    why, "access rule require_acr not met: acr not one of require_acr");
	/* never a claim's value in the reason */
	json_object_set_new(claims, "mfa", json_string("SECRET-VALUE"));
	assert_int_equal(
	    ion_rules_check(&cfg, claims, NOW, STARTED, why, sizeof(why)),
	    ION_ERR_AUTH);
	assert_null(strstr(why, "SECRET-VALUE"));
	assert_non_null(strstr(why, "require_claims"));
	json_decref(claims);
}

static void
test_need_userinfo(void **state)
{
	struct ion_cfg cfg;
	json_t *claims =
	    parse("{\"sub\": \"s\", \"groups\": [], \"dept\": \"x\"}");

	(void)state;
	cfg_init(&cfg);
	assert_false(ion_rules_need_userinfo(&cfg, claims));
	cfg.require_groups = RW("admins");
	assert_false(ion_rules_need_userinfo(&cfg, claims));
	cfg.groups_claim = RW("roles");
	assert_true(ion_rules_need_userinfo(&cfg, claims));
	cfg.groups_claim = RW("groups");
	cfg.require_claims = RW("dept=x");
	assert_false(ion_rules_need_userinfo(&cfg, claims));
	cfg.require_claims = RW("dept=x site=y");
	assert_true(ion_rules_need_userinfo(&cfg, claims));
	/* acr and auth_time never come from userinfo */
	cfg.require_claims = NULL;
	cfg.require_acr = RW("gold");
	cfg.has_max_age = true;
	assert_false(ion_rules_need_userinfo(&cfg, claims));
	json_decref(claims);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_many_groups),
		cmocka_unit_test(test_claims),
		cmocka_unit_test(test_acr),
		cmocka_unit_test(test_max_age),
		cmocka_unit_test(test_login_prompt),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_all),
		cmocka_unit_test(test_need_userinfo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
