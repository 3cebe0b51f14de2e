/*
 * The interpreter's internal interface, shared by its files: exec.c (the
 * warp loop, blocks and the host thread pool), exec_ops.c (instructions),
 * exec_arith.c (arithmetic, conversions, atomics), exec_mem.c (operands,
 * state spaces, faults, device printf).
 */
#ifndef VCUDA_EXEC_INT_H
#define VCUDA_EXEC_INT_H

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "emu.h"
#include "exec.h"

/* Small float formats (exec_half.c) and the rounding modes of conversions. */
enum { EMU_FMT_F16, EMU_FMT_BF16, EMU_FMT_TF32, EMU_FMT_E4M3, EMU_FMT_E5M2 };
enum { EMU_RND_RN, EMU_RND_RNA, EMU_RND_RZ, EMU_RND_RM, EMU_RND_RP };
double emu_fmt_to_double(uint32_t bits, int fmt);
/* x rounded to fmt in mode; satfinite: overflow gives the largest finite value. */
uint32_t emu_fmt_round(double x, int fmt, int mode, int satfinite);
int emu_rounding_of(uint32_t mods);
/* The format of an f16/bf16/tf32/e4m3x2/e5m2x2 type (packed or not), or -1. */
int emu_fmt_of(uint8_t type);
int emu_is_small_float(uint8_t type);
double emu_float_value(uint8_t type, uint64_t v);
/* add, sub, mul, fma, min, max, neg, abs, ex2, tanh on f16/bf16, each
 * half of a packed pair on its own. */
uint64_t emu_half_exec(const struct ptx_insn *in, uint64_t ra, uint64_t rb, uint64_t rc);
/* cvt with a small format on either side; b: the second source of a
 * packed destination made from two (two != 0). */
uint64_t emu_convert_small(const struct ptx_insn *in, uint64_t v, uint64_t b, int two);
float emu_half_to_float(uint16_t h);
uint16_t emu_float_to_half(float f);

#define FULL	  0xffffffffu
#define MAX_DEPTH 64

struct simt {
	int pc, rpc;
	uint32_t mask;
};

struct frame {
	const struct ptx_func *f;
	size_t R_cap, P_cap, fp_cap; /* buffers are kept for the next block */
	uint64_t *R;		     /* nregs * 32 */
	uint32_t *P;		     /* npreds masks */
	uint8_t *fparam;	     /* 32 * frame_param_size */
	uint32_t local_base;
	uint32_t dyn_top; /* end of the frame's local memory and its allocas */
	struct simt *stack;
	int sp, cap;
	int ret_pc, call;
	uint32_t ret_mask;
};

struct warp {
	int id;
	uint32_t valid, exited;
	int done, at_barrier, depth;
	/* bar.red: the instruction this warp waits at and its lanes there;
	 * each of them gets the block's result when the barrier opens. */
	const struct ptx_insn *red_in;
	uint32_t red_lanes;
	uint32_t carry;		/* CC.CF of each lane, for the add.cc/addc family */
	uint64_t cl_arrived;	/* barrier.cluster.arrive executed */
	uint16_t cdp_error[32]; /* each lane's device runtime error (cudaGetLastError) */
	struct frame frames[MAX_DEPTH];
	const uint32_t (*tid)[32]; /* [3][32], the launch's table for this warp */
};

/*
 * The blocks of a thread block cluster, run together on one host thread:
 * each reaches the others' shared memory (mapa, ld.shared::cluster), and
 * barrier.cluster waits for the live warps of all of them. A launch
 * without clusters runs each block as a cluster of one.
 */
struct cluster {
	struct block *blocks; /* n, by rank */
	int n;
	uint32_t id[3]; /* %clusterid */
	uint64_t phase; /* barrier.cluster phases completed */
};

struct block {
	struct exec_launch *L;
	struct cluster *cl;
	int rank;     /* in the cluster, %cluster_ctarank */
	int finished; /* every warp is done */
	uint32_t ctaid[3];
	uint8_t *smem;
	uint32_t smem_size;
	uint8_t *local; /* nthreads * local_stride */
	uint32_t local_stride;
	struct warp *warps;
	int nwarps;
	uint32_t nthreads;
	uint64_t insns;			 /* lane-instructions executed */
	uint32_t red_count, red_threads; /* bar.red: true predicates, threads arrived */
	uint32_t backward;		 /* backward branches taken, for the watchdog */
};

