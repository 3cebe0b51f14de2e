/*
 * The fat binaries nvcc links into programs: the wrapper a program passes to
 * __cudaRegisterFatBinary, the container it points at, and the container's
 * entries (ELF cubins for given architectures, PTX text), compressed with
 * zstd (CUDA 13's default) or the LZ4 block format (CUDA 11/12, and CUDA 13's
 * -compress-mode=speed).
 *
 * Nothing in the input is trusted: every length is checked against the
 * bounds the caller gives, and a corrupt fat binary is an error, never an
 * out-of-bounds read.
 */
#ifndef VCUDA_FATBIN_H
#define VCUDA_FATBIN_H

#include <stddef.h>
#include <stdint.h>

#define VCUDA_FATBIN_WRAPPER_MAGIC 0x466243b1u
#define VCUDA_FATBIN_MAGIC	   0xba55ed50u

enum vcuda_fatbin_kind {
	VCUDA_FATBIN_PTX = 1,
	VCUDA_FATBIN_ELF = 2,
};

struct vcuda_fatbin_entry {
	int kind;	       /* enum vcuda_fatbin_kind, or another value */
	unsigned arch;	       /* sm_XY as XY */
	unsigned major, minor; /* PTX ISA or cubin format version */
	uint64_t flags;
	const uint8_t *payload; /* inside the container */
	size_t payload_len;	/* stored bytes (compressed if compressed) */
	size_t size;		/* bytes once decompressed */
	int compression;	/* 0 none, 1 LZ4 block, 2 zstd */
};

struct vcuda_fatbin {
	struct vcuda_fatbin_entry *entries;
	size_t n;
	size_t container_len; /* header and entries */
};

/* The container a __cudaRegisterFatBinary wrapper points at, or NULL if
 * wrapper is not one. Does not read the container. */
const void *vcuda_fatbin_from_wrapper(const void *wrapper);

/* Bytes of the container at data (header included) when at least 16 bytes
 * are readable; 0 if it is not a container. */
size_t vcuda_fatbin_size(const void *data, size_t avail);

/* Lists the entries of the container at data, which has avail readable
 * bytes. Returns 0, or VCUDA_E_PROTO for a corrupt container (why says
 * what). Free with vcuda_fatbin_free. */
int vcuda_fatbin_parse(const void *data, size_t avail, struct vcuda_fatbin *fb, char *why,
		       size_t why_len);
void vcuda_fatbin_free(struct vcuda_fatbin *fb);

/* The default bound on one entry's decompressed size: a 17 KB zstd frame
 * can claim a gigabyte. */
#define VCUDA_FATBIN_MAX_ENTRY_DEFAULT (256u << 20)

/* The entry's contents, decompressed, in a malloc()ed buffer with a NUL
 * after the last byte (so PTX is a C string). An entry that would be
 * larger than max bytes is refused before anything is allocated.
 * 0, VCUDA_E_PROTO, VCUDA_E_TOOBIG, VCUDA_E_NOMEM. */
int vcuda_fatbin_extract(const struct vcuda_fatbin_entry *e, size_t max, uint8_t **out, size_t *len,
			 char *why, size_t why_len);

/* What decompressing every entry would take: the sum of their sizes. */
uint64_t vcuda_fatbin_unpacked_size(const struct vcuda_fatbin *fb);

/* The PTX entry best suited to a device of compute capability arch (the
 * newest not above it), or NULL. */
const struct vcuda_fatbin_entry *vcuda_fatbin_best_ptx(const struct vcuda_fatbin *fb,
						       unsigned arch);

/* Decodes an LZ4 block into exactly out_len bytes. 0 or VCUDA_E_PROTO. */
int vcuda_lz4_block_decode(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len);

#endif
