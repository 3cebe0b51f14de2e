#include "config.h"

#include <stdlib.h>

#include "error.h"
#include "handle.h"

#define HANDLE_INDEX_BITS 32
#define HANDLE_GEN_MASK	  0xffffffu
#define HANDLE_MAX_SLOTS  (1u << 24)

static uint64_t handle_encode(uint8_t type, uint32_t gen, uint32_t index)
{
	return ((uint64_t)type << 56) | ((uint64_t)(gen & HANDLE_GEN_MASK) << 32) |
	       (uint64_t)(index + 1);
}

static struct vcuda_handle_slot *handle_decode(const struct vcuda_handle_table *t, uint8_t type,
					       uint64_t id)
{
	uint32_t index = (uint32_t)id - 1;
	uint32_t gen = (uint32_t)(id >> 32) & HANDLE_GEN_MASK;
	struct vcuda_handle_slot *s;

	if ((uint8_t)(id >> 56) != type || (uint32_t)id == 0 || index >= t->nslots)
		return NULL;
	s = &t->slots[index];
	if (s->type != type || s->gen != gen)
		return NULL;
	return s;
}

void vcuda_handle_table_init(struct vcuda_handle_table *t, uint32_t limit)
{
	*t = (struct vcuda_handle_table){0};
	t->limit = (limit == 0 || limit > HANDLE_MAX_SLOTS) ? HANDLE_MAX_SLOTS : limit;
}

void vcuda_handle_table_fini(struct vcuda_handle_table *t)
{
	free(t->slots);
	*t = (struct vcuda_handle_table){0};
}

static int handle_grow(struct vcuda_handle_table *t)
{
	uint32_t cap = t->cap ? t->cap * 2 : 16;
	struct vcuda_handle_slot *slots;

	if (cap > t->limit)
		cap = t->limit;
	if (cap <= t->cap)
		return VCUDA_E_FULL;
	slots = realloc(t->slots, (size_t)cap * sizeof(*slots));
	if (!slots)
		return VCUDA_E_NOMEM;
	t->slots = slots;
	t->cap = cap;
	return 0;
}

int vcuda_handle_alloc(struct vcuda_handle_table *t, enum vcuda_handle_type type, void *obj,
		       uint64_t *id)
{
	struct vcuda_handle_slot *s;
	uint32_t index;
	int rc;

	if (!obj || type == 0 || type > VCUDA_HT_MAX)
		return VCUDA_E_INVAL;
	if (t->count >= t->limit)
		return VCUDA_E_FULL;
	if (t->free_head) {
		index = t->free_head - 1;
		t->free_head = t->slots[index].next_free;
	} else {
		if (t->nslots == t->cap && (rc = handle_grow(t)) != 0)
			return rc;
		index = t->nslots++;
		t->slots[index].gen = 0;
	}
	s = &t->slots[index];
	s->obj = obj;
	s->type = (uint8_t)type;
	s->next_free = 0;
	t->count++;
	*id = handle_encode(s->type, s->gen, index);
	return 0;
}

void *vcuda_handle_get(const struct vcuda_handle_table *t, enum vcuda_handle_type type, uint64_t id)
{
	struct vcuda_handle_slot *s = handle_decode(t, (uint8_t)type, id);

	return s ? s->obj : NULL;
}

void *vcuda_handle_free(struct vcuda_handle_table *t, enum vcuda_handle_type type, uint64_t id)
{
	struct vcuda_handle_slot *s = handle_decode(t, (uint8_t)type, id);
	void *obj;

	if (!s)
		return NULL;
	obj = s->obj;
	s->obj = NULL;
	s->type = 0;
	s->gen = (s->gen + 1) & HANDLE_GEN_MASK;
	s->next_free = t->free_head;
	t->free_head = (uint32_t)(s - t->slots) + 1;
	t->count--;
	return obj;
}

void *vcuda_handle_next(const struct vcuda_handle_table *t, enum vcuda_handle_type type,
			uint32_t *cursor, uint64_t *id)
{
	while (*cursor < t->nslots) {
		const struct vcuda_handle_slot *s = &t->slots[(*cursor)++];
		if (s->type && (type == 0 || s->type == type)) {
			*id = handle_encode(s->type, s->gen, *cursor - 1);
			return s->obj;
		}
	}
	return NULL;
}

int vcuda_handle_restore(struct vcuda_handle_table *t, uint32_t nslots, const uint32_t *gens)
{
	if (t->count || t->nslots || nslots > t->limit)
		return VCUDA_E_INVAL;
	while (t->cap < nslots) {
		int rc = handle_grow(t);
		if (rc)
			return rc;
	}
	for (uint32_t i = 0; i < nslots; i++)
		t->slots[i] = (struct vcuda_handle_slot){.gen = gens[i] & HANDLE_GEN_MASK};
	t->nslots = nslots;
	t->free_head = 0;
	return 0;
}

int vcuda_handle_place(struct vcuda_handle_table *t, uint64_t id, void *obj)
{
	uint8_t type = (uint8_t)(id >> 56);
	uint32_t index = (uint32_t)id - 1;
	struct vcuda_handle_slot *s;

	if (!obj || type == 0 || (uint32_t)id == 0 || index >= t->nslots)
		return VCUDA_E_INVAL;
	s = &t->slots[index];
	if (s->type || s->gen != ((uint32_t)(id >> 32) & HANDLE_GEN_MASK))
		return VCUDA_E_INVAL;
	s->obj = obj;
	s->type = type;
	t->count++;
	return 0;
}

void vcuda_handle_relink(struct vcuda_handle_table *t)
{
	t->free_head = 0;
	for (uint32_t i = t->nslots; i-- > 0;)
		if (!t->slots[i].type) {
			t->slots[i].next_free = t->free_head;
			t->free_head = i + 1;
		}
}

uint32_t vcuda_handle_gen(const struct vcuda_handle_table *t, uint32_t index)
{
	return t->slots[index].gen;
}
