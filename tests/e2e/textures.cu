// CUDA arrays, texture objects and surface objects: sampled values against
// the texture fetching formulas of the CUDA programming guide (nearest
// texel; linear filtering between texels i and i+1 of x - 0.5 with the
// weight in 9-bit fixed point; clamp, wrap, mirror and border addressing;
// normalized coordinates; normalized-float read mode), on 1D linear
// memory, 2D pitched memory, 2D, 3D and layered arrays; tld4 (gather);
// surfaces written and read by kernels; copies to and from arrays.
#include <cmath>
#include <cstdio>
#include <cstring>

#include "check.h"

// cudaMemcpyToArray and cudaMemcpyFromArray are deprecated, and still used.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#define W 8
#define H 4

__global__ void sample2d(cudaTextureObject_t t, const float2 *at, float *out, int n)
{
	int i = threadIdx.x;
	if (i < n)
		out[i] = tex2D<float>(t, at[i].x, at[i].y);
}

__global__ void sample_uchar4(cudaTextureObject_t t, float4 *out)
{
	out[threadIdx.x] = tex2D<float4>(t, threadIdx.x + 0.5f, 0.5f);
}

__global__ void fetch1d(cudaTextureObject_t t, int *out, int n)
{
	int i = threadIdx.x;
	if (i < n)
		out[i] = tex1Dfetch<int>(t, i - 2); // two before the start, and past the end
}

__global__ void sample3d(cudaTextureObject_t t, float x, float y, float z, float *out)
{
	out[0] = tex3D<float>(t, x, y, z);
}

__global__ void sample_layered(cudaTextureObject_t t, float *out)
{
	out[threadIdx.x] = tex2DLayered<float>(t, 1.5f, 0.5f, threadIdx.x);
}

__global__ void gather(cudaTextureObject_t t, float4 *out)
{
	out[0] = tex2Dgather<float4>(t, 2.0f, 2.0f, 0);
}

__global__ void surf_double(cudaSurfaceObject_t s, int w, int h)
{
	int x = threadIdx.x, y = blockIdx.x;
	if (x < w && y < h) {
		float v;
		surf2Dread(&v, s, x * 4, y);
		surf2Dwrite(v * 2.0f + y, s, x * 4, y);
	}
}

__global__ void surf_edge(cudaSurfaceObject_t s, float *out)
{
	float v = -1.0f;
	surf2Dread(&v, s, 100 * 4, 0, cudaBoundaryModeZero); // outside: zero
	out[0] = v;
	surf2Dread(&v, s, 100 * 4, 1, cudaBoundaryModeClamp); // outside: the last element
	out[1] = v;
}

// ---- the documented formulas, on the host -----------------------------------------------

static float tex_value(const float *img, int w, int h, long x, long y, cudaTextureAddressMode am,
		       float border)
{
	long n[2] = {w, h}, c[2] = {x, y};
	for (int k = 0; k < 2; k++) {
		long i = c[k], N = n[k];
		switch (am) {
		case cudaAddressModeWrap:
			i = ((i % N) + N) % N;
			break;
		case cudaAddressModeMirror: {
			long p = ((i % (2 * N)) + 2 * N) % (2 * N);
			i = p < N ? p : 2 * N - 1 - p;
			break;
		}
		case cudaAddressModeBorder:
			if (i < 0 || i >= N)
				return border;
			break;
		default:
			i = i < 0 ? 0 : i >= N ? N - 1 : i;
		}
		c[k] = i;
	}
	return img[c[1] * w + c[0]];
}

static float frac9(float f)
{
	return roundf(f * 256.0f) / 256.0f;
}

static float ref2d(const float *img, float x, float y, int linear, int normalized,
		   cudaTextureAddressMode am)
{
	if (normalized) {
		x *= W;
		y *= H;
	}
	if (!linear)
		return tex_value(img, W, H, (long)floorf(x), (long)floorf(y), am, 0.0f);
	float xb = x - 0.5f, yb = y - 0.5f;
	long i = (long)floorf(xb), j = (long)floorf(yb);
	float a = frac9(xb - floorf(xb)), b = frac9(yb - floorf(yb));
	return (1 - a) * (1 - b) * tex_value(img, W, H, i, j, am, 0) +
	       a * (1 - b) * tex_value(img, W, H, i + 1, j, am, 0) +
	       (1 - a) * b * tex_value(img, W, H, i, j + 1, am, 0) +
	       a * b * tex_value(img, W, H, i + 1, j + 1, am, 0);
}

