/*
 * The shim's connection to vcudad and the runtime's error state. The
 * connection is made on the first call that needs the device, as CUDA
 * initializes lazily.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "errors.h"
#include "handle.h"
#include "log.h"
#include <cuda.h>

#include "shim.h"
#include "transport.h"
#include "util.h"

struct shim_state shim = {.lock = PTHREAD_MUTEX_INITIALIZER};
__thread int shim_device;
static __thread cudaError_t shim_last_error;
static pthread_once_t shim_once = PTHREAD_ONCE_INIT;

/* The server is gone: every later call fails with this, at once. */
#define SHIM_LOST_ERROR cudaErrorDevicesUnavailable

static const char *shim_program(void)
{
	static char name[256];
	FILE *f = fopen("/proc/self/comm", "r");

	if (f) {
		if (fgets(name, sizeof(name), f))
			name[strcspn(name, "\n")] = '\0';
		fclose(f);
	}
	return name;
}

static void shim_configure(struct vcuda_client_opts *o)
{
	const char *chunk = getenv("VCUDA_CHUNK_SIZE");
	const char *timeout = getenv("VCUDA_CONNECT_TIMEOUT");
	uint64_t v;

	o->url = getenv("VCUDA_SERVER");
	o->connect_timeout_ms = timeout ? atoi(timeout) : 10000;
	if (o->connect_timeout_ms <= 0)
		o->connect_timeout_ms = 10000;
	o->cuda_version = CUDART_VERSION;
	o->program = shim_program();
	shim.chunk = 4u << 20;
	if (chunk && vcuda_parse_size(chunk, &v) == 0 && v >= 4096 && v <= VCUDA_MAX_PAYLOAD)
		shim.chunk = (size_t)v;
	else if (chunk)
		VWARN(shim, "ignoring VCUDA_CHUNK_SIZE=%s (4K to 4M)", chunk);
}

/* At exit, what the program launched last finishes and what it printed is
 * shown, as when CUDA tears its context down. */
static void shim_at_exit(void)
{
	Vcuda__CtxSynchronize m = VCUDA__CTX_SYNCHRONIZE__INIT;

	if (!shim.client || vcuda_client_lost(shim.client))
		return;
	SHIM_REQUEST(rq, CTX_SYNCHRONIZE, ctx_synchronize, m);
	shim_call(&rq, NULL, 0, 0, NULL, 0, NULL);
}

/*
 * What vcuda itself provides, whatever the device says: a program reads
 * these to choose its path, and must not take one that fails. Textures and
 * surfaces are there within the sizes below (2D and 3D, layered; no cubemaps
 * or mipmaps); IPC and the driver's own memory management are not remoted;
 * memory pools and host registration are, managed memory is (without
 * concurrent access: shim/managed.c), and mapped memory where the session
 * shares memory with its worker (shm://).
 */
