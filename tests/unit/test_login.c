/*
 * Unit tests of login.h: when the confirmation code is asked for, which
 * PAM_TTY values name a local terminal, and which devices are one; then
 * whole sign-ins (ion_login_run) with a scripted conversation against
 * http_server.py standing in for both the relay and the provider, with an
 * id_token signed here for the nonce of each sign-in.  No root needed:
 * without it the user map is refused (not root's), which is as far as a
 * sign-in can get.  (The sign-in through real PAM is in tests/module.)
 */
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

#include <errno.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* cmocka.h wants stdarg.h, stddef.h, stdint.h and setjmp.h first. */
#include <cmocka.h>

#include "b64url.h"
#include "clock.h"
#include "config.h"
#include "crypto.h"
#include "errors.h"
#include "login.h"
#include "prompt.h"
#include "server_fixture.h"

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

/*
 * Whole sign-ins.  The fixture server plays the relay under /relay and the
 * provider at its root; the "phone" is the conversation script, which
 * makes the relay and the token endpoint answer as a real sign-in would.
 */
#define RELAY_KEY "test-relay-key-0123456789-abcdefghijklmn"
#define CLIENT "pam client"
#define SUB "248289761001"
#define LOCAL_USER "alice"
#define AUTH_CODE "code-from-the-provider"
#define PATH_LOGINS "/relay/v1/logins"
#define PATH_RESULT "/relay/v1/logins/result"
#define PENDING "{\"status\": \"pending\"}"
#define FORGOTTEN "{\"error\": \"not_found\"}"
#define DOC                                                                    \
	"{\"issuer\": \"{base}\", "                                            \
	"\"authorization_endpoint\": \"{base}/authorize\", "                   \
	"\"token_endpoint\": \"{base}/token\", \"jwks_uri\": \"{base}/jwks\"}"

/* The login.c prompts a person sees (login.c's PROMPT_*). */
#define SAW_CODE "P: After signing in, type the code shown on your phone: \n"
#define SAW_ENTER "P: After signing in on your phone, press Enter: \n"
#define SAW_AGAIN_CODE                                                         \
	"P: Not signed in yet. Finish signing in on your phone, then type "    \
	"the code shown there: \n"
#define SAW_AGAIN_ENTER                                                        \
	"P: Not signed in yet. Finish signing in on your phone, then press "   \
	"Enter: \n"
#define SAW_WRONG                                                              \
	"P: That code does not match. Type the code shown on your phone: \n"

static struct fixture_server srv;
static EVP_PKEY *signing_key; /* P-256, its public half in the JWKS */
static char run_root[64];     /* a directory of this test's own */

/* What the phone does before the person answers a turn. */
enum phone {
	PHONE_WAITS,	 /* nothing yet: the relay says pending */
	PHONE_SIGNS_IN,	 /* the provider sent the code to the relay */
	PHONE_FORGOTTEN, /* the relay no longer knows the sign-in (404) */
	/* The phone signs in, but the relay fails the next polls first: */
	PHONE_SIGNS_IN_BUSY,	  /* 503 "busy" (Retry-After: 1), twice */
	PHONE_SIGNS_IN_GATEWAY,	  /* 502 from a proxy, once */
	PHONE_SIGNS_IN_DROPPED,	  /* the connection closed unanswered, twice */
	PHONE_SIGNS_IN_LONG_BUSY, /* 503 "busy" for longer than a blip */
	/* ... or every poll from now on: */
	PHONE_SIGNS_IN_PROXY_503,  /* 503 from a proxy with no relay */
	PHONE_SIGNS_IN_RELAY_GONE, /* closed unanswered */
};

