/*
 * The CPU device's memory, contexts, streams and events, called as a
 * driver-API program calls them; the expected results are CUDA's documented
 * ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cuda.h>

static CUcontext ctx;

static int setup(void **state)
{
	CUdevice dev;

	setenv("VCUDA_CPU_MEMORY", "256M", 1);
	setenv("VCUDA_CPU_BASE", "7a0000000000", 1);
	if (cuInit(0) != CUDA_SUCCESS || cuDeviceGet(&dev, 0) != CUDA_SUCCESS)
		return -1;
	return cuCtxCreate(&ctx, NULL, 0, dev) == CUDA_SUCCESS ? 0 : -1;
}

static int teardown(void **state)
{
	return cuCtxDestroy(ctx) == CUDA_SUCCESS ? 0 : -1;
}

int vcuda_cpu_place_next(const uint64_t *addrs, int n);

/* Device addresses start where VCUDA_CPU_BASE says, and allocations can be
 * placed at chosen free addresses (a session restored where its guest
 * knows its memory), never over another allocation. */
static void test_placement(void **state)
{
	CUdeviceptr a, b, c, d;
	const uint64_t base = 0x7a0000000000ull;
	uint64_t at[2] = {base + (64u << 20), base + (64u << 20) + 4096};

	assert_int_equal(cuMemAlloc(&a, 4096), CUDA_SUCCESS);
	assert_true(a >= base && a < base + (256u << 20));
	assert_int_equal(vcuda_cpu_place_next(at, 2), 0);
	assert_int_equal(cuMemAlloc(&b, 4096), CUDA_SUCCESS);
	assert_int_equal(b, at[0]);
	assert_int_equal(cuMemAlloc(&c, 100), CUDA_SUCCESS);
	assert_int_equal(c, at[1]);
	/* taken, in the middle of an allocation, misaligned, outside */
	at[0] = a;
	assert_int_equal(vcuda_cpu_place_next(at, 1), 0);
	assert_int_equal(cuMemAlloc(&d, 16), CUDA_ERROR_OUT_OF_MEMORY);
	at[0] = b + 512;
	assert_int_equal(vcuda_cpu_place_next(at, 1), 0);
	assert_int_equal(cuMemAlloc(&d, 16), CUDA_ERROR_OUT_OF_MEMORY);
	at[0] = base + (100u << 20) + 8;
	assert_int_equal(vcuda_cpu_place_next(at, 1), 0);
	assert_int_equal(cuMemAlloc(&d, 16), CUDA_ERROR_OUT_OF_MEMORY);
	at[0] = base + (300u << 20);
	assert_int_equal(vcuda_cpu_place_next(at, 1), 0);
	assert_int_equal(cuMemAlloc(&d, 16), CUDA_ERROR_OUT_OF_MEMORY);
	/* the queue is used up: allocations go where they fit again, and a
	 * freed placed block returns to the free space whole */
	assert_int_equal(cuMemFree(b), CUDA_SUCCESS);
	at[0] = b;
	assert_int_equal(vcuda_cpu_place_next(at, 1), 0);
	assert_int_equal(cuMemAlloc(&d, 4096), CUDA_SUCCESS);
	assert_int_equal(d, b);
	assert_int_equal(vcuda_cpu_place_next(NULL, 5), -1);
	assert_int_equal(cuMemAlloc(&b, 8192), CUDA_SUCCESS);
	assert_true(b != d && b != c);
	assert_int_equal(cuMemFree(a), CUDA_SUCCESS);
	assert_int_equal(cuMemFree(b), CUDA_SUCCESS);
	assert_int_equal(cuMemFree(c), CUDA_SUCCESS);
	assert_int_equal(cuMemFree(d), CUDA_SUCCESS);
}

int vcuda_cpu_track_start(void);
int vcuda_cpu_track_take(uint64_t *bits, size_t words);
void vcuda_cpu_track_stop(uint64_t *bits, size_t words);
int vcuda_cpu_store(uint64_t *base, const uint8_t **store, uint64_t *size, uint64_t *grain);

/* The grains set in bits: their count; the first two into first[]. */
static int grains_set(const uint64_t *bits, size_t words, uint64_t first[2])
{
	int n = 0;

	for (uint64_t g = 0; g < words * 64; g++)
		if (bits[g / 64] >> (g % 64) & 1) {
			if (n < 2)
				first[n] = g;
			n++;
		}
	return n;
}

