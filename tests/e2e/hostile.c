/*
 * A hostile client: sends vcudad what no shim would (malformed handshakes,
 * a wrong session token, pointers it does not own, lengths that lie, forged
 * handles, garbage) and checks that each is refused with an error while the
 * server goes on. Usage: hostile URL
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include <cuda.h>

#include "calls.h"
#include "client.h"
#include "curve.h"
#include "error.h"
#include "hostile.h"
#include "transport.h"
#include "vcuda.pb-c.h"
#include "wire.h"

int failures;

void hostile_keys(void *sock, const char *url)
{
	struct vcuda_curve k;
	char why[256];

	if (strncmp(url, "tcp://", 6) == 0 && vcuda_curve_from_env(&k, why, sizeof(why)) == 1)
		vcuda_curve_apply(sock, &k, 0);
}

/* One raw message to the listener; returns the reply's status, or 1 if none came. */
static int raw_hello(const char *url, const void *buf, size_t len, char *msg, size_t msg_len)
{
	void *s = zmq_socket(vcuda_zmq_context(), ZMQ_DEALER);
	int linger = 0, status = 1, n;
	uint8_t reply[2048];
	zmq_pollitem_t item = {s, 0, ZMQ_POLLIN, 0};
	Vcuda__HelloReply *hr;

	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	hostile_keys(s, url);
	zmq_connect(s, url);
	zmq_send(s, buf, len, 0);
	if (zmq_poll(&item, 1, 5000) == 1 && (n = zmq_recv(s, reply, sizeof(reply), 0)) > 0 &&
	    (hr = vcuda__hello_reply__unpack(NULL, (size_t)n, reply)) != NULL) {
		status = hr->status;
		if (msg)
			snprintf(msg, msg_len, "%s", hr->message);
		vcuda__hello_reply__free_unpacked(hr, NULL);
	}
	zmq_close(s);
	return status;
}

static void bad_handshakes(const char *url)
{
	Vcuda__Hello h = VCUDA__HELLO__INIT;
	uint8_t buf[256], junk[64];
	char msg[512] = "";
	size_t n;

	memset(junk, 0xff, sizeof(junk));
	EXPECT(raw_hello(url, junk, sizeof(junk), NULL, 0) == VCUDA_E_PROTO);
	h.protocol_version = 999;
	h.hostname = "hostile";
	h.program = "hostile";
	n = vcuda__hello__pack(&h, buf);
	EXPECT(raw_hello(url, buf, n, msg, sizeof(msg)) == VCUDA_E_VERSION);
	EXPECT(strstr(msg, "upgrade") != NULL);
}

/* Sends rq on c's channel and returns the reply's CUresult (status in *status). */
int call(struct vcuda_client *c, Vcuda__Request *rq, const void *payload, size_t len, int *status)
{
	Vcuda__Reply *rp = NULL;
	static uint8_t sink[1 << 20];
	int rc = vcuda_client_call(c, rq, payload, len, 0, sink, sizeof(sink), &rp), r;

	if (rc) {
		*status = rc;
		return -1;
	}
	*status = rp->status;
	r = rp->result;
	vcuda_client_reply_free(rp);
	return r;
}

struct vcuda_client *session(const char *url)
{
	struct vcuda_client_opts o = {url, 5000, 13000, "hostile"};
	struct vcuda_client *c = NULL;
	char why[256];

	if (vcuda_client_connect(&o, &c, why, sizeof(why)) != 0) {
		fprintf(stderr, "cannot connect: %s\n", why);
		failures++;
	}
	return c;
}

