/*
 * The PTX interpreter. A warp's registers are laid out register-major
 * (R[reg * 32 + lane]) so that each decoded instruction runs as a loop over
 * its active lanes. Divergent branches push onto a per-frame reconvergence
 * stack whose entries meet again at the branch's immediate post-dominator.
 */
#include "config.h"

#include <fenv.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exec_int.h"
#include "jit.h"
#include "util.h"

static uint64_t lane_instructions;

/* For benchmarks: lane-instructions executed since the library loaded. */
unsigned long long vcuda_cpu_lane_instructions(void);
unsigned long long vcuda_cpu_lane_instructions(void)
{
	return __atomic_load_n(&lane_instructions, __ATOMIC_RELAXED);
}

/* ---- the warp loop ------------------------------------------------------------------------ */

static int branch(struct frame *F, const struct ptx_insn *in, uint32_t active, uint32_t taken)
{
	struct simt *top = &F->stack[F->sp - 1];
	int pc = top->pc;

	if (taken == active) {
		top->pc = in->target;
		return 0;
	}
	if (taken == 0) {
		top->pc = pc + 1;
		return 0;
	}
	/* Divergence: this entry waits at the reconvergence point for both sides. */
	top->pc = in->reconv;
	if (emu_simt_push(F, pc + 1, in->reconv, active & ~taken) != 0 ||
	    emu_simt_push(F, in->target, in->reconv, taken) != 0)
		return -1;
	return 0;
}

/* A watchdog's look at a launch that may be running for ever: called
 * between blocks and on every 1024th backward branch of a warp. Returns
 * nonzero (with the launch failed) once it is past its deadline. */
static int launch_overdue(struct block *B, const struct ptx_insn *in)
{
	struct exec_launch *L = B->L;

	if (!L->deadline_ns || vcuda_now_ns() < L->deadline_ns)
		return 0;
	emu_exec_fail(B, in, CUDA_ERROR_LAUNCH_TIMEOUT,
		      "the kernel ran longer than the CPU device's kernel timeout "
		      "(VCUDA_CPU_KERNEL_TIMEOUT)");
	return 1;
}

/* Control flow at pc of the top entry: runs it and returns 1, or returns
 * 0 for an op that is not control flow. RUN_* in *result when the warp must
 * stop. */
static int run_control(struct xctx *X, const struct ptx_insn *in, uint32_t m, int *result)
{
	struct block *B = X->B;
	struct warp *w = X->w;
	struct frame *F = X->F;
	struct simt *top = &F->stack[F->sp - 1];
	int pc = top->pc;

	switch (in->op) {
	case OP_BRA:
		if (in->target <= pc && (++B->backward & 1023) == 0 && launch_overdue(B, in))
			*result = RUN_FAULT;
		else if (branch(F, in, X->active, m) != 0) {
			emu_exec_fail(B, NULL, CUDA_ERROR_OUT_OF_MEMORY, "out of host memory");
			*result = RUN_FAULT;
		}
		return 1;
	case OP_EXIT:
	case OP_RET:
		if (in->op == OP_EXIT || w->depth == 1) {
			w->exited |= m;
			for (int i = 0; i < w->depth; i++)
				emu_simt_remove(&w->frames[i], m);
		} else {
			F->ret_mask |= m;
			emu_simt_remove(F, m);
		}
		if (m != X->active)
			top->pc = pc + 1;
		return 1;
	case OP_CALL:
		top->pc = pc + 1;
		if (m && emu_do_call(X, in, m, pc) != 0)
			*result = RUN_FAULT;
		return 1;
	case OP_BAR:
		top->pc = pc + 1;
		if (m) {
			if (in->sub != SUB_NONE &&
			    in->nops >= 3) { /* bar.red: count this warp's predicates */
				const struct ptx_operand *c = &in->o[in->nops - 1];
				LANES(m) B->red_count += opv(X, c, (int)l) != 0;
				B->red_threads += (uint32_t)__builtin_popcount(m);
				w->red_in = in;
				w->red_lanes = m;
			}
			w->at_barrier = 1;
			*result = RUN_BARRIER;
		}
		return 1;
	case OP_BARCLUSTER:
		/* Arrival is counted per warp; a wait before the phase ends
		 * yields, to run again once the cluster's other warps ran. */
		top->pc = pc + 1;
		if (m && in->sub == BARCLUSTER_ARRIVE)
			w->cl_arrived++;
		else if (m && !emu_cluster_passed(B->cl, w)) {
			top->pc = pc;
			*result = RUN_YIELD;
		}
		return 1;
	case OP_NANOSLEEP:
		/* A thread that sleeps waits for others: let the block's other
		 * warps run. */
		top->pc = pc + 1;
		if (m)
			*result = RUN_YIELD;
		return 1;
	case OP_MBARRIER:
		if (in->sub != MB_TEST_WAIT && in->sub != MB_TRY_WAIT)
			return 0;
		top->pc = pc + 1;
		if (m) {
			uint32_t waiting;
			if (emu_do_mbarrier(X, in, m, &waiting) != 0)
				*result = RUN_FAULT;
			else if (waiting)
				*result = RUN_YIELD;
		}
		return 1;
	case OP_TRAP:
		top->pc = pc + 1;
		if (m) {
			emu_exec_fail(B, in, CUDA_ERROR_LAUNCH_FAILED, "trap");
			*result = RUN_FAULT;
		}
		return 1;
	}
	return 0;
}