/* How many polls the relay fails after each PHONE_SIGNS_IN_*, and how. */
static const struct {
	unsigned times;
	long status;	  /* 0: the connection is closed unanswered */
	const char *body; /* NULL: the relay's own {"error":"busy"} */
} relay_fails[] = {
	[PHONE_SIGNS_IN_BUSY] = { 2, 503, NULL },
	[PHONE_SIGNS_IN_GATEWAY] = { 1, 502, "<html>502 Bad Gateway</html>" },
	[PHONE_SIGNS_IN_DROPPED] = { 2, 0, NULL },
	[PHONE_SIGNS_IN_LONG_BUSY] = { 12, 503, NULL },
	[PHONE_SIGNS_IN_PROXY_503] = { 1000, 503,
	    "<html>503 Service Temporarily Unavailable</html>" },
	[PHONE_SIGNS_IN_RELAY_GONE] = { 1000, 0, NULL },
};

/* What the person types at a prompt. */
enum typed { TYPED_ENTER, TYPED_CODE, TYPED_WRONG_CODE };

/* One turn of the conversation: anything shown but a lone error. */
struct turn {
	enum phone phone;
	unsigned sleep_ms; /* how long the person takes to answer */
	enum typed typed;  /* at a prompt */
};

struct talk {
	const struct turn *turns;
	size_t nturns, at;
	char shown[16384]; /* each message: "I: ", "E: " or "P: ", text, \n */
};

/* The key pair, and the JWKS the provider serves for it. */
static char *
make_key_set(void)
{
	BIGNUM *x = NULL, *y = NULL;
	unsigned char bx[32], by[32];
	char ex[ION_B64URL_LEN(32) + 1], ey[ION_B64URL_LEN(32) + 1];
	char *set;

	signing_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(signing_key);
	assert_int_equal(
	    EVP_PKEY_get_bn_param(signing_key, OSSL_PKEY_PARAM_EC_PUB_X, &x),
	    1);
	assert_int_equal(
	    EVP_PKEY_get_bn_param(signing_key, OSSL_PKEY_PARAM_EC_PUB_Y, &y),
	    1);
	assert_int_equal(BN_bn2binpad(x, bx, sizeof(bx)), 32);
	assert_int_equal(BN_bn2binpad(y, by, sizeof(by)), 32);
	ion_b64url_encode(bx, sizeof(bx), ex);
	ion_b64url_encode(by, sizeof(by), ey);
	BN_free(x);
	BN_free(y);
	assert_true(asprintf(&set,
			"{\"keys\": [{\"kty\": \"EC\", \"kid\": \"k1\", "
			"\"use\": \"sig\", \"alg\": \"ES256\", \"crv\": "
			"\"P-256\", \"x\": \"%s\", \"y\": \"%s\"}]}",
			ex, ey) > 0);
	return set;
}

/* payload as a compact JWS, ES256 with signing_key (malloc'd). */
static char *
sign_es256(const char *payload)
{
	static const char header[] =
	    "{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":\"JWT\"}";
	unsigned char der[80], raw[64];
	const unsigned char *p = der;
	size_t n, derlen = sizeof(der);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	ECDSA_SIG *sig;
	char *jws;

	jws = malloc(ION_B64URL_LEN(sizeof(header)) +
	    ION_B64URL_LEN(strlen(payload)) + ION_B64URL_LEN(64) + 3);
	assert_non_null(jws);
	assert_non_null(md);
	n = ion_b64url_encode(
	    (const unsigned char *)header, strlen(header), jws);
	jws[n++] = '.';
	n += ion_b64url_encode(
	    (const unsigned char *)payload, strlen(payload), jws + n);
	assert_int_equal(
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, signing_key), 1);
	assert_int_equal(
	    EVP_DigestSign(md, der, &derlen, (const unsigned char *)jws, n), 1);
	/* JWS wants r and s, 32 bytes each, not OpenSSL's DER. */
	sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
	assert_non_null(sig);
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32), 32);
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32), 32);
	jws[n++] = '.';
	ion_b64url_encode(raw, sizeof(raw), jws + n);
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
	return jws;
}

/* The state of the sign-in the module registered last at the relay. */
static void
registered_state(char state[ION_TOKEN_CHARS + 1])
{
	json_t *last = fixture_last(&srv, PATH_LOGINS), *body;
	const char *v;

	body = json_loads(
	    json_string_value(json_object_get(last, "body")), 0, NULL);
	v = json_string_value(json_object_get(body, "state"));
	assert_non_null(v);
	assert_int_equal(strlen(v), ION_TOKEN_CHARS);
	memcpy(state, v, ION_TOKEN_CHARS + 1);
	json_decref(body);
	json_decref(last);
}

