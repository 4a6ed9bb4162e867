#include "opts.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clientkeys.h"
#include "store.h"

#ifndef PAM_ION_VERSION
#define PAM_ION_VERSION "unknown"
#endif

static const char usage_text[] =
    "usage: pam-ion-relay --public-url URL --authorize-url-prefix PREFIX\n"
    "                     --client-keys FILE [options]\n"
    "       pam-ion-relay --new-client-key NAME\n"
    "       pam-ion-relay --check-client-keys FILE\n"
    "\n"
    "The redirect relay of pam_ion: holds iON's authorization code until\n"
    "the PAM module that started the sign-in collects it.\n"
    "\n"
    "  --listen ADDR:PORT             where to listen (127.0.0.1:8080)\n"
    "  --public-url URL               base of short links and of /callback\n"
    "  --authorize-url-prefix PREFIX  allowed start of authorize URLs "
    "(repeatable)\n"
    "  --client-keys FILE             the PAM hosts allowed to use /v1: "
    "lines\n"
    "                                 NAME SHA256HEX (required; re-read "
    "on SIGHUP)\n"
    "  --new-client-key NAME          print a keys-file line and a new key "
    "for\n"
    "                                 a host, and exit\n"
    "  --check-client-keys FILE       check a keys file as the relay reads "
    "it,\n"
    "                                 and exit (0: usable, 1: not)\n"
    "  --store STORE                  where logins are kept: memory, or\n"
    "                                 redis://[USER@]HOST[:PORT][/DB] or\n"
    "                                 redis+unix:///PATH[?db=N] (memory)\n"
    "  --store-password-file FILE     the Redis password (AUTH)\n"
    "  --store-prefix PREFIX          of the relay's Redis keys (pam_ion:)\n"
    "  --ttl SECONDS                  lifetime of a login (300)\n"
    "  --max-pending N                logins held at once (10000)\n"
    "  --max-connections N            open connections at once (4096)\n"
    "  --max-connections-per-ip N     open connections per address (128;\n"
    "                                 --max-connections when --listen is a\n"
    "                                 loopback address, behind a local "
    "proxy)\n"
    "  --max-parked N                 polls waiting at once (3/4 of\n"
    "                                 --max-connections); more get 503\n"
    "  --connection-timeout SECONDS   idle connection timeout (15)\n"
    "  --threads N                    HTTP worker threads (2 per CPU, at "
    "least 4;\n"
    "                                 at least 16 with a redis store)\n"
    "  --help                         show this text\n"
    "  --version                      show the version\n"
    "\n"
    "See pam-ion-relay(8).\n";

static const char version_text[] = "pam-ion-relay " PAM_ION_VERSION "\n";

/* What one parse() call works on, beside the option at hand. */
struct ctx {
	struct relay_opts *o;
	unsigned long max_conns_limit; /* from the open-file limit */
	char *err;
	size_t errlen;
};

/*
 * One entry per option; parse() checks its value and stores it in the
 * struct, or writes the one-line reason and returns RELAY_OPTS_USAGE.
 * RELAY_OPTS_RUN means "go on with the next option".
 */
struct opt {
	const char *name; /* without the leading "--" */
	enum relay_opts_result (*parse)(
	    const struct opt *, const char *, struct ctx *);
	size_t off, size; /* of the field in struct relay_opts */
	unsigned long lo, hi;
	const char *text; /* what opt_print() prints */
	unsigned flags;
};

#define OPT_FLAG 1u	  /* takes no value */
#define OPT_SECONDS 2u	  /* a number of seconds, said so in the message */
#define OPT_OPEN_FILES 4u /* hi is the open-file limit less 64 */
#define OPT_AT_LEAST 8u	  /* the message names the lower bound only */

#define F(field)                                                               \
	.off = offsetof(struct relay_opts, field),                             \
	.size = sizeof(((struct relay_opts *)NULL)->field)

/* getopt_long's val for options[i]: above every short option's char. */
#define OPT_BASE 256

#define PER_IP_DEFAULT 128 /* --max-connections-per-ip when not given */
#define REDIS_THREADS 16   /* --threads at least, with a redis store */
/*
 * Connections --max-parked leaves for everything else (callbacks, landing
 * pages, /healthz, registrations): this many, or a quarter of
 * --max-connections when that is fewer.
 */
#define PARKED_RESERVE 64

