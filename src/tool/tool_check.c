/*
 * pam-ion check: everything a sign-in needs that can be seen from this
 * host, one line a finding ("ok: WHAT", "warn: WHAT — FIX", "FAIL: WHAT —
 * FIX").  The configuration and the user map go through the module's own
 * readers (config.c, usermap.c), so a FAIL here is what the module would
 * refuse, in the module's words.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "b64url.h"
#include "cache.h"
#include "crypto.h"
#include "errors.h"
#include "http.h"
#include "idtoken.h"
#include "oidc.h"
#include "relay_proto.h"
#include "relayc.h"
#include "tool.h"
#include "tool_rules.h"
#include "tool_stack.h"
#include "usermap.h"

#define SERVICE_DEFAULT "sshd"
#define SSHD_BIN "/usr/sbin/sshd"
#define SSHD_DIR "/etc/ssh"
#define SSHD_CONFIG SSHD_DIR "/sshd_config"
#define SSHD_INCLUDE_DEPTH 16 /* sshd's READCONF_MAX_DEPTH */
#define FORM_TYPE "application/x-www-form-urlencoded"
#define HEALTHZ_PATH "/healthz"	  /* the relay's liveness (pam-ion-relay(8)) */
#define LOGIN_TIMEOUT_DEFAULT 110 /* pam_ion.conf(5) */
#define ERR_MAX 512
#define SEP " \xe2\x80\x94 " /* " — " between what and fix */

struct report {
	unsigned fails, warns;
};

