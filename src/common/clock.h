/*
 * The one clock every deadline, timeout and TTL is measured on: monotonic,
 * so a wall-clock step (NTP, an administrator's date) cannot end a sign-in
 * early or keep a login alive.
 */
#ifndef ION_CLOCK_H
#define ION_CLOCK_H

#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t ion_now_ms(void);

/* Microseconds on CLOCK_MONOTONIC, for figures (time to QR code). */
uint64_t ion_now_us(void);

/*
 * Milliseconds on CLOCK_BOOTTIME: monotonic too, but counting the time
 * the machine is suspended, for how old something kept on a PAM handle is
 * (a screen locker's handle lives across a suspend).
 */
uint64_t ion_boot_ms(void);

#endif
