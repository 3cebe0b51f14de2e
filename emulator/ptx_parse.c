/*
 * PTX front end: text to the decoded form of ptx.h. Written for what nvcc
 * emits (PTX ISA 7.x-9.x, sm_75 and newer). A construct it does not know
 * fails the parse with a message naming it and its line, so that a module
 * either loads and runs as written or does not load at all.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptx.h"

#define NAME_MAX_LEN 1024

struct name_map {
	char **keys;
	int *vals;
	size_t cap, n;
};

struct parser {
	const char *s; /* cursor */
	int line;
	char tok[NAME_MAX_LEN];
	int tok_line;
	struct ptx_module *m;
	struct ptx_func *f; /* the function being parsed */
	int fi;
	struct name_map globals; /* module symbols and functions */
	struct name_map regs;	 /* of f */
	struct name_map locals;	 /* of f: params, locals */
	struct name_map labels;	 /* of f */
	struct {
		int insn;
		int op;
		char *name;
		int line;
	} * fixups;
	int nfixups, capfixups;
	char *log;
	size_t log_len;
	struct ptx_param *rets; /* a .func's return parameters until its name is known */
	int nrets;
	jmp_buf fail;
};

static void parse_fail(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

static void parse_fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(p->log, p->log_len, "PTX line %d: ", p->tok_line);

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < p->log_len)
		vsnprintf(p->log + n, p->log_len - (size_t)n, fmt, ap);
	va_end(ap);
	/* The message quotes the guest's text, and ends up in the server's log. */
	for (char *c = p->log; p->log_len && *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f)
			*c = '?';
	longjmp(p->fail, 1);
}

static void *xrealloc(struct parser *p, void *ptr, size_t n)
{
	void *r = realloc(ptr, n ? n : 1);

	if (!r)
		parse_fail(p, "out of memory");
	return r;
}

static char *xstrdup(struct parser *p, const char *s)
{
	char *r = strdup(s);

	if (!r)
		parse_fail(p, "out of memory");
	return r;
}

/* ---- names ------------------------------------------------------------------- */

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static void map_put(struct parser *p, struct name_map *m, const char *k, int v);

static void map_grow(struct parser *p, struct name_map *m)
{
	struct name_map old = *m;

	m->cap = old.cap ? old.cap * 2 : 64;
	m->keys = calloc(m->cap, sizeof(*m->keys));
	m->vals = calloc(m->cap, sizeof(*m->vals));
	m->n = 0;
	if (!m->keys || !m->vals)
		parse_fail(p, "out of memory");
	for (size_t i = 0; i < old.cap; i++)
		if (old.keys[i]) {
			map_put(p, m, old.keys[i], old.vals[i]);
			free(old.keys[i]);
		}
	free(old.keys);
	free(old.vals);
}

static void map_put(struct parser *p, struct name_map *m, const char *k, int v)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap)
		map_grow(p, m);
	for (i = name_hash(k) & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1))
		if (strcmp(m->keys[i], k) == 0) {
			m->vals[i] = v;
			return;
		}
	m->keys[i] = xstrdup(p, k);
	m->vals[i] = v;
	m->n++;
}

static int map_get(const struct name_map *m, const char *k)
{
	if (!m->cap)
		return -1;
	for (size_t i = name_hash(k) & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1))
		if (strcmp(m->keys[i], k) == 0)
			return m->vals[i];
	return -1;
}

static void map_free(struct name_map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->vals);
	*m = (struct name_map){0};
}

/* ---- lexer ---------------------------------------------------------------------- */

static void skip_space(struct parser *p)
{
	for (;;) {
		while (*p->s && isspace((unsigned char)*p->s)) {
			if (*p->s == '\n')
				p->line++;
			p->s++;
		}
		if (p->s[0] == '/' && p->s[1] == '/') {
			while (*p->s && *p->s != '\n')
				p->s++;
		} else if (p->s[0] == '/' && p->s[1] == '*') {
			p->s += 2;
			while (*p->s && !(p->s[0] == '*' && p->s[1] == '/')) {
				if (*p->s == '\n')
					p->line++;
				p->s++;
			}
			if (*p->s)
				p->s += 2;
		} else {
			return;
		}
	}
}

static int is_name_char(int c)
{
	return isalnum(c) || c == '_' || c == '$' || c == '%' || c == '.';
}

/* Reads the next token into p->tok: a name (with its dots), a number, a
 * string or one punctuation character. Returns its first character, 0 at end. */
static int next(struct parser *p)
{
	size_t n = 0;

	skip_space(p);
	p->tok_line = p->line;
	if (!*p->s) {
		p->tok[0] = '\0';
		return 0;
	}
	if (*p->s == '"') {
		p->tok[n++] = *p->s++;
		while (*p->s && *p->s != '"' && n < sizeof(p->tok) - 2)
			p->tok[n++] = *p->s++;
		if (*p->s == '"')
			p->tok[n++] = *p->s++;
	} else if (is_name_char((unsigned char)*p->s)) {
		while (is_name_char((unsigned char)*p->s) && n < sizeof(p->tok) - 1)
			p->tok[n++] = *p->s++;
		if (is_name_char((unsigned char)*p->s))
			parse_fail(p, "name too long");
	} else {
		p->tok[n++] = *p->s++;
	}
	p->tok[n] = '\0';
	return (unsigned char)p->tok[0];
}

static int peek_char(struct parser *p)
{
	skip_space(p);
	return (unsigned char)*p->s;
}

/* Skips what is left of the current token's line (.loc, .file have no ';'). */
static void skip_line(struct parser *p)
{
	int l = p->tok_line;

	while (peek_char(p) && p->line == l)
		next(p);
}

