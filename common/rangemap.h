/*
 * A set of disjoint address ranges [base, base + size), kept sorted, with
 * lookup of the range that holds an address. Used wherever device or host
 * allocations must be recognised: the server checks every pointer a guest
 * sends against it, the shim classifies pointers with it, the CPU device
 * keeps its allocations in it. Not thread-safe; the owner serializes.
 */
#ifndef VCUDA_RANGEMAP_H
#define VCUDA_RANGEMAP_H

#include <stddef.h>
#include <stdint.h>

struct vcuda_range {
	uint64_t base;
	uint64_t size;
	uint64_t tag; /* owner's data: a flag word, a device ordinal, an id */
	void *data;   /* owner's data */
};

struct vcuda_rangemap {
	struct vcuda_range *r;
	size_t n, cap;
	uint64_t total; /* sum of sizes */
};

void vcuda_rangemap_init(struct vcuda_rangemap *m);
void vcuda_rangemap_fini(struct vcuda_rangemap *m);

/* Adds a range; VCUDA_E_INVAL if size is 0, it wraps or overlaps another. */
int vcuda_rangemap_insert(struct vcuda_rangemap *m, const struct vcuda_range *r);
/* Removes the range that starts exactly at base into *out (may be NULL).
 * VCUDA_E_NOTFOUND if there is none. */
int vcuda_rangemap_remove(struct vcuda_rangemap *m, uint64_t base, struct vcuda_range *out);
/* The range holding addr, or NULL. Valid until the map changes. */
const struct vcuda_range *vcuda_rangemap_find(const struct vcuda_rangemap *m, uint64_t addr);
/* The range holding all of [addr, addr + len) (len 0 counts as 1), or NULL. */
const struct vcuda_range *vcuda_rangemap_find_span(const struct vcuda_rangemap *m, uint64_t addr,
						   uint64_t len);

#endif
