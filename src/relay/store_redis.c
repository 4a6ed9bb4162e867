/*
 * The redis store: logins in a Redis (or Valkey) server that any number of
 * relays share.  The only file that includes hiredis.
 *
 * Keys, all under the prefix P (--store-prefix):
 *   P s:<state>   the login (login_blob()), PX the TTL
 *   P k:<link>    its state, for the landing page, PX the TTL
 *   P r:<state>   the result, PX what is left of the login's TTL
 *   P d:<state>   a delivery under way: the id of the relay sending it,
 *                 PX RELAY_DELIVERY_LEASE_MS
 *   P u:<hex>     a used code or request_uri (relay_store_used_hash()),
 *                 PX the TTL
 *   P pending     link ids by expiry (ms of the server's clock): the count
 *                 --max-pending bounds, across every relay
 *   P ttl         the longest --ttl (ms) a login was registered with: the
 *                 used codes and request_uris are kept that long
 * and the channel P wake:<db>, on which the state of every result stored
 * or put back is published.
 *
 * Every step that decides (the first result wins, one delivery at a time,
 * a code or request_uri accepted once, the cap) is one Lua script run by
 * the server, so relays never read and then write.  Redis keeps the TTLs.
 *
 * Threads: requests borrow a connection from a small pool; one watcher
 * thread holds the subscription, wakes parked polls when a result is
 * published, and owns the store's health: it reconnects with backoff, and
 * while it is not subscribed every request fails at once with
 * ION_ERR_UNAVAIL (a wake could be missed otherwise).
 */
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "b64url.h"
#include "clock.h"
#include "crypto.h"
#include "errors.h"
#include "log.h"
#include "store.h"
#include "store_impl.h"

#define POOL_MAX 64	      /* connections for requests */
#define BACKOFF_MIN_MS 100    /* after a failed connection attempt ... */
#define BACKOFF_MAX_MS 2000   /* ... doubling up to this */
#define PING_IDLE_MS 1000     /* the watcher pings when nothing came */
#define PING_DEADLINE_MS 2000 /* and gives the server up without pong */
#define DUE_MARGIN_MS 20      /* a poll looks again this long after a TTL */
#define EXPIRE_EVERY_MS 1000  /* the watcher counts expired logins */
#define WHERE_MAX 400	      /* where(): scheme, user, host, port and db */
#define LINK_TRIES 8
#define INSTANCE_LEN 32 /* hex of 16 random bytes */
#define HEX_SHA256 (2 * ION_SHA256_LEN)

/*
 * The login's value: a fixed head, then host, user, rhost, service, client
 * name and authorize URL, each NUL-terminated.  The scripts read the link
 * id and the client hash at their fixed places (1-based in Lua).
 */
#define BLOB_VERSION '1'
#define BLOB_LINK 1	/* 11 chars: Lua 2..12 */
#define BLOB_CLIENT 12	/* 32 bytes: Lua 13..44 */
#define BLOB_CONFIRM 44 /* '0' or '1' */
#define BLOB_CREATED 45 /* 8 hex digits of time(NULL) */
#define BLOB_CUTS 53	/* 2 x 4 hex digits: see struct elision */
#define BLOB_STRINGS 61
#define BLOB_NSTRINGS 6

enum script {
	SCRIPT_ADD,
	SCRIPT_VIEW,
	SCRIPT_PUT,
	SCRIPT_TAKE,
	SCRIPT_DELIVERED,
	SCRIPT_EXPIRE,
	SCRIPT_COUNT,
	SCRIPT_N
};

/*
 * Scripts that only read are marked no-writes; those that only delete or
 * hold a short lease may run when the server is at maxmemory (allow-oom),
 * so a full server still hands out what it holds.  The others are refused
 * whole with OOM there, before they change anything.
 */
static const char *const scripts[SCRIPT_N] = {
	/*
	 * KEYS: s, k, pending, ttl [, u]  ARGV: blob, ttl_ms, max, link, state
	 * ttl holds the longest TTL any relay registered a login with: what
	 * is remembered against reuse lives that long (relays sharing the
	 * store may have been given different --ttl).
	 */
	[SCRIPT_ADD] = "#!lua\n"
		       "if redis.call('EXISTS', KEYS[1]) == 1 then\n"
		       "  return 'exists' end\n"
		       "local t = redis.call('TIME')\n"
		       "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
		       "if redis.call('ZCOUNT', KEYS[3], '(' .. now, '+inf')"
		       " >= tonumber(ARGV[3]) then return 'full' end\n"
		       "if KEYS[5] and redis.call('EXISTS', KEYS[5]) == 1"
		       " then return 'used' end\n"
		       "if not redis.call('SET', KEYS[2], ARGV[5], 'NX', "
		       "'PX', ARGV[2]) then return 'link' end\n"
		       "local keep = tonumber(redis.call('GET', KEYS[4]) or "
		       "'0')\n"
		       "if keep < tonumber(ARGV[2]) then\n"
		       "  keep = tonumber(ARGV[2])\n"
		       "  redis.call('SET', KEYS[4], keep) end\n"
		       "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
		       "if KEYS[5] then\n"
		       "  redis.call('SET', KEYS[5], '1', 'PX', keep) end\n"
		       "redis.call('ZADD', KEYS[3], now + ARGV[2], ARGV[4])\n"
		       "return 'ok'\n",
	/* KEYS: k  ARGV: prefix */
	[SCRIPT_VIEW] = "#!lua flags=no-writes\n"
			"local s = redis.call('GET', KEYS[1])\n"
			"if not s then return {'missing'} end\n"
			"local v = redis.call('GET', ARGV[1] .. 's:' .. s)\n"
			"if not v then return {'missing'} end\n"
			"if redis.call('EXISTS', ARGV[1] .. 'r:' .. s) == 1"
			" then return {'used'} end\n"
			"return {'ok', v, s}\n",
	/*
	 * KEYS: s, r, ttl [, u]  ARGV: result, ttl_ms, channel, state
	 * r holds the login's client hash and link id before the result,
	 * so a poll finds all it needs in one GET.
	 */
	[SCRIPT_PUT] = "#!lua\n"
		       "local v = redis.call('GET', KEYS[1])\n"
		       "if not v then return {'missing'} end\n"
		       "local left = redis.call('PTTL', KEYS[1])\n"
		       "if left <= 0 then return {'missing'} end\n"
		       "if not redis.call('SET', KEYS[2], string.sub(v, 13, 44)"
		       " .. string.sub(v, 2, 12) .. ARGV[1], 'NX', 'PX', left)"
		       " then return {'used'} end\n"
		       "if KEYS[4] then\n"
		       "  local keep = math.max(tonumber(ARGV[2]), "
		       "tonumber(redis.call('GET', KEYS[3]) or '0'))\n"
		       "  if not redis.call('SET', KEYS[4], '1', 'NX', 'PX', "
		       "keep) then\n"
		       "    redis.call('DEL', KEYS[2])\n"
		       "    return {'denied'} end\n"
		       "end\n"
		       "redis.call('PUBLISH', ARGV[3], ARGV[4])\n"
		       "return {'ok', v}\n",
	/* KEYS: s, r, d  ARGV: client, instance, lease_ms */
	[SCRIPT_TAKE] = "#!lua flags=allow-oom\n"
			"local res = redis.call('GET', KEYS[2])\n"
			"if res then\n"
			"  if string.sub(res, 1, 32) ~= ARGV[1] then\n"
			"    return {'missing'} end\n"
			"  if redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', "
			"ARGV[3]) then\n"
			"    return {'ok', string.sub(res, 44), "
			"string.sub(res, 33, 43)} end\n"
			"  return {'pending', math.min(redis.call('PTTL', "
			"KEYS[3]), redis.call('PTTL', KEYS[2]))}\n"
			"end\n"
			"if redis.call('GETRANGE', KEYS[1], 12, 43) ~= ARGV[1]"
			" then return {'missing'} end\n"
			"return {'pending', redis.call('PTTL', KEYS[1])}\n",
	/*
	 * KEYS: s, r, d, pending  ARGV: instance, ok, prefix, channel, state
	 * Returns 1 when the result is available again.
	 */
	[SCRIPT_DELIVERED] =
	    "#!lua flags=allow-oom\n"
	    "local held = redis.call('GET', KEYS[3])\n"
	    "if held and held ~= ARGV[1] then return 0 end\n"
	    "if ARGV[2] == '1' then\n"
	    "  local link = redis.call('GETRANGE', KEYS[1], 1, 11)\n"
	    "  if link == '' then\n"
	    "    redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])\n"
	    "    return 0 end\n"
	    "  redis.call('ZREM', KEYS[4], link)\n"
	    "  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], "
	    "ARGV[3] .. 'k:' .. link)\n"
	    "  return 0\n"
	    "end\n"
	    "if not held then return 0 end\n"
	    "redis.call('DEL', KEYS[3])\n"
	    "if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end\n"
	    "redis.call('PUBLISH', ARGV[4], ARGV[5])\n"
	    "return 1\n",
	/* KEYS: pending; the expired logins' entries, removed and counted */
	[SCRIPT_EXPIRE] = "#!lua flags=allow-oom\n"
			  "local t = redis.call('TIME')\n"
			  "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
			  "return redis.call('ZREMRANGEBYSCORE', KEYS[1], "
			  "'-inf', now)\n",
	/* KEYS: pending */
	[SCRIPT_COUNT] = "#!lua flags=no-writes\n"
			 "local t = redis.call('TIME')\n"
			 "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
			 "return redis.call('ZCOUNT', KEYS[1], '(' .. now, "
			 "'+inf')\n",
};

