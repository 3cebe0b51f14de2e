/*
 * Runtime API: managed memory (cudaMallocManaged, __managed__ variables)
 * on a device without concurrent managed access.
 *
 * The device's copy is ordinary device memory on the server. The guest
 * keeps a mirror of each managed range mapped at the same address, so that
 * one pointer serves host code and kernels, and tracks each mirror page
 * with its protection:
 *
 *   INVALID  PROT_NONE   the device may hold newer data; the first touch
 *                        faults and fetches the page's chunk (MG_CHUNK)
 *   CLEAN    PROT_READ   the same as the device's; a write faults once
 *   DIRTY    PROT_RW     written by the host since it was fetched
 *
 * Before any request that may use device memory, the dirty pages are
 * written back; after a request that may write device memory, the mirror
 * pages it may have written become INVALID (a kernel: every range the
 * launch's stream may reach; a copy or set: its destination). The cost
 * model is in docs/architecture.md ("Managed memory").
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#include "log.h"
#include "shim.h"
#include "transport.h"

#define MG_PAGE	 4096u
#define MG_CHUNK (64u * 1024u)	      /* fetched, or made writable, at once */
#define MG_AHEAD (2u * 1024u * 1024u) /* the most a run of in-order touches fetches */
#define MG_TRIES 8		      /* device allocations tried for a free mirror address */

enum { PG_INVALID, PG_CLEAN, PG_DIRTY };
enum { ATTACH_GLOBAL, ATTACH_HOST, ATTACH_SINGLE };

struct mg_region {
	uintptr_t lo, hi;  /* the managed bytes */
	uintptr_t base;	   /* first mirror page */
	size_t npages;	   /* mirror pages */
	uint64_t alloc;	   /* the device allocation to free; 0: a variable */
	int device;	   /* where the device copy lives */
	int attach;	   /* ATTACH_* */
	uint64_t stream;   /* ATTACH_SINGLE: the stream that may reach it */
	size_t valid;	   /* pages CLEAN or DIRTY */
	size_t dirty;	   /* pages DIRTY */
	size_t next_fetch; /* the page after the last fetch, and how many */
	size_t last_count; /* pages it had: a touch there fetches twice as many */
	/* What the program said of it, for cudaMemRangeGetAttribute. */
	int read_mostly;
	struct cudaMemLocation preferred, prefetched; /* type 0: none */
	uint8_t state[];			      /* PG_* per page */
};

/*
 * Two locks. mg.xfer is held across whatever changes a region's pages
 * (their states, protection and contents, which may take requests to the
 * server); mg.lock only while the map of regions is read or changed, never
 * across a request, so that any thread (ZeroMQ's own, reading its socket)
 * can ask whether memory is managed without waiting for a transfer. The
 * map changes with both held, so either one lets a thread read it.
 */
static struct {
	pthread_mutex_t lock, xfer;
	struct vcuda_rangemap regions; /* by mirror pages; data: the region */
	int nregions;		       /* atomic: any at all */
	size_t dirty;		       /* atomic: dirty pages in all regions */
	int handler;		       /* the fault handler is installed */
	struct sigaction old;	       /* what it replaced */
} mg = {.lock = PTHREAD_MUTEX_INITIALIZER, .xfer = PTHREAD_MUTEX_INITIALIZER};

/* Set while this thread moves data for a mirror: its own requests are not
 * watched. */
static __thread int mg_busy;

/* Each lock marks the thread busy: what it sends, and the system calls it
 * makes (logging), are not watched. */
static void mg_take(pthread_mutex_t *m)
{
	pthread_mutex_lock(m);
	mg_busy++;
}

static void mg_give(pthread_mutex_t *m)
{
	mg_busy--;
	pthread_mutex_unlock(m);
}

#define mg_lock()	 mg_take(&mg.lock)
#define mg_unlock()	 mg_give(&mg.lock)
#define mg_xfer_lock()	 mg_take(&mg.xfer)
#define mg_xfer_unlock() mg_give(&mg.xfer)

/* Whether [lo, hi) touches a region. Called with either lock held. */
static int mg_overlaps(uintptr_t lo, uintptr_t hi)
{
	size_t a = 0, b = mg.regions.n;

	if (vcuda_rangemap_find(&mg.regions, lo))
		return 1;
	while (a < b) { /* the first region starting at or after lo */
		size_t m = a + (b - a) / 2;
		if (mg.regions.r[m].base < lo)
			a = m + 1;
		else
			b = m;
	}
	return a < mg.regions.n && mg.regions.r[a].base < hi;
}