static cudaTextureObject_t make_tex(cudaArray_t a, cudaTextureAddressMode am,
				    cudaTextureFilterMode fm, int normalized)
{
	cudaResourceDesc r = {};
	cudaTextureDesc d = {};
	cudaTextureObject_t t = 0;
	r.resType = cudaResourceTypeArray;
	r.res.array.array = a;
	d.addressMode[0] = d.addressMode[1] = d.addressMode[2] = am;
	d.filterMode = fm;
	d.readMode = cudaReadModeElementType;
	d.normalizedCoords = normalized;
	OK(cudaCreateTextureObject(&t, &r, &d, nullptr));
	return t;
}

static void filtering()
{
	float img[W * H], got[16], *dout;
	float2 at[16], *dat;
	cudaArray_t a;
	cudaChannelFormatDesc cd = cudaCreateChannelDesc<float>(), back;
	cudaExtent ext;
	unsigned flags = 7;

	for (int i = 0; i < W * H; i++)
		img[i] = (float)((i * 37) % 101) / 7.0f;
	OK(cudaMallocArray(&a, &cd, W, H));
	OK(cudaArrayGetInfo(&back, &ext, &flags, a));
	EXPECT(back.x == 32 && back.f == cudaChannelFormatKindFloat && ext.width == W &&
	       ext.height == H && ext.depth == 0 && flags == 0);
	OK(cudaMemcpy2DToArray(a, 0, 0, img, W * sizeof(float), W * sizeof(float), H,
			       cudaMemcpyHostToDevice));
	// Read back whole, and a window of it.
	float round[W * H], win[2 * 2];
	OK(cudaMemcpy2DFromArray(round, W * sizeof(float), a, 0, 0, W * sizeof(float), H,
				 cudaMemcpyDeviceToHost));
	EXPECT(memcmp(round, img, sizeof(img)) == 0);
	OK(cudaMemcpy2DFromArray(win, 2 * sizeof(float), a, 3 * sizeof(float), 1,
				 2 * sizeof(float), 2, cudaMemcpyDeviceToHost));
	EXPECT(win[0] == img[1 * W + 3] && win[3] == img[2 * W + 4]);

	for (int i = 0; i < 16; i++) // inside, between texels, on the edges and beyond
		at[i] = make_float2(-1.3f + i * 0.71f, -0.6f + (i % 7) * 0.83f);
	OK(cudaMalloc(&dat, sizeof(at)));
	OK(cudaMalloc(&dout, sizeof(got)));
	OK(cudaMemcpy(dat, at, sizeof(at), cudaMemcpyHostToDevice));
	const cudaTextureAddressMode modes[] = {cudaAddressModeClamp, cudaAddressModeBorder,
						cudaAddressModeWrap, cudaAddressModeMirror};
	for (int linear = 0; linear < 2; linear++)
		for (int mi = 0; mi < 4; mi++) {
			// Wrap and mirror take normalized coordinates.
			int normalized = mi >= 2;
			float2 nat[16];
			for (int i = 0; i < 16; i++)
				nat[i] = normalized ? make_float2(at[i].x / W, at[i].y / H) : at[i];
			OK(cudaMemcpy(dat, nat, sizeof(nat), cudaMemcpyHostToDevice));
			cudaTextureObject_t t =
			    make_tex(a, modes[mi], linear ? cudaFilterModeLinear : cudaFilterModePoint,
				     normalized);
			sample2d<<<1, 16>>>(t, dat, dout, 16);
			OK(cudaMemcpy(got, dout, sizeof(got), cudaMemcpyDeviceToHost));
			int bad = 0;
			for (int i = 0; i < 16; i++) {
				float want = ref2d(img, nat[i].x, nat[i].y, linear, normalized, modes[mi]);
				if (fabsf(got[i] - want) > 1e-5f * fmaxf(1.0f, fabsf(want))) {
					if (!bad++)
						fprintf(stderr,
							"linear %d mode %d: at (%g, %g) got %g, want %g\n",
							linear, mi, nat[i].x, nat[i].y, got[i], want);
				}
			}
			EXPECT(bad == 0);
			OK(cudaDestroyTextureObject(t));
		}

	// Gather: the four texels around (2, 2), in tld4's order.
	float4 g, *dg;
	OK(cudaMalloc(&dg, sizeof(float4)));
	cudaTextureObject_t t = make_tex(a, cudaAddressModeClamp, cudaFilterModePoint, 0);
	gather<<<1, 1>>>(t, dg);
	OK(cudaMemcpy(&g, dg, sizeof(g), cudaMemcpyDeviceToHost));
	EXPECT(g.x == img[2 * W + 1] && g.y == img[2 * W + 2] && g.z == img[1 * W + 2] &&
	       g.w == img[1 * W + 1]);
	OK(cudaDestroyTextureObject(t));
	EXPECT_ERR(cudaDestroyTextureObject(t), cudaErrorInvalidValue);
	OK(cudaFree(dg));
	OK(cudaFree(dat));
	OK(cudaFree(dout));
	OK(cudaFreeArray(a));
	EXPECT_ERR(cudaFreeArray(a), cudaErrorInvalidValue);
}

