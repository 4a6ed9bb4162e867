/*
 * ion_cfg_load() on a fuzzed file and fuzzed module arguments, and
 * ion_url_allowed() / ion_alg_from_name() on every string of the input.
 *
 * Input: FILE, optionally followed by "\0\0" and the arguments, separated
 * by NULs.  "@DIR@" anywhere stands for this process's private directory,
 * which holds a client secret file ("@DIR@/secret", root-owned 0600) and
 * one of the wrong mode ("@DIR@/secret-0644"), and relay keys: good
 * ("@DIR@/relay.key"), of the wrong mode ("@DIR@/relay.key-0644"), too
 * short ("@DIR@/relay.key-short") and with a space ("relay.key-space").  FILE
 * is written to
 * "@DIR@/pam_ion.conf" (0644) and "config=" that path always comes first
 * among the arguments.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "fuzz.h"
#include "relay_proto.h"
#include "url.h"

#define SECRET "Zq7vK2xPm4-fuzz-secret-9fK2"
#define KEY "Fz9-relay-key-of-the-fuzzer-host-0123456789"
#define MAX_ARGS 130 /* a few more than ion_cfg_load() takes */

static char *conf_path;
static char *config_arg;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *p;

	(void)argc;
	(void)argv;
	conf_path = fuzz_path("pam_ion.conf");
	config_arg = fuzz_malloc(strlen("config=") + strlen(conf_path) + 1);
	strcpy(config_arg, "config=");
	strcat(config_arg, conf_path);
	p = fuzz_path("secret");
	fuzz_write_file(p, SECRET "\n", strlen(SECRET) + 1, 0600);
	free(p);
	p = fuzz_path("secret-0644");
	fuzz_write_file(p, SECRET "\n", strlen(SECRET) + 1, 0644);
	free(p);
	p = fuzz_path("relay.key");
	fuzz_write_file(p, KEY "\n", strlen(KEY) + 1, 0600);
	free(p);
	p = fuzz_path("relay.key-0644");
	fuzz_write_file(p, KEY "\n", strlen(KEY) + 1, 0644);
	free(p);
	p = fuzz_path("relay.key-short");
	fuzz_write_file(p, KEY, 20, 0600);
	free(p);
	p = fuzz_path("relay.key-space");
	fuzz_write_file(p, "Fz9 " KEY "\n", strlen(KEY) + 5, 0600);
	free(p);
	return 0;
}

