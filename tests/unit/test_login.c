/*
 * Unit tests of login.h that need no provider: when the confirmation code
 * is asked for, which PAM_TTY values name a local terminal, and which
 * devices are one.  (The whole
 * sign-in runs through real PAM in tests/module.)
 */
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

#include <errno.h>
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

#include "config.h"
#include "login.h"

static void
test_tty_name(void **state)
{
	static const struct {
		const char *tty;
		bool local;
		unsigned major, minor;
	} cases[] = {
		/* virtual consoles, tty1 to tty63, as login(1) and gdm set */
		{ "/dev/tty1", true, 4, 1 },
		{ "tty1", true, 4, 1 },
		{ "/dev/tty7", true, 4, 7 },
		{ "/dev/tty63", true, 4, 63 },
		{ "tty63", true, 4, 63 },
		{ "/dev/tty0", false, 0, 0 }, /* "the current console" */
		{ "/dev/tty64", false, 0, 0 },
		{ "/dev/tty01", false, 0, 0 },
		{ "/dev/tty", false, 0, 0 }, /* the controlling tty */
		{ "tty", false, 0, 0 },
		{ "/dev/tty1 ", false, 0, 0 },
		{ "/dev/tty+1", false, 0, 0 },
		{ "/dev/tty-1", false, 0, 0 },
		{ "/dev/tty99999999999999999999", false, 0, 0 },
		/* serial ports of major 4, ttyS0 to ttyS191, minor 64 on */
		{ "/dev/ttyS0", true, 4, 64 },
		{ "ttyS0", true, 4, 64 },
		{ "/dev/ttyS1", true, 4, 65 },
		{ "/dev/ttyS191", true, 4, 255 },
		{ "/dev/ttyS192", false, 0, 0 },
		{ "/dev/ttyS00", false, 0, 0 },
		{ "/dev/ttyS", false, 0, 0 },
		{ "/dev/ttySAC0", false, 0, 0 },
		{ "/dev/ttyUSB0", false, 0, 0 },
		{ "/dev/ttyACM0", false, 0, 0 },
		{ "/dev/ttyAMA0", false, 0, 0 },
		{ "/dev/hvc0", false, 0, 0 },
		/* the console */
		{ "/dev/console", true, 5, 1 },
		{ "console", true, 5, 1 },
		{ "/dev/console0", false, 0, 0 },
		{ "Console", false, 0, 0 },
		/* X displays: an Xvnc or x11vnc login screen is ":1" too */
		{ ":0", false, 0, 0 },
		{ ":1", false, 0, 0 },
		{ ":0.0", false, 0, 0 },
		{ ":10.1", false, 0, 0 },
		{ "localhost:0", false, 0, 0 },
		{ "host.example:10.0", false, 0, 0 },
		{ "unix:0", false, 0, 0 },
		/* remote or unknown */
		{ "/dev/pts/0", false, 0, 0 }, /* ssh, su, sudo, emulators */
		{ "pts/0", false, 0, 0 },
		{ "/dev/pts/tty1", false, 0, 0 },
		{ "ssh", false, 0, 0 }, /* sshd before a pty exists */
		{ "/dev/../dev/tty1", false, 0, 0 },
		{ "/dev//tty1", false, 0, 0 },
		{ "/dev/dev/tty1", false, 0, 0 },
		{ "/tmp/tty1", false, 0, 0 },
		{ "/dev/", false, 0, 0 },
		{ "", false, 0, 0 },
		{ NULL, false, 0, 0 },
	};
	const dev_t untouched = makedev(999, 999);
	dev_t rdev;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rdev = untouched;
		if (ion_login_tty_name(cases[i].tty, &rdev) != cases[i].local)
			fail_msg("case %zu (%s): expected %d", i,
			    cases[i].tty != NULL ? cases[i].tty : "NULL",
			    cases[i].local);
		if (cases[i].local
			? rdev != makedev(cases[i].major, cases[i].minor)
			: rdev != untouched)
			fail_msg("case %zu (%s): device %u:%u", i,
			    cases[i].tty != NULL ? cases[i].tty : "NULL",
			    major(rdev), minor(rdev));
	}
}

/* What the stand-in stat says, and which path it was asked about. */
static struct {
	int ret;
	mode_t mode;
	dev_t rdev;
	char path[64];
	unsigned calls;
} fake;

static int
fake_stat(const char *path, struct stat *st)
{
	fake.calls++;
	snprintf(fake.path, sizeof(fake.path), "%s", path);
	if (fake.ret != 0) {
		errno = ENOENT;
		return -1;
	}
	memset(st, 0, sizeof(*st));
	st->st_mode = fake.mode;
	st->st_rdev = fake.rdev;
	return 0;
}

