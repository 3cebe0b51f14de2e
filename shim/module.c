/*
 * Runtime API: the registration ABI nvcc puts in every program, kernel
 * launches and symbols. A fat binary is sent to the server once per device,
 * when one of its kernels or variables is first used; each kernel's
 * parameter layout comes from the fat binary itself (its cubins' .nv.info,
 * or its PTX), so a launch packs its arguments with no round trip and is
 * posted without waiting (DESIGN decisions 3 and 4).
 */
#include "config.h"

#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda.h>

#include "fatbin.h"
#include "kernels.h"
#include "log.h"
#include "ptxlink.h"
#include "shim.h"
#include "transport.h"

struct shim_fatbin {
	void *module_slot; /* first: nvcc's code holds this member's address */
	const void *container;
	size_t len;
	int layouts_read;
	struct vcuda_kernel_table layouts;
	uint64_t server_module[SHIM_MAX_DEVICES];
	/* Why it could not be loaded on a device, when that will not change
	 * (a damaged image, or none for the device): later launches fail at
	 * once with it, and it is logged once. */
	cudaError_t load_error[SHIM_MAX_DEVICES];
	struct shim_fatbin *next;
};

struct shim_func {
	const void *host_fun;
	struct shim_fatbin *fb;
	char *name;
	const struct vcuda_kernel_info *layout;
	uint64_t server_func[SHIM_MAX_DEVICES];
	/* The kernel's own launch limits, fetched at its first launch on a
	 * device (limits_known), so that a launch CUDA refuses fails at once. */
	int limits_known[SHIM_MAX_DEVICES];
	int32_t max_threads[SHIM_MAX_DEVICES], max_dyn_smem[SHIM_MAX_DEVICES];
	struct shim_func *next;
};

struct shim_var {
	const void *host_var;
	struct shim_fatbin *fb;
	char *name;
	size_t size;
	int managed; /* __managed__: host_var is the pointer host code goes through */
	uint64_t dptr[SHIM_MAX_DEVICES];
	struct shim_var *next;
};

static pthread_mutex_t module_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shim_fatbin *fatbins;
static struct shim_func *funcs;
static struct shim_var *vars;

/* The launch configuration stack of <<<...>>> (per thread, as in cudart). */
struct call_config {
	dim3 grid, block;
	size_t shmem;
	cudaStream_t stream;
};
static __thread struct call_config config_stack[8];
static __thread int config_depth;

void **__cudaRegisterFatBinary(void *fat_cubin);
void __cudaRegisterFatBinaryEnd(void **handle);
void __cudaUnregisterFatBinary(void **handle);
char __cudaInitModule(void **handle);
void __cudaRegisterFunction(void **handle, const char *host_fun, char *device_fun,
			    const char *device_name, int thread_limit, uint3 *tid, uint3 *bid,
			    dim3 *bdim, dim3 *gdim, int *wsize);
void __cudaRegisterVar(void **handle, char *host_var, char *device_address, const char *device_name,
		       int ext, size_t size, int constant, int global);
void __cudaRegisterManagedVar(void **handle, void **host_var_ptr, char *device_address,
			      const char *device_name, int ext, size_t size, int constant,
			      int global);
unsigned __cudaPushCallConfiguration(dim3 grid, dim3 block, size_t shmem,
				     struct CUstream_st *stream);
cudaError_t __cudaPopCallConfiguration(dim3 *grid, dim3 *block, size_t *shmem, void *stream);
cudaError_t __cudaGetKernel(cudaKernel_t *kernel, const void *host_fun);
cudaError_t __cudaLaunchKernel(cudaKernel_t kernel, dim3 grid, dim3 block, void **args,
			       size_t shmem, cudaStream_t stream);
cudaError_t __cudaLaunchKernel_ptsz(cudaKernel_t kernel, dim3 grid, dim3 block, void **args,
				    size_t shmem, cudaStream_t stream);
cudaError_t cudaLaunchKernel_ptsz(const void *func, dim3 grid, dim3 block, void **args,
				  size_t shmem, cudaStream_t stream);

/* ---- registration ----------------------------------------------------------------- */

struct mapped_query {
	uintptr_t addr;
	size_t avail; /* bytes of the loaded segment from addr on; 0: none */
};

static int module_segment_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct mapped_query *q = arg;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (ph->p_type == PT_LOAD && q->addr >= lo && q->addr < hi) {
			q->avail = hi - q->addr;
			return 1;
		}
	}
	return 0;
}

/* The bytes of a registered fat binary that are really there: nvcc puts it
 * in a loaded segment of the program or a library, and its header's size
 * must fit there (a larger claim had the I/O thread read unmapped memory,
 * and abort). 0 if it is no fat binary, or does not fit. */
static size_t module_fatbin_len(const void *container)
{
	struct mapped_query q = {(uintptr_t)container, 0};
	size_t len;

	if (!container)
		return 0;
	dl_iterate_phdr(module_segment_cb, &q);
	if (q.avail < 16) {
		VWARN(shim, "a registered fat binary is not inside a loaded program or library");
		return 0;
	}
	len = vcuda_fatbin_size(container, q.avail);
	if (len > q.avail) {
		VWARN(shim, "a registered fat binary claims %zu bytes; its segment holds %zu", len,
		      q.avail);
		return 0;
	}
	return len;
}

/*
 * Registration cannot fail in cudart's interface, and a library the guest
 * loads must not end the program: out of memory, a fat binary is
 * registered as the empty one below, and a kernel or variable is left
 * unregistered, so that using it fails with the error CUDA gives for a
 * kernel image it cannot load or a symbol it does not know.
 */
static struct shim_fatbin module_unreadable;

#define LINKED_MAX_OBJECTS 4096

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* The best PTX of the relocatable fat binary at container, or NULL. */
static char *module_object_ptx(const void *container)
{
	size_t len = module_fatbin_len(container), n;
	struct vcuda_fatbin fb;
	const struct vcuda_fatbin_entry *e;
	uint8_t *text = NULL;
	char why[256];

	if (!len || vcuda_fatbin_parse(container, len, &fb, why, sizeof(why)) != 0)
		return NULL;
	if ((e = vcuda_fatbin_best_ptx(&fb, 1000)) != NULL &&
	    vcuda_fatbin_extract(e, VCUDA_FATBIN_MAX_ENTRY_DEFAULT, &text, &n, why, sizeof(why)) !=
		0)
		text = NULL;
	vcuda_fatbin_free(&fb);
	return (char *)text;
}

