#include "config.h"

#include <ctype.h>
#include <gelf.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda.h>

#include "error.h"
#include "kernels.h"

/* .nv.info attribute formats and the attributes read here. */
#define NVINFO_FMT_NVAL	   1
#define NVINFO_FMT_BVAL	   2
#define NVINFO_FMT_HVAL	   3
#define NVINFO_FMT_SVAL	   4
#define NVINFO_KPARAM_INFO 0x17
#define NVINFO_PARAM_SIZE  0x19
#define KPARAM_MAX	   4096

static int kernels_fail(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int kernels_fail(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return VCUDA_E_PROTO;
}

static struct vcuda_kernel_info *kernels_add(struct vcuda_kernel_table *t, const char *name,
					     size_t name_len)
{
	struct vcuda_kernel_info *k = realloc(t->k, (t->n + 1) * sizeof(*k));

	if (!k)
		return NULL;
	t->k = k;
	k = &t->k[t->n];
	memset(k, 0, sizeof(*k));
	if (!(k->name = strndup(name, name_len)))
		return NULL;
	t->n++;
	return k;
}

static int kernels_set_param(struct vcuda_kernel_info *k, uint32_t ordinal, uint32_t offset,
			     uint32_t size)
{
	if (ordinal >= KPARAM_MAX)
		return VCUDA_E_PROTO;
	if ((int)ordinal >= k->nparams) {
		struct vcuda_kparam *p = realloc(k->params, (ordinal + 1) * sizeof(*p));
		if (!p)
			return VCUDA_E_NOMEM;
		memset(p + k->nparams, 0, (ordinal + 1 - (uint32_t)k->nparams) * sizeof(*p));
		k->params = p;
		k->nparams = (int)ordinal + 1;
	}
	k->params[ordinal] = (struct vcuda_kparam){offset, size};
	if (offset + size > k->param_size)
		k->param_size = offset + size;
	return 0;
}

/* The attributes of one .nv.info.<kernel> section. */
static int kernels_nvinfo(struct vcuda_kernel_info *k, const uint8_t *b, size_t len)
{
	size_t i = 0;

	while (i + 4 <= len) {
		uint8_t fmt = b[i], attr = b[i + 1];
		uint16_t v = (uint16_t)(b[i + 2] | b[i + 3] << 8);
		if (fmt != NVINFO_FMT_SVAL) {
			if (fmt < NVINFO_FMT_NVAL || fmt > NVINFO_FMT_HVAL)
				return VCUDA_E_PROTO;
			if (attr == NVINFO_PARAM_SIZE && v > k->param_size)
				k->param_size = v;
			i += 4;
			continue;
		}
		if (v > len - i - 4)
			return VCUDA_E_PROTO;
		if (attr == NVINFO_KPARAM_INFO) {
			const uint8_t *p = b + i + 4;
			uint32_t flags;
			int rc;
			if (v < 12)
				return VCUDA_E_PROTO;
			flags = (uint32_t)p[8] | (uint32_t)p[9] << 8 | (uint32_t)p[10] << 16 |
				(uint32_t)p[11] << 24;
			rc =
			    kernels_set_param(k, (uint32_t)(p[4] | p[5] << 8),
					      (uint32_t)(p[6] | p[7] << 8), (flags >> 18) & 0x3fff);
			if (rc)
				return rc;
		}
		i += 4 + (size_t)v;
	}
	return i == len ? 0 : VCUDA_E_PROTO;
}

/* Opens an ELF cubin of len bytes with libelf: 0 with *e (elf_end it) and
 * its section-name table, or VCUDA_E_PROTO with why written. */
static int kernels_elf(const void *image, size_t len, Elf **e, size_t *shstrndx, char *why,
		       size_t why_len)
{
	if (elf_version(EV_CURRENT) == EV_NONE)
		return kernels_fail(why, why_len, "libelf is unusable");
	if (!(*e = elf_memory((char *)image, len)) || elf_kind(*e) != ELF_K_ELF ||
	    elf_getshdrstrndx(*e, shstrndx) != 0) {
		if (*e)
			elf_end(*e);
		return kernels_fail(why, why_len, "not an ELF cubin");
	}
	return 0;
}

int vcuda_kernels_from_cubin(const void *image, size_t len, struct vcuda_kernel_table *t, char *why,
			     size_t why_len)
{
	Elf *e;
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	int rc = 0;

	*t = (struct vcuda_kernel_table){0};
	if ((rc = kernels_elf(image, len, &e, &shstrndx, why, why_len)) != 0)
		return rc;
	while (rc == 0 && (scn = elf_nextscn(e, scn)) != NULL) {
		GElf_Shdr sh;
		const char *name;
		Elf_Data *d;
		struct vcuda_kernel_info *k;
		if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(e, shstrndx, sh.sh_name)) ||
		    strncmp(name, ".nv.info.", 9) != 0 || !name[9])
			continue;
		if (!(d = elf_getdata(scn, NULL)) || (d->d_size && !d->d_buf))
			rc = kernels_fail(why, why_len, "section %s cannot be read", name);
		else if (!(k = kernels_add(t, name + 9, strlen(name + 9))))
			rc = VCUDA_E_NOMEM;
		else if ((rc = kernels_nvinfo(k, d->d_buf, d->d_size)) != 0)
			kernels_fail(why, why_len, "malformed attributes in %s", name);
	}
	elf_end(e);
	if (rc)
		vcuda_kernels_free(t);
	return rc;
}

