/*
 * One client session, served by its own worker process (DESIGN.md
 * decision 6). Everything the guest names is looked up here: streams and
 * events in the handle table, device pointers in the allocation map.
 */
#ifndef VCUDA_SESSION_H
#define VCUDA_SESSION_H

#include <pthread.h>
#include <stdint.h>

#include "backend.h"
#include "budget.h"
#include "fairshare.h"
#include "calls.h"
#include "handle.h"
#include "rangemap.h"
#include "transport.h"
#include "vcuda.pb-c.h"
#include "vcudad.h"

#define SESSION_MAX_DEVICES 16
#define SESSION_TOKEN_LEN   16
#define SESSION_DATA_CHUNK  (4u << 20)

struct session_stream {
	CUstream s;
	int device;
	unsigned flags; /* as created: a session image makes it again so */
	int priority;
};

struct session_module {
	CUmodule m;
	int device;
	uint64_t bytes;	  /* its fat binary, every entry decompressed */
	uint64_t globals; /* its variables' device memory, charged to the quota */
	uint8_t *image;	  /* the fat binary it was loaded from (a session image carries it) */
	uint64_t image_len;
};

struct session_function {
	CUfunction f;
	uint64_t module; /* handle of its module */
	int device;
	char name[]; /* as the guest asked for it */
};

/* A CUDA array: its geometry, to check copies against. */
struct session_array {
	CUarray a;
	int device;
	uint64_t bytes;			  /* charged to the quota */
	uint64_t row_bytes, rows, slices; /* rows and slices at least 1 */
};

/* A texture or surface object: the value kernels take. */
struct session_texture {
	CUtexObject value; /* a CUsurfObject for surfaces: the same type */
	int device, surface;
};

struct session_event {
	CUevent e;
	int device;
	unsigned flags; /* as created: CU_EVENT_INTERPROCESS ones can be exported */
};

/* Paced device time (server/pacing.c): the kernels a session queued and
 * that have not been measured yet, a ring of event pairs. */
#define SESSION_PACED 64
struct session_paced {
	CUevent start[SESSION_PACED], end[SESSION_PACED];
	int device[SESSION_PACED]; /* whose context made the pair */
	uint8_t made[SESSION_PACED];
	uint32_t head, tail; /* queued: tail .. head - 1, modulo SESSION_PACED */
	uint64_t avg_ns;     /* a kernel's time, running average */
	unsigned warned;
};

#define SESSION_THREAD_STREAMS 256

/* A guest thread's per-thread default stream. */
struct session_thread_stream {
	uint32_t thread;
	int device;
	CUstream s;
};

struct session {
	struct vcuda_chan *chan;
	struct vcuda_backend *be;
	const struct vcudad_limits *limits;
	uint8_t token[SESSION_TOKEN_LEN];
	int attached;
	int report_fd;	  /* the listener's pipe until the guest attaches, then -1 */
	int ipc_fd;	  /* CUDA IPC requests to the listener (fd 8), -1 none */
	int ipc_exported; /* the CPU device's memory file was given to the listener */
	const char *peer; /* for logs: "pid 123 on host (program)" */
	int ndevices;
	CUcontext primary[SESSION_MAX_DEVICES];
	int current; /* device whose primary context is current, -1 none */
	struct vcuda_handle_table handles;
	struct vcuda_rangemap mem; /* allocations; tag = device */
	CUresult deferred;	   /* first failure of a posted call not yet reported */
	struct session_thread_stream thread_streams[SESSION_THREAD_STREAMS];
	int nthread_streams;
	uint64_t calls;
	uint32_t nmodules;     /* loaded now */
	uint64_t module_bytes; /* their sizes, decompressed */
	/* A fat binary arriving in parts (ModuleLoad.total): at most
	 * limits->module_bytes, counted in module_bytes while it arrives. */
	uint8_t *staging;
	uint64_t staging_len, staging_total;
	/* The client's device memory quota, shared with its other sessions,
	 * and its group's, shared with the group's other clients (the
	 * listener's budgets for them, in which the session has one slot;
	 * NULL: none). */
	struct vcuda_budget *quota[2];
	uint32_t quota_slot;
	const char *client; /* for logs */
	/* Device time shared by weight (CPU device), and the client's
	 * counters (common/fairshare.h); NULL: none. */
	struct vcuda_sched *sched;
	uint32_t sched_slot;
	struct session_paced paced;
	int heap_registered; /* the shared heap: 1 registered with the device, -1 could not be */
	int launched;	     /* a kernel was launched since the last reply */
	uint64_t last_seq;   /* the highest request sequence number run */
	uint64_t
	    restored_seq; /* restored from an image: its last_seq (the guest resumes after it) */
	int moved;	  /* moved to another server: requests are answered E_MOVED */
	/* Held while a message is served: a checkpoint (server/image.c) is
	 * taken between messages, from another thread. */
	pthread_mutex_t lock;
};

