/*
 * The PTX front end and interpreter, one instruction family at a time:
 * small kernels run on 32 lanes of inputs, checked against the values the
 * PTX ISA defines, computed here on the host.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include <cuda.h>

#include "ptx.h"

static CUcontext ctx;
static CUdeviceptr d_in, d_out;

/* Inputs: a[i] in word i, b[i] in word 32 + i, c[i] in word 64 + i. */
static uint32_t A[32], B[32], C[32];
static const float FA[32] = {
    0,	      1,	   -1,	      0.5f, -0.5f, 3.25f,  -7.75f,	  1e30f,	  -1e30f,
    1e-40f,   INFINITY,	   -INFINITY, NAN,  2.5f,  -2.5f,  3.5f,	  -3.5f,	  100.49f,
    -0.0f,    16777217.0f, 0.1f,      0.2f, 1e10f, -1e10f, 2147483648.0f, -2147483904.0f, 65504.0f,
    70000.0f, 1.0f / 3,	   7,	      8,    9};

static int setup(void **state)
{
	CUdevice dev;

	setenv("VCUDA_CPU_MEMORY", "64M", 1);
	setenv("VCUDA_CPU_CC", "9.0", 1); /* clusters; PTX for sm_80 loads too */
	if (cuInit(0) || cuDeviceGet(&dev, 0) || cuCtxCreate(&ctx, NULL, 0, dev))
		return -1;
	if (cuMemAlloc(&d_in, 3 * 32 * 8) || cuMemAlloc(&d_out, 32 * 8 * 2))
		return -1;
	for (uint32_t i = 0; i < 32; i++) {
		A[i] = i * 2654435761u ^ (i << 28);
		B[i] = (i * 40503u) ^ 0x80000000u * (i & 1);
		C[i] = i * 7 + 1;
	}
	B[3] = 0;
	B[4] = 33;
	A[5] = 0x80000000u;
	B[5] = 0xffffffffu;
	return 0;
}

static int teardown(void **state)
{
	cuCtxDestroy(ctx);
	return 0;
}

/* A kernel: i = %tid.x; %r1 = a[i]; %r2 = b[i]; %r4 = c[i]; BODY; out[i] = %rd9 (64 bit). */
static CUresult run_body(const char *decls, const char *body, uint64_t *out, const void *in,
			 size_t in_len, char *log, size_t log_len)
{
	char ptx[8192];
	CUmodule mod;
	CUfunction f;
	CUresult rc;
	CUjit_option opts[2] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
	void *vals[2] = {log, (void *)(uintptr_t)log_len};
	void *args[] = {&d_out, &d_in};

	snprintf(
	    ptx, sizeof(ptx),
	    ".version 8.0\n.target sm_80\n.address_size 64\n"
	    ".visible .entry t(.param .u64 out, .param .u64 in)\n{\n"
	    ".reg .pred %%p<8>;\n.reg .b32 %%r<16>;\n.reg .b64 %%rd<16>;\n.reg .f32 %%f<16>;\n"
	    ".reg .f64 %%fd<8>;\n.reg .b16 %%rs<8>;\n%s\n"
	    "ld.param.u64 %%rd1, [out];\nld.param.u64 %%rd2, [in];\n"
	    "mov.u32 %%r10, %%tid.x;\nmul.wide.u32 %%rd3, %%r10, 4;\nadd.s64 %%rd4, %%rd2, %%rd3;\n"
	    "ld.global.u32 %%r1, [%%rd4];\nld.global.u32 %%r2, [%%rd4+128];\nld.global.u32 %%r4, "
	    "[%%rd4+256];\n"
	    "mov.b32 %%f1, %%r1;\nmov.b32 %%f2, %%r2;\nmov.b64 %%rd9, 0;\n"
	    "%s\n"
	    "mul.wide.u32 %%rd5, %%r10, 8;\nadd.s64 %%rd6, %%rd1, %%rd5;\nst.global.u64 [%%rd6], "
	    "%%rd9;\nret;\n}\n",
	    decls, body);
	if ((rc = cuModuleLoadDataEx(&mod, ptx, 2, opts, vals)) != CUDA_SUCCESS)
		return rc;
	if ((rc = cuModuleGetFunction(&f, mod, "t")) == CUDA_SUCCESS &&
	    (rc = cuMemcpyHtoD(d_in, in, in_len)) == CUDA_SUCCESS &&
	    (rc = cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, args, NULL)) == CUDA_SUCCESS &&
	    (rc = cuCtxSynchronize()) == CUDA_SUCCESS)
		rc = cuMemcpyDtoH(out, d_out, 32 * 8);
	cuModuleUnload(mod);
	return rc;
}

static void run_u32(const char *body, uint64_t *out)
{
	uint32_t in[96];
	char log[512] = "";

	memcpy(in, A, 128);
	memcpy(in + 32, B, 128);
	memcpy(in + 64, C, 128);
	assert_int_equal(run_body("", body, out, in, sizeof(in), log, sizeof(log)), CUDA_SUCCESS);
}

static void run_f32(const char *body, uint64_t *out)
{
	uint32_t in[96];
	char log[512] = "";

	memcpy(in, FA, 128);
	for (int i = 0; i < 32; i++) {
		float b = FA[(i * 7 + 3) % 32];
		memcpy(&in[32 + i], &b, 4);
	}
	memcpy(in + 64, C, 128);
	assert_int_equal(run_body("", body, out, in, sizeof(in), log, sizeof(log)), CUDA_SUCCESS);
}

static float fb(int i)
{
	return FA[(i * 7 + 3) % 32];
}

