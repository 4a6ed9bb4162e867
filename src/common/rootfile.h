/*
 * Reading the files an administrator gives the module (the configuration,
 * the client secret, the user map) and the relay (its client keys): a
 * process must not be steered by a file that someone else could have
 * written or swapped.
 */
#ifndef ION_ROOTFILE_H
#define ION_ROOTFILE_H

#include <sys/types.h>

#include <stddef.h>

/* The file must have mode 0600 or 0400 exactly (a secret). */
#define ION_ROOTFILE_PRIVATE 1u
/*
 * The file must not be readable by others (a secret its group may read:
 * the relay's Redis password, root:pam-ion-relay 0640).
 */
#define ION_ROOTFILE_NOT_OTHERS 2u

/*
 * Reads all of path: opened without following a symlink, a regular file
 * owned by root, not writable by group or others (with
 * ION_ROOTFILE_PRIVATE: mode 0600 or 0400), at most max bytes, read whole
 * even if it changes size meanwhile.  *ret is malloc'd and NUL-terminated,
 * *ret_len excludes the NUL; the caller scrubs it when it is a secret.
 * ION_ERR_NOT_FOUND when the file does not exist (err is set too);
 * ION_ERR_CONFIG with err = "PATH: reason" for anything else wrong;
 * ION_ERR_NOMEM.
 */
int ion_rootfile_read(const char *path, unsigned flags, size_t max, char **ret,
    size_t *ret_len, char *err, size_t errlen);

/*
 * As ion_rootfile_read(), but a file owned by uid owner is accepted as
 * well as one owned by root: for a process that runs as a user of its own
 * and may be given a file of that user's (pam-ion-relay's --client-keys).
 * A file owned by anyone else is refused with ION_ERR_CONFIG and
 * err = "PATH: owned by uid N, not by root or uid OWNER".
 */
int ion_rootfile_read_owned(const char *path, unsigned flags, uid_t owner,
    size_t max, char **ret, size_t *ret_len, char *err, size_t errlen);

#endif
