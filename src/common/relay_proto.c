#include "relay_proto.h"

#include <string.h>

/* Printable ASCII without spaces: what is matched is what is sent. */
static bool
token_text(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return false;
	return true;
}

bool
ion_relay_key_ok(const char *key)
{
	size_t len = strnlen(key, ION_RELAY_KEY_MAX + 1);

	return len >= ION_RELAY_KEY_MIN && len <= ION_RELAY_KEY_MAX &&
	    token_text(key, len);
}

bool
ion_relay_request_uri_ok(const char *s, size_t len)
{
	const size_t plen = strlen(ION_RELAY_REQUEST_URI_PREFIX);

	return len > plen && len <= ION_RELAY_REQUEST_URI_MAX &&
	    memcmp(s, ION_RELAY_REQUEST_URI_PREFIX, plen) == 0 &&
	    token_text(s, len);
}
