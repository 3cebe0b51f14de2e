#include "config.h"

#include <malloc.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "util.h"

int vcuda_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!s || *s < '0' || *s > '9')
		return VCUDA_E_INVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return VCUDA_E_INVAL;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	case 't':
	case 'T':
		shift = 40;
		end++;
		break;
	}
	if (*end == 'i' || *end == 'B')
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end != '\0' || (shift && v > (~0ull >> shift)))
		return VCUDA_E_INVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

uint64_t vcuda_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t vcuda_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int vcuda_random(void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = getrandom((char *)buf + done, len - done, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return VCUDA_E_SYSTEM;
		done += (size_t)n;
	}
	return 0;
}

void vcuda_hex(const void *buf, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = buf;

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
}

char *vcuda_printable(char *dst, size_t cap, const char *src)
{
	size_t i = 0;

	for (; src && src[i] && i + 1 < cap; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	if (cap)
		dst[i < cap ? i : cap - 1] = '\0';
	return dst;
}

int vcuda_socket_protect(const char *path, unsigned mode, long gid)
{
	if (chmod(path, (mode_t)mode) != 0)
		return -1;
	return gid >= 0 ? chown(path, (uid_t)-1, (gid_t)gid) : 0;
}

void *vcuda_shared_create(const char *name, size_t size, int *fd)
{
	void *p;

	*fd = memfd_create(name, 0); /* inherited: no MFD_CLOEXEC */
	if (*fd < 0)
		return NULL;
	if (ftruncate(*fd, (off_t)size) != 0 ||
	    (p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0)) == MAP_FAILED) {
		close(*fd);
		*fd = -1;
		return NULL;
	}
	return p;
}

void *vcuda_shared_attach(const char *spec, size_t min, unsigned *index, size_t *size)
{
	struct stat st;
	void *p;
	int fd;

	if (!spec || sscanf(spec, "%d:%u", &fd, index) != 2 || fstat(fd, &st) != 0 ||
	    (size_t)st.st_size < min)
		return NULL;
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	*size = (size_t)st.st_size;
	return p;
}

int vcuda_socket_is(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Whether a Unix socket at path has a live server behind it. */
static int util_socket_live(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, live;

	if (strlen(path) >= sizeof(sa.sun_path))
		return 0;
	memcpy(sa.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return live;
}

int vcuda_socket_claim(const char *path, const char *what)
{
	if (util_socket_live(path)) {
		VERR(core, "cannot %s at %s: another server is serving it", what, path);
		return -1;
	}
	if (vcuda_socket_is(path) && unlink(path) == 0) {
		VINFO(core, "removed the stale socket %s", path);
	} else if (access(path, F_OK) == 0) {
		VERR(core, "cannot %s at %s: a file that is not a socket is there", what, path);
		return -1;
	}
	return 0;
}

void vcuda_malloc_keep_chunks(void)
{
	mallopt(M_MMAP_THRESHOLD, 8 << 20);
	mallopt(M_TRIM_THRESHOLD, 32 << 20);
}

int vcuda_grow(void *arr, size_t *cap, size_t n, size_t elem, size_t first)
{
	void **p = arr, *grown;
	size_t want;

	if (n < *cap)
		return 0;
	want = *cap ? *cap * 2 : first;
	if (want <= n || want > SIZE_MAX / elem || !(grown = realloc(*p, want * elem)))
		return VCUDA_E_NOMEM;
	*p = grown;
	*cap = want;
	return 0;
}
