/*
 * The listener: answers handshakes and starts one worker process per
 * client. A worker is this program run again with --worker, so it starts
 * clean (no inherited ZeroMQ state, its own CUDA context). It binds a
 * channel of its own and tells the listener where, through a pipe; the
 * listener passes that to the client, which then talks to its worker
 * directly.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "admin.h"
#include "image.h"
#include "budget.h"
#include "clients.h"
#include "curve.h"
#include "error.h"
#include "log.h"
#include "movein.h"
#include "metrics.h"
#include "transport.h"
#include "util.h"
#include "vcuda.pb-c.h"
#include "vcudad.h"
#include <vcuda/version.h>

#define LISTENER_MAX_WORKERS	  65536
#define LISTENER_START_TIMEOUT_MS 15000
/* How long vcuda-smi --checkpoint or --migrate waits for a worker. */
#define LISTENER_CHECKPOINT_TIMEOUT_MS 600000
/* A handshake frame: the Hello is a few hundred bytes; ZeroMQ drops the
 * connection of a peer that sends a larger frame before buffering it. */
#define LISTENER_MAX_HELLO 4096
/* Handshakes from local sockets (which have no address to tell peers
 * apart) share one allowance of this many times the per-peer one. */
#define LISTENER_LOCAL_PENDING_FACTOR 8

struct worker {
	pid_t pid;
	int pipe_fd;	 /* until the worker's guest attaches; -1 after */
	int ipc_fd;	 /* the worker's requests for CUDA IPC (fd 8 there); -1 none */
	int arena_fd;	 /* the CPU device's memory file, once the worker exported it */
	int reported;	 /* the worker said where it listens */
	int sock;	 /* index of the listen socket the client came on */
	zmq_msg_t route; /* the client's routing id, while starting */
	uint64_t started_ns;
	char bind_url[512];
	char peer[256];
	char addr[64];		    /* the peer's address ("" for a local socket) */
	char key[41];		    /* tcp:// with keys: the guest's public key (Z85), else "" */
	struct vcudad_ident *ident; /* its client */
	int slot;		    /* its slot in the CPU device's memory budget */
	int ctl_fd;		    /* checkpoints (fd 9 there: worker_control_main) */
	const char *restore;	    /* the checkpoint it restores, or NULL */
	int restore_consume;	    /* ... and removes once it did (an adopted one) */
	char buf[600];
	size_t buf_len;
};

struct listener {
	const struct vcudad_config *cfg;
	const char *backend_kind;
	void *socks[VCUDAD_MAX_LISTEN];
	char dirs[VCUDAD_MAX_LISTEN][512]; /* ipc: the private directory of worker sockets */
	struct worker **workers;
	int nworkers;
	struct vcuda_budget *budget; /* the CPU device's memory, all workers together */
	int budget_fd;
	uint8_t *slot_used;	       /* limits.sessions of them */
	uint64_t refused_log_ns;       /* refusals are logged at most once a second */
	unsigned refused_quiet;	       /* refusals not logged since */
	int curve;		       /* tcp:// sockets are CURVE servers */
	char hello_key[41];	       /* the key of the hello being answered, or "" */
	void *mons[VCUDAD_MAX_LISTEN]; /* tcp:// with keys: failed handshakes */
	struct vcuda_curve keys;       /* the server's */
	struct vcuda_keyset allowed;
	struct vcuda_keyset peers;	/* servers that may move sessions here (--peer-keys) */
	struct vcudad_movein movein;	/* sessions moving in from them */
	struct vcudad_idents idents;	/* clients with live sessions */
	pthread_mutex_t conf_lock;	/* idents.conf: the ZAP thread reads its keys */
	char hello_peer[64];		/* the raw peer address of the hello being answered */
	struct vcudad_admin admin;	/* vcuda-smi's socket */
	struct vcudad_metrics *metrics; /* --metrics */
	uint64_t metrics_ns;		/* when its figures were last given */
	int draining;			/* no new sessions (vcuda-smi --drain) */
	int mps;			/* workers get an MPS active-thread percentage */
	struct vcuda_backend *be;
	Vcuda__ClientStatus *status; /* the last status answer's clients */
	Vcuda__ClientStatus **status_ptrs;
	uint32_t *status_pids;
	uint64_t *status_memory; /* ... and their sessions' memory, in that order */
	/* --restore: checkpoints a guest may resume, by session token; each
	 * is given once. */
	struct {
		const char *path;
		uint8_t token[SESSION_TOKEN_LEN];
		char client[256];
		int taken;
		int adopted; /* a moved session's (vcuda-smi --migrate): removed once restored */
		uint64_t adopted_ns; /* ... when it came: its guest comes at once, or never */
		char own_path[4096];
	} restores[VCUDAD_MAX_RESTORE];
	int nrestores;
	char answer[1600]; /* a checkpoint's answer, for the admin reply */
	/* The worker writing a checkpoint or moving its session, whose answer
	 * the admin socket waits for (VCUDAD_ADMIN_LATER); NULL when none. */
	struct worker *writing;
	uint64_t writing_until;
};

static volatile sig_atomic_t listener_stop, listener_child, listener_reload;

static void listener_on_signal(int sig)
{
	if (sig == SIGCHLD)
		listener_child = 1;
	else if (sig == SIGHUP)
		listener_reload = 1;
	else
		listener_stop = sig;
}

