// unifiedMemory: a particle simulation kept in managed memory, with no
// cudaMemcpy at all. The host sets up the particles and reads their
// positions between steps through the same pointer the kernel uses; a
// __managed__ counter collects how many particles hit the floor. Checked
// against the same steps computed on the host.
#include <cmath>
#include <cstdio>
#include <cuda_runtime.h>

struct particle {
	float x, y, vx, vy;
};

__managed__ unsigned int bounces;

// One particle's step, the same code on the device and on the host.
__host__ __device__ static bool advance(particle &q, float dt)
{
	q.vy -= 9.81f * dt;
	q.x += q.vx * dt;
	q.y += q.vy * dt;
	if (q.y >= 0.0f)
		return false;
	q.y = -q.y;
	q.vy = -q.vy * 0.9f;
	return true;
}

__global__ void step(particle *p, int n, float dt)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n && advance(p[i], dt))
		atomicAdd(&bounces, 1u);
}

static void step_host(particle *p, int n, float dt, unsigned *hits)
{
	for (int i = 0; i < n; i++)
		*hits += advance(p[i], dt);
}

int main()
{
	const int n = 1 << 16, steps = 20;
	const float dt = 0.05f;
	particle *p, *ref = new particle[n];
	unsigned hits = 0;
	double worst = 0;

	if (cudaMallocManaged(&p, n * sizeof(particle)) != cudaSuccess) {
		printf("unifiedMemory: FAIL (no managed memory)\n");
		return 1;
	}
	for (int i = 0; i < n; i++)
		ref[i] = p[i] = {i * 0.001f, 1.0f + (i % 97) * 0.01f, 0.5f, 0.0f};
	bounces = 0;
	for (int s = 0; s < steps; s++) {
		step<<<(n + 255) / 256, 256>>>(p, n, dt);
		cudaDeviceSynchronize();
		step_host(ref, n, dt, &hits);
		// The host reads the device's positions after every step, and
		// nudges one particle, which the next step must see.
		p[s].vx += 1.0f;
		ref[s].vx += 1.0f;
	}
	for (int i = 0; i < n; i++)
		worst = fmax(worst, fabs(p[i].x - ref[i].x) + fabs(p[i].y - ref[i].y));
	printf("unifiedMemory: %d particles, %d steps, %u bounces (host: %u), largest "
	       "difference %.2g\n",
	       n, steps, bounces, hits, worst);
	cudaError_t e = cudaGetLastError();
	cudaFree(p);
	delete[] ref;
	int ok = e == cudaSuccess && bounces == hits && worst < 1e-4;
	printf("unifiedMemory: %s\n", ok ? "PASS" : "FAIL");
	return ok ? 0 : 1;
}
