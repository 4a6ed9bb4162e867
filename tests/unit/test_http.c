/*
 * Unit tests of http.h against a real server on 127.0.0.1: http_server.py,
 * started here with posix_spawn on a port the kernel picks.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ftw.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
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

#include "errors.h"
#include "http.h"

#ifndef PYTHON3
#define PYTHON3 "python3"
#endif
#ifndef HTTP_SERVER_PY
#error "HTTP_SERVER_PY must name tests/unit/http_server.py"
#endif

#define MAX_BODY (1024 * 1024)

extern char **environ;

struct server {
	pid_t pid;
	unsigned port;
};

static struct server plain;

static pid_t
spawn_server(char *tls_dir, unsigned *ret_port)
{
	posix_spawn_file_actions_t fa;
	char python[] = PYTHON3, script[] = HTTP_SERVER_PY, tls[] = "--tls";
	char *argv[] = { python, script, tls_dir ? tls : NULL, tls_dir, NULL };
	char line[32];
	int fds[2];
	pid_t pid;
	FILE *f;

	if (pipe(fds) != 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	if (posix_spawnp(&pid, PYTHON3, &fa, NULL, argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	f = fdopen(fds[0], "r");
	if (pid < 0 || f == NULL || fgets(line, sizeof(line), f) == NULL ||
	    (*ret_port = (unsigned)strtoul(line, NULL, 10)) == 0) {
		if (pid > 0) {
			kill(pid, SIGTERM);
			waitpid(pid, NULL, 0);
		}
		pid = -1;
	}
	if (f != NULL)
		fclose(f);
	return pid;
}

static void
stop_server(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

static int
setup(void **state)
{
	(void)state;
	plain.pid = spawn_server(NULL, &plain.port);
	return plain.pid > 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	stop_server(plain.pid);
	return 0;
}

static char *
url(unsigned port, const char *fmt_scheme, const char *path)
{
	static char buf[4][256];
	static int n;
	char *b = buf[n++ % 4];

	snprintf(
	    b, sizeof(buf[0]), "%s://127.0.0.1:%u%s", fmt_scheme, port, path);
	return b;
}

#define U(path) url(plain.port, "http", (path))

static struct ion_http *
handle(unsigned timeout_ms)
{
	struct ion_http_opts o;
	struct ion_http *h = NULL;

	memset(&o, 0, sizeof(o));
	o.timeout_ms = timeout_ms;
	assert_int_equal(ion_http_new(&o, &h), 0);
	assert_non_null(h);
	return h;
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A loopback port where nothing listens (bound, then closed). */
static unsigned
closed_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* A listener that never accepts: connections open, nothing answers. */
static int
silent_listener(unsigned *ret_port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*ret_port = ntohs(a.sin_port);
	return fd;
}

static json_t *
body_json(const struct ion_http_resp *resp)
{
	json_t *j = json_loadb(resp->body, resp->len, 0, NULL);

	assert_non_null(j);
	return j;
}

static const char *
member(const json_t *j, const char *name)
{
	return json_string_value(json_object_get(j, name));
}

/* What the server saw: requests per path, CONNECT targets. */
static json_t *
server_hits(void)
{
	struct ion_http *h = handle(5000);
	struct ion_http_resp resp;
	json_t *j;

	memset(&resp, 0, sizeof(resp));
	assert_int_equal(
	    ion_http_get(h, U("/hits"), NULL, 0, MAX_BODY, &resp), 0);
	j = body_json(&resp);
	ion_http_resp_clear(&resp);
	ion_http_free(&h);
	return j;
}

static long
hits_of(const char *path)
{
	json_t *j = server_hits();
	long n = (long)json_integer_value(
	    json_object_get(json_object_get(j, "hits"), path));

	json_decref(j);
	return n;
}

static void
test_get(void **state)
{
	struct ion_http *h = handle(5000);
	struct ion_http_resp resp;
	json_t *j;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	assert_int_equal(ion_http_request_count(h), 0);
	assert_int_equal(
	    ion_http_get(h, U("/echo"), NULL, 0, MAX_BODY, &resp), 0);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.content_type, "application/json");
	assert_null(resp.location);
	assert_null(resp.cache_control);
	assert_int_equal(strlen(resp.body), resp.len);
	j = body_json(&resp);
	assert_string_equal(member(j, "method"), "GET");
	assert_null(member(j, "authorization"));
	assert_null(member(j, "expect"));
	/* Nothing is ever decompressed, so nothing is asked for. */
	assert_null(member(j, "accept_encoding"));
	assert_true(strncmp(member(j, "user_agent"), "pam_ion/", 8) == 0);
	json_decref(j);
	ion_http_resp_clear(&resp);
	assert_int_equal(ion_http_request_count(h), 1);
	ion_http_free(&h);
	assert_null(h);
	ion_http_free(&h);
	ion_http_free(NULL);
}

