/*
 * Unit tests of config.h: pam_ion.conf and module arguments.  Run as root
 * (as CI does): the tests chown files to uid 1 to provoke ownership errors.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka.h wants stdarg.h, stddef.h, stdint.h and setjmp.h first. */
#include <cmocka.h>

#include "config.h"
#include "errors.h"
#include "fixture.h"
#include "logsafe.h"

#define OTHER_UID 1 /* daemon */
#define SECRET "s3cret-Value/+="
#define RELAY "https://relay.example"
/* A key as pam-ion-relay --new-client-key makes it: 43 characters. */
#define KEY "Zm9yIHRoZSByZWxheSBvbmx5OiB0aGlzIGhvc3QncyBr"
#define MAX_ARGS 32

/* A NULL-terminated list of arguments (after config=PATH). */
#define ARGS(...) ((const char *const[]) { __VA_ARGS__, NULL })
#define NO_ARGS ((const char *const *)NULL)

static struct {
	char dir[64];
	char conf[128];
	char secret[128];
	char key[128];
	char config_arg[160];
	char base[512]; /* the four required keys, lines 1-4 */
} fx;

static void
write_secret(const char *text, mode_t mode, uid_t uid)
{
	write_text(fx.secret, text, mode, uid);
}

static int
setup(void **state)
{
	(void)state;
	if (fixture_mkdtemp(fx.dir, sizeof(fx.dir), "cfg") != 0)
		return -1;
	snprintf(fx.conf, sizeof(fx.conf), "%s/pam_ion.conf", fx.dir);
	snprintf(fx.secret, sizeof(fx.secret), "%s/secret", fx.dir);
	snprintf(fx.key, sizeof(fx.key), "%s/relay.key", fx.dir);
	snprintf(fx.config_arg, sizeof(fx.config_arg), "config=%s", fx.conf);
	snprintf(fx.base, sizeof(fx.base),
	    "client_id = pam-client\n"
	    "client_secret_file = %s\n"
	    "relay_url = " RELAY "\n"
	    "relay_key_file = %s\n",
	    fx.secret, fx.key);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return fixture_rmtree(fx.dir);
}

/* Each test starts from a good secret file. */
static int
reset(void **state)
{
	(void)state;
	write_secret(SECRET "  \t\nsecond line\n", 0600, 0);
	write_text(fx.key, KEY " \r\nsecond line\n", 0600, 0);
	return 0;
}

/* The required keys plus extra (which starts on line 5). */
static const char *
conf(const char *extra)
{
	static char buf[8192];

	snprintf(buf, sizeof(buf), "%s%s", fx.base, extra);
	return buf;
}

/*
 * The required keys except key, then extra; *ret_line is the line extra
 * starts on.
 */
static const char *
conf_without(const char *key, const char *extra, unsigned *ret_line)
{
	static char buf[8192];
	const char *p = fx.base, *nl;
	size_t klen = strlen(key), n = 0;
	unsigned line = 1;

	for (; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		if (strncmp(p, key, klen) == 0 && p[klen] == ' ')
			continue;
		memcpy(buf + n, p, (size_t)(nl - p) + 1);
		n += (size_t)(nl - p) + 1;
		line++;
	}
	snprintf(buf + n, sizeof(buf) - n, "%s", extra);
	*ret_line = line;
	return buf;
}

static int
load(const char *text, const char *const *args, struct ion_cfg **ret, char *err)
{
	const char *argv[MAX_ARGS];
	int argc = 0;

	if (text != NULL)
		write_text(fx.conf, text, 0644, 0);
	argv[argc++] = fx.config_arg;
	for (; args != NULL && *args != NULL; args++) {
		assert_true(argc < MAX_ARGS);
		argv[argc++] = *args;
	}
	return ion_cfg_load(argc, argv, ret, err);
}

static struct ion_cfg *
expect_ok(const char *text, const char *const *args)
{
	struct ion_cfg *cfg = NULL;
	char err[ION_CFG_ERR_MAX] = "";
	int r;

	r = load(text, args, &cfg, err);
	if (r != 0)
		fail_msg("expected success, got %d: %s", r, err);
	assert_non_null(cfg);
	return cfg;
}

static int sentinel;

/*
 * Fails unless loading gives ION_ERR_CONFIG with a one-line message that
 * starts with prefix (when not NULL) and contains needle.
 */
static void
expect_err_at(
    int argc, const char **argv, const char *prefix, const char *needle)
{
	struct ion_cfg *cfg = (struct ion_cfg *)(void *)&sentinel;
	char err[ION_CFG_ERR_MAX];
	int r;

	memset(err, 'x', sizeof(err) - 1);
	err[sizeof(err) - 1] = '\0';
	r = ion_cfg_load(argc, argv, &cfg, err);
	if (r != ION_ERR_CONFIG || strstr(err, needle) == NULL ||
	    (prefix != NULL && strncmp(err, prefix, strlen(prefix)) != 0) ||
	    strchr(err, '\n') != NULL || strlen(err) >= ION_CFG_ERR_MAX)
		fail_msg("got %d '%s'; expected ION_ERR_CONFIG with '%s' "
			 "and '%s'",
		    r, err, prefix != NULL ? prefix : "", needle);
	/* ret_* is written only on success */
	assert_ptr_equal(cfg, &sentinel);
	if (strstr(err, SECRET) != NULL)
		fail_msg("the message quotes the secret: '%s'", err);
}

static void
expect_err_argv(int argc, const char **argv, const char *needle)
{
	expect_err_at(argc, argv, NULL, needle);
}

static void
expect_err2(const char *text, const char *const *args, const char *prefix,
    const char *needle)
{
	const char *argv[MAX_ARGS];
	int argc = 0;

	if (text != NULL)
		write_text(fx.conf, text, 0644, 0);
	argv[argc++] = fx.config_arg;
	for (; args != NULL && *args != NULL; args++) {
		assert_true(argc < MAX_ARGS);
		argv[argc++] = *args;
	}
	expect_err_at(argc, argv, prefix, needle);
}

static void
expect_err(const char *text, const char *const *args, const char *needle)
{
	expect_err2(text, args, NULL, needle);
}

static void
test_defaults(void **state)
{
	struct ion_cfg *cfg;

	(void)state;
	cfg = expect_ok(conf(""), NO_ARGS);
	assert_string_equal(cfg->issuer, "https://auth.ionelectricity.com");
	assert_null(cfg->authorize_endpoint);
	assert_null(cfg->token_endpoint);
	assert_null(cfg->jwks_uri);
	assert_null(cfg->userinfo_endpoint);
	assert_null(cfg->par_endpoint);
	assert_string_equal(cfg->client_id, "pam-client");
	assert_string_equal(cfg->client_secret_file, fx.secret);
	assert_string_equal(cfg->client_secret, SECRET);
	assert_string_equal(cfg->relay_url, RELAY);
	assert_string_equal(cfg->relay_key_file, fx.key);
	assert_string_equal(cfg->relay_key, KEY);
	assert_string_equal(cfg->redirect_uri, RELAY "/callback");
	assert_string_equal(cfg->scope, "openid profile email");
	assert_string_equal(cfg->user_claim, "email");
	assert_string_equal(cfg->user_map_file, "/etc/security/pam_ion.users");
	assert_false(cfg->user_from_token);
	assert_int_equal(cfg->login_timeout, 110);
	assert_int_equal(cfg->http_timeout, 10);
	assert_int_equal(
	    cfg->allowed_algs, ION_ALG_RS256 | ION_ALG_PS256 | ION_ALG_ES256);
	assert_int_equal(cfg->qr, ION_QR_UTF8);
	assert_null(cfg->ca_file);
	assert_string_equal(cfg->ca_path, "/etc/ssl/certs");
	assert_null(cfg->proxy);
	assert_int_equal(cfg->prompt, ION_PROMPT_ENTER);
	assert_true(cfg->confirm);
	assert_int_equal(cfg->par, ION_PAR_AUTO);
	assert_false(cfg->debug);
	assert_string_equal(cfg->cache_dir, "/var/cache/pam_ion");
	assert_string_equal(cfg->groups_claim, "groups");
	assert_null(cfg->require_groups);
	assert_null(cfg->require_claims);
	assert_null(cfg->acr_values);
	assert_null(cfg->require_acr);
	assert_false(cfg->has_max_age);
	assert_false(cfg->login_prompt);
	assert_string_equal(cfg->config_path, fx.conf);
	ion_cfg_free(&cfg);
	assert_null(cfg);
}

