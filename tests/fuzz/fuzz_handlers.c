/*
 * libFuzzer: the server's handlers, behind the decoder. Each input is a
 * session: a sequence of requests, served in order by session_dispatch on
 * the CPU device (VCUDA_CPU_DEVICE, else libcuda.so.1 on the library path),
 * then everything the session holds is released. Whatever a guest sends, a
 * handler must refuse it or run it within the session's own memory and
 * handles; the sanitizers watch the rest.
 *
 * Input: either one request header alone (the protocol corpus), or "VQ"
 * then frames of [u16 header length][u32 payload length][header][payload].
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "session.h"
#include "transport.h"
#include "wire.h"

#include "../session_stub.h"

#define FUZZ_MAX_REQUESTS 64

static struct vcuda_backend be;
static struct vcudad_limits limits = {.module_bytes = 16u << 20,
				      .session_module_bytes = 32u << 20,
				      .modules = 8,
				      .handles = 256,
				      .sessions = 1,
				      .pending_per_peer = 1};
static struct session_reply out;

static int fuzz_backend(void)
{
	static int state; /* 0 not tried, 1 ready, -1 failed */
	char why[512];
	const char *path = getenv("VCUDA_CPU_DEVICE");

	if (state == 0) {
		setenv("VCUDA_CPU_MEMORY", "256M", 0);
		setenv("VCUDA_CPU_KERNEL_TIMEOUT", "2", 0);
		vcuda_log_init("fuzz", VCUDA_LEVEL_ERROR, "error");
		state = vcuda_backend_open(VCUDA_BACKEND_CPU, path ? path : "libcuda.so.1", &be,
					   why, sizeof(why)) == 0
			    ? 1
			    : -1;
		if (state < 0) {
			fprintf(stderr, "fuzz_handlers: no CPU device: %s\n", why);
			abort();
		}
	}
	return state;
}

static void serve(struct session *s, const uint8_t *hdr, size_t hdr_len, const uint8_t *payload,
		  size_t payload_len)
{
	struct vcuda_msg m = {.hdr = (void *)hdr,
			      .hdr_len = hdr_len,
			      .payload = (void *)payload,
			      .payload_len = payload_len};
	Vcuda__Request *rq = vcuda_wire_request(&m);

	if (!rq)
		return;
	memset(&out.rp, 0, sizeof(out.rp));
	vcuda__reply__init(&out.rp);
	/* The token check of attach is the worker's; here every session is
	 * attached, and attach itself must still refuse. */
	session_dispatch(s, rq, &m, &out);
	vcuda__request__free_unpacked(rq, NULL);
}

static uint32_t get(const uint8_t *p, size_t n)
{
	uint32_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct session s;
	int count = 0;

	if (fuzz_backend() < 0)
		return 0;
	stub_session_init(&s, &be, &limits, "fuzz");
	if (size >= 2 && data[0] == 'V' && data[1] == 'Q') {
		size_t at = 2;
		while (at + 6 <= size && count++ < FUZZ_MAX_REQUESTS) {
			size_t h = get(data + at, 2), p = get(data + at + 2, 4);
			at += 6;
			if (h > size - at || p > size - at - h || p > VCUDA_MAX_PAYLOAD)
				break;
			serve(&s, data + at, h, p ? data + at + h : NULL, p);
			at += h + p;
		}
	} else if (size <= VCUDA_MAX_HEADER) {
		serve(&s, data, size, NULL, 0);
	}
	stub_session_end(&s);
	return 0;
}
