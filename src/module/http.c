/*
 * The libcurl wrapper.  Every option that matters for safety is set on every
 * request, after curl_easy_reset(), so that nothing one request set (a POST
 * body, a header list) leaks into the next; the reset keeps the connection
 * cache, so a login still reuses its connections.
 *
 * libcurl >= 7.84 makes curl_global_init() thread-safe, and curl_easy_init()
 * calls it when nobody has: this file relies on that and keeps no global
 * state of its own (the module may run in several threads of one process).
 */
#include "http.h"

#include <curl/curl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "crypto.h"
#include "errors.h"
#include "url.h"

#ifndef PAM_ION_VERSION
#define PAM_ION_VERSION "0"
#endif

#define USER_AGENT "pam_ion/" PAM_ION_VERSION
#define DEFAULT_TIMEOUT_MS 10000u /* when neither handle nor call sets one */
#define MAX_URL_LEN 8192
#define MAX_HEADER_BYTES (64 * 1024) /* all response header lines */
#define MAX_HEADER_VALUE 4096	     /* one captured header value */
#define MAX_CRED_LEN 4096	     /* a bearer token, a Basic user or pass */
#define NOPROXY_LOOPBACK "localhost,127.0.0.0/8,::1"

#if LIBCURL_VERSION_NUM < 0x075400
#error "libcurl 7.84 or later is needed (thread-safe curl_global_init)"
#endif

struct ion_http {
	/*
	 * Connections, DNS and TLS sessions are shared; each request gets an
	 * easy handle of its own.  Reusing one easy handle exposed libcurl
	 * 7.88's lingering-header bug (tests/fuzz/crashes/README.md): a
	 * folded header in one answer was joined onto a freed header of the
	 * previous answer.  A fresh handle starts with no previous header.
	 */
	CURLSH *share;
	char *ca_file; /* NULL: none */
	char *ca_path; /* NULL: none */
	char *proxy;   /* NULL: none, whatever the environment says */
	unsigned timeout_ms;
	uint64_t deadline_ms;
	unsigned requests;
};

/* One request's answer as the callbacks collect it. */
struct xfer {
	CURL *curl;
	size_t max_body;
	char *body;
	size_t len, cap;
	size_t header_bytes;
	char *cache_control;
	char *content_type;
	char *location;
	char *retry_after;
	char *date;
	int err; /* set by a callback that stopped the transfer */
};

