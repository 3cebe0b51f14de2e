// Tensor cores: a tiled GEMM through the wmma API for each precision
// (f16 with f32 and f16 accumulators, bf16, tf32, s8 and f64), then
// mma.sync fed by ldmatrix, as hand-written kernels use it, and mma.sync
// with fragments placed by hand in the layouts the PTX ISA documents.
// Inputs are small integers and halves, so every product and sum is exact
// in the accumulator's precision and the result equals the host's,
// whatever order a device adds in.
#include <cstdint>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include "check.h"

using namespace nvcuda;

#define DIM 64

// C (DIM x DIM) = A B + C0, one warp per output tile.
template <typename In, typename Acc, int M, int N, int K, typename Frag>
__global__ void gemm(const In *a, const In *b, const Acc *c0, Acc *c)
{
	int tile = blockIdx.x;
	int tr = tile / (DIM / N), tc = tile % (DIM / N);
	wmma::fragment<wmma::matrix_a, M, N, K, Frag, wmma::row_major> fa;
	wmma::fragment<wmma::matrix_b, M, N, K, Frag, wmma::col_major> fb;
	wmma::fragment<wmma::accumulator, M, N, K, Acc> acc;

	wmma::load_matrix_sync(acc, c0 + tr * M * DIM + tc * N, DIM, wmma::mem_row_major);
	for (int k = 0; k < DIM; k += K) {
		wmma::load_matrix_sync(fa, a + tr * M * DIM + k, DIM);
		wmma::load_matrix_sync(fb, b + tc * N * DIM + k, DIM); // b stored by columns
		wmma::mma_sync(acc, fa, fb, acc);
	}
	wmma::store_matrix_sync(c + tr * M * DIM + tc * N, acc, DIM, wmma::mem_row_major);
}

// The same for tf32, whose fragments are converted after loading.
__global__ void gemm_tf32(const float *a, const float *b, const float *c0, float *c)
{
	int tile = blockIdx.x;
	int tr = tile / (DIM / 16), tc = tile % (DIM / 16);
	wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa;
	wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fb;
	wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc;

	wmma::load_matrix_sync(acc, c0 + tr * 16 * DIM + tc * 16, DIM, wmma::mem_row_major);
	for (int k = 0; k < DIM; k += 8) {
		wmma::load_matrix_sync(fa, a + tr * 16 * DIM + k, DIM);
		wmma::load_matrix_sync(fb, b + tc * 16 * DIM + k, DIM);
		for (int i = 0; i < fa.num_elements; i++)
			fa.x[i] = wmma::__float_to_tf32(fa.x[i]);
		for (int i = 0; i < fb.num_elements; i++)
			fb.x[i] = wmma::__float_to_tf32(fb.x[i]);
		wmma::mma_sync(acc, fa, fb, acc);
	}
	// Element-wise work on a fragment: scale by 2.
	for (int i = 0; i < acc.num_elements; i++)
		acc.x[i] *= 2.0f;
	wmma::store_matrix_sync(c + tr * 16 * DIM + tc * 16, acc, DIM, wmma::mem_row_major);
}

