// Errors appear where CUDA reports them. A launch CUDA refuses fails at the
// launch (cudaGetLastError right after it) and changes nothing for the next
// unrelated call; a destroyed or foreign handle fails at the call that names
// it; an error never replaces the result of a call that created something.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "check.h"

__global__ void __launch_bounds__(128) bounded(int *p)
{
	p[threadIdx.x] = 1;
}

__global__ void dynamic(int *p)
{
	extern __shared__ int s[];
	s[threadIdx.x] = (int)threadIdx.x;
	__syncthreads();
	p[threadIdx.x] = s[31 - threadIdx.x];
}

int main()
{
	int *d, *d2 = nullptr, h[32];
	cudaEvent_t ev;
	cudaStream_t st;

	OK(cudaMalloc(&d, 4096));
	// More threads than __launch_bounds__ allows: refused at the launch,
	// with cudaErrorInvalidValue (NVIDIA's runtime on an H200 says so).
	bounded<<<1, 256>>>(d);
	EXPECT_ERR(cudaGetLastError(), cudaErrorInvalidValue);
	OK(cudaMalloc(&d2, 64)); // the next call is not the launch's
	EXPECT(d2 != nullptr);
	OK(cudaFree(d2));
	OK(cudaDeviceSynchronize());
	OK(cudaGetLastError());
	bounded<<<1, 128>>>(d);
	OK(cudaGetLastError());
	// Dynamic shared memory past the kernel's limit, then within it once
	// the kernel opts in.
	dynamic<<<1, 32, 64 * 1024>>>(d);
	EXPECT_ERR(cudaGetLastError(), cudaErrorInvalidValue);
	OK(cudaFuncSetAttribute(dynamic, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024));
	dynamic<<<1, 32, 64 * 1024>>>(d);
	OK(cudaGetLastError());
	OK(cudaMemcpy(h, d, sizeof(h), cudaMemcpyDeviceToHost));
	EXPECT(h[0] == 31 && h[31] == 0);
	// A destroyed event or stream fails where it is named. What CUDA does
	// with one is undefined (NVIDIA's runtime crashed here on an H200);
	// vcuda refuses it, checked only under vcuda (VCUDA_SERVER is set).
	OK(cudaEventCreate(&ev));
	OK(cudaEventDestroy(ev));
	OK(cudaStreamCreate(&st));
	OK(cudaStreamDestroy(st));
	if (getenv("VCUDA_SERVER")) {
		EXPECT_ERR(cudaEventRecord(ev, 0), cudaErrorInvalidResourceHandle);
		EXPECT_ERR(cudaGetLastError(), cudaErrorInvalidResourceHandle);
		EXPECT_ERR(cudaMemsetAsync(d, 0, 16, st), cudaErrorInvalidResourceHandle);
		OK(cudaMalloc(&d2, 64)); // the next call is not the refused one's
		OK(cudaFree(d2));
	}
	OK(cudaDeviceSynchronize());
	OK(cudaFree(d));
	return check_done("errors");
}
