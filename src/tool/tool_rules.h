/*
 * pam-ion check's look at the access rules (rules.h): which ones the
 * configuration uses, what in it can never be verified or never be met,
 * and what the provider's discovery advertises against them.
 *
 * The findings (see pam-ion(8)):
 *   - ok: the rules used, or that none is (anyone whose identity maps to
 *     the account signs in);
 *   - warn: acr_values without require_acr (asked, never verified);
 *     require_acr with a value acr_values does not ask for (or without
 *     acr_values); a require_acr value the provider does not list in
 *     acr_values_supported; a claim a rule needs (groups_claim, a
 *     require_claims name, auth_time for max_age and login_prompt) that
 *     the provider does not list in claims_supported; max_age or
 *     login_prompt without par = required (the phone can strip them
 *     from the link it opens).
 * Discovery's lists are advice only: a provider may issue what it does not
 * advertise, so these are warnings, never failures.
 */
#ifndef ION_TOOL_RULES_H
#define ION_TOOL_RULES_H

#include "config.h"
#include "oidc.h"
#include "tool.h"

/*
 * Judges cfg's access rules; p is the provider as discovered, or NULL
 * when discovery could not be read (then only the configuration is
 * judged).  Every finding goes to out.
 */
void tool_rules_check(const struct ion_cfg *cfg, const struct ion_provider *p,
    const struct tool_findings *out);

#endif
