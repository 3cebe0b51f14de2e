/* The CPU device: streams and events. Work runs at submission (emu.h). */
#include "config.h"

#include <stdlib.h>

#include "emu.h"
#include "util.h"

enum { OBJ_STREAM = 1, OBJ_EVENT = 2 };

/* Live streams and events, as one-byte ranges at their addresses. */
static struct vcuda_rangemap objects;

static int object_add(void *obj, int type, struct CUctx_st *ctx)
{
	struct vcuda_range r = {
	    .base = (uintptr_t)obj, .size = 1, .tag = (uint64_t)type, .data = ctx};
	int rc;

	pthread_mutex_lock(&emu.lock);
	rc = vcuda_rangemap_insert(&objects, &r);
	pthread_mutex_unlock(&emu.lock);
	return rc;
}

static int object_valid(const void *obj, int type)
{
	const struct vcuda_range *r;
	int ok;

	pthread_mutex_lock(&emu.lock);
	r = vcuda_rangemap_find(&objects, (uintptr_t)obj);
	ok = r && r->base == (uintptr_t)obj && r->tag == (uint64_t)type;
	pthread_mutex_unlock(&emu.lock);
	return ok;
}

static int object_remove(void *obj, int type)
{
	struct vcuda_range r;
	int ok;

	pthread_mutex_lock(&emu.lock);
	ok = vcuda_rangemap_remove(&objects, (uintptr_t)obj, &r) == 0;
	if (ok && r.tag != (uint64_t)type) {
		vcuda_rangemap_insert(&objects, &r);
		ok = 0;
	}
	pthread_mutex_unlock(&emu.lock);
	return ok;
}

int emu_stream_valid(CUstream s)
{
	return s == NULL || s == CU_STREAM_LEGACY || s == CU_STREAM_PER_THREAD ||
	       object_valid(s, OBJ_STREAM);
}

void emu_streams_release_ctx(struct CUctx_st *ctx)
{
	pthread_mutex_lock(&emu.lock);
	for (size_t i = objects.n; i-- > 0;) {
		struct vcuda_range r = objects.r[i];
		if (r.data != ctx)
			continue;
		vcuda_rangemap_remove(&objects, r.base, NULL);
		free((void *)(uintptr_t)r.base);
	}
	pthread_mutex_unlock(&emu.lock);
}

