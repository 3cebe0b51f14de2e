/*
 * The guest runtime shim: internal interface. The runtime state NVIDIA's
 * cudart keeps (current device, last error, sticky errors, device
 * properties) lives here, in the guest; calls that need the device become
 * requests to vcudad (remoting/client.h).
 */
#ifndef VCUDA_SHIM_H
#define VCUDA_SHIM_H

#include <pthread.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "calls.h"
#include "client.h"
#include "rangemap.h"
#include "vcuda.pb-c.h"

#define SHIM_MAX_DEVICES 16

struct shim_state {
	struct vcuda_client *client;
	cudaError_t init_error; /* why there is no client */
	int ndevices;
	const Vcuda__DeviceInfo *devices[SHIM_MAX_DEVICES];
	int driver_version;
	size_t chunk;		       /* bytes per copy request */
	pthread_mutex_t lock;	       /* guards the two maps */
	struct vcuda_rangemap dmem;    /* device allocations; tag = device */
	struct vcuda_rangemap hmem;    /* page-locked host allocations; tag = flags */
	struct vcuda_rangemap handles; /* live stream and event ids; tag = device */
	int async_error; /* a posted call's failure, for the next synchronizing call */
	int sticky;	 /* a sticky error: every later call fails with it */
};

extern struct shim_state shim;

/* What a guest pointer is, for [p, p + n): device memory (a start inside
 * one allocation), page-locked host memory (all of it in one), or other
 * host memory. */
enum mem_kind { MEM_HOST, MEM_PINNED, MEM_DEVICE };
enum mem_kind shim_memory_kind(const void *p, size_t n);
/* Whether [p, p + n) is device memory of one allocation of the current
 * device. */
int shim_memory_on_device(const void *p, size_t n);
extern __thread int shim_device;

/* Connects on first use; returns cudaSuccess or why the device is missing. */
cudaError_t shim_init(void);
/* shim_init, then the sticky error if there is one. Every device call
 * starts with this. */
cudaError_t shim_begin(void);
/* Records e as the thread's last error (if it is one) and returns it. */
cudaError_t shim_ret(cudaError_t e);

/*
 * Sends a request for the current device and waits for its reply (reply may
 * be NULL when only the result matters). Returns the call's own cudaError_t
 * or the lost-server error. The failure of an earlier posted call that the
 * reply reports never replaces that result: it becomes the thread's last
 * error, and the next synchronizing call (shim_call_sync) returns it.
 */
cudaError_t shim_call(Vcuda__Request *rq, const void *payload, size_t len, unsigned flags,
		      void *recv, size_t recv_len, Vcuda__Reply **reply);
/* shim_call and shim_post with the layout of the data that answers. */
cudaError_t shim_call_into(Vcuda__Request *rq, const void *payload, size_t len, unsigned flags,
			   const struct vcuda_recv *recv, Vcuda__Reply **reply);
cudaError_t shim_post_into(Vcuda__Request *rq, const void *payload, size_t len, unsigned flags,
			   const struct vcuda_recv *recv);
/* shim_call for a call that waits for earlier work (a synchronize, a query):
 * when it succeeds, a pending failure of a posted call is its result, as
 * CUDA reports asynchronous errors at the next synchronizing call. */
cudaError_t shim_call_sync(Vcuda__Request *rq, const void *payload, size_t len, unsigned flags,
			   void *recv, size_t recv_len, Vcuda__Reply **reply);
/* Sends a request without waiting; its failure surfaces at a later call. */
cudaError_t shim_post(Vcuda__Request *rq, const void *payload, size_t len, unsigned flags,
		      void *recv, size_t recv_len);

/* Builds a request named rq for call NAME (field name) with message msg. */
#define SHIM_REQUEST(rq, NAME, name, msg)                                                          \
	Vcuda__Request rq = VCUDA__REQUEST__INIT;                                                  \
	rq.call_case = VCUDA__REQUEST__CALL_##NAME;                                                \
	rq.name = &(msg);                                                                          \
	rq.device = shim_device;                                                                   \
	rq.thread = shim_thread_id()

/* A small number naming the calling thread, from 1. */
uint32_t shim_thread_id(void);

/* The guest value of a stream as the protocol names it: 0 legacy default,
 * 1 cudaStreamLegacy, 2 per-thread default, else the server's handle.
 * per_thread: the call came through a _ptds/_ptsz entry point. */
uint64_t shim_stream_id(cudaStream_t s, int per_thread);

/*
 * The streams and events this process created and has not destroyed, so
 * that a call naming any other value fails at once with
 * cudaErrorInvalidResourceHandle, where CUDA checks it, rather than at a
 * later synchronizing call.
 */
