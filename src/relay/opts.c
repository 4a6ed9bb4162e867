#include "opts.h"

#include <getopt.h>
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

enum {
	OPT_LISTEN = 256,
	OPT_PUBLIC_URL,
	OPT_PREFIX,
	OPT_STORE,
	OPT_TTL,
	OPT_MAX_PENDING,
	OPT_MAX_CONNS,
	OPT_MAX_CONNS_IP,
	OPT_CONN_TIMEOUT,
	OPT_THREADS,
	OPT_CLIENT_KEYS,
	OPT_NEW_CLIENT_KEY,
	OPT_CHECK_CLIENT_KEYS,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option longopts[] = {
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "public-url", required_argument, NULL, OPT_PUBLIC_URL },
	{ "authorize-url-prefix", required_argument, NULL, OPT_PREFIX },
	{ "store", required_argument, NULL, OPT_STORE },
	{ "ttl", required_argument, NULL, OPT_TTL },
	{ "max-pending", required_argument, NULL, OPT_MAX_PENDING },
	{ "max-connections", required_argument, NULL, OPT_MAX_CONNS },
	{ "max-connections-per-ip", required_argument, NULL, OPT_MAX_CONNS_IP },
	{ "connection-timeout", required_argument, NULL, OPT_CONN_TIMEOUT },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "client-keys", required_argument, NULL, OPT_CLIENT_KEYS },
	{ "new-client-key", required_argument, NULL, OPT_NEW_CLIENT_KEY },
	{ "check-client-keys", required_argument, NULL, OPT_CHECK_CLIENT_KEYS },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

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
    "  --store memory                 where logins are kept (memory)\n"
    "  --ttl SECONDS                  lifetime of a login (300)\n"
    "  --max-pending N                logins held at once (10000)\n"
    "  --max-connections N            open connections at once (4096)\n"
    "  --max-connections-per-ip N     open connections per address (128)\n"
    "  --connection-timeout SECONDS   idle connection timeout (15)\n"
    "  --threads N                    HTTP worker threads (2 per CPU, at "
    "least 4)\n"
    "  --help                         show this text\n"
    "  --version                      show the version\n"
    "\n"
    "See pam-ion-relay(8).\n";

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

static const char *
check_public_url(const char *s, struct relay_opts *o)
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
	if (ion_url_parse(o->public_url, &u) != 0)
		return "not a plain http(s) URL (no user info, white space, "
		       "dot segments or encoded '.', '/', '\\')";
	if (u.query != NULL || u.has_fragment)
		return "must not have a query or fragment";
	if (!u.https && !ion_url_is_loopback(&u))
		return "must be https:// (http:// only for a loopback host)";
	return NULL;
}

static const char *
check_prefix(const char *s, struct ion_url *u)
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

