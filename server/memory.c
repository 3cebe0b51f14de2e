/*
 * Server handlers: memory. Every device pointer a guest sends is checked
 * against the session's own allocations before the backend sees it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "session.h"
#include "wire.h"

/* Whether [p, p + n) lies inside one of this session's allocations on dev. */
static int memory_owned(const struct session *s, uint64_t p, uint64_t n, int dev)
{
	const struct vcuda_range *r = vcuda_rangemap_find_span(&s->mem, p, n);

	return r && (int)r->tag == dev;
}

void session_quota_credit(struct session *s, uint64_t bytes)
{
	for (int i = 0; i < 2; i++)
		if (s->quota[i])
			vcuda_budget_credit(s->quota[i], s->quota_slot, bytes);
}

int session_quota_charge(struct session *s, uint64_t bytes, const char *what)
{
	for (int i = 0; i < 2; i++) {
		struct vcuda_budget *b = s->quota[i];
		if (!b || vcuda_budget_charge(b, s->quota_slot, bytes) == 0)
			continue;
		VWARN(server,
		      "refused %s from %s: %llu bytes over client %s's %squota of %llu "
		      "(%llu in use)",
		      what, s->peer, (unsigned long long)bytes, s->client ? s->client : "?",
		      i ? "group's " : "",
		      (unsigned long long)__atomic_load_n(&b->limit, __ATOMIC_RELAXED),
		      (unsigned long long)__atomic_load_n(&b->used, __ATOMIC_RELAXED));
		if (i && s->quota[0])
			vcuda_budget_credit(s->quota[0], s->quota_slot, bytes);
		return -1;
	}
	return 0;
}

CUresult srv_mem_alloc(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
		       struct session_reply *out)
{
	uint64_t size = rq->mem_alloc->size;
	struct vcuda_range r;
	CUdeviceptr p;
	CUresult rc;

	if (size == 0)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE, "zero-byte allocation");
	if (session_quota_charge(s, size, "mem_alloc") != 0)
		return CUDA_ERROR_OUT_OF_MEMORY;
	if ((rc = s->be->cuMemAlloc(&p, (size_t)size)) != CUDA_SUCCESS) {
		session_quota_credit(s, size);
		return rc;
	}
	r = (struct vcuda_range){.base = p, .size = size, .tag = (uint64_t)rq->device};
	if (vcuda_rangemap_insert(&s->mem, &r) != 0) {
		s->be->cuMemFree(p);
		session_quota_credit(s, size);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	vcuda__mem_alloc_reply__init(&out->u.mem_alloc);
	out->u.mem_alloc.dptr = p;
	out->rp.ret_case = VCUDA__REPLY__RET_MEM_ALLOC;
	out->rp.mem_alloc = &out->u.mem_alloc;
	return CUDA_SUCCESS;
}

CUresult srv_mem_free(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
		      struct session_reply *out)
{
	uint64_t p = rq->mem_free->dptr;
	const struct vcuda_range *r = vcuda_rangemap_find(&s->mem, p);
	CUresult rc;

	if (!r || r->base != p || (int)r->tag != rq->device || r->data)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
				      "not the start of an allocation of this session");
	if ((rc = s->be->cuMemFree(p)) == CUDA_SUCCESS) {
		session_quota_credit(s, r->size);
		vcuda_rangemap_remove(&s->mem, p, NULL);
	}
	return rc;
}

CUresult srv_memcpy_htod(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
			 struct session_reply *out)
{
	const Vcuda__MemcpyHtoD *c = rq->memcpy_htod;
	CUstream st = NULL;
	CUresult rc;

	const void *src = m->payload;

	if (c->shared && !(src = session_shared(s, c->host_offset, c->size)))
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
				      "source outside the shared host memory");
	if (!c->shared && c->size != m->payload_len)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
				      "payload size differs from copy size");
	if (c->size == 0)
		return CUDA_SUCCESS;
	if (!memory_owned(s, c->dst, c->size, rq->device))
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
				      "destination outside the session's memory");
	if ((rc = session_stream(s, rq, c->stream, &st)) != CUDA_SUCCESS)
		return rc;
	if (s->sched)
		vcuda_sched_bytes(s->sched, s->sched_slot, c->size, 0);
	/* The payload is pageable memory, so an asynchronous copy is staged
	 * before the call returns and the message may then be released. From
	 * the shared heap, it is page-locked memory the guest keeps. */
	if (c->async)
		return s->be->cuMemcpyHtoDAsync(c->dst, src, c->size, st);
	return s->be->cuMemcpyHtoD(c->dst, src, c->size);
}

void *session_shared(struct session *s, uint64_t off, uint64_t n)
{
	size_t size;
	void *base, *p = vcuda_chan_heap_at(s->chan, off, n);

	/* On a GPU the heap is registered once, page-locked, so that the
	 * device's DMA reads and writes it directly. */
	if (p && !s->heap_registered && s->be->mem_host_register &&
	    strcmp(s->be->kind, "cuda") == 0 && (base = vcuda_chan_heap_base(s->chan, &size))) {
		s->heap_registered = 1;
		if (s->be->mem_host_register(base, size, CU_MEMHOSTREGISTER_PORTABLE) !=
		    CUDA_SUCCESS)
			VWARN(server,
			      "%s: the shared heap could not be page-locked; copies from "
			      "it are staged by the driver",
			      s->peer);
	}
	return p;
}