static void lying_requests(struct vcuda_client *c)
{
	int st;
	uint8_t data[4096] = {0};
	uint64_t dptr;

	{ /* an allocation to aim near */
		Vcuda__MemAlloc m = VCUDA__MEM_ALLOC__INIT;
		Vcuda__Reply *rp = NULL;
		m.size = 4096;
		REQ(rq, MEM_ALLOC, mem_alloc, m);
		EXPECT(vcuda_client_call(c, &rq, NULL, 0, 0, NULL, 0, &rp) == 0 && rp->result == 0);
		dptr = rp && rp->mem_alloc ? rp->mem_alloc->dptr : 0;
		vcuda_client_reply_free(rp);
	}
	{ /* free what was never allocated, or the middle of an allocation */
		Vcuda__MemFree m = VCUDA__MEM_FREE__INIT;
		REQ(rq, MEM_FREE, mem_free, m);
		m.dptr = 0x1000;
		EXPECT(call(c, &rq, NULL, 0, &st) == CUDA_ERROR_INVALID_VALUE);
		m.dptr = dptr + 8;
		EXPECT(call(c, &rq, NULL, 0, &st) == CUDA_ERROR_INVALID_VALUE);
	}
	{ /* copies to memory the session does not own, or with lying sizes */
		Vcuda__MemcpyHtoD m = VCUDA__MEMCPY_HTO_D__INIT;
		REQ(rq, MEMCPY_HTOD, memcpy_htod, m);
		m.dst = 0x7f0000000000ull;
		m.size = sizeof(data);
		EXPECT(call(c, &rq, data, sizeof(data), &st) == CUDA_ERROR_INVALID_VALUE);
		m.dst = dptr + 1;
		EXPECT(call(c, &rq, data, sizeof(data), &st) == CUDA_ERROR_INVALID_VALUE);
		m.dst = dptr;
		m.size = 1u << 30; /* more than the payload */
		EXPECT(call(c, &rq, data, sizeof(data), &st) == CUDA_ERROR_INVALID_VALUE);
	}
	{
		Vcuda__MemcpyDtoH m = VCUDA__MEMCPY_DTO_H__INIT;
		REQ(rq, MEMCPY_DTOH, memcpy_dtoh, m);
		m.src = dptr;
		m.size = UINT64_MAX;
		EXPECT(call(c, &rq, NULL, 0, &st) == CUDA_ERROR_INVALID_VALUE);
	}
	{
		Vcuda__MemcpyDtoD m = VCUDA__MEMCPY_DTO_D__INIT;
		REQ(rq, MEMCPY_DTOD, memcpy_dtod, m);
		m.dst = dptr;
		m.src = dptr + 4000;
		m.size = 200;
		EXPECT(call(c, &rq, NULL, 0, &st) == CUDA_ERROR_INVALID_VALUE);
	}
	{
		Vcuda__Memset m = VCUDA__MEMSET__INIT;
		REQ(rq, MEMSET, memset, m);
		m.dst = dptr;
		m.elem_size = 3;
		m.count = 1;
		EXPECT(call(c, &rq, NULL, 0, &st) == CUDA_ERROR_INVALID_VALUE);
		m.elem_size = 4;
		m.count = 1ull << 62; /* wraps when multiplied */
		EXPECT(call(c, &rq, NULL, 0, &st) == CUDA_ERROR_INVALID_VALUE);
	}
	{ /* more memory than there is */
		Vcuda__MemAlloc m = VCUDA__MEM_ALLOC__INIT;
		REQ(rq, MEM_ALLOC, mem_alloc, m);
		m.size = 1ull << 60;
		EXPECT(call(c, &rq, NULL, 0, &st) == CUDA_ERROR_OUT_OF_MEMORY);
	}
}

