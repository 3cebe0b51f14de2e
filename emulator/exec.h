/*
 * The interpreter's interface to the rest of the CPU device: run one kernel
 * launch to completion. Blocks are spread over a pool of host threads; the
 * warps of a block run on one of them, 32 lanes per decoded instruction,
 * with a reconvergence stack for divergence and cooperative switching at
 * barriers.
 */
#ifndef VCUDA_EXEC_H
#define VCUDA_EXEC_H

#include <pthread.h>
#include <stdint.h>

#include <cuda.h>

#include "ptx.h"

/* Generic addresses of the state spaces that are not global memory. */
#define GWIN_SHIFT  60
#define GWIN_SHARED (1ull << GWIN_SHIFT)
#define GWIN_LOCAL  (2ull << GWIN_SHIFT)
#define GWIN_CONST  (3ull << GWIN_SHIFT)
#define GWIN_PARAM  (4ull << GWIN_SHIFT)
#define GWIN_MASK   ((1ull << GWIN_SHIFT) - 1)

/* Bytes of local memory (stack) each thread has, beyond its kernel's frame. */
#define EXEC_STACK_BYTES 4096u

struct jit_code;

struct exec_launch {
	const struct ptx_module *mod;
	const struct ptx_func *kernel;
	uint32_t grid[3], block[3];
	uint32_t cluster[3];  /* blocks per cluster in each dimension; 0s: no clusters */
	int explicit_cluster; /* launched in clusters (%is_explicit_cluster) */
	uint32_t dyn_smem, static_smem;
	const uint8_t *params;	  /* kernel->param_size bytes */
	const uint64_t *sym_addr; /* per symbol: device address (global, const) */
	uint64_t const_base;	  /* device address of the constant bank */
	uint32_t local_stride;	  /* local memory per thread (set by exec_launch) */
	uint64_t grid_workspace;  /* cooperative launches: device memory for grid.sync */
	int cooperative;	  /* every block on a thread of its own, all at once */
	struct emu_heap *heap;	  /* kernels' malloc and free; NULL if the module has none */
	struct emu_cdp *cdp;	  /* the grids this one launches (dynamic parallelism) */
	int depth;		  /* nesting: 0 for a grid the host launched */
	uint32_t (*tids)[32];	  /* per warp: x, y, z of each lane (set by exec_launch) */
	uint64_t deadline_ns;	  /* CLOCK_MONOTONIC time the launch must end by; 0: none (set
				     by exec_launch from VCUDA_CPU_KERNEL_TIMEOUT) */
	/* The compiled tier (jit.c): the code the launch runs on, or NULL
	 * for the interpreter; while the code is being compiled, where it
	 * appears once ready (blocks started after that run on it). */
	const struct jit_code *jit;
	const struct jit_code *const *jit_pending;
	/* Filled by the launch. */
	CUresult error;
	char message[512];
};

/*
 * Grids launched from the device (module.c runs them): each kernel's
 * parameter buffer comes from the device heap; a grid runs once its
 * parent has finished (a valid schedule of CUDA 12's model, where a
 * parent never waits for its children), the tail launches last.
 */
#define EMU_CDP_MAX_DEPTH 24 /* CUDA's limit on nesting */
struct emu_cdp_grid {
	int func;
	uint32_t grid[3], block[3], smem;
	uint64_t params; /* device address of the parameter buffer */
	uint64_t stream;
	int launched;
};
struct emu_cdp {
	pthread_mutex_t lock;
	struct emu_cdp_grid *grids;
	size_t n, cap, max;
	uint64_t next_stream;
};

/* Runs the launch; returns CUDA_SUCCESS or the error that stopped it (with
 * a message in l->message). */
CUresult emu_exec_launch(struct exec_launch *l);
/* Whether every instruction of mod has an executor; if not, writes which
 * (name and line) to log and returns -1: the module is invalid PTX for
 * the CPU device, refused at load rather than at a launch. */
int emu_exec_check_module(const struct ptx_module *mod, char *log, size_t log_len);

/* Host address of device memory [addr, addr + len) or NULL (memory.c). */
void *emu_dev_span(uint64_t addr, size_t len);

#endif
