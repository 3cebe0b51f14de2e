// CUDA graphs: a pipeline captured from two streams (fork and join through
// events, copies, a host function, a stream-ordered allocation) launched
// several times with new input; a conditional while loop whose body
// decides on the device when to stop; a graph built node by node, queried,
// updated in place and cloned; and the errors CUDA documents.
#include <cstdio>
#include <cstring>

#include "check.h"

__global__ void fill(int *a, int n, int v)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		a[i] = v + i;
}

__global__ void scale(int *a, int n, int k)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		a[i] *= k;
}

__global__ void add_from(int *dst, const int *src, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		dst[i] += src[i];
}

// The body of a while loop: one step, and the decision to go on.
__global__ void countdown(cudaGraphConditionalHandle h, int *left, int *steps)
{
	steps[0]++;
	if (--left[0] <= 0)
		cudaGraphSetConditional(h, 0);
}

static void sum_host(void *arg)
{
	int *p = (int *)arg; // p[0..7] the data, p[8] the sum
	p[8] = 0;
	for (int i = 0; i < 8; i++)
		p[8] += p[i];
}

static void captured_pipeline()
{
	const int n = 1024;
	int *a, *b, *tmp, in = 0, host[9];
	cudaStream_t s1, s2;
	cudaEvent_t fork, join;
	cudaGraph_t g;
	cudaGraphExec_t x;
	enum cudaStreamCaptureStatus st;

	OK(cudaMalloc(&a, n * sizeof(int)));
	OK(cudaMalloc(&b, n * sizeof(int)));
	OK(cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking));
	OK(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
	OK(cudaEventCreateWithFlags(&fork, cudaEventDisableTiming));
	OK(cudaEventCreateWithFlags(&join, cudaEventDisableTiming));

	EXPECT_ERR(cudaStreamBeginCapture(0, cudaStreamCaptureModeGlobal),
		   cudaErrorStreamCaptureUnsupported);
	OK(cudaStreamBeginCapture(s1, cudaStreamCaptureModeGlobal));
	OK(cudaStreamIsCapturing(s1, &st));
	EXPECT(st == cudaStreamCaptureStatusActive);
	OK(cudaStreamIsCapturing(s2, &st));
	EXPECT(st == cudaStreamCaptureStatusNone);
	// The input is read when the graph runs, not when it was captured.
	OK(cudaMemcpyAsync(a, &in, sizeof(int), cudaMemcpyHostToDevice, s1));
	OK(cudaMallocAsync(&tmp, n * sizeof(int), s1));
	fill<<<n / 256, 256, 0, s1>>>(b, n, 1);
	OK(cudaEventRecord(fork, s1));
	OK(cudaStreamWaitEvent(s2, fork, 0)); // s2 joins the capture
	OK(cudaStreamIsCapturing(s2, &st));
	EXPECT(st == cudaStreamCaptureStatusActive);
	scale<<<n / 256, 256, 0, s2>>>(b, n, 3);
	OK(cudaMemsetAsync(tmp, 0, n * sizeof(int), s1));
	add_from<<<n / 256, 256, 0, s1>>>(tmp, b, n);
	OK(cudaEventRecord(join, s2));
	OK(cudaStreamWaitEvent(s1, join, 0));
	add_from<<<n / 256, 256, 0, s1>>>(tmp, b, n); // after s2's scale
	OK(cudaMemcpyAsync(b, tmp, n * sizeof(int), cudaMemcpyDeviceToDevice, s1));
	OK(cudaFreeAsync(tmp, s1));
	OK(cudaMemcpyAsync(host, b, 8 * sizeof(int), cudaMemcpyDeviceToHost, s1));
	OK(cudaLaunchHostFunc(s1, sum_host, host));
	unsigned long long id = 0;
	size_t ndeps = 0;
	cudaGraph_t during = nullptr;
	const cudaGraphNode_t *deps = nullptr;
	OK(cudaStreamGetCaptureInfo(s1, &st, &id, &during, &deps, nullptr, &ndeps));
	EXPECT(st == cudaStreamCaptureStatusActive && id != 0 && during && ndeps == 1);
	EXPECT_ERR(cudaStreamSynchronize(s1), cudaErrorStreamCaptureUnsupported);
	EXPECT_ERR(cudaStreamEndCapture(s2, &g), cudaErrorStreamCaptureUnmatched);
	// The synchronize above invalidated the capture, as in CUDA.
	EXPECT_ERR(cudaStreamEndCapture(s1, &g), cudaErrorStreamCaptureInvalidated);

	// Again, without the mistake.
	OK(cudaStreamBeginCapture(s1, cudaStreamCaptureModeGlobal));
	OK(cudaMemcpyAsync(a, &in, sizeof(int), cudaMemcpyHostToDevice, s1));
	OK(cudaMallocAsync(&tmp, n * sizeof(int), s1));
	fill<<<n / 256, 256, 0, s1>>>(b, n, 1);
	OK(cudaEventRecord(fork, s1));
	OK(cudaStreamWaitEvent(s2, fork, 0));
	scale<<<n / 256, 256, 0, s2>>>(b, n, 3);
	OK(cudaMemsetAsync(tmp, 0, n * sizeof(int), s1));
	OK(cudaEventRecord(join, s2));
	OK(cudaStreamWaitEvent(s1, join, 0));
	add_from<<<n / 256, 256, 0, s1>>>(tmp, b, n);
	add_from<<<n / 256, 256, 0, s1>>>(tmp, b, n);
	OK(cudaMemcpyAsync(b, tmp, n * sizeof(int), cudaMemcpyDeviceToDevice, s1));
	OK(cudaFreeAsync(tmp, s1));
	OK(cudaMemcpyAsync(host, b, 8 * sizeof(int), cudaMemcpyDeviceToHost, s1));
	OK(cudaLaunchHostFunc(s1, sum_host, host));
	OK(cudaStreamEndCapture(s1, &g));
	unsigned long long held = 0;
	OK(cudaDeviceGetGraphMemAttribute(0, cudaGraphMemAttrUsedMemCurrent, &held));
	EXPECT(held == n * sizeof(int)); // the captured cudaMallocAsync
	OK(cudaStreamIsCapturing(s1, &st));
	EXPECT(st == cudaStreamCaptureStatusNone);
	size_t count = 0;
	OK(cudaGraphGetNodes(g, nullptr, &count));
	EXPECT(count == 11);
	OK(cudaGraphGetRootNodes(g, nullptr, &count));
	EXPECT(count == 1);

	OK(cudaGraphInstantiate(&x, g, 0));
	for (int run = 0; run < 3; run++) {
		in = 100 * run;
		memset(host, 0, sizeof(host));
		OK(cudaGraphLaunch(x, s1));
		OK(cudaStreamSynchronize(s1));
		int sum = 0, first = 0;
		for (int i = 0; i < 8; i++)
			sum += 2 * 3 * (1 + i);
		OK(cudaMemcpy(&first, a, sizeof(int), cudaMemcpyDeviceToHost));
		EXPECT(host[0] == 6 && host[7] == 48 && host[8] == sum);
		EXPECT(first == in);
	}
	OK(cudaGraphExecDestroy(x));
	OK(cudaGraphDestroy(g));
	OK(cudaStreamDestroy(s1));
	OK(cudaStreamDestroy(s2));
	OK(cudaEventDestroy(fork));
	OK(cudaEventDestroy(join));
	OK(cudaFree(a));
	OK(cudaFree(b));
}

