/* Device time shared by weight across processes (fairshare.h). */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fairshare.h"
#include "util.h"

static size_t sched_size(uint32_t nsessions, uint32_t nclients)
{
	return sizeof(struct vcuda_sched) + nsessions * sizeof(struct vcuda_sched_session) +
	       nclients * sizeof(struct vcuda_sched_client);
}

struct vcuda_sched_session *vcuda_sched_session(struct vcuda_sched *s, uint32_t i)
{
	return (struct vcuda_sched_session *)(s + 1) + i;
}

struct vcuda_sched_client *vcuda_sched_client(struct vcuda_sched *s, uint32_t i)
{
	return (struct vcuda_sched_client *)(vcuda_sched_session(s, s->nsessions)) + i;
}

struct vcuda_sched *vcuda_sched_create(uint32_t nsessions, uint32_t nclients,
				       enum vcuda_sched_mode mode, int *fd)
{
	struct vcuda_sched *s =
	    vcuda_shared_create("vcuda-sched", sched_size(nsessions, nclients), fd);
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;

	if (!s)
		return NULL;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&s->lock, &ma);
	pthread_condattr_init(&ca);
	pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	s->nsessions = nsessions;
	s->nclients = nclients;
	s->mode = mode;
	return s;
}

struct vcuda_sched *vcuda_sched_attach(const char *spec, uint32_t *session)
{
	size_t size;
	unsigned i;
	struct vcuda_sched *s = vcuda_shared_attach(spec, sizeof(*s), &i, &size);

	if (!s)
		return NULL;
	if (size != sched_size(s->nsessions, s->nclients) || i >= s->nsessions) {
		munmap(s, size);
		return NULL;
	}
	*session = i;
	return s;
}

/* Takes the lock; a holder that died leaves it to the next taker, and
 * nothing it half did matters more than a lost wakeup. */
static int sched_lock(struct vcuda_sched *s)
{
	int rc = pthread_mutex_lock(&s->lock);

	if (rc == EOWNERDEAD)
		rc = pthread_mutex_consistent(&s->lock);
	return rc;
}

/* How long a session that just ran is waited for (sched_my_turn). */
static uint64_t sched_grace(const struct vcuda_sched_session *o)
{
	uint64_t g = 2 * o->gap_ns;

	return g < 1000000u ? 1000000u : g > VCUDA_SCHED_GRACE_NS ? VCUDA_SCHED_GRACE_NS : g;
}

static uint64_t sched_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* This process's id, asked once: it is compared on every launch. A worker
 * never forks. */
static int32_t sched_pid(void)
{
	static int32_t pid;

	if (!pid)
		pid = (int32_t)getpid();
	return pid;
}

static int sched_alive(int32_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH);
}

void vcuda_sched_set_client(struct vcuda_sched *s, uint32_t client, uint32_t share, uint32_t group,
			    uint32_t group_share)
{
	struct vcuda_sched_client *c;

	if (client >= s->nclients || sched_lock(s) != 0)
		return;
	c = vcuda_sched_client(s, client);
	c->share = share;
	c->group = group;
	c->group_share = group_share;
	if (!share)
		memset(c, 0, sizeof(*c));
	pthread_mutex_unlock(&s->lock);
}

void vcuda_sched_open(struct vcuda_sched *s, uint32_t i, uint32_t client)
{
	struct vcuda_sched_session *se;

	if (i >= s->nsessions || client >= s->nclients || sched_lock(s) != 0)
		return;
	se = vcuda_sched_session(s, i);
	memset(se, 0, sizeof(*se));
	se->client = client;
	se->active = 1;
	if (i >= s->high)
		s->high = i + 1;
	vcuda_sched_client(s, client)->sessions++;
	pthread_mutex_unlock(&s->lock);
}

