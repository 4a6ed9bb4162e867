#include "rootfile.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
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

int
ion_rootfile_read(const char *path, unsigned flags, size_t max, char **ret,
    size_t *ret_len, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	mode_t mode;
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
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: cannot stat", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_uid != 0) {
		snprintf(err, errlen, "%s: owned by uid %lu, not root", path,
		    (unsigned long)st.st_uid);
		goto out;
	}
	mode = st.st_mode & 07777;
	if ((flags & ION_ROOTFILE_PRIVATE) != 0 && mode != 0600 &&
	    mode != 0400) {
		snprintf(err, errlen, "%s: mode %04o; it must be 0600 or 0400",
		    path, (unsigned)mode);
		goto out;
	}
	if ((mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(err, errlen, "%s: writable by group or others", path);
		goto out;
	}
	if ((size_t)st.st_size > max) {
		snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
		goto out;
	}
	/* As much as fstat said, and one byte more to notice growth. */
	max = (size_t)st.st_size;
	if ((buf = malloc(max + 2)) == NULL) {
		snprintf(err, errlen, "out of memory");
		r = ION_ERR_NOMEM;
		goto out;
	}
	while (len < max + 1) {
		ssize_t n = read(fd, buf + len, max + 1 - len);

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
	if (len != max) {
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
		ion_scrub(buf, max + 2);
		free(buf);
	}
	close(fd);
	return r;
}
