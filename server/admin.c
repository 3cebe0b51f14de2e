/* The listener's admin socket (admin.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "admin.h"
#include "error.h"
#include "log.h"
#include "transport.h"
#include "util.h"

#define ADMIN_MAX_REQUEST 8192 /* a checkpoint's path */

int vcudad_admin_url(const char *server_url, char *out, size_t len)
{
	if ((strncmp(server_url, "ipc://", 6) != 0 && strncmp(server_url, "shm://", 6) != 0) ||
	    strlen(server_url) + 7 > len)
		return VCUDA_E_URL;
	snprintf(out, len, "ipc://%s.admin", server_url + 6);
	return 0;
}

int vcudad_admin_open(struct vcudad_admin *a, const char *url, long gid)
{
	int linger = 0;
	int64_t maxmsg = ADMIN_MAX_REQUEST;

	if (strncmp(url, "ipc://", 6) != 0) {
		VERR(server, "the admin socket must be ipc:///PATH, not %s", url);
		return VCUDA_E_URL;
	}
	snprintf(a->path, sizeof(a->path), "%s", url + 6);
	if (vcuda_socket_claim(a->path, "open the admin socket") != 0)
		return VCUDA_E_TRANSPORT;
	if (!(a->sock = zmq_socket(vcuda_zmq_context(), ZMQ_REP)))
		return VCUDA_E_TRANSPORT;
	zmq_setsockopt(a->sock, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(a->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
	if (zmq_bind(a->sock, url) != 0) {
		VERR(server, "cannot open the admin socket %s: %s", url, zmq_strerror(errno));
		return VCUDA_E_TRANSPORT;
	}
	if (vcuda_socket_protect(a->path, gid >= 0 ? 0660 : 0600, gid) != 0) {
		VERR(server, "cannot set the mode of %s: %s", a->path, strerror(errno));
		return VCUDA_E_SYSTEM;
	}
	VINFO(server, "admin socket at %s (vcuda-smi)", url);
	return 0;
}

void vcudad_admin_serve(struct vcudad_admin *a, vcudad_admin_fn fn, void *arg)
{
	uint8_t req[ADMIN_MAX_REQUEST];
	Vcuda__AdminStatus st = VCUDA__ADMIN_STATUS__INIT;
	Vcuda__AdminRequest *rq;
	int len = zmq_recv(a->sock, req, sizeof(req), ZMQ_DONTWAIT);

	if (len < 0)
		return;
	rq = len <= (int)sizeof(req) ? vcuda__admin_request__unpack(NULL, (size_t)len, req) : NULL;
	if (!rq) {
		st.status = VCUDA_E_PROTO;
		st.message = "malformed admin request";
	} else {
		st.status = fn(arg, rq, &st);
	}
	if (rq)
		vcuda__admin_request__free_unpacked(rq, NULL);
	if (st.status == VCUDAD_ADMIN_LATER)
		a->waiting = 1;
	else
		vcudad_admin_answer(a, &st);
}

void vcudad_admin_answer(struct vcudad_admin *a, Vcuda__AdminStatus *st)
{
	size_t n = vcuda__admin_status__get_packed_size(st);
	uint8_t *buf = malloc(n ? n : 1);

	if (buf) {
		vcuda__admin_status__pack(st, buf);
		zmq_send(a->sock, buf, n, 0);
		free(buf);
	} else {
		zmq_send(a->sock, "", 0, 0); /* a REP socket must answer */
	}
	a->waiting = 0;
}

void vcudad_admin_close(struct vcudad_admin *a)
{
	if (a->sock) {
		zmq_close(a->sock);
		unlink(a->path);
		a->sock = NULL;
	}
}
