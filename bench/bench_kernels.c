/*
 * The CPU device's speed: kernels nvcc built, on each of its tiers, against
 * the same algorithms compiled as plain C for the host in the same run.
 *   bench_kernels MODULE [--short]
 * For each kernel: the interpreter (every core), the compiled tier on one
 * host thread and on every core, and the C twin on one thread; then the
 * compiled tier's time as a ratio to C on one thread, its scaling from one
 * thread to all (1.00: linear), and the compiler's time and disk cache.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda.h>

static CUmodule mod;
static int failures; /* wrong results: the run fails */
static unsigned long long (*lane_insns)(void);
/* The CPU device's controls (absent on another driver): the tier of later
 * launches (0 interpreter, 2 compiled) and the host threads they take. */
static void (*set_mode)(int);
static void (*set_threads)(int);
struct jit_stats {
	unsigned long long compiled, compile_ns, cache_hits, cache_misses, interpreted, compared;
};
static void (*jit_stats)(struct jit_stats *);
static int ncores = 1;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

#define CK(x)                                                                                      \
	do {                                                                                       \
		CUresult r_ = (x);                                                                 \
		if (r_) {                                                                          \
			fprintf(stderr, "%s failed (%d)\n", #x, r_);                               \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

static double time_launch(const char *name, unsigned gx, unsigned gy, unsigned bx, unsigned by,
			  void **args, unsigned long long *insns)
{
	CUfunction f;
	unsigned long long before = lane_insns ? lane_insns() : 0;
	double t;

	CK(cuModuleGetFunction(&f, mod, name));
	/* One untimed run: the first touch of fresh memory is not the kernel's cost. */
	CK(cuLaunchKernel(f, gx, gy, 1, bx, by, 1, 0, NULL, args, NULL));
	CK(cuCtxSynchronize());
	before = lane_insns ? lane_insns() : 0;
	t = now();
	CK(cuLaunchKernel(f, gx, gy, 1, bx, by, 1, 0, NULL, args, NULL));
	CK(cuCtxSynchronize());
	t = now() - t;
	*insns = lane_insns ? lane_insns() - before : 0;
	return t;
}

/* A kernel's times: interpreted (every core), compiled on one host thread
 * and on every core. Without the CPU device's controls, one time in .all. */
struct tiers {
	double interp, one, all;
	unsigned long long insns;
};

static void time_tiers(const char *name, unsigned gx, unsigned gy, unsigned bx, unsigned by,
		       void **args, struct tiers *t)
{
	unsigned long long insns;

	if (!set_mode || !set_threads) {
		t->interp = t->one = 0;
		t->all = time_launch(name, gx, gy, bx, by, args, &t->insns);
		return;
	}
	set_mode(0);
	set_threads(0);
	t->interp = time_launch(name, gx, gy, bx, by, args, &t->insns);
	set_mode(2);
	set_threads(1);
	t->one = time_launch(name, gx, gy, bx, by, args, &insns);
	set_threads(0);
	t->all = time_launch(name, gx, gy, bx, by, args, &insns);
}

static void report(const char *what, const struct tiers *t, double host)
{
	if (!t->one) {
		printf("  %-22s %9.1f ms   native C %8.2f ms   ratio %6.1fx\n", what, t->all * 1e3,
		       host * 1e3, t->all / host);
		return;
	}
	printf("  %-22s %9.1f %9.1f %9.1f %9.2f %8.2fx %8.2fx %8.2f\n", what, t->interp * 1e3,
	       t->one * 1e3, t->all * 1e3, host * 1e3, t->one / host, t->interp / t->one,
	       t->one / t->all / ncores);
}

static void bench_vec_add(int n)
{
	size_t bytes = (size_t)n * 4;
	float *a = malloc(bytes), *b = malloc(bytes), *c = malloc(bytes);
	CUdeviceptr da, db, dc;
	void *args[] = {&da, &db, &dc, &n};
	struct tiers t;
	double h;

	for (int i = 0; i < n; i++)
		a[i] = (float)i, b[i] = (float)(n - i);
	CK(cuMemAlloc(&da, bytes));
	CK(cuMemAlloc(&db, bytes));
	CK(cuMemAlloc(&dc, bytes));
	CK(cuMemcpyHtoD(da, a, bytes));
	CK(cuMemcpyHtoD(db, b, bytes));
	time_tiers("vec_add", (unsigned)(n + 255) / 256, 1, 256, 1, args, &t);
	memset(c, 0, bytes);
	h = 1e9;
	for (int rep = 0; rep < 3; rep++) { /* the best of three: memory bandwidth varies */
		double t0 = now();
		for (int i = 0; i < n; i++)
			c[i] = a[i] + b[i];
		h = fmin(h, now() - t0);
	}
	CK(cuMemcpyDtoH(a, dc, bytes));
	if (memcmp(a, c, bytes) != 0)
		printf("  vec_add: WRONG RESULT\n"), failures++;
	report("vector add", &t, h);
	cuMemFree(da), cuMemFree(db), cuMemFree(dc);
	free(a), free(b), free(c);
}

/* The kernel's algorithm: 16x16 tiles through a scratch copy. */
static void host_matmul(const float *a, const float *b, float *c, int n)
{
	enum { T = 16 };
	static float ta[T][T], tb[T][T];

	for (int by = 0; by < n / T; by++)
		for (int bx = 0; bx < n / T; bx++) {
			float acc[T][T] = {{0}};
			for (int t = 0; t < n / T; t++) {
				for (int y = 0; y < T; y++)
					for (int x = 0; x < T; x++) {
						ta[y][x] = a[(by * T + y) * n + t * T + x];
						tb[y][x] = b[(t * T + y) * n + bx * T + x];
					}
				for (int y = 0; y < T; y++)
					for (int x = 0; x < T; x++)
						for (int k = 0; k < T; k++)
							acc[y][x] += ta[y][k] * tb[k][x];
			}
			for (int y = 0; y < T; y++)
				for (int x = 0; x < T; x++)
					c[(by * T + y) * n + bx * T + x] = acc[y][x];
		}
}

static void bench_matmul(int n)
{
	size_t bytes = (size_t)n * n * 4;
	float *a = malloc(bytes), *b = malloc(bytes), *c = malloc(bytes), *d = malloc(bytes);
	CUdeviceptr da, db, dc;
	void *args[] = {&da, &db, &dc, &n};
	struct tiers t;
	double h, err = 0;

	for (int i = 0; i < n * n; i++)
		a[i] = (float)(i % 7) - 3, b[i] = (float)(i % 5) - 2;
	CK(cuMemAlloc(&da, bytes));
	CK(cuMemAlloc(&db, bytes));
	CK(cuMemAlloc(&dc, bytes));
	CK(cuMemcpyHtoD(da, a, bytes));
	CK(cuMemcpyHtoD(db, b, bytes));
	time_tiers("matmul", (unsigned)n / 16, (unsigned)n / 16, 16, 16, args, &t);
	host_matmul(a, b, c, n);
	h = now();
	host_matmul(a, b, c, n);
	h = now() - h;
	CK(cuMemcpyDtoH(d, dc, bytes));
	for (int i = 0; i < n * n; i++)
		err = fmax(err, fabs(c[i] - d[i]));
	if (err > 0)
		printf("  matmul: WRONG RESULT (%g)\n", err), failures++;
	report("tiled matrix multiply", &t, h);
	cuMemFree(da), cuMemFree(db), cuMemFree(dc);
	free(a), free(b), free(c), free(d);
}

static void bench_reduce(int n)
{
	int *in = malloc((size_t)n * 4);
	CUdeviceptr din, dout;
	void *args[] = {&din, &dout, &n};
	unsigned long long got = 0, sum = 0;
	struct tiers t;
	double h;

	for (int i = 0; i < n; i++)
		in[i] = i & 1023;
	CK(cuMemAlloc(&din, (size_t)n * 4));
	CK(cuMemAlloc(&dout, 8));
	CK(cuMemcpyHtoD(din, in, (size_t)n * 4));
	CK(cuMemsetD32(dout, 0, 2));
	time_tiers("reduce_sum", 256, 1, 256, 1, args, &t);
	CK(cuMemsetD32(dout, 0, 2));
	{
		CUfunction f;
		CK(cuModuleGetFunction(&f, mod, "reduce_sum"));
		CK(cuLaunchKernel(f, 256, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
	}
	h = now();
	for (int i = 0; i < n; i++)
		sum += (unsigned)in[i];
	h = now() - h;
	CK(cuMemcpyDtoH(&got, dout, 8));
	if (got != sum)
		printf("  reduce: WRONG RESULT\n"), failures++;
	report("shuffle reduction", &t, h);
	cuMemFree(din), cuMemFree(dout);
	free(in);
}

static float host_cdf(float d)
{
	const float a1 = 0.31938153f, a2 = -0.356563782f, a3 = 1.781477937f, a4 = -1.821255978f,
		    a5 = 1.330274429f, inv_sqrt_2pi = 0.3989422804f;
	float k = 1.0f / (1.0f + 0.2316419f * fabsf(d));
	float c = inv_sqrt_2pi * expf(-0.5f * d * d) *
		  (k * (a1 + k * (a2 + k * (a3 + k * (a4 + k * a5)))));
	return d > 0 ? 1.0f - c : c;
}

static void bench_black_scholes(int n)
{
	size_t bytes = (size_t)n * 4;
	float *s = malloc(bytes), *x = malloc(bytes), *y = malloc(bytes), *call = malloc(bytes),
	      *put = malloc(bytes), *got = malloc(bytes);
	float rate = 0.02f, vol = 0.30f;
	CUdeviceptr dc, dp, ds, dx, dy;
	void *args[] = {&dc, &dp, &ds, &dx, &dy, &rate, &vol, &n};
	struct tiers t;
	double h, worst = 0;

	for (int i = 0; i < n; i++) {
		s[i] = 5.0f + (float)(i % 2500) * 0.01f;
		x[i] = 1.0f + (float)(i % 9700) * 0.01f;
		y[i] = 0.25f + (float)(i % 390) * 0.025f;
	}
	CK(cuMemAlloc(&dc, bytes));
	CK(cuMemAlloc(&dp, bytes));
	CK(cuMemAlloc(&ds, bytes));
	CK(cuMemAlloc(&dx, bytes));
	CK(cuMemAlloc(&dy, bytes));
	CK(cuMemcpyHtoD(ds, s, bytes));
	CK(cuMemcpyHtoD(dx, x, bytes));
	CK(cuMemcpyHtoD(dy, y, bytes));
	time_tiers("black_scholes", 480, 1, 128, 1, args, &t);
	h = now();
	for (int i = 0; i < n; i++) {
		float sq = sqrtf(y[i]);
		float d1 = (logf(s[i] / x[i]) + (rate + 0.5f * vol * vol) * y[i]) / (vol * sq);
		float d2 = d1 - vol * sq, c1 = host_cdf(d1), c2 = host_cdf(d2);
		float disc = expf(-rate * y[i]);
		call[i] = s[i] * c1 - x[i] * disc * c2;
		put[i] = x[i] * disc * (1.0f - c2) - s[i] * (1.0f - c1);
	}
	h = now() - h;
	CK(cuMemcpyDtoH(got, dc, bytes));
	/* The kernel's __expf/__logf are approximations: prices agree to
	 * within a thousandth of the stock price. */
	for (int i = 0; i < n; i++)
		worst = fmax(worst, fabs(got[i] - call[i]) / s[i]);
	if (!(worst < 1e-3))
		printf("  black_scholes: WRONG RESULT (%g)\n", worst), failures++;
	report("Black-Scholes", &t, h);
	cuMemFree(dc), cuMemFree(dp), cuMemFree(ds), cuMemFree(dx), cuMemFree(dy);
	free(s), free(x), free(y), free(call), free(put), free(got);
}

static void bench_histogram(int n)
{
	unsigned char *in = malloc((size_t)n);
	unsigned bins[256] = {0}, got[256];
	CUdeviceptr din, dbins;
	void *args[] = {&din, &n, &dbins};
	struct tiers t;
	double h;

	for (int i = 0; i < n; i++)
		in[i] = (unsigned char)((i * 2654435761u) >> 24);
	CK(cuMemAlloc(&din, (size_t)n));
	CK(cuMemAlloc(&dbins, sizeof(bins)));
	CK(cuMemcpyHtoD(din, in, (size_t)n));
	time_tiers("hist256", 240, 1, 256, 1, args, &t);
	CK(cuMemsetD32(dbins, 0, 256));
	{
		CUfunction f;
		CK(cuModuleGetFunction(&f, mod, "hist256"));
		CK(cuLaunchKernel(f, 240, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
	}
	h = now();
	for (int i = 0; i < n; i++)
		bins[in[i]]++;
	h = now() - h;
	CK(cuMemcpyDtoH(got, dbins, sizeof(got)));
	if (memcmp(got, bins, sizeof(bins)) != 0)
		printf("  hist256: WRONG RESULT\n"), failures++;
	report("shared-memory histogram", &t, h);
	cuMemFree(din), cuMemFree(dbins);
	free(in);
}

int main(int argc, char **argv)
{
	int quick = argc > 2 && strcmp(argv[2], "--short") == 0;
	CUdevice dev;
	CUcontext ctx;
	char name[128];
	void *self = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);

	if (argc < 2) {
		fprintf(stderr, "usage: bench_kernels MODULE [--short]\n");
		return 2;
	}
	CK(cuInit(0));
	CK(cuDeviceGet(&dev, 0));
	CK(cuDeviceGetName(name, sizeof(name), dev));
	CK(cuCtxCreate(&ctx, NULL, 0, dev));
	CK(cuModuleLoad(&mod, argv[1]));
	if (self) {
		lane_insns =
		    (unsigned long long (*)(void))dlsym(self, "vcuda_cpu_lane_instructions");
		set_mode = (void (*)(int))dlsym(self, "vcuda_cpu_jit_set_mode");
		set_threads = (void (*)(int))dlsym(self, "vcuda_cpu_set_threads");
		jit_stats = (void (*)(struct jit_stats *))dlsym(self, "vcuda_cpu_jit_stats");
	}
	CK(cuDeviceGetAttribute(&ncores, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev));
	printf("CPU device kernels on %s%s\n", name, quick ? " (short)" : "");
	if (set_mode && set_threads)
		printf("  %-22s %9s %9s %9s %9s %9s %9s %8s\n"
		       "  %-22s %9s %9s %9s %9s %9s %9s %8s\n",
		       "", "interp", "compiled", "compiled", "C", "compiled", "interp/", "scaling",
		       "", "ms", "1 thr ms", "all ms", "ms", "1 thr/C", "compiled", "to all");
	bench_vec_add(quick ? 1 << 20 : 16 << 20);
	bench_matmul(quick ? 128 : 512);
	bench_reduce(quick ? 1 << 20 : 16 << 20);
	bench_black_scholes(quick ? 1 << 16 : 1 << 20);
	bench_histogram(quick ? 1 << 20 : 16 << 20);
	if (jit_stats) {
		struct jit_stats j;
		jit_stats(&j);
		printf(
		    "  compiled %llu kernels in %.1f ms (%.1f ms each); disk cache %llu hits, %llu "
		    "misses%s\n",
		    j.compiled, j.compile_ns / 1e6,
		    j.compiled ? j.compile_ns / 1e6 / j.compiled : 0, j.cache_hits, j.cache_misses,
		    j.cache_hits + j.cache_misses ? "" : " (no cache: VCUDA_CPU_CACHE)");
	}
	return failures ? 1 : 0;
}
