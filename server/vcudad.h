/* vcudad: configuration and the two roles of the process. */
#ifndef VCUDA_VCUDAD_H
#define VCUDA_VCUDAD_H

#include <stdint.h>

#include "backend.h"
#include "conf.h"

#define VCUDAD_MAX_RESTORE 64
#define VCUDAD_MAX_LISTEN  8

/* What one guest may make the host hold (defaults in main.c; --help). */
struct vcudad_limits {
	uint64_t module_bytes;	       /* one module, every entry decompressed */
	uint64_t session_module_bytes; /* all of a session's loaded modules */
	uint32_t modules;	       /* modules loaded at once, per session */
	uint32_t handles;	       /* streams, events, modules, kernels, per session */
	uint32_t sessions;	       /* sessions at once, all guests */
	uint32_t pending_per_peer;     /* handshakes being answered for one address */
	int kernel_timeout_s;	       /* 0: kernels may run for ever */
};

/* Everything vcudad is told, read and checked in one place (main.c). */
struct vcudad_config {
	struct vcudad_limits limits;
	const char *listen[VCUDAD_MAX_LISTEN];
	int nlisten;
	enum vcuda_backend_choice backend;
	const char *cpu_device; /* path of the CPU device library */
	int attach_timeout_ms;
	int allow_root;
	unsigned socket_mode;	 /* of ipc:// sockets, the listener's and the workers' */
	long socket_gid;	 /* their group, or -1 */
	uint64_t cpu_memory;	 /* the CPU device's memory, all guests together; 0: default */
	uint64_t session_memory; /* each guest's CPU device; 0: VCUDA_CPU_MEMORY or all */
	const char *config_file; /* --config: clients, their quotas (conf.h) */
	struct vcudad_clients clients; /* from it; empty without one */
	const char *client;	       /* worker: its guest's client identity, for logs */
	const char *metrics;	       /* HOST:PORT of the Prometheus endpoint, or NULL */
	const char *admin_url;	       /* vcuda-smi\'s socket; NULL: beside the first ipc:// */
	long admin_gid;		       /* the group that may use it too, or -1 */
	const char *key_file;	       /* the server's CURVE key file (tcp://) */
	const char *allow_keys;	       /* the guests' public keys: a file or a directory */
	const char *peer_keys;	       /* servers that may move sessions here from other hosts */
	int insecure;		       /* tcp:// without keys, as asked */
	int schedule;		       /* enum vcuda_sched_mode; -1: as the backend needs */
	int mps;		       /* NVIDIA MPS thread shares: -1 if MPS runs, 0 no, 1 yes */
	/* Worker role (started by the listener, never by hand). */
	int worker;
	const char *bind_url;
	const char *peer;
	const char *peer_key; /* tcp://: the one guest key the worker accepts (Z85) */
	long parent;
	/* --restore: checkpoints whose guests may resume here (the listener);
	 * the one to rebuild (a worker). */
	const char *restore[VCUDAD_MAX_RESTORE];
	int nrestore;
	int consume_image; /* worker: remove the image once restored (a moved session's) */
};

/* The listener: accepts handshakes and starts one worker per client. */
int vcudad_listen(const struct vcudad_config *cfg, char *const argv0);
/* A session worker: serves the one client it was started for. */
int vcudad_worker(const struct vcudad_config *cfg);

#endif
