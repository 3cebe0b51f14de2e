/*
 * The guest runtime against a fake client: what the shim checks itself
 * (before anything is sent), what it sends, and how it reports what comes
 * back, as CUDA documents: out-pointers, handles of this process only, the
 * failure of a posted call at the next synchronizing call and never as
 * another call's result, cudaErrorNotReady as an answer. The shim's own
 * files are linked here with this file's vcuda_client_* in place of
 * remoting/client.c.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cuda.h>

#include "calls.h"
#include "client.h"
#include "shim.h"

/* ---- the fake client ------------------------------------------------------------- */

static struct {
	int calls, posts;
	int call_case;	  /* of the last request */
	uint32_t op;	  /* its scalar op */
	uint64_t args[8]; /* its scalar args */
	size_t nargs;
	int32_t result, deferred; /* what the next reply says */
	uint64_t outs[4];	  /* its scalar out-values */
	size_t nouts;
	uint64_t handle; /* its handle, for a create */
	int shared;	 /* a copy's: through the shared heap */
	uint64_t host_offset;
	size_t payload_len;
	int heap_frees;
} fake;

/* A shared heap, as an shm:// session has: a bump allocator. */
static _Alignas(4096) uint8_t fake_heap[1 << 20];
static size_t fake_heap_used;

static Vcuda__AttachReply fake_info = VCUDA__ATTACH_REPLY__INIT;
static Vcuda__DeviceInfo fake_dev = VCUDA__DEVICE_INFO__INIT;
static Vcuda__DeviceInfo *fake_devs[1] = {&fake_dev};
static int32_t fake_attrs[CU_DEVICE_ATTRIBUTE_MAX];
static int fake_client_obj;

int vcuda_client_connect(const struct vcuda_client_opts *o, struct vcuda_client **out, char *why,
			 size_t why_len)
{
	for (int a = 0; a < CU_DEVICE_ATTRIBUTE_MAX; a++)
		fake_attrs[a] = 1;
	fake_attrs[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK] = 1024;
	fake_dev.name = "fake device";
	fake_dev.total_mem = 1u << 30;
	fake_dev.n_attributes = CU_DEVICE_ATTRIBUTE_MAX;
	fake_dev.attributes = fake_attrs;
	fake_info.n_devices = 1;
	fake_info.devices = fake_devs;
	fake_info.driver_version = 13000;
	fake_info.backend = "fake";
	*out = (struct vcuda_client *)&fake_client_obj;
	return 0;
}

void vcuda_client_close(struct vcuda_client *c)
{
}

const Vcuda__AttachReply *vcuda_client_info(const struct vcuda_client *c)
{
	return &fake_info;
}

void *vcuda_client_host_alloc(struct vcuda_client *c, size_t n)
{
	void *p;

	if (n > sizeof(fake_heap) - fake_heap_used)
		return NULL;
	p = fake_heap + fake_heap_used;
	fake_heap_used += (n + 4095) & ~(size_t)4095;
	return p;
}

int vcuda_client_has_heap(struct vcuda_client *c)
{
	return 1;
}

int vcuda_client_host_free(struct vcuda_client *c, void *p)
{
	fake.heap_frees++;
	return 0;
}

int vcuda_client_host_offset(struct vcuda_client *c, const void *p, size_t n, uint64_t *off)
{
	if ((const uint8_t *)p < fake_heap || (const uint8_t *)p >= fake_heap + fake_heap_used ||
	    n > (size_t)(fake_heap + fake_heap_used - (const uint8_t *)p))
		return -1;
	*off = (uint64_t)((const uint8_t *)p - fake_heap);
	return 0;
}

static void fake_record(const Vcuda__Request *rq)
{
	fake.call_case = (int)rq->call_case;
	if (rq->call_case == VCUDA__REQUEST__CALL_MEMCPY_HTOD) {
		fake.shared = rq->memcpy_htod->shared;
		fake.host_offset = rq->memcpy_htod->host_offset;
	} else if (rq->call_case == VCUDA__REQUEST__CALL_MEMCPY_DTOH) {
		fake.shared = rq->memcpy_dtoh->shared;
		fake.host_offset = rq->memcpy_dtoh->host_offset;
	}
	if (rq->call_case == VCUDA__REQUEST__CALL_SCALAR) {
		fake.op = rq->scalar->op;
		fake.nargs = rq->scalar->n_args;
		memcpy(fake.args, rq->scalar->args, rq->scalar->n_args * sizeof(uint64_t));
	}
}