/* Whether PTX defines (not declares) a function of the device runtime. */
static int defines_device_runtime(const char *t)
{
	for (const char *p = strstr(t, "__cudaCDP2"); p; p = strstr(p + 1, "__cudaCDP2")) {
		const char *line = p;
		while (line > t && line[-1] != '\n')
			line--;
		if (!memmem(line, (size_t)(p - line), ".extern", 7) &&
		    memmem(line, (size_t)(p - line), ".func", 5))
			return 1;
	}
	return 0;
}

/*
 * A program built with -rdc=true registers its device-linked image, which
 * holds machine code only, in a wrapper of version 2 whose third member
 * lists the relocatable fat binaries of its objects. For devices that run
 * PTX (the CPU device), the objects' PTX is linked into one (ptxlink.c)
 * and sent as a PTX entry ahead of the image's own: a new container, which
 * the fat binary keeps. NULL when there is nothing to link.
 */
static uint8_t *module_linked(const void *wrapper, const void *image, size_t image_len, size_t *len)
{
	const uint8_t *w = wrapper;
	const void *const *objects;
	const char *texts[64];
	char *linked = NULL, why[256];
	size_t n = 0, ptx_len, pad, body, image_body;
	uint8_t *c = NULL;
	uint32_t version;

	uint16_t header;

	memcpy(&version, w + 4, 4);
	memcpy(&objects, w + 16, sizeof(objects));
	memcpy(&header, (const uint8_t *)image + 6, 2);
	if (version != 2 || !objects || image_len < 16 || header != 16)
		return NULL;
	for (size_t i = 0; i < LINKED_MAX_OBJECTS && objects[i] && n < 64; i++) {
		char *t = module_object_ptx(objects[i]);
		/* The device runtime's own objects: the CPU device provides it. */
		if (t && defines_device_runtime(t)) {
			free(t);
			continue;
		}
		if (t)
			texts[n++] = t;
	}
	if (n && vcuda_ptx_link(texts, n, &linked, why, sizeof(why)) != 0)
		VWARN(shim, "cannot link the PTX of a program built with -rdc: %s", why);
	for (size_t i = 0; i < n; i++)
		free((char *)texts[i]);
	if (!linked)
		return NULL;
	/* [header][PTX entry, as nvcc writes one][the image's entries] */
	ptx_len = strlen(linked) + 1;
	pad = (8 - ptx_len % 8) % 8;
	image_body = image_len - 16;
	body = 80 + ptx_len + pad + image_body;
	if ((c = calloc(1, 16 + body)) != NULL) {
		uint8_t *e = c + 16;
		unsigned target = 0;
		const char *t = strstr(linked, ".target sm_");
		uint64_t b64 = body, stored = ptx_len + pad;
		if (t)
			target = (unsigned)atoi(t + 11);
		memcpy(c, image, 8); /* magic, version, header size */
		memcpy(c + 8, &b64, 8);
		put32(e, 1 | 0x0101u << 16); /* PTX */
		put32(e + 4, 80);
		memcpy(e + 8, &stored, 8);
		put32(e + 20, 64);
		put32(e + 28, target ? target : 80);
		put32(e + 40, 0x11);
		memcpy(e + 80, linked, ptx_len);
		memcpy(e + 80 + ptx_len + pad, (const uint8_t *)image + 16, image_body);
		*len = 16 + body;
	}
	free(linked);
	return c;
}

void **__cudaRegisterFatBinary(void *fat_cubin)
{
	struct shim_fatbin *f = calloc(1, sizeof(*f));
	uint8_t *linked;
	size_t linked_len = 0;

	if (!f) {
		VERR(shim, "out of memory registering a fat binary; its kernels cannot run");
		return &module_unreadable.module_slot;
	}
	f->container = vcuda_fatbin_from_wrapper(fat_cubin);
	f->len = module_fatbin_len(f->container);
	if (f->container &&
	    (linked = module_linked(fat_cubin, f->container, f->len, &linked_len))) {
		f->container = linked; /* kept for the program's life, as registrations are */
		f->len = linked_len;
	}
	if (!f->len)
		VWARN(shim,
		      "a registered fat binary is not one vcuda can read; its kernels cannot run");
	pthread_mutex_lock(&module_lock);
	f->next = fatbins;
	fatbins = f;
	pthread_mutex_unlock(&module_lock);
	return &f->module_slot;
}

void __cudaRegisterFatBinaryEnd(void **handle)
{
}

/* At exit: the server unloads everything with the session. */
void __cudaUnregisterFatBinary(void **handle)
{
}

static cudaError_t symbol_address(const void *symbol, uint64_t *dptr, size_t *size);

/* Host code calls this before its first use of a __managed__ variable of
 * the fat binary: each one is given its host mirror, and host code reaches
 * it through the pointer registered for it. 0 if that failed, so that it
 * is called again. */
char __cudaInitModule(void **handle)
{
	struct shim_var *list[64];
	int n = 0, ok = 1;

	pthread_mutex_lock(&module_lock);
	for (struct shim_var *v = vars; v; v = v->next)
		if (v->managed && v->fb == (struct shim_fatbin *)handle && !*(void **)v->host_var &&
		    n < (int)(sizeof(list) / sizeof(*list)))
			list[n++] = v;
	pthread_mutex_unlock(&module_lock);
	for (int i = 0; i < n; i++) {
		uint64_t d;
		size_t size;
		cudaError_t e = symbol_address(list[i]->host_var, &d, &size);
		if (e != cudaSuccess) {
			VERR(shim, "managed variable %s: %s", list[i]->name, cudaGetErrorName(e));
			ok = 0;
		} else if (shim_managed_variable(d, size) != 0) {
			ok = 0;
		} else {
			*(void **)list[i]->host_var = (void *)(uintptr_t)d;
		}
	}
	return (char)ok;
}

void __cudaRegisterFunction(void **handle, const char *host_fun, char *device_fun,
			    const char *device_name, int thread_limit, uint3 *tid, uint3 *bid,
			    dim3 *bdim, dim3 *gdim, int *wsize)
{
	struct shim_func *f = calloc(1, sizeof(*f));

	if (!f || !(f->name = strdup(device_fun))) {
		VERR(shim, "out of memory registering kernel %s; it cannot be launched",
		     device_name);
		free(f);
		return;
	}
	f->host_fun = host_fun;
	f->fb = (struct shim_fatbin *)handle;
	pthread_mutex_lock(&module_lock);
	f->next = funcs;
	funcs = f;
	pthread_mutex_unlock(&module_lock);
}