static uint32_t f2u(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

static float u2f(uint64_t u)
{
	uint32_t v = (uint32_t)u;
	float f;

	memcpy(&f, &v, 4);
	return f;
}

#define CHECK_LANES(expect_expr)                                                                   \
	do {                                                                                       \
		for (int i = 0; i < 32; i++) {                                                     \
			uint64_t want_ = (uint64_t)(expect_expr);                                  \
			if (out[i] != want_)                                                       \
				fail_msg("lane %d: got 0x%llx, want 0x%llx", i,                    \
					 (unsigned long long)out[i], (unsigned long long)want_);   \
		}                                                                                  \
	} while (0)

static void test_integer_arithmetic(void **state)
{
	uint64_t out[32];

	run_u32("add.s32 %r3, %r1, %r2; cvt.u64.u32 %rd9, %r3;", out);
	CHECK_LANES((uint32_t)(A[i] + B[i]));
	run_u32("sub.s32 %r3, %r1, %r2; cvt.u64.u32 %rd9, %r3;", out);
	CHECK_LANES((uint32_t)(A[i] - B[i]));
	run_u32("mul.lo.s32 %r3, %r1, %r2; cvt.u64.u32 %rd9, %r3;", out);
	CHECK_LANES((uint32_t)(A[i] * B[i]));
	run_u32("mul.hi.s32 %r3, %r1, %r2; cvt.u64.u32 %rd9, %r3;", out);
	CHECK_LANES((uint32_t)(((int64_t)(int32_t)A[i] * (int32_t)B[i]) >> 32));
	run_u32("mul.hi.u32 %r3, %r1, %r2; cvt.u64.u32 %rd9, %r3;", out);
	CHECK_LANES((uint32_t)(((uint64_t)A[i] * B[i]) >> 32));
	run_u32("mul.wide.s32 %rd9, %r1, %r2;", out);
	CHECK_LANES((uint64_t)((int64_t)(int32_t)A[i] * (int32_t)B[i]));
	run_u32("mad.lo.s32 %r3, %r1, %r2, %r4; cvt.u64.u32 %rd9, %r3;", out);
	CHECK_LANES((uint32_t)(A[i] * B[i] + C[i]));
	run_u32("div.u32 %r3, %r1, %r4; rem.u32 %r5, %r1, %r4; cvt.u64.u32 %rd9, %r3; "
		"cvt.u64.u32 %rd10, %r5; shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
		out);
	CHECK_LANES((uint64_t)(A[i] / C[i]) | (uint64_t)(A[i] % C[i]) << 32);
	run_u32("div.s32 %r3, %r1, %r4; rem.s32 %r5, %r1, %r4; cvt.u64.u32 %rd9, %r3; "
		"cvt.u64.u32 %rd10, %r5; shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
		out);
	CHECK_LANES((uint64_t)(uint32_t)((int32_t)A[i] / (int32_t)C[i]) |
		    (uint64_t)(uint32_t)((int32_t)A[i] % (int32_t)C[i]) << 32);
	run_u32("min.s32 %r3, %r1, %r2; max.u32 %r5, %r1, %r2; cvt.u64.u32 %rd9, %r3; "
		"cvt.u64.u32 %rd10, %r5; shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
		out);
	CHECK_LANES((uint64_t)(uint32_t)((int32_t)A[i] < (int32_t)B[i] ? A[i] : B[i]) |
		    (uint64_t)(A[i] > B[i] ? A[i] : B[i]) << 32);
	run_u32("abs.s32 %r3, %r1; neg.s32 %r5, %r2; cvt.u64.u32 %rd9, %r3; "
		"cvt.u64.u32 %rd10, %r5; shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
		out);
	CHECK_LANES(
	    (uint64_t)(uint32_t)((int32_t)A[i] < 0 ? -(int64_t)(int32_t)A[i] : (int32_t)A[i]) |
	    (uint64_t)(uint32_t)(-(int64_t)(int32_t)B[i]) << 32);
	run_u32("add.sat.s32 %r3, %r1, %r2; cvt.u64.u32 %rd9, %r3;", out);
	CHECK_LANES((uint32_t)(int32_t)fmax(
	    fmin((double)(int32_t)A[i] + (int32_t)B[i], 2147483647.0), -2147483648.0));
}

static uint32_t brev32(uint32_t v)
{
	uint32_t r = 0;

	for (int i = 0; i < 32; i++)
		r |= ((v >> i) & 1) << (31 - i);
	return r;
}

static void test_bit_operations(void **state)
{
	uint64_t out[32];

	run_u32("and.b32 %r3, %r1, %r2; xor.b32 %r5, %r1, %r2; cvt.u64.u32 %rd9, %r3; "
		"cvt.u64.u32 %rd10, %r5; shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
		out);
	CHECK_LANES((uint64_t)(A[i] & B[i]) | (uint64_t)(A[i] ^ B[i]) << 32);
	run_u32("and.b32 %r5, %r4, 63; shl.b32 %r3, %r1, %r5; cvt.u64.u32 %rd9, %r3;", out);
	CHECK_LANES((C[i] & 63) >= 32 ? 0 : (uint32_t)(A[i] << (C[i] & 63)));
	run_u32("and.b32 %r5, %r4, 63; shr.s32 %r3, %r1, %r5; cvt.u64.u32 %rd9, %r3;", out);
	CHECK_LANES((uint32_t)((int32_t)A[i] >> ((C[i] & 63) >= 32 ? 31 : (C[i] & 63))));
	run_u32("popc.b32 %r3, %r1; clz.b32 %r5, %r2; cvt.u64.u32 %rd9, %r3; "
		"cvt.u64.u32 %rd10, %r5; shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
		out);
	CHECK_LANES((uint64_t)__builtin_popcount(A[i]) | (uint64_t)(B[i] ? __builtin_clz(B[i]) : 32)
							     << 32);
	run_u32("brev.b32 %r3, %r1; cvt.u64.u32 %rd9, %r3;", out);
	CHECK_LANES(brev32(A[i]));
	run_u32("bfe.u32 %r3, %r1, 4, 8; bfe.s32 %r5, %r1, 24, 8; cvt.u64.u32 %rd9, %r3; "
		"cvt.u64.u32 %rd10, %r5; shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
		out);
	CHECK_LANES((uint64_t)((A[i] >> 4) & 0xff) |
		    (uint64_t)(uint32_t)(int32_t)(int8_t)(A[i] >> 24) << 32);
	run_u32("bfi.b32 %r3, %r1, %r2, 8, 12; cvt.u64.u32 %rd9, %r3;", out);
	CHECK_LANES((B[i] & ~0xfff00u) | ((A[i] << 8) & 0xfff00u));
	run_u32("prmt.b32 %r3, %r1, %r2, 0x7351; cvt.u64.u32 %rd9, %r3;", out);
	CHECK_LANES(((A[i] >> 8) & 0xff) | ((B[i] >> 8) & 0xff) << 8 | ((A[i] >> 24) & 0xff) << 16 |
		    ((B[i] >> 24) & 0xff) << 24);
	run_u32("lop3.b32 %r3, %r1, %r2, %r4, 0xe8; cvt.u64.u32 %rd9, %r3;", out); /* majority */
	CHECK_LANES((A[i] & B[i]) | (A[i] & C[i]) | (B[i] & C[i]));
	run_u32("shf.l.wrap.b32 %r3, %r1, %r2, %r4; cvt.u64.u32 %rd9, %r3;", out);
	CHECK_LANES((uint32_t)((((uint64_t)B[i] << 32 | A[i]) << (C[i] & 31)) >> 32));
	run_u32("bfind.u32 %r3, %r1; cvt.u64.u32 %rd9, %r3;", out);
	CHECK_LANES(A[i] ? (uint32_t)(31 - __builtin_clz(A[i])) : 0xffffffffu);
}

/* bmsk: b one-bits from bit a; .wrap takes both modulo 32, .clamp caps
 * both at 32 (PTX ISA). */
static uint32_t bmsk_ref(uint32_t a, uint32_t b, int clamp)
{
	uint64_t m;

	if (clamp) {
		a = a < 32 ? a : 32;
		b = b < 32 ? b : 32;
	} else {
		a &= 31;
		b &= 31;
	}
	m = ((1ull << b) - 1) << a;
	return (uint32_t)m;
}

static void test_bmsk(void **state)
{
	uint64_t out[32];

	run_u32("and.b32 %r5, %r1, 63; and.b32 %r6, %r2, 63; bmsk.clamp.b32 %r3, %r5, %r6; "
		"cvt.u64.u32 %rd9, %r3;",
		out);
	CHECK_LANES(bmsk_ref(A[i] & 63, B[i] & 63, 1));
	run_u32("and.b32 %r5, %r1, 63; and.b32 %r6, %r2, 63; bmsk.wrap.b32 %r3, %r5, %r6; "
		"cvt.u64.u32 %rd9, %r3;",
		out);
	CHECK_LANES(bmsk_ref(A[i] & 63, B[i] & 63, 0));
}

/* Static shared memory is laid out per kernel: two kernels of 40 KiB each
 * load (the module has 80 KiB), a kernel reaching both through a
 * function does not, and each kernel's variables start at 0. */
static uint32_t ref_fns(uint32_t mask, uint32_t base, int32_t off)
{
	int n = 0;

	if (off == 0)
		return base < 32 && (mask >> base & 1) ? base : 0xffffffffu;
	for (int pos = (int)base; pos >= 0 && pos<32; pos += off> 0 ? 1 : -1)
		if ((mask >> pos & 1) && ++n == (off > 0 ? off : -off))
			return (uint32_t)pos;
	return 0xffffffffu;
}

/* dp4a, dp2a, sad, fns, szext. */
static void test_integer_extras(void **state)
{
	uint64_t out[32];

	run_u32("dp4a.s32.u32 %r3, %r1, %r2, %r4; dp2a.hi.u32.s32 %r5, %r1, %r2, %r4; "
		"cvt.u64.u32 %rd9, %r3; cvt.u64.u32 %rd10, %r5; shl.b64 %rd10, %rd10, 32; "
		"or.b64 %rd9, %rd9, %rd10;",
		out);
	for (int i = 0; i < 32; i++) {
		int64_t d4 = (int32_t)C[i], d2 = (int32_t)C[i];
		for (int k = 0; k < 4; k++)
			d4 += (int64_t)(int8_t)(A[i] >> (8 * k)) * (uint8_t)(B[i] >> (8 * k));
		for (int k = 0; k < 2; k++)
			d2 +=
			    (int64_t)(uint16_t)(A[i] >> (16 * k)) * (int8_t)(B[i] >> (8 * (k + 2)));
		assert_int_equal(out[i], (uint64_t)(uint32_t)d4 | (uint64_t)(uint32_t)d2 << 32);
	}
	run_u32("sad.s32 %r3, %r1, %r2, %r4; sad.u32 %r5, %r1, %r2, %r4; cvt.u64.u32 %rd9, %r3; "
		"cvt.u64.u32 %rd10, %r5; shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
		out);
	for (int i = 0; i < 32; i++) {
		int64_t ds = (int64_t)(int32_t)A[i] - (int32_t)B[i];
		uint32_t s = C[i] + (uint32_t)(ds < 0 ? -ds : ds);
		uint32_t u = C[i] + (A[i] > B[i] ? A[i] - B[i] : B[i] - A[i]);
		assert_int_equal(out[i], (uint64_t)s | (uint64_t)u << 32);
	}
	/* fns from base c & 31, offsets -3, 0 and 2. */
	run_u32("and.b32 %r3, %r4, 31; fns.b32 %r5, %r1, %r3, -3; fns.b32 %r6, %r1, %r3, 0; "
		"fns.b32 %r7, %r1, %r3, 2; xor.b32 %r6, %r6, %r7; cvt.u64.u32 %rd9, %r5; "
		"cvt.u64.u32 %rd10, %r6; shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
		out);
	for (int i = 0; i < 32; i++) {
		uint32_t base = C[i] & 31;
		assert_int_equal(
		    out[i], (uint64_t)ref_fns(A[i], base, -3) |
				(uint64_t)(ref_fns(A[i], base, 0) ^ ref_fns(A[i], base, 2)) << 32);
	}
	run_u32("szext.wrap.s32 %r3, %r1, %r4; szext.clamp.u32 %r5, %r1, %r4; cvt.u64.u32 %rd9, "
		"%r3; cvt.u64.u32 %rd10, %r5; shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
		out);
	for (int i = 0; i < 32; i++) {
		uint32_t w = C[i] & 31, c = C[i] < 32 ? C[i] : 32;
		uint32_t s = w == 0 ? 0 : (uint32_t)((int32_t)(A[i] << (32 - w)) >> (32 - w));
		uint32_t u = c == 32 ? A[i] : c == 0 ? 0 : A[i] & ((1u << c) - 1);
		assert_int_equal(out[i], (uint64_t)s | (uint64_t)u << 32);
	}
}

static void test_shared_per_kernel(void **state)
{
	static const char two[] = ".version 7.0\n.target sm_75\n.address_size 64\n"
				  ".shared .align 4 .b8 big_a[40960];\n"
				  ".shared .align 4 .b8 big_b[40960];\n"
				  ".visible .entry ka() { .reg .b32 %r<2>; mov.u32 %r1, 1; "
				  "st.shared.u32 [big_a], %r1; ret; }\n"
				  ".visible .entry kb() { .reg .b32 %r<2>; mov.u32 %r1, 2; "
				  "st.shared.u32 [big_b+4], %r1; ret; }\n";
	static const char both[] = ".version 7.0\n.target sm_75\n.address_size 64\n"
				   ".shared .align 4 .b8 big_a[40960];\n"
				   ".shared .align 4 .b8 big_b[40960];\n"
				   ".func f() { .reg .b32 %r<2>; mov.u32 %r1, 2; "
				   "st.shared.u32 [big_b], %r1; ret; }\n"
				   ".visible .entry kab() { .reg .b32 %r<2>; mov.u32 %r1, 1; "
				   "st.shared.u32 [big_a], %r1; call.uni f, (); ret; }\n";
	char log[512] = "";
	struct ptx_module *m = ptx_parse(two, log, sizeof(log));

	assert_non_null(m);
	for (int i = 0; i < m->nfuncs; i++) {
		assert_int_equal(m->funcs[i].shared_size, 40960);
		for (int k = 0; k < m->nsyms; k++)
			if (m->syms[k].shared_index >= 0 &&
			    m->funcs[i].shared_off[m->syms[k].shared_index] != 0)
				fail_msg("a kernel's variable does not start at 0");
	}
	ptx_module_free(m);
	assert_null(ptx_parse(both, log, sizeof(log)));
	assert_non_null(strstr(log, "kab"));
}

static void test_float_arithmetic(void **state)
{
	uint64_t out[32];

	run_f32("add.rn.f32 %f3, %f1, %f2; mov.b32 %r3, %f3; cvt.u64.u32 %rd9, %r3;", out);
	CHECK_LANES(f2u(FA[i] + fb(i)));
	run_f32("fma.rn.f32 %f3, %f1, %f2, 0f3F800000; mov.b32 %r3, %f3; cvt.u64.u32 %rd9, %r3;",
		out);
	for (int i = 0; i < 32; i++) {
		float want = fmaf(FA[i], fb(i), 1.0f);
		assert_true(isnan(want) ? isnan(u2f(out[i])) : u2f(out[i]) == want);
	}
	run_f32("div.rn.f32 %f3, %f1, %f2; mov.b32 %r3, %f3; cvt.u64.u32 %rd9, %r3;", out);
	for (int i = 0; i < 32; i++) {
		float want = FA[i] / fb(i);
		assert_true(isnan(want) ? isnan(u2f(out[i])) : u2f(out[i]) == want);
	}
	run_f32("sqrt.rn.f32 %f3, %f1; mov.b32 %r3, %f3; cvt.u64.u32 %rd9, %r3;", out);
	for (int i = 0; i < 32; i++) {
		float want = sqrtf(FA[i]);
		assert_true(isnan(want) ? isnan(u2f(out[i])) : u2f(out[i]) == want);
	}
	/* min/max: a NaN operand yields the other one. */
	run_f32("min.f32 %f3, %f1, %f2; mov.b32 %r3, %f3; cvt.u64.u32 %rd9, %r3;", out);
	for (int i = 0; i < 32; i++)
		assert_true(u2f(out[i]) == fminf(FA[i], fb(i)) || (isnan(FA[i]) && isnan(fb(i))));
	run_f32("abs.f32 %f3, %f1; neg.f32 %f4, %f1; mov.b32 %r3, %f3; mov.b32 %r5, %f4; "
		"cvt.u64.u32 %rd9, %r3; "
		"cvt.u64.u32 %rd10, %r5; shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
		out);
	CHECK_LANES((uint64_t)(f2u(FA[i]) & 0x7fffffffu) | (uint64_t)(f2u(FA[i]) ^ 0x80000000u)
							       << 32);
	run_f32("copysign.f32 %f3, %f2, %f1; mov.b32 %r3, %f3; cvt.u64.u32 %rd9, %r3;", out);
	CHECK_LANES(f2u(copysignf(FA[i], fb(i))));
	run_f32(
	    "testp.finite.f32 %p1, %f1; testp.subnormal.f32 %p2, %f1; selp.u64 %rd9, 1, 0, %p1; "
	    "selp.u64 %rd10, 2, 0, %p2; or.b64 %rd9, %rd9, %rd10;",
	    out);
	CHECK_LANES((isfinite(FA[i]) ? 1 : 0) | (fpclassify(FA[i]) == FP_SUBNORMAL ? 2 : 0));
}

static int32_t sat_s32(double d)
{
	if (isnan(d))
		return 0;
	return d >= 2147483647.0 ? INT32_MAX : d <= -2147483648.0 ? INT32_MIN : (int32_t)d;
}

static void test_conversions(void **state)
{
	uint64_t out[32];

	run_f32("cvt.rzi.s32.f32 %r3, %f1; cvt.rni.s32.f32 %r5, %f1; cvt.u64.u32 %rd9, %r3; "
		"cvt.u64.u32 %rd10, %r5; shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
		out);
	CHECK_LANES((uint64_t)(uint32_t)sat_s32(truncf(FA[i])) |
		    (uint64_t)(uint32_t)sat_s32(nearbyintf(FA[i])) << 32);
	run_f32("cvt.rmi.s32.f32 %r3, %f1; cvt.rpi.s32.f32 %r5, %f1; cvt.u64.u32 %rd9, %r3; "
		"cvt.u64.u32 %rd10, %r5; shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
		out);
	CHECK_LANES((uint64_t)(uint32_t)sat_s32(floorf(FA[i])) |
		    (uint64_t)(uint32_t)sat_s32(ceilf(FA[i])) << 32);
	run_u32("cvt.rn.f32.s32 %f3, %r1; mov.b32 %r3, %f3; cvt.u64.u32 %rd9, %r3;", out);
	CHECK_LANES(f2u((float)(int32_t)A[i]));
	run_u32("cvt.rn.f64.u32 %fd1, %r1; mov.b64 %rd9, %fd1;", out);
	for (int i = 0; i < 32; i++) {
		double d;
		memcpy(&d, &out[i], 8);
		assert_true(d == (double)A[i]);
	}
	/* Through half precision and back: 65504 is the largest half. */
	run_f32("cvt.rn.f16.f32 %rs1, %f1; cvt.f32.f16 %f3, %rs1; mov.b32 %r3, %f3; cvt.u64.u32 "
		"%rd9, %r3;",
		out);
	assert_true(u2f(out[26]) == 65504.0f);
	assert_true(isinf(u2f(out[27])));
	assert_true(u2f(out[1]) == 1.0f && u2f(out[3]) == 0.5f && u2f(out[6]) == -7.75f);
	run_u32("cvt.s64.s8 %rd9, %r1;", out);
	CHECK_LANES((uint64_t)(int64_t)(int8_t)A[i]);
	run_u32("cvt.sat.u8.s32 %r3, %r1; cvt.u64.u32 %rd9, %r3;", out);
	CHECK_LANES((int32_t)A[i] < 0 ? 0 : (int32_t)A[i] > 255 ? 255 : A[i]);
}

/* ---- half precision: f16 against the host's _Float16 (one rounding of
 * the exact result, as the PTX ISA specifies), bf16 against float rounded
 * by bits, the 8-bit formats and tf32 against values worked out by hand. */

/* Edge values: zeros, ones, the largest, infinities, NaN, subnormals, the
 * smallest normal, values that round. */
static const uint16_t H[32] = {0x0000, 0x8000, 0x3c00, 0xbc00, 0x7bff, 0xfbff, 0x7c00, 0xfc00,
			       0x7e00, 0x0001, 0x03ff, 0x0400, 0x3555, 0xb555, 0x4248, 0x5640,
			       0x1234, 0x9abc, 0x7000, 0xf000, 0x3bff, 0x3c01, 0x0200, 0x8200,
			       0x2e66, 0xc900, 0x6400, 0x0010, 0x8001, 0x4000, 0x4400, 0x3800};

static uint16_t emu_test_half(float f)
{
	_Float16 h = (_Float16)f;
	uint16_t u;

	memcpy(&u, &h, 2);
	return u;
}

static float emu_test_float(uint16_t u)
{
	_Float16 h;

	memcpy(&h, &u, 2);
	return (float)h;
}

static _Float16 h2f16(uint16_t u)
{
	_Float16 h;

	memcpy(&h, &u, 2);
	return h;
}

/* The bits of a result; NaN as the GPU's canonical 0x7fff. */
static uint16_t f16bits(_Float16 h)
{
	uint16_t u;

	if (isnan((float)h))
		return 0x7fff;
	memcpy(&u, &h, 2);
	return u;
}

static uint16_t bf16_of(float f)
{
	uint32_t u = f2u(f);

	if (isnan(f))
		return 0x7fff;
	return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

static float bf16_val(uint16_t b)
{
	return u2f((uint64_t)b << 16);
}

/* Runs body over a = H[i] | H[i+1] << 16 in %r1, b = H[7i+3] | H[7i+4] << 16 in
 * %r2 and c = H[13i+5] | H[13i+6] << 16 in %r4. */
static void run_h(const char *body, uint64_t *out)
{
	uint32_t in[96];
	char log[512] = "";

	for (int i = 0; i < 32; i++) {
		in[i] = H[i] | (uint32_t)H[(i + 1) % 32] << 16;
		in[32 + i] = H[(i * 7 + 3) % 32] | (uint32_t)H[(i * 7 + 4) % 32] << 16;
		in[64 + i] = H[(i * 13 + 5) % 32] | (uint32_t)H[(i * 13 + 6) % 32] << 16;
	}
	if (run_body("", body, out, in, sizeof(in), log, sizeof(log)) != CUDA_SUCCESS)
		fail_msg("%s", log);
}

static uint16_t ha(int i, int h)
{
	return H[(i + h) % 32];
}

static uint16_t hb(int i, int h)
{
	return H[(i * 7 + 3 + h) % 32];
}

static uint16_t hc(int i, int h)
{
	return H[(i * 13 + 5 + h) % 32];
}

static void test_half_arithmetic(void **state)
{
	uint64_t out[32];

	/* f16x2: add and mul, each half on its own. */
	run_h("add.rn.f16x2 %r3, %r1, %r2; mul.rn.f16x2 %r5, %r1, %r2; cvt.u64.u32 %rd9, %r3; "
	      "cvt.u64.u32 %rd10, %r5; shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
	      out);
	for (int i = 0; i < 32; i++)
		for (int h = 0; h < 2; h++) {
			_Float16 a = h2f16(ha(i, h)), b = h2f16(hb(i, h));
			assert_int_equal((out[i] >> (16 * h)) & 0xffff, f16bits(a + b));
			assert_int_equal((out[i] >> (32 + 16 * h)) & 0xffff, f16bits(a * b));
		}
	/* Scalar f16: fma (one rounding), sub; fma.relu. */
	run_h("mov.b32 {%rs1, %rs2}, %r1; mov.b32 {%rs3, %rs4}, %r2; mov.b32 {%rs5, %rs6}, %r4; "
	      "fma.rn.f16 %rs7, %rs1, %rs3, %rs5; sub.f16 %rs2, %rs1, %rs3; "
	      "fma.rn.relu.f16 %rs4, %rs1, %rs3, %rs5; mov.b64 %rd9, {%rs7, %rs2, %rs4, %rs4};",
	      out);
	for (int i = 0; i < 32; i++) {
		_Float16 a = h2f16(ha(i, 0)), b = h2f16(hb(i, 0)), c = h2f16(hc(i, 0));
		_Float16 f = (_Float16)fma((double)a, (double)b, (double)c);
		uint16_t relu = isnan((float)f) ? 0x7fff : (float)f < 0 ? 0 : f16bits(f);
		assert_int_equal(out[i] & 0xffff, f16bits(f));
		assert_int_equal((out[i] >> 16) & 0xffff, f16bits(a - b));
		assert_int_equal((out[i] >> 32) & 0xffff, relu);
	}
	/* min/max (NaN loses unless .NaN), neg/abs touch the sign only, ftz
	 * flushes subnormal inputs. */
	run_h("min.f16x2 %r3, %r1, %r2; max.NaN.f16x2 %r5, %r1, %r2; cvt.u64.u32 %rd9, %r3; "
	      "cvt.u64.u32 %rd10, %r5; shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
	      out);
	for (int i = 0; i < 32; i++)
		for (int h = 0; h < 2; h++) {
			float a = (float)h2f16(ha(i, h)), b = (float)h2f16(hb(i, h));
			uint16_t mn = isnan(a) && isnan(b) ? 0x7fff
				      : isnan(a)	   ? hb(i, h)
				      : isnan(b)	   ? ha(i, h)
				      : a == b		   ? (ha(i, h) | hb(i, h))
				      : a < b		   ? ha(i, h)
							   : hb(i, h);
			uint16_t mx = isnan(a) || isnan(b) ? 0x7fff
				      : a == b		   ? (ha(i, h) & hb(i, h))
				      : a > b		   ? ha(i, h)
							   : hb(i, h);
			assert_int_equal((out[i] >> (16 * h)) & 0xffff, mn);
			assert_int_equal((out[i] >> (32 + 16 * h)) & 0xffff, mx);
		}
	run_h("neg.f16x2 %r3, %r1; abs.ftz.f16x2 %r5, %r1; cvt.u64.u32 %rd9, %r3; "
	      "cvt.u64.u32 %rd10, %r5; shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
	      out);
	for (int i = 0; i < 32; i++)
		for (int h = 0; h < 2; h++) {
			uint16_t a = ha(i, h);
			int sub = (a & 0x7c00) == 0 && (a & 0x3ff);
			assert_int_equal((out[i] >> (16 * h)) & 0xffff, a ^ 0x8000);
			assert_int_equal((out[i] >> (32 + 16 * h)) & 0xffff, sub ? 0 : a & 0x7fff);
		}
	/* bf16x2 fma and scalar bf16 add, against float rounded to bf16. */
	run_h("fma.rn.bf16x2 %r3, %r1, %r2, %r4; mov.b32 {%rs1, %rs2}, %r1; mov.b32 {%rs3, %rs4}, "
	      "%r2; add.rn.bf16 %rs5, %rs1, %rs3; cvt.u64.u32 %rd9, %r3; cvt.u64.u16 %rd10, %rs5; "
	      "shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
	      out);
	for (int i = 0; i < 32; i++) {
		for (int h = 0; h < 2; h++) {
			float a = bf16_val(ha(i, h)), b = bf16_val(hb(i, h)),
			      c = bf16_val(hc(i, h));
			assert_int_equal((out[i] >> (16 * h)) & 0xffff,
					 bf16_of((float)fma((double)a, (double)b, (double)c)));
		}
		assert_int_equal(out[i] >> 32, bf16_of(bf16_val(ha(i, 0)) + bf16_val(hb(i, 0))));
	}
	/* setp on pairs: p the low halves, q the high; set gives 1.0 per half. */
	run_h(
	    "setp.lt.f16x2 %p1|%p2, %r1, %r2; selp.u64 %rd9, 1, 0, %p1; selp.u64 %rd10, 2, 0, %p2; "
	    "or.b64 %rd9, %rd9, %rd10; set.gtu.f16x2.f16x2 %r3, %r1, %r2; cvt.u64.u32 %rd10, %r3; "
	    "shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
	    out);
	for (int i = 0; i < 32; i++) {
		uint64_t want = 0;
		for (int h = 0; h < 2; h++) {
			float a = (float)h2f16(ha(i, h)), b = (float)h2f16(hb(i, h));
			want |= (uint64_t)(a < b) << h;
			want |= (uint64_t)(isnan(a) || isnan(b) || a > b ? 0x3c00 : 0)
				<< (32 + 16 * h);
		}
		assert_int_equal(out[i], want);
	}
}

/* Atomic adds of pairs: 32 lanes each add 1.0 to both halves. */
static void test_half_atomics(void **state)
{
	uint64_t out[32];
	uint32_t in[96] = {0};
	char log[512] = "";

	assert_int_equal(run_body("",
				  "atom.global.add.noftz.f16x2 %r3, [%rd2+380], 0x3c003c00; "
				  "atom.global.add.noftz.bf16x2 %r5, [%rd2+376], 0x3f803f80; "
				  "bar.sync 0; ld.global.u32 %r3, [%rd2+380]; ld.global.u32 %r5, "
				  "[%rd2+376]; mov.b64 %rd9, {%r3, %r5};",
				  out, in, sizeof(in), log, sizeof(log)),
			 CUDA_SUCCESS);
	CHECK_LANES(0x50005000ull | 0x42004200ull << 32);
}

static void test_half_conversions(void **state)
{
	uint64_t out[32];
	/* f32 values and their f16 under rn, rz, rm, rp; bf16 under rn. */
	static const struct {
		float f;
		uint16_t rn, rz, rm, rp, bf;
	} cv[] = {
	    {1.0f, 0x3c00, 0x3c00, 0x3c00, 0x3c00, 0x3f80},
	    {1.00048828125f, 0x3c00, 0x3c00, 0x3c00, 0x3c01, 0x3f80}, /* half an ulp: to even */
	    {1.00146484375f, 0x3c02, 0x3c01, 0x3c01, 0x3c02, 0x3f80}, /* 1.5 ulp: to even */
	    {-1.00048828125f, 0xbc00, 0xbc00, 0xbc01, 0xbc00, 0xbf80},
	    {65519.0f, 0x7bff, 0x7bff, 0x7bff, 0x7c00, 0x4780}, /* below the overflow tie */
	    {65520.0f, 0x7c00, 0x7bff, 0x7bff, 0x7c00, 0x4780},
	    {-1e9f, 0xfc00, 0xfbff, 0xfc00, 0xfbff, 0xce6e},
	    {5.9604644775390625e-08f, 0x0001, 0x0001, 0x0001, 0x0001, 0x3380},	/* 2^-24 */
	    {2.98023223876953125e-08f, 0x0000, 0x0000, 0x0000, 0x0001, 0x3300}, /* 2^-25: tie */
	    {-1e-10f, 0x8000, 0x8000, 0x8001, 0x8000, 0xaedc},
	    {INFINITY, 0x7c00, 0x7c00, 0x7c00, 0x7c00, 0x7f80},
	    {NAN, 0x7fff, 0x7fff, 0x7fff, 0x7fff, 0x7fff},
	    {3.3895313892515355e38f, 0x7c00, 0x7bff, 0x7bff, 0x7c00, 0x7f7f}, /* bf16's max */
	};
	size_t n = sizeof(cv) / sizeof(*cv);
	uint32_t in[96] = {0};
	char log[512] = "";

	for (size_t i = 0; i < 32; i++)
		in[i] = f2u(cv[i % n].f);
	assert_int_equal(
	    run_body("",
		     "mov.b32 %f1, %r1; cvt.rn.f16.f32 %rs1, %f1; cvt.rz.f16.f32 %rs2, "
		     "%f1; cvt.rm.f16.f32 %rs3, %f1; cvt.rp.f16.f32 %rs4, %f1; "
		     "mov.b64 %rd9, {%rs1, %rs2, %rs3, %rs4};",
		     out, in, sizeof(in), log, sizeof(log)),
	    CUDA_SUCCESS);
	for (size_t i = 0; i < 32; i++) {
		uint64_t want = cv[i % n].rn | (uint64_t)cv[i % n].rz << 16 |
				(uint64_t)cv[i % n].rm << 32 | (uint64_t)cv[i % n].rp << 48;
		if (out[i] != want)
			fail_msg("f16 of %a: got %llx, want %llx", (double)cv[i % n].f,
				 (unsigned long long)out[i], (unsigned long long)want);
	}
	/* bf16 and bf16x2 (a to the high half), back to f32 exactly. */
	assert_int_equal(
	    run_body("",
		     "mov.b32 %f1, %r1; cvt.rn.bf16.f32 %rs1, %f1; "
		     "cvt.rn.bf16x2.f32 %r3, %f1, %f1; cvt.f32.bf16 %f3, %rs1; "
		     "mov.b32 %r5, %f3; cvt.u64.u32 %rd9, %r3; cvt.u64.u16 %rd10, %rs1; "
		     "xor.b64 %rd9, %rd9, %rd10; cvt.u64.u32 %rd10, %r5; shl.b64 %rd10, "
		     "%rd10, 32; or.b64 %rd9, %rd9, %rd10;",
		     out, in, sizeof(in), log, sizeof(log)),
	    CUDA_SUCCESS);
	for (size_t i = 0; i < 32; i++) {
		uint16_t b = cv[i % n].bf;
		assert_int_equal(out[i], ((uint64_t)b << 16) | (uint64_t)f2u(bf16_val(b)) << 32);
	}
	/* f16 to f32 exactly, f16x2 from two f32 (a high), f16 to s32. */
	run_h("mov.b32 {%rs1, %rs2}, %r1; cvt.f32.f16 %f3, %rs1; mov.b32 %r3, %f3; "
	      "cvt.u64.u32 %rd9, %r3; cvt.rn.f16x2.f32 %r5, %f3, %f3; xor.b32 %r5, %r5, %r1; "
	      "cvt.u64.u32 %rd10, %r5; shl.b64 %rd10, %rd10, 48; xor.b64 %rd9, %rd9, %rd10;",
	      out);
	for (int i = 0; i < 32; i++) {
		uint16_t a = ha(i, 0);
		float f = (float)h2f16(a);
		uint64_t pair = isnan(f) ? 0x7fff7fffu : (uint32_t)a << 16 | a;
		/* widening keeps a NaN's payload, quieted */
		uint32_t w =
		    isnan(f)
			? ((uint32_t)(a & 0x8000) << 16 | 0x7fc00000u | (uint32_t)(a & 0x3ff) << 13)
			: f2u(f);
		pair ^= a | (uint32_t)ha(i, 1) << 16;
		assert_int_equal(out[i], w ^ (pair << 48));
	}
	/* tf32: ties away from zero, 13 low bits cleared. */
	static const float tf[] = {1.0f, 1.00048828125f, 1.000244140625f, -1.00048828125f, 0.1f};
	static const uint32_t tw[] = {0x3f800000, 0x3f802000, 0x3f800000, 0xbf802000, 0x3dccc000};
	for (size_t i = 0; i < 32; i++)
		in[i] = f2u(tf[i % 5]);
	assert_int_equal(run_body("", "cvt.rna.tf32.f32 %r3, %r1; cvt.u64.u32 %rd9, %r3;", out, in,
				  sizeof(in), log, sizeof(log)),
			 CUDA_SUCCESS);
	for (size_t i = 0; i < 32; i++)
		assert_int_equal(out[i], tw[i % 5]);
	/* e4m3 and e5m2 pairs: a to the high byte; saturation; and back to f16x2. */
	static const float f8[] = {1.0f, 448.0f,   500.0f, -0.001953125f,
				   NAN,	 INFINITY, 0.3f,   57344.0f};
	static const uint8_t e4[] = {0x38, 0x7e, 0x7e, 0x81, 0x7f, 0x7e, 0x2a, 0x7e};
	static const uint8_t e5[] = {0x3c, 0x5f, 0x60, 0x98, 0x7f, 0x7b, 0x35, 0x7b};
	for (size_t i = 0; i < 32; i++) {
		in[i] = f2u(f8[i % 8]);
		in[32 + i] = f2u(1.0f);
	}
	assert_int_equal(
	    run_body("",
		     "cvt.rn.satfinite.e4m3x2.f32 %rs1, %f1, %f2; "
		     "cvt.rn.satfinite.e5m2x2.f32 %rs2, %f1, %f2; cvt.rn.f16x2.e4m3x2 %r3, "
		     "%rs1; cvt.u64.u16 %rd9, %rs1; cvt.u64.u16 %rd10, %rs2; shl.b64 %rd10, "
		     "%rd10, 16; or.b64 %rd9, %rd9, %rd10; cvt.u64.u32 %rd10, %r3; "
		     "shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
		     out, in, sizeof(in), log, sizeof(log)),
	    CUDA_SUCCESS);
	for (size_t i = 0; i < 32; i++) {
		static const uint16_t e4h[] = {0x3c00, 0x5f00, 0x5f00, 0x9800,
					       0x7fff, 0x5f00, 0x3500, 0x5f00};
		uint64_t want =
		    0x38u | (uint64_t)e4[i % 8] << 8 | (0x3cull | (uint64_t)e5[i % 8] << 8) << 16;
		want |= (0x3c00ull | (uint64_t)e4h[i % 8] << 16) << 32;
		if (out[i] != want)
			fail_msg("8-bit of %g: got %llx, want %llx", (double)f8[i % 8],
				 (unsigned long long)out[i], (unsigned long long)want);
	}
}

/* SIMD video instructions: per byte or half, with .sat, a destination
 * mask (the rest from c) and the .add form that sums into c. */
static void test_video(void **state)
{
	uint64_t out[32];

	run_u32(
	    "vabsdiff4.u32.u32.u32 %r3, %r1, %r2, %r4; vabsdiff4.u32.u32.u32.add %r5, %r1, %r2, "
	    "%r4; cvt.u64.u32 %rd9, %r3; cvt.u64.u32 %rd10, %r5; shl.b64 %rd10, %rd10, 32; "
	    "or.b64 %rd9, %rd9, %rd10;",
	    out);
	for (int i = 0; i < 32; i++) {
		uint32_t d = 0, sum = C[i];
		for (int k = 0; k < 4; k++) {
			int x = (A[i] >> (8 * k)) & 255, y = (B[i] >> (8 * k)) & 255;
			d |= (uint32_t)(x > y ? x - y : y - x) << (8 * k);
			sum += (uint32_t)(x > y ? x - y : y - x);
		}
		assert_int_equal(out[i], (uint64_t)d | (uint64_t)sum << 32);
	}
	run_u32(
	    "vadd2.s32.s32.s32.sat %r3, %r1, %r2, %r4; vmax4.s32.s32.s32 %r5.b20, %r1, %r2, %r4; "
	    "cvt.u64.u32 %rd9, %r3; cvt.u64.u32 %rd10, %r5; shl.b64 %rd10, %rd10, 32; "
	    "or.b64 %rd9, %rd9, %rd10;",
	    out);
	for (int i = 0; i < 32; i++) {
		uint32_t d = 0, mx = C[i];
		for (int k = 0; k < 2; k++) {
			int r = (int16_t)(A[i] >> (16 * k)) + (int16_t)(B[i] >> (16 * k));
			r = r < -32768 ? -32768 : r > 32767 ? 32767 : r;
			d |= (uint32_t)(uint16_t)r << (16 * k);
		}
		for (int k = 0; k < 4; k += 2) { /* mask .b20: bytes 0 and 2 */
			int x = (int8_t)(A[i] >> (8 * k)), y = (int8_t)(B[i] >> (8 * k));
			mx = (mx & ~(255u << (8 * k))) | (uint32_t)(uint8_t)(x > y ? x : y)
							     << (8 * k);
		}
		assert_int_equal(out[i], (uint64_t)d | (uint64_t)mx << 32);
	}
	run_u32("vset2.u32.u32.gt %r3, %r1, %r2, %r4; vavrg4.u32.u32.u32 %r5, %r1, %r2, %r4; "
		"cvt.u64.u32 %rd9, %r3; cvt.u64.u32 %rd10, %r5; shl.b64 %rd10, %rd10, 32; "
		"or.b64 %rd9, %rd9, %rd10;",
		out);
	for (int i = 0; i < 32; i++) {
		uint32_t d = 0, av = 0;
		for (int k = 0; k < 2; k++)
			d |= (uint32_t)(((A[i] >> (16 * k)) & 0xffff) >
					((B[i] >> (16 * k)) & 0xffff))
			     << (16 * k);
		for (int k = 0; k < 4; k++)
			av |= ((((A[i] >> (8 * k)) & 255) + ((B[i] >> (8 * k)) & 255) + 1) >> 1)
			      << (8 * k);
		assert_int_equal(out[i], (uint64_t)d | (uint64_t)av << 32);
	}
}

/* A deterministic generator for the matrix tests. */
static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1664525u + 1013904223u;
	return rnd_state >> 8;
}

/* wmma m16n16k16, f16 inputs and an f32 accumulator, on random matrices
 * (A row major, B column major): D equals the reference computed in the
 * same precision, each exactly rounded product summed in f32 in k order;
 * then the same with an f16 accumulator, rounded once at the end. */
static void test_wmma_random(void **state)
{
	uint16_t a[256], b[256];
	float c[256], d[256];
	uint16_t dh[256];
	CUdeviceptr da, db, dc, dd;
	uint64_t out[32];
	uint32_t in[96] = {0};
	char body[2048], log[512] = "";

	/* full 11-bit mantissas over a range of exponents, so that the f32
	 * sums round, and the order and precision of the sum show */
	for (int i = 0; i < 256; i++) {
		a[i] = (uint16_t)((rnd() & 0x8000) | (9 + rnd() % 13) << 10 | (rnd() & 0x3ff));
		b[i] = (uint16_t)((rnd() & 0x8000) | (9 + rnd() % 13) << 10 | (rnd() & 0x3ff));
		c[i] = ldexpf((float)(rnd() & 0xffffff), (int)(rnd() % 9) - 28);
	}
	assert_int_equal(cuMemAlloc(&da, sizeof(a)), CUDA_SUCCESS);
	assert_int_equal(cuMemAlloc(&db, sizeof(b)), CUDA_SUCCESS);
	assert_int_equal(cuMemAlloc(&dc, sizeof(c)), CUDA_SUCCESS);
	assert_int_equal(cuMemAlloc(&dd, sizeof(d)), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyHtoD(da, a, sizeof(a)), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyHtoD(db, b, sizeof(b)), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyHtoD(dc, c, sizeof(c)), CUDA_SUCCESS);
	for (int acc16 = 0; acc16 < 2; acc16++) {
		snprintf(
		    body, sizeof(body),
		    "mov.u64 %%rd5, %llu; mov.u64 %%rd6, %llu; mov.u64 %%rd7, %llu; "
		    "mov.u64 %%rd8, %llu; "
		    "wmma.load.a.sync.aligned.row.m16n16k16.global.f16 {%%a0,%%a1,%%a2,%%a3,%%a4,"
		    "%%a5,%%a6,%%a7}, [%%rd5], 16; "
		    "wmma.load.b.sync.aligned.col.m16n16k16.global.f16 {%%b0,%%b1,%%b2,%%b3,%%b4,"
		    "%%b5,%%b6,%%b7}, [%%rd6], 16; "
		    "wmma.load.c.sync.aligned.row.m16n16k16.global.f32 {%%c0,%%c1,%%c2,%%c3,%%c4,"
		    "%%c5,%%c6,%%c7}, [%%rd7], 16; "
		    "%s"
		    "mov.b64 %%rd9, 0;",
		    (unsigned long long)da, (unsigned long long)db, (unsigned long long)dc,
		    (unsigned long long)dd,
		    acc16 ? "wmma.mma.sync.aligned.row.col.m16n16k16.f16.f32 {%h0,%h1,%h2,%h3}, "
			    "{%a0,%a1,%a2,%a3,%a4,%a5,%a6,%a7}, {%b0,%b1,%b2,%b3,%b4,%b5,%b6,%b7}, "
			    "{%c0,%c1,%c2,%c3,%c4,%c5,%c6,%c7}; "
			    "wmma.store.d.sync.aligned.row.m16n16k16.global.f16 [%rd8], "
			    "{%h0,%h1,%h2,%h3}, 16; "
			  : "wmma.mma.sync.aligned.row.col.m16n16k16.f32.f32 {%c0,%c1,%c2,%c3,%c4,"
			    "%c5,%c6,%c7}, {%a0,%a1,%a2,%a3,%a4,%a5,%a6,%a7}, {%b0,%b1,%b2,%b3,%b4,"
			    "%b5,%b6,%b7}, {%c0,%c1,%c2,%c3,%c4,%c5,%c6,%c7}; "
			    "wmma.store.d.sync.aligned.row.m16n16k16.global.f32 [%rd8], "
			    "{%c0,%c1,%c2,%c3,%c4,%c5,%c6,%c7}, 16; ");
		assert_int_equal(run_body(".reg .b32 %a<8>; .reg .b32 %b<8>; .reg .f32 %c<8>; "
					  ".reg .b32 %h<4>;",
					  body, out, in, sizeof(in), log, sizeof(log)),
				 CUDA_SUCCESS);
		assert_int_equal(cuMemcpyDtoH(acc16 ? (void *)dh : (void *)d, dd,
					      acc16 ? sizeof(dh) : sizeof(d)),
				 CUDA_SUCCESS);
		for (int r = 0; r < 16; r++)
			for (int n = 0; n < 16; n++) {
				float want = c[r * 16 + n];
				for (int k = 0; k < 16; k++)
					want += (float)((double)emu_test_float(a[r * 16 + k]) *
							emu_test_float(b[n * 16 + k]));
				if (acc16)
					assert_int_equal(dh[r * 16 + n], emu_test_half(want));
				else if (d[r * 16 + n] != want)
					fail_msg("d[%d][%d] = %a, want %a", r, n, d[r * 16 + n],
						 want);
			}
	}
	cuMemFree(da);
	cuMemFree(db);
	cuMemFree(dc);
	cuMemFree(dd);
}

/* alloca: local memory above the frame's, each thread its own; stacksave
 * and stackrestore; more than the stack holds is a launch failure. */
static void test_alloca(void **state)
{
	uint64_t out[32];
	uint32_t in[96] = {0};
	char log[512] = "";

	run_u32("stacksave.u64 %rd11; alloca.u64 %rd5, 64, 16; cvta.local.u64 %rd6, %rd5; "
		"alloca.u64 %rd7, 8, 8; cvta.local.u64 %rd8, %rd7; st.u32 [%rd6], %r1; "
		"st.u32 [%rd6+60], %r2; st.u32 [%rd8], %r4; ld.u32 %r3, [%rd6]; ld.u32 %r5, "
		"[%rd6+60]; ld.u32 %r6, [%rd8]; add.u32 %r3, %r3, %r6; cvt.u64.u32 %rd9, %r3; "
		"cvt.u64.u32 %rd10, %r5; shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10; "
		"sub.u64 %rd12, %rd7, %rd5; setp.ne.u64 %p1, %rd12, 64; @%p1 mov.b64 %rd9, 0; "
		"stackrestore.u64 %rd11; alloca.u64 %rd13, 4, 4; setp.ne.u64 %p2, %rd13, %rd5; "
		"@%p2 mov.b64 %rd9, 1;",
		out);
	CHECK_LANES((uint64_t)(A[i] + C[i]) | (uint64_t)B[i] << 32);
	/* the launch is accepted; its failure is the context's from then on,
	 * so the next tests get a new one */
	assert_int_equal(run_body("", "alloca.u64 %rd5, 1048576, 16; st.local.u32 [%rd5], %r1;",
				  out, in, sizeof(in), log, sizeof(log)),
			 CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES);
	assert_int_equal(cuCtxSynchronize(), CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES);
	teardown(state);
	assert_int_equal(setup(state), 0);
}

/* mbarrier: phases complete when the expected arrivals are in and the
 * expected transaction bytes are done; test_wait by state and by parity;
 * arrive_drop lowers what later phases expect; pending_count. And cp.async
 * with a source size zero-fills the rest. One warp, lane-by-lane arrivals. */
static void test_mbarrier(void **state)
{
	uint64_t out[32];
	uint32_t in[96] = {0};
	char log[512] = "";
	static const char *decls = ".shared .align 8 .b64 bar; .shared .align 16 .b8 buf[64];";

	/* 32 expected; the lanes arrive one by one (a loop over lanes), each
	 * then testing: only the last arrival completes phase 0. */
	assert_int_equal(
	    run_body(decls,
		     "mov.u32 %r3, 32; setp.eq.u32 %p1, %r10, 0; @%p1 mbarrier.init.shared.b64 "
		     "[bar], %r3; bar.sync 0; mov.u32 %r5, 0; mov.b64 %rd9, 0; "
		     "LOOP: setp.eq.u32 %p2, %r5, %r10; @%p2 mbarrier.arrive.shared.b64 %rd10, "
		     "[bar]; bar.warp.sync -1; mbarrier.test_wait.parity.shared.b64 %p3, [bar], "
		     "0; @%p2 selp.u64 %rd9, 1, 0, %p3; add.u32 %r5, %r5, 1; setp.lt.u32 %p4, %r5, "
		     "32; @%p4 bra LOOP; mbarrier.test_wait.shared.b64 %p5, [bar], %rd10; "
		     "selp.u64 %rd11, 2, 0, %p5; or.b64 %rd9, %rd9, %rd11; "
		     "mbarrier.test_wait.parity.shared.b64 %p5, [bar], 1; selp.u64 %rd11, 4, 0, "
		     "%p5; or.b64 %rd9, %rd9, %rd11;",
		     out, in, sizeof(in), log, sizeof(log)),
	    CUDA_SUCCESS);
	/* lane 31 saw the phase complete on its own arrival; every lane's state
	 * is of phase 0, now complete; phase 1 (parity 1) is not. */
	CHECK_LANES((i == 31 ? 1 : 0) | 2);
	/* expect_tx holds the phase until complete_tx; arrive_drop; pending. */
	assert_int_equal(
	    run_body(
		decls,
		"setp.eq.u32 %p1, %r10, 0; @!%p1 bra END; mov.u32 %r3, 2; mbarrier.init.shared.b64 "
		"[bar], %r3; mbarrier.expect_tx.shared.b64 [bar], 64; mbarrier.arrive.shared.b64 "
		"%rd10, [bar]; mbarrier.arrive.shared.b64 %rd10, [bar]; "
		"mbarrier.test_wait.parity.shared.b64 %p2, [bar], 0; selp.u64 %rd9, 1, 0, %p2; "
		"mbarrier.complete_tx.shared.b64 [bar], 64; mbarrier.test_wait.parity.shared.b64 "
		"%p2, [bar], 0; selp.u64 %rd11, 2, 0, %p2; or.b64 %rd9, %rd9, %rd11; "
		"mbarrier.arrive_drop.shared.b64 %rd10, [bar]; mbarrier.pending_count.b64 %r5, "
		"%rd10; cvt.u64.u32 %rd11, %r5; shl.b64 %rd11, %rd11, 8; or.b64 %rd9, %rd9, %rd11; "
		"mbarrier.arrive.shared.b64 %rd10, [bar]; mbarrier.pending_count.b64 %r5, %rd10; "
		"cvt.u64.u32 %rd11, %r5; shl.b64 %rd11, %rd11, 16; or.b64 %rd9, %rd9, %rd11; "
		"mbarrier.test_wait.parity.shared.b64 %p2, [bar], 1; selp.u64 %rd11, 4, 0, %p2; "
		"or.b64 %rd9, %rd9, %rd11; END:",
		out, in, sizeof(in), log, sizeof(log)),
	    CUDA_SUCCESS);
	/* not complete with bytes pending (1); complete after (2); in phase 1
	 * arrive_drop leaves 1 pending and 1 expected; the next arrival
	 * completes phase 1 (parity 1, now the phase before the current). */
	assert_int_equal(out[0], 2u | 2u << 8 | 1u << 16 | 4u);
	/* cp.async: 16 bytes of which 4 from the source, the rest zeros. */
	for (int i = 0; i < 32; i++)
		in[i] = 0x01010101u * (uint32_t)(i + 1);
	assert_int_equal(
	    run_body(decls,
		     "setp.eq.u32 %p1, %r10, 0; @!%p1 bra END; st.shared.u32 [buf+4], 99; "
		     "cp.async.ca.shared.global [buf], [%rd2], 16, 4; cp.async.commit_group; "
		     "cp.async.wait_group 0; ld.shared.v2.u32 {%r3, %r5}, [buf]; "
		     "ld.shared.v2.u32 {%r6, %r7}, [buf+8]; or.b32 %r6, %r6, %r7; "
		     "cvt.u64.u32 %rd9, %r3; cvt.u64.u32 %rd10, %r5; shl.b64 %rd10, %rd10, 32; "
		     "or.b64 %rd9, %rd9, %rd10; cvt.u64.u32 %rd10, %r6; or.b64 %rd9, %rd9, %rd10; "
		     "END:",
		     out, in, sizeof(in), log, sizeof(log)),
	    CUDA_SUCCESS);
	assert_int_equal(out[0], 0x01010101u);
	/* cp.async.bulk as sm_90 code writes it ("::" joins the modifier's
	 * parts): the copy's bytes complete the transaction count that
	 * arrive.expect_tx set, and with it the phase. */
	assert_int_equal(
	    run_body(
		decls,
		"setp.eq.u32 %p1, %r10, 0; @!%p1 bra END; mov.u32 %r3, 1; "
		"mbarrier.init.shared::cta.b64 [bar], %r3; "
		"mbarrier.arrive.expect_tx.shared::cta.b64 %rd10, [bar], 32; "
		"mbarrier.try_wait.parity.shared::cta.b64 %p2, [bar], 0; selp.u64 %rd9, 1, 0, "
		"%p2; cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [buf], "
		"[%rd2], 32, [bar]; WAIT: mbarrier.try_wait.parity.shared::cta.b64 %p2, [bar], 0; "
		"@!%p2 bra WAIT; ld.shared::cta.u32 %r5, [buf+28]; cvt.u64.u32 %rd11, %r5; "
		"shl.b64 %rd11, %rd11, 8; or.b64 %rd9, %rd9, %rd11; END:",
		out, in, sizeof(in), log, sizeof(log)),
	    CUDA_SUCCESS);
	/* not complete before the copy (0), the copy's last word after */
	assert_int_equal(out[0], 0x08080808ull << 8);
	/* a malformed one is refused at load */
	assert_int_equal(run_body(decls, "mbarrier.arrive.shared.b64 %rd10, %r3;", out, in,
				  sizeof(in), log, sizeof(log)),
			 CUDA_ERROR_INVALID_PTX);
	assert_non_null(strstr(log, "malformed"));
}

/* Thread block clusters (compute capability 9.0): 4 clusters of 4 blocks
 * of 64 threads. Each thread writes its shared word, waits at the cluster
 * barrier, reads the same word of the next rank's block through mapa (a
 * shared::cluster address and a generic one) and adds to a counter in
 * rank 0's block; the special registers say where it is. The barrier is
 * what makes the next block's word written: blocks run in rank order. */
static const char cluster_ptx[] =
    ".version 8.0\n.target sm_90\n.address_size 64\n"
    ".visible .entry cl(.param .u64 out) .explicitcluster\n{\n"
    ".reg .pred %p<4>;\n.reg .b32 %r<32>;\n.reg .b64 %rd<16>;\n"
    ".shared .align 4 .b32 s[64];\n.shared .align 4 .b32 cnt;\n"
    "ld.param.u64 %rd1, [out];\n"
    "mov.u32 %r1, %tid.x;\nmov.u32 %r2, %cluster_ctarank;\nmov.u32 %r3, %cluster_nctarank;\n"
    "mad.lo.u32 %r4, %r2, 1000, %r1;\nmov.u32 %r5, s;\nshl.b32 %r6, %r1, 2;\n"
    "add.u32 %r7, %r5, %r6;\nst.shared.u32 [%r7], %r4;\n"
    "setp.eq.u32 %p1, %r1, 0;\n@%p1 st.shared.u32 [cnt], 0;\n"
    "barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;\n"
    "add.u32 %r8, %r2, 1;\nrem.u32 %r8, %r8, %r3;\n"
    "mapa.shared::cluster.u32 %r9, %r7, %r8;\nld.shared::cluster.u32 %r10, [%r9];\n"
    "getctarank.shared::cluster.u32 %r11, %r9;\n"
    "cvt.u64.u32 %rd2, %r7;\ncvta.shared.u64 %rd3, %rd2;\nmapa.u64 %rd4, %rd3, %r8;\n"
    "ld.u32 %r12, [%rd4];\nsub.u32 %r12, %r12, %r10;\n"
    "mov.u32 %r13, cnt;\nmapa.shared::cluster.u32 %r14, %r13, 0;\n"
    "atom.shared::cluster.add.u32 %r15, [%r14], 1;\n"
    "barrier.cluster.arrive;\nbarrier.cluster.wait;\n"
    "mov.u32 %r16, %clusterid.x;\nmov.u32 %r17, %cluster_ctaid.x;\n"
    "mov.u32 %r18, %nclusterid.x;\nmov.u32 %r19, %cluster_nctaid.x;\n"
    "mov.u32 %r20, %is_explicit_cluster;\n"
    "shl.b32 %r11, %r11, 16;\nor.b32 %r10, %r10, %r11;\nshl.b32 %r16, %r16, 24;\n"
    "or.b32 %r10, %r10, %r16;\n"
    "shl.b32 %r18, %r18, 8;\nor.b32 %r17, %r17, %r18;\nshl.b32 %r19, %r19, 16;\n"
    "or.b32 %r17, %r17, %r19;\nshl.b32 %r20, %r20, 24;\nor.b32 %r17, %r17, %r20;\n"
    "shl.b32 %r12, %r12, 28;\nor.b32 %r17, %r17, %r12;\n"
    "mov.b64 %rd5, {%r10, %r17};\n"
    "mov.u32 %r21, %ctaid.x;\nmov.u32 %r22, %ntid.x;\nmad.lo.u32 %r23, %r21, %r22, %r1;\n"
    "mul.wide.u32 %rd6, %r23, 8;\nadd.s64 %rd7, %rd1, %rd6;\nst.global.u64 [%rd7], %rd5;\n"
    "setp.eq.u32 %p2, %r2, 0;\nand.pred %p3, %p1, %p2;\n@!%p3 bra DONE;\n"
    "ld.shared.u32 %r24, [cnt];\nmov.u32 %r25, %clusterid.x;\n"
    "mul.wide.u32 %rd8, %r25, 8;\nadd.s64 %rd9, %rd1, %rd8;\n"
    "cvt.u64.u32 %rd10, %r24;\nst.global.u64 [%rd9+8192], %rd10;\n"
    "DONE:\nret;\n}\n"
    ".visible .entry req(.param .u64 out) .reqnctapercluster 2, 1, 1\n{\n"
    ".reg .b32 %r<8>;\n.reg .b64 %rd<8>;\n"
    "ld.param.u64 %rd1, [out];\nmov.u32 %r1, %ctaid.x;\nmov.u32 %r2, %cluster_nctarank;\n"
    "mov.u32 %r3, %cluster_ctarank;\nshl.b32 %r3, %r3, 8;\nor.b32 %r2, %r2, %r3;\n"
    "mul.wide.u32 %rd2, %r1, 8;\nadd.s64 %rd3, %rd1, %rd2;\ncvt.u64.u32 %rd4, %r2;\n"
    "barrier.cluster.arrive;\nbarrier.cluster.wait;\nst.global.u64 [%rd3], %rd4;\nret;\n}\n";

static CUresult launch_clusters(CUfunction f, CUdeviceptr out, unsigned grid, unsigned block,
				unsigned cluster)
{
	CUlaunchAttribute attr = {.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION};
	CUlaunchConfig cfg = {.gridDimX = grid,
			      .gridDimY = 1,
			      .gridDimZ = 1,
			      .blockDimX = block,
			      .blockDimY = 1,
			      .blockDimZ = 1,
			      .attrs = &attr,
			      .numAttrs = cluster ? 1 : 0};
	void *args[] = {&out};
	CUresult rc;

	attr.value.clusterDim.x = cluster;
	attr.value.clusterDim.y = attr.value.clusterDim.z = 1;
	if ((rc = cuLaunchKernelEx(&cfg, f, args, NULL)) != CUDA_SUCCESS)
		return rc;
	return cuCtxSynchronize();
}

static void test_clusters(void **state)
{
	static uint64_t out[1024 + 4];
	CUmodule mod;
	CUfunction cl, req;
	CUdeviceptr big;
	int v;

	assert_int_equal(cuModuleLoadData(&mod, cluster_ptx), CUDA_SUCCESS);
	assert_int_equal(cuModuleGetFunction(&cl, mod, "cl"), CUDA_SUCCESS);
	assert_int_equal(cuModuleGetFunction(&req, mod, "req"), CUDA_SUCCESS);
	assert_int_equal(cuMemAlloc(&big, 8192 + 32), CUDA_SUCCESS);
	assert_int_equal(launch_clusters(cl, big, 16, 64, 4), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyDtoH(out, big, sizeof(out[0]) * 1024), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyDtoH(out + 1024, big + 8192, 32), CUDA_SUCCESS);
	for (uint32_t b = 0; b < 16; b++)
		for (uint32_t t = 0; t < 64; t++) {
			uint32_t rank = b % 4, next = (rank + 1) % 4, cid = b / 4;
			uint64_t lo = (next * 1000 + t) | next << 16 | cid << 24;
			uint64_t hi = rank | 4u << 8 | 4u << 16 | 1u << 24;
			uint64_t got = out[b * 64 + t];
			if (got != (lo | hi << 32))
				fail_msg("block %u thread %u: got 0x%llx, want 0x%llx", b, t,
					 (unsigned long long)got,
					 (unsigned long long)(lo | hi << 32));
		}
	for (int c = 0; c < 4; c++) /* every thread of the cluster counted once */
		assert_int_equal(out[1024 + c], 4 * 64);
	/* The kernel's own cluster shape, without an attribute; another one,
	 * a grid of part clusters, or none for an explicit-cluster kernel are
	 * refused. */
	assert_int_equal(launch_clusters(req, big, 6, 32, 0), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyDtoH(out, big, 6 * 8), CUDA_SUCCESS);
	for (int b = 0; b < 6; b++)
		assert_int_equal(out[b], 2u | (uint64_t)(b % 2) << 8);
	assert_int_equal(launch_clusters(req, big, 8, 32, 4), CUDA_ERROR_INVALID_CLUSTER_SIZE);
	assert_int_equal(launch_clusters(cl, big, 6, 32, 4), CUDA_ERROR_INVALID_CLUSTER_SIZE);
	assert_int_equal(launch_clusters(cl, big, 16, 32, 0), CUDA_ERROR_INVALID_CLUSTER_SIZE);
	assert_int_equal(launch_clusters(cl, big, 32, 32, 16), CUDA_ERROR_INVALID_CLUSTER_SIZE);
	assert_int_equal(
	    cuFuncSetAttribute(cl, CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 1),
	    CUDA_SUCCESS);
	assert_int_equal(launch_clusters(cl, big, 32, 32, 16), CUDA_SUCCESS);
	assert_int_equal(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH, req),
			 CUDA_SUCCESS);
	assert_int_equal(v, 2);
	assert_int_equal(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_CLUSTER_SIZE_MUST_BE_SET, cl),
			 CUDA_SUCCESS);
	assert_int_equal(v, 1);
	cuModuleUnload(mod);
	cuMemFree(big);
}

