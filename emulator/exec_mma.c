/*
 * The interpreter's tensor-core instructions: wmma.load/store/mma, mma.sync,
 * ldmatrix and stmatrix.
 *
 * A matrix fragment is a vector of registers spread over the warp's 32
 * lanes. wmma's fragments have no layout a program may rely on, so the CPU
 * device chooses one: slot s of lane l (slot = element within the lane's
 * registers) holds element (32 s + l) mod E of the matrix in row-major
 * order (E its element count; fragments larger than the matrix, as f16 A
 * and B are, hold each element twice). mma.sync's fragments have the
 * layouts the PTX ISA gives for each shape, which is what ldmatrix loads.
 *
 * mma runs on the whole warp at once: every fragment is gathered into
 * matrices, D = A B + C is computed with the products exact (f16, bf16
 * and tf32 products fit a float) and summed in f32 in k order (f64: fused
 * multiply-adds; integers: exactly, then wrapped or, with .satfinite,
 * clamped), and D is scattered back.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exec_int.h"

#define MAX_DIM 128 /* the largest m, n or k of any shape (b1's k) */

/* Bits of one element of a fragment of type t, 0 for a type matrices don't use. */
static unsigned elem_bits(uint8_t t)
{
	switch (t) {
	case PT_F16:
	case PT_BF16:
		return 16;
	case PT_F32:
	case PT_S32:
	case PT_TF32:
		return 32;
	case PT_F64:
		return 64;
	case PT_S8:
	case PT_U8:
		return 8;
	case PT_S4:
	case PT_U4:
		return 4;
	case PT_B1:
		return 1;
	default:
		return 0;
	}
}

/* The element value of raw bits of type t. */
static double elem_value(uint8_t t, uint64_t v)
{
	switch (t) {
	case PT_F16:
		return emu_fmt_to_double((uint32_t)v & 0xffff, EMU_FMT_F16);
	case PT_BF16:
		return emu_fmt_to_double((uint32_t)v & 0xffff, EMU_FMT_BF16);
	case PT_TF32: /* the tensor cores read the top 19 bits alone */
		return (double)f32(v & 0xffffe000u);
	case PT_F32:
		return (double)f32(v);
	case PT_F64:
		return f64(v);
	case PT_S32:
		return (double)(int32_t)v;
	case PT_S8:
		return (double)(int8_t)v;
	case PT_U8:
		return (double)(uint8_t)v;
	case PT_S4:
		return (double)((int8_t)(uint8_t)(v << 4) >> 4);
	case PT_U4:
		return (double)(v & 15);
	default:
		return (double)(v & 1);
	}
}

static uint64_t elem_bits_of(uint8_t t, double d, int satfinite)
{
	switch (t) {
	case PT_F16:
		return emu_fmt_round(d, EMU_FMT_F16, EMU_RND_RN, 0);
	case PT_F32:
		return bf32((float)d);
	case PT_F64:
		return bf64(d);
	default: /* s32 */
		if (satfinite)
			return (uint32_t)(int32_t)(d > 2147483647.0    ? 2147483647.0
						   : d < -2147483648.0 ? -2147483648.0
								       : d);
		return (uint32_t)(uint64_t)(int64_t)d;
	}
}

/* A fragment: its registers and what each holds. */
struct frag {
	const struct ptx_operand *v;
	uint8_t type;
	unsigned bits, per_reg;
};

static void frag_init(struct frag *f, const struct ptx_operand *v, uint8_t type)
{
	unsigned reg_bits = type == PT_F64 ? 64 : 32;

	f->v = v;
	f->type = type;
	f->bits = elem_bits(type);
	f->per_reg = f->bits ? reg_bits / f->bits : 0;
}

static unsigned frag_slots(const struct frag *f)
{
	return (unsigned)f->v->nvec * f->per_reg;
}

static uint64_t frag_get(const struct xctx *X, const struct frag *f, int lane, unsigned slot)
{
	int r = f->v->vec[slot / f->per_reg];
	uint64_t v = r >= 0 ? X->F->R[r * 32 + lane] : 0;
	unsigned sh = (slot % f->per_reg) * f->bits;

	return f->bits == 64 ? v : (v >> sh) & ((1ull << f->bits) - 1);
}

