/*
 * Text that came from outside (a user name, a claim, a command-line
 * argument, a relay key's name) made fit for one log line, by one rule for
 * the module and the relay: nothing in it can start a new line or reach a
 * terminal as a control sequence.  Spaces stay: a caller that puts such
 * text among fields quotes it (relay_log_quote()) or keeps it one word
 * (ion_idtoken_subject()).
 */
#ifndef ION_LOGSAFE_H
#define ION_LOGSAFE_H

#include <stddef.h>

/*
 * Copies at most n bytes of the string s (NUL-terminated: it is read up
 * to its NUL or one byte past n) to out, NUL-terminated, each byte outside
 * printable ASCII (0x20 to 0x7e) written as '?'.  When s holds more than
 * that, or more than fits in outlen bytes, out ends in "...".  s may be
 * NULL (out is ""); outlen must be at least 4.  Returns out.
 */
const char *ion_log_safe(const char *s, size_t n, char *out, size_t outlen);

#endif