/* The access rules' keys, in the file and as (bracketed) arguments. */
static void
test_rule_keys(void **state)
{
	struct ion_cfg *cfg;

	(void)state;
	cfg = expect_ok(
	    conf("groups_claim = roles\n"
		 "require_groups =  admins   caf\xc3\xa9 50%25\"ops'\n"
		 "require_claims = dept=it mfa=true level=3 "
		 "x=a=b\n"
		 "acr_values = urn:ion:acr:mfa  silver\n"
		 "require_acr = urn:ion:acr:mfa\n"
		 "max_age = 0\n"
		 "login_prompt = yes\n"),
	    NO_ARGS);
	assert_string_equal(cfg->groups_claim, "roles");
	/* one space between words, whatever the file had */
	assert_string_equal(
	    cfg->require_groups, "admins caf\xc3\xa9 50%25\"ops'");
	assert_string_equal(
	    cfg->require_claims, "dept=it mfa=true level=3 x=a=b");
	assert_string_equal(cfg->acr_values, "urn:ion:acr:mfa silver");
	assert_string_equal(cfg->require_acr, "urn:ion:acr:mfa");
	assert_true(cfg->has_max_age);
	assert_int_equal(cfg->max_age, 0);
	assert_true(cfg->login_prompt);
	ion_cfg_free(&cfg);

	/* an argument with spaces, as libpam passes [require_groups=a b] */
	cfg = expect_ok(conf("require_groups = users\n"),
	    ARGS("require_groups=admins %23wheel", "max_age=300"));
	assert_string_equal(cfg->require_groups, "admins %23wheel");
	assert_true(cfg->has_max_age);
	assert_int_equal(cfg->max_age, 300);
	ion_cfg_free(&cfg);
}

static void
test_every_key(void **state)
{
	struct ion_cfg *cfg;
	char text[4096];

	(void)state;
	snprintf(text, sizeof(text),
	    "# pam_ion test configuration\n"
	    "\n"
	    "issuer = https://Auth.Example:8443/tenant///\n"
	    "authorize_endpoint = https://auth.example/authorize?x=1\n"
	    "token_endpoint = http://127.0.0.1:9000/token\n"
	    "jwks_uri = http://[::1]:9000/jwks\n"
	    "userinfo_endpoint = http://localhost/userinfo\n"
	    "par_endpoint = https://auth.example/par\n"
	    "client_id = my client\n"
	    "client_secret_file = %s\n"
	    "relay_url = https://relay.example/pam/\n"
	    "relay_key_file = %s\n"
	    "redirect_uri = https://relay.example/cb?tenant=1\n"
	    "scope =   openid   email  \n"
	    "user_claim = preferred_username\n"
	    "user_map_file = /etc/pam_ion/users\n"
	    "user_from_token = yes\n"
	    "login_timeout = 3600\n"
	    "http_timeout = 120\n"
	    "allowed_algs = ES512,PS384 , RS512\n"
	    "qr = ascii\n"
	    "ca_file = /etc/ssl/ca.pem\n"
	    "proxy = http://proxy.example:3128\n"
	    "prompt = auto\n"
	    "confirm = on\n"
	    "par = required\n"
	    "debug = true\n"
	    "cache_dir = /run/pam_ion\n",
	    fx.secret, fx.key);
	cfg = expect_ok(text, NO_ARGS);
	assert_string_equal(cfg->issuer, "https://Auth.Example:8443/tenant");
	assert_string_equal(
	    cfg->authorize_endpoint, "https://auth.example/authorize?x=1");
	assert_string_equal(cfg->token_endpoint, "http://127.0.0.1:9000/token");
	assert_string_equal(cfg->jwks_uri, "http://[::1]:9000/jwks");
	assert_string_equal(
	    cfg->userinfo_endpoint, "http://localhost/userinfo");
	assert_string_equal(cfg->par_endpoint, "https://auth.example/par");
	assert_string_equal(cfg->client_id, "my client");
	assert_string_equal(cfg->relay_url, "https://relay.example/pam");
	assert_string_equal(cfg->relay_key_file, fx.key);
	assert_string_equal(cfg->relay_key, KEY);
	assert_string_equal(
	    cfg->redirect_uri, "https://relay.example/cb?tenant=1");
	assert_string_equal(cfg->scope, "openid email");
	assert_string_equal(cfg->user_claim, "preferred_username");
	assert_string_equal(cfg->user_map_file, "/etc/pam_ion/users");
	assert_true(cfg->user_from_token);
	assert_int_equal(cfg->login_timeout, 3600);
	assert_int_equal(cfg->http_timeout, 120);
	assert_int_equal(
	    cfg->allowed_algs, ION_ALG_ES512 | ION_ALG_PS384 | ION_ALG_RS512);
	assert_int_equal(cfg->qr, ION_QR_ASCII);
	assert_string_equal(cfg->ca_file, "/etc/ssl/ca.pem");
	assert_null(cfg->ca_path); /* no default once ca_file is given */
	/* http:// proxies anywhere: TLS runs end to end through them */
	assert_string_equal(cfg->proxy, "http://proxy.example:3128");
	assert_int_equal(cfg->prompt, ION_PROMPT_AUTO);
	assert_true(cfg->confirm);
	assert_int_equal(cfg->par, ION_PAR_REQUIRED);
	assert_true(cfg->debug);
	assert_string_equal(cfg->cache_dir, "/run/pam_ion");
	ion_cfg_free(&cfg);
}

static void
test_layout(void **state)
{
	struct ion_cfg *cfg;
	char text[2048], karg[200];

	(void)state;
	/* Tabs, CRLF, indented comments, blank lines, no final newline. */
	snprintf(text, sizeof(text),
	    "\t# comment\r\n"
	    "   \r\n"
	    "client_id\t=\tid-1\r\n"
	    "  # another = comment\n"
	    "client_secret_file=%s\n"
	    "\n\n"
	    "relay_url =https://relay.example//\n"
	    "relay_key_file= %s \r\n"
	    "qr= off",
	    fx.secret, fx.key);
	cfg = expect_ok(text, NO_ARGS);
	assert_string_equal(cfg->client_id, "id-1");
	assert_string_equal(cfg->relay_url, RELAY);
	assert_string_equal(cfg->redirect_uri, RELAY "/callback");
	assert_int_equal(cfg->qr, ION_QR_OFF);
	ion_cfg_free(&cfg);

	/* An empty file with everything in the arguments. */
	snprintf(text, sizeof(text), "client_secret_file=%s", fx.secret);
	snprintf(karg, sizeof(karg), "relay_key_file=%s", fx.key);
	cfg =
	    expect_ok("", ARGS("client_id=c", text, "relay_url=" RELAY, karg));
	assert_string_equal(cfg->client_id, "c");
	assert_string_equal(cfg->relay_key, KEY);
	ion_cfg_free(&cfg);
}

