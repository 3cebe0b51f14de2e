#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "error.h"
#include "fatbin.h"

/* Layout of the container (little-endian, as the hardware that reads it). */
#define FATBIN_HEADER_LEN 16
#define FATBIN_ENTRY_MIN  64
#define FATBIN_FLAG_LZ4	  0x2000u
#define FATBIN_FLAG_ZSTD  0x8000u
/* The largest entry we accept once decompressed. */
#define FATBIN_MAX_ENTRY (1ull << 31)

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static int fatbin_fail(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fatbin_fail(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (why && why_len) {
		va_start(ap, fmt);
		vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
	}
	return VCUDA_E_PROTO;
}

const void *vcuda_fatbin_from_wrapper(const void *wrapper)
{
	const uint8_t *w = wrapper;
	const void *data;

	if (!w || rd32(w) != VCUDA_FATBIN_WRAPPER_MAGIC)
		return NULL;
	memcpy(&data, w + 8, sizeof(data));
	return data;
}

size_t vcuda_fatbin_size(const void *data, size_t avail)
{
	const uint8_t *p = data;
	uint64_t body;

	if (avail < FATBIN_HEADER_LEN || rd32(p) != VCUDA_FATBIN_MAGIC)
		return 0;
	body = rd64(p + 8);
	if (body > SIZE_MAX - rd16(p + 6))
		return 0;
	return (size_t)(rd16(p + 6) + body);
}

static int fatbin_entry(const uint8_t *e, size_t room, struct vcuda_fatbin_entry *out,
			size_t *advance, char *why, size_t why_len)
{
	uint32_t hdr;
	uint64_t stored, csize;

	if (room < FATBIN_ENTRY_MIN)
		return fatbin_fail(why, why_len, "entry header truncated (%zu bytes left)", room);
	hdr = rd32(e + 4);
	stored = rd64(e + 8);
	if (hdr < FATBIN_ENTRY_MIN || hdr > room || stored > room - hdr)
		return fatbin_fail(
		    why, why_len,
		    "entry of %llu bytes after a %u-byte header overruns the container",
		    (unsigned long long)stored, hdr);
	*out = (struct vcuda_fatbin_entry){
	    .kind = rd16(e),
	    .minor = rd16(e + 24),
	    .major = rd16(e + 26),
	    .arch = rd32(e + 28),
	    .flags = rd64(e + 40),
	    .payload = e + hdr,
	    .payload_len = (size_t)stored,
	    .size = (size_t)stored,
	};
	csize = rd32(e + 16);
	if (out->flags & (FATBIN_FLAG_LZ4 | FATBIN_FLAG_ZSTD)) {
		out->compression = (out->flags & FATBIN_FLAG_ZSTD) ? 2 : 1;
		if (csize == 0 || csize > stored)
			return fatbin_fail(why, why_len,
					   "compressed size %llu outside the entry's %llu bytes",
					   (unsigned long long)csize, (unsigned long long)stored);
		out->payload_len = (size_t)csize;
		out->size = (size_t)rd64(e + 56);
		if (out->size == 0 || out->size > FATBIN_MAX_ENTRY)
			return fatbin_fail(why, why_len, "implausible decompressed size %zu",
					   out->size);
	}
	*advance = hdr + (size_t)stored;
	return 0;
}

int vcuda_fatbin_parse(const void *data, size_t avail, struct vcuda_fatbin *fb, char *why,
		       size_t why_len)
{
	const uint8_t *p = data;
	size_t total = vcuda_fatbin_size(data, avail), off, cap = 0;
	int rc;

	*fb = (struct vcuda_fatbin){0};
	if (avail < FATBIN_HEADER_LEN || rd32(p) != VCUDA_FATBIN_MAGIC)
		return fatbin_fail(why, why_len, "not a fat binary (bad magic)");
	if (rd16(p + 4) != 1 || rd16(p + 6) < FATBIN_HEADER_LEN)
		return fatbin_fail(why, why_len, "unknown fat binary version %u", rd16(p + 4));
	if (total == 0 || total > avail)
		return fatbin_fail(why, why_len, "fat binary claims %llu bytes, %zu available",
				   (unsigned long long)rd64(p + 8), avail);
	for (off = rd16(p + 6); off < total;) {
		size_t adv = 0;
		if (fb->n == cap) {
			struct vcuda_fatbin_entry *ne;
			cap = cap ? cap * 2 : 8;
			if (!(ne = realloc(fb->entries, cap * sizeof(*ne)))) {
				vcuda_fatbin_free(fb);
				return VCUDA_E_NOMEM;
			}
			fb->entries = ne;
		}
		rc = fatbin_entry(p + off, total - off, &fb->entries[fb->n], &adv, why, why_len);
		if (rc) {
			vcuda_fatbin_free(fb);
			return rc;
		}
		fb->n++;
		off += adv;
	}
	fb->container_len = total;
	return 0;
}

void vcuda_fatbin_free(struct vcuda_fatbin *fb)
{
	free(fb->entries);
	*fb = (struct vcuda_fatbin){0};
}

/* A run-length field of LZ4: 15 continues in bytes until one is not 255. */
static int lz4_length(const uint8_t **ip, const uint8_t *end, size_t *len)
{
	uint8_t b;

	if (*len != 15)
		return 0;
	do {
		if (*ip >= end)
			return -1;
		b = *(*ip)++;
		if (*len > SIZE_MAX - b)
			return -1;
		*len += b;
	} while (b == 255);
	return 0;
}

int vcuda_lz4_block_decode(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len)
{
	const uint8_t *ip = in, *end = in + in_len;
	size_t op = 0;

	while (ip < end) {
		uint8_t token = *ip++;
		size_t lit = token >> 4, match = token & 15, offset;

		if (lz4_length(&ip, end, &lit) || lit > (size_t)(end - ip) || lit > out_len - op)
			return VCUDA_E_PROTO;
		memcpy(out + op, ip, lit);
		ip += lit;
		op += lit;
		if (ip == end)
			break; /* the last sequence has literals only */
		if (end - ip < 2)
			return VCUDA_E_PROTO;
		offset = rd16(ip);
		ip += 2;
		if (lz4_length(&ip, end, &match) || offset == 0 || offset > op)
			return VCUDA_E_PROTO;
		match += 4;
		if (match > out_len - op)
			return VCUDA_E_PROTO;
		/* Byte by byte: a match may overlap what it writes. */
		for (size_t i = 0; i < match; i++, op++)
			out[op] = out[op - offset];
	}
	return op == out_len ? 0 : VCUDA_E_PROTO;
}

uint64_t vcuda_fatbin_unpacked_size(const struct vcuda_fatbin *fb)
{
	uint64_t total = 0;

	for (size_t i = 0; i < fb->n; i++)
		total += fb->entries[i].size; /* each at most FATBIN_MAX_ENTRY */
	return total;
}

int vcuda_fatbin_extract(const struct vcuda_fatbin_entry *e, size_t max, uint8_t **out, size_t *len,
			 char *why, size_t why_len)
{
	uint8_t *buf;
	size_t n;

	if (e->size > max) {
		fatbin_fail(why, why_len,
			    "a fat binary entry of %zu bytes once decompressed is over the "
			    "limit of %zu",
			    e->size, max);
		return VCUDA_E_TOOBIG;
	}
	if (!(buf = malloc(e->size + 1)))
		return VCUDA_E_NOMEM;
	if (e->compression == 2) {
		n = ZSTD_decompress(buf, e->size, e->payload, e->payload_len);
		if (ZSTD_isError(n) || n != e->size) {
			free(buf);
			return fatbin_fail(why, why_len, "zstd: %s",
					   ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short output");
		}
	} else if (e->compression == 1) {
		if (vcuda_lz4_block_decode(e->payload, e->payload_len, buf, e->size) != 0) {
			free(buf);
			return fatbin_fail(why, why_len, "corrupt LZ4 block in a fat binary entry");
		}
	} else {
		memcpy(buf, e->payload, e->size);
	}
	/* PTX is padded with NULs up to the stored size. */
	buf[e->size] = '\0';
	*out = buf;
	*len = e->kind == VCUDA_FATBIN_PTX ? strlen((char *)buf) : e->size;
	return 0;
}

const struct vcuda_fatbin_entry *vcuda_fatbin_best_ptx(const struct vcuda_fatbin *fb, unsigned arch)
{
	const struct vcuda_fatbin_entry *best = NULL;

	for (size_t i = 0; i < fb->n; i++) {
		const struct vcuda_fatbin_entry *e = &fb->entries[i];
		if (e->kind != VCUDA_FATBIN_PTX || e->arch > arch)
			continue;
		if (!best || e->arch > best->arch)
			best = e;
	}
	return best;
}
