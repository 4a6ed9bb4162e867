#include "textfile.h"

#include <stdio.h>
#include <string.h>

#include "errors.h"

bool
ion_text_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

bool
ion_text_has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* s without its blanks at both ends: the end cut in place. */
static char *
trim(char *s)
{
	char *end;

	while (ion_text_blank(*s))
		s++;
	end = s + strlen(s);
	while (end > s && ion_text_blank(end[-1]))
		*--end = '\0';
	return s;
}

int
ion_text_lines(char *buf, size_t len, size_t line_max, const char *path,
    int (*fn)(void *arg, char *line, unsigned lineno), void *arg, char *err,
    size_t errlen)
{
	char *p, *eol, *line;
	size_t linelen;
	unsigned lineno;
	int r;

	for (p = buf, lineno = 1; p < buf + len; lineno++) {
		eol = memchr(p, '\n', (size_t)(buf + len - p));
		linelen =
		    eol != NULL ? (size_t)(eol - p) : (size_t)(buf + len - p);
		if (linelen > line_max) {
			if (errlen > 0)
				snprintf(err, errlen,
				    "%s:%u: line longer than %zu characters",
				    path, lineno, line_max);
			return ION_ERR_CONFIG;
		}
		/* A NUL would end the line early for every string function. */
		if (memchr(p, '\0', linelen) != NULL) {
			if (errlen > 0)
				snprintf(err, errlen, "%s:%u: NUL character",
				    path, lineno);
			return ION_ERR_CONFIG;
		}
		p[linelen] = '\0';
		line = trim(p);
		if (*line != '\0' && *line != '#' &&
		    (r = fn(arg, line, lineno)) != 0)
			return r;
		p += linelen + 1;
	}
	return 0;
}
