/* SipHash-2-4 (Aumasson and Bernstein): a keyed hash for tables whose keys
 * come from clients, so that nobody can aim many keys at one bucket. */
#ifndef RELAY_SIPHASH_H
#define RELAY_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t relay_siphash(
    const unsigned char key[16], const void *data, size_t len);

#endif
