/* The interpreter: integer and float arithmetic, conversions, comparisons
 * and atomics, with PTX's rounding modes and special cases. */
#include "config.h"

#include <fenv.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_int.h"
#include "util.h"

float emu_half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
	uint32_t u;

	if (exp == 0) {
		float f = ldexpf((float)man, -24);
		return sign ? -f : f;
	}
	if (exp == 31)
		u = sign | 0x7f800000u | (man << 13);
	else
		u = sign | ((exp + 112) << 23) | (man << 13);
	return f32(u);
}

uint16_t emu_float_to_half(float f)
{
	uint32_t u = (uint32_t)bf32(f), sign = (u >> 16) & 0x8000;
	float a = fabsf(f);

	if (isnan(f))
		return (uint16_t)(sign | 0x7e00);
	if (a >= 65520.0f)
		return (uint16_t)(sign | 0x7c00);
	if (a < 6.103515625e-05f) { /* subnormal: units of 2^-24, ties to even */
		return (uint16_t)(sign | (uint32_t)nearbyintf(a * 16777216.0f));
	}
	{
		int e;
		float m = frexpf(a, &e); /* a = m * 2^e, m in [0.5, 1) */
		uint32_t man = (uint32_t)nearbyintf((m * 2.0f - 1.0f) * 1024.0f);
		uint32_t exp = (uint32_t)(e - 1 + 15);
		if (man == 1024) {
			man = 0;
			exp++;
		}
		if (exp >= 31)
			return (uint16_t)(sign | 0x7c00);
		return (uint16_t)(sign | exp << 10 | man);
	}
}

/* ---- integer and float arithmetic ------------------------------------------------------ */

uint64_t emu_mul_hi(uint64_t a, uint64_t b, unsigned size, int is_signed)
{
	if (size == 8) {
		if (is_signed)
			return (uint64_t)(((__int128)(int64_t)a * (__int128)(int64_t)b) >> 64);
		return (uint64_t)(((unsigned __int128)a * b) >> 64);
	}
	if (is_signed)
		return trunc_to((uint64_t)((sext(a, size) * sext(b, size)) >> (size * 8)), size);
	return trunc_to((trunc_to(a, size) * trunc_to(b, size)) >> (size * 8), size);
}

uint64_t emu_mul_wide(uint64_t a, uint64_t b, unsigned size, int is_signed)
{
	if (is_signed)
		return trunc_to((uint64_t)(sext(a, size) * sext(b, size)), size * 2);
	return trunc_to(trunc_to(a, size) * trunc_to(b, size), size * 2);
}

uint64_t emu_int_sat_add(uint64_t a, uint64_t b, int sub)
{
	int64_t r = sub ? (int64_t)(int32_t)a - (int32_t)b : (int64_t)(int32_t)a + (int32_t)b;

	if (r > INT32_MAX)
		r = INT32_MAX;
	if (r < INT32_MIN)
		r = INT32_MIN;
	return (uint32_t)r;
}

