/*
 * The CPU device's compiled tier, all but LLVM (jit_llvm.c and jit_gen.c,
 * in vcuda-jit.so, loaded for the first compile): the tier policy, a
 * background thread that compiles what it asks for, the disk cache of
 * objects, the helpers compiled code calls, and the block runner that
 * drives a compiled kernel (see jit.h for the model).
 *
 * Tiers (VCUDA_CPU_JIT): off never compiles; on compiles every kernel
 * before its first launch; auto (the default) starts on the interpreter
 * and compiles in the background once a kernel is launched a second time
 * or with a large grid: blocks not yet started when the code is ready run
 * native, so a long first launch gains too.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fenv.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dlfcn.h>

#include "exec_int.h"
#include "jit.h"
#include "log.h"
#include "util.h"

/* Bumped whenever generated code changes meaning: part of the cache key. */
#define JIT_ABI "vcuda-jit-2"
/* A launch of this many threads is compiled at once in auto mode. */
#define JIT_BIG_GRID (1u << 16)
/* Bounds on what one process holds for compiled code. */
#define JIT_MAX_KERNELS	   4096
#define JIT_MAX_CODE_BYTES (256u << 20)
#define JIT_MAX_QUEUE	   64

enum { JK_NONE, JK_QUEUED, JK_COMPILING, JK_READY, JK_FAILED };

/* One kernel's compiled state, in its module's table. */
struct jit_kernel {
	int state;
	uint32_t launches;
	struct jit_code code;
	struct jit_object *obj;
	const struct jit_code *ready; /* &code once READY (read without the lock) */
};

struct jit_module {
	struct ptx_module *mod;
	struct jit_kernel *k; /* per function */
	int busy;	      /* the compile thread is working on it */
};

/* A loaded object: shared by every module whose kernel hashes the same. */
struct jit_object {
	uint8_t key[32];
	void *handle; /* the LLVM side's (its resource tracker) */
	jit_kernel_fn fn;
	size_t bytes;
	int refs;
	struct jit_object *next;
};

struct jit_job {
	struct jit_module *jm;
	int func;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	int mode;		/* -1 until read */
	int compiling, exiting; /* the compile thread's work; the process ends */
	int started, broken;
	const struct jit_llvm *llvm; /* vcuda-jit.so, once loaded */
	struct jit_object *objects;
	size_t nobjects, code_bytes;
	struct jit_job queue[JIT_MAX_QUEUE];
	int nqueue;
	char cache_dir[512];
	uint64_t cache_bytes, cache_max; /* the directory's objects; its bound */
	int cache_full;
	struct emu_jit_stats stats;
} J = {.lock = PTHREAD_MUTEX_INITIALIZER,
       .work = PTHREAD_COND_INITIALIZER,
       .done = PTHREAD_COND_INITIALIZER,
       .mode = -1};

int emu_jit_mode(void)
{
	if (J.mode < 0) {
		const char *e = getenv("VCUDA_CPU_JIT");
		J.mode = !e || !*e || !strcmp(e, "auto") ? JIT_AUTO
			 : !strcmp(e, "on")		 ? JIT_ON
			 : !strcmp(e, "off")		 ? JIT_OFF
			 : !strcmp(e, "diff")		 ? JIT_DIFF
							 : JIT_AUTO;
		if (e && *e && strcmp(e, "auto") && strcmp(e, "on") && strcmp(e, "off") &&
		    strcmp(e, "diff"))
			fprintf(
			    stderr,
			    "vcuda: VCUDA_CPU_JIT=%s is not auto, on, off or diff: using auto\n",
			    e);
	}
	return J.mode;
}

/* For benchmarks: the tier of later launches (JIT_OFF, JIT_AUTO, JIT_ON). */
void vcuda_cpu_jit_set_mode(int mode);
void vcuda_cpu_jit_set_mode(int mode)
{
	pthread_mutex_lock(&J.lock);
	J.mode = mode;
	pthread_mutex_unlock(&J.lock);
}

/* VCUDA_CPU_JIT_STATS=1: the compiler's figures on stderr at exit. */
__attribute__((destructor)) static void jit_report(void)
{
	struct emu_jit_stats s;

	if (!getenv("VCUDA_CPU_JIT_STATS"))
		return;
	vcuda_cpu_jit_stats(&s);
	fprintf(stderr,
		"vcuda: CPU device compiler: %llu kernels compiled in %.1f ms, %llu left to the "
		"interpreter, disk cache %llu hits %llu misses, %llu launches compared\n",
		(unsigned long long)s.compiled, (double)s.compile_ns / 1e6,
		(unsigned long long)s.interpreted, (unsigned long long)s.cache_hits,
		(unsigned long long)s.cache_misses, (unsigned long long)s.compared);
}

void vcuda_cpu_jit_stats(struct emu_jit_stats *out)
{
	pthread_mutex_lock(&J.lock);
	*out = J.stats;
	pthread_mutex_unlock(&J.lock);
}

/* ---- helpers the compiled code calls ---------------------------------------------------- */

#define CTX_BLOCK(ctx) ((struct block *)(uintptr_t)(ctx)[JC_BLOCK])

/* Fills an instruction for the interpreter's arithmetic from the packed
 * fields of jit_gen.c's helper(). */
static struct ptx_insn insn_of(uint32_t op, uint32_t types, uint32_t mods)
{
	struct ptx_insn in = {0};

	in.op = (uint16_t)op;
	in.type = (uint8_t)types;
	in.type2 = (uint8_t)(types >> 8);
	in.cmp = (uint8_t)(types >> 16);
	in.sub = (uint8_t)(types >> 24);
	in.mods = mods;
	return in;
}