static enum relay_opts_result usage(struct ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static enum relay_opts_result
usage(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return RELAY_OPTS_USAGE;
}

static void *
field(const struct opt *op, struct ctx *c)
{
	return (char *)c->o + op->off;
}

static bool
parse_number(
    const char *s, unsigned long lo, unsigned long hi, unsigned long *ret)
{
	unsigned long v = 0;

	if (*s == '\0' || strlen(s) > 10)
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v < lo || v > hi)
		return false;
	*ret = v;
	return true;
}

/* A number in op->lo..op->hi, stored in an unsigned or unsigned long. */
static enum relay_opts_result
opt_number(const struct opt *op, const char *arg, struct ctx *c)
{
	unsigned long hi = op->hi, v;
	const char *unit =
	    (op->flags & OPT_SECONDS) != 0 ? "seconds" : "a number";

	if ((op->flags & OPT_OPEN_FILES) != 0)
		hi = c->max_conns_limit;
	if (!parse_number(arg, op->lo, hi, &v)) {
		if ((op->flags & OPT_AT_LEAST) != 0)
			return usage(c,
			    "--%s: expected %s of at least %lu, "
			    "got '%s'",
			    op->name, unit, op->lo, arg);
		return usage(c, "--%s: expected %s in %lu..%lu%s, got '%s'",
		    op->name, unit, op->lo, hi,
		    (op->flags & OPT_OPEN_FILES) != 0
			? " (the open-file limit less 64)"
			: "",
		    arg);
	}
	if (op->size == sizeof(unsigned long))
		*(unsigned long *)field(op, c) = v;
	else
		*(unsigned *)field(op, c) = (unsigned)v;
	return RELAY_OPTS_RUN;
}

static bool
parse_listen(const char *s, struct relay_opts *o)
{
	const char *colon;
	size_t hlen;
	unsigned long port;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return false;
		colon = close + 1;
		s++;
		hlen = (size_t)(close - s);
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return false;
		hlen = (size_t)(colon - s);
		if (memchr(s, ':', hlen) != NULL)
			return false; /* IPv6 needs brackets */
	}
	if (hlen == 0 || hlen >= sizeof(o->listen_host) ||
	    !parse_number(colon + 1, 0, 65535, &port))
		return false;
	memcpy(o->listen_host, s, hlen);
	o->listen_host[hlen] = '\0';
	snprintf(o->listen_port, sizeof(o->listen_port), "%lu", port);
	return true;
}

static enum relay_opts_result
opt_listen(const struct opt *op, const char *arg, struct ctx *c)
{
	if (!parse_listen(arg, c->o))
		return usage(c,
		    "--%s: expected ADDR:PORT (IPv6 as [ADDR]:PORT, port "
		    "0-65535), got '%s'",
		    op->name, arg);
	return RELAY_OPTS_RUN;
}

/* What is wrong with a base URL (the public URL, a prefix), or NULL. */
static const char *
base_url_problem(const char *s, struct ion_url *u)
{
	if (ion_url_parse(s, u) != 0)
		return "not a plain http(s) URL (no user info, white space, "
		       "dot segments or encoded '.', '/', '\\')";
	if (u->query != NULL || u->has_fragment)
		return "must not have a query or fragment";
	if (!u->https && !ion_url_is_loopback(u))
		return "must be https:// (http:// only for a loopback host)";
	return NULL;
}

/* Stores the public URL without trailing '/'; what is wrong, or NULL. */
static const char *
public_url_problem(const char *s, struct relay_opts *o)
{
	struct ion_url u;
	size_t len = strlen(s);

	while (len > 0 && s[len - 1] == '/')
		len--;
	if (len > RELAY_PUBLIC_URL_MAX)
		return "too long: links (URL + \"/l/\" + 11 characters) must "
		       "stay within 60 characters for a small QR code; at most "
		       "46 characters";
	memcpy(o->public_url, s, len);
	o->public_url[len] = '\0';
	return base_url_problem(o->public_url, &u);
}

static enum relay_opts_result
opt_public_url(const struct opt *op, const char *arg, struct ctx *c)
{
	const char *why;

	if ((why = public_url_problem(arg, c->o)) != NULL)
		return usage(c, "--%s '%s': %s", op->name, arg, why);
	return RELAY_OPTS_RUN;
}

