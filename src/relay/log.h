/*
 * The relay's log: one line per event on stderr, where systemd's journal
 * picks it up.  Callers never pass authorization codes, poll secrets or
 * query strings; values that come from clients are quoted by the caller
 * with relay_log_quote().
 */
#ifndef RELAY_LOG_H
#define RELAY_LOG_H

#include <stddef.h>

enum relay_log_level {
	RELAY_LOG_ERR = 3,
	RELAY_LOG_WARN = 4,
	RELAY_LOG_INFO = 6
};

/*
 * Call once at start, before threads: when stderr is systemd's journal
 * stream, lines carry a "<N>" priority prefix the journal understands.
 */
void relay_log_init(void);

void relay_log(enum relay_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Copies at most outlen - 3 characters of s into out inside double quotes:
 * printable ASCII stays, anything else and '"' itself become '?', so a
 * client can neither forge lines nor end the quoted value early.
 */
const char *relay_log_quote(const char *s, char *out, size_t outlen);

#endif
