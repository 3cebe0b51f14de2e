/*
 * Runtime API: CUDA graphs and stream capture, in the guest.
 *
 * A graph is built here, node by node or by capturing streams, and kept
 * here. Instantiation copies it (so later edits of the graph do not reach
 * the executable graph) and checks it has no cycle. A launch walks the
 * copy in a topological order and queues each node's work on the launch
 * stream as the call it stands for (a kernel launch, a copy, a set, an
 * event record or wait, a host function); those are posted requests, which
 * the client sends together, so a graph of kernels reaches the worker as
 * one batch and runs there in order. Serializing the graph on one stream
 * is one of the orders CUDA allows. Conditional nodes read their condition
 * from device memory when their turn comes (which waits for the stream),
 * and device code sets it with cudaGraphSetConditional, which the CPU
 * device implements as a store to that memory.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda.h>

#include "calls.h"
#include "log.h"
#include "shim.h"

#define GR_MAX_NODES (1u << 20) /* nodes in one graph */

/* Device memory a graph holds (allocation nodes, condition slots), shared
 * by the graph, its clones and its executable copies. */
struct gr_mem {
	int refs;
	void *ptr;
	size_t size; /* allocation nodes' memory, counted in gr_used */
};

/* Bytes graphs hold for their allocation nodes, and the most they held
 * (cudaDeviceGetGraphMemAttribute). */
static size_t gr_used, gr_used_high;

/* A conditional handle: its value lives in 4 bytes of device memory. */
struct gr_cond {
	struct gr_mem *slot;
	unsigned def, flags;
};

struct CUgraph_st {
	struct CUgraphNode_st **nodes;
	size_t n, cap;
	struct gr_cond *conds;
	size_t nconds;
};

struct CUgraphNode_st {
	enum cudaGraphNodeType type;
	struct CUgraph_st *graph;
	struct CUgraphNode_st **deps;
	size_t ndeps;
	const struct CUgraphNode_st *origin; /* in a copy: the node copied */
	int enabled;
	int mark; /* while ordering */
	union {
		struct {
			const void *func;
			dim3 grid, block;
			unsigned shmem;
			uint8_t *args;
			size_t len;
			void *extra[5]; /* args as the driver's extra list */
		} k;
		struct cudaMemcpy3DParms copy;
		struct cudaMemsetParams set;
		struct cudaHostNodeParams host;
		struct CUgraph_st *child;
		cudaEvent_t event;
		struct {
			struct gr_mem *mem;
			size_t size;
			struct cudaMemPoolProps props;
		} alloc;
		void *free_ptr;
		struct {
			cudaGraphConditionalHandle handle;
			enum cudaGraphConditionalNodeType type;
			unsigned size;
			struct CUgraph_st **bodies;
		} cond;
	} u;
};

struct CUgraphExec_st {
	struct CUgraph_st *g; /* the copy it runs */
	unsigned long long flags;
};

static pthread_mutex_t gr_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- graphs and nodes ---------------------------------------------------------------- */

static void gr_mem_put(struct gr_mem *m)
{
	if (m && __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		cudaFree(m->ptr);
		__atomic_sub_fetch(&gr_used, m->size, __ATOMIC_RELAXED);
		free(m);
	}
}

static struct gr_mem *gr_mem_get(struct gr_mem *m)
{
	if (m)
		__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
	return m;
}

static void gr_free(struct CUgraph_st *g);

static void gr_node_free(struct CUgraphNode_st *n)
{
	if (!n)
		return;
	switch (n->type) {
	case cudaGraphNodeTypeKernel:
		free(n->u.k.args);
		break;
	case cudaGraphNodeTypeGraph:
		gr_free(n->u.child);
		break;
	case cudaGraphNodeTypeMemAlloc:
		gr_mem_put(n->u.alloc.mem);
		break;
	case cudaGraphNodeTypeConditional:
		for (unsigned i = 0; i < n->u.cond.size; i++)
			gr_free(n->u.cond.bodies[i]);
		free(n->u.cond.bodies);
		break;
	default:
		break;
	}
	free(n->deps);
	free(n);
}

static void gr_free(struct CUgraph_st *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n; i++)
		gr_node_free(g->nodes[i]);
	for (size_t i = 0; i < g->nconds; i++)
		gr_mem_put(g->conds[i].slot);
	free(g->conds);
	free(g->nodes);
	free(g);
}

static int gr_has(const struct CUgraph_st *g, const struct CUgraphNode_st *n)
{
	return n && n->graph == g;
}

/* Adds dependency d to n (once). */
static cudaError_t gr_dep_add(struct CUgraphNode_st *n, struct CUgraphNode_st *d)
{
	struct CUgraphNode_st **p;

	for (size_t i = 0; i < n->ndeps; i++)
		if (n->deps[i] == d)
			return cudaSuccess;
	if (!(p = realloc(n->deps, (n->ndeps + 1) * sizeof(*p))))
		return cudaErrorMemoryAllocation;
	n->deps = p;
	n->deps[n->ndeps++] = d;
	return cudaSuccess;
}

/* Puts n into g after deps. */
static cudaError_t gr_insert(struct CUgraph_st *g, struct CUgraphNode_st *n,
			     struct CUgraphNode_st *const *deps, size_t ndeps)
{
	cudaError_t e = cudaSuccess;

	if (g->n == GR_MAX_NODES)
		return cudaErrorMemoryAllocation;
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 16;
		struct CUgraphNode_st **p = realloc(g->nodes, cap * sizeof(*p));
		if (!p)
			return cudaErrorMemoryAllocation;
		g->nodes = p;
		g->cap = cap;
	}
	n->graph = g;
	for (size_t i = 0; i < ndeps && e == cudaSuccess; i++)
		e = gr_dep_add(n, deps[i]);
	if (e == cudaSuccess)
		g->nodes[g->n++] = n;
	return e;
}

/* Checks the described node and makes it (not yet in a graph). */
static cudaError_t gr_node_make(const struct cudaGraphNodeParams *p, struct CUgraphNode_st **out)
{
	struct CUgraphNode_st *n = calloc(1, sizeof(*n));
	cudaError_t e = cudaSuccess;

	if (!n)
		return cudaErrorMemoryAllocation;
	n->type = p->type;
	n->enabled = 1;
	switch (p->type) {
	case cudaGraphNodeTypeKernel:
		n->u.k.func = p->kernel.func;
		n->u.k.grid = p->kernel.gridDim;
		n->u.k.block = p->kernel.blockDim;
		n->u.k.shmem = p->kernel.sharedMemBytes;
		e = shim_kernel_pack(p->kernel.func, p->kernel.gridDim, p->kernel.blockDim,
				     p->kernel.sharedMemBytes, p->kernel.kernelParams,
				     p->kernel.extra, &n->u.k.args, &n->u.k.len);
		break;
	case cudaGraphNodeTypeMemcpy:
		if (p->memcpy.flags || (unsigned)p->memcpy.copyParams.kind > cudaMemcpyDefault)
			e = cudaErrorInvalidValue;
		n->u.copy = p->memcpy.copyParams;
		break;
	case cudaGraphNodeTypeMemset:
		if (!p->memset.dst || !p->memset.width || !p->memset.height ||
		    (p->memset.elementSize != 1 && p->memset.elementSize != 2 &&
		     p->memset.elementSize != 4) ||
		    (p->memset.height > 1 &&
		     p->memset.pitch < p->memset.width * p->memset.elementSize))
			e = cudaErrorInvalidValue;
		n->u.set.dst = p->memset.dst;
		n->u.set.pitch = p->memset.pitch;
		n->u.set.value = p->memset.value;
		n->u.set.elementSize = p->memset.elementSize;
		n->u.set.width = p->memset.width;
		n->u.set.height = p->memset.height;
		break;
	case cudaGraphNodeTypeHost:
		if (!p->host.fn)
			e = cudaErrorInvalidValue;
		n->u.host.fn = p->host.fn;
		n->u.host.userData = p->host.userData;
		break;
	case cudaGraphNodeTypeEmpty:
		break;
	case cudaGraphNodeTypeWaitEvent:
	case cudaGraphNodeTypeEventRecord: {
		uint64_t id;
		n->u.event = p->type == cudaGraphNodeTypeWaitEvent ? p->eventWait.event
								   : p->eventRecord.event;
		e = shim_event(n->u.event, &id);
		break;
	}
	case cudaGraphNodeTypeMemFree:
		if (!p->free.dptr)
			e = cudaErrorInvalidValue;
		n->u.free_ptr = p->free.dptr;
		break;
	default:
		e = cudaErrorNotSupported;
		break;
	}
	if (e != cudaSuccess) {
		gr_node_free(n);
		return e;
	}
	*out = n;
	return cudaSuccess;
}

static cudaError_t gr_new(struct CUgraph_st **out)
{
	return (*out = calloc(1, sizeof(**out))) ? cudaSuccess : cudaErrorMemoryAllocation;
}

static cudaError_t gr_clone(const struct CUgraph_st *g, struct CUgraph_st **out);

/* Adds the node described by p to g after deps. */
static cudaError_t gr_add(struct CUgraph_st *g, struct CUgraphNode_st *const *deps, size_t ndeps,
			  struct cudaGraphNodeParams *p, struct CUgraphNode_st **out)
{
	struct CUgraphNode_st *n = NULL;
	cudaError_t e;

