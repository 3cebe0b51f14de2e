/*
 * Server handlers: modules (a guest's fat binaries), kernels and launches.
 * A fat binary is loaded only after its container has been checked; a
 * launch's parameter buffer must have the size the kernel declares.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fatbin.h"
#include "kernels.h"
#include "log.h"
#include "session.h"
#include "util.h"

static CUresult module_load(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
			    struct session_reply *out);

void session_staging_drop(struct session *s)
{
	if (s->staging)
		s->module_bytes -= s->staging_total;
	free(s->staging);
	s->staging = NULL;
	s->staging_len = s->staging_total = 0;
}

/* A part of a fat binary larger than one payload: parts come in order, the
 * whole is bounded before anything is allocated. Returns 1 when the whole
 * is there (in s->staging), 0 when more is to come, or a refusal < 0 with
 * *rc set. */
static int module_part(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
		       CUresult *rc)
{
	const Vcuda__ModuleLoad *ml = rq->module_load;
	const struct vcudad_limits *lim = s->limits;

	if (ml->offset == 0) {
		session_staging_drop(s);
		if (ml->total > lim->module_bytes ||
		    ml->total > lim->session_module_bytes - s->module_bytes) {
			*rc = session_refuse(s, rq, CUDA_ERROR_INVALID_IMAGE,
					     "a fat binary larger than the module limits");
			return -1;
		}
		if (!(s->staging = malloc(ml->total))) {
			*rc = CUDA_ERROR_OUT_OF_MEMORY;
			return -1;
		}
		s->staging_total = ml->total;
		s->module_bytes += ml->total;
	}
	if (!s->staging || ml->total != s->staging_total || ml->offset != s->staging_len ||
	    !m->payload || m->payload_len > s->staging_total - s->staging_len) {
		session_staging_drop(s);
		*rc = session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
				     "a fat binary part out of order or too long");
		return -1;
	}
	memcpy(s->staging + s->staging_len, m->payload, m->payload_len);
	s->staging_len += m->payload_len;
	*rc = CUDA_SUCCESS;
	return s->staging_len == s->staging_total;
}

CUresult srv_module_load(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
			 struct session_reply *out)
{
	struct vcuda_msg whole = *m;
	int part;
	CUresult rc;

	if (rq->module_load->total) {
		if ((part = module_part(s, rq, m, &rc)) <= 0)
			return rc;
		/* The staged bytes are counted as the module's from here on. */
		s->module_bytes -= s->staging_total;
		whole.payload = s->staging;
		whole.payload_len = s->staging_len;
		s->staging = NULL; /* the module's now (module_load) */
		s->staging_len = s->staging_total = 0;
		return module_load(s, rq, &whole, out);
	}
	/* Over shm:// the payload lies in memory the guest can still write:
	 * what is checked and loaded is a private copy. */
	if (!m->payload || !(whole.payload = malloc(m->payload_len ? m->payload_len : 1)))
		return m->payload ? CUDA_ERROR_OUT_OF_MEMORY : module_load(s, rq, m, out);
	memcpy((void *)whole.payload, m->payload, m->payload_len);
	return module_load(s, rq, &whole, out);
}

void session_module_free(struct session_module *sm)
{
	free(sm->image);
	free(sm);
}

/*
 * The device memory a module's variables will take, for the memory quota:
 * the most any of its entries declares (the backend loads one of them).
 * Only read when the client has a quota. A corrupt entry is refused here,
 * as the backend would refuse it.
 */
static CUresult module_globals(struct session *s, const Vcuda__Request *rq,
			       const struct vcuda_fatbin *fb, uint64_t *globals)
{
	char why[256];

	*globals = 0;
	if (!s->quota[0] && !s->quota[1])
		return CUDA_SUCCESS;
	for (size_t i = 0; i < fb->n; i++) {
		const struct vcuda_fatbin_entry *e = &fb->entries[i];
		uint8_t *img;
		size_t len;
		uint64_t n = 0;
		int rc;
		if (e->kind != VCUDA_FATBIN_ELF && e->kind != VCUDA_FATBIN_PTX)
			continue;
		if (vcuda_fatbin_extract(e, s->limits->module_bytes, &img, &len, why,
					 sizeof(why)) != 0)
			return session_refuse(s, rq, CUDA_ERROR_INVALID_IMAGE, why);
		rc = e->kind == VCUDA_FATBIN_ELF
			 ? vcuda_globals_from_cubin(img, len, &n, why, sizeof(why))
			 : vcuda_globals_from_ptx((const char *)img, &n, why, sizeof(why));
		free(img);
		if (rc != 0)
			return session_refuse(s, rq, CUDA_ERROR_INVALID_IMAGE, why);
		if (n > *globals)
			*globals = n;
	}
	return CUDA_SUCCESS;
}

