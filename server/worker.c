/* A session worker: serves one client's requests until it leaves. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "admin.h"
#include "curve.h"
#include "error.h"
#include "image.h"
#include "log.h"
#include "precopy.h"
#include "session.h"
#include "util.h"
#include "vcudad.h"
#include "wire.h"

/* ---- what the device prints ----------------------------------------------------
 * The worker's stdout is a pipe that a thread drains into a buffer; each
 * reply carries what accumulated, and the shim writes it to the guest
 * program's own stdout. This serves NVIDIA's printf FIFO and the CPU device
 * alike, and a chatty kernel cannot block the worker on a full pipe. A
 * second pipe carries what belongs on the guest's stderr: the CPU device's
 * failed device-side assertions (VCUDA_CPU_ASSERT_FD). */

struct capture {
	int fd;
	uint8_t *buf;
	size_t len, cap;
};

static pthread_mutex_t output_lock = PTHREAD_MUTEX_INITIALIZER;
static struct capture captured[2] = {{.fd = -1}, {.fd = -1}}; /* stdout, stderr */

/* Beyond this between two replies, printed text is dropped (CUDA's own
 * printf buffer is 1 MiB unless the program sets cudaLimitPrintfFifoSize). */
#define OUTPUT_MAX VCUDA_MAX_PAYLOAD

/* Moves what a pipe holds into its buffer, keeping both buffers together
 * within OUTPUT_MAX. Called with the lock held. */
static void output_drain(struct capture *c)
{
	uint8_t chunk[4096];
	ssize_t n;

	while ((n = read(c->fd, chunk, sizeof(chunk))) > 0) {
		size_t total = captured[0].len + captured[1].len + (size_t)n;
		if (c->len + (size_t)n > c->cap && total <= OUTPUT_MAX) {
			size_t cap = (c->len + (size_t)n) * 2;
			uint8_t *b = realloc(c->buf, cap);
			if (b) {
				c->buf = b;
				c->cap = cap;
			}
		}
		if (c->len + (size_t)n <= c->cap && total <= OUTPUT_MAX) {
			memcpy(c->buf + c->len, chunk, (size_t)n);
			c->len += (size_t)n;
		}
	}
}

/* Keeps the pipes from filling while a kernel prints. */
static void *output_main(void *arg)
{
	struct pollfd p[2] = {{.fd = captured[0].fd, .events = POLLIN},
			      {.fd = captured[1].fd, .events = POLLIN}};
	int open = 2;

	while (open > 0) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return arg;
		pthread_mutex_lock(&output_lock);
		for (int i = 0; i < 2; i++)
			if (p[i].revents & POLLIN)
				output_drain(&captured[i]);
		pthread_mutex_unlock(&output_lock);
		for (int i = 0; i < 2; i++)
			if (p[i].revents & (POLLERR | POLLNVAL | POLLHUP)) {
				p[i].fd = -1; /* poll ignores it from now on */
				open--;
			}
	}
	return arg;
}

