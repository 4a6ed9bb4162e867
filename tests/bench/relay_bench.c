/*
 * relay_bench: load benchmark for pam-ion-relay.
 *
 * For each setup (a store and a number of relay instances: memory, redis,
 * redis with 2 instances) and each run size N it starts a fresh
 * redis-server when the store is Redis (127.0.0.1, kernel-chosen port, no
 * persistence) and fresh relays on 127.0.0.1, then measures:
 *   1. memory per pending login: Redis used_memory (INFO memory) before and
 *      after N registrations, and every relay's RSS; memory per parked
 *      long-poll (as many parked polls as the open-file limits allow, held
 *      by forked client processes on the last instance, "B");
 *   2. wake latency: callbacks sent one at a time to the first instance
 *      ("A") while the polls are parked on B, from just before the callback
 *      is written to the arrival of the parked poll's 200 answer
 *      (CLOCK_MONOTONIC, comparable across processes);
 *   3. callback+poll pairs per second with C concurrent pairs, each pair a
 *      poll and a callback on two keep-alive connections, spread over the
 *      instances; the CPU every process used meanwhile (/proc/PID/stat).
 *
 * The HTTP/1.1 client is a small epoll loop written here: it speaks only the
 * four requests the bench needs and parses Content-Length and chunked
 * answers; the Redis client (INFO, MEMORY USAGE, SCAN, PING) is a blocking
 * RESP2 reader.  It talks to 127.0.0.1 only, every loop is bounded in count
 * and time, and redis-server, the relays and every client process are killed
 * at the end (and get SIGKILL through PR_SET_PDEATHSIG if the bench itself
 * dies).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZES 8
#define MAX_SETUPS 4
#define MAX_INST 4
#define MAX_RELAY_ARGS 16
#define MAX_WORKERS 16
#define CONNECT_WINDOW 256  /* connects in flight per client process */
#define IN_MAX (256 * 1024) /* largest answer the client accepts */
#define NS_PER_S INT64_C(1000000000)
#define NS_PER_MS INT64_C(1000000)

/*
 * The authorize URL is shaped as the module builds it (request_params in
 * src/module/oidc.c): its eight parameters in its order, about 400 bytes
 * with a realistic endpoint, client id and redirect URI.  The context is
 * the module's four fields with realistic lengths.
 */
#define AUTHORIZE_PREFIX                                                       \
	"https://login.ion.example.org/realms/corp/protocol/"                  \
	"openid-connect/auth"
#define AUTHORIZE_QUERY_1                                                      \
	"?response_type=code&client_id=pam-ion-build-servers&redirect_uri="    \
	"https%%3A%%2F%%2Fpam-relay.corp.example.org%%2Fcallback"              \
	"&scope=openid+profile+email&state="
#define AUTHORIZE_QUERY_2 "&code_challenge_method=S256"
#define CONTEXT_JSON                                                           \
	"{\"host\":\"build-server-17.corp.example.org\",\"user\":"             \
	"\"alice.longname\",\"rhost\":\"2001:db8:4006:812::200e\","            \
	"\"service\":\"sshd\"}"
/* printf format; arguments: state, state, nonce, code challenge. */
#define REGISTER_JSON                                                          \
	"{\"state\":\"%s\",\"authorize_url\":\"" AUTHORIZE_PREFIX              \
	    AUTHORIZE_QUERY_1                                                  \
	"%s&nonce=%s&code_challenge=%s" AUTHORIZE_QUERY_2                      \
	"\",\"context\":" CONTEXT_JSON "}"
#define PUBLIC_URL "http://127.0.0.1"
#define STORE_PREFIX "pam_ion:"
#define REDIS_SERVER_DEFAULT "/usr/bin/redis-server"
/*
 * The bench is the relay's one client: its key, and the keys-file line for
 * it (SHA-256 of the key, as pam-ion-relay --new-client-key prints it).
 */
#define CLIENT_KEY "relay-bench-key-0123456789abcdefghijklmnop"
#define CLIENT_LINE                                                            \
	"relay-bench "                                                         \
	"b204af1843fa64db0be8545b007fccca82e08a56d7d8ac0dee64de9312809252\n"
#define RELAY_PATH_DEFAULT "/work/main/build/src/relay/pam-ion-relay"

/* A store and a number of relay instances, one column group of the table. */
struct setup {
	bool redis;
	int inst;
	char label[16]; /* "memory", "redis", "redis x2": the table's header */
	char file[16];	/* "memory", "redis1", "redis2": log file names */
};

/* Options. */
static struct {
	const char *relay;
	const char *redis_server;
	const char *logdir;
	struct setup setups[MAX_SETUPS];
	int nsetups;
	uint32_t sizes[MAX_SIZES];
	int nsizes;
	uint32_t max_park;
	uint32_t park_per_worker;
	uint32_t wake_samples;
	int reg_conns;
	int pair_slots;
	int pair_procs;
	double pair_seconds;
	uint32_t pair_batch;
	int pair_rounds;
	int time_limit;
	uint32_t max_pending;
	uint32_t max_conns;
	const char *relay_args[MAX_RELAY_ARGS];
	int nrelay_args;
} opt = {
	.relay = RELAY_PATH_DEFAULT,
	.redis_server = REDIS_SERVER_DEFAULT,
	.logdir = "/tmp",
	.max_park = 18000,
	.park_per_worker = 9000,
	.wake_samples = 2000,
	.reg_conns = 64,
	.pair_slots = 128,
	.pair_procs = 1,
	.pair_seconds = 5.0,
	.pair_batch = 40000,
	.pair_rounds = 4,
	.time_limit = 900,
	.max_pending = 100000,
	.max_conns = 19000,
};

static pid_t g_parent;
static volatile pid_t g_relays[MAX_INST] = { -1, -1, -1, -1 };
static volatile pid_t g_redis = -1;
static volatile pid_t g_kids[MAX_WORKERS * 2];
static int g_ninst = 1;			     /* relays in this run */
static struct sockaddr_in g_addrs[MAX_INST]; /* relay i listens here */
static int g_redis_port;
static char g_host[32];

/* ---------------------------------------------------------------- misc */

static void
kill_all(void)
{
	size_t i;

	if (getpid() != g_parent)
		return;
	for (i = 0; i < MAX_INST; i++)
		if (g_relays[i] > 0)
			kill(g_relays[i], SIGKILL);
	if (g_redis > 0)
		kill(g_redis, SIGKILL);
	for (i = 0; i < sizeof g_kids / sizeof g_kids[0]; i++)
		if (g_kids[i] > 0)
			kill(g_kids[i], SIGKILL);
}

__attribute__((format(printf, 1, 2), noreturn)) static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("relay_bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	kill_all();
	_exit(1);
}

__attribute__((format(printf, 1, 2))) static void
note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("relay_bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void
on_signal(int sig)
{
	static const char msg[] = "relay_bench: stopped by signal or time "
				  "limit; relay and clients killed\n";

	kill_all();
	if (write(2, msg, sizeof msg - 1) < 0) {
		/* nothing left to do */
	}
	_exit(128 + sig);
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void *
xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);

	if (p == NULL)
		die("out of memory");
	return p;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double
pct(const double *v, size_t n, double q)
{
	size_t k;

	if (n == 0)
		return -1;
	k = (size_t)(q * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

/* ----------------------------------------------------------- identifiers */

struct login {
	char bearer[44];    /* base64url(P), P = 32 random bytes */
	char state[44];	    /* base64url(SHA-256(P)) */
	char nonce[44];	    /* base64url(SHA-256("pam_ion-nonce" || S)) */
	char challenge[44]; /* a PKCE S256 challenge: 43 random characters */
};

static void
b64url(const unsigned char *in, size_t n, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, o = 0;
	uint32_t v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = tab[v >> 6 & 63];
		out[o++] = tab[v & 63];
	}
	if (n - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
	} else if (n - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = tab[v >> 6 & 63];
	}
	out[o] = '\0';
}

#define NONCE_LABEL "pam_ion-nonce"
#define NONCE_LABEL_LEN (sizeof NONCE_LABEL - 1)

static const unsigned char *
buf_nonce(unsigned char *nb, const char *state)
{
	memcpy(nb, NONCE_LABEL, NONCE_LABEL_LEN);
	memcpy(nb + NONCE_LABEL_LEN, state, 43);
	return nb;
}

static struct login *
make_logins(uint32_t n)
{
	struct login *l = xcalloc(n, sizeof *l);
	unsigned char p[32], h[EVP_MAX_MD_SIZE], nb[NONCE_LABEL_LEN + 43];
	unsigned int hl;
	uint32_t i;

	for (i = 0; i < n; i++) {
		if (RAND_bytes(p, sizeof p) != 1)
			die("RAND_bytes failed");
		b64url(p, sizeof p, l[i].bearer);
		if (EVP_Digest(p, sizeof p, h, &hl, EVP_sha256(), NULL) != 1 ||
		    hl != 32)
			die("SHA-256 failed");
		b64url(h, 32, l[i].state);
		/* The relay admits only the nonce derived from the state. */
		if (EVP_Digest(buf_nonce(nb, l[i].state), NONCE_LABEL_LEN + 43,
			h, &hl, EVP_sha256(), NULL) != 1 ||
		    hl != 32)
			die("SHA-256 failed");
		b64url(h, 32, l[i].nonce);
		/* Any 43 characters: the relay keeps but does not check it */
		if (RAND_bytes(p, sizeof p) != 1)
			die("RAND_bytes failed");
		b64url(p, sizeof p, l[i].challenge);
	}
	return l;
}

/* The authorization code sent for login idx of batch b (printable ASCII). */
static void
code_for(char out[32], uint32_t batch, uint32_t idx)
{
	snprintf(out, 32, "c0de%08" PRIx32 "%08" PRIx32, batch, idx);
}

/* ------------------------------------------------------------- requests */

static size_t
req_register(char *b, size_t cap, const struct login *l)
{
	char body[1024];
	int bl, n;

	bl = snprintf(body, sizeof body, REGISTER_JSON, l->state, l->state,
	    l->nonce, l->challenge);
	if (bl < 0 || (size_t)bl >= sizeof body)
		die("registration body too long");
	n = snprintf(b, cap,
	    "POST /v1/logins HTTP/1.1\r\nHost: %s\r\n"
	    "PAM-Ion-Client-Key: " CLIENT_KEY "\r\n"
	    "Authorization: Bearer %s\r\n"
	    "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
	    g_host, l->bearer, bl, body);
	if (n < 0 || (size_t)n >= cap)
		die("registration request too long");
	return (size_t)n;
}

static size_t
req_poll(char *b, size_t cap, const struct login *l)
{
	int n = snprintf(b, cap,
	    "GET /v1/logins/result?wait=25 HTTP/1.1\r\nHost: %s\r\n"
	    "PAM-Ion-Client-Key: " CLIENT_KEY "\r\n"
	    "Authorization: Bearer %s\r\n\r\n",
	    g_host, l->bearer);

	if (n < 0 || (size_t)n >= cap)
		die("poll request too long");
	return (size_t)n;
}

static size_t
req_callback(
    char *b, size_t cap, const struct login *l, uint32_t batch, uint32_t idx)
{
	char code[32];
	int n;

	code_for(code, batch, idx);
	n = snprintf(b, cap,
	    "GET /callback?state=%s&code=%s HTTP/1.1\r\nHost: %s\r\n\r\n",
	    l->state, code, g_host);
	if (n < 0 || (size_t)n >= cap)
		die("callback request too long");
	return (size_t)n;
}

static size_t
req_get(char *b, size_t cap, const char *path, bool close_after)
{
	int n = snprintf(b, cap, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path,
	    g_host, close_after ? "Connection: close\r\n" : "");

	if (n < 0 || (size_t)n >= cap)
		die("request too long");
	return (size_t)n;
}

/* ------------------------------------------------------ answer parsing */

struct resp {
	int status;
	bool close;
	char *body;
	size_t body_len;
	size_t total; /* bytes of the buffer the answer used */
};

static bool
header_is(const char *line, size_t len, const char *name, const char **val,
    size_t *vlen)
{
	size_t nl = strlen(name);

	if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
		return false;
	*val = line + nl + 1;
	*vlen = len - nl - 1;
	while (*vlen > 0 && (**val == ' ' || **val == '\t')) {
		(*val)++;
		(*vlen)--;
	}
	return true;
}

static bool
has_token(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok), i;

	for (i = 0; i + tl <= n; i++)
		if (strncasecmp(v + i, tok, tl) == 0)
			return true;
	return false;
}

/*
 * Parse one HTTP/1.1 answer at the start of buf.  Returns 1 when complete
 * (r filled; a chunked body is decoded in place), 0 when more bytes are
 * needed, -1 when the bytes are not an answer we understand.
 */
static int
parse_resp(char *buf, size_t len, struct resp *r)
{
	char *end, *p, *eol, *crlf;
	const char *v;
	size_t hlen, vlen, pos, out, data;
	unsigned long cl = 0, sz;
	bool have_cl = false, chunked = false;
	int pass;

	memset(r, 0, sizeof *r);
	end = memmem(buf, len, "\r\n\r\n", 4);
	if (end == NULL)
		return len > 65536 ? -1 : 0;
	hlen = (size_t)(end - buf) + 4;
	if (hlen < 16 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ' ||
	    buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' ||
	    buf[11] < '0' || buf[11] > '9')
		return -1;
	r->status =
	    (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	if (buf[7] == '0')
		r->close = true;
	p = memchr(buf, '\n', hlen);
	if (p == NULL)
		return -1;
	for (p++; p < end; p = eol + 2) {
		eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
		if (eol == NULL)
			return -1;
		if (header_is(
			p, (size_t)(eol - p), "content-length", &v, &vlen)) {
			cl = strtoul(v, NULL, 10);
			have_cl = true;
		} else if (header_is(p, (size_t)(eol - p), "transfer-encoding",
			       &v, &vlen)) {
			chunked = has_token(v, vlen, "chunked");
		} else if (header_is(
			       p, (size_t)(eol - p), "connection", &v, &vlen)) {
			if (has_token(v, vlen, "close"))
				r->close = true;
		}
	}
	r->body = buf + hlen;
	if (r->status < 200 || r->status == 204 || r->status == 304) {
		r->total = hlen;
		return 1;
	}
	if (!chunked) {
		if (!have_cl)
			return -1; /* read-until-close: not used by the relay */
		if (cl > IN_MAX)
			return -1;
		if (len < hlen + cl)
			return 0;
		r->body_len = cl;
		r->total = hlen + cl;
		return 1;
	}
	/* Chunked: first check it is complete, then decode in place. */
	for (pass = 0; pass < 2; pass++) {
		pos = hlen;
		out = hlen;
		for (;;) {
			crlf = memmem(buf + pos, len - pos, "\r\n", 2);
			if (crlf == NULL)
				return 0;
			sz = strtoul(buf + pos, NULL, 16);
			data = (size_t)(crlf - buf) + 2;
			if (sz > IN_MAX)
				return -1;
			if (sz == 0) {
				pos = data;
				for (;;) { /* trailers up to an empty line */
					crlf = memmem(
					    buf + pos, len - pos, "\r\n", 2);
					if (crlf == NULL)
						return 0;
					if (crlf == buf + pos) {
						pos += 2;
						break;
					}
					pos = (size_t)(crlf - buf) + 2;
				}
				break;
			}
			if (len < data + sz + 2)
				return 0;
			if (pass == 1)
				memmove(buf + out, buf + data, sz);
			out += sz;
			pos = data + sz + 2;
		}
		r->body_len = out - hlen;
		r->total = pos;
	}
	return 1;
}

/* ---------------------------------------------------------- connections */

enum { C_CLOSED, C_CONNECTING, C_OPEN };

struct conn {
	int fd;
	uint8_t st;
	uint8_t busy;	 /* a request is out, its answer not yet read */
	uint8_t counted; /* parking: the first poll has been written */
	uint8_t side;	 /* pairs: 0 = poll, 1 = callback */
	uint8_t want_out;
	uint8_t inst; /* the relay instance it connects to */
	int err;
	uint32_t idx;
	uint32_t slot;
	char *out;
	uint32_t out_len, out_off;
	char *in;
	uint32_t in_len, in_cap;
};

#define EV_SENT 1
#define EV_RESP 2
#define EV_DEAD 4

static void
conn_init(struct conn *c)
{
	memset(c, 0, sizeof *c);
	c->fd = -1;
}

static int
conn_set_out(struct conn *c, int ep, bool on)
{
	struct epoll_event ev;

	if (c->want_out == on)
		return 0;
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN | (on ? EPOLLOUT : 0);
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
		c->err = errno;
		return -1;
	}
	c->want_out = on;
	return 0;
}

static void
conn_close(struct conn *c, int ep)
{
	if (c->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	free(c->out);
	free(c->in);
	c->fd = -1;
	c->st = C_CLOSED;
	c->busy = 0;
	c->want_out = 0;
	c->out = c->in = NULL;
	c->out_len = c->out_off = c->in_len = c->in_cap = 0;
}

static int
conn_connect(struct conn *c, int ep)
{
	struct epoll_event ev;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		c->err = errno;
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->fd = fd;
	if (connect(fd, (struct sockaddr *)&g_addrs[c->inst],
		sizeof g_addrs[0]) == 0)
		c->st = C_OPEN;
	else if (errno == EINPROGRESS)
		c->st = C_CONNECTING;
	else {
		c->err = errno;
		close(fd);
		c->fd = -1;
		return -1;
	}
	memset(&ev, 0, sizeof ev);
	c->want_out = c->st == C_CONNECTING;
	ev.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0);
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		c->err = errno;
		close(fd);
		c->fd = -1;
		c->st = C_CLOSED;
		return -1;
	}
	return 0;
}

