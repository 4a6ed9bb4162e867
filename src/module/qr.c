#include "qr.h"

#include <qrencode.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "errors.h"

/* At least two light modules around the code (ISO 18004 asks four; two
 * scan reliably on a screen and keep the code within 17 rows). */
#define QUIET 2
#define SMALL_VERSION 3 /* 29 modules: 17 text rows with half blocks */
#define QR_TEXT_MAX 256

/*
 * Drawn as the light parts: terminals mostly show light text on a dark
 * background, so the blocks are the light modules and the background shows
 * through as the dark ones (what qrencode -t UTF8 does too).
 */
static const char *const half[4] = {
	"\xe2\x96\x88", /* both light: U+2588 full block */
	"\xe2\x96\x80", /* top light: U+2580 upper half */
	"\xe2\x96\x84", /* bottom light: U+2584 lower half */
	" ",		/* both dark */
};

static bool
dark(const QRcode *q, int x, int y)
{
	if (x < 0 || y < 0 || x >= q->width || y >= q->width)
		return false; /* the quiet zone */
	return (q->data[y * q->width + x] & 1) != 0;
}

static QRcode *
encode(const char *text)
{
	QRcode *q;

	/* M holds up to 42 bytes in a version 3 code; beyond, L keeps it
	 * small as long as it can. */
	q = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
	if (q != NULL && q->version > SMALL_VERSION) {
		QRcode *l = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_L);

		if (l != NULL && l->version < q->version) {
			QRcode_free(q);
			q = l;
		} else if (l != NULL)
			QRcode_free(l);
	}
	return q;
}

int
ion_qr_render(
    const char *text, enum ion_qr_mode mode, char **ret, unsigned *ret_rows)
{
	struct ion_buf b;
	QRcode *q = NULL;
	unsigned rows = 0;
	char *out;
	int x, y, r = ION_ERR_INVALID;

	if (mode == ION_QR_OFF || text == NULL || text[0] == '\0' ||
	    strlen(text) > QR_TEXT_MAX)
		return ION_ERR_INVALID;
	if ((q = encode(text)) == NULL)
		return ION_ERR_NOMEM;
	ion_buf_init(&b, 64 * 1024);
	if (mode == ION_QR_UTF8) {
		for (y = -QUIET; y < q->width + QUIET; y += 2) {
			if (rows > 0)
				ion_buf_puts(&b, "\n");
			for (x = -QUIET; x < q->width + QUIET; x++) {
				int top = dark(q, x, y),
				    bottom = dark(q, x, y + 1);

				ion_buf_puts(&b, half[top * 2 + bottom]);
			}
			rows++;
		}
	} else {
		for (y = -QUIET; y < q->width + QUIET; y++) {
			if (rows > 0)
				ion_buf_puts(&b, "\n");
			for (x = -QUIET; x < q->width + QUIET; x++)
				ion_buf_puts(&b, dark(q, x, y) ? "  " : "##");
			rows++;
		}
	}
	if ((out = ion_buf_steal(&b, NULL)) == NULL) {
		r = ION_ERR_NOMEM;
		goto out;
	}
	*ret = out;
	*ret_rows = rows;
	r = 0;
out:
	QRcode_free(q);
	return r;
}
