/*
 * PTX front end, part two: the module's directives, its variables,
 * registers and functions, and ptx_parse itself.
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

/* ---- symbols ------------------------------------------------------------------ */

static int add_sym(struct parser *p, const char *name, int kind, uint64_t size, uint32_t align)
{
	struct ptx_module *m = p->m;
	struct ptx_sym *s;

	m->syms = ptx_xrealloc(p, m->syms, (size_t)(m->nsyms + 1) * sizeof(*m->syms));
	s = &m->syms[m->nsyms];
	*s = (struct ptx_sym){.name = ptx_xstrdup(p, name),
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
uint64_t ptx_place(struct parser *p, uint64_t *total, struct ptx_sym *s, uint64_t limit,
		   const char *what)
{
	uint64_t at = align_up(*total, s->align);

	if (at > limit || s->size > limit - at)
		ptx_parse_fail(p, "%s takes more than the %llu bytes of %s allowed", s->name,
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
		ptx_parse_fail(p, "bad %s '%s' (%llu to %llu)", what, p->tok,
			       (unsigned long long)min, (unsigned long long)max);
	return v;
}

static uint32_t parse_align(struct parser *p)
{
	uint32_t a;

	ptx_next(p);
	a = (uint32_t)parse_count(p, "alignment", 1, PTX_MAX_ALIGN);
	if (a & (a - 1))
		ptx_parse_fail(p, "alignment %u is not a power of two", a);
	return a;
}

/* An address in an initializer, the token read: name, generic(name), and
 * either with +offset; recorded for the loader to fill in at offset at of
 * variable sym. */
static void parse_reloc(struct parser *p, int sym, uint64_t at, uint64_t esize)
{
	struct ptx_reloc r = {.at = at, .size = (uint8_t)esize};
	struct ptx_sym *s;
	int generic = strcmp(p->tok, "generic") == 0;

	if (esize != 8)
		ptx_parse_fail(p, "an address (%s) in an initializer of %u-byte elements", p->tok,
			       (unsigned)esize);
	if (generic) {
		ptx_expect(p, "(");
		ptx_next(p);
	}
	if ((r.sym = ptx_map_get(&p->globals, p->tok)) < 0)
		ptx_parse_fail(p, "initializer names %s, which is not declared", p->tok);
	if (generic)
		ptx_expect(p, ")");
	if (ptx_accept_char(p, '+')) {
		int fb;
		ptx_next(p);
		if (ptx_parse_number(p, p->tok, &r.addend, &fb) != 0 || fb ||
		    r.addend > (int64_t)PTX_MAX_VAR_BYTES)
			ptx_parse_fail(p, "bad offset '%s' in an initializer", p->tok);
	}
	r.generic = (uint8_t)generic;
	s = &p->m->syms[sym];
	if (s->nrelocs >= (int)(s->size / 8))
		ptx_parse_fail(p, "too many addresses in %s", s->name);
	s->relocs = ptx_xrealloc(p, s->relocs, (size_t)(s->nrelocs + 1) * sizeof(*s->relocs));
	s->relocs[s->nrelocs++] = r;
}

/* Declarations: [.align N] [.vN] .type name[[dims]] [= init]. Returns the
 * symbol. kind says where it lives. */
int ptx_parse_var(struct parser *p, int kind, int is_extern)
{
	uint32_t align = 0, vec = 1;
	uint8_t type = PT_NONE;
	uint64_t count = 1;
	char name[NAME_MAX_LEN];
	int unsized = 0, managed = 0, sym;
	struct ptx_sym *s;

	for (;;) {
		ptx_next(p);
		if (strcmp(p->tok, ".align") == 0) {
			align = parse_align(p);
		} else if (p->tok[0] == '.' && p->tok[1] == 'v' &&
			   isdigit((unsigned char)p->tok[2])) {
			vec = (uint32_t)atoi(p->tok + 2);
			if (vec != 2 && vec != 4 && vec != 8)
				ptx_parse_fail(p, "bad vector width %s", p->tok);
		} else if (p->tok[0] == '.' && ptx_type_of(p->tok + 1) != PT_NONE) {
			type = ptx_type_of(p->tok + 1);
		} else if (strcmp(p->tok, ".ptr") == 0 || strcmp(p->tok, ".global") == 0 ||
			   strcmp(p->tok, ".shared") == 0 || strcmp(p->tok, ".const") == 0 ||
			   strcmp(p->tok, ".local") == 0) {
			/* .ptr attributes of parameters */
		} else if (strcmp(p->tok, ".attribute") == 0) {
			/* .attribute(.managed): a __managed__ variable */
			ptx_expect(p, "(");
			while (ptx_next(p) && p->tok[0] != ')') {
				if (strcmp(p->tok, ".managed") == 0)
					managed = 1;
				else if (strcmp(p->tok, ",") != 0)
					ptx_parse_fail(p, "unsupported variable attribute %s",
						       p->tok);
			}
		} else {
			break;
		}
	}
	if (type == PT_NONE || p->tok[0] == '.')
		ptx_parse_fail(p, "unsupported declaration near '%s'", p->tok);
	snprintf(name, sizeof(name), "%s", p->tok);
	while (ptx_accept_char(p, '[')) {
		if (ptx_accept_char(p, ']')) {
			unsized = 1;
			continue;
		}
		ptx_next(p);
		/* Each factor and the running product stay within the limit. */
		count *= parse_count(p, "array size", 1, PTX_MAX_VAR_BYTES);
		if (count > PTX_MAX_VAR_BYTES / vec / PTX_SIZE(type))
			ptx_parse_fail(p, "%s is larger than %llu bytes", name,
				       (unsigned long long)PTX_MAX_VAR_BYTES);
		ptx_expect(p, "]");
	}
	if (type == PT_PRED)
		ptx_parse_fail(p, "predicate variables are not supported");
	sym = add_sym(p, name, kind, count * vec * PTX_SIZE(type),
		      align ? align : PTX_SIZE(type) * vec);
	s = &p->m->syms[sym];
	s->is_extern = (uint8_t)is_extern;
	s->is_array_unsized = (uint8_t)unsized;
	s->managed = (uint8_t)managed;
	if (ptx_accept_char(p, '=')) {
		uint64_t esize = PTX_SIZE(type), n = 0;
		int braces = 0;
		s->init = calloc(1, s->size ? s->size : 1);
		if (!s->init)
			ptx_parse_fail(p, "out of memory");
		for (;;) {
			int64_t v;
			int fb, neg = 0;
			ptx_next(p);
			if (p->tok[0] == '{') {
				braces++;
				continue;
			}
			if (p->tok[0] == '}') {
				if (--braces <= 0 && ptx_peek_char(p) != ',')
					break;
				continue;
			}
			if (p->tok[0] == ',')
				continue;
			if (p->tok[0] == '-') {
				neg = 1;
				ptx_next(p);
			}
			if (isalpha((unsigned char)p->tok[0]) || p->tok[0] == '_' ||
			    p->tok[0] == '$') {
				if ((n + 1) * esize > s->size)
					ptx_parse_fail(p, "initializer longer than %s", s->name);
				parse_reloc(p, sym, n * esize, esize);
				n++;
				if (braces == 0)
					break;
				continue;
			}
			if (ptx_parse_number(p, p->tok, &v, &fb) != 0)
				ptx_parse_fail(p, "bad initializer '%s'", p->tok);
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
				v = ptx_f64_to_f32_bits(v);
			}
			if (neg)
				v = ptx_negate(v);
			if ((n + 1) * esize > s->size)
				ptx_parse_fail(p, "initializer longer than %s", s->name);
			/* An element wider than the value (.b128) takes it in its
			 * low bytes, zero above. */
			memcpy(s->init + n * esize, &v, esize < sizeof(v) ? esize : sizeof(v));
			n++;
			if (braces == 0)
				break;
		}
	}
	ptx_expect(p, ";");
	return sym;
}

/* ---- registers and operands ------------------------------------------------------- */

void ptx_declare_regs(struct parser *p)
{
	uint8_t type = PT_NONE;
	struct ptx_func *f = p->f;

	ptx_next(p);
	if (p->tok[0] == '.' && p->tok[1] == 'v') /* .reg .v4 .f32: vector registers */
		ptx_parse_fail(p, "vector register declarations are not supported");
	if ((type = ptx_type_of(p->tok + 1)) == PT_NONE)
		ptx_parse_fail(p, "unknown register type '%s'", p->tok);
	for (;;) {
		char base[NAME_MAX_LEN];
		long count = -1;
		ptx_next(p);
		snprintf(base, sizeof(base), "%s", p->tok);
		if (ptx_accept_char(p, '<')) {
			ptx_next(p);
			count = (long)parse_count(p, "register count", 0, PTX_MAX_REGS);
			ptx_expect(p, ">");
		}
		if ((long)f->nregs + f->npreds + (count < 0 ? 1 : count) > PTX_MAX_REGS)
			ptx_parse_fail(p, "%s declares more than %d registers", f->name,
				       PTX_MAX_REGS);
		if (type != PT_PRED)
			f->reg_types = ptx_xrealloc(
			    p, f->reg_types, (size_t)f->nregs + (size_t)(count < 0 ? 1 : count));
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
			ptx_map_put(p, &p->regs, name, type == PT_PRED ? -idx - 2 : idx);
		}
		ptx_next(p);
		if (p->tok[0] == ';')
			break;
		if (p->tok[0] != ',')
			ptx_parse_fail(p, "expected ',' or ';' in .reg, found '%s'", p->tok);
	}
}

/* ---- functions ------------------------------------------------------------------- */

static void parse_param_list(struct parser *p, struct ptx_param **out, int *n, uint32_t *size,
			     int kind)
{
	ptx_expect(p, "(");
	if (ptx_accept_char(p, ')'))
		return;
	for (;;) {
		uint32_t align = 0, count = 1;
		uint8_t type = PT_NONE, is_ptr = 0;
		struct ptx_param *pp;
		int sym;
		ptx_expect(p, ".param");
		for (;;) {
			ptx_next(p);
			if (strcmp(p->tok, ".align") == 0) {
				align = parse_align(p);
			} else if (strcmp(p->tok, ".ptr") == 0) {
				is_ptr = 1;
			} else if (p->tok[0] == '.' && ptx_type_of(p->tok + 1) != PT_NONE) {
				type = ptx_type_of(p->tok + 1);
			} else if (p->tok[0] == '.') {
				/* .global/.shared/.const after .ptr */
			} else {
				break;
			}
		}
		if (type == PT_NONE)
			ptx_parse_fail(p, "parameter %s has no type", p->tok);
		*out = ptx_xrealloc(p, *out, (size_t)(*n + 1) * sizeof(**out));
		pp = &(*out)[*n];
		*pp = (struct ptx_param){.type = type, .is_ptr = is_ptr};
		(*n)++; /* counted now, so that a failure below frees it */
		pp->name = ptx_xstrdup(p, p->tok);
		if (ptx_accept_char(p, '[')) {
			ptx_next(p);
			count = (uint32_t)parse_count(p, "parameter array size", 1,
						      PTX_MAX_FPARAM_BYTES);
			ptx_expect(p, "]");
		}
		pp->size = PTX_SIZE(type) * count;
		pp->align = align ? align : PTX_SIZE(type);
		sym = add_sym(p, pp->name, kind, pp->size, pp->align);
		{
			uint64_t total = *size;
			pp->offset = (uint32_t)ptx_place(p, &total, &p->m->syms[sym],
							 kind == SYM_KPARAM ? PTX_MAX_KPARAM_BYTES
									    : PTX_MAX_FPARAM_BYTES,
							 "parameters");
			*size = (uint32_t)total;
		}
		p->m->syms[sym].offset = pp->offset;
		ptx_map_put(p, &p->locals, pp->name, sym);
		ptx_next(p);
		if (p->tok[0] == ')')
			break;
		if (p->tok[0] != ',')
			ptx_parse_fail(p, "expected ',' or ')' in parameters, found '%s'", p->tok);
	}
}

/* Performance directives between the signature and the body. */
static void parse_perf_directives(struct parser *p)
{
	while (ptx_peek_char(p) == '.') {
		uint32_t *dims = NULL, max = 1024; /* a block has at most 1024 threads */
		const char *what = "block dimension";
		ptx_next(p);
		if (strcmp(p->tok, ".maxntid") == 0)
			dims = p->f->maxntid;
		else if (strcmp(p->tok, ".reqntid") == 0)
			dims = p->f->reqntid;
		else if (strcmp(p->tok, ".reqnctapercluster") == 0) {
			dims = p->f->reqncluster;
			max = PTX_MAX_CLUSTER;
			what = "cluster dimension";
			p->f->explicit_cluster = 1;
		} else if (strcmp(p->tok, ".explicitcluster") == 0) {
			p->f->explicit_cluster = 1;
			continue;
		} else if (strcmp(p->tok, ".noreturn") == 0)
			continue;
		else if (strcmp(p->tok, ".minnctapersm") && strcmp(p->tok, ".maxnreg") &&
			 strcmp(p->tok, ".maxnctapersm") && strcmp(p->tok, ".pragma") &&
			 strcmp(p->tok, ".maxclusterrank"))
			ptx_parse_fail(p, "unsupported directive %s", p->tok);
		for (int i = 0; i < 3 && ptx_peek_char(p) != '{' && ptx_peek_char(p) != ';' &&
				ptx_peek_char(p) != '.';
		     i++) {
			ptx_next(p);
			if (p->tok[0] == ',') {
				i--;
				continue;
			}
			if (dims)
				dims[i] = (uint32_t)parse_count(p, what, 1, max);
		}
		if (ptx_peek_char(p) == ';')
			ptx_next(p);
	}
}

static void func_signature_free(struct ptx_func *f);

static int declare_func(struct parser *p, const char *name)
{
	struct ptx_module *m = p->m;
	int sym = ptx_map_get(&p->globals, name), fi;

	if (sym >= 0 && m->syms[sym].kind == SYM_FUNC)
		return m->syms[sym].func;
	m->funcs = ptx_xrealloc(p, m->funcs, (size_t)(m->nfuncs + 1) * sizeof(*m->funcs));
	fi = m->nfuncs++;
	memset(&m->funcs[fi], 0, sizeof(m->funcs[fi]));
	m->funcs[fi].name = ptx_xstrdup(p, name);
	sym = add_sym(p, name, SYM_FUNC, 0, 1);
	m->syms[sym].func = fi;
	ptx_map_put(p, &p->globals, name, sym);
	return fi;
}

static void parse_function(struct parser *p, int is_entry, int is_extern)
{
	int fi;
	uint32_t ret_size = 0;
	struct ptx_func *f;

	ptx_map_free(&p->regs);
	ptx_map_free(&p->locals);
	ptx_map_free(&p->labels);
	p->fi = -1;
	if (!is_entry && ptx_peek_char(p) == '(')
		parse_param_list(p, &p->rets, &p->nrets, &ret_size, SYM_FPARAM);
	ptx_next(p);
	fi = declare_func(p, p->tok);
	f = p->f = &p->m->funcs[fi];
	p->fi = fi;
	if (f->defined)
		ptx_parse_fail(p, "%s is defined twice", f->name);
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
	if (ptx_peek_char(p) == '(') {
		uint32_t *size = is_entry ? &f->param_size : &f->frame_param_size;
		parse_param_list(p, &f->params, &f->nparams, size,
				 is_entry ? SYM_KPARAM : SYM_FPARAM);
	}
	parse_perf_directives(p);
	ptx_next(p);
	if (p->tok[0] == ';')
		return;
	if (p->tok[0] != '{')
		ptx_parse_fail(p, "expected the body of %s", f->name);
	f->defined = 1;
	ptx_parse_body(p);
	ptx_resolve_labels(p);
	p->f = NULL;
	p->fi = -1;
}

static void skip_section(struct parser *p)
{
	int depth = 0;

	while (ptx_next(p)) {
		if (p->tok[0] == '{')
			depth++;
		else if (p->tok[0] == '}' && --depth == 0)
			return;
	}
}

static void parse_module(struct parser *p)
{
	while (ptx_next(p)) {
		int is_extern = 0;
		if (strcmp(p->tok, ".version") == 0) {
			ptx_next(p);
			sscanf(p->tok, "%u.%u", &p->m->version_major, &p->m->version_minor);
			continue;
		}
		if (strcmp(p->tok, ".target") == 0) {
			do {
				ptx_next(p);
				if (strncmp(p->tok, "sm_", 3) == 0)
					p->m->target_sm = (unsigned)atoi(p->tok + 3);
			} while (ptx_accept_char(p, ','));
			continue;
		}
		if (strcmp(p->tok, ".address_size") == 0) {
			ptx_next(p);
			if (strcmp(p->tok, "64") != 0)
				ptx_parse_fail(p, "only 64-bit addressing is supported");
			continue;
		}
		if (strcmp(p->tok, ".file") == 0 || strcmp(p->tok, ".loc") == 0) {
			ptx_skip_line(p);
			continue;
		}
		if (strcmp(p->tok, ".pragma") == 0) {
			while (ptx_next(p) && p->tok[0] != ';')
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
			ptx_next(p);
		}
		if (strcmp(p->tok, ".entry") == 0 || strcmp(p->tok, ".func") == 0) {
			parse_function(p, p->tok[1] == 'e', is_extern);
		} else if (strcmp(p->tok, ".global") == 0 || strcmp(p->tok, ".const") == 0 ||
			   strcmp(p->tok, ".shared") == 0) {
			int kind = p->tok[1] == 'g'   ? SYM_GLOBAL
				   : p->tok[1] == 'c' ? SYM_CONST
						      : SYM_SHARED;
			int sym = ptx_parse_var(p, kind, is_extern);
			struct ptx_sym *s = &p->m->syms[sym];
			s->func = -1;
			if (kind == SYM_CONST) {
				s->offset = ptx_place(p, &p->m->const_size, s, PTX_MAX_CONST_BYTES,
						      "constant memory");
			} else if (kind == SYM_SHARED && s->is_array_unsized) {
				p->m->has_dyn_shared = 1; /* placed after static shared memory */
			} else if (kind == SYM_SHARED) {
				s->offset =
				    ptx_place(p, &p->m->shared_size, s, PTX_MAX_MODULE_SHARED,
					      "static shared memory");
			} else if (s->managed) {
				/* Pages of its own: the guest mirrors a managed
				 * variable's pages (docs/architecture.md). */
				s->align =
				    s->align > PTX_MANAGED_PAGE ? s->align : PTX_MANAGED_PAGE;
				s->offset = ptx_place(p, &p->m->global_size, s,
						      PTX_MAX_GLOBAL_BYTES, "global variables");
				p->m->global_size = (p->m->global_size + PTX_MANAGED_PAGE - 1) &
						    ~(uint64_t)(PTX_MANAGED_PAGE - 1);
				p->m->has_managed = 1;
			} else {
				s->offset = ptx_place(p, &p->m->global_size, s,
						      PTX_MAX_GLOBAL_BYTES, "global variables");
			}
			ptx_map_put(p, &p->globals, s->name, sym);
		} else if (strcmp(p->tok, ".callprototype") == 0 || strcmp(p->tok, ".alias") == 0) {
			ptx_parse_fail(p, "unsupported directive %s", p->tok);
		} else {
			ptx_parse_fail(p, "unsupported directive or text '%s' at module scope",
				       p->tok);
		}
	}
}

/* Builds the constant bank from .const initializers. */
static void make_const_bank(struct parser *p)
{
	struct ptx_module *m = p->m;

	m->const_bank = calloc(1, m->const_size ? m->const_size : 1);
	if (!m->const_bank)
		ptx_parse_fail(p, "out of memory");
	for (int i = 0; i < m->nsyms; i++)
		if (m->syms[i].kind == SYM_CONST && m->syms[i].init)
			memcpy(m->const_bank + m->syms[i].offset, m->syms[i].init, m->syms[i].size);
}

static void check_calls(struct parser *p)
{
	for (int i = 0; i < p->m->ncalls; i++) {
		struct ptx_call *c = &p->m->calls[i];
		if (c->builtin == BI_UNRESOLVED) {
			static const struct {
				const char *name;
				int builtin;
			} provided[] = {
			    {"malloc", BI_MALLOC},
			    {"free", BI_FREE},
			    {"__assertfail", BI_ASSERTFAIL},
			    {"cudaGraphSetConditional", BI_GRAPH_SET_CONDITIONAL},
			    {"__cudaCDP2GetParameterBufferV2", BI_CDP_PARAM_BUFFER},
			    {"__cudaCDP2LaunchDeviceV2", BI_CDP_LAUNCH},
			    {"__cudaCDP2StreamCreateWithFlags", BI_CDP_STREAM_CREATE},
			    {"__cudaCDP2StreamDestroy", BI_CDP_STREAM_DESTROY},
			    {"__cudaCDP2GetLastError", BI_CDP_LAST_ERROR},
			    {"__cudaCDP2PeekAtLastError", BI_CDP_PEEK_ERROR},
			};
			if (p->m->funcs[c->func].defined) {
				c->builtin = BI_NONE;
				continue;
			}
			for (size_t k = 0; k < sizeof(provided) / sizeof(*provided); k++)
				if (strcmp(p->m->funcs[c->func].name, provided[k].name) == 0)
					c->builtin = provided[k].builtin;
			if (c->builtin != BI_UNRESOLVED)
				continue;
			p->tok_line = p->m->funcs[c->func].line;
			ptx_parse_fail(
			    p,
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
	ptx_map_free(&p->globals);
	ptx_map_free(&p->regs);
	ptx_map_free(&p->locals);
	ptx_map_free(&p->labels);
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
	if (ptx_compute_reconvergence(m, log, log_len) != 0 ||
	    ptx_layout_shared(m, log, log_len) != 0) {
		ptx_module_free(m);
		return NULL;
	}
	return m;
}

/* Marks the shared variables function fi names, and those of the
 * functions it calls, in used (depth-first; seen guards against recursion). */
static void shared_reach(const struct ptx_module *m, int fi, uint8_t *seen, uint8_t *used)
{
	const struct ptx_func *f = &m->funcs[fi];

	if (seen[fi])
		return;
	seen[fi] = 1;
	for (int i = 0; i < f->ninsns; i++) {
		const struct ptx_insn *in = &f->insns[i];
		for (int k = 0; k < in->nops && k < 6; k++) {
			const struct ptx_operand *o = &in->o[k];
			if ((o->kind == OK_SYM || o->kind == OK_ADDR) && o->reg >= 0 &&
			    o->reg < m->nsyms && m->syms[o->reg].shared_index >= 0)
				used[m->syms[o->reg].shared_index] = 1;
		}
		if (in->op == OP_CALL && in->target >= 0 && in->target < m->ncalls &&
		    m->calls[in->target].func >= 0 && !m->calls[in->target].builtin)
			shared_reach(m, m->calls[in->target].func, seen, used);
		/* An indirect call may reach any function. */
		if (in->op == OP_CALL && in->target >= 0 && in->target < m->ncalls &&
		    m->calls[in->target].reg >= 0)
			for (int g = 0; g < m->nfuncs; g++)
				shared_reach(m, g, seen, used);
	}
}

int ptx_layout_shared(struct ptx_module *m, char *log, size_t log_len)
{
	int nshared = 0, rc = 0;
	int *which;
	uint8_t *seen, *used;

	for (int i = 0; i < m->nsyms; i++) {
		struct ptx_sym *s = &m->syms[i];
		s->shared_index =
		    s->kind == SYM_SHARED && !s->is_array_unsized && !s->is_extern ? nshared++ : -1;
	}
	which = calloc((size_t)nshared + 1, sizeof(*which));
	seen = calloc((size_t)m->nfuncs + 1, 1);
	used = calloc((size_t)nshared + 1, 1);
	if (!which || !seen || !used) {
		snprintf(log, log_len, "out of memory");
		rc = -1;
	}
	for (int i = 0; i < m->nsyms && !rc; i++)
		if (m->syms[i].shared_index >= 0)
			which[m->syms[i].shared_index] = i;
	for (int fi = 0; fi < m->nfuncs && !rc; fi++) {
		struct ptx_func *f = &m->funcs[fi];
		uint64_t total = 0;
		if (!f->is_entry || !f->defined)
			continue;
		memset(seen, 0, (size_t)m->nfuncs);
		memset(used, 0, (size_t)nshared);
		shared_reach(m, fi, seen, used);
		if (!(f->shared_off = calloc((size_t)nshared + 1, sizeof(*f->shared_off)))) {
			snprintf(log, log_len, "out of memory");
			rc = -1;
			break;
		}
		for (int k = 0; k < nshared; k++) {
			const struct ptx_sym *s = &m->syms[which[k]];
			uint64_t at;
			if (!used[k])
				continue;
			at = (total + s->align - 1) / s->align * s->align;
			total = at + s->size;
			if (total > PTX_MAX_SHARED_BYTES) {
				snprintf(
				    log, log_len,
				    "kernel %s reaches more than the %u bytes of static shared "
				    "memory allowed",
				    f->name, PTX_MAX_SHARED_BYTES);
				rc = -1;
				break;
			}
			f->shared_off[k] = (uint32_t)at;
		}
		f->shared_size = (uint32_t)total;
	}
	free(which);
	free(seen);
	free(used);
	return rc;
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
		free(f->shared_off);
		free(f->name);
	}
	for (int i = 0; i < m->nsyms; i++) {
		free(m->syms[i].name);
		free(m->syms[i].init);
		free(m->syms[i].relocs);
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
