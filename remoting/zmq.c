/*
 * Session channels over ZeroMQ PAIR sockets (tcp:// and ipc://). A header
 * and its payload travel as one two-frame message. A monitor socket reports
 * connects and disconnects so that a peer that dies is noticed at once, and
 * ZMTP heartbeats notice one that hangs or whose host vanished.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "curve.h"
#include "error.h"
#include "log.h"
#include "transport.h"
#include "util.h"

/* What CURVE adds to a frame: its command name, nonce and MAC, with room. */
#define ZCHAN_FRAME_OVERHEAD 256

#define ZCHAN_HEARTBEAT_IVL_MS	   1000
#define ZCHAN_HEARTBEAT_TIMEOUT_MS 5000
/*
 * The bound side (a worker) sends heartbeats but does not time its peer out
 * by them: ZeroMQ stops reading a connection whose receive queue is full,
 * so a guest with a long queue of posted work ahead of a busy worker would
 * look silent and be dropped (it was, after 5 s of backlog). A guest that
 * dies closes its socket, which the monitor reports at once; a guest whose
 * host vanishes is found by TCP keepalive.
 */
#define ZCHAN_BOUND_TIMEOUT_MS	(24 * 3600 * 1000)
#define ZCHAN_KEEPALIVE_IDLE_S	10
#define ZCHAN_KEEPALIVE_INTVL_S 5
#define ZCHAN_KEEPALIVE_CNT	3
/* What the bound side queues: frames received and not yet read (each at
 * most VCUDA_MAX_HEADER or VCUDA_MAX_PAYLOAD bytes), and frames sent to a
 * guest that does not read them. A full queue holds the sender back. */
#define ZCHAN_BOUND_RCVHWM 128
#define ZCHAN_BOUND_SNDHWM 32
/* How stale the bound side's knowledge of its peer may be when it reads the
 * next request: requests of a guest that left more than this ago are not
 * run. */
#define ZCHAN_MON_RECHECK_NS 2000000ull

struct zchan {
	struct vcuda_chan base;
	void *sock;
	void *mon;
	int bound;	/* server side */
	int open_conns; /* live connections the monitor reported */
	int ever_connected;
	int lost;
	pthread_mutex_t mon_lock; /* the monitor socket is read from two threads */
	uint64_t mon_checked_ns;  /* when recv last asked the monitor first */
	char endpoint[256];
};

static void *zmq_ctx;
static pthread_once_t zmq_ctx_once = PTHREAD_ONCE_INIT;

static void zmq_ctx_make(void)
{
	zmq_ctx = zmq_ctx_new();
	if (zmq_ctx)
		zmq_ctx_set(zmq_ctx, ZMQ_BLOCKY, 0);
}

void *vcuda_zmq_context(void)
{
	pthread_once(&zmq_ctx_once, zmq_ctx_make);
	return zmq_ctx;
}