static void
test_args_override(void **state)
{
	struct ion_cfg *cfg;

	(void)state;
	cfg = expect_ok(conf("login_timeout = 60\n"
			     "debug = no\n"
			     "qr = ascii\n"),
	    ARGS("login_timeout=300", "debug", "client_id=other",
		"relay_url=http://127.0.0.1:8080/", "scope=email openid"));
	assert_int_equal(cfg->login_timeout, 300);
	assert_true(cfg->debug);
	assert_int_equal(cfg->qr, ION_QR_ASCII);
	assert_string_equal(cfg->client_id, "other");
	assert_string_equal(cfg->relay_url, "http://127.0.0.1:8080");
	assert_string_equal(
	    cfg->redirect_uri, "http://127.0.0.1:8080/callback");
	assert_string_equal(cfg->scope, "email openid");
	ion_cfg_free(&cfg);

	cfg = expect_ok(conf("debug = yes\n"), ARGS("debug=off"));
	assert_false(cfg->debug);
	ion_cfg_free(&cfg);

	/* A bad value in the file is an error even when overridden. */
	expect_err(conf("login_timeout = 5\n"), ARGS("login_timeout=60"),
	    ":5: login_timeout: expected seconds in 10..3600");
}

/* confirm is yes unless set to no, whatever prompt is. */
static const struct {
	const char *extra;
	const char *arg1, *arg2;
	bool confirm;
} confirm_cases[] = {
	{ "", NULL, NULL, true },
	{ "prompt = enter\n", NULL, NULL, true },
	{ "prompt = auto\n", NULL, NULL, true },
	{ "confirm = no\n", NULL, NULL, false },
	{ "confirm = yes\nprompt = auto\n", NULL, NULL, true },
	{ "prompt = auto\nconfirm = yes\n", NULL, NULL, true },
	{ "confirm = no\nprompt = enter\n", NULL, NULL, false },
	{ "confirm = no\nprompt = auto\n", NULL, NULL, false },
	{ "", "prompt=auto", NULL, true },
	{ "prompt = auto\n", "prompt=enter", NULL, true },
	{ "prompt = enter\n", "prompt=auto", NULL, true },
	{ "confirm = yes\n", "prompt=auto", NULL, true },
	{ "prompt = auto\n", "confirm=1", NULL, true },
	{ "", "confirm=no", "prompt=enter", false },
	{ "", "prompt=auto", "confirm=true", true },
	{ "", "prompt=auto", "confirm=off", false },
	{ "confirm = no\n", "confirm=yes", NULL, true },
};

static void
test_confirm_default(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(confirm_cases) / sizeof(confirm_cases[0]); i++) {
		struct ion_cfg *cfg;
		const char *args[3] = { confirm_cases[i].arg1,
			confirm_cases[i].arg2, NULL };

		cfg = expect_ok(conf(confirm_cases[i].extra), args);
		if (cfg->confirm != confirm_cases[i].confirm)
			fail_msg("case %zu: confirm %d, expected %d", i,
			    cfg->confirm, confirm_cases[i].confirm);
		ion_cfg_free(&cfg);
	}
}

static const struct {
	const char *value;
	bool v;
} bools[] = {
	{ "yes", true },
	{ "no", false },
	{ "true", true },
	{ "false", false },
	{ "1", true },
	{ "0", false },
	{ "on", true },
	{ "off", false },
	{ "YES", true },
	{ "Off", false },
};

static void
test_booleans(void **state)
{
	char line[128], arg[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		struct ion_cfg *cfg;

		snprintf(line, sizeof(line), "user_from_token = %s\n",
		    bools[i].value);
		snprintf(arg, sizeof(arg), "debug=%s", bools[i].value);
		cfg = expect_ok(conf(line), ARGS(arg));
		assert_int_equal(cfg->user_from_token, bools[i].v);
		assert_int_equal(cfg->debug, bools[i].v);
		ion_cfg_free(&cfg);
	}
}

