/*
 * The interpreter's op table: each op of PTX_OPS (ptx.h) runs through its
 * executor here, called by run_warp (exec.c) for the active lanes m of a
 * warp once control flow has been decided. An executor returns 0, or
 * nonzero when the launch has failed (exec_fail says why).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>

#include "exec.h"
#include "exec_int.h"

static int exec_mov(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	emu_do_mov(X, in, m);
	return 0;
}

static int exec_ld(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	return !emu_fast_mem(X, in, m) && emu_do_ld(X, in, m) != 0;
}

static int exec_st(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	return !emu_fast_mem(X, in, m) && emu_do_st(X, in, m) != 0;
}

/* Textures and surfaces (texture.c). */
static int exec_tex(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	return emu_do_tex(X, in, m) != 0;
}

static int exec_suld(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	return emu_do_surf(X, in, m) != 0;
}

#define exec_sust exec_suld

static int exec_txq(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	return emu_do_txq(X, in, m) != 0;
}

static int exec_atom(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	return emu_do_atom(X, in, m) != 0;
}

static int exec_carry(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	emu_do_carry(X, in, m);
	return 0;
}

/* The ALU ops; their .cc forms feed the lanes' carry flags. */
static int exec_alu(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	if (__builtin_expect((in->mods & MOD_CC) != 0, 0))
		emu_do_carry(X, in, m);
	else if (!emu_fast_alu(X, in, m))
		emu_do_alu(X, in, m);
	return 0;
}

/* cvta.space: to generic; cvta.to.space: from generic. */
static int exec_cvta(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	uint64_t win = in->space == PS_SHARED  ? GWIN_SHARED
		       : in->space == PS_LOCAL ? GWIN_LOCAL
		       : in->space == PS_CONST ? GWIN_CONST
		       : in->space == PS_PARAM ? GWIN_PARAM
					       : 0;
	int to = (in->mods & MOD_TO) != 0;

	if (win == 0 && in->o[1].kind == OK_REG && in->o[0].kind == OK_REG) {
		uint64_t *D = X->F->R + in->o[0].reg * 32, *A = X->F->R + in->o[1].reg * 32;
		LANES(m) D[l] = A[l];
		return 0;
	}
	LANES(m)
	{
		uint64_t v = opv(X, &in->o[1], (int)l);
		set_reg(X, &in->o[0], (int)l, win == 0 ? v : to ? (v & GWIN_MASK) : (v | win));
	}
	return 0;
}

static int exec_cvt(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	if (in->nops > 2) { /* cvt.f16x2.f32 d, a, b and the like: a the high element */
		LANES(m)
		set_reg(
		    X, &in->o[0], (int)l,
		    emu_convert_small(in, opv(X, &in->o[1], (int)l), opv(X, &in->o[2], (int)l), 1));
		return 0;
	}
	LANES(m) set_reg(X, &in->o[0], (int)l, emu_convert(in, opv(X, &in->o[1], (int)l)));
	return 0;
}

static int exec_setp(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	if (!emu_fast_setp(X, in, m))
		emu_do_setp(X, in, m);
	return 0;
}

/* set: 1.0 in a float destination (each half of a packed one), else all
 * ones (each 16 bits when comparing pairs). */
static int exec_set(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	uint8_t st = in->type2 ? in->type2 : in->type;
	uint64_t one = emu_is_small_float(in->type)
			   ? emu_fmt_round(1.0, emu_fmt_of(in->type), EMU_RND_RN, 0)
		       : PTX_KIND(in->type) == PK_F ? bf32(1.0f)
		       : (st & 0x80)		    ? 0xffff
						    : 0xffffffffu;

	LANES(m)
	{
		uint64_t a = opv(X, &in->o[1], (int)l), b = opv(X, &in->o[2], (int)l);
		uint64_t v = emu_compare(in->cmp, st, a, b) ? one : 0;
		if (st & 0x80)
			v |= (emu_compare(in->cmp, st, a >> 16, b >> 16) ? one : 0) << 16;
		set_reg(X, &in->o[0], (int)l, v);
	}
	return 0;
}

