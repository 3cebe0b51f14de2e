/*
 * Runtime API: stream-ordered allocation (cudaMallocAsync, cudaFreeAsync)
 * and memory pools. The server allocates and frees in stream order
 * (calls.def's mem_alloc_async and mem_free_async, counted in the client's
 * quota like cudaMalloc's); the pools are the guest's: each device's
 * default pool and the pools the program creates, with their attributes
 * and usage counters. Every allocation comes from the device's memory
 * whichever pool it names, so a pool's release threshold and reuse
 * policies are kept and reported but change nothing (as on a device that
 * always releases at once, which CUDA permits).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "shim.h"

#define POOL_MAX 64 /* pools at once, the default ones included */

struct CUmemPoolHandle_st {
	int device;
	int reuse[3]; /* cudaMemPoolReuse* (attributes 1-3) */
	uint64_t release_threshold;
	uint64_t used, used_high; /* bytes allocated from it now, and at most */
};

/* Slot i: pool i + 1 of the allocations' range tags (bits 32 and up; 0:
 * cudaMalloc). The first SHIM_MAX_DEVICES are the default pools. */
static struct CUmemPoolHandle_st *pools[POOL_MAX];
static struct CUmemPoolHandle_st default_pools[SHIM_MAX_DEVICES];
static cudaMemPool_t current_pool[SHIM_MAX_DEVICES];
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

static struct CUmemPoolHandle_st *pool_default(int device)
{
	struct CUmemPoolHandle_st *p = &default_pools[device];

	pthread_mutex_lock(&pool_lock);
	if (!pools[device]) {
		p->device = device;
		p->reuse[0] = p->reuse[1] = p->reuse[2] = 1; /* CUDA's defaults */
		pools[device] = p;
	}
	pthread_mutex_unlock(&pool_lock);
	return p;
}

/* The slot of a pool this process holds, or -1. */
static int pool_slot(cudaMemPool_t pool)
{
	int slot = -1;

	pthread_mutex_lock(&pool_lock);
	for (int i = 0; i < POOL_MAX && pool; i++)
		if (pools[i] == pool)
			slot = i;
	pthread_mutex_unlock(&pool_lock);
	return slot;
}

void shim_pool_released(uint64_t tag, uint64_t size)
{
	uint64_t slot = tag >> 32;

	if (!slot || slot > POOL_MAX)
		return;
	pthread_mutex_lock(&pool_lock);
	if (pools[slot - 1])
		pools[slot - 1]->used -=
		    size < pools[slot - 1]->used ? size : pools[slot - 1]->used;
	pthread_mutex_unlock(&pool_lock);
}

static cudaError_t pool_alloc(void **ptr, size_t size, cudaMemPool_t pool, cudaStream_t s,
			      int per_thread)
{
	uint64_t in[2], dptr = 0;
	void *out[1] = {&dptr};
	struct vcuda_range r;
	int slot;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!ptr)
		return shim_ret(cudaErrorInvalidValue);
	if (!pool)
		pool = current_pool[shim_device] ? current_pool[shim_device]
						 : pool_default(shim_device);
	if ((slot = pool_slot(pool)) < 0 || pool->device != shim_device)
		return shim_ret(cudaErrorInvalidValue);
	if (size == 0)
		return shim_ret(cudaErrorInvalidValue);
	in[0] = size;
	if ((e = shim_stream(s, per_thread, &in[1])) != cudaSuccess)
		return shim_ret(e);
	/* Captured: an allocation node, whose memory the graph holds. */
	if (shim_graph_capturing(in[1])) {
		struct cudaGraphNodeParams np = {.type = cudaGraphNodeTypeMemAlloc};
		np.alloc.bytesize = size;
		np.alloc.poolProps.allocType = cudaMemAllocationTypePinned;
		np.alloc.poolProps.location.type = cudaMemLocationTypeDevice;
		np.alloc.poolProps.location.id = shim_device;
		if ((e = shim_graph_capture(in[1], &np)) == cudaSuccess)
			*ptr = np.alloc.dptr;
		return shim_ret(e);
	}
	if ((e = shim_scalar(VCUDA_OP_mem_alloc_async, in, out)) != cudaSuccess)
		return shim_ret(e);
	r = (struct vcuda_range){
	    .base = dptr, .size = size, .tag = (uint64_t)shim_device | (uint64_t)(slot + 1) << 32};
	pthread_mutex_lock(&shim.lock);
	if (vcuda_rangemap_insert(&shim.dmem, &r) != 0)
		e = cudaErrorUnknown;
	pthread_mutex_unlock(&shim.lock);
	if (e)
		return shim_ret(e);
	pthread_mutex_lock(&pool_lock);
	pool->used += size;
	if (pool->used > pool->used_high)
		pool->used_high = pool->used;
	pthread_mutex_unlock(&pool_lock);
	*ptr = (void *)(uintptr_t)dptr;
	return cudaSuccess;
}