static void
free_scrubbed(char **p)
{
	if (*p != NULL) {
		ion_scrub(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

static void
xfer_clear(struct xfer *x)
{
	if (x->body != NULL) {
		ion_scrub(x->body, x->cap);
		free(x->body);
	}
	free_scrubbed(&x->cache_control);
	free_scrubbed(&x->content_type);
	free_scrubbed(&x->location);
	free_scrubbed(&x->retry_after);
	free_scrubbed(&x->date);
	x->body = NULL;
	x->len = x->cap = 0;
}

/* Header lists may hold credentials: scrub them before libcurl frees them. */
static void
slist_free(struct curl_slist **list)
{
	struct curl_slist *l;

	for (l = *list; l != NULL; l = l->next)
		if (l->data != NULL)
			ion_scrub(l->data, strlen(l->data));
	curl_slist_free_all(*list);
	*list = NULL;
}

static bool
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* A value that is to go into a request header: no CR, LF or other CTL. */
static bool
header_safe(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= MAX_CRED_LEN || is_ctl((unsigned char)s[i]))
			return false;
	return true;
}

int
ion_http_new(const struct ion_http_opts *opts, struct ion_http **ret)
{
	struct ion_http *h = NULL;
	int r = ION_ERR_NOMEM;

	if (opts == NULL)
		return ION_ERR_INVALID;
	/*
	 * libcurl opens the file named by SSLKEYLOGFILE (with getenv, not
	 * secure_getenv) and appends every TLS secret to it.  In su or sudo
	 * that lets the invoking user read the token exchange and make root
	 * write to a file of their choosing, so refuse to make requests at
	 * all.  This is the one place that must see the variable even in a
	 * setuid process, hence getenv.
	 */
	if (getenv("SSLKEYLOGFILE") != NULL)
		return ION_ERR_CONFIG;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		goto out;
	if ((opts->ca_file != NULL &&
		(h->ca_file = strdup(opts->ca_file)) == NULL) ||
	    (opts->ca_path != NULL &&
		(h->ca_path = strdup(opts->ca_path)) == NULL) ||
	    (opts->proxy != NULL && (h->proxy = strdup(opts->proxy)) == NULL))
		goto out;
	h->timeout_ms = opts->timeout_ms;
	h->deadline_ms = opts->deadline_ms;
	/* Thread-safe global init since 7.84; see the top of this file. */
	if ((h->share = curl_share_init()) == NULL ||
	    curl_share_setopt(h->share, CURLSHOPT_SHARE,
		CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
	    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) !=
		CURLSHE_OK ||
	    curl_share_setopt(h->share, CURLSHOPT_SHARE,
		CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)
		goto out;
	*ret = h;
	h = NULL; /* transferred */
	r = 0;
out:
	ion_http_free(&h);
	return r;
}

void
ion_http_free(struct ion_http **hp)
{
	struct ion_http *h;

	if (hp == NULL || (h = *hp) == NULL)
		return;
	if (h->share != NULL)
		curl_share_cleanup(h->share);
	free(h->ca_file);
	free(h->ca_path);
	free_scrubbed(&h->proxy); /* a proxy URL may carry a password */
	free(h);
	*hp = NULL;
}

void
ion_http_set_deadline(struct ion_http *h, uint64_t deadline_ms)
{
	h->deadline_ms = deadline_ms;
}

unsigned
ion_http_request_count(const struct ion_http *h)
{
	return h->requests;
}

/*
 * Parses url with libcurl's own parser and hands the parsed form to the
 * request (CURLOPT_CURLU), so the host checked here is the host libcurl
 * connects to: no second parser to disagree with.
 */
static int
parse_url(const char *url, CURLU **ret)
{
	CURLU *u = NULL;
	CURLUcode uc;
	char *scheme = NULL, *host = NULL, *part = NULL;
	int r = ION_ERR_INVALID;

	if (url == NULL || strnlen(url, MAX_URL_LEN + 1) > MAX_URL_LEN)
		goto out;
	if ((u = curl_url()) == NULL) {
		r = ION_ERR_NOMEM;
		goto out;
	}
	uc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (uc == CURLUE_OUT_OF_MEMORY) {
		r = ION_ERR_NOMEM;
		goto out;
	}
	if (uc == CURLUE_UNSUPPORTED_SCHEME) {
		r = ION_ERR_DENIED;
		goto out;
	}
	if (uc != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
		goto out;
	r = ION_ERR_DENIED;
	/* Credentials in a URL would be sent as Basic auth: never. */
	if (curl_url_get(u, CURLUPART_USER, &part, 0) != CURLUE_NO_USER ||
	    curl_url_get(u, CURLUPART_PASSWORD, &part, 0) !=
		CURLUE_NO_PASSWORD ||
	    curl_url_get(u, CURLUPART_OPTIONS, &part, 0) != CURLUE_NO_OPTIONS)
		goto out;
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	/*
	 * The loopback rule is url.h's, the config's; libcurl has already
	 * normalised "127.1" and friends to a dotted quad.
	 */
	if (strcmp(scheme, "https") != 0 &&
	    !(strcmp(scheme, "http") == 0 && ion_url_host_is_loopback(host)))
		goto out;
	*ret = u;
	u = NULL; /* transferred */
	r = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(part);
	curl_url_cleanup(u);
	return r;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb; /* size is always 1 for the write callback */
	char *p;

	if (x->err != 0)
		return 0;
	if (n > x->max_body - x->len) {
		x->err = ION_ERR_RANGE;
		return 0;
	}
	if (x->len + n + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 1024;

		while (cap < x->len + n + 1)
			cap *= 2;
		if (cap > x->max_body + 1)
			cap = x->max_body + 1;
		/* Not realloc: the old block may hold a token, scrub it. */
		if ((p = malloc(cap)) == NULL) {
			x->err = ION_ERR_NOMEM;
			return 0;
		}
		if (x->body != NULL) {
			memcpy(p, x->body, x->len);
			ion_scrub(x->body, x->cap);
			free(x->body);
		}
		x->body = p;
		x->cap = cap;
	}
	memcpy(x->body + x->len, data, n);
	x->len += n;
	x->body[x->len] = '\0';
	return n;
}

static int
capture(char **slot, const char *v, size_t len, bool list)
{
	char *p;

	if (len > MAX_HEADER_VALUE)
		return ION_ERR_RANGE;
	if (*slot == NULL) {
		if ((p = strndup(v, len)) == NULL)
			return ION_ERR_NOMEM;
		*slot = p;
		return 0;
	}
	/* A repeated Content-Type or Location makes the answer ambiguous. */
	if (!list)
		return ION_ERR_UNAVAIL;
	/* Repeated list headers combine with ", " (RFC 9110 section 5.3). */
	if (strlen(*slot) + 2 + len > MAX_HEADER_VALUE)
		return ION_ERR_RANGE;
	if ((p = malloc(strlen(*slot) + 2 + len + 1)) == NULL)
		return ION_ERR_NOMEM;
	strcpy(p, *slot);
	strcat(p, ", ");
	strncat(p, v, len);
	free_scrubbed(slot);
	*slot = p;
	return 0;
}

static int
on_header_line(struct xfer *x, const char *data, size_t n)
{
	const char *colon, *v, *end;
	curl_off_t clen = -1;
	size_t i, namelen;

	/* A status line starts a new response (after a 1xx): forget. */
	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		free_scrubbed(&x->cache_control);
		free_scrubbed(&x->content_type);
		free_scrubbed(&x->location);
		free_scrubbed(&x->retry_after);
		free_scrubbed(&x->date);
		return 0;
	}
	if ((n == 2 && data[0] == '\r' && data[1] == '\n') ||
	    (n == 1 && data[0] == '\n')) {
		/* End of the headers: refuse a body announced too large. */
		if (curl_easy_getinfo(x->curl,
			CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
			&clen) == CURLE_OK &&
		    clen > 0 && (uint64_t)clen > x->max_body)
			return ION_ERR_RANGE;
		return 0;
	}
	/* Obsolete line folding (RFC 9110 section 5.5) may be refused. */
	if (data[0] == ' ' || data[0] == '\t')
		return ION_ERR_UNAVAIL;
	if ((colon = memchr(data, ':', n)) == NULL)
		return ION_ERR_UNAVAIL;
	namelen = (size_t)(colon - data);
	v = colon + 1;
	end = data + n;
	while (end > v &&
	    (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' ||
		end[-1] == '\t'))
		end--;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	for (i = 0; v + i < end; i++)
		if (is_ctl((unsigned char)v[i]) && v[i] != '\t')
			return ION_ERR_UNAVAIL;
	if (namelen == 13 && strncasecmp(data, "Cache-Control", 13) == 0)
		return capture(&x->cache_control, v, (size_t)(end - v), true);
	if (namelen == 12 && strncasecmp(data, "Content-Type", 12) == 0)
		return capture(&x->content_type, v, (size_t)(end - v), false);
	if (namelen == 8 && strncasecmp(data, "Location", 8) == 0)
		return capture(&x->location, v, (size_t)(end - v), false);
	if (namelen == 11 && strncasecmp(data, "Retry-After", 11) == 0)
		return capture(&x->retry_after, v, (size_t)(end - v), true);
	if (namelen == 4 && strncasecmp(data, "Date", 4) == 0)
		return capture(&x->date, v, (size_t)(end - v), true);
	return 0;
}

static size_t
on_header(char *data, size_t size, size_t nitems, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nitems; /* size is always 1 for headers */
	int r;

	if (x->err != 0)
		return 0;
	if (n == 0)
		return 0;
	if (n > MAX_HEADER_BYTES - x->header_bytes) {
		x->err = ION_ERR_RANGE;
		return 0;
	}
	x->header_bytes += n;
	if ((r = on_header_line(x, data, n)) != 0) {
		x->err = r;
		return 0;
	}
	return n;
}

static int
map_curl_error(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return ION_ERR_TIMEOUT;
	case CURLE_FILESIZE_EXCEEDED:
		return ION_ERR_RANGE;
	case CURLE_OUT_OF_MEMORY:
		return ION_ERR_NOMEM;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return ION_ERR_DENIED;
	default:
		/*
		 * Resolving, connecting, TLS (handshake, certificate, trust
		 * anchors), sending, receiving, a malformed answer: the
		 * server could not be used.
		 */
		return ION_ERR_UNAVAIL;
	}
}

/*
 * The options every request gets.  Anything libcurl refuses fails the
 * request: a security option that cannot be set is a broken setup.
 */
static int
set_common(struct ion_http *h, CURL *c, struct xfer *x, unsigned timeout_ms)
{
	CURLcode rc;

	if (curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") !=
		CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 0L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROXY_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROXY_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSLVERSION,
		(long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK ||
	    /*
	     * Trust anchors only from the configuration.  A NULL CAINFO
	     * drops libcurl's built-in bundle: with only a ca_path, OpenSSL
	     * then looks certificates up in the hashed directory as needed
	     * instead of parsing the whole system bundle for every handle.
	     */
	    curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CAPATH, h->ca_path) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROXY_CAINFO, h->ca_file) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROXY_CAPATH, h->ca_path) != CURLE_OK ||
	    /*
	     * "" turns the proxy off, so http_proxy, https_proxy and
	     * all_proxy from a setuid caller's environment are never used;
	     * an explicit NOPROXY likewise keeps no_proxy out.  Loopback
	     * never goes through a configured proxy: the proxy's loopback
	     * is another machine's.
	     */
	    curl_easy_setopt(c, CURLOPT_PROXY,
		h->proxy != NULL ? h->proxy : "") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOPROXY,
		h->proxy != NULL ? NOPROXY_LOOPBACK : "") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L) !=
		CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED) !=
		CURLE_OK ||
	    /* No h2c upgrade or ALPN surprises: plain HTTP/1.1. */
	    curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
		(long)CURL_HTTP_VERSION_1_1) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT, USER_AGENT) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms) !=
		CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms) !=
		CURLE_OK ||
	    /* No CURLOPT_ACCEPT_ENCODING: nothing is ever decompressed. */
	    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
		(curl_off_t)x->max_body) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, x) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) !=
		CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HEADERDATA, x) != CURLE_OK)
		return ION_ERR_CONFIG;
		/*
		 * Redirects are never followed; no protocol at all for them
		 * either. The string form of this option cannot say "none"
		 * in 7.88.
		 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	rc = curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, 0L);
#pragma GCC diagnostic pop
	if (rc != CURLE_OK)
		return ION_ERR_CONFIG;
	return 0;
}

/* The time this request may take, or ION_ERR_TIMEOUT when none is left. */
static int
request_timeout(const struct ion_http *h, unsigned timeout_ms, unsigned *ret)
{
	uint64_t t, now;

	t = timeout_ms ? timeout_ms
		       : (h->timeout_ms ? h->timeout_ms : DEFAULT_TIMEOUT_MS);
	if (h->deadline_ms != 0) {
		now = ion_now_ms();
		if (now >= h->deadline_ms)
			return ION_ERR_TIMEOUT;
		if (h->deadline_ms - now < t)
			t = h->deadline_ms - now;
	}
	*ret = (unsigned)t;
	return 0;
}