void shim_handle_add(uint64_t id, int device);
void shim_handle_remove(uint64_t id);
void shim_handles_forget(int device);
/* The protocol's id of stream s (as shim_stream_id) in *id, or
 * cudaErrorInvalidResourceHandle if s is no stream of this process. */
cudaError_t shim_stream(cudaStream_t s, int per_thread, uint64_t *id);
/* The id of event ev in *id, or cudaErrorInvalidResourceHandle. */
cudaError_t shim_event(cudaEvent_t ev, uint64_t *id);

/*
 * Sends scalar call op (calls.def) with its in-values (as many as the call
 * has) and stores its out-values through out (one pointer each, as wide as
 * the kind says), waiting or not as the call's flags say. Returns the
 * call's result; the caller records it (shim_ret).
 */
cudaError_t shim_scalar(uint32_t op, const uint64_t *in, void *const *out);
/* The server's handle of the kernel whose host stub is func, in *id;
 * cudaErrorInvalidDeviceFunction if func is no registered kernel. */
cudaError_t shim_func_id(const void *func, uint64_t *id);

/* Forgets what the server had loaded for a device (after a reset). */
void shim_modules_forget(int device);
/* Forgets where the shared heap was mapped into a device (after a reset). */
void shim_heap_forget(int device);

/* An attribute of a device from the cache; -1 if it has none. */
int shim_attribute(int device, int attr);

/* Takes the device allocation that starts at ptr out of the map (into
 * *r), and out of its pool's count: 0, or -1 if ptr starts no allocation
 * of the program's. */
int shim_dmem_take(const void *ptr, struct vcuda_range *r);

/* A stream was destroyed: the attributes set on it go. */
void shim_stream_attrs_forget(uint64_t stream);

/* A device allocation of range tag tag and size bytes was freed: its pool
 * (bits 32 and up of the tag; 0 none) counts it no more. */
void shim_pool_released(uint64_t tag, uint64_t size);

/* Entry points for per-thread default stream builds; declared by the CUDA
 * headers only when such a build includes them. */
