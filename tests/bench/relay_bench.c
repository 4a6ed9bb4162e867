/*
 * relay_bench: load benchmark for pam-ion-relay.
 *
 * For each run size N it starts a fresh relay on 127.0.0.1 (kernel-chosen
 * port), then measures:
 *   1. relay RSS per pending login (N registrations over keep-alive
 *      connections) and per parked long-poll (as many parked polls as the
 *      open-file limits allow, held by forked client processes);
 *   2. wake latency: callbacks sent one at a time while the polls are parked,
 *      from just before the callback is written to the arrival of the parked
 *      poll's 200 answer (CLOCK_MONOTONIC, comparable across processes);
 *   3. callback+poll pairs per second with C concurrent pairs, each pair a
 *      poll and a callback on two keep-alive connections.
 *
 * The HTTP/1.1 client is a small epoll loop written here: it speaks only the
 * four requests the bench needs and parses Content-Length and chunked
 * answers. It talks to 127.0.0.1 only, every loop is bounded in count and
 * time, and the relay and every client process are killed at the end (and
 * get SIGKILL through PR_SET_PDEATHSIG if the bench itself dies).
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
#define MAX_RELAY_ARGS 16
#define MAX_WORKERS 16
#define CONNECT_WINDOW 256  /* connects in flight per client process */
#define IN_MAX (256 * 1024) /* largest answer the client accepts */
#define NS_PER_S INT64_C(1000000000)
#define NS_PER_MS INT64_C(1000000)

#define AUTHORIZE_PREFIX "https://idp.example/authorize"
#define PUBLIC_URL "http://127.0.0.1"
/*
 * The bench is the relay's one client: its key, and the keys-file line for
 * it (SHA-256 of the key, as pam-ion-relay --new-client-key prints it).
 */
#define CLIENT_KEY "relay-bench-key-0123456789abcdefghijklmnop"
#define CLIENT_LINE                                                            \
	"relay-bench "                                                         \
	"b204af1843fa64db0be8545b007fccca82e08a56d7d8ac0dee64de9312809252\n"
#define RELAY_PATH_DEFAULT "/work/main/build/src/relay/pam-ion-relay"

