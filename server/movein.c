/* Sessions moving in from a server on another host (movein.h). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "movein.h"
#include "util.h"

int vcudad_movein_is(const uint8_t *data, size_t len)
{
	return len >= 4 && memcmp(data, VCUDAD_MOVEIN_MAGIC, 4) == 0;
}

/* The path of move i's image (suffix ".mem": its memory file). */
static void movein_path(const struct vcudad_movein *mi, int i, const char *suffix, char *out,
			size_t len)
{
	char hex[2 * SESSION_TOKEN_LEN + 1];

	vcuda_hex(mi->m[i].token, SESSION_TOKEN_LEN, hex);
	snprintf(out, len, "%s/%s.img%s", mi->dir, hex, suffix);
}

static void movein_drop(struct vcudad_movein *mi, int i, int unlink_files)
{
	char path[700];

	if (mi->m[i].mem_fd >= 0)
		close(mi->m[i].mem_fd);
	if (mi->m[i].img_fd >= 0)
		close(mi->m[i].img_fd);
	if (unlink_files) {
		movein_path(mi, i, ".mem", path, sizeof(path));
		unlink(path);
		movein_path(mi, i, "", path, sizeof(path));
		unlink(path);
	}
	memset(&mi->m[i], 0, sizeof(mi->m[i]));
	mi->m[i].mem_fd = mi->m[i].img_fd = -1;
}

/* The private directory on a memory file system: 0, or -1 with why. */
static int movein_dir(struct vcudad_movein *mi, const char **why)
{
	char tmpl[] = "/dev/shm/vcudad-in.XXXXXX";
	struct statfs fs;

	if (mi->dir[0])
		return 0;
	if (!mkdtemp(tmpl)) {
		*why = "this server has no memory file system (/dev/shm) for sessions moving in";
		return -1;
	}
	if (statfs(tmpl, &fs) != 0 || fs.f_type != TMPFS_MAGIC) {
		rmdir(tmpl);
		*why = "/dev/shm is not a memory file system here: sessions cannot move in";
		return -1;
	}
	snprintf(mi->dir, sizeof(mi->dir), "%s", tmpl);
	for (int i = 0; i < VCUDAD_MOVEIN_MAX; i++)
		if (!mi->m[i].used)
			mi->m[i].mem_fd = mi->m[i].img_fd = -1;
	return 0;
}

