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
	EXPECT_ERR(cudaGetLastError(), cudaErrorIllegalAddress);
	EXPECT_ERR(cudaGetLastError(), cudaErrorIllegalAddress); // sticky: still there
	return check_done("fault");
}