/* Loads the fat binary that is m's payload. */
static CUresult module_load(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
			    struct session_reply *out)
{
	struct session_module *sm;
	CUresult rc = session_module_make(s, rq, (uint8_t *)m->payload, m->payload_len, &sm);

	if (rc != CUDA_SUCCESS)
		return rc;
	if ((rc = session_reply_handle(s, rq, VCUDA_HT_MODULE, sm, out)) != CUDA_SUCCESS) {
		session_module_drop(s, sm);
		return rc;
	}
	return rc;
}

CUresult session_module_make(struct session *s, const Vcuda__Request *rq, uint8_t *image,
			     size_t len, struct session_module **out)
{
	struct vcuda_fatbin fb;
	struct session_module *sm;
	char why[256];
	CUresult rc;
	uint64_t bytes, globals = 0;

	/* The driver trusts the bytes it loads; we do not. */
	if (!image || vcuda_fatbin_parse(image, len, &fb, why, sizeof(why)) != 0) {
		free(image);
		return session_refuse(s, rq, CUDA_ERROR_INVALID_IMAGE,
				      image ? why : "no fat binary");
	}
	/* What the backend may decompress is bounded before it sees a byte. */
	bytes = vcuda_fatbin_unpacked_size(&fb) + len;
	if (bytes <= s->limits->module_bytes && (rc = module_globals(s, rq, &fb, &globals)) != 0) {
		vcuda_fatbin_free(&fb);
		free(image);
		return rc;
	}
	vcuda_fatbin_free(&fb);
	if ((rc = session_module_admit(s, rq, bytes)) != CUDA_SUCCESS ||
	    session_quota_charge(s, globals, "module_load (its variables)") != 0) {
		free(image);
		return rc ? rc : CUDA_ERROR_OUT_OF_MEMORY;
	}
	if (!(sm = calloc(1, sizeof(*sm)))) {
		session_quota_credit(s, globals);
		free(image);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	sm->device = rq->device;
	sm->bytes = bytes;
	sm->globals = globals;
	sm->image = image; /* kept: a session image carries it */
	sm->image_len = len;
	if ((rc = s->be->cuModuleLoadData(&sm->m, image)) != CUDA_SUCCESS) {
		session_quota_credit(s, globals);
		session_module_free(sm);
		return rc;
	}
	s->nmodules++;
	s->module_bytes += bytes;
	*out = sm;
	return CUDA_SUCCESS;
}

void session_module_drop(struct session *s, struct session_module *sm)
{
	if (sm->m)
		s->be->cuModuleUnload(sm->m);
	s->nmodules--;
	s->module_bytes -= sm->bytes;
	session_quota_credit(s, sm->globals);
	session_module_free(sm);
}

/* Whether the session may hold one more module of bytes bytes. */
CUresult session_module_admit(struct session *s, const Vcuda__Request *rq, uint64_t bytes)
{
	const struct vcudad_limits *lim = s->limits;
	char why[256];

	if (bytes > lim->module_bytes) {
		snprintf(why, sizeof(why),
			 "a module of %llu bytes decompressed is over the %llu allowed",
			 (unsigned long long)bytes, (unsigned long long)lim->module_bytes);
		return session_refuse(s, rq, CUDA_ERROR_INVALID_IMAGE, why);
	}
	if (s->nmodules >= lim->modules || bytes > lim->session_module_bytes - s->module_bytes) {
		snprintf(why, sizeof(why),
			 "the session holds %u modules of %llu bytes (limits %u, %llu)",
			 s->nmodules, (unsigned long long)s->module_bytes, lim->modules,
			 (unsigned long long)lim->session_module_bytes);
		return session_refuse(s, rq, CUDA_ERROR_OUT_OF_MEMORY, why);
	}
	return CUDA_SUCCESS;
}

CUresult srv_module_unload(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
			   struct session_reply *out)
{
	struct session_module *sm =
	    vcuda_handle_free(&s->handles, VCUDA_HT_MODULE, rq->module_unload->module);
	CUresult rc;

	if (!sm)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_HANDLE, "unknown module");
	/* Its variables stop being memory of the session. */
	for (size_t i = s->mem.n; i-- > 0;)
		if (s->mem.r[i].data == sm)
			vcuda_rangemap_remove(&s->mem, s->mem.r[i].base, NULL);
	rc = s->be->cuModuleUnload(sm->m);
	sm->m = NULL;
	session_module_drop(s, sm);
	return rc;
}

static struct session_module *module_get(struct session *s, const Vcuda__Request *rq, uint64_t id)
{
	struct session_module *sm = vcuda_handle_get(&s->handles, VCUDA_HT_MODULE, id);