static void expect(struct parser *p, const char *what)
{
	next(p);
	if (strcmp(p->tok, what) != 0)
		parse_fail(p, "expected '%s', found '%s'", what, p->tok);
}

static int accept_char(struct parser *p, int c)
{
	if (peek_char(p) != c)
		return 0;
	next(p);
	return 1;
}

/* A number: decimal, hex (0x), octal, or PTX's 0f/0d hex floats. Sets *is_float. */
static int parse_number(struct parser *p, const char *t, int64_t *out, int *fbits)
{
	char *end;

	*fbits = 0;
	if ((t[0] == '0') && (t[1] == 'f' || t[1] == 'F' || t[1] == 'd' || t[1] == 'D') && t[2]) {
		uint64_t v = strtoull(t + 2, &end, 16);
		if (*end)
			return -1;
		*out = (int64_t)v;
		*fbits = (t[1] == 'f' || t[1] == 'F') ? 32 : 64;
		return 0;
	}
	if (strchr(t, '.') || ((strchr(t, 'e') || strchr(t, 'E')) &&
			       !(t[0] == '0' && (t[1] == 'x' || t[1] == 'X')))) {
		double d = strtod(t, &end);
		if (*end)
			return -1;
		memcpy(out, &d, sizeof(d));
		*fbits = 64;
		return 0;
	}
	errno = 0;
	*out = (int64_t)strtoull(t, &end, 0);
	if (*end == 'U' || *end == 'u')
		end++;
	return (*end || errno) ? -1 : 0;
}

/* Two's complement negation, defined for INT64_MIN too. */
static int64_t negate(int64_t v)
{
	return (int64_t)(0 - (uint64_t)v);
}

/* ---- types and modifiers -------------------------------------------------------- */

static const struct {
	const char *name;
	uint8_t type;
} type_names[] = {
    {"b8", PT_B8},   {"b16", PT_B16},	{"b32", PT_B32},   {"b64", PT_B64},    {"b128", PT_B128},
    {"u8", PT_U8},   {"u16", PT_U16},	{"u32", PT_U32},   {"u64", PT_U64},    {"s8", PT_S8},
    {"s16", PT_S16}, {"s32", PT_S32},	{"s64", PT_S64},   {"f16", PT_F16},    {"f32", PT_F32},
    {"f64", PT_F64}, {"bf16", PT_BF16}, {"f16x2", PT_B32}, {"bf16x2", PT_B32}, {"pred", PT_PRED},
};

