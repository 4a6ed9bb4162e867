/*
 * One reading of the line-based files an administrator writes for the
 * module (pam_ion.conf, the user map): lines of a bounded length, no NUL,
 * blanks at either end ignored, blank lines and whole-line '#' comments
 * skipped, control characters inside a line refused by the caller.
 */
#ifndef ION_TEXTFILE_H
#define ION_TEXTFILE_H

#include <stdbool.h>
#include <stddef.h>

/* True for a blank: space, tab, or the '\r' of a CRLF file. */
bool ion_text_blank(char c);

/* True when s holds a control character (below 0x20, or DEL). */
bool ion_text_has_control(const char *s);

/*
 * Splits buf[0..len) (a file's contents, NUL-terminated at buf[len] as
 * ion_rootfile_read() gives them) into lines in place, '\n' becoming NUL, and
 * calls fn(arg, line, lineno) for each line that is neither blank nor a
 * comment, trimmed of blanks at both ends; lineno counts from 1.  Returns the
 * first nonzero return of fn; ION_ERR_CONFIG with "PATH:LINE: line longer than
 * MAX characters" or "PATH:LINE: NUL character" in err (when errlen > 0) for a
 * line of more than line_max characters or holding a NUL; else 0.
 */
int ion_text_lines(char *buf, size_t len, size_t line_max, const char *path,
    int (*fn)(void *arg, char *line, unsigned lineno), void *arg, char *err,
    size_t errlen);

#endif
