#include "config.h"

#include <ctype.h>
#include <gelf.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int vcuda_kernels_from_cubin(const void *image, size_t len, struct vcuda_kernel_table *t, char *why,
			     size_t why_len)
{
	Elf *e;
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	int rc = 0;

	*t = (struct vcuda_kernel_table){0};
	if (elf_version(EV_CURRENT) == EV_NONE)
		return kernels_fail(why, why_len, "libelf is unusable");
	if (!(e = elf_memory((char *)image, len)) || elf_kind(e) != ELF_K_ELF ||
	    elf_getshdrstrndx(e, &shstrndx) != 0) {
		if (e)
			elf_end(e);
		return kernels_fail(why, why_len, "not an ELF cubin");
	}
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