/* Each bad value, tried in the file (line 5) and as an argument. */
static const struct {
	const char *key;
	const char *value;
	const char *why;
} bad_values[] = {
	{ "issuer", "http://auth.example",
	    "http:// is allowed only to a loopback address (127.0.0.0/8, "
	    "[::1], "
	    "localhost); use https://" },
	{ "issuer", "http://127.0.0.1.evil.example", "loopback" },
	{ "issuer", "http://127.0.0.1@evil.example", "user info" },
	{ "issuer", "http://localhost.evil.example/", "loopback" },
	{ "issuer", "http://128.0.0.1", "loopback" },
	{ "issuer", "http://[::2]", "loopback" },
	{ "issuer", "http://[::ffff:127.0.0.1]", "loopback" },
	{ "issuer", "https://user:pw@auth.example", "user info" },
	{ "issuer", "https://auth.example/?a=b", "must not have a query" },
	{ "issuer", "ftp://auth.example", "not an http:// or https:// URL" },
	{ "issuer", "auth.example", "not an http:// or https:// URL" },
	{ "issuer", "https://auth example", "white space" },
	{ "issuer", "https://auth.example/\xc3\xa9", "non-ASCII" },
	{ "issuer", "https://auth.example\\@x", "characters a URL may not" },
	{ "issuer", "https://", "not an http:// or https:// URL" },
	{ "token_endpoint", "https://", "no host" },
	{ "issuer", "https:///path", "no host" },
	{ "issuer", "https://a.example:0", "bad port" },
	{ "issuer", "https://a.example:65536", "bad port" },
	{ "issuer", "https://a.example:", "bad port" },
	{ "issuer", "https://a.example:8x", "bad port" },
	{ "issuer", "https://[::1", "bad IPv6" },
	{ "issuer", "https://[nope]", "bad IPv6" },
	{ "issuer", "https://a_b.example", "bad host name" },
	{ "issuer", "https://a..example", "bad host name" },
	{ "issuer", "https://.a.example", "bad host name" },
	{ "issuer", "https://a.example.", "bad host name" },
	{ "issuer", "https://%61.example", "bad host name" },
	/* the relay's reading of paths, stricter than the config's was */
	{ "issuer", "https://auth.example/../x", "'.' or '..' segment" },
	{ "authorize_endpoint", "https://auth.example/a/%2e%2e/b",
	    "encoded '.'" },
	{ "token_endpoint", "https://auth.example/a%2fb", "encoded '.'" },
	{ "jwks_uri", "https://auth.example/caf%C3%A9", "non-ASCII" },
	{ "userinfo_endpoint", "https://auth.example/u;x", "';' in the path" },
	{ "par_endpoint", "https://auth.example/p%2", "bad percent escape" },
	{ "relay_url", "https://relay.example/./l", "'.' or '..' segment" },
	{ "proxy", "http://proxy.example/%25", "encoded" },
	{ "authorize_endpoint", "http://auth.example/a", "loopback" },
	{ "token_endpoint", "http://10.0.0.1/t", "loopback" },
	{ "jwks_uri", "http://0x7f.0.0.1/j", "loopback" },
	{ "jwks_uri", "http://127.1/j", "loopback" },
	{ "userinfo_endpoint", "http://example.com/u", "loopback" },
	{ "par_endpoint", "http://example.com/par", "loopback" },
	{ "par_endpoint", "https://u@auth.example/par", "user info" },
	{ "relay_url", "http://relay.example", "loopback" },
	{ "relay_url", "https://relay.example/?x", "must not have a query" },
	{ "relay_url", "https://u@relay.example", "user info" },
	{ "redirect_uri", "http://relay.example/callback", "loopback" },
	{ "proxy", "http://proxy.example:3128/?x", "must not have a query" },
	{ "proxy", "https://user:pass@proxy.example", "user info" },
	{ "client_id", "caf\xc3\xa9", "printable ASCII" },
	{ "client_secret_file", "secret", "not an absolute path" },
	{ "client_secret_file", "/nonexistent/secret", "does not exist" },
	{ "scope", "profile email", "must contain 'openid'" },
	{ "scope", "openidx profile", "must contain 'openid'" },
	{ "scope", "openid\"x", "separated by spaces" },
	{ "scope", "openid\\x", "separated by spaces" },
	{ "user_claim", "Email", "claim name" },
	{ "user_claim", "e/mail", "claim name" },
	{ "user_claim", "e mail", "claim name" },
	{ "user_claim",
	    "a1234567890123456789012345678901234567890123456789012345678901234",
	    "claim name" },
	{ "user_map_file", "etc/users", "not an absolute path" },
	{ "user_from_token", "maybe", "expected yes or no" },
	{ "user_from_token", "yess", "expected yes or no" },
	{ "login_timeout", "9", "expected seconds in 10..3600" },
	{ "login_timeout", "3601", "expected seconds in 10..3600" },
	{ "login_timeout", "abc", "expected seconds in 10..3600" },
	{ "login_timeout", "-10", "expected seconds in 10..3600" },
	{ "login_timeout", "+10", "expected seconds in 10..3600" },
	{ "login_timeout", "10s", "expected seconds in 10..3600" },
	{ "login_timeout", "1 0", "expected seconds in 10..3600" },
	{ "login_timeout", "99999999999", "expected seconds in 10..3600" },
	{ "login_timeout", "4294967306", "expected seconds in 10..3600" },
	{ "http_timeout", "0", "expected seconds in 1..120" },
	{ "http_timeout", "121", "expected seconds in 1..120" },
	{ "allowed_algs", "none", "'none' is never accepted" },
	{ "allowed_algs", "RS256 none", "'none' is never accepted" },
	{ "allowed_algs", "NONE", "'NONE' is never accepted" },
	{ "allowed_algs", "HS256", "'HS256' is never accepted" },
	{ "allowed_algs", "RS256,HS384", "'HS384' is never accepted" },
	{ "allowed_algs", "hs512", "'hs512' is never accepted" },
	{ "allowed_algs", ",", "the list is empty" },
	{ "allowed_algs", ", ,", "the list is empty" },
	{ "allowed_algs", "RS1", "unknown algorithm 'RS1'" },
	{ "allowed_algs", "rs256", "unknown algorithm 'rs256'" },
	{ "allowed_algs", "EdDSA", "unknown algorithm 'EdDSA'" },
	{ "allowed_algs", "RS256;ES256", "unknown algorithm" },
	{ "allowed_algs", "AVERYLONGALGORITHMNAME", "unknown algorithm" },
	{ "qr", "UTF8", "expected utf8, ascii or off" },
	{ "qr", "color", "expected utf8, ascii or off" },
	{ "ca_file", "ca.pem", "not an absolute path" },
	{ "ca_path", "certs", "not an absolute path" },
	{ "prompt", "manual", "expected enter or auto" },
	{ "par", "yes", "expected auto, required or off" },
	{ "par", "Auto", "expected auto, required or off" },
	{ "par", "require", "expected auto, required or off" },
	{ "relay_key_file", "relay.key", "not an absolute path" },
	{ "relay_key_file", "/nonexistent/relay.key", "does not exist" },
	{ "confirm", "sometimes", "expected yes or no" },
	{ "debug", "2", "expected yes or no" },
	{ "cache_dir", "var/cache", "not an absolute path" },
	{ "groups_claim", "Groups", "claim name" },
	{ "groups_claim", "grou ps", "claim name" },
	{ "require_groups", "admins\x7f", "control character" },
	{ "require_groups", "50%", "escape of two hex digits" },
	{ "require_groups", "a%2", "escape of two hex digits" },
	{ "require_groups", "a%zz", "escape of two hex digits" },
	{ "require_groups", "a%00b", "escape of two hex digits" },
	{ "require_claims", "dept=100%", "escape of two hex digits" },
	{ "require_claims", "dept", "NAME=VALUE" },
	{ "require_claims", "dept=", "NAME=VALUE" },
	{ "require_claims", "=it", "NAME=VALUE" },
	{ "require_claims", "Dept=it", "NAME=VALUE" },
	{ "require_claims", "dept=it mfa", "NAME=VALUE" },
	{ "require_claims",
	    "a1234567890123456789012345678901234567890123456789012345678901234="
	    "x",
	    "NAME=VALUE" },
	{ "acr_values", "caf\xc3\xa9", "outside ASCII" },
	{ "acr_values", "a\"b", "outside ASCII" },
	{ "require_acr", "a\\b", "outside ASCII" },
	{ "max_age", "-1", "expected seconds in 0..31536000" },
	{ "max_age", "31536001", "expected seconds in 0..31536000" },
	{ "max_age", "1h", "expected seconds in 0..31536000" },
	{ "login_prompt", "always", "expected yes or no" },
};

static void
test_bad_values(void **state)
{
	char line[512], want[1024], arg[512], safe[512];
	const char *text;
	unsigned lineno;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
		const char *k = bad_values[i].key, *v = bad_values[i].value;

		/* In the file, after the required keys (but itself). */
		snprintf(line, sizeof(line), "%s = %s\n", k, v);
		text = conf_without(k, line, &lineno);
		snprintf(want, sizeof(want), "%s:%u: %s: ", fx.conf, lineno, k);
		expect_err2(text, NO_ARGS, want, bad_values[i].why);

		snprintf(arg, sizeof(arg), "%s=%s", k, v);
		snprintf(want, sizeof(want), "argument '%s': ",
		    ion_log_safe(arg, SIZE_MAX, safe, sizeof(safe)));
		expect_err2(conf(""), ARGS(arg), want, bad_values[i].why);
	}
}

static const struct {
	const char *value;
	unsigned bits;
} good_algs[] = {
	{ "RS256", ION_ALG_RS256 },
	{ "RS384 RS512", ION_ALG_RS384 | ION_ALG_RS512 },
	{ "PS256,PS384,PS512", ION_ALG_PS256 | ION_ALG_PS384 | ION_ALG_PS512 },
	{ "ES256 , ES384,,ES512 ",
	    ION_ALG_ES256 | ION_ALG_ES384 | ION_ALG_ES512 },
	{ "ES256 ES256", ION_ALG_ES256 },
	{ ",RS256,", ION_ALG_RS256 },
};

