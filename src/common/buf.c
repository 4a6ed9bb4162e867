#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
ion_buf_init(struct ion_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

static bool
reserve(struct ion_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (b->failed)
		return false;
	if (extra > b->max - b->len) {
		b->failed = true;
		return false;
	}
	need = b->len + extra + 1;
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	if ((p = realloc(b->data, cap)) == NULL) {
		b->failed = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	b->data[b->len] = '\0';
	return true;
}

void
ion_buf_append(struct ion_buf *b, const char *s, size_t len)
{
	if (!reserve(b, len))
		return;
	memcpy(b->data + b->len, s, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void
ion_buf_puts(struct ion_buf *b, const char *s)
{
	ion_buf_append(b, s, strlen(s));
}

void
ion_buf_printf(struct ion_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if (!reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
ion_buf_html(struct ion_buf *b, const char *s)
{
	const char *run = s;

	for (; *s != '\0'; s++) {
		const char *ref;

		switch (*s) {
		case '&':
			ref = "&amp;";
			break;
		case '<':
			ref = "&lt;";
			break;
		case '>':
			ref = "&gt;";
			break;
		case '"':
			ref = "&quot;";
			break;
		case '\'':
			ref = "&#39;";
			break;
		default:
			continue;
		}
		ion_buf_append(b, run, (size_t)(s - run));
		ion_buf_puts(b, ref);
		run = s + 1;
	}
	ion_buf_append(b, run, (size_t)(s - run));
}

char *
ion_buf_steal(struct ion_buf *b, size_t *ret_len)
{
	char *p;

	if (b->failed || (b->data == NULL && !reserve(b, 0))) {
		ion_buf_free(b);
		return NULL;
	}
	p = b->data;
	if (ret_len != NULL)
		*ret_len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

void
ion_buf_free(struct ion_buf *b)
{
	size_t max = b->max;

	free(b->data);
	memset(b, 0, sizeof(*b));
	b->max = max;
}
