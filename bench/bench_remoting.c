/*
 * The cost of remoting over one transport, each figure beside a baseline
 * measured in the same run:
 * - a synchronous CUDA call against a raw round trip on the same medium: a
 *   spin ping-pong between two processes through shared memory (shm://),
 *   or a request and reply on a raw channel of the same kind (ipc://, tcp://);
 * - an empty kernel launch, amortized (launches posted, then one
 *   synchronize), against that synchronous call and the raw round trip;
 * - a graph of 100 empty kernels (captured from a stream), per kernel,
 *   against the same 100 launches posted one by one;
 * - managed memory: a 4 MiB array the host writes whole, then a kernel
 *   (empty: it makes the host's copy stale all the same), then the host
 *   reads whole, against the same round with explicit copies each way;
 * - copies of 64 KiB to 256 MiB both ways, from pageable and page-locked
 *   memory, against memcpy in this process (shm://) or the raw channel's
 *   own throughput for the same size (ipc://, tcp://).
 *   bench_remoting --server URL [--short]
 * The program links the shim as its libcudart.so, as an unmodified CUDA
 * program would find it on the library path. Any wrong result fails the
 * run (exit 1).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cuda_runtime_api.h>

#include "transport.h"
#include "util.h"

/* The fat binary of bench/empty.cu, embedded (bench/embed.sh); empty when
 * the build had no nvcc. */
extern const unsigned char vcuda_bench_fatbin[];
extern const size_t vcuda_bench_fatbin_len;

/* What nvcc's generated code calls to register a kernel (the shim has them). */
void **__cudaRegisterFatBinary(void *fat_cubin);
void __cudaRegisterFatBinaryEnd(void **handle);
void __cudaRegisterFunction(void **handle, const char *host_fun, char *device_fun,
			    const char *device_name, int thread_limit, uint3 *tid, uint3 *bid,
			    dim3 *bdim, dim3 *gdim, int *wsize);

static int failures;

static void expect(int ok, const char *what)
{
	if (!ok) {
		printf("FAIL: %s\n", what);
		failures++;
	}
}

static double seconds(uint64_t t0)
{
	return (double)(vcuda_now_ns() - t0) / 1e9;
}

/* ---- baselines ------------------------------------------------------------------- */

/* Seconds per round trip of a spin ping-pong between this process and a
 * child through a shared page: the floor of any shared-memory transport. */
static double shm_ping_pong(int n)
{
	uint64_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t *ping = w, *pong = w + 16, t0;
	pid_t pid;
	double s;

	if (w == MAP_FAILED)
		return 0;
	if ((pid = fork()) == 0) {
		for (uint64_t i = 1; i <= (uint64_t)n + 100; i++) {
			while (__atomic_load_n(ping, __ATOMIC_ACQUIRE) != i)
				;
			__atomic_store_n(pong, i, __ATOMIC_RELEASE);
		}
		_exit(0);
	}
	if (pid < 0)
		return 0;
	t0 = 0;
	for (uint64_t i = 1; i <= (uint64_t)n + 100; i++) {
		if (i == 101)
			t0 = vcuda_now_ns(); /* after a warm-up */
		__atomic_store_n(ping, i, __ATOMIC_RELEASE);
		while (__atomic_load_n(pong, __ATOMIC_ACQUIRE) != i)
			;
	}
	s = seconds(t0) / n;
	waitpid(pid, NULL, 0);
	munmap(w, 4096);
	return s;
}

/* A raw channel of the server URL's kind, and a thread on its other end
 * that answers each message with its header (echo) or, for bulk data,
 * counts bytes and answers once a whole transfer has arrived. */
struct raw {
	struct vcuda_chan *srv, *cli;
	pthread_t peer;
	char url[256];
	size_t transfer; /* bulk: bytes per answer; 0: echo */
};

