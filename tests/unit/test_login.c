/*
 * Unit tests of login.h that need no provider: when the confirmation code
 * is asked for.  (The whole sign-in runs through real PAM in tests/module.)
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
test_must_confirm(void **state)
{
	static const struct {
		bool confirm;
		const char *rhost, *ruser;
		bool want;
	} cases[] = {
		{ true, NULL, NULL, true },
		{ true, "192.0.2.1", "bob", true },
		/* confirm = no: only a local login with neither item */
		{ false, NULL, NULL, false },
		{ false, "", "", false },
		{ false, "", NULL, false },
		{ false, "192.0.2.1", NULL, true }, /* sshd */
		{ false, "localhost", NULL, true }, /* sshd from loopback */
		{ false, NULL, "bob", true },	    /* su, sudo */
		{ false, "", "bob", true },
		{ false, "host.example", "bob", true },
	};
	struct ion_login_env env;
	struct ion_cfg cfg;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&cfg, 0, sizeof(cfg));
		memset(&env, 0, sizeof(env));
		cfg.confirm = cases[i].confirm;
		cfg.prompt = ION_PROMPT_AUTO;
		env.rhost = cases[i].rhost;
		env.ruser = cases[i].ruser;
		if (ion_login_must_confirm(&cfg, &env) != cases[i].want)
			fail_msg("case %zu: expected %d", i, cases[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_must_confirm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