uint64_t vcuda_jit_int(uint32_t op, uint32_t types, uint32_t mods, uint32_t extra, uint64_t a,
		       uint64_t b, uint64_t c);
uint64_t vcuda_jit_int(uint32_t op, uint32_t types, uint32_t mods, uint32_t extra, uint64_t a,
		       uint64_t b, uint64_t c)
{
	struct ptx_insn in = insn_of(op, types, mods);

	(void)extra;
	return emu_int_op(&in, a, b, c);
}

uint64_t vcuda_jit_float(uint32_t op, uint32_t types, uint32_t mods, uint32_t extra, uint64_t a,
			 uint64_t b, uint64_t c);
uint64_t vcuda_jit_float(uint32_t op, uint32_t types, uint32_t mods, uint32_t extra, uint64_t a,
			 uint64_t b, uint64_t c)
{
	struct ptx_insn in = insn_of(op, types, mods);
	int old = (mods & (MOD_RZ | MOD_RM | MOD_RP)) ? emu_set_round(mods) : -1;
	uint64_t r = emu_float_exec(&in, a, b, c);

	(void)extra;
	if (old >= 0)
		fesetround(old);
	return r;
}

uint64_t vcuda_jit_cvt(uint32_t op, uint32_t types, uint32_t mods, uint32_t extra, uint64_t a,
		       uint64_t b, uint64_t c);
uint64_t vcuda_jit_cvt(uint32_t op, uint32_t types, uint32_t mods, uint32_t extra, uint64_t a,
		       uint64_t b, uint64_t c)
{
	struct ptx_insn in = insn_of(op, types, mods);

	(void)extra, (void)b, (void)c;
	return emu_convert(&in, a);
}

uint64_t vcuda_jit_compare(uint32_t op, uint32_t types, uint32_t mods, uint32_t extra, uint64_t a,
			   uint64_t b, uint64_t c);
uint64_t vcuda_jit_compare(uint32_t op, uint32_t types, uint32_t mods, uint32_t extra, uint64_t a,
			   uint64_t b, uint64_t c)
{
	(void)op, (void)types, (void)mods, (void)c;
	return (uint64_t)emu_compare((int)(extra & 0xff), (uint8_t)(extra >> 8), a, b);
}

uint64_t vcuda_jit_testp(uint32_t op, uint32_t types, uint32_t mods, uint32_t extra, uint64_t a,
			 uint64_t b, uint64_t c);
uint64_t vcuda_jit_testp(uint32_t op, uint32_t types, uint32_t mods, uint32_t extra, uint64_t a,
			 uint64_t b, uint64_t c)
{
	struct ptx_insn in = insn_of(op, types, mods);
	int cls = PTX_SIZE(in.type) == 4 ? fpclassify(f32(a)) : fpclassify(f64(a));

	(void)extra, (void)b, (void)c;
	return (uint64_t)emu_testp(in.sub, cls);
}

uint64_t vcuda_jit_bits(uint32_t op, uint32_t type, uint32_t mods, uint64_t a, uint64_t b,
			uint64_t c, uint64_t d);
uint64_t vcuda_jit_bits(uint32_t op, uint32_t type, uint32_t mods, uint64_t a, uint64_t b,
			uint64_t c, uint64_t d)
{
	switch (op) {
	case OP_BFI:
		return emu_bfi(a, b, c, d, PTX_SIZE(type));
	case OP_LOP3:
		return emu_lop3((uint32_t)a, (uint32_t)b, (uint32_t)c, (uint32_t)d);
	case OP_PRMT:
		return emu_prmt((uint32_t)a, (uint32_t)b, (uint32_t)c);
	default:
		return emu_shf((uint32_t)a, (uint32_t)b, (uint32_t)c, (mods & MOD_L) != 0,
			       (mods & MOD_CLAMP) != 0);
	}
}

uint64_t vcuda_jit_atomic(uint8_t *p, uint32_t shared, uint32_t sub, uint32_t type, uint64_t b,
			  uint64_t c);
uint64_t vcuda_jit_atomic(uint8_t *p, uint32_t shared, uint32_t sub, uint32_t type, uint64_t b,
			  uint64_t c)
{
	return emu_atomic_rmw(p, (int)shared, (int)sub, (uint8_t)type, b, c);
}

/* [a, a + len) for thread t where the inline checks could not place it:
 * a generic address of another window, or mapped host memory. */
void *vcuda_jit_address(uint64_t *ctx, uint64_t t, uint32_t space, uint64_t a, uint32_t len);
void *vcuda_jit_address(uint64_t *ctx, uint64_t t, uint32_t space, uint64_t a, uint32_t len)
{
	uint64_t off = a & GWIN_MASK;

	if (space == PS_GLOBAL)
		return emu_dev_span(a, len);
	switch (a >> GWIN_SHIFT) {
	case 0:
		return emu_dev_span(a, len);
	case 1:
		return off < ctx[JC_SMEM_SIZE] && len <= ctx[JC_SMEM_SIZE] - off
			   ? (uint8_t *)(uintptr_t)ctx[JC_SMEM] + off
			   : NULL;
	case 2:
		return off < ctx[JC_LSTRIDE] && len <= ctx[JC_LSTRIDE] - off
			   ? (uint8_t *)(uintptr_t)ctx[JC_LOCAL] + t * ctx[JC_LSTRIDE] + off
			   : NULL;
	case 3:
		return emu_dev_span(ctx[JC_CBASE] + off, len);
	case 4:
		return off < ctx[JC_PSIZE] && len <= ctx[JC_PSIZE] - off
			   ? (uint8_t *)(uintptr_t)ctx[JC_PARAMS] + off
			   : NULL;
	default:
		return NULL;
	}
}

