/*
 * The HTML the person's phone sees.  Every value that came from a client is
 * HTML-escaped; pages carry no scripts and load nothing from elsewhere.
 * Each function returns a malloc'd NUL-terminated page (the caller frees
 * it) or NULL when out of memory.
 */
#ifndef RELAY_PAGES_H
#define RELAY_PAGES_H

#include <stddef.h>

#include "store.h"

/*
 * "Sign in to HOST as USER …", the keys file's name of the client that
 * registered it, and the button on to the provider.
 */
char *relay_page_landing(const struct relay_login_view *v, size_t *ret_len);

/* After the provider's redirect: the confirmation code, or "go back". */
char *relay_page_signed_in(const struct relay_login_view *v,
    const char *confirm_code, size_t *ret_len);

/* After the provider's redirect with an error: the sign-in was cancelled. */
char *relay_page_cancelled(const struct relay_login_view *v, const char *error,
    const char *description, size_t *ret_len);

/* A plain page with a title and one sentence (errors, not found, …). */
char *relay_page_message(const char *title, const char *text, size_t *ret_len);

#endif