/* ---- PTX signatures ------------------------------------------------------------------ */

static const char *ptx_skip(const char *s)
{
	for (;;) {
		while (isspace((unsigned char)*s))
			s++;
		if (s[0] == '/' && s[1] == '/') {
			while (*s && *s != '\n')
				s++;
		} else if (s[0] == '/' && s[1] == '*') {
			const char *end = strstr(s + 2, "*/");
			s = end ? end + 2 : s + strlen(s);
		} else {
			return s;
		}
	}
}

static size_t ptx_word(const char *s)
{
	size_t n = 0;

	while (isalnum((unsigned char)s[n]) || s[n] == '_' || s[n] == '$' || s[n] == '.' ||
	       s[n] == '%')
		n++;
	return n;
}

static uint32_t ptx_type_size(const char *t, size_t n)
{
	if (n >= 2 && (t[n - 1] == '8') && (t[n - 2] == 'b' || t[n - 2] == 'u' || t[n - 2] == 's'))
		return 1;
	if (n >= 3 && t[n - 2] == '1' && t[n - 1] == '6')
		return 2;
	if (n >= 3 && t[n - 2] == '3' && t[n - 1] == '2')
		return 4;
	if (n >= 3 && t[n - 2] == '6' && t[n - 1] == '4')
		return 8;
	return 0;
}

/* One ".param [.align N] [.ptr ...] .type name[[count]]"; s after ".param". */
static const char *ptx_param(const char *s, uint32_t *size, uint32_t *align)
{
	uint32_t type = 0;

	*align = 0;
	for (;;) {
		size_t n;
		s = ptx_skip(s);
		n = ptx_word(s);
		if (n == 0)
			return NULL;
		if (n == 6 && strncmp(s, ".align", 6) == 0) {
			s = ptx_skip(s + n);
			*align = (uint32_t)strtoul(s, (char **)&s, 0);
			continue;
		}
		if (s[0] == '.') {
			uint32_t t = ptx_type_size(s + 1, n - 1);
			if (t && type == 0)
				type = t;
			s += n;
			continue;
		}
		s += n; /* the name */
		break;
	}
	if (!type)
		return NULL;
	*size = type;
	s = ptx_skip(s);
	if (*s == '[') {
		unsigned long count = strtoul(s + 1, (char **)&s, 0);
		if (*s != ']' || count == 0 || count > (1u << 20))
			return NULL;
		*size = type * (uint32_t)count;
		s++;
	}
	if (!*align)
		*align = type;
	return s;
}

