/* Server handlers: attach, device and context management. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "session.h"

static int device_token_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	unsigned char diff = 0;

	for (size_t i = 0; i < n; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

static void device_describe(struct session *s, int dev, struct session_reply *out)
{
	Vcuda__DeviceInfo *d = &out->devices[dev];
	size_t total = 0;
	CUdevice h;

	vcuda__device_info__init(d);
	out->device_ptrs[dev] = d;
	if (s->be->cuDeviceGet(&h, dev) != CUDA_SUCCESS)
		return;
	if (s->be->cuDeviceGetName(out->names[dev], sizeof(out->names[dev]), h) == CUDA_SUCCESS)
		d->name = out->names[dev];
	if (s->be->cuDeviceGetUuid(&out->uuids[dev], h) == CUDA_SUCCESS)
		d->uuid = (ProtobufCBinaryData){16, (uint8_t *)out->uuids[dev].bytes};
	if (s->be->cuDeviceTotalMem(&total, h) == CUDA_SUCCESS)
		d->total_mem = total;
	for (int a = 0; a < CU_DEVICE_ATTRIBUTE_MAX; a++) {
		int v = -1;
		if (a == 0 ||
		    s->be->cuDeviceGetAttribute(&v, (CUdevice_attribute)a, h) != CUDA_SUCCESS)
			v = -1;
		out->attrs[dev][a] = v;
	}
	d->n_attributes = CU_DEVICE_ATTRIBUTE_MAX;
	d->attributes = out->attrs[dev];
}

CUresult srv_attach(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
		    struct session_reply *out)
{
	Vcuda__AttachReply *a = &out->u.attach;
	int version = 0;

	if (s->attached || rq->attach->token.len != SESSION_TOKEN_LEN ||
	    !device_token_equal(rq->attach->token.data, s->token, SESSION_TOKEN_LEN)) {
		out->rp.status = -9; /* VCUDA_E_AUTH */
		return session_refuse(s, rq, CUDA_ERROR_NOT_PERMITTED, "wrong session token");
	}
	s->attached = 1;
	vcuda__attach_reply__init(a);
	s->be->cuDriverGetVersion(&version);
	a->driver_version = version;
	a->backend = (char *)s->be->kind;
	a->last_seq = s->restored_seq;
	for (int dev = 0; dev < s->ndevices; dev++)
		device_describe(s, dev, out);
	a->n_devices = (size_t)s->ndevices;
	a->devices = out->device_ptrs;
	out->rp.ret_case = VCUDA__REPLY__RET_ATTACH;
	out->rp.attach = a;
	VINFO(server, "%s attached (%d device%s)", s->peer, s->ndevices,
	      s->ndevices == 1 ? "" : "s");
	return CUDA_SUCCESS;
}

/* The primary context was made current before the call (needs_device). */
CUresult srv_ctx_init(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
		      struct session_reply *out)
{
	return CUDA_SUCCESS;
}

CUresult srv_ctx_synchronize(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
			     struct session_reply *out)
{
	return s->be->cuCtxSynchronize();
}

CUresult srv_ctx_reset(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
		       struct session_reply *out)
{
	CUdevice h;
	CUresult r;

	session_release(s, rq->device);
	if ((r = s->be->cuDeviceGet(&h, rq->device)) != CUDA_SUCCESS)
		return r;
	/* NVIDIA's driver destroys the primary context on reset: the handle
	 * retained before names a destroyed context (found on an H200), so it
	 * is given up and the next call retains a fresh one. */
	if (s->primary[rq->device]) {
		s->be->cuDevicePrimaryCtxRelease(h);
		s->primary[rq->device] = NULL;
	}
	r = s->be->cuDevicePrimaryCtxReset(h);
	s->current = -1;
	return r;
}

CUresult srv_mem_get_info(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
			  struct session_reply *out)
{
	size_t free_bytes = 0, total = 0;
	CUresult r = s->be->cuMemGetInfo(&free_bytes, &total);

	/* A client with a quota (or a group's) sees it as its device's memory, so
	 * that programs that size their work from it fit themselves to it. */
	for (int i = 0; r == CUDA_SUCCESS && i < 2; i++) {
		uint64_t limit, used, left;
		if (!s->quota[i])
			continue;
		limit = __atomic_load_n(&s->quota[i]->limit, __ATOMIC_RELAXED);
		used = __atomic_load_n(&s->quota[i]->used, __ATOMIC_RELAXED);
		left = used < limit ? limit - used : 0;
		if (limit < total)
			total = (size_t)limit;
		if (left < free_bytes)
			free_bytes = (size_t)left;
	}

	vcuda__mem_get_info_reply__init(&out->u.mem_get_info);
	out->u.mem_get_info.free = free_bytes;
	out->u.mem_get_info.total = total;
	out->rp.ret_case = VCUDA__REPLY__RET_MEM_GET_INFO;
	out->rp.mem_get_info = &out->u.mem_get_info;
	return r;
}

