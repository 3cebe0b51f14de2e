/* libFuzzer: device printf's formatter. The input is a format string, a NUL,
 * then the argument buffer; %s arguments may name offsets into the input. */
#include <stdint.h>
#include <string.h>

#include "dprintf.h"

struct input {
	const uint8_t *args;
	size_t len;
	const uint8_t *all;
	size_t all_len;
};

static int fetch(void *ctx, size_t offset, unsigned size, void *dst)
{
	struct input *in = ctx;

	if (offset > in->len || size > in->len - offset)
		return -1;
	memcpy(dst, in->args + offset, size);
	return 0;
}

static int string(void *ctx, uint64_t addr, char *dst, size_t cap)
{
	struct input *in = ctx;
	size_t n = 0;

	if (addr >= in->all_len)
		return -1;
	while (n + 1 < cap && addr + n < in->all_len && in->all[addr + n])
		dst[n] = (char)in->all[addr + n], n++;
	dst[n] = '\0';
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	char fmt[DPRINTF_MAX_FORMAT], out[DPRINTF_MAX_OUTPUT];
	size_t flen = nul ? (size_t)(nul - data) : size;
	struct input in = {nul ? nul + 1 : data + size, nul ? size - flen - 1 : 0, data, size};
	struct dprintf_source src = {fetch, string, &in};

	if (flen >= sizeof(fmt))
		flen = sizeof(fmt) - 1;
	memcpy(fmt, data, flen);
	fmt[flen] = '\0';
	dprintf_format(fmt, &src, out, sizeof(out));
	return 0;
}