/*
 * The phone signs in: the token endpoint gets an id_token for this
 * sign-in's nonce, the relay the code.
 */
static void
phone_signs_in(void)
{
	char state[ION_TOKEN_CHARS + 1], nonce[ION_TOKEN_CHARS + 1];
	char *claims, *id_token, *answer;
	long long now = (long long)time(NULL);

	registered_state(state);
	assert_int_equal(ion_nonce_from_state(state, nonce), 0);
	assert_true(asprintf(&claims,
			"{\"iss\": \"%s\", \"aud\": \"" CLIENT "\", "
			"\"sub\": \"" SUB "\", \"nonce\": \"%s\", "
			"\"iat\": %lld, \"exp\": %lld, "
			"\"email\": \"alice@example.com\", "
			"\"email_verified\": true}",
			srv.base, nonce, now, now + 300) > 0);
	id_token = sign_es256(claims);
	assert_true(asprintf(&answer,
			"{\"id_token\": \"%s\", \"access_token\": \"at-1\", "
			"\"token_type\": \"Bearer\", \"expires_in\": 300}",
			id_token) > 0);
	fixture_script(&srv, "/token", 200, answer, NULL);
	fixture_script(&srv, PATH_RESULT, 200,
	    "{\"code\": \"" AUTH_CODE "\", \"iss\": \"{base}\"}", RELAY_KEY);
	free(answer);
	free(id_token);
	free(claims);
}

/* What the person types (malloc'd): the phone's code, or another. */
static char *
typed_text(enum typed typed)
{
	char state[ION_TOKEN_CHARS + 1], code[ION_CONFIRM_DIGITS + 1];

	if (typed == TYPED_ENTER)
		return strdup("");
	registered_state(state);
	assert_int_equal(ion_confirm_code(state, AUTH_CODE, code), 0);
	if (typed == TYPED_WRONG_CODE)
		code[0] = (char)('0' + (code[0] - '0' + 1) % 10);
	return strdup(code);
}

static int
scripted_converse(
    void *arg, const struct ion_msg *msgs, size_t n, char **ret_answer)
{
	static const char *const style[] = { "I: ", "E: ", "P: " };
	struct talk *t = arg;
	const struct turn *turn;
	size_t i, len;

	for (i = 0; i < n; i++) {
		len = strlen(t->shown);
		snprintf(t->shown + len, sizeof(t->shown) - len, "%s%s\n",
		    style[msgs[i].style], msgs[i].text);
	}
	/* The module's last word is not a turn. */
	if (n == 1 && msgs[0].style == ION_MSG_ERROR)
		return 0;
	if (t->at == t->nturns)
		return ION_ERR_CONV; /* more turns than scripted */
	turn = &t->turns[t->at++];
	if (turn->phone == PHONE_SIGNS_IN || turn->phone >= PHONE_SIGNS_IN_BUSY)
		phone_signs_in();
	else if (turn->phone == PHONE_FORGOTTEN)
		fixture_script(&srv, PATH_RESULT, 404, FORGOTTEN, RELAY_KEY);
	if (turn->phone >= PHONE_SIGNS_IN_BUSY)
		fixture_fail(&srv, PATH_RESULT, relay_fails[turn->phone].times,
		    relay_fails[turn->phone].status,
		    relay_fails[turn->phone].status == 503 ? "1" : NULL,
		    relay_fails[turn->phone].body);
	if (turn->sleep_ms != 0) {
		struct timespec ts = { turn->sleep_ms / 1000,
			(long)(turn->sleep_ms % 1000) * 1000000 };

		nanosleep(&ts, NULL);
	}
	if (ret_answer != NULL)
		*ret_answer = typed_text(turn->typed);
	return 0;
}

