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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "error.h"
#include "log.h"
#include "transport.h"
#include "util.h"
#include "vcuda.pb-c.h"
#include "vcudad.h"

#define LISTENER_MAX_WORKERS	  1024
#define LISTENER_START_TIMEOUT_MS 15000

struct worker {
	pid_t pid;
	int pipe_fd;	 /* until the worker reports its endpoint; -1 after */
	int sock;	 /* index of the listen socket the client came on */
	zmq_msg_t route; /* the client's routing id, while starting */
	uint64_t started_ns;
	char bind_url[512];
	char peer[256];
	char buf[600];
	size_t buf_len;
};

struct listener {
	const struct vcudad_config *cfg;
	const char *backend_kind;
	void *socks[VCUDAD_MAX_LISTEN];
	struct worker *workers[LISTENER_MAX_WORKERS];
	int nworkers;
	long next_id;
};

static volatile sig_atomic_t listener_stop, listener_child;

static void listener_on_signal(int sig)
{
	if (sig == SIGCHLD)
		listener_child = 1;
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

/* Runs this program again as the session's worker, its pipe on fd 3. */
static pid_t listener_spawn(struct listener *l, struct worker *w)
{
	char parent[32], timeout[32];
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	snprintf(parent, sizeof(parent), "%ld", (long)getpid());
	snprintf(timeout, sizeof(timeout), "%d", l->cfg->attach_timeout_ms);
	pid = fork();
	if (pid == 0) {
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
				NULL};
		dup2(fds[1], 3);
		for (int fd = 4; fd < 1024; fd++)
			close(fd);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return -1;
	}
	w->pipe_fd = fds[0];
	return pid;
}

static void listener_hello(struct listener *l, int sock, zmq_msg_t *route, const uint8_t *data,
			   size_t len)
{
	Vcuda__Hello *h = vcuda__hello__unpack(NULL, len, data);
	char why[256];
	struct worker *w;

	if (!h) {
		VWARN(server, "refused handshake: malformed hello");
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
		VWARN(server, "refused pid %u on %s: %s", h->pid, h->hostname, why);
		listener_send_hello_reply(l, sock, route, VCUDA_E_VERSION, why, NULL, NULL, 0);
		goto out_free;
	}
	if (l->nworkers == LISTENER_MAX_WORKERS || !(w = calloc(1, sizeof(*w)))) {
		listener_send_hello_reply(l, sock, route, VCUDA_E_FULL,
					  "the server has too many sessions", NULL, NULL, 0);
		goto out_free;
	}
	snprintf(w->peer, sizeof(w->peer), "pid %u on %s (%s)", h->pid, h->hostname, h->program);
	w->sock = sock;
	w->started_ns = vcuda_now_ns();
	zmq_msg_init(&w->route);
	zmq_msg_copy(&w->route, route);
	vcuda_url_worker(l->cfg->listen[sock], ++l->next_id, w->bind_url, sizeof(w->bind_url));
	if ((w->pid = listener_spawn(l, w)) < 0) {
		VERR(server, "cannot start a worker for %s: %s", w->peer, strerror(errno));
		listener_send_hello_reply(l, sock, route, VCUDA_E_SYSTEM,
					  "the server could not start a session", NULL, NULL, 0);
		zmq_msg_close(&w->route);
		free(w);
		goto out_free;
	}
	VINFO(server, "client %s connected via %s (CUDA %u); worker pid %d", w->peer,
	      l->cfg->listen[sock], h->cuda_version, (int)w->pid);
	l->workers[l->nworkers++] = w;
out_free:
	vcuda__hello__free_unpacked(h, NULL);
}

static void listener_recv(struct listener *l, int sock)
{
	zmq_msg_t route, body;

	zmq_msg_init(&route);
	zmq_msg_init(&body);
	if (zmq_msg_recv(&route, l->socks[sock], ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&route) &&
	    zmq_msg_recv(&body, l->socks[sock], ZMQ_DONTWAIT) >= 0) {
		if (zmq_msg_more(&body) || zmq_msg_size(&body) > 4096)
			VWARN(server, "refused handshake: oversized or multi-part hello");
		else
			listener_hello(l, sock, &route, zmq_msg_data(&body), zmq_msg_size(&body));
	}
	/* Drop whatever else the message had. */
	while (zmq_msg_more(&body) && zmq_msg_recv(&body, l->socks[sock], ZMQ_DONTWAIT) >= 0)
		;
	zmq_msg_close(&route);
	zmq_msg_close(&body);
}