static void
test_bearer(void **state)
{
	struct ion_http *h = handle(5000);
	struct ion_http_resp resp;
	json_t *j;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	assert_int_equal(
	    ion_http_get(h, U("/echo"), "tok-123_x", 0, MAX_BODY, &resp), 0);
	j = body_json(&resp);
	assert_string_equal(member(j, "authorization"), "Bearer tok-123_x");
	json_decref(j);
	ion_http_resp_clear(&resp);
	/* Header injection and empty tokens are refused before sending. */
	assert_int_equal(
	    ion_http_get(h, U("/echo"), "t\r\nX-Evil: 1", 0, MAX_BODY, &resp),
	    ION_ERR_INVALID);
	assert_int_equal(
	    ion_http_get(h, U("/echo"), "t\nx", 0, MAX_BODY, &resp),
	    ION_ERR_INVALID);
	assert_int_equal(ion_http_get(h, U("/echo"), "", 0, MAX_BODY, &resp),
	    ION_ERR_INVALID);
	assert_int_equal(ion_http_request_count(h), 1);
	ion_http_free(&h);
}

/* The relay key header: sent as given, on GET and on the bearer POST. */
static void
test_extra_header(void **state)
{
	static const struct ion_http_header key = { "PAM-Ion-Client-Key",
		"k3y-Value_0123456789abcdefghijklmnop" };
	static const struct ion_http_header bad[] = {
		{ "PAM-Ion-Client-Key", "k\r\nX-Evil: 1" },
		{ "PAM-Ion-Client-Key", "k\x7f" },
		{ "PAM-Ion-Client-Key", "" },
		{ "PAM-Ion-Client-Key", NULL },
		{ "Bad Name", "v" },
		{ "Bad:Name", "v" },
		{ "", "v" },
		{ NULL, "v" },
	};
	struct ion_http *h = handle(5000);
	struct ion_http_resp resp;
	size_t i;
	json_t *j;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	assert_int_equal(
	    ion_http_get_with(h, U("/echo"), "tok", &key, 0, MAX_BODY, &resp),
	    0);
	j = body_json(&resp);
	assert_string_equal(member(j, "client_key"), key.value);
	assert_string_equal(member(j, "authorization"), "Bearer tok");
	json_decref(j);
	ion_http_resp_clear(&resp);

	assert_int_equal(ion_http_post_bearer(h, U("/echo"), "application/json",
			     "{}", 2, "tok", &key, MAX_BODY, &resp),
	    0);
	j = body_json(&resp);
	assert_string_equal(member(j, "method"), "POST");
	assert_string_equal(member(j, "client_key"), key.value);
	assert_string_equal(member(j, "authorization"), "Bearer tok");
	assert_string_equal(member(j, "body"), "{}");
	json_decref(j);
	ion_http_resp_clear(&resp);

	/* Without one, no such header; ion_http_get() sends none either. */
	assert_int_equal(ion_http_post_bearer(h, U("/echo"), "application/json",
			     "{}", 2, "tok", NULL, MAX_BODY, &resp),
	    0);
	j = body_json(&resp);
	assert_null(member(j, "client_key"));
	json_decref(j);
	ion_http_resp_clear(&resp);

	/* Injection, empty values and bad names: refused before sending. */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ion_http_get_with(h, U("/echo"), NULL, &bad[i],
				     0, MAX_BODY, &resp),
		    ION_ERR_INVALID);
		assert_int_equal(
		    ion_http_post_bearer(h, U("/echo"), "application/json",
			"{}", 2, "tok", &bad[i], MAX_BODY, &resp),
		    ION_ERR_INVALID);
	}
	assert_int_equal(ion_http_request_count(h), 3);
	ion_http_free(&h);
}