static void test_compare_select(void **state)
{
	uint64_t out[32];

	run_u32("setp.lt.s32 %p1, %r1, %r2; setp.lo.u32 %p2, %r1, %r2; selp.u64 %rd9, 1, 0, %p1; "
		"selp.u64 %rd10, 2, 0, %p2; or.b64 %rd9, %rd9, %rd10;",
		out);
	CHECK_LANES(((int32_t)A[i] < (int32_t)B[i] ? 1 : 0) | (A[i] < B[i] ? 2 : 0));
	run_u32("setp.ne.and.s32 %p1, %r1, %r2, %p0; setp.gt.u32 %p3|%p4, %r1, %r2; selp.u64 %rd9, "
		"1, 0, %p4;",
		out);
	CHECK_LANES(A[i] > B[i] ? 0 : 1);
	run_f32("setp.ltu.f32 %p1, %f1, %f2; setp.lt.f32 %p2, %f1, %f2; selp.u64 %rd9, 1, 0, %p1; "
		"selp.u64 %rd10, 2, 0, %p2; or.b64 %rd9, %rd9, %rd10;",
		out);
	CHECK_LANES(((isnan(FA[i]) || isnan(fb(i)) || FA[i] < fb(i)) ? 1 : 0) |
		    (FA[i] < fb(i) ? 2 : 0));
	run_u32("slct.u32.s32 %r3, %r1, %r2, %r4; cvt.u64.u32 %rd9, %r3;", out);
	CHECK_LANES((int32_t)C[i] >= 0 ? A[i] : B[i]);
}

