// Device printf at volume and with hostile formats. 4096 threads print a
// line each (about 250 KiB, more than one protocol header holds): every line
// must reach the program's stdout. A format with %n must print literally:
// the host formats device printf, and %n would write where the kernel says.
#include <cstdio>
#include <cstdlib>

__global__ void chatter()
{
	unsigned id = blockIdx.x * blockDim.x + threadIdx.x;
	printf("chatty line %05u from block %03u thread %03u of the device\n", id, blockIdx.x,
	       threadIdx.x);
}

__global__ void hostile(int *where)
{
	printf("hostile %n format %d\n", where, 7);
}

int main()
{
	int *d;
	chatter<<<16, 256>>>();
	if (cudaDeviceSynchronize() != cudaSuccess)
		return 1;
	if (cudaMalloc(&d, sizeof(int)) != cudaSuccess)
		return 1;
	if (!getenv("NO_HOSTILE")) // NO_HOSTILE=1: leave the %n kernel out
		hostile<<<1, 1>>>(d);
	if (cudaDeviceSynchronize() != cudaSuccess)
		return 1;
	cudaFree(d);
	fflush(stdout);
	fprintf(stderr, "chatty: done\n");
	return 0;
}