static void frag_put(const struct xctx *X, const struct frag *f, int lane, unsigned slot,
		     uint64_t bits)
{
	int r = f->v->vec[slot / f->per_reg];
	uint64_t *p, mask;
	unsigned sh = (slot % f->per_reg) * f->bits;

	if (r < 0)
		return;
	p = &X->F->R[r * 32 + lane];
	if (f->bits == 64) {
		*p = bits;
		return;
	}
	mask = ((1ull << f->bits) - 1) << sh;
	*p = (*p & ~mask & 0xffffffffull) | ((bits << sh) & mask);
}

/* Which matrix: 0 a (m x k), 1 b (k x n), 2 c or d (m x n). */
static void dims(const struct ptx_mma_shape *s, int which, unsigned *rows, unsigned *cols)
{
	*rows = which == 1 ? s->k : s->m;
	*cols = which == 0 ? s->k : s->n;
}

/*
 * mma.sync's layouts (PTX ISA, "Matrix fragments for mma.m16n8k*" and the
 * like): where slot i of lane l lies, with g = l / 4 and t = l % 4. 0 if
 * the slot holds nothing.
 */
static int mma_coord(const struct ptx_mma_shape *s, uint8_t atype, int which, int lane, unsigned i,
		     unsigned *row, unsigned *col)
{
	unsigned g = (unsigned)lane >> 2, t = (unsigned)lane & 3;
	int tf32 = atype == PT_TF32, f64 = atype == PT_F64;
	int i8 = atype == PT_S8 || atype == PT_U8;

	if (which == 2) { /* c and d: 2 per lane (m8n8) or 4 (m16n8) */
		if (i >= (s->m == 8 ? 2u : 4u))
			return 0;
		*row = g + 8 * (i >> 1);
		*col = 2 * t + (i & 1);
		return 1;
	}
	if (f64 || (s->m == 8 && i8)) { /* m8n8k4 f64, m8n8k16 s8 */
		unsigned per = f64 ? 1 : 4;
		if (i >= per)
			return 0;
		*row = which == 0 ? g : per * t + i;
		*col = which == 0 ? per * t + i : g;
		return 1;
	}
	if (tf32) { /* m16n8k4, m16n8k8 */
		unsigned na = s->k / 2, nb = s->k / 4;
		if (i >= (which == 0 ? na : nb))
			return 0;
		if (which == 0) {
			*row = g + 8 * (i & 1);
			*col = t + 4 * (i >> 1);
		} else {
			*row = t + 4 * i;
			*col = g;
		}
		return 1;
	}
	if (i8) { /* m16n8k16, m16n8k32 */
		unsigned na = s->k / 2, nb = s->k / 4;
		if (i >= (which == 0 ? na : nb))
			return 0;
		if (which == 0) {
			*row = g + 8 * ((i >> 2) & 1);
			*col = 4 * t + (i & 3) + 16 * (i >> 3);
		} else {
			*row = 4 * t + (i & 3) + 16 * (i >> 2);
			*col = g;
		}
		return 1;
	}
	/* f16 and bf16: m16n8k8, m16n8k16 */
	if (i >= (which == 0 ? s->k / 2 : s->k / 4))
		return 0;
	if (which == 0) {
		*row = g + 8 * ((i >> 1) & 1);
		*col = 2 * t + (i & 1) + 8 * (i >> 2);
	} else {
		*row = 2 * t + (i & 1) + 8 * (i >> 1);
		*col = g;
	}
	return 1;
}

/* Where slot i of lane l lies in matrix which; 0 if nowhere. */
static int frag_coord(const struct ptx_insn *in, int which, int lane, unsigned i, unsigned *row,
		      unsigned *col)
{
	const struct ptx_mma_shape *s = &ptx_mma_shapes[in->cmp];
	unsigned rows, cols, e;

	if (in->op == OP_MMA)
		return mma_coord(s, in->type2, which, lane, i, row, col);
	dims(s, which, &rows, &cols);
	e = (i * 32 + (unsigned)lane) % (rows * cols);
	*row = e / cols;
	*col = e % cols;
	return 1;
}

/* The types of a, b, c and d of an mma. */
static void mma_types(const struct ptx_insn *in, uint8_t *a, uint8_t *b, uint8_t *c, uint8_t *d)
{
	*d = in->type;
	if (in->type3) { /* .dtype.atype.btype.ctype */
		*a = in->type2;
		*b = in->type3;
		*c = in->type4;
	} else { /* wmma f16: .dtype.ctype */
		*a = *b = PT_F16;
		*c = in->type2;
	}
}

