/*
 * Every HTTP request pam_ion makes goes through here; the only file that
 * includes libcurl.  TLS verification is always on; trust anchors, proxy
 * and timeouts come from the configuration, never from the environment
 * (the module runs inside setuid programs).  No redirects are followed, no
 * signals are used (sshd's SIGALRM), responses are capped in size, and a
 * URL must be https:// or http:// to a loopback address.
 */
#ifndef ION_HTTP_H
#define ION_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct ion_http_opts {
	const char *ca_file; /* NULL: none */
	const char *ca_path; /* NULL: none */
	const char *proxy;   /* NULL: none; loopback never goes through it */
	unsigned timeout_ms; /* per request */
	/*
	 * CLOCK_MONOTONIC ms after which no request may still run (the
	 * login's overall deadline); 0 for none.
	 */
	uint64_t deadline_ms;
};

struct ion_http_resp {
	long status;
	char *body; /* NUL-terminated, owned */
	size_t len;
	char *cache_control; /* the Cache-Control header, or NULL */
	char *content_type;  /* or NULL */
	char *location;	     /* for a 3xx, or NULL */
	char *retry_after;   /* the Retry-After header, or NULL */
	char *date;	     /* the Date header, or NULL (pam-ion check) */
};

struct ion_http;

/*
 * One extra request header (the relay key).  Its value is handled as a
 * secret: refused with control characters, scrubbed once the request is
 * done, never logged.  name must be an RFC 9110 token.
 */
struct ion_http_header {
	const char *name;
	const char *value;
};

/*
 * One handle per login, reused for every request (keeps connections).
 * opts is copied.  A timeout_ms of 0 means 10 seconds.  With neither
 * ca_file nor ca_path no certificate is trusted.  ION_ERR_CONFIG when
 * SSLKEYLOGFILE is set in the environment: libcurl would append every TLS
 * secret to that file, even inside su or sudo.
 */
int ion_http_new(const struct ion_http_opts *opts, struct ion_http **ret);
void ion_http_free(struct ion_http **h);

/* Moves the overall deadline (CLOCK_MONOTONIC ms; 0 for none). */
void ion_http_set_deadline(struct ion_http *h, uint64_t deadline_ms);

/*
 * GET url.  bearer, when not NULL, goes out as "Authorization: Bearer".
 * timeout_ms overrides the handle's per-request timeout when not 0 (for
 * long-polls); the deadline cuts either short.  Fills ret (clear it with
 * ion_http_resp_clear()) for any HTTP status; on failure ret is left as it
 * was, so start from a zeroed one.  Returns ION_ERR_UNAVAIL when no usable
 * answer came (refused, TLS failure, reset, a malformed or ambiguous
 * header), ION_ERR_TIMEOUT (also when the deadline passed before the
 * request), ION_ERR_RANGE when the body exceeds max_body or a header is
 * over its cap, ION_ERR_DENIED for a URL that is not allowed (not https://,
 * not http:// to loopback, or with user info) and ION_ERR_INVALID for one
 * that does not parse or a bearer with control characters; those two
 * before any request.
 */
int ion_http_get(struct ion_http *h, const char *url, const char *bearer,
    unsigned timeout_ms, size_t max_body, struct ion_http_resp *ret);

/*
 * ion_http_get() with one extra header (NULL for none); a bad header name
 * or value is ION_ERR_INVALID, before any request.
 */
int ion_http_get_with(struct ion_http *h, const char *url, const char *bearer,
    const struct ion_http_header *extra, unsigned timeout_ms, size_t max_body,
    struct ion_http_resp *ret);

/*
 * POST body (of content_type) to url.  With basic_user, HTTP Basic
 * authentication with basic_user:basic_pass, each form-encoded first as
 * RFC 6749 section 2.3.1 asks.  Errors as for ion_http_get().
 */
int ion_http_post(struct ion_http *h, const char *url, const char *content_type,
    const char *body, size_t len, const char *basic_user,
    const char *basic_pass, size_t max_body, struct ion_http_resp *ret);

/*
 * POST body (of content_type) to url with "Authorization: Bearer bearer"
 * and, unless NULL, one extra header (the relay's registration).  Errors
 * as for ion_http_get_with().
 */
int ion_http_post_bearer(struct ion_http *h, const char *url,
    const char *content_type, const char *body, size_t len, const char *bearer,
    const struct ion_http_header *extra, size_t max_body,
    struct ion_http_resp *ret);

/*
 * application/x-www-form-urlencoded escaping: RFC 3986 unreserved
 * characters stay, space becomes '+', every other byte %XX (upper case).
 * malloc'd, NULL on ENOMEM.
 */
char *ion_http_form_escape(const char *s);

/*
 * Frees and scrubs (bodies may hold tokens) the response's parts and zeroes
 * resp, so clearing twice is harmless.
 */
void ion_http_resp_clear(struct ion_http_resp *resp);

/* Requests made through this handle so far (for benchmarks and tests). */
unsigned ion_http_request_count(const struct ion_http *h);

/*
 * What a caller makes of a request that got no usable answer, by the
 * error of ion_http_get*() or ion_http_post*(): a timeout
 * (ION_ERR_TIMEOUT), an answer over its cap (ION_ERR_RANGE), or anything
 * else (refused, TLS, reset, a URL that is not allowed).  For each, the
 * sentence for the log (a static string, log-safe); for the first two,
 * also the error the caller returns.  Anything else is ION_ERR_UNAVAIL.
 */
struct ion_http_failure {
	const char *timed_out;
	int timed_out_r;
	const char *too_large;
	int too_large_r;
	const char *unreachable;
};

/*
 * For r, an ion_http_*() failure: sets *why to f's sentence for it and
 * returns f's error for it.
 */
int ion_http_failed(int r, const struct ion_http_failure *f, const char **why);

#endif