void vcuda_jit_fault(uint64_t *ctx, uint64_t t, uint32_t insn, uint64_t addr, uint32_t len,
		     uint32_t write);
void vcuda_jit_fault(uint64_t *ctx, uint64_t t, uint32_t insn, uint64_t addr, uint32_t len,
		     uint32_t write)
{
	struct block *B = CTX_BLOCK(ctx);
	const struct ptx_insn *in = &B->L->kernel->insns[insn];
	uint32_t bx = B->L->block[0], by = B->L->block[1];

	emu_exec_fail(B, in, CUDA_ERROR_ILLEGAL_ADDRESS,
		      "%s of %u bytes at address 0x%llx (%s space) by thread (%u,%u,%u) is "
		      "outside any allocation",
		      write ? "write" : "read", len, (unsigned long long)addr,
		      in->space == PS_SHARED   ? "shared"
		      : in->space == PS_LOCAL  ? "local"
		      : in->space == PS_GLOBAL ? "global"
		      : in->space == PS_CONST  ? "const"
					       : "generic",
		      (unsigned)(t % bx), (unsigned)(t / bx % by),
		      (unsigned)(t / ((uint64_t)bx * by)));
}

/* Every 1024th backward branch, and between a block's rounds (insn
 * UINT32_MAX): whether the launch must stop (another
 * block failed, or the watchdog's deadline passed). */
int vcuda_jit_poll(uint64_t *ctx, uint32_t insn);
int vcuda_jit_poll(uint64_t *ctx, uint32_t insn)
{
	struct block *B = CTX_BLOCK(ctx);

	if (emu_exec_failed(B))
		return 1;
	if (B->L->deadline_ns && vcuda_now_ns() >= B->L->deadline_ns) {
		emu_exec_fail(
		    B, insn < (uint32_t)B->L->kernel->ninsns ? &B->L->kernel->insns[insn] : NULL,
		    CUDA_ERROR_LAUNCH_TIMEOUT,
		    "the kernel ran longer than the CPU device's kernel timeout "
		    "(VCUDA_CPU_KERNEL_TIMEOUT)");
		return 1;
	}
	return 0;
}

/* ---- the LLVM side ----------------------------------------------------------------------- */

static void cache_setup(void);

/* Loads vcuda-jit.so (VCUDA_CPU_JIT_LIB, else beside this library) and
 * starts it with the helpers; J.lock held. A failure is said once, and
 * every kernel then stays on the interpreter. */
static int jit_start(void)
{
	static void *const helpers[] = {
	    (void *)vcuda_jit_int,     (void *)vcuda_jit_float,	  (void *)vcuda_jit_cvt,
	    (void *)vcuda_jit_compare, (void *)vcuda_jit_testp,	  (void *)vcuda_jit_bits,
	    (void *)vcuda_jit_atomic,  (void *)vcuda_jit_address, (void *)vcuda_jit_fault,
	    (void *)vcuda_jit_poll,
	};
	static const char *const names[] = {
	    "vcuda_jit_int",   "vcuda_jit_float", "vcuda_jit_cvt",    "vcuda_jit_compare",
	    "vcuda_jit_testp", "vcuda_jit_bits",  "vcuda_jit_atomic", "vcuda_jit_address",
	    "vcuda_jit_fault", "vcuda_jit_poll",
	};
	const char *env = getenv("VCUDA_CPU_JIT_LIB");
	char path[4096], why[256] = "";
	const struct jit_llvm *(*entry)(void);
	Dl_info info;
	void *lib;

	if (J.started)
		return J.broken ? -1 : 0;
	J.started = J.broken = 1;
	if (env && *env)
		snprintf(path, sizeof(path), "%s", env);
	else if (dladdr((void *)emu_jit_mode, &info) && info.dli_fname) {
		const char *slash = strrchr(info.dli_fname, '/');
		snprintf(path, sizeof(path), "%.*s%s",
			 slash ? (int)(slash - info.dli_fname + 1) : 0, info.dli_fname,
			 JIT_LLVM_LIB);
	} else
		snprintf(path, sizeof(path), "%s", JIT_LLVM_LIB);
	if (!(lib = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
		VLOG(emulator, WARN,
		     "kernels stay on the interpreter: cannot load the compiler: %s", dlerror());
		return -1;
	}
	*(void **)&entry = dlsym(lib, JIT_LLVM_ENTRY);
	if (!entry || !(J.llvm = entry()) ||
	    J.llvm->start(helpers, names, (int)(sizeof(names) / sizeof(names[0])), ptx_op_name, why,
			  sizeof(why)) != 0) {
		VLOG(emulator, WARN, "kernels stay on the interpreter: the compiler (%s) fails: %s",
		     path, why[0] ? why : "no entry point");
		J.llvm = NULL;
		return -1;
	}
	cache_setup();
	J.broken = 0;
	return 0;
}

/* Bytes of objects in dir. */
static uint64_t cache_size(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint64_t total = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		size_t len = strlen(e->d_name);
		if (len < 3 || strcmp(e->d_name + len - 2, ".o") != 0)
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode))
			total += (uint64_t)st.st_size;
	}
	closedir(d);
	return total;
}

/* The cache directory: VCUDA_CPU_CACHE, else $XDG_CACHE_HOME/vcuda or
 * $HOME/.cache/vcuda; "off" for none. Objects there are loaded as code, so
 * the directory must be this user's and closed to others. */