// mma.sync m16n8k16 (f16 in, f32 out), A and B loaded by ldmatrix from
// shared memory, one warp computing a 16 x 8 tile of a 16 x 16 by 16 x 8
// product.
__global__ void mma_ldmatrix(const __half *a, const __half *bt, float *d)
{
	__shared__ __align__(16) __half sa[16 * 16], sb[8 * 16];
	int l = threadIdx.x;
	for (int i = l; i < 256; i += 32)
		sa[i] = a[i];
	for (int i = l; i < 128; i += 32)
		sb[i] = bt[i]; // B by columns: column n is 16 halves
	__syncwarp();
	uint32_t ra[4], rb[2];
	// x4: matrices (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15)
	const __half *pa = sa + (l % 16) * 16 + (l / 16) * 8;
	uint32_t sa_addr = (uint32_t)__cvta_generic_to_shared(pa);
	asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
		     : "=r"(ra[0]), "=r"(ra[1]), "=r"(ra[2]), "=r"(ra[3])
		     : "r"(sa_addr));
	// x2: B's columns n 0-7 with k 0-7, then k 8-15 (lanes 0-15 give the rows)
	const __half *pb = sb + (l % 8) * 16 + ((l / 8) % 2) * 8;
	uint32_t sb_addr = (uint32_t)__cvta_generic_to_shared(pb);
	asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];"
		     : "=r"(rb[0]), "=r"(rb[1])
		     : "r"(sb_addr));
	float c[4] = {0, 0, 0, 0};
	asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
		     "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
		     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
		     : "r"(ra[0]), "r"(ra[1]), "r"(ra[2]), "r"(ra[3]), "r"(rb[0]), "r"(rb[1]));
	// The documented C layout: c0,c1 at row l/4, columns 2(l%4)+{0,1}; c2,c3 eight rows down.
	int g = l / 4, t = l % 4;
	d[g * 8 + 2 * t] = c[0];
	d[g * 8 + 2 * t + 1] = c[1];
	d[(g + 8) * 8 + 2 * t] = c[2];
	d[(g + 8) * 8 + 2 * t + 1] = c[3];
}

// mma.sync with fragments loaded by hand in the layouts the PTX ISA
// documents (g = lane / 4, t = lane % 4): tf32 m16n8k8, s8 m16n8k32 and
// f64 m8n8k4. A is row major (M x K), B by columns (N x K), D row major.
__global__ void mma_tf32(const float *a, const float *bt, float *d)
{
	int l = threadIdx.x, g = l / 4, t = l % 4;
	uint32_t ra[4], rb[2];
	float c[4] = {0, 0, 0, 0};
	for (int i = 0; i < 4; i++)
		ra[i] = __float_as_uint(a[(g + 8 * (i & 1)) * 8 + t + 4 * (i >> 1)]);
	for (int i = 0; i < 2; i++)
		rb[i] = __float_as_uint(bt[g * 8 + t + 4 * i]);
	asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, "
		     "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
		     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
		     : "r"(ra[0]), "r"(ra[1]), "r"(ra[2]), "r"(ra[3]), "r"(rb[0]), "r"(rb[1]));
	for (int i = 0; i < 4; i++)
		d[(g + 8 * (i >> 1)) * 8 + 2 * t + (i & 1)] = c[i];
}

__global__ void mma_s8(const signed char *a, const signed char *bt, int *d)
{
	int l = threadIdx.x, g = l / 4, t = l % 4;
	uint32_t ra[4] = {0, 0, 0, 0}, rb[2] = {0, 0};
	int c[4] = {0, 0, 0, 0};
	for (int i = 0; i < 16; i++)
		ra[i / 4] |= (uint32_t)(uint8_t)a[(g + 8 * ((i >> 2) & 1)) * 32 + 4 * t + (i & 3) +
						  16 * (i >> 3)]
			     << (8 * (i % 4));
	for (int i = 0; i < 8; i++)
		rb[i / 4] |= (uint32_t)(uint8_t)bt[g * 32 + 4 * t + (i & 3) + 16 * (i >> 2)]
			     << (8 * (i % 4));
	asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, "
		     "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
		     : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
		     : "r"(ra[0]), "r"(ra[1]), "r"(ra[2]), "r"(ra[3]), "r"(rb[0]), "r"(rb[1]));
	for (int i = 0; i < 4; i++)
		d[(g + 8 * (i >> 1)) * 8 + 2 * t + (i & 1)] = c[i];
}

__global__ void mma_f64(const double *a, const double *bt, double *d)
{
	int l = threadIdx.x, g = l / 4, t = l % 4;
	double ra = a[g * 4 + t], rb = bt[g * 4 + t], c[2] = {0, 0};
	asm volatile("mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64 {%0,%1}, {%2}, {%3}, "
		     "{%0,%1};"
		     : "+d"(c[0]), "+d"(c[1])
		     : "d"(ra), "d"(rb));
	d[g * 8 + 2 * t] = c[0];
	d[g * 8 + 2 * t + 1] = c[1];
}

