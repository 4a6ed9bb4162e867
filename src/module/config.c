#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "crypto.h"
#include "errors.h"
#include "logsafe.h"
#include "relay_proto.h"
#include "rootfile.h"
#include "textfile.h"
#include "url.h"

#define CFG_FILE_MAX (64 * 1024)
#define CFG_LINE_MAX ION_CFG_VALUE_MAX
#define CFG_ARGS_MAX 128
#define SECRET_FILE_MAX 4096
#define PATH_LEN_MAX 4095
#define CLIENT_ID_MAX 1024
#define SCOPE_MAX 1024
#define CLAIM_MAX ION_CLAIM_NAME_MAX
#define ECHO_MAX 160 /* characters of an argument quoted in a message */

#define DEFAULT_ISSUER "https://auth.ionelectricity.com"
#define DEFAULT_SCOPE "openid profile email"
#define DEFAULT_USER_CLAIM "email"
#define DEFAULT_USER_MAP "/etc/security/pam_ion.users"
#define DEFAULT_ALGS "RS256 PS256 ES256"
#define DEFAULT_CA_PATH "/etc/ssl/certs"
#define DEFAULT_CACHE_DIR "/var/cache/pam_ion"
#define CALLBACK_PATH "/callback"
#define CONFIG_ARG "config="
#define EMPTY_VALUE "empty value (leave the key out for its default)"

static const struct {
	const char *name;
	unsigned bit;
} algs[] = {
	{ "RS256", ION_ALG_RS256 },
	{ "RS384", ION_ALG_RS384 },
	{ "RS512", ION_ALG_RS512 },
	{ "PS256", ION_ALG_PS256 },
	{ "PS384", ION_ALG_PS384 },
	{ "PS512", ION_ALG_PS512 },
	{ "ES256", ION_ALG_ES256 },
	{ "ES384", ION_ALG_ES384 },
	{ "ES512", ION_ALG_ES512 },
};

unsigned
ion_alg_from_name(const char *name)
{
	size_t i;

	if (name == NULL)
		return 0;
	/* JOSE algorithm names are case-sensitive (RFC 7515 4.1.1). */
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (strcmp(name, algs[i].name) == 0)
			return algs[i].bit;
	return 0;
}

const char *
ion_alg_name(unsigned alg)
{
	size_t i;

	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (alg == algs[i].bit)
			return algs[i].name;
	return NULL;
}

/* One entry per key; parse() checks a value and stores it in the struct. */
struct key {
	const char *name;
	int (*parse)(
	    const struct key *, const char *, struct ion_cfg *, char *, size_t);
	size_t off;	 /* of the field in struct ion_cfg */
	const char *def; /* default value, parsed like a given one */
	unsigned flags;
	unsigned lo, hi;	  /* seconds: the range */
	const struct word *words; /* the words an enum key takes */
};

/* A word an enum key takes and the value it stands for. */
struct word {
	const char *name;
	unsigned value;
};

#define KEY_REQUIRED 1u	   /* no default: must be given */
#define URL_STRIP_SLASH 2u /* drop trailing '/' */
#define URL_NO_QUERY 4u	   /* a base URL: no '?' */
/*
 * A proxy may be http:// anywhere: TLS to the provider runs end to end
 * through it (CONNECT), and its certificates are still verified.
 */
#define URL_PROXY 8u

static int parse_seconds(const struct key *k, const char *v,
    struct ion_cfg *cfg, char *why, size_t whylen);