CUresult cuStreamCreateWithPriority(CUstream *ps, unsigned int flags, int priority)
{
	struct CUctx_st *ctx;
	CUresult rc = emu_ctx_require(&ctx);
	struct CUstream_st *s;

	if (rc)
		return rc;
	if (!ps || (flags & ~(unsigned)CU_STREAM_NON_BLOCKING))
		return CUDA_ERROR_INVALID_VALUE;
	s = calloc(1, sizeof(*s));
	if (!s)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*s = (struct CUstream_st){.magic = EMU_STREAM_MAGIC,
				  .ctx = ctx,
				  .flags = flags,
				  /* CUDA clamps priorities into [-5, 0]. */
				  .priority = priority > 0    ? 0
					      : priority < -5 ? -5
							      : priority};
	if (object_add(s, OBJ_STREAM, ctx) != 0) {
		free(s);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*ps = s;
	return CUDA_SUCCESS;
}

CUresult cuStreamCreate(CUstream *ps, unsigned int flags)
{
	return cuStreamCreateWithPriority(ps, flags, 0);
}

CUresult cuStreamDestroy(CUstream s)
{
	CUresult rc = emu_check_init();

	if (rc)
		return rc;
	if (!s || !object_remove(s, OBJ_STREAM))
		return CUDA_ERROR_INVALID_HANDLE;
	free(s);
	return CUDA_SUCCESS;
}

static CUresult stream_check(CUstream s)
{
	struct CUctx_st *ctx;
	CUresult rc = emu_ctx_require(&ctx);

	if (rc)
		return rc;
	return emu_stream_valid(s) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

CUresult cuStreamSynchronize(CUstream s)
{
	return stream_check(s);
}

CUresult cuStreamQuery(CUstream s)
{
	return stream_check(s);
}

CUresult cuStreamGetFlags(CUstream s, unsigned int *flags)
{
	CUresult rc = stream_check(s);

	if (rc)
		return rc;
	if (!flags)
		return CUDA_ERROR_INVALID_VALUE;
	*flags = (s && s != CU_STREAM_LEGACY && s != CU_STREAM_PER_THREAD) ? s->flags : 0;
	return CUDA_SUCCESS;
}

CUresult cuStreamGetPriority(CUstream s, int *priority)
{
	CUresult rc = stream_check(s);

	if (rc)
		return rc;
	if (!priority)
		return CUDA_ERROR_INVALID_VALUE;
	*priority = (s && s != CU_STREAM_LEGACY && s != CU_STREAM_PER_THREAD) ? s->priority : 0;
	return CUDA_SUCCESS;
}

CUresult cuCtxGetStreamPriorityRange(int *least, int *greatest)
{
	struct CUctx_st *ctx;
	CUresult rc = emu_ctx_require(&ctx);

	if (rc)
		return rc;
	if (least)
		*least = 0;
	if (greatest)
		*greatest = -5;
	return CUDA_SUCCESS;
}

CUresult cuStreamWaitEvent(CUstream s, CUevent e, unsigned int flags)
{
	CUresult rc = stream_check(s);

	if (rc)
		return rc;
	if (!e || !object_valid(e, OBJ_EVENT))
		return CUDA_ERROR_INVALID_HANDLE;
	return flags & ~(unsigned)CU_EVENT_WAIT_EXTERNAL ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
}

CUresult cuEventCreate(CUevent *pe, unsigned int flags)
{
	struct CUctx_st *ctx;
	CUresult rc = emu_ctx_require(&ctx);
	unsigned int known =
	    CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING | CU_EVENT_INTERPROCESS;
	struct CUevent_st *e;

	if (rc)
		return rc;
	if (!pe || (flags & ~known))
		return CUDA_ERROR_INVALID_VALUE;
	if ((flags & CU_EVENT_INTERPROCESS) && !(flags & CU_EVENT_DISABLE_TIMING))
		return CUDA_ERROR_INVALID_VALUE;
	e = calloc(1, sizeof(*e));
	if (!e)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*e = (struct CUevent_st){.magic = EMU_EVENT_MAGIC, .ctx = ctx, .flags = flags};
	if (object_add(e, OBJ_EVENT, ctx) != 0) {
		free(e);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*pe = e;
	return CUDA_SUCCESS;
}

CUresult cuEventDestroy(CUevent e)
{
	CUresult rc = emu_check_init();

	if (rc)
		return rc;
	if (!e || !object_remove(e, OBJ_EVENT))
		return CUDA_ERROR_INVALID_HANDLE;
	free(e);
	return CUDA_SUCCESS;
}

CUresult cuEventRecordWithFlags(CUevent e, CUstream s, unsigned int flags)
{
	CUresult rc = stream_check(s);

	if (rc)
		return rc;
	if (!e || !object_valid(e, OBJ_EVENT))
		return CUDA_ERROR_INVALID_HANDLE;
	if (flags & ~(unsigned)CU_EVENT_RECORD_EXTERNAL)
		return CUDA_ERROR_INVALID_VALUE;
	e->time_ns = vcuda_now_ns();
	e->recorded = 1;
	return CUDA_SUCCESS;
}

CUresult cuEventRecord(CUevent e, CUstream s)
{
	return cuEventRecordWithFlags(e, s, 0);
}

static CUresult event_check(CUevent e)
{
	CUresult rc = emu_check_init();

	if (rc)
		return rc;
	return (e && object_valid(e, OBJ_EVENT)) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

/* An event that was never recorded counts as complete, as in CUDA. */
CUresult cuEventQuery(CUevent e)
{
	return event_check(e);
}

CUresult cuEventSynchronize(CUevent e)
{
	return event_check(e);
}

CUresult cuEventElapsedTime(float *ms, CUevent start, CUevent end)
{
	CUresult rc = event_check(start);

	if (rc || (rc = event_check(end)) != CUDA_SUCCESS)
		return rc;
	if (!ms)
		return CUDA_ERROR_INVALID_VALUE;
	if ((start->flags | end->flags) & CU_EVENT_DISABLE_TIMING)
		return CUDA_ERROR_INVALID_HANDLE;
	if (!start->recorded || !end->recorded)
		return CUDA_ERROR_INVALID_HANDLE;
	*ms = (float)((double)((int64_t)(end->time_ns - start->time_ns)) / 1e6);
	return CUDA_SUCCESS;
}