static int capture_pipe(struct capture *c, int target)
{
	int fds[2];

	if (pipe(fds) != 0)
		return -1;
	if (target >= 0 ? dup2(fds[1], target) < 0 : 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (target >= 0)
		close(fds[1]);
	fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
	c->fd = fds[0];
	return target >= 0 ? target : fds[1];
}

static int worker_capture_output(void)
{
	pthread_t t;
	int err_fd;
	char v[16];

	if (capture_pipe(&captured[0], STDOUT_FILENO) < 0 ||
	    (err_fd = capture_pipe(&captured[1], -1)) < 0)
		return -1;
	/* read by the CPU device when a kernel's assertion fails */
	snprintf(v, sizeof(v), "%d", err_fd);
	setenv("VCUDA_CPU_ASSERT_FD", v, 1);
	return pthread_create(&t, NULL, output_main, NULL) == 0 ? 0 : -1;
}

/* Takes what was printed so far, up to this moment (the caller frees it):
 * what belongs on stderr first (*err_len bytes), then what belongs on
 * stdout. look: whether the pipes may hold more than the thread has drained
 * (else the read, a system call on every reply, is saved). */
static uint8_t *output_take(size_t *len, size_t *err_len, int look)
{
	uint8_t *b;
	struct capture *out = &captured[0], *err = &captured[1];

	fflush(stdout);
	pthread_mutex_lock(&output_lock);
	if (out->fd >= 0 && look) {
		output_drain(out);
		output_drain(err);
	}
	*err_len = err->len;
	*len = err->len + out->len;
	if (err->len == 0) {
		b = out->buf;
		out->buf = NULL;
	} else {
		if (out->len && (b = realloc(err->buf, err->len + out->len)) != NULL) {
			memcpy(b + err->len, out->buf, out->len);
			err->buf = b;
		} else if (out->len) {
			*len = err->len; /* no room to join them: stdout's text is lost */
		}
		b = err->buf;
		err->buf = NULL;
		free(out->buf);
		out->buf = NULL;
	}
	out->len = out->cap = err->len = err->cap = 0;
	pthread_mutex_unlock(&output_lock);
	return b;
}

static int session_send_reply(struct session *s, struct session_reply *out,
			      const Vcuda__Request *rq, CUresult result)
{
	size_t len = 0, err_len = 0;
	/* The CPU device prints only while it runs a kernel, inside a launch
	 * call; NVIDIA's driver prints when it synchronizes, which many calls
	 * do: there, every reply looks. */
	uint8_t *text = output_take(&len, &err_len, s->launched || strcmp(s->be->kind, "cpu") != 0);
	int rc;

	s->launched = 0;
	out->rp.seq = rq->seq;
	out->rp.result = (int32_t)result;
	out->rp.deferred = (int32_t)s->deferred;
	out->rp.errput_len = (uint32_t)err_len;
	s->deferred = CUDA_SUCCESS;
	/* What the device printed travels as the reply's payload, which has
	 * room for all of it (OUTPUT_MAX <= VCUDA_MAX_PAYLOAD); the header
	 * would not. */
	rc = vcuda_wire_send(s->chan, &out->rp.base, len ? text : NULL, len,
			     len ? VCUDA_SEND_GIFT : VCUDA_SEND_COPY);
	if (!len)
		free(text);
	return rc;
}

/* A move to another server the listener asked for (worker_migrate). */
static struct {
	pthread_cond_t done; /* with the session's lock */
	int pending, answered;
	char path[4096], url[512];
	char key[64]; /* a tcp:// destination's public key (Z85) */
	char answer[1600];
	struct precopy pre; /* the memory sent while the guest ran */
} move = {.done = PTHREAD_COND_INITIALIZER};

/* The server's key file (--key): a move to another host shows it. */
static const char *worker_key_file;

static int worker_move(struct session *s, const Vcuda__Request *rq);

/* Answers a request E_MOVED: the guest resumes at move.url. */
static void worker_moved_reply(struct session *s, uint64_t seq)
{
	Vcuda__Reply rp = VCUDA__REPLY__INIT;

	rp.seq = seq;
	rp.status = VCUDA_E_MOVED;
	rp.moved_to = move.url;
	rp.moved_key = move.pre.sock ? move.key : NULL;
	vcuda_wire_send(s->chan, &rp.base, NULL, 0, 0);
}

static int watchdog_in_call; /* the main thread is in a handler (atomic) */
static volatile int watchdog_stop;

/* VCUDA_RECORD_DIR: each request header received is written there as a
 * file, the protocol fuzzer's seeds (tests/fuzz). For testing only. */
static void session_record(const struct vcuda_msg *m)
{
	static const char *dir;
	static int checked;
	static unsigned n;
	char path[512];
	FILE *f;

	if (!checked++)
		dir = getenv("VCUDA_RECORD_DIR");
	if (!dir || n >= 10000)
		return;
	snprintf(path, sizeof(path), "%s/req-%d-%u", dir, (int)getpid(), n++);
	if ((f = fopen(path, "wb")) != NULL) {
		fwrite(m->hdr, 1, m->hdr_len, f);
		fclose(f);
	}
}

static int session_handle_one(struct session *s, const struct vcuda_msg *m, int in_batch);

/* Runs the posted requests of a batch in order, from a private copy (over
 * shm:// the guest could change the payload while it is read). A malformed
 * entry ends the batch and is the session's deferred error. */
static int session_batch(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m)
{
	uint8_t *copy = m->payload_len ? malloc(m->payload_len) : NULL;
	struct vcuda_msg sub;
	size_t off = 0;
	uint32_t n = 0;
	int rc = 0, more;

	if (m->payload_len && !copy) {
		if (s->deferred == CUDA_SUCCESS)
			s->deferred = CUDA_ERROR_OUT_OF_MEMORY;
		return 0;
	}
	if (copy)
		memcpy(copy, m->payload, m->payload_len);
	while (rc == 0 && (more = vcuda_batch_next(copy, m->payload_len, &off, &sub)) == 1) {
		n++;
		rc = session_handle_one(s, &sub, 1);
	}
	if (rc == 0 && (more < 0 || n != rq->batch->count)) {
		session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE, "a malformed batch");
		if (s->deferred == CUDA_SUCCESS)
			s->deferred = CUDA_ERROR_INVALID_VALUE;
	}
	free(copy);
	return rc;
}