static enum relay_opts_result
opt_prefix(const struct opt *op, const char *arg, struct ctx *c)
{
	struct relay_opts *o = c->o;
	const char *why;

	if (o->nprefixes == RELAY_MAX_PREFIXES)
		return usage(
		    c, "--%s: at most %d", op->name, RELAY_MAX_PREFIXES);
	if ((why = base_url_problem(arg, &o->prefix_urls[o->nprefixes])) !=
	    NULL)
		return usage(c, "--%s '%s': %s", op->name, arg, why);
	o->prefixes[o->nprefixes++] = arg;
	return RELAY_OPTS_RUN;
}

/* The [USER@]HOST[:PORT] part of a redis:// URL; false: not one. */
static bool
redis_authority(const char *s, size_t len, struct relay_store_url *u)
{
	const char *at = memchr(s, '@', len), *host, *port = NULL,
		   *end = s + len;
	unsigned long n;
	size_t hlen;
	char num[8];

	if (at != NULL) {
		size_t ulen = (size_t)(at - s);

		if (ulen == 0 || ulen >= sizeof(u->user) ||
		    strspn(s,
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwx"
			"yz0123456789._-") < ulen)
			return false;
		memcpy(u->user, s, ulen);
		u->user[ulen] = '\0';
		s = at + 1;
	}
	if (*s == '[') {
		const char *close = memchr(s, ']', (size_t)(end - s));

		if (close == NULL || (close + 1 != end && close[1] != ':'))
			return false;
		host = s + 1;
		hlen = (size_t)(close - host);
		if (close + 1 != end)
			port = close + 2;
		if (hlen == 0 ||
		    strspn(host, "0123456789abcdefABCDEF:.") < hlen)
			return false;
	} else {
		const char *colon = memchr(s, ':', (size_t)(end - s));

		host = s;
		hlen = (size_t)((colon != NULL ? colon : end) - s);
		if (colon != NULL)
			port = colon + 1;
		if (hlen == 0 ||
		    strspn(host,
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
			"vwxyz0123456789.-") < hlen)
			return false;
	}
	if (hlen >= sizeof(u->host))
		return false;
	memcpy(u->host, host, hlen);
	u->host[hlen] = '\0';
	u->port = 6379;
	if (port != NULL) {
		if ((size_t)(end - port) >= sizeof(num))
			return false;
		memcpy(num, port, (size_t)(end - port));
		num[end - port] = '\0';
		if (!parse_number(num, 1, 65535, &n))
			return false;
		u->port = (unsigned)n;
	}
	return true;
}

/* A database number: digits, 0..RELAY_STORE_DB_MAX. */
#define RELAY_STORE_DB_MAX 100000
static bool
redis_db(const char *s, struct relay_store_url *u)
{
	unsigned long n;

	if (!parse_number(s, 0, RELAY_STORE_DB_MAX, &n))
		return false;
	u->db = (unsigned)n;
	return true;
}

/* What is wrong with a redis:// or redis+unix:// URL, or NULL. */
static const char *
store_url_problem(const char *s, struct relay_store_url *u)
{
	const char *rest, *slash, *q;

	memset(u, 0, sizeof(*u));
	if (strncmp(s, "redis+unix://", 13) == 0) {
		u->kind = RELAY_STORE_REDIS_UNIX;
		rest = s + 13;
		if (rest[0] != '/' || rest[1] == '\0' || rest[1] == '?')
			return "expected redis+unix:///PATH[?db=N] (an "
			       "absolute path, so three slashes)";
		q = strchr(rest, '?');
		if ((size_t)(q != NULL ? q - rest : (long)strlen(rest)) >=
		    sizeof(u->path))
			return "the socket's path is too long";
		snprintf(u->path, sizeof(u->path), "%.*s",
		    (int)(q != NULL ? q - rest : (long)strlen(rest)), rest);
		if (strspn(u->path,
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
			"tuvwxyz0123456789/._-+@") != strlen(u->path))
			return "the socket's path may hold only A-Z a-z 0-9 / "
			       ". "
			       "_ - + @";
		if (q != NULL &&
		    (strncmp(q, "?db=", 4) != 0 || !redis_db(q + 4, u)))
			return "expected ?db=N after the path (N a number)";
		return NULL;
	}
	if (strncmp(s, "redis://", 8) != 0)
		return "expected memory, redis://[USER@]HOST[:PORT][/DB] or "
		       "redis+unix:///PATH[?db=N]";
	u->kind = RELAY_STORE_REDIS_TCP;
	rest = s + 8;
	slash = strchr(rest, '/');
	if (memchr(rest, ':',
		(size_t)(slash != NULL ? slash - rest : (long)strlen(rest))) !=
		NULL &&
	    memchr(rest, '@',
		(size_t)(slash != NULL ? slash - rest : (long)strlen(rest))) !=
		NULL) {
		const char *at = strchr(rest, '@'), *colon = strchr(rest, ':');

		if (colon < at)
			return "a password does not belong in the URL, where "
			       "ps and the journal show it; put it in "
			       "--store-password-file";
	}
	if (!redis_authority(
		rest, slash != NULL ? (size_t)(slash - rest) : strlen(rest), u))
		return "expected redis://[USER@]HOST[:PORT][/DB]: HOST a name, "
		       "an IPv4 address or [IPv6], PORT 1-65535, USER of A-Z "
		       "a-z 0-9 . _ -";
	if (slash != NULL && !redis_db(slash + 1, u))
		return "expected a database number after the '/'";
	return NULL;
}

