// simpleTexture: rotates an image by sampling a texture, as CUDA's sample
// of that name does: the image lives in a CUDA array, a texture object
// reads it with normalized, wrapped coordinates and bilinear filtering,
// and a kernel writes the rotated image. Checked against the same
// sampling computed on the host from the CUDA programming guide's formula
// (texels i and i+1 of x - 0.5, weights in 9-bit fixed point).
#include <cmath>
#include <cstdio>
#include <cuda_runtime.h>

#define W 64
#define H 48

__global__ void rotate(cudaTextureObject_t tex, float *out, float angle)
{
	int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
	if (x >= W || y >= H)
		return;
	float u = (float)x / W - 0.5f, v = (float)y / H - 0.5f;
	float tu = u * cosf(angle) - v * sinf(angle) + 0.5f;
	float tv = v * cosf(angle) + u * sinf(angle) + 0.5f;
	out[y * W + x] = tex2D<float>(tex, tu, tv);
}

static float texel(const float *img, long i, long j)
{
	i = ((i % W) + W) % W; // wrap
	j = ((j % H) + H) % H;
	return img[j * W + i];
}

static float sample(const float *img, float u, float v)
{
	float x = u * W - 0.5f, y = v * H - 0.5f;
	long i = (long)floorf(x), j = (long)floorf(y);
	float a = roundf((x - floorf(x)) * 256) / 256, b = roundf((y - floorf(y)) * 256) / 256;
	return (1 - a) * (1 - b) * texel(img, i, j) + a * (1 - b) * texel(img, i + 1, j) +
	       (1 - a) * b * texel(img, i, j + 1) + a * b * texel(img, i + 1, j + 1);
}

int main()
{
	static float img[W * H], out[W * H];
	const float angle = 0.5f;
	float *d;
	cudaArray_t arr;
	cudaChannelFormatDesc cd = cudaCreateChannelDesc<float>();

	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++)
			img[y * W + x] = ((x / 8 + y / 8) & 1) ? 1.0f : 0.25f * (float)x / W;
	if (cudaMallocArray(&arr, &cd, W, H) != cudaSuccess) {
		printf("simpleTexture: FAIL (no CUDA array)\n");
		return 1;
	}
	cudaMemcpy2DToArray(arr, 0, 0, img, W * sizeof(float), W * sizeof(float), H,
			    cudaMemcpyHostToDevice);
	cudaResourceDesc res = {};
	res.resType = cudaResourceTypeArray;
	res.res.array.array = arr;
	cudaTextureDesc td = {};
	td.addressMode[0] = td.addressMode[1] = cudaAddressModeWrap;
	td.filterMode = cudaFilterModeLinear;
	td.readMode = cudaReadModeElementType;
	td.normalizedCoords = 1;
	cudaTextureObject_t tex = 0;
	cudaCreateTextureObject(&tex, &res, &td, nullptr);
	cudaMalloc(&d, sizeof(out));
	dim3 block(16, 16), grid((W + 15) / 16, (H + 15) / 16);
	rotate<<<grid, block>>>(tex, d, angle);
	cudaMemcpy(out, d, sizeof(out), cudaMemcpyDeviceToHost);
	cudaError_t e = cudaGetLastError();

	double worst = 0;
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++) {
			float u = (float)x / W - 0.5f, v = (float)y / H - 0.5f;
			float tu = u * cosf(angle) - v * sinf(angle) + 0.5f;
			float tv = v * cosf(angle) + u * sinf(angle) + 0.5f;
			worst = fmax(worst, fabs(out[y * W + x] - sample(img, tu, tv)));
		}
	printf("simpleTexture: rotated a %dx%d image by %.2f rad through a texture; largest "
	       "difference from the host's filtering %.2g\n",
	       W, H, angle, worst);
	cudaDestroyTextureObject(tex);
	cudaFreeArray(arr);
	cudaFree(d);
	// The device's sin and cos may differ from the host's in the last
	// place, which moves a sample by a little.
	int ok = e == cudaSuccess && worst < 1e-3;
	printf("simpleTexture: %s\n", ok ? "PASS" : "FAIL");
	return ok ? 0 : 1;
}