static int
perform(struct ion_http *h, const char *url, unsigned timeout_ms,
    size_t max_body, struct curl_slist *headers, const char *post_body,
    size_t post_len, struct ion_http_resp *ret)
{
	struct xfer x;
	CURLU *u = NULL;
	CURL *curl = NULL;
	CURLcode rc;
	unsigned t;
	long status = 0;
	int r;

	memset(&x, 0, sizeof(x));
	x.max_body = max_body;
	/* Keeps max_body + 1 and the curl_off_t conversion from overflowing. */
	if (max_body > SIZE_MAX / 2)
		x.max_body = SIZE_MAX / 2;
	if ((r = parse_url(url, &u)) != 0)
		goto out;
	if ((r = request_timeout(h, timeout_ms, &t)) != 0)
		goto out;
	if ((curl = curl_easy_init()) == NULL) {
		r = ION_ERR_NOMEM;
		goto out;
	}
	x.curl = curl;
	if ((r = set_common(h, curl, &x, t)) != 0)
		goto out;
	r = ION_ERR_CONFIG;
	if (curl_easy_setopt(curl, CURLOPT_SHARE, h->share) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_CURLU, u) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK)
		goto out;
	if (post_body != NULL) {
		/* POSTFIELDS, not COPYPOSTFIELDS: no unscrubbed copy. */
		if (curl_easy_setopt(curl, CURLOPT_POST, 1L) != CURLE_OK ||
		    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post_body) !=
			CURLE_OK ||
		    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
			(curl_off_t)post_len) != CURLE_OK)
			goto out;
	} else if (curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L) != CURLE_OK)
		goto out;
	h->requests++;
	rc = curl_easy_perform(curl);
	/* A callback's reason wins over the CURLE_WRITE_ERROR it caused. */
	if (x.err != 0) {
		r = x.err;
		goto out;
	}
	if ((r = map_curl_error(rc)) != 0)
		goto out;
	if (curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status) !=
		CURLE_OK ||
	    status < 100 || status > 999) {
		r = ION_ERR_UNAVAIL;
		goto out;
	}
	/* Location is part of the answer only where it means a redirect. */
	if (status < 300 || status > 399)
		free_scrubbed(&x.location);
	if (x.body == NULL && (x.body = calloc(1, 1)) == NULL) {
		r = ION_ERR_NOMEM;
		goto out;
	}
	memset(ret, 0, sizeof(*ret));
	ret->status = status;
	ret->body = x.body;
	ret->len = x.len;
	ret->cache_control = x.cache_control;
	ret->content_type = x.content_type;
	ret->location = x.location;
	ret->retry_after = x.retry_after;
	ret->date = x.date;
	memset(&x, 0, sizeof(x)); /* transferred */
	r = 0;