static enum relay_opts_result
opt_store(const struct opt *op, const char *arg, struct ctx *c)
{
	const char *why;

	/* The last one given counts, as for the numbers. */
	memset(&c->o->store_url, 0, sizeof(c->o->store_url));
	c->o->store = NULL;
	if (strcmp(arg, "memory") == 0)
		return RELAY_OPTS_RUN;
	/*
	 * Never echoed: a URL that is not what we expect may hold a
	 * password in a form of some other client's (":pw@", "?password="),
	 * and the message goes to the journal.
	 */
	if ((why = store_url_problem(arg, &c->o->store_url)) != NULL)
		return usage(c, "--%s: %s", op->name, why);
	c->o->store = arg;
	return RELAY_OPTS_RUN;
}

static enum relay_opts_result
opt_store_prefix(const struct opt *op, const char *arg, struct ctx *c)
{
	size_t len = strlen(arg);

	if (len == 0 || len > RELAY_STORE_PREFIX_MAX ||
	    strspn(arg,
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789_:.-") != len)
		return usage(c,
		    "--%s: expected 1 to %d characters of A-Z a-z 0-9 _ : . -, "
		    "got '%s'",
		    op->name, RELAY_STORE_PREFIX_MAX, arg);
	c->o->store_prefix = arg;
	return RELAY_OPTS_RUN;
}

/*
 * A file name, given once.  Twice is a mistake, not an override: the
 * unit's reload checks the file it names (--check-client-keys), and must
 * check the one the relay reads (--client-keys); a check that took the
 * last of two names could pass a file other than the one the unit meant.
 */
static enum relay_opts_result
opt_file(const struct opt *op, const char *arg, struct ctx *c)
{
	const char **f = field(op, c);

	if (arg[0] == '\0')
		return usage(c, "--%s: expected a file name", op->name);
	if (*f != NULL)
		return usage(
		    c, "--%s: given twice ('%s' and '%s')", op->name, *f, arg);
	*f = arg;
	return RELAY_OPTS_RUN;
}

static enum relay_opts_result
opt_client_name(const struct opt *op, const char *arg, struct ctx *c)
{
	if (!relay_client_name_ok(arg))
		return usage(c,
		    "--%s: NAME must be 1 to 64 characters of A-Z a-z 0-9 . _ "
		    "-, got '%s'",
		    op->name, arg);
	*(const char **)field(op, c) = arg;
	return RELAY_OPTS_RUN;
}

/* --help, --version: prints op->text, and the relay exits. */
static enum relay_opts_result
opt_print(const struct opt *op, const char *arg, struct ctx *c)
{
	(void)arg;
	(void)c;
	fputs(op->text, stdout);
	return RELAY_OPTS_EXIT;
}

/* A number in LO..HI stored in FIELD; see opt_number() for the flags. */
#define NUMBER(name_, field, lo_, hi_, flags_)                                 \
	{                                                                      \
		.name = name_, .parse = opt_number, F(field), .lo = lo_,       \
		.hi = hi_, .flags = flags_                                     \
	}

static const struct opt options[] = {
	{ .name = "listen", .parse = opt_listen },
	{ .name = "public-url", .parse = opt_public_url },
	{ .name = "authorize-url-prefix", .parse = opt_prefix },
	{ .name = "store", .parse = opt_store },
	{ .name = "store-password-file",
	    .parse = opt_file,
	    F(store_password_file) },
	{ .name = "store-prefix", .parse = opt_store_prefix },
	NUMBER("ttl", ttl, 10, 3600, OPT_SECONDS),
	NUMBER("max-pending", max_pending, 1, 10000000, 0),
	NUMBER("max-connections", max_connections, 16, 0, OPT_OPEN_FILES),
	NUMBER("max-connections-per-ip", max_connections_per_ip, 1, 10000000,
	    OPT_AT_LEAST),
	NUMBER("max-parked", max_parked, 1, 10000000, OPT_AT_LEAST),
	NUMBER("connection-timeout", connection_timeout, 1, 300, OPT_SECONDS),
	NUMBER("threads", threads, 1, 64, 0),
	{ .name = "client-keys", .parse = opt_file, F(client_keys) },
	{ .name = "new-client-key",
	    .parse = opt_client_name,
	    F(new_client_key) },
	{ .name = "check-client-keys",
	    .parse = opt_file,
	    F(check_client_keys) },
	{ .name = "help",
	    .parse = opt_print,
	    .text = usage_text,
	    .flags = OPT_FLAG },
	{ .name = "version",
	    .parse = opt_print,
	    .text = version_text,
	    .flags = OPT_FLAG },
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))

static unsigned
default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	/*
	 * Twice the CPUs, at least 4: libmicrohttpd walks a worker's whole
	 * list of parked polls on every wake-up, so more workers with
	 * shorter lists wake faster (see tests/bench/README.md).
	 */
	if (n < 2)
		return 4;
	return n > 32 ? 64 : (unsigned)(n * 2 < 4 ? 4 : n * 2);
}