int vcuda_client_call_into(struct vcuda_client *c, Vcuda__Request *rq, const void *payload,
			   size_t payload_len, unsigned flags, const struct vcuda_recv *recv,
			   Vcuda__Reply **reply)
{
	Vcuda__Reply *rp = calloc(1, sizeof(*rp));
	Vcuda__ScalarReply *sr = calloc(1, sizeof(*sr));
	Vcuda__HandleReply *hr = calloc(1, sizeof(*hr));

	fake.calls++;
	fake_record(rq);
	fake.payload_len = payload ? payload_len : 0;
	vcuda__reply__init(rp);
	vcuda__scalar_reply__init(sr);
	vcuda__handle_reply__init(hr);
	rp->result = fake.result;
	rp->deferred = fake.deferred;
	fake.result = fake.deferred = 0;
	if (rq->call_case == VCUDA__REQUEST__CALL_SCALAR) {
		sr->n_outs = fake.nouts;
		sr->outs = fake.outs;
		rp->ret_case = VCUDA__REPLY__RET_SCALAR;
		rp->scalar = sr;
		free(hr);
	} else if (fake.handle) {
		hr->handle = fake.handle;
		rp->ret_case = VCUDA__REPLY__RET_HANDLE;
		rp->handle = hr;
		free(sr);
	} else {
		free(sr);
		free(hr);
	}
	*reply = rp;
	return 0;
}

int vcuda_client_post_into(struct vcuda_client *c, Vcuda__Request *rq, const void *payload,
			   size_t payload_len, unsigned flags, const struct vcuda_recv *recv)
{
	fake.posts++;
	fake_record(rq);
	return 0;
}

void vcuda_client_reply_free(Vcuda__Reply *r)
{
	if (!r)
		return;
	/* ret is a union: one member at most was allocated. */
	if (r->ret_case == VCUDA__REPLY__RET_SCALAR)
		free(r->scalar);
	else if (r->ret_case == VCUDA__REPLY__RET_HANDLE)
		free(r->handle);
	free(r);
}

struct vcuda_chan *vcuda_client_channel(struct vcuda_client *c)
{
	return NULL;
}

int vcuda_client_lost(const struct vcuda_client *c)
{
	return 0;
}

/* ---- tests -------------------------------------------------------------------------- */

/* Handle ids as the server makes them: the type in the top byte. */
#define STREAM_ID(n) ((1ull << 56) | (n))
#define EVENT_ID(n)  ((2ull << 56) | (n))

static int setup(void **state)
{
	memset(&fake, 0, sizeof(fake));
	cudaGetLastError();
	return 0;
}

static cudaStream_t new_stream(uint64_t id)
{
	cudaStream_t s = NULL;

	fake.handle = id;
	assert_int_equal(cudaStreamCreate(&s), cudaSuccess);
	fake.handle = 0;
	assert_ptr_equal(s, (void *)(uintptr_t)id);
	return s;
}

static void test_out_pointer_checked_first(void **state)
{
	int n = fake.calls;

	assert_int_equal(cudaStreamGetPriority(0, NULL), cudaErrorInvalidValue);
	assert_int_equal(cudaDeviceGetLimit(NULL, cudaLimitStackSize), cudaErrorInvalidValue);
	assert_int_equal(fake.calls, n); /* nothing was sent */
	assert_int_equal(cudaGetLastError(), cudaErrorInvalidValue);
}

static void test_scalar_packed_and_unpacked(void **state)
{
	int prio = 0;
	size_t v = 0;

	fake.nouts = 1;
	fake.outs[0] = (uint32_t)-2;
	assert_int_equal(cudaStreamGetPriority(0, &prio), cudaSuccess);
	assert_int_equal(fake.call_case, VCUDA__REQUEST__CALL_SCALAR);
	assert_int_equal(fake.op, VCUDA_OP_stream_get_priority);
	assert_int_equal(fake.nargs, 1);
	assert_int_equal(fake.args[0], 0); /* the legacy default stream */
	assert_int_equal(prio, -2);
	fake.outs[0] = 1ull << 33; /* a size_t wider than 32 bits */
	assert_int_equal(cudaDeviceGetLimit(&v, cudaLimitMallocHeapSize), cudaSuccess);
	assert_int_equal(fake.args[0], cudaLimitMallocHeapSize);
	assert_int_equal(v, 1ull << 33);
}

static void test_float_out(void **state)
{
	cudaEvent_t a, b;
	float ms = 0, want = 1.5f;
	uint32_t bits;

	fake.handle = EVENT_ID(0x01);
	assert_int_equal(cudaEventCreate(&a), cudaSuccess);
	fake.handle = EVENT_ID(0x02);
	assert_int_equal(cudaEventCreate(&b), cudaSuccess);
	fake.handle = 0;
	memcpy(&bits, &want, 4);
	fake.nouts = 1;
	fake.outs[0] = bits;
	assert_int_equal(cudaEventElapsedTime(&ms, a, b), cudaSuccess);
	assert_true(ms == 1.5f);
	assert_int_equal(fake.args[0], EVENT_ID(0x01));
	assert_int_equal(fake.args[1], EVENT_ID(0x02));
}

static void test_foreign_handles_refused_in_guest(void **state)
{
	int n = fake.calls, p = fake.posts;

	assert_int_equal(cudaStreamSynchronize((cudaStream_t)(uintptr_t)0x12345),
			 cudaErrorInvalidResourceHandle);
	assert_int_equal(cudaEventQuery((cudaEvent_t)(uintptr_t)0x999),
			 cudaErrorInvalidResourceHandle);
	assert_int_equal(cudaStreamWaitEvent(0, (cudaEvent_t)(uintptr_t)0x999, 0),
			 cudaErrorInvalidResourceHandle);
	assert_int_equal(fake.calls, n);
	assert_int_equal(fake.posts, p);
}