static void formats()
{
	// uchar4 read as normalized floats.
	uchar4 px[4] = {{0, 51, 102, 255}, {255, 0, 0, 1}, {10, 20, 30, 40}, {1, 2, 3, 4}};
	cudaChannelFormatDesc cd = cudaCreateChannelDesc<uchar4>();
	cudaArray_t a;
	float4 got[4], *d;
	OK(cudaMallocArray(&a, &cd, 4, 1));
	OK(cudaMemcpyToArray(a, 0, 0, px, sizeof(px), cudaMemcpyHostToDevice));
	uchar4 back[4];
	OK(cudaMemcpyFromArray(back, a, 0, 0, sizeof(back), cudaMemcpyDeviceToHost));
	EXPECT(memcmp(back, px, sizeof(px)) == 0);
	cudaResourceDesc r = {};
	cudaTextureDesc td = {};
	r.resType = cudaResourceTypeArray;
	r.res.array.array = a;
	td.readMode = cudaReadModeNormalizedFloat;
	cudaTextureObject_t t;
	OK(cudaCreateTextureObject(&t, &r, &td, nullptr));
	cudaResourceDesc rback = {};
	cudaTextureDesc tback = {};
	OK(cudaGetTextureObjectResourceDesc(&rback, t));
	OK(cudaGetTextureObjectTextureDesc(&tback, t));
	EXPECT(rback.resType == cudaResourceTypeArray && rback.res.array.array == a &&
	       tback.readMode == cudaReadModeNormalizedFloat);
	OK(cudaMalloc(&d, sizeof(got)));
	sample_uchar4<<<1, 4>>>(t, d);
	OK(cudaMemcpy(got, d, sizeof(got), cudaMemcpyDeviceToHost));
	EXPECT(got[0].x == 0.0f && got[0].y == 51 / 255.0f && got[0].w == 1.0f &&
	       got[2].z == 30 / 255.0f);
	OK(cudaDestroyTextureObject(t));
	OK(cudaFree(d));
	OK(cudaFreeArray(a));

	// tex1Dfetch on linear memory: out of range reads zero.
	int lin[6] = {5, 6, 7, 8, 9, 10}, *dl, *dout, out[10];
	OK(cudaMalloc(&dl, sizeof(lin)));
	OK(cudaMalloc(&dout, sizeof(out)));
	OK(cudaMemcpy(dl, lin, sizeof(lin), cudaMemcpyHostToDevice));
	cudaResourceDesc rl = {};
	rl.resType = cudaResourceTypeLinear;
	rl.res.linear.devPtr = dl;
	rl.res.linear.desc = cudaCreateChannelDesc<int>();
	rl.res.linear.sizeInBytes = sizeof(lin);
	cudaTextureDesc tl = {};
	tl.readMode = cudaReadModeElementType;
	OK(cudaCreateTextureObject(&t, &rl, &tl, nullptr));
	fetch1d<<<1, 10>>>(t, dout, 10);
	OK(cudaMemcpy(out, dout, sizeof(out), cudaMemcpyDeviceToHost));
	EXPECT(out[0] == 0 && out[1] == 0 && out[2] == 5 && out[7] == 10 && out[8] == 0);
	OK(cudaDestroyTextureObject(t));
	// A texture over memory that is not the program's is refused.
	rl.res.linear.devPtr = (void *)0x1000;
	EXPECT(cudaCreateTextureObject(&t, &rl, &tl, nullptr) != cudaSuccess);
	cudaGetLastError();
	OK(cudaFree(dl));
	OK(cudaFree(dout));
}