static int
run_setup(void **state)
{
	char *set;

	(void)state;
	strcpy(run_root, "/tmp/ion-login-XXXXXX");
	if (mkdtemp(run_root) == NULL || fixture_start(&srv) != 0)
		return -1;
	set = make_key_set();
	fixture_script(
	    &srv, "/.well-known/openid-configuration", 200, DOC, NULL);
	fixture_script(&srv, "/jwks", 200, set, NULL);
	fixture_script(&srv, PATH_LOGINS, 201,
	    "{\"link\": \"{base}/relay/l/AbCdEfGhIjK\", \"expires_in\": 300}",
	    RELAY_KEY);
	free(set);
	return 0;
}

static int
run_teardown(void **state)
{
	char map[96];

	(void)state;
	fixture_stop(&srv);
	EVP_PKEY_free(signing_key);
	snprintf(map, sizeof(map), "%s/map", run_root);
	(void)unlink(map);
	return rmdir(run_root);
}

/*
 * A configuration as config.c would make it, with a user map "sub:SUB
 * alice".  Its cache directory cannot be made (the parent is missing): a
 * cache never fails a sign-in, so each one fetches discovery and keys
 * afresh, and nothing is left on disk.
 */
static void
run_cfg(struct ion_cfg *cfg, enum ion_prompt_mode prompt, bool confirm,
    unsigned login_timeout)
{
	static char relay[96], redirect[128], map[96], cache[96];
	FILE *f;

	snprintf(relay, sizeof(relay), "%s/relay", srv.base);
	snprintf(redirect, sizeof(redirect), "%s/callback", relay);
	snprintf(map, sizeof(map), "%s/map", run_root);
	snprintf(cache, sizeof(cache), "%s/none/cache", run_root);
	f = fopen(map, "w");
	assert_non_null(f);
	fputs("sub:" SUB " " LOCAL_USER "\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(map, 0644), 0); /* whatever the umask */
	memset(cfg, 0, sizeof(*cfg));
	cfg->issuer = srv.base;
	cfg->client_id = (char *)(uintptr_t)CLIENT;
	cfg->client_secret = (char *)(uintptr_t) "s3cret";
	cfg->relay_url = relay;
	cfg->relay_key = (char *)(uintptr_t)RELAY_KEY;
	cfg->redirect_uri = redirect;
	cfg->scope = (char *)(uintptr_t) "openid email";
	cfg->user_claim = (char *)(uintptr_t) "email";
	cfg->user_map_file = map;
	cfg->login_timeout = login_timeout;
	cfg->http_timeout = 1;
	cfg->allowed_algs = ION_ALG_ES256;
	cfg->qr = ION_QR_OFF;
	cfg->prompt = prompt;
	cfg->confirm = confirm;
	cfg->par = ION_PAR_AUTO;
	cfg->cache_dir = cache;
}

struct outcome {
	int r;
	char *user;
	char why[256];
	struct ion_login_stats stats;
	struct talk talk;
	unsigned token_requests; /* at the token endpoint, this sign-in */
};

/* Requests to path so far (any query), from the server's count. */
static unsigned
hits(const char *path)
{
	struct ion_http *h = fixture_http();
	struct ion_http_resp resp;
	const char *key;
	json_t *all, *v;
	char url[128];
	unsigned n = 0;

	snprintf(url, sizeof(url), "%s/hits", srv.base);
	memset(&resp, 0, sizeof(resp));
	assert_int_equal(ion_http_get(h, url, NULL, 0, 1 << 20, &resp), 0);
	all = json_loadb(resp.body, resp.len, 0, NULL);
	json_object_foreach(json_object_get(all, "hits"), key, v)
	{
		if (strncmp(key, path, strlen(path)) == 0)
			n += (unsigned)json_integer_value(v);
	}
	json_decref(all);
	ion_http_resp_clear(&resp);
	ion_http_free(&h);
	return n;
}

/*
 * One sign-in of "alice" through the script; the relay says pending until
 * the script's phone does something.  confirm = no is honoured: the login
 * is at /dev/tty1 of a machine.
 */
static void
run_login(const struct ion_cfg *cfg, const struct turn *turns, size_t nturns,
    struct outcome *o)
{
	struct ion_login_env env;
	struct ion_conv conv;
	unsigned tokens = hits("/token");

	fixture_script(&srv, PATH_RESULT, 202, PENDING, RELAY_KEY);
	fixture_fail(&srv, PATH_RESULT, 0, 0, NULL, NULL);
	memset(o, 0, sizeof(*o));
	o->talk.turns = turns;
	o->talk.nturns = nturns;
	memset(&env, 0, sizeof(env));
	env.host = "testhost";
	env.user = LOCAL_USER;
	env.tty = "/dev/tty1";
	env.tty_stat = machine_stat;
	env.service = "login";
	memset(&conv, 0, sizeof(conv));
	conv.converse = scripted_converse;
	conv.arg = &o->talk;
	o->r = ion_login_run(cfg, &env, &conv, &o->user, NULL, o->why,
	    sizeof(o->why), &o->stats);
	o->token_requests = hits("/token") - tokens;
}

/*
 * A sign-in that got through the whole flow: signed in as alice, or,
 * without root, refused at the user map that is not root's.
 */
static void
assert_signed_in(const struct outcome *o)
{
	assert_string_equal(o->stats.subject, SUB);
	assert_int_equal(o->token_requests, 1);
	if (geteuid() == 0) {
		if (o->r != 0)
			fail_msg("%d: %s", o->r, o->why);
		assert_string_equal(o->user, LOCAL_USER);
		assert_string_equal(o->why, "signed in");
		assert_null(strstr(o->talk.shown, "E: "));
	} else {
		assert_int_equal(o->r, ION_ERR_CONFIG);
		assert_null(o->user);
		assert_non_null(strstr(o->why, "not root"));
	}
}

/* The prompts shown were exactly want, in this order. */
static void
assert_prompts(const struct talk *t, const char *const *want, size_t n)
{
	const char *at = t->shown, *p;
	size_t i, count = 0;

	for (p = t->shown; (p = strstr(p, "P: ")) != NULL; p++)
		count++;
	if (count != n)
		fail_msg("%zu prompts, expected %zu:\n%s", count, n, t->shown);
	for (i = 0; i < n; i++) {
		if ((p = strstr(at, want[i])) == NULL)
			fail_msg(
			    "prompt %zu not seen in order:\n%s", i, t->shown);
		at = p + strlen(want[i]);
	}
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/*
 * prompt = enter: Enter before the phone is done gets "not signed in
 * yet"; after it, the sign-in goes on.  With the confirmation code, and
 * with confirm = no at a local terminal (Enter alone).
 */
static void
test_run_prompt_loop(void **state)
{
	static const struct turn with_code[] = {
		{ PHONE_WAITS, 0, TYPED_ENTER },
		{ PHONE_SIGNS_IN, 0, TYPED_CODE },
	};
	static const char *const saw_again[] = { SAW_CODE, SAW_AGAIN_CODE };
	static const struct turn enter_only[] = {
		{ PHONE_WAITS, 0, TYPED_ENTER },
		{ PHONE_WAITS, 0, TYPED_ENTER },
		{ PHONE_SIGNS_IN, 0, TYPED_ENTER },
	};
	static const char *const saw_enter[] = { SAW_ENTER, SAW_AGAIN_ENTER,
		SAW_AGAIN_ENTER };
	struct ion_cfg cfg;
	struct outcome o;
	json_t *last;
	char *v;

	(void)state;
	run_cfg(&cfg, ION_PROMPT_ENTER, true, 60);
	run_login(&cfg, with_code, NELEM(with_code), &o);
	assert_signed_in(&o);
	assert_int_equal(o.talk.at, NELEM(with_code));
	assert_prompts(&o.talk, saw_again, NELEM(saw_again));
	/* The link went out with the first prompt, in one exchange. */
	assert_non_null(strstr(o.talk.shown, "/relay/l/AbCdEfGhIjK"));
	assert_int_equal(o.stats.confirm, ION_CONFIRM_YES);
	free(o.user);
	/* The relay's code went to the token endpoint, with the client's
	 * credentials. */
	last = fixture_last(&srv, "/token");
	assert_non_null(strstr(json_string_value(json_object_get(last, "body")),
	    "code=" AUTH_CODE "&"));
	json_decref(last);
	v = fixture_last_header(&srv, "/token", "authorization");
	assert_non_null(v);
	assert_true(strncmp(v, "Basic ", 6) == 0);
	free(v);

	run_cfg(&cfg, ION_PROMPT_ENTER, false, 60);
	run_login(&cfg, enter_only, NELEM(enter_only), &o);
	assert_signed_in(&o);
	assert_int_equal(o.talk.at, NELEM(enter_only));
	assert_prompts(&o.talk, saw_enter, NELEM(saw_enter));
	assert_int_equal(o.stats.confirm, ION_CONFIRM_NO);
	free(o.user);
}

/* A sign-in that fails: set-up, script, prompts seen, and the end. */
struct failure {
	const char *name;
	enum ion_prompt_mode prompt;
	unsigned login_timeout;
	const struct turn *turns;
	size_t nturns;
	const char *const *saw; /* the prompts, in order */
	size_t nsaw;
	int r;
	const char *why;
	const char *last_word; /* the error message the person sees */
};

/* Runs each with confirm = yes; none gets as far as the token endpoint. */
static void
run_failures(const struct failure *f, size_t n)
{
	struct ion_cfg cfg;
	struct outcome o;
	size_t i;

	for (i = 0; i < n; i++) {
		run_cfg(&cfg, f[i].prompt, true, f[i].login_timeout);
		run_login(&cfg, f[i].turns, f[i].nturns, &o);
		if (o.r != f[i].r || strcmp(o.why, f[i].why) != 0)
			fail_msg("%s: %d (%s), expected %d (%s)", f[i].name,
			    o.r, o.why, f[i].r, f[i].why);
		assert_null(o.user);
		assert_int_equal(o.token_requests, 0);
		assert_string_equal(o.stats.subject, "");
		if (strstr(o.talk.shown, f[i].last_word) == NULL)
			fail_msg("%s: not told:\n%s", f[i].name, o.talk.shown);
		assert_prompts(&o.talk, f[i].saw, f[i].nsaw);
	}
}

#define SCRIPT(turns, saw) turns, NELEM(turns), saw, NELEM(saw)
#define STOPPED "E: The code did not match. iON sign-in stopped.\n"
#define TOO_LONG "E: iON sign-in took too long. Start again.\n"
#define WRONG_3 "confirmation code wrong 3 times"
#define TIMED_OUT "login_timeout reached"
#define FORGOT "the relay no longer knows this sign-in (expired)"

static const char *const saw_none[] = { NULL };
static const char *const saw_code[] = { SAW_CODE };
static const char *const saw_wrong[] = { SAW_CODE, SAW_WRONG };
static const char *const saw_wrong2[] = { SAW_CODE, SAW_WRONG, SAW_WRONG };

/* Three wrong codes, at the link's prompt or (prompt = auto) after it. */
static const struct turn wrong3_enter[] = {
	{ PHONE_SIGNS_IN, 0, TYPED_WRONG_CODE },
	{ PHONE_WAITS, 0, TYPED_WRONG_CODE },
	{ PHONE_WAITS, 0, TYPED_WRONG_CODE },
};
static const struct turn wrong3_auto[] = {
	{ PHONE_SIGNS_IN, 0, TYPED_ENTER }, /* the link alone */
	{ PHONE_WAITS, 0, TYPED_WRONG_CODE },
	{ PHONE_WAITS, 0, TYPED_WRONG_CODE },
	{ PHONE_WAITS, 0, TYPED_WRONG_CODE },
};
/* A phone that never signs in; a right code typed too late. */
static const struct turn never[] = { { PHONE_WAITS, 0, TYPED_ENTER } };
static const struct turn too_late[] = {
	{ PHONE_SIGNS_IN, 0, TYPED_WRONG_CODE },
	{ PHONE_WAITS, 2100, TYPED_CODE },
};
/* The relay answers the poll 404. */
static const struct turn forgotten[] = {
	{ PHONE_FORGOTTEN, 0, TYPED_ENTER },
};

static const struct failure wrong_codes[] = {
	{ "prompt = enter", ION_PROMPT_ENTER, 60,
	    SCRIPT(wrong3_enter, saw_wrong2), ION_ERR_ABORTED, WRONG_3,
	    STOPPED },
	{ "prompt = auto", ION_PROMPT_AUTO, 60, SCRIPT(wrong3_auto, saw_wrong2),
	    ION_ERR_ABORTED, WRONG_3, STOPPED },
};
static const struct failure timeouts[] = {
	{ "no phone", ION_PROMPT_AUTO, 2, never, 1, saw_none, 0,
	    ION_ERR_TIMEOUT, TIMED_OUT, TOO_LONG },
	{ "too late", ION_PROMPT_ENTER, 2, SCRIPT(too_late, saw_wrong),
	    ION_ERR_TIMEOUT, TIMED_OUT, TOO_LONG },
};
static const struct failure forgets[] = {
	{ "prompt = enter", ION_PROMPT_ENTER, 60, SCRIPT(forgotten, saw_code),
	    ION_ERR_TIMEOUT, FORGOT, TOO_LONG },
	{ "prompt = auto", ION_PROMPT_AUTO, 60, forgotten, 1, saw_none, 0,
	    ION_ERR_TIMEOUT, FORGOT, TOO_LONG },
};

/*
 * Three wrong confirmation codes end the sign-in before the token
 * endpoint is asked; two wrong and then the right one do not.
 */
static void
test_run_wrong_codes(void **state)
{
	static const struct turn third_right[] = {
		{ PHONE_SIGNS_IN, 0, TYPED_WRONG_CODE },
		{ PHONE_WAITS, 0, TYPED_WRONG_CODE },
		{ PHONE_WAITS, 0, TYPED_CODE },
	};
	struct ion_cfg cfg;
	struct outcome o;

	(void)state;
	run_failures(wrong_codes, NELEM(wrong_codes));
	run_cfg(&cfg, ION_PROMPT_ENTER, true, 60);
	run_login(&cfg, third_right, NELEM(third_right), &o);
	assert_signed_in(&o);
	assert_prompts(&o.talk, saw_wrong2, NELEM(saw_wrong2));
	free(o.user);
}

/*
 * login_timeout: the module stops waiting for a phone that never signs
 * in (prompt = auto), and refuses an answer that comes too late.
 */
static void
test_run_timeout(void **state)
{
	unsigned polls = hits(PATH_RESULT);
	time_t t0 = time(NULL);

	(void)state;
	run_failures(&timeouts[0], 1);
	/* Polled until then (not faster than twice a second), no longer. */
	polls = hits(PATH_RESULT) - polls;
	if (polls < 2 || polls > 5)
		fail_msg("%u polls in 2 seconds", polls);
	assert_true(time(NULL) - t0 <= 4);
	run_failures(&timeouts[1], 1);
}

/*
 * A relay that no longer knows the sign-in (its TTL ran out, or it
 * restarted) answers the poll 404: the sign-in took too long.
 */
static void
test_run_relay_forgets(void **state)
{
	(void)state;
	run_failures(forgets, NELEM(forgets));
}

/*
 * A relay that fails polls for a moment (busy, restarting, an instance
 * gone behind the proxy) is polled again a second later, in either
 * prompt mode, and the sign-in goes on.
 */
static void
test_run_relay_blips(void **state)
{
	static const struct turn busy_auto[] = {
		{ PHONE_SIGNS_IN_BUSY, 0, TYPED_ENTER }, /* the link */
		{ PHONE_WAITS, 0, TYPED_CODE },
	};
	static const struct turn gateway_enter[] = {
		{ PHONE_SIGNS_IN_GATEWAY, 0, TYPED_CODE },
	};
	static const struct turn dropped_enter[] = {
		{ PHONE_SIGNS_IN_DROPPED, 0, TYPED_CODE },
	};
	static const struct turn long_busy_auto[] = {
		{ PHONE_SIGNS_IN_LONG_BUSY, 0, TYPED_ENTER }, /* the link */
		{ PHONE_WAITS, 0, TYPED_CODE },
	};
	static const struct {
		enum ion_prompt_mode prompt;
		const struct turn *turns;
		size_t nturns;
		unsigned retries_min, retries_max;
	} cases[] = {
		{ ION_PROMPT_AUTO, busy_auto, NELEM(busy_auto), 2, 2 },
		{ ION_PROMPT_ENTER, gateway_enter, NELEM(gateway_enter), 1, 1 },
		/*
		 * libcurl itself sends a request again, once, when a kept
		 * connection closes unanswered: one drop may not reach us.
		 */
		{ ION_PROMPT_ENTER, dropped_enter, NELEM(dropped_enter), 1, 2 },
		/*
		 * A relay that says it is busy is up: polled past the 10 s
		 * bound of a relay that does not answer.
		 */
		{ ION_PROMPT_AUTO, long_busy_auto, NELEM(long_busy_auto), 12,
		    12 },
	};
	struct ion_cfg cfg;
	struct outcome o;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		run_cfg(&cfg, cases[i].prompt, true, 60);
		run_login(&cfg, cases[i].turns, cases[i].nturns, &o);
		assert_signed_in(&o);
		assert_prompts(&o.talk, saw_code, NELEM(saw_code));
		if (o.stats.relay_retries < cases[i].retries_min ||
		    o.stats.relay_retries > cases[i].retries_max)
			fail_msg("case %zu: %u retries, expected %u to %u", i,
			    o.stats.relay_retries, cases[i].retries_min,
			    cases[i].retries_max);
		free(o.user);
	}
}

/*
 * A relay that keeps failing is down: after RELAY_BLIP_MAX_MS (10 s) of
 * failed polls the sign-in ends as it would have at the first, long
 * before login_timeout; and a relay that fails until login_timeout ends
 * the sign-in then (prompt = enter, the code typed at once).
 */
static void
test_run_relay_down(void **state)
{
	static const struct turn proxy_503_for_good[] = {
		{ PHONE_SIGNS_IN_PROXY_503, 0, TYPED_ENTER },
	};
	static const struct turn dropped_for_good[] = {
		{ PHONE_SIGNS_IN_RELAY_GONE, 0, TYPED_CODE },
	};
	static const struct failure down[] = {
		{ "a proxy 503 for good", ION_PROMPT_AUTO, 60,
		    proxy_503_for_good, 1, saw_none, 0, ION_ERR_UNAVAIL,
		    "relay refused the poll",
		    "E: iON sign-in is not available right now.\n" },
		{ "dropped until login_timeout", ION_PROMPT_ENTER, 3,
		    SCRIPT(dropped_for_good, saw_code), ION_ERR_TIMEOUT,
		    TIMED_OUT, TOO_LONG },
	};
	uint64_t t0 = ion_now_ms();
	unsigned polls = hits(PATH_RESULT);

	(void)state;
	run_failures(&down[0], 1);
	t0 = ion_now_ms() - t0;
	polls = hits(PATH_RESULT) - polls;
	if (t0 < 9000 || t0 > 13000 || polls < 9 || polls > 12)
		fail_msg("gave up after %llu ms and %u polls",
		    (unsigned long long)t0, polls);
	t0 = ion_now_ms();
	run_failures(&down[1], 1);
	t0 = ion_now_ms() - t0;
	if (t0 < 1500 || t0 > 4500)
		fail_msg("gave up after %llu ms", (unsigned long long)t0);
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
	const struct CMUnitTest runs[] = {
		cmocka_unit_test(test_run_prompt_loop),
		cmocka_unit_test(test_run_wrong_codes),
		cmocka_unit_test(test_run_timeout),
		cmocka_unit_test(test_run_relay_forgets),
		cmocka_unit_test(test_run_relay_blips),
		cmocka_unit_test(test_run_relay_down),
	};
	int failed;

	failed = cmocka_run_group_tests_name("login", tests, NULL, NULL);
	return failed +
	    cmocka_run_group_tests_name(
		"login_run", runs, run_setup, run_teardown);
}
