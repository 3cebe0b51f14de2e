/*
 * Kernels built by nvcc, run on the CPU device through the driver API:
 *   cpu_kernels MODULE [--bench]
 * MODULE is a fat binary or PTX file made from kernels.cu. Each test checks
 * its results against values computed here, on the host.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda.h>

static int failures;
static CUmodule mod;

#define CHECK(call)                                                                                \
	do {                                                                                       \
		CUresult r_ = (call);                                                              \
		if (r_ != CUDA_SUCCESS) {                                                          \
			const char *n_ = "?";                                                      \
			cuGetErrorName(r_, &n_);                                                   \
			fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, n_);         \
			failures++;                                                                \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define EXPECT(cond, ...)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static CUfunction fn(const char *name)
{
	CUfunction f = NULL;

	if (cuModuleGetFunction(&f, mod, name) != CUDA_SUCCESS) {
		fprintf(stderr, "no kernel %s\n", name);
		failures++;
	}
	return f;
}

static CUdeviceptr dalloc(size_t n)
{
	CUdeviceptr d = 0;

	if (cuMemAlloc(&d, n) != CUDA_SUCCESS)
		failures++;
	return d;
}

static void test_vec_add(void)
{
	int n = 1000003;
	size_t bytes = (size_t)n * sizeof(float);
	float *a = malloc(bytes), *b = malloc(bytes), *c = malloc(bytes);
	CUdeviceptr da = dalloc(bytes), db = dalloc(bytes), dc = dalloc(bytes);
	void *args[] = {&da, &db, &dc, &n};
	int bad = 0;

	for (int i = 0; i < n; i++) {
		a[i] = (float)i * 0.5f;
		b[i] = (float)(n - i);
	}
	CHECK(cuMemcpyHtoD(da, a, bytes));
	CHECK(cuMemcpyHtoD(db, b, bytes));
	CHECK(cuLaunchKernel(fn("vec_add"), (unsigned)(n + 255) / 256, 1, 1, 256, 1, 1, 0, NULL,
			     args, NULL));
	CHECK(cuMemcpyDtoH(c, dc, bytes));
	for (int i = 0; i < n; i++)
		bad += c[i] != a[i] + b[i];
	EXPECT(bad == 0, "vec_add: %d wrong", bad);
	free(a), free(b), free(c);
	cuMemFree(da), cuMemFree(db), cuMemFree(dc);
}

static void test_matmul(void)
{
	int n = 128;
	size_t bytes = (size_t)n * n * sizeof(float);
	float *a = malloc(bytes), *b = malloc(bytes), *c = malloc(bytes);
	CUdeviceptr da = dalloc(bytes), db = dalloc(bytes), dc = dalloc(bytes);
	void *args[] = {&da, &db, &dc, &n};
	double worst = 0;

	for (int i = 0; i < n * n; i++) {
		a[i] = (float)((i * 7) % 13) - 6;
		b[i] = (float)((i * 5) % 11) - 5;
	}
	CHECK(cuMemcpyHtoD(da, a, bytes));
	CHECK(cuMemcpyHtoD(db, b, bytes));
	CHECK(cuLaunchKernel(fn("matmul"), (unsigned)n / 16, (unsigned)n / 16, 1, 16, 16, 1, 0,
			     NULL, args, NULL));
	CHECK(cuMemcpyDtoH(c, dc, bytes));
	for (int r = 0; r < n; r++)
		for (int col = 0; col < n; col++) {
			double s = 0;
			for (int k = 0; k < n; k++)
				s += (double)a[r * n + k] * b[k * n + col];
			worst = fmax(worst, fabs(s - c[r * n + col]));
		}
	EXPECT(worst == 0, "matmul: off by %g", worst);
	free(a), free(b), free(c);
	cuMemFree(da), cuMemFree(db), cuMemFree(dc);
}

static void test_reduce(void)
{
	int n = 1 << 20;
	int *in = malloc((size_t)n * 4);
	unsigned long long expect = 0, got = 0;
	CUdeviceptr din = dalloc((size_t)n * 4), dout = dalloc(8);
	void *args[] = {&din, &dout, &n};

	for (int i = 0; i < n; i++) {
		in[i] = (i * 2654435761u) >> 20;
		expect += (unsigned)in[i];
	}
	CHECK(cuMemcpyHtoD(din, in, (size_t)n * 4));
	CHECK(cuMemsetD32(dout, 0, 2));
	CHECK(cuLaunchKernel(fn("reduce_sum"), 64, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
	CHECK(cuMemcpyDtoH(&got, dout, 8));
	EXPECT(got == expect, "reduce_sum: %llu, expected %llu", got, expect);
	free(in);
	cuMemFree(din), cuMemFree(dout);
}

static void test_histogram(void)
{
	int n = 300000;
	unsigned char *in = malloc((size_t)n);
	unsigned bins[256], expect[256] = {0};
	float maxv = 0;
	CUdeviceptr din = dalloc((size_t)n), dbins = dalloc(sizeof(bins)), dmax = dalloc(4);
	void *args[] = {&din, &n, &dbins, &dmax};
	int bad = 0;

	for (int i = 0; i < n; i++) {
		in[i] = (unsigned char)((i * 131 + (i >> 5)) % 251);
		expect[in[i]]++;
	}
	CHECK(cuMemcpyHtoD(din, in, (size_t)n));
	CHECK(cuMemsetD32(dbins, 0, 256));
	CHECK(cuMemsetD32(dmax, 0, 1));
	CHECK(cuLaunchKernel(fn("histogram"), 32, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
	CHECK(cuMemcpyDtoH(bins, dbins, sizeof(bins)));
	CHECK(cuMemcpyDtoH(&maxv, dmax, 4));
	for (int i = 0; i < 256; i++)
		bad += bins[i] != expect[i];
	EXPECT(bad == 0, "histogram: %d bins wrong", bad);
	EXPECT(maxv == 125.0f, "histogram: max %g, expected 125", maxv);
	free(in);
	cuMemFree(din), cuMemFree(dbins), cuMemFree(dmax);
}

static void test_votes(void)
{
	int in[1024], flags[64];
	unsigned ballots[2048];
	CUdeviceptr din = dalloc(sizeof(in)), db = dalloc(sizeof(ballots)),
		    df = dalloc(sizeof(flags));
	void *args[] = {&din, &db, &df};
	int bad = 0;

	for (int i = 0; i < 1024; i++)
		in[i] = (i / 32) % 3 == 0 ? 1 : (i % 5 == 0 ? 2 : -1 - (i % 4));
	CHECK(cuMemcpyHtoD(din, in, sizeof(in)));
	CHECK(cuLaunchKernel(fn("votes"), 4, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
	CHECK(cuMemcpyDtoH(ballots, db, sizeof(ballots)));
	CHECK(cuMemcpyDtoH(flags, df, sizeof(flags)));
	for (int w = 0; w < 32; w++) {
		unsigned b = 0;
		for (int l = 0; l < 32; l++)
			b |= (unsigned)(in[w * 32 + l] > 0) << l;
		bad += ballots[w] != b;
		bad += flags[w * 2] != (b == 0xffffffffu);
		bad += flags[w * 2 + 1] != (b != 0);
		for (int l = 0; l < 32; l++) {
			unsigned same = 0;
			for (int k = 0; k < 32; k++)
				same |= (unsigned)((in[w * 32 + k] & 3) == (in[w * 32 + l] & 3))
					<< k;
			bad += ballots[1024 + w * 32 + l] != same;
		}
	}
	EXPECT(bad == 0, "votes: %d wrong", bad);
	cuMemFree(din), cuMemFree(db), cuMemFree(df);
}

static void test_dyn_shared(void)
{
	float in[512], out[512];
	CUdeviceptr din = dalloc(sizeof(in)), dout = dalloc(sizeof(out));
	void *args[] = {&din, &dout};
	int bad = 0;

	for (int i = 0; i < 512; i++)
		in[i] = (float)i;
	CHECK(cuMemcpyHtoD(din, in, sizeof(in)));
	CHECK(cuLaunchKernel(fn("dyn_shared"), 2, 1, 1, 256, 1, 1, 256 * sizeof(float), NULL, args,
			     NULL));
	CHECK(cuMemcpyDtoH(out, dout, sizeof(out)));
	for (int b = 0; b < 2; b++)
		for (int i = 0; i < 256; i++)
			bad += out[b * 256 + i] != in[b * 256 + 255 - i];
	EXPECT(bad == 0, "dyn_shared: %d wrong", bad);
	cuMemFree(din), cuMemFree(dout);
}

static void test_symbols(void)
{
	CUdeviceptr dtable, dcounter, dcoeffs, dout = dalloc(64 * 4);
	size_t size;
	float table[8], coeffs[4] = {10, 20, 30, 40}, out[64];
	int counter = 5, bad = 0;
	void *args[] = {&dout};

	CHECK(cuModuleGetGlobal(&dtable, &size, mod, "table"));
	EXPECT(size == sizeof(table), "table is %zu bytes", size);
	CHECK(cuModuleGetGlobal(&dcounter, &size, mod, "counter"));
	CHECK(cuModuleGetGlobal(&dcoeffs, &size, mod, "coeffs"));
	EXPECT(size == sizeof(coeffs), "coeffs is %zu bytes", size);
	EXPECT(cuModuleGetGlobal(&dtable, &size, mod, "no_such_symbol") == CUDA_ERROR_NOT_FOUND,
	       "unknown symbols are not found");
	/* The initializer is there before anything is written. */
	CHECK(cuMemcpyDtoH(coeffs, dcoeffs, sizeof(coeffs)));
	EXPECT(coeffs[0] == 1.0f && coeffs[3] == 4.0f, "coeffs initializer: %g %g", coeffs[0],
	       coeffs[3]);
	coeffs[0] = 10, coeffs[1] = 20, coeffs[2] = 30, coeffs[3] = 40;
	for (int i = 0; i < 8; i++)
		table[i] = (float)i + 0.5f;
	CHECK(cuMemcpyHtoD(dtable, table, sizeof(table)));
	CHECK(cuMemcpyHtoD(dcoeffs, coeffs, sizeof(coeffs)));
	CHECK(cuMemcpyHtoD(dcounter, &counter, 4));
	CHECK(cuLaunchKernel(fn("symbols"), 1, 1, 1, 64, 1, 1, 0, NULL, args, NULL));
	CHECK(cuMemcpyDtoH(out, dout, sizeof(out)));
	CHECK(cuMemcpyDtoH(&counter, dcounter, 4));
	for (int i = 0; i < 64; i++)
		bad += out[i] != coeffs[i & 3] * table[i & 7];
	EXPECT(bad == 0, "symbols: %d wrong", bad);
	EXPECT(counter == 69, "counter is %d, expected 69", counter);
	cuMemFree(dout);
}

