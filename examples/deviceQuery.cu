// deviceQuery: what the CUDA runtime says about each device.
#include <cstdio>
#include <cuda_runtime.h>

#define CHECK(call)                                                              \
	do {                                                                     \
		cudaError_t e_ = (call);                                         \
		if (e_ != cudaSuccess) {                                         \
			fprintf(stderr, "%s failed: %s (%s)\n", #call,           \
				cudaGetErrorString(e_), cudaGetErrorName(e_));   \
			printf("deviceQuery: FAIL\n");                           \
			return 1;                                                \
		}                                                                \
	} while (0)

int main()
{
	int count = 0, driver = 0, runtime = 0;

	CHECK(cudaGetDeviceCount(&count));
	CHECK(cudaDriverGetVersion(&driver));
	CHECK(cudaRuntimeGetVersion(&runtime));
	printf("CUDA driver %d.%d, runtime %d.%d, %d device(s)\n", driver / 1000, driver % 1000 / 10,
	       runtime / 1000, runtime % 1000 / 10, count);
	for (int d = 0; d < count; d++) {
		cudaDeviceProp p;
		size_t free_b, total;
		CHECK(cudaGetDeviceProperties(&p, d));
		CHECK(cudaSetDevice(d));
		CHECK(cudaMemGetInfo(&free_b, &total));
		printf("\nDevice %d: \"%s\"\n", d, p.name);
		printf("  Compute capability:              %d.%d\n", p.major, p.minor);
		printf("  Global memory:                   %zu MiB (%zu MiB free)\n", p.totalGlobalMem >> 20,
		       free_b >> 20);
		printf("  Multiprocessors:                 %d\n", p.multiProcessorCount);
		printf("  Max threads per block:           %d\n", p.maxThreadsPerBlock);
		printf("  Max block dimensions:            %d x %d x %d\n", p.maxThreadsDim[0],
		       p.maxThreadsDim[1], p.maxThreadsDim[2]);
		printf("  Max grid dimensions:             %d x %d x %d\n", p.maxGridSize[0],
		       p.maxGridSize[1], p.maxGridSize[2]);
		printf("  Shared memory per block:         %zu bytes\n", p.sharedMemPerBlock);
		printf("  Registers per block:             %d\n", p.regsPerBlock);
		printf("  Warp size:                       %d\n", p.warpSize);
		printf("  Constant memory:                 %zu bytes\n", p.totalConstMem);
		printf("  L2 cache:                        %d bytes\n", p.l2CacheSize);
		printf("  Concurrent kernels:              %s\n", p.concurrentKernels ? "yes" : "no");
		printf("  Unified addressing:              %s\n", p.unifiedAddressing ? "yes" : "no");
		if (p.warpSize != 32 || p.maxThreadsPerBlock <= 0) {
			printf("deviceQuery: FAIL\n");
			return 1;
		}
	}
	printf("\ndeviceQuery: PASS\n");
	return 0;
}
