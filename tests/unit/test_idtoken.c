/*
 * Unit tests of idtoken.h: the id_token claim checks, the userinfo merge,
 * and what a sign-in reads from the verified claims.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h wants stdarg.h, stddef.h, stdint.h and setjmp.h first. */
#include <cmocka.h>

#include "errors.h"
#include "idtoken.h"

#define NOW 1700000000
#define STARTED (NOW - 30)

/* The members of a good claim set, and the same set less one member. */
#define ISS "\"iss\":\"https://issuer.example\""
#define AUD "\"aud\":\"client-1\""
#define EXP "\"exp\":1700000600"
#define IAT "\"iat\":1699999990"
#define NONCE "\"nonce\":\"n-0123456789abcdef\""
#define SUB "\"sub\":\"248289761001\""
#define GOOD ISS "," AUD "," EXP "," IAT "," NONCE "," SUB
#define NO_ISS AUD "," EXP "," IAT "," NONCE "," SUB
#define NO_AUD ISS "," EXP "," IAT "," NONCE "," SUB
#define NO_EXP ISS "," AUD "," IAT "," NONCE "," SUB
#define NO_IAT ISS "," AUD "," EXP "," NONCE "," SUB
#define NO_NONCE ISS "," AUD "," EXP "," IAT "," SUB
#define NO_SUB ISS "," AUD "," EXP "," IAT "," NONCE
#define OBJ(members) "{" members "}"

#define S255                                                                   \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"     \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"     \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"     \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

