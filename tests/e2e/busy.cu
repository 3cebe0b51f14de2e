// A client that keeps the device busy: allocates memory, says "ready", then
// copies until a call fails; prints the error and exits 3. The fault tests
// kill the server, its worker or this program while it runs.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <cuda_runtime.h>

int main(int argc, char **argv)
{
	size_t n = (argc > 1 ? atoi(argv[1]) : 64) << 20;
	std::vector<char> pageable;
	char *d, *h;
	cudaError_t e = cudaMalloc(&d, n);

	// "busy MIB pinned": the host buffer is page-locked.
	if (e == cudaSuccess && argc > 2 && strcmp(argv[2], "pinned") == 0) {
		e = cudaMallocHost(&h, n);
		if (e == cudaSuccess)
			memset(h, 1, n);
	} else {
		pageable.assign(n, 1);
		h = pageable.data();
	}
	if (e != cudaSuccess) {
		printf("malloc: %s\n", cudaGetErrorName(e));
		return 2;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		if ((e = cudaMemcpy(d, h, n, cudaMemcpyHostToDevice)) != cudaSuccess ||
		    (e = cudaMemcpy(h, d, n, cudaMemcpyDeviceToHost)) != cudaSuccess)
			break;
	}
	printf("error: %s\n", cudaGetErrorName(e));
	// The error sticks: later calls fail at once, without hanging.
	e = cudaDeviceSynchronize();
	printf("after: %s\n", cudaGetErrorName(e));
	return 3;
}