uint64_t emu_int_op(const struct ptx_insn *in, uint64_t a, uint64_t b, uint64_t c)
{
	unsigned size = PTX_SIZE(in->type);
	int s = PTX_KIND(in->type) == PK_S;
	int64_t sa = sext(a, size), sb = sext(b, size);
	uint64_t ua = trunc_to(a, size), ub = trunc_to(b, size), r;

	switch (in->op) {
	case OP_ADD:
		return (in->mods & MOD_SAT) ? emu_int_sat_add(a, b, 0) : trunc_to(a + b, size);
	case OP_SUB:
		return (in->mods & MOD_SAT) ? emu_int_sat_add(a, b, 1) : trunc_to(a - b, size);
	case OP_MUL:
		if (in->mods & MOD_WIDE)
			return emu_mul_wide(a, b, size, s);
		if (in->mods & MOD_HI)
			return emu_mul_hi(a, b, size, s);
		return trunc_to(a * b, size);
	case OP_MAD:
		if (in->mods & MOD_WIDE)
			return trunc_to(emu_mul_wide(a, b, size, s) + c, size * 2);
		if (in->mods & MOD_HI)
			r = emu_mul_hi(a, b, size, s) + c;
		else
			r = a * b + c;
		return trunc_to(r, size);
	case OP_MUL24:
	case OP_MAD24: {
		int64_t x = s ? sext(a << 8, 4) >> 8 : (int64_t)(a & 0xffffff);
		int64_t y = s ? sext(b << 8, 4) >> 8 : (int64_t)(b & 0xffffff);
		int64_t p = x * y;
		r = (in->mods & MOD_HI) ? (uint64_t)(p >> 16) : (uint64_t)p;
		return trunc_to(r + (in->op == OP_MAD24 ? c : 0), 4);
	}
	case OP_DIV:
		if (ub == 0)
			return trunc_to(~0ull, size);
		if (s)
			return (sb == -1 && sa == INT64_MIN >> (64 - size * 8))
				   ? ua
				   : trunc_to((uint64_t)(sa / sb), size);
		return ua / ub;
	case OP_REM:
		if (ub == 0)
			return ua;
		if (s)
			return sb == -1 ? 0 : trunc_to((uint64_t)(sa % sb), size);
		return ua % ub;
	case OP_MIN:
		return s ? trunc_to((uint64_t)(sa < sb ? sa : sb), size) : (ua < ub ? ua : ub);
	case OP_MAX:
		return s ? trunc_to((uint64_t)(sa > sb ? sa : sb), size) : (ua > ub ? ua : ub);
	case OP_ABS:
		return trunc_to((uint64_t)(sa < 0 ? -sa : sa), size);
	case OP_NEG:
		return trunc_to((uint64_t)-sa, size);
	case OP_AND:
		return ua & ub;
	case OP_OR:
		return ua | ub;
	case OP_XOR:
		return ua ^ ub;
	case OP_NOT:
		return trunc_to(~a, size);
	case OP_CNOT:
		return ua == 0;
	case OP_SHL:
		return (b & 0xffffffff) >= size * 8 ? 0 : trunc_to(a << (b & 0xffffffff), size);
	case OP_SHR:
		if ((b & 0xffffffff) >= size * 8)
			return s && sa < 0 ? trunc_to(~0ull, size) : 0;
		return s ? trunc_to((uint64_t)(sa >> (b & 0xffffffff)), size)
			 : ua >> (b & 0xffffffff);
	case OP_POPC:
		return (uint64_t)__builtin_popcountll(ua);
	case OP_CLZ:
		return ua ? (uint64_t)(__builtin_clzll(ua) - (64 - (int)size * 8)) : size * 8;
	case OP_BREV: {
		r = 0;
		for (unsigned i = 0; i < size * 8; i++)
			r |= ((ua >> i) & 1) << (size * 8 - 1 - i);
		return r;
	}
	case OP_BFIND: {
		int64_t pos = -1;
		uint64_t v = s && sa < 0 ? trunc_to(~ua, size) : ua;
		if (v)
			pos = 63 - __builtin_clzll(v);
		if (pos >= 0 && (in->mods & MOD_SHIFTAMT))
			pos = (int64_t)size * 8 - 1 - pos;
		return pos < 0 ? 0xffffffffu : (uint64_t)pos;
	}
	case OP_BFE: {
		unsigned pos = b & 0xff, len = c & 0xff, bits = size * 8;
		uint64_t field;
		int sbit;
		if (len == 0)
			return 0;
		field = pos >= bits ? 0 : ua >> pos;
		if (len < 64)
			field &= (1ull << len) - 1;
		if (!s)
			return field;
		sbit = (int)((pos + len - 1 >= bits ? bits - 1 : pos + len - 1));
		if ((ua >> sbit) & 1)
			field |= len < 64 ? ~((1ull << len) - 1) : 0;
		return trunc_to(field, size);
	}
	default:
		return 0;
	}
}