static void listener_signals(void)
{
	struct sigaction sa = {.sa_handler = listener_on_signal};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void listener_send_hello_reply(struct listener *l, int sock, zmq_msg_t *route, int status,
				      const char *msg, const char *endpoint, const uint8_t *token,
				      size_t token_len)
{
	Vcuda__HelloReply hr = VCUDA__HELLO_REPLY__INIT;
	uint8_t buf[1024];
	size_t n;

	hr.status = status;
	hr.message = (char *)(msg ? msg : "");
	hr.protocol_version = VCUDA_PROTOCOL_VERSION;
	hr.worker_endpoint = (char *)(endpoint ? endpoint : "");
	hr.token = (ProtobufCBinaryData){token_len, (uint8_t *)token};
	hr.backend = (char *)l->backend_kind;
	n = vcuda__hello_reply__pack(&hr, buf);
	if (zmq_msg_send(route, l->socks[sock], ZMQ_SNDMORE) < 0 ||
	    zmq_send(l->socks[sock], buf, n, 0) < 0)
		VWARN(server, "could not answer a handshake: %s", zmq_strerror(errno));
}

/* Whether a listen URL is a local socket (ipc://, or shm://, whose
 * handshake goes over the Unix socket at its path). */
static int listener_local(const char *url)
{
	return strncmp(url, "ipc://", 6) == 0 || strncmp(url, "shm://", 6) == 0;
}

/* The socket path of a worker's bind URL (ipc:// or shm://, without the
 * query of an shm:// one) into path; 0, or -1 if it has none. */
static int listener_worker_path(const struct worker *w, char *path, size_t cap)
{
	size_t n;

	if (!listener_local(w->bind_url))
		return -1;
	n = strcspn(w->bind_url + 6, "?");
	if (n >= cap)
		return -1;
	memcpy(path, w->bind_url + 6, n);
	path[n] = 0;
	return 0;
}

/* Runs this program again as the session's worker, its pipe on fd 3. */
static pid_t listener_spawn(struct listener *l, struct worker *w)
{
	const struct vcudad_limits *lim = &l->cfg->limits;
	char parent[32], timeout[32], modules[32], handles[32], mbytes[32], smbytes[32], kt[32];
	char mode[16], group[32];
	int fds[2];
	pid_t pid;

	int ipc[2], ctl[2];

	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ipc) != 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) != 0) {
		close(fds[0]);
		close(fds[1]);
		close(ipc[0]);
		close(ipc[1]);
		return -1;
	}
	snprintf(parent, sizeof(parent), "%ld", (long)getpid());
	snprintf(timeout, sizeof(timeout), "%d", l->cfg->attach_timeout_ms);
	snprintf(modules, sizeof(modules), "%u", lim->modules);
	snprintf(handles, sizeof(handles), "%u", lim->handles);
	snprintf(mbytes, sizeof(mbytes), "%llu", (unsigned long long)lim->module_bytes);
	snprintf(smbytes, sizeof(smbytes), "%llu", (unsigned long long)lim->session_module_bytes);
	snprintf(kt, sizeof(kt), "%d", lim->kernel_timeout_s);
	snprintf(mode, sizeof(mode), "%o", (unsigned)l->cfg->socket_mode);
	snprintf(group, sizeof(group), "%ld", (long)l->cfg->socket_gid);
	pid = fork();
	if (pid == 0) {
		char spec[32];
		if (l->budget) { /* fd 4 and the slot: see common/budget.h */
			snprintf(spec, sizeof(spec), "4:%d", w->slot);
			dup2(l->budget_fd, 4);
			setenv("VCUDA_CPU_BUDGET", spec, 1);
		} else {
			close(4);
		}
		/* fd 5: the client's memory quota, shared by its workers; fd 6:
		 * the device scheduler and counters, shared by all */
		snprintf(spec, sizeof(spec), "5:%d", w->slot);
		dup2(w->ident->budget_fd, 5);
		setenv("VCUDA_CLIENT_BUDGET", spec, 1);
		snprintf(spec, sizeof(spec), "6:%d", w->slot);
		dup2(l->idents.sched_fd, 6);
		setenv("VCUDA_SCHED", spec, 1);
		if (w->ident->group) { /* fd 7: its group's memory quota */
			snprintf(spec, sizeof(spec), "7:%d", w->slot);
			dup2(w->ident->group->budget_fd, 7);
			setenv("VCUDA_GROUP_BUDGET", spec, 1);
		} else {
			close(7);
		}
		if (l->mps) { /* read by NVIDIA's driver when the context is made */
			snprintf(spec, sizeof(spec), "%u",
				 vcudad_ident_mps_percent(&l->idents, w->ident));
			setenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", spec, 1);
		}
		char *argv[] = {"vcudad",
				"--worker",
				"--bind",
				w->bind_url,
				"--peer",
				w->peer,
				"--parent",
				parent,
				"--backend",
				(char *)l->backend_kind,
				"--cpu-device",
				(char *)l->cfg->cpu_device,
				"--attach-timeout",
				timeout,
				"--max-modules",
				modules,
				"--max-handles",
				handles,
				"--max-module-size",
				mbytes,
				"--max-session-modules",
				smbytes,
				"--kernel-timeout",
				kt,
				"--socket-mode",
				mode,
				"--socket-gid",
				group,
				"--allow-root",
				"--client",
				w->ident->id,
				NULL,
				NULL,
				NULL,
				NULL,
				NULL,
				NULL,
				NULL,
				NULL};
		size_t n = sizeof(argv) / sizeof(*argv) - 8;
		if (l->cfg->key_file) { /* its guest's tcp://, or a move to another host */
			argv[n++] = "--key";
			argv[n++] = (char *)l->cfg->key_file;
		}
		if (w->key[0]) { /* the worker's tcp:// socket takes this guest only */
			argv[n++] = "--peer-key";
			argv[n++] = w->key;
		}
		if (w->restore) {
			argv[n++] = "--restore";
			argv[n++] = (char *)w->restore;
			if (w->restore_consume)
				argv[n++] = "--consume-image";
		}
		dup2(fds[1], 3);
		dup2(ipc[1], 8); /* CUDA IPC: see listener_ipc */
		dup2(ctl[1], 9); /* checkpoints: see listener_checkpoint */
		for (int fd = 10; fd < 1024; fd++)
			close(fd);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(fds[1]);
	close(ipc[1]);
	close(ctl[1]);
	if (pid < 0) {
		close(fds[0]);
		close(ipc[0]);
		close(ctl[0]);
		return -1;
	}
	w->pipe_fd = fds[0];
	w->ipc_fd = ipc[0];
	w->ctl_fd = ctl[0];
	w->arena_fd = -1;
	return pid;
}

/* Logs a refused handshake, at most once a second: a flood of them must not
 * flood the log too. */
