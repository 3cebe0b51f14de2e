// Kernels through the shim: mixed-size struct and template parameters,
// __constant__ and __device__ symbols written and read back, dynamic shared
// memory, device printf, launch configuration errors, kernel attributes and
// occupancy, and a host program's usual error checks.
#include <cstdint>
#include <cstring>
#include "check.h"

struct Mixed {
	char c;
	double d;
	short s;
	int i;
	float f[3];
};

template <typename T> __global__ void mixed(T *out, char c, Mixed m, short s, T scale, long long big)
{
	out[threadIdx.x] = (T)(c + m.c + m.d + m.s + m.i + m.f[0] + m.f[1] + m.f[2] + s + big) * scale;
}

__constant__ int lut[16];
__device__ float bias[4] = {0.5f, 1.5f, 2.5f, 3.5f};
__device__ unsigned long long total;

__global__ void use_symbols(float *out)
{
	int i = threadIdx.x;
	out[i] = lut[i & 15] + bias[i & 3];
	atomicAdd(&total, (unsigned long long)lut[i & 15]);
}

__global__ void reverse(const int *in, int *out)
{
	extern __shared__ int buf[];
	buf[threadIdx.x] = in[threadIdx.x];
	__syncthreads();
	out[threadIdx.x] = buf[blockDim.x - 1 - threadIdx.x];
}

__global__ void greet(int tag)
{
	if (threadIdx.x == 0)
		printf("device says hello, tag %d\n", tag);
}

__global__ void __launch_bounds__(128) bounded(int *out)
{
	out[threadIdx.x] = threadIdx.x;
}

static int callback_order[4], callback_count;

static void CUDART_CB host_fn(void *arg)
{
	callback_order[callback_count++] = (int)(intptr_t)arg;
}

static void CUDART_CB stream_cb(cudaStream_t s, cudaError_t status, void *arg)
{
	callback_order[callback_count++] = status == cudaSuccess ? (int)(intptr_t)arg : -1;
}

