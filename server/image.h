/*
 * Session images: everything a session holds on the server (its device
 * memory and contents, modules with their images, functions, streams,
 * events and handle table), written so that a worker elsewhere can rebuild
 * the session with the same handle ids and device addresses, and the
 * guest, reattached, sees no difference. The format is in vcuda.proto
 * ("session images"); docs/architecture.md says what moves and what not.
 *
 * Today only the CPU device can place memory where an image says; a
 * session on a GPU, or one holding what an image does not carry yet
 * (arrays, textures, IPC memory, mapped host memory, a device heap in
 * use), is refused with the reason.
 */
#ifndef VCUDA_IMAGE_H
#define VCUDA_IMAGE_H

#include <stddef.h>

#include "session.h"

#define SESSION_IMAGE_VERSION 1
/* Device memory and module images travel in pieces of at most this. */
#define SESSION_IMAGE_CHUNK (4u << 20)

/* Where an image goes to or comes from: each returns 0 when all n bytes
 * were written (read), else -1. */
struct session_image_io {
	int (*write)(void *arg, const void *p, size_t n);
	int (*read)(void *arg, void *p, size_t n);
	void *arg;
};

/* session_image_write's flags: the allocations' contents are in the
 * memory file beside the image (pre-copy wrote them there), not in it. */
#define SESSION_IMAGE_MEMORY_FILE 1u

/*
 * Writes s's state, after waiting for its devices' work. 0, or -1 with a
 * sentence in why: the session holds something an image cannot carry, or
 * the write failed. s is unchanged.
 */
int session_image_write(struct session *s, const struct session_image_io *io, unsigned flags,
			char *why, size_t len);

/* Why s cannot be written (why may hold the sentence), or NULL; waits for
 * its devices' work first. */
const char *session_image_unmovable(struct session *s, char *why, size_t len);

/*
 * Rebuilds an image's state in s, a session that holds nothing yet, under
 * s's own limits and quota: everything in the image is checked as input
 * from a guest is. 0, or -1 with why; on failure s holds nothing.
 */
int session_image_read(struct session *s, const struct session_image_io *io, char *why, size_t len);

/* The session token and client name an image file's header gives (for
 * the listener, which matches resuming guests to checkpoints). 0, or -1
 * with why. */
int session_image_peek(const char *path, uint8_t token[SESSION_TOKEN_LEN], char *client,
		       size_t client_len, char *why, size_t len);

/* Image io over the file descriptor *fd (blocking reads and writes). */
struct session_image_io session_image_fd(int *fd);

#endif
