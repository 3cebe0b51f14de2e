// Device management through the shim: counts, properties, attributes,
// versions and the errors CUDA gives for bad devices.
#include <cstring>
#include "check.h"

int main()
{
	int count = -1, dev = -1, v = 0, drv = 0, rt = 0;
	cudaDeviceProp p;

	OK(cudaGetDeviceCount(&count));
	EXPECT(count >= 1);
	OK(cudaGetDevice(&dev));
	EXPECT(dev == 0);
	for (int d = 0; d < count; d++) {
		OK(cudaGetDeviceProperties(&p, d));
		EXPECT(strlen(p.name) > 0);
		EXPECT(p.totalGlobalMem > 0);
		EXPECT(p.warpSize == 32);
		EXPECT(p.major >= 7);
		EXPECT(p.maxThreadsPerBlock >= 512);
		EXPECT(p.multiProcessorCount > 0);
		OK(cudaDeviceGetAttribute(&v, cudaDevAttrMaxThreadsPerBlock, d));
		EXPECT(v == p.maxThreadsPerBlock);
		OK(cudaDeviceGetAttribute(&v, cudaDevAttrComputeCapabilityMajor, d));
		EXPECT(v == p.major);
		OK(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, d));
		EXPECT(v == p.multiProcessorCount);
		OK(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlock, d));
		EXPECT((size_t)v == p.sharedMemPerBlock);
		printf("device %d: %s, compute capability %d.%d, %d multiprocessors, %zu MiB\n", d,
		       p.name, p.major, p.minor, p.multiProcessorCount, p.totalGlobalMem >> 20);
	}
	// An invalid device number.
	EXPECT_ERR(cudaSetDevice(count), cudaErrorInvalidDevice);
	EXPECT_ERR(cudaGetLastError(), cudaErrorInvalidDevice);
	EXPECT_ERR(cudaGetLastError(), cudaSuccess);
	EXPECT_ERR(cudaSetDevice(-1), cudaErrorInvalidDevice);
	EXPECT_ERR(cudaGetDeviceProperties(&p, count), cudaErrorInvalidDevice);
	EXPECT_ERR(cudaDeviceGetAttribute(&v, cudaDevAttrWarpSize, count + 3), cudaErrorInvalidDevice);
	EXPECT_ERR(cudaDeviceGetAttribute(&v, (cudaDeviceAttr)100000, 0), cudaErrorInvalidValue);
	// Peek does not clear; Get does.
	EXPECT_ERR(cudaPeekAtLastError(), cudaErrorInvalidValue);
	EXPECT_ERR(cudaPeekAtLastError(), cudaErrorInvalidValue);
	EXPECT_ERR(cudaGetLastError(), cudaErrorInvalidValue);
	EXPECT_ERR(cudaPeekAtLastError(), cudaSuccess);
	OK(cudaSetDevice(0));
	OK(cudaDriverGetVersion(&drv));
	OK(cudaRuntimeGetVersion(&rt));
	EXPECT(drv >= 12000);
	EXPECT(rt == CUDART_VERSION);
	size_t free_b = 0, total = 0;
	OK(cudaMemGetInfo(&free_b, &total));
	EXPECT(total > 0 && free_b <= total);
	OK(cudaDeviceSynchronize());
	EXPECT(strcmp(cudaGetErrorName(cudaErrorMemoryAllocation), "cudaErrorMemoryAllocation") == 0);
	EXPECT(strcmp(cudaGetErrorString(cudaErrorInvalidDevice), "invalid device ordinal") == 0);
	OK(cudaDeviceReset());
	return check_done("device_query");
}
