/* The CPU device: device memory, page-locked host memory, copies and sets. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "budget.h"
#include "emu.h"
#include "exec.h"
#include "log.h"
#include "texture.h"

#define HOST_PAGE 4096u

/* How many allocations touch each page of the arena: kernels check their
 * accesses against it (a page test costs one load; real GPUs also fault
 * only at page granularity). */
uint16_t *emu_page_refs;

static void pages_mark(uint64_t off, uint64_t size, int delta)
{
	for (uint64_t pg = off / HOST_PAGE; pg <= (off + size - 1) / HOST_PAGE; pg++)
		emu_page_refs[pg] = (uint16_t)(emu_page_refs[pg] + delta);
}

void *emu_dev_span(uint64_t addr, size_t len)
{
	const struct vcuda_range *r;
	void *p = emu_dev_fast(addr, len);

	if (p || !emu.mapped.n) /* not device memory: mapped host memory? */
		return p;
	pthread_mutex_lock(&emu.lock);
	r = vcuda_rangemap_find_span(&emu.mapped, addr, len);
	pthread_mutex_unlock(&emu.lock);
	return r ? (void *)(uintptr_t)addr : NULL;
}

/* The server's budget for the CPU device's memory of all its workers
 * (VCUDA_CPU_BUDGET, set by vcudad), or NULL when the device is alone. */
static struct vcuda_budget *emu_budget;
static uint32_t emu_budget_slot;

/* The arena's backing store is a memory file, so that an allocation can
 * be mapped by another process of the same client (CUDA IPC: the server
 * passes the file; see vcuda_cpu_ipc_export). */
static int emu_store_fd = -1;

/*
 * Where device addresses start: VCUDA_CPU_BASE (hex), else EMU_DEVICE_BASE,
 * the same in every process, so that a session moved to another server's
 * CPU device finds its allocations free at the addresses its guest knows.
 * Where that range is taken the kernel's choice serves (and a session
 * cannot move there).
 */
#define EMU_DEVICE_BASE 0x500000000000ull

static uint8_t *memory_reserve(uint64_t size)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	const char *env = getenv("VCUDA_CPU_BASE");
	uint64_t base = EMU_DEVICE_BASE;
	char *end;
	void *p;

	if (env && *env) {
		base = strtoull(env, &end, 16);
		if (*end || base % HOST_PAGE) {
			VWARN(emulator,
			      "ignoring bad VCUDA_CPU_BASE '%s' (a page-aligned hex address)", env);
			base = EMU_DEVICE_BASE;
		}
	}
	p = mmap((void *)(uintptr_t)base, size, PROT_NONE, flags | MAP_FIXED_NOREPLACE, -1, 0);
	if (p != MAP_FAILED && (uintptr_t)p != base) { /* a kernel that took it as a hint */
		munmap(p, size);
		p = MAP_FAILED;
	}
	if (p == MAP_FAILED) {
		VWARN(emulator,
		      "device addresses cannot start at 0x%llx; sessions cannot move here",
		      (unsigned long long)base);
		p = mmap(NULL, size, PROT_NONE, flags, -1, 0);
	}
	return p == MAP_FAILED ? NULL : p;
}

/* The store came from VCUDA_CPU_STORE (vcuda_cpu_store_adopted). */
static int emu_store_adopted;

/*
 * VCUDA_CPU_STORE names a memory file (tmpfs) of exactly the arena's size
 * whose contents become this device's memory: a session that moved here
 * with pre-copy finds its allocations' contents already in place (the old
 * server wrote them there while its guest ran). The file is removed once
 * mapped. -1 (said why) when it cannot serve; the device then starts empty.
 */
static int memory_adopt(const char *path, uint64_t size)
{
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	struct statfs fs;
	const char *why = NULL;

	if (fd < 0)
		why = strerror(errno);
	else if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
		why = "not a file of the device's memory size";
	else if (fstatfs(fd, &fs) != 0 || fs.f_type != TMPFS_MAGIC)
		why = "not on a memory file system";
	else if ((emu.store = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
				   fd, 0)) == MAP_FAILED)
		why = strerror(errno);
	if (why) {
		VWARN(emulator, "cannot take device memory from %s: %s", path, why);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	unlink(path);
	emu_store_fd = fd;
	emu_store_adopted = 1;
	return 0;
}

CUresult emu_memory_init(uint64_t size)
{
	struct vcuda_range all = {.base = 0, .size = size};
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	const char *adopt = getenv("VCUDA_CPU_STORE");

	if (!(emu.dev_va = memory_reserve(size)))
		return CUDA_ERROR_OUT_OF_MEMORY;
	if (adopt && *adopt && memory_adopt(adopt, size) == 0)
		goto mapped;
	emu_store_fd = memfd_create("vcuda-cpu-device", MFD_CLOEXEC);
	if (emu_store_fd >= 0 && ftruncate(emu_store_fd, (off_t)size) == 0) {
		emu.store = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
				 emu_store_fd, 0);
	} else { /* no memory files here: no IPC, the rest as before */
		if (emu_store_fd >= 0)
			close(emu_store_fd);
		emu_store_fd = -1;
		emu.store = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
	}
	if (emu.store == MAP_FAILED) {
		munmap(emu.dev_va, size);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
mapped:
	emu.arena_size = size;
	emu_budget = vcuda_budget_attach(getenv("VCUDA_CPU_BUDGET"), &emu_budget_slot);
	emu_page_refs = calloc(size / HOST_PAGE + 1, sizeof(*emu_page_refs));
	if (!emu_page_refs)
		return CUDA_ERROR_OUT_OF_MEMORY;
	vcuda_rangemap_init(&emu.allocs);
	vcuda_rangemap_init(&emu.free);
	vcuda_rangemap_init(&emu.host);
	vcuda_rangemap_init(&emu.mapped);
	vcuda_rangemap_insert(&emu.free, &all);
	return CUDA_SUCCESS;
}

int emu_is_device_address(uint64_t addr)
{
	return addr - (uintptr_t)emu.dev_va < emu.arena_size;
}

