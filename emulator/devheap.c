/*
 * The device heap behind kernels' malloc and free: one device allocation
 * per context, of the size cuCtxSetLimit(CU_LIMIT_MALLOC_HEAP_SIZE) gave
 * when a kernel first needed it (8 MiB unless set), carved first-fit.
 *
 * The bookkeeping is host memory, a sorted array of the blocks in use: a
 * kernel can write anything into the heap's bytes, so nothing about the
 * heap's shape may be read from them. A free of an address that is not
 * the start of a live block is reported, never trusted.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "devheap.h"
#include "util.h"

#define HEAP_ALIGN 16u /* what CUDA's malloc guarantees */

struct block_span {
	uint64_t off, len;
};

struct emu_heap {
	pthread_mutex_t lock;
	CUdeviceptr base;
	uint64_t size;
	struct block_span *used; /* sorted by offset */
	size_t n, cap;
};

struct emu_heap *emu_heap_create(uint64_t size)
{
	struct emu_heap *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	size &= ~(uint64_t)(HEAP_ALIGN - 1);
	if (size && cuMemAlloc(&h->base, size) != CUDA_SUCCESS) {
		free(h);
		return NULL;
	}
	h->size = size;
	pthread_mutex_init(&h->lock, NULL);
	return h;
}

void emu_heap_destroy(struct emu_heap *h, int free_memory)
{
	if (!h)
		return;
	if (free_memory && h->base)
		cuMemFree(h->base);
	pthread_mutex_destroy(&h->lock);
	free(h->used);
	free(h);
}

uint64_t emu_heap_size(const struct emu_heap *h)
{
	return h->size;
}

/* The index of the first block at or after off. */
static size_t heap_find(const struct emu_heap *h, uint64_t off)
{
	size_t lo = 0, hi = h->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (h->used[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

CUdeviceptr emu_heap_malloc(struct emu_heap *h, uint64_t len)
{
	uint64_t at = 0;
	size_t i;
	CUdeviceptr r = 0;

	if (len == 0 || len > h->size)
		return 0;
	len = (len + HEAP_ALIGN - 1) & ~(uint64_t)(HEAP_ALIGN - 1);
	pthread_mutex_lock(&h->lock);
	/* First fit: the gap before each block, then the end. */
	for (i = 0; i <= h->n; i++) {
		uint64_t end = i < h->n ? h->used[i].off : h->size;
		if (end - at >= len)
			break;
		if (i < h->n)
			at = h->used[i].off + h->used[i].len;
	}
	if (i <= h->n && h->size - at >= len) {
		if (vcuda_grow(&h->used, &h->cap, h->n, sizeof(*h->used), 64) != 0)
			goto out;
		memmove(&h->used[i + 1], &h->used[i], (h->n - i) * sizeof(*h->used));
		h->used[i] = (struct block_span){at, len};
		h->n++;
		r = h->base + at;
	}
out:
	pthread_mutex_unlock(&h->lock);
	return r;
}

int emu_heap_free(struct emu_heap *h, CUdeviceptr p)
{
	uint64_t off;
	size_t i;
	int rc = -1;

	if (p == 0)
		return 0;
	if (!h || p < h->base || p - h->base >= h->size)
		return -1;
	off = p - h->base;
	pthread_mutex_lock(&h->lock);
	i = heap_find(h, off);
	if (i < h->n && h->used[i].off == off) {
		memmove(&h->used[i], &h->used[i + 1], (h->n - i - 1) * sizeof(*h->used));
		h->n--;
		rc = 0;
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}
