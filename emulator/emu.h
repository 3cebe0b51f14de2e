/*
 * The CPU device: internal interface between the emulator's files. The
 * library exports the CUDA driver API (cu*) and nothing else.
 *
 * Device memory is a region of its own: device addresses lie in a reserved,
 * inaccessible part of the address space (so a device pointer is never a
 * valid host pointer), and are translated to a separate backing store by a
 * constant offset after a bounds check against the live allocations.
 *
 * Work submitted to a stream runs when it is submitted; that is a valid
 * schedule of every CUDA stream program, so events and stream queries
 * report completion at once and stream waits are satisfied by submission
 * order.
 */
#ifndef VCUDA_EMU_H
#define VCUDA_EMU_H

#include <pthread.h>
#include <stdint.h>

#include <cuda.h>

#include "rangemap.h"

#define EMU_CTX_MAGIC	 0x76637478u /* "vctx" */
#define EMU_STREAM_MAGIC 0x76737472u /* "vstr" */
#define EMU_EVENT_MAGIC	 0x76657674u /* "vevt" */
#define EMU_ALLOC_ALIGN	 512u

struct CUctx_st {
	uint32_t magic;
	int device;
	unsigned int flags;
	int primary;	  /* the device's primary context */
	int retain_count; /* primary contexts only */
	uint64_t id;
	CUresult sticky;	     /* a kernel fault: every later call fails with it */
	size_t limits[CU_LIMIT_MAX]; /* cuCtxSetLimit; see context.c */
	struct emu_heap *heap;	     /* kernels' malloc, made at the first launch needing it */
};

struct CUstream_st {
	uint32_t magic;
	struct CUctx_st *ctx;
	unsigned int flags;
	int priority;
	uint64_t id;
};

struct CUevent_st {
	uint32_t magic;
	struct CUctx_st *ctx;
	unsigned int flags;
	int recorded;
	uint64_t time_ns;
};

struct emu_device {
	char name[256];
	int ncores;
	int cc; /* compute capability, major * 10 + minor (VCUDA_CPU_CC) */
	uint64_t total_mem;
	CUuuid uuid;
};

struct emu_state {
	pthread_mutex_t lock;
	int initialized;
	struct emu_device dev;
	/* Device memory. */
	uint8_t *dev_va; /* reserved, inaccessible: the device addresses */
	uint8_t *store;	 /* backing store, same size */
	uint64_t arena_size;
	struct vcuda_rangemap allocs; /* live allocations; data = owning ctx */
	struct vcuda_rangemap free;   /* free blocks of the arena */
	struct vcuda_rangemap host;   /* page-locked host allocations; tag = flags */
	/* Host memory kernels may reach (cuMemHostRegister or cuMemHostAlloc
	 * with DEVICEMAP): its device address is its host address, as with
	 * unified addressing on a GPU. data: registered (1) or allocated (0). */
	struct vcuda_rangemap mapped;
#define EMU_MAPPED_IMPORT ((void *)3) /* mapped: another process's exported memory */
	struct CUctx_st *primary;     /* the one device's primary context */
	uint64_t next_id;
};

extern struct emu_state emu;

#define EMU_NDEVICES 1

/* Returns CUDA_ERROR_NOT_INITIALIZED until cuInit succeeded. */
CUresult emu_check_init(void);
/* emu_check_init, then CUDA_ERROR_INVALID_DEVICE unless dev exists. */
CUresult emu_device_check(CUdevice dev);
/* The calling thread's current context, or NULL. */
struct CUctx_st *emu_ctx_current(void);
/* emu_check_init, then the current context in *ctx or CUDA_ERROR_INVALID_CONTEXT. */
CUresult emu_ctx_require(struct CUctx_st **ctx);
/* Whether a context pointer is live (not destroyed). */
int emu_ctx_valid(const struct CUctx_st *ctx);

/* Memory: set up the arena (from cuInit); free everything a context owns. */
CUresult emu_memory_init(uint64_t size);
void emu_memory_release_ctx(struct CUctx_st *ctx);
/* Host address of [dptr, dptr + len) if it lies in one allocation, else NULL. */
void *emu_dev_to_host(CUdeviceptr dptr, size_t len);
/* Allocations touching each 4 KiB page of the arena (memory.c). */
extern uint16_t *emu_page_refs;

/* The host address of device memory [addr, addr + len), checked at page
 * granularity as a GPU's MMU checks it; NULL outside. For kernels' loads
 * and stores, so inline. */
static inline void *emu_dev_fast(uint64_t addr, size_t len)
{
	uint64_t off = addr - (uintptr_t)emu.dev_va;

	if (off >= emu.arena_size || len > emu.arena_size - off || len == 0)
		return (void *)0;
	if (!emu_page_refs[off >> 12] || !emu_page_refs[(off + len - 1) >> 12])
		return (void *)0;
	return emu.store + off;
}

/* Whether a pointer value falls in the device address range at all. */
int emu_is_device_address(uint64_t addr);

/* Modules: unload those a context loaded (module.c). */
void emu_modules_release_ctx(struct CUctx_st *ctx);

/* Streams and events: validate a stream handle (NULL and the two special
 * handles are valid); release those a context owns. */
int emu_stream_valid(CUstream s);
void emu_streams_release_ctx(struct CUctx_st *ctx);

#endif
