// Mapped (zero-copy) host memory: over shm://, page-locked memory from
// cudaHostAlloc(cudaHostAllocMapped) is reachable by kernels at the
// address cudaHostGetDevicePointer gives; a kernel waits on a flag the
// host writes while it runs, and what it writes the host sees. Over other
// transports the device cannot map host memory, and says so.
#include <chrono>
#include <cstdio>
#include <thread>

#include "check.h"

__global__ void wait_then_answer(volatile int *flag, int *answer)
{
	while (flag[0] == 0)
		;
	answer[0] = flag[0] * 6;
	flag[1] = 7;
}

int main()
{
	int can = -1, *host, *dev, *answer, got = 0;

	OK(cudaDeviceGetAttribute(&can, cudaDevAttrCanMapHostMemory, 0));
	OK(cudaHostAlloc(&host, 2 * sizeof(int), cudaHostAllocMapped));
	if (!can) {
		EXPECT_ERR(cudaHostGetDevicePointer((void **)&dev, host, 0), cudaErrorNotSupported);
		OK(cudaFreeHost(host));
		printf("mapped: not supported over this transport\n");
		return check_done("mapped");
	}
	host[0] = host[1] = 0;
	OK(cudaHostGetDevicePointer((void **)&dev, host, 0));
	OK(cudaMalloc(&answer, sizeof(int)));
	wait_then_answer<<<1, 1>>>(dev, answer);
	// The kernel spins on the flag until the host, meanwhile, sets it.
	std::this_thread::sleep_for(std::chrono::milliseconds(20));
	__atomic_store_n(&host[0], 7, __ATOMIC_SEQ_CST);
	OK(cudaDeviceSynchronize());
	OK(cudaMemcpy(&got, answer, sizeof(int), cudaMemcpyDeviceToHost));
	EXPECT(got == 42);
	EXPECT(__atomic_load_n(&host[1], __ATOMIC_SEQ_CST) == 7);
	// Memory that is not the shared heap's has no device address.
	int local;
	EXPECT_ERR(cudaHostGetDevicePointer((void **)&dev, &local, 0), cudaErrorInvalidValue);
	OK(cudaFree(answer));
	OK(cudaFreeHost(host));
	printf("mapped: a kernel waited on a host flag\n");
	return check_done("mapped");
}