static void
test_alg_lists(void **state)
{
	char line[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good_algs) / sizeof(good_algs[0]); i++) {
		struct ion_cfg *cfg;

		snprintf(line, sizeof(line), "allowed_algs = %s\n",
		    good_algs[i].value);
		cfg = expect_ok(conf(line), NO_ARGS);
		if (cfg->allowed_algs != good_algs[i].bits)
			fail_msg("'%s': %#x, expected %#x", good_algs[i].value,
			    cfg->allowed_algs, good_algs[i].bits);
		ion_cfg_free(&cfg);
	}
}

static void
test_alg_names(void **state)
{
	static const char *const names[] = { "RS256", "RS384", "RS512", "PS256",
		"PS384", "PS512", "ES256", "ES384", "ES512" };
	static const char *const never[] = { "none", "HS256", "HS384", "HS512",
		"rs256", "", "RS256 ", "EdDSA" };
	unsigned seen = 0;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		unsigned bit = ion_alg_from_name(names[i]);

		assert_int_not_equal(bit, 0);
		assert_int_equal(bit & (bit - 1), 0); /* one bit */
		assert_int_equal(seen & bit, 0);
		seen |= bit;
		assert_string_equal(ion_alg_name(bit), names[i]);
	}
	for (i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		assert_int_equal(ion_alg_from_name(never[i]), 0);
	assert_int_equal(ion_alg_from_name(NULL), 0);
	assert_null(ion_alg_name(0));
	assert_null(ion_alg_name(ION_ALG_RS256 | ION_ALG_ES256));
	assert_null(ion_alg_name(1u << 20));
}

static void
test_trailing_slashes(void **state)
{
	struct ion_cfg *cfg;

	(void)state;
	cfg = expect_ok(conf("issuer = https://auth.example///\n"),
	    ARGS("relay_url=https://relay.example/base//"));
	assert_string_equal(cfg->issuer, "https://auth.example");
	assert_string_equal(cfg->relay_url, "https://relay.example/base");
	assert_string_equal(
	    cfg->redirect_uri, "https://relay.example/base/callback");
	ion_cfg_free(&cfg);
}

static void
test_timeouts(void **state)
{
	struct ion_cfg *cfg;
	char want[256];

	(void)state;
	snprintf(want, sizeof(want),
	    "%s:5: http_timeout: must be less than login_timeout (60)",
	    fx.conf);
	expect_err(
	    conf("http_timeout = 60\nlogin_timeout = 60\n"), NO_ARGS, want);
	snprintf(want, sizeof(want),
	    "%s:6: login_timeout: must be more than http_timeout (10)",
	    fx.conf);
	expect_err(conf("\nlogin_timeout = 10\n"), NO_ARGS, want);
	snprintf(want, sizeof(want),
	    "%s:5: http_timeout: must be less than login_timeout (20)",
	    fx.conf);
	expect_err(conf("http_timeout = 30\n"), ARGS("login_timeout=20"), want);
	expect_err(conf(""), ARGS("login_timeout=20", "http_timeout=20"),
	    "argument 'http_timeout=20': must be less than login_timeout (20)");

	cfg =
	    expect_ok(conf("login_timeout = 10\nhttp_timeout = 9\n"), NO_ARGS);
	assert_int_equal(cfg->login_timeout, 10);
	assert_int_equal(cfg->http_timeout, 9);
	ion_cfg_free(&cfg);
	cfg =
	    expect_ok(conf("login_timeout = 11\nhttp_timeout = 1\n"), NO_ARGS);
	ion_cfg_free(&cfg);
}

static void
test_ca_defaults(void **state)
{
	struct ion_cfg *cfg;

	(void)state;
	cfg = expect_ok(conf("ca_path = /etc/pki/certs\n"), NO_ARGS);
	assert_null(cfg->ca_file);
	assert_string_equal(cfg->ca_path, "/etc/pki/certs");
	ion_cfg_free(&cfg);
	cfg = expect_ok(conf(""), ARGS("ca_file=/etc/ca.pem"));
	assert_string_equal(cfg->ca_file, "/etc/ca.pem");
	assert_null(cfg->ca_path);
	ion_cfg_free(&cfg);
	cfg = expect_ok(
	    conf("ca_file = /etc/ca.pem\nca_path = /etc/certs\n"), NO_ARGS);
	assert_string_equal(cfg->ca_file, "/etc/ca.pem");
	assert_string_equal(cfg->ca_path, "/etc/certs");
	ion_cfg_free(&cfg);
}

/* Whole files that are wrong, and where the message points. */
static const struct {
	const char *extra;
	const char *want; /* after "PATH" */
} bad_lines[] = {
	{ "foo = bar\n", ":5: foo: unknown key" },
	{ "Issuer = https://a.example\n", ":5: expected 'key = value'" },
	{ "client_secret = hunter2\n",
	    ":5: client_secret: unknown key (the "
	    "secret goes in the file" },
	{ "config = /etc/other.conf\n",
	    ":5: config: only as a module "
	    "argument" },
	{ "client_id = again\n",
	    ":5: client_id: given twice (first on line "
	    "1)" },
	{ "\n\nqr = off\nqr = off\n", ":8: qr: given twice (first on line 7)" },
	{ "just some words\n", ":5: expected 'key = value'" },
	{ "= value\n", ":5: expected 'key = value'" },
	{ "key with space = 1\n", ":5: expected 'key = value'" },
	{ "qr =\n", ":5: qr: empty value" },
	{ "qr =   \t \n", ":5: qr: empty value" },
	{ "qr = off # text mode\n", ":5: qr: '#' in a value" },
	{ "user_map_file = /etc/users#1\n",
	    ":5: user_map_file: '#' in a "
	    "value" },
	{ "allowed_algs = RS256\tES256\n",
	    ":5: allowed_algs: control "
	    "character" },
	{ "qr = o\x01"
	  "ff\n",
	    ":5: qr: control character" },
	{ "qr = off\x1b\n", ":5: qr: control character" },
};

static void
test_bad_lines(void **state)
{
	char want[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++) {
		snprintf(
		    want, sizeof(want), "%s%s", fx.conf, bad_lines[i].want);
		expect_err(conf(bad_lines[i].extra), NO_ARGS, want);
	}
}

static void
test_missing_required(void **state)
{
	char text[512], want[512];

	(void)state;
	snprintf(want, sizeof(want), "%s: client_id: required", fx.conf);
	snprintf(text, sizeof(text),
	    "client_secret_file = %s\n"
	    "relay_url = " RELAY "\n"
	    "relay_key_file = %s\n",
	    fx.secret, fx.key);
	expect_err(text, NO_ARGS, want);
	snprintf(
	    want, sizeof(want), "%s: client_secret_file: required", fx.conf);
	snprintf(text, sizeof(text),
	    "client_id = x\nrelay_url = " RELAY "\nrelay_key_file = %s\n",
	    fx.key);
	expect_err(text, NO_ARGS, want);
	/* The relay key is required: the relay serves no host without. */
	snprintf(want, sizeof(want), "%s: relay_key_file: required", fx.conf);
	snprintf(text, sizeof(text),
	    "client_id = x\n"
	    "client_secret_file = %s\n"
	    "relay_url = " RELAY "\n",
	    fx.secret);
	expect_err(text, NO_ARGS, want);
	snprintf(want, sizeof(want), "%s: relay_url: required", fx.conf);
	snprintf(text, sizeof(text),
	    "client_id = x\n"
	    "client_secret_file = %s\n"
	    "relay_key_file = %s\n",
	    fx.secret, fx.key);
	expect_err(text, NO_ARGS, want);
	/* ... and an argument supplies it. */
	ion_cfg_free(
	    (struct ion_cfg *[]) { expect_ok(text, ARGS("relay_url=" RELAY)) });
}

