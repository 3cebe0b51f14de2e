/*
 * The hostile client under load (hostile URL load): floods of handshakes, an
 * oversized frame, thousands of malformed messages, damaged fat binaries,
 * copies never read, and a guest that leaves with work queued.
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
#include "error.h"
#include "hostile.h"
#include "transport.h"
#include "vcuda.pb-c.h"
#include "wire.h"

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
	hostile_keys(s, url);
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
		Vcuda__Scalar sq = VCUDA__SCALAR__INIT;
		uint64_t sq_arg = ((uint64_t)rnd() << 32) | rnd();
		Vcuda__MemAlloc ma = VCUDA__MEM_ALLOC__INIT;
		Vcuda__CtxSynchronize cs = VCUDA__CTX_SYNCHRONIZE__INIT;
		REQ(a, MEMSET, memset, ms);
		REQ(b, SCALAR, scalar, sq);
		REQ(d, MEM_ALLOC, mem_alloc, ma);
		REQ(sync, CTX_SYNCHRONIZE, ctx_synchronize, cs);
		Vcuda__Request *rq = i % 3 == 0 ? &a : i % 3 == 1 ? &b : &d;
		size_t len;
		int st;
		ms.dst = 0x10000 + rnd();
		ms.count = rnd();
		ms.elem_size = 1;
		sq.op = VCUDA_OP_stream_query;
		sq.n_args = 1;
		sq.args = &sq_arg;
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

int hostile_load(const char *url, const char *fatbin, int max_modules)
{
	int closed;

	handshake_abuse(url);
	/* 10,000 malformed messages: most at the handshake, where they cost
	 * the server least; 200 inside sessions, where a message that no
	 * longer decodes costs the guest its session. */
	junk_handshakes(url, 9800);
	closed = mutated_requests(url, 200);
	printf("mutated requests: 200 sent, %d sessions closed for malformed ones\n", closed);
	if (fatbin)
		hostile_modules(url, fatbin, 1000, max_modules);
	unread_copies(url);
	leave_with_work_queued(url);
	return failures;
}