static void *raw_peer_main(void *arg)
{
	struct raw *r = arg;
	struct vcuda_msg m;
	size_t got = 0;

	/* Until its peer closes (the vcuda figures may take minutes between
	 * two of its transfers). */
	while (vcuda_chan_recv(r->srv, &m, -1) == 0) {
		if (m.hdr_len == 4 && memcmp(m.hdr, "bulk", 4) == 0) {
			r->transfer = *(const uint64_t *)m.payload;
			got = 0;
		} else if (!r->transfer) {
			vcuda_chan_send(r->srv, m.hdr, m.hdr_len, NULL, 0, 0);
		} else if ((got += m.payload_len) >= r->transfer) {
			vcuda_chan_send(r->srv, "done", 4, NULL, 0, 0);
			got = 0;
		}
		vcuda_chan_release(r->srv, &m);
	}
	return NULL;
}

static int raw_open(struct raw *r, const char *server_url)
{
	memset(r, 0, sizeof(*r));
	if (strncmp(server_url, "tcp://", 6) == 0)
		snprintf(r->url, sizeof(r->url), "tcp://127.0.0.1:*");
	else
		snprintf(r->url, sizeof(r->url), "ipc:///tmp/vcuda-bench-%d", (int)getpid());
	if (vcuda_chan_bind(r->url, &r->srv) != 0 ||
	    vcuda_chan_connect(vcuda_chan_endpoint(r->srv), &r->cli) != 0 ||
	    pthread_create(&r->peer, NULL, raw_peer_main, r) != 0)
		return -1;
	return 0;
}

static void raw_close(struct raw *r)
{
	vcuda_chan_close(r->cli);
	pthread_join(r->peer, NULL);
	vcuda_chan_close(r->srv);
	if (r->url[0] == 'i')
		unlink(r->url + 6);
}

static int raw_wait(struct raw *r)
{
	struct vcuda_msg m;

	if (vcuda_chan_recv(r->cli, &m, 10000) != 0)
		return -1;
	vcuda_chan_release(r->cli, &m);
	return 0;
}

/* Seconds per request-reply on the raw channel. */
static double raw_round_trip(struct raw *r, int n)
{
	uint64_t t0 = 0;

	for (int i = 0; i < n + 100; i++) {
		if (i == 100)
			t0 = vcuda_now_ns();
		if (vcuda_chan_send(r->cli, "ping", 4, NULL, 0, 0) != 0 || raw_wait(r) != 0)
			return 0;
	}
	return seconds(t0) / n;
}

/* MB/s of transfers of n bytes on the raw channel, in chunks as vcuda's. */
static double raw_throughput(struct raw *r, const char *buf, size_t n, int reps)
{
	uint64_t size = n, t0;

	if (vcuda_chan_send(r->cli, "bulk", 4, &size, sizeof(size), 0) != 0)
		return 0;
	t0 = vcuda_now_ns();
	for (int i = 0; i < reps; i++) {
		for (size_t off = 0; off < n; off += VCUDA_MAX_PAYLOAD) {
			size_t len = n - off < VCUDA_MAX_PAYLOAD ? n - off : VCUDA_MAX_PAYLOAD;
			if (vcuda_chan_send(r->cli, "data", 4, buf + off, len, VCUDA_SEND_BORROW) !=
			    0)
				return 0;
		}
		if (raw_wait(r) != 0)
			return 0;
	}
	return (double)n * reps / seconds(t0) / 1e6;
}

/* ---- vcuda ------------------------------------------------------------------------- */

static double sync_call(int n)
{
	uint64_t t0 = 0;

	for (int i = 0; i < n + 100; i++) {
		if (i == 100)
			t0 = vcuda_now_ns();
		if (cudaStreamQuery(0) != cudaSuccess)
			return 0;
	}
	return seconds(t0) / n;
}

static void bench_empty_stub(void)
{
}

