#include "log.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_LINE_MAX 1024

/* Set once by relay_log_init() before any thread starts, then only read. */
static bool to_journal;

void
relay_log_init(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long dev, ino;
	struct stat st;

	/* systemd names the stream it connected; only then tag priorities. */
	if (js != NULL && sscanf(js, "%lu:%lu", &dev, &ino) == 2 &&
	    fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev &&
	    st.st_ino == ino)
		to_journal = true;
}

void
relay_log(enum relay_log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	int saved = errno, n, head;
	va_list ap;

	/* "<N>" lets journald pick the priority (SyslogLevelPrefix=yes). */
	if (to_journal)
		head = snprintf(
		    line, sizeof(line), "<%d>pam-ion-relay: ", (int)level);
	else
		head = snprintf(line, sizeof(line), "pam-ion-relay: ");
	va_start(ap, fmt);
	n = vsnprintf(line + head, sizeof(line) - (size_t)head - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(line) - (size_t)head - 2)
		n = (int)(sizeof(line) - (size_t)head - 2);
	line[head + n] = '\n';
	/* One write per line keeps lines whole across threads. */
	if (write(STDERR_FILENO, line, (size_t)(head + n + 1)) < 0) {
		/* Nowhere left to complain to. */
	}
	errno = saved;
}

const char *
relay_log_quote(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	if (outlen < 3) {
		if (outlen > 0)
			out[0] = '\0';
		return out;
	}
	out[o++] = '"';
	for (; s != NULL && *s != '\0' && o < outlen - 2; s++)
		out[o++] = (*s >= 0x20 && *s < 0x7f && *s != '"') ? *s : '?';
	out[o++] = '"';
	out[o] = '\0';
	return out;
}
