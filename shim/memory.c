/*
 * Runtime API: memory. Device pointers are the server's own values; the
 * guest keeps a map of them (and of its page-locked host buffers) to check
 * arguments and to tell pointers apart for cudaMemcpyDefault. Copies are
 * split into chunks that travel pipelined, their data outside protobuf.
 */
#include "config.h"

#include <string.h>
#include <sys/mman.h>

#include "shim.h"
#include "transport.h"

enum mem_kind shim_memory_kind(const void *p, size_t n)
{
	enum mem_kind k = MEM_HOST;

	pthread_mutex_lock(&shim.lock);
	if (vcuda_rangemap_find(&shim.dmem, (uintptr_t)p))
		k = MEM_DEVICE;
	else if (vcuda_rangemap_find_span(&shim.hmem, (uintptr_t)p, n))
		k = MEM_PINNED;
	pthread_mutex_unlock(&shim.lock);
	return k;
}

int shim_memory_on_device(const void *p, size_t n)
{
	const struct vcuda_range *r;
	int ok;

	pthread_mutex_lock(&shim.lock);
	r = vcuda_rangemap_find_span(&shim.dmem, (uintptr_t)p, n);
	ok = r && (int)r->tag == shim_device;
	pthread_mutex_unlock(&shim.lock);
	return ok;
}

cudaError_t cudaMalloc(void **ptr, size_t size)
{
	Vcuda__MemAlloc m = VCUDA__MEM_ALLOC__INIT;
	Vcuda__Reply *rp = NULL;
	struct vcuda_range r;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!ptr)
		return shim_ret(cudaErrorInvalidValue);
	if (size == 0) {
		*ptr = NULL;
		return cudaSuccess;
	}
	m.size = size;
	SHIM_REQUEST(rq, MEM_ALLOC, mem_alloc, m);
	e = shim_call(&rq, NULL, 0, 0, NULL, 0, &rp);
	if (e == cudaSuccess && (!rp || rp->ret_case != VCUDA__REPLY__RET_MEM_ALLOC))
		e = cudaErrorUnknown;
	if (e == cudaSuccess) {
		r = (struct vcuda_range){
		    .base = rp->mem_alloc->dptr, .size = size, .tag = (uint64_t)shim_device};
		pthread_mutex_lock(&shim.lock);
		if (vcuda_rangemap_insert(&shim.dmem, &r) != 0)
			e = cudaErrorUnknown;
		pthread_mutex_unlock(&shim.lock);
		*ptr = (void *)(uintptr_t)r.base;
	}
	vcuda_client_reply_free(rp);
	return shim_ret(e);
}

int shim_dmem_take(const void *ptr, struct vcuda_range *r)
{
	const struct vcuda_range *f;
	int known;

	/* A module variable (its range carries the variable) is not the
	 * program's to free. */
	pthread_mutex_lock(&shim.lock);
	f = vcuda_rangemap_find(&shim.dmem, (uintptr_t)ptr);
	known = f && f->base == (uintptr_t)ptr && !f->data &&
		vcuda_rangemap_remove(&shim.dmem, (uintptr_t)ptr, r) == 0;
	pthread_mutex_unlock(&shim.lock);
	if (!known)
		return -1;
	shim_pool_released(r->tag, r->size);
	return 0;
}

cudaError_t cudaFree(void *ptr)
{
	Vcuda__MemFree m = VCUDA__MEM_FREE__INIT;
	struct vcuda_range r;
	cudaError_t e = shim_begin();

	if (e || !ptr)
		return shim_ret(e);
	if (shim_managed_free(ptr, &e))
		return shim_ret(e);
	if (shim_dmem_take(ptr, &r) != 0)
		return shim_ret(cudaErrorInvalidValue);
	m.dptr = r.base;
	SHIM_REQUEST(rq, MEM_FREE, mem_free, m);
	rq.device = (int)r.tag;
	return shim_ret(shim_call(&rq, NULL, 0, 0, NULL, 0, NULL));
}

/* Page-locked host memory: over shm:// it is taken from the heap the
 * session shares with its worker (range data 1), so that copies from and to
 * it need no copy on this side; otherwise (or when the heap is full) it is
 * guest memory that copies may send without staging. */
/* The range data of host memory the program pinned with cudaHostRegister
 * (1: the shared heap; NULL: memory the shim mapped). */
#define HOST_REGISTERED ((void *)2)

