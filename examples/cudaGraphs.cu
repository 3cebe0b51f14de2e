// cudaGraphs: an iterative solver step recorded once as a CUDA graph and
// replayed. A Jacobi iteration for a diagonally dominant 1D system
// (x = (x_left + x_right) / 4 + b) is captured from a stream (two sweeps
// and a residual reduction per step), instantiated, and
// launched until the residual is small; a conditional while node then runs
// the same loop with the decision taken on the device. Both are checked
// against the same iteration on the host.
#include <cmath>
#include <cstdio>
#include <cuda_runtime.h>

__global__ void sweep(const float *in, float *out, const float *rhs, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i > 0 && i < n - 1)
		out[i] = 0.25f * (in[i - 1] + in[i + 1]) + rhs[i];
}

__global__ void residual(const float *a, const float *b, float *res, int n)
{
	__shared__ float part[256];
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	part[threadIdx.x] = i < n ? fabsf(a[i] - b[i]) : 0.0f;
	__syncthreads();
	for (int s = blockDim.x / 2; s > 0; s >>= 1) {
		if (threadIdx.x < s)
			part[threadIdx.x] = fmaxf(part[threadIdx.x], part[threadIdx.x + s]);
		__syncthreads();
	}
	if (threadIdx.x == 0)
		atomicMax((int *)res, __float_as_int(part[0])); // non-negative floats order as ints
}

__global__ void decide(const float *res, float tol, cudaGraphConditionalHandle h, int *steps)
{
	steps[0]++;
	if (res[0] < tol)
		cudaGraphSetConditional(h, 0);
}

static void step_host(float *x, float *y, const float *rhs, int n)
{
	for (int i = 1; i < n - 1; i++)
		y[i] = 0.25f * (x[i - 1] + x[i + 1]) + rhs[i];
	for (int i = 1; i < n - 1; i++)
		x[i] = 0.25f * (y[i - 1] + y[i + 1]) + rhs[i];
}

int main()
{
	const int n = 4096, blocks = n / 256;
	const float tol = 1e-5f;
	float *x, *y, *rhs, *res, hres = 1.0f, *hx = new float[n], *hy = new float[n],
						*hrhs = new float[n];
	int *steps, dsteps = 0, launches = 0;
	cudaStream_t s;
	cudaGraph_t g;
	cudaGraphExec_t exec;

	for (int i = 0; i < n; i++) {
		hrhs[i] = (i % 64 == 0) ? 1.0f : 0.0f;
		hx[i] = hy[i] = 0.0f;
	}
	cudaMalloc(&x, n * sizeof(float));
	cudaMalloc(&y, n * sizeof(float));
	cudaMalloc(&rhs, n * sizeof(float));
	cudaMalloc(&res, sizeof(float));
	cudaMalloc(&steps, sizeof(int));
	cudaMemcpy(rhs, hrhs, n * sizeof(float), cudaMemcpyHostToDevice);
	cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);

	// One step, captured: two sweeps, then the largest change.
	cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal);
	sweep<<<blocks, 256, 0, s>>>(x, y, rhs, n);
	sweep<<<blocks, 256, 0, s>>>(y, x, rhs, n);
	cudaMemsetAsync(res, 0, sizeof(float), s);
	residual<<<blocks, 256, 0, s>>>(x, y, res, n);
	cudaMemcpyAsync(&hres, res, sizeof(float), cudaMemcpyDeviceToHost, s);
	cudaStreamEndCapture(s, &g);
	cudaGraphInstantiate(&exec, g, 0);

	for (int pass = 0; pass < 2; pass++) {
		cudaMemsetAsync(x, 0, n * sizeof(float), s);
		cudaMemsetAsync(y, 0, n * sizeof(float), s);
		launches = 0;
		do {
			cudaGraphLaunch(exec, s);
			cudaStreamSynchronize(s);
			launches++;
		} while (hres >= tol && launches < 1000);
	}
	// The host does as many steps.
	for (int k = 0; k < launches; k++)
		step_host(hx, hy, hrhs, n);
	float *gx = new float[n];
	cudaMemcpy(gx, x, n * sizeof(float), cudaMemcpyDeviceToHost);
	double worst = 0;
	for (int i = 0; i < n; i++)
		worst = fmax(worst, fabs(gx[i] - hx[i]));

	// The same loop with the device deciding: a while node.
	cudaGraph_t loop, body;
	cudaGraphExec_t lexec;
	cudaGraphConditionalHandle h;
	cudaGraphNode_t node;
	cudaGraphCreate(&loop, 0);
	cudaGraphConditionalHandleCreate(&h, loop, 1, cudaGraphCondAssignDefault);
	cudaGraphNodeParams p = {};
	p.type = cudaGraphNodeTypeConditional;
	p.conditional.handle = h;
	p.conditional.type = cudaGraphCondTypeWhile;
	p.conditional.size = 1;
	cudaGraphAddNode(&node, loop, nullptr, nullptr, 0, &p);
	body = p.conditional.phGraph_out[0];
	cudaStreamBeginCaptureToGraph(s, body, nullptr, nullptr, 0, cudaStreamCaptureModeGlobal);
	sweep<<<blocks, 256, 0, s>>>(x, y, rhs, n);
	sweep<<<blocks, 256, 0, s>>>(y, x, rhs, n);
	cudaMemsetAsync(res, 0, sizeof(float), s);
	residual<<<blocks, 256, 0, s>>>(x, y, res, n);
	decide<<<1, 1, 0, s>>>(res, tol, h, steps);
	cudaStreamEndCapture(s, &body);
	cudaGraphInstantiate(&lexec, loop, 0);
	cudaMemsetAsync(x, 0, n * sizeof(float), s);
	cudaMemsetAsync(y, 0, n * sizeof(float), s);
	cudaMemsetAsync(steps, 0, sizeof(int), s);
	cudaGraphLaunch(lexec, s);
	cudaMemcpyAsync(&dsteps, steps, sizeof(int), cudaMemcpyDeviceToHost, s);
	cudaStreamSynchronize(s);

	cudaError_t e = cudaGetLastError();
	printf("cudaGraphs: converged in %d launches of a 5-node graph (residual %.2g); "
	       "the while node took %d steps; largest difference from the host %.2g\n",
	       launches, hres, dsteps, worst);
	int ok = e == cudaSuccess && hres < tol && dsteps == launches && worst < 1e-5;
	printf("cudaGraphs: %s\n", ok ? "PASS" : "FAIL");
	cudaGraphExecDestroy(exec);
	cudaGraphExecDestroy(lexec);
	cudaGraphDestroy(g);
	cudaGraphDestroy(loop);
	cudaStreamDestroy(s);
	cudaFree(x);
	cudaFree(y);
	cudaFree(rhs);
	cudaFree(res);
	cudaFree(steps);
	delete[] hx;
	delete[] hy;
	delete[] hrhs;
	delete[] gx;
	return ok ? 0 : 1;
}
