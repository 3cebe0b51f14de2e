/*
 * Session channels in shared memory (shm:///PATH), for guests on the
 * server's host: two single-producer, single-consumer rings of messages
 * and a heap of host memory, in one segment that the bound side (the
 * worker) makes as a memfd and hands to the one peer that connects to the
 * Unix socket at PATH, with SCM_RIGHTS: no other process can map it.
 *
 * The segment holds offsets only, never pointers, so the same layout works
 * where it is not a memfd but a VM's shared-memory device. A side waiting
 * for a message or for room spins briefly (at most VCUDA_SHM_SPIN_US,
 * adapting to how long its waits turn out to be), then sleeps on a futex in
 * the segment; where the two sides cannot share futexes (the
 * segment says so), it polls with a growing sleep instead. The socket stays
 * open for the session's life: its other end closing says the peer is
 * gone, which a waiting side checks every SHM_LIVENESS_NS.
 *
 * Nothing the peer writes is trusted: each side keeps its own copy of the
 * counters it owns (its ring's head, the other's tail) and of the
 * geometry, checks every length it reads before it uses it, and copies a
 * message's header out of the segment before it is decoded (a peer could
 * change it while the decoder reads). Payloads are handed over where they
 * lie: a receiver that parses one copies it first (server/module.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "rangemap.h"
#include "transport.h"
#include "util.h"

#define SHM_MAGIC     0x316d736164756376ull /* "vcudasm1" */
#define SHM_VERSION   2u
#define SHM_RING_SIZE (16u << 20)
/*
 * A record starts at a 64-byte slot: its sequence word (its position in the
 * ring's stream, plus one, mixed with the segment's key), written last;
 * its kind and lengths; the header, padded to 8 bytes; the payload. A small
 * message is one cache line, which the reader's poll brings in whole. A
 * wrap record sends the reader to the ring's start.
 */
#define SHM_SLOT	64u
#define SHM_REC_MSG	1u
#define SHM_REC_WRAP	2u
#define SHM_REC_PAYLOAD 0x100u /* with MSG: the message has a payload (maybe empty) */
#define SHM_REC_HDR	24u
#define SHM_REC_MAX	(SHM_REC_HDR + VCUDA_MAX_HEADER + VCUDA_MAX_PAYLOAD + SHM_SLOT)
#define SHM_HEAP_ALIGN	4096u
#define SHM_HEAP_MAX	(64ull << 30)
#define SHM_HEAP_ALLOCS 65536
#define SHM_LIVENESS_NS 100000000ull /* a waiting side checks its peer this often */
#define SHM_FD_WAIT_MS	10000	     /* a connecting side waits this long for the segment */

/* The control lines of a ring: the producer's futex word with the flag the
 * consumer sets before it sleeps on it, and the consumer's tail with its
 * futex word and the producer's flag. A side reads the other's line only
 * when it has to: the producer the tail when the room it knew of is used
 * up. */
struct shm_ring {
	uint64_t head;		    /* unused: each record carries its sequence word */
	uint32_t data_seq;	    /* futex: bumped for a sleeping consumer */
	uint32_t consumer_sleeping; /* set by the consumer */
	uint8_t pad0[48];
	uint64_t tail;		    /* bytes the consumer has released */
	uint32_t space_seq;	    /* futex: bumped for a sleeping producer */
	uint32_t producer_sleeping; /* set by the producer */
	uint8_t pad1[48];
	uint64_t off, size; /* the ring's bytes, from the segment's start */
	uint8_t pad2[48];
};

struct shm_segment {
	uint64_t magic;
	uint32_t version;
	uint32_t futex; /* 1: both sides share a kernel and wake each other */
	uint64_t size;	/* of the whole segment */
	uint64_t heap_off, heap_size;
	uint64_t seq_key; /* random: stale bytes never pass for a record's start */
	uint8_t pad[16];
	struct shm_ring ring[2]; /* 0: connecting side to bound side; 1: back */
};