	if (!sm || sm->device != rq->device) {
		session_refuse(s, rq, CUDA_ERROR_INVALID_HANDLE, "unknown module");
		return NULL;
	}
	return sm;
}

CUresult srv_module_get_function(struct session *s, const Vcuda__Request *rq,
				 const struct vcuda_msg *m, struct session_reply *out)
{
	struct session_module *sm = module_get(s, rq, rq->module_get_function->module);
	struct session_function *sf;
	CUresult rc;

	if (!sm)
		return CUDA_ERROR_INVALID_HANDLE;
	if (!(sf = calloc(1, sizeof(*sf) + strlen(rq->module_get_function->name) + 1)))
		return CUDA_ERROR_OUT_OF_MEMORY;
	strcpy(sf->name, rq->module_get_function->name);
	sf->module = rq->module_get_function->module;
	sf->device = rq->device;
	if ((rc = s->be->cuModuleGetFunction(&sf->f, sm->m, rq->module_get_function->name)) !=
		CUDA_SUCCESS ||
	    (rc = session_reply_handle(s, rq, VCUDA_HT_FUNCTION, sf, out)) != CUDA_SUCCESS)
		free(sf);
	return rc;
}

/* A module variable becomes memory of the session: copies may target it. */
CUresult srv_module_get_global(struct session *s, const Vcuda__Request *rq,
			       const struct vcuda_msg *m, struct session_reply *out)
{
	struct session_module *sm = module_get(s, rq, rq->module_get_global->module);
	CUdeviceptr dptr;
	size_t size;
	CUresult rc;

	if (!sm)
		return CUDA_ERROR_INVALID_HANDLE;
	if ((rc = s->be->cuModuleGetGlobal(&dptr, &size, sm->m, rq->module_get_global->name)) !=
	    CUDA_SUCCESS)
		return rc;
	if (!vcuda_rangemap_find(&s->mem, dptr)) {
		struct vcuda_range r = {
		    .base = dptr, .size = size, .tag = (uint64_t)rq->device, .data = sm};
		if (vcuda_rangemap_insert(&s->mem, &r) != 0)
			return CUDA_ERROR_OUT_OF_MEMORY;
	}
	session_reply_global(out, dptr, size);
	return CUDA_SUCCESS;
}

void session_reply_global(struct session_reply *out, uint64_t dptr, uint64_t size)
{
	vcuda__global_reply__init(&out->u.global);
	out->u.global.dptr = dptr;
	out->u.global.size = size;
	out->rp.ret_case = VCUDA__REPLY__RET_GLOBAL;
	out->rp.global = &out->u.global;
}

struct session_function *session_function(struct session *s, const Vcuda__Request *rq, uint64_t id)
{
	struct session_function *sf = vcuda_handle_get(&s->handles, VCUDA_HT_FUNCTION, id);

	if (!sf || sf->device != rq->device ||
	    !vcuda_handle_get(&s->handles, VCUDA_HT_MODULE, sf->module)) {
		session_refuse(s, rq, CUDA_ERROR_INVALID_HANDLE, "unknown function");
		return NULL;
	}
	return sf;
}

CUresult srv_func_get_attributes(struct session *s, const Vcuda__Request *rq,
				 const struct vcuda_msg *m, struct session_reply *out)
{
	struct session_function *sf = session_function(s, rq, rq->func_get_attributes->func);

	if (!sf)
		return CUDA_ERROR_INVALID_HANDLE;
	for (int a = 0; a < CU_FUNC_ATTRIBUTE_MAX; a++)
		if (s->be->cuFuncGetAttribute(&out->func_attrs[a], (CUfunction_attribute)a,
					      sf->f) != CUDA_SUCCESS)
			out->func_attrs[a] = -1;
	vcuda__func_attributes_reply__init(&out->u.func_attributes);
	out->u.func_attributes.n_values = CU_FUNC_ATTRIBUTE_MAX;
	out->u.func_attributes.values = out->func_attrs;
	out->rp.ret_case = VCUDA__REPLY__RET_FUNC_ATTRIBUTES;
	out->rp.func_attributes = &out->u.func_attributes;
	return CUDA_SUCCESS;
}

CUresult srv_occupancy(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
		       struct session_reply *out)
{
	const Vcuda__Occupancy *c = rq->occupancy;
	struct session_function *sf = session_function(s, rq, c->func);
	int blocks = 0;
	CUresult rc;