static struct mg_region *mg_find(uintptr_t addr)
{
	const struct vcuda_range *r = vcuda_rangemap_find(&mg.regions, addr);

	return r ? r->data : NULL;
}

static void mg_protect(struct mg_region *r, size_t first, size_t n, int prot)
{
	mprotect((void *)(r->base + first * MG_PAGE), n * MG_PAGE, prot);
}

/* Sets pages [first, first + n) to state st, keeping the counts. */
static void mg_set(struct mg_region *r, size_t first, size_t n, int st)
{
	for (size_t i = first; i < first + n; i++) {
		r->valid -= r->state[i] != PG_INVALID;
		if (r->state[i] == PG_DIRTY) {
			r->dirty--;
			__atomic_sub_fetch(&mg.dirty, 1, __ATOMIC_RELAXED);
		}
		r->state[i] = (uint8_t)st;
		r->valid += st != PG_INVALID;
		if (st == PG_DIRTY) {
			r->dirty++;
			__atomic_add_fetch(&mg.dirty, 1, __ATOMIC_RELAXED);
		}
	}
}

/* The managed bytes of pages [first, first + n): *at, *len. */
static void mg_bytes(const struct mg_region *r, size_t first, size_t n, uintptr_t *at, size_t *len)
{
	uintptr_t lo = r->base + first * MG_PAGE, hi = lo + n * MG_PAGE;

	lo = lo > r->lo ? lo : r->lo;
	hi = hi < r->hi ? hi : r->hi;
	*at = lo;
	*len = hi > lo ? hi - lo : 0;
}

/* The next run of pages in state st in [*i, end): its length, from *i on
 * (0 when there is none left). */
static size_t mg_run(const struct mg_region *r, size_t *i, size_t end, int st)
{
	size_t j;

	while (*i < end && r->state[*i] != st)
		(*i)++;
	for (j = *i; j < end && r->state[j] == st; j++)
		;
	return j - *i;
}

/* Device to mirror, for pages [first, first + n) (INVALID ones): the pages
 * end CLEAN. Called with mg.xfer held. */
static cudaError_t mg_fetch(struct mg_region *r, size_t first, size_t n)
{
	cudaError_t e = cudaSuccess;
	size_t i = first, k;

	while (e == cudaSuccess && (k = mg_run(r, &i, first + n, PG_INVALID)) != 0) {
		size_t j = i + k, len;
		uintptr_t at;
		mg_protect(r, i, j - i, PROT_READ | PROT_WRITE);
		mg_bytes(r, i, j - i, &at, &len);
		if (len) {
			Vcuda__MemcpyDtoH m = VCUDA__MEMCPY_DTO_H__INIT;
			m.src = at;
			m.size = len;
			SHIM_REQUEST(rq, MEMCPY_DTOH, memcpy_dtoh, m);
			rq.device = r->device;
			e = shim_call(&rq, NULL, 0, 0, (void *)at, len, NULL);
		}
		mg_protect(r, i, j - i, PROT_READ);
		mg_set(r, i, j - i, PG_CLEAN);
		i = j;
	}
	return e;
}

/* Mirror to device, for the DIRTY pages of r: they end CLEAN. Called with
 * mg.xfer held. */
static cudaError_t mg_writeback(struct mg_region *r)
{
	cudaError_t e = cudaSuccess;
	size_t i = 0, k;

	while (r->dirty && e == cudaSuccess && (k = mg_run(r, &i, r->npages, PG_DIRTY)) != 0) {
		size_t j = i + k, len;
		uintptr_t at;
		/* Read-only first: a write from now on is seen again. */
		mg_protect(r, i, j - i, PROT_READ);
		mg_bytes(r, i, j - i, &at, &len);
		if (len) {
			Vcuda__MemcpyHtoD m = VCUDA__MEMCPY_HTO_D__INIT;
			m.dst = at;
			m.size = len;
			SHIM_REQUEST(rq, MEMCPY_HTOD, memcpy_htod, m);
			rq.device = r->device;
			e = shim_call(&rq, (const void *)at, len, VCUDA_SEND_BORROW, NULL, 0, NULL);
		}
		mg_set(r, i, j - i, PG_CLEAN);
		i = j;
	}
	return e;
}

