/*
 * What a URL may hold, as one rule for every reader of URLs: the module's
 * config, the links the relay hands back, and the relay's own parser.
 */
#ifndef ION_URLCHAR_H
#define ION_URLCHAR_H

#include <stdbool.h>

/* True for RFC 3986 unreserved and reserved characters and '%'. */
bool ion_url_char(char c);

#endif