int vcuda_kernels_from_ptx(const char *ptx, struct vcuda_kernel_table *t, char *why, size_t why_len)
{
	const char *s = ptx;

	*t = (struct vcuda_kernel_table){0};
	while ((s = strstr(s, ".entry")) != NULL) {
		struct vcuda_kernel_info *k;
		size_t n;
		uint32_t offset = 0, ordinal = 0;
		s = ptx_skip(s + 6);
		if (!(n = ptx_word(s)) || !(k = kernels_add(t, s, n)))
			goto out_fail;
		s = ptx_skip(s + n);
		if (*s != '(')
			continue;
		s = ptx_skip(s + 1);
		while (*s != ')') {
			uint32_t size, align;
			if (strncmp(s, ".param", 6) != 0 || !(s = ptx_param(s + 6, &size, &align)))
				goto out_fail;
			offset = (offset + align - 1) / align * align;
			if (kernels_set_param(k, ordinal++, offset, size) != 0)
				goto out_fail;
			offset += size;
			s = ptx_skip(s);
			if (*s == ',')
				s = ptx_skip(s + 1);
			else if (*s != ')')
				goto out_fail;
		}
	}
	return 0;
out_fail:
	vcuda_kernels_free(t);
	return kernels_fail(why, why_len, "unreadable .entry signature in PTX");
}

const struct vcuda_kernel_info *vcuda_kernels_find(const struct vcuda_kernel_table *t,
						   const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->k[i].name, name) == 0)
			return &t->k[i];
	return NULL;
}

void vcuda_kernels_free(struct vcuda_kernel_table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->k[i].name);
		free(t->k[i].params);
	}
	free(t->k);
	*t = (struct vcuda_kernel_table){0};
}

/* ---- module variables ------------------------------------------------------------------ */

/* Whether an ELF section of this name holds module variables. */
static int globals_section(const char *name)
{
	if (strcmp(name, ".nv.global") == 0 || strcmp(name, ".nv.global.init") == 0)
		return 1;
	/* .nv.constant0.KERNEL are parameters; a bank with no kernel's name
	 * and above 0 is the module's constants. */
	if (strncmp(name, ".nv.constant", 12) != 0 || !isdigit((unsigned char)name[12]))
		return 0;
	name += 12;
	if (*name == '0')
		return 0;
	while (isdigit((unsigned char)*name))
		name++;
	return *name == 0;
}

int vcuda_globals_from_cubin(const void *image, size_t len, uint64_t *bytes, char *why,
			     size_t why_len)
{
	Elf *e;
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	int rc;

	*bytes = 0;
	if ((rc = kernels_elf(image, len, &e, &shstrndx, why, why_len)) != 0)
		return rc;
	while ((scn = elf_nextscn(e, scn)) != NULL) {
		GElf_Shdr sh;
		const char *name;
		if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(e, shstrndx, sh.sh_name)) ||
		    !globals_section(name))
			continue;
		/* A NOBITS section claims a size it does not store: bounded by
		 * the caller's quota, not by len. */
		if (sh.sh_size > (UINT64_MAX >> 2) - *bytes) {
			elf_end(e);
			return kernels_fail(why, why_len, "section %s claims %llu bytes", name,
					    (unsigned long long)sh.sh_size);
		}
		*bytes += sh.sh_size;
	}
	elf_end(e);
	return 0;
}

/* The bytes of one declarator "name[D1][D2]... [= init]" of elem bytes
 * each; s at the name, *end after it and its initializer. */
static int globals_declarator(const char *s, uint64_t elem, uint64_t *out, const char **end)
{
	size_t n = ptx_word(s);
	int depth = 0;

	if (!n)
		return -1;
	s = ptx_skip(s + n);
	*out = elem;
	while (*s == '[') {
		char *e;
		unsigned long long d = strtoull(s + 1, &e, 0);
		if (*e != ']' || (d && *out > (UINT64_MAX >> 2) / d))
			return -1;
		*out *= d ? d : 1; /* [] takes its size from the initializer: at least one */
		s = ptx_skip(e + 1);
	}
	if (*s == '=') /* skip the initializer, braces and all */
		for (s++; *s && !(depth == 0 && (*s == ',' || *s == ';')); s++)
			depth += *s == '{' ? 1 : *s == '}' ? -1 : 0;
	*end = s;
	return 0;
}

