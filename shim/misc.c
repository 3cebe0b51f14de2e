/*
 * Runtime API: the calls single-GPU programs make that ask the device for
 * nothing it must do: cache and shared-memory preferences, the profiler,
 * persisting L2, peer attributes of one device, stream ids and stream
 * attributes. They are answered in the guest as CUDA answers them on a
 * device where these settings change nothing the program can see (no
 * configurable L1/shared split, no persisting L2, one device a server).
 */
#include "config.h"

#include <cuda_profiler_api.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

static enum cudaFuncCache cache_config[SHIM_MAX_DEVICES];

cudaError_t cudaProfilerStart(void)
{
	return cudaSuccess;
}

cudaError_t cudaProfilerStop(void)
{
	return cudaSuccess;
}

cudaError_t cudaDeviceSetCacheConfig(enum cudaFuncCache config)
{
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if ((unsigned)config > cudaFuncCachePreferEqual)
		return shim_ret(cudaErrorInvalidValue);
	cache_config[shim_device] = config;
	return cudaSuccess;
}

cudaError_t cudaDeviceGetCacheConfig(enum cudaFuncCache *config)
{
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!config)
		return shim_ret(cudaErrorInvalidValue);
	*config = cache_config[shim_device];
	return cudaSuccess;
}

/* Shared memory banks are four bytes wide; the deprecated calls that set
 * them are accepted, as CUDA accepts them on such devices. */
cudaError_t cudaDeviceSetSharedMemConfig(enum cudaSharedMemConfig config)
{
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	return (unsigned)config > cudaSharedMemBankSizeEightByte ? shim_ret(cudaErrorInvalidValue)
								 : cudaSuccess;
}

cudaError_t cudaDeviceGetSharedMemConfig(enum cudaSharedMemConfig *config)
{
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!config)
		return shim_ret(cudaErrorInvalidValue);
	*config = cudaSharedMemBankSizeFourByte;
	return cudaSuccess;
}

cudaError_t cudaFuncSetSharedMemConfig(const void *func, enum cudaSharedMemConfig config)
{
	uint64_t id;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if ((e = shim_func_id(func, &id)) != cudaSuccess)
		return shim_ret(e);
	return (unsigned)config > cudaSharedMemBankSizeEightByte ? shim_ret(cudaErrorInvalidValue)
								 : cudaSuccess;
}

cudaError_t cudaCtxResetPersistingL2Cache(void)
{
	cudaError_t e = shim_begin();

	return e ? shim_ret(e) : cudaSuccess;
}

/* A server's devices are not peers of each other (no peer access). */
cudaError_t cudaDeviceGetP2PAttribute(int *value, enum cudaDeviceP2PAttr attr, int src, int dst)
{
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!value || (unsigned)attr < 1 || (unsigned)attr > cudaDevP2PAttrCudaArrayAccessSupported)
		return shim_ret(cudaErrorInvalidValue);
	if (src < 0 || dst < 0 || src >= shim.ndevices || dst >= shim.ndevices || src == dst)
		return shim_ret(cudaErrorInvalidDevice);
	*value = 0;
	return cudaSuccess;
}

/* The common start of a stream query: the shim connected, an out-pointer,
 * and a stream this process holds (its id in *id). */
static cudaError_t stream_query_start(cudaStream_t s, int per_thread, const void *out, uint64_t *id)
{
	cudaError_t e = shim_begin();

	if (e)
		return e;
	if (!out)
		return cudaErrorInvalidValue;
	return shim_stream(s, per_thread, id);
}

static cudaError_t stream_get_id(cudaStream_t s, unsigned long long *id, int per_thread)
{
	uint64_t v;
	cudaError_t e = stream_query_start(s, per_thread, id, &v);

	if (e)
		return shim_ret(e);
	*id = v + 1; /* the legacy default stream is 1, the per-thread one 3 */
	return cudaSuccess;
}

cudaError_t cudaStreamGetId(cudaStream_t s, unsigned long long *id)
{
	return stream_get_id(s, id, 0);
}

cudaError_t cudaStreamGetId_ptsz(cudaStream_t s, unsigned long long *id)
{
	return stream_get_id(s, id, 1);
}

/* ---- stream attributes: kept by the guest, per stream ------------------------------ */

#define STREAM_ATTRS 16 /* attribute ids below this */

struct stream_attrs {
	uint64_t stream;
	uint32_t set; /* bit i: attribute i was set */
	cudaStreamAttrValue v[STREAM_ATTRS];
	struct stream_attrs *next;
};

static struct stream_attrs *stream_attrs;
static pthread_mutex_t attrs_lock = PTHREAD_MUTEX_INITIALIZER;

void shim_stream_attrs_forget(uint64_t stream)
{
	pthread_mutex_lock(&attrs_lock);
	for (struct stream_attrs **p = &stream_attrs; *p; p = &(*p)->next)
		if ((*p)->stream == stream) {
			struct stream_attrs *a = *p;
			*p = a->next;
			free(a);
			break;
		}
	pthread_mutex_unlock(&attrs_lock);
}

static int attr_known(cudaStreamAttrID attr)
{
	return attr == cudaStreamAttributeAccessPolicyWindow ||
	       attr == cudaStreamAttributeSynchronizationPolicy ||
	       attr == cudaStreamAttributeMemSyncDomainMap ||
	       attr == cudaStreamAttributeMemSyncDomain || attr == cudaStreamAttributePriority;
}