/* A connection of the pool. */
struct conn {
	redisContext *ctx; /* NULL until connected */
	unsigned gen;	   /* the watcher's connection it was made under */
	struct conn *next; /* in the free list */
};

struct redis_store {
	struct relay_store base; /* first: see store_impl.h */
	struct relay_store_url url;
	char *password; /* NULL: no AUTH; scrubbed at free */
	char prefix[RELAY_STORE_PREFIX_MAX + 1];
	char channel[RELAY_STORE_PREFIX_MAX + 24];
	char instance[INSTANCE_LEN + 1];
	char ttl_ms[24], lease_ms[24], max_pending[24];
	struct timeval timeout;

	pthread_mutex_t pool_lock;
	pthread_cond_t pool_free;
	struct conn *free_conns;
	unsigned nconns;

	/* the scripts' SHA-1 as the server loaded them; "" to send them */
	pthread_mutex_t sha_lock;
	char sha[SCRIPT_N][41];

	/* the watcher's: whether it is subscribed, and why not */
	atomic_bool up;
	atomic_uint gen;
	pthread_mutex_t why_lock;
	pthread_cond_t first_try;
	bool tried;
	char why[200];
	atomic_ulong errors, reconnects;
	atomic_ulong expired; /* logins found gone, not yet reported */
	atomic_bool suspect;  /* a command timed out: reconnect */
	struct relay_log_limit error_log;

	struct relay_store_events ev;
	pthread_t thread;
	bool watching;
	int stop_pipe[2];
};

static struct redis_store *
rs(struct relay_store *base)
{
	return (struct redis_store *)base;
}

/* ------------------------------------------------------------ connecting */

static void
where(const struct redis_store *st, char *out, size_t outlen)
{
	const char *at = st->url.user[0] != '\0' ? "@" : "";

	if (st->url.kind == RELAY_STORE_REDIS_UNIX)
		snprintf(out, outlen, "redis+unix://%s?db=%u", st->url.path,
		    st->url.db);
	else if (strchr(st->url.host, ':') != NULL)
		snprintf(out, outlen, "redis://%s%s[%s]:%u/%u", st->url.user,
		    at, st->url.host, st->url.port, st->url.db);
	else
		snprintf(out, outlen, "redis://%s%s%s:%u/%u", st->url.user, at,
		    st->url.host, st->url.port, st->url.db);
}

/*
 * Runs one command on ctx; the reply, or NULL with why filled in (the
 * context's error, or the server's error text).
 */