/* Pre-copy's write tracking: every write through the device's memory
 * (sets, copies) notes its grain once per round, and only that grain; a
 * freed allocation counts as written (it reads as zeros now); after
 * tracking stops, memory is writable everywhere again. */
static void test_write_tracking(void **state)
{
	uint64_t base, size, grain, bits[64], got[2];
	const uint8_t *store;
	CUdeviceptr a, b;
	uint8_t back[16];
	size_t words;

	assert_int_equal(vcuda_cpu_store(&base, &store, &size, &grain), 0);
	assert_int_equal(size, 256u << 20);
	assert_int_equal(grain, 64u << 10);
	words = (size / grain + 63) / 64;
	assert_true(words <= 64);
	assert_int_equal(cuMemAlloc(&a, 1u << 20), CUDA_SUCCESS);
	assert_int_equal(cuMemAlloc(&b, 1u << 20), CUDA_SUCCESS);
	assert_int_equal(vcuda_cpu_track_start(), 0);
	assert_int_equal(vcuda_cpu_track_start(), -1); /* once at a time */

	memset(bits, 0, sizeof(bits));
	assert_int_equal(vcuda_cpu_track_take(bits, words), 0);
	assert_int_equal(grains_set(bits, words, got), 0); /* nothing written yet */
	assert_int_equal(cuMemsetD8(a + 200000, 7, 1), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyHtoD(b + 5, "written", 7), CUDA_SUCCESS);
	assert_int_equal(vcuda_cpu_track_take(bits, words), 0);
	assert_int_equal(grains_set(bits, words, got), 2);
	assert_int_equal(got[0], (a + 200000 - base) / grain);
	assert_int_equal(got[1], (b + 5 - base) / grain);
	/* noted once: the next round starts empty, and notes the grain again */
	memset(bits, 0, sizeof(bits));
	assert_int_equal(vcuda_cpu_track_take(bits, words), 0);
	assert_int_equal(grains_set(bits, words, got), 0);
	assert_int_equal(cuMemsetD8(a + 200001, 8, 1), CUDA_SUCCESS);
	assert_int_equal(vcuda_cpu_track_take(bits, words), 0);
	assert_int_equal(grains_set(bits, words, got), 1);
	assert_int_equal(got[0], (a + 200001 - base) / grain);
	/* a freed allocation reads as zeros from now on: all its grains */
	memset(bits, 0, sizeof(bits));
	assert_int_equal(cuMemFree(b), CUDA_SUCCESS);
	vcuda_cpu_track_stop(bits, words);
	assert_int_equal(grains_set(bits, words, got),
			 (int)((b - base + (1u << 20) - 1) / grain - (b - base) / grain + 1));
	assert_int_equal(got[0], (b - base) / grain);
	/* tracking over, the grains still protected are written as ever */
	assert_int_equal(cuMemsetD8(a + 900000, 9, 16), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyDtoH(back, a + 900000, 16), CUDA_SUCCESS);
	for (int i = 0; i < 16; i++)
		assert_int_equal(back[i], 9);
	assert_int_equal(cuMemcpyDtoH(back, a + 200000, 2), CUDA_SUCCESS);
	assert_int_equal(back[0], 7);
	assert_int_equal(back[1], 8);
	assert_int_equal(vcuda_cpu_track_take(bits, words), -1);
	/* and the rest of the store made writable */
	vcuda_cpu_track_stop(NULL, 0);
	assert_int_equal(cuMemsetD8(a + 500000, 3, 1), CUDA_SUCCESS);
	assert_int_equal(cuMemFree(a), CUDA_SUCCESS);
}