int main()
{
	Mixed m = {3, 0.25, -7, 100000, {1.5f, 2.5f, -4.0f}};
	double *dd, hd[32];
	float *df, hf[64];
	int *di, *dj, hi[256];
	double expect = -2 + m.c + m.d + m.s + m.i + m.f[0] + m.f[1] + m.f[2] + 300 + (double)(1ll << 40);

	OK(cudaMalloc(&dd, sizeof(hd)));
	OK(cudaMalloc(&df, sizeof(hf)));
	mixed<double><<<1, 32>>>(dd, (char)-2, m, (short)300, 2.0, 1ll << 40);
	OK(cudaGetLastError());
	OK(cudaMemcpy(hd, dd, sizeof(hd), cudaMemcpyDeviceToHost));
	EXPECT(hd[31] == expect * 2.0);

	int table[16];
	for (int i = 0; i < 16; i++)
		table[i] = i * i;
	OK(cudaMemcpyToSymbol(lut, table, sizeof(table)));
	float b2[2] = {10.0f, 20.0f};
	OK(cudaMemcpyToSymbol(bias, b2, sizeof(b2), 2 * sizeof(float))); // an offset
	unsigned long long zero = 0, sum = 0;
	OK(cudaMemcpyToSymbol(total, &zero, sizeof(zero)));
	use_symbols<<<1, 64>>>(df);
	OK(cudaMemcpy(hf, df, sizeof(hf), cudaMemcpyDeviceToHost));
	OK(cudaMemcpyFromSymbol(&sum, total, sizeof(sum)));
	float bias_now[4] = {0.5f, 1.5f, 10.0f, 20.0f};
	bool ok = true;
	unsigned long long want = 0;
	for (int i = 0; i < 64; i++) {
		ok &= hf[i] == table[i & 15] + bias_now[i & 3];
		want += table[i & 15];
	}
	EXPECT(ok);
	EXPECT(sum == want);
	size_t size = 0;
	void *addr = nullptr;
	OK(cudaGetSymbolSize(&size, bias));
	EXPECT(size == 4 * sizeof(float));
	OK(cudaGetSymbolAddress(&addr, bias));
	float back[4];
	OK(cudaMemcpy(back, addr, sizeof(back), cudaMemcpyDeviceToHost));
	EXPECT(back[3] == 20.0f && back[0] == 0.5f);
	EXPECT_ERR(cudaFree(addr), cudaErrorInvalidValue); // a symbol is not the program's to free
	OK(cudaMemcpy(back, addr, sizeof(back), cudaMemcpyDeviceToHost)); // and stays usable
	EXPECT_ERR(cudaMemcpyToSymbol(bias, b2, sizeof(b2), 3 * sizeof(float)), cudaErrorInvalidValue);

	OK(cudaMalloc(&di, 256 * sizeof(int)));
	OK(cudaMalloc(&dj, 256 * sizeof(int)));
	for (int i = 0; i < 256; i++)
		hi[i] = i * 3;
	OK(cudaMemcpy(di, hi, sizeof(hi), cudaMemcpyHostToDevice));
	reverse<<<1, 256, 256 * sizeof(int)>>>(di, dj);
	OK(cudaMemcpy(hi, dj, sizeof(hi), cudaMemcpyDeviceToHost));
	ok = true;
	for (int i = 0; i < 256; i++)
		ok &= hi[i] == (255 - i) * 3;
	EXPECT(ok);

	greet<<<2, 32>>>(7);
	OK(cudaDeviceSynchronize());

	// Configurations CUDA refuses at once: CUDA 13 says cudaErrorInvalidValue
	// (seen with NVIDIA's runtime on an H200, driver 580).
	reverse<<<1, 2048>>>(di, dj);
	EXPECT_ERR(cudaGetLastError(), cudaErrorInvalidValue);
	reverse<<<dim3(1, 1 << 17), 32>>>(di, dj);
	EXPECT_ERR(cudaGetLastError(), cudaErrorInvalidValue);
	reverse<<<0, 32>>>(di, dj);
	EXPECT_ERR(cudaGetLastError(), cudaErrorInvalidValue);
	OK(cudaDeviceSynchronize()); // not sticky

	cudaFuncAttributes fa;
	OK(cudaFuncGetAttributes(&fa, bounded));
	EXPECT(fa.maxThreadsPerBlock == 128);
	OK(cudaFuncGetAttributes(&fa, reverse));
	EXPECT(fa.maxThreadsPerBlock == 1024);
	int blocks = 0;
	OK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, reverse, 256, 1024));
	EXPECT(blocks > 0);
	OK(cudaFuncSetAttribute(reverse, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024));
	int min_grid = 0, best_block = 0;
	OK(cudaOccupancyMaxPotentialBlockSize(&min_grid, &best_block, reverse, 0, 0));
	EXPECT(best_block > 0 && best_block <= 1024 && min_grid > 0);

	// cudaLaunchKernelExC, and host functions in stream order.
	cudaStream_t s;
	OK(cudaStreamCreate(&s));
	cudaLaunchConfig_t cfg = {};
	cfg.gridDim = dim3(1);
	cfg.blockDim = dim3(256);
	cfg.dynamicSmemBytes = 256 * sizeof(int);
	cfg.stream = s;
	void *args[] = {&dj, &di};
	OK(cudaLaunchKernelExC(&cfg, (const void *)reverse, args));
	OK(cudaLaunchHostFunc(s, host_fn, (void *)1));
	OK(cudaStreamAddCallback(s, stream_cb, (void *)2, 0));
	OK(cudaLaunchHostFunc(s, host_fn, (void *)3));
	OK(cudaStreamSynchronize(s));
	EXPECT(callback_count == 3 && callback_order[0] == 1 && callback_order[1] == 2 && callback_order[2] == 3);
	OK(cudaMemcpy(hi, di, sizeof(hi), cudaMemcpyDeviceToHost));
	EXPECT(hi[0] == 0 && hi[255] == 255 * 3); // reversed back
	OK(cudaStreamDestroy(s));
	// After a reset the device starts over: kernels and symbols work again.
	OK(cudaDeviceReset());
	OK(cudaMalloc(&df, sizeof(hf)));
	OK(cudaMemcpyToSymbol(lut, table, sizeof(table)));
	use_symbols<<<1, 64>>>(df);
	OK(cudaGetLastError());
	OK(cudaMemcpy(hf, df, sizeof(hf), cudaMemcpyDeviceToHost));
	EXPECT(hf[5] == table[5] + 1.5f); // bias is back to its initializer
	return check_done("launch");
}
