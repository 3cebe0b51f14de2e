/*
 * PTX to LLVM IR for the CPU device's compiled tier (see jit.h for the
 * model). Each PTX register is a stack slot of its declared width, which
 * LLVM turns into SSA values; each instruction that starts a basic block
 * (a branch target, the one after a branch or a stop) gets an LLVM block.
 *
 * The common instructions become plain IR; the rarer scalar ones call the
 * interpreter's own arithmetic (exec_arith.c) through small helpers, so
 * both tiers compute them alike. Anything else (calls, textures, matrix
 * and async instructions, half precision, clusters) is refused with a
 * reason, and the kernel stays on the interpreter.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>

#include "exec.h"
#include "jit.h"

struct gen {
	LLVMContextRef C;
	LLVMModuleRef M;
	LLVMBuilderRef b;
	const struct ptx_module *mod;
	const struct ptx_func *f;
	struct jit_code *code;
	LLVMTypeRef i1, i8, i16, i32, i64, f32, f64, ptr, vt;
	LLVMValueRef fn, ctxp, t, t1;
	LLVMValueRef *regs;	   /* nregs slots, then npreds */
	LLVMTypeRef *rty;	   /* each slot's type */
	LLVMBasicBlockRef *bb;	   /* per instruction: the block it starts, or NULL */
	LLVMBasicBlockRef next;	   /* the next thread */
	LLVMBasicBlockRef fault;   /* return 1 */
	LLVMBasicBlockRef entry;   /* before the loop over threads */
	LLVMValueRef jc[JC_COUNT]; /* the context's words, loaded at entry */
	LLVMValueRef backedges;	   /* slot: backward branches since the last poll */
	uint64_t *live;		   /* per instruction: slots live after it (bitset) */
	int words;		   /* 64-bit words of one bitset */
	int pc;			   /* the instruction being built */
	int stops;		   /* the kernel has barriers or warp operations */
	uint8_t *yields;	   /* per instruction: a yielding branch (jit_find_yields) */
	char *why;
	size_t why_len;
	int bad;
};

#define SLOTS(g) ((g)->f->nregs + (g)->f->npreds)

const char *(*jit_op_name)(int op, char *buf, size_t len);

static int refuse(struct gen *g, const char *fmt, const char *what)
{
	if (!g->bad) {
		char name[32];
		/* An empty kernel has no instruction to name. */
		const struct ptx_insn *in = g->pc < g->f->ninsns ? &g->f->insns[g->pc] : NULL;
		snprintf(g->why, g->why_len, fmt,
			 what		     ? what
			 : in && jit_op_name ? jit_op_name(in->op, name, sizeof(name))
					     : "an instruction",
			 in ? in->line : g->f->line);
		g->bad = 1;
	}
	return -1;
}

/* ---- small IR helpers ---------------------------------------------------------------------- */

static LLVMValueRef c64(struct gen *g, uint64_t v)
{
	return LLVMConstInt(g->i64, v, 0);
}

static LLVMValueRef c32(struct gen *g, uint32_t v)
{
	return LLVMConstInt(g->i32, v, 0);
}

static LLVMTypeRef int_type(struct gen *g, unsigned size)
{
	return size == 1 ? g->i8 : size == 2 ? g->i16 : size == 4 ? g->i32 : g->i64;
}

static int is_float(uint8_t type)
{
	return PTX_KIND(type) == PK_F && !(type & 0x80) && PTX_SIZE(type) >= 4;
}

static int is_small(uint8_t type)
{
	return PTX_KIND(type) == PK_BF || PTX_KIND(type) == PK_X || (type & 0x80) ||
	       (PTX_KIND(type) == PK_F && PTX_SIZE(type) < 4);
}

static LLVMValueRef call(struct gen *g, const char *name, LLVMTypeRef ret, LLVMTypeRef *params,
			 unsigned n, LLVMValueRef *args)
{
	LLVMTypeRef ft = LLVMFunctionType(ret, params, n, 0);
	LLVMValueRef fn = LLVMGetNamedFunction(g->M, name);

	if (!fn)
		fn = LLVMAddFunction(g->M, name, ft);
	return LLVMBuildCall2(g->b, ft, fn, args, n, "");
}

static LLVMValueRef intrinsic(struct gen *g, const char *name, LLVMTypeRef *over, unsigned nover,
			      LLVMValueRef *args, unsigned nargs)
{
	unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
	LLVMValueRef fn = LLVMGetIntrinsicDeclaration(g->M, id, over, nover);
	LLVMTypeRef ft = LLVMIntrinsicGetType(g->C, id, over, nover);

	return LLVMBuildCall2(g->b, ft, fn, args, nargs, "");
}

/* Resizes an integer value to size bytes: truncated, or extended (signed
 * or not). */
static LLVMValueRef resize(struct gen *g, LLVMValueRef v, unsigned size, int is_signed)
{
	LLVMTypeRef to = int_type(g, size);
	unsigned from = LLVMGetIntTypeWidth(LLVMTypeOf(v)), want = size * 8;

	if (from == want)
		return v;
	if (from > want)
		return LLVMBuildTrunc(g->b, v, to, "");
	return is_signed ? LLVMBuildSExt(g->b, v, to, "") : LLVMBuildZExt(g->b, v, to, "");
}

static LLVMValueRef to_float(struct gen *g, LLVMValueRef bits)
{
	return LLVMBuildBitCast(g->b, bits,
				LLVMGetIntTypeWidth(LLVMTypeOf(bits)) == 64 ? g->f64 : g->f32, "");
}

static LLVMValueRef to_bits(struct gen *g, LLVMValueRef f)
{
	return LLVMBuildBitCast(g->b, f, LLVMTypeOf(f) == g->f64 ? g->i64 : g->i32, "");
}

static LLVMValueRef word(struct gen *g, LLVMValueRef base, LLVMValueRef index)
{
	return LLVMBuildGEP2(g->b, g->i64, base, &index, 1, "");
}

static LLVMValueRef byte_at(struct gen *g, LLVMValueRef base, LLVMValueRef off)
{
	return LLVMBuildGEP2(g->b, g->i8, base, &off, 1, "");
}

/* A load from memory no kernel writes (parameters, the thread table):
 * LLVM may hoist and merge it. */
static void invariant(struct gen *g, LLVMValueRef load)
{
	LLVMSetMetadata(load, LLVMGetMDKindIDInContext(g->C, "invariant.load", 14),
			LLVMMDNodeInContext(g->C, NULL, 0));
}

/* ---- the current thread's special registers ---------------------------------------------------
 */

static LLVMValueRef sreg(struct gen *g, int sr)
{
	LLVMValueRef t = g->t;

	switch (sr) {
	case SR_TID_X:
	case SR_TID_Y:
	case SR_TID_Z: {
		/* The launch's table: [warp][x, y, z][lane]. */
		LLVMValueRef i = LLVMBuildAdd(
		    g->b,
		    LLVMBuildAdd(
			g->b,
			LLVMBuildMul(g->b, LLVMBuildLShr(g->b, t, c64(g, 5), ""), c64(g, 96), ""),
			c64(g, (uint64_t)(sr - SR_TID_X) * 32), ""),
		    LLVMBuildAnd(g->b, t, c64(g, 31), ""), "");
		LLVMValueRef v = LLVMBuildLoad2(
		    g->b, g->i32, LLVMBuildGEP2(g->b, g->i32, g->jc[JC_TIDS], &i, 1, ""), "");
		invariant(g, v);
		return LLVMBuildZExt(g->b, v, g->i64, "");
	}
	case SR_NTID_X:
	case SR_NTID_Y:
	case SR_NTID_Z:
		return g->jc[JC_NTID + sr - SR_NTID_X];
	case SR_CTAID_X:
	case SR_CTAID_Y:
	case SR_CTAID_Z:
		return g->jc[JC_CTAID + sr - SR_CTAID_X];
	case SR_NCTAID_X:
	case SR_NCTAID_Y:
	case SR_NCTAID_Z:
		return g->jc[JC_NCTAID + sr - SR_NCTAID_X];
	case SR_LANEID:
		return LLVMBuildAnd(g->b, t, c64(g, 31), "");
	case SR_WARPID:
		return LLVMBuildLShr(g->b, t, c64(g, 5), "");
	case SR_NWARPID:
		return g->jc[JC_NWARPS];
	case SR_LANEMASK_EQ:
	case SR_LANEMASK_LT:
	case SR_LANEMASK_LE:
	case SR_LANEMASK_GT:
	case SR_LANEMASK_GE: {
		LLVMValueRef lane = LLVMBuildAnd(g->b, t, c64(g, 31), "");
		LLVMValueRef eq = LLVMBuildShl(g->b, c64(g, 1), lane, "");
		LLVMValueRef lt = LLVMBuildSub(g->b, eq, c64(g, 1), "");
		LLVMValueRef r = sr == SR_LANEMASK_EQ	? eq
				 : sr == SR_LANEMASK_LT ? lt
				 : sr == SR_LANEMASK_LE ? LLVMBuildOr(g->b, lt, eq, "")
				 : sr == SR_LANEMASK_GT
				     ? LLVMBuildNot(g->b, LLVMBuildOr(g->b, lt, eq, ""), "")
				     : LLVMBuildNot(g->b, lt, "");
		return LLVMBuildAnd(g->b, r, c64(g, 0xffffffffu), "");
	}
	case SR_DYN_SMEM:
		return g->jc[JC_DYN_SMEM];
	case SR_TOTAL_SMEM:
		return LLVMBuildAdd(g->b, g->jc[JC_STATIC_SMEM], g->jc[JC_DYN_SMEM], "");
	case SR_AGGR_SMEM:
	case SR_RESERVED_END:
		return g->jc[JC_SMEM_SIZE];
	case SR_RESERVED_BEGIN:
	case SR_RESERVED_0:
		return LLVMBuildSub(g->b, g->jc[JC_SMEM_SIZE], c64(g, PTX_RESERVED_SMEM), "");
	case SR_RESERVED_1:
		return LLVMBuildSub(g->b, g->jc[JC_SMEM_SIZE], c64(g, PTX_RESERVED_SMEM - 8), "");
	case SR_RESERVED_CAP:
		return c64(g, PTX_RESERVED_SMEM);
	case SR_SMID:
		return c64(g, 0);
	case SR_GRIDID:
		return c64(g, 1);
	case SR_ENVREG0 + 1:
		return LLVMBuildLShr(g->b, g->jc[JC_WORKSPACE], c64(g, 32), "");
	case SR_ENVREG0 + 2:
		return LLVMBuildAnd(g->b, g->jc[JC_WORKSPACE], c64(g, 0xffffffffu), "");
	case SR_ZERO:
		return c64(g, 0);
	default:
		return NULL; /* clocks, clusters, %nsmid: the interpreter's */
	}
}

/* ---- operands ---------------------------------------------------------------------------- */