static void finding(struct report *rep, const char *level, const char *fix,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* One line; fix may be NULL (an ok line has none). */
static void
finding(struct report *rep, const char *level, const char *fix, const char *fmt,
    ...)
{
	va_list ap;

	printf("%s: ", level);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (fix != NULL)
		printf(SEP "%s", fix);
	printf("\n");
	if (strcmp(level, "FAIL") == 0)
		rep->fails++;
	else if (strcmp(level, "warn") == 0)
		rep->warns++;
}

static void
check_map(struct report *rep, const struct ion_cfg *cfg)
{
	json_t *claims = json_pack("{s:b}", "email_verified", 1);
	char err[ERR_MAX], *user = NULL;
	int r;

	if (claims == NULL)
		return;
	r = ion_usermap_lookup(cfg->user_map_file, cfg->user_claim, claims,
	    &user, err, sizeof(err));
	json_decref(claims);
	free(user);
	if (r == 0 || r == ION_ERR_NO_USER)
		finding(rep, "ok", NULL, "user map %s", cfg->user_map_file);
	else
		finding(rep, "FAIL",
		    "the module refuses every sign-in until "
		    "it is fixed",
		    "user map: %s", err[0] != '\0' ? err : ion_strerror(r));
}

/* The cache directory as cache.c wants it (it creates a missing one). */
static void
check_cache_dir(struct report *rep, const struct ion_cfg *cfg)
{
	struct stat st;

	if (lstat(cfg->cache_dir, &st) == -1) {
		if (errno == ENOENT)
			finding(rep, "ok", NULL,
			    "cache %s (created at the first sign-in)",
			    cfg->cache_dir);
		else
			finding(rep, "warn", "sign-ins fetch every time",
			    "cache %s: %s", cfg->cache_dir, strerror(errno));
		return;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		finding(rep, "warn",
		    "the module does not use it: make it a directory owned by "
		    "root, mode 0700",
		    "cache %s: %s", cfg->cache_dir,
		    !S_ISDIR(st.st_mode) ? "not a directory"
			: st.st_uid != 0 ? "not owned by root"
					 : "writable by group or others");
	else
		finding(rep, "ok", NULL, "cache %s", cfg->cache_dir);
}

/* tool_stack.c's findings, printed as the others. */
static void
emit_finding(void *ctx, const char *level, const char *fix, const char *what)
{
	finding(ctx, level, fix, "%s", what);
}

static void
check_stack(struct report *rep, const struct tool_opts *o, const char *checked)
{
	const struct tool_findings out = { emit_finding, rep };

	tool_stack_check(o->pamd_dir, o->module_dir,
	    o->service != NULL ? o->service : SERVICE_DEFAULT, checked, &out);
}

/* The value of "key value" in sshd -T's output, or NULL. */
static const char *
sshd_value(char *out, const char *key)
{
	size_t n = strlen(key);
	char *p;

	for (p = out; p != NULL && *p != '\0';
	     p = strchr(p, '\n'), p += p != NULL) {
		if (strncmp(p, key, n) == 0 && p[n] == ' ')
			return p + n + 1;
	}
	return NULL;
}

/* Does "v" (up to its newline) equal word? */
static bool
is(const char *v, const char *word)
{
	size_t n = strlen(word);

	return v != NULL && strncmp(v, word, n) == 0 &&
	    (v[n] == '\n' || v[n] == '\0');
}

/*
 * sshd's AuthenticationMethods: "any", or lists separated by spaces, each
 * of methods separated by commas; keyboard-interactive (or
 * keyboard-interactive:pam) must be in a list a person can complete.
 */
static bool
methods_allow_kbdint(const char *v)
{
	const char *end;

	if (v == NULL || is(v, "any"))
		return true;
	end = v + strcspn(v, "\n");
	while (v < end) {
		size_t n = strcspn(v, " \n");
		const char *m = v;

		while (m < v + n) {
			size_t k = strcspn(m, ", \n");

			if ((k == 20 &&
				strncmp(m, "keyboard-interactive", 20) == 0) ||
			    (k > 20 &&
				strncmp(m, "keyboard-interactive:", 21) == 0))
				return true;
			m += k + (m[k] == ',');
		}
		v += n + (v[n] == ' ');
	}
	return false;
}

/*
 * Whether an sshd_config file, or a file it includes, has a Match block.
 * sshd reads "Include" patterns with glob(3), relative ones from its
 * directory /etc/ssh.
 */
static bool
sshd_has_match(const char *path, int depth)
{
	char *line = NULL;
	size_t cap = 0;
	bool found = false;
	FILE *f;

	if (depth > SSHD_INCLUDE_DEPTH || (f = fopen(path, "re")) == NULL)
		return false;
	while (!found && getline(&line, &cap, f) != -1) {
		char *p = line + strspn(line, " \t"), *arg;
		size_t n = strcspn(p, " \t\r\n=");

		if (n == 5 && strncasecmp(p, "match", 5) == 0)
			found = true;
		if (n != 7 || strncasecmp(p, "include", 7) != 0)
			continue;
		for (arg = strtok(p + n, " \t\r\n="); arg != NULL && !found;
		     arg = strtok(NULL, " \t\r\n=")) {
			char pattern[PATH_MAX];
			glob_t g;
			size_t i;

			snprintf(pattern, sizeof(pattern), "%s%s",
			    arg[0] == '/' ? "" : SSHD_DIR "/", arg);
			if (glob(pattern, 0, NULL, &g) != 0)
				continue;
			for (i = 0; i < g.gl_pathc && !found; i++)
				found =
				    sshd_has_match(g.gl_pathv[i], depth + 1);
			globfree(&g);
		}
	}
	free(line);
	fclose(f);
	return found;
}

/*
 * sshd -T [-f FILE] [-C MATCH] run directly (no shell): its output with
 * stderr (malloc'd), or NULL with why set to its first line.
 */
static char *
sshd_t(const char *file, const char *match, char *why, size_t whylen)
{
	const char *argv[7] = { SSHD_BIN, "-T", NULL };
	char *out = NULL, buf[4096];
	size_t len = 0, cap = 0;
	int fds[2], st = 0, argc = 2;
	ssize_t n;
	pid_t pid;

	if (file != NULL) {
		argv[argc++] = "-f";
		argv[argc++] = file;
	}
	if (match != NULL) {
		argv[argc++] = "-C";
		argv[argc++] = match;
	}
	if (pipe2(fds, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		snprintf(why, whylen, "%s", strerror(errno));
		return NULL;
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		execv(SSHD_BIN, (char *const *)(uintptr_t)argv);
		fprintf(stderr, "%s: %s\n", SSHD_BIN, strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	while ((n = read(fds[0], buf, sizeof(buf))) > 0 ||
	    (n == -1 && errno == EINTR)) {
		char *p;

		if (n <= 0)
			continue;
		if (len + (size_t)n + 1 > cap) {
			cap = (len + (size_t)n + 1) * 2;
			if ((p = realloc(out, cap)) == NULL)
				break;
			out = p;
		}
		memcpy(out + len, buf, (size_t)n);
		len += (size_t)n;
		out[len] = '\0';
	}
	close(fds[0]);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	if (out == NULL || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		snprintf(why, whylen, "sshd -T failed: %.*s",
		    out != NULL ? (int)strcspn(out, "\r\n") : 0,
		    out != NULL ? out : "");
		free(out);
		return NULL;
	}
	return out;
}

/* sshd -T without -C leaves out Match blocks: say which settings these are. */
static void
check_sshd_match(struct report *rep, const struct tool_opts *o)
{
	const char *file =
	    o->sshd_config != NULL ? o->sshd_config : SSHD_CONFIG;

	if (!sshd_has_match(file, 0))
		return;
	if (o->match != NULL)
		finding(rep, "ok", NULL, "sshd: Match blocks evaluated for %s",
		    o->match);
	else
		finding(rep, "warn",
		    "name the connection to judge with --match "
		    "user=NAME,host=HOST,addr=ADDR",
		    "sshd: Match blocks are not evaluated by sshd -T without "
		    "-C: the settings below are those outside them");
}

static void
check_sshd(struct report *rep, const struct tool_opts *o, unsigned timeout)
{
	char why[ERR_MAX], *out;
	const char *v;
	long grace;

	why[0] = '\0';
	if ((out = sshd_t(o->sshd_config, o->match, why, sizeof(why))) ==
	    NULL) {
		finding(rep, "FAIL", "fix what sshd says", "sshd: %s", why);
		return;
	}
	check_sshd_match(rep, o);
	if (is(sshd_value(out, "usepam"), "yes"))
		finding(rep, "ok", NULL, "sshd: usepam yes");
	else
		finding(rep, "FAIL", "set \"UsePAM yes\" in sshd_config",
		    "sshd: usepam is not yes");
	v = sshd_value(out, "kbdinteractiveauthentication");
	if (v == NULL)
		v = sshd_value(out, "challengeresponseauthentication");
	if (is(v, "yes"))
		finding(
		    rep, "ok", NULL, "sshd: kbdinteractiveauthentication yes");
	else
		finding(rep, "FAIL",
		    "set \"KbdInteractiveAuthentication yes\" in sshd_config",
		    "sshd: kbdinteractiveauthentication is not yes");
	v = sshd_value(out, "authenticationmethods");
	if (methods_allow_kbdint(v))
		finding(rep, "ok", NULL,
		    "sshd: authenticationmethods allows keyboard-interactive");
	else
		finding(rep, "FAIL",
		    "add keyboard-interactive to AuthenticationMethods",
		    "sshd: authenticationmethods %.*s has no "
		    "keyboard-interactive",
		    (int)strcspn(v, "\n"), v);
	v = sshd_value(out, "logingracetime");
	grace = v != NULL ? strtol(v, NULL, 10) : 120;
	if (grace == 0 || grace > (long)timeout)
		finding(rep, "ok", NULL,
		    "sshd: logingracetime %ld > login_timeout %u", grace,
		    timeout);
	else
		finding(rep, "FAIL",
		    "raise LoginGraceTime in sshd_config above login_timeout, "
		    "or lower login_timeout",
		    "sshd: logingracetime %ld <= login_timeout %u: sshd cuts "
		    "sign-ins short",
		    grace, timeout);
	free(out);
}

/*
 * Does a JWK fit one of the allowed algorithms?  The module ties each
 * algorithm to its key type: RSA for RS* and PS*, EC on P-256/384/521 for
 * ES256/384/512 (jose.c); a key whose "use" is not "sig" is never used.
 */
static bool
key_usable(json_t *k, unsigned algs)
{
	const char *kty = json_string_value(json_object_get(k, "kty"));
	const char *crv = json_string_value(json_object_get(k, "crv"));
	const char *use = json_string_value(json_object_get(k, "use"));
	const unsigned rsa = ION_ALG_RS256 | ION_ALG_RS384 | ION_ALG_RS512 |
	    ION_ALG_PS256 | ION_ALG_PS384 | ION_ALG_PS512;

	if (kty == NULL || (use != NULL && strcmp(use, "sig") != 0))
		return false;
	if (strcmp(kty, "RSA") == 0)
		return (algs & rsa) != 0;
	if (strcmp(kty, "EC") != 0 || crv == NULL)
		return false;
	return (strcmp(crv, "P-256") == 0 && (algs & ION_ALG_ES256)) ||
	    (strcmp(crv, "P-384") == 0 && (algs & ION_ALG_ES384)) ||
	    (strcmp(crv, "P-521") == 0 && (algs & ION_ALG_ES512));
}

static void
check_jwks(struct report *rep, struct ion_http *h, const struct ion_cfg *cfg,
    const char *url)
{
	const char *why = "no answer";
	char *body = NULL;
	json_t *doc = NULL, *keys, *k;
	size_t i, usable = 0;
	bool cached;

	if (ion_oidc_fetch_doc(h, cfg, url, false, &body, &cached, &why) != 0) {
		finding(rep, "FAIL",
		    "check jwks_uri and that the provider is reachable",
		    "provider: JWKS %s: %s", url, why);
		return;
	}
	doc = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
	keys = json_object_get(doc, "keys");
	for (i = 0; i < json_array_size(keys); i++) {
		k = json_array_get(keys, i);
		if (key_usable(k, cfg->allowed_algs))
			usable++;
	}
	if (!json_is_array(keys))
		finding(rep, "FAIL", "check jwks_uri",
		    "provider: JWKS %s: not a JSON key set", url);
	else if (usable == 0)
		finding(rep, "FAIL",
		    "set allowed_algs to what the provider signs with",
		    "provider: JWKS %s: no key for allowed_algs", url);
	else
		finding(rep, "ok", NULL,
		    "provider: JWKS %s (%zu of %zu keys "
		    "usable)",
		    url, usable, json_array_size(keys));
	json_decref(doc);
	free(body);
}

/*
 * The provider's clock, from the Date header of a fresh request, against
 * ours: id_token times are checked with ION_IDTOKEN_LEEWAY_S of leeway.
 */
static void
check_skew(struct report *rep, struct ion_http *h, const char *url)
{
	struct ion_http_resp resp;
	struct tm tm;
	const char *end;
	long long skew;
	time_t now;

	memset(&resp, 0, sizeof(resp));
	if (ion_http_get(h, url, NULL, 0, ION_OIDC_MAX_DOC, &resp) != 0 ||
	    resp.date == NULL) {
		finding(rep, "warn", "compare the clocks by hand",
		    "clock: the provider sent no Date header");
		ion_http_resp_clear(&resp);
		return;
	}
	now = time(NULL);
	memset(&tm, 0, sizeof(tm));
	end = strptime(resp.date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (end == NULL || *end != '\0') {
		finding(rep, "warn", "compare the clocks by hand",
		    "clock: the provider's Date header is not an HTTP date");
		ion_http_resp_clear(&resp);
		return;
	}
	skew = (long long)timegm(&tm) - (long long)now;
	if (llabs(skew) > ION_IDTOKEN_LEEWAY_S)
		finding(rep, "FAIL", "synchronise this host's clock (NTP)",
		    "clock: %+llds from the provider's, more than the %ds the "
		    "module allows",
		    skew, ION_IDTOKEN_LEEWAY_S);
	else if (llabs(skew) > ION_IDTOKEN_LEEWAY_S / 4)
		finding(rep, "warn", "synchronise this host's clock (NTP)",
		    "clock: %+llds from the provider's", skew);
	else
		finding(
		    rep, "ok", NULL, "clock: %+llds from the provider's", skew);
	ion_http_resp_clear(&resp);
}

/*
 * The token endpoint with a code that cannot exist, authenticated as the
 * module authenticates (client_secret_basic, ion_http_post()): RFC 6749
 * 5.2 has the provider check the client first, so invalid_client (or a
 * 401) means the client_id or secret is wrong, and invalid_grant means
 * the client was accepted and only the code refused.
 */
static void
check_token_endpoint(struct report *rep, struct ion_http *h,
    const struct ion_cfg *cfg, const char *url)
{
	unsigned char raw[32];
	char code[ION_B64URL_LEN(32) + 1], *form = NULL;
	struct ion_http_resp resp;
	const char *err = NULL;
	json_t *ans = NULL;
	size_t len;
	int r;

	memset(&resp, 0, sizeof(resp));
	if (ion_random_bytes(raw, sizeof(raw)) != 0)
		return;
	ion_b64url_encode(raw, sizeof(raw), code);
	if ((form = ion_oidc_token_form(cfg, code, code, &len)) == NULL)
		goto out;
	r = ion_http_post(h, url, FORM_TYPE, form, len, cfg->client_id,
	    cfg->client_secret, ION_OIDC_MAX_TOKEN_RESP, &resp);
	if (r != 0) {
		finding(rep, "FAIL", "check that the provider is reachable",
		    "provider: token endpoint %s: %s", url, ion_strerror(r));
		goto out;
	}
	ans = json_loadb(resp.body, resp.len, JSON_REJECT_DUPLICATES, NULL);
	err = json_string_value(json_object_get(ans, "error"));
	/* An error code is a short word (RFC 6749 5.2); quote nothing else. */
	if (err != NULL &&
	    (strlen(err) > 64 ||
		strspn(err, "abcdefghijklmnopqrstuvwxyz_") != strlen(err)))
		err = NULL;
	if (resp.status == 401 ||
	    (err != NULL && strcmp(err, "invalid_client") == 0))
		finding(rep, "FAIL",
		    "check client_id and the secret in client_secret_file",
		    "provider: token endpoint %s refuses the client's "
		    "authentication",
		    url);
	else if (resp.status == 400 && err != NULL &&
	    strcmp(err, "invalid_grant") == 0)
		finding(rep, "ok", NULL,
		    "provider: token endpoint %s accepts the client", url);
	else
		finding(rep, "warn",
		    "try a sign-in with pam_ion to see whether the client is "
		    "accepted",
		    "provider: token endpoint %s answered %ld%s%s: cannot tell "
		    "whether the client is accepted",
		    url, resp.status, err != NULL ? " " : "",
		    err != NULL ? err : "");
out:
	json_decref(ans);
	ion_http_resp_clear(&resp);
	free(form);
}

static void
check_provider(
    struct report *rep, struct ion_http *h, const struct ion_cfg *cfg)
{
	const struct tool_findings out = { emit_finding, rep };
	struct ion_provider *p = NULL;
	const char *why = "failed";

	if (ion_oidc_discover(h, cfg, &p, &why) != 0) {
		finding(rep, "FAIL",
		    "check issuer (and ca_file, ca_path, proxy) and that the "
		    "provider is reachable",
		    "provider: discovery %s: %s", cfg->issuer, why);
		tool_rules_check(cfg, NULL, &out);
		return;
	}
	finding(rep, "ok", NULL, "provider: discovery %s (token endpoint %s)",
	    p->issuer, p->token_endpoint);
	check_token_endpoint(rep, h, cfg, p->token_endpoint);
	check_jwks(rep, h, cfg, p->jwks_uri);
	check_skew(rep, h, p->jwks_uri);
	tool_rules_check(cfg, p, &out);
	ion_provider_free(&p);
}

/*
 * The relay: /healthz, then this host's key through a poll for a login
 * that does not exist.  The relay checks the key before anything else:
 * 401 is a key it does not know, 404 (the login unknown) a key it took.
 */
static void
check_relay(struct report *rep, struct ion_http *h, const struct ion_cfg *cfg)
{
	unsigned char raw[32];
	char *url = NULL, secret[ION_B64URL_LEN(32) + 1];
	struct ion_http_resp resp;
	struct ion_relay_result res;
	const char *why = "failed";
	int r;

	memset(&resp, 0, sizeof(resp));
	if (asprintf(&url, "%s%s", cfg->relay_url, HEALTHZ_PATH) == -1)
		return;
	r = ion_http_get(h, url, NULL, 0, ION_OIDC_MAX_DOC, &resp);
	if (r != 0 || resp.status != 200) {
		finding(rep, "FAIL",
		    "check relay_url and that pam-ion-relay runs (and its "
		    "store)",
		    "relay: %s: %s", url, r != 0 ? ion_strerror(r) : "not 200");
		ion_http_resp_clear(&resp);
		free(url);
		return;
	}
	ion_http_resp_clear(&resp);
	finding(rep, "ok", NULL, "relay: %s", url);
	free(url);
	memset(&res, 0, sizeof(res));
	/* A poll secret no login has: the answer can only be 401 or 404. */
	if (ion_random_bytes(raw, sizeof(raw)) != 0)
		return;
	ion_b64url_encode(raw, sizeof(raw), secret);
	r = ion_relay_poll(
	    h, cfg->relay_url, cfg->relay_key, secret, 0, &res, &why);
	ion_relay_result_clear(&res);
	if (r == ION_ERR_NOT_FOUND)
		finding(rep, "ok", NULL, "relay: this host's key is accepted");
	else if (r == ION_ERR_CONFIG)
		finding(rep, "FAIL",
		    "add the key's hash to the relay's --client-keys "
		    "(pam-ion-relay(8))",
		    "relay: the relay refuses this host's key (%s)",
		    cfg->relay_key_file);
	else
		finding(rep, "FAIL", "check relay_url",
		    "relay: a probe poll failed: %s", why);
}

static void
check_network(struct report *rep, const struct ion_cfg *cfg)
{
	struct ion_http_opts ho;
	struct ion_http *h = NULL;

	memset(&ho, 0, sizeof(ho));
	ho.ca_file = cfg->ca_file;
	ho.ca_path = cfg->ca_path;
	ho.proxy = cfg->proxy;
	ho.timeout_ms = cfg->http_timeout * 1000;
	if (ion_http_new(&ho, &h) != 0)
		return;
	check_provider(rep, h, cfg);
	check_relay(rep, h, cfg);
	ion_http_free(&h);
}

int
tool_check(const struct tool_opts *o)
{
	struct report rep = { 0, 0 };
	unsigned timeout = LOGIN_TIMEOUT_DEFAULT;
	struct ion_cfg *cfg;
	char err[ION_CFG_ERR_MAX];
	const char *service = o->service != NULL ? o->service : SERVICE_DEFAULT;

	if ((cfg = tool_load_cfg_quiet(o, err)) == NULL)
		finding(&rep, "FAIL",
		    "the module refuses every sign-in until it "
		    "is fixed",
		    "config: %s", err);
	else {
		finding(&rep, "ok", NULL,
		    "config %s (client secret %s, relay "
		    "key %s)",
		    cfg->config_path, cfg->client_secret_file,
		    cfg->relay_key_file);
		timeout = cfg->login_timeout;
		check_map(&rep, cfg);
		check_cache_dir(&rep, cfg);
		check_network(&rep, cfg);
	}
	check_stack(&rep, o, cfg != NULL ? cfg->config_path : NULL);
	if (strcmp(service, "sshd") == 0)
		check_sshd(&rep, o, timeout);
	ion_cfg_free(&cfg);
	return rep.fails > 0 ? TOOL_FAIL : TOOL_OK;
}
