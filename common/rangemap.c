#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rangemap.h"
#include "util.h"

void vcuda_rangemap_init(struct vcuda_rangemap *m)
{
	*m = (struct vcuda_rangemap){0};
}

void vcuda_rangemap_fini(struct vcuda_rangemap *m)
{
	free(m->r);
	*m = (struct vcuda_rangemap){0};
}

/* Index of the first range whose base is greater than addr. */
static size_t rangemap_upper(const struct vcuda_rangemap *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->r[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int vcuda_rangemap_insert(struct vcuda_rangemap *m, const struct vcuda_range *r)
{
	size_t i;

	if (r->size == 0 || r->base + r->size < r->base)
		return VCUDA_E_INVAL;
	i = rangemap_upper(m, r->base);
	if (i > 0 && m->r[i - 1].base + m->r[i - 1].size > r->base)
		return VCUDA_E_INVAL;
	if (i < m->n && r->base + r->size > m->r[i].base)
		return VCUDA_E_INVAL;
	if (vcuda_grow(&m->r, &m->cap, m->n, sizeof(*m->r), 32) != 0)
		return VCUDA_E_NOMEM;
	memmove(&m->r[i + 1], &m->r[i], (m->n - i) * sizeof(*m->r));
	m->r[i] = *r;
	m->n++;
	m->total += r->size;
	return 0;
}

int vcuda_rangemap_remove(struct vcuda_rangemap *m, uint64_t base, struct vcuda_range *out)
{
	size_t i = rangemap_upper(m, base);

	if (i == 0 || m->r[i - 1].base != base)
		return VCUDA_E_NOTFOUND;
	i--;
	if (out)
		*out = m->r[i];
	m->total -= m->r[i].size;
	memmove(&m->r[i], &m->r[i + 1], (m->n - i - 1) * sizeof(*m->r));
	m->n--;
	return 0;
}

const struct vcuda_range *vcuda_rangemap_find(const struct vcuda_rangemap *m, uint64_t addr)
{
	size_t i = rangemap_upper(m, addr);

	if (i == 0)
		return NULL;
	if (addr - m->r[i - 1].base >= m->r[i - 1].size)
		return NULL;
	return &m->r[i - 1];
}

const struct vcuda_range *vcuda_rangemap_find_span(const struct vcuda_rangemap *m, uint64_t addr,
						   uint64_t len)
{
	const struct vcuda_range *r = vcuda_rangemap_find(m, addr);

	if (!r)
		return NULL;
	if (len > r->size - (addr - r->base))
		return NULL;
	return r;
}
