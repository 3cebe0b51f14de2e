/*
 * PTX front end, part three: instructions, their types, modifiers and
 * operands, and the bodies of functions.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptx_parse.h"

/* ---- types and modifiers -------------------------------------------------------- */

static const struct {
	const char *name;
	uint8_t type;
} type_names[] = {
    {"b8", PT_B8},     {"b16", PT_B16},	      {"b32", PT_B32},	     {"b64", PT_B64},
    {"b128", PT_B128}, {"u8", PT_U8},	      {"u16", PT_U16},	     {"u32", PT_U32},
    {"u64", PT_U64},   {"s8", PT_S8},	      {"s16", PT_S16},	     {"s32", PT_S32},
    {"s64", PT_S64},   {"f16", PT_F16},	      {"f32", PT_F32},	     {"f64", PT_F64},
    {"bf16", PT_BF16}, {"f16x2", PT_F16X2},   {"bf16x2", PT_BF16X2}, {"pred", PT_PRED},
    {"tf32", PT_TF32}, {"e4m3x2", PT_E4M3X2}, {"e5m2x2", PT_E5M2X2},
};

uint8_t ptx_type_of(const char *s)
{
	for (size_t i = 0; i < sizeof(type_names) / sizeof(*type_names); i++)
		if (strcmp(s, type_names[i].name) == 0)
			return type_names[i].type;
	return PT_NONE;
}

static uint8_t space_of(const char *s)
{
	static const char *const names[] = {"", "global", "shared", "local", "const", "param"};

	for (size_t i = 1; i < sizeof(names) / sizeof(*names); i++)
		if (strcmp(s, names[i]) == 0)
			return (uint8_t)i;
	/* A block's own shared memory and its cluster's: one space here,
	 * the address says which block's (PTX_CLUSTER_SHIFT). */
	if (strcmp(s, "shared::cta") == 0 || strcmp(s, "shared::cluster") == 0)
		return PS_SHARED;
	if (strcmp(s, "param::entry") == 0)
		return PS_PARAM;
	return PS_NONE;
}

static const struct {
	const char *name;
	uint8_t cmp;
} cmp_names[] = {
    {"eq", CMP_EQ},   {"ne", CMP_NE},	{"lt", CMP_LT},	  {"le", CMP_LE},   {"gt", CMP_GT},
    {"ge", CMP_GE},   {"lo", CMP_LO},	{"ls", CMP_LS},	  {"hi", CMP_HI},   {"hs", CMP_HS},
    {"equ", CMP_EQU}, {"neu", CMP_NEU}, {"ltu", CMP_LTU}, {"leu", CMP_LEU}, {"gtu", CMP_GTU},
    {"geu", CMP_GEU}, {"num", CMP_NUM}, {"nan", CMP_NAN},
};

static const struct {
	const char *name;
	uint8_t sub;
} sub_names[] = {
    {"and", SUB_AND},	    {"or", SUB_OR},
    {"xor", SUB_XOR},	    {"add", SUB_ADD},
    {"inc", SUB_INC},	    {"dec", SUB_DEC},
    {"min", SUB_MIN},	    {"max", SUB_MAX},
    {"exch", SUB_EXCH},	    {"cas", SUB_CAS},
    {"all", SUB_ALL},	    {"any", SUB_ANY},
    {"uni", SUB_UNI},	    {"ballot", SUB_BALLOT},
    {"up", SUB_UP},	    {"down", SUB_DOWN},
    {"bfly", SUB_BFLY},	    {"idx", SUB_IDX},
    {"finite", SUB_FINITE}, {"infinite", SUB_INFINITE},
    {"number", SUB_NUMBER}, {"notanumber", SUB_NOTANUMBER},
    {"normal", SUB_NORMAL}, {"subnormal", SUB_SUBNORMAL},
};

static const struct {
	const char *name;
	uint32_t mod;
} mod_names[] = {
    {"sat", MOD_SAT},
    {"ftz", MOD_FTZ},
    {"approx", MOD_APPROX},
    {"hi", MOD_HI},
    {"lo", MOD_LO},
    {"wide", MOD_WIDE},
    {"cc", MOD_CC},
    {"uni", MOD_UNI},
    {"rn", MOD_RN},
    {"rna", MOD_RNA},
    {"satfinite", MOD_SATFINITE},
    {"rz", MOD_RZ},
    {"rm", MOD_RM},
    {"rp", MOD_RP},
    {"rni", MOD_RN | MOD_INTRND},
    {"rzi", MOD_RZ | MOD_INTRND},
    {"rmi", MOD_RM | MOD_INTRND},
    {"rpi", MOD_RP | MOD_INTRND},
    {"full", MOD_FULL},
    {"shiftamt", MOD_SHIFTAMT},
    {"l", MOD_L},
    {"clamp", MOD_CLAMP},
    {"NaN", MOD_NAN},
    {"relu", MOD_RELU},
    {"xorsign", MOD_XORSIGN},
    {"abs", MOD_ABS},
};

/* Modifiers that change nothing for a serial machine with coherent memory. */
static const char *const ignored_mods[] = {
    "sync",	    "aligned",	   "nc",	 "ca",		"cg",	   "cs",       "lu",
    "cv",	    "wb",	   "wt",	 "volatile",	"relaxed", "acquire",  "release",
    "acq_rel",	    "sc",	   "cta",	 "gpu",		"sys",	   "gl",       "to",
    "wrap",	    "r",	   "noftz",	 "mmio",	"weak",	   "L1",       "L2",
    "evict_normal", "evict_first", "evict_last", "no_allocate", "unified", "async",    "arrive",
    "red",	    "popc",	   "noinc",	 "level",	"L2::64B", "L2::128B", "L2::256B",
    "uni",
};

static const char *const op_names[] = {
#define PTX_OP_NAME(name, executor) #name,
    PTX_OPS(PTX_OP_NAME)
#undef PTX_OP_NAME
};

const char *ptx_op_name(int op, char *buf, size_t len)
{
	size_t i = 0;

	if (op < 0 || op >= OP_COUNT)
		snprintf(buf, len, "?");
	else {
		for (; i + 1 < len && op_names[op][i]; i++)
			buf[i] = (char)tolower((unsigned char)op_names[op][i]);
		buf[i] = 0;
	}
	return buf;
}

