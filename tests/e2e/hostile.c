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

#include "client.h"
#include "error.h"
#include "transport.h"
#include "vcuda.pb-c.h"
#include "wire.h"

static int failures;

#define EXPECT(cond)                                                                               \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);        \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

/* One raw message to the listener; returns the reply's status, or 1 if none came. */
static int raw_hello(const char *url, const void *buf, size_t len, char *msg, size_t msg_len)
{
	void *s = zmq_socket(vcuda_zmq_context(), ZMQ_DEALER);
	int linger = 0, status = 1, n;
	uint8_t reply[2048];
	zmq_pollitem_t item = {s, 0, ZMQ_POLLIN, 0};
	Vcuda__HelloReply *hr;

	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
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
static int call(struct vcuda_client *c, Vcuda__Request *rq, const void *payload, size_t len,
		int *status)
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

#define REQ(rq, NAME, name, msg)                                                                   \
	Vcuda__Request rq = VCUDA__REQUEST__INIT;                                                  \
	rq.call_case = VCUDA__REQUEST__CALL_##NAME;                                                \
	rq.name = &(msg)

static struct vcuda_client *session(const char *url)
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
		Vcuda__StreamSynchronize m = VCUDA__STREAM_SYNCHRONIZE__INIT;
		REQ(rq, STREAM_SYNCHRONIZE, stream_synchronize, m);
		m.stream = 0xdeadbeef;
		EXPECT(call(c, &rq, NULL, 0, &st) == CUDA_ERROR_INVALID_HANDLE);
		m.stream = event; /* an event is not a stream */
		EXPECT(call(c, &rq, NULL, 0, &st) == CUDA_ERROR_INVALID_HANDLE);
	}
	{
		Vcuda__EventQuery m = VCUDA__EVENT_QUERY__INIT;
		REQ(rq, EVENT_QUERY, event_query, m);
		m.event = event + (1ull << 32); /* the right slot, a stale generation */
		EXPECT(call(c, &rq, NULL, 0, &st) == CUDA_ERROR_INVALID_HANDLE);
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

/* ---- load: floods, junk and hostile modules --------------------------------------- */

/* A seeded generator (xorshift32), so that a failure can be replayed. */
static uint32_t rnd_state = 2463534242u;

static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

/* Sends n handshake frames (made by make(i, buf) into buf) on one socket
 * and counts the replies by status, waiting up to wait_ms for the last. */
static int flood(const char *url, int n, size_t (*make)(int i, uint8_t *buf), int *by_status,
		 int wait_ms)
{
	void *s = zmq_socket(vcuda_zmq_context(), ZMQ_DEALER);
	int linger = 0, replies = 0, hwm = 0;
	zmq_pollitem_t item = {s, 0, ZMQ_POLLIN, 0};
	static uint8_t buf[1 << 20];

	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	zmq_connect(s, url);
	/* In batches: a ROUTER drops what it cannot queue for a peer that
	 * does not read, which is right for a flood but not what is measured. */
	for (int sent = 0; sent < n;) {
		int batch = n - sent < 200 ? n - sent : 200;
		for (int i = 0; i < batch; i++) {
			size_t len = make(sent + i, buf);
			zmq_send(s, buf, len, 0);
		}
		sent += batch;
		while (replies < sent && zmq_poll(&item, 1, wait_ms) == 1) {
			uint8_t reply[2048];
			int got = zmq_recv(s, reply, sizeof(reply), 0);
			Vcuda__HelloReply *hr =
			    got > 0 ? vcuda__hello_reply__unpack(NULL, (size_t)got, reply) : NULL;
			if (hr) {
				int st = -hr->status;
				if (st >= 0 && st < 32)
					by_status[st]++;
				vcuda__hello_reply__free_unpacked(hr, NULL);
			}
			replies++;
		}
		if (replies < sent)
			break;
	}
	zmq_close(s);
	return replies;
}

static size_t make_hello(int i, uint8_t *buf)
{
	Vcuda__Hello h = VCUDA__HELLO__INIT;

	(void)i;
	h.protocol_version = VCUDA_PROTOCOL_VERSION;
	h.cuda_version = 13000;
	h.hostname = "flood\nforged log line"; /* must be logged as printable */
	h.program = "hostile";
	return vcuda__hello__pack(&h, buf);
}

/* Junk: random bytes, or a valid hello cut short or with bytes changed. */
static size_t make_junk(int i, uint8_t *buf)
{
	size_t n;

	if (i % 2) {
		n = rnd() % 600;
		for (size_t k = 0; k < n; k++)
			buf[k] = (uint8_t)rnd();
		return n;
	}
	n = make_hello(i, buf);
	for (int k = 0; k < 1 + (int)(rnd() % 4); k++)
		buf[rnd() % n] = (uint8_t)rnd();
	return rnd() % 3 ? n : rnd() % n;
}

static size_t make_oversized(int i, uint8_t *buf)
{
	(void)i;
	memset(buf, 0x0a, 1 << 20);
	return 1 << 20;
}

/* One address cannot hold many sessions open without attaching to them, nor
 * make the listener buffer large frames; the refusals are answered. */
static void handshake_abuse(const char *url)
{
	int by_status[32] = {0};

	EXPECT(flood(url, 200, make_hello, by_status, 5000) == 200);
	EXPECT(by_status[-VCUDA_E_BUSY] > 0);
	EXPECT(by_status[0] <= 8);
	memset(by_status, 0, sizeof(by_status));
	EXPECT(flood(url, 1, make_oversized, by_status, 1000) == 0);
}

/* Malformed handshakes by the thousand, each answered. */
static void junk_handshakes(const char *url, int n)
{
	int by_status[32] = {0};

	EXPECT(flood(url, n, make_junk, by_status, 5000) == n);
}

/* Requests with bytes changed: each is refused, or closes the session when
 * it no longer decodes; then a new session is opened. Returns the number
 * of sessions the server closed. */
static int mutated_requests(const char *url, int n)
{
	struct vcuda_client *c = session(url);
	uint8_t buf[256];
	int closed = 0;

	for (int i = 0; c && i < n; i++) {
		Vcuda__Memset ms = VCUDA__MEMSET__INIT;
		Vcuda__StreamQuery sq = VCUDA__STREAM_QUERY__INIT;
		Vcuda__MemAlloc ma = VCUDA__MEM_ALLOC__INIT;
		Vcuda__CtxSynchronize cs = VCUDA__CTX_SYNCHRONIZE__INIT;
		REQ(a, MEMSET, memset, ms);
		REQ(b, STREAM_QUERY, stream_query, sq);
		REQ(d, MEM_ALLOC, mem_alloc, ma);
		REQ(sync, CTX_SYNCHRONIZE, ctx_synchronize, cs);
		Vcuda__Request *rq = i % 3 == 0 ? &a : i % 3 == 1 ? &b : &d;
		size_t len;
		int st;
		ms.dst = 0x10000 + rnd();
		ms.count = rnd();
		ms.elem_size = 1;
		sq.stream = ((uint64_t)rnd() << 32) | rnd();
		ma.size = 1 + rnd() % 4096;
		rq->seq = 1000000 + (uint64_t)i;
		len = vcuda__request__pack(rq, buf);
		for (int k = 0; k < 1 + (int)(rnd() % 3); k++)
			buf[rnd() % len] ^= (uint8_t)(1 + rnd() % 255);
		vcuda_chan_send(vcuda_client_channel(c), buf, len, NULL, 0, 0);
		if (call(c, &sync, NULL, 0, &st) == -1 && st == VCUDA_E_PEER_LOST) {
			closed++;
			vcuda_client_close(c);
			c = session(url);
		}
	}
	if (c)
		vcuda_client_close(c);
	return closed;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n)) != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	*len = buf ? (size_t)n : 0;
	fclose(f);
	return buf;
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