static int exec_selp(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	LANES(m)
	set_reg(X, &in->o[0], (int)l,
		opv(X, &in->o[3], (int)l) ? opv(X, &in->o[1], (int)l) : opv(X, &in->o[2], (int)l));
	return 0;
}

static int exec_slct(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	LANES(m)
	{
		uint64_t c = opv(X, &in->o[3], (int)l);
		int ge = PTX_KIND(in->type2) == PK_F ? !(f32(c) < 0.0f) : (int32_t)c >= 0;
		set_reg(X, &in->o[0], (int)l,
			ge ? opv(X, &in->o[1], (int)l) : opv(X, &in->o[2], (int)l));
	}
	return 0;
}

static int exec_testp(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	LANES(m)
	{
		uint64_t v = opv(X, &in->o[1], (int)l);
		int cls = PTX_SIZE(in->type) == 4 ? fpclassify(f32(v)) : fpclassify(f64(v));
		set_pred(X, &in->o[0], (int)l, emu_testp(in->sub, cls));
	}
	return 0;
}

static int exec_bfi(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	LANES(m)
	set_reg(X, &in->o[0], (int)l,
		emu_bfi(opv(X, &in->o[1], (int)l), opv(X, &in->o[2], (int)l),
			opv(X, &in->o[3], (int)l), opv(X, &in->o[4], (int)l), PTX_SIZE(in->type)));
	return 0;
}

static int exec_lop3(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	LANES(m)
	set_reg(X, &in->o[0], (int)l,
		emu_lop3((uint32_t)opv(X, &in->o[1], (int)l), (uint32_t)opv(X, &in->o[2], (int)l),
			 (uint32_t)opv(X, &in->o[3], (int)l), (uint32_t)opv(X, &in->o[4], (int)l)));
	return 0;
}

static int exec_prmt(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	LANES(m)
	set_reg(X, &in->o[0], (int)l,
		emu_prmt((uint32_t)opv(X, &in->o[1], (int)l), (uint32_t)opv(X, &in->o[2], (int)l),
			 (uint32_t)opv(X, &in->o[3], (int)l)));
	return 0;
}

static int exec_shf(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	LANES(m)
	set_reg(X, &in->o[0], (int)l,
		emu_shf((uint32_t)opv(X, &in->o[1], (int)l), (uint32_t)opv(X, &in->o[2], (int)l),
			(uint32_t)opv(X, &in->o[3], (int)l), (in->mods & MOD_L) != 0,
			(in->mods & MOD_CLAMP) != 0));
	return 0;
}

/* bmsk.{clamp,wrap}.b32 d, a, b: b one-bits from bit a. */
static int exec_bmsk(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	LANES(m)
	{
		uint32_t a = (uint32_t)opv(X, &in->o[1], (int)l),
			 b = (uint32_t)opv(X, &in->o[2], (int)l);
		uint64_t mask;
		if (in->mods & MOD_CLAMP) {
			a = a < 32 ? a : 32;
			b = b < 32 ? b : 32;
		} else {
			a &= 31;
			b &= 31;
		}
		mask = (((1ull << b) - 1) << a) & 0xffffffffull;
		set_reg(X, &in->o[0], (int)l, mask);
	}
	return 0;
}

/* dp4a.atype.btype d, a, b, c: c plus the products of the four byte pairs;
 * dp2a.{lo,hi}: of a's two halves with b's low or high two bytes. */
static int exec_dot(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	int sa = PTX_KIND(in->type) == PK_S,
	    sb = PTX_KIND(in->type2 ? in->type2 : in->type) == PK_S;
	int hi = (in->mods & MOD_HI) != 0;

	LANES(m)
	{
		uint32_t a = (uint32_t)opv(X, &in->o[1], (int)l),
			 b = (uint32_t)opv(X, &in->o[2], (int)l);
		int64_t acc = (int32_t)opv(X, &in->o[3], (int)l);
		for (int i = 0; i < (in->op == OP_DP4A ? 4 : 2); i++) {
			int64_t x, y;
			int bi = in->op == OP_DP4A ? i : i + (hi ? 2 : 0);
			if (in->op == OP_DP4A)
				x = sa ? (int8_t)(a >> (8 * i)) : (uint8_t)(a >> (8 * i));
			else
				x = sa ? (int16_t)(a >> (16 * i)) : (uint16_t)(a >> (16 * i));
			y = sb ? (int8_t)(b >> (8 * bi)) : (uint8_t)(b >> (8 * bi));
			acc += x * y;
		}
		set_reg(X, &in->o[0], (int)l, (uint32_t)acc);
	}
	return 0;
}