static void
test_tty_device(void **state)
{
	static const struct {
		const char *tty;
		unsigned want_major, want_minor; /* from the name check */
		int ret;			 /* stat's */
		mode_t mode;
		unsigned major, minor; /* what is there */
		const char *path;      /* what is looked at */
		bool local;
	} cases[] = {
		/* the real devices */
		{ "/dev/tty1", 4, 1, 0, S_IFCHR | 0620, 4, 1, "/dev/tty1",
		    true },
		{ "tty1", 4, 1, 0, S_IFCHR, 4, 1, "/dev/tty1", true },
		{ "tty63", 4, 63, 0, S_IFCHR, 4, 63, "/dev/tty63", true },
		{ "/dev/ttyS0", 4, 64, 0, S_IFCHR, 4, 64, "/dev/ttyS0", true },
		{ "ttyS191", 4, 255, 0, S_IFCHR, 4, 255, "/dev/ttyS191", true },
		{ "/dev/console", 5, 1, 0, S_IFCHR | 0600, 5, 1, "/dev/console",
		    true },
		{ "console", 5, 1, 0, S_IFCHR, 5, 1, "/dev/console", true },
		/* a container's: pseudo-terminals bind-mounted in place */
		{ "/dev/tty1", 4, 1, 0, S_IFCHR, 136, 0, "/dev/tty1", false },
		{ "/dev/console", 5, 1, 0, S_IFCHR, 136, 3, "/dev/console",
		    false },
		{ "/dev/console", 5, 1, 0, S_IFCHR, 5, 2, "/dev/console",
		    false }, /* /dev/ptmx */
		/* another console than the name says */
		{ "/dev/tty1", 4, 1, 0, S_IFCHR, 4, 2, "/dev/tty1", false },
		{ "/dev/tty1", 4, 1, 0, S_IFCHR, 5, 1, "/dev/tty1", false },
		{ "/dev/ttyS0", 4, 64, 0, S_IFCHR, 4, 0, "/dev/ttyS0", false },
		{ "/dev/ttyS0", 4, 64, 0, S_IFCHR, 4, 1, "/dev/ttyS0", false },
		/* not a character device with the right number */
		{ "/dev/tty1", 4, 1, 0, S_IFBLK, 4, 1, "/dev/tty1", false },
		{ "/dev/tty1", 4, 1, 0, S_IFREG, 4, 1, "/dev/tty1", false },
		{ "/dev/tty1", 4, 1, 0, S_IFLNK, 4, 1, "/dev/tty1", false },
		{ "/dev/tty1", 4, 1, 0, S_IFSOCK, 4, 1, "/dev/tty1", false },
		{ "/dev/tty1", 4, 1, 0, S_IFIFO, 4, 1, "/dev/tty1", false },
		{ "/dev/tty1", 4, 1, 0, S_IFDIR, 4, 1, "/dev/tty1", false },
		/* no device there, or stat fails */
		{ "/dev/tty1", 4, 1, -1, S_IFCHR, 4, 1, "/dev/tty1", false },
		{ "console", 5, 1, -1, S_IFCHR, 5, 1, "/dev/console", false },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&fake, 0, sizeof(fake));
		fake.ret = cases[i].ret;
		fake.mode = cases[i].mode;
		fake.rdev = makedev(cases[i].major, cases[i].minor);
		if (ion_login_tty_device(cases[i].tty,
			makedev(cases[i].want_major, cases[i].want_minor),
			fake_stat) != cases[i].local)
			fail_msg("case %zu (%s): expected %d", i, cases[i].tty,
			    cases[i].local);
		if (fake.calls != 1 || strcmp(fake.path, cases[i].path) != 0)
			fail_msg("case %zu (%s): looked at \"%s\" %u times", i,
			    cases[i].tty, fake.path, fake.calls);
	}
	/* NULL is nothing, and nothing is looked at. */
	memset(&fake, 0, sizeof(fake));
	assert_false(ion_login_tty_device(NULL, makedev(4, 1), fake_stat));
	assert_int_equal(fake.calls, 0);
}

/*
 * The same through lstat(2) on real nodes, made with mknod(2) in a
 * directory of our own that stands in for /dev (root only).
 */
static char nodes[64];