/* Handles one message: a request, or a batch of them. Returns nonzero when
 * the session must end. */
static int session_handle(struct session *s, const struct vcuda_msg *m)
{
	return session_handle_one(s, m, 0);
}

static int session_handle_one(struct session *s, const struct vcuda_msg *m, int in_batch)
{
	static struct session_reply out; /* large; one request at a time */
	Vcuda__Request *rq;
	CUresult result;
	int rc = 0;

	/* A request alone is decoded into an arena (no malloc); those of a
	 * batch, while the batch's own request lives there, with malloc. */
	static struct vcuda_arena arena;
	ProtobufCAllocator *alloc = NULL;

	session_record(m);
	if (!in_batch) {
		if (!arena.a.alloc)
			vcuda_arena_init(&arena);
		vcuda_arena_reset(&arena);
		alloc = &arena.a;
	}
	rq = vcuda__request__unpack(alloc, m->hdr_len, m->hdr);

	if (!rq) {
		session_refuse(s, NULL, CUDA_ERROR_INVALID_VALUE,
			       "malformed message; closing the session");
		return VCUDA_E_PROTO;
	}
	memset(&out.rp, 0, sizeof(out.rp));
	vcuda__reply__init(&out.rp);
	s->calls++;
	VTRACE(server, "<- %s seq %llu device %d", vcuda_wire_call_name((int)rq->call_case),
	       (unsigned long long)rq->seq, rq->device);
	if (!s->attached && rq->call_case != VCUDA__REQUEST__CALL_ATTACH) {
		session_refuse(s, rq, CUDA_ERROR_NOT_PERMITTED,
			       "not attached; closing the session");
		rc = VCUDA_E_AUTH;
		goto out_free;
	}
	/* A batch is posted; one inside a batch goes to dispatch, which
	 * refuses it. */
	if (rq->call_case == VCUDA__REQUEST__CALL_BATCH && !in_batch && s->attached &&
	    !(rq->flags & VCUDA_REQ_WANT_REPLY)) {
		rc = session_batch(s, rq, m);
		goto out_free;
	}
	if (s->moved && rq->seq == s->last_seq + 1 && (rq->flags & VCUDA_REQ_WANT_REPLY)) {
		/* the request it was told moved, again: the new server failed the
		 * guest before anything ran there, and the session goes on here */
		VWARN(server, "%s: the guest could not resume at %s; its session goes on here",
		      s->peer, move.url);
		s->moved = 0;
	}
	if (s->moved) { /* the guest goes on elsewhere; nothing more runs here */
		if (rq->flags & VCUDA_REQ_WANT_REPLY)
			worker_moved_reply(s, rq->seq);
		else
			VWARN(server, "%s: a request after the session moved was not run", s->peer);
		goto out_free;
	}
	if (move.pending && !in_batch && (rq->flags & VCUDA_REQ_WANT_REPLY) && worker_move(s, rq))
		goto out_free;
	__atomic_store_n(&watchdog_in_call, 1, __ATOMIC_RELEASE);
	result = session_dispatch(s, rq, m, &out);
	__atomic_store_n(&watchdog_in_call, 0, __ATOMIC_RELEASE);
	if (rq->seq > s->last_seq)
		s->last_seq = rq->seq;
	if (rq->call_case == VCUDA__REQUEST__CALL_ATTACH && !s->attached) {
		rc = VCUDA_E_AUTH;
	} else if (s->report_fd >= 0) {
		close(s->report_fd); /* tells the listener the handshake is over */
		s->report_fd = -1;
	}
	if (rq->flags & VCUDA_REQ_WANT_REPLY) {
		if (session_send_reply(s, &out, rq, result) != 0 && rc == 0)
			rc = VCUDA_E_PEER_LOST;
	} else if (result != CUDA_SUCCESS && s->deferred == CUDA_SUCCESS) {
		s->deferred = result;
	}
out_free:
	vcuda__request__free_unpacked(rq, alloc);
	return rc;
}

