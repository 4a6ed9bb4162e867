#include "log.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "logsafe.h"

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

static void relay_vlog(enum relay_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
relay_vlog(enum relay_log_level level, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	int saved = errno, n, head;

	/* "<N>" lets journald pick the priority (SyslogLevelPrefix=yes). */
	if (to_journal)
		head = snprintf(
		    line, sizeof(line), "<%d>pam-ion-relay: ", (int)level);
	else
		head = snprintf(line, sizeof(line), "pam-ion-relay: ");
	n = vsnprintf(line + head, sizeof(line) - (size_t)head - 1, fmt, ap);
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

void
relay_log(enum relay_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	relay_vlog(level, fmt, ap);
	va_end(ap);
}

#define LIMIT_COUNT_BITS 20
#define LIMIT_COUNT_MASK ((UINT64_C(1) << LIMIT_COUNT_BITS) - 1)

static uint64_t
monotonic_second(void)
{
	return ion_now_ms() / 1000;
}

static void
report_suppressed(struct relay_log_limit *lim, const char *what)
{
	unsigned long n = atomic_exchange(&lim->suppressed, 0);

	if (n > 0)
		relay_log(RELAY_LOG_WARN,
		    "%lu more %s were not logged (at most %u lines a second)",
		    n, what, RELAY_LOG_LIMIT_PER_S);
}

bool
relay_log_limit_admit(
    struct relay_log_limit *lim, uint64_t now, bool *ret_new_second)
{
	uint64_t cur, next;

	/*
	 * The second and the count of its lines in one word, moved on by
	 * compare-and-swap: no lock on a path anyone can drive, and never
	 * more than the cap however many threads race.
	 */
	*ret_new_second = false;
	cur = atomic_load(&lim->window);
	for (;;) {
		/*
		 * Never back: a thread that read its clock just before a
		 * second turned, and lost the race to threads already in
		 * the next one, must count in theirs.  Moving the window
		 * back would start a fresh allowance for the old second,
		 * and the next thread another for the new one: twice the
		 * cap, and more the more threads interleave.
		 */
		if (cur >> LIMIT_COUNT_BITS > now)
			now = cur >> LIMIT_COUNT_BITS;
		if (cur >> LIMIT_COUNT_BITS != now)
			next = now << LIMIT_COUNT_BITS | 1;
		else if ((cur & LIMIT_COUNT_MASK) < RELAY_LOG_LIMIT_PER_S)
			next = cur + 1;
		else
			return false;
		if (atomic_compare_exchange_weak(&lim->window, &cur, next)) {
			*ret_new_second = cur >> LIMIT_COUNT_BITS != now;
			return true;
		}
	}
}

void
relay_log_limited(struct relay_log_limit *lim, const char *what,
    enum relay_log_level level, const char *fmt, ...)
{
	bool new_second;
	va_list ap;

	if (!relay_log_limit_admit(lim, monotonic_second(), &new_second)) {
		atomic_fetch_add(&lim->suppressed, 1);
		return;
	}
	if (new_second)
		report_suppressed(lim, what);
	va_start(ap, fmt);
	relay_vlog(level, fmt, ap);
	va_end(ap);
}

void
relay_log_limit_flush(struct relay_log_limit *lim, const char *what)
{
	/* Only a second that is over has its count complete. */
	if (atomic_load(&lim->window) >> LIMIT_COUNT_BITS != monotonic_second())
		report_suppressed(lim, what);
}

const char *
relay_log_quote(const char *s, char *out, size_t outlen)
{
	size_t n;

	if (outlen < 3) {
		if (outlen > 0)
			out[0] = '\0';
		return out;
	}
	out[0] = '"';
	if (outlen >= 6)
		ion_log_safe(s, SIZE_MAX, out + 1, outlen - 2);
	else
		out[1] = '\0';
	for (n = 1; out[n] != '\0'; n++)
		if (out[n] == '"')
			out[n] = '?';
	out[n] = '"';
	out[n + 1] = '\0';
	return out;
}