static void test_warp_shuffles(void **state)
{
	uint64_t out[32];

	run_u32("shfl.sync.down.b32 %r3|%p1, %r1, 3, 31, -1; selp.u64 %rd10, 1, 0, %p1; "
		"cvt.u64.u32 %rd9, %r3; "
		"shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
		out);
	CHECK_LANES(i + 3 < 32 ? (uint64_t)A[i + 3] | 1ull << 32 : A[i]);
	run_u32("shfl.sync.up.b32 %r3, %r1, 5, 0, -1; cvt.u64.u32 %rd9, %r3;", out);
	CHECK_LANES(i >= 5 ? A[i - 5] : A[i]);
	run_u32("shfl.sync.bfly.b32 %r3, %r1, 6, 31, -1; cvt.u64.u32 %rd9, %r3;", out);
	CHECK_LANES(A[i ^ 6]);
	/* Segments of 8 lanes (width 8: c = (32 - 8) << 8 | 31). */
	run_u32("shfl.sync.idx.b32 %r3, %r1, 2, 0x181f, -1; cvt.u64.u32 %rd9, %r3;", out);
	CHECK_LANES(A[(i & ~7) + 2]);
}

static void test_votes(void **state)
{
	uint64_t out[32];
	uint32_t ballot = 0;

	for (int i = 0; i < 32; i++)
		ballot |= (uint32_t)((A[i] & 1) != 0) << i;
	run_u32("and.b32 %r3, %r1, 1; setp.ne.u32 %p1, %r3, 0; vote.sync.ballot.b32 %r5, %p1, -1; "
		"vote.sync.any.pred %p2, %p1, -1; vote.sync.all.pred %p3, %p1, -1; cvt.u64.u32 "
		"%rd9, %r5; "
		"selp.u64 %rd10, 1, 0, %p2; selp.u64 %rd11, 2, 0, %p3; or.b64 %rd10, %rd10, %rd11; "
		"shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
		out);
	CHECK_LANES((uint64_t)ballot | (uint64_t)((ballot != 0) | (ballot == 0xffffffffu) << 1)
					   << 32);
	run_u32("and.b32 %r3, %r4, 3; match.any.sync.b32 %r5, %r3, -1; activemask.b32 %r6; "
		"cvt.u64.u32 %rd9, %r5; "
		"cvt.u64.u32 %rd10, %r6; shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
		out);
	for (int i = 0; i < 32; i++) {
		uint32_t same = 0;
		for (int k = 0; k < 32; k++)
			same |= (uint32_t)((C[k] & 3) == (C[i] & 3)) << k;
		assert_int_equal(out[i], (uint64_t)same | 0xffffffffull << 32);
	}
}