static void
test_long_lines(void **state)
{
	char *text, want[256];
	size_t base = strlen(fx.base), n;

	(void)state;
	/* A comment line of exactly 4096 characters is fine; 4097 is not. */
	text = malloc(base + 5000);
	assert_non_null(text);
	memcpy(text, fx.base, base);
	n = base;
	text[n++] = '#';
	memset(text + n, 'c', 4095);
	n += 4095;
	text[n++] = '\n';
	text[n] = '\0';
	ion_cfg_free((struct ion_cfg *[]) { expect_ok(text, NO_ARGS) });

	text[n - 1] = 'c';
	text[n++] = '\n';
	text[n] = '\0';
	snprintf(want, sizeof(want), "%s:5: line longer than 4096 characters",
	    fx.conf);
	expect_err(text, NO_ARGS, want);
	free(text);
}

static void
test_nul_in_file(void **state)
{
	char want[256];
	static const char text[] = "client_id = a\0b\n";

	(void)state;
	write_file(fx.conf, text, sizeof(text) - 1, 0644, 0);
	snprintf(want, sizeof(want), "%s:1: NUL character", fx.conf);
	expect_err(NULL, NO_ARGS, want);
}

static void
test_file_size(void **state)
{
	char *text, want[256];
	size_t base = strlen(fx.base), max = 64 * 1024;

	(void)state;
	text = malloc(max + 2);
	assert_non_null(text);
	/* Exactly 64 KiB of blank lines after the keys is fine. */
	memcpy(text, fx.base, base);
	memset(text + base, '\n', max - base);
	write_file(fx.conf, text, max, 0644, 0);
	ion_cfg_free((struct ion_cfg *[]) { expect_ok(NULL, NO_ARGS) });
	text[max] = '\n';
	write_file(fx.conf, text, max + 1, 0644, 0);
	snprintf(want, sizeof(want), "%s: larger than 65536 bytes", fx.conf);
	expect_err(NULL, NO_ARGS, want);
	free(text);
}

static void
test_unsafe_file(void **state)
{
	char want[512], link[160], other[200];

	(void)state;
	write_text(fx.conf, conf(""), 0644, OTHER_UID);
	snprintf(want, sizeof(want), "%s: owned by uid 1, not root", fx.conf);
	expect_err(NULL, NO_ARGS, want);

	write_text(fx.conf, conf(""), 0664, 0);
	snprintf(
	    want, sizeof(want), "%s: writable by group or others", fx.conf);
	expect_err(NULL, NO_ARGS, want);
	write_text(fx.conf, conf(""), 0646, 0);
	expect_err(NULL, NO_ARGS, want);
	/* Read-only for root, or readable by all, is fine. */
	write_text(fx.conf, conf(""), 0400, 0);
	ion_cfg_free((struct ion_cfg *[]) { expect_ok(NULL, NO_ARGS) });
	write_text(fx.conf, conf(""), 0644, 0);

	/* A symlink, even to a good file. */
	snprintf(link, sizeof(link), "%s/link.conf", fx.dir);
	assert_int_equal(symlink(fx.conf, link), 0);
	snprintf(other, sizeof(other), "config=%s", link);
	snprintf(want, sizeof(want), "%s: is a symbolic link", link);
	expect_err_argv(1, (const char *[]) { other }, want);
	assert_int_equal(unlink(link), 0);

	/* A directory, a FIFO. */
	assert_int_equal(mkdir(link, 0755), 0);
	snprintf(want, sizeof(want), "%s: not a regular file", link);
	expect_err_argv(1, (const char *[]) { other }, want);
	assert_int_equal(rmdir(link), 0);
	assert_int_equal(mkfifo(link, 0644), 0);
	expect_err_argv(1, (const char *[]) { other }, want);
	assert_int_equal(unlink(link), 0);

	/* A file named by config= must exist. */
	snprintf(want, sizeof(want), "%s: does not exist", link);
	expect_err_argv(1, (const char *[]) { other }, want);
}

static void
test_secret_file(void **state)
{
	static const struct {
		const char *content;
		mode_t mode;
		uid_t uid;
		const char *why; /* NULL: good */
		const char *secret;
	} cases[] = {
		{ SECRET, 0600, 0, NULL, SECRET },
		{ SECRET "\n", 0400, 0, NULL, SECRET },
		{ SECRET "\r\n", 0600, 0, NULL, SECRET },
		{ "  lead " SECRET " \t\r\nnext\n", 0600, 0, NULL,
		    "  lead " SECRET },
		{ SECRET, 0640, 0, "mode 0640; it must be 0600 or 0400", NULL },
		{ SECRET, 0644, 0, "mode 0644", NULL },
		{ SECRET, 0604, 0, "mode 0604", NULL },
		{ SECRET, 0700, 0, "mode 0700", NULL },
		{ SECRET, 0200, 0, "mode 0200", NULL },
		{ SECRET, 04600, 0, "mode 4600", NULL },
		{ SECRET, 0600, OTHER_UID, "owned by uid 1, not root", NULL },
		{ "", 0600, 0, "the secret (first line) is empty", NULL },
		{ "\n" SECRET "\n", 0600, 0, "the secret (first line) is empty",
		    NULL },
		{ " \t \n", 0600, 0, "the secret (first line) is empty", NULL },
		{ SECRET "\x01x\n", 0600, 0, "control character", NULL },
		{ SECRET "\x1b\n", 0600, 0, "control character", NULL },
	};
	char want[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_secret(cases[i].content, cases[i].mode, cases[i].uid);
		if (cases[i].why == NULL) {
			struct ion_cfg *cfg = expect_ok(conf(""), NO_ARGS);

			assert_string_equal(
			    cfg->client_secret, cases[i].secret);
			ion_cfg_free(&cfg);
			continue;
		}
		snprintf(want, sizeof(want),
		    "%s:2: client_secret_file: %s: ", fx.conf, fx.secret);
		expect_err2(conf(""), NO_ARGS, want, cases[i].why);
	}
}

static void
test_secret_file_kinds(void **state)
{
	char want[512], big[5000];

	(void)state;
	/* A NUL inside the first line. */
	write_file(fx.secret, "ab\0cd\n", 6, 0600, 0);
	expect_err(conf(""), NO_ARGS, "control character");

	/* 4096 bytes is the limit. */
	memset(big, 'k', sizeof(big));
	write_file(fx.secret, big, 4096, 0600, 0);
	ion_cfg_free((struct ion_cfg *[]) { expect_ok(conf(""), NO_ARGS) });
	write_file(fx.secret, big, 4097, 0600, 0);
	expect_err(conf(""), NO_ARGS, "larger than 4096 bytes");

	/* A symlink to a good secret. */
	write_secret(SECRET "\n", 0600, 0);
	{
		char link[160], arg[200];

		snprintf(link, sizeof(link), "%s/secret-link", fx.dir);
		assert_int_equal(symlink(fx.secret, link), 0);
		snprintf(arg, sizeof(arg), "client_secret_file=%s", link);
		snprintf(want, sizeof(want),
		    "argument '%s': %s: is a symbolic link", arg, link);
		expect_err(conf(""), ARGS(arg), want);
		assert_int_equal(unlink(link), 0);

		assert_int_equal(mkdir(link, 0700), 0);
		snprintf(want, sizeof(want),
		    "argument '%s': %s: not a regular file", arg, link);
		expect_err(conf(""), ARGS(arg), want);
		assert_int_equal(rmdir(link), 0);
	}
}

