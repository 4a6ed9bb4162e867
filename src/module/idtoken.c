/*
 * id_token claim checks (OpenID Connect Core 3.1.3.7).
 *
 * Times must be JSON integers: RFC 7519 allows fractional NumericDates, but
 * providers send whole seconds, and refusing reals (even whole ones such as
 * 1700000000.0) keeps float rounding out of every comparison.  They must
 * also lie in [0, 253402300799] (the year 9999), so that no arithmetic on
 * them can overflow a time_t.
 */
#include "idtoken.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "crypto.h"
#include "errors.h"
#include "logsafe.h"

#define TIME_MAX 253402300799LL /* 9999-12-31T23:59:59Z */
#define SUB_MAX 255		/* OpenID Connect Core 2: at most 255 ASCII */

enum tval { T_ABSENT, T_BAD, T_OK };

static enum tval
get_time(const json_t *claims, const char *name, json_int_t *ret)
{
	const json_t *v = json_object_get(claims, name);
	json_int_t t;

	if (v == NULL)
		return T_ABSENT;
	if (!json_is_integer(v))
		return T_BAD;
	t = json_integer_value(v);
	if (t < 0 || t > TIME_MAX)
		return T_BAD;
	*ret = t;
	return T_OK;
}

static bool
string_is(const json_t *v, const char *want)
{
	return json_is_string(v) && strcmp(json_string_value(v), want) == 0;
}

/* The audience checks; NULL when they pass, else the reason. */
static const char *
check_aud(const json_t *claims, const char *client_id)
{
	const json_t *aud = json_object_get(claims, "aud");
	const json_t *azp = json_object_get(claims, "azp");
	size_t i;
	bool found = false;

	if (aud == NULL)
		return "aud missing";
	if (json_is_string(aud)) {
		if (strcmp(json_string_value(aud), client_id) != 0)
			return "aud mismatch";
	} else if (json_is_array(aud)) {
		for (i = 0; i < json_array_size(aud); i++) {
			const json_t *a = json_array_get(aud, i);

			if (!json_is_string(a))
				return "aud malformed";
			if (strcmp(json_string_value(a), client_id) == 0)
				found = true;
		}
		if (!found)
			return "aud mismatch";
		/* Several audiences: azp says which party it was for. */
		if (json_array_size(aud) > 1 && azp == NULL)
			return "azp missing";
	} else
		return "aud malformed";
	if (azp != NULL && !string_is(azp, client_id))
		return "azp mismatch";
	return NULL;
}

/*
 * A time that must be there: NULL when it is fine, else missing or
 * malformed (one reason per claim, so the log says which was wrong).
 */
static const char *
required_time(const json_t *claims, const char *name, const char *missing,
    const char *malformed, json_int_t *ret)
{
	switch (get_time(claims, name, ret)) {
	case T_ABSENT:
		return missing;
	case T_BAD:
		return malformed;
	case T_OK:
		break;
	}
	return NULL;
}

/* The time checks at expect->now, each with the leeway; NULL when fine. */
static const char *
check_times(const json_t *claims, const struct ion_idtoken_expect *expect)
{
	json_int_t exp = 0, iat = 0, nbf = 0;
	long long now = (long long)expect->now;
	long long started = (long long)expect->login_started;
	const char *why;

	if ((why = required_time(
		 claims, "exp", "exp missing", "exp malformed", &exp)) != NULL)
		return why;
	if (exp <= now - ION_IDTOKEN_LEEWAY_S)
		return "expired";
	if ((why = required_time(
		 claims, "iat", "iat missing", "iat malformed", &iat)) != NULL)
		return why;
	if (iat > now + ION_IDTOKEN_LEEWAY_S)
		return "iat in the future";
	/* Issued before this login began: not a token for this login. */
	if (iat < started - ION_IDTOKEN_LEEWAY_S)
		return "iat too old";
	switch (get_time(claims, "nbf", &nbf)) {
	case T_ABSENT:
		break;
	case T_BAD:
		return "nbf malformed";
	case T_OK:
		if (nbf > now + ION_IDTOKEN_LEEWAY_S)
			return "not yet valid";
		break;
	}
	return NULL;
}

static const char *
check_nonce(const json_t *claims, const char *nonce)
{
	const json_t *v = json_object_get(claims, "nonce");
	size_t len = strlen(nonce);

	if (v == NULL)
		return "nonce missing";
	if (!json_is_string(v))
		return "nonce malformed";
	/* Lengths are not secret; the bytes are compared in constant time. */
	if (json_string_length(v) != len ||
	    !ion_ct_equal(json_string_value(v), nonce, len))
		return "nonce mismatch";
	return NULL;
}

static const char *
check_sub(const json_t *claims)
{
	const json_t *v = json_object_get(claims, "sub");

	if (v == NULL)
		return "sub missing";
	if (!json_is_string(v))
		return "sub malformed";
	if (json_string_length(v) == 0)
		return "sub empty";
	if (json_string_length(v) > SUB_MAX)
		return "sub too long";
	return NULL;
}