static cudaError_t stream_attr(cudaStream_t s, cudaStreamAttrID attr, cudaStreamAttrValue *get,
			       const cudaStreamAttrValue *set, int per_thread)
{
	struct stream_attrs *a;
	uint64_t id;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if ((e = shim_stream(s, per_thread, &id)) != cudaSuccess)
		return shim_ret(e);
	if (!attr_known(attr) || (unsigned)attr >= STREAM_ATTRS || (!get && !set))
		return shim_ret(cudaErrorInvalidValue);
	if (attr == cudaStreamAttributePriority) { /* the stream's own, from the server */
		if (set)
			return shim_ret(cudaErrorNotSupported);
		memset(get, 0, sizeof(*get));
		return per_thread ? cudaStreamGetPriority_ptsz(s, &get->priority)
				  : cudaStreamGetPriority(s, &get->priority);
	}
	if (set && attr == cudaStreamAttributeAccessPolicyWindow &&
	    (set->accessPolicyWindow.hitRatio < 0 || set->accessPolicyWindow.hitRatio > 1))
		return shim_ret(cudaErrorInvalidValue);
	pthread_mutex_lock(&attrs_lock);
	for (a = stream_attrs; a && a->stream != id; a = a->next)
		;
	if (!a && set && (a = calloc(1, sizeof(*a))) != NULL) {
		a->stream = id;
		a->next = stream_attrs;
		stream_attrs = a;
	}
	if (set && a) {
		a->v[attr] = *set;
		a->set |= 1u << attr;
	} else if (get) {
		memset(get, 0, sizeof(*get));
		if (a && (a->set & (1u << attr)))
			*get = a->v[attr];
		else if (attr == cudaStreamAttributeSynchronizationPolicy)
			get->syncPolicy = cudaSyncPolicyAuto;
	}
	pthread_mutex_unlock(&attrs_lock);
	return set && !a ? shim_ret(cudaErrorMemoryAllocation) : cudaSuccess;
}

cudaError_t cudaStreamSetAttribute(cudaStream_t s, cudaStreamAttrID attr,
				   const cudaStreamAttrValue *value)
{
	return value ? stream_attr(s, attr, NULL, value, 0) : shim_ret(cudaErrorInvalidValue);
}

cudaError_t cudaStreamSetAttribute_ptsz(cudaStream_t s, cudaStreamAttrID attr,
					const cudaStreamAttrValue *value)
{
	return value ? stream_attr(s, attr, NULL, value, 1) : shim_ret(cudaErrorInvalidValue);
}

cudaError_t cudaStreamGetAttribute(cudaStream_t s, cudaStreamAttrID attr,
				   cudaStreamAttrValue *value)
{
	return value ? stream_attr(s, attr, value, NULL, 0) : shim_ret(cudaErrorInvalidValue);
}

cudaError_t cudaStreamGetAttribute_ptsz(cudaStream_t s, cudaStreamAttrID attr,
					cudaStreamAttrValue *value)
{
	return value ? stream_attr(s, attr, value, NULL, 1) : shim_ret(cudaErrorInvalidValue);
}

/* ---- peers: a server's devices are not peers of each other ---------------------- */

static int device_ok(int device)
{
	return device >= 0 && device < shim.ndevices;
}

cudaError_t cudaDeviceCanAccessPeer(int *can, int device, int peer)
{
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!can)
		return shim_ret(cudaErrorInvalidValue);
	if (!device_ok(device) || !device_ok(peer))
		return shim_ret(cudaErrorInvalidDevice);
	*can = 0;
	return cudaSuccess;
}

cudaError_t cudaDeviceEnablePeerAccess(int peer, unsigned int flags)
{
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (flags)
		return shim_ret(cudaErrorInvalidValue);
	if (!device_ok(peer) || peer == shim_device)
		return shim_ret(cudaErrorInvalidDevice);
	return shim_ret(cudaErrorPeerAccessUnsupported);
}

cudaError_t cudaDeviceDisablePeerAccess(int peer)
{
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!device_ok(peer) || peer == shim_device)
		return shim_ret(cudaErrorInvalidDevice);
	return shim_ret(cudaErrorPeerAccessNotEnabled);
}

/* A copy between devices: on one device, a device-to-device copy there; on
 * two, through the host (no peer path), after the stream's earlier work. */
static cudaError_t peer_copy(void *dst, int dst_dev, const void *src, int src_dev, size_t n,
			     cudaStream_t s, int async)
{
	int saved = shim_device;
	void *buf;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!device_ok(dst_dev) || !device_ok(src_dev))
		return shim_ret(cudaErrorInvalidDevice);
	if (n == 0)
		return cudaSuccess;
	if (dst_dev == src_dev) {
		shim_device = dst_dev;
		e = async ? cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, s)
			  : cudaMemcpy(dst, src, n, cudaMemcpyDeviceToDevice);
		shim_device = saved;
		return e;
	}
	if (async && (e = cudaStreamSynchronize(s)) != cudaSuccess)
		return e;
	if (!(buf = malloc(n)))
		return shim_ret(cudaErrorMemoryAllocation);
	shim_device = src_dev;
	e = cudaMemcpy(buf, src, n, cudaMemcpyDeviceToHost);
	shim_device = dst_dev;
	if (e == cudaSuccess)
		e = cudaMemcpy(dst, buf, n, cudaMemcpyHostToDevice);
	shim_device = saved;
	free(buf);
	return e;
}

cudaError_t cudaMemcpyPeer(void *dst, int dst_dev, const void *src, int src_dev, size_t n)
{
	return peer_copy(dst, dst_dev, src, src_dev, n, NULL, 0);
}

cudaError_t cudaMemcpyPeerAsync(void *dst, int dst_dev, const void *src, int src_dev, size_t n,
				cudaStream_t s)
{
	return peer_copy(dst, dst_dev, src, src_dev, n, s, 1);
}
