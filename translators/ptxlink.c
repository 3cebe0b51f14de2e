/*
 * Linking the PTX of separately compiled objects (nvcc -rdc=true) into one
 * module, for devices that run PTX (vcuda's CPU device).
 *
 * A program built with -rdc registers a device-linked image that holds
 * machine code only; each object's own PTX is in the relocatable fat
 * binaries the program carries beside it. Linking them is textual:
 *   - each object's names without external linkage (no .visible, .extern
 *     or .weak) get a prefix of their own, so that two objects' "$str"
 *     stay two;
 *   - an .extern declaration of something an object defines is dropped;
 *   - of several definitions of one .weak name (template instances in each
 *     object), the first stays;
 *   - .version, .target and .address_size come once, the newest of each.
 * What is left is one module whose calls and variables resolve by name.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "ptxlink.h"
#include "util.h"

#define MAX_NAME 256

struct item {
	size_t start, end; /* [start, end) of the object's text */
	int is_func, is_var, is_header;
	int linkage; /* 0 internal, 'v' visible, 'e' extern, 'w' weak */
	int defines; /* a definition (function body, or a variable that is not .extern) */
	char name[MAX_NAME];
};

struct object {
	const char *text;
	struct item *items;
	size_t n, cap;
};

static int ident_char(int c)
{
	return isalnum(c) || c == '_' || c == '$';
}

/* Skips blanks and comments from i. */
static size_t skip_space(const char *t, size_t i)
{
	for (;;) {
		while (t[i] && isspace((unsigned char)t[i]))
			i++;
		if (t[i] == '/' && t[i + 1] == '/') {
			while (t[i] && t[i] != '\n')
				i++;
		} else if (t[i] == '/' && t[i + 1] == '*') {
			const char *e = strstr(t + i + 2, "*/");
			i = e ? (size_t)(e - t) + 2 : strlen(t);
		} else {
			return i;
		}
	}
}

/* One top-level statement from i: up to its ';' or, for a function, the
 * '}' closing its body. Strings and comments are skipped whole. */
static size_t statement_end(const char *t, size_t i)
{
	int depth = 0;

	while (t[i]) {
		if (t[i] == '"') {
			for (i++; t[i] && t[i] != '"'; i++)
				if (t[i] == '\\' && t[i + 1])
					i++;
			if (t[i])
				i++;
			continue;
		}
		if (t[i] == '/' && (t[i + 1] == '/' || t[i + 1] == '*')) {
			i = skip_space(t, i);
			continue;
		}
		if (t[i] == '{')
			depth++;
		else if (t[i] == '}' && --depth <= 0)
			return i + 1;
		else if (t[i] == ';' && depth == 0)
			return i + 1;
		i++;
	}
	return i;
}

/* Classifies the statement [start, end). */
static void classify(const char *t, struct item *it)
{
	size_t i = it->start;
	char word[64];
	int parens = 0;

	while (i < it->end) {
		size_t w = 0;
		i = skip_space(t, i);
		if (i >= it->end)
			break;
		if (t[i] == '(') { /* a function's return or parameter list */
			parens++;
			i++;
			continue;
		}
		if (t[i] == ')') {
			parens--;
			i++;
			continue;
		}
		if (t[i] == '{' || t[i] == '=') {
			it->defines = it->defines || t[i] == '{' || it->is_var;
			if (t[i] == '{')
				break;
			i++;
			continue;
		}
		if (parens > 0 || !(ident_char((unsigned char)t[i]) || t[i] == '.')) {
			i++;
			continue;
		}
		while (i < it->end && (ident_char((unsigned char)t[i]) || t[i] == '.') &&
		       w + 1 < sizeof(word))
			word[w++] = t[i++];
		word[w] = 0;
		if (!strcmp(word, ".visible"))
			it->linkage = 'v';
		else if (!strcmp(word, ".extern"))
			it->linkage = 'e';
		else if (!strcmp(word, ".weak") || !strcmp(word, ".common"))
			it->linkage = 'w';
		else if (!strcmp(word, ".func") || !strcmp(word, ".entry"))
			it->is_func = 1;
		else if (!strcmp(word, ".global") || !strcmp(word, ".const") ||
			 !strcmp(word, ".shared"))
			it->is_var = 1;
		else if (!strcmp(word, ".version") || !strcmp(word, ".target") ||
			 !strcmp(word, ".address_size"))
			it->is_header = 1;
		else if (word[0] != '.' && !isdigit((unsigned char)word[0]) && !it->name[0] &&
			 (it->is_func || it->is_var))
			snprintf(it->name, sizeof(it->name), "%s", word);
	}
	if (it->is_var && it->linkage != 'e')
		it->defines = 1;
	if (it->linkage == 'e')
		it->defines = 0;
}