static void
test_post(void **state)
{
	struct ion_http *h = handle(5000);
	struct ion_http_resp resp;
	const char *form = "grant_type=authorization_code&code=abc%2Bdef";
	char *big;
	json_t *j;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	assert_int_equal(
	    ion_http_post(h, U("/echo"), "application/x-www-form-urlencoded",
		form, strlen(form), NULL, NULL, MAX_BODY, &resp),
	    0);
	assert_int_equal(resp.status, 200);
	j = body_json(&resp);
	assert_string_equal(member(j, "method"), "POST");
	assert_string_equal(member(j, "body"), form);
	assert_string_equal(
	    member(j, "content_type"), "application/x-www-form-urlencoded");
	assert_null(member(j, "authorization"));
	json_decref(j);
	ion_http_resp_clear(&resp);

	/* A larger body goes out at once, without Expect: 100-continue. */
	big = malloc(5000);
	memset(big, 'b', 4999);
	big[4999] = '\0';
	assert_int_equal(ion_http_post(h, U("/echo"), "application/json", big,
			     4999, NULL, NULL, MAX_BODY, &resp),
	    0);
	j = body_json(&resp);
	assert_null(member(j, "expect"));
	assert_string_equal(member(j, "body"), big);
	json_decref(j);
	ion_http_resp_clear(&resp);
	free(big);

	/* Only len bytes of body are sent. */
	assert_int_equal(ion_http_post(h, U("/echo"), "text/plain", "abcdef", 3,
			     NULL, NULL, MAX_BODY, &resp),
	    0);
	j = body_json(&resp);
	assert_string_equal(member(j, "body"), "abc");
	json_decref(j);
	ion_http_resp_clear(&resp);

	/* Bad arguments: no request. */
	assert_int_equal(ion_http_post(h, U("/echo"), "text/plain\r\nX: y", "",
			     0, NULL, NULL, MAX_BODY, &resp),
	    ION_ERR_INVALID);
	assert_int_equal(ion_http_post(h, U("/echo"), "text/plain", "", 0, "u",
			     NULL, MAX_BODY, &resp),
	    ION_ERR_INVALID);
	assert_int_equal(ion_http_request_count(h), 3);
	ion_http_free(&h);
}

/*
 * RFC 6749 section 2.3.1: form-encode client_id and secret, join with ':',
 * base64.  The expected value was computed independently:
 *   base64("a%3Ab+c%2B%25%2F%C3%A9:s3cr3t%2F%2B%3D+%3A%25%26~")
 */
static void
test_basic_auth(void **state)
{
	struct ion_http *h = handle(5000);
	struct ion_http_resp resp;
	json_t *j;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	assert_int_equal(
	    ion_http_post(h, U("/echo"), "application/x-www-form-urlencoded",
		"x=1", 3, "a:b c+%/\xc3\xa9", "s3cr3t/+= :%&~", MAX_BODY,
		&resp),
	    0);
	j = body_json(&resp);
	assert_string_equal(member(j, "authorization"),
	    "Basic "
	    "YSUzQWIrYyUyQiUyNSUyRiVDMyVBOTpzM2NyM3QlMkYlMkIlM0QrJTNBJTI1JTI2fg"
	    "==");
	json_decref(j);
	ion_http_resp_clear(&resp);
	/* Plain ids come out as RFC 7617 would have them. */
	assert_int_equal(ion_http_post(h, U("/echo"), "text/plain", "", 0,
			     "client", "secret", MAX_BODY, &resp),
	    0);
	j = body_json(&resp);
	assert_string_equal(
	    member(j, "authorization"), "Basic Y2xpZW50OnNlY3JldA==");
	json_decref(j);
	ion_http_resp_clear(&resp);
	ion_http_free(&h);
}

static void
test_status_passthrough(void **state)
{
	static const long statuses[] = { 200, 201, 202, 400, 401, 403, 404, 409,
		429, 500, 502, 503 };
	struct ion_http *h = handle(5000);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		struct ion_http_resp resp;
		char path[32];

		memset(&resp, 0, sizeof(resp));
		snprintf(path, sizeof(path), "/status/%ld", statuses[i]);
		assert_int_equal(
		    ion_http_get(h, U(path), NULL, 0, MAX_BODY, &resp), 0);
		assert_int_equal(resp.status, statuses[i]);
		assert_string_equal(resp.body, "status body");
		ion_http_resp_clear(&resp);
	}
	ion_http_free(&h);
}

static const struct {
	const char *path;
	size_t max;
	int want;
	size_t len;
} caps[] = {
	{ "/size/100", 100, 0, 100 },
	{ "/size/101", 100, ION_ERR_RANGE, 0 }, /* Content-Length says so */
	{ "/chunked/100", 100, 0, 100 },
	{ "/chunked/101", 100, ION_ERR_RANGE, 0 }, /* counted as it comes */
	{ "/chunked/70000", 65536, ION_ERR_RANGE, 0 },
	{ "/chunked/70000", 70000, 0, 70000 },
	{ "/size/0", 0, 0, 0 },
	{ "/size/1", 0, ION_ERR_RANGE, 0 },
	{ "/lying-length", MAX_BODY, ION_ERR_RANGE, 0 },
};