	if (!g || !out || (ndeps && !deps))
		return cudaErrorInvalidValue;
	for (size_t i = 0; i < ndeps; i++)
		if (!gr_has(g, deps[i]))
			return cudaErrorInvalidValue;
	switch (p->type) {
	case cudaGraphNodeTypeGraph:
		if (!p->graph.graph)
			return cudaErrorInvalidValue;
		if (!(n = calloc(1, sizeof(*n))))
			return cudaErrorMemoryAllocation;
		n->type = p->type;
		n->enabled = 1;
		if ((e = gr_clone(p->graph.graph, &n->u.child)) != cudaSuccess) {
			free(n);
			return e;
		}
		break;
	case cudaGraphNodeTypeMemAlloc:
		if (!p->alloc.bytesize)
			return cudaErrorInvalidValue;
		if (!(n = calloc(1, sizeof(*n))) ||
		    !(n->u.alloc.mem = calloc(1, sizeof(struct gr_mem)))) {
			free(n);
			return cudaErrorMemoryAllocation;
		}
		n->type = p->type;
		n->enabled = 1;
		n->u.alloc.mem->refs = 1;
		n->u.alloc.size = p->alloc.bytesize;
		n->u.alloc.props = p->alloc.poolProps;
		/* The address is fixed when the node is made, as CUDA fixes it
		 * for every launch: the memory is the graph's from now on. */
		if ((e = cudaMalloc(&n->u.alloc.mem->ptr, p->alloc.bytesize)) != cudaSuccess) {
			gr_node_free(n);
			return e;
		}
		n->u.alloc.mem->size = p->alloc.bytesize;
		{
			size_t used =
			    __atomic_add_fetch(&gr_used, p->alloc.bytesize, __ATOMIC_RELAXED);
			size_t high = __atomic_load_n(&gr_used_high, __ATOMIC_RELAXED);
			while (used > high &&
			       !__atomic_compare_exchange_n(&gr_used_high, &high, used, 0,
							    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
				;
		}
		p->alloc.dptr = n->u.alloc.mem->ptr;
		break;
	case cudaGraphNodeTypeConditional: {
		int known = 0;
		unsigned size = p->conditional.size;
		for (size_t i = 0; i < g->nconds; i++)
			known |= (uintptr_t)g->conds[i].slot->ptr == p->conditional.handle;
		if (!known || (p->conditional.type == cudaGraphCondTypeWhile && size != 1) ||
		    (p->conditional.type == cudaGraphCondTypeIf && size != 1 && size != 2) ||
		    (p->conditional.type == cudaGraphCondTypeSwitch && (size < 1 || size > 1024)) ||
		    (unsigned)p->conditional.type > cudaGraphCondTypeSwitch)
			return cudaErrorInvalidValue;
		if (!(n = calloc(1, sizeof(*n))) ||
		    !(n->u.cond.bodies = calloc(size, sizeof(*n->u.cond.bodies)))) {
			free(n);
			return cudaErrorMemoryAllocation;
		}
		n->type = p->type;
		n->enabled = 1;
		n->u.cond.handle = p->conditional.handle;
		n->u.cond.type = p->conditional.type;
		n->u.cond.size = size;
		for (unsigned i = 0; i < size; i++) {
			if ((e = gr_new(&n->u.cond.bodies[i])) != cudaSuccess) {
				gr_node_free(n);
				return e;
			}
		}
		/* CUDA's own array, valid while the node lives. */
		p->conditional.phGraph_out = n->u.cond.bodies;
		break;
	}
	default:
		if ((e = gr_node_make(p, &n)) != cudaSuccess)
			return e;
		break;
	}
	if ((e = gr_insert(g, n, deps, ndeps)) != cudaSuccess) {
		gr_node_free(n);
		return e;
	}
	*out = n;
	return cudaSuccess;
}

/* A deep copy of g; each copied node knows its origin. */
static cudaError_t gr_clone(const struct CUgraph_st *g, struct CUgraph_st **out)
{
	struct CUgraph_st *c;
	cudaError_t e;

	if ((e = gr_new(&c)) != cudaSuccess)
		return e;
	if (g->nconds && !(c->conds = calloc(g->nconds, sizeof(*c->conds)))) {
		free(c);
		return cudaErrorMemoryAllocation;
	}
	for (size_t i = 0; i < g->nconds; i++) {
		c->conds[i] = g->conds[i];
		gr_mem_get(c->conds[i].slot);
	}
	c->nconds = g->nconds;
	for (size_t i = 0; i < g->n && e == cudaSuccess; i++) {
		const struct CUgraphNode_st *o = g->nodes[i];
		struct CUgraphNode_st *n = malloc(sizeof(*n));
		if (!n) {
			e = cudaErrorMemoryAllocation;
			break;
		}
		*n = *o;
		n->deps = NULL;
		n->ndeps = 0;
		n->origin = o;
		switch (o->type) {
		case cudaGraphNodeTypeKernel:
			if ((n->u.k.args = malloc(o->u.k.len ? o->u.k.len : 1)))
				memcpy(n->u.k.args, o->u.k.args, o->u.k.len);
			else
				e = cudaErrorMemoryAllocation;
			break;
		case cudaGraphNodeTypeGraph:
			e = gr_clone(o->u.child, &n->u.child);
			break;
		case cudaGraphNodeTypeMemAlloc:
			gr_mem_get(n->u.alloc.mem);
			break;
		case cudaGraphNodeTypeConditional:
			if (!(n->u.cond.bodies =
				  calloc(o->u.cond.size, sizeof(*n->u.cond.bodies)))) {
				e = cudaErrorMemoryAllocation;
				n->u.cond.size = 0;
			}
			for (unsigned b = 0; b < n->u.cond.size && e == cudaSuccess; b++)
				e = gr_clone(o->u.cond.bodies[b], &n->u.cond.bodies[b]);
			break;
		default:
			break;
		}
		if (e == cudaSuccess)
			e = gr_insert(c, n, NULL, 0);
		if (e != cudaSuccess)
			gr_node_free(n);
	}
	/* The edges, between the copies. */
	for (size_t i = 0; i < g->n && e == cudaSuccess; i++)
		for (size_t d = 0; d < g->nodes[i]->ndeps && e == cudaSuccess; d++) {
			size_t j = 0;
			while (g->nodes[j] != g->nodes[i]->deps[d])
				j++;
			e = gr_dep_add(c->nodes[i], c->nodes[j]);
		}
	if (e != cudaSuccess) {
		gr_free(c);
		return e;
	}
	*out = c;
	return cudaSuccess;
}

/* ---- running a graph ----------------------------------------------------------------- */

/* Appends n's dependencies, then n, to order (depth first). -1 on a cycle. */
static int gr_visit(struct CUgraphNode_st *n, struct CUgraphNode_st **order, size_t *k)
{
	if (n->mark == 2)
		return 0;
	if (n->mark == 1)
		return -1;
	n->mark = 1;
	for (size_t i = 0; i < n->ndeps; i++)
		if (gr_visit(n->deps[i], order, k) != 0)
			return -1;
	n->mark = 2;
	order[(*k)++] = n;
	return 0;
}

/* The nodes of g in an order that respects every edge (malloc'd). */
static cudaError_t gr_order(struct CUgraph_st *g, struct CUgraphNode_st ***out)
{
	struct CUgraphNode_st **order = malloc((g->n ? g->n : 1) * sizeof(*order));
	size_t k = 0;
	int cycle = 0;

	if (!order)
		return cudaErrorMemoryAllocation;
	for (size_t i = 0; i < g->n; i++)
		g->nodes[i]->mark = 0;
	for (size_t i = 0; i < g->n && !cycle; i++)
		cycle = gr_visit(g->nodes[i], order, &k) != 0;
	if (cycle) {
		free(order);
		return cudaErrorInvalidValue;
	}
	*out = order;
	return cudaSuccess;
}

struct gr_run {
	cudaStream_t s;
	int per_thread;
};

static cudaError_t gr_run(struct CUgraph_st *g, const struct gr_run *r);

static cudaError_t gr_cond_value(cudaGraphConditionalHandle h, const struct gr_run *r, unsigned *v)
{
	cudaError_t e;

	e = r->per_thread ? cudaMemcpyAsync_ptsz(v, (void *)(uintptr_t)h, sizeof(*v),
						 cudaMemcpyDeviceToHost, r->s)
			  : cudaMemcpyAsync(v, (void *)(uintptr_t)h, sizeof(*v),
					    cudaMemcpyDeviceToHost, r->s);
	if (e == cudaSuccess)
		e = r->per_thread ? cudaStreamSynchronize_ptsz(r->s) : cudaStreamSynchronize(r->s);
	return e;
}

static cudaError_t gr_run_cond(const struct CUgraphNode_st *n, const struct gr_run *r)
{
	unsigned v = 0;
	cudaError_t e = gr_cond_value(n->u.cond.handle, r, &v);

	switch (n->u.cond.type) {
	case cudaGraphCondTypeIf:
		if (e == cudaSuccess && (v || n->u.cond.size == 2))
			e = gr_run(n->u.cond.bodies[v ? 0 : 1], r);
		break;
	case cudaGraphCondTypeWhile:
		while (e == cudaSuccess && v) {
			if ((e = gr_run(n->u.cond.bodies[0], r)) == cudaSuccess)
				e = gr_cond_value(n->u.cond.handle, r, &v);
		}
		break;
	default:
		if (e == cudaSuccess && v < n->u.cond.size)
			e = gr_run(n->u.cond.bodies[v], r);
		break;
	}
	return e;
}

static cudaError_t gr_run_memset(const struct cudaMemsetParams *m, const struct gr_run *r)
{
	cudaError_t e = cudaSuccess;

	if (m->elementSize == 1)
		return r->per_thread ? cudaMemset2DAsync_ptsz(m->dst, m->pitch, (int)m->value,
							      m->width, m->height, r->s)
				     : cudaMemset2DAsync(m->dst, m->pitch, (int)m->value, m->width,
							 m->height, r->s);
	/* 2- and 4-byte values: a row at a time. */
	for (size_t y = 0; y < m->height && e == cudaSuccess; y++) {
		Vcuda__Memset q = VCUDA__MEMSET__INIT;
		q.dst = (uintptr_t)m->dst + y * m->pitch;
		q.value = m->value;
		q.elem_size = m->elementSize;
		q.count = m->width;
		q.async = 1;
		if (!shim_memory_on_device((void *)(uintptr_t)q.dst, m->width * m->elementSize))
			return cudaErrorInvalidValue;
		if ((e = shim_stream(r->s, r->per_thread, &q.stream)) != cudaSuccess)
			return e;
		SHIM_REQUEST(rq, MEMSET, memset, q);
		e = shim_post(&rq, NULL, 0, 0, NULL, 0);
	}
	return e;
}

static cudaError_t gr_run_node(const struct CUgraphNode_st *n, const struct gr_run *r)
{
	const struct cudaMemcpy3DParms *c = &n->u.copy;

	switch (n->type) {
	case cudaGraphNodeTypeKernel:
		return shim_kernel_launch_packed(n->u.k.func, n->u.k.grid, n->u.k.block,
						 n->u.k.shmem, n->u.k.args, n->u.k.len, r->s,
						 r->per_thread);
	case cudaGraphNodeTypeMemcpy:
		/* A plain copy (how capture records cudaMemcpyAsync) as one. */
		if (!c->srcArray && !c->dstArray && c->extent.height == 1 && c->extent.depth == 1 &&
		    !c->srcPos.x && !c->dstPos.x && !c->srcPos.y && !c->dstPos.y && !c->srcPos.z &&
		    !c->dstPos.z)
			return r->per_thread ? cudaMemcpyAsync_ptsz(c->dstPtr.ptr, c->srcPtr.ptr,
								    c->extent.width, c->kind, r->s)
					     : cudaMemcpyAsync(c->dstPtr.ptr, c->srcPtr.ptr,
							       c->extent.width, c->kind, r->s);
		return r->per_thread ? cudaMemcpy3DAsync_ptsz(c, r->s) : cudaMemcpy3DAsync(c, r->s);
	case cudaGraphNodeTypeMemset:
		return gr_run_memset(&n->u.set, r);
	case cudaGraphNodeTypeHost:
		return r->per_thread
			   ? cudaLaunchHostFunc_ptsz(r->s, n->u.host.fn, n->u.host.userData)
			   : cudaLaunchHostFunc(r->s, n->u.host.fn, n->u.host.userData);
	case cudaGraphNodeTypeGraph:
		return gr_run(n->u.child, r);
	case cudaGraphNodeTypeWaitEvent:
		return r->per_thread ? cudaStreamWaitEvent_ptsz(r->s, n->u.event, 0)
				     : cudaStreamWaitEvent(r->s, n->u.event, 0);
	case cudaGraphNodeTypeEventRecord:
		return r->per_thread ? cudaEventRecord_ptsz(n->u.event, r->s)
				     : cudaEventRecord(n->u.event, r->s);
	case cudaGraphNodeTypeConditional:
		return gr_run_cond(n, r);
	default: /* empty, and allocations (made with the node) and frees */
		return cudaSuccess;
	}
}

/* Sets the conditions that ask for it to their default value. */
static cudaError_t gr_run_defaults(const struct CUgraph_st *g, const struct gr_run *r)
{
	cudaError_t e = cudaSuccess;

	for (size_t i = 0; i < g->nconds && e == cudaSuccess; i++) {
		if (!(g->conds[i].flags & cudaGraphCondAssignDefault))
			continue;
		e = r->per_thread
			? cudaMemcpyAsync_ptsz(g->conds[i].slot->ptr, &g->conds[i].def,
					       sizeof(unsigned), cudaMemcpyHostToDevice, r->s)
			: cudaMemcpyAsync(g->conds[i].slot->ptr, &g->conds[i].def, sizeof(unsigned),
					  cudaMemcpyHostToDevice, r->s);
	}
	return e;
}

static cudaError_t gr_run(struct CUgraph_st *g, const struct gr_run *r)
{
	struct CUgraphNode_st **order;
	cudaError_t e = gr_order(g, &order);

	if (e != cudaSuccess)
		return e;
	e = gr_run_defaults(g, r);
	for (size_t i = 0; i < g->n && e == cudaSuccess; i++)
		if (order[i]->enabled)
			e = gr_run_node(order[i], r);
	free(order);
	return e;
}

/* ---- capture ------------------------------------------------------------------------- */

/* A capture in progress, and each stream taking part in it. */
struct gr_capture {
	struct CUgraph_st *g;
	unsigned long long id;
	enum cudaStreamCaptureMode mode;
	uint64_t origin;
	int streams; /* taking part */
	int own;     /* g was made by the capture (not ToGraph) */
	int invalid; /* an operation was refused: EndCapture fails */
};

struct gr_stream {
	uint64_t stream, event; /* a captured stream, or an event recorded in one */
	struct gr_capture *cap;
	struct CUgraphNode_st **deps;
	size_t ndeps;
};

static struct {
	struct gr_stream *s;
	size_t n, cap;
	int capturing; /* atomic: streams captured now */
	unsigned long long next_id;
} cap;

static __thread enum cudaStreamCaptureMode capture_mode = cudaStreamCaptureModeGlobal;

/* The entry of a stream (event 0) or of an event (stream 0). gr_lock held. */
static struct gr_stream *gr_entry(uint64_t stream, uint64_t event)
{
	for (size_t i = 0; i < cap.n; i++)
		if (cap.s[i].stream == stream && cap.s[i].event == event)
			return &cap.s[i];
	return NULL;
}

static void gr_entry_drop(struct gr_stream *e)
{
	if (e->stream) {
		e->cap->streams--;
		__atomic_sub_fetch(&cap.capturing, 1, __ATOMIC_RELAXED);
	}
	free(e->deps);
	*e = cap.s[--cap.n];
}

static cudaError_t gr_entry_new(uint64_t stream, uint64_t event, struct gr_capture *c,
				struct CUgraphNode_st *const *deps, size_t ndeps,
				struct gr_stream **out)
{
	struct gr_stream *e;

	if (cap.n == cap.cap) {
		size_t n = cap.cap ? 2 * cap.cap : 16;
		struct gr_stream *p = realloc(cap.s, n * sizeof(*p));
		if (!p)
			return cudaErrorMemoryAllocation;
		cap.s = p;
		cap.cap = n;
	}
	e = &cap.s[cap.n];
	*e = (struct gr_stream){.stream = stream, .event = event, .cap = c};
	if (ndeps && !(e->deps = malloc(ndeps * sizeof(*deps))))
		return cudaErrorMemoryAllocation;
	if (ndeps)
		memcpy(e->deps, deps, ndeps * sizeof(*deps));
	e->ndeps = ndeps;
	cap.n++;
	if (stream) {
		c->streams++;
		__atomic_add_fetch(&cap.capturing, 1, __ATOMIC_RELAXED);
	}
	*out = e;
	return cudaSuccess;
}

/* Replaces an entry's dependencies with deps (or adds them). */
static cudaError_t gr_entry_deps(struct gr_stream *e, struct CUgraphNode_st *const *deps,
				 size_t ndeps, int add)
{
	size_t n = add ? e->ndeps : 0;
	struct CUgraphNode_st **p = malloc((n + ndeps ? n + ndeps : 1) * sizeof(*p));

	if (!p)
		return cudaErrorMemoryAllocation;
	if (n)
		memcpy(p, e->deps, n * sizeof(*p));
	for (size_t i = 0; i < ndeps; i++) {
		size_t j = 0;
		while (j < n && p[j] != deps[i])
			j++;
		if (j == n)
			p[n++] = deps[i];
	}
	free(e->deps);
	e->deps = p;
	e->ndeps = n;
	return cudaSuccess;
}

int shim_graph_capturing(uint64_t stream)
{
	int yes;

	if (!__atomic_load_n(&cap.capturing, __ATOMIC_RELAXED))
		return 0;
	pthread_mutex_lock(&gr_lock);
	yes = gr_entry(stream, 0) != NULL;
	pthread_mutex_unlock(&gr_lock);
	return yes;
}

cudaError_t shim_graph_capture(uint64_t stream, struct cudaGraphNodeParams *np)
{
	struct gr_stream *s;
	struct CUgraphNode_st *n;
	cudaError_t e;

	pthread_mutex_lock(&gr_lock);
	if (!(s = gr_entry(stream, 0))) {
		e = cudaErrorIllegalState;
	} else if ((e = gr_add(s->cap->g, s->deps, s->ndeps, np, &n)) == cudaSuccess) {
		e = gr_entry_deps(s, &n, 1, 0);
	} else {
		s->cap->invalid = 1; /* as CUDA invalidates a capture on error */
	}
	pthread_mutex_unlock(&gr_lock);
	return e;
}

int shim_graph_scalar(uint32_t op, const uint64_t *in, cudaError_t *e)
{
	struct gr_stream *s, *ev;
	uint64_t stream;

	if (!__atomic_load_n(&cap.capturing, __ATOMIC_RELAXED))
		return 0;
	switch (op) {
	case VCUDA_OP_event_record:
	case VCUDA_OP_event_record_with_flags:
		stream = in[1];
		break;
	case VCUDA_OP_stream_wait_event:
	case VCUDA_OP_stream_synchronize:
	case VCUDA_OP_stream_query:
		stream = in[0];
		break;
	default:
		return 0;
	}
	pthread_mutex_lock(&gr_lock);
	s = gr_entry(stream, 0);
	*e = cudaSuccess;
	switch (op) {
	case VCUDA_OP_event_record:
	case VCUDA_OP_event_record_with_flags:
		/* Recorded in a capture: a wait on it joins the capture. */
		if ((ev = gr_entry(0, in[0])) != NULL)
			gr_entry_drop(ev);
		if (s)
			*e = gr_entry_new(0, in[0], s->cap, s->deps, s->ndeps, &ev);
		break;
	case VCUDA_OP_stream_wait_event:
		ev = gr_entry(0, in[1]);
		if (!ev && !s)
			break; /* not captured: the call goes to the server */
		if (!ev) {
			/* An event from outside the capture: nothing to wait for
			 * inside the graph. */
			*e = cudaErrorStreamCaptureIsolation;
			s->cap->invalid = 1;
		} else if (!s) {
			*e = gr_entry_new(stream, 0, ev->cap, ev->deps, ev->ndeps, &s);
		} else if (s->cap != ev->cap) {
			*e = cudaErrorStreamCaptureIsolation;
		} else {
			*e = gr_entry_deps(s, ev->deps, ev->ndeps, 1);
		}
		pthread_mutex_unlock(&gr_lock);
		return 1;
	default: /* synchronize, query: not while captured */
		if (s) {
			s->cap->invalid = 1;
			*e = cudaErrorStreamCaptureUnsupported;
		}
		break;
	}
	pthread_mutex_unlock(&gr_lock);
	/* An event recorded outside any capture still goes to the server. */
	return s != NULL;
}

static cudaError_t gr_begin(cudaStream_t stream, int per_thread, struct CUgraph_st *into,
			    struct CUgraphNode_st *const *deps, size_t ndeps,
			    enum cudaStreamCaptureMode mode)
{
	struct gr_capture *c;
	struct gr_stream *s;
	uint64_t id;
	cudaError_t e = shim_begin();

	if (e || (e = shim_stream(stream, per_thread, &id)) != cudaSuccess)
		return shim_ret(e);
	if ((unsigned)mode > cudaStreamCaptureModeRelaxed || (ndeps && !deps))
		return shim_ret(cudaErrorInvalidValue);
	/* The legacy default stream cannot be captured. */
	if (id == 0 || id == 1)
		return shim_ret(cudaErrorStreamCaptureUnsupported);
	for (size_t i = 0; i < ndeps; i++)
		if (!gr_has(into, deps[i]))
			return shim_ret(cudaErrorInvalidValue);
	if (!(c = calloc(1, sizeof(*c))))
		return shim_ret(cudaErrorMemoryAllocation);
	if (!into && (e = gr_new(&c->g)) != cudaSuccess) {
		free(c);
		return shim_ret(e);
	}
	c->own = !into;
	if (into)
		c->g = into;
	c->mode = mode;
	c->origin = id;
	pthread_mutex_lock(&gr_lock);
	c->id = ++cap.next_id;
	if (gr_entry(id, 0))
		e = cudaErrorIllegalState; /* already captured */
	else
		e = gr_entry_new(id, 0, c, deps, ndeps, &s);
	pthread_mutex_unlock(&gr_lock);
	if (e != cudaSuccess) {
		if (c->own)
			gr_free(c->g);
		free(c);
	}
	return shim_ret(e);
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, enum cudaStreamCaptureMode mode)
{
	return gr_begin(stream, 0, NULL, NULL, 0, mode);
}

cudaError_t cudaStreamBeginCapture_ptsz(cudaStream_t stream, enum cudaStreamCaptureMode mode);
cudaError_t cudaStreamBeginCapture_ptsz(cudaStream_t stream, enum cudaStreamCaptureMode mode)
{
	return gr_begin(stream, 1, NULL, NULL, 0, mode);
}

cudaError_t cudaStreamBeginCaptureToGraph(cudaStream_t stream, cudaGraph_t graph,
					  const cudaGraphNode_t *deps,
					  const cudaGraphEdgeData *edges, size_t ndeps,
					  enum cudaStreamCaptureMode mode)
{
	(void)edges; /* default edges only: others change nothing here */
	if (!graph)
		return shim_ret(cudaErrorInvalidValue);
	return gr_begin(stream, 0, graph, deps, ndeps, mode);
}

cudaError_t cudaStreamBeginCaptureToGraph_ptsz(cudaStream_t stream, cudaGraph_t graph,
					       const cudaGraphNode_t *deps,
					       const cudaGraphEdgeData *edges, size_t ndeps,
					       enum cudaStreamCaptureMode mode);
cudaError_t cudaStreamBeginCaptureToGraph_ptsz(cudaStream_t stream, cudaGraph_t graph,
					       const cudaGraphNode_t *deps,
					       const cudaGraphEdgeData *edges, size_t ndeps,
					       enum cudaStreamCaptureMode mode)
{
	(void)edges;
	if (!graph)
		return shim_ret(cudaErrorInvalidValue);
	return gr_begin(stream, 1, graph, deps, ndeps, mode);
}

static cudaError_t gr_end(cudaStream_t stream, int per_thread, cudaGraph_t *out)
{
	struct gr_stream *s;
	struct gr_capture *c = NULL;
	uint64_t id;
	cudaError_t e = shim_begin();

	if (e || (e = shim_stream(stream, per_thread, &id)) != cudaSuccess)
		return shim_ret(e);
	if (!out)
		return shim_ret(cudaErrorInvalidValue);
	pthread_mutex_lock(&gr_lock);
	if (!(s = gr_entry(id, 0))) {
		e = cudaErrorIllegalState;
	} else if (s->cap->origin != id) {
		e = cudaErrorStreamCaptureUnmatched;
	} else {
		/* Every stream and event of the capture leaves it. */
		c = s->cap;
		for (size_t i = cap.n; i-- > 0;)
			if (cap.s[i].cap == c)
				gr_entry_drop(&cap.s[i]);
	}
	pthread_mutex_unlock(&gr_lock);
	if (!c)
		return shim_ret(e);
	if (c->invalid) {
		if (c->own)
			gr_free(c->g);
		*out = NULL;
		e = cudaErrorStreamCaptureInvalidated;
	} else {
		*out = c->g;
	}
	free(c);
	return shim_ret(e);
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *out)
{
	return gr_end(stream, 0, out);
}

cudaError_t cudaStreamEndCapture_ptsz(cudaStream_t stream, cudaGraph_t *out);
cudaError_t cudaStreamEndCapture_ptsz(cudaStream_t stream, cudaGraph_t *out)
{
	return gr_end(stream, 1, out);
}

static cudaError_t gr_info(cudaStream_t stream, int per_thread,
			   enum cudaStreamCaptureStatus *status, unsigned long long *id_out,
			   cudaGraph_t *graph, const cudaGraphNode_t **deps,
			   const cudaGraphEdgeData **edges, size_t *ndeps)
{
	struct gr_stream *s;
	uint64_t id;
	cudaError_t e = shim_begin();

	if (e || (e = shim_stream(stream, per_thread, &id)) != cudaSuccess)
		return shim_ret(e);
	if (!status)
		return shim_ret(cudaErrorInvalidValue);
	pthread_mutex_lock(&gr_lock);
	s = gr_entry(id, 0);
	*status = !s		    ? cudaStreamCaptureStatusNone
		  : s->cap->invalid ? cudaStreamCaptureStatusInvalidated
				    : cudaStreamCaptureStatusActive;
	if (s && id_out)
		*id_out = s->cap->id;
	if (graph)
		*graph = s ? s->cap->g : NULL;
	if (deps)
		*deps = s ? (const cudaGraphNode_t *)s->deps : NULL;
	if (edges)
		*edges = NULL; /* every edge is a default one */
	if (ndeps)
		*ndeps = s ? s->ndeps : 0;
	pthread_mutex_unlock(&gr_lock);
	return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t s, enum cudaStreamCaptureStatus *status)
{
	return gr_info(s, 0, status, NULL, NULL, NULL, NULL, NULL);
}

cudaError_t cudaStreamIsCapturing_ptsz(cudaStream_t s, enum cudaStreamCaptureStatus *status)
{
	return gr_info(s, 1, status, NULL, NULL, NULL, NULL, NULL);
}

cudaError_t cudaStreamGetCaptureInfo(cudaStream_t s, enum cudaStreamCaptureStatus *status,
				     unsigned long long *id, cudaGraph_t *graph,
				     const cudaGraphNode_t **deps, const cudaGraphEdgeData **edges,
				     size_t *ndeps)
{
	return gr_info(s, 0, status, id, graph, deps, edges, ndeps);
}

cudaError_t cudaStreamGetCaptureInfo_ptsz(cudaStream_t s, enum cudaStreamCaptureStatus *status,
					  unsigned long long *id, cudaGraph_t *graph,
					  const cudaGraphNode_t **deps,
					  const cudaGraphEdgeData **edges, size_t *ndeps);
cudaError_t cudaStreamGetCaptureInfo_ptsz(cudaStream_t s, enum cudaStreamCaptureStatus *status,
					  unsigned long long *id, cudaGraph_t *graph,
					  const cudaGraphNode_t **deps,
					  const cudaGraphEdgeData **edges, size_t *ndeps)
{
	return gr_info(s, 1, status, id, graph, deps, edges, ndeps);
}

static cudaError_t gr_update_deps(cudaStream_t stream, int per_thread, cudaGraphNode_t *deps,
				  size_t ndeps, unsigned flags)
{
	struct gr_stream *s;
	uint64_t id;
	cudaError_t e = shim_begin();

	if (e || (e = shim_stream(stream, per_thread, &id)) != cudaSuccess)
		return shim_ret(e);
	if ((ndeps && !deps) || (flags != cudaStreamAddCaptureDependencies &&
				 flags != cudaStreamSetCaptureDependencies))
		return shim_ret(cudaErrorInvalidValue);
	pthread_mutex_lock(&gr_lock);
	if (!(s = gr_entry(id, 0)))
		e = cudaErrorIllegalState;
	for (size_t i = 0; i < ndeps && e == cudaSuccess; i++)
		if (!gr_has(s->cap->g, deps[i]))
			e = cudaErrorInvalidValue;
	if (e == cudaSuccess)
		e = gr_entry_deps(s, deps, ndeps, flags == cudaStreamAddCaptureDependencies);
	pthread_mutex_unlock(&gr_lock);
	return shim_ret(e);
}

cudaError_t cudaStreamUpdateCaptureDependencies(cudaStream_t s, cudaGraphNode_t *deps,
						const cudaGraphEdgeData *edges, size_t ndeps,
						unsigned int flags)
{
	(void)edges;
	return gr_update_deps(s, 0, deps, ndeps, flags);
}

cudaError_t cudaStreamUpdateCaptureDependencies_ptsz(cudaStream_t s, cudaGraphNode_t *deps,
						     const cudaGraphEdgeData *edges, size_t ndeps,
						     unsigned int flags);
cudaError_t cudaStreamUpdateCaptureDependencies_ptsz(cudaStream_t s, cudaGraphNode_t *deps,
						     const cudaGraphEdgeData *edges, size_t ndeps,
						     unsigned int flags)
{
	(void)edges;
	return gr_update_deps(s, 1, deps, ndeps, flags);
}

cudaError_t cudaThreadExchangeStreamCaptureMode(enum cudaStreamCaptureMode *mode)
{
	enum cudaStreamCaptureMode old;

	if (!mode || (unsigned)*mode > cudaStreamCaptureModeRelaxed)
		return shim_ret(cudaErrorInvalidValue);
	old = capture_mode;
	capture_mode = *mode;
	*mode = old;
	return cudaSuccess;
}

/* CUDA's older parameter structs as the one cudaGraphAddNode takes. */
static struct cudaGraphNodeParams gr_kernel_params(const struct cudaKernelNodeParams *k)
{
	struct cudaGraphNodeParams p = {.type = cudaGraphNodeTypeKernel};

	p.kernel.func = k->func;
	p.kernel.gridDim = k->gridDim;
	p.kernel.blockDim = k->blockDim;
	p.kernel.sharedMemBytes = k->sharedMemBytes;
	p.kernel.kernelParams = k->kernelParams;
	p.kernel.extra = k->extra;
	return p;
}

static struct cudaGraphNodeParams gr_memset_params(const struct cudaMemsetParams *m)
{
	struct cudaGraphNodeParams p = {.type = cudaGraphNodeTypeMemset};

	p.memset.dst = m->dst;
	p.memset.pitch = m->pitch;
	p.memset.value = m->value;
	p.memset.elementSize = m->elementSize;
	p.memset.width = m->width;
	p.memset.height = m->height;
	return p;
}

static struct cudaGraphNodeParams gr_copy_params(void *dst, const void *src, size_t n,
						 enum cudaMemcpyKind kind)
{
	struct cudaGraphNodeParams p = {.type = cudaGraphNodeTypeMemcpy};

	shim_copy_1d(&p.memcpy.copyParams, dst, src, n, kind);
	return p;
}

/* ---- the graph API ------------------------------------------------------------------- */

cudaError_t cudaGraphCreate(cudaGraph_t *graph, unsigned int flags)
{
	if (!graph || flags)
		return shim_ret(cudaErrorInvalidValue);
	return shim_ret(gr_new(graph));
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph)
{
	if (!graph)
		return shim_ret(cudaErrorInvalidValue);
	gr_free(graph);
	return cudaSuccess;
}

cudaError_t cudaGraphClone(cudaGraph_t *out, cudaGraph_t graph)
{
	if (!out || !graph)
		return shim_ret(cudaErrorInvalidValue);
	return shim_ret(gr_clone(graph, out));
}

cudaError_t cudaGraphNodeFindInClone(cudaGraphNode_t *out, cudaGraphNode_t node, cudaGraph_t clone)
{
	if (!out || !node || !clone)
		return shim_ret(cudaErrorInvalidValue);
	for (size_t i = 0; i < clone->n; i++)
		if (clone->nodes[i]->origin == node) {
			*out = clone->nodes[i];
			return cudaSuccess;
		}
	return shim_ret(cudaErrorInvalidValue);
}

cudaError_t cudaGraphAddNode(cudaGraphNode_t *out, cudaGraph_t graph, const cudaGraphNode_t *deps,
			     const cudaGraphEdgeData *edges, size_t ndeps,
			     struct cudaGraphNodeParams *p)
{
	(void)edges;
	if (!p)
		return shim_ret(cudaErrorInvalidValue);
	return shim_ret(gr_add(graph, deps, ndeps, p, out));
}

cudaError_t cudaGraphAddKernelNode(cudaGraphNode_t *out, cudaGraph_t graph,
				   const cudaGraphNode_t *deps, size_t ndeps,
				   const struct cudaKernelNodeParams *k)
{
	struct cudaGraphNodeParams p;

	if (!k)
		return shim_ret(cudaErrorInvalidValue);
	p = gr_kernel_params(k);
	return shim_ret(gr_add(graph, deps, ndeps, &p, out));
}

cudaError_t cudaGraphAddMemcpyNode(cudaGraphNode_t *out, cudaGraph_t graph,
				   const cudaGraphNode_t *deps, size_t ndeps,
				   const struct cudaMemcpy3DParms *c)
{
	struct cudaGraphNodeParams p = {.type = cudaGraphNodeTypeMemcpy};

	if (!c)
		return shim_ret(cudaErrorInvalidValue);
	p.memcpy.copyParams = *c;
	return shim_ret(gr_add(graph, deps, ndeps, &p, out));
}

cudaError_t cudaGraphAddMemcpyNode1D(cudaGraphNode_t *out, cudaGraph_t graph,
				     const cudaGraphNode_t *deps, size_t ndeps, void *dst,
				     const void *src, size_t n, enum cudaMemcpyKind kind)
{
	struct cudaGraphNodeParams p = gr_copy_params(dst, src, n, kind);

	return shim_ret(gr_add(graph, deps, ndeps, &p, out));
}

/* A copy to or from a module variable: a plain copy at its address. */
static cudaError_t gr_symbol_copy(struct cudaGraphNodeParams *p, void *dst, const void *src,
				  const void *symbol, size_t n, size_t offset,
				  enum cudaMemcpyKind kind, int to_symbol)
{
	void *at;
	size_t size;
	cudaError_t e;

	if ((e = cudaGetSymbolAddress(&at, symbol)) != cudaSuccess ||
	    (e = cudaGetSymbolSize(&size, symbol)) != cudaSuccess)
		return e;
	if (offset > size || n > size - offset)
		return cudaErrorInvalidValue;
	if (to_symbol)
		dst = (char *)at + offset;
	else
		src = (const char *)at + offset;
	*p = gr_copy_params(dst, src, n, kind);
	return cudaSuccess;
}

cudaError_t cudaGraphAddMemcpyNodeToSymbol(cudaGraphNode_t *out, cudaGraph_t graph,
					   const cudaGraphNode_t *deps, size_t ndeps,
					   const void *symbol, const void *src, size_t n,
					   size_t offset, enum cudaMemcpyKind kind)
{
	struct cudaGraphNodeParams p;
	cudaError_t e = gr_symbol_copy(&p, NULL, src, symbol, n, offset, kind, 1);

	return shim_ret(e ? e : gr_add(graph, deps, ndeps, &p, out));
}

cudaError_t cudaGraphAddMemcpyNodeFromSymbol(cudaGraphNode_t *out, cudaGraph_t graph,
					     const cudaGraphNode_t *deps, size_t ndeps, void *dst,
					     const void *symbol, size_t n, size_t offset,
					     enum cudaMemcpyKind kind)
{
	struct cudaGraphNodeParams p;
	cudaError_t e = gr_symbol_copy(&p, dst, NULL, symbol, n, offset, kind, 0);

	return shim_ret(e ? e : gr_add(graph, deps, ndeps, &p, out));
}

cudaError_t cudaGraphAddMemsetNode(cudaGraphNode_t *out, cudaGraph_t graph,
				   const cudaGraphNode_t *deps, size_t ndeps,
				   const struct cudaMemsetParams *m)
{
	struct cudaGraphNodeParams p;

	if (!m)
		return shim_ret(cudaErrorInvalidValue);
	p = gr_memset_params(m);
	return shim_ret(gr_add(graph, deps, ndeps, &p, out));
}

cudaError_t cudaGraphAddHostNode(cudaGraphNode_t *out, cudaGraph_t graph,
				 const cudaGraphNode_t *deps, size_t ndeps,
				 const struct cudaHostNodeParams *h)
{
	struct cudaGraphNodeParams p = {.type = cudaGraphNodeTypeHost};

	if (!h)
		return shim_ret(cudaErrorInvalidValue);
	p.host.fn = h->fn;
	p.host.userData = h->userData;
	return shim_ret(gr_add(graph, deps, ndeps, &p, out));
}

cudaError_t cudaGraphAddChildGraphNode(cudaGraphNode_t *out, cudaGraph_t graph,
				       const cudaGraphNode_t *deps, size_t ndeps, cudaGraph_t child)
{
	struct cudaGraphNodeParams p = {.type = cudaGraphNodeTypeGraph};

	p.graph.graph = child;
	return shim_ret(gr_add(graph, deps, ndeps, &p, out));
}

cudaError_t cudaGraphAddEmptyNode(cudaGraphNode_t *out, cudaGraph_t graph,
				  const cudaGraphNode_t *deps, size_t ndeps)
{
	struct cudaGraphNodeParams p = {.type = cudaGraphNodeTypeEmpty};

	return shim_ret(gr_add(graph, deps, ndeps, &p, out));
}

cudaError_t cudaGraphAddEventRecordNode(cudaGraphNode_t *out, cudaGraph_t graph,
					const cudaGraphNode_t *deps, size_t ndeps, cudaEvent_t ev)
{
	struct cudaGraphNodeParams p = {.type = cudaGraphNodeTypeEventRecord};

	p.eventRecord.event = ev;
	return shim_ret(gr_add(graph, deps, ndeps, &p, out));
}

cudaError_t cudaGraphAddEventWaitNode(cudaGraphNode_t *out, cudaGraph_t graph,
				      const cudaGraphNode_t *deps, size_t ndeps, cudaEvent_t ev)
{
	struct cudaGraphNodeParams p = {.type = cudaGraphNodeTypeWaitEvent};

	p.eventWait.event = ev;
	return shim_ret(gr_add(graph, deps, ndeps, &p, out));
}

cudaError_t cudaGraphAddMemAllocNode(cudaGraphNode_t *out, cudaGraph_t graph,
				     const cudaGraphNode_t *deps, size_t ndeps,
				     struct cudaMemAllocNodeParams *a)
{
	struct cudaGraphNodeParams p = {.type = cudaGraphNodeTypeMemAlloc};
	cudaError_t e;

	if (!a)
		return shim_ret(cudaErrorInvalidValue);
	p.alloc.poolProps = a->poolProps;
	p.alloc.bytesize = a->bytesize;
	if ((e = gr_add(graph, deps, ndeps, &p, out)) == cudaSuccess)
		a->dptr = p.alloc.dptr;
	return shim_ret(e);
}

cudaError_t cudaGraphAddMemFreeNode(cudaGraphNode_t *out, cudaGraph_t graph,
				    const cudaGraphNode_t *deps, size_t ndeps, void *dptr)
{
	struct cudaGraphNodeParams p = {.type = cudaGraphNodeTypeMemFree};

	p.free.dptr = dptr;
	return shim_ret(gr_add(graph, deps, ndeps, &p, out));
}

cudaError_t cudaGraphConditionalHandleCreate(cudaGraphConditionalHandle *out, cudaGraph_t graph,
					     unsigned int def, unsigned int flags)
{
	struct gr_cond *c;
	struct gr_mem *m;
	cudaError_t e;

	if (!out || !graph || (flags & ~(unsigned)cudaGraphCondAssignDefault))
		return shim_ret(cudaErrorInvalidValue);
	if (!(m = calloc(1, sizeof(*m))))
		return shim_ret(cudaErrorMemoryAllocation);
	m->refs = 1;
	if ((e = cudaMalloc(&m->ptr, sizeof(unsigned))) != cudaSuccess) {
		free(m);
		return shim_ret(e);
	}
	/* The value before any launch: the default, or 0. */
	if ((e = cudaMemcpy(m->ptr, &def, sizeof(def), cudaMemcpyHostToDevice)) != cudaSuccess ||
	    !(c = realloc(graph->conds, (graph->nconds + 1) * sizeof(*c)))) {
		gr_mem_put(m);
		return shim_ret(e ? e : cudaErrorMemoryAllocation);
	}
	graph->conds = c;
	graph->conds[graph->nconds++] = (struct gr_cond){.slot = m, .def = def, .flags = flags};
	*out = (uintptr_t)m->ptr;
	return cudaSuccess;
}

/* ---- queries and edits --------------------------------------------------------------- */

cudaError_t cudaGraphNodeGetType(cudaGraphNode_t node, enum cudaGraphNodeType *type)
{
	if (!node || !type)
		return shim_ret(cudaErrorInvalidValue);
	*type = node->type;
	return cudaSuccess;
}

/* Copies list (n entries) out as CUDA's query calls do: out NULL asks
 * for the count. */
static cudaError_t gr_list(struct CUgraphNode_st *const *list, size_t n, cudaGraphNode_t *out,
			   cudaGraphEdgeData *edges, size_t *count)
{
	if (!count)
		return shim_ret(cudaErrorInvalidValue);
	if (out) {
		size_t k = n < *count ? n : *count;
		for (size_t i = 0; i < *count; i++) {
			out[i] = i < k ? list[i] : NULL;
			if (edges)
				memset(&edges[i], 0, sizeof(*edges));
		}
		if (n < *count)
			*count = n;
		return cudaSuccess;
	}
	*count = n;
	return cudaSuccess;
}

cudaError_t cudaGraphGetNodes(cudaGraph_t graph, cudaGraphNode_t *nodes, size_t *n)
{
	if (!graph)
		return shim_ret(cudaErrorInvalidValue);
	return gr_list(graph->nodes, graph->n, nodes, NULL, n);
}

cudaError_t cudaGraphGetRootNodes(cudaGraph_t graph, cudaGraphNode_t *nodes, size_t *n)
{
	struct CUgraphNode_st **roots;
	size_t k = 0;
	cudaError_t e;

	if (!graph)
		return shim_ret(cudaErrorInvalidValue);
	if (!(roots = malloc((graph->n ? graph->n : 1) * sizeof(*roots))))
		return shim_ret(cudaErrorMemoryAllocation);
	for (size_t i = 0; i < graph->n; i++)
		if (!graph->nodes[i]->ndeps)
			roots[k++] = graph->nodes[i];
	e = gr_list(roots, k, nodes, NULL, n);
	free(roots);
	return e;
}

cudaError_t cudaGraphGetEdges(cudaGraph_t graph, cudaGraphNode_t *from, cudaGraphNode_t *to,
			      cudaGraphEdgeData *edges, size_t *n)
{
	size_t k = 0;

	if (!graph || !n || (!from != !to))
		return shim_ret(cudaErrorInvalidValue);
	for (size_t i = 0; i < graph->n; i++)
		for (size_t d = 0; d < graph->nodes[i]->ndeps; d++, k++)
			if (from && k < *n) {
				from[k] = graph->nodes[i]->deps[d];
				to[k] = graph->nodes[i];
				if (edges)
					memset(&edges[k], 0, sizeof(*edges));
			}
	if (from)
		for (size_t i = k; i < *n; i++)
			from[i] = to[i] = NULL;
	*n = from && k > *n ? *n : k;
	return cudaSuccess;
}

cudaError_t cudaGraphNodeGetDependencies(cudaGraphNode_t node, cudaGraphNode_t *deps,
					 cudaGraphEdgeData *edges, size_t *n)
{
	if (!node)
		return shim_ret(cudaErrorInvalidValue);
	return gr_list(node->deps, node->ndeps, deps, edges, n);
}

cudaError_t cudaGraphNodeGetDependentNodes(cudaGraphNode_t node, cudaGraphNode_t *out,
					   cudaGraphEdgeData *edges, size_t *n)
{
	struct CUgraphNode_st **list;
	const struct CUgraph_st *g;
	size_t k = 0;
	cudaError_t e;

	if (!node)
		return shim_ret(cudaErrorInvalidValue);
	g = node->graph;
	if (!(list = malloc((g->n ? g->n : 1) * sizeof(*list))))
		return shim_ret(cudaErrorMemoryAllocation);
	for (size_t i = 0; i < g->n; i++)
		for (size_t d = 0; d < g->nodes[i]->ndeps; d++)
			if (g->nodes[i]->deps[d] == node)
				list[k++] = g->nodes[i];
	e = gr_list(list, k, out, edges, n);
	free(list);
	return e;
}

cudaError_t cudaGraphAddDependencies(cudaGraph_t graph, const cudaGraphNode_t *from,
				     const cudaGraphNode_t *to, const cudaGraphEdgeData *edges,
				     size_t n)
{
	cudaError_t e = cudaSuccess;

	(void)edges;
	if (!graph || (n && (!from || !to)))
		return shim_ret(cudaErrorInvalidValue);
	for (size_t i = 0; i < n; i++)
		if (!gr_has(graph, from[i]) || !gr_has(graph, to[i]) || from[i] == to[i])
			return shim_ret(cudaErrorInvalidValue);
	for (size_t i = 0; i < n && e == cudaSuccess; i++)
		e = gr_dep_add(to[i], from[i]);
	return shim_ret(e);
}

cudaError_t cudaGraphRemoveDependencies(cudaGraph_t graph, const cudaGraphNode_t *from,
					const cudaGraphNode_t *to, const cudaGraphEdgeData *edges,
					size_t n)
{
	(void)edges;
	if (!graph || (n && (!from || !to)))
		return shim_ret(cudaErrorInvalidValue);
	for (size_t i = 0; i < n; i++) {
		struct CUgraphNode_st *t = to[i];
		size_t d = 0;
		if (!gr_has(graph, t) || !gr_has(graph, from[i]))
			return shim_ret(cudaErrorInvalidValue);
		while (d < t->ndeps && t->deps[d] != from[i])
			d++;
		if (d == t->ndeps)
			return shim_ret(cudaErrorInvalidValue);
		t->deps[d] = t->deps[--t->ndeps];
	}
	return cudaSuccess;
}

cudaError_t cudaGraphDestroyNode(cudaGraphNode_t node)
{
	struct CUgraph_st *g;
	size_t at = 0;

	if (!node)
		return shim_ret(cudaErrorInvalidValue);
	g = node->graph;
	/* Its edges go with it. */
	for (size_t i = 0; i < g->n; i++) {
		struct CUgraphNode_st *t = g->nodes[i];
		for (size_t d = 0; d < t->ndeps;)
			if (t->deps[d] == node)
				t->deps[d] = t->deps[--t->ndeps];
			else
				d++;
		if (t == node)
			at = i;
	}
	memmove(&g->nodes[at], &g->nodes[at + 1], (g->n - at - 1) * sizeof(*g->nodes));
	g->n--;
	gr_node_free(node);
	return cudaSuccess;
}

/* ---- node parameters ------------------------------------------------------------------ */

static cudaError_t gr_node_is(cudaGraphNode_t node, enum cudaGraphNodeType type, const void *p)
{
	if (!node || !p)
		return cudaErrorInvalidValue;
	return node->type == type ? cudaSuccess : cudaErrorInvalidValue;
}

/* Replaces node's parameters with those p describes (same type). */
static cudaError_t gr_node_set(cudaGraphNode_t node, struct cudaGraphNodeParams *p)
{
	struct CUgraphNode_st *n;
	cudaError_t e;

	if (!node || !p || p->type != node->type)
		return cudaErrorInvalidValue;
	switch (p->type) {
	case cudaGraphNodeTypeKernel:
	case cudaGraphNodeTypeMemcpy:
	case cudaGraphNodeTypeMemset:
	case cudaGraphNodeTypeHost:
	case cudaGraphNodeTypeWaitEvent:
	case cudaGraphNodeTypeEventRecord:
		if ((e = gr_node_make(p, &n)) != cudaSuccess)
			return e;
		if (node->type == cudaGraphNodeTypeKernel)
			free(node->u.k.args);
		node->u = n->u;
		n->type = cudaGraphNodeTypeEmpty; /* its parameters are node's now */
		gr_node_free(n);
		return cudaSuccess;
	case cudaGraphNodeTypeGraph: {
		struct CUgraph_st *c;
		if (!p->graph.graph)
			return cudaErrorInvalidValue;
		if ((e = gr_clone(p->graph.graph, &c)) != cudaSuccess)
			return e;
		gr_free(node->u.child);
		node->u.child = c;
		return cudaSuccess;
	}
	default:
		return cudaErrorNotSupported;
	}
}

cudaError_t cudaGraphNodeSetParams(cudaGraphNode_t node, struct cudaGraphNodeParams *p)
{
	return shim_ret(gr_node_set(node, p));
}

cudaError_t cudaGraphKernelNodeGetParams(cudaGraphNode_t node, struct cudaKernelNodeParams *k)
{
	cudaError_t e = gr_node_is(node, cudaGraphNodeTypeKernel, k);

	if (e)
		return shim_ret(e);
	memset(k, 0, sizeof(*k));
	k->func = (void *)node->u.k.func;
	k->gridDim = node->u.k.grid;
	k->blockDim = node->u.k.block;
	k->sharedMemBytes = node->u.k.shmem;
	/* The arguments as they are kept, packed: in the driver's extra
	 * format, which cudaGraphKernelNodeSetParams takes back. */
	node->u.k.extra[0] = CU_LAUNCH_PARAM_BUFFER_POINTER;
	node->u.k.extra[1] = node->u.k.args;
	node->u.k.extra[2] = CU_LAUNCH_PARAM_BUFFER_SIZE;
	node->u.k.extra[3] = &node->u.k.len;
	node->u.k.extra[4] = CU_LAUNCH_PARAM_END;
	k->extra = node->u.k.extra;
	return cudaSuccess;
}

cudaError_t cudaGraphKernelNodeSetParams(cudaGraphNode_t node, const struct cudaKernelNodeParams *k)
{
	struct cudaGraphNodeParams p;

	if (!k)
		return shim_ret(cudaErrorInvalidValue);
	p = gr_kernel_params(k);
	return shim_ret(gr_node_set(node, &p));
}

cudaError_t cudaGraphMemcpyNodeGetParams(cudaGraphNode_t node, struct cudaMemcpy3DParms *c)
{
	cudaError_t e = gr_node_is(node, cudaGraphNodeTypeMemcpy, c);

	if (e)
		return shim_ret(e);
	*c = node->u.copy;
	return cudaSuccess;
}

cudaError_t cudaGraphMemcpyNodeSetParams(cudaGraphNode_t node, const struct cudaMemcpy3DParms *c)
{
	struct cudaGraphNodeParams p = {.type = cudaGraphNodeTypeMemcpy};

	if (!c)
		return shim_ret(cudaErrorInvalidValue);
	p.memcpy.copyParams = *c;
	return shim_ret(gr_node_set(node, &p));
}

cudaError_t cudaGraphMemcpyNodeSetParams1D(cudaGraphNode_t node, void *dst, const void *src,
					   size_t n, enum cudaMemcpyKind kind)
{
	struct cudaGraphNodeParams p = gr_copy_params(dst, src, n, kind);

	return shim_ret(gr_node_set(node, &p));
}

cudaError_t cudaGraphMemcpyNodeSetParamsToSymbol(cudaGraphNode_t node, const void *symbol,
						 const void *src, size_t n, size_t offset,
						 enum cudaMemcpyKind kind)
{
	struct cudaGraphNodeParams p;
	cudaError_t e = gr_symbol_copy(&p, NULL, src, symbol, n, offset, kind, 1);

	return shim_ret(e ? e : gr_node_set(node, &p));
}

cudaError_t cudaGraphMemcpyNodeSetParamsFromSymbol(cudaGraphNode_t node, void *dst,
						   const void *symbol, size_t n, size_t offset,
						   enum cudaMemcpyKind kind)
{
	struct cudaGraphNodeParams p;
	cudaError_t e = gr_symbol_copy(&p, dst, NULL, symbol, n, offset, kind, 0);

	return shim_ret(e ? e : gr_node_set(node, &p));
}

cudaError_t cudaGraphMemsetNodeGetParams(cudaGraphNode_t node, struct cudaMemsetParams *m)
{
	cudaError_t e = gr_node_is(node, cudaGraphNodeTypeMemset, m);

	if (e)
		return shim_ret(e);
	*m = node->u.set;
	return cudaSuccess;
}

cudaError_t cudaGraphMemsetNodeSetParams(cudaGraphNode_t node, const struct cudaMemsetParams *m)
{
	struct cudaGraphNodeParams p;

	if (!m)
		return shim_ret(cudaErrorInvalidValue);
	p = gr_memset_params(m);
	return shim_ret(gr_node_set(node, &p));
}

cudaError_t cudaGraphHostNodeGetParams(cudaGraphNode_t node, struct cudaHostNodeParams *h)
{
	cudaError_t e = gr_node_is(node, cudaGraphNodeTypeHost, h);

	if (e)
		return shim_ret(e);
	*h = node->u.host;
	return cudaSuccess;
}

cudaError_t cudaGraphHostNodeSetParams(cudaGraphNode_t node, const struct cudaHostNodeParams *h)
{
	struct cudaGraphNodeParams p = {.type = cudaGraphNodeTypeHost};

	if (!h)
		return shim_ret(cudaErrorInvalidValue);
	p.host.fn = h->fn;
	p.host.userData = h->userData;
	return shim_ret(gr_node_set(node, &p));
}

cudaError_t cudaGraphChildGraphNodeGetGraph(cudaGraphNode_t node, cudaGraph_t *graph)
{
	cudaError_t e = gr_node_is(node, cudaGraphNodeTypeGraph, graph);

	if (e)
		return shim_ret(e);
	*graph = node->u.child;
	return cudaSuccess;
}

static cudaError_t gr_event_get(cudaGraphNode_t node, enum cudaGraphNodeType type, cudaEvent_t *ev)
{
	cudaError_t e = gr_node_is(node, type, ev);

	if (e)
		return shim_ret(e);
	*ev = node->u.event;
	return cudaSuccess;
}

static cudaError_t gr_event_set(cudaGraphNode_t node, enum cudaGraphNodeType type, cudaEvent_t ev)
{
	struct cudaGraphNodeParams p = {.type = type};

	p.eventRecord.event = ev; /* the same member for both types */
	return shim_ret(gr_node_set(node, &p));
}

cudaError_t cudaGraphEventRecordNodeGetEvent(cudaGraphNode_t node, cudaEvent_t *ev)
{
	return gr_event_get(node, cudaGraphNodeTypeEventRecord, ev);
}

cudaError_t cudaGraphEventRecordNodeSetEvent(cudaGraphNode_t node, cudaEvent_t ev)
{
	return gr_event_set(node, cudaGraphNodeTypeEventRecord, ev);
}

cudaError_t cudaGraphEventWaitNodeGetEvent(cudaGraphNode_t node, cudaEvent_t *ev)
{
	return gr_event_get(node, cudaGraphNodeTypeWaitEvent, ev);
}

cudaError_t cudaGraphEventWaitNodeSetEvent(cudaGraphNode_t node, cudaEvent_t ev)
{
	return gr_event_set(node, cudaGraphNodeTypeWaitEvent, ev);
}

cudaError_t cudaGraphMemAllocNodeGetParams(cudaGraphNode_t node, struct cudaMemAllocNodeParams *a)
{
	cudaError_t e = gr_node_is(node, cudaGraphNodeTypeMemAlloc, a);

	if (e)
		return shim_ret(e);
	memset(a, 0, sizeof(*a));
	a->poolProps = node->u.alloc.props;
	a->bytesize = node->u.alloc.size;
	a->dptr = node->u.alloc.mem->ptr;
	return cudaSuccess;
}

cudaError_t cudaGraphMemFreeNodeGetParams(cudaGraphNode_t node, void *dptr)
{
	cudaError_t e = gr_node_is(node, cudaGraphNodeTypeMemFree, dptr);

	if (e)
		return shim_ret(e);
	memcpy(dptr, &node->u.free_ptr, sizeof(void *));
	return cudaSuccess;
}

/* ---- executable graphs ----------------------------------------------------------------- */

static cudaError_t gr_instantiate(cudaGraphExec_t *out, cudaGraph_t graph, unsigned long long flags)
{
	struct CUgraphNode_st **order;
	struct CUgraphExec_st *x;
	cudaError_t e;

	if (!out || !graph)
		return cudaErrorInvalidValue;
	if (!(x = calloc(1, sizeof(*x))))
		return cudaErrorMemoryAllocation;
	x->flags = flags;
	if ((e = gr_clone(graph, &x->g)) != cudaSuccess) {
		free(x);
		return e;
	}
	/* A cycle is found now, not at launch. */
	if ((e = gr_order(x->g, &order)) != cudaSuccess) {
		gr_free(x->g);
		free(x);
		return e;
	}
	free(order);
	*out = x;
	return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *out, cudaGraph_t graph, unsigned long long flags)
{
	return shim_ret(gr_instantiate(out, graph, flags));
}

cudaError_t cudaGraphInstantiateWithFlags(cudaGraphExec_t *out, cudaGraph_t graph,
					  unsigned long long flags)
{
	return shim_ret(gr_instantiate(out, graph, flags));
}

cudaError_t cudaGraphInstantiateWithParams(cudaGraphExec_t *out, cudaGraph_t graph,
					   cudaGraphInstantiateParams *p)
{
	cudaError_t e;

	if (!p)
		return shim_ret(cudaErrorInvalidValue);
	e = gr_instantiate(out, graph, p->flags);
	p->result_out = e == cudaSuccess ? cudaGraphInstantiateSuccess : cudaGraphInstantiateError;
	p->errNode_out = NULL;
	return shim_ret(e);
}

cudaError_t cudaGraphInstantiateWithParams_ptsz(cudaGraphExec_t *out, cudaGraph_t graph,
						cudaGraphInstantiateParams *p);
cudaError_t cudaGraphInstantiateWithParams_ptsz(cudaGraphExec_t *out, cudaGraph_t graph,
						cudaGraphInstantiateParams *p)
{
	return cudaGraphInstantiateWithParams(out, graph, p);
}

cudaError_t cudaGraphExecGetFlags(cudaGraphExec_t x, unsigned long long *flags)
{
	if (!x || !flags)
		return shim_ret(cudaErrorInvalidValue);
	*flags = x->flags;
	return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t x)
{
	if (!x)
		return shim_ret(cudaErrorInvalidValue);
	gr_free(x->g);
	free(x);
	return cudaSuccess;
}

static cudaError_t gr_launch(cudaGraphExec_t x, cudaStream_t s, int per_thread)
{
	struct gr_run r = {s, per_thread};
	uint64_t id;
	cudaError_t e = shim_begin();

	if (e || (e = shim_stream(s, per_thread, &id)) != cudaSuccess)
		return shim_ret(e);
	if (!x)
		return shim_ret(cudaErrorInvalidValue);
	/* Launched into a captured stream: the graph becomes a child node. */
	if (shim_graph_capturing(id)) {
		struct cudaGraphNodeParams p = {.type = cudaGraphNodeTypeGraph};
		p.graph.graph = x->g;
		return shim_ret(shim_graph_capture(id, &p));
	}
	return shim_ret(gr_run(x->g, &r));
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t x, cudaStream_t s)
{
	return gr_launch(x, s, 0);
}

cudaError_t cudaGraphLaunch_ptsz(cudaGraphExec_t x, cudaStream_t s);
cudaError_t cudaGraphLaunch_ptsz(cudaGraphExec_t x, cudaStream_t s)
{
	return gr_launch(x, s, 1);
}

/* Everything a launch needs is in the guest already. */
cudaError_t cudaGraphUpload(cudaGraphExec_t x, cudaStream_t s)
{
	uint64_t id;
	cudaError_t e = shim_stream(s, 0, &id);

	return shim_ret(e ? e : x ? cudaSuccess : cudaErrorInvalidValue);
}

cudaError_t cudaGraphUpload_ptsz(cudaGraphExec_t x, cudaStream_t s);
cudaError_t cudaGraphUpload_ptsz(cudaGraphExec_t x, cudaStream_t s)
{
	uint64_t id;
	cudaError_t e = shim_stream(s, 1, &id);

	return shim_ret(e ? e : x ? cudaSuccess : cudaErrorInvalidValue);
}

/* The executable graph's copy of node. */
static struct CUgraphNode_st *gr_exec_node(cudaGraphExec_t x, cudaGraphNode_t node)
{
	if (!x || !node)
		return NULL;
	for (size_t i = 0; i < x->g->n; i++)
		if (x->g->nodes[i]->origin == node)
			return x->g->nodes[i];
	return NULL;
}

cudaError_t cudaGraphExecNodeSetParams(cudaGraphExec_t x, cudaGraphNode_t node,
				       struct cudaGraphNodeParams *p)
{
	struct CUgraphNode_st *n = gr_exec_node(x, node);

	return shim_ret(n ? gr_node_set(n, p) : cudaErrorInvalidValue);
}

cudaError_t cudaGraphExecKernelNodeSetParams(cudaGraphExec_t x, cudaGraphNode_t node,
					     const struct cudaKernelNodeParams *k)
{
	struct CUgraphNode_st *n = gr_exec_node(x, node);

	return n ? cudaGraphKernelNodeSetParams(n, k) : shim_ret(cudaErrorInvalidValue);
}

cudaError_t cudaGraphExecMemcpyNodeSetParams(cudaGraphExec_t x, cudaGraphNode_t node,
					     const struct cudaMemcpy3DParms *c)
{
	struct CUgraphNode_st *n = gr_exec_node(x, node);

	return n ? cudaGraphMemcpyNodeSetParams(n, c) : shim_ret(cudaErrorInvalidValue);
}

cudaError_t cudaGraphExecMemcpyNodeSetParams1D(cudaGraphExec_t x, cudaGraphNode_t node, void *dst,
					       const void *src, size_t n, enum cudaMemcpyKind kind)
{
	struct CUgraphNode_st *n_ = gr_exec_node(x, node);

	return n_ ? cudaGraphMemcpyNodeSetParams1D(n_, dst, src, n, kind)
		  : shim_ret(cudaErrorInvalidValue);
}

cudaError_t cudaGraphExecMemcpyNodeSetParamsToSymbol(cudaGraphExec_t x, cudaGraphNode_t node,
						     const void *symbol, const void *src, size_t n,
						     size_t offset, enum cudaMemcpyKind kind)
{
	struct CUgraphNode_st *n_ = gr_exec_node(x, node);

	return n_ ? cudaGraphMemcpyNodeSetParamsToSymbol(n_, symbol, src, n, offset, kind)
		  : shim_ret(cudaErrorInvalidValue);
}

cudaError_t cudaGraphExecMemcpyNodeSetParamsFromSymbol(cudaGraphExec_t x, cudaGraphNode_t node,
						       void *dst, const void *symbol, size_t n,
						       size_t offset, enum cudaMemcpyKind kind)
{
	struct CUgraphNode_st *n_ = gr_exec_node(x, node);

	return n_ ? cudaGraphMemcpyNodeSetParamsFromSymbol(n_, dst, symbol, n, offset, kind)
		  : shim_ret(cudaErrorInvalidValue);
}

cudaError_t cudaGraphExecMemsetNodeSetParams(cudaGraphExec_t x, cudaGraphNode_t node,
					     const struct cudaMemsetParams *m)
{
	struct CUgraphNode_st *n = gr_exec_node(x, node);

	return n ? cudaGraphMemsetNodeSetParams(n, m) : shim_ret(cudaErrorInvalidValue);
}

cudaError_t cudaGraphExecHostNodeSetParams(cudaGraphExec_t x, cudaGraphNode_t node,
					   const struct cudaHostNodeParams *h)
{
	struct CUgraphNode_st *n = gr_exec_node(x, node);

	return n ? cudaGraphHostNodeSetParams(n, h) : shim_ret(cudaErrorInvalidValue);
}

cudaError_t cudaGraphExecChildGraphNodeSetParams(cudaGraphExec_t x, cudaGraphNode_t node,
						 cudaGraph_t child)
{
	struct CUgraphNode_st *n = gr_exec_node(x, node);
	struct cudaGraphNodeParams p = {.type = cudaGraphNodeTypeGraph};

	p.graph.graph = child;
	return shim_ret(n ? gr_node_set(n, &p) : cudaErrorInvalidValue);
}

cudaError_t cudaGraphExecEventRecordNodeSetEvent(cudaGraphExec_t x, cudaGraphNode_t node,
						 cudaEvent_t ev)
{
	struct CUgraphNode_st *n = gr_exec_node(x, node);

	return n ? cudaGraphEventRecordNodeSetEvent(n, ev) : shim_ret(cudaErrorInvalidValue);
}

cudaError_t cudaGraphExecEventWaitNodeSetEvent(cudaGraphExec_t x, cudaGraphNode_t node,
					       cudaEvent_t ev)
{
	struct CUgraphNode_st *n = gr_exec_node(x, node);

	return n ? cudaGraphEventWaitNodeSetEvent(n, ev) : shim_ret(cudaErrorInvalidValue);
}

cudaError_t cudaGraphNodeSetEnabled(cudaGraphExec_t x, cudaGraphNode_t node, unsigned int on)
{
	struct CUgraphNode_st *n = gr_exec_node(x, node);

	if (!n || (n->type != cudaGraphNodeTypeKernel && n->type != cudaGraphNodeTypeMemcpy &&
		   n->type != cudaGraphNodeTypeMemset))
		return shim_ret(cudaErrorInvalidValue);
	n->enabled = on != 0;
	return cudaSuccess;
}

cudaError_t cudaGraphNodeGetEnabled(cudaGraphExec_t x, cudaGraphNode_t node, unsigned int *on)
{
	struct CUgraphNode_st *n = gr_exec_node(x, node);

	if (!n || !on)
		return shim_ret(cudaErrorInvalidValue);
	*on = (unsigned)n->enabled;
	return cudaSuccess;
}

/* Takes the parameters of graph's nodes into x, where the two have the
 * same nodes (by type, in order) and the same edges. */
cudaError_t cudaGraphExecUpdate(cudaGraphExec_t x, cudaGraph_t graph,
				cudaGraphExecUpdateResultInfo *info)
{
	struct CUgraph_st *c;
	cudaError_t e;
	int same;

	if (!x || !graph)
		return shim_ret(cudaErrorInvalidValue);
	same = graph->n == x->g->n;
	for (size_t i = 0; same && i < graph->n; i++) {
		const struct CUgraphNode_st *a = graph->nodes[i], *b = x->g->nodes[i];
		same = a->type == b->type && a->ndeps == b->ndeps &&
		       a->type != cudaGraphNodeTypeMemAlloc && a->type != cudaGraphNodeTypeMemFree;
		for (size_t d = 0; same && d < a->ndeps; d++) {
			size_t j = 0;
			while (graph->nodes[j] != a->deps[d])
				j++;
			same = b->deps[d] == x->g->nodes[j];
		}
	}
	if (info)
		memset(info, 0, sizeof(*info));
	if (!same) {
		if (info)
			info->result = cudaGraphExecUpdateErrorTopologyChanged;
		return shim_ret(cudaErrorGraphExecUpdateFailure);
	}
	if ((e = gr_clone(graph, &c)) != cudaSuccess)
		return shim_ret(e);
	/* The nodes keep the identity the exec's were made from. */
	for (size_t i = 0; i < c->n; i++) {
		c->nodes[i]->origin = x->g->nodes[i]->origin;
		c->nodes[i]->enabled = x->g->nodes[i]->enabled;
	}
	gr_free(x->g);
	x->g = c;
	if (info)
		info->result = cudaGraphExecUpdateSuccess;
	return cudaSuccess;
}

/* ---- debugging ----------------------------------------------------------------------- */

cudaError_t cudaGraphDebugDotPrint(cudaGraph_t graph, const char *path, unsigned int flags)
{
	static const char *const names[] = {
	    "kernel",	    "memcpy", "memset", "host",	     "graph",	 "empty", "wait event",
	    "event record", "signal", "wait",	"mem alloc", "mem free", "batch", "conditional"};
	FILE *f;

	(void)flags;
	if (!graph || !path)
		return shim_ret(cudaErrorInvalidValue);
	if (!(f = fopen(path, "w")))
		return shim_ret(cudaErrorOperatingSystem);
	fprintf(f, "digraph vcuda_graph {\n");
	for (size_t i = 0; i < graph->n; i++)
		fprintf(f, "  n%zu [label=\"%zu: %s\"];\n", i, i,
			(unsigned)graph->nodes[i]->type < sizeof(names) / sizeof(*names)
			    ? names[graph->nodes[i]->type]
			    : "node");
	for (size_t i = 0; i < graph->n; i++)
		for (size_t d = 0; d < graph->nodes[i]->ndeps; d++)
			for (size_t j = 0; j < graph->n; j++)
				if (graph->nodes[j] == graph->nodes[i]->deps[d])
					fprintf(f, "  n%zu -> n%zu;\n", j, i);
	fprintf(f, "}\n");
	return shim_ret(fclose(f) == 0 ? cudaSuccess : cudaErrorOperatingSystem);
}

/* ---- graph memory ------------------------------------------------------------------------- */

/* Allocation nodes' memory is allocated when the node is made and kept
 * until the last graph holding it goes: what is used is what is reserved. */
cudaError_t cudaDeviceGetGraphMemAttribute(int device, enum cudaGraphMemAttributeType attr,
					   void *value)
{
	unsigned long long v;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);

	if (device < 0 || device >= shim.ndevices)
		return shim_ret(cudaErrorInvalidDevice);
	if (!value)
		return shim_ret(cudaErrorInvalidValue);
	switch (attr) {
	case cudaGraphMemAttrUsedMemCurrent:
	case cudaGraphMemAttrReservedMemCurrent:
		v = __atomic_load_n(&gr_used, __ATOMIC_RELAXED);
		break;
	case cudaGraphMemAttrUsedMemHigh:
	case cudaGraphMemAttrReservedMemHigh:
		v = __atomic_load_n(&gr_used_high, __ATOMIC_RELAXED);
		break;
	default:
		return shim_ret(cudaErrorInvalidValue);
	}
	memcpy(value, &v, sizeof(v));
	return cudaSuccess;
}

/* Only the high-water marks can be set, and only to 0 (they restart from
 * what is held now). */
cudaError_t cudaDeviceSetGraphMemAttribute(int device, enum cudaGraphMemAttributeType attr,
					   void *value)
{
	unsigned long long v;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);

	if (device < 0 || device >= shim.ndevices)
		return shim_ret(cudaErrorInvalidDevice);
	if (!value)
		return shim_ret(cudaErrorInvalidValue);
	memcpy(&v, value, sizeof(v));
	if ((attr != cudaGraphMemAttrUsedMemHigh && attr != cudaGraphMemAttrReservedMemHigh) || v)
		return shim_ret(cudaErrorInvalidValue);
	__atomic_store_n(&gr_used_high, __atomic_load_n(&gr_used, __ATOMIC_RELAXED),
			 __ATOMIC_RELAXED);
	return cudaSuccess;
}

/* Nothing is kept beyond what live graphs hold. */
cudaError_t cudaDeviceGraphMemTrim(int device)
{
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (device < 0 || device >= shim.ndevices)
		return shim_ret(cudaErrorInvalidDevice);
	return cudaSuccess;
}