static int line_directive(const char *t)
{
	static const char *const names[] = {".version", ".target", ".address_size", ".file",
					    ".loc"};

	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		size_t n = strlen(names[i]);
		if (!strncmp(t, names[i], n) && !ident_char((unsigned char)t[n]))
			return 1;
	}
	return 0;
}

static int split(struct object *o)
{
	size_t i = 0;

	for (;;) {
		struct item it = {0};
		i = skip_space(o->text, i);
		if (!o->text[i])
			return 0;
		it.start = i;
		if (line_directive(o->text + i)) { /* these end at the line's end */
			while (o->text[i] && o->text[i] != '\n')
				i++;
			it.end = i;
		} else {
			it.end = i = statement_end(o->text, i);
		}
		classify(o->text, &it);
		if (vcuda_grow(&o->items, &o->cap, o->n, sizeof(*o->items), 64) != 0)
			return VCUDA_E_NOMEM;
		o->items[o->n++] = it;
	}
}

struct buf {
	char *p;
	size_t len, cap;
};

static int put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *np = realloc(b->p, cap);
		if (!np)
			return VCUDA_E_NOMEM;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
	return 0;
}

/* Whether name is among object k's internal names (those renamed). */
static int internal(const struct object *o, const char *name, size_t len)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->items[i].linkage == 0 && o->items[i].name[0] &&
		    strlen(o->items[i].name) == len && !strncmp(o->items[i].name, name, len))
			return 1;
	return 0;
}

/* Copies [start, end) of object k's text with its internal names prefixed. */
static int put_renamed(struct buf *b, const struct object *o, int k, size_t start, size_t end)
{
	const char *t = o->text;
	size_t i = start;
	char prefix[32];

	snprintf(prefix, sizeof(prefix), "__vcuda_o%d_", k);
	while (i < end) {
		size_t j = i;
		if (ident_char((unsigned char)t[i]) &&
		    (i == 0 || !(ident_char((unsigned char)t[i - 1]) || t[i - 1] == '%' ||
				 t[i - 1] == '.'))) {
			while (j < end && ident_char((unsigned char)t[j]))
				j++;
			if (!isdigit((unsigned char)t[i]) && internal(o, t + i, j - i) &&
			    put(b, prefix, strlen(prefix)) != 0)
				return VCUDA_E_NOMEM;
			if (put(b, t + i, j - i) != 0)
				return VCUDA_E_NOMEM;
			i = j;
			continue;
		}
		if (put(b, t + i, 1) != 0)
			return VCUDA_E_NOMEM;
		i++;
	}
	return 0;
}

/* Whether some object defines name (with external linkage). */
static int defined_anywhere(const struct object *objs, size_t n, const char *name)
{
	for (size_t k = 0; k < n; k++)
		for (size_t i = 0; i < objs[k].n; i++)
			if (objs[k].items[i].defines && objs[k].items[i].linkage &&
			    !strcmp(objs[k].items[i].name, name))
				return 1;
	return 0;
}