/* Write a request: 1 written, 0 queued (sent later, EV_SENT), -1 failed. */
static int
conn_send(struct conn *c, int ep, const char *buf, size_t len)
{
	ssize_t w;
	char *n;

	if (c->st == C_CLOSED)
		return -1;
	c->busy = 1;
	if (c->st == C_OPEN && c->out_len == 0) {
		w = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				c->err = errno;
				return -1;
			}
			w = 0;
		}
		if ((size_t)w == len)
			return 1;
		buf += w;
		len -= (size_t)w;
	}
	n = realloc(c->out, c->out_len + len);
	if (n == NULL)
		die("out of memory");
	memcpy(n + c->out_len, buf, len);
	c->out = n;
	c->out_len += (uint32_t)len;
	return conn_set_out(c, ep, true) < 0 ? -1 : 0;
}

/* Writable: finish a connect, flush queued bytes. 1 when a queue drained. */
static int
conn_flush(struct conn *c, int ep)
{
	socklen_t sl = sizeof c->err;
	ssize_t w;

	if (c->st == C_CONNECTING) {
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &c->err, &sl) < 0)
			c->err = errno;
		if (c->err != 0)
			return -1;
		c->st = C_OPEN;
	}
	if (c->out_len == 0)
		return conn_set_out(c, ep, false);
	while (c->out_off < c->out_len) {
		w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		    MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			c->err = errno;
			return -1;
		}
		c->out_off += (uint32_t)w;
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	return conn_set_out(c, ep, false) < 0 ? -1 : 1;
}

/* Readable: 1 answer complete in r, 0 need more, -1 closed or bad. */
static int
conn_read(struct conn *c, struct resp *r)
{
	ssize_t n;
	uint32_t ncap;
	char *nb;
	int k;

	if (c->in_cap - c->in_len < 4096) {
		ncap = c->in_cap ? c->in_cap * 2 : 8192;
		if (ncap > IN_MAX) {
			c->err = EMSGSIZE;
			return -1;
		}
		nb = realloc(c->in, ncap);
		if (nb == NULL)
			die("out of memory");
		c->in = nb;
		c->in_cap = ncap;
	}
	n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1, 0);
	if (n == 0) {
		c->err = c->in_len ? EPROTO : 0;
		return -1;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		c->err = errno;
		return -1;
	}
	c->in_len += (uint32_t)n;
	k = parse_resp(c->in, c->in_len, r);
	if (k < 0)
		c->err = EPROTO;
	return k;
}

/* Drop the answer just handled; keep_buf=false frees the input buffer. */
static void
conn_consume(struct conn *c, const struct resp *r, bool keep_buf)
{
	size_t rest = c->in_len - r->total;

	if (rest > 0)
		memmove(c->in, c->in + r->total, rest);
	c->in_len = (uint32_t)rest;
	c->busy = 0;
	if (!keep_buf && rest == 0) {
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
}

static int
conn_handle(struct conn *c, int ep, uint32_t events, struct resp *r)
{
	int f = 0, k;

	if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) &&
	    (c->st == C_CONNECTING || c->out_len > 0)) {
		k = conn_flush(c, ep);
		if (k < 0)
			return EV_DEAD;
		if (k > 0)
			f |= EV_SENT;
	}
	if (c->st == C_OPEN && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
		k = conn_read(c, r);
		if (k < 0)
			return f | EV_DEAD;
		if (k > 0)
			f |= EV_RESP;
	}
	return f;
}

static bool
body_has(const struct resp *r, const char *s)
{
	return memmem(r->body, r->body_len, s, strlen(s)) != NULL;
}

/*
 * One blocking GET to instance inst with Connection: close; returns the
 * status or -1.
 */
static int
http_get(int inst, const char *path, char *body, size_t cap, int timeout_ms)
{
	struct conn c;
	struct resp r;
	struct epoll_event ev;
	char req[256];
	size_t n;
	int ep, st = -1, f;
	int64_t deadline = now_ns() + (int64_t)timeout_ms * NS_PER_MS;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return -1;
	conn_init(&c);
	c.inst = (uint8_t)inst;
	if (conn_connect(&c, ep) < 0)
		goto out;
	n = req_get(req, sizeof req, path, true);
	if (conn_send(&c, ep, req, n) < 0)
		goto out;
	while (now_ns() < deadline) {
		if (epoll_wait(ep, &ev, 1, 50) < 1)
			continue;
		f = conn_handle(&c, ep, ev.events, &r);
		if (f & EV_RESP) {
			st = r.status;
			if (body != NULL && cap > 0) {
				n = r.body_len < cap - 1 ? r.body_len : cap - 1;
				memcpy(body, r.body, n);
				body[n] = '\0';
			}
			break;
		}
		if (f & EV_DEAD)
			break;
	}
out:
	conn_close(&c, ep);
	close(ep);
	return st;
}

/* Value of an unlabelled Prometheus sample, or -1. */
static double
metric(const char *text, const char *name)
{
	const char *p = text;
	size_t nl = strlen(name);

	while ((p = strstr(p, name)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[nl] == ' ')
			return strtod(p + nl + 1, NULL);
		p += nl;
	}
	return -1;
}

static int
metrics_get(int inst, double *pending, double *parked)
{
	static char buf[65536];

	if (http_get(inst, "/metrics", buf, sizeof buf, 3000) != 200)
		return -1;
	if (pending)
		*pending = metric(buf, "pam_ion_relay_pending_logins");
	if (parked)
		*parked = metric(buf, "pam_ion_relay_parked_polls");
	return 0;
}

/* --------------------------------------------------- parent <-> clients */

enum {
	MSG_SENT = 1, /* parking: every first poll written (v0 ok, v1 failed) */
	MSG_WOKEN,    /* parking: a parked poll answered 200 (idx, t) */
	MSG_PERR,     /* parking: a parked poll failed (idx, status) */
	MSG_STATS,    /* parking: v0 sent, v1 reparks, v2 dropped, v3 bad */
	MSG_READY,    /* pairs: connections open (v0 slots usable) */
	MSG_DONE,     /* pairs: v0 ok, v1 errors, v2 t_go, v3 t_last, v4 n */
	CMD_QUIT,
	CMD_STATS,
	CMD_GO, /* pairs: t = stop starting pairs at */
};

struct msg {
	int32_t type;
	uint32_t idx;
	int32_t status;
	int32_t pad;
	int64_t t;
	int64_t v[8];
};

static void
msg_send(
    int sk, int type, uint32_t idx, int status, int64_t t, const int64_t *v)
{
	struct msg m;

	memset(&m, 0, sizeof m);
	m.type = type;
	m.idx = idx;
	m.status = status;
	m.t = t;
	if (v)
		memcpy(m.v, v, sizeof m.v);
	/*
	 * Failure reports (MSG_PERR) may come by the thousand when the relay
	 * refuses polls: those never block and may be lost.  Every other
	 * message is waited for by the parent, which keeps reading.
	 */
	if (send(sk, &m, sizeof m,
		MSG_NOSIGNAL | (type == MSG_PERR ? MSG_DONTWAIT : 0)) < 0) {
		/* lost: the parent times out on it */
	}
}

static int
msg_recv(int sk, struct msg *m)
{
	ssize_t n = recv(sk, m, sizeof *m, MSG_DONTWAIT);

	if (n == (ssize_t)sizeof *m)
		return 1;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return -1;
}

struct worker {
	pid_t pid;
	int sk;
	bool sent, ready, done, dead;
	struct msg last; /* MSG_SENT / MSG_DONE / MSG_STATS */
};

static void
child_setup(int keep_fd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != g_parent)
		_exit(1);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGALRM, SIG_DFL);
	if (dup2(keep_fd, 3) < 0)
		_exit(1);
	close_range(4, ~0U, 0);
}

static void
kid_add(pid_t p)
{
	size_t i;

	for (i = 0; i < sizeof g_kids / sizeof g_kids[0]; i++)
		if (g_kids[i] <= 0) {
			g_kids[i] = p;
			return;
		}
	die("too many client processes");
}

static void
kid_reap(pid_t p, int timeout_ms)
{
	size_t i;
	int64_t deadline = now_ns() + (int64_t)timeout_ms * NS_PER_MS;

	while (waitpid(p, NULL, WNOHANG) == 0) {
		if (now_ns() > deadline) {
			kill(p, SIGKILL);
			waitpid(p, NULL, 0);
			break;
		}
		sleep_ms(5);
	}
	for (i = 0; i < sizeof g_kids / sizeof g_kids[0]; i++)
		if (g_kids[i] == p)
			g_kids[i] = -1;
}

/* ------------------------------------------------------ parking client */

/*
 * Holds one parked poll per login in [first, first + count), each on its own
 * connection to instance inst.  A poll that times out (202) is sent again at
 * once, so the login stays parked; a poll answered 200 is reported with its
 * arrival time and its connection left idle.
 */
__attribute__((noreturn)) static void
park_worker(int sk, const struct login *L, uint32_t first, uint32_t count,
    uint32_t batch, int inst, int64_t deadline)
{
	struct epoll_event ev, evs[256];
	struct conn *cs, *c;
	struct resp r;
	struct msg m;
	char req[512], code[32];
	uint32_t next = 0, inflight = 0, sent = 0, failed = 0;
	int64_t reparks = 0, dropped = 0, bad = 0, v[6];
	bool reported = false;
	size_t n;
	int ep, k, i, f;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		_exit(1);
	cs = xcalloc(count, sizeof *cs);
	for (n = 0; n < count; n++) {
		conn_init(&cs[n]);
		cs[n].inst = (uint8_t)inst;
	}
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, sk, &ev) < 0)
		_exit(1);
	for (;;) {
		while (inflight < CONNECT_WINDOW && next < count) {
			c = &cs[next];
			c->idx = first + next++;
			if (conn_connect(c, ep) < 0) {
				failed++;
				continue;
			}
			n = req_poll(req, sizeof req, &L[c->idx]);
			k = conn_send(c, ep, req, n);
			if (k < 0) {
				conn_close(c, ep);
				failed++;
			} else if (k > 0) {
				c->counted = 1;
				sent++;
			} else
				inflight++;
		}
		if (!reported && sent + failed == count) {
			memset(v, 0, sizeof v);
			v[0] = sent;
			v[1] = failed;
			msg_send(sk, MSG_SENT, 0, 0, now_ns(), v);
			reported = true;
		}
		if (now_ns() > deadline)
			break;
		k = epoll_wait(ep, evs, 256, 100);
		for (i = 0; i < k; i++) {
			c = evs[i].data.ptr;
			if (c == NULL) {
				f = msg_recv(sk, &m);
				if (f < 0 || (f > 0 && m.type == CMD_QUIT))
					goto out;
				if (f > 0 && m.type == CMD_STATS) {
					memset(v, 0, sizeof v);
					v[0] = sent;
					v[1] = reparks;
					v[2] = dropped;
					v[3] = bad;
					v[4] = failed;
					msg_send(
					    sk, MSG_STATS, 0, 0, now_ns(), v);
				}
				continue;
			}
			f = conn_handle(c, ep, evs[i].events, &r);
			if ((f & EV_SENT) && !c->counted) {
				c->counted = 1;
				sent++;
				inflight--;
			}
			if (f & EV_RESP) {
				int64_t t = now_ns();
				bool close_after = r.close;

				if (r.status == 200) {
					code_for(code, batch, c->idx);
					msg_send(sk, MSG_WOKEN, c->idx,
					    body_has(&r, code) ? 200 : -200, t,
					    NULL);
					conn_consume(c, &r, false);
				} else if (r.status == 202) {
					/* wait ran out: park again */
					reparks++;
					conn_consume(c, &r, false);
					if (close_after) {
						conn_close(c, ep);
						if (conn_connect(c, ep) < 0) {
							dropped++;
							continue;
						}
					}
					n = req_poll(
					    req, sizeof req, &L[c->idx]);
					if (conn_send(c, ep, req, n) < 0) {
						dropped++;
						conn_close(c, ep);
					}
					continue;
				} else {
					bad++;
					msg_send(sk, MSG_PERR, c->idx, r.status,
					    t, NULL);
					conn_consume(c, &r, false);
				}
				if (close_after)
					conn_close(c, ep);
			}
			if (f & EV_DEAD) {
				if (!c->counted) {
					c->counted = 1;
					failed++;
					inflight--;
				} else if (c->busy) {
					dropped++;
					msg_send(sk, MSG_PERR, c->idx, 0,
					    now_ns(), NULL);
				}
				conn_close(c, ep);
			}
		}
	}
out:
	memset(v, 0, sizeof v);
	v[0] = sent;
	v[1] = reparks;
	v[2] = dropped;
	v[3] = bad;
	v[4] = failed;
	msg_send(sk, MSG_STATS, 0, 0, now_ns(), v);
	/* Plain close (FIN) of every connection, as an exiting module does. */
	_exit(0);
}