int session_run(struct session *s, int attach_timeout_ms)
{
	int rc;

	for (;;) {
		struct vcuda_msg m;

		/* Queued kernels are charged when they have run, even while
		 * the guest says nothing. */
		int queued = s->paced.head != s->paced.tail;
		rc = vcuda_chan_recv(s->chan, &m,
				     !s->attached ? attach_timeout_ms
				     : queued	  ? 2
						  : -1);
		if (rc == VCUDA_E_TIMEOUT && s->attached) {
			session_paced_collect(s);
			continue;
		}
		if (rc == VCUDA_E_TOOBIG || rc == VCUDA_E_PROTO) {
			/* Unread, so its seq is unknown: a seq-0 reply says the
			 * message the guest sent last could not be read. */
			Vcuda__Reply rp = VCUDA__REPLY__INIT;
			session_refuse(s, NULL, CUDA_ERROR_INVALID_VALUE, vcuda_strerror(rc));
			rp.status = rc;
			if (vcuda_wire_send(s->chan, &rp.base, NULL, 0, 0) != 0)
				break;
			continue;
		}
		if (rc == VCUDA_E_TIMEOUT && !s->attached) {
			VWARN(server, "no client attached within %d ms", attach_timeout_ms);
			break;
		}
		if (rc) {
			if (rc == VCUDA_E_PEER_LOST)
				VINFO(server, "%s disconnected after %llu calls", s->peer,
				      (unsigned long long)s->calls);
			else
				VWARN(server, "%s: session ended (%s) after %llu calls", s->peer,
				      vcuda_strerror(rc), (unsigned long long)s->calls);
			rc = 0;
			break;
		}
		pthread_mutex_lock(&s->lock);
		rc = session_handle(s, &m);
		vcuda_chan_release(s->chan, &m);
		if (s->paced.head != s->paced.tail)
			session_paced_collect(s);
		pthread_mutex_unlock(&s->lock);
		if (rc == VCUDA_E_PEER_LOST) {
			VINFO(server, "%s left while being answered, after %llu calls", s->peer,
			      (unsigned long long)s->calls);
			rc = 0;
		}
		if (rc)
			break;
	}
	session_release(s, -1);
	return rc == 0 ? 0 : 1;
}

/* ---- the watchdog --------------------------------------------------------------
 * While the main thread is inside the backend (a kernel that runs for
 * minutes, or for ever), nothing reads the channel. This thread notices a
 * guest that left meanwhile and ends the worker: the process's exit ends
 * the kernel, on the CPU device and on a GPU (the driver destroys the
 * context), and frees everything the session held. */

static void *watchdog_main(void *arg)
{
	struct session *s = arg;

	while (!watchdog_stop) {
		usleep(200000);
		if (watchdog_stop || !__atomic_load_n(&watchdog_in_call, __ATOMIC_ACQUIRE) ||
		    !vcuda_chan_peer_lost(s->chan))
			continue;
		VINFO(server, "%s left while its call was running; ending the session", s->peer);
		_exit(0);
	}
	return NULL;
}

/* ---- checkpoints and migration ---------------------------------------------------
 * The listener asks on fd 9 (vcuda-smi): "C\nPATH" writes the session's
 * image to PATH between two of the guest's messages (under the session's
 * lock, so it holds exactly what the requests up to s->last_seq made);
 * "M\nWAIT_MS\nURL\nPATH" moves the session to the server at URL: at the
 * guest's next request that waits for its reply (everything it sent before
 * has run), the image goes to PATH, the server at URL adopts it (its admin
 * socket), and that request is answered E_MOVED with URL instead of being
 * run; the guest resumes there and sends it again. Answers are "0 BYTES
 * STOP_NS" or "-1 WHY". If anything fails before the answer E_MOVED, the
 * request runs here as if nothing happened. */

#define WORKER_CONTROL_FD 9

/* Writes the image to path (a new file): its size, or -1 with why. */
static int64_t worker_image(struct session *s, const char *path, unsigned flags, char *why,
			    size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	struct session_image_io io = session_image_fd(&fd);
	struct stat st;
	int64_t size = -1;

	if (fd < 0) {
		snprintf(why, len, "cannot create %.1000s: %s", path, strerror(errno));
		return -1;
	}
	if (session_image_write(s, &io, flags, why, len) != 0)
		unlink(path);
	else if (fstat(fd, &st) == 0)
		size = (int64_t)st.st_size;
	close(fd);
	return size;
}