void *emu_dev_to_host(CUdeviceptr dptr, size_t len)
{
	const struct vcuda_range *r;
	void *host = NULL;

	pthread_mutex_lock(&emu.lock);
	r = vcuda_rangemap_find_span(&emu.allocs, dptr, len);
	if (r)
		host = emu.store + (dptr - (uintptr_t)emu.dev_va);
	pthread_mutex_unlock(&emu.lock);
	return host;
}

/* ---- written memory, tracked (moving a session with pre-copy) ----------------------
 * While a session is copied to another server, every write to device
 * memory is noted at TRACK_GRAIN: the store is made read-only, and the
 * first write to a grain faults; the handler notes the grain and makes it
 * writable again. Kernels, copies and sets all write through the store,
 * so nothing escapes, whatever thread writes. A round takes the grains
 * noted since the last and protects those again (only they became
 * writable: protecting the whole store costs tens of milliseconds a GiB).
 * Tracking stops without unprotecting anything (that would cost as much,
 * while the guest waits): a grain still protected is made writable at its
 * next write. Where the system cannot split the mapping that finely (its
 * map count), every grain counts as written, and the store is writable. */

#define TRACK_GRAIN (64u << 10)

static uint64_t *track_bits; /* one per grain of the arena; NULL: not tracking */
static int track_all;	     /* every grain counts as written */
static int track_lazy;	     /* grains may still be protected */
static int track_installed;  /* the handler is (it stays) */
static char track_spin;	     /* the handler's and the rounds' lock (a spin lock) */
static struct sigaction track_old;

static void track_lock(void)
{
	while (__atomic_test_and_set(&track_spin, __ATOMIC_ACQUIRE))
		;
}

static void track_unlock(void)
{
	__atomic_clear(&track_spin, __ATOMIC_RELEASE);
}

static void track_fault(int sig, siginfo_t *si, void *uc)
{
	uint64_t off = (uint64_t)((uintptr_t)si->si_addr - (uintptr_t)emu.store);
	int saved = errno;

	(void)uc;
	if (!__atomic_load_n(&track_lazy, __ATOMIC_ACQUIRE) || off >= emu.arena_size) {
		/* not a write to tracked memory: the handler before ours takes
		 * the fault when the instruction runs again (or, where the
		 * grain was made writable meanwhile, nothing faults) */
		sigaction(sig, &track_old, NULL);
		track_installed = 0;
		return;
	}
	track_lock();
	{
		uint64_t g = off / TRACK_GRAIN;
		if (track_bits)
			__atomic_or_fetch(&track_bits[g / 64], 1ull << (g % 64), __ATOMIC_RELAXED);
		if (mprotect(emu.store + g * TRACK_GRAIN, TRACK_GRAIN, PROT_READ | PROT_WRITE) !=
		    0) {
			track_all = 1;
			mprotect(emu.store, emu.arena_size, PROT_READ | PROT_WRITE);
		}
	}
	track_unlock();
	errno = saved;
}

/* Notes [off, off + size) of the arena as written. */
static void track_mark(uint64_t off, uint64_t size)
{
	if (!__atomic_load_n(&track_bits, __ATOMIC_ACQUIRE) || !size)
		return;
	track_lock();
	if (track_bits)
		for (uint64_t g = off / TRACK_GRAIN; g <= (off + size - 1) / TRACK_GRAIN; g++)
			track_bits[g / 64] |= 1ull << (g % 64);
	track_unlock();
}

int vcuda_cpu_track_start(void);
int vcuda_cpu_track_take(uint64_t *bits, size_t words);
void vcuda_cpu_track_stop(uint64_t *bits, size_t words);
int vcuda_cpu_store(uint64_t *base, const uint8_t **store, uint64_t *size, uint64_t *grain);
int vcuda_cpu_store_adopted(void);

/* Starts noting written memory: 0, or -1 (tracking already, or no memory). */
int vcuda_cpu_track_start(void)
{
	struct sigaction sa;
	size_t words = (emu.arena_size / TRACK_GRAIN + 63) / 64;
	uint64_t *bits;

	if (!emu.store || track_bits || !(bits = calloc(words ? words : 1, sizeof(*bits))))
		return -1;
	if (!track_installed) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = track_fault;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGSEGV, &sa, &track_old) != 0) {
			free(bits);
			return -1;
		}
		track_installed = 1;
	}
	track_lock();
	track_all = 0;
	__atomic_store_n(&track_lazy, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&track_bits, bits, __ATOMIC_RELEASE);
	if (mprotect(emu.store, emu.arena_size, PROT_READ) != 0) {
		track_all = 1;
		mprotect(emu.store, emu.arena_size, PROT_READ | PROT_WRITE);
	}
	track_unlock();
	return 0;
}

/* ORs the grains noted into bits and clears them; where they are to be
 * noted again, protects them again. Called with the spin lock held. */
static void track_collect(uint64_t *bits, size_t words, int again)
{
	size_t n = (emu.arena_size / TRACK_GRAIN + 63) / 64;
	uint64_t run = 0, grains = emu.arena_size / TRACK_GRAIN;
	int in_run = 0;

	for (size_t i = 0; i < n && i < words; i++)
		bits[i] |= track_all ? ~0ull : track_bits[i];
	if (track_all) {
		memset(track_bits, 0, n * sizeof(*track_bits));
		track_all = again && mprotect(emu.store, emu.arena_size, PROT_READ) != 0;
		return;
	}
	for (uint64_t g = 0; g <= grains; g++) { /* runs of noted grains */
		int on = g < grains && (track_bits[g / 64] >> (g % 64) & 1);
		if (in_run && !on && again &&
		    mprotect(emu.store + run * TRACK_GRAIN, (g - run) * TRACK_GRAIN, PROT_READ) !=
			0)
			track_all = 1;
		if (on && !in_run)
			run = g;
		in_run = on;
	}
	memset(track_bits, 0, n * sizeof(*track_bits));
	if (track_all) /* could not protect them: from now on, all count */
		mprotect(emu.store, emu.arena_size, PROT_READ | PROT_WRITE);
}

/* The grains written since the start or the last take, ORed into bits
 * (words 64-bit words, one bit per grain of the arena), then forgotten:
 * tracking goes on from here. 0, or -1 when not tracking. */
