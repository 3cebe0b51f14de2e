// zeroCopy: a kernel reads and writes host memory directly (mapped,
// page-locked memory from cudaHostAlloc with cudaHostAllocMapped), with no
// cudaMemcpy; checked on the host. Where the device cannot map host memory
// (canMapHostMemory 0: vcuda over ipc:// or tcp://) it says so and skips,
// as CUDA's own samples do.
#include <cstdio>
#include <cuda_runtime.h>

__global__ void saxpy(float a, const float *x, float *y, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		y[i] = a * x[i] + y[i];
}

int main()
{
	const int n = 1 << 16;
	int can = 0, bad = 0;
	float *x, *y, *dx, *dy;

	cudaDeviceGetAttribute(&can, cudaDevAttrCanMapHostMemory, 0);
	if (!can) {
		printf("zeroCopy: the device cannot map host memory here; skipped\n");
		printf("zeroCopy: PASS\n");
		return 0;
	}
	if (cudaHostAlloc(&x, n * sizeof(float), cudaHostAllocMapped) != cudaSuccess ||
	    cudaHostAlloc(&y, n * sizeof(float), cudaHostAllocMapped) != cudaSuccess) {
		printf("zeroCopy: FAIL (no mapped memory)\n");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		x[i] = (float)i;
		y[i] = 1.0f;
	}
	cudaHostGetDevicePointer(&dx, x, 0);
	cudaHostGetDevicePointer(&dy, y, 0);
	saxpy<<<(n + 255) / 256, 256>>>(2.0f, dx, dy, n);
	cudaError_t e = cudaDeviceSynchronize();
	for (int i = 0; i < n; i++)
		bad += y[i] != 2.0f * i + 1.0f;
	printf("saxpy of %d elements in mapped host memory, %d wrong\n", n, bad);
	cudaFreeHost(x);
	cudaFreeHost(y);
	printf("zeroCopy: %s\n", e == cudaSuccess && bad == 0 ? "PASS" : "FAIL");
	return e == cudaSuccess && bad == 0 ? 0 : 1;
}