/* The op of a base name ("ld", "setp"), or -1. */
static int op_of(const char *base)
{
	char up[32];
	size_t i;

	if (strcmp(base, "barrier") == 0 || strcmp(base, "bar") == 0)
		return OP_BAR;
	if (strcmp(base, "fence") == 0)
		return OP_MEMBAR;
	if (strcmp(base, "ldu") == 0)
		return OP_LD;
	for (i = 0; base[i] && i < sizeof(up) - 1; i++)
		up[i] = (char)toupper((unsigned char)base[i]);
	up[i] = '\0';
	for (int op = 0; op < OP_COUNT; op++)
		if (strcmp(up, op_names[op]) == 0)
			return op;
	return -1;
}

static void apply_modifier(struct parser *p, struct ptx_insn *in, const char *m, const char *opname)
{
	uint8_t t, sp;

	if ((t = ptx_type_of(m)) != PT_NONE) {
		if (!in->type)
			in->type = t;
		else if (!in->type2)
			in->type2 = t;
		else if (!in->type3 &&
			 (in->op == OP_WMMA || in->op == OP_MMA || PTX_IS_VIDEO(in->op)))
			in->type3 = t;
		else if (!in->type4 && (in->op == OP_WMMA || in->op == OP_MMA))
			in->type4 = t;
		else
			ptx_parse_fail(p, "too many types in %s", opname);
		return;
	}
	if ((sp = space_of(m)) != PS_NONE) {
		in->space = sp;
		return;
	}
	if (m[0] == 'v' && (m[1] == '2' || m[1] == '4' || m[1] == '8') && !m[2]) {
		in->vec = (uint8_t)(m[1] - '0');
		return;
	}
	if (in->op == OP_SETP || in->op == OP_SET || in->op == OP_SLCT || in->op == OP_VSET2 ||
	    in->op == OP_VSET4) {
		for (size_t i = 0; i < sizeof(cmp_names) / sizeof(*cmp_names); i++)
			if (strcmp(m, cmp_names[i].name) == 0 && in->sub2 == 0) {
				in->cmp = cmp_names[i].cmp;
				if (!PTX_IS_VIDEO(in->op)) /* vset: sub2 is the mask */
					in->sub2 = 1;
				return;
			}
	}
	if (in->op == OP_MATCH && (strcmp(m, "any") == 0 || strcmp(m, "all") == 0)) {
		in->sub = m[1] == 'n' ? SUB_MATCH_ANY : SUB_MATCH_ALL;
		return;
	}
	if (in->op == OP_BAR && (!strcmp(m, "popc") || !strcmp(m, "and") || !strcmp(m, "or"))) {
		/* bar.red: the block's threads reduce a predicate at the barrier */
		in->sub = m[0] == 'p' ? SUB_POPC : m[0] == 'a' ? SUB_AND : SUB_OR;
		return;
	}
	if (in->op != OP_BAR && in->op != OP_MEMBAR) {
		for (size_t i = 0; i < sizeof(sub_names) / sizeof(*sub_names); i++)
			if (strcmp(m, sub_names[i].name) == 0 &&
			    !(in->op == OP_BRA || in->op == OP_CALL)) {
				in->sub = sub_names[i].sub;
				return;
			}
	}
	for (size_t i = 0; i < sizeof(mod_names) / sizeof(*mod_names); i++)
		if (strcmp(m, mod_names[i].name) == 0) {
			in->mods |= mod_names[i].mod;
			return;
		}
	if (in->op == OP_PRMT || in->op == OP_SHF || in->op == OP_BAR || in->op == OP_MEMBAR ||
	    in->op == OP_PREFETCH || in->op == OP_CVTA || in->op == OP_VOTE)
		return; /* prmt/shf modes are read from the text in the interpreter setup */
	/* Orderings mean nothing to the interpreter, but a compiler must
	 * neither merge nor move such an access. */
	if (!strcmp(m, "volatile") || !strcmp(m, "relaxed") || !strcmp(m, "acquire") ||
	    !strcmp(m, "release") || !strcmp(m, "acq_rel") || !strcmp(m, "sc") ||
	    !strcmp(m, "mmio"))
		in->mods |= MOD_ORDERED;
	for (size_t i = 0; i < sizeof(ignored_mods) / sizeof(*ignored_mods); i++)
		if (strcmp(m, ignored_mods[i]) == 0)
			return;
	ptx_parse_fail(p, "unsupported modifier .%s in %s", m, opname);
}

static const struct {
	const char *name;
	int sreg;
} sreg_names[] = {
    {"%tid.x", SR_TID_X},
    {"%tid.y", SR_TID_Y},
    {"%tid.z", SR_TID_Z},
    {"%ntid.x", SR_NTID_X},
    {"%ntid.y", SR_NTID_Y},
    {"%ntid.z", SR_NTID_Z},
    {"%ctaid.x", SR_CTAID_X},
    {"%ctaid.y", SR_CTAID_Y},
    {"%ctaid.z", SR_CTAID_Z},
    {"%nctaid.x", SR_NCTAID_X},
    {"%nctaid.y", SR_NCTAID_Y},
    {"%nctaid.z", SR_NCTAID_Z},
    {"%laneid", SR_LANEID},
    {"%warpid", SR_WARPID},
    {"%nwarpid", SR_NWARPID},
    {"%smid", SR_SMID},
    {"%nsmid", SR_NSMID},
    {"%gridid", SR_GRIDID},
    {"%clock", SR_CLOCK},
    {"%clock64", SR_CLOCK64},
    {"%globaltimer", SR_GLOBALTIMER},
    {"%lanemask_eq", SR_LANEMASK_EQ},
    {"%lanemask_lt", SR_LANEMASK_LT},
    {"%lanemask_le", SR_LANEMASK_LE},
    {"%lanemask_gt", SR_LANEMASK_GT},
    {"%lanemask_ge", SR_LANEMASK_GE},
    {"%dynamic_smem_size", SR_DYN_SMEM},
    {"%total_smem_size", SR_TOTAL_SMEM},
    {"%globaltimer_lo", SR_GLOBALTIMER_LO},
    {"%globaltimer_hi", SR_GLOBALTIMER_HI},
    {"%clock_hi", SR_CLOCK_HI},
    {"%aggr_smem_size", SR_AGGR_SMEM},
    {"%reserved_smem_offset_begin", SR_RESERVED_BEGIN},
    {"%reserved_smem_offset_end", SR_RESERVED_END},
    {"%reserved_smem_offset_cap", SR_RESERVED_CAP},
    {"%reserved_smem_offset_0", SR_RESERVED_0},
    {"%reserved_smem_offset_1", SR_RESERVED_1},
    {"%cluster_ctaid.x", SR_CLUSTER_CTAID_X},
    {"%cluster_ctaid.y", SR_CLUSTER_CTAID_Y},
    {"%cluster_ctaid.z", SR_CLUSTER_CTAID_Z},
    {"%cluster_nctaid.x", SR_CLUSTER_NCTAID_X},
    {"%cluster_nctaid.y", SR_CLUSTER_NCTAID_Y},
    {"%cluster_nctaid.z", SR_CLUSTER_NCTAID_Z},
    {"%clusterid.x", SR_CLUSTERID_X},
    {"%clusterid.y", SR_CLUSTERID_Y},
    {"%clusterid.z", SR_CLUSTERID_Z},
    {"%nclusterid.x", SR_NCLUSTERID_X},
    {"%nclusterid.y", SR_NCLUSTERID_Y},
    {"%nclusterid.z", SR_NCLUSTERID_Z},
    {"%cluster_ctarank", SR_CLUSTER_CTARANK},
    {"%cluster_nctarank", SR_CLUSTER_NCTARANK},
    {"%is_explicit_cluster", SR_IS_EXPLICIT_CLUSTER},
};