static const struct {
	const char *name;
	const char *payload;
	int want;	 /* 0 or ION_ERR_* */
	const char *why; /* expected reason when want != 0 */
} cases[] = {
	{ "good", OBJ(GOOD), 0, NULL },
	{ "good, more claims", OBJ(GOOD ",\"email\":\"a@b.example\",\"x\":[1]"),
	    0, NULL },
	/* iss */
	{ "iss other", OBJ("\"iss\":\"https://evil.example\"," NO_ISS),
	    ION_ERR_AUTH, "iss mismatch" },
	{ "iss trailing slash",
	    OBJ("\"iss\":\"https://issuer.example/\"," NO_ISS), ION_ERR_AUTH,
	    "iss mismatch" },
	{ "iss case", OBJ("\"iss\":\"https://Issuer.example\"," NO_ISS),
	    ION_ERR_AUTH, "iss mismatch" },
	{ "iss number", OBJ("\"iss\":1," NO_ISS), ION_ERR_AUTH,
	    "iss mismatch" },
	{ "iss null", OBJ("\"iss\":null," NO_ISS), ION_ERR_AUTH,
	    "iss mismatch" },
	{ "iss missing", OBJ(NO_ISS), ION_ERR_AUTH, "iss missing" },
	/* aud and azp */
	{ "aud missing", OBJ(NO_AUD), ION_ERR_AUTH, "aud missing" },
	{ "aud other", OBJ("\"aud\":\"client-2\"," NO_AUD), ION_ERR_AUTH,
	    "aud mismatch" },
	{ "aud prefix", OBJ("\"aud\":\"client-10\"," NO_AUD), ION_ERR_AUTH,
	    "aud mismatch" },
	{ "aud array without client_id",
	    OBJ("\"aud\":[\"client-2\",\"client-3\"]," NO_AUD), ION_ERR_AUTH,
	    "aud mismatch" },
	{ "aud empty array", OBJ("\"aud\":[]," NO_AUD), ION_ERR_AUTH,
	    "aud mismatch" },
	{ "aud array of one", OBJ("\"aud\":[\"client-1\"]," NO_AUD), 0, NULL },
	{ "aud array with azp",
	    OBJ("\"aud\":[\"client-1\",\"api\"],\"azp\":\"client-1\"," NO_AUD),
	    0, NULL },
	{ "aud array without azp",
	    OBJ("\"aud\":[\"client-1\",\"api\"]," NO_AUD), ION_ERR_AUTH,
	    "azp missing" },
	{ "aud array, azp other",
	    OBJ("\"aud\":[\"client-1\",\"api\"],\"azp\":\"api\"," NO_AUD),
	    ION_ERR_AUTH, "azp mismatch" },
	{ "aud array with a number", OBJ("\"aud\":[\"client-1\",7]," NO_AUD),
	    ION_ERR_AUTH, "aud malformed" },
	{ "aud number", OBJ("\"aud\":1," NO_AUD), ION_ERR_AUTH,
	    "aud malformed" },
	{ "aud object", OBJ("\"aud\":{\"client-1\":1}," NO_AUD), ION_ERR_AUTH,
	    "aud malformed" },
	{ "azp mismatch", OBJ(GOOD ",\"azp\":\"client-2\""), ION_ERR_AUTH,
	    "azp mismatch" },
	{ "azp number", OBJ(GOOD ",\"azp\":1"), ION_ERR_AUTH, "azp mismatch" },
	{ "azp equal", OBJ(GOOD ",\"azp\":\"client-1\""), 0, NULL },
	/* exp */
	{ "exp missing", OBJ(NO_EXP), ION_ERR_AUTH, "exp missing" },
	{ "exp past", OBJ("\"exp\":1699999000," NO_EXP), ION_ERR_AUTH,
	    "expired" },
	{ "exp past the leeway", OBJ("\"exp\":1699999940," NO_EXP),
	    ION_ERR_AUTH, "expired" },
	{ "exp within the leeway", OBJ("\"exp\":1699999941," NO_EXP), 0, NULL },
	{ "exp string", OBJ("\"exp\":\"1700000600\"," NO_EXP), ION_ERR_AUTH,
	    "exp malformed" },
	{ "exp real", OBJ("\"exp\":1700000600.0," NO_EXP), ION_ERR_AUTH,
	    "exp malformed" },
	{ "exp exponent", OBJ("\"exp\":1.7000006e9," NO_EXP), ION_ERR_AUTH,
	    "exp malformed" },
	{ "exp negative", OBJ("\"exp\":-1," NO_EXP), ION_ERR_AUTH,
	    "exp malformed" },
	{ "exp huge", OBJ("\"exp\":9223372036854775807," NO_EXP), ION_ERR_AUTH,
	    "exp malformed" },
	{ "exp true", OBJ("\"exp\":true," NO_EXP), ION_ERR_AUTH,
	    "exp malformed" },
	/* iat */
	{ "iat missing", OBJ(NO_IAT), ION_ERR_AUTH, "iat missing" },
	{ "iat future", OBJ("\"iat\":1700000061," NO_IAT), ION_ERR_AUTH,
	    "iat in the future" },
	{ "iat future within the leeway", OBJ("\"iat\":1700000060," NO_IAT), 0,
	    NULL },
	{ "iat too old", OBJ("\"iat\":1699999909," NO_IAT), ION_ERR_AUTH,
	    "iat too old" },
	{ "iat old within the leeway", OBJ("\"iat\":1699999910," NO_IAT), 0,
	    NULL },
	{ "iat string", OBJ("\"iat\":\"1699999990\"," NO_IAT), ION_ERR_AUTH,
	    "iat malformed" },
	{ "iat real", OBJ("\"iat\":1699999990.5," NO_IAT), ION_ERR_AUTH,
	    "iat malformed" },
	/* nbf */
	{ "nbf future", OBJ(GOOD ",\"nbf\":1700000061"), ION_ERR_AUTH,
	    "not yet valid" },
	{ "nbf within the leeway", OBJ(GOOD ",\"nbf\":1700000060"), 0, NULL },
	{ "nbf past", OBJ(GOOD ",\"nbf\":1699999990"), 0, NULL },
	{ "nbf string", OBJ(GOOD ",\"nbf\":\"0\""), ION_ERR_AUTH,
	    "nbf malformed" },
	/* nonce */
	{ "nonce missing", OBJ(NO_NONCE), ION_ERR_AUTH, "nonce missing" },
	{ "nonce mismatch", OBJ("\"nonce\":\"n-0123456789abcdeF\"," NO_NONCE),
	    ION_ERR_AUTH, "nonce mismatch" },
	{ "nonce shorter", OBJ("\"nonce\":\"n-0123456789abcde\"," NO_NONCE),
	    ION_ERR_AUTH, "nonce mismatch" },
	{ "nonce longer", OBJ("\"nonce\":\"n-0123456789abcdef0\"," NO_NONCE),
	    ION_ERR_AUTH, "nonce mismatch" },
	{ "nonce empty", OBJ("\"nonce\":\"\"," NO_NONCE), ION_ERR_AUTH,
	    "nonce mismatch" },
	{ "nonce number", OBJ("\"nonce\":1," NO_NONCE), ION_ERR_AUTH,
	    "nonce malformed" },
	/* sub */
	{ "sub missing", OBJ(NO_SUB), ION_ERR_AUTH, "sub missing" },
	{ "sub empty", OBJ("\"sub\":\"\"," NO_SUB), ION_ERR_AUTH, "sub empty" },
	{ "sub number", OBJ("\"sub\":248289761001," NO_SUB), ION_ERR_AUTH,
	    "sub malformed" },
	{ "sub null", OBJ("\"sub\":null," NO_SUB), ION_ERR_AUTH,
	    "sub malformed" },
	{ "sub 255", OBJ("\"sub\":\"" S255 "\"," NO_SUB), 0, NULL },
	{ "sub 256", OBJ("\"sub\":\"" S255 "y\"," NO_SUB), ION_ERR_AUTH,
	    "sub too long" },
	/* the document itself */
	{ "duplicate sub", OBJ(GOOD ",\"sub\":\"other\""), ION_ERR_AUTH,
	    "claims malformed" },
	{ "duplicate iss", OBJ("\"iss\":\"https://evil.example\"," GOOD),
	    ION_ERR_AUTH, "claims malformed" },
	{ "not an object", "[" GOOD "]", ION_ERR_AUTH, "claims malformed" },
	{ "array", "[1,2]", ION_ERR_AUTH, "claims not an object" },
	{ "string", "\"x\"", ION_ERR_AUTH, "claims malformed" },
	{ "empty", "", ION_ERR_AUTH, "claims malformed" },
	{ "trailing data", OBJ(GOOD) "x", ION_ERR_AUTH, "claims malformed" },
	{ "two objects", OBJ(GOOD) OBJ(GOOD), ION_ERR_AUTH,
	    "claims malformed" },
	{ "NUL in a string", OBJ(GOOD ",\"x\":\"a\\u0000b\""), ION_ERR_AUTH,
	    "claims malformed" },
};

