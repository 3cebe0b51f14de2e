/*
 * Device time shared among clients by weight, across processes: vcudad's
 * listener makes one region for all its workers (shared memory, inherited
 * as a file), and each worker tells it when its session wants the device
 * and how much device time its kernels took (start-time fair queuing).
 *
 * Each session has a virtual time, which grows by each kernel's device
 * time divided by the session's weight: its client's share, split among
 * its client's sessions that want the device now; for a client in a group,
 * the group's share, split among its clients that want the device by
 * their shares, then among the client's sessions. A session that was idle
 * starts from the earliest virtual time of the busy ones, so idle time is
 * not banked, and a waiting kernel never leaves the device idle for long
 * (work-conserving).
 *
 * Two ways to enforce it, chosen by the listener for the backend:
 * - exclusive (the CPU device, which runs a kernel when it is launched):
 *   one kernel at a time; a session's kernel runs when no busy session is
 *   behind it (vcuda_sched_enter, vcuda_sched_leave);
 * - paced (a GPU, which queues kernels and runs several contexts'
 *   by time-slicing): a session may queue kernels while its virtual time,
 *   with the estimated time of those it queued and that are not yet
 *   measured, is within a window of the busy session furthest behind
 *   (vcuda_sched_admit); the worker measures each kernel with events and
 *   charges its time when it has run (vcuda_sched_charge).
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

#define VCUDA_SCHED_GRACE_NS  10000000ull /* 10 ms */
#define VCUDA_SCHED_WINDOW_NS 20000000ull /* paced: how far ahead, in its own kernels' time */

enum vcuda_sched_mode {
	VCUDA_SCHED_COUNT = 0,	   /* counters only: the driver shares the device */
	VCUDA_SCHED_EXCLUSIVE = 1, /* one kernel at a time, by virtual time */
	VCUDA_SCHED_PACED = 2,	   /* kernels queued within a window, measured after */
};

struct vcuda_sched_session {
	uint64_t vtime;	 /* virtual nanoseconds */
	uint32_t client; /* its client's index */
	int32_t pid;	 /* its worker, while waiting; 0 otherwise */
	uint32_t waiting;
	uint32_t active;   /* the session exists (set by the listener) */
	uint64_t last_ns;  /* CLOCK_MONOTONIC when its last kernel ended (paced: was queued) */
	uint64_t gap_ns;   /* how soon it comes back after one (average) */
	uint64_t vpending; /* paced: virtual time of its queued, unmeasured kernels */
	uint32_t inflight; /* paced: how many */
	uint32_t reserved;
};

struct vcuda_sched_client {
	uint32_t share;	      /* weight, 1 to 10000; 0: the slot is free */
	uint32_t sessions;    /* active sessions */
	uint32_t group;	      /* its group (any number the listener chose), 0: none */
	uint32_t group_share; /* the group's weight */
	uint32_t stamp;	      /* scratch, under the lock */
	uint32_t reserved;
	/* Counters (atomic), for vcuda-smi and the metrics. */
	uint64_t kernels, kernel_ns, bytes_in, bytes_out;
};

struct vcuda_sched {
	pthread_mutex_t lock; /* robust, process-shared */
	pthread_cond_t cond;  /* process-shared */
	int32_t running_pid;  /* exclusive: the worker running a kernel, 0 none */
	uint32_t nsessions, nclients;
	uint32_t high;	/* sessions ever opened stand below this index */
	uint32_t mode;	/* enum vcuda_sched_mode */
	uint32_t epoch; /* scratch, under the lock */
			/* then nsessions sessions, then nclients clients */
};

/* A region for nsessions sessions of nclients clients, enforced as mode
 * says; *fd names it (inherited by workers). NULL on failure. */
struct vcuda_sched *vcuda_sched_create(uint32_t nsessions, uint32_t nclients,
				       enum vcuda_sched_mode mode, int *fd);
/* Maps the region a VCUDA_SCHED value names ("FD:SESSION"); NULL if it is
 * malformed or not one. */
struct vcuda_sched *vcuda_sched_attach(const char *spec, uint32_t *session);

struct vcuda_sched_session *vcuda_sched_session(struct vcuda_sched *s, uint32_t i);
struct vcuda_sched_client *vcuda_sched_client(struct vcuda_sched *s, uint32_t i);

/* Listener: a client's share (0 frees the client's slot), and its group
 * (0: none) with the group's share. */
void vcuda_sched_set_client(struct vcuda_sched *s, uint32_t client, uint32_t share, uint32_t group,
			    uint32_t group_share);
/* Listener: session i starts, for client; or ends (client ignored). */
void vcuda_sched_open(struct vcuda_sched *s, uint32_t i, uint32_t client);
void vcuda_sched_close(struct vcuda_sched *s, uint32_t i);

/* Worker, exclusive: waits for session i's turn to run a kernel. 0, or -1
 * if the region is unusable (run anyway). */
int vcuda_sched_enter(struct vcuda_sched *s, uint32_t i);
/* Worker, exclusive: the kernel ran ns nanoseconds; the device is free
 * again. */
void vcuda_sched_leave(struct vcuda_sched *s, uint32_t i, uint64_t ns);
/* Worker, paced: waits until session i may queue one more kernel, and
 * counts it. It will then have inflight kernels queued and not yet
 * measured, this one included, which it expects to take pending_ns
 * together. 0, or -1 if the region is unusable
 * (queue it anyway). */
int vcuda_sched_admit(struct vcuda_sched *s, uint32_t i, uint32_t inflight, uint64_t pending_ns);
/* Worker, paced: kernels of session i have run, ns nanoseconds together;
 * inflight kernels, expected to take pending_ns, are still queued. */
void vcuda_sched_charge(struct vcuda_sched *s, uint32_t i, uint64_t ns, uint32_t inflight,
			uint64_t pending_ns);
/* Worker: one kernel queued on a device the scheduler does not share
 * (mode COUNT): counted, without the lock. */
void vcuda_sched_count(struct vcuda_sched *s, uint32_t i);
/* Worker: bytes copied to (in) or from (out) the device for session i. */
void vcuda_sched_bytes(struct vcuda_sched *s, uint32_t i, uint64_t in, uint64_t out);

#endif
