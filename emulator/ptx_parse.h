/*
 * The PTX front end's internal interface, shared by its three parts:
 * ptx_lex.c (errors, names, tokens, numbers), ptx_decl.c (the module's
 * directives, variables, registers and functions) and ptx_insn.c
 * (instructions, their modifiers and operands).
 */
#ifndef VCUDA_PTX_PARSE_H
#define VCUDA_PTX_PARSE_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

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

int ptx_accept_char(struct parser *p, int c);
void ptx_declare_regs(struct parser *p);
void ptx_expect(struct parser *p, const char *what);
void ptx_map_free(struct name_map *m);
int ptx_map_get(const struct name_map *m, const char *k);
void ptx_map_put(struct parser *p, struct name_map *m, const char *k, int v);
int64_t ptx_negate(int64_t v);
/* The bits of a float immediate written as a double (0d...), as a .f32. */
uint64_t ptx_f64_to_f32_bits(uint64_t v);
int ptx_next(struct parser *p);
void ptx_parse_body(struct parser *p);
void ptx_parse_fail(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
int ptx_parse_number(struct parser *p, const char *t, int64_t *out, int *fbits);
int ptx_parse_var(struct parser *p, int kind, int is_extern);
int ptx_peek_char(struct parser *p);
uint64_t ptx_place(struct parser *p, uint64_t *total, struct ptx_sym *s, uint64_t limit,
		   const char *what);
void ptx_resolve_labels(struct parser *p);
void ptx_skip_line(struct parser *p);
uint8_t ptx_type_of(const char *s);
void *ptx_xrealloc(struct parser *p, void *ptr, size_t n);
char *ptx_xstrdup(struct parser *p, const char *s);

#endif
