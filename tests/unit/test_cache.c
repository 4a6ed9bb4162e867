/*
 * Unit tests of cache.h: the on-disk cache of discovery and JWKS documents.
 * Run as root (as CI does): the tests chown to uid 1 to make things unsafe.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka.h wants stdarg.h, stddef.h, stdint.h and setjmp.h first. */
#include <cmocka.h>

#include "cache.h"
#include "crypto.h"
#include "errors.h"
#include "fixture.h"

#define OTHER_UID 1 /* daemon */
#define URL "https://auth.example/.well-known/openid-configuration"
#define BODY "{\"issuer\":\"https://auth.example\"}"
#define T0 ((time_t)1700000000)

static struct {
	char base[64];	 /* the temporary directory */
	char dir[128];	 /* the cache directory inside it */
	char entry[256]; /* URL's file in dir */
} fx;

static void
entry_path(const char *dir, const char *url, char *out, size_t len)
{
	unsigned char d[ION_SHA256_LEN];
	char hex[2 * ION_SHA256_LEN + 1];
	size_t i;

	assert_int_equal(ion_sha256(url, strlen(url), NULL, 0, NULL, 0, d), 0);
	for (i = 0; i < sizeof(d); i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	snprintf(out, len, "%s/%s.cache", dir, hex);
}

static int
setup(void **state)
{
	(void)state;
	if (fixture_mkdtemp(fx.base, sizeof(fx.base), "cache") != 0)
		return -1;
	snprintf(fx.dir, sizeof(fx.dir), "%s/cache", fx.base);
	entry_path(fx.dir, URL, fx.entry, sizeof(fx.entry));
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return fixture_rmtree(fx.base);
}

/* Each test starts without a cache directory. */
static int
reset(void **state)
{
	struct stat st;

	(void)state;
	if (lstat(fx.dir, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return fixture_rmtree(fx.dir);
		return unlink(fx.dir);
	}
	return 0;
}

static int sentinel;

static void
expect_miss(const char *dir, time_t now)
{
	char *body = (char *)(void *)&sentinel;
	size_t len = 12345;
	time_t fetched = 6789;

	assert_int_equal(ion_cache_load(dir, URL, now, &body, &len, &fetched),
	    ION_ERR_NOT_FOUND);
	/* ret_* only on success */
	assert_ptr_equal(body, &sentinel);
	assert_int_equal(len, 12345);
	assert_int_equal(fetched, 6789);
}

static void
expect_hit(const char *dir, time_t now, const char *want, size_t want_len,
    time_t want_fetched)
{
	char *body = NULL;
	size_t len = 0;
	time_t fetched = 0;
	int r;

	r = ion_cache_load(dir, URL, now, &body, &len, &fetched);
	if (r != 0)
		fail_msg("load at %lld: %d", (long long)now, r);
	assert_int_equal(len, want_len);
	assert_memory_equal(body, want, want_len);
	assert_int_equal(body[len], '\0');
	assert_int_equal(fetched, want_fetched);
	free(body);
}

static size_t
count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
test_round_trip(void **state)
{
	struct stat st;
	char expect_head[128];
	char buf[256];
	int fd;
	ssize_t n;

	(void)state;
	assert_int_equal(ion_cache_store(fx.dir, URL, BODY, strlen(BODY),
			     "public, max-age=600", T0),
	    0);
	/* The directory was made 0700; the entry is a 0600 file. */
	assert_int_equal(lstat(fx.dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(lstat(fx.entry, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(count_files(fx.dir), 1);

	/* The documented format. */
	fd = open(fx.entry, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	snprintf(expect_head, sizeof(expect_head),
	    "pam_ion-cache 1 %lld %lld %zu\n" BODY, (long long)T0,
	    (long long)T0 + 600, strlen(BODY));
	assert_string_equal(buf, expect_head);

	expect_hit(fx.dir, T0, BODY, strlen(BODY), T0);
	expect_hit(fx.dir, T0 + 599, BODY, strlen(BODY), T0);
	expect_miss(fx.dir, T0 + 600);
	expect_miss(fx.dir, T0 + 1000000000);
	expect_miss(fx.dir, T0 - 1); /* fetched in the future */

	/* Another URL is another entry. */
	assert_int_equal(
	    ion_cache_load(fx.dir, URL "x", T0, &(char *) { NULL }, NULL, NULL),
	    ION_ERR_NOT_FOUND);

	/* Storing again replaces the entry and leaves no temporary file. */
	assert_int_equal(
	    ion_cache_store(fx.dir, URL, "{}", 2, "max-age=100000", T0 + 10),
	    0);
	assert_int_equal(count_files(fx.dir), 1);
	expect_hit(fx.dir, T0 + 10 + 86399, "{}", 2, T0 + 10);
	expect_miss(fx.dir, T0 + 10 + 86400);
}

static void
test_lifetimes_stored(void **state)
{
	(void)state;
	/* No Cache-Control: an hour. */
	assert_int_equal(
	    ion_cache_store(fx.dir, URL, BODY, strlen(BODY), NULL, T0), 0);
	expect_hit(fx.dir, T0 + 3599, BODY, strlen(BODY), T0);
	expect_miss(fx.dir, T0 + 3600);
	/* max-age=0 still keeps a minute. */
	assert_int_equal(
	    ion_cache_store(fx.dir, URL, BODY, strlen(BODY), "max-age=0", T0),
	    0);
	expect_hit(fx.dir, T0 + 59, BODY, strlen(BODY), T0);
	expect_miss(fx.dir, T0 + 60);
	/* no-store stores nothing and drops what was there. */
	assert_int_equal(
	    ion_cache_store(fx.dir, URL, BODY, strlen(BODY), "max-age=600", T0),
	    0);
	assert_int_equal(ion_cache_store(fx.dir, URL, BODY, strlen(BODY),
			     "No-Store", T0 + 1),
	    0);
	expect_miss(fx.dir, T0 + 2);
	assert_int_equal(count_files(fx.dir), 0);
	assert_int_equal(ion_cache_store(fx.dir, URL, BODY, strlen(BODY),
			     "no-cache", T0 + 1),
	    0);
	assert_int_equal(count_files(fx.dir), 0);
}

static void
test_bodies(void **state)
{
	static const char with_nul[] = "a\0b\nc";
	char *big;

	(void)state;
	/* Bodies are bytes: NULs and newlines survive, empty is fine. */
	assert_int_equal(ion_cache_store(fx.dir, URL, with_nul,
			     sizeof(with_nul) - 1, NULL, T0),
	    0);
	expect_hit(fx.dir, T0, with_nul, sizeof(with_nul) - 1, T0);
	assert_int_equal(ion_cache_store(fx.dir, URL, "", 0, NULL, T0), 0);
	expect_hit(fx.dir, T0, "", 0, T0);
	assert_int_equal(ion_cache_store(fx.dir, URL, NULL, 0, NULL, T0), 0);
	expect_hit(fx.dir, T0, "", 0, T0);

	/* 1 MiB is the cap. */
	big = malloc(ION_CACHE_MAX_BODY + 1);
	assert_non_null(big);
	memset(big, 'j', ION_CACHE_MAX_BODY + 1);
	assert_int_equal(
	    ion_cache_store(fx.dir, URL, big, ION_CACHE_MAX_BODY, NULL, T0), 0);
	expect_hit(fx.dir, T0, big, ION_CACHE_MAX_BODY, T0);
	assert_int_equal(ion_cache_store(fx.dir, URL, big,
			     ION_CACHE_MAX_BODY + 1, NULL, T0 + 5),
	    ION_ERR_RANGE);
	expect_hit(fx.dir, T0 + 5, big, ION_CACHE_MAX_BODY, T0);
	free(big);
}

/* Entries written by hand: only the exact format loads. */
static const struct {
	const char *content;
	bool ok;
} files[] = {
	{ "pam_ion-cache 1 1700000000 1700000600 5\nhello", true },
	{ "pam_ion-cache 1 1700000000 1700086400 0\n", true },
	{ "pam_ion-cache 1 1700000000 1700000600 6\nhello", false },
	{ "pam_ion-cache 1 1700000000 1700000600 4\nhello", false },
	{ "pam_ion-cache 1 1700000000 1700000600 5\nhello\n", false },
	{ "pam_ion-cache 1 1700000000 1700000600 5hello", false },
	{ "pam_ion-cache 2 1700000000 1700000600 5\nhello", false },
	{ "pam_ion-cache 1  1700000000 1700000600 5\nhello", false },
	{ "pam_ion-cache 1 1700000000  1700000600 5\nhello", false },
	{ "pam_ion-cache 1 1700000000 1700000600 5 \nhello", false },
	{ "pam_ion-cache 1 1700000000 1700000600\nhello", false },
	{ "pam_ion-cache 1 1700000000 1700000600 5 5\nhello", false },
	{ "pam_ion-cache 1 +1700000000 1700000600 5\nhello", false },
	{ "pam_ion-cache 1 1700000000 1700000600 -5\nhello", false },
	{ "pam_ion-cache 1 1700000000 1700000600 05\nhello", false },
	{ "pam_ion-cache 1 01700000000 1700000600 5\nhello", false },
	{ "pam_ion-cache 1 17000000x0 1700000600 5\nhello", false },
	{ "pam_ion-cache 1 1700000000 1700000600 0x5\nhello", false },
	{ "pam_ion-cache 1 1700000000 99999999999999999999 5\nhello", false },
	{ "pam_ion-cache 1 1700000000 1700000600 99999999999999999999\nhello",
	    false },
	{ "pam_ion-cache 1 1700000000 1700000600 1048577\nhello", false },
	/* Times that make no sense. */
	{ "pam_ion-cache 1 1700000600 1700000000 5\nhello", false },
	{ "pam_ion-cache 1 1700000000 1700086401 5\nhello", false },
	{ "pam_ion-cache 1 1700000001 1700000600 5\nhello", false },
	{ "pam_ion-cache 1 1600000000 1700000000 5\nhello", false },
	{ "PAM_ION-CACHE 1 1700000000 1700000600 5\nhello", false },
	{ " pam_ion-cache 1 1700000000 1700000600 5\nhello", false },
	{ "pam_ion-cache 1 1700000000 1700000600 5\r\nhello", false },
	{ "pam_ion-cache 1\n", false },
	{ "pam_ion-cache", false },
	{ "", false },
	{ "hello", false },
};

static void
test_tampered(void **state)
{
	size_t i;

	(void)state;
	assert_int_equal(mkdir(fx.dir, 0700), 0);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *body = NULL;
		size_t len = 0;
		time_t fetched = 0;
		int r;

		write_file(fx.entry, files[i].content, strlen(files[i].content),
		    0600, 0);
		r = ion_cache_load(fx.dir, URL, T0, &body, &len, &fetched);
		if (files[i].ok) {
			if (r != 0)
				fail_msg("'%s': %d, expected a hit",
				    files[i].content, r);
			assert_int_equal(fetched, T0);
			free(body);
		} else if (r != ION_ERR_NOT_FOUND)
			fail_msg(
			    "'%s': %d, expected a miss", files[i].content, r);
	}
}

static void
test_header_without_newline(void **state)
{
	char buf[300];

	(void)state;
	assert_int_equal(mkdir(fx.dir, 0700), 0);
	memset(buf, '1', sizeof(buf));
	memcpy(buf, "pam_ion-cache 1 ", 16);
	write_file(fx.entry, buf, sizeof(buf), 0600, 0);
	expect_miss(fx.dir, T0);
}

static void
test_unsafe_entry(void **state)
{
	static const char good[] =
	    "pam_ion-cache 1 1700000000 1700000600 5\nhello";
	char other[256];

	(void)state;
	assert_int_equal(mkdir(fx.dir, 0700), 0);
	write_file(fx.entry, good, strlen(good), 0644, 0);
	expect_hit(fx.dir, T0, "hello", 5, T0); /* readable by all: fine */

	write_file(fx.entry, good, strlen(good), 0600, OTHER_UID);
	expect_miss(fx.dir, T0);
	write_file(fx.entry, good, strlen(good), 0620, 0);
	expect_miss(fx.dir, T0);
	write_file(fx.entry, good, strlen(good), 0602, 0);
	expect_miss(fx.dir, T0);

	/* A symlink to a good entry. */
	snprintf(other, sizeof(other), "%s/elsewhere", fx.base);
	write_file(other, good, strlen(good), 0600, 0);
	assert_int_equal(unlink(fx.entry), 0);
	assert_int_equal(symlink(other, fx.entry), 0);
	expect_miss(fx.dir, T0);
	assert_int_equal(unlink(fx.entry), 0);
	assert_int_equal(unlink(other), 0);

	/* A directory or a FIFO where the entry should be. */
	assert_int_equal(mkdir(fx.entry, 0700), 0);
	expect_miss(fx.dir, T0);
	assert_int_equal(rmdir(fx.entry), 0);
	assert_int_equal(mkfifo(fx.entry, 0600), 0);
	expect_miss(fx.dir, T0);
	/* A store replaces the FIFO with a real entry. */
	assert_int_equal(ion_cache_store(fx.dir, URL, "x", 1, NULL, T0), 0);
	expect_hit(fx.dir, T0, "x", 1, T0);
}

static void
test_unsafe_dir(void **state)
{
	char real[256];

	(void)state;
	/* Missing: load does not create it. */
	expect_miss(fx.dir, T0);
	assert_int_equal(access(fx.dir, F_OK), -1);

	/* Owned by someone else. */
	assert_int_equal(mkdir(fx.dir, 0700), 0);
	assert_int_equal(chown(fx.dir, OTHER_UID, 0), 0);
	assert_int_equal(
	    ion_cache_store(fx.dir, URL, "x", 1, NULL, T0), ION_ERR_DENIED);
	assert_int_equal(chown(fx.dir, 0, 0), 0);
	assert_int_equal(ion_cache_store(fx.dir, URL, "x", 1, NULL, T0), 0);
	assert_int_equal(chown(fx.dir, OTHER_UID, 0), 0);
	expect_miss(fx.dir, T0);
	assert_int_equal(chown(fx.dir, 0, 0), 0);
	expect_hit(fx.dir, T0, "x", 1, T0);

	/* Writable by group or others. */
	assert_int_equal(chmod(fx.dir, 0770), 0);
	expect_miss(fx.dir, T0);
	assert_int_equal(
	    ion_cache_store(fx.dir, URL, "x", 1, NULL, T0), ION_ERR_DENIED);
	assert_int_equal(chmod(fx.dir, 0703), 0);
	expect_miss(fx.dir, T0);
	assert_int_equal(
	    ion_cache_store(fx.dir, URL, "x", 1, NULL, T0), ION_ERR_DENIED);
	/* Readable by all is fine. */
	assert_int_equal(chmod(fx.dir, 0755), 0);
	expect_hit(fx.dir, T0, "x", 1, T0);

	/* A symlink to a good directory. */
	snprintf(real, sizeof(real), "%s/real", fx.base);
	assert_int_equal(rename(fx.dir, real), 0);
	assert_int_equal(symlink(real, fx.dir), 0);
	expect_miss(fx.dir, T0);
	assert_int_equal(
	    ion_cache_store(fx.dir, URL, "y", 1, NULL, T0), ION_ERR_DENIED);
	assert_int_equal(unlink(fx.dir), 0);
	assert_int_equal(fixture_rmtree(real), 0);

	/* A file where the directory should be. */
	write_file(fx.dir, "x", 1, 0600, 0);
	expect_miss(fx.dir, T0);
	assert_int_not_equal(ion_cache_store(fx.dir, URL, "x", 1, NULL, T0), 0);
	assert_int_equal(unlink(fx.dir), 0);

	/* The parent is not created. */
	snprintf(real, sizeof(real), "%s/no/such", fx.base);
	assert_int_equal(
	    ion_cache_store(real, URL, "x", 1, NULL, T0), ION_ERR_SYSTEM);

	/* Relative paths and absurd times. */
	assert_int_equal(
	    ion_cache_store("cache", URL, "x", 1, NULL, T0), ION_ERR_INVALID);
	expect_miss("cache", T0);
	assert_int_equal(
	    ion_cache_store(fx.dir, URL, "x", 1, NULL, -1), ION_ERR_INVALID);
	assert_int_equal(
	    ion_cache_store(fx.dir, URL, NULL, 1, NULL, T0), ION_ERR_INVALID);
}

static const struct {
	const char *cc;
	long want;
} lifetimes[] = {
	{ NULL, 3600 },
	{ "", 3600 },
	{ "public", 3600 },
	{ "max-age=600", 600 },
	{ "MAX-AGE=600", 600 },
	{ "Max-Age = 600", 600 },
	{ "public, max-age=600", 600 },
	{ "  public ,max-age=1200 , must-revalidate ", 1200 },
	{ "max-age=\"900\"", 900 },
	{ "max-age=0", 60 },
	{ "max-age=59", 60 },
	{ "max-age=60", 60 },
	{ "max-age=86400", 86400 },
	{ "max-age=86401", 86400 },
	{ "max-age=99999999999999999999999999", 86400 },
	{ "max-age=300, max-age=900", 300 },
	{ "max-age=900, max-age=300", 300 },
	{ "max-age=abc", 3600 },
	{ "max-age=", 3600 },
	{ "max-age", 3600 },
	{ "max-age=-5", 3600 },
	{ "max-age=1e3", 3600 },
	{ "max-age=12 34", 3600 },
	{ "max-age=\"90", 3600 },
	{ "max-agex=600", 3600 },
	{ "s-maxage=600", 3600 },
	{ "x-max-age=600", 3600 },
	{ "max-age=abc, max-age=120", 120 },
	{ "no-store", 0 },
	{ "No-Cache", 0 },
	{ "no-cache=\"Set-Cookie\"", 0 },
	{ "max-age=600, no-store", 0 },
	{ "public, NO-STORE, max-age=600", 0 },
	{ "no-storex", 3600 },
	{ "private=\"a, no-store\", max-age=120", 120 },
	{ "private=\"a, max-age=5\"", 3600 },
	{ ",,, ,", 3600 },
	{ "max-age=120,", 120 },
	{ "\tmax-age=120\t", 120 },
};

static void
test_lifetime(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lifetimes) / sizeof(lifetimes[0]); i++) {
		long got = ion_cache_lifetime(lifetimes[i].cc);

		if (got != lifetimes[i].want)
			fail_msg("'%s': %ld, expected %ld",
			    lifetimes[i].cc ? lifetimes[i].cc : "(null)", got,
			    lifetimes[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_round_trip, reset),
		cmocka_unit_test_setup(test_lifetimes_stored, reset),
		cmocka_unit_test_setup(test_bodies, reset),
		cmocka_unit_test_setup(test_tampered, reset),
		cmocka_unit_test_setup(test_header_without_newline, reset),
		cmocka_unit_test_setup(test_unsafe_entry, reset),
		cmocka_unit_test_setup(test_unsafe_dir, reset),
		cmocka_unit_test(test_lifetime),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_cache: must run as root (chown)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
