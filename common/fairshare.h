/*
 * Device time shared among clients by weight, across processes: vcudad's
 * listener makes one region for all its workers (shared memory, inherited
 * as a file), and a worker asks for its turn before it runs a kernel and
 * says how long it ran after (start-time fair queuing).
 *
 * Each session has a virtual time. A session's kernel runs when no other
 * kernel is running and no waiting session has an earlier virtual time;
 * after it, the session's virtual time advances by the kernel's time,
 * times the number of its client's sessions that want the device,
 * divided by its client's share. A session that was idle starts from the earliest
 * virtual time of those waiting, so idle time is not banked, and the
 * device is never idle while a kernel waits (work-conserving).
 *
 * The region also counts, per client, kernels, their time and the bytes
 * copied each way, for vcuda-smi and the metrics.
 *
 * Whoever dies holding the lock, running a kernel or waiting for one, is
 * found out (a robust mutex; the process ids of the running and waiting
 * sessions are checked) and does not stop the others.
 */
#ifndef VCUDA_FAIRSHARE_H
#define VCUDA_FAIRSHARE_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#define VCUDA_SCHED_GRACE_NS 10000000ull /* 10 ms */

struct vcuda_sched_session {
	uint64_t vtime;	 /* virtual nanoseconds */
	uint32_t client; /* its client's index */
	int32_t pid;	 /* its worker, while waiting; 0 otherwise */
	uint32_t waiting;
	uint32_t active;  /* the session exists (set by the listener) */
	uint64_t last_ns; /* CLOCK_MONOTONIC when its last kernel ended */
	uint64_t gap_ns;  /* how soon it comes back after one (average) */
};

struct vcuda_sched_client {
	uint32_t share;	   /* weight, 1 to 10000; 0: the slot is free */
	uint32_t sessions; /* active sessions */
	/* Counters (atomic), for vcuda-smi and the metrics. */
	uint64_t kernels, kernel_ns, bytes_in, bytes_out;
};

struct vcuda_sched {
	pthread_mutex_t lock; /* robust, process-shared */
	pthread_cond_t cond;  /* process-shared */
	int32_t running_pid;  /* the worker running a kernel, 0 none */
	uint32_t nsessions, nclients;
	uint32_t high; /* sessions ever opened stand below this index */
		       /* then nsessions sessions, then nclients clients */
};

/* A region for nsessions sessions of nclients clients; *fd names it
 * (inherited by workers). NULL on failure. */
struct vcuda_sched *vcuda_sched_create(uint32_t nsessions, uint32_t nclients, int *fd);
/* Maps the region a VCUDA_SCHED value names ("FD:SESSION"); NULL if it is
 * malformed or not one. */
struct vcuda_sched *vcuda_sched_attach(const char *spec, uint32_t *session);

struct vcuda_sched_session *vcuda_sched_session(struct vcuda_sched *s, uint32_t i);
struct vcuda_sched_client *vcuda_sched_client(struct vcuda_sched *s, uint32_t i);

/* Listener: a client's share (0 frees the client's slot). */
void vcuda_sched_set_client(struct vcuda_sched *s, uint32_t client, uint32_t share);
/* Listener: session i starts, for client; or ends (client ignored). */
void vcuda_sched_open(struct vcuda_sched *s, uint32_t i, uint32_t client);
void vcuda_sched_close(struct vcuda_sched *s, uint32_t i);

/* Worker: waits for session i's turn to run a kernel. 0, or -1 if the
 * region is unusable (run anyway). */
int vcuda_sched_enter(struct vcuda_sched *s, uint32_t i);
/* Worker: the kernel ran ns nanoseconds; the device is free again. */
void vcuda_sched_leave(struct vcuda_sched *s, uint32_t i, uint64_t ns);
/* Worker: one kernel queued on a device the scheduler does not run (a
 * GPU): counted, without the lock. */
void vcuda_sched_count(struct vcuda_sched *s, uint32_t i);
/* Worker: bytes copied to (in) or from (out) the device for session i. */
void vcuda_sched_bytes(struct vcuda_sched *s, uint32_t i, uint64_t in, uint64_t out);

#endif