/* ---- values ------------------------------------------------------------------------ */

static inline float f32(uint64_t v)
{
	uint32_t u = (uint32_t)v;
	float f;

	memcpy(&f, &u, 4);
	return f;
}

static inline uint64_t bf32(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

static inline double f64(uint64_t v)
{
	double d;

	memcpy(&d, &v, 8);
	return d;
}

static inline uint64_t bf64(double d)
{
	uint64_t u;

	memcpy(&u, &d, 8);
	return u;
}

static inline uint64_t trunc_to(uint64_t v, unsigned size)
{
	return size >= 8 ? v : v & ((1ull << (size * 8)) - 1);
}

static inline int64_t sext(uint64_t v, unsigned size)
{
	switch (size) {
	case 1:
		return (int8_t)v;
	case 2:
		return (int16_t)v;
	case 4:
		return (int32_t)v;
	default:
		return (int64_t)v;
	}
}

static inline float ftz32(float f)
{
	return fpclassify(f) == FP_SUBNORMAL ? copysignf(0.0f, f) : f;
}

static inline double ftz64(double d)
{
	return fpclassify(d) == FP_SUBNORMAL ? copysign(0.0, d) : d;
}

static inline float sat32(float f)
{
	return isnan(f) ? 0.0f : f < 0.0f ? 0.0f : f > 1.0f ? 1.0f : f;
}

static inline double sat64(double d)
{
	return isnan(d) ? 0.0 : d < 0.0 ? 0.0 : d > 1.0 ? 1.0 : d;
}

/* Reads a float operand value of the instruction's width as double. */
static inline double fval(uint64_t v, unsigned size)
{
	return size == 8   ? f64(v)
	       : size == 4 ? (double)f32(v)
			   : (double)emu_half_to_float((uint16_t)v);
}

static inline uint64_t fbits(double d, unsigned size)
{
	return size == 8 ? bf64(d) : size == 4 ? bf32((float)d) : emu_float_to_half((float)d);
}

/* ---- operands ------------------------------------------------------------------------ */

struct xctx {
	struct block *B;
	struct warp *w;
	struct frame *F;
	uint32_t active; /* the lanes executing the instruction, before its guard */
};

/* An op's executor (exec_table.c): runs in for the lanes m; 0, or nonzero
 * once the launch has failed. */
typedef int (*emu_exec_fn)(const struct xctx *X, const struct ptx_insn *in, uint32_t m);
/* Indexed by op; NULL for an op the CPU device does not run. */
extern const emu_exec_fn emu_exec_table[OP_COUNT];
/* Whether op is control flow, which run_warp runs itself. */
int emu_exec_is_control(int op);

uint64_t emu_sreg_value(const struct xctx *X, int sr, int lane);
uint64_t emu_sym_address(const struct xctx *X, int s);

static inline uint64_t opv(const struct xctx *X, const struct ptx_operand *o, int lane)
{
	switch (o->kind) {
	case OK_REG:
		return X->F->R[o->reg * 32 + lane];
	case OK_IMM:
		return (uint64_t)o->imm;
	case OK_PRED:
		return ((X->F->P[o->reg] >> lane) & 1) ^ o->neg;
	case OK_SREG:
		return emu_sreg_value(X, o->reg, lane);
	case OK_SYM:
		return emu_sym_address(X, o->reg) + (uint64_t)o->imm;
	case OK_FUNC:
		return emu_sym_address(X, o->reg);
	default:
		return 0;
	}
}

static inline void set_reg(const struct xctx *X, const struct ptx_operand *o, int lane, uint64_t v)
{
	if (o->kind == OK_REG)
		X->F->R[o->reg * 32 + lane] = v;
}

static inline void set_pred(const struct xctx *X, const struct ptx_operand *o, int lane, int v)
{
	uint32_t *p;

	if (o->kind != OK_PRED)
		return;
	p = &X->F->P[o->reg];
	*p = v ? (*p | 1u << lane) : (*p & ~(1u << lane));
}

#define LANES(mask)                                                                                \
	for (uint32_t m_ = (mask), l; m_ && (l = (uint32_t)__builtin_ctz(m_), 1); m_ &= m_ - 1)

/* How a warp stopped: finished, at a barrier, faulted, or yielded to the
 * block's other warps (waiting on an mbarrier, nanosleep). */
enum { RUN_DONE, RUN_BARRIER, RUN_FAULT, RUN_YIELD };
int emu_cluster_passed(struct cluster *C, const struct warp *w);
/* A block's shared and local memory (and warps), kept by the host thread
 * for its next block; slot: the block's rank in its cluster. */
int emu_block_memory(struct block *B, int slot, size_t smem, size_t local);

void emu_exec_fail(struct block *B, const struct ptx_insn *in, CUresult rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
uint64_t emu_mul_hi(uint64_t a, uint64_t b, unsigned size, int is_signed);
uint64_t emu_mul_wide(uint64_t a, uint64_t b, unsigned size, int is_signed);
uint64_t emu_int_sat_add(uint64_t a, uint64_t b, int sub);
uint64_t emu_int_op(const struct ptx_insn *in, uint64_t a, uint64_t b, uint64_t c);
uint64_t emu_bfi(uint64_t a, uint64_t b, uint64_t c, uint64_t d, unsigned size);
uint32_t emu_lop3(uint32_t a, uint32_t b, uint32_t c, uint32_t lut);
uint32_t emu_prmt(uint32_t a, uint32_t b, uint32_t sel);
uint32_t emu_shf(uint32_t a, uint32_t b, uint32_t n, int left, int clamp);
int emu_set_round(uint32_t mods);
double emu_float_op(const struct ptx_insn *in, double a, double b, double c);
uint64_t emu_float_exec(const struct ptx_insn *in, uint64_t ra, uint64_t rb, uint64_t rc);
int emu_compare(int cmp, uint8_t type, uint64_t a, uint64_t b);
uint64_t emu_saturate_int(double d, uint8_t type);
double emu_round_integral(double d, uint32_t mods);
uint64_t emu_convert(const struct ptx_insn *in, uint64_t v);
int emu_testp(int sub, int cls);
uint64_t emu_atomic_new(int sub, uint8_t type, uint64_t old, uint64_t b, uint64_t c);
uint64_t emu_atomic_rmw(uint8_t *p, int shared, int sub, uint8_t type, uint64_t b, uint64_t c);
int emu_exec_failed(const struct block *B);
/* tex and tld4; suld and sust; txq and suq (texture.c). */
int emu_do_tex(const struct xctx *X, const struct ptx_insn *in, uint32_t m);
int emu_do_surf(const struct xctx *X, const struct ptx_insn *in, uint32_t m);
int emu_do_txq(const struct xctx *X, const struct ptx_insn *in, uint32_t m);
uint8_t *emu_mem_at(const struct xctx *X, int space, uint64_t a, unsigned len, int lane);
/* The address an [address] operand names for a lane (no access made). */
uint64_t emu_addr_value(const struct xctx *X, const struct ptx_insn *in,
			const struct ptx_operand *o, int lane);
/* Matrix instructions (exec_mma.c): whether the CPU device runs in as
 * written; if not, why in why. */
int emu_matrix_check(const struct ptx_insn *in, char *why, size_t why_len);
/* cp.async and mbarrier (exec_async.c); *waiting: the lanes whose
 * test_wait or try_wait found their phase not complete. */
int emu_do_cp(const struct xctx *X, const struct ptx_insn *in, uint32_t m);
int emu_do_mbarrier(const struct xctx *X, const struct ptx_insn *in, uint32_t m, uint32_t *waiting);
int emu_do_wmma(const struct xctx *X, const struct ptx_insn *in, uint32_t m);
int emu_do_ldmatrix(const struct xctx *X, const struct ptx_insn *in, uint32_t m);
uint8_t *emu_addr_of(const struct xctx *X, const struct ptx_insn *in, const struct ptx_operand *o,
		     unsigned len, int lane);
uint64_t emu_load_elem(const uint8_t *p, uint8_t type);
int emu_device_string(const struct xctx *X, uint64_t a, char *out, size_t cap, int lane);
int emu_device_printf(const struct xctx *X, uint64_t fmt_addr, uint64_t args, int lane);
int emu_frame_buffer(void **buf, size_t *cap, size_t n, int zero);
int emu_frame_push(struct warp *w, const struct ptx_func *f, uint32_t mask, uint32_t local_base);
void emu_frame_pop(struct warp *w);
int emu_simt_push(struct frame *F, int pc, int rpc, uint32_t mask);
void emu_simt_remove(struct frame *F, uint32_t lanes);
void emu_do_mov(const struct xctx *X, const struct ptx_insn *in, uint32_t m);
int emu_do_ld(const struct xctx *X, const struct ptx_insn *in, uint32_t m);
int emu_do_st(const struct xctx *X, const struct ptx_insn *in, uint32_t m);
void emu_do_setp(const struct xctx *X, const struct ptx_insn *in, uint32_t m);
int emu_do_atom(const struct xctx *X, const struct ptx_insn *in, uint32_t m);
void emu_do_shfl(const struct xctx *X, const struct ptx_insn *in, uint32_t m);
/* The lane shfl.sub reads for lane l, given its b and c operands; *ok:
 * whether that lane is in range (else the result is lane l's own). */
static inline int emu_shfl_source(int sub, uint32_t l, uint32_t b, uint32_t c, int *ok)
{
	uint32_t bval = b & 31, cval = c & 31, seg = (c >> 8) & 31;
	uint32_t max_lane = (l & seg) | (cval & ~seg), min_lane = l & seg;
	int j;

	switch (sub) {
	case SUB_UP:
		j = (int)l - (int)bval;
		*ok = j >= (int)max_lane;
		break;
	case SUB_DOWN:
		j = (int)l + (int)bval;
		*ok = j <= (int)max_lane;
		break;
	case SUB_BFLY:
		j = (int)(l ^ bval);
		*ok = j <= (int)max_lane;
		break;
	default:
		j = (int)(min_lane | (bval & ~seg));
		*ok = j <= (int)max_lane;
		break;
	}
	return *ok ? j & 31 : (int)l;
}
void emu_do_vote(const struct xctx *X, const struct ptx_insn *in, uint32_t m);
/* vote.sub's result for a lane whose group (membermask over the executing
 * lanes) is g, yes the lanes whose predicate is true. */
static inline uint32_t emu_vote_result(int sub, uint32_t yes, uint32_t g)
{
	uint32_t y = yes & g;

	return sub == SUB_BALLOT ? y
	       : sub == SUB_ALL	 ? y == g
	       : sub == SUB_ANY	 ? y != 0
				 : (y == 0 || y == g);
}
void emu_do_match(const struct xctx *X, const struct ptx_insn *in, uint32_t m);
void emu_do_redux(const struct xctx *X, const struct ptx_insn *in, uint32_t m);
/* redux.sub over lane l's group g: v[l] combined with each other lane's
 * v, in lane order (32-bit). */
uint32_t emu_redux_result(int sub, uint8_t type, const uint64_t *v, uint32_t l, uint32_t g);
void emu_do_alu(const struct xctx *X, const struct ptx_insn *in, uint32_t m);
/* add.cc, addc, sub.cc, subc, mad.cc, madc: arithmetic through CC.CF. */
void emu_do_carry(const struct xctx *X, const struct ptx_insn *in, uint32_t m);
int emu_do_call(struct xctx *X, const struct ptx_insn *in, uint32_t m, int pc);
void emu_do_return(struct xctx *X);
const uint64_t *emu_lane_values(const struct xctx *X, const struct ptx_operand *o, uint64_t *tmp);
int emu_fast_alu(const struct xctx *X, const struct ptx_insn *in, uint32_t m);
int emu_fast_mem(const struct xctx *X, const struct ptx_insn *in, uint32_t m);
int emu_fast_setp(const struct xctx *X, const struct ptx_insn *in, uint32_t m);

#endif
