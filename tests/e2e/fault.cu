// An illegal address in a kernel: the launch succeeds, the next synchronizing
// call reports cudaErrorIllegalAddress, and the error sticks.
#include "check.h"

__global__ void wild(int *p, long long offset)
{
	p[offset + threadIdx.x] = 1;
}

int main()
{
	int *d;

	OK(cudaMalloc(&d, 1024));
	wild<<<1, 32>>>(d, 1ll << 34);
	OK(cudaGetLastError());
	EXPECT_ERR(cudaDeviceSynchronize(), cudaErrorIllegalAddress);
	EXPECT_ERR(cudaMalloc(&d, 16), cudaErrorIllegalAddress);
	EXPECT_ERR(cudaPeekAtLastError(), cudaErrorIllegalAddress);
	EXPECT_ERR(cudaGetLastError(), cudaErrorIllegalAddress);
	// The last error is cleared (CUDA 13 on an H200 does so), but the
	// context's error sticks: every call returns it again.
	OK(cudaGetLastError());
	EXPECT_ERR(cudaMemset(d, 0, 16), cudaErrorIllegalAddress);
	EXPECT_ERR(cudaGetLastError(), cudaErrorIllegalAddress);
	return check_done("fault");
}