static uint8_t type_of(const char *s)
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

	if ((t = type_of(m)) != PT_NONE) {
		if (!in->type)
			in->type = t;
		else
			in->type2 = t;
		if (strcmp(m, "f16x2") == 0 || strcmp(m, "bf16x2") == 0)
			parse_fail(p, "unsupported packed type .%s in %s", m, opname);
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
	if (in->op == OP_SETP || in->op == OP_SET || in->op == OP_SLCT) {
		for (size_t i = 0; i < sizeof(cmp_names) / sizeof(*cmp_names); i++)
			if (strcmp(m, cmp_names[i].name) == 0 && in->sub2 == 0) {
				in->cmp = cmp_names[i].cmp;
				in->sub2 = 1;
				return;
			}
	}
	if (in->op == OP_MATCH && (strcmp(m, "any") == 0 || strcmp(m, "all") == 0)) {
		in->sub = m[1] == 'n' ? SUB_MATCH_ANY : SUB_MATCH_ALL;
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
	for (size_t i = 0; i < sizeof(ignored_mods) / sizeof(*ignored_mods); i++)
		if (strcmp(m, ignored_mods[i]) == 0)
			return;
	parse_fail(p, "unsupported modifier .%s in %s", m, opname);
}

/* ---- symbols ------------------------------------------------------------------ */

static int add_sym(struct parser *p, const char *name, int kind, uint64_t size, uint32_t align)
{
	struct ptx_module *m = p->m;
	struct ptx_sym *s;

	m->syms = xrealloc(p, m->syms, (size_t)(m->nsyms + 1) * sizeof(*m->syms));
	s = &m->syms[m->nsyms];
	*s = (struct ptx_sym){.name = xstrdup(p, name),
			      .kind = (uint8_t)kind,
			      .size = size,
			      .align = align ? align : 1,
			      .func = p->fi};
	return m->nsyms++;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return a > 1 ? (v + a - 1) / a * a : v;
}

/* Places symbol s at the end of a state space that holds *total bytes, at
 * most limit. Sizes and alignments are already bounded, so nothing wraps. */
static uint64_t place(struct parser *p, uint64_t *total, struct ptx_sym *s, uint64_t limit,
		      const char *what)
{
	uint64_t at = align_up(*total, s->align);

	if (at > limit || s->size > limit - at)
		parse_fail(p, "%s takes more than the %llu bytes of %s allowed", s->name,
			   (unsigned long long)limit, what);
	*total = at + s->size;
	return at;
}

/* A count or size written in the PTX: a whole number from 1 (0 if zero is
 * allowed) to max. */
static uint64_t parse_count(struct parser *p, const char *what, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(p->tok, &end, 0);
	if (!isdigit((unsigned char)p->tok[0]) || *end || errno || v < min || v > max)
		parse_fail(p, "bad %s '%s' (%llu to %llu)", what, p->tok, (unsigned long long)min,
			   (unsigned long long)max);
	return v;
}

static uint32_t parse_align(struct parser *p)
{
	uint32_t a;

	next(p);
	a = (uint32_t)parse_count(p, "alignment", 1, PTX_MAX_ALIGN);
	if (a & (a - 1))
		parse_fail(p, "alignment %u is not a power of two", a);
	return a;
}

/* Declarations: [.align N] [.vN] .type name[[dims]] [= init]. Returns the
 * symbol. kind says where it lives. */
static int parse_var(struct parser *p, int kind, int is_extern)
{
	uint32_t align = 0, vec = 1;
	uint8_t type = PT_NONE;
	uint64_t count = 1;
	char name[NAME_MAX_LEN];
	int unsized = 0, sym;
	struct ptx_sym *s;

	for (;;) {
		next(p);
		if (strcmp(p->tok, ".align") == 0) {
			align = parse_align(p);
		} else if (p->tok[0] == '.' && p->tok[1] == 'v' &&
			   isdigit((unsigned char)p->tok[2])) {
			vec = (uint32_t)atoi(p->tok + 2);
			if (vec != 2 && vec != 4 && vec != 8)
				parse_fail(p, "bad vector width %s", p->tok);
		} else if (p->tok[0] == '.' && type_of(p->tok + 1) != PT_NONE) {
			type = type_of(p->tok + 1);
		} else if (strcmp(p->tok, ".ptr") == 0 || strcmp(p->tok, ".global") == 0 ||
			   strcmp(p->tok, ".shared") == 0 || strcmp(p->tok, ".const") == 0 ||
			   strcmp(p->tok, ".local") == 0) {
			/* .ptr attributes of parameters */
		} else {
			break;
		}
	}
	if (type == PT_NONE || p->tok[0] == '.')
		parse_fail(p, "unsupported declaration near '%s'", p->tok);
	snprintf(name, sizeof(name), "%s", p->tok);
	while (accept_char(p, '[')) {
		if (accept_char(p, ']')) {
			unsized = 1;
			continue;
		}
		next(p);
		/* Each factor and the running product stay within the limit. */
		count *= parse_count(p, "array size", 1, PTX_MAX_VAR_BYTES);
		if (count > PTX_MAX_VAR_BYTES / vec / PTX_SIZE(type))
			parse_fail(p, "%s is larger than %llu bytes", name,
				   (unsigned long long)PTX_MAX_VAR_BYTES);
		expect(p, "]");
	}
	if (type == PT_PRED)
		parse_fail(p, "predicate variables are not supported");
	sym = add_sym(p, name, kind, count * vec * PTX_SIZE(type),
		      align ? align : PTX_SIZE(type) * vec);
	s = &p->m->syms[sym];
	s->is_extern = (uint8_t)is_extern;
	s->is_array_unsized = (uint8_t)unsized;
	if (accept_char(p, '=')) {
		uint64_t esize = PTX_SIZE(type), n = 0;
		int braces = 0;
		s->init = calloc(1, s->size ? s->size : 1);
		if (!s->init)
			parse_fail(p, "out of memory");
		for (;;) {
			int64_t v;
			int fb, neg = 0;
			next(p);
			if (p->tok[0] == '{') {
				braces++;
				continue;
			}
			if (p->tok[0] == '}') {
				if (--braces <= 0 && peek_char(p) != ',')
					break;
				continue;
			}
			if (p->tok[0] == ',')
				continue;
			if (p->tok[0] == '-') {
				neg = 1;
				next(p);
			}
			if (isalpha((unsigned char)p->tok[0]) || p->tok[0] == '_' ||
			    p->tok[0] == '$')
				parse_fail(p, "initializers with addresses (%s) are not supported",
					   p->tok);
			if (parse_number(p, p->tok, &v, &fb) != 0)
				parse_fail(p, "bad initializer '%s'", p->tok);
			if (PTX_KIND(type) == PK_F && !fb) {
				if (esize == 4) {
					float f = (float)(neg ? -(double)v : (double)v);
					memcpy(&v, &f, 4);
				} else {
					double d = (neg ? -(double)v : (double)v);
					memcpy(&v, &d, 8);
				}
				neg = 0;
			} else if (fb == 64 && esize == 4) {
				double d;
				float f;
				memcpy(&d, &v, 8);
				f = (float)d;
				v = 0;
				memcpy(&v, &f, 4);
			}
			if (neg)
				v = negate(v);
			if ((n + 1) * esize > s->size)
				parse_fail(p, "initializer longer than %s", s->name);
			memcpy(s->init + n * esize, &v, esize);
			n++;
			if (braces == 0)
				break;
		}
	}
	expect(p, ";");
	return sym;
}

/* ---- registers and operands ------------------------------------------------------- */

static void declare_regs(struct parser *p)
{
	uint8_t type = PT_NONE;
	struct ptx_func *f = p->f;

	next(p);
	if (p->tok[0] == '.' && p->tok[1] == 'v') /* .reg .v4 .f32: vector registers */
		parse_fail(p, "vector register declarations are not supported");
	if ((type = type_of(p->tok + 1)) == PT_NONE)
		parse_fail(p, "unknown register type '%s'", p->tok);
	for (;;) {
		char base[NAME_MAX_LEN];
		long count = -1;
		next(p);
		snprintf(base, sizeof(base), "%s", p->tok);
		if (accept_char(p, '<')) {
			next(p);
			count = (long)parse_count(p, "register count", 0, PTX_MAX_REGS);
			expect(p, ">");
		}
		if ((long)f->nregs + f->npreds + (count < 0 ? 1 : count) > PTX_MAX_REGS)
			parse_fail(p, "%s declares more than %d registers", f->name, PTX_MAX_REGS);
		if (type != PT_PRED)
			f->reg_types = xrealloc(p, f->reg_types,
						(size_t)f->nregs + (size_t)(count < 0 ? 1 : count));
		for (long i = 0; i < (count < 0 ? 1 : count); i++) {
			char name[NAME_MAX_LEN + 24];
			int idx;
			if (count < 0)
				snprintf(name, sizeof(name), "%s", base);
			else
				snprintf(name, sizeof(name), "%s%ld", base, i);
			if (type == PT_PRED) {
				idx = f->npreds++;
			} else {
				idx = f->nregs++;
				f->reg_types[idx] = type;
			}
			map_put(p, &p->regs, name, type == PT_PRED ? -idx - 2 : idx);
		}
		next(p);
		if (p->tok[0] == ';')
			break;
		if (p->tok[0] != ',')
			parse_fail(p, "expected ',' or ';' in .reg, found '%s'", p->tok);
	}
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
    {"%globaltimer_lo", SR_GLOBALTIMER},
};

/* A register, predicate or special register named t into o; 0 if t is none. */
static int operand_reg(struct parser *p, const char *t, struct ptx_operand *o)
{
	int r = map_get(&p->regs, t);

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
		parse_fail(p, "unknown register %s", t);
	return 0;
}

static int lookup_symbol(struct parser *p, const char *t)
{
	int s = map_get(&p->locals, t);

	return s >= 0 ? s : map_get(&p->globals, t);
}

static void add_fixup(struct parser *p, int insn, int op, const char *name)
{
	if (p->nfixups == p->capfixups) {
		p->capfixups = p->capfixups ? p->capfixups * 2 : 64;
		p->fixups = xrealloc(p, p->fixups, (size_t)p->capfixups * sizeof(*p->fixups));
	}
	p->fixups[p->nfixups].insn = insn;
	p->fixups[p->nfixups].op = op;
	p->fixups[p->nfixups].name = xstrdup(p, name);
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
	next(p);
	if (operand_reg(p, p->tok, &r)) {
		if (r.kind != OK_REG)
			parse_fail(p, "address base %s is not a register", p->tok);
		o->base = r.reg;
	} else if (isdigit((unsigned char)p->tok[0]) || p->tok[0] == '-') {
		int fb;
		if (p->tok[0] == '-') {
			neg = 1;
			next(p);
		}
		if (parse_number(p, p->tok, &o->imm, &fb) != 0)
			parse_fail(p, "bad address '%s'", p->tok);
		if (neg)
			o->imm = negate(o->imm);
	} else if ((o->reg = lookup_symbol(p, p->tok)) < 0) {
		parse_fail(p, "unknown symbol %s", p->tok);
	}
	while (peek_char(p) == '+' || peek_char(p) == '-') {
		int64_t v;
		int fb;
		next(p);
		neg = p->tok[0] == '-';
		next(p);
		if (p->tok[0] == '-') {
			neg = !neg;
			next(p);
		}
		if (parse_number(p, p->tok, &v, &fb) != 0)
			parse_fail(p, "bad address offset '%s'", p->tok);
		o->imm = (int64_t)((uint64_t)o->imm + (uint64_t)(neg ? negate(v) : v));
	}
	expect(p, "]");
}

static void parse_operand(struct parser *p, struct ptx_insn *in, struct ptx_operand *o)
{
	int64_t v;
	int fb;

	next(p);
	if (p->tok[0] == '[') {
		parse_address(p, o);
		return;
	}
	if (p->tok[0] == '{') {
		o->kind = OK_VEC;
		for (;;) {
			struct ptx_operand e = {0};
			next(p);
			if (p->tok[0] == '_' && !p->tok[1]) {
				e.kind = OK_NONE;
				e.reg = -1;
			} else if (!operand_reg(p, p->tok, &e) || e.kind != OK_REG) {
				parse_fail(p, "vector element %s is not a register", p->tok);
			}
			if (o->nvec == 4)
				parse_fail(p, "vectors of more than 4 are not supported");
			o->vec[o->nvec++] = e.kind == OK_NONE ? -1 : e.reg;
			next(p);
			if (p->tok[0] == '}')
				return;
			if (p->tok[0] != ',')
				parse_fail(p, "expected ',' in vector, found '%s'", p->tok);
		}
	}
	if (p->tok[0] == '!') {
		next(p);
		if (!operand_reg(p, p->tok, o) || o->kind != OK_PRED)
			parse_fail(p, "'!' before %s, which is not a predicate", p->tok);
		o->neg = 1;
		return;
	}
	if (p->tok[0] == '-' || isdigit((unsigned char)p->tok[0])) {
		int neg = p->tok[0] == '-';
		if (neg)
			next(p);
		if (parse_number(p, p->tok, &v, &fb) != 0)
			parse_fail(p, "bad number '%s'", p->tok);
		o->kind = OK_IMM;
		if (neg && fb == 32)
			v ^= 0x80000000;
		else if (neg && fb == 64)
			v ^= (int64_t)0x8000000000000000ull;
		else if (neg)
			v = negate(v);
		/* A float immediate given in the other width. */
		if (fb == 64 && PTX_KIND(in->type) == PK_F && PTX_SIZE(in->type) == 4 &&
		    in->op != OP_CVT) {
			double d;
			float f;
			memcpy(&d, &v, 8);
			f = (float)d;
			v = 0;
			memcpy(&v, &f, 4);
		}
		o->imm = v;
		return;
	}
	if (operand_reg(p, p->tok, o))
		return;
	if (p->tok[0] == '_' && !p->tok[1]) {
		o->kind = OK_NONE;
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
	parse_fail(p, "unknown operand '%s'", p->tok);
}

/* call[.uni] [(ret, ...),] func, [(arg, ...)]; */
static void parse_call(struct parser *p, struct ptx_insn *in)
{
	struct ptx_module *m = p->m;
	struct ptx_call c = {.func = -1};
	int fsym;

	if (accept_char(p, '(')) {
		while (!accept_char(p, ')')) {
			next(p);
			if (p->tok[0] == ',')
				continue;
			if (c.nret == 4 || (c.ret[c.nret] = lookup_symbol(p, p->tok)) < 0)
				parse_fail(p, "bad return parameter '%s' in call", p->tok);
			c.nret++;
		}
		expect(p, ",");
	}
	next(p);
	if ((fsym = map_get(&p->globals, p->tok)) < 0 || m->syms[fsym].kind != SYM_FUNC) {
		struct ptx_operand r;
		if (operand_reg(p, p->tok, &r))
			parse_fail(p, "indirect calls (through %s) are not supported", p->tok);
		parse_fail(p, "call of unknown function %s", p->tok);
	}
	c.func = m->syms[fsym].func;
	if (strcmp(p->tok, "vprintf") == 0)
		c.builtin = 1;
	else if (strcmp(p->tok, "malloc") == 0 || strcmp(p->tok, "free") == 0)
		parse_fail(p, "device-side %s is not supported by the CPU device", p->tok);
	else if (!m->funcs[c.func].defined && !m->funcs[c.func].insns && m->funcs[c.func].is_extern)
		c.builtin = -1; /* resolved once the whole module is read */
	/* The module owns the record before its arguments are read, so that a
	 * failure among them frees what was read (found by fuzz_ptx). */
	m->calls = xrealloc(p, m->calls, (size_t)(m->ncalls + 1) * sizeof(*m->calls));
	m->calls[m->ncalls] = c;
	in->target = m->ncalls++;
	if (accept_char(p, ',')) {
		struct ptx_call *rc = &m->calls[in->target];
		expect(p, "(");
		while (!accept_char(p, ')')) {
			int a;
			next(p);
			if (p->tok[0] == ',')
				continue;
			if ((a = lookup_symbol(p, p->tok)) < 0)
				parse_fail(p, "bad argument '%s' in call", p->tok);
			rc->args =
			    xrealloc(p, rc->args, (size_t)(rc->nargs + 1) * sizeof(*rc->args));
			rc->args[rc->nargs++] = a;
		}
		if (accept_char(p, ','))
			parse_fail(p, "calls through a prototype are not supported");
	}
	expect(p, ";");
	in->nops = 0;
}

static struct ptx_insn *new_insn(struct parser *p)
{
	struct ptx_func *f = p->f;

	if (f->ninsns == PTX_MAX_INSNS)
		parse_fail(p, "%s has more than %d instructions", f->name, PTX_MAX_INSNS);
	if (f->ninsns == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 64;
		f->insns = xrealloc(p, f->insns, (size_t)f->cap * sizeof(*f->insns));
	}
	memset(&f->insns[f->ninsns], 0, sizeof(*f->insns));
	f->insns[f->ninsns].guard = -1;
	f->insns[f->ninsns].target = -1;
	f->insns[f->ninsns].reconv = -1;
	return &f->insns[f->ninsns];
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
		parse_fail(p, "unexpected '%s'", p->tok);
	if ((op = op_of(mod)) < 0)
		parse_fail(p, "unsupported instruction '%s'", p->tok);
	in->op = (uint16_t)op;
	if (op == OP_SHF || op == OP_PRMT) {
		/* Their modes: shf.l/.r, .clamp/.wrap; prmt.f4e... (only default supported). */
		if (op == OP_PRMT && strchr(p->tok + 5, '.') && strstr(p->tok, ".b32.") != NULL)
			parse_fail(p, "prmt modes other than the default are not supported");
		if (op == OP_SHF && strstr(p->tok, ".l."))
			in->mods |= MOD_L;
	}
	if (op == OP_MEMBAR && strcmp(mod, "fence") == 0 && strstr(p->tok, "proxy"))
		in->op = OP_NOP;
	while ((mod = strtok_r(NULL, ".", &save)) != NULL) {
		if (strcmp(mod, "sync") == 0 && op == OP_BAR)
			continue;
		if (op == OP_CVTA && strcmp(mod, "to") == 0) {
			in->mods |= MOD_TO;
			continue;
		}
		if (op == OP_BAR && strcmp(mod, "warp") == 0) {
			in->op = OP_BARWARP;
			continue;
		}
		apply_modifier(p, in, mod, p->tok);
	}
	if (op == OP_CALL) {
		parse_call(p, in);
		p->f->ninsns++;
		return;
	}
	if (peek_char(p) != ';') {
		for (;;) {
			struct ptx_operand *o;
			if (in->nops == 6)
				parse_fail(p, "too many operands");
			o = &in->o[in->nops++];
			parse_operand(p, in, o);
			if (peek_char(p) == '|') { /* d|p: a second destination */
				next(p);
				if (in->nops == 6)
					parse_fail(p, "too many operands");
				parse_operand(p, in, &in->o[in->nops++]);
				in->sub2 |= 0x80; /* marks the pair */
			}
			if (!accept_char(p, ','))
				break;
		}
	}
	expect(p, ";");
	/* .cc belongs to the carry family alone (it runs as one, see do_carry),
	 * whose operands are a register and two or three sources. */
	if ((in->mods & MOD_CC || in->op == OP_ADDC || in->op == OP_SUBC || in->op == OP_MADC) &&
	    (!(in->op == OP_ADD || in->op == OP_SUB || in->op == OP_MAD || in->op == OP_ADDC ||
	       in->op == OP_SUBC || in->op == OP_MADC) ||
	     PTX_KIND(in->type) == PK_F || in->o[0].kind != OK_REG ||
	     in->nops != ((in->op == OP_MAD || in->op == OP_MADC) ? 4 : 3)))
		parse_fail(p, "bad carry instruction %s", opname);
	if (in->op == OP_BRA && (in->nops != 1 || in->o[0].kind != OK_LABEL))
		parse_fail(p, "bra takes one label (indirect branches are not supported)");
	p->f->ninsns++;
}

/* ---- functions ------------------------------------------------------------------- */

static void parse_param_list(struct parser *p, struct ptx_param **out, int *n, uint32_t *size,
			     int kind)
{
	expect(p, "(");
	if (accept_char(p, ')'))
		return;
	for (;;) {
		uint32_t align = 0, count = 1;
		uint8_t type = PT_NONE, is_ptr = 0;
		struct ptx_param *pp;
		int sym;
		expect(p, ".param");
		for (;;) {
			next(p);
			if (strcmp(p->tok, ".align") == 0) {
				align = parse_align(p);
			} else if (strcmp(p->tok, ".ptr") == 0) {
				is_ptr = 1;
			} else if (p->tok[0] == '.' && type_of(p->tok + 1) != PT_NONE) {
				type = type_of(p->tok + 1);
			} else if (p->tok[0] == '.') {
				/* .global/.shared/.const after .ptr */
			} else {
				break;
			}
		}
		if (type == PT_NONE)
			parse_fail(p, "parameter %s has no type", p->tok);
		*out = xrealloc(p, *out, (size_t)(*n + 1) * sizeof(**out));
		pp = &(*out)[*n];
		*pp = (struct ptx_param){.type = type, .is_ptr = is_ptr};
		(*n)++; /* counted now, so that a failure below frees it */
		pp->name = xstrdup(p, p->tok);
		if (accept_char(p, '[')) {
			next(p);
			count = (uint32_t)parse_count(p, "parameter array size", 1,
						      PTX_MAX_FPARAM_BYTES);
			expect(p, "]");
		}
		pp->size = PTX_SIZE(type) * count;
		pp->align = align ? align : PTX_SIZE(type);
		sym = add_sym(p, pp->name, kind, pp->size, pp->align);
		{
			uint64_t total = *size;
			pp->offset = (uint32_t)place(p, &total, &p->m->syms[sym],
						     kind == SYM_KPARAM ? PTX_MAX_KPARAM_BYTES
									: PTX_MAX_FPARAM_BYTES,
						     "parameters");
			*size = (uint32_t)total;
		}
		p->m->syms[sym].offset = pp->offset;
		map_put(p, &p->locals, pp->name, sym);
		next(p);
		if (p->tok[0] == ')')
			break;
		if (p->tok[0] != ',')
			parse_fail(p, "expected ',' or ')' in parameters, found '%s'", p->tok);
	}
}

/* Performance directives between the signature and the body. */
static void parse_perf_directives(struct parser *p)
{
	while (peek_char(p) == '.') {
		uint32_t *dims = NULL;
		next(p);
		if (strcmp(p->tok, ".maxntid") == 0)
			dims = p->f->maxntid;
		else if (strcmp(p->tok, ".reqntid") == 0)
			dims = p->f->reqntid;
		else if (strcmp(p->tok, ".noreturn") == 0)
			continue;
		else if (strcmp(p->tok, ".minnctapersm") && strcmp(p->tok, ".maxnreg") &&
			 strcmp(p->tok, ".maxnctapersm") && strcmp(p->tok, ".pragma") &&
			 strcmp(p->tok, ".explicitcluster") &&
			 strcmp(p->tok, ".reqnctapercluster") && strcmp(p->tok, ".maxclusterrank"))
			parse_fail(p, "unsupported directive %s", p->tok);
		for (int i = 0;
		     i < 3 && peek_char(p) != '{' && peek_char(p) != ';' && peek_char(p) != '.';
		     i++) {
			next(p);
			if (p->tok[0] == ',') {
				i--;
				continue;
			}
			if (dims) /* a block has at most 1024 threads */
				dims[i] = (uint32_t)parse_count(p, "block dimension", 1, 1024);
		}
		if (peek_char(p) == ';')
			next(p);
	}
}

static void parse_body(struct parser *p)
{
	int depth = 1;

	while (depth > 0) {
		int guard = -1, neg = 0;
		char first;
		if (!next(p))
			parse_fail(p, "end of text inside %s", p->f->name);
		first = p->tok[0];
		if (first == '{') {
			depth++;
		} else if (first == '}') {
			depth--;
		} else if (strcmp(p->tok, ".reg") == 0) {
			declare_regs(p);
		} else if (strcmp(p->tok, ".local") == 0 || strcmp(p->tok, ".param") == 0 ||
			   strcmp(p->tok, ".shared") == 0) {
			int kind = p->tok[1] == 'l'   ? SYM_LOCAL
				   : p->tok[1] == 'p' ? SYM_FPARAM
						      : SYM_SHARED;
			int sym = parse_var(p, kind, 0);
			struct ptx_sym *s = &p->m->syms[sym];
			if (kind == SYM_LOCAL) {
				uint64_t total = p->f->local_size;
				s->offset =
				    place(p, &total, s, PTX_MAX_LOCAL_BYTES, "local memory");
				p->f->local_size = (uint32_t)total;
			} else if (kind == SYM_FPARAM) {
				uint64_t total = p->f->frame_param_size;
				s->offset = place(p, &total, s, PTX_MAX_FPARAM_BYTES, "parameters");
				p->f->frame_param_size = (uint32_t)total;
			} else {
				s->offset = place(p, &p->m->shared_size, s, PTX_MAX_SHARED_BYTES,
						  "static shared memory");
				p->f->uses_shared = 1;
			}
			map_put(p, &p->locals, s->name, sym);
		} else if (strcmp(p->tok, ".pragma") == 0) {
			while (next(p) && p->tok[0] != ';')
				;
		} else if (strcmp(p->tok, ".loc") == 0 || strcmp(p->tok, ".file") == 0) {
			skip_line(p);
		} else if (first == '@') {
			next(p);
			if (p->tok[0] == '!') {
				neg = 1;
				next(p);
			}
			guard = map_get(&p->regs, p->tok);
			if (guard > -2)
				parse_fail(p, "guard %s is not a predicate", p->tok);
			guard = -guard - 2;
			next(p);
			parse_insn(p, guard, neg);
		} else if (peek_char(p) == ':' && first != '.') {
			char label[NAME_MAX_LEN];
			snprintf(label, sizeof(label), "%s", p->tok);
			next(p);
			map_put(p, &p->labels, label, p->f->ninsns);
		} else if (first == '.') {
			parse_fail(p, "unsupported directive %s inside a function", p->tok);
		} else {
			parse_insn(p, -1, 0);
		}
	}
}

static void resolve_labels(struct parser *p)
{
	for (int i = 0; i < p->nfixups; i++) {
		int target = map_get(&p->labels, p->fixups[i].name);
		if (target < 0) {
			p->tok_line = p->fixups[i].line;
			parse_fail(p, "unknown label %s", p->fixups[i].name);
		}
		p->f->insns[p->fixups[i].insn].target = target;
		p->f->insns[p->fixups[i].insn].o[p->fixups[i].op].imm = target;
		free(p->fixups[i].name);
		p->fixups[i].name = NULL; /* a failure below frees the rest */
	}
	p->nfixups = 0;
}

static void func_signature_free(struct ptx_func *f);

static int declare_func(struct parser *p, const char *name)
{
	struct ptx_module *m = p->m;
	int sym = map_get(&p->globals, name), fi;

	if (sym >= 0 && m->syms[sym].kind == SYM_FUNC)
		return m->syms[sym].func;
	m->funcs = xrealloc(p, m->funcs, (size_t)(m->nfuncs + 1) * sizeof(*m->funcs));
	fi = m->nfuncs++;
	memset(&m->funcs[fi], 0, sizeof(m->funcs[fi]));
	m->funcs[fi].name = xstrdup(p, name);
	sym = add_sym(p, name, SYM_FUNC, 0, 1);
	m->syms[sym].func = fi;
	map_put(p, &p->globals, name, sym);
	return fi;
}

static void parse_function(struct parser *p, int is_entry, int is_extern)
{
	int fi;
	uint32_t ret_size = 0;
	struct ptx_func *f;

	map_free(&p->regs);
	map_free(&p->locals);
	map_free(&p->labels);
	p->fi = -1;
	if (!is_entry && peek_char(p) == '(')
		parse_param_list(p, &p->rets, &p->nrets, &ret_size, SYM_FPARAM);
	next(p);
	fi = declare_func(p, p->tok);
	f = p->f = &p->m->funcs[fi];
	p->fi = fi;
	if (f->defined)
		parse_fail(p, "%s is defined twice", f->name);
	func_signature_free(f);
	f->is_entry = is_entry;
	f->is_extern = is_extern;
	f->line = p->tok_line;
	f->rets = p->rets;
	f->nrets = p->nrets;
	p->rets = NULL; /* the function owns them now */
	p->nrets = 0;
	f->frame_param_size = ret_size;
	for (int i = 0; i < p->m->nsyms; i++)
		if (p->m->syms[i].func == -1 && p->m->syms[i].kind == SYM_FPARAM)
			p->m->syms[i].func = fi;
	if (peek_char(p) == '(') {
		uint32_t *size = is_entry ? &f->param_size : &f->frame_param_size;
		parse_param_list(p, &f->params, &f->nparams, size,
				 is_entry ? SYM_KPARAM : SYM_FPARAM);
	}
	parse_perf_directives(p);
	next(p);
	if (p->tok[0] == ';')
		return;
	if (p->tok[0] != '{')
		parse_fail(p, "expected the body of %s", f->name);
	f->defined = 1;
	parse_body(p);
	resolve_labels(p);
	p->f = NULL;
	p->fi = -1;
}

static void skip_section(struct parser *p)
{
	int depth = 0;

	while (next(p)) {
		if (p->tok[0] == '{')
			depth++;
		else if (p->tok[0] == '}' && --depth == 0)
			return;
	}
}

static void parse_module(struct parser *p)
{
	while (next(p)) {
		int is_extern = 0;
		if (strcmp(p->tok, ".version") == 0) {
			next(p);
			sscanf(p->tok, "%u.%u", &p->m->version_major, &p->m->version_minor);
			continue;
		}
		if (strcmp(p->tok, ".target") == 0) {
			do {
				next(p);
				if (strncmp(p->tok, "sm_", 3) == 0)
					p->m->target_sm = (unsigned)atoi(p->tok + 3);
			} while (accept_char(p, ','));
			continue;
		}
		if (strcmp(p->tok, ".address_size") == 0) {
			next(p);
			if (strcmp(p->tok, "64") != 0)
				parse_fail(p, "only 64-bit addressing is supported");
			continue;
		}
		if (strcmp(p->tok, ".file") == 0 || strcmp(p->tok, ".loc") == 0) {
			skip_line(p);
			continue;
		}
		if (strcmp(p->tok, ".pragma") == 0) {
			while (next(p) && p->tok[0] != ';')
				;
			continue;
		}
		if (strcmp(p->tok, ".section") == 0) {
			skip_section(p);
			continue;
		}
		while (strcmp(p->tok, ".visible") == 0 || strcmp(p->tok, ".extern") == 0 ||
		       strcmp(p->tok, ".weak") == 0 || strcmp(p->tok, ".common") == 0) {
			is_extern |= strcmp(p->tok, ".extern") == 0;
			next(p);
		}
		if (strcmp(p->tok, ".entry") == 0 || strcmp(p->tok, ".func") == 0) {
			parse_function(p, p->tok[1] == 'e', is_extern);
		} else if (strcmp(p->tok, ".global") == 0 || strcmp(p->tok, ".const") == 0 ||
			   strcmp(p->tok, ".shared") == 0) {
			int kind = p->tok[1] == 'g'   ? SYM_GLOBAL
				   : p->tok[1] == 'c' ? SYM_CONST
						      : SYM_SHARED;
			int sym = parse_var(p, kind, is_extern);
			struct ptx_sym *s = &p->m->syms[sym];
			s->func = -1;
			if (kind == SYM_CONST) {
				s->offset = place(p, &p->m->const_size, s, PTX_MAX_CONST_BYTES,
						  "constant memory");
			} else if (kind == SYM_SHARED && s->is_array_unsized) {
				p->m->has_dyn_shared = 1; /* placed after static shared memory */
			} else if (kind == SYM_SHARED) {
				s->offset = place(p, &p->m->shared_size, s, PTX_MAX_SHARED_BYTES,
						  "static shared memory");
			} else {
				s->offset = place(p, &p->m->global_size, s, PTX_MAX_GLOBAL_BYTES,
						  "global variables");
			}
			map_put(p, &p->globals, s->name, sym);
		} else if (strcmp(p->tok, ".callprototype") == 0 || strcmp(p->tok, ".alias") == 0) {
			parse_fail(p, "unsupported directive %s", p->tok);
		} else {
			parse_fail(p, "unsupported directive or text '%s' at module scope", p->tok);
		}
	}
}

/* Builds the constant bank from .const initializers. */
static void make_const_bank(struct parser *p)
{
	struct ptx_module *m = p->m;

	m->const_bank = calloc(1, m->const_size ? m->const_size : 1);
	if (!m->const_bank)
		parse_fail(p, "out of memory");
	for (int i = 0; i < m->nsyms; i++)
		if (m->syms[i].kind == SYM_CONST && m->syms[i].init)
			memcpy(m->const_bank + m->syms[i].offset, m->syms[i].init, m->syms[i].size);
}

static void check_calls(struct parser *p)
{
	for (int i = 0; i < p->m->ncalls; i++) {
		struct ptx_call *c = &p->m->calls[i];
		if (c->builtin == -1) {
			if (p->m->funcs[c->func].defined) {
				c->builtin = 0;
				continue;
			}
			p->tok_line = p->m->funcs[c->func].line;
			parse_fail(p,
				   "call of external function %s, which vcuda's CPU device does "
				   "not provide",
				   p->m->funcs[c->func].name);
		}
	}
}

struct ptx_module *ptx_parse(const char *text, char *log, size_t log_len)
{
	struct parser *volatile p = calloc(1, sizeof(*p));
	struct ptx_module *volatile m = calloc(1, sizeof(*m));
	struct ptx_module *volatile result = NULL;

	if (strnlen(text, PTX_MAX_TEXT + 1) > PTX_MAX_TEXT) {
		snprintf(log, log_len, "PTX text larger than %u bytes", PTX_MAX_TEXT);
		free(p);
		free(m);
		return NULL;
	}
	if (!p || !m || !(m->text = strdup(text))) {
		snprintf(log, log_len, "out of memory");
		free(p);
		if (m)
			free(m->text);
		free(m);
		return NULL;
	}
	p->s = m->text;
	p->line = 1;
	p->m = m;
	p->fi = -1;
	p->log = log;
	p->log_len = log_len;
	if (setjmp(p->fail) == 0) {
		parse_module(p);
		check_calls(p);
		make_const_bank(p);
		result = m;
	}
	map_free(&p->globals);
	map_free(&p->regs);
	map_free(&p->locals);
	map_free(&p->labels);
	for (int i = 0; i < p->nfixups; i++)
		free(p->fixups[i].name);
	free(p->fixups);
	for (int i = 0; i < p->nrets; i++)
		free(p->rets[i].name);
	free(p->rets);
	free(p);
	if (!result) {
		ptx_module_free(m);
		return NULL;
	}
	if (ptx_compute_reconvergence(m, log, log_len) != 0) {
		ptx_module_free(m);
		return NULL;
	}
	return m;
}

/* Forgets a function's signature (a definition after a declaration
 * states it again). */
static void func_signature_free(struct ptx_func *f)
{
	for (int j = 0; j < f->nparams; j++)
		free(f->params[j].name);
	for (int j = 0; j < f->nrets; j++)
		free(f->rets[j].name);
	free(f->params);
	free(f->rets);
	f->params = f->rets = NULL;
	f->nparams = f->nrets = 0;
	f->param_size = f->frame_param_size = 0;
}

void ptx_module_free(struct ptx_module *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->nfuncs; i++) {
		struct ptx_func *f = &m->funcs[i];
		func_signature_free(f);
		free(f->insns);
		free(f->reg_types);
		free(f->name);
	}
	for (int i = 0; i < m->nsyms; i++) {
		free(m->syms[i].name);
		free(m->syms[i].init);
	}
	for (int i = 0; i < m->ncalls; i++)
		free(m->calls[i].args);
	free(m->calls);
	free(m->funcs);
	free(m->syms);
	free(m->const_bank);
	free(m->text);
	free(m);
}

int ptx_find_func(const struct ptx_module *m, const char *name)
{
	for (int i = 0; i < m->nfuncs; i++)
		if (strcmp(m->funcs[i].name, name) == 0)
			return i;
	return -1;
}

int ptx_find_sym(const struct ptx_module *m, const char *name)
{
	for (int i = 0; i < m->nsyms; i++)
		if (m->syms[i].kind != SYM_FUNC && m->syms[i].func == -1 &&
		    strcmp(m->syms[i].name, name) == 0)
			return i;
	return -1;
}