int vcuda_cpu_track_take(uint64_t *bits, size_t words)
{
	if (!track_bits)
		return -1;
	track_lock();
	track_collect(bits, words, 1);
	track_unlock();
	return 0;
}

/* Stops noting writes; those since the last take are ORed into bits.
 * Grains still protected become writable at their next write (cheap while
 * a guest waits). With bits NULL, the whole store is made writable again
 * (what is left of tracking ends; tens of milliseconds a GiB). */
void vcuda_cpu_track_stop(uint64_t *bits, size_t words)
{
	uint64_t *was = track_bits;

	track_lock();
	if (was && bits)
		track_collect(bits, words, 0);
	__atomic_store_n(&track_bits, NULL, __ATOMIC_RELEASE);
	if (!bits && track_lazy) {
		mprotect(emu.store, emu.arena_size, PROT_READ | PROT_WRITE);
		/* the handler stays: a fault already on its way finds the grain
		 * writable, and any other goes to the handler before it */
		__atomic_store_n(&track_lazy, 0, __ATOMIC_RELEASE);
	}
	track_unlock();
	free(was);
}

/* Where this process holds device memory: device address base, the
 * store that backs it (readable), its size and the tracking grain. 0, or
 * -1 before cuInit. */
int vcuda_cpu_store(uint64_t *base, const uint8_t **store, uint64_t *size, uint64_t *grain)
{
	if (!emu.store)
		return -1;
	*base = (uintptr_t)emu.dev_va;
	*store = emu.store;
	*size = emu.arena_size;
	*grain = TRACK_GRAIN;
	return 0;
}

/* Whether the device's memory came from VCUDA_CPU_STORE. */
int vcuda_cpu_store_adopted(void)
{
	return emu_store_adopted;
}

/* First fit over the free blocks (arena offsets). Called with the lock held. */
static int arena_alloc(uint64_t size, uint64_t *offset)
{
	for (size_t i = 0; i < emu.free.n; i++) {
		struct vcuda_range blk = emu.free.r[i];
		if (blk.size < size)
			continue;
		vcuda_rangemap_remove(&emu.free, blk.base, NULL);
		if (blk.size > size) {
			struct vcuda_range rest = {.base = blk.base + size,
						   .size = blk.size - size};
			vcuda_rangemap_insert(&emu.free, &rest);
		}
		*offset = blk.base;
		return 0;
	}
	return -1;
}

/* Takes exactly [offset, offset + size) out of the free blocks. Called
 * with the lock held. */
static int arena_take(uint64_t offset, uint64_t size)
{
	const struct vcuda_range *f = vcuda_rangemap_find(&emu.free, offset);
	struct vcuda_range blk, before, after;

	if (!f || f->base + f->size < offset + size || offset + size < offset)
		return -1;
	blk = *f;
	before = (struct vcuda_range){.base = blk.base, .size = offset - blk.base};
	after = (struct vcuda_range){.base = offset + size,
				     .size = blk.base + blk.size - (offset + size)};
	vcuda_rangemap_remove(&emu.free, blk.base, NULL);
	if (before.size)
		vcuda_rangemap_insert(&emu.free, &before);
	if (after.size)
		vcuda_rangemap_insert(&emu.free, &after);
	return 0;
}

/* Addresses the calling thread's next allocations must have (a session
 * restored at the addresses its guest knows): vcuda_cpu_place_next. */
#define PLACE_MAX 4
static __thread uint64_t place_at[PLACE_MAX];
static __thread int place_n, place_i;

/* Returns a block to the free set, merged with its neighbours, and gives
 * its whole pages back to the system. Called with the lock held. */
static void arena_free(uint64_t offset, uint64_t size)
{
	struct vcuda_range blk = {.base = offset, .size = size}, prev = {0}, next = {0};
	const struct vcuda_range *p = offset ? vcuda_rangemap_find(&emu.free, offset - 1) : NULL;
	const struct vcuda_range *n = vcuda_rangemap_find(&emu.free, offset + size);
	uint64_t lo = (offset + HOST_PAGE - 1) & ~(uint64_t)(HOST_PAGE - 1);
	uint64_t hi = (offset + size) & ~(uint64_t)(HOST_PAGE - 1);

	/* Copies: removing one entry moves the others in the map. */
	if (p)
		prev = *p;
	if (n)
		next = *n;
	/* Freed pages go back to the system (a memory file's with REMOVE),
	 * and read as zeros from now on: a change pre-copy must send. */
	track_mark(offset, size);
	if (hi > lo)
		madvise(emu.store + lo, hi - lo, emu_store_fd >= 0 ? MADV_REMOVE : MADV_DONTNEED);
	if (p) {
		blk.base = prev.base;
		blk.size += prev.size;
		vcuda_rangemap_remove(&emu.free, prev.base, NULL);
	}
	if (n) {
		blk.size += next.size;
		vcuda_rangemap_remove(&emu.free, next.base, NULL);
	}
	vcuda_rangemap_insert(&emu.free, &blk);
}

