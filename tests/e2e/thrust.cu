// Thrust, as real programs use it: sort, reduce, transform and scan on
// device vectors. Thrust's kernels come from CUB: modules with many
// kernels, each with its own static shared memory, PTX such as bmsk and
// nanosleep, and tuning chosen from the kernels' PTX version; all checked
// against the same computation on the host.
#include <cstdio>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>
#include <thrust/reduce.h>
#include <thrust/scan.h>
#include <thrust/sort.h>
#include <thrust/transform.h>

struct square_mod {
	__host__ __device__ int operator()(int x) const { return (x % 1000) * (x % 1000) % 1000; }
};

int main()
{
	const int n = 1 << 16;
	thrust::host_vector<int> h(n);
	for (int i = 0; i < n; i++)
		h[i] = (i * 7919) % 100003;
	thrust::device_vector<int> d = h;
	thrust::sort(d.begin(), d.end());
	thrust::host_vector<int> s = d;
	int sorted = 1;
	for (int i = 1; i < n; i++)
		sorted &= s[i - 1] <= s[i];
	long long sum = thrust::reduce(d.begin(), d.end(), 0LL), want = 0;
	for (int i = 0; i < n; i++)
		want += h[i];
	thrust::device_vector<int> t(n);
	thrust::transform(d.begin(), d.end(), t.begin(), square_mod());
	thrust::inclusive_scan(t.begin(), t.end(), t.begin());
	long long last = t[n - 1], want_last = 0;
	for (int i = 0; i < n; i++)
		want_last += square_mod()(s[i]);
	printf("sorted %d, sum %lld (host %lld), scan %lld (host %lld)\n", sorted, sum, want, last,
	       want_last);
	int ok = sorted && sum == want && last == want_last;
	printf("thrust: %s\n", ok ? "PASS" : "FAIL");
	return ok ? 0 : 1;
}
