/* Pre-copy of a moving session's device memory (precopy.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <zmq.h>

#include "curve.h"
#include "error.h"
#include "image.h"
#include "log.h"
#include "movein.h"
#include "precopy.h"
#include "util.h"
#include "vcuda/version.h"
#include "wire.h"

static int bit(const uint64_t *b, uint64_t g)
{
	return (int)(b[g / 64] >> (g % 64) & 1);
}

static void bit_set(uint64_t *b, uint64_t g, int on)
{
	if (on)
		b[g / 64] |= 1ull << (g % 64);
	else
		b[g / 64] &= ~(1ull << (g % 64));
}

/* ---- to another host: MoveChunk messages to its listener (vcuda.proto) ---- */

/* Sends one move message (data: its data frame, n bytes, or none) without
 * waiting for its answer: 0, or -1 with why. */
static int precopy_post(struct precopy *p, Vcuda__MoveChunk__Op op, uint64_t offset, uint64_t size,
			const void *data, size_t n, char *why, size_t len)
{
	Vcuda__MoveChunk c = VCUDA__MOVE_CHUNK__INIT;
	uint8_t head[128];
	size_t k;

	c.op = op;
	c.token = (ProtobufCBinaryData){SESSION_TOKEN_LEN, p->token};
	c.offset = offset;
	c.size = size;
	memcpy(head, VCUDAD_MOVEIN_MAGIC, 4);
	k = 4 + vcuda__move_chunk__pack(&c, head + 4);
	if (p->lost) {
		snprintf(why, len, "the new server stopped answering");
		return -1;
	}
	if (zmq_send(p->sock, head, k, n ? ZMQ_SNDMORE : 0) != (int)k ||
	    (n && zmq_send(p->sock, data, n, 0) != (int)n)) {
		snprintf(why, len, "the new server cannot be reached (%s)", zmq_strerror(errno));
		return -1;
	}
	p->inflight++;
	return 0;
}

/* Waits for the answer to the oldest message posted: 0, or -1 with why.
 * *out, if given, gets it (the caller frees it). */
static int precopy_collect(struct precopy *p, Vcuda__AdminStatus **out, char *why, size_t len)
{
	Vcuda__AdminStatus *st;
	zmq_msg_t answer;
	int rc = -1;

	zmq_msg_init(&answer);
	if (zmq_msg_recv(&answer, p->sock, 0) < 0) {
		snprintf(why, len, "no answer from the new server (%s)", zmq_strerror(errno));
		p->lost = 1; /* what it owes will not come either */
	} else if (!(st = vcuda__admin_status__unpack(NULL, zmq_msg_size(&answer),
						      zmq_msg_data(&answer)))) {
		snprintf(why, len, "a malformed answer from the new server");
	} else {
		if (st->status)
			snprintf(why, len, "the new server refused: %s",
				 st->message ? st->message : "?");
		else
			rc = 0;
		if (out && rc == 0)
			*out = st;
		else
			vcuda__admin_status__free_unpacked(st, NULL);
	}
	zmq_msg_close(&answer);
	p->inflight = p->lost ? 0 : p->inflight - 1;
	return rc;
}

/* Waits for every answer still due: 0, or -1 with why. */
static int precopy_drain(struct precopy *p, char *why, size_t len)
{
	int rc = 0;

	while (p->inflight > 0 && !p->lost)
		if (precopy_collect(p, NULL, why, len) != 0)
			rc = -1;
	if (p->lost) {
		snprintf(why, len, "the new server stopped answering");
		rc = -1;
	}
	return rc;
}

/* Sends one move message and waits for its answer (and those before it):
 * 0, or -1 with why. */
static int precopy_ask(struct precopy *p, Vcuda__MoveChunk__Op op, uint64_t offset, uint64_t size,
		       const void *data, size_t n, Vcuda__AdminStatus **out, char *why, size_t len)
{
	if (precopy_drain(p, why, len) != 0 ||
	    precopy_post(p, op, offset, size, data, n, why, len) != 0)
		return -1;
	return precopy_collect(p, out, why, len);
}