static void
test_body_cap(void **state)
{
	struct ion_http *h = handle(5000);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		struct ion_http_resp resp;
		int r;

		memset(&resp, 0, sizeof(resp));
		r = ion_http_get(
		    h, U(caps[i].path), NULL, 0, caps[i].max, &resp);
		if (r != caps[i].want)
			fail_msg("%s max %zu: got %d, want %d", caps[i].path,
			    caps[i].max, r, caps[i].want);
		if (r == 0) {
			assert_int_equal(resp.len, caps[i].len);
			assert_int_equal(strlen(resp.body), caps[i].len);
		} else
			assert_null(resp.body);
		ion_http_resp_clear(&resp);
	}
	ion_http_free(&h);
}

static void
test_redirect_not_followed(void **state)
{
	struct ion_http *h = handle(5000);
	struct ion_http_resp resp;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	assert_int_equal(
	    ion_http_get(h, U("/redirect"), NULL, 0, MAX_BODY, &resp), 0);
	assert_int_equal(resp.status, 302);
	assert_string_equal(resp.location, "/status/418");
	assert_string_equal(resp.body, "moved");
	ion_http_resp_clear(&resp);
	assert_int_equal(ion_http_request_count(h), 1);
	assert_int_equal(hits_of("/status/418"), 0);
	/* Location is reported for redirects only. */
	assert_int_equal(
	    ion_http_get(h, U("/created"), NULL, 0, MAX_BODY, &resp), 0);
	assert_int_equal(resp.status, 201);
	assert_null(resp.location);
	ion_http_resp_clear(&resp);
	ion_http_free(&h);
}

static void
test_headers_captured(void **state)
{
	struct ion_http *h = handle(5000);
	struct ion_http_resp resp;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	assert_int_equal(
	    ion_http_get(h, U("/cache"), NULL, 0, MAX_BODY, &resp), 0);
	/* Repeated Cache-Control headers are one list (RFC 9110 5.3). */
	assert_string_equal(resp.cache_control, "max-age=300, must-revalidate");
	assert_string_equal(
	    resp.content_type, "application/json; charset=utf-8");
	ion_http_resp_clear(&resp);
	ion_http_free(&h);
}

static const struct {
	const char *path;
	int want;
} bad_headers[] = {
	{ "/long-header", ION_ERR_RANGE },  /* one value over its cap */
	{ "/many-headers", ION_ERR_RANGE }, /* all headers over theirs */
	{ "/fold", ION_ERR_UNAVAIL },	    /* obsolete line folding */
	{ "/two-types", ION_ERR_UNAVAIL },  /* ambiguous Content-Type */
};

static void
test_bad_headers(void **state)
{
	struct ion_http *h = handle(5000);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_headers) / sizeof(bad_headers[0]); i++) {
		struct ion_http_resp resp;
		int r;

		memset(&resp, 0, sizeof(resp));
		r = ion_http_get(
		    h, U(bad_headers[i].path), NULL, 0, MAX_BODY, &resp);
		if (r != bad_headers[i].want)
			fail_msg("%s: got %d, want %d", bad_headers[i].path, r,
			    bad_headers[i].want);
		ion_http_resp_clear(&resp);
	}
	/* The handle is still good afterwards. */
	{
		struct ion_http_resp resp;

		memset(&resp, 0, sizeof(resp));
		assert_int_equal(
		    ion_http_get(h, U("/status/204"), NULL, 0, MAX_BODY, &resp),
		    0);
		assert_int_equal(resp.status, 204);
		assert_int_equal(resp.len, 0);
		assert_string_equal(resp.body, "");
		ion_http_resp_clear(&resp);
	}
	ion_http_free(&h);
}

static void
test_timeout(void **state)
{
	struct ion_http *h = handle(300);
	struct ion_http_resp resp;
	unsigned port;
	int fd = silent_listener(&port);
	uint64_t t0, dt;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	t0 = mono_ms();
	assert_int_equal(
	    ion_http_get(h, url(port, "http", "/"), NULL, 0, MAX_BODY, &resp),
	    ION_ERR_TIMEOUT);
	dt = mono_ms() - t0;
	assert_true(dt >= 250 && dt < 2000);
	/* A server that answers too late. */
	t0 = mono_ms();
	assert_int_equal(ion_http_get(h, U("/slow"), NULL, 0, MAX_BODY, &resp),
	    ION_ERR_TIMEOUT);
	dt = mono_ms() - t0;
	assert_true(dt >= 250 && dt < 2000);
	/* A per-call timeout overrides the handle's. */
	t0 = mono_ms();
	assert_int_equal(
	    ion_http_get(h, url(port, "http", "/"), NULL, 100, MAX_BODY, &resp),
	    ION_ERR_TIMEOUT);
	assert_true(mono_ms() - t0 < 250);
	close(fd);
	ion_http_free(&h);
}