static void module_register_var(void **handle, const void *host_var, const char *name, size_t size,
				int managed)
{
	struct shim_var *v = calloc(1, sizeof(*v));

	if (!v || !(v->name = strdup(name))) {
		VERR(shim, "out of memory registering variable %s; it cannot be used", name);
		free(v);
		return;
	}
	v->host_var = host_var;
	v->fb = (struct shim_fatbin *)handle;
	v->size = size;
	v->managed = managed;
	pthread_mutex_lock(&module_lock);
	v->next = vars;
	vars = v;
	pthread_mutex_unlock(&module_lock);
}

void __cudaRegisterVar(void **handle, char *host_var, char *device_address, const char *device_name,
		       int ext, size_t size, int constant, int global)
{
	module_register_var(handle, host_var, device_address, size, 0);
}

/* A __managed__ variable: host code reaches it through *host_var_ptr, set
 * by __cudaInitModule. */
void __cudaRegisterManagedVar(void **handle, void **host_var_ptr, char *device_address,
			      const char *device_name, int ext, size_t size, int constant,
			      int global)
{
	module_register_var(handle, host_var_ptr, device_address, size, 1);
}

static struct shim_func *module_func(const void *host_fun)
{
	struct shim_func *f;

	pthread_mutex_lock(&module_lock);
	for (f = funcs; f && f->host_fun != host_fun && (const void *)f != host_fun; f = f->next)
		;
	pthread_mutex_unlock(&module_lock);
	return f;
}

static struct shim_var *module_var(const void *host_var)
{
	struct shim_var *v;

	pthread_mutex_lock(&module_lock);
	/* A managed variable is also named by its address, which is what
	 * host code holds (cudaMemcpyToSymbol(var, ...)). */
	for (v = vars; v && v->host_var != host_var &&
		       !(v->managed && host_var && *(void *const *)v->host_var == host_var);
	     v = v->next)
		;
	pthread_mutex_unlock(&module_lock);
	return v;
}

/* After cudaDeviceReset the server has unloaded this device's modules:
 * they are loaded again on next use. */
void shim_modules_forget(int device)
{
	pthread_mutex_lock(&module_lock);
	for (struct shim_fatbin *f = fatbins; f; f = f->next) {
		f->server_module[device] = 0;
		f->load_error[device] = cudaSuccess;
	}
	for (struct shim_func *f = funcs; f; f = f->next) {
		f->server_func[device] = 0;
		f->limits_known[device] = 0;
	}
	for (struct shim_var *v = vars; v; v = v->next)
		v->dptr[device] = 0;
	pthread_mutex_unlock(&module_lock);
}

/* ---- loading on the server ---------------------------------------------------------- */

/* Parameter layouts of a fat binary's kernels: from a cubin, else the PTX. */
static void module_read_layouts(struct shim_fatbin *fb)
{
	struct vcuda_fatbin f;
	char why[256];

	fb->layouts_read = 1;
	if (!fb->len || vcuda_fatbin_parse(fb->container, fb->len, &f, why, sizeof(why)) != 0)
		return;
	for (size_t i = 0; i < f.n; i++) {
		uint8_t *img;
		size_t n;
		int rc;
		if (f.entries[i].kind != VCUDA_FATBIN_ELF && f.entries[i].kind != VCUDA_FATBIN_PTX)
			continue;
		if (vcuda_fatbin_extract(&f.entries[i], VCUDA_FATBIN_MAX_ENTRY_DEFAULT, &img, &n,
					 why, sizeof(why)) != 0)
			continue;
		rc = f.entries[i].kind == VCUDA_FATBIN_ELF
			 ? vcuda_kernels_from_cubin(img, n, &fb->layouts, why, sizeof(why))
			 : vcuda_kernels_from_ptx((char *)img, &fb->layouts, why, sizeof(why));
		free(img);
		if (rc == 0 && fb->layouts.n)
			break;
		vcuda_kernels_free(&fb->layouts);
	}
	vcuda_fatbin_free(&f);
}

/* Sends a fat binary to the server: in one message, or in parts the size
 * of a copy's chunks (VCUDA_CHUNK_SIZE), all but the last posted. */
static cudaError_t module_send(const struct shim_fatbin *fb, Vcuda__Reply **rp)
{
	Vcuda__ModuleLoad m = VCUDA__MODULE_LOAD__INIT;
	const uint8_t *p = fb->container;
	cudaError_t e = cudaSuccess;

	if (fb->len > shim.chunk)
		m.total = fb->len;
	for (size_t off = 0; off < fb->len && e == cudaSuccess;) {
		size_t n = fb->len - off < shim.chunk ? fb->len - off : shim.chunk;
		SHIM_REQUEST(rq, MODULE_LOAD, module_load, m);
		m.offset = off;
		off += n;
		if (off < fb->len)
			e = shim_post(&rq, p + m.offset, n, VCUDA_SEND_BORROW, NULL, 0);
		else
			e = shim_call(&rq, p + m.offset, n, VCUDA_SEND_BORROW, NULL, 0, rp);
	}
	return e;
}

/* The server's module for a fat binary on the current device, loaded on first use. */
static cudaError_t module_load(struct shim_fatbin *fb, uint64_t *out)
{
	Vcuda__Reply *rp = NULL;
	cudaError_t e = cudaSuccess;

	pthread_mutex_lock(&module_lock);
	if ((e = fb->load_error[shim_device]) != cudaSuccess) {
		/* remembered: not sent again */
	} else if (!fb->server_module[shim_device]) {
		if (!fb->len) {
			e = cudaErrorInvalidKernelImage;
		} else {
			e = module_send(fb, &rp);
			if (e == cudaSuccess && rp->ret_case == VCUDA__REPLY__RET_HANDLE)
				fb->server_module[shim_device] = rp->handle->handle;
			else if (e == cudaSuccess)
				e = cudaErrorUnknown;
			vcuda_client_reply_free(rp);
		}
		/* What the image itself is: it will not load later either. Out
		 * of memory, or a lost server, is not remembered here. */
		if (e == cudaErrorInvalidPtx || e == cudaErrorNoKernelImageForDevice ||
		    e == cudaErrorInvalidKernelImage || e == cudaErrorUnsupportedPtxVersion ||
		    e == cudaErrorInvalidSource || e == cudaErrorJitCompilerNotFound) {
			fb->load_error[shim_device] = e;
			VERR(shim,
			     "device %d cannot load one of this program's modules (%s); its "
			     "kernels' "
			     "launches fail with that error from now on",
			     shim_device, cudaGetErrorName(e));
		}
	}
	*out = fb->server_module[shim_device];
	pthread_mutex_unlock(&module_lock);
	return e;
}

