/*
 * The CPU device's second tier: PTX kernels compiled to native code with
 * LLVM (jit_gen.c builds the IR, jit.c compiles, caches, chooses the tier
 * and runs the blocks).
 *
 * A compiled kernel is a function that runs a range of a block's threads,
 * each from where it stopped to its next stop: a barrier, a warp-wide
 * operation (shfl, vote, redux, activemask) or its exit. The runner
 * (jit.c) calls it warp by warp, completes the warp operations of the
 * lanes that stopped at them, and opens the barrier once every live thread
 * of the block waits there, so no host thread or fiber is ever held per
 * CUDA thread. Values live across a stop are saved in the thread's slots
 * and loaded again when it resumes.
 */
#ifndef VCUDA_JIT_H
#define VCUDA_JIT_H

#include <stdint.h>
#include <stdlib.h>

#include "exec.h"
#include "ptx.h"

/*
 * What a compiled kernel reads of its block: an array of 64-bit words
 * (pointers among them), indexed by these. Loaded once per call.
 */
enum {
	JC_STORE,     /* host address of device memory's backing store */
	JC_DEV_VA,    /* first device address */
	JC_ARENA,     /* bytes of device memory */
	JC_REFS,      /* uint16_t per 4 KiB page: nonzero where allocated */
	JC_SMEM,      /* the block's shared memory */
	JC_SMEM_SIZE, /* its bytes */
	JC_LOCAL,     /* the block's local memory: thread t at t * JC_LSTRIDE */
	JC_LSTRIDE,   /* local bytes per thread */
	JC_PARAMS,    /* kernel parameters */
	JC_PSIZE,     /* their bytes */
	JC_SYMADDR,   /* uint64_t per module symbol: its device address */
	JC_CBASE,     /* device address of the constant bank */
	JC_NTID,      /* three words: block dimensions */
	JC_CTAID = JC_NTID + 3,
	JC_NCTAID = JC_CTAID + 3,
	JC_STATIC_SMEM = JC_NCTAID + 3,
	JC_DYN_SMEM,
	JC_THR,	      /* struct jit_thread per thread */
	JC_SAVE,      /* uint64_t slots: thread t's at t * JC_NSAVE */
	JC_NSAVE,     /* slots per thread */
	JC_COLL,      /* struct jit_coll per thread */
	JC_BLOCK,     /* the runner's block, for the helpers */
	JC_NWARPS,    /* warps in the block */
	JC_WORKSPACE, /* cooperative launches: grid sync state */
	JC_TIDS,      /* uint32_t [warp][3][32]: each thread's x, y, z */
	JC_COUNT
};

/* A thread's place: pc 0 not started, k > 0 stopped at stop k, -1 exited;
 * only threads with ready set run in a call. */
struct jit_thread {
	int32_t pc;
	int32_t ready;
};

/* A warp operation's operands, deposited by each lane at its stop, and its
 * results, filled in by the runner before the lane resumes. */
struct jit_coll {
	uint64_t a, b, c, mask;
	uint64_t result, pred;
};

/* What a stop is: where the runner learns how to complete it. */
/* Barriers wait for the block; warp operations for the warp; a yield lets
 * the warp's next thread run; a sleep (nanosleep) lets the block's other
 * warps run, as the interpreter does. */
enum { JS_BARRIER = 1, JS_COLL, JS_YIELD, JS_SLEEP };
/* The stop an op makes, or 0. */
static inline int jit_stop_kind(int op)
{
	switch (op) {
	case OP_BAR:
		return JS_BARRIER;
	case OP_SHFL:
	case OP_VOTE:
	case OP_REDUX:
	case OP_ACTIVEMASK:
	case OP_BARWARP: /* bar.warp.sync: a warp's threads meet (its shared memory use) */
		return JS_COLL;
	case OP_NANOSLEEP:
		return JS_SLEEP;
	default:
		return 0;
	}
}

/* The largest kernel compiled: PTX instructions, registers and predicates
 * (CUB's largest kernels have about 10000 instructions and take 0.5 s). */
#define JIT_MAX_INSNS 40000
#define JIT_MAX_SLOTS 8192
/* Bytes of objects a process writes to the disk cache's directory at
 * most, counting what it found there (VCUDA_CPU_CACHE_MAX overrides). */
#define JIT_CACHE_MAX (1ull << 30)

/* Iterations of a loop over global memory a thread runs before the next
 * thread of its warp runs (a power of two). */
#define JIT_YIELD_EVERY 16
/* Which branches of f yield (yields[pc] = 1): the backward branches
 * closing a loop that reads or writes global memory and has no barrier or
 * warp operation (whose threads take turns there already). Each thread of
 * a warp then runs a few iterations in turn rather than its whole loop,
 * so that the warp's threads walk memory together (a grid-stride loop's
 * accesses stay coalesced in the cache) as they do on a GPU. Linear in the
 * kernel's size (counts before each instruction), whatever its loops.
 * 0, or -1 out of memory. */