static void
test_deadline(void **state)
{
	struct ion_http *h = handle(10000);
	struct ion_http_resp resp;
	uint64_t t0;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	/* The login's deadline cuts a long request short... */
	t0 = mono_ms();
	ion_http_set_deadline(h, t0 + 300);
	assert_int_equal(
	    ion_http_get(h, U("/slow"), NULL, 20000, MAX_BODY, &resp),
	    ION_ERR_TIMEOUT);
	assert_true(mono_ms() - t0 < 2000);
	assert_int_equal(ion_http_request_count(h), 1);
	/* ...and once it has passed, no request is made at all. */
	ion_http_set_deadline(h, mono_ms() - 1);
	assert_int_equal(ion_http_get(h, U("/echo"), NULL, 0, MAX_BODY, &resp),
	    ION_ERR_TIMEOUT);
	assert_int_equal(ion_http_post(h, U("/echo"), "text/plain", "", 0, NULL,
			     NULL, MAX_BODY, &resp),
	    ION_ERR_TIMEOUT);
	assert_int_equal(ion_http_request_count(h), 1);
	ion_http_set_deadline(h, 0);
	assert_int_equal(
	    ion_http_get(h, U("/echo"), NULL, 0, MAX_BODY, &resp), 0);
	ion_http_resp_clear(&resp);
	ion_http_free(&h);
}

static void
test_unreachable(void **state)
{
	struct ion_http *h = handle(2000);
	struct ion_http_resp resp;
	unsigned port = closed_port();

	(void)state;
	memset(&resp, 0, sizeof(resp));
	assert_int_equal(
	    ion_http_get(h, url(port, "http", "/"), NULL, 0, MAX_BODY, &resp),
	    ION_ERR_UNAVAIL);
	assert_int_equal(
	    ion_http_get(h, url(port, "https", "/"), NULL, 0, MAX_BODY, &resp),
	    ION_ERR_UNAVAIL);
	assert_int_equal(ion_http_request_count(h), 2);
	ion_http_free(&h);
}

static const struct {
	const char *url;
	int want;
} refused_urls[] = {
	{ "http://example.com/", ION_ERR_DENIED },
	{ "HTTP://EXAMPLE.COM/", ION_ERR_DENIED },
	{ "http://10.0.0.1/", ION_ERR_DENIED },
	{ "http://127.0.0.1.nip.io/", ION_ERR_DENIED },
	{ "http://localhost.example/", ION_ERR_DENIED },
	{ "http://localhost./", ION_ERR_DENIED },
	{ "http://128.0.0.1/", ION_ERR_DENIED },
	{ "http://[::2]/", ION_ERR_DENIED },
	{ "http://[::ffff:127.0.0.1]/", ION_ERR_DENIED },
	{ "http://127.0.0.1@evil.example/", ION_ERR_DENIED },
	{ "http://127.0.0.1\\@evil.example/", ION_ERR_DENIED },
	{ "http://user:pw@127.0.0.1/", ION_ERR_DENIED },
	{ "https://user@idp.example/", ION_ERR_DENIED },
	{ "https://:pw@idp.example/", ION_ERR_DENIED },
	{ "ftp://127.0.0.1/", ION_ERR_DENIED },
	{ "file:///etc/passwd", ION_ERR_DENIED },
	{ "gopher://127.0.0.1/", ION_ERR_DENIED },
	{ "ldap://127.0.0.1/", ION_ERR_DENIED },
	{ "nosuchscheme://127.0.0.1/", ION_ERR_DENIED },
	{ "", ION_ERR_INVALID },
	{ "127.0.0.1/echo", ION_ERR_INVALID },
	{ "https://", ION_ERR_INVALID },
	{ "http://127.0.0.1 /", ION_ERR_INVALID },
	{ "http://127.0.0.1:99999/", ION_ERR_INVALID },
};

