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

int memory_owned(const struct session *s, uint64_t p, uint64_t n, int dev)
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

/* Registers the shared heap with the device once: page-locked for its DMA
 * and mapped, so kernels may reach it. 0, or -1 (logged) if the backend
 * cannot. */
static int session_heap_register(struct session *s)
{
	size_t size;
	void *base = vcuda_chan_heap_base(s->chan, &size);
	CUresult rc;

	if (s->heap_registered)
		return s->heap_registered > 0 ? 0 : -1;
	s->heap_registered = -1;
	if (!base || !s->be->mem_host_register)
		return -1;
	rc = s->be->mem_host_register(base, size,
				      CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_DEVICEMAP);
	if (rc != CUDA_SUCCESS && rc != CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED) {
		VWARN(server, "%s: the shared heap could not be registered with the device (%s)",
		      s->peer, vcuda_backend_errname(s->be, rc));
		return -1;
	}
	s->heap_registered = 1;
	return 0;
}

void *session_shared(struct session *s, uint64_t off, uint64_t n)
{
	void *p = vcuda_chan_heap_at(s->chan, off, n);

	/* On a GPU the heap is registered, page-locked, so that the device's
	 * DMA reads and writes it directly. */
	if (p && !s->heap_registered && strcmp(s->be->kind, "cuda") == 0)
		session_heap_register(s);
	return p;
}

CUresult srv_heap_map(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
		      struct session_reply *out)
{
	size_t size;
	void *base = vcuda_chan_heap_base(s->chan, &size);
	CUdeviceptr d;
	CUresult rc;