static struct ion_idtoken_expect
expect_default(void)
{
	struct ion_idtoken_expect e;

	memset(&e, 0, sizeof(e));
	e.issuer = "https://issuer.example";
	e.client_id = "client-1";
	e.nonce = "n-0123456789abcdef";
	e.now = NOW;
	e.login_started = STARTED;
	return e;
}

static void
test_table(void **state)
{
	struct ion_idtoken_expect e = expect_default();
	json_t *sentinel = json_object();
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *claims = sentinel;
		const char *why = "untouched";
		int r;

		r = ion_idtoken_check(cases[i].payload,
		    strlen(cases[i].payload), &e, &claims, &why);
		if (r != cases[i].want ||
		    (r != 0 && strcmp(why, cases[i].why) != 0))
			fail_msg("%s: got %d (%s), want %d (%s)", cases[i].name,
			    r, why, cases[i].want,
			    cases[i].why ? cases[i].why : "-");
		if (r == 0) {
			assert_string_equal(why, "untouched");
			assert_ptr_not_equal(claims, sentinel);
			assert_true(json_is_object(claims));
			json_decref(claims);
		} else
			assert_ptr_equal(claims, sentinel);
	}
	json_decref(sentinel);
}

/* The payload length is honoured: bytes past len are not read. */
static void
test_length_honoured(void **state)
{
	struct ion_idtoken_expect e = expect_default();
	const char *p = OBJ(GOOD) "garbage";
	json_t *claims = NULL;
	const char *why = NULL;

	(void)state;
	assert_int_equal(
	    ion_idtoken_check(p, strlen(OBJ(GOOD)), &e, &claims, &why), 0);
	assert_string_equal(
	    json_string_value(json_object_get(claims, "sub")), "248289761001");
	json_decref(claims);
	/* A cut-off payload does not parse. */
	assert_int_equal(
	    ion_idtoken_check(p, 10, &e, &claims, &why), ION_ERR_AUTH);
	assert_string_equal(why, "claims malformed");
}

