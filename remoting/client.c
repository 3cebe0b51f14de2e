#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.h>

#include "client.h"
#include "curve.h"
#include "error.h"
#include "log.h"
#include "transport.h"
#include "util.h"
#include "wire.h"

/* A copy from the device whose data messages have not all arrived. */
struct pending_recv {
	uint64_t seq;
	struct vcuda_recv to;
	struct pending_recv *next;
};

/*
 * Posted requests in flight are bounded: after this many frames, or bytes of
 * payload, the next post waits for its reply. The worker's receive queue
 * (ZCHAN_BOUND_RCVHWM frames) is larger, so a guest never fills it: a full
 * queue stops ZeroMQ reading the connection, which delays heartbeats and,
 * in libzmq 4.3.4, can abort the worker when the guest then disconnects.
 */
#define CLIENT_WINDOW_FRAMES 120
#define CLIENT_WINDOW_BYTES  (64u << 20)

/*
 * Posted calls are batched: appended to one message, which goes when a
 * call that waits needs to send, when it holds CLIENT_BATCH_CALLS calls or
 * would pass VCUDA_MAX_PAYLOAD, or CLIENT_BATCH_US after its first call
 * (VCUDA_BATCH_US; 0 sends every call at once), whatever comes first. A
 * posted call with a payload larger than CLIENT_BATCH_PAYLOAD travels on
 * its own (after the batch).
 */
#define CLIENT_BATCH_CALLS   256
#define CLIENT_BATCH_PAYLOAD (64u << 10)
#define CLIENT_BATCH_US	     200

/* How long a guest whose session moved (vcuda-smi --migrate) waits for it
 * at the new server, unless VCUDA_RESUME_MS says otherwise. */
#define CLIENT_MOVE_MS 10000

struct vcuda_client {
	pthread_mutex_t lock;
	struct vcuda_chan *chan;
	uint64_t next_seq;
	int lost;
	struct pending_recv *pending;
	unsigned posted_frames; /* since the last reply */
	size_t posted_bytes;
	int32_t deferred; /* a posted call's failure learnt when its post waited */
	uint8_t *output;  /* what the device printed, learnt then too */
	size_t output_len;
	size_t errput_len; /* of which, at its start, for stderr */
	Vcuda__AttachReply *attach;
	Vcuda__Reply *attach_reply;
	struct vcuda_batch batch; /* posted calls not sent yet */
	uint64_t batch_since_ns;  /* when its first call came */
	uint64_t batch_ns;	  /* how long it may wait; 0: no batching */
	pthread_t flusher;	  /* sends a batch whose time is up */
	pthread_cond_t cond;	  /* wakes the flusher (with lock) */
	int have_flusher, closing;
	/* Resuming a session restored elsewhere (VCUDA_RESUME_MS): how to
	 * reach the server again, the session's token, and what was sent. */
	uint64_t resume_ms; /* 0: a lost server is lost for good */
	char url[512], program[256];
	uint32_t cuda_version;
	int connect_timeout_ms;
	uint8_t token[64];
	size_t token_len;
	uint64_t sent_seq;	 /* the highest request seq handed to the transport */
	uint64_t batch_last_seq; /* the highest seq in the batch not sent yet */
	int resumed;		 /* how many times */
	uint64_t resend_seq;	 /* the number the next send keeps, or 0 */
	uint64_t resumed_seq;	 /* what the resumed session had run */
	char moved_to[512];	 /* where an E_MOVED reply said the session went */
	char moved_key[41];	 /* ... and, tcp://, that server's public key ("" none) */
};

static int client_flush(struct vcuda_client *c);

/* ---- handshake -------------------------------------------------------------- */

/* What a handshake monitor saw: 0 nothing yet, else a sentence in why. */
static int client_handshake_failed(void *mon, const char *url, char *why, size_t why_len)
{
	uint8_t ev[6];
	uint16_t event;
	char endpoint[256];

	if (zmq_recv(mon, ev, sizeof(ev), ZMQ_DONTWAIT) != (int)sizeof(ev))
		return 0;
	zmq_recv(mon, endpoint, sizeof(endpoint), 0);
	memcpy(&event, ev, sizeof(event));
	if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
		snprintf(why, why_len,
			 "the server at %s refused this guest's key (VCUDA_KEY): ask its operator "
			 "to accept it",
			 url);
	else
		snprintf(why, why_len,
			 "the server at %s and this guest disagree on keys: a server that wants "
			 "them needs VCUDA_KEY (this guest's key file) and VCUDA_SERVER_KEY (the "
			 "server's public key) set, and both must be the ones it knows",
			 url);
	return 1;
}

/* Sends the Hello and waits for the reply, or for the connection to fail
 * its CURVE handshake (keys given, or the server asking for them). */
