// matrixMul: C = A * B with 16x16 tiles in shared memory, checked on the host.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

#define TILE 16

__global__ void matrixMul(const float *a, const float *b, float *c, int n)
{
	__shared__ float sa[TILE][TILE], sb[TILE][TILE];
	int row = blockIdx.y * TILE + threadIdx.y, col = blockIdx.x * TILE + threadIdx.x;
	float acc = 0;

	for (int t = 0; t < n / TILE; t++) {
		sa[threadIdx.y][threadIdx.x] = a[row * n + t * TILE + threadIdx.x];
		sb[threadIdx.y][threadIdx.x] = b[(t * TILE + threadIdx.y) * n + col];
		__syncthreads();
		for (int k = 0; k < TILE; k++)
			acc += sa[threadIdx.y][k] * sb[k][threadIdx.x];
		__syncthreads();
	}
	c[row * n + col] = acc;
}

int main()
{
	const int n = 256;
	size_t bytes = (size_t)n * n * sizeof(float);
	float *a = (float *)malloc(bytes), *b = (float *)malloc(bytes), *c = (float *)malloc(bytes);
	float *da, *db, *dc, ms = 0;
	double worst = 0;
	cudaEvent_t start, stop;

	for (int i = 0; i < n * n; i++) {
		a[i] = (float)(i % 17) / 16 - 0.5f;
		b[i] = (float)(i % 13) / 12 - 0.5f;
	}
	cudaMalloc(&da, bytes);
	cudaMalloc(&db, bytes);
	cudaMalloc(&dc, bytes);
	cudaMemcpy(da, a, bytes, cudaMemcpyHostToDevice);
	cudaMemcpy(db, b, bytes, cudaMemcpyHostToDevice);
	cudaEventCreate(&start);
	cudaEventCreate(&stop);
	cudaEventRecord(start);
	matrixMul<<<dim3(n / TILE, n / TILE), dim3(TILE, TILE)>>>(da, db, dc, n);
	cudaEventRecord(stop);
	cudaEventSynchronize(stop);
	cudaEventElapsedTime(&ms, start, stop);
	cudaMemcpy(c, dc, bytes, cudaMemcpyDeviceToHost);
	for (int r = 0; r < n; r++)
		for (int col = 0; col < n; col++) {
			double s = 0;
			for (int k = 0; k < n; k++)
				s += (double)a[r * n + k] * b[k * n + col];
			worst = fmax(worst, fabs(s - c[r * n + col]));
		}
	printf("matrixMul %dx%d: %.2f ms, largest error %g\n", n, n, ms, worst);
	cudaFree(da);
	cudaFree(db);
	cudaFree(dc);
	free(a);
	free(b);
	free(c);
	printf("matrixMul: %s\n", worst < 1e-3 ? "PASS" : "FAIL");
	return worst >= 1e-3;
}
