// The other module: a kernel named like twomod_a.cu's, in another namespace.
#include "check.h"

namespace b {
__global__ void fill(int *out)
{
	out[threadIdx.x] = 2000 - threadIdx.x;
}
} // namespace b
namespace a {
void launch(int *out);
}

int main()
{
	int *d, h[64];
	bool ok = true;

	OK(cudaMalloc(&d, sizeof(h)));
	a::launch(d);
	b::fill<<<1, 32>>>(d + 32);
	OK(cudaMemcpy(h, d, sizeof(h), cudaMemcpyDeviceToHost));
	for (int i = 0; i < 32; i++)
		ok &= h[i] == 1000 + i && h[32 + i] == 2000 - i;
	EXPECT(ok);
	return check_done("twomod");
}