/* -------------------------------------------------------- pairs client */

/* One pair's times in ms from its start: both answers, poll, callback. */
struct ptimes {
	float pair, poll, cb;
};

struct pslot {
	struct conn a, b; /* a: poll, b: callback */
	uint32_t idx;
	int64_t t0;
	bool active, dead, got_a, got_b, ok_a, ok_b;
};

static bool
pair_start(struct pslot *s, int ep, const struct login *L, uint32_t *next,
    uint32_t end, uint32_t batch, int64_t stop_at)
{
	char req[512];
	size_t n;

	s->active = false;
	if (s->dead || *next >= end || now_ns() >= stop_at)
		return false;
	s->idx = (*next)++;
	s->got_a = s->got_b = s->ok_a = s->ok_b = false;
	s->t0 = now_ns();
	n = req_poll(req, sizeof req, &L[s->idx]);
	if (conn_send(&s->a, ep, req, n) < 0)
		goto fail;
	n = req_callback(req, sizeof req, &L[s->idx], batch, s->idx);
	if (conn_send(&s->b, ep, req, n) < 0)
		goto fail;
	s->active = true;
	return true;
fail:
	s->dead = true;
	return false;
}

/*
 * Runs `slots` concurrent pairs over logins [first, first + count): each pair
 * writes a poll (wait=25) on connection a and the callback on connection b,
 * waits for both answers, then takes the next login.  Pair latencies go to
 * the shared array lat[idx] in milliseconds.
 *
 * Over I instances, pair slot g (counted over all pair clients from
 * slot_base) polls instance g % I and sends its callbacks to instance
 * (g / I) % I: every instance gets the same share of polls and callbacks,
 * and every combination of the two occurs equally often, so with 2
 * instances half the pairs cross instances, as behind a load balancer.
 */
__attribute__((noreturn)) static void
pair_worker(int sk, const struct login *L, uint32_t first, uint32_t count,
    uint32_t batch, int slots, int slot_base, struct ptimes *lat,
    int64_t hard_deadline)
{
	struct epoll_event evs[256];
	struct pslot *ps, *s;
	struct conn *c;
	struct resp r;
	struct msg m;
	char code[32];
	uint32_t next = first, end = first + count;
	int64_t v[8], ok = 0, errors = 0, started = 0, t_go, t_last, stop_at;
	int64_t bad_poll = 0, bad_cb = 0, dead = 0;
	int last_poll = 0, last_cb = 0;
	int ep, i, k, f, open = 0, usable = 0, active = 0;
	struct pollfd pfd;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		_exit(1);
	ps = xcalloc((size_t)slots, sizeof *ps);
	for (i = 0; i < slots; i++) {
		conn_init(&ps[i].a);
		conn_init(&ps[i].b);
		ps[i].a.inst = (uint8_t)((slot_base + i) % g_ninst);
		ps[i].b.inst = (uint8_t)((slot_base + i) / g_ninst % g_ninst);
		ps[i].a.slot = ps[i].b.slot = (uint32_t)i;
		ps[i].b.side = 1;
		if (conn_connect(&ps[i].a, ep) < 0 ||
		    conn_connect(&ps[i].b, ep) < 0)
			ps[i].dead = true;
	}
	/* Wait until every connection is established. */
	while (now_ns() < hard_deadline) {
		open = 0;
		for (i = 0; i < slots; i++)
			open += (ps[i].dead || ps[i].a.st == C_OPEN) +
			    (ps[i].dead || ps[i].b.st == C_OPEN);
		if (open == 2 * slots)
			break;
		k = epoll_wait(ep, evs, 256, 50);
		for (i = 0; i < k; i++) {
			c = evs[i].data.ptr;
			f = conn_handle(c, ep, evs[i].events, &r);
			if (f & (EV_DEAD | EV_RESP))
				ps[c->slot].dead = true;
		}
	}
	for (i = 0; i < slots; i++)
		usable +=
		    !ps[i].dead && ps[i].a.st == C_OPEN && ps[i].b.st == C_OPEN;
	memset(v, 0, sizeof v);
	v[0] = usable;
	msg_send(sk, MSG_READY, 0, 0, now_ns(), v);

	pfd.fd = sk;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 30000) != 1 || msg_recv(sk, &m) != 1 ||
	    m.type != CMD_GO)
		_exit(1);
	t_go = now_ns();
	t_last = t_go;
	stop_at = m.t;
	for (i = 0; i < slots; i++)
		if (pair_start(&ps[i], ep, L, &next, end, batch, stop_at)) {
			active++;
			started++;
		}
	while (active > 0 && now_ns() < hard_deadline) {
		k = epoll_wait(ep, evs, 256, 50);
		for (i = 0; i < k; i++) {
			c = evs[i].data.ptr;
			s = &ps[c->slot];
			f = conn_handle(c, ep, evs[i].events, &r);
			if ((f & EV_DEAD) || ((f & EV_RESP) && !s->active)) {
				/* Count the pair as failed, reconnect, go on.
				 */
				dead++;
				if (s->active) {
					active--;
					errors++;
				}
				s->active = false;
				conn_close(&s->a, ep);
				conn_close(&s->b, ep);
				if (conn_connect(&s->a, ep) < 0 ||
				    conn_connect(&s->b, ep) < 0) {
					s->dead = true;
					continue;
				}
				if (pair_start(
					s, ep, L, &next, end, batch, stop_at)) {
					active++;
					started++;
				}
				continue;
			}
			if (!(f & EV_RESP))
				continue;
			if (c->side == 0) {
				code_for(code, batch, s->idx);
				s->got_a = true;
				s->ok_a = r.status == 200 && body_has(&r, code);
				if (!s->ok_a)
					last_poll = r.status;
				lat[s->idx].poll =
				    (float)((double)(now_ns() - s->t0) / 1e6);
			} else {
				s->got_b = true;
				s->ok_b = r.status == 200;
				if (!s->ok_b)
					last_cb = r.status;
				lat[s->idx].cb =
				    (float)((double)(now_ns() - s->t0) / 1e6);
			}
			conn_consume(c, &r, true);
			if (r.close) {
				conn_close(c, ep);
				if (conn_connect(c, ep) < 0)
					s->dead = true;
			}
			if (!s->got_a || !s->got_b)
				continue;
			t_last = now_ns();
			lat[s->idx].pair =
			    (float)((double)(t_last - s->t0) / 1e6);
			if (s->ok_a && s->ok_b)
				ok++;
			else
				errors++;
			bad_poll += !s->ok_a;
			bad_cb += !s->ok_b;
			active--;
			if (pair_start(s, ep, L, &next, end, batch, stop_at)) {
				active++;
				started++;
			}
		}
	}
	memset(v, 0, sizeof v);
	v[0] = ok;
	v[1] = errors + active; /* pairs still open at the hard deadline */
	v[2] = t_go;
	v[3] = t_last;
	v[4] = started;
	v[5] = bad_poll;
	v[6] = bad_cb;
	v[7] = dead;
	msg_send(sk, MSG_DONE, 0, last_poll * 1000 + last_cb, now_ns(), v);
	_exit(0);
}

/* --------------------------------------------------------------- relay */

