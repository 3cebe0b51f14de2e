// Kernels for the CPU device tests (cpu_kernels.c loads them through the
// driver API). extern "C" keeps their names plain; the templates are
// instantiated under their mangled names on purpose.
#include <cstdio>

extern "C" __global__ void vec_add(const float *a, const float *b, float *c, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		c[i] = a[i] + b[i];
}

#define TILE 16
extern "C" __global__ void matmul(const float *a, const float *b, float *c, int n)
{
	__shared__ float ta[TILE][TILE], tb[TILE][TILE];
	int row = blockIdx.y * TILE + threadIdx.y, col = blockIdx.x * TILE + threadIdx.x;
	float acc = 0;
	for (int t = 0; t < n / TILE; t++) {
		ta[threadIdx.y][threadIdx.x] = a[row * n + t * TILE + threadIdx.x];
		tb[threadIdx.y][threadIdx.x] = b[(t * TILE + threadIdx.y) * n + col];
		__syncthreads();
		for (int k = 0; k < TILE; k++)
			acc += ta[threadIdx.y][k] * tb[k][threadIdx.x];
		__syncthreads();
	}
	c[row * n + col] = acc;
}

extern "C" __global__ void reduce_sum(const int *in, unsigned long long *out, int n)
{
	__shared__ int warp_sums[32];
	int v = 0;
	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
		v += in[i];
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_down_sync(0xffffffff, v, o);
	if ((threadIdx.x & 31) == 0)
		warp_sums[threadIdx.x / 32] = v;
	__syncthreads();
	if (threadIdx.x < 32) {
		v = threadIdx.x < blockDim.x / 32 ? warp_sums[threadIdx.x] : 0;
		for (int o = 16; o > 0; o >>= 1)
			v += __shfl_xor_sync(0xffffffff, v, o);
		if (threadIdx.x == 0)
			atomicAdd(out, (unsigned long long)v);
	}
}

// Global atomics, shared atomics and an atomicCAS loop (a float maximum).
extern "C" __global__ void histogram(const unsigned char *in, int n, unsigned *global_bins,
				     float *max_out)
{
	__shared__ unsigned bins[256];
	for (int i = threadIdx.x; i < 256; i += blockDim.x)
		bins[i] = 0;
	__syncthreads();
	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
		atomicAdd(&bins[in[i]], 1u);
		float f = (float)in[i] * 0.5f;
		int *addr = (int *)max_out, old = *addr, assumed;
		do {
			assumed = old;
			if (__int_as_float(assumed) >= f)
				break;
			old = atomicCAS(addr, assumed, __float_as_int(f));
		} while (old != assumed);
	}
	__syncthreads();
	for (int i = threadIdx.x; i < 256; i += blockDim.x)
		atomicAdd(&global_bins[i], bins[i]);
}

extern "C" __global__ void votes(const int *in, unsigned *ballots, int *flags)
{
	int v = in[blockIdx.x * blockDim.x + threadIdx.x];
	unsigned b = __ballot_sync(0xffffffff, v > 0);
	int all = __all_sync(0xffffffff, v > 0), any = __any_sync(0xffffffff, v > 0);
	unsigned same = __match_any_sync(0xffffffff, v & 3);
	if ((threadIdx.x & 31) == 0) {
		int w = (blockIdx.x * blockDim.x + threadIdx.x) / 32;
		ballots[w] = b;
		flags[w * 2] = all;
		flags[w * 2 + 1] = any;
	}
	ballots[1024 + blockIdx.x * blockDim.x + threadIdx.x] = same;
}

extern "C" __global__ void dyn_shared(const float *in, float *out)
{
	extern __shared__ float buf[];
	int i = threadIdx.x;
	buf[i] = in[blockIdx.x * blockDim.x + i];
	__syncthreads();
	out[blockIdx.x * blockDim.x + i] = buf[blockDim.x - 1 - i];
}

__constant__ float coeffs[4] = {1.0f, 2.0f, 3.0f, 4.0f};
__device__ int counter;
__device__ float table[8];
extern "C" __global__ void symbols(float *out)
{
	int i = threadIdx.x;
	out[i] = coeffs[i & 3] * table[i & 7];
	atomicAdd(&counter, 1);
}