/* How many slots a fragment of matrix which needs. */
static unsigned slots_needed(const struct ptx_insn *in, int which, uint8_t type)
{
	const struct ptx_mma_shape *s = &ptx_mma_shapes[in->cmp];
	unsigned rows, cols, n = 0, row, col;

	dims(s, which, &rows, &cols);
	if (in->op == OP_WMMA)
		return (rows * cols + 31) / 32;
	while (n < 64 && mma_coord(s, type, which, 0, n, &row, &col))
		n++;
	return n;
}

int emu_matrix_check(const struct ptx_insn *in, char *why, size_t why_len)
{
	const struct ptx_operand *o = in->o;
	uint8_t a, b, c, d;

	if (in->op == OP_LDMATRIX || in->op == OP_STMATRIX) {
		int ld = in->op == OP_LDMATRIX;
		const struct ptx_operand *v = &o[ld ? 0 : 1];
		if (in->nops != 2 || v->kind != OK_VEC || o[ld ? 1 : 0].kind != OK_ADDR ||
		    !in->sub || v->nvec != in->sub || in->type != PT_B16) {
			snprintf(why, why_len, "malformed %s (m8n8 .b16 with x1, x2 or x4)",
				 ld ? "ldmatrix" : "stmatrix");
			return -1;
		}
		return 0;
	}
	if (!(in->sub2 & 0x20)) {
		snprintf(why, why_len, "a matrix instruction without its shape");
		return -1;
	}
	if (in->op == OP_WMMA && in->sub != MMA_MMA) {
		int store = in->sub == MMA_STORE_D;
		const struct ptx_operand *v = &o[store ? 1 : 0];
		int which = in->sub == MMA_LOAD_A ? 0 : in->sub == MMA_LOAD_B ? 1 : 2;
		struct frag f;
		if ((in->nops != 2 && in->nops != 3) || v->kind != OK_VEC ||
		    o[store ? 0 : 1].kind != OK_ADDR || !elem_bits(in->type)) {
			snprintf(why, why_len, "malformed wmma.%s", store ? "store" : "load");
			return -1;
		}
		frag_init(&f, v, in->type);
		if (frag_slots(&f) < slots_needed(in, which, in->type)) {
			snprintf(why, why_len, "wmma fragment of %d registers is too small",
				 v->nvec);
			return -1;
		}
		return 0;
	}
	mma_types(in, &a, &b, &c, &d);
	if (in->nops != 4 || o[0].kind != OK_VEC || o[1].kind != OK_VEC || o[2].kind != OK_VEC ||
	    o[3].kind != OK_VEC || !elem_bits(a) || !elem_bits(b) || !elem_bits(c) ||
	    !elem_bits(d)) {
		snprintf(why, why_len, "malformed %s", in->op == OP_WMMA ? "wmma.mma" : "mma");
		return -1;
	}
	if (in->op == OP_MMA) {
		const struct ptx_mma_shape *s = &ptx_mma_shapes[in->cmp];
		int ok = (a == PT_F16 || a == PT_BF16)
			     ? s->m == 16 && s->n == 8 && (s->k == 8 || s->k == 16)
			 : a == PT_TF32 ? s->m == 16 && s->n == 8 && (s->k == 4 || s->k == 8)
			 : a == PT_F64	? s->m == 8 && s->n == 8 && s->k == 4
			 : (a == PT_S8 || a == PT_U8)
			     ? (s->m == 16 && s->n == 8 && (s->k == 16 || s->k == 32)) ||
				   (s->m == 8 && s->n == 8 && s->k == 16)
			     : 0;
		if (!ok) {
			snprintf(
			    why, why_len,
			    "mma.sync of this shape and type is not supported by the CPU device "
			    "(m16n8k8/k16 f16 and bf16, m16n8k4/k8 tf32, m8n8k4 f64, "
			    "m16n8k16/k32 and m8n8k16 s8/u8 are)");
			return -1;
		}
	}
	{
		struct frag fa, fb, fc, fd;
		frag_init(&fd, &o[0], d);
		frag_init(&fa, &o[1], a);
		frag_init(&fb, &o[2], b);
		frag_init(&fc, &o[3], c);
		if (frag_slots(&fa) < slots_needed(in, 0, a) ||
		    frag_slots(&fb) < slots_needed(in, 1, a) ||
		    frag_slots(&fc) < slots_needed(in, 2, a) ||
		    frag_slots(&fd) < slots_needed(in, 2, a)) {
			snprintf(why, why_len, "a fragment of the mma has too few registers");
			return -1;
		}
	}
	return 0;
}

