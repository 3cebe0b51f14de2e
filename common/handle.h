/*
 * Handle tables: objects that cross a trust boundary are named by opaque
 * 64-bit ids, never by pointers. An id carries a type tag, a slot index and
 * the slot's generation, so a stale or forged id is refused rather than
 * mapped onto whatever reuses the slot.
 *
 * Ids are never 0, 1 or 2: those values are CUDA's NULL, legacy and
 * per-thread default streams, and an id must not be mistaken for them.
 * A table is not thread-safe; its owner serializes access.
 */
#ifndef VCUDA_HANDLE_H
#define VCUDA_HANDLE_H

#include <stddef.h>
#include <stdint.h>

enum vcuda_handle_type {
	VCUDA_HT_STREAM = 1,
	VCUDA_HT_EVENT = 2,
	VCUDA_HT_MODULE = 3,
	VCUDA_HT_FUNCTION = 4,
	VCUDA_HT_CONTEXT = 5,
	VCUDA_HT_ARRAY = 6,
	VCUDA_HT_TEXTURE = 7, /* texture and surface objects */
	VCUDA_HT_MAX = 255,
};

struct vcuda_handle_slot {
	void *obj;
	uint32_t gen;
	uint8_t type; /* 0 while free */
	uint32_t next_free;
};

struct vcuda_handle_table {
	struct vcuda_handle_slot *slots;
	uint32_t nslots, cap, limit, count;
	uint32_t free_head; /* index + 1; 0 when the free list is empty */
};

/* limit: most live handles (0: no limit beyond 2^24). */
void vcuda_handle_table_init(struct vcuda_handle_table *t, uint32_t limit);
/* Frees the table itself, not the objects (walk them first with _next). */
void vcuda_handle_table_fini(struct vcuda_handle_table *t);

/* Stores obj (not NULL) and returns its new id in *id. VCUDA_E_FULL, _NOMEM. */
int vcuda_handle_alloc(struct vcuda_handle_table *t, enum vcuda_handle_type type, void *obj,
		       uint64_t *id);
/* The object for id if it is live and of this type, else NULL. */
void *vcuda_handle_get(const struct vcuda_handle_table *t, enum vcuda_handle_type type,
		       uint64_t id);
/* Removes id and returns its object, or NULL if id was not live. */
void *vcuda_handle_free(struct vcuda_handle_table *t, enum vcuda_handle_type type, uint64_t id);
/*
 * Iteration: *cursor starts at 0; returns the next live object (of any type
 * when type is 0) and its id, or NULL at the end. Freeing the returned id
 * during iteration is allowed.
 */
void *vcuda_handle_next(const struct vcuda_handle_table *t, enum vcuda_handle_type type,
			uint32_t *cursor, uint64_t *id);

/*
 * Restoring a table (a session moved from another server): restore makes
 * an empty table of nslots free slots with the generations given, place
 * puts obj at exactly id (its slot free, of id's generation), and relink,
 * once everything is placed, rebuilds the list of free slots. Each
 * returns 0, or VCUDA_E_INVAL (a bad id, a taken slot, past the limit) or
 * VCUDA_E_NOMEM.
 */
int vcuda_handle_restore(struct vcuda_handle_table *t, uint32_t nslots, const uint32_t *gens);
int vcuda_handle_place(struct vcuda_handle_table *t, uint64_t id, void *obj);
void vcuda_handle_relink(struct vcuda_handle_table *t);
/* The generation of slot index (index < t->nslots). */
uint32_t vcuda_handle_gen(const struct vcuda_handle_table *t, uint32_t index);

#endif
