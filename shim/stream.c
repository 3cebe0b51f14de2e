/* Runtime API: streams and events. Their handles are the server's ids. */
#include "config.h"

#include "shim.h"

/* A call that creates an object: the server's handle id becomes the
 * guest's handle value. */
static cudaError_t stream_call_handle(Vcuda__Request *rq, void **out)
{
	Vcuda__Reply *rp = NULL;
	cudaError_t e = shim_call(rq, NULL, 0, 0, NULL, 0, &rp);

	if (e == cudaSuccess && (!rp || rp->ret_case != VCUDA__REPLY__RET_HANDLE))
		e = cudaErrorUnknown;
	if (e == cudaSuccess) {
		*out = (void *)(uintptr_t)rp->handle->handle;
		shim_handle_add(rp->handle->handle, shim_device);
	}
	vcuda_client_reply_free(rp);
	return e;
}

static cudaError_t stream_create(cudaStream_t *ps, unsigned int flags, int priority)
{
	Vcuda__StreamCreate m = VCUDA__STREAM_CREATE__INIT;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!ps || (flags & ~(unsigned)cudaStreamNonBlocking))
		return shim_ret(cudaErrorInvalidValue);
	m.flags = flags;
	m.priority = priority;
	SHIM_REQUEST(rq, STREAM_CREATE, stream_create, m);
	return shim_ret(stream_call_handle(&rq, (void **)ps));
}

cudaError_t cudaStreamCreate(cudaStream_t *ps)
{
	return stream_create(ps, cudaStreamDefault, 0);
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *ps, unsigned int flags)
{
	return stream_create(ps, flags, 0);
}

cudaError_t cudaStreamCreateWithPriority(cudaStream_t *ps, unsigned int flags, int priority)
{
	return stream_create(ps, flags, priority);
}

cudaError_t cudaStreamDestroy(cudaStream_t s)
{
	Vcuda__StreamDestroy m = VCUDA__STREAM_DESTROY__INIT;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (s == NULL || s == cudaStreamLegacy || s == cudaStreamPerThread ||
	    shim_stream(s, 0, &m.stream) != cudaSuccess)
		return shim_ret(cudaErrorInvalidResourceHandle);
	SHIM_REQUEST(rq, STREAM_DESTROY, stream_destroy, m);
	e = shim_call(&rq, NULL, 0, 0, NULL, 0, NULL);
	shim_handle_remove(m.stream);
	shim_stream_attrs_forget(m.stream);
	return shim_ret(e);
}

/* ---- events ------------------------------------------------------------------ */

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *pe, unsigned int flags)
{
	Vcuda__EventCreate m = VCUDA__EVENT_CREATE__INIT;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!pe)
		return shim_ret(cudaErrorInvalidValue);
	/* An interprocess event keeps no time (CUDA asks for both flags). */
	if ((flags & cudaEventInterprocess) && !(flags & cudaEventDisableTiming))
		return shim_ret(cudaErrorInvalidValue);
	m.flags = flags;
	SHIM_REQUEST(rq, EVENT_CREATE, event_create, m);
	e = stream_call_handle(&rq, (void **)pe);
	if (e == cudaSuccess && (flags & cudaEventInterprocess))
		shim_event_interprocess_add((uintptr_t)*pe);
	return shim_ret(e);
}

/* ---- IPC events ------------------------------------------------------------------ */

/* The interprocess events this process made: their records are waited
 * for (shim_scalar), so that another process that opened the event finds
 * the work before each record done. */
static pthread_mutex_t ipc_ev_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vcuda_rangemap ipc_events;

void shim_event_interprocess_add(uint64_t id)
{
	struct vcuda_range r = {.base = id, .size = 1};

	pthread_mutex_lock(&ipc_ev_lock);
	vcuda_rangemap_insert(&ipc_events, &r);
	pthread_mutex_unlock(&ipc_ev_lock);
}

int shim_event_interprocess(uint64_t id)
{
	int yes;

	pthread_mutex_lock(&ipc_ev_lock);
	yes = ipc_events.n && vcuda_rangemap_find(&ipc_events, id) != NULL;
	pthread_mutex_unlock(&ipc_ev_lock);
	return yes;
}

cudaError_t cudaIpcGetEventHandle(cudaIpcEventHandle_t *handle, cudaEvent_t ev)
{
	Vcuda__IpcGetEventHandle m = VCUDA__IPC_GET_EVENT_HANDLE__INIT;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!handle)
		return shim_ret(cudaErrorInvalidValue);
	if ((e = shim_event(ev, &m.event)) != cudaSuccess)
		return shim_ret(e);
	SHIM_REQUEST(rq, IPC_GET_EVENT_HANDLE, ipc_get_event_handle, m);
	return shim_ret(shim_ipc_handle(&rq, handle->reserved));
}

cudaError_t cudaIpcOpenEventHandle(cudaEvent_t *ev, cudaIpcEventHandle_t handle)
{
	Vcuda__IpcOpenEventHandle m = VCUDA__IPC_OPEN_EVENT_HANDLE__INIT;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!ev)
		return shim_ret(cudaErrorInvalidValue);
	m.handle.data = (uint8_t *)handle.reserved;
	m.handle.len = sizeof(handle.reserved);
	SHIM_REQUEST(rq, IPC_OPEN_EVENT_HANDLE, ipc_open_event_handle, m);
	return shim_ret(stream_call_handle(&rq, (void **)ev));
}

cudaError_t cudaEventCreate(cudaEvent_t *pe)
{
	return cudaEventCreateWithFlags(pe, cudaEventDefault);
}

cudaError_t cudaEventDestroy(cudaEvent_t ev)
{
	Vcuda__EventDestroy m = VCUDA__EVENT_DESTROY__INIT;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if ((e = shim_event(ev, &m.event)) != cudaSuccess)
		return shim_ret(e);
	SHIM_REQUEST(rq, EVENT_DESTROY, event_destroy, m);
	e = shim_call(&rq, NULL, 0, 0, NULL, 0, NULL);
	shim_handle_remove(m.event);
	return shim_ret(e);
}