static int memory_shared_at(const void *p)
{
	uint64_t off;

	return vcuda_client_host_offset(shim.client, p, 1, &off) == 0;
}

static void memory_host_release(void *p, size_t size, int shared)
{
	if (shared)
		vcuda_client_host_free(shim.client, p);
	else
		munmap(p, size);
}

cudaError_t cudaHostAlloc(void **ptr, size_t size, unsigned int flags)
{
	struct vcuda_range r;
	cudaError_t e = shim_begin();
	void *p;

	if (e)
		return shim_ret(e);
	if (!ptr || (flags & ~(unsigned)(cudaHostAllocPortable | cudaHostAllocMapped |
					 cudaHostAllocWriteCombined)))
		return shim_ret(cudaErrorInvalidValue);
	if (size == 0) {
		*ptr = NULL;
		return cudaSuccess;
	}
	if ((p = vcuda_client_host_alloc(shim.client, size)) != NULL)
		memset(p, 0, size); /* as fresh anonymous memory would be */
	else if ((flags & cudaHostAllocMapped) && vcuda_client_has_heap(shim.client))
		return shim_ret(cudaErrorMemoryAllocation); /* mapped: only from the heap */
	else if ((p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			   0)) == MAP_FAILED)
		return shim_ret(cudaErrorMemoryAllocation);
	r = (struct vcuda_range){.base = (uintptr_t)p,
				 .size = size,
				 .tag = flags,
				 .data = memory_shared_at(p) ? (void *)1 : NULL};
	pthread_mutex_lock(&shim.lock);
	if (vcuda_rangemap_insert(&shim.hmem, &r) != 0)
		e = cudaErrorMemoryAllocation;
	pthread_mutex_unlock(&shim.lock);
	if (e) {
		memory_host_release(p, size, r.data != NULL);
		return shim_ret(e);
	}
	*ptr = p;
	return cudaSuccess;
}

cudaError_t cudaMallocHost(void **ptr, size_t size)
{
	return cudaHostAlloc(ptr, size, cudaHostAllocDefault);
}

cudaError_t cudaFreeHost(void *ptr)
{
	Vcuda__CtxSynchronize m = VCUDA__CTX_SYNCHRONIZE__INIT;
	struct vcuda_range r;
	cudaError_t e = shim_init();
	int known;

	if (e || !ptr)
		return shim_ret(e);
	pthread_mutex_lock(&shim.lock);
	{ /* memory cudaHostRegister pinned is not the runtime's to free */
		const struct vcuda_range *f = vcuda_rangemap_find(&shim.hmem, (uintptr_t)ptr);
		known = f && f->base == (uintptr_t)ptr && f->data != HOST_REGISTERED &&
			vcuda_rangemap_remove(&shim.hmem, (uintptr_t)ptr, &r) == 0;
	}
	pthread_mutex_unlock(&shim.lock);
	if (!known)
		return shim_ret(cudaErrorInvalidValue);
	/* As in CUDA, freeing waits for the device: copies still in flight may
	 * be reading the buffer. */
	if (!shim.sticky) {
		SHIM_REQUEST(rq, CTX_SYNCHRONIZE, ctx_synchronize, m);
		e = shim_call(&rq, NULL, 0, 0, NULL, 0, NULL);
	}
	memory_host_release(ptr, r.size, r.data != NULL);
	return shim_ret(e);
}

/* Registered host memory is the program's own: copies treat it as
 * page-locked (an asynchronous copy sends it where it lies, and it must
 * stay until the stream is done, as CUDA requires). The device cannot map
 * host memory (canMapHostMemory is 0), nor I/O memory. */
cudaError_t cudaHostRegister(void *ptr, size_t size, unsigned int flags)
{
	struct vcuda_range r = {
	    .base = (uintptr_t)ptr, .size = size, .tag = flags, .data = HOST_REGISTERED};
	cudaError_t e = shim_begin();
	int rc;

	if (e)
		return shim_ret(e);
	if (!ptr || !size ||
	    (flags & ~(unsigned)(cudaHostRegisterPortable | cudaHostRegisterMapped |
				 cudaHostRegisterIoMemory | cudaHostRegisterReadOnly)))
		return shim_ret(cudaErrorInvalidValue);
	if (flags & (cudaHostRegisterMapped | cudaHostRegisterIoMemory))
		return shim_ret(cudaErrorNotSupported);
	pthread_mutex_lock(&shim.lock);
	rc = vcuda_rangemap_insert(&shim.hmem, &r);
	pthread_mutex_unlock(&shim.lock);
	return rc ? shim_ret(cudaErrorHostMemoryAlreadyRegistered) : cudaSuccess;
}