static inline int jit_find_yields(const struct ptx_func *f, uint8_t *yields)
{
	int n = f->ninsns;
	int *mem = calloc((size_t)n + 1, sizeof(int)), *stops = calloc((size_t)n + 1, sizeof(int));

	if (!mem || !stops) {
		free(mem);
		free(stops);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		const struct ptx_insn *x = &f->insns[i];
		mem[i + 1] =
		    mem[i] +
		    ((x->op == OP_LD || x->op == OP_ST || x->op == OP_ATOM || x->op == OP_RED) &&
		     x->space != PS_SHARED && x->space != PS_LOCAL && x->space != PS_PARAM);
		stops[i + 1] = stops[i] + (jit_stop_kind(x->op) != 0);
	}
	for (int pc = 0; pc < n; pc++) {
		const struct ptx_insn *in = &f->insns[pc];
		int t = in->target;
		yields[pc] = in->op == OP_BRA && t >= 0 && t <= pc && mem[pc + 1] > mem[t] &&
			     stops[pc + 1] == stops[t];
	}
	free(mem);
	free(stops);
	return 0;
}

struct jit_stop {
	int kind;
	int insn; /* the instruction's index */
};

/* A kernel's compiled code: runs threads [t0, t1); 0, or 1 after a fault
 * or a watchdog stop (the launch's error then set). */
typedef int (*jit_kernel_fn)(uint64_t *ctx, uint32_t t0, uint32_t t1);

struct jit_code {
	jit_kernel_fn fn;
	struct jit_stop *stops; /* index k - 1 for stop k */
	int nstops;
	int has_coll;	/* stops at warp operations: the runner goes warp by warp */
	unsigned kinds; /* 1 << kind of each kind of stop it has (jit.c) */
	int has_red;	/* a bar.red among its barriers */
	uint32_t nsave;
};

/* Builds the kernel's function, named symbol, into jb's module and fills
 * code's stops. Returns 0, or -1 with why set to what the
 * compiler does not handle (the kernel then stays on the interpreter). */
struct jit_build {
	void *context; /* LLVMContextRef */
	void *module;  /* LLVMModuleRef: the kernel's function is added to it */
};
int jit_gen_kernel(struct jit_build *jb, const struct ptx_module *mod, const struct ptx_func *f,
		   const char *symbol, struct jit_code *code, char *why, size_t why_len);

/* Whether jit_gen_kernel's module (an LLVMModuleRef) is valid IR; -1 with
 * why set if not, so that a compiler fault keeps a kernel on the
 * interpreter rather than reaching LLVM's optimizer. */
int jit_verify(void *module, char *why, size_t why_len);

/* The name of an op (ptx_op_name), for the compiler's reasons; set by
 * whoever loads it. */
extern const char *(*jit_op_name)(int op, char *buf, size_t len);

/*
 * The LLVM side (jit_llvm.c and jit_gen.c), built as a module of its own,
 * vcuda-jit.so beside libcuda.so.1 (or VCUDA_CPU_JIT_LIB), whose only
 * symbol, vcuda_jit_llvm, gives these. jit.c loads it for its first
 * compile. Each returns 0 or a handle, else -1 or NULL with why set.
 */
struct jit_llvm {
	int (*start)(void *const *helpers, const char *const *names, int n,
		     const char *(*op_name)(int, char *, size_t), char *why, size_t why_len);
	void (*key)(const char *abi, const char *text, const char *name, uint8_t out[32]);
	int (*compile)(const struct ptx_module *mod, const struct ptx_func *f, const char *symbol,
		       struct jit_code *code, void **bytes, size_t *len, char *why, size_t why_len);
	void *(*load)(const void *bytes, size_t len, const char *symbol, jit_kernel_fn *fn,
		      char *why, size_t why_len);
	void (*unload)(void *handle);
};
#define JIT_LLVM_ENTRY "vcuda_jit_llvm"
#define JIT_LLVM_LIB   "vcuda-jit.so"

/* The tiers (VCUDA_CPU_JIT): off, auto (the default), on, and diff: every
 * launch the compiler takes runs on both tiers from the same memory, and
 * a difference fails it (the differential test). */
enum { JIT_OFF, JIT_AUTO, JIT_ON, JIT_DIFF };
int emu_jit_mode(void);
/* The compiled code to run launch L with, or NULL for the interpreter; in
 * auto mode this may start compiling in the background for later
 * launches. */
const struct jit_code *emu_jit_code_for(struct exec_launch *L, uint64_t blocks);
/* Runs one block of L on its compiled code (called by the host thread
 * pool); failures are set on L. */
void emu_jit_run_block(struct exec_launch *L, const struct jit_code *code, uint64_t index);
/* VCUDA_CPU_JIT=diff: runs L's blocks (run) on the interpreter, then from
 * the same device memory on L->jit; fails the launch where the device
 * memory or the error they leave differ. */
void emu_jit_differential(struct exec_launch *L, uint64_t total,
			  void (*run)(struct exec_launch *, uint64_t));
/* Releases what the compiler holds for mod (module unload). */
void emu_jit_module_free(struct ptx_module *mod);

/* Counters for benchmarks: compile time, disk cache hits and misses. */
struct emu_jit_stats {
	uint64_t compiled, compile_ns, cache_hits, cache_misses, interpreted;
	uint64_t compared; /* launches run on both tiers (VCUDA_CPU_JIT=diff) */
};
void vcuda_cpu_jit_stats(struct emu_jit_stats *out);

#endif
