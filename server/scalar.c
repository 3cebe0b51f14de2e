/*
 * Server side of the scalar calls (calls.def's VCUDA_SCALAR rows): one
 * handler decodes and checks every argument by its kind, then calls the
 * row's driver function. The call is generated per row with the driver
 * function's own prototype, so the compiler checks each row's kinds
 * against cuda.h.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "session.h"

/* An argument as the driver function takes it, from its decoded slot. */
#define SCALAR_VAL_I32(v)		(v).i32
#define SCALAR_VAL_U32(v)		(v).u32
#define SCALAR_VAL_U64(v)		(v).u64
#define SCALAR_VAL_STREAM(v)		(CUstream)(v).ptr
#define SCALAR_VAL_EVENT(v)		(CUevent)(v).ptr
#define SCALAR_VAL_FUNC(v)		(CUfunction)(v).ptr
#define SCALAR_VAL_OUT_I32(v)		(int *)(v).ptr
#define SCALAR_VAL_OUT_U32(v)		(unsigned int *)(v).ptr
#define SCALAR_VAL_OUT_U64(v)		(v).ptr /* size_t * or unsigned long long * */
#define SCALAR_VAL_OUT_F32(v)		(float *)(v).ptr
#define SCALAR_ARG(i, KIND, type, name) SCALAR_VAL_##KIND(v[i])

typedef CUresult (*scalar_fn)(struct session *, const Vcuda__Request *, union session_arg *);

#define VCUDA_SCALAR(op, name, runtime_fn, driver_fn, flags, stub, ...)                            \
	extern __attribute__((weak))                                                               \
	CUresult srv_scalar_##name(struct session *, const Vcuda__Request *, union session_arg *); \
	static CUresult scalar_invoke_##name(struct session *s, const Vcuda__Request *rq,          \
					     union session_arg *v)                                 \
	{                                                                                          \
		if (!s->be->sc.name)                                                               \
			return CUDA_ERROR_NOT_SUPPORTED;                                           \
		return s->be->sc.name(VCUDA_MAP(SCALAR_ARG, VCUDA_SEP_COMMA, __VA_ARGS__));        \
	}
#include "calls.def"

struct scalar_row {
	uint32_t op;
	scalar_fn invoke;  /* the driver function */
	scalar_fn handler; /* srv_scalar_<name> (SC_HANDLER rows), else NULL */
};

static const struct scalar_row scalar_rows[] = {
#define VCUDA_SCALAR(op, name, ...) {op, scalar_invoke_##name, srv_scalar_##name},
#include "calls.def"
};

/* The row of call d: calls.c's table and this one follow calls.def's order. */
static const struct scalar_row *scalar_row(const struct vcuda_scalar_desc *d)
{
	unsigned n;
	size_t i = (size_t)(d - vcuda_scalar_all(&n));

	return i < n && i < sizeof(scalar_rows) / sizeof(*scalar_rows) && scalar_rows[i].op == d->op
		   ? &scalar_rows[i]
		   : NULL;
}

static CUresult scalar_int(struct session *s, const Vcuda__Request *rq, uint64_t w, int is_signed,
			   union session_arg *v)
{
	int64_t sv = (int64_t)w;

	if (is_signed && (sv < INT32_MIN || sv > INT32_MAX))
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE, "argument out of int range");
	if (!is_signed && w > UINT32_MAX)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
				      "argument out of unsigned int range");
	if (is_signed)
		v->i32 = (int32_t)sv;
	else
		v->u32 = (uint32_t)w;
	return CUDA_SUCCESS;
}

/* Decodes one in-argument w of kind k into v. */
static CUresult scalar_decode(struct session *s, const Vcuda__Request *rq, unsigned k, uint64_t w,
			      union session_arg *v)
{
	struct session_function *sf;