/* Whether the new server, whose status st is, can take s: 0, or -1 with why. */
static int precopy_compatible(struct session *s, const Vcuda__AdminStatus *st, char *why,
			      size_t len)
{
	char name[256] = "";
	size_t total = 0;
	uint64_t need = 0, free_there;

	for (size_t i = 0; i < s->mem.n; i++)
		need += s->mem.r[i].size;
	s->be->cuDeviceGetName(name, sizeof(name), 0);
	s->be->cuDeviceTotalMem(&total, 0);
	free_there = st->memory_total > st->memory_used ? st->memory_total - st->memory_used : 0;
	if (!st->version || strcmp(st->version, VCUDA_VERSION_STRING) != 0)
		snprintf(why, len, "it runs vcuda %s, this server %s",
			 st->version ? st->version : "?", VCUDA_VERSION_STRING);
	else if (!st->backend || strcmp(st->backend, s->be->kind) != 0 || !st->device ||
		 strcmp(st->device, name) != 0 || st->device_memory != total)
		snprintf(why, len,
			 "it runs %s on %s with %llu MiB, this server %s on %s with %llu MiB: the "
			 "guest would see another device",
			 st->backend ? st->backend : "?", st->device ? st->device : "?",
			 (unsigned long long)(st->device_memory >> 20), s->be->kind, name,
			 (unsigned long long)(total >> 20));
	else if (st->draining)
		snprintf(why, len, "it is draining: it takes no new sessions");
	else if (need > free_there)
		snprintf(why, len,
			 "the session holds %.1f MiB of device memory; it has %.1f MiB free",
			 (double)need / 1048576.0, (double)free_there / 1048576.0);
	else
		return 0;
	return -1;
}