cudaError_t cudaMemcpy_ptds(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync_ptsz(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind,
				 cudaStream_t s);
cudaError_t cudaMemset_ptds(void *p, int value, size_t n);
cudaError_t cudaMemcpy2D_ptds(void *dst, size_t dpitch, const void *src, size_t spitch,
			      size_t width, size_t height, enum cudaMemcpyKind kind);
cudaError_t cudaMemcpy2DAsync_ptsz(void *dst, size_t dpitch, const void *src, size_t spitch,
				   size_t width, size_t height, enum cudaMemcpyKind kind,
				   cudaStream_t s);
cudaError_t cudaMemcpy3D_ptds(const struct cudaMemcpy3DParms *p);
cudaError_t cudaMemcpy3DAsync_ptsz(const struct cudaMemcpy3DParms *p, cudaStream_t s);
cudaError_t cudaMemset2D_ptds(void *p, size_t pitch, int value, size_t width, size_t height);
cudaError_t cudaMemset2DAsync_ptsz(void *p, size_t pitch, int value, size_t width, size_t height,
				   cudaStream_t s);
cudaError_t cudaMemset3D_ptds(struct cudaPitchedPtr p, int value, struct cudaExtent e);
cudaError_t cudaMemset3DAsync_ptsz(struct cudaPitchedPtr p, int value, struct cudaExtent e,
				   cudaStream_t s);
cudaError_t cudaMallocAsync_ptsz(void **ptr, size_t size, cudaStream_t s);
cudaError_t cudaMallocFromPoolAsync_ptsz(void **ptr, size_t size, cudaMemPool_t pool,
					 cudaStream_t s);
cudaError_t cudaFreeAsync_ptsz(void *ptr, cudaStream_t s);
cudaError_t cudaStreamGetId_ptsz(cudaStream_t s, unsigned long long *id);
cudaError_t cudaStreamGetPriority_ptsz(cudaStream_t s, int *priority);
cudaError_t cudaStreamIsCapturing_ptsz(cudaStream_t s, enum cudaStreamCaptureStatus *status);
cudaError_t cudaStreamSetAttribute_ptsz(cudaStream_t s, cudaStreamAttrID attr,
					const cudaStreamAttrValue *value);
cudaError_t cudaStreamGetAttribute_ptsz(cudaStream_t s, cudaStreamAttrID attr,
					cudaStreamAttrValue *value);
cudaError_t cudaMemsetAsync_ptsz(void *p, int value, size_t n, cudaStream_t s);
cudaError_t cudaStreamSynchronize_ptsz(cudaStream_t s);
cudaError_t cudaStreamQuery_ptsz(cudaStream_t s);
cudaError_t cudaStreamWaitEvent_ptsz(cudaStream_t s, cudaEvent_t e, unsigned int flags);
cudaError_t cudaEventRecord_ptsz(cudaEvent_t e, cudaStream_t s);
cudaError_t cudaLaunchHostFunc_ptsz(cudaStream_t stream, cudaHostFn_t fn, void *data);
cudaError_t cudaEventRecordWithFlags_ptsz(cudaEvent_t e, cudaStream_t s, unsigned int flags);

/*
 * Managed memory (shim/managed.c). Every request passes through before
 * (dirty host pages are written back first) and after it is sent (the
 * mirror pages it may write on the device become stale).
 */
void shim_managed_before(const Vcuda__Request *rq);
void shim_managed_after(const Vcuda__Request *rq);
/* Whether p lies in managed memory. */
int shim_managed_is(const void *p);
/* Frees managed memory that starts at ptr (result in *e): 1, or 0 if ptr
 * is not such memory. */
int shim_managed_free(void *ptr, cudaError_t *e);
/* A device was reset: its managed memory is gone. */
void shim_managed_forget(int device);
/* Mirrors a __managed__ variable of size bytes at dptr: 0, or -1
 * (logged). */
int shim_managed_variable(uint64_t dptr, size_t size);

/* driver_functions.h's make_cudaPitchedPtr and make_cudaExtent (that
 * header is cuda_runtime.h's, for C++ programs). */
static inline struct cudaPitchedPtr shim_pitched_ptr(void *p, size_t pitch, size_t w, size_t h)
{
	struct cudaPitchedPtr r = {p, pitch, w, h};
	return r;
}

static inline struct cudaExtent shim_extent(size_t w, size_t h, size_t d)
{
	struct cudaExtent r = {w, h, d};
	return r;
}

/* A plain copy of n bytes described as a 3D one (a graph's copy node). */
static inline void shim_copy_1d(struct cudaMemcpy3DParms *c, void *dst, const void *src, size_t n,
				enum cudaMemcpyKind kind)
{
	c->dstPtr = shim_pitched_ptr(dst, n, n, 1);
	c->srcPtr = shim_pitched_ptr((void *)src, n, n, 1);
	c->extent = shim_extent(n, 1, 1);
	c->kind = kind;
}

/* A CUDA array (shim/texture.c): the server's id and its geometry. */
struct cudaArray {
	uint64_t id;
	int device;
	struct cudaChannelFormatDesc desc;
	struct cudaExtent extent; /* as made: elements, 0 for unused dimensions */
	unsigned flags;
	size_t elem;			/* bytes an element */
	size_t row_bytes, rows, slices; /* rows and slices at least 1 */
};
/* Sends a request answered by 64 bytes of an IPC handle, into out
 * (shim/memory.c). */
cudaError_t shim_ipc_handle(Vcuda__Request *rq, char out[64]);

/* Interprocess events (shim/stream.c): made with cudaEventInterprocess;
 * their records are waited for. */
void shim_event_interprocess_add(uint64_t id);
int shim_event_interprocess(uint64_t id);

/* A device was reset: its arrays and objects are gone. */
void shim_textures_forget(int device);
/* Whether a is an array of this process (not freed). */
int shim_array_valid(const struct cudaArray *a);

/*
 * Kernels for graphs (shim/module.c): a launch checked and its arguments
 * packed (args, or extra in the driver's buffer format) into *buf
 * (malloc'd); and such a launch sent.
 */
cudaError_t shim_kernel_pack(const void *func, dim3 grid, dim3 block, size_t shmem, void **args,
			     void **extra, uint8_t **buf, size_t *len);
cudaError_t shim_kernel_launch_packed(const void *func, dim3 grid, dim3 block, size_t shmem,
				      const uint8_t *args, size_t len, cudaStream_t stream,
				      int per_thread);

/*
 * Graphs and stream capture (shim/graph.c). While a stream is captured,
 * the calls that would queue work on it add a node to the capture's graph
 * instead (shim_graph_capture, with CUDA's own description of the node).
 */
int shim_graph_capturing(uint64_t stream);
cudaError_t shim_graph_capture(uint64_t stream, struct cudaGraphNodeParams *np);
/* A scalar call (event record, stream wait, synchronize) on a captured
 * stream: 1 and *e its result if capture took it, else 0. */
int shim_graph_scalar(uint32_t op, const uint64_t *in, cudaError_t *e);

/* Reports a call vcuda does not implement: logged once, cudaErrorNotSupported. */
int vcuda_unimplemented(const char *name, int *warned);

#endif
