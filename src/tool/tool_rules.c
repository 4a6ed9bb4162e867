/* pam-ion check: the access rules; the contract is in tool_rules.h. */
#include "tool_rules.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "logsafe.h"

#define WHAT_MAX 512

static void emit(const struct tool_findings *out, const char *level,
    const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
emit(const struct tool_findings *out, const char *level, const char *fix,
    const char *fmt, ...)
{
	char what[WHAT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	out->emit(out->ctx, level, fix, what);
}

/* Whether the space-separated list holds the len bytes at w. */
static bool
list_has(const char *list, const char *w, size_t len)
{
	const char *p = list, *x;
	size_t xlen;

	while (list != NULL && ion_cfg_next_word(&p, &x, &xlen))
		if (xlen == len && memcmp(x, w, len) == 0)
			return true;
	return false;
}

/* Whether the JSON array of strings holds the len bytes at w. */
static bool
advertises(const json_t *array, const char *w, size_t len)
{
	const json_t *v;
	size_t i;

	for (i = 0; i < json_array_size(array); i++) {
		v = json_array_get(array, i);
		if (json_string_length(v) == len &&
		    memcmp(json_string_value(v), w, len) == 0)
			return true;
	}
	return false;
}

/* The line saying which rules are used. */
static void
rules_used(const struct ion_cfg *cfg, const struct tool_findings *out)
{
	char used[WHAT_MAX], claim[64];
	size_t n = 0;

	used[0] = '\0';
	if (cfg->require_groups != NULL)
		n += (size_t)snprintf(used + n, sizeof(used) - n,
		    ", require_groups (claim %s)",
		    ion_log_safe(
			cfg->groups_claim, SIZE_MAX, claim, sizeof(claim)));
	if (cfg->require_claims != NULL && n < sizeof(used))
		n += (size_t)snprintf(
		    used + n, sizeof(used) - n, ", require_claims");
	if (cfg->require_acr != NULL && n < sizeof(used))
		n += (size_t)snprintf(
		    used + n, sizeof(used) - n, ", require_acr");
	if (cfg->has_max_age && n < sizeof(used))
		n += (size_t)snprintf(
		    used + n, sizeof(used) - n, ", max_age %u s", cfg->max_age);
	if (cfg->login_prompt && n < sizeof(used))
		n += (size_t)snprintf(
		    used + n, sizeof(used) - n, ", login_prompt");
	if (n == 0)
		emit(out, "ok", NULL,
		    "access rules: none; anyone whose identity maps to the "
		    "account signs in");
	else
		emit(out, "ok", NULL,
		    "access rules: %s, judged at every "
		    "sign-in",
		    used + 2);
}

/* acr_values asks, require_acr verifies: each without the other. */
static void
acr_pairing(const struct ion_cfg *cfg, const struct tool_findings *out)
{
	const char *p = cfg->require_acr, *w;
	char safe[64], copy[64];
	size_t len;

	if (cfg->acr_values != NULL && cfg->require_acr == NULL)
		emit(out, "warn",
		    "add require_acr with the values the sign-in must have",
		    "access rules: acr_values only asks the provider; nothing "
		    "checks the acr it returns");
	while (p != NULL && ion_cfg_next_word(&p, &w, &len))
		if (!list_has(cfg->acr_values, w, len)) {
			snprintf(copy, sizeof(copy), "%.*s", (int)len, w);
			emit(out, "warn",
			    "add it to acr_values, so the provider is asked "
			    "for it",
			    "access rules: require_acr %s is not asked for "
			    "in acr_values",
			    ion_log_safe(copy, SIZE_MAX, safe, sizeof(safe)));
		}
}

/* A claim a rule needs, against discovery's claims_supported. */
static void
claim_advertised(const json_t *supported, const char *name, size_t len,
    const char *rule, const struct tool_findings *out)
{
	char copy[64], safe[64];

	if (supported == NULL || advertises(supported, name, len))
		return;
	snprintf(copy, sizeof(copy), "%.*s", (int)len, name);
	emit(out, "warn",
	    "check the claim's name, and the scope that brings it "
	    "(a provider may issue claims it does not list)",
	    "access rules: %s needs claim %s, which the provider does not "
	    "list in claims_supported",
	    rule, ion_log_safe(copy, SIZE_MAX, safe, sizeof(safe)));
}

/* What the provider advertises against what the rules need. */
static void
provider_lists(const struct ion_cfg *cfg, const struct ion_provider *p,
    const struct tool_findings *out)
{
	const char *w, *eq, *q;
	char copy[64], safe[64];
	size_t len;

	if (cfg->require_groups != NULL)
		claim_advertised(p->claims_supported, cfg->groups_claim,
		    strlen(cfg->groups_claim), "require_groups", out);
	q = cfg->require_claims;
	while (q != NULL && ion_cfg_next_word(&q, &w, &len)) {
		eq = memchr(w, '=', len);
		claim_advertised(p->claims_supported, w,
		    eq != NULL ? (size_t)(eq - w) : len, "require_claims", out);
	}
	if (cfg->has_max_age)
		claim_advertised(
		    p->claims_supported, "auth_time", 9, "max_age", out);
	if (cfg->login_prompt)
		claim_advertised(
		    p->claims_supported, "auth_time", 9, "login_prompt", out);
	q = cfg->require_acr;
	while (q != NULL && p->acr_values_supported != NULL &&
	    ion_cfg_next_word(&q, &w, &len))
		if (!advertises(p->acr_values_supported, w, len)) {
			snprintf(copy, sizeof(copy), "%.*s", (int)len, w);
			emit(out, "warn",
			    "ask the provider which acr values it issues",
			    "access rules: require_acr %s is not in the "
			    "provider's acr_values_supported",
			    ion_log_safe(copy, SIZE_MAX, safe, sizeof(safe)));
		}
}

/*
 * max_age and login_prompt travel in the link the phone opens unless
 * they are pushed: a person who strips them from it and has an iON
 * session proves only a sign-in within the leeway before this one.
 */
static void
freshness_pushed(const struct ion_cfg *cfg, const struct ion_provider *p,
    const struct tool_findings *out)
{
	if ((!cfg->has_max_age && !cfg->login_prompt) ||
	    cfg->par == ION_PAR_REQUIRED)
		return;
	emit(out, "warn",
	    p != NULL && p->par_endpoint != NULL
		? "set par = required: the provider offers pushed "
		  "authorization requests"
		: "ask the provider for pushed authorization requests (PAR), "
		  "then set par = required",
	    "access rules: without par = required, max_age and login_prompt "
	    "are in the link the phone opens; stripped from it, they prove "
	    "only a sign-in at iON up to 60 s before this one started");
}

void
tool_rules_check(const struct ion_cfg *cfg, const struct ion_provider *p,
    const struct tool_findings *out)
{
	rules_used(cfg, out);
	acr_pairing(cfg, out);
	if (p != NULL)
		provider_lists(cfg, p, out);
	freshness_pushed(cfg, p, out);
}