static LLVMValueRef sym_address(struct gen *g, int s)
{
	const struct ptx_sym *sym = &g->mod->syms[s];

	switch (sym->kind) {
	case SYM_GLOBAL:
		return LLVMBuildLoad2(g->b, g->i64, word(g, g->jc[JC_SYMADDR], c64(g, (uint64_t)s)),
				      "");
	case SYM_CONST:
		return c64(g, sym->offset);
	case SYM_SHARED:
		if (sym->is_array_unsized)
			return g->jc[JC_STATIC_SMEM];
		return c64(g, sym->shared_index >= 0 && g->f->shared_off
				  ? g->f->shared_off[sym->shared_index]
				  : sym->offset);
	case SYM_LOCAL:
		return c64(g, sym->offset);
	case SYM_KPARAM:
		return c64(g, GWIN_PARAM | sym->offset);
	case SYM_FUNC:
		return c64(g, PTX_FUNC_ADDR((uint64_t)sym->func));
	default:
		return c64(g, sym->offset);
	}
}

static LLVMValueRef load_slot(struct gen *g, int slot)
{
	return LLVMBuildLoad2(g->b, g->rty[slot], g->regs[slot], "");
}

/* An operand's value as an integer of size bytes (predicates: 0 or 1). */
static LLVMValueRef val(struct gen *g, const struct ptx_operand *o, unsigned size, int is_signed)
{
	LLVMValueRef v;

	switch (o->kind) {
	case OK_REG:
		v = load_slot(g, o->reg);
		break;
	case OK_PRED:
		v = load_slot(g, g->f->nregs + o->reg);
		if (o->neg)
			v = LLVMBuildNot(g->b, v, "");
		v = LLVMBuildZExt(g->b, v, g->i64, "");
		break;
	case OK_IMM:
		v = c64(g, (uint64_t)o->imm);
		break;
	case OK_SREG:
		v = sreg(g, o->reg);
		if (!v) {
			refuse(g, "special register %s at line %d", "(clock, cluster or SM count)");
			v = c64(g, 0);
		}
		break;
	case OK_SYM:
		v = LLVMBuildAdd(g->b, sym_address(g, o->reg), c64(g, (uint64_t)o->imm), "");
		break;
	case OK_FUNC:
		v = sym_address(g, o->reg);
		break;
	default:
		refuse(g, "operand of %s at line %d", NULL);
		return LLVMConstInt(int_type(g, size), 0, 0);
	}
	return resize(g, v, size, is_signed);
}

/* A predicate operand as i1. */
static LLVMValueRef pred(struct gen *g, const struct ptx_operand *o)
{
	LLVMValueRef v;

	if (o->kind != OK_PRED)
		return LLVMBuildICmp(g->b, LLVMIntNE, val(g, o, 8, 0), c64(g, 0), "");
	v = load_slot(g, g->f->nregs + o->reg);
	return o->neg ? LLVMBuildNot(g->b, v, "") : v;
}

/* Writes v (an integer of the instruction's width) to a register,
 * extended or truncated to the register's own. */
static void set(struct gen *g, const struct ptx_operand *o, LLVMValueRef v, int is_signed)
{
	if (o->kind == OK_REG) {
		unsigned size = LLVMGetIntTypeWidth(g->rty[o->reg]) / 8;
		LLVMBuildStore(g->b, resize(g, v, size, is_signed), g->regs[o->reg]);
	} else if (o->kind == OK_PRED) {
		LLVMValueRef p =
		    LLVMTypeOf(v) == g->i1
			? v
			: LLVMBuildICmp(g->b, LLVMIntNE, v, LLVMConstInt(LLVMTypeOf(v), 0, 0), "");
		LLVMBuildStore(g->b, p, g->regs[g->f->nregs + o->reg]);
	}
}

static void set_reg_index(struct gen *g, int reg, LLVMValueRef v, int is_signed)
{
	struct ptx_operand o = {.kind = OK_REG, .reg = reg};
	set(g, &o, v, is_signed);
}

/* ---- memory -------------------------------------------------------------------------------- */

/* Branches to a new block on ok, else to one that reports the fault;
 * returns with the builder in the ok block. */
static void check(struct gen *g, LLVMValueRef ok, LLVMValueRef addr, unsigned len, int write)
{
	LLVMBasicBlockRef yes = LLVMAppendBasicBlockInContext(g->C, g->fn, "ok");
	LLVMBasicBlockRef no = LLVMAppendBasicBlockInContext(g->C, g->fn, "fault");
	LLVMTypeRef pt[] = {g->ptr, g->i64, g->i32, g->i64, g->i32, g->i32};
	LLVMValueRef args[] = {g->ctxp, g->t,	     c32(g, (uint32_t)g->pc),
			       addr,	c32(g, len), c32(g, (uint32_t)write)};

	LLVMBuildCondBr(g->b, ok, yes, no);
	LLVMPositionBuilderAtEnd(g->b, no);
	call(g, "vcuda_jit_fault", g->vt, pt, 6, args);
	LLVMBuildBr(g->b, g->fault);
	LLVMPositionBuilderAtEnd(g->b, yes);
}

/* An access site's page cache: two slots in the entry block (the page's
 * offset in the arena, whether it is set), empty at each call. Pages are
 * never freed while a kernel runs. */
static void page_cache(struct gen *g, LLVMValueRef *base, LLVMValueRef *ok)
{
	LLVMBasicBlockRef here = LLVMGetInsertBlock(g->b);

	LLVMPositionBuilderBefore(g->b, LLVMGetBasicBlockTerminator(g->entry));
	*base = LLVMBuildAlloca(g->b, g->i64, "page");
	*ok = LLVMBuildAlloca(g->b, g->i1, "page_ok");
	LLVMBuildStore(g->b, c64(g, 0), *base);
	LLVMBuildStore(g->b, LLVMConstInt(g->i1, 0, 0), *ok);
	LLVMPositionBuilderAtEnd(g->b, here);
}

/* The host address of [a, a + len) in space for the current thread, after
 * the checks the interpreter makes (an out-of-range access faults the
 * launch as CUDA_ERROR_ILLEGAL_ADDRESS). */
static LLVMValueRef address(struct gen *g, int space, LLVMValueRef a, unsigned len, int write)
{
	LLVMValueRef off, ok, lim;

	switch (space) {
	case PS_GLOBAL: {
		/* Inside the arena and on allocated pages (both ends: accesses
		 * are at most 16 bytes, so they span at most two pages). */
		LLVMBasicBlockRef fast, slow, join;
		LLVMValueRef p_fast, p_slow, phi, in_arena, first, last, r1, r2;
		LLVMTypeRef pt[] = {g->ptr, g->i64, g->i32, g->i64, g->i32};
		LLVMValueRef args[5], cache_base, cache_ok, hit, p_hit;
		LLVMBasicBlockRef hit_bb, miss_bb;
		off = LLVMBuildSub(g->b, a, g->jc[JC_DEV_VA], "");
		/* Each access site remembers the last allocated page it used:
		 * threads walking an array hit it with one compare. */
		page_cache(g, &cache_base, &cache_ok);
		hit = LLVMBuildAnd(
		    g->b, LLVMBuildLoad2(g->b, g->i1, cache_ok, ""),
		    LLVMBuildICmp(
			g->b, LLVMIntULE,
			LLVMBuildSub(g->b, off, LLVMBuildLoad2(g->b, g->i64, cache_base, ""), ""),
			c64(g, 4096 - len), ""),
		    "");
		hit_bb = LLVMAppendBasicBlockInContext(g->C, g->fn, "page_hit");
		miss_bb = LLVMAppendBasicBlockInContext(g->C, g->fn, "page_miss");
		LLVMBuildCondBr(g->b, hit, hit_bb, miss_bb);
		LLVMPositionBuilderAtEnd(g->b, hit_bb);
		p_hit = byte_at(g, g->jc[JC_STORE], off);
		join = LLVMAppendBasicBlockInContext(g->C, g->fn, "addr");
		LLVMBuildBr(g->b, join);
		LLVMPositionBuilderAtEnd(g->b, miss_bb);
		lim = LLVMBuildSub(g->b, g->jc[JC_ARENA], c64(g, len), "");
		in_arena = LLVMBuildICmp(g->b, LLVMIntULE, off, lim, "");
		fast = LLVMAppendBasicBlockInContext(g->C, g->fn, "arena");
		slow = LLVMAppendBasicBlockInContext(g->C, g->fn, "other");
		LLVMBuildCondBr(g->b, in_arena, fast, slow);
		LLVMPositionBuilderAtEnd(g->b, fast);
		first = LLVMBuildLShr(g->b, off, c64(g, 12), "");
		r1 = LLVMBuildLoad2(g->b, g->i16,
				    LLVMBuildGEP2(g->b, g->i16, g->jc[JC_REFS], &first, 1, ""), "");
		ok = LLVMBuildICmp(g->b, LLVMIntNE, r1, LLVMConstInt(g->i16, 0, 0), "");
		if ((len & (len - 1)) == 0) {
			/* Aligned to its size, an access stays in one page; one
			 * that is not takes the slow path. */
			LLVMValueRef al = LLVMBuildICmp(
			    g->b, LLVMIntEQ, LLVMBuildAnd(g->b, off, c64(g, len - 1), ""),
			    c64(g, 0), "");
			ok = LLVMBuildAnd(g->b, ok, al, "");
		} else {
			last = LLVMBuildLShr(g->b, LLVMBuildAdd(g->b, off, c64(g, len - 1), ""),
					     c64(g, 12), "");
			r2 = LLVMBuildLoad2(
			    g->b, g->i16, LLVMBuildGEP2(g->b, g->i16, g->jc[JC_REFS], &last, 1, ""),
			    "");
			ok = LLVMBuildAnd(
			    g->b, ok,
			    LLVMBuildICmp(g->b, LLVMIntNE, r2, LLVMConstInt(g->i16, 0, 0), ""), "");
		}
		p_fast = byte_at(g, g->jc[JC_STORE], off);
		{
			LLVMBasicBlockRef ready =
			    LLVMAppendBasicBlockInContext(g->C, g->fn, "paged");
			LLVMBuildCondBr(g->b, ok, ready, slow);
			LLVMPositionBuilderAtEnd(g->b, ready);
			if ((len & (len - 1)) == 0) { /* one page: remembered */
				LLVMBuildStore(g->b, LLVMBuildAnd(g->b, off, c64(g, ~4095ull), ""),
					       cache_base);
				LLVMBuildStore(g->b, LLVMConstInt(g->i1, 1, 0), cache_ok);
			}
			LLVMBuildBr(g->b, join);
			fast = ready;
		}
		/* Not in the arena's allocations: mapped host memory, or a fault. */
		LLVMPositionBuilderAtEnd(g->b, slow);
		args[0] = g->ctxp;
		args[1] = g->t;
		args[2] = c32(g, PS_GLOBAL);
		args[3] = a;
		args[4] = c32(g, len);
		p_slow = call(g, "vcuda_jit_address", g->ptr, pt, 5, args);
		check(g, LLVMBuildIsNotNull(g->b, p_slow, ""), a, len, write);
		slow = LLVMGetInsertBlock(g->b);
		LLVMBuildBr(g->b, join);
		LLVMPositionBuilderAtEnd(g->b, join);
		phi = LLVMBuildPhi(g->b, g->ptr, "");
		LLVMAddIncoming(phi, &p_hit, &hit_bb, 1);
		LLVMAddIncoming(phi, &p_fast, &fast, 1);
		LLVMAddIncoming(phi, &p_slow, &slow, 1);
		return phi;
	}
	case PS_SHARED:
		off = LLVMBuildAnd(g->b, a, c64(g, GWIN_MASK), "");
		lim = LLVMBuildSub(g->b, g->jc[JC_SMEM_SIZE], c64(g, len), "");
		check(g, LLVMBuildICmp(g->b, LLVMIntULE, off, lim, ""), a, len, write);
		return byte_at(g, g->jc[JC_SMEM], off);
	case PS_LOCAL:
		off = LLVMBuildAnd(g->b, a, c64(g, GWIN_MASK), "");
		lim = LLVMBuildSub(g->b, g->jc[JC_LSTRIDE], c64(g, len), "");
		check(g,
		      LLVMBuildAnd(
			  g->b, LLVMBuildICmp(g->b, LLVMIntULE, off, lim, ""),
			  LLVMBuildICmp(g->b, LLVMIntUGE, g->jc[JC_LSTRIDE], c64(g, len), ""), ""),
		      a, len, write);
		return byte_at(
		    g, g->jc[JC_LOCAL],
		    LLVMBuildAdd(g->b, LLVMBuildMul(g->b, g->t, g->jc[JC_LSTRIDE], ""), off, ""));
	case PS_PARAM:
		off = LLVMBuildAnd(g->b, a, c64(g, GWIN_MASK), "");
		if (LLVMIsAConstantInt(off)) {
			/* The parameters' size is the kernel's: checked here. */
			uint64_t o = LLVMConstIntGetZExtValue(off);
			if (o < g->f->param_size && len <= g->f->param_size - o)
				return byte_at(g, g->jc[JC_PARAMS], off);
		}
		lim = LLVMBuildSub(g->b, g->jc[JC_PSIZE], c64(g, len), "");
		check(g,
		      LLVMBuildAnd(
			  g->b, LLVMBuildICmp(g->b, LLVMIntULE, off, lim, ""),
			  LLVMBuildICmp(g->b, LLVMIntUGE, g->jc[JC_PSIZE], c64(g, len), ""), ""),
		      a, len, write);
		return byte_at(g, g->jc[JC_PARAMS], off);
	case PS_CONST:
		return address(g, PS_GLOBAL,
			       LLVMBuildAdd(g->b, g->jc[JC_CBASE],
					    LLVMBuildAnd(g->b, a, c64(g, GWIN_MASK), ""), ""),
			       len, write);
	default: { /* generic: global when its window bits are clear */
		LLVMBasicBlockRef glob = LLVMAppendBasicBlockInContext(g->C, g->fn, "global");
		LLVMBasicBlockRef other = LLVMAppendBasicBlockInContext(g->C, g->fn, "window");
		LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(g->C, g->fn, "generic");
		LLVMTypeRef pt[] = {g->ptr, g->i64, g->i32, g->i64, g->i32};
		LLVMValueRef args[] = {g->ctxp, g->t, c32(g, PS_GENERIC), a, c32(g, len)};
		LLVMValueRef pg, po, phi;
		LLVMValueRef is_global = LLVMBuildICmp(
		    g->b, LLVMIntEQ, LLVMBuildLShr(g->b, a, c64(g, GWIN_SHIFT), ""), c64(g, 0), "");
		LLVMBuildCondBr(g->b, is_global, glob, other);
		LLVMPositionBuilderAtEnd(g->b, glob);
		pg = address(g, PS_GLOBAL, a, len, write);
		glob = LLVMGetInsertBlock(g->b);
		LLVMBuildBr(g->b, join);
		LLVMPositionBuilderAtEnd(g->b, other);
		po = call(g, "vcuda_jit_address", g->ptr, pt, 5, args);
		check(g, LLVMBuildIsNotNull(g->b, po, ""), a, len, write);
		other = LLVMGetInsertBlock(g->b);
		LLVMBuildBr(g->b, join);
		LLVMPositionBuilderAtEnd(g->b, join);
		phi = LLVMBuildPhi(g->b, g->ptr, "");
		LLVMAddIncoming(phi, &pg, &glob, 1);
		LLVMAddIncoming(phi, &po, &other, 1);
		return phi;
	}
	}
}

