/*
 * The access rules of pam_ion.conf on a sign-in's verified claims (the
 * id_token's, with what userinfo filled in): who may sign in where.
 *
 * Each rule is used only when its key is given, and they are judged in
 * this order:
 *   require_groups  the claim groups_claim is a JSON array of strings
 *                   holding at least one of the names (exact bytes, after
 *                   the name's %XX escapes: ion_cfg_unescape()).  A
 *                   missing claim, a claim of another type, or an array
 *                   with any element that is not a string: not a member.
 *   require_claims  every NAME=VALUE pair holds (VALUE after its %XX
 *                   escapes): a JSON string equal to VALUE byte for byte;
 *                   true or false when VALUE is "true" or "false"; an
 *                   integer when VALUE is its decimal form (no leading
 *                   zeros or '+'); an array when one of its elements
 *                   holds.  null, reals, objects, arrays in arrays and a
 *                   missing claim never hold.  A NAME given twice must
 *                   hold for each VALUE.
 *   require_acr     the claim acr is a string equal to one of the values.
 *   max_age         auth_time is a JSON integer, not later than now plus
 *                   ION_IDTOKEN_LEEWAY_S, and not earlier than max_age
 *                   (plus that leeway) before the sign-in started: OpenID
 *                   Connect Core 3.1.2.1 counts the time elapsed at the
 *                   request, so what the person does after iON (typing
 *                   the confirmation code) is not counted against them.
 *   login_prompt    as max_age = 0: prompt=login asks iON to sign the
 *                   person in again, and this checks that it did.
 * acr_values is a request to the provider only (the authorize request,
 * oidc.c); require_acr verifies what it asks for.
 *
 * The reasons are short, static or built from the configured names
 * only: never a claim's value, which may be long or personal.
 */
#ifndef ION_RULES_H
#define ION_RULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config.h"

#define ION_RULES_MAX 5
#define ION_RULE_WHY_MAX 128

struct ion_rule_result {
	const char *rule; /* the key: "require_groups", "max_age", ... */
	bool met;
	char why[ION_RULE_WHY_MAX]; /* what held, or what did not */
};

/* Whether cfg uses any rule that is judged on the claims. */
bool ion_rules_any(const struct ion_cfg *cfg);

/*
 * Judges every rule cfg uses on claims at time now, for a sign-in that
 * started at started, in the order above, into out; returns how many (0
 * when cfg uses none).
 */
size_t ion_rules_eval(const struct ion_cfg *cfg, const json_t *claims,
    time_t now, time_t started, struct ion_rule_result out[ION_RULES_MAX]);

/*
 * 0 when every rule cfg uses holds (also when it uses none).  Otherwise
 * ION_ERR_AUTH and why (always set when not NULL, whylen > 0) is
 * "access rule KEY not met: REASON" of the first rule that fails.
 */
int ion_rules_check(const struct ion_cfg *cfg, const json_t *claims, time_t now,
    time_t started, char *why, size_t whylen);

/*
 * Whether require_groups or require_claims needs a claim that claims
 * lacks, so userinfo should be asked (it fills only what is missing, and
 * never acr or auth_time: idtoken.h).
 */
bool ion_rules_need_userinfo(const struct ion_cfg *cfg, const json_t *claims);

#endif
