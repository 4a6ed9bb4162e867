/*
 * Text that came from outside (a user name, a claim, a command-line
 * argument, a relay key's name) made fit for one log line, by one rule for
 * the module and the relay: nothing in it can start a new line, forge a
 * field or reach a terminal as a control sequence.
 */
#ifndef ION_LOGSAFE_H
#define ION_LOGSAFE_H

#include <stddef.h>

/*
 * Copies at most n bytes of s (fewer at a NUL) to out, NUL-terminated,
 * each byte outside printable ASCII (0x20 to 0x7e) written as '?'.  When s
 * holds more than that, or more than fits in outlen bytes, out ends in
 * "...".  s may be NULL (out is ""); outlen must be at least 4.  Returns
 * out.
 */
const char *ion_log_safe(const char *s, size_t n, char *out, size_t outlen);

#endif