static int
nodes_lstat(const char *path, struct stat *st)
{
	char p[128];

	if (strncmp(path, "/dev/", 5) != 0) {
		errno = EINVAL;
		return -1;
	}
	snprintf(p, sizeof(p), "%s/%s", nodes, path + 5);
	return lstat(p, st);
}

static const char *const node_names[] = { "tty1", "tty2", "tty3", "tty4",
	"tty5", "ttyS0", "console" };

static int
make_node(const char *name, mode_t mode, unsigned ma, unsigned mi)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/%s", nodes, name);
	return mknod(p, mode | 0600, makedev(ma, mi));
}

/* Removes whatever the test made, whether it passed or not. */
static int
nodes_teardown(void **state)
{
	char p[128];
	size_t i;

	(void)state;
	if (nodes[0] == '\0')
		return 0;
	for (i = 0; i < sizeof(node_names) / sizeof(node_names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", nodes, node_names[i]);
		(void)unlink(p);
	}
	if (rmdir(nodes) != 0)
		return -1;
	nodes[0] = '\0';
	return 0;
}

static int
nodes_setup(void **state)
{
	char p[128];

	(void)state;
	if (geteuid() != 0)
		return 0; /* the test skips */
	strcpy(nodes, "/tmp/pam-ion-dev.XXXXXX");
	if (mkdtemp(nodes) == NULL) {
		nodes[0] = '\0';
		return -1;
	}
	snprintf(p, sizeof(p), "%s/tty5", nodes);
	if (make_node("tty1", S_IFCHR, 4, 1) != 0 ||
	    make_node("tty2", S_IFCHR, 136, 0) != 0 ||
	    make_node("tty3", S_IFCHR, 4, 4) != 0 ||
	    make_node("tty4", S_IFREG, 0, 0) != 0 || symlink("tty1", p) != 0 ||
	    make_node("ttyS0", S_IFCHR, 4, 64) != 0 ||
	    make_node("console", S_IFCHR, 5, 1) != 0) {
		(void)nodes_teardown(state);
		return -1;
	}
	return 0;
}

static void
test_tty_device_nodes(void **state)
{
	static const struct {
		const char *tty;
		bool local;
	} cases[] = {
		{ "/dev/tty1", true },	  /* (4, 1) */
		{ "tty2", false },	  /* (136, 0), a pseudo-terminal */
		{ "/dev/tty3", false },	  /* (4, 4) */
		{ "tty4", false },	  /* a regular file */
		{ "tty5", false },	  /* a symbolic link to tty1 */
		{ "/dev/tty6", false },	  /* missing */
		{ "/dev/ttyS0", true },	  /* (4, 64) */
		{ "/dev/console", true }, /* (5, 1) */
	};
	dev_t rdev;
	size_t i;

	(void)state;
	if (nodes[0] == '\0')
		skip(); /* not root */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(ion_login_tty_name(cases[i].tty, &rdev));
		if (ion_login_tty_device(cases[i].tty, rdev, nodes_lstat) !=
		    cases[i].local)
			fail_msg("case %zu (%s): expected %d", i, cases[i].tty,
			    cases[i].local);
	}
}

/* And this machine's own /dev, through lstat(2) itself, where it has one. */
static void
test_tty_device_here(void **state)
{
	static const char *const ttys[] = { "/dev/tty1", "/dev/console",
		"/dev/ttyS0" };
	struct stat st;
	dev_t rdev;
	size_t i, seen = 0;

	(void)state;
	for (i = 0; i < sizeof(ttys) / sizeof(ttys[0]); i++) {
		assert_true(ion_login_tty_name(ttys[i], &rdev));
		if (lstat(ttys[i], &st) != 0 || !S_ISCHR(st.st_mode) ||
		    st.st_rdev != rdev)
			continue; /* not here, or a container's */
		seen++;
		assert_true(ion_login_tty_device(ttys[i], rdev, NULL));
		assert_true(ion_login_tty_device(ttys[i] + 5, rdev, NULL));
		/* the right name, a wrong number */
		assert_false(ion_login_tty_device(
		    ttys[i], makedev(major(rdev), minor(rdev) + 1), NULL));
	}
	if (seen == 0)
		skip();
}

/* A machine's /dev: each console name is its device. */
static int
machine_stat(const char *path, struct stat *st)
{
	dev_t rdev;

	if (!ion_login_tty_name(path, &rdev)) {
		errno = ENOENT;
		return -1;
	}
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFCHR | 0620;
	st->st_rdev = rdev;
	return 0;
}

/* A container's /dev: its consoles are the host's pseudo-terminals. */
static int
container_stat(const char *path, struct stat *st)
{
	(void)path;
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFCHR | 0620;
	st->st_rdev = makedev(136, 0);
	return 0;
}

