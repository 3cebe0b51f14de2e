// Asynchronous copies and split barriers, as sm_80 code uses them: a
// double-buffered cuda::pipeline streaming tiles through shared memory, a
// cuda::barrier that completes cuda::memcpy_async copies, the
// __pipeline_memcpy_async primitives, and warps that wait on an mbarrier
// for one another (producer warps fill a buffer, consumer warps wait for
// the phase, with raw PTX so the wait loops as hand-written code does).
#include <cooperative_groups.h>
#include <cuda/barrier>
#include <cuda/pipeline>
#include <cuda_pipeline.h>

#include "check.h"

namespace cg = cooperative_groups;

#define TILE 256

__global__ void pipelined(const float *in, float *out, int tiles)
{
	__shared__ float buf[2][TILE];
	__shared__ cuda::pipeline_shared_state<cuda::thread_scope_block, 2> state;
	auto block = cg::this_thread_block();
	auto pipe = cuda::make_pipeline(block, &state);

	// Two stages in flight: fetch tile t + 1 while tile t is used.
	pipe.producer_acquire();
	cuda::memcpy_async(block, buf[0], in, sizeof(float) * TILE, pipe);
	pipe.producer_commit();
	for (int t = 0; t < tiles; t++) {
		if (t + 1 < tiles) {
			pipe.producer_acquire();
			cuda::memcpy_async(block, buf[(t + 1) % 2], in + (t + 1) * TILE,
					   sizeof(float) * TILE, pipe);
			pipe.producer_commit();
		}
		pipe.consumer_wait();
		out[t * TILE + threadIdx.x] = buf[t % 2][TILE - 1 - threadIdx.x] * 2.0f;
		pipe.consumer_release();
	}
}

__global__ void with_barrier(const float *in, float *out)
{
	__shared__ float buf[TILE];
	__shared__ cuda::barrier<cuda::thread_scope_block> bar;
	if (threadIdx.x == 0)
		init(&bar, blockDim.x);
	__syncthreads();
	cuda::memcpy_async(&buf[threadIdx.x], &in[blockIdx.x * TILE + threadIdx.x], sizeof(float),
			   bar);
	bar.arrive_and_wait();
	out[blockIdx.x * TILE + threadIdx.x] = buf[(threadIdx.x + 1) % TILE] + 1.0f;
}

__global__ void primitives(const int4 *in, int4 *out)
{
	__shared__ int4 buf[TILE];
	__pipeline_memcpy_async(&buf[threadIdx.x], &in[threadIdx.x], sizeof(int4));
	__pipeline_commit();
	__pipeline_wait_prior(0);
	__syncthreads();
	out[threadIdx.x] = buf[TILE - 1 - threadIdx.x];
}

// Warps 0-3 produce (each writes its part of data, then arrives), warps
// 4-7 consume: they spin on mbarrier.test_wait.parity until the phase
// completes, with no __syncthreads between the two.
__global__ void producer_consumer(int *out, int rounds)
{
	__shared__ int data[128];
	__shared__ __align__(8) unsigned long long bar[2];
	int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
	unsigned full = (unsigned)__cvta_generic_to_shared(&bar[0]);
	unsigned empty = (unsigned)__cvta_generic_to_shared(&bar[1]);
	if (threadIdx.x == 0) {
		asm volatile("mbarrier.init.shared.b64 [%0], %1;" ::"r"(full), "r"(128));
		asm volatile("mbarrier.init.shared.b64 [%0], %1;" ::"r"(empty), "r"(128));
	}
	__syncthreads();
	for (int r = 0; r < rounds; r++) {
		unsigned parity = r & 1;
		if (warp < 4) {
			if (r > 0) { // wait until the consumers took the last round
				unsigned done = 0;
				while (!done)
					asm volatile("{.reg .pred p; mbarrier.test_wait.parity.shared.b64 p, "
						     "[%1], %2; selp.u32 %0, 1, 0, p;}"
						     : "=r"(done)
						     : "r"(empty), "r"(parity ^ 1));
			}
			data[warp * 32 + lane] = r * 1000 + warp * 32 + lane;
			asm volatile("{.reg .b64 st; mbarrier.arrive.shared.b64 st, [%0];}" ::"r"(full)
				     : "memory");
		} else {
			unsigned done = 0;
			while (!done) {
				asm volatile("{.reg .pred p; mbarrier.test_wait.parity.shared.b64 p, "
					     "[%1], %2; selp.u32 %0, 1, 0, p;}"
					     : "=r"(done)
					     : "r"(full), "r"(parity));
				if (!done)
					__nanosleep(100);
			}
			int i = (warp - 4) * 32 + lane;
			out[r * 128 + i] = data[127 - i];
			asm volatile("{.reg .b64 st; mbarrier.arrive.shared.b64 st, [%0];}" ::"r"(empty)
				     : "memory");
		}
	}
}

int main()
{
	const int tiles = 16;
	float *in, *out;
	OK(cudaMallocManaged(&in, tiles * TILE * sizeof(float)));
	OK(cudaMallocManaged(&out, tiles * TILE * sizeof(float)));
	for (int i = 0; i < tiles * TILE; i++)
		in[i] = (float)i;

	pipelined<<<1, TILE>>>(in, out, tiles);
	OK(cudaDeviceSynchronize());
	int bad = 0;
	for (int t = 0; t < tiles; t++)
		for (int i = 0; i < TILE; i++)
			bad += out[t * TILE + i] != 2.0f * in[t * TILE + TILE - 1 - i];
	printf("pipeline: %d wrong\n", bad);
	EXPECT(bad == 0);

	with_barrier<<<tiles, TILE>>>(in, out);
	OK(cudaDeviceSynchronize());
	bad = 0;
	for (int b = 0; b < tiles; b++)
		for (int i = 0; i < TILE; i++)
			bad += out[b * TILE + i] != in[b * TILE + (i + 1) % TILE] + 1.0f;
	printf("barrier: %d wrong\n", bad);
	EXPECT(bad == 0);

	int4 *vin, *vout;
	OK(cudaMallocManaged(&vin, TILE * sizeof(int4)));
	OK(cudaMallocManaged(&vout, TILE * sizeof(int4)));
	for (int i = 0; i < TILE; i++)
		vin[i] = make_int4(i, -i, i * 3, 7);
	primitives<<<1, TILE>>>(vin, vout);
	OK(cudaDeviceSynchronize());
	bad = 0;
	for (int i = 0; i < TILE; i++)
		bad += vout[i].x != TILE - 1 - i || vout[i].y != -(TILE - 1 - i) || vout[i].w != 7;
	printf("primitives: %d wrong\n", bad);
	EXPECT(bad == 0);

	const int rounds = 6;
	int *pc;
	OK(cudaMallocManaged(&pc, rounds * 128 * sizeof(int)));
	producer_consumer<<<2, 256>>>(pc, rounds);
	OK(cudaDeviceSynchronize());
	bad = 0;
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < 128; i++)
			bad += pc[r * 128 + i] != r * 1000 + 127 - i;
	printf("mbarrier producer/consumer: %d wrong\n", bad);
	EXPECT(bad == 0);
	return check_done("cp_async");
}
