/*
 * Kernel parameter layouts, as a program's fat binary describes them: from
 * an ELF cubin's .nv.info.<kernel> sections (read with libelf), or from the
 * .entry signatures of PTX where there is no cubin. The shim uses them to
 * pack a launch's arguments with no round trip (DESIGN decision 3).
 *
 * Inputs are untrusted: every length is checked, and a malformed image is
 * an error, never an out-of-bounds read.
 */
#ifndef VCUDA_KERNELS_H
#define VCUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

struct vcuda_kparam {
	uint32_t offset, size;
};

struct vcuda_kernel_info {
	char *name;
	uint32_t param_size; /* bytes of the parameter buffer */
	int nparams;
	struct vcuda_kparam *params; /* by ordinal */
};

struct vcuda_kernel_table {
	struct vcuda_kernel_info *k;
	size_t n;
};

/* From an ELF cubin of len bytes. 0, VCUDA_E_PROTO (why says what), or
 * VCUDA_E_NOMEM. */
int vcuda_kernels_from_cubin(const void *elf, size_t len, struct vcuda_kernel_table *t, char *why,
			     size_t why_len);
/* From PTX text (NUL-terminated). Same results. */
int vcuda_kernels_from_ptx(const char *ptx, struct vcuda_kernel_table *t, char *why,
			   size_t why_len);
/* The kernel named name, or NULL. */
const struct vcuda_kernel_info *vcuda_kernels_find(const struct vcuda_kernel_table *t,
						   const char *name);
void vcuda_kernels_free(struct vcuda_kernel_table *t);

/*
 * The device memory a module's variables take (__device__ and
 * __constant__): in an ELF cubin, its .nv.global, .nv.global.init and
 * module-wide .nv.constantN (N > 0) sections; in PTX, its module-scope
 * .global and .const declarations (arrays of any rank, vectors,
 * initializers, lists of names). 0 and *bytes, or VCUDA_E_PROTO for an
 * image it cannot read (why says what).
 */
int vcuda_globals_from_cubin(const void *elf, size_t len, uint64_t *bytes, char *why,
			     size_t why_len);
int vcuda_globals_from_ptx(const char *ptx, uint64_t *bytes, char *why, size_t why_len);

/* Bytes a channel of a CUDA array format (CUarray_format), or 0 for one
 * vcuda does not take (block-compressed, video and packed formats). */
size_t vcuda_array_format_size(unsigned format);

#endif
