/*
 * The on-disk cache of provider documents (discovery, JWKS), so that a warm
 * login makes no request for them.  One file per URL in a root-only
 * directory (default /var/cache/pam_ion, created 0700 when missing; refused
 * when it is a symlink, not owned by root, or writable by group or others),
 * written atomically (temporary file, fsync, rename), each with the time it
 * was fetched and the time it expires.
 *
 * Lifetimes follow the response's Cache-Control: max-age, clamped to
 * [ION_CACHE_MIN_S, ION_CACHE_MAX_S]; no-store or no-cache stores nothing;
 * without Cache-Control, ION_CACHE_DEFAULT_S.
 */
#ifndef ION_CACHE_H
#define ION_CACHE_H

#include <stddef.h>
#include <time.h>

#define ION_CACHE_MIN_S 60
#define ION_CACHE_MAX_S 86400
#define ION_CACHE_DEFAULT_S 3600
#define ION_CACHE_MAX_BODY (1024 * 1024)

/*
 * Reads the fresh entry for url at time now.  ION_ERR_NOT_FOUND when there
 * is none or it has expired (also when the directory is unusable: a cache
 * never fails a login).  On success *ret_body is malloc'd (NUL-terminated)
 * and *ret_fetched is when it was stored.
 *
 * Also ION_ERR_NOT_FOUND for an entry that is not a regular root-owned file
 * unwritable by group and others, whose header is not exactly
 * "pam_ion-cache 1 FETCHED EXPIRES LEN\n" (decimal, no leading zeros) with
 * LEN matching the rest of the file, or whose times make no sense (fetched
 * after now, expiry before fetching or more than ION_CACHE_MAX_S after).
 * ret_len and ret_fetched may be NULL.
 */
int ion_cache_load(const char *dir, const char *url, time_t now,
    char **ret_body, size_t *ret_len, time_t *ret_fetched);

/*
 * Stores body for url as fetched at now, with the lifetime its
 * cache_control (may be NULL) allows.  0 or ION_ERR_*; callers may ignore
 * failures.  A lifetime of 0 (no-store, no-cache) removes any entry for
 * url.  Only the directory's last component is created.  ION_ERR_DENIED
 * for an unsafe directory, ION_ERR_RANGE for a body over
 * ION_CACHE_MAX_BODY, ION_ERR_INVALID for a relative dir or a negative now,
 * ION_ERR_SYSTEM when a write, fsync or rename fails.  The temporary file
 * is created next to the entry (O_EXCL, a random name, relative to the
 * checked directory's descriptor) and renamed over it.
 */
int ion_cache_store(const char *dir, const char *url, const char *body,
    size_t len, const char *cache_control, time_t now);

/* Seconds a Cache-Control value allows, clamped; 0 for "do not store". */
long ion_cache_lifetime(const char *cache_control);

#endif