static void
set_defaults(struct relay_opts *o, unsigned long max_conns_limit)
{
	memset(o, 0, sizeof(*o));
	strcpy(o->listen_host, "127.0.0.1");
	strcpy(o->listen_port, "8080");
	o->ttl = 300;
	o->max_pending = 10000;
	o->max_connections = 4096;
	o->max_connections_per_ip = 0; /* not given: see check_limits() */
	o->max_parked = 0;	       /* not given: see check_limits() */
	o->connection_timeout = 15;
	o->threads = 0; /* not given: see check_together() */
	if (o->max_connections > max_conns_limit)
		o->max_connections = (unsigned)max_conns_limit;
}

/* getopt_long's table, built from options[] so a name is written once. */
static void
make_longopts(struct option longopts[NOPTIONS + 1])
{
	size_t i;

	for (i = 0; i < NOPTIONS; i++) {
		longopts[i].name = options[i].name;
		longopts[i].has_arg = (options[i].flags & OPT_FLAG) != 0
		    ? no_argument
		    : required_argument;
		longopts[i].flag = NULL;
		longopts[i].val = OPT_BASE + (int)i;
	}
	memset(&longopts[NOPTIONS], 0, sizeof(longopts[NOPTIONS]));
}

/* What getopt_long refused: c is ':' (no value) or '?'. */
static enum relay_opts_result
getopt_problem(int c, char **argv, struct ctx *ctx)
{
	if (c == ':')
		return usage(ctx, "%s: needs a value", argv[optind - 1]);
	if (optopt != 0 && optopt < OPT_BASE)
		return usage(ctx, "unknown option '-%c'", optopt);
	if (optopt >= OPT_BASE)
		return usage(ctx, "%s: takes no value", argv[optind - 1]);
	return usage(ctx, "unknown or ambiguous option '%s' (see --help)",
	    argv[optind - 1]);
}

/*
 * True when the relay listens on a loopback address: then only a local
 * proxy (or a local user) can connect, and every proxied client shares
 * the proxy's address.
 */
static bool
listen_is_loopback(const struct relay_opts *o)
{
	char host[sizeof(o->listen_host) + 2];

	/* As in a URL: an IPv6 address in brackets. */
	snprintf(host, sizeof(host),
	    strchr(o->listen_host, ':') != NULL ? "[%s]" : "%s",
	    o->listen_host);
	return ion_url_host_is_loopback(host);
}

/* The most --max-parked may be: room is kept for everything else. */
static unsigned
max_parked_limit(unsigned max_connections)
{
	unsigned keep = max_connections / 4;

	return max_connections -
	    (keep < PARKED_RESERVE ? keep : PARKED_RESERVE);
}