static void
test_relay_key_file(void **state)
{
#define K32 "0123456789abcdef0123456789ABCDEF"
#define K31 "0123456789abcdef0123456789ABCDE"
	static const struct {
		const char *content;
		mode_t mode;
		uid_t uid;
		const char *why; /* NULL: good */
		const char *key;
	} cases[] = {
		{ KEY, 0600, 0, NULL, KEY },
		{ KEY "\n", 0400, 0, NULL, KEY },
		{ KEY " \t\r\nsecond line\n", 0600, 0, NULL, KEY },
		{ K32 "\n", 0600, 0, NULL, K32 },
		{ "!\"#$%&'()*+,-./0123456789:;<=>?@AZ[\\]^_`az{|}~", 0600, 0,
		    NULL, "!\"#$%&'()*+,-./0123456789:;<=>?@AZ[\\]^_`az{|}~" },
		{ KEY, 0640, 0, "mode 0640; it must be 0600 or 0400", NULL },
		{ KEY, 0644, 0, "mode 0644", NULL },
		{ KEY, 0604, 0, "mode 0604", NULL },
		{ KEY, 0600, OTHER_UID, "owned by uid 1, not root", NULL },
		{ "", 0600, 0, "the key (first line) is empty", NULL },
		{ "\n" KEY "\n", 0600, 0, "the key (first line) is empty",
		    NULL },
		{ " \t\n", 0600, 0, "the key (first line) is empty", NULL },
		{ K31 "\n", 0600, 0,
		    "the key is 31 characters long; it must have 32 to 256",
		    NULL },
		{ "short\n", 0600, 0, "the key is 5 characters long", NULL },
		{ " " KEY "\n", 0600, 0, "holds a space", NULL },
		{ "Zm9yIHRoZSByZWxheSBvbmx5 OiB0aGlzIGhvc3QncyBr\n", 0600, 0,
		    "holds a space", NULL },
		{ KEY "\xc3\xa9\n", 0600, 0, "not printable ASCII", NULL },
		{ KEY "\x7f\n", 0600, 0, "control character", NULL },
		{ KEY "\x01x\n", 0600, 0, "control character", NULL },
		{ KEY "\tx\n", 0600, 0, "control character", NULL },
	};
	char want[512], big[300], link[160], arg[200];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_text(
		    fx.key, cases[i].content, cases[i].mode, cases[i].uid);
		if (cases[i].why == NULL) {
			struct ion_cfg *cfg = expect_ok(conf(""), NO_ARGS);

			assert_string_equal(cfg->relay_key, cases[i].key);
			ion_cfg_free(&cfg);
			continue;
		}
		snprintf(want, sizeof(want),
		    "%s:4: relay_key_file: %s: ", fx.conf, fx.key);
		expect_err2(conf(""), NO_ARGS, want, cases[i].why);
	}

	/* 256 characters are the most; 257 too many. */
	memset(big, 'k', sizeof(big));
	write_file(fx.key, big, 256, 0600, 0);
	ion_cfg_free((struct ion_cfg *[]) { expect_ok(conf(""), NO_ARGS) });
	write_file(fx.key, big, 257, 0600, 0);
	expect_err(conf(""), NO_ARGS, "the key is 257 characters long");

	/* A symlink to a good key, and a directory. */
	write_text(fx.key, KEY "\n", 0600, 0);
	snprintf(link, sizeof(link), "%s/key-link", fx.dir);
	assert_int_equal(symlink(fx.key, link), 0);
	snprintf(arg, sizeof(arg), "relay_key_file=%s", link);
	snprintf(want, sizeof(want), "argument '%s': %s: is a symbolic link",
	    arg, link);
	expect_err(conf(""), ARGS(arg), want);
	assert_int_equal(unlink(link), 0);
	assert_int_equal(mkdir(link, 0700), 0);
	snprintf(want, sizeof(want), "argument '%s': %s: not a regular file",
	    arg, link);
	expect_err(conf(""), ARGS(arg), want);
	assert_int_equal(rmdir(link), 0);
#undef K32
#undef K31
}

/* No message about a key file ever quotes the key. */
static void
test_relay_key_not_quoted(void **state)
{
	static const char *const bad[] = {
		"Zm9yIHRoZSByZWxheSBvbmx5 OiB0aGlzIGhvc3QncyBr\n",
		"Zm9yIHRoZSByZWxheSBvbmx5\x01OiB0aGlzIGhvc3QncyBr\n",
		"Zm9yIHRoZSByZWxheQ\n",
	};
	struct ion_cfg *cfg = NULL;
	char err[ION_CFG_ERR_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_text(fx.key, bad[i], 0600, 0);
		write_text(fx.conf, conf(""), 0644, 0);
		assert_int_equal(
		    ion_cfg_load(
			1, (const char *[]) { fx.config_arg }, &cfg, err),
		    ION_ERR_CONFIG);
		if (strstr(err, "Zm9yIHRoZSByZWxhe") != NULL ||
		    strstr(err, "OiB0aGlzIGhvc3Qnc") != NULL)
			fail_msg("the message quotes the key: '%s'", err);
	}
	write_text(fx.key, KEY "\n", 0600, 0);
	write_text(fx.key, KEY "\n", 0400, 0);
	ion_cfg_free((struct ion_cfg *[]) { expect_ok(conf(""), NO_ARGS) });
}

static void
test_par(void **state)
{
	static const struct {
		const char *extra, *arg;
		enum ion_par_mode par;
	} cases[] = {
		{ "", NULL, ION_PAR_AUTO },
		{ "par = auto\n", NULL, ION_PAR_AUTO },
		{ "par = required\n", NULL, ION_PAR_REQUIRED },
		{ "par = off\n", NULL, ION_PAR_OFF },
		{ "", "par=required", ION_PAR_REQUIRED },
		{ "par = required\n", "par=off", ION_PAR_OFF },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[2] = { cases[i].arg, NULL };
		struct ion_cfg *cfg = expect_ok(conf(cases[i].extra), args);

		if (cfg->par != cases[i].par)
			fail_msg("case %zu: par %d, expected %d", i, cfg->par,
			    cases[i].par);
		ion_cfg_free(&cfg);
	}
}

#define ALL_ENDPOINTS                                                          \
	"authorize_endpoint = https://auth.example/authorize\n"                \
	"token_endpoint = https://auth.example/token\n"                        \
	"jwks_uri = https://auth.example/jwks\n"

/*
 * par = required with every endpoint configured: no discovery, so only
 * par_endpoint can name the PAR endpoint; without it no sign-in could
 * work, which is said at load.  With discovery, the login decides.
 */