/* Pages [first, first + n) may have been written by the device. Called
 * with mg.xfer held, after the dirty pages were written back. */
static void mg_invalidate(struct mg_region *r, size_t first, size_t n)
{
	if (!r->valid)
		return;
	mg_protect(r, first, n, PROT_NONE);
	mg_set(r, first, n, PG_INVALID);
}

/* The pages [*first, *last) of r that [lo, hi) touches: 1, or 0 if none. */
static int mg_pages_of(const struct mg_region *r, uintptr_t lo, uintptr_t hi, size_t *first,
		       size_t *last)
{
	uintptr_t end = r->base + r->npages * MG_PAGE;

	if (hi <= r->base || lo >= end)
		return 0;
	*first = lo > r->base ? (lo - r->base) / MG_PAGE : 0;
	*last = hi < end ? (hi - r->base + MG_PAGE - 1) / MG_PAGE : r->npages;
	return 1;
}

/* Every mirror page of [lo, hi) may have been written by the device. */
static void mg_invalidate_span(uintptr_t lo, uintptr_t hi)
{
	mg_xfer_lock();
	for (size_t k = 0; k < mg.regions.n; k++) {
		struct mg_region *r = mg.regions.r[k].data;
		size_t first, last;
		if (!mg_pages_of(r, lo, hi, &first, &last))
			continue;
		mg_invalidate(r, first, last - first);
	}
	mg_xfer_unlock();
}

/* A kernel on stream may have written every range it can reach. */
static void mg_invalidate_launch(uint64_t stream)
{
	mg_xfer_lock();
	for (size_t k = 0; k < mg.regions.n; k++) {
		struct mg_region *r = mg.regions.r[k].data;
		if (r->attach == ATTACH_GLOBAL ||
		    (r->attach == ATTACH_SINGLE && r->stream == stream))
			mg_invalidate(r, 0, r->npages);
	}
	mg_xfer_unlock();
}

/* The host touches page pg of r: INVALID pages are fetched (with the rest
 * of their chunk), a CLEAN page written becomes DIRTY. 0, or -1 (said on
 * stderr) if the device's data cannot be had. Called with mg.xfer held. */
static int mg_touch(struct mg_region *r, size_t pg, int write)
{
	size_t per = MG_CHUNK / MG_PAGE, first = pg / per * per, n;
	cudaError_t e;

	if (r->state[pg] == PG_INVALID) {
		/* In-order touches read ahead: each fetch twice the last. */
		n = per;
		if (first && first == r->next_fetch)
			n = r->last_count * 2 < MG_AHEAD / MG_PAGE ? r->last_count * 2
								   : MG_AHEAD / MG_PAGE;
		n = first + n <= r->npages ? n : r->npages - first;
		if ((e = mg_fetch(r, first, n)) != cudaSuccess) {
			VERR(shim, "cannot bring managed memory at %#lx to the host (%s)",
			     (unsigned long)(r->base + pg * MG_PAGE), cudaGetErrorName(e));
			return -1;
		}
		r->next_fetch = first + n;
		r->last_count = n;
	}
	if (write && r->state[pg] == PG_CLEAN) {
		/* The whole chunk becomes writable: a page of it written back
		 * unwritten holds what the device has, so costs a copy, not
		 * correctness, and a host filling an array faults once a
		 * chunk rather than once a page. */
		size_t i = first, end = first + per <= r->npages ? first + per : r->npages, k;
		while ((k = mg_run(r, &i, end, PG_CLEAN)) != 0) {
			mg_protect(r, i, k, PROT_READ | PROT_WRITE);
			mg_set(r, i, k, PG_DIRTY);
			i += k;
		}
	}
	return 0;
}

/* Whether a fault was a write, where the machine says (x86-64's page
 * fault error code); elsewhere a write to an unfetched page faults twice. */