int precopy_remote(struct precopy *p, struct session *s, const char *url, const char *server_key,
		   const char *key_file, char *why, size_t len)
{
	struct vcuda_curve keys;
	Vcuda__AdminStatus *st = NULL;
	int linger = 0, timeout = 10000, immediate = 1, rc;

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	memcpy(p->token, s->token, SESSION_TOKEN_LEN);
	if (!key_file) {
		snprintf(why, len, "this server has no key (--key) to show the new server");
		return -1;
	}
	if (vcuda_curve_read_keyfile(key_file, &keys, why, len) != 0 ||
	    vcuda_curve_read_public(server_key, keys.server_key, why, len) != 0)
		return -1;
	if (!(p->sock = zmq_socket(vcuda_zmq_context(), ZMQ_DEALER)) ||
	    vcuda_curve_apply(p->sock, &keys, 0) != 0) {
		snprintf(why, len, "cannot make a socket to the new server");
		goto fail;
	}
	zmq_setsockopt(p->sock, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(p->sock, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
	zmq_setsockopt(p->sock, ZMQ_SNDTIMEO, &timeout, sizeof(timeout));
	zmq_setsockopt(p->sock, ZMQ_IMMEDIATE, &immediate, sizeof(immediate));
	if (zmq_connect(p->sock, url) != 0) {
		snprintf(why, len, "cannot connect to %.200s: %s", url, zmq_strerror(errno));
		goto fail;
	}
	if (precopy_ask(p, VCUDA__MOVE_CHUNK__OP__STATUS, 0, 0, NULL, 0, &st, why, len) != 0)
		goto fail;
	pthread_mutex_lock(&s->lock); /* its allocations, between two requests */
	rc = precopy_compatible(s, st, why, len);
	pthread_mutex_unlock(&s->lock);
	vcuda__admin_status__free_unpacked(st, NULL);
	if (rc != 0)
		goto fail;
	/* a memory file there, for pre-copy (without it, the move is stop
	 * and copy: the memory goes in the image) */
	if (s->be->store && s->be->track_start &&
	    s->be->store(&p->base, &p->store, &p->size, &p->grain) == 0 && p->grain) {
		if (precopy_ask(p, VCUDA__MOVE_CHUNK__OP__BEGIN, 0, p->size, NULL, 0, NULL, why,
				len) != 0)
			goto fail;
		p->begun = 1;
	}
	return 0;
fail:
	if (p->sock)
		zmq_close(p->sock);
	p->sock = NULL;
	return -1;
}

int precopy_ping(struct precopy *p, char *why, size_t len)
{
	return precopy_ask(p, VCUDA__MOVE_CHUNK__OP__STATUS, 0, 0, NULL, 0, NULL, why, len);
}

int64_t precopy_send_image(struct precopy *p, struct session *s, unsigned flags, char *why,
			   size_t len)
{
	int fd = memfd_create("vcuda-move-image", MFD_CLOEXEC);
	struct session_image_io io = session_image_fd(&fd);
	uint8_t *buf = malloc(VCUDA_MAX_PAYLOAD);
	ssize_t n = 0;
	int64_t rc = -1, size = 0;

	if (fd < 0 || !buf) {
		snprintf(why, len, "out of memory");
		goto out;
	}
	if (session_image_write(s, &io, flags, why, len) != 0 || lseek(fd, 0, SEEK_SET) != 0)
		goto out;
	while ((n = read(fd, buf, VCUDA_MAX_PAYLOAD)) > 0) {
		if (precopy_ask(p, VCUDA__MOVE_CHUNK__OP__IMAGE, 0, 0, buf, (size_t)n, NULL, why,
				len) != 0)
			goto out;
		size += n;
	}
	if (n < 0)
		snprintf(why, len, "cannot read the image back");
	else if (precopy_ask(p, VCUDA__MOVE_CHUNK__OP__COMMIT, 0, 0, NULL, 0, NULL, why, len) == 0)
		rc = size;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

void precopy_begin(struct precopy *p, struct session *s, const char *image_path)
{
	struct statfs fs;

	if (p->sock) { /* to another host: its memory file was made there */
		if (!p->begun) {
			snprintf(p->note, sizeof(p->note),
				 "not used: this device does not note writes");
			return;
		}
		goto bitmaps;
	}
	memset(p, 0, sizeof(*p));
	p->fd = -1;
	if (!s->be->store || !s->be->track_start ||
	    s->be->store(&p->base, &p->store, &p->size, &p->grain) != 0 || !p->grain) {
		snprintf(p->note, sizeof(p->note), "not used: this device does not note writes");
		return;
	}
	snprintf(p->path, sizeof(p->path), "%s.mem", image_path);
	p->words = (p->size / p->grain + 63) / 64;
	if ((p->fd = open(p->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		snprintf(p->note, sizeof(p->note), "not used: cannot create %.200s: %s", p->path,
			 strerror(errno));
		return;
	}
	if (fstatfs(p->fd, &fs) != 0 || fs.f_type != TMPFS_MAGIC) {
		snprintf(p->note, sizeof(p->note),
			 "not used: the image's directory is not a memory file system (tmpfs)");
		goto fail;
	}
	if (ftruncate(p->fd, (off_t)p->size) != 0) {
		snprintf(p->note, sizeof(p->note), "not used: no room for the memory file");
		goto fail;
	}
bitmaps:
	p->words = (p->size / p->grain + 63) / 64;
	if (!(p->pending = calloc(p->words * 4, sizeof(uint64_t)))) {
		snprintf(p->note, sizeof(p->note), "not used: out of memory");
		goto fail;
	}

	p->sent = p->pending + p->words;
	p->data = p->sent + p->words;
	p->want = p->data + p->words;
	if (s->be->track_start() != 0) {
		snprintf(p->note, sizeof(p->note), "not used: the device cannot note writes now");
		goto fail;
	}
	return;
fail:
	if (p->sock) { /* the move itself goes on, by stop and copy: no memory file */
		char why[200];
		free(p->pending);
		p->pending = p->sent = p->data = p->want = NULL;
		if (p->begun)
			precopy_ask(p, VCUDA__MOVE_CHUNK__OP__ABORT, 0, 0, NULL, 0, NULL, why,
				    sizeof(why));
		p->begun = 0;
		return;
	}
	precopy_end(p, s, 0);
}

/* The grains of the guest's allocations into p->want; their bytes. */
static uint64_t precopy_wanted(struct precopy *p, struct session *s)
{
	uint64_t bytes = 0;

	memset(p->want, 0, p->words * sizeof(uint64_t));
	for (size_t i = 0; i < s->mem.n; i++) {
		const struct vcuda_range *r = &s->mem.r[i];
		uint64_t off = r->base - p->base;
		if (r->data || off >= p->size || r->size > p->size - off || !r->size)
			continue; /* module memory travels in the image */
		for (uint64_t g = off / p->grain; g <= (off + r->size - 1) / p->grain; g++)
			bit_set(p->want, g, 1);
		bytes += r->size;
	}
	return bytes;
}

static int zero(const uint8_t *b, size_t n)
{
	return b[0] == 0 && memcmp(b, b + 1, n - 1) == 0;
}

/* Writes [from, to) grains of the store to the file, or sends them to the
 * new server: 0, or -1 with why. */
static int precopy_write(struct precopy *p, uint64_t from, uint64_t to, char *why, size_t len)
{
	uint64_t off = from * p->grain, n = (to - from) * p->grain;

	while (n) {
		size_t part = n < VCUDA_MAX_PAYLOAD ? (size_t)n : VCUDA_MAX_PAYLOAD;
		ssize_t k;
		if (p->sock) { /* a few parts on their way at once: the link stays busy */
			if (precopy_post(p, VCUDA__MOVE_CHUNK__OP__MEMORY, off, 0, p->store + off,
					 part, why, len) != 0 ||
			    (p->inflight >= PRECOPY_WINDOW &&
			     precopy_collect(p, NULL, why, len) != 0))
				return -1;
			k = (ssize_t)part;
		} else if ((k = pwrite(p->fd, p->store + off, n < (1u << 30) ? n : (1u << 30),
				       (off_t)off)) <= 0) {
			snprintf(why, len, "cannot write %.200s: %s", p->path, strerror(errno));
			return -1;
		}
		off += (uint64_t)k;
		n -= (uint64_t)k;
	}
	return 0;
}

/* Grain g is zeros again, there: 0, or -1 with why. */
static int precopy_zero(struct precopy *p, uint64_t g, char *why, size_t len)
{
	if (p->sock)
		return precopy_ask(p, VCUDA__MOVE_CHUNK__OP__ZEROS, g * p->grain, p->grain, NULL, 0,
				   NULL, why, len);
	if (fallocate(p->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(g * p->grain),
		      (off_t)p->grain) == 0)
		return 0;
	snprintf(why, len, "cannot write %.200s: %s", p->path, strerror(errno));
	return -1;
}

/* Sends the grains in set (clearing their bits there): the bytes written,
 * or -1 with why. A grain of zeros is a hole in the file, not data. */
static int64_t precopy_send(struct precopy *p, uint64_t *set, char *why, size_t len)
{
	uint64_t grains = p->size / p->grain, run = 0, bytes = 0;
	int in_run = 0;

	for (uint64_t g = 0; g <= grains; g++) {
		int take = g < grains && bit(set, g);
		int data = take && !zero(p->store + g * p->grain, p->grain);
		if (in_run && !data) { /* the run of data ends */
			if (precopy_write(p, run, g, why, len) != 0)
				return -1;
			bytes += (g - run) * p->grain;
			in_run = 0;
		}
		if (data && !in_run) {
			run = g;
			in_run = 1;
		}
		if (!take)
			continue;
		if (!data && bit(p->data, g) && precopy_zero(p, g, why, len) != 0)
			return -1;
		bit_set(p->data, g, data);
		bit_set(p->sent, g, 1);
		bit_set(set, g, 0);
	}
	if (p->sock && precopy_drain(p, why, len) != 0) /* every part arrived */
		return -1;
	return (int64_t)bytes;
}

/* The grains to send now, into p->pending: those written since they were
 * sent and those never sent, of allocations that live now. Their count. */
static uint64_t precopy_due(struct precopy *p)
{
	uint64_t n = 0;

	for (size_t i = 0; i < p->words; i++) {
		p->pending[i] = (p->pending[i] | ~p->sent[i]) & p->want[i];
		n += (uint64_t)__builtin_popcountll(p->pending[i]);
	}
	return n;
}

void precopy_rounds(struct precopy *p, struct session *s)
{
	uint64_t prev = UINT64_MAX, total, t0 = vcuda_now_ns(), sent = 0, spent = 0;
	double rate; /* bytes a second */

	if (!p->pending)
		return;
	for (;;) {
		uint64_t due, bytes, t;
		char why[250];
		int64_t n;

		if (p->rounds && s->be->track_take(p->pending, p->words) != 0) {
			snprintf(p->note, sizeof(p->note),
				 "stopped: the device stopped noting writes");
			p->failed = 1;
			return;
		}
		pthread_mutex_lock(&s->lock);
		total = precopy_wanted(p, s);
		pthread_mutex_unlock(&s->lock);
		due = precopy_due(p);
		bytes = due * p->grain;
		/* what the last round sent per second (the first writes the
		 * memory file's pages, slower than later rounds, which rewrite
		 * them): what is left would take bytes / rate while the guest
		 * waits */
		rate = spent > 100000 ? (double)sent * 1e9 / (double)spent : (double)(1u << 30);
		if (p->rounds) {
			double est = (double)bytes * 1e9 / (rate > 1 ? rate : 1);
			p->round_dirty[p->rounds - 1] = bytes;
			if (est <= (double)PRECOPY_TARGET_NS) {
				snprintf(p->note, sizeof(p->note),
					 "converged after %u round%s: %.1f MiB left, about %.1f ms "
					 "to send",
					 p->rounds, p->rounds == 1 ? "" : "s",
					 (double)bytes / 1048576, est / 1e6);
				break;
			}
			if (bytes * 2 > total) {
				snprintf(
				    p->note, sizeof(p->note),
				    "gave up after %u round%s: the guest rewrites %.0f%% of its "
				    "memory between rounds",
				    p->rounds, p->rounds == 1 ? "" : "s",
				    100.0 * (double)bytes / (double)(total ? total : 1));
				break;
			}
			if (p->rounds >= 3 && bytes * 10 > prev * 9) {
				snprintf(p->note, sizeof(p->note),
					 "stopped after %u rounds: what is left no longer shrinks "
					 "(%.1f MiB)",
					 p->rounds, (double)bytes / 1048576);
				break;
			}
			if (p->rounds == PRECOPY_MAX_ROUNDS) {
				snprintf(p->note, sizeof(p->note),
					 "stopped at the round limit (%u)", p->rounds);
				break;
			}
		}
		prev = bytes;
		t = vcuda_now_ns();
		if ((n = precopy_send(p, p->pending, why, sizeof(why))) < 0) {
			snprintf(p->note, sizeof(p->note), "stopped: %.250s", why);
			p->failed = 1;
			return;
		}
		p->round_ns[p->rounds] = vcuda_now_ns() - t;
		p->round_bytes[p->rounds] = (uint64_t)n;
		/* the rate counts the grains read, holes too: reading is most of it */
		sent = bytes;
		spent = p->round_ns[p->rounds];
		VINFO(
		    server,
		    "%s: pre-copy round %u: %.1f MiB (%.1f MiB written since the last) in %.1f ms",
		    s->peer, p->rounds, (double)n / 1048576,
		    (double)(p->rounds ? p->round_dirty[p->rounds - 1] : bytes) / 1048576,
		    (double)p->round_ns[p->rounds] / 1e6);
		p->rounds++;
	}
	VINFO(server, "%s: pre-copy %s (%.1f ms)", s->peer, p->note,
	      (double)(vcuda_now_ns() - t0) / 1e6);
}

int precopy_finish(struct precopy *p, struct session *s, char *why, size_t len)
{
	int64_t n;

	if (!p->pending || p->failed) {
		snprintf(why, len, "pre-copy failed: %s", p->note);
		return -1;
	}
	if (!s->be->track_stop) {
		snprintf(why, len, "the device stopped noting writes");
		return -1;
	}
	/* its work done, the guest writes nothing until it is answered */
	s->be->track_stop(p->pending, p->words);
	precopy_wanted(p, s);
	precopy_due(p);
	if ((n = precopy_send(p, p->pending, why, len)) < 0)
		return -1;
	p->final_bytes = (uint64_t)n;
	return 0;
}

void precopy_end(struct precopy *p, struct session *s, int keep)
{
	if (s->be->track_stop)
		s->be->track_stop(NULL, 0);
	if (p->sock) {
		char why[200];
		if (!keep && p->begun)
			precopy_ask(p, VCUDA__MOVE_CHUNK__OP__ABORT, 0, 0, NULL, 0, NULL, why,
				    sizeof(why));
		zmq_close(p->sock);
		p->sock = NULL;
	}
	if (p->fd >= 0) {
		close(p->fd);
		if (!keep)
			unlink(p->path);
	}
	p->fd = -1;
	free(p->pending);
	p->pending = p->sent = p->data = p->want = NULL;
}
