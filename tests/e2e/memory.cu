// Memory through the shim: every cudaMemcpy kind, memset, pinned memory,
// pointer attributes, a 256 MiB round trip checked byte for byte, and the
// errors CUDA gives for bad pointers, sizes and kinds.
#include <cstdint>
#include <cstring>
#include <vector>
#include "check.h"

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13; x ^= x >> 17; x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

static void every_kind()
{
	const size_t n = 3 * 1024 * 1024 + 123; // spans several chunks, odd size
	std::vector<uint8_t> a(n), b(n), c(n);
	uint8_t *d1, *d2;

	fill(a.data(), n, 1);
	OK(cudaMalloc(&d1, n));
	OK(cudaMalloc(&d2, n));
	OK(cudaMemcpy(d1, a.data(), n, cudaMemcpyHostToDevice));
	OK(cudaMemcpy(d2, d1, n, cudaMemcpyDeviceToDevice));
	OK(cudaMemcpy(b.data(), d2, n, cudaMemcpyDeviceToHost));
	EXPECT(memcmp(a.data(), b.data(), n) == 0);
	OK(cudaMemcpy(c.data(), b.data(), n, cudaMemcpyHostToHost));
	EXPECT(memcmp(a.data(), c.data(), n) == 0);
	// cudaMemcpyDefault works out the direction from the pointers.
	fill(a.data(), n, 2);
	OK(cudaMemcpy(d1 + 5, a.data(), n - 5, cudaMemcpyDefault));
	OK(cudaMemcpy(d2, d1, n, cudaMemcpyDefault));
	memset(b.data(), 0, n);
	OK(cudaMemcpy(b.data(), d2 + 5, n - 5, cudaMemcpyDefault));
	EXPECT(memcmp(a.data(), b.data(), n - 5) == 0);
	// Offsets inside an allocation.
	OK(cudaMemcpy(b.data(), d1 + 1000, 10, cudaMemcpyDeviceToHost));
	EXPECT(memcmp(b.data(), a.data() + 995, 10) == 0);
	// Memset, then read back.
	OK(cudaMemset(d1, 0x5a, n));
	OK(cudaMemset(d1 + 100, 0x01, 50));
	OK(cudaMemcpy(b.data(), d1, n, cudaMemcpyDeviceToHost));
	bool ok = true;
	for (size_t i = 0; i < n; i++)
		ok &= b[i] == ((i >= 100 && i < 150) ? 0x01 : 0x5a);
	EXPECT(ok);
	OK(cudaFree(d1));
	OK(cudaFree(d2));
}

static void pinned_and_attributes()
{
	const size_t n = 1 << 20;
	uint8_t *h, *d;
	unsigned int flags = 0;
	cudaPointerAttributes at;
	int stack_var = 0;

	OK(cudaMallocHost(&h, n));
	OK(cudaHostGetFlags(&flags, h));
	fill(h, n, 3);
	OK(cudaMalloc(&d, n));
	OK(cudaMemcpy(d, h, n, cudaMemcpyHostToDevice));
	OK(cudaPointerGetAttributes(&at, d + 10));
	EXPECT(at.type == cudaMemoryTypeDevice);
	EXPECT(at.device == 0);
	EXPECT(at.devicePointer == d + 10);
	OK(cudaPointerGetAttributes(&at, h));
	EXPECT(at.type == cudaMemoryTypeHost);
	OK(cudaPointerGetAttributes(&at, &stack_var));
	EXPECT(at.type == cudaMemoryTypeUnregistered);
	std::vector<uint8_t> back(n);
	OK(cudaMemcpy(back.data(), d, n, cudaMemcpyDeviceToHost));
	EXPECT(memcmp(back.data(), h, n) == 0);
	OK(cudaFreeHost(h));
	OK(cudaHostAlloc(&h, 4096, cudaHostAllocPortable));
	OK(cudaFreeHost(h));
	OK(cudaFree(d));
}

static void big_round_trip()
{
	const size_t n = 256u << 20;
	uint8_t *a = (uint8_t *)malloc(n), *b = (uint8_t *)malloc(n), *d;

	fill(a, n, 4);
	memset(b, 0, n);
	OK(cudaMalloc(&d, n));
	OK(cudaMemcpy(d, a, n, cudaMemcpyHostToDevice));
	OK(cudaMemcpy(b, d, n, cudaMemcpyDeviceToHost));
	EXPECT(memcmp(a, b, n) == 0);
	OK(cudaFree(d));
	free(a);
	free(b);
}

static void error_cases()
{
	uint8_t *d, host[64];
	size_t free_b, total;
	void *p = (void *)0x1;

	// Freeing a pointer that was never allocated.
	EXPECT_ERR(cudaFree((void *)0x12345678), cudaErrorInvalidValue);
	EXPECT_ERR(cudaGetLastError(), cudaErrorInvalidValue);
	EXPECT_ERR(cudaFree(host), cudaErrorInvalidValue);
	OK(cudaFree(nullptr));
	// An allocation larger than the device.
	OK(cudaMemGetInfo(&free_b, &total));
	EXPECT_ERR(cudaMalloc(&p, total + (1u << 20)), cudaErrorMemoryAllocation);
	EXPECT_ERR(cudaGetLastError(), cudaErrorMemoryAllocation);
	// Not a sticky error: the next call works.
	OK(cudaMalloc(&d, 64));
	// A copy with an invalid kind.
	EXPECT_ERR(cudaMemcpy(d, host, 64, (cudaMemcpyKind)7), cudaErrorInvalidMemcpyDirection);
	// Copies outside the allocation, or with the wrong kind for the pointers.
	EXPECT_ERR(cudaMemcpy(d + 1, host, 64, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
	EXPECT_ERR(cudaMemcpy(host, d, 65, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
	EXPECT_ERR(cudaMemcpy(host, host + 1, 8, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
	EXPECT_ERR(cudaMemset(d, 0, 65), cudaErrorInvalidValue);
	EXPECT_ERR(cudaFreeHost(host), cudaErrorInvalidValue);
	// Zero-byte operations succeed and do nothing.
	OK(cudaMemcpy(d, host, 0, cudaMemcpyHostToDevice));
	OK(cudaMemset(d, 0, 0));
	OK(cudaFree(d));
	EXPECT_ERR(cudaFree(d), cudaErrorInvalidValue);
	cudaGetLastError();
}

int main()
{
	OK(cudaSetDevice(0));
	every_kind();
	pinned_and_attributes();
	big_round_trip();
	error_cases();
	return check_done("memory");
}