static redisReply *
simple(redisContext *ctx, int argc, const char **argv, const size_t *lens,
    char *why, size_t whylen)
{
	redisReply *r = redisCommandArgv(ctx, argc, argv, lens);

	if (r == NULL) {
		snprintf(
		    why, whylen, "%s", ctx->err ? ctx->errstr : "no answer");
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(why, whylen, "%.*s",
		    (int)(r->len > 150 ? 150 : r->len), r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/*
 * A new connection: AUTH when there is a password, SELECT the database.
 * NULL with why filled in.
 */
static redisContext *
connect_to(struct redis_store *st, char *why, size_t whylen)
{
	redisContext *ctx;
	redisReply *r;
	char db[16];
	const char *argv[3];
	size_t lens[3];
	int n = 0;

	if (st->url.kind == RELAY_STORE_REDIS_UNIX)
		ctx = redisConnectUnixWithTimeout(st->url.path, st->timeout);
	else
		ctx = redisConnectWithTimeout(
		    st->url.host, (int)st->url.port, st->timeout);
	if (ctx == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	if (ctx->err) {
		snprintf(why, whylen, "%s", ctx->errstr);
		redisFree(ctx);
		return NULL;
	}
	redisSetTimeout(ctx, st->timeout);
	if (st->url.kind == RELAY_STORE_REDIS_TCP)
		redisEnableKeepAlive(ctx);
	if (st->password != NULL) {
		argv[n] = "AUTH";
		lens[n++] = 4;
		if (st->url.user[0] != '\0') {
			argv[n] = st->url.user;
			lens[n] = strlen(st->url.user);
			n++;
		}
		argv[n] = st->password;
		lens[n] = strlen(st->password);
		n++;
		if ((r = simple(ctx, n, argv, lens, why, whylen)) == NULL)
			goto fail;
		freeReplyObject(r);
	}
	if (st->url.db != 0) {
		snprintf(db, sizeof(db), "%u", st->url.db);
		argv[0] = "SELECT";
		lens[0] = 6;
		argv[1] = db;
		lens[1] = strlen(db);
		if ((r = simple(ctx, 2, argv, lens, why, whylen)) == NULL)
			goto fail;
		freeReplyObject(r);
	}
	return ctx;
fail:
	redisFree(ctx);
	return NULL;
}

/* ------------------------------------------------------------ the pool */

/* Counts a failed command and logs it, at most a few lines a second. */
static void
failed(struct redis_store *st, const char *what, const char *why)
{
	char quoted[200];

	atomic_fetch_add(&st->errors, 1);
	/* The server's words, quoted: they reach the journal as one line. */
	relay_log_limited(&st->error_log, "store errors", RELAY_LOG_WARN,
	    "store: %s failed: %s", what,
	    relay_log_quote(why, quoted, sizeof(quoted)));
}

/*
 * A command got no reply: the connection failed, or the server took
 * longer than the timeout.  A server that does not answer in time is
 * taken for down at once (the watcher connects again and tells when it
 * answers), so the requests behind this one fail fast instead of each
 * waiting out the timeout.
 */
static void
lost_command(
    struct redis_store *st, const redisContext *ctx, const char *what, int e)
{
	char why[80];

	if (ctx->err == REDIS_ERR_IO && (e == EAGAIN || e == EWOULDBLOCK)) {
		snprintf(why, sizeof(why), "no answer within %ld ms",
		    (long)st->timeout.tv_sec * 1000 +
			(long)st->timeout.tv_usec / 1000);
		atomic_store(&st->up, false);
		atomic_store(&st->suspect, true);
		failed(st, what, why);
		return;
	}
	failed(st, what, ctx->err ? ctx->errstr : "no answer");
}

/*
 * Whether an idle connection is still open: the server sends nothing
 * unasked, so anything to read on it is its end (or an error).
 */
static bool
alive(const redisContext *ctx)
{
	struct pollfd p = { .fd = ctx->fd, .events = POLLIN | POLLRDHUP };

	return poll(&p, 1, 0) == 0;
}

/* A connection for one request; NULL when the store is down. */
static struct conn *
conn_get(struct redis_store *st)
{
	struct conn *c = NULL;
	unsigned gen;
	char why[200];

	if (!atomic_load(&st->up))
		return NULL;
	pthread_mutex_lock(&st->pool_lock);
	while ((c = st->free_conns) == NULL && st->nconns >= POOL_MAX)
		pthread_cond_wait(&st->pool_free, &st->pool_lock);
	if (c != NULL)
		st->free_conns = c->next;
	else if ((c = calloc(1, sizeof(*c))) != NULL)
		st->nconns++;
	pthread_mutex_unlock(&st->pool_lock);
	if (c == NULL)
		return NULL;
	gen = atomic_load(&st->gen);
	/*
	 * Made before the watcher's last reconnect, or closed by the server
	 * while it idled (its timeout, CLIENT KILL, a proxy): connect again
	 * rather than fail a request on it.
	 */
	if (c->ctx != NULL &&
	    (c->ctx->err || c->gen != gen || !alive(c->ctx))) {
		redisFree(c->ctx);
		c->ctx = NULL;
	}
	if (c->ctx == NULL) {
		if ((c->ctx = connect_to(st, why, sizeof(why))) == NULL) {
			failed(st, "connecting", why);
			pthread_mutex_lock(&st->pool_lock);
			c->next = st->free_conns;
			st->free_conns = c;
			pthread_cond_signal(&st->pool_free);
			pthread_mutex_unlock(&st->pool_lock);
			return NULL;
		}
		c->gen = gen;
	}
	return c;
}

static void
conn_put(struct redis_store *st, struct conn *c)
{
	if (c->ctx != NULL && c->ctx->err) {
		redisFree(c->ctx);
		c->ctx = NULL;
	}
	pthread_mutex_lock(&st->pool_lock);
	c->next = st->free_conns;
	st->free_conns = c;
	pthread_cond_signal(&st->pool_free);
	pthread_mutex_unlock(&st->pool_lock);
}

/* A key under the prefix: P + tag + id. */
static void
key(const struct redis_store *st, char *out, size_t outlen, const char *tag,
    const char *id)
{
	snprintf(out, outlen, "%s%s%s", st->prefix, tag, id);
}

#define KEY_MAX (RELAY_STORE_PREFIX_MAX + 8 + HEX_SHA256)
#define ARGS_MAX 16

/* One script's call: its keys and arguments. */
struct call {
	const char *argv[ARGS_MAX];
	size_t lens[ARGS_MAX];
	int nkeys, nargs;
	char keys[6][KEY_MAX + 1];
	char nkeys_text[4];
};

static void
call_key(struct call *c, const char *k)
{
	snprintf(c->keys[c->nkeys], sizeof(c->keys[0]), "%s", k);
	c->nkeys++;
}

/* Adds the key P + tag + id to c's keys. */
static void
call_keyof(const struct redis_store *st, struct call *c, const char *tag,
    const char *id)
{
	snprintf(c->keys[c->nkeys], sizeof(c->keys[0]), "%s%s%s", st->prefix,
	    tag, id);
	c->nkeys++;
}

static void
call_arg(struct call *c, const void *v, size_t len)
{
	c->argv[3 + c->nkeys + c->nargs] = v;
	c->lens[3 + c->nkeys + c->nargs] = len;
	c->nargs++;
}

static void
call_str(struct call *c, const char *s)
{
	call_arg(c, s, strlen(s));
}

/*
 * Runs script s with c's keys and arguments (keys first: add every key
 * before the first argument).  The reply, or NULL: ION_ERR_FULL in *r
 * when the server is at maxmemory, ION_ERR_UNAVAIL otherwise.
 */
static redisReply *
run(struct redis_store *st, enum script s, struct call *c, const char *what,
    int *ret)
{
	struct conn *conn;
	redisReply *reply;
	char sha[41];
	int i, argc = 3 + c->nkeys + c->nargs;

	*ret = ION_ERR_UNAVAIL;
	if ((conn = conn_get(st)) == NULL)
		return NULL;
	/* The arguments were put in after the keys' places: move them. */
	for (i = 0; i < c->nkeys; i++) {
		c->argv[3 + i] = c->keys[i];
		c->lens[3 + i] = strlen(c->keys[i]);
	}
	snprintf(c->nkeys_text, sizeof(c->nkeys_text), "%d", c->nkeys);
	c->argv[2] = c->nkeys_text;
	c->lens[2] = strlen(c->nkeys_text);
	pthread_mutex_lock(&st->sha_lock);
	memcpy(sha, st->sha[s], sizeof(sha));
	pthread_mutex_unlock(&st->sha_lock);
	reply = NULL;
	if (sha[0] != '\0') {
		c->argv[0] = "EVALSHA";
		c->lens[0] = 7;
		c->argv[1] = sha;
		c->lens[1] = strlen(sha);
		reply = redisCommandArgv(conn->ctx, argc, c->argv, c->lens);
		/* Flushed from the server's cache: send it whole. */
		if (reply != NULL && reply->type == REDIS_REPLY_ERROR &&
		    strncmp(reply->str, "NOSCRIPT", 8) == 0) {
			freeReplyObject(reply);
			reply = NULL;
			sha[0] = '\0';
		}
	}
	if (sha[0] == '\0') {
		c->argv[0] = "EVAL";
		c->lens[0] = 4;
		c->argv[1] = scripts[s];
		c->lens[1] = strlen(scripts[s]);
		reply = redisCommandArgv(conn->ctx, argc, c->argv, c->lens);
	}
	if (reply == NULL)
		lost_command(st, conn->ctx, what, errno);
	else if (reply->type == REDIS_REPLY_ERROR) {
		if (strncmp(reply->str, "OOM", 3) == 0)
			*ret = ION_ERR_FULL;
		else
			failed(st, what, reply->str);
		freeReplyObject(reply);
		reply = NULL;
	}
	conn_put(st, conn);
	return reply;
}

/* The status word a script answered: its reply, or its first element. */
static bool
status_is(const redisReply *r, const char *word)
{
	if (r->type == REDIS_REPLY_ARRAY && r->elements > 0)
		r = r->element[0];
	return (r->type == REDIS_REPLY_STRING ||
		   r->type == REDIS_REPLY_STATUS) &&
	    r->len == strlen(word) && memcmp(r->str, word, r->len) == 0;
}

static const redisReply *
element(const redisReply *r, size_t i, int type)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements <= i ||
	    r->element[i]->type != type)
		return NULL;
	return r->element[i];
}

/* Scrubs a reply that held a code, then frees it. */
static void
free_secret_reply(redisReply *r)
{
	size_t i;

	if (r == NULL)
		return;
	if (r->type == REDIS_REPLY_ARRAY)
		for (i = 0; i < r->elements; i++)
			if (r->element[i]->str != NULL)
				ion_scrub(
				    r->element[i]->str, r->element[i]->len);
	if (r->str != NULL)
		ion_scrub(r->str, r->len);
	freeReplyObject(r);
}

/* ------------------------------------------------------------ logins */

/* n as 4 or 8 lowercase hex digits at out. */
static void
put_hex(char *out, unsigned long n, int digits)
{
	static const char hex[] = "0123456789abcdef";

	while (digits-- > 0) {
		out[digits] = hex[n & 15];
		n >>= 4;
	}
}

/* digits hex digits at in; false when one is not. */
static bool
get_hex(const char *in, int digits, unsigned long *ret)
{
	unsigned long n = 0;
	int i;

	for (i = 0; i < digits; i++) {
		char c = in[i];
		int d = c >= '0' && c <= '9' ? c - '0'
		    : c >= 'a' && c <= 'f'   ? c - 'a' + 10
					     : -1;

		if (d < 0)
			return false;
		n = n << 4 | (unsigned)d;
	}
	*ret = n;
	return true;
}

/*
 * Where the value of name=value starts in url's query, as a whole
 * parameter ('?' or '&' before it, '&', '#' or the end after it), or
 * NO_ELISION.
 */
#define NO_ELISION 0xffffu
static unsigned
value_at(const char *url, const char *name, const char *value)
{
	size_t nlen = strlen(name), vlen = strlen(value);
	const char *p = strchr(url, '?');

	while (p != NULL) {
		const char *v = p + 1 + nlen;

		if (strncmp(p + 1, name, nlen) == 0 && v[0] == '=' &&
		    strncmp(v + 1, value, vlen) == 0 &&
		    (v[1 + vlen] == '\0' || v[1 + vlen] == '&' ||
			v[1 + vlen] == '#'))
			return (size_t)(v + 1 - url) < NO_ELISION
			    ? (unsigned)(v + 1 - url)
			    : NO_ELISION;
		p = strchr(p + 1, '&');
	}
	return NO_ELISION;
}

/*
 * The two values a module's authorize URL always holds, the state and its
 * nonce (43 characters each), come from the key: the login's value leaves
 * them out, which keeps it in a smaller allocation of Redis's.  cut[0] and
 * cut[1] are where they start in the URL (NO_ELISION for none; PAR URLs
 * hold neither), in increasing order.
 */
struct elision {
	unsigned cut[2];
	const char *value[2];
};

static void
find_elisions(
    const char *url, const char *state, const char *nonce, struct elision *e)
{
	unsigned a = value_at(url, "state", state);
	unsigned b = value_at(url, "nonce", nonce);

	e->cut[0] = a < b ? a : b;
	e->value[0] = a < b ? state : nonce;
	e->cut[1] = a < b ? b : a;
	e->value[1] = a < b ? nonce : state;
}

/*
 * spec as the login's value (see BLOB_*), with link_id in it; malloc'd,
 * length in *ret_len.  NULL: no memory, or texts too long.
 */
static char *
login_blob(
    const struct relay_login_spec *spec, const char *link_id, size_t *ret_len)
{
	const char *parts[BLOB_NSTRINGS] = { spec->host, spec->user,
		spec->rhost, spec->service, spec->client_name,
		spec->authorize_url };
	size_t lens[BLOB_NSTRINGS], total = BLOB_STRINGS, i, from = 0;
	char nonce[ION_TOKEN_CHARS + 1], *b, *p;
	struct elision e;
	unsigned long at;

	if (ion_nonce_from_state(spec->state, nonce) != 0)
		return NULL;
	find_elisions(spec->authorize_url, spec->state, nonce, &e);
	for (i = 0; i < BLOB_NSTRINGS; i++) {
		lens[i] = strlen(parts[i]) + 1;
		total += lens[i];
	}
	for (i = 0; i < 2; i++)
		if (e.cut[i] != NO_ELISION)
			total -= RELAY_STATE_LEN;
	if (total > 0xffff || (b = malloc(total)) == NULL)
		return NULL;
	b[0] = BLOB_VERSION;
	memcpy(b + BLOB_LINK, link_id, ION_RELAY_LINK_ID_LEN);
	memcpy(b + BLOB_CLIENT, spec->client, ION_SHA256_LEN);
	b[BLOB_CONFIRM] = spec->confirm ? '1' : '0';
	put_hex(b + BLOB_CREATED, (unsigned long)time(NULL) & 0xffffffffUL, 8);
	for (p = b + BLOB_STRINGS, i = 0; i < BLOB_NSTRINGS - 1; i++) {
		memcpy(p, parts[i], lens[i]);
		p += lens[i];
	}
	/* The URL, without the values at the cuts; cut 1 as it is then. */
	for (i = 0; i < 2; i++) {
		at = e.cut[i];
		if (at != NO_ELISION && i == 1 && e.cut[0] != NO_ELISION)
			at -= RELAY_STATE_LEN;
		put_hex(b + BLOB_CUTS + 4 * i, at, 4);
		if (e.cut[i] == NO_ELISION)
			continue;
		memcpy(p, spec->authorize_url + from, e.cut[i] - from);
		p += e.cut[i] - from;
		from = e.cut[i] + RELAY_STATE_LEN;
	}
	memcpy(p, spec->authorize_url + from, lens[5] - from);
	*ret_len = total;
	return b;
}

/*
 * The authorize URL of a login's value, with state and nonce put back,
 * written to out (room for len + 2 * 43 bytes); false when malformed.
 */
static bool
restore_url(
    const char *b, const char *stored, size_t len, const char *state, char *out)
{
	char nonce[ION_TOKEN_CHARS + 1];
	unsigned long cut[2];
	size_t from = 0, i;

	if (!get_hex(b + BLOB_CUTS, 4, &cut[0]) ||
	    !get_hex(b + BLOB_CUTS + 4, 4, &cut[1]) ||
	    ion_nonce_from_state(state, nonce) != 0)
		return false;
	for (i = 0; i < 2; i++) {
		const char *value;

		if (cut[i] == NO_ELISION)
			continue;
		if (cut[i] < from || cut[i] > len)
			return false;
		memcpy(out, stored + from, cut[i] - from);
		out += cut[i] - from;
		from = cut[i];
		/* Which value goes where: the one named before the cut. */
		value =
		    cut[i] >= 6 && memcmp(stored + cut[i] - 6, "state=", 6) == 0
		    ? state
		    : nonce;
		memcpy(out, value, RELAY_STATE_LEN);
		out += RELAY_STATE_LEN;
	}
	memcpy(out, stored + from, len - from + 1);
	return true;
}

/*
 * The landing page's view of a login's value, for the login of state;
 * NULL when it is malformed.
 */
static struct relay_login_view *
view_of(const char *b, size_t len, const char *state)
{
	const char *s[BLOB_NSTRINGS], *p, *end = b + len;
	struct relay_login_view *v;
	unsigned long created = 0;
	size_t i, head, n;

	if (len <= BLOB_STRINGS || b[0] != BLOB_VERSION || b[len - 1] != '\0' ||
	    !get_hex(b + BLOB_CREATED, 8, &created))
		return NULL;
	for (p = b + BLOB_STRINGS, i = 0; i < BLOB_NSTRINGS; i++) {
		const char *nul = memchr(p, '\0', (size_t)(end - p));

		if (nul == NULL)
			return NULL;
		s[i] = p;
		p = nul + 1;
	}
	if (p != end)
		return NULL;
	head = (size_t)(s[5] - (b + BLOB_STRINGS));
	n = head + strlen(s[5]) + 1 + 2 * RELAY_STATE_LEN;
	if ((v = malloc(sizeof(*v) + n)) == NULL)
		return NULL;
	memcpy(v->strings, b + BLOB_STRINGS, head);
	if (!restore_url(b, s[5], strlen(s[5]), state, v->strings + head)) {
		free(v);
		return NULL;
	}
	v->host = v->strings + (s[0] - (b + BLOB_STRINGS));
	v->user = v->strings + (s[1] - (b + BLOB_STRINGS));
	v->rhost = v->strings + (s[2] - (b + BLOB_STRINGS));
	v->service = v->strings + (s[3] - (b + BLOB_STRINGS));
	v->client_name = v->strings + (s[4] - (b + BLOB_STRINGS));
	v->authorize_url = v->strings + head;
	v->confirm = b[BLOB_CONFIRM] == '1';
	v->created = (time_t)created;
	memcpy(v->link_id, b + BLOB_LINK, ION_RELAY_LINK_ID_LEN);
	v->link_id[ION_RELAY_LINK_ID_LEN] = '\0';
	return v;
}

/*
 * The view in element i of a script's reply, for the login of state;
 * ION_ERR_* when there is none.
 */
static int
reply_view(const redisReply *r, size_t i, const char *state,
    struct relay_login_view **ret)
{
	const redisReply *e = element(r, i, REDIS_REPLY_STRING);

	if (e == NULL || (*ret = view_of(e->str, e->len, state)) == NULL)
		return ION_ERR_NOT_FOUND;
	return 0;
}

/* The used-code key of value under label: P u:<hex of its hash>. */
static int
used_key(const struct redis_store *st, const char *label, const void *value,
    size_t len, char out[KEY_MAX + 1])
{
	unsigned char h[ION_SHA256_LEN];
	char text[HEX_SHA256 + 1];
	int r;

	if ((r = relay_store_used_hash(label, value, len, h)) != 0)
		return r;
	ion_hex_encode(h, sizeof(h), text);
	key(st, out, KEY_MAX + 1, "u:", text);
	return 0;
}

/* Adds the used-code key of value under label to c's keys. */
static int
call_used(struct redis_store *st, struct call *c, const char *label,
    const void *value, size_t len)
{
	char k[KEY_MAX + 1];
	int r;

	if ((r = used_key(st, label, value, len, k)) != 0)
		return r;
	call_key(c, k);
	return 0;
}

static int
new_link_id(char out[ION_RELAY_LINK_ID_LEN + 1])
{
	unsigned char rnd[8];
	int r;

	if ((r = ion_random_bytes(rnd, sizeof(rnd))) != 0)
		return r;
	ion_b64url_encode(rnd, sizeof(rnd), out);
	return 0;
}

/* One try at registering under link_id: 0, ION_ERR_* or 1 to try again. */
static int
add_once(struct redis_store *st, const struct relay_login_spec *spec,
    const char *link_id)
{
	struct call c;
	redisReply *reply;
	size_t blen = 0;
	char *blob;
	int r;

	if ((blob = login_blob(spec, link_id, &blen)) == NULL)
		return ION_ERR_RANGE;
	memset(&c, 0, sizeof(c));
	call_keyof(st, &c, "s:", spec->state);
	call_keyof(st, &c, "k:", link_id);
	call_keyof(st, &c, "pending", "");
	call_keyof(st, &c, "ttl", "");
	if (spec->request_uri != NULL &&
	    (r = call_used(st, &c, RELAY_USED_REQUEST_URI, spec->request_uri,
		 spec->request_uri_len)) != 0) {
		free(blob);
		return r;
	}
	call_arg(&c, blob, blen);
	call_str(&c, st->ttl_ms);
	call_str(&c, st->max_pending);
	call_str(&c, link_id);
	call_str(&c, spec->state);
	reply = run(st, SCRIPT_ADD, &c, "registering a login", &r);
	free(blob);
	if (reply == NULL)
		return r;
	if (status_is(reply, "ok"))
		r = 0;
	else if (status_is(reply, "exists"))
		r = ION_ERR_EXISTS;
	else if (status_is(reply, "full"))
		r = ION_ERR_FULL;
	else if (status_is(reply, "used"))
		r = ION_ERR_USED;
	else if (status_is(reply, "link"))
		r = 1;
	else
		r = ION_ERR_UNAVAIL;
	freeReplyObject(reply);
	return r;
}

static int
redis_add(struct relay_store *base, const struct relay_login_spec *spec,
    char ret_link_id[ION_RELAY_LINK_ID_LEN + 1])
{
	struct redis_store *st = rs(base);
	char link_id[ION_RELAY_LINK_ID_LEN + 1];
	int tries, r = ION_ERR_SYSTEM;

	if (spec->client == NULL || spec->client_name == NULL)
		return ION_ERR_INVALID;
	if (!relay_state_ok(spec->state))
		return ION_ERR_RANGE;
	for (tries = 0; tries < LINK_TRIES; tries++) {
		if ((r = new_link_id(link_id)) != 0)
			return r;
		if ((r = add_once(st, spec, link_id)) != 1)
			break;
		r = ION_ERR_SYSTEM; /* every link id taken: the rng is broken */
	}
	if (r == 0)
		memcpy(ret_link_id, link_id, sizeof(link_id));
	return r;
}

static int
redis_view_link(struct relay_store *base, const char *link_id,
    struct relay_login_view **ret_view)
{
	struct redis_store *st = rs(base);
	const redisReply *st_e;
	struct call c;
	redisReply *reply;
	char state[RELAY_STATE_LEN + 1];
	int r;

	if (strlen(link_id) != ION_RELAY_LINK_ID_LEN ||
	    !ion_b64url_is_alphabet(link_id, ION_RELAY_LINK_ID_LEN))
		return ION_ERR_NOT_FOUND;
	memset(&c, 0, sizeof(c));
	call_keyof(st, &c, "k:", link_id);
	call_str(&c, st->prefix);
	if ((reply = run(st, SCRIPT_VIEW, &c, "reading a login", &r)) == NULL)
		return r == ION_ERR_FULL ? ION_ERR_UNAVAIL : r;
	if (status_is(reply, "ok") &&
	    (st_e = element(reply, 2, REDIS_REPLY_STRING)) != NULL &&
	    st_e->len == RELAY_STATE_LEN) {
		memcpy(state, st_e->str, RELAY_STATE_LEN);
		state[RELAY_STATE_LEN] = '\0';
		r = relay_state_ok(state)
		    ? reply_view(reply, 1, state, ret_view)
		    : ION_ERR_NOT_FOUND;
	} else if (status_is(reply, "used"))
		r = ION_ERR_USED;
	else
		r = ION_ERR_NOT_FOUND;
	freeReplyObject(reply);
	return r;
}

/*
 * A result as the r: key holds it: for code, error, description and iss
 * in turn, '0' when absent or '1', the text and a NUL.  NULL: no memory.
 */
static char *
result_blob(const struct relay_result *in, size_t *ret_len)
{
	const char *parts[4] = { in->code, in->error, in->error_description,
		in->iss };
	size_t total = 0, i, n;
	char *b, *p;

	for (i = 0; i < 4; i++)
		total += parts[i] != NULL ? strlen(parts[i]) + 2 : 1;
	if ((b = malloc(total)) == NULL)
		return NULL;
	for (p = b, i = 0; i < 4; i++) {
		if (parts[i] == NULL) {
			*p++ = '0';
			continue;
		}
		n = strlen(parts[i]) + 1;
		*p++ = '1';
		memcpy(p, parts[i], n);
		p += n;
	}
	*ret_len = total;
	return b;
}

/* The result an r: key held; NULL when malformed or out of memory. */
static struct relay_result *
result_of(const char *b, size_t len)
{
	const char *parts[4] = { NULL, NULL, NULL, NULL };
	const char *p = b, *end = b + len, *nul;
	struct relay_result in;
	size_t i;

	for (i = 0; i < 4; i++) {
		if (p == end)
			return NULL;
		if (*p++ == '0')
			continue;
		if ((nul = memchr(p, '\0', (size_t)(end - p))) == NULL)
			return NULL;
		parts[i] = p;
		p = nul + 1;
	}
	if (p != end || (parts[0] == NULL) == (parts[1] == NULL))
		return NULL;
	memset(&in, 0, sizeof(in));
	in.code = parts[0];
	in.error = parts[1];
	in.error_description = parts[2];
	in.iss = parts[3];
	return relay_result_copy(&in);
}

static int
redis_put_result(struct relay_store *base, const char *state,
    const struct relay_result *in, struct relay_login_view **ret_view)
{
	struct redis_store *st = rs(base);
	struct call c;
	redisReply *reply;
	size_t blen = 0;
	char *blob;
	int r;

	if (!relay_state_ok(state))
		return ION_ERR_NOT_FOUND;
	if ((blob = result_blob(in, &blen)) == NULL)
		return ION_ERR_NOMEM;
	memset(&c, 0, sizeof(c));
	call_keyof(st, &c, "s:", state);
	call_keyof(st, &c, "r:", state);
	call_keyof(st, &c, "ttl", "");
	/* A code is accepted for one login only: see store_memory.c. */
	if (in->code != NULL &&
	    (r = call_used(
		 st, &c, RELAY_USED_CODE, in->code, strlen(in->code))) != 0)
		goto out;
	call_arg(&c, blob, blen);
	call_str(&c, st->ttl_ms);
	call_str(&c, st->channel);
	call_str(&c, state);
	if ((reply = run(st, SCRIPT_PUT, &c, "storing a result", &r)) == NULL)
		goto out;
	if (status_is(reply, "ok"))
		r = reply_view(reply, 1, state, ret_view);
	else if (status_is(reply, "used"))
		r = ION_ERR_USED;
	else if (status_is(reply, "denied"))
		r = ION_ERR_DENIED;
	else
		r = ION_ERR_NOT_FOUND;
	freeReplyObject(reply);
out:
	ion_scrub(blob, blen);
	free(blob);
	return r;
}

static int
redis_take(struct relay_store *base, const char *state,
    const unsigned char client[ION_SHA256_LEN],
    struct relay_result **ret_result, uint64_t *ret_due_ms)
{
	struct redis_store *st = rs(base);
	const redisReply *res, *link, *left;
	struct call c;
	redisReply *reply;
	int r;

	if (!relay_state_ok(state) || client == NULL)
		return ION_ERR_NOT_FOUND;
	memset(&c, 0, sizeof(c));
	call_keyof(st, &c, "s:", state);
	call_keyof(st, &c, "r:", state);
	call_keyof(st, &c, "d:", state);
	call_arg(&c, client, ION_SHA256_LEN);
	call_str(&c, st->instance);
	call_str(&c, st->lease_ms);
	if ((reply = run(st, SCRIPT_TAKE, &c, "taking a result", &r)) == NULL)
		return r == ION_ERR_FULL ? ION_ERR_UNAVAIL : r;
	if (status_is(reply, "pending")) {
		left = element(reply, 1, REDIS_REPLY_INTEGER);
		if (left != NULL && left->integer > 0)
			*ret_due_ms = ion_now_ms() + (uint64_t)left->integer +
			    DUE_MARGIN_MS;
		r = ION_ERR_PENDING;
	} else if (status_is(reply, "ok") &&
	    (res = element(reply, 1, REDIS_REPLY_STRING)) != NULL &&
	    (link = element(reply, 2, REDIS_REPLY_STRING)) != NULL &&
	    link->len == ION_RELAY_LINK_ID_LEN) {
		if ((*ret_result = result_of(res->str, res->len)) == NULL)
			r = ION_ERR_NOT_FOUND;
		else {
			memcpy((*ret_result)->link_id, link->str, link->len);
			(*ret_result)->link_id[link->len] = '\0';
			r = 0;
		}
	} else
		r = ION_ERR_NOT_FOUND;
	free_secret_reply(reply);
	return r;
}

static bool
redis_delivered(struct relay_store *base, const char *state, bool ok)
{
	struct redis_store *st = rs(base);
	struct call c;
	redisReply *reply;
	bool again;
	int r;

	if (!relay_state_ok(state))
		return false;
	memset(&c, 0, sizeof(c));
	call_keyof(st, &c, "s:", state);
	call_keyof(st, &c, "r:", state);
	call_keyof(st, &c, "d:", state);
	call_keyof(st, &c, "pending", "");
	call_str(&c, st->instance);
	call_str(&c, ok ? "1" : "0");
	call_str(&c, st->prefix);
	call_str(&c, st->channel);
	call_str(&c, state);
	/*
	 * Unreachable now: the login stays until its TTL, and the lease
	 * frees the result for another poll after RELAY_DELIVERY_LEASE_MS.
	 */
	if ((reply = run(st, SCRIPT_DELIVERED, &c, "ending a delivery", &r)) ==
	    NULL)
		return false;
	again = reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;
	freeReplyObject(reply);
	return again;
}

static bool
redis_exists(struct relay_store *base, const char *state)
{
	struct redis_store *st = rs(base);
	struct conn *conn;
	redisReply *reply;
	char k[KEY_MAX + 1];
	bool found = false;

	if (!relay_state_ok(state) || (conn = conn_get(st)) == NULL)
		return false;
	key(st, k, sizeof(k), "s:", state);
	reply = redisCommand(conn->ctx, "EXISTS %s", k);
	if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
		found = reply->integer == 1;
	if (reply != NULL)
		freeReplyObject(reply);
	conn_put(st, conn);
	return found;
}

static size_t
redis_expire(struct relay_store *base, uint64_t now_ms,
    void (*expired)(void *arg, const char *state), void *arg,
    uint64_t *ret_next_ms)
{
	struct redis_store *st = rs(base);

	(void)now_ms;
	(void)expired;
	(void)arg;
	/*
	 * The server forgets logins, and polls are cut to their TTL (take);
	 * the watcher counts what went (count_expired()).
	 */
	*ret_next_ms = 0;
	return (size_t)atomic_exchange(&st->expired, 0);
}

static size_t
redis_count(struct relay_store *base)
{
	struct redis_store *st = rs(base);
	struct call c;
	redisReply *reply;
	size_t n = 0;
	int r;

	memset(&c, 0, sizeof(c));
	call_keyof(st, &c, "pending", "");
	if ((reply = run(st, SCRIPT_COUNT, &c, "counting logins", &r)) == NULL)
		return 0;
	if (reply->type == REDIS_REPLY_INTEGER && reply->integer > 0)
		n = (size_t)reply->integer;
	freeReplyObject(reply);
	return n;
}

static size_t
redis_used_codes(struct relay_store *base)
{
	(void)base;
	return RELAY_STORE_UNCOUNTED;
}

/* ------------------------------------------------------------ the watcher */

static bool
redis_health(struct relay_store *base, char *why, size_t whylen)
{
	struct redis_store *st = rs(base);

	if (atomic_load(&st->up))
		return true;
	pthread_mutex_lock(&st->why_lock);
	snprintf(why, whylen, "%s", st->why[0] ? st->why : "not connected yet");
	pthread_mutex_unlock(&st->why_lock);
	return false;
}

static void
redis_stats(struct relay_store *base, struct relay_store_stats *ret)
{
	struct redis_store *st = rs(base);

	ret->errors = atomic_load(&st->errors);
	ret->reconnects = atomic_load(&st->reconnects);
}

/* Records why the store is down; logs it when the reason changed. */
static void
set_down(struct redis_store *st, const char *why)
{
	char shown[WHERE_MAX], quoted[220];
	bool changed;

	pthread_mutex_lock(&st->why_lock);
	changed = strcmp(st->why, why) != 0;
	snprintf(st->why, sizeof(st->why), "%s", why);
	st->tried = true;
	pthread_cond_broadcast(&st->first_try);
	pthread_mutex_unlock(&st->why_lock);
	if (changed) {
		where(st, shown, sizeof(shown));
		relay_log(RELAY_LOG_ERR, "store %s unavailable: %s", shown,
		    relay_log_quote(why, quoted, sizeof(quoted)));
	}
}

/* Sleeps ms, or less when the store stops; false when it stops. */
static bool
pause_ms(struct redis_store *st, int ms)
{
	struct pollfd p = { .fd = st->stop_pipe[0], .events = POLLIN };

	return poll(&p, 1, ms) == 0;
}

/*
 * Loads the scripts on ctx and remembers their SHA-1s; a server that
 * refuses SCRIPT LOAD gets them whole each time.
 */
static void
load_scripts(struct redis_store *st, redisContext *ctx)
{
	redisReply *r;
	int i;

	for (i = 0; i < SCRIPT_N; i++) {
		r = redisCommand(ctx, "SCRIPT LOAD %s", scripts[i]);
		pthread_mutex_lock(&st->sha_lock);
		if (r != NULL && r->type == REDIS_REPLY_STRING && r->len == 40)
			memcpy(st->sha[i], r->str, 41);
		else
			st->sha[i][0] = '\0';
		pthread_mutex_unlock(&st->sha_lock);
		if (r != NULL)
			freeReplyObject(r);
	}
}

/*
 * Whether the server keeps every key until its TTL: a server that evicts
 * keys when full could forget a used code (and let it be accepted again)
 * or a delivery under way.  false, with why, for any policy but
 * noeviction.  A user not allowed INFO cannot tell: then it is logged
 * once and the server trusted, as pam-ion-relay(8) requires the policy.
 */
static bool
policy_ok(redisContext *ctx, char *why, size_t whylen)
{
	static atomic_bool told;
	const char *p;
	redisReply *r;
	size_t n;
	bool ok = true;

	r = redisCommand(ctx, "INFO memory");
	if (r == NULL) {
		snprintf(why, whylen, "%s", ctx->errstr);
		return false;
	}
	if (r->type != REDIS_REPLY_STRING) {
		if (!atomic_exchange(&told, true))
			relay_log(RELAY_LOG_WARN,
			    "store: cannot read the server's maxmemory-policy "
			    "(INFO not allowed?); it must be noeviction");
	} else if ((p = strstr(r->str, "maxmemory_policy:")) != NULL) {
		p += strlen("maxmemory_policy:");
		n = strcspn(p, "\r\n");
		if (n != strlen("noeviction") ||
		    strncmp(p, "noeviction", n) != 0) {
			snprintf(why, whylen,
			    "the server's maxmemory-policy is %.*s; it must be "
			    "noeviction (an evicted used code could be "
			    "accepted again)",
			    (int)(n > 40 ? 40 : n), p);
			ok = false;
		}
	}
	freeReplyObject(r);
	return ok;
}

/* Why r (NULL when ctx failed) is not the answer expected, after what. */
static void
reply_problem(const redisContext *ctx, const redisReply *r, const char *what,
    char *why, size_t whylen)
{
	snprintf(why, whylen, "%s%.150s", what,
	    r == NULL			       ? ctx->errstr
		: r->type == REDIS_REPLY_ERROR ? r->str
					       : "unexpected answer");
}

/*
 * Connects the watcher: AUTH, a trial of the count script (which proves
 * the scripts may run and reach the prefix), SCRIPT LOAD, SUBSCRIBE.
 * NULL with why filled in.
 */
static redisContext *
subscribe(struct redis_store *st, char *why, size_t whylen)
{
	redisContext *ctx;
	redisReply *r;
	char k[KEY_MAX + 1];

	if ((ctx = connect_to(st, why, whylen)) == NULL)
		return NULL;
	key(st, k, sizeof(k), "pending", "");
	r = redisCommand(ctx, "EVAL %s 1 %s", scripts[SCRIPT_COUNT], k);
	if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
		reply_problem(ctx, r, "", why, whylen);
		goto fail;
	}
	freeReplyObject(r);
	if (!policy_ok(ctx, why, whylen)) {
		redisFree(ctx);
		return NULL;
	}
	load_scripts(st, ctx);
	r = redisCommand(ctx, "SUBSCRIBE %s", st->channel);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		reply_problem(ctx, r, "SUBSCRIBE: ", why, whylen);
		goto fail;
	}
	freeReplyObject(r);
	return ctx;
fail:
	if (r != NULL)
		freeReplyObject(r);
	redisFree(ctx);
	return NULL;
}