/* The header directive value of the newest of the objects ("8.0", "sm_80"). */
static void newest(const struct object *objs, size_t n, const char *directive, char *out,
		   size_t out_len)
{
	double best = -1;

	snprintf(out, out_len, "%s", "");
	for (size_t k = 0; k < n; k++)
		for (size_t i = 0; i < objs[k].n; i++) {
			const struct item *it = &objs[k].items[i];
			size_t d = skip_space(objs[k].text, it->start), len = strlen(directive);
			char val[64];
			size_t v = 0, p;
			if (!it->is_header || strncmp(objs[k].text + d, directive, len) != 0)
				continue;
			p = skip_space(objs[k].text, d + len);
			while (p < it->end && objs[k].text[p] != '\n' && objs[k].text[p] != ';' &&
			       v + 1 < sizeof(val))
				val[v++] = objs[k].text[p++];
			while (v && isspace((unsigned char)val[v - 1]))
				val[--v] = 0;
			val[v] = 0;
			double score = strtod(val + strcspn(val, "0123456789"), NULL);
			if (score > best) {
				best = score;
				snprintf(out, out_len, "%s", val);
			}
		}
}

/* Whether object k's item is left out: an .extern variable some object
 * defines, a .weak definition an earlier object made, a declaration an
 * earlier object made already. */
static int skip_item(const struct object *objs, size_t n, size_t k, const struct item *it)
{
	if (!it->name[0] || it->linkage == 0)
		return 0;
	if (it->linkage == 'e' && it->is_var && defined_anywhere(objs, n, it->name))
		return 1;
	for (size_t j = 0; j < k; j++)
		for (size_t m = 0; m < objs[j].n; m++) {
			const struct item *o = &objs[j].items[m];
			if (strcmp(o->name, it->name) != 0 || o->linkage == 0)
				continue;
			if (it->defines ? (it->linkage == 'w' && o->defines)
					: (!o->defines && o->is_func == it->is_func))
				return 1;
		}
	return 0;
}

int vcuda_ptx_link(const char *const *texts, size_t n, char **out, char *why, size_t why_len)
{
	struct object *objs = calloc(n ? n : 1, sizeof(*objs));
	struct buf b = {0};
	char version[64], target[64], size[64], line[256];
	int rc = 0;

	*out = NULL;
	if (!objs)
		return VCUDA_E_NOMEM;
	for (size_t k = 0; k < n && rc == 0; k++) {
		objs[k].text = texts[k];
		rc = split(&objs[k]);
	}
	if (rc == 0) {
		newest(objs, n, ".version", version, sizeof(version));
		newest(objs, n, ".target", target, sizeof(target));
		newest(objs, n, ".address_size", size, sizeof(size));
		if (!version[0] || !target[0]) {
			snprintf(why, why_len, "the objects' PTX has no .version or .target");
			rc = VCUDA_E_PROTO;
		} else {
			snprintf(line, sizeof(line), ".version %s\n.target %s\n.address_size %s\n",
				 version, target, size[0] ? size : "64");
			rc = put(&b, line, strlen(line));
		}
	}
	/* Declarations of functions first, then variables, then function
	 * bodies: a call, or a virtual table, may name what another object
	 * defines later. */
	for (int pass = 0; pass < 3 && rc == 0; pass++)
		for (size_t k = 0; k < n && rc == 0; k++) {
			const struct object *o = &objs[k];
			for (size_t i = 0; i < o->n && rc == 0; i++) {
				const struct item *it = &o->items[i];
				int want = pass == 0   ? it->is_func && !it->defines
					   : pass == 1 ? !it->is_func
						       : it->is_func && it->defines;
				if (!want || it->is_header || skip_item(objs, n, k, it))
					continue;
				rc = put_renamed(&b, o, (int)k, it->start, it->end);
				if (rc == 0)
					rc = put(&b, "\n", 1);
			}
		}
	for (size_t k = 0; k < n; k++)
		free(objs[k].items);
	free(objs);
	if (rc != 0) {
		if (rc == VCUDA_E_NOMEM)
			snprintf(why, why_len, "out of memory linking PTX");
		free(b.p);
		return rc;
	}
	*out = b.p;
	return 0;
}