static void conditional_while()
{
	cudaGraph_t g, body;
	cudaGraphExec_t x;
	cudaGraphNode_t init, loop, step;
	cudaGraphConditionalHandle h;
	int *left, *steps, got[2] = {0, 0}, start = 5;

	OK(cudaMalloc(&left, sizeof(int)));
	OK(cudaMalloc(&steps, sizeof(int)));
	OK(cudaMemset(steps, 0, sizeof(int)));
	OK(cudaGraphCreate(&g, 0));
	OK(cudaGraphConditionalHandleCreate(&h, g, 1, cudaGraphCondAssignDefault));
	OK(cudaGraphAddMemcpyNode1D(&init, g, nullptr, 0, left, &start, sizeof(int),
				    cudaMemcpyHostToDevice));
	cudaGraphNodeParams p = {};
	p.type = cudaGraphNodeTypeConditional;
	p.conditional.handle = h;
	p.conditional.type = cudaGraphCondTypeWhile;
	p.conditional.size = 1;
	OK(cudaGraphAddNode(&loop, g, &init, nullptr, 1, &p));
	body = p.conditional.phGraph_out[0];
	EXPECT(body != nullptr);
	void *args[] = {&h, &left, &steps};
	cudaKernelNodeParams k = {};
	k.func = (void *)countdown;
	k.gridDim = dim3(1);
	k.blockDim = dim3(1);
	k.kernelParams = args;
	OK(cudaGraphAddKernelNode(&step, body, nullptr, 0, &k));
	OK(cudaGraphInstantiate(&x, g, 0));
	OK(cudaGraphLaunch(x, 0));
	OK(cudaDeviceSynchronize());
	OK(cudaMemcpy(&got[0], steps, sizeof(int), cudaMemcpyDeviceToHost));
	EXPECT(got[0] == 5);
	// Launched again: the condition starts at its default again.
	start = 3;
	OK(cudaGraphLaunch(x, 0));
	OK(cudaDeviceSynchronize());
	OK(cudaMemcpy(&got[1], steps, sizeof(int), cudaMemcpyDeviceToHost));
	EXPECT(got[1] == 8);
	OK(cudaGraphExecDestroy(x));
	OK(cudaGraphDestroy(g));
	OK(cudaFree(left));
	OK(cudaFree(steps));
}