/* __syncthreads_count, _and and _or (bar.red): every thread gets the
 * block's count of true predicates, whether all were, whether any was;
 * once where some are (odd A[i]), once where all are. */
static void test_barrier_reductions(void **state)
{
	uint64_t out[32];
	uint32_t odd = 0;

	for (int i = 0; i < 32; i++)
		odd += (A[i] & 1) != 0;
	run_u32(
	    "and.b32 %r3, %r1, 1; setp.ne.u32 %p1, %r3, 0; bar.red.popc.u32 %r5, 0, %p1; "
	    "bar.red.and.pred %p2, 0, %p1; bar.red.or.pred %p3, 0, %p1; "
	    "setp.lt.u32 %p4, %r10, 64; bar.red.and.pred %p5, 0, %p4; "
	    "cvt.u64.u32 %rd9, %r5; selp.u64 %rd10, 1, 0, %p2; selp.u64 %rd11, 2, 0, %p3; "
	    "selp.u64 %rd12, 4, 0, %p5; or.b64 %rd10, %rd10, %rd11; or.b64 %rd10, %rd10, %rd12; "
	    "shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
	    out);
	CHECK_LANES((uint64_t)odd | (uint64_t)((odd == 32) | (odd != 0) << 1 | 4) << 32);
	(void)state;
}

