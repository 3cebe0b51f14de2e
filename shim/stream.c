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
	m.flags = flags;
	SHIM_REQUEST(rq, EVENT_CREATE, event_create, m);
	return shim_ret(stream_call_handle(&rq, (void **)pe));
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
