// A guest that keeps computing while vcuda-smi moves its session to another
// server (migrate.test, precopy.test). It holds MIB MiB of device memory,
// of which each step's kernel rewrites one window of WINDOW MiB, the next
// window each step (16 unless given; "hot": the same first 16 MiB every
// step; "all": a memset rewrites the whole of it every step, as fast as
// memory is written); each step ends by synchronizing, so the
// session can move between two steps. It steps until the file STOP exists,
// then checks all of its memory against the host and prints how long its
// longest step took beside its median step (the difference is the move's
// downtime as this guest saw it), and a baseline: how long writing as much
// fresh host memory takes.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <unistd.h>
#include <vector>

#include "check.h"

__global__ void fill(unsigned *a, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		a[i] = (unsigned)i;
}

__global__ void bump(unsigned *a, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		a[i] += 1;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: migrate STOP MIB [WINDOW_MIB|all|hot]\n");
		return 2;
	}
	const size_t n = (size_t)atoi(argv[2]) << 18; // 4-byte words
	const int hot = argc == 4 && strcmp(argv[3], "hot") == 0;
	const int all = argc == 4 && strcmp(argv[3], "all") == 0;
	const size_t win = argc < 4 || hot ? (size_t)16 << 18
			   : all	   ? n
					   : (size_t)atoi(argv[3]) << 18;
	unsigned set = 0; /* all: the byte the last memset wrote */
	if (!win || n % win) {
		fprintf(stderr, "migrate: the window must divide the memory\n");
		return 2;
	}
	const size_t windows = n / win;
	const unsigned grid = win > ((size_t)16 << 18) ? 256 : 64;
	std::vector<unsigned> bumps(windows, 0);
	std::vector<double> times;
	unsigned *d;
	double longest = 0;
	int steps = 0;

	{ /* a baseline for the move's pause: writing this much fresh host memory */
		std::vector<unsigned> src(n, 1);
		auto t0 = std::chrono::steady_clock::now();
		unsigned *fresh = new unsigned[n];
		memcpy(fresh, src.data(), n * sizeof(unsigned));
		double ms =
		    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
			.count();
		printf("baseline: writing %zu MiB of fresh host memory took %.1f ms\n", n >> 18,
		       ms);
		delete[] fresh;
	}
	OK(cudaMalloc(&d, n * sizeof(unsigned)));
	fill<<<256, 256>>>(d, n);
	OK(cudaDeviceSynchronize());
	printf("stepping\n");
	fflush(stdout);
	while (steps < 10 || access(argv[1], F_OK) != 0) {
		auto t0 = std::chrono::steady_clock::now();
		size_t w = hot ? 0 : (size_t)steps % windows;
		if (all) {
			set = 1 + (unsigned)steps % 200;
			OK(cudaMemsetAsync(d, (int)set, n * sizeof(unsigned)));
		} else {
			bump<<<grid, 256>>>(d + w * win, win);
		}
		OK(cudaDeviceSynchronize());
		bumps[w]++;
		double ms =
		    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
			.count();
		if (ms > longest)
			longest = ms;
		times.push_back(ms);
		steps++;
	}
	std::sort(times.begin(), times.end());
	std::vector<unsigned> h(n);
	OK(cudaMemcpy(h.data(), d, n * sizeof(unsigned), cudaMemcpyDeviceToHost));
	size_t bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += h[i] != (all ? set * 0x01010101u : (unsigned)i + bumps[i / win]);
	printf("%d steps, %zu of %zu words wrong, longest step %.1f ms, median %.1f ms\n", steps,
	       bad, n, longest, times[times.size() / 2]);
	EXPECT(bad == 0);
	OK(cudaFree(d));
	return check_done("migrate");
}
