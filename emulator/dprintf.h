/*
 * Device printf: formats what a kernel's vprintf call names, a format string
 * and an argument buffer, both in device memory the guest controls. The
 * format is interpreted here, conversion by conversion; the host's printf
 * only ever sees a conversion this code built from checked parts, with an
 * argument of the type that conversion takes. So %n (which CUDA does not
 * support either) cannot write anywhere, and a conversion that asks for
 * more arguments than the buffer holds cannot read past it.
 */
#ifndef VCUDA_DPRINTF_H
#define VCUDA_DPRINTF_H

#include <stddef.h>
#include <stdint.h>

#define DPRINTF_MAX_FORMAT 1024	       /* bytes of format string read */
#define DPRINTF_MAX_OUTPUT 4096	       /* bytes one call prints */
#define DPRINTF_MAX_STRING 512	       /* bytes of one %s argument read */
#define DPRINTF_MAX_WIDTH  512	       /* field width and precision */
#define DPRINTF_MAX_FIFO   (64u << 20) /* the largest printf FIFO a context may set */

/* Where the arguments come from. fetch copies size bytes (4 or 8) at offset
 * of the argument buffer into dst; string copies a NUL-terminated string at
 * device address addr, at most cap bytes with the NUL. Each returns 0, or -1
 * when that memory cannot be read. */
struct dprintf_source {
	int (*fetch)(void *ctx, size_t offset, unsigned size, void *dst);
	int (*string)(void *ctx, uint64_t addr, char *dst, size_t cap);
	void *ctx;
};

/*
 * Formats fmt (NUL-terminated, at most DPRINTF_MAX_FORMAT bytes) into out
 * (cap bytes, NUL-terminated, cap >= 1). What it cannot format ('*' widths,
 * unknown conversions) it copies literally; %n takes its pointer argument,
 * writes nothing and prints as "%n". Returns the length
 * written, or -1 when an argument could not be read (the kernel's fault).
 */
int dprintf_format(const char *fmt, const struct dprintf_source *src, char *out, size_t cap);

#endif
