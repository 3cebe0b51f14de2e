// The other object of cdp_quicksort: a device function that launches a
// kernel, called from the first object's kernel.
__global__ void square(int *v, int n)
{
	int i = threadIdx.x;
	if (i < n)
		v[i] *= v[i];
}

__device__ void launch_square(int *v, int n)
{
	square<<<1, n>>>(v, n);
}
