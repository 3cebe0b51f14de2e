/*
 * Session images on the CPU device: a session built through the real
 * handlers (memory with contents, a module whose variables kernels changed,
 * functions, a stream, an event) is written, released, and read into a new
 * session, which must name everything by the same ids at the same device
 * addresses and compute the same results. Damaged images, and an address
 * taken meanwhile, are refused and leave the new session empty.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "image.h"
#include "log.h"
#include "session.h"
#include "transport.h"

#include "../session_stub.h"

static struct vcuda_backend be;
static struct vcudad_limits limits = {
    .module_bytes = 64u << 20, .session_module_bytes = 128u << 20, .modules = 8, .handles = 256};
static struct session_reply out;

static void session_new(struct session *s)
{
	stub_session_init(s, &be, &limits, "test");
}

static void session_end(struct session *s)
{
	stub_session_end(s);
}

static CUresult serve(struct session *s, Vcuda__Request *rq, const void *payload, size_t len)
{
	struct vcuda_msg m = {.payload = (void *)payload, .payload_len = len};

	memset(&out.rp, 0, sizeof(out.rp));
	vcuda__reply__init(&out.rp);
	return session_dispatch(s, rq, &m, &out);
}

#define REQUEST(rq, NAME, name, msg)                                                               \
	Vcuda__Request rq = VCUDA__REQUEST__INIT;                                                  \
	rq.call_case = VCUDA__REQUEST__CALL_##NAME;                                                \
	rq.name = &(msg)

static uint64_t alloc(struct session *s, uint64_t size)
{
	Vcuda__MemAlloc ma = VCUDA__MEM_ALLOC__INIT;
	REQUEST(rq, MEM_ALLOC, mem_alloc, ma);

	ma.size = size;
	assert_int_equal(serve(s, &rq, NULL, 0), CUDA_SUCCESS);
	return out.rp.mem_alloc->dptr;
}

static uint64_t module_load(struct session *s, const void *fatbin, size_t len)
{
	Vcuda__ModuleLoad ml = VCUDA__MODULE_LOAD__INIT;
	REQUEST(rq, MODULE_LOAD, module_load, ml);

	assert_int_equal(serve(s, &rq, fatbin, len), CUDA_SUCCESS);
	return out.rp.handle->handle;
}

static uint64_t function(struct session *s, uint64_t module, const char *name)
{
	Vcuda__ModuleGetFunction gf = VCUDA__MODULE_GET_FUNCTION__INIT;
	REQUEST(rq, MODULE_GET_FUNCTION, module_get_function, gf);

	gf.module = module;
	gf.name = (char *)name;
	assert_int_equal(serve(s, &rq, NULL, 0), CUDA_SUCCESS);
	return out.rp.handle->handle;
}

static uint64_t global(struct session *s, uint64_t module, const char *name)
{
	Vcuda__ModuleGetGlobal gg = VCUDA__MODULE_GET_GLOBAL__INIT;
	REQUEST(rq, MODULE_GET_GLOBAL, module_get_global, gg);

	gg.module = module;
	gg.name = (char *)name;
	assert_int_equal(serve(s, &rq, NULL, 0), CUDA_SUCCESS);
	return out.rp.global->dptr;
}

static CUresult launch(struct session *s, uint64_t func, unsigned threads, const void *params,
		       size_t len)
{
	Vcuda__Launch l = VCUDA__LAUNCH__INIT;
	REQUEST(rq, LAUNCH, launch, l);

	l.func = func;
	l.grid_x = l.grid_y = l.grid_z = 1;
	l.block_x = threads;
	l.block_y = l.block_z = 1;
	return serve(s, &rq, params, len);
}

static void use_device(struct session *s)
{
	Vcuda__Request rq = VCUDA__REQUEST__INIT;

	assert_int_equal(session_use_device(s, &rq), CUDA_SUCCESS);
}

static uint8_t *fatbin;
static size_t fatbin_len;

static int setup(void **state)
{
	const char *path = getenv("KERNELS"), *dev = getenv("VCUDA_CPU_DEVICE");
	char why[512];
	FILE *f;

	setenv("VCUDA_CPU_MEMORY", "256M", 0);
	vcuda_log_init("test", VCUDA_LEVEL_ERROR, "error");
	if (!path || !dev || !(f = fopen(path, "rb"))) {
		fprintf(stderr,
			"test_image: needs KERNELS and VCUDA_CPU_DEVICE (make check sets them)\n");
		return -1;
	}
	fseek(f, 0, SEEK_END);
	fatbin_len = (size_t)ftell(f);
	rewind(f);
	fatbin = malloc(fatbin_len);
	if (!fatbin || fread(fatbin, 1, fatbin_len, f) != fatbin_len) {
		fclose(f);
		return -1;
	}
	fclose(f);
	if (vcuda_backend_open(VCUDA_BACKEND_CPU, dev, &be, why, sizeof(why)) != 0) {
		fprintf(stderr, "test_image: %s\n", why);
		return -1;
	}
	return 0;
}

/* What the first session held, to compare the second against. */
struct held {
	uint64_t a, b, c, zeros, table, module, vec_add, symbols, stream, event;
	uint64_t gone; /* a freed stream's id: must stay refused */
	float av[1024], bv[1024], tv[8];
};

