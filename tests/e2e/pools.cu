// Stream-ordered allocation and memory pools, as CUDA documents them:
// memory from cudaMallocAsync is usable in stream order, the pools count
// what is allocated from them, attributes read back what was set, and what
// CUDA refuses is refused. "pools quota MIB" only tries one allocation of
// MIB and prints its result (quota.test).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "check.h"

__global__ void fill(int *p, int n, int base)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n)
		p[i] = base + i;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "quota") == 0) {
		void *p = nullptr;
		cudaError_t e = cudaMallocAsync(&p, (size_t)atoi(argv[2]) << 20, 0);
		printf("mallocAsync %s MiB: %s\n", argv[2], cudaGetErrorName(e));
		if (e == cudaSuccess)
			OK(cudaFreeAsync(p, 0));
		OK(cudaDeviceSynchronize());
		return 0;
	}
	int supported = 0;
	OK(cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, 0));
	EXPECT(supported == 1);

	cudaStream_t s;
	cudaMemPool_t def, cur;
	const int n = 1 << 18;
	std::vector<int> h(n);
	int *d;
	uint64_t v = 0, threshold = ~0ull;

	OK(cudaStreamCreate(&s));
	OK(cudaDeviceGetDefaultMemPool(&def, 0));
	OK(cudaDeviceGetMemPool(&cur, 0));
	EXPECT(def == cur);
	OK(cudaMemPoolGetAttribute(def, cudaMemPoolAttrUsedMemCurrent, &v));
	EXPECT(v == 0);
	OK(cudaMemPoolSetAttribute(def, cudaMemPoolAttrReleaseThreshold, &threshold));
	OK(cudaMemPoolGetAttribute(def, cudaMemPoolAttrReleaseThreshold, &v));
	EXPECT(v == ~0ull);

	// Allocated, written, read and freed, all in stream order.
	OK(cudaMallocAsync((void **)&d, n * sizeof(int), s));
	fill<<<n / 256, 256, 0, s>>>(d, n, 7);
	OK(cudaMemcpyAsync(h.data(), d, n * sizeof(int), cudaMemcpyDeviceToHost, s));
	OK(cudaMemPoolGetAttribute(def, cudaMemPoolAttrUsedMemCurrent, &v));
	EXPECT(v >= n * sizeof(int));
	OK(cudaFreeAsync(d, s));
	OK(cudaStreamSynchronize(s));
	int bad = 0;
	for (int i = 0; i < n; i++)
		bad += h[i] != 7 + i;
	EXPECT(bad == 0);
	OK(cudaMemPoolGetAttribute(def, cudaMemPoolAttrUsedMemCurrent, &v));
	EXPECT(v == 0);
	OK(cudaMemPoolGetAttribute(def, cudaMemPoolAttrUsedMemHigh, &v));
	EXPECT(v >= n * sizeof(int));

	// A pool of the program's own, and the device's current pool set to it.
	cudaMemPoolProps props = {};
	cudaMemPool_t mine;
	props.allocType = cudaMemAllocationTypePinned;
	props.location.type = cudaMemLocationTypeDevice;
	props.location.id = 0;
	OK(cudaMemPoolCreate(&mine, &props));
	OK(cudaMallocFromPoolAsync((void **)&d, 4096, mine, s));
	OK(cudaMemPoolGetAttribute(mine, cudaMemPoolAttrUsedMemCurrent, &v));
	EXPECT(v == 4096);
	OK(cudaMemPoolGetAttribute(def, cudaMemPoolAttrUsedMemCurrent, &v));
	EXPECT(v == 0);
	OK(cudaDeviceSetMemPool(0, mine));
	int *e2;
	OK(cudaMallocAsync((void **)&e2, 8192, s));
	OK(cudaMemPoolGetAttribute(mine, cudaMemPoolAttrUsedMemCurrent, &v));
	EXPECT(v == 4096 + 8192);
	OK(cudaFree(e2)); // cudaFree takes any allocation, as in CUDA
	OK(cudaFreeAsync(d, s));
	OK(cudaStreamSynchronize(s));
	OK(cudaMemPoolGetAttribute(mine, cudaMemPoolAttrUsedMemCurrent, &v));
	EXPECT(v == 0);
	OK(cudaDeviceSetMemPool(0, def));
	OK(cudaMemPoolDestroy(mine));

	// What CUDA refuses.
	int local;
	EXPECT_ERR(cudaFreeAsync(&local, s), cudaErrorInvalidValue);
	EXPECT_ERR(cudaMemPoolDestroy(def), cudaErrorInvalidValue);
	EXPECT_ERR(cudaMallocAsync(nullptr, 16, s), cudaErrorInvalidValue);
	OK(cudaStreamDestroy(s));
	return check_done("pools");
}
