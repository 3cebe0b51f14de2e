/* The interpreter: call frames, the reconvergence stack, and the
 * instructions, with fast paths for the common cases. */
#include "config.h"

#include <fenv.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devheap.h"
#include "exec_int.h"
#include "util.h"

/* ---- frames --------------------------------------------------------------------------- */

/* Makes *buf hold at least n zeroed bytes, keeping its memory when it can. */
int emu_frame_buffer(void **buf, size_t *cap, size_t n, int zero)
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

int emu_frame_push(struct warp *w, const struct ptx_func *f, uint32_t mask, uint32_t local_base)
{
	struct frame *F;

	if (w->depth == MAX_DEPTH)
		return -1;
	F = &w->frames[w->depth];
	/* Registers start at zero, so that a kernel reading one it never
	 * wrote sees no earlier kernel's values (and both tiers agree). */
	if (emu_frame_buffer((void **)&F->R, &F->R_cap,
			     (size_t)(f->nregs ? f->nregs : 1) * 32 * sizeof(uint64_t), 1) ||
	    emu_frame_buffer((void **)&F->P, &F->P_cap,
			     (size_t)(f->npreds ? f->npreds : 1) * sizeof(uint32_t), 1) ||
	    emu_frame_buffer((void **)&F->fparam, &F->fp_cap,
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
	F->dyn_top = local_base + f->local_size;
	F->ret_mask = 0;
	F->ret_pc = 0;
	F->call = 0;
	w->depth++;
	return 0;
}

/* The frame's buffers stay with the warp slot for reuse. */
void emu_frame_pop(struct warp *w)
{
	w->depth--;
}

int emu_simt_push(struct frame *F, int pc, int rpc, uint32_t mask)
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
void emu_simt_remove(struct frame *F, uint32_t lanes)
{
	for (int i = 0; i < F->sp; i++)
		F->stack[i].mask &= ~lanes;
}

/* ---- instruction groups ---------------------------------------------------------------- */

void emu_do_mov(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
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
			LANES(m) D[l] = trunc_to(emu_sreg_value(X, a->reg, (int)l), size);
			return;
		}
		v = trunc_to(emu_sreg_value(X, a->reg, 0), size);
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

int emu_do_ld(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	const struct ptx_operand *d = &in->o[0], *a = &in->o[1];
	unsigned size = PTX_SIZE(in->type), n = in->vec ? in->vec : 1;

	LANES(m)
	{
		const uint8_t *p = emu_addr_of(X, in, a, size * n, (int)l);
		if (!p)
			return -1;
		if (d->kind == OK_VEC) {
			for (unsigned i = 0; i < n; i++)
				if (d->vec[i] >= 0)
					X->F->R[d->vec[i] * 32 + (int)l] =
					    emu_load_elem(p + i * size, in->type);
		} else if (d->kind == OK_PRED) {
			set_pred(X, d, (int)l, emu_load_elem(p, in->type) != 0);
		} else {
			set_reg(X, d, (int)l, emu_load_elem(p, in->type));
		}
	}
	return 0;
}

int emu_do_st(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	const struct ptx_operand *a = &in->o[0], *v = &in->o[1];
	unsigned size = PTX_SIZE(in->type), n = in->vec ? in->vec : 1;

	LANES(m)
	{
		uint8_t *p = emu_addr_of(X, in, a, size * n, (int)l);
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

void emu_do_setp(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	int pair = (in->sub2 & 0x80) != 0;
	const struct ptx_operand *p = &in->o[0], *q = pair ? &in->o[1] : NULL;
	const struct ptx_operand *a = &in->o[pair ? 2 : 1], *b = &in->o[pair ? 3 : 2];
	const struct ptx_operand *c = in->nops > (pair ? 4 : 3) ? &in->o[pair ? 4 : 3] : NULL;

	LANES(m)
	{
		uint64_t va = opv(X, a, (int)l), vb = opv(X, b, (int)l);
		int r = emu_compare(in->cmp, in->type, va, vb), r2 = !r;
		if (in->type & 0x80) /* f16x2, bf16x2: p the low halves, q the high */
			r2 = emu_compare(in->cmp, in->type, va >> 16, vb >> 16);
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

int emu_do_atom(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	int red = in->op == OP_RED;
	const struct ptx_operand *d = red ? NULL : &in->o[0];
	const struct ptx_operand *a = &in->o[red ? 0 : 1], *b = &in->o[red ? 1 : 2];
	const struct ptx_operand *c = in->nops > (red ? 2 : 3) ? &in->o[red ? 2 : 3] : NULL;
	unsigned size = PTX_SIZE(in->type);

	LANES(m)
	{
		uint8_t *p = emu_addr_of(X, in, a, size, (int)l);
		uint64_t old;
		int shared;
		if (!p)
			return -1;
		shared = in->space == PS_SHARED || in->space == PS_LOCAL ||
			 (p >= X->B->smem && p < X->B->smem + X->B->smem_size);
		old = emu_atomic_rmw(p, shared, in->sub, in->type, opv(X, b, (int)l),
				     c ? opv(X, c, (int)l) : 0);
		if (d)
			set_reg(X, d, (int)l, old);
	}
	return 0;
}

void emu_do_shfl(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
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
		int j = emu_shfl_source(in->sub, l, (uint32_t)opv(X, b, (int)l),
					(uint32_t)opv(X, c, (int)l), &ok[l]);
		res[l] = src[j];
	}
	LANES(m)
	{
		set_reg(X, d, (int)l, res[l]);
		if (p)
			set_pred(X, p, (int)l, ok[l]);
	}
}

/*
 * The membermask of a .sync warp op, the operand at index i, for each lane
 * of m (all lanes where the op has none: the old unsynchronized forms).
 * Lanes of a converged warp may name different masks (each the group a
 * match.any found it in): each lane's result is then over its own group's
 * executing lanes only.
 */
static void member_masks(const struct xctx *X, const struct ptx_insn *in, int i, uint32_t m,
			 uint32_t *mm)
{
	LANES(m) mm[l] = i < in->nops ? (uint32_t)opv(X, &in->o[i], (int)l) & m : m;
}

void emu_do_vote(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	const struct ptx_operand *d = &in->o[0], *a = &in->o[1];
	uint32_t yes = 0, mm[32];

	member_masks(X, in, 2, m, mm);
	LANES(m) if (opv(X, a, (int)l)) yes |= 1u << l;
	LANES(m)
	{
		uint32_t r = emu_vote_result(in->sub, yes, mm[l]);
		if (in->sub == SUB_BALLOT)
			set_reg(X, d, (int)l, r);
		else
			set_pred(X, d, (int)l, r != 0);
	}
}

void emu_do_match(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	const struct ptx_operand *d = &in->o[0], *p = (in->sub2 & 0x80) ? &in->o[1] : NULL;
	int ia = p ? 2 : 1;
	uint64_t v[32];
	uint32_t mm[32], same[32];

	member_masks(X, in, ia + 1, m, mm);
	LANES(m) v[l] = trunc_to(opv(X, &in->o[ia], (int)l), PTX_SIZE(in->type));
	LANES(m)
	{
		same[l] = 0;
		for (uint32_t g = mm[l]; g; g &= g - 1)
			if (v[__builtin_ctz(g)] == v[l])
				same[l] |= g & -g;
	}
	LANES(m)
	{
		int all = same[l] == mm[l];
		set_reg(X, d, (int)l, in->sub == SUB_MATCH_ALL ? (all ? mm[l] : 0) : same[l]);
		if (p)
			set_pred(X, p, (int)l, all);
	}
}

void emu_do_redux(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	uint64_t v[32];
	uint32_t mm[32];

	member_masks(X, in, 2, m, mm);
	LANES(m) v[l] = trunc_to(opv(X, &in->o[1], (int)l), 4);
	LANES(m) set_reg(X, &in->o[0], (int)l, emu_redux_result(in->sub, in->type, v, l, mm[l]));
}

uint32_t emu_redux_result(int sub, uint8_t type, const uint64_t *v, uint32_t l, uint32_t g)
{
	uint64_t acc = trunc_to(v[l], 4);

	for (g &= ~(1u << l); g; g &= g - 1)
		acc = emu_atomic_new(sub, type, acc, trunc_to(v[__builtin_ctz(g)], 4), 0);
	return (uint32_t)acc;
}

/* The usual arithmetic: d = op(a, b[, c]) for each lane. */
void emu_do_alu(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	const struct ptx_operand *d = &in->o[0];
	const struct ptx_operand *a = &in->o[1], *b = in->nops > 2 ? &in->o[2] : NULL;
	const struct ptx_operand *c = in->nops > 3 ? &in->o[3] : NULL;
	int fl = (PTX_KIND(in->type) == PK_F || PTX_KIND(in->type) == PK_BF) && in->op != OP_AND &&
		 in->op != OP_OR && in->op != OP_XOR;
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
	if (fl && emu_is_small_float(in->type)) {
		LANES(m)
		set_reg(X, d, (int)l,
			emu_half_exec(in, opv(X, a, (int)l), b ? opv(X, b, (int)l) : 0,
				      c ? opv(X, c, (int)l) : 0));
		return;
	}
	if (fl && (in->mods & (MOD_RZ | MOD_RM | MOD_RP)))
		old = emu_set_round(in->mods);
	if (fl) {
		LANES(m)
		set_reg(X, d, (int)l,
			emu_float_exec(in, opv(X, a, (int)l), b ? opv(X, b, (int)l) : 0,
				       c ? opv(X, c, (int)l) : 0));
	} else {
		LANES(m)
		set_reg(X, d, (int)l,
			emu_int_op(in, opv(X, a, (int)l), b ? opv(X, b, (int)l) : 0,
				   c ? opv(X, c, (int)l) : 0));
	}
	if (old >= 0)
		fesetround(old);
}

/* The high half of a*b, for mad.hi.cc/madc.hi. */
static uint64_t carry_mul_hi(uint64_t a, uint64_t b, unsigned size, int is_signed)
{
	if (size == 4)
		return is_signed ? (uint64_t)(uint32_t)(((int64_t)(int32_t)a * (int32_t)b) >> 32)
				 : ((a & 0xffffffffu) * (b & 0xffffffffu)) >> 32;
	if (is_signed)
		return (uint64_t)(((__int128)(int64_t)a * (int64_t)b) >> 64);
	return (uint64_t)(((unsigned __int128)a * b) >> 64);
}

/*
 * The extended-precision family, as the PTX ISA defines it: add.cc writes
 * the carry out of an addition to CC.CF, addc adds CC.CF in; sub.cc and
 * subc do the same with the borrow; mad.cc and madc add to the low or high
 * half of a product. Multi-word arithmetic (unsigned __int128) compiles to
 * chains of these.
 */
void emu_do_carry(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	unsigned size = PTX_SIZE(in->type);
	uint64_t mask = size == 8 ? ~0ull : 0xffffffffull;
	int use_cf = in->op == OP_ADDC || in->op == OP_SUBC || in->op == OP_MADC;
	int sets_cf = (in->mods & MOD_CC) != 0;
	int is_sub = in->op == OP_SUB || in->op == OP_SUBC;
	int is_mad = in->op == OP_MAD || in->op == OP_MADC;
	uint32_t cf_out = X->w->carry & ~m;

	LANES(m)
	{
		uint64_t a = opv(X, &in->o[1], (int)l) & mask, b = opv(X, &in->o[2], (int)l) & mask;
		uint64_t cin = use_cf ? (X->w->carry >> l) & 1 : 0, r, cout;
		if (is_mad) {
			uint64_t c = opv(X, &in->o[3], (int)l) & mask;
			a = (in->mods & MOD_HI)
				? carry_mul_hi(a, b, size, PTX_KIND(in->type) == PK_S)
				: (a * b) & mask;
			b = c;
		}
		if (is_sub) {
			/* As the hardware subtracts: a + ~b + CF, CF the carry of
			 * that sum, so a CF of 1 means no borrow. The PTX ISA
			 * describes subc as a - (b + CF) with CF a borrow; chains
			 * of subtractions alone read the same either way, but
			 * NVIDIA's own code (128-bit division) reads the CF a
			 * subtraction left with addc, and needs the hardware's. */
			uint64_t cf = in->op == OP_SUBC ? cin : 1;
			unsigned __int128 sum = (unsigned __int128)a + (~b & mask) + cf;
			r = (uint64_t)sum & mask;
			cout = (uint64_t)(sum >> (size * 8)) & 1;
		} else {
			unsigned __int128 sum = (unsigned __int128)a + b + cin;
			r = (uint64_t)sum & mask;
			cout = (uint64_t)(sum >> (size * 8)) & 1;
		}
		set_reg(X, &in->o[0], (int)l, r);
		cf_out |= (uint32_t)cout << l;
	}
	if (sets_cf)
		X->w->carry = cf_out;
}

/* Calls: device functions get a new frame; vprintf and friends run here. */
/* The value of a call's argument i for lane l, n bytes (zero-extended). */
static uint64_t call_arg(const struct xctx *X, const struct ptx_call *c, int i, int l)
{
	const struct ptx_module *mod = X->B->L->mod;
	const struct ptx_sym *s = &mod->syms[c->args[i]];
	uint64_t v = 0;

	memcpy(&v, X->F->fparam + (size_t)l * X->F->f->frame_param_size + s->offset,
	       s->size < 8 ? s->size : 8);
	return v;
}

static void call_ret(const struct xctx *X, const struct ptx_call *c, int l, uint64_t v)
{
	const struct ptx_sym *s;

	if (c->nret < 1)
		return;
	s = &X->B->L->mod->syms[c->ret[0]];
	memcpy(X->F->fparam + (size_t)l * X->F->f->frame_param_size + s->offset, &v,
	       s->size < 8 ? s->size : 8);
}

/* malloc(size) and free(ptr) on the context's device heap (devheap.c). */
static int device_heap_call(struct xctx *X, const struct ptx_insn *in, const struct ptx_call *c,
			    uint32_t m)
{
	struct emu_heap *heap = X->B->L->heap;

	if (c->nargs < 1 || !heap) {
		emu_exec_fail(X->B, in, CUDA_ERROR_INVALID_VALUE, "%s called without its argument",
			      c->builtin == BI_MALLOC ? "malloc" : "free");
		return -1;
	}
	LANES(m)
	{
		uint64_t a = call_arg(X, c, 0, (int)l);
		if (c->builtin == BI_MALLOC) {
			call_ret(X, c, (int)l, emu_heap_malloc(heap, a));
		} else if (emu_heap_free(heap, a) != 0) {
			emu_exec_fail(X->B, in, CUDA_ERROR_ILLEGAL_ADDRESS,
				      "free(%#llx) by thread (%u,%u,%u): not a block that "
				      "device malloc returned",
				      (unsigned long long)a, X->w->tid[0][l], X->w->tid[1][l],
				      X->w->tid[2][l]);
			return -1;
		}
	}
	return 0;
}

/* __assertfail(message, file, line, function, char size): each failing
 * thread's message goes to the guest's stderr in the form CUDA prints, and
 * the launch fails with CUDA_ERROR_ASSERT, which the context keeps. */
static int assert_fail(struct xctx *X, const struct ptx_insn *in, const struct ptx_call *c,
		       uint32_t m)
{
	const char *env = getenv("VCUDA_CPU_ASSERT_FD");
	int fd = env ? atoi(env) : 2;
	char msg[256] = "?", file[256] = "?", func[256] = "?";
	unsigned line = 0;

	LANES(m)
	{
		char text[1024];
		int n;
		if (c->nargs >= 4) {
			if (emu_device_string(X, call_arg(X, c, 0, (int)l), msg, sizeof(msg),
					      (int)l))
				snprintf(msg, sizeof(msg), "?");
			if (emu_device_string(X, call_arg(X, c, 1, (int)l), file, sizeof(file),
					      (int)l))
				snprintf(file, sizeof(file), "?");
			line = (unsigned)call_arg(X, c, 2, (int)l);
			if (emu_device_string(X, call_arg(X, c, 3, (int)l), func, sizeof(func),
					      (int)l))
				snprintf(func, sizeof(func), "?");
		}
		n = snprintf(text, sizeof(text),
			     "%s:%u: %s: block: [%u,%u,%u], thread: [%u,%u,%u] Assertion `%s` "
			     "failed.\n",
			     file, line, func, X->B->ctaid[0], X->B->ctaid[1], X->B->ctaid[2],
			     X->w->tid[0][l], X->w->tid[1][l], X->w->tid[2][l], msg);
		if (n > 0 &&
		    write(fd, text, (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1) < 0)
			break;
	}
	emu_exec_fail(X->B, in, CUDA_ERROR_ASSERT, "assertion `%s` failed (%s:%u)", msg, file,
		      line);
	return -1;
}

/* cudaError_t values the device runtime returns. */
enum {
	CDP_OK = 0,
	CDP_INVALID_VALUE = 1,
	CDP_NO_MEMORY = 2,
	CDP_MAX_DEPTH = 65,
	CDP_LAUNCH_PENDING = 69
};

/* The lane's n-byte argument i, copied whole (dim3 arguments are 12 bytes). */
static void call_arg_bytes(const struct xctx *X, const struct ptx_call *c, int i, int l, void *out,
			   size_t n)
{
	const struct ptx_sym *s = &X->B->L->mod->syms[c->args[i]];

	memset(out, 0, n);
	memcpy(out, X->F->fparam + (size_t)l * X->F->f->frame_param_size + s->offset,
	       s->size < n ? s->size : n);
}

/*
 * The device runtime of dynamic parallelism (CUDA 12's CDP2 interface):
 * GetParameterBufferV2(kernel, grid, block, shared memory) gives a
 * parameter buffer from the device heap and records the launch;
 * LaunchDeviceV2(buffer, stream) commits it; module.c runs the committed
 * grids once this grid is done. Streams created on the device are names.
 */
static int device_runtime_call(struct xctx *X, const struct ptx_insn *in, const struct ptx_call *c,
			       uint32_t m)
{
	struct exec_launch *L = X->B->L;
	struct emu_cdp *cdp = L->cdp;
	int need = c->builtin == BI_CDP_PARAM_BUFFER				       ? 4
		   : c->builtin == BI_CDP_LAUNCH || c->builtin == BI_CDP_STREAM_CREATE ? 2
		   : c->builtin == BI_CDP_STREAM_DESTROY			       ? 1
										       : 0;

	if (c->nargs < need || !cdp || !L->heap) {
		emu_exec_fail(X->B, in, CUDA_ERROR_INVALID_VALUE,
			      "a device runtime call with the wrong arguments");
		return -1;
	}
	LANES(m)
	{
		uint64_t r = CDP_OK;
		switch (c->builtin) {
		case BI_CDP_PARAM_BUFFER: {
			int64_t fi = PTX_FUNC_INDEX(call_arg(X, c, 0, (int)l));
			struct emu_cdp_grid g = {0};
			const struct ptx_func *k;
			r = 0;
			if (fi < 0 || fi >= L->mod->nfuncs || !L->mod->funcs[fi].is_entry) {
				emu_exec_fail(X->B, in, CUDA_ERROR_INVALID_VALUE,
					      "a device-side launch of something not a kernel");
				return -1;
			}
			k = &L->mod->funcs[fi];
			g.func = (int)fi;
			call_arg_bytes(X, c, 1, (int)l, g.grid, sizeof(g.grid));
			call_arg_bytes(X, c, 2, (int)l, g.block, sizeof(g.block));
			g.smem = (uint32_t)call_arg(X, c, 3, (int)l);
			pthread_mutex_lock(&cdp->lock);
			if (cdp->n == cdp->cap && cdp->n < cdp->max) {
				size_t cap = cdp->cap ? cdp->cap * 2 : 16;
				struct emu_cdp_grid *grown =
				    realloc(cdp->grids, cap * sizeof(*grown));
				if (grown) {
					cdp->grids = grown;
					cdp->cap = cap;
				}
			}
			/* Past the pending-launch limit or the heap: no buffer. */
			if (L->depth + 1 >= EMU_CDP_MAX_DEPTH)
				X->w->cdp_error[l] = CDP_MAX_DEPTH;
			else if (cdp->n >= cdp->max)
				X->w->cdp_error[l] = CDP_LAUNCH_PENDING;
			else if (cdp->n >= cdp->cap ||
				 !(g.params =
				       emu_heap_malloc(L->heap, k->param_size ? k->param_size : 1)))
				X->w->cdp_error[l] = CDP_NO_MEMORY;
			else
				cdp->grids[cdp->n++] = g;
			pthread_mutex_unlock(&cdp->lock);
			r = g.params; /* NULL: no room; the launch is then skipped */
			break;
		}
		case BI_CDP_LAUNCH: {
			uint64_t buf = call_arg(X, c, 0, (int)l),
				 stream = call_arg(X, c, 1, (int)l);
			r = CDP_INVALID_VALUE;
			pthread_mutex_lock(&cdp->lock);
			for (size_t i = cdp->n; i-- > 0;)
				if (cdp->grids[i].params == buf && !cdp->grids[i].launched) {
					cdp->grids[i].launched = 1;
					cdp->grids[i].stream = stream;
					r = CDP_OK;
					break;
				}
			pthread_mutex_unlock(&cdp->lock);
			if (L->depth + 1 >= EMU_CDP_MAX_DEPTH)
				r = CDP_MAX_DEPTH;
			if (r != CDP_OK)
				X->w->cdp_error[l] = (uint16_t)r;
			break;
		}
		case BI_CDP_STREAM_CREATE: {
			uint64_t at = call_arg(X, c, 0, (int)l), h;
			uint8_t *p = emu_mem_at(X, PS_GENERIC, at, 8, (int)l);
			pthread_mutex_lock(&cdp->lock);
			h = 0x10000 + cdp->next_stream++;
			pthread_mutex_unlock(&cdp->lock);
			if (!p) {
				emu_exec_fail(
				    X->B, in, CUDA_ERROR_ILLEGAL_ADDRESS,
				    "cudaStreamCreateWithFlags into %#llx, outside memory",
				    (unsigned long long)at);
				return -1;
			}
			memcpy(p, &h, 8);
			break;
		}
		case BI_CDP_LAST_ERROR: /* the thread's last error, then none */
		case BI_CDP_PEEK_ERROR:
			r = X->w->cdp_error[l];
			if (c->builtin == BI_CDP_LAST_ERROR)
				X->w->cdp_error[l] = CDP_OK;
			break;
		default: /* StreamDestroy */
			break;
		}
		call_ret(X, c, (int)l, r);
	}
	return 0;
}

/* The callee of an indirect call for the lanes of m: all of them must
 * hold one function's address, else they split (the rest run the call
 * again once these return) and -2 is returned. -1: a lane's address is
 * no function (the launch has failed). */
static int indirect_callee(struct xctx *X, const struct ptx_insn *in, const struct ptx_call *c,
			   uint32_t m, int pc)
{
	const struct ptx_module *mod = X->B->L->mod;
	const uint64_t *R = X->F->R + c->reg * 32;
	int first = __builtin_ctz(m);
	int64_t fi = PTX_FUNC_INDEX(R[first]);
	uint32_t same = 0;

	LANES(m)
	{
		int64_t g = PTX_FUNC_INDEX(R[l]);
		if (g < 0 || g >= mod->nfuncs || !mod->funcs[g].defined || mod->funcs[g].is_entry) {
			emu_exec_fail(X->B, in, CUDA_ERROR_ILLEGAL_ADDRESS,
				      "indirect call by thread (%u,%u,%u) through %#llx, which is "
				      "no device function",
				      X->w->tid[0][l], X->w->tid[1][l], X->w->tid[2][l],
				      (unsigned long long)R[l]);
			return -1;
		}
		if (g == fi)
			same |= 1u << l;
	}
	if (same != m) {
		/* Like a divergent branch: the entry waits at pc + 1 (where
		 * run_control left it) while each group calls in turn. */
		if (emu_simt_push(X->F, pc, pc + 1, m & ~same) != 0 ||
		    emu_simt_push(X->F, pc, pc + 1, same) != 0) {
			emu_exec_fail(X->B, in, CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES,
				      "divergence too deep at an indirect call");
			return -1;
		}
		return -2;
	}
	return (int)fi;
}

int emu_do_call(struct xctx *X, const struct ptx_insn *in, uint32_t m, int pc)
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
			r = emu_device_printf(X, fmt, args, (int)l);
			if (c->nret)
				memcpy(caller->fparam + (size_t)l * fsz +
					   mod->syms[c->ret[0]].offset,
				       &r, 4);
		}
		return 0;
	}
	if (c->builtin == 4) {
		/* A graph's condition is 4 bytes of device memory (the guest's
		 * runtime keeps graphs: shim/graph.c); the handle is their
		 * address. */
		if (c->nargs < 2 || mod->syms[c->args[0]].size < 8 ||
		    mod->syms[c->args[1]].size < 4) {
			emu_exec_fail(X->B, in, CUDA_ERROR_INVALID_VALUE,
				      "cudaGraphSetConditional called with the wrong arguments");
			return -1;
		}
		LANES(m)
		{
			uint64_t h = 0;
			uint32_t v = 0;
			void *at;
			memcpy(&h, caller->fparam + (size_t)l * fsz + mod->syms[c->args[0]].offset,
			       8);
			memcpy(&v, caller->fparam + (size_t)l * fsz + mod->syms[c->args[1]].offset,
			       4);
			if (!(at = emu_dev_span(h, 4))) {
				emu_exec_fail(
				    X->B, in, CUDA_ERROR_ILLEGAL_ADDRESS,
				    "cudaGraphSetConditional: %#llx is no condition handle",
				    (unsigned long long)h);
				return -1;
			}
			__atomic_store_n((uint32_t *)at, v, __ATOMIC_RELAXED);
		}
		return 0;
	}
	if (c->builtin == BI_MALLOC || c->builtin == BI_FREE)
		return device_heap_call(X, in, c, m);
	if (c->builtin == BI_ASSERTFAIL)
		return assert_fail(X, in, c, m);
	if (c->builtin >= BI_CDP_PARAM_BUFFER && c->builtin <= BI_CDP_PEEK_ERROR)
		return device_runtime_call(X, in, c, m);
	if (c->builtin) {
		emu_exec_fail(X->B, in, CUDA_ERROR_NOT_SUPPORTED, "device-side %s is not supported",
			      mod->funcs[c->func].name);
		return -1;
	}
	{
		int fi = c->func;
		if (c->reg >= 0 && (fi = indirect_callee(X, in, c, m, pc)) < 0)
			return fi == -2 ? 0 : -1;
		const struct ptx_func *f = &mod->funcs[fi];
		uint32_t base = (caller->dyn_top + 15) & ~15u;
		struct frame *callee;
		if (base + f->local_size > X->B->local_stride ||
		    emu_frame_push(X->w, f, m, base) != 0) {
			emu_exec_fail(X->B, in, CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES,
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
void emu_do_return(struct xctx *X)
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
	emu_frame_pop(w);
	X->F = &w->frames[w->depth - 1];
	X->F->stack[X->F->sp - 1].pc = ret_pc;
}

/* ---- fast paths: the common cases without per-lane dispatch ------------------------------ */

/* The 32 lane values of an operand: registers in place, anything else
 * expanded into tmp. */
const uint64_t *emu_lane_values(const struct xctx *X, const struct ptx_operand *o, uint64_t *tmp)
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
int emu_fast_alu(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	uint64_t ta[32], tb[32], tc[32];
	const uint64_t *A, *B, *C = NULL;
	uint64_t *D;
	unsigned size = PTX_SIZE(in->type);
	int kind = PTX_KIND(in->type);

	if (in->o[0].kind != OK_REG || in->nops < 3 || (in->mods & ~(MOD_LO | MOD_WIDE | MOD_RN)))
		return 0;
	if ((size != 4 && size != 8) || (in->type & 0x80))
		return 0;
	D = X->F->R + in->o[0].reg * 32;
	A = emu_lane_values(X, &in->o[1], ta);
	B = emu_lane_values(X, &in->o[2], tb);
	if (in->nops > 3)
		C = emu_lane_values(X, &in->o[3], tc);
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
int emu_fast_mem(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
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
		v = emu_load_elem(X->B->L->params + off, in->type);
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
	V = emu_lane_values(X, v, tv);
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

int emu_fast_setp(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	uint64_t ta[32], tb[32];
	const uint64_t *A, *B;
	uint32_t r = 0, *P;
	int s = PTX_KIND(in->type) == PK_S;

	if ((in->sub2 & 0x80) || in->nops != 3 || in->o[0].kind != OK_PRED ||
	    PTX_SIZE(in->type) != 4 || PTX_KIND(in->type) == PK_F)
		return 0;
	A = emu_lane_values(X, &in->o[1], ta);
	B = emu_lane_values(X, &in->o[2], tb);
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
