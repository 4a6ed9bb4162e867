/*
 * The relay's log: one line per event on stderr, where systemd's journal
 * picks it up.  Callers never pass authorization codes, poll secrets or
 * query strings; values that come from clients are quoted by the caller
 * with relay_log_quote().
 */
#ifndef RELAY_LOG_H
#define RELAY_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
 * A cap on one kind of line that anyone can cause, so a flood of requests
 * cannot flood the journal: at most RELAY_LOG_LIMIT_PER_S such lines a
 * second; the others are counted, and one line says how many when the
 * next second's first line comes or relay_log_limit_flush() runs.  Safe
 * from any thread; a zeroed struct is ready to use.
 */
#define RELAY_LOG_LIMIT_PER_S 10
struct relay_log_limit {
	_Atomic uint64_t window; /* monotonic second << 20 | lines written */
	atomic_ulong suppressed; /* lines not written, not yet reported */
};

/*
 * relay_log() unless this second's lines are used up.  what names the kind
 * of line in the report of those left out ("requests refused for ...").
 */
void relay_log_limited(struct relay_log_limit *lim, const char *what,
    enum relay_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * The counting step of relay_log_limited() at monotonic second now
 * (exported for the unit tests, which need a clock of their own): true
 * when a line may be written, with ret_new_second telling whether it is
 * its second's first, when the lines left out before are reported.  The
 * window never moves back to an earlier second than it holds.
 */
bool relay_log_limit_admit(
    struct relay_log_limit *lim, uint64_t now, bool *ret_new_second);

/*
 * Reports the lines left out in a second that is over (call it once a
 * second), so the count shows even when no further line comes.
 */
void relay_log_limit_flush(struct relay_log_limit *lim, const char *what);

/*
 * Writes s into out inside double quotes, by ion_log_safe()'s rule (a
 * value cut to fit ends in "...") with '"' itself also written as '?', so a
 * client can neither forge lines nor end the quoted value early.
 */
const char *relay_log_quote(const char *s, char *out, size_t outlen);

#endif
