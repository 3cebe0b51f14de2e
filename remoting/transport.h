/*
 * Session channels: the one-to-one link between a guest and its worker.
 * Every transport (zmq tcp:// and ipc://, the shared-memory rings of shm://)
 * implements these ops, and one conformance suite (tests/unit/test_transport.c)
 * runs unchanged over each.
 *
 * A message is a header (a protobuf-encoded Request or Reply, at most
 * VCUDA_MAX_HEADER bytes) and an optional payload of bulk data (at most
 * VCUDA_MAX_PAYLOAD bytes). Messages arrive whole and in the order sent.
 * Channels are not thread-safe: one thread uses a channel at a time.
 */
#ifndef VCUDA_TRANSPORT_H
#define VCUDA_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#define VCUDA_MAX_HEADER (64u * 1024)
/* Small, so that what a worker may have to hold for a guest is small: bulk
 * data (copies, fat binaries) travels in chunks of at most this. */
#define VCUDA_MAX_PAYLOAD (4u * 1024 * 1024)

/* Send flags: who owns the payload. */
enum {
	/* The transport copies the payload before send returns (default). */
	VCUDA_SEND_COPY = 0,
	/* The payload stays valid and unchanged until the peer has answered a
	 * later message; the transport may send it without copying. */
	VCUDA_SEND_BORROW = 1,
	/* The payload was malloc()ed; the transport frees it when done. */
	VCUDA_SEND_GIFT = 2,
};

struct vcuda_msg {
	const void *hdr;
	size_t hdr_len;
	const void *payload; /* NULL when the message has none */
	size_t payload_len;
	void *priv[2]; /* the transport's */
};

struct vcuda_chan;
struct vcuda_curve;

struct vcuda_transport_ops {
	const char *scheme; /* "tcp", "ipc", "shm" */

	/* Listens for the one peer of a new channel at url, which may leave the
	 * port to the system ("tcp://127.0.0.1:*"). Does not block. keys (may
	 * be NULL): on tcp://, accept only CURVE clients, as the process's ZAP
	 * handler allows (curve.h); other schemes ignore them. Returns 0,
	 * VCUDA_E_URL, VCUDA_E_TRANSPORT. */
	int (*bind)(const char *url, const struct vcuda_curve *keys, struct vcuda_chan **out);

	/* Connects to a bound channel. Does not wait for the connection: a
	 * peer that never appears shows as VCUDA_E_TIMEOUT or
	 * VCUDA_E_PEER_LOST from recv. keys (may be NULL): on tcp://, connect
	 * as a CURVE client. */
	int (*connect)(const char *url, const struct vcuda_curve *keys, struct vcuda_chan **out);

	/* The URL a peer connects to (with the port the system chose). Owned
	 * by the channel. */
	const char *(*endpoint)(struct vcuda_chan *c);

	/* Queues one message; blocks only while the transport's queue is full.
	 * flags: VCUDA_SEND_*. With VCUDA_SEND_GIFT the payload is freed even
	 * when sending fails. Returns 0, VCUDA_E_TOOBIG, VCUDA_E_PEER_LOST,
	 * VCUDA_E_TRANSPORT. */
	int (*send)(struct vcuda_chan *c, const void *hdr, size_t hdr_len, const void *payload,
		    size_t payload_len, unsigned flags);

	/* Waits up to timeout_ms (-1: no limit) for the next message. Its
	 * buffers stay valid until release. Returns 0, VCUDA_E_TIMEOUT,
	 * VCUDA_E_PEER_LOST (the peer closed, died or stopped answering
	 * heartbeats), VCUDA_E_TOOBIG or VCUDA_E_PROTO (a malformed message,
	 * already discarded). */
	int (*recv)(struct vcuda_chan *c, struct vcuda_msg *m, int timeout_ms);

	/* Gives back the buffers of a received message. */
	void (*release)(struct vcuda_chan *c, struct vcuda_msg *m);

	/* Closes the channel; queued messages are dropped. */
	void (*close)(struct vcuda_chan *c);

	/* Whether the peer is known to be gone (sticky). Unlike the other ops
	 * it may be called from another thread while one uses the channel. */
	int (*peer_lost)(struct vcuda_chan *c);

	/*
	 * Host memory both sides see (shm:// only; NULL elsewhere): a heap in
	 * the shared segment. The connecting side allocates in it
	 * (heap_alloc: NULL when it has no room), frees, and asks where a
	 * buffer lies in it (heap_offset: 0 and *off, or -1 unless all of
	 * [p, p + n) is in one allocation of it). The bound side finds
	 * [off, off + n) of the heap in its own mapping (heap_at: NULL unless
	 * it lies wholly in the heap). These may be called while another
	 * thread sends or receives.
	 */
	void *(*heap_alloc)(struct vcuda_chan *c, size_t n);
	int (*heap_free)(struct vcuda_chan *c, void *p);
	int (*heap_offset)(struct vcuda_chan *c, const void *p, size_t n, uint64_t *off);
	void *(*heap_at)(struct vcuda_chan *c, uint64_t off, uint64_t n);
	/* The heap's bytes in the bound side's mapping, for registering it
	 * with a GPU driver as page-locked memory; NULL without one. */
	void *(*heap_base)(struct vcuda_chan *c, size_t *n);
};

