// One of two modules (twomod_b.cu is the other) with a kernel of the same name.
namespace a {
__global__ void fill(int *out)
{
	out[threadIdx.x] = 1000 + threadIdx.x;
}
void launch(int *out)
{
	fill<<<1, 32>>>(out);
}
} // namespace a