/* What a handler fills in besides the result: the reply, and storage for
 * the member of its ret it sets (one per VCUDA_REPLY row of calls.def). */
struct session_reply {
	Vcuda__Reply rp;
	union {
#define VCUDA_REPLY(NAME, name, Type) Vcuda__##Type name;
#include "calls.def"
	} u;
	int32_t func_attrs[CU_FUNC_ATTRIBUTE_MAX];
	uint8_t ipc_handle[64];
	uint64_t scalar_outs[VCUDA_SCALAR_MAX_ARGS];
	Vcuda__DeviceInfo devices[SESSION_MAX_DEVICES];
	Vcuda__DeviceInfo *device_ptrs[SESSION_MAX_DEVICES];
	int32_t attrs[SESSION_MAX_DEVICES][CU_DEVICE_ATTRIBUTE_MAX];
	char names[SESSION_MAX_DEVICES][256];
	CUuuid uuids[SESSION_MAX_DEVICES];
};

/* A call's handler: returns the call's CUresult. m is the whole request
 * message (its payload frame, if any). */
typedef CUresult (*session_handler)(struct session *s, const Vcuda__Request *rq,
				    const struct vcuda_msg *m, struct session_reply *out);

struct session_call {
	session_handler fn;
	unsigned needs_device : 1; /* make rq->device's primary context current first */
};

/* The dispatch table, indexed by Request.call_case (server/dispatch.c). */
const struct session_call *session_call_find(int call_case);

/*
 * Serves one request: its handler's CUresult, after making its device's
 * primary context current when the call needs one. An unknown call is
 * refused (out->rp.status VCUDA_E_PROTO). The caller has checked that the
 * session is attached and sends the reply.
 */
CUresult session_dispatch(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
			  struct session_reply *out);
/* Makes rq->device's primary context current, retaining it first. */
CUresult session_use_device(struct session *s, const Vcuda__Request *rq);

/*
 * Whether the protocol (the descriptors of Request and Reply), the dispatch
 * table and the handlers agree: every call of Request.call has a row and
 * every row a call of that name, likewise for Reply.ret, and every scalar
 * call flagged SC_HANDLER has its handler and no other has one. Returns
 * NULL, or why not (written to why). vcudad checks this at start.
 */
const char *session_calls_verify(const ProtobufCMessageDescriptor *request,
				 const ProtobufCMessageDescriptor *reply, char *why, size_t len);
/* The scalar calls' part of it (server/scalar.c). */
const char *session_scalar_verify(char *why, size_t len);

/*
 * Paced device time (server/pacing.c). Before a kernel is queued on stream
 * st of device: waits for the session's turn, and records the kernel's
 * start; returns its ring slot, or -1 if it cannot be timed. After:
 * records its end if launched is CUDA_SUCCESS. Collect charges the time
 * of the queued kernels that have run.
 */
int session_paced_begin(struct session *s, int device, CUstream st);
void session_paced_end(struct session *s, int slot, CUstream st, CUresult launched);
void session_paced_collect(struct session *s);
/* Before device's context is reset: waits for the session's queued
 * kernels, charges them, and destroys the events made in it. */
void session_paced_forget(struct session *s, int device);

/* Whether the session may hold one more module of bytes bytes
 * (decompressed): CUDA_SUCCESS, or the refusal (logged). */
