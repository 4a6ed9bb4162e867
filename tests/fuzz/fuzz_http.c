/*
 * The answers the module reads over HTTP: discovery, the token response,
 * userinfo, and the relay's answers to registration and polling.  They are
 * parsed inside src/oidc.c and src/relayc.c straight from an HTTP
 * response, so this target serves the fuzzed answer from a small HTTP
 * server on 127.0.0.1 (a thread of this process) and calls the real
 * functions through the real src/http.c (libcurl) with one struct
 * ion_http for the whole run, as a sign-in uses one for all its requests:
 * its connection stays open from one input to the next, and state one
 * answer leaves behind meets the next (crashes/README.md).
 *
 * Input: a first line "KIND MODE", then the answer.  KIND is discovery,
 * token, userinfo, register or poll (the function called).  MODE is an
 * HTTP status: the rest of the input is then the body of a well-formed
 * keep-alive answer with that status; or "raw": the rest is the whole
 * answer, status line and headers included, and the server closes the
 * connection after it (so src/http.c's header checks get fuzzed too).
 * "@ISSUER@" stands for the server's base URL (http://127.0.0.1:PORT).
 *
 * The status checks follow the error contracts of oidc.h and relayc.h.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "errors.h"
#include "fuzz.h"
#include "http.h"
#include "oidc.h"
#include "relayc.h"
#include "url.h"

#define MAX_CONNS 8
#define REQ_MAX (64 * 1024)
#define ANSWER_MAX (1024 * 1024)
#define DEADLINE_MS 3000 /* per input: nothing here should take long */

enum kind { K_DISCOVERY, K_TOKEN, K_USERINFO, K_REGISTER, K_POLL, K_N };
static const char *const kind_names[K_N] = { "discovery", "token", "userinfo",
	"register", "poll" };

/* The server: one thread, a few connections, the answer to give next. */
static struct {
	int lfd;
	unsigned short port;
	pthread_mutex_t lock;
	char *answer; /* owned by the main thread, copied under lock */
	size_t answer_len;
	bool close_after;
	int fds[MAX_CONNS];
	char req[MAX_CONNS][REQ_MAX];
	size_t req_len[MAX_CONNS];
	char out[ANSWER_MAX + 256];
} srv = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct ion_http *http;
static char base[64];
static struct ion_cfg cfg;
static struct ion_provider provider;
static json_t *fixed_claims;

static void
drop(int i)
{
	close(srv.fds[i]);
	srv.fds[i] = -1;
	srv.req_len[i] = 0;
}

/* The length of the complete request at the start of buf, or 0. */
static size_t
request_len(const char *buf, size_t len)
{
	const char *end, *p;
	unsigned long body = 0;

	if ((end = memmem(buf, len, "\r\n\r\n", 4)) == NULL)
		return 0;
	for (p = buf; p < end; p++)
		if (*p == '\n' && (size_t)(end - p) > 16 &&
		    strncasecmp(p + 1, "Content-Length:", 15) == 0)
			body = strtoul(p + 16, NULL, 10);
	if ((size_t)(end + 4 - buf) + body > len)
		return 0;
	return (size_t)(end + 4 - buf) + body;
}