/*
 * Frees what the session holds on one device (or all of them): its memory,
 * streams and events, and, when the session ends, its primary contexts.
 */
void session_release(struct session *s, int dev)
{
	uint32_t cursor = 0;
	uint64_t id;
	void *obj;

	session_staging_drop(s);
	if (dev >= 0) { /* at the end, the process's exit ends what still runs */
		session_paced_forget(s, dev);
		s->heap_registered = 0; /* a GPU forgets it with the context */
	}
	for (size_t i = s->mem.n; i-- > 0;) {
		struct vcuda_range r = s->mem.r[i];
		if (dev >= 0 && (int)r.tag != dev)
			continue;
		if (r.data == SESSION_IPC_IMPORT && s->be->ipc_close)
			s->be->ipc_close(r.base);
		if (r.data) { /* a module's variable: its module frees it; an import */
			vcuda_rangemap_remove(&s->mem, r.base, NULL);
			continue;
		}
		if (s->current != (int)r.tag && s->primary[r.tag])
			s->be->cuCtxSetCurrent(s->primary[r.tag]), s->current = (int)r.tag;
		s->be->cuMemFree(r.base);
		session_quota_credit(s, r.size);
		vcuda_rangemap_remove(&s->mem, r.base, NULL);
	}
	while ((obj = vcuda_handle_next(&s->handles, 0, &cursor, &id)) != NULL) {
		int type = (int)(id >> 56);
		if (type == VCUDA_HT_STREAM) {
			struct session_stream *st = obj;
			if (dev >= 0 && st->device != dev)
				continue;
			s->be->cuStreamDestroy(st->s);
		} else if (type == VCUDA_HT_EVENT) {
			struct session_event *ev = obj;
			if (dev >= 0 && ev->device != dev)
				continue;
			s->be->cuEventDestroy(ev->e);
		} else if (type == VCUDA_HT_FUNCTION) {
			struct session_function *sf = obj;
			if (dev >= 0 && sf->device != dev)
				continue;
		} else if (type == VCUDA_HT_TEXTURE) {
			struct session_texture *tx = obj;
			if (dev >= 0 && tx->device != dev)
				continue;
			if (tx->surface)
				s->be->cuSurfObjectDestroy(tx->value);
			else
				s->be->cuTexObjectDestroy(tx->value);
		} else if (type == VCUDA_HT_ARRAY) {
			struct session_array *sa = obj;
			if (dev >= 0 && sa->device != dev)
				continue;
			s->be->cuArrayDestroy(sa->a);
			session_quota_credit(s, sa->bytes);
		} else if (type == VCUDA_HT_MODULE) {
			struct session_module *sm = obj;
			if (dev >= 0 && sm->device != dev)
				continue;
			vcuda_handle_free(&s->handles, VCUDA_HT_MODULE, id);
			session_module_drop(s, sm);
			continue;
		}
		vcuda_handle_free(&s->handles, (enum vcuda_handle_type)type, id);
		free(obj);
	}
	for (int i = s->nthread_streams; i-- > 0;) {
		if (dev >= 0 && s->thread_streams[i].device != dev)
			continue;
		s->be->cuStreamDestroy(s->thread_streams[i].s);
		s->thread_streams[i] = s->thread_streams[--s->nthread_streams];
	}
	if (dev >= 0)
		return;
	for (int d = 0; d < s->ndevices; d++) {
		CUdevice h;
		if (s->primary[d] && s->be->cuDeviceGet(&h, d) == CUDA_SUCCESS)
			s->be->cuDevicePrimaryCtxRelease(h);
		s->primary[d] = NULL;
	}
	s->current = -1;
}

/*
 * cudaDeviceSetLimit. On a GPU the stack size is reserved for every thread
 * the device can hold, and the heap and the printf FIFO are device memory
 * too: a guest could take much of the GPU's memory with one call, beyond
 * what its allocations are counted against. The server bounds each before
 * the driver sees it.
 */
#define DEVICE_MAX_STACK (512u << 10)
#define DEVICE_MAX_FIFO	 (64u << 20)
#define DEVICE_MAX_HEAP	 (1ull << 30)

CUresult srv_scalar_ctx_set_limit(struct session *s, const Vcuda__Request *rq, union session_arg *v)
{
	CUlimit limit = (CUlimit)v[0].i32;
	uint64_t value = v[1].u64;

	if ((limit == CU_LIMIT_STACK_SIZE && value > DEVICE_MAX_STACK) ||
	    (limit == CU_LIMIT_PRINTF_FIFO_SIZE && value > DEVICE_MAX_FIFO) ||
	    (limit == CU_LIMIT_MALLOC_HEAP_SIZE && value > DEVICE_MAX_HEAP))
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
				      "limit over the server's bound");
	if (!s->be->sc.ctx_set_limit)
		return CUDA_ERROR_NOT_SUPPORTED;
	return s->be->sc.ctx_set_limit(limit, (size_t)value);
}
