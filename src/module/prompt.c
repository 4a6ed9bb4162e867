#include "prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "errors.h"
#include "qr.h"

#define TEXT_MAX (16 * 1024)
#define HEADING "Sign in with iON: scan this code with your phone"

/* Appends s as the next message (NUL-terminated in the buffer). */
static void
add(struct ion_buf *b, size_t *offsets, enum ion_msg_style *styles, size_t *n,
    enum ion_msg_style style, const char *s, size_t len)
{
	if (*n == ION_CONV_MAX_MSGS) {
		b->failed = true;
		return;
	}
	offsets[*n] = b->len;
	styles[*n] = style;
	(*n)++;
	ion_buf_append(b, s, len);
	ion_buf_append(b, "", 1);
}

int
ion_prompt_link_msgs(const struct ion_cfg *cfg, const char *link,
    unsigned valid_seconds, const char *prompt, struct ion_msg *msgs, size_t *n,
    char **ret_text)
{
	size_t offsets[ION_CONV_MAX_MSGS], count = 0, i;
	enum ion_msg_style styles[ION_CONV_MAX_MSGS];
	char *qr = NULL, *text, line[ION_MSG_MAX];
	struct ion_buf b;
	unsigned rows, minutes = (valid_seconds + 59) / 60;
	int r;

	ion_buf_init(&b, TEXT_MAX);
	if (cfg->qr != ION_QR_OFF) {
		const char *p, *chunk;
		size_t hlen = strlen(HEADING);
		char *grown;

		if ((r = ion_qr_render(link, cfg->qr, &qr, &rows)) != 0)
			goto out;
		/*
		 * A line of text first: OpenSSH's client puts "(user@host) "
		 * in front of a prompt's first line, which would shift the
		 * code's top row and make it unreadable.
		 */
		if ((grown = realloc(qr, strlen(qr) + hlen + 2)) == NULL) {
			r = ION_ERR_NOMEM;
			goto out;
		}
		qr = grown;
		memmove(qr + hlen + 1, qr, strlen(qr) + 1);
		memcpy(qr, HEADING, hlen);
		qr[hlen] = '\n';
		/* Whole lines, at most ION_MSG_MAX - 1 bytes a message. */
		for (chunk = p = qr; *p != '\0';) {
			const char *eol = strchr(p, '\n');
			const char *next = eol ? eol + 1 : p + strlen(p);

			if ((size_t)((eol ? eol : next) - chunk) >=
			    ION_MSG_MAX) {
				if (p == chunk) { /* one line too long: never */
					r = ION_ERR_RANGE;
					goto out;
				}
				add(&b, offsets, styles, &count, ION_MSG_INFO,
				    chunk, (size_t)(p - chunk - 1));
				chunk = p;
				continue;
			}
			p = next;
		}
		if (p > chunk)
			add(&b, offsets, styles, &count, ION_MSG_INFO, chunk,
			    (size_t)(p - chunk));
	}
	snprintf(line, sizeof(line),
	    "or open this link:\n%s\nThe link is valid for %u minute%s.", link,
	    minutes, minutes == 1 ? "" : "s");
	if (cfg->qr == ION_QR_OFF)
		snprintf(line, sizeof(line),
		    "Sign in with iON: open this link on your phone\n%s\n"
		    "The link is valid for %u minute%s.",
		    link, minutes, minutes == 1 ? "" : "s");
	add(&b, offsets, styles, &count, ION_MSG_INFO, line, strlen(line));
	if (prompt != NULL)
		add(&b, offsets, styles, &count, ION_MSG_PROMPT, prompt,
		    strlen(prompt));
	if ((text = ion_buf_steal(&b, NULL)) == NULL) {
		r = ION_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < count; i++) {
		msgs[i].style = styles[i];
		msgs[i].text = text + offsets[i];
	}
	*n = count;
	*ret_text = text;
	r = 0;
out:
	ion_buf_free(&b);
	free(qr);
	return r;
}

bool
ion_prompt_parse_code(const char *typed, char out[7])
{
	size_t n = 0;

	for (; *typed != '\0'; typed++) {
		if (*typed >= '0' && *typed <= '9') {
			if (n == 6)
				return false;
			out[n++] = *typed;
		} else if (*typed != ' ' && *typed != '-' && *typed != '\t')
			return false;
	}
	out[n] = '\0';
	return n == 6;
}
