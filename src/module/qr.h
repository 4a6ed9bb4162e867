/*
 * The short link as a QR code in plain text (no ANSI escapes: OpenSSH
 * clients escape control characters in prompts).  The only file that
 * includes libqrencode.
 *
 * ION_QR_UTF8 packs two module rows into one text row with the half blocks
 * U+2580/U+2584/U+2588 (dark modules drawn as light-on-dark terminals
 * expect: the code is drawn inverted so it scans on dark backgrounds,
 * with a quiet zone of at least two modules); ION_QR_ASCII uses "##" and
 * "  " per module, one text row per module row.
 */
#ifndef ION_QR_H
#define ION_QR_H

#include <stddef.h>

#include "config.h"

/*
 * Renders text; *ret is malloc'd, rows separated by '\n' (no trailing
 * newline), *ret_rows the number of rows.  ION_ERR_INVALID for
 * ION_QR_OFF or text that does not fit.
 */
int ion_qr_render(
    const char *text, enum ion_qr_mode mode, char **ret, unsigned *ret_rows);

#endif
