// Thread block clusters and distributed shared memory, as sm_90 code uses
// them (the CPU device runs them when it reports compute capability 9.0):
// a histogram whose bins are spread over the shared memory of a cluster's
// blocks (compile-time __cluster_dims__, launched with <<<>>>), a
// reduction of a 2D cluster's partial sums through map_shared_rank
// (cluster shape given at launch with cudaLaunchKernelEx), the cluster's
// geometry as cooperative groups report it, and the shapes CUDA refuses.
#include <cooperative_groups.h>

#include "check.h"

namespace cg = cooperative_groups;

#define BINS 256
#define CLUSTER 4

// Rank r's block holds bins [r * BINS / CLUSTER, (r + 1) * BINS / CLUSTER).
__global__ void __cluster_dims__(CLUSTER, 1, 1) histogram(const unsigned char *in, int n, int *bins)
{
	__shared__ int part[BINS / CLUSTER];
	cg::cluster_group cluster = cg::this_cluster();
	for (int i = threadIdx.x; i < BINS / CLUSTER; i += blockDim.x)
		part[i] = 0;
	cluster.sync();
	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
		int b = in[i];
		int *owner = cluster.map_shared_rank(part, b / (BINS / CLUSTER));
		atomicAdd(&owner[b % (BINS / CLUSTER)], 1);
	}
	cluster.sync(); // no block leaves while others may still add to it
	for (int i = threadIdx.x; i < BINS / CLUSTER; i += blockDim.x)
		atomicAdd(&bins[cluster.block_rank() * (BINS / CLUSTER) + i], part[i]);
}

// Each block sums its part of in; rank 0 of each cluster adds its blocks'
// sums, read from their shared memory, and records the geometry.
__global__ void cluster_sum(const int *in, long long *sums, int *geometry)
{
	__shared__ unsigned long long partial;
	cg::cluster_group cluster = cg::this_cluster();
	int block = blockIdx.y * gridDim.x + blockIdx.x;
	if (threadIdx.x == 0)
		partial = 0;
	__syncthreads();
	atomicAdd(&partial, (unsigned long long)(long long)in[block * blockDim.x + threadIdx.x]);
	cluster.sync();
	dim3 idx = cluster.block_index(), dim = cluster.dim_blocks();
	int cid = (blockIdx.y / dim.y) * (gridDim.x / dim.x) + blockIdx.x / dim.x;
	if (threadIdx.x == 0) {
		geometry[block * 4 + 0] = (int)cluster.block_rank();
		geometry[block * 4 + 1] = (int)cluster.num_blocks();
		geometry[block * 4 + 2] = (int)(idx.x + 10 * idx.y);
		geometry[block * 4 + 3] = (int)(dim.x + 10 * dim.y);
	}
	if (cluster.block_rank() == 0 && threadIdx.x == 0) {
		long long total = 0;
		for (unsigned r = 0; r < cluster.num_blocks(); r++)
			total += (long long)*cluster.map_shared_rank(&partial, r);
		sums[cid] = total;
	}
	cluster.sync();
}

int main()
{
	const int n = 1 << 18;
	unsigned char *h = (unsigned char *)malloc(n), *d;
	int *bins, want[BINS] = {0}, got[BINS];
	for (int i = 0; i < n; i++) {
		h[i] = (unsigned char)((i * 2654435761u) >> 13);
		want[h[i]]++;
	}
	OK(cudaMalloc(&d, n));
	OK(cudaMalloc(&bins, sizeof(got)));
	OK(cudaMemcpy(d, h, n, cudaMemcpyHostToDevice));
	OK(cudaMemset(bins, 0, sizeof(got)));
	histogram<<<8 * CLUSTER, 128>>>(d, n, bins);
	OK(cudaGetLastError());
	OK(cudaMemcpy(got, bins, sizeof(got), cudaMemcpyDeviceToHost));
	int same = 1;
	for (int i = 0; i < BINS; i++)
		same &= got[i] == want[i];
	EXPECT(same);
	cudaFuncAttributes fa;
	OK(cudaFuncGetAttributes(&fa, histogram));
	EXPECT(fa.requiredClusterWidth == CLUSTER && fa.requiredClusterHeight == 1);

	// A 4 x 4 grid of blocks of 64 threads in 2 x 2 clusters.
	const int gx = 4, gy = 4, threads = 64, blocks = gx * gy;
	int hin[blocks * threads], *din, *dgeo, geo[blocks * 4];
	long long *dsums, sums[4], wsums[4] = {0};
	for (int i = 0; i < blocks * threads; i++)
		hin[i] = i * 7 - 3000;
	for (int b = 0; b < blocks; b++) {
		int bx = b % gx, by = b / gx;
		for (int t = 0; t < threads; t++)
			wsums[(by / 2) * 2 + bx / 2] += hin[b * threads + t];
	}
	OK(cudaMalloc(&din, sizeof(hin)));
	OK(cudaMalloc(&dgeo, sizeof(geo)));
	OK(cudaMalloc(&dsums, sizeof(sums)));
	OK(cudaMemcpy(din, hin, sizeof(hin), cudaMemcpyHostToDevice));
	cudaLaunchConfig_t cfg = {};
	cudaLaunchAttribute attr;
	attr.id = cudaLaunchAttributeClusterDimension;
	attr.val.clusterDim.x = 2;
	attr.val.clusterDim.y = 2;
	attr.val.clusterDim.z = 1;
	cfg.gridDim = dim3(gx, gy);
	cfg.blockDim = dim3(threads);
	cfg.attrs = &attr;
	cfg.numAttrs = 1;
	OK(cudaLaunchKernelEx(&cfg, cluster_sum, (const int *)din, dsums, dgeo));
	OK(cudaMemcpy(sums, dsums, sizeof(sums), cudaMemcpyDeviceToHost));
	OK(cudaMemcpy(geo, dgeo, sizeof(geo), cudaMemcpyDeviceToHost));
	for (int c = 0; c < 4; c++)
		EXPECT(sums[c] == wsums[c]);
	for (int b = 0; b < blocks; b++) {
		int bx = b % gx, by = b / gx, rank = (bx % 2) + 2 * (by % 2);
		EXPECT(geo[b * 4 + 0] == rank && geo[b * 4 + 1] == 4);
		EXPECT(geo[b * 4 + 2] == bx % 2 + 10 * (by % 2) && geo[b * 4 + 3] == 22);
	}

	// Shapes CUDA refuses: a grid that is not whole clusters; a cluster
	// other than the kernel's own; more than 8 blocks (portable size).
	cfg.gridDim = dim3(3, 4);
	EXPECT_ERR(cudaLaunchKernelEx(&cfg, cluster_sum, (const int *)din, dsums, dgeo),
		   cudaErrorInvalidClusterSize);
	cfg.gridDim = dim3(8);
	attr.val.clusterDim.y = 1;
	EXPECT_ERR(cudaLaunchKernelEx(&cfg, histogram, (const unsigned char *)d, n, bins),
		   cudaErrorInvalidClusterSize);
	cfg.gridDim = dim3(16);
	attr.val.clusterDim.x = 16;
	EXPECT_ERR(cudaLaunchKernelEx(&cfg, cluster_sum, (const int *)din, dsums, dgeo),
		   cudaErrorInvalidClusterSize);
	// As every failed runtime call, they leave their error to
	// cudaGetLastError, which then resets it.
	EXPECT_ERR(cudaGetLastError(), cudaErrorInvalidClusterSize);
	OK(cudaGetLastError());
	OK(cudaDeviceSynchronize());
	free(h);
	return check_done("clusters");
}