/* A message on the channel: wake the poll for its state, if parked here. */
static void
on_message(struct redis_store *st, const redisReply *r)
{
	const redisReply *kind = element(r, 0, REDIS_REPLY_STRING);
	const redisReply *body = element(r, 2, REDIS_REPLY_STRING);
	char state[RELAY_STATE_LEN + 1];

	if (kind == NULL || body == NULL || kind->len != 7 ||
	    memcmp(kind->str, "message", 7) != 0 ||
	    body->len != RELAY_STATE_LEN)
		return;
	memcpy(state, body->str, RELAY_STATE_LEN);
	state[RELAY_STATE_LEN] = '\0';
	if (relay_state_ok(state) && st->ev.woken != NULL)
		st->ev.woken(st->ev.arg, state);
}

/*
 * Removes the entries of logins whose time is up from the count, and
 * counts them for the metrics: the relay that removes one counts it.
 */
static void
count_expired(struct redis_store *st)
{
	struct call c;
	redisReply *reply;
	int r;

	memset(&c, 0, sizeof(c));
	call_keyof(st, &c, "pending", "");
	if ((reply = run(
		 st, SCRIPT_EXPIRE, &c, "counting expired logins", &r)) == NULL)
		return;
	if (reply->type == REDIS_REPLY_INTEGER && reply->integer > 0)
		atomic_fetch_add(&st->expired, (unsigned long)reply->integer);
	freeReplyObject(reply);
}

