#include "logsafe.h"

#include <string.h>

const char *
ion_log_safe(const char *s, size_t n, char *out, size_t outlen)
{
	size_t i = 0, room = outlen - 1;
	unsigned char c;

	if (s == NULL) {
		out[0] = '\0';
		return out;
	}
	n = strnlen(s, n);
	if (n > room || s[n] != '\0')
		room = room < 3 ? 0 : room - 3; /* leave room for "..." */
	for (; i < n && i < room; i++) {
		c = (unsigned char)s[i];
		out[i] = (c < 0x20 || c > 0x7e) ? '?' : (char)c;
	}
	if (i < n || s[n] != '\0') {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}