	switch (k) {
	case VCUDA_ARG_I32:
	case VCUDA_ARG_U32:
		return scalar_int(s, rq, w, k == VCUDA_ARG_I32, v);
	case VCUDA_ARG_U64:
		v->u64 = w;
		return CUDA_SUCCESS;
	case VCUDA_ARG_STREAM:
		return session_stream(s, rq, w, (CUstream *)&v->ptr);
	case VCUDA_ARG_EVENT:
		return session_event(s, rq, w, (CUevent *)&v->ptr);
	case VCUDA_ARG_FUNC:
		if (!(sf = session_function(s, rq, w)))
			return CUDA_ERROR_INVALID_HANDLE;
		v->ptr = sf->f;
		return CUDA_SUCCESS;
	}
	return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE, "unknown argument kind");
}

/* The reply's out-values, each as wide as its kind. */
static void scalar_reply(const struct vcuda_scalar_desc *d, struct session_reply *out)
{
	Vcuda__ScalarReply *sr = &out->u.scalar;
	size_t n = 0;

	vcuda__scalar_reply__init(sr);
	for (unsigned i = 0; i < d->nargs; i++) {
		uint64_t w = out->scalar_outs[n];
		if (!VCUDA_ARG_IS_OUT(d->kinds[i]))
			continue;
		if (d->kinds[i] != VCUDA_ARG_OUT_U64)
			w &= UINT32_MAX; /* the driver wrote the low 4 bytes */
		out->scalar_outs[n++] = w;
	}
	sr->n_outs = n;
	sr->outs = out->scalar_outs;
	out->rp.ret_case = VCUDA__REPLY__RET_SCALAR;
	out->rp.scalar = sr;
}

CUresult srv_scalar(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
		    struct session_reply *out)
{
	const Vcuda__Scalar *c = rq->scalar;
	const struct vcuda_scalar_desc *d = vcuda_scalar_find(c->op);
	const struct scalar_row *row = d ? scalar_row(d) : NULL;
	union session_arg v[VCUDA_SCALAR_MAX_ARGS];
	unsigned in = 0, nout = 0;
	CUresult rc;

	if (!d || !row)
		return session_refuse(s, rq, CUDA_ERROR_NOT_SUPPORTED, "unknown scalar call");
	if (c->n_args != d->nin)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE, "wrong argument count");
	memset(out->scalar_outs, 0, sizeof(out->scalar_outs));
	for (unsigned i = 0; i < d->nargs; i++) {
		if (VCUDA_ARG_IS_OUT(d->kinds[i])) {
			v[i].ptr = &out->scalar_outs[nout++];
			continue;
		}
		if ((rc = scalar_decode(s, rq, d->kinds[i], c->args[in++], &v[i])) != CUDA_SUCCESS)
			return rc;
	}
	VTRACE(server, "%s: %s (%u arguments)", s->peer, d->driver, d->nargs);
	if (d->flags & SC_HANDLER)
		rc = row->handler ? row->handler(s, rq, v) : CUDA_ERROR_NOT_SUPPORTED;
	else
		rc = row->invoke(s, rq, v);
	if (d->nout)
		scalar_reply(d, out);
	return rc;
}

const char *session_scalar_verify(char *why, size_t len)
{
	unsigned n;
	const struct vcuda_scalar_desc *all = vcuda_scalar_all(&n);

	for (unsigned i = 0; i < n; i++) {
		const struct scalar_row *row = scalar_row(&all[i]);
		if (!row) {
			snprintf(why, len, "scalar call %s has no server row", all[i].name);
			return why;
		}
		if (!(all[i].flags & SC_HANDLER) != !row->handler) {
			snprintf(why, len, "scalar call %s: %s", all[i].name,
				 row->handler ? "srv_scalar_ handler without SC_HANDLER"
					      : "SC_HANDLER without its srv_scalar_ handler");
			return why;
		}
		if (all[i].nin + all[i].nout != all[i].nargs ||
		    all[i].nargs > VCUDA_SCALAR_MAX_ARGS) {
			snprintf(why, len, "scalar call %s: argument counts disagree", all[i].name);
			return why;
		}
	}
	return NULL;
}