/*
 * Reads the subscription until the connection fails or the store stops;
 * pings the server when it is quiet.  Returns why it ended ("" to stop).
 */
static void
read_messages(
    struct redis_store *st, redisContext *ctx, char *why, size_t whylen)
{
	uint64_t heard = ion_now_ms(), pinged = 0, counted = 0;
	struct pollfd p[2];
	redisReply *r;
	int done;

	p[0].fd = ctx->fd;
	p[1].fd = st->stop_pipe[0];
	p[0].events = p[1].events = POLLIN;
	for (;;) {
		uint64_t now;

		while (redisGetReplyFromReader(ctx, (void **)&r) == REDIS_OK &&
		    r != NULL) {
			heard = ion_now_ms();
			pinged = 0;
			on_message(st, r);
			freeReplyObject(r);
		}
		if (ctx->err) {
			snprintf(why, whylen, "%s", ctx->errstr);
			return;
		}
		if (poll(p, 2, 250) < 0 && errno != EINTR) {
			snprintf(why, whylen, "poll: %s", strerror(errno));
			return;
		}
		if (p[1].revents != 0) {
			why[0] = '\0';
			return;
		}
		if (p[0].revents != 0 && redisBufferRead(ctx) != REDIS_OK) {
			snprintf(why, whylen, "%s",
			    ctx->errstr[0] ? ctx->errstr : "connection lost");
			return;
		}
		if (atomic_exchange(&st->suspect, false)) {
			snprintf(
			    why, whylen, "a command got no answer in time");
			return;
		}
		now = ion_now_ms();
		if (now - counted >= EXPIRE_EVERY_MS) {
			counted = now;
			count_expired(st);
		}
		if (pinged != 0 && now - pinged > PING_DEADLINE_MS) {
			snprintf(why, whylen, "no answer to PING for %d ms",
			    PING_DEADLINE_MS);
			return;
		}
		if (pinged == 0 && now - heard > PING_IDLE_MS) {
			redisAppendCommand(ctx, "PING");
			done = 0;
			while (
			    !done && redisBufferWrite(ctx, &done) == REDIS_OK)
				;
			pinged = now;
		}
	}
}