/* Options. */
static struct {
	const char *relay;
	const char *logdir;
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
static volatile pid_t g_relay = -1;
static volatile pid_t g_kids[MAX_WORKERS * 2];
static struct sockaddr_in g_addr;
static char g_host[32];

/* ---------------------------------------------------------------- misc */

static void
kill_all(void)
{
	size_t i;

	if (getpid() != g_parent)
		return;
	if (g_relay > 0)
		kill(g_relay, SIGKILL);
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
	char bearer[44]; /* base64url(P), P = 32 random bytes */
	char state[44];	 /* base64url(SHA-256(P)) */
	char nonce[44];	 /* base64url(SHA-256("pam_ion-nonce" || S)) */
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
	char body[512];
	int bl, n;

	bl = snprintf(body, sizeof body,
	    "{\"state\":\"%s\",\"authorize_url\":\"" AUTHORIZE_PREFIX
	    "?response_type=code&client_id=bench&state=%s&nonce=%s\","
	    "\"context\":{\"host\":\"bench\",\"user\":\"u\","
	    "\"rhost\":\"127.0.0.1\",\"service\":\"sshd\"}}",
	    l->state, l->state, l->nonce);
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
	if (connect(fd, (struct sockaddr *)&g_addr, sizeof g_addr) == 0)
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

/* One blocking GET with Connection: close; returns the status or -1. */
static int
http_get(const char *path, char *body, size_t cap, int timeout_ms)
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
metrics_get(double *pending, double *parked)
{
	static char buf[65536];

	if (http_get("/metrics", buf, sizeof buf, 3000) != 200)
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
 * connection.  A poll that times out (202) is sent again at once, so the
 * login stays parked; a poll answered 200 is reported with its arrival time
 * and its connection left idle.
 */
__attribute__((noreturn)) static void
park_worker(int sk, const struct login *L, uint32_t first, uint32_t count,
    uint32_t batch, int64_t deadline)
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
	for (n = 0; n < count; n++)
		conn_init(&cs[n]);
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
 */
__attribute__((noreturn)) static void
pair_worker(int sk, const struct login *L, uint32_t first, uint32_t count,
    uint32_t batch, int slots, struct ptimes *lat, int64_t hard_deadline)
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
relay_alive(void)
{
	int st;

	if (g_relay <= 0)
		return false;
	if (waitpid(g_relay, &st, WNOHANG) == 0)
		return true;
	note("relay pid %d has died (%s %d)", (int)g_relay,
	    WIFSIGNALED(st) ? "signal" : "exit status",
	    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	g_relay = -1;
	return false;
}

static int
relay_start(const char *logpath)
{
	char maxp[32], maxc[32], maxk[32], *argv[32 + MAX_RELAY_ARGS],
	    buf[4096];
	char keys[4096];
	const char *p;
	int lfd, fd, i, argc = 0;
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
	for (i = 0; i < opt.nrelay_args; i++)
		argv[argc++] = strdup(opt.relay_args[i]);
	argv[argc] = NULL;
	for (i = 0; i < argc; i++)
		if (argv[i] == NULL)
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
	for (i = 0; i < argc; i++)
		free(argv[i]);
	g_relay = pid;

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
		if (!relay_alive())
			die("relay exited before listening; see %s", logpath);
		sleep_ms(10);
	}
	die("relay printed no 'listening on' line within 10 s; see %s",
	    logpath);
}

/* SIGTERM, then wait; returns seconds taken (or -1 when it had to be
 * killed) and the wait status in *ret_status. */
static double
relay_stop(int *ret_status)
{
	int64_t t0 = now_ns(), deadline = t0 + 10 * NS_PER_S;
	int st = 0;
	pid_t p;

	*ret_status = -1;
	if (g_relay <= 0)
		return -1;
	kill(g_relay, SIGTERM);
	while ((p = waitpid(g_relay, &st, WNOHANG)) == 0 && now_ns() < deadline)
		sleep_ms(5);
	if (p == 0) {
		kill(g_relay, SIGKILL);
		waitpid(g_relay, &st, 0);
		g_relay = -1;
		*ret_status = st;
		return -1;
	}
	g_relay = -1;
	*ret_status = st;
	return (double)(now_ns() - t0) / 1e9;
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
	char req[1024];
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
	bool ok;
	char notes[1024];
	/* memory */
	double pending_gauge;
	long rss_idle, rss_pending, rss_prepark, rss_parked, hwm; /* KiB */
	double per_pending, per_parked;				  /* bytes */
	uint32_t reg_failed;
	double reg_rate;
	/* parking */
	uint32_t park_target, parked, park_workers;
	double park_secs;
	/* wake */
	uint32_t wake_n, wake_missed, wake_bad, wake_cb_bad;
	double wake_p50, wake_p99, wake_max, cb_p50;
	/* pairs */
	uint64_t pairs_ok, pairs_err;
	double pairs_secs, pairs_rate, pair_p50, pair_p99, pair_max;
	uint64_t pairs_slow; /* pairs that took over 100 ms */
	uint64_t pairs_bad_poll, pairs_bad_cb, pairs_dead;
	int pairs_last_status;
	double pairs_relay_cpu, pairs_client_cpu; /* CPU seconds, timed part */
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
spawn_park_workers(
    struct worker *w, int nw, const struct login *L, uint32_t m, uint32_t batch)
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
			park_worker(3, L, a, b - a, batch, deadline);
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

	if (k == 0)
		return;
	lat = xcalloc(k, sizeof *lat);
	cbl = xcalloc(k, sizeof *cbl);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	conn_init(&cb);
	memset(&wk, 0, sizeof wk);
	/* Let stale reports (none expected) go before sampling. */
	drain_msgs(w, nw, 0, wake_cb, &wk);
	wk.stray = 0;
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
	conn_close(&cb, ep);
	close(ep);
	qsort(lat, nl, sizeof *lat, cmp_double);
	qsort(cbl, ncb, sizeof *cbl, cmp_double);
	res->wake_n = (uint32_t)nl;
	res->wake_p50 = pct(lat, nl, 0.50);
	res->wake_p99 = pct(lat, nl, 0.99);
	res->wake_max = nl ? lat[nl - 1] : -1;
	res->cb_p50 = pct(cbl, ncb, 0.50);
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

static void
phase_pairs(struct result *res, uint32_t batch_base)
{
	struct worker w[MAX_WORKERS];
	struct reg_stats rs;
	struct pool pool;
	struct login *L;
	double pending = 0, *all = NULL, elapsed, cpu_relay, cpu_kids;
	struct ptimes *lat;
	uint64_t slow_cb = 0, slow_poll = 0;
	size_t nall = 0, capall = 0;
	uint32_t batch, j, a, b, avail;
	int round, i, np = opt.pair_procs, sv[2], slots;
	int64_t budget = (int64_t)(opt.pair_seconds * 1e9), spent = 0;
	int64_t t_go, t_end, hard;

	res->pair_slots = 0;
	for (round = 0; round < opt.pair_rounds && spent < budget; round++) {
		if (!relay_alive())
			break;
		if (metrics_get(&pending, NULL) < 0 || pending < 0)
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
				    lat, hard);
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
		cpu_relay = proc_cpu_secs(g_relay);
		cpu_kids = children_cpu_secs();
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
		res->pairs_relay_cpu += proc_cpu_secs(g_relay) - cpu_relay;
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
			kid_reap(w[i].pid, 2000);
			close(w[i].sk);
		}
		/* The clients' CPU includes their connection set-up. */
		res->pairs_client_cpu += children_cpu_secs() - cpu_kids;
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

static void
run_size(struct result *res, uint32_t n)
{
	struct worker w[MAX_WORKERS];
	struct reg_stats rs;
	struct pool pool;
	struct login *L;
	char logpath[PATH_MAX];
	double gk = -1, last = -1;
	uint32_t m, batch = 0;
	int nw, i, port;
	int64_t t0, stable_since, deadline;

	memset(res, 0, sizeof *res);
	res->n = n;
	res->stop_status = -1;
	res->wake_p50 = res->wake_p99 = res->wake_max = res->cb_p50 = -1;
	res->pair_p50 = res->pair_p99 = res->pair_max = -1;
	res->per_parked = -1;
	snprintf(logpath, sizeof logpath, "%s/relay-bench-%" PRIu32 ".log",
	    opt.logdir, n);
	port = relay_start(logpath);
	note("[%" PRIu32 "] relay pid %d on port %d (log %s)", n, (int)g_relay,
	    port, logpath);
	memset(&g_addr, 0, sizeof g_addr);
	g_addr.sin_family = AF_INET;
	g_addr.sin_port = htons((uint16_t)port);
	g_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	snprintf(g_host, sizeof g_host, "127.0.0.1:%d", port);

	/* 1. memory per pending login */
	if (pool_open(&pool, opt.reg_conns) == 0)
		die("no connection to the relay could be opened");
	sleep_ms(300);
	res->rss_idle = proc_status_kb(g_relay, "VmRSS");
	L = make_logins(n);
	register_batch(&pool, L, n, &rs);
	res->reg_rate = rs.secs > 0 ? rs.ok / rs.secs : 0;
	res->reg_failed = rs.failed;
	reg_note(res, "pending batch", &rs);
	sleep_ms(300);
	res->rss_pending = proc_status_kb(g_relay, "VmRSS");
	metrics_get(&res->pending_gauge, NULL);
	res->per_pending = rs.ok
	    ? (double)(res->rss_pending - res->rss_idle) * 1024.0 / rs.ok
	    : -1;
	note("[%" PRIu32 "] registered %" PRIu32 " in %.2f s (%.0f/s), "
	     "RSS %ld -> %ld KiB",
	    n, rs.ok, rs.secs, res->reg_rate, res->rss_idle, res->rss_pending);
	pool_close(&pool);
	if (!relay_alive()) {
		addnote(res, "relay died during registration");
		goto done;
	}

	/* 2. parked polls */
	m = n < opt.max_park ? n : opt.max_park;
	res->park_target = m;
	nw = (int)((m + opt.park_per_worker - 1) / opt.park_per_worker);
	if (nw > MAX_WORKERS)
		die("too many parking clients; raise --park-per-worker");
	res->park_workers = (uint32_t)nw;
	sleep_ms(200);
	res->rss_prepark = proc_status_kb(g_relay, "VmRSS");
	t0 = now_ns();
	spawn_park_workers(w, nw, L, m, batch);
	deadline = t0 + 90 * NS_PER_S;
	stable_since = now_ns();
	while (now_ns() < deadline) {
		drain_msgs(w, nw, 200, NULL, NULL);
		if (!relay_alive())
			break;
		if (metrics_get(NULL, &gk) == 0) {
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
	res->parked = gk > 0 ? (uint32_t)gk : 0;
	sleep_ms(500);
	res->rss_parked = proc_status_kb(g_relay, "VmRSS");
	metrics_get(NULL, &gk);
	res->parked = gk > 0 ? (uint32_t)gk : 0;
	res->per_parked = res->parked
	    ? (double)(res->rss_parked - res->rss_prepark) * 1024.0 /
		res->parked
	    : -1;
	note("[%" PRIu32 "] parked %" PRIu32 " of %" PRIu32 " polls in %.2f s "
	     "(%d clients), RSS %ld -> %ld KiB",
	    n, res->parked, m, res->park_secs, nw, res->rss_prepark,
	    res->rss_parked);
	if (res->parked < m)
		addnote(res, "only %" PRIu32 " of %" PRIu32 " polls parked",
		    res->parked, m);
	if (!relay_alive()) {
		addnote(res, "relay died while polls were parked");
		goto teardown;
	}

	/* 3. wake latency */
	if (res->parked > 0)
		phase_wake(res, w, nw, L, m, batch);
	note("[%" PRIu32 "] wake latency over %" PRIu32 " samples: p50 %.3f "
	     "p99 %.3f max %.3f ms",
	    n, res->wake_n, res->wake_p50, res->wake_p99, res->wake_max);
	if (!relay_alive()) {
		addnote(res, "relay died in the wake phase");
		goto teardown;
	}

	/* 4. callback+poll pairs, with the remaining polls still parked */
	phase_pairs(res, batch);
	note("[%" PRIu32 "] %" PRIu64 " pairs in %.2f s = %.0f pairs/s "
	     "(%d concurrent), pair latency p50 %.3f p99 %.3f ms",
	    n, res->pairs_ok, res->pairs_secs, res->pairs_rate, res->pair_slots,
	    res->pair_p50, res->pair_p99);

teardown:
	res->hwm = g_relay > 0 ? proc_status_kb(g_relay, "VmHWM") : -1;
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
	/* How long until the relay notices every parked client is gone. */
	res->drain_secs = -1;
	for (deadline = t0 + 15 * NS_PER_S; now_ns() < deadline;) {
		if (!relay_alive() || metrics_get(NULL, &gk) < 0)
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
	if (g_relay > 0) {
		res->stop_secs = relay_stop(&res->stop_status);
		if (res->stop_secs < 0)
			addnote(
			    res, "relay did not stop within 10 s of SIGTERM");
		else if (!WIFEXITED(res->stop_status) ||
		    WEXITSTATUS(res->stop_status) != 0)
			addnote(res, "relay stopped with status %#x",
			    (unsigned)res->stop_status);
	}
	check_log(res, logpath);
	if (res->log_leak)
		addnote(res,
		    "relay log contains a code, Bearer or query "
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
			printf(" %22s |", b);                                  \
		}                                                              \
		printf("\n");                                                  \
	} while (0)

	printf("\n| %-44s |", "pending logins N");
	for (i = 0; i < nr; i++)
		printf(" %22" PRIu32 " |", rs[i].n);
	printf("\n|%.46s|",
	    "----------------------------------------------"
	    "------");
	for (i = 0; i < nr; i++)
		printf("%.24s|", "-------------------------:");
	printf("\n");
	ROW("pending logins held (relay gauge)",
	    fmt_num(b, sizeof b, r->pending_gauge, 0));
	ROW("relay RSS idle (MiB)",
	    fmt_num(b, sizeof b, (double)r->rss_idle / 1024.0, 1));
	ROW("relay RSS with N pending (MiB)",
	    fmt_num(b, sizeof b, (double)r->rss_pending / 1024.0, 1));
	ROW("memory per pending login (bytes)",
	    fmt_num(b, sizeof b, r->per_pending, 0));
	ROW("registrations/s (64 keep-alive conns)",
	    fmt_num(b, sizeof b, r->reg_rate, 0));
	ROW("parked polls held at once",
	    snprintf(b, sizeof b, "%" PRIu32 "%s", r->parked,
		r->park_target < r->n ? " (fd limit)" : ""));
	ROW("memory per parked poll (bytes)",
	    fmt_num(b, sizeof b, r->per_parked, 0));
	ROW("relay RSS, N pending + polls parked (MiB)",
	    fmt_num(b, sizeof b, (double)r->rss_parked / 1024.0, 1));
	ROW("est. RSS, N pending + N parked (MiB)",
	    fmt_num(b, sizeof b,
		r->per_parked < 0
		    ? -1
		    : ((double)r->rss_idle * 1024.0 + r->per_pending * r->n +
			  r->per_parked * r->n) /
			1048576.0,
		1));
	ROW("wake samples (one callback at a time)",
	    snprintf(b, sizeof b, "%" PRIu32, r->wake_n));
	ROW("wake latency p50 (ms)", fmt_num(b, sizeof b, r->wake_p50, 3));
	ROW("wake latency p99 (ms)", fmt_num(b, sizeof b, r->wake_p99, 3));
	ROW("wake latency max (ms)", fmt_num(b, sizeof b, r->wake_max, 3));
	ROW("callback answer p50 (ms)", fmt_num(b, sizeof b, r->cb_p50, 3));
	ROW("callback+poll pairs/s",
	    snprintf(h, sizeof h, "%.0f", r->pairs_rate);
	    snprintf(b, sizeof b, "%s (%d conc.)", h, r->pair_slots));
	ROW("pairs completed in (s)", fmt_num(b, sizeof b, r->pairs_secs, 2));
	ROW("pair latency p50 / p99 (ms)",
	    snprintf(b, sizeof b, "%s / %s",
		fmt_num(h, sizeof h, r->pair_p50, 2),
		fmt_num(h2, sizeof h2, r->pair_p99, 2)));
	ROW("relay CPU during pairs (cores of 2)",
	    fmt_num(b, sizeof b,
		r->pairs_secs > 0 ? r->pairs_relay_cpu / r->pairs_secs : -1,
		2));
	ROW("pairs client CPU (cores of 2)",
	    fmt_num(b, sizeof b,
		r->pairs_secs > 0 ? r->pairs_client_cpu / r->pairs_secs : -1,
		2));
	ROW("pair latency max (ms)", fmt_num(b, sizeof b, r->pair_max, 1));
	ROW("pairs slower than 100 ms",
	    snprintf(b, sizeof b, "%" PRIu64, r->pairs_slow));
	ROW("polls re-parked after wait=25 ran out",
	    snprintf(b, sizeof b, "%" PRId64, r->reparks));
	ROW("parked gauge back to 0 after close (s)",
	    fmt_num(b, sizeof b, r->drain_secs, 2));
	ROW("SIGTERM to exit (s)", fmt_num(b, sizeof b, r->stop_secs, 2));
	ROW("relay peak RSS VmHWM (MiB)",
	    fmt_num(b, sizeof b, (double)r->hwm / 1024.0, 1));
	ROW("relay log lines", snprintf(b, sizeof b, "%ld", r->log_lines));
#undef ROW
	printf("\n");
	for (i = 0; i < nr; i++) {
		k = strlen(rs[i].notes);
		printf("N=%" PRIu32 ": %s\n", rs[i].n,
		    k ? rs[i].notes : "no errors");
	}
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
	    RELAY_PATH_DEFAULT);
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
	struct result res[MAX_SIZES];
	struct rlimit rl;
	struct sigaction sa;
	int ch, i;

	g_parent = getpid();
	parse_sizes("1000,10000,50000");
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'r':
			opt.relay = optarg;
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
	if (access(opt.relay, X_OK) != 0)
		die("%s: %s", opt.relay, strerror(errno));

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

	for (i = 0; i < opt.nsizes; i++)
		run_size(&res[i], opt.sizes[i]);
	print_table(res, opt.nsizes);
	return 0;
}