struct mixed {
	char c;
	double d;
	short s;
	int i;
	float f[3];
};

static void test_mixed_params(void)
{
	struct mixed m = {3, 0.25, -7, 100000, {1.5f, 2.5f, -4.0f}};
	char c = -2;
	short s = 300;
	long long big = 1ll << 40;
	float fs = 0.5f, fout[32];
	double ds = 2.0, dout[32];
	CUdeviceptr df = dalloc(sizeof(fout)), dd = dalloc(sizeof(dout));
	void *fargs[] = {&df, &c, &m, &s, &fs, &big}, *dargs[] = {&dd, &c, &m, &s, &ds, &big};
	double expect = c + m.c + m.d + m.s + m.i + m.f[0] + m.f[1] + m.f[2] + s + (double)big;
	size_t off, size;

	CHECK(cuLaunchKernel(fn("_Z12mixed_paramsIfEvPT_c5MixedsS0_x"), 1, 1, 1, 32, 1, 1, 0, NULL,
			     fargs, NULL));
	CHECK(cuLaunchKernel(fn("_Z12mixed_paramsIdEvPT_c5MixedsS0_x"), 1, 1, 1, 32, 1, 1, 0, NULL,
			     dargs, NULL));
	CHECK(cuMemcpyDtoH(fout, df, sizeof(fout)));
	CHECK(cuMemcpyDtoH(dout, dd, sizeof(dout)));
	EXPECT(fout[31] == (float)((float)expect * fs), "float: %.9g, expected %.9g", fout[31],
	       (float)expect * fs);
	EXPECT(dout[0] == expect * ds, "double: %.17g, expected %.17g", dout[0], expect * ds);
	/* The layout CUDA uses: each parameter at its own alignment. */
	CHECK(cuFuncGetParamInfo(fn("_Z12mixed_paramsIdEvPT_c5MixedsS0_x"), 2, &off, &size));
	EXPECT(off == 16 && size == sizeof(struct mixed), "Mixed at %zu, %zu bytes", off, size);
	CHECK(cuFuncGetParamInfo(fn("_Z12mixed_paramsIdEvPT_c5MixedsS0_x"), 5, &off, &size));
	EXPECT(off == 72 && size == 8, "long long at %zu, %zu bytes", off, size);
	cuMemFree(df), cuMemFree(dd);
}