out:
	/* Before the URL, headers and body it points to go. */
	if (curl != NULL)
		curl_easy_cleanup(curl);
	curl_url_cleanup(u);
	xfer_clear(&x);
	return r;
}

static int post(struct ion_http *h, const char *url, const char *content_type,
    const char *body, size_t len, struct curl_slist *extra, size_t max_body,
    struct ion_http_resp *ret);

/*
 * Appends "Authorization: Bearer B" to *headers; the line (a secret) is
 * returned in *line for the caller to scrub once the request is done.
 */
static int
add_bearer(struct curl_slist **headers, const char *bearer, char **line)
{
	struct curl_slist *l;
	size_t len;

	if (*bearer == '\0' || !header_safe(bearer))
		return ION_ERR_INVALID;
	len = strlen("Authorization: Bearer ") + strlen(bearer) + 1;
	if ((*line = malloc(len)) == NULL)
		return ION_ERR_NOMEM;
	strcpy(*line, "Authorization: Bearer ");
	strcat(*line, bearer);
	if ((l = curl_slist_append(*headers, *line)) == NULL)
		return ION_ERR_NOMEM;
	*headers = l;
	return 0;
}

/* RFC 9110 section 5.6.2: a header name is a token of tchars. */
static bool
header_name_ok(const char *name)
{
	size_t i;

	for (i = 0; name[i] != '\0'; i++)
		if (i >= 64 ||
		    !((name[i] >= 'a' && name[i] <= 'z') ||
			(name[i] >= 'A' && name[i] <= 'Z') ||
			(name[i] >= '0' && name[i] <= '9') ||
			strchr("!#$%&'*+-.^_`|~", name[i]) != NULL))
			return false;
	return i > 0;
}