/* The address an [address] operand names (the interpreter's
 * emu_addr_value), and the space it is in. */
static LLVMValueRef addr_value(struct gen *g, const struct ptx_insn *in,
			       const struct ptx_operand *o)
{
	const struct ptx_sym *sym = o->reg >= 0 ? &g->mod->syms[o->reg] : NULL;
	LLVMValueRef a;

	if (o->kind != OK_ADDR && o->kind != OK_SYM && o->kind != OK_REG && o->kind != OK_IMM) {
		refuse(g, "address operand of %s at line %d", NULL);
		return c64(g, 0);
	}
	if (o->kind == OK_REG)
		a = val(g, o, 8, 0);
	else if (o->kind == OK_IMM)
		a = c64(g, (uint64_t)o->imm);
	else if (sym && sym->kind == SYM_FPARAM) {
		refuse(g, "%s of a function parameter at line %d", NULL);
		return c64(g, 0);
	} else if (sym && sym->kind == SYM_KPARAM && o->base < 0)
		a = c64(g, GWIN_PARAM | (sym->offset + (uint64_t)o->imm));
	else {
		a = o->base >= 0 ? resize(g, load_slot(g, o->base), 8, 0)
		    : sym	 ? sym_address(g, o->reg)
				 : c64(g, 0);
		a = LLVMBuildAdd(g->b, a, c64(g, (uint64_t)o->imm), "");
	}
	if (in->space == PS_PARAM)
		a = LLVMBuildOr(g->b, a, c64(g, GWIN_PARAM), "");
	return a;
}

/* A kernel parameter at a fixed place is loaded once, before the loop
 * over threads (parameters never change during a launch). */
static int param_at_entry(struct gen *g, const struct ptx_insn *in)
{
	const struct ptx_operand *o = &in->o[1], *d = &in->o[0];
	const struct ptx_sym *sym =
	    o->kind == OK_ADDR && o->reg >= 0 ? &g->mod->syms[o->reg] : NULL;
	unsigned size = PTX_SIZE(in->type);
	uint64_t off;
	LLVMValueRef v;
	LLVMBasicBlockRef here = LLVMGetInsertBlock(g->b);

	if (in->space != PS_PARAM || !sym || sym->kind != SYM_KPARAM || o->base >= 0 || in->vec ||
	    d->kind != OK_REG || in->guard >= 0)
		return 0;
	off = sym->offset + (uint64_t)o->imm;
	if (off >= g->f->param_size || size > g->f->param_size - off)
		return 0;
	LLVMPositionBuilderBefore(g->b, LLVMGetBasicBlockTerminator(g->entry));
	v = LLVMBuildLoad2(g->b, int_type(g, size), byte_at(g, g->jc[JC_PARAMS], c64(g, off)), "");
	LLVMSetAlignment(v, 1);
	LLVMPositionBuilderAtEnd(g->b, here);
	set(g, d, v, PTX_KIND(in->type) == PK_S);
	return 1;
}

static int gen_ld(struct gen *g, const struct ptx_insn *in)
{
	const struct ptx_operand *d = &in->o[0];
	unsigned size = PTX_SIZE(in->type), n = in->vec ? in->vec : 1;
	int sgn = PTX_KIND(in->type) == PK_S;
	LLVMValueRef p;

	if (size > 8)
		return refuse(g, "%s of this type at line %d", NULL);
	if (param_at_entry(g, in))
		return 0;
	p = address(g, in->space, addr_value(g, in, &in->o[1]), size * n, 0);
	for (unsigned i = 0; i < n; i++) {
		LLVMValueRef e = byte_at(g, p, c64(g, i * size));
		LLVMValueRef v = LLVMBuildLoad2(g->b, int_type(g, size), e, "");
		LLVMSetAlignment(v, 1);
		if (in->space == PS_PARAM)
			invariant(g, v);
		if (in->mods & MOD_ORDERED)
			LLVMSetVolatile(v, 1);
		if (d->kind == OK_VEC) {
			if (d->vec[i] >= 0)
				set_reg_index(g, d->vec[i], v, sgn);
		} else
			set(g, d, v, sgn);
	}
	return 0;
}

static int gen_st(struct gen *g, const struct ptx_insn *in)
{
	const struct ptx_operand *v = &in->o[1];
	unsigned size = PTX_SIZE(in->type), n = in->vec ? in->vec : 1;
	LLVMValueRef p;

	if (size > 8)
		return refuse(g, "%s of this type at line %d", NULL);
	p = address(g, in->space, addr_value(g, in, &in->o[0]), size * n, 1);
	for (unsigned i = 0; i < n; i++) {
		LLVMValueRef x, s;
		if (v->kind == OK_VEC)
			x = v->vec[i] >= 0 ? resize(g, load_slot(g, v->vec[i]), size, 0)
					   : LLVMConstInt(int_type(g, size), 0, 0);
		else
			x = val(g, v, size, 0);
		s = LLVMBuildStore(g->b, x, byte_at(g, p, c64(g, i * size)));
		LLVMSetAlignment(s, 1);
		if (in->mods & MOD_ORDERED)
			LLVMSetVolatile(s, 1);
	}
	return 0;
}

/* ---- arithmetic ---------------------------------------------------------------------------- */

/* The interpreter's arithmetic for the rarer forms: helper(op, type, mods
 * [, extra], a, b, c). */
static LLVMValueRef helper(struct gen *g, const char *name, const struct ptx_insn *in,
			   uint32_t extra, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c)
{
	LLVMTypeRef pt[] = {g->i32, g->i32, g->i32, g->i32, g->i64, g->i64, g->i64};
	LLVMValueRef args[] = {c32(g, in->op),
			       c32(g, (uint32_t)in->type | (uint32_t)in->type2 << 8 |
					  (uint32_t)in->cmp << 16 | (uint32_t)in->sub << 24),
			       c32(g, in->mods),
			       c32(g, extra),
			       a,
			       b ? b : c64(g, 0),
			       c ? c : c64(g, 0)};
	return call(g, name, g->i64, pt, 7, args);
}

static LLVMValueRef fval_of(struct gen *g, const struct ptx_operand *o, unsigned size)
{
	return to_float(g, val(g, o, size, 0));
}

static LLVMValueRef flush(struct gen *g, LLVMValueRef x)
{
	/* ftz: a subnormal becomes a zero of its sign. */
	LLVMTypeRef ft = LLVMTypeOf(x);
	double tiny = ft == g->f32 ? 1.17549435e-38 : 2.2250738585072014e-308;
	LLVMValueRef ax = intrinsic(g, "llvm.fabs", &ft, 1, &x, 1);
	LLVMValueRef sub =
	    LLVMBuildAnd(g->b, LLVMBuildFCmp(g->b, LLVMRealOLT, ax, LLVMConstReal(ft, tiny), ""),
			 LLVMBuildFCmp(g->b, LLVMRealONE, ax, LLVMConstReal(ft, 0.0), ""), "");
	LLVMValueRef zero[] = {LLVMConstReal(ft, 0.0), x};
	LLVMValueRef z = intrinsic(g, "llvm.copysign", &ft, 1, zero, 2);
	return LLVMBuildSelect(g->b, sub, z, x, "");
}