/* A register, predicate or special register named t into o; 0 if t is none. */
static int operand_reg(struct parser *p, const char *t, struct ptx_operand *o)
{
	int r = ptx_map_get(&p->regs, t);

	if (r >= 0) {
		o->kind = OK_REG;
		o->reg = r;
		return 1;
	}
	if (r <= -2) {
		o->kind = OK_PRED;
		o->reg = -r - 2;
		return 1;
	}
	if (strncmp(t, "%envreg", 7) == 0 && t[7] >= '0' && t[7] <= '9' && atoi(t + 7) < 32) {
		o->kind = OK_SREG;
		o->reg = SR_ENVREG0 + atoi(t + 7);
		return 1;
	}
	for (size_t i = 0; i < sizeof(sreg_names) / sizeof(*sreg_names); i++)
		if (strcmp(t, sreg_names[i].name) == 0) {
			o->kind = OK_SREG;
			o->reg = sreg_names[i].sreg;
			return 1;
		}
	if (t[0] == '%')
		ptx_parse_fail(p, "unknown register %s", t);
	return 0;
}

static int lookup_symbol(struct parser *p, const char *t)
{
	int s = ptx_map_get(&p->locals, t);

	return s >= 0 ? s : ptx_map_get(&p->globals, t);
}

static void add_fixup(struct parser *p, int insn, int op, const char *name)
{
	if (p->nfixups == p->capfixups) {
		p->capfixups = p->capfixups ? p->capfixups * 2 : 64;
		p->fixups = ptx_xrealloc(p, p->fixups, (size_t)p->capfixups * sizeof(*p->fixups));
	}
	p->fixups[p->nfixups].insn = insn;
	p->fixups[p->nfixups].op = op;
	p->fixups[p->nfixups].name = ptx_xstrdup(p, name);
	p->fixups[p->nfixups].line = p->tok_line;
	p->nfixups++;
}

/* An address: [reg], [reg+imm], [sym], [sym+imm], [imm]. '[' was read. */
static void parse_address(struct parser *p, struct ptx_operand *o)
{
	struct ptx_operand r = {0};
	int neg = 0;

	o->kind = OK_ADDR;
	o->base = -1;
	o->reg = -1;
	ptx_next(p);
	if (operand_reg(p, p->tok, &r)) {
		if (r.kind != OK_REG)
			ptx_parse_fail(p, "address base %s is not a register", p->tok);
		o->base = r.reg;
	} else if (isdigit((unsigned char)p->tok[0]) || p->tok[0] == '-') {
		int fb;
		if (p->tok[0] == '-') {
			neg = 1;
			ptx_next(p);
		}
		if (ptx_parse_number(p, p->tok, &o->imm, &fb) != 0)
			ptx_parse_fail(p, "bad address '%s'", p->tok);
		if (neg)
			o->imm = ptx_negate(o->imm);
	} else if ((o->reg = lookup_symbol(p, p->tok)) < 0) {
		ptx_parse_fail(p, "unknown symbol %s", p->tok);
	}
	while (ptx_peek_char(p) == '+' || ptx_peek_char(p) == '-') {
		int64_t v;
		int fb;
		ptx_next(p);
		neg = p->tok[0] == '-';
		ptx_next(p);
		if (p->tok[0] == '-') {
			neg = !neg;
			ptx_next(p);
		}
		if (ptx_parse_number(p, p->tok, &v, &fb) != 0)
			ptx_parse_fail(p, "bad address offset '%s'", p->tok);
		o->imm = (int64_t)((uint64_t)o->imm + (uint64_t)(neg ? ptx_negate(v) : v));
	}
	ptx_expect(p, "]");
}

static void parse_texture_address(struct parser *p, struct ptx_insn *in, struct ptx_operand *o);

/* A video instruction's register with its selector (%r1.b3210) or, for
 * the destination, its mask (%r1.h0). */
static void video_operand(struct parser *p, struct ptx_insn *in, struct ptx_operand *o)
{
	char *dot = strchr(p->tok, '.'), kind;
	unsigned n = (in->op - OP_VADD2) % 2 ? 4 : 2, len;
	int32_t sel = 0;

	*dot = '\0';
	kind = dot[1];
	len = (unsigned)strlen(dot + 2);
	if (!operand_reg(p, p->tok, o) || o->kind != OK_REG || (kind != 'h' && kind != 'b') ||
	    (kind == 'h') != (n == 2) || len == 0 || len > n)
		ptx_parse_fail(p, "bad video operand %s.%s", p->tok, dot + 1);
	for (unsigned i = 0; i < len; i++) {
		unsigned d = (unsigned)(dot[2 + len - 1 - i] - '0');
		if (d >= n) /* selecting across the two sources is not supported */
			ptx_parse_fail(p, "video operand %s selects element %u of %u", p->tok, d,
				       n);
		if (o == &in->o[0])
			in->sub2 |= (uint8_t)(1u << d); /* the mask */
		else
			sel |= (int32_t)(d << (4 * i));
	}
	if (o != &in->o[0]) {
		if (len != n)
			ptx_parse_fail(p, "a video selector names %u elements", n);
		o->base = sel | VIDEO_SEL;
	}
}

