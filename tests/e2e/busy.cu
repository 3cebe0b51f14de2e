// A client that keeps the device busy: allocates memory, says "ready", then
// copies until a call fails; prints the error and exits 3. The fault tests
// kill the server or this program while it runs.
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <cuda_runtime.h>

int main(int argc, char **argv)
{
	size_t n = (argc > 1 ? atoi(argv[1]) : 64) << 20;
	std::vector<char> h(n, 1);
	char *d;
	cudaError_t e = cudaMalloc(&d, n);

	if (e != cudaSuccess) {
		printf("malloc: %s\n", cudaGetErrorName(e));
		return 2;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		if ((e = cudaMemcpy(d, h.data(), n, cudaMemcpyHostToDevice)) != cudaSuccess ||
		    (e = cudaMemcpy(h.data(), d, n, cudaMemcpyDeviceToHost)) != cudaSuccess)
			break;
	}
	printf("error: %s\n", cudaGetErrorName(e));
	// The error sticks: later calls fail at once, without hanging.
	e = cudaDeviceSynchronize();
	printf("after: %s\n", cudaGetErrorName(e));
	return 3;
}
