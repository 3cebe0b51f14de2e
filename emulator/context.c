/* The CPU device: contexts (primary and explicit) and the per-thread stack. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "dprintf.h"
#include "devheap.h"
#include "emu.h"
#include "ptx.h"

#define CTX_STACK_MAX 64

static __thread struct CUctx_st *ctx_stack[CTX_STACK_MAX];
static __thread int ctx_depth;

/* Live contexts, kept as one-byte ranges at their addresses. */
static struct vcuda_rangemap ctx_live;

int emu_ctx_valid(const struct CUctx_st *ctx)
{
	const struct vcuda_range *r;
	int ok;

	if (!ctx)
		return 0;
	pthread_mutex_lock(&emu.lock);
	r = vcuda_rangemap_find(&ctx_live, (uintptr_t)ctx);
	ok = r && r->base == (uintptr_t)ctx && ctx->magic == EMU_CTX_MAGIC;
	pthread_mutex_unlock(&emu.lock);
	return ok;
}

struct CUctx_st *emu_ctx_current(void)
{
	return ctx_depth > 0 ? ctx_stack[ctx_depth - 1] : NULL;
}

CUresult emu_ctx_require(struct CUctx_st **ctx)
{
	CUresult rc = emu_check_init();

	if (rc)
		return rc;
	*ctx = emu_ctx_current();
	if (!*ctx || !emu_ctx_valid(*ctx))
		return CUDA_ERROR_INVALID_CONTEXT;
	return (*ctx)->sticky;
}

int vcuda_cpu_context_movable(char *why, size_t len);

/* Whether the current context holds only what a session image carries
 * (server/image.c): 0, or -1 with the reason in why. */
int vcuda_cpu_context_movable(char *why, size_t len)
{
	struct CUctx_st *ctx;
	CUresult rc = emu_ctx_require(&ctx);

	if (rc) {
		snprintf(why, len, "the context is not usable (error %d)", (int)rc);
		return -1;
	}
	if (ctx->heap) {
		snprintf(why, len,
			 "its kernels used the device heap (malloc), which cannot move yet");
		return -1;
	}
	return 0;
}

static struct CUctx_st *ctx_new(int device, unsigned int flags, int primary)
{
	struct CUctx_st *ctx = calloc(1, sizeof(*ctx));
	struct vcuda_range r;

	if (!ctx)
		return NULL;
	ctx->magic = EMU_CTX_MAGIC;
	ctx->device = device;
	ctx->flags = flags;
	ctx->primary = primary;
	r = (struct vcuda_range){.base = (uintptr_t)ctx, .size = 1, .data = ctx};
	pthread_mutex_lock(&emu.lock);
	ctx->id = ++emu.next_id;
	if (vcuda_rangemap_insert(&ctx_live, &r) != 0) {
		pthread_mutex_unlock(&emu.lock);
		free(ctx);
		return NULL;
	}
	pthread_mutex_unlock(&emu.lock);
	return ctx;
}

/* Frees what the context owns; the context itself stays (primary) or goes. */
static void ctx_release_resources(struct CUctx_st *ctx)
{
	emu_modules_release_ctx(ctx);
	emu_streams_release_ctx(ctx);
	emu_memory_release_ctx(ctx);
	emu_heap_destroy(ctx->heap, 0); /* its memory went with the rest */
	ctx->heap = NULL;
}

static void ctx_free(struct CUctx_st *ctx)
{
	ctx_release_resources(ctx);
	pthread_mutex_lock(&emu.lock);
	vcuda_rangemap_remove(&ctx_live, (uintptr_t)ctx, NULL);
	pthread_mutex_unlock(&emu.lock);
	ctx->magic = 0;
	free(ctx);
}

/* Removes ctx from this thread's stack (other threads' stacks are theirs to
 * keep; CUDA reports INVALID_CONTEXT when they use a destroyed context). */
static void ctx_unstack(struct CUctx_st *ctx)
{
	int j = 0;

	for (int i = 0; i < ctx_depth; i++)
		if (ctx_stack[i] != ctx)
			ctx_stack[j++] = ctx_stack[i];
	ctx_depth = j;
}

CUresult cuCtxCreate(CUcontext *pctx, CUctxCreateParams *params, unsigned int flags, CUdevice dev)
{
	CUresult rc = emu_check_init();
	struct CUctx_st *ctx;

	if (rc)
		return rc;
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	if (dev < 0 || dev >= EMU_NDEVICES)
		return CUDA_ERROR_INVALID_DEVICE;
	if (params && (params->numExecAffinityParams || params->cigParams))
		return CUDA_ERROR_NOT_SUPPORTED;
	if (ctx_depth >= CTX_STACK_MAX)
		return CUDA_ERROR_OUT_OF_MEMORY;
	ctx = ctx_new(dev, flags, 0);
	if (!ctx)
		return CUDA_ERROR_OUT_OF_MEMORY;
	ctx_stack[ctx_depth++] = ctx;
	*pctx = ctx;
	return CUDA_SUCCESS;
}

