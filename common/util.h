/* Small helpers shared by every part of vcuda. */
#ifndef VCUDA_UTIL_H
#define VCUDA_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* "64M", "2G", "4096": bytes with an optional K/M/G/T suffix (powers of 2).
 * 0 or VCUDA_E_INVAL. */
int vcuda_parse_size(const char *s, uint64_t *out);
/* Monotonic clock in nanoseconds. */
uint64_t vcuda_now_ns(void);
/* CLOCK_REALTIME in nanoseconds: a date, for reports. */
uint64_t vcuda_realtime_ns(void);
/* Fills buf with len random bytes from the kernel; 0 or VCUDA_E_SYSTEM. */
int vcuda_random(void *buf, size_t len);
/* Hex of len bytes into out (2 * len + 1 bytes). */
void vcuda_hex(const void *buf, size_t len, char *out);
/* Copies src into dst (cap bytes, NUL-terminated), every byte that is not
 * printable ASCII replaced by '?', so that what a guest names cannot forge
 * log lines or terminal escapes. Returns dst. */
char *vcuda_printable(char *dst, size_t cap, const char *src);
/* Gives the Unix socket at path this mode and, when gid >= 0, group.
 * 0 or -1 with errno. */
int vcuda_socket_protect(const char *path, unsigned mode, long gid);
/* Whether path is a Unix socket (a file vcudad may remove). */
int vcuda_socket_is(const char *path);
/* Makes path free for a socket to be bound there: a stale socket (no
 * server behind it) is removed; a live one, or a file that is not a
 * socket, is never touched: that is logged (what: "listen", "admin") and
 * -1 returned. */
int vcuda_socket_claim(const char *path, const char *what);

/*
 * Memory shared with the processes a server starts: a zeroed region of
 * size bytes in a file without FD_CLOEXEC (*fd; children inherit it).
 * NULL on failure.
 */
void *vcuda_shared_create(const char *name, size_t size, int *fd);
/* Maps the region an "FD:INDEX" spec names: *index and its size in *size;
 * NULL if the spec is malformed or the file smaller than min bytes. The
 * caller checks the size against the region's own header. */
void *vcuda_shared_attach(const char *spec, size_t min, unsigned *index, size_t *size);

/*
 * Keeps malloc from handing each 4 MiB chunk of a copy back to the kernel
 * and taking fresh, zero-filled pages for the next (a page fault every
 * 4 KiB, which halved the throughput of copies from the device over
 * ZeroMQ): blocks up to 8 MiB come from the heap, and up to 32 MiB of free
 * heap is kept. For processes that move copies through malloc()ed
 * buffers: a worker, and a guest whose transport is ZeroMQ.
 */
void vcuda_malloc_keep_chunks(void);

/* Room for one more element in an array of *cap elements of elem bytes
 * holding n: doubles *cap (first, if 0) and reallocates *arr when n ==
 * *cap. 0, or VCUDA_E_NOMEM with the array as it was. */
int vcuda_grow(void *arr, size_t *cap, size_t n, size_t elem, size_t first);

#endif