struct schan {
	struct vcuda_chan base;
	int bound;
	int lost;
	int sock;      /* the peer's connection, -1 until it came (atomic) */
	int listen_fd; /* bound: where the peer connects, until it came */
	int wake[2];   /* bound: stops the acceptor */
	pthread_t acceptor;
	int have_acceptor;
	long peer_uid; /* bound: the one user that may connect, or -1 */
	int memfd;     /* bound: until handed over */
	uint8_t *seg;
	size_t seg_size;
	struct shm_segment *h;
	/* Geometry and the counters this side owns, kept here: the copies in
	 * the segment are for the peer to read and are never read back. */
	struct shm_ring *tx, *rx;
	uint8_t *tx_buf, *rx_buf;
	uint64_t tx_size, rx_size;
	uint64_t tx_head;      /* published */
	uint64_t tx_need;      /* room the record being sent waits for */
	uint64_t tx_tail_seen; /* the consumer's tail when last read */
	uint64_t seq_key;
	uint64_t rx_cursor; /* read */
	uint64_t rx_tail;   /* released */
	unsigned outstanding;
	uint64_t heap_off, heap_size;
	uint64_t spin_ns;     /* how long the next wait spins before it sleeps */
	uint64_t spin_max_ns; /* at most (VCUDA_SHM_SPIN_US) */
	int futex;
	pthread_mutex_t heap_lock;
	struct vcuda_rangemap heap; /* connecting side: allocations */
	char path[200];
	char endpoint[220];
	uint8_t hdr_buf[4096]; /* the private copy of a received header */
};

/* ---- waiting ------------------------------------------------------------------ */

static long shm_futex(uint32_t *word, int op, uint32_t val, const struct timespec *t)
{
	return syscall(SYS_futex, word, op, val, t, NULL, 0);
}

/* Wakes the other side if it sleeps on seq (after what it waits for was
 * published). */
static void shm_notify(struct schan *s, uint32_t *seq, uint32_t *sleeping)
{
	if (!__atomic_load_n(sleeping, __ATOMIC_SEQ_CST))
		return;
	__atomic_add_fetch(seq, 1, __ATOMIC_SEQ_CST);
	if (s->futex)
		shm_futex(seq, FUTEX_WAKE, 1, NULL);
}

/* Whether the peer is gone: its end of the socket closed (or it wrote to
 * the socket, which it never should). */
static int shm_check_peer(struct schan *s)
{
	int fd = __atomic_load_n(&s->sock, __ATOMIC_ACQUIRE);
	struct pollfd p;

	if (__atomic_load_n(&s->lost, __ATOMIC_RELAXED))
		return 1;
	if (fd < 0)
		return 0;
	p = (struct pollfd){.fd = fd, .events = POLLIN};
	if (poll(&p, 1, 0) > 0 && p.revents)
		__atomic_store_n(&s->lost, 1, __ATOMIC_RELAXED);
	return __atomic_load_n(&s->lost, __ATOMIC_RELAXED);
}

static inline void shm_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * Waits until ready(s) or the deadline (0: none): spins for spin_ns, then
 * sleeps on seq (saying so in sleeping), or, without futexes, polls with a
 * growing sleep. Returns 0, VCUDA_E_TIMEOUT or VCUDA_E_PEER_LOST.
 */
static int shm_wait(struct schan *s, int (*ready)(struct schan *), uint32_t *seq,
		    uint32_t *sleeping, uint64_t deadline)
{
	uint64_t start = vcuda_now_ns(), now = start, spin_end = start + s->spin_ns;
	uint64_t check = start + SHM_LIVENESS_NS;
	long backoff_ns = 1000;

	for (unsigned i = 0;; i++) {
		if (ready(s))
			return 0;
		if ((i & 63) == 0 &&
		    ((now = vcuda_now_ns()) >= spin_end || (deadline && now >= deadline)))
			break;
		shm_relax();
	}
	for (;;) {
		uint64_t until;
		struct timespec t;
		if (ready(s)) {
			/* Adaptive: had the wait been spun through, it would have
			 * been shorter than the spin allowed: spin longer next
			 * time; else spinning was waste (the peer was busy, or
			 * not running at all on a loaded host): spin less. */
			uint64_t waited = vcuda_now_ns() - start;
			if (waited <= s->spin_max_ns)
				s->spin_ns = s->spin_ns * 2 + 1000 < s->spin_max_ns
						 ? s->spin_ns * 2 + 1000
						 : s->spin_max_ns;
			else
				s->spin_ns /= 2;
			return 0;
		}
		now = vcuda_now_ns();
		if (deadline && now >= deadline)
			return VCUDA_E_TIMEOUT;
		if (now >= check) {
			if (shm_check_peer(s))
				return VCUDA_E_PEER_LOST;
			check = now + SHM_LIVENESS_NS;
		}
		until = deadline && deadline < check ? deadline : check;
		if (!s->futex) {
			t = (struct timespec){0, backoff_ns};
			nanosleep(&t, NULL);
			backoff_ns = backoff_ns < 1000000 ? backoff_ns * 2 : 1000000;
			continue;
		}
		__atomic_store_n(sleeping, 1, __ATOMIC_SEQ_CST);
		uint32_t v = __atomic_load_n(seq, __ATOMIC_SEQ_CST);
		if (!ready(s)) {
			t.tv_sec = (time_t)((until - now) / 1000000000u);
			t.tv_nsec = (long)((until - now) % 1000000000u);
			shm_futex(seq, FUTEX_WAIT, v, &t);
		}
		__atomic_store_n(sleeping, 0, __ATOMIC_SEQ_CST);
	}
}

