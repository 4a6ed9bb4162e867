#include "usermap.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "rootfile.h"
#include "textfile.h"

#define MAP_FILE_MAX (1024 * 1024)
#define MAP_LINE_MAX 4096
#define MAP_USER_MAX 32 /* useradd's limit */
#define SUB_PREFIX "sub:"
#define SUB_PREFIX_LEN 4
#define CLAIM_EMAIL "email"
#define CLAIM_EMAIL_VERIFIED "email_verified"
#define CLAIM_SUB "sub"

struct entry {
	const char *key; /* points into the file's buffer */
	const char *user;
	unsigned line;
};

struct map {
	char *buf; /* the file, NUL-terminated per line */
	struct entry *entries;
	size_t n, cap;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * A portable local user name (POSIX portable filename characters, not
 * starting with '-'), with the trailing '$' Samba machine accounts use.
 */
static bool
valid_user(const char *s)
{
	size_t i, len = strlen(s);

	if (len == 0 || len > MAP_USER_MAX || s[0] == '-')
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')
			continue;
		if (c == '$' && i == len - 1 && i > 0)
			continue;
		return false;
	}
	/* "." and ".." are never account names. */
	return strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static int
add_entry(struct map *m, const char *key, const char *user, unsigned line)
{
	struct entry *e;
	size_t cap;

	if (m->n == m->cap) {
		cap = m->cap != 0 ? m->cap * 2 : 64;
		if ((e = reallocarray(m->entries, cap, sizeof(*e))) == NULL)
			return ION_ERR_NOMEM;
		m->entries = e;
		m->cap = cap;
	}
	m->entries[m->n].key = key;
	m->entries[m->n].user = user;
	m->entries[m->n].line = line;
	m->n++;
	return 0;
}

/* What parse_line() needs besides the line. */
struct reader {
	struct map *m;
	const char *path;
	char *err;
	size_t errlen;
};

/* One line, trimmed, not blank, not a comment (textfile.h). */
static int
parse_line(void *arg, char *s, unsigned line)
{
	struct reader *rd = arg;
	const char *path = rd->path;
	char *err = rd->err, *key, *user;
	size_t errlen = rd->errlen;

	key = s;
	while (*s != '\0' && !ion_text_blank(*s))
		s++;
	if (*s == '\0') {
		set_err(err, errlen, "%s:%u: expected 'KEY LOCAL-USER'", path,
		    line);
		return ION_ERR_CONFIG;
	}
	*s++ = '\0';
	while (ion_text_blank(*s))
		s++;
	user = s;
	while (*s != '\0' && !ion_text_blank(*s))
		s++;
	if (*s != '\0') {
		/* A third field, or a comment after the user: refused. */
		set_err(err, errlen,
		    "%s:%u: expected 'KEY LOCAL-USER' (comments take a whole "
		    "line)",
		    path, line);
		return ION_ERR_CONFIG;
	}
	if (ion_text_has_control(key)) {
		set_err(err, errlen, "%s:%u: control character in the key",
		    path, line);
		return ION_ERR_CONFIG;
	}
	if (strcmp(key, SUB_PREFIX) == 0) {
		set_err(err, errlen, "%s:%u: empty 'sub:' key", path, line);
		return ION_ERR_CONFIG;
	}
	if (!valid_user(user)) {
		set_err(err, errlen,
		    "%s:%u: not a valid local user name (up to %d characters "
		    "A-Z a-z 0-9 _ . -)",
		    path, line, MAP_USER_MAX);
		return ION_ERR_CONFIG;
	}
	if (add_entry(rd->m, key, user, line) != 0) {
		set_err(err, errlen, "out of memory");
		return ION_ERR_NOMEM;
	}
	return 0;
}

static int
read_map(struct map *m, const char *path, char *err, size_t errlen)
{
	struct reader rd = { m, path, err, err != NULL ? errlen : 0 };
	size_t len = 0;
	int r;

	r = ion_rootfile_read(
	    path, 0, MAP_FILE_MAX, &m->buf, &len, err, errlen);
	if (r != 0)
		return r == ION_ERR_NOMEM ? r : ION_ERR_CONFIG;
	return ion_text_lines(m->buf, len, MAP_LINE_MAX, path, parse_line, &rd,
	    rd.err, rd.errlen);
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

/*
 * A key mapped to two different users anywhere in the file makes the whole
 * file an error, as a malformed line does: the map is wrong, and which
 * line wins would be a guess.  The same key twice with the same user is
 * harmless.
 */
static int
check_conflicts(struct map *m, const char *path, char *err, size_t errlen)
{
	size_t i;

	if (m->n < 2)
		return 0;
	qsort(m->entries, m->n, sizeof(m->entries[0]), entry_cmp);
	for (i = 1; i < m->n; i++) {
		const struct entry *a = &m->entries[i - 1], *b = &m->entries[i];

		if (strcmp(a->key, b->key) == 0 &&
		    strcmp(a->user, b->user) != 0) {
			set_err(err, errlen,
			    "%s:%u: the key is also on line %u with a "
			    "different user",
			    path, b->line, a->line);
			return ION_ERR_CONFIG;
		}
	}
	return 0;
}

static const char *
find(const struct map *m, const char *key)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (strcmp(m->entries[i].key, key) == 0)
			return m->entries[i].user;
	return NULL;
}

/*
 * A string claim as a C string; NULL when absent, not a string, or holding
 * a NUL ("alice@example.com\u0000x" must not read as alice@example.com).
 */
static const char *
claim_string(const json_t *claims, const char *name)
{
	const json_t *v = json_object_get(claims, name);
	const char *s;

	if (!json_is_string(v))
		return NULL;
	s = json_string_value(v);
	if (s == NULL || strlen(s) != json_string_length(v) || *s == '\0')
		return NULL;
	return s;
}

int
ion_usermap_lookup(const char *path, const char *user_claim,
    const json_t *claims, char **ret_user, char *err, size_t errlen)
{
	struct map m = { NULL, NULL, 0, 0 };
	const char *sub, *value, *user = NULL;
	char *subkey = NULL, *copy = NULL;
	int r = ION_ERR_CONFIG;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (path == NULL || user_claim == NULL || !json_is_object(claims)) {
		set_err(err, errlen, "no map file, user claim or claims");
		r = ION_ERR_INVALID;
		goto out;
	}
	if ((r = read_map(&m, path, err, errlen)) != 0 ||
	    (r = check_conflicts(&m, path, err, errlen)) != 0)
		goto out;

	/* The stable identifier first (OpenID Connect Core 5.7). */
	if ((sub = claim_string(claims, CLAIM_SUB)) != NULL) {
		if (asprintf(&subkey, "%s%s", SUB_PREFIX, sub) == -1) {
			subkey = NULL;
			set_err(err, errlen, "out of memory");
			r = ION_ERR_NOMEM;
			goto out;
		}
		user = find(&m, subkey);
	}
	if (user == NULL) {
		/*
		 * An address the provider has not verified proves nothing
		 * about who signed in: anyone can put any address on an
		 * account.
		 */
		if (strcmp(user_claim, CLAIM_EMAIL) == 0 &&
		    !json_is_true(
			json_object_get(claims, CLAIM_EMAIL_VERIFIED))) {
			set_err(err, errlen,
			    "the token's email is not verified "
			    "(email_verified is not true)");
			r = ION_ERR_AUTH;
			goto out;
		}
		/*
		 * "sub:" keys only ever match the sub claim, so a claim
		 * whose value starts "sub:" (a user-chosen name, say) cannot
		 * pose as someone's identifier.
		 */
		value = claim_string(claims, user_claim);
		if (value != NULL &&
		    strncmp(value, SUB_PREFIX, SUB_PREFIX_LEN) != 0)
			user = find(&m, value);
	}
	if (user == NULL) {
		set_err(err, errlen, "%s: no line maps this identity", path);
		r = ION_ERR_NO_USER;
		goto out;
	}
	if ((copy = strdup(user)) == NULL) {
		set_err(err, errlen, "out of memory");
		r = ION_ERR_NOMEM;
		goto out;
	}
	*ret_user = copy;
	copy = NULL; /* transferred */
	r = 0;
out:
	free(copy);
	free(subkey);
	free(m.entries);
	free(m.buf);
	return r;
}
