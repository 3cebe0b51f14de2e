// One guest's device memory is out of another's reach.
// "owner": fills a buffer with a secret pattern, prints its address,
// and waits to be killed. "thief ADDR": tries to read ADDR with a copy and
// with a kernel; CUDA refuses the copy of memory this context did not
// allocate, and the kernel either faults or reads what is there in this
// guest's own address space: never the owner's pattern.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

#include "check.h"

#define SECRET 0x5ec2e75u
#define WORDS  4096

__global__ void steal(const unsigned *src, unsigned *dst, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		dst[i] = src[i];
}

static int owner()
{
	unsigned *d, h[WORDS];

	for (int i = 0; i < WORDS; i++)
		h[i] = SECRET ^ (unsigned)i;
	OK(cudaMalloc(&d, sizeof(h)));
	OK(cudaMemcpy(d, h, sizeof(h), cudaMemcpyHostToDevice));
	printf("secret at %p\n", (void *)d);
	fflush(stdout);
	for (;;)
		pause();
}

static int has_secret(const unsigned *h)
{
	for (int i = 0; i < WORDS; i++)
		if (h[i] == (SECRET ^ (unsigned)i))
			return 1;
	return 0;
}

static int thief(const char *addr)
{
	unsigned *src = (unsigned *)(uintptr_t)strtoull(addr, NULL, 16);
	unsigned *mine = nullptr, h[WORDS];
	cudaError_t e;

	memset(h, 0, sizeof(h));
	// A copy from memory this guest never allocated is refused.
	e = cudaMemcpy(h, src, sizeof(h), cudaMemcpyDeviceToHost);
	EXPECT(e != cudaSuccess);
	EXPECT(!has_secret(h));
	cudaGetLastError();
	// A kernel that reads it: a fault, or this guest's own memory.
	OK(cudaMalloc(&mine, sizeof(h)));
	OK(cudaMemset(mine, 0, sizeof(h)));
	steal<<<WORDS / 256, 256>>>(src, mine, WORDS);
	e = cudaDeviceSynchronize();
	if (e == cudaSuccess) {
		OK(cudaMemcpy(h, mine, sizeof(h), cudaMemcpyDeviceToHost));
		EXPECT(!has_secret(h));
	} else {
		printf("the kernel faulted: %s\n", cudaGetErrorName(e));
	}
	return check_done("isolation");
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "owner") == 0)
		return owner();
	if (argc == 3 && strcmp(argv[1], "thief") == 0)
		return thief(argv[2]);
	fprintf(stderr, "usage: isolation owner | isolation thief ADDR\n");
	return 2;
}
