/*
 * Server handlers against a fake backend: what a guest sends is checked
 * (handles, device pointers, argument ranges, bounds) before the backend
 * sees it, and what the backend answers reaches the reply. No process, no
 * transport: requests go straight to session_dispatch.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "session.h"
#include "wire.h"

/* ---- the fake backend: counts calls, hands out fake objects ---------------------- */

static struct {
	int alloc, free, htod, stream_create, stream_destroy, sync, priority, set_limit;
	size_t last_limit;
	uint64_t next_dptr;
} fake;

static int fake_ctx_obj, fake_stream_obj[8], fake_event_obj;

static CUresult fake_retain(CUcontext *c, CUdevice d)
{
	*c = (CUcontext)&fake_ctx_obj;
	return CUDA_SUCCESS;
}

static CUresult fake_release(CUdevice d)
{
	return CUDA_SUCCESS;
}

static CUresult fake_device_get(CUdevice *d, int ordinal)
{
	*d = ordinal;
	return CUDA_SUCCESS;
}

static CUresult fake_set_current(CUcontext c)
{
	return CUDA_SUCCESS;
}

static CUresult fake_alloc(CUdeviceptr *p, size_t n)
{
	fake.alloc++;
	*p = fake.next_dptr;
	fake.next_dptr += (n + 0xfff) & ~(size_t)0xfff;
	return CUDA_SUCCESS;
}

static CUresult fake_free(CUdeviceptr p)
{
	fake.free++;
	return CUDA_SUCCESS;
}

static CUresult fake_htod(CUdeviceptr d, const void *src, size_t n)
{
	fake.htod++;
	return CUDA_SUCCESS;
}

static CUresult fake_stream_create(CUstream *s, unsigned int flags, int prio)
{
	*s = (CUstream)&fake_stream_obj[fake.stream_create++ % 8];
	return CUDA_SUCCESS;
}

static CUresult fake_stream_destroy(CUstream s)
{
	fake.stream_destroy++;
	return CUDA_SUCCESS;
}

/* Events: a fake clock, recorded into them; an event is complete once the
 * test says so, or once it is waited for. */
static struct fake_event {
	uint64_t ms;
	int ready;
} fake_events[2 * SESSION_PACED + 2];
static int fake_nevents, fake_event_syncs;
static uint64_t fake_clock_ms;

static CUresult fake_event_create(CUevent *e, unsigned int flags)
{
	if (fake_nevents == (int)(sizeof(fake_events) / sizeof(*fake_events))) {
		*e = (CUevent)&fake_event_obj;
		return CUDA_SUCCESS;
	}
	*e = (CUevent)&fake_events[fake_nevents++];
	return CUDA_SUCCESS;
}

static CUresult fake_event_record(CUevent e, CUstream st, unsigned flags)
{
	struct fake_event *f = (struct fake_event *)e;

	f->ms = fake_clock_ms;
	f->ready = 0;
	return CUDA_SUCCESS;
}