	if (!base)
		return session_refuse(s, rq, CUDA_ERROR_NOT_SUPPORTED,
				      "no shared heap (only shm:// sessions have one)");
	if (session_heap_register(s) != 0 || !s->be->mem_host_device_pointer)
		return session_refuse(s, rq, CUDA_ERROR_NOT_SUPPORTED,
				      "the device cannot map the shared heap");
	if ((rc = s->be->mem_host_device_pointer(&d, base, 0)) != CUDA_SUCCESS)
		return rc;
	session_reply_global(out, d, size);
	return CUDA_SUCCESS;
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

/* ---- pitched copies and sets ------------------------------------------------------
 * A region: depth slices of height rows of width bytes, rows pitch bytes
 * apart, slices pitch * rows apart (vcuda.proto, MemcpyPitched). */

struct pitched {
	uint64_t base, pitch, rows;
	CUarray array; /* or a CUDA array, from byte x of row y of slice z */
	uint64_t x, y, z;
};

/* One side's rows [row, row + rows) of slice slice as a 3D copy's side. */
static void pitched_side3d(const struct pitched *p, int dev, uint64_t slice, uint64_t row,
			   CUmemorytype *type, const void **host, CUdeviceptr *dptr, CUarray *arr,
			   size_t *x, size_t *y, size_t *z, size_t *pitch)
{
	uint64_t a = p->base + slice * p->pitch * p->rows + row * p->pitch;

	if (p->array) {
		*type = CU_MEMORYTYPE_ARRAY;
		*arr = p->array;
		*x = p->x;
		*y = p->y + row;
		*z = p->z + slice;
		return;
	}
	*type = dev ? CU_MEMORYTYPE_DEVICE : CU_MEMORYTYPE_HOST;
	*dptr = a;
	*host = (const void *)(uintptr_t)a;
	*pitch = p->pitch;
}

/* The bytes from a region's start to just past its last byte, or 0 if the
 * geometry is impossible or overflows. */
static uint64_t pitched_extent(uint64_t pitch, uint64_t rows, uint64_t width, uint64_t height,
			       uint64_t depth)
{
	uint64_t slice;

	if (!width || !height || !depth || pitch < width || (depth > 1 && rows < height) ||
	    __builtin_mul_overflow(pitch, rows, &slice))
		return 0;
	if (depth > 1 && (__builtin_mul_overflow(slice, depth - 1, &slice) ||
			  slice > UINT64_MAX - (height - 1) * pitch - width))
		return 0;
	if (depth == 1)
		slice = 0;
	if (height - 1 > (UINT64_MAX - width - slice) / pitch)
		return 0;
	return slice + (height - 1) * pitch + width;
}

/* Copies rows [first, first + n) of a region (counted across slices)
 * between src and dst, each side either a pitched region or packed rows
 * (pitch = width, rows = height), slice by slice with the driver's 2D copy. */
static CUresult pitched_rows(struct session *s, const Vcuda__MemcpyPitched *c, CUstream st,
			     const struct pitched *dst, int dst_dev, const struct pitched *src,
			     int src_dev, uint64_t first, uint64_t n)
{
	while (n) {
		uint64_t slice = first / c->height, row = first % c->height;
		uint64_t rows = c->height - row < n ? c->height - row : n;
		CUDA_MEMCPY2D m = {0};
		uint64_t d = dst->base + slice * dst->pitch * dst->rows + row * dst->pitch;
		uint64_t sa = src->base + slice * src->pitch * src->rows + row * src->pitch;
		CUresult rc;

		if (dst->array || src->array) { /* arrays: the driver's 3D copy */
			CUDA_MEMCPY3D m3 = {0};
			const void *unused;
			pitched_side3d(src, src_dev, slice, row, &m3.srcMemoryType, &m3.srcHost,
				       &m3.srcDevice, &m3.srcArray, &m3.srcXInBytes, &m3.srcY,
				       &m3.srcZ, &m3.srcPitch);
			pitched_side3d(dst, dst_dev, slice, row, &m3.dstMemoryType, &unused,
				       &m3.dstDevice, &m3.dstArray, &m3.dstXInBytes, &m3.dstY,
				       &m3.dstZ, &m3.dstPitch);
			m3.dstHost = (void *)(uintptr_t)m3.dstDevice;
			m3.WidthInBytes = c->width;
			m3.Height = rows;
			m3.Depth = 1;
			rc = c->async ? s->be->cuMemcpy3DAsync(&m3, st) : s->be->cuMemcpy3D(&m3);
			if (rc != CUDA_SUCCESS)
				return rc;
			first += rows;
			n -= rows;
			continue;
		}

		m.srcMemoryType = src_dev ? CU_MEMORYTYPE_DEVICE : CU_MEMORYTYPE_HOST;
		m.srcDevice = sa;
		m.srcHost = (const void *)(uintptr_t)sa;
		m.srcPitch = src->pitch;
		m.dstMemoryType = dst_dev ? CU_MEMORYTYPE_DEVICE : CU_MEMORYTYPE_HOST;
		m.dstDevice = d;
		m.dstHost = (void *)(uintptr_t)d;
		m.dstPitch = dst->pitch;
		m.WidthInBytes = c->width;
		m.Height = rows;
		rc = c->async ? s->be->cuMemcpy2DAsync(&m, st) : s->be->cuMemcpy2D(&m);
		if (rc != CUDA_SUCCESS)
			return rc;
		first += rows;
		n -= rows;
	}
	return CUDA_SUCCESS;
}

/* An array side of a pitched copy (id 0: none): checked against the
 * array's geometry, into p. 0, or -1. */
static int pitched_array_side(struct session *s, const Vcuda__Request *rq, uint64_t id, uint64_t x,
			      uint64_t y, uint64_t z, struct pitched *p)
{
	const Vcuda__MemcpyPitched *c = rq->memcpy_pitched;
	struct session_array *sa;

	if (!id)
		return 0;
	if (!(sa = session_array(s, id, rq->device)) || x > sa->row_bytes ||
	    c->width > sa->row_bytes - x || y > sa->rows || c->height > sa->rows - y ||
	    z > sa->slices || c->depth > sa->slices - z)
		return -1;
	*p = (struct pitched){.array = sa->a, .x = x, .y = y, .z = z};
	return 0;
}

CUresult srv_memcpy_pitched(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
			    struct session_reply *out)
{
	const Vcuda__MemcpyPitched *c = rq->memcpy_pitched;
	/* An array side has the region's own geometry, checked below. */
	uint64_t dext =
	    c->dst_array ? 1
			 : pitched_extent(c->dst_pitch, c->dst_rows, c->width, c->height, c->depth);
	uint64_t sext =
	    c->src_array ? 1
			 : pitched_extent(c->src_pitch, c->src_rows, c->width, c->height, c->depth);
	uint64_t total, first = 0, n;
	struct pitched dst = {c->dst, c->dst_pitch, c->dst_rows, NULL, 0, 0, 0};
	struct pitched src = {c->src, c->src_pitch, c->src_rows, NULL, 0, 0, 0};
	int to_dev = c->kind != 2, from_dev = c->kind != 1;
	void *host;
	CUstream st = NULL;
	CUresult rc;