static int fault(const struct xctx *X, const struct ptx_insn *in, int lane, uint64_t a)
{
	emu_exec_fail(X->B, in, CUDA_ERROR_ILLEGAL_ADDRESS,
		      "matrix access at address 0x%llx by thread (%u,%u,%u) is outside any "
		      "allocation",
		      (unsigned long long)a, X->w->tid[0][lane], X->w->tid[1][lane],
		      X->w->tid[2][lane]);
	return -1;
}

/* wmma.load and wmma.store: element (row, col) at element index row *
 * stride + col (row major) or col * stride + row, from the lane's address. */
static int wmma_memory(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	int store = in->sub == MMA_STORE_D;
	int which = in->sub == MMA_LOAD_A ? 0 : in->sub == MMA_LOAD_B ? 1 : 2;
	const struct ptx_operand *addr = &in->o[store ? 0 : 1];
	const struct ptx_mma_shape *s = &ptx_mma_shapes[in->cmp];
	int colmajor = in->sub2 & 1;
	unsigned rows, cols;
	struct frag f;

	dims(s, which, &rows, &cols);
	frag_init(&f, &in->o[store ? 1 : 0], in->type);
	LANES(m)
	{
		uint64_t base = emu_addr_value(X, in, addr, (int)l);
		uint64_t stride =
		    in->nops > 2 ? (uint32_t)opv(X, &in->o[2], (int)l) : (colmajor ? rows : cols);
		for (unsigned i = 0; i < frag_slots(&f); i++) {
			unsigned row, col;
			uint64_t idx, bit;
			uint8_t *p;
			if (!frag_coord(in, which, (int)l, i, &row, &col))
				continue;
			idx =
			    colmajor ? (uint64_t)col * stride + row : (uint64_t)row * stride + col;
			bit = idx * f.bits;
			p = emu_mem_at(X, in->space, base + bit / 8, f.bits < 8 ? 1 : f.bits / 8,
				       (int)l);
			if (!p)
				return fault(X, in, (int)l, base + bit / 8);
			if (f.bits >= 8) {
				uint64_t v = 0;
				if (store) {
					v = frag_get(X, &f, (int)l, i);
					memcpy(p, &v, f.bits / 8);
				} else {
					memcpy(&v, p, f.bits / 8);
					frag_put(X, &f, (int)l, i, v);
				}
			} else {
				unsigned sh = (unsigned)(bit % 8), mask = ((1u << f.bits) - 1)
									  << sh;
				if (store)
					*p = (uint8_t)((*p & ~mask) |
						       ((unsigned)frag_get(X, &f, (int)l, i) << sh &
							mask));
				else
					frag_put(X, &f, (int)l, i, (*p & mask) >> sh);
			}
		}
	}
	return 0;
}