/* What ion_url_allowed() promises about a URL it allows. */
static void
check_url(const char *s)
{
	size_t i;

	if (!ion_url_allowed(s))
		return;
	FUZZ_CHECK(strncasecmp(s, "https://", 8) == 0 ||
	    strncasecmp(s, "http://", 7) == 0);
	FUZZ_CHECK(strlen(s) <= 4096);
	FUZZ_CHECK(strchr(s, '#') == NULL);
	for (i = 0; s[i] != '\0'; i++)
		FUZZ_CHECK(
		    (unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f);
}

static void
check_alg(const char *s)
{
	unsigned bit = ion_alg_from_name(s);

	if (bit != 0)
		FUZZ_CHECK(strcmp(ion_alg_name(bit), s) == 0);
}

static void
check_strings(char *const *argv, int argc, const char *file)
{
	int i;

	check_url(file);
	check_alg(file);
	for (i = 0; i < argc; i++) {
		const char *v = strchr(argv[i], '=');

		check_url(argv[i]);
		check_alg(argv[i]);
		if (v != NULL) {
			check_url(v + 1);
			check_alg(v + 1);
		}
	}
}

static bool
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* What a loaded configuration promises (config.h). */
static void
check_cfg(const struct ion_cfg *c)
{
	const unsigned all = (ION_ALG_ES512 << 1) - 1;
	size_t n, i;

	FUZZ_CHECK(c->issuer != NULL && ion_url_allowed(c->issuer));
	n = strlen(c->issuer);
	FUZZ_CHECK(n > 0 && c->issuer[n - 1] != '/');
	FUZZ_CHECK(c->relay_url != NULL && ion_url_allowed(c->relay_url));
	n = strlen(c->relay_url);
	FUZZ_CHECK(n > 0 && c->relay_url[n - 1] != '/');
	FUZZ_CHECK(c->redirect_uri != NULL && ion_url_allowed(c->redirect_uri));
	FUZZ_CHECK(c->authorize_endpoint == NULL ||
	    ion_url_allowed(c->authorize_endpoint));
	FUZZ_CHECK(
	    c->token_endpoint == NULL || ion_url_allowed(c->token_endpoint));
	FUZZ_CHECK(c->jwks_uri == NULL || ion_url_allowed(c->jwks_uri));
	FUZZ_CHECK(c->userinfo_endpoint == NULL ||
	    ion_url_allowed(c->userinfo_endpoint));
	FUZZ_CHECK(c->par_endpoint == NULL || ion_url_allowed(c->par_endpoint));
	FUZZ_CHECK(c->client_id != NULL && c->client_id[0] != '\0');
	FUZZ_CHECK(c->client_secret != NULL && c->client_secret[0] != '\0' &&
	    !has_control(c->client_secret));
	FUZZ_CHECK(c->relay_key_file != NULL && c->relay_key != NULL);
	n = strlen(c->relay_key);
	FUZZ_CHECK(n >= ION_RELAY_KEY_MIN && n <= ION_RELAY_KEY_MAX);
	for (i = 0; i < n; i++)
		FUZZ_CHECK(c->relay_key[i] > 0x20 && c->relay_key[i] < 0x7f);
	FUZZ_CHECK(c->par == ION_PAR_AUTO || c->par == ION_PAR_REQUIRED ||
	    c->par == ION_PAR_OFF);
	/* par = required is refused when nothing could name the endpoint. */
	FUZZ_CHECK(c->par != ION_PAR_REQUIRED || c->par_endpoint != NULL ||
	    ion_cfg_needs_discovery(c));
	FUZZ_CHECK(c->scope != NULL && strstr(c->scope, "openid") != NULL);
	FUZZ_CHECK(c->user_claim != NULL && c->user_map_file != NULL &&
	    c->user_map_file[0] == '/');
	FUZZ_CHECK(c->cache_dir != NULL && c->cache_dir[0] == '/');
	FUZZ_CHECK(c->ca_file != NULL || c->ca_path != NULL);
	FUZZ_CHECK(c->allowed_algs != 0 && (c->allowed_algs & ~all) == 0);
	FUZZ_CHECK(c->http_timeout >= 1 && c->http_timeout < c->login_timeout &&
	    c->login_timeout <= 3600);
	FUZZ_CHECK(
	    c->config_path != NULL && strcmp(c->config_path, conf_path) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const tokens[] = { "@DIR@" };
	const char *values[] = { fuzz_dir() };
	const uint8_t *rest;
	size_t flen, rlen, elen;
	char *file, *args = NULL, **argv, err[ION_CFG_ERR_MAX];
	const char **cargv;
	struct ion_cfg *cfg = NULL;
	int argc, i, r;

	fuzz_split2(data, size, &flen, &rest, &rlen);
	file = fuzz_expand(data, flen, tokens, values, 1, &elen);
	fuzz_write_file(conf_path, file, elen, 0644);
	if (rest != NULL)
		args = fuzz_expand(rest, rlen, tokens, values, 1, &rlen);
	argv = fuzz_argv(config_arg, (const uint8_t *)args, args ? rlen : 0,
	    MAX_ARGS, &argc);

	cargv = fuzz_malloc(((size_t)argc + 1) * sizeof(*cargv));
	for (i = 0; i <= argc; i++)
		cargv[i] = argv[i];
	memset(err, 'x', sizeof(err));
	r = ion_cfg_load(argc, cargv, &cfg, err);
	fuzz_log("%d args: %s", argc, r == 0 ? "loaded" : err);
	if (r == 0) {
		FUZZ_CHECK(cfg != NULL);
		check_cfg(cfg);
		ion_cfg_free(&cfg);
		FUZZ_CHECK(cfg == NULL);
	} else {
		FUZZ_CHECK(cfg == NULL);
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		FUZZ_CHECK(err[0] != '\0');
		/*
		 * "never the secret" (config.h): the secret file's content
		 * is not quoted, unless the input itself holds it.
		 */
		if (memmem(data, size, SECRET, strlen(SECRET)) == NULL)
			FUZZ_CHECK(strstr(err, SECRET) == NULL);
		/* Nor the relay key, whole or the short file's part. */
		if (memmem(data, size, "relay-key-of", 12) == NULL)
			FUZZ_CHECK(strstr(err, "relay-key-of") == NULL);
	}
	check_strings(argv, argc, file);

	free(cargv);
	free(argv);
	free(args);
	free(file);
	return 0;
}