CUresult cuMemAlloc(CUdeviceptr *dptr, size_t bytesize)
{
	struct CUctx_st *ctx;
	CUresult rc = emu_ctx_require(&ctx);
	uint64_t size, off;
	struct vcuda_range r;

	if (rc)
		return rc;
	if (!dptr || bytesize == 0)
		return CUDA_ERROR_INVALID_VALUE;
	if (bytesize > emu.arena_size)
		return CUDA_ERROR_OUT_OF_MEMORY;
	size = (bytesize + EMU_ALLOC_ALIGN - 1) & ~(uint64_t)(EMU_ALLOC_ALIGN - 1);
	pthread_mutex_lock(&emu.lock);
	if (place_i < place_n) {
		off = place_at[place_i++] - (uintptr_t)emu.dev_va;
		if (off % EMU_ALLOC_ALIGN || off >= emu.arena_size || arena_take(off, size) != 0) {
			pthread_mutex_unlock(&emu.lock);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
#ifdef MADV_POPULATE_WRITE
		/* A placed allocation is a restored one, about to be written
		 * whole: its pages at once, not a fault each (costly in VMs).
		 * (Not where the contents came with the store: mapping them all
		 * would only lengthen the guest's pause.) */
		if (!emu_store_adopted)
			madvise(emu.store + (off & ~(uint64_t)(HOST_PAGE - 1)),
				size + (off & (HOST_PAGE - 1)), MADV_POPULATE_WRITE);
#endif
	} else if (arena_alloc(size, &off) != 0) {
		pthread_mutex_unlock(&emu.lock);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	if (emu_budget && vcuda_budget_charge(emu_budget, emu_budget_slot, size) != 0) {
		arena_free(off, size); /* the server's memory is taken by other guests */
		pthread_mutex_unlock(&emu.lock);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	/* The range records the size asked for, so copies past it are refused. */
	r = (struct vcuda_range){
	    .base = (uintptr_t)emu.dev_va + off, .size = bytesize, .tag = size, .data = ctx};
	if (vcuda_rangemap_insert(&emu.allocs, &r) != 0) {
		arena_free(off, size);
		pthread_mutex_unlock(&emu.lock);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	pages_mark(off, size, 1);
	pthread_mutex_unlock(&emu.lock);
	*dptr = r.base;
	return CUDA_SUCCESS;
}

CUresult cuMemAllocPitch(CUdeviceptr *dptr, size_t *pitch, size_t width, size_t height,
			 unsigned int elem_size)
{
	size_t p;

	if (!pitch || width == 0 || height == 0 ||
	    (elem_size != 4 && elem_size != 8 && elem_size != 16))
		return CUDA_ERROR_INVALID_VALUE;
	p = (width + EMU_ALLOC_ALIGN - 1) & ~(size_t)(EMU_ALLOC_ALIGN - 1);
	if (height > SIZE_MAX / p)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*pitch = p;
	return cuMemAlloc(dptr, p * height);
}

/* Called with the lock held. */
static void memory_free_range(const struct vcuda_range *r)
{
	pages_mark(r->base - (uintptr_t)emu.dev_va, r->tag, -1);
	arena_free(r->base - (uintptr_t)emu.dev_va, r->tag);
	if (emu_budget)
		vcuda_budget_credit(emu_budget, emu_budget_slot, r->tag);
}

CUresult cuMemFree(CUdeviceptr dptr)
{
	CUresult rc = emu_check_init();
	struct vcuda_range r;

	if (rc)
		return rc;
	if (dptr == 0)
		return CUDA_SUCCESS;
	pthread_mutex_lock(&emu.lock);
	if (vcuda_rangemap_remove(&emu.allocs, dptr, &r) != 0) {
		pthread_mutex_unlock(&emu.lock);
		return CUDA_ERROR_INVALID_VALUE;
	}
	memory_free_range(&r);
	pthread_mutex_unlock(&emu.lock);
	return CUDA_SUCCESS;
}

void emu_memory_release_ctx(struct CUctx_st *ctx)
{
	pthread_mutex_lock(&emu.lock);
	for (size_t i = emu.allocs.n; i-- > 0;) {
		struct vcuda_range r = emu.allocs.r[i];
		if (r.data != ctx)
			continue;
		vcuda_rangemap_remove(&emu.allocs, r.base, NULL);
		memory_free_range(&r);
	}
	pthread_mutex_unlock(&emu.lock);
}

CUresult cuMemGetInfo(size_t *free_bytes, size_t *total)
{
	struct CUctx_st *ctx;
	CUresult rc = emu_ctx_require(&ctx);
	uint64_t used = 0;

	if (rc)
		return rc;
	if (!free_bytes || !total)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&emu.lock);
	for (size_t i = 0; i < emu.allocs.n; i++)
		used += emu.allocs.r[i].tag;
	pthread_mutex_unlock(&emu.lock);
	*free_bytes = (size_t)(emu.arena_size - used);
	*total = (size_t)emu.arena_size;
	if (emu_budget) { /* what the other guests leave */
		uint64_t taken = __atomic_load_n(&emu_budget->used, __ATOMIC_RELAXED);
		uint64_t left = taken < emu_budget->limit ? emu_budget->limit - taken : 0;
		if (left < *free_bytes)
			*free_bytes = (size_t)left;
	}
	return CUDA_SUCCESS;
}

CUresult cuMemGetAddressRange(CUdeviceptr *base, size_t *size, CUdeviceptr dptr)
{
	CUresult rc = emu_check_init();
	const struct vcuda_range *r;

	if (rc)
		return rc;
	pthread_mutex_lock(&emu.lock);
	r = vcuda_rangemap_find(&emu.allocs, dptr);
	if (r) {
		if (base)
			*base = r->base;
		if (size)
			*size = r->size;
	}
	pthread_mutex_unlock(&emu.lock);
	return r ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}

/* ---- page-locked host memory ------------------------------------------ */

CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned int flags)
{
	struct CUctx_st *ctx;
	CUresult rc = emu_ctx_require(&ctx);
	struct vcuda_range r;
	void *p;

	if (rc)
		return rc;
	if (!pp || bytesize == 0 ||
	    (flags & ~(unsigned)(CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP |
				 CU_MEMHOSTALLOC_WRITECOMBINED)))
		return CUDA_ERROR_INVALID_VALUE;
	p = mmap(NULL, bytesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return CUDA_ERROR_OUT_OF_MEMORY;
	r = (struct vcuda_range){.base = (uintptr_t)p, .size = bytesize, .tag = flags, .data = ctx};
	pthread_mutex_lock(&emu.lock);
	if (vcuda_rangemap_insert(&emu.host, &r) != 0 ||
	    ((flags & CU_MEMHOSTALLOC_DEVICEMAP) &&
	     vcuda_rangemap_insert(&emu.mapped,
				   &(struct vcuda_range){.base = r.base, .size = r.size}) != 0)) {
		vcuda_rangemap_remove(&emu.host, r.base, NULL);
		pthread_mutex_unlock(&emu.lock);
		munmap(p, bytesize);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	pthread_mutex_unlock(&emu.lock);
	*pp = p;
	return CUDA_SUCCESS;
}

CUresult cuMemAllocHost(void **pp, size_t bytesize)
{
	return cuMemHostAlloc(pp, bytesize, 0);
}

CUresult cuMemFreeHost(void *p)
{
	CUresult rc = emu_check_init();
	struct vcuda_range r;

	if (rc)
		return rc;
	pthread_mutex_lock(&emu.lock);
	rc = vcuda_rangemap_remove(&emu.host, (uintptr_t)p, &r) == 0 ? CUDA_SUCCESS
								     : CUDA_ERROR_INVALID_VALUE;
	if (rc == CUDA_SUCCESS)
		vcuda_rangemap_remove(&emu.mapped, (uintptr_t)p, NULL);
	pthread_mutex_unlock(&emu.lock);
	if (rc == CUDA_SUCCESS)
		munmap(p, r.size);
	return rc;
}

CUresult cuMemHostGetFlags(unsigned int *flags, void *p)
{
	CUresult rc = emu_check_init();
	const struct vcuda_range *r;

	if (rc)
		return rc;
	if (!flags)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&emu.lock);
	r = vcuda_rangemap_find(&emu.host, (uintptr_t)p);
	if (r)
		*flags = (unsigned int)r->tag;
	pthread_mutex_unlock(&emu.lock);
	return r ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* Host memory the caller owns, made reachable by kernels (DEVICEMAP; the
 * CPU device reads host memory as it is, so every registration maps). */
CUresult cuMemHostRegister(void *p, size_t bytesize, unsigned int flags)
{
	CUresult rc = emu_check_init();
	struct vcuda_range r = {.base = (uintptr_t)p, .size = bytesize, .data = (void *)1};

	if (rc)
		return rc;
	if (!p || !bytesize ||
	    (flags & ~(unsigned)(CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_DEVICEMAP |
				 CU_MEMHOSTREGISTER_READ_ONLY)))
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&emu.lock);
	rc = vcuda_rangemap_insert(&emu.mapped, &r) == 0
		 ? CUDA_SUCCESS
		 : CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
	pthread_mutex_unlock(&emu.lock);
	return rc;
}

CUresult cuMemHostUnregister(void *p)
{
	CUresult rc = emu_check_init();
	const struct vcuda_range *r;

	if (rc)
		return rc;
	pthread_mutex_lock(&emu.lock);
	r = vcuda_rangemap_find(&emu.mapped, (uintptr_t)p);
	rc = r && r->base == (uintptr_t)p && r->data &&
		     vcuda_rangemap_remove(&emu.mapped, (uintptr_t)p, NULL) == 0
		 ? CUDA_SUCCESS
		 : CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
	pthread_mutex_unlock(&emu.lock);
	return rc;
}

CUresult cuMemHostGetDevicePointer(CUdeviceptr *d, void *p, unsigned int flags)
{
	CUresult rc = emu_check_init();
	const struct vcuda_range *r;

	if (rc)
		return rc;
	if (!d || flags)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&emu.lock);
	r = vcuda_rangemap_find(&emu.mapped, (uintptr_t)p);
	pthread_mutex_unlock(&emu.lock);
	if (!r)
		return CUDA_ERROR_INVALID_VALUE;
	*d = (uintptr_t)p;
	return CUDA_SUCCESS;
}

/* ---- copies and sets ---------------------------------------------------- */

static CUresult memory_check_stream(CUstream s)
{
	struct CUctx_st *ctx;
	CUresult rc = emu_ctx_require(&ctx);

	if (rc)
		return rc;
	return emu_stream_valid(s) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

/* A host pointer for either kind of address, checked; NULL if invalid. */
/* Whether [addr, addr + n) is memory another process exported, mapped
 * here (vcuda_cpu_ipc_import): device memory to copies. */
static int memory_imported(uint64_t addr, size_t n)
{
	const struct vcuda_range *r;
	int yes;

	pthread_mutex_lock(&emu.lock);
	r = vcuda_rangemap_find_span(&emu.mapped, addr, n);
	yes = r && r->data == EMU_MAPPED_IMPORT;
	pthread_mutex_unlock(&emu.lock);
	return yes;
}

static void *memory_resolve(uint64_t addr, size_t len)
{
	if (emu_is_device_address(addr))
		return emu_dev_to_host(addr, len);
	return (void *)(uintptr_t)addr;
}

static CUresult memory_copy(uint64_t dst, uint64_t src, size_t n, CUstream s)
{
	CUresult rc = memory_check_stream(s);
	void *d, *p;

	if (rc)
		return rc;
	if (n == 0)
		return CUDA_SUCCESS;
	d = memory_resolve(dst, n);
	p = memory_resolve(src, n);
	if (!d || !p)
		return CUDA_ERROR_INVALID_VALUE;
	memmove(d, p, n);
	return CUDA_SUCCESS;
}

static CUresult memory_copy_kind(uint64_t dst, int dst_dev, uint64_t src, int src_dev, size_t n,
				 CUstream s)
{
	if (n && ((emu_is_device_address(dst) || memory_imported(dst, n)) != dst_dev ||
		  (emu_is_device_address(src) || memory_imported(src, n)) != src_dev))
		return CUDA_ERROR_INVALID_VALUE;
	return memory_copy(dst, src, n, s);
}

CUresult cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t n)
{
	return memory_copy(dst, src, n, NULL);
}

CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s)
{
	return memory_copy(dst, src, n, s);
}

CUresult cuMemcpyHtoD(CUdeviceptr dst, const void *src, size_t n)
{
	return memory_copy_kind(dst, 1, (uintptr_t)src, 0, n, NULL);
}

CUresult cuMemcpyHtoDAsync(CUdeviceptr dst, const void *src, size_t n, CUstream s)
{
	return memory_copy_kind(dst, 1, (uintptr_t)src, 0, n, s);
}

CUresult cuMemcpyDtoH(void *dst, CUdeviceptr src, size_t n)
{
	return memory_copy_kind((uintptr_t)dst, 0, src, 1, n, NULL);
}

CUresult cuMemcpyDtoHAsync(void *dst, CUdeviceptr src, size_t n, CUstream s)
{
	return memory_copy_kind((uintptr_t)dst, 0, src, 1, n, s);
}

CUresult cuMemcpyDtoD(CUdeviceptr dst, CUdeviceptr src, size_t n)
{
	return memory_copy_kind(dst, 1, src, 1, n, NULL);
}

CUresult cuMemcpyDtoDAsync(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s)
{
	return memory_copy_kind(dst, 1, src, 1, n, s);
}

static CUresult memory_set(CUdeviceptr dst, uint32_t value, unsigned elem, size_t count, CUstream s)
{
	CUresult rc = memory_check_stream(s);
	uint8_t *d;

	if (rc)
		return rc;
	if (count == 0)
		return CUDA_SUCCESS;
	if (dst % elem != 0 || count > SIZE_MAX / elem)
		return CUDA_ERROR_INVALID_VALUE;
	d = emu_dev_to_host(dst, count * elem);
	if (!d)
		return CUDA_ERROR_INVALID_VALUE;
	if (elem == 1) {
		memset(d, (int)(value & 0xff), count);
	} else if (elem == 2) {
		uint16_t v = (uint16_t)value;
		for (size_t i = 0; i < count; i++)
			memcpy(d + 2 * i, &v, 2);
	} else {
		for (size_t i = 0; i < count; i++)
			memcpy(d + 4 * i, &value, 4);
	}
	return CUDA_SUCCESS;
}

CUresult cuMemsetD8(CUdeviceptr dst, unsigned char uc, size_t n)
{
	return memory_set(dst, uc, 1, n, NULL);
}

CUresult cuMemsetD16(CUdeviceptr dst, unsigned short us, size_t n)
{
	return memory_set(dst, us, 2, n, NULL);
}

CUresult cuMemsetD32(CUdeviceptr dst, unsigned int ui, size_t n)
{
	return memory_set(dst, ui, 4, n, NULL);
}

CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char uc, size_t n, CUstream s)
{
	return memory_set(dst, uc, 1, n, s);
}