/* The frame's reconvergence stack is empty or its top has nothing left to
 * run: pops it, and returns from the function when the frame is done.
 * Returns RUN_DONE when the warp has finished, else -1. */
static int run_unwind(struct xctx *X)
{
	struct frame *F = X->F;
	struct simt *top = F->sp ? &F->stack[F->sp - 1] : NULL;

	if (top && top->pc >= F->f->ninsns && top->mask) {
		/* Falling off the end is a return. */
		F->ret_mask |= top->mask;
		emu_simt_remove(F, top->mask);
	}
	if (F->sp > 0 && --F->sp > 0)
		return -1;
	if (X->w->depth == 1) {
		X->w->done = 1;
		return RUN_DONE;
	}
	emu_do_return(X);
	return -1;
}

/* Runs a warp until it finishes, waits at a barrier or faults: control
 * flow here, every other op through the op table. */
static int run_warp(struct block *B, struct warp *w)
{
	struct xctx X = {B, w, &w->frames[w->depth - 1], 0};

	for (;;) {
		struct frame *F = X.F;
		struct simt *top = F->sp ? &F->stack[F->sp - 1] : NULL;
		const struct ptx_insn *in;
		uint32_t m;
		int result = -1;

		if (!top || top->mask == 0 || top->pc == top->rpc || top->pc >= F->f->ninsns) {
			if ((result = run_unwind(&X)) >= 0)
				return result;
			continue;
		}
		in = &F->f->insns[top->pc];
		X.active = m = top->mask;
		if (in->guard >= 0)
			m &= in->guard_neg ? ~F->P[in->guard] : F->P[in->guard];
		if (run_control(&X, in, m, &result)) {
			if (result >= 0)
				return result;
			continue;
		}
		top->pc++;
		if (m == 0)
			continue;
		B->insns += (uint64_t)__builtin_popcount(m);
		if (emu_exec_table[in->op](&X, in, m) != 0 || emu_exec_failed(B))
			return RUN_FAULT;
	}
}

/* ---- blocks --------------------------------------------------------------------------- */

/* Each host thread keeps the memory of one cluster's blocks (one block's
 * without clusters) and reuses it for the next. */
struct block_mem {
	struct warp *warps;
	int nwarps;
	uint8_t *smem, *local;
	size_t smem_cap, local_cap;
};
static __thread struct block_mem block_cache[PTX_MAX_CLUSTER];

int emu_block_memory(struct block *B, int slot, size_t smem, size_t local)
{
	struct block_mem *c = &block_cache[slot];

	if (B->nwarps > c->nwarps) {
		struct warp *w = realloc(c->warps, (size_t)B->nwarps * sizeof(*w));
		if (!w)
			return -1;
		memset(w + c->nwarps, 0, (size_t)(B->nwarps - c->nwarps) * sizeof(*w));
		c->warps = w;
		c->nwarps = B->nwarps;
	}
	if (smem > c->smem_cap) {
		uint8_t *p = realloc(c->smem, smem);
		if (!p)
			return -1;
		c->smem = p;
		c->smem_cap = smem;
	}
	if (local > c->local_cap) {
		uint8_t *p = realloc(c->local, local);
		if (!p)
			return -1;
		c->local = p;
		c->local_cap = local;
	}
	B->warps = c->warps;
	B->smem = c->smem;
	B->local = c->local;
	memset(B->smem, 0, smem);
	return 0;
}

