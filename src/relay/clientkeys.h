/*
 * The PAM hosts allowed to use the relay's /v1 API: the --client-keys file,
 * one client per line "NAME SHA256HEX", where SHA256HEX is SHA-256 of the
 * host's key string as it is sent in the PAM-Ion-Client-Key header (64
 * lowercase hex digits).  The relay never holds a key, only its hash.
 *
 * A parsed file is an immutable struct relay_keyset.  The live set is a
 * struct relay_clients, whose set SIGHUP replaces as a whole: a request sees
 * either the old set or the new one, never a mixture.
 */
#ifndef RELAY_CLIENTKEYS_H
#define RELAY_CLIENTKEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "crypto.h"

#define RELAY_CLIENT_NAME_MAX 64
#define RELAY_CLIENTKEYS_FILE_MAX (4 * 1024 * 1024) /* bytes */

/* Who sent a request: a copy, so it outlives a reload. */
struct relay_client {
	char name[RELAY_CLIENT_NAME_MAX + 1];
	unsigned char hash[ION_SHA256_LEN]; /* SHA-256 of the key */
};

struct relay_keyset;
struct relay_clients;

/* True when name is 1..64 of [A-Za-z0-9._-]. */
bool relay_client_name_ok(const char *name);

/*
 * Parses the text of a keys file; path only names it in messages.  On
 * ION_ERR_INVALID (a bad line, a duplicate name or hash) or ION_ERR_RANGE
 * (too large), err holds "PATH:LINE: reason" or "PATH: reason".  The
 * caller frees *ret with relay_keyset_free().
 */
int relay_keyset_parse(const char *path, const char *text, size_t len,
    struct relay_keyset **ret, char *err, size_t errlen);

/*
 * Reads and parses the keys file at path, with the rules of
 * ion_rootfile_read_owned() for the relay's effective user: a regular
 * file, not a symbolic link, owned by root or that user, not writable by
 * group or others, at most RELAY_CLIENTKEYS_FILE_MAX bytes.
 * ION_ERR_NOT_FOUND when it does not exist, ION_ERR_CONFIG when it is
 * refused or cannot be read, ION_ERR_NOMEM; err says why.  Otherwise as
 * relay_keyset_parse().
 */
int relay_keyset_load(
    const char *path, struct relay_keyset **ret, char *err, size_t errlen);

size_t relay_keyset_count(const struct relay_keyset *ks);

/* Accepts NULL and clears the pointer. */
void relay_keyset_free(struct relay_keyset **ks);

/*
 * Makes a new client: a key of ION_RELAY_KEY_RANDOM_BYTES random bytes in
 * base64url (written to key, which holds ION_B64URL_LEN(...) + 1 bytes)
 * and the file line "NAME SHA256HEX" for it (written to line, which holds
 * RELAY_CLIENT_NAME_MAX + 66 bytes).  ION_ERR_INVALID for a bad name.
 */
int relay_clientkeys_new_key(
    const char *name, char *line, size_t linelen, char *key, size_t keylen);

/* Takes over *set (which must not be NULL). */
int relay_clients_new(struct relay_keyset **set, struct relay_clients **ret);

/* Replaces the live set with *set (taken over); frees the old one. */
void relay_clients_replace(struct relay_clients *c, struct relay_keyset **set);

/*
 * Looks up the client whose key this is.  A key that is not printable
 * ASCII without spaces, of ION_RELAY_KEY_MIN..ION_RELAY_KEY_MAX
 * characters, is simply unknown.  False when unknown.
 */
bool relay_clients_find(
    struct relay_clients *c, const char *key, struct relay_client *ret);

/* True when a client with this key hash is in the live set. */
bool relay_clients_has(
    struct relay_clients *c, const unsigned char hash[ION_SHA256_LEN]);

size_t relay_clients_count(struct relay_clients *c);

/* Accepts NULL and clears the pointer. */
void relay_clients_free(struct relay_clients **c);

#endif
