/*
 * Guest side of the scalar calls (calls.def's VCUDA_SCALAR rows): the
 * runtime entry points of rows marked STUB or STUB_PTSZ are generated here.
 * Each checks its arguments as CUDA does before anything is sent (a NULL
 * out-pointer, a stream or event this process does not hold), packs them
 * by kind, and sends the call as its flags say.
 */
#include "config.h"

#include <string.h>

#include "calls.h"
#include "shim.h"

struct scalar_pack {
	uint64_t in[VCUDA_SCALAR_MAX_ARGS];
	void *out[VCUDA_SCALAR_MAX_ARGS];
	unsigned nin, nout;
	int per_thread; /* streams name the per-thread default stream (_ptsz) */
};

static inline cudaError_t scalar_pack_I32(int v, struct scalar_pack *p)
{
	p->in[p->nin++] = (uint64_t)(int64_t)v;
	return cudaSuccess;
}

static inline cudaError_t scalar_pack_U32(unsigned int v, struct scalar_pack *p)
{
	p->in[p->nin++] = v;
	return cudaSuccess;
}

static inline cudaError_t scalar_pack_U64(uint64_t v, struct scalar_pack *p)
{
	p->in[p->nin++] = v;
	return cudaSuccess;
}

static inline cudaError_t scalar_pack_STREAM(cudaStream_t s, struct scalar_pack *p)
{
	return shim_stream(s, p->per_thread, &p->in[p->nin++]);
}

static inline cudaError_t scalar_pack_EVENT(cudaEvent_t ev, struct scalar_pack *p)
{
	return shim_event(ev, &p->in[p->nin++]);
}

static inline cudaError_t scalar_pack_FUNC(const void *func, struct scalar_pack *p)
{
	return shim_func_id(func, &p->in[p->nin++]);
}

static inline cudaError_t scalar_pack_out(void *ptr, struct scalar_pack *p)
{
	if (!ptr)
		return cudaErrorInvalidValue;
	p->out[p->nout++] = ptr;
	return cudaSuccess;
}

#define scalar_pack_OUT_I32 scalar_pack_out
#define scalar_pack_OUT_U32 scalar_pack_out
#define scalar_pack_OUT_U64 scalar_pack_out
#define scalar_pack_OUT_F32 scalar_pack_out

/* Stores the reply's out-values through the caller's pointers. */
static void scalar_unpack(const struct vcuda_scalar_desc *d, const Vcuda__ScalarReply *r,
			  void *const *out)
{
	unsigned o = 0;

	for (unsigned i = 0; i < d->nargs; i++) {
		uint64_t w;
		uint32_t w32;
		if (!VCUDA_ARG_IS_OUT(d->kinds[i]))
			continue;
		w = r->outs[o];
		w32 = (uint32_t)w;
		if (d->kinds[i] == VCUDA_ARG_OUT_U64)
			memcpy(out[o], &w, sizeof(w));
		else
			memcpy(out[o], &w32, sizeof(w32)); /* int, unsigned int, float bits */
		o++;
	}
}

cudaError_t shim_scalar(uint32_t op, const uint64_t *in, void *const *out)
{
	const struct vcuda_scalar_desc *d = vcuda_scalar_find(op);
	Vcuda__Scalar m = VCUDA__SCALAR__INIT;
	Vcuda__Reply *rp = NULL;
	cudaError_t e;

	if (!d)
		return cudaErrorNotSupported;
	if (shim_graph_scalar(op, in, &e))
		return e;
	m.op = op;
	m.n_args = d->nin;
	m.args = (uint64_t *)in;
	SHIM_REQUEST(rq, SCALAR, scalar, m);
	if (d->flags & SC_POST) {
		e = shim_post(&rq, NULL, 0, 0, NULL, 0);
		/* An interprocess event's record is done before it returns:
		 * another process waiting on the event then finds it done. */
		if (e == cudaSuccess &&
		    (op == VCUDA_OP_event_record || op == VCUDA_OP_event_record_with_flags) &&
		    shim_event_interprocess(in[0]))
			e = shim_scalar(VCUDA_OP_event_synchronize, in, NULL);
		return e;
	}
	if (d->flags & SC_SYNC)
		e = shim_call_sync(&rq, NULL, 0, 0, NULL, 0, d->nout ? &rp : NULL);
	else
		e = shim_call(&rq, NULL, 0, 0, NULL, 0, d->nout ? &rp : NULL);
	if (e == cudaSuccess && d->nout) {
		if (rp && rp->ret_case == VCUDA__REPLY__RET_SCALAR && rp->scalar->n_outs == d->nout)
			scalar_unpack(d, rp->scalar, out);
		else
			e = cudaErrorUnknown;
	}
	vcuda_client_reply_free(rp);
	return e;
}

/* The result of a generated stub, recorded as CUDA records it. */
static cudaError_t scalar_ret(uint32_t op, cudaError_t e)
{
	const struct vcuda_scalar_desc *d = vcuda_scalar_find(op);

	if (e == cudaErrorNotReady && d && (d->flags & SC_QUERY))
		return e;
	return shim_ret(e);
}

#define SCALAR_DECL(i, KIND, type, name) type name
#define SCALAR_PACK(i, KIND, type, name)                                                           \
	if ((e = scalar_pack_##KIND(name, &p)) != cudaSuccess)                                     \
		return shim_ret(e);

#define SCALAR_STUB(op, fn, per_thread_, ...)                                                      \
	cudaError_t fn(VCUDA_MAP(SCALAR_DECL, VCUDA_SEP_COMMA, __VA_ARGS__));                      \
	cudaError_t fn(VCUDA_MAP(SCALAR_DECL, VCUDA_SEP_COMMA, __VA_ARGS__))                       \
	{                                                                                          \
		struct scalar_pack p = {.per_thread = (per_thread_)};                              \
		cudaError_t e = shim_begin();                                                      \
                                                                                                   \
		if (e)                                                                             \
			return shim_ret(e);                                                        \
		VCUDA_MAP(SCALAR_PACK, VCUDA_SEP_NONE, __VA_ARGS__)                                \
		return scalar_ret(op, shim_scalar(op, p.in, p.out));                               \
	}

#define SCALAR_STUBS_STUB(op, fn, ...) SCALAR_STUB(op, fn, 0, __VA_ARGS__)
#define SCALAR_STUBS_STUB_PTSZ(op, fn, ...)                                                        \
	SCALAR_STUB(op, fn, 0, __VA_ARGS__) SCALAR_STUB(op, fn##_ptsz, 1, __VA_ARGS__)
#define SCALAR_STUBS_OWN(op, fn, ...)

#define VCUDA_SCALAR(op, name, runtime_fn, driver_fn, flags, stub, ...)                            \
	SCALAR_STUBS_##stub(op, runtime_fn, __VA_ARGS__)
#include "calls.def"
