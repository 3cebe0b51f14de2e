/*
 * The cost of remoting, each figure next to a baseline measured in the same
 * run: a synchronous CUDA call against a raw round trip on the same kind of
 * channel, copies through the shim against memcpy in this process.
 *   bench_remoting --server URL [--short]
 * The program links the shim as its libcudart.so, as an unmodified CUDA
 * program would find it on the library path.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cuda_runtime_api.h>

#include "transport.h"
#include "util.h"

static double seconds(uint64_t t0)
{
	return (double)(vcuda_now_ns() - t0) / 1e9;
}

static void *echo_main(void *arg)
{
	struct vcuda_chan *c = arg;
	struct vcuda_msg m;

	while (vcuda_chan_recv(c, &m, 2000) == 0) {
		vcuda_chan_send(c, m.hdr, m.hdr_len, NULL, 0, 0);
		vcuda_chan_release(c, &m);
	}
	return NULL;
}

/* Round trips per second on a raw channel of the server URL's kind. */
static double raw_round_trips(const char *server_url, int n)
{
	char url[256];
	struct vcuda_chan *srv, *cli;
	struct vcuda_msg m;
	pthread_t echo;
	uint64_t t0;
	double s;

	if (strncmp(server_url, "tcp://", 6) == 0)
		snprintf(url, sizeof(url), "tcp://127.0.0.1:*");
	else
		snprintf(url, sizeof(url), "ipc:///tmp/vcuda-bench-%d", (int)getpid());
	if (vcuda_chan_bind(url, &srv) != 0 ||
	    vcuda_chan_connect(vcuda_chan_endpoint(srv), &cli) != 0)
		return 0;
	pthread_create(&echo, NULL, echo_main, srv);
	/* Warm up: the connection is made on first use. */
	vcuda_chan_send(cli, "ping", 4, NULL, 0, 0);
	vcuda_chan_recv(cli, &m, 5000);
	vcuda_chan_release(cli, &m);
	t0 = vcuda_now_ns();
	for (int i = 0; i < n; i++) {
		vcuda_chan_send(cli, "ping", 4, NULL, 0, 0);
		if (vcuda_chan_recv(cli, &m, 5000) != 0)
			return 0;
		vcuda_chan_release(cli, &m);
	}
	s = seconds(t0);
	vcuda_chan_close(cli);
	pthread_join(echo, NULL);
	vcuda_chan_close(srv);
	if (url[0] == 'i')
		unlink(url + 6);
	return n / s;
}

static int expect(int ok, const char *what)
{
	if (!ok)
		printf("FAIL: %s\n", what);
	return !ok;
}

static double shim_round_trips(int n)
{
	uint64_t t0 = vcuda_now_ns();

	for (int i = 0; i < n; i++)
		if (cudaStreamQuery(0) != cudaSuccess)
			return 0;
	return n / seconds(t0);
}

/* Asynchronous calls posted per second, counted until the device has them all. */
static double shim_posts(int n, void *d)
{
	uint64_t t0 = vcuda_now_ns();

	for (int i = 0; i < n; i++)
		cudaMemsetAsync(d, i, 4, 0);
	cudaDeviceSynchronize();
	return n / seconds(t0);
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

int main(int argc, char **argv)
{
	const char *url = NULL;
	int quick = 0, trips, reps;
	size_t n;
	void *d, *pinned;
	char *a, *b;
	double raw, rt, post, base;
	int failures = 0;

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
	trips = quick ? 300 : 5000;
	n = (quick ? 8u : 64u) << 20;
	reps = quick ? 2 : 5;
	if (cudaMalloc(&d, n) != cudaSuccess || cudaMallocHost(&pinned, n) != cudaSuccess) {
		fprintf(stderr, "bench_remoting: no device at %s\n", url);
		return 1;
	}
	a = malloc(n);
	b = malloc(n);
	memset(a, 1, n);
	memset(b, 2, n);
	memset(pinned, 3, n);
	printf("vcuda remoting benchmark, server %s%s\n\n", url, quick ? " (short)" : "");
	raw = raw_round_trips(url, trips);
	rt = shim_round_trips(trips);
	printf("%-34s %12.0f /s   baseline raw channel round trip %10.0f /s   ratio %.2f\n",
	       "synchronous call (cudaStreamQuery)", rt, raw, raw / rt);
	post = shim_posts(trips * 4, d);
	printf("%-34s %12.0f /s   (%.2f per raw round trip)\n", "posted call (cudaMemsetAsync)",
	       post, post / raw);
	/* What a run must show, whatever the machine: every call worked, a
	 * synchronous call costs a small multiple of the channel's own round
	 * trip, and posting beats waiting (the point of the ordered queue). */
	failures += expect(raw > 0 && rt > 0 && post > 0, "a call failed");
	failures += expect(rt * 20 > raw, "a synchronous call costs over 20 raw round trips");
	failures += expect(post > rt, "posted calls are no faster than synchronous ones");
	{
		unsigned char last = 0;
		failures += expect(cudaMemcpy(&last, d, 1, cudaMemcpyDeviceToHost) == cudaSuccess &&
				       last == (unsigned char)(trips * 4 - 1),
				   "posted memsets ran out of order");
	}
	base = copy_rate(b, a, n, cudaMemcpyHostToHost, reps);
	printf("\n%zu MiB copies; baseline memcpy in this process: %.0f MB/s\n", n >> 20, base);
	struct {
		const char *name;
		void *dst;
		const void *src;
		enum cudaMemcpyKind kind;
	} runs[] = {
	    {"host to device, pageable", d, a, cudaMemcpyHostToDevice},
	    {"host to device, pinned", d, pinned, cudaMemcpyHostToDevice},
	    {"device to host, pageable", b, d, cudaMemcpyDeviceToHost},
	    {"device to host, pinned", pinned, d, cudaMemcpyDeviceToHost},
	};
	for (size_t i = 0; i < sizeof(runs) / sizeof(*runs); i++) {
		double r = copy_rate(runs[i].dst, runs[i].src, n, runs[i].kind, reps);
		printf("  %-32s %8.0f MB/s   memcpy/this %.2f\n", runs[i].name, r,
		       r > 0 ? base / r : 0);
		failures += expect(r > 0, runs[i].name);
	}
	/* The pinned buffer's bytes (3) went to the device and came back into b. */
	failures += expect(((unsigned char *)b)[0] == 3 && memcmp(b, b + 1, n - 1) == 0,
			   "data changed on its way through the device");
	cudaFree(d);
	cudaFreeHost(pinned);
	free(a);
	free(b);
	return failures ? 1 : 0;
}