static uint64_t shm_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? 0 : vcuda_now_ns() + (uint64_t)timeout_ms * 1000000u + 1;
}

/* ---- the rings ------------------------------------------------------------------- */

static uint64_t shm_pad(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

/* A record's bytes: its head, the header, the payload, in whole slots. */
static uint64_t shm_record_size(uint64_t hdr_len, uint64_t payload_len)
{
	return (SHM_REC_HDR + shm_pad(hdr_len) + payload_len + SHM_SLOT - 1) &
	       ~(uint64_t)(SHM_SLOT - 1);
}

/* The word that says a record starts at absolute position pos. */
static uint64_t shm_seq(const struct schan *s, uint64_t pos)
{
	return (pos + 1) ^ s->seq_key;
}

/* Room in the outgoing ring. A corrupt tail counts as all the room there
 * is, and shm_put finds it out. */
static uint64_t shm_tx_free(struct schan *s)
{
	uint64_t tail = s->tx_tail_seen;

	/* The consumer's line is read only when what was known is not enough. */
	if (s->tx_size - (s->tx_head - tail) < s->tx_need)
		s->tx_tail_seen = tail = __atomic_load_n(&s->tx->tail, __ATOMIC_ACQUIRE);
	return s->tx_head - tail > s->tx_size ? UINT64_MAX : s->tx_size - (s->tx_head - tail);
}

/* What a record of rec bytes needs, contiguous: a wrap record may come
 * first. */
static uint64_t shm_tx_need(const struct schan *s, uint64_t rec)
{
	uint64_t pos = s->tx_head % s->tx_size;

	return s->tx_size - pos < rec ? s->tx_size - pos + rec : rec;
}

static int shm_tx_ready(struct schan *s)
{
	return shm_tx_free(s) >= s->tx_need;
}

/* Whether the next record has been published: its sequence word, written
 * last, arrives in the same cache line as a small message. */
static int shm_rx_ready(struct schan *s)
{
	const uint64_t *w = (const uint64_t *)(s->rx_buf + s->rx_cursor % s->rx_size);

	return __atomic_load_n(w, __ATOMIC_ACQUIRE) == shm_seq(s, s->rx_cursor);
}

/* Publishes the record whose head is at p (absolute position pos). */
static void shm_publish(struct schan *s, uint8_t *p, uint64_t pos, uint64_t rec)
{
	__atomic_store_n((uint64_t *)p, shm_seq(s, pos), __ATOMIC_SEQ_CST);
	s->tx_head = pos + rec;
	shm_notify(s, &s->tx->data_seq, &s->tx->consumer_sleeping);
}

/* Writes one record of kind (the header and payload given, or zeros where
 * NULL; a record claiming more than a message may hold is written as its
 * head alone) and publishes it. */
static int shm_put(struct schan *s, uint32_t kind, const void *hdr, uint32_t hdr_len,
		   const void *payload, uint64_t payload_len)
{
	uint64_t rec = shm_record_size(hdr_len, payload_len), pos;
	int whole = rec <= SHM_REC_MAX;
	uint8_t *p;
	int rc;

	if (__atomic_load_n(&s->lost, __ATOMIC_RELAXED))
		return VCUDA_E_PEER_LOST;
	s->tx_need = shm_tx_need(s, whole ? rec : SHM_SLOT);
	if (!shm_tx_ready(s) &&
	    (rc = shm_wait(s, shm_tx_ready, &s->tx->space_seq, &s->tx->producer_sleeping, 0)) != 0)
		return rc;
	if (shm_tx_free(s) == UINT64_MAX) { /* the peer wrote a tail it cannot have */
		__atomic_store_n(&s->lost, 1, __ATOMIC_RELAXED);
		return VCUDA_E_PEER_LOST;
	}
	pos = s->tx_head % s->tx_size;
	if (s->tx_size - pos < (whole ? rec : SHM_SLOT)) {
		uint32_t wrap = SHM_REC_WRAP;
		memcpy(s->tx_buf + pos + 8, &wrap, sizeof(wrap));
		shm_publish(s, s->tx_buf + pos, s->tx_head, s->tx_size - pos);
		pos = 0;
	}
	p = s->tx_buf + pos;
	memcpy(p + 8, &kind, 4);
	memcpy(p + 12, &hdr_len, 4);
	memcpy(p + 16, &payload_len, 8);
	if (!whole) {
		shm_publish(s, p, s->tx_head, SHM_SLOT);
		return 0;
	}
	if (hdr && hdr_len)
		memcpy(p + SHM_REC_HDR, hdr, hdr_len);
	else if (hdr_len)
		memset(p + SHM_REC_HDR, 0, hdr_len);
	if (payload && payload_len)
		memcpy(p + SHM_REC_HDR + shm_pad(hdr_len), payload, payload_len);
	shm_publish(s, p, s->tx_head, rec);
	return 0;
}

static int shm_send(struct vcuda_chan *c, const void *hdr, size_t hdr_len, const void *payload,
		    size_t payload_len, unsigned flags)
{
	struct schan *s = (struct schan *)c;
	int rc;

	if (hdr_len > VCUDA_MAX_HEADER || payload_len > VCUDA_MAX_PAYLOAD)
		rc = VCUDA_E_TOOBIG;
	else
		rc = shm_put(s, SHM_REC_MSG | (payload ? SHM_REC_PAYLOAD : 0), hdr,
			     (uint32_t)hdr_len, payload, payload_len);
	if (flags == VCUDA_SEND_GIFT)
		free((void *)payload);
	return rc;
}

int vcuda_shm_send_raw(struct vcuda_chan *c, uint32_t kind, uint32_t hdr_len, uint64_t payload_len)
{
	if (c->ops != &vcuda_shm_ops)
		return VCUDA_E_INVAL;
	return shm_put((struct schan *)c, kind, NULL, hdr_len, NULL, payload_len);
}

int vcuda_shm_send_bytes(struct vcuda_chan *c, const void *body, size_t len)
{
	struct schan *s = (struct schan *)c;
	uint64_t rec = (8 + (uint64_t)len + SHM_SLOT - 1) & ~(uint64_t)(SHM_SLOT - 1), pos;

	if (c->ops != &vcuda_shm_ops || rec > s->tx_size / 2)
		return VCUDA_E_INVAL;
	s->tx_need = shm_tx_need(s, rec);
	if (!shm_tx_ready(s))
		return VCUDA_E_FULL;
	pos = s->tx_head % s->tx_size;
	if (s->tx_size - pos < rec) {
		uint32_t wrap = SHM_REC_WRAP;
		memcpy(s->tx_buf + pos + 8, &wrap, sizeof(wrap));
		shm_publish(s, s->tx_buf + pos, s->tx_head, s->tx_size - pos);
		pos = 0;
	}
	memcpy(s->tx_buf + pos + 8, body, len);
	shm_publish(s, s->tx_buf + pos, s->tx_head, rec);
	return 0;
}

/* The ring's contents cannot be a sender's: the session cannot go on. */
static int shm_corrupt(struct schan *s, const char *why)
{
	if (!__atomic_exchange_n(&s->lost, 1, __ATOMIC_RELAXED))
		VWARN(remoting, "shm channel %s: %s; the peer is dropped", s->endpoint, why);
	return VCUDA_E_PEER_LOST;
}

/* Releases what was read up to end. */
static void shm_rx_release_to(struct schan *s, uint64_t end)
{
	s->rx_tail = end;
	__atomic_store_n(&s->rx->tail, end, __ATOMIC_SEQ_CST);
	shm_notify(s, &s->rx->space_seq, &s->rx->producer_sleeping);
}

static int shm_recv(struct vcuda_chan *c, struct vcuda_msg *m, int timeout_ms)
{
	struct schan *s = (struct schan *)c;
	uint64_t deadline = shm_deadline(timeout_ms);
	int rc;

	for (;;) {
		uint64_t pos, rec, payload_len;
		uint32_t kind, hdr_len;
		uint8_t *p, *copy;

		if (__atomic_load_n(&s->lost, __ATOMIC_RELAXED))
			return VCUDA_E_PEER_LOST;
		if (!shm_rx_ready(s) && (rc = shm_wait(s, shm_rx_ready, &s->rx->data_seq,
						       &s->rx->consumer_sleeping, deadline)) != 0)
			return rc;
		pos = s->rx_cursor % s->rx_size;
		p = s->rx_buf + pos;
		memcpy(&kind, p + 8, 4);
		if (kind == SHM_REC_WRAP) {
			s->rx_cursor += s->rx_size - pos;
			if (!s->outstanding)
				shm_rx_release_to(s, s->rx_cursor);
			continue;
		}
		memcpy(&hdr_len, p + 12, 4);
		memcpy(&payload_len, p + 16, 8);
		if (payload_len > s->rx_size || hdr_len > s->rx_size)
			return shm_corrupt(s, "a record larger than its ring");
		rec = shm_record_size(hdr_len, payload_len);
		if (rec > SHM_REC_MAX || rec > s->rx_size - pos)
			return shm_corrupt(s,
					   "a record larger than a message or past the ring's end");
		s->rx_cursor += rec;
		if ((kind & ~SHM_REC_PAYLOAD) != SHM_REC_MSG || hdr_len > VCUDA_MAX_HEADER ||
		    payload_len > VCUDA_MAX_PAYLOAD) {
			if (!s->outstanding)
				shm_rx_release_to(s, s->rx_cursor);
			return (kind & ~SHM_REC_PAYLOAD) != SHM_REC_MSG ? VCUDA_E_PROTO
									: VCUDA_E_TOOBIG;
		}
		/* The header is decoded from a private copy: in the channel's
		 * own buffer when no other message is held, as is usual. */
		if (!s->outstanding && hdr_len <= sizeof(s->hdr_buf))
			copy = s->hdr_buf;
		else if (!(copy = malloc(hdr_len ? hdr_len : 1)))
			return VCUDA_E_NOMEM;
		memcpy(copy, p + SHM_REC_HDR, hdr_len);
		m->hdr = copy;
		m->hdr_len = hdr_len;
		m->payload = (kind & SHM_REC_PAYLOAD) ? p + SHM_REC_HDR + shm_pad(hdr_len) : NULL;
		m->payload_len = (kind & SHM_REC_PAYLOAD) ? payload_len : 0;
		m->priv[0] = copy;
		m->priv[1] = (void *)(uintptr_t)s->rx_cursor;
		s->outstanding++;
		return 0;
	}
}

/* Messages are released in the order they were received. */
static void shm_release(struct vcuda_chan *c, struct vcuda_msg *m)
{
	struct schan *s = (struct schan *)c;

	if (m->priv[0] != s->hdr_buf)
		free(m->priv[0]);
	m->priv[0] = NULL;
	if (s->outstanding)
		s->outstanding--;
	shm_rx_release_to(s, s->outstanding ? (uint64_t)(uintptr_t)m->priv[1] : s->rx_cursor);
}

static int shm_peer_lost(struct vcuda_chan *c)
{
	return shm_check_peer((struct schan *)c);
}

static const char *shm_endpoint(struct vcuda_chan *c)
{
	return ((struct schan *)c)->endpoint;
}

/* ---- the heap ------------------------------------------------------------------ */

static void *shm_heap_alloc(struct vcuda_chan *c, size_t n)
{
	struct schan *s = (struct schan *)c;
	uint64_t size = ((uint64_t)n + SHM_HEAP_ALIGN - 1) & ~(uint64_t)(SHM_HEAP_ALIGN - 1);
	uint64_t start = (uintptr_t)(s->seg + s->heap_off), end = start + s->heap_size, at = start;
	struct vcuda_range r;
	void *p = NULL;

	if (s->bound || !n || size > s->heap_size)
		return NULL;
	pthread_mutex_lock(&s->heap_lock);
	if (s->heap.n < SHM_HEAP_ALLOCS) {
		for (size_t i = 0; i < s->heap.n && s->heap.r[i].base - at < size; i++)
			at = s->heap.r[i].base + s->heap.r[i].size;
		r = (struct vcuda_range){.base = at, .size = size};
		if (end - at >= size && vcuda_rangemap_insert(&s->heap, &r) == 0)
			p = (void *)(uintptr_t)at;
	}
	pthread_mutex_unlock(&s->heap_lock);
	return p;
}

static int shm_heap_free(struct vcuda_chan *c, void *p)
{
	struct schan *s = (struct schan *)c;
	int rc;

	pthread_mutex_lock(&s->heap_lock);
	rc = vcuda_rangemap_remove(&s->heap, (uintptr_t)p, NULL) == 0 ? 0 : -1;
	pthread_mutex_unlock(&s->heap_lock);
	return rc;
}

static int shm_heap_offset(struct vcuda_chan *c, const void *p, size_t n, uint64_t *off)
{
	struct schan *s = (struct schan *)c;
	const struct vcuda_range *r;

	pthread_mutex_lock(&s->heap_lock);
	r = vcuda_rangemap_find_span(&s->heap, (uintptr_t)p, n);
	pthread_mutex_unlock(&s->heap_lock);
	if (!r)
		return -1;
	*off = (uintptr_t)p - (uintptr_t)(s->seg + s->heap_off);
	return 0;
}

static void *shm_heap_at(struct vcuda_chan *c, uint64_t off, uint64_t n)
{
	struct schan *s = (struct schan *)c;

	if (off > s->heap_size || n > s->heap_size - off)
		return NULL;
	return s->seg + s->heap_off + off;
}

static void *shm_heap_base(struct vcuda_chan *c, size_t *n)
{
	struct schan *s = (struct schan *)c;

	*n = (size_t)s->heap_size;
	return s->heap_size ? s->seg + s->heap_off : NULL;
}

/* ---- opening and closing -------------------------------------------------------- */

static void shm_close(struct vcuda_chan *c)
{
	struct schan *s = (struct schan *)c;

	if (s->have_acceptor) {
		if (write(s->wake[1], "x", 1) < 0)
			VWARN(remoting, "cannot stop the shm acceptor: %s", strerror(errno));
		pthread_join(s->acceptor, NULL);
	}
	if (s->wake[0] >= 0)
		close(s->wake[0]), close(s->wake[1]);
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		unlink(s->path);
	}
	if (s->sock >= 0)
		close(s->sock);
	if (s->memfd >= 0)
		close(s->memfd);
	if (s->seg)
		munmap(s->seg, s->seg_size);
	vcuda_rangemap_fini(&s->heap);
	pthread_mutex_destroy(&s->heap_lock);
	free(s);
}