static void cache_setup(void)
{
	const char *e = getenv("VCUDA_CPU_CACHE"), *base;
	char dir[480];
	struct stat st;

	J.cache_dir[0] = '\0';
	if (e && (!*e || !strcmp(e, "off")))
		return;
	if (e)
		snprintf(dir, sizeof(dir), "%s", e);
	else if ((base = getenv("XDG_CACHE_HOME")) && *base)
		snprintf(dir, sizeof(dir), "%s/vcuda", base);
	else if ((base = getenv("HOME")) && *base) {
		char parent[480];
		snprintf(parent, sizeof(parent), "%s/.cache", base);
		mkdir(parent, 0700);
		snprintf(dir, sizeof(dir), "%s/.cache/vcuda", base);
	} else
		return;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
	    (st.st_mode & 022)) {
		VLOG(emulator, WARN,
		     "not using %s as the kernel cache: it must be a directory of this user's "
		     "that others cannot write",
		     dir);
		return;
	}
	snprintf(J.cache_dir, sizeof(J.cache_dir), "%s", dir);
	J.cache_max = JIT_CACHE_MAX;
	if ((e = getenv("VCUDA_CPU_CACHE_MAX")) && *e) {
		unsigned long long mib = strtoull(e, NULL, 10);
		J.cache_max = mib < (1ull << 40) ? mib << 20 : UINT64_MAX;
	}
	J.cache_bytes = cache_size(dir);
}

static void key_hex(const uint8_t key[32], char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", key[i]);
}

static int read_full(int fd, void *buf, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = read(fd, (uint8_t *)buf + done, len - done);
		if (n <= 0 && !(n < 0 && errno == EINTR))
			return -1;
		done += n > 0 ? (size_t)n : 0;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, (const uint8_t *)buf + done, len - done);
		if (n <= 0 && !(n < 0 && errno == EINTR))
			return -1;
		done += n > 0 ? (size_t)n : 0;
	}
	return 0;
}

/* A cached object's bytes, or NULL. */
static uint8_t *cache_read(const char *hex, size_t *len)
{
	char path[640];
	struct stat st;
	uint8_t *buf;
	int fd;

	if (!J.cache_dir[0])
		return NULL;
	snprintf(path, sizeof(path), "%s/%s.o", J.cache_dir, hex);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != getuid() ||
	    st.st_size <= 0 || st.st_size > (off_t)(64u << 20) ||
	    !(buf = malloc((size_t)st.st_size))) {
		close(fd);
		return NULL;
	}
	if (read_full(fd, buf, (size_t)st.st_size) != 0) {
		free(buf);
		close(fd);
		return NULL;
	}
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void cache_write(const char *hex, const void *bytes, size_t len)
{
	char path[640], tmp[660];
	int fd;

	if (!J.cache_dir[0])
		return;
	/* Guests choose what is compiled: the directory stops growing at its
	 * bound (said once), and kernels are then compiled in each process. */
	pthread_mutex_lock(&J.lock);
	if (J.cache_bytes + len > J.cache_max) {
		if (!J.cache_full)
			VLOG(emulator, WARN,
			     "the kernel cache %s holds %llu MiB, its bound (VCUDA_CPU_CACHE_MAX): "
			     "no more kernels are added",
			     J.cache_dir, (unsigned long long)(J.cache_bytes >> 20));
		J.cache_full = 1;
		pthread_mutex_unlock(&J.lock);
		return;
	}
	J.cache_bytes += len;
	pthread_mutex_unlock(&J.lock);
	snprintf(path, sizeof(path), "%s/%s.o", J.cache_dir, hex);
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return;
	if (write_full(fd, bytes, len) != 0 || close(fd) != 0 || rename(tmp, path) != 0)
		unlink(tmp);
}

/* The stops of f as jit_gen numbers them (the stop instructions in
 * order), for code loaded from the cache. */
static int scan_stops(const struct ptx_func *f, struct jit_code *code)
{
	uint8_t *yields = calloc((size_t)f->ninsns + 1, 1);

	code->stops = calloc((size_t)f->ninsns + 1, sizeof(*code->stops));
	if (!code->stops || !yields || jit_find_yields(f, yields) != 0) {
		free(yields);
		free(code->stops);
		code->stops = NULL;
		return -1;
	}
	code->nstops = 0;
	code->has_coll = 0;
	code->nsave = (uint32_t)(f->nregs + f->npreds);
	for (int i = 0; i < f->ninsns; i++) {
		int op = f->insns[i].op;
		if (yields[i]) {
			code->stops[code->nstops].kind = JS_YIELD;
			code->stops[code->nstops++].insn = i;
			continue;
		}
		if (!jit_stop_kind(op))
			continue;
		code->stops[code->nstops].kind = jit_stop_kind(op);
		code->stops[code->nstops].insn = i;
		code->has_coll |= jit_stop_kind(op) == JS_COLL;
		code->nstops++;
	}
	free(yields);
	return 0;
}

/* Loads (or finds loaded) the object for key; J.lock held. */
static struct jit_object *object_load(const uint8_t key[32], const char *symbol, const void *bytes,
				      size_t len, char *why, size_t why_len)
{
	struct jit_object *o;

	for (o = J.objects; o; o = o->next)
		if (!memcmp(o->key, key, 32)) {
			o->refs++;
			return o;
		}
	if (J.nobjects >= JIT_MAX_KERNELS || J.code_bytes + len > JIT_MAX_CODE_BYTES) {
		snprintf(why, why_len, "the process holds the most compiled code it may");
		return NULL;
	}
	if (!(o = calloc(1, sizeof(*o))))
		return NULL;
	memcpy(o->key, key, 32);
	if (!(o->handle = J.llvm->load(bytes, len, symbol, &o->fn, why, why_len))) {
		free(o);
		return NULL;
	}
	o->bytes = len;
	o->refs = 1;
	o->next = J.objects;
	J.objects = o;
	J.nobjects++;
	J.code_bytes += len;
	return o;
}

