// streamOrderedAlloc: temporary buffers allocated and freed in stream order
// (cudaMallocAsync, cudaFreeAsync) on two streams, with the default pool
// told to keep memory (release threshold); the sums are checked on the host.
#include <cstdint>
#include <cstdio>
#include <vector>
#include <cuda_runtime.h>

__global__ void square_sum(const int *in, int n, unsigned long long *sum)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		atomicAdd(sum, (unsigned long long)in[i] * in[i]);
}

int main()
{
	const int n = 1 << 16, rounds = 8;
	cudaStream_t s[2];
	cudaMemPool_t pool;
	uint64_t keep = UINT64_MAX, high = 0;
	std::vector<int> h(n);
	unsigned long long got[rounds] = {}, want[rounds] = {};

	cudaDeviceGetDefaultMemPool(&pool, 0);
	cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
	cudaStreamCreate(&s[0]);
	cudaStreamCreate(&s[1]);
	for (int r = 0; r < rounds; r++) {
		cudaStream_t st = s[r % 2];
		int *d;
		unsigned long long *dsum;
		for (int i = 0; i < n; i++) {
			h[i] = (i * (r + 3)) % 1000;
			want[r] += (unsigned long long)h[i] * h[i];
		}
		cudaMallocAsync((void **)&d, n * sizeof(int), st);
		cudaMallocAsync((void **)&dsum, sizeof(*dsum), st);
		cudaMemsetAsync(dsum, 0, sizeof(*dsum), st);
		cudaMemcpyAsync(d, h.data(), n * sizeof(int), cudaMemcpyHostToDevice, st);
		square_sum<<<(n + 255) / 256, 256, 0, st>>>(d, n, dsum);
		cudaMemcpyAsync(&got[r], dsum, sizeof(*dsum), cudaMemcpyDeviceToHost, st);
		cudaFreeAsync(d, st);
		cudaFreeAsync(dsum, st);
		cudaStreamSynchronize(st); // h is reused by the next round
	}
	cudaError_t e = cudaDeviceSynchronize();
	cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &high);
	int bad = 0;
	for (int r = 0; r < rounds; r++)
		bad += got[r] != want[r];
	printf("%d rounds, at most %llu bytes in use from the pool at once\n", rounds,
	       (unsigned long long)high);
	printf("streamOrderedAlloc: %s\n", e == cudaSuccess && bad == 0 ? "PASS" : "FAIL");
	return e == cudaSuccess && bad == 0 ? 0 : 1;
}