/* Whether a kernel calls device functions (and so needs a call stack). */
static int kernel_calls(const struct exec_launch *L)
{
	for (int i = 0; i < L->kernel->ninsns; i++)
		if (L->kernel->insns[i].op == OP_CALL &&
		    L->mod->calls[L->kernel->insns[i].target].builtin == 0)
			return 1;
	return 0;
}

static int block_setup(struct block *B, struct exec_launch *L, uint64_t index, int slot)
{
	const struct ptx_func *k = L->kernel;

	memset(B, 0, sizeof(*B));
	B->L = L;
	B->ctaid[0] = (uint32_t)(index % L->grid[0]);
	B->ctaid[1] = (uint32_t)(index / L->grid[0] % L->grid[1]);
	B->ctaid[2] = (uint32_t)(index / ((uint64_t)L->grid[0] * L->grid[1]));
	B->nthreads = L->block[0] * L->block[1] * L->block[2];
	B->nwarps = (int)((B->nthreads + 31) / 32);
	B->smem_size = ((L->static_smem + L->dyn_smem + 15) & ~15u) + PTX_RESERVED_SMEM;
	B->local_stride = L->local_stride;
	if (emu_block_memory(B, slot, B->smem_size,
			     (size_t)B->nwarps * 32 * (B->local_stride ? B->local_stride : 1)) != 0)
		return -1;
	for (int wi = 0; wi < B->nwarps; wi++) {
		struct warp *w = &B->warps[wi];
		w->id = wi;
		w->valid = w->exited = 0;
		w->done = w->at_barrier = w->depth = 0;
		w->red_in = NULL;
		w->red_lanes = 0;
		w->cl_arrived = 0;
		memset(w->cdp_error, 0, sizeof(w->cdp_error));
		w->valid = (uint32_t)(B->nthreads - (uint32_t)wi * 32 >= 32
					  ? FULL
					  : (1u << (B->nthreads - (uint32_t)wi * 32)) - 1);
		w->tid = L->tids + (size_t)wi * 3;
		if (emu_frame_push(w, k, w->valid, 0) != 0)
			return -1;
	}
	return 0;
}

/* bar.red's result for the lanes of w that waited at it: the number of
 * the block's threads whose predicate was true (popc), or whether all or
 * any were (and, or). */
static void bar_red_result(struct block *B, struct warp *w)
{
	const struct ptx_insn *in = w->red_in;
	struct xctx X = {B, w, &w->frames[w->depth - 1], w->red_lanes};
	uint64_t v = in->sub == SUB_POPC  ? B->red_count
		     : in->sub == SUB_AND ? B->red_count == B->red_threads
					  : B->red_count != 0;

	LANES(w->red_lanes)
	{
		if (in->o[0].kind == OK_PRED)
			set_pred(&X, &in->o[0], (int)l, v != 0);
		else
			set_reg(&X, &in->o[0], (int)l, v);
	}
	w->red_in = NULL;
	w->red_lanes = 0;
}

/* One round of a block: runs every warp until it finishes or waits; when
 * all live warps wait at the barrier, they all go on. Returns 1 while the
 * block has live warps, 0 once it has none, -1 when the launch failed. */
static int block_step(struct block *B)
{
	int alive = 0, waiting = 0;

	for (int i = 0; i < B->nwarps; i++) {
		struct warp *w = &B->warps[i];
		if (w->done || w->at_barrier)
			continue;
		if (run_warp(B, w) == RUN_FAULT)
			return -1;
	}
	for (int i = 0; i < B->nwarps; i++) {
		alive += !B->warps[i].done;
		waiting += !B->warps[i].done && B->warps[i].at_barrier;
	}
	if (alive == 0)
		return 0;
	/* The barrier opens once every live warp is at it; a warp that
	 * yielded runs again first. */
	if (waiting == alive) {
		for (int i = 0; i < B->nwarps; i++) {
			struct warp *w = &B->warps[i];
			w->at_barrier = 0;
			if (w->red_in)
				bar_red_result(B, w);
		}
		B->red_count = B->red_threads = 0;
	} else if (emu_exec_failed(B) || (B->L->deadline_ns && launch_overdue(B, NULL)))
		return -1;
	return 1;
}