static long
proc_status_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t kl = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* CPU seconds (user + system) a process has used so far, or -1. */
static double
proc_cpu_secs(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* Fields 14 and 15 (utime, stime), counted after the ")". */
	p = strrchr(buf, ')');
	if (p == NULL ||
	    sscanf(p + 2,
		"%*c %*d %*d %*d %*d %*d %*u %*u %*u "
		"%*u %*u %lu %lu",
		&ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double
children_cpu_secs(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_CHILDREN, &ru) < 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static bool
relay_alive(int i)
{
	int st;

	if (g_relays[i] <= 0)
		return false;
	if (waitpid(g_relays[i], &st, WNOHANG) == 0)
		return true;
	note("relay %c, pid %d, has died (%s %d)", 'A' + i, (int)g_relays[i],
	    WIFSIGNALED(st) ? "signal" : "exit status",
	    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	g_relays[i] = -1;
	return false;
}

static bool
relays_alive(void)
{
	int i;

	for (i = 0; i < g_ninst; i++)
		if (!relay_alive(i))
			return false;
	return true;
}

/*
 * Starts relay instance i with its stderr in logpath; with redis_port > 0 on
 * the Redis store at 127.0.0.1:redis_port.  Returns its port.
 */
static int
relay_start(int i, const char *logpath, int redis_port)
{
	char maxp[32], maxc[32], maxk[32], *argv[32 + MAX_RELAY_ARGS],
	    buf[4096], store[64];
	char keys[4096];
	const char *p;
	int lfd, fd, a, argc = 0;
	int64_t deadline;
	ssize_t n;
	pid_t pid;

	/* The keys file the relay requires, next to its log, 0600. */
	if (strlen(logpath) + sizeof(".clients") > sizeof keys)
		die("%s: name too long", logpath);
	memcpy(keys, logpath, strlen(logpath));
	memcpy(keys + strlen(logpath), ".clients", sizeof(".clients"));
	fd = open(
	    keys, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fchmod(fd, 0600) != 0 ||
	    write(fd, CLIENT_LINE, strlen(CLIENT_LINE)) !=
		(ssize_t)strlen(CLIENT_LINE) ||
	    close(fd) != 0)
		die("%s: %s", keys, strerror(errno));
	snprintf(maxp, sizeof maxp, "%" PRIu32, opt.max_pending);
	snprintf(maxc, sizeof maxc, "%" PRIu32, opt.max_conns);
	/* As many parked polls as the relay allows: all but 64 (or 1/4). */
	snprintf(maxk, sizeof maxk, "%" PRIu32,
	    opt.max_conns - (opt.max_conns / 4 < 64 ? opt.max_conns / 4 : 64));
	/* execv takes char *const[]; these strings are never written. */
	argv[argc++] = strdup(opt.relay);
	argv[argc++] = strdup("--listen");
	argv[argc++] = strdup("127.0.0.1:0");
	argv[argc++] = strdup("--public-url");
	argv[argc++] = strdup(PUBLIC_URL);
	argv[argc++] = strdup("--authorize-url-prefix");
	argv[argc++] = strdup(AUTHORIZE_PREFIX);
	argv[argc++] = strdup("--max-pending");
	argv[argc++] = strdup(maxp);
	argv[argc++] = strdup("--max-connections");
	argv[argc++] = strdup(maxc);
	argv[argc++] = strdup("--max-connections-per-ip");
	argv[argc++] = strdup(maxc);
	argv[argc++] = strdup("--max-parked");
	argv[argc++] = strdup(maxk);
	argv[argc++] = strdup("--ttl");
	argv[argc++] = strdup("600");
	argv[argc++] = strdup("--client-keys");
	argv[argc++] = strdup(keys);
	if (redis_port > 0) {
		/* Every instance: the same store, prefix and client keys. */
		snprintf(
		    store, sizeof store, "redis://127.0.0.1:%d", redis_port);
		argv[argc++] = strdup("--store");
		argv[argc++] = strdup(store);
		argv[argc++] = strdup("--store-prefix");
		argv[argc++] = strdup(STORE_PREFIX);
	}
	for (a = 0; a < opt.nrelay_args; a++)
		argv[argc++] = strdup(opt.relay_args[a]);
	argv[argc] = NULL;
	for (a = 0; a < argc; a++)
		if (argv[a] == NULL)
			die("out of memory");

	lfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (lfd < 0)
		die("%s: %s", logpath, strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != g_parent)
			_exit(127);
		fd = open("/dev/null", O_RDWR);
		if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0 ||
		    dup2(lfd, 2) < 0)
			_exit(127);
		close_range(3, ~0U, 0);
		/* The relay gets the default dispositions, as from init. */
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGALRM, SIG_DFL);
		execv(argv[0], argv);
		dprintf(
		    2, "relay_bench: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(lfd);
	for (a = 0; a < argc; a++)
		free(argv[a]);
	g_relays[i] = pid;

	deadline = now_ns() + 10 * NS_PER_S;
	while (now_ns() < deadline) {
		fd = open(logpath, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			n = read(fd, buf, sizeof buf - 1);
			close(fd);
			if (n > 0) {
				buf[n] = '\0';
				p = strstr(buf, "listening on 127.0.0.1:");
				if (p != NULL) {
					unsigned long port = strtoul(p +
						strlen(
						    "listening on 127.0.0.1:"),
					    NULL, 10);

					if (port == 0 || port > 65535)
						die("bad port in relay log");
					return (int)port;
				}
			}
		}
		if (!relay_alive(i))
			die("relay exited before listening; see %s", logpath);
		sleep_ms(10);
	}
	die("relay printed no 'listening on' line within 10 s; see %s",
	    logpath);
}

/* SIGTERM to relay i, then wait; returns seconds taken (or -1 when it had
 * to be killed) and the wait status in *ret_status. */
static double
relay_stop(int i, int *ret_status)
{
	int64_t t0 = now_ns(), deadline = t0 + 10 * NS_PER_S;
	pid_t pid = g_relays[i], p;
	int st = 0;

	*ret_status = -1;
	if (pid <= 0)
		return -1;
	kill(pid, SIGTERM);
	while ((p = waitpid(pid, &st, WNOHANG)) == 0 && now_ns() < deadline)
		sleep_ms(5);
	g_relays[i] = -1;
	if (p == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		*ret_status = st;
		return -1;
	}
	*ret_status = st;
	return (double)(now_ns() - t0) / 1e9;
}

/* Waits until relay i answers /healthz 200 (its store is up). */
static bool
relay_wait_healthy(int i, int timeout_ms, char *why, size_t cap)
{
	int64_t deadline = now_ns() + (int64_t)timeout_ms * NS_PER_MS;
	int st;

	why[0] = '\0';
	while (now_ns() < deadline) {
		st = http_get(i, "/healthz", why, cap, 2000);
		if (st == 200)
			return true;
		if (!relay_alive(i))
			return false;
		sleep_ms(50);
	}
	why[strcspn(why, "\n")] = '\0';
	return false;
}

/* ----------------------------------------------------------------- redis */

/*
 * Length of the complete RESP2 reply at b, 0 when more bytes are needed,
 * -1 when it is not RESP.  Arrays nest at most 4 deep (SCAN: 2).
 */
static long
resp_len(const char *b, size_t n, int depth)
{
	const char *e;
	long k, i, sub, pos;

	if (n == 0)
		return 0;
	e = memmem(b, n, "\r\n", 2);
	if (e == NULL)
		return 0;
	pos = (long)(e - b) + 2;
	switch (b[0]) {
	case '+':
	case '-':
	case ':':
		return pos;
	case '$':
		k = strtol(b + 1, NULL, 10);
		if (k < 0)
			return pos;
		return (long)n >= pos + k + 2 ? pos + k + 2 : 0;
	case '*':
		k = strtol(b + 1, NULL, 10);
		if (depth > 4)
			return -1;
		for (i = 0; i < k; i++) {
			sub = resp_len(b + pos, n - (size_t)pos, depth + 1);
			if (sub <= 0)
				return sub;
			pos += sub;
		}
		return pos;
	default:
		return -1;
	}
}

/*
 * One command to the run's redis-server over a fresh connection; the raw
 * reply goes to out (NUL-terminated).  Returns its length or -1.  The
 * arguments are NUL-terminated strings, the list ends with NULL.
 */
static long
redis_cmd(char *out, size_t cap, const char *arg0, ...)
{
	struct sockaddr_in sa;
	struct timeval tv = { 5, 0 };
	char req[1024];
	const char *a;
	size_t rl = 0, got = 0;
	long k = -1;
	ssize_t n;
	va_list ap;
	int fd, argc = 0, w;

	va_start(ap, arg0);
	for (a = arg0; a != NULL; a = va_arg(ap, const char *))
		argc++;
	va_end(ap);
	w = snprintf(req, sizeof req, "*%d\r\n", argc);
	rl = (size_t)w;
	va_start(ap, arg0);
	for (a = arg0; a != NULL; a = va_arg(ap, const char *)) {
		w = snprintf(
		    req + rl, sizeof req - rl, "$%zu\r\n%s\r\n", strlen(a), a);
		if (w < 0 || (size_t)w >= sizeof req - rl) {
			va_end(ap);
			return -1;
		}
		rl += (size_t)w;
	}
	va_end(ap);
	if (g_redis_port <= 0)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)g_redis_port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    send(fd, req, rl, MSG_NOSIGNAL) != (ssize_t)rl)
		goto out;
	while (got < cap - 1) {
		n = recv(fd, out + got, cap - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		k = resp_len(out, got, 0);
		if (k != 0)
			break;
		k = -1;
	}
out:
	close(fd);
	if (k <= 0)
		return -1;
	out[k] = '\0';
	return k;
}

static char g_rbuf[256 * 1024];

/* A numeric field of INFO section (e.g. "memory", "used_memory"), or -1. */
static double
redis_info(const char *section, const char *field)
{
	size_t fl = strlen(field);
	const char *p;

	if (redis_cmd(g_rbuf, sizeof g_rbuf, "INFO", section, NULL) < 0)
		return -1;
	for (p = g_rbuf; (p = strstr(p, field)) != NULL; p += fl)
		if (p > g_rbuf && p[-1] == '\n' && p[fl] == ':')
			return strtod(p + fl + 1, NULL);
	return -1;
}

/* An integer reply (DBSIZE, MEMORY USAGE, STRLEN, ZCARD), or -1. */
static long long
redis_int(const char *arg0, const char *arg1, const char *arg2)
{
	if (redis_cmd(g_rbuf, sizeof g_rbuf, arg0, arg1, arg2, NULL) < 0 ||
	    g_rbuf[0] != ':')
		return -1;
	return strtoll(g_rbuf + 1, NULL, 10);
}

/* The name of one key matching pattern (SCAN ... MATCH), or false. */
static bool
redis_find_key(const char *pattern, char *key, size_t cap)
{
	char cursor[32] = "0";
	const char *p, *e;
	long klen;
	int round;

	for (round = 0; round < 10000; round++) {
		if (redis_cmd(g_rbuf, sizeof g_rbuf, "SCAN", cursor, "MATCH",
			pattern, "COUNT", "1000", NULL) < 0 ||
		    strncmp(g_rbuf, "*2\r\n$", 5) != 0)
			return false;
		/* *2 $len cursor *k $len key ... */
		p = strstr(g_rbuf + 5, "\r\n");
		if (p == NULL)
			return false;
		e = strstr(p + 2, "\r\n");
		if (e == NULL || (size_t)(e - p - 2) >= sizeof cursor)
			return false;
		memcpy(cursor, p + 2, (size_t)(e - p - 2));
		cursor[e - p - 2] = '\0';
		p = e + 2;
		if (p[0] == '*' && p[1] != '0') {
			p = strstr(p, "\r\n$");
			if (p == NULL)
				return false;
			klen = strtol(p + 3, NULL, 10);
			p = strstr(p + 3, "\r\n");
			if (p == NULL || klen <= 0 || (size_t)klen >= cap)
				return false;
			memcpy(key, p + 2, (size_t)klen);
			key[klen] = '\0';
			return true;
		}
		if (strcmp(cursor, "0") == 0)
			return false;
	}
	return false;
}

/*
 * Calls and microseconds by command (INFO commandstats).  Commands a Lua
 * script calls are counted too, under their own names, and their time is
 * also inside the script's (eval/evalsha/fcall).
 */
#define MAX_CMDSTATS 48

struct cmdstats {
	int n;
	char name[MAX_CMDSTATS][32];
	double calls[MAX_CMDSTATS], usec[MAX_CMDSTATS];
};

static int
cmdstats_slot(struct cmdstats *cs, const char *name, size_t len)
{
	int i;

	if (len >= sizeof cs->name[0])
		len = sizeof cs->name[0] - 1;
	for (i = 0; i < cs->n; i++)
		if (strncmp(cs->name[i], name, len) == 0 &&
		    cs->name[i][len] == '\0')
			return i;
	if (cs->n == MAX_CMDSTATS)
		return -1;
	memcpy(cs->name[cs->n], name, len);
	cs->name[cs->n][len] = '\0';
	cs->calls[cs->n] = cs->usec[cs->n] = 0;
	return cs->n++;
}

/* Adds sign x the current INFO commandstats to cs. */
static void
redis_cmdstats(struct cmdstats *cs, double sign)
{
	const char *p = g_rbuf, *colon, *c, *u;
	int k;

	if (redis_cmd(g_rbuf, sizeof g_rbuf, "INFO", "commandstats", NULL) < 0)
		return;
	while ((p = strstr(p, "\ncmdstat_")) != NULL) {
		p += strlen("\ncmdstat_");
		colon = strchr(p, ':');
		if (colon == NULL)
			break;
		c = strstr(colon, "calls=");
		u = strstr(colon, "usec=");
		if (c == NULL || u == NULL)
			break;
		k = cmdstats_slot(cs, p, (size_t)(colon - p));
		if (k >= 0) {
			cs->calls[k] += sign * strtod(c + 6, NULL);
			cs->usec[k] += sign * strtod(u + 5, NULL);
		}
	}
}

/* Whether the first 64 KiB of a file hold s. */
static bool
file_has(const char *path, const char *s)
{
	static char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, s) != NULL;
}

/* A loopback TCP port nobody listens on right now. */
static int
free_port(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	int fd, port = -1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static void
redis_stop(void)
{
	int64_t deadline = now_ns() + 5 * NS_PER_S;
	pid_t pid = g_redis;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	while (waitpid(pid, NULL, WNOHANG) == 0) {
		if (now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			break;
		}
		sleep_ms(5);
	}
	g_redis = -1;
	g_redis_port = 0;
}

/*
 * Starts redis-server on 127.0.0.1 and a free port, without persistence,
 * its log in logpath; waits for PING.  A port another process took between
 * free_port() and the bind is tried again with another.
 */
static void
redis_start(const char *logpath)
{
	char port[16], dir[PATH_MAX], *slash;
	int64_t deadline;
	int attempt, fd, st;
	pid_t pid;

	snprintf(dir, sizeof dir, "%s", logpath);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof dir, ".");
	else
		*slash = '\0';
	for (attempt = 0; attempt < 5; attempt++) {
		g_redis_port = free_port();
		if (g_redis_port <= 0)
			die("no free port for redis-server");
		snprintf(port, sizeof port, "%d", g_redis_port);
		pid = fork();
		if (pid < 0)
			die("fork: %s", strerror(errno));
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != g_parent)
				_exit(127);
			fd = open("/dev/null", O_RDWR);
			if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0)
				_exit(127);
			close_range(3, ~0U, 0);
			signal(SIGPIPE, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			signal(SIGTERM, SIG_DFL);
			signal(SIGALRM, SIG_DFL);
			execl(opt.redis_server, opt.redis_server, "--bind",
			    "127.0.0.1", "--port", port, "--save", "",
			    "--appendonly", "no", "--io-threads", "1",
			    "--daemonize", "no", "--dir", dir, "--logfile",
			    logpath, (char *)NULL);
			dprintf(2, "relay_bench: exec %s: %s\n",
			    opt.redis_server, strerror(errno));
			_exit(127);
		}
		g_redis = pid;
		deadline = now_ns() + 10 * NS_PER_S;
		while (now_ns() < deadline) {
			if (redis_cmd(g_rbuf, sizeof g_rbuf, "PING", NULL) >
				0 &&
			    strcmp(g_rbuf, "+PONG\r\n") == 0)
				return;
			if (waitpid(pid, &st, WNOHANG) != 0) {
				g_redis = -1;
				break;
			}
			sleep_ms(20);
		}
		if (g_redis > 0)
			die("redis-server answered no PING within 10 s; see %s",
			    logpath);
		if (!file_has(logpath, "in use"))
			die("redis-server exited at start; see %s and the "
			    "lines above",
			    logpath);
		note("redis-server on port %s exited at start; trying another "
		     "port (see %s)",
		    port, logpath);
	}
	die("redis-server did not start; see %s", logpath);
}

/* --------------------------------------------------------- CPU accounting */

/*
 * CPU seconds used so far by each process of a run, and the machine's busy
 * and total jiffies (/proc/stat), so a phase's CPU can be split by process.
 */
struct cpu_snap {
	int64_t t;
	double redis, relay[MAX_INST], parkers, children, self;
	/* /proc/stat: busy (all but idle and iowait), interrupts, steal */
	unsigned long long busy, irq, steal, total;
};

static void
machine_jiffies(struct cpu_snap *s)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "re");
	int i;

	if (f == NULL)
		return;
	/* user nice system idle iowait irq softirq steal */
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
		&v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
		for (i = 0; i < 8; i++)
			s->total += v[i];
		s->busy = s->total - v[3] - v[4];
		s->irq = v[5] + v[6];
		s->steal = v[7];
	}
	fclose(f);
}

static void
cpu_take(struct cpu_snap *s, const pid_t *parkers, int np)
{
	struct rusage ru;
	double c;
	int i;

	memset(s, 0, sizeof *s);
	s->t = now_ns();
	s->redis = g_redis > 0 ? proc_cpu_secs(g_redis) : 0;
	for (i = 0; i < g_ninst; i++)
		s->relay[i] = g_relays[i] > 0 ? proc_cpu_secs(g_relays[i]) : 0;
	for (i = 0; i < np; i++)
		if (parkers[i] > 0 && (c = proc_cpu_secs(parkers[i])) > 0)
			s->parkers += c;
	s->children = children_cpu_secs();
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		s->self = (double)ru.ru_utime.tv_sec +
		    (double)ru.ru_utime.tv_usec / 1e6 +
		    (double)ru.ru_stime.tv_sec +
		    (double)ru.ru_stime.tv_usec / 1e6;
	machine_jiffies(s);
}

/* CPU used between two snapshots, in cores (CPU seconds per second). */
struct cpu_use {
	double secs;
	double redis, relay[MAX_INST], clients, parkers, self;
	double machine;	   /* everything busy on the machine */
	double irq, steal; /* of which interrupts (loopback TCP's softirq
			      work mostly, also in the processes' figures)
			      and time the hypervisor took */
};

static void
cpu_add(struct cpu_use *u, const struct cpu_snap *a, const struct cpu_snap *b)
{
	int i;

	u->secs += (double)(b->t - a->t) / 1e9;
	u->redis += b->redis - a->redis;
	for (i = 0; i < g_ninst; i++)
		u->relay[i] += b->relay[i] - a->relay[i];
	u->clients += b->children - a->children;
	u->parkers += b->parkers - a->parkers;
	u->self += b->self - a->self;
	if (b->total > a->total) {
		/* jiffies as a share of all CPUs, times the wall time */
		double k = (double)sysconf(_SC_NPROCESSORS_ONLN) *
		    (double)(b->t - a->t) / 1e9 / (double)(b->total - a->total);

		u->machine += (double)(b->busy - a->busy) * k;
		u->irq += (double)(b->irq - a->irq) * k;
		u->steal += (double)(b->steal - a->steal) * k;
	}
}

/* ------------------------------------------------- registration (parent) */

struct pool {
	int ep;
	int n;
	struct conn *c;
};

static void
pool_close(struct pool *p)
{
	int i;

	for (i = 0; i < p->n; i++)
		conn_close(&p->c[i], p->ep);
	free(p->c);
	if (p->ep >= 0)
		close(p->ep);
	p->c = NULL;
	p->ep = -1;
	p->n = 0;
}

/* Open n keep-alive connections and warm each with GET /healthz. */
static int
pool_open(struct pool *p, int n)
{
	struct epoll_event evs[256];
	struct resp r;
	struct conn *c;
	char req[256];
	size_t len;
	int i, k, f, done = 0, ok = 0;
	int64_t deadline = now_ns() + 10 * NS_PER_S;

	p->ep = epoll_create1(EPOLL_CLOEXEC);
	if (p->ep < 0)
		die("epoll_create1: %s", strerror(errno));
	p->n = n;
	p->c = xcalloc((size_t)n, sizeof *p->c);
	len = req_get(req, sizeof req, "/healthz", false);
	for (i = 0; i < n; i++) {
		conn_init(&p->c[i]);
		p->c[i].inst =
		    (uint8_t)(i % g_ninst); /* spread over instances */
		if (conn_connect(&p->c[i], p->ep) < 0 ||
		    conn_send(&p->c[i], p->ep, req, len) < 0) {
			conn_close(&p->c[i], p->ep);
			done++;
		}
	}
	while (done < n && now_ns() < deadline) {
		k = epoll_wait(p->ep, evs, 256, 50);
		for (i = 0; i < k; i++) {
			c = evs[i].data.ptr;
			f = conn_handle(c, p->ep, evs[i].events, &r);
			if (f & EV_RESP) {
				done++;
				ok += r.status == 200;
				conn_consume(c, &r, true);
				if (r.close)
					conn_close(c, p->ep);
			} else if (f & EV_DEAD) {
				done++;
				conn_close(c, p->ep);
			}
		}
	}
	return ok;
}

struct reg_stats {
	uint32_t ok;
	uint32_t failed;
	uint32_t by_status[6]; /* 0: no answer, 1..5: 1xx..5xx */
	double secs;
};

/* Register L[0..n) over the pool, one request in flight per connection. */
static void
register_batch(
    struct pool *p, const struct login *L, uint32_t n, struct reg_stats *rs)
{
	struct epoll_event evs[256];
	struct resp r;
	struct conn *c;
	char req[2048];
	size_t len;
	uint32_t next = 0, done = 0;
	int i, k, f, inflight = 0;
	int64_t t0 = now_ns(), deadline = t0 + 120 * NS_PER_S;

	memset(rs, 0, sizeof *rs);
	for (i = 0; i < p->n && next < n; i++) {
		c = &p->c[i];
		if (c->st == C_CLOSED && conn_connect(c, p->ep) < 0)
			continue;
		c->idx = next++;
		len = req_register(req, sizeof req, &L[c->idx]);
		if (conn_send(c, p->ep, req, len) < 0) {
			conn_close(c, p->ep);
			rs->by_status[0]++;
			done++;
			continue;
		}
		inflight++;
	}
	while (done < n && inflight > 0 && now_ns() < deadline) {
		k = epoll_wait(p->ep, evs, 256, 100);
		for (i = 0; i < k; i++) {
			c = evs[i].data.ptr;
			f = conn_handle(c, p->ep, evs[i].events, &r);
			if (!(f & (EV_RESP | EV_DEAD)))
				continue;
			done++;
			inflight--;
			if (f & EV_RESP) {
				if (r.status == 201 && body_has(&r, "\"link\""))
					rs->ok++;
				else
					rs->by_status[r.status / 100]++;
				conn_consume(c, &r, true);
				if (r.close)
					conn_close(c, p->ep);
			} else {
				rs->by_status[0]++;
				conn_close(c, p->ep);
			}
			if (next >= n)
				continue;
			if (c->st == C_CLOSED && conn_connect(c, p->ep) < 0)
				continue;
			c->idx = next++;
			len = req_register(req, sizeof req, &L[c->idx]);
			if (conn_send(c, p->ep, req, len) < 0) {
				conn_close(c, p->ep);
				rs->by_status[0]++;
				done++;
				continue;
			}
			inflight++;
		}
	}
	rs->secs = (double)(now_ns() - t0) / 1e9;
	rs->failed = n - rs->ok;
}

