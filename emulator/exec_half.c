/*
 * The interpreter's small floating-point formats: f16 and bf16 arithmetic,
 * scalar and packed in pairs (.f16x2, .bf16x2), and conversions among f16,
 * bf16, tf32, the two 8-bit formats (e4m3, e5m2) and f32/f64.
 *
 * Every value is widened to double, where the format's operations are
 * exact or round innocuously (double has more than twice the precision
 * plus two bits of any of these formats), and the result is rounded once
 * to the format by fmt_round, in the instruction's rounding mode.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>

#include "exec_int.h"

struct fmt_desc {
	int mant;     /* stored mantissa bits */
	int ebits;    /* exponent bits */
	int has_inf;  /* all-ones exponent means infinity/NaN (not e4m3) */
	uint32_t nan; /* the canonical NaN a GPU produces */
	double max;   /* largest finite value */
};

static const struct fmt_desc formats[] = {
    [EMU_FMT_F16] = {10, 5, 1, 0x7fff, 65504.0},
    [EMU_FMT_BF16] = {7, 8, 1, 0x7fff, 0x1.fep127},
    [EMU_FMT_TF32] = {10, 8, 1, 0x7fffffff, 0x1.ffcp127},
    [EMU_FMT_E4M3] = {3, 4, 0, 0x7f, 448.0},
    [EMU_FMT_E5M2] = {2, 5, 1, 0x7f, 57344.0},
};

/* tf32 is stored as an f32 whose 13 low mantissa bits are zero. */
static int stored_mant(int fmt)
{
	return fmt == EMU_FMT_TF32 ? 23 : formats[fmt].mant;
}

double emu_fmt_to_double(uint32_t bits, int fmt)
{
	const struct fmt_desc *d = &formats[fmt];
	int mant = stored_mant(fmt), bias = (1 << (d->ebits - 1)) - 1;
	uint32_t man = bits & ((1u << mant) - 1), exp = (bits >> mant) & ((1u << d->ebits) - 1);
	int sign = (bits >> (mant + d->ebits)) & 1;
	double v;

	if (d->has_inf && exp == (1u << d->ebits) - 1)
		v = man ? NAN : INFINITY;
	else if (!d->has_inf && exp == (1u << d->ebits) - 1 && man == (1u << mant) - 1)
		v = NAN;
	else if (exp == 0)
		v = ldexp((double)man, 1 - bias - mant);
	else
		v = ldexp((double)(man | 1u << mant), (int)exp - bias - mant);
	return sign ? -v : v;
}

/* x rounded to an integer by mode; neg: the value's sign, for the directed modes. */
static double round_scaled(double s, int mode, int neg)
{
	double fl = floor(s), frac = s - fl;

	switch (mode) {
	case EMU_RND_RZ:
		return fl;
	case EMU_RND_RM:
		return neg ? ceil(s) : fl;
	case EMU_RND_RP:
		return neg ? fl : ceil(s);
	case EMU_RND_RNA:
		return frac >= 0.5 ? fl + 1 : fl;
	default:
		return frac > 0.5 || (frac == 0.5 && fmod(fl, 2.0) != 0) ? fl + 1 : fl;
	}
}

uint32_t emu_fmt_round(double x, int fmt, int mode, int satfinite)
{
	const struct fmt_desc *d = &formats[fmt];
	int mant = d->mant, bias = (1 << (d->ebits - 1)) - 1, emin = 1 - bias, e;
	int neg = signbit(x) != 0, sbit = stored_mant(fmt) + d->ebits;
	uint32_t sign = (uint32_t)neg << sbit, inf = ((1u << d->ebits) - 1) << stored_mant(fmt);
	double a = fabs(x), v;

	if (isnan(x))
		return d->nan;
	if (isinf(a))
		return satfinite    ? sign | emu_fmt_round(d->max, fmt, EMU_RND_RZ, 1)
		       : d->has_inf ? sign | inf
				    : d->nan;
	if (a > d->max) {
		/* Overflow: to the largest finite value where the mode rounds
		 * towards zero or saturates, else to infinity (NaN in e4m3). */
		int to_max = satfinite || mode == EMU_RND_RZ || (mode == EMU_RND_RM && !neg) ||
			     (mode == EMU_RND_RP && neg);
		if (!to_max) {
			/* A finite value that still rounds down to max stays max. */
			frexp(d->max, &e);
			v = round_scaled(a / ldexp(1.0, e - 1 - mant), mode, neg) *
			    ldexp(1.0, e - 1 - mant);
			to_max = v <= d->max;
		}
		if (to_max)
			return sign | emu_fmt_round(d->max, fmt, EMU_RND_RZ, 1);
		return d->has_inf ? sign | inf : d->nan;
	}
	if (a == 0)
		return sign;
	frexp(a, &e);
	e -= 1; /* a in [2^e, 2^(e+1)) */
	if (e < emin)
		e = emin;
	v = round_scaled(a / ldexp(1.0, e - mant), mode, neg) * ldexp(1.0, e - mant);
	if (v == 0)
		return sign;
	frexp(v, &e);
	e -= 1;
	if (e < emin) /* subnormal */
		return sign | (uint32_t)(v / ldexp(1.0, emin - mant)) << (stored_mant(fmt) - mant);
	return sign | (uint32_t)(e + bias) << stored_mant(fmt) |
	       ((uint32_t)(v / ldexp(1.0, e - mant)) - (1u << mant)) << (stored_mant(fmt) - mant);
}

