#include "rootfile.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "crypto.h"
#include "errors.h"

static const char *
open_problem(int e)
{
	switch (e) {
	case ENOENT:
		return "does not exist";
	case ELOOP:
		return "is a symbolic link";
	case EACCES:
		return "permission denied";
	case ENOTDIR:
		return "a part of the path is not a directory";
	default:
		return "cannot be opened";
	}
}

/*
 * Who may own the file: root, and *owner when owner is not NULL.  The
 * message says which rule was broken, in the words of the entry point.
 */
static bool
owner_ok(const char *path, const struct stat *st, const uid_t *owner, char *err,
    size_t errlen)
{
	if (st->st_uid == 0 || (owner != NULL && st->st_uid == *owner))
		return true;
	if (owner == NULL)
		snprintf(err, errlen, "%s: owned by uid %lu, not root", path,
		    (unsigned long)st->st_uid);
	else
		snprintf(err, errlen,
		    "%s: owned by uid %lu, not by root or uid %lu", path,
		    (unsigned long)st->st_uid, (unsigned long)*owner);
	return false;
}

/* The rules for the open file fd; false with err set when one is broken. */
static bool
file_ok(int fd, const char *path, unsigned flags, const uid_t *owner,
    size_t max, struct stat *st, char *err, size_t errlen)
{
	mode_t mode;

	if (fstat(fd, st) == -1) {
		snprintf(err, errlen, "%s: cannot stat", path);
		return false;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return false;
	}
	if (!owner_ok(path, st, owner, err, errlen))
		return false;
	mode = st->st_mode & 07777;
	if ((flags & ION_ROOTFILE_PRIVATE) != 0 && mode != 0600 &&
	    mode != 0400) {
		snprintf(err, errlen, "%s: mode %04o; it must be 0600 or 0400",
		    path, (unsigned)mode);
		return false;
	}
	if ((mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(err, errlen,
		    "%s: writable by group or others (mode %04o); "
		    "chmod go-w it",
		    path, (unsigned)mode);
		return false;
	}
	if ((flags & ION_ROOTFILE_NOT_OTHERS) != 0 && (mode & S_IROTH) != 0) {
		snprintf(err, errlen,
		    "%s: readable by others (mode %04o); chmod o-r it", path,
		    (unsigned)mode);
		return false;
	}
	if ((size_t)st->st_size > max) {
		snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
		return false;
	}
	return true;
}

/* Reads exactly size bytes of fd, refusing a file that changed size. */
static int
read_whole(int fd, const char *path, size_t size, char **ret, size_t *ret_len,
    char *err, size_t errlen)
{
	char *buf;
	size_t len = 0;
	int r = ION_ERR_CONFIG;

	/* As much as fstat said, and one byte more to notice growth. */
	if ((buf = malloc(size + 2)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return ION_ERR_NOMEM;
	}
	while (len < size + 1) {
		ssize_t n = read(fd, buf + len, size + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s: cannot be read", path);
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len != size) {
		snprintf(err, errlen, "%s: changed while being read", path);
		goto out;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	buf = NULL; /* transferred */
	r = 0;
out:
	if (buf != NULL) {
		ion_scrub(buf, size + 2);
		free(buf);
	}
	return r;
}

static int
read_file(const char *path, unsigned flags, const uid_t *owner, size_t max,
    char **ret, size_t *ret_len, char *err, size_t errlen)
{
	struct stat st;
	int fd, r = ION_ERR_CONFIG;

	/* O_NONBLOCK: a FIFO put in the file's place must not hang us. */
	fd = open(
	    path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		if (errno == ENOENT)
			r = ION_ERR_NOT_FOUND;
		snprintf(err, errlen, "%s: %s", path, open_problem(errno));
		return r;
	}
	if (file_ok(fd, path, flags, owner, max, &st, err, errlen))
		r = read_whole(
		    fd, path, (size_t)st.st_size, ret, ret_len, err, errlen);
	close(fd);
	return r;
}

int
ion_rootfile_read(const char *path, unsigned flags, size_t max, char **ret,
    size_t *ret_len, char *err, size_t errlen)
{
	return read_file(path, flags, NULL, max, ret, ret_len, err, errlen);
}

int
ion_rootfile_read_owned(const char *path, unsigned flags, uid_t owner,
    size_t max, char **ret, size_t *ret_len, char *err, size_t errlen)
{
	return read_file(path, flags, &owner, max, ret, ret_len, err, errlen);
}