/* ------------------------------------------------------------ one run */

struct result {
	uint32_t n;
	const struct setup *setup;
	bool ok;
	char notes[1024];
	/* memory; relay figures per instance, [park_inst] holds the polls */
	double pending_gauge;
	int park_inst;
	long rss_idle[MAX_INST], rss_pending[MAX_INST], hwm[MAX_INST]; /* KiB */
	long rss_prepark, rss_parked;				       /* KiB */
	double per_pending, per_parked; /* bytes: all relays, relay B */
	uint32_t reg_failed;
	double reg_rate;
	/* Redis: INFO memory used_memory (bytes), keys, one login's keys */
	double r_used_idle, r_used_pending, r_used_parked;
	double r_per_pending, r_per_parked, r_keys_per_login;
	double r_clients_scripts; /* bytes per login of client buffers+Lua */
	long r_rss_pending;	  /* KiB */
	long long mu_login, len_login, mu_link, mu_zset;
	double r_cmds_per_pair;
	struct cmdstats pair_cmds; /* Redis commands in the pairs phase */
	/* parking */
	uint32_t park_target, parked, park_workers;
	double park_secs;
	/* wake */
	uint32_t wake_n, wake_missed, wake_bad, wake_cb_bad;
	double wake_p50, wake_p99, wake_max, cb_p50, cb_p99;
	struct cpu_use wake_cpu;
	/* pairs */
	uint64_t pairs_ok, pairs_err;
	double pairs_secs, pairs_rate, pair_p50, pair_p99, pair_max;
	uint64_t pairs_slow; /* pairs that took over 100 ms */
	uint64_t pairs_bad_poll, pairs_bad_cb, pairs_dead;
	int pairs_last_status;
	struct cpu_use
	    pairs_cpu; /* from the go to the last pair client's end */
	int pair_slots;
	/* teardown and extras */
	int64_t reparks, dropped, park_bad;
	double drain_secs, stop_secs;
	int stop_status;
	long log_lines;
	bool log_leak;
};

__attribute__((format(printf, 2, 3))) static void
addnote(struct result *res, const char *fmt, ...)
{
	size_t l = strlen(res->notes);
	va_list ap;

	if (l + 3 >= sizeof res->notes)
		return;
	if (l > 0) {
		res->notes[l++] = ';';
		res->notes[l++] = ' ';
		res->notes[l] = '\0';
	}
	va_start(ap, fmt);
	vsnprintf(res->notes + l, sizeof res->notes - l, fmt, ap);
	va_end(ap);
}

static void
reg_note(struct result *res, const char *what, const struct reg_stats *rs)
{
	if (rs->failed == 0)
		return;
	addnote(res,
	    "%s: %" PRIu32 " registrations failed (no answer %" PRIu32
	    ", 4xx %" PRIu32 ", 5xx %" PRIu32 ")",
	    what, rs->failed, rs->by_status[0], rs->by_status[4],
	    rs->by_status[5]);
}

static void
spawn_park_workers(struct worker *w, int nw, const struct login *L, uint32_t m,
    uint32_t batch, int inst)
{
	int sv[2], i;
	uint32_t a, b;
	int64_t deadline = now_ns() + (int64_t)opt.time_limit * NS_PER_S;

	for (i = 0; i < nw; i++) {
		a = (uint32_t)((uint64_t)m * (uint64_t)i / (uint64_t)nw);
		b = (uint32_t)((uint64_t)m * (uint64_t)(i + 1) / (uint64_t)nw);
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) <
		    0)
			die("socketpair: %s", strerror(errno));
		memset(&w[i], 0, sizeof w[i]);
		w[i].pid = fork();
		if (w[i].pid < 0)
			die("fork: %s", strerror(errno));
		if (w[i].pid == 0) {
			child_setup(sv[1]);
			park_worker(3, L, a, b - a, batch, inst, deadline);
		}
		kid_add(w[i].pid);
		close(sv[1]);
		w[i].sk = sv[0];
	}
}

/* Read every pending message of the workers; hand WOKEN/PERR to cb. */
static void
drain_msgs(struct worker *w, int nw, int timeout_ms,
    void (*cb)(void *, const struct msg *), void *arg)
{
	struct pollfd pfd[MAX_WORKERS];
	struct msg m;
	int i, k;

	for (i = 0; i < nw; i++) {
		pfd[i].fd = w[i].dead ? -1 : w[i].sk;
		pfd[i].events = POLLIN;
		pfd[i].revents = 0;
	}
	if (poll(pfd, (nfds_t)nw, timeout_ms) <= 0)
		return;
	for (i = 0; i < nw; i++) {
		if (pfd[i].revents == 0)
			continue;
		while ((k = msg_recv(w[i].sk, &m)) == 1) {
			switch (m.type) {
			case MSG_SENT:
				w[i].sent = true;
				w[i].last = m;
				break;
			case MSG_STATS:
				w[i].done = true;
				w[i].last = m;
				break;
			case MSG_READY:
				w[i].ready = true;
				w[i].last = m;
				break;
			case MSG_DONE:
				w[i].done = true;
				w[i].last = m;
				break;
			default:
				if (cb)
					cb(arg, &m);
				break;
			}
		}
		if (k < 0)
			w[i].dead = true;
	}
}

/* Wake phase state shared with the message callback. */
struct wake {
	uint32_t want; /* idx whose wake we wait for */
	bool got;
	int status;
	int64_t t;
	uint32_t stray;
};

static void
wake_cb(void *arg, const struct msg *m)
{
	struct wake *wk = arg;

	if ((m->type == MSG_WOKEN || m->type == MSG_PERR) &&
	    m->idx == wk->want && !wk->got) {
		wk->got = true;
		wk->status = m->type == MSG_WOKEN ? m->status : -m->status - 1;
		wk->t = m->t;
	} else
		wk->stray++;
}

static void
phase_wake(struct result *res, struct worker *w, int nw, const struct login *L,
    uint32_t m, uint32_t batch)
{
	struct epoll_event ev;
	struct pollfd pfd[MAX_WORKERS + 1];
	struct conn cb;
	struct resp r;
	struct wake wk;
	char req[512];
	double *lat, *cbl;
	uint32_t k = opt.wake_samples < m ? opt.wake_samples : m, s, idx;
	size_t n, nl = 0, ncb = 0;
	int ep, f, i;
	int64_t t0, tcb, deadline, phase_end = now_ns() + 120 * NS_PER_S;
	bool got_cb;
	int run_miss = 0;
	struct cpu_snap c0, c1;
	pid_t pk[MAX_WORKERS];

	if (k == 0)
		return;
	for (i = 0; i < nw; i++)
		pk[i] = w[i].pid;
	lat = xcalloc(k, sizeof *lat);
	cbl = xcalloc(k, sizeof *cbl);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	conn_init(&cb);
	cb.inst = 0; /* callbacks to A; the polls are parked on B */
	memset(&wk, 0, sizeof wk);
	/* Let stale reports (none expected) go before sampling. */
	drain_msgs(w, nw, 0, wake_cb, &wk);
	wk.stray = 0;
	cpu_take(&c0, pk, nw);
	for (s = 0; s < k && now_ns() < phase_end && run_miss < 20; s++) {
		idx = (uint32_t)((uint64_t)s * m / k);
		if (cb.st == C_CLOSED) {
			if (conn_connect(&cb, ep) < 0)
				die("callback connection: %s",
				    strerror(cb.err));
			/* wait for the connect so it is not timed */
			while (cb.st == C_CONNECTING) {
				if (epoll_wait(ep, &ev, 1, 1000) == 1 &&
				    (conn_handle(&cb, ep, ev.events, &r) &
					EV_DEAD))
					die("callback connection failed: %s",
					    strerror(cb.err));
			}
		}
		n = req_callback(req, sizeof req, &L[idx], batch, idx);
		wk.want = idx;
		wk.got = false;
		got_cb = false;
		tcb = 0;
		t0 = now_ns();
		if (conn_send(&cb, ep, req, n) < 0) {
			res->wake_cb_bad++;
			conn_close(&cb, ep);
			continue;
		}
		deadline = t0 + 3 * NS_PER_S;
		while ((!got_cb || !wk.got) && now_ns() < deadline) {
			for (i = 0; i < nw; i++) {
				pfd[i].fd = w[i].dead ? -1 : w[i].sk;
				pfd[i].events = POLLIN;
			}
			pfd[nw].fd = ep;
			pfd[nw].events = POLLIN;
			if (poll(pfd, (nfds_t)nw + 1, 100) <= 0)
				continue;
			if (pfd[nw].revents && epoll_wait(ep, &ev, 1, 0) == 1) {
				f = conn_handle(&cb, ep, ev.events, &r);
				if (f & EV_RESP) {
					tcb = now_ns();
					got_cb = true;
					if (r.status != 200)
						res->wake_cb_bad++;
					conn_consume(&cb, &r, true);
					if (r.close)
						conn_close(&cb, ep);
				} else if (f & EV_DEAD) {
					got_cb = true;
					res->wake_cb_bad++;
					conn_close(&cb, ep);
				}
			}
			drain_msgs(w, nw, 0, wake_cb, &wk);
		}
		if (tcb > 0)
			cbl[ncb++] = (double)(tcb - t0) / 1e6;
		run_miss = wk.got ? 0 : run_miss + 1;
		if (!wk.got)
			res->wake_missed++;
		else if (wk.status != 200)
			res->wake_bad++;
		else
			lat[nl++] = (double)(wk.t - t0) / 1e6;
	}
	cpu_take(&c1, pk, nw);
	cpu_add(&res->wake_cpu, &c0, &c1);
	conn_close(&cb, ep);
	close(ep);
	qsort(lat, nl, sizeof *lat, cmp_double);
	qsort(cbl, ncb, sizeof *cbl, cmp_double);
	res->wake_n = (uint32_t)nl;
	res->wake_p50 = pct(lat, nl, 0.50);
	res->wake_p99 = pct(lat, nl, 0.99);
	res->wake_max = nl ? lat[nl - 1] : -1;
	res->cb_p50 = pct(cbl, ncb, 0.50);
	res->cb_p99 = pct(cbl, ncb, 0.99);
	if (run_miss >= 20)
		addnote(res,
		    "wake phase stopped after 20 polls in a row did "
		    "not wake");
	if (res->wake_missed)
		addnote(res,
		    "%" PRIu32 " of %" PRIu32
		    " sampled polls did not wake within 3 s",
		    res->wake_missed, k);
	if (res->wake_bad)
		addnote(res, "%" PRIu32 " woken polls had a wrong answer",
		    res->wake_bad);
	if (res->wake_cb_bad)
		addnote(res, "%" PRIu32 " callbacks did not answer 200",
		    res->wake_cb_bad);
	if (wk.stray)
		addnote(res,
		    "%" PRIu32 " unexpected poll answers during the "
		    "wake phase",
		    wk.stray);
	free(lat);
	free(cbl);
}