int emu_rounding_of(uint32_t mods)
{
	return (mods & MOD_RZ)	  ? EMU_RND_RZ
	       : (mods & MOD_RM)  ? EMU_RND_RM
	       : (mods & MOD_RP)  ? EMU_RND_RP
	       : (mods & MOD_RNA) ? EMU_RND_RNA
				  : EMU_RND_RN;
}

int emu_fmt_of(uint8_t type)
{
	switch (type) {
	case PT_F16:
	case PT_F16X2:
		return EMU_FMT_F16;
	case PT_BF16:
	case PT_BF16X2:
		return EMU_FMT_BF16;
	case PT_TF32:
		return EMU_FMT_TF32;
	case PT_E4M3X2:
		return EMU_FMT_E4M3;
	case PT_E5M2X2:
		return EMU_FMT_E5M2;
	default:
		return -1;
	}
}

static double flush(double v, int fmt)
{
	double tiny = ldexp(1.0, 2 - (1 << (formats[fmt].ebits - 1)));

	return fabs(v) < tiny ? copysign(0.0, v) : v;
}

/* One element of a half-precision op. */
static uint32_t half_op(const struct ptx_insn *in, int fmt, uint32_t ra, uint32_t rb, uint32_t rc)
{
	double a = emu_fmt_to_double(ra, fmt), b = emu_fmt_to_double(rb, fmt),
	       c = emu_fmt_to_double(rc, fmt), r;
	int ftz = (in->mods & MOD_FTZ) != 0;

	if (in->op == OP_NEG || in->op == OP_ABS) { /* sign bit only, NaN included */
		if (ftz && fabs(a) < ldexp(1.0, -14) && !isnan(a))
			ra &= 0x8000;
		return in->op == OP_NEG ? ra ^ 0x8000 : ra & 0x7fff;
	}
	if (ftz) {
		a = flush(a, fmt);
		b = flush(b, fmt);
		c = flush(c, fmt);
	}
	switch (in->op) {
	case OP_ADD:
		r = a + b;
		break;
	case OP_SUB:
		r = a - b;
		break;
	case OP_MUL:
		r = a * b;
		break;
	case OP_FMA:
	case OP_MAD:
		r = fma(a, b, c);
		break;
	case OP_MIN:
	case OP_MAX:
		if (in->mods & MOD_ABS) {
			int s = signbit(a) != signbit(b);
			r = emu_float_op(in, fabs(a), fabs(b), 0);
			if ((in->mods & MOD_XORSIGN) && !isnan(r))
				r = s ? -r : r;
		} else {
			r = emu_float_op(in, a, b, 0);
		}
		break;
	case OP_EX2:
		r = exp2(a);
		break;
	case OP_TANH:
		r = tanh(a);
		break;
	default:
		r = emu_float_op(in, a, b, c);
		break;
	}
	if (isnan(r))
		return formats[fmt].nan;
	if ((in->mods & MOD_RELU) && r < 0)
		r = 0;
	if (in->mods & MOD_SAT)
		r = isnan(r) ? 0 : r < 0 ? 0 : r > 1 ? 1 : r;
	if (ftz)
		r = flush(r, fmt);
	return emu_fmt_round(r, fmt, emu_rounding_of(in->mods), 0);
}

uint64_t emu_half_exec(const struct ptx_insn *in, uint64_t ra, uint64_t rb, uint64_t rc)
{
	int fmt = emu_fmt_of(in->type), n = (in->type & 0x80) ? 2 : 1;
	uint64_t r = 0;

	for (int h = 0; h < n; h++) {
		unsigned sh = (unsigned)h * 16;
		r |= (uint64_t)half_op(in, fmt, (uint32_t)(ra >> sh) & 0xffff,
				       (uint32_t)(rb >> sh) & 0xffff, (uint32_t)(rc >> sh) & 0xffff)
		     << sh;
	}
	return r;
}

