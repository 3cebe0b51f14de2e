/*
 * Session calls: CUDA IPC between processes of one client, on the CPU
 * device. Every guest process has its own worker, and its device memory is
 * that worker's memory file. A handle names the exporting worker (its
 * pid) and where in that file the allocation lies; a worker that opens it
 * asks the listener for the exporter's file (fd 8, listener_ipc), which
 * the listener gives only to a worker of the same client: a handle that
 * crossed to another client, or was forged, names no file the opener may
 * have. The range is then mapped where this worker's kernels reach it.
 * On a GPU these calls answer CUDA_ERROR_NOT_SUPPORTED.
 */
#include "config.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "session.h"

#define IPC_MAGIC	0x43504976u /* "vIPC" */
#define IPC_EVENT_MAGIC 0x54564576u /* "vEVT" */

/* The handle's bytes (of CUDA's 64). */
struct ipc_handle {
	uint32_t magic, version;
	int32_t pid;
	uint32_t unused;
	uint64_t offset, size;
};

static int ipc_supported(const struct session *s)
{
	return s->be->ipc_export && s->be->ipc_import && s->be->ipc_close && s->ipc_fd >= 0;
}

/* Gives the listener this worker's memory file, once. */
static int ipc_export_file(struct session *s, int fd)
{
	char e = 'E', ctl[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec io = {&e, 1};
	struct msghdr mh = {
	    .msg_iov = &io, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

	if (s->ipc_exported)
		return 0;
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(s->ipc_fd, &mh, MSG_NOSIGNAL) != 1)
		return -1;
	s->ipc_exported = 1;
	return 0;
}

/* Asks the listener about worker pid: 'O' for its memory file (the
 * descriptor, or -1 if refused), 'C' whether it serves the same client
 * (0, or -1). */
static int ipc_ask(struct session *s, char what, int32_t pid)
{
	char req[1 + sizeof(pid)], ans = 0, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec io = {&ans, 1};
	struct msghdr mh = {
	    .msg_iov = &io, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)};
	struct cmsghdr *c;
	int fd = -1;

	req[0] = what;
	memcpy(req + 1, &pid, sizeof(pid));
	if (send(s->ipc_fd, req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req) ||
	    recvmsg(s->ipc_fd, &mh, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	if (ans != 'Y' && fd >= 0) {
		close(fd);
		fd = -1;
	}
	if (what == 'C')
		return ans == 'Y' ? 0 : -1;
	return fd;
}

/* Answers handle h in CUDA's 64 bytes. */
static CUresult ipc_reply(const struct ipc_handle *h, struct session_reply *out)
{
	memset(out->ipc_handle, 0, sizeof(out->ipc_handle));
	memcpy(out->ipc_handle, h, sizeof(*h));
	vcuda__ipc_handle_reply__init(&out->u.ipc_handle);
	out->u.ipc_handle.handle.data = out->ipc_handle;
	out->u.ipc_handle.handle.len = sizeof(out->ipc_handle);
	out->rp.ret_case = VCUDA__REPLY__RET_IPC_HANDLE;
	out->rp.ipc_handle = &out->u.ipc_handle;
	return CUDA_SUCCESS;
}

/* A guest's handle bytes as a handle of kind magic: 0, or -1 if they are
 * not one (their length, magic or version). */
static int ipc_parse(const ProtobufCBinaryData *b, uint32_t magic, struct ipc_handle *h)
{
	if (b->len != 64)
		return -1;
	memcpy(h, b->data, sizeof(*h));
	return h->magic == magic && h->version == 1 ? 0 : -1;
}

CUresult srv_ipc_get_mem_handle(struct session *s, const Vcuda__Request *rq,
				const struct vcuda_msg *m, struct session_reply *out)
{
	uint64_t p = rq->ipc_get_mem_handle->dptr;
	const struct vcuda_range *r = vcuda_rangemap_find(&s->mem, p);
	struct ipc_handle h = {.magic = IPC_MAGIC, .version = 1, .pid = (int32_t)getpid()};
	int fd;

	(void)m;
	if (!ipc_supported(s))
		return session_refuse(s, rq, CUDA_ERROR_NOT_SUPPORTED,
				      "CUDA IPC works on the CPU device only");
	if (!r || r->base != p || (int)r->tag != rq->device || r->data)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
				      "not the start of an allocation of this session");
	if (s->be->ipc_export(p, &fd, &h.offset, &h.size) != 0 || ipc_export_file(s, fd) != 0)
		return session_refuse(s, rq, CUDA_ERROR_NOT_SUPPORTED,
				      "the device's memory cannot be shared");
	return ipc_reply(&h, out);
}

CUresult srv_ipc_open_mem_handle(struct session *s, const Vcuda__Request *rq,
				 const struct vcuda_msg *m, struct session_reply *out)
{
	const Vcuda__IpcOpenMemHandle *c = rq->ipc_open_mem_handle;
	struct ipc_handle h;
	struct vcuda_range r;
	CUdeviceptr p;
	int fd, rc;

	(void)m;
	if (!ipc_supported(s))
		return session_refuse(s, rq, CUDA_ERROR_NOT_SUPPORTED,
				      "CUDA IPC works on the CPU device only");
	if (c->flags > 1 || ipc_parse(&c->handle, IPC_MAGIC, &h) != 0 || !h.size)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE, "not an IPC handle");
	/* A process opens other processes' memory, not its own (as in CUDA). */
	if (h.pid == (int32_t)getpid())
		return session_refuse(s, rq, CUDA_ERROR_INVALID_CONTEXT,
				      "an IPC handle of this process's own memory");
	if ((fd = ipc_ask(s, 'O', h.pid)) < 0)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_HANDLE,
				      "an IPC handle of no session of this client");
	rc = s->be->ipc_import(fd, h.offset, h.size, &p);
	close(fd);
	if (rc != 0)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
				      "an IPC handle outside the exporter's memory");
	r = (struct vcuda_range){
	    .base = p, .size = h.size, .tag = (uint64_t)rq->device, .data = SESSION_IPC_IMPORT};
	if (vcuda_rangemap_insert(&s->mem, &r) != 0) {
		s->be->ipc_close(p);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	vcuda__global_reply__init(&out->u.global);
	out->u.global.dptr = p;
	out->u.global.size = h.size;
	out->rp.ret_case = VCUDA__REPLY__RET_GLOBAL;
	out->rp.global = &out->u.global;
	return CUDA_SUCCESS;
}