static CUresult fake_event_query(CUevent e)
{
	return ((struct fake_event *)e)->ready ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

static CUresult fake_event_sync(CUevent e)
{
	fake_event_syncs++;
	((struct fake_event *)e)->ready = 1;
	return CUDA_SUCCESS;
}

static CUresult fake_event_elapsed(float *ms, CUevent a, CUevent b)
{
	*ms = (float)(((struct fake_event *)b)->ms - ((struct fake_event *)a)->ms);
	return CUDA_SUCCESS;
}

static CUresult fake_event_destroy(CUevent e)
{
	return CUDA_SUCCESS;
}

static int fake_arrays, fake_textures, fake_copy3d_rows;
static int fake_array_obj;

static CUresult fake_array_create(CUarray *a, const CUDA_ARRAY3D_DESCRIPTOR *d)
{
	fake_arrays++;
	*a = (CUarray)&fake_array_obj;
	return CUDA_SUCCESS;
}

static CUresult fake_array_destroy(CUarray a)
{
	fake_arrays--;
	return CUDA_SUCCESS;
}

static CUresult fake_tex_create(CUtexObject *t, const CUDA_RESOURCE_DESC *r,
				const CUDA_TEXTURE_DESC *d, const CUDA_RESOURCE_VIEW_DESC *v)
{
	*t = 0x100 + (unsigned)fake_textures++;
	return CUDA_SUCCESS;
}

static CUresult fake_tex_destroy(CUtexObject t)
{
	fake_textures--;
	return CUDA_SUCCESS;
}

static CUresult fake_copy3d(const CUDA_MEMCPY3D *c)
{
	fake_copy3d_rows += (int)c->Height;
	return CUDA_SUCCESS;
}

static int fake_copy2d_rows;

static CUresult fake_copy2d(const CUDA_MEMCPY2D *c)
{
	fake_copy2d_rows += (int)c->Height;
	return CUDA_SUCCESS;
}

/* A channel without a shared heap, as tcp:// and ipc:// are. */
static const struct vcuda_transport_ops fake_chan_ops = {.scheme = "fake"};
static struct vcuda_chan fake_chan = {&fake_chan_ops};

static CUresult fake_stream_sync(CUstream s)
{
	fake.sync++;
	return CUDA_SUCCESS;
}

static CUresult fake_stream_priority(CUstream s, int *prio)
{
	fake.priority++;
	*prio = -3;
	return CUDA_SUCCESS;
}

static CUresult fake_set_limit(CUlimit limit, size_t value)
{
	fake.set_limit++;
	fake.last_limit = value;
	return CUDA_SUCCESS;
}

static struct vcuda_backend be;
static struct vcudad_limits limits;
static struct session s;
static struct session_reply out;

static int setup(void **state)
{
	memset(&fake, 0, sizeof(fake));
	fake.next_dptr = 0x7f0000000000ull;
	memset(&be, 0, sizeof(be));
	be.kind = "fake";
	be.cuDevicePrimaryCtxRetain = fake_retain;
	be.cuCtxSetCurrent = fake_set_current;
	be.cuDevicePrimaryCtxRelease = fake_release;
	be.cuDeviceGet = fake_device_get;
	be.cuMemAlloc = fake_alloc;
	be.cuMemFree = fake_free;
	be.cuMemcpyHtoD = fake_htod;
	be.cuStreamCreateWithPriority = fake_stream_create;
	be.cuStreamDestroy = fake_stream_destroy;
	be.cuEventCreate = fake_event_create;
	be.cuEventDestroy = fake_event_destroy;
	be.cuEventRecordWithFlags = fake_event_record;
	be.cuEventQuery = fake_event_query;
	be.cuEventSynchronize = fake_event_sync;
	be.cuEventElapsedTime = fake_event_elapsed;
	fake_nevents = fake_event_syncs = 0;
	fake_clock_ms = 0;
	be.cuMemcpy2D = fake_copy2d;
	fake_copy2d_rows = 0;
	be.cuArray3DCreate = fake_array_create;
	be.cuArrayDestroy = fake_array_destroy;
	be.cuTexObjectCreate = fake_tex_create;
	be.cuTexObjectDestroy = fake_tex_destroy;
	be.cuMemcpy3D = fake_copy3d;
	fake_arrays = fake_textures = fake_copy3d_rows = 0;
	be.sc.stream_synchronize = fake_stream_sync;
	be.sc.stream_get_priority = fake_stream_priority;
	be.sc.ctx_set_limit = fake_set_limit;
	limits = (struct vcudad_limits){.handles = 4, .modules = 4};
	memset(&s, 0, sizeof(s));
	s.be = &be;
	s.limits = &limits;
	s.peer = "test guest";
	s.chan = &fake_chan;
	s.attached = 1;
	s.ndevices = 1;
	s.current = -1;
	s.report_fd = -1;
	s.ipc_fd = -1;
	vcuda_handle_table_init(&s.handles, limits.handles);
	vcuda_rangemap_init(&s.mem);
	return 0;
}

static int teardown(void **state)
{
	session_release(&s, -1);
	vcuda_handle_table_fini(&s.handles);
	vcuda_rangemap_fini(&s.mem);
	return 0;
}

/* Serves rq (with an optional payload) and returns its result. */
static CUresult serve(Vcuda__Request *rq, const void *payload, size_t len)
{
	struct vcuda_msg m = {.payload = (void *)payload, .payload_len = len};

	memset(&out.rp, 0, sizeof(out.rp));
	vcuda__reply__init(&out.rp);
	return session_dispatch(&s, rq, &m, &out);
}

#define REQUEST(rq, NAME, name, msg)                                                               \
	Vcuda__Request rq = VCUDA__REQUEST__INIT;                                                  \
	rq.call_case = VCUDA__REQUEST__CALL_##NAME;                                                \
	rq.name = &(msg)

static uint64_t alloc(uint64_t size)
{
	Vcuda__MemAlloc ma = VCUDA__MEM_ALLOC__INIT;
	REQUEST(rq, MEM_ALLOC, mem_alloc, ma);

	ma.size = size;
	assert_int_equal(serve(&rq, NULL, 0), CUDA_SUCCESS);
	assert_int_equal(out.rp.ret_case, VCUDA__REPLY__RET_MEM_ALLOC);
	return out.rp.mem_alloc->dptr;
}

static uint64_t stream_create(void)
{
	Vcuda__StreamCreate sc = VCUDA__STREAM_CREATE__INIT;
	REQUEST(rq, STREAM_CREATE, stream_create, sc);
	CUresult r = serve(&rq, NULL, 0);

	if (r != CUDA_SUCCESS)
		return 0;
	assert_int_equal(out.rp.ret_case, VCUDA__REPLY__RET_HANDLE);
	return out.rp.handle->handle;
}

static CUresult scalar(uint32_t op, uint64_t *args, size_t n)
{
	Vcuda__Scalar sc = VCUDA__SCALAR__INIT;
	REQUEST(rq, SCALAR, scalar, sc);

	sc.op = op;
	sc.args = args;
	sc.n_args = n;
	return serve(&rq, NULL, 0);
}

static void test_free_only_what_was_allocated(void **state)
{
	uint64_t p = alloc(4096);
	Vcuda__MemFree mf = VCUDA__MEM_FREE__INIT;
	REQUEST(rq, MEM_FREE, mem_free, mf);

	assert_int_equal(serve(&(Vcuda__Request){0}, NULL, 0) == CUDA_ERROR_NOT_SUPPORTED, 1);
	mf.dptr = p + 16; /* inside, not the start */
	assert_int_equal(serve(&rq, NULL, 0), CUDA_ERROR_INVALID_VALUE);
	mf.dptr = 0x1000; /* never allocated */
	assert_int_equal(serve(&rq, NULL, 0), CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(fake.free, 0);
	mf.dptr = p;
	assert_int_equal(serve(&rq, NULL, 0), CUDA_SUCCESS);
	assert_int_equal(serve(&rq, NULL, 0), CUDA_ERROR_INVALID_VALUE); /* twice */
	assert_int_equal(fake.free, 1);
}

static void test_copy_bounds(void **state)
{
	uint8_t buf[64] = {0};
	uint64_t p = alloc(32);
	Vcuda__MemcpyHtoD c = VCUDA__MEMCPY_HTO_D__INIT;
	REQUEST(rq, MEMCPY_HTOD, memcpy_htod, c);

	c.dst = p;
	c.size = 64; /* past the 32-byte allocation */
	assert_int_equal(serve(&rq, buf, 64), CUDA_ERROR_INVALID_VALUE);
	c.size = 32; /* the payload is not the copy's size */
	assert_int_equal(serve(&rq, buf, 64), CUDA_ERROR_INVALID_VALUE);
	c.dst = p + 16;
	c.size = UINT64_MAX - 8; /* wraps around */
	assert_int_equal(serve(&rq, buf, 64), CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(fake.htod, 0);
	c.dst = p;
	c.size = 32;
	assert_int_equal(serve(&rq, buf, 32), CUDA_SUCCESS);
	assert_int_equal(fake.htod, 1);
}

/* A pitched copy is checked whole before the driver sees it: its extent
 * inside one allocation, its geometry possible and free of overflow, its
 * payload whole rows; the shared heap only where there is one. */
static void test_pitched_bounds(void **state)
{
	uint8_t rows[3 * 16] = {0};
	uint64_t p = alloc(4096); /* room for 4 rows of a 1024-byte pitch */
	Vcuda__MemcpyPitched c = VCUDA__MEMCPY_PITCHED__INIT;
	REQUEST(rq, MEMCPY_PITCHED, memcpy_pitched, c);

	c.kind = 1;
	c.dst = p;
	c.dst_pitch = 1024;
	c.dst_rows = 4;
	c.src_pitch = 16;
	c.src_rows = 3;
	c.width = 16;
	c.height = 3;
	c.depth = 1;
	assert_int_equal(serve(&rq, rows, sizeof(rows)), CUDA_SUCCESS);
	assert_int_equal(fake_copy2d_rows, 3);
	c.height = 5; /* past the allocation */
	assert_int_equal(serve(&rq, rows, sizeof(rows)), CUDA_ERROR_INVALID_VALUE);
	c.height = 3;
	c.dst_pitch = 8; /* rows overlap */
	assert_int_equal(serve(&rq, rows, sizeof(rows)), CUDA_ERROR_INVALID_VALUE);
	c.dst_pitch = UINT64_MAX / 2; /* the extent overflows */
	assert_int_equal(serve(&rq, rows, sizeof(rows)), CUDA_ERROR_INVALID_VALUE);
	c.dst_pitch = 1024;
	c.depth = 2; /* a second slice starts past the allocation */
	assert_int_equal(serve(&rq, rows, sizeof(rows)), CUDA_ERROR_INVALID_VALUE);
	c.depth = 1;
	assert_int_equal(serve(&rq, rows, 20), CUDA_ERROR_INVALID_VALUE); /* not whole rows */
	c.first_row = 2; /* three rows from the third: more than the copy has */
	assert_int_equal(serve(&rq, rows, sizeof(rows)), CUDA_ERROR_INVALID_VALUE);
	c.first_row = 0;
	c.shared = 1; /* no shared heap on this channel */
	assert_int_equal(serve(&rq, NULL, 0), CUDA_ERROR_INVALID_VALUE);
	c.shared = 0;
	c.kind = 7;
	assert_int_equal(serve(&rq, rows, sizeof(rows)), CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(fake_copy2d_rows, 3);
}

/* Arrays: impossible geometry refused; copies checked against the
 * array's own geometry; gone with the session. */
static void test_arrays_checked(void **state)
{
	uint8_t rows[4 * 16] = {0};
	Vcuda__ArrayCreate a = VCUDA__ARRAY_CREATE__INIT;
	Vcuda__MemcpyPitched c = VCUDA__MEMCPY_PITCHED__INIT;
	uint64_t arr;

	{
		REQUEST(rq, ARRAY_CREATE, array_create, a);
		a.format = CU_AD_FORMAT_FLOAT;
		a.channels = 3; /* not 1, 2 or 4 */
		a.width = 4;
		assert_int_equal(serve(&rq, NULL, 0), CUDA_ERROR_INVALID_VALUE);
		a.channels = 1;
		a.width = 1u << 20; /* wider than any array */
		assert_int_equal(serve(&rq, NULL, 0), CUDA_ERROR_INVALID_VALUE);
		a.width = 4;
		a.format = 0x99; /* no such format */
		assert_int_equal(serve(&rq, NULL, 0), CUDA_ERROR_INVALID_VALUE);
		a.format = CU_AD_FORMAT_FLOAT;
		a.flags = 0x40; /* a flag vcuda does not take */
		assert_int_equal(serve(&rq, NULL, 0), CUDA_ERROR_INVALID_VALUE);
		a.flags = 0;
		a.height = 4; /* 4x4 floats: 16-byte rows */
		assert_int_equal(fake_arrays, 0);
		assert_int_equal(serve(&rq, NULL, 0), CUDA_SUCCESS);
		arr = out.rp.handle->handle;
		assert_int_equal(fake_arrays, 1);
	}
	REQUEST(rq, MEMCPY_PITCHED, memcpy_pitched, c);
	c.kind = 1;
	c.dst_array = arr;
	c.src_pitch = 16;
	c.src_rows = 4;
	c.width = 16;
	c.height = 4;
	c.depth = 1;
	assert_int_equal(serve(&rq, rows, sizeof(rows)), CUDA_SUCCESS);
	assert_int_equal(fake_copy3d_rows, 4);
	c.dst_y = 1; /* four rows from the second: past the array */
	assert_int_equal(serve(&rq, rows, sizeof(rows)), CUDA_ERROR_INVALID_VALUE);
	c.dst_y = 0;
	c.dst_x = 4; /* 16 bytes from byte 4 of a 16-byte row */
	assert_int_equal(serve(&rq, rows, sizeof(rows)), CUDA_ERROR_INVALID_VALUE);
	c.dst_x = UINT64_MAX - 8; /* wraps */
	assert_int_equal(serve(&rq, rows, sizeof(rows)), CUDA_ERROR_INVALID_VALUE);
	c.dst_x = 0;
	c.dst_array = arr + 1; /* no such array */
	assert_int_equal(serve(&rq, rows, sizeof(rows)), CUDA_ERROR_INVALID_VALUE);
	c.dst_array = arr;
	c.kind = 2; /* device to host cannot write an array */
	assert_int_equal(serve(&rq, NULL, 0), CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(fake_copy3d_rows, 4);
	session_release(&s, -1);
	assert_int_equal(fake_arrays, 0);
}

/* Textures: over the session's own memory or arrays only; destroyed with
 * the session. */
static void test_textures_checked(void **state)
{
	uint64_t p = alloc(256);
	Vcuda__TexCreate t = VCUDA__TEX_CREATE__INIT;
	REQUEST(rq, TEX_CREATE, tex_create, t);

	t.res_type = CU_RESOURCE_TYPE_LINEAR;
	t.format = CU_AD_FORMAT_FLOAT;
	t.channels = 1;
	t.dptr = p;
	t.size = 512; /* past the allocation */
	assert_int_equal(serve(&rq, NULL, 0), CUDA_ERROR_INVALID_VALUE);
	t.dptr = 0x1000; /* not the session's */
	t.size = 16;
	assert_int_equal(serve(&rq, NULL, 0), CUDA_ERROR_INVALID_VALUE);
	t.dptr = p;
	t.res_type = CU_RESOURCE_TYPE_PITCH2D;
	t.width = 16;
	t.height = 4;
	t.pitch = UINT64_MAX / 2; /* overflows */
	assert_int_equal(serve(&rq, NULL, 0), CUDA_ERROR_INVALID_VALUE);
	t.pitch = 64; /* 4 rows of 64 bytes: the allocation exactly */
	assert_int_equal(serve(&rq, NULL, 0), CUDA_SUCCESS);
	assert_int_equal(out.rp.handle->value, 0x100);
	t.res_type = CU_RESOURCE_TYPE_ARRAY;
	t.array = 12345; /* no such array */
	assert_int_equal(serve(&rq, NULL, 0), CUDA_ERROR_INVALID_HANDLE);
	t.res_type = CU_RESOURCE_TYPE_LINEAR;
	t.size = 16;
	t.n_address_mode = 5; /* more modes than dimensions */
	assert_int_equal(serve(&rq, NULL, 0), CUDA_ERROR_INVALID_VALUE);
	{
		uint32_t modes[3] = {0, 9, 0}; /* no such address mode */
		t.n_address_mode = 3;
		t.address_mode = modes;
		assert_int_equal(serve(&rq, NULL, 0), CUDA_ERROR_INVALID_VALUE);
		t.n_address_mode = 0;
	}
	t.filter_mode = 5; /* no such filter */
	assert_int_equal(serve(&rq, NULL, 0), CUDA_ERROR_INVALID_VALUE);
	t.filter_mode = 0;
	t.channels = 3; /* three channels: no texture format has them */
	assert_int_equal(serve(&rq, NULL, 0), CUDA_ERROR_INVALID_VALUE);
	t.channels = 1;
	t.flags = 0x80; /* a flag vcuda does not take */
	assert_int_equal(serve(&rq, NULL, 0), CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(fake_textures, 1);
	session_release(&s, -1);
	assert_int_equal(fake_textures, 0);
}

/* cudaFreeAsync names the start of one of the session's allocations. */
static void test_free_async_checked(void **state)
{
	uint64_t p = alloc(64), args[2] = {p + 8, 0};

	assert_int_equal(scalar(VCUDA_OP_mem_free_async, args, 2), CUDA_ERROR_INVALID_VALUE);
	args[0] = 0x1234000;
	assert_int_equal(scalar(VCUDA_OP_mem_free_async, args, 2), CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(fake.free, 0);
}

static void test_device_checked(void **state)
{
	Vcuda__CtxInit ci = VCUDA__CTX_INIT__INIT;
	REQUEST(rq, CTX_INIT, ctx_init, ci);

	rq.device = 1;
	assert_int_equal(serve(&rq, NULL, 0), CUDA_ERROR_INVALID_DEVICE);
	rq.device = -1;
	assert_int_equal(serve(&rq, NULL, 0), CUDA_ERROR_INVALID_DEVICE);
	rq.device = 0;
	assert_int_equal(serve(&rq, NULL, 0), CUDA_SUCCESS);
}

static void test_handle_quota(void **state)
{
	uint64_t h[4];

	for (int i = 0; i < 4; i++)
		assert_true((h[i] = stream_create()) != 0);
	assert_int_equal(stream_create(), 0);	  /* limits.handles is 4 */
	assert_int_equal(fake.stream_destroy, 1); /* the fifth was given back */
	(void)h;
}

static void test_scalar_decodes_and_checks(void **state)
{
	uint64_t st = stream_create(), arg;

	arg = st;
	assert_int_equal(scalar(VCUDA_OP_stream_get_priority, &arg, 1), CUDA_SUCCESS);
	assert_int_equal(out.rp.ret_case, VCUDA__REPLY__RET_SCALAR);
	assert_int_equal(out.rp.scalar->n_outs, 1);
	assert_int_equal((int32_t)out.rp.scalar->outs[0], -3);
	assert_int_equal(fake.priority, 1);

	arg = st + 1; /* no such stream */
	assert_int_equal(scalar(VCUDA_OP_stream_get_priority, &arg, 1), CUDA_ERROR_INVALID_HANDLE);
	arg = st;
	assert_int_equal(scalar(VCUDA_OP_stream_get_priority, &arg, 0), CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(scalar(999999, &arg, 1), CUDA_ERROR_NOT_SUPPORTED);
	assert_int_equal(fake.priority, 1);

	/* A stream id is not an event. */
	assert_int_equal(scalar(VCUDA_OP_event_synchronize, &arg, 1), CUDA_ERROR_INVALID_HANDLE);
	/* The legacy default stream (0) needs no handle. */
	arg = 0;
	assert_int_equal(scalar(VCUDA_OP_stream_synchronize, &arg, 1), CUDA_SUCCESS);
	assert_int_equal(fake.sync, 1);
	/* cudaStreamGetDevice is answered from the session's table. */
	arg = st;
	assert_int_equal(scalar(VCUDA_OP_stream_get_device, &arg, 1), CUDA_SUCCESS);
	assert_int_equal(out.rp.scalar->n_outs, 1);
	assert_int_equal(out.rp.scalar->outs[0], 0);
	arg = 0;
	/* A call whose driver function the backend lacks. */
	assert_int_equal(scalar(VCUDA_OP_stream_query, &arg, 1), CUDA_ERROR_NOT_SUPPORTED);
}

static void test_scalar_int_ranges(void **state)
{
	uint64_t args[2];

	args[0] = (uint64_t)INT32_MAX + 1; /* the limit is an int */
	args[1] = 4096;
	assert_int_equal(scalar(VCUDA_OP_ctx_set_limit, args, 2), CUDA_ERROR_INVALID_VALUE);
	args[0] = (uint64_t)(int64_t)-1; /* -1 fits an int: the driver judges it */
	assert_int_equal(scalar(VCUDA_OP_ctx_set_limit, args, 2), CUDA_SUCCESS);
	assert_int_equal(fake.set_limit, 1);
}

static void test_set_limit_bounded(void **state)
{
	uint64_t args[2] = {CU_LIMIT_STACK_SIZE, 1ull << 30};

	assert_int_equal(scalar(VCUDA_OP_ctx_set_limit, args, 2), CUDA_ERROR_INVALID_VALUE);
	args[0] = CU_LIMIT_PRINTF_FIFO_SIZE;
	args[1] = 1ull << 40;
	assert_int_equal(scalar(VCUDA_OP_ctx_set_limit, args, 2), CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(fake.set_limit, 0);
	args[1] = 1u << 20;
	assert_int_equal(scalar(VCUDA_OP_ctx_set_limit, args, 2), CUDA_SUCCESS);
	assert_int_equal(fake.set_limit, 1);
	assert_int_equal(fake.last_limit, 1u << 20);
}

static void test_release_frees_everything(void **state)
{
	alloc(100);
	alloc(200);
	stream_create();
	session_release(&s, -1);
	assert_int_equal(fake.free, 2);
	assert_int_equal(fake.stream_destroy, 1);
	assert_int_equal(s.mem.n, 0);
}

/* Paced device time: each queued kernel is timed with its own events and
 * charged once they say it ran; at most SESSION_PACED are queued unmeasured
 * (the oldest is waited for); a launch that failed is not counted as
 * queued. */
static void test_paced_kernels_charged_when_run(void **state)
{
	int fd;
	struct vcuda_sched *r = vcuda_sched_create(2, 2, VCUDA_SCHED_PACED, &fd);
	struct vcuda_sched_client *c;
	int k;

	assert_non_null(r);
	vcuda_sched_set_client(r, 0, 1, 0, 0);
	vcuda_sched_open(r, 0, 0);
	s.sched = r;
	s.sched_slot = 0;
	c = vcuda_sched_client(r, 0);
	for (int i = 0; i < SESSION_PACED; i++) {
		assert_true((k = session_paced_begin(&s, 0, NULL)) >= 0);
		fake_clock_ms += 2;
		session_paced_end(&s, k, NULL, CUDA_SUCCESS);
	}
	assert_int_equal(vcuda_sched_session(r, 0)->inflight, SESSION_PACED);
	assert_int_equal(c->kernels, SESSION_PACED);
	assert_int_equal(c->kernel_ns, 0); /* none has run yet */
	assert_int_equal(fake_event_syncs, 0);
	/* Full: the oldest is waited for and charged. */
	assert_true((k = session_paced_begin(&s, 0, NULL)) >= 0);
	assert_int_equal(fake_event_syncs, 1);
	assert_int_equal(c->kernel_ns, 2000000);
	fake_clock_ms += 2;
	session_paced_end(&s, k, NULL, CUDA_SUCCESS);
	for (int i = 0; i < fake_nevents; i++)
		fake_events[i].ready = 1;
	session_paced_collect(&s);
	assert_int_equal(c->kernel_ns, (SESSION_PACED + 1) * 2000000ull);
	assert_int_equal(vcuda_sched_session(r, 0)->inflight, 0);
	assert_true(vcuda_sched_session(r, 0)->vtime > 0);
	/* A launch that failed leaves nothing queued. */
	assert_true((k = session_paced_begin(&s, 0, NULL)) >= 0);
	session_paced_end(&s, k, NULL, CUDA_ERROR_INVALID_VALUE);
	assert_int_equal(vcuda_sched_session(r, 0)->inflight, 0);
	assert_int_equal(s.paced.head, s.paced.tail);
	s.sched = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_free_only_what_was_allocated, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_copy_bounds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pitched_bounds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_async_checked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_arrays_checked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_textures_checked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_device_checked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_handle_quota, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scalar_decodes_and_checks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scalar_int_ranges, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_limit_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_release_frees_everything, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_paced_kernels_charged_when_run, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
