/* The CPU device's heap for kernels' malloc and free (devheap.c). */
#ifndef VCUDA_DEVHEAP_H
#define VCUDA_DEVHEAP_H

#include <stdint.h>

#include <cuda.h>

struct emu_heap;

/* CUDA's default for CU_LIMIT_MALLOC_HEAP_SIZE. */
#define EMU_DEFAULT_HEAP (8u << 20)

/* A heap of size bytes of device memory in the current context; NULL if
 * there is not that much. */
struct emu_heap *emu_heap_create(uint64_t size);
/* free_memory: whether the device memory is still the heap's to free (not
 * when the context's memory has gone already). */
void emu_heap_destroy(struct emu_heap *h, int free_memory);
uint64_t emu_heap_size(const struct emu_heap *h);
/* A block of len bytes, 16-byte aligned, or 0 when the heap has no room. */
CUdeviceptr emu_heap_malloc(struct emu_heap *h, uint64_t len);
/* 0, or -1 if p (not 0) is not a block the heap gave and did not take back. */
int emu_heap_free(struct emu_heap *h, CUdeviceptr p);

#endif