/* .sync warp ops whose membermask names only some lanes: each lane's result
 * is over the executing lanes of its own mask. Here each lane's mask is the
 * group match.any put it in (lanes of equal c[i] & 3), as when code reduces
 * per key; then two halves of a diverged warp each with a mask of its own. */
static void test_partial_masks(void **state)
{
	uint64_t out[32];
	uint32_t group[32], ballot = 0;

	for (int i = 0; i < 32; i++) {
		group[i] = 0;
		for (int k = 0; k < 32; k++)
			group[i] |= (uint32_t)((C[k] & 3) == (C[i] & 3)) << k;
		ballot |= (uint32_t)((A[i] & 1) != 0) << i;
	}
	/* redux.sync over each lane's group: max, min (signed), add, or. */
	run_u32(
	    "and.b32 %r3, %r4, 3; match.any.sync.b32 %r5, %r3, -1; "
	    "redux.sync.max.u32 %r6, %r1, %r5; cvt.u64.u32 %rd9, %r6; "
	    "redux.sync.min.s32 %r7, %r1, %r5; cvt.u64.u32 %rd10, %r7; shl.b64 %rd10, %rd10, 32; "
	    "or.b64 %rd9, %rd9, %rd10;",
	    out);
	for (int i = 0; i < 32; i++) {
		uint32_t mx = 0;
		int32_t mn = INT32_MAX;
		for (int k = 0; k < 32; k++)
			if (group[i] >> k & 1) {
				mx = A[k] > mx ? A[k] : mx;
				mn = (int32_t)A[k] < mn ? (int32_t)A[k] : mn;
			}
		assert_int_equal(out[i], (uint64_t)mx | (uint64_t)(uint32_t)mn << 32);
	}
	run_u32(
	    "and.b32 %r3, %r4, 3; match.any.sync.b32 %r5, %r3, -1; "
	    "redux.sync.add.u32 %r6, %r4, %r5; cvt.u64.u32 %rd9, %r6; "
	    "redux.sync.or.b32 %r7, %r1, %r5; cvt.u64.u32 %rd10, %r7; shl.b64 %rd10, %rd10, 32; "
	    "or.b64 %rd9, %rd9, %rd10;",
	    out);
	for (int i = 0; i < 32; i++) {
		uint32_t sum = 0, or = 0;
		for (int k = 0; k < 32; k++)
			if (group[i] >> k & 1) {
				sum += C[k];
				or |= A[k];
			}
		assert_int_equal(out[i], (uint64_t)sum | (uint64_t) or << 32);
	}
	/* vote and match.all over each lane's group. */
	run_u32(
	    "and.b32 %r3, %r4, 3; match.any.sync.b32 %r5, %r3, -1; and.b32 %r8, %r1, 1; "
	    "setp.ne.u32 %p1, %r8, 0; vote.sync.ballot.b32 %r6, %p1, %r5; "
	    "vote.sync.any.pred %p2, %p1, %r5; vote.sync.all.pred %p3, %p1, %r5; "
	    "match.all.sync.b32 %r7|%p4, %r3, %r5; "
	    "cvt.u64.u32 %rd9, %r6; selp.u64 %rd10, 1, 0, %p2; selp.u64 %rd11, 2, 0, %p3; "
	    "or.b64 %rd10, %rd10, %rd11; selp.u64 %rd11, 4, 0, %p4; or.b64 %rd10, %rd10, %rd11; "
	    "setp.eq.u32 %p5, %r7, %r5; selp.u64 %rd11, 8, 0, %p5; or.b64 %rd10, %rd10, %rd11; "
	    "shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
	    out);
	for (int i = 0; i < 32; i++) {
		uint32_t b = ballot & group[i];
		uint64_t flags = (b != 0) | (uint64_t)(b == group[i]) << 1 | 4 | 8;
		assert_int_equal(out[i], (uint64_t)b | flags << 32);
	}
	/* A diverged warp: lanes 0-15 and 16-31 each run their own .sync ops
	 * with a mask of just their half (bar.warp.sync must not wait for the
	 * other half). */
	run_u32(
	    "setp.lt.u32 %p1, %r10, 16; @!%p1 bra HI; bar.warp.sync 0xffff; "
	    "shfl.sync.bfly.b32 %r3, %r1, 1, 31, 0xffff; vote.sync.ballot.b32 %r5, %p1, 0xffff; "
	    "redux.sync.add.u32 %r6, %r4, 0xffff; bra END; "
	    "HI: bar.warp.sync 0xffff0000; shfl.sync.down.b32 %r3, %r1, 1, 31, 0xffff0000; "
	    "vote.sync.ballot.b32 %r5, %p1, 0xffff0000; redux.sync.add.u32 %r6, %r4, 0xffff0000; "
	    "END: cvt.u64.u32 %rd9, %r3; xor.b32 %r5, %r5, %r6; cvt.u64.u32 %rd10, %r5; "
	    "shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
	    out);
	for (int i = 0; i < 32; i++) {
		uint32_t lo = 0, hi = 0, shfl = i < 16 ? A[i ^ 1] : i < 31 ? A[i + 1] : A[i];
		for (int k = 0; k < 16; k++) {
			lo += C[k];
			hi += C[k + 16];
		}
		assert_int_equal(out[i], (uint64_t)shfl | (uint64_t)(i < 16 ? 0xffffu ^ lo : hi)
							      << 32);
	}
}

