/* The access rules on verified claims; the contract is in rules.h. */
#include "rules.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "idtoken.h"
#include "logsafe.h"

/* auth_time's range, as idtoken.c reads exp and iat. */
#define TIME_MAX INT64_C(253402300799)

/* Whether the JSON string s is exactly the len bytes at w. */
static bool
string_is(const json_t *s, const char *w, size_t len)
{
	return json_is_string(s) && json_string_length(s) == len &&
	    memcmp(json_string_value(s), w, len) == 0;
}

/*
 * res->why = before NAME after, with the len bytes of name made log-safe
 * (names come from the configuration, never from the claims).
 */
static void
set_why(struct ion_rule_result *res, const char *before, const char *name,
    size_t len, const char *after)
{
	/* longer than safe, so that a cut name ends in "..." */
	char copy[ION_RULE_WHY_MAX], safe[ION_RULE_WHY_MAX / 2];

	snprintf(copy, sizeof(copy), "%.*s", (int)len, name);
	snprintf(res->why, sizeof(res->why), "%s%s%s", before,
	    ion_log_safe(copy, SIZE_MAX, safe, sizeof(safe)), after);
}

static bool
all_strings(const json_t *array)
{
	size_t i;

	for (i = 0; i < json_array_size(array); i++)
		if (!json_is_string(json_array_get(array, i)))
			return false;
	return true;
}

static bool
array_has_string(const json_t *array, const char *w, size_t len)
{
	size_t i;

	for (i = 0; i < json_array_size(array); i++)
		if (string_is(json_array_get(array, i), w, len))
			return true;
	return false;
}

static void
judge_groups(const struct ion_cfg *cfg, const json_t *claims,
    struct ion_rule_result *res)
{
	const json_t *groups = json_object_get(claims, cfg->groups_claim);
	const char *p = cfg->require_groups, *w;
	const char *claim = cfg->groups_claim;
	char want[ION_CFG_VALUE_MAX];
	size_t len, wlen;

	if (groups == NULL) {
		set_why(res, "claim ", claim, strlen(claim), " missing");
		return;
	}
	if (!json_is_array(groups) || !all_strings(groups)) {
		set_why(res, "claim ", claim, strlen(claim),
		    " is not an array of strings");
		return;
	}
	while (ion_cfg_next_word(&p, &w, &len)) {
		/* config.c refused a word with a bad escape */
		if (!ion_cfg_unescape(w, len, want, sizeof(want), &wlen))
			continue;
		if (array_has_string(groups, want, wlen)) {
			set_why(res, "member of ", want, wlen, "");
			res->met = true;
			return;
		}
	}
	snprintf(
	    res->why, sizeof(res->why), "not a member of any required group");
}

/* Whether one claim value holds the configured VALUE (rules.h). */
static bool
value_holds(const json_t *v, const char *w, size_t len, bool in_array)
{
	char num[32];
	size_t i;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return string_is(v, w, len);
	case JSON_TRUE:
		return len == 4 && memcmp(w, "true", 4) == 0;
	case JSON_FALSE:
		return len == 5 && memcmp(w, "false", 5) == 0;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		return strlen(num) == len && memcmp(num, w, len) == 0;
	case JSON_ARRAY:
		if (in_array) /* an array in an array never holds */
			return false;
		for (i = 0; i < json_array_size(v); i++)
			if (value_holds(json_array_get(v, i), w, len, true))
				return true;
		return false;
	default: /* null, real, object */
		return false;
	}
}

static void
judge_claims(const struct ion_cfg *cfg, const json_t *claims,
    struct ion_rule_result *res)
{
	const char *p = cfg->require_claims, *w, *eq;
	char name[ION_CLAIM_NAME_MAX + 1], want[ION_CFG_VALUE_MAX];
	size_t len, nlen, wlen, pairs = 0;
	const json_t *v;

	while (ion_cfg_next_word(&p, &w, &len)) {
		eq = memchr(w, '=', len); /* config.c made sure */
		nlen = eq != NULL ? (size_t)(eq - w) : len;
		snprintf(name, sizeof(name), "%.*s", (int)nlen, w);
		if ((v = json_object_get(claims, name)) == NULL) {
			set_why(res, "claim ", name, nlen, " missing");
			return;
		}
		if (eq == NULL ||
		    !ion_cfg_unescape(
			eq + 1, len - nlen - 1, want, sizeof(want), &wlen) ||
		    !value_holds(v, want, wlen, false)) {
			set_why(res, "claim ", name, nlen,
			    " does not hold the value required");
			return;
		}
		pairs++;
	}
	snprintf(res->why, sizeof(res->why), "%zu claim%s held", pairs,
	    pairs == 1 ? "" : "s");
	res->met = true;
}