cudaError_t cudaHostUnregister(void *ptr)
{
	const struct vcuda_range *f;
	int known;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	pthread_mutex_lock(&shim.lock);
	f = vcuda_rangemap_find(&shim.hmem, (uintptr_t)ptr);
	known = f && f->base == (uintptr_t)ptr && f->data == HOST_REGISTERED &&
		vcuda_rangemap_remove(&shim.hmem, (uintptr_t)ptr, NULL) == 0;
	pthread_mutex_unlock(&shim.lock);
	return known ? cudaSuccess : shim_ret(cudaErrorHostMemoryNotRegistered);
}

/* The heap's device address on each device, asked for once (again after
 * the device is reset). */
static uint64_t heap_device[SHIM_MAX_DEVICES];

void shim_heap_forget(int device)
{
	__atomic_store_n(&heap_device[device], 0, __ATOMIC_RELEASE);
}

/* Mapped host memory is the shm:// heap's (cudaHostAlloc with
 * cudaHostAllocMapped, and any page-locked buffer that came from it): its
 * device address is where the worker mapped the heap into the device. */
cudaError_t cudaHostGetDevicePointer(void **dev, void *host, unsigned int flags)
{
	Vcuda__HeapMap m = VCUDA__HEAP_MAP__INIT;
	Vcuda__Reply *rp = NULL;
	uint64_t off;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!dev || flags)
		return shim_ret(cudaErrorInvalidValue);
	if (!vcuda_client_has_heap(shim.client))
		return shim_ret(cudaErrorNotSupported); /* canMapHostMemory is 0 */
	if (vcuda_client_host_offset(shim.client, host, 1, &off) != 0)
		return shim_ret(cudaErrorInvalidValue);
	if (!__atomic_load_n(&heap_device[shim_device], __ATOMIC_ACQUIRE)) {
		SHIM_REQUEST(rq, HEAP_MAP, heap_map, m);
		e = shim_call(&rq, NULL, 0, 0, NULL, 0, &rp);
		if (e == cudaSuccess && rp->ret_case == VCUDA__REPLY__RET_GLOBAL &&
		    rp->global->dptr)
			__atomic_store_n(&heap_device[shim_device], rp->global->dptr,
					 __ATOMIC_RELEASE);
		else if (e == cudaSuccess)
			e = cudaErrorUnknown;
		vcuda_client_reply_free(rp);
		if (e)
			return shim_ret(e);
	}
	*dev = (void *)(uintptr_t)(heap_device[shim_device] + off);
	return cudaSuccess;
}

cudaError_t cudaHostGetFlags(unsigned int *flags, void *ptr)
{
	const struct vcuda_range *r;
	cudaError_t e = shim_init();

	if (e)
		return shim_ret(e);
	if (!flags)
		return shim_ret(cudaErrorInvalidValue);
	pthread_mutex_lock(&shim.lock);
	r = vcuda_rangemap_find(&shim.hmem, (uintptr_t)ptr);
	if (r)
		*flags = (unsigned int)r->tag;
	pthread_mutex_unlock(&shim.lock);
	return r ? cudaSuccess : shim_ret(cudaErrorInvalidValue);
}

cudaError_t cudaPointerGetAttributes(struct cudaPointerAttributes *a, const void *ptr)
{
	const struct vcuda_range *r;
	cudaError_t e = shim_init();

	if (e)
		return shim_ret(e);
	if (!a)
		return shim_ret(cudaErrorInvalidValue);
	memset(a, 0, sizeof(*a));
	a->type = cudaMemoryTypeUnregistered;
	a->device = -2;
	a->hostPointer = (void *)ptr;
	pthread_mutex_lock(&shim.lock);
	if ((r = vcuda_rangemap_find(&shim.dmem, (uintptr_t)ptr)) != NULL) {
		a->type = cudaMemoryTypeDevice;
		a->device = (int)r->tag;
		a->devicePointer = (void *)ptr;
		a->hostPointer = NULL;
		if (shim_managed_is(ptr)) {
			a->type = cudaMemoryTypeManaged;
			a->hostPointer = (void *)ptr;
		}
	} else if (vcuda_rangemap_find(&shim.hmem, (uintptr_t)ptr) != NULL) {
		a->type = cudaMemoryTypeHost;
		a->device = shim_device;
	}
	pthread_mutex_unlock(&shim.lock);
	return cudaSuccess;
}