/* The connection limits against each other, and their defaults. */
static enum relay_opts_result
check_limits(struct ctx *c)
{
	struct relay_opts *o = c->o;
	unsigned most = max_parked_limit(o->max_connections);

	/*
	 * The default per address, at most --max-connections.  Behind a
	 * local proxy every client has the proxy's address, and the proxy
	 * limits its clients itself: a limit per address would be a limit
	 * on everyone.
	 */
	if (o->max_connections_per_ip == 0)
		o->max_connections_per_ip =
		    listen_is_loopback(o) || o->max_connections < PER_IP_DEFAULT
		    ? o->max_connections
		    : PER_IP_DEFAULT;
	if (o->max_connections_per_ip > o->max_connections)
		return usage(c,
		    "--max-connections-per-ip (%u) exceeds --max-connections "
		    "(%u)",
		    o->max_connections_per_ip, o->max_connections);
	/* Parked polls never take the connections callbacks need. */
	if (o->max_parked == 0)
		o->max_parked = o->max_connections - o->max_connections / 4;
	if (o->max_parked > most)
		return usage(c,
		    "--max-parked (%u): at most %u, --max-connections (%u) "
		    "less %u kept for callbacks, landing pages and /healthz",
		    o->max_parked, most, o->max_connections,
		    o->max_connections - most);
	return RELAY_OPTS_RUN;
}

/* The rules between options, once all are read. */
static enum relay_opts_result
check_together(struct ctx *c)
{
	struct relay_opts *o = c->o;

	if (o->new_client_key != NULL && o->check_client_keys != NULL)
		return usage(c,
		    "--new-client-key and --check-client-keys: one at a time");
	/* Making a key needs nothing else: it runs on a workstation, too. */
	if (o->new_client_key != NULL)
		return RELAY_OPTS_NEW_KEY;
	/* Nor does checking a file, which runs before each reload. */
	if (o->check_client_keys != NULL)
		return RELAY_OPTS_CHECK_KEYS;
	if (o->public_url[0] == '\0')
		return usage(c, "--public-url is required");
	if (o->nprefixes == 0)
		return usage(
		    c, "--authorize-url-prefix is required (at least one)");
	/* There is no open mode: an open relay serves code transplants. */
	if (o->client_keys == NULL)
		return usage(
		    c, "--client-keys is required (see --new-client-key)");
	if (o->store == NULL &&
	    (o->store_password_file != NULL || o->store_prefix != NULL))
		return usage(c,
		    "--store-password-file and --store-prefix are for a redis "
		    "--store only");
	if (o->store_prefix == NULL)
		o->store_prefix = RELAY_STORE_DEFAULT_PREFIX;
	/*
	 * A redis store's calls block an HTTP worker for a round trip each:
	 * more workers keep one slow answer from holding up the others.
	 */
	if (o->threads == 0)
		o->threads =
		    o->store != NULL && default_threads() < REDIS_THREADS
		    ? REDIS_THREADS
		    : default_threads();
	if (o->store_url.user[0] != '\0' && o->store_password_file == NULL)
		return usage(c,
		    "--store names a Redis user: give its password in "
		    "--store-password-file");
	return check_limits(c);
}

static enum relay_opts_result
parse(int argc, char **argv, struct ctx *ctx)
{
	struct option longopts[NOPTIONS + 1];
	enum relay_opts_result r;
	int c;

	make_longopts(longopts);
	opterr = 0;
	optind = 0; /* 0, not 1: glibc then forgets a previous argv fully */
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		const struct opt *op;

		if (c < OPT_BASE || c >= OPT_BASE + (int)NOPTIONS)
			return getopt_problem(c, argv, ctx);
		op = &options[c - OPT_BASE];
		if ((r = op->parse(op, optarg, ctx)) != RELAY_OPTS_RUN)
			return r;
	}
	if (optind < argc)
		return usage(
		    ctx, "unexpected argument '%s' (see --help)", argv[optind]);
	return check_together(ctx);
}

enum relay_opts_result
relay_opts_parse(int argc, char **argv, unsigned long open_files,
    struct relay_opts *o, char *err, size_t errlen)
{
	struct ctx ctx = { .o = o, .err = err, .errlen = errlen };
	enum relay_opts_result r;
	char *c;

	ctx.max_conns_limit = open_files > 64 + 16 ? open_files - 64 : 16;
	set_defaults(o, ctx.max_conns_limit);
	r = parse(argc, argv, &ctx);
	/* The message quotes what was typed: keep it one printable line. */
	if (r == RELAY_OPTS_USAGE)
		for (c = err; *c != '\0'; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
	return r;
}
