// boxFilter: a 3x3 mean filter over an image kept in pitched device memory
// (cudaMallocPitch, cudaMemcpy2D both ways), checked on the host.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <cuda_runtime.h>

__global__ void box3(const unsigned char *in, size_t in_pitch, float *out, size_t out_pitch,
		     int w, int h)
{
	int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
	if (x >= w || y >= h)
		return;
	float sum = 0;
	int n = 0;
	for (int dy = -1; dy <= 1; dy++)
		for (int dx = -1; dx <= 1; dx++) {
			int xx = x + dx, yy = y + dy;
			if (xx < 0 || yy < 0 || xx >= w || yy >= h)
				continue;
			sum += in[yy * in_pitch + xx];
			n++;
		}
	((float *)((char *)out + y * out_pitch))[x] = sum / n;
}

int main()
{
	const int w = 637, h = 419; // odd sizes: rows are padded on the device
	std::vector<unsigned char> img(w * h);
	std::vector<float> out(w * h);
	unsigned char *din;
	float *dout;
	size_t in_pitch, out_pitch;
	int bad = 0;

	for (int i = 0; i < w * h; i++)
		img[i] = (unsigned char)(rand() & 0xff);
	if (cudaMallocPitch((void **)&din, &in_pitch, w, h) != cudaSuccess ||
	    cudaMallocPitch((void **)&dout, &out_pitch, w * sizeof(float), h) != cudaSuccess) {
		printf("boxFilter: FAIL (no device memory)\n");
		return 1;
	}
	cudaMemcpy2D(din, in_pitch, img.data(), w, w, h, cudaMemcpyHostToDevice);
	dim3 block(32, 8), grid((w + 31) / 32, (h + 7) / 8);
	box3<<<grid, block>>>(din, in_pitch, dout, out_pitch, w, h);
	cudaError_t e = cudaMemcpy2D(out.data(), w * sizeof(float), dout, out_pitch,
				     w * sizeof(float), h, cudaMemcpyDeviceToHost);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			float sum = 0;
			int n = 0;
			for (int dy = -1; dy <= 1; dy++)
				for (int dx = -1; dx <= 1; dx++) {
					int xx = x + dx, yy = y + dy;
					if (xx < 0 || yy < 0 || xx >= w || yy >= h)
						continue;
					sum += img[yy * w + xx];
					n++;
				}
			bad += fabsf(out[y * w + x] - sum / n) > 1e-4f;
		}
	printf("%dx%d image, rows %zu and %zu bytes apart on the device\n", w, h, in_pitch,
	       out_pitch);
	cudaFree(din);
	cudaFree(dout);
	printf("boxFilter: %s\n", e == cudaSuccess && bad == 0 ? "PASS" : "FAIL");
	return e == cudaSuccess && bad == 0 ? 0 : 1;
}