static void object_put(struct jit_object *o)
{
	struct jit_object **pp;

	if (!o || --o->refs > 0)
		return;
	for (pp = &J.objects; *pp; pp = &(*pp)->next)
		if (*pp == o) {
			*pp = o->next;
			break;
		}
	J.llvm->unload(o->handle);
	J.nobjects--;
	J.code_bytes -= o->bytes;
	free(o);
}

/* Compiles kernel fi of jm; J.lock held on entry and exit (dropped while
 * LLVM works: the module stays, jm->busy keeps it). */
static void compile_kernel(struct jit_module *jm, int fi)
{
	const struct ptx_module *mod = jm->mod;
	const struct ptx_func *f = &mod->funcs[fi];
	struct jit_kernel *k = &jm->k[fi];
	uint8_t key[32];
	char hex[65], symbol[80], why[256] = "";
	uint8_t *bytes = NULL;
	size_t len = 0;
	struct jit_code code = {0};
	struct jit_object *o = NULL;
	void *built = NULL;
	uint64_t t0 = vcuda_now_ns();
	int hit = 0;

	/* LLVM is loaded by the first compile, not by the first launch. */
	if (jit_start() != 0) {
		k->state = JK_FAILED;
		J.stats.interpreted++;
		return;
	}
	k->state = JK_COMPILING;
	jm->busy++;
	pthread_mutex_unlock(&J.lock);
	J.llvm->key(JIT_ABI, mod->text, f->name, key);
	key_hex(key, hex);
	snprintf(symbol, sizeof(symbol), "vk_%.40s", hex);
	if ((bytes = cache_read(hex, &len)) && scan_stops(f, &code) == 0)
		hit = 1;
	else {
		free(bytes);
		bytes = NULL;
		if (J.llvm->compile(mod, f, symbol, &code, &built, &len, why, sizeof(why)) == 0)
			cache_write(hex, built, len);
	}
	pthread_mutex_lock(&J.lock);
	if (bytes || built)
		o = object_load(key, symbol, bytes ? (const void *)bytes : built, len, why,
				sizeof(why));
	free(built);
	free(bytes);
	if (o) {
		code.fn = o->fn;
		for (int i = 0; i < code.nstops; i++) {
			const struct ptx_insn *in = &f->insns[code.stops[i].insn];
			code.kinds |= 1u << code.stops[i].kind;
			code.has_red |= in->op == OP_BAR && in->sub != SUB_NONE;
		}
		k->code = code;
		k->obj = o;
		k->state = JK_READY;
		__atomic_store_n(&k->ready, &k->code, __ATOMIC_RELEASE);
		VLOG(emulator, DEBUG, "kernel %s compiled (%s, %zu bytes of object, %.1f ms) at %p",
		     f->name, hit ? "from the disk cache" : "new", len,
		     (double)(vcuda_now_ns() - t0) / 1e6, (void *)(uintptr_t)o->fn);
		J.stats.compiled++;
		J.stats.compile_ns += vcuda_now_ns() - t0;
		if (J.cache_dir[0])
			hit ? J.stats.cache_hits++ : J.stats.cache_misses++;
	} else {
		free(code.stops);
		k->state = JK_FAILED;
		J.stats.interpreted++;
		/* Once per kernel and module: it is not tried again. */
		if (emu_jit_mode() == JIT_ON || emu_jit_mode() == JIT_DIFF)
			VLOG(emulator, WARN, "kernel %s stays on the interpreter: %s", f->name,
			     why[0] ? why : "not compiled");
		else
			VLOG(emulator, INFO, "kernel %s stays on the interpreter: %s", f->name,
			     why[0] ? why : "not compiled");
	}
	jm->busy--;
	pthread_cond_broadcast(&J.done);
}

static void *compile_main(void *arg)
{
	pthread_mutex_lock(&J.lock);
	for (;;) {
		while (J.nqueue == 0 || J.exiting)
			pthread_cond_wait(&J.work, &J.lock);
		struct jit_job job = J.queue[0];
		memmove(J.queue, J.queue + 1, (size_t)--J.nqueue * sizeof(J.queue[0]));
		if (job.jm->k[job.func].state == JK_QUEUED) {
			J.compiling++;
			compile_kernel(job.jm, job.func);
			J.compiling--;
			pthread_cond_broadcast(&J.done);
		}
	}
	return arg;
}

/* At exit: no compile starts, and the one under way ends, before LLVM's
 * own static destructors run (registered earlier, so run later). */
static void compile_stop(void)
{
	pthread_mutex_lock(&J.lock);
	J.exiting = 1;
	while (J.compiling)
		pthread_cond_wait(&J.done, &J.lock);
	pthread_mutex_unlock(&J.lock);
}

static int compile_thread_started;

static struct jit_module *module_state(struct ptx_module *mod)
{
	struct jit_module *jm = mod->jit;

	if (jm)
		return jm;
	if (!(jm = calloc(1, sizeof(*jm))) ||
	    !(jm->k = calloc((size_t)mod->nfuncs, sizeof(*jm->k)))) {
		free(jm);
		return NULL;
	}
	jm->mod = mod;
	mod->jit = jm;
	return jm;
}

