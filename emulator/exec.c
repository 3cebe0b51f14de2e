/*
 * The PTX interpreter. A warp's registers are laid out register-major
 * (R[reg * 32 + lane]) so that each decoded instruction runs as a loop over
 * its active lanes. Divergent branches push onto a per-frame reconvergence
 * stack whose entries meet again at the branch's immediate post-dominator.
 */
#include "config.h"

#include <fenv.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "emu.h"
#include "exec.h"
#include "util.h"

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
	struct simt *stack;
	int sp, cap;
	int ret_pc, call;
	uint32_t ret_mask;
};

struct warp {
	int id;
	uint32_t valid, exited;
	int done, at_barrier, depth;
	struct frame frames[MAX_DEPTH];
	const uint32_t (*tid)[32]; /* [3][32], the launch's table for this warp */
};

struct block {
	struct exec_launch *L;
	uint32_t ctaid[3];
	uint8_t *smem;
	uint32_t smem_size;
	uint8_t *local; /* nthreads * local_stride */
	uint32_t local_stride;
	struct warp *warps;
	int nwarps;
	uint32_t nthreads;
	uint64_t insns; /* lane-instructions executed */
};

static uint64_t lane_instructions;

/* For benchmarks: lane-instructions executed since the library loaded. */
unsigned long long vcuda_cpu_lane_instructions(void);
unsigned long long vcuda_cpu_lane_instructions(void)
{
	return __atomic_load_n(&lane_instructions, __ATOMIC_RELAXED);
}

/* ---- errors ---------------------------------------------------------------------- */

static pthread_mutex_t exec_error_lock = PTHREAD_MUTEX_INITIALIZER;