/* pk[0..npk): the parking clients, whose CPU is counted apart. */
static void
phase_pairs(struct result *res, uint32_t batch_base, const pid_t *pk, int npk)
{
	struct worker w[MAX_WORKERS];
	struct reg_stats rs;
	struct pool pool;
	struct login *L;
	struct cpu_snap c0, c1;
	double pending = 0, *all = NULL, elapsed, cmds0 = -1, cmds1, cmds = 0;
	struct ptimes *lat;
	uint64_t slow_cb = 0, slow_poll = 0;
	size_t nall = 0, capall = 0;
	uint32_t batch, j, a, b, avail;
	int round, i, np = opt.pair_procs, sv[2], slots;
	int64_t budget = (int64_t)(opt.pair_seconds * 1e9), spent = 0;
	int64_t t_go, t_end, hard;

	res->pair_slots = 0;
	for (round = 0; round < opt.pair_rounds && spent < budget; round++) {
		if (!relays_alive())
			break;
		if (metrics_get(0, &pending, NULL) < 0 || pending < 0)
			pending = res->n;
		avail = opt.max_pending - (uint32_t)pending;
		batch = opt.pair_batch;
		if (avail < 1000)
			break;
		if (batch > avail - 500)
			batch = avail - 500;
		L = make_logins(batch);
		if (pool_open(&pool, opt.reg_conns) == 0)
			die("no registration connection could be opened");
		register_batch(&pool, L, batch, &rs);
		pool_close(&pool);
		reg_note(res, "pairs batch", &rs);

		lat = mmap(NULL, batch * sizeof *lat, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (lat == MAP_FAILED)
			die("mmap: %s", strerror(errno));
		for (j = 0; j < batch; j++)
			lat[j].pair = lat[j].poll = lat[j].cb = -1;
		hard = now_ns() + budget - spent + 60 * NS_PER_S;
		slots = opt.pair_slots / np;
		for (i = 0; i < np; i++) {
			a = (uint32_t)((uint64_t)batch * (uint64_t)i /
			    (uint64_t)np);
			b = (uint32_t)((uint64_t)batch * (uint64_t)(i + 1) /
			    (uint64_t)np);
			if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC,
				0, sv) < 0)
				die("socketpair: %s", strerror(errno));
			memset(&w[i], 0, sizeof w[i]);
			w[i].pid = fork();
			if (w[i].pid < 0)
				die("fork: %s", strerror(errno));
			if (w[i].pid == 0) {
				child_setup(sv[1]);
				pair_worker(3, L, a, b - a,
				    batch_base + 1 + (uint32_t)round, slots,
				    i * slots, lat, hard);
			}
			kid_add(w[i].pid);
			close(sv[1]);
			w[i].sk = sv[0];
		}
		/* All connections open before the clock starts. */
		for (t_end = now_ns() + 20 * NS_PER_S; now_ns() < t_end;) {
			int ready = 0;

			for (i = 0; i < np; i++)
				ready += w[i].ready || w[i].dead;
			if (ready == np)
				break;
			drain_msgs(w, np, 100, NULL, NULL);
		}
		res->pair_slots = 0;
		for (i = 0; i < np; i++)
			res->pair_slots += w[i].ready ? (int)w[i].last.v[0] : 0;
		if (res->setup->redis) {
			cmds0 = redis_info("stats", "total_commands_processed");
			redis_cmdstats(&res->pair_cmds, -1);
		}
		cpu_take(&c0, pk, npk);
		t_go = now_ns();
		for (i = 0; i < np; i++) {
			struct msg m;

			memset(&m, 0, sizeof m);
			m.type = CMD_GO;
			m.t = t_go + budget - spent;
			if (send(w[i].sk, &m, sizeof m, MSG_NOSIGNAL) < 0)
				w[i].dead = true;
		}
		for (;;) {
			int done = 0;

			for (i = 0; i < np; i++)
				done += w[i].done || w[i].dead;
			if (done == np || now_ns() > hard + NS_PER_S)
				break;
			drain_msgs(w, np, 100, NULL, NULL);
		}
		t_end = t_go;
		for (i = 0; i < np; i++) {
			if (w[i].done) {
				res->pairs_ok += (uint64_t)w[i].last.v[0];
				res->pairs_err += (uint64_t)w[i].last.v[1];
				res->pairs_bad_poll += (uint64_t)w[i].last.v[5];
				res->pairs_bad_cb += (uint64_t)w[i].last.v[6];
				res->pairs_dead += (uint64_t)w[i].last.v[7];
				if (w[i].last.status)
					res->pairs_last_status =
					    w[i].last.status;
				if (w[i].last.v[3] > t_end)
					t_end = w[i].last.v[3];
			} else
				addnote(res, "a pairs client gave no result");
		}
		for (i = 0; i < np; i++) {
			kid_reap(w[i].pid, 2000);
			close(w[i].sk);
		}
		/*
		 * Reaped, the clients' CPU is in RUSAGE_CHILDREN; it includes
		 * their connection set-up.
		 */
		cpu_take(&c1, pk, npk);
		cpu_add(&res->pairs_cpu, &c0, &c1);
		if (res->setup->redis)
			redis_cmdstats(&res->pair_cmds, 1);
		if (cmds0 >= 0 &&
		    (cmds1 = redis_info("stats", "total_commands_processed")) >=
			cmds0)
			cmds += cmds1 - cmds0 - 1; /* less our own INFO */
		elapsed = (double)(t_end - t_go);
		spent += t_end - t_go;
		res->pairs_secs += elapsed / 1e9;
		for (j = 0; j < batch; j++) {
			if (lat[j].pair < 0)
				continue;
			if (nall == capall) {
				capall = capall ? capall * 2 : 65536;
				all = realloc(all, capall * sizeof *all);
				if (all == NULL)
					die("out of memory");
			}
			all[nall++] = lat[j].pair;
			if (lat[j].pair <= 100)
				continue;
			res->pairs_slow++;
			if (lat[j].cb > 100)
				slow_cb++;
			else
				slow_poll++;
			if (getenv("RELAY_BENCH_DEBUG"))
				note("slow pair %u: %.1f ms (poll answered "
				     "after %.1f, callback after %.1f)",
				    j, (double)lat[j].pair, (double)lat[j].poll,
				    (double)lat[j].cb);
		}
		munmap(lat, batch * sizeof *lat);
		free(L);
	}
	if (res->pairs_secs > 0)
		res->pairs_rate = (double)res->pairs_ok / res->pairs_secs;
	res->r_cmds_per_pair = res->setup->redis && res->pairs_ok
	    ? cmds / (double)(res->pairs_ok + res->pairs_err)
	    : -1;
	qsort(all, nall, sizeof *all, cmp_double);
	res->pair_p50 = pct(all, nall, 0.50);
	res->pair_p99 = pct(all, nall, 0.99);
	res->pair_max = nall ? all[nall - 1] : -1;
	if (res->pairs_err)
		addnote(res,
		    "%" PRIu64 " pairs failed (poll answer wrong in %" PRIu64
		    ", last status %d; callback not 200 in %" PRIu64
		    ", last status %d; connection lost %" PRIu64 " times)",
		    res->pairs_err, res->pairs_bad_poll,
		    res->pairs_last_status / 1000, res->pairs_bad_cb,
		    res->pairs_last_status % 1000, res->pairs_dead);
	if (res->pairs_slow)
		addnote(res,
		    "%" PRIu64 " pairs over 100 ms: %" PRIu64 " with a late "
		    "callback answer, %" PRIu64 " with only the poll late",
		    res->pairs_slow, slow_cb, slow_poll);
	free(all);
}

/* A code the bench sent: "c0de" and 16 hex digits (a random 11-character
 * link id may contain "c0de", but not 20 characters of this shape). */
static bool
has_code(const char *line)
{
	const char *p = line;
	int i;

	while ((p = strstr(p, "c0de")) != NULL) {
		p += 4;
		for (i = 0; i < 16; i++)
			if (!((p[i] >= '0' && p[i] <= '9') ||
				(p[i] >= 'a' && p[i] <= 'f')))
				break;
		if (i == 16)
			return true;
	}
	return false;
}

static void
check_log(struct result *res, const char *path)
{
	char line[8192];
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		res->log_lines++;
		/* Codes, Bearer headers and query strings must never appear. */
		if (has_code(line) || strstr(line, "Bearer") ||
		    strstr(line, "state=") || strstr(line, "code="))
			res->log_leak = true;
	}
	fclose(f);
}

/* Redis memory figures after the registrations (see the README). */
static void
redis_breakdown(struct result *res, double clients0, double keys0)
{
	char key[256];
	double d, keys, clients;

	keys = (double)redis_int("DBSIZE", NULL, NULL);
	clients = redis_info("memory", "mem_clients_normal") +
	    redis_info("memory", "used_memory_scripts");
	if (res->pending_gauge > 0) {
		res->r_keys_per_login = (keys - keys0) / res->pending_gauge;
		res->r_clients_scripts =
		    (clients - clients0) / res->pending_gauge;
	}
	res->mu_login = res->len_login = res->mu_link = res->mu_zset = -1;
	if (redis_find_key(STORE_PREFIX "s:*", key, sizeof key)) {
		res->mu_login = redis_int("MEMORY", "USAGE", key);
		res->len_login = redis_int("STRLEN", key, NULL);
	}
	if (redis_find_key(STORE_PREFIX "k:*", key, sizeof key))
		res->mu_link = redis_int("MEMORY", "USAGE", key);
	if (redis_cmd(g_rbuf, sizeof g_rbuf, "MEMORY", "USAGE",
		STORE_PREFIX "pending", "SAMPLES", "0", NULL) > 0 &&
	    g_rbuf[0] == ':')
		res->mu_zset = strtoll(g_rbuf + 1, NULL, 10);
	d = res->r_used_pending - res->r_used_idle;
	if (res->pending_gauge > 0 &&
	    res->r_clients_scripts * 20 > d / res->pending_gauge)
		addnote(res,
		    "%.0f of the %.0f bytes per login in Redis are client "
		    "buffers and Lua scripts",
		    res->r_clients_scripts, d / res->pending_gauge);
}