/* Asks for device-to-host copies and never reads the data: what the worker
 * queues for the guest is bounded (it waits for the guest instead), and the
 * worker ends when the guest leaves. Its peak memory, logged when it ends,
 * is checked by the test. */
static void unread_copies(const char *url)
{
	struct vcuda_client *c = session(url);
	Vcuda__MemAlloc ma = VCUDA__MEM_ALLOC__INIT;
	Vcuda__Reply *rp = NULL;
	uint8_t buf[256];
	uint64_t dptr = 0;
	REQ(alloc, MEM_ALLOC, mem_alloc, ma);

	if (!c)
		return;
	ma.size = 64u << 20;
	if (vcuda_client_call(c, &alloc, NULL, 0, 0, NULL, 0, &rp) == 0 && rp->mem_alloc)
		dptr = rp->mem_alloc->dptr;
	vcuda_client_reply_free(rp);
	EXPECT(dptr != 0);
	for (int i = 0; dptr && i < 64; i++) { /* 4 GiB asked for, none read */
		Vcuda__MemcpyDtoH m = VCUDA__MEMCPY_DTO_H__INIT;
		REQ(rq, MEMCPY_DTOH, memcpy_dtoh, m);
		m.src = dptr;
		m.size = 64u << 20;
		rq.seq = 5000 + (uint64_t)i;
		if (vcuda_chan_send(vcuda_client_channel(c), buf, vcuda__request__pack(&rq, buf),
				    NULL, 0, 0) != 0)
			break;
	}
	sleep(3);
	vcuda_client_close(c);
}