static float small(int i, int j, int salt)
{
	return (float)((i * 7 + j * 3 + salt) % 9 - 4) * 0.5f; // -2 .. 2 in halves
}

// Runs one of the mma_* kernels on M x K by K x N inputs from small() and
// checks D against the host.
template <typename T, typename D, typename K>
static void run_mma(const char *name, K kernel, int M, int N, int Kd, float scale)
{
	T *a, *bt;
	D *d;
	OK(cudaMallocManaged(&a, M * Kd * sizeof(T)));
	OK(cudaMallocManaged(&bt, N * Kd * sizeof(T)));
	OK(cudaMallocManaged(&d, M * N * sizeof(D)));
	for (int i = 0; i < M * Kd; i++)
		a[i] = (T)(small(i / Kd, i % Kd, 4) * scale);
	for (int i = 0; i < N * Kd; i++)
		bt[i] = (T)(small(i / Kd, i % Kd, 6) * scale);
	kernel<<<1, 32>>>(a, bt, d);
	OK(cudaDeviceSynchronize());
	int bad = 0;
	for (int r = 0; r < M && !bad; r++)
		for (int n = 0; n < N && !bad; n++) {
			double want = 0;
			for (int k = 0; k < Kd; k++)
				want += (double)a[r * Kd + k] * (double)bt[n * Kd + k];
			if ((double)d[r * N + n] != want) {
				fprintf(stderr, "%s: d[%d][%d] = %g, want %g\n", name, r, n,
					(double)d[r * N + n], want);
				bad = 1;
			}
		}
	printf("%s: %s\n", name, bad ? "wrong" : "exact");
	check_failures += bad;
}

template <typename In, typename Acc, int M, int N, int K, typename Frag>
static void run(const char *name, In (*conv)(float), float (*back)(Acc), Acc (*accof)(float))
{
	In *a, *b;
	Acc *c0, *c;
	OK(cudaMallocManaged(&a, DIM * DIM * sizeof(In)));
	OK(cudaMallocManaged(&b, DIM * DIM * sizeof(In)));
	OK(cudaMallocManaged(&c0, DIM * DIM * sizeof(Acc)));
	OK(cudaMallocManaged(&c, DIM * DIM * sizeof(Acc)));
	for (int i = 0; i < DIM; i++)
		for (int j = 0; j < DIM; j++) {
			a[i * DIM + j] = conv(small(i, j, 1));
			b[i * DIM + j] = conv(small(i, j, 5)); // column i of B
			c0[i * DIM + j] = accof((float)((i + j) % 5));
		}
	gemm<In, Acc, M, N, K, Frag><<<(DIM / M) * (DIM / N), 32>>>(a, b, c0, c);
	OK(cudaDeviceSynchronize());
	int bad = 0;
	for (int i = 0; i < DIM && !bad; i++)
		for (int j = 0; j < DIM && !bad; j++) {
			double want = (i + j) % 5;
			for (int k = 0; k < DIM; k++)
				want += (double)small(i, k, 1) * small(j, k, 5);
			if (back(c[i * DIM + j]) != (float)want) {
				fprintf(stderr, "%s: c[%d][%d] = %g, want %g\n", name, i, j,
					back(c[i * DIM + j]), want);
				bad = 1;
			}
		}
	check_failures += bad;
	printf("%s %dx%dx%d: %s\n", name, M, N, K, bad ? "wrong" : "exact");
	cudaFree(a);
	cudaFree(b);
	cudaFree(c0);
	cudaFree(c);
}

static __half to_half(float f) { return __float2half(f); }
static __nv_bfloat16 to_bf16(float f) { return __float2bfloat16(f); }
static float half_back(__half h) { return __half2float(h); }
static __half half_acc(float f) { return __float2half(f); }
static float float_back(float f) { return f; }
static float float_acc(float f) { return f; }
static signed char to_s8(float f) { return (signed char)(f * 2); }
static float int_back(int v) { return (float)v / 4; } // products of doubled values
static int int_acc(float f) { return (int)(f * 4); }
static double to_f64(float f) { return f; }
static float f64_back(double d) { return (float)d; }
static double f64_acc(float f) { return f; }