static void worker_checkpoint(struct session *s, const char *path, char *answer, size_t len)
{
	char why[1024];
	int64_t size;

	pthread_mutex_lock(&s->lock);
	s->current = -1; /* this thread has no context current yet */
	size = worker_image(s, path, 0, why, sizeof(why));
	s->current = -1; /* nor has the main thread, as far as it knows */
	pthread_mutex_unlock(&s->lock);
	if (size < 0) {
		snprintf(answer, len, "-1 %s", why);
		return;
	}
	snprintf(answer, len, "0 %lld 0", (long long)size);
	VINFO(server, "%s: checkpoint written to %s (requests up to %llu)", s->peer, path,
	      (unsigned long long)s->last_seq);
}

/* Asks the server at url (its admin socket, the owner's: both servers run
 * as one user) to adopt the image at path, or with no path only whether it
 * answers. 0, or -1 with why. */
static int worker_adopt(const char *url, const char *path, char *why, size_t len)
{
	Vcuda__AdminRequest rq = VCUDA__ADMIN_REQUEST__INIT;
	Vcuda__AdminStatus *st = NULL;
	char admin[600];
	static uint8_t buf[1 << 16];
	uint8_t req[8192];
	void *sock;
	int n, linger = 0, timeout = 5000, immediate = 1, rc = -1;

	if (vcudad_admin_url(url, admin, sizeof(admin)) != 0) {
		snprintf(why, len, "%s has no admin socket this server can reach", url);
		return -1;
	}
	rq.op = path ? "adopt" : "status";
	rq.path = (char *)path;
	if (vcuda__admin_request__get_packed_size(&rq) > sizeof(req) ||
	    !(sock = zmq_socket(vcuda_zmq_context(), ZMQ_REQ))) {
		snprintf(why, len, "cannot ask %s", admin);
		return -1;
	}
	n = (int)vcuda__admin_request__pack(&rq, req);
	zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
	/* a server that is gone fails the send at once, not the wait */
	zmq_setsockopt(sock, ZMQ_IMMEDIATE, &immediate, sizeof(immediate));
	zmq_setsockopt(sock, ZMQ_SNDTIMEO, &timeout, sizeof(timeout));
	if (zmq_connect(sock, admin) != 0 || zmq_send(sock, req, (size_t)n, 0) != n ||
	    (n = zmq_recv(sock, buf, sizeof(buf), 0)) < 0 || n > (int)sizeof(buf))
		snprintf(why, len, "no answer from %s", admin);
	else if (!(st = vcuda__admin_status__unpack(NULL, (size_t)n, buf)))
		snprintf(why, len, "a malformed answer from %s", admin);
	else if (st->status)
		snprintf(why, len, "%s refused it: %s", url, st->message ? st->message : "?");
	else
		rc = 0;
	if (st)
		vcuda__admin_status__free_unpacked(st, NULL);
	zmq_close(sock);
	return rc;
}

/*
 * At a request that waits for its reply, with a move pending (session lock
 * held): 1 if the session moved and rq was answered E_MOVED, 0 if rq is to
 * run here (the move failed, and is answered so, or waits for a later
 * request).
 */