CUresult cuMemsetD16Async(CUdeviceptr dst, unsigned short us, size_t n, CUstream s)
{
	return memory_set(dst, us, 2, n, s);
}

CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned int ui, size_t n, CUstream s)
{
	return memory_set(dst, ui, 4, n, s);
}

/* ---- pointer attributes -------------------------------------------------- */

struct pointer_info {
	int kind; /* 0 unknown, CU_MEMORYTYPE_DEVICE or CU_MEMORYTYPE_HOST */
	struct vcuda_range range;
};

static struct pointer_info pointer_lookup(CUdeviceptr ptr)
{
	struct pointer_info pi = {0};
	const struct vcuda_range *r;

	pthread_mutex_lock(&emu.lock);
	if ((r = vcuda_rangemap_find(&emu.allocs, ptr)) != NULL)
		pi = (struct pointer_info){CU_MEMORYTYPE_DEVICE, *r};
	else if ((r = vcuda_rangemap_find(&emu.host, ptr)) != NULL)
		pi = (struct pointer_info){CU_MEMORYTYPE_HOST, *r};
	pthread_mutex_unlock(&emu.lock);
	return pi;
}

static CUresult pointer_attribute(const struct pointer_info *pi, CUpointer_attribute a, void *data,
				  CUdeviceptr ptr)
{
	int dev = pi->kind == CU_MEMORYTYPE_DEVICE;

	switch (a) {
	case CU_POINTER_ATTRIBUTE_CONTEXT:
		*(CUcontext *)data = pi->range.data;
		break;
	case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
		*(unsigned int *)data = (unsigned int)pi->kind;
		break;
	case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
		if (!dev)
			return CUDA_ERROR_INVALID_VALUE;
		*(CUdeviceptr *)data = ptr;
		break;
	case CU_POINTER_ATTRIBUTE_HOST_POINTER:
		if (dev)
			return CUDA_ERROR_INVALID_VALUE;
		*(void **)data = (void *)(uintptr_t)ptr;
		break;
	case CU_POINTER_ATTRIBUTE_IS_MANAGED:
	case CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE:
	case CU_POINTER_ATTRIBUTE_IS_GPU_DIRECT_RDMA_CAPABLE:
		*(int *)data = 0;
		break;
	case CU_POINTER_ATTRIBUTE_MAPPED:
	case CU_POINTER_ATTRIBUTE_SYNC_MEMOPS:
		*(int *)data = 1;
		break;
	case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
		*(int *)data = 0;
		break;
	case CU_POINTER_ATTRIBUTE_BUFFER_ID:
	case CU_POINTER_ATTRIBUTE_MEMORY_BLOCK_ID:
		*(unsigned long long *)data = pi->range.base;
		break;
	case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
	case CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR:
		*(CUdeviceptr *)data = pi->range.base;
		break;
	case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
	case CU_POINTER_ATTRIBUTE_MAPPING_SIZE:
		*(size_t *)data = pi->range.size;
		break;
	case CU_POINTER_ATTRIBUTE_ACCESS_FLAGS:
		*(unsigned int *)data = CU_POINTER_ATTRIBUTE_ACCESS_FLAG_READWRITE;
		break;
	case CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES:
		*(unsigned long long *)data = 0;
		break;
	case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE:
		*(void **)data = NULL;
		break;
	default:
		return CUDA_ERROR_INVALID_VALUE;
	}
	return CUDA_SUCCESS;
}

