// Device time for the sharing tests. Each kernel does the same fixed work
// (and its result is checked).
//   spin SECONDS   launches kernels until SECONDS have passed; prints how
//                  many ran
//   work N         runs N kernels; prints how long that took
// A third argument "hold" keeps the session open afterwards until killed,
// so that what the server counted for it can be read. With SPIN_START set
// to a file's name, the kernels wait (after "ready") until that file
// exists, so that guests started one after another can begin together.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

#include "check.h"

#define THREADS 8192
#define ROUNDS	1500

__global__ void churn(unsigned *out, unsigned seed)
{
	unsigned i = blockIdx.x * blockDim.x + threadIdx.x, x = i ^ seed;
	for (int r = 0; r < ROUNDS; r++)
		x = x * 1664525u + 1013904223u;
	out[i] = x;
}

static unsigned expect(unsigned i, unsigned seed)
{
	unsigned x = i ^ seed;
	for (int r = 0; r < ROUNDS; r++)
		x = x * 1664525u + 1013904223u;
	return x;
}

static double now()
{
	return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
	    .count();
}

int main(int argc, char **argv)
{
	static unsigned h[THREADS];
	unsigned *d;
	long n = 0, limit = argc > 2 ? atol(argv[2]) : 0;
	double t0, secs = 0;
	int spin = argc > 2 && strcmp(argv[1], "spin") == 0;

	if (argc < 3 || argc > 4 || (!spin && strcmp(argv[1], "work") != 0) ||
	    (argc == 4 && strcmp(argv[3], "hold") != 0)) {
		fprintf(stderr, "usage: spin spin SECONDS [hold] | spin work N [hold]\n");
		return 2;
	}
	OK(cudaMalloc(&d, sizeof(h)));
	OK(cudaDeviceSynchronize());
	printf("ready\n");
	fflush(stdout);
	if (getenv("SPIN_START"))
		while (access(getenv("SPIN_START"), F_OK) != 0)
			usleep(2000);
	t0 = now();
	while (spin ? now() - t0 < (double)limit : n < limit) {
		churn<<<THREADS / 128, 128>>>(d, (unsigned)n);
		OK(cudaDeviceSynchronize());
		n++;
	}
	secs = now() - t0;
	OK(cudaMemcpy(h, d, sizeof(h), cudaMemcpyDeviceToHost));
	for (unsigned i = 0; i < THREADS; i += 97)
		EXPECT(h[i] == expect(i, (unsigned)(n - 1)));
	printf("kernels %ld in %.3f s\n", n, secs);
	if (argc == 4) {
		check_done("spin");
		fflush(stdout);
		for (;;)
			pause();
	}
	return check_done("spin");
}
