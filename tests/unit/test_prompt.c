/*
 * Unit tests of prompt.h: the messages that carry the QR code and the
 * link, and how a typed confirmation code is read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h wants stdarg.h, stddef.h, stdint.h and setjmp.h first. */
#include <cmocka.h>

#include "config.h"
#include "prompt.h"

#define LINK "https://relay.example.com/l/AbCdEfGhIjK"
#define PROMPT "After signing in, type the code shown on your phone: "

static void
check_msgs(enum ion_qr_mode qr, const char *prompt, size_t min_qr_msgs)
{
	struct ion_msg msgs[ION_CONV_MAX_MSGS];
	struct ion_cfg cfg;
	char *text = NULL;
	size_t n = 0, i, qr_msgs = 0;
	int found_link = 0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.qr = qr;
	assert_int_equal(
	    ion_prompt_link_msgs(&cfg, LINK, 300, prompt, msgs, &n, &text), 0);
	assert_in_range(n, 1, ION_CONV_MAX_MSGS);
	for (i = 0; i < n; i++) {
		size_t len = strlen(msgs[i].text);

		/* within PAM_MAX_MSG_SIZE, and whole lines only */
		assert_true(len < ION_MSG_MAX);
		assert_true(len > 0);
		assert_int_not_equal(msgs[i].text[len - 1], '\n');
		assert_int_not_equal(msgs[i].text[0], '\n');
		if (strstr(msgs[i].text, LINK) != NULL) {
			found_link = 1;
			assert_non_null(strstr(msgs[i].text, "5 minutes"));
		} else if (msgs[i].style == ION_MSG_INFO)
			qr_msgs++;
		/* plain text: no escape sequences */
		assert_null(strchr(msgs[i].text, '\x1b'));
	}
	assert_true(found_link);
	assert_true(qr_msgs >= min_qr_msgs);
	if (prompt != NULL) {
		assert_int_equal(msgs[n - 1].style, ION_MSG_PROMPT);
		assert_string_equal(msgs[n - 1].text, prompt);
	} else
		assert_int_equal(msgs[n - 1].style, ION_MSG_INFO);
	for (i = 0; i + 1 < n; i++)
		assert_int_equal(msgs[i].style, ION_MSG_INFO);
	free(text);
}

static void
test_utf8_qr_split_into_whole_lines(void **state)
{
	(void)state;
	/* 17 rows of 33 three-byte characters: more than one message */
	check_msgs(ION_QR_UTF8, PROMPT, 2);
}

static void
test_ascii_qr(void **state)
{
	(void)state;
	check_msgs(ION_QR_ASCII, PROMPT, 2);
}

static void
test_qr_off_link_only(void **state)
{
	(void)state;
	check_msgs(ION_QR_OFF, PROMPT, 0);
}

static void
test_auto_mode_has_no_prompt(void **state)
{
	(void)state;
	check_msgs(ION_QR_UTF8, NULL, 2);
}

static void
test_qr_rows_reassemble(void **state)
{
	struct ion_msg msgs[ION_CONV_MAX_MSGS];
	struct ion_cfg cfg;
	char *text = NULL, joined[8192] = "";
	size_t n = 0, i, rows = 1;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.qr = ION_QR_UTF8;
	assert_int_equal(
	    ion_prompt_link_msgs(&cfg, LINK, 300, PROMPT, msgs, &n, &text), 0);
	for (i = 0; i + 2 < n; i++) {
		if (i > 0)
			strcat(joined, "\n");
		strcat(joined, msgs[i].text);
	}
	for (i = 0; joined[i] != '\0'; i++)
		rows += joined[i] == '\n';
	/*
	 * A line of text, then the 17 rows: ssh prefixes a prompt's first
	 * line with "(user@host) ", which must not land on the code.
	 */
	assert_int_equal(rows, 18);
	assert_true(strncmp(joined, "Sign in with iON", 16) == 0);
	free(text);
}

static void
test_parse_code(void **state)
{
	static const struct {
		const char *typed;
		const char *want; /* NULL: refused */
	} cases[] = {
		{ "123456", "123456" },
		{ "123 456", "123456" },
		{ " 123-456 ", "123456" },
		{ "\t012345", "012345" },
		{ "12345", NULL },
		{ "1234567", NULL },
		{ "", NULL },
		{ "12345a", NULL },
		{ "123456\n", NULL },
		{ "１２３４５６", NULL }, /* fullwidth digits */
		{ "123_456", NULL },
	};
	char out[7];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool ok = ion_prompt_parse_code(cases[i].typed, out);

		if (cases[i].want == NULL)
			assert_false(ok);
		else {
			assert_true(ok);
			assert_string_equal(out, cases[i].want);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_qr_split_into_whole_lines),
		cmocka_unit_test(test_ascii_qr),
		cmocka_unit_test(test_qr_off_link_only),
		cmocka_unit_test(test_auto_mode_has_no_prompt),
		cmocka_unit_test(test_qr_rows_reassemble),
		cmocka_unit_test(test_parse_code),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
