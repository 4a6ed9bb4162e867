/*
 * relay_opts_parse() on a fuzzed command line: the input's NUL-separated
 * strings follow argv[0].  --help and --version print to stdout (run with
 * -close_fd_mask=1 to keep that quiet).
 */
#include <stdlib.h>
#include <string.h>

#include "clientkeys.h"
#include "fuzz.h"
#include "opts.h"

#define MAX_ARGS 64
#define OPEN_FILES 1024

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relay_opts o;
	char **argv, err[256];
	size_t i;
	int argc;
	enum relay_opts_result r;

	argv = fuzz_argv("pam-ion-relay", data, size, MAX_ARGS, &argc);
	memset(err, 'x', sizeof(err));
	r = relay_opts_parse(argc, argv, OPEN_FILES, &o, err, sizeof(err));
	switch (r) {
	case RELAY_OPTS_RUN:
		/* no open mode */
		FUZZ_CHECK(o.client_keys != NULL && o.client_keys[0] != '\0');
		FUZZ_CHECK(o.new_client_key == NULL);
		FUZZ_CHECK(o.check_client_keys == NULL);
		FUZZ_CHECK(o.public_url[0] != '\0' && o.nprefixes >= 1 &&
		    o.nprefixes <= RELAY_MAX_PREFIXES);
		FUZZ_CHECK(strlen(o.public_url) <= RELAY_PUBLIC_URL_MAX);
		for (i = 0; i < o.nprefixes; i++) {
			struct ion_url u;

			FUZZ_CHECK(ion_url_parse(o.prefixes[i], &u) == 0);
			FUZZ_CHECK(u.query == NULL && !u.has_fragment);
			FUZZ_CHECK(u.https || ion_url_is_loopback(&u));
		}
		FUZZ_CHECK(o.ttl >= 10 && o.ttl <= 3600);
		FUZZ_CHECK(o.max_pending >= 1);
		FUZZ_CHECK(o.max_connections >= 16 &&
		    o.max_connections <= OPEN_FILES - 64);
		FUZZ_CHECK(o.max_connections_per_ip >= 1 &&
		    o.max_connections_per_ip <= o.max_connections);
		FUZZ_CHECK(
		    o.connection_timeout >= 1 && o.connection_timeout <= 300);
		FUZZ_CHECK(o.threads >= 1 && o.threads <= 64);
		FUZZ_CHECK(
		    o.listen_host[0] != '\0' && o.listen_port[0] != '\0');
		break;
	case RELAY_OPTS_USAGE:
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		FUZZ_CHECK(err[0] != '\0');
		break;
	case RELAY_OPTS_EXIT:
		break;
	case RELAY_OPTS_NEW_KEY:
		FUZZ_CHECK(o.new_client_key != NULL &&
		    relay_client_name_ok(o.new_client_key));
		FUZZ_CHECK(o.check_client_keys == NULL);
		break;
	case RELAY_OPTS_CHECK_KEYS:
		/* a file to check, and nothing else asked for */
		FUZZ_CHECK(o.check_client_keys != NULL &&
		    o.check_client_keys[0] != '\0');
		FUZZ_CHECK(o.new_client_key == NULL);
		break;
	default:
		fuzz_fail("unknown result %d", (int)r);
	}
	free(argv);
	return 0;
}