static int worker_move(struct session *s, const Vcuda__Request *rq)
{
	uint64_t t0 = vcuda_now_ns();
	char why[1024], unmovable[1024];
	int64_t size;
	const char *no;
	int pre = move.pre.pending != NULL, remote = move.pre.sock != NULL, ok = 0;
	size_t at;

	if (!move.pending || move.answered || s->last_seq + 1 != rq->seq)
		return 0; /* a guest that numbers otherwise is moved at its next call */
	move.pending = 0;
	move.answered = 1;
	size = -1;
	/* its devices' work done, what pre-copy has not sent yet goes now */
	if ((no = session_image_unmovable(s, unmovable, sizeof(unmovable))) != NULL)
		snprintf(why, sizeof(why), "the session cannot move: %s", no);
	else if (pre && precopy_finish(&move.pre, s, why, sizeof(why)) != 0)
		;
	else if (remote)
		ok = (size = precopy_send_image(&move.pre, s, pre ? SESSION_IMAGE_MEMORY_FILE : 0,
						why, sizeof(why))) >= 0;
	else if ((size = worker_image(s, move.path, pre ? SESSION_IMAGE_MEMORY_FILE : 0, why,
				      sizeof(why))) >= 0 &&
		 worker_adopt(move.url, move.path, why, sizeof(why)) == 0)
		ok = 1;
	if (!ok) {
		if (size >= 0 && !remote)
			unlink(move.path);
		snprintf(move.answer, sizeof(move.answer), "-1 %s", why);
		VWARN(server, "%s: not moved to %s: %s", s->peer, move.url, why);
		pthread_cond_signal(&move.done);
		return 0;
	}
	worker_moved_reply(s, rq->seq);
	s->moved = 1;
	/* "0 IMAGE_BYTES STOP_NS FINAL_BYTES ROUNDS", each round's
	 * "BYTES:NS:DIRTY", then a line saying how pre-copy went */
	at = (size_t)snprintf(move.answer, sizeof(move.answer), "0 %lld %llu %llu %u",
			      (long long)size, (unsigned long long)(vcuda_now_ns() - t0),
			      (unsigned long long)move.pre.final_bytes, move.pre.rounds);
	for (unsigned r = 0; r < move.pre.rounds && at < sizeof(move.answer); r++)
		at +=
		    (size_t)snprintf(move.answer + at, sizeof(move.answer) - at, " %llu:%llu:%llu",
				     (unsigned long long)move.pre.round_bytes[r],
				     (unsigned long long)move.pre.round_ns[r],
				     (unsigned long long)move.pre.round_dirty[r]);
	if (at < sizeof(move.answer))
		snprintf(move.answer + at, sizeof(move.answer) - at, "\n%s", move.pre.note);
	VINFO(server,
	      "%s: moved to %s after request %llu (image of %lld bytes, %.1f MiB sent at the "
	      "stop, %.1f ms)",
	      s->peer, move.url, (unsigned long long)s->last_seq, (long long)size,
	      (double)move.pre.final_bytes / 1048576, (double)(vcuda_now_ns() - t0) / 1e6);
	pthread_cond_signal(&move.done);
	return 1;
}

/* "M\nWAIT_MS\nURL\nPATH": waits for the main thread's move, at most
 * WAIT_MS for the guest's next call that waits. */
