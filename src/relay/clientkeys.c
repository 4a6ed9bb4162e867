#include "clientkeys.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "b64url.h"
#include "crypto.h"
#include "errors.h"
#include "relay_proto.h"
#include "rootfile.h"

struct entry {
	unsigned char hash[ION_SHA256_LEN];
	char name[RELAY_CLIENT_NAME_MAX + 1];
	unsigned line;
};

struct relay_keyset {
	size_t n;
	struct entry e[]; /* sorted by hash once parsed */
};

struct relay_clients {
	pthread_rwlock_t lock;
	struct relay_keyset *set;
};

bool
relay_client_name_ok(const char *name)
{
	size_t len = strlen(name);

	return len >= 1 && len <= RELAY_CLIENT_NAME_MAX &&
	    strspn(name,
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789._-") == len;
}

static int
hex_digit(char c)
{
	/* lower case only: one spelling per hash */
	return c >= 'A' && c <= 'F' ? -1 : ion_hex_value(c);
}

static bool
parse_hash(const char *s, size_t len, unsigned char out[ION_SHA256_LEN])
{
	size_t i;

	if (len != 2 * ION_SHA256_LEN)
		return false;
	for (i = 0; i < ION_SHA256_LEN; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

/* The first character at or after s that is (blank) or is not a blank. */
static const char *
skip(const char *s, const char *end, bool blank)
{
	while (s < end && (*s == ' ' || *s == '\t') == blank)
		s++;
	return s;
}

/*
 * Parses one line (without its '\n') into e.  Returns NULL for a client,
 * "" for a blank or comment line, or why the line is bad.
 */
static const char *
parse_line(const char *s, size_t len, struct entry *e)
{
	const char *end = s + len, *name, *hash;
	size_t nlen, hlen;

	s = skip(s, end, true);
	if (s == end || *s == '#')
		return "";
	name = s;
	s = skip(s, end, false);
	nlen = (size_t)(s - name);
	hash = skip(s, end, true);
	s = skip(hash, end, false);
	hlen = (size_t)(s - hash);
	if (hlen == 0 || skip(s, end, true) != end)
		return "expected 'NAME SHA256HEX'";
	if (nlen <= RELAY_CLIENT_NAME_MAX) {
		memcpy(e->name, name, nlen);
		e->name[nlen] = '\0';
	}
	/* A NUL inside would end the name early: not a name either. */
	if (nlen > RELAY_CLIENT_NAME_MAX || memchr(name, '\0', nlen) != NULL ||
	    !relay_client_name_ok(e->name))
		return "the name must be 1 to 64 characters of A-Z a-z 0-9 . _ "
		       "-";
	if (!parse_hash(hash, hlen, e->hash))
		return "the hash must be 64 lowercase hex digits, the SHA-256 "
		       "of the key (see --new-client-key)";
	return NULL;
}

static int
by_name(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c != 0 ? c : (x->line > y->line) - (x->line < y->line);
}

static int
by_hash(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = memcmp(x->hash, y->hash, ION_SHA256_LEN);

	return c != 0 ? c : (x->line > y->line) - (x->line < y->line);
}

/*
 * The earliest line that repeats a name or a hash, so the message names
 * the same line however the file is ordered; 0 when none does.
 */
static unsigned
first_duplicate(struct relay_keyset *ks, const char **ret_what,
    unsigned *ret_first, char *ret_name)
{
	unsigned best = 0;
	size_t i;

	qsort(ks->e, ks->n, sizeof(ks->e[0]), by_name);
	for (i = 1; i < ks->n; i++)
		if (strcmp(ks->e[i - 1].name, ks->e[i].name) == 0 &&
		    (best == 0 || ks->e[i].line < best)) {
			best = ks->e[i].line;
			*ret_what = "duplicate name";
			*ret_first = ks->e[i - 1].line;
			strcpy(ret_name, ks->e[i].name);
		}
	qsort(ks->e, ks->n, sizeof(ks->e[0]), by_hash);
	for (i = 1; i < ks->n; i++)
		if (memcmp(ks->e[i - 1].hash, ks->e[i].hash, ION_SHA256_LEN) ==
			0 &&
		    (best == 0 || ks->e[i].line < best)) {
			best = ks->e[i].line;
			*ret_what =
			    "duplicate hash (two clients with one key) of";
			*ret_first = ks->e[i - 1].line;
			strcpy(ret_name, ks->e[i].name);
		}
	return best;
}

int
relay_keyset_parse(const char *path, const char *text, size_t len,
    struct relay_keyset **ret, char *err, size_t errlen)
{
	struct relay_keyset *ks = NULL;
	const char *p = text, *end = text + len, *nl, *why;
	char dup_name[RELAY_CLIENT_NAME_MAX + 1];
	const char *dup_what = "";
	unsigned line = 0, dup_line, dup_first = 0;
	size_t lines = 1;
	int r = ION_ERR_INVALID;

	if (len > RELAY_CLIENTKEYS_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", path,
		    RELAY_CLIENTKEYS_FILE_MAX);
		return ION_ERR_RANGE;
	}
	for (nl = text; (nl = memchr(nl, '\n', (size_t)(end - nl))) != NULL;
	     nl++)
		lines++;
	if ((ks = calloc(1, sizeof(*ks) + lines * sizeof(ks->e[0]))) == NULL)
		return ION_ERR_NOMEM;
	while (p < end) {
		size_t n;

		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		line++;
		why = parse_line(p, n, &ks->e[ks->n]);
		if (why != NULL && why[0] != '\0') {
			snprintf(err, errlen, "%s:%u: %s", path, line, why);
			goto out;
		}
		if (why == NULL)
			ks->e[ks->n++].line = line;
		p += n + (nl != NULL);
	}
	if ((dup_line = first_duplicate(ks, &dup_what, &dup_first, dup_name)) !=
	    0) {
		snprintf(err, errlen, "%s:%u: %s %s (first on line %u)", path,
		    dup_line, dup_what, dup_name, dup_first);
		goto out;
	}
	/* first_duplicate() left the entries sorted by hash, as lookups need */
	*ret = ks;
	ks = NULL; /* transferred */
	r = 0;
out:
	relay_keyset_free(&ks);
	return r;
}

int
relay_keyset_load(
    const char *path, struct relay_keyset **ret, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int r;

	/*
	 * Whoever may write the file, or point a link at another, decides
	 * who may use the relay: only root or the relay's own user.  It
	 * holds hashes only, so others may read it.
	 */
	r = ion_rootfile_read_owned(path, 0, geteuid(),
	    RELAY_CLIENTKEYS_FILE_MAX, &text, &len, err, errlen);
	if (r == 0)
		r = relay_keyset_parse(path, text, len, ret, err, errlen);
	free(text);
	return r;
}

size_t
relay_keyset_count(const struct relay_keyset *ks)
{
	return ks != NULL ? ks->n : 0;
}

void
relay_keyset_free(struct relay_keyset **pks)
{
	if (pks == NULL || *pks == NULL)
		return;
	free(*pks);
	*pks = NULL;
}

int
relay_clientkeys_new_key(
    const char *name, char *line, size_t linelen, char *key, size_t keylen)
{
	unsigned char raw[ION_RELAY_KEY_RANDOM_BYTES], hash[ION_SHA256_LEN];
	char hex[2 * ION_SHA256_LEN + 1];
	size_t klen;
	int r;

	if (!relay_client_name_ok(name) ||
	    keylen < ION_B64URL_LEN(sizeof(raw)) + 1 ||
	    linelen < strlen(name) + 1 + sizeof(hex))
		return ION_ERR_INVALID;
	if ((r = ion_random_bytes(raw, sizeof(raw))) != 0)
		goto out;
	klen = ion_b64url_encode(raw, sizeof(raw), key);
	/* The hash is of the key as it is sent: its text, not its bytes. */
	if ((r = ion_sha256(key, klen, NULL, 0, NULL, 0, hash)) != 0)
		goto out;
	ion_hex_encode(hash, sizeof(hash), hex);
	snprintf(line, linelen, "%s %s", name, hex);
out:
	ion_scrub(raw, sizeof(raw));
	if (r != 0)
		ion_scrub(key, keylen);
	return r;
}

int
relay_clients_new(struct relay_keyset **set, struct relay_clients **ret)
{
	struct relay_clients *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return ION_ERR_NOMEM;
	if (pthread_rwlock_init(&c->lock, NULL) != 0) {
		free(c);
		return ION_ERR_SYSTEM;
	}
	c->set = *set;
	*set = NULL; /* transferred */
	*ret = c;
	return 0;
}

void
relay_clients_replace(struct relay_clients *c, struct relay_keyset **set)
{
	struct relay_keyset *old;

	pthread_rwlock_wrlock(&c->lock);
	old = c->set;
	c->set = *set;
	*set = NULL; /* transferred */
	pthread_rwlock_unlock(&c->lock);
	relay_keyset_free(&old);
}

static int
hash_cmp(const void *key, const void *elem)
{
	return memcmp(key, ((const struct entry *)elem)->hash, ION_SHA256_LEN);
}

/* Under the lock: the entry with this hash, or NULL. */
static const struct entry *
find_hash(const struct relay_keyset *ks, const unsigned char *hash)
{
	const struct entry *e;

	/*
	 * A binary search by memcmp() over the digests: its timing shows at
	 * most how far the digest of a guessed key agrees with a stored
	 * one, which brings nobody closer to a key (that would take a
	 * SHA-256 preimage).  The match itself is confirmed in constant
	 * time all the same.
	 */
	if (ks == NULL || ks->n == 0)
		return NULL;
	e = bsearch(hash, ks->e, ks->n, sizeof(ks->e[0]), hash_cmp);
	if (e == NULL || !ion_ct_equal(e->hash, hash, ION_SHA256_LEN))
		return NULL;
	return e;
}

bool
relay_clients_find(
    struct relay_clients *c, const char *key, struct relay_client *ret)
{
	unsigned char hash[ION_SHA256_LEN];
	const struct entry *e;
	bool found = false;

	if (key == NULL || !ion_relay_key_ok(key) ||
	    ion_sha256(key, strlen(key), NULL, 0, NULL, 0, hash) != 0)
		return false;
	pthread_rwlock_rdlock(&c->lock);
	if ((e = find_hash(c->set, hash)) != NULL) {
		memcpy(ret->hash, e->hash, sizeof(ret->hash));
		memcpy(ret->name, e->name, sizeof(ret->name));
		found = true;
	}
	pthread_rwlock_unlock(&c->lock);
	return found;
}

bool
relay_clients_has(
    struct relay_clients *c, const unsigned char hash[ION_SHA256_LEN])
{
	bool found;

	pthread_rwlock_rdlock(&c->lock);
	found = find_hash(c->set, hash) != NULL;
	pthread_rwlock_unlock(&c->lock);
	return found;
}

size_t
relay_clients_count(struct relay_clients *c)
{
	size_t n;

	pthread_rwlock_rdlock(&c->lock);
	n = relay_keyset_count(c->set);
	pthread_rwlock_unlock(&c->lock);
	return n;
}

void
relay_clients_free(struct relay_clients **pc)
{
	if (pc == NULL || *pc == NULL)
		return;
	relay_keyset_free(&(*pc)->set);
	pthread_rwlock_destroy(&(*pc)->lock);
	free(*pc);
	*pc = NULL;
}
