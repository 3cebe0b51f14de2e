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

static struct vcuda_backend be;
static struct vcudad_limits limits = {
    .module_bytes = 16u << 20, .session_module_bytes = 32u << 20, .modules = 8, .handles = 256};

static int null_send(struct vcuda_chan *c, const void *hdr, size_t hdr_len, const void *payload,
		     size_t payload_len, unsigned flags)
{
	if (flags == VCUDA_SEND_GIFT)
		free((void *)payload);
	return 0;
}

static const struct vcuda_transport_ops null_ops = {.scheme = "null", .send = null_send};
static struct vcuda_chan null_chan = {&null_ops};

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
	memset(&s, 0, sizeof(s));
	s.be = &be;
	s.chan = &null_chan;
	s.limits = &limits;
	s.peer = "fuzz";
	s.attached = 1;
	s.current = -1;
	s.report_fd = s.ipc_fd = -1;
	s.ndevices = 1;
	vcuda_handle_table_init(&s.handles, limits.handles);
	vcuda_rangemap_init(&s.mem);
	session_image_read(&s, &io, why, sizeof(why));
	session_release(&s, -1);
	vcuda_handle_table_fini(&s.handles);
	vcuda_rangemap_fini(&s.mem);
	return 0;
}