int main()
{
	run<__half, float, 16, 16, 16, __half>("f16/f32", to_half, float_back, float_acc);
	run<__half, float, 32, 8, 16, __half>("f16/f32", to_half, float_back, float_acc);
	run<__half, float, 8, 32, 16, __half>("f16/f32", to_half, float_back, float_acc);
	run<__half, __half, 16, 16, 16, __half>("f16/f16", to_half, half_back, half_acc);
	run<__nv_bfloat16, float, 16, 16, 16, __nv_bfloat16>("bf16/f32", to_bf16, float_back,
							     float_acc);
	run<signed char, int, 16, 16, 16, signed char>("s8/s32", to_s8, int_back, int_acc);
	run<double, double, 8, 8, 4, double>("f64", to_f64, f64_back, f64_acc);

	// tf32, and a fragment scaled element by element.
	float *a, *b, *c0, *c;
	OK(cudaMallocManaged(&a, DIM * DIM * sizeof(float)));
	OK(cudaMallocManaged(&b, DIM * DIM * sizeof(float)));
	OK(cudaMallocManaged(&c0, DIM * DIM * sizeof(float)));
	OK(cudaMallocManaged(&c, DIM * DIM * sizeof(float)));
	for (int i = 0; i < DIM; i++)
		for (int j = 0; j < DIM; j++) {
			a[i * DIM + j] = small(i, j, 1);
			b[i * DIM + j] = small(i, j, 5);
			c0[i * DIM + j] = (float)((i + j) % 5);
		}
	gemm_tf32<<<(DIM / 16) * (DIM / 16), 32>>>(a, b, c0, c);
	OK(cudaDeviceSynchronize());
	int bad = 0;
	for (int i = 0; i < DIM && !bad; i++)
		for (int j = 0; j < DIM && !bad; j++) {
			double want = (i + j) % 5;
			for (int k = 0; k < DIM; k++)
				want += (double)small(i, k, 1) * small(j, k, 5);
			bad = c[i * DIM + j] != (float)(2 * want);
		}
	printf("tf32 16x16x8: %s\n", bad ? "wrong" : "exact");
	check_failures += bad;

	// mma.sync with ldmatrix.
	__half *ha, *hb;
	float *d;
	OK(cudaMallocManaged(&ha, 256 * sizeof(__half)));
	OK(cudaMallocManaged(&hb, 128 * sizeof(__half)));
	OK(cudaMallocManaged(&d, 128 * sizeof(float)));
	for (int i = 0; i < 256; i++)
		ha[i] = __float2half(small(i / 16, i % 16, 2));
	for (int i = 0; i < 128; i++)
		hb[i] = __float2half(small(i / 16, i % 16, 3)); // column i/16, k i%16
	mma_ldmatrix<<<1, 32>>>(ha, hb, d);
	OK(cudaDeviceSynchronize());
	bad = 0;
	for (int r = 0; r < 16; r++)
		for (int n = 0; n < 8; n++) {
			float want = 0;
			for (int k = 0; k < 16; k++)
				want += small(r, k, 2) * small(n, k, 3);
			if (d[r * 8 + n] != want && !bad) {
				fprintf(stderr, "mma.sync: d[%d][%d] = %g, want %g\n", r, n,
					d[r * 8 + n], want);
				bad = 1;
			}
		}
	printf("mma.sync m16n8k16 with ldmatrix: %s\n", bad ? "wrong" : "exact");
	check_failures += bad;
	run_mma<float, float>("mma.sync m16n8k8 tf32", mma_tf32, 16, 8, 8, 1.0f);
	run_mma<signed char, int>("mma.sync m16n8k32 s8", mma_s8, 16, 8, 32, 2.0f);
	run_mma<double, double>("mma.sync m8n8k4 f64", mma_f64, 8, 8, 4, 1.0f);
	return check_done("wmma");
}