/* Seconds per empty kernel launch, posted n at a time; 0 without a kernel. */
static double empty_launch(int n)
{
	static struct {
		int magic, version;
		const void *data;
		void *unused;
	} wrapper = {0x466243b1, 1, vcuda_bench_fatbin, NULL};
	void **h;
	uint64_t t0;
	dim3 one = {1, 1, 1};

	if (!vcuda_bench_fatbin_len)
		return 0;
	h = __cudaRegisterFatBinary(&wrapper);
	__cudaRegisterFunction(h, (const char *)bench_empty_stub, "vcuda_bench_empty",
			       "vcuda_bench_empty", -1, NULL, NULL, NULL, NULL, NULL);
	__cudaRegisterFatBinaryEnd(h);
	/* The first launch loads the module. */
	if (cudaLaunchKernel((const void *)bench_empty_stub, one, one, NULL, 0, 0) != cudaSuccess ||
	    cudaDeviceSynchronize() != cudaSuccess)
		return -1;
	t0 = vcuda_now_ns();
	for (int i = 0; i < n; i++)
		if (cudaLaunchKernel((const void *)bench_empty_stub, one, one, NULL, 0, 0) !=
		    cudaSuccess)
			return -1;
	if (cudaDeviceSynchronize() != cudaSuccess)
		return -1;
	return seconds(t0) / n;
}

/* Seconds per kernel of a captured graph of 100 empty kernels, launched
 * reps times, then one synchronize; 0 without a kernel (empty_launch
 * registered it). */
static double graph_launch(int reps)
{
	cudaStream_t s;
	cudaGraph_t g;
	cudaGraphExec_t x;
	dim3 one = {1, 1, 1};
	uint64_t t0;
	int ok;

	if (!vcuda_bench_fatbin_len)
		return 0;
	if (cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) != cudaSuccess ||
	    cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal) != cudaSuccess)
		return -1;
	for (int i = 0; i < 100; i++)
		if (cudaLaunchKernel((const void *)bench_empty_stub, one, one, NULL, 0, s) !=
		    cudaSuccess)
			return -1;
	if (cudaStreamEndCapture(s, &g) != cudaSuccess ||
	    cudaGraphInstantiate(&x, g, 0) != cudaSuccess || cudaGraphLaunch(x, s) != cudaSuccess ||
	    cudaStreamSynchronize(s) != cudaSuccess)
		return -1;
	t0 = vcuda_now_ns();
	for (int i = 0; i < reps; i++)
		if (cudaGraphLaunch(x, s) != cudaSuccess)
			return -1;
	ok = cudaStreamSynchronize(s) == cudaSuccess;
	t0 = vcuda_now_ns() - t0;
	cudaGraphExecDestroy(x);
	cudaGraphDestroy(g);
	cudaStreamDestroy(s);
	return ok ? (double)t0 / 1e9 / reps / 100 : -1;
}

/* Seconds per round of host write, kernel, host read over n bytes:
 * managed memory (managed = 1) or explicit copies; 0 without a kernel. */
static double managed_round(size_t n, int reps, int managed)
{
	dim3 one = {1, 1, 1};
	unsigned char *m = NULL, *h = NULL, *d = NULL;
	uint64_t t0 = 0;
	volatile unsigned sum = 0;
	int ok = 1;

	if (!vcuda_bench_fatbin_len)
		return 0;
	if (managed ? cudaMallocManaged((void **)&m, n, cudaMemAttachGlobal) != cudaSuccess
		    : (cudaMalloc((void **)&d, n) != cudaSuccess || !(h = malloc(n))))
		return -1;
	for (int r = -1; r < reps && ok; r++) { /* round -1 warms up */
		unsigned char *p = managed ? m : h;
		if (r == 0)
			t0 = vcuda_now_ns();
		for (size_t i = 0; i < n; i += 64)
			p[i] = (unsigned char)(i + (size_t)r);
		ok = (managed || cudaMemcpy(d, h, n, cudaMemcpyHostToDevice) == cudaSuccess) &&
		     cudaLaunchKernel((const void *)bench_empty_stub, one, one, NULL, 0, 0) ==
			 cudaSuccess &&
		     cudaDeviceSynchronize() == cudaSuccess &&
		     (managed || cudaMemcpy(h, d, n, cudaMemcpyDeviceToHost) == cudaSuccess);
		for (size_t i = 0; ok && i < n; i += 64)
			sum += p[i];
		ok = ok && p[64] == (unsigned char)(64 + (size_t)r);
	}
	t0 = vcuda_now_ns() - t0;
	cudaFree(managed ? (void *)m : (void *)d);
	free(h);
	return ok ? (double)t0 / 1e9 / reps : -1;
}