static void
test_par_required_endpoint(void **state)
{
	static const struct {
		const char *extra, *arg;
		bool ok, discovery;
	} cases[] = {
		{ ALL_ENDPOINTS "par = required\n", NULL, false, false },
		{ ALL_ENDPOINTS "userinfo_endpoint = https://auth.example/u\n"
				"par = required\n",
		    NULL, false, false },
		{ ALL_ENDPOINTS, "par=required", false, false },
		{ ALL_ENDPOINTS "par = required\n"
				"par_endpoint = https://auth.example/par\n",
		    NULL, true, false },
		{ ALL_ENDPOINTS "par = required\n",
		    "par_endpoint=http://127.0.0.1:8080/par", true, false },
		{ ALL_ENDPOINTS "par = auto\n", NULL, true, false },
		{ ALL_ENDPOINTS "par = off\n", NULL, true, false },
		{ ALL_ENDPOINTS, NULL, true, false },
		/* one endpoint from discovery: discovery may offer PAR */
		{ "authorize_endpoint = https://auth.example/authorize\n"
		  "token_endpoint = https://auth.example/token\n"
		  "par = required\n",
		    NULL, true, true },
		{ "par = required\n", NULL, true, true },
		{ "par = required\n"
		  "par_endpoint = https://auth.example/par\n",
		    NULL, true, true },
	};
	const char *needle = "required, but every endpoint is configured (so "
			     "there is no discovery) and par_endpoint is not";
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[2] = { cases[i].arg, NULL };
		struct ion_cfg *cfg;

		if (!cases[i].ok) {
			expect_err2(conf(cases[i].extra), args,
			    cases[i].arg != NULL ? "argument 'par=required': "
						 : fx.conf,
			    needle);
			continue;
		}
		cfg = expect_ok(conf(cases[i].extra), args);
		if (ion_cfg_needs_discovery(cfg) != cases[i].discovery)
			fail_msg("case %zu: discovery %d, expected %d", i,
			    ion_cfg_needs_discovery(cfg), cases[i].discovery);
		ion_cfg_free(&cfg);
	}
}

static void
test_bad_arguments(void **state)
{
	char want[512], longarg[4200];

	(void)state;
	expect_err(
	    conf(""), ARGS("foo=bar"), "argument 'foo=...': unknown key");
	/* An unknown key's value is not repeated: it could be a secret. */
	expect_err(conf(""), ARGS("client_secret=" SECRET),
	    "argument 'client_secret=...': unknown key (the secret goes");
	expect_err(conf(""), ARGS("nodebug"),
	    "argument 'nodebug': expected key=value");
	expect_err(conf(""), ARGS("debug", "debug=no"),
	    "argument 'debug=no': debug given twice in the arguments");
	expect_err(conf(""), ARGS("qr=off", "qr=ascii"),
	    "argument 'qr=ascii': qr given twice");
	expect_err(conf(""), ARGS("qr="), "argument 'qr=': empty value");
	expect_err(conf(""), ARGS("qr=of\nf"),
	    "argument 'qr=of?f': control character");
	expect_err(conf(""), ARGS("Debug=yes"), "unknown key");
	expect_err(conf(""), ARGS("=yes"), "argument '=...': unknown key");
	expect_err(conf(""), ARGS("config=/etc/other.conf"),
	    "config given twice in the arguments");
	expect_err_argv(1, (const char *[]) { "config=relative.conf" },
	    "argument 'config=relative.conf': not an absolute path");
	expect_err_argv(1, (const char *[]) { "config=" },
	    "argument 'config=': not an absolute path");

	/* Long arguments are cut in messages. */
	memcpy(longarg, "scope=", 6);
	memset(longarg + 6, 'a', sizeof(longarg) - 7);
	longarg[sizeof(longarg) - 1] = '\0';
	expect_err(conf(""), ARGS(longarg), "longer than 4096 characters");
	longarg[1000] = '\0';
	snprintf(
	    want, sizeof(want), "argument '%.160s...': must contain", longarg);
	expect_err(conf(""), ARGS(longarg), want);

	/* NULL entries and absurd counts. */
	expect_err_argv(2, (const char *[]) { fx.config_arg, NULL }, "NULL");
	expect_err_argv(-1, NULL, "bad argument list");
	expect_err_argv(
	    1000, (const char *[]) { fx.config_arg }, "bad argument list");
}

static void
test_default_path(void **state)
{
	struct ion_cfg *cfg = NULL;
	char err[ION_CFG_ERR_MAX], arg[200], karg[200];
	const char *argv[5];
	int r;

	(void)state;
	if (access(ION_CFG_DEFAULT_PATH, F_OK) == 0 || errno != ENOENT)
		skip(); /* not ours to touch */
	/* Without config=, a missing default file means: arguments only. */
	snprintf(arg, sizeof(arg), "client_secret_file=%s", fx.secret);
	argv[0] = "client_id=c";
	argv[1] = arg;
	argv[2] = "relay_url=" RELAY;
	snprintf(karg, sizeof(karg), "relay_key_file=%s", fx.key);
	argv[3] = karg;
	r = ion_cfg_load(4, argv, &cfg, err);
	if (r != 0)
		fail_msg("%d: %s", r, err);
	assert_string_equal(cfg->config_path, ION_CFG_DEFAULT_PATH);
	assert_string_equal(cfg->client_id, "c");
	ion_cfg_free(&cfg);
	expect_err_argv(1, argv,
	    ION_CFG_DEFAULT_PATH ": client_secret_file: "
				 "required");
}

static void
test_free_null(void **state)
{
	struct ion_cfg *cfg = NULL;

	(void)state;
	ion_cfg_free(NULL);
	ion_cfg_free(&cfg);
	assert_null(cfg);
}

static void
test_reload_is_independent(void **state)
{
	struct ion_cfg *a, *b;

	(void)state;
	/* Two loads share nothing: no state survives between calls. */
	a = expect_ok(conf("qr = ascii\n"), ARGS("debug"));
	b = expect_ok(conf(""), NO_ARGS);
	assert_int_equal(a->qr, ION_QR_ASCII);
	assert_true(a->debug);
	assert_int_equal(b->qr, ION_QR_UTF8);
	assert_false(b->debug);
	assert_ptr_not_equal(a->client_secret, b->client_secret);
	ion_cfg_free(&a);
	ion_cfg_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults, reset),
		cmocka_unit_test_setup(test_every_key, reset),
		cmocka_unit_test_setup(test_rule_keys, reset),
		cmocka_unit_test_setup(test_layout, reset),
		cmocka_unit_test_setup(test_args_override, reset),
		cmocka_unit_test_setup(test_confirm_default, reset),
		cmocka_unit_test_setup(test_booleans, reset),
		cmocka_unit_test_setup(test_bad_values, reset),
		cmocka_unit_test_setup(test_alg_lists, reset),
		cmocka_unit_test(test_alg_names),
		cmocka_unit_test_setup(test_trailing_slashes, reset),
		cmocka_unit_test_setup(test_timeouts, reset),
		cmocka_unit_test_setup(test_ca_defaults, reset),
		cmocka_unit_test_setup(test_bad_lines, reset),
		cmocka_unit_test_setup(test_missing_required, reset),
		cmocka_unit_test_setup(test_long_lines, reset),
		cmocka_unit_test_setup(test_nul_in_file, reset),
		cmocka_unit_test_setup(test_file_size, reset),
		cmocka_unit_test_setup(test_unsafe_file, reset),
		cmocka_unit_test_setup(test_secret_file, reset),
		cmocka_unit_test_setup(test_secret_file_kinds, reset),
		cmocka_unit_test_setup(test_relay_key_file, reset),
		cmocka_unit_test_setup(test_relay_key_not_quoted, reset),
		cmocka_unit_test_setup(test_par, reset),
		cmocka_unit_test_setup(test_par_required_endpoint, reset),
		cmocka_unit_test_setup(test_bad_arguments, reset),
		cmocka_unit_test_setup(test_default_path, reset),
		cmocka_unit_test(test_free_null),
		cmocka_unit_test_setup(test_reload_is_independent, reset),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_config: must run as root (chown)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
