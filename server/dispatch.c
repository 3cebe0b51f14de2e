/*
 * The dispatch table: one slot per VCUDA_CALL row of calls.def, indexed by
 * its Request.call field number. A row whose call vcuda.proto lacks does
 * not compile; tests/unit/test_calls.c finds a call without a row.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "log.h"
#include "session.h"
#include "wire.h"

static const struct session_call calls[] = {
#define VCUDA_CALL(NAME, name, dev) [VCUDA__REQUEST__CALL_##NAME] = {srv_##name, dev},
#include "calls.def"
};

CUresult session_refuse(struct session *s, const Vcuda__Request *rq, CUresult rc, const char *why)
{
	VWARN(server, "refused %s from %s: %s (%s)",
	      rq ? vcuda_wire_call_name((int)rq->call_case) : "message", s->peer, why,
	      vcuda_backend_errname(s->be, rc));
	return rc;
}

CUresult session_reply_handle(struct session *s, const Vcuda__Request *rq,
			      enum vcuda_handle_type type, void *obj, struct session_reply *out)
{
	uint64_t id;

	if (vcuda_handle_alloc(&s->handles, type, obj, &id) != 0)
		return session_refuse(s, rq, CUDA_ERROR_OUT_OF_MEMORY, "handle table full");
	vcuda__handle_reply__init(&out->u.handle);
	out->u.handle.handle = id;
	out->rp.ret_case = VCUDA__REPLY__RET_HANDLE;
	out->rp.handle = &out->u.handle;
	return CUDA_SUCCESS;
}

CUresult session_use_device(struct session *s, const Vcuda__Request *rq)
{
	int dev = rq->device;
	CUresult r;

	if (dev < 0 || dev >= s->ndevices)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_DEVICE, "no such device");
	if (!s->primary[dev]) {
		r = s->be->cuDevicePrimaryCtxRetain(&s->primary[dev], dev);
		if (r != CUDA_SUCCESS)
			return r;
		s->current = -1;
	}
	if (s->current != dev) {
		if ((r = s->be->cuCtxSetCurrent(s->primary[dev])) != CUDA_SUCCESS)
			return r;
		s->current = dev;
	}
	return CUDA_SUCCESS;
}

const struct session_call *session_call_find(int call_case)
{
	if (call_case <= 0 || (size_t)call_case >= sizeof(calls) / sizeof(*calls) ||
	    !calls[call_case].fn)
		return NULL;
	return &calls[call_case];
}

CUresult session_dispatch(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
			  struct session_reply *out)
{
	const struct session_call *call = session_call_find((int)rq->call_case);
	CUresult result;

	if (!call) {
		out->rp.status = VCUDA_E_PROTO;
		return session_refuse(s, rq, CUDA_ERROR_NOT_SUPPORTED, "unknown call");
	}
	if (call->needs_device && (result = session_use_device(s, rq)) != CUDA_SUCCESS)
		return result;
	return call->fn(s, rq, m, out);
}

/* Whether the oneof member of desc numbered id exists and is named name. */
static int dispatch_field_is(const ProtobufCMessageDescriptor *desc, int id, const char *name)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field(desc, (unsigned)id);

	return f && (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && strcmp(f->name, name) == 0;
}

const char *session_calls_verify(const ProtobufCMessageDescriptor *request,
				 const ProtobufCMessageDescriptor *reply, char *why, size_t len)
{
	for (unsigned i = 0; i < request->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &request->fields[i];
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && !session_call_find((int)f->id)) {
			snprintf(why, len, "request %s (%u) has no dispatch row", f->name, f->id);
			return why;
		}
	}
#define VCUDA_CALL(NAME, name, dev)                                                                \
	if (!dispatch_field_is(request, VCUDA__REQUEST__CALL_##NAME, #name)) {                     \
		snprintf(why, len, "dispatch row %s has no request", #name);                       \
		return why;                                                                        \
	}
#include "calls.def"
	for (unsigned i = 0; i < reply->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &reply->fields[i];
		int found = 0;
		if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			continue;
#define VCUDA_REPLY(NAME, name, Type) found |= (int)f->id == VCUDA__REPLY__RET_##NAME;
#include "calls.def"
		if (!found) {
			snprintf(why, len, "reply %s (%u) has no member in calls.def", f->name,
				 f->id);
			return why;
		}
	}
#define VCUDA_REPLY(NAME, name, Type)                                                              \
	if (!dispatch_field_is(reply, VCUDA__REPLY__RET_##NAME, #name)) {                          \
		snprintf(why, len, "reply row %s is not in the protocol", #name);                  \
		return why;                                                                        \
	}
#include "calls.def"
	return session_scalar_verify(why, len);
}

/* A batch reaches dispatch only from inside a batch, or asking for a reply:
 * neither is one the worker runs (server/worker.c unpacks batches). */
CUresult srv_batch(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
		   struct session_reply *out)
{
	return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
			      "a batch inside a batch, or one that wants a reply");
}