struct Mixed {
	char c;
	double d;
	short s;
	int i;
	float f[3];
};
template <typename T> __global__ void mixed_params(T *out, char c, Mixed m, short s, T scale, long long big)
{
	out[threadIdx.x] = (T)(c + m.c + m.d + m.s + m.i + m.f[0] + m.f[1] + m.f[2] + s + big) * scale;
}
template __global__ void mixed_params<float>(float *, char, Mixed, short, float, long long);
template __global__ void mixed_params<double>(double *, char, Mixed, short, double, long long);

extern "C" __global__ void math_f32(const float *x, float *out, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= n)
		return;
	float v = x[i];
	out[i * 8 + 0] = sinf(v);
	out[i * 8 + 1] = cosf(v);
	out[i * 8 + 2] = expf(v);
	out[i * 8 + 3] = logf(fabsf(v) + 1.0f);
	out[i * 8 + 4] = sqrtf(fabsf(v));
	out[i * 8 + 5] = v / (v * v + 1.0f);
	out[i * 8 + 6] = powf(fabsf(v), 1.5f);
	out[i * 8 + 7] = tanhf(v);
}

extern "C" __global__ void math_f64(const double *x, double *out, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= n)
		return;
	double v = x[i];
	out[i * 6 + 0] = sin(v);
	out[i * 6 + 1] = exp(v);
	out[i * 6 + 2] = log(fabs(v) + 1.0);
	out[i * 6 + 3] = sqrt(fabs(v));
	out[i * 6 + 4] = v / (v * v + 1.0);
	out[i * 6 + 5] = fma(v, v, 0.5);
}

extern "C" __global__ void say_hello(int tag)
{
	if (threadIdx.x < 2)
		printf("hello from block %d thread %d tag %d %.2f %s\n", blockIdx.x, threadIdx.x, tag, 1.5,
		       "ok");
}

__device__ __noinline__ int collatz_steps(long long v)
{
	int steps = 0;
	while (v != 1) {
		v = (v & 1) ? 3 * v + 1 : v / 2;
		steps++;
	}
	return steps;
}

extern "C" __global__ void divergent_calls(int *out)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	out[i] = (i % 3 == 0) ? collatz_steps(i + 1) : -collatz_steps(i + 2);
}

extern "C" __global__ void oob_write(int *p, long long offset)
{
	p[offset + threadIdx.x] = 1;
}

// Black-Scholes option pricing (bench_kernels): transcendentals in a
// grid-stride loop, the cumulative normal by the usual polynomial.
__device__ float normal_cdf(float d)
{
	const float a1 = 0.31938153f, a2 = -0.356563782f, a3 = 1.781477937f, a4 = -1.821255978f,
		    a5 = 1.330274429f, inv_sqrt_2pi = 0.3989422804f;
	float k = 1.0f / (1.0f + 0.2316419f * fabsf(d));
	float c = inv_sqrt_2pi * __expf(-0.5f * d * d) *
		  (k * (a1 + k * (a2 + k * (a3 + k * (a4 + k * a5)))));
	return d > 0 ? 1.0f - c : c;
}

extern "C" __global__ void black_scholes(float *call, float *put, const float *price,
					 const float *strike, const float *years, float rate,
					 float vol, int n)
{
	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
		float s = price[i], x = strike[i], t = years[i], sqrt_t = sqrtf(t);
		float d1 = (__logf(s / x) + (rate + 0.5f * vol * vol) * t) / (vol * sqrt_t);
		float d2 = d1 - vol * sqrt_t;
		float c1 = normal_cdf(d1), c2 = normal_cdf(d2), disc = __expf(-rate * t);
		call[i] = s * c1 - x * disc * c2;
		put[i] = x * disc * (1.0f - c2) - s * (1.0f - c1);
	}
}

// A 256-bin histogram counted in shared memory with atomics (bench_kernels).
extern "C" __global__ void hist256(const unsigned char *in, int n, unsigned *bins)
{
	__shared__ unsigned local[256];
	for (int i = threadIdx.x; i < 256; i += blockDim.x)
		local[i] = 0;
	__syncthreads();
	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
		atomicAdd(&local[in[i]], 1u);
	__syncthreads();
	for (int i = threadIdx.x; i < 256; i += blockDim.x)
		atomicAdd(&bins[i], local[i]);
}
