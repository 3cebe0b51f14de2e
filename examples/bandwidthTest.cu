// bandwidthTest: host-to-device, device-to-host and device-to-device copy
// bandwidth, pageable and pinned, timed with CUDA events; every copy is
// checked.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cuda_runtime.h>

#define CHECK(call)                                                              \
	do {                                                                     \
		cudaError_t e_ = (call);                                         \
		if (e_ != cudaSuccess) {                                         \
			fprintf(stderr, "%s failed: %s\n", #call, cudaGetErrorName(e_)); \
			printf("bandwidthTest: FAIL\n");                         \
			exit(1);                                                 \
		}                                                                \
	} while (0)

static float timed_copy(void *dst, const void *src, size_t n, cudaMemcpyKind kind, int reps)
{
	cudaEvent_t a, b;
	float ms = 0;

	CHECK(cudaEventCreate(&a));
	CHECK(cudaEventCreate(&b));
	CHECK(cudaEventRecord(a, 0));
	for (int i = 0; i < reps; i++)
		CHECK(cudaMemcpyAsync(dst, src, n, kind, 0));
	CHECK(cudaEventRecord(b, 0));
	CHECK(cudaEventSynchronize(b));
	CHECK(cudaEventElapsedTime(&ms, a, b));
	CHECK(cudaEventDestroy(a));
	CHECK(cudaEventDestroy(b));
	return ms;
}

int main(int argc, char **argv)
{
	size_t n = (argc > 1 ? (size_t)atoi(argv[1]) : 32) << 20;
	const int reps = 4;
	unsigned char *pageable = (unsigned char *)malloc(n), *back = (unsigned char *)malloc(n);
	unsigned char *pinned, *d1, *d2;
	bool ok = true;

	CHECK(cudaMallocHost(&pinned, n));
	CHECK(cudaMalloc(&d1, n));
	CHECK(cudaMalloc(&d2, n));
	for (size_t i = 0; i < n; i++)
		pageable[i] = pinned[i] = (unsigned char)(i * 7 + (i >> 8));
	printf("Transfer size %zu MiB, %d repetitions\n", n >> 20, reps);
	struct {
		const char *name;
		void *dst;
		const void *src;
		cudaMemcpyKind kind;
	} runs[] = {
		{"Host to device (pageable)", d1, pageable, cudaMemcpyHostToDevice},
		{"Host to device (pinned)  ", d1, pinned, cudaMemcpyHostToDevice},
		{"Device to host (pageable)", back, d1, cudaMemcpyDeviceToHost},
		{"Device to host (pinned)  ", pinned, d1, cudaMemcpyDeviceToHost},
		{"Device to device         ", d2, d1, cudaMemcpyDeviceToDevice},
	};
	for (auto &r : runs) {
		float ms = timed_copy(r.dst, r.src, n, r.kind, reps);
		printf("  %s %10.1f MB/s\n", r.name, ms > 0 ? (double)n * reps / (ms / 1e3) / 1e6 : 0.0);
	}
	CHECK(cudaMemcpy(back, d2, n, cudaMemcpyDeviceToHost));
	ok = memcmp(back, pageable, n) == 0 && memcmp(pinned, pageable, n) == 0;
	CHECK(cudaFree(d1));
	CHECK(cudaFree(d2));
	CHECK(cudaFreeHost(pinned));
	free(pageable);
	free(back);
	printf("bandwidthTest: %s\n", ok ? "PASS" : "FAIL");
	return ok ? 0 : 1;
}