static void build(struct session *s, struct held *h)
{
	Vcuda__StreamCreate sc = VCUDA__STREAM_CREATE__INIT;
	Vcuda__StreamDestroy sd = VCUDA__STREAM_DESTROY__INIT;
	Vcuda__EventCreate ec = VCUDA__EVENT_CREATE__INIT;
	uint64_t out_buf, params[1];

	h->a = alloc(s, sizeof(h->av));
	h->zeros = alloc(s, 9u << 20); /* past two chunks, all zeros but one byte */
	h->b = alloc(s, sizeof(h->bv));
	h->c = alloc(s, sizeof(h->av));
	h->module = module_load(s, fatbin, fatbin_len);
	h->vec_add = function(s, h->module, "vec_add");
	h->symbols = function(s, h->module, "symbols");
	h->table = global(s, h->module, "table");
	{
		REQUEST(rq, STREAM_CREATE, stream_create, sc);
		sc.flags = CU_STREAM_NON_BLOCKING;
		assert_int_equal(serve(s, &rq, NULL, 0), CUDA_SUCCESS);
		h->gone = out.rp.handle->handle;
		assert_int_equal(serve(s, &rq, NULL, 0), CUDA_SUCCESS);
		h->stream = out.rp.handle->handle;
	}
	{
		REQUEST(rq, STREAM_DESTROY, stream_destroy, sd);
		sd.stream = h->gone;
		assert_int_equal(serve(s, &rq, NULL, 0), CUDA_SUCCESS);
	}
	{
		REQUEST(rq, EVENT_CREATE, event_create, ec);
		ec.flags = CU_EVENT_DISABLE_TIMING;
		assert_int_equal(serve(s, &rq, NULL, 0), CUDA_SUCCESS);
		h->event = out.rp.handle->handle;
	}
	for (int i = 0; i < 1024; i++) {
		h->av[i] = (float)i * 0.5f;
		h->bv[i] = (float)(1024 - i);
	}
	for (int i = 0; i < 8; i++)
		h->tv[i] = (float)(i + 1);
	use_device(s);
	assert_int_equal(be.cuMemcpyHtoD(h->a, h->av, sizeof(h->av)), CUDA_SUCCESS);
	assert_int_equal(be.cuMemcpyHtoD(h->b, h->bv, sizeof(h->bv)), CUDA_SUCCESS);
	assert_int_equal(be.cuMemsetD8(h->zeros, 0, 9u << 20), CUDA_SUCCESS);
	assert_int_equal(be.cuMemsetD8(h->zeros + (5u << 20) + 3, 0x5a, 1), CUDA_SUCCESS);
	assert_int_equal(be.cuMemcpyHtoD(h->table, h->tv, sizeof(h->tv)), CUDA_SUCCESS);
	/* symbols counts its threads in a variable the guest never named */
	out_buf = h->c;
	params[0] = out_buf;
	assert_int_equal(launch(s, h->symbols, 32, params, sizeof(params)), CUDA_SUCCESS);
}