/* Resolving a kernel or a variable on the server happens once, by one
 * thread; the others wait for the answer. */
static pthread_mutex_t resolve_lock = PTHREAD_MUTEX_INITIALIZER;

static cudaError_t module_func_resolve(struct shim_func *f)
{
	Vcuda__ModuleGetFunction m = VCUDA__MODULE_GET_FUNCTION__INIT;
	Vcuda__Reply *rp = NULL;
	cudaError_t e;
	uint64_t mod;

	if ((e = module_load(f->fb, &mod)) != cudaSuccess)
		return e;
	pthread_mutex_lock(&module_lock);
	if (!f->fb->layouts_read)
		module_read_layouts(f->fb);
	f->layout = vcuda_kernels_find(&f->fb->layouts, f->name);
	pthread_mutex_unlock(&module_lock);
	m.module = mod;
	m.name = f->name;
	SHIM_REQUEST(rq, MODULE_GET_FUNCTION, module_get_function, m);
	e = shim_call(&rq, NULL, 0, 0, NULL, 0, &rp);
	/* Published last: a handle means the layout is there too. */
	if (e == cudaSuccess && rp->ret_case == VCUDA__REPLY__RET_HANDLE)
		__atomic_store_n(&f->server_func[shim_device], rp->handle->handle,
				 __ATOMIC_RELEASE);
	else if (e == cudaSuccess || e == cudaErrorSymbolNotFound) {
		VWARN(shim, "kernel %s is not in its module on device %d", f->name, shim_device);
		e = cudaErrorInvalidDeviceFunction;
	}
	vcuda_client_reply_free(rp);
	return e;
}

static cudaError_t module_func_handle(struct shim_func *f, uint64_t *out)
{
	cudaError_t e = cudaSuccess;

	if (!(*out = __atomic_load_n(&f->server_func[shim_device], __ATOMIC_ACQUIRE))) {
		pthread_mutex_lock(&resolve_lock);
		if (!f->server_func[shim_device])
			e = module_func_resolve(f);
		*out = f->server_func[shim_device];
		pthread_mutex_unlock(&resolve_lock);
	}
	return e;
}

/* ---- launches ------------------------------------------------------------------------ */

unsigned __cudaPushCallConfiguration(dim3 grid, dim3 block, size_t shmem,
				     struct CUstream_st *stream)
{
	if (config_depth == (int)(sizeof(config_stack) / sizeof(*config_stack)))
		return 1;
	config_stack[config_depth++] = (struct call_config){grid, block, shmem, stream};
	return 0;
}

cudaError_t __cudaPopCallConfiguration(dim3 *grid, dim3 *block, size_t *shmem, void *stream)
{
	struct call_config *c;

	if (config_depth == 0)
		return cudaErrorMissingConfiguration;
	c = &config_stack[--config_depth];
	*grid = c->grid;
	*block = c->block;
	*shmem = c->shmem;
	memcpy(stream, &c->stream, sizeof(c->stream));
	return cudaSuccess;
}

cudaError_t __cudaGetKernel(cudaKernel_t *kernel, const void *host_fun)
{
	struct shim_func *f = module_func(host_fun);

	if (!kernel)
		return shim_ret(cudaErrorInvalidValue);
	*kernel = (cudaKernel_t)f;
	return f ? cudaSuccess : shim_ret(cudaErrorInvalidDeviceFunction);
}

/* What CUDA checks at once, against the device limits cached in the guest. */
static cudaError_t launch_check(dim3 grid, dim3 block, size_t shmem)
{
	int d = shim_device;
	uint64_t threads = (uint64_t)block.x * block.y * block.z;

	/* CUDA 13's runtime answers cudaErrorInvalidValue for each of these
	 * (seen with NVIDIA's runtime on an H200). */
	if (!grid.x || !grid.y || !grid.z || !block.x || !block.y || !block.z)
		return cudaErrorInvalidValue;
	if (block.x > (unsigned)shim_attribute(d, cudaDevAttrMaxBlockDimX) ||
	    block.y > (unsigned)shim_attribute(d, cudaDevAttrMaxBlockDimY) ||
	    block.z > (unsigned)shim_attribute(d, cudaDevAttrMaxBlockDimZ) ||
	    threads > (uint64_t)shim_attribute(d, cudaDevAttrMaxThreadsPerBlock))
		return cudaErrorInvalidValue;
	if (grid.x > (unsigned)shim_attribute(d, cudaDevAttrMaxGridDimX) ||
	    grid.y > (unsigned)shim_attribute(d, cudaDevAttrMaxGridDimY) ||
	    grid.z > (unsigned)shim_attribute(d, cudaDevAttrMaxGridDimZ))
		return cudaErrorInvalidValue;
	if (shmem > (size_t)shim_attribute(d, cudaDevAttrMaxSharedMemoryPerBlockOptin))
		return cudaErrorInvalidValue;
	return cudaSuccess;
}

static cudaError_t func_attributes(struct shim_func *f, int32_t *out);

/* What CUDA checks at once against the kernel itself: its maximum block
 * size (registers, __launch_bounds__) and its dynamic shared memory. */
static cudaError_t launch_check_func(struct shim_func *f, dim3 block, size_t shmem)
{
	int d = shim_device;
	uint64_t threads = (uint64_t)block.x * block.y * block.z;

	if (!__atomic_load_n(&f->limits_known[d], __ATOMIC_ACQUIRE)) {
		int32_t a[CU_FUNC_ATTRIBUTE_MAX];
		cudaError_t e = func_attributes(f, a);
		if (e != cudaSuccess)
			return e;
		f->max_threads[d] = a[CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK];
		f->max_dyn_smem[d] = a[CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES];
		__atomic_store_n(&f->limits_known[d], 1, __ATOMIC_RELEASE);
	}
	if (f->max_threads[d] > 0 && threads > (uint64_t)f->max_threads[d])
		return cudaErrorInvalidValue;
	if (f->max_dyn_smem[d] >= 0 && shmem > (size_t)f->max_dyn_smem[d])
		return cudaErrorInvalidValue;
	return cudaSuccess;
}

