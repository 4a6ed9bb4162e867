#include "pages.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "url.h"

#define PAGE_MAX (64 * 1024)

static void
head(struct ion_buf *b, const char *title)
{
	ion_buf_puts(b,
	    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width, "
	    "initial-scale=1\"><meta name=\"referrer\" content=\"no-referrer\">"
	    "<title>");
	ion_buf_html(b, title);
	ion_buf_puts(b,
	    "</title><style>"
	    "body{font-family:system-ui,sans-serif;margin:0;padding:1.5em;"
	    "background:#f6f7f9;color:#1d1f23;line-height:1.45}"
	    "main{max-width:30em;margin:0 auto;background:#fff;padding:1.5em;"
	    "border-radius:12px;box-shadow:0 1px 4px rgba(0,0,0,.12)}"
	    "h1{font-size:1.35em;margin:0 0 .6em}"
	    "dl{margin:1em 0}dt{color:#5b6270;font-size:.9em}"
	    "dd{margin:0 0 .6em;font-weight:600;word-break:break-all}"
	    ".warn{background:#fff4d6;border-left:4px solid #e0a100;"
	    "padding:.6em .8em;margin:1em 0}"
	    ".btn{display:block;text-align:center;background:#0b57d0;"
	    "color:#fff;text-decoration:none;font-size:1.1em;padding:.9em;"
	    "border-radius:8px;margin-top:1.2em}"
	    "#code{font-size:2.6em;font-weight:700;letter-spacing:.25em;"
	    "text-align:center;margin:.4em 0;font-variant-numeric:tabular-nums}"
	    ".small{color:#5b6270;font-size:.9em}"
	    "</style></head><body><main>\n");
}

static char *
finish(struct ion_buf *b, size_t *ret_len)
{
	ion_buf_puts(b, "</main></body></html>\n");
	return ion_buf_steal(b, ret_len);
}

static void
item(struct ion_buf *b, const char *label, const char *value)
{
	ion_buf_puts(b, "<dt>");
	ion_buf_html(b, label);
	ion_buf_puts(b, "</dt><dd>");
	ion_buf_html(b, value);
	ion_buf_puts(b, "</dd>\n");
}

/*
 * The name the registering client has in the relay's keys file.  The host
 * name beside it is whatever the module claimed; this one was proven with
 * the client's key, so one PAM host cannot pass itself off as another.
 */
static const char *
requester(const struct relay_login_view *v)
{
	return v->client_name != NULL ? v->client_name : "(unknown)";
}

char *
relay_page_landing(const struct relay_login_view *v, size_t *ret_len)
{
	struct ion_url u;
	char when[64];
	struct tm tm;
	struct ion_buf b;

	ion_buf_init(&b, PAGE_MAX);
	if (gmtime_r(&v->created, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm) == 0)
		strcpy(when, "unknown time");
	head(&b, "Sign in");
	ion_buf_puts(&b, "<h1>Sign in to ");
	ion_buf_html(&b, v->host);
	if (v->user[0] != '\0') {
		ion_buf_puts(&b, " as ");
		ion_buf_html(&b, v->user);
	}
	ion_buf_puts(&b, "</h1>\n<dl>\n");
	item(&b, "Computer", v->host);
	item(&b, "Requested by PAM host", requester(v));
	item(&b, "Account",
	    v->user[0] != '\0' ? v->user : "(chosen after sign-in)");
	item(&b, "Requested from",
	    v->rhost[0] != '\0' ? v->rhost : "this machine's console");
	item(&b, "Requested at", when);
	item(&b, "Through", v->service);
	ion_buf_puts(&b,
	    "</dl>\n<p class=\"warn\">Only continue if you started this "
	    "sign-in "
	    "yourself, just now. If someone sent you this link or code, stop "
	    "here: they are trying to get into your account.</p>\n"
	    "<a class=\"btn\" href=\"");
	ion_buf_html(&b, v->authorize_url);
	ion_buf_puts(&b, "\">Continue to ");
	/* The registered URL was checked against the prefixes, so it parses. */
	ion_buf_html(
	    &b, ion_url_parse(v->authorize_url, &u) == 0 ? u.host : "sign in");
	ion_buf_puts(&b, "</a>\n");
	return finish(&b, ret_len);
}

/*
 * Whose sign-in it is, after an opening <b>: "HOST</b>[ as <b>USER</b>],
 * requested by PAM host <b>NAME</b>".
 */
static void
whose(struct ion_buf *b, const struct relay_login_view *v, bool with_user)
{
	ion_buf_html(b, v->host);
	ion_buf_puts(b, "</b>");
	if (with_user && v->user[0] != '\0') {
		ion_buf_puts(b, " as <b>");
		ion_buf_html(b, v->user);
		ion_buf_puts(b, "</b>");
	}
	ion_buf_puts(b, ", requested by PAM host <b>");
	ion_buf_html(b, requester(v));
	ion_buf_puts(b, "</b>");
}

char *
relay_page_signed_in(
    const struct relay_login_view *v, const char *confirm_code, size_t *ret_len)
{
	struct ion_buf b;

	ion_buf_init(&b, PAGE_MAX);
	head(&b, "Almost done");
	if (v->confirm) {
		ion_buf_puts(&b,
		    "<h1>Type this code at your terminal</h1>\n"
		    "<p id=\"code\">");
		ion_buf_html(&b, confirm_code);
		ion_buf_puts(&b, "</p>\n<p>It finishes your sign-in to <b>");
		whose(&b, v, true);
		ion_buf_puts(&b,
		    ".</p>\n<p class=\"small\">Did you not start this "
		    "sign-in? Do not pass the code on to anyone.</p>\n");
	} else {
		ion_buf_puts(&b,
		    "<h1>Return to your terminal</h1>\n<p>The sign-in to <b>");
		whose(&b, v, false);
		ion_buf_puts(&b,
		    ", needs nothing more from this phone: it continues at the "
		    "terminal by itself, or when you press Enter there if it "
		    "asks.</p>\n");
	}
	return finish(&b, ret_len);
}

char *
relay_page_cancelled(const struct relay_login_view *v, const char *error,
    const char *description, size_t *ret_len)
{
	struct ion_buf b;

	ion_buf_init(&b, PAGE_MAX);
	head(&b, "Sign-in cancelled");
	ion_buf_puts(&b, "<h1>Sign-in cancelled</h1>\n<p>The sign-in to <b>");
	ion_buf_html(&b, v->host);
	ion_buf_puts(&b,
	    "</b> did not go through. The terminal will say so; "
	    "start again there if you want to.</p>\n<dl>\n");
	item(&b, "Reason given", error);
	if (description != NULL && description[0] != '\0')
		item(&b, "Details", description);
	ion_buf_puts(&b, "</dl>\n");
	return finish(&b, ret_len);
}

char *
relay_page_message(const char *title, const char *text, size_t *ret_len)
{
	struct ion_buf b;

	ion_buf_init(&b, PAGE_MAX);
	head(&b, title);
	ion_buf_puts(&b, "<h1>");
	ion_buf_html(&b, title);
	ion_buf_puts(&b, "</h1>\n<p>");
	ion_buf_html(&b, text);
	ion_buf_puts(&b, "</p>\n");
	return finish(&b, ret_len);
}