static struct schan *shm_new(const char *url, int bound)
{
	struct schan *s;
	const char *path = url + 6, *q = strchr(path, '?');
	size_t len = q ? (size_t)(q - path) : strlen(path);
	const char *spin = getenv("VCUDA_SHM_SPIN_US");

	if (strncmp(url, "shm://", 6) != 0 || path[0] != '/' || len >= sizeof(s->path) ||
	    len >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return NULL;
	if (!(s = calloc(1, sizeof(*s))))
		return NULL;
	s->base.ops = &vcuda_shm_ops;
	s->bound = bound;
	s->sock = s->listen_fd = s->memfd = s->wake[0] = s->wake[1] = -1;
	s->peer_uid = -1;
	memcpy(s->path, path, len);
	snprintf(s->endpoint, sizeof(s->endpoint), "shm://%s", s->path);
	s->spin_max_ns =
	    (spin && *spin ? strtoull(spin, NULL, 10) : VCUDA_SHM_SPIN_DEFAULT) * 1000u;
	if (s->spin_max_ns > 10000000u)
		s->spin_max_ns = 10000000u;
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		s->spin_max_ns = 0; /* the peer cannot run while this side spins */
	s->spin_ns = s->spin_max_ns;
	pthread_mutex_init(&s->heap_lock, NULL);
	vcuda_rangemap_init(&s->heap);
	if (q && strncmp(q, "?uid=", 5) == 0)
		s->peer_uid = strtol(q + 5, NULL, 10);
	return s;
}

/* Both sides: where the rings and the heap are, from the header (which the
 * connecting side checks: a segment that does not add up is refused). */
static int shm_layout(struct schan *s)
{
	struct shm_segment *h = (struct shm_segment *)s->seg;
	int me = s->bound ? 1 : 0;

	if (s->seg_size < sizeof(*h) || h->magic != SHM_MAGIC || h->version != SHM_VERSION ||
	    h->size != s->seg_size)
		return -1;
	for (int i = 0; i < 2; i++) {
		const struct shm_ring *r = &h->ring[i];
		if (r->off < sizeof(*h) || r->off > s->seg_size || r->size > s->seg_size - r->off ||
		    r->size < 2 * SHM_REC_MAX || (r->off & 63) || (r->size & (SHM_SLOT - 1)))
			return -1;
	}
	if (h->heap_off > s->seg_size || h->heap_size > s->seg_size - h->heap_off)
		return -1;
	s->h = h;
	s->tx = &h->ring[me];
	s->rx = &h->ring[1 - me];
	s->tx_buf = s->seg + s->tx->off;
	s->tx_size = s->tx->size;
	s->rx_buf = s->seg + s->rx->off;
	s->rx_size = s->rx->size;
	s->heap_off = h->heap_off;
	s->heap_size = h->heap_size;
	s->futex = h->futex != 0;
	s->seq_key = h->seq_key;
	return 0;
}

/* Bound side: a new segment, its rings and heap as configured. */
static int shm_segment_make(struct schan *s)
{
	const char *heap_env = getenv("VCUDA_SHM_HEAP"), *poll_env = getenv("VCUDA_SHM_POLL");
	uint64_t heap = VCUDA_SHM_HEAP_DEFAULT, rings = sizeof(struct shm_segment) + 63;
	struct shm_segment *h;

	if (heap_env && *heap_env &&
	    (vcuda_parse_size(heap_env, &heap) != 0 || heap > SHM_HEAP_MAX))
		return -1;
	heap = (heap + SHM_HEAP_ALIGN - 1) & ~(uint64_t)(SHM_HEAP_ALIGN - 1);
	rings = (rings & ~(uint64_t)63);
	s->seg_size = (size_t)((rings + 2ull * SHM_RING_SIZE + SHM_HEAP_ALIGN - 1) /
				   SHM_HEAP_ALIGN * SHM_HEAP_ALIGN +
			       heap);
	if ((s->memfd = memfd_create("vcuda-shm", MFD_CLOEXEC)) < 0 ||
	    ftruncate(s->memfd, (off_t)s->seg_size) != 0)
		return -1;
	s->seg = mmap(NULL, s->seg_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->memfd, 0);
	if (s->seg == MAP_FAILED) {
		s->seg = NULL;
		return -1;
	}
	h = (struct shm_segment *)s->seg;
	h->magic = SHM_MAGIC;
	h->version = SHM_VERSION;
	h->futex = !(poll_env && *poll_env && strcmp(poll_env, "0") != 0);
	h->size = s->seg_size;
	h->ring[0].off = rings;
	h->ring[0].size = SHM_RING_SIZE;
	h->ring[1].off = rings + SHM_RING_SIZE;
	h->ring[1].size = SHM_RING_SIZE;
	h->heap_off = s->seg_size - heap;
	h->heap_size = heap;
	if (vcuda_random(&h->seq_key, sizeof(h->seq_key)) != 0)
		return -1;
	return shm_layout(s);
}

/* Bound side: takes the one peer, checks who it is, and hands it the
 * segment; then the listening socket goes. */
static void *shm_acceptor(void *arg)
{
	struct schan *s = arg;

	for (;;) {
		struct pollfd p[2] = {{s->listen_fd, POLLIN, 0}, {s->wake[0], POLLIN, 0}};
		struct ucred cred;
		socklen_t cl = sizeof(cred);
		char control[CMSG_SPACE(sizeof(int))];
		uint64_t size = s->seg_size;
		struct iovec iov = {&size, sizeof(size)};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = control,
				    .msg_controllen = sizeof(control)};
		struct cmsghdr *cm;
		int fd;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return NULL;
		if (p[1].revents)
			return NULL;
		if (!(p[0].revents & POLLIN) ||
		    (fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 ||
		    (s->peer_uid >= 0 && (long)cred.uid != s->peer_uid)) {
			VWARN(remoting, "shm channel %s: refused a connection from uid %ld",
			      s->endpoint, cl ? (long)cred.uid : -1L);
			close(fd);
			continue;
		}
		memset(control, 0, sizeof(control));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &s->memfd, sizeof(int));
		if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof(size)) {
			close(fd);
			continue;
		}
		/* One peer: nobody else may connect, and the segment lives on
		 * in the two mappings only. */
		close(s->listen_fd);
		s->listen_fd = -1;
		unlink(s->path);
		close(s->memfd);
		s->memfd = -1;
		__atomic_store_n(&s->sock, fd, __ATOMIC_RELEASE);
		return NULL;
	}
}

