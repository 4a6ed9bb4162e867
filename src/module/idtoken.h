/*
 * The claim checks of OpenID Connect Core 3.1.3.7 on a verified id_token's
 * payload: iss exactly the issuer; aud contains client_id, and with several
 * audiences azp must be present and equal client_id (an azp, when present,
 * must equal client_id anyway); exp in the future, iat not in the future
 * and not older than the login, nbf (when present) not in the future, each
 * with ION_IDTOKEN_LEEWAY_S; nonce present and equal (constant time); sub a
 * non-empty string of at most 255 bytes.  The payload is parsed with
 * duplicate keys refused.  exp, iat and nbf must be JSON integers in
 * [0, 253402300799]: reals, even whole ones, are refused.
 *
 * Also what a sign-in reads from the verified claims afterwards: whether
 * userinfo is needed, and the sub for the log.
 */
#ifndef ION_IDTOKEN_H
#define ION_IDTOKEN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define ION_IDTOKEN_LEEWAY_S 60

struct ion_idtoken_expect {
	const char *issuer;
	const char *client_id;
	const char *nonce;
	time_t now;
	time_t login_started; /* iat may not be earlier than this - leeway */
};

/*
 * Checks payload; on success *ret_claims is the claims object (new
 * reference).  ION_ERR_AUTH with why set to a short, static, log-safe
 * reason ("iss mismatch", "expired", …) on any failed check;
 * ION_ERR_INVALID when expect lacks issuer, client_id or nonce;
 * ION_ERR_NOMEM.  why (may be NULL) is written only on failure.
 */
int ion_idtoken_check(const char *payload, size_t len,
    const struct ion_idtoken_expect *expect, json_t **ret_claims,
    const char **why);

/*
 * Merges userinfo claims into the verified claims: only claims the
 * id_token lacks are taken, and userinfo's sub must equal the id_token's
 * (else ION_ERR_AUTH, claims untouched).  email and email_verified go as a
 * pair from one source: when the id_token has both, userinfo changes
 * neither; else both come from userinfo (replacing the id_token's one)
 * when it has both, and otherwise the claims end up with neither.  The
 * claims about the token or its sign-in are never taken from userinfo:
 * iss, aud, exp, iat, nbf, jti, azp, nonce, at_hash, c_hash, sid,
 * auth_time, acr and amr.  userinfo is
 * copied, not shared. On ION_ERR_NOMEM claims may hold part of the merge: fail
 * the login. why as for ion_idtoken_check().
 */
int ion_idtoken_merge_userinfo(
    json_t *claims, const json_t *userinfo, const char **why);

/*
 * Whether the local account cannot be found from claims alone, so that
 * userinfo should be asked (ion_idtoken_merge_userinfo()): true when
 * claims lack user_claim, or when user_claim is "email" and claims lack
 * email_verified (the user map needs both, see usermap.h).
 */
bool ion_idtoken_needs_userinfo(const json_t *claims, const char *user_claim);

/*
 * The verified claims' sub made fit for a log line (ion_log_safe(): at
 * most outlen - 1 bytes, "..." when cut; spaces too as '?', so it stays
 * one word) into out, for administrators who map by it; "" when there is
 * no string sub.  outlen must be at least 4.  Returns out.
 */
const char *ion_idtoken_subject(const json_t *claims, char *out, size_t outlen);

#endif
