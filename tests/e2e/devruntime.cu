// The device-side runtime: new and delete of classes with virtual functions
// (virtual tables hold function addresses; calls go through them, lanes of
// one warp calling different functions), malloc and free from the heap
// cudaLimitMallocHeapSize sizes (NULL once it is full), and, last because
// it leaves the context unusable, an assertion that fails: the launch
// reports cudaErrorAssert at the next synchronization, every later call
// too, and the message (file, line, thread) reaches stderr.
#include <cassert>

#include "check.h"

struct Shape {
	__device__ virtual float area() const = 0;
	__device__ virtual int sides() const { return 0; }
	__device__ virtual ~Shape() {}
};

struct Square : Shape {
	float s;
	__device__ explicit Square(float x) : s(x) {}
	__device__ float area() const override { return s * s; }
	__device__ int sides() const override { return 4; }
};

struct Circle : Shape {
	float r;
	__device__ explicit Circle(float x) : r(x) {}
	__device__ float area() const override { return 3.0f * r * r; }
};

struct Triangle : Shape {
	float b, h;
	__device__ Triangle(float x, float y) : b(x), h(y) {}
	__device__ float area() const override { return 0.5f * b * h; }
	__device__ int sides() const override { return 3; }
};

__global__ void shapes(float *area, int *sides, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= n)
		return;
	Shape *s;
	switch (i % 3) {
	case 0:
		s = new Square((float)i);
		break;
	case 1:
		s = new Circle((float)i);
		break;
	default:
		s = new Triangle((float)i, 2.0f);
		break;
	}
	area[i] = s ? s->area() : -1.0f;
	sides[i] = s ? s->sides() : -1;
	delete s;
}

// Each thread asks for bytes of heap and fills them; got[i] says whether it
// got them (and they held what it wrote).
__global__ void take(int *got, size_t bytes)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	int *p = (int *)malloc(bytes);
	__syncthreads(); // every thread of the block holds its block now
	if (!p) {
		got[i] = 0;
		return;
	}
	for (size_t k = 0; k < bytes / sizeof(int); k++)
		p[k] = i;
	int ok = 1;
	for (size_t k = 0; k < bytes / sizeof(int); k++)
		ok &= p[k] == i;
	got[i] = ok ? 1 : 2;
	free(p);
}

__global__ void checked(int *out, int bad)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	assert(i != bad);
	out[i] = i;
}

int main()
{
	const int n = 300;
	float *area;
	int *sides, *got, *out;

	// Set before the first kernel that allocates; fixed from then on.
	OK(cudaDeviceSetLimit(cudaLimitMallocHeapSize, 1 << 20));
	size_t heap = 0;
	OK(cudaDeviceGetLimit(&heap, cudaLimitMallocHeapSize));
	EXPECT(heap == 1 << 20);

	OK(cudaMallocManaged(&area, n * sizeof(float)));
	OK(cudaMallocManaged(&sides, n * sizeof(int)));
	shapes<<<(n + 127) / 128, 128>>>(area, sides, n);
	OK(cudaDeviceSynchronize());
	for (int i = 0; i < n; i++) {
		float x = (float)i;
		float want = i % 3 == 0 ? x * x : i % 3 == 1 ? 3.0f * x * x : 0.5f * x * 2.0f;
		int want_sides = i % 3 == 0 ? 4 : i % 3 == 1 ? 0 : 3;
		if (area[i] != want || sides[i] != want_sides) {
			fprintf(stderr, "shape %d: area %g sides %d, want %g and %d\n", i, area[i],
				sides[i], want, want_sides);
			check_failures++;
			break;
		}
	}

	// 512 threads of one block, each holding 4 KiB until all have asked,
	// want 2 MiB of a 1 MiB heap: some get theirs, some get NULL, none
	// gets memory another holds.
	OK(cudaMallocManaged(&got, 512 * sizeof(int)));
	take<<<1, 512>>>(got, 4096);
	OK(cudaDeviceSynchronize());
	int yes = 0, no = 0, bad = 0;
	for (int i = 0; i < 512; i++)
		got[i] == 1 ? yes++ : got[i] == 0 ? no++ : bad++;
	printf("heap: %d allocations of 4 KiB, %d NULL\n", yes, no);
	EXPECT(yes > 0 && no > 0 && bad == 0);
	EXPECT(yes <= 256);
	EXPECT_ERR(cudaDeviceSetLimit(cudaLimitMallocHeapSize, 2 << 20), cudaErrorInvalidValue);
	// Everything taken was given back: the whole heap serves again.
	take<<<1, 64>>>(got, 4096);
	OK(cudaDeviceSynchronize());
	for (int i = 0; i < 64; i++)
		EXPECT(got[i] == 1);

	OK(cudaMalloc(&out, n * sizeof(int)));
	checked<<<(n + 127) / 128, 128>>>(out, 1000); // no thread fails
	OK(cudaDeviceSynchronize());
	checked<<<(n + 127) / 128, 128>>>(out, 137);
	EXPECT_ERR(cudaDeviceSynchronize(), cudaErrorAssert);
	EXPECT_ERR(cudaMemset(out, 0, 4), cudaErrorAssert);
	return check_done("devruntime");
}
