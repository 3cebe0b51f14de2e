/* Small helpers shared by every part of vcuda. */
#ifndef VCUDA_UTIL_H
#define VCUDA_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* "64M", "2G", "4096": bytes with an optional K/M/G/T suffix (powers of 2).
 * 0 or VCUDA_E_INVAL. */
int vcuda_parse_size(const char *s, uint64_t *out);
/* Monotonic clock in nanoseconds. */
uint64_t vcuda_now_ns(void);
/* Fills buf with len random bytes from the kernel; 0 or VCUDA_E_SYSTEM. */
int vcuda_random(void *buf, size_t len);
/* Hex of len bytes into out (2 * len + 1 bytes). */
void vcuda_hex(const void *buf, size_t len, char *out);

#endif