/* Special registers nvcc emits: the warp size, the lane masks, cooperative
 * groups' reserved shared memory (after the kernel's own, 1 KiB as CUDA
 * reserves on sm_80), and the timers. */
static void test_special_registers(void **state)
{
	uint64_t out[32];

	run_u32("mov.u32 %r3, WARP_SZ; mov.u32 %r5, %lanemask_lt; mov.u32 %r6, %lanemask_ge; "
		"add.u32 %r3, %r3, %r5; xor.b32 %r3, %r3, %r6; cvt.u64.u32 %rd9, %r3;",
		out);
	CHECK_LANES((32u + ((1u << i) - 1)) ^ ~((1u << i) - 1));
	run_u32("mov.u32 %r3, %reserved_smem_offset_begin; mov.u32 %r5, %reserved_smem_offset_end; "
		"mov.u32 %r6, %reserved_smem_offset_cap; mov.u32 %r7, %total_smem_size; "
		"mov.u32 %r8, %aggr_smem_size; sub.u32 %r5, %r5, %r3; "
		"st.shared.u32 [%r3], %r10; ld.shared.u32 %r9, [%r3]; "
		"cvt.u64.u32 %rd9, %r5; cvt.u64.u32 %rd10, %r6; shl.b64 %rd10, %rd10, 16; "
		"or.b64 %rd9, %rd9, %rd10; cvt.u64.u32 %rd10, %r7; shl.b64 %rd10, %rd10, 32; "
		"or.b64 %rd9, %rd9, %rd10; cvt.u64.u32 %rd10, %r8; shl.b64 %rd10, %rd10, 48; "
		"or.b64 %rd9, %rd9, %rd10; setp.eq.u32 %p1, %r3, %r7; @!%p1 mov.b64 %rd9, 1;",
		out);
	CHECK_LANES(1024u | 1024ull << 16 | 0ull << 32 | 1024ull << 48);
	run_u32("mov.u64 %rd9, %clock64; mov.u64 %rd10, %globaltimer; mov.u32 %r3, "
		"%globaltimer_hi; cvt.u64.u32 %rd11, %r3; shr.u64 %rd10, %rd10, 32; sub.u64 %rd10, "
		"%rd11, %rd10; setp.le.u64 %p1, %rd10, 1; setp.ne.u64 %p2, %rd9, 0; and.pred %p1, "
		"%p1, %p2; selp.u64 %rd9, 1, 0, %p1;",
		out);
	CHECK_LANES(1);
}

static void test_atomics(void **state)
{
	uint64_t out[32];

	/* Every lane adds to word 0 of the output and min/max into words 1, 2;
	 * the returned old values are a permutation of the partial sums. */
	cuMemsetD32(d_out + 256, 0, 16);
	run_u32("add.s64 %rd12, %rd1, 264; atom.global.add.u32 %r3, [%rd1+256], %r4; "
		"atom.global.min.s32 %r5, [%rd12], %r1; "
		"atom.global.max.u32 %r6, [%rd12+4], %r1; atom.global.inc.u32 %r7, [%rd12+8], 9; "
		"atom.global.cas.b32 %r8, [%rd12+12], 0, %r4; bar.sync 0; mov.b64 %rd9, 0;",
		out);
	{
		uint32_t w[8];
		uint64_t sum = 0;
		int32_t mn = 0;
		uint32_t mx = 0;
		cuMemcpyDtoH(w, d_out + 256, sizeof(w));
		for (int i = 0; i < 32; i++) {
			sum += C[i];
			mn = (int32_t)A[i] < mn ? (int32_t)A[i] : mn;
			mx = A[i] > mx ? A[i] : mx;
		}
		assert_int_equal(w[0], (uint32_t)sum);
		assert_int_equal((int32_t)w[2], mn);
		assert_int_equal(w[3], mx);
		assert_int_equal(w[4], 32 % 10); /* inc wraps to 0 past 9 */
		assert_int_equal(w[5], C[0]);	 /* the first CAS wins */
	}
}

static void test_divergence(void **state)
{
	uint64_t out[32];

	/* Nested divergence inside a loop that runs a lane-dependent count. */
	run_u32("mov.u32 %r5, 0; mov.u32 %r6, 0;\n"
		"LOOP: setp.ge.u32 %p1, %r6, %r10; @%p1 bra DONE;\n"
		"and.b32 %r7, %r6, 1; setp.eq.u32 %p2, %r7, 0; @%p2 bra EVEN;\n"
		"add.u32 %r5, %r5, 3; bra NEXT;\n"
		"EVEN: and.b32 %r8, %r10, 2; setp.eq.u32 %p3, %r8, 0; @%p3 bra NEXT; add.u32 %r5, "
		"%r5, 100;\n"
		"NEXT: add.u32 %r6, %r6, 1; bra LOOP;\n"
		"DONE: cvt.u64.u32 %rd9, %r5;",
		out);
	for (int i = 0; i < 32; i++) {
		uint32_t v = 0;
		for (int k = 0; k < i; k++)
			v += (k & 1) ? 3 : ((i & 2) ? 100 : 0);
		assert_int_equal(out[i], v);
	}
}

static void test_unsupported_is_refused(void **state)
{
	char log[512] = "";
	uint64_t out[32];
	uint32_t in[96] = {0};

	assert_int_equal(
	    run_body("", "frobnicate.b32 %r3, %r1;", out, in, sizeof(in), log, sizeof(log)),
	    CUDA_ERROR_INVALID_PTX);
	assert_non_null(strstr(log, "frobnicate"));
	assert_non_null(strstr(log, "line 24"));
	assert_int_equal(
	    run_body("", "add.s32 %r3, %nosuch, %r1;", out, in, sizeof(in), log, sizeof(log)),
	    CUDA_ERROR_INVALID_PTX);
	assert_non_null(strstr(log, "%nosuch"));
	assert_int_equal(run_body("", "bra NOWHERE;", out, in, sizeof(in), log, sizeof(log)),
			 CUDA_ERROR_INVALID_PTX);
	assert_non_null(strstr(log, "NOWHERE"));
}

/* The carry chain that unsigned __int128 compiles to: add.cc/addc,
 * sub.cc/subc, mad.cc/madc, in 32 and 64 bits, against the host's own
 * wide arithmetic. */
#define JOIN_HI_LO                                                                                 \
	"cvt.u64.u32 %rd7, %r5; shl.b64 %rd7, %rd7, 32; cvt.u64.u32 %rd8, %r3;"                    \
	"or.b64 %rd9, %rd7, %rd8;"