const struct jit_code *emu_jit_code_for(struct exec_launch *L, uint64_t blocks)
{
	int mode = emu_jit_mode(), fi;
	struct ptx_module *mod = (struct ptx_module *)L->mod;
	struct jit_module *jm;
	struct jit_kernel *k;
	const struct jit_code *code = NULL;
	uint64_t threads = blocks * L->block[0] * L->block[1] * L->block[2];

	if (mode == JIT_OFF || L->cooperative || L->depth > 0)
		return NULL;
	for (int i = 0; i < 3; i++)
		if (L->cluster[i] > 1)
			return NULL;
	fi = (int)(L->kernel - mod->funcs);
	if (fi < 0 || fi >= mod->nfuncs)
		return NULL;
	pthread_mutex_lock(&J.lock);
	if ((J.started && J.broken) || !(jm = module_state(mod))) {
		pthread_mutex_unlock(&J.lock);
		return NULL;
	}
	k = &jm->k[fi];
	k->launches++;
	if (k->state == JK_NONE && (mode == JIT_ON || mode == JIT_DIFF))
		compile_kernel(jm, fi);
	else if (k->state == JK_NONE && (k->launches >= 2 || threads >= JIT_BIG_GRID) &&
		 J.nqueue < JIT_MAX_QUEUE) {
		if (!compile_thread_started) {
			pthread_t t;
			pthread_attr_t a;
			pthread_attr_init(&a);
			pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
			compile_thread_started = pthread_create(&t, &a, compile_main, NULL) == 0;
			if (compile_thread_started)
				atexit(compile_stop);
			pthread_attr_destroy(&a);
		}
		if (compile_thread_started) {
			k->state = JK_QUEUED;
			J.queue[J.nqueue++] = (struct jit_job){jm, fi};
			pthread_cond_signal(&J.work);
		}
	}
	/* Still compiling: the launch asks again before each block. */
	if (k->state == JK_READY)
		code = &k->code;
	else if (k->state == JK_QUEUED || k->state == JK_COMPILING)
		L->jit_pending = &k->ready;
	pthread_mutex_unlock(&J.lock);
	return code;
}

void emu_jit_module_free(struct ptx_module *mod)
{
	struct jit_module *jm = mod->jit;

	if (!jm)
		return;
	pthread_mutex_lock(&J.lock);
	/* Queued work for it goes; work in progress is waited for. */
	for (int i = 0; i < J.nqueue;)
		if (J.queue[i].jm == jm)
			memmove(J.queue + i, J.queue + i + 1,
				(size_t)(--J.nqueue - i) * sizeof(J.queue[0]));
		else
			i++;
	while (jm->busy)
		pthread_cond_wait(&J.done, &J.lock);
	for (int i = 0; i < mod->nfuncs; i++) {
		object_put(jm->k[i].obj);
		free(jm->k[i].code.stops);
	}
	pthread_mutex_unlock(&J.lock);
	free(jm->k);
	free(jm);
	mod->jit = NULL;
}

/* ---- the block runner ------------------------------------------------------------------- */

static __thread struct {
	struct jit_thread *thr;
	uint64_t *save;
	struct jit_coll *coll;
	size_t nthr, nsave;
} rs;

static int runner_memory(uint32_t nthreads, size_t slots)
{
	if (nthreads > rs.nthr) {
		struct jit_thread *t = realloc(rs.thr, nthreads * sizeof(*t));
		struct jit_coll *c;
		if (!t)
			return -1;
		rs.thr = t;
		if (!(c = realloc(rs.coll, nthreads * sizeof(*c))))
			return -1;
		rs.coll = c;
		rs.nthr = nthreads;
	}
	if (slots > rs.nsave) {
		uint64_t *s = realloc(rs.save, slots * sizeof(*s));
		if (!s)
			return -1;
		rs.save = s;
		rs.nsave = slots;
	}
	return 0;
}

/* Completes the warp operation at instruction in for lanes (of the warp
 * whose first thread is base) stopped there. */
static void complete_coll(const struct ptx_insn *in, uint32_t base, uint32_t lanes)
{
	struct jit_coll *c = rs.coll + base;
	uint64_t src[32] = {0};
	uint32_t yes = 0;

	for (uint32_t m = lanes; m; m &= m - 1) {
		int l = __builtin_ctz(m);
		src[l] = c[l].a;
		if (c[l].a)
			yes |= 1u << l;
	}
	for (uint32_t m = lanes; m; m &= m - 1) {
		int l = __builtin_ctz(m);
		uint32_t g = (uint32_t)c[l].mask & lanes;
		switch (in->op) {
		case OP_SHFL: {
			int ok, j = emu_shfl_source(in->sub, (uint32_t)l, (uint32_t)c[l].b,
						    (uint32_t)c[l].c, &ok);
			c[l].result = src[j];
			c[l].pred = (uint64_t)ok;
			break;
		}
		case OP_VOTE:
			c[l].result = emu_vote_result(in->sub, yes, g);
			break;
		case OP_REDUX:
			c[l].result = emu_redux_result(in->sub, in->type, src, (uint32_t)l, g);
			break;
		default: /* activemask */
			c[l].result = lanes;
			break;
		}
	}
}

/* The barrier opens: threads waiting at a bar.red get the block's
 * reduction of their predicates (the interpreter's bar_red_result). */
static void bar_red(const struct ptx_func *k, const struct jit_code *code, uint32_t n)
{
	uint64_t count = 0, threads = 0;
	int sub = SUB_NONE;

	for (uint32_t t = 0; t < n; t++) {
		const struct ptx_insn *in;
		if (rs.thr[t].pc <= 0)
			continue;
		in = &k->insns[code->stops[rs.thr[t].pc - 1].insn];
		if (in->op != OP_BAR || in->sub == SUB_NONE)
			continue;
		sub = in->sub;
		count += rs.coll[t].a != 0;
		threads++;
	}
	if (sub == SUB_NONE)
		return;
	for (uint32_t t = 0; t < n; t++)
		if (rs.thr[t].pc > 0)
			rs.coll[t].result = sub == SUB_POPC  ? count
					    : sub == SUB_AND ? count == threads
							     : count != 0;
}