static void test_posted_failure_reported_later(void **state)
{
	cudaStream_t s = new_stream(STREAM_ID(0x07));
	cudaEvent_t ev;
	size_t v;

	fake.handle = EVENT_ID(0x09);
	assert_int_equal(cudaEventCreate(&ev), cudaSuccess);
	fake.handle = 0;
	assert_int_equal(cudaStreamWaitEvent(s, ev, 0), cudaSuccess);
	assert_int_equal(fake.call_case, VCUDA__REQUEST__CALL_SCALAR);
	assert_int_equal(fake.op, VCUDA_OP_stream_wait_event);
	/* The next reply says the posted call failed: that call's own result
	 * still stands, the failure is the last error... */
	fake.deferred = CUDA_ERROR_INVALID_VALUE;
	fake.nouts = 1;
	assert_int_equal(cudaDeviceGetLimit(&v, cudaLimitStackSize), cudaSuccess);
	assert_int_equal(cudaPeekAtLastError(), cudaErrorInvalidValue);
	/* ...and the next synchronizing call returns it. */
	assert_int_equal(cudaStreamSynchronize(s), cudaErrorInvalidValue);
	assert_int_equal(cudaStreamSynchronize(s), cudaSuccess);
}

static void test_not_ready_is_an_answer(void **state)
{
	cudaStream_t s = new_stream(STREAM_ID(0x08));

	fake.result = CUDA_ERROR_NOT_READY;
	assert_int_equal(cudaStreamQuery(s), cudaErrorNotReady);
	assert_int_equal(cudaGetLastError(), cudaSuccess);
	fake.result = CUDA_ERROR_INVALID_HANDLE;
	assert_int_equal(cudaStreamQuery(s), cudaErrorInvalidResourceHandle);
	assert_int_equal(cudaGetLastError(), cudaErrorInvalidResourceHandle);
}

static void test_per_thread_stream(void **state)
{
	fake.nouts = 1;
	assert_int_equal(cudaStreamSynchronize_ptsz(0), cudaSuccess);
	assert_int_equal(fake.args[0], 2); /* the per-thread default stream */
	assert_int_equal(cudaStreamSynchronize(0), cudaSuccess);
	assert_int_equal(fake.args[0], 0);
	assert_int_equal(cudaStreamSynchronize(cudaStreamPerThread), cudaSuccess);
	assert_int_equal(fake.args[0], 2);
}

/* Page-locked memory over a session with a shared heap comes from it, and
 * copies from and to it carry its offset, not its bytes; pageable memory
 * travels as payload. */
static void test_pinned_copies_shared(void **state)
{
	struct vcuda_range r = {.base = 0x1000000, .size = 1u << 20};
	static uint8_t pageable[4096];
	uint8_t *h;

	assert_int_equal(cudaMallocHost((void **)&h, 8192), cudaSuccess);
	assert_true(h >= fake_heap && h < fake_heap + sizeof(fake_heap));
	assert_int_equal(vcuda_rangemap_insert(&shim.dmem, &r), 0);
	assert_int_equal(cudaMemcpy((void *)0x1000000, h + 4096, 4096, cudaMemcpyHostToDevice),
			 cudaSuccess);
	assert_int_equal(fake.call_case, VCUDA__REQUEST__CALL_MEMCPY_HTOD);
	assert_true(fake.shared);
	assert_int_equal(fake.host_offset, (uint64_t)(h + 4096 - fake_heap));
	assert_int_equal(fake.payload_len, 0);
	assert_int_equal(cudaMemcpy(h, (void *)0x1000000, 8192, cudaMemcpyDeviceToHost),
			 cudaSuccess);
	assert_int_equal(fake.call_case, VCUDA__REQUEST__CALL_MEMCPY_DTOH);
	assert_true(fake.shared);
	assert_int_equal(fake.host_offset, (uint64_t)(h - fake_heap));
	/* Pageable memory: its bytes travel. */
	assert_int_equal(cudaMemcpy((void *)0x1000000, pageable, 4096, cudaMemcpyHostToDevice),
			 cudaSuccess);
	assert_false(fake.shared);
	assert_int_equal(fake.payload_len, 4096);
	assert_int_equal(cudaFreeHost(h), cudaSuccess);
	assert_int_equal(fake.heap_frees, 1);
	vcuda_rangemap_remove(&shim.dmem, 0x1000000, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_out_pointer_checked_first, setup),
	    cmocka_unit_test_setup(test_scalar_packed_and_unpacked, setup),
	    cmocka_unit_test_setup(test_float_out, setup),
	    cmocka_unit_test_setup(test_foreign_handles_refused_in_guest, setup),
	    cmocka_unit_test_setup(test_posted_failure_reported_later, setup),
	    cmocka_unit_test_setup(test_not_ready_is_an_answer, setup),
	    cmocka_unit_test_setup(test_per_thread_stream, setup),
	    cmocka_unit_test_setup(test_pinned_copies_shared, setup),
	};

	setenv("VCUDA_SERVER", "ipc:///nonexistent/fake", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
