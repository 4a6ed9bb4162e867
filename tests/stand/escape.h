/*
 * The PAM drivers' escaping of a conversation message or a log line
 * (tests/module/pamdrive.c, tests/bench/module_bench_drive.c), undone by
 * unescape() in tests/stand/drive.py.
 */
#ifndef ION_TEST_STAND_ESCAPE_H
#define ION_TEST_STAND_ESCAPE_H

#include <stdio.h>

/* Writes s to stdout with a newline as "\n" and a backslash as "\\", then
 * ends the line. */
static inline void
stand_print_escaped(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\n')
			fputs("\\n", stdout);
		else if (*s == '\\')
			fputs("\\\\", stdout);
		else
			fputc(*s, stdout);
	}
	fputc('\n', stdout);
}

#endif