/* One ".global" or ".const" declaration; s after the state space. */
static int globals_declaration(const char *s, uint64_t *bytes, const char **end)
{
	uint64_t elem = 0, vec = 1, one;

	for (;;) {
		size_t n;
		s = ptx_skip(s);
		n = ptx_word(s);
		if (n == 0 || s[0] != '.')
			break;
		if (n == 6 && strncmp(s, ".align", 6) == 0) {
			s = ptx_skip(s + n);
			strtoul(s, (char **)&s, 0);
			continue;
		}
		if (n == 10 && strncmp(s, ".attribute", 10) == 0) {
			/* .attribute(.managed): a managed variable has pages of
			 * its own on the CPU device, so it counts as a page */
			const char *close = strchr(s, ')');
			if (!close || memchr(s, ';', (size_t)(close - s)))
				return -1;
			*bytes += 4096;
			s = close + 1;
			continue;
		}
		if (n == 3 && s[1] == 'v' && (s[2] == '2' || s[2] == '4'))
			vec = (uint64_t)(s[2] - '0');
		else if (n == 3 && strncmp(s, ".v8", 3) == 0)
			vec = 8;
		else if (!elem && (elem = ptx_type_size(s + 1, n - 1)) == 0 &&
			 strncmp(s, ".pred", 5) == 0)
			elem = 1;
		s += n;
	}
	if (!elem)
		return -1;
	for (;;) {
		if (globals_declarator(s, elem * vec, &one, &s) != 0 ||
		    one > (UINT64_MAX >> 2) - *bytes)
			return -1;
		*bytes += one;
		if (*s != ',')
			break;
		s = ptx_skip(s + 1);
	}
	*end = s;
	return *s == ';' ? 0 : -1;
}

int vcuda_globals_from_ptx(const char *ptx, uint64_t *bytes, char *why, size_t why_len)
{
	const char *s = ptx;
	int depth = 0; /* inside a function's braces */

	*bytes = 0;
	while (*(s = ptx_skip(s))) {
		size_t n = ptx_word(s);
		if (*s == '{' || *s == '}') {
			depth += *s == '{' ? 1 : -1;
			s++;
			continue;
		}
		if (*s == '"') { /* .file names */
			for (s++; *s && *s != '"' && *s != '\n'; s++)
				;
			s += *s == '"';
			continue;
		}
		if (!n) {
			s++;
			continue;
		}
		if (depth == 0 && n == 7 && strncmp(s, ".extern", 7) == 0) {
			/* declared here, defined in another module */
			while (*s && *s != ';')
				s++;
			continue;
		}
		if (depth == 0 && ((n == 7 && strncmp(s, ".global", 7) == 0) ||
				   (n == 6 && strncmp(s, ".const", 6) == 0))) {
			if (globals_declaration(s + n, bytes, &s) != 0)
				return kernels_fail(why, why_len,
						    "unreadable variable declaration in PTX");
			continue;
		}
		s += n;
	}
	return 0;
}

size_t vcuda_array_format_size(unsigned format)
{
	switch (format) {
	case CU_AD_FORMAT_UNSIGNED_INT8:
	case CU_AD_FORMAT_SIGNED_INT8:
		return 1;
	case CU_AD_FORMAT_UNSIGNED_INT16:
	case CU_AD_FORMAT_SIGNED_INT16:
	case CU_AD_FORMAT_HALF:
		return 2;
	case CU_AD_FORMAT_UNSIGNED_INT32:
	case CU_AD_FORMAT_SIGNED_INT32:
	case CU_AD_FORMAT_FLOAT:
		return 4;
	default:
		return 0;
	}
}
