// vectorAdd: c = a + b on the device, checked on the host.
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

__global__ void vectorAdd(const float *a, const float *b, float *c, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		c[i] = a[i] + b[i];
}

int main()
{
	const int n = 1 << 20;
	size_t bytes = n * sizeof(float);
	float *a = (float *)malloc(bytes), *b = (float *)malloc(bytes), *c = (float *)malloc(bytes);
	float *da, *db, *dc;
	int bad = 0;

	for (int i = 0; i < n; i++) {
		a[i] = rand() / (float)RAND_MAX;
		b[i] = rand() / (float)RAND_MAX;
	}
	cudaMalloc(&da, bytes);
	cudaMalloc(&db, bytes);
	cudaMalloc(&dc, bytes);
	cudaMemcpy(da, a, bytes, cudaMemcpyHostToDevice);
	cudaMemcpy(db, b, bytes, cudaMemcpyHostToDevice);
	vectorAdd<<<(n + 255) / 256, 256>>>(da, db, dc, n);
	cudaError_t e = cudaGetLastError();
	cudaMemcpy(c, dc, bytes, cudaMemcpyDeviceToHost);
	for (int i = 0; i < n; i++)
		bad += c[i] != a[i] + b[i];
	printf("vectorAdd of %d elements: %s, %d wrong\n", n, cudaGetErrorString(e), bad);
	cudaFree(da);
	cudaFree(db);
	cudaFree(dc);
	free(a);
	free(b);
	free(c);
	printf("vectorAdd: %s\n", e == cudaSuccess && bad == 0 ? "PASS" : "FAIL");
	return bad != 0 || e != cudaSuccess;
}