static void volumes()
{
	// 3D: trilinear filtering against the formula.
	const int n = 4;
	float vol[n * n * n], *d, got;
	for (int i = 0; i < n * n * n; i++)
		vol[i] = (float)(i % 13) * 0.5f;
	cudaChannelFormatDesc cd = cudaCreateChannelDesc<float>();
	cudaArray_t a;
	OK(cudaMalloc3DArray(&a, &cd, make_cudaExtent(n, n, n)));
	cudaMemcpy3DParms p = {};
	p.srcPtr = make_cudaPitchedPtr(vol, n * sizeof(float), n, n);
	p.dstArray = a;
	p.extent = make_cudaExtent(n, n, n);
	p.kind = cudaMemcpyHostToDevice;
	OK(cudaMemcpy3D(&p));
	cudaTextureObject_t t = make_tex(a, cudaAddressModeClamp, cudaFilterModeLinear, 0);
	OK(cudaMalloc(&d, 4 * sizeof(float)));
	float x = 1.3f, y = 2.7f, z = 0.9f;
	sample3d<<<1, 1>>>(t, x, y, z, d);
	OK(cudaMemcpy(&got, d, sizeof(got), cudaMemcpyDeviceToHost));
	float xb = x - 0.5f, yb = y - 0.5f, zb = z - 0.5f, want = 0;
	long i0 = (long)floorf(xb), j0 = (long)floorf(yb), k0 = (long)floorf(zb);
	float a0 = frac9(xb - floorf(xb)), b0 = frac9(yb - floorf(yb)), c0 = frac9(zb - floorf(zb));
	for (int c = 0; c < 8; c++) {
		long i = i0 + (c & 1), j = j0 + ((c >> 1) & 1), k = k0 + ((c >> 2) & 1);
		i = i < 0 ? 0 : i >= n ? n - 1 : i;
		j = j < 0 ? 0 : j >= n ? n - 1 : j;
		k = k < 0 ? 0 : k >= n ? n - 1 : k;
		want += ((c & 1) ? a0 : 1 - a0) * (((c >> 1) & 1) ? b0 : 1 - b0) *
			(((c >> 2) & 1) ? c0 : 1 - c0) * vol[(k * n + j) * n + i];
	}
	EXPECT(fabsf(got - want) < 1e-5f);
	// The same copy between two arrays of the one device, as a peer copy.
	cudaArray_t b;
	OK(cudaMalloc3DArray(&b, &cd, make_cudaExtent(n, n, n)));
	cudaMemcpy3DPeerParms pp = {};
	pp.srcArray = a;
	pp.dstArray = b;
	pp.extent = make_cudaExtent(n, n, n);
	OK(cudaMemcpy3DPeer(&pp));
	float peer_back[n * n * n];
	p = {};
	p.srcArray = b;
	p.dstPtr = make_cudaPitchedPtr(peer_back, n * sizeof(float), n, n);
	p.extent = make_cudaExtent(n, n, n);
	p.kind = cudaMemcpyDeviceToHost;
	OK(cudaMemcpy3D(&p));
	EXPECT(memcmp(peer_back, vol, sizeof(vol)) == 0);
	OK(cudaFreeArray(b));
	OK(cudaDestroyTextureObject(t));
	OK(cudaFreeArray(a));

	// Layered: each layer its own image.
	float layers[3 * 4 * 2];
	for (int i = 0; i < 24; i++)
		layers[i] = (float)i;
	OK(cudaMalloc3DArray(&a, &cd, make_cudaExtent(4, 2, 3), cudaArrayLayered));
	p = {};
	p.srcPtr = make_cudaPitchedPtr(layers, 4 * sizeof(float), 4, 2);
	p.dstArray = a;
	p.extent = make_cudaExtent(4, 2, 3);
	p.kind = cudaMemcpyHostToDevice;
	OK(cudaMemcpy3D(&p));
	t = make_tex(a, cudaAddressModeClamp, cudaFilterModePoint, 0);
	float lv[3];
	sample_layered<<<1, 3>>>(t, d);
	OK(cudaMemcpy(lv, d, sizeof(lv), cudaMemcpyDeviceToHost));
	EXPECT(lv[0] == 1.0f && lv[1] == 9.0f && lv[2] == 17.0f);
	OK(cudaDestroyTextureObject(t));
	OK(cudaFreeArray(a));
	OK(cudaFree(d));
}