static const struct {
	int attr, value;
} attribute_overrides[] = {
    {CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY, 1},
    {CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS, 0},
    {CU_DEVICE_ATTRIBUTE_DIRECT_MANAGED_MEM_ACCESS_FROM_HOST, 0},
    {CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS, 0},
    {CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS_USES_HOST_PAGE_TABLES, 0},
    {CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM, 0},
    {CU_DEVICE_ATTRIBUTE_HOST_NATIVE_ATOMIC_SUPPORTED, 0},
    {CU_DEVICE_ATTRIBUTE_HOST_REGISTER_SUPPORTED, 1},
    {CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED, 1},
    {CU_DEVICE_ATTRIBUTE_MEMPOOL_SUPPORTED_HANDLE_TYPES, 0},
    {CU_DEVICE_ATTRIBUTE_IPC_EVENT_SUPPORTED, 0},
    {CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, 0},
    {CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED, 0},
    {CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_SUPPORTED, 0},
    {CU_DEVICE_ATTRIBUTE_COOPERATIVE_MULTI_DEVICE_LAUNCH, 0},
    {CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH, 0},
    {CU_DEVICE_ATTRIBUTE_DEFERRED_MAPPING_CUDA_ARRAY_SUPPORTED, 0},
    {CU_DEVICE_ATTRIBUTE_TIMELINE_SEMAPHORE_INTEROP_SUPPORTED, 0},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE1D_LAYERED_LAYERS, 2048},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE1D_LAYERED_WIDTH, 32768},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE1D_WIDTH, 32768},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE2D_HEIGHT, 65536},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE2D_LAYERED_HEIGHT, 32768},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE2D_LAYERED_LAYERS, 2048},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE2D_LAYERED_WIDTH, 32768},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE2D_WIDTH, 65536},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE3D_DEPTH, 4096},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE3D_HEIGHT, 4096},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACE3D_WIDTH, 4096},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACECUBEMAP_LAYERED_LAYERS, 0},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACECUBEMAP_LAYERED_WIDTH, 0},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_SURFACECUBEMAP_WIDTH, 0},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_LAYERED_LAYERS, 2048},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_LAYERED_WIDTH, 32768},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_LINEAR_WIDTH, 134217728},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_MIPMAPPED_WIDTH, 0},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_WIDTH, 65536},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_ARRAY_HEIGHT, 32768},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_ARRAY_NUMSLICES, 2048},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_ARRAY_WIDTH, 32768},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_GATHER_HEIGHT, 32768},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_GATHER_WIDTH, 32768},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_HEIGHT, 65536},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LAYERED_HEIGHT, 32768},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LAYERED_LAYERS, 2048},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LAYERED_WIDTH, 32768},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LINEAR_HEIGHT, 65536},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LINEAR_PITCH, 2097120},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LINEAR_WIDTH, 65536},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_MIPMAPPED_HEIGHT, 0},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_MIPMAPPED_WIDTH, 0},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_WIDTH, 65536},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_DEPTH, 4096},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_DEPTH_ALTERNATE, 0},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_HEIGHT, 4096},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_HEIGHT_ALTERNATE, 0},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_WIDTH, 4096},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_WIDTH_ALTERNATE, 0},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURECUBEMAP_LAYERED_LAYERS, 0},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURECUBEMAP_LAYERED_WIDTH, 0},
    {CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURECUBEMAP_WIDTH, 0},
};

/* Applies the table to the attributes the worker sent, once: looking an
 * attribute up stays one load (launches check several). */
static void shim_override_attributes(Vcuda__DeviceInfo *d)
{
	for (size_t i = 0; i < sizeof(attribute_overrides) / sizeof(*attribute_overrides); i++)
		if ((size_t)attribute_overrides[i].attr < d->n_attributes)
			d->attributes[attribute_overrides[i].attr] = attribute_overrides[i].value;
	/* Host memory can be mapped where it is shared with the worker. */
	if (CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY < d->n_attributes)
		d->attributes[CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY] =
		    vcuda_client_has_heap(shim.client);
}

static void shim_connect(void)
{
	struct vcuda_client_opts o;
	const Vcuda__AttachReply *info;
	char why[512] = "";
	int rc;

	vcuda_log_init("vcuda", VCUDA_LEVEL_WARN, NULL);
	vcuda_rangemap_init(&shim.dmem);
	vcuda_rangemap_init(&shim.hmem);
	vcuda_rangemap_init(&shim.handles);
	shim_configure(&o);
	if (!o.url || !*o.url) {
		VERR(shim,
		     "VCUDA_SERVER is not set: say which vcudad to use "
		     "(e.g. VCUDA_SERVER=ipc:///run/vcuda/sock) or run the program with vcuda-run");
		shim.init_error = cudaErrorNoDevice;
		return;
	}
	rc = vcuda_client_connect(&o, &shim.client, why, sizeof(why));
	if (rc) {
		VERR(shim, "no CUDA device: %s", why);
		shim.init_error =
		    rc == VCUDA_E_VERSION ? cudaErrorInsufficientDriver : cudaErrorNoDevice;
		return;
	}
	info = vcuda_client_info(shim.client);
	shim.driver_version = info->driver_version;
	shim.ndevices =
	    info->n_devices > SHIM_MAX_DEVICES ? SHIM_MAX_DEVICES : (int)info->n_devices;
	for (int i = 0; i < shim.ndevices; i++) {
		shim.devices[i] = info->devices[i];
		shim_override_attributes(info->devices[i]);
	}
	VDEBUG(shim, "connected to %s: %s backend, %d device(s)", o.url, info->backend,
	       shim.ndevices);
	atexit(shim_at_exit);
}