int emu_is_small_float(uint8_t type)
{
	return emu_fmt_of(type) >= 0;
}

/* The value of an operand of a float type (any width or format). */
double emu_float_value(uint8_t type, uint64_t v)
{
	int fmt = emu_fmt_of(type);

	if (fmt >= 0)
		return emu_fmt_to_double((uint32_t)v, fmt);
	return PTX_SIZE(type) == 8 ? f64(v) : (double)f32(v);
}

/* cvt where either side is a small format: v is the source (a, or the
 * first of two sources for packed destinations, b the second). */
uint64_t emu_convert_small(const struct ptx_insn *in, uint64_t v, uint64_t b, int two)
{
	uint8_t dt = in->type, st = in->type2;
	int dfmt = emu_fmt_of(dt), sfmt = emu_fmt_of(st), mode = emu_rounding_of(in->mods);
	int sat = (in->mods & MOD_SATFINITE) != 0, relu = (in->mods & MOD_RELU) != 0;
	int dk = PTX_KIND(dt), sk = PTX_KIND(st);
	unsigned dn = (dt & 0x80) || dfmt == EMU_FMT_E4M3 || dfmt == EMU_FMT_E5M2 ? 2 : 1;
	unsigned sn = (st & 0x80) || sfmt == EMU_FMT_E4M3 || sfmt == EMU_FMT_E5M2 ? 2 : 1;
	unsigned dw = dfmt >= 0 ? (dfmt >= EMU_FMT_E4M3 ? 8 : dfmt == EMU_FMT_TF32 ? 32 : 16) : 0;
	unsigned sw = sfmt >= 0 ? (sfmt >= EMU_FMT_E4M3 ? 8 : sfmt == EMU_FMT_TF32 ? 32 : 16) : 0;
	double x[2];
	uint64_t r = 0;

	/* The source values: element 0 is the low one. */
	for (unsigned i = 0; i < 2; i++) {
		uint64_t src = v;
		unsigned idx = i;
		if (sn == 1 && dn == 2) { /* two scalar sources: a is the high element */
			src = i == 0 ? (two ? b : v) : v;
			idx = 0;
		}
		if (sfmt >= 0)
			x[i] = emu_fmt_to_double(
			    (uint32_t)(src >> (idx * sw)) & (uint32_t)((1ull << sw) - 1), sfmt);
		else if (sk == PK_F)
			x[i] = PTX_SIZE(st) == 8 ? f64(src) : (double)f32(src);
		else if (sk == PK_S)
			x[i] = (double)sext(src, PTX_SIZE(st));
		else
			x[i] = (double)trunc_to(src, PTX_SIZE(st));
		if ((in->mods & MOD_FTZ) && PTX_SIZE(st) == 4 && sk == PK_F)
			x[i] = ftz32((float)x[i]);
	}
	for (unsigned i = 0; i < dn; i++) {
		double y = x[i];
		if (relu && !isnan(y) && y < 0)
			y = 0;
		if (dfmt >= 0) {
			if (in->mods & MOD_INTRND)
				y = emu_round_integral(y, in->mods);
			if (in->mods & MOD_SAT)
				y = isnan(y) ? 0 : y < 0 ? 0 : y > 1 ? 1 : y;
			r |= (uint64_t)emu_fmt_round(
				 y, dfmt, (in->mods & MOD_INTRND) ? EMU_RND_RN : mode, sat)
			     << (i * dw);
		} else if (dk == PK_F && isnan(y) && sfmt >= 0) {
			/* Widening keeps a NaN's sign and payload, quieted. */
			uint32_t bits = (uint32_t)(v >> (i * sw)), mb = (uint32_t)stored_mant(sfmt);
			uint64_t sign = (bits >> (sw - 1)) & 1, pay = bits & ((1u << mb) - 1);
			r = PTX_SIZE(dt) == 8
				? sign << 63 | 0x7ff8000000000000ull | pay << (52 - mb)
				: sign << 31 | 0x7fc00000u | pay << (23 - mb);
		} else if (dk == PK_F) {
			if (in->mods & MOD_SAT)
				y = isnan(y) ? 0 : y < 0 ? 0 : y > 1 ? 1 : y;
			r = PTX_SIZE(dt) == 8 ? bf64(y) : bf32((float)y);
		} else { /* integer destination */
			r = emu_saturate_int(
			    emu_round_integral(y, in->mods | ((in->mods & MOD_ROUND) ? 0 : MOD_RZ)),
			    dt);
		}
	}
	return r;
}
