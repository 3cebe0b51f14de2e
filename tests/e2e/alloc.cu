// Device memory against the server's budget. "hold MIB": allocates MIB,
// touches it, says "holding" and waits to be killed. "try MIB": allocates
// MIB and prints the result and what cudaMemGetInfo reported before.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

#include "check.h"

int main(int argc, char **argv)
{
	size_t mib = argc > 2 ? strtoul(argv[2], NULL, 10) : 1, free_b = 0, total = 0;
	void *d = nullptr;

	if (argc < 3)
		return 2;
	OK(cudaMemGetInfo(&free_b, &total));
	cudaError_t e = cudaMalloc(&d, mib << 20);
	if (strcmp(argv[1], "hold") == 0) {
		if (e != cudaSuccess || cudaMemset(d, 1, mib << 20) != cudaSuccess)
			return 1;
		OK(cudaDeviceSynchronize());
		printf("holding %zu MiB\n", mib);
		fflush(stdout);
		for (;;)
			pause();
	}
	printf("alloc %zu MiB: %s (free before %zu MiB of %zu)\n", mib, cudaGetErrorName(e),
	       free_b >> 20, total >> 20);
	if (e == cudaSuccess)
		OK(cudaFree(d));
	return 0;
}
