/*
 * Paced device time (common/fairshare.h, mode PACED): a GPU queues the
 * kernels it is given and runs them later, so a session's kernels are let
 * onto the device by the scheduler before they are queued, and measured
 * with a pair of events each; their time is charged when they have run.
 * At most SESSION_PACED kernels of a session are queued unmeasured.
 */
#include "config.h"

#include "log.h"
#include "session.h"

/* Charges what has run of the oldest queued kernels. */
void session_paced_collect(struct session *s)
{
	struct session_paced *p = &s->paced;
	uint64_t ns = 0;
	int done = 0;

	while (p->tail != p->head) {
		uint32_t k = p->tail % SESSION_PACED;
		float ms;
		CUresult rc = s->be->cuEventQuery(p->end[k]);
		if (rc == CUDA_ERROR_NOT_READY)
			break;
		/* A failed kernel's time is what its events say, or nothing. */
		if (rc == CUDA_SUCCESS &&
		    s->be->cuEventElapsedTime(&ms, p->start[k], p->end[k]) == CUDA_SUCCESS &&
		    ms > 0)
			ns += (uint64_t)((double)ms * 1e6);
		p->tail++;
		done++;
	}
	if (!done)
		return;
	p->avg_ns = p->avg_ns ? (7 * p->avg_ns + ns / (uint64_t)done) / 8 : ns / (uint64_t)done;
	vcuda_sched_charge(s->sched, s->sched_slot, ns, p->head - p->tail,
			   (uint64_t)(p->head - p->tail) * p->avg_ns);
}

/* The event pair of ring slot k, made in the current context (device). */
static int paced_events(struct session *s, uint32_t k, int device)
{
	struct session_paced *p = &s->paced;

	if (p->made[k] && p->device[k] == device)
		return 0;
	if (p->made[k]) {
		s->be->cuEventDestroy(p->start[k]);
		s->be->cuEventDestroy(p->end[k]);
		p->made[k] = 0;
	}
	if (s->be->cuEventCreate(&p->start[k], CU_EVENT_DEFAULT) != CUDA_SUCCESS)
		return -1;
	if (s->be->cuEventCreate(&p->end[k], CU_EVENT_DEFAULT) != CUDA_SUCCESS) {
		s->be->cuEventDestroy(p->start[k]);
		return -1;
	}
	p->made[k] = 1;
	p->device[k] = device;
	return 0;
}

int session_paced_begin(struct session *s, int device, CUstream st)
{
	struct session_paced *p = &s->paced;
	uint32_t k;

	session_paced_collect(s);
	if (p->head - p->tail == SESSION_PACED) { /* full: the oldest must finish */
		s->be->cuEventSynchronize(p->end[p->tail % SESSION_PACED]);
		session_paced_collect(s);
	}
	k = p->head % SESSION_PACED;
	vcuda_sched_admit(s->sched, s->sched_slot, p->head - p->tail + 1,
			  (uint64_t)(p->head - p->tail + 1) * p->avg_ns);
	if (paced_events(s, k, device) != 0 ||
	    s->be->cuEventRecordWithFlags(p->start[k], st, 0) != CUDA_SUCCESS) {
		if (!p->warned++)
			VWARN(server,
			      "%s: cannot time its kernels with events; they are counted "
			      "but not charged",
			      s->peer);
		return -1;
	}
	return (int)k;
}

void session_paced_end(struct session *s, int k, CUstream st, CUresult launched)
{
	struct session_paced *p = &s->paced;

	if (k >= 0 && launched == CUDA_SUCCESS &&
	    s->be->cuEventRecordWithFlags(p->end[k], st, 0) == CUDA_SUCCESS) {
		p->head++;
		return;
	}
	/* Not queued after all: the scheduler learns it has nothing more. */
	vcuda_sched_charge(s->sched, s->sched_slot, 0, p->head - p->tail,
			   (uint64_t)(p->head - p->tail) * p->avg_ns);
}

void session_paced_forget(struct session *s, int device)
{
	struct session_paced *p = &s->paced;

	/* Its kernels end before its context goes (as cuDevicePrimaryCtxReset
	 * would wait for them): they are charged. */
	while (p->tail != p->head) {
		s->be->cuEventSynchronize(p->end[p->tail % SESSION_PACED]);
		session_paced_collect(s);
	}
	for (uint32_t k = 0; k < SESSION_PACED; k++)
		if (p->made[k] && p->device[k] == device) {
			s->be->cuEventDestroy(p->start[k]);
			s->be->cuEventDestroy(p->end[k]);
			p->made[k] = 0;
		}
}