void emu_jit_run_block(struct exec_launch *L, const struct jit_code *code, uint64_t index)
{
	struct block B;
	uint64_t ctx[JC_COUNT];
	uint32_t n, nwarps;
	int rc = 0;

	memset(&B, 0, sizeof(B));
	B.L = L;
	B.ctaid[0] = (uint32_t)(index % L->grid[0]);
	B.ctaid[1] = (uint32_t)(index / L->grid[0] % L->grid[1]);
	B.ctaid[2] = (uint32_t)(index / ((uint64_t)L->grid[0] * L->grid[1]));
	n = B.nthreads = L->block[0] * L->block[1] * L->block[2];
	nwarps = (n + 31) / 32;
	B.smem_size = ((L->static_smem + L->dyn_smem + 15) & ~15u) + PTX_RESERVED_SMEM;
	B.local_stride = L->local_stride;
	if (emu_block_memory(&B, 0, B.smem_size,
			     (size_t)n * (B.local_stride ? B.local_stride : 1)) != 0 ||
	    runner_memory(n, (size_t)n * code->nsave) != 0) {
		emu_exec_fail(&B, NULL, CUDA_ERROR_OUT_OF_MEMORY, "out of host memory for a block");
		return;
	}
	ctx[JC_STORE] = (uintptr_t)emu.store;
	ctx[JC_DEV_VA] = (uintptr_t)emu.dev_va;
	ctx[JC_ARENA] = emu.arena_size;
	ctx[JC_REFS] = (uintptr_t)emu_page_refs;
	ctx[JC_SMEM] = (uintptr_t)B.smem;
	ctx[JC_SMEM_SIZE] = B.smem_size;
	ctx[JC_LOCAL] = (uintptr_t)B.local;
	ctx[JC_LSTRIDE] = B.local_stride;
	ctx[JC_PARAMS] = (uintptr_t)L->params;
	ctx[JC_PSIZE] = L->kernel->param_size;
	ctx[JC_SYMADDR] = (uintptr_t)L->sym_addr;
	ctx[JC_CBASE] = L->const_base;
	for (int i = 0; i < 3; i++) {
		ctx[JC_NTID + i] = L->block[i];
		ctx[JC_CTAID + i] = B.ctaid[i];
		ctx[JC_NCTAID + i] = L->grid[i];
	}
	ctx[JC_STATIC_SMEM] = L->static_smem;
	ctx[JC_DYN_SMEM] = L->dyn_smem;
	ctx[JC_THR] = (uintptr_t)rs.thr;
	ctx[JC_SAVE] = (uintptr_t)rs.save;
	ctx[JC_NSAVE] = code->nsave;
	ctx[JC_COLL] = (uintptr_t)rs.coll;
	ctx[JC_BLOCK] = (uintptr_t)&B;
	ctx[JC_NWARPS] = nwarps;
	ctx[JC_WORKSPACE] = L->grid_workspace;
	ctx[JC_TIDS] = (uintptr_t)L->tids;
	if (!code->nstops) {
		/* Nothing stops a thread: one call runs the block. */
		if (code->fn(ctx, 0, n) == 0)
			vcuda_jit_poll(ctx, UINT32_MAX);
		return;
	}
	for (uint32_t t = 0; t < n; t++)
		rs.thr[t] = (struct jit_thread){0, 1};
	if (code->kinds == 1u << JS_BARRIER) {
		/* Only barriers: a call runs the block's threads to the next
		 * one; it opens once they are all there or have exited. */
		for (;;) {
			int waiting = 0;
			if (code->fn(ctx, 0, n) != 0 || emu_exec_failed(&B))
				return;
			if (code->has_red)
				bar_red(L->kernel, code, n);
			for (uint32_t t = 0; t < n; t++)
				if (rs.thr[t].pc > 0) {
					rs.thr[t].ready = 1;
					waiting = 1;
				}
			if (!waiting || vcuda_jit_poll(ctx, UINT32_MAX))
				return;
		}
	}
	for (;;) {
		int waiting = 0, sleeping = 0;
		/* Warp by warp: the threads that yielded run again, those at
		 * the same warp operation complete it together, until every
		 * thread of the warp waits at a barrier or has exited. */
		for (uint32_t w = 0; w < nwarps && rc == 0; w++) {
			uint32_t base = w * 32, end = base + 32 < n ? base + 32 : n;
			for (;;) {
				int again = 0;
				if ((rc = code->fn(ctx, base, end)) != 0)
					break;
				/* Yielded threads first: a warp operation completes
				 * only once every thread that will reach it has. */
				for (uint32_t t = base; t < end && (code->kinds & 1u << JS_YIELD);
				     t++)
					if (rs.thr[t].pc > 0 && !rs.thr[t].ready &&
					    code->stops[rs.thr[t].pc - 1].kind == JS_YIELD)
						rs.thr[t].ready = again = 1;
				for (uint32_t t = base;
				     t < end && !again && (code->kinds & 1u << JS_COLL); t++) {
					int pc = rs.thr[t].pc, kind;
					uint32_t lanes = 0;
					if (pc <= 0 || rs.thr[t].ready)
						continue;
					kind = code->stops[pc - 1].kind;
					if (kind != JS_COLL)
						continue;
					for (uint32_t u = t; u < end; u++)
						if (rs.thr[u].pc == pc && !rs.thr[u].ready)
							lanes |= 1u << (u - base);
					complete_coll(&L->kernel->insns[code->stops[pc - 1].insn],
						      base, lanes);
					for (uint32_t m = lanes; m; m &= m - 1)
						rs.thr[base + (uint32_t)__builtin_ctz(m)].ready = 1;
					again = 2;
				}
				if (!again)
					break;
				/* A thread that yields restarts the code's count of
				 * backward branches: the watchdog is asked here. */
				if ((rc = vcuda_jit_poll(ctx, UINT32_MAX)) != 0)
					break;
			}
		}
		if (rc != 0 || emu_exec_failed(&B))
			return;
		/* Sleeping threads run again; once every thread has exited or
		 * waits at a barrier, it opens. */
		for (uint32_t t = 0; t < n && (code->kinds & 1u << JS_SLEEP); t++)
			if (rs.thr[t].pc > 0 && code->stops[rs.thr[t].pc - 1].kind == JS_SLEEP) {
				rs.thr[t].ready = 1;
				sleeping = 1;
			}
		if (!sleeping && code->has_red)
			bar_red(L->kernel, code, n);
		for (uint32_t t = 0; t < n && !sleeping; t++)
			if (rs.thr[t].pc > 0) {
				rs.thr[t].ready = 1;
				waiting = 1;
			}
		if (!waiting && !sleeping)
			return;
		if (vcuda_jit_poll(ctx, UINT32_MAX))
			return;
	}
}