/* ---- copies ---------------------------------------------------------------- */

struct copy {
	void *dst;
	const void *src;
	size_t n;
	uint64_t stream;
	int async;
};

/* Host to device, in chunks; all but the last are posted. */
static cudaError_t copy_htod(const struct copy *c, int pinned)
{
	/* A synchronous copy waits for its reply, and CUDA lets an
	 * asynchronous one read pinned memory until the stream is done; in
	 * both cases the buffer is sent where it lies. Pageable memory of an
	 * asynchronous copy is staged, as CUDA stages it. */
	unsigned flags = (!c->async || pinned) ? VCUDA_SEND_BORROW : VCUDA_SEND_COPY;
	size_t off = 0;
	cudaError_t e = cudaSuccess;

	uint64_t at;

	/* From the shared heap: one request, and the worker reads it there. */
	if (pinned && vcuda_client_host_offset(shim.client, c->src, c->n, &at) == 0) {
		Vcuda__MemcpyHtoD m = VCUDA__MEMCPY_HTO_D__INIT;
		m.dst = (uintptr_t)c->dst;
		m.size = c->n;
		m.stream = c->stream;
		m.async = c->async;
		m.shared = 1;
		m.host_offset = at;
		SHIM_REQUEST(rq, MEMCPY_HTOD, memcpy_htod, m);
		return c->async ? shim_post(&rq, NULL, 0, 0, NULL, 0)
				: shim_call(&rq, NULL, 0, 0, NULL, 0, NULL);
	}
	do {
		Vcuda__MemcpyHtoD m = VCUDA__MEMCPY_HTO_D__INIT;
		size_t len = c->n - off < shim.chunk ? c->n - off : shim.chunk;
		int last = off + len == c->n;

		m.dst = (uintptr_t)c->dst + off;
		m.size = len;
		m.stream = c->stream;
		m.async = c->async;
		SHIM_REQUEST(rq, MEMCPY_HTOD, memcpy_htod, m);
		if (last && !c->async)
			e = shim_call(&rq, (const char *)c->src + off, len, flags, NULL, 0, NULL);
		else
			e = shim_post(&rq, (const char *)c->src + off, len, flags, NULL, 0);
		off += len;
	} while (off < c->n && e == cudaSuccess);
	return e;
}

/* Device to host: one request, answered by data messages written into dst. */
static cudaError_t copy_dtoh(const struct copy *c, int pinned)
{
	Vcuda__MemcpyDtoH m = VCUDA__MEMCPY_DTO_H__INIT;

	uint64_t at;

	m.src = (uintptr_t)c->src;
	m.size = c->n;
	m.stream = c->stream;
	m.async = c->async;
	/* Into the shared heap: the worker writes it there, no data messages. */
	if (pinned && vcuda_client_host_offset(shim.client, c->dst, c->n, &at) == 0) {
		m.shared = 1;
		m.host_offset = at;
		SHIM_REQUEST(rq, MEMCPY_DTOH, memcpy_dtoh, m);
		return c->async ? shim_post(&rq, NULL, 0, 0, NULL, 0)
				: shim_call(&rq, NULL, 0, 0, NULL, 0, NULL);
	}
	SHIM_REQUEST(rq, MEMCPY_DTOH, memcpy_dtoh, m);
	/* Into pageable memory CUDA returns only once the data is there. */
	if (c->async && pinned)
		return shim_post(&rq, NULL, 0, 0, c->dst, c->n);
	return shim_call(&rq, NULL, 0, 0, c->dst, c->n, NULL);
}

static cudaError_t copy_dtod(const struct copy *c)
{
	Vcuda__MemcpyDtoD m = VCUDA__MEMCPY_DTO_D__INIT;

	m.dst = (uintptr_t)c->dst;
	m.src = (uintptr_t)c->src;
	m.size = c->n;
	m.stream = c->stream;
	m.async = c->async;
	SHIM_REQUEST(rq, MEMCPY_DTOD, memcpy_dtod, m);
	if (c->async)
		return shim_post(&rq, NULL, 0, 0, NULL, 0);
	return shim_call(&rq, NULL, 0, 0, NULL, 0, NULL);
}