static void built_by_hand()
{
	const int n = 256;
	int *a, out[n];
	cudaGraph_t g, child, copy;
	cudaGraphExec_t x;
	cudaGraphNode_t set, k1, k2, sub, back, found;
	int v = 10, factor = 2;

	OK(cudaMalloc(&a, n * sizeof(int)));
	OK(cudaGraphCreate(&g, 0));
	cudaMemsetParams ms = {};
	ms.dst = a;
	ms.value = 0;
	ms.elementSize = 4;
	ms.width = n;
	ms.height = 1;
	OK(cudaGraphAddMemsetNode(&set, g, nullptr, 0, &ms));
	void *fargs[] = {&a, (void *)&n, &v};
	cudaKernelNodeParams k = {};
	k.func = (void *)fill;
	k.gridDim = dim3(1);
	k.blockDim = dim3(n);
	k.kernelParams = fargs;
	OK(cudaGraphAddKernelNode(&k1, g, &set, 1, &k));
	// A child graph: scale by factor.
	OK(cudaGraphCreate(&child, 0));
	void *sargs[] = {&a, (void *)&n, &factor};
	k.func = (void *)scale;
	k.kernelParams = sargs;
	OK(cudaGraphAddKernelNode(&k2, child, nullptr, 0, &k));
	OK(cudaGraphAddChildGraphNode(&sub, g, &k1, 1, child));
	OK(cudaGraphAddMemcpyNode1D(&back, g, &sub, 1, out, a, sizeof(out), cudaMemcpyDeviceToHost));

	size_t ne = 0;
	cudaGraphNode_t from[4], to[4];
	OK(cudaGraphGetEdges(g, nullptr, nullptr, nullptr, &ne));
	EXPECT(ne == 3);
	ne = 4;
	OK(cudaGraphGetEdges(g, from, to, nullptr, &ne));
	EXPECT(ne == 3 && from[0] == set && to[0] == k1);
	enum cudaGraphNodeType type;
	OK(cudaGraphNodeGetType(sub, &type));
	EXPECT(type == cudaGraphNodeTypeGraph);
	size_t nd = 0;
	OK(cudaGraphNodeGetDependentNodes(k1, nullptr, nullptr, &nd));
	EXPECT(nd == 1);

	// A cycle is refused when instantiating.
	OK(cudaGraphAddDependencies(g, &back, &set, nullptr, 1));
	EXPECT_ERR(cudaGraphInstantiate(&x, g, 0), cudaErrorInvalidValue);
	OK(cudaGraphRemoveDependencies(g, &back, &set, nullptr, 1));

	OK(cudaGraphInstantiate(&x, g, 0));
	OK(cudaGraphLaunch(x, 0));
	OK(cudaStreamSynchronize(0));
	EXPECT(out[0] == 20 && out[n - 1] == 2 * (10 + n - 1));
	// New kernel arguments in the executable graph only.
	int v2 = 1000;
	void *fargs2[] = {&a, (void *)&n, &v2};
	k.func = (void *)fill;
	k.kernelParams = fargs2;
	OK(cudaGraphExecKernelNodeSetParams(x, k1, &k));
	OK(cudaGraphLaunch(x, 0));
	OK(cudaStreamSynchronize(0));
	EXPECT(out[1] == 2002);
	// The graph itself is unchanged: an update from it brings 10 back.
	cudaGraphExecUpdateResultInfo info;
	OK(cudaGraphExecUpdate(x, g, &info));
	EXPECT(info.result == cudaGraphExecUpdateSuccess);
	OK(cudaGraphLaunch(x, 0));
	OK(cudaStreamSynchronize(0));
	EXPECT(out[1] == 22);
	// A node disabled in the executable graph does nothing.
	OK(cudaGraphNodeSetEnabled(x, k1, 0));
	OK(cudaGraphLaunch(x, 0));
	OK(cudaStreamSynchronize(0));
	EXPECT(out[5] == 0);

	// A clone runs the same; its nodes are found from the original's.
	OK(cudaGraphClone(&copy, g));
	OK(cudaGraphNodeFindInClone(&found, k1, copy));
	cudaKernelNodeParams kp;
	OK(cudaGraphKernelNodeGetParams(found, &kp));
	EXPECT(kp.func == (void *)fill && kp.blockDim.x == (unsigned)n);
	OK(cudaGraphKernelNodeSetParams(found, &kp)); // its arguments come back as extra
	OK(cudaGraphDestroyNode(back));
	size_t count = 0;
	OK(cudaGraphGetNodes(g, nullptr, &count));
	EXPECT(count == 3);
	OK(cudaGraphGetNodes(copy, nullptr, &count));
	EXPECT(count == 4);
	cudaGraphExec_t y;
	memset(out, 0, sizeof(out));
	OK(cudaGraphInstantiate(&y, copy, 0));
	OK(cudaGraphLaunch(y, 0));
	OK(cudaStreamSynchronize(0));
	EXPECT(out[3] == 26);
	// A different topology cannot be taken in.
	EXPECT_ERR(cudaGraphExecUpdate(y, g, &info), cudaErrorGraphExecUpdateFailure);
	EXPECT(info.result == cudaGraphExecUpdateErrorTopologyChanged);

	OK(cudaGraphExecDestroy(x));
	OK(cudaGraphExecDestroy(y));
	OK(cudaGraphDestroy(copy));
	OK(cudaGraphDestroy(child));
	OK(cudaGraphDestroy(g));
	OK(cudaFree(a));
}

int main()
{
	captured_pipeline();
	conditional_while();
	built_by_hand();
	return check_done("graphs");
}