static int zchan_setup(struct zchan *z)
{
	static unsigned long counter;
	char mon_url[64];
	int ivl = ZCHAN_HEARTBEAT_IVL_MS, hbt = ZCHAN_HEARTBEAT_TIMEOUT_MS;
	int no_reconnect = -1, linger = 0;
	/* Per frame: a header is smaller, a payload at most VCUDA_MAX_PAYLOAD
	 * (checked when it arrives), and CURVE adds its box to each frame;
	 * ZeroMQ drops a peer that sends a larger frame before allocating it. */
	int64_t maxmsg = (int64_t)VCUDA_MAX_PAYLOAD + ZCHAN_FRAME_OVERHEAD;
	void *ctx = vcuda_zmq_context();

	if (!ctx || !(z->sock = zmq_socket(ctx, ZMQ_PAIR)))
		return VCUDA_E_TRANSPORT;
	zmq_setsockopt(z->sock, ZMQ_HEARTBEAT_IVL, &ivl, sizeof(ivl));
	if (z->bound) {
		int keep = 1, idle = ZCHAN_KEEPALIVE_IDLE_S, intvl = ZCHAN_KEEPALIVE_INTVL_S;
		int cnt = ZCHAN_KEEPALIVE_CNT, rcv = ZCHAN_BOUND_RCVHWM, snd = ZCHAN_BOUND_SNDHWM;
		hbt = ZCHAN_BOUND_TIMEOUT_MS;
		zmq_setsockopt(z->sock, ZMQ_TCP_KEEPALIVE, &keep, sizeof(keep));
		zmq_setsockopt(z->sock, ZMQ_TCP_KEEPALIVE_IDLE, &idle, sizeof(idle));
		zmq_setsockopt(z->sock, ZMQ_TCP_KEEPALIVE_INTVL, &intvl, sizeof(intvl));
		zmq_setsockopt(z->sock, ZMQ_TCP_KEEPALIVE_CNT, &cnt, sizeof(cnt));
		zmq_setsockopt(z->sock, ZMQ_RCVHWM, &rcv, sizeof(rcv));
		zmq_setsockopt(z->sock, ZMQ_SNDHWM, &snd, sizeof(snd));
	}
	zmq_setsockopt(z->sock, ZMQ_HEARTBEAT_TIMEOUT, &hbt, sizeof(hbt));
	zmq_setsockopt(z->sock, ZMQ_RECONNECT_IVL, &no_reconnect, sizeof(no_reconnect));
	zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(z->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
	snprintf(mon_url, sizeof(mon_url), "inproc://vcuda-mon-%p-%lu", (void *)z,
		 __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
	if (zmq_socket_monitor(z->sock, mon_url,
			       ZMQ_EVENT_CONNECTED | ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) !=
	    0)
		return VCUDA_E_TRANSPORT;
	z->mon = zmq_socket(ctx, ZMQ_PAIR);
	if (!z->mon || zmq_connect(z->mon, mon_url) != 0)
		return VCUDA_E_TRANSPORT;
	return 0;
}

static void zchan_close(struct vcuda_chan *c)
{
	struct zchan *z = (struct zchan *)c;

	if (z->sock) {
		zmq_socket_monitor(z->sock, NULL, 0);
		zmq_close(z->sock);
	}
	if (z->mon)
		zmq_close(z->mon);
	pthread_mutex_destroy(&z->mon_lock);
	free(z);
}

static int zchan_open(const struct vcuda_transport_ops *ops, const char *url, int bind,
		      const struct vcuda_curve *keys, struct vcuda_chan **out)
{
	struct zchan *z = calloc(1, sizeof(*z));
	size_t len = sizeof(z->endpoint);
	int rc;

	if (!z)
		return VCUDA_E_NOMEM;
	pthread_mutex_init(&z->mon_lock, NULL);
	z->base.ops = ops;
	z->bound = bind;
	if ((rc = zchan_setup(z)) != 0)
		goto out_close;
	/* Local sockets are guarded by their permissions (and the guest's
	 * Unix user); keys are for tcp://. */
	if (keys && strncmp(url, "tcp://", 6) == 0 &&
	    (rc = vcuda_curve_apply(z->sock, keys, bind)) != 0)
		goto out_close;
	if ((bind ? zmq_bind(z->sock, url) : zmq_connect(z->sock, url)) != 0) {
		VWARN(remoting, "%s %s: %s", bind ? "bind" : "connect", url, zmq_strerror(errno));
		rc = errno == EPROTONOSUPPORT || errno == EINVAL ? VCUDA_E_URL : VCUDA_E_TRANSPORT;
		goto out_close;
	}
	if (!bind || zmq_getsockopt(z->sock, ZMQ_LAST_ENDPOINT, z->endpoint, &len) != 0)
		snprintf(z->endpoint, sizeof(z->endpoint), "%s", url);
	*out = &z->base;
	return 0;
out_close:
	zchan_close(&z->base);
	return rc;
}

static int zchan_bind(const char *url, const struct vcuda_curve *keys, struct vcuda_chan **out)
{
	return zchan_open(vcuda_transport_find(url), url, 1, keys, out);
}

static int zchan_connect(const char *url, const struct vcuda_curve *keys, struct vcuda_chan **out)
{
	return zchan_open(vcuda_transport_find(url), url, 0, keys, out);
}

static const char *zchan_endpoint(struct vcuda_chan *c)
{
	return ((struct zchan *)c)->endpoint;
}

/* Reads the monitor's pending events; returns 1 once the peer is gone.
 * Thread-safe: a worker's watchdog asks while its main thread is busy. */
static int zchan_monitor(struct zchan *z)
{
	int lost;

	pthread_mutex_lock(&z->mon_lock);
	for (;;) {
		zmq_msg_t ev, addr;
		uint16_t event;

		zmq_msg_init(&ev);
		if (zmq_msg_recv(&ev, z->mon, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&ev);
			break;
		}
		memcpy(&event, zmq_msg_data(&ev), sizeof(event));
		zmq_msg_close(&ev);
		zmq_msg_init(&addr);
		zmq_msg_recv(&addr, z->mon, 0);
		zmq_msg_close(&addr);
		if (event == ZMQ_EVENT_CONNECTED || event == ZMQ_EVENT_ACCEPTED) {
			z->open_conns++;
			z->ever_connected = 1;
		} else if (event == ZMQ_EVENT_DISCONNECTED && z->open_conns > 0) {
			z->open_conns--;
		}
	}
	if (z->ever_connected && z->open_conns == 0)
		z->lost = 1;
	lost = z->lost;
	pthread_mutex_unlock(&z->mon_lock);
	return lost;
}

static int zchan_peer_lost(struct vcuda_chan *c)
{
	return zchan_monitor((struct zchan *)c);
}

static void zchan_free_gift(void *data, void *hint)
{
	free(data);
}

/*
 * Sends one frame, waiting while the queue is full but watching the peer: a
 * PAIR socket whose peer is gone would otherwise block for ever.
 */
static int zchan_send_frame(struct zchan *z, zmq_msg_t *m, int more)
{
	zmq_pollitem_t items[1] = {{z->sock, 0, ZMQ_POLLOUT, 0}};

	for (;;) {
		if (zmq_msg_send(m, z->sock, ZMQ_DONTWAIT | more) >= 0)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return VCUDA_E_TRANSPORT;
		if (zchan_monitor(z))
			return VCUDA_E_PEER_LOST;
		if (zmq_poll(items, 1, 100) < 0 && errno != EINTR)
			return VCUDA_E_TRANSPORT;
	}
}

static int zchan_send(struct vcuda_chan *c, const void *hdr, size_t hdr_len, const void *payload,
		      size_t payload_len, unsigned flags)
{
	struct zchan *z = (struct zchan *)c;
	zmq_msg_t h, m;
	int rc;

	if (hdr_len > VCUDA_MAX_HEADER || payload_len > VCUDA_MAX_PAYLOAD) {
		rc = VCUDA_E_TOOBIG;
		goto out_gift;
	}
	if (zchan_monitor(z)) {
		rc = VCUDA_E_PEER_LOST;
		goto out_gift;
	}
	if (zmq_msg_init_size(&h, hdr_len) != 0) {
		rc = VCUDA_E_NOMEM;
		goto out_gift;
	}
	memcpy(zmq_msg_data(&h), hdr, hdr_len);
	if ((rc = zchan_send_frame(z, &h, payload ? ZMQ_SNDMORE : 0)) != 0) {
		zmq_msg_close(&h);
		goto out_gift;
	}
	if (!payload)
		return 0;
	if (flags == VCUDA_SEND_GIFT)
		zmq_msg_init_data(&m, (void *)payload, payload_len, zchan_free_gift, NULL);
	else if (flags == VCUDA_SEND_BORROW)
		zmq_msg_init_data(&m, (void *)payload, payload_len, NULL, NULL);
	else if (zmq_msg_init_size(&m, payload_len) == 0)
		memcpy(zmq_msg_data(&m), payload, payload_len);
	else
		return VCUDA_E_NOMEM;
	if ((rc = zchan_send_frame(z, &m, 0)) != 0)
		zmq_msg_close(&m);
	return rc;
out_gift:
	if (flags == VCUDA_SEND_GIFT)
		free((void *)payload);
	return rc;
}

/* Discards the rest of a message whose first frame was refused. */
static void zchan_drain(struct zchan *z)
{
	int more = 1;
	size_t len = sizeof(more);

	while (zmq_getsockopt(z->sock, ZMQ_RCVMORE, &more, &len) == 0 && more) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		zmq_msg_recv(&m, z->sock, 0);
		zmq_msg_close(&m);
	}
}

static int zchan_recv_frames(struct zchan *z, struct vcuda_msg *out)
{
	zmq_msg_t *f[2] = {malloc(sizeof(zmq_msg_t)), malloc(sizeof(zmq_msg_t))};
	int rc = VCUDA_E_NOMEM, inited = 0, more = 1;

	if (!f[0] || !f[1])
		goto out_free;
	while (more && inited < 2) {
		zmq_msg_init(f[inited++]);
		if (zmq_msg_recv(f[inited - 1], z->sock, 0) < 0) {
			rc = VCUDA_E_TRANSPORT;
			goto out_free;
		}
		more = zmq_msg_more(f[inited - 1]);
	}
	if (more || zmq_msg_size(f[0]) > VCUDA_MAX_HEADER ||
	    (inited == 2 && zmq_msg_size(f[1]) > VCUDA_MAX_PAYLOAD)) {
		rc = more ? VCUDA_E_PROTO : VCUDA_E_TOOBIG;
		zchan_drain(z);
		goto out_free;
	}
	*out = (struct vcuda_msg){.hdr = zmq_msg_data(f[0]), .hdr_len = zmq_msg_size(f[0])};
	out->priv[0] = f[0];
	if (inited == 2) {
		out->payload = zmq_msg_data(f[1]);
		out->payload_len = zmq_msg_size(f[1]);
		out->priv[1] = f[1];
	} else {
		free(f[1]);
	}
	return 0;
out_free:
	for (int i = 0; i < inited; i++)
		zmq_msg_close(f[i]);
	free(f[0]);
	free(f[1]);
	return rc;
}

static int zchan_recv(struct vcuda_chan *c, struct vcuda_msg *m, int timeout_ms)
{
	struct zchan *z = (struct zchan *)c;
	zmq_pollitem_t items[1] = {{z->sock, 0, ZMQ_POLLIN, 0}};
	uint64_t deadline = vcuda_now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000u;

	for (;;) {
		/* Wake up now and then: a disconnect may have been reported
		 * before this call started to wait. */
		uint64_t now = vcuda_now_ns();
		long left = timeout_ms < 0 ? 100 : (long)((deadline - now) / 1000000u);
		int n;

		if (timeout_ms >= 0 && now >= deadline)
			return VCUDA_E_TIMEOUT;
		/* A peer that left is gone even if its messages are still
		 * queued: a worker must not run what a departed guest sent.
		 * (A guest reads its server's last words, so only the bound
		 * side asks first.) */
		if (z->bound && now - z->mon_checked_ns > ZCHAN_MON_RECHECK_NS) {
			z->mon_checked_ns = now; /* at most so often: it costs a call per request */
			if (zchan_monitor(z))
				return VCUDA_E_PEER_LOST;
		}
		n = zmq_poll(items, 1, left > 100 ? 100 : left);
		if (n < 0 && errno != EINTR)
			return VCUDA_E_TRANSPORT;
		if (n > 0 && (items[0].revents & ZMQ_POLLIN))
			return zchan_recv_frames(z, m);
		if (zchan_monitor(z))
			return VCUDA_E_PEER_LOST;
	}
}

static void zchan_release(struct vcuda_chan *c, struct vcuda_msg *m)
{
	for (int i = 0; i < 2; i++) {
		if (m->priv[i]) {
			zmq_msg_close(m->priv[i]);
			free(m->priv[i]);
			m->priv[i] = NULL;
		}
	}
}

/* tcp:// and ipc:// differ only in what ZeroMQ does with the URL. */
#define ZCHAN_OPS(name)                                                                            \
	{                                                                                          \
		.scheme = name, .bind = zchan_bind, .connect = zchan_connect,                      \
		.endpoint = zchan_endpoint, .send = zchan_send, .recv = zchan_recv,                \
		.release = zchan_release, .close = zchan_close, .peer_lost = zchan_peer_lost,      \
	}

const struct vcuda_transport_ops vcuda_zmq_tcp_ops = ZCHAN_OPS("tcp");
const struct vcuda_transport_ops vcuda_zmq_ipc_ops = ZCHAN_OPS("ipc");