static void *
watch_thread(void *arg)
{
	struct redis_store *st = arg;
	int backoff = BACKOFF_MIN_MS;
	bool was_up = false;
	char why[200], shown[WHERE_MAX];

	for (;;) {
		redisContext *ctx = subscribe(st, why, sizeof(why));

		if (ctx == NULL) {
			set_down(st, why);
			if (!pause_ms(st, backoff))
				break;
			backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
							       : backoff * 2;
			continue;
		}
		backoff = BACKOFF_MIN_MS;
		if (was_up)
			atomic_fetch_add(&st->reconnects, 1);
		was_up = true;
		/* Pool connections of before are dropped as they come back. */
		atomic_fetch_add(&st->gen, 1);
		atomic_store(&st->up, true);
		pthread_mutex_lock(&st->why_lock);
		st->why[0] = '\0';
		st->tried = true;
		pthread_cond_broadcast(&st->first_try);
		pthread_mutex_unlock(&st->why_lock);
		where(st, shown, sizeof(shown));
		relay_log(RELAY_LOG_INFO, "store %s connected, prefix \"%s\"",
		    shown, st->prefix);
		read_messages(st, ctx, why, sizeof(why));
		redisFree(ctx);
		atomic_store(&st->up, false);
		if (why[0] == '\0')
			break; /* stopping */
		atomic_fetch_add(&st->errors, 1);
		set_down(st, why);
		/*
		 * A result published from now on would not reach us: every
		 * parked poll looks at the store again (and is answered that
		 * it is unavailable until we are back).
		 */
		if (st->ev.lost != NULL)
			st->ev.lost(st->ev.arg);
	}
	return NULL;
}

