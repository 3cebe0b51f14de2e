// A cooperative launch: every block resident at once, synchronized across
// the grid with cooperative groups; and a grid too large to be resident.
#include <cooperative_groups.h>
#include "check.h"

namespace cg = cooperative_groups;

__global__ void rotate(int *x, int *out, int shift)
{
	cg::grid_group g = cg::this_grid();
	x[g.thread_rank()] = (int)g.thread_rank() * 3;
	g.sync(); // every block's writes are visible after this
	out[g.thread_rank()] = x[(g.thread_rank() + shift) % g.size()];
}

int main()
{
	int blocks = 4, threads = 128, n = blocks * threads, shift = 300, *x, *out, h[512], supported = 0;
	void *args[] = {&x, &out, &shift};

	OK(cudaDeviceGetAttribute(&supported, cudaDevAttrCooperativeLaunch, 0));
	OK(cudaMalloc(&x, n * sizeof(int)));
	OK(cudaMalloc(&out, n * sizeof(int)));
	OK(cudaLaunchCooperativeKernel((void *)rotate, blocks, threads, args, 0, 0));
	OK(cudaMemcpy(h, out, sizeof(h), cudaMemcpyDeviceToHost));
	bool ok = true;
	for (int i = 0; i < n; i++)
		ok &= h[i] == (i + shift) % n * 3;
	EXPECT(ok);
	EXPECT_ERR(cudaLaunchCooperativeKernel((void *)rotate, 1 << 20, threads, args, 0, 0),
		   cudaErrorCooperativeLaunchTooLarge);
	cudaGetLastError();
	OK(cudaDeviceSynchronize());
	return check_done("cooperative");
}