static void test_carry_chains(void **state)
{
	uint64_t out[32];

	(void)state;
	run_u32("add.cc.u32 %r3, %r1, %r2; addc.u32 %r5, 0, 0;" JOIN_HI_LO, out);
	CHECK_LANES((uint64_t)A[i] + B[i]);
	run_u32("sub.cc.u32 %r3, %r1, %r2; subc.u32 %r5, 0, 0;" JOIN_HI_LO, out);
	CHECK_LANES(((uint64_t)(A[i] < B[i] ? 0xffffffffu : 0) << 32) | (uint32_t)(A[i] - B[i]));
	run_u32("mad.lo.cc.u32 %r3, %r1, %r2, %r4; madc.hi.u32 %r5, %r1, %r2, 0;" JOIN_HI_LO, out);
	CHECK_LANES((uint64_t)A[i] * B[i] + C[i]);
	/* A three-word chain: addc.cc passes the carry on. */
	run_u32("add.cc.u32 %r3, %r1, -1; addc.cc.u32 %r5, %r2, -1; addc.u32 %r6, 0, 0;"
		"cvt.u64.u32 %rd9, %r6;",
		out);
	CHECK_LANES((((uint64_t)B[i] << 32) | A[i]) != 0);
	/* 64 bits: the carry out of all ones plus a. */
	run_u32("mov.b64 %rd5, -1; cvt.u64.u32 %rd6, %r1; add.cc.u64 %rd7, %rd5, %rd6;"
		"addc.u64 %rd9, %rd7, 0;",
		out);
	CHECK_LANES((uint64_t)A[i] - 1 + (A[i] != 0));
	run_u32("cvt.u64.u32 %rd5, %r1; cvt.u64.u32 %rd6, %r2; sub.cc.u64 %rd7, %rd5, %rd6;"
		"subc.u64 %rd9, 0, 0;",
		out);
	CHECK_LANES(A[i] < B[i] ? ~0ull : 0);
	/* The CF a subtraction leaves, read by an addition: 1 when nothing
	 * was borrowed, as the hardware has it (NVIDIA's 128-bit division
	 * relies on it). */
	run_u32("sub.cc.u32 %r3, %r1, %r2; addc.u32 %r5, 0, 0; sub.cc.u32 %r6, %r1, %r2; "
		"subc.cc.u32 %r7, %r4, %r4; addc.u32 %r8, 0, 0; cvt.u64.u32 %rd9, %r5; "
		"cvt.u64.u32 %rd10, %r8; shl.b64 %rd10, %rd10, 32; or.b64 %rd9, %rd9, %rd10;",
		out);
	CHECK_LANES((uint64_t)(A[i] >= B[i]) | (uint64_t)(A[i] >= B[i]) << 32);
	run_u32("cvt.u64.u32 %rd5, %r1; shl.b64 %rd5, %rd5, 33; cvt.u64.u32 %rd6, %r2;"
		"shl.b64 %rd6, %rd6, 31; mul.hi.u64 %rd9, %rd5, %rd6;",
		out);
	CHECK_LANES(
	    (uint64_t)(((unsigned __int128)((uint64_t)A[i] << 33) * ((uint64_t)B[i] << 31)) >> 64));
}

/* Loads a whole module's text; returns the result, the log in log. */
static CUresult load_text(const char *ptx, char *log, size_t log_len)
{
	CUmodule mod;
	CUjit_option opts[2] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
	void *vals[2] = {log, (void *)(uintptr_t)log_len};
	CUresult rc = cuModuleLoadDataEx(&mod, ptx, 2, opts, vals);

	if (rc == CUDA_SUCCESS)
		cuModuleUnload(mod);
	return rc;
}

#define PTX_HEAD ".version 8.0\n.target sm_80\n.address_size 64\n"

/* What a hostile guest's PTX tried: each is refused with a message, without
 * a double free, an out-of-bounds read or an unbounded allocation. */
static void test_hostile_ptx_is_refused(void **state)
{
	static const struct {
		const char *decls, *body, *says;
	} bad[] = {
	    /* an unknown label after one that resolved: freed twice once */
	    {"", "bra DONE2;\nbra NOWHERE;\nDONE2:", "NOWHERE"},
	    /* a number where a label belongs: read before an array once */
	    {"", "bra 4;", "label"},
	    /* a quoted token with a newline: the log line it lands in stays one */
	    {"", "mov.u32 %r3, \"x\nforged\";", "\"x?forged\""},
	    /* a token of dots where an opcode belongs (found by fuzz_ptx) */
	    {"", "@%p1 ....;", "unexpected"},
	    /* an instruction the CPU device does not know: refused at load,
	     * naming it, never at launch */
	    {"", "vabsdiff.u32.u32.u32.add %r3, %r1, %r2, %r4;", "vabsdiff"},
	    /* .cc outside the carry family, or a carry with a missing operand */
	    {"", "mov.cc.u32 %r3, %r1;", "carry"},
	    {"", "addc.u32 %r3, %r1;", "carry"},
	    {"", "@%p1 bra %r1;", "label"},
	    /* a register count that looped until the host ran out of memory */
	    {".reg .b32 %big<9223372036854775807>;", "", "register count"},
	    {".reg .b32 %big<1048576>;", "", "registers"},
	    {".reg .b32 %big<-5>;", "", "register count"},
	    /* sizes whose product wraps, or that no device has */
	    {".local .align 4 .b8 l[4294967296][4294967296];", "", "array size"},
	    {".local .align 4 .b8 l[1048576];", "", "local memory"},
	    {".shared .align 4 .b8 s[65536];", "st.shared.u32 [s], %r1;", "static shared memory"},
	    {".shared .align 4 .b8 s[16777216]; .shared .align 4 .b8 t[16];", "",
	     "static shared memory"},
	    {".local .align 3 .b8 l[16];", "", "power of two"},
	    {".local .align 0 .b8 l[16];", "", "alignment"},
	    {".local .v3 .b32 l[16];", "", "vector width"},
	};
	uint32_t in[96] = {0};
	uint64_t out[32];

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char log[512] = "";
		CUresult rc =
		    run_body(bad[i].decls, bad[i].body, out, in, sizeof(in), log, sizeof(log));
		if (rc != CUDA_ERROR_INVALID_PTX || !strstr(log, bad[i].says))
			fail_msg("case %zu: result %d, log '%s' (want '%s')", i, (int)rc, log,
				 bad[i].says);
	}
	{
		char log[512] = "";
		assert_int_equal(
		    load_text(PTX_HEAD ".global .align 4 .b8 g[536870912];\n", log, sizeof(log)),
		    CUDA_ERROR_INVALID_PTX);
		assert_non_null(strstr(log, "array size"));
		assert_int_equal(
		    load_text(PTX_HEAD ".const .align 4 .b8 c[65540];\n", log, sizeof(log)),
		    CUDA_ERROR_INVALID_PTX);
		assert_non_null(strstr(log, "constant memory"));
		assert_int_equal(
		    load_text(PTX_HEAD
			      ".visible .entry k(.param .align 8 .b8 p[40000])\n{\nret;\n}\n",
			      log, sizeof(log)),
		    CUDA_ERROR_INVALID_PTX);
		assert_non_null(strstr(log, "parameters"));
		assert_int_equal(
		    load_text(PTX_HEAD
			      ".visible .entry k() .maxntid 4294967295, 1, 1\n{\nret;\n}\n",
			      log, sizeof(log)),
		    CUDA_ERROR_INVALID_PTX);
		assert_non_null(strstr(log, "block dimension"));
	}
}

/* A function with a great many branches loads in linear memory and time
 * (the post-dominator analysis was quadratic in blocks once). */
static void test_large_cfg_loads(void **state)
{
	enum { N = 60000 };
	size_t cap = (size_t)N * 48 + 1024, n = 0;
	char *ptx = malloc(cap), log[256] = "";

	assert_non_null(ptx);
	n += (size_t)snprintf(ptx + n, cap - n,
			      PTX_HEAD ".visible .entry k()\n{\n.reg .pred %%p<2>;\n"
				       "setp.eq.u32 %%p1, 1, 1;\n");
	for (int i = 0; i < N; i++)
		n += (size_t)snprintf(ptx + n, cap - n, "@%%p1 bra L%d;\nL%d:\n", i, i);
	snprintf(ptx + n, cap - n, "ret;\n}\n");
	assert_int_equal(load_text(ptx, log, sizeof(log)), CUDA_SUCCESS);
	free(ptx);
}

/* Damaged PTX (a vcudad worker parses what guests send) loads or is
 * refused, never crashes or reads out of bounds (the sanitizer build runs
 * this too). */
static void test_mutated_ptx_is_safe(void **state)
{
	static const char base[] =
	    ".version 8.0\n.target sm_80\n.address_size 64\n"
	    ".global .align 4 .b8 tbl[8] = {1, 2, 3, 4, 5, 6, 7, 8};\n"
	    ".visible .entry t(.param .u64 out, .param .u32 n)\n{\n"
	    ".reg .pred %p<3>;\n.reg .b32 %r<8>;\n.reg .b64 %rd<8>;\n"
	    "ld.param.u64 %rd1, [out];\nld.param.u32 %r1, [n];\nmov.u32 %r2, %tid.x;\n"
	    "setp.ge.u32 %p1, %r2, %r1;\n@%p1 bra DONE;\nmul.wide.u32 %rd2, %r2, 4;\n"
	    "add.s64 %rd3, %rd1, %rd2;\nst.global.u32 [%rd3+-4], %r2;\nDONE:\nret;\n}\n";
	static const char alphabet[] = " .%[]{};,-0129abxz\n@!|";
	char ptx[sizeof(base)];
	uint32_t seed = 12345;
	int loaded = 0, ran = 0;

	for (int round = 0; round < 3000; round++) {
		CUmodule mod;
		char log[256];
		CUjit_option opts[2] = {CU_JIT_ERROR_LOG_BUFFER,
					CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
		void *vals[2] = {log, (void *)(uintptr_t)sizeof(log)};
		memcpy(ptx, base, sizeof(base));
		for (int k = 0; k < 1 + round % 4; k++) {
			seed = seed * 1103515245u + 12345u;
			size_t pos = (seed >> 8) % (sizeof(base) - 1);
			seed = seed * 1103515245u + 12345u;
			ptx[pos] = alphabet[(seed >> 8) % (sizeof(alphabet) - 1)];
		}
		if (cuModuleLoadDataEx(&mod, ptx, 2, opts, vals) == CUDA_SUCCESS) {
			/* What loads also runs, or fails as a kernel fails: a
			 * damaged instruction that parses must not reach past its
			 * operands when it executes. */
			CUfunction f;
			uint32_t n = 32;
			void *args[] = {&d_out, &n};
			if (cuModuleGetFunction(&f, mod, "t") == CUDA_SUCCESS &&
			    cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, NULL, args, NULL) ==
				CUDA_SUCCESS)
				ran += cuCtxSynchronize() == CUDA_SUCCESS;
			loaded++;
			cuModuleUnload(mod);
			if (cuCtxSynchronize() != CUDA_SUCCESS) { /* a fault sticks: start again */
				cuCtxDestroy(ctx);
				assert_int_equal(setup(NULL), 0);
			}
		}
	}
	assert_true(loaded > 0);
	assert_true(ran > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_integer_arithmetic),
	    cmocka_unit_test(test_bit_operations),
	    cmocka_unit_test(test_float_arithmetic),
	    cmocka_unit_test(test_conversions),
	    cmocka_unit_test(test_compare_select),
	    cmocka_unit_test(test_warp_shuffles),
	    cmocka_unit_test(test_votes),
	    cmocka_unit_test(test_barrier_reductions),
	    cmocka_unit_test(test_partial_masks),
	    cmocka_unit_test(test_special_registers),
	    cmocka_unit_test(test_half_arithmetic),
	    cmocka_unit_test(test_half_conversions),
	    cmocka_unit_test(test_half_atomics),
	    cmocka_unit_test(test_integer_extras),
	    cmocka_unit_test(test_mbarrier),
	    cmocka_unit_test(test_video),
	    cmocka_unit_test(test_alloca),
	    cmocka_unit_test(test_wmma_random),
	    cmocka_unit_test(test_clusters),
	    cmocka_unit_test(test_atomics),
	    cmocka_unit_test(test_divergence),
	    cmocka_unit_test(test_unsupported_is_refused),
	    cmocka_unit_test(test_mutated_ptx_is_safe),
	    cmocka_unit_test(test_hostile_ptx_is_refused),
	    cmocka_unit_test(test_carry_chains),
	    cmocka_unit_test(test_bmsk),
	    cmocka_unit_test(test_shared_per_kernel),
	    cmocka_unit_test(test_large_cfg_loads),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