static void
redis_watch(struct relay_store *base, const struct relay_store_events *ev)
{
	struct redis_store *st = rs(base);
	struct timespec until;

	if (st->watching)
		return;
	st->ev = *ev;
	if (pthread_create(&st->thread, NULL, watch_thread, st) != 0) {
		set_down(st, "cannot start the store's thread");
		return;
	}
	st->watching = true;
	/* The first requests should not fail only because it is early. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(st->timeout.tv_sec + 1);
	pthread_mutex_lock(&st->why_lock);
	while (!st->tried &&
	    pthread_cond_timedwait(&st->first_try, &st->why_lock, &until) == 0)
		;
	pthread_mutex_unlock(&st->why_lock);
}

static void
redis_unwatch(struct relay_store *base)
{
	struct redis_store *st = rs(base);
	char one = 1;

	if (!st->watching)
		return;
	if (write(st->stop_pipe[1], &one, 1) < 0) {
		/* the pipe is full: the thread stops anyway */
	}
	pthread_join(st->thread, NULL);
	st->watching = false;
	atomic_store(&st->up, false);
}

static void
redis_free(struct relay_store *base)
{
	struct redis_store *st = rs(base);
	struct conn *c;

	redis_unwatch(base);
	while ((c = st->free_conns) != NULL) {
		st->free_conns = c->next;
		if (c->ctx != NULL)
			redisFree(c->ctx);
		free(c);
	}
	if (st->password != NULL) {
		ion_scrub(st->password, strlen(st->password));
		free(st->password);
	}
	close(st->stop_pipe[0]);
	close(st->stop_pipe[1]);
	pthread_mutex_destroy(&st->pool_lock);
	pthread_cond_destroy(&st->pool_free);
	pthread_mutex_destroy(&st->sha_lock);
	pthread_mutex_destroy(&st->why_lock);
	pthread_cond_destroy(&st->first_try);
	free(st);
}