int
ion_idtoken_check(const char *payload, size_t len,
    const struct ion_idtoken_expect *expect, json_t **ret_claims,
    const char **why)
{
	json_t *claims = NULL;
	json_error_t jerr;
	const char *reason = NULL;
	int r = ION_ERR_INVALID;

	if (payload == NULL || expect == NULL || expect->issuer == NULL ||
	    expect->client_id == NULL || expect->nonce == NULL ||
	    *expect->nonce == '\0') {
		reason = "bad arguments";
		goto out;
	}
	r = ION_ERR_AUTH;
	if ((claims = json_loadb(
		 payload, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		if (json_error_code(&jerr) == json_error_out_of_memory)
			r = ION_ERR_NOMEM;
		reason = "claims malformed";
		goto out;
	}
	if (!json_is_object(claims)) {
		reason = "claims not an object";
		goto out;
	}
	if (json_object_get(claims, "iss") == NULL) {
		reason = "iss missing";
		goto out;
	}
	if (!string_is(json_object_get(claims, "iss"), expect->issuer)) {
		reason = "iss mismatch";
		goto out;
	}
	if ((reason = check_aud(claims, expect->client_id)) != NULL ||
	    (reason = check_times(claims, expect)) != NULL ||
	    (reason = check_nonce(claims, expect->nonce)) != NULL ||
	    (reason = check_sub(claims)) != NULL)
		goto out;
	*ret_claims = claims;
	claims = NULL; /* transferred */
	r = 0;
out:
	if (r != 0 && why != NULL)
		*why = reason != NULL ? reason : "failed";
	json_decref(claims);
	return r;
}

int
ion_idtoken_merge_userinfo(
    json_t *claims, const json_t *userinfo, const char **why)
{
	static const char *const token_only[] = { "iss", "aud", "exp", "iat",
		"nbf", "jti", "azp", "nonce", "at_hash", "c_hash", "sid",
		"auth_time", "acr", "amr" };
	json_t *copy = NULL, *v;
	const json_t *sub, *usub;
	size_t i;
	const char *key, *reason = NULL;
	bool id_pair, ui_pair;
	int r = ION_ERR_INVALID;

	if (!json_is_object(claims)) {
		reason = "bad arguments";
		goto out;
	}
	r = ION_ERR_AUTH;
	if (!json_is_object(userinfo)) {
		reason = "userinfo not an object";
		goto out;
	}
	sub = json_object_get(claims, "sub");
	usub = json_object_get(userinfo, "sub");
	if (usub == NULL) {
		reason = "userinfo sub missing";
		goto out;
	}
	/* OpenID Connect Core 5.3.2: else the answer must not be used. */
	if (!json_is_string(sub) || !json_is_string(usub) ||
	    strcmp(json_string_value(sub), json_string_value(usub)) != 0) {
		reason = "userinfo sub mismatch";
		goto out;
	}
	/* A copy, since iterating and sharing values needs non-const. */
	r = ION_ERR_NOMEM;
	if ((copy = json_deep_copy(userinfo)) == NULL) {
		reason = "out of memory";
		goto out;
	}
	/*
	 * email and email_verified are one fact: "this address, verified".
	 * Taken from one source, so a verified flag from one answer never
	 * vouches for an address from the other.  The id_token's pair wins;
	 * without a whole pair there, userinfo's whole pair replaces what the
	 * id_token had, or neither is kept.
	 */
	id_pair = json_object_get(claims, "email") != NULL &&
	    json_object_get(claims, "email_verified") != NULL;
	ui_pair = json_object_get(copy, "email") != NULL &&
	    json_object_get(copy, "email_verified") != NULL;
	if (!id_pair) {
		(void)json_object_del(claims, "email");
		(void)json_object_del(claims, "email_verified");
	}
	if (id_pair || !ui_pair) {
		(void)json_object_del(copy, "email");
		(void)json_object_del(copy, "email_verified");
	}
	/*
	 * The claims that describe the token or the sign-in it was issued
	 * for (acr, amr and auth_time, which the access rules judge:
	 * rules.h) mean something only in the id_token, bound to this
	 * sign-in by the nonce.
	 */
	for (i = 0; i < sizeof(token_only) / sizeof(token_only[0]); i++)
		(void)json_object_del(copy, token_only[i]);
	json_object_foreach(copy, key, v)
	{
		/* The signed id_token's claims always win. */
		if (json_object_get(claims, key) != NULL)
			continue;
		if (json_object_set(claims, key, v) != 0) {
			reason = "out of memory";
			goto out;
		}
	}
	r = 0;
out:
	if (r != 0 && why != NULL)
		*why = reason;
	json_decref(copy);
	return r;
}

bool
ion_idtoken_needs_userinfo(const json_t *claims, const char *user_claim)
{
	if (json_object_get(claims, user_claim) == NULL)
		return true;
	return strcmp(user_claim, "email") == 0 &&
	    json_object_get(claims, "email_verified") == NULL;
}

const char *
ion_idtoken_subject(const json_t *claims, char *out, size_t outlen)
{
	char *p;

	ion_log_safe(json_string_value(json_object_get(claims, "sub")),
	    SIZE_MAX, out, outlen);
	/* One word in the log line: a sub cannot imitate its other fields. */
	for (p = out; *p != '\0'; p++)
		if (*p == ' ')
			*p = '?';
	return out;
}