CUresult cuCtxDestroy(CUcontext ctx)
{
	CUresult rc = emu_check_init();

	if (rc)
		return rc;
	if (!emu_ctx_valid(ctx) || ctx->primary)
		return CUDA_ERROR_INVALID_CONTEXT;
	ctx_unstack(ctx);
	ctx_free(ctx);
	return CUDA_SUCCESS;
}

CUresult cuCtxGetCurrent(CUcontext *pctx)
{
	CUresult rc = emu_check_init();

	if (rc)
		return rc;
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	*pctx = emu_ctx_current();
	return CUDA_SUCCESS;
}

CUresult cuCtxSetCurrent(CUcontext ctx)
{
	CUresult rc = emu_check_init();

	if (rc)
		return rc;
	if (ctx && !emu_ctx_valid(ctx))
		return CUDA_ERROR_INVALID_CONTEXT;
	if (!ctx) {
		if (ctx_depth > 0)
			ctx_depth--;
		return CUDA_SUCCESS;
	}
	if (ctx_depth == 0)
		ctx_depth = 1;
	ctx_stack[ctx_depth - 1] = ctx;
	return CUDA_SUCCESS;
}

CUresult cuCtxPushCurrent(CUcontext ctx)
{
	CUresult rc = emu_check_init();

	if (rc)
		return rc;
	if (!emu_ctx_valid(ctx))
		return CUDA_ERROR_INVALID_CONTEXT;
	if (ctx_depth >= CTX_STACK_MAX)
		return CUDA_ERROR_OUT_OF_MEMORY;
	ctx_stack[ctx_depth++] = ctx;
	return CUDA_SUCCESS;
}

CUresult cuCtxPopCurrent(CUcontext *pctx)
{
	CUresult rc = emu_check_init();

	if (rc)
		return rc;
	if (ctx_depth == 0)
		return CUDA_ERROR_INVALID_CONTEXT;
	ctx_depth--;
	if (pctx)
		*pctx = ctx_stack[ctx_depth];
	return CUDA_SUCCESS;
}

CUresult cuCtxGetDevice(CUdevice *dev)
{
	struct CUctx_st *ctx;
	CUresult rc = emu_ctx_require(&ctx);

	if (rc)
		return rc;
	if (!dev)
		return CUDA_ERROR_INVALID_VALUE;
	*dev = ctx->device;
	return CUDA_SUCCESS;
}

CUresult cuCtxGetFlags(unsigned int *flags)
{
	struct CUctx_st *ctx;
	CUresult rc = emu_ctx_require(&ctx);

	if (rc)
		return rc;
	if (!flags)
		return CUDA_ERROR_INVALID_VALUE;
	*flags = ctx->flags;
	return CUDA_SUCCESS;
}

CUresult cuCtxGetId(CUcontext ctx, unsigned long long *id)
{
	CUresult rc = CUDA_SUCCESS;

	if (!ctx)
		rc = emu_ctx_require(&ctx);
	if (rc)
		return rc;
	if (!emu_ctx_valid(ctx))
		return CUDA_ERROR_INVALID_CONTEXT;
	if (!id)
		return CUDA_ERROR_INVALID_VALUE;
	*id = ctx->id;
	return CUDA_SUCCESS;
}

CUresult cuCtxGetApiVersion(CUcontext ctx, unsigned int *version)
{
	CUresult rc = CUDA_SUCCESS;

	if (!ctx)
		rc = emu_ctx_require(&ctx);
	if (rc)
		return rc;
	if (!version)
		return CUDA_ERROR_INVALID_VALUE;
	*version = 3020;
	return CUDA_SUCCESS;
}

/* Work runs at submission, so a context is always idle. */
CUresult cuCtxSynchronize(void)
{
	struct CUctx_st *ctx;

	return emu_ctx_require(&ctx);
}

CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
	CUresult rc = emu_check_init();

	if (rc)
		return rc;
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	if (dev < 0 || dev >= EMU_NDEVICES)
		return CUDA_ERROR_INVALID_DEVICE;
	if (!emu.primary && !(emu.primary = ctx_new(dev, 0, 1)))
		return CUDA_ERROR_OUT_OF_MEMORY;
	emu.primary->retain_count++;
	*pctx = emu.primary;
	return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease(CUdevice dev)
{
	CUresult rc = emu_device_check(dev);

	if (rc)
		return rc;
	if (!emu.primary || emu.primary->retain_count == 0)
		return CUDA_ERROR_INVALID_CONTEXT;
	/* The last release deactivates the context: what it held is freed. */
	if (--emu.primary->retain_count == 0)
		ctx_release_resources(emu.primary);
	return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxReset(CUdevice dev)
{
	CUresult rc = emu_device_check(dev);

	if (rc)
		return rc;
	if (emu.primary) {
		ctx_release_resources(emu.primary);
		emu.primary->flags = 0;
		emu.primary->sticky = CUDA_SUCCESS;
	}
	return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int *flags, int *active)
{
	CUresult rc = emu_device_check(dev);

	if (rc)
		return rc;
	if (!flags || !active)
		return CUDA_ERROR_INVALID_VALUE;
	*flags = emu.primary ? emu.primary->flags : 0;
	*active = emu.primary && emu.primary->retain_count > 0;
	return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxSetFlags(CUdevice dev, unsigned int flags)
{
	CUresult rc = emu_check_init();
	CUcontext ctx;

	if (rc)
		return rc;
	if (dev < 0 || dev >= EMU_NDEVICES)
		return CUDA_ERROR_INVALID_DEVICE;
	if (!emu.primary) {
		if ((rc = cuDevicePrimaryCtxRetain(&ctx, dev)) != CUDA_SUCCESS)
			return rc;
		emu.primary->retain_count--;
	}
	emu.primary->flags = flags;
	return CUDA_SUCCESS;
}

/*
 * Limits. The CPU device keeps what a program sets and reports it back, as
 * the driver does; none of them takes memory up front here. The stack size
 * is bounded by the interpreter's frame limit, the printf FIFO by
 * DPRINTF_MAX_FIFO and the heap by the device's memory, so a program sees at
 * once that it asked for more than there is. The device runtime's limits and the L2
 * persisting size are those of features the CPU device does not have.
 */
static const size_t ctx_limit_default[CU_LIMIT_MAX] = {
    [CU_LIMIT_STACK_SIZE] = 1024,
    [CU_LIMIT_PRINTF_FIFO_SIZE] = 1u << 20,
    [CU_LIMIT_MALLOC_HEAP_SIZE] = EMU_DEFAULT_HEAP,
    [CU_LIMIT_DEV_RUNTIME_SYNC_DEPTH] = 2,
    [CU_LIMIT_DEV_RUNTIME_PENDING_LAUNCH_COUNT] = 2048,
    [CU_LIMIT_MAX_L2_FETCH_GRANULARITY] = 64,
    [CU_LIMIT_PERSISTING_L2_CACHE_SIZE] = 0,
};

static int ctx_limit_known(CUlimit limit)
{
	return (unsigned)limit < CU_LIMIT_MAX && (limit <= CU_LIMIT_PERSISTING_L2_CACHE_SIZE);
}

CUresult cuCtxGetLimit(size_t *value, CUlimit limit)
{
	struct CUctx_st *ctx;
	CUresult rc = emu_ctx_require(&ctx);

	if (rc)
		return rc;
	if (!value)
		return CUDA_ERROR_INVALID_VALUE;
	if (!ctx_limit_known(limit))
		return CUDA_ERROR_UNSUPPORTED_LIMIT;
	*value = ctx->limits[limit] ? ctx->limits[limit] : ctx_limit_default[limit];
	return CUDA_SUCCESS;
}

CUresult cuCtxSetLimit(CUlimit limit, size_t value)
{
	struct CUctx_st *ctx;
	CUresult rc = emu_ctx_require(&ctx);

	if (rc)
		return rc;
	switch (limit) {
	case CU_LIMIT_STACK_SIZE:
		if (value > PTX_MAX_LOCAL_BYTES)
			return CUDA_ERROR_INVALID_VALUE;
		break;
	case CU_LIMIT_PRINTF_FIFO_SIZE:
		if (value == 0 || value > DPRINTF_MAX_FIFO)
			return CUDA_ERROR_INVALID_VALUE;
		break;
	case CU_LIMIT_MALLOC_HEAP_SIZE:
		if (value > emu.arena_size)
			return CUDA_ERROR_INVALID_VALUE;
		/* fixed once a kernel that allocates has run, as on a GPU */
		if (ctx->heap && value != emu_heap_size(ctx->heap))
			return CUDA_ERROR_INVALID_VALUE;
		break;
	case CU_LIMIT_MAX_L2_FETCH_GRANULARITY:
		if (value > 128)
			return CUDA_ERROR_INVALID_VALUE;
		break;
	default:
		return CUDA_ERROR_UNSUPPORTED_LIMIT;
	}
	ctx->limits[limit] = value;
	return CUDA_SUCCESS;
}