void vcuda_sched_close(struct vcuda_sched *s, uint32_t i)
{
	struct vcuda_sched_session *se;

	if (i >= s->nsessions || sched_lock(s) != 0)
		return;
	se = vcuda_sched_session(s, i);
	if (se->active && se->client < s->nclients && vcuda_sched_client(s, se->client)->sessions)
		vcuda_sched_client(s, se->client)->sessions--;
	memset(se, 0, sizeof(*se));
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/* Whether session i may run now: the device is free, no live waiting
 * session is ahead of it (an earlier virtual time, or the same and a lower
 * index), and none that is ahead ran within the grace time. If not, *until
 * gets when to look again at the latest. Clears what dead workers left.
 * Called with the lock held. */
static int sched_my_turn(struct vcuda_sched *s, uint32_t i, uint64_t now, uint64_t *until)
{
	struct vcuda_sched_session *me = vcuda_sched_session(s, i);

	*until = now + 50000000u; /* also to find out dead workers */
	if (s->running_pid && !sched_alive(s->running_pid))
		s->running_pid = 0;
	if (s->running_pid)
		return 0;
	for (uint32_t j = 0; j < s->high; j++) {
		struct vcuda_sched_session *o = vcuda_sched_session(s, j);
		if (j == i || !o->active)
			continue;
		if (o->waiting && !sched_alive(o->pid)) {
			o->waiting = 0;
			o->pid = 0;
		}
		if (o->waiting && (o->vtime < me->vtime || (o->vtime == me->vtime && j < i)))
			return 0;
		if (!o->waiting && o->vtime < me->vtime && o->last_ns &&
		    now - o->last_ns < sched_grace(o)) {
			if (o->last_ns + sched_grace(o) < *until)
				*until = o->last_ns + sched_grace(o);
			return 0;
		}
	}
	return 1;
}

/* An idle session starts from the earliest virtual time of those that want
 * the device: what it did not use while idle is not owed to it later. */
static void sched_catch_up(struct vcuda_sched *s, uint32_t i)
{
	struct vcuda_sched_session *me = vcuda_sched_session(s, i);
	uint64_t least = UINT64_MAX;

	for (uint32_t j = 0; j < s->high; j++) {
		struct vcuda_sched_session *o = vcuda_sched_session(s, j);
		if (j != i && o->active && (o->waiting || o->inflight) && o->vtime < least)
			least = o->vtime;
	}
	if (least != UINT64_MAX && me->vtime < least)
		me->vtime = least;
}

/* Session i wants the device again: it catches up if it was idle, and how
 * soon it came back is averaged (sched_grace). Lock held. */
static void sched_arrive(struct vcuda_sched *s, uint32_t i, uint64_t now)
{
	struct vcuda_sched_session *me = vcuda_sched_session(s, i);

	if (!me->inflight && (!me->last_ns || now - me->last_ns > VCUDA_SCHED_GRACE_NS))
		sched_catch_up(s, i); /* it was idle */
	if (me->last_ns) {
		uint64_t gap = now - me->last_ns;
		if (gap < 4 * VCUDA_SCHED_GRACE_NS)
			me->gap_ns = me->gap_ns ? (3 * me->gap_ns + gap) / 4 : gap;
	}
	me->pid = sched_pid();
	me->waiting = 1;
}

/* Waits on the region's condition until until (CLOCK_MONOTONIC ns). */
static void sched_wait(struct vcuda_sched *s, uint64_t until)
{
	struct timespec t = {.tv_sec = (time_t)(until / 1000000000u),
			     .tv_nsec = (long)(until % 1000000000u)};

	if (pthread_cond_timedwait(&s->cond, &s->lock, &t) == EOWNERDEAD)
		pthread_mutex_consistent(&s->lock);
}

int vcuda_sched_enter(struct vcuda_sched *s, uint32_t i)
{
	struct vcuda_sched_session *me;

	if (i >= s->nsessions || sched_lock(s) != 0)
		return -1;
	me = vcuda_sched_session(s, i);
	sched_arrive(s, i, sched_now());
	for (;;) {
		uint64_t until;
		if (sched_my_turn(s, i, sched_now(), &until))
			break;
		sched_wait(s, until);
	}
	me->waiting = 0;
	me->pid = 0;
	s->running_pid = sched_pid();
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/*
 * Virtual nanoseconds per nanosecond of session i's device time: 1000 over
 * its weight, its client's share split among the client's sessions that
 * want the device; for a client in a group, the group's share split among
 * its clients that want the device, by their shares, first. One pass over
 * the sessions; the caller converts as many times as it needs. Lock held.
 */
static double sched_scale(struct vcuda_sched *s, uint32_t i)
{
	struct vcuda_sched_session *me = vcuda_sched_session(s, i);
	struct vcuda_sched_client *c;
	uint64_t busy = 1, group_sum;
	double weight;

	if (me->client >= s->nclients)
		return 1000.0;
	c = vcuda_sched_client(s, me->client);
	group_sum = c->share;
	c->stamp = ++s->epoch; /* marks the clients of the group already summed */
	for (uint32_t j = 0; j < s->high; j++) {
		struct vcuda_sched_session *o = vcuda_sched_session(s, j);
		struct vcuda_sched_client *oc;
		if (j == i || !o->active || !(o->waiting || o->inflight) ||
		    o->client >= s->nclients)
			continue;
		if (o->client == me->client) {
			busy++;
			continue;
		}
		oc = vcuda_sched_client(s, o->client);
		if (c->group && oc->group == c->group && oc->stamp != s->epoch) {
			oc->stamp = s->epoch;
			group_sum += oc->share;
		}
	}
	weight = (double)(c->share ? c->share : 1) / (double)busy;
	if (c->group)
		weight = weight * (double)(c->group_share ? c->group_share : 1) /
			 (double)(group_sum ? group_sum : 1);
	return 1000.0 / weight;
}

static uint64_t sched_virtual(uint64_t ns, double scale)
{
	return (uint64_t)((double)ns * scale);
}

/* Session i's client counts kernels more of ns device time (atomic: read
 * without the lock). */
static void sched_account(struct vcuda_sched *s, uint32_t i, uint64_t kernels, uint64_t ns)
{
	uint32_t c = vcuda_sched_session(s, i)->client;

	if (c >= s->nclients)
		return;
	__atomic_add_fetch(&vcuda_sched_client(s, c)->kernels, kernels, __ATOMIC_RELAXED);
	__atomic_add_fetch(&vcuda_sched_client(s, c)->kernel_ns, ns, __ATOMIC_RELAXED);
}

void vcuda_sched_leave(struct vcuda_sched *s, uint32_t i, uint64_t ns)
{
	struct vcuda_sched_session *me;

	if (i >= s->nsessions || sched_lock(s) != 0)
		return;
	me = vcuda_sched_session(s, i);
	me->vtime += sched_virtual(ns, sched_scale(s, i));
	sched_account(s, i, 1, ns);
	me->last_ns = sched_now();
	if (s->running_pid == sched_pid())
		s->running_pid = 0;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/*
 * Paced: whether session i may queue another kernel: no session that wants
 * the device is further behind it than window (what VCUDA_SCHED_WINDOW_NS
 * of its own kernels would add to its virtual time). Queued, unmeasured
 * kernels count at their estimate on both sides. If not, *until gets when
 * to look again at the latest. Clears what dead waiters left. Lock held.
 */
static int sched_may_queue(struct vcuda_sched *s, uint32_t i, uint64_t window, uint64_t now,
			   uint64_t *until)
{
	struct vcuda_sched_session *me = vcuda_sched_session(s, i);
	uint64_t mine = me->vtime + me->vpending;

	*until = now + 5000000u; /* others' estimates and grace times change unsaid */
	for (uint32_t j = 0; j < s->high; j++) {
		struct vcuda_sched_session *o = vcuda_sched_session(s, j);
		if (j == i || !o->active)
			continue;
		if (o->waiting && !sched_alive(o->pid)) {
			o->waiting = 0;
			o->pid = 0;
		}
		if (!(o->waiting || o->inflight ||
		      (o->last_ns && now - o->last_ns < sched_grace(o))))
			continue; /* it does not want the device */
		if (o->vtime + o->vpending + window < mine)
			return 0;
	}
	return 1;
}

int vcuda_sched_admit(struct vcuda_sched *s, uint32_t i, uint32_t inflight, uint64_t pending_ns)
{
	struct vcuda_sched_session *me;
	double scale;

	if (i >= s->nsessions || sched_lock(s) != 0)
		return -1;
	me = vcuda_sched_session(s, i);
	sched_arrive(s, i, sched_now());
	/* The weight changes only while others come and go: it is worked out
	 * again only after a wait. */
	for (scale = sched_scale(s, i);; scale = sched_scale(s, i)) {
		uint64_t until;
		me->vpending = sched_virtual(pending_ns, scale);
		if (sched_may_queue(s, i, sched_virtual(VCUDA_SCHED_WINDOW_NS, scale), sched_now(),
				    &until))
			break;
		sched_wait(s, until);
	}
	me->waiting = 0;
	me->pid = 0;
	me->inflight = inflight;
	me->last_ns = sched_now();
	sched_account(s, i, 1, 0);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void vcuda_sched_charge(struct vcuda_sched *s, uint32_t i, uint64_t ns, uint32_t inflight,
			uint64_t pending_ns)
{
	struct vcuda_sched_session *me;
	double scale;

	if (i >= s->nsessions || sched_lock(s) != 0)
		return;
	me = vcuda_sched_session(s, i);
	scale = sched_scale(s, i);
	me->vtime += sched_virtual(ns, scale);
	me->inflight = inflight;
	me->vpending = inflight ? sched_virtual(pending_ns, scale) : 0;
	me->last_ns = sched_now();
	sched_account(s, i, 0, ns);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

void vcuda_sched_count(struct vcuda_sched *s, uint32_t i)
{
	if (i < s->nsessions)
		sched_account(s, i, 1, 0);
}

void vcuda_sched_bytes(struct vcuda_sched *s, uint32_t i, uint64_t in, uint64_t out)
{
	uint32_t c = i < s->nsessions ? vcuda_sched_session(s, i)->client : UINT32_MAX;

	if (c >= s->nclients)
		return;
	__atomic_add_fetch(&vcuda_sched_client(s, c)->bytes_in, in, __ATOMIC_RELAXED);
	__atomic_add_fetch(&vcuda_sched_client(s, c)->bytes_out, out, __ATOMIC_RELAXED);
}
