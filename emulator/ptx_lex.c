/*
 * PTX front end (text to the decoded form of ptx.h), part one: failing
 * with a message, the name maps, and the tokens and numbers of the text.
 * Written for what nvcc emits (PTX ISA 7.x-9.x, sm_75 and newer). A
 * construct it does not know fails the parse with a message naming it and
 * its line, so that a module either loads and runs as written or does not
 * load at all.
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

void ptx_parse_fail(struct parser *p, const char *fmt, ...)
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

void *ptx_xrealloc(struct parser *p, void *ptr, size_t n)
{
	void *r = realloc(ptr, n ? n : 1);

	if (!r)
		ptx_parse_fail(p, "out of memory");
	return r;
}

char *ptx_xstrdup(struct parser *p, const char *s)
{
	char *r = strdup(s);

	if (!r)
		ptx_parse_fail(p, "out of memory");
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

void ptx_map_put(struct parser *p, struct name_map *m, const char *k, int v);

static void map_grow(struct parser *p, struct name_map *m)
{
	struct name_map old = *m;

	m->cap = old.cap ? old.cap * 2 : 64;
	m->keys = calloc(m->cap, sizeof(*m->keys));
	m->vals = calloc(m->cap, sizeof(*m->vals));
	m->n = 0;
	if (!m->keys || !m->vals)
		ptx_parse_fail(p, "out of memory");
	for (size_t i = 0; i < old.cap; i++)
		if (old.keys[i]) {
			ptx_map_put(p, m, old.keys[i], old.vals[i]);
			free(old.keys[i]);
		}
	free(old.keys);
	free(old.vals);
}

void ptx_map_put(struct parser *p, struct name_map *m, const char *k, int v)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap)
		map_grow(p, m);
	for (i = name_hash(k) & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1))
		if (strcmp(m->keys[i], k) == 0) {
			m->vals[i] = v;
			return;
		}
	m->keys[i] = ptx_xstrdup(p, k);
	m->vals[i] = v;
	m->n++;
}

int ptx_map_get(const struct name_map *m, const char *k)
{
	if (!m->cap)
		return -1;
	for (size_t i = name_hash(k) & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1))
		if (strcmp(m->keys[i], k) == 0)
			return m->vals[i];
	return -1;
}

void ptx_map_free(struct name_map *m)
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
int ptx_next(struct parser *p)
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
		/* "::" joins the parts of a modifier: .shared::cluster */
		while (
		    (is_name_char((unsigned char)*p->s) ||
		     (p->s[0] == ':' && p->s[1] == ':' && is_name_char((unsigned char)p->s[2]))) &&
		    n < sizeof(p->tok) - 2) {
			if (*p->s == ':')
				p->tok[n++] = *p->s++;
			p->tok[n++] = *p->s++;
		}
		if (is_name_char((unsigned char)*p->s))
			ptx_parse_fail(p, "name too long");
	} else {
		p->tok[n++] = *p->s++;
	}
	p->tok[n] = '\0';
	return (unsigned char)p->tok[0];
}

int ptx_peek_char(struct parser *p)
{
	skip_space(p);
	return (unsigned char)*p->s;
}

/* Skips what is left of the current token's line (.loc, .file have no ';'). */
void ptx_skip_line(struct parser *p)
{
	int l = p->tok_line;

	while (ptx_peek_char(p) && p->line == l)
		ptx_next(p);
}

void ptx_expect(struct parser *p, const char *what)
{
	ptx_next(p);
	if (strcmp(p->tok, what) != 0)
		ptx_parse_fail(p, "expected '%s', found '%s'", what, p->tok);
}

int ptx_accept_char(struct parser *p, int c)
{
	if (ptx_peek_char(p) != c)
		return 0;
	ptx_next(p);
	return 1;
}

/* A number: decimal, hex (0x), octal, or PTX's 0f/0d hex floats. Sets *is_float. */
int ptx_parse_number(struct parser *p, const char *t, int64_t *out, int *fbits)
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
int64_t ptx_negate(int64_t v)
{
	return (int64_t)(0 - (uint64_t)v);
}

uint64_t ptx_f64_to_f32_bits(uint64_t v)
{
	double d;
	float f;

	memcpy(&d, &v, 8);
	f = (float)d;
	v = 0;
	memcpy(&v, &f, 4);
	return v;
}