static void
answer(int i)
{
	size_t len, off = 0;
	bool close_after;
	ssize_t n;

	pthread_mutex_lock(&srv.lock);
	len = srv.answer != NULL ? srv.answer_len : 0;
	if (len > 0)
		memcpy(srv.out, srv.answer, len);
	close_after = srv.close_after;
	pthread_mutex_unlock(&srv.lock);
	while (off < len) {
		n = send(srv.fds[i], srv.out + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (close_after || off < len)
		drop(i);
}

static void *
serve(void *arg)
{
	struct pollfd pfd[MAX_CONNS + 1];
	size_t used;
	ssize_t n;
	int i, fd;

	(void)arg;
	for (;;) {
		pfd[0].fd = srv.lfd;
		pfd[0].events = POLLIN;
		for (i = 0; i < MAX_CONNS; i++) {
			pfd[i + 1].fd = srv.fds[i];
			pfd[i + 1].events = POLLIN;
		}
		if (poll(pfd, MAX_CONNS + 1, -1) < 0)
			continue;
		if ((pfd[0].revents & POLLIN) != 0 &&
		    (fd = accept(srv.lfd, NULL, NULL)) >= 0) {
			for (i = 0; i < MAX_CONNS && srv.fds[i] != -1; i++)
				;
			if (i == MAX_CONNS)
				drop(i = 0);
			srv.fds[i] = fd;
		}
		for (i = 0; i < MAX_CONNS; i++) {
			if (srv.fds[i] == -1 || pfd[i + 1].fd != srv.fds[i] ||
			    pfd[i + 1].revents == 0)
				continue;
			n = recv(srv.fds[i], srv.req[i] + srv.req_len[i],
			    REQ_MAX - srv.req_len[i], 0);
			if (n <= 0) {
				drop(i);
				continue;
			}
			srv.req_len[i] += (size_t)n;
			while (srv.fds[i] != -1 &&
			    (used = request_len(srv.req[i], srv.req_len[i])) >
				0) {
				memmove(srv.req[i], srv.req[i] + used,
				    srv.req_len[i] - used);
				srv.req_len[i] -= used;
				answer(i);
			}
			if (srv.fds[i] != -1 && srv.req_len[i] == REQ_MAX)
				drop(i);
		}
	}
	return NULL;
}

static void
start_server(void)
{
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	pthread_t t;
	int i;

	for (i = 0; i < MAX_CONNS; i++)
		srv.fds[i] = -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((srv.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(srv.lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(srv.lfd, 16) != 0 ||
	    getsockname(srv.lfd, (struct sockaddr *)&sa, &salen) != 0)
		fuzz_fail("cannot listen on 127.0.0.1");
	srv.port = ntohs(sa.sin_port);
	if (pthread_create(&t, NULL, serve, NULL) != 0)
		fuzz_fail("cannot start the server thread");
	pthread_detach(t);
}

static char *
url(const char *path)
{
	char *u = fuzz_malloc(strlen(base) + strlen(path) + 1);

	strcpy(u, base);
	strcat(u, path);
	return u;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char client_id[] = "pam-ion-fuzz";
	static char client_secret[] = "fuzz-secret";
	static char redirect_uri[] = "https://relay.example/callback";
	static char scope[] = "openid";
	struct ion_http_opts opts;

	(void)argc;
	(void)argv;
	start_server();
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", srv.port);
	/* http.c refuses to run with it set (see ion_http_new()). */
	unsetenv("SSLKEYLOGFILE");
	memset(&opts, 0, sizeof(opts));
	opts.timeout_ms = DEADLINE_MS;
	if (ion_http_new(&opts, &http) != 0)
		fuzz_fail("ion_http_new");

	cfg.issuer = base;
	cfg.client_id = client_id;
	cfg.client_secret = client_secret;
	cfg.redirect_uri = redirect_uri;
	cfg.scope = scope;
	/* No usable cache: discovery goes to the server, stores nothing. */
	cfg.cache_dir = fuzz_path("no/such/cache");
	cfg.allowed_algs = ION_ALG_RS256;
	provider.issuer = base;
	provider.authorization_endpoint = url("/authorize");
	provider.token_endpoint = url("/token");
	provider.jwks_uri = url("/jwks");
	provider.userinfo_endpoint = url("/userinfo");
	fixed_claims = json_pack("{s:s, s:s, s:s}", "iss", base, "sub", "alice",
	    "email", "alice@example.com");
	if (fixed_claims == NULL)
		fuzz_fail("json_pack");
	return 0;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool
allowed_or_null(const char *u)
{
	return u == NULL || ion_url_allowed(u);
}

static void
run_discovery(void)
{
	struct ion_provider *p = NULL;
	const char *why = NULL;
	size_t n = strlen(base);
	int r;

	r = ion_oidc_discover(http, &cfg, &p, &why);
	fuzz_log(
	    "discovery: %s (%s)", ion_strerror(r), why != NULL ? why : "-");
	if (r != 0) {
		FUZZ_CHECK(p == NULL && why != NULL);
		return;
	}
	/* The issuer is ours; every endpoint is one we may call. */
	FUZZ_CHECK(strncmp(p->issuer, base, n) == 0 &&
	    (p->issuer[n] == '\0' || strcmp(p->issuer + n, "/") == 0));
	FUZZ_CHECK(p->authorization_endpoint != NULL &&
	    ion_url_allowed(p->authorization_endpoint));
	FUZZ_CHECK(
	    p->token_endpoint != NULL && ion_url_allowed(p->token_endpoint));
	FUZZ_CHECK(p->jwks_uri != NULL && ion_url_allowed(p->jwks_uri));
	FUZZ_CHECK(allowed_or_null(p->userinfo_endpoint));
	ion_provider_free(&p);
}

static void
run_token(long status)
{
	struct ion_tokens t;
	const char *why = NULL;
	int r;

	memset(&t, 0, sizeof(t));
	r = ion_oidc_exchange(
	    http, &cfg, &provider, "the-code", "verifier", &t, &why);
	fuzz_log("%s: %s (%s)", kind_names[K_TOKEN], ion_strerror(r),
	    why != NULL ? why : "-");
	if (status >= 500)
		FUZZ_CHECK(r == ION_ERR_UNAVAIL);
	else if (status == 400 || status == 401)
		FUZZ_CHECK(r == ION_ERR_REFUSED);
	else if (status > 0 && status != 200)
		FUZZ_CHECK(r == ION_ERR_AUTH);
	if (r != 0) {
		FUZZ_CHECK(t.id_token == NULL && t.access_token == NULL);
		return;
	}
	FUZZ_CHECK(status <= 0 || status == 200);
	FUZZ_CHECK(t.id_token != NULL && t.id_token[0] != '\0');
	FUZZ_CHECK(t.access_token == NULL || t.access_token[0] != '\0');
	ion_tokens_clear(&t);
}

static void
run_userinfo(long status)
{
	json_t *claims = json_deep_copy(fixed_claims), *v;
	const char *why = NULL, *key;
	int r;

	if (claims == NULL)
		fuzz_fail("out of memory");
	r = ion_oidc_userinfo(http, &provider, "access-token", claims, &why);
	fuzz_log("%s: %s (%s)", kind_names[K_USERINFO], ion_strerror(r),
	    why != NULL ? why : "-");
	if (status >= 500)
		FUZZ_CHECK(r == ION_ERR_UNAVAIL);
	else if (status > 0 && status != 200)
		FUZZ_CHECK(r == ION_ERR_AUTH);
	/*
	 * Whatever the answer, the id_token's claims stay as they were, but
	 * for its lone email: email and email_verified go as a pair.
	 */
	json_object_foreach(fixed_claims, key, v)
	{
		if (strcmp(key, "email") == 0)
			continue;
		FUZZ_CHECK(json_equal(json_object_get(claims, key), v));
	}
	if (r != 0)
		FUZZ_CHECK(json_equal(claims, fixed_claims));
	json_decref(claims);
}

static void
run_register(long status)
{
	static const struct ion_relay_login login = {
		.key = "Fz9-relay-key-of-the-fuzzer-host-0123456789",
		.secret = "dGhlIHBvbGwgc2VjcmV0IG9mIHRoZSBmdXp6ZXIgIQ",
		.state = "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU",
		.authorize_url = "https://auth.example/authorize?state=x",
		.host = "host.example",
		.user = "alice",
		.rhost = "192.0.2.1",
		.service = "sshd",
		.confirm = true,
	};
	const char *why = NULL;
	char *link = NULL;
	unsigned expires = 0;
	int r;

	r = ion_relay_register(http, base, &login, &link, &expires, &why);
	fuzz_log("%s: %s (%s)", kind_names[K_REGISTER], ion_strerror(r),
	    why != NULL ? why : "-");
	/*
	 * relayc.h: 401 refuses this host's key, another refusal (4xx but
	 * 429) is ours, the rest the relay's.
	 */
	if (status == 401)
		FUZZ_CHECK(r == ION_ERR_CONFIG);
	else if (status >= 400 && status < 500 && status != 429)
		FUZZ_CHECK(r == ION_ERR_INVALID);
	else if (status > 0 && status != 201)
		FUZZ_CHECK(r == ION_ERR_UNAVAIL);
	else if (status == 201)
		FUZZ_CHECK(r == 0 || r == ION_ERR_UNAVAIL);
	if (r != 0) {
		FUZZ_CHECK(link == NULL);
		return;
	}
	FUZZ_CHECK(link != NULL && link[0] != '\0' && strlen(link) <= 256);
	FUZZ_CHECK(expires >= 1 && expires <= 86400);
	free(link);
}

static void
run_poll(long status)
{
	struct ion_relay_result res;
	const char *why = NULL;
	int r;

	memset(&res, 0, sizeof(res));
	r = ion_relay_poll(http, base,
	    "Fz9-relay-key-of-the-fuzzer-host-0123456789",
	    "dGhlIHBvbGwgc2VjcmV0IG9mIHRoZSBmdXp6ZXIgIQ", 0, &res, &why);
	fuzz_log("%s: %s (%s)", kind_names[K_POLL], ion_strerror(r),
	    why != NULL ? why : "-");
	if (status == 202)
		FUZZ_CHECK(r == ION_ERR_PENDING);
	else if (status == 404)
		FUZZ_CHECK(r == ION_ERR_NOT_FOUND);
	else if (status == 401)
		FUZZ_CHECK(r == ION_ERR_CONFIG);
	else if (status >= 400 && status < 500 && status != 429)
		FUZZ_CHECK(r == ION_ERR_INVALID);
	else if (status == 502 || status == 503 || status == 504)
		FUZZ_CHECK(r == ION_ERR_RETRY); /* busy or restarting */
	else if (status > 0 && status != 200)
		FUZZ_CHECK(r == ION_ERR_UNAVAIL);
	else if (status == 200)
		FUZZ_CHECK(r == 0 || r == ION_ERR_UNAVAIL);
	FUZZ_CHECK(res.retry_after_s <= ION_RELAY_RETRY_AFTER_MAX_S);
	if (r != 0) {
		FUZZ_CHECK(res.code == NULL && res.error == NULL &&
		    res.error_description == NULL && res.iss == NULL);
		return;
	}
	/* A code or an error, never both. */
	FUZZ_CHECK((res.code == NULL) != (res.error == NULL));
	ion_relay_result_clear(&res);
}

/* The framed answer's status: a final one with a body, else 200. */
static long
parse_status(const char *s, size_t len)
{
	long v = 0;
	size_t i;

	if (len == 0 || len > 3)
		return 200;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 200;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 200 || v > 599 || v == 204 || v == 205 || v == 304)
		return 200;
	return v;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const tokens[] = { "@ISSUER@" };
	const char *values[] = { base };
	const char *line = (const char *)data, *nl, *sp, *mode;
	size_t line_len, klen, mlen, blen, hlen, i, sum = 0;
	enum kind k;
	char *body, *framed = NULL;
	long status = -1; /* raw: unknown */

	if ((nl = memchr(data, '\n', size)) == NULL)
		return 0;
	line_len = (size_t)(nl - line);
	sp = memchr(line, ' ', line_len);
	klen = sp != NULL ? (size_t)(sp - line) : line_len;
	mode = sp != NULL ? sp + 1 : nl;
	mlen = (size_t)(nl - mode);
	for (k = 0; k < K_N; k++)
		if (strlen(kind_names[k]) == klen &&
		    memcmp(kind_names[k], line, klen) == 0)
			break;
	if (k == K_N) {
		/* An unknown kind still picks one: mutations stay useful. */
		for (i = 0; i < klen; i++)
			sum += (unsigned char)line[i];
		k = (enum kind)(sum % K_N);
	}
	body = fuzz_expand((const uint8_t *)nl + 1, size - line_len - 1, tokens,
	    values, 1, &blen);
	if (blen > ANSWER_MAX - 256)
		blen = ANSWER_MAX - 256;

	pthread_mutex_lock(&srv.lock);
	if (mlen == 3 && memcmp(mode, "raw", 3) == 0) {
		srv.answer = body;
		srv.answer_len = blen;
		srv.close_after = true;
	} else {
		status = parse_status(mode, mlen);
		framed = fuzz_malloc(blen + 128);
		hlen = (size_t)snprintf(framed, 128,
		    "HTTP/1.1 %ld Fuzz\r\nContent-Type: application/json\r\n"
		    "Content-Length: %zu\r\n\r\n",
		    status, blen);
		memcpy(framed + hlen, body, blen);
		srv.answer = framed;
		srv.answer_len = hlen + blen;
		srv.close_after = false;
	}
	pthread_mutex_unlock(&srv.lock);

	ion_http_set_deadline(http, now_ms() + DEADLINE_MS);
	switch (k) {
	case K_DISCOVERY:
		run_discovery();
		break;
	case K_TOKEN:
		run_token(status);
		break;
	case K_USERINFO:
		run_userinfo(status);
		break;
	case K_REGISTER:
		run_register(status);
		break;
	default:
		run_poll(status);
		break;
	}

	pthread_mutex_lock(&srv.lock);
	srv.answer = NULL;
	srv.answer_len = 0;
	pthread_mutex_unlock(&srv.lock);
	free(framed);
	free(body);
	return 0;
}