uint64_t emu_bfi(uint64_t a, uint64_t b, uint64_t c, uint64_t d, unsigned size)
{
	unsigned pos = c & 0xff, len = d & 0xff, bits = size * 8;
	uint64_t mask;

	if (len == 0 || pos >= bits)
		return trunc_to(b, size);
	mask = (len >= 64 ? ~0ull : ((1ull << len) - 1)) << pos;
	return trunc_to((b & ~mask) | ((a << pos) & mask), size);
}

uint32_t emu_lop3(uint32_t a, uint32_t b, uint32_t c, uint32_t lut)
{
	uint32_t r = 0;

	for (int i = 0; i < 8; i++) {
		uint32_t term = ((i & 4) ? a : ~a) & ((i & 2) ? b : ~b) & ((i & 1) ? c : ~c);
		if (lut & (1u << i))
			r |= term;
	}
	return r;
}

uint32_t emu_prmt(uint32_t a, uint32_t b, uint32_t sel)
{
	uint64_t src = (uint64_t)b << 32 | a;
	uint32_t r = 0;

	for (int i = 0; i < 4; i++) {
		uint32_t s = (sel >> (i * 4)) & 0xf;
		uint32_t byte = (uint32_t)(src >> ((s & 7) * 8)) & 0xff;
		if (s & 8)
			byte = (byte & 0x80) ? 0xff : 0;
		r |= byte << (i * 8);
	}
	return r;
}

uint32_t emu_shf(uint32_t a, uint32_t b, uint32_t n, int left, int clamp)
{
	uint64_t v = (uint64_t)b << 32 | a;

	n = clamp ? (n > 32 ? 32 : n) : (n & 31);
	return left ? (uint32_t)((v << n) >> 32) : (uint32_t)(v >> n);
}

int emu_set_round(uint32_t mods)
{
	int mode = FE_TONEAREST, old = fegetround();

	if (mods & MOD_RZ)
		mode = FE_TOWARDZERO;
	else if (mods & MOD_RM)
		mode = FE_DOWNWARD;
	else if (mods & MOD_RP)
		mode = FE_UPWARD;
	if (mode != old)
		fesetround(mode);
	return old;
}

double emu_float_op(const struct ptx_insn *in, double a, double b, double c)
{
	switch (in->op) {
	case OP_ADD:
		return a + b;
	case OP_SUB:
		return a - b;
	case OP_MUL:
		return a * b;
	case OP_FMA:
	case OP_MAD:
		return PTX_SIZE(in->type) == 4 ? (double)fmaf((float)a, (float)b, (float)c)
					       : fma(a, b, c);
	case OP_DIV:
		return a / b;
	case OP_ABS:
		return fabs(a);
	case OP_NEG:
		return -a;
	case OP_MIN:
		if (isnan(a) || isnan(b))
			return (in->mods & MOD_NAN) ? NAN : isnan(a) ? b : a;
		if (a == b && a == 0)
			return signbit(a) ? a : b;
		return a < b ? a : b;
	case OP_MAX:
		if (isnan(a) || isnan(b))
			return (in->mods & MOD_NAN) ? NAN : isnan(a) ? b : a;
		if (a == b && a == 0)
			return signbit(a) ? b : a;
		return a > b ? a : b;
	case OP_RCP:
		return 1.0 / a;
	case OP_SQRT:
		return sqrt(a);
	case OP_RSQRT:
		return 1.0 / sqrt(a);
	case OP_SIN:
		return sin(a);
	case OP_COS:
		return cos(a);
	case OP_LG2:
		return log2(a);
	case OP_EX2:
		return exp2(a);
	case OP_TANH:
		return tanh(a);
	case OP_COPYSIGN:
		return copysign(b, a);
	default:
		return 0;
	}
}

/* Float arithmetic in the instruction's precision: f32 operations are done in
 * float so that results round as the device rounds them. */
