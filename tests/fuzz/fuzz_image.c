/*
 * libFuzzer: the session image reader (server/image.c). Each input is an
 * image, read into a fresh session on the CPU device (VCUDA_CPU_DEVICE,
 * else libcuda.so.1 on the library path), then released. An image comes
 * from another server or a file: whatever it holds, the reader must refuse
 * it or build state within the session's limits; the sanitizers watch the
 * rest.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "log.h"
#include "session.h"
#include "transport.h"

#include "../session_stub.h"

static struct vcuda_backend be;
static struct vcudad_limits limits = {
    .module_bytes = 16u << 20, .session_module_bytes = 32u << 20, .modules = 8, .handles = 256};

struct input {
	const uint8_t *p;
	size_t left;
};

static int input_read(void *arg, void *p, size_t n)
{
	struct input *in = arg;

	if (n > in->left)
		return -1;
	memcpy(p, in->p, n);
	in->p += n;
	in->left -= n;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int state; /* 0 not tried, 1 ready */
	struct input in = {data, size};
	struct session_image_io io = {.read = input_read, .arg = &in};
	struct session s;
	char why[512];

	if (state == 0) {
		const char *path = getenv("VCUDA_CPU_DEVICE");
		setenv("VCUDA_CPU_MEMORY", "256M", 0);
		setenv("VCUDA_CPU_KERNEL_TIMEOUT", "2", 0);
		vcuda_log_init("fuzz", VCUDA_LEVEL_ERROR, "error");
		if (vcuda_backend_open(VCUDA_BACKEND_CPU, path ? path : "libcuda.so.1", &be, why,
				       sizeof(why)) != 0) {
			fprintf(stderr, "fuzz_image: no CPU device: %s\n", why);
			abort();
		}
		state = 1;
	}
	stub_session_init(&s, &be, &limits, "fuzz");
	session_image_read(&s, &io, why, sizeof(why));
	stub_session_end(&s);
	return 0;
}
