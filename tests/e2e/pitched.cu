// Pitched memory and 2D/3D copies and sets, as CUDA documents them: rows
// land where the pitches say, the bytes between rows are left alone, copies
// of many rows (more than one message's worth) arrive whole, from pageable
// and page-locked memory, synchronous and on a stream; and what CUDA
// refuses is refused.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "check.h"

// Adds 1 to every float of a pitched 2D region.
__global__ void bump(float *p, size_t pitch, int w, int h)
{
	int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y;

	if (x < w && y < h)
		((float *)((char *)p + y * pitch))[x] += 1.0f;
}

static float value(int x, int y)
{
	return (float)(y * 1000 + x);
}

// A 2D round trip through a pitched allocation: host rows spitch apart in,
// a kernel, host rows dpitch apart out; the padding of the way out keeps
// its sentinel.
static void round_trip(int w, int h, bool pinned, cudaStream_t s)
{
	size_t row = (size_t)w * sizeof(float), spitch = row + 24, dpitch = row + 40, pitch = 0;
	size_t in_len = spitch * h, out_len = dpitch * h;
	unsigned char *in, *out;
	float *d;

	if (pinned) {
		OK(cudaMallocHost(&in, in_len));
		OK(cudaMallocHost(&out, out_len));
	} else {
		in = (unsigned char *)malloc(in_len);
		out = (unsigned char *)malloc(out_len);
	}
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			((float *)(in + y * spitch))[x] = value(x, y);
	memset(out, 0x5a, out_len);
	OK(cudaMallocPitch((void **)&d, &pitch, row, h));
	EXPECT(pitch >= row && pitch % 512 == 0);
	OK(cudaMemset2D(d, pitch, 0, row, h));
	if (s) {
		OK(cudaMemcpy2DAsync(d, pitch, in, spitch, row, h, cudaMemcpyHostToDevice, s));
		bump<<<dim3((w + 127) / 128, h), 128, 0, s>>>(d, pitch, w, h);
		OK(cudaMemcpy2DAsync(out, dpitch, d, pitch, row, h, cudaMemcpyDeviceToHost, s));
		OK(cudaStreamSynchronize(s));
	} else {
		OK(cudaMemcpy2D(d, pitch, in, spitch, row, h, cudaMemcpyHostToDevice));
		bump<<<dim3((w + 127) / 128, h), 128>>>(d, pitch, w, h);
		OK(cudaMemcpy2D(out, dpitch, d, pitch, row, h, cudaMemcpyDefault));
	}
	int bad = 0;
	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++)
			bad += ((float *)(out + y * dpitch))[x] != value(x, y) + 1.0f;
		for (size_t b = row; b < dpitch; b++)
			bad += out[y * dpitch + b] != 0x5a;
	}
	EXPECT(bad == 0);
	OK(cudaFree(d));
	if (pinned) {
		OK(cudaFreeHost(in));
		OK(cudaFreeHost(out));
	} else {
		free(in);
		free(out);
	}
}

int main()
{
	cudaStream_t s;

	OK(cudaStreamCreate(&s));
	round_trip(250, 37, false, nullptr);
	round_trip(250, 37, true, s);
	// 12 MiB of rows: more than one message each way.
	round_trip(1024, 3000, false, nullptr);
	round_trip(1024, 3000, true, s);

	// Device to device, between two pitched regions at offsets.
	{
		size_t p1, p2;
		unsigned char *a, *b;
		std::vector<unsigned char> h(64 * 16), back(64 * 16);
		for (size_t i = 0; i < h.size(); i++)
			h[i] = (unsigned char)(i * 7);
		OK(cudaMallocPitch((void **)&a, &p1, 100, 20));
		OK(cudaMallocPitch((void **)&b, &p2, 700, 30));
		OK(cudaMemset2D(b, p2, 0xee, 700, 30));
		OK(cudaMemcpy2D(a + p1 * 2 + 3, p1, h.data(), 64, 64, 16, cudaMemcpyHostToDevice));
		OK(cudaMemcpy2D(b + p2 * 5 + 100, p2, a + p1 * 2 + 3, p1, 64, 16,
				cudaMemcpyDeviceToDevice));
		OK(cudaMemcpy2D(back.data(), 64, b + p2 * 5 + 100, p2, 64, 16,
				cudaMemcpyDeviceToHost));
		EXPECT(back == h);
		unsigned char edge[2];
		OK(cudaMemcpy(edge, b + p2 * 5 + 99, 1, cudaMemcpyDeviceToHost));
		OK(cudaMemcpy(edge + 1, b + p2 * 5 + 164, 1, cudaMemcpyDeviceToHost));
		EXPECT(edge[0] == 0xee && edge[1] == 0xee);
		// What CUDA refuses.
		EXPECT_ERR(cudaMemcpy2D(a, 50, h.data(), 64, 64, 2, cudaMemcpyHostToDevice),
			   cudaErrorInvalidPitchValue);
		EXPECT_ERR(cudaMemcpy2D(a, p1, h.data(), 64, 64, 40, cudaMemcpyHostToDevice),
			   cudaErrorInvalidValue); // 40 rows in a 20-row allocation
		EXPECT_ERR(cudaMemset2D(a, 50, 0, 64, 2), cudaErrorInvalidPitchValue);
		OK(cudaFree(a));
		OK(cudaFree(b));
	}

	// 3D: a pitched volume, set, then a box copied in from a host volume
	// of taller slices at an offset, and back out.
	{
		cudaExtent vol = make_cudaExtent(200, 7, 5); // bytes, rows, slices
		cudaPitchedPtr d;
		OK(cudaMalloc3D(&d, vol));
		EXPECT(d.pitch >= 200 && d.xsize == 200 && d.ysize == 7);
		OK(cudaMemset3D(d, 0x33, vol));
		const size_t hw = 256, hh = 9, hd = 6; // host volume: rows 256 apart, 9 a slice
		std::vector<unsigned char> host(hw * hh * hd), back(hw * hh * hd, 0);
		for (size_t i = 0; i < host.size(); i++)
			host[i] = (unsigned char)(i % 251);
		cudaMemcpy3DParms p = {};
		p.srcPtr = make_cudaPitchedPtr(host.data(), hw, hw, hh);
		p.srcPos = make_cudaPos(5, 1, 1);
		p.dstPtr = d;
		p.dstPos = make_cudaPos(10, 2, 1);
		p.extent = make_cudaExtent(100, 4, 3);
		p.kind = cudaMemcpyHostToDevice;
		OK(cudaMemcpy3D(&p));
		std::vector<unsigned char> dev(d.pitch * 7 * 5);
		cudaMemcpy3DParms q = {};
		q.srcPtr = d;
		q.dstPtr = make_cudaPitchedPtr(dev.data(), d.pitch, 200, 7);
		q.extent = vol;
		q.kind = cudaMemcpyDeviceToHost;
		OK(cudaMemcpy3D(&q));
		int bad = 0;
		for (size_t z = 0; z < 5; z++)
			for (size_t y = 0; y < 7; y++)
				for (size_t x = 0; x < 200; x++) {
					bool in = z >= 1 && z < 4 && y >= 2 && y < 6 && x >= 10 &&
						  x < 110;
					unsigned char want =
					    in ? host[(z - 1 + 1) * hw * hh + (y - 2 + 1) * hw +
						      (x - 10 + 5)]
					       : 0x33;
					bad += dev[z * d.pitch * 7 + y * d.pitch + x] != want;
				}
		EXPECT(bad == 0);
		OK(cudaFree(d.ptr));
	}
	OK(cudaStreamDestroy(s));
	return check_done("pitched");
}
