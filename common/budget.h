/*
 * A memory budget shared by processes: vcudad's listener makes one for the
 * CPU device's memory of all its workers, so that guests together cannot
 * take more of the host than the server was given, whatever each guest's
 * own device size. Each worker charges its allocations to a slot of its
 * own; when a worker ends, however it ends, the listener takes back what
 * its slot still holds. All operations are lock-free and safe across
 * processes.
 */
#ifndef VCUDA_BUDGET_H
#define VCUDA_BUDGET_H

#include <stdint.h>

struct vcuda_budget {
	uint64_t limit;
	uint64_t used; /* atomic: the sum of the slots */
	uint32_t nslots;
	uint32_t reserved;
	uint64_t slot[]; /* atomic: what each worker holds */
};

/* A new budget of limit bytes and nslots slots in shared memory; *fd is the
 * file that names it (inherited by workers). NULL on failure. */
struct vcuda_budget *vcuda_budget_create(uint64_t limit, uint32_t nslots, int *fd);
/* Maps the budget a VCUDA_CPU_BUDGET value names ("FD:SLOT"); NULL if spec
 * is malformed or the file is not a budget. */
struct vcuda_budget *vcuda_budget_attach(const char *spec, uint32_t *slot);
/* Takes bytes from the budget for slot: 0, or -1 (nothing taken) if that
 * would pass its limit. */
int vcuda_budget_charge(struct vcuda_budget *b, uint32_t slot, uint64_t bytes);
/* Gives back bytes that slot took. */
void vcuda_budget_credit(struct vcuda_budget *b, uint32_t slot, uint64_t bytes);
/* Takes back everything slot still holds (its worker has ended); returns it. */
uint64_t vcuda_budget_reclaim(struct vcuda_budget *b, uint32_t slot);
/* Unmaps a budget this process created and closes its file. */
void vcuda_budget_destroy(struct vcuda_budget *b, int fd);

#endif