static void surfaces()
{
	const int w = 16, h = 3;
	float img[w * h], back[w * h], *d, edge[2];
	for (int i = 0; i < w * h; i++)
		img[i] = (float)i;
	cudaChannelFormatDesc cd = cudaCreateChannelDesc<float>();
	cudaArray_t a, plain;
	OK(cudaMallocArray(&a, &cd, w, h, cudaArraySurfaceLoadStore));
	OK(cudaMallocArray(&plain, &cd, w, h));
	OK(cudaMemcpy2DToArray(a, 0, 0, img, w * sizeof(float), w * sizeof(float), h,
			       cudaMemcpyHostToDevice));
	cudaResourceDesc r = {};
	r.resType = cudaResourceTypeArray;
	r.res.array.array = plain;
	cudaSurfaceObject_t s;
	EXPECT_ERR(cudaCreateSurfaceObject(&s, &r), cudaErrorInvalidValue); // no load/store flag
	r.res.array.array = a;
	OK(cudaCreateSurfaceObject(&s, &r));
	surf_double<<<h, w>>>(s, w, h);
	OK(cudaMemcpy2DFromArray(back, w * sizeof(float), a, 0, 0, w * sizeof(float), h,
				 cudaMemcpyDeviceToHost));
	int bad = 0;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			bad += back[y * w + x] != img[y * w + x] * 2 + y;
	EXPECT(bad == 0);
	OK(cudaMalloc(&d, sizeof(edge)));
	surf_edge<<<1, 1>>>(s, d);
	OK(cudaMemcpy(edge, d, sizeof(edge), cudaMemcpyDeviceToHost));
	EXPECT(edge[0] == 0.0f && edge[1] == back[1 * w + w - 1]);
	// Array to array.
	OK(cudaMemcpy2DArrayToArray(plain, 0, 0, a, 0, 0, w * sizeof(float), h,
				    cudaMemcpyDeviceToDevice));
	float again[w * h];
	OK(cudaMemcpy2DFromArray(again, w * sizeof(float), plain, 0, 0, w * sizeof(float), h,
				 cudaMemcpyDeviceToHost));
	EXPECT(memcmp(again, back, sizeof(back)) == 0);
	// Outside the array: refused before anything moves.
	EXPECT_ERR(cudaMemcpy2DToArray(a, 8 * sizeof(float), 0, img, w * sizeof(float),
				       w * sizeof(float), 1, cudaMemcpyHostToDevice),
		   cudaErrorInvalidValue);
	OK(cudaDestroySurfaceObject(s));
	OK(cudaFreeArray(a));
	OK(cudaFreeArray(plain));
	OK(cudaFree(d));
}

int main()
{
	int attr = 0;
	OK(cudaDeviceGetAttribute(&attr, cudaDevAttrMaxTexture2DWidth, 0));
	EXPECT(attr >= 4096);
	filtering();
	formats();
	volumes();
	surfaces();
	return check_done("textures");
}