static int mg_fault_is_write(const void *uc, int clean)
{
#if defined(__x86_64__) && defined(REG_ERR)
	return (((const ucontext_t *)uc)->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#else
	(void)uc;
	return clean;
#endif
}

static void mg_fault(int sig, siginfo_t *si, void *uc)
{
	uintptr_t addr = (uintptr_t)si->si_addr;
	struct mg_region *r;
	int saved = errno, ours = 0;

	mg_lock();
	ours = mg_find(addr) != NULL;
	mg_unlock();
	if (ours) {
		mg_xfer_lock();
		if ((r = mg_find(addr)) != NULL) { /* still: not freed meanwhile */
			size_t pg = (addr - r->base) / MG_PAGE;
			/* A fault on a CLEAN page is a write. */
			ours =
			    mg_touch(r, pg, mg_fault_is_write(uc, r->state[pg] == PG_CLEAN)) == 0;
		}
		mg_xfer_unlock();
	}
	errno = saved;
	if (ours)
		return;
	/* Not managed memory, or its data is lost with the device: what was
	 * there before decides, as for any bad access. */
	if (mg.old.sa_flags & SA_SIGINFO) {
		mg.old.sa_sigaction(sig, si, uc);
	} else if (mg.old.sa_handler != SIG_DFL && mg.old.sa_handler != SIG_IGN) {
		mg.old.sa_handler(sig);
	} else {
		signal(sig, SIG_DFL); /* the access faults again, as it would have */
	}
}

/* Called with mg.lock held. */
static int mg_install(void)
{
	struct sigaction sa;

	if (mg.handler)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = mg_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &mg.old) != 0)
		return -1;
	mg.handler = 1;
	return 0;
}

/* Mirrors [lo, hi) at its own address: 0, or -1 if that address is taken
 * here (errno EEXIST) or memory is short. */
static int mg_add(uintptr_t lo, uintptr_t hi, uint64_t alloc, int attach, int st,
		  struct mg_region **out)
{
	uintptr_t base = lo & ~(uintptr_t)(MG_PAGE - 1);
	size_t npages = (hi - base + MG_PAGE - 1) / MG_PAGE;
	struct mg_region *r = calloc(1, sizeof(*r) + npages);
	struct vcuda_range rr;
	void *p;

	if (!r)
		return -1;
	p = mmap((void *)base, npages * MG_PAGE, st == PG_INVALID ? PROT_NONE : PROT_READ,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED || p != (void *)base) {
		if (p != MAP_FAILED)
			munmap(p, npages * MG_PAGE); /* a kernel without NOREPLACE */
		free(r);
		errno = EEXIST;
		return -1;
	}
	*r = (struct mg_region){.lo = lo,
				.hi = hi,
				.base = base,
				.npages = npages,
				.alloc = alloc,
				.device = shim_device,
				.attach = attach,
				.valid = st == PG_INVALID ? 0 : npages};
	memset(r->state, st, npages);
	rr = (struct vcuda_range){.base = base, .size = npages * MG_PAGE, .data = r};
	mg_xfer_lock();
	mg_lock();
	if (mg_install() != 0 || vcuda_rangemap_insert(&mg.regions, &rr) != 0) {
		mg_unlock();
		mg_xfer_unlock();
		munmap(p, npages * MG_PAGE);
		free(r);
		return -1;
	}
	__atomic_add_fetch(&mg.nregions, 1, __ATOMIC_RELAXED);
	mg_unlock();
	mg_xfer_unlock();
	if (out)
		*out = r;
	return 0;
}

/* Takes region r out (mg.xfer held) and unmaps its mirror. */
static void mg_drop(struct mg_region *r)
{
	mg_set(r, 0, r->npages, PG_INVALID);
	mg_lock();
	vcuda_rangemap_remove(&mg.regions, r->base, NULL);
	mg_unlock();
	__atomic_sub_fetch(&mg.nregions, 1, __ATOMIC_RELAXED);
	munmap((void *)r->base, r->npages * MG_PAGE);
	free(r);
}

/* ---- the hooks around every request ----------------------------------------------- */

void shim_managed_before(const Vcuda__Request *rq)
{
	(void)rq;
	if (mg_busy || !__atomic_load_n(&mg.dirty, __ATOMIC_RELAXED))
		return;
	mg_xfer_lock();
	for (size_t k = 0; k < mg.regions.n; k++) {
		struct mg_region *r = mg.regions.r[k].data;
		cudaError_t e = r->dirty ? mg_writeback(r) : cudaSuccess;
		if (e != cudaSuccess)
			VERR(shim, "managed memory at %#lx could not be written back (%s)",
			     (unsigned long)r->lo, cudaGetErrorName(e));
	}
	mg_xfer_unlock();
}

