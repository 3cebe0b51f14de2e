/*
 * Pre-copy: a moving session's device memory goes to its new server while
 * its guest keeps running, in rounds; each round after the first sends only
 * what the guest wrote since the one before (the CPU device notes every
 * write, emulator/memory.c). When what is left would take little time to
 * send, or stops shrinking, the guest is paused at its next call and only
 * that rest is sent while it waits (docs/architecture.md, "Moving a
 * session").
 *
 * The memory goes into a file on a memory file system beside the session's
 * image (IMAGE.mem), laid out as the CPU device's memory; the new server's
 * worker takes that file as its device memory (VCUDA_CPU_STORE), so
 * nothing is copied again while the guest waits. Both servers see that
 * file: sessions move between servers on one host.
 */
#ifndef VCUDA_PRECOPY_H
#define VCUDA_PRECOPY_H

#include <stddef.h>
#include <stdint.h>

#include "session.h"

#define PRECOPY_MAX_ROUNDS 30
/* The rounds stop when what is left would take at most this to send. */
#define PRECOPY_TARGET_NS (40ull * 1000000)

struct precopy {
	int fd; /* the memory file; -1: no pre-copy (note says why) */
	char path[4200];
	uint64_t base, size, grain; /* the CPU device's memory: device address, bytes */
	const uint8_t *store;	    /* ... and where this process reads it */
	size_t words;		    /* of each bitmap below: one bit per grain */
	uint64_t *pending;	    /* written since it was sent, not sent again yet */
	uint64_t *sent;		    /* the file holds the grain as it was once */
	uint64_t *data;		    /* ... and not as zeros (a hole) */
	uint64_t *want;		    /* scratch: the grains of the guest's allocations */
	unsigned rounds;
	uint64_t round_bytes[PRECOPY_MAX_ROUNDS], round_ns[PRECOPY_MAX_ROUNDS];
	uint64_t round_dirty[PRECOPY_MAX_ROUNDS]; /* found written before the round */
	uint64_t final_bytes;			  /* sent while the guest waited */
	char note[300];				  /* why the rounds stopped, or why none ran */
};

/*
 * Prepares pre-copy of s's memory next to the image at image_path (s's
 * lock held). Pre-copy is optional: where it cannot run (not the CPU
 * device, a directory that is not a memory file system, ...) p->fd is -1,
 * p->note says why, and the session moves by stop and copy.
 */
void precopy_begin(struct precopy *p, struct session *s, const char *image_path);

/* Runs the rounds while the guest goes on (without s's lock, which each
 * round takes briefly to read the list of allocations). */
void precopy_rounds(struct precopy *p, struct session *s);

/*
 * With s's lock held and the guest waiting, its work done: sends what is
 * left and stops noting writes. 0, or -1 with why.
 */
int precopy_finish(struct precopy *p, struct session *s, char *why, size_t len);

/* Stops noting writes and frees p; the memory file is removed unless keep. */
void precopy_end(struct precopy *p, struct session *s, int keep);

#endif
