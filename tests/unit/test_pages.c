/* Unit tests of pages.h: every client value escaped, no scripts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* cmocka.h wants stdarg.h, stddef.h, stdint.h and setjmp.h first. */
#include <cmocka.h>

#include "pages.h"

#define EVIL "<script>alert(\"x\")</script>'&"
#define EVIL_ESCAPED                                                           \
	"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;"

static bool
contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay != '\0'; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return false;
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay++;
	}
	return n;
}

/* What every page must be: whole, and inert. */
static void
check_page(const char *page, size_t len)
{
	static const char *const forbidden[] = { "<script", "<img", "<iframe",
		"<link", "<object", "<embed", "<form", "src=", "@import",
		"url(", "javascript:", "onclick=", "onload=", "onerror=",
		"onmouseover=", "http-equiv=\"refresh", NULL };
	size_t i;

	assert_non_null(page);
	assert_int_equal(len, strlen(page));
	assert_true(strncmp(page, "<!DOCTYPE html>", 15) == 0);
	assert_string_equal(page + len - strlen("</html>\n"), "</html>\n");
	assert_non_null(strstr(page, "<meta charset=\"utf-8\">"));
	assert_non_null(
	    strstr(page, "<meta name=\"referrer\" content=\"no-referrer\">"));
	for (i = 0; forbidden[i] != NULL; i++)
		if (contains_ci(page, forbidden[i]))
			fail_msg("page contains '%s':\n%s", forbidden[i], page);
}

static struct relay_login_view
evil_view(void)
{
	struct relay_login_view v;

	memset(&v, 0, sizeof(v));
	v.host = "h" EVIL;
	v.user = "u" EVIL;
	v.rhost = "r" EVIL;
	v.service = "s" EVIL;
	/* no keys file allows such a name; pages escape it all the same */
	v.client_name = "c" EVIL;
	v.authorize_url = "https://auth.example/authorize?a=1&b='x'&c=\"<y>";
	v.confirm = true;
	v.created = 1700000000;
	strcpy(v.link_id, "AAAAAAAAAAA");
	return v;
}

static void
test_landing_escapes(void **state)
{
	struct relay_login_view v = evil_view();
	size_t len = 0;
	char *page;

	(void)state;
	page = relay_page_landing(&v, &len);
	check_page(page, len);
	assert_non_null(strstr(page,
	    "<h1>Sign in to h" EVIL_ESCAPED " as u" EVIL_ESCAPED "</h1>"));
	assert_non_null(strstr(page, "<dd>h" EVIL_ESCAPED "</dd>"));
	assert_non_null(strstr(page, "<dd>u" EVIL_ESCAPED "</dd>"));
	assert_non_null(strstr(page, "<dd>r" EVIL_ESCAPED "</dd>"));
	assert_non_null(strstr(page, "<dd>s" EVIL_ESCAPED "</dd>"));
	/* who registered it, beside the host it claims to be */
	assert_non_null(strstr(
	    page, "<dt>Requested by PAM host</dt><dd>c" EVIL_ESCAPED "</dd>"));
	assert_non_null(strstr(page, "<dd>2023-11-14 22:13 UTC</dd>"));
	assert_non_null(strstr(page,
	    "href=\"https://auth.example/authorize?a=1&amp;b=&#39;x&#39;&amp;"
	    "c=&quot;&lt;y&gt;\""));
	/* the URL does not parse, so the button does not name a host */
	assert_non_null(strstr(page, ">Continue to sign in</a>"));
	/* none of the raw values made it through */
	assert_null(strstr(page, EVIL));
	assert_null(strstr(page, "'x'"));
	assert_int_equal(count(page, "<a "), 1);
	free(page);
}

static void
test_landing_plain(void **state)
{
	struct relay_login_view v;
	size_t len = 0;
	char *page;

	(void)state;
	memset(&v, 0, sizeof(v));
	v.host = "host.example";
	v.user = "";
	v.rhost = "";
	v.service = "login";
	v.client_name = "build01";
	v.authorize_url = "https://Auth.Example:8443/authorize?state=S&x=1";
	v.created = 0;
	page = relay_page_landing(&v, &len);
	check_page(page, len);
	assert_non_null(strstr(page, "<h1>Sign in to host.example</h1>"));
	assert_null(strstr(page, " as "));
	assert_non_null(strstr(page, "<dd>(chosen after sign-in)</dd>"));
	/* without an rhost some words stand in: not an empty item */
	assert_non_null(strstr(page, "<dt>Requested from</dt><dd>"));
	assert_null(strstr(page, "<dt>Requested from</dt><dd></dd>"));
	assert_non_null(strstr(page, "<dd>1970-01-01 00:00 UTC</dd>"));
	assert_non_null(strstr(page, "<dd>login</dd>"));
	assert_non_null(
	    strstr(page, "<dt>Requested by PAM host</dt><dd>build01</dd>"));
	assert_non_null(strstr(page,
	    "href=\"https://Auth.Example:8443/authorize?state=S&amp;x=1\""));
	assert_non_null(strstr(page, ">Continue to auth.example</a>"));
	free(page);
}