cudaError_t shim_init(void)
{
	pthread_once(&shim_once, shim_connect);
	return shim.init_error;
}

cudaError_t shim_begin(void)
{
	cudaError_t e = shim_init();

	if (e == cudaSuccess)
		e = (cudaError_t)__atomic_load_n(&shim.sticky, __ATOMIC_RELAXED);
	return e;
}

cudaError_t shim_ret(cudaError_t e)
{
	if (e != cudaSuccess)
		shim_last_error = e;
	return e;
}

/* CUresults after which a context is unusable, as CUDA makes them sticky. */
static int shim_is_sticky(int cu)
{
	switch (cu) {
	case 700:
	case 702: /* a launch timeout: the context must be destroyed, as after a fault */
	case 710:
	case 714:
	case 715:
	case 716:
	case 717:
	case 718:
	case 719:
		return 1;
	}
	return 0;
}

static cudaError_t shim_result(int cu)
{
	cudaError_t e = (cudaError_t)vcuda_cu_to_cudart(cu);

	if (shim_is_sticky(cu))
		__atomic_store_n(&shim.sticky, (int)e, __ATOMIC_RELAXED);
	return e;
}

static cudaError_t shim_transport_error(int rc)
{
	if (rc == VCUDA_E_PEER_LOST) {
		__atomic_store_n(&shim.sticky, SHIM_LOST_ERROR, __ATOMIC_RELAXED);
		return SHIM_LOST_ERROR;
	}
	return rc == VCUDA_E_NOMEM ? cudaErrorMemoryAllocation : cudaErrorUnknown;
}

cudaError_t shim_call(Vcuda__Request *rq, const void *payload, size_t len, unsigned flags,
		      void *recv, size_t recv_len, Vcuda__Reply **reply)
{
	struct vcuda_recv to = {.dst = recv, .len = recv_len};

	return shim_call_into(rq, payload, len, flags, &to, reply);
}

cudaError_t shim_call_into(Vcuda__Request *rq, const void *payload, size_t len, unsigned flags,
			   const struct vcuda_recv *recv, Vcuda__Reply **reply)
{
	Vcuda__Reply *rp = NULL;
	cudaError_t e;
	int rc;

	shim_managed_before(rq);
	rc = vcuda_client_call_into(shim.client, rq, payload, len, flags, recv, &rp);
	shim_managed_after(rq);
	if (rc)
		return shim_transport_error(rc);
	if (rp->deferred) {
		/* An earlier posted call failed. It is not this call's result
		 * (a cudaMalloc that succeeded must say so, or its memory would
		 * be lost): it becomes the last error, and the next
		 * synchronizing call reports it. */
		shim_ret(shim_result(rp->deferred));
		__atomic_store_n(&shim.async_error, rp->deferred, __ATOMIC_RELAXED);
	}
	if (rp->status)
		e = rp->status == VCUDA_E_PROTO ? cudaErrorNotSupported : cudaErrorUnknown;
	else
		e = shim_result(rp->result);
	/* What the device printed belongs on the program's own stdout; a
	 * failed assertion's message, which comes first, on its stderr. */
	if (rp->output.len) {
		size_t err = rp->errput_len < rp->output.len ? rp->errput_len : rp->output.len;
		if (err) {
			fwrite(rp->output.data, 1, err, stderr);
			fflush(stderr);
		}
		if (rp->output.len > err) {
			fwrite(rp->output.data + err, 1, rp->output.len - err, stdout);
			fflush(stdout);
		}
	}
	if (reply)
		*reply = rp;
	else
		vcuda_client_reply_free(rp);
	return e;
}

cudaError_t shim_call_sync(Vcuda__Request *rq, const void *payload, size_t len, unsigned flags,
			   void *recv, size_t recv_len, Vcuda__Reply **reply)
{
	cudaError_t e = shim_call(rq, payload, len, flags, recv, recv_len, reply);
	int pending;

	if (e != cudaSuccess)
		return e;
	pending = __atomic_exchange_n(&shim.async_error, 0, __ATOMIC_RELAXED);
	return pending ? shim_result(pending) : e;
}

cudaError_t shim_post(Vcuda__Request *rq, const void *payload, size_t len, unsigned flags,
		      void *recv, size_t recv_len)
{
	struct vcuda_recv to = {.dst = recv, .len = recv_len};

	return shim_post_into(rq, payload, len, flags, &to);
}

