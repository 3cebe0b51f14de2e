// A kernel that never ends. "timeout": the server runs with
// --kernel-timeout, so synchronizing reports cudaErrorLaunchTimeout, which
// sticks as it does on a GPU. "spin": waits for ever (the test kills it and
// checks that the server stops the kernel).
#include <cstdio>
#include <cstring>

#include "check.h"

__global__ void spin(volatile int *flag)
{
	while (*flag == 0)
		;
}

int main(int argc, char **argv)
{
	int *flag;
	OK(cudaMalloc(&flag, sizeof(int)));
	OK(cudaMemset(flag, 0, sizeof(int)));
	spin<<<2, 64>>>(flag);
	if (argc > 1 && strcmp(argv[1], "spin") == 0) {
		printf("runaway: spinning\n");
		fflush(stdout);
		cudaDeviceSynchronize();
		return 1;
	}
	EXPECT_ERR(cudaDeviceSynchronize(), cudaErrorLaunchTimeout);
	EXPECT_ERR(cudaMemset(flag, 1, sizeof(int)), cudaErrorLaunchTimeout);
	return check_done("runaway");
}
