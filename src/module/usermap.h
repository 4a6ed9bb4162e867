/*
 * Verified claims → local account.  The map file (user_map_file) has lines
 * "KEY LOCAL-USER" ('#' comments, blank lines); KEY is either "sub:VALUE"
 * (the stable identifier, OpenID Connect Core 5.7) or a value of the
 * configured user_claim.  A key on the "email" claim only matches when the
 * token says email_verified: true.  The file must be a regular file (not a
 * symlink) owned by root and not writable by group or others.  A key that
 * appears twice with different users is an error, never a guess.
 */
#ifndef ION_USERMAP_H
#define ION_USERMAP_H

#include <jansson.h>

/*
 * Finds the local user for verified claims.  ION_ERR_NO_USER when no line
 * matches; ION_ERR_CONFIG (with err filled: "FILE:LINE: reason") for a
 * missing, unsafe or malformed file; ION_ERR_AUTH when the user claim is
 * "email" and email_verified is not true.  *ret_user is malloc'd.
 *
 * In detail: a "sub:" line for the token's sub wins first (then
 * email_verified does not matter).  Otherwise, with user_claim "email",
 * email_verified must be the JSON value true (not "true") or the answer is
 * ION_ERR_AUTH; then the claim's value must equal a key exactly (byte for
 * byte, case included).  Claims that are not strings, are empty or hold a
 * NUL never match, and a claim value that starts with "sub:" never matches
 * (so a user-chosen claim cannot pose as an identifier).  The whole file is
 * checked on every call: at most 1 MiB, lines of at most 4096 characters,
 * exactly two fields (a '#' comment takes a whole line), LOCAL-USER of at
 * most 32 characters A-Z a-z 0-9 _ . - (a trailing '$' allowed), and no key
 * mapped to two different users anywhere in it.  err (may be NULL) gets a
 * message for every failure, never quoting a claim; ION_ERR_INVALID for a
 * NULL path or user_claim or claims that are not an object.
 */
int ion_usermap_lookup(const char *path, const char *user_claim,
    const json_t *claims, char **ret_user, char *err, size_t errlen);

#endif