/* Whether the barrier.cluster phase warp w arrived at has completed: every
 * live warp of the cluster has arrived there. */
int emu_cluster_passed(struct cluster *C, const struct warp *w)
{
	while (w->cl_arrived > C->phase) {
		for (int r = 0; r < C->n; r++)
			for (int i = 0; i < C->blocks[r].nwarps; i++) {
				const struct warp *v = &C->blocks[r].warps[i];
				if (!v->done && v->cl_arrived <= C->phase)
					return 0;
			}
		C->phase++;
	}
	return 1;
}

/* Runs cluster index (by %clusterid, x fastest) to completion: its blocks
 * take turns, a round each, until all are done. */
static void cluster_run(struct exec_launch *L, uint64_t index)
{
	const uint32_t *cd = L->cluster;
	struct block B[PTX_MAX_CLUSTER];
	struct cluster C = {.blocks = B, .n = (int)(cd[0] * cd[1] * cd[2])};
	uint32_t ncx = L->grid[0] / cd[0], ncy = L->grid[1] / cd[1];
	uint64_t insns = 0;
	int live;

	/* The compiled tier runs blocks (never clusters) of its own. */
	const struct jit_code *code = L->jit ? L->jit
				      : L->jit_pending
					  ? __atomic_load_n(L->jit_pending, __ATOMIC_ACQUIRE)
					  : NULL;

	if (code) {
		emu_jit_run_block(L, code, index);
		return;
	}
	C.id[0] = (uint32_t)(index % ncx);
	C.id[1] = (uint32_t)(index / ncx % ncy);
	C.id[2] = (uint32_t)(index / ((uint64_t)ncx * ncy));
	for (int r = 0; r < C.n; r++) {
		uint64_t x = (uint64_t)C.id[0] * cd[0] + (uint32_t)r % cd[0];
		uint64_t y = (uint64_t)C.id[1] * cd[1] + (uint32_t)r / cd[0] % cd[1];
		uint64_t z = (uint64_t)C.id[2] * cd[2] + (uint32_t)r / (cd[0] * cd[1]);
		if (block_setup(&B[r], L, x + L->grid[0] * (y + (uint64_t)L->grid[1] * z), r) !=
		    0) {
			emu_exec_fail(&B[r], NULL, CUDA_ERROR_OUT_OF_MEMORY,
				      "out of host memory for a block");
			C.n = r;
			goto out;
		}
		B[r].cl = &C;
		B[r].rank = r;
	}
	do {
		live = 0;
		for (int r = 0; r < C.n; r++) {
			int st = B[r].finished ? 0 : block_step(&B[r]);
			if (st < 0)
				goto out;
			B[r].finished = st == 0;
			live += st;
		}
	} while (live);
out:
	for (int r = 0; r < C.n; r++)
		insns += B[r].insns;
	__atomic_fetch_add(&lane_instructions, insns, __ATOMIC_RELAXED);
}

/* ---- the host thread pool ---------------------------------------------------------------- */

struct pool {
	pthread_mutex_t lock;
	pthread_cond_t work, idle;
	int nthreads, started;
	uint64_t generation;
	struct exec_launch *job;
	uint64_t next, total;
	int busy, acked; /* workers running this job; workers that took it */
	int want;	 /* workers the job takes */
};

static struct pool pool = {.lock = PTHREAD_MUTEX_INITIALIZER,
			   .work = PTHREAD_COND_INITIALIZER,
			   .idle = PTHREAD_COND_INITIALIZER};

/* Blocks are taken a few at a time, so that the threads do not fight over
 * the counter when blocks are small. */
