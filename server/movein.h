/*
 * Sessions moving in from a server on another host (vcuda-smi --migrate
 * --to tcp://...): the listener takes MoveChunk messages (vcuda.proto) from
 * the moving worker, which authenticated with its own server's CURVE key,
 * one of --peer-keys. The memory file and the image are written into a
 * private directory on a memory file system; at COMMIT the listener adopts
 * the image as it adopts one from a server on this host. Each move is
 * bounded: its memory file is this server's device memory size, its image
 * VCUDAD_MOVEIN_IMAGE_MAX, and a move silent for VCUDAD_MOVEIN_IDLE_S is
 * dropped with its files.
 */
#ifndef VCUDA_MOVEIN_H
#define VCUDA_MOVEIN_H

#include <stddef.h>
#include <stdint.h>

#include "session.h"
#include "vcuda.pb-c.h"

#define VCUDAD_MOVEIN_MAX	4
#define VCUDAD_MOVEIN_IMAGE_MAX (1ull << 30)
#define VCUDAD_MOVEIN_IDLE_S	60
#define VCUDAD_MOVEIN_MAGIC	"VMOV"

struct vcudad_movein {
	char dir[512]; /* "" until the first move: then made, removed at the end */
	struct {
		uint8_t token[SESSION_TOKEN_LEN];
		char peer[41]; /* the moving server's key: only it continues the move */
		int mem_fd, img_fd;
		uint64_t mem_size, img_len, last_ns;
		int used;
	} m[VCUDAD_MOVEIN_MAX];
};

/* Whether a message is a move's (starts with the magic). */
int vcudad_movein_is(const uint8_t *data, size_t len);

/*
 * One move message from the server with key peer (Z85): chunk and its data
 * frame (data_len 0: none). device_memory: this server's CPU device size,
 * which a memory file must have. Fills st's status and message; for COMMIT
 * writes the image's path to adopt into path (else path[0] = 0). For
 * STATUS, st is left for the caller to fill (returns 1).
 */
int vcudad_movein_handle(struct vcudad_movein *mi, const char *peer, const Vcuda__MoveChunk *c,
			 const uint8_t *data, size_t data_len, uint64_t device_memory,
			 Vcuda__AdminStatus *st, char *path, size_t path_len);

/* Drops the moves silent for too long (and their files). */
void vcudad_movein_expire(struct vcudad_movein *mi);

/* Drops every move and removes the directory (the listener is ending). */
void vcudad_movein_fini(struct vcudad_movein *mi);

#endif
