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

// A well-formed container whose one PTX entry is not PTX: it passes the
// checks of the guest and the server, and the device refuses to load it.
alignas(8) static const unsigned char notptx[16 + 64 + 32] = {
    // header: magic, version 1, header size 16, body 96 bytes
    0x50, 0xed, 0x55, 0xba, 1, 0, 16, 0, 96, 0, 0, 0, 0, 0, 0, 0,
    // entry: kind 1 (PTX), header 64 bytes, 32 bytes stored, PTX ISA 8.0, sm_80
    1, 0, 0, 0, 64, 0, 0, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0,
    80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    // the entry: text that no PTX parser takes
    't', 'h', 'i', 's', ' ', 'i', 's', ' ', 'n', 'o', 't', ' ', 'P', 'T', 'X', ' ', '@', '@',
    '@', ';', '\n', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
static const struct {
	unsigned magic, version;
	const void *data, *filename;
} notptx_wrapper = {0x466243b1u, 1, notptx, nullptr};

static void stub2(void) {}

int main()
{
	void **h = __cudaRegisterFatBinary((void *)&wrapper);
	__cudaRegisterFunction(h, (const char *)stub, (char *)"bogus", "bogus", -1, nullptr,
			       nullptr, nullptr, nullptr, nullptr);
	__cudaRegisterFatBinaryEnd(h);
	cudaError_t e = cudaLaunchKernel((const void *)stub, dim3(1), dim3(1), nullptr, 0, 0);
	EXPECT(e == cudaErrorInvalidKernelImage);
	// A module the device refuses: the first launch fails with the load's
	// error, and so do the later ones, at once (the module is not sent
	// again; programs.sh counts the loads on the server).
	h = __cudaRegisterFatBinary((void *)&notptx_wrapper);
	__cudaRegisterFunction(h, (const char *)stub2, (char *)"k", "k", -1, nullptr, nullptr,
			       nullptr, nullptr, nullptr);
	__cudaRegisterFatBinaryEnd(h);
	for (int i = 0; i < 3; i++) {
		e = cudaLaunchKernel((const void *)stub2, dim3(1), dim3(1), nullptr, 0, 0);
		EXPECT(e == cudaErrorInvalidPtx || e == cudaErrorInvalidKernelImage);
	}
	// The program goes on: its device still works.
	int *d;
	OK(cudaMalloc(&d, 16));
	OK(cudaFree(d));
	return check_done("badfatbin");
}
