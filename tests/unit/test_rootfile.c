/* Unit tests of rootfile.h: the safe reader of administrators' files. */
#include <sys/stat.h>

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

#include "errors.h"
#include "fixture.h"
#include "rootfile.h"

#define TEXT "key = value\n"
#define OTHER_UID 4242 /* owns files only when the test runs as root */

static char dir[64];
static char path[128], link_path[128], sub[128];

/* One directory for the run; each test starts with it empty. */
static int
make_dir(void **state)
{
	(void)state;
	if (fixture_mkdtemp(dir, sizeof(dir), "rootfile") != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/file", dir);
	snprintf(link_path, sizeof(link_path), "%s/link", dir);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	return 0;
}

static int
empty_dir(void **state)
{
	(void)state;
	unlink(link_path);
	unlink(path);
	rmdir(sub);
	return 0;
}

static int
remove_dir(void **state)
{
	(void)state;
	return fixture_rmtree(dir);
}

/*
 * Reads p with ion_rootfile_read(), or with ion_rootfile_read_owned() for
 * owner when owned is true, and checks the result: 0 with TEXT, or want
 * with err equal to "P: " and needle.
 */
static void
expect(const char *p, bool owned, uid_t owner, unsigned flags, size_t max,
    int want, const char *needle)
{
	char err[256] = "", full[512], *text = NULL;
	size_t len = 0;
	int r;

	if (owned)
		r = ion_rootfile_read_owned(
		    p, flags, owner, max, &text, &len, err, sizeof(err));
	else
		r = ion_rootfile_read(
		    p, flags, max, &text, &len, err, sizeof(err));
	if (r != want)
		fail_msg("%s: %d '%s', expected %d", p, r, err, want);
	if (want == 0) {
		assert_non_null(text);
		assert_int_equal(len, strlen(TEXT));
		assert_string_equal(text, TEXT);
		free(text);
		return;
	}
	assert_null(text);
	snprintf(full, sizeof(full), "%s: %s", p, needle);
	assert_string_equal(err, full);
}

/*
 * The rules both entry points share, in the same words.  Run by anyone
 * but root, ion_rootfile_read() refuses every file the test can write for
 * its owner first: only the rules before that one are checked then.
 */
static void
common_rules(bool owned)
{
	uid_t me = geteuid();
	bool mine_ok = me == 0 || owned;

	expect(path, owned, me, 0, 4096, ION_ERR_NOT_FOUND, "does not exist");
	write_text(path, TEXT, 0644, geteuid());
	if (mine_ok) {
		expect(path, owned, me, 0, 4096, 0, NULL);
		expect(path, owned, me, ION_ROOTFILE_PRIVATE, 4096,
		    ION_ERR_CONFIG, "mode 0644; it must be 0600 or 0400");
		expect(path, owned, me, 0, strlen(TEXT) - 1, ION_ERR_CONFIG,
		    "larger than 11 bytes");
		assert_int_equal(chmod(path, 0664), 0);
		expect(path, owned, me, 0, 4096, ION_ERR_CONFIG,
		    "writable by group or others (mode 0664); chmod go-w it");
		assert_int_equal(chmod(path, 0646), 0);
		expect(path, owned, me, 0, 4096, ION_ERR_CONFIG,
		    "writable by group or others (mode 0646); chmod go-w it");
	}
	assert_int_equal(symlink(path, link_path), 0);
	expect(link_path, owned, me, 0, 4096, ION_ERR_CONFIG,
	    "is a symbolic link");
	assert_int_equal(mkdir(sub, 0700), 0);
	expect(sub, owned, me, 0, 4096, ION_ERR_CONFIG, "not a regular file");
}

static void
test_rules(void **state)
{
	(void)state;
	common_rules(false);
}

static void
test_rules_owned(void **state)
{
	(void)state;
	common_rules(true);
}

/*
 * ion_rootfile_read() takes root's files only; ion_rootfile_read_owned()
 * also those of the uid it is given, and says so when it refuses.
 */
static void
test_owner_rule(void **state)
{
	uid_t me = geteuid(), other = me;
	char want[128];

	(void)state;
	write_text(path, TEXT, 0600, geteuid());
	if (me == 0) {
		/* Root's file: both take it, whoever else may own one. */
		expect(path, false, 0, 0, 4096, 0, NULL);
		expect(path, true, OTHER_UID, 0, 4096, 0, NULL);
		assert_int_equal(chown(path, OTHER_UID, OTHER_UID), 0);
		other = OTHER_UID;
	}
	snprintf(want, sizeof(want), "owned by uid %lu, not root",
	    (unsigned long)other);
	expect(path, false, 0, 0, 4096, ION_ERR_CONFIG, want);
	expect(path, true, other, 0, 4096, 0, NULL);
	expect(path, true, other, ION_ROOTFILE_PRIVATE, 4096, 0, NULL);
	snprintf(want, sizeof(want), "owned by uid %lu, not by root or uid %lu",
	    (unsigned long)other, (unsigned long)other + 1);
	expect(path, true, other + 1, 0, 4096, ION_ERR_CONFIG, want);
	/* The owner's file is held to the other rules all the same. */
	assert_int_equal(chmod(path, 0620), 0);
	expect(path, true, other, 0, 4096, ION_ERR_CONFIG,
	    "writable by group or others (mode 0620); chmod go-w it");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_rules, empty_dir),
		cmocka_unit_test_teardown(test_rules_owned, empty_dir),
		cmocka_unit_test_teardown(test_owner_rule, empty_dir),
	};

	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
