// CUDA IPC between two processes of one client: the parent exports an
// allocation, a child process (this program again) opens the handle, runs
// a kernel on the memory and closes it; the parent sees what the child
// wrote. A forged handle, and a process opening its own handle, are
// refused as CUDA refuses them. (ipc.test runs the "hold" and "open"
// modes: another client's process is refused the memory.)
#include <cstdio>
#include <cstring>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

extern char **environ;

__global__ void fill(int *a, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		a[i] = i * 3;
}

__global__ void bump(int *a, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		a[i] += 1;
}

static const int n = 1 << 16;

static void from_hex(const char *hex, char *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sscanf(hex + 2 * i, "%2hhx", (unsigned char *)&out[i]);
}

static void to_hex(const char *in, size_t n, char *hex)
{
	for (size_t i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", (unsigned char)in[i]);
}

static int child(const char *hex, const char *ehex)
{
	cudaIpcMemHandle_t h;
	cudaIpcEventHandle_t eh;
	cudaEvent_t ev;
	int *p = nullptr, got[3];

	// The event the parent recorded after its kernel: once it is opened,
	// waiting on it finds the parent's work done.
	from_hex(ehex, eh.reserved, sizeof(eh.reserved));
	OK(cudaIpcOpenEventHandle(&ev, eh));
	OK(cudaStreamWaitEvent(0, ev, 0));
	OK(cudaEventSynchronize(ev));
	OK(cudaEventDestroy(ev));
	from_hex(hex, h.reserved, sizeof(h.reserved));
	OK(cudaIpcOpenMemHandle((void **)&p, h, cudaIpcMemLazyEnablePeerAccess));
	OK(cudaMemcpy(got, p + 5, sizeof(got), cudaMemcpyDeviceToHost));
	EXPECT(got[0] == 15 && got[2] == 21); // the parent's data
	if (got[0] != 15)
		fprintf(stderr, "child read %d %d %d\n", got[0], got[1], got[2]);
	bump<<<n / 256, 256>>>(p, n);
	OK(cudaDeviceSynchronize());
	EXPECT_ERR(cudaFree(p), cudaErrorInvalidValue); // not this process's to free
	OK(cudaIpcCloseMemHandle(p));
	EXPECT_ERR(cudaIpcCloseMemHandle(p), cudaErrorInvalidValue);
	// A forged handle: another process id names no session of this client.
	int32_t pid;
	memcpy(&pid, h.reserved + 8, sizeof(pid));
	pid ^= 0x4000;
	memcpy(h.reserved + 8, &pid, sizeof(pid));
	EXPECT(cudaIpcOpenMemHandle((void **)&p, h, 0) != cudaSuccess);
	return check_done("ipc child");
}

int main(int argc, char **argv)
{
	int *d, back[n];
	cudaIpcMemHandle_t h;
	char hex[2 * sizeof(h.reserved) + 1];

	if (argc == 4 && strcmp(argv[1], "child") == 0)
		return child(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "open") == 0) { /* ipc.test: what opening says */
		int *p = nullptr;
		cudaIpcEventHandle_t eh;
		cudaEvent_t ev;
		from_hex(argv[2], h.reserved, sizeof(h.reserved));
		printf("open: %s\n", cudaGetErrorName(cudaIpcOpenMemHandle((void **)&p, h, 0)));
		from_hex(argv[3], eh.reserved, sizeof(eh.reserved));
		printf("open event: %s\n", cudaGetErrorName(cudaIpcOpenEventHandle(&ev, eh)));
		return 0;
	}
	cudaEvent_t ev, plain;
	cudaIpcEventHandle_t eh;
	char ehex[2 * sizeof(eh.reserved) + 1];
	EXPECT_ERR(cudaEventCreateWithFlags(&ev, cudaEventInterprocess), cudaErrorInvalidValue);
	OK(cudaEventCreateWithFlags(&ev, cudaEventInterprocess | cudaEventDisableTiming));
	OK(cudaEventCreate(&plain));
	EXPECT_ERR(cudaIpcGetEventHandle(&eh, plain), cudaErrorInvalidResourceHandle);
	OK(cudaIpcGetEventHandle(&eh, ev));
	to_hex(eh.reserved, sizeof(eh.reserved), ehex);
	OK(cudaMalloc(&d, n * sizeof(int)));
	fill<<<n / 256, 256>>>(d, n);
	OK(cudaEventRecord(ev, 0)); // done when it returns: another process may wait on it
	OK(cudaIpcGetMemHandle(&h, d));
	EXPECT_ERR(cudaIpcGetMemHandle(&h, d + 1), cudaErrorInvalidValue); // not an allocation start
	// A process does not open its own handle.
	int *self = nullptr;
	EXPECT(cudaIpcOpenMemHandle((void **)&self, h, 0) != cudaSuccess);
	to_hex(h.reserved, sizeof(h.reserved), hex);
	if (argc == 3 && strcmp(argv[1], "hold") == 0) { /* ipc.test: export, and wait */
		printf("handle %s %s\n", hex, ehex);
		fflush(stdout);
		for (int i = 0; i < 600 && access(argv[2], F_OK) != 0; i++)
			usleep(100000);
		return 0;
	}
	char *args[] = {argv[0], (char *)"child", hex, ehex, nullptr};
	pid_t pid;
	int status = -1;
	EXPECT(posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, args, environ) == 0);
	EXPECT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	OK(cudaMemcpy(back, d, sizeof(back), cudaMemcpyDeviceToHost));
	int bad = 0;
	for (int i = 0; i < n; i++)
		bad += back[i] != i * 3 + 1;
	EXPECT(bad == 0);
	OK(cudaFree(d));
	return check_done("ipc");
}
