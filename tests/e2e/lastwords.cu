// A kernel prints and the program returns without synchronizing: the output
// still reaches its stdout, as when CUDA tears its context down at exit.
#include <cstdio>

__global__ void speak(int n)
{
	if (threadIdx.x < n)
		printf("last words %d\n", threadIdx.x);
}

int main()
{
	speak<<<1, 32>>>(3);
	return 0;
}