/* Posts a second of work and leaves at once: the worker does not run what
 * a departed guest left queued (the test reads its call count in the log,
 * under the program name "hostile-drop"). */
static void leave_with_work_queued(const char *url)
{
	struct vcuda_client_opts o = {url, 5000, 13000, "hostile-drop"};
	struct vcuda_client *c = NULL;
	Vcuda__MemAlloc ma = VCUDA__MEM_ALLOC__INIT;
	Vcuda__Reply *rp = NULL;
	uint64_t dptr = 0;
	char why[256];
	REQ(alloc, MEM_ALLOC, mem_alloc, ma);

	if (vcuda_client_connect(&o, &c, why, sizeof(why)) != 0) {
		EXPECT(!"no session to leave");
		return;
	}
	ma.size = 256u << 20;
	if (vcuda_client_call(c, &alloc, NULL, 0, 0, NULL, 0, &rp) == 0 && rp->mem_alloc)
		dptr = rp->mem_alloc->dptr;
	vcuda_client_reply_free(rp);
	for (int i = 0; dptr && i < 100; i++) { /* 25 GiB of memset */
		Vcuda__Memset m = VCUDA__MEMSET__INIT;
		REQ(rq, MEMSET, memset, m);
		m.dst = dptr;
		m.elem_size = 1;
		m.count = 256u << 20;
		m.async = 1;
		vcuda_client_post(c, &rq, NULL, 0, 0, NULL, 0);
	}
	vcuda_client_close(c);
}

/* Loads a module; its handle, or 0 with the result in *result. */
static uint64_t module_load(struct vcuda_client *c, const uint8_t *fb, size_t len, int *result)
{
	Vcuda__ModuleLoad m = VCUDA__MODULE_LOAD__INIT;
	Vcuda__Reply *rp = NULL;
	uint64_t h = 0;
	REQ(rq, MODULE_LOAD, module_load, m);

	*result = -1;
	if (vcuda_client_call(c, &rq, fb, len, 0, NULL, 0, &rp) == 0) {
		*result = rp->result;
		if (rp->result == 0 && rp->handle)
			h = rp->handle->handle;
	}
	vcuda_client_reply_free(rp);
	return h;
}

static void module_unload(struct vcuda_client *c, uint64_t h)
{
	Vcuda__ModuleUnload m = VCUDA__MODULE_UNLOAD__INIT;
	int st;
	REQ(rq, MODULE_UNLOAD, module_unload, m);

	m.module = h;
	EXPECT(call(c, &rq, NULL, 0, &st) == CUDA_SUCCESS);
}

/* Damaged fat binaries by the thousand (and decompression bombs among
 * them): each loads or is refused; the session and the server go on. A
 * session cannot hold more modules than the server allows. */
