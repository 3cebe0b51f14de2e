/*
 * The guest's RPC client: the handshake with vcudad's listener, then calls
 * on the session channel to the client's worker. Synchronous calls wait for
 * their reply; posted calls are queued in order and not answered (their
 * failures come back in Reply.deferred of a later reply). Copies from the
 * device arrive as data messages, written straight into the buffer that
 * was registered for the request.
 *
 * Every function is thread-safe. Once the server is lost every call fails
 * with VCUDA_E_PEER_LOST at once.
 */
#ifndef VCUDA_CLIENT_H
#define VCUDA_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "vcuda.pb-c.h"

struct vcuda_client;

struct vcuda_client_opts {
	const char *url;	/* the server (VCUDA_SERVER) */
	int connect_timeout_ms; /* handshake and attach */
	uint32_t cuda_version;	/* the guest's CUDA_VERSION */
	const char *program;
};

/* Handshakes with the listener and attaches to the session's worker. On
 * failure returns a vcuda status and writes a sentence saying why to why. */
int vcuda_client_connect(const struct vcuda_client_opts *o, struct vcuda_client **out, char *why,
			 size_t why_len);
/* Closes the session; the worker frees everything it held. */
void vcuda_client_close(struct vcuda_client *c);

/* What the worker said on attach (devices and their attributes). */
const Vcuda__AttachReply *vcuda_client_info(const struct vcuda_client *c);

/*
 * Sends rq and waits for its reply, which the caller frees with
 * vcuda_client_reply_free. payload (flags VCUDA_SEND_*) goes in the payload
 * frame; recv/recv_len receive the data messages answering rq.
 */
int vcuda_client_call(struct vcuda_client *c, Vcuda__Request *rq, const void *payload,
		      size_t payload_len, unsigned flags, void *recv, size_t recv_len,
		      Vcuda__Reply **reply);
/*
 * Where the data messages answering a request go: len bytes at dst; or,
 * for a pitched copy (width nonzero), packed rows of width bytes (the
 * messages' data_offset counts packed bytes, len of them in all), `rows` of
 * them a slice, each to its place: rows pitch bytes apart, slices slice
 * bytes apart.
 */
struct vcuda_recv {
	void *dst;
	size_t len;
	size_t width, pitch, rows, slice;
};

/* vcuda_client_call and vcuda_client_post with the data's layout. */
int vcuda_client_call_into(struct vcuda_client *c, Vcuda__Request *rq, const void *payload,
			   size_t payload_len, unsigned flags, const struct vcuda_recv *recv,
			   Vcuda__Reply **reply);
int vcuda_client_post_into(struct vcuda_client *c, Vcuda__Request *rq, const void *payload,
			   size_t payload_len, unsigned flags, const struct vcuda_recv *recv);

/* Sends rq without waiting for a reply; as vcuda_client_call otherwise. The
 * recv buffer is filled before the reply of any later call returns. */
int vcuda_client_post(struct vcuda_client *c, Vcuda__Request *rq, const void *payload,
		      size_t payload_len, unsigned flags, void *recv, size_t recv_len);
void vcuda_client_reply_free(Vcuda__Reply *r);

/*
 * Host memory shared with the worker (shm:// sessions): page-locked
 * buffers allocated here need no copy on the guest's side. host_alloc
 * returns NULL when the session has no shared heap or it is full;
 * host_offset says where [p, p + n) lies in it (0), or -1 unless it lies
 * in one allocation of it. Thread-safe.
 */
void *vcuda_client_host_alloc(struct vcuda_client *c, size_t n);
/* Whether the session has a shared heap (shm://). */
int vcuda_client_has_heap(struct vcuda_client *c);
int vcuda_client_host_free(struct vcuda_client *c, void *p);
int vcuda_client_host_offset(struct vcuda_client *c, const void *p, size_t n, uint64_t *off);

/* The session channel, for tests and tools that must send what the client
 * never would. */
struct vcuda_chan *vcuda_client_channel(struct vcuda_client *c);

/* Whether the server was lost (sticky). */
int vcuda_client_lost(const struct vcuda_client *c);

#endif