static void listener_refused(struct listener *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void listener_refused(struct listener *l, const char *fmt, ...)
{
	uint64_t now = vcuda_now_ns();
	char msg[512];
	va_list ap;

	if (now - l->refused_log_ns < 1000000000ull) {
		l->refused_quiet++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (l->refused_quiet)
		VWARN(server, "refused handshake: %s (and %u more refusals in the last second)",
		      msg, l->refused_quiet);
	else
		VWARN(server, "refused handshake: %s", msg);
	l->refused_log_ns = now;
	l->refused_quiet = 0;
}

/* Whether a new session from addr may start: the number of sessions, and
 * of handshakes whose guest has not attached yet, from addr and in all, are
 * bounded. 0, or a status with why. */
static int listener_admit(struct listener *l, const char *addr, char *why, size_t why_len)
{
	const struct vcudad_limits *lim = &l->cfg->limits;
	uint32_t pending = 0, from_addr = 0;
	uint32_t allowed =
	    *addr ? lim->pending_per_peer : lim->pending_per_peer * LISTENER_LOCAL_PENDING_FACTOR;

	for (int i = 0; i < l->nworkers; i++) {
		if (l->workers[i]->pipe_fd < 0)
			continue;
		pending++;
		from_addr += strcmp(l->workers[i]->addr, addr) == 0;
	}
	if ((uint32_t)l->nworkers >= lim->sessions) {
		snprintf(why, why_len, "the server holds its limit of %u sessions", lim->sessions);
		return VCUDA_E_FULL;
	}
	if (from_addr >= allowed || pending >= lim->sessions / 2 + allowed) {
		snprintf(why, why_len, "%u handshakes from %s are still in progress", from_addr,
			 *addr ? addr : "local sockets");
		return VCUDA_E_BUSY;
	}
	return 0;
}

/* The client the hello comes from, with a session counted for it; refused
 * (E_BUSY) when it holds its max-sessions already. */
static int listener_client(struct listener *l, int sock, struct vcudad_ident **out, char *why,
			   size_t why_len)
{
	struct vcudad_ident *id;

	if (l->draining) {
		snprintf(why, why_len, "the server is draining: it takes no new sessions");
		return VCUDA_E_FULL;
	}
	id = vcudad_ident_get(&l->idents, l->hello_key[0] ? l->hello_key : NULL, l->hello_peer,
			      listener_local(l->cfg->listen[sock]));
	if (!id) {
		snprintf(why, why_len, "out of memory");
		return VCUDA_E_NOMEM;
	}
	if (!id->sessions)
		snprintf(id->transport, sizeof(id->transport), "%.3s", l->cfg->listen[sock]);
	id->sessions++;
	*out = id;
	/* Busy, not full: guests retry within their connect timeout, and a
	 * session that is ending frees its place within milliseconds. */
	return vcudad_ident_over(&l->idents, id, why, why_len) ? VCUDA_E_BUSY : 0;
}

/* Undoes listener_client for a session that did not start. */
static void listener_client_drop(struct listener *l, struct vcudad_ident *id)
{
	if (id->sessions > 1) {
		id->sessions--;
		return;
	}
	/* Its only session: no slot of its budget was used. */
	vcudad_ident_put(&l->idents, id, 0);
}

/* The checkpoint a resuming guest asks for by its session token: only its
 * own client's, and each once. NULL (why written) when there is none. */
static const char *listener_restore_find(struct listener *l, const Vcuda__Hello *h,
					 const struct vcudad_ident *ident, int *consume, char *why,
					 size_t len)
{
	for (int i = 0; i < l->nrestores; i++) {
		if (h->resume.len != SESSION_TOKEN_LEN ||
		    memcmp(h->resume.data, l->restores[i].token, SESSION_TOKEN_LEN) != 0)
			continue;
		if (l->restores[i].taken) {
			snprintf(why, len, "its session was resumed already");
			return NULL;
		}
		if (strcmp(l->restores[i].client, ident->id) != 0) {
			snprintf(why, len, "the session it asks for is another client's");
			return NULL;
		}
		l->restores[i].taken = 1;
		VINFO(server, "a guest of client '%s' resumes its session from %s", ident->id,
		      l->restores[i].path);
		*consume = l->restores[i].adopted;
		return l->restores[i].path;
	}
	snprintf(why, len, "no checkpoint of the session it asks for is here (--restore)");
	return NULL;
}

/* Reads the header of each --restore file. */
static int listener_restores(struct listener *l)
{
	char why[512];

	for (int i = 0; i < l->cfg->nrestore; i++) {
		if (session_image_peek(l->cfg->restore[i], l->restores[i].token,
				       l->restores[i].client, sizeof(l->restores[i].client), why,
				       sizeof(why)) != 0) {
			VERR(server, "--restore: %s", why);
			return -1;
		}
		l->restores[i].path = l->cfg->restore[i];
		VINFO(server, "checkpoint %s of client '%s' waits for its guest",
		      l->restores[i].path, l->restores[i].client);
	}
	l->nrestores = l->cfg->nrestore;
	return 0;
}

/* vcuda-smi --checkpoint and --migrate: the worker writes its session to
 * rq->path (and, migrating, hands it to the server at rq->url), between
 * two of its guest's messages; the listener waits for its answer. */
static int listener_ask_worker(struct listener *l, const Vcuda__AdminRequest *rq,
			       Vcuda__AdminStatus *st)
{
	static char cmd[4800];
	int migrate = strcmp(rq->op, "migrate") == 0;
	unsigned wait_ms = rq->wait_ms ? rq->wait_ms : 30000;
	struct worker *w = NULL;

	for (int i = 0; i < l->nworkers; i++)
		if (l->workers[i]->pid == (pid_t)rq->session)
			w = l->workers[i];
	if (!w || w->ctl_fd < 0) {
		st->message = "no session has that worker pid (vcuda-smi lists them)";
		return VCUDA_E_INVAL;
	}
	if (!rq->path || rq->path[0] != '/' || strlen(rq->path) > 4000) {
		st->message = "the image's path must be absolute";
		return VCUDA_E_INVAL;
	}
	if (migrate &&
	    (!rq->url ||
	     (strncmp(rq->url, "ipc://", 6) != 0 && strncmp(rq->url, "tcp://", 6) != 0) ||
	     strlen(rq->url) > 500)) {
		st->message = "a session moves to an ipc:// or tcp:// server URL";
		return VCUDA_E_INVAL;
	}
	if (migrate && strncmp(rq->url, "tcp://", 6) == 0 &&
	    (!rq->key || strlen(rq->key) != 40 || strchr(rq->key, '\n'))) {
		st->message = "a session moves to a tcp:// server given its public key";
		return VCUDA_E_INVAL;
	}
	if (migrate && strncmp(rq->url, "tcp://", 6) == 0 && !l->cfg->key_file) {
		st->message = "this server has no key (--key) to show a server on another host";
		return VCUDA_E_INVAL;
	}
	if (wait_ms > LISTENER_CHECKPOINT_TIMEOUT_MS / 2)
		wait_ms = LISTENER_CHECKPOINT_TIMEOUT_MS / 2;
	if (migrate)
		snprintf(cmd, sizeof(cmd), "M\n%u\n%s\n%s\n%s", wait_ms, rq->url, rq->path,
			 rq->key && strncmp(rq->url, "tcp://", 6) == 0 ? rq->key : "");
	else
		snprintf(cmd, sizeof(cmd), "C\n%s", rq->path);
	if (send(w->ctl_fd, cmd, strlen(cmd), MSG_NOSIGNAL) < 0) {
		st->message = "the session's worker is gone";
		return VCUDA_E_PEER_LOST;
	}
	/* answered when the worker is done (listener_written), while the
	 * listener goes on serving handshakes */
	l->writing = w;
	l->writing_until = vcuda_now_ns() + LISTENER_CHECKPOINT_TIMEOUT_MS * 1000000ull;
	return VCUDAD_ADMIN_LATER;
}

static int listener_status(void *arg, const Vcuda__AdminRequest *rq, Vcuda__AdminStatus *st);

/*
 * A worker's answer to a checkpoint or a move, into st: "0 IMAGE_BYTES
 * STOP_NS", and for a move "FINAL_BYTES ROUNDS" and each pre-copy round's
 * "BYTES:NS:DIRTY", then a line saying how pre-copy went. The rounds' figures
 * point into static storage (one answer at a time).
 */
static void listener_move_report(char *answer, Vcuda__AdminStatus *st)
{
	static uint64_t round[3][64];
	unsigned long long bytes = 0, stop_ns = 0, final = 0, b, ns, dirty;
	unsigned rounds = 0;
	char *note = strchr(answer, '\n'), *at;
	int n = 0;

	if (note)
		*note++ = 0;
	sscanf(answer, "0 %llu %llu %llu %u%n", &bytes, &stop_ns, &final, &rounds, &n);
	st->image_bytes = bytes;
	st->stop_ns = stop_ns;
	st->final_bytes = final;
	st->precopy = note && *note ? note : NULL;
	st->round_bytes = round[0];
	st->round_ns = round[1];
	st->round_dirty = round[2];
	at = n > 0 ? answer + n : NULL;
	for (unsigned r = 0; at && r < rounds && r < 64; r++) {
		if (sscanf(at, " %llu:%llu:%llu%n", &b, &ns, &dirty, &n) != 3)
			break;
		round[0][r] = b;
		round[1][r] = ns;
		round[2][r] = dirty;
		st->n_round_bytes = st->n_round_ns = st->n_round_dirty = r + 1;
		at += n;
	}
}

/* The admin request a writing worker answered (or failed to: its answer
 * is read here, or it ended, or it took too long). */
static void listener_written(struct listener *l, int ended)
{
	Vcuda__AdminRequest q = VCUDA__ADMIN_REQUEST__INIT;
	Vcuda__AdminStatus st = VCUDA__ADMIN_STATUS__INIT;
	unsigned long long bytes = 0;
	struct worker *w = l->writing;
	ssize_t n = -1;

	l->writing = NULL;
	q.op = "status";
	if (!ended)
		n = recv(w->ctl_fd, l->answer, sizeof(l->answer) - 1, MSG_DONTWAIT);
	if (n <= 0) {
		st.status = ended ? VCUDA_E_PEER_LOST : VCUDA_E_TIMEOUT;
		st.message =
		    ended ? "the session's worker ended" : "the session's worker did not answer";
	} else if ((l->answer[n] = 0, l->answer[0] != '0')) {
		st.status = VCUDA_E_BACKEND;
		st.message = n > 3 ? l->answer + 3 : "it failed";
	} else if ((st.status = listener_status(l, &q, &st)) == 0) {
		listener_move_report(l->answer, &st);
		bytes = st.image_bytes;
		VINFO(server, "worker %d (%s) answered: image of %llu bytes", (int)w->pid, w->peer,
		      bytes);
	}
	vcudad_admin_answer(&l->admin, &st);
}

/* A moved session whose guest did not come within LISTENER_ADOPTED_S (it
 * reconnects at once, or went back to its old server): its image and
 * memory file are removed, and its place is free again. */
#define LISTENER_ADOPTED_S 120
static void listener_adopted_expire(struct listener *l)
{
	uint64_t now = vcuda_now_ns();
	char mem[4200];

	for (int i = 0; i < l->nrestores; i++) {
		if (!l->restores[i].adopted || l->restores[i].taken ||
		    now - l->restores[i].adopted_ns < LISTENER_ADOPTED_S * 1000000000ull)
			continue;
		VWARN(server,
		      "a session of client '%s' moved here, but its guest did not come "
		      "within %d s; dropped",
		      l->restores[i].client, LISTENER_ADOPTED_S);
		snprintf(mem, sizeof(mem), "%s.mem", l->restores[i].path);
		unlink(l->restores[i].path);
		unlink(mem);
		l->restores[i].taken = 1;
	}
}

/* Another server's worker hands over a moved session's image (its own
 * file, which the worker here removes once it has restored it). */
static int listener_adopt(struct listener *l, const Vcuda__AdminRequest *rq, Vcuda__AdminStatus *st)
{
	static char why[600];
	int i;

	for (i = 0; i < l->nrestores && !l->restores[i].taken; i++)
		;
	if (i == l->nrestores && l->nrestores == VCUDAD_MAX_RESTORE) {
		st->message = "this server holds as many sessions to resume as it can";
		return VCUDA_E_FULL;
	}
	if (!rq->path || rq->path[0] != '/' ||
	    strlen(rq->path) >= sizeof(l->restores[i].own_path)) {
		st->message = "the image's path must be absolute";
		return VCUDA_E_INVAL;
	}
	if (session_image_peek(rq->path, l->restores[i].token, l->restores[i].client,
			       sizeof(l->restores[i].client), why, sizeof(why)) != 0) {
		st->message = why;
		return VCUDA_E_INVAL;
	}
	snprintf(l->restores[i].own_path, sizeof(l->restores[i].own_path), "%s", rq->path);
	l->restores[i].path = l->restores[i].own_path;
	l->restores[i].taken = 0;
	l->restores[i].adopted = 1;
	l->restores[i].adopted_ns = vcuda_now_ns();
	if (i == l->nrestores)
		l->nrestores++;
	VINFO(server, "a session of client '%s' moves here; it waits for its guest",
	      l->restores[i].client);
	return 0;
}

static void listener_hello(struct listener *l, int sock, zmq_msg_t *route, const uint8_t *data,
			   size_t len, const char *addr)
{
	Vcuda__Hello *h = vcuda__hello__unpack(NULL, len, data);
	struct vcudad_ident *ident = NULL;
	char why[256], host[64], program[64], name[2 * 16 + 1];
	uint8_t rnd[16];
	struct worker *w;
	int rc;

	if (!h) {
		listener_refused(l, "malformed hello from %s", *addr ? addr : "a local socket");
		listener_send_hello_reply(l, sock, route, VCUDA_E_PROTO, "malformed hello", NULL,
					  NULL, 0);
		return;
	}
	if (h->protocol_version != VCUDA_PROTOCOL_VERSION) {
		snprintf(why, sizeof(why),
			 "the guest speaks vcuda protocol %u and this server %d; "
			 "upgrade the %s side",
			 h->protocol_version, VCUDA_PROTOCOL_VERSION,
			 h->protocol_version < VCUDA_PROTOCOL_VERSION ? "guest's (vcuda shim)"
								      : "server");
		listener_refused(l, "pid %u on %s: %s", h->pid,
				 vcuda_printable(host, sizeof(host), h->hostname), why);
		listener_send_hello_reply(l, sock, route, VCUDA_E_VERSION, why, NULL, NULL, 0);
		goto out_free;
	}
	if ((rc = listener_admit(l, addr, why, sizeof(why))) != 0 ||
	    (rc = listener_client(l, sock, &ident, why, sizeof(why))) != 0 ||
	    (rc = VCUDA_E_NOMEM, !(w = calloc(1, sizeof(*w))))) {
		listener_refused(l, "pid %u on %s: %s", h->pid,
				 vcuda_printable(host, sizeof(host), h->hostname),
				 rc == VCUDA_E_NOMEM ? "out of memory" : why);
		listener_send_hello_reply(l, sock, route, rc, rc == VCUDA_E_NOMEM ? "" : why, NULL,
					  NULL, 0);
		if (ident)
			listener_client_drop(l, ident);
		goto out_free;
	}
	w->ident = ident;
	if (h->resume.len && !(w->restore = listener_restore_find(l, h, ident, &w->restore_consume,
								  why, sizeof(why)))) {
		listener_refused(l, "pid %u on %s: %s", h->pid,
				 vcuda_printable(host, sizeof(host), h->hostname), why);
		listener_send_hello_reply(l, sock, route, VCUDA_E_INVAL, why, NULL, NULL, 0);
		listener_client_drop(l, ident);
		free(w);
		goto out_free;
	}
	/* What the guest names itself is only for logs, and made printable. */
	snprintf(w->peer, sizeof(w->peer), "pid %u on %s (%s)", h->pid,
		 vcuda_printable(host, sizeof(host), h->hostname),
		 vcuda_printable(program, sizeof(program), h->program));
	snprintf(w->addr, sizeof(w->addr), "%s", addr);
	snprintf(w->key, sizeof(w->key), "%s", l->hello_key);
	w->sock = sock;
	w->started_ns = vcuda_now_ns();
	zmq_msg_init(&w->route);
	zmq_msg_copy(&w->route, route);
	/* A worker socket's name is the capability to reach it. */
	if (vcuda_random(rnd, sizeof(rnd)) != 0) {
		zmq_msg_close(&w->route);
		free(w);
		goto out_free;
	}
	vcuda_hex(rnd, sizeof(rnd), name);
	for (w->slot = 0; l->slot_used[w->slot]; w->slot++)
		; /* a free one exists: nworkers < sessions */
	l->slot_used[w->slot] = 1;
	vcuda_url_worker(l->cfg->listen[sock], l->dirs[sock], name, w->bind_url,
			 sizeof(w->bind_url));
	/* shm://: only the user who shook hands may take the segment. */
	if (strncmp(w->bind_url, "shm://", 6) == 0 && ident->has_uid) {
		size_t n = strlen(w->bind_url);
		snprintf(w->bind_url + n, sizeof(w->bind_url) - n, "?uid=%u", (unsigned)ident->uid);
	}
	vcuda_sched_open(l->idents.sched, (uint32_t)w->slot, ident->sched_client);
	if ((w->pid = listener_spawn(l, w)) < 0) {
		vcuda_sched_close(l->idents.sched, (uint32_t)w->slot);
		VERR(server, "cannot start a worker for %s: %s", w->peer, strerror(errno));
		listener_send_hello_reply(l, sock, route, VCUDA_E_SYSTEM,
					  "the server could not start a session", NULL, NULL, 0);
		l->slot_used[w->slot] = 0;
		vcudad_ident_put(&l->idents, ident, (uint32_t)w->slot);
		zmq_msg_close(&w->route);
		free(w);
		goto out_free;
	}
	VINFO(server, "client %s connected via %s (CUDA %u) as client '%s'; worker pid %d", w->peer,
	      l->cfg->listen[sock], h->cuda_version, ident->id, (int)w->pid);
	l->workers[l->nworkers++] = w;
out_free:
	vcuda__hello__free_unpacked(h, NULL);
}

/* The memory each guest's device has: the CPU device's size the budget
 * gave it, or the GPU's. */
static uint64_t listener_device_memory(struct listener *l)
{
	uint64_t m = 0;
	size_t dm = 0;

	if (l->budget && getenv("VCUDA_CPU_MEMORY") &&
	    vcuda_parse_size(getenv("VCUDA_CPU_MEMORY"), &m) == 0)
		return m;
	l->be->cuDeviceTotalMem(&dm, 0);
	return dm;
}

/* A message of a session moving in from another host (movein.h): body is
 * its first frame; its data frame, if any, is read here. Answered with an
 * AdminStatus. */
static void listener_movein(struct listener *l, int sock, zmq_msg_t *route, zmq_msg_t *body,
			    const char *key)
{
	Vcuda__AdminStatus st = VCUDA__ADMIN_STATUS__INIT;
	Vcuda__MoveChunk *c = NULL;
	zmq_msg_t data;
	char path[700];
	uint8_t *out;
	size_t n;

	zmq_msg_init(&data);
	if (zmq_msg_more(body) &&
	    (zmq_msg_recv(&data, l->socks[sock], ZMQ_DONTWAIT) < 0 || zmq_msg_more(&data) ||
	     zmq_msg_size(&data) > VCUDA_MAX_PAYLOAD)) {
		st.status = VCUDA_E_PROTO;
		st.message = "a malformed move message";
		/* the rest of this message (and only of this one) goes */
		while (zmq_msg_more(&data) &&
		       zmq_msg_recv(&data, l->socks[sock], ZMQ_DONTWAIT) >= 0)
			;
	} else if (!l->curve || !key || !*key) {
		st.status = VCUDA_E_AUTH;
		st.message = "sessions move here only over tcp:// with keys";
	} else {
		uint8_t k[32];
		zmq_z85_decode(k, key);
		if (!vcuda_keyset_has(&l->peers, k)) {
			st.status = VCUDA_E_AUTH;
			st.message =
			    "the moving server's key is not one of this server's --peer-keys";
		} else if (!(c = vcuda__move_chunk__unpack(NULL, zmq_msg_size(body) - 4,
							   (uint8_t *)zmq_msg_data(body) + 4))) {
			st.status = VCUDA_E_PROTO;
			st.message = "a malformed move message";
		} else if (vcudad_movein_handle(&l->movein, key, c, zmq_msg_data(&data),
						zmq_msg_size(&data), listener_device_memory(l), &st,
						path, sizeof(path)) == 1) {
			Vcuda__AdminRequest q = VCUDA__ADMIN_REQUEST__INIT;
			q.op = "status";
			st.status = listener_status(l, &q, &st);
		} else if (path[0]) {
			Vcuda__AdminRequest q = VCUDA__ADMIN_REQUEST__INIT;
			q.op = "adopt";
			q.path = path;
			if ((st.status = listener_adopt(l, &q, &st)) != 0) {
				char mem[720];
				snprintf(mem, sizeof(mem), "%s.mem", path);
				unlink(path);
				unlink(mem);
			}
		}
	}
	if (st.status && st.message)
		listener_refused(l, "a session moving in from key %.40s: %s", key ? key : "(none)",
				 st.message);
	n = vcuda__admin_status__get_packed_size(&st);
	if ((out = malloc(n ? n : 1)) != NULL) {
		vcuda__admin_status__pack(&st, out);
		if (zmq_msg_send(route, l->socks[sock], ZMQ_SNDMORE) < 0 ||
		    zmq_send(l->socks[sock], out, n, 0) < 0)
			VWARN(server, "could not answer a moving server: %s", zmq_strerror(errno));
		free(out);
	}
	if (c)
		vcuda__move_chunk__free_unpacked(c, NULL);
	zmq_msg_close(&data);
}

static void listener_recv(struct listener *l, int sock)
{
	zmq_msg_t route, body;

	zmq_msg_init(&route);
	zmq_msg_init(&body);
	if (zmq_msg_recv(&route, l->socks[sock], ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&route) &&
	    zmq_msg_recv(&body, l->socks[sock], ZMQ_DONTWAIT) >= 0) {
		const char *a = zmq_msg_gets(&body, "Peer-Address");
		const char *key = l->curve ? zmq_msg_gets(&body, "User-Id") : NULL;
		char addr[64];
		vcuda_printable(addr, sizeof(addr), a ? a : "");
		snprintf(l->hello_peer, sizeof(l->hello_peer), "%s", a ? a : "");
		snprintf(l->hello_key, sizeof(l->hello_key), "%s",
			 key && strlen(key) == 40 ? key : "");
		if (vcudad_movein_is(zmq_msg_data(&body), zmq_msg_size(&body))) {
			/* it reads the rest of its message itself: what follows
			 * may be the next message already */
			listener_movein(l, sock, &route, &body, key);
			zmq_msg_close(&route);
			zmq_msg_close(&body);
			return;
		} else if (zmq_msg_more(&body) || zmq_msg_size(&body) > LISTENER_MAX_HELLO)
			listener_refused(l, "oversized or multi-part hello from %s",
					 *addr ? addr : "a local socket");
		else
			listener_hello(l, sock, &route, zmq_msg_data(&body), zmq_msg_size(&body),
				       addr);
	}
	/* Drop whatever else the message had. */
	while (zmq_msg_more(&body) && zmq_msg_recv(&body, l->socks[sock], ZMQ_DONTWAIT) >= 0)
		;
	zmq_msg_close(&route);
	zmq_msg_close(&body);
}

/* A starting worker's pipe: "ENDPOINT TOKENHEX\n" once it listens, then
 * EOF when its guest has attached (or it failed). */
static void listener_worker_report(struct listener *l, struct worker *w)
{
	uint8_t token[64];
	char *space, *nl;
	size_t tlen;
	ssize_t n;

	if (w->reported) { /* the rest is the end of the handshake */
		char b[64];
		if (read(w->pipe_fd, b, sizeof(b)) <= 0) {
			close(w->pipe_fd);
			w->pipe_fd = -1;
		}
		return;
	}
	n = read(w->pipe_fd, w->buf + w->buf_len, sizeof(w->buf) - 1 - w->buf_len);
	if (n > 0) {
		w->buf_len += (size_t)n;
		w->buf[w->buf_len] = '\0';
		if (!strchr(w->buf, '\n') && w->buf_len < sizeof(w->buf) - 1)
			return;
	}
	w->reported = 1;
	if (n <= 0) {
		close(w->pipe_fd);
		w->pipe_fd = -1;
	}
	space = strchr(w->buf, ' ');
	nl = strchr(w->buf, '\n');
	tlen = space && nl ? (size_t)(nl - space - 1) / 2 : 0;
	if (!space || !nl || tlen == 0 || tlen > sizeof(token)) {
		VERR(server, "worker %d for %s failed to start", (int)w->pid, w->peer);
		listener_send_hello_reply(
		    l, w->sock, &w->route, VCUDA_E_BACKEND,
		    "the server's session worker failed to start (see the server log)", NULL, NULL,
		    0);
		goto out_route;
	}
	*space = *nl = '\0';
	for (size_t i = 0; i < tlen; i++)
		sscanf(space + 1 + 2 * i, "%2hhx", &token[i]);
	listener_send_hello_reply(l, w->sock, &w->route, 0, NULL, w->buf, token, tlen);
out_route:
	zmq_msg_close(&w->route);
}

/*
 * CUDA IPC between two sessions of one client (server/ipc.c): a worker
 * exports the CPU device's memory file once ('E' with the file), and asks
 * for another worker's ('O' and that worker's pid); the answer is 'Y' with
 * the file, or 'N' when there is no such worker of the same client (a
 * handle from another client names no worker the asker may reach). 'C'
 * and a pid asks only whether that worker serves the same client (events).
 */
static void listener_ipc(struct listener *l, struct worker *w)
{
	char req[8], ctl[CMSG_SPACE(sizeof(int))];
	struct iovec io = {req, sizeof(req)};
	struct msghdr mh = {
	    .msg_iov = &io, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)};
	struct cmsghdr *c;
	int32_t pid = 0;
	ssize_t n = recvmsg(w->ipc_fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	int got = -1;

	if (n <= 0) { /* the worker is gone: its exit is reaped elsewhere */
		close(w->ipc_fd);
		w->ipc_fd = -1;
		return;
	}
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(&got, CMSG_DATA(c), sizeof(got));
	if (req[0] == 'E' && n == 1 && got >= 0 && w->arena_fd < 0) {
		w->arena_fd = got;
		return;
	}
	if (got >= 0)
		close(got);
	if ((req[0] == 'O' || req[0] == 'C') && n == 1 + (ssize_t)sizeof(pid)) {
		char yes = 'Y', no = 'N';
		const struct worker *to = NULL;
		memcpy(&pid, req + 1, sizeof(pid));
		for (int i = 0; i < l->nworkers && !to; i++)
			if (l->workers[i]->pid == pid && l->workers[i] != w)
				to = l->workers[i];
		if (to && to->ident == w->ident && req[0] == 'C') { /* the check alone */
			if (send(w->ipc_fd, &yes, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
				return;
		} else if (to && to->ident == w->ident && to->arena_fd >= 0) {
			char c2[CMSG_SPACE(sizeof(int))] = {0};
			struct iovec o = {&yes, 1};
			struct msghdr om = {.msg_iov = &o,
					    .msg_iovlen = 1,
					    .msg_control = c2,
					    .msg_controllen = sizeof(c2)};
			struct cmsghdr *oc = CMSG_FIRSTHDR(&om);
			oc->cmsg_level = SOL_SOCKET;
			oc->cmsg_type = SCM_RIGHTS;
			oc->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(oc), &to->arena_fd, sizeof(int));
			if (sendmsg(w->ipc_fd, &om, MSG_NOSIGNAL) == 1)
				return;
		}
		if (to && to->ident != w->ident)
			VWARN(server, "refused CUDA IPC from %s: the memory is another client's",
			      w->peer);
		if (send(w->ipc_fd, &no, 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1)
			VDEBUG(server, "worker %d gone before its IPC answer", (int)w->pid);
	}
}

static void listener_reap(struct listener *l)
{
	char path[512];
	struct rusage ru;
	int status;
	pid_t pid;

	listener_child = 0;
	while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0) {
		long peak_mib = ru.ru_maxrss / 1024; /* KiB on Linux */
		for (int i = 0; i < l->nworkers; i++) {
			struct worker *w = l->workers[i];
			if (w->pid != pid)
				continue;
			if (WIFSIGNALED(status) && listener_stop && WTERMSIG(status) == SIGTERM)
				VINFO(server, "worker %d for %s stopped", (int)pid, w->peer);
			else if (WIFSIGNALED(status))
				VWARN(server, "worker %d for %s killed by signal %d", (int)pid,
				      w->peer, WTERMSIG(status));
			else
				VINFO(server,
				      "worker %d for %s exited (status %d, peak memory %ld MiB)",
				      (int)pid, w->peer, WEXITSTATUS(status), peak_mib);
			if (listener_worker_path(w, path, sizeof(path)) == 0)
				unlink(path);
			if (w->pipe_fd >= 0) {
				listener_worker_report(l, w);
			}
			if (l->budget) {
				uint64_t held = vcuda_budget_reclaim(l->budget, (uint32_t)w->slot);
				if (held)
					VDEBUG(server, "took back %llu bytes that worker %d held",
					       (unsigned long long)held, (int)pid);
			}
			l->slot_used[w->slot] = 0;
			vcuda_sched_close(l->idents.sched, (uint32_t)w->slot);
			vcudad_ident_put(&l->idents, w->ident, (uint32_t)w->slot);
			if (w->ipc_fd >= 0)
				close(w->ipc_fd);
			if (w == l->writing) /* its answer will not come */
				listener_written(l, 1);
			if (w->ctl_fd >= 0)
				close(w->ctl_fd);
			if (w->arena_fd >= 0)
				close(w->arena_fd);
			free(w);
			l->workers[i] = l->workers[--l->nworkers];
			break;
		}
	}
}

/* Removes a directory of worker sockets and the sockets in it. Only
 * sockets are removed, and the directory only if nothing else is in it:
 * a directory of the same name that is not vcudad's keeps its files. */
static void listener_remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[1024];

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (vcuda_socket_is(path))
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* An ipc:// endpoint: refuses to take the socket of a live server, removes
 * a stale one and its worker directory, and makes the private directory
 * the workers' sockets go in. Only the daemon may list it; where the
 * socket's mode lets others connect, they may pass through it to a socket
 * whose unguessable name the listener told them. */
static int listener_prepare_ipc(struct listener *l, int i)
{
	const char *path = l->cfg->listen[i] + 6;
	mode_t m = l->cfg->socket_mode;
	mode_t dmode = 0700 | ((m & 0060) ? 0010 : 0) | ((m & 0006) ? 0001 : 0);

	if (vcuda_socket_claim(path, "listen") != 0)
		return VCUDA_E_TRANSPORT;
	if (snprintf(l->dirs[i], sizeof(l->dirs[i]), "%s.w", path) >= (int)sizeof(l->dirs[i]))
		return VCUDA_E_URL;
	listener_remove_dir(l->dirs[i]);
	if (mkdir(l->dirs[i], 0700) != 0 || chmod(l->dirs[i], dmode) != 0 ||
	    (l->cfg->socket_gid >= 0 && chown(l->dirs[i], (uid_t)-1, (gid_t)l->cfg->socket_gid))) {
		VERR(server, "cannot make the worker directory %s: %s", l->dirs[i],
		     strerror(errno));
		return VCUDA_E_SYSTEM;
	}
	return 0;
}

/* Makes listen socket i a CURVE server, watched for failed handshakes. */
static int listener_secure(struct listener *l, int i)
{
	char mon[64];

	snprintf(mon, sizeof(mon), "inproc://vcudad-listen-%d", i);
	if (vcuda_curve_apply(l->socks[i], &l->keys, 1) != 0 ||
	    zmq_socket_monitor(l->socks[i], mon,
			       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
				   ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0 ||
	    !(l->mons[i] = zmq_socket(vcuda_zmq_context(), ZMQ_PAIR)) ||
	    zmq_connect(l->mons[i], mon) != 0)
		return -1;
	return 0;
}

static int listener_bind(struct listener *l)
{
	void *ctx = vcuda_zmq_context();
	int linger = 0;
	int64_t maxmsg = LISTENER_MAX_HELLO;

	for (int i = 0; i < l->cfg->nlisten; i++) {
		const char *url = l->cfg->listen[i];
		int ipc = listener_local(url);
		char hs[520];
		l->socks[i] = ctx ? zmq_socket(ctx, ZMQ_ROUTER) : NULL;
		if (!l->socks[i])
			return VCUDA_E_TRANSPORT;
		zmq_setsockopt(l->socks[i], ZMQ_LINGER, &linger, sizeof(linger));
		if (l->peers.n && strncmp(url, "tcp://", 6) == 0) {
			/* sessions move in here (--peer-keys): their memory comes
			 * in 4 MiB parts; only keys ZAP let in send anything, and
			 * each connection queues few messages */
			int64_t big = VCUDA_MAX_PAYLOAD + 4096;
			int hwm = 16;
			zmq_setsockopt(l->socks[i], ZMQ_MAXMSGSIZE, &big, sizeof(big));
			zmq_setsockopt(l->socks[i], ZMQ_RCVHWM, &hwm, sizeof(hwm));
		} else {
			zmq_setsockopt(l->socks[i], ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
		}
		if (ipc && listener_prepare_ipc(l, i) != 0)
			return VCUDA_E_TRANSPORT;
		if (l->curve && strncmp(url, "tcp://", 6) == 0 && listener_secure(l, i) != 0) {
			VERR(server, "cannot use keys on %s: %s", url, zmq_strerror(errno));
			return VCUDA_E_TRANSPORT;
		}
		/* An shm:// server shakes hands over the Unix socket at its path. */
		if (vcuda_url_handshake(url, hs, sizeof(hs)) != 0 ||
		    zmq_bind(l->socks[i], hs) != 0) {
			VERR(server, "cannot listen at %s: %s", url, zmq_strerror(errno));
			return VCUDA_E_TRANSPORT;
		}
		if (ipc && vcuda_socket_protect(url + 6, l->cfg->socket_mode, l->cfg->socket_gid)) {
			VERR(server, "cannot set the mode of %s: %s", url + 6, strerror(errno));
			return VCUDA_E_SYSTEM;
		}
		{
			char ep[256];
			size_t len = sizeof(ep);
			if (strncmp(url, "shm://", 6) == 0 ||
			    zmq_getsockopt(l->socks[i], ZMQ_LAST_ENDPOINT, ep, &len) != 0)
				snprintf(ep, sizeof(ep), "%s", url);
			VINFO(server, "listening at %s", ep);
		}
	}
	return 0;
}

/* vcuda-smi: what the server and each client are doing, or drain/resume. */
static int listener_status(void *arg, const Vcuda__AdminRequest *rq, Vcuda__AdminStatus *st)
{
	static char device[256];
	struct listener *l = arg;
	const struct vcudad_idents *t = &l->idents;
	const char *op = rq->op ? rq->op : "";
	size_t total = 0, npids = 0;
	uint64_t used = 0;
	int rc;

	if (strcmp(op, "checkpoint") == 0 || strcmp(op, "migrate") == 0) {
		return listener_ask_worker(l, rq, st); /* an error, or answered later */
	} else if (strcmp(op, "adopt") == 0) {
		if ((rc = listener_adopt(l, rq, st)) != 0)
			return rc;
	} else if (strcmp(op, "drain") == 0 || strcmp(op, "resume") == 0) {
		l->draining = op[0] == 'd';
		VINFO(server, "%s (vcuda-smi)",
		      l->draining ? "draining: no new sessions" : "taking new sessions again");
	} else if (strcmp(op, "status") != 0) {
		st->message = "unknown admin request";
		return VCUDA_E_INVAL;
	}
	free(l->status);
	free(l->status_ptrs);
	free(l->status_pids);
	free(l->status_memory);
	l->status = calloc((size_t)t->n + 1, sizeof(*l->status));
	l->status_ptrs = calloc((size_t)t->n + 1, sizeof(*l->status_ptrs));
	l->status_pids = calloc((size_t)l->nworkers + 1, sizeof(*l->status_pids));
	l->status_memory = calloc((size_t)l->nworkers + 1, sizeof(*l->status_memory));
	if (!l->status || !l->status_ptrs || !l->status_pids || !l->status_memory) {
		st->message = "out of memory";
		return VCUDA_E_NOMEM;
	}
	for (int i = 0; i < t->n; i++) {
		const struct vcudad_ident *id = t->v[i];
		const struct vcuda_sched_client *c = vcuda_sched_client(t->sched, id->sched_client);
		Vcuda__ClientStatus *cs = &l->status[i];
		vcuda__client_status__init(cs);
		cs->name = (char *)id->id;
		cs->transport = (char *)id->transport;
		cs->group = id->group ? (char *)id->group->name : "";
		cs->since_ns = id->since_ns;
		cs->sessions = (uint32_t)id->sessions;
		cs->memory_used = __atomic_load_n(&id->budget->used, __ATOMIC_RELAXED);
		cs->memory_quota = id->conf->memory;
		cs->kernels = __atomic_load_n(&c->kernels, __ATOMIC_RELAXED);
		cs->kernel_ns = __atomic_load_n(&c->kernel_ns, __ATOMIC_RELAXED);
		cs->share = id->conf->share ? id->conf->share : 1;
		cs->bytes_in = __atomic_load_n(&c->bytes_in, __ATOMIC_RELAXED);
		cs->bytes_out = __atomic_load_n(&c->bytes_out, __ATOMIC_RELAXED);
		cs->session_pids = l->status_pids + npids;
		cs->session_memory = l->status_memory + npids;
		for (int k = 0; k < l->nworkers; k++) {
			const struct worker *w = l->workers[k];
			if (w->ident != id)
				continue;
			cs->session_memory[cs->n_session_pids] =
			    (uint32_t)w->slot < id->budget->nslots
				? __atomic_load_n(&id->budget->slot[w->slot], __ATOMIC_RELAXED)
				: 0;
			cs->session_pids[cs->n_session_pids++] = (uint32_t)w->pid;
		}
		cs->n_session_memory = cs->n_session_pids;
		npids += cs->n_session_pids;
		used += cs->memory_used;
		st->sessions += cs->sessions;
		l->status_ptrs[i] = cs;
	}
	st->n_clients = (size_t)t->n;
	st->clients = l->status_ptrs;
	st->version = VCUDA_VERSION_STRING;
	st->backend = (char *)l->backend_kind;
	if (!device[0] && l->be->cuDeviceGetName(device, sizeof(device), 0) != CUDA_SUCCESS)
		snprintf(device, sizeof(device), "?");
	st->device = device;
	if (l->budget) /* the CPU device: what the server gave all guests */
		total = l->budget->limit;
	else
		l->be->cuDeviceTotalMem(&total, 0);
	st->memory_total = total;
	st->memory_used = used;
	st->device_memory = listener_device_memory(l);
	st->draining = l->draining;
	st->now_ns = vcuda_realtime_ns();
	return 0;
}

/* A tcp:// connection that failed its CURVE handshake before ZAP saw a key:
 * a guest without keys, or one speaking another mechanism. */
static void listener_handshake_failed(struct listener *l, int i)
{
	uint8_t ev[6];
	char endpoint[256];

	if (zmq_recv(l->mons[i], ev, sizeof(ev), ZMQ_DONTWAIT) != (int)sizeof(ev))
		return;
	zmq_recv(l->mons[i], endpoint, sizeof(endpoint), 0);
	listener_refused(l,
			 "a guest without keys at %s (it needs VCUDA_KEY and "
			 "VCUDA_SERVER_KEY)",
			 l->cfg->listen[i]);
}

static void listener_poll(struct listener *l)
{
	static zmq_pollitem_t items[2 * VCUDAD_MAX_LISTEN + 1 + 2 * LISTENER_MAX_WORKERS];
	static struct worker *starting[LISTENER_MAX_WORKERS], *asking[LISTENER_MAX_WORKERS];
	int n = 0, ns = 0, na = 0, nmon = 0, mon_of[VCUDAD_MAX_LISTEN];

	for (int i = 0; i < l->cfg->nlisten; i++)
		items[n++] = (zmq_pollitem_t){l->socks[i], 0, ZMQ_POLLIN, 0};
	for (int i = 0; i < l->cfg->nlisten; i++)
		if (l->mons[i]) {
			mon_of[nmon++] = i;
			items[n++] = (zmq_pollitem_t){l->mons[i], 0, ZMQ_POLLIN, 0};
		}
	int admin = l->admin.sock && !l->admin.waiting, writing;
	if (admin) /* last of the sockets, before the pipes */
		items[n++] = (zmq_pollitem_t){l->admin.sock, 0, ZMQ_POLLIN, 0};
	for (int i = 0; i < l->nworkers; i++) {
		if (l->workers[i]->pipe_fd < 0)
			continue;
		starting[ns++] = l->workers[i];
		items[n++] = (zmq_pollitem_t){NULL, l->workers[i]->pipe_fd, ZMQ_POLLIN, 0};
	}
	for (int i = 0; i < l->nworkers; i++) { /* after the pipes */
		if (l->workers[i]->ipc_fd < 0)
			continue;
		asking[na++] = l->workers[i];
		items[n++] = (zmq_pollitem_t){NULL, l->workers[i]->ipc_fd, ZMQ_POLLIN, 0};
	}
	writing = n;
	if (l->writing) /* last: the worker an admin request waits for */
		items[n++] = (zmq_pollitem_t){NULL, l->writing->ctl_fd, ZMQ_POLLIN, 0};
	if (l->writing && vcuda_now_ns() > l->writing_until)
		listener_written(l, 0);
	vcudad_movein_expire(&l->movein);
	listener_adopted_expire(l);
	if (zmq_poll(items, n, 500) <= 0)
		return;
	for (int i = 0; i < l->cfg->nlisten; i++)
		if (items[i].revents & ZMQ_POLLIN)
			listener_recv(l, i);
	for (int i = 0; i < nmon; i++)
		if (items[l->cfg->nlisten + i].revents & ZMQ_POLLIN)
			listener_handshake_failed(l, mon_of[i]);
	if (l->writing && writing < n && (items[writing].revents & (ZMQ_POLLIN | ZMQ_POLLERR)))
		listener_written(l, 0);
	if (admin && (items[l->cfg->nlisten + nmon].revents & ZMQ_POLLIN))
		vcudad_admin_serve(&l->admin, listener_status, l);
	for (int i = 0; i < ns; i++)
		if (items[l->cfg->nlisten + nmon + admin + i].revents & (ZMQ_POLLIN | ZMQ_POLLERR))
			listener_worker_report(l, starting[i]);
	for (int i = 0; i < na; i++)
		if (items[l->cfg->nlisten + nmon + admin + ns + i].revents &
		    (ZMQ_POLLIN | ZMQ_POLLERR))
			listener_ipc(l, asking[i]);
}

static void listener_shutdown(struct listener *l)
{
	uint64_t deadline = vcuda_now_ns() + 3000000000ull;

	VINFO(server, "stopping (signal %d): ending %d session%s", (int)listener_stop, l->nworkers,
	      l->nworkers == 1 ? "" : "s");
	vcudad_admin_close(&l->admin);
	vcudad_metrics_stop(l->metrics);
	vcudad_movein_fini(&l->movein);
	for (int i = 0; i < l->nworkers; i++)
		kill(l->workers[i]->pid, SIGTERM);
	while (l->nworkers > 0 && vcuda_now_ns() < deadline) {
		usleep(20000);
		listener_reap(l);
	}
	for (int i = 0; i < l->nworkers; i++)
		kill(l->workers[i]->pid, SIGKILL);
	while (l->nworkers > 0 && waitpid(-1, NULL, 0) > 0)
		listener_reap(l);
	for (int i = 0; i < l->cfg->nlisten; i++) {
		zmq_close(l->socks[i]);
		if (listener_local(l->cfg->listen[i])) {
			unlink(l->cfg->listen[i] + 6);
			listener_remove_dir(l->dirs[i]);
		}
	}
}

/* The CPU device's memory is the host's: all guests together get
 * --cpu-memory (default half the RAM, at most 32 GiB), and each guest's
 * device has that size unless VCUDA_CPU_MEMORY says less. */
static int listener_budget(struct listener *l)
{
	uint64_t limit = l->cfg->cpu_memory;
	struct sysinfo si;

	if (!limit) {
		limit = sysinfo(&si) == 0 ? (uint64_t)si.totalram * si.mem_unit / 2 : 4ull << 30;
		if (limit > (32ull << 30))
			limit = 32ull << 30;
	}
	if (!(l->budget = vcuda_budget_create(limit, l->cfg->limits.sessions, &l->budget_fd))) {
		VERR(server, "cannot make the CPU device's memory budget: %s", strerror(errno));
		return -1;
	}
	if (l->cfg->session_memory || !getenv("VCUDA_CPU_MEMORY")) {
		uint64_t each = l->cfg->session_memory ? l->cfg->session_memory : limit;
		char size[32];
		snprintf(size, sizeof(size), "%llu", (unsigned long long)each & ~0xfffffull);
		setenv("VCUDA_CPU_MEMORY", size, 1);
	}
	VINFO(server, "the CPU device's memory: %llu MiB for all guests together, %s each",
	      (unsigned long long)(limit >> 20), getenv("VCUDA_CPU_MEMORY"));
	return 0;
}

/* ZAP, on its own thread: a tcp:// guest gets in only with a listed key.
 * Refusals are logged at most once a second. */
static int listener_allow(void *arg, const uint8_t key[32], const char *address)
{
	static uint64_t last_ns;
	struct listener *l = arg;
	char z85[41];
	uint64_t now = vcuda_now_ns();

	int known;

	pthread_mutex_lock(&l->conf_lock);
	known = vcuda_keyset_has(&l->allowed, key) || vcudad_client_by_key(&l->idents.conf, key) ||
		vcuda_keyset_has(&l->peers, key);
	pthread_mutex_unlock(&l->conf_lock);
	if (known)
		return 1;
	if (now - __atomic_load_n(&last_ns, __ATOMIC_RELAXED) > 1000000000ull) {
		__atomic_store_n(&last_ns, now, __ATOMIC_RELAXED);
		zmq_z85_encode(z85, key, 32);
		VWARN(server, "refused handshake: unknown key %s from %s", z85, address);
	}
	return 0;
}

static int listener_keys(struct listener *l)
{
	const struct vcudad_config *cfg = l->cfg;
	char why[512];

	if (!cfg->key_file) {
		for (int i = 0; i < cfg->nlisten; i++)
			if (strncmp(cfg->listen[i], "tcp://", 6) == 0)
				VWARN(server,
				      "%s takes guests without keys (--insecure): anyone who can "
				      "reach it can run code on this host's GPU",
				      cfg->listen[i]);
		return 0;
	}
	if (vcuda_curve_read_keyfile(cfg->key_file, &l->keys, why, sizeof(why)) != 0 ||
	    (cfg->allow_keys &&
	     vcuda_keyset_load(cfg->allow_keys, &l->allowed, why, sizeof(why)) != 0) ||
	    (cfg->peer_keys &&
	     vcuda_keyset_load(cfg->peer_keys, &l->peers, why, sizeof(why)) != 0)) {
		VERR(server, "%s", why);
		return 1;
	}
	if (vcuda_zap_start(listener_allow, l) != 0) {
		VERR(server, "cannot check guests' keys: %s", zmq_strerror(errno));
		return 1;
	}
	l->curve = 1;
	VINFO(server, "tcp:// guests need one of the %zu keys of %s or a [client] key of %s",
	      l->allowed.n, cfg->allow_keys ? cfg->allow_keys : "(no --allow-keys)",
	      cfg->config_file ? cfg->config_file : "(no --config)");
	if (cfg->peer_keys)
		VINFO(server, "sessions may move here from the %zu servers of %s", l->peers.n,
		      cfg->peer_keys);
	return 0;
}

/* The metrics' figures, a few times a second at most. */
static void listener_metrics(struct listener *l)
{
	Vcuda__AdminStatus st = VCUDA__ADMIN_STATUS__INIT;
	Vcuda__AdminRequest rq = VCUDA__ADMIN_REQUEST__INIT;

	if (!l->metrics || vcuda_now_ns() - l->metrics_ns < 200000000u)
		return;
	l->metrics_ns = vcuda_now_ns();
	rq.op = "status";
	if (listener_status(l, &rq, &st) == 0)
		vcudad_metrics_update(l->metrics, &st);
}

/* vcuda-smi's socket: --admin, else beside the first ipc:// endpoint. */
static int listener_admin(struct listener *l)
{
	char url[600];

	if (l->cfg->admin_url)
		return vcudad_admin_open(&l->admin, l->cfg->admin_url, l->cfg->admin_gid);
	for (int i = 0; i < l->cfg->nlisten; i++)
		if (vcudad_admin_url(l->cfg->listen[i], url, sizeof(url)) == 0)
			return vcudad_admin_open(&l->admin, url, l->cfg->admin_gid);
	VINFO(server, "no admin socket for vcuda-smi: give --admin ipc:///PATH");
	return 0;
}

/* The device scheduler, in the mode asked for or the one the backend needs:
 * the CPU device runs each kernel as it is launched (exclusive), a GPU
 * queues them (paced). */
static int listener_scheduler(struct listener *l)
{
	static const char *const names[] = {"off (counted only)", "exclusive", "paced"};
	int mode = l->cfg->schedule;

	if (mode < 0)
		mode = strcmp(l->be->kind, "cpu") == 0 ? VCUDA_SCHED_EXCLUSIVE : VCUDA_SCHED_PACED;
	if (!(l->idents.sched =
		  vcuda_sched_create(l->cfg->limits.sessions, l->cfg->limits.sessions,
				     (enum vcuda_sched_mode)mode, &l->idents.sched_fd))) {
		VERR(server, "cannot make the device scheduler: %s", strerror(errno));
		return -1;
	}
	VINFO(server, "kernels share the device by client shares: %s", names[mode]);
	l->mps = l->cfg->mps;
	if (l->mps < 0) { /* auto: when NVIDIA's MPS control daemon runs */
		const char *dir = getenv("CUDA_MPS_PIPE_DIRECTORY");
		char path[600];
		snprintf(path, sizeof(path), "%s/control", dir && *dir ? dir : "/tmp/nvidia-mps");
		l->mps = strcmp(l->be->kind, "cuda") == 0 && access(path, F_OK) == 0;
	}
	if (l->mps)
		VINFO(server, "NVIDIA MPS: each worker's active-thread percentage follows its "
			      "client's share");
	return 0;
}

/* SIGHUP: the configuration file again. A bad file changes nothing. */
static void listener_reconfigure(struct listener *l)
{
	struct vcudad_config scratch = *l->cfg;
	struct vcudad_clients conf;
	char why[512];

	listener_reload = 0;
	if (!l->cfg->config_file) {
		VWARN(server, "SIGHUP: no --config file to read again");
		return;
	}
	if (vcudad_config_load(l->cfg->config_file, &scratch, 0, &conf, why, sizeof(why)) != 0) {
		VERR(server, "configuration not reloaded: %s; the old one stays", why);
		return;
	}
	pthread_mutex_lock(&l->conf_lock);
	vcudad_idents_reconfigure(&l->idents, &conf);
	pthread_mutex_unlock(&l->conf_lock);
	VINFO(server, "configuration reloaded from %s: %d client%s", l->cfg->config_file,
	      l->idents.conf.n, l->idents.conf.n == 1 ? "" : "s");
}

int vcudad_listen(const struct vcudad_config *cfg, char *const argv0)
{
	static struct listener l;
	struct vcuda_backend be;
	char why[512];

	l.cfg = cfg;
	pthread_mutex_init(&l.conf_lock, NULL);
	l.idents.conf = cfg->clients;
	l.idents.slots = cfg->limits.sessions;
	if (!(l.workers = calloc(cfg->limits.sessions, sizeof(*l.workers))) ||
	    !(l.slot_used = calloc(cfg->limits.sessions, 1))) {
		VERR(server, "out of memory");
		return 1;
	}
	listener_signals();
	if (vcuda_backend_open(cfg->backend, cfg->cpu_device, &be, why, sizeof(why)) != 0) {
		VERR(server, "no backend: %s", why);
		return 1;
	}
	l.backend_kind = be.kind;
	l.be = &be;
	VINFO(server, "backend %s (%s)", be.kind, be.path);
	if (listener_scheduler(&l) != 0)
		return 1;
	if (strcmp(be.kind, "cpu") == 0 && listener_budget(&l) != 0)
		return 1;
	/* The library stays loaded: NVIDIA's driver is not made to be unloaded. */
	if (listener_restores(&l) != 0 || listener_keys(&l) != 0 || listener_bind(&l) != 0 ||
	    listener_admin(&l) != 0)
		return 1;
	if (cfg->metrics && !(l.metrics = vcudad_metrics_start(cfg->metrics)))
		return 1;
	while (!listener_stop) {
		if (listener_reload)
			listener_reconfigure(&l);
		listener_poll(&l);
		listener_metrics(&l);
		if (listener_child)
			listener_reap(&l);
		for (int i = 0; i < l.nworkers; i++) {
			struct worker *w = l.workers[i];
			if (w->pipe_fd >= 0 &&
			    vcuda_now_ns() - w->started_ns > LISTENER_START_TIMEOUT_MS * 1000000ull)
				kill(w->pid, SIGKILL);
		}
	}
	listener_shutdown(&l);
	return 0;
}