static void parse_operand(struct parser *p, struct ptx_insn *in, struct ptx_operand *o)
{
	int64_t v;
	int fb;

	ptx_next(p);
	if (PTX_IS_VIDEO(in->op) && p->tok[0] == '%' && strchr(p->tok, '.')) {
		video_operand(p, in, o);
		return;
	}
	if (p->tok[0] == '[' && (in->op == OP_TEX || in->op == OP_TLD4 || in->op == OP_TXQ ||
				 in->op == OP_SULD || in->op == OP_SUST || in->op == OP_SUQ)) {
		parse_texture_address(p, in, o);
		return;
	}
	if (p->tok[0] == '[') {
		parse_address(p, o);
		return;
	}
	if (p->tok[0] == '{') {
		o->kind = OK_VEC;
		for (;;) {
			struct ptx_operand e = {0};
			ptx_next(p);
			if (p->tok[0] == '_' && !p->tok[1]) {
				e.kind = OK_NONE;
				e.reg = -1;
			} else if (!operand_reg(p, p->tok, &e) || e.kind != OK_REG) {
				ptx_parse_fail(p, "vector element %s is not a register", p->tok);
			}
			if (o->nvec == (in->op == OP_WMMA || in->op == OP_MMA ||
						in->op == OP_LDMATRIX || in->op == OP_STMATRIX
					    ? 8
					    : 4))
				ptx_parse_fail(p, "a vector of more elements than %s takes",
					       "the op");
			o->vec[o->nvec++] = e.kind == OK_NONE ? -1 : e.reg;
			ptx_next(p);
			if (p->tok[0] == '}')
				return;
			if (p->tok[0] != ',')
				ptx_parse_fail(p, "expected ',' in vector, found '%s'", p->tok);
		}
	}
	if (p->tok[0] == '!') {
		ptx_next(p);
		if (!operand_reg(p, p->tok, o) || o->kind != OK_PRED)
			ptx_parse_fail(p, "'!' before %s, which is not a predicate", p->tok);
		o->neg = 1;
		return;
	}
	if (p->tok[0] == '-' || isdigit((unsigned char)p->tok[0])) {
		int neg = p->tok[0] == '-';
		if (neg)
			ptx_next(p);
		if (ptx_parse_number(p, p->tok, &v, &fb) != 0)
			ptx_parse_fail(p, "bad number '%s'", p->tok);
		o->kind = OK_IMM;
		if (neg && fb == 32)
			v ^= 0x80000000;
		else if (neg && fb == 64)
			v ^= (int64_t)0x8000000000000000ull;
		else if (neg)
			v = ptx_negate(v);
		/* A float immediate given in the other width. */
		if (fb == 64 && PTX_KIND(in->type) == PK_F && PTX_SIZE(in->type) == 4 &&
		    in->op != OP_CVT)
			v = ptx_f64_to_f32_bits(v);
		o->imm = v;
		return;
	}
	if (operand_reg(p, p->tok, o))
		return;
	if (p->tok[0] == '_' && !p->tok[1]) {
		o->kind = OK_NONE;
		return;
	}
	if (strcmp(p->tok, "WARP_SZ") == 0) { /* the constant warp size */
		o->kind = OK_IMM;
		o->imm = 32;
		return;
	}
	if ((o->reg = lookup_symbol(p, p->tok)) >= 0) {
		o->kind = p->m->syms[o->reg].kind == SYM_FUNC ? OK_FUNC : OK_SYM;
		return;
	}
	if (in->op == OP_BRA) {
		o->kind = OK_LABEL;
		add_fixup(p, p->f->ninsns, (int)(o - in->o), p->tok);
		return;
	}
	ptx_parse_fail(p, "unknown operand '%s'", p->tok);
}

/* call[.uni] [(ret, ...),] func, [(arg, ...)]; */
static void parse_call(struct parser *p, struct ptx_insn *in)
{
	struct ptx_module *m = p->m;
	struct ptx_call c = {.func = -1};
	int fsym;

	if (ptx_accept_char(p, '(')) {
		while (!ptx_accept_char(p, ')')) {
			ptx_next(p);
			if (p->tok[0] == ',')
				continue;
			if (c.nret == 4 || (c.ret[c.nret] = lookup_symbol(p, p->tok)) < 0)
				ptx_parse_fail(p, "bad return parameter '%s' in call", p->tok);
			c.nret++;
		}
		ptx_expect(p, ",");
	}
	ptx_next(p);
	c.reg = -1;
	if ((fsym = ptx_map_get(&p->globals, p->tok)) < 0 || m->syms[fsym].kind != SYM_FUNC) {
		struct ptx_operand r;
		if (!operand_reg(p, p->tok, &r) || r.kind != OK_REG)
			ptx_parse_fail(p, "call of unknown function %s", p->tok);
		c.reg = r.reg; /* an indirect call: the callee is found at run time */
	} else {
		c.func = m->syms[fsym].func;
		if (strcmp(p->tok, "vprintf") == 0)
			c.builtin = BI_VPRINTF;
		else if (strcmp(p->tok, "cudaGraphSetConditional") == 0 &&
			 !m->funcs[c.func].defined)
			c.builtin = BI_GRAPH_SET_CONDITIONAL;
		else if (!m->funcs[c.func].defined && !m->funcs[c.func].insns &&
			 m->funcs[c.func].is_extern)
			c.builtin = BI_UNRESOLVED;
	}
	/* The module owns the record before its arguments are read, so that a
	 * failure among them frees what was read (found by fuzz_ptx). */
	m->calls = ptx_xrealloc(p, m->calls, (size_t)(m->ncalls + 1) * sizeof(*m->calls));
	m->calls[m->ncalls] = c;
	in->target = m->ncalls++;
	if (ptx_accept_char(p, ',')) {
		struct ptx_call *rc = &m->calls[in->target];
		ptx_expect(p, "(");
		while (!ptx_accept_char(p, ')')) {
			int a;
			ptx_next(p);
			if (p->tok[0] == ',')
				continue;
			if ((a = lookup_symbol(p, p->tok)) < 0)
				ptx_parse_fail(p, "bad argument '%s' in call", p->tok);
			rc->args =
			    ptx_xrealloc(p, rc->args, (size_t)(rc->nargs + 1) * sizeof(*rc->args));
			rc->args[rc->nargs++] = a;
		}
	}
	/* An indirect call names its prototype (or a list of the functions it
	 * may reach): the callee's own declaration says what it takes. */
	if (ptx_accept_char(p, ',')) {
		if (c.reg < 0)
			ptx_parse_fail(p, "a direct call with a prototype");
		ptx_next(p);
		if (p->tok[0] == '(')
			while (ptx_next(p) && p->tok[0] != ')')
				;
	}
	ptx_expect(p, ";");
	in->nops = 0;
}