/* The times are judged against expect's clock, not the system's. */
static void
test_clock_from_expect(void **state)
{
	struct ion_idtoken_expect e = expect_default();
	json_t *claims = NULL;
	const char *why = NULL;

	(void)state;
	e.now = NOW + 3600;
	assert_int_equal(
	    ion_idtoken_check(OBJ(GOOD), strlen(OBJ(GOOD)), &e, &claims, &why),
	    ION_ERR_AUTH);
	assert_string_equal(why, "expired");
	/* A login that began after the token was issued. */
	e = expect_default();
	e.login_started = NOW + 200;
	e.now = NOW + 200;
	assert_int_equal(
	    ion_idtoken_check(OBJ(GOOD), strlen(OBJ(GOOD)), &e, &claims, &why),
	    ION_ERR_AUTH);
	assert_string_equal(why, "iat too old");
}

static void
test_bad_expect(void **state)
{
	struct ion_idtoken_expect e = expect_default();
	json_t *claims = NULL;
	const char *why = NULL;

	(void)state;
	e.nonce = NULL;
	assert_int_equal(
	    ion_idtoken_check(OBJ(GOOD), strlen(OBJ(GOOD)), &e, &claims, &why),
	    ION_ERR_INVALID);
	e = expect_default();
	e.nonce = "";
	assert_int_equal(
	    ion_idtoken_check(OBJ(GOOD), strlen(OBJ(GOOD)), &e, &claims, NULL),
	    ION_ERR_INVALID);
	e = expect_default();
	e.issuer = NULL;
	assert_int_equal(
	    ion_idtoken_check(OBJ(GOOD), strlen(OBJ(GOOD)), &e, &claims, &why),
	    ION_ERR_INVALID);
	assert_null(claims);
	assert_int_equal(
	    ion_idtoken_check(NULL, 0, &e, &claims, &why), ION_ERR_INVALID);
}

static json_t *
good_claims(void)
{
	struct ion_idtoken_expect e = expect_default();
	json_t *claims = NULL;
	const char *p = OBJ(GOOD ",\"email\":\"signed@example\"");

	assert_int_equal(ion_idtoken_check(p, strlen(p), &e, &claims, NULL), 0);
	return claims;
}

static json_t *
parse(const char *s)
{
	json_t *v = json_loads(s, 0, NULL);

	assert_non_null(v);
	return v;
}

static void
test_merge(void **state)
{
	json_t *claims = good_claims();
	json_t *ui = parse("{\"sub\":\"248289761001\",\"email\":\"other@x\","
			   "\"iss\":\"https://evil.example\","
			   "\"email_verified\":true,\"name\":\"Alice\"}");
	const char *why = "untouched";

	(void)state;
	assert_int_equal(ion_idtoken_merge_userinfo(claims, ui, &why), 0);
	assert_string_equal(why, "untouched");
	/* The id_token's claims are never overridden... */
	assert_string_equal(json_string_value(json_object_get(claims, "iss")),
	    "https://issuer.example");
	/*
	 * ...but for a lone email: the id_token had no email_verified, so
	 * the pair comes from userinfo, never its flag for the token's
	 * address.
	 */
	assert_string_equal(
	    json_string_value(json_object_get(claims, "email")), "other@x");
	assert_true(json_is_true(json_object_get(claims, "email_verified")));
	/* ...missing ones are added. */
	assert_string_equal(
	    json_string_value(json_object_get(claims, "name")), "Alice");
	/* Copied, not shared: changing userinfo later changes nothing. */
	json_object_set_new(ui, "name", json_string("Mallory"));
	assert_string_equal(
	    json_string_value(json_object_get(claims, "name")), "Alice");
	json_decref(ui);
	json_decref(claims);
}

