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
	return shim_ret(e);
}

static cudaError_t stream_synchronize(cudaStream_t s, int per_thread)
{
	Vcuda__StreamSynchronize m = VCUDA__STREAM_SYNCHRONIZE__INIT;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if ((e = shim_stream(s, per_thread, &m.stream)) != cudaSuccess)
		return shim_ret(e);
	SHIM_REQUEST(rq, STREAM_SYNCHRONIZE, stream_synchronize, m);
	return shim_ret(shim_call_sync(&rq, NULL, 0, 0, NULL, 0, NULL));
}

cudaError_t cudaStreamSynchronize(cudaStream_t s)
{
	return stream_synchronize(s, 0);
}

cudaError_t cudaStreamSynchronize_ptsz(cudaStream_t s)
{
	return stream_synchronize(s, 1);
}

/* cudaErrorNotReady is an answer, not an error: it is not recorded. */
static cudaError_t stream_query(cudaStream_t s, int per_thread)
{
	Vcuda__StreamQuery m = VCUDA__STREAM_QUERY__INIT;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if ((e = shim_stream(s, per_thread, &m.stream)) != cudaSuccess)
		return shim_ret(e);
	SHIM_REQUEST(rq, STREAM_QUERY, stream_query, m);
	e = shim_call_sync(&rq, NULL, 0, 0, NULL, 0, NULL);
	return e == cudaErrorNotReady ? e : shim_ret(e);
}

cudaError_t cudaStreamQuery(cudaStream_t s)
{
	return stream_query(s, 0);
}

cudaError_t cudaStreamQuery_ptsz(cudaStream_t s)
{
	return stream_query(s, 1);
}

static cudaError_t stream_wait_event(cudaStream_t s, cudaEvent_t ev, unsigned int flags,
				     int per_thread)
{
	Vcuda__StreamWaitEvent m = VCUDA__STREAM_WAIT_EVENT__INIT;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if ((e = shim_stream(s, per_thread, &m.stream)) != cudaSuccess ||
	    (e = shim_event(ev, &m.event)) != cudaSuccess)
		return shim_ret(e);
	m.flags = flags;
	SHIM_REQUEST(rq, STREAM_WAIT_EVENT, stream_wait_event, m);
	return shim_ret(shim_post(&rq, NULL, 0, 0, NULL, 0));
}

cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t ev, unsigned int flags)
{
	return stream_wait_event(s, ev, flags, 0);
}

cudaError_t cudaStreamWaitEvent_ptsz(cudaStream_t s, cudaEvent_t ev, unsigned int flags)
{
	return stream_wait_event(s, ev, flags, 1);
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

static cudaError_t event_record(cudaEvent_t ev, cudaStream_t s, unsigned int flags, int per_thread)
{
	Vcuda__EventRecord m = VCUDA__EVENT_RECORD__INIT;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if ((e = shim_event(ev, &m.event)) != cudaSuccess ||
	    (e = shim_stream(s, per_thread, &m.stream)) != cudaSuccess)
		return shim_ret(e);
	m.flags = flags;
	SHIM_REQUEST(rq, EVENT_RECORD, event_record, m);
	return shim_ret(shim_post(&rq, NULL, 0, 0, NULL, 0));
}

cudaError_t cudaEventRecord(cudaEvent_t ev, cudaStream_t s)
{
	return event_record(ev, s, 0, 0);
}

cudaError_t cudaEventRecord_ptsz(cudaEvent_t ev, cudaStream_t s)
{
	return event_record(ev, s, 0, 1);
}

cudaError_t cudaEventRecordWithFlags(cudaEvent_t ev, cudaStream_t s, unsigned int flags)
{
	return event_record(ev, s, flags, 0);
}

cudaError_t cudaEventRecordWithFlags_ptsz(cudaEvent_t ev, cudaStream_t s, unsigned int flags)
{
	return event_record(ev, s, flags, 1);
}

cudaError_t cudaEventSynchronize(cudaEvent_t ev)
{
	Vcuda__EventSynchronize m = VCUDA__EVENT_SYNCHRONIZE__INIT;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if ((e = shim_event(ev, &m.event)) != cudaSuccess)
		return shim_ret(e);
	SHIM_REQUEST(rq, EVENT_SYNCHRONIZE, event_synchronize, m);
	return shim_ret(shim_call_sync(&rq, NULL, 0, 0, NULL, 0, NULL));
}

cudaError_t cudaEventQuery(cudaEvent_t ev)
{
	Vcuda__EventQuery m = VCUDA__EVENT_QUERY__INIT;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if ((e = shim_event(ev, &m.event)) != cudaSuccess)
		return shim_ret(e);
	SHIM_REQUEST(rq, EVENT_QUERY, event_query, m);
	e = shim_call_sync(&rq, NULL, 0, 0, NULL, 0, NULL);
	return e == cudaErrorNotReady ? e : shim_ret(e);
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end)
{
	Vcuda__EventElapsedTime m = VCUDA__EVENT_ELAPSED_TIME__INIT;
	Vcuda__Reply *rp = NULL;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!ms)
		return shim_ret(cudaErrorInvalidValue);
	if ((e = shim_event(start, &m.start)) != cudaSuccess ||
	    (e = shim_event(end, &m.end)) != cudaSuccess)
		return shim_ret(e);
	SHIM_REQUEST(rq, EVENT_ELAPSED_TIME, event_elapsed_time, m);
	e = shim_call(&rq, NULL, 0, 0, NULL, 0, &rp);
	if (e == cudaSuccess && rp && rp->ret_case == VCUDA__REPLY__RET_ELAPSED)
		*ms = rp->elapsed->ms;
	vcuda_client_reply_free(rp);
	return shim_ret(e);
}
