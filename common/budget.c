#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "budget.h"
#include "util.h"

static size_t budget_size(uint32_t nslots)
{
	return sizeof(struct vcuda_budget) + (size_t)nslots * sizeof(uint64_t);
}

struct vcuda_budget *vcuda_budget_create(uint64_t limit, uint32_t nslots, int *fd)
{
	struct vcuda_budget *b = vcuda_shared_create("vcuda-budget", budget_size(nslots), fd);

	if (b) {
		b->limit = limit;
		b->nslots = nslots;
	}
	return b;
}

struct vcuda_budget *vcuda_budget_attach(const char *spec, uint32_t *slot)
{
	size_t size;
	unsigned s;
	struct vcuda_budget *b = vcuda_shared_attach(spec, sizeof(*b), &s, &size);

	if (!b)
		return NULL;
	if (size != budget_size(b->nslots) || s >= b->nslots) {
		munmap(b, size);
		return NULL;
	}
	*slot = s;
	return b;
}

int vcuda_budget_charge(struct vcuda_budget *b, uint32_t slot, uint64_t bytes)
{
	uint64_t used = __atomic_load_n(&b->used, __ATOMIC_RELAXED);

	do {
		if (bytes > __atomic_load_n(&b->limit, __ATOMIC_RELAXED) ||
		    used > __atomic_load_n(&b->limit, __ATOMIC_RELAXED) - bytes)
			return -1;
	} while (!__atomic_compare_exchange_n(&b->used, &used, used + bytes, 1, __ATOMIC_ACQ_REL,
					      __ATOMIC_RELAXED));
	__atomic_add_fetch(&b->slot[slot], bytes, __ATOMIC_RELEASE);
	return 0;
}

void vcuda_budget_credit(struct vcuda_budget *b, uint32_t slot, uint64_t bytes)
{
	__atomic_sub_fetch(&b->slot[slot], bytes, __ATOMIC_RELEASE);
	__atomic_sub_fetch(&b->used, bytes, __ATOMIC_ACQ_REL);
}

uint64_t vcuda_budget_reclaim(struct vcuda_budget *b, uint32_t slot)
{
	uint64_t held = __atomic_exchange_n(&b->slot[slot], 0, __ATOMIC_ACQ_REL);

	__atomic_sub_fetch(&b->used, held, __ATOMIC_ACQ_REL);
	return held;
}

void vcuda_budget_destroy(struct vcuda_budget *b, int fd)
{
	if (b)
		munmap(b, budget_size(b->nslots));
	if (fd >= 0)
		close(fd);
}