static void pool_drain(struct exec_launch *L)
{
	uint64_t chunk = pool.total / ((uint64_t)pool.nthreads * 64) + 1;

	for (;;) {
		uint64_t first = __atomic_fetch_add(&pool.next, chunk, __ATOMIC_RELAXED);
		for (uint64_t i = first; i < first + chunk; i++) {
			if (i >= pool.total || L->error != CUDA_SUCCESS)
				return;
			if (L->deadline_ns && vcuda_now_ns() > L->deadline_ns) {
				struct block b = {.L = L};
				launch_overdue(&b, NULL);
				return;
			}
			cluster_run(L, i);
		}
	}
}

static void *pool_main(void *arg)
{
	uint64_t seen = 0;

	pthread_mutex_lock(&pool.lock);
	for (;;) {
		while (pool.generation == seen)
			pthread_cond_wait(&pool.work, &pool.lock);
		struct exec_launch *job = pool.job;
		seen = pool.generation;
		if (pool.acked >= pool.want)
			continue; /* the launch takes fewer threads (vcuda_cpu_set_threads) */
		pool.busy++;
		pool.acked++;
		pthread_mutex_unlock(&pool.lock);
		pool_drain(job);
		pthread_mutex_lock(&pool.lock);
		pool.busy--;
		pthread_cond_broadcast(&pool.idle);
	}
	return arg;
}

static void pool_start(void)
{
	const char *env = getenv("VCUDA_CPU_THREADS");
	int n = env ? atoi(env) : emu.dev.ncores;

	pool.nthreads = n < 1 ? 1 : n > 256 ? 256 : n;
	for (int i = 1; i < pool.nthreads; i++) {
		pthread_t t;
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &a, pool_main, NULL) != 0) {
			pool.nthreads = i;
			pthread_attr_destroy(&a);
			break;
		}
		pthread_attr_destroy(&a);
	}
	pool.started = 1;
}

/* Every block's threads have the same coordinates: computed once. */
static int launch_tids(struct exec_launch *L)
{
	uint32_t n = L->block[0] * L->block[1] * L->block[2], nwarps = (n + 31) / 32;

	L->tids = calloc((size_t)nwarps * 3, sizeof(*L->tids));
	if (!L->tids)
		return -1;
	for (uint32_t t = 0; t < n; t++) {
		uint32_t(*w)[32] = L->tids + (size_t)(t / 32) * 3;
		w[0][t % 32] = t % L->block[0];
		w[1][t % 32] = t / L->block[0] % L->block[1];
		w[2][t % 32] = t / (L->block[0] * L->block[1]);
	}
	return 0;
}

/* A cooperative grid: every block (cluster) at once, each on a thread of
 * its own, so that blocks waiting in grid.sync() cannot keep the others
 * from running. */
struct coop_block {
	struct exec_launch *L;
	uint64_t index;
};

/* Frees this thread's block cache: a cooperative block's thread ends with
 * its block, and its cache with it. */
static void block_cache_free(void)
{
	for (int s = 0; s < (int)PTX_MAX_CLUSTER; s++) {
		struct block_mem *c = &block_cache[s];
		for (int i = 0; i < c->nwarps; i++) {
			for (int d = 0; d < MAX_DEPTH; d++) {
				struct frame *F = &c->warps[i].frames[d];
				free(F->R);
				free(F->P);
				free(F->fparam);
				free(F->stack);
			}
		}
		free(c->warps);
		free(c->smem);
		free(c->local);
		memset(c, 0, sizeof(*c));
	}
}

static void *coop_main(void *arg)
{
	struct coop_block *b = arg;

	cluster_run(b->L, b->index);
	block_cache_free();
	return NULL;
}