/*
 * Appends "Name: value" to *headers; the line (the value may be a secret,
 * such as the relay key) is returned in *line for the caller to scrub once
 * the request is done.  libcurl's own copy in the list is scrubbed by
 * slist_free().
 */
static int
add_extra(struct curl_slist **headers, const struct ion_http_header *extra,
    char **line)
{
	struct curl_slist *l;
	size_t len;

	if (extra->name == NULL || extra->value == NULL ||
	    !header_name_ok(extra->name) || *extra->value == '\0' ||
	    !header_safe(extra->value))
		return ION_ERR_INVALID;
	len = strlen(extra->name) + 2 + strlen(extra->value) + 1;
	if ((*line = malloc(len)) == NULL)
		return ION_ERR_NOMEM;
	strcpy(*line, extra->name);
	strcat(*line, ": ");
	strcat(*line, extra->value);
	if ((l = curl_slist_append(*headers, *line)) == NULL)
		return ION_ERR_NOMEM;
	*headers = l;
	return 0;
}

int
ion_http_get(struct ion_http *h, const char *url, const char *bearer,
    unsigned timeout_ms, size_t max_body, struct ion_http_resp *ret)
{
	return ion_http_get_with(
	    h, url, bearer, NULL, timeout_ms, max_body, ret);
}

