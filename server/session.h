/*
 * One client session, served by its own worker process (DESIGN.md
 * decision 6). Everything the guest names is looked up here: streams and
 * events in the handle table, device pointers in the allocation map.
 */
#ifndef VCUDA_SESSION_H
#define VCUDA_SESSION_H

#include <stdint.h>

#include "backend.h"
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
};

struct session_module {
	CUmodule m;
	int device;
	uint64_t bytes; /* its fat binary, every entry decompressed */
};

struct session_function {
	CUfunction f;
	uint64_t module; /* handle of its module */
	int device;
};

struct session_event {
	CUevent e;
	int device;
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
};

/* What a handler fills in besides the result. */
struct session_reply {
	Vcuda__Reply rp;
	union {
		Vcuda__AttachReply attach;
		Vcuda__MemGetInfoReply mem_get_info;
		Vcuda__MemAllocReply mem_alloc;
		Vcuda__HandleReply handle;
		Vcuda__ElapsedTimeReply elapsed;
		Vcuda__GlobalReply global;
		Vcuda__FuncAttributesReply func_attributes;
		Vcuda__OccupancyReply occupancy;
	} u;
	int32_t func_attrs[CU_FUNC_ATTRIBUTE_MAX];
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

/* Names obj to the guest: a new handle id of type, in the reply. */
CUresult session_reply_handle(struct session *s, const Vcuda__Request *rq,
			      enum vcuda_handle_type type, void *obj, struct session_reply *out);

/* Logs a refused request with the stable tag "refused". Returns rc. */
CUresult session_refuse(struct session *s, const Vcuda__Request *rq, CUresult rc, const char *why);

/* Handlers (server/device.c, memory.c, stream.c), named after their calls. */
CUresult srv_attach(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
		    struct session_reply *);
CUresult srv_ctx_init(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
		      struct session_reply *);
CUresult srv_ctx_synchronize(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
			     struct session_reply *);
CUresult srv_ctx_reset(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
		       struct session_reply *);
CUresult srv_mem_get_info(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
			  struct session_reply *);
CUresult srv_mem_alloc(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
		       struct session_reply *);
CUresult srv_mem_free(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
		      struct session_reply *);
CUresult srv_memcpy_htod(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
			 struct session_reply *);
CUresult srv_memcpy_dtoh(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
			 struct session_reply *);
CUresult srv_memcpy_dtod(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
			 struct session_reply *);
CUresult srv_memset(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
		    struct session_reply *);
CUresult srv_stream_create(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
			   struct session_reply *);
CUresult srv_stream_destroy(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
			    struct session_reply *);
CUresult srv_stream_synchronize(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
				struct session_reply *);
CUresult srv_stream_query(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
			  struct session_reply *);
CUresult srv_stream_wait_event(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
			       struct session_reply *);
CUresult srv_event_create(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
			  struct session_reply *);
CUresult srv_event_destroy(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
			   struct session_reply *);
CUresult srv_event_record(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
			  struct session_reply *);
CUresult srv_event_synchronize(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
			       struct session_reply *);
CUresult srv_event_query(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
			 struct session_reply *);
CUresult srv_event_elapsed_time(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
				struct session_reply *);

CUresult srv_module_load(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
			 struct session_reply *);
CUresult srv_module_unload(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
			   struct session_reply *);
CUresult srv_module_get_function(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
				 struct session_reply *);
CUresult srv_module_get_global(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
			       struct session_reply *);
CUresult srv_func_get_attributes(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
				 struct session_reply *);
CUresult srv_func_set_attribute(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
				struct session_reply *);
CUresult srv_occupancy(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
		       struct session_reply *);
CUresult srv_launch(struct session *, const Vcuda__Request *, const struct vcuda_msg *,
		    struct session_reply *);

/* Resolves a guest stream id (0, 1, 2 or a handle) for rq->device. */
CUresult session_stream(struct session *s, const Vcuda__Request *rq, uint64_t id, CUstream *out);
/* Forgets a fat binary that was arriving in parts. */
void session_staging_drop(struct session *s);
/* Frees everything the session holds on device dev (-1: every device). */
void session_release(struct session *s, int dev);

/* Serves one attached client until it leaves; returns the exit status. */
int session_run(struct session *s, int attach_timeout_ms);

#endif
