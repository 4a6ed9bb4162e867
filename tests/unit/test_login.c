/*
 * Unit tests of login.h that need no provider: when the confirmation code
 * is asked for, and which PAM_TTY values name a local terminal.  (The whole
 * sign-in runs through real PAM in tests/module.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cmocka.h wants stdarg.h, stddef.h, stdint.h and setjmp.h first. */
#include <cmocka.h>

#include "config.h"
#include "login.h"

static void
test_tty_local(void **state)
{
	static const struct {
		const char *tty;
		bool local;
	} cases[] = {
		/* virtual consoles, tty1 to tty63, as login(1) and gdm set */
		{ "/dev/tty1", true },
		{ "tty1", true },
		{ "/dev/tty7", true },
		{ "/dev/tty63", true },
		{ "tty63", true },
		{ "/dev/tty0", false }, /* "the current console", no device */
		{ "/dev/tty64", false },
		{ "/dev/tty01", false },
		{ "/dev/tty", false }, /* the controlling tty, whatever it is */
		{ "tty", false },
		{ "/dev/tty1 ", false },
		{ "/dev/tty+1", false },
		{ "/dev/tty-1", false },
		{ "/dev/tty99999999999999999999", false },
		/* serial ports of major 4, ttyS0 to ttyS191 */
		{ "/dev/ttyS0", true },
		{ "ttyS0", true },
		{ "/dev/ttyS191", true },
		{ "/dev/ttyS192", false },
		{ "/dev/ttyS00", false },
		{ "/dev/ttyS", false },
		{ "/dev/ttySAC0", false },
		{ "/dev/ttyUSB0", false },
		{ "/dev/ttyACM0", false },
		{ "/dev/ttyAMA0", false },
		{ "/dev/hvc0", false },
		/* the console */
		{ "/dev/console", true },
		{ "console", true },
		{ "/dev/console0", false },
		{ "Console", false },
		/* local X displays */
		{ ":0", true },
		{ ":1", true },
		{ ":0.0", true },
		{ ":10.1", true },
		{ ":65535.255", true },
		{ ":65536", false },
		{ ":0.256", false },
		{ ":", false },
		{ ":.0", false },
		{ ":0.", false },
		{ ":00", false },
		{ ":0.0.0", false },
		{ ":x", false },
		{ ": 0", false },
		{ ":1234567890", false },
		/* remote or unknown */
		{ "localhost:0", false },
		{ "host.example:10.0", false },
		{ "unix:0", false },
		{ "/dev/pts/0", false }, /* ssh, su, sudo, terminal emulators */
		{ "pts/0", false },
		{ "/dev/pts/tty1", false },
		{ "ssh", false }, /* sshd before a pty exists */
		{ "/dev/../dev/tty1", false },
		{ "/dev//tty1", false },
		{ "/dev/dev/tty1", false },
		{ "/tmp/tty1", false },
		{ "/dev/", false },
		{ "", false },
		{ NULL, false },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (ion_login_tty_local(cases[i].tty) != cases[i].local)
			fail_msg("case %zu (%s): expected %d", i,
			    cases[i].tty != NULL ? cases[i].tty : "NULL",
			    cases[i].local);
}

static void
test_confirm(void **state)
{
	static const struct {
		bool confirm;
		const char *rhost, *ruser, *tty;
		enum ion_confirm want;
	} cases[] = {
		{ true, NULL, NULL, NULL, ION_CONFIRM_YES },
		{ true, NULL, NULL, "/dev/tty1", ION_CONFIRM_YES },
		{ true, "192.0.2.1", "bob", "ssh", ION_CONFIRM_YES },
		/* confirm = no: only at a local terminal, with neither item */
		{ false, NULL, NULL, "/dev/tty1", ION_CONFIRM_NO },
		{ false, "", "", "tty2", ION_CONFIRM_NO },
		{ false, "", NULL, "/dev/console", ION_CONFIRM_NO },
		{ false, NULL, "", "/dev/ttyS0", ION_CONFIRM_NO },
		{ false, NULL, NULL, ":0", ION_CONFIRM_NO }, /* lightdm */
		{ false, NULL, NULL, ":1.0", ION_CONFIRM_NO },
		/* the application says where the person is */
		/* sshd */
		{ false, "192.0.2.1", NULL, NULL, ION_CONFIRM_REMOTE },
		{ false, "192.0.2.1", NULL, "ssh", ION_CONFIRM_REMOTE },
		{ false, "localhost", NULL, "/dev/tty1", ION_CONFIRM_REMOTE },
		{ false, "host.example", "bob", "/dev/tty1",
		    ION_CONFIRM_REMOTE },
		/* su, sudo */
		{ false, NULL, "bob", "/dev/pts/0", ION_CONFIRM_RUSER },
		{ false, "", "bob", "/dev/tty1", ION_CONFIRM_RUSER },
		{ false, NULL, "bob", NULL, ION_CONFIRM_RUSER },
		/* ... or does not (a web console): nothing says it is local */
		{ false, NULL, NULL, NULL, ION_CONFIRM_NO_TTY },
		{ false, "", "", "", ION_CONFIRM_NO_TTY },
		{ false, NULL, NULL, "/dev/pts/0", ION_CONFIRM_TTY },
		{ false, NULL, NULL, "ssh", ION_CONFIRM_TTY },
		{ false, NULL, NULL, "web", ION_CONFIRM_TTY },
		{ false, NULL, NULL, "localhost:0", ION_CONFIRM_TTY },
		{ false, NULL, NULL, "/dev/ttyUSB0", ION_CONFIRM_TTY },
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
		if ((got = ion_login_confirm(&cfg, &env)) != cases[i].want)
			fail_msg(
			    "case %zu: %d, expected %d", i, got, cases[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tty_local),
		cmocka_unit_test(test_confirm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