/* The move of that token, or a new one (BEGIN and IMAGE start one). */
static int movein_find(struct vcudad_movein *mi, const Vcuda__MoveChunk *c, const char *peer,
		       int start, const char **why)
{
	int free_slot = -1;

	if (c->token.len != SESSION_TOKEN_LEN) {
		*why = "a move names no session";
		return -1;
	}
	for (int i = 0; i < VCUDAD_MOVEIN_MAX; i++) {
		if (!mi->m[i].used) {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (memcmp(mi->m[i].token, c->token.data, SESSION_TOKEN_LEN) != 0)
			continue;
		if (strcmp(mi->m[i].peer, peer) != 0) {
			*why = "another server moves that session";
			return -1;
		}
		return i;
	}
	if (!start) {
		*why = "no such move (it began elsewhere, or was dropped)";
		return -1;
	}
	if (free_slot < 0) {
		*why = "this server takes as many sessions moving in as it can";
		return -1;
	}
	if (movein_dir(mi, why) != 0)
		return -1;
	mi->m[free_slot].used = 1;
	mi->m[free_slot].mem_fd = mi->m[free_slot].img_fd = -1;
	memcpy(mi->m[free_slot].token, c->token.data, SESSION_TOKEN_LEN);
	snprintf(mi->m[free_slot].peer, sizeof(mi->m[free_slot].peer), "%s", peer);
	return free_slot;
}

static int movein_fail(Vcuda__AdminStatus *st, int status, const char *why)
{
	st->status = status;
	st->message = (char *)why;
	return 0;
}

int vcudad_movein_handle(struct vcudad_movein *mi, const char *peer, const Vcuda__MoveChunk *c,
			 const uint8_t *data, size_t data_len, uint64_t device_memory,
			 Vcuda__AdminStatus *st, char *path, size_t path_len)
{
	static char why_buf[300];
	char file[700];
	const char *why = NULL;
	int i,
	    start = c->op == VCUDA__MOVE_CHUNK__OP__BEGIN || c->op == VCUDA__MOVE_CHUNK__OP__IMAGE;

	path[0] = 0;
	if (c->op == VCUDA__MOVE_CHUNK__OP__STATUS)
		return 1;
	if ((i = movein_find(mi, c, peer, start, &why)) < 0)
		return movein_fail(st, VCUDA_E_INVAL, why);
	mi->m[i].last_ns = vcuda_now_ns();
	switch (c->op) {
	case VCUDA__MOVE_CHUNK__OP__BEGIN:
		if (mi->m[i].mem_fd >= 0 || c->size != device_memory) {
			snprintf(why_buf, sizeof(why_buf),
				 "a memory file of %llu bytes; this server's device has %llu",
				 (unsigned long long)c->size, (unsigned long long)device_memory);
			movein_drop(mi, i, 1);
			return movein_fail(st, VCUDA_E_INVAL, why_buf);
		}
		movein_path(mi, i, ".mem", file, sizeof(file));
		mi->m[i].mem_fd = open(file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (mi->m[i].mem_fd < 0 || ftruncate(mi->m[i].mem_fd, (off_t)c->size) != 0) {
			movein_drop(mi, i, 1);
			return movein_fail(st, VCUDA_E_SYSTEM, "cannot make the memory file");
		}
		mi->m[i].mem_size = c->size;
		break;
	case VCUDA__MOVE_CHUNK__OP__MEMORY:
	case VCUDA__MOVE_CHUNK__OP__ZEROS: {
		uint64_t n = c->op == VCUDA__MOVE_CHUNK__OP__MEMORY ? data_len : c->size;
		if (mi->m[i].mem_fd < 0 || c->offset > mi->m[i].mem_size ||
		    n > mi->m[i].mem_size - c->offset)
			return movein_fail(st, VCUDA_E_INVAL, "memory outside the memory file");
		if (c->op == VCUDA__MOVE_CHUNK__OP__MEMORY
			? pwrite(mi->m[i].mem_fd, data, data_len, (off_t)c->offset) != (ssize_t)n
			: n &&
			      fallocate(mi->m[i].mem_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					(off_t)c->offset, (off_t)n) != 0)
			return movein_fail(st, VCUDA_E_SYSTEM, "cannot write the memory file");
		break;
	}
	case VCUDA__MOVE_CHUNK__OP__IMAGE:
		if (mi->m[i].img_fd < 0) {
			movein_path(mi, i, "", file, sizeof(file));
			mi->m[i].img_fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			if (mi->m[i].img_fd < 0)
				return movein_fail(st, VCUDA_E_SYSTEM,
						   "cannot make the image file");
		}
		if (data_len > VCUDAD_MOVEIN_IMAGE_MAX - mi->m[i].img_len)
			return movein_fail(st, VCUDA_E_TOOBIG,
					   "an image larger than this server takes");
		if (write(mi->m[i].img_fd, data, data_len) != (ssize_t)data_len)
			return movein_fail(st, VCUDA_E_SYSTEM, "cannot write the image");
		mi->m[i].img_len += data_len;
		break;
	case VCUDA__MOVE_CHUNK__OP__COMMIT:
		if (mi->m[i].img_fd < 0)
			return movein_fail(st, VCUDA_E_INVAL, "a move committed without its image");
		movein_path(mi, i, "", path, path_len);
		movein_drop(mi, i, 0); /* the files are the adopted session's now */
		break;
	case VCUDA__MOVE_CHUNK__OP__ABORT:
		movein_drop(mi, i, 1);
		break;
	default:
		return movein_fail(st, VCUDA_E_INVAL, "an unknown move message");
	}
	return movein_fail(st, 0, NULL);
}

void vcudad_movein_expire(struct vcudad_movein *mi)
{
	uint64_t now = vcuda_now_ns();

	for (int i = 0; i < VCUDAD_MOVEIN_MAX; i++)
		if (mi->m[i].used &&
		    now - mi->m[i].last_ns > VCUDAD_MOVEIN_IDLE_S * 1000000000ull) {
			VWARN(server, "a session moving in from %s went silent; dropped",
			      mi->m[i].peer);
			movein_drop(mi, i, 1);
		}
}

void vcudad_movein_fini(struct vcudad_movein *mi)
{
	DIR *d;
	struct dirent *e;
	char path[800];

	for (int i = 0; i < VCUDAD_MOVEIN_MAX; i++)
		if (mi->m[i].used)
			movein_drop(mi, i, 1);
	if (!mi->dir[0] || !(d = opendir(mi->dir)))
		return;
	/* adopted sessions no guest came back for: nobody will now */
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", mi->dir, e->d_name);
			unlink(path);
		}
	closedir(d);
	rmdir(mi->dir);
}