static void
run_size(struct result *res, const struct setup *su, uint32_t n)
{
	struct worker w[MAX_WORKERS];
	struct reg_stats rs;
	struct pool pool;
	struct login *L;
	char logpath[PATH_MAX], why[256];
	double gk = -1, last = -1, clients0 = 0, keys0 = 0, st;
	uint32_t m, batch = 0;
	int nw = 0, i, port[MAX_INST], ni = su->inst, b = su->inst - 1;
	int64_t t0, stable_since, deadline;
	long sum_idle = 0, sum_pending = 0;
	pid_t pk[MAX_WORKERS];

	memset(res, 0, sizeof *res);
	res->n = n;
	res->setup = su;
	res->park_inst = b;
	res->stop_status = -1;
	res->wake_p50 = res->wake_p99 = res->wake_max = res->cb_p50 = -1;
	res->cb_p99 = -1;
	res->pair_p50 = res->pair_p99 = res->pair_max = -1;
	res->per_parked = -1;
	res->r_used_idle = res->r_used_pending = res->r_used_parked = -1;
	res->r_per_pending = res->r_per_parked = res->r_keys_per_login = -1;
	res->r_clients_scripts = res->r_cmds_per_pair = -1;
	res->r_rss_pending = -1;
	res->mu_login = res->len_login = res->mu_link = res->mu_zset = -1;
	g_ninst = ni;
	L = NULL;
	if (su->redis) {
		snprintf(logpath, sizeof logpath,
		    "%s/redis-bench-%s-%" PRIu32 ".log", opt.logdir, su->file,
		    n);
		redis_start(logpath);
		note("[%s %" PRIu32 "] redis-server pid %d on port %d (log %s)",
		    su->label, n, (int)g_redis, g_redis_port, logpath);
	}
	for (i = 0; i < ni; i++) {
		snprintf(logpath, sizeof logpath,
		    "%s/relay-bench-%s-%" PRIu32 "-%c.log", opt.logdir,
		    su->file, n, 'a' + i);
		port[i] = relay_start(i, logpath, su->redis ? g_redis_port : 0);
		note("[%s %" PRIu32 "] relay %c pid %d on port %d (log %s)",
		    su->label, n, 'A' + i, (int)g_relays[i], port[i], logpath);
		memset(&g_addrs[i], 0, sizeof g_addrs[i]);
		g_addrs[i].sin_family = AF_INET;
		g_addrs[i].sin_port = htons((uint16_t)port[i]);
		g_addrs[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	snprintf(g_host, sizeof g_host, "127.0.0.1:%d", port[0]);
	for (i = 0; i < ni; i++)
		if (!relay_wait_healthy(i, 15000, why, sizeof why)) {
			addnote(res,
			    "relay %c not healthy within 15 s (/healthz: "
			    "%s)",
			    'A' + i, why[0] ? why : "no answer");
			goto done;
		}

	/* 1. memory per pending login */
	if (pool_open(&pool, opt.reg_conns) == 0)
		die("no connection to the relay could be opened");
	sleep_ms(300);
	for (i = 0; i < ni; i++) {
		res->rss_idle[i] = proc_status_kb(g_relays[i], "VmRSS");
		sum_idle += res->rss_idle[i];
	}
	if (su->redis) {
		res->r_used_idle = redis_info("memory", "used_memory");
		keys0 = (double)redis_int("DBSIZE", NULL, NULL);
		clients0 = redis_info("memory", "mem_clients_normal") +
		    redis_info("memory", "used_memory_scripts");
	}
	L = make_logins(n);
	register_batch(&pool, L, n, &rs);
	res->reg_rate = rs.secs > 0 ? rs.ok / rs.secs : 0;
	res->reg_failed = rs.failed;
	reg_note(res, "pending batch", &rs);
	sleep_ms(300);
	for (i = 0; i < ni; i++) {
		res->rss_pending[i] = proc_status_kb(g_relays[i], "VmRSS");
		sum_pending += res->rss_pending[i];
	}
	metrics_get(0, &res->pending_gauge, NULL);
	res->per_pending =
	    rs.ok ? (double)(sum_pending - sum_idle) * 1024.0 / rs.ok : -1;
	if (su->redis) {
		res->r_used_pending = redis_info("memory", "used_memory");
		res->r_rss_pending = proc_status_kb(g_redis, "VmRSS");
		if (res->pending_gauge > 0 && res->r_used_idle >= 0)
			res->r_per_pending =
			    (res->r_used_pending - res->r_used_idle) /
			    res->pending_gauge;
		redis_breakdown(res, clients0, keys0);
	}
	if (su->redis)
		snprintf(why, sizeof why, ", Redis used_memory %.0f -> %.0f",
		    res->r_used_idle, res->r_used_pending);
	else
		why[0] = '\0';
	note("[%s %" PRIu32 "] registered %" PRIu32 " in %.2f s (%.0f/s), "
	     "relay RSS %ld -> %ld KiB%s",
	    su->label, n, rs.ok, rs.secs, res->reg_rate, sum_idle, sum_pending,
	    why);
	pool_close(&pool);
	if (!relays_alive()) {
		addnote(res, "a relay died during registration");
		goto done;
	}

	/* 2. parked polls, all on the last instance (B) */
	m = n < opt.max_park ? n : opt.max_park;
	res->park_target = m;
	nw = (int)((m + opt.park_per_worker - 1) / opt.park_per_worker);
	if (nw > MAX_WORKERS)
		die("too many parking clients; raise --park-per-worker");
	res->park_workers = (uint32_t)nw;
	sleep_ms(200);
	res->rss_prepark = proc_status_kb(g_relays[b], "VmRSS");
	t0 = now_ns();
	spawn_park_workers(w, nw, L, m, batch, b);
	for (i = 0; i < nw; i++)
		pk[i] = w[i].pid;
	deadline = t0 + 90 * NS_PER_S;
	stable_since = now_ns();
	while (now_ns() < deadline) {
		drain_msgs(w, nw, 200, NULL, NULL);
		if (!relays_alive())
			break;
		if (metrics_get(b, NULL, &gk) == 0) {
			if (gk >= m)
				break;
			if (gk != last) {
				last = gk;
				stable_since = now_ns();
			} else if (now_ns() - stable_since > 5 * NS_PER_S) {
				for (i = 0; i < nw && w[i].sent; i++)
					;
				if (i == nw)
					break; /* all written, count stuck */
			}
		}
	}
	res->park_secs = (double)(now_ns() - t0) / 1e9;
	sleep_ms(500);
	res->rss_parked = proc_status_kb(g_relays[b], "VmRSS");
	metrics_get(b, NULL, &gk);
	res->parked = gk > 0 ? (uint32_t)gk : 0;
	res->per_parked = res->parked
	    ? (double)(res->rss_parked - res->rss_prepark) * 1024.0 /
		res->parked
	    : -1;
	if (su->redis) {
		res->r_used_parked = redis_info("memory", "used_memory");
		if (res->parked > 0 && res->r_used_pending >= 0)
			res->r_per_parked =
			    (res->r_used_parked - res->r_used_pending) /
			    res->parked;
	}
	note("[%s %" PRIu32 "] parked %" PRIu32 " of %" PRIu32
	     " polls on relay %c in %.2f s (%d clients), RSS %ld -> %ld KiB",
	    su->label, n, res->parked, m, 'A' + b, res->park_secs, nw,
	    res->rss_prepark, res->rss_parked);
	if (res->parked < m)
		addnote(res, "only %" PRIu32 " of %" PRIu32 " polls parked",
		    res->parked, m);
	if (!relays_alive()) {
		addnote(res, "a relay died while polls were parked");
		goto teardown;
	}

	/* 3. wake latency: callbacks to A, polls parked on B */
	if (res->parked > 0)
		phase_wake(res, w, nw, L, m, batch);
	note("[%s %" PRIu32 "] wake latency over %" PRIu32 " samples: p50 "
	     "%.3f p99 %.3f max %.3f ms",
	    su->label, n, res->wake_n, res->wake_p50, res->wake_p99,
	    res->wake_max);
	if (!relays_alive()) {
		addnote(res, "a relay died in the wake phase");
		goto teardown;
	}

	/* 4. callback+poll pairs, with the remaining polls still parked */
	phase_pairs(res, batch, pk, nw);
	note("[%s %" PRIu32 "] %" PRIu64 " pairs in %.2f s = %.0f pairs/s "
	     "(%d concurrent), pair latency p50 %.3f p99 %.3f ms",
	    su->label, n, res->pairs_ok, res->pairs_secs, res->pairs_rate,
	    res->pair_slots, res->pair_p50, res->pair_p99);

teardown:
	for (i = 0; i < ni; i++)
		res->hwm[i] =
		    g_relays[i] > 0 ? proc_status_kb(g_relays[i], "VmHWM") : -1;
	/* The parking clients quit: every parked connection is closed. */
	for (i = 0; i < nw; i++) {
		struct msg qm;

		memset(&qm, 0, sizeof qm);
		qm.type = CMD_QUIT;
		w[i].done = false;
		if (send(w[i].sk, &qm, sizeof qm, MSG_NOSIGNAL) < 0)
			w[i].dead = true;
	}
	t0 = now_ns();
	for (deadline = t0 + 5 * NS_PER_S; now_ns() < deadline;) {
		int d = 0;

		for (i = 0; i < nw; i++)
			d += w[i].done || w[i].dead;
		if (d == nw)
			break;
		drain_msgs(w, nw, 100, NULL, NULL);
	}
	for (i = 0; i < nw; i++) {
		if (w[i].done) {
			res->reparks += w[i].last.v[1];
			res->dropped += w[i].last.v[2];
			res->park_bad += w[i].last.v[3];
		}
		kid_reap(w[i].pid, 5000);
		close(w[i].sk);
	}
	/* How long until relay B notices every parked client is gone. */
	res->drain_secs = -1;
	for (deadline = t0 + 15 * NS_PER_S; now_ns() < deadline;) {
		if (!relay_alive(b) || metrics_get(b, NULL, &gk) < 0)
			break;
		if (gk == 0) {
			res->drain_secs = (double)(now_ns() - t0) / 1e9;
			break;
		}
		sleep_ms(20);
	}
	if (res->drain_secs < 0 && res->parked > 0)
		addnote(res,
		    "parked-polls gauge still %.0f 15 s after the "
		    "clients closed",
		    gk);
	if (res->dropped)
		addnote(res,
		    "%" PRId64 " parked polls were closed by the relay",
		    res->dropped);
	if (res->park_bad)
		addnote(res, "%" PRId64 " parked polls got an error status",
		    res->park_bad);
done:
	for (i = 0; i < ni; i++) {
		int status;

		if (g_relays[i] <= 0)
			continue;
		st = relay_stop(i, &status);
		if (st < 0)
			addnote(res,
			    "relay %c did not stop within 10 s of "
			    "SIGTERM",
			    'A' + i);
		else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			addnote(res, "relay %c stopped with status %#x",
			    'A' + i, (unsigned)status);
		if (st > res->stop_secs)
			res->stop_secs = st;
		if (status != 0 || res->stop_status < 0)
			res->stop_status = status;
	}
	redis_stop();
	for (i = 0; i < ni; i++) {
		snprintf(logpath, sizeof logpath,
		    "%s/relay-bench-%s-%" PRIu32 "-%c.log", opt.logdir,
		    su->file, n, 'a' + i);
		check_log(res, logpath);
	}
	if (res->log_leak)
		addnote(res,
		    "a relay log contains a code, Bearer or query "
		    "string");
	free(L);
	res->ok = true;
}

/* ------------------------------------------------------------- output */

static const char *
fmt_num(char *b, size_t cap, double v, int prec)
{
	if (v < 0)
		snprintf(b, cap, "-");
	else
		snprintf(b, cap, "%.*f", prec, v);
	return b;
}

/* Values per relay instance, "a / b"; a negative one as "-". */
static const char *
fmt_inst(char *b, size_t cap, const double *v, int n, int prec)
{
	size_t l = 0;
	int i;

	b[0] = '\0';
	for (i = 0; i < n && l < cap; i++) {
		if (v[i] < 0)
			l += (size_t)snprintf(
			    b + l, cap - l, "%s-", i ? " / " : "");
		else
			l += (size_t)snprintf(b + l, cap - l, "%s%.*f",
			    i ? " / " : "", prec, v[i]);
	}
	return b;
}

static const char *
fmt_kib_inst(char *b, size_t cap, const long *kib, int n)
{
	double v[MAX_INST];
	int i;

	for (i = 0; i < n; i++)
		v[i] = kib[i] < 0 ? -1 : (double)kib[i] / 1024.0;
	return fmt_inst(b, cap, v, n, 1);
}

/* CPU seconds of a phase as cores: the share of one process kind. */
static double
cores(const struct cpu_use *u, double cpu)
{
	return u->secs > 0 ? cpu / u->secs : -1;
}

static const char *
fmt_cores_inst(char *b, size_t cap, const struct cpu_use *u, int n)
{
	double v[MAX_INST];
	int i;

	for (i = 0; i < n; i++)
		v[i] = cores(u, u->relay[i]);
	return fmt_inst(b, cap, v, n, 2);
}

/* Who used the CPU in a phase, in cores; "others" is the rest. */
static void
cpu_desc(char *b, size_t cap, const struct cpu_use *u, const struct result *r)
{
	double sum = u->redis + u->clients + u->parkers + u->self;
	size_t l = 0;
	int i;

	b[0] = '\0';
	if (u->secs <= 0)
		return;
	if (r->setup->redis)
		l += (size_t)snprintf(
		    b + l, cap - l, "redis-server %.2f, ", cores(u, u->redis));
	for (i = 0; i < r->setup->inst && l < cap; i++) {
		sum += u->relay[i];
		l += (size_t)snprintf(b + l, cap - l, "relay %c %.2f, ",
		    'A' + i, cores(u, u->relay[i]));
	}
	/*
	 * With tick-based accounting (this VM) a tick in softirq counts for
	 * the process it interrupted too, so interrupts are shown, not
	 * subtracted; stolen time is no process's.
	 */
	sum += u->steal;
	if (l < cap)
		snprintf(b + l, cap - l,
		    "pair clients %.2f, parking clients + bench %.2f, other "
		    "processes %.2f, hypervisor steal %.2f; machine %.2f of "
		    "%ld cores busy (%.2f of it in interrupts, mostly "
		    "loopback TCP)",
		    cores(u, u->clients), cores(u, u->parkers + u->self),
		    u->machine > sum ? cores(u, u->machine - sum) : 0.0,
		    cores(u, u->steal), cores(u, u->machine),
		    sysconf(_SC_NPROCESSORS_ONLN), cores(u, u->irq));
}

static double
sum_relays(const struct cpu_use *u, const struct result *r)
{
	double t = 0;
	int i;

	for (i = 0; i < r->setup->inst; i++)
		t += u->relay[i];
	return t;
}

/*
 * What bounds a phase, judged from its CPU use: every limit reached (a
 * single-threaded process at one core, the machine at all its cores), or
 * none.
 */
static void
cpu_bound(char *b, size_t cap, const struct cpu_use *u, const struct result *r)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	const char *who = "the pair clients";
	double top = u->clients, all = cores(u, u->machine);
	char name[32];
	size_t l = 0;
	int i;

	b[0] = '\0';
	if (r->setup->redis && u->redis > top) {
		top = u->redis;
		who = "redis-server";
	}
	for (i = 0; i < r->setup->inst; i++)
		if (u->relay[i] > top) {
			top = u->relay[i];
			snprintf(name, sizeof name, "relay %c", 'A' + i);
			who = name;
		}
	if (r->setup->redis && cores(u, u->redis) >= 0.9 && l < cap)
		l += (size_t)snprintf(b + l, cap - l,
		    "redis-server's one command thread is saturated (%.2f "
		    "cores); ",
		    cores(u, u->redis));
	if (cores(u, u->clients) >= 0.9 * opt.pair_procs && l < cap)
		l += (size_t)snprintf(b + l, cap - l,
		    "the pair client process(es) are saturated (%.2f cores "
		    "for %d; more --pair-procs may go further); ",
		    cores(u, u->clients), opt.pair_procs);
	if (all >= 0.9 * (double)ncpu && l < cap)
		l += (size_t)snprintf(b + l, cap - l,
		    "CPU-bound: all %ld cores busy (%.2f), the largest share "
		    "is %s's (%.2f cores); ",
		    ncpu, all, who, cores(u, top));
	if (l == 0)
		snprintf(b, cap,
		    "not CPU-bound (%.2f of %ld cores busy; largest %s, %.2f "
		    "cores): the time goes to waiting (round trips, wake-ups)",
		    all, ncpu, who, cores(u, top));
	else if (l >= 2 && l < cap)
		b[l - 2] = '\0'; /* the last "; " */
}

static void
print_targets(const struct result *rs, int nr)
{
	char b[512], c[512];
	const struct result *r;
	int i, seen;

	printf("\nTargets (issue 9; on %ld CPUs shared by Redis, relays and "
	       "clients):\n",
	    sysconf(_SC_NPROCESSORS_ONLN));

	printf("- >= 50,000 pending logins at <= 1 KiB each in Redis:\n");
	for (i = 0, seen = 0; i < nr; i++) {
		r = &rs[i];
		if (!r->setup->redis || r->n < 50000)
			continue;
		seen++;
		printf("    %s, N=%" PRIu32
		       ": %.0f held, %.0f bytes each: %s\n",
		    r->setup->label, r->n, r->pending_gauge, r->r_per_pending,
		    r->pending_gauge >= 50000 && r->r_per_pending > 0 &&
			    r->r_per_pending <= 1024
			? "met"
			: "NOT MET");
		if (r->pending_gauge < 50000 || r->r_per_pending > 1024)
			printf("      per login (MEMORY USAGE): login %lld B "
			       "(value %lld B), link %lld B, pending zset "
			       "%.0f B; the rest is Redis's key tables and "
			       "expiry entries\n",
			    r->mu_login, r->len_login, r->mu_link,
			    r->pending_gauge > 0
				? (double)r->mu_zset / r->pending_gauge
				: -1.0);
	}
	if (!seen)
		printf("    not measured: no Redis run with N >= 50000\n");

	printf("- cross-instance wake p99 <= 5 ms at 50k pending:\n");
	for (i = 0, seen = 0; i < nr; i++) {
		r = &rs[i];
		if (!r->setup->redis || r->setup->inst < 2 || r->n < 50000)
			continue;
		seen++;
		printf("    %s, N=%" PRIu32 ": p99 %.3f ms (p50 %.3f, %" PRIu32
		       " samples, %" PRIu32 " polls parked on B): %s\n",
		    r->setup->label, r->n, r->wake_p99, r->wake_p50, r->wake_n,
		    r->parked,
		    r->wake_n > 0 && r->wake_p99 <= 5.0 ? "met" : "NOT MET");
		if (r->wake_n == 0 || r->wake_p99 > 5.0) {
			cpu_desc(c, sizeof c, &r->wake_cpu, r);
			printf("      callback answer on A p50 %.3f / p99 %.3f "
			       "ms; CPU in the wake phase (cores): %s\n",
			    r->cb_p50, r->cb_p99, c);
		}
	}
	if (!seen)
		printf("    not measured: no Redis run with 2 or more "
		       "instances and N >= 50000\n");

	printf("- >= 10,000 callback+poll pairs/s with 2 instances:\n");
	for (i = 0, seen = 0; i < nr; i++) {
		r = &rs[i];
		if (!r->setup->redis || r->setup->inst != 2)
			continue;
		seen++;
		printf("    %s, N=%" PRIu32 ": %.0f pairs/s (%d concurrent): "
		       "%s\n",
		    r->setup->label, r->n, r->pairs_rate, r->pair_slots,
		    r->pairs_rate >= 10000 ? "met" : "NOT MET");
		if (r->pairs_rate < 10000) {
			double done = (double)(r->pairs_ok + r->pairs_err);

			cpu_desc(c, sizeof c, &r->pairs_cpu, r);
			cpu_bound(b, sizeof b, &r->pairs_cpu, r);
			printf("      CPU during pairs (cores): %s\n"
			       "      bound: %s\n",
			    c, b);
			if (done > 0 && r->pairs_cpu.redis > 0)
				printf("      CPU per pair: redis-server %.0f "
				       "us (so its one thread alone allows "
				       "~%.0f pairs/s), all relays %.0f us, "
				       "pair clients %.0f us\n",
				    r->pairs_cpu.redis / done * 1e6,
				    done / r->pairs_cpu.redis,
				    sum_relays(&r->pairs_cpu, r) / done * 1e6,
				    r->pairs_cpu.clients / done * 1e6);
		}
	}
	if (!seen)
		printf("    not measured: no Redis run with 2 instances\n");
}

/* Redis's commands per pair in the pairs phase, most called first. */
static void
print_cmdstats(const struct result *r)
{
	const struct cmdstats *cs = &r->pair_cmds;
	double pairs = (double)(r->pairs_ok + r->pairs_err);
	bool done[MAX_CMDSTATS] = { false };
	int i, k, best, shown = 0;

	if (!r->setup->redis || pairs <= 0 || cs->n == 0)
		return;
	printf("%s, N=%" PRIu32 ": Redis per pair, calls (microseconds): ",
	    r->setup->label, r->n);
	for (k = 0; k < cs->n && shown < 12; k++) {
		best = -1;
		for (i = 0; i < cs->n; i++)
			if (!done[i] && strcmp(cs->name[i], "info") != 0 &&
			    cs->calls[i] > 0 &&
			    (best < 0 || cs->calls[i] > cs->calls[best]))
				best = i;
		if (best < 0)
			break;
		done[best] = true;
		printf("%s%s %.2f (%.1f)", shown++ ? ", " : "", cs->name[best],
		    cs->calls[best] / pairs, cs->usec[best] / pairs);
	}
	printf("; calls a Lua script makes are counted under their own names "
	       "too, and their time is inside the script's\n");
}

/*
 * An extrapolation, not a measurement: the relays' idle RSS + N x (memory
 * per pending login) + N x (memory per parked poll).
 */
static double
est_rss_mib(const struct result *r)
{
	long idle = 0;
	int j;

	if (r->per_parked < 0)
		return -1;
	for (j = 0; j < r->setup->inst; j++)
		idle += r->rss_idle[j];
	return ((double)idle * 1024.0 + r->per_pending * r->n +
		   r->per_parked * r->n) /
	    1048576.0;
}

static void
print_table(const struct result *rs, int nr)
{
	char b[96], h[32], h2[32];
	int i;
	size_t k;

#define ROW(label, ...)                                                        \
	do {                                                                   \
		printf("| %-44s |", label);                                    \
		for (i = 0; i < nr; i++) {                                     \
			const struct result *r = &rs[i];                       \
			(void)r;                                               \
			__VA_ARGS__;                                           \
			printf(" %18s |", b);                                  \
		}                                                              \
		printf("\n");                                                  \
	} while (0)
/* A Redis-only row: "-" for the memory store. */
#define RROW(label, ...)                                                       \
	ROW(                                                                   \
	    label, if (!r->setup->redis) snprintf(b, sizeof b, "-");           \
	    else { __VA_ARGS__; })

	printf("\n| %-44s |", "store (relay instances)");
	for (i = 0; i < nr; i++)
		printf(" %18s |", rs[i].setup->label);
	printf("\n| %-44s |", "pending logins N");
	for (i = 0; i < nr; i++)
		printf(" %18" PRIu32 " |", rs[i].n);
	printf("\n|%.46s|",
	    "----------------------------------------------"
	    "------");
	for (i = 0; i < nr; i++)
		printf("%.20s|", "-------------------------:");
	printf("\n");
	ROW("pending logins held (relay gauge)",
	    fmt_num(b, sizeof b, r->pending_gauge, 0));
	RROW("Redis used_memory idle (MiB)",
	    fmt_num(b, sizeof b, r->r_used_idle / 1048576.0, 1));
	RROW("Redis used_memory with N pending (MiB)",
	    fmt_num(b, sizeof b, r->r_used_pending / 1048576.0, 1));
	RROW("Redis memory per pending login (bytes)",
	    fmt_num(b, sizeof b, r->r_per_pending, 0));
	RROW("Redis keys per pending login",
	    fmt_num(b, sizeof b, r->r_keys_per_login, 2));
	RROW("redis-server RSS with N pending (MiB)",
	    fmt_num(b, sizeof b,
		r->r_rss_pending < 0 ? -1 : (double)r->r_rss_pending / 1024.0,
		1));
	ROW("relay RSS idle (MiB, A / B)",
	    fmt_kib_inst(b, sizeof b, r->rss_idle, r->setup->inst));
	ROW("relay RSS with N pending (MiB, A / B)",
	    fmt_kib_inst(b, sizeof b, r->rss_pending, r->setup->inst));
	ROW("relay memory per pending login (bytes)",
	    fmt_num(b, sizeof b, r->per_pending, 0));
	ROW("registrations/s (64 keep-alive conns)",
	    fmt_num(b, sizeof b, r->reg_rate, 0));
	ROW("parked polls held at once (on relay B)",
	    snprintf(b, sizeof b, "%" PRIu32 "%s", r->parked,
		r->park_target < r->n ? " (fd lim.)" : ""));
	ROW("memory per parked poll (bytes, relay B)",
	    fmt_num(b, sizeof b, r->per_parked, 0));
	RROW("Redis memory per parked poll (bytes)",
	    snprintf(b, sizeof b, "%.0f", r->r_per_parked));
	ROW("relay B RSS, N pending + polls parked (MiB)",
	    fmt_num(b, sizeof b, (double)r->rss_parked / 1024.0, 1));
	ROW("est. relay RSS, N pending + N parked (MiB)",
	    fmt_num(b, sizeof b, est_rss_mib(r), 1));
	ROW("wake: callback on / poll parked on",
	    snprintf(b, sizeof b, "A / %c", 'A' + r->park_inst));
	ROW("wake samples (one callback at a time)",
	    snprintf(b, sizeof b, "%" PRIu32, r->wake_n));
	ROW("wake latency p50 (ms)", fmt_num(b, sizeof b, r->wake_p50, 3));
	ROW("wake latency p99 (ms)", fmt_num(b, sizeof b, r->wake_p99, 3));
	ROW("wake latency max (ms)", fmt_num(b, sizeof b, r->wake_max, 3));
	ROW("callback answer p50 / p99 (ms)",
	    snprintf(b, sizeof b, "%s / %s", fmt_num(h, sizeof h, r->cb_p50, 3),
		fmt_num(h2, sizeof h2, r->cb_p99, 3)));
	ROW("callback+poll pairs/s",
	    snprintf(h, sizeof h, "%.0f", r->pairs_rate);
	    snprintf(b, sizeof b, "%s (%d conc.)", h, r->pair_slots));
	ROW("pairs completed in (s)", fmt_num(b, sizeof b, r->pairs_secs, 2));
	ROW("pair latency p50 / p99 (ms)",
	    snprintf(b, sizeof b, "%s / %s",
		fmt_num(h, sizeof h, r->pair_p50, 2),
		fmt_num(h2, sizeof h2, r->pair_p99, 2)));
	ROW("pair latency max (ms)", fmt_num(b, sizeof b, r->pair_max, 1));
	ROW("pairs slower than 100 ms",
	    snprintf(b, sizeof b, "%" PRIu64, r->pairs_slow));
	RROW("Redis commands per pair",
	    fmt_num(b, sizeof b, r->r_cmds_per_pair, 1));
	RROW("CPU during pairs (cores): redis-server",
	    fmt_num(b, sizeof b, cores(&r->pairs_cpu, r->pairs_cpu.redis), 2));
	ROW("  relays (A / B)",
	    fmt_cores_inst(b, sizeof b, &r->pairs_cpu, r->setup->inst));
	ROW("  pair clients",
	    fmt_num(
		b, sizeof b, cores(&r->pairs_cpu, r->pairs_cpu.clients), 2));
	ROW("  parking clients + bench",
	    fmt_num(b, sizeof b,
		cores(&r->pairs_cpu, r->pairs_cpu.parkers + r->pairs_cpu.self),
		2));
	ROW("  whole machine (all processes)",
	    fmt_num(
		b, sizeof b, cores(&r->pairs_cpu, r->pairs_cpu.machine), 2));
	RROW("CPU during wake (cores): redis-server",
	    fmt_num(b, sizeof b, cores(&r->wake_cpu, r->wake_cpu.redis), 2));
	ROW("  relays (A / B)",
	    fmt_cores_inst(b, sizeof b, &r->wake_cpu, r->setup->inst));
	ROW("polls re-parked after wait=25 ran out",
	    snprintf(b, sizeof b, "%" PRId64, r->reparks));
	ROW("parked gauge back to 0 after close (s)",
	    fmt_num(b, sizeof b, r->drain_secs, 2));
	ROW("SIGTERM to exit (s, slowest relay)",
	    fmt_num(b, sizeof b, r->stop_secs, 2));
	ROW("relay peak RSS VmHWM (MiB, A / B)",
	    fmt_kib_inst(b, sizeof b, r->hwm, r->setup->inst));
	ROW("relay log lines (all relays)",
	    snprintf(b, sizeof b, "%ld", r->log_lines));
#undef RROW
#undef ROW
	printf("\n");
	for (i = 0; i < nr; i++) {
		if (!rs[i].setup->redis)
			continue;
		printf("%s, N=%" PRIu32 ": one login in Redis (MEMORY USAGE): "
		       "login %lld B (value %lld B), link %lld B, pending zset "
		       "%.0f B per entry, client buffers + Lua %.0f B per "
		       "login\n",
		    rs[i].setup->label, rs[i].n, rs[i].mu_login,
		    rs[i].len_login, rs[i].mu_link,
		    rs[i].pending_gauge > 0
			? (double)rs[i].mu_zset / rs[i].pending_gauge
			: -1.0,
		    rs[i].r_clients_scripts);
	}
	for (i = 0; i < nr; i++)
		print_cmdstats(&rs[i]);
	for (i = 0; i < nr; i++) {
		k = strlen(rs[i].notes);
		printf("%s, N=%" PRIu32 ": %s\n", rs[i].setup->label, rs[i].n,
		    k ? rs[i].notes : "no errors");
	}
	print_targets(rs, nr);
}

/* --------------------------------------------------------------- main */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: relay_bench [options]\n"
	    "  --relay PATH            pam-ion-relay binary (default %s)\n"
	    "  --sizes N[,N...]        pending logins per run "
	    "(default 1000,10000,50000)\n"
	    "  --store memory|redis    the relays' store (default memory)\n"
	    "  --instances N           relays on the one store (default 1; "
	    "more need redis)\n"
	    "  --setups S[,S...]       several stores side by side, each "
	    "memory, redis or\n"
	    "                          redis:N (N instances), e.g. "
	    "memory,redis,redis:2;\n"
	    "                          replaces --store and --instances\n"
	    "  --redis-server PATH     redis-server binary (default %s)\n"
	    "  --max-park N            parked polls at most (default 18000)\n"
	    "  --park-per-worker N     parked polls per client process "
	    "(default 9000)\n"
	    "  --wake-samples N        callbacks timed one at a time "
	    "(default 2000)\n"
	    "  --reg-conns N           keep-alive connections for "
	    "registration (default 64)\n"
	    "  --pair-slots N          concurrent pairs (default 128)\n"
	    "  --pair-procs N          client processes for pairs (default "
	    "1)\n"
	    "  --pair-seconds S        timed pairs per run (default 5)\n"
	    "  --pair-batch N          logins registered per pairs round "
	    "(default 40000)\n"
	    "  --logdir DIR            relay stderr logs (default /tmp)\n"
	    "  --time-limit S          kill everything after S seconds "
	    "(default 900)\n"
	    "  --max-connections N     relay --max-connections and "
	    "--max-connections-per-ip\n"
	    "                          (default 19000)\n"
	    "  --relay-arg ARG         extra relay argument (repeatable)\n",
	    RELAY_PATH_DEFAULT, REDIS_SERVER_DEFAULT);
}

