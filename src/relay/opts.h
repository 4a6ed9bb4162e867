/*
 * pam-ion-relay's command line, parsed into one validated struct.  Every
 * error is one line that names the option, so an administrator sees at once
 * what to change.
 */
#ifndef RELAY_OPTS_H
#define RELAY_OPTS_H

#include <stddef.h>

#include "store.h"
#include "url.h"

#define RELAY_MAX_PREFIXES 16
#define RELAY_LINK_MAX 60
#define RELAY_PUBLIC_URL_MAX 46 /* 60 - strlen("/l/") - 11 */

struct relay_opts {
	char listen_host[256]; /* numeric address or name, no brackets */
	char listen_port[8];
	char public_url[RELAY_PUBLIC_URL_MAX + 1]; /* without trailing '/' */
	const char *prefixes[RELAY_MAX_PREFIXES];  /* borrowed from argv */
	struct ion_url prefix_urls[RELAY_MAX_PREFIXES];
	size_t nprefixes;
	unsigned ttl;
	unsigned long max_pending;
	unsigned max_connections;
	unsigned max_connections_per_ip;
	unsigned max_parked; /* polls waiting at once, below max_connections */
	unsigned connection_timeout;
	unsigned threads;
	const char *store; /* --store as given, NULL for the default */
	struct relay_store_url store_url;
	const char *store_password_file; /* borrowed from argv */
	const char *store_prefix;	 /* "pam_ion:" unless given */
	const char *client_keys;	 /* the keys file, borrowed from argv */
	const char *new_client_key;	 /* --new-client-key NAME, from argv */
	const char *check_client_keys;	 /* --check-client-keys FILE, argv */
};

enum relay_opts_result {
	RELAY_OPTS_RUN,	       /* opts is filled in: start */
	RELAY_OPTS_EXIT,       /* --help or --version was printed: exit 0 */
	RELAY_OPTS_USAGE,      /* err holds the one-line reason: exit 2 */
	RELAY_OPTS_NEW_KEY,    /* --new-client-key: opts->new_client_key is a
				  valid NAME; nothing else was required */
	RELAY_OPTS_CHECK_KEYS, /* --check-client-keys: check
				  opts->check_client_keys; nothing else was
				  required */
};

/*
 * Parses argv.  open_files is the process's open-file limit, which bounds
 * --max-connections.  On RELAY_OPTS_USAGE, err holds a message without the
 * program name or newline.
 */
enum relay_opts_result relay_opts_parse(int argc, char **argv,
    unsigned long open_files, struct relay_opts *opts, char *err,
    size_t errlen);

#endif