static cudaError_t memory_copy(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind,
			       cudaStream_t stream, int async, int per_thread)
{
	struct copy c = {dst, src, n, 0, async};
	enum mem_kind dk, sk;
	cudaError_t e = shim_begin();

	if (e || (e = shim_stream(stream, per_thread, &c.stream)) != cudaSuccess)
		return shim_ret(e);
	if ((unsigned)kind > cudaMemcpyDefault)
		return shim_ret(cudaErrorInvalidMemcpyDirection);
	if (n == 0)
		return cudaSuccess;
	if (!dst || !src)
		return shim_ret(cudaErrorInvalidValue);
	dk = shim_memory_kind(dst, n);
	sk = shim_memory_kind(src, n);
	/* Managed memory is device memory to a copy, whatever kind it names
	 * (the device's copy is the one brought up to date). */
	if (shim_managed_is(dst) || shim_managed_is(src))
		kind = cudaMemcpyDefault;
	if (kind == cudaMemcpyDefault)
		kind = (enum cudaMemcpyKind)((sk == MEM_DEVICE) * 2 + (dk == MEM_DEVICE));
	if ((kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice) &&
	    !shim_memory_on_device(dst, n))
		return shim_ret(cudaErrorInvalidValue);
	if ((kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice) &&
	    !shim_memory_on_device(src, n))
		return shim_ret(cudaErrorInvalidValue);
	if ((kind == cudaMemcpyHostToDevice && sk == MEM_DEVICE) ||
	    (kind == cudaMemcpyDeviceToHost && dk == MEM_DEVICE) ||
	    (kind == cudaMemcpyHostToHost && (sk == MEM_DEVICE || dk == MEM_DEVICE)))
		return shim_ret(cudaErrorInvalidValue);
	if (async && shim_graph_capturing(c.stream)) {
		struct cudaGraphNodeParams np = {.type = cudaGraphNodeTypeMemcpy};
		shim_copy_1d(&np.memcpy.copyParams, dst, src, n, kind);
		return shim_ret(shim_graph_capture(c.stream, &np));
	}
	switch (kind) {
	case cudaMemcpyHostToDevice:
		e = copy_htod(&c, sk == MEM_PINNED);
		break;
	case cudaMemcpyDeviceToHost:
		e = copy_dtoh(&c, dk == MEM_PINNED);
		break;
	case cudaMemcpyDeviceToDevice:
		e = copy_dtod(&c);
		break;
	default:
		memmove(dst, src, n);
		break;
	}
	return shim_ret(e);
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind)
{
	return memory_copy(dst, src, n, kind, NULL, 0, 0);
}

cudaError_t cudaMemcpy_ptds(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind)
{
	return memory_copy(dst, src, n, kind, NULL, 0, 1);
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind,
			    cudaStream_t s)
{
	return memory_copy(dst, src, n, kind, s, 1, 0);
}

cudaError_t cudaMemcpyAsync_ptsz(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind,
				 cudaStream_t s)
{
	return memory_copy(dst, src, n, kind, s, 1, 1);
}

static cudaError_t memory_set(void *p, int value, size_t n, cudaStream_t s, int async,
			      int per_thread)
{
	Vcuda__Memset m = VCUDA__MEMSET__INIT;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (n == 0)
		return cudaSuccess;
	if (!shim_memory_on_device(p, n))
		return shim_ret(cudaErrorInvalidValue);
	m.dst = (uintptr_t)p;
	m.value = (uint32_t)(value & 0xff);
	m.elem_size = 1;
	m.count = n;
	if ((e = shim_stream(s, per_thread, &m.stream)) != cudaSuccess)
		return shim_ret(e);
	if (async && shim_graph_capturing(m.stream)) {
		struct cudaGraphNodeParams np = {.type = cudaGraphNodeTypeMemset};
		np.memset.dst = p;
		np.memset.pitch = n;
		np.memset.value = (unsigned)(value & 0xff);
		np.memset.elementSize = 1;
		np.memset.width = n;
		np.memset.height = 1;
		return shim_ret(shim_graph_capture(m.stream, &np));
	}
	m.async = async;
	SHIM_REQUEST(rq, MEMSET, memset, m);
	e = async ? shim_post(&rq, NULL, 0, 0, NULL, 0) : shim_call(&rq, NULL, 0, 0, NULL, 0, NULL);
	return shim_ret(e);
}

cudaError_t cudaMemset(void *p, int value, size_t n)
{
	return memory_set(p, value, n, NULL, 0, 0);
}