uint64_t emu_float_exec(const struct ptx_insn *in, uint64_t ra, uint64_t rb, uint64_t rc)
{
	unsigned size = PTX_SIZE(in->type);
	int ftz = in->mods & MOD_FTZ;

	if (size == 4) {
		float a = f32(ra), b = f32(rb), c = f32(rc), r;
		if (ftz) {
			a = ftz32(a);
			b = ftz32(b);
			c = ftz32(c);
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
			r = fmaf(a, b, c);
			break;
		case OP_DIV:
			r = a / b;
			break;
		case OP_RCP:
			r = 1.0f / a;
			break;
		case OP_SQRT:
			r = sqrtf(a);
			break;
		case OP_RSQRT:
			r = 1.0f / sqrtf(a);
			break;
		case OP_SIN:
			r = sinf(a);
			break;
		case OP_COS:
			r = cosf(a);
			break;
		case OP_LG2:
			r = log2f(a);
			break;
		case OP_EX2:
			r = exp2f(a);
			break;
		case OP_TANH:
			r = tanhf(a);
			break;
		default:
			r = (float)emu_float_op(in, a, b, c);
			break;
		}
		if (ftz)
			r = ftz32(r);
		if (in->mods & MOD_SAT)
			r = sat32(r);
		return bf32(r);
	}
	{
		double a = fval(ra, size), b = fval(rb, size), c = fval(rc, size);
		double r = emu_float_op(in, a, b, c);
		if (size == 8 && ftz)
			r = ftz64(r);
		if (in->mods & MOD_SAT)
			r = sat64(r);
		return fbits(r, size);
	}
}

int emu_compare(int cmp, uint8_t type, uint64_t a, uint64_t b)
{
	unsigned size = PTX_SIZE(type);

	if (PTX_KIND(type) == PK_F || PTX_KIND(type) == PK_BF || PTX_KIND(type) == PK_X) {
		double x = emu_float_value(type, a & (emu_is_small_float(type) ? 0xffff : ~0ull)),
		       y = emu_float_value(type, b & (emu_is_small_float(type) ? 0xffff : ~0ull));
		int unord = isnan(x) || isnan(y);
		switch (cmp) {
		case CMP_EQ:
			return !unord && x == y;
		case CMP_NE:
			return !unord && x != y;
		case CMP_LT:
			return !unord && x < y;
		case CMP_LE:
			return !unord && x <= y;
		case CMP_GT:
			return !unord && x > y;
		case CMP_GE:
			return !unord && x >= y;
		case CMP_EQU:
			return unord || x == y;
		case CMP_NEU:
			return unord || x != y;
		case CMP_LTU:
			return unord || x < y;
		case CMP_LEU:
			return unord || x <= y;
		case CMP_GTU:
			return unord || x > y;
		case CMP_GEU:
			return unord || x >= y;
		case CMP_NUM:
			return !unord;
		case CMP_NAN:
			return unord;
		default:
			return 0;
		}
	}
	if (PTX_KIND(type) == PK_S) {
		int64_t x = sext(a, size), y = sext(b, size);
		switch (cmp) {
		case CMP_EQ:
			return x == y;
		case CMP_NE:
			return x != y;
		case CMP_LT:
			return x < y;
		case CMP_LE:
			return x <= y;
		case CMP_GT:
			return x > y;
		case CMP_GE:
			return x >= y;
		default:
			break;
		}
	}
	{
		uint64_t x = trunc_to(a, size), y = trunc_to(b, size);
		switch (cmp) {
		case CMP_EQ:
			return x == y;
		case CMP_NE:
			return x != y;
		case CMP_LT:
		case CMP_LO:
			return x < y;
		case CMP_LE:
		case CMP_LS:
			return x <= y;
		case CMP_GT:
		case CMP_HI:
			return x > y;
		case CMP_GE:
		case CMP_HS:
			return x >= y;
		default:
			return 0;
		}
	}
}