CUresult srv_ipc_close_mem_handle(struct session *s, const Vcuda__Request *rq,
				  const struct vcuda_msg *m, struct session_reply *out)
{
	uint64_t p = rq->ipc_close_mem_handle->dptr;
	const struct vcuda_range *r = vcuda_rangemap_find(&s->mem, p);

	(void)m, (void)out;
	if (!r || r->base != p || r->data != SESSION_IPC_IMPORT || !ipc_supported(s))
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
				      "no memory this session opened by IPC");
	s->be->ipc_close(p);
	vcuda_rangemap_remove(&s->mem, p, NULL);
	return CUDA_SUCCESS;
}

CUresult srv_ipc_get_event_handle(struct session *s, const Vcuda__Request *rq,
				  const struct vcuda_msg *m, struct session_reply *out)
{
	struct session_event *ev =
	    vcuda_handle_get(&s->handles, VCUDA_HT_EVENT, rq->ipc_get_event_handle->event);
	struct ipc_handle h = {.magic = IPC_EVENT_MAGIC, .version = 1, .pid = (int32_t)getpid()};

	(void)m;
	if (!ipc_supported(s))
		return session_refuse(s, rq, CUDA_ERROR_NOT_SUPPORTED,
				      "CUDA IPC works on the CPU device only");
	if (!ev || !(ev->flags & CU_EVENT_INTERPROCESS) || !(ev->flags & CU_EVENT_DISABLE_TIMING))
		return session_refuse(s, rq, CUDA_ERROR_INVALID_HANDLE,
				      "not an interprocess event of this session");
	return ipc_reply(&h, out);
}

CUresult srv_ipc_open_event_handle(struct session *s, const Vcuda__Request *rq,
				   const struct vcuda_msg *m, struct session_reply *out)
{
	const Vcuda__IpcOpenEventHandle *c = rq->ipc_open_event_handle;
	struct ipc_handle h;

	(void)m;
	if (!ipc_supported(s))
		return session_refuse(s, rq, CUDA_ERROR_NOT_SUPPORTED,
				      "CUDA IPC works on the CPU device only");
	if (ipc_parse(&c->handle, IPC_EVENT_MAGIC, &h) != 0)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE, "not an IPC event handle");
	if (h.pid == (int32_t)getpid())
		return session_refuse(s, rq, CUDA_ERROR_INVALID_CONTEXT,
				      "an IPC handle of this process's own event");
	if (ipc_ask(s, 'C', h.pid) != 0)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_HANDLE,
				      "an IPC handle of no session of this client");
	return session_event_new(s, rq, CU_EVENT_DISABLE_TIMING | CU_EVENT_INTERPROCESS,
				 CU_EVENT_DISABLE_TIMING, out);
}
