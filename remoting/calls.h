/*
 * The scalar calls of calls.def as data: each call's argument kinds, shared
 * by the guest (which packs them) and the server (which checks and decodes
 * them). A scalar request carries one uint64 per argument that is not an
 * out-value, in the order of the call's parameters; its reply carries one
 * uint64 per out-value, in order.
 */
#ifndef VCUDA_CALLS_H
#define VCUDA_CALLS_H

#include <stdint.h>

/* How an argument crosses the wire, and what the server checks. */
enum vcuda_arg_kind {
	VCUDA_ARG_I32,	   /* int or enum; the server refuses what does not fit */
	VCUDA_ARG_U32,	   /* unsigned int; likewise */
	VCUDA_ARG_U64,	   /* size_t, unsigned long long */
	VCUDA_ARG_STREAM,  /* a stream id (0, 1, 2 or a handle), looked up */
	VCUDA_ARG_EVENT,   /* an event handle, looked up */
	VCUDA_ARG_FUNC,	   /* a function handle, looked up */
	VCUDA_ARG_OUT_I32, /* int *: the reply carries the value */
	VCUDA_ARG_OUT_U32, /* unsigned int * */
	VCUDA_ARG_OUT_U64, /* size_t *, unsigned long long * */
	VCUDA_ARG_OUT_F32, /* float *: its bits travel in the low 32 */
};

#define VCUDA_ARG_IS_OUT(k) ((k) >= VCUDA_ARG_OUT_I32)

/* A scalar call's flags (calls.def explains each). */
enum {
	SC_CALL = 0,
	SC_SYNC = 1u << 0,
	SC_POST = 1u << 1,
	SC_QUERY = 1u << 2,
	SC_HANDLER = 1u << 3,
};

#define VCUDA_SCALAR_MAX_ARGS 6

/* The scalar calls' numbers: VCUDA_OP_<name>. */
enum vcuda_scalar_op {
#define VCUDA_SCALAR(op, name, ...) VCUDA_OP_##name = (op),
#include "calls.def"
};

struct vcuda_scalar_desc {
	uint32_t op;	     /* 0: no such call */
	const char *name;    /* "stream_query" */
	const char *runtime; /* "cudaStreamQuery" */
	const char *driver;  /* "cuStreamQuery" */
	unsigned flags;	     /* SC_* */
	unsigned nargs, nin, nout;
	uint8_t kinds[VCUDA_SCALAR_MAX_ARGS];
};

/* The call numbered op, or NULL when there is none. */
const struct vcuda_scalar_desc *vcuda_scalar_find(uint32_t op);
/* Every scalar call, in calls.def's order; *n gets their count. */
const struct vcuda_scalar_desc *vcuda_scalar_all(unsigned *n);

/* ---- macros that walk a row's argument tuples -------------------------------
 * VCUDA_MAP(m, sep, args...) expands m(i, KIND, type, name) for the i-th
 * (KIND, type, name) tuple, from 0, with sep() between them; up to
 * VCUDA_SCALAR_MAX_ARGS tuples. */
#define VCUDA_CAT_(a, b)			     a##b
#define VCUDA_CAT(a, b)				     VCUDA_CAT_(a, b)
#define VCUDA_UNPAREN(...)			     __VA_ARGS__
#define VCUDA_NARGS_(_1, _2, _3, _4, _5, _6, n, ...) n
#define VCUDA_NARGS(...)			     VCUDA_NARGS_(__VA_ARGS__, 6, 5, 4, 3, 2, 1, 0)
#define VCUDA_APPLY_(m, i, ...)			     m(i, __VA_ARGS__)
#define VCUDA_APPLY(m, i, t)			     VCUDA_APPLY_(m, i, VCUDA_UNPAREN t)
#define VCUDA_MAP1(m, s, a)			     VCUDA_APPLY(m, 0, a)
#define VCUDA_MAP2(m, s, a, b)			     VCUDA_MAP1(m, s, a) s() VCUDA_APPLY(m, 1, b)
#define VCUDA_MAP3(m, s, a, b, c)		     VCUDA_MAP2(m, s, a, b) s() VCUDA_APPLY(m, 2, c)
#define VCUDA_MAP4(m, s, a, b, c, d)		     VCUDA_MAP3(m, s, a, b, c) s() VCUDA_APPLY(m, 3, d)
#define VCUDA_MAP5(m, s, a, b, c, d, e)		     VCUDA_MAP4(m, s, a, b, c, d) s() VCUDA_APPLY(m, 4, e)
#define VCUDA_MAP6(m, s, a, b, c, d, e, f)	     VCUDA_MAP5(m, s, a, b, c, d, e) s() VCUDA_APPLY(m, 5, f)
#define VCUDA_MAP(m, sep, ...)			     VCUDA_CAT(VCUDA_MAP, VCUDA_NARGS(__VA_ARGS__))(m, sep, __VA_ARGS__)
#define VCUDA_SEP_COMMA()			     ,
#define VCUDA_SEP_NONE()

#endif