void shim_managed_after(const Vcuda__Request *rq)
{
	uint64_t dst = 0, len = 0;

	if (mg_busy || !__atomic_load_n(&mg.nregions, __ATOMIC_RELAXED))
		return;
	switch (rq->call_case) {
	case VCUDA__REQUEST__CALL_LAUNCH:
		mg_invalidate_launch(rq->launch->stream);
		return;
	case VCUDA__REQUEST__CALL_MEMCPY_HTOD:
		dst = rq->memcpy_htod->dst, len = rq->memcpy_htod->size;
		break;
	case VCUDA__REQUEST__CALL_MEMCPY_DTOD:
		dst = rq->memcpy_dtod->dst, len = rq->memcpy_dtod->size;
		break;
	case VCUDA__REQUEST__CALL_MEMSET:
		dst = rq->memset->dst;
		len = rq->memset->count * rq->memset->elem_size;
		break;
	case VCUDA__REQUEST__CALL_MEMCPY_PITCHED:
		if (rq->memcpy_pitched->kind == 2)
			return; /* to host memory that is not managed */
		dst = rq->memcpy_pitched->dst;
		len = rq->memcpy_pitched->dst_pitch * rq->memcpy_pitched->dst_rows *
		      (rq->memcpy_pitched->depth ? rq->memcpy_pitched->depth : 1);
		break;
	case VCUDA__REQUEST__CALL_MEMSET_PITCHED:
		dst = rq->memset_pitched->dst;
		len = rq->memset_pitched->pitch * rq->memset_pitched->rows *
		      (rq->memset_pitched->depth ? rq->memset_pitched->depth : 1);
		break;
	default:
		return;
	}
	if (len)
		mg_invalidate_span(dst, dst + len < dst ? UINTPTR_MAX : dst + len);
}

int shim_managed_is(const void *p)
{
	int is;

	if (!__atomic_load_n(&mg.nregions, __ATOMIC_RELAXED))
		return 0;
	mg_lock();
	is = mg_find((uintptr_t)p) != NULL;
	mg_unlock();
	return is;
}

/* The host is about to read (write = 0) or write [p, p + n) outside its own
 * code (a system call): the pages are made to allow it. */
static void mg_host_access(const void *p, size_t n, int write)
{
	uintptr_t lo = (uintptr_t)p, hi = lo + n;

	int any;

	if (!n || mg_busy || !__atomic_load_n(&mg.nregions, __ATOMIC_RELAXED))
		return;
	/* Quickly, and without waiting for a transfer: does it touch any? */
	mg_lock();
	any = mg_overlaps(lo, hi);
	mg_unlock();
	if (!any)
		return;
	mg_xfer_lock();
	for (size_t k = 0; k < mg.regions.n; k++) {
		struct mg_region *r = mg.regions.r[k].data;
		size_t first, last;
		if (!mg_pages_of(r, lo, hi, &first, &last))
			continue;
		for (size_t pg = first; pg < last && mg_touch(r, pg, write) == 0; pg++)
			;
	}
	mg_xfer_unlock();
}

/* ---- the runtime API ----------------------------------------------------------------- */

cudaError_t cudaMallocManaged(void **ptr, size_t size, unsigned int flags)
{
	void *tried[MG_TRIES];
	int ntried = 0, attach;
	size_t len;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!ptr || size == 0 || (flags != cudaMemAttachGlobal && flags != cudaMemAttachHost))
		return shim_ret(cudaErrorInvalidValue);
	if (size > SIZE_MAX - 2 * MG_PAGE)
		return shim_ret(cudaErrorMemoryAllocation);
	len = (size + MG_PAGE - 1) & ~(size_t)(MG_PAGE - 1);
	attach = flags == cudaMemAttachHost ? ATTACH_HOST : ATTACH_GLOBAL;
	/* The device allocation has a page to spare, so that its mirror
	 * starts on a page; where that address is taken in this process,
	 * another allocation is tried. */
	for (;;) {
		void *d;
		uintptr_t at;
		if ((e = cudaMalloc(&d, len + MG_PAGE)) != cudaSuccess)
			break;
		at = ((uintptr_t)d + MG_PAGE - 1) & ~(uintptr_t)(MG_PAGE - 1);
		/* Zero on both sides, so that the mirror starts CLEAN. */
		Vcuda__Memset m = VCUDA__MEMSET__INIT;
		m.dst = (uintptr_t)d;
		m.elem_size = 1;
		m.count = len + MG_PAGE;
		SHIM_REQUEST(rq, MEMSET, memset, m);
		mg_busy++;
		e = shim_post(&rq, NULL, 0, 0, NULL, 0);
		mg_busy--;
		if (e == cudaSuccess &&
		    mg_add(at, at + size, (uintptr_t)d, attach, PG_CLEAN, NULL) == 0) {
			*ptr = (void *)at;
			break;
		}
		tried[ntried++] = d;
		if (e != cudaSuccess || errno != EEXIST || ntried == MG_TRIES) {
			VERR(shim, "managed memory: no address for a host mirror of %zu bytes",
			     size);
			e = e != cudaSuccess ? e : cudaErrorMemoryAllocation;
			break;
		}
	}
	while (ntried)
		cudaFree(tried[--ntried]);
	return shim_ret(e);
}

