// Several host threads share the device, each on its own per-thread default
// stream (built with --default-stream per-thread): kernels, copies and
// synchronization from every thread at once.
#include <thread>
#include <vector>
#include "check.h"

__global__ void iota(int *out, int base, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		out[i] = base + i;
}

static void worker(int id, int *failures)
{
	const int n = 1 << 16;
	std::vector<int> h(n);
	int *d;

	if (cudaSetDevice(0) != cudaSuccess || cudaMalloc(&d, n * sizeof(int)) != cudaSuccess) {
		(*failures)++;
		return;
	}
	for (int round = 0; round < 20; round++) {
		iota<<<(n + 255) / 256, 256>>>(d, id * 1000000 + round, n);
		cudaMemcpyAsync(h.data(), d, n * sizeof(int), cudaMemcpyDeviceToHost, cudaStreamPerThread);
		if (cudaStreamSynchronize(cudaStreamPerThread) != cudaSuccess)
			(*failures)++;
		for (int i = 0; i < n; i++)
			if (h[i] != id * 1000000 + round + i) {
				(*failures)++;
				break;
			}
	}
	cudaFree(d);
}

int main()
{
	int failures[4] = {0};
	std::vector<std::thread> threads;

	for (int t = 0; t < 4; t++)
		threads.emplace_back(worker, t, &failures[t]);
	for (auto &t : threads)
		t.join();
	for (int t = 0; t < 4; t++)
		EXPECT(failures[t] == 0);
	OK(cudaDeviceSynchronize());
	return check_done("threads");
}