static struct ptx_insn *new_insn(struct parser *p)
{
	struct ptx_func *f = p->f;

	if (f->ninsns == PTX_MAX_INSNS)
		ptx_parse_fail(p, "%s has more than %d instructions", f->name, PTX_MAX_INSNS);
	if (f->ninsns == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 64;
		f->insns = ptx_xrealloc(p, f->insns, (size_t)f->cap * sizeof(*f->insns));
	}
	memset(&f->insns[f->ninsns], 0, sizeof(*f->insns));
	f->insns[f->ninsns].guard = -1;
	f->insns[f->ninsns].target = -1;
	f->insns[f->ninsns].reconv = -1;
	return &f->insns[f->ninsns];
}

/* The modifiers of the texture and surface instructions: 1 if mod is
 * one (and recorded), 0 for the ordinary ones (types, vectors). */
/* The modifiers of cp.async and mbarrier; 1 if mod was one. */
static int async_modifier(struct ptx_insn *in, const char *mod)
{
	static const struct {
		const char *name;
		uint8_t sub;
	} mb_ops[] = {{"init", MB_INIT},
		      {"arrive", MB_ARRIVE},
		      {"arrive_drop", MB_ARRIVE_DROP},
		      {"expect_tx", MB_EXPECT_TX},
		      {"complete_tx", MB_COMPLETE_TX},
		      {"test_wait", MB_TEST_WAIT},
		      {"try_wait", MB_TRY_WAIT},
		      {"pending_count", MB_PENDING},
		      {"inval", MB_INVAL}};
	uint8_t space = 0;

	if (strcmp(mod, "shared") == 0 || strcmp(mod, "shared::cta") == 0 ||
	    strcmp(mod, "shared::cluster") == 0)
		space = PS_SHARED;
	else if (strcmp(mod, "global") == 0)
		space = PS_GLOBAL;
	if (space) { /* cp.async: the destination's space, then the source's */
		if (in->op == OP_CP && in->space)
			in->type3 = space;
		else
			in->space = space;
		return 1;
	}
	if (in->op == OP_MBARRIER) {
		for (size_t i = 0; i < sizeof(mb_ops) / sizeof(*mb_ops); i++)
			if (strcmp(mod, mb_ops[i].name) == 0) {
				if (in->sub == MB_ARRIVE && mb_ops[i].sub == MB_EXPECT_TX)
					in->sub2 |= MB_F_EXPECT_TX; /* arrive.expect_tx */
				else
					in->sub = mb_ops[i].sub;
				return 1;
			}
		if (strcmp(mod, "parity") == 0 || strcmp(mod, "noComplete") == 0) {
			in->sub2 |= mod[0] == 'p' ? MB_F_PARITY : MB_F_NOCOMPLETE;
			return 1;
		}
		return strcmp(mod, "cluster") == 0;
	}
	if (strcmp(mod, "commit_group") == 0 || strcmp(mod, "wait_group") == 0 ||
	    strcmp(mod, "wait_all") == 0) {
		in->sub = mod[0] == 'c' ? CP_COMMIT : CP_WAIT;
		return 1;
	}
	if (strcmp(mod, "mbarrier") == 0) {
		in->sub = CP_MBARRIER_ARRIVE;
		return 1;
	}
	if (strcmp(mod, "bulk") == 0) {
		in->sub = CP_BULK;
		return 1;
	}
	if (strcmp(mod, "noinc") == 0) {
		in->sub2 |= CP_F_NOINC;
		return 1;
	}
	if (strcmp(mod, "mbarrier::complete_tx::bytes") == 0) {
		in->sub2 |= CP_F_COMPLETE_TX;
		return 1;
	}
	return strcmp(mod, "bulk_group") == 0 || strcmp(mod, "L2::cache_hint") == 0 ||
	       strcmp(mod, "cluster") == 0;
}

const struct ptx_mma_shape ptx_mma_shapes[] = {
    {16, 16, 16}, {32, 8, 16}, {8, 32, 16}, {16, 16, 8}, {8, 8, 4},   {8, 8, 32},
    {8, 8, 128},  {16, 8, 16}, {16, 8, 8},  {16, 8, 4},	 {16, 8, 32}, {8, 8, 16},
};
const int ptx_mma_nshapes = (int)(sizeof(ptx_mma_shapes) / sizeof(*ptx_mma_shapes));

/* The modifiers of wmma, mma, ldmatrix and stmatrix; 1 if mod was one. */
static int mma_modifier(struct parser *p, struct ptx_insn *in, const char *mod)
{
	static const struct {
		const char *name;
		uint8_t type;
	} subbyte[] = {{"s4", PT_S4}, {"u4", PT_U4}, {"b1", PT_B1}};
	unsigned m, n, k;
	char tail;

	if (in->op == OP_WMMA) {
		if (strcmp(mod, "load") == 0 || strcmp(mod, "store") == 0 ||
		    strcmp(mod, "mma") == 0) {
			in->sub = mod[0] == 'l'	  ? MMA_LOAD_A
				  : mod[0] == 's' ? MMA_STORE_D
						  : MMA_MMA;
			return 1;
		}
		if (in->sub == MMA_LOAD_A && mod[1] == '\0' && strchr("abc", mod[0])) {
			in->sub = (uint8_t)(MMA_LOAD_A + (mod[0] - 'a'));
			return 1;
		}
		if (in->sub == MMA_STORE_D && strcmp(mod, "d") == 0)
			return 1;
	}
	if (strcmp(mod, "row") == 0 || strcmp(mod, "col") == 0) {
		/* the first layout is a's (or the one matrix's), the second b's */
		int which = (in->sub2 & 0x40) ? 1 : 0;
		in->sub2 |= (uint8_t)((mod[0] == 'c') << which) | 0x40;
		return 1;
	}
	if (sscanf(mod, "m%un%uk%u%c", &m, &n, &k, &tail) == 3) {
		for (int i = 0; i < ptx_mma_nshapes; i++)
			if (ptx_mma_shapes[i].m == m && ptx_mma_shapes[i].n == n &&
			    ptx_mma_shapes[i].k == k) {
				in->cmp = (uint8_t)i;
				in->sub2 |= 0x20; /* the shape was given */
				return 1;
			}
		ptx_parse_fail(p, "matrix shape .%s is not supported by the CPU device", mod);
	}
	if ((in->op == OP_LDMATRIX || in->op == OP_STMATRIX) && strcmp(mod, "m8n8") == 0)
		return 1;
	if ((in->op == OP_LDMATRIX || in->op == OP_STMATRIX) && mod[0] == 'x' &&
	    (mod[1] == '1' || mod[1] == '2' || mod[1] == '4') && !mod[2]) {
		in->sub = (uint8_t)(mod[1] - '0');
		return 1;
	}
	if (strcmp(mod, "trans") == 0) {
		in->mods |= MOD_TRANS;
		return 1;
	}
	if (strncmp(mod, "shared", 6) == 0 && (!mod[6] || strcmp(mod + 6, "::cta") == 0)) {
		in->space = PS_SHARED;
		return 1;
	}
	if (strcmp(mod, "popc") == 0)
		return 1;
	if (in->op == OP_WMMA && (strcmp(mod, "and") == 0 || strcmp(mod, "xor") == 0)) {
		in->vec = mod[0] == 'a' ? 1 : 2; /* b1: the bit op before popc */
		return 1;
	}
	for (size_t i = 0; i < sizeof(subbyte) / sizeof(*subbyte); i++)
		if (strcmp(mod, subbyte[i].name) == 0) {
			uint8_t *slot = !in->type    ? &in->type
					: !in->type2 ? &in->type2
					: !in->type3 ? &in->type3
						     : &in->type4;
			*slot = subbyte[i].type;
			return 1;
		}
	return 0;
}