static void forged_handles(struct vcuda_client *c)
{
	int st;
	Vcuda__EventCreate ec = VCUDA__EVENT_CREATE__INIT;
	Vcuda__Reply *rp = NULL;
	uint64_t event = 0;
	REQ(create, EVENT_CREATE, event_create, ec);

	if (vcuda_client_call(c, &create, NULL, 0, 0, NULL, 0, &rp) == 0 && rp->handle)
		event = rp->handle->handle;
	vcuda_client_reply_free(rp);
	EXPECT(event != 0);
	{
		uint64_t arg = 0xdeadbeef;
		Vcuda__Scalar m = VCUDA__SCALAR__INIT;
		REQ(rq, SCALAR, scalar, m);
		m.op = VCUDA_OP_stream_synchronize;
		m.n_args = 1;
		m.args = &arg;
		EXPECT(call(c, &rq, NULL, 0, &st) == CUDA_ERROR_INVALID_HANDLE);
		arg = event; /* an event is not a stream */
		EXPECT(call(c, &rq, NULL, 0, &st) == CUDA_ERROR_INVALID_HANDLE);
		m.op = VCUDA_OP_event_query;
		arg = event + (1ull << 32); /* the right slot, a stale generation */
		EXPECT(call(c, &rq, NULL, 0, &st) == CUDA_ERROR_INVALID_HANDLE);
		arg = event;
		EXPECT(call(c, &rq, NULL, 0, &st) == CUDA_SUCCESS);
		m.n_args = 0; /* too few arguments */
		EXPECT(call(c, &rq, NULL, 0, &st) == CUDA_ERROR_INVALID_VALUE);
		m.op = 0xfffffff; /* no such call */
		m.n_args = 1;
		EXPECT(call(c, &rq, NULL, 0, &st) == CUDA_ERROR_NOT_SUPPORTED);
	}
	{ /* an int argument that does not fit one */
		uint64_t args[2] = {1ull << 40, 4096};
		Vcuda__Scalar m = VCUDA__SCALAR__INIT;
		REQ(rq, SCALAR, scalar, m);
		m.op = VCUDA_OP_ctx_set_limit;
		m.n_args = 2;
		m.args = args;
		EXPECT(call(c, &rq, NULL, 0, &st) == CUDA_ERROR_INVALID_VALUE);
		args[0] = CU_LIMIT_STACK_SIZE; /* over the server's bound */
		args[1] = 1ull << 40;
		EXPECT(call(c, &rq, NULL, 0, &st) == CUDA_ERROR_INVALID_VALUE);
		args[1] = 4096;
		EXPECT(call(c, &rq, NULL, 0, &st) == CUDA_SUCCESS);
	}
	{
		Vcuda__CtxSynchronize m = VCUDA__CTX_SYNCHRONIZE__INIT;
		REQ(rq, CTX_SYNCHRONIZE, ctx_synchronize, m);
		rq.device = 99;
		EXPECT(call(c, &rq, NULL, 0, &st) == CUDA_ERROR_INVALID_DEVICE);
		rq.device = -1;
		EXPECT(call(c, &rq, NULL, 0, &st) == CUDA_ERROR_INVALID_DEVICE);
	}
	{ /* a request with no call in it */
		Vcuda__Request rq = VCUDA__REQUEST__INIT;
		call(c, &rq, NULL, 0, &st);
		EXPECT(st == VCUDA_E_PROTO);
	}
}

static void garbage(struct vcuda_client *c)
{
	Vcuda__CtxSynchronize m = VCUDA__CTX_SYNCHRONIZE__INIT;
	REQ(rq, CTX_SYNCHRONIZE, ctx_synchronize, m);
	uint8_t junk[100];
	int st;

	memset(junk, 0xee, sizeof(junk));
	EXPECT(vcuda_chan_send(vcuda_client_channel(c), junk, sizeof(junk), NULL, 0, 0) == 0);
	/* The worker closes a session that speaks garbage. */
	EXPECT(call(c, &rq, NULL, 0, &st) == -1 && st == VCUDA_E_PEER_LOST);
}

/* Receives one Reply on a raw socket within 5 s; NULL if none. */
static Vcuda__Reply *raw_reply(void *s)
{
	zmq_pollitem_t item = {s, 0, ZMQ_POLLIN, 0};
	static uint8_t buf[1 << 16];
	int n;

	if (zmq_poll(&item, 1, 5000) != 1 || (n = zmq_recv(s, buf, sizeof(buf), 0)) <= 0)
		return NULL;
	return vcuda__reply__unpack(NULL, (size_t)n, buf);
}

