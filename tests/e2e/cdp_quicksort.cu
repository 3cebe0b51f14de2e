// Dynamic parallelism, built with -rdc=true: a quicksort whose kernels
// launch kernels on the halves they split off (each into a stream created
// on the device), down to a depth past which a selection sort finishes;
// then a parent whose children go to the fire-and-forget stream and whose
// tail launch must see all of their work done; and a device function of
// another object (cdp_other.cu) that launches a kernel of its own, so
// that the objects' PTX must be linked. Last, a chain of kernels each
// launching the next until CUDA's nesting limit refuses one: each level
// reads its launch's error back with the device-side cudaPeekAtLastError
// and cudaGetLastError.
#include <cstdlib>

#include "check.h"

#define MAX_DEPTH 16
#define SELECTION 32

__device__ void selection_sort(unsigned *data, int left, int right)
{
	for (int i = left; i <= right; ++i) {
		unsigned min_val = data[i];
		int min_idx = i;
		for (int j = i + 1; j <= right; ++j)
			if (data[j] < min_val) {
				min_idx = j;
				min_val = data[j];
			}
		if (i != min_idx) {
			data[min_idx] = data[i];
			data[i] = min_val;
		}
	}
}

__global__ void quicksort(unsigned *data, int left, int right, int depth)
{
	if (depth >= MAX_DEPTH || right - left <= SELECTION) {
		selection_sort(data, left, right);
		return;
	}
	unsigned *lptr = data + left, *rptr = data + right;
	unsigned pivot = data[(left + right) / 2];
	while (lptr <= rptr) {
		unsigned lval = *lptr, rval = *rptr;
		while (lval < pivot)
			lval = *++lptr;
		while (rval > pivot)
			rval = *--rptr;
		if (lptr <= rptr) {
			*lptr++ = rval;
			*rptr-- = lval;
		}
	}
	int nright = (int)(rptr - data), nleft = (int)(lptr - data);
	if (left < nright) {
		cudaStream_t s;
		cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
		quicksort<<<1, 1, 0, s>>>(data, left, nright, depth + 1);
		cudaStreamDestroy(s);
	}
	if (nleft < right) {
		cudaStream_t s;
		cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
		quicksort<<<1, 1, 0, s>>>(data, nleft, right, depth + 1);
		cudaStreamDestroy(s);
	}
}

__global__ void fill(int *out, int base, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		out[base + i] = base + i;
}

__global__ void check_all(const int *out, int n, int *ok)
{
	int good = 1;
	for (int i = 0; i < n; i++)
		good &= out[i] == i;
	*ok = good;
}

__global__ void fan_out(int *out, int parts, int n, int *ok)
{
	int b = blockIdx.x;
	if (threadIdx.x == 0) {
		fill<<<(n + 63) / 64, 64, 0, cudaStreamFireAndForget>>>(out, b * n, n);
		if (b == 0) // runs after this grid and everything it launched
			check_all<<<1, 1, 0, cudaStreamTailLaunch>>>(out, parts * n, ok);
	}
}

// errs[d]: what level d's launch of level d + 1 left as the last error
// (peeked, then taken), and whether a second cudaGetLastError was clear.
__global__ void nest(int *errs, int depth)
{
	nest<<<1, 1>>>(errs, depth + 1);
	cudaError_t peek = cudaPeekAtLastError(), got = cudaGetLastError();
	errs[3 * depth] = peek;
	errs[3 * depth + 1] = got;
	errs[3 * depth + 2] = cudaGetLastError();
}

extern __device__ void launch_square(int *v, int n); // cdp_other.cu

__global__ void across_objects(int *v, int n)
{
	launch_square(v, n);
}

int main()
{
	const int n = 5000;
	unsigned *data;
	OK(cudaMallocManaged(&data, n * sizeof(unsigned)));
	srand(7);
	for (int i = 0; i < n; i++)
		data[i] = (unsigned)rand() % 100000;
	quicksort<<<1, 1>>>(data, 0, n - 1, 0);
	OK(cudaGetLastError());
	OK(cudaDeviceSynchronize());
	int sorted = 1;
	for (int i = 1; i < n; i++)
		sorted &= data[i - 1] <= data[i];
	printf("quicksort of %d: %s\n", n, sorted ? "sorted" : "NOT sorted");
	EXPECT(sorted);

	const int parts = 8, each = 300;
	int *out, *ok;
	OK(cudaMallocManaged(&out, parts * each * sizeof(int)));
	OK(cudaMallocManaged(&ok, sizeof(int)));
	OK(cudaMemset(out, 0xff, parts * each * sizeof(int)));
	*ok = -1;
	fan_out<<<parts, 32>>>(out, parts, each, ok);
	OK(cudaDeviceSynchronize());
	printf("tail launch saw the children's work: %d\n", *ok);
	EXPECT(*ok == 1);

	int *v;
	OK(cudaMallocManaged(&v, 64 * sizeof(int)));
	for (int i = 0; i < 64; i++)
		v[i] = i;
	across_objects<<<1, 1>>>(v, 64);
	OK(cudaDeviceSynchronize());
	int squares = 1;
	for (int i = 0; i < 64; i++)
		squares &= v[i] == i * i;
	printf("a kernel launched from another object's device function: %s\n",
	       squares ? "ran" : "did not run");
	EXPECT(squares);

	// Nesting: CUDA allows 24 levels; the launch that would go deeper
	// fails in the launching thread with cudaErrorLaunchMaxDepthExceeded.
	const int levels = 32;
	int *errs;
	OK(cudaMallocManaged(&errs, 3 * levels * sizeof(int)));
	for (int i = 0; i < 3 * levels; i++)
		errs[i] = -1;
	nest<<<1, 1>>>(errs, 0);
	OK(cudaDeviceSynchronize());
	int deepest = -1, clean = 1;
	for (int d = 0; d < levels && errs[3 * d] != -1; d++) {
		deepest = d;
		clean &= errs[3 * d + 2] == cudaSuccess && errs[3 * d] == errs[3 * d + 1];
		if (errs[3 * d] != cudaSuccess)
			break;
	}
	printf("nesting: level %d's launch left error %d (peeked %d), then %d\n", deepest,
	       deepest >= 0 ? errs[3 * deepest + 1] : -1, deepest >= 0 ? errs[3 * deepest] : -1,
	       deepest >= 0 ? errs[3 * deepest + 2] : -1);
	EXPECT(deepest > 0 && deepest < levels - 1);
	EXPECT(errs[3 * deepest + 1] == cudaErrorLaunchMaxDepthExceeded);
	EXPECT(clean);
	return check_done("cdp_quicksort");
}