/* A starting worker's pipe: "ENDPOINT TOKENHEX\n", or EOF if it failed. */
static void listener_worker_report(struct listener *l, struct worker *w)
{
	uint8_t token[64];
	char *space, *nl;
	size_t tlen;
	ssize_t n = read(w->pipe_fd, w->buf + w->buf_len, sizeof(w->buf) - 1 - w->buf_len);

	if (n > 0) {
		w->buf_len += (size_t)n;
		w->buf[w->buf_len] = '\0';
		if (!strchr(w->buf, '\n') && w->buf_len < sizeof(w->buf) - 1)
			return;
	}
	close(w->pipe_fd);
	w->pipe_fd = -1;
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

static void listener_reap(struct listener *l)
{
	int status;
	pid_t pid;

	listener_child = 0;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
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
				VINFO(server, "worker %d for %s exited (status %d)", (int)pid,
				      w->peer, WEXITSTATUS(status));
			if (strncmp(w->bind_url, "ipc://", 6) == 0)
				unlink(w->bind_url + 6);
			if (w->pipe_fd >= 0) {
				listener_worker_report(l, w);
			}
			free(w);
			l->workers[i] = l->workers[--l->nworkers];
			break;
		}
	}
}

static int listener_bind(struct listener *l)
{
	void *ctx = vcuda_zmq_context();
	int linger = 0;

	for (int i = 0; i < l->cfg->nlisten; i++) {
		const char *url = l->cfg->listen[i];
		l->socks[i] = ctx ? zmq_socket(ctx, ZMQ_ROUTER) : NULL;
		if (!l->socks[i])
			return VCUDA_E_TRANSPORT;
		zmq_setsockopt(l->socks[i], ZMQ_LINGER, &linger, sizeof(linger));
		if (zmq_bind(l->socks[i], url) != 0) {
			VERR(server, "cannot listen at %s: %s", url, zmq_strerror(errno));
			return VCUDA_E_TRANSPORT;
		}
		{
			char ep[256];
			size_t len = sizeof(ep);
			if (zmq_getsockopt(l->socks[i], ZMQ_LAST_ENDPOINT, ep, &len) != 0)
				snprintf(ep, sizeof(ep), "%s", url);
			VINFO(server, "listening at %s", ep);
		}
	}
	return 0;
}

static void listener_poll(struct listener *l)
{
	zmq_pollitem_t items[VCUDAD_MAX_LISTEN + LISTENER_MAX_WORKERS];
	struct worker *starting[LISTENER_MAX_WORKERS];
	int n = 0, ns = 0;

	for (int i = 0; i < l->cfg->nlisten; i++)
		items[n++] = (zmq_pollitem_t){l->socks[i], 0, ZMQ_POLLIN, 0};
	for (int i = 0; i < l->nworkers; i++) {
		if (l->workers[i]->pipe_fd < 0)
			continue;
		starting[ns++] = l->workers[i];
		items[n++] = (zmq_pollitem_t){NULL, l->workers[i]->pipe_fd, ZMQ_POLLIN, 0};
	}
	if (zmq_poll(items, n, 500) <= 0)
		return;
	for (int i = 0; i < l->cfg->nlisten; i++)
		if (items[i].revents & ZMQ_POLLIN)
			listener_recv(l, i);
	for (int i = 0; i < ns; i++)
		if (items[l->cfg->nlisten + i].revents & (ZMQ_POLLIN | ZMQ_POLLERR))
			listener_worker_report(l, starting[i]);
}

static void listener_shutdown(struct listener *l)
{
	uint64_t deadline = vcuda_now_ns() + 3000000000ull;

	VINFO(server, "stopping (signal %d): ending %d session%s", (int)listener_stop, l->nworkers,
	      l->nworkers == 1 ? "" : "s");
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
		if (strncmp(l->cfg->listen[i], "ipc://", 6) == 0)
			unlink(l->cfg->listen[i] + 6);
	}
}

int vcudad_listen(const struct vcudad_config *cfg, char *const argv0)
{
	static struct listener l;
	struct vcuda_backend be;
	char why[512];

	l.cfg = cfg;
	listener_signals();
	if (vcuda_backend_open(cfg->backend, cfg->cpu_device, &be, why, sizeof(why)) != 0) {
		VERR(server, "no backend: %s", why);
		return 1;
	}
	l.backend_kind = be.kind;
	VINFO(server, "backend %s (%s)", be.kind, be.path);
	/* The library stays loaded: NVIDIA's driver is not made to be unloaded. */
	if (listener_bind(&l) != 0)
		return 1;
	while (!listener_stop) {
		listener_poll(&l);
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