/* sad.type d, a, b, c: c + |a - b|. */
static int exec_sad(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	unsigned size = PTX_SIZE(in->type);
	int s = PTX_KIND(in->type) == PK_S;

	LANES(m)
	{
		uint64_t a = opv(X, &in->o[1], (int)l), b = opv(X, &in->o[2], (int)l),
			 c = opv(X, &in->o[3], (int)l), diff;
		if (s)
			diff = sext(a, size) < sext(b, size)
				   ? (uint64_t)(sext(b, size) - sext(a, size))
				   : (uint64_t)(sext(a, size) - sext(b, size));
		else
			diff = trunc_to(a, size) < trunc_to(b, size)
				   ? trunc_to(b, size) - trunc_to(a, size)
				   : trunc_to(a, size) - trunc_to(b, size);
		set_reg(X, &in->o[0], (int)l, trunc_to(c + diff, size));
	}
	return 0;
}

/* fns.b32 d, mask, base, offset: the position of the offset-th set bit of
 * mask counting from base (up for offset > 0, down for < 0), or ~0. */
/* mapa: the address of the same shared variable in the block of another
 * rank of the cluster; getctarank: the rank whose block an address is in.
 * (A generic address keeps its window.) */
static int exec_mapa(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	const uint64_t low = (1ull << PTX_CLUSTER_SHIFT) - 1;

	LANES(m)
	{
		uint64_t a = opv(X, &in->o[1], (int)l), off = a & GWIN_MASK;
		uint64_t rank = off >> PTX_CLUSTER_SHIFT ? (off >> PTX_CLUSTER_SHIFT) - 1
							 : (uint64_t)X->B->rank;
		if (in->op == OP_GETCTARANK) {
			set_reg(X, &in->o[0], (int)l, rank);
			continue;
		}
		rank = opv(X, &in->o[2], (int)l) & 0xffffffffu;
		if (rank > PTX_MAX_CLUSTER) /* no such block: an access faults */
			rank = PTX_MAX_CLUSTER;
		set_reg(X, &in->o[0], (int)l,
			(in->space == PS_SHARED ? 0 : a & ~GWIN_MASK) |
			    ((rank + 1) << PTX_CLUSTER_SHIFT) | (off & low));
	}
	return 0;
}

static int exec_fns(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	LANES(m)
	{
		uint32_t mask = (uint32_t)opv(X, &in->o[1], (int)l);
		int base = (int)(uint32_t)opv(X, &in->o[2], (int)l);
		int off = (int32_t)opv(X, &in->o[3], (int)l), step = off > 0 ? 1 : -1;
		uint32_t d = 0xffffffffu;
		if (off == 0) {
			if (base < 32 && base >= 0 && (mask >> base & 1))
				d = (uint32_t)base;
		} else {
			int count = (off > 0 ? off : -off) - 1;
			for (int pos = base; pos >= 0 && pos < 32; pos += step)
				if (mask >> pos & 1) {
					if (count == 0) {
						d = (uint32_t)pos;
						break;
					}
					count--;
				}
		}
		set_reg(X, &in->o[0], (int)l, d);
	}
	return 0;
}

/* szext.{clamp,wrap}.{u32,s32} d, a, b: a's low b bits, zero- or
 * sign-extended. */
