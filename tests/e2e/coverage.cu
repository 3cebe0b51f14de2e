// The coverage table (vcuda-run --list-calls, given as argv[1]) against what
// the runtime does: every function the table calls unsupported answers
// cudaErrorNotSupported, and a sample of the supported ones, called with
// real arguments, do what CUDA documents.
#include <dlfcn.h>
#include <cstring>
#include <map>
#include <string>

#include "check.h"

__global__ void coverage_kernel(int *p) { p[threadIdx.x] = threadIdx.x; }

static std::map<std::string, std::string> table;

static void read_table(const char *path)
{
	FILE *f = fopen(path, "r");
	char name[256], status[32];

	if (!f) {
		perror(path);
		exit(2);
	}
	while (fscanf(f, "%255s %31s%*[^\n]", name, status) == 2)
		table[name] = status;
	fclose(f);
}

// A function of the sample: the table must not call it unsupported.
#define SUPPORTED(fn) EXPECT(table.count(#fn) && table[#fn] != "unsupported")

static void unsupported_ones(void)
{
	int n = 0;

	for (auto &row : table) {
		if (row.second != "unsupported")
			continue;
		void *sym = dlsym(RTLD_DEFAULT, row.first.c_str());
		EXPECT(sym != NULL);
		if (!sym)
			continue;
		// Every unsupported entry point takes no arguments it reads.
		cudaError_t e = ((cudaError_t(*)(void))sym)();
		if (e != cudaErrorNotSupported)
			fprintf(stderr, "%s returned %s\n", row.first.c_str(), cudaGetErrorName(e));
		EXPECT(e == cudaErrorNotSupported);
		EXPECT_ERR(cudaGetLastError(), cudaErrorNotSupported);
		n++;
	}
	EXPECT(n > 0);
	printf("%d unsupported functions answer cudaErrorNotSupported\n", n);
}

static void streams_and_events(void)
{
	int least = 0, greatest = 0, prio = 1;
	unsigned int flags = 99;
	cudaStream_t s;
	cudaEvent_t a, b;
	float ms = -1;

	SUPPORTED(cudaDeviceGetStreamPriorityRange);
	SUPPORTED(cudaStreamCreateWithPriority);
	SUPPORTED(cudaStreamGetPriority);
	SUPPORTED(cudaStreamGetFlags);
	SUPPORTED(cudaEventRecord);
	SUPPORTED(cudaStreamWaitEvent);
	SUPPORTED(cudaEventElapsedTime);
	SUPPORTED(cudaStreamQuery);
	SUPPORTED(cudaEventQuery);
	OK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
	OK(cudaStreamCreateWithPriority(&s, cudaStreamNonBlocking, greatest));
	OK(cudaStreamGetPriority(s, &prio));
	EXPECT(prio == greatest);
	OK(cudaStreamGetFlags(s, &flags));
	EXPECT(flags == cudaStreamNonBlocking);
	int dev = -1;
	SUPPORTED(cudaStreamGetDevice);
	OK(cudaStreamGetDevice(s, &dev));
	EXPECT(dev == 0);
	dev = -1;
	OK(cudaStreamGetDevice(0, &dev));
	EXPECT(dev == 0);
	EXPECT_ERR(cudaStreamGetPriority(s, NULL), cudaErrorInvalidValue);
	EXPECT_ERR(cudaGetLastError(), cudaErrorInvalidValue);
	OK(cudaEventCreate(&a));
	OK(cudaEventCreate(&b));
	OK(cudaEventRecord(a, s));
	OK(cudaStreamWaitEvent(0, a, 0));
	OK(cudaEventRecord(b, s));
	OK(cudaEventSynchronize(b));
	OK(cudaEventElapsedTime(&ms, a, b));
	EXPECT(ms >= 0);
	OK(cudaStreamQuery(s));
	OK(cudaEventQuery(b));
	OK(cudaEventDestroy(a));
	OK(cudaEventDestroy(b));
	OK(cudaStreamDestroy(s));
}

static void limits(void)
{
	size_t v = 0;

	SUPPORTED(cudaDeviceSetLimit);
	SUPPORTED(cudaDeviceGetLimit);
	OK(cudaDeviceSetLimit(cudaLimitStackSize, 4096));
	OK(cudaDeviceGetLimit(&v, cudaLimitStackSize));
	EXPECT(v >= 4096);
	OK(cudaDeviceGetLimit(&v, cudaLimitPrintfFifoSize));
	EXPECT(v > 0);
	EXPECT_ERR(cudaDeviceGetLimit(NULL, cudaLimitStackSize), cudaErrorInvalidValue);
	cudaGetLastError();
}

static void functions(void)
{
	int *d = NULL, h[32];

	SUPPORTED(cudaFuncSetAttribute);
	SUPPORTED(cudaMalloc);
	SUPPORTED(cudaLaunchKernel);
	size_t smem = 0;
	int max_smem = 0;

	SUPPORTED(cudaOccupancyAvailableDynamicSMemPerBlock);
	OK(cudaDeviceGetAttribute(&max_smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0));
	OK(cudaOccupancyAvailableDynamicSMemPerBlock(&smem, coverage_kernel, 1, 32));
	EXPECT(smem > 0 && smem <= (size_t)max_smem);
	EXPECT_ERR(cudaOccupancyAvailableDynamicSMemPerBlock(&smem, (const void *)&smem, 1, 32),
		   cudaErrorInvalidDeviceFunction);
	cudaGetLastError();
	OK(cudaFuncSetAttribute(coverage_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
				1024));
	OK(cudaMalloc(&d, sizeof(h)));
	coverage_kernel<<<1, 32, 1024>>>(d);
	OK(cudaGetLastError());
	OK(cudaMemcpy(h, d, sizeof(h), cudaMemcpyDeviceToHost));
	EXPECT(h[31] == 31);
	OK(cudaFree(d));
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: coverage TABLE (from vcuda-run --list-calls)\n");
		return 2;
	}
	read_table(argv[1]);
	EXPECT(table.size() > 400);
	OK(cudaFree(0));
	streams_and_events();
	limits();
	functions();
	unsupported_ones();
	return check_done("coverage");
}