/* Distance in units in the last place. */
static double ulps32(float a, float b)
{
	if (a == b || (isnan(a) && isnan(b)))
		return 0;
	return fabs((double)a - b) / fmax(nextafterf(fabsf(b), INFINITY) - fabsf(b), 1e-45);
}

static double ulps64(double a, double b)
{
	if (a == b || (isnan(a) && isnan(b)))
		return 0;
	return fabs(a - b) / (nextafter(fabs(b), INFINITY) - fabs(b));
}

static void test_math(void)
{
	enum { N = 1000 };
	float x[N], out[N * 8];
	double xd[N], outd[N * 6];
	int n = N;
	CUdeviceptr dx = dalloc(sizeof(x)), dout = dalloc(sizeof(out));
	CUdeviceptr dxd = dalloc(sizeof(xd)), doutd = dalloc(sizeof(outd));
	void *args[] = {&dx, &dout, &n}, *argsd[] = {&dxd, &doutd, &n};
	/* CUDA's documented maximum errors (ulp) for these functions. */
	static const double bound32[8] = {2, 2, 2, 1, 1, 2, 8, 2};
	static const double bound64[6] = {2, 1, 1, 0, 0, 0};
	double worst32[8] = {0}, worst64[6] = {0};

	for (int i = 0; i < N; i++) {
		x[i] = (float)(i - N / 2) * 0.0137f;
		xd[i] = (double)(i - N / 2) * 0.0137;
	}
	CHECK(cuMemcpyHtoD(dx, x, sizeof(x)));
	CHECK(cuMemcpyHtoD(dxd, xd, sizeof(xd)));
	CHECK(
	    cuLaunchKernel(fn("math_f32"), (N + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, args, NULL));
	CHECK(
	    cuLaunchKernel(fn("math_f64"), (N + 127) / 128, 1, 1, 128, 1, 1, 0, NULL, argsd, NULL));
	CHECK(cuMemcpyDtoH(out, dout, sizeof(out)));
	CHECK(cuMemcpyDtoH(outd, doutd, sizeof(outd)));
	for (int i = 0; i < N; i++) {
		float v = x[i];
		double d = xd[i];
		float ref[8] = {sinf(v),
				cosf(v),
				expf(v),
				logf(fabsf(v) + 1.0f),
				sqrtf(fabsf(v)),
				v / (v * v + 1.0f),
				powf(fabsf(v), 1.5f),
				tanhf(v)};
		/* nvcc contracts d * d + 1.0 into one fma (-fmad=true, its default). */
		double refd[6] = {
		    sin(d),	   exp(d), log(fabs(d) + 1.0), sqrt(fabs(d)), d / fma(d, d, 1.0),
		    fma(d, d, 0.5)};
		for (int k = 0; k < 8; k++)
			worst32[k] = fmax(worst32[k], ulps32(out[i * 8 + k], ref[k]));
		for (int k = 0; k < 6; k++)
			worst64[k] = fmax(worst64[k], ulps64(outd[i * 6 + k], refd[k]));
	}
	for (int k = 0; k < 8; k++)
		EXPECT(worst32[k] <= bound32[k], "f32 function %d: %g ulp, bound %g", k, worst32[k],
		       bound32[k]);
	for (int k = 0; k < 6; k++)
		EXPECT(worst64[k] <= bound64[k], "f64 function %d: %g ulp, bound %g", k, worst64[k],
		       bound64[k]);
	cuMemFree(dx), cuMemFree(dout), cuMemFree(dxd), cuMemFree(doutd);
}

static void test_printf(void)
{
	int tag = 42;
	void *args[] = {&tag};

	CHECK(cuLaunchKernel(fn("say_hello"), 2, 1, 1, 32, 1, 1, 0, NULL, args, NULL));
	CHECK(cuCtxSynchronize());
}

static int collatz(long long v)
{
	int s = 0;

	while (v != 1) {
		v = (v & 1) ? 3 * v + 1 : v / 2;
		s++;
	}
	return s;
}

static void test_divergent_calls(void)
{
	int out[512], bad = 0;
	CUdeviceptr dout = dalloc(sizeof(out));
	void *args[] = {&dout};

	CHECK(cuLaunchKernel(fn("divergent_calls"), 2, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
	CHECK(cuMemcpyDtoH(out, dout, sizeof(out)));
	for (int i = 0; i < 512; i++)
		bad += out[i] != ((i % 3 == 0) ? collatz(i + 1) : -collatz(i + 2));
	EXPECT(bad == 0, "divergent_calls: %d wrong", bad);
	cuMemFree(dout);
}

static void test_launch_limits(void)
{
	CUdeviceptr d = dalloc(4096);
	int n = 1;
	void *args[] = {&d, &d, &d, &n};
	CUfunction f = fn("vec_add");

	EXPECT(cuLaunchKernel(f, 1, 1, 1, 1025, 1, 1, 0, NULL, args, NULL) ==
		   CUDA_ERROR_INVALID_VALUE,
	       "1025 threads per block are refused");
	EXPECT(cuLaunchKernel(f, 1, 1, 1, 32, 32, 2, 0, NULL, args, NULL) ==
		   CUDA_ERROR_INVALID_VALUE,
	       "2048 threads per block are refused");
	EXPECT(cuLaunchKernel(f, 1, 70000, 1, 32, 1, 1, 0, NULL, args, NULL) ==
		   CUDA_ERROR_INVALID_VALUE,
	       "grid y of 70000 is refused");
	EXPECT(cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 200000, NULL, args, NULL) ==
		   CUDA_ERROR_INVALID_VALUE,
	       "200 KB of shared memory is refused");
	EXPECT(cuLaunchKernel(f, 0, 1, 1, 32, 1, 1, 0, NULL, args, NULL) ==
		   CUDA_ERROR_INVALID_VALUE,
	       "an empty grid is refused");
	/* The context is still usable. */
	CHECK(cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, NULL, args, NULL));
	CHECK(cuCtxSynchronize());
	cuMemFree(d);
}

/* Last: the fault makes the context unusable, as on a GPU. */
static void test_illegal_address(void)
{
	CUdeviceptr d = dalloc(4096);
	long long offset = 1ll << 32;
	void *args[] = {&d, &offset};
	CUresult r;

	CHECK(cuLaunchKernel(fn("oob_write"), 1, 1, 1, 32, 1, 1, 0, NULL, args, NULL));
	r = cuCtxSynchronize();
	EXPECT(r == CUDA_ERROR_ILLEGAL_ADDRESS, "out-of-bounds write gave %d", r);
	r = cuMemAlloc(&d, 16);
	EXPECT(r == CUDA_ERROR_ILLEGAL_ADDRESS, "the error is sticky (%d)", r);
}

int main(int argc, char **argv)
{
	CUdevice dev;
	CUcontext ctx;

	if (argc < 2) {
		fprintf(stderr, "usage: cpu_kernels MODULE\n");
		return 2;
	}
	if (cuInit(0) != CUDA_SUCCESS || cuDeviceGet(&dev, 0) != CUDA_SUCCESS ||
	    cuCtxCreate(&ctx, NULL, 0, dev) != CUDA_SUCCESS ||
	    cuModuleLoad(&mod, argv[1]) != CUDA_SUCCESS) {
		fprintf(stderr, "cannot load %s\n", argv[1]);
		return 1;
	}
	test_vec_add();
	test_matmul();
	test_reduce();
	test_histogram();
	test_votes();
	test_dyn_shared();
	test_symbols();
	test_mixed_params();
	test_math();
	test_printf();
	test_divergent_calls();
	test_launch_limits();
	test_illegal_address();
	printf("cpu_kernels %s: %s\n", argv[1], failures ? "FAIL" : "PASS");
	return failures ? 1 : 0;
}