cudaError_t cudaMemset_ptds(void *p, int value, size_t n)
{
	return memory_set(p, value, n, NULL, 0, 1);
}

cudaError_t cudaMemsetAsync(void *p, int value, size_t n, cudaStream_t s)
{
	return memory_set(p, value, n, s, 1, 0);
}

cudaError_t cudaMemsetAsync_ptsz(void *p, int value, size_t n, cudaStream_t s)
{
	return memory_set(p, value, n, s, 1, 1);
}

/* ---- IPC ------------------------------------------------------------------------------- */

/* The range data of memory opened from another process's handle: not the
 * program's to cudaFree, closed by cudaIpcCloseMemHandle. */
#define MEM_IPC ((void *)3)

cudaError_t shim_ipc_handle(Vcuda__Request *rq, char out[64])
{
	Vcuda__Reply *rp = NULL;
	cudaError_t e = shim_call(rq, NULL, 0, 0, NULL, 0, &rp);

	if (e == cudaSuccess &&
	    (rp->ret_case != VCUDA__REPLY__RET_IPC_HANDLE || rp->ipc_handle->handle.len != 64))
		e = cudaErrorUnknown;
	if (e == cudaSuccess)
		memcpy(out, rp->ipc_handle->handle.data, 64);
	vcuda_client_reply_free(rp);
	return e;
}

cudaError_t cudaIpcGetMemHandle(cudaIpcMemHandle_t *handle, void *ptr)
{
	Vcuda__IpcGetMemHandle m = VCUDA__IPC_GET_MEM_HANDLE__INIT;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!handle || !ptr)
		return shim_ret(cudaErrorInvalidValue);
	m.dptr = (uintptr_t)ptr;
	SHIM_REQUEST(rq, IPC_GET_MEM_HANDLE, ipc_get_mem_handle, m);
	return shim_ret(shim_ipc_handle(&rq, handle->reserved));
}

cudaError_t cudaIpcOpenMemHandle(void **ptr, cudaIpcMemHandle_t handle, unsigned int flags)
{
	Vcuda__IpcOpenMemHandle m = VCUDA__IPC_OPEN_MEM_HANDLE__INIT;
	Vcuda__Reply *rp = NULL;
	struct vcuda_range r;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!ptr || flags > cudaIpcMemLazyEnablePeerAccess)
		return shim_ret(cudaErrorInvalidValue);
	m.handle.data = (uint8_t *)handle.reserved;
	m.handle.len = sizeof(handle.reserved);
	m.flags = flags;
	SHIM_REQUEST(rq, IPC_OPEN_MEM_HANDLE, ipc_open_mem_handle, m);
	e = shim_call(&rq, NULL, 0, 0, NULL, 0, &rp);
	if (e == cudaSuccess && rp->ret_case != VCUDA__REPLY__RET_GLOBAL)
		e = cudaErrorUnknown;
	if (e == cudaSuccess) {
		r = (struct vcuda_range){.base = rp->global->dptr,
					 .size = rp->global->size,
					 .tag = (uint64_t)shim_device,
					 .data = MEM_IPC};
		pthread_mutex_lock(&shim.lock);
		if (vcuda_rangemap_insert(&shim.dmem, &r) != 0)
			e = cudaErrorMemoryAllocation;
		pthread_mutex_unlock(&shim.lock);
		*ptr = (void *)(uintptr_t)r.base;
	}
	vcuda_client_reply_free(rp);
	return shim_ret(e);
}

cudaError_t cudaIpcCloseMemHandle(void *ptr)
{
	Vcuda__IpcCloseMemHandle m = VCUDA__IPC_CLOSE_MEM_HANDLE__INIT;
	const struct vcuda_range *f;
	struct vcuda_range r;
	int known;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	pthread_mutex_lock(&shim.lock);
	f = vcuda_rangemap_find(&shim.dmem, (uintptr_t)ptr);
	known = f && f->base == (uintptr_t)ptr && f->data == MEM_IPC &&
		vcuda_rangemap_remove(&shim.dmem, (uintptr_t)ptr, &r) == 0;
	pthread_mutex_unlock(&shim.lock);
	if (!known)
		return shim_ret(cudaErrorInvalidValue);
	m.dptr = r.base;
	SHIM_REQUEST(rq, IPC_CLOSE_MEM_HANDLE, ipc_close_mem_handle, m);
	rq.device = (int)r.tag;
	return shim_ret(shim_call(&rq, NULL, 0, 0, NULL, 0, NULL));
}