static int client_hello_exchange(void *sock, void *mon, const struct vcuda_client_opts *o,
				 const uint8_t *hello, int n, Vcuda__HelloReply **out, char *why,
				 size_t why_len)
{
	zmq_pollitem_t items[2] = {{sock, 0, ZMQ_POLLIN, 0}, {mon, 0, ZMQ_POLLIN, 0}};
	uint64_t deadline = vcuda_now_ns() + (uint64_t)o->connect_timeout_ms * 1000000u;
	uint8_t buf[1024];

	if (zmq_send(sock, hello, (size_t)n, 0) != n) {
		snprintf(why, why_len, "cannot reach %s: %s", o->url, zmq_strerror(errno));
		return VCUDA_E_TRANSPORT;
	}
	for (;;) {
		uint64_t now = vcuda_now_ns();
		if (now >= deadline) {
			snprintf(why, why_len, "no vcudad answered at %s within %d ms", o->url,
				 o->connect_timeout_ms);
			return VCUDA_E_TIMEOUT;
		}
		if (zmq_poll(items, mon ? 2 : 1, (long)((deadline - now) / 1000000u) + 1) < 0 &&
		    errno != EINTR)
			return VCUDA_E_TRANSPORT;
		if (mon && (items[1].revents & ZMQ_POLLIN) &&
		    client_handshake_failed(mon, o->url, why, why_len))
			return VCUDA_E_AUTH;
		if (items[0].revents & ZMQ_POLLIN)
			break;
	}
	n = zmq_recv(sock, buf, sizeof(buf), 0);
	*out = n > 0 && n <= (int)sizeof(buf) ? vcuda__hello_reply__unpack(NULL, (size_t)n, buf)
					      : NULL;
	if (!*out) {
		snprintf(why, why_len, "the server at %s sent a malformed handshake reply", o->url);
		return VCUDA_E_PROTO;
	}
	return 0;
}

/*
 * A local server (ipc://, shm://): whether this process may connect to its
 * socket at all. ZeroMQ would retry a connect the socket's permissions
 * refuse silently until the timeout; this says why at once. 0, or
 * VCUDA_E_AUTH with why written.
 */
static int client_reach_local(const char *url, char *why, size_t why_len)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	const char *path = url + 6;
	struct stat st;
	int fd, err;

	if (strlen(path) >= sizeof(a.sun_path))
		return 0; /* ZeroMQ will say */
	memcpy(a.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	err = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 ? 0 : errno;
	close(fd);
	if (err == 0)
		return 0;
	if (err == EACCES || err == EPERM) {
		if (stat(path, &st) == 0)
			snprintf(
			    why, why_len,
			    "cannot connect to %s: %s (the socket has mode %03o, owner uid %u, "
			    "group gid %u; this guest runs as uid %u: the server's operator "
			    "decides who may connect with --socket-mode and --socket-group)",
			    path, strerror(err), (unsigned)(st.st_mode & 0777), (unsigned)st.st_uid,
			    (unsigned)st.st_gid, (unsigned)getuid());
		else
			snprintf(why, why_len,
				 "cannot connect to %s: %s (a directory on the way is closed to "
				 "this guest's user, uid %u)",
				 path, strerror(err), (unsigned)getuid());
		return VCUDA_E_AUTH;
	}
	return 0; /* a server that is not there yet may come within the timeout */
}

static int client_hello(const struct vcuda_client_opts *o, const struct vcuda_curve *keys,
			const uint8_t *resume, size_t resume_len, Vcuda__HelloReply **out,
			char *why, size_t why_len)
{
	Vcuda__Hello hello = VCUDA__HELLO__INIT;
	char url[512], host[256] = "", mon_url[64];
	uint8_t buf[1024];
	void *sock = NULL, *mon = NULL;
	int rc = VCUDA_E_TRANSPORT, n, linger = 0;

	if (vcuda_url_handshake(o->url, url, sizeof(url)) != 0) {
		snprintf(why, why_len,
			 "'%s' is not a server URL (tcp://HOST:PORT, ipc:///PATH, shm:///PATH)",
			 o->url);
		return VCUDA_E_URL;
	}
	if (strncmp(url, "ipc://", 6) == 0 && (rc = client_reach_local(url, why, why_len)) != 0)
		return rc;
	gethostname(host, sizeof(host) - 1);
	hello.protocol_version = VCUDA_PROTOCOL_VERSION;
	hello.cuda_version = o->cuda_version;
	hello.pid = (uint32_t)getpid();
	hello.hostname = host;
	hello.program = (char *)(o->program ? o->program : "");
	hello.resume = (ProtobufCBinaryData){resume_len, (uint8_t *)resume};
	n = (int)vcuda__hello__pack(&hello, buf);
	if (!vcuda_zmq_context() || !(sock = zmq_socket(vcuda_zmq_context(), ZMQ_DEALER)))
		goto out_why;
	zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof(linger));
	if (keys && vcuda_curve_apply(sock, keys, 0) != 0)
		goto out_why;
	/* A tcp:// handshake can fail on keys; the monitor says so at once
	 * rather than after the connect timeout. */
	snprintf(mon_url, sizeof(mon_url), "inproc://vcuda-hello-%p", sock);
	if (strncmp(url, "tcp://", 6) == 0 &&
	    zmq_socket_monitor(sock, mon_url,
			       ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
				   ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
				   ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) == 0 &&
	    (mon = zmq_socket(vcuda_zmq_context(), ZMQ_PAIR)) != NULL &&
	    zmq_connect(mon, mon_url) != 0) {
		zmq_close(mon);
		mon = NULL;
	}
	if (zmq_connect(sock, url) != 0)
		goto out_why;
	rc = client_hello_exchange(sock, mon, o, buf, n, out, why, why_len);
	goto out_close;
