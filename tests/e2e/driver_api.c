/* A driver-API program run directly on the CPU device (LD_LIBRARY_PATH to
   its libcuda.so.1, no server): device query, contexts, memory, streams and
   events, with CUDA's documented results. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cuda.h>

static int failures;

#define EXPECT_CU(call, want)                                                                      \
	do {                                                                                       \
		CUresult got_ = (call);                                                            \
		if (got_ != (want)) {                                                              \
			const char *name_ = "?";                                                   \
			cuGetErrorName(got_, &name_);                                              \
			fprintf(stderr, "%s:%d: %s returned %s\n", __FILE__, __LINE__, #call,      \
				name_);                                                            \
			failures++;                                                                \
		}                                                                                  \
	} while (0)
#define OK(call) EXPECT_CU(call, CUDA_SUCCESS)

/* The compute capability the device reports (EXPECT_CC, as 86, when the
 * test chose one), and PTX for a newer one refused as a GPU refuses it. */
static void check_compute_capability(CUdevice dev)
{
	static const char ptx[] = ".version 8.0\n.target sm_90\n.address_size 64\n"
				  ".visible .entry k() { ret; }\n";
	const char *want = getenv("EXPECT_CC");
	int major = 0, minor = 0, cluster = -1, cc;
	CUmodule mod;

	OK(cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev));
	OK(cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev));
	OK(cuDeviceGetAttribute(&cluster, CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH, dev));
	cc = major * 10 + minor;
	printf("compute capability %d.%d, clusters %d\n", major, minor, cluster);
	if (want && cc != atoi(want)) {
		fprintf(stderr, "compute capability %d, want %s\n", cc, want);
		failures++;
	}
	if (cluster != (cc >= 90))
		failures++;
	EXPECT_CU(cuModuleLoadData(&mod, ptx), cc >= 90 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_PTX);
	if (cc >= 90)
		OK(cuModuleUnload(mod));
}

/* cuLink*: a kernel in one PTX module calls a function another defines;
 * linked at run time, loaded, launched. Machine code is refused. */
static void check_link(void)
{
	static const char user[] =
	    ".version 8.0\n.target sm_80\n.address_size 64\n"
	    ".extern .func (.param .b32 r) twice(.param .b32 x);\n"
	    ".visible .entry k(.param .u64 out)\n{\n.reg .b32 %r<4>;\n.reg .b64 %rd<4>;\n"
	    "ld.param.u64 %rd1, [out];\nmov.u32 %r1, %tid.x;\n"
	    "{\n.param .b32 p0;\nst.param.b32 [p0], %r1;\n.param .b32 r0;\n"
	    "call.uni (r0), twice, (p0);\nld.param.b32 %r2, [r0];\n}\n"
	    "mul.wide.u32 %rd2, %r1, 4;\nadd.s64 %rd3, %rd1, %rd2;\nst.global.u32 [%rd3], %r2;\n"
	    "ret;\n}\n";
	static const char lib[] =
	    ".version 8.0\n.target sm_80\n.address_size 64\n"
	    ".visible .func (.param .b32 r) twice(.param .b32 x)\n{\n"
	    ".reg .b32 %r<3>;\nld.param.b32 %r1, [x];\nadd.s32 %r2, %r1, %r1;\n"
	    "st.param.b32 [r], %r2;\nret;\n}\n";
	char log[256] = "";
	CUjit_option opts[2] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
	void *vals[2] = {log, (void *)(uintptr_t)sizeof(log)};
	CUlinkState st;
	CUmodule mod;
	CUfunction k;
	CUdeviceptr d;
	void *image;
	size_t size;
	unsigned out[32];
	static const unsigned char elf[] = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0};

	OK(cuLinkCreate(2, opts, vals, &st));
	OK(cuLinkAddData(st, CU_JIT_INPUT_PTX, (void *)user, sizeof(user), "user", 0, NULL, NULL));
	OK(cuLinkAddData(st, CU_JIT_INPUT_PTX, (void *)lib, sizeof(lib), "lib", 0, NULL, NULL));
	EXPECT_CU(
	    cuLinkAddData(st, CU_JIT_INPUT_CUBIN, (void *)elf, sizeof(elf), "sass", 0, NULL, NULL),
	    CUDA_ERROR_NO_BINARY_FOR_GPU);
	if (!strstr(log, "PTX only"))
		failures++;
	OK(cuLinkComplete(st, &image, &size));
	OK(cuModuleLoadData(&mod, image));
	OK(cuLinkDestroy(st));
	OK(cuModuleGetFunction(&k, mod, "k"));
	OK(cuMemAlloc(&d, sizeof(out)));
	void *args[] = {&d};
	OK(cuLaunchKernel(k, 1, 1, 1, 32, 1, 1, 0, NULL, args, NULL));
	OK(cuMemcpyDtoH(out, d, sizeof(out)));
	for (unsigned i = 0; i < 32; i++)
		if (out[i] != 2 * i)
			failures++;
	printf("cuLink: %s\n", out[5] == 10 ? "linked and ran" : "wrong");
	OK(cuMemFree(d));
	OK(cuModuleUnload(mod));
}

int main(void)
{
	CUdevice dev;
	CUcontext ctx;
	CUdeviceptr d;
	CUstream s;
	CUevent a, b;
	int count = 0, v = 0;
	char name[128];
	unsigned int h[1024], back[1024];
	float ms;

	EXPECT_CU(cuDeviceGetCount(&count), CUDA_ERROR_NOT_INITIALIZED);
	OK(cuInit(0));
	OK(cuDeviceGetCount(&count));
	OK(cuDeviceGet(&dev, 0));
	EXPECT_CU(cuDeviceGet(&dev, count), CUDA_ERROR_INVALID_DEVICE);
	OK(cuDeviceGetName(name, sizeof(name), dev));
	OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_WARP_SIZE, dev));
	printf("%d device(s): %s, warp size %d\n", count, name, v);
	OK(cuCtxCreate(&ctx, NULL, 0, dev));
	for (int i = 0; i < 1024; i++)
		h[i] = i * 2654435761u;
	OK(cuMemAlloc(&d, sizeof(h)));
	OK(cuMemcpyHtoD(d, h, sizeof(h)));
	OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
	OK(cuEventCreate(&a, 0));
	OK(cuEventCreate(&b, 0));
	OK(cuEventRecord(a, s));
	OK(cuMemsetD32Async(d, 7, 16, s));
	OK(cuMemcpyDtoHAsync(back, d, sizeof(back), s));
	OK(cuEventRecord(b, s));
	OK(cuStreamSynchronize(s));
	OK(cuEventElapsedTime(&ms, a, b));
	for (int i = 0; i < 1024; i++)
		if (back[i] != (i < 16 ? 7u : h[i]))
			failures++;
	EXPECT_CU(cuMemcpyDtoH(back, d + 8, sizeof(back)), CUDA_ERROR_INVALID_VALUE);
	EXPECT_CU(cuMemFree(d + 4), CUDA_ERROR_INVALID_VALUE);
	OK(cuMemFree(d));
	OK(cuEventDestroy(a));
	OK(cuEventDestroy(b));
	OK(cuStreamDestroy(s));
	check_compute_capability(dev);
	check_link();
	OK(cuCtxDestroy(ctx));
	printf("driver_api: %s\n", failures ? "FAIL" : "PASS");
	return failures ? 1 : 0;
}
