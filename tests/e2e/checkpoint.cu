// A program whose session is checkpointed and whose server is replaced
// while it waits (checkpoint.test). Phase one leaves state on the device:
// memory, a stream, an event, and a module variable a kernel counts in.
// Then it waits for the file GO to exist, and phase two runs on that state
// (on whatever server serves the session by then) and checks every result
// against the host. With a second file AFTER, it first waits for AFTER and
// makes one more call, which a checkpoint taken before it does not hold.
#include <unistd.h>

#include "check.h"

__device__ int launches;

__global__ void step(float *x, int n, float k)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		x[i] = x[i] * k + 1.0f;
	if (i == 0)
		atomicAdd(&launches, 1);
}

static void wait_file(const char *path)
{
	while (access(path, F_OK) != 0)
		usleep(10000);
}

int main(int argc, char **argv)
{
	const int n = 1 << 16;
	float *h = new float[n], *back = new float[n], *d;
	cudaStream_t s;
	cudaEvent_t e;
	int count = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: checkpoint GO [AFTER]\n");
		return 2;
	}
	for (int i = 0; i < n; i++)
		h[i] = (float)(i % 1000) * 0.25f;
	OK(cudaMalloc(&d, n * sizeof(float)));
	OK(cudaMemcpy(d, h, n * sizeof(float), cudaMemcpyHostToDevice));
	OK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	OK(cudaEventCreate(&e));
	step<<<(n + 255) / 256, 256, 0, s>>>(d, n, 2.0f);
	OK(cudaEventRecord(e, s));
	OK(cudaEventSynchronize(e));
	printf("phase one done\n");
	fflush(stdout);
	if (argc > 2) {
		wait_file(argv[2]);
		OK(cudaMemset(d, 0, n * sizeof(float)));
		OK(cudaDeviceSynchronize());
		printf("one more call done\n");
		fflush(stdout);
	}
	wait_file(argv[1]);
	step<<<(n + 255) / 256, 256, 0, s>>>(d, n, 3.0f);
	OK(cudaStreamSynchronize(s));
	OK(cudaMemcpy(back, d, n * sizeof(float), cudaMemcpyDeviceToHost));
	OK(cudaMemcpyFromSymbol(&count, launches, sizeof(count)));
	int bad = 0;
	for (int i = 0; i < n; i++)
		bad += back[i] != (h[i] * 2.0f + 1.0f) * 3.0f + 1.0f;
	printf("phase two: %d of %d values wrong, %d launches counted\n", bad, n, count);
	EXPECT(bad == 0);
	EXPECT(count == 2);
	OK(cudaEventDestroy(e));
	OK(cudaStreamDestroy(s));
	OK(cudaFree(d));
	delete[] h;
	delete[] back;
	return check_done("checkpoint");
}
