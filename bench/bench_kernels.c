/*
 * The CPU device's speed: kernels nvcc built, interpreted, against the same
 * algorithms compiled as plain C for the host in the same run.
 *   bench_kernels MODULE [--short]
 * Prints lane-instructions per second and each kernel's time as a ratio to
 * its native C twin (one host thread; the interpreter uses every core).
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

static void report(const char *what, double dev, double host, unsigned long long insns)
{
	printf("  %-28s %9.1f ms   native C %8.2f ms   ratio %6.1fx   %7.0f M lane-insn/s\n", what,
	       dev * 1e3, host * 1e3, dev / host, insns / dev / 1e6);
}

static void bench_vec_add(int n)
{
	size_t bytes = (size_t)n * 4;
	float *a = malloc(bytes), *b = malloc(bytes), *c = malloc(bytes);
	CUdeviceptr da, db, dc;
	void *args[] = {&da, &db, &dc, &n};
	unsigned long long insns;
	double t, h;

	for (int i = 0; i < n; i++)
		a[i] = (float)i, b[i] = (float)(n - i);
	CK(cuMemAlloc(&da, bytes));
	CK(cuMemAlloc(&db, bytes));
	CK(cuMemAlloc(&dc, bytes));
	CK(cuMemcpyHtoD(da, a, bytes));
	CK(cuMemcpyHtoD(db, b, bytes));
	t = time_launch("vec_add", (unsigned)(n + 255) / 256, 1, 256, 1, args, &insns);
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
	report("vector add", t, h, insns);
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
	unsigned long long insns;
	double t, h, err = 0;

	for (int i = 0; i < n * n; i++)
		a[i] = (float)(i % 7) - 3, b[i] = (float)(i % 5) - 2;
	CK(cuMemAlloc(&da, bytes));
	CK(cuMemAlloc(&db, bytes));
	CK(cuMemAlloc(&dc, bytes));
	CK(cuMemcpyHtoD(da, a, bytes));
	CK(cuMemcpyHtoD(db, b, bytes));
	t = time_launch("matmul", (unsigned)n / 16, (unsigned)n / 16, 16, 16, args, &insns);
	host_matmul(a, b, c, n);
	h = now();
	host_matmul(a, b, c, n);
	h = now() - h;
	CK(cuMemcpyDtoH(d, dc, bytes));
	for (int i = 0; i < n * n; i++)
		err = fmax(err, fabs(c[i] - d[i]));
	if (err > 0)
		printf("  matmul: WRONG RESULT (%g)\n", err), failures++;
	report("tiled matrix multiply", t, h, insns);
	cuMemFree(da), cuMemFree(db), cuMemFree(dc);
	free(a), free(b), free(c), free(d);
}

static void bench_reduce(int n)
{
	int *in = malloc((size_t)n * 4);
	CUdeviceptr din, dout;
	void *args[] = {&din, &dout, &n};
	unsigned long long insns, got = 0, sum = 0;
	double t, h;

	for (int i = 0; i < n; i++)
		in[i] = i & 1023;
	CK(cuMemAlloc(&din, (size_t)n * 4));
	CK(cuMemAlloc(&dout, 8));
	CK(cuMemcpyHtoD(din, in, (size_t)n * 4));
	CK(cuMemsetD32(dout, 0, 2));
	t = time_launch("reduce_sum", 256, 1, 256, 1, args, &insns);
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
	report("shuffle reduction", t, h, insns);
	cuMemFree(din), cuMemFree(dout);
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
	if (self)
		lane_insns =
		    (unsigned long long (*)(void))dlsym(self, "vcuda_cpu_lane_instructions");
	printf("CPU device kernels on %s%s\n", name, quick ? " (short)" : "");
	bench_vec_add(quick ? 1 << 20 : 16 << 20);
	bench_matmul(quick ? 128 : 512);
	bench_reduce(quick ? 1 << 20 : 16 << 20);
	return failures ? 1 : 0;
}
