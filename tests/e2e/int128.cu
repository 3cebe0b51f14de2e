// 128-bit integer arithmetic in kernels (the carry chain: add.cc/addc,
// sub.cc/subc, mad.lo.cc/madc.hi; mul.hi and mul.wide), checked against the
// host's own unsigned __int128 on values chosen to carry and borrow.
#include "check.h"

typedef unsigned __int128 u128;

__host__ __device__ static u128 mix(u128 a, u128 b, u128 c)
{
	u128 r = a * b + c;        // wraps modulo 2^128
	r ^= (r >> 67) | (a << 61);
	r -= b * (c | 1);
	return r + (r < a ? 1 : 0);
}

__global__ void compute(const u128 *a, const u128 *b, const u128 *c, u128 *out, u128 *q, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= n)
		return;
	out[i] = mix(a[i], b[i], c[i]);
	u128 d = b[i] | 1;
	q[i] = a[i] / d + a[i] % d;
}

static u128 next(u128 *s)
{
	*s = *s * (((u128)0x2360ed051fc65da4ull << 64) | 0x4385df649fccf645ull) +
	     (((u128)0x5851f42d4c957f2dull << 64) | 0x14057b7ef767814full);
	return *s;
}

int main()
{
	const int n = 1000;
	u128 *a, *b, *c, *out, *q, s = 12345;

	OK(cudaMallocManaged(&a, n * sizeof(u128)));
	OK(cudaMallocManaged(&b, n * sizeof(u128)));
	OK(cudaMallocManaged(&c, n * sizeof(u128)));
	OK(cudaMallocManaged(&out, n * sizeof(u128)));
	OK(cudaMallocManaged(&q, n * sizeof(u128)));
	for (int i = 0; i < n; i++) {
		a[i] = next(&s);
		b[i] = next(&s) >> (i % 100);
		c[i] = i % 7 == 0 ? ~(u128)0 - (u128)i : next(&s); // carries out of every word
	}
	a[0] = ~(u128)0;
	b[0] = ~(u128)0;
	compute<<<(n + 255) / 256, 256>>>(a, b, c, out, q, n);
	OK(cudaDeviceSynchronize());
	for (int i = 0; i < n; i++) {
		u128 d = b[i] | 1;
		if (out[i] != mix(a[i], b[i], c[i]) || q[i] != a[i] / d + a[i] % d) {
			fprintf(stderr, "element %d differs\n", i);
			check_failures++;
			break;
		}
	}
	return check_done("int128");
}
