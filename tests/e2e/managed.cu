// Managed memory on a device without concurrent managed access: one
// pointer for host code and kernels. The host and the device update the
// same array in turn, and each sees the other's writes; a __managed__
// variable likewise; copies, sets, system calls and stream attachment on
// managed memory; the errors CUDA documents.
#include <cstdio>
#include <cstring>
#include <unistd.h>

#include "check.h"

__managed__ int counter[4];
__managed__ double scale = 2.5;

__global__ void bump(int *a, int n, int add)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		a[i] = a[i] * 2 + add;
	if (i < 4)
		atomicAdd(&counter[i], i + 1);
}

__global__ void scaled(const int *a, double *out, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		out[i] = a[i] * scale;
}

int main()
{
	const int n = 300000; // several chunks and pages
	int *a = nullptr, *b = nullptr, attr = -1;
	double *d = nullptr;
	cudaPointerAttributes pa;

	OK(cudaDeviceGetAttribute(&attr, cudaDevAttrManagedMemory, 0));
	EXPECT(attr == 1);
	OK(cudaDeviceGetAttribute(&attr, cudaDevAttrConcurrentManagedAccess, 0));
	EXPECT(attr == 0);
	EXPECT_ERR(cudaMallocManaged(&a, 0), cudaErrorInvalidValue);
	EXPECT_ERR(cudaMallocManaged(&a, 64, 7), cudaErrorInvalidValue);

	OK(cudaMallocManaged(&a, n * sizeof(int)));
	OK(cudaPointerGetAttributes(&pa, a));
	EXPECT(pa.type == cudaMemoryTypeManaged && pa.devicePointer == a && pa.hostPointer == a);
	for (int i = 0; i < n; i++)
		EXPECT(a[i] == 0 || (fprintf(stderr, "a[%d] = %d\n", i, a[i]), 0)); // starts zeroed
	for (int i = 0; i < n; i++)
		a[i] = i;
	counter[0] = 100;
	// Host, device, host, device: each round reads what the other wrote.
	for (int round = 0; round < 3; round++) {
		bump<<<(n + 255) / 256, 256>>>(a, n, round);
		OK(cudaDeviceSynchronize());
		int bad = 0;
		for (int i = 0; i < n; i++) {
			bad += a[i] != i * 2 + round;
			a[i] = i; // the next round starts from i again
		}
		EXPECT(bad == 0);
	}
	EXPECT(counter[0] == 103 && counter[1] == 6 && counter[3] == 12);

	// Only part of the array touched by the host: the rest keeps the
	// device's values.
	bump<<<(n + 255) / 256, 256>>>(a, n, 1);
	OK(cudaDeviceSynchronize());
	a[n / 2] = -5;
	bump<<<(n + 255) / 256, 256>>>(a, n, 0);
	OK(cudaDeviceSynchronize());
	EXPECT(a[n / 2] == -10);
	EXPECT(a[7] == (7 * 2 + 1) * 2 && a[n - 1] == ((n - 1) * 2 + 1) * 2);

	// A __managed__ double with an initializer, read by a kernel.
	EXPECT(scale == 2.5);
	scale = 0.5;
	OK(cudaMallocManaged(&d, 8 * sizeof(double)));
	for (int i = 0; i < 8; i++)
		a[i] = 10 * i;
	scaled<<<1, 8>>>(a, d, 8);
	OK(cudaDeviceSynchronize());
	EXPECT(d[3] == 15.0 && d[7] == 35.0);

	// Copies and sets on managed memory: the device's copy changes, and
	// the host sees it; what the host wrote is what a copy reads.
	int host[8], back[8] = {0};
	for (int i = 0; i < 8; i++)
		host[i] = 1000 + i;
	OK(cudaMemcpy(a, host, sizeof(host), cudaMemcpyHostToDevice));
	EXPECT(a[0] == 1000 && a[7] == 1007);
	a[2] = 42;
	OK(cudaMemcpy(back, a, sizeof(back), cudaMemcpyDeviceToHost));
	EXPECT(back[2] == 42 && back[3] == 1003);
	OK(cudaMemcpy(back, a, sizeof(back), cudaMemcpyDefault));
	EXPECT(back[2] == 42);
	OK(cudaMemset(a + 4, 0xff, 4 * sizeof(int)));
	EXPECT(a[3] == 1003 && a[4] == -1 && a[7] == -1);
	OK(cudaMallocManaged(&b, 16 * sizeof(int)));
	OK(cudaMemcpy(b, a, 8 * sizeof(int), cudaMemcpyDefault));
	EXPECT(b[2] == 42 && b[5] == -1);
	OK(cudaMemcpyToSymbol(counter, b + 2, sizeof(int)));
	EXPECT(counter[0] == 42);

	// System calls on managed memory: write(2) from it, read(2) into it.
	char path[] = "/tmp/vcuda-managed-XXXXXX";
	int fd = mkstemp(path);
	EXPECT(fd >= 0);
	bump<<<1, 32>>>(b, 16, 3); // b stale on the host again
	OK(cudaDeviceSynchronize());
	EXPECT(write(fd, b, 16 * sizeof(int)) == (ssize_t)(16 * sizeof(int)));
	EXPECT(lseek(fd, 0, SEEK_SET) == 0);
	bump<<<1, 32>>>(a, 16, 0);
	OK(cudaDeviceSynchronize());
	EXPECT(read(fd, a, 16 * sizeof(int)) == (ssize_t)(16 * sizeof(int)));
	EXPECT(a[2] == 42 * 2 + 3 && a[15] == 3);
	FILE *f = fdopen(fd, "r");
	rewind(f);
	bump<<<1, 32>>>(a, 16, 0);
	OK(cudaDeviceSynchronize());
	EXPECT(fread(a, sizeof(int), 16, f) == 16);
	fclose(f);
	unlink(path);
	bump<<<1, 32>>>(a, 16, 1); // what read(2) put there reaches the device
	OK(cudaDeviceSynchronize());
	EXPECT(a[2] == (42 * 2 + 3) * 2 + 1);

	// Memory attached to the host is not made stale by a kernel; memory
	// attached to one stream only by that stream's kernels.
	cudaStream_t s;
	OK(cudaStreamCreate(&s));
	EXPECT_ERR(cudaStreamAttachMemAsync(s, a + 1, 0, cudaMemAttachHost), cudaErrorInvalidValue);
	OK(cudaStreamAttachMemAsync(s, b, 0, cudaMemAttachSingle));
	OK(cudaStreamSynchronize(s));
	b[0] = 5;
	bump<<<1, 32, 0, s>>>(b, 16, 0);
	OK(cudaStreamSynchronize(s));
	EXPECT(b[0] == 10);
	OK(cudaStreamAttachMemAsync(s, b, 0, cudaMemAttachGlobal));
	OK(cudaStreamDestroy(s));

	// Prefetching and advice are accepted on managed ranges only.
	cudaMemLocation dev = {cudaMemLocationTypeDevice, 0}, cpu = {cudaMemLocationTypeHost, 0};
	OK(cudaMemPrefetchAsync(a, n * sizeof(int), dev, 0, 0));
	OK(cudaMemPrefetchAsync(a, n * sizeof(int), cpu, 0, 0));
	OK(cudaMemAdvise(a, 4096, cudaMemAdviseSetReadMostly, dev));
	OK(cudaMemAdvise(a, 4096, cudaMemAdviseSetPreferredLocation, dev));
	int rm = -1, pref = -9, last = -9;
	OK(cudaMemRangeGetAttribute(&rm, sizeof(rm), cudaMemRangeAttributeReadMostly, a, 4096));
	OK(cudaMemRangeGetAttribute(&pref, sizeof(pref), cudaMemRangeAttributePreferredLocation, a,
				    4096));
	OK(cudaMemRangeGetAttribute(&last, sizeof(last), cudaMemRangeAttributeLastPrefetchLocation,
				    a, 4096));
	EXPECT(rm == 1 && pref == 0 && last == cudaCpuDeviceId);
	EXPECT_ERR(cudaMemRangeGetAttribute(&rm, sizeof(rm), cudaMemRangeAttributeReadMostly, host,
					    4),
		   cudaErrorInvalidValue);
	EXPECT_ERR(cudaMemPrefetchAsync(host, sizeof(host), dev, 0, 0), cudaErrorInvalidValue);
	EXPECT_ERR(cudaMemPrefetchAsync(a, (n + 1) * sizeof(int), dev, 0, 0),
		   cudaErrorInvalidValue);

	OK(cudaFree(b));
	OK(cudaFree(d));
	OK(cudaFree(a));
	EXPECT_ERR(cudaFree(a), cudaErrorInvalidValue);
	return check_done("managed");
}