int
ion_http_get_with(struct ion_http *h, const char *url, const char *bearer,
    const struct ion_http_header *extra, unsigned timeout_ms, size_t max_body,
    struct ion_http_resp *ret)
{
	struct curl_slist *headers = NULL;
	char *line = NULL, *xline = NULL;
	int r;

	if (bearer != NULL && (r = add_bearer(&headers, bearer, &line)) != 0)
		goto out;
	if (extra != NULL && (r = add_extra(&headers, extra, &xline)) != 0)
		goto out;
	r = perform(h, url, timeout_ms, max_body, headers, NULL, 0, ret);
out:
	free_scrubbed(&line);
	free_scrubbed(&xline);
	slist_free(&headers);
	return r;
}

int
ion_http_post_bearer(struct ion_http *h, const char *url,
    const char *content_type, const char *body, size_t len, const char *bearer,
    const struct ion_http_header *extra, size_t max_body,
    struct ion_http_resp *ret)
{
	struct curl_slist *headers = NULL;
	char *line = NULL, *xline = NULL;
	int r;

	if (bearer == NULL) {
		r = ION_ERR_INVALID;
		goto out;
	}
	if ((r = add_bearer(&headers, bearer, &line)) != 0)
		goto out;
	if (extra != NULL && (r = add_extra(&headers, extra, &xline)) != 0)
		goto out;
	r = post(h, url, content_type, body, len, headers, max_body, ret);
out:
	free_scrubbed(&line);
	free_scrubbed(&xline);
	slist_free(&headers);
	return r;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding (RFC 4648 section 4), as Basic needs. */
static void
b64_encode(const unsigned char *in, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		unsigned long v = (unsigned long)in[i] << 16 |
		    (unsigned long)in[i + 1] << 8 | in[i + 2];

		out[o++] = b64_alphabet[v >> 18 & 63];
		out[o++] = b64_alphabet[v >> 12 & 63];
		out[o++] = b64_alphabet[v >> 6 & 63];
		out[o++] = b64_alphabet[v & 63];
	}
	if (len - i == 1) {
		unsigned long v = (unsigned long)in[i] << 16;

		out[o++] = b64_alphabet[v >> 18 & 63];
		out[o++] = b64_alphabet[v >> 12 & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		unsigned long v =
		    (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8;

		out[o++] = b64_alphabet[v >> 18 & 63];
		out[o++] = b64_alphabet[v >> 12 & 63];
		out[o++] = b64_alphabet[v >> 6 & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
}

/*
 * "Authorization: Basic " + base64(form(user) ":" form(pass)): RFC 6749
 * section 2.3.1 form-encodes both before RFC 7617 joins them, so a ':' in a
 * client id stays unambiguous.  Every intermediate copy is scrubbed.
 */
static int
basic_header(const char *user, const char *pass, char **ret)
{
	char *eu = NULL, *ep = NULL, *joined = NULL, *line = NULL;
	size_t jlen, llen;
	int r = ION_ERR_NOMEM;

	if (strnlen(user, MAX_CRED_LEN + 1) > MAX_CRED_LEN ||
	    strnlen(pass, MAX_CRED_LEN + 1) > MAX_CRED_LEN) {
		r = ION_ERR_INVALID;
		goto out;
	}
	if ((eu = ion_http_form_escape(user)) == NULL ||
	    (ep = ion_http_form_escape(pass)) == NULL)
		goto out;
	jlen = strlen(eu) + 1 + strlen(ep);
	if ((joined = malloc(jlen + 1)) == NULL)
		goto out;
	strcpy(joined, eu);
	strcat(joined, ":");
	strcat(joined, ep);
	llen = strlen("Authorization: Basic ") + (jlen + 2) / 3 * 4 + 1;
	if ((line = malloc(llen)) == NULL)
		goto out;
	strcpy(line, "Authorization: Basic ");
	b64_encode((const unsigned char *)joined, jlen,
	    line + strlen("Authorization: Basic "));
	*ret = line;
	line = NULL; /* transferred */
	r = 0;
out:
	free_scrubbed(&eu);
	free_scrubbed(&ep);
	free_scrubbed(&joined);
	free_scrubbed(&line);
	return r;
}

int
ion_http_post(struct ion_http *h, const char *url, const char *content_type,
    const char *body, size_t len, const char *basic_user,
    const char *basic_pass, size_t max_body, struct ion_http_resp *ret)
{
	struct curl_slist *headers = NULL, *l;
	char *auth = NULL;
	int r = ION_ERR_INVALID;

	if ((basic_user == NULL) != (basic_pass == NULL))
		goto out;
	if (basic_user != NULL) {
		if ((r = basic_header(basic_user, basic_pass, &auth)) != 0)
			goto out;
		r = ION_ERR_NOMEM;
		if ((l = curl_slist_append(headers, auth)) == NULL)
			goto out;
		headers = l;
	}
	r = post(h, url, content_type, body, len, headers, max_body, ret);
out:
	free_scrubbed(&auth);
	slist_free(&headers);
	return r;
}

/* POST with a Content-Type, no "Expect:", and the caller's extra headers. */
static int
post(struct ion_http *h, const char *url, const char *content_type,
    const char *body, size_t len, struct curl_slist *extra, size_t max_body,
    struct ion_http_resp *ret)
{
	struct curl_slist *headers = NULL, *l, *e;
	char *ct = NULL;
	int r = ION_ERR_INVALID;

	if (content_type == NULL || *content_type == '\0' ||
	    !header_safe(content_type) || (body == NULL && len != 0))
		goto out;
	r = ION_ERR_NOMEM;
	for (e = extra; e != NULL; e = e->next) {
		if ((l = curl_slist_append(headers, e->data)) == NULL)
			goto out;
		headers = l;
	}
	if ((ct = malloc(
		 strlen("Content-Type: ") + strlen(content_type) + 1)) == NULL)
		goto out;
	strcpy(ct, "Content-Type: ");
	strcat(ct, content_type);
	if ((l = curl_slist_append(headers, ct)) == NULL)
		goto out;
	headers = l;
	/* No "Expect: 100-continue" round trip for larger bodies. */
	if ((l = curl_slist_append(headers, "Expect:")) == NULL)
		goto out;
	headers = l;
	r = perform(
	    h, url, 0, max_body, headers, body != NULL ? body : "", len, ret);
out:
	free(ct);
	slist_free(&headers);
	return r;
}

char *
ion_http_form_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(s), i, o = 0;
	char *out;

	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	if ((out = malloc(len * 3 + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		/* RFC 3986 unreserved characters stand for themselves. */
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~')
			out[o++] = (char)c;
		else if (c == ' ')
			out[o++] = '+';
		else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

void
ion_http_resp_clear(struct ion_http_resp *resp)
{
	if (resp == NULL)
		return;
	if (resp->body != NULL) {
		ion_scrub(resp->body, resp->len);
		free(resp->body);
	}
	free_scrubbed(&resp->cache_control);
	free_scrubbed(&resp->content_type);
	free_scrubbed(&resp->location);
	free_scrubbed(&resp->retry_after);
	free_scrubbed(&resp->date);
	memset(resp, 0, sizeof(*resp));
}

int
ion_http_failed(int r, const struct ion_http_failure *f, const char **why)
{
	switch (r) {
	case ION_ERR_TIMEOUT:
		*why = f->timed_out;
		return f->timed_out_r;
	case ION_ERR_RANGE:
		*why = f->too_large;
		return f->too_large_r;
	default:
		*why = f->unreachable;
		return ION_ERR_UNAVAIL;
	}
}