CUresult cuPointerGetAttribute(void *data, CUpointer_attribute a, CUdeviceptr ptr)
{
	CUresult rc = emu_check_init();
	struct pointer_info pi;

	if (rc)
		return rc;
	if (!data)
		return CUDA_ERROR_INVALID_VALUE;
	pi = pointer_lookup(ptr);
	if (!pi.kind)
		return CUDA_ERROR_INVALID_VALUE;
	return pointer_attribute(&pi, a, data, ptr);
}

/* Unlike the single form, an unknown pointer is not an error here: it reads
 * as unregistered host memory (memory type 0, no context). */
CUresult cuPointerGetAttributes(unsigned int n, CUpointer_attribute *attrs, void **data,
				CUdeviceptr ptr)
{
	CUresult rc = emu_check_init();
	struct pointer_info pi;

	if (rc)
		return rc;
	if (!attrs || !data)
		return CUDA_ERROR_INVALID_VALUE;
	pi = pointer_lookup(ptr);
	for (unsigned int i = 0; i < n; i++) {
		if (!data[i])
			continue;
		if (!pi.kind) {
			if (attrs[i] == CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL)
				*(int *)data[i] = -2;
			else if (attrs[i] == CU_POINTER_ATTRIBUTE_MEMORY_TYPE)
				*(unsigned int *)data[i] = 0;
			else if (attrs[i] == CU_POINTER_ATTRIBUTE_CONTEXT ||
				 attrs[i] == CU_POINTER_ATTRIBUTE_HOST_POINTER)
				*(void **)data[i] = NULL;
			continue;
		}
		rc = pointer_attribute(&pi, attrs[i], data[i], ptr);
		if (rc == CUDA_ERROR_INVALID_VALUE &&
		    (attrs[i] == CU_POINTER_ATTRIBUTE_DEVICE_POINTER ||
		     attrs[i] == CU_POINTER_ATTRIBUTE_HOST_POINTER))
			*(void **)data[i] = NULL;
		else if (rc)
			return rc;
	}
	return CUDA_SUCCESS;
}