	if (c->kind < 1 || c->kind > 3 || !dext || !sext ||
	    __builtin_mul_overflow(c->width, c->height, &total) ||
	    __builtin_mul_overflow(total, c->depth, &total) || (c->dst_array && !to_dev) ||
	    (c->src_array && !from_dev))
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE, "impossible pitched copy");
	if (pitched_array_side(s, rq, c->dst_array, c->dst_x, c->dst_y, c->dst_z, &dst) != 0 ||
	    pitched_array_side(s, rq, c->src_array, c->src_x, c->src_y, c->src_z, &src) != 0)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
				      "copy outside the array, or no array of the session");
	if ((to_dev && !c->dst_array && !memory_owned(s, c->dst, dext, rq->device)) ||
	    (from_dev && !c->src_array && !memory_owned(s, c->src, sext, rq->device)))
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
				      "pitched copy outside the session's memory");
	if ((rc = session_stream(s, rq, c->stream, &st)) != CUDA_SUCCESS)
		return rc;
	if (c->kind == 3)
		return pitched_rows(s, c, st, &dst, 1, &src, 1, 0, c->height * c->depth);
	if (c->shared) { /* the host side in the shared heap, as the guest laid it out */
		if (!(host = session_shared(s, c->host_offset, c->kind == 1 ? sext : dext)))
			return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
					      "host side outside the shared host memory");
		if (s->sched)
			vcuda_sched_bytes(s->sched, s->sched_slot, c->kind == 1 ? total : 0,
					  c->kind == 2 ? total : 0);
		if (c->kind == 1)
			src.base = (uintptr_t)host;
		else
			dst.base = (uintptr_t)host;
		return pitched_rows(s, c, st, &dst, c->kind == 1, &src, c->kind == 2, 0,
				    c->height * c->depth);
	}
	if (c->width > SESSION_DATA_CHUNK)
		return session_refuse(
		    s, rq, CUDA_ERROR_INVALID_VALUE,
		    "a row wider than a message (the guest copies such rows alone)");
	if (c->kind == 1) { /* packed rows in the payload, region rows first_row on */
		struct pitched packed = {.base = (uintptr_t)m->payload - c->first_row * c->width,
					 .pitch = c->width,
					 .rows = c->height};
		n = m->payload_len / c->width;
		if (!m->payload || m->payload_len % c->width ||
		    c->first_row > c->height * c->depth || n > c->height * c->depth - c->first_row)
			return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
					      "payload is not whole rows of the copy");
		if (s->sched)
			vcuda_sched_bytes(s->sched, s->sched_slot, m->payload_len, 0);
		return pitched_rows(s, c, st, &dst, 1, &packed, 0, c->first_row, n);
	}
	/* Device to host: packed rows in data messages, sent while the next
	 * chunk is copied. */
	if (s->sched)
		vcuda_sched_bytes(s->sched, s->sched_slot, 0, total);
	{
		Vcuda__Reply rp = VCUDA__REPLY__INIT;
		uint64_t per = SESSION_DATA_CHUNK / c->width, all = c->height * c->depth;
		rp.seq = rq->seq;
		rp.data = 1;
		for (first = 0; first < all; first += n) {
			uint8_t *buf;
			struct pitched packed;
			n = all - first < per ? all - first : per;
			if (!(buf = malloc(n * c->width))) {
				memory_dtoh_abort(s, rq);
				return CUDA_ERROR_OUT_OF_MEMORY;
			}
			packed = (struct pitched){.base = (uintptr_t)buf - first * c->width,
						  .pitch = c->width,
						  .rows = c->height};
			if ((rc = pitched_rows(s, c, st, &packed, 0, &src, 1, first, n)) !=
			    CUDA_SUCCESS) {
				free(buf);
				memory_dtoh_abort(s, rq);
				return rc;
			}
			rp.data_offset = first * c->width;
			rp.last = first + n == all;
			if (vcuda_wire_send(s->chan, &rp.base, buf, n * c->width,
					    VCUDA_SEND_GIFT) != 0)
				return CUDA_ERROR_UNKNOWN;
		}
	}
	return CUDA_SUCCESS;
}