static void exec_fail(struct block *B, const struct ptx_insn *in, CUresult rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void exec_fail(struct block *B, const struct ptx_insn *in, CUresult rc, const char *fmt, ...)
{
	va_list ap;
	int n;

	pthread_mutex_lock(&exec_error_lock);
	if (B->L->error == CUDA_SUCCESS) {
		B->L->error = rc;
		n = snprintf(B->L->message, sizeof(B->L->message),
			     "%s, block (%u,%u,%u), PTX line %d: ", B->L->kernel->name, B->ctaid[0],
			     B->ctaid[1], B->ctaid[2], in ? in->line : 0);
		va_start(ap, fmt);
		if (n > 0 && (size_t)n < sizeof(B->L->message))
			vsnprintf(B->L->message + n, sizeof(B->L->message) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&exec_error_lock);
}

static int exec_failed(const struct block *B)
{
	return __atomic_load_n(&B->L->error, __ATOMIC_RELAXED) != CUDA_SUCCESS;
}

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

static float half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
	uint32_t u;

	if (exp == 0) {
		float f = ldexpf((float)man, -24);
		return sign ? -f : f;
	}
	if (exp == 31)
		u = sign | 0x7f800000u | (man << 13);
	else
		u = sign | ((exp + 112) << 23) | (man << 13);
	return f32(u);
}

static uint16_t float_to_half(float f)
{
	uint32_t u = (uint32_t)bf32(f), sign = (u >> 16) & 0x8000;
	float a = fabsf(f);

	if (isnan(f))
		return (uint16_t)(sign | 0x7e00);
	if (a >= 65520.0f)
		return (uint16_t)(sign | 0x7c00);
	if (a < 6.103515625e-05f) { /* subnormal: units of 2^-24, ties to even */
		return (uint16_t)(sign | (uint32_t)nearbyintf(a * 16777216.0f));
	}
	{
		int e;
		float m = frexpf(a, &e); /* a = m * 2^e, m in [0.5, 1) */
		uint32_t man = (uint32_t)nearbyintf((m * 2.0f - 1.0f) * 1024.0f);
		uint32_t exp = (uint32_t)(e - 1 + 15);
		if (man == 1024) {
			man = 0;
			exp++;
		}
		if (exp >= 31)
			return (uint16_t)(sign | 0x7c00);
		return (uint16_t)(sign | exp << 10 | man);
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
	return size == 8 ? f64(v) : size == 4 ? (double)f32(v) : (double)half_to_float((uint16_t)v);
}

static inline uint64_t fbits(double d, unsigned size)
{
	return size == 8 ? bf64(d) : size == 4 ? bf32((float)d) : float_to_half((float)d);
}

/* ---- operands ------------------------------------------------------------------------ */

struct xctx {
	struct block *B;
	struct warp *w;
	struct frame *F;
};

static uint64_t sreg_value(const struct xctx *X, int sr, int lane)
{
	const struct block *B = X->B;
	const struct exec_launch *L = B->L;

	switch (sr) {
	case SR_TID_X:
		return X->w->tid[0][lane];
	case SR_TID_Y:
		return X->w->tid[1][lane];
	case SR_TID_Z:
		return X->w->tid[2][lane];
	case SR_NTID_X:
		return L->block[0];
	case SR_NTID_Y:
		return L->block[1];
	case SR_NTID_Z:
		return L->block[2];
	case SR_CTAID_X:
		return B->ctaid[0];
	case SR_CTAID_Y:
		return B->ctaid[1];
	case SR_CTAID_Z:
		return B->ctaid[2];
	case SR_NCTAID_X:
		return L->grid[0];
	case SR_NCTAID_Y:
		return L->grid[1];
	case SR_NCTAID_Z:
		return L->grid[2];
	case SR_LANEID:
		return (uint64_t)lane;
	case SR_WARPID:
		return (uint64_t)X->w->id;
	case SR_NWARPID:
		return (uint64_t)B->nwarps;
	case SR_SMID:
		return 0;
	case SR_NSMID:
		return (uint64_t)emu.dev.ncores;
	case SR_GRIDID:
		return 1;
	case SR_CLOCK:
		return (uint32_t)vcuda_now_ns();
	case SR_CLOCK64:
	case SR_GLOBALTIMER:
		return vcuda_now_ns();
	case SR_LANEMASK_EQ:
		return 1u << lane;
	case SR_LANEMASK_LT:
		return (1u << lane) - 1;
	case SR_LANEMASK_LE:
		return (uint32_t)((2ull << lane) - 1);
	case SR_LANEMASK_GT:
		return (uint32_t) ~((2ull << lane) - 1);
	case SR_LANEMASK_GE:
		return (uint32_t) ~((1u << lane) - 1);
	case SR_DYN_SMEM:
		return L->dyn_smem;
	case SR_TOTAL_SMEM:
		return B->smem_size;
	default:
		return 0;
	}
}

/* The address a symbol names, as the instruction sees it. */
static uint64_t sym_address(const struct xctx *X, int s)
{
	const struct ptx_sym *sym = &X->B->L->mod->syms[s];

	switch (sym->kind) {
	case SYM_GLOBAL:
		return X->B->L->sym_addr[s];
	case SYM_CONST:
		return sym->offset;
	case SYM_SHARED:
		return sym->is_array_unsized ? X->B->L->static_smem : sym->offset;
	case SYM_LOCAL:
		return X->F->local_base + sym->offset;
	case SYM_KPARAM:
		return GWIN_PARAM | sym->offset;
	default:
		return sym->offset;
	}
}

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
		return sreg_value(X, o->reg, lane);
	case OK_SYM:
		return sym_address(X, o->reg) + (uint64_t)o->imm;
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

/* ---- memory ------------------------------------------------------------------------- */

/* Resolves an address of a state space to a host pointer for lane, or NULL. */
static uint8_t *mem_at(const struct xctx *X, int space, uint64_t a, unsigned len, int lane)
{
	struct block *B = X->B;

	if (space == PS_GENERIC || space == PS_NONE) {
		switch (a >> GWIN_SHIFT) {
		case 0:
			space = PS_GLOBAL;
			break;
		case 1:
			space = PS_SHARED;
			a &= GWIN_MASK;
			break;
		case 2:
			space = PS_LOCAL;
			a &= GWIN_MASK;
			break;
		case 3:
			space = PS_CONST;
			a &= GWIN_MASK;
			break;
		case 4:
			space = PS_PARAM;
			break;
		default:
			return NULL;
		}
	}
	switch (space) {
	case PS_GLOBAL:
		return emu_dev_span(a, len);
	case PS_SHARED:
		a &= GWIN_MASK;
		return (a < B->smem_size && len <= B->smem_size - a) ? B->smem + a : NULL;
	case PS_LOCAL:
		a &= GWIN_MASK;
		return (a < B->local_stride && len <= B->local_stride - a)
			   ? B->local + (size_t)(X->w->id * 32 + (int)lane) * B->local_stride + a
			   : NULL;
	case PS_CONST:
		a &= GWIN_MASK;
		return emu_dev_span(B->L->const_base + a, len);
	case PS_PARAM:
		if (a >> GWIN_SHIFT == 4) {
			a &= GWIN_MASK;
			return (a < B->L->kernel->param_size && len <= B->L->kernel->param_size - a)
				   ? (uint8_t *)B->L->params + a
				   : NULL;
		}
		return NULL;
	default:
		return NULL;
	}
}

/* The host pointer for operand o (an address) of instruction in, for lane. */
static uint8_t *addr_of(const struct xctx *X, const struct ptx_insn *in,
			const struct ptx_operand *o, unsigned len, int lane)
{
	uint64_t a;
	const struct ptx_sym *sym = o->reg >= 0 ? &X->B->L->mod->syms[o->reg] : NULL;
	uint8_t *p;

	if (sym && sym->kind == SYM_FPARAM && o->base < 0) {
		uint32_t fsz = X->F->f->frame_param_size;
		uint64_t off = sym->offset + (uint64_t)o->imm;
		return (off + len <= fsz) ? X->F->fparam + (size_t)lane * fsz + off : NULL;
	}
	if (sym && sym->kind == SYM_KPARAM && o->base < 0)
		a = GWIN_PARAM | (sym->offset + (uint64_t)o->imm);
	else
		a = (o->base >= 0 ? X->F->R[o->base * 32 + lane]
		     : sym	  ? sym_address(X, o->reg)
				  : 0) +
		    (uint64_t)o->imm;
	if (in->space == PS_PARAM && a >> GWIN_SHIFT == 0)
		a |= GWIN_PARAM;
	p = mem_at(X, in->space, a, len, lane);
	if (!p)
		exec_fail(X->B, in, CUDA_ERROR_ILLEGAL_ADDRESS,
			  "%s of %u bytes at address 0x%llx (%s space) by thread (%u,%u,%u) is "
			  "outside any allocation",
			  in->op == OP_ST || in->op == OP_RED ? "write"
			  : in->op == OP_LD		      ? "read"
							      : "access",
			  len, (unsigned long long)a,
			  in->space == PS_SHARED   ? "shared"
			  : in->space == PS_LOCAL  ? "local"
			  : in->space == PS_GLOBAL ? "global"
			  : in->space == PS_CONST  ? "const"
						   : "generic",
			  X->w->tid[0][lane], X->w->tid[1][lane], X->w->tid[2][lane]);
	return p;
}

static uint64_t load_elem(const uint8_t *p, uint8_t type)
{
	unsigned size = PTX_SIZE(type);
	uint64_t v = 0;

	memcpy(&v, p, size);
	if (PTX_KIND(type) == PK_S)
		return (uint64_t)sext(v, size);
	return v;
}

/* ---- integer and float arithmetic ------------------------------------------------------ */

static uint64_t mul_hi(uint64_t a, uint64_t b, unsigned size, int is_signed)
{
	if (size == 8) {
		if (is_signed)
			return (uint64_t)(((__int128)(int64_t)a * (__int128)(int64_t)b) >> 64);
		return (uint64_t)(((unsigned __int128)a * b) >> 64);
	}
	if (is_signed)
		return trunc_to((uint64_t)((sext(a, size) * sext(b, size)) >> (size * 8)), size);
	return trunc_to((trunc_to(a, size) * trunc_to(b, size)) >> (size * 8), size);
}

static uint64_t mul_wide(uint64_t a, uint64_t b, unsigned size, int is_signed)
{
	if (is_signed)
		return trunc_to((uint64_t)(sext(a, size) * sext(b, size)), size * 2);
	return trunc_to(trunc_to(a, size) * trunc_to(b, size), size * 2);
}

static uint64_t int_sat_add(uint64_t a, uint64_t b, int sub)
{
	int64_t r = sub ? (int64_t)(int32_t)a - (int32_t)b : (int64_t)(int32_t)a + (int32_t)b;

	if (r > INT32_MAX)
		r = INT32_MAX;
	if (r < INT32_MIN)
		r = INT32_MIN;
	return (uint32_t)r;
}

static uint64_t int_op(const struct ptx_insn *in, uint64_t a, uint64_t b, uint64_t c)
{
	unsigned size = PTX_SIZE(in->type);
	int s = PTX_KIND(in->type) == PK_S;
	int64_t sa = sext(a, size), sb = sext(b, size);
	uint64_t ua = trunc_to(a, size), ub = trunc_to(b, size), r;

	switch (in->op) {
	case OP_ADD:
		return (in->mods & MOD_SAT) ? int_sat_add(a, b, 0) : trunc_to(a + b, size);
	case OP_SUB:
		return (in->mods & MOD_SAT) ? int_sat_add(a, b, 1) : trunc_to(a - b, size);
	case OP_MUL:
		if (in->mods & MOD_WIDE)
			return mul_wide(a, b, size, s);
		if (in->mods & MOD_HI)
			return mul_hi(a, b, size, s);
		return trunc_to(a * b, size);
	case OP_MAD:
		if (in->mods & MOD_WIDE)
			return trunc_to(mul_wide(a, b, size, s) + c, size * 2);
		if (in->mods & MOD_HI)
			r = mul_hi(a, b, size, s) + c;
		else
			r = a * b + c;
		return trunc_to(r, size);
	case OP_MUL24:
	case OP_MAD24: {
		int64_t x = s ? sext(a << 8, 4) >> 8 : (int64_t)(a & 0xffffff);
		int64_t y = s ? sext(b << 8, 4) >> 8 : (int64_t)(b & 0xffffff);
		int64_t p = x * y;
		r = (in->mods & MOD_HI) ? (uint64_t)(p >> 16) : (uint64_t)p;
		return trunc_to(r + (in->op == OP_MAD24 ? c : 0), 4);
	}
	case OP_DIV:
		if (ub == 0)
			return trunc_to(~0ull, size);
		if (s)
			return (sb == -1 && sa == INT64_MIN >> (64 - size * 8))
				   ? ua
				   : trunc_to((uint64_t)(sa / sb), size);
		return ua / ub;
	case OP_REM:
		if (ub == 0)
			return ua;
		if (s)
			return sb == -1 ? 0 : trunc_to((uint64_t)(sa % sb), size);
		return ua % ub;
	case OP_MIN:
		return s ? trunc_to((uint64_t)(sa < sb ? sa : sb), size) : (ua < ub ? ua : ub);
	case OP_MAX:
		return s ? trunc_to((uint64_t)(sa > sb ? sa : sb), size) : (ua > ub ? ua : ub);
	case OP_ABS:
		return trunc_to((uint64_t)(sa < 0 ? -sa : sa), size);
	case OP_NEG:
		return trunc_to((uint64_t)-sa, size);
	case OP_AND:
		return ua & ub;
	case OP_OR:
		return ua | ub;
	case OP_XOR:
		return ua ^ ub;
	case OP_NOT:
		return trunc_to(~a, size);
	case OP_CNOT:
		return ua == 0;
	case OP_SHL:
		return (b & 0xffffffff) >= size * 8 ? 0 : trunc_to(a << (b & 0xffffffff), size);
	case OP_SHR:
		if ((b & 0xffffffff) >= size * 8)
			return s && sa < 0 ? trunc_to(~0ull, size) : 0;
		return s ? trunc_to((uint64_t)(sa >> (b & 0xffffffff)), size)
			 : ua >> (b & 0xffffffff);
	case OP_POPC:
		return (uint64_t)__builtin_popcountll(ua);
	case OP_CLZ:
		return ua ? (uint64_t)(__builtin_clzll(ua) - (64 - (int)size * 8)) : size * 8;
	case OP_BREV: {
		r = 0;
		for (unsigned i = 0; i < size * 8; i++)
			r |= ((ua >> i) & 1) << (size * 8 - 1 - i);
		return r;
	}
	case OP_BFIND: {
		int64_t pos = -1;
		uint64_t v = s && sa < 0 ? trunc_to(~ua, size) : ua;
		if (v)
			pos = 63 - __builtin_clzll(v);
		if (pos >= 0 && (in->mods & MOD_SHIFTAMT))
			pos = (int64_t)size * 8 - 1 - pos;
		return pos < 0 ? 0xffffffffu : (uint64_t)pos;
	}
	case OP_BFE: {
		unsigned pos = b & 0xff, len = c & 0xff, bits = size * 8;
		uint64_t field;
		int sbit;
		if (len == 0)
			return 0;
		field = pos >= bits ? 0 : ua >> pos;
		if (len < 64)
			field &= (1ull << len) - 1;
		if (!s)
			return field;
		sbit = (int)((pos + len - 1 >= bits ? bits - 1 : pos + len - 1));
		if ((ua >> sbit) & 1)
			field |= len < 64 ? ~((1ull << len) - 1) : 0;
		return trunc_to(field, size);
	}
	default:
		return 0;
	}
}

static uint64_t bfi(uint64_t a, uint64_t b, uint64_t c, uint64_t d, unsigned size)
{
	unsigned pos = c & 0xff, len = d & 0xff, bits = size * 8;
	uint64_t mask;

	if (len == 0 || pos >= bits)
		return trunc_to(b, size);
	mask = (len >= 64 ? ~0ull : ((1ull << len) - 1)) << pos;
	return trunc_to((b & ~mask) | ((a << pos) & mask), size);
}

static uint32_t lop3(uint32_t a, uint32_t b, uint32_t c, uint32_t lut)
{
	uint32_t r = 0;

	for (int i = 0; i < 8; i++) {
		uint32_t term = ((i & 4) ? a : ~a) & ((i & 2) ? b : ~b) & ((i & 1) ? c : ~c);
		if (lut & (1u << i))
			r |= term;
	}
	return r;
}

static uint32_t prmt(uint32_t a, uint32_t b, uint32_t sel)
{
	uint64_t src = (uint64_t)b << 32 | a;
	uint32_t r = 0;

	for (int i = 0; i < 4; i++) {
		uint32_t s = (sel >> (i * 4)) & 0xf;
		uint32_t byte = (uint32_t)(src >> ((s & 7) * 8)) & 0xff;
		if (s & 8)
			byte = (byte & 0x80) ? 0xff : 0;
		r |= byte << (i * 8);
	}
	return r;
}

static uint32_t shf(uint32_t a, uint32_t b, uint32_t n, int left, int clamp)
{
	uint64_t v = (uint64_t)b << 32 | a;

	n = clamp ? (n > 32 ? 32 : n) : (n & 31);
	return left ? (uint32_t)((v << n) >> 32) : (uint32_t)(v >> n);
}

static int set_round(uint32_t mods, int is_int_target)
{
	int mode = FE_TONEAREST, old = fegetround();

	if (mods & MOD_RZ)
		mode = FE_TOWARDZERO;
	else if (mods & MOD_RM)
		mode = FE_DOWNWARD;
	else if (mods & MOD_RP)
		mode = FE_UPWARD;
	(void)is_int_target;
	if (mode != old)
		fesetround(mode);
	return old;
}

static double float_op(const struct ptx_insn *in, double a, double b, double c)
{
	switch (in->op) {
	case OP_ADD:
		return a + b;
	case OP_SUB:
		return a - b;
	case OP_MUL:
		return a * b;
	case OP_FMA:
	case OP_MAD:
		return PTX_SIZE(in->type) == 4 ? (double)fmaf((float)a, (float)b, (float)c)
					       : fma(a, b, c);
	case OP_DIV:
		return a / b;
	case OP_ABS:
		return fabs(a);
	case OP_NEG:
		return -a;
	case OP_MIN:
		if (isnan(a) || isnan(b))
			return (in->mods & MOD_NAN) ? NAN : isnan(a) ? b : a;
		if (a == b && a == 0)
			return signbit(a) ? a : b;
		return a < b ? a : b;
	case OP_MAX:
		if (isnan(a) || isnan(b))
			return (in->mods & MOD_NAN) ? NAN : isnan(a) ? b : a;
		if (a == b && a == 0)
			return signbit(a) ? b : a;
		return a > b ? a : b;
	case OP_RCP:
		return 1.0 / a;
	case OP_SQRT:
		return sqrt(a);
	case OP_RSQRT:
		return 1.0 / sqrt(a);
	case OP_SIN:
		return sin(a);
	case OP_COS:
		return cos(a);
	case OP_LG2:
		return log2(a);
	case OP_EX2:
		return exp2(a);
	case OP_TANH:
		return tanh(a);
	case OP_COPYSIGN:
		return copysign(b, a);
	default:
		return 0;
	}
}

/* Float arithmetic in the instruction's precision: f32 operations are done in
 * float so that results round as the device rounds them. */
static uint64_t float_exec(const struct ptx_insn *in, uint64_t ra, uint64_t rb, uint64_t rc)
{
	unsigned size = PTX_SIZE(in->type);
	int ftz = in->mods & MOD_FTZ;

	if (size == 4) {
		float a = f32(ra), b = f32(rb), c = f32(rc), r;
		if (ftz) {
			a = ftz32(a);
			b = ftz32(b);
			c = ftz32(c);
		}
		switch (in->op) {
		case OP_ADD:
			r = a + b;
			break;
		case OP_SUB:
			r = a - b;
			break;
		case OP_MUL:
			r = a * b;
			break;
		case OP_FMA:
		case OP_MAD:
			r = fmaf(a, b, c);
			break;
		case OP_DIV:
			r = a / b;
			break;
		case OP_RCP:
			r = 1.0f / a;
			break;
		case OP_SQRT:
			r = sqrtf(a);
			break;
		case OP_RSQRT:
			r = 1.0f / sqrtf(a);
			break;
		case OP_SIN:
			r = sinf(a);
			break;
		case OP_COS:
			r = cosf(a);
			break;
		case OP_LG2:
			r = log2f(a);
			break;
		case OP_EX2:
			r = exp2f(a);
			break;
		case OP_TANH:
			r = tanhf(a);
			break;
		default:
			r = (float)float_op(in, a, b, c);
			break;
		}
		if (ftz)
			r = ftz32(r);
		if (in->mods & MOD_SAT)
			r = sat32(r);
		return bf32(r);
	}
	{
		double a = fval(ra, size), b = fval(rb, size), c = fval(rc, size);
		double r = float_op(in, a, b, c);
		if (size == 8 && ftz)
			r = ftz64(r);
		if (in->mods & MOD_SAT)
			r = sat64(r);
		return fbits(r, size);
	}
}

static int compare(int cmp, uint8_t type, uint64_t a, uint64_t b)
{
	unsigned size = PTX_SIZE(type);

	if (PTX_KIND(type) == PK_F) {
		double x = fval(a, size), y = fval(b, size);
		int unord = isnan(x) || isnan(y);
		switch (cmp) {
		case CMP_EQ:
			return !unord && x == y;
		case CMP_NE:
			return !unord && x != y;
		case CMP_LT:
			return !unord && x < y;
		case CMP_LE:
			return !unord && x <= y;
		case CMP_GT:
			return !unord && x > y;
		case CMP_GE:
			return !unord && x >= y;
		case CMP_EQU:
			return unord || x == y;
		case CMP_NEU:
			return unord || x != y;
		case CMP_LTU:
			return unord || x < y;
		case CMP_LEU:
			return unord || x <= y;
		case CMP_GTU:
			return unord || x > y;
		case CMP_GEU:
			return unord || x >= y;
		case CMP_NUM:
			return !unord;
		case CMP_NAN:
			return unord;
		default:
			return 0;
		}
	}
	if (PTX_KIND(type) == PK_S) {
		int64_t x = sext(a, size), y = sext(b, size);
		switch (cmp) {
		case CMP_EQ:
			return x == y;
		case CMP_NE:
			return x != y;
		case CMP_LT:
			return x < y;
		case CMP_LE:
			return x <= y;
		case CMP_GT:
			return x > y;
		case CMP_GE:
			return x >= y;
		default:
			break;
		}
	}
	{
		uint64_t x = trunc_to(a, size), y = trunc_to(b, size);
		switch (cmp) {
		case CMP_EQ:
			return x == y;
		case CMP_NE:
			return x != y;
		case CMP_LT:
		case CMP_LO:
			return x < y;
		case CMP_LE:
		case CMP_LS:
			return x <= y;
		case CMP_GT:
		case CMP_HI:
			return x > y;
		case CMP_GE:
		case CMP_HS:
			return x >= y;
		default:
			return 0;
		}
	}
}

static uint64_t saturate_int(double d, uint8_t type)
{
	unsigned size = PTX_SIZE(type);

	if (isnan(d))
		return 0;
	if (PTX_KIND(type) == PK_S) {
		double lo = -ldexp(1.0, (int)size * 8 - 1), hi = ldexp(1.0, (int)size * 8 - 1) - 1;
		if (d <= lo)
			return trunc_to((uint64_t)(int64_t)lo, size);
		if (d >= hi)
			return size == 8 ? (uint64_t)INT64_MAX
					 : trunc_to((uint64_t)(int64_t)hi, size);
		return trunc_to((uint64_t)(int64_t)d, size);
	}
	if (d <= 0)
		return 0;
	if (d >= ldexp(1.0, (int)size * 8))
		return trunc_to(~0ull, size);
	return (uint64_t)d;
}

static double round_integral(double d, uint32_t mods)
{
	if (mods & MOD_RZ)
		return trunc(d);
	if (mods & MOD_RM)
		return floor(d);
	if (mods & MOD_RP)
		return ceil(d);
	return nearbyint(d);
}

static uint64_t convert(const struct ptx_insn *in, uint64_t v)
{
	uint8_t dt = in->type, st = in->type2;
	unsigned ds = PTX_SIZE(dt), ss = PTX_SIZE(st);
	int dk = PTX_KIND(dt), sk = PTX_KIND(st);

	if (sk == PK_F || sk == PK_BF) {
		double x = sk == PK_BF ? (double)f32((uint32_t)(v & 0xffff) << 16) : fval(v, ss);
		if (in->mods & MOD_FTZ)
			x = ss == 4 ? (double)ftz32((float)x) : x;
		if (dk == PK_F) {
			if (in->mods & MOD_INTRND)
				x = round_integral(x, in->mods);
			if (ds == 4 && ss == 8 && (in->mods & (MOD_RZ | MOD_RM | MOD_RP))) {
				int old = set_round(in->mods, 0);
				volatile float f = (float)x;
				fesetround(old);
				x = f;
			}
			if (in->mods & MOD_SAT)
				x = sat64(x);
			if (ds == 4 && (in->mods & MOD_FTZ))
				x = ftz32((float)x);
			return fbits(x, ds);
		}
		if (dk == PK_BF) {
			uint32_t u = (uint32_t)bf32((float)x);
			if (isnan(x))
				return 0x7fff;
			u += 0x7fff + ((u >> 16) & 1);
			return u >> 16;
		}
		return saturate_int(
		    round_integral(x, in->mods | ((in->mods & MOD_ROUND) ? 0 : MOD_RZ)), dt);
	}
	{
		int64_t si = sext(v, ss);
		uint64_t ui = trunc_to(v, ss);
		if (dk == PK_F) {
			int old =
			    (in->mods & (MOD_RZ | MOD_RM | MOD_RP)) ? set_round(in->mods, 0) : -1;
			uint64_t r;
			if (ds == 8)
				r = bf64(sk == PK_S ? (double)si : (double)ui);
			else if (ds == 4)
				r = bf32(sk == PK_S ? (float)si : (float)ui);
			else
				r = float_to_half(sk == PK_S ? (float)si : (float)ui);
			if (old >= 0)
				fesetround(old);
			return r;
		}
		if (in->mods & MOD_SAT) {
			double d = sk == PK_S ? (double)si : (double)ui;
			return saturate_int(d, dt);
		}
		if (dk == PK_S && ds > ss)
			return trunc_to((uint64_t)si, ds);
		if (sk == PK_S && ds > ss)
			return trunc_to((uint64_t)si, ds);
		return trunc_to(ui, ds);
	}
}

static int testp(int sub, int cls)
{
	switch (sub) {
	case SUB_FINITE:
		return cls != FP_INFINITE && cls != FP_NAN;
	case SUB_INFINITE:
		return cls == FP_INFINITE;
	case SUB_NUMBER:
		return cls != FP_NAN;
	case SUB_NOTANUMBER:
		return cls == FP_NAN;
	case SUB_NORMAL:
		return cls == FP_NORMAL;
	case SUB_SUBNORMAL:
		return cls == FP_SUBNORMAL;
	default:
		return 0;
	}
}

/* ---- atomics ------------------------------------------------------------------------- */

static uint64_t atomic_new(int sub, uint8_t type, uint64_t old, uint64_t b, uint64_t c)
{
	unsigned size = PTX_SIZE(type);
	int k = PTX_KIND(type);

	switch (sub) {
	case SUB_ADD:
		if (k == PK_F)
			return size == 8   ? bf64(f64(old) + f64(b))
			       : size == 4 ? bf32(f32(old) + f32(b))
					   : float_to_half(half_to_float((uint16_t)old) +
							   half_to_float((uint16_t)b));
		return trunc_to(old + b, size);
	case SUB_INC:
		return trunc_to(old, size) >= trunc_to(b, size) ? 0 : trunc_to(old + 1, size);
	case SUB_DEC:
		return (trunc_to(old, size) == 0 || trunc_to(old, size) > trunc_to(b, size))
			   ? trunc_to(b, size)
			   : trunc_to(old - 1, size);
	case SUB_MIN:
		if (k == PK_F)
			return fbits(fmin(fval(old, size), fval(b, size)), size);
		if (k == PK_S)
			return sext(old, size) < sext(b, size) ? trunc_to(old, size)
							       : trunc_to(b, size);
		return trunc_to(old, size) < trunc_to(b, size) ? trunc_to(old, size)
							       : trunc_to(b, size);
	case SUB_MAX:
		if (k == PK_F)
			return fbits(fmax(fval(old, size), fval(b, size)), size);
		if (k == PK_S)
			return sext(old, size) > sext(b, size) ? trunc_to(old, size)
							       : trunc_to(b, size);
		return trunc_to(old, size) > trunc_to(b, size) ? trunc_to(old, size)
							       : trunc_to(b, size);
	case SUB_AND:
		return old & b;
	case SUB_OR:
		return old | b;
	case SUB_XOR:
		return old ^ b;
	case SUB_EXCH:
		return trunc_to(b, size);
	case SUB_CAS:
		return trunc_to(old, size) == trunc_to(b, size) ? trunc_to(c, size)
								: trunc_to(old, size);
	default:
		return old;
	}
}

/* One atomic read-modify-write; real atomics where other host threads may
 * touch the memory (global), plain ones in shared and local memory. */
static uint64_t atomic_rmw(uint8_t *p, int shared, int sub, uint8_t type, uint64_t b, uint64_t c)
{
	unsigned size = PTX_SIZE(type);
	uint64_t old = 0, nv;

	if (shared || (size != 4 && size != 8)) {
		memcpy(&old, p, size);
		nv = atomic_new(sub, type, old, b, c);
		memcpy(p, &nv, size);
		return PTX_KIND(type) == PK_S ? (uint64_t)sext(old, size) : old;
	}
	if (size == 4) {
		uint32_t o = __atomic_load_n((uint32_t *)p, __ATOMIC_RELAXED), n;
		do {
			n = (uint32_t)atomic_new(sub, type, o, b, c);
		} while (!__atomic_compare_exchange_n((uint32_t *)p, &o, n, 1, __ATOMIC_SEQ_CST,
						      __ATOMIC_RELAXED));
		return PTX_KIND(type) == PK_S ? (uint64_t)(int64_t)(int32_t)o : o;
	} else {
		uint64_t o = __atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED), n;
		do {
			n = atomic_new(sub, type, o, b, c);
		} while (!__atomic_compare_exchange_n((uint64_t *)p, &o, n, 1, __ATOMIC_SEQ_CST,
						      __ATOMIC_RELAXED));
		return o;
	}
}

/* ---- device printf -------------------------------------------------------------------- */

static pthread_mutex_t printf_lock = PTHREAD_MUTEX_INITIALIZER;

/* Reads a NUL-terminated string from device memory (generic address). */
static int device_string(const struct xctx *X, uint64_t a, char *out, size_t cap, int lane)
{
	size_t n = 0;

	while (n + 1 < cap) {
		const uint8_t *p = mem_at(X, PS_GENERIC, a + n, 1, lane);
		if (!p)
			return -1;
		if ((out[n] = (char)*p) == '\0')
			return 0;
		n++;
	}
	out[n] = '\0';
	return 0;
}

/* vprintf(format, args): args packed as the device packs them, each aligned
 * to its own size. Output goes to stdout, one call at a time. */
static int device_printf(const struct xctx *X, uint64_t fmt_addr, uint64_t args, int lane)
{
	char fmt[1024], out[4096], spec[32], str[512];
	size_t o = 0, argoff = 0;
	const char *f;

	if (device_string(X, fmt_addr, fmt, sizeof(fmt), lane) != 0)
		return -1;
	for (f = fmt; *f && o < sizeof(out) - 1; f++) {
		size_t sl = 0;
		int longs = 0, is_float, is_str, size;
		uint64_t v = 0;
		const uint8_t *p;

		if (*f != '%') {
			out[o++] = *f;
			continue;
		}
		if (f[1] == '%') {
			out[o++] = '%';
			f++;
			continue;
		}
		spec[sl++] = *f++;
		while (*f && strchr("-+ #0123456789.*", *f) && sl < sizeof(spec) - 4)
			spec[sl++] = *f++;
		while (*f && strchr("hlLqjzt", *f)) {
			if (*f == 'l' || *f == 'L' || *f == 'q' || *f == 'j' || *f == 'z' ||
			    *f == 't')
				longs++;
			f++;
		}
		if (!*f)
			break;
		is_float = strchr("fFeEgGaA", *f) != NULL;
		is_str = *f == 's';
		size = (is_float || is_str || *f == 'p' || longs) ? 8 : 4;
		argoff = (argoff + (size_t)size - 1) / (size_t)size * (size_t)size;
		if (!(p = mem_at(X, PS_GENERIC, args + argoff, (unsigned)size, lane)))
			return -1;
		memcpy(&v, p, (size_t)size);
		argoff += (size_t)size;
		if (longs)
			spec[sl++] = 'l';
		spec[sl++] = *f;
		spec[sl] = '\0';
		if (is_float) {
			o += (size_t)snprintf(out + o, sizeof(out) - o, spec, f64(v));
		} else if (is_str) {
			if (device_string(X, v, str, sizeof(str), lane) != 0)
				snprintf(str, sizeof(str), "(bad string)");
			o += (size_t)snprintf(out + o, sizeof(out) - o, spec, str);
		} else if (*f == 'p') {
			o += (size_t)snprintf(out + o, sizeof(out) - o, "%p", (void *)(uintptr_t)v);
		} else if (longs) {
			o += (size_t)snprintf(out + o, sizeof(out) - o, spec, (long)v);
		} else {
			o += (size_t)snprintf(out + o, sizeof(out) - o, spec, (int)(uint32_t)v);
		}
		if (o >= sizeof(out))
			o = sizeof(out) - 1;
	}
	pthread_mutex_lock(&printf_lock);
	fwrite(out, 1, o, stdout);
	pthread_mutex_unlock(&printf_lock);
	return (int)o;
}

/* ---- frames --------------------------------------------------------------------------- */

/* Makes *buf hold at least n zeroed bytes, keeping its memory when it can. */
static int frame_buffer(void **buf, size_t *cap, size_t n, int zero)
{
	if (n > *cap) {
		void *p = realloc(*buf, n);
		if (!p)
			return -1;
		*buf = p;
		*cap = n;
	}
	if (zero)
		memset(*buf, 0, n);
	return 0;
}

static int frame_push(struct warp *w, const struct ptx_func *f, uint32_t mask, uint32_t local_base)
{
	struct frame *F;

	if (w->depth == MAX_DEPTH)
		return -1;
	F = &w->frames[w->depth];
	if (frame_buffer((void **)&F->R, &F->R_cap,
			 (size_t)(f->nregs ? f->nregs : 1) * 32 * sizeof(uint64_t), 0) ||
	    frame_buffer((void **)&F->P, &F->P_cap,
			 (size_t)(f->npreds ? f->npreds : 1) * sizeof(uint32_t), 1) ||
	    frame_buffer((void **)&F->fparam, &F->fp_cap,
			 32 * (size_t)(f->frame_param_size ? f->frame_param_size : 1), 1))
		return -1;
	if (!F->stack) {
		F->cap = 16;
		if (!(F->stack = malloc((size_t)F->cap * sizeof(*F->stack))))
			return -1;
	}
	F->f = f;
	F->stack[0] = (struct simt){0, -1, mask};
	F->sp = 1;
	F->local_base = local_base;
	F->ret_mask = 0;
	F->ret_pc = 0;
	F->call = 0;
	w->depth++;
	return 0;
}

/* The frame's buffers stay with the warp slot for reuse. */
static void frame_pop(struct warp *w)
{
	w->depth--;
}

static int simt_push(struct frame *F, int pc, int rpc, uint32_t mask)
{
	if (F->sp == F->cap) {
		struct simt *n = realloc(F->stack, (size_t)F->cap * 2 * sizeof(*n));
		if (!n)
			return -1;
		F->stack = n;
		F->cap *= 2;
	}
	F->stack[F->sp++] = (struct simt){pc, rpc, mask};
	return 0;
}

/* Lanes leave the current frame (exit, or ret): out of every entry. */
static void simt_remove(struct frame *F, uint32_t lanes)
{
	for (int i = 0; i < F->sp; i++)
		F->stack[i].mask &= ~lanes;
}

enum { RUN_DONE, RUN_BARRIER, RUN_FAULT };

/* ---- instruction groups ---------------------------------------------------------------- */

static void do_mov(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	const struct ptx_operand *d = &in->o[0], *a = &in->o[1];
	unsigned size = PTX_SIZE(in->type);

	if (d->kind == OK_PRED) {
		LANES(m) set_pred(X, d, (int)l, (int)opv(X, a, (int)l));
		return;
	}
	if (d->kind == OK_VEC) { /* unpack: mov.b64 {lo, hi}, x */
		unsigned part = size / d->nvec;
		LANES(m)
		{
			uint64_t v = opv(X, a, (int)l);
			for (int i = 0; i < d->nvec; i++)
				if (d->vec[i] >= 0)
					X->F->R[d->vec[i] * 32 + (int)l] =
					    trunc_to(v >> (i * part * 8), part);
		}
		return;
	}
	if (a->kind == OK_VEC) { /* pack */
		unsigned part = size / a->nvec;
		LANES(m)
		{
			uint64_t v = 0;
			for (int i = 0; i < a->nvec; i++)
				v |= trunc_to(X->F->R[a->vec[i] * 32 + (int)l], part)
				     << (i * part * 8);
			set_reg(X, d, (int)l, v);
		}
		return;
	}
	if (a->kind == OK_SREG && d->kind == OK_REG) {
		uint64_t *D = X->F->R + d->reg * 32, v;
		if (a->reg <= SR_TID_Z) {
			const uint32_t *t = X->w->tid[a->reg - SR_TID_X];
			LANES(m) D[l] = t[l];
			return;
		}
		if (a->reg == SR_LANEID || a->reg >= SR_LANEMASK_EQ) {
			LANES(m) D[l] = trunc_to(sreg_value(X, a->reg, (int)l), size);
			return;
		}
		v = trunc_to(sreg_value(X, a->reg, 0), size);
		LANES(m) D[l] = v;
		return;
	}
	if (a->kind == OK_REG && d->kind == OK_REG) {
		uint64_t *D = X->F->R + d->reg * 32, *A = X->F->R + a->reg * 32;
		if (m == FULL) {
			for (int l = 0; l < 32; l++)
				D[l] = A[l];
			return;
		}
		LANES(m) D[l] = A[l];
		return;
	}
	LANES(m)
	set_reg(X, d, (int)l,
		trunc_to(opv(X, a, (int)l), size < 8 && a->kind == OK_SYM ? 8 : size));
}

static int do_ld(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	const struct ptx_operand *d = &in->o[0], *a = &in->o[1];
	unsigned size = PTX_SIZE(in->type), n = in->vec ? in->vec : 1;

	LANES(m)
	{
		const uint8_t *p = addr_of(X, in, a, size * n, (int)l);
		if (!p)
			return -1;
		if (d->kind == OK_VEC) {
			for (unsigned i = 0; i < n; i++)
				if (d->vec[i] >= 0)
					X->F->R[d->vec[i] * 32 + (int)l] =
					    load_elem(p + i * size, in->type);
		} else if (d->kind == OK_PRED) {
			set_pred(X, d, (int)l, load_elem(p, in->type) != 0);
		} else {
			set_reg(X, d, (int)l, load_elem(p, in->type));
		}
	}
	return 0;
}

static int do_st(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	const struct ptx_operand *a = &in->o[0], *v = &in->o[1];
	unsigned size = PTX_SIZE(in->type), n = in->vec ? in->vec : 1;

	LANES(m)
	{
		uint8_t *p = addr_of(X, in, a, size * n, (int)l);
		if (!p)
			return -1;
		if (v->kind == OK_VEC) {
			for (unsigned i = 0; i < n; i++) {
				uint64_t x = v->vec[i] >= 0 ? X->F->R[v->vec[i] * 32 + (int)l] : 0;
				memcpy(p + i * size, &x, size);
			}
		} else {
			uint64_t x = opv(X, v, (int)l);
			memcpy(p, &x, size);
		}
	}
	return 0;
}

static void do_setp(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	int pair = (in->sub2 & 0x80) != 0;
	const struct ptx_operand *p = &in->o[0], *q = pair ? &in->o[1] : NULL;
	const struct ptx_operand *a = &in->o[pair ? 2 : 1], *b = &in->o[pair ? 3 : 2];
	const struct ptx_operand *c = in->nops > (pair ? 4 : 3) ? &in->o[pair ? 4 : 3] : NULL;

	LANES(m)
	{
		int r = compare(in->cmp, in->type, opv(X, a, (int)l), opv(X, b, (int)l)), r2 = !r;
		if (c && in->sub) {
			int cv = (int)opv(X, c, (int)l);
			r = in->sub == SUB_AND	? (r && cv)
			    : in->sub == SUB_OR ? (r || cv)
						: (r ^ cv);
			r2 = in->sub == SUB_AND	 ? (r2 && cv)
			     : in->sub == SUB_OR ? (r2 || cv)
						 : (r2 ^ cv);
		}
		set_pred(X, p, (int)l, r);
		if (q)
			set_pred(X, q, (int)l, r2);
	}
}

static int do_atom(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	int red = in->op == OP_RED;
	const struct ptx_operand *d = red ? NULL : &in->o[0];
	const struct ptx_operand *a = &in->o[red ? 0 : 1], *b = &in->o[red ? 1 : 2];
	const struct ptx_operand *c = in->nops > (red ? 2 : 3) ? &in->o[red ? 2 : 3] : NULL;
	unsigned size = PTX_SIZE(in->type);

	LANES(m)
	{
		uint8_t *p = addr_of(X, in, a, size, (int)l);
		uint64_t old;
		int shared;
		if (!p)
			return -1;
		shared = in->space == PS_SHARED || in->space == PS_LOCAL ||
			 (p >= X->B->smem && p < X->B->smem + X->B->smem_size);
		old = atomic_rmw(p, shared, in->sub, in->type, opv(X, b, (int)l),
				 c ? opv(X, c, (int)l) : 0);
		if (d)
			set_reg(X, d, (int)l, old);
	}
	return 0;
}

static void do_shfl(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	int pair = (in->sub2 & 0x80) != 0;
	const struct ptx_operand *d = &in->o[0], *p = pair ? &in->o[1] : NULL;
	const struct ptx_operand *a = &in->o[pair ? 2 : 1], *b = &in->o[pair ? 3 : 2],
				 *c = &in->o[pair ? 4 : 3];
	uint64_t src[32], res[32];
	int ok[32];

	for (int l = 0; l < 32; l++)
		src[l] = opv(X, a, l);
	LANES(m)
	{
		uint32_t bval = (uint32_t)opv(X, b, (int)l) & 31, cv = (uint32_t)opv(X, c, (int)l);
		uint32_t cval = cv & 31, seg = (cv >> 8) & 31;
		uint32_t max_lane = ((uint32_t)l & seg) | (cval & ~seg),
			 min_lane = (uint32_t)l & seg;
		int j, pval;
		switch (in->sub) {
		case SUB_UP:
			j = (int)l - (int)bval;
			pval = j >= (int)max_lane;
			break;
		case SUB_DOWN:
			j = (int)l + (int)bval;
			pval = j <= (int)max_lane;
			break;
		case SUB_BFLY:
			j = (int)(l ^ bval);
			pval = j <= (int)max_lane;
			break;
		default:
			j = (int)(min_lane | (bval & ~seg));
			pval = j <= (int)max_lane;
			break;
		}
		if (!pval)
			j = (int)l;
		res[l] = src[j & 31];
		ok[l] = pval;
	}
	LANES(m)
	{
		set_reg(X, d, (int)l, res[l]);
		if (p)
			set_pred(X, p, (int)l, ok[l]);
	}
}

static void do_vote(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	const struct ptx_operand *d = &in->o[0], *a = &in->o[1];
	uint32_t yes = 0;

	LANES(m) if (opv(X, a, (int)l)) yes |= 1u << l;
	LANES(m)
	{
		switch (in->sub) {
		case SUB_BALLOT:
			set_reg(X, d, (int)l, yes);
			break;
		case SUB_ALL:
			set_pred(X, d, (int)l, yes == m);
			break;
		case SUB_ANY:
			set_pred(X, d, (int)l, yes != 0);
			break;
		case SUB_UNI:
			set_pred(X, d, (int)l, yes == 0 || yes == m);
			break;
		default:
			break;
		}
	}
}

static void do_match(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	const struct ptx_operand *d = &in->o[0], *p = (in->sub2 & 0x80) ? &in->o[1] : NULL;
	const struct ptx_operand *a = &in->o[p ? 2 : 1];
	uint64_t v[32];
	uint32_t all = 1;

	LANES(m) v[l] = trunc_to(opv(X, a, (int)l), PTX_SIZE(in->type));
	LANES(m) all &= v[l] == v[__builtin_ctz(m)];
	LANES(m)
	{
		uint32_t same = 0;
		for (uint32_t mm = m; mm; mm &= mm - 1)
			if (v[__builtin_ctz(mm)] == v[l])
				same |= 1u << __builtin_ctz(mm);
		set_reg(X, d, (int)l, in->sub == SUB_MATCH_ALL ? (all ? m : 0) : same);
		if (p)
			set_pred(X, p, (int)l, (int)all);
	}
}

static void do_redux(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	uint64_t acc = 0;
	int first = 1;

	LANES(m)
	{
		uint64_t v = trunc_to(opv(X, &in->o[1], (int)l), 4);
		acc = first ? v : atomic_new(in->sub, in->type, acc, v, 0);
		first = 0;
	}
	LANES(m) set_reg(X, &in->o[0], (int)l, acc);
}

/* The usual arithmetic: d = op(a, b[, c]) for each lane. */
static void do_alu(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	const struct ptx_operand *d = &in->o[0];
	const struct ptx_operand *a = &in->o[1], *b = in->nops > 2 ? &in->o[2] : NULL;
	const struct ptx_operand *c = in->nops > 3 ? &in->o[3] : NULL;
	int fl =
	    PTX_KIND(in->type) == PK_F && in->op != OP_AND && in->op != OP_OR && in->op != OP_XOR;
	int old = -1;

	if (d->kind == OK_PRED) { /* and/or/xor/not on predicates */
		LANES(m)
		{
			int x = (int)opv(X, a, (int)l), y = b ? (int)opv(X, b, (int)l) : 0;
			int r = in->op == OP_AND   ? x & y
				: in->op == OP_OR  ? x | y
				: in->op == OP_XOR ? x ^ y
						   : !x;
			set_pred(X, d, (int)l, r);
		}
		return;
	}
	if (fl && (in->mods & (MOD_RZ | MOD_RM | MOD_RP)))
		old = set_round(in->mods, 0);
	if (fl) {
		LANES(m)
		set_reg(X, d, (int)l,
			float_exec(in, opv(X, a, (int)l), b ? opv(X, b, (int)l) : 0,
				   c ? opv(X, c, (int)l) : 0));
	} else {
		LANES(m)
		set_reg(X, d, (int)l,
			int_op(in, opv(X, a, (int)l), b ? opv(X, b, (int)l) : 0,
			       c ? opv(X, c, (int)l) : 0));
	}
	if (old >= 0)
		fesetround(old);
}

/* Calls: device functions get a new frame; vprintf and friends run here. */
static int do_call(struct xctx *X, const struct ptx_insn *in, uint32_t m, int pc)
{
	const struct ptx_module *mod = X->B->L->mod;
	const struct ptx_call *c = &mod->calls[in->target];
	struct frame *caller = X->F;
	uint32_t fsz = caller->f->frame_param_size;

	if (c->builtin == 1) {
		LANES(m)
		{
			const struct ptx_sym *s0 = &mod->syms[c->args[0]],
					     *s1 = &mod->syms[c->args[1]];
			uint64_t fmt = 0, args = 0;
			int r;
			memcpy(&fmt, caller->fparam + (size_t)l * fsz + s0->offset, 8);
			memcpy(&args, caller->fparam + (size_t)l * fsz + s1->offset, 8);
			r = device_printf(X, fmt, args, (int)l);
			if (c->nret)
				memcpy(caller->fparam + (size_t)l * fsz +
					   mod->syms[c->ret[0]].offset,
				       &r, 4);
		}
		return 0;
	}
	if (c->builtin) {
		exec_fail(X->B, in, CUDA_ERROR_NOT_SUPPORTED, "device-side %s is not supported",
			  mod->funcs[c->func].name);
		return -1;
	}
	{
		const struct ptx_func *f = &mod->funcs[c->func];
		uint32_t base = caller->local_base + caller->f->local_size;
		struct frame *callee;
		if (base + f->local_size > X->B->local_stride ||
		    frame_push(X->w, f, m, base) != 0) {
			exec_fail(X->B, in, CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES,
				  "call stack overflow calling %s", f->name);
			return -1;
		}
		callee = &X->w->frames[X->w->depth - 1];
		callee->ret_pc = pc + 1;
		callee->call = in->target;
		/* Arguments: the caller's call-site params into the callee's params. */
		for (int i = 0; i < c->nargs && i < f->nparams; i++) {
			const struct ptx_sym *s = &mod->syms[c->args[i]];
			LANES(m)
			memcpy(callee->fparam + (size_t)l * f->frame_param_size +
				   f->params[i].offset,
			       caller->fparam + (size_t)l * fsz + s->offset,
			       f->params[i].size < s->size ? f->params[i].size : s->size);
		}
		X->F = callee;
	}
	return 0;
}

/* A frame's lanes have all returned: back to the caller. */
static void do_return(struct xctx *X)
{
	const struct ptx_module *mod = X->B->L->mod;
	struct warp *w = X->w;
	struct frame *callee = &w->frames[w->depth - 1], *caller = &w->frames[w->depth - 2];
	const struct ptx_call *c = &mod->calls[callee->call];
	uint32_t back = callee->ret_mask;
	int ret_pc = callee->ret_pc;

	for (int i = 0; i < c->nret && i < callee->f->nrets; i++) {
		const struct ptx_sym *s = &mod->syms[c->ret[i]];
		LANES(back)
		memcpy(caller->fparam + (size_t)l * caller->f->frame_param_size + s->offset,
		       callee->fparam + (size_t)l * callee->f->frame_param_size +
			   callee->f->rets[i].offset,
		       s->size < callee->f->rets[i].size ? s->size : callee->f->rets[i].size);
	}
	frame_pop(w);
	X->F = &w->frames[w->depth - 1];
	X->F->stack[X->F->sp - 1].pc = ret_pc;
}

/* ---- fast paths: the common cases without per-lane dispatch ------------------------------ */

/* The 32 lane values of an operand: registers in place, anything else
 * expanded into tmp. */
static const uint64_t *lane_values(const struct xctx *X, const struct ptx_operand *o, uint64_t *tmp)
{
	uint64_t v;

	if (o->kind == OK_REG)
		return X->F->R + o->reg * 32;
	if (o->kind == OK_SREG || o->kind == OK_PRED) {
		for (int l = 0; l < 32; l++)
			tmp[l] = opv(X, o, l);
		return tmp;
	}
	v = opv(X, o, 0);
	for (int l = 0; l < 32; l++)
		tmp[l] = v;
	return tmp;
}

#define FAST_LOOP(expr)                                                                            \
	do {                                                                                       \
		if (m == FULL) {                                                                   \
			for (int l = 0; l < 32; l++)                                               \
				D[l] = (expr);                                                     \
		} else {                                                                           \
			LANES(m) D[l] = (expr);                                                    \
		}                                                                                  \
	} while (0)

static inline uint32_t u32f(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

static inline float f32u(uint64_t v)
{
	uint32_t u = (uint32_t)v;
	float f;

	memcpy(&f, &u, 4);
	return f;
}

/* Integer and f32 arithmetic on 32/64-bit values in registers or immediates.
 * Returns 0 when the instruction needs the general path. */
static int fast_alu(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	uint64_t ta[32], tb[32], tc[32];
	const uint64_t *A, *B, *C = NULL;
	uint64_t *D;
	unsigned size = PTX_SIZE(in->type);
	int kind = PTX_KIND(in->type);

	if (in->o[0].kind != OK_REG || in->nops < 3 || (in->mods & ~(MOD_LO | MOD_WIDE | MOD_RN)))
		return 0;
	if (size != 4 && size != 8)
		return 0;
	D = X->F->R + in->o[0].reg * 32;
	A = lane_values(X, &in->o[1], ta);
	B = lane_values(X, &in->o[2], tb);
	if (in->nops > 3)
		C = lane_values(X, &in->o[3], tc);
	if (kind == PK_F) {
		if (size != 4)
			return 0;
		switch (in->op) {
		case OP_ADD:
			FAST_LOOP(u32f(f32u(A[l]) + f32u(B[l])));
			return 1;
		case OP_SUB:
			FAST_LOOP(u32f(f32u(A[l]) - f32u(B[l])));
			return 1;
		case OP_MUL:
			FAST_LOOP(u32f(f32u(A[l]) * f32u(B[l])));
			return 1;
		case OP_FMA:
		case OP_MAD:
			FAST_LOOP(u32f(fmaf(f32u(A[l]), f32u(B[l]), f32u(C[l]))));
			return 1;
		default:
			return 0;
		}
	}
	if (in->mods & MOD_WIDE) {
		if (size != 4 || (in->op != OP_MUL && in->op != OP_MAD))
			return 0;
		if (kind == PK_S && in->op == OP_MUL)
			FAST_LOOP((uint64_t)((int64_t)(int32_t)A[l] * (int32_t)B[l]));
		else if (kind == PK_S)
			FAST_LOOP((uint64_t)((int64_t)(int32_t)A[l] * (int32_t)B[l]) + C[l]);
		else if (in->op == OP_MUL)
			FAST_LOOP((uint64_t)(uint32_t)A[l] * (uint32_t)B[l]);
		else
			FAST_LOOP((uint64_t)(uint32_t)A[l] * (uint32_t)B[l] + C[l]);
		return 1;
	}
	if (size == 4) {
		switch (in->op) {
		case OP_ADD:
			FAST_LOOP((uint32_t)(A[l] + B[l]));
			return 1;
		case OP_SUB:
			FAST_LOOP((uint32_t)(A[l] - B[l]));
			return 1;
		case OP_MUL:
			FAST_LOOP((uint32_t)(A[l] * B[l]));
			return 1;
		case OP_MAD:
			FAST_LOOP((uint32_t)(A[l] * B[l] + C[l]));
			return 1;
		case OP_AND:
			FAST_LOOP((uint32_t)(A[l] & B[l]));
			return 1;
		case OP_OR:
			FAST_LOOP((uint32_t)(A[l] | B[l]));
			return 1;
		case OP_XOR:
			FAST_LOOP((uint32_t)(A[l] ^ B[l]));
			return 1;
		case OP_SHL:
			FAST_LOOP((uint32_t)B[l] >= 32
				      ? 0
				      : (uint32_t)((uint32_t)A[l] << (uint32_t)B[l]));
			return 1;
		case OP_SHR:
			if (kind == PK_S)
				FAST_LOOP((uint32_t)((int32_t)A[l] >>
						     ((uint32_t)B[l] >= 32 ? 31 : (uint32_t)B[l])));
			else
				FAST_LOOP((uint32_t)B[l] >= 32 ? 0
							       : (uint32_t)A[l] >> (uint32_t)B[l]);
			return 1;
		default:
			return 0;
		}
	}
	switch (in->op) {
	case OP_ADD:
		FAST_LOOP(A[l] + B[l]);
		return 1;
	case OP_SUB:
		FAST_LOOP(A[l] - B[l]);
		return 1;
	case OP_MUL:
		FAST_LOOP(A[l] * B[l]);
		return 1;
	case OP_MAD:
		FAST_LOOP(A[l] * B[l] + C[l]);
		return 1;
	case OP_AND:
		FAST_LOOP(A[l] & B[l]);
		return 1;
	case OP_OR:
		FAST_LOOP(A[l] | B[l]);
		return 1;
	case OP_XOR:
		FAST_LOOP(A[l] ^ B[l]);
		return 1;
	case OP_SHL:
		FAST_LOOP((uint32_t)B[l] >= 64 ? 0 : A[l] << (uint32_t)B[l]);
		return 1;
	default:
		return 0;
	}
}

/* Scalar loads and stores of 4 or 8 bytes through a register address in
 * global memory, or in shared memory. Returns 0 for the general path. */
static int fast_mem(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	/* Kernel parameters: the same value for every lane. */
	if (in->op == OP_LD && in->space == PS_PARAM && in->vec <= 1 && in->o[1].base < 0 &&
	    in->o[1].reg >= 0 && in->o[0].kind == OK_REG) {
		const struct ptx_sym *sym = &X->B->L->mod->syms[in->o[1].reg];
		uint64_t off = sym->offset + (uint64_t)in->o[1].imm, v;
		unsigned sz = PTX_SIZE(in->type);
		uint64_t *D = X->F->R + in->o[0].reg * 32;
		if (sym->kind != SYM_KPARAM || off + sz > X->B->L->kernel->param_size)
			return 0;
		v = load_elem(X->B->L->params + off, in->type);
		LANES(m) D[l] = v;
		return 1;
	}

	const struct ptx_operand *a = &in->o[in->op == OP_LD ? 1 : 0];
	const struct ptx_operand *v = &in->o[in->op == OP_LD ? 0 : 1];
	unsigned size = PTX_SIZE(in->type);
	const uint64_t *base;
	uint64_t tv[32];
	const uint64_t *V = NULL;
	uint8_t *ptr[32];
	int64_t imm = a->imm;

	if (in->vec > 1 || a->base < 0 || a->reg >= 0 || v->kind == OK_VEC || v->kind == OK_PRED)
		return 0;
	if ((size != 4 && size != 8) || PTX_KIND(in->type) == PK_S)
		return 0;
	if (in->space != PS_GLOBAL && in->space != PS_SHARED)
		return 0;
	base = X->F->R + a->base * 32;
	if (in->space == PS_GLOBAL) {
		LANES(m) if (!(ptr[l] = emu_dev_fast(base[l] + (uint64_t)imm, size))) return 0;
	} else {
		uint32_t limit = X->B->smem_size;
		LANES(m)
		{
			uint64_t off = base[l] + (uint64_t)imm;
			if (off >= limit || size > limit - off)
				return 0;
			ptr[l] = X->B->smem + off;
		}
	}
	if (in->op == OP_LD) {
		uint64_t *D = X->F->R + v->reg * 32;
		if (v->kind != OK_REG)
			return 0;
		if (size == 4) {
			LANES(m)
			{
				uint32_t x;
				memcpy(&x, ptr[l], 4);
				D[l] = x;
			}
		} else {
			LANES(m) memcpy(&D[l], ptr[l], 8);
		}
		return 1;
	}
	V = lane_values(X, v, tv);
	if (size == 4) {
		LANES(m)
		{
			uint32_t x = (uint32_t)V[l];
			memcpy(ptr[l], &x, 4);
		}
	} else {
		LANES(m) memcpy(ptr[l], &V[l], 8);
	}
	return 1;
}

static int fast_setp(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	uint64_t ta[32], tb[32];
	const uint64_t *A, *B;
	uint32_t r = 0, *P;
	int s = PTX_KIND(in->type) == PK_S;

	if ((in->sub2 & 0x80) || in->nops != 3 || in->o[0].kind != OK_PRED ||
	    PTX_SIZE(in->type) != 4 || PTX_KIND(in->type) == PK_F)
		return 0;
	A = lane_values(X, &in->o[1], ta);
	B = lane_values(X, &in->o[2], tb);
	switch (in->cmp) {
#define SETP_CASE(c, sop, uop)                                                                     \
	case c:                                                                                    \
		if (s) {                                                                           \
			LANES(m) r |= (uint32_t)((int32_t)A[l] sop(int32_t) B[l]) << l;            \
		} else {                                                                           \
			LANES(m) r |= (uint32_t)((uint32_t)A[l] uop(uint32_t) B[l]) << l;          \
		}                                                                                  \
		break;
		SETP_CASE(CMP_EQ, ==, ==)
		SETP_CASE(CMP_NE, !=, !=)
		SETP_CASE(CMP_LT, <, <)
		SETP_CASE(CMP_LE, <=, <=)
		SETP_CASE(CMP_GT, >, >)
		SETP_CASE(CMP_GE, >=, >=)
		SETP_CASE(CMP_LO, <, <)
		SETP_CASE(CMP_LS, <=, <=)
		SETP_CASE(CMP_HI, >, >)
		SETP_CASE(CMP_HS, >=, >=)
#undef SETP_CASE
	default:
		return 0;
	}
	P = &X->F->P[in->o[0].reg];
	*P = (*P & ~m) | r;
	return 1;
}

/* ---- the warp loop ------------------------------------------------------------------------ */

static int branch(struct frame *F, const struct ptx_insn *in, uint32_t active, uint32_t taken)
{
	struct simt *top = &F->stack[F->sp - 1];
	int pc = top->pc;

	if (taken == active) {
		top->pc = in->target;
		return 0;
	}
	if (taken == 0) {
		top->pc = pc + 1;
		return 0;
	}
	/* Divergence: this entry waits at the reconvergence point for both sides. */
	top->pc = in->reconv;
	if (simt_push(F, pc + 1, in->reconv, active & ~taken) != 0 ||
	    simt_push(F, in->target, in->reconv, taken) != 0)
		return -1;
	return 0;
}

static int run_warp(struct block *B, struct warp *w)
{
	struct xctx X = {B, w, &w->frames[w->depth - 1]};

	for (;;) {
		struct frame *F = X.F;
		struct simt *top;
		const struct ptx_insn *in;
		uint32_t active, m;
		int pc;

		if (F->sp == 0 || (top = &F->stack[F->sp - 1])->mask == 0 || top->pc == top->rpc ||
		    top->pc >= F->f->ninsns) {
			if (F->sp > 0 && top->pc >= F->f->ninsns && top->mask) {
				/* Falling off the end is a return. */
				F->ret_mask |= top->mask;
				simt_remove(F, top->mask);
			}
			if (F->sp > 0) {
				F->sp--;
				if (F->sp > 0)
					continue;
			}
			if (w->depth == 1) {
				w->done = 1;
				return RUN_DONE;
			}
			do_return(&X);
			continue;
		}
		pc = top->pc;
		in = &F->f->insns[pc];
		active = top->mask;
		m = active;
		if (in->guard >= 0)
			m &= in->guard_neg ? ~F->P[in->guard] : F->P[in->guard];
		switch (in->op) {
		case OP_BRA:
			if (branch(F, in, active, m) != 0)
				goto out_nomem;
			continue;
		case OP_EXIT:
		case OP_RET:
			if (in->op == OP_EXIT || w->depth == 1) {
				w->exited |= m;
				for (int i = 0; i < w->depth; i++)
					simt_remove(&w->frames[i], m);
			} else {
				F->ret_mask |= m;
				simt_remove(F, m);
			}
			if (m != active)
				top->pc = pc + 1;
			continue;
		case OP_CALL:
			top->pc = pc + 1;
			if (m == 0)
				continue;
			if (do_call(&X, in, m, pc) != 0)
				return RUN_FAULT;
			continue;
		case OP_BAR:
			top->pc = pc + 1;
			if (m == 0)
				continue;
			w->at_barrier = 1;
			return RUN_BARRIER;
		case OP_TRAP:
			if (m) {
				exec_fail(B, in, CUDA_ERROR_LAUNCH_FAILED, "trap");
				return RUN_FAULT;
			}
			break;
		default:
			break;
		}
		top->pc = pc + 1;
		if (m == 0)
			continue;
		B->insns += (uint64_t)__builtin_popcount(m);
		switch (in->op) {
		case OP_MOV:
			do_mov(&X, in, m);
			break;
		case OP_LD:
			if (!fast_mem(&X, in, m) && do_ld(&X, in, m) != 0)
				return RUN_FAULT;
			break;
		case OP_ST:
			if (!fast_mem(&X, in, m) && do_st(&X, in, m) != 0)
				return RUN_FAULT;
			break;
		case OP_ATOM:
		case OP_RED:
			if (do_atom(&X, in, m) != 0)
				return RUN_FAULT;
			break;
		case OP_CVTA: {
			/* cvta.space: to generic; cvta.to.space: from generic. */
			uint64_t win = in->space == PS_SHARED  ? GWIN_SHARED
				       : in->space == PS_LOCAL ? GWIN_LOCAL
				       : in->space == PS_CONST ? GWIN_CONST
				       : in->space == PS_PARAM ? GWIN_PARAM
							       : 0;
			int to = (in->mods & MOD_TO) != 0;
			if (win == 0 && in->o[1].kind == OK_REG && in->o[0].kind == OK_REG) {
				uint64_t *D = F->R + in->o[0].reg * 32,
					 *A = F->R + in->o[1].reg * 32;
				LANES(m) D[l] = A[l];
				break;
			}
			LANES(m)
			{
				uint64_t v = opv(&X, &in->o[1], (int)l);
				set_reg(&X, &in->o[0], (int)l,
					win == 0 ? v
					: to	 ? (v & GWIN_MASK)
						 : (v | win));
			}
			break;
		}
		case OP_CVT:
			LANES(m)
			set_reg(&X, &in->o[0], (int)l, convert(in, opv(&X, &in->o[1], (int)l)));
			break;
		case OP_SETP:
			if (!fast_setp(&X, in, m))
				do_setp(&X, in, m);
			break;
		case OP_SET:
			LANES(m)
			{
				int r =
				    compare(in->cmp, in->type2 ? in->type2 : in->type,
					    opv(&X, &in->o[1], (int)l), opv(&X, &in->o[2], (int)l));
				uint64_t v = PTX_KIND(in->type) == PK_F ? (r ? bf32(1.0f) : 0)
									: (r ? 0xffffffffu : 0);
				set_reg(&X, &in->o[0], (int)l, v);
			}
			break;
		case OP_SELP:
			LANES(m)
			set_reg(&X, &in->o[0], (int)l,
				opv(&X, &in->o[3], (int)l) ? opv(&X, &in->o[1], (int)l)
							   : opv(&X, &in->o[2], (int)l));
			break;
		case OP_SLCT:
			LANES(m)
			{
				uint64_t c = opv(&X, &in->o[3], (int)l);
				int ge = PTX_KIND(in->type2) == PK_F ? !(f32(c) < 0.0f)
								     : (int32_t)c >= 0;
				set_reg(&X, &in->o[0], (int)l,
					ge ? opv(&X, &in->o[1], (int)l)
					   : opv(&X, &in->o[2], (int)l));
			}
			break;
		case OP_TESTP:
			LANES(m)
			{
				uint64_t v = opv(&X, &in->o[1], (int)l);
				int cls = PTX_SIZE(in->type) == 4 ? fpclassify(f32(v))
								  : fpclassify(f64(v));
				set_pred(&X, &in->o[0], (int)l, testp(in->sub, cls));
			}
			break;
		case OP_BFI:
			LANES(m)
			set_reg(&X, &in->o[0], (int)l,
				bfi(opv(&X, &in->o[1], (int)l), opv(&X, &in->o[2], (int)l),
				    opv(&X, &in->o[3], (int)l), opv(&X, &in->o[4], (int)l),
				    PTX_SIZE(in->type)));
			break;
		case OP_LOP3:
			LANES(m)
			set_reg(&X, &in->o[0], (int)l,
				lop3((uint32_t)opv(&X, &in->o[1], (int)l),
				     (uint32_t)opv(&X, &in->o[2], (int)l),
				     (uint32_t)opv(&X, &in->o[3], (int)l),
				     (uint32_t)opv(&X, &in->o[4], (int)l)));
			break;
		case OP_PRMT:
			LANES(m)
			set_reg(&X, &in->o[0], (int)l,
				prmt((uint32_t)opv(&X, &in->o[1], (int)l),
				     (uint32_t)opv(&X, &in->o[2], (int)l),
				     (uint32_t)opv(&X, &in->o[3], (int)l)));
			break;
		case OP_SHF:
			LANES(m)
			set_reg(&X, &in->o[0], (int)l,
				shf((uint32_t)opv(&X, &in->o[1], (int)l),
				    (uint32_t)opv(&X, &in->o[2], (int)l),
				    (uint32_t)opv(&X, &in->o[3], (int)l), (in->mods & MOD_L) != 0,
				    (in->mods & MOD_CLAMP) != 0));
			break;
		case OP_SHFL:
			do_shfl(&X, in, m);
			break;
		case OP_VOTE:
			do_vote(&X, in, m);
			break;
		case OP_MATCH:
			do_match(&X, in, m);
			break;
		case OP_REDUX:
			do_redux(&X, in, m);
			break;
		case OP_ACTIVEMASK:
			LANES(m) set_reg(&X, &in->o[0], (int)l, active);
			break;
		case OP_MEMBAR:
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			break;
		case OP_BARWARP:
		case OP_NOP:
		case OP_PREFETCH:
			break;
		case OP_ADD:
		case OP_SUB:
		case OP_MUL:
		case OP_MAD:
		case OP_MUL24:
		case OP_MAD24:
		case OP_DIV:
		case OP_REM:
		case OP_ABS:
		case OP_NEG:
		case OP_MIN:
		case OP_MAX:
		case OP_POPC:
		case OP_CLZ:
		case OP_BFIND:
		case OP_BREV:
		case OP_BFE:
		case OP_AND:
		case OP_OR:
		case OP_XOR:
		case OP_NOT:
		case OP_CNOT:
		case OP_SHL:
		case OP_SHR:
		case OP_FMA:
		case OP_RCP:
		case OP_SQRT:
		case OP_RSQRT:
		case OP_SIN:
		case OP_COS:
		case OP_LG2:
		case OP_EX2:
		case OP_TANH:
		case OP_COPYSIGN:
			if (!fast_alu(&X, in, m))
				do_alu(&X, in, m);
			break;
		default:
			exec_fail(B, in, CUDA_ERROR_NOT_SUPPORTED,
				  "instruction not supported by the CPU device");
			return RUN_FAULT;
		}
		if (exec_failed(B))
			return RUN_FAULT;
	}
out_nomem:
	exec_fail(B, NULL, CUDA_ERROR_OUT_OF_MEMORY, "out of host memory");
	return RUN_FAULT;
}

/* ---- blocks --------------------------------------------------------------------------- */

/* Each host thread keeps one block's memory and reuses it for the next. */
static __thread struct block block_cache;
static __thread int block_cache_warps;
static __thread size_t block_cache_smem, block_cache_local;

static int block_memory(struct block *B, size_t smem, size_t local)
{
	if (B->nwarps > block_cache_warps) {
		struct warp *w = realloc(block_cache.warps, (size_t)B->nwarps * sizeof(*w));
		if (!w)
			return -1;
		memset(w + block_cache_warps, 0,
		       (size_t)(B->nwarps - block_cache_warps) * sizeof(*w));
		block_cache.warps = w;
		block_cache_warps = B->nwarps;
	}
	if (smem > block_cache_smem) {
		uint8_t *p = realloc(block_cache.smem, smem);
		if (!p)
			return -1;
		block_cache.smem = p;
		block_cache_smem = smem;
	}
	if (local > block_cache_local) {
		uint8_t *p = realloc(block_cache.local, local);
		if (!p)
			return -1;
		block_cache.local = p;
		block_cache_local = local;
	}
	B->warps = block_cache.warps;
	B->smem = block_cache.smem;
	B->local = block_cache.local;
	memset(B->smem, 0, smem);
	return 0;
}

/* Whether a kernel calls device functions (and so needs a call stack). */
static int kernel_calls(const struct exec_launch *L)
{
	for (int i = 0; i < L->kernel->ninsns; i++)
		if (L->kernel->insns[i].op == OP_CALL &&
		    L->mod->calls[L->kernel->insns[i].target].builtin == 0)
			return 1;
	return 0;
}

static int block_setup(struct block *B, struct exec_launch *L, uint64_t index)
{
	const struct ptx_func *k = L->kernel;

	memset(B, 0, sizeof(*B));
	B->L = L;
	B->ctaid[0] = (uint32_t)(index % L->grid[0]);
	B->ctaid[1] = (uint32_t)(index / L->grid[0] % L->grid[1]);
	B->ctaid[2] = (uint32_t)(index / ((uint64_t)L->grid[0] * L->grid[1]));
	B->nthreads = L->block[0] * L->block[1] * L->block[2];
	B->nwarps = (int)((B->nthreads + 31) / 32);
	B->smem_size = L->static_smem + L->dyn_smem;
	B->local_stride = L->local_stride;
	if (block_memory(B, B->smem_size ? B->smem_size : 1,
			 (size_t)B->nwarps * 32 * (B->local_stride ? B->local_stride : 1)) != 0)
		return -1;
	for (int wi = 0; wi < B->nwarps; wi++) {
		struct warp *w = &B->warps[wi];
		w->id = wi;
		w->valid = w->exited = 0;
		w->done = w->at_barrier = w->depth = 0;
		w->valid = (uint32_t)(B->nthreads - (uint32_t)wi * 32 >= 32
					  ? FULL
					  : (1u << (B->nthreads - (uint32_t)wi * 32)) - 1);
		w->tid = L->tids + (size_t)wi * 3;
		if (frame_push(w, k, w->valid, 0) != 0)
			return -1;
	}
	return 0;
}

/* Runs every warp until it finishes or waits at a barrier; when all live
 * warps wait, they all go on. */
static void block_run(struct exec_launch *L, uint64_t index)
{
	struct block B;

	if (block_setup(&B, L, index) != 0) {
		exec_fail(&B, NULL, CUDA_ERROR_OUT_OF_MEMORY, "out of host memory for a block");
		return;
	}
	for (;;) {
		int alive = 0;
		for (int i = 0; i < B.nwarps; i++) {
			struct warp *w = &B.warps[i];
			if (w->done || w->at_barrier)
				continue;
			if (run_warp(&B, w) == RUN_FAULT)
				goto out;
		}
		for (int i = 0; i < B.nwarps; i++)
			alive += !B.warps[i].done;
		if (alive == 0)
			break;
		for (int i = 0; i < B.nwarps; i++)
			B.warps[i].at_barrier = 0;
	}
out:
	__atomic_fetch_add(&lane_instructions, B.insns, __ATOMIC_RELAXED);
}

/* ---- the host thread pool ---------------------------------------------------------------- */

struct pool {
	pthread_mutex_t lock;
	pthread_cond_t work, idle;
	int nthreads, started;
	uint64_t generation;
	struct exec_launch *job;
	uint64_t next, total;
	int busy, acked; /* workers running this job; workers that took it */
};

static struct pool pool = {.lock = PTHREAD_MUTEX_INITIALIZER,
			   .work = PTHREAD_COND_INITIALIZER,
			   .idle = PTHREAD_COND_INITIALIZER};

/* Blocks are taken a few at a time, so that the threads do not fight over
 * the counter when blocks are small. */
static void pool_drain(struct exec_launch *L)
{
	uint64_t chunk = pool.total / ((uint64_t)pool.nthreads * 64) + 1;

	for (;;) {
		uint64_t first = __atomic_fetch_add(&pool.next, chunk, __ATOMIC_RELAXED);
		for (uint64_t i = first; i < first + chunk; i++) {
			if (i >= pool.total || L->error != CUDA_SUCCESS)
				return;
			block_run(L, i);
		}
	}
}

static void *pool_main(void *arg)
{
	uint64_t seen = 0;

	pthread_mutex_lock(&pool.lock);
	for (;;) {
		while (pool.generation == seen)
			pthread_cond_wait(&pool.work, &pool.lock);
		struct exec_launch *job = pool.job;
		seen = pool.generation;
		pool.busy++;
		pool.acked++;
		pthread_mutex_unlock(&pool.lock);
		pool_drain(job);
		pthread_mutex_lock(&pool.lock);
		pool.busy--;
		pthread_cond_broadcast(&pool.idle);
	}
	return arg;
}

static void pool_start(void)
{
	const char *env = getenv("VCUDA_CPU_THREADS");
	int n = env ? atoi(env) : emu.dev.ncores;

	pool.nthreads = n < 1 ? 1 : n > 256 ? 256 : n;
	for (int i = 1; i < pool.nthreads; i++) {
		pthread_t t;
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &a, pool_main, NULL) != 0) {
			pool.nthreads = i;
			pthread_attr_destroy(&a);
			break;
		}
		pthread_attr_destroy(&a);
	}
	pool.started = 1;
}