static void worker_migrate(struct session *s, char *cmd, char *answer, size_t len)
{
	char *wait = cmd, *url = wait ? strchr(wait, '\n') : NULL, *path, *key, why[1024];
	struct timespec until;
	const char *no;

	if (!url || !(path = strchr(url + 1, '\n'))) {
		snprintf(answer, len, "-1 a malformed request");
		return;
	}
	*url++ = 0;
	*path++ = 0;
	if ((key = strchr(path, '\n')) != NULL)
		*key++ = 0;
	snprintf(move.key, sizeof(move.key), "%s", key ? key : "");
	memset(&move.pre, 0, sizeof(move.pre));
	move.pre.fd = -1;
	/* Another host's server is asked first, while the guest runs on.
	 * Then pre-copy, also while it runs; it may not apply (the session
	 * then moves by stop and copy), but a session that cannot move at
	 * all is refused now. */
	if (strncmp(url, "tcp://", 6) == 0 &&
	    precopy_remote(&move.pre, s, url, move.key, worker_key_file, why, sizeof(why)) != 0) {
		snprintf(answer, len, "-1 %s", why);
		return;
	}
	pthread_mutex_lock(&s->lock);
	s->current = -1; /* this thread has no context current yet */
	if ((no = session_image_unmovable(s, why, sizeof(why))) != NULL)
		snprintf(answer, len, "-1 the session cannot move: %s", no);
	else
		precopy_begin(&move.pre, s, path);
	s->current = -1; /* nor has the main thread, as far as it knows */
	pthread_mutex_unlock(&s->lock);
	if (no) {
		precopy_end(&move.pre, s, 0);
		return;
	}
	precopy_rounds(&move.pre, s);
	/* the new server may have gone meanwhile: then the guest never waits */
	if (move.pre.sock ? precopy_ping(&move.pre, why, sizeof(why)) != 0
			  : worker_adopt(url, NULL, why, sizeof(why)) != 0) {
		precopy_end(&move.pre, s, 0);
		snprintf(answer, len, "-1 %s", why);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += strtol(wait, NULL, 10) / 1000 + 1;
	pthread_mutex_lock(&s->lock);
	snprintf(move.url, sizeof(move.url), "%s", url);
	snprintf(move.path, sizeof(move.path), "%s", path);
	move.answered = 0;
	move.pending = 1;
	while (!move.answered && pthread_cond_timedwait(&move.done, &s->lock, &until) == 0)
		;
	if (!move.answered) {
		move.pending = 0;
		snprintf(answer, len,
			 "-1 the guest made no call that waits for its reply within "
			 "the time given");
	} else {
		snprintf(answer, len, "%s", move.answer);
	}
	pthread_mutex_unlock(&s->lock);
	/* (the main thread is done with it: not pending, or answered) a moved
	 * session's memory file is the new server's to take */
	precopy_end(&move.pre, s, answer[0] == '0');
}

static void *worker_control_main(void *arg)
{
	struct session *s = arg;
	char cmd[4800], answer[1600];
	ssize_t n;

	while ((n = recv(WORKER_CONTROL_FD, cmd, sizeof(cmd) - 1, 0)) > 0) {
		cmd[n] = 0;
		if (n > 2 && cmd[0] == 'C' && cmd[1] == '\n')
			worker_checkpoint(s, cmd + 2, answer, sizeof(answer));
		else if (n > 2 && cmd[0] == 'M' && cmd[1] == '\n')
			worker_migrate(s, cmd + 2, answer, sizeof(answer));
		else
			snprintf(answer, sizeof(answer), "-1 an unknown request");
		if (answer[0] != '0')
			VWARN(server, "%s: %s failed: %s", s->peer,
			      cmd[0] == 'M' ? "moving the session" : "a checkpoint", answer + 3);
		if (send(WORKER_CONTROL_FD, answer, strlen(answer), MSG_NOSIGNAL) < 0)
			break;
	}
	return NULL;
}

/* Rebuilds the session from a checkpoint (--restore): the guest that
 * resumes finds it as its image left it. */
static int worker_restore(struct session *s, const char *path, int consume)
{
	char why[512];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct session_image_io io = session_image_fd(&fd);
	int rc;

	if (fd < 0) {
		VERR(server, "worker for %s: cannot open the checkpoint %s: %s", s->peer, path,
		     strerror(errno));
		return -1;
	}
	uint64_t t0 = vcuda_now_ns();
	rc = session_image_read(s, &io, why, sizeof(why));
	close(fd);
	if (rc != 0) {
		VERR(server, "worker for %s: cannot restore %s: %s", s->peer, path, why);
		return -1;
	}
	VINFO(server, "worker for %s: session restored from %s in %.1f ms (requests up to %llu)",
	      s->peer, path, (double)(vcuda_now_ns() - t0) / 1e6,
	      (unsigned long long)s->restored_seq);
	if (consume) /* a moved session's image: it has served */
		unlink(path);
	return 0;
}

/* Tells the listener where this worker listens: "ENDPOINT TOKENHEX\n" on fd 3. */
static int worker_report(const char *endpoint, const uint8_t *token)
{
	char hex[2 * SESSION_TOKEN_LEN + 1], line[600];
	int n;

	vcuda_hex(token, SESSION_TOKEN_LEN, hex);
	n = snprintf(line, sizeof(line), "%s %s\n", endpoint, hex);
	if (n < 0 || (size_t)n >= sizeof(line) || write(3, line, (size_t)n) != n)
		return -1;
	return 0; /* fd 3 stays open until the guest attaches */
}

/* The one key the worker's tcp:// socket lets in: its guest's, as the
 * listener checked it (ZAP, on a thread of its own). */
static uint8_t worker_peer_key[32];

static int worker_allow(void *arg, const uint8_t key[32], const char *address)
{
	if (memcmp(key, worker_peer_key, 32) == 0)
		return 1;
	VWARN(server, "refused a connection to worker %d from %s: not its guest's key",
	      (int)getpid(), address);
	return 0;
}

static int worker_keys(const struct vcudad_config *cfg, struct vcuda_curve *keys)
{
	char why[512] = "cannot check its guest's key";

	if (!cfg->peer_key)
		return 0;
	if (!cfg->key_file || strlen(cfg->peer_key) != 40 ||
	    !zmq_z85_decode(worker_peer_key, cfg->peer_key)) {
		VERR(server, "worker for %s: --peer-key needs --key and a Z85 key", cfg->peer);
		return 1;
	}
	if (vcuda_curve_read_keyfile(cfg->key_file, keys, why, sizeof(why)) != 0 ||
	    vcuda_zap_start(worker_allow, NULL) != 0) {
		VERR(server, "worker for %s: %s", cfg->peer, why);
		return 1;
	}
	return 0;
}

int vcudad_worker(const struct vcudad_config *cfg)
{
	struct vcuda_curve keys;
	static struct vcuda_backend be;
	static struct session s;
	char why[512];
	int rc;

	/* A worker never outlives its listener, and nothing it runs for a
	 * guest gains privileges (no setuid programs, no file capabilities). */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	vcuda_malloc_keep_chunks();	    /* copies to the guest go in malloc()ed chunks */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* no core files of guest data */
	if (cfg->parent && getppid() != (pid_t)cfg->parent)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	if (cfg->limits.kernel_timeout_s > 0) { /* read by the CPU device at each launch */
		char t[32];
		snprintf(t, sizeof(t), "%d", cfg->limits.kernel_timeout_s);
		setenv("VCUDA_CPU_KERNEL_TIMEOUT", t, 1);
	}
	if (cfg->nrestore && cfg->consume_image) { /* moved with pre-copy: its memory file */
		char mem[4200];
		snprintf(mem, sizeof(mem), "%s.mem", cfg->restore[0]);
		if (access(mem, F_OK) == 0)
			setenv("VCUDA_CPU_STORE", mem, 1);
	}
	if (vcuda_backend_open(cfg->backend, cfg->cpu_device, &be, why, sizeof(why)) != 0) {
		VERR(server, "worker for %s: no backend: %s", cfg->peer, why);
		return 1;
	}
	if (worker_capture_output() != 0)
		VWARN(server, "worker for %s: device output will go to the server's stdout",
		      cfg->peer);
	s.be = &be;
	s.peer = cfg->peer;
	s.client = cfg->client;
	s.quota[0] = vcuda_budget_attach(getenv("VCUDA_CLIENT_BUDGET"), &s.quota_slot);
	if (getenv("VCUDA_GROUP_BUDGET")) {
		uint32_t slot;
		s.quota[1] = vcuda_budget_attach(getenv("VCUDA_GROUP_BUDGET"), &slot);
		if (!s.quota[0] || !s.quota[1] || slot != s.quota_slot) {
			VERR(server, "worker for %s: its quotas are not usable", cfg->peer);
			return 1;
		}
	}
	s.sched = vcuda_sched_attach(getenv("VCUDA_SCHED"), &s.sched_slot);
	s.limits = &cfg->limits;
	worker_key_file = cfg->key_file;
	s.report_fd = 3;
	s.ipc_fd = 8; /* the listener's end of it: listener_ipc */
	s.current = -1;
	vcuda_handle_table_init(&s.handles, cfg->limits.handles);
	vcuda_rangemap_init(&s.mem);
	if (be.cuDeviceGetCount(&s.ndevices) != CUDA_SUCCESS)
		s.ndevices = 0;
	if (s.ndevices > SESSION_MAX_DEVICES)
		s.ndevices = SESSION_MAX_DEVICES;
	if (worker_keys(cfg, &keys) != 0)
		return 1;
	pthread_mutex_init(&s.lock, NULL);
	if (cfg->nrestore && worker_restore(&s, cfg->restore[0], cfg->consume_image) != 0)
		return 1;
	if ((rc = vcuda_chan_bind_keys(cfg->bind_url, cfg->peer_key ? &keys : NULL, &s.chan)) !=
	    0) {
		VERR(server, "worker for %s: cannot listen at %s: %s", cfg->peer, cfg->bind_url,
		     vcuda_strerror(rc));
		return 1;
	}
	if ((strncmp(cfg->bind_url, "ipc://", 6) == 0 ||
	     strncmp(cfg->bind_url, "shm://", 6) == 0) &&
	    vcuda_socket_protect(vcuda_chan_endpoint(s.chan) + 6, cfg->socket_mode,
				 cfg->socket_gid) != 0) {
		VERR(server, "worker for %s: cannot set the mode of its socket: %s", cfg->peer,
		     strerror(errno));
		vcuda_chan_close(s.chan);
		return 1;
	}
	if ((!cfg->nrestore && vcuda_random(s.token, sizeof(s.token)) != 0) ||
	    worker_report(vcuda_chan_endpoint(s.chan), s.token) != 0) {
		vcuda_chan_close(s.chan);
		return 1;
	}
	{
		pthread_t wd, ctl;
		if (pthread_create(&ctl, NULL, worker_control_main, &s) == 0)
			pthread_detach(ctl);
		int have_wd = pthread_create(&wd, NULL, watchdog_main, &s) == 0;
		rc = session_run(&s, cfg->attach_timeout_ms);
		watchdog_stop = 1;
		if (have_wd)
			pthread_join(wd, NULL);
	}
	vcuda_chan_close(s.chan);
	vcuda_handle_table_fini(&s.handles);
	vcuda_rangemap_fini(&s.mem);
	return rc;
}