/* Float arithmetic with IEEE results LLVM computes alike (round to
 * nearest, no saturation), natively; everything else through the
 * interpreter's emu_float_exec. */
static int gen_float(struct gen *g, const struct ptx_insn *in)
{
	unsigned size = PTX_SIZE(in->type);
	const struct ptx_operand *d = &in->o[0];
	int nsrc = in->nops - 1;
	LLVMValueRef a, b = NULL, c = NULL, r = NULL;
	LLVMTypeRef ft;
	uint32_t rnd = in->mods & (MOD_RZ | MOD_RM | MOD_RP);
	int native = !rnd && !(in->mods & MOD_SAT) && (size == 4 || !(in->mods & MOD_FTZ));

	if (in->op == OP_MIN || in->op == OP_MAX || in->op == OP_COPYSIGN || in->op == OP_TANH ||
	    in->op == OP_SIN || in->op == OP_COS || (in->mods & (MOD_XORSIGN | MOD_ABS | MOD_RELU)))
		native = 0;
	if (!native) {
		LLVMValueRef x = val(g, &in->o[1], size, 0);
		LLVMValueRef y = nsrc > 1 ? val(g, &in->o[2], size, 0) : NULL;
		LLVMValueRef z = nsrc > 2 ? val(g, &in->o[3], size, 0) : NULL;
		if (nsrc > 3)
			return refuse(g, "%s with four sources at line %d", NULL);
		set(g, d,
		    resize(g,
			   helper(g, "vcuda_jit_float", in, 0, resize(g, x, 8, 0),
				  y ? resize(g, y, 8, 0) : NULL, z ? resize(g, z, 8, 0) : NULL),
			   size, 0),
		    0);
		return 0;
	}
	ft = size == 8 ? g->f64 : g->f32;
	a = fval_of(g, &in->o[1], size);
	if (nsrc > 1)
		b = fval_of(g, &in->o[2], size);
	if (nsrc > 2)
		c = fval_of(g, &in->o[3], size);
	if (in->mods & MOD_FTZ) {
		a = flush(g, a);
		b = b ? flush(g, b) : NULL;
		c = c ? flush(g, c) : NULL;
	}
	switch (in->op) {
	case OP_ADD:
		r = LLVMBuildFAdd(g->b, a, b, "");
		break;
	case OP_SUB:
		r = LLVMBuildFSub(g->b, a, b, "");
		break;
	case OP_MUL:
		r = LLVMBuildFMul(g->b, a, b, "");
		break;
	case OP_FMA:
	case OP_MAD: {
		LLVMValueRef args[] = {a, b, c};
		r = intrinsic(g, "llvm.fma", &ft, 1, args, 3);
		break;
	}
	case OP_DIV:
		r = LLVMBuildFDiv(g->b, a, b, "");
		break;
	case OP_RCP:
		r = LLVMBuildFDiv(g->b, LLVMConstReal(ft, 1.0), a, "");
		break;
	case OP_SQRT:
		r = intrinsic(g, "llvm.sqrt", &ft, 1, &a, 1);
		break;
	case OP_RSQRT:
		r = LLVMBuildFDiv(g->b, LLVMConstReal(ft, 1.0),
				  intrinsic(g, "llvm.sqrt", &ft, 1, &a, 1), "");
		break;
	case OP_ABS:
		r = intrinsic(g, "llvm.fabs", &ft, 1, &a, 1);
		break;
	case OP_NEG:
		r = LLVMBuildFNeg(g->b, a, "");
		break;
	case OP_LG2:
		r = intrinsic(g, "llvm.log2", &ft, 1, &a, 1);
		break;
	case OP_EX2:
		r = intrinsic(g, "llvm.exp2", &ft, 1, &a, 1);
		break;
	default:
		return refuse(g, "float %s at line %d", NULL);
	}
	if (in->mods & MOD_FTZ)
		r = flush(g, r);
	set(g, d, to_bits(g, r), 0);
	return 0;
}

static LLVMValueRef shift_amount_ok(struct gen *g, LLVMValueRef amount, unsigned bits)
{
	return LLVMBuildICmp(g->b, LLVMIntULT, amount, LLVMConstInt(LLVMTypeOf(amount), bits, 0),
			     "");
}

static int gen_int(struct gen *g, const struct ptx_insn *in)
{
	unsigned size = PTX_SIZE(in->type);
	int sgn = PTX_KIND(in->type) == PK_S;
	const struct ptx_operand *d = &in->o[0];
	LLVMValueRef a, b = NULL, c = NULL, r;
	LLVMTypeRef t = int_type(g, size);

	if (d->kind == OK_PRED) { /* and, or, xor, not on predicates */
		LLVMValueRef x = pred(g, &in->o[1]), y = in->nops > 2 ? pred(g, &in->o[2]) : NULL;
		r = in->op == OP_AND   ? LLVMBuildAnd(g->b, x, y, "")
		    : in->op == OP_OR  ? LLVMBuildOr(g->b, x, y, "")
		    : in->op == OP_XOR ? LLVMBuildXor(g->b, x, y, "")
				       : LLVMBuildNot(g->b, x, "");
		set(g, d, r, 0);
		return 0;
	}
	if (size > 8 || (in->type & 0x80))
		return refuse(g, "%s of this type at line %d", NULL);
	a = val(g, &in->o[1], size, sgn);
	if (in->nops > 2)
		b = val(g, &in->o[2], size, sgn);
	if (in->nops > 3)
		c = val(g, &in->o[3], (in->op == OP_MAD && (in->mods & MOD_WIDE)) ? size * 2 : size,
			sgn);
	switch (in->op) {
	case OP_ADD:
	case OP_SUB:
		if (in->mods & (MOD_SAT | MOD_CC))
			goto slow;
		r = in->op == OP_ADD ? LLVMBuildAdd(g->b, a, b, "") : LLVMBuildSub(g->b, a, b, "");
		break;
	case OP_MUL:
	case OP_MAD:
		if (in->mods & MOD_CC)
			goto slow;
		if (in->mods & MOD_WIDE) {
			if (size > 4)
				goto slow;
			r = LLVMBuildMul(g->b, resize(g, a, size * 2, sgn),
					 resize(g, b, size * 2, sgn), "");
			if (in->op == OP_MAD)
				r = LLVMBuildAdd(g->b, r, c, "");
			set(g, d, r, sgn);
			return 0;
		}
		if (in->mods & MOD_HI) {
			if (size > 4)
				goto slow;
			r = LLVMBuildMul(g->b, resize(g, a, 8, sgn), resize(g, b, 8, sgn), "");
			r = LLVMBuildTrunc(g->b, LLVMBuildLShr(g->b, r, c64(g, size * 8), ""), t,
					   "");
		} else
			r = LLVMBuildMul(g->b, a, b, "");
		if (in->op == OP_MAD)
			r = LLVMBuildAdd(g->b, r, c, "");
		break;
	case OP_DIV:
	case OP_REM: {
		/* Division by zero and MIN / -1 give the interpreter's values
		 * rather than trapping. */
		LLVMValueRef zero = LLVMConstInt(t, 0, 0), ones = LLVMConstAllOnes(t);
		LLVMValueRef bz = LLVMBuildICmp(g->b, LLVMIntEQ, b, zero, "");
		LLVMValueRef bad = bz, safe, q;
		if (sgn) {
			LLVMValueRef minv = LLVMConstInt(t, 1ull << (size * 8 - 1), 0);
			LLVMValueRef ovf =
			    LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, a, minv, ""),
					 LLVMBuildICmp(g->b, LLVMIntEQ, b, ones, ""), "");
			bad = LLVMBuildOr(g->b, bz, ovf, "");
			safe = LLVMBuildSelect(g->b, bad, LLVMConstInt(t, 1, 0), b, "");
			q = in->op == OP_DIV ? LLVMBuildSDiv(g->b, a, safe, "")
					     : LLVMBuildSRem(g->b, a, safe, "");
			/* b == 0: div all ones, rem a; MIN / -1: div MIN, rem 0. */
			r = LLVMBuildSelect(
			    g->b, bz, in->op == OP_DIV ? ones : a,
			    LLVMBuildSelect(g->b, ovf, in->op == OP_DIV ? a : zero, q, ""), "");
		} else {
			safe = LLVMBuildSelect(g->b, bz, LLVMConstInt(t, 1, 0), b, "");
			q = in->op == OP_DIV ? LLVMBuildUDiv(g->b, a, safe, "")
					     : LLVMBuildURem(g->b, a, safe, "");
			r = LLVMBuildSelect(g->b, bz, in->op == OP_DIV ? ones : a, q, "");
		}
		break;
	}
	case OP_MIN:
	case OP_MAX:
		if (in->mods & MOD_RELU)
			goto slow;
		r = LLVMBuildSelect(g->b,
				    LLVMBuildICmp(g->b,
						  in->op == OP_MIN
						      ? (sgn ? LLVMIntSLT : LLVMIntULT)
						      : (sgn ? LLVMIntSGT : LLVMIntUGT),
						  a, b, ""),
				    a, b, "");
		break;
	case OP_ABS: {
		LLVMValueRef neg = LLVMBuildNeg(g->b, a, "");
		r = LLVMBuildSelect(g->b,
				    LLVMBuildICmp(g->b, LLVMIntSLT, a, LLVMConstInt(t, 0, 0), ""),
				    neg, a, "");
		break;
	}
	case OP_NEG:
		r = LLVMBuildNeg(g->b, a, "");
		break;
	case OP_AND:
		r = LLVMBuildAnd(g->b, a, b, "");
		break;
	case OP_OR:
		r = LLVMBuildOr(g->b, a, b, "");
		break;
	case OP_XOR:
		r = LLVMBuildXor(g->b, a, b, "");
		break;
	case OP_NOT:
		r = LLVMBuildNot(g->b, a, "");
		break;
	case OP_CNOT:
		r = LLVMBuildZExt(
		    g->b, LLVMBuildICmp(g->b, LLVMIntEQ, a, LLVMConstInt(t, 0, 0), ""), t, "");
		break;
	case OP_SHL:
	case OP_SHR: {
		/* The amount is a u32 whatever the type; past the width, zero
		 * (or the sign for shr.s). */
		LLVMValueRef amt = val(g, &in->o[2], 4, 0), amt_t = resize(g, amt, size, 0);
		LLVMValueRef ok = shift_amount_ok(g, amt, size * 8), sh;
		LLVMValueRef capped =
		    LLVMBuildSelect(g->b, ok, amt_t, LLVMConstInt(t, size * 8 - 1, 0), "");
		if (in->op == OP_SHL)
			r = LLVMBuildSelect(g->b, ok, LLVMBuildShl(g->b, a, capped, ""),
					    LLVMConstInt(t, 0, 0), "");
		else if (sgn)
			r = LLVMBuildAShr(g->b, a, capped, "");
		else {
			sh = LLVMBuildLShr(g->b, a, capped, "");
			r = LLVMBuildSelect(g->b, ok, sh, LLVMConstInt(t, 0, 0), "");
		}
		break;
	}
	case OP_POPC:
		r = intrinsic(g, "llvm.ctpop", &t, 1, &a, 1);
		set(g, d, resize(g, r, 4, 0), 0);
		return 0;
	case OP_CLZ: {
		LLVMValueRef args[] = {a, LLVMConstInt(g->i1, 0, 0)};
		r = intrinsic(g, "llvm.ctlz", &t, 1, args, 2);
		set(g, d, resize(g, r, 4, 0), 0);
		return 0;
	}
	case OP_BREV:
		r = intrinsic(g, "llvm.bitreverse", &t, 1, &a, 1);
		break;
	default:
		goto slow;
	}
	set(g, d, r, sgn);
	return 0;