/* A header over the 64 KiB limit, sent on a session made by hand (the
 * client library refuses to send one): the worker answers it with a seq-0
 * reply that says why, rather than leaving the guest waiting. */
static void oversized_header(const char *url)
{
	Vcuda__Hello h = VCUDA__HELLO__INIT;
	Vcuda__HelloReply *hr = NULL;
	Vcuda__Request rq = VCUDA__REQUEST__INIT;
	Vcuda__Attach at = VCUDA__ATTACH__INIT;
	Vcuda__Reply *rp;
	void *hs = zmq_socket(vcuda_zmq_context(), ZMQ_DEALER);
	void *s = zmq_socket(vcuda_zmq_context(), ZMQ_PAIR);
	static uint8_t buf[100 * 1024];
	char endpoint[512];
	int linger = 0, n;
	zmq_pollitem_t item = {hs, 0, ZMQ_POLLIN, 0};

	zmq_setsockopt(hs, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	h.protocol_version = VCUDA_PROTOCOL_VERSION;
	h.hostname = "hostile";
	h.program = "hostile";
	hostile_keys(hs, url);
	hostile_keys(s, url);
	zmq_connect(hs, url);
	zmq_send(hs, buf, vcuda__hello__pack(&h, buf), 0);
	if (zmq_poll(&item, 1, 5000) == 1 && (n = zmq_recv(hs, buf, sizeof(buf), 0)) > 0)
		hr = vcuda__hello_reply__unpack(NULL, (size_t)n, buf);
	EXPECT(hr && hr->status == 0);
	if (!hr || hr->status ||
	    vcuda_url_for_client(url, hr->worker_endpoint, endpoint, sizeof(endpoint)) != 0)
		goto out;
	zmq_connect(s, endpoint);
	at.token = hr->token;
	rq.seq = 1;
	rq.flags = VCUDA_REQ_WANT_REPLY;
	rq.call_case = VCUDA__REQUEST__CALL_ATTACH;
	rq.attach = &at;
	zmq_send(s, buf, vcuda__request__pack(&rq, buf), 0);
	rp = raw_reply(s);
	EXPECT(rp && rp->seq == 1 && rp->status == 0);
	vcuda__reply__free_unpacked(rp, NULL);
	memset(buf, 0x55, sizeof(buf)); /* 100 KiB where at most 64 KiB may be */
	zmq_send(s, buf, sizeof(buf), 0);
	rp = raw_reply(s);
	EXPECT(rp && rp->seq == 0 && rp->status == VCUDA_E_TOOBIG);
	if (rp)
		vcuda__reply__free_unpacked(rp, NULL);
out:
	if (hr)
		vcuda__hello_reply__free_unpacked(hr, NULL);
	zmq_close(s);
	zmq_close(hs);
}

int main(int argc, char **argv)
{
	struct vcuda_client *c;
	const char *fatbin = getenv("KERNELS");
	const char *maxmod = getenv("HOSTILE_MAX_MODULES");

	if (argc < 2) {
		fprintf(stderr, "usage: hostile URL [load]\n");
		return 2;
	}
	if (argc > 2 && strcmp(argv[2], "load") == 0) {
		hostile_load(argv[1], fatbin, maxmod ? atoi(maxmod) : 1024);
		printf("hostile load: %s\n", failures ? "FAIL" : "PASS");
		return failures ? 1 : 0;
	}
	bad_handshakes(argv[1]);
	oversized_header(argv[1]);
	if ((c = session(argv[1])) != NULL) {
		lying_requests(c);
		forged_handles(c);
		/* The session still works after all of that. */
		{
			Vcuda__CtxSynchronize m = VCUDA__CTX_SYNCHRONIZE__INIT;
			int st;
			REQ(rq, CTX_SYNCHRONIZE, ctx_synchronize, m);
			EXPECT(call(c, &rq, NULL, 0, &st) == CUDA_SUCCESS);
		}
		garbage(c);
		vcuda_client_close(c);
	}
	printf("hostile: %s\n", failures ? "FAIL" : "PASS");
	return failures ? 1 : 0;
}