uint64_t emu_saturate_int(double d, uint8_t type)
{
	unsigned size = PTX_SIZE(type);

	if (isnan(d))
		return 0;
	if (PTX_KIND(type) == PK_S) {
		double lo = -ldexp(1.0, (int)size * 8 - 1), hi = ldexp(1.0, (int)size * 8 - 1) - 1;
		if (d <= lo)
			return trunc_to((uint64_t)(int64_t)lo, size);
		if (d >= hi)
			return size == 8 ? (uint64_t)INT64_MAX
					 : trunc_to((uint64_t)(int64_t)hi, size);
		return trunc_to((uint64_t)(int64_t)d, size);
	}
	if (d <= 0)
		return 0;
	if (d >= ldexp(1.0, (int)size * 8))
		return trunc_to(~0ull, size);
	return (uint64_t)d;
}

double emu_round_integral(double d, uint32_t mods)
{
	if (mods & MOD_RZ)
		return trunc(d);
	if (mods & MOD_RM)
		return floor(d);
	if (mods & MOD_RP)
		return ceil(d);
	return nearbyint(d);
}

uint64_t emu_convert(const struct ptx_insn *in, uint64_t v)
{
	uint8_t dt = in->type, st = in->type2;
	unsigned ds = PTX_SIZE(dt), ss = PTX_SIZE(st);
	int dk = PTX_KIND(dt), sk = PTX_KIND(st);

	if (emu_is_small_float(dt) || emu_is_small_float(st))
		return emu_convert_small(in, v, 0, 0);
	if (sk == PK_F) {
		double x = sk == PK_BF ? (double)f32((uint32_t)(v & 0xffff) << 16) : fval(v, ss);
		if (in->mods & MOD_FTZ)
			x = ss == 4 ? (double)ftz32((float)x) : x;
		if (dk == PK_F) {
			if (in->mods & MOD_INTRND)
				x = emu_round_integral(x, in->mods);
			if (ds == 4 && ss == 8 && (in->mods & (MOD_RZ | MOD_RM | MOD_RP))) {
				int old = emu_set_round(in->mods);
				volatile float f = (float)x;
				fesetround(old);
				x = f;
			}
			if (in->mods & MOD_SAT)
				x = sat64(x);
			if (ds == 4 && (in->mods & MOD_FTZ))
				x = ftz32((float)x);
			return fbits(x, ds);
		}
		if (dk == PK_BF) {
			uint32_t u = (uint32_t)bf32((float)x);
			if (isnan(x))
				return 0x7fff;
			u += 0x7fff + ((u >> 16) & 1);
			return u >> 16;
		}
		return emu_saturate_int(
		    emu_round_integral(x, in->mods | ((in->mods & MOD_ROUND) ? 0 : MOD_RZ)), dt);
	}
	{
		int64_t si = sext(v, ss);
		uint64_t ui = trunc_to(v, ss);
		if (dk == PK_F) {
			int old =
			    (in->mods & (MOD_RZ | MOD_RM | MOD_RP)) ? emu_set_round(in->mods) : -1;
			uint64_t r;
			if (ds == 8)
				r = bf64(sk == PK_S ? (double)si : (double)ui);
			else if (ds == 4)
				r = bf32(sk == PK_S ? (float)si : (float)ui);
			else
				r = emu_float_to_half(sk == PK_S ? (float)si : (float)ui);
			if (old >= 0)
				fesetround(old);
			return r;
		}
		if (in->mods & MOD_SAT) {
			double d = sk == PK_S ? (double)si : (double)ui;
			return emu_saturate_int(d, dt);
		}
		if (dk == PK_S && ds > ss)
			return trunc_to((uint64_t)si, ds);
		if (sk == PK_S && ds > ss)
			return trunc_to((uint64_t)si, ds);
		return trunc_to(ui, ds);
	}
}

int emu_testp(int sub, int cls)
{
	switch (sub) {
	case SUB_FINITE:
		return cls != FP_INFINITE && cls != FP_NAN;
	case SUB_INFINITE:
		return cls == FP_INFINITE;
	case SUB_NUMBER:
		return cls != FP_NAN;
	case SUB_NOTANUMBER:
		return cls == FP_NAN;
	case SUB_NORMAL:
		return cls == FP_NORMAL;
	case SUB_SUBNORMAL:
		return cls == FP_SUBNORMAL;
	default:
		return 0;
	}
}

/* ---- atomics ------------------------------------------------------------------------- */

