/*
 * pam_ion's configuration: /etc/security/pam_ion.conf ("key = value" lines,
 * '#' comments) and the module's arguments ("key=value", which win over the
 * file; "config=PATH" picks another file), validated into one struct.
 *
 * Strict: an unknown key, a bad value, a repeated key in the file, a config
 * file that is a symlink, not owned by root or writable by group or others,
 * or a client secret or relay key file that is not root-owned and 0600/0400
 * (or a symlink) is an error
 * whose message names the file, the line and the key.  Never PAM-aware: the
 * caller logs the message and returns PAM_SERVICE_ERR.
 *
 * The file: at most 64 KiB, lines of at most 4096 characters; white space
 * around keys, '=' and values is ignored; blank lines are fine.  A comment
 * takes a whole line (its first non-blank character is '#').  A '#' later
 * in a line is refused, not read as a comment and not kept in the value:
 * "client_id = abc # note" would otherwise yield a wrong id one way or a
 * silently shortened path the other.  Empty values and control characters
 * (tabs included) inside a value are refused.
 *
 * Arguments: "key=value", or "debug" alone for debug=yes.  A key may repeat
 * one from the file (the argument wins, but the file's value must still be
 * valid); a key given twice among the arguments is an error.  An unknown
 * key's value is never quoted in a message (it might be a secret someone
 * put there).  Without config=PATH, a missing default file is not an error
 * (everything then comes from the arguments); a file named by config= must
 * exist.
 *
 * Booleans take yes/no, true/false, on/off, 1/0 (any case); other words
 * (utf8, enter, RS256 ...) are case-sensitive.  confirm defaults to yes
 * whatever prompt is (login.c honours confirm = no only at a local
 * terminal).
 * The relay key: the first line of relay_key_file, trailing white space
 * dropped, printable ASCII without spaces, ION_RELAY_KEY_MIN to
 * ION_RELAY_KEY_MAX characters (relay_proto.h).  par = required is an
 * error when discovery is not needed (ion_cfg_needs_discovery()) and
 * par_endpoint is not given: nothing could offer the endpoint.  ca_path
 * defaults to /etc/ssl/certs only when neither ca_file nor ca_path is
 * given.  http_timeout must be less than login_timeout.
 * The access rules' lists are words separated by spaces: require_groups
 * any bytes but controls and spaces (UTF-8 is fine); acr_values and
 * require_acr printable ASCII without '"' or '\' (as scope); each word
 * of require_claims NAME=VALUE, NAME a claim name as user_claim, VALUE
 * not empty.  max_age is 0 to 31536000 seconds.
 * URLs are read by the relay's own rules, ion_url_problem() in url.h:
 * https://, or http:// to a loopback host (a proxy may be http://
 * anywhere); no fragment; relay_url, the issuer and the proxy no query.
 */
#ifndef ION_CONFIG_H
#define ION_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define ION_CFG_DEFAULT_PATH "/etc/security/pam_ion.conf"
#define ION_CFG_ERR_MAX 512
/* The longest claim name user_claim, groups_claim and require_claims take. */
#define ION_CLAIM_NAME_MAX 64
/* The longest value a key takes (a line of the file holds at most this). */
#define ION_CFG_VALUE_MAX 4096

/* Signing algorithms, each tied to one key type (and curve). */
enum ion_alg {
	ION_ALG_RS256 = 1 << 0,
	ION_ALG_RS384 = 1 << 1,
	ION_ALG_RS512 = 1 << 2,
	ION_ALG_PS256 = 1 << 3,
	ION_ALG_PS384 = 1 << 4,
	ION_ALG_PS512 = 1 << 5,
	ION_ALG_ES256 = 1 << 6,
	ION_ALG_ES384 = 1 << 7,
	ION_ALG_ES512 = 1 << 8,
};

enum ion_qr_mode { ION_QR_UTF8, ION_QR_ASCII, ION_QR_OFF };
enum ion_prompt_mode { ION_PROMPT_ENTER, ION_PROMPT_AUTO };
/* RFC 9126 pushed authorization requests. */
enum ion_par_mode { ION_PAR_AUTO, ION_PAR_REQUIRED, ION_PAR_OFF };