static CUresult exec_cooperative(struct exec_launch *L, uint64_t total)
{
	pthread_t *threads = calloc(total, sizeof(*threads));
	struct coop_block *blocks = calloc(total, sizeof(*blocks));
	uint64_t started = 0;

	if (!threads || !blocks) {
		free(threads);
		free(blocks);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	for (; started < total; started++) {
		blocks[started] = (struct coop_block){L, started};
		if (pthread_create(&threads[started], NULL, coop_main, &blocks[started]) != 0)
			break;
	}
	if (started < total) {
		/* Blocks that started would wait for ever for the rest: they
		 * stop at their next instruction once an error is set. */
		__atomic_store_n(&L->error, CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE,
				 __ATOMIC_SEQ_CST);
	}
	for (uint64_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	free(blocks);
	return L->error;
}

/* When a launch starting now must end: VCUDA_CPU_KERNEL_TIMEOUT seconds
 * from now (vcudad --kernel-timeout sets it), or 0 for no limit. */
static uint64_t exec_deadline(void)
{
	static long s = -1; /* read once: the server sets it before the first launch */

	if (s < 0) {
		const char *env = getenv("VCUDA_CPU_KERNEL_TIMEOUT");
		s = env ? atol(env) : 0;
		if (s < 0)
			s = 0;
	}
	return s > 0 ? vcuda_now_ns() + (uint64_t)s * 1000000000ull : 0;
}

/* For benchmarks: at most n host threads run a launch (0: all). */
static int pool_cap;
void vcuda_cpu_set_threads(int n);
void vcuda_cpu_set_threads(int n)
{
	pthread_mutex_lock(&pool.lock);
	pool_cap = n;
	pthread_mutex_unlock(&pool.lock);
}

/* One launch at a time runs on the pool; the calling thread works too. */
static pthread_mutex_t launch_lock = PTHREAD_MUTEX_INITIALIZER;
static void launch_blocks(struct exec_launch *L, uint64_t total);

CUresult emu_exec_launch(struct exec_launch *L)
{
	uint64_t total;

	/* The pool's unit is a cluster; without clusters, a block. */
	for (int i = 0; i < 3; i++)
		if (!L->cluster[i])
			L->cluster[i] = 1;
	if (L->cluster[0] * L->cluster[1] * L->cluster[2] > PTX_MAX_CLUSTER ||
	    L->grid[0] % L->cluster[0] || L->grid[1] % L->cluster[1] || L->grid[2] % L->cluster[2])
		return CUDA_ERROR_INVALID_CLUSTER_SIZE;
	total = (uint64_t)(L->grid[0] / L->cluster[0]) * (L->grid[1] / L->cluster[1]) *
		(L->grid[2] / L->cluster[2]);
	L->error = CUDA_SUCCESS;
	L->message[0] = '\0';
	L->deadline_ns = exec_deadline();
	L->local_stride = (L->kernel->local_size +
			   (kernel_calls(L) || L->mod->has_alloca ? EXEC_STACK_BYTES : 0) + 15) &
			  ~15u;
	if (launch_tids(L) != 0)
		return CUDA_ERROR_OUT_OF_MEMORY;
	L->jit_pending = NULL;
	L->jit = emu_jit_code_for(L, total);
	if (L->cooperative) {
		CUresult rc = exec_cooperative(L, total);
		free(L->tids);
		L->tids = NULL;
		fflush(stdout);
		return rc;
	}
	if (L->jit && emu_jit_mode() == JIT_DIFF)
		emu_jit_differential(L, total, launch_blocks);
	else
		launch_blocks(L, total);
	free(L->tids);
	L->tids = NULL;
	fflush(stdout);
	return L->error;
}

/* Runs a launch's blocks (clusters) on the pool; the error in L. */
static void launch_blocks(struct exec_launch *L, uint64_t total)
{
	pthread_mutex_lock(&launch_lock);
	pthread_mutex_lock(&pool.lock);
	if (!pool.started)
		pool_start();
	int threads = pool_cap > 0 && pool_cap < pool.nthreads ? pool_cap : pool.nthreads;
	int helpers = (threads > 1 && total > 1) ? threads - 1 : 0;
	pool.job = L;
	pool.next = 0;
	pool.total = total;
	pool.acked = 0;
	pool.want = helpers;
	if (helpers) {
		pool.generation++;
		pthread_cond_broadcast(&pool.work);
	}
	pthread_mutex_unlock(&pool.lock);
	pool_drain(L);
	pthread_mutex_lock(&pool.lock);
	/* Every helper has taken this job and finished it. */
	while (pool.acked < helpers || pool.busy > 0)
		pthread_cond_wait(&pool.idle, &pool.lock);
	pool.job = NULL;
	pthread_mutex_unlock(&pool.lock);
	pthread_mutex_unlock(&launch_lock);
}