/* Ends a copy to the guest early: a last data message with no payload. */
static void memory_dtoh_abort(struct session *s, const Vcuda__Request *rq)
{
	Vcuda__Reply rp = VCUDA__REPLY__INIT;

	rp.seq = rq->seq;
	rp.data = 1;
	rp.last = 1;
	vcuda_wire_send(s->chan, &rp.base, NULL, 0, 0);
}

CUresult srv_memcpy_dtoh(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
			 struct session_reply *out)
{
	const Vcuda__MemcpyDtoH *c = rq->memcpy_dtoh;
	Vcuda__Reply rp = VCUDA__REPLY__INIT;
	CUresult rc = CUDA_SUCCESS;
	uint64_t off = 0;
	CUstream st = NULL;

	void *dst = NULL;

	if (c->shared) { /* into the shared heap: no data messages */
		if (!(dst = session_shared(s, c->host_offset, c->size)))
			return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
					      "destination outside the shared host memory");
		if (c->size && !memory_owned(s, c->src, c->size, rq->device))
			return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
					      "source outside the session's memory");
		if (!c->size)
			return CUDA_SUCCESS;
		if ((rc = session_stream(s, rq, c->stream, &st)) != CUDA_SUCCESS)
			return rc;
		if (s->sched)
			vcuda_sched_bytes(s->sched, s->sched_slot, 0, c->size);
		return c->async ? s->be->cuMemcpyDtoHAsync(dst, c->src, c->size, st)
				: s->be->cuMemcpyDtoH(dst, c->src, c->size);
	}
	if (c->size && !memory_owned(s, c->src, c->size, rq->device))
		rc = session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
				    "source outside the session's memory");
	else if (c->size)
		rc = session_stream(s, rq, c->stream, &st);
	if (rc != CUDA_SUCCESS || c->size == 0) {
		memory_dtoh_abort(s, rq);
		return rc;
	}
	if (s->sched)
		vcuda_sched_bytes(s->sched, s->sched_slot, 0, c->size);
	rp.seq = rq->seq;
	rp.data = 1;
	/* Chunks go out while the next one is copied. */
	while (off < c->size) {
		size_t n = c->size - off < SESSION_DATA_CHUNK ? (size_t)(c->size - off)
							      : SESSION_DATA_CHUNK;
		void *buf = malloc(n);
		if (!buf) {
			memory_dtoh_abort(s, rq);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
		rc = c->async ? s->be->cuMemcpyDtoHAsync(buf, c->src + off, n, st)
			      : s->be->cuMemcpyDtoH(buf, c->src + off, n);
		if (rc != CUDA_SUCCESS) {
			free(buf);
			memory_dtoh_abort(s, rq);
			return rc;
		}
		rp.data_offset = off;
		rp.last = off + n == c->size;
		if (vcuda_wire_send(s->chan, &rp.base, buf, n, VCUDA_SEND_GIFT) != 0)
			return CUDA_ERROR_UNKNOWN;
		off += n;
	}
	return CUDA_SUCCESS;
}

CUresult srv_memcpy_dtod(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
			 struct session_reply *out)
{
	const Vcuda__MemcpyDtoD *c = rq->memcpy_dtod;
	CUstream st = NULL;
	CUresult rc;

	if (c->size == 0)
		return CUDA_SUCCESS;
	if (!memory_owned(s, c->dst, c->size, rq->device) ||
	    !memory_owned(s, c->src, c->size, rq->device))
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
				      "copy outside the session's memory");
	if ((rc = session_stream(s, rq, c->stream, &st)) != CUDA_SUCCESS)
		return rc;
	if (c->async)
		return s->be->cuMemcpyDtoDAsync(c->dst, c->src, c->size, st);
	return s->be->cuMemcpyDtoD(c->dst, c->src, c->size);
}

CUresult srv_memset(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
		    struct session_reply *out)
{
	const Vcuda__Memset *c = rq->memset;
	CUstream st = NULL;
	CUresult rc;

	if (c->elem_size != 1 && c->elem_size != 2 && c->elem_size != 4)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
				      "element size not 1, 2 or 4");
	if (c->count == 0)
		return CUDA_SUCCESS;
	if (c->count > UINT64_MAX / c->elem_size ||
	    !memory_owned(s, c->dst, c->count * c->elem_size, rq->device))
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
				      "set outside the session's memory");
	if ((rc = session_stream(s, rq, c->stream, &st)) != CUDA_SUCCESS)
		return rc;
	switch (c->elem_size) {
	case 1:
		return c->async
			   ? s->be->cuMemsetD8Async(c->dst, (unsigned char)c->value, c->count, st)
			   : s->be->cuMemsetD8(c->dst, (unsigned char)c->value, c->count);
	case 2:
		return c->async
			   ? s->be->cuMemsetD16Async(c->dst, (unsigned short)c->value, c->count, st)
			   : s->be->cuMemsetD16(c->dst, (unsigned short)c->value, c->count);
	default:
		return c->async ? s->be->cuMemsetD32Async(c->dst, c->value, c->count, st)
				: s->be->cuMemsetD32(c->dst, c->value, c->count);
	}
}