static void
test_signed_in_confirm(void **state)
{
	struct relay_login_view v = evil_view();
	size_t len = 0;
	char *page;

	(void)state;
	page = relay_page_signed_in(&v, "123456", &len);
	check_page(page, len);
	assert_non_null(strstr(page, "<p id=\"code\">123456</p>"));
	assert_int_equal(count(page, "123456"), 1);
	assert_non_null(strstr(page, "<b>h" EVIL_ESCAPED "</b>"));
	assert_non_null(strstr(page, "<b>u" EVIL_ESCAPED "</b>"));
	assert_non_null(
	    strstr(page, ", requested by PAM host <b>c" EVIL_ESCAPED "</b>."));
	assert_null(strstr(page, EVIL));
	free(page);

	/* a code with a leading zero stays as it is */
	page = relay_page_signed_in(&v, "012345", &len);
	check_page(page, len);
	assert_non_null(strstr(page, "<p id=\"code\">012345</p>"));
	free(page);

	/* whatever it is given is escaped too */
	page = relay_page_signed_in(&v, "<b>1</b>", &len);
	check_page(page, len);
	assert_non_null(
	    strstr(page, "<p id=\"code\">&lt;b&gt;1&lt;/b&gt;</p>"));
	free(page);

	/* without a user there is no " as " */
	v.user = "";
	page = relay_page_signed_in(&v, "123456", &len);
	check_page(page, len);
	assert_null(strstr(page, " as "));
	free(page);
}

static void
test_signed_in_no_confirm(void **state)
{
	struct relay_login_view v = evil_view();
	size_t len = 0;
	char *page;

	(void)state;
	v.confirm = false;
	page = relay_page_signed_in(&v, "123456", &len);
	check_page(page, len);
	assert_null(strstr(page, "123456"));
	assert_null(strstr(page, "id=\"code\""));
	assert_non_null(strstr(page, "<b>h" EVIL_ESCAPED "</b>"));
	assert_non_null(
	    strstr(page, "requested by PAM host <b>c" EVIL_ESCAPED "</b>,"));
	assert_null(strstr(page, EVIL));
	free(page);
}

static void
test_cancelled(void **state)
{
	struct relay_login_view v = evil_view();
	size_t len = 0;
	char *page;

	(void)state;
	page = relay_page_cancelled(&v, "e" EVIL, "d" EVIL, &len);
	check_page(page, len);
	assert_non_null(strstr(page, "<b>h" EVIL_ESCAPED "</b>"));
	assert_non_null(strstr(page, "<dd>e" EVIL_ESCAPED "</dd>"));
	assert_non_null(strstr(page, "<dd>d" EVIL_ESCAPED "</dd>"));
	assert_null(strstr(page, EVIL));
	free(page);

	page = relay_page_cancelled(&v, "access_denied", NULL, &len);
	check_page(page, len);
	assert_non_null(strstr(page, "<dd>access_denied</dd>"));
	assert_null(strstr(page, "Details"));
	free(page);

	page = relay_page_cancelled(&v, "access_denied", "", &len);
	check_page(page, len);
	assert_null(strstr(page, "Details"));
	free(page);
}

static void
test_message(void **state)
{
	size_t len = 0;
	char *page;

	(void)state;
	page = relay_page_message("t" EVIL, "x" EVIL, &len);
	check_page(page, len);
	assert_non_null(strstr(page, "<title>t" EVIL_ESCAPED "</title>"));
	assert_non_null(strstr(page, "<h1>t" EVIL_ESCAPED "</h1>"));
	assert_non_null(strstr(page, "<p>x" EVIL_ESCAPED "</p>"));
	assert_null(strstr(page, EVIL));
	free(page);

	page = relay_page_message("Not found", "Nothing here.", &len);
	check_page(page, len);
	assert_non_null(strstr(page, "<h1>Not found</h1>"));
	free(page);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_landing_escapes),
		cmocka_unit_test(test_landing_plain),
		cmocka_unit_test(test_signed_in_confirm),
		cmocka_unit_test(test_signed_in_no_confirm),
		cmocka_unit_test(test_cancelled),
		cmocka_unit_test(test_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