CUresult srv_memset_pitched(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
			    struct session_reply *out)
{
	const Vcuda__MemsetPitched *c = rq->memset_pitched;
	uint64_t ext = pitched_extent(c->pitch, c->rows, c->width, c->height, c->depth);
	CUstream st = NULL;
	CUresult rc;

	if (!ext)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE, "impossible pitched set");
	if (!memory_owned(s, c->dst, ext, rq->device))
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
				      "set outside the session's memory");
	if ((rc = session_stream(s, rq, c->stream, &st)) != CUDA_SUCCESS)
		return rc;
	for (uint64_t z = 0; z < c->depth && rc == CUDA_SUCCESS; z++) {
		CUdeviceptr d = c->dst + z * c->pitch * c->rows;
		rc = c->async ? s->be->cuMemsetD2D8Async(d, c->pitch, (unsigned char)c->value,
							 c->width, c->height, st)
			      : s->be->cuMemsetD2D8(d, c->pitch, (unsigned char)c->value, c->width,
						    c->height);
	}
	return rc;
}

/* ---- stream-ordered allocation ---------------------------------------------------- */

CUresult srv_scalar_mem_alloc_async(struct session *s, const Vcuda__Request *rq,
				    union session_arg *v)
{
	uint64_t size = v[1].u64;
	struct vcuda_range r;
	CUdeviceptr p;
	CUresult rc;

	if (size == 0)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE, "zero-byte allocation");
	if (!s->be->sc.mem_alloc_async)
		return CUDA_ERROR_NOT_SUPPORTED;
	if (session_quota_charge(s, size, "mem_alloc_async") != 0)
		return CUDA_ERROR_OUT_OF_MEMORY;
	if ((rc = s->be->sc.mem_alloc_async(&p, (size_t)size, (CUstream)v[2].ptr)) !=
	    CUDA_SUCCESS) {
		session_quota_credit(s, size);
		return rc;
	}
	r = (struct vcuda_range){.base = p, .size = size, .tag = (uint64_t)rq->device};
	if (vcuda_rangemap_insert(&s->mem, &r) != 0) {
		s->be->sc.mem_free_async(p, (CUstream)v[2].ptr);
		session_quota_credit(s, size);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*(uint64_t *)v[0].ptr = p;
	return CUDA_SUCCESS;
}

/* Freed in stream order on the device; here at once: a later request that
 * names it is refused, and the quota has it back. */
CUresult srv_scalar_mem_free_async(struct session *s, const Vcuda__Request *rq,
				   union session_arg *v)
{
	uint64_t p = v[0].u64;
	const struct vcuda_range *r = vcuda_rangemap_find(&s->mem, p);
	CUresult rc;

	if (!r || r->base != p || (int)r->tag != rq->device || r->data)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
				      "not the start of an allocation of this session");
	if (!s->be->sc.mem_free_async)
		return CUDA_ERROR_NOT_SUPPORTED;
	if ((rc = s->be->sc.mem_free_async(p, (CUstream)v[1].ptr)) == CUDA_SUCCESS) {
		session_quota_credit(s, r->size);
		vcuda_rangemap_remove(&s->mem, p, NULL);
	}
	return rc;
}