static int exec_szext(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	LANES(m)
	{
		uint32_t a = (uint32_t)opv(X, &in->o[1], (int)l),
			 b = (uint32_t)opv(X, &in->o[2], (int)l);
		uint32_t r;
		b = (in->mods & MOD_CLAMP) ? (b < 32 ? b : 32) : b & 31;
		if (b == 0)
			r = 0;
		else if (b == 32)
			r = a;
		else if (PTX_KIND(in->type) == PK_S)
			r = (uint32_t)((int32_t)(a << (32 - b)) >> (32 - b));
		else
			r = a & ((1u << b) - 1);
		set_reg(X, &in->o[0], (int)l, r);
	}
	return 0;
}

static int exec_shfl(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	emu_do_shfl(X, in, m);
	return 0;
}

static int exec_vote(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	emu_do_vote(X, in, m);
	return 0;
}

static int exec_match(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	emu_do_match(X, in, m);
	return 0;
}

static int exec_redux(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	emu_do_redux(X, in, m);
	return 0;
}

/*
 * SIMD video instructions on 2 halves or 4 bytes: vadd, vsub, vavrg
 * (rounded average), vabsdiff, vmin, vmax (with .sat to the destination
 * element's range) and vset (1 where the comparison holds). Each result
 * element goes to d where the mask selects it (the rest from c), or with
 * .add the masked results are summed into c.
 */
static int exec_video(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	int op = (in->op - OP_VADD2) / 2, n = (in->op - OP_VADD2) % 2 ? 4 : 2, bits = 32 / n;
	int vset = in->op == OP_VSET2 || in->op == OP_VSET4;
	int sa = PTX_KIND(vset ? in->type : in->type2) == PK_S;
	int sb = PTX_KIND(vset ? in->type2 : in->type3) == PK_S, sd = PTX_KIND(in->type) == PK_S;
	unsigned mask = in->sub2 ? in->sub2 : (1u << n) - 1;
	int64_t lo = sd ? -(1ll << (bits - 1)) : 0,
		hi = sd ? (1ll << (bits - 1)) - 1 : (1ll << bits) - 1;

	LANES(m)
	{
		uint32_t a = (uint32_t)opv(X, &in->o[1], (int)l),
			 b = (uint32_t)opv(X, &in->o[2], (int)l);
		uint32_t c = (uint32_t)opv(X, &in->o[3], (int)l), d = c;
		int32_t sum = 0;
		for (int i = 0; i < n; i++) {
			int32_t asel = in->o[1].base, bsel = in->o[2].base;
			int ia = (asel & VIDEO_SEL) ? (asel >> (4 * i)) & 15 : i;
			int ib = (bsel & VIDEO_SEL) ? (bsel >> (4 * i)) & 15 : i;
			uint32_t emask = (uint32_t)((1ull << bits) - 1);
			uint32_t ua = a >> (bits * ia) & emask, ub = b >> (bits * ib) & emask;
			int64_t x =
			    sa ? (int64_t)((int32_t)(ua << (32 - bits)) >> (32 - bits)) : ua;
			int64_t y =
			    sb ? (int64_t)((int32_t)(ub << (32 - bits)) >> (32 - bits)) : ub;
			int64_t r;
			switch (op) {
			case 0:
				r = x + y;
				break;
			case 1:
				r = x - y;
				break;
			case 2:
				r = (x + y + 1) >> 1;
				break;
			case 3:
				r = x > y ? x - y : y - x;
				break;
			case 4:
				r = x < y ? x : y;
				break;
			case 5:
				r = x > y ? x : y;
				break;
			default: {
				uint64_t bx = (uint64_t)x, by = (uint64_t)y;
				r = emu_compare(in->cmp, PT_S64, bx, by);
				break;
			}
			}
			if ((in->mods & MOD_SAT) && !vset)
				r = r < lo ? lo : r > hi ? hi : r;
			if (!(mask >> i & 1))
				continue;
			if (in->sub == SUB_ADD)
				sum += (int32_t)r;
			else
				d = (d & ~(emask << (bits * i))) | ((uint32_t)r & emask)
								       << (bits * i);
		}
		set_reg(X, &in->o[0], (int)l,
			in->sub == SUB_ADD ? (uint32_t)((int32_t)c + sum) : d);
	}
	return 0;
}