/*
 * email and email_verified from one source: the id_token's whole pair,
 * else userinfo's whole pair, else neither.
 */
static const struct {
	const char *idtoken; /* extra id_token members */
	const char *userinfo;
	const char *email; /* NULL: absent */
	int verified;	   /* -1: absent, else the boolean */
} email_pairs[] = {
	/* the id_token has both: userinfo changes neither */
	{ ",\"email\":\"a@x\",\"email_verified\":false",
	    "{\"sub\":\"248289761001\",\"email\":\"b@x\","
	    "\"email_verified\":true}",
	    "a@x", 0 },
	{ ",\"email\":\"a@x\",\"email_verified\":true",
	    "{\"sub\":\"248289761001\"}", "a@x", 1 },
	/* the id_token lacks one: userinfo's whole pair, or neither */
	{ ",\"email\":\"a@x\"",
	    "{\"sub\":\"248289761001\",\"email\":\"b@x\","
	    "\"email_verified\":true}",
	    "b@x", 1 },
	{ ",\"email\":\"a@x\"",
	    "{\"sub\":\"248289761001\",\"email_verified\":true}", NULL, -1 },
	{ ",\"email\":\"a@x\"", "{\"sub\":\"248289761001\"}", NULL, -1 },
	{ ",\"email_verified\":true",
	    "{\"sub\":\"248289761001\",\"email\":\"b@x\"}", NULL, -1 },
	{ ",\"email_verified\":false",
	    "{\"sub\":\"248289761001\",\"email\":\"b@x\","
	    "\"email_verified\":false}",
	    "b@x", 0 },
	{ "",
	    "{\"sub\":\"248289761001\",\"email\":\"b@x\","
	    "\"email_verified\":true}",
	    "b@x", 1 },
	{ "", "{\"sub\":\"248289761001\",\"email\":\"b@x\"}", NULL, -1 },
	{ "", "{\"sub\":\"248289761001\",\"email_verified\":true}", NULL, -1 },
};

static void
test_email_pair(void **state)
{
	char payload[1024];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(email_pairs) / sizeof(email_pairs[0]); i++) {
		struct ion_idtoken_expect e = expect_default();
		json_t *claims = NULL, *ui, *em, *ev;
		const char *why = NULL;

		snprintf(payload, sizeof(payload), "{%s%s}", GOOD,
		    email_pairs[i].idtoken);
		assert_int_equal(ion_idtoken_check(payload, strlen(payload), &e,
				     &claims, NULL),
		    0);
		ui = parse(email_pairs[i].userinfo);
		assert_int_equal(
		    ion_idtoken_merge_userinfo(claims, ui, &why), 0);
		em = json_object_get(claims, "email");
		ev = json_object_get(claims, "email_verified");
		if (email_pairs[i].email == NULL)
			assert_null(em);
		else
			assert_string_equal(
			    json_string_value(em), email_pairs[i].email);
		if (email_pairs[i].verified < 0)
			assert_null(ev);
		else
			assert_int_equal(
			    json_is_true(ev), email_pairs[i].verified);
		json_decref(ui);
		json_decref(claims);
	}
}

static const struct {
	const char *userinfo;
	const char *why;
} bad_userinfo[] = {
	{ "{\"sub\":\"someone-else\",\"name\":\"Mallory\"}",
	    "userinfo sub mismatch" },
	{ "{\"sub\":\"248289761001 \",\"name\":\"Mallory\"}",
	    "userinfo sub mismatch" },
	{ "{\"sub\":248289761001,\"name\":\"Mallory\"}",
	    "userinfo sub mismatch" },
	{ "{\"name\":\"Mallory\"}", "userinfo sub missing" },
	{ "[{\"sub\":\"248289761001\"}]", "userinfo not an object" },
};