static void why_set(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
why_set(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

static char **
str_field(struct ion_cfg *cfg, const struct key *k)
{
	return (char **)(void *)((char *)cfg + k->off);
}

static int
set_str(struct ion_cfg *cfg, const struct key *k, const char *v, size_t len)
{
	char **field = str_field(cfg, k);
	char *s;

	if ((s = strndup(v, len)) == NULL)
		return ION_ERR_NOMEM;
	free(*field);
	*field = s;
	return 0;
}

static int
parse_url(const struct key *k, const char *v, struct ion_cfg *cfg, char *why,
    size_t whylen)
{
	const char *problem;
	char *s = NULL;
	size_t len = strlen(v);
	bool query = false;
	int r = ION_ERR_CONFIG;

	if ((k->flags & URL_STRIP_SLASH) != 0)
		while (len > 0 && v[len - 1] == '/')
			len--;
	if ((s = strndup(v, len)) == NULL) {
		r = ION_ERR_NOMEM;
		goto out;
	}
	problem = ion_url_problem(
	    s, (k->flags & URL_PROXY) != 0 ? ION_URL_ANY_HTTP : 0, &query);
	if (problem != NULL) {
		why_set(why, whylen, "%s", problem);
		goto out;
	}
	if (query && (k->flags & URL_NO_QUERY) != 0) {
		why_set(why, whylen, "must not have a query ('?')");
		goto out;
	}
	free(*str_field(cfg, k));
	*str_field(cfg, k) = s;
	s = NULL; /* transferred */
	r = 0;
out:
	free(s);
	return r;
}

static int
parse_client_id(const struct key *k, const char *v, struct ion_cfg *cfg,
    char *why, size_t whylen)
{
	size_t i, len = strlen(v);

	if (len > CLIENT_ID_MAX) {
		why_set(
		    why, whylen, "longer than %d characters", CLIENT_ID_MAX);
		return ION_ERR_CONFIG;
	}
	/* RFC 6749 appendix A.1: client_id = *VSCHAR (%x20-7E). */
	for (i = 0; i < len; i++)
		if (v[i] < 0x20 || v[i] > 0x7e) {
			why_set(why, whylen,
			    "only printable ASCII characters are allowed");
			return ION_ERR_CONFIG;
		}
	return set_str(cfg, k, v, len);
}

static bool
check_path(const char *v, char *why, size_t whylen)
{
	if (v[0] != '/') {
		why_set(why, whylen, "not an absolute path");
		return false;
	}
	if (strlen(v) > PATH_LEN_MAX) {
		why_set(why, whylen, "longer than %d characters", PATH_LEN_MAX);
		return false;
	}
	return true;
}

static int
parse_path(const struct key *k, const char *v, struct ion_cfg *cfg, char *why,
    size_t whylen)
{
	if (!check_path(v, why, whylen))
		return ION_ERR_CONFIG;
	return set_str(cfg, k, v, strlen(v));
}

/*
 * A secret (the client secret, the relay key): the first line of a regular,
 * root-owned file of mode 0600 or 0400, without trailing white space.  what
 * names it in messages ("the secret", "the key"), which never quote it.
 */
static int
read_secret(
    const char *path, const char *what, char **ret, char *why, size_t whylen)
{
	char *buf = NULL, *s = NULL;
	const char *nl;
	size_t len = 0, n, i;
	int r;

	r = ion_rootfile_read(path, ION_ROOTFILE_PRIVATE, SECRET_FILE_MAX, &buf,
	    &len, why, whylen);
	if (r != 0) {
		if (r == ION_ERR_NOT_FOUND)
			r = ION_ERR_CONFIG;
		goto out;
	}
	r = ION_ERR_CONFIG;
	nl = memchr(buf, '\n', len);
	n = nl != NULL ? (size_t)(nl - buf) : len;
	while (n > 0 &&
	    (buf[n - 1] == ' ' || buf[n - 1] == '\t' || buf[n - 1] == '\r' ||
		buf[n - 1] == '\v' || buf[n - 1] == '\f'))
		n--;
	if (n == 0) {
		why_set(
		    why, whylen, "%s: %s (first line) is empty", path, what);
		goto out;
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f) {
			why_set(why, whylen, "%s: %s holds a control character",
			    path, what);
			goto out;
		}
	if ((s = malloc(n + 1)) == NULL) {
		r = ION_ERR_NOMEM;
		goto out;
	}
	memcpy(s, buf, n);
	s[n] = '\0';
	*ret = s;
	s = NULL; /* transferred */
	r = 0;
out:
	if (buf != NULL) {
		ion_scrub(buf, len);
		free(buf);
	}
	return r;
}

static void
free_secret(char **s)
{
	if (*s != NULL) {
		ion_scrub(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

static int
parse_secret_file(const struct key *k, const char *v, struct ion_cfg *cfg,
    char *why, size_t whylen)
{
	char *secret = NULL;
	int r;

	if (!check_path(v, why, whylen))
		return ION_ERR_CONFIG;
	if ((r = read_secret(v, "the secret", &secret, why, whylen)) != 0)
		return r;
	if ((r = set_str(cfg, k, v, strlen(v))) != 0) {
		free_secret(&secret);
		return r;
	}
	free_secret(&cfg->client_secret);
	cfg->client_secret = secret;
	return 0;
}

/*
 * This host's relay key (pam-ion-relay --new-client-key prints it): kept
 * like the client secret, and it goes out as a header, so printable ASCII
 * without spaces, of a length the relay accepts.  The messages say what is
 * wrong with it and never quote it.
 */
static int
parse_relay_key_file(const struct key *k, const char *v, struct ion_cfg *cfg,
    char *why, size_t whylen)
{
	char *key = NULL;
	size_t n;
	int r;

	if (!check_path(v, why, whylen))
		return ION_ERR_CONFIG;
	if ((r = read_secret(v, "the key", &key, why, whylen)) != 0)
		return r;
	r = ION_ERR_CONFIG;
	n = strlen(key);
	if (n < ION_RELAY_KEY_MIN || n > ION_RELAY_KEY_MAX) {
		why_set(why, whylen,
		    "%s: the key is %zu characters long; it must have %d to "
		    "%d (make one with pam-ion-relay --new-client-key)",
		    v, n, ION_RELAY_KEY_MIN, ION_RELAY_KEY_MAX);
		goto out;
	}
	if (!ion_relay_key_ok(key)) {
		why_set(why, whylen,
		    "%s: the key holds a space or a character that is "
		    "not printable ASCII",
		    v);
		goto out;
	}
	if ((r = set_str(cfg, k, v, strlen(v))) != 0)
		goto out;
	free_secret(&cfg->relay_key);
	cfg->relay_key = key;
	key = NULL; /* transferred */
	r = 0;
out:
	free_secret(&key);
	return r;
}

/* RFC 6749 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
static bool
scope_char(char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
	    (c >= 0x5d && c <= 0x7e);
}

static int
parse_scope(const struct key *k, const char *v, struct ion_cfg *cfg, char *why,
    size_t whylen)
{
	char out[SCOPE_MAX + 1];
	size_t o = 0, tlen;
	bool openid = false;
	const char *p = v;

	if (strlen(v) > SCOPE_MAX) {
		why_set(why, whylen, "longer than %d characters", SCOPE_MAX);
		return ION_ERR_CONFIG;
	}
	/* Tokens separated by spaces, stored with single spaces. */
	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		for (tlen = 0; p[tlen] != '\0' && p[tlen] != ' '; tlen++)
			if (!scope_char(p[tlen])) {
				why_set(why, whylen,
				    "scopes are separated by spaces and hold "
				    "no '\"', '\\' or control characters");
				return ION_ERR_CONFIG;
			}
		if (tlen == 6 && memcmp(p, "openid", 6) == 0)
			openid = true;
		if (o > 0)
			out[o++] = ' ';
		memcpy(out + o, p, tlen);
		o += tlen;
		p += tlen;
	}
	if (!openid) {
		why_set(why, whylen, "must contain 'openid'");
		return ION_ERR_CONFIG;
	}
	return set_str(cfg, k, out, o);
}

static bool
claim_name_ok(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
			(s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
			s[i] == '.' || s[i] == '-'))
			return false;
	return len > 0 && len <= CLAIM_MAX;
}

static int
parse_claim(const struct key *k, const char *v, struct ion_cfg *cfg, char *why,
    size_t whylen)
{
	size_t len = strlen(v);

	if (!claim_name_ok(v, len)) {
		why_set(why, whylen,
		    "a claim name of up to %d characters a-z 0-9 _ . -",
		    CLAIM_MAX);
		return ION_ERR_CONFIG;
	}
	return set_str(cfg, k, v, len);
}

/*
 * Which bytes a word of a list key may hold: ASCII as in a scope
 * (acr values), anything but controls and spaces (group names, which may
 * be UTF-8), or NAME=VALUE pairs (require_claims).
 */
#define WORDS_ASCII 16u
#define WORDS_ANY 32u
#define WORDS_PAIRS 64u

bool
ion_cfg_next_word(const char **p, const char **word, size_t *len)
{
	while (**p == ' ')
		(*p)++;
	if (**p == '\0')
		return false;
	*word = *p;
	*len = strcspn(*p, " ");
	*p += *len;
	return true;
}

bool
ion_cfg_unescape(
    const char *w, size_t len, char *out, size_t outmax, size_t *outlen)
{
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < len; i++) {
		if (o == outmax)
			return false;
		if (w[i] != '%') {
			out[o++] = w[i];
			continue;
		}
		if (len - i < 3 || (hi = ion_hex_value(w[i + 1])) < 0 ||
		    (lo = ion_hex_value(w[i + 2])) < 0 || (hi | lo) == 0)
			return false;
		out[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	*outlen = o;
	return true;
}

/* Whether the escapes of an escaped word are good (ion_cfg_unescape()). */
static bool
escapes_ok(const char *w, size_t len, char *why, size_t whylen)
{
	char out[CFG_LINE_MAX];
	size_t olen;

	if (len <= sizeof(out) &&
	    ion_cfg_unescape(w, len, out, sizeof(out), &olen))
		return true;
	why_set(why, whylen,
	    "'%%' must start an escape of two hex digits, not %%00 (write a "
	    "space as %%20, '#' as %%23, '%%' as %%25)");
	return false;
}

/* Whether one word of a list key is well formed; why says what is not. */
static bool
word_ok(unsigned flags, const char *w, size_t len, char *why, size_t whylen)
{
	const char *eq;
	size_t i;

	for (i = 0; i < len; i++) {
		if ((flags & WORDS_ASCII) != 0 && !scope_char(w[i])) {
			why_set(why, whylen,
			    "values are separated by spaces and hold no "
			    "'\"', '\\' or characters outside ASCII");
			return false;
		}
		if ((unsigned char)w[i] == 0x7f) {
			why_set(why, whylen, "holds a control character");
			return false;
		}
	}
	if ((flags & WORDS_ANY) != 0)
		return escapes_ok(w, len, why, whylen);
	if ((flags & WORDS_PAIRS) == 0)
		return true;
	eq = memchr(w, '=', len);
	if (eq == NULL || !claim_name_ok(w, (size_t)(eq - w)) ||
	    eq + 1 == w + len) {
		why_set(why, whylen,
		    "expected NAME=VALUE pairs separated by spaces, NAME a "
		    "claim name of up to %d characters a-z 0-9 _ . -, VALUE "
		    "not empty",
		    CLAIM_MAX);
		return false;
	}
	return escapes_ok(eq + 1, (size_t)(w + len - eq - 1), why, whylen);
}

/*
 * A list of words separated by spaces (require_groups, require_claims,
 * acr_values, require_acr), kept with one space between words.
 */
static int
parse_words(const struct key *k, const char *v, struct ion_cfg *cfg, char *why,
    size_t whylen)
{
	char out[CFG_LINE_MAX + 1];
	size_t o = 0, wlen;
	const char *p = v, *w;

	if (strlen(v) > CFG_LINE_MAX) {
		why_set(why, whylen, "longer than %d characters", CFG_LINE_MAX);
		return ION_ERR_CONFIG;
	}
	while (ion_cfg_next_word(&p, &w, &wlen)) {
		if (!word_ok(k->flags, w, wlen, why, whylen))
			return ION_ERR_CONFIG;
		if (o > 0)
			out[o++] = ' ';
		memcpy(out + o, w, wlen);
		o += wlen;
	}
	if (o == 0) {
		why_set(why, whylen, "no value given");
		return ION_ERR_CONFIG;
	}
	return set_str(cfg, k, out, o);
}

/* max_age: 0 is allowed (a sign-in at iON for this login only). */
static int
parse_max_age(const struct key *k, const char *v, struct ion_cfg *cfg,
    char *why, size_t whylen)
{
	int r;

	if ((r = parse_seconds(k, v, cfg, why, whylen)) == 0)
		cfg->has_max_age = true;
	return r;
}

static int
parse_bool(const struct key *k, const char *v, struct ion_cfg *cfg, char *why,
    size_t whylen)
{
	static const char *const yes[] = { "yes", "true", "1", "on" };
	static const char *const no[] = { "no", "false", "0", "off" };
	bool *field = (bool *)(void *)((char *)cfg + k->off);
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*field = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*field = false;
			return 0;
		}
	}
	why_set(why, whylen, "expected yes or no (true/false, on/off, 1/0)");
	return ION_ERR_CONFIG;
}

static int
parse_seconds(const struct key *k, const char *v, struct ion_cfg *cfg,
    char *why, size_t whylen)
{
	unsigned *field = (unsigned *)(void *)((char *)cfg + k->off);
	uint64_t n = 0;
	size_t i, len = strlen(v);

	for (i = 0; i < len && len <= 10; i++) {
		if (v[i] < '0' || v[i] > '9')
			break;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	if (len == 0 || len > 10 || i < len || n < k->lo || n > k->hi) {
		why_set(
		    why, whylen, "expected seconds in %u..%u", k->lo, k->hi);
		return ION_ERR_CONFIG;
	}
	*field = (unsigned)n;
	return 0;
}

static int
parse_algs(const struct key *k, const char *v, struct ion_cfg *cfg, char *why,
    size_t whylen)
{
	char tok[16];
	const char *p = v;
	unsigned bits = 0, bit;
	size_t tlen;

	(void)k;
	for (;;) {
		p += strspn(p, " ,");
		if (*p == '\0')
			break;
		tlen = strcspn(p, " ,");
		if (tlen >= sizeof(tok)) {
			why_set(why, whylen, "unknown algorithm '%.*s...'",
			    (int)sizeof(tok), p);
			return ION_ERR_CONFIG;
		}
		memcpy(tok, p, tlen);
		tok[tlen] = '\0';
		p += tlen;
		/*
		 * An unsigned token proves nothing, and an HMAC one only
		 * that its maker knew a shared secret (this machine's client
		 * secret, so anyone who can read it could mint tokens):
		 * neither is proof that the provider signed the person in.
		 */
		if (strcasecmp(tok, "none") == 0) {
			why_set(why, whylen,
			    "'%s' is never accepted (unsigned tokens)", tok);
			return ION_ERR_CONFIG;
		}
		if (strcasecmp(tok, "HS256") == 0 ||
		    strcasecmp(tok, "HS384") == 0 ||
		    strcasecmp(tok, "HS512") == 0) {
			why_set(why, whylen,
			    "'%s' is never accepted (HMAC with a shared "
			    "secret)",
			    tok);
			return ION_ERR_CONFIG;
		}
		if ((bit = ion_alg_from_name(tok)) == 0) {
			why_set(why, whylen,
			    "unknown algorithm '%s' (expected RS256 RS384 "
			    "RS512 PS256 PS384 PS512 ES256 ES384 ES512)",
			    tok);
			return ION_ERR_CONFIG;
		}
		bits |= bit;
	}
	if (bits == 0) {
		why_set(why, whylen, "the list is empty");
		return ION_ERR_CONFIG;
	}
	cfg->allowed_algs = bits;
	return 0;
}

/*
 * One of k->words (NULL-terminated), exactly as written, stored in the
 * enum field; the refusal lists the words ("expected a, b or c").
 */
static int
parse_word(const struct key *k, const char *v, struct ion_cfg *cfg, char *why,
    size_t whylen)
{
	unsigned *field = (unsigned *)(void *)((char *)cfg + k->off);
	const struct word *w;
	size_t n = 0;
	int len;

	for (w = k->words; w->name != NULL; w++)
		if (strcmp(v, w->name) == 0) {
			*field = w->value;
			return 0;
		}
	len = snprintf(why, whylen, "expected");
	for (w = k->words; w->name != NULL && len > 0 && (size_t)len < whylen;
	     w++, n++)
		len += snprintf(why + len, whylen - (size_t)len, "%s %s",
		    n == 0		    ? ""
			: w[1].name == NULL ? " or"
					    : ",",
		    w->name);
	return ION_ERR_CONFIG;
}

/* parse_word() writes the enums as unsigned. */
_Static_assert(sizeof(enum ion_qr_mode) == sizeof(unsigned), "enum size");
_Static_assert(sizeof(enum ion_prompt_mode) == sizeof(unsigned), "enum size");
_Static_assert(sizeof(enum ion_par_mode) == sizeof(unsigned), "enum size");

static const struct word qr_words[] = { { "utf8", ION_QR_UTF8 },
	{ "ascii", ION_QR_ASCII }, { "off", ION_QR_OFF }, { NULL, 0 } };
static const struct word prompt_words[] = { { "enter", ION_PROMPT_ENTER },
	{ "auto", ION_PROMPT_AUTO }, { NULL, 0 } };
static const struct word par_words[] = { { "auto", ION_PAR_AUTO },
	{ "required", ION_PAR_REQUIRED }, { "off", ION_PAR_OFF }, { NULL, 0 } };

#define F(field) offsetof(struct ion_cfg, field)

static const struct key keys[] = {
	{ .name = "issuer",
	    .parse = parse_url,
	    .off = F(issuer),
	    .def = DEFAULT_ISSUER,
	    .flags = URL_STRIP_SLASH | URL_NO_QUERY },
	{ .name = "authorize_endpoint",
	    .parse = parse_url,
	    .off = F(authorize_endpoint) },
	{ .name = "token_endpoint",
	    .parse = parse_url,
	    .off = F(token_endpoint) },
	{ .name = "jwks_uri", .parse = parse_url, .off = F(jwks_uri) },
	{ .name = "userinfo_endpoint",
	    .parse = parse_url,
	    .off = F(userinfo_endpoint) },
	{ .name = "par_endpoint", .parse = parse_url, .off = F(par_endpoint) },
	{ .name = "client_id",
	    .parse = parse_client_id,
	    .off = F(client_id),
	    .flags = KEY_REQUIRED },
	{ .name = "client_secret_file",
	    .parse = parse_secret_file,
	    .off = F(client_secret_file),
	    .flags = KEY_REQUIRED },
	{ .name = "relay_url",
	    .parse = parse_url,
	    .off = F(relay_url),
	    .flags = KEY_REQUIRED | URL_STRIP_SLASH | URL_NO_QUERY },
	{ .name = "relay_key_file",
	    .parse = parse_relay_key_file,
	    .off = F(relay_key_file),
	    .flags = KEY_REQUIRED },
	{ .name = "redirect_uri", .parse = parse_url, .off = F(redirect_uri) },
	{ .name = "scope",
	    .parse = parse_scope,
	    .off = F(scope),
	    .def = DEFAULT_SCOPE },
	{ .name = "user_claim",
	    .parse = parse_claim,
	    .off = F(user_claim),
	    .def = DEFAULT_USER_CLAIM },
	{ .name = "user_map_file",
	    .parse = parse_path,
	    .off = F(user_map_file),
	    .def = DEFAULT_USER_MAP },
	{ .name = "user_from_token",
	    .parse = parse_bool,
	    .off = F(user_from_token),
	    .def = "no" },
	{ .name = "login_timeout",
	    .parse = parse_seconds,
	    .off = F(login_timeout),
	    .def = "110",
	    .lo = 10,
	    .hi = 3600 },
	{ .name = "http_timeout",
	    .parse = parse_seconds,
	    .off = F(http_timeout),
	    .def = "10",
	    .lo = 1,
	    .hi = 120 },
	{ .name = "allowed_algs",
	    .parse = parse_algs,
	    .off = F(allowed_algs),
	    .def = DEFAULT_ALGS },
	{ .name = "qr",
	    .parse = parse_word,
	    .off = F(qr),
	    .def = "utf8",
	    .words = qr_words },
	{ .name = "ca_file", .parse = parse_path, .off = F(ca_file) },
	{ .name = "ca_path", .parse = parse_path, .off = F(ca_path) },
	{ .name = "proxy",
	    .parse = parse_url,
	    .off = F(proxy),
	    .flags = URL_PROXY | URL_NO_QUERY },
	{ .name = "prompt",
	    .parse = parse_word,
	    .off = F(prompt),
	    .def = "enter",
	    .words = prompt_words },
	/*
	 * yes whatever prompt is: an unconfirmed sign-in could be one that
	 * someone else started.  login.c honours no only for local logins.
	 */
	{ .name = "confirm",
	    .parse = parse_bool,
	    .off = F(confirm),
	    .def = "yes" },
	{ .name = "par",
	    .parse = parse_word,
	    .off = F(par),
	    .def = "auto",
	    .words = par_words },
	{ .name = "groups_claim",
	    .parse = parse_claim,
	    .off = F(groups_claim),
	    .def = "groups" },
	{ .name = "require_groups",
	    .parse = parse_words,
	    .off = F(require_groups),
	    .flags = WORDS_ANY },
	{ .name = "require_claims",
	    .parse = parse_words,
	    .off = F(require_claims),
	    .flags = WORDS_PAIRS },
	{ .name = "acr_values",
	    .parse = parse_words,
	    .off = F(acr_values),
	    .flags = WORDS_ASCII },
	{ .name = "require_acr",
	    .parse = parse_words,
	    .off = F(require_acr),
	    .flags = WORDS_ASCII },
	{ .name = "max_age",
	    .parse = parse_max_age,
	    .off = F(max_age),
	    .lo = 0,
	    .hi = 31536000 },
	{ .name = "login_prompt",
	    .parse = parse_bool,
	    .off = F(login_prompt),
	    .def = "no" },
	{ .name = "debug", .parse = parse_bool, .off = F(debug), .def = "no" },
	{ .name = "cache_dir",
	    .parse = parse_path,
	    .off = F(cache_dir),
	    .def = DEFAULT_CACHE_DIR },
};

#undef F

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* The state of one ion_cfg_load(): where each key was last given. */
struct loader {
	const char *path;
	char *err;
	unsigned line[NKEYS];	/* in the file; 0: not there */
	const char *arg[NKEYS]; /* the argument; NULL: none */
	struct ion_cfg *cfg;
};

static void fail(struct loader *ld, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
fail(struct loader *ld, const char *fmt, ...)
{
	va_list ap;

	if (ld->err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(ld->err, ION_CFG_ERR_MAX, fmt, ap);
	va_end(ap);
}

/*
 * An argument as quoted in a message: control characters as '?', cut at
 * ECHO_MAX.  For an unknown key only the key is shown, in case someone put a
 * secret on the module's command line ("client_secret=...").
 */
static void
echo_arg(const char *arg, bool key_only, char out[ECHO_MAX + 4])
{
	size_t n = key_only ? strcspn(arg, "=") : SIZE_MAX;

	if (key_only && arg[n] == '=')
		n++;
	ion_log_safe(arg, n, out, ECHO_MAX + 4);
}

/* Reports why as the error of key idx, at the place it was last given. */
static void
fail_key(struct loader *ld, size_t idx, const char *why)
{
	char echo[ECHO_MAX + 4];

	if (ld->arg[idx] != NULL) {
		echo_arg(ld->arg[idx], false, echo);
		fail(ld, "argument '%s': %s", echo, why);
	} else if (ld->line[idx] != 0)
		fail(ld, "%s:%u: %s: %s", ld->path, ld->line[idx],
		    keys[idx].name, why);
	else
		fail(ld, "%s: %s: %s", ld->path, keys[idx].name, why);
}

static const struct key *
find_key(const char *name, size_t len, size_t *ret_idx)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strlen(keys[i].name) == len &&
		    memcmp(keys[i].name, name, len) == 0) {
			*ret_idx = i;
			return &keys[i];
		}
	return NULL;
}

static int
apply(struct loader *ld, size_t idx, const char *value)
{
	char why[ION_CFG_ERR_MAX];
	int r;

	why[0] = '\0';
	r = keys[idx].parse(&keys[idx], value, ld->cfg, why, sizeof(why));
	if (r == ION_ERR_NOMEM)
		fail(ld, "out of memory");
	else if (r != 0)
		fail_key(ld, idx, why);
	return r;
}

/* A value given in the file or as an argument: never empty, no controls. */
static int
apply_given(struct loader *ld, size_t idx, const char *value)
{
	if (*value == '\0') {
		fail_key(ld, idx, EMPTY_VALUE);
		return ION_ERR_CONFIG;
	}
	if (ion_text_has_control(value)) {
		fail_key(ld, idx, "control character in the value");
		return ION_ERR_CONFIG;
	}
	return apply(ld, idx, value);
}

static const char *
unknown_key(const char *key, size_t len)
{
	if (len == 13 && memcmp(key, "client_secret", 13) == 0)
		return "unknown key (the secret goes in the file named by "
		       "client_secret_file)";
	return "unknown key";
}

/* One line of the file, trimmed, not blank, not a comment (textfile.h). */
static int
file_line(void *arg, char *s, unsigned lineno)
{
	struct loader *ld = arg;
	char *eq, *key, *value;
	size_t klen, i, idx;

	if ((eq = strchr(s, '=')) == NULL) {
		fail(ld, "%s:%u: expected 'key = value'", ld->path, lineno);
		return ION_ERR_CONFIG;
	}
	key = s;
	for (klen = (size_t)(eq - s);
	     klen > 0 && ion_text_blank(key[klen - 1]);)
		klen--;
	for (i = 0; i < klen; i++)
		if (!((key[i] >= 'a' && key[i] <= 'z') ||
			(key[i] >= '0' && key[i] <= '9') || key[i] == '_'))
			break;
	if (klen == 0 || i < klen) {
		fail(ld, "%s:%u: expected 'key = value'", ld->path, lineno);
		return ION_ERR_CONFIG;
	}
	key[klen] = '\0';
	value = eq + 1;
	while (ion_text_blank(*value))
		value++;
	if (find_key(key, klen, &idx) == NULL) {
		fail(ld, "%s:%u: %s: %s", ld->path, lineno, key,
		    strcmp(key, "config") == 0 ? "only as a module argument"
					       : unknown_key(key, klen));
		return ION_ERR_CONFIG;
	}
	if (ld->line[idx] != 0) {
		fail(ld, "%s:%u: %s: given twice (first on line %u)", ld->path,
		    lineno, key, ld->line[idx]);
		return ION_ERR_CONFIG;
	}
	ld->line[idx] = lineno;
	/*
	 * Comments take whole lines.  A '#' after a value is refused rather
	 * than guessed at: cutting there could shorten a value silently, and
	 * keeping it would turn "client_id = abc # note" into a wrong id.
	 */
	if (strchr(value, '#') != NULL) {
		fail_key(
		    ld, idx, "'#' in a value (comments take a whole line)");
		return ION_ERR_CONFIG;
	}
	return apply_given(ld, idx, value);
}

static int
load_file(struct loader *ld, bool missing_ok)
{
	char *buf = NULL, why[ION_CFG_ERR_MAX];
	size_t len = 0;
	int r;

	r = ion_rootfile_read(
	    ld->path, 0, CFG_FILE_MAX, &buf, &len, why, sizeof(why));
	if (r == ION_ERR_NOT_FOUND && missing_ok) {
		r = 0;
		goto out;
	}
	if (r != 0) {
		fail(ld, "%s", why);
		if (r == ION_ERR_NOT_FOUND)
			r = ION_ERR_CONFIG;
		goto out;
	}
	r = ion_text_lines(buf, len, CFG_LINE_MAX, ld->path, file_line, ld,
	    ld->err, ld->err != NULL ? ION_CFG_ERR_MAX : 0);
out:
	free(buf);
	return r;
}

static size_t
key_index(const char *name)
{
	size_t idx = 0;

	(void)find_key(name, strlen(name), &idx);
	return idx;
}

static bool
given(const struct loader *ld, size_t idx)
{
	return ld->line[idx] != 0 || ld->arg[idx] != NULL;
}

static int
apply_arg(struct loader *ld, const char *arg)
{
	char echo[ECHO_MAX + 4];
	const char *eq, *value;
	size_t idx = 0;

	if (strcmp(arg, "debug") == 0) {
		value = "yes";
		idx = key_index("debug");
	} else {
		if ((eq = strchr(arg, '=')) == NULL) {
			echo_arg(arg, false, echo);
			fail(ld, "argument '%s': expected key=value", echo);
			return ION_ERR_CONFIG;
		}
		if (strncmp(arg, CONFIG_ARG, strlen(CONFIG_ARG)) == 0)
			return 0; /* read before the file */
		if (find_key(arg, (size_t)(eq - arg), &idx) == NULL) {
			echo_arg(arg, true, echo);
			fail(ld, "argument '%s': %s", echo,
			    unknown_key(arg, (size_t)(eq - arg)));
			return ION_ERR_CONFIG;
		}
		value = eq + 1;
	}
	if (ld->arg[idx] != NULL) {
		echo_arg(arg, false, echo);
		fail(ld, "argument '%s': %s given twice in the arguments", echo,
		    keys[idx].name);
		return ION_ERR_CONFIG;
	}
	ld->arg[idx] = arg;
	if (strlen(arg) > CFG_LINE_MAX) {
		fail_key(ld, idx, "longer than 4096 characters");
		return ION_ERR_CONFIG;
	}
	return apply_given(ld, idx, value);
}

/* Defaults, values derived from others, and checks across keys. */
static int
finish(struct loader *ld)
{
	struct ion_cfg *cfg = ld->cfg;
	size_t i, login_idx, http_idx;
	char why[ION_CFG_ERR_MAX];
	int r;

	for (i = 0; i < NKEYS; i++) {
		if (given(ld, i))
			continue;
		if ((keys[i].flags & KEY_REQUIRED) != 0) {
			fail(ld,
			    "%s: %s: required, but set neither in the "
			    "file nor in the arguments",
			    ld->path, keys[i].name);
			return ION_ERR_CONFIG;
		}
		if (keys[i].def != NULL && (r = apply(ld, i, keys[i].def)) != 0)
			return r;
	}
	if (cfg->redirect_uri == NULL &&
	    asprintf(&cfg->redirect_uri, "%s%s", cfg->relay_url,
		CALLBACK_PATH) == -1) {
		cfg->redirect_uri = NULL;
		fail(ld, "out of memory");
		return ION_ERR_NOMEM;
	}
	if (cfg->ca_file == NULL && cfg->ca_path == NULL &&
	    (cfg->ca_path = strdup(DEFAULT_CA_PATH)) == NULL) {
		fail(ld, "out of memory");
		return ION_ERR_NOMEM;
	}
	/*
	 * Caught here when it can be: with every endpoint configured there is
	 * no discovery, so only par_endpoint could make PAR possible, and
	 * every sign-in would fail.  Otherwise discovery decides at login.
	 */
	if (cfg->par == ION_PAR_REQUIRED && cfg->par_endpoint == NULL &&
	    !ion_cfg_needs_discovery(cfg)) {
		fail_key(ld, key_index("par"),
		    "required, but every endpoint is configured (so there is "
		    "no discovery) and par_endpoint is not");
		return ION_ERR_CONFIG;
	}
	if (cfg->http_timeout >= cfg->login_timeout) {
		login_idx = key_index("login_timeout");
		http_idx = key_index("http_timeout");
		if (given(ld, http_idx)) {
			why_set(why, sizeof(why),
			    "must be less than login_timeout (%u)",
			    cfg->login_timeout);
			fail_key(ld, http_idx, why);
		} else {
			why_set(why, sizeof(why),
			    "must be more than http_timeout (%u)",
			    cfg->http_timeout);
			fail_key(ld, login_idx, why);
		}
		return ION_ERR_CONFIG;
	}
	return 0;
}

bool
ion_cfg_needs_discovery(const struct ion_cfg *cfg)
{
	return cfg->authorize_endpoint == NULL || cfg->token_endpoint == NULL ||
	    cfg->jwks_uri == NULL;
}

int
ion_cfg_load(int argc, const char **argv, struct ion_cfg **ret,
    char err[ION_CFG_ERR_MAX])
{
	struct loader ld;
	char echo[ECHO_MAX + 4];
	const char *path = NULL, *path_arg = NULL;
	int i, r = ION_ERR_CONFIG;

	memset(&ld, 0, sizeof(ld));
	ld.err = err;
	if (err != NULL)
		err[0] = '\0';
	if (ret == NULL || argc < 0 || argc > CFG_ARGS_MAX ||
	    (argc > 0 && argv == NULL)) {
		fail(&ld, "bad argument list (at most %d arguments)",
		    CFG_ARGS_MAX);
		goto out;
	}
	for (i = 0; i < argc; i++) {
		if (argv[i] == NULL) {
			fail(&ld, "argument %d is NULL", i + 1);
			goto out;
		}
		if (strncmp(argv[i], CONFIG_ARG, strlen(CONFIG_ARG)) != 0)
			continue;
		echo_arg(argv[i], false, echo);
		if (path_arg != NULL) {
			fail(&ld,
			    "argument '%s': config given twice in the "
			    "arguments",
			    echo);
			goto out;
		}
		path_arg = argv[i];
		path = argv[i] + strlen(CONFIG_ARG);
		if (path[0] != '/' || strlen(path) > PATH_LEN_MAX ||
		    ion_text_has_control(path)) {
			fail(&ld, "argument '%s': not an absolute path", echo);
			goto out;
		}
	}
	ld.path = path != NULL ? path : ION_CFG_DEFAULT_PATH;
	if ((ld.cfg = calloc(1, sizeof(*ld.cfg))) == NULL ||
	    (ld.cfg->config_path = strdup(ld.path)) == NULL) {
		r = ION_ERR_NOMEM;
		fail(&ld, "out of memory");
		goto out;
	}
	/*
	 * Without a config= argument the default file may be absent: then
	 * everything comes from the arguments.  A file named explicitly must
	 * exist.
	 */
	if ((r = load_file(&ld, path == NULL)) != 0)
		goto out;
	for (i = 0; i < argc; i++)
		if ((r = apply_arg(&ld, argv[i])) != 0)
			goto out;
	if ((r = finish(&ld)) != 0)
		goto out;
	*ret = ld.cfg;
	ld.cfg = NULL; /* transferred */
	r = 0;
out:
	ion_cfg_free(&ld.cfg);
	return r;
}

void
ion_cfg_free(struct ion_cfg **cfgp)
{
	struct ion_cfg *cfg;

	if (cfgp == NULL || (cfg = *cfgp) == NULL)
		return;
	free_secret(&cfg->client_secret);
	free_secret(&cfg->relay_key);
	free(cfg->issuer);
	free(cfg->authorize_endpoint);
	free(cfg->token_endpoint);
	free(cfg->jwks_uri);
	free(cfg->userinfo_endpoint);
	free(cfg->par_endpoint);
	free(cfg->client_id);
	free(cfg->client_secret_file);
	free(cfg->relay_url);
	free(cfg->relay_key_file);
	free(cfg->redirect_uri);
	free(cfg->scope);
	free(cfg->user_claim);
	free(cfg->user_map_file);
	free(cfg->ca_file);
	free(cfg->ca_path);
	free(cfg->proxy);
	free(cfg->cache_dir);
	free(cfg->groups_claim);
	free(cfg->require_groups);
	free(cfg->require_claims);
	free(cfg->acr_values);
	free(cfg->require_acr);
	free(cfg->config_path);
	free(cfg);
	*cfgp = NULL;
}