/*
 * alloca.type d, size{, align}: size bytes of the thread's local memory,
 * above the frame's own and what earlier allocas took, freed when the
 * function returns (or by stackrestore to what stacksave gave). The lanes
 * of a warp take the same offset, the largest size of them.
 */
static int exec_alloca(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	struct frame *F = X->F;
	uint64_t size = 0, align = 16;

	if (in->op == OP_STACKSAVE) {
		LANES(m) set_reg(X, &in->o[0], (int)l, F->dyn_top);
		return 0;
	}
	if (in->op == OP_STACKRESTORE) {
		uint64_t top = opv(X, &in->o[0], (int)__builtin_ctz(m)) & GWIN_MASK;
		if (top >= F->local_base + F->f->local_size && top <= F->dyn_top)
			F->dyn_top = (uint32_t)top;
		return 0;
	}
	if (in->nops > 2)
		align = opv(X, &in->o[2], 0);
	LANES(m)
	{
		uint64_t s = opv(X, &in->o[1], (int)l);
		size = s > size ? s : size;
	}
	if (align == 0 || (align & (align - 1)) || align > 4096)
		align = 16;
	{
		uint64_t at = ((uint64_t)F->dyn_top + align - 1) & ~(align - 1);
		if (at + size > X->B->local_stride) {
			emu_exec_fail(
			    X->B, in, CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES,
			    "alloca of %llu bytes overflows the thread's stack (%u bytes)",
			    (unsigned long long)size, X->B->local_stride);
			return -1;
		}
		F->dyn_top = (uint32_t)(at + size);
		LANES(m) set_reg(X, &in->o[0], (int)l, at);
	}
	return 0;
}

static int exec_cp(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	return emu_do_cp(X, in, m);
}

/* mbarrier's waits are run by run_control, which yields the warp. */
static int exec_mbarrier(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	uint32_t waiting;

	return emu_do_mbarrier(X, in, m, &waiting);
}

static int exec_wmma(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	return emu_do_wmma(X, in, m);
}

static int exec_mma(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	return emu_do_wmma(X, in, m);
}

static int exec_ldmatrix(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	return emu_do_ldmatrix(X, in, m);
}

/* The lanes executing now, whatever the guard says. */
static int exec_activemask(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	LANES(m) set_reg(X, &in->o[0], (int)l, X->active);
	return 0;
}

static int exec_membar(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return 0;
}

static int exec_nop(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	return 0;
}

/* Control flow is run_warp's own; reaching this is a bug in it. */
static int exec_control(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	emu_exec_fail(X->B, in, CUDA_ERROR_ILLEGAL_INSTRUCTION,
		      "control flow op outside the warp loop");
	return 1;
}

#define NONE NULL
const emu_exec_fn emu_exec_table[OP_COUNT] = {
#define EXEC_ROW(name, executor) [OP_##name] = executor,
    PTX_OPS(EXEC_ROW)
#undef EXEC_ROW
};
#undef NONE

int emu_exec_is_control(int op)
{
	return op >= 0 && op < OP_COUNT && emu_exec_table[op] == exec_control;
}

int emu_exec_check_module(const struct ptx_module *mod, char *log, size_t log_len)
{
	for (int f = 0; f < mod->nfuncs; f++)
		for (int i = 0; i < mod->funcs[f].ninsns; i++) {
			const struct ptx_insn *in = &mod->funcs[f].insns[i];
			char name[16], why[256];
			if ((in->op == OP_WMMA || in->op == OP_MMA || in->op == OP_LDMATRIX ||
			     in->op == OP_STMATRIX) &&
			    emu_matrix_check(in, why, sizeof(why)) != 0) {
				snprintf(log, log_len, "line %d: %s", (int)in->line, why);
				return -1;
			}
			if (in->op < OP_COUNT && emu_exec_table[in->op])
				continue;
			snprintf(log, log_len,
				 "line %d: instruction '%s' is not supported by the CPU device",
				 (int)in->line, ptx_op_name(in->op, name, sizeof(name)));
			return -1;
		}
	return 0;
}