struct vcuda_chan {
	const struct vcuda_transport_ops *ops;
};

/* Every registered transport (*n of them), for the conformance suite. */
const struct vcuda_transport_ops *const *vcuda_transports(size_t *n);
/* The transport for a URL's scheme, or NULL. */
const struct vcuda_transport_ops *vcuda_transport_find(const char *url);

int vcuda_chan_bind(const char *url, struct vcuda_chan **out);
int vcuda_chan_connect(const char *url, struct vcuda_chan **out);
/* The same with CURVE keys for tcp:// (NULL: none). */
int vcuda_chan_bind_keys(const char *url, const struct vcuda_curve *keys, struct vcuda_chan **out);
int vcuda_chan_connect_keys(const char *url, const struct vcuda_curve *keys,
			    struct vcuda_chan **out);

static inline const char *vcuda_chan_endpoint(struct vcuda_chan *c)
{
	return c->ops->endpoint(c);
}

static inline int vcuda_chan_send(struct vcuda_chan *c, const void *hdr, size_t hdr_len,
				  const void *payload, size_t payload_len, unsigned flags)
{
	return c->ops->send(c, hdr, hdr_len, payload, payload_len, flags);
}

static inline int vcuda_chan_recv(struct vcuda_chan *c, struct vcuda_msg *m, int timeout_ms)
{
	return c->ops->recv(c, m, timeout_ms);
}

static inline void vcuda_chan_release(struct vcuda_chan *c, struct vcuda_msg *m)
{
	c->ops->release(c, m);
}

static inline int vcuda_chan_peer_lost(struct vcuda_chan *c)
{
	return c->ops->peer_lost(c);
}

static inline void vcuda_chan_close(struct vcuda_chan *c)
{
	if (c)
		c->ops->close(c);
}

static inline void *vcuda_chan_heap_alloc(struct vcuda_chan *c, size_t n)
{
	return c->ops->heap_alloc ? c->ops->heap_alloc(c, n) : NULL;
}

static inline int vcuda_chan_heap_free(struct vcuda_chan *c, void *p)
{
	return c->ops->heap_free ? c->ops->heap_free(c, p) : -1;
}

static inline int vcuda_chan_heap_offset(struct vcuda_chan *c, const void *p, size_t n,
					 uint64_t *off)
{
	return c->ops->heap_offset ? c->ops->heap_offset(c, p, n, off) : -1;
}

static inline void *vcuda_chan_heap_at(struct vcuda_chan *c, uint64_t off, uint64_t n)
{
	return c->ops->heap_at ? c->ops->heap_at(c, off, n) : NULL;
}

static inline void *vcuda_chan_heap_base(struct vcuda_chan *c, size_t *n)
{
	return c->ops->heap_base ? c->ops->heap_base(c, n) : NULL;
}

extern const struct vcuda_transport_ops vcuda_zmq_tcp_ops;
extern const struct vcuda_transport_ops vcuda_zmq_ipc_ops;
extern const struct vcuda_transport_ops vcuda_shm_ops;

/* shm:// settings: the shared heap's size (bytes) and how long a waiting
 * side spins before it sleeps (microseconds), from VCUDA_SHM_HEAP and
 * VCUDA_SHM_SPIN_US when set. */
#define VCUDA_SHM_HEAP_DEFAULT (256ull << 20)
#define VCUDA_SHM_SPIN_DEFAULT 50

/* For the conformance suite: writes one record of the given kind and
 * lengths (zero bytes) into an shm:// channel's outgoing ring, as a
 * hostile or broken peer might; one larger than half the ring is written
 * as its 16-byte head alone, claiming more than is there. 0, or a
 * VCUDA_E_* status. */
int vcuda_shm_send_raw(struct vcuda_chan *c, uint32_t kind, uint32_t hdr_len, uint64_t payload_len);
/* For the fuzzer: publishes len bytes as the body of the next record (all
 * of it after its sequence word), whatever they say; VCUDA_E_FULL when the
 * ring has no room for it now. */
int vcuda_shm_send_bytes(struct vcuda_chan *c, const void *body, size_t len);

/* ---- URLs ----------------------------------------------------------------- */

/* The URL a session worker binds for a client that came in on listen_url:
 * the same host with a system-chosen port, or the socket dir/name (the
 * listener's private directory and an unguessable name). 0 or VCUDA_E_URL. */
int vcuda_url_worker(const char *listen_url, const char *dir, const char *name, char *out,
		     size_t cap);
/* The URL a client connects to for a worker endpoint that a listener at
 * server_url announced: a tcp endpoint keeps the host the client already
 * reaches the server by. 0 or VCUDA_E_URL. */
int vcuda_url_for_client(const char *server_url, const char *worker_endpoint, char *out,
			 size_t cap);
/* The zmq endpoint a handshake socket uses for a server URL (shm:///p is
 * handshaken over ipc:///p). 0 or VCUDA_E_URL. */
int vcuda_url_handshake(const char *server_url, char *out, size_t cap);

/* The process's ZeroMQ context, made on first use; NULL if that fails. */
void *vcuda_zmq_context(void);

#endif