slow:
	if (in->nops > 4)
		return refuse(g, "%s with four sources at line %d", NULL);
	r = helper(g, "vcuda_jit_int", in, 0, resize(g, a, 8, sgn), b ? resize(g, b, 8, sgn) : NULL,
		   c ? resize(g, c, 8, sgn) : NULL);
	set(g, d, r, sgn);
	return 0;
}

static int gen_alu(struct gen *g, const struct ptx_insn *in)
{
	int fl = (PTX_KIND(in->type) == PK_F || PTX_KIND(in->type) == PK_BF) && in->op != OP_AND &&
		 in->op != OP_OR && in->op != OP_XOR && in->op != OP_NOT;

	if (in->o[0].kind == OK_PRED || !fl)
		return gen_int(g, in);
	if (!is_float(in->type))
		return refuse(g, "%s on half precision at line %d", NULL);
	return gen_float(g, in);
}

static int gen_cvt(struct gen *g, const struct ptx_insn *in)
{
	uint8_t dt = in->type, st = in->type2;
	unsigned ds = PTX_SIZE(dt), ss = PTX_SIZE(st);
	int dk = PTX_KIND(dt), sk = PTX_KIND(st);
	LLVMValueRef v, r;
	uint32_t rnd = in->mods & MOD_ROUND;

	if (in->nops > 2 || is_small(dt) || is_small(st))
		return refuse(g, "%s with half precision at line %d", NULL);
	if (ds > 8 || ss > 8)
		return refuse(g, "%s of this type at line %d", NULL);
	v = val(g, &in->o[1], ss, sk == PK_S);
	if (sk != PK_F && dk != PK_F && !(in->mods & MOD_SAT)) {
		set(g, &in->o[0], resize(g, resize(g, v, ss, sk == PK_S), ds, sk == PK_S),
		    dk == PK_S);
		return 0;
	}
	if (in->mods & (MOD_SAT | MOD_FTZ))
		goto slow;
	if (sk == PK_F && dk == PK_F) {
		LLVMTypeRef ft = ds == 8 ? g->f64 : g->f32;
		LLVMValueRef x = to_float(g, v);
		if (in->mods & MOD_INTRND) {
			const char *fn = rnd == MOD_RZ	 ? "llvm.trunc"
					 : rnd == MOD_RM ? "llvm.floor"
					 : rnd == MOD_RP ? "llvm.ceil"
							 : "llvm.roundeven";
			LLVMTypeRef xt = LLVMTypeOf(x);
			x = intrinsic(g, fn, &xt, 1, &x, 1);
		} else if (rnd && rnd != MOD_RN && ds < ss)
			goto slow;
		r = ds == ss  ? x
		    : ds > ss ? LLVMBuildFPExt(g->b, x, ft, "")
			      : LLVMBuildFPTrunc(g->b, x, ft, "");
		set(g, &in->o[0], to_bits(g, r), 0);
		return 0;
	}
	if (sk == PK_F) { /* float to integer: rounded, then saturated */
		LLVMValueRef x = to_float(g, v);
		LLVMTypeRef xt = LLVMTypeOf(x), over[2] = {int_type(g, ds), xt};
		const char *fn = rnd == MOD_RN	 ? "llvm.roundeven"
				 : rnd == MOD_RM ? "llvm.floor"
				 : rnd == MOD_RP ? "llvm.ceil"
						 : NULL;
		if (fn)
			x = intrinsic(g, fn, &xt, 1, &x, 1);
		r = intrinsic(g, dk == PK_S ? "llvm.fptosi.sat" : "llvm.fptoui.sat", over, 2, &x,
			      1);
		set(g, &in->o[0], r, dk == PK_S);
		return 0;
	}
	if (rnd && rnd != MOD_RN)
		goto slow;
	/* integer to float */
	r = sk == PK_S ? LLVMBuildSIToFP(g->b, v, ds == 8 ? g->f64 : g->f32, "")
		       : LLVMBuildUIToFP(g->b, v, ds == 8 ? g->f64 : g->f32, "");
	set(g, &in->o[0], to_bits(g, r), 0);
	return 0;
slow:
	set(g, &in->o[0],
	    resize(g, helper(g, "vcuda_jit_cvt", in, 0, resize(g, v, 8, sk == PK_S), NULL, NULL),
		   ds, 0),
	    dk == PK_S);
	return 0;
}

/* The comparison of setp, set and the rest: i1. */
static LLVMValueRef compare(struct gen *g, int cmp, uint8_t type, const struct ptx_operand *oa,
			    const struct ptx_operand *ob, const struct ptx_insn *in)
{
	unsigned size = PTX_SIZE(type);
	int sgn = PTX_KIND(type) == PK_S;
	static const LLVMIntPredicate ip[] = {
	    [CMP_EQ] = LLVMIntEQ,  [CMP_NE] = LLVMIntNE,  [CMP_LO] = LLVMIntULT,
	    [CMP_LS] = LLVMIntULE, [CMP_HI] = LLVMIntUGT, [CMP_HS] = LLVMIntUGE,
	};
	static const LLVMRealPredicate fp[] = {
	    [CMP_EQ] = LLVMRealOEQ,  [CMP_NE] = LLVMRealONE,  [CMP_LT] = LLVMRealOLT,
	    [CMP_LE] = LLVMRealOLE,  [CMP_GT] = LLVMRealOGT,  [CMP_GE] = LLVMRealOGE,
	    [CMP_EQU] = LLVMRealUEQ, [CMP_NEU] = LLVMRealUNE, [CMP_LTU] = LLVMRealULT,
	    [CMP_LEU] = LLVMRealULE, [CMP_GTU] = LLVMRealUGT, [CMP_GEU] = LLVMRealUGE,
	    [CMP_NUM] = LLVMRealORD, [CMP_NAN] = LLVMRealUNO,
	};

	if (is_small(type) || size > 8) {
		LLVMValueRef r =
		    helper(g, "vcuda_jit_compare", in, (uint32_t)cmp | (uint32_t)type << 8,
			   val(g, oa, 8, 0), val(g, ob, 8, 0), NULL);
		return LLVMBuildICmp(g->b, LLVMIntNE, r, c64(g, 0), "");
	}
	if (PTX_KIND(type) == PK_F) {
		LLVMValueRef a = fval_of(g, oa, size), b = fval_of(g, ob, size);
		if (in->mods & MOD_FTZ) {
			a = flush(g, a);
			b = flush(g, b);
		}
		return LLVMBuildFCmp(g->b, fp[cmp], a, b, "");
	}
	{
		LLVMValueRef a = val(g, oa, size, sgn), b = val(g, ob, size, sgn);
		LLVMIntPredicate p;
		switch (cmp) {
		case CMP_LT:
			p = sgn ? LLVMIntSLT : LLVMIntULT;
			break;
		case CMP_LE:
			p = sgn ? LLVMIntSLE : LLVMIntULE;
			break;
		case CMP_GT:
			p = sgn ? LLVMIntSGT : LLVMIntUGT;
			break;
		case CMP_GE:
			p = sgn ? LLVMIntSGE : LLVMIntUGE;
			break;
		default:
			if (cmp > CMP_HS) {
				refuse(g, "%s with a float comparison on integers at line %d",
				       NULL);
				return LLVMConstInt(g->i1, 0, 0);
			}
			p = ip[cmp];
		}
		return LLVMBuildICmp(g->b, p, a, b, "");
	}
}

/* setp.cmp[.bool].type p[|q], a, b[, {!}c] */
static int gen_setp(struct gen *g, const struct ptx_insn *in)
{
	int pair = (in->sub2 & 0x80) != 0;
	const struct ptx_operand *p = &in->o[0], *q = pair ? &in->o[1] : NULL;
	int ai = pair ? 2 : 1;
	LLVMValueRef r = compare(g, in->cmp, in->type, &in->o[ai], &in->o[ai + 1], in), nr;

	nr = LLVMBuildNot(g->b, r, "");
	if (in->sub != SUB_NONE) {
		LLVMValueRef c = pred(g, &in->o[ai + 2]);
		LLVMValueRef (*op)(LLVMBuilderRef, LLVMValueRef, LLVMValueRef, const char *) =
		    in->sub == SUB_AND	? LLVMBuildAnd
		    : in->sub == SUB_OR ? LLVMBuildOr
					: LLVMBuildXor;
		r = op(g->b, r, c, "");
		nr = op(g->b, nr, c, "");
	}
	set(g, p, r, 0);
	if (q)
		set(g, q, nr, 0);
	return 0;
}

/* ---- atomics ---------------------------------------------------------------------------- */

