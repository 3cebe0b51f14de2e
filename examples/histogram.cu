// histogram: 256 bins, counted with shared-memory atomics, merged with global ones.
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

__global__ void histogram(const unsigned char *data, int n, unsigned *bins)
{
	__shared__ unsigned local[256];

	for (int i = threadIdx.x; i < 256; i += blockDim.x)
		local[i] = 0;
	__syncthreads();
	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
		atomicAdd(&local[data[i]], 1u);
	__syncthreads();
	for (int i = threadIdx.x; i < 256; i += blockDim.x)
		atomicAdd(&bins[i], local[i]);
}

int main()
{
	const int n = 1 << 22;
	unsigned char *data = (unsigned char *)malloc(n), *dd;
	unsigned expect[256] = {0}, got[256], *dbins;
	int bad = 0;

	for (int i = 0; i < n; i++) {
		data[i] = (unsigned char)(rand() % 256);
		expect[data[i]]++;
	}
	cudaMalloc(&dd, n);
	cudaMalloc(&dbins, sizeof(got));
	cudaMemcpy(dd, data, n, cudaMemcpyHostToDevice);
	cudaMemset(dbins, 0, sizeof(got));
	histogram<<<64, 256>>>(dd, n, dbins);
	cudaMemcpy(got, dbins, sizeof(got), cudaMemcpyDeviceToHost);
	for (int i = 0; i < 256; i++)
		bad += got[i] != expect[i];
	printf("histogram of %d bytes: %d bins wrong\n", n, bad);
	cudaFree(dd);
	cudaFree(dbins);
	free(data);
	printf("histogram: %s\n", bad == 0 ? "PASS" : "FAIL");
	return bad != 0;
}
