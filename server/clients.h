/*
 * The listener's clients: each guest identity it has seen, what the
 * configuration gives it, its live sessions, and its device memory quota,
 * a budget (common/budget.h) shared by all of its workers, each charging
 * its allocations to its own slot.
 */
#ifndef VCUDA_CLIENTS_H
#define VCUDA_CLIENTS_H

#include <stdint.h>
#include <sys/types.h>

#include "budget.h"
#include "fairshare.h"
#include "conf.h"

/* A [group] with live members: its budget, shared by their workers. */
struct vcudad_group {
	char name[64];
	const struct vcudad_client_conf *conf;
	uint32_t id;		     /* in the device scheduler: 1 and up */
	int members;		     /* live identities */
	struct vcuda_budget *budget; /* limit = its memory (UINT64_MAX: none) */
	int budget_fd;
};

struct vcudad_ident {
	char id[80]; /* the [client] name, or "uid 1000", "key AbCd...", "host 10.0.0.7" */
	const struct vcudad_client_conf *conf; /* its section, or the defaults */
	int has_key, has_uid;
	uint8_t key[32];
	uid_t uid;
	char host[64];
	int sessions;		     /* live */
	uint32_t sched_client;	     /* its slot in the device scheduler */
	uint64_t since_ns;	     /* CLOCK_REALTIME of its first live session */
	char transport[8];	     /* "tcp" or "ipc": how its first live session came */
	struct vcuda_budget *budget; /* its memory: limit = quota (UINT64_MAX: none) */
	int budget_fd;
	struct vcudad_group *group; /* the group it was in at its first session, or NULL */
};

struct vcudad_idents {
	struct vcudad_clients conf; /* from --config; empty without one */
	struct vcudad_ident **v;
	int n;
	uint32_t slots;		   /* the server's --max-sessions: worker slot numbers */
	struct vcuda_sched *sched; /* device time and counters, all workers */
	int sched_fd;
	struct vcudad_group **groups; /* live */
	int ngroups;
	uint32_t next_group_id;
};

/*
 * The identity of a guest: its key (tcp:// with keys), else its Unix user
 * (local: an ipc:// socket, whose peer address ZeroMQ gives as
 * "NAME:UID:GID:PID"), else its host. Made on first sight, with its
 * budget. NULL if out of memory.
 */
struct vcudad_ident *vcudad_ident_get(struct vcudad_idents *t, const char *key_z85,
				      const char *peer_address, int local);
/* Whether id may hold the session just counted for it: NULL, or why not
 * (its own max-sessions or its group's, written to why). */
const char *vcudad_ident_over(const struct vcudad_idents *t, const struct vcudad_ident *id,
			      char *why, size_t len);
/* The NVIDIA MPS active-thread percentage of id's workers: its share (its
 * group's, for a member) over the largest share the configuration gives,
 * 1 to 100. */
unsigned vcudad_ident_mps_percent(const struct vcudad_idents *t, const struct vcudad_ident *id);
/* One session of id ended (its worker's slot): takes back the memory the
 * slot still held; the identity is forgotten with its last session. */
void vcudad_ident_put(struct vcudad_idents *t, struct vcudad_ident *id, uint32_t slot);
/* Applies a new configuration to every identity (its section and quota). */
void vcudad_idents_reconfigure(struct vcudad_idents *t, struct vcudad_clients *conf);

#endif