static int gen_atom(struct gen *g, const struct ptx_insn *in)
{
	int red = in->op == OP_RED;
	const struct ptx_operand *ao = &in->o[red ? 0 : 1];
	unsigned size = PTX_SIZE(in->type);
	int fl = PTX_KIND(in->type) == PK_F, sgn = PTX_KIND(in->type) == PK_S;
	int shared = in->space == PS_SHARED;
	LLVMValueRef p, b, c = NULL, old;
	LLVMAtomicRMWBinOp op;

	if (size < 4 || size > 8 || is_small(in->type) || in->vec)
		return refuse(g, "%s of this type at line %d", NULL);
	if (in->space != PS_GLOBAL && in->space != PS_SHARED && in->space != PS_GENERIC &&
	    in->space != PS_NONE)
		return refuse(g, "%s in this space at line %d", NULL);
	p = address(g, in->space, addr_value(g, in, ao), size, 1);
	b = val(g, &in->o[red ? 1 : 2], size, sgn);
	if (in->sub == SUB_CAS)
		c = val(g, &in->o[3], size, 0);
	switch (in->sub) {
	case SUB_ADD:
		op = fl ? LLVMAtomicRMWBinOpFAdd : LLVMAtomicRMWBinOpAdd;
		break;
	case SUB_AND:
		op = LLVMAtomicRMWBinOpAnd;
		break;
	case SUB_OR:
		op = LLVMAtomicRMWBinOpOr;
		break;
	case SUB_XOR:
		op = LLVMAtomicRMWBinOpXor;
		break;
	case SUB_EXCH:
		op = LLVMAtomicRMWBinOpXchg;
		break;
	case SUB_MIN:
		op = sgn ? LLVMAtomicRMWBinOpMin : LLVMAtomicRMWBinOpUMin;
		break;
	case SUB_MAX:
		op = sgn ? LLVMAtomicRMWBinOpMax : LLVMAtomicRMWBinOpUMax;
		break;
	case SUB_CAS:
		op = LLVMAtomicRMWBinOpXchg; /* not used */
		break;
	default: { /* inc, dec, float min/max: the interpreter's */
		LLVMTypeRef pt[] = {g->ptr, g->i32, g->i32, g->i32, g->i64, g->i64};
		LLVMValueRef args[] = {p,
				       c32(g, (uint32_t)shared),
				       c32(g, in->sub),
				       c32(g, in->type),
				       resize(g, b, 8, sgn),
				       c64(g, 0)};
		old = call(g, "vcuda_jit_atomic", g->i64, pt, 6, args);
		if (!red)
			set(g, &in->o[0], resize(g, old, size, 0), sgn);
		return 0;
	}
	}
	if (fl && (in->sub == SUB_MIN || in->sub == SUB_MAX))
		return refuse(g, "float %s min/max at line %d", NULL);
	if (shared) {
		/* A block runs on one host thread: shared memory needs no
		 * atomic instructions. */
		LLVMTypeRef t = int_type(g, size);
		LLVMValueRef cur = LLVMBuildLoad2(g->b, t, p, ""), nv;
		LLVMSetAlignment(cur, 1);
		switch (in->sub) {
		case SUB_ADD:
			nv = fl ? to_bits(g,
					  LLVMBuildFAdd(g->b, to_float(g, cur), to_float(g, b), ""))
				: LLVMBuildAdd(g->b, cur, b, "");
			break;
		case SUB_AND:
			nv = LLVMBuildAnd(g->b, cur, b, "");
			break;
		case SUB_OR:
			nv = LLVMBuildOr(g->b, cur, b, "");
			break;
		case SUB_XOR:
			nv = LLVMBuildXor(g->b, cur, b, "");
			break;
		case SUB_EXCH:
			nv = b;
			break;
		case SUB_CAS:
			nv = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, cur, b, ""), c,
					     cur, "");
			break;
		default: {
			int lt = in->sub == SUB_MIN;
			LLVMIntPredicate pr =
			    sgn ? (lt ? LLVMIntSLT : LLVMIntSGT) : (lt ? LLVMIntULT : LLVMIntUGT);
			nv = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, pr, b, cur, ""), b, cur, "");
		}
		}
		LLVMSetAlignment(LLVMBuildStore(g->b, nv, p), 1);
		old = cur;
	} else if (in->sub == SUB_CAS) {
		LLVMValueRef pair = LLVMBuildAtomicCmpXchg(
		    g->b, p, b, c, LLVMAtomicOrderingMonotonic, LLVMAtomicOrderingMonotonic, 0);
		old = LLVMBuildExtractValue(g->b, pair, 0, "");
	} else {
		LLVMValueRef bv = fl ? to_float(g, b) : b;
		old = LLVMBuildAtomicRMW(g->b, op, p, bv, LLVMAtomicOrderingMonotonic, 0);
		if (fl)
			old = to_bits(g, old);
	}
	if (!red)
		set(g, &in->o[0], old, sgn);
	return 0;
}

/* ---- stops: barriers and warp operations ---------------------------------------------------- */

static LLVMValueRef thread_field(struct gen *g, int field)
{
	LLVMValueRef idx = LLVMBuildAdd(g->b, LLVMBuildShl(g->b, g->t, c64(g, 1), ""),
					c64(g, (uint64_t)field), "");
	return LLVMBuildGEP2(g->b, g->i32, g->jc[JC_THR], &idx, 1, "");
}

static LLVMValueRef coll_field(struct gen *g, int field)
{
	return word(g, g->jc[JC_COLL],
		    LLVMBuildAdd(g->b, LLVMBuildMul(g->b, g->t, c64(g, 6), ""),
				 c64(g, (uint64_t)field), ""));
}

static LLVMValueRef save_slot(struct gen *g, int slot)
{
	return word(g, g->jc[JC_SAVE],
		    LLVMBuildAdd(g->b, LLVMBuildMul(g->b, g->t, g->jc[JC_NSAVE], ""),
				 c64(g, (uint64_t)slot), ""));
}

static int live_after(const struct gen *g, int pc, int slot)
{
	return (g->live[(size_t)pc * (size_t)g->words + (size_t)(slot / 64)] >> (slot % 64)) & 1;
}

/* Ends the thread's run at instruction pc as stop k: the values live
 * after it saved, its place recorded; the next thread runs. */
static void stop_here(struct gen *g, int k)
{
	for (int s = 0; s < SLOTS(g); s++) {
		if (!live_after(g, g->pc, s))
			continue;
		LLVMBuildStore(g->b, resize(g, load_slot(g, s), 8, 0), save_slot(g, s));
	}
	LLVMBuildStore(g->b, c32(g, (uint32_t)k), thread_field(g, 0));
	LLVMBuildStore(g->b, c32(g, 0), thread_field(g, 1));
	LLVMBuildBr(g->b, g->next);
}

/* Where stop k resumes: the saved values loaded, then (for a warp
 * operation) its results, then on to the next instruction. */
static void resume_block(struct gen *g, LLVMValueRef sw, int k, int pc, int to)
{
	LLVMBasicBlockRef r = LLVMAppendBasicBlockInContext(g->C, g->fn, "resume");
	const struct ptx_insn *in = &g->f->insns[pc];
	int saved_pc = g->pc;

	LLVMAddCase(sw, c32(g, (uint32_t)k), r);
	LLVMPositionBuilderAtEnd(g->b, r);
	g->pc = pc;
	for (int s = 0; s < SLOTS(g); s++) {
		LLVMValueRef v;
		if (!live_after(g, pc, s))
			continue;
		v = LLVMBuildLoad2(g->b, g->i64, save_slot(g, s), "");
		LLVMBuildStore(g->b,
			       g->rty[s] == g->i1
				   ? LLVMBuildTrunc(g->b, v, g->i1, "")
				   : resize(g, v, LLVMGetIntTypeWidth(g->rty[s]) / 8, 0),
			       g->regs[s]);
	}
	if ((g->code->stops[k - 1].kind == JS_COLL && in->op != OP_BARWARP) ||
	    (in->op == OP_BAR && in->sub != SUB_NONE)) {
		int pair = in->op == OP_SHFL && (in->sub2 & 0x80);
		LLVMValueRef res = LLVMBuildLoad2(g->b, g->i64, coll_field(g, 4), "");
		if (in->o[0].kind == OK_PRED)
			set(g, &in->o[0], LLVMBuildTrunc(g->b, res, g->i1, ""), 0);
		else
			set(g, &in->o[0],
			    resize(g, res, PTX_SIZE(in->type) ? PTX_SIZE(in->type) : 4, 0), 0);
		if (pair)
			set(g, &in->o[1],
			    LLVMBuildTrunc(g->b, LLVMBuildLoad2(g->b, g->i64, coll_field(g, 5), ""),
					   g->i1, ""),
			    0);
	}
	LLVMBuildBr(g->b, g->bb[to]);
	g->pc = saved_pc;
}

/* A warp operation's operands deposited for the runner. */
static int gen_coll(struct gen *g, const struct ptx_insn *in)
{
	LLVMValueRef a = c64(g, 0), b = c64(g, 0), c = c64(g, 0), mask = c64(g, 0xffffffffu);
	int pair = (in->sub2 & 0x80) != 0;

	switch (in->op) {
	case OP_SHFL: {
		int ai = pair ? 2 : 1;
		if (PTX_SIZE(in->type) != 4)
			return refuse(g, "%s of this type at line %d", NULL);
		a = val(g, &in->o[ai], 8, 0);
		b = val(g, &in->o[ai + 1], 8, 0);
		c = val(g, &in->o[ai + 2], 8, 0);
		break;
	}
	case OP_VOTE:
		if (in->sub != SUB_ALL && in->sub != SUB_ANY && in->sub != SUB_UNI &&
		    in->sub != SUB_BALLOT)
			return refuse(g, "%s of this kind at line %d", NULL);
		a = LLVMBuildZExt(g->b, pred(g, &in->o[1]), g->i64, "");
		if (in->nops > 2)
			mask = val(g, &in->o[2], 8, 0);
		break;
	case OP_REDUX:
		a = val(g, &in->o[1], 4, 0);
		a = resize(g, a, 8, 0);
		if (in->nops > 2)
			mask = val(g, &in->o[2], 8, 0);
		break;
	case OP_ACTIVEMASK:
	case OP_BARWARP:
		break;
	default:
		return refuse(g, "%s at line %d", NULL);
	}
	LLVMBuildStore(g->b, a, coll_field(g, 0));
	LLVMBuildStore(g->b, b, coll_field(g, 1));
	LLVMBuildStore(g->b, c, coll_field(g, 2));
	LLVMBuildStore(g->b, mask, coll_field(g, 3));
	return 0;
}

/* ---- control flow ---------------------------------------------------------------------------- */

static void exit_thread(struct gen *g)
{
	if (!g->stops) {
		LLVMBuildBr(g->b, g->next);
		return;
	}
	LLVMBuildStore(g->b, c32(g, (uint32_t)-1), thread_field(g, 0));
	LLVMBuildStore(g->b, c32(g, 0), thread_field(g, 1));
	LLVMBuildBr(g->b, g->next);
}

/* A backward branch: every 1024th asks the runner whether the launch
 * must stop (the watchdog's deadline, another block's fault). */
static void poll(struct gen *g)
{
	LLVMValueRef n =
	    LLVMBuildAdd(g->b, LLVMBuildLoad2(g->b, g->i32, g->backedges, ""), c32(g, 1), "");
	LLVMBasicBlockRef ask = LLVMAppendBasicBlockInContext(g->C, g->fn, "poll");
	LLVMBasicBlockRef go = LLVMAppendBasicBlockInContext(g->C, g->fn, "go");
	LLVMTypeRef pt[] = {g->ptr, g->i32};
	LLVMValueRef args[] = {g->ctxp, c32(g, (uint32_t)g->pc)};

	LLVMBuildStore(g->b, n, g->backedges);
	LLVMBuildCondBr(
	    g->b,
	    LLVMBuildICmp(g->b, LLVMIntEQ, LLVMBuildAnd(g->b, n, c32(g, 1023), ""), c32(g, 0), ""),
	    ask, go);
	LLVMPositionBuilderAtEnd(g->b, ask);
	LLVMBuildCondBr(g->b,
			LLVMBuildICmp(g->b, LLVMIntNE,
				      call(g, "vcuda_jit_poll", g->i32, pt, 2, args), c32(g, 0),
				      ""),
			g->fault, go);
	LLVMPositionBuilderAtEnd(g->b, go);
}

/* Whether an instruction ends its block (what follows starts one). */
static int ends_block(const struct ptx_insn *in)
{
	return in->op == OP_BRA || in->op == OP_EXIT || in->op == OP_RET || jit_stop_kind(in->op) ||
	       in->op == OP_SHFL || in->op == OP_VOTE || in->op == OP_REDUX ||
	       in->op == OP_ACTIVEMASK || in->guard >= 0;
}

/* ---- liveness ---------------------------------------------------------------------------- */

/* Slots an instruction reads (every register operand: conservative) and
 * writes (the destination of the ops known to write only it). */