int shim_managed_free(void *ptr, cudaError_t *e)
{
	struct mg_region *r;
	uint64_t alloc = 0;

	if (!__atomic_load_n(&mg.nregions, __ATOMIC_RELAXED))
		return 0;
	mg_xfer_lock();
	r = mg_find((uintptr_t)ptr);
	if (r && r->lo == (uintptr_t)ptr && r->alloc) {
		alloc = r->alloc;
		mg_drop(r);
	}
	mg_xfer_unlock();
	if (!alloc)
		return 0;
	*e = cudaFree((void *)(uintptr_t)alloc);
	return 1;
}

void shim_managed_forget(int device)
{
	mg_xfer_lock();
	for (size_t k = mg.regions.n; k-- > 0;) {
		struct mg_region *r = mg.regions.r[k].data;
		if (r->device == device)
			mg_drop(r);
	}
	mg_xfer_unlock();
}

int shim_managed_variable(uint64_t dptr, size_t size)
{
	struct mg_region *r;

	if (mg_add(dptr, dptr + size, 0, ATTACH_GLOBAL, PG_INVALID, &r) == 0)
		return 0;
	VERR(shim,
	     "managed variable at %#lx: its address is taken in this process, so the host "
	     "cannot reach it",
	     (unsigned long)dptr);
	return -1;
}

static cudaError_t mg_attach(cudaStream_t stream, void *ptr, size_t length, unsigned int flags,
			     int per_thread)
{
	struct mg_region *r;
	uint64_t id;
	cudaError_t e = shim_begin();

	if (e || (e = shim_stream(stream, per_thread, &id)) != cudaSuccess)
		return shim_ret(e);
	if (flags != cudaMemAttachGlobal && flags != cudaMemAttachHost &&
	    flags != cudaMemAttachSingle)
		return shim_ret(cudaErrorInvalidValue);
	/* A single stream must be a stream of the program's own. */
	if (flags == cudaMemAttachSingle && id <= 2)
		return shim_ret(cudaErrorInvalidValue);
	mg_xfer_lock();
	r = mg_find((uintptr_t)ptr);
	/* The whole range: length 0, or its size. */
	if (!r || r->lo != (uintptr_t)ptr || (length && length != r->hi - r->lo)) {
		e = cudaErrorInvalidValue;
	} else {
		r->attach = flags == cudaMemAttachGlobal ? ATTACH_GLOBAL
			    : flags == cudaMemAttachHost ? ATTACH_HOST
							 : ATTACH_SINGLE;
		r->stream = id;
	}
	mg_xfer_unlock();
	return shim_ret(e);
}

cudaError_t cudaStreamAttachMemAsync(cudaStream_t stream, void *ptr, size_t length,
				     unsigned int flags)
{
	return mg_attach(stream, ptr, length, flags, 0);
}

cudaError_t cudaStreamAttachMemAsync_ptsz(cudaStream_t stream, void *ptr, size_t length,
					  unsigned int flags);
cudaError_t cudaStreamAttachMemAsync_ptsz(cudaStream_t stream, void *ptr, size_t length,
					  unsigned int flags)
{
	return mg_attach(stream, ptr, length, flags, 1);
}

/* Whether [p, p + n) is managed memory of one range; cudaErrorInvalidValue
 * if not. */