out_why:
	snprintf(why, why_len, "cannot reach %s: %s", o->url, zmq_strerror(errno));
out_close:
	if (mon) {
		zmq_socket_monitor(sock, NULL, 0);
		zmq_close(mon);
	}
	if (sock)
		zmq_close(sock);
	return rc;
}

static int client_attach(struct vcuda_client *c, const struct vcuda_client_opts *o,
			 const struct vcuda_curve *keys, const char *endpoint,
			 ProtobufCBinaryData token, int resuming, char *why, size_t why_len)
{
	Vcuda__Request rq = VCUDA__REQUEST__INIT;
	Vcuda__Attach at = VCUDA__ATTACH__INIT;
	struct vcuda_msg m;
	Vcuda__Reply *rp = NULL;
	int rc;

	if ((rc = vcuda_chan_connect_keys(endpoint, keys, &c->chan)) != 0) {
		snprintf(why, why_len, "cannot connect to the session worker at %s", endpoint);
		return rc;
	}
	at.token = token;
	rq.seq = resuming ? 0 : ++c->next_seq; /* 0: outside the numbering it resumes */
	rq.flags = VCUDA_REQ_WANT_REPLY;
	rq.call_case = VCUDA__REQUEST__CALL_ATTACH;
	rq.attach = &at;
	if ((rc = vcuda_wire_send(c->chan, &rq.base, NULL, 0, 0)) == 0 &&
	    (rc = vcuda_chan_recv(c->chan, &m, o->connect_timeout_ms)) == 0) {
		rp = vcuda_wire_reply(&m);
		vcuda_chan_release(c->chan, &m);
	}
	if (rc == 0 && (!rp || rp->status != 0 || rp->ret_case != VCUDA__REPLY__RET_ATTACH))
		rc = rp && rp->status ? rp->status : VCUDA_E_PROTO;
	if (rc) {
		snprintf(why, why_len, "the session worker at %s refused to attach (%s)", endpoint,
			 vcuda_strerror(rc));
		vcuda_client_reply_free(rp);
		return rc;
	}
	if (resuming) { /* the shim holds on to the first one's devices */
		c->resumed_seq = rp->attach->last_seq;
		vcuda_client_reply_free(rp);
		return 0;
	}
	c->attach_reply = rp;
	c->attach = rp->attach;
	return 0;
}

/* What resuming needs later: where the server was and the session token. */
static void client_keep_resume(struct vcuda_client *c, const struct vcuda_client_opts *o,
			       const Vcuda__HelloReply *hr)
{
	const char *ms = getenv("VCUDA_RESUME_MS");

	snprintf(c->url, sizeof(c->url), "%s", o->url);
	snprintf(c->program, sizeof(c->program), "%s", o->program ? o->program : "");
	c->cuda_version = o->cuda_version;
	c->connect_timeout_ms = o->connect_timeout_ms;
	c->token_len = hr->token.len <= sizeof(c->token) ? hr->token.len : 0;
	memcpy(c->token, hr->token.data, c->token_len);
	/* shm:// sessions hold host memory in their segment, which cannot
	 * follow them */
	if (ms && *ms && strncmp(o->url, "shm://", 6) != 0)
		c->resume_ms = strtoull(ms, NULL, 10);
}

int vcuda_client_connect(const struct vcuda_client_opts *o, struct vcuda_client **out, char *why,
			 size_t why_len)
{
	struct vcuda_client *c = calloc(1, sizeof(*c));
	Vcuda__HelloReply *hr = NULL;
	struct vcuda_curve keys;
	const struct vcuda_curve *k = NULL;
	char endpoint[512];
	int rc;

	if (!c)
		return VCUDA_E_NOMEM;
	/* tcp:// guests authenticate with their keys (curve.h). */
	if (strncmp(o->url ? o->url : "", "tcp://", 6) == 0) {
		if ((rc = vcuda_curve_from_env(&keys, why, why_len)) < 0) {
			free(c);
			return rc;
		}
		k = rc ? &keys : NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	{
		pthread_condattr_t ca;
		const char *us = getenv("VCUDA_BATCH_US");
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&c->cond, &ca);
		c->batch_ns = (us && *us ? strtoull(us, NULL, 10) : CLIENT_BATCH_US) * 1000u;
		if (c->batch_ns > 100000000u)
			c->batch_ns = 100000000u; /* 100 ms at most */
	}
	/* A server that is starting many sessions at once asks new ones to
	 * come back shortly; they do, within the connect timeout. */
	for (uint64_t deadline = vcuda_now_ns() + (uint64_t)o->connect_timeout_ms * 1000000u;;) {
		if ((rc = client_hello(o, k, NULL, 0, &hr, why, why_len)) != 0)
			goto out_free;
		if (hr->status != VCUDA_E_BUSY || vcuda_now_ns() > deadline)
			break;
		vcuda__hello_reply__free_unpacked(hr, NULL);
		hr = NULL;
		usleep(20000 + (unsigned)(vcuda_now_ns() % 80000));
	}
	if (hr->status != 0) {
		rc = hr->status;
		snprintf(why, why_len, "the server at %s refused the session: %s", o->url,
			 hr->message && *hr->message ? hr->message : vcuda_strerror(rc));
		goto out_free;
	}
	if ((rc = vcuda_url_for_client(o->url, hr->worker_endpoint, endpoint, sizeof(endpoint))) !=
	    0) {
		snprintf(why, why_len, "the server announced an unusable endpoint '%s'",
			 hr->worker_endpoint);
		goto out_free;
	}
	VDEBUG(remoting, "server %s: %s backend, session worker at %s", o->url, hr->backend,
	       endpoint);
	if ((rc = client_attach(c, o, k, endpoint, hr->token, 0, why, why_len)) != 0)
		goto out_free;
	client_keep_resume(c, o, hr);
	/* Over ZeroMQ, data from the device arrives in buffers libzmq
	 * mallocs for each chunk. */
	if (strncmp(endpoint, "shm://", 6) != 0)
		vcuda_malloc_keep_chunks();
	vcuda__hello_reply__free_unpacked(hr, NULL);
	memset(&keys, 0, sizeof(keys));
	*out = c;
	return 0;
out_free:
	if (hr)
		vcuda__hello_reply__free_unpacked(hr, NULL);
	vcuda_chan_close(c->chan);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return rc;
}