static void
test_url_policy(void **state)
{
	struct ion_http *h = handle(2000);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(refused_urls) / sizeof(refused_urls[0]); i++) {
		struct ion_http_resp resp;
		int r;

		memset(&resp, 0, sizeof(resp));
		r = ion_http_get(
		    h, refused_urls[i].url, NULL, 0, MAX_BODY, &resp);
		if (r != refused_urls[i].want)
			fail_msg("GET %s: got %d, want %d", refused_urls[i].url,
			    r, refused_urls[i].want);
		r = ion_http_post(h, refused_urls[i].url, "text/plain", "", 0,
		    "id", "secret", MAX_BODY, &resp);
		if (r != refused_urls[i].want)
			fail_msg("POST %s: got %d, want %d",
			    refused_urls[i].url, r, refused_urls[i].want);
	}
	assert_int_equal(
	    ion_http_get(h, NULL, NULL, 0, MAX_BODY, NULL), ION_ERR_INVALID);
	/* None of them was sent anywhere. */
	assert_int_equal(ion_http_request_count(h), 0);
	ion_http_free(&h);
}

static void
test_loopback_forms(void **state)
{
	struct ion_http *h = handle(2000);
	struct ion_http_resp resp;
	char u[128];
	/* Every spelling libcurl knows of a loopback host. */
	const char *ok[] = { "localhost", "LOCALHOST", "127.1", "2130706433",
		"0x7f.0.0.1" };
	size_t i;
	int r;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(u, sizeof(u), "http://%s:%u/status/200#frag", ok[i],
		    plain.port);
		if ((r = ion_http_get(h, u, NULL, 0, MAX_BODY, &resp)) != 0)
			fail_msg("%s: got %d", u, r);
		assert_int_equal(resp.status, 200);
		ion_http_resp_clear(&resp);
	}
	/* Allowed, but nothing listens there: tried, not refused. */
	snprintf(u, sizeof(u), "http://127.0.0.2:%u/", plain.port);
	assert_int_equal(
	    ion_http_get(h, u, NULL, 0, MAX_BODY, &resp), ION_ERR_UNAVAIL);
	snprintf(u, sizeof(u), "http://[::1]:%u/", closed_port());
	assert_int_equal(
	    ion_http_get(h, u, NULL, 0, MAX_BODY, &resp), ION_ERR_UNAVAIL);
	/* ::1 spelt out is still ::1 (url.h's rule, as the config's). */
	snprintf(u, sizeof(u), "http://[0:0:0:0:0:0:0:1]:%u/", closed_port());
	assert_int_equal(
	    ion_http_get(h, u, NULL, 0, MAX_BODY, &resp), ION_ERR_UNAVAIL);
	assert_int_equal(ion_http_request_count(h), 8);
	ion_http_free(&h);
}

static const char *const proxy_vars[] = { "http_proxy", "HTTP_PROXY",
	"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY" };

/* Proxy variables of the (possibly setuid) caller are never used. */
static void
test_env_proxy_ignored(void **state)
{
	struct ion_http *h;
	struct ion_http_resp resp;
	char proxy[64];
	json_t *j;
	long echo_before;
	size_t i;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	/* The test server records CONNECTs: make it everybody's proxy. */
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%u", plain.port);
	echo_before = hits_of("/echo");
	for (i = 0; i < sizeof(proxy_vars) / sizeof(proxy_vars[0]); i++)
		setenv(proxy_vars[i], proxy, 1);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	h = handle(2000);
	assert_int_equal(
	    ion_http_get(h, U("/echo"), NULL, 0, MAX_BODY, &resp), 0);
	assert_int_equal(resp.status, 200);
	ion_http_resp_clear(&resp);
	/* Would tunnel through the "proxy" if the environment counted. */
	assert_int_not_equal(ion_http_get(h, "https://idp.invalid/jwks", NULL,
				 0, MAX_BODY, &resp),
	    0);
	ion_http_free(&h);
	for (i = 0; i < sizeof(proxy_vars) / sizeof(proxy_vars[0]); i++)
		unsetenv(proxy_vars[i]);
	/* The /echo came directly (a proxied one has an absolute path). */
	assert_int_equal(hits_of("/echo"), echo_before + 1);
	j = server_hits();
	assert_int_equal(json_array_size(json_object_get(j, "connects")), 0);
	json_decref(j);
}

