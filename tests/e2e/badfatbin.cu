// A program whose registered fat binary's header claims far more bytes
// than its section holds (as a damaged or hostile binary might): its
// kernel's launch fails with a CUDA error, and nothing reads past the
// section (once the guest's I/O thread did, and crashed the program).
// vcuda's behaviour: run only through vcuda.
#include <cstdio>
#include <cstdint>

#include "check.h"

extern "C" void **__cudaRegisterFatBinary(void *fat_cubin);
extern "C" void __cudaRegisterFatBinaryEnd(void **handle);
extern "C" void __cudaRegisterFunction(void **handle, const char *host_fun, char *device_fun,
				       const char *device_name, int thread_limit, uint3 *tid,
				       uint3 *bid, dim3 *bdim, dim3 *gdim, int *wsize);

// A container header: magic, version 1, header size 16, then a body size
// of 60 MiB where the section has 48 bytes.
alignas(8) static const unsigned char container[64] = {
    0x50, 0xed, 0x55, 0xba, 1, 0, 16, 0, 0, 0, 0xc0, 0x03, 0, 0, 0, 0};
static const struct {
	unsigned magic, version;
	const void *data, *filename;
} wrapper = {0x466243b1u, 1, container, nullptr};

static void stub(void) {}

int main()
{
	void **h = __cudaRegisterFatBinary((void *)&wrapper);
	__cudaRegisterFunction(h, (const char *)stub, (char *)"bogus", "bogus", -1, nullptr,
			       nullptr, nullptr, nullptr, nullptr);
	__cudaRegisterFatBinaryEnd(h);
	cudaError_t e = cudaLaunchKernel((const void *)stub, dim3(1), dim3(1), nullptr, 0, 0);
	EXPECT(e == cudaErrorInvalidKernelImage);
	// The program goes on: its device still works.
	int *d;
	OK(cudaMalloc(&d, 16));
	OK(cudaFree(d));
	return check_done("badfatbin");
}