static int texture_modifier(struct parser *p, struct ptx_insn *in, const char *mod)
{
	static const char *const geometry[] = {"1d", "2d", "3d", "a1d", "a2d"};
	static const char *const queries[] = {"width",
					      "height",
					      "depth",
					      "array_size",
					      "channel_data_type",
					      "channel_order",
					      "normalized_coords",
					      "filter_mode",
					      "addr_mode_0",
					      "addr_mode_1",
					      "addr_mode_2",
					      "num_mipmap_levels",
					      "num_samples"};
	static const char *const modes[] = {"trap", "clamp", "zero"};

	for (size_t i = 0; i < sizeof(geometry) / sizeof(*geometry); i++)
		if (strcmp(mod, geometry[i]) == 0) {
			in->sub2 = (uint8_t)(TEXG_1D + i);
			return 1;
		}
	if (strcmp(mod, "cube") == 0 || strcmp(mod, "acube") == 0 || strcmp(mod, "2dms") == 0 ||
	    strcmp(mod, "a2dms") == 0)
		ptx_parse_fail(p, "%s textures are not supported by the CPU device", mod);
	if (in->op == OP_TXQ || in->op == OP_SUQ) {
		for (size_t i = 0; i < sizeof(queries) / sizeof(*queries); i++)
			if (strcmp(mod, queries[i]) == 0) {
				in->sub = (uint8_t)(TXQ_WIDTH + i);
				return 1;
			}
		if (strcmp(mod, "level") == 0)
			ptx_parse_fail(p, "txq.level is not supported (no mipmaps)");
	}
	if (in->op == OP_TLD4 && mod[0] && !mod[1] && strchr("rgba", mod[0])) {
		in->sub = (uint8_t)(1 + (strchr("rgba", mod[0]) - "rgba"));
		return 1;
	}
	if (in->op == OP_TEX && (strcmp(mod, "level") == 0 || strcmp(mod, "grad") == 0)) {
		in->cmp = mod[0] == 'l' ? 1 : 2;
		return 1;
	}
	if (in->op == OP_SULD || in->op == OP_SUST) {
		if (strcmp(mod, "b") == 0)
			return 1;
		if (strcmp(mod, "p") == 0)
			ptx_parse_fail(p, "formatted surface access (.p) is not supported");
		for (size_t i = 0; i < sizeof(modes) / sizeof(*modes); i++)
			if (strcmp(mod, modes[i]) == 0) {
				in->cmp = (uint8_t)i;
				return 1;
			}
	}
	return 0;
}

/* A texture or surface operand: [object, {coordinates}] into o (the
 * object's register, as an address base) and the next operand (the
 * coordinates); [object] alone for txq and suq. */
static void parse_texture_address(struct parser *p, struct ptx_insn *in, struct ptx_operand *o)
{
	struct ptx_operand r = {0};

	o->kind = OK_ADDR;
	o->reg = -1;
	ptx_next(p);
	if (!operand_reg(p, p->tok, &r) || r.kind != OK_REG)
		ptx_parse_fail(p,
			       "texture or surface %s is not a register (texture references are "
			       "not supported)",
			       p->tok);
	o->base = r.reg;
	if (ptx_accept_char(p, ',')) {
		struct ptx_operand *c;
		if (in->nops == 6)
			ptx_parse_fail(p, "too many operands");
		c = &in->o[in->nops++];
		parse_operand(p, in, c);
		if (c->kind != OK_VEC)
			ptx_parse_fail(p, "texture coordinates must be a vector");
	}
	ptx_expect(p, "]");
}

/* The operands a texture or surface instruction must have, checked once
 * here so that the interpreter can rely on them. */
static void check_texture_insn(struct parser *p, const struct ptx_insn *in, const char *name)
{
	/* Coordinates each geometry takes: tex and suld/sust. */
	static const uint8_t ncoord[] = {0, 1, 2, 3, 2, 3};
	const struct ptx_operand *o = in->o;
	int ok = 1, g = in->sub2 & 0x7f, c;

	switch (in->op) {
	case OP_TEX:
	case OP_TLD4:
		c = in->cmp == 1 ? 4 : in->cmp == 2 ? 5 : 3;
		ok = in->nops == c && o[0].kind == OK_VEC && o[0].nvec == 4 &&
		     o[1].kind == OK_ADDR && o[2].kind == OK_VEC && g && o[2].nvec >= ncoord[g] &&
		     (in->op != OP_TLD4 || (in->sub && g == TEXG_2D));
		break;
	case OP_SULD:
		ok = in->nops == 3 && (o[0].kind == OK_VEC || o[0].kind == OK_REG) &&
		     o[1].kind == OK_ADDR && o[2].kind == OK_VEC && g && o[2].nvec >= ncoord[g];
		break;
	case OP_SUST:
		ok = in->nops == 3 && o[0].kind == OK_ADDR && o[1].kind == OK_VEC && g &&
		     o[1].nvec >= ncoord[g] && (o[2].kind == OK_VEC || o[2].kind == OK_REG);
		break;
	case OP_TXQ:
	case OP_SUQ:
		ok = in->nops == 2 && o[0].kind == OK_REG && o[1].kind == OK_ADDR && in->sub;
		break;
	default:
		return;
	}
	if (!ok)
		ptx_parse_fail(p, "malformed %s", name);
}