uint64_t emu_atomic_new(int sub, uint8_t type, uint64_t old, uint64_t b, uint64_t c)
{
	unsigned size = PTX_SIZE(type);
	int k = PTX_KIND(type);

	if (emu_is_small_float(type) && (sub == SUB_ADD || sub == SUB_MIN || sub == SUB_MAX)) {
		/* f16, bf16 and their pairs: the arithmetic of add/min/max */
		struct ptx_insn op = {.type = type,
				      .op = sub == SUB_ADD   ? OP_ADD
					    : sub == SUB_MIN ? OP_MIN
							     : OP_MAX};
		return emu_half_exec(&op, old, b, 0);
	}
	switch (sub) {
	case SUB_ADD:
		if (k == PK_F)
			return size == 8   ? bf64(f64(old) + f64(b))
			       : size == 4 ? bf32(f32(old) + f32(b))
					   : emu_float_to_half(emu_half_to_float((uint16_t)old) +
							       emu_half_to_float((uint16_t)b));
		return trunc_to(old + b, size);
	case SUB_INC:
		return trunc_to(old, size) >= trunc_to(b, size) ? 0 : trunc_to(old + 1, size);
	case SUB_DEC:
		return (trunc_to(old, size) == 0 || trunc_to(old, size) > trunc_to(b, size))
			   ? trunc_to(b, size)
			   : trunc_to(old - 1, size);
	case SUB_MIN:
		if (k == PK_F)
			return fbits(fmin(fval(old, size), fval(b, size)), size);
		if (k == PK_S)
			return sext(old, size) < sext(b, size) ? trunc_to(old, size)
							       : trunc_to(b, size);
		return trunc_to(old, size) < trunc_to(b, size) ? trunc_to(old, size)
							       : trunc_to(b, size);
	case SUB_MAX:
		if (k == PK_F)
			return fbits(fmax(fval(old, size), fval(b, size)), size);
		if (k == PK_S)
			return sext(old, size) > sext(b, size) ? trunc_to(old, size)
							       : trunc_to(b, size);
		return trunc_to(old, size) > trunc_to(b, size) ? trunc_to(old, size)
							       : trunc_to(b, size);
	case SUB_AND:
		return old & b;
	case SUB_OR:
		return old | b;
	case SUB_XOR:
		return old ^ b;
	case SUB_EXCH:
		return trunc_to(b, size);
	case SUB_CAS:
		return trunc_to(old, size) == trunc_to(b, size) ? trunc_to(c, size)
								: trunc_to(old, size);
	default:
		return old;
	}
}

/* One atomic read-modify-write; real atomics where other host threads may
 * touch the memory (global), plain ones in shared and local memory. */
uint64_t emu_atomic_rmw(uint8_t *p, int shared, int sub, uint8_t type, uint64_t b, uint64_t c)
{
	unsigned size = PTX_SIZE(type);
	uint64_t old = 0, nv;

	if (shared || (size != 4 && size != 8)) {
		memcpy(&old, p, size);
		nv = emu_atomic_new(sub, type, old, b, c);
		memcpy(p, &nv, size);
		return PTX_KIND(type) == PK_S ? (uint64_t)sext(old, size) : old;
	}
	if (size == 4) {
		uint32_t o = __atomic_load_n((uint32_t *)p, __ATOMIC_RELAXED), n;
		do {
			n = (uint32_t)emu_atomic_new(sub, type, o, b, c);
		} while (!__atomic_compare_exchange_n((uint32_t *)p, &o, n, 1, __ATOMIC_SEQ_CST,
						      __ATOMIC_RELAXED));
		return PTX_KIND(type) == PK_S ? (uint64_t)(int64_t)(int32_t)o : o;
	} else {
		uint64_t o = __atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED), n;
		do {
			n = emu_atomic_new(sub, type, o, b, c);
		} while (!__atomic_compare_exchange_n((uint64_t *)p, &o, n, 1, __ATOMIC_SEQ_CST,
						      __ATOMIC_RELAXED));
		return o;
	}
}