/* A configured proxy is used, except for loopback. */
static void
test_configured_proxy(void **state)
{
	struct ion_http_opts o;
	struct ion_http *h = NULL;
	struct ion_http_resp resp;
	char proxy[64];
	json_t *j, *c;
	long echo_before;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	memset(&o, 0, sizeof(o));
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%u", plain.port);
	o.proxy = proxy;
	o.timeout_ms = 3000;
	assert_int_equal(ion_http_new(&o, &h), 0);
	echo_before = hits_of("/echo");
	/* The test proxy refuses the tunnel: no answer from the server. */
	assert_int_equal(ion_http_get(h, "https://idp.invalid/jwks", NULL, 0,
			     MAX_BODY, &resp),
	    ION_ERR_UNAVAIL);
	assert_int_equal(
	    ion_http_get(h, U("/echo"), NULL, 0, MAX_BODY, &resp), 0);
	ion_http_resp_clear(&resp);
	ion_http_free(&h);
	assert_int_equal(hits_of("/echo"), echo_before + 1);
	j = server_hits();
	c = json_object_get(j, "connects");
	assert_int_equal(json_array_size(c), 1);
	assert_string_equal(
	    json_string_value(json_array_get(c, 0)), "idp.invalid:443");
	json_decref(j);
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

struct tls_server {
	char dir[32];
	pid_t pid;
	unsigned port;
};

static int
tls_setup(void **state)
{
	struct tls_server *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -1;
	*state = t;
	strcpy(t->dir, "/tmp/test_http.XXXXXX");
	if (mkdtemp(t->dir) == NULL)
		return -1;
	t->pid = spawn_server(t->dir, &t->port);
	return t->pid > 0 ? 0 : -1;
}

/* Runs even when the test failed: no server or key left behind. */
static int
tls_teardown(void **state)
{
	struct tls_server *t = *state;

	if (t != NULL) {
		stop_server(t->pid);
		if (t->dir[0] == '/')
			nftw(t->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
		free(t);
	}
	return 0;
}

static void
test_tls(void **state)
{
	struct tls_server *t = *state;
	char cert[64], capath[64], u[64];
	struct ion_http_opts o;
	struct ion_http *h = NULL;
	struct ion_http_resp resp;

	memset(&resp, 0, sizeof(resp));
	snprintf(cert, sizeof(cert), "%s/cert.pem", t->dir);
	snprintf(capath, sizeof(capath), "%s/capath", t->dir);
	snprintf(u, sizeof(u), "https://127.0.0.1:%u/echo", t->port);

	/* No trust anchors: nothing verifies. */
	memset(&o, 0, sizeof(o));
	o.timeout_ms = 3000;
	assert_int_equal(ion_http_new(&o, &h), 0);
	assert_int_equal(
	    ion_http_get(h, u, NULL, 0, MAX_BODY, &resp), ION_ERR_UNAVAIL);
	ion_http_free(&h);
	/* The system's anchors do not know this certificate either. */
	if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0) {
		o.ca_file = "/etc/ssl/certs/ca-certificates.crt";
		assert_int_equal(ion_http_new(&o, &h), 0);
		assert_int_equal(ion_http_get(h, u, NULL, 0, MAX_BODY, &resp),
		    ION_ERR_UNAVAIL);
		ion_http_free(&h);
	}
	/* ca_file alone. */
	o.ca_file = cert;
	assert_int_equal(ion_http_new(&o, &h), 0);
	assert_int_equal(ion_http_get(h, u, NULL, 0, MAX_BODY, &resp), 0);
	assert_int_equal(resp.status, 200);
	ion_http_resp_clear(&resp);
	/* The certificate names 127.0.0.1 only: VERIFYHOST holds. */
	snprintf(u, sizeof(u), "https://localhost:%u/echo", t->port);
	assert_int_equal(
	    ion_http_get(h, u, NULL, 0, MAX_BODY, &resp), ION_ERR_UNAVAIL);
	/* Plain HTTP to a TLS port is no answer. */
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/echo", t->port);
	assert_int_equal(
	    ion_http_get(h, u, NULL, 0, MAX_BODY, &resp), ION_ERR_UNAVAIL);
	ion_http_free(&h);
	/* ca_path alone (CAINFO off, the hashed directory used). */
	o.ca_file = NULL;
	o.ca_path = capath;
	snprintf(u, sizeof(u), "https://127.0.0.1:%u/echo", t->port);
	assert_int_equal(ion_http_new(&o, &h), 0);
	assert_int_equal(ion_http_get(h, u, NULL, 0, MAX_BODY, &resp), 0);
	assert_int_equal(resp.status, 200);
	ion_http_resp_clear(&resp);
	ion_http_free(&h);
}

static void
test_keylog_refused(void **state)
{
	static char sentinel;
	struct ion_http_opts o;
	struct ion_http *h = (struct ion_http *)(void *)&sentinel;
	char path[] = "/tmp/test_http_keylog.XXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	memset(&o, 0, sizeof(o));
	setenv("SSLKEYLOGFILE", path, 1);
	assert_int_equal(ion_http_new(&o, &h), ION_ERR_CONFIG);
	assert_ptr_equal(h, (struct ion_http *)(void *)&sentinel); /* kept */
	unsetenv("SSLKEYLOGFILE");
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(ion_http_new(NULL, &h), ION_ERR_INVALID);
}

static void
test_no_cookies(void **state)
{
	struct ion_http *h = handle(5000);
	struct ion_http_resp resp;
	json_t *j;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	assert_int_equal(
	    ion_http_get(h, U("/cookie"), NULL, 0, MAX_BODY, &resp), 0);
	ion_http_resp_clear(&resp);
	assert_int_equal(
	    ion_http_get(h, U("/echo"), NULL, 0, MAX_BODY, &resp), 0);
	j = body_json(&resp);
	assert_null(member(j, "cookie"));
	json_decref(j);
	ion_http_resp_clear(&resp);
	ion_http_free(&h);
}

/* On failure the caller's response is left alone. */
static void
test_ret_untouched(void **state)
{
	static char sentinel[] = "sentinel";
	struct ion_http *h = handle(5000);
	struct ion_http_resp resp, before;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	resp.status = 7;
	resp.body = sentinel;
	resp.len = 8;
	before = resp;
	assert_int_equal(
	    ion_http_get(h, "http://example.com/", NULL, 0, MAX_BODY, &resp),
	    ION_ERR_DENIED);
	assert_int_equal(
	    ion_http_get(h, U("/size/10"), NULL, 0, 5, &resp), ION_ERR_RANGE);
	assert_memory_equal(&resp, &before, sizeof(resp));
	ion_http_free(&h);
}

static const struct {
	const char *in, *out;
} escapes[] = {
	{ "", "" },
	{ "abcXYZ019-._~", "abcXYZ019-._~" },
	{ " ", "+" },
	{ "a:b c+%/\xc3\xa9", "a%3Ab+c%2B%25%2F%C3%A9" },
	{ "\n\x01\x7f\xff", "%0A%01%7F%FF" },
	{ "*'()!&=?#[]@$,;", "%2A%27%28%29%21%26%3D%3F%23%5B%5D%40%24%2C%3B" },
};

static void
test_form_escape(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
		char *s = ion_http_form_escape(escapes[i].in);

		assert_non_null(s);
		assert_string_equal(s, escapes[i].out);
		free(s);
	}
}