static void uses_defs(const struct gen *g, const struct ptx_insn *in, uint64_t *use, uint64_t *def)
{
	int nregs = g->f->nregs;
	int writes =
	    in->guard < 0 &&
	    (in->op == OP_MOV || in->op == OP_LD || in->op == OP_CVT || in->op == OP_CVTA ||
	     in->op == OP_SETP || in->op == OP_SELP || (in->op >= OP_ADD && in->op <= OP_COPYSIGN));
#define MARK(set, s) ((set)[(s) / 64] |= 1ull << ((s) % 64))
	for (int i = 0; i < in->nops && i < 6; i++) {
		const struct ptx_operand *o = &in->o[i];
		int is_def =
		    writes && (i == 0 || (i == 1 && in->op == OP_SETP && (in->sub2 & 0x80)));
		if (o->kind == OK_REG)
			is_def ? MARK(def, o->reg) : MARK(use, o->reg);
		else if (o->kind == OK_PRED)
			is_def ? MARK(def, nregs + o->reg) : MARK(use, nregs + o->reg);
		else if (o->kind == OK_ADDR && o->base >= 0)
			MARK(use, o->base);
		else if (o->kind == OK_VEC)
			for (int v = 0; v < o->nvec && v < 8; v++)
				if (o->vec[v] >= 0)
					(is_def && in->op == OP_LD) ? MARK(def, o->vec[v])
								    : MARK(use, o->vec[v]);
	}
	if (in->guard >= 0)
		MARK(use, nregs + in->guard);
#undef MARK
}

static int liveness(struct gen *g)
{
	int n = g->f->ninsns, W = g->words;
	uint64_t *in_live = calloc((size_t)(n + 1) * (size_t)W, 8);
	uint64_t *use = calloc((size_t)W, 8), *def = calloc((size_t)W, 8);
	int changed = 1;

	g->live = calloc((size_t)(n + 1) * (size_t)W, 8);
	if (!in_live || !use || !def || !g->live) {
		free(in_live);
		free(use);
		free(def);
		return -1;
	}
	while (changed) {
		changed = 0;
		for (int pc = n - 1; pc >= 0; pc--) {
			const struct ptx_insn *in = &g->f->insns[pc];
			uint64_t *out = &g->live[(size_t)pc * (size_t)W];
			int fall = !(in->guard < 0 &&
				     (in->op == OP_BRA || in->op == OP_EXIT || in->op == OP_RET));
			memset(use, 0, (size_t)W * 8);
			memset(def, 0, (size_t)W * 8);
			uses_defs(g, in, use, def);
			for (int w = 0; w < W; w++) {
				uint64_t o = 0, i;
				if (fall)
					o |= in_live[(size_t)(pc + 1) * (size_t)W + (size_t)w];
				if (in->op == OP_BRA && in->target >= 0 && in->target <= n)
					o |= in_live[(size_t)in->target * (size_t)W + (size_t)w];
				out[w] = o;
				i = use[w] | (o & ~def[w]);
				if (i != in_live[(size_t)pc * (size_t)W + (size_t)w]) {
					in_live[(size_t)pc * (size_t)W + (size_t)w] = i;
					changed = 1;
				}
			}
		}
	}
	/* What the kernel may read before it writes: zeroed at each thread's
	 * start, as the interpreter's fresh registers are. */
	memcpy(g->live + (size_t)n * (size_t)W, in_live, (size_t)W * 8);
	free(in_live);
	free(use);
	free(def);
	return 0;
}

/* ---- the kernel ---------------------------------------------------------------------------- */

static int gen_insn(struct gen *g, const struct ptx_insn *in, LLVMValueRef sw)
{
	switch (in->op) {
	case OP_MOV: {
		const struct ptx_operand *d = &in->o[0], *a = &in->o[1];
		unsigned size = PTX_SIZE(in->type);
		if (d->kind == OK_PRED) {
			set(g, d, pred(g, a), 0);
		} else if (d->kind == OK_VEC) {
			unsigned part = size / d->nvec;
			LLVMValueRef v = val(g, a, size, 0);
			for (int i = 0; i < d->nvec; i++)
				if (d->vec[i] >= 0)
					set_reg_index(
					    g, d->vec[i],
					    resize(g,
						   LLVMBuildLShr(
						       g->b, v,
						       LLVMConstInt(LLVMTypeOf(v),
								    (unsigned)i * part * 8, 0),
						       ""),
						   part, 0),
					    0);
		} else if (a->kind == OK_VEC) {
			unsigned part = size / a->nvec;
			LLVMValueRef v = LLVMConstInt(int_type(g, size), 0, 0);
			for (int i = 0; i < a->nvec; i++) {
				LLVMValueRef e =
				    a->vec[i] >= 0
					? resize(g, resize(g, load_slot(g, a->vec[i]), part, 0),
						 size, 0)
					: LLVMConstInt(int_type(g, size), 0, 0);
				v = LLVMBuildOr(
				    g->b, v,
				    LLVMBuildShl(
					g->b, e,
					LLVMConstInt(int_type(g, size), (unsigned)i * part * 8, 0),
					""),
				    "");
			}
			set(g, d, v, 0);
		} else
			set(g, d, val(g, a, size, 0), 0);
		return 0;
	}
	case OP_LD:
		return gen_ld(g, in);
	case OP_ST:
		return gen_st(g, in);
	case OP_CVTA: {
		uint64_t win = in->space == PS_SHARED  ? GWIN_SHARED
			       : in->space == PS_LOCAL ? GWIN_LOCAL
			       : in->space == PS_CONST ? GWIN_CONST
			       : in->space == PS_PARAM ? GWIN_PARAM
						       : 0;
		LLVMValueRef v = val(g, &in->o[1], 8, 0);
		if (win)
			v = (in->mods & MOD_TO) ? LLVMBuildAnd(g->b, v, c64(g, GWIN_MASK), "")
						: LLVMBuildOr(g->b, v, c64(g, win), "");
		set(g, &in->o[0], v, 0);
		return 0;
	}
	case OP_CVT:
		return gen_cvt(g, in);
	case OP_ADD:
	case OP_SUB:
	case OP_MUL:
	case OP_MAD:
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
	case OP_MUL24:
	case OP_MAD24:
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
		if (in->mods & MOD_CC)
			return refuse(g, "%s.cc at line %d", NULL);
		return gen_alu(g, in);
	case OP_BFI:
	case OP_LOP3:
	case OP_PRMT:
	case OP_SHF: {
		/* The interpreter's bit manipulation: four operands in. */
		LLVMTypeRef pt[] = {g->i32, g->i32, g->i32, g->i64, g->i64, g->i64, g->i64};
		LLVMValueRef args[7];
		args[0] = c32(g, in->op);
		args[1] = c32(g, in->type);
		args[2] = c32(g, in->mods);
		for (int i = 0; i < 4; i++)
			args[3 + i] = i + 1 < in->nops ? val(g, &in->o[i + 1], 8, 0) : c64(g, 0);
		set(g, &in->o[0],
		    resize(g, call(g, "vcuda_jit_bits", g->i64, pt, 7, args), PTX_SIZE(in->type),
			   0),
		    0);
		return 0;
	}
	case OP_SETP:
		return gen_setp(g, in);
	case OP_SELP: {
		unsigned size = PTX_SIZE(in->type);
		LLVMValueRef c = pred(g, &in->o[3]);
		set(g, &in->o[0],
		    LLVMBuildSelect(g->b, c, val(g, &in->o[1], size, 0), val(g, &in->o[2], size, 0),
				    ""),
		    0);
		return 0;
	}
	case OP_SET: {
		uint8_t st = in->type2 ? in->type2 : in->type;
		LLVMValueRef r;
		if (is_small(in->type) || (st & 0x80))
			return refuse(g, "%s with half precision at line %d", NULL);
		r = compare(g, in->cmp, st, &in->o[1], &in->o[2], in);
		set(g, &in->o[0],
		    LLVMBuildSelect(g->b, r,
				    c32(g, PTX_KIND(in->type) == PK_F ? 0x3f800000u : 0xffffffffu),
				    c32(g, 0), ""),
		    0);
		return 0;
	}
	case OP_SLCT: {
		LLVMValueRef c = val(g, &in->o[3], 4, 0), ge;
		unsigned size = PTX_SIZE(in->type);
		ge = PTX_KIND(in->type2) == PK_F
			 ? LLVMBuildNot(g->b,
					LLVMBuildFCmp(g->b, LLVMRealOLT, to_float(g, c),
						      LLVMConstReal(g->f32, 0.0), ""),
					"")
			 : LLVMBuildICmp(g->b, LLVMIntSGE, c, c32(g, 0), "");
		set(g, &in->o[0],
		    LLVMBuildSelect(g->b, ge, val(g, &in->o[1], size, 0),
				    val(g, &in->o[2], size, 0), ""),
		    0);
		return 0;
	}
	case OP_TESTP: {
		LLVMValueRef r =
		    helper(g, "vcuda_jit_testp", in, 0, val(g, &in->o[1], 8, 0), NULL, NULL);
		set(g, &in->o[0], LLVMBuildICmp(g->b, LLVMIntNE, r, c64(g, 0), ""), 0);
		return 0;
	}
	case OP_ATOM:
	case OP_RED:
		return gen_atom(g, in);
	case OP_MEMBAR:
		LLVMBuildFence(g->b, LLVMAtomicOrderingSequentiallyConsistent, 0, "");
		return 0;
	case OP_NOP:
	case OP_PREFETCH:
		return 0;
	case OP_BRA:
		if (in->target <= g->pc)
			poll(g);
		if (g->yields[g->pc]) {
			/* Every JIT_YIELD_EVERY iterations the next thread runs. */
			int k = ++g->code->nstops;
			LLVMBasicBlockRef yield =
			    LLVMAppendBasicBlockInContext(g->C, g->fn, "yield");
			LLVMValueRef n = LLVMBuildLoad2(g->b, g->i32, g->backedges, "");
			g->code->stops[k - 1].kind = JS_YIELD;
			g->code->stops[k - 1].insn = g->pc;
			LLVMBuildCondBr(
			    g->b,
			    LLVMBuildICmp(g->b, LLVMIntEQ,
					  LLVMBuildAnd(g->b, n, c32(g, JIT_YIELD_EVERY - 1), ""),
					  c32(g, 0), ""),
			    yield, g->bb[in->target]);
			LLVMPositionBuilderAtEnd(g->b, yield);
			stop_here(g, k);
			resume_block(g, sw, k, g->pc, in->target);
			return 1;
		}
		LLVMBuildBr(g->b, g->bb[in->target]);
		return 1;
	case OP_EXIT:
	case OP_RET:
		exit_thread(g);
		return 1;
	case OP_NANOSLEEP:
	case OP_BARWARP:
	case OP_BAR:
	case OP_SHFL:
	case OP_VOTE:
	case OP_REDUX:
	case OP_ACTIVEMASK: {
		int k = ++g->code->nstops;
		/* bar.sync with a thread count waits for the whole block, as on
		 * the interpreter; bar.red leaves its predicate for the runner. */
		if (in->op == OP_BAR && in->sub != SUB_NONE && in->nops < 3)
			return refuse(g, "%s.red without its operands at line %d", NULL);
		if (in->op == OP_BAR && in->sub != SUB_NONE)
			LLVMBuildStore(
			    g->b, LLVMBuildZExt(g->b, pred(g, &in->o[in->nops - 1]), g->i64, ""),
			    coll_field(g, 0));
		g->code->stops[k - 1].kind = jit_stop_kind(in->op);
		g->code->stops[k - 1].insn = g->pc;
		if (in->op != OP_BAR && in->op != OP_NANOSLEEP) {
			g->code->has_coll = 1;
			if (gen_coll(g, in) != 0)
				return -1;
		}
		stop_here(g, k);
		resume_block(g, sw, k, g->pc, g->pc + 1);
		return 1;
	}
	default:
		return refuse(g, "%s at line %d", NULL);
	}
}