/* ---- 2D and 3D copies and sets: row by row; arrays are linear memory here ---------- */

/* One side of a 3D copy: the address of its first byte, and its row and
 * slice strides; -1 if it is impossible (an array too small for the
 * region, an unknown memory type). */
static int memory_3d_side(CUmemorytype type, const void *host, CUdeviceptr dev, CUarray arr,
			  size_t pitch, size_t height, size_t x, size_t y, size_t z,
			  const CUDA_MEMCPY3D *c, uint64_t *base, size_t *row, size_t *slice)
{
	if (type == CU_MEMORYTYPE_ARRAY) {
		if (!emu_array_valid(arr) || x > arr->pitch || c->WidthInBytes > arr->pitch - x ||
		    y > arr->rows || c->Height > arr->rows - y || z > arr->slices ||
		    c->Depth > arr->slices - z)
			return -1;
		*row = arr->pitch;
		*slice = arr->pitch * arr->rows;
		*base = arr->mem + z * *slice + y * *row + x;
		return 0;
	}
	if (type != CU_MEMORYTYPE_HOST && type != CU_MEMORYTYPE_DEVICE &&
	    type != CU_MEMORYTYPE_UNIFIED)
		return -1;
	if ((c->Height > 1 && pitch < c->WidthInBytes) || (c->Depth > 1 && height < c->Height) ||
	    (pitch && (y + c->Height) > SIZE_MAX / pitch) ||
	    (pitch && height && z + c->Depth > SIZE_MAX / pitch / height))
		return -1;
	*row = pitch;
	*slice = pitch * height;
	*base = (type == CU_MEMORYTYPE_HOST ? (uintptr_t)host : dev) + z * *slice + y * *row + x;
	return 0;
}

static CUresult memory_copy3d(const CUDA_MEMCPY3D *c, CUstream s)
{
	CUresult rc = memory_check_stream(s);
	uint64_t src, dst;
	size_t sr, ss, dr, ds;

	if (rc)
		return rc;
	if (!c)
		return CUDA_ERROR_INVALID_VALUE;
	if (!c->WidthInBytes || !c->Height || !c->Depth)
		return CUDA_SUCCESS;
	if (memory_3d_side(c->srcMemoryType, c->srcHost, c->srcDevice, c->srcArray, c->srcPitch,
			   c->srcHeight, c->srcXInBytes, c->srcY, c->srcZ, c, &src, &sr,
			   &ss) != 0 ||
	    memory_3d_side(c->dstMemoryType, c->dstHost, c->dstDevice, c->dstArray, c->dstPitch,
			   c->dstHeight, c->dstXInBytes, c->dstY, c->dstZ, c, &dst, &dr, &ds) != 0)
		return CUDA_ERROR_INVALID_VALUE;
	for (size_t z = 0; z < c->Depth; z++)
		for (size_t y = 0; y < c->Height; y++)
			if ((rc = memory_copy(dst + z * ds + y * dr, src + z * ss + y * sr,
					      c->WidthInBytes, s)) != CUDA_SUCCESS)
				return rc;
	return CUDA_SUCCESS;
}

static CUresult memory_copy2d(const CUDA_MEMCPY2D *c, CUstream s)
{
	CUDA_MEMCPY3D m = {0};

	if (!c)
		return CUDA_ERROR_INVALID_VALUE;
	m.srcXInBytes = c->srcXInBytes;
	m.srcY = c->srcY;
	m.srcMemoryType = c->srcMemoryType;
	m.srcHost = c->srcHost;
	m.srcDevice = c->srcDevice;
	m.srcArray = c->srcArray;
	m.srcPitch = c->srcPitch;
	m.dstXInBytes = c->dstXInBytes;
	m.dstY = c->dstY;
	m.dstMemoryType = c->dstMemoryType;
	m.dstHost = c->dstHost;
	m.dstDevice = c->dstDevice;
	m.dstArray = c->dstArray;
	m.dstPitch = c->dstPitch;
	m.WidthInBytes = c->WidthInBytes;
	m.Height = c->Height;
	m.Depth = 1;
	return memory_copy3d(&m, s);
}

CUresult cuMemcpy3D(const CUDA_MEMCPY3D *c)
{
	return memory_copy3d(c, NULL);
}

CUresult cuMemcpy3DAsync(const CUDA_MEMCPY3D *c, CUstream s)
{
	return memory_copy3d(c, s);
}

CUresult cuMemcpy2D(const CUDA_MEMCPY2D *c)
{
	return memory_copy2d(c, NULL);
}

CUresult cuMemcpy2DUnaligned(const CUDA_MEMCPY2D *c)
{
	return memory_copy2d(c, NULL);
}

CUresult cuMemcpy2DAsync(const CUDA_MEMCPY2D *c, CUstream s)
{
	return memory_copy2d(c, s);
}

static CUresult memory_set2d(CUdeviceptr dst, size_t pitch, uint32_t value, unsigned elem,
			     size_t width, size_t height, CUstream s)
{
	CUresult rc = CUDA_SUCCESS;

	if (height > 1 && pitch < width * elem)
		return CUDA_ERROR_INVALID_VALUE;
	for (size_t y = 0; y < height && rc == CUDA_SUCCESS; y++)
		rc = memory_set(dst + y * pitch, value, elem, width, s);
	return rc;
}