cudaError_t cudaMallocAsync(void **ptr, size_t size, cudaStream_t s)
{
	return pool_alloc(ptr, size, NULL, s, 0);
}

cudaError_t cudaMallocAsync_ptsz(void **ptr, size_t size, cudaStream_t s)
{
	return pool_alloc(ptr, size, NULL, s, 1);
}

cudaError_t cudaMallocFromPoolAsync(void **ptr, size_t size, cudaMemPool_t pool, cudaStream_t s)
{
	return pool ? pool_alloc(ptr, size, pool, s, 0) : shim_ret(cudaErrorInvalidValue);
}

cudaError_t cudaMallocFromPoolAsync_ptsz(void **ptr, size_t size, cudaMemPool_t pool,
					 cudaStream_t s)
{
	return pool ? pool_alloc(ptr, size, pool, s, 1) : shim_ret(cudaErrorInvalidValue);
}

static cudaError_t pool_free(void *ptr, cudaStream_t s, int per_thread)
{
	uint64_t in[2];
	struct vcuda_range r;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!ptr)
		return cudaSuccess;
	if ((e = shim_stream(s, per_thread, &in[1])) != cudaSuccess)
		return shim_ret(e);
	if (shim_graph_capturing(in[1])) {
		struct cudaGraphNodeParams np = {.type = cudaGraphNodeTypeMemFree};
		np.free.dptr = ptr;
		return shim_ret(shim_graph_capture(in[1], &np));
	}
	/* Any allocation of the program's, cudaMalloc's too, as in CUDA. */
	if (shim_dmem_take(ptr, &r) != 0)
		return shim_ret(cudaErrorInvalidValue);
	in[0] = r.base;
	return shim_ret(shim_scalar(VCUDA_OP_mem_free_async, in, NULL));
}

cudaError_t cudaFreeAsync(void *ptr, cudaStream_t s)
{
	return pool_free(ptr, s, 0);
}

cudaError_t cudaFreeAsync_ptsz(void *ptr, cudaStream_t s)
{
	return pool_free(ptr, s, 1);
}

/* ---- pools --------------------------------------------------------------------------- */

static int pool_device_ok(int device)
{
	return shim_init() == cudaSuccess && device >= 0 && device < shim.ndevices;
}

cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *pool, int device)
{
	if (!pool)
		return shim_ret(cudaErrorInvalidValue);
	if (!pool_device_ok(device))
		return shim_ret(cudaErrorInvalidDevice);
	*pool = pool_default(device);
	return cudaSuccess;
}

cudaError_t cudaDeviceGetMemPool(cudaMemPool_t *pool, int device)
{
	if (!pool)
		return shim_ret(cudaErrorInvalidValue);
	if (!pool_device_ok(device))
		return shim_ret(cudaErrorInvalidDevice);
	*pool = current_pool[device] ? current_pool[device] : pool_default(device);
	return cudaSuccess;
}

cudaError_t cudaDeviceSetMemPool(int device, cudaMemPool_t pool)
{
	if (!pool_device_ok(device))
		return shim_ret(cudaErrorInvalidDevice);
	if (pool_slot(pool) < 0 || pool->device != device)
		return shim_ret(cudaErrorInvalidValue);
	current_pool[device] = pool;
	return cudaSuccess;
}

