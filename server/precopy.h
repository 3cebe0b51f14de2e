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
/* To another host: memory parts sent before the first is answered. */
#define PRECOPY_WINDOW 4

struct precopy {
	int fd;	    /* the memory file; -1: none (note says why) */
	void *sock; /* a move to another host: its server's listener (fd is -1) */
	uint8_t token[SESSION_TOKEN_LEN];
	char path[4200];
	uint64_t base, size, grain; /* the CPU device's memory: device address, bytes */
	const uint8_t *store;	    /* ... and where this process reads it */
	size_t words;		    /* of each bitmap below: one bit per grain */
	uint64_t *pending;	    /* written since it was sent, not sent again yet */
	uint64_t *sent;		    /* the file holds the grain as it was once */
	uint64_t *data;		    /* ... and not as zeros (a hole) */
	uint64_t *want;		    /* scratch: the grains of the guest's allocations */
	int begun;		    /* on another host: its memory file was made */
	int inflight;		    /* ... and the messages sent there not answered yet */
	int lost;		    /* ... and it stopped answering */
	int failed;		    /* a round could not send (note says why) */
	unsigned rounds;
	uint64_t round_bytes[PRECOPY_MAX_ROUNDS], round_ns[PRECOPY_MAX_ROUNDS];
	uint64_t round_dirty[PRECOPY_MAX_ROUNDS]; /* found written before the round */
	uint64_t final_bytes;			  /* sent while the guest waited */
	char note[300];				  /* why the rounds stopped, or why none ran */
};

/*
 * A move to another host: connects to the listener at url (tcp://), a
 * CURVE server with public key server_key, as the server whose key file
 * is key_file (one of its --peer-keys), and checks that it can take s
 * (takes s's lock to read its allocations): the same vcuda version, backend, device and device
 * memory size, taking new sessions, with room for s's memory. Then the
 * memory goes there, and precopy_send_image and precopy_commit finish the
 * move. 0, or -1 with why (p holds nothing).
 */
int precopy_remote(struct precopy *p, struct session *s, const char *url, const char *server_key,
		   const char *key_file, char *why, size_t len);

/* A move to another host: whether the new server still answers. 0, or -1
 * with why. */
int precopy_ping(struct precopy *p, char *why, size_t len);

/* A move to another host: s's image (written with flags) goes to the new
 * server, which then adopts it. Its size, or -1 with why. */
int64_t precopy_send_image(struct precopy *p, struct session *s, unsigned flags, char *why,
			   size_t len);

/*
 * Prepares pre-copy of s's memory next to the image at image_path (s's
 * lock held); after precopy_remote, to the new server instead. Pre-copy is optional: where it
 * cannot run (not the CPU device, a directory that is not a memory file system, ...) p->fd is -1,
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

/* Stops noting writes and frees p; the memory file is removed unless keep
 * (on another host, the move is abandoned there unless keep). */
void precopy_end(struct precopy *p, struct session *s, int keep);

#endif