static cudaError_t mg_range_check(const void *p, size_t n)
{
	struct mg_region *r;
	int ok;

	if (!p || !n)
		return cudaErrorInvalidValue;
	mg_lock();
	r = mg_find((uintptr_t)p);
	ok = r && (uintptr_t)p >= r->lo && n <= r->hi - (uintptr_t)p;
	mg_unlock();
	return ok ? cudaSuccess : cudaErrorInvalidValue;
}

static void mg_remember(const void *p, int advice, const struct cudaMemLocation *loc);

cudaError_t cudaMemPrefetchAsync(const void *ptr, size_t n, struct cudaMemLocation loc,
				 unsigned int flags, cudaStream_t stream)
{
	cudaError_t e = shim_begin();

	if (e || (e = mg_range_check(ptr, n)) != cudaSuccess)
		return shim_ret(e);
	if (flags)
		return shim_ret(cudaErrorInvalidValue);
	if (loc.type == cudaMemLocationTypeHost) {
		/* The host's copy is brought up to date once the stream's work
		 * is done (which CUDA would do asynchronously). */
		if ((e = cudaStreamSynchronize(stream)) == cudaSuccess)
			mg_host_access(ptr, n, 0);
		mg_remember(ptr, -1, &loc);
		return shim_ret(e);
	}
	if (loc.type != cudaMemLocationTypeDevice || loc.id < 0 || loc.id >= shim.ndevices)
		return shim_ret(cudaErrorInvalidDevice);
	/* To the device: what the host wrote goes now. */
	shim_managed_before(NULL);
	mg_remember(ptr, -1, &loc);
	return cudaSuccess;
}

cudaError_t cudaMemPrefetchAsync_ptsz(const void *ptr, size_t n, struct cudaMemLocation loc,
				      unsigned int flags, cudaStream_t stream);
cudaError_t cudaMemPrefetchAsync_ptsz(const void *ptr, size_t n, struct cudaMemLocation loc,
				      unsigned int flags, cudaStream_t stream)
{
	return cudaMemPrefetchAsync(ptr, n, loc, flags, stream);
}

/* Records advice or a prefetch (advice -1) for the range at p. */
static void mg_remember(const void *p, int advice, const struct cudaMemLocation *loc)
{
	struct mg_region *r;

	mg_lock();
	if ((r = mg_find((uintptr_t)p)) != NULL) {
		if (advice < 0)
			r->prefetched = *loc;
		else if (advice == cudaMemAdviseSetReadMostly)
			r->read_mostly = 1;
		else if (advice == cudaMemAdviseUnsetReadMostly)
			r->read_mostly = 0;
		else if (advice == cudaMemAdviseSetPreferredLocation)
			r->preferred = *loc;
		else if (advice == cudaMemAdviseUnsetPreferredLocation)
			r->preferred = (struct cudaMemLocation){0};
	}
	mg_unlock();
}

/* Advice changes where a device with concurrent access keeps the pages;
 * here the host and the device never use them at once, so it is checked
 * and has no effect. */
cudaError_t cudaMemAdvise(const void *ptr, size_t n, enum cudaMemoryAdvise advice,
			  struct cudaMemLocation loc)
{
	cudaError_t e = shim_begin();

	if (e || (e = mg_range_check(ptr, n)) != cudaSuccess)
		return shim_ret(e);
	if (advice < cudaMemAdviseSetReadMostly || advice > cudaMemAdviseUnsetAccessedBy)
		return shim_ret(cudaErrorInvalidValue);
	if (advice != cudaMemAdviseSetReadMostly && advice != cudaMemAdviseUnsetReadMostly &&
	    loc.type != cudaMemLocationTypeHost &&
	    (loc.type != cudaMemLocationTypeDevice || loc.id < 0 || loc.id >= shim.ndevices))
		return shim_ret(cudaErrorInvalidDevice);
	mg_remember(ptr, advice, &loc);
	return cudaSuccess;
}

