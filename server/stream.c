/* Server handlers: streams and events, named to the guest by handle ids. */
#include "config.h"

#include <stdlib.h>

#include "log.h"
#include "session.h"

/*
 * Each guest thread's per-thread default stream is a stream of its own on
 * the server (a blocking one: it synchronizes with the legacy default stream,
 * as CUDA's does). Past SESSION_THREAD_STREAMS threads, or when creating
 * one fails, the worker's own per-thread stream serves them together.
 */
static CUstream stream_per_thread(struct session *s, const Vcuda__Request *rq)
{
	struct session_thread_stream *t;

	if (rq->thread == 0)
		return CU_STREAM_PER_THREAD;
	for (int i = 0; i < s->nthread_streams; i++)
		if (s->thread_streams[i].thread == rq->thread &&
		    s->thread_streams[i].device == rq->device)
			return s->thread_streams[i].s;
	if (s->nthread_streams == SESSION_THREAD_STREAMS)
		return CU_STREAM_PER_THREAD;
	t = &s->thread_streams[s->nthread_streams];
	if (s->be->cuStreamCreateWithPriority(&t->s, 0, 0) != CUDA_SUCCESS)
		return CU_STREAM_PER_THREAD;
	t->thread = rq->thread;
	t->device = rq->device;
	s->nthread_streams++;
	VDEBUG(server, "%s: per-thread default stream for guest thread %u on device %d", s->peer,
	       rq->thread, rq->device);
	return t->s;
}

CUresult session_stream(struct session *s, const Vcuda__Request *rq, uint64_t id, CUstream *out)
{
	struct session_stream *st;

	switch (id) {
	case 0:
		*out = NULL;
		return CUDA_SUCCESS;
	case 1:
		*out = CU_STREAM_LEGACY;
		return CUDA_SUCCESS;
	case 2:
		*out = stream_per_thread(s, rq);
		return CUDA_SUCCESS;
	}
	st = vcuda_handle_get(&s->handles, VCUDA_HT_STREAM, id);
	if (!st)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_HANDLE, "unknown stream");
	if (st->device != rq->device)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_HANDLE, "stream of another device");
	*out = st->s;
	return CUDA_SUCCESS;
}

CUresult session_event(struct session *s, const Vcuda__Request *rq, uint64_t id, CUevent *out)
{
	struct session_event *ev = vcuda_handle_get(&s->handles, VCUDA_HT_EVENT, id);

	if (!ev)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_HANDLE, "unknown event");
	*out = ev->e;
	return CUDA_SUCCESS;
}

/*
 * cudaStreamGetDevice. The session knows the device of every stream it
 * named to the guest (and of the default streams: the request's), so the
 * answer needs no driver call, which the CPU device does not have and
 * drivers before CUDA 12.8 lack.
 */
CUresult srv_scalar_stream_get_device(struct session *s, const Vcuda__Request *rq,
				      union session_arg *v)
{
	uint64_t id = rq->scalar->args[0];
	const struct session_stream *st =
	    id > 2 ? vcuda_handle_get(&s->handles, VCUDA_HT_STREAM, id) : NULL;

	*(int *)v[1].ptr = st ? st->device : rq->device;
	return CUDA_SUCCESS;
}

CUresult srv_stream_create(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
			   struct session_reply *out)
{
	struct session_stream *st = calloc(1, sizeof(*st));
	CUresult rc;

	if (!st)
		return CUDA_ERROR_OUT_OF_MEMORY;
	st->device = rq->device;
	st->flags = rq->stream_create->flags;
	st->priority = rq->stream_create->priority;
	rc = s->be->cuStreamCreateWithPriority(&st->s, rq->stream_create->flags,
					       rq->stream_create->priority);
	if (rc == CUDA_SUCCESS &&
	    (rc = session_reply_handle(s, rq, VCUDA_HT_STREAM, st, out)) != CUDA_SUCCESS)
		s->be->cuStreamDestroy(st->s);
	if (rc != CUDA_SUCCESS)
		free(st);
	return rc;
}

CUresult srv_stream_destroy(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
			    struct session_reply *out)
{
	struct session_stream *st =
	    vcuda_handle_free(&s->handles, VCUDA_HT_STREAM, rq->stream_destroy->stream);
	CUresult rc;

	if (!st)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_HANDLE, "unknown stream");
	rc = s->be->cuStreamDestroy(st->s);
	free(st);
	return rc;
}

CUresult session_event_new(struct session *s, const Vcuda__Request *rq, unsigned flags,
			   unsigned driver_flags, struct session_reply *out)
{
	struct session_event *ev = calloc(1, sizeof(*ev));
	CUresult rc;

	if (!ev)
		return CUDA_ERROR_OUT_OF_MEMORY;
	ev->device = rq->device;
	ev->flags = flags;
	rc = s->be->cuEventCreate(&ev->e, driver_flags);
	if (rc == CUDA_SUCCESS &&
	    (rc = session_reply_handle(s, rq, VCUDA_HT_EVENT, ev, out)) != CUDA_SUCCESS)
		s->be->cuEventDestroy(ev->e);
	if (rc != CUDA_SUCCESS)
		free(ev);
	return rc;
}

CUresult srv_event_create(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
			  struct session_reply *out)
{
	(void)m;
	return session_event_new(s, rq, rq->event_create->flags, rq->event_create->flags, out);
}

CUresult srv_event_destroy(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
			   struct session_reply *out)
{
	struct session_event *ev =
	    vcuda_handle_free(&s->handles, VCUDA_HT_EVENT, rq->event_destroy->event);
	CUresult rc;

	if (!ev)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_HANDLE, "unknown event");
	rc = s->be->cuEventDestroy(ev->e);
	free(ev);
	return rc;
}