static void hostile_modules(const char *url, const char *fatbin, int n, int max_modules)
{
	struct vcuda_client *c = session(url);
	size_t len;
	uint8_t *good = slurp(fatbin, &len), *bad = good ? malloc(len) : NULL;
	uint64_t held[4096];
	int loaded = 0, refused = 0, r, nheld = 0;

	EXPECT(good && bad && c);
	for (int i = 0; good && bad && c && i < n; i++) {
		uint64_t h;
		memcpy(bad, good, len);
		if (i % 50 == 0) { /* a bomb: the first entry claims a gigabyte */
			uint64_t claim = 1ull << 30;
			size_t e = (size_t)(good[6] | good[7] << 8);
			memcpy(bad + e + 56, &claim, 8);
			bad[e + 40] |= 0x80; /* flags: zstd */
			bad[e + 41] |= 0x80;
		} else {
			for (int k = 0; k < 1 + (int)(rnd() % 8); k++) {
				size_t pos = rnd() % 2 ? rnd() % 256 : rnd() % len;
				bad[pos] = (uint8_t)rnd();
			}
		}
		h = module_load(c, bad, len, &r);
		if (r == -1) { /* the session ended: that must not happen */
			EXPECT(!"a hostile module ended the session");
			break;
		}
		if (h) {
			loaded++;
			module_unload(c, h);
		} else {
			refused++;
		}
	}
	EXPECT(refused > 0);
	/* A fat binary in parts: whole, it loads; out of order, too long or
	 * larger than the limits, it is refused. */
	if (good && c) {
		Vcuda__ModuleLoad ml = VCUDA__MODULE_LOAD__INIT;
		Vcuda__Reply *rp = NULL;
		size_t part = len / 3 + 1;
		REQ(rq, MODULE_LOAD, module_load, ml);
		ml.total = len;
		for (size_t off = 0; off < len; off += part) {
			size_t plen = len - off < part ? len - off : part;
			ml.offset = off;
			EXPECT(vcuda_client_call(c, &rq, good + off, plen, 0, NULL, 0, &rp) == 0);
			EXPECT(rp && rp->result == 0);
			if (rp && off + plen == len && rp->handle)
				module_unload(c, rp->handle->handle);
			vcuda_client_reply_free(rp);
			rp = NULL;
		}
		ml.offset = part; /* a part before the first */
		EXPECT(vcuda_client_call(c, &rq, good, part, 0, NULL, 0, &rp) == 0 && rp &&
		       rp->result == CUDA_ERROR_INVALID_VALUE);
		vcuda_client_reply_free(rp);
		ml.offset = 0;
		ml.total = 1ull << 40; /* past --max-module-size */
		EXPECT(vcuda_client_call(c, &rq, good, part, 0, NULL, 0, &rp) == 0 && rp &&
		       rp->result == CUDA_ERROR_INVALID_IMAGE);
		vcuda_client_reply_free(rp);
		ml.total = 10; /* a part longer than the whole */
		EXPECT(vcuda_client_call(c, &rq, good, part, 0, NULL, 0, &rp) == 0 && rp &&
		       rp->result == CUDA_ERROR_INVALID_VALUE);
		vcuda_client_reply_free(rp);
	}
	/* The count of modules a session holds is bounded. */
	for (int i = 0; good && c && i < max_modules + 4 && nheld < 4096; i++) {
		uint64_t h = module_load(c, good, len, &r);
		if (!h)
			break;
		held[nheld++] = h;
	}
	EXPECT(nheld == max_modules && r == CUDA_ERROR_OUT_OF_MEMORY);
	for (int i = 0; i < nheld; i++)
		module_unload(c, held[i]);
	printf("hostile modules: %d loaded, %d refused; %d held at most\n", loaded, refused, nheld);
	free(good);
	free(bad);
	if (c)
		vcuda_client_close(c);
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
		int closed;
		handshake_abuse(argv[1]);
		/* 10,000 malformed messages: most at the handshake, where they
		 * cost the server least; 200 inside sessions, where a message
		 * that no longer decodes costs the guest its session. */
		junk_handshakes(argv[1], 9800);
		closed = mutated_requests(argv[1], 200);
		printf("mutated requests: 200 sent, %d sessions closed for malformed ones\n",
		       closed);
		if (fatbin)
			hostile_modules(argv[1], fatbin, 1000, maxmod ? atoi(maxmod) : 1024);
		unread_copies(argv[1]);
		leave_with_work_queued(argv[1]);
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