void vcuda_client_close(struct vcuda_client *c)
{
	if (!c)
		return;
	/* Posted calls still batched go before the session ends. */
	pthread_mutex_lock(&c->lock);
	if (!c->lost)
		client_flush(c);
	c->closing = 1;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	if (c->have_flusher)
		pthread_join(c->flusher, NULL);
	free(c->batch.buf);
	pthread_cond_destroy(&c->cond);
	vcuda_chan_close(c->chan);
	while (c->pending) {
		struct pending_recv *p = c->pending;
		c->pending = p->next;
		free(p);
	}
	vcuda_client_reply_free(c->attach_reply);
	free(c->output);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

const Vcuda__AttachReply *vcuda_client_info(const struct vcuda_client *c)
{
	return c->attach;
}

void *vcuda_client_host_alloc(struct vcuda_client *c, size_t n)
{
	return vcuda_chan_heap_alloc(c->chan, n);
}

int vcuda_client_has_heap(struct vcuda_client *c)
{
	size_t n;

	return vcuda_chan_heap_base(c->chan, &n) != NULL;
}

int vcuda_client_host_free(struct vcuda_client *c, void *p)
{
	return vcuda_chan_heap_free(c->chan, p);
}

int vcuda_client_host_offset(struct vcuda_client *c, const void *p, size_t n, uint64_t *off)
{
	return vcuda_chan_heap_offset(c->chan, p, n, off);
}

struct vcuda_chan *vcuda_client_channel(struct vcuda_client *c)
{
	return c->chan;
}

int vcuda_client_lost(const struct vcuda_client *c)
{
	return __atomic_load_n(&c->lost, __ATOMIC_RELAXED);
}

void vcuda_client_reply_free(Vcuda__Reply *r)
{
	if (r)
		vcuda__reply__free_unpacked(r, NULL);
}

/* ---- calls -------------------------------------------------------------------- */

/* Writes a data message into the buffer registered for its request. */
static int client_deliver(struct vcuda_client *c, const Vcuda__Reply *rp, const struct vcuda_msg *m)
{
	struct pending_recv **pp = &c->pending, *p;

	while (*pp && (*pp)->seq != rp->seq)
		pp = &(*pp)->next;
	if (!(p = *pp)) {
		VWARN(remoting, "data for unknown request %llu dropped",
		      (unsigned long long)rp->seq);
		return 0;
	}
	if (m->payload_len > p->to.len || rp->data_offset > p->to.len - m->payload_len) {
		VERR(remoting, "server sent data outside the buffer of request %llu",
		     (unsigned long long)rp->seq);
		return VCUDA_E_PROTO;
	}
	if (!p->to.width) {
		if (m->payload_len)
			memcpy((uint8_t *)p->to.dst + rp->data_offset, m->payload, m->payload_len);
	} else { /* packed rows, scattered to where each row goes */
		const uint8_t *src = m->payload;
		for (size_t off = rp->data_offset, left = m->payload_len; left;) {
			size_t r = off / p->to.width, col = off % p->to.width;
			size_t n = p->to.width - col < left ? p->to.width - col : left;
			memcpy((uint8_t *)p->to.dst + r / p->to.rows * p->to.slice +
				   r % p->to.rows * p->to.pitch + col,
			       src, n);
			src += n;
			off += n;
			left -= n;
		}
	}
	if (rp->last) {
		*pp = p->next;
		free(p);
	}
	return 0;
}

/* A reply's payload is what the device printed; it becomes Reply.output,
 * which vcuda__reply__free_unpacked frees with the rest. */
static int client_take_output(Vcuda__Reply *rp, const struct vcuda_msg *m)
{
	if (!m->payload_len)
		return 0;
	if (rp->output.data)
		free(rp->output.data);
	if (!(rp->output.data = malloc(m->payload_len))) {
		rp->output.len = 0;
		return VCUDA_E_NOMEM;
	}
	memcpy(rp->output.data, m->payload, m->payload_len);
	rp->output.len = m->payload_len;
	return 0;
}

/* Receives until the reply to seq arrives. Called with the lock held. */
static int client_wait(struct vcuda_client *c, uint64_t seq, Vcuda__Reply **out)
{
	for (;;) {
		struct vcuda_msg m;
		Vcuda__Reply *rp;
		int rc = vcuda_chan_recv(c->chan, &m, -1);

		if (rc == VCUDA_E_TOOBIG || rc == VCUDA_E_PROTO)
			continue;
		if (rc)
			return rc;
		rp = vcuda_wire_reply(&m);
		if (!rp) {
			vcuda_chan_release(c->chan, &m);
			VERR(remoting, "malformed reply from the server");
			return VCUDA_E_PROTO;
		}
		if (rp->data) {
			rc = client_deliver(c, rp, &m);
			vcuda_chan_release(c->chan, &m);
			vcuda_client_reply_free(rp);
			if (rc)
				return rc;
			continue;
		}
		c->posted_frames = 0;
		c->posted_bytes = 0;
		if (rp->seq == seq && rp->status == VCUDA_E_MOVED) {
			/* the session moved before this request ran: resume there */
			int ok = rp->moved_to && (strncmp(rp->moved_to, "ipc://", 6) == 0 ||
						  strncmp(rp->moved_to, "tcp://", 6) == 0);
			if (ok) {
				snprintf(c->moved_to, sizeof(c->moved_to), "%s", rp->moved_to);
				/* the server it goes on at, vouched for by this one */
				snprintf(c->moved_key, sizeof(c->moved_key), "%s",
					 rp->moved_key && strlen(rp->moved_key) == 40
					     ? rp->moved_key
					     : "");
			}
			vcuda_chan_release(c->chan, &m);
			vcuda_client_reply_free(rp);
			return ok ? VCUDA_E_MOVED : VCUDA_E_PROTO;
		}
		if (rp->seq == seq || (rp->seq == 0 && rp->status)) {
			/* seq 0: the server could not read what was sent last */
			rc = client_take_output(rp, &m);
			vcuda_chan_release(c->chan, &m);
			if (rc) {
				vcuda_client_reply_free(rp);
				return rc;
			}
			*out = rp;
			return 0;
		}
		vcuda_chan_release(c->chan, &m);
		VWARN(remoting, "unexpected reply to request %llu dropped",
		      (unsigned long long)rp->seq);
		vcuda_client_reply_free(rp);
	}
}

/* Sends the batch of posted calls, if there is one. Lock held. */
static int client_flush(struct vcuda_client *c)
{
	Vcuda__Request rq = VCUDA__REQUEST__INIT;
	Vcuda__Batch b = VCUDA__BATCH__INIT;
	int rc;

	if (!c->batch.count)
		return 0;
	b.count = c->batch.count;
	rq.call_case = VCUDA__REQUEST__CALL_BATCH;
	rq.batch = &b;
	VTRACE(remoting, "-> batch of %u", b.count);
	rc = vcuda_wire_send(c->chan, &rq.base, c->batch.buf, c->batch.len, VCUDA_SEND_COPY);
	if (rc == VCUDA_E_PEER_LOST || rc == VCUDA_E_TRANSPORT)
		return rc; /* kept: a resumed session may still run it */
	c->posted_frames += 2;
	c->posted_bytes += c->batch.len;
	if (rc == 0)
		c->sent_seq = c->batch_last_seq;
	vcuda_batch_clear(&c->batch);
	return rc;
}

static int client_failed(struct vcuda_client *c, int rc);

/* Sends a batch whose time is up, while the program does something else. */
static void *client_flusher(void *arg)
{
	struct vcuda_client *c = arg;

	pthread_mutex_lock(&c->lock);
	while (!c->closing) {
		uint64_t due = c->batch_since_ns + c->batch_ns, now = vcuda_now_ns();
		struct timespec t;
		if (!c->batch.count || c->lost) { /* a lost server's batch waits for a resume */
			pthread_cond_wait(&c->cond, &c->lock);
			continue;
		}
		if (now >= due) {
			int rc = client_flush(c);
			if (rc)
				client_failed(c, rc);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		t.tv_nsec += (long)(due - now);
		t.tv_sec += t.tv_nsec / 1000000000L;
		t.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&c->cond, &c->lock, &t);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* Appends a posted call to the batch: 1 if it was taken, 0 if it must be
 * sent on its own, or an error. Lock held. */
static int client_batch(struct vcuda_client *c, Vcuda__Request *rq, const void *payload,
			size_t payload_len)
{
	int rc;

	if (!c->batch_ns || payload_len > CLIENT_BATCH_PAYLOAD)
		return 0;
	if ((rc = vcuda_batch_add(&c->batch, &rq->base, payload, payload_len)) == VCUDA_E_FULL) {
		if ((rc = client_flush(c)) != 0)
			return rc;
		rc = vcuda_batch_add(&c->batch, &rq->base, payload, payload_len);
	}
	if (rc)
		return rc;
	c->batch_last_seq = rq->seq;
	if (c->batch.count == 1) {
		c->batch_since_ns = vcuda_now_ns();
		if (!c->have_flusher)
			c->have_flusher = pthread_create(&c->flusher, NULL, client_flusher, c) == 0;
		pthread_cond_signal(&c->cond);
	}
	if (c->batch.count >= CLIENT_BATCH_CALLS && (rc = client_flush(c)) != 0)
		return rc;
	return 1;
}

static int client_send(struct vcuda_client *c, Vcuda__Request *rq, int want_reply,
		       const void *payload, size_t payload_len, unsigned flags,
		       const struct vcuda_recv *recv)
{
	struct pending_recv *p = NULL;
	int rc;

	if (c->lost) {
		rc = VCUDA_E_PEER_LOST;
		goto out_gift;
	}
	/* a request sent again after resuming keeps its number */
	rq->seq = c->resend_seq ? c->resend_seq : ++c->next_seq;
	c->resend_seq = 0;
	rq->flags = want_reply ? VCUDA_REQ_WANT_REPLY : 0;
	if (recv && recv->dst && recv->len) {
		if (!(p = malloc(sizeof(*p)))) {
			rc = VCUDA_E_NOMEM;
			goto out_gift;
		}
		*p = (struct pending_recv){rq->seq, *recv, c->pending};
		c->pending = p;
	}
	VTRACE(remoting, "-> %s seq %llu%s", vcuda_wire_call_name((int)rq->call_case),
	       (unsigned long long)rq->seq, want_reply ? "" : " (posted)");
	if (!want_reply && (rc = client_batch(c, rq, payload, payload_len)) != 0) {
		if (rc < 0 && p) {
			c->pending = p->next;
			free(p);
		}
		if (flags == VCUDA_SEND_GIFT)
			free((void *)payload);
		return rc < 0 ? rc : 0;
	}
	/* In order: what was batched goes first. */
	if ((rc = client_flush(c)) == 0 &&
	    (rc = vcuda_wire_send(c->chan, &rq->base, payload, payload_len, flags)) == 0)
		c->sent_seq = rq->seq;
	else if (rc && flags == VCUDA_SEND_GIFT && c->batch.count)
		free((void *)payload); /* the flush failed: not handed over */
	if (rc && p) {
		c->pending = p->next;
		free(p);
	}
	return rc;
out_gift:
	if (flags == VCUDA_SEND_GIFT)
		free((void *)payload);
	return rc;
}

/*
 * The server went away while the request numbered seq (0: not numbered)
 * was being sent (sent 0) or answered (sent 1). With VCUDA_RESUME_MS, asks
 * the server at the same URL, until that time is up, for the session back
 * (a checkpoint it was given with --restore). It resumes only if the
 * checkpoint ran exactly what this client sent before that request, and
 * not the request, which is then sent again: anything else would lose or
 * repeat work, and the session stays lost. Lock held. 0, or an error.
 */
static int client_resume(struct vcuda_client *c, uint64_t seq, int sent, uint64_t wait_ms,
			 struct vcuda_chan *old)
{
	struct vcuda_client_opts o = {
	    .url = c->url, .cuda_version = c->cuda_version, .program = c->program};
	uint64_t need = sent ? seq - 1 : c->sent_seq;
	uint64_t deadline = vcuda_now_ns() + wait_ms * 1000000u;
	unsigned pause_us = 5000;
	struct vcuda_curve keys;
	const struct vcuda_curve *k = NULL;
	char why[512] = "", endpoint[512];
	int rc;

	if (!wait_ms || !c->token_len)
		return VCUDA_E_PEER_LOST;
	if (strncmp(c->url, "tcp://", 6) == 0) {
		if ((rc = vcuda_curve_from_env(&keys, why, sizeof(why))) < 0)
			return VCUDA_E_PEER_LOST;
		k = rc ? &keys : NULL;
		if (k && old && c->moved_key[0]) /* moved to a server of its own key */
			memcpy(keys.server_key, c->moved_key, sizeof(c->moved_key));
	}
	if (old)
		VINFO(remoting, "the session moved to %s", c->url);
	else
		VWARN(remoting,
		      "lost the vcuda server; asking %s for the session back (up to %llu ms)",
		      c->url, (unsigned long long)wait_ms);
	if (!old)
		vcuda_chan_close(c->chan);
	c->chan = NULL;
	for (;;) {
		Vcuda__HelloReply *hr = NULL;
		uint64_t now = vcuda_now_ns();
		o.connect_timeout_ms = deadline > now ? (int)((deadline - now) / 1000000u) + 1 : 1;
		if (o.connect_timeout_ms > c->connect_timeout_ms)
			o.connect_timeout_ms = c->connect_timeout_ms;
		rc = client_hello(&o, k, c->token, c->token_len, &hr, why, sizeof(why));
		if (rc == 0 && hr->status)
			snprintf(why, sizeof(why), "%s",
				 hr->message && *hr->message ? hr->message
							     : vcuda_strerror(hr->status));
		else if (rc == 0 && vcuda_url_for_client(c->url, hr->worker_endpoint, endpoint,
							 sizeof(endpoint)) != 0)
			snprintf(why, sizeof(why), "an unusable endpoint");
		else if (rc == 0 &&
			 client_attach(c, &o, k, endpoint, hr->token, 1, why, sizeof(why)) == 0) {
			vcuda__hello_reply__free_unpacked(hr, NULL);
			break;
		}
		if (hr)
			vcuda__hello_reply__free_unpacked(hr, NULL);
		vcuda_chan_close(c->chan);
		c->chan = NULL;
		if (vcuda_now_ns() >= deadline) {
			VERR(remoting, "the session could not be resumed: %s", why);
			memset(&keys, 0, sizeof(keys));
			c->chan = old; /* a move's source still has it */
			return VCUDA_E_PEER_LOST;
		}
		usleep(pause_us); /* soon at first: a moving session is nearly there */
		if (pause_us < 100000)
			pause_us *= 2;
	}
	memset(&keys, 0, sizeof(keys));
	if (c->resumed_seq != need) {
		VERR(
		    remoting,
		    "the session came back as its checkpoint left it, after request %llu, but this "
		    "program had sent up to request %llu: going on would %s work, so the session "
		    "stays lost",
		    (unsigned long long)c->resumed_seq, (unsigned long long)need,
		    c->resumed_seq < need ? "lose" : "repeat");
		vcuda_chan_close(c->chan);
		c->chan = old;
		return VCUDA_E_PEER_LOST;
	}
	/* Data the old server owed for requests it ran was lost with it. */
	for (struct pending_recv *p = c->pending; p; p = p->next)
		if (p->seq <= need) {
			VERR(remoting,
			     "data from the device for request %llu was lost with the "
			     "server: the session stays lost",
			     (unsigned long long)p->seq);
			vcuda_chan_close(c->chan);
			c->chan = old;
			return VCUDA_E_PEER_LOST;
		}
	/* data owed for requests after the checkpoint comes anew */
	for (struct pending_recv **pp = &c->pending; *pp;) {
		struct pending_recv *p = *pp;
		if (p->seq > need) {
			*pp = p->next;
			free(p);
		} else {
			pp = &p->next;
		}
	}
	vcuda_chan_close(old);
	c->posted_frames = 0;
	c->posted_bytes = 0;
	c->resumed++;
	__atomic_store_n(&c->lost, 0, __ATOMIC_RELAXED);
	pthread_cond_signal(&c->cond); /* the flusher may go on */
	VINFO(remoting, "session resumed at %s after request %llu", c->url,
	      (unsigned long long)need);
	return 0;
}

/* Whether rc means the server is gone (rather than a refusal). */
static int client_lost_rc(int rc)
{
	return rc == VCUDA_E_PEER_LOST || rc == VCUDA_E_TRANSPORT || rc == VCUDA_E_PROTO;
}

/* Sends rq and, when want_reply, waits for its reply; a lost server is
 * resumed once where that is allowed (client_resume) and rq sent again.
 * Lock held. */
static int client_exchange(struct vcuda_client *c, Vcuda__Request *rq, int want_reply,
			   const void *payload, size_t payload_len, unsigned flags,
			   const struct vcuda_recv *recv, Vcuda__Reply **reply)
{
	/* Resumable calls keep their payload until done, to send it again. */
	int keep = c->resume_ms && flags == VCUDA_SEND_GIFT;
	uint64_t moved = 0; /* when the old server answered that the session moved */
	int rc;

	for (int tries = 0;; tries++) {
		rq->seq = 0;
		rc = client_send(c, rq, want_reply, payload, payload_len,
				 keep ? VCUDA_SEND_COPY : flags, recv);
		if (rc == 0 && want_reply)
			rc = client_wait(c, rq->seq, reply);
		if (rc == VCUDA_E_MOVED) { /* rq did not run: it goes again, there */
			char from[sizeof(c->url)];
			if (tries > 4) {
				rc = VCUDA_E_PEER_LOST;
				break;
			}
			moved = vcuda_now_ns();
			memcpy(from, c->url, sizeof(from));
			memcpy(c->url, c->moved_to, sizeof(c->url));
			if (client_resume(c, rq->seq, 1,
					  c->resume_ms ? c->resume_ms : CLIENT_MOVE_MS,
					  c->chan) != 0) {
				/* the new server failed it: the old one, which ran
				 * nothing since, takes rq back and goes on */
				VWARN(remoting, "the session stays at %s", from);
				memcpy(c->url, from, sizeof(c->url));
				c->moved_key[0] = 0; /* its own key is the one it had */
			}
			c->resend_seq = rq->seq;
			continue;
		}
		if (!client_lost_rc(rc) || !c->resume_ms || tries)
			break;
		__atomic_store_n(&c->lost, 1, __ATOMIC_RELAXED);
		if (client_resume(c, rq->seq, rq->seq && c->sent_seq == rq->seq, c->resume_ms,
				  NULL) != 0)
			break;
		c->resend_seq = rq->seq;
	}
	if (moved && rc == 0) /* the move's pause here, after the old server's part */
		VINFO(remoting,
		      "the call the session moved at was answered %.1f ms after the old server "
		      "said it moved",
		      (double)(vcuda_now_ns() - moved) / 1e6);
	if (keep)
		free((void *)payload);
	return rc;
}

static int client_failed(struct vcuda_client *c, int rc)
{
	if (rc == VCUDA_E_PEER_LOST || rc == VCUDA_E_TRANSPORT || rc == VCUDA_E_PROTO) {
		if (!c->lost)
			VERR(remoting, "lost the connection to the vcuda server (%s)",
			     vcuda_strerror(rc));
		__atomic_store_n(&c->lost, 1, __ATOMIC_RELAXED);
		return VCUDA_E_PEER_LOST;
	}
	return rc;
}

/* Appends rp's output (taking its buffer) to what the next reply will
 * carry, keeping what belongs on stderr ahead of the rest. */
static void client_keep_output(struct vcuda_client *c, Vcuda__Reply *rp)
{
	ProtobufCBinaryData *out = &rp->output;
	size_t err = rp->errput_len < out->len ? rp->errput_len : out->len;
	size_t old_out = c->output_len - c->errput_len;
	uint8_t *b;

	rp->errput_len = 0;
	if (!out->len)
		return;
	if (!c->output_len) {
		c->output = out->data;
		c->output_len = out->len;
		c->errput_len = err;
	} else if ((b = malloc(c->output_len + out->len)) != NULL) {
		memcpy(b, c->output, c->errput_len);
		memcpy(b + c->errput_len, out->data, err);
		memcpy(b + c->errput_len + err, c->output + c->errput_len, old_out);
		memcpy(b + c->errput_len + err + old_out, out->data + err, out->len - err);
		free(c->output);
		free(out->data);
		c->output = b;
		c->output_len += out->len;
		c->errput_len += err;
	} else {
		free(out->data); /* out of memory: this output is dropped */
	}
	*out = (ProtobufCBinaryData){0, NULL};
}

int vcuda_client_call(struct vcuda_client *c, Vcuda__Request *rq, const void *payload,
		      size_t payload_len, unsigned flags, void *recv, size_t recv_len,
		      Vcuda__Reply **reply)
{
	struct vcuda_recv to = {.dst = recv, .len = recv_len};

	return vcuda_client_call_into(c, rq, payload, payload_len, flags, &to, reply);
}

int vcuda_client_post(struct vcuda_client *c, Vcuda__Request *rq, const void *payload,
		      size_t payload_len, unsigned flags, void *recv, size_t recv_len)
{
	struct vcuda_recv to = {.dst = recv, .len = recv_len};

	return vcuda_client_post_into(c, rq, payload, payload_len, flags, &to);
}

int vcuda_client_call_into(struct vcuda_client *c, Vcuda__Request *rq, const void *payload,
			   size_t payload_len, unsigned flags, const struct vcuda_recv *recv,
			   Vcuda__Reply **reply)
{
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = client_exchange(c, rq, 1, payload, payload_len, flags, recv, reply);
	/* A posted call's failure and output learnt early travel as they
	 * would have. */
	if (rc == 0 && c->deferred && !(*reply)->deferred)
		(*reply)->deferred = c->deferred;
	if (rc == 0) {
		c->deferred = 0;
		client_keep_output(c, *reply);
		(*reply)->output = (ProtobufCBinaryData){c->output_len, c->output};
		(*reply)->errput_len = (uint32_t)c->errput_len;
		c->output = NULL;
		c->output_len = c->errput_len = 0;
	}
	rc = rc ? client_failed(c, rc) : 0;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int vcuda_client_post_into(struct vcuda_client *c, Vcuda__Request *rq, const void *payload,
			   size_t payload_len, unsigned flags, const struct vcuda_recv *recv)
{
	int rc;

	pthread_mutex_lock(&c->lock);
	if (!c->batch_ns || payload_len > CLIENT_BATCH_PAYLOAD) { /* a message of its own */
		c->posted_frames += payload ? 2 : 1;
		c->posted_bytes += payload_len;
	}
	if (c->posted_frames < CLIENT_WINDOW_FRAMES && c->posted_bytes < CLIENT_WINDOW_BYTES) {
		rc = client_exchange(c, rq, 0, payload, payload_len, flags, recv, NULL);
	} else { /* the window is full: this one waits for the worker */
		Vcuda__Reply *rp = NULL;
		if ((rc = client_exchange(c, rq, 1, payload, payload_len, flags, recv, &rp)) == 0) {
			int32_t failed = rp->deferred ? rp->deferred : rp->result;
			if (failed && !c->deferred)
				c->deferred = failed;
			client_keep_output(c, rp);
			vcuda_client_reply_free(rp);
		}
	}
	rc = rc ? client_failed(c, rc) : 0;
	pthread_mutex_unlock(&c->lock);
	return rc;
}