struct ion_cfg {
	char *issuer;		  /* without a trailing '/' */
	char *authorize_endpoint; /* NULL: from discovery */
	char *token_endpoint;	  /* NULL: from discovery */
	char *jwks_uri;		  /* NULL: from discovery */
	char *userinfo_endpoint;  /* NULL: from discovery */
	char *par_endpoint;	  /* NULL: from discovery (RFC 9126) */
	char *client_id;
	char *client_secret_file;
	char *client_secret; /* the file's content, trimmed; scrubbed on free */
	char *relay_url;     /* without a trailing '/' */
	char *relay_key_file;
	char *relay_key;    /* the file's first line; scrubbed on free */
	char *redirect_uri; /* default relay_url + "/callback" */
	char *scope;
	char *user_claim;
	char *user_map_file;
	bool user_from_token;
	unsigned login_timeout; /* seconds */
	unsigned http_timeout;	/* seconds */
	unsigned allowed_algs;	/* enum ion_alg bits */
	enum ion_qr_mode qr;
	char *ca_file; /* NULL: none */
	char *ca_path; /* NULL: none */
	char *proxy;   /* NULL: no proxy, whatever the environment says */
	enum ion_prompt_mode prompt;
	bool confirm;
	enum ion_par_mode par;
	bool debug;
	char *cache_dir;
	/*
	 * The access rules (rules.h).  The lists are kept as given, one
	 * space between words; NULL: the rule is not used.
	 */
	char *groups_claim;   /* default "groups" */
	char *require_groups; /* group names: member of any one */
	char *require_claims; /* NAME=VALUE pairs: every one holds */
	char *acr_values;     /* sent as acr_values */
	char *require_acr;    /* the token's acr is one of these */
	bool has_max_age;     /* max_age was given */
	unsigned max_age;     /* seconds: sent, and auth_time checked */
	bool login_prompt;    /* send prompt=login */
	/* the file read; the default path also when that file is absent */
	char *config_path;
};

/*
 * Loads the file named by a "config=PATH" argument (else the default
 * path), then applies the other arguments.  On success *ret is the caller's
 * (free it with ion_cfg_free()).  On failure returns ION_ERR_CONFIG (or
 * ION_ERR_NOMEM), leaves *ret alone and writes one line to err
 * ("FILE:LINE: key: reason", "FILE: reason" for the file as a whole or a
 * missing required key, or "argument 'key=value': reason"; never the
 * secret).  Reads no environment and keeps no state between calls.
 */
int ion_cfg_load(int argc, const char **argv, struct ion_cfg **ret,
    char err[ION_CFG_ERR_MAX]);

/*
 * False when authorize_endpoint, token_endpoint and jwks_uri are all
 * configured: then the provider's discovery document is never fetched, so
 * it gives no PAR endpoint and no RFC 9207 promise.
 */
bool ion_cfg_needs_discovery(const struct ion_cfg *cfg);

/*
 * The next word of a list value (words separated by spaces): false at the
 * end, else *word and *len are the word and *p is past it.
 */
bool ion_cfg_next_word(const char **p, const char **word, size_t *len);

/*
 * What a word of require_groups, or the VALUE of a require_claims pair,
 * stands for: "%XX" (two hex digits, either case) is the byte XX, so a
 * name may hold a space (%20), '#' (%23) or '%' itself (%25); every other
 * byte stands for itself.  false for a '%' without two hex digits after
 * it, for %00, or when the result would not fit in outmax bytes; else
 * out holds *outlen bytes (no NUL added).  The result is never longer
 * than len.
 */
bool ion_cfg_unescape(
    const char *w, size_t len, char *out, size_t outmax, size_t *outlen);

/* Scrubs the secrets and frees everything; accepts NULL, clears the pointer. */
void ion_cfg_free(struct ion_cfg **cfg);

/* "RS256" → ION_ALG_RS256; 0 for a name not supported (or never allowed). */
unsigned ion_alg_from_name(const char *name);
const char *ion_alg_name(unsigned alg);

#endif