cudaError_t cudaMemPoolCreate(cudaMemPool_t *pool, const struct cudaMemPoolProps *props)
{
	struct CUmemPoolHandle_st *p;
	cudaError_t e = shim_init();

	if (e)
		return shim_ret(e);
	if (!pool || !props || props->allocType != cudaMemAllocationTypePinned ||
	    props->location.type != cudaMemLocationTypeDevice || props->handleTypes)
		return shim_ret(!pool || !props ? cudaErrorInvalidValue : cudaErrorNotSupported);
	if (props->location.id < 0 || props->location.id >= shim.ndevices)
		return shim_ret(cudaErrorInvalidDevice);
	if (!(p = calloc(1, sizeof(*p))))
		return shim_ret(cudaErrorMemoryAllocation);
	p->device = props->location.id;
	p->reuse[0] = p->reuse[1] = p->reuse[2] = 1;
	pthread_mutex_lock(&pool_lock);
	for (int i = SHIM_MAX_DEVICES; i < POOL_MAX; i++)
		if (!pools[i]) {
			pools[i] = p;
			*pool = p;
			p = NULL;
			break;
		}
	pthread_mutex_unlock(&pool_lock);
	if (p) { /* no free slot */
		free(p);
		return shim_ret(cudaErrorMemoryAllocation);
	}
	return cudaSuccess;
}

cudaError_t cudaMemPoolDestroy(cudaMemPool_t pool)
{
	int slot = pool_slot(pool);

	if (slot < SHIM_MAX_DEVICES) /* unknown, or a default pool */
		return shim_ret(cudaErrorInvalidValue);
	pthread_mutex_lock(&pool_lock);
	pools[slot] = NULL;
	for (int d = 0; d < SHIM_MAX_DEVICES; d++)
		if (current_pool[d] == pool)
			current_pool[d] = NULL;
	pthread_mutex_unlock(&pool_lock);
	/* Its allocations stay valid until freed, as in CUDA. */
	free(pool);
	return cudaSuccess;
}

cudaError_t cudaMemPoolTrimTo(cudaMemPool_t pool, size_t keep)
{
	(void)keep;
	return pool_slot(pool) < 0 ? shim_ret(cudaErrorInvalidValue) : cudaSuccess;
}

/* Reads (set 0) or writes (set 1) a pool attribute. */
static cudaError_t pool_attr(cudaMemPool_t pool, enum cudaMemPoolAttr attr, void *value, int set)
{
	cudaError_t e = cudaSuccess;

	if (pool_slot(pool) < 0 || !value)
		return shim_ret(cudaErrorInvalidValue);
	pthread_mutex_lock(&pool_lock);
	switch (attr) {
	case cudaMemPoolReuseFollowEventDependencies:
	case cudaMemPoolReuseAllowOpportunistic:
	case cudaMemPoolReuseAllowInternalDependencies:
		if (set)
			pool->reuse[attr - 1] = *(int *)value != 0;
		else
			*(int *)value = pool->reuse[attr - 1];
		break;
	case cudaMemPoolAttrReleaseThreshold:
		if (set)
			pool->release_threshold = *(uint64_t *)value;
		else
			*(uint64_t *)value = pool->release_threshold;
		break;
	/* Nothing is kept in reserve: reserved is what is used. */
	case cudaMemPoolAttrReservedMemCurrent:
	case cudaMemPoolAttrUsedMemCurrent:
		if (set)
			e = cudaErrorInvalidValue;
		else
			*(uint64_t *)value = pool->used;
		break;
	case cudaMemPoolAttrReservedMemHigh:
	case cudaMemPoolAttrUsedMemHigh: /* set only to 0, which means to now */
		if (!set)
			*(uint64_t *)value = pool->used_high;
		else if (*(uint64_t *)value != 0)
			e = cudaErrorInvalidValue;
		else
			pool->used_high = pool->used;
		break;
	default:
		e = cudaErrorInvalidValue;
	}
	pthread_mutex_unlock(&pool_lock);
	return e ? shim_ret(e) : cudaSuccess;
}

cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, enum cudaMemPoolAttr attr, void *value)
{
	return pool_attr(pool, attr, value, 1);
}

cudaError_t cudaMemPoolGetAttribute(cudaMemPool_t pool, enum cudaMemPoolAttr attr, void *value)
{
	return pool_attr(pool, attr, value, 0);
}