static void test_alloc_free(void **state)
{
	CUdeviceptr a, b;
	size_t free0, free1, total;

	assert_int_equal(cuMemGetInfo(&free0, &total), CUDA_SUCCESS);
	assert_int_equal(total, 256u << 20);
	assert_int_equal(cuMemAlloc(&a, 1000), CUDA_SUCCESS);
	assert_int_equal(cuMemAlloc(&b, 1), CUDA_SUCCESS);
	assert_int_equal(a % 256, 0);
	assert_int_equal(b % 256, 0);
	assert_true(b >= a + 1000 || a >= b + 1);
	assert_int_equal(cuMemGetInfo(&free1, &total), CUDA_SUCCESS);
	assert_true(free1 < free0);
	assert_int_equal(cuMemFree(a), CUDA_SUCCESS);
	assert_int_equal(cuMemFree(a), CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(cuMemFree(b + 1), CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(cuMemFree(b), CUDA_SUCCESS);
	assert_int_equal(cuMemGetInfo(&free1, &total), CUDA_SUCCESS);
	assert_int_equal(free1, free0);
}

static void test_alloc_limits(void **state)
{
	CUdeviceptr a, big;

	assert_int_equal(cuMemAlloc(&a, 0), CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(cuMemAlloc(&a, (256u << 20) + 1), CUDA_ERROR_OUT_OF_MEMORY);
	/* The whole device, then nothing more; freed memory is reusable. */
	assert_int_equal(cuMemAlloc(&big, 256u << 20), CUDA_SUCCESS);
	assert_int_equal(cuMemAlloc(&a, 512), CUDA_ERROR_OUT_OF_MEMORY);
	assert_int_equal(cuMemFree(big), CUDA_SUCCESS);
	assert_int_equal(cuMemAlloc(&a, 512), CUDA_SUCCESS);
	assert_int_equal(cuMemFree(a), CUDA_SUCCESS);
}

/* A block freed between two free blocks joins both: the whole device is
 * one block again (the merge once read a neighbour the first removal had
 * moved, and lost the rest of the arena). */
static void test_free_between_free_blocks(void **state)
{
	CUdeviceptr p[5], big;

	for (int i = 0; i < 5; i++)
		assert_int_equal(cuMemAlloc(&p[i], 4096), CUDA_SUCCESS);
	/* Free blocks around p[1], and one more beyond (p[4] with the rest). */
	assert_int_equal(cuMemFree(p[0]), CUDA_SUCCESS);
	assert_int_equal(cuMemFree(p[2]), CUDA_SUCCESS);
	assert_int_equal(cuMemFree(p[4]), CUDA_SUCCESS);
	assert_int_equal(cuMemFree(p[1]), CUDA_SUCCESS);
	assert_int_equal(cuMemFree(p[3]), CUDA_SUCCESS);
	assert_int_equal(cuMemAlloc(&big, 256u << 20), CUDA_SUCCESS);
	assert_int_equal(cuMemFree(big), CUDA_SUCCESS);
}

static void test_device_pointer_not_host(void **state)
{
	CUdeviceptr a;
	unsigned int type = 0;
	CUdeviceptr base;
	size_t size;
	int h = 0;

	assert_int_equal(cuMemAlloc(&a, 4096), CUDA_SUCCESS);
	assert_int_equal(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, a + 100),
			 CUDA_SUCCESS);
	assert_int_equal(type, CU_MEMORYTYPE_DEVICE);
	assert_int_equal(cuMemGetAddressRange(&base, &size, a + 4000), CUDA_SUCCESS);
	assert_int_equal(base, a);
	assert_int_equal(size, 4096);
	/* A host address is not device memory. */
	assert_int_equal(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
					       (CUdeviceptr)(uintptr_t)&h),
			 CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(cuMemFree(a), CUDA_SUCCESS);
}

static void test_copies(void **state)
{
	enum { N = 1 << 16 };
	uint8_t *src = malloc(N), *dst = malloc(N);
	CUdeviceptr a, b;

	for (int i = 0; i < N; i++)
		src[i] = (uint8_t)(i * 13 + 7);
	assert_int_equal(cuMemAlloc(&a, N), CUDA_SUCCESS);
	assert_int_equal(cuMemAlloc(&b, N), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyHtoD(a, src, N), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyDtoD(b, a, N), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyDtoH(dst, b, N), CUDA_SUCCESS);
	assert_memory_equal(src, dst, N);
	/* Past the end of an allocation, or from host memory where the device
	 * side belongs: refused, nothing copied. */
	assert_int_equal(cuMemcpyHtoD(a + 1, src, N), CUDA_ERROR_INVALID_VALUE);
	/* b may follow a directly: a span may still not cross into it. */
	assert_int_equal(cuMemcpyDtoH(dst, a + N - 1, 2), CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(cuMemcpyHtoD((CUdeviceptr)(uintptr_t)dst, src, 16),
			 CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(cuMemcpyDtoH(dst, 0, 16), CUDA_ERROR_INVALID_VALUE);
	/* Unified addressing: cuMemcpy tells the kinds apart itself. */
	memset(dst, 0, N);
	assert_int_equal(cuMemcpy(b, (CUdeviceptr)(uintptr_t)src, N / 2), CUDA_SUCCESS);
	assert_int_equal(cuMemcpy((CUdeviceptr)(uintptr_t)dst, b, N / 2), CUDA_SUCCESS);
	assert_memory_equal(src, dst, N / 2);
	assert_int_equal(cuMemFree(a), CUDA_SUCCESS);
	assert_int_equal(cuMemFree(b), CUDA_SUCCESS);
	free(src);
	free(dst);
}

static void test_memset(void **state)
{
	CUdeviceptr a;
	uint8_t b[64];
	uint16_t s[32];
	uint32_t w[16];

	assert_int_equal(cuMemAlloc(&a, 64), CUDA_SUCCESS);
	assert_int_equal(cuMemsetD8(a, 0xab, 64), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyDtoH(b, a, 64), CUDA_SUCCESS);
	for (int i = 0; i < 64; i++)
		assert_int_equal(b[i], 0xab);
	assert_int_equal(cuMemsetD16(a, 0x1234, 32), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyDtoH(s, a, 64), CUDA_SUCCESS);
	for (int i = 0; i < 32; i++)
		assert_int_equal(s[i], 0x1234);
	assert_int_equal(cuMemsetD32(a, 0xdeadbeef, 16), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyDtoH(w, a, 64), CUDA_SUCCESS);
	for (int i = 0; i < 16; i++)
		assert_int_equal(w[i], 0xdeadbeef);
	assert_int_equal(cuMemsetD32(a + 2, 0, 1), CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(cuMemsetD16(a + 1, 0, 1), CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(cuMemsetD32(a, 0, 17), CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(cuMemFree(a), CUDA_SUCCESS);
}

static void test_host_memory(void **state)
{
	void *p;
	unsigned int flags = 99, type = 0;

	assert_int_equal(cuMemHostAlloc(&p, 10000, CU_MEMHOSTALLOC_PORTABLE), CUDA_SUCCESS);
	memset(p, 1, 10000);
	assert_int_equal(cuMemHostGetFlags(&flags, p), CUDA_SUCCESS);
	assert_int_equal(flags, CU_MEMHOSTALLOC_PORTABLE);
	assert_int_equal(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
					       (CUdeviceptr)(uintptr_t)p),
			 CUDA_SUCCESS);
	assert_int_equal(type, CU_MEMORYTYPE_HOST);
	assert_int_equal(cuMemFreeHost(p), CUDA_SUCCESS);
	assert_int_equal(cuMemFreeHost(p), CUDA_ERROR_INVALID_VALUE);
}

static void test_streams_events(void **state)
{
	CUstream s;
	CUevent a, b, nt;
	CUdeviceptr d;
	float ms = -1;
	char buf[4096];

	assert_int_equal(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING), CUDA_SUCCESS);
	assert_int_equal(cuEventCreate(&a, 0), CUDA_SUCCESS);
	assert_int_equal(cuEventCreate(&b, 0), CUDA_SUCCESS);
	assert_int_equal(cuEventCreate(&nt, CU_EVENT_DISABLE_TIMING), CUDA_SUCCESS);
	/* Never recorded: complete for queries, not usable for timing. */
	assert_int_equal(cuEventQuery(a), CUDA_SUCCESS);
	assert_int_equal(cuEventElapsedTime(&ms, a, b), CUDA_ERROR_INVALID_HANDLE);
	assert_int_equal(cuMemAlloc(&d, sizeof(buf)), CUDA_SUCCESS);
	assert_int_equal(cuEventRecord(a, s), CUDA_SUCCESS);
	assert_int_equal(cuMemcpyHtoDAsync(d, buf, sizeof(buf), s), CUDA_SUCCESS);
	assert_int_equal(cuEventRecord(b, s), CUDA_SUCCESS);
	assert_int_equal(cuEventRecord(nt, s), CUDA_SUCCESS);
	assert_int_equal(cuStreamWaitEvent(NULL, b, 0), CUDA_SUCCESS);
	assert_int_equal(cuStreamSynchronize(s), CUDA_SUCCESS);
	assert_int_equal(cuEventSynchronize(b), CUDA_SUCCESS);
	assert_int_equal(cuEventElapsedTime(&ms, a, b), CUDA_SUCCESS);
	assert_true(ms >= 0 && ms < 1000);
	assert_int_equal(cuEventElapsedTime(&ms, a, nt), CUDA_ERROR_INVALID_HANDLE);
	assert_int_equal(cuStreamQuery(s), CUDA_SUCCESS);
	assert_int_equal(cuStreamDestroy(s), CUDA_SUCCESS);
	assert_int_equal(cuStreamDestroy(s), CUDA_ERROR_INVALID_HANDLE);
	assert_int_equal(cuMemcpyHtoDAsync(d, buf, 16, s), CUDA_ERROR_INVALID_HANDLE);
	assert_int_equal(cuEventDestroy(a), CUDA_SUCCESS);
	assert_int_equal(cuEventDestroy(b), CUDA_SUCCESS);
	assert_int_equal(cuEventDestroy(nt), CUDA_SUCCESS);
	assert_int_equal(cuEventQuery(a), CUDA_ERROR_INVALID_HANDLE);
	assert_int_equal(cuMemFree(d), CUDA_SUCCESS);
}

static void test_context_frees_its_memory(void **state)
{
	CUcontext other, popped;
	CUdeviceptr d;
	size_t free0, free1, total;

	assert_int_equal(cuMemGetInfo(&free0, &total), CUDA_SUCCESS);
	assert_int_equal(cuCtxCreate(&other, NULL, 0, 0), CUDA_SUCCESS);
	assert_int_equal(cuMemAlloc(&d, 1 << 20), CUDA_SUCCESS);
	assert_int_equal(cuCtxDestroy(other), CUDA_SUCCESS);
	assert_int_equal(cuCtxGetCurrent(&popped), CUDA_SUCCESS);
	assert_ptr_equal(popped, ctx);
	assert_int_equal(cuMemGetInfo(&free1, &total), CUDA_SUCCESS);
	assert_int_equal(free1, free0);
	assert_int_equal(cuMemFree(d), CUDA_ERROR_INVALID_VALUE);
}

static void test_device_queries(void **state)
{
	int v, count;
	char name[64];

	assert_int_equal(cuDeviceGetCount(&count), CUDA_SUCCESS);
	assert_int_equal(count, 1);
	assert_int_equal(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 0), CUDA_SUCCESS);
	assert_int_equal(v, 32);
	assert_int_equal(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, 0),
			 CUDA_SUCCESS);
	assert_int_equal(v, 1024);
	/* Every attribute answers. */
	for (int a = 1; a < CU_DEVICE_ATTRIBUTE_MAX; a++)
		assert_int_equal(cuDeviceGetAttribute(&v, (CUdevice_attribute)a, 0), CUDA_SUCCESS);
	assert_int_equal(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_MAX, 0),
			 CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 1),
			 CUDA_ERROR_INVALID_DEVICE);
	assert_int_equal(cuDeviceGetName(name, sizeof(name), 0), CUDA_SUCCESS);
	assert_non_null(strstr(name, "vcuda CPU device"));
}

static void test_error_names(void **state)
{
	const char *s;

	assert_int_equal(cuGetErrorName(CUDA_ERROR_INVALID_VALUE, &s), CUDA_SUCCESS);
	assert_string_equal(s, "CUDA_ERROR_INVALID_VALUE");
	assert_int_equal(cuGetErrorString(CUDA_ERROR_OUT_OF_MEMORY, &s), CUDA_SUCCESS);
	assert_string_equal(s, "out of memory");
	assert_int_equal(cuGetErrorName((CUresult)12345, &s), CUDA_ERROR_INVALID_VALUE);
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_device_queries),
	    cmocka_unit_test(test_alloc_free),
	    cmocka_unit_test(test_placement),
	    cmocka_unit_test(test_write_tracking),
	    cmocka_unit_test(test_alloc_limits),
	    cmocka_unit_test(test_free_between_free_blocks),
	    cmocka_unit_test(test_device_pointer_not_host),
	    cmocka_unit_test(test_copies),
	    cmocka_unit_test(test_memset),
	    cmocka_unit_test(test_host_memory),
	    cmocka_unit_test(test_streams_events),
	    cmocka_unit_test(test_context_frees_its_memory),
	    cmocka_unit_test(test_error_names),
	};
	CUdeviceptr d;

	/* Before cuInit nothing works. */
	if (cuMemAlloc(&d, 16) != CUDA_ERROR_NOT_INITIALIZED)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