static void
test_merge_refused(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_userinfo) / sizeof(bad_userinfo[0]); i++) {
		json_t *claims = good_claims();
		json_t *ui = parse(bad_userinfo[i].userinfo);
		const char *why = NULL;
		size_t before = json_object_size(claims);

		assert_int_equal(
		    ion_idtoken_merge_userinfo(claims, ui, &why), ION_ERR_AUTH);
		assert_string_equal(why, bad_userinfo[i].why);
		/* Nothing of a refused answer is taken. */
		assert_int_equal(json_object_size(claims), before);
		assert_null(json_object_get(claims, "name"));
		json_decref(ui);
		json_decref(claims);
	}
}

/* When the claims cannot name the account by themselves. */
static void
test_needs_userinfo(void **state)
{
	static const struct {
		bool needs;
		const char *user_claim, *claims;
	} users[] = {
		{ false, "sub", "{\"sub\":\"1\"}" },
		{ true, "preferred_username", "{\"sub\":\"1\"}" },
		{ false, "preferred_username",
		    "{\"sub\":\"1\",\"preferred_username\":\"al\"}" },
		/* present is enough: the user map judges the value */
		{ false, "preferred_username",
		    "{\"sub\":\"1\",\"preferred_username\":null}" },
		{ false, "preferred_username",
		    "{\"sub\":\"1\",\"preferred_username\":7}" },
		/* email goes with email_verified */
		{ true, "email", "{\"sub\":\"1\"}" },
		{ true, "email", "{\"sub\":\"1\",\"email\":\"a@b\"}" },
		{ true, "email", "{\"sub\":\"1\",\"email_verified\":true}" },
		{ false, "email",
		    "{\"sub\":\"1\",\"email\":\"a@b\",\"email_verified\":"
		    "false}" },
		{ false, "email",
		    "{\"sub\":\"1\",\"email\":\"a@b\",\"email_verified\":"
		    "true}" },
		/* only "email" pairs: another claim wants nothing more */
		{ false, "upn", "{\"sub\":\"1\",\"upn\":\"a@b\"}" },
		{ false, "Email", "{\"sub\":\"1\",\"Email\":\"a@b\"}" },
	};
	json_t *claims;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		claims = parse(users[i].claims);
		if (ion_idtoken_needs_userinfo(claims, users[i].user_claim) !=
		    users[i].needs)
			fail_msg("case %zu (%s, %s): expected %d", i,
			    users[i].claims, users[i].user_claim,
			    users[i].needs);
		json_decref(claims);
	}
}

/* ion_idtoken_subject() of claims_text into outlen bytes is want. */
static void
assert_subject(const char *claims_text, size_t outlen, const char *want)
{
	json_t *claims = parse(claims_text);
	char out[128];

	memset(out, 'z', sizeof(out));
	assert_ptr_equal(ion_idtoken_subject(claims, out, outlen), out);
	if (strcmp(out, want) != 0)
		fail_msg("%s: \"%s\", expected \"%s\"", claims_text, out, want);
	json_decref(claims);
}

/* The sub as the log shows it: printable, cut to fit, "" without one. */
static void
test_subject(void **state)
{
	char out[16];

	(void)state;
	assert_subject("{\"sub\":\"248289761001\"}", 128, "248289761001");
	assert_subject("{\"sub\":\"a\\nb\\u001b[31m\"}", 128, "a?b?[31m");
	assert_subject("{\"sub\":\"caf\\u00e9\"}", 128, "caf??");
	/* one word: a sub cannot imitate the outcome line's other fields */
	assert_subject(
	    "{\"sub\":\"x, service sshd)\"}", 128, "x,?service?sshd)");
	assert_subject("{\"sub\":\"0123456789\"}", 8, "0123...");
	assert_subject("{\"sub\":\"0123456\"}", 8, "0123456");
	/* No string sub: nothing to show. */
	assert_subject("{\"sub\":12}", 128, "");
	assert_subject("{\"sub\":null}", 128, "");
	assert_subject("{\"email\":\"a@b\"}", 128, "");
	assert_string_equal(ion_idtoken_subject(NULL, out, sizeof(out)), "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_length_honoured),
		cmocka_unit_test(test_clock_from_expect),
		cmocka_unit_test(test_bad_expect),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_merge_refused),
		cmocka_unit_test(test_email_pair),
		cmocka_unit_test(test_needs_userinfo),
		cmocka_unit_test(test_subject),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