CUresult cuMemsetD2D8(CUdeviceptr dst, size_t pitch, unsigned char uc, size_t w, size_t h)
{
	return memory_set2d(dst, pitch, uc, 1, w, h, NULL);
}

CUresult cuMemsetD2D16(CUdeviceptr dst, size_t pitch, unsigned short us, size_t w, size_t h)
{
	return memory_set2d(dst, pitch, us, 2, w, h, NULL);
}

CUresult cuMemsetD2D32(CUdeviceptr dst, size_t pitch, unsigned int ui, size_t w, size_t h)
{
	return memory_set2d(dst, pitch, ui, 4, w, h, NULL);
}

CUresult cuMemsetD2D8Async(CUdeviceptr dst, size_t pitch, unsigned char uc, size_t w, size_t h,
			   CUstream s)
{
	return memory_set2d(dst, pitch, uc, 1, w, h, s);
}

CUresult cuMemsetD2D16Async(CUdeviceptr dst, size_t pitch, unsigned short us, size_t w, size_t h,
			    CUstream s)
{
	return memory_set2d(dst, pitch, us, 2, w, h, s);
}

CUresult cuMemsetD2D32Async(CUdeviceptr dst, size_t pitch, unsigned int ui, size_t w, size_t h,
			    CUstream s)
{
	return memory_set2d(dst, pitch, ui, 4, w, h, s);
}

/* ---- stream-ordered allocation: the CPU device runs each stream's work as
 * it is given, so in stream order is now. */

CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t size, CUstream s)
{
	CUresult rc = memory_check_stream(s);

	return rc ? rc : cuMemAlloc(dptr, size);
}

CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream s)
{
	CUresult rc = memory_check_stream(s);

	return rc ? rc : cuMemFree(dptr);
}

/* ---- placement: a session restored at its addresses ------------------------------------ */

int vcuda_cpu_place_next(const uint64_t *addrs, int n);

/* The calling thread's next n allocations (n at most PLACE_MAX; 0 cancels
 * what is left) take these addresses, or fail with CUDA_ERROR_OUT_OF_MEMORY
 * where the range is not free. Module loads allocate their constant bank,
 * then their variables (vcuda_cpu_module_memory). 0, or -1 for a bad n. */
int vcuda_cpu_place_next(const uint64_t *addrs, int n)
{
	if (n < 0 || n > PLACE_MAX)
		return -1;
	for (int i = 0; i < n; i++)
		place_at[i] = addrs[i];
	place_n = n;
	place_i = 0;
	return 0;
}

/* ---- IPC: allocations another process of the same client maps ---------------------------- */

int vcuda_cpu_ipc_export(CUdeviceptr dptr, int *fd, uint64_t *offset, uint64_t *size);
int vcuda_cpu_ipc_import(int fd, uint64_t offset, uint64_t size, CUdeviceptr *dptr);
int vcuda_cpu_ipc_close(CUdeviceptr dptr);

/* The arena's file, and where the allocation that starts at dptr lies in
 * it: 0, or -1 if dptr starts no allocation or there is no file. The file
 * stays the device's. */
int vcuda_cpu_ipc_export(CUdeviceptr dptr, int *fd, uint64_t *offset, uint64_t *size)
{
	const struct vcuda_range *r;
	int rc = -1;

	if (emu_store_fd < 0)
		return -1;
	pthread_mutex_lock(&emu.lock);
	r = vcuda_rangemap_find(&emu.allocs, dptr);
	if (r && r->base == dptr) {
		*fd = emu_store_fd;
		*offset = dptr - (uintptr_t)emu.dev_va;
		*size = r->size;
		rc = 0;
	}
	pthread_mutex_unlock(&emu.lock);
	return rc;
}

/* Maps [offset, offset + size) of another device's arena file fd here, as
 * memory kernels reach (like mapped host memory); *dptr is its address.
 * 0, or -1 if the range is not inside the file. fd stays the caller's. */
int vcuda_cpu_ipc_import(int fd, uint64_t offset, uint64_t size, CUdeviceptr *dptr)
{
	uint64_t lo = offset & ~(uint64_t)(HOST_PAGE - 1);
	uint64_t len = ((offset + size + HOST_PAGE - 1) & ~(uint64_t)(HOST_PAGE - 1)) - lo;
	struct vcuda_range r;
	struct stat st;
	uint8_t *p;

	if (!size || offset + size < offset || fstat(fd, &st) != 0 ||
	    offset + size > (uint64_t)st.st_size)
		return -1;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)lo);
	if (p == MAP_FAILED)
		return -1;
	r = (struct vcuda_range){.base = (uintptr_t)p + (offset - lo),
				 .size = size,
				 .tag = len,
				 .data = EMU_MAPPED_IMPORT};
	pthread_mutex_lock(&emu.lock);
	if (vcuda_rangemap_insert(&emu.mapped, &r) != 0) {
		pthread_mutex_unlock(&emu.lock);
		munmap(p, len);
		return -1;
	}
	pthread_mutex_unlock(&emu.lock);
	*dptr = r.base;
	return 0;
}

/* Unmaps what vcuda_cpu_ipc_import mapped at dptr: 0, or -1. */
int vcuda_cpu_ipc_close(CUdeviceptr dptr)
{
	struct vcuda_range r;
	int rc = -1;

	pthread_mutex_lock(&emu.lock);
	if (vcuda_rangemap_find(&emu.mapped, dptr) &&
	    vcuda_rangemap_remove(&emu.mapped, dptr, &r) == 0) {
		if (r.data == EMU_MAPPED_IMPORT) {
			uintptr_t lo = r.base & ~(uintptr_t)(HOST_PAGE - 1);
			munmap((void *)lo, r.tag);
			rc = 0;
		} else {
			vcuda_rangemap_insert(&emu.mapped, &r); /* not an import */
		}
	}
	pthread_mutex_unlock(&emu.lock);
	return rc;
}