static void
test_resp_clear(void **state)
{
	struct ion_http *h = handle(5000);
	struct ion_http_resp resp;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	ion_http_resp_clear(&resp);
	ion_http_resp_clear(NULL);
	assert_int_equal(
	    ion_http_get(h, U("/cache"), NULL, 0, MAX_BODY, &resp), 0);
	ion_http_resp_clear(&resp);
	assert_null(resp.body);
	assert_null(resp.cache_control);
	assert_null(resp.content_type);
	assert_int_equal(resp.status, 0);
	assert_int_equal(resp.len, 0);
	ion_http_resp_clear(&resp);
	ion_http_free(&h);
}

static void
test_request_count(void **state)
{
	struct ion_http *h = handle(5000);
	struct ion_http_resp resp;
	int i;

	(void)state;
	memset(&resp, 0, sizeof(resp));
	for (i = 0; i < 5; i++) {
		assert_int_equal(
		    ion_http_get(h, U("/status/200"), NULL, 0, MAX_BODY, &resp),
		    0);
		ion_http_resp_clear(&resp);
	}
	assert_int_equal(ion_http_request_count(h), 5);
	ion_http_free(&h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_bearer),
		cmocka_unit_test(test_extra_header),
		cmocka_unit_test(test_post),
		cmocka_unit_test(test_basic_auth),
		cmocka_unit_test(test_status_passthrough),
		cmocka_unit_test(test_body_cap),
		cmocka_unit_test(test_redirect_not_followed),
		cmocka_unit_test(test_headers_captured),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_url_policy),
		cmocka_unit_test(test_loopback_forms),
		cmocka_unit_test(test_env_proxy_ignored),
		cmocka_unit_test(test_configured_proxy),
		cmocka_unit_test_setup_teardown(
		    test_tls, tls_setup, tls_teardown),
		cmocka_unit_test(test_keylog_refused),
		cmocka_unit_test(test_no_cookies),
		cmocka_unit_test(test_ret_untouched),
		cmocka_unit_test(test_form_escape),
		cmocka_unit_test(test_resp_clear),
		cmocka_unit_test(test_request_count),
	};

	/* A key log file would make every handle refuse to work. */
	unsetenv("SSLKEYLOGFILE");
	return cmocka_run_group_tests(tests, setup, teardown);
}