/* Packs the arguments at the offsets the kernel's layout gives. */
static cudaError_t launch_pack(const struct shim_func *f, void **args, uint8_t **buf, size_t *len)
{
	const struct vcuda_kernel_info *k = f->layout;

	if (!k) {
		VERR(shim, "no parameter layout for kernel %s", f->name);
		return cudaErrorInvalidDeviceFunction;
	}
	*len = k->param_size;
	if (!(*buf = calloc(1, *len ? *len : 1)))
		return cudaErrorMemoryAllocation;
	for (int i = 0; i < k->nparams; i++) {
		if (!args || !args[i]) {
			free(*buf);
			return cudaErrorInvalidValue;
		}
		memcpy(*buf + k->params[i].offset, args[i], k->params[i].size);
	}
	return cudaSuccess;
}

/* Checks a launch of f and packs its arguments (args, or a buffer in
 * extra's format) into *buf (malloc'd), *len. */
static cudaError_t launch_prepare(struct shim_func *f, dim3 grid, dim3 block, void **args,
				  void **extra, size_t shmem, uint64_t *handle, uint8_t **buf,
				  size_t *len)
{
	cudaError_t e;

	if (!f) {
		VDEBUG(shim, "a launch names no registered kernel");
		return cudaErrorInvalidDeviceFunction;
	}
	if ((e = launch_check(grid, block, shmem)) != cudaSuccess ||
	    (e = module_func_handle(f, handle)) != cudaSuccess ||
	    (e = launch_check_func(f, block, shmem)) != cudaSuccess)
		return e;
	if (!args && extra) {
		/* CU_LAUNCH_PARAM_BUFFER_POINTER, p, CU_LAUNCH_PARAM_BUFFER_SIZE,
		 * &size, CU_LAUNCH_PARAM_END: the arguments already packed. */
		const void *from = NULL;
		size_t n = 0;
		for (int i = 0; i < 8 && extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
			if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER)
				from = extra[i + 1];
			else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE && extra[i + 1])
				n = *(const size_t *)extra[i + 1];
			else
				return cudaErrorInvalidValue;
		}
		if (!from || !f->layout || n != f->layout->param_size)
			return cudaErrorInvalidValue;
		if (!(*buf = malloc(n ? n : 1)))
			return cudaErrorMemoryAllocation;
		memcpy(*buf, from, n);
		*len = n;
		return cudaSuccess;
	}
	return launch_pack(f, args, buf, len);
}

/* What a launch asks beyond its shape: every block resident at once, and
 * thread block clusters (cluster.x 0: none). */
struct launch_attrs {
	int cooperative;
	dim3 cluster;
};
static const struct launch_attrs cooperative_launch = {.cooperative = 1};

/* Sends a prepared launch; buf goes with it. */
static cudaError_t launch_send(uint64_t handle, dim3 grid, dim3 block, size_t shmem,
			       cudaStream_t stream, int per_thread, const struct launch_attrs *a,
			       uint8_t *buf, size_t len)
{
	int cooperative = a && a->cooperative;
	Vcuda__Launch m = VCUDA__LAUNCH__INIT;
	cudaError_t e;

	m.func = handle;
	m.grid_x = grid.x, m.grid_y = grid.y, m.grid_z = grid.z;
	m.block_x = block.x, m.block_y = block.y, m.block_z = block.z;
	m.shared_mem = (uint32_t)shmem;
	if ((e = shim_stream(stream, per_thread, &m.stream)) != cudaSuccess) {
		free(buf);
		return e;
	}
	m.cooperative = cooperative;
	if (a && a->cluster.x) {
		m.cluster_x = a->cluster.x;
		m.cluster_y = a->cluster.y;
		m.cluster_z = a->cluster.z;
	}
	SHIM_REQUEST(rq, LAUNCH, launch, m);
	/* A cooperative grid too large to be resident, or clusters of a shape
	 * the device refuses, are refused by the launch itself, so that one
	 * waits for its answer. */
	if (cooperative || m.cluster_x)
		return shim_call(&rq, buf, len, VCUDA_SEND_GIFT, NULL, 0, NULL);
	return shim_post(&rq, buf, len, VCUDA_SEND_GIFT, NULL, 0);
}

static cudaError_t launch(struct shim_func *f, dim3 grid, dim3 block, void **args, size_t shmem,
			  cudaStream_t stream, int per_thread, const struct launch_attrs *a)
{
	uint8_t *buf;
	size_t len;
	uint64_t handle, id;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if ((e = shim_stream(stream, per_thread, &id)) != cudaSuccess)
		return shim_ret(e);
	/* Into a graph, while the stream is captured. */
	if (shim_graph_capturing(id)) {
		struct cudaGraphNodeParams np = {.type = cudaGraphNodeTypeKernel};
		/* (Graph kernel nodes carry no cooperative or cluster attributes
		 * in vcuda yet.) */
		if (a)
			return shim_ret(cudaErrorStreamCaptureUnsupported);
		np.kernel.func = f;
		np.kernel.gridDim = grid;
		np.kernel.blockDim = block;
		np.kernel.sharedMemBytes = (unsigned)shmem;
		np.kernel.kernelParams = args;
		return shim_ret(shim_graph_capture(id, &np));
	}
	if ((e = launch_prepare(f, grid, block, args, NULL, shmem, &handle, &buf, &len)) !=
	    cudaSuccess)
		return shim_ret(e);
	return shim_ret(launch_send(handle, grid, block, shmem, stream, per_thread, a, buf, len));
}

cudaError_t shim_kernel_pack(const void *func, dim3 grid, dim3 block, size_t shmem, void **args,
			     void **extra, uint8_t **buf, size_t *len)
{
	uint64_t handle;

	return launch_prepare(module_func(func), grid, block, args, extra, shmem, &handle, buf,
			      len);
}

cudaError_t shim_kernel_launch_packed(const void *func, dim3 grid, dim3 block, size_t shmem,
				      const uint8_t *args, size_t len, cudaStream_t stream,
				      int per_thread)
{
	struct shim_func *f = module_func(func);
	uint64_t handle;
	uint8_t *buf;
	cudaError_t e;

	if (!f)
		return cudaErrorInvalidDeviceFunction;
	if ((e = module_func_handle(f, &handle)) != cudaSuccess)
		return e;
	if (!(buf = malloc(len ? len : 1)))
		return cudaErrorMemoryAllocation;
	memcpy(buf, args, len);
	return launch_send(handle, grid, block, shmem, stream, per_thread, NULL, buf, len);
}