int jit_gen_kernel(struct jit_build *jb, const struct ptx_module *mod, const struct ptx_func *f,
		   const char *symbol, struct jit_code *code, char *why, size_t why_len)
{
	struct gen G = {0}, *g = &G;
	LLVMTypeRef params[3];
	LLVMBasicBlockRef entry, head, body, dispatch, done, start;
	LLVMValueRef t0, sw, phi, next_t;
	int n = f->ninsns, rc = -1;

	g->C = jb->context;
	g->M = jb->module;
	g->mod = mod;
	g->f = f;
	g->code = code;
	g->why = why;
	g->why_len = why_len;
	/* LLVM's time and memory grow with a function's size: a guest's
	 * huge kernel stays interpreted rather than hold the worker. */
	if (n == 0 || n > JIT_MAX_INSNS || f->nregs + f->npreds > JIT_MAX_SLOTS)
		return refuse(g, "%s: kernel size at line %d", "kernel"), -1;
	for (int i = 0; i < n; i++) {
		const struct ptx_insn *in = &f->insns[i];
		g->pc = i;
		if (in->op == OP_CALL)
			return refuse(g, "%s (a call) at line %d", NULL), -1;
		if (in->op == OP_BRA && (in->target < 0 || in->target > n))
			return refuse(g, "%s target at line %d", NULL), -1;
		g->stops |= jit_stop_kind(in->op) != 0;
	}
	if (mod->has_alloca)
		return refuse(g, "%s (alloca in the module) at line %d", "stack"), -1;
	if (!(g->yields = calloc((size_t)n + 1, 1)) || jit_find_yields(f, g->yields) != 0) {
		free(g->yields);
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	for (int i = 0; i < n; i++)
		g->stops |= g->yields[i];
	g->i1 = LLVMInt1TypeInContext(g->C);
	g->i8 = LLVMInt8TypeInContext(g->C);
	g->i16 = LLVMInt16TypeInContext(g->C);
	g->i32 = LLVMInt32TypeInContext(g->C);
	g->i64 = LLVMInt64TypeInContext(g->C);
	g->f32 = LLVMFloatTypeInContext(g->C);
	g->f64 = LLVMDoubleTypeInContext(g->C);
	g->ptr = LLVMPointerTypeInContext(g->C, 0);
	g->vt = LLVMVoidTypeInContext(g->C);
	g->words = (SLOTS(g) + 63) / 64;
	code->nsave = (uint32_t)SLOTS(g);
	code->stops = calloc((size_t)n, sizeof(*code->stops));
	g->regs = calloc((size_t)SLOTS(g) + 1, sizeof(*g->regs));
	g->rty = calloc((size_t)SLOTS(g) + 1, sizeof(*g->rty));
	g->bb = calloc((size_t)n + 1, sizeof(*g->bb));
	if (!code->stops || !g->regs || !g->rty || !g->bb || liveness(g) != 0) {
		snprintf(why, why_len, "out of memory");
		goto out;
	}
	params[0] = g->ptr;
	params[1] = g->i32;
	params[2] = g->i32;
	g->fn = LLVMAddFunction(g->M, symbol, LLVMFunctionType(g->i32, params, 3, 0));
	g->b = LLVMCreateBuilderInContext(g->C);
	entry = LLVMAppendBasicBlockInContext(g->C, g->fn, "entry");
	head = LLVMAppendBasicBlockInContext(g->C, g->fn, "thread");
	body = LLVMAppendBasicBlockInContext(g->C, g->fn, "ready");
	dispatch = LLVMAppendBasicBlockInContext(g->C, g->fn, "dispatch");
	done = LLVMAppendBasicBlockInContext(g->C, g->fn, "done");
	g->next = LLVMAppendBasicBlockInContext(g->C, g->fn, "next");
	g->fault = LLVMAppendBasicBlockInContext(g->C, g->fn, "faulted");
	for (int i = 0; i <= n; i++)
		if (i == 0 || i == n || (i > 0 && ends_block(&f->insns[i - 1])))
			g->bb[i] = LLVMAppendBasicBlockInContext(g->C, g->fn, "");
	for (int i = 0; i < n; i++)
		if (f->insns[i].op == OP_BRA && !g->bb[f->insns[i].target])
			g->bb[f->insns[i].target] = LLVMAppendBasicBlockInContext(g->C, g->fn, "");

	/* entry: the context's words, the register slots */
	LLVMPositionBuilderAtEnd(g->b, entry);
	g->ctxp = LLVMGetParam(g->fn, 0);
	for (int i = 0; i < JC_COUNT; i++) {
		int is_ptr = i == JC_STORE || i == JC_REFS || i == JC_SMEM || i == JC_LOCAL ||
			     i == JC_PARAMS || i == JC_SYMADDR || i == JC_THR || i == JC_SAVE ||
			     i == JC_COLL || i == JC_BLOCK || i == JC_TIDS;
		LLVMValueRef v = LLVMBuildLoad2(g->b, is_ptr ? g->ptr : g->i64,
						word(g, g->ctxp, c64(g, (uint64_t)i)), "");
		g->jc[i] = v;
	}
	for (int s = 0; s < SLOTS(g); s++) {
		g->rty[s] = s >= f->nregs ? g->i1
					  : int_type(g, PTX_SIZE(f->reg_types[s]) > 8 ? 8
							: PTX_SIZE(f->reg_types[s]) < 2
							    ? 2
							    : PTX_SIZE(f->reg_types[s]));
		g->regs[s] = LLVMBuildAlloca(g->b, g->rty[s], "");
		LLVMBuildStore(g->b, LLVMConstInt(g->rty[s], 0, 0), g->regs[s]);
	}
	g->backedges = LLVMBuildAlloca(g->b, g->i32, "");
	LLVMBuildStore(g->b, c32(g, 0), g->backedges);
	t0 = LLVMBuildZExt(g->b, LLVMGetParam(g->fn, 1), g->i64, "");
	g->t1 = LLVMBuildZExt(g->b, LLVMGetParam(g->fn, 2), g->i64, "");
	LLVMBuildBr(g->b, head);
	g->entry = entry;

	/* the loop over threads */
	LLVMPositionBuilderAtEnd(g->b, head);
	phi = LLVMBuildPhi(g->b, g->i64, "t");
	g->t = phi;
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntULT, phi, g->t1, ""), body, done);
	/* A thread's start: registers read before written are zero. */
	start = LLVMAppendBasicBlockInContext(g->C, g->fn, "start");
	LLVMPositionBuilderAtEnd(g->b, start);
	for (int s = 0; s < SLOTS(g); s++)
		if ((g->live[(size_t)n * (size_t)g->words + (size_t)(s / 64)] >> (s % 64)) & 1)
			LLVMBuildStore(g->b, LLVMConstInt(g->rty[s], 0, 0), g->regs[s]);
	LLVMBuildBr(g->b, g->bb[0]);
	LLVMPositionBuilderAtEnd(g->b, body);
	if (!g->stops) {
		/* Nothing stops a thread: each runs from start to exit. */
		LLVMBuildBr(g->b, start);
		LLVMPositionBuilderAtEnd(g->b, dispatch);
		LLVMBuildUnreachable(g->b);
		sw = NULL;
	} else {
		LLVMBuildCondBr(g->b,
				LLVMBuildICmp(g->b, LLVMIntNE,
					      LLVMBuildLoad2(g->b, g->i32, thread_field(g, 1), ""),
					      c32(g, 0), ""),
				dispatch, g->next);
		LLVMPositionBuilderAtEnd(g->b, dispatch);
		sw = LLVMBuildSwitch(g->b, LLVMBuildLoad2(g->b, g->i32, thread_field(g, 0), ""),
				     start, 8);
	}
	LLVMPositionBuilderAtEnd(g->b, g->next);
	next_t = LLVMBuildAdd(g->b, phi, c64(g, 1), "");
	LLVMBuildBr(g->b, head);
	{
		LLVMValueRef z = t0;
		LLVMAddIncoming(phi, &z, &entry, 1);
		LLVMAddIncoming(phi, &next_t, &g->next, 1);
	}
	LLVMPositionBuilderAtEnd(g->b, done);
	LLVMBuildRet(g->b, c32(g, 0));
	LLVMPositionBuilderAtEnd(g->b, g->fault);
	LLVMBuildRet(g->b, c32(g, 1));

	/* the instructions */
	LLVMPositionBuilderAtEnd(g->b, g->bb[0]);
	for (int i = 0; i < n && !g->bad; i++) {
		const struct ptx_insn *in = &f->insns[i];
		int term;
		g->pc = i;
		if (i > 0 && g->bb[i]) {
			if (!LLVMGetBasicBlockTerminator(LLVMGetInsertBlock(g->b)))
				LLVMBuildBr(g->b, g->bb[i]);
			LLVMPositionBuilderAtEnd(g->b, g->bb[i]);
		}
		if (in->guard >= 0) {
			LLVMValueRef p = load_slot(g, f->nregs + in->guard);
			LLVMBasicBlockRef run =
			    LLVMAppendBasicBlockInContext(g->C, g->fn, "guarded");
			if (in->guard_neg)
				p = LLVMBuildNot(g->b, p, "");
			LLVMBuildCondBr(g->b, p, run, g->bb[i + 1]);
			LLVMPositionBuilderAtEnd(g->b, run);
		}
		term = gen_insn(g, in, sw);
		if (term < 0)
			break;
		if (!term && in->guard >= 0)
			LLVMBuildBr(g->b, g->bb[i + 1]);
	}
	if (!g->bad) {
		/* Falling off the end exits. */
		if (!LLVMGetBasicBlockTerminator(LLVMGetInsertBlock(g->b)))
			LLVMBuildBr(g->b, g->bb[n]);
		LLVMPositionBuilderAtEnd(g->b, g->bb[n]);
		exit_thread(g);
		rc = 0;
	}
out:
	if (g->b)
		LLVMDisposeBuilder(g->b);
	if (rc != 0 && g->fn)
		LLVMDeleteFunction(g->fn);
	free(g->regs);
	free(g->rty);
	free(g->bb);
	free(g->live);
	free(g->yields);
	if (rc != 0) {
		free(code->stops);
		code->stops = NULL;
		code->nstops = 0;
	}
	return rc;
}

int jit_verify(void *module, char *why, size_t why_len)
{
	char *msg = NULL;

	if (!LLVMVerifyModule(module, LLVMReturnStatusAction, &msg)) {
		LLVMDisposeMessage(msg);
		return 0;
	}
	/* A compiler fault: never handed to LLVM's optimizer. */
	snprintf(why, why_len, "invalid IR (a fault of the compiler): %.200s", msg ? msg : "");
	LLVMDisposeMessage(msg);
	return -1;
}