/* Every block's threads have the same coordinates: computed once. */
static int launch_tids(struct exec_launch *L)
{
	uint32_t n = L->block[0] * L->block[1] * L->block[2], nwarps = (n + 31) / 32;

	L->tids = calloc((size_t)nwarps * 3, sizeof(*L->tids));
	if (!L->tids)
		return -1;
	for (uint32_t t = 0; t < n; t++) {
		uint32_t(*w)[32] = L->tids + (size_t)(t / 32) * 3;
		w[0][t % 32] = t % L->block[0];
		w[1][t % 32] = t / L->block[0] % L->block[1];
		w[2][t % 32] = t / (L->block[0] * L->block[1]);
	}
	return 0;
}

/* One launch at a time runs on the pool; the calling thread works too. */
static pthread_mutex_t launch_lock = PTHREAD_MUTEX_INITIALIZER;

CUresult exec_launch(struct exec_launch *L)
{
	uint64_t total = (uint64_t)L->grid[0] * L->grid[1] * L->grid[2];

	L->error = CUDA_SUCCESS;
	L->message[0] = '\0';
	L->local_stride =
	    (L->kernel->local_size + (kernel_calls(L) ? EXEC_STACK_BYTES : 0) + 15) & ~15u;
	if (launch_tids(L) != 0)
		return CUDA_ERROR_OUT_OF_MEMORY;
	pthread_mutex_lock(&launch_lock);
	pthread_mutex_lock(&pool.lock);
	if (!pool.started)
		pool_start();
	int helpers = (pool.nthreads > 1 && total > 1) ? pool.nthreads - 1 : 0;
	pool.job = L;
	pool.next = 0;
	pool.total = total;
	pool.acked = 0;
	if (helpers) {
		pool.generation++;
		pthread_cond_broadcast(&pool.work);
	}
	pthread_mutex_unlock(&pool.lock);
	pool_drain(L);
	pthread_mutex_lock(&pool.lock);
	/* Every helper has taken this job and finished it. */
	while (pool.acked < helpers || pool.busy > 0)
		pthread_cond_wait(&pool.idle, &pool.lock);
	pool.job = NULL;
	pthread_mutex_unlock(&pool.lock);
	pthread_mutex_unlock(&launch_lock);
	free(L->tids);
	L->tids = NULL;
	fflush(stdout);
	return L->error;
}