static void
judge_acr(const struct ion_cfg *cfg, const json_t *claims,
    struct ion_rule_result *res)
{
	const json_t *acr = json_object_get(claims, "acr");
	const char *p = cfg->require_acr, *w;
	size_t len;

	if (acr == NULL) {
		snprintf(res->why, sizeof(res->why), "acr missing");
		return;
	}
	if (!json_is_string(acr)) {
		snprintf(res->why, sizeof(res->why), "acr is not a string");
		return;
	}
	while (ion_cfg_next_word(&p, &w, &len))
		if (string_is(acr, w, len)) {
			set_why(res, "acr ", w, len, "");
			res->met = true;
			return;
		}
	snprintf(res->why, sizeof(res->why), "acr not one of require_acr");
}

/*
 * auth_time: a time in seconds, not in the future (with the leeway), and
 * not earlier than earliest (less the leeway).
 */
static void
judge_auth_time(const json_t *claims, time_t now, time_t started,
    int64_t earliest, struct ion_rule_result *res)
{
	const json_t *at = json_object_get(claims, "auth_time");
	int64_t t;

	if (at == NULL) {
		snprintf(res->why, sizeof(res->why), "auth_time missing");
		return;
	}
	t = json_is_integer(at) ? (int64_t)json_integer_value(at) : -1;
	if (t < 0 || t > TIME_MAX) {
		snprintf(res->why, sizeof(res->why),
		    "auth_time is not a time in seconds");
		return;
	}
	if (t > (int64_t)now + ION_IDTOKEN_LEEWAY_S) {
		snprintf(res->why, sizeof(res->why), "auth_time in the future");
		return;
	}
	if (t < earliest - ION_IDTOKEN_LEEWAY_S) {
		snprintf(res->why, sizeof(res->why),
		    "signed in at iON %" PRId64
		    " s before this sign-in started, too long before",
		    (int64_t)started - t);
		return;
	}
	if (t < (int64_t)started)
		snprintf(res->why, sizeof(res->why),
		    "signed in at iON %" PRId64
		    " s before this sign-in started",
		    (int64_t)started - t);
	else
		snprintf(res->why, sizeof(res->why),
		    "signed in at iON during this sign-in");
	res->met = true;
}

bool
ion_rules_any(const struct ion_cfg *cfg)
{
	return cfg->require_groups != NULL || cfg->require_claims != NULL ||
	    cfg->require_acr != NULL || cfg->has_max_age || cfg->login_prompt;
}

size_t
ion_rules_eval(const struct ion_cfg *cfg, const json_t *claims, time_t now,
    time_t started, struct ion_rule_result out[ION_RULES_MAX])
{
	size_t n = 0;

	memset(out, 0, ION_RULES_MAX * sizeof(*out));
	if (cfg->require_groups != NULL) {
		out[n].rule = "require_groups";
		judge_groups(cfg, claims, &out[n++]);
	}
	if (cfg->require_claims != NULL) {
		out[n].rule = "require_claims";
		judge_claims(cfg, claims, &out[n++]);
	}
	if (cfg->require_acr != NULL) {
		out[n].rule = "require_acr";
		judge_acr(cfg, claims, &out[n++]);
	}
	if (cfg->has_max_age) {
		out[n].rule = "max_age";
		judge_auth_time(claims, now, started,
		    (int64_t)started - (int64_t)cfg->max_age, &out[n++]);
	}
	if (cfg->login_prompt) {
		out[n].rule = "login_prompt";
		judge_auth_time(
		    claims, now, started, (int64_t)started, &out[n++]);
	}
	return n;
}

int
ion_rules_check(const struct ion_cfg *cfg, const json_t *claims, time_t now,
    time_t started, char *why, size_t whylen)
{
	struct ion_rule_result res[ION_RULES_MAX];
	size_t i, n = ion_rules_eval(cfg, claims, now, started, res);

	for (i = 0; i < n; i++)
		if (!res[i].met) {
			if (why != NULL)
				snprintf(why, whylen,
				    "access rule %s not met: %s", res[i].rule,
				    res[i].why);
			return ION_ERR_AUTH;
		}
	return 0;
}

bool
ion_rules_need_userinfo(const struct ion_cfg *cfg, const json_t *claims)
{
	const char *p = cfg->require_claims, *w, *eq;
	char name[ION_CLAIM_NAME_MAX + 1];
	size_t len;

	if (cfg->require_groups != NULL &&
	    json_object_get(claims, cfg->groups_claim) == NULL)
		return true;
	while (p != NULL && ion_cfg_next_word(&p, &w, &len)) {
		eq = memchr(w, '=', len);
		snprintf(name, sizeof(name), "%.*s",
		    (int)(eq != NULL ? (size_t)(eq - w) : len), w);
		if (json_object_get(claims, name) == NULL)
			return true;
	}
	return false;
}
