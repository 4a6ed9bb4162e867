/*
 * A growable byte buffer with a hard cap, for building pages, JSON-free
 * texts and metrics.  Once an append fails (out of memory or past the cap)
 * the buffer stays failed, so callers may append freely and check once.
 */
#ifndef ION_BUF_H
#define ION_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct ion_buf {
	char *data; /* NUL-terminated while !failed; owned */
	size_t len;
	size_t cap;
	size_t max; /* hard cap on len */
	bool failed;
};

void ion_buf_init(struct ion_buf *b, size_t max);
void ion_buf_append(struct ion_buf *b, const char *s, size_t len);
void ion_buf_puts(struct ion_buf *b, const char *s);
void ion_buf_printf(struct ion_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s with & < > " ' replaced by HTML character references. */
void ion_buf_html(struct ion_buf *b, const char *s);
/*
 * Hands the data to the caller (who frees it) and resets b.  Returns NULL
 * when any append failed; the partial data is freed then.
 */
char *ion_buf_steal(struct ion_buf *b, size_t *ret_len);
void ion_buf_free(struct ion_buf *b);

#endif