/* One attribute of [p, p + n) into data (size bytes). */
static cudaError_t mg_range_attribute(void *data, size_t size, enum cudaMemRangeAttribute a,
				      const void *p, size_t n)
{
	struct mg_region *r;
	int v[2] = {0, 0}, *out = data;
	cudaError_t e = mg_range_check(p, n);

	if (e)
		return e;
	if (!data || size < sizeof(int) || size % sizeof(int) ||
	    (a != cudaMemRangeAttributeAccessedBy && size != sizeof(int)))
		return cudaErrorInvalidValue;
	mg_lock();
	r = mg_find((uintptr_t)p);
	switch (a) {
	case cudaMemRangeAttributeReadMostly:
		v[0] = r->read_mostly;
		break;
	case cudaMemRangeAttributePreferredLocation:
	case cudaMemRangeAttributeLastPrefetchLocation: {
		const struct cudaMemLocation *l =
		    a == cudaMemRangeAttributePreferredLocation ? &r->preferred : &r->prefetched;
		v[0] = l->type == cudaMemLocationTypeDevice ? l->id
		       : l->type == cudaMemLocationTypeHost ? cudaCpuDeviceId
							    : cudaInvalidDeviceId;
		break;
	}
	case cudaMemRangeAttributePreferredLocationType:
		v[0] = (int)r->preferred.type;
		break;
	case cudaMemRangeAttributePreferredLocationId:
		v[0] = r->preferred.id;
		break;
	case cudaMemRangeAttributeLastPrefetchLocationType:
		v[0] = (int)r->prefetched.type;
		break;
	case cudaMemRangeAttributeLastPrefetchLocationId:
		v[0] = r->prefetched.id;
		break;
	case cudaMemRangeAttributeAccessedBy:
		/* No device is said to access it: with no concurrent access
		 * the advice changes nothing to remember. */
		for (size_t i = 0; i < size / sizeof(int); i++)
			out[i] = cudaInvalidDeviceId;
		mg_unlock();
		return cudaSuccess;
	default:
		e = cudaErrorInvalidValue;
		break;
	}
	mg_unlock();
	if (e == cudaSuccess)
		out[0] = v[0];
	return e;
}

cudaError_t cudaMemRangeGetAttribute(void *data, size_t size, enum cudaMemRangeAttribute a,
				     const void *p, size_t n)
{
	cudaError_t e = shim_begin();

	return shim_ret(e ? e : mg_range_attribute(data, size, a, p, n));
}

cudaError_t cudaMemRangeGetAttributes(void **data, size_t *sizes, enum cudaMemRangeAttribute *attrs,
				      size_t count, const void *p, size_t n)
{
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!data || !sizes || !attrs || !count)
		return shim_ret(cudaErrorInvalidValue);
	for (size_t i = 0; i < count && e == cudaSuccess; i++)
		e = mg_range_attribute(data[i], sizes[i], attrs[i], p, n);
	return shim_ret(e);
}

/* ---- system calls on managed memory ------------------------------------------------ */

/*
 * The kernel does not fault on a protected page a system call reads or
 * writes: it fails with EFAULT. The calls programs use to read files into
 * managed memory, or write it out, first make the pages ready.
 */
typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef size_t (*fread_fn)(void *, size_t, size_t, FILE *);
typedef size_t (*fwrite_fn)(const void *, size_t, size_t, FILE *);

#define MG_NEXT(type, name)                                                                        \
	static type next_##name;                                                                   \
	if (!next_##name)                                                                          \
	next_##name = (type)dlsym(RTLD_NEXT, #name)

ssize_t read(int fd, void *buf, size_t n)
{
	MG_NEXT(read_fn, read);
	mg_host_access(buf, n, 1);
	return next_read(fd, buf, n);
}

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	MG_NEXT(pread_fn, pread);
	mg_host_access(buf, n, 1);
	return next_pread(fd, buf, n, off);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	MG_NEXT(write_fn, write);
	mg_host_access(buf, n, 0);
	return next_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	MG_NEXT(pwrite_fn, pwrite);
	mg_host_access(buf, n, 0);
	return next_pwrite(fd, buf, n, off);
}

size_t fread(void *buf, size_t size, size_t n, FILE *f)
{
	MG_NEXT(fread_fn, fread);
	if (size && n <= SIZE_MAX / size)
		mg_host_access(buf, size * n, 1);
	return next_fread(buf, size, n, f);
}

size_t fwrite(const void *buf, size_t size, size_t n, FILE *f)
{
	MG_NEXT(fwrite_fn, fwrite);
	if (size && n <= SIZE_MAX / size)
		mg_host_access(buf, size * n, 0);
	return next_fwrite(buf, size, n, f);
}