/* cp.async and mbarrier take addresses where addresses go, values (an
 * immediate or a register) where values go. */
static void check_async_insn(struct parser *p, const struct ptx_insn *in, const char *name)
{
	const struct ptx_operand *o = in->o;
	int ok = 1, n = in->nops;
#define IS_VAL(i) (o[i].kind == OK_REG || o[i].kind == OK_IMM)
	if (in->op == OP_CP) {
		switch (in->sub) {
		case CP_COPY:
			ok = n >= 3 && n <= 5 && o[0].kind == OK_ADDR && o[1].kind == OK_ADDR &&
			     o[2].kind == OK_IMM && in->space && in->type3 &&
			     (n < 4 || IS_VAL(3) || o[3].kind == OK_PRED) && (n < 5 || IS_VAL(4));
			break;
		case CP_BULK:
			ok = n >= 3 && n <= 5 && o[0].kind == OK_ADDR && o[1].kind == OK_ADDR &&
			     IS_VAL(2) && in->space && in->type3 &&
			     (!(in->sub2 & CP_F_COMPLETE_TX) || (n >= 4 && o[3].kind == OK_ADDR));
			break;
		case CP_MBARRIER_ARRIVE:
			ok = n == 1 && o[0].kind == OK_ADDR;
			break;
		default:
			ok = n == 0 || (n == 1 && o[0].kind == OK_IMM);
			break;
		}
	} else if (in->op == OP_MBARRIER) {
		switch (in->sub) {
		case MB_INIT:
		case MB_EXPECT_TX:
		case MB_COMPLETE_TX:
			ok = n == 2 && o[0].kind == OK_ADDR && IS_VAL(1);
			break;
		case MB_INVAL:
			ok = n == 1 && o[0].kind == OK_ADDR;
			break;
		case MB_ARRIVE:
		case MB_ARRIVE_DROP:
			ok = (n == 2 || n == 3) && (o[0].kind == OK_REG || o[0].kind == OK_NONE) &&
			     o[1].kind == OK_ADDR && (n < 3 || IS_VAL(2));
			break;
		case MB_TEST_WAIT:
		case MB_TRY_WAIT:
			ok = (n == 3 || n == 4) && o[0].kind == OK_PRED && o[1].kind == OK_ADDR &&
			     IS_VAL(2) && (n < 4 || IS_VAL(3));
			break;
		case MB_PENDING:
			ok = n == 2 && o[0].kind == OK_REG && IS_VAL(1);
			break;
		default:
			ok = 0;
			break;
		}
	} else {
		return;
	}
#undef IS_VAL
	if (!ok)
		ptx_parse_fail(p, "malformed %s", name);
}

/* One instruction; its opcode token is in p->tok. */
static void parse_insn(struct parser *p, int guard, int guard_neg)
{
	struct ptx_insn *in = new_insn(p);
	char opname[NAME_MAX_LEN], *mod, *save = NULL;
	int op;

	snprintf(opname, sizeof(opname), "%s", p->tok);
	in->line = p->tok_line;
	in->guard = (int16_t)guard;
	in->guard_neg = (uint8_t)guard_neg;
	mod = strtok_r(opname, ".", &save);
	if (!mod) /* a token of dots alone */
		ptx_parse_fail(p, "unexpected '%s'", p->tok);
	if ((op = op_of(mod)) < 0)
		ptx_parse_fail(p, "unsupported instruction '%s'", p->tok);
	in->op = (uint16_t)op;
	if (op == OP_ALLOCA)
		p->m->has_alloca = 1;
	if (op == OP_SHF || op == OP_PRMT) {
		/* Their modes: shf.l/.r, .clamp/.wrap; prmt.f4e... (only default supported). */
		if (op == OP_PRMT && strchr(p->tok + 5, '.') && strstr(p->tok, ".b32.") != NULL)
			ptx_parse_fail(p, "prmt modes other than the default are not supported");
		if (op == OP_SHF && strstr(p->tok, ".l."))
			in->mods |= MOD_L;
	}
	if (op == OP_MEMBAR && strcmp(mod, "fence") == 0 && strstr(p->tok, "proxy"))
		in->op = OP_NOP;
	while ((mod = strtok_r(NULL, ".", &save)) != NULL) {
		if (strcmp(mod, "sync") == 0 && op == OP_BAR)
			continue;
		if ((op == OP_TEX || op == OP_TLD4 || op == OP_TXQ || op == OP_SULD ||
		     op == OP_SUST || op == OP_SUQ) &&
		    texture_modifier(p, in, mod))
			continue;
		if ((op == OP_WMMA || op == OP_MMA || op == OP_LDMATRIX || op == OP_STMATRIX) &&
		    mma_modifier(p, in, mod))
			continue;
		if ((op == OP_CP || op == OP_MBARRIER) && async_modifier(in, mod))
			continue;
		if (op == OP_CVTA && strcmp(mod, "to") == 0) {
			in->mods |= MOD_TO;
			continue;
		}
		if (op == OP_BAR && strcmp(mod, "warp") == 0) {
			in->op = OP_BARWARP;
			continue;
		}
		if (op == OP_BAR && strcmp(mod, "cluster") == 0) {
			in->op = OP_BARCLUSTER;
			continue;
		}
		if (in->op == OP_BARCLUSTER) { /* .arrive or .wait; the rest orders memory */
			if (strcmp(mod, "arrive") == 0 || strcmp(mod, "wait") == 0)
				in->sub = mod[0] == 'a' ? BARCLUSTER_ARRIVE : BARCLUSTER_WAIT;
			else if (strcmp(mod, "aligned") && strcmp(mod, "relaxed") &&
				 strcmp(mod, "release") && strcmp(mod, "acquire"))
				ptx_parse_fail(p, "unsupported modifier .%s in %s", mod, p->tok);
			continue;
		}
		apply_modifier(p, in, mod, p->tok);
	}
	if (op == OP_CALL) {
		parse_call(p, in);
		p->f->ninsns++;
		return;
	}
	if (ptx_peek_char(p) != ';') {
		for (;;) {
			struct ptx_operand *o;
			if (in->nops == 6)
				ptx_parse_fail(p, "too many operands");
			o = &in->o[in->nops++];
			parse_operand(p, in, o);
			if (ptx_peek_char(p) == '|') { /* d|p: a second destination */
				ptx_next(p);
				if (in->nops == 6)
					ptx_parse_fail(p, "too many operands");
				parse_operand(p, in, &in->o[in->nops++]);
				in->sub2 |= 0x80; /* marks the pair */
			}
			if (!ptx_accept_char(p, ','))
				break;
		}
	}
	ptx_expect(p, ";");
	/* .cc belongs to the carry family alone (it runs as one, see do_carry),
	 * whose operands are a register and two or three sources. */
	if ((in->mods & MOD_CC || in->op == OP_ADDC || in->op == OP_SUBC || in->op == OP_MADC) &&
	    (!(in->op == OP_ADD || in->op == OP_SUB || in->op == OP_MAD || in->op == OP_ADDC ||
	       in->op == OP_SUBC || in->op == OP_MADC) ||
	     PTX_KIND(in->type) == PK_F || in->o[0].kind != OK_REG ||
	     in->nops != ((in->op == OP_MAD || in->op == OP_MADC) ? 4 : 3)))
		ptx_parse_fail(p, "bad carry instruction %s", opname);
	if (in->op == OP_BRA && (in->nops != 1 || in->o[0].kind != OK_LABEL))
		ptx_parse_fail(p, "bra takes one label (indirect branches are not supported)");
	check_texture_insn(p, in, opname);
	check_async_insn(p, in, opname);
	if (in->op == OP_BARCLUSTER && (!in->sub || in->nops != 0))
		ptx_parse_fail(p, "barrier.cluster takes .arrive or .wait and no operands");
	if ((in->op == OP_MAPA && in->nops != 3) || (in->op == OP_GETCTARANK && in->nops != 2))
		ptx_parse_fail(p, "%s: wrong number of operands", opname);
	if ((in->op == OP_MAPA || in->op == OP_GETCTARANK) &&
	    (in->o[0].kind != OK_REG || (in->space != PS_NONE && in->space != PS_SHARED)))
		ptx_parse_fail(p, "%s: bad operands or state space", opname);
	/* A vector of registers has as many as the op's .vN says. */
	if ((in->op == OP_LD || in->op == OP_ST) &&
	    (in->o[in->op == OP_LD ? 0 : 1].kind == OK_VEC) !=
		(in->vec > 1 && in->o[in->op == OP_LD ? 0 : 1].nvec == in->vec))
		ptx_parse_fail(p, "%s: the vector of registers does not match .v%u", opname,
			       (unsigned)in->vec);
	p->f->ninsns++;
}

