// streams: four streams overlap copies and kernels on page-locked memory,
// timed with events; every result is checked.
#include <cstdio>
#include <cuda_runtime.h>

__global__ void scale(float *x, int n, float f)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		x[i] = x[i] * f + 1.0f;
}

int main()
{
	const int NS = 4, n = 1 << 18;
	cudaStream_t s[NS];
	cudaEvent_t start, stop;
	float *h, *d, ms = 0;
	int bad = 0;

	cudaMallocHost(&h, NS * n * sizeof(float));
	cudaMalloc(&d, NS * n * sizeof(float));
	for (int i = 0; i < NS * n; i++)
		h[i] = (float)(i % 1000);
	for (int k = 0; k < NS; k++)
		cudaStreamCreateWithFlags(&s[k], cudaStreamNonBlocking);
	cudaEventCreate(&start);
	cudaEventCreate(&stop);
	cudaEventRecord(start, 0);
	for (int k = 0; k < NS; k++) {
		float *hp = h + k * n, *dp = d + k * n;
		cudaMemcpyAsync(dp, hp, n * sizeof(float), cudaMemcpyHostToDevice, s[k]);
		scale<<<(n + 255) / 256, 256, 0, s[k]>>>(dp, n, (float)(k + 2));
		cudaMemcpyAsync(hp, dp, n * sizeof(float), cudaMemcpyDeviceToHost, s[k]);
	}
	for (int k = 0; k < NS; k++)
		cudaStreamSynchronize(s[k]);
	cudaEventRecord(stop, 0);
	cudaEventSynchronize(stop);
	cudaEventElapsedTime(&ms, start, stop);
	for (int k = 0; k < NS; k++)
		for (int i = 0; i < n; i++)
			bad += h[k * n + i] != (float)((k * n + i) % 1000) * (k + 2) + 1.0f;
	printf("streams: %d streams of %d elements in %.2f ms, %d wrong, last error %s\n", NS, n, ms, bad,
	       cudaGetErrorName(cudaGetLastError()));
	for (int k = 0; k < NS; k++)
		cudaStreamDestroy(s[k]);
	cudaFreeHost(h);
	cudaFree(d);
	printf("streams: %s\n", bad == 0 && ms >= 0 ? "PASS" : "FAIL");
	return bad != 0;
}