/* D = A B + C over the warp's fragments. */
static int matrix_multiply(const struct xctx *X, const struct ptx_insn *in)
{
	const struct ptx_mma_shape *s = &ptx_mma_shapes[in->cmp];
	static __thread double A[MAX_DIM * 16], B[MAX_DIM * 32], C[32 * 32];
	uint8_t ta, tb, tc, td;
	struct frag fa, fb, fc, fd;
	int sat = (in->mods & MOD_SATFINITE) != 0;

	mma_types(in, &ta, &tb, &tc, &td);
	frag_init(&fd, &in->o[0], td);
	frag_init(&fa, &in->o[1], ta);
	frag_init(&fb, &in->o[2], tb);
	frag_init(&fc, &in->o[3], tc);
	if ((size_t)s->m * s->k > sizeof(A) / sizeof(*A) ||
	    (size_t)s->k * s->n > sizeof(B) / sizeof(*B) ||
	    (size_t)s->m * s->n > sizeof(C) / sizeof(*C))
		return -1;
	/* Gather: every lane's slots (the lanes not executing hold nothing a
	 * .sync.aligned op may rely on; their registers are read all the same). */
	for (int l = 0; l < 32; l++) {
		unsigned row, col;
		for (unsigned i = 0; i < frag_slots(&fa); i++)
			if (frag_coord(in, 0, l, i, &row, &col))
				A[row * s->k + col] = elem_value(ta, frag_get(X, &fa, l, i));
		for (unsigned i = 0; i < frag_slots(&fb); i++)
			if (frag_coord(in, 1, l, i, &row, &col))
				B[row * s->n + col] = elem_value(tb, frag_get(X, &fb, l, i));
		for (unsigned i = 0; i < frag_slots(&fc); i++)
			if (frag_coord(in, 2, l, i, &row, &col))
				C[row * s->n + col] = elem_value(tc, frag_get(X, &fc, l, i));
	}
	for (unsigned r = 0; r < s->m; r++)
		for (unsigned c = 0; c < s->n; c++) {
			double *acc = &C[r * s->n + c];
			if (ta == PT_B1) { /* popc of the bit op of a's row and b's column */
				unsigned n = 0;
				for (unsigned k = 0; k < s->k; k++) {
					unsigned x = (unsigned)A[r * s->k + k],
						 y = (unsigned)B[k * s->n + c];
					n += in->vec == 1 ? (x & y) : (x ^ y);
				}
				*acc += n;
			} else if (ta == PT_F64) {
				for (unsigned k = 0; k < s->k; k++)
					*acc = fma(A[r * s->k + k], B[k * s->n + c], *acc);
			} else if (td == PT_S32) { /* exact: |sum| < 2^53 */
				for (unsigned k = 0; k < s->k; k++)
					*acc += A[r * s->k + k] * B[k * s->n + c];
			} else { /* products exact in float, summed in f32 */
				float f = (float)*acc;
				for (unsigned k = 0; k < s->k; k++)
					f += (float)(A[r * s->k + k] * B[k * s->n + c]);
				*acc = f;
			}
		}
	for (int l = 0; l < 32; l++)
		for (unsigned i = 0; i < frag_slots(&fd); i++) {
			unsigned row, col;
			if (frag_coord(in, 2, l, i, &row, &col))
				frag_put(X, &fd, l, i, elem_bits_of(td, C[row * s->n + col], sat));
		}
	return 0;
}

int emu_do_wmma(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	if (in->op == OP_WMMA && in->sub != MMA_MMA)
		return wmma_memory(X, in, m);
	if (matrix_multiply(X, in) != 0) {
		emu_exec_fail(X->B, in, CUDA_ERROR_LAUNCH_FAILED, "matrix shape out of range");
		return -1;
	}
	return 0;
}

/*
 * ldmatrix/stmatrix .m8n8 .b16, .x1/.x2/.x4: matrix j's row r is at the
 * address lane 8 j + r holds; register j of lane l holds row l / 4, columns
 * 2 (l % 4) and the next (.trans: that column's two rows).
 */
int emu_do_ldmatrix(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	int ld = in->op == OP_LDMATRIX, trans = (in->mods & MOD_TRANS) != 0;
	const struct ptx_operand *addr = &in->o[ld ? 1 : 0], *v = &in->o[ld ? 0 : 1];
	uint16_t M[4][8][8];
	uint64_t rowaddr[32];

	for (int l = 0; l < 32; l++)
		rowaddr[l] = emu_addr_value(X, in, addr, l);
	if (!ld) /* the fragments into matrices first */
		for (int j = 0; j < in->sub; j++)
			for (int l = 0; l < 32; l++) {
				uint32_t r = (uint32_t)X->F->R[v->vec[j] * 32 + l];
				unsigned row = (unsigned)l >> 2, col = 2 * ((unsigned)l & 3);
				for (int h = 0; h < 2; h++) {
					uint16_t e = (uint16_t)(r >> (16 * h));
					if (trans)
						M[j][col + (unsigned)h][row] = e;
					else
						M[j][row][col + (unsigned)h] = e;
				}
			}
	for (int j = 0; j < in->sub; j++)
		for (int r = 0; r < 8; r++) {
			int src = j * 8 + r;
			uint8_t *p = emu_mem_at(X, in->space, rowaddr[src], 16, src);
			if (!(m >> src & 1) && !p)
				continue;
			if (!p)
				return fault(X, in, src, rowaddr[src]);
			if (ld)
				memcpy(M[j][r], p, 16);
			else
				memcpy(p, M[j][r], 16);
		}
	if (ld)
		for (int j = 0; j < in->sub; j++)
			LANES(m)
			{
				unsigned row = l >> 2, col = 2 * (l & 3);
				uint32_t lo = trans ? M[j][col][row] : M[j][row][col];
				uint32_t hi = trans ? M[j][col + 1][row] : M[j][row][col + 1];
				if (v->vec[j] >= 0)
					X->F->R[v->vec[j] * 32 + (int)l] = lo | hi << 16;
			}
	return 0;
}