CUresult session_module_admit(struct session *s, const Vcuda__Request *rq, uint64_t bytes);
/* Frees a module's record and its image (not the backend's module). */
void session_module_free(struct session_module *sm);
/*
 * Checks and loads a fat binary (image, len bytes, malloc()ed: the module
 * keeps it, or it is freed on failure) on rq->device, counting it against
 * the session's limits and its variables against the quota: *out, not yet
 * named to the guest. Drop unloads it and gives back what it counted.
 */
CUresult session_module_make(struct session *s, const Vcuda__Request *rq, uint8_t *image,
			     size_t len, struct session_module **out);
void session_module_drop(struct session *s, struct session_module *sm);

/* Takes bytes of device memory for what (for the log) from the client's
 * quota and its group's: 0, or -1 (logged, nothing taken) if that would
 * pass either. Credit gives them back. */
int session_quota_charge(struct session *s, uint64_t bytes, const char *what);
void session_quota_credit(struct session *s, uint64_t bytes);

/* [off, off + n) of the channel's shared heap (shm://) in this process, or
 * NULL if the channel has none or the range is not within it. */
void *session_shared(struct session *s, uint64_t off, uint64_t n);

/* The reply's GlobalReply: an address on the device and a size. */
void session_reply_global(struct session_reply *out, uint64_t dptr, uint64_t size);

/* Names obj to the guest: a new handle id of type, in the reply. */
CUresult session_reply_handle(struct session *s, const Vcuda__Request *rq,
			      enum vcuda_handle_type type, void *obj, struct session_reply *out);

/* The range data of memory another session exported, which this one
 * mapped (server/ipc.c): not freed by cudaFree, unmapped by its close. */
#define SESSION_IPC_IMPORT ((void *)1)

/* Whether [p, p + n) lies inside one of this session's allocations on dev
 * (server/memory.c). */
int memory_owned(const struct session *s, uint64_t p, uint64_t n, int dev);
/* A new event of the session, answered with its handle: flags as the
 * session knows it, driver_flags as the driver makes it (server/stream.c). */
CUresult session_event_new(struct session *s, const Vcuda__Request *rq, unsigned flags,
			   unsigned driver_flags, struct session_reply *out);
/* The array of id on device, or NULL (server/texture.c). */
struct session_array *session_array(struct session *s, uint64_t id, int device);

/* Logs a refused request with the stable tag "refused". Returns rc. */
CUresult session_refuse(struct session *s, const Vcuda__Request *rq, CUresult rc, const char *why);

/* The handlers of calls.def's VCUDA_CALL rows, srv_<name>, in server/
 * files named after their section (device.c, memory.c, stream.c,
 * module.c, scalar.c). */
#define VCUDA_CALL(NAME, name, needs_device)                                                       \
	CUresult srv_##name(struct session *, const Vcuda__Request *, const struct vcuda_msg *,    \
			    struct session_reply *);
#include "calls.def"

/* A scalar call's decoded arguments (server/scalar.c): in-values as their
 * kinds say, handles as the backend's objects, out-values as pointers to
 * the reply's slots. */
union session_arg {
	int32_t i32;
	uint32_t u32;
	uint64_t u64;
	void *ptr;
};

/* The hand-written handlers of scalar calls flagged SC_HANDLER: checks of
 * their own, then the backend call. */
#define VCUDA_SCALAR(op, name, runtime_fn, driver_fn, flags, stub, ...)                            \
	CUresult srv_scalar_##name(struct session *, const Vcuda__Request *, union session_arg *);
#include "calls.def"

/* Looks up a guest's function and event handles; refuses (logged) if unknown. */
struct session_function *session_function(struct session *s, const Vcuda__Request *rq, uint64_t id);
CUresult session_event(struct session *s, const Vcuda__Request *rq, uint64_t id, CUevent *out);
/* Resolves a guest stream id (0, 1, 2 or a handle) for rq->device. */
CUresult session_stream(struct session *s, const Vcuda__Request *rq, uint64_t id, CUstream *out);
/* Gives back bytes of the client's quota (an allocation freed). */
void session_quota_credit(struct session *s, uint64_t bytes);
/* Forgets a fat binary that was arriving in parts. */
void session_staging_drop(struct session *s);
/* Frees everything the session holds on device dev (-1: every device). */
void session_release(struct session *s, int dev);

/* Serves one attached client until it leaves; returns the exit status. */
int session_run(struct session *s, int attach_timeout_ms);

#endif
