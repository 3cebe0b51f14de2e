// A module's variables are device memory: with a memory quota, they are
// counted against it as soon as their module is loaded. Prints what
// cudaMemGetInfo says before the first kernel and after, then tries to
// allocate MIB (argument 1).
#include <cstdio>
#include <cstdlib>

#include "check.h"

#define BIG (32u << 20)

__device__ unsigned char big[BIG];
__constant__ unsigned table[1024];

__global__ void touch(unsigned char v)
{
	unsigned i = blockIdx.x * blockDim.x + threadIdx.x;

	big[(size_t)i * 4096 % BIG] = (unsigned char)(v + table[i % 1024]);
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1, free_b = 0, total = 0;
	unsigned char back = 0;
	void *d = nullptr;

	OK(cudaMemGetInfo(&free_b, &total));
	printf("before: %zu MiB free of %zu\n", free_b >> 20, total >> 20);
	touch<<<64, 128>>>(7);
	OK(cudaDeviceSynchronize());
	OK(cudaMemcpyFromSymbol(&back, big, 1));
	EXPECT(back == 7);
	OK(cudaMemGetInfo(&free_b, &total));
	printf("loaded: %zu MiB free of %zu\n", free_b >> 20, total >> 20);
	cudaError_t e = cudaMalloc(&d, mib << 20);
	printf("alloc %zu MiB: %s\n", mib, cudaGetErrorName(e));
	if (e == cudaSuccess)
		OK(cudaFree(d));
	return check_done("globals");
}
