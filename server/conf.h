/*
 * vcudad's configuration file (--config FILE, INI, read with inih): the
 * server's own settings, defaults for every client, and clients by name.
 * docs/operations.md ("Configuration file") has the format and a complete
 * example; server/vcudad.conf is the installed, commented sample.
 *
 * A client is an identity: a tcp:// guest its CURVE public key, an ipc://
 * guest its Unix user (the kernel's peer credentials). A guest that no
 * [client] section names is a client of its own, with the defaults.
 */
#ifndef VCUDA_CONF_H
#define VCUDA_CONF_H

#include <stdint.h>
#include <sys/types.h>

struct vcudad_config;

#define VCUDAD_CLIENT_KEYS 8 /* keys one [client] section may list */

struct vcudad_client_conf {
	char name[64];
	int nusers;
	uid_t users[VCUDAD_CLIENT_KEYS]; /* ipc://: these Unix users */
	int nkeys;
	uint8_t keys[VCUDAD_CLIENT_KEYS][32]; /* tcp://: these public keys */
	uint64_t memory;		      /* device memory, all its sessions; 0: no quota */
	uint32_t max_sessions; /* sessions at once; 0: no limit beyond the server's */
	uint32_t share;	       /* weight of its device time */
	char group[64];	       /* a client: the [group NAME] it is in, or "" */
};

/*
 * A [group NAME] is several clients under one memory quota, one session
 * limit and one share (the same settings; no keys or users): its members'
 * own limits hold too, and the group's share is split among its members
 * that want the device, by their shares.
 */
struct vcudad_clients {
	struct vcudad_client_conf defaults; /* named "default" */
	struct vcudad_client_conf *c;
	int n;
	struct vcudad_client_conf *g; /* groups */
	int ng;
};

/*
 * Reads path. The [server] section fills cfg only when server is nonzero
 * (the first load; a reload changes clients and defaults, and says which
 * server settings need a restart). On error nothing is changed and why
 * says "FILE:LINE: reason". Returns 0 or VCUDA_E_INVAL.
 */
int vcudad_config_load(const char *path, struct vcudad_config *cfg, int server,
		       struct vcudad_clients *out, char *why, size_t why_len);
void vcudad_clients_free(struct vcudad_clients *c);

/* --schedule and schedule =: auto (-1), exclusive, paced or off (enum
 * vcuda_sched_mode). --mps and mps =: auto (-1), on (1), off (0). 0, or -1
 * if v is none of them. */
int vcudad_parse_schedule(const char *v, int *out);
int vcudad_parse_mps(const char *v, int *out);

/* The client a tcp:// key or an ipc:// user names, or NULL. */
const struct vcudad_client_conf *vcudad_client_by_key(const struct vcudad_clients *c,
						      const uint8_t key[32]);
const struct vcudad_client_conf *vcudad_client_by_user(const struct vcudad_clients *c, uid_t uid);
/* The group named name, or NULL. */
const struct vcudad_client_conf *vcudad_group_by_name(const struct vcudad_clients *c,
						      const char *name);

#endif