cudaError_t shim_post_into(Vcuda__Request *rq, const void *payload, size_t len, unsigned flags,
			   const struct vcuda_recv *recv)
{
	int rc;

	shim_managed_before(rq);
	rc = vcuda_client_post_into(shim.client, rq, payload, len, flags, recv);
	shim_managed_after(rq);
	return rc ? shim_transport_error(rc) : cudaSuccess;
}

uint32_t shim_thread_id(void)
{
	static uint32_t next;
	static __thread uint32_t id;

	if (!id)
		id = __atomic_add_fetch(&next, 1, __ATOMIC_RELAXED);
	return id;
}

uint64_t shim_stream_id(cudaStream_t s, int per_thread)
{
	if (s == NULL)
		return per_thread ? 2 : 0;
	return (uint64_t)(uintptr_t)s;
}

void shim_handle_add(uint64_t id, int device)
{
	struct vcuda_range r = {.base = id, .size = 1, .tag = (uint64_t)device};

	pthread_mutex_lock(&shim.lock);
	vcuda_rangemap_insert(&shim.handles, &r);
	pthread_mutex_unlock(&shim.lock);
}

void shim_handle_remove(uint64_t id)
{
	pthread_mutex_lock(&shim.lock);
	vcuda_rangemap_remove(&shim.handles, id, NULL);
	pthread_mutex_unlock(&shim.lock);
}

void shim_handles_forget(int device)
{
	pthread_mutex_lock(&shim.lock);
	for (size_t i = shim.handles.n; i-- > 0;)
		if (shim.handles.r[i].tag == (uint64_t)device)
			vcuda_rangemap_remove(&shim.handles, shim.handles.r[i].base, NULL);
	pthread_mutex_unlock(&shim.lock);
}

/* Whether id is a live handle of this type (the server's ids carry their
 * type in the top byte). */
static int shim_handle_known(uint64_t id, enum vcuda_handle_type type)
{
	int known;

	if (id >> 56 != (uint64_t)type)
		return 0;
	pthread_mutex_lock(&shim.lock);
	known = vcuda_rangemap_find(&shim.handles, id) != NULL;
	pthread_mutex_unlock(&shim.lock);
	return known;
}

cudaError_t shim_stream(cudaStream_t s, int per_thread, uint64_t *id)
{
	*id = shim_stream_id(s, per_thread);
	if (*id <= 2 || shim_handle_known(*id, VCUDA_HT_STREAM))
		return cudaSuccess;
	return cudaErrorInvalidResourceHandle;
}

cudaError_t shim_event(cudaEvent_t ev, uint64_t *id)
{
	*id = (uint64_t)(uintptr_t)ev;
	return shim_handle_known(*id, VCUDA_HT_EVENT) ? cudaSuccess
						      : cudaErrorInvalidResourceHandle;
}

int shim_attribute(int device, int attr)
{
	const Vcuda__DeviceInfo *d;

	if (device < 0 || device >= shim.ndevices || attr < 0)
		return -1;
	d = shim.devices[device];
	return (size_t)attr < d->n_attributes ? d->attributes[attr] : -1;
}

int vcuda_unimplemented(const char *name, int *warned)
{
	if (!__atomic_exchange_n(warned, 1, __ATOMIC_RELAXED))
		VWARN(shim,
		      "FIXME: %s is not implemented by vcuda yet; it returns cudaErrorNotSupported",
		      name);
	return (int)shim_ret(cudaErrorNotSupported);
}

/* ---- errors ------------------------------------------------------------------ */

/* As CUDA 13's runtime (seen on an H200): the last error is cleared even
 * when it is a sticky one; every other call still returns the sticky
 * error, which records it again. */
cudaError_t cudaGetLastError(void)
{
	cudaError_t e = shim_last_error;

	shim_last_error = cudaSuccess;
	return e;
}

cudaError_t cudaPeekAtLastError(void)
{
	return shim_last_error;
}

const char *cudaGetErrorName(cudaError_t e)
{
	const char *s = vcuda_cudart_error_name((int)e);

	return s ? s : "cudaErrorUnknown";
}

const char *cudaGetErrorString(cudaError_t e)
{
	const char *s = vcuda_cudart_error_string((int)e);

	return s ? s : "unrecognized error code";
}
