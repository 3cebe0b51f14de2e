/* Device printf's formatter (dprintf.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "dprintf.h"

/* One conversion, as parsed: only checked parts go into spec. */
struct dprintf_conv {
	char spec[32]; /* "%" flags width .precision length conv, for snprintf */
	char conv;
	int wide;   /* the argument is 8 bytes (l, ll, j, z, t, L) */
	size_t len; /* characters of the format it took */
};

static size_t dprintf_digits(const char *s, int *value)
{
	size_t n = 0;
	int v = 0;

	while (s[n] >= '0' && s[n] <= '9' && n < 4) {
		v = v * 10 + (s[n] - '0');
		n++;
	}
	*value = v;
	return n;
}

/* Parses the conversion at f (which starts with '%'); 0, or -1 if it is not
 * one this formatter prints (then it is copied literally). */
static int dprintf_parse(const char *f, struct dprintf_conv *c)
{
	size_t i = 1, o = 1;
	int width = 0, prec = 0;

	c->spec[0] = '%';
	c->wide = 0;
	while (f[i] && strchr("-+ #0", f[i]) && o < 6)
		c->spec[o++] = f[i++];
	if (f[i] == '*')
		return -1;
	i += dprintf_digits(f + i, &width);
	if (f[i] >= '0' && f[i] <= '9')
		return -1; /* more than four digits */
	if (width > DPRINTF_MAX_WIDTH)
		return -1;
	if (width)
		o += (size_t)snprintf(c->spec + o, sizeof(c->spec) - o, "%d", width);
	if (f[i] == '.') {
		i++;
		if (f[i] == '*')
			return -1;
		i += dprintf_digits(f + i, &prec);
		if ((f[i] >= '0' && f[i] <= '9') || prec > DPRINTF_MAX_WIDTH)
			return -1;
		o += (size_t)snprintf(c->spec + o, sizeof(c->spec) - o, ".%d", prec);
	}
	if (f[i] == 'h') {
		c->spec[o++] = 'h';
		if (f[++i] == 'h')
			c->spec[o++] = f[i++];
	} else if (f[i] && strchr("lLjztq", f[i])) {
		c->wide = 1;
		i += (f[i] == 'l' && f[i + 1] == 'l') ? 2 : 1;
	}
	if (!f[i] || !strchr("diouxXceEfFgGaAspn", f[i]))
		return -1;
	c->conv = f[i];
	if (c->conv == 'c')
		c->wide = 0; /* %lc: the device passes a 4-byte int either way */
	if (c->wide && strchr("diouxX", c->conv)) {
		c->spec[o++] = 'l';
		c->spec[o++] = 'l';
	}
	c->spec[o++] = c->conv;
	c->spec[o] = '\0';
	c->len = i + 1;
	return 0;
}

/* Formats one parsed conversion with its argument at *argoff (aligned to
 * its size, as nvcc packs them). Returns what snprintf returns, or -1. */
static int dprintf_one(const struct dprintf_conv *c, const struct dprintf_source *src,
		       size_t *argoff, char *out, size_t cap)
{
	unsigned size = (c->wide || strchr("eEfFgGaAspn", c->conv)) ? 8 : 4;
	char str[DPRINTF_MAX_STRING];
	uint64_t v = 0;
	double d;

	*argoff = (*argoff + size - 1) / size * size;
	if (src->fetch(src->ctx, *argoff, size, &v) != 0)
		return -1;
	*argoff += size;
	switch (c->conv) {
	case 'n': /* takes its pointer, writes nothing, prints as written */
		return snprintf(out, cap, "%%n");
	case 'e':
	case 'E':
	case 'f':
	case 'F':
	case 'g':
	case 'G':
	case 'a':
	case 'A':
		memcpy(&d, &v, sizeof(d));
		return snprintf(out, cap, c->spec, d);
	case 's':
		if (src->string(src->ctx, v, str, sizeof(str)) != 0)
			snprintf(str, sizeof(str), "(bad string)");
		return snprintf(out, cap, c->spec, str);
	case 'p':
		return snprintf(out, cap, c->spec, (void *)(uintptr_t)v);
	case 'd':
	case 'i':
		return c->wide ? snprintf(out, cap, c->spec, (long long)v)
			       : snprintf(out, cap, c->spec, (int)(uint32_t)v);
	default: /* o u x X c */
		return c->wide ? snprintf(out, cap, c->spec, (unsigned long long)v)
			       : snprintf(out, cap, c->spec, (unsigned)v);
	}
}

int dprintf_format(const char *fmt, const struct dprintf_source *src, char *out, size_t cap)
{
	size_t o = 0, argoff = 0;
	const char *f = fmt;

	while (*f && o + 1 < cap) {
		struct dprintf_conv c;
		int n;

		if (f[0] != '%' || f[1] == '%' || dprintf_parse(f, &c) != 0) {
			out[o++] = *f;
			f += (f[0] == '%' && f[1] == '%') ? 2 : 1;
			continue;
		}
		if ((n = dprintf_one(&c, src, &argoff, out + o, cap - o)) < 0)
			return -1;
		o = (size_t)n < cap - o ? o + (size_t)n : cap - 1;
		f += c.len;
	}
	out[o] = '\0';
	return (int)o;
}