static double copy_rate(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind, int reps)
{
	uint64_t t0 = vcuda_now_ns();

	for (int i = 0; i < reps; i++)
		if (kind == cudaMemcpyHostToHost ? (memcpy(dst, src, n), 0)
						 : cudaMemcpy(dst, src, n, kind))
			return 0;
	return (double)n * reps / seconds(t0) / 1e6;
}

static void machine(void)
{
	char line[256], model[200] = "?";
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
			snprintf(model, sizeof(model), "%s", strchr(line, ':') + 2);
			model[strcspn(model, "\n")] = 0;
			break;
		}
	if (f)
		fclose(f);
	printf("machine: %ld cores, %s\n", sysconf(_SC_NPROCESSORS_ONLN), model);
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = {64u << 10, 1u << 20, 16u << 20, 256u << 20};
	const char *url = NULL;
	int quick = 0, shm, trips;
	size_t max, nsizes;
	void *d, *pinned;
	char *a, *b;
	double raw_rt, rt, launch, graph, mround, cround;
	struct raw raw;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
			url = argv[++i];
		else if (strcmp(argv[i], "--short") == 0)
			quick = 1;
	}
	if (!url) {
		fprintf(stderr, "usage: bench_remoting --server URL [--short]\n");
		return 2;
	}
	setenv("VCUDA_SERVER", url, 1);
	shm = strncmp(url, "shm://", 6) == 0;
	trips = quick ? 500 : 20000;
	nsizes = quick ? 3 : 4; /* the short run stops at 16 MiB */
	max = sizes[nsizes - 1];
	if (cudaMalloc(&d, max) != cudaSuccess || cudaMallocHost(&pinned, max) != cudaSuccess) {
		fprintf(stderr, "bench_remoting: no device at %s, or no room for %zu MiB\n", url,
			max >> 20);
		return 1;
	}
	a = malloc(max);
	b = malloc(max);
	if (!a || !b)
		return 1;
	memset(a, 1, max);
	memset(b, 2, max);
	memset(pinned, 3, max);
	/* The device's memory too is touched once before it is measured (the
	 * CPU device's pages are the host's). */
	if (cudaMemset(d, 0, max) != cudaSuccess || cudaDeviceSynchronize() != cudaSuccess)
		return 1;
	printf("vcuda remoting benchmark, server %s%s\n", url, quick ? " (short)" : "");
	machine();
	if (!shm && raw_open(&raw, url) != 0) {
		fprintf(stderr, "bench_remoting: no raw channel for the baseline\n");
		return 1;
	}
	raw_rt = shm ? shm_ping_pong(trips) : raw_round_trip(&raw, trips);
	rt = sync_call(trips);
	launch = empty_launch(trips);
	graph = launch > 0 ? graph_launch(trips / 100 > 1 ? trips / 100 : 2) : launch;
	mround = launch > 0 ? managed_round(4u << 20, quick ? 4 : 50, 1) : launch;
	cround = launch > 0 ? managed_round(4u << 20, quick ? 4 : 50, 0) : launch;
	printf("\n%-44s %10s   %-34s %10s   %s\n", "", "vcuda", "baseline", "", "ratio");
	printf("%-44s %8.2f us   %-34s %8.2f us   %.2f\n", "synchronous call (cudaStreamQuery)",
	       rt * 1e6, shm ? "raw shared-memory ping-pong" : "raw channel round trip",
	       raw_rt * 1e6, rt / raw_rt);
	if (launch > 0) {
		printf("%-44s %8.2f us   %-34s %8.2f us   %.2f\n", "empty kernel launch, amortized",
		       launch * 1e6, "synchronous call", rt * 1e6, launch / rt);
		printf("%-44s %8s      %-34s %8.2f us   %.3f\n", "", "", "raw round trip",
		       raw_rt * 1e6, launch / raw_rt);
		if (graph > 0)
			printf("%-44s %8.2f us   %-34s %8.2f us   %.2f\n",
			       "100-kernel graph launch, per kernel", graph * 1e6,
			       "100 posted launches, per kernel", launch * 1e6, graph / launch);
		if (mround > 0 && cround > 0)
			printf("%-44s %8.0f us   %-34s %8.0f us   %.2f\n",
			       "4 MiB managed: write, kernel, read", mround * 1e6,
			       "the same with cudaMemcpy each way", cround * 1e6, mround / cround);
	} else {
		printf("%-44s %s\n", "empty kernel launch, amortized",
		       launch < 0 ? "FAILED" : "skipped (built without nvcc)");
	}
	/* What any run must show, however busy the machine (the ratios are for
	 * a quiet one): every call worked and every result is right. */
	expect(raw_rt > 0 && rt > 0 && launch >= 0 && graph >= 0 && mround >= 0 && cround >= 0,
	       "a call failed");
	{
		unsigned char last = 0;
		for (int i = 0; i < 1000; i++)
			cudaMemsetAsync(d, i, 4, 0);
		expect(cudaMemcpy(&last, d, 1, cudaMemcpyDeviceToHost) == cudaSuccess &&
			   last == (unsigned char)999,
		       "posted memsets ran out of order");
	}
	printf("\n%-44s %10s   %-34s %10s   %s\n", "copies", "vcuda", "baseline", "", "ratio");
	for (size_t s = 0; s < nsizes; s++) {
		size_t n = sizes[s];
		int reps = (int)((quick ? 64ull : 512ull) * 1024 * 1024 / n);
		double base;
		char what[64];
		struct {
			const char *name;
			void *dst;
			const void *src;
			enum cudaMemcpyKind kind;
		} runs[] = {
		    {"to device, pageable", d, a, cudaMemcpyHostToDevice},
		    {"to device, page-locked", d, pinned, cudaMemcpyHostToDevice},
		    {"from device, pageable", b, d, cudaMemcpyDeviceToHost},
		    {"from device, page-locked", pinned, d, cudaMemcpyDeviceToHost},
		};
		if (reps < 2)
			reps = 2;
		base = shm ? copy_rate(b, a, n, cudaMemcpyHostToHost, reps)
			   : raw_throughput(&raw, a, n, reps);
		for (size_t i = 0; i < sizeof(runs) / sizeof(*runs); i++) {
			double r = copy_rate(runs[i].dst, runs[i].src, n, runs[i].kind, reps);
			if (n >= (1u << 20))
				snprintf(what, sizeof(what), "%4zu MiB %s", n >> 20, runs[i].name);
			else
				snprintf(what, sizeof(what), "%4zu KiB %s", n >> 10, runs[i].name);
			printf("%-44s %7.0f MB/s   %-34s %7.0f MB/s   %.2f\n", what, r,
			       shm ? "memcpy" : "raw channel", base, base > 0 ? r / base : 0);
			expect(r > 0 && base > 0, what);
		}
	}
	/* The page-locked bytes (3) went to the device and came back into b. */
	expect(((unsigned char *)b)[0] == 3 && memcmp(b, b + 1, max - 1) == 0,
	       "data changed on its way through the device");
	if (!shm)
		raw_close(&raw);
	cudaFree(d);
	cudaFreeHost(pinned);
	free(a);
	free(b);
	return failures ? 1 : 0;
}