cudaError_t __cudaLaunchKernel(cudaKernel_t kernel, dim3 grid, dim3 block, void **args,
			       size_t shmem, cudaStream_t stream)
{
	return launch((struct shim_func *)kernel, grid, block, args, shmem, stream, 0, NULL);
}

cudaError_t __cudaLaunchKernel_ptsz(cudaKernel_t kernel, dim3 grid, dim3 block, void **args,
				    size_t shmem, cudaStream_t stream)
{
	return launch((struct shim_func *)kernel, grid, block, args, shmem, stream, 1, NULL);
}

cudaError_t cudaLaunchKernel(const void *func, dim3 grid, dim3 block, void **args, size_t shmem,
			     cudaStream_t stream)
{
	return launch(module_func(func), grid, block, args, shmem, stream, 0, NULL);
}

cudaError_t cudaLaunchKernel_ptsz(const void *func, dim3 grid, dim3 block, void **args,
				  size_t shmem, cudaStream_t stream)
{
	return launch(module_func(func), grid, block, args, shmem, stream, 1, NULL);
}

cudaError_t cudaLaunchCooperativeKernel_ptsz(const void *func, dim3 grid, dim3 block, void **args,
					     size_t shmem, cudaStream_t stream);

/* Every block resident at once, for grid-wide synchronization. */
cudaError_t cudaLaunchCooperativeKernel(const void *func, dim3 grid, dim3 block, void **args,
					size_t shmem, cudaStream_t stream)
{
	return launch(module_func(func), grid, block, args, shmem, stream, 0, &cooperative_launch);
}

cudaError_t cudaLaunchCooperativeKernel_ptsz(const void *func, dim3 grid, dim3 block, void **args,
					     size_t shmem, cudaStream_t stream)
{
	return launch(module_func(func), grid, block, args, shmem, stream, 1, &cooperative_launch);
}

/* ---- kernel attributes -------------------------------------------------------------- */

static cudaError_t func_attributes(struct shim_func *f, int32_t *out)
{
	Vcuda__FuncGetAttributes m = VCUDA__FUNC_GET_ATTRIBUTES__INIT;
	Vcuda__Reply *rp = NULL;
	cudaError_t e = shim_begin();

	if (e)
		return e;
	if (!f)
		return cudaErrorInvalidDeviceFunction;
	if ((e = module_func_handle(f, &m.func)) != cudaSuccess)
		return e;
	SHIM_REQUEST(rq, FUNC_GET_ATTRIBUTES, func_get_attributes, m);
	e = shim_call(&rq, NULL, 0, 0, NULL, 0, &rp);
	if (e == cudaSuccess && rp->ret_case == VCUDA__REPLY__RET_FUNC_ATTRIBUTES) {
		for (int a = 0; a < CU_FUNC_ATTRIBUTE_MAX; a++)
			out[a] = (size_t)a < rp->func_attributes->n_values
				     ? rp->func_attributes->values[a]
				     : 0;
	} else if (e == cudaSuccess) {
		e = cudaErrorUnknown;
	}
	vcuda_client_reply_free(rp);
	return e;
}

cudaError_t cudaFuncGetAttributes(struct cudaFuncAttributes *attr, const void *func)
{
	int32_t a[CU_FUNC_ATTRIBUTE_MAX];
	cudaError_t e;

	if (!attr)
		return shim_ret(cudaErrorInvalidValue);
	if ((e = func_attributes(module_func(func), a)) != cudaSuccess)
		return shim_ret(e);
	memset(attr, 0, sizeof(*attr));
	attr->sharedSizeBytes = (size_t)a[CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES];
	attr->constSizeBytes = (size_t)a[CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES];
	attr->localSizeBytes = (size_t)a[CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES];
	attr->maxThreadsPerBlock = a[CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK];
	attr->numRegs = a[CU_FUNC_ATTRIBUTE_NUM_REGS];
	attr->ptxVersion = a[CU_FUNC_ATTRIBUTE_PTX_VERSION];
	attr->binaryVersion = a[CU_FUNC_ATTRIBUTE_BINARY_VERSION];
	attr->cacheModeCA = a[CU_FUNC_ATTRIBUTE_CACHE_MODE_CA];
	attr->maxDynamicSharedSizeBytes = a[CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES];
	attr->preferredShmemCarveout = a[CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT];
	attr->clusterDimMustBeSet = a[CU_FUNC_ATTRIBUTE_CLUSTER_SIZE_MUST_BE_SET];
	attr->requiredClusterWidth = a[CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH];
	attr->requiredClusterHeight = a[CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT];
	attr->requiredClusterDepth = a[CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH];
	attr->nonPortableClusterSizeAllowed =
	    a[CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED];
	return cudaSuccess;
}

cudaError_t shim_func_id(const void *func, uint64_t *id)
{
	struct shim_func *f = module_func(func);

	return f ? module_func_handle(f, id) : cudaErrorInvalidDeviceFunction;
}

/* A scalar call (calls.def) with a guest stub of its own: the runtime
 * numbers two attributes differently from the driver, the rest do not
 * change what a launch does, and the launch limits cached for the function
 * must be fetched again. */
cudaError_t cudaFuncSetAttribute(const void *func, enum cudaFuncAttribute attr, int value)
{
	struct shim_func *f = module_func(func);
	uint64_t in[3];
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!f)
		return shim_ret(cudaErrorInvalidDeviceFunction);
	if ((e = module_func_handle(f, &in[0])) != cudaSuccess)
		return shim_ret(e);
	if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize)
		in[1] = CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES;
	else if (attr == cudaFuncAttributePreferredSharedMemoryCarveout)
		in[1] = CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT;
	else if (attr == cudaFuncAttributeNonPortableClusterSizeAllowed)
		in[1] = CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED;
	else
		return shim_ret(cudaSuccess);
	in[2] = (uint64_t)(int64_t)value;
	e = shim_scalar(VCUDA_OP_func_set_attribute, in, NULL);
	__atomic_store_n(&f->limits_known[shim_device], 0, __ATOMIC_RELEASE);
	return shim_ret(e);
}