/* ---- the differential test (VCUDA_CPU_JIT=diff) ----------------------------------------- */

/* The device memory a launch may change: every allocated page of the
 * arena, copied. */
struct snapshot {
	uint64_t *pages; /* page numbers */
	uint8_t *bytes;	 /* 4 KiB each */
	size_t n;
};

static int snapshot_take(struct snapshot *s)
{
	uint64_t npages = emu.arena_size >> 12, n = 0;

	for (uint64_t p = 0; p < npages; p++)
		n += emu_page_refs[p] != 0;
	s->n = (size_t)n;
	s->pages = malloc((n ? n : 1) * sizeof(*s->pages));
	s->bytes = malloc((n ? n : 1) << 12);
	if (!s->pages || !s->bytes) {
		free(s->pages);
		free(s->bytes);
		return -1;
	}
	n = 0;
	for (uint64_t p = 0; p < npages; p++)
		if (emu_page_refs[p]) {
			s->pages[n] = p;
			memcpy(s->bytes + (n << 12), emu.store + (p << 12), 4096);
			n++;
		}
	return 0;
}

static void snapshot_restore(const struct snapshot *s)
{
	for (size_t i = 0; i < s->n; i++)
		memcpy(emu.store + (s->pages[i] << 12), s->bytes + (i << 12), 4096);
}

static void snapshot_free(struct snapshot *s)
{
	free(s->pages);
	free(s->bytes);
}

/* Whether the tiers may rightly differ on f: float atomics sum in another
 * order when a warp's threads run one after another. */
static int order_dependent(const struct ptx_func *f)
{
	for (int i = 0; i < f->ninsns; i++) {
		const struct ptx_insn *in = &f->insns[i];
		if ((in->op == OP_ATOM || in->op == OP_RED) && PTX_KIND(in->type) == PK_F)
			return 1;
	}
	return 0;
}

/* The first byte where the device memory differs from the snapshot's:
 * its device address, or 0. */
static uint64_t snapshot_differs(const struct snapshot *s, uint8_t *was, uint8_t *now)
{
	for (size_t i = 0; i < s->n; i++) {
		const uint8_t *a = s->bytes + (i << 12), *b = emu.store + (s->pages[i] << 12);
		size_t o = 0;
		if (!memcmp(a, b, 4096))
			continue;
		while (a[o] == b[o])
			o++;
		*was = a[o];
		*now = b[o];
		return (uint64_t)(uintptr_t)emu.dev_va + (s->pages[i] << 12) + o;
	}
	return 0;
}

void emu_jit_differential(struct exec_launch *L, uint64_t total,
			  void (*run)(struct exec_launch *, uint64_t))
{
	const struct jit_code *code = L->jit;
	struct snapshot before, interp;
	char message[sizeof(L->message)];
	uint64_t at;
	uint8_t was, now;
	CUresult rc;

	/* Mapped host memory is outside the snapshot: a second run there
	 * would apply its writes twice. */
	if (emu.mapped.n || order_dependent(L->kernel) || snapshot_take(&before) != 0) {
		run(L, total);
		return;
	}
	L->jit = NULL;
	run(L, total);
	rc = L->error;
	memcpy(message, L->message, sizeof(message));
	if (snapshot_take(&interp) != 0) {
		snapshot_free(&before);
		return;
	}
	snapshot_restore(&before);
	L->jit = code;
	L->error = CUDA_SUCCESS;
	L->message[0] = '\0';
	run(L, total);
	if (L->error != rc) {
		VLOG(
		    emulator, ERROR,
		    "differential test: kernel %s ends with error %d compiled, %d interpreted (%s)",
		    L->kernel->name, (int)L->error, (int)rc, rc ? message : L->message);
		L->error = CUDA_ERROR_UNKNOWN;
		snprintf(L->message, sizeof(L->message),
			 "%s: the compiled tier and the interpreter end with different errors",
			 L->kernel->name);
	} else if (rc == CUDA_SUCCESS && (at = snapshot_differs(&interp, &was, &now)) != 0) {
		VLOG(emulator, ERROR,
		     "differential test: kernel %s leaves the byte at 0x%llx 0x%02x compiled, "
		     "0x%02x interpreted",
		     L->kernel->name, (unsigned long long)at, now, was);
		L->error = CUDA_ERROR_UNKNOWN;
		snprintf(L->message, sizeof(L->message),
			 "%s: the compiled tier and the interpreter leave device memory different "
			 "(at 0x%llx)",
			 L->kernel->name, (unsigned long long)at);
	}
	pthread_mutex_lock(&J.lock);
	J.stats.compared++;
	pthread_mutex_unlock(&J.lock);
	snapshot_free(&before);
	snapshot_free(&interp);
}
