/*
 * Reading the files an administrator gives the module (the configuration,
 * the client secret, the user map): a root process must not be steered by
 * a file that someone else could have written or swapped.
 */
#ifndef ION_ROOTFILE_H
#define ION_ROOTFILE_H

#include <stddef.h>

/* The file must have mode 0600 or 0400 exactly (a secret). */
#define ION_ROOTFILE_PRIVATE 1u

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

#endif