static uint32_t
num_arg(const char *s, uint32_t lo, uint32_t hi, const char *name)
{
	char *e;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &e, 10);
	if (errno || e == s || *e || v < lo || v > hi)
		die("%s: expected a number in %" PRIu32 "..%" PRIu32, name, lo,
		    hi);
	return (uint32_t)v;
}

static void
setup_set(struct setup *su, bool redis, int inst)
{
	su->redis = redis;
	su->inst = inst;
	if (!redis) {
		snprintf(su->label, sizeof su->label, "memory");
		snprintf(su->file, sizeof su->file, "memory");
	} else {
		if (inst == 1)
			snprintf(su->label, sizeof su->label, "redis");
		else
			snprintf(
			    su->label, sizeof su->label, "redis x%d", inst);
		snprintf(su->file, sizeof su->file, "redis%d", inst);
	}
}

/* "memory", "redis" or "redis:N", comma-separated. */
static void
parse_setups(const char *s)
{
	char *dup = strdup(s), *tok, *save = NULL;

	if (dup == NULL)
		die("out of memory");
	opt.nsetups = 0;
	for (tok = strtok_r(dup, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (opt.nsetups == MAX_SETUPS)
			die("--setups: at most %d", MAX_SETUPS);
		if (strcmp(tok, "memory") == 0)
			setup_set(&opt.setups[opt.nsetups++], false, 1);
		else if (strcmp(tok, "redis") == 0)
			setup_set(&opt.setups[opt.nsetups++], true, 1);
		else if (strncmp(tok, "redis:", 6) == 0)
			setup_set(&opt.setups[opt.nsetups++], true,
			    (int)num_arg(tok + 6, 1, MAX_INST, "--setups"));
		else
			die("--setups: expected memory, redis or redis:N, "
			    "not %s",
			    tok);
	}
	if (opt.nsetups == 0)
		die("--setups: empty");
	free(dup);
}

static void
parse_sizes(const char *s)
{
	char *dup = strdup(s), *tok, *save = NULL;

	if (dup == NULL)
		die("out of memory");
	opt.nsizes = 0;
	for (tok = strtok_r(dup, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (opt.nsizes == MAX_SIZES)
			die("--sizes: at most %d sizes", MAX_SIZES);
		opt.sizes[opt.nsizes++] = num_arg(tok, 1, 90000, "--sizes");
	}
	free(dup);
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "relay", required_argument, NULL, 'r' },
		{ "sizes", required_argument, NULL, 's' },
		{ "store", required_argument, NULL, 'D' },
		{ "instances", required_argument, NULL, 'I' },
		{ "setups", required_argument, NULL, 'U' },
		{ "redis-server", required_argument, NULL, 'R' },
		{ "max-park", required_argument, NULL, 'p' },
		{ "park-per-worker", required_argument, NULL, 'w' },
		{ "wake-samples", required_argument, NULL, 'k' },
		{ "reg-conns", required_argument, NULL, 'c' },
		{ "pair-slots", required_argument, NULL, 'C' },
		{ "pair-procs", required_argument, NULL, 'P' },
		{ "pair-seconds", required_argument, NULL, 'S' },
		{ "pair-batch", required_argument, NULL, 'B' },
		{ "logdir", required_argument, NULL, 'l' },
		{ "time-limit", required_argument, NULL, 't' },
		{ "relay-arg", required_argument, NULL, 'a' },
		{ "max-connections", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct result res[MAX_SIZES * MAX_SETUPS];
	const char *store = "memory", *setups = NULL;
	struct rlimit rl;
	struct sigaction sa;
	int ch, i, j, nr = 0, inst = 1;
	bool need_redis = false;

	g_parent = getpid();
	parse_sizes("1000,10000,50000");
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'r':
			opt.relay = optarg;
			break;
		case 'D':
			if (strcmp(optarg, "memory") != 0 &&
			    strcmp(optarg, "redis") != 0)
				die("--store: expected memory or redis");
			store = optarg;
			break;
		case 'I':
			inst = (int)num_arg(optarg, 1, MAX_INST, "--instances");
			break;
		case 'U':
			setups = optarg;
			break;
		case 'R':
			opt.redis_server = optarg;
			break;
		case 's':
			parse_sizes(optarg);
			break;
		case 'p':
			opt.max_park = num_arg(optarg, 0, 19500, "--max-park");
			break;
		case 'w':
			opt.park_per_worker =
			    num_arg(optarg, 100, 19000, "--park-per-worker");
			break;
		case 'k':
			opt.wake_samples =
			    num_arg(optarg, 0, 100000, "--wake-samples");
			break;
		case 'c':
			opt.reg_conns =
			    (int)num_arg(optarg, 1, 1000, "--reg-conns");
			break;
		case 'C':
			opt.pair_slots =
			    (int)num_arg(optarg, 1, 2000, "--pair-slots");
			break;
		case 'P':
			opt.pair_procs = (int)num_arg(
			    optarg, 1, MAX_WORKERS, "--pair-procs");
			break;
		case 'S':
			opt.pair_seconds =
			    num_arg(optarg, 0, 120, "--pair-seconds");
			break;
		case 'B':
			opt.pair_batch =
			    num_arg(optarg, 1000, 1000000, "--pair-batch");
			break;
		case 'l':
			opt.logdir = optarg;
			break;
		case 't':
			opt.time_limit =
			    (int)num_arg(optarg, 10, 3600, "--time-limit");
			break;
		case 'a':
			if (opt.nrelay_args == MAX_RELAY_ARGS)
				die("too many --relay-arg");
			opt.relay_args[opt.nrelay_args++] = optarg;
			break;
		case 'm':
			opt.max_conns =
			    num_arg(optarg, 16, 1000000, "--max-connections");
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (opt.pair_slots < opt.pair_procs)
		die("--pair-slots must be at least --pair-procs");
	if (setups != NULL)
		parse_setups(setups);
	else {
		if (strcmp(store, "memory") == 0 && inst > 1)
			die("--instances %d: several instances share a store "
			    "only with --store redis",
			    inst);
		setup_set(&opt.setups[0], strcmp(store, "redis") == 0, inst);
		opt.nsetups = 1;
	}
	for (i = 0; i < opt.nsetups; i++) {
		if (!opt.setups[i].redis && opt.setups[i].inst > 1)
			die("--setups: memory has one instance");
		need_redis |= opt.setups[i].redis;
	}
	if (access(opt.relay, X_OK) != 0)
		die("%s: %s", opt.relay, strerror(errno));
	if (mkdir(opt.logdir, 0700) != 0 && errno != EEXIST)
		die("%s: %s", opt.logdir, strerror(errno));
	if (need_redis && access(opt.redis_server, X_OK) != 0)
		die("%s: %s", opt.redis_server, strerror(errno));

	/* The relay inherits this: up to the hard limit (20000 here). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < (rlim_t)opt.max_conns + 64)
		note("open-file limit %lu is below --max-connections + 64; "
		     "the relay may refuse it",
		    (unsigned long)rl.rlim_cur);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned)opt.time_limit);

	/* Size by size, the setups side by side. */
	for (i = 0; i < opt.nsizes; i++)
		for (j = 0; j < opt.nsetups; j++)
			run_size(&res[nr++], &opt.setups[j], opt.sizes[i]);
	print_table(res, nr);
	return 0;
}