cudaError_t cudaFuncSetCacheConfig(const void *func, enum cudaFuncCache config)
{
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	return module_func(func) ? cudaSuccess : shim_ret(cudaErrorInvalidDeviceFunction);
}

cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int *blocks, const void *func,
								   int block_size,
								   size_t dynamic_smem,
								   unsigned int flags)
{
	Vcuda__Occupancy m = VCUDA__OCCUPANCY__INIT;
	Vcuda__Reply *rp = NULL;
	struct shim_func *f = module_func(func);
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!blocks)
		return shim_ret(cudaErrorInvalidValue);
	if (!f)
		return shim_ret(cudaErrorInvalidDeviceFunction);
	if ((e = module_func_handle(f, &m.func)) != cudaSuccess)
		return shim_ret(e);
	m.block_size = block_size;
	m.dynamic_smem = dynamic_smem;
	m.flags = flags;
	SHIM_REQUEST(rq, OCCUPANCY, occupancy, m);
	e = shim_call(&rq, NULL, 0, 0, NULL, 0, &rp);
	if (e == cudaSuccess && rp->ret_case == VCUDA__REPLY__RET_OCCUPANCY)
		*blocks = rp->occupancy->blocks;
	vcuda_client_reply_free(rp);
	return shim_ret(e);
}

cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int *blocks, const void *func,
							  int block_size, size_t dynamic_smem)
{
	return cudaOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(blocks, func, block_size,
								      dynamic_smem, 0);
}

/* ---- symbols ------------------------------------------------------------------------- */

/* The device address of a registered variable, known to both sides. */
static cudaError_t symbol_address(const void *symbol, uint64_t *dptr, size_t *size)
{
	Vcuda__ModuleGetGlobal m = VCUDA__MODULE_GET_GLOBAL__INIT;
	Vcuda__Reply *rp = NULL;
	struct shim_var *v = module_var(symbol);
	cudaError_t e = shim_begin();

	if (e)
		return e;
	if (!v)
		return cudaErrorInvalidSymbol;
	pthread_mutex_lock(&resolve_lock);
	if (!v->dptr[shim_device] && (e = module_load(v->fb, &m.module)) == cudaSuccess) {
		m.name = v->name;
		SHIM_REQUEST(rq, MODULE_GET_GLOBAL, module_get_global, m);
		e = shim_call(&rq, NULL, 0, 0, NULL, 0, &rp);
		if (e == cudaSuccess && rp->ret_case == VCUDA__REPLY__RET_GLOBAL) {
			struct vcuda_range r = {.base = rp->global->dptr,
						.size = rp->global->size,
						.tag = (uint64_t)shim_device,
						.data = v};
			pthread_mutex_lock(&shim.lock);
			if (!vcuda_rangemap_find(&shim.dmem, r.base))
				vcuda_rangemap_insert(&shim.dmem, &r);
			pthread_mutex_unlock(&shim.lock);
			v->dptr[shim_device] = rp->global->dptr;
			v->size = rp->global->size;
		} else {
			e = e == cudaSuccess || e == cudaErrorSymbolNotFound
				? cudaErrorInvalidSymbol
				: e;
		}
		vcuda_client_reply_free(rp);
	}
	*dptr = v->dptr[shim_device];
	*size = v->size;
	pthread_mutex_unlock(&resolve_lock);
	return e;
}

cudaError_t cudaGetSymbolAddress(void **dev_ptr, const void *symbol)
{
	uint64_t d;
	size_t size;
	cudaError_t e;

	if (!dev_ptr)
		return shim_ret(cudaErrorInvalidValue);
	if ((e = symbol_address(symbol, &d, &size)) == cudaSuccess)
		*dev_ptr = (void *)(uintptr_t)d;
	return shim_ret(e);
}

cudaError_t cudaGetSymbolSize(size_t *size, const void *symbol)
{
	uint64_t d;

	if (!size)
		return shim_ret(cudaErrorInvalidValue);
	return shim_ret(symbol_address(symbol, &d, size));
}

static cudaError_t symbol_copy(void *dst, const void *src, const void *symbol, size_t count,
			       size_t offset, enum cudaMemcpyKind kind, int to_symbol,
			       cudaStream_t stream, int async, int per_thread)
{
	uint64_t d;
	size_t size;
	cudaError_t e = symbol_address(symbol, &d, &size);

	if (e)
		return shim_ret(e);
	if (offset > size || count > size - offset)
		return shim_ret(cudaErrorInvalidValue);
	if (kind == cudaMemcpyDefault)
		kind = to_symbol ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost;
	if (to_symbol && kind != cudaMemcpyHostToDevice && kind != cudaMemcpyDeviceToDevice)
		return shim_ret(cudaErrorInvalidMemcpyDirection);
	if (!to_symbol && kind != cudaMemcpyDeviceToHost && kind != cudaMemcpyDeviceToDevice)
		return shim_ret(cudaErrorInvalidMemcpyDirection);
	if (to_symbol)
		dst = (void *)(uintptr_t)(d + offset);
	else
		src = (const void *)(uintptr_t)(d + offset);
	if (async)
		return per_thread ? cudaMemcpyAsync_ptsz(dst, src, count, kind, stream)
				  : cudaMemcpyAsync(dst, src, count, kind, stream);
	return per_thread ? cudaMemcpy_ptds(dst, src, count, kind)
			  : cudaMemcpy(dst, src, count, kind);
}

cudaError_t cudaMemcpyToSymbol(const void *symbol, const void *src, size_t count, size_t offset,
			       enum cudaMemcpyKind kind)
{
	return symbol_copy(NULL, src, symbol, count, offset, kind, 1, NULL, 0, 0);
}

cudaError_t cudaMemcpyFromSymbol(void *dst, const void *symbol, size_t count, size_t offset,
				 enum cudaMemcpyKind kind)
{
	return symbol_copy(dst, NULL, symbol, count, offset, kind, 0, NULL, 0, 0);
}

cudaError_t cudaMemcpyToSymbolAsync(const void *symbol, const void *src, size_t count,
				    size_t offset, enum cudaMemcpyKind kind, cudaStream_t stream)
{
	return symbol_copy(NULL, src, symbol, count, offset, kind, 1, stream, 1, 0);
}

cudaError_t cudaMemcpyFromSymbolAsync(void *dst, const void *symbol, size_t count, size_t offset,
				      enum cudaMemcpyKind kind, cudaStream_t stream)
{
	return symbol_copy(dst, NULL, symbol, count, offset, kind, 0, stream, 1, 0);
}

