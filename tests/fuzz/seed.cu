// The kernels whose compiled forms seed the fuzzers' corpora
// (tests/fuzz/make-seeds.sh): parameters of several sizes, shared memory,
// a branch, an atomic, a shuffle and device printf.
#include <cstdio>

struct pair {
	int a;
	double b;
};

__constant__ float scale[4];
__device__ int counter;

__global__ void seed_kernel(const float *in, float *out, pair p, int n)
{
	__shared__ float tile[64];
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	tile[threadIdx.x % 64] = i < n ? in[i] * scale[i & 3] : 0.0f;
	__syncthreads();
	float v = tile[(threadIdx.x + 1) % 64] + (float)p.b;
	v += __shfl_down_sync(0xffffffffu, v, 1);
	if (i < n)
		out[i] = v;
	if (i == 0) {
		atomicAdd(&counter, p.a);
		printf("seed %d %f %s\n", p.a, p.b, "done");
	}
}
