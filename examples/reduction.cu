// reduction: a sum with warp shuffles, shared memory and one atomic per block.
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

__global__ void reduce(const int *in, unsigned long long *out, int n)
{
	__shared__ int partial[32];
	int v = 0;

	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
		v += in[i];
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_down_sync(0xffffffff, v, o);
	if (threadIdx.x % 32 == 0)
		partial[threadIdx.x / 32] = v;
	__syncthreads();
	if (threadIdx.x < 32) {
		v = threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : 0;
		for (int o = 16; o > 0; o >>= 1)
			v += __shfl_down_sync(0xffffffff, v, o);
		if (threadIdx.x == 0)
			atomicAdd(out, (unsigned long long)v);
	}
}

int main()
{
	const int n = 1 << 22;
	int *in = (int *)malloc(n * sizeof(int)), *din;
	unsigned long long expect = 0, got = 0, *dout;

	for (int i = 0; i < n; i++) {
		in[i] = rand() % 1000;
		expect += in[i];
	}
	cudaMalloc(&din, n * sizeof(int));
	cudaMalloc(&dout, sizeof(got));
	cudaMemcpy(din, in, n * sizeof(int), cudaMemcpyHostToDevice);
	cudaMemset(dout, 0, sizeof(got));
	reduce<<<128, 256>>>(din, dout, n);
	cudaMemcpy(&got, dout, sizeof(got), cudaMemcpyDeviceToHost);
	printf("reduction of %d ints: %llu (expected %llu)\n", n, got, expect);
	cudaFree(din);
	cudaFree(dout);
	free(in);
	printf("reduction: %s\n", got == expect ? "PASS" : "FAIL");
	return got != expect;
}