static void
test_confirm(void **state)
{
	static const struct {
		bool confirm;
		const char *rhost, *ruser, *tty;
		bool container;
		enum ion_confirm want;
	} cases[] = {
		{ true, NULL, NULL, NULL, false, ION_CONFIRM_YES },
		{ true, NULL, NULL, "/dev/tty1", false, ION_CONFIRM_YES },
		{ true, "192.0.2.1", "bob", "ssh", false, ION_CONFIRM_YES },
		{ true, NULL, NULL, "/dev/tty1", true, ION_CONFIRM_YES },
		/* confirm = no: only at a local terminal, with neither item */
		{ false, NULL, NULL, "/dev/tty1", false, ION_CONFIRM_NO },
		{ false, "", "", "tty2", false, ION_CONFIRM_NO },
		{ false, "", NULL, "/dev/console", false, ION_CONFIRM_NO },
		{ false, NULL, "", "/dev/ttyS0", false, ION_CONFIRM_NO },
		/* the application says where the person is */
		/* sshd */
		{ false, "192.0.2.1", NULL, NULL, false, ION_CONFIRM_REMOTE },
		{ false, "192.0.2.1", NULL, "ssh", false, ION_CONFIRM_REMOTE },
		{ false, "localhost", NULL, "/dev/tty1", false,
		    ION_CONFIRM_REMOTE },
		{ false, "host.example", "bob", "/dev/tty1", false,
		    ION_CONFIRM_REMOTE },
		/* su, sudo */
		{ false, NULL, "bob", "/dev/pts/0", false, ION_CONFIRM_RUSER },
		{ false, "", "bob", "/dev/tty1", false, ION_CONFIRM_RUSER },
		{ false, NULL, "bob", NULL, false, ION_CONFIRM_RUSER },
		/* ... or does not (a web console): nothing says it is local */
		{ false, NULL, NULL, NULL, false, ION_CONFIRM_NO_TTY },
		{ false, "", "", "", false, ION_CONFIRM_NO_TTY },
		{ false, NULL, NULL, "/dev/pts/0", false, ION_CONFIRM_TTY },
		{ false, NULL, NULL, "ssh", false, ION_CONFIRM_TTY },
		{ false, NULL, NULL, "web", false, ION_CONFIRM_TTY },
		{ false, NULL, NULL, "localhost:0", false, ION_CONFIRM_TTY },
		{ false, NULL, NULL, "/dev/ttyUSB0", false, ION_CONFIRM_TTY },
		/* X displays: lightdm's own, or its VNC server's */
		{ false, NULL, NULL, ":0", false, ION_CONFIRM_TTY },
		{ false, NULL, NULL, ":1.0", false, ION_CONFIRM_TTY },
		/* the right name, not the device: a container's console */
		{ false, NULL, NULL, "/dev/tty1", true,
		    ION_CONFIRM_TTY_DEVICE },
		{ false, NULL, NULL, "/dev/console", true,
		    ION_CONFIRM_TTY_DEVICE },
		{ false, NULL, NULL, "console", true, ION_CONFIRM_TTY_DEVICE },
		/* the order: the items, then the name, then the device */
		{ false, "192.0.2.1", NULL, "/dev/tty1", true,
		    ION_CONFIRM_REMOTE },
		{ false, NULL, "bob", "/dev/tty1", true, ION_CONFIRM_RUSER },
		{ false, NULL, NULL, "/dev/pts/0", true, ION_CONFIRM_TTY },
	};
	struct ion_login_env env;
	struct ion_cfg cfg;
	enum ion_confirm got;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&cfg, 0, sizeof(cfg));
		memset(&env, 0, sizeof(env));
		cfg.confirm = cases[i].confirm;
		cfg.prompt = ION_PROMPT_AUTO;
		env.rhost = cases[i].rhost;
		env.ruser = cases[i].ruser;
		env.tty = cases[i].tty;
		env.tty_stat =
		    cases[i].container ? container_stat : machine_stat;
		if ((got = ion_login_confirm(&cfg, &env)) != cases[i].want)
			fail_msg(
			    "case %zu: %d, expected %d", i, got, cases[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tty_name),
		cmocka_unit_test(test_tty_device),
		cmocka_unit_test_setup_teardown(
		    test_tty_device_nodes, nodes_setup, nodes_teardown),
		cmocka_unit_test(test_tty_device_here),
		cmocka_unit_test(test_confirm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