	if (!sf)
		return CUDA_ERROR_INVALID_HANDLE;
	rc = s->be->cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(
	    &blocks, sf->f, c->block_size, (size_t)c->dynamic_smem, c->flags);
	vcuda__occupancy_reply__init(&out->u.occupancy);
	out->u.occupancy.blocks = blocks;
	out->rp.ret_case = VCUDA__REPLY__RET_OCCUPANCY;
	out->rp.occupancy = &out->u.occupancy;
	return rc;
}

/* cuLaunchCooperativeKernel takes one pointer per parameter: into the
 * packed buffer, at the offsets the driver gives. */
static CUresult launch_cooperative(struct session *s, const Vcuda__Request *rq,
				   struct session_function *sf, const struct vcuda_msg *m,
				   CUstream st)
{
	const Vcuda__Launch *c = rq->launch;
	void *args[256];
	size_t off, size, n = 0;

	while (n < 256 && s->be->cuFuncGetParamInfo(sf->f, n, &off, &size) == CUDA_SUCCESS) {
		if (off > m->payload_len || size > m->payload_len - off)
			return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
					      "parameter buffer too small");
		args[n++] = (uint8_t *)m->payload + off;
	}
	return s->be->cuLaunchCooperativeKernel(sf->f, c->grid_x, c->grid_y, c->grid_z, c->block_x,
						c->block_y, c->block_z, c->shared_mem, st,
						n ? args : NULL);
}

CUresult srv_launch(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
		    struct session_reply *out)
{
	const Vcuda__Launch *c = rq->launch;
	struct session_function *sf = session_function(s, rq, c->func);
	size_t size = m->payload_len;
	void *extra[5];
	uint64_t t0;
	CUstream st;
	CUresult rc;
	uint32_t mode;
	int slot = -1;

	if (!sf)
		return CUDA_ERROR_INVALID_HANDLE;
	if ((rc = session_stream(s, rq, c->stream, &st)) != CUDA_SUCCESS)
		return rc;
	/* Device time is shared as the scheduler's mode says (fairshare.h):
	 * exclusive, the kernel runs now, when it is the session's turn, and
	 * its time is charged; paced, it is queued when the session is not
	 * too far ahead, and timed with events; otherwise only counted. */
	s->launched = 1; /* what it prints goes with the next reply */
	mode = s->sched ? s->sched->mode : VCUDA_SCHED_COUNT;
	if (mode == VCUDA_SCHED_EXCLUSIVE)
		vcuda_sched_enter(s->sched, s->sched_slot);
	else if (mode == VCUDA_SCHED_PACED)
		slot = session_paced_begin(s, rq->device, st);
	t0 = vcuda_now_ns();
	/* The driver checks that the buffer covers the kernel's parameters. */
	extra[0] = CU_LAUNCH_PARAM_BUFFER_POINTER;
	extra[1] = (void *)(m->payload ? m->payload : "");
	extra[2] = CU_LAUNCH_PARAM_BUFFER_SIZE;
	extra[3] = &size;
	extra[4] = CU_LAUNCH_PARAM_END;
	if (c->cluster_x || c->cluster_y || c->cluster_z) {
		/* Clusters go with the extended launch, cooperative or not. */
		CUlaunchAttribute attrs[2] = {{.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION},
					      {.id = CU_LAUNCH_ATTRIBUTE_COOPERATIVE}};
		CUlaunchConfig cfg = {.gridDimX = c->grid_x,
				      .gridDimY = c->grid_y,
				      .gridDimZ = c->grid_z,
				      .blockDimX = c->block_x,
				      .blockDimY = c->block_y,
				      .blockDimZ = c->block_z,
				      .sharedMemBytes = c->shared_mem,
				      .hStream = st,
				      .attrs = attrs,
				      .numAttrs = c->cooperative ? 2 : 1};
		attrs[0].value.clusterDim.x = c->cluster_x;
		attrs[0].value.clusterDim.y = c->cluster_y;
		attrs[0].value.clusterDim.z = c->cluster_z;
		attrs[1].value.cooperative = 1;
		rc = s->be->cuLaunchKernelEx(&cfg, sf->f, NULL, extra);
	} else if (c->cooperative) {
		rc = launch_cooperative(s, rq, sf, m, st);
	} else {
		rc = s->be->cuLaunchKernel(sf->f, c->grid_x, c->grid_y, c->grid_z, c->block_x,
					   c->block_y, c->block_z, c->shared_mem, st, NULL, extra);
	}
	if (mode == VCUDA_SCHED_EXCLUSIVE)
		vcuda_sched_leave(s->sched, s->sched_slot, vcuda_now_ns() - t0);
	else if (mode == VCUDA_SCHED_PACED)
		session_paced_end(s, slot, st, rc);
	else if (s->sched)
		vcuda_sched_count(s->sched, s->sched_slot);
	return rc;
}