static enum relay_opts_result
parse(int argc, char **argv, unsigned long open_files, struct relay_opts *o,
    char *err, size_t errlen)
{
	unsigned long v, max_conns_limit;
	bool per_ip_set = false;
	const char *why;
	int c;

	memset(o, 0, sizeof(*o));
	strcpy(o->listen_host, "127.0.0.1");
	strcpy(o->listen_port, "8080");
	o->ttl = 300;
	o->max_pending = 10000;
	o->max_connections = 4096;
	o->max_connections_per_ip = 128;
	o->connection_timeout = 15;
	o->threads = default_threads();
	max_conns_limit = open_files > 64 + 16 ? open_files - 64 : 16;
	if (o->max_connections > max_conns_limit)
		o->max_connections = (unsigned)max_conns_limit;

	opterr = 0;
	optind = 0; /* 0, not 1: glibc then forgets a previous argv fully */
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN:
			if (!parse_listen(optarg, o)) {
				snprintf(err, errlen,
				    "--listen: expected ADDR:PORT (IPv6 as "
				    "[ADDR]:PORT, port 0-65535), got '%s'",
				    optarg);
				return RELAY_OPTS_USAGE;
			}
			break;
		case OPT_PUBLIC_URL:
			if ((why = check_public_url(optarg, o)) != NULL) {
				snprintf(err, errlen, "--public-url '%s': %s",
				    optarg, why);
				return RELAY_OPTS_USAGE;
			}
			break;
		case OPT_PREFIX:
			if (o->nprefixes == RELAY_MAX_PREFIXES) {
				snprintf(err, errlen,
				    "--authorize-url-prefix: at most %d",
				    RELAY_MAX_PREFIXES);
				return RELAY_OPTS_USAGE;
			}
			why =
			    check_prefix(optarg, &o->prefix_urls[o->nprefixes]);
			if (why != NULL) {
				snprintf(err, errlen,
				    "--authorize-url-prefix '%s': %s", optarg,
				    why);
				return RELAY_OPTS_USAGE;
			}
			o->prefixes[o->nprefixes++] = optarg;
			break;
		case OPT_STORE:
			if (strcmp(optarg, "memory") == 0)
				break;
			if (strncmp(optarg, "redis://", 8) == 0)
				snprintf(err, errlen,
				    "--store '%s': the redis store is not part "
				    "of this version; use 'memory'",
				    optarg);
			else
				snprintf(err, errlen,
				    "--store: expected 'memory', got '%s'",
				    optarg);
			return RELAY_OPTS_USAGE;
		case OPT_TTL:
			if (!parse_number(optarg, 10, 3600, &v)) {
				snprintf(err, errlen,
				    "--ttl: expected seconds in 10..3600, got "
				    "'%s'",
				    optarg);
				return RELAY_OPTS_USAGE;
			}
			o->ttl = (unsigned)v;
			break;
		case OPT_MAX_PENDING:
			if (!parse_number(optarg, 1, 10000000, &v)) {
				snprintf(err, errlen,
				    "--max-pending: expected a number in "
				    "1..10000000, got '%s'",
				    optarg);
				return RELAY_OPTS_USAGE;
			}
			o->max_pending = v;
			break;
		case OPT_MAX_CONNS:
			if (!parse_number(optarg, 16, max_conns_limit, &v)) {
				snprintf(err, errlen,
				    "--max-connections: expected a number in "
				    "16..%lu (the open-file limit less 64), "
				    "got '%s'",
				    max_conns_limit, optarg);
				return RELAY_OPTS_USAGE;
			}
			o->max_connections = (unsigned)v;
			break;
		case OPT_MAX_CONNS_IP:
			if (!parse_number(optarg, 1, 10000000, &v)) {
				snprintf(err, errlen,
				    "--max-connections-per-ip: expected a "
				    "number of at least 1, got '%s'",
				    optarg);
				return RELAY_OPTS_USAGE;
			}
			o->max_connections_per_ip = (unsigned)v;
			per_ip_set = true;
			break;
		case OPT_CONN_TIMEOUT:
			if (!parse_number(optarg, 1, 300, &v)) {
				snprintf(err, errlen,
				    "--connection-timeout: expected seconds in "
				    "1..300, got '%s'",
				    optarg);
				return RELAY_OPTS_USAGE;
			}
			o->connection_timeout = (unsigned)v;
			break;
		case OPT_THREADS:
			if (!parse_number(optarg, 1, 64, &v)) {
				snprintf(err, errlen,
				    "--threads: expected a number in 1..64, "
				    "got "
				    "'%s'",
				    optarg);
				return RELAY_OPTS_USAGE;
			}
			o->threads = (unsigned)v;
			break;
		case OPT_CLIENT_KEYS:
			if (optarg[0] == '\0') {
				snprintf(err, errlen,
				    "--client-keys: expected a file name");
				return RELAY_OPTS_USAGE;
			}
			/*
			 * Twice is a mistake, not an override: the unit's
			 * reload checks the file it names, and must check
			 * the one the relay reads.
			 */
			if (o->client_keys != NULL) {
				snprintf(err, errlen,
				    "--client-keys: given twice ('%s' and "
				    "'%s')",
				    o->client_keys, optarg);
				return RELAY_OPTS_USAGE;
			}
			o->client_keys = optarg;
			break;
		case OPT_CHECK_CLIENT_KEYS:
			if (optarg[0] == '\0') {
				snprintf(err, errlen,
				    "--check-client-keys: expected a file "
				    "name");
				return RELAY_OPTS_USAGE;
			}
			/*
			 * As with --client-keys: a reload's check that took
			 * the last of two names could pass a file other than
			 * the one the unit meant.
			 */
			if (o->check_client_keys != NULL) {
				snprintf(err, errlen,
				    "--check-client-keys: given twice ('%s' "
				    "and '%s')",
				    o->check_client_keys, optarg);
				return RELAY_OPTS_USAGE;
			}
			o->check_client_keys = optarg;
			break;
		case OPT_NEW_CLIENT_KEY:
			if (!relay_client_name_ok(optarg)) {
				snprintf(err, errlen,
				    "--new-client-key: NAME must be 1 to 64 "
				    "characters of A-Z a-z 0-9 . _ -, got '%s'",
				    optarg);
				return RELAY_OPTS_USAGE;
			}
			o->new_client_key = optarg;
			break;
		case OPT_HELP:
			fputs(usage_text, stdout);
			return RELAY_OPTS_EXIT;
		case OPT_VERSION:
			printf("pam-ion-relay %s\n", PAM_ION_VERSION);
			return RELAY_OPTS_EXIT;
		case ':':
			snprintf(
			    err, errlen, "%s: needs a value", argv[optind - 1]);
			return RELAY_OPTS_USAGE;
		default:
			if (optopt != 0 && optopt < OPT_LISTEN)
				snprintf(err, errlen, "unknown option '-%c'",
				    optopt);
			else if (optopt >= OPT_LISTEN)
				snprintf(err, errlen, "%s: takes no value",
				    argv[optind - 1]);
			else
				snprintf(err, errlen,
				    "unknown or ambiguous option '%s' (see "
				    "--help)",
				    argv[optind - 1]);
			return RELAY_OPTS_USAGE;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s' (see --help)",
		    argv[optind]);
		return RELAY_OPTS_USAGE;
	}
	if (o->new_client_key != NULL && o->check_client_keys != NULL) {
		snprintf(err, errlen,
		    "--new-client-key and --check-client-keys: one at a time");
		return RELAY_OPTS_USAGE;
	}
	/* Making a key needs nothing else: it runs on a workstation, too. */
	if (o->new_client_key != NULL)
		return RELAY_OPTS_NEW_KEY;
	/* Nor does checking a file, which runs before each reload. */
	if (o->check_client_keys != NULL)
		return RELAY_OPTS_CHECK_KEYS;
	if (o->public_url[0] == '\0') {
		snprintf(err, errlen, "--public-url is required");
		return RELAY_OPTS_USAGE;
	}
	if (o->nprefixes == 0) {
		snprintf(err, errlen,
		    "--authorize-url-prefix is required (at least one)");
		return RELAY_OPTS_USAGE;
	}
	/* There is no open mode: an open relay serves code transplants. */
	if (o->client_keys == NULL) {
		snprintf(err, errlen,
		    "--client-keys is required (see --new-client-key)");
		return RELAY_OPTS_USAGE;
	}
	if (o->max_connections_per_ip > o->max_connections) {
		if (per_ip_set) {
			snprintf(err, errlen,
			    "--max-connections-per-ip (%u) exceeds "
			    "--max-connections (%u)",
			    o->max_connections_per_ip, o->max_connections);
			return RELAY_OPTS_USAGE;
		}
		o->max_connections_per_ip = o->max_connections;
	}
	return RELAY_OPTS_RUN;
}

enum relay_opts_result
relay_opts_parse(int argc, char **argv, unsigned long open_files,
    struct relay_opts *o, char *err, size_t errlen)
{
	enum relay_opts_result r =
	    parse(argc, argv, open_files, o, err, errlen);
	char *c;

	/* The message quotes what was typed: keep it one printable line. */
	if (r == RELAY_OPTS_USAGE)
		for (c = err; *c != '\0'; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
	return r;
}