/* The same, for per-thread default stream builds. */
cudaError_t cudaMemcpyToSymbol_ptds(const void *symbol, const void *src, size_t count,
				    size_t offset, enum cudaMemcpyKind kind);
cudaError_t cudaMemcpyFromSymbol_ptds(void *dst, const void *symbol, size_t count, size_t offset,
				      enum cudaMemcpyKind kind);
cudaError_t cudaMemcpyToSymbolAsync_ptsz(const void *symbol, const void *src, size_t count,
					 size_t offset, enum cudaMemcpyKind kind,
					 cudaStream_t stream);
cudaError_t cudaMemcpyFromSymbolAsync_ptsz(void *dst, const void *symbol, size_t count,
					   size_t offset, enum cudaMemcpyKind kind,
					   cudaStream_t stream);

cudaError_t cudaMemcpyToSymbol_ptds(const void *symbol, const void *src, size_t count,
				    size_t offset, enum cudaMemcpyKind kind)
{
	return symbol_copy(NULL, src, symbol, count, offset, kind, 1, NULL, 0, 1);
}

cudaError_t cudaMemcpyFromSymbol_ptds(void *dst, const void *symbol, size_t count, size_t offset,
				      enum cudaMemcpyKind kind)
{
	return symbol_copy(dst, NULL, symbol, count, offset, kind, 0, NULL, 0, 1);
}

cudaError_t cudaMemcpyToSymbolAsync_ptsz(const void *symbol, const void *src, size_t count,
					 size_t offset, enum cudaMemcpyKind kind,
					 cudaStream_t stream)
{
	return symbol_copy(NULL, src, symbol, count, offset, kind, 1, stream, 1, 1);
}

cudaError_t cudaMemcpyFromSymbolAsync_ptsz(void *dst, const void *symbol, size_t count,
					   size_t offset, enum cudaMemcpyKind kind,
					   cudaStream_t stream)
{
	return symbol_copy(dst, NULL, symbol, count, offset, kind, 0, stream, 1, 1);
}

/* ---- extended launches and host functions -------------------------------------------- */

static cudaError_t launch_ex(const cudaLaunchConfig_t *config, const void *func, void **args,
			     int per_thread)
{
	struct launch_attrs a = {0};

	if (!config || (config->numAttrs && !config->attrs))
		return shim_ret(cudaErrorInvalidValue);
	for (unsigned i = 0; i < config->numAttrs; i++) {
		cudaLaunchAttributeID id = config->attrs[i].id;
		if (id == cudaLaunchAttributeCooperative)
			a.cooperative = config->attrs[i].val.cooperative != 0;
		if (id == cudaLaunchAttributeClusterDimension) {
			a.cluster.x = config->attrs[i].val.clusterDim.x;
			a.cluster.y = config->attrs[i].val.clusterDim.y;
			a.cluster.z = config->attrs[i].val.clusterDim.z;
			if (!a.cluster.x || !a.cluster.y || !a.cluster.z)
				return shim_ret(cudaErrorInvalidClusterSize);
		}
	}
	return launch(module_func(func), config->gridDim, config->blockDim, args,
		      config->dynamicSmemBytes, config->stream, per_thread,
		      a.cooperative || a.cluster.x ? &a : NULL);
}

cudaError_t cudaLaunchKernelExC_ptsz(const cudaLaunchConfig_t *config, const void *func,
				     void **args);

cudaError_t cudaLaunchKernelExC(const cudaLaunchConfig_t *config, const void *func, void **args)
{
	return launch_ex(config, func, args, 0);
}

cudaError_t cudaLaunchKernelExC_ptsz(const cudaLaunchConfig_t *config, const void *func,
				     void **args)
{
	return launch_ex(config, func, args, 1);
}

/*
 * Host functions run in the guest, in stream order: the stream is drained,
 * then the function runs, before the call returns, so everything submitted
 * to the stream later runs after it. (CUDA would return at once and run the
 * function on a thread of its own; a program that waits for its own
 * callback from the submitting thread would block here.)
 */
static cudaError_t host_func(cudaStream_t stream, int per_thread, cudaStreamCallback_t cb,
			     cudaHostFn_t fn, void *data)
{
	uint64_t id;
	cudaError_t e = shim_stream(stream, per_thread, &id);

	if (e)
		return e;
	if (shim_graph_capturing(id)) {
		struct cudaGraphNodeParams np = {.type = cudaGraphNodeTypeHost};
		if (!fn) /* a stream callback cannot be captured */
			return cudaErrorStreamCaptureUnsupported;
		np.host.fn = fn;
		np.host.userData = data;
		return shim_graph_capture(id, &np);
	}
	e = per_thread ? cudaStreamSynchronize_ptsz(stream) : cudaStreamSynchronize(stream);

	if (fn) {
		if (e != cudaSuccess)
			return e;
		fn(data);
	} else {
		cb(stream, e, data);
	}
	return cudaSuccess;
}

cudaError_t cudaLaunchHostFunc_ptsz(cudaStream_t stream, cudaHostFn_t fn, void *data);
cudaError_t cudaStreamAddCallback_ptsz(cudaStream_t stream, cudaStreamCallback_t cb, void *data,
				       unsigned int flags);

cudaError_t cudaLaunchHostFunc(cudaStream_t stream, cudaHostFn_t fn, void *data)
{
	return fn ? shim_ret(host_func(stream, 0, NULL, fn, data))
		  : shim_ret(cudaErrorInvalidValue);
}

cudaError_t cudaLaunchHostFunc_ptsz(cudaStream_t stream, cudaHostFn_t fn, void *data)
{
	return fn ? shim_ret(host_func(stream, 1, NULL, fn, data))
		  : shim_ret(cudaErrorInvalidValue);
}

cudaError_t cudaStreamAddCallback(cudaStream_t stream, cudaStreamCallback_t cb, void *data,
				  unsigned int flags)
{
	if (!cb || flags != 0)
		return shim_ret(cudaErrorInvalidValue);
	return shim_ret(host_func(stream, 0, cb, NULL, data));
}

cudaError_t cudaStreamAddCallback_ptsz(cudaStream_t stream, cudaStreamCallback_t cb, void *data,
				       unsigned int flags)
{
	if (!cb || flags != 0)
		return shim_ret(cudaErrorInvalidValue);
	return shim_ret(host_func(stream, 1, cb, NULL, data));
}