void ptx_parse_body(struct parser *p)
{
	int depth = 1;

	while (depth > 0) {
		int guard = -1, neg = 0;
		char first;
		if (!ptx_next(p))
			ptx_parse_fail(p, "end of text inside %s", p->f->name);
		first = p->tok[0];
		if (first == '{') {
			depth++;
		} else if (first == '}') {
			depth--;
		} else if (strcmp(p->tok, ".reg") == 0) {
			ptx_declare_regs(p);
		} else if (strcmp(p->tok, ".local") == 0 || strcmp(p->tok, ".param") == 0 ||
			   strcmp(p->tok, ".shared") == 0) {
			int kind = p->tok[1] == 'l'   ? SYM_LOCAL
				   : p->tok[1] == 'p' ? SYM_FPARAM
						      : SYM_SHARED;
			int sym = ptx_parse_var(p, kind, 0);
			struct ptx_sym *s = &p->m->syms[sym];
			if (kind == SYM_LOCAL) {
				uint64_t total = p->f->local_size;
				s->offset =
				    ptx_place(p, &total, s, PTX_MAX_LOCAL_BYTES, "local memory");
				p->f->local_size = (uint32_t)total;
			} else if (kind == SYM_FPARAM) {
				uint64_t total = p->f->frame_param_size;
				s->offset =
				    ptx_place(p, &total, s, PTX_MAX_FPARAM_BYTES, "parameters");
				p->f->frame_param_size = (uint32_t)total;
			} else {
				s->offset =
				    ptx_place(p, &p->m->shared_size, s, PTX_MAX_MODULE_SHARED,
					      "static shared memory");
				p->f->uses_shared = 1;
			}
			ptx_map_put(p, &p->locals, s->name, sym);
		} else if (strcmp(p->tok, ".pragma") == 0 ||
			   strcmp(p->tok, ".callprototype") == 0) {
			while (ptx_next(p) && p->tok[0] != ';')
				;
		} else if (strcmp(p->tok, ".loc") == 0 || strcmp(p->tok, ".file") == 0) {
			ptx_skip_line(p);
		} else if (first == '@') {
			ptx_next(p);
			if (p->tok[0] == '!') {
				neg = 1;
				ptx_next(p);
			}
			guard = ptx_map_get(&p->regs, p->tok);
			if (guard > -2)
				ptx_parse_fail(p, "guard %s is not a predicate", p->tok);
			guard = -guard - 2;
			ptx_next(p);
			parse_insn(p, guard, neg);
		} else if (ptx_peek_char(p) == ':' && first != '.') {
			char label[NAME_MAX_LEN];
			snprintf(label, sizeof(label), "%s", p->tok);
			ptx_next(p);
			ptx_map_put(p, &p->labels, label, p->f->ninsns);
		} else if (first == '.') {
			ptx_parse_fail(p, "unsupported directive %s inside a function", p->tok);
		} else {
			parse_insn(p, -1, 0);
		}
	}
}

void ptx_resolve_labels(struct parser *p)
{
	for (int i = 0; i < p->nfixups; i++) {
		int target = ptx_map_get(&p->labels, p->fixups[i].name);
		if (target < 0) {
			p->tok_line = p->fixups[i].line;
			ptx_parse_fail(p, "unknown label %s", p->fixups[i].name);
		}
		p->f->insns[p->fixups[i].insn].target = target;
		p->f->insns[p->fixups[i].insn].o[p->fixups[i].op].imm = target;
		free(p->fixups[i].name);
		p->fixups[i].name = NULL; /* a failure below frees the rest */
	}
	p->nfixups = 0;
}