static const struct relay_store_ops redis_ops = {
	.add = redis_add,
	.view_link = redis_view_link,
	.put_result = redis_put_result,
	.take = redis_take,
	.delivered = redis_delivered,
	.exists = redis_exists,
	.expire = redis_expire,
	.count = redis_count,
	.used_codes = redis_used_codes,
	.health = redis_health,
	.stats = redis_stats,
	.watch = redis_watch,
	.unwatch = redis_unwatch,
	.free = redis_free,
};

/* The parts of st that come from cfg; false when one does not fit. */
static bool
configure(struct redis_store *st, const struct relay_store_config *cfg)
{
	unsigned char rnd[INSTANCE_LEN / 2];

	if (cfg->prefix == NULL || strlen(cfg->prefix) == 0 ||
	    strlen(cfg->prefix) > RELAY_STORE_PREFIX_MAX)
		return false;
	st->url = cfg->url;
	snprintf(st->prefix, sizeof(st->prefix), "%s", cfg->prefix);
	snprintf(st->channel, sizeof(st->channel), "%swake:%u", cfg->prefix,
	    cfg->url.db);
	snprintf(st->ttl_ms, sizeof(st->ttl_ms), "%llu",
	    (unsigned long long)cfg->ttl_seconds * 1000);
	snprintf(
	    st->lease_ms, sizeof(st->lease_ms), "%d", RELAY_DELIVERY_LEASE_MS);
	snprintf(
	    st->max_pending, sizeof(st->max_pending), "%lu", cfg->max_pending);
	st->timeout.tv_sec = (time_t)(cfg->timeout_ms / 1000);
	st->timeout.tv_usec = (suseconds_t)(cfg->timeout_ms % 1000) * 1000;
	if (ion_random_bytes(rnd, sizeof(rnd)) != 0)
		return false;
	ion_hex_encode(rnd, sizeof(rnd), st->instance);
	if (cfg->password != NULL &&
	    (st->password = strdup(cfg->password)) == NULL)
		return false;
	return true;
}

int
relay_store_redis_new(
    const struct relay_store_config *cfg, struct relay_store **ret)
{
	struct redis_store *st;

	if (cfg->ttl_seconds == 0 || cfg->timeout_ms == 0)
		return ION_ERR_INVALID;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return ION_ERR_NOMEM;
	if (pipe2(st->stop_pipe, O_CLOEXEC) != 0) {
		free(st);
		return ION_ERR_SYSTEM;
	}
	pthread_mutex_init(&st->pool_lock, NULL);
	pthread_cond_init(&st->pool_free, NULL);
	pthread_mutex_init(&st->sha_lock, NULL);
	pthread_mutex_init(&st->why_lock, NULL);
	pthread_cond_init(&st->first_try, NULL);
	st->base.ops = &redis_ops;
	st->base.remote = true;
	if (!configure(st, cfg)) {
		redis_free(&st->base);
		return ION_ERR_INVALID;
	}
	*ret = &st->base;
	return 0;
}
