// A long queue of posted work ahead of a busy server: N launches of a kernel
// that runs a few milliseconds each, posted without waiting, then one
// synchronize. The guest must not lose its connection while the worker
// works through the backlog (it did once, after 5 s of it).
#include <cstdio>
#include <cstdlib>

#include "check.h"

__global__ void work(float *p, int iters)
{
	float x = p[threadIdx.x];
	for (int i = 0; i < iters; i++)
		x = x * 1.0001f + 1.0f;
	p[threadIdx.x] = x;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1500, iters = argc > 2 ? atoi(argv[2]) : 40000;
	float *d;

	OK(cudaMalloc(&d, 32 * sizeof(float)));
	OK(cudaMemset(d, 0, 32 * sizeof(float)));
	for (int i = 0; i < n; i++)
		work<<<1, 32>>>(d, iters);
	OK(cudaGetLastError());
	OK(cudaDeviceSynchronize());
	OK(cudaFree(d));
	return check_done("queue");
}