static int shm_bind(const char *url, const struct vcuda_curve *keys, struct vcuda_chan **out)
{
	struct schan *s = shm_new(url, 1);
	struct sockaddr_un a = {.sun_family = AF_UNIX};

	(void)keys;
	if (!s)
		return VCUDA_E_URL;
	memcpy(a.sun_path, s->path, strlen(s->path));
	if (shm_segment_make(s) != 0) {
		VERR(remoting, "cannot make a shared-memory segment for %s: %s", s->endpoint,
		     strerror(errno));
		shm_close(&s->base);
		return VCUDA_E_TRANSPORT;
	}
	if ((s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(s->listen_fd, 4) != 0 || pipe2(s->wake, O_CLOEXEC) != 0) {
		VERR(remoting, "cannot listen at %s: %s", s->endpoint, strerror(errno));
		if (s->listen_fd >= 0 && errno != EADDRINUSE)
			unlink(s->path);
		close(s->listen_fd);
		s->listen_fd = -1;
		shm_close(&s->base);
		return VCUDA_E_TRANSPORT;
	}
	if (pthread_create(&s->acceptor, NULL, shm_acceptor, s) != 0) {
		shm_close(&s->base);
		return VCUDA_E_TRANSPORT;
	}
	s->have_acceptor = 1;
	*out = &s->base;
	return 0;
}

/* Connecting side: the segment's file, sent with SCM_RIGHTS. */
static int shm_receive_segment(struct schan *s)
{
	char control[CMSG_SPACE(sizeof(int))];
	uint64_t size = 0;
	struct iovec iov = {&size, sizeof(size)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = control,
			    .msg_controllen = sizeof(control)};
	struct pollfd p = {s->sock, POLLIN, 0};
	struct cmsghdr *cm;
	struct stat st;
	int fd = -1;

	if (poll(&p, 1, SHM_FD_WAIT_MS) <= 0 ||
	    recvmsg(s->sock, &mh, MSG_CMSG_CLOEXEC) != (ssize_t)sizeof(size))
		return -1;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != size || size > SIZE_MAX) {
		close(fd);
		return -1;
	}
	s->seg_size = (size_t)size;
	s->seg = mmap(NULL, s->seg_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (s->seg == MAP_FAILED) {
		s->seg = NULL;
		return -1;
	}
	if (shm_layout(s) != 0)
		return -1;
	/* A fresh segment: both rings empty. */
	s->tx_head = s->tx_tail_seen = 0;
	s->rx_cursor = s->rx_tail = __atomic_load_n(&s->rx->tail, __ATOMIC_ACQUIRE);
	return 0;
}

static int shm_connect(const char *url, const struct vcuda_curve *keys, struct vcuda_chan **out)
{
	struct schan *s = shm_new(url, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd;

	(void)keys;
	if (!s)
		return VCUDA_E_URL;
	memcpy(a.sun_path, s->path, strlen(s->path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		VERR(remoting, "cannot connect to %s: %s", s->endpoint, strerror(errno));
		if (fd >= 0)
			close(fd);
		shm_close(&s->base);
		return VCUDA_E_TRANSPORT;
	}
	s->sock = fd;
	if (shm_receive_segment(s) != 0) {
		VERR(remoting, "%s did not hand over a usable shared-memory segment", s->endpoint);
		shm_close(&s->base);
		return VCUDA_E_TRANSPORT;
	}
	*out = &s->base;
	return 0;
}

const struct vcuda_transport_ops vcuda_shm_ops = {
    .scheme = "shm",
    .bind = shm_bind,
    .connect = shm_connect,
    .endpoint = shm_endpoint,
    .send = shm_send,
    .recv = shm_recv,
    .release = shm_release,
    .close = shm_close,
    .peer_lost = shm_peer_lost,
    .heap_alloc = shm_heap_alloc,
    .heap_free = shm_heap_free,
    .heap_offset = shm_heap_offset,
    .heap_at = shm_heap_at,
    .heap_base = shm_heap_base,
};