/* An image of s (written with flags) in a memory file, rewound. */
static int image_of(struct session *s, unsigned flags)
{
	int fd = memfd_create("image", 0);
	struct session_image_io io = session_image_fd(&fd);
	char why[256] = "";

	assert_true(fd >= 0);
	if (session_image_write(s, &io, flags, why, sizeof(why)) != 0)
		fail_msg("image not written: %s", why);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

/* The image (written with flags) of a session built and then ended: what
 * a restore starts from. */
static int image_built(struct held *h, unsigned flags)
{
	struct session s;
	int fd;

	session_new(&s);
	build(&s, h);
	fd = image_of(&s, flags);
	session_end(&s);
	return fd;
}

static int image_read(struct session *s, int fd, char *why, size_t len)
{
	struct session_image_io io = session_image_fd(&fd);

	lseek(fd, 0, SEEK_SET);
	return session_image_read(s, &io, why, len);
}

static void check_restored(struct session *s, const struct held *h)
{
	struct {
		uint64_t a, b, c;
		int32_t n;
	} __attribute__((packed)) args = {h->a, h->b, h->c, 1024};
	float cv[1024], tv[8];
	uint8_t probe[3];
	uint64_t params[1] = {h->c};
	int counter = 0;
	uint64_t counter_at;

	assert_non_null(vcuda_handle_get(&s->handles, VCUDA_HT_MODULE, h->module));
	assert_non_null(vcuda_handle_get(&s->handles, VCUDA_HT_STREAM, h->stream));
	assert_non_null(vcuda_handle_get(&s->handles, VCUDA_HT_EVENT, h->event));
	assert_null(vcuda_handle_get(&s->handles, VCUDA_HT_STREAM, h->gone));
	assert_non_null(vcuda_rangemap_find(&s->mem, h->table));
	/* the same ids compute the same results at the same addresses */
	assert_int_equal(launch(s, h->vec_add, 1024, &args, 28), CUDA_SUCCESS);
	use_device(s);
	assert_int_equal(be.cuMemcpyDtoH(cv, h->c, sizeof(cv)), CUDA_SUCCESS);
	for (int i = 0; i < 1024; i++)
		assert_true(cv[i] == h->av[i] + h->bv[i]);
	assert_int_equal(be.cuMemcpyDtoH(tv, h->table, sizeof(tv)), CUDA_SUCCESS);
	assert_memory_equal(tv, h->tv, sizeof(tv));
	assert_int_equal(be.cuMemcpyDtoH(probe, h->zeros + (5u << 20) + 2, 3), CUDA_SUCCESS);
	assert_int_equal(probe[0], 0);
	assert_int_equal(probe[1], 0x5a);
	assert_int_equal(probe[2], 0);
	/* the variable kernels changed kept its value: 32 threads, then 32 more */
	assert_int_equal(launch(s, h->symbols, 32, params, sizeof(params)), CUDA_SUCCESS);
	counter_at = global(s, h->module, "counter");
	use_device(s);
	assert_int_equal(be.cuMemcpyDtoH(&counter, counter_at, sizeof(counter)), CUDA_SUCCESS);
	assert_int_equal(counter, 64);
	/* new handles do not take a restored one's id */
	{
		Vcuda__StreamCreate sc = VCUDA__STREAM_CREATE__INIT;
		REQUEST(rq, STREAM_CREATE, stream_create, sc);
		assert_int_equal(serve(s, &rq, NULL, 0), CUDA_SUCCESS);
		assert_true(out.rp.handle->handle != h->stream &&
			    out.rp.handle->handle != h->event);
	}
}

/* VCUDA_IMAGE_SEED=FILE: the image is also written there, as a seed of
 * the image fuzzer's corpus (tests/fuzz/make-seeds.sh image). */
static void save_seed(int fd)
{
	const char *path = getenv("VCUDA_IMAGE_SEED");
	uint8_t buf[65536];
	ssize_t n;
	FILE *f;

	if (!path)
		return;
	assert_non_null(f = fopen(path, "wb"));
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		assert_int_equal(fwrite(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
}

static void test_round_trip(void **state)
{
	static struct held h;
	struct session s2;
	char why[256] = "";
	int fd;

	fd = image_built(&h, 0);
	save_seed(fd);

	session_new(&s2);
	if (image_read(&s2, fd, why, sizeof(why)) != 0)
		fail_msg("image not read: %s", why);
	check_restored(&s2, &h);
	session_end(&s2);
	close(fd);
}

/* Someone took an address meanwhile: refused, saying where, and the
 * session holds nothing (its context released); once the address is free
 * the same image reads. */
static void test_address_taken(void **state)
{
	static struct held h;
	struct session s2;
	char why[256] = "";
	CUdeviceptr blocker;
	int fd;

	fd = image_built(&h, 0);

	session_new(&s2);
	use_device(&s2);
	assert_int_equal(be.cuMemAlloc(&blocker, 4096), CUDA_SUCCESS);
	assert_int_equal(blocker, h.a); /* first fit: where a was */
	assert_int_not_equal(image_read(&s2, fd, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "cannot place"));
	assert_int_equal(s2.mem.n, 0);
	assert_int_equal(s2.handles.count, 0);
	assert_int_equal(s2.nmodules, 0);
	/* the failed read released the session's context, and the blocker
	 * (in that context) went with it */
	if (image_read(&s2, fd, why, sizeof(why)) != 0)
		fail_msg("image not read: %s", why);
	check_restored(&s2, &h);
	session_end(&s2);
	close(fd);
}

/* An image whose allocations' contents were to come in a memory file (a
 * move with pre-copy) is refused by a device that took no such file: it
 * would otherwise restore the allocations as zeros. */
static void test_memory_file_missing(void **state)
{
	static struct held h;
	struct session s2;
	char why[256] = "";
	int fd;

	fd = image_built(&h, SESSION_IMAGE_MEMORY_FILE);

	session_new(&s2);
	assert_int_not_equal(image_read(&s2, fd, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "memory file"));
	assert_int_equal(s2.mem.n, 0);
	assert_int_equal(s2.handles.count, 0);
	session_end(&s2);
	close(fd);
}

/* Cut short anywhere, or with a foreign header: refused, nothing held. */
static void test_damaged(void **state)
{
	static struct held h;
	struct session s2;
	char why[256];
	uint8_t *bytes;
	off_t len;
	int fd, cut;

	fd = image_built(&h, 0);
	len = lseek(fd, 0, SEEK_END);
	bytes = malloc((size_t)len);
	assert_int_equal(pread(fd, bytes, (size_t)len, 0), len);
	for (int k = 0; k < 8; k++) {
		const off_t cuts[8] = {0, 5, 12, 20, len / 4, len / 2, len - 5, len - 1};
		cut = memfd_create("cut", 0);
		assert_int_equal(write(cut, bytes, (size_t)cuts[k]), cuts[k]);
		session_new(&s2);
		assert_int_not_equal(image_read(&s2, cut, why, sizeof(why)), 0);
		assert_int_equal(s2.mem.n, 0);
		assert_int_equal(s2.handles.count, 0);
		session_end(&s2);
		close(cut);
	}
	bytes[8] = SESSION_IMAGE_VERSION + 1;
	cut = memfd_create("version", 0);
	assert_int_equal(write(cut, bytes, (size_t)len), len);
	session_new(&s2);
	assert_int_not_equal(image_read(&s2, cut, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "version"));
	session_end(&s2);
	close(cut);
	free(bytes);
	close(fd);
}

/* What an image cannot carry yet is refused when writing, saying what. */
static void test_unmovable(void **state)
{
	struct session s;
	char why[256] = "";
	int fd = memfd_create("image", 0);
	struct session_image_io io = session_image_fd(&fd);
	Vcuda__EventCreate ec = VCUDA__EVENT_CREATE__INIT;
	REQUEST(rq, EVENT_CREATE, event_create, ec);

	session_new(&s);
	ec.flags = CU_EVENT_INTERPROCESS | CU_EVENT_DISABLE_TIMING;
	assert_int_equal(serve(&s, &rq, NULL, 0), CUDA_SUCCESS);
	assert_int_not_equal(session_image_write(&s, &io, 0, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "interprocess event"));
	assert_int_equal(lseek(fd, 0, SEEK_END), 0);
	session_end(&s);

	/* an shm:// session: its page-locked memory is in the segment */
	{
		static const struct vcuda_transport_ops shm_ops = {.scheme = "shm",
								   .send = stub_send};
		struct vcuda_chan shm_chan = {&shm_ops};
		session_new(&s);
		s.chan = &shm_chan;
		assert_int_not_equal(session_image_write(&s, &io, 0, why, sizeof(why)), 0);
		assert_non_null(strstr(why, "shm://"));
		assert_int_equal(lseek(fd, 0, SEEK_END), 0);
		session_end(&s);
	}
	close(fd);
}

int main(void)
{
	const char *kernels = getenv("KERNELS");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),		cmocka_unit_test(test_address_taken),
	    cmocka_unit_test(test_memory_file_missing), cmocka_unit_test(test_damaged),
	    cmocka_unit_test(test_unmovable),
	};
	if (!kernels || access(kernels, R_OK) != 0) { /* built without nvcc */
		printf("skipped: no kernels fat binary (KERNELS)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, NULL);
}
