/*
 * Temporary directories, and files with a chosen mode and owner, for the
 * unit tests of the modules that read files the way the PAM module does
 * (test_config.c, test_usermap.c, test_cache.c, test_oidc.c).  The tests
 * run as root, as CI does: a file given to another uid provokes the
 * ownership checks.  Include after cmocka.h.
 */
#ifndef ION_TEST_FIXTURE_H
#define ION_TEST_FIXTURE_H

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Makes a new directory /tmp/ion-NAME-XXXXXX (mkdtemp: root's, 0700) and
 * puts its path in dir (len bytes); 0, or -1 when it cannot. */
static inline int
fixture_mkdtemp(char *dir, size_t len, const char *name)
{
	int n = snprintf(dir, len, "/tmp/ion-%s-XXXXXX", name);

	if (n < 0 || (size_t)n >= len)
		return -1;
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static inline int
fixture_rm_entry(
    const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes path and everything under it, symlinks not followed; 0, or -1
 * (nftw's answer). */
static inline int
fixture_rmtree(const char *path)
{
	return nftw(path, fixture_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes len bytes of data to path as a new file (whatever was there is
 * removed first; O_EXCL, O_NOFOLLOW) with mode, owned by uid and group 0
 * (the caller's own group when uid is the caller's, so a test that does
 * not need root can run without it).  Fails the test on any error. */
static inline void
write_file(
    const char *path, const char *data, size_t len, mode_t mode, uid_t uid)
{
	int fd;

	if (unlink(path) == -1 && errno != ENOENT)
		fail_msg("unlink %s: %s", path, strerror(errno));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchown(fd, uid, uid == geteuid() ? getegid() : 0), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

/* write_file() of a string, without its NUL. */
static inline void
write_text(const char *path, const char *text, mode_t mode, uid_t uid)
{
	write_file(path, text, strlen(text), mode, uid);
}

#endif
