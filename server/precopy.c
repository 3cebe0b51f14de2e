/* Pre-copy of a moving session's device memory (precopy.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "log.h"
#include "precopy.h"
#include "util.h"

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

void precopy_begin(struct precopy *p, struct session *s, const char *image_path)
{
	struct statfs fs;

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
	if (ftruncate(p->fd, (off_t)p->size) != 0 ||
	    !(p->pending = calloc(p->words * 4, sizeof(uint64_t)))) {
		snprintf(p->note, sizeof(p->note), "not used: no room for the memory file");
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

/* Writes [from, to) grains of the store to the file: -1 with errno. */
static int precopy_write(struct precopy *p, uint64_t from, uint64_t to)
{
	uint64_t off = from * p->grain, n = (to - from) * p->grain;

	while (n) {
		ssize_t k =
		    pwrite(p->fd, p->store + off, n < (1u << 30) ? n : (1u << 30), (off_t)off);
		if (k <= 0)
			return -1;
		off += (uint64_t)k;
		n -= (uint64_t)k;
	}
	return 0;
}

/* Sends the grains in set (clearing their bits there): the bytes written,
 * or -1 with errno. A grain of zeros is a hole in the file, not data. */
static int64_t precopy_send(struct precopy *p, uint64_t *set)
{
	uint64_t grains = p->size / p->grain, run = 0, bytes = 0;
	int in_run = 0;

	for (uint64_t g = 0; g <= grains; g++) {
		int take = g < grains && bit(set, g);
		int data = take && !zero(p->store + g * p->grain, p->grain);
		if (in_run && !data) { /* the run of data ends */
			if (precopy_write(p, run, g) != 0)
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
		if (!data && bit(p->data, g) &&
		    fallocate(p->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)(g * p->grain), (off_t)p->grain) != 0)
			return -1;
		bit_set(p->data, g, data);
		bit_set(p->sent, g, 1);
		bit_set(set, g, 0);
	}
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

	if (p->fd < 0)
		return;
	for (;;) {
		uint64_t due, bytes, rate, t;
		int64_t n;

		if (p->rounds && s->be->track_take(p->pending, p->words) != 0) {
			snprintf(p->note, sizeof(p->note),
				 "stopped: the device stopped noting writes");
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
		rate = spent > 100000 ? sent * 1000000000ull / spent : 1ull << 30;
		if (p->rounds) {
			uint64_t est = bytes * 1000000000ull / (rate ? rate : 1);
			p->round_dirty[p->rounds - 1] = bytes;
			if (est <= PRECOPY_TARGET_NS) {
				snprintf(p->note, sizeof(p->note),
					 "converged after %u round%s: %.1f MiB left, about %.1f ms "
					 "to send",
					 p->rounds, p->rounds == 1 ? "" : "s",
					 (double)bytes / 1048576, (double)est / 1e6);
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
		if ((n = precopy_send(p, p->pending)) < 0) {
			snprintf(p->note, sizeof(p->note), "stopped: cannot write %.200s: %s",
				 p->path, strerror(errno));
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

	if (p->fd < 0) {
		snprintf(why, len, "no pre-copy");
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
	if ((n = precopy_send(p, p->pending)) < 0) {
		snprintf(why, len, "cannot write %.200s: %s", p->path, strerror(errno));
		return -1;
	}
	p->final_bytes = (uint64_t)n;
	return 0;
}

void precopy_end(struct precopy *p, struct session *s, int keep)
{
	if (s->be->track_stop)
		s->be->track_stop(NULL, 0);
	if (p->fd >= 0) {
		close(p->fd);
		if (!keep)
			unlink(p->path);
	}
	p->fd = -1;
	free(p->pending);
	p->pending = p->sent = p->data = p->want = NULL;
}
