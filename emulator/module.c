/*
 * The CPU device: modules (from fat binaries or PTX text), functions,
 * globals, and kernel launches. A module's PTX is parsed once at load;
 * its __device__ variables and constant bank live in device memory, so
 * that copies to and from symbols are ordinary device copies.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devheap.h"
#include "emu.h"
#include "exec.h"
#include "fatbin.h"
#include "jit.h"
#include "log.h"
#include "ptx.h"

#define EMU_MODULE_MAGIC 0x766d6f64u /* "vmod" */
#define EMU_FUNC_MAGIC	 0x7666756eu /* "vfun" */
#define EMU_SMEM_DEFAULT (48u * 1024)
#define EMU_SMEM_OPTIN	 (163u * 1024)

struct CUfunc_st {
	uint32_t magic;
	struct CUmod_st *mod;
	int fi;
	uint32_t max_dyn_smem;
	int nonportable_cluster; /* clusters of up to 16 blocks, not 8 */
};

struct CUmod_st {
	uint32_t magic;
	struct CUctx_st *ctx;
	struct ptx_module *ptx;
	CUdeviceptr globals, consts;
	CUdeviceptr globals_alloc; /* what globals lies in (page-aligned for managed ones) */
	uint64_t *sym_addr;
	struct CUfunc_st *funcs; /* one per PTX function, by index */
	struct CUmod_st *next;
};

/* CUlibrary and CUkernel are the same objects as CUmodule and CUfunction. */
struct CUlib_st;
struct CUkern_st;

static struct CUmod_st *modules; /* under emu.lock */
static char module_log[1024];

static int module_valid(const struct CUmod_st *m)
{
	int ok = 0;

	pthread_mutex_lock(&emu.lock);
	for (struct CUmod_st *i = modules; i; i = i->next)
		ok |= i == m;
	pthread_mutex_unlock(&emu.lock);
	return ok && m->magic == EMU_MODULE_MAGIC;
}

static int func_valid(const struct CUfunc_st *f)
{
	return f && f->magic == EMU_FUNC_MAGIC && module_valid(f->mod);
}

/* The PTX in an image: a fat binary wrapper, a fat binary, or PTX text. */
static CUresult module_ptx(const void *image, char **ptx, char *log, size_t log_len)
{
	const void *fatbin = vcuda_fatbin_from_wrapper(image);
	const uint8_t *p = image;
	struct vcuda_fatbin fb;
	const struct vcuda_fatbin_entry *e;
	uint8_t *text;
	size_t len;

	if (!fatbin && p[0] == 0x50 && p[1] == 0xed && p[2] == 0x55 && p[3] == 0xba)
		fatbin = image;
	if (fatbin) {
		size_t size = vcuda_fatbin_size(fatbin, 16);
		if (vcuda_fatbin_parse(fatbin, size, &fb, log, log_len) != 0)
			return CUDA_ERROR_INVALID_IMAGE;
		/* The newest PTX the device's compute capability takes. */
		e = vcuda_fatbin_best_ptx(&fb, (unsigned)emu.dev.cc);
		if (!e) {
			int any = vcuda_fatbin_best_ptx(&fb, 1000) != NULL;
			vcuda_fatbin_free(&fb);
			if (any)
				snprintf(
				    log, log_len,
				    "the fat binary's PTX is all for a compute capability above "
				    "the CPU device's %d.%d (VCUDA_CPU_CC)",
				    emu.dev.cc / 10, emu.dev.cc % 10);
			else
				snprintf(log, log_len,
					 "the fat binary has no PTX (built with -rdc or for cubins "
					 "only); vcuda's CPU device runs PTX");
			return CUDA_ERROR_NO_BINARY_FOR_GPU;
		}
		/* The PTX parser takes no more than PTX_MAX_TEXT bytes either. */
		if (vcuda_fatbin_extract(e, PTX_MAX_TEXT, &text, &len, log, log_len) != 0) {
			vcuda_fatbin_free(&fb);
			return CUDA_ERROR_INVALID_IMAGE;
		}
		vcuda_fatbin_free(&fb);
		*ptx = (char *)text;
		return CUDA_SUCCESS;
	}
	if (p[0] == 0x7f && p[1] == 'E' && p[2] == 'L' && p[3] == 'F') {
		snprintf(log, log_len,
			 "a cubin holds machine code for a GPU; vcuda's CPU device runs PTX");
		return CUDA_ERROR_NO_BINARY_FOR_GPU;
	}
	if (!(*ptx = strdup(image)))
		return CUDA_ERROR_OUT_OF_MEMORY;
	return CUDA_SUCCESS;
}

/* Device memory for the module's globals and constant bank. */
static CUresult module_place(struct CUmod_st *mod)
{
	struct ptx_module *m = mod->ptx;
	uint8_t *host;
	CUresult rc;

	mod->sym_addr = calloc((size_t)m->nsyms + 1, sizeof(uint64_t));
	if (!mod->sym_addr)
		return CUDA_ERROR_OUT_OF_MEMORY;
	if ((rc = cuMemAlloc(&mod->consts, m->const_size ? m->const_size : 1)) != CUDA_SUCCESS)
		return rc;
	host = emu_dev_to_host(mod->consts, m->const_size ? m->const_size : 1);
	memcpy(host, m->const_bank, m->const_size);
	/* Managed variables need their offsets to be page offsets. */
	if ((rc = cuMemAlloc(&mod->globals_alloc, (m->global_size ? m->global_size : 1) +
						      (m->has_managed ? PTX_MANAGED_PAGE : 0))) !=
	    CUDA_SUCCESS)
		return rc;
	mod->globals = mod->globals_alloc;
	if (m->has_managed)
		mod->globals =
		    (mod->globals + PTX_MANAGED_PAGE - 1) & ~(CUdeviceptr)(PTX_MANAGED_PAGE - 1);
	host = emu_dev_to_host(mod->globals, m->global_size ? m->global_size : 1);
	memset(host, 0, m->global_size);
	for (int i = 0; i < m->nsyms; i++) {
		struct ptx_sym *s = &m->syms[i];
		if (s->kind == SYM_GLOBAL) {
			mod->sym_addr[i] = mod->globals + s->offset;
			if (s->init)
				memcpy(host + s->offset, s->init, s->size);
		} else if (s->kind == SYM_CONST) {
			mod->sym_addr[i] = mod->consts + s->offset;
		}
	}
	/* Addresses in initializers (virtual tables, pointers to variables),
	 * now that every variable has its place. */
	for (int i = 0; i < m->nsyms; i++) {
		const struct ptx_sym *s = &m->syms[i];
		uint8_t *bytes =
		    s->kind == SYM_GLOBAL ? host + s->offset
		    : s->kind == SYM_CONST
			? (uint8_t *)emu_dev_to_host(mod->consts, m->const_size) + s->offset
			: NULL;
		for (int k = 0; bytes && k < s->nrelocs; k++) {
			const struct ptx_reloc *r = &s->relocs[k];
			const struct ptx_sym *t = &m->syms[r->sym];
			uint64_t v;
			if (t->kind == SYM_FUNC)
				v = PTX_FUNC_ADDR((uint64_t)t->func);
			else if (t->kind == SYM_GLOBAL)
				v = mod->sym_addr[r->sym];
			else if (t->kind == SYM_CONST) /* const space, or its generic window */
				v = r->generic ? GWIN_CONST | t->offset : t->offset;
			else
				return CUDA_ERROR_INVALID_PTX;
			v += (uint64_t)r->addend;
			if (r->at + 8 <= s->size)
				memcpy(bytes + r->at, &v, 8);
		}
	}
	return CUDA_SUCCESS;
}

int vcuda_cpu_module_memory(CUmodule m, uint64_t out[4]);

/* Where a module's device memory lies, to be placed there again
 * (vcuda_cpu_place_next): its constant bank and the allocation holding its
 * variables, each as address and size. 0, or -1 for an unknown module. */
int vcuda_cpu_module_memory(CUmodule m, uint64_t out[4])
{
	const struct CUmod_st *mod = (const struct CUmod_st *)m;

	if (!mod || !module_valid(mod))
		return -1;
	out[0] = mod->consts;
	out[1] = mod->ptx->const_size ? mod->ptx->const_size : 1;
	out[2] = mod->globals_alloc;
	out[3] = (mod->ptx->global_size ? mod->ptx->global_size : 1) +
		 (mod->ptx->has_managed ? PTX_MANAGED_PAGE : 0);
	return 0;
}

static void module_free(struct CUmod_st *mod)
{
	if (mod->consts)
		cuMemFree(mod->consts);
	if (mod->globals_alloc)
		cuMemFree(mod->globals_alloc);
	emu_jit_module_free(mod->ptx);
	ptx_module_free(mod->ptx);
	free(mod->sym_addr);
	free(mod->funcs);
	mod->magic = 0;
	free(mod);
}

static CUresult module_load(CUmodule *out, const void *image, char *log, size_t log_len)
{
	struct CUctx_st *ctx;
	CUresult rc = emu_ctx_require(&ctx);
	struct CUmod_st *mod;
	char *ptx = NULL;

	log[0] = '\0';
	if (rc)
		return rc;
	if (!out || !image)
		return CUDA_ERROR_INVALID_VALUE;
	if ((rc = module_ptx(image, &ptx, log, log_len)) != CUDA_SUCCESS)
		return rc;
	if (!(mod = calloc(1, sizeof(*mod)))) {
		free(ptx);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	mod->magic = EMU_MODULE_MAGIC;
	mod->ctx = ctx;
	mod->ptx = ptx_parse(ptx, log, log_len);
	free(ptx);
	if (mod->ptx && mod->ptx->target_sm > (unsigned)emu.dev.cc) {
		/* as a GPU's JIT refuses PTX for a newer architecture */
		snprintf(log, log_len,
			 "PTX for sm_%u cannot run on the CPU device, of compute capability "
			 "%d.%d (VCUDA_CPU_CC selects up to 9.0)",
			 mod->ptx->target_sm, emu.dev.cc / 10, emu.dev.cc % 10);
		ptx_module_free(mod->ptx);
		free(mod);
		return CUDA_ERROR_INVALID_PTX;
	}
	if (!mod->ptx || emu_exec_check_module(mod->ptx, log, log_len) != 0) {
		if (mod->ptx)
			ptx_module_free(mod->ptx);
		free(mod);
		return CUDA_ERROR_INVALID_PTX;
	}
	mod->funcs = calloc((size_t)mod->ptx->nfuncs + 1, sizeof(*mod->funcs));
	if (!mod->funcs || (rc = module_place(mod)) != CUDA_SUCCESS) {
		module_free(mod);
		return rc ? rc : CUDA_ERROR_OUT_OF_MEMORY;
	}
	for (int i = 0; i < mod->ptx->nfuncs; i++)
		mod->funcs[i] = (struct CUfunc_st){.magic = EMU_FUNC_MAGIC,
						   .mod = mod,
						   .fi = i,
						   .max_dyn_smem = EMU_SMEM_DEFAULT -
								   mod->ptx->funcs[i].shared_size};
	pthread_mutex_lock(&emu.lock);
	mod->next = modules;
	modules = mod;
	pthread_mutex_unlock(&emu.lock);
	*out = mod;
	return CUDA_SUCCESS;
}

static CUresult module_load_logged(CUmodule *out, const void *image)
{
	CUresult rc = module_load(out, image, module_log, sizeof(module_log));

	if (rc != CUDA_SUCCESS && module_log[0])
		VWARN(emulator, "cannot load module: %s", module_log);
	return rc;
}

CUresult cuModuleLoadData(CUmodule *module, const void *image)
{
	return module_load_logged(module, image);
}

CUresult cuModuleLoadFatBinary(CUmodule *module, const void *fat_cubin)
{
	return module_load_logged(module, fat_cubin);
}

/* The JIT options that matter here are the logs. */
CUresult cuModuleLoadDataEx(CUmodule *module, const void *image, unsigned int n,
			    CUjit_option *options, void **values)
{
	char *errbuf = NULL;
	size_t errlen = 0;
	CUresult rc;

	for (unsigned int i = 0; options && values && i < n; i++) {
		if (options[i] == CU_JIT_ERROR_LOG_BUFFER)
			errbuf = values[i];
		else if (options[i] == CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES)
			errlen = (size_t)(uintptr_t)values[i];
	}
	rc = module_load(module, image, module_log, sizeof(module_log));
	if (errbuf && errlen)
		snprintf(errbuf, errlen, "%s", rc == CUDA_SUCCESS ? "" : module_log);
	else if (rc != CUDA_SUCCESS && module_log[0])
		VWARN(emulator, "cannot load module: %s", module_log);
	return rc;
}

CUresult cuModuleLoad(CUmodule *module, const char *path)
{
	FILE *f = path ? fopen(path, "rb") : NULL;
	char *buf = NULL;
	long size;
	CUresult rc;

	if (!f)
		return CUDA_ERROR_FILE_NOT_FOUND;
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    !(buf = calloc(1, (size_t)size + 1)) ||
	    fread(buf, 1, (size_t)size, f) != (size_t)size) {
		fclose(f);
		free(buf);
		return CUDA_ERROR_FILE_NOT_FOUND;
	}
	fclose(f);
	rc = module_load_logged(module, buf);
	free(buf);
	return rc;
}

CUresult cuModuleUnload(CUmodule mod)
{
	CUresult rc = emu_check_init();
	struct CUmod_st **pp;

	if (rc)
		return rc;
	pthread_mutex_lock(&emu.lock);
	for (pp = &modules; *pp && *pp != mod; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = mod->next;
	pthread_mutex_unlock(&emu.lock);
	if (!mod || mod->magic != EMU_MODULE_MAGIC)
		return CUDA_ERROR_INVALID_HANDLE;
	module_free(mod);
	return CUDA_SUCCESS;
}

void emu_modules_release_ctx(struct CUctx_st *ctx)
{
	for (;;) {
		struct CUmod_st *victim = NULL;
		pthread_mutex_lock(&emu.lock);
		for (struct CUmod_st *m = modules; m; m = m->next)
			if (m->ctx == ctx)
				victim = m;
		pthread_mutex_unlock(&emu.lock);
		if (!victim)
			return;
		cuModuleUnload(victim);
	}
}

CUresult cuModuleGetFunction(CUfunction *out, CUmodule mod, const char *name)
{
	CUresult rc = emu_check_init();
	int fi;

	if (rc)
		return rc;
	if (!module_valid(mod))
		return CUDA_ERROR_INVALID_HANDLE;
	if (!out || !name)
		return CUDA_ERROR_INVALID_VALUE;
	fi = ptx_find_func(mod->ptx, name);
	if (fi < 0 || !mod->ptx->funcs[fi].is_entry || !mod->ptx->funcs[fi].defined)
		return CUDA_ERROR_NOT_FOUND;
	*out = &mod->funcs[fi];
	return CUDA_SUCCESS;
}

CUresult cuModuleGetGlobal(CUdeviceptr *dptr, size_t *bytes, CUmodule mod, const char *name)
{
	CUresult rc = emu_check_init();
	int s;

	if (rc)
		return rc;
	if (!module_valid(mod))
		return CUDA_ERROR_INVALID_HANDLE;
	if (!name)
		return CUDA_ERROR_INVALID_VALUE;
	s = ptx_find_sym(mod->ptx, name);
	if (s < 0 || (mod->ptx->syms[s].kind != SYM_GLOBAL && mod->ptx->syms[s].kind != SYM_CONST))
		return CUDA_ERROR_NOT_FOUND;
	if (dptr)
		*dptr = mod->sym_addr[s];
	if (bytes)
		*bytes = mod->ptx->syms[s].size;
	return CUDA_SUCCESS;
}

/* ---- libraries and kernels (CUDA 12's context-independent loading) ---------------------- */

CUresult cuLibraryLoadData(CUlibrary *lib, const void *code, CUjit_option *jit_options,
			   void **jit_values, unsigned int njit, CUlibraryOption *lib_options,
			   void **lib_values, unsigned int nlib)
{
	CUcontext ctx;
	CUresult rc;

	if (!lib)
		return CUDA_ERROR_INVALID_VALUE;
	/* Libraries load into the primary context, as CUDA loads them lazily there. */
	if (!emu_ctx_current()) {
		if ((rc = cuDevicePrimaryCtxRetain(&ctx, 0)) != CUDA_SUCCESS)
			return rc;
		cuCtxSetCurrent(ctx);
	}
	return cuModuleLoadDataEx((CUmodule *)lib, code, njit, jit_options, jit_values);
}

CUresult cuLibraryUnload(CUlibrary lib)
{
	return cuModuleUnload((CUmodule)lib);
}

CUresult cuLibraryGetKernel(CUkernel *kernel, CUlibrary lib, const char *name)
{
	return cuModuleGetFunction((CUfunction *)kernel, (CUmodule)lib, name);
}

CUresult cuLibraryGetModule(CUmodule *mod, CUlibrary lib)
{
	if (!mod || !module_valid((struct CUmod_st *)lib))
		return CUDA_ERROR_INVALID_HANDLE;
	*mod = (CUmodule)lib;
	return CUDA_SUCCESS;
}

CUresult cuLibraryGetGlobal(CUdeviceptr *dptr, size_t *bytes, CUlibrary lib, const char *name)
{
	return cuModuleGetGlobal(dptr, bytes, (CUmodule)lib, name);
}

CUresult cuKernelGetFunction(CUfunction *func, CUkernel kernel)
{
	if (!func || !func_valid((struct CUfunc_st *)kernel))
		return CUDA_ERROR_INVALID_HANDLE;
	*func = (CUfunction)kernel;
	return CUDA_SUCCESS;
}

/* ---- function attributes --------------------------------------------------------------- */

static int func_max_threads(const struct CUfunc_st *f)
{
	const struct ptx_func *pf = &f->mod->ptx->funcs[f->fi];
	uint32_t n = 1024;

	if (pf->maxntid[0])
		n = pf->maxntid[0] * (pf->maxntid[1] ? pf->maxntid[1] : 1) *
		    (pf->maxntid[2] ? pf->maxntid[2] : 1);
	if (pf->reqntid[0])
		n = pf->reqntid[0] * (pf->reqntid[1] ? pf->reqntid[1] : 1) *
		    (pf->reqntid[2] ? pf->reqntid[2] : 1);
	return (int)(n < 1024 ? n : 1024);
}

CUresult cuFuncGetAttribute(int *value, CUfunction_attribute attr, CUfunction f)
{
	const struct ptx_func *pf;

	if (!func_valid(f))
		return CUDA_ERROR_INVALID_HANDLE;
	if (!value)
		return CUDA_ERROR_INVALID_VALUE;
	pf = &f->mod->ptx->funcs[f->fi];
	switch (attr) {
	case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK:
		*value = func_max_threads(f);
		break;
	case CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES:
		*value = (int)f->mod->ptx->funcs[f->fi].shared_size;
		break;
	case CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES:
		*value = (int)f->mod->ptx->const_size;
		break;
	case CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES:
		*value = (int)pf->local_size;
		break;
	case CU_FUNC_ATTRIBUTE_NUM_REGS:
		*value = pf->nregs < 255 ? pf->nregs : 255;
		break;
	case CU_FUNC_ATTRIBUTE_PTX_VERSION:
		/* The virtual architecture the PTX targets (75 for sm_75), not
		 * the PTX ISA version: CUB picks its tuning, and whether it has
		 * kernels at all, by this. */
		*value = (int)f->mod->ptx->target_sm;
		break;
	case CU_FUNC_ATTRIBUTE_BINARY_VERSION:
		*value = 80;
		break;
	case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES:
		*value = (int)f->max_dyn_smem;
		break;
	case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
		*value = -1;
		break;
	case CU_FUNC_ATTRIBUTE_CLUSTER_SIZE_MUST_BE_SET:
		*value = pf->explicit_cluster && !pf->reqncluster[0];
		break;
	case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH:
	case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT:
	case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH:
		*value =
		    pf->reqncluster[0]
			? (int)(pf->reqncluster[attr - CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH]
				    ?: 1)
			: 0;
		break;
	case CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED:
		*value = f->nonportable_cluster;
		break;
	default:
		*value = 0;
		break;
	}
	return CUDA_SUCCESS;
}

CUresult cuFuncSetAttribute(CUfunction f, CUfunction_attribute attr, int value)
{
	if (!func_valid(f))
		return CUDA_ERROR_INVALID_HANDLE;
	if (attr == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES) {
		if (value < 0 ||
		    (uint64_t)value + f->mod->ptx->funcs[f->fi].shared_size > EMU_SMEM_OPTIN)
			return CUDA_ERROR_INVALID_VALUE;
		f->max_dyn_smem = (uint32_t)value;
		return CUDA_SUCCESS;
	}
	if (attr == CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT)
		return (value < -1 || value > 100) ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
	if (attr == CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED) {
		f->nonportable_cluster = value != 0;
		return CUDA_SUCCESS;
	}
	return attr < CU_FUNC_ATTRIBUTE_MAX ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuFuncSetCacheConfig(CUfunction f, CUfunc_cache config)
{
	return func_valid(f) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

CUresult cuFuncGetParamInfo(CUfunction f, size_t index, size_t *offset, size_t *size)
{
	const struct ptx_func *pf;

	if (!func_valid(f))
		return CUDA_ERROR_INVALID_HANDLE;
	pf = &f->mod->ptx->funcs[f->fi];
	if (index >= (size_t)pf->nparams)
		return CUDA_ERROR_INVALID_VALUE;
	if (offset)
		*offset = pf->params[index].offset;
	if (size)
		*size = pf->params[index].size;
	return CUDA_SUCCESS;
}

CUresult cuFuncGetName(const char **name, CUfunction f)
{
	if (!func_valid(f))
		return CUDA_ERROR_INVALID_HANDLE;
	if (!name)
		return CUDA_ERROR_INVALID_VALUE;
	*name = f->mod->ptx->funcs[f->fi].name;
	return CUDA_SUCCESS;
}

/* ---- occupancy ---------------------------------------------------------------------------- */

static int occupancy(const struct CUfunc_st *f, int block, size_t dyn)
{
	int dev_attr_threads = 2048, max_blocks = 32, warps = (block + 31) / 32;
	uint64_t smem = f->mod->ptx->funcs[f->fi].shared_size + dyn;
	int by_threads, by_smem;

	if (block <= 0 || block > func_max_threads(f))
		return 0;
	by_threads = dev_attr_threads / (warps * 32);
	by_smem = smem ? (int)((164u * 1024) / smem) : max_blocks;
	return by_threads < by_smem ? (by_threads < max_blocks ? by_threads : max_blocks)
				    : (by_smem < max_blocks ? by_smem : max_blocks);
}

CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(int *n, CUfunction f, int block, size_t dyn)
{
	if (!func_valid(f))
		return CUDA_ERROR_INVALID_HANDLE;
	if (!n)
		return CUDA_ERROR_INVALID_VALUE;
	*n = occupancy(f, block, dyn);
	return CUDA_SUCCESS;
}

CUresult cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int *n, CUfunction f, int block,
							      size_t dyn, unsigned int flags)
{
	return cuOccupancyMaxActiveBlocksPerMultiprocessor(n, f, block, dyn);
}

CUresult cuOccupancyMaxPotentialBlockSize(int *min_grid, int *block_size, CUfunction f,
					  CUoccupancyB2DSize b2smem, size_t dyn, int limit)
{
	int best = 0, best_block = 32;

	if (!func_valid(f))
		return CUDA_ERROR_INVALID_HANDLE;
	if (!min_grid || !block_size)
		return CUDA_ERROR_INVALID_VALUE;
	if (limit <= 0 || limit > func_max_threads(f))
		limit = func_max_threads(f);
	for (int b = 32; b <= limit; b += 32) {
		int blocks = occupancy(f, b, b2smem ? b2smem(b) : dyn);
		if (blocks * b >= best) {
			best = blocks * b;
			best_block = b;
		}
	}
	*block_size = best_block;
	*min_grid = (best / best_block) * emu.dev.ncores;
	return CUDA_SUCCESS;
}

CUresult cuOccupancyMaxPotentialBlockSizeWithFlags(int *min_grid, int *block_size, CUfunction f,
						   CUoccupancyB2DSize b2smem, size_t dyn, int limit,
						   unsigned int flags)
{
	return cuOccupancyMaxPotentialBlockSize(min_grid, block_size, f, b2smem, dyn, limit);
}

CUresult cuOccupancyAvailableDynamicSMemPerBlock(size_t *dyn, CUfunction f, int blocks, int block)
{
	if (!func_valid(f))
		return CUDA_ERROR_INVALID_HANDLE;
	size_t per_block, used;

	if (!dyn || blocks <= 0)
		return CUDA_ERROR_INVALID_VALUE;
	/* As on an sm_80 GPU: 164 KiB a multiprocessor, 1 KiB of it reserved
	 * for each block, and no block above the 163 KiB opt-in limit. */
	per_block = (164u * 1024) / (unsigned)blocks;
	used = 1024 + f->mod->ptx->funcs[f->fi].shared_size;
	*dyn = per_block > used ? per_block - used : 0;
	if (*dyn > 163u * 1024 - f->mod->ptx->funcs[f->fi].shared_size)
		*dyn = 163u * 1024 - f->mod->ptx->funcs[f->fi].shared_size;
	return CUDA_SUCCESS;
}

/* ---- launches ------------------------------------------------------------------------------- */

/* The kernel's parameters packed at their offsets, from either form CUDA
 * accepts: an array of pointers, or one buffer given through extra. */
static CUresult launch_params(const struct ptx_func *k, void **args, void **extra, uint8_t *buf)
{
	if (extra) {
		void *p = NULL;
		size_t size = 0;
		for (int i = 0; extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
			if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER)
				p = extra[i + 1];
			else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE)
				size = *(size_t *)extra[i + 1];
			else
				return CUDA_ERROR_INVALID_VALUE;
		}
		if (!p || size < k->param_size)
			return CUDA_ERROR_INVALID_VALUE;
		memcpy(buf, p, k->param_size);
		return CUDA_SUCCESS;
	}
	if (k->nparams && !args)
		return CUDA_ERROR_INVALID_VALUE;
	for (int i = 0; i < k->nparams; i++) {
		if (!args[i])
			return CUDA_ERROR_INVALID_VALUE;
		memcpy(buf + k->params[i].offset, args[i], k->params[i].size);
	}
	return CUDA_SUCCESS;
}

/* Whether a module's kernels use the device heap: malloc, free, or the
 * parameter buffers of device-side launches. */
static int module_allocates(const struct ptx_module *m)
{
	for (int i = 0; i < m->ncalls; i++)
		if (m->calls[i].builtin == BI_MALLOC || m->calls[i].builtin == BI_FREE ||
		    m->calls[i].builtin == BI_CDP_PARAM_BUFFER)
			return 1;
	return 0;
}

static int module_launches(const struct ptx_module *m)
{
	for (int i = 0; i < m->ncalls; i++)
		if (m->calls[i].builtin == BI_CDP_PARAM_BUFFER)
			return 1;
	return 0;
}

/* Bounds a launch's shape as cuLaunchKernel does; 0 or CUDA_ERROR_INVALID_VALUE. */
static CUresult launch_shape_check(const struct CUfunc_st *f, const uint32_t grid[3],
				   const uint32_t block[3], unsigned smem);
static CUresult launch_cluster(const struct CUfunc_st *f, const uint32_t grid[3],
			       const uint32_t *cluster, struct exec_launch *L);

/*
 * Runs the grids a finished grid launched from the device, each after
 * its parent (the grids of one parent in the order they were launched,
 * each with its own children straight after it, tail launches last).
 * A child that cannot run (a bad shape) is skipped, as a GPU reports it to
 * the launching thread only; a child's fault ends them all.
 */
static CUresult run_children(struct exec_launch *parent, struct CUmod_st *mod)
{
	struct emu_cdp *cdp = parent->cdp;
	CUresult rc = CUDA_SUCCESS;

	for (int tail = 0; tail < 2 && rc == CUDA_SUCCESS; tail++)
		for (size_t i = 0; i < cdp->n && rc == CUDA_SUCCESS; i++) {
			struct emu_cdp_grid *g = &cdp->grids[i];
			const struct ptx_func *k = &mod->ptx->funcs[g->func];
			struct emu_cdp kids = {.lock = PTHREAD_MUTEX_INITIALIZER, .max = cdp->max};
			struct exec_launch L = *parent;
			uint8_t *params;
			if (!g->launched || (g->stream == 3) != tail)
				continue;
			memset(L.cluster, 0, sizeof(L.cluster));
			L.explicit_cluster = 0;
			if (launch_shape_check(&mod->funcs[g->func], g->grid, g->block, g->smem) !=
				CUDA_SUCCESS ||
			    launch_cluster(&mod->funcs[g->func], g->grid, NULL, &L) != CUDA_SUCCESS)
				continue;
			if (!(params = malloc(k->param_size ? k->param_size : 1)))
				return CUDA_ERROR_OUT_OF_MEMORY;
			memcpy(params,
			       emu_dev_to_host(g->params, k->param_size ? k->param_size : 1),
			       k->param_size);
			memset(L.message, 0, sizeof(L.message));
			L.kernel = k;
			memcpy(L.grid, g->grid, sizeof(L.grid));
			memcpy(L.block, g->block, sizeof(L.block));
			L.dyn_smem = g->smem;
			L.static_smem = (uint32_t)((k->shared_size + 15) & ~15ull);
			L.params = params;
			L.cdp = &kids;
			L.depth = parent->depth + 1;
			L.grid_workspace = 0;
			L.cooperative = 0;
			rc = emu_exec_launch(&L);
			free(params);
			if (rc == CUDA_SUCCESS && kids.n)
				rc = run_children(&L, mod);
			for (size_t j = 0; j < kids.n; j++)
				emu_heap_free(L.heap, kids.grids[j].params);
			free(kids.grids);
			pthread_mutex_destroy(&kids.lock);
			if (rc != CUDA_SUCCESS)
				memcpy(parent->message, L.message, sizeof(parent->message));
		}
	return rc;
}

static CUresult launch_shape_check(const struct CUfunc_st *f, const uint32_t grid[3],
				   const uint32_t block[3], unsigned smem)
{
	uint64_t threads = (uint64_t)block[0] * block[1] * block[2];

	if (!grid[0] || !grid[1] || !grid[2] || grid[0] > 2147483647u || grid[1] > 65535 ||
	    grid[2] > 65535)
		return CUDA_ERROR_INVALID_VALUE;
	if (!block[0] || !block[1] || !block[2] || block[0] > 1024 || block[1] > 1024 ||
	    block[2] > 64 || threads > 1024)
		return CUDA_ERROR_INVALID_VALUE;
	/* More threads than the kernel allows (.maxntid, __launch_bounds__). */
	if (threads > (uint64_t)func_max_threads(f))
		return CUDA_ERROR_INVALID_VALUE;
	if (smem > f->max_dyn_smem)
		return CUDA_ERROR_INVALID_VALUE;
	return CUDA_SUCCESS;
}

/*
 * The cluster shape of a launch, as a GPU of compute capability 9.0 takes
 * it: the launch's (cluster, 0s for none) or the kernel's own
 * (__cluster_dims__), not both unless equal; whole clusters in each
 * dimension of the grid; at most 8 blocks, 16 where the kernel allows
 * non-portable sizes.
 */
static CUresult launch_cluster(const struct CUfunc_st *f, const uint32_t grid[3],
			       const uint32_t *cluster, struct exec_launch *L)
{
	const struct ptx_func *pf = &f->mod->ptx->funcs[f->fi];
	uint32_t n;

	if (cluster && cluster[0])
		memcpy(L->cluster, cluster, sizeof(L->cluster));
	if (pf->reqncluster[0]) {
		const uint32_t want[3] = {pf->reqncluster[0], pf->reqncluster[1] ?: 1,
					  pf->reqncluster[2] ?: 1};
		if (L->cluster[0] && memcmp(L->cluster, want, sizeof(want)) != 0)
			return CUDA_ERROR_INVALID_CLUSTER_SIZE;
		memcpy(L->cluster, want, sizeof(want));
	}
	if (!L->cluster[0])
		return pf->explicit_cluster ? CUDA_ERROR_INVALID_CLUSTER_SIZE : CUDA_SUCCESS;
	if (emu.dev.cc < 90)
		return CUDA_ERROR_NOT_SUPPORTED;
	if (!L->cluster[1] || !L->cluster[2] || L->cluster[0] > PTX_MAX_CLUSTER ||
	    L->cluster[1] > PTX_MAX_CLUSTER || L->cluster[2] > PTX_MAX_CLUSTER)
		return CUDA_ERROR_INVALID_CLUSTER_SIZE;
	n = L->cluster[0] * L->cluster[1] * L->cluster[2];
	if (n > (f->nonportable_cluster ? PTX_MAX_CLUSTER : 8) || grid[0] % L->cluster[0] ||
	    grid[1] % L->cluster[1] || grid[2] % L->cluster[2])
		return CUDA_ERROR_INVALID_CLUSTER_SIZE;
	L->explicit_cluster = 1;
	return CUDA_SUCCESS;
}

static CUresult launch(CUfunction f, const uint32_t grid[3], const uint32_t block[3], unsigned smem,
		       CUstream stream, void **args, void **extra, int cooperative,
		       const uint32_t *cluster)
{
	struct CUctx_st *ctx;
	CUresult rc = emu_ctx_require(&ctx);
	const struct ptx_func *k;
	struct exec_launch L = {0};
	uint8_t *params;
	uint64_t threads = (uint64_t)block[0] * block[1] * block[2];

	if (rc)
		return rc;
	if (!func_valid(f))
		return CUDA_ERROR_INVALID_HANDLE;
	if (!emu_stream_valid(stream))
		return CUDA_ERROR_INVALID_HANDLE;
	k = &f->mod->ptx->funcs[f->fi];
	if ((rc = launch_shape_check(f, grid, block, smem)) != CUDA_SUCCESS)
		return rc;
	if ((rc = launch_cluster(f, grid, cluster, &L)) != CUDA_SUCCESS)
		return rc;
	if (!(params = calloc(1, k->param_size ? k->param_size : 1)))
		return CUDA_ERROR_OUT_OF_MEMORY;
	if ((rc = launch_params(k, args, extra, params)) != CUDA_SUCCESS) {
		free(params);
		return rc;
	}
	L.mod = f->mod->ptx;
	L.kernel = k;
	memcpy(L.grid, grid, sizeof(L.grid));
	memcpy(L.block, block, sizeof(L.block));
	L.dyn_smem = smem;
	L.static_smem = (uint32_t)((f->mod->ptx->funcs[f->fi].shared_size + 15) & ~15ull);
	L.params = params;
	L.sym_addr = f->mod->sym_addr;
	L.const_base = f->mod->consts;
	if (module_allocates(f->mod->ptx)) {
		if (!ctx->heap) {
			size_t size = ctx->limits[CU_LIMIT_MALLOC_HEAP_SIZE]
					  ? ctx->limits[CU_LIMIT_MALLOC_HEAP_SIZE]
					  : EMU_DEFAULT_HEAP;
			if (!(ctx->heap = emu_heap_create(size))) {
				free(params);
				return CUDA_ERROR_OUT_OF_MEMORY;
			}
		}
		L.heap = ctx->heap;
	}
	if (cooperative) {
		/* As a GPU: no more blocks than can be resident at once. */
		uint64_t blocks = (uint64_t)grid[0] * grid[1] * grid[2];
		if (blocks >
		    (uint64_t)occupancy(f, (int)threads, smem) * (uint64_t)emu.dev.ncores) {
			free(params);
			return CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE;
		}
		CUdeviceptr ws;
		if ((rc = cuMemAlloc(&ws, 64)) != CUDA_SUCCESS) {
			free(params);
			return rc;
		}
		memset(emu_dev_to_host(ws, 64), 0, 64);
		L.grid_workspace = ws;
		L.cooperative = 1;
	}
	if (module_launches(f->mod->ptx)) {
		size_t pending = ctx->limits[CU_LIMIT_DEV_RUNTIME_PENDING_LAUNCH_COUNT];
		if (!(L.cdp = calloc(1, sizeof(*L.cdp)))) {
			free(params);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
		pthread_mutex_init(&L.cdp->lock, NULL);
		L.cdp->max = pending ? pending : 2048;
	}
	rc = emu_exec_launch(&L);
	if (L.grid_workspace)
		cuMemFree(L.grid_workspace);
	free(params);
	if (L.cdp) { /* the grids it launched, after it */
		if (rc == CUDA_SUCCESS && L.cdp->n)
			rc = run_children(&L, f->mod);
		for (size_t j = 0; j < L.cdp->n; j++)
			emu_heap_free(L.heap, L.cdp->grids[j].params);
		free(L.cdp->grids);
		pthread_mutex_destroy(&L.cdp->lock);
		free(L.cdp);
	}
	if (rc == CUDA_ERROR_ILLEGAL_ADDRESS || rc == CUDA_ERROR_LAUNCH_FAILED ||
	    rc == CUDA_ERROR_ASSERT || rc == CUDA_ERROR_NOT_SUPPORTED ||
	    rc == CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES || rc == CUDA_ERROR_OUT_OF_MEMORY) {
		/* Like a GPU fault: the launch was accepted, the context is now
		 * unusable, and every later call says why. */
		VWARN(emulator, "kernel fault: %s", L.message);
		ctx->sticky = rc == CUDA_ERROR_NOT_SUPPORTED || rc == CUDA_ERROR_OUT_OF_MEMORY
				  ? CUDA_ERROR_LAUNCH_FAILED
				  : rc;
		return CUDA_SUCCESS;
	}
	return rc;
}

CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
			unsigned by, unsigned bz, unsigned smem, CUstream stream, void **args,
			void **extra)
{
	const uint32_t grid[3] = {gx, gy, gz}, block[3] = {bx, by, bz};

	return launch(f, grid, block, smem, stream, args, extra, 0, NULL);
}

CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
				   unsigned by, unsigned bz, unsigned smem, CUstream stream,
				   void **args)
{
	const uint32_t grid[3] = {gx, gy, gz}, block[3] = {bx, by, bz};

	return launch(f, grid, block, smem, stream, args, NULL, 1, NULL);
}

CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **args, void **extra)
{
	uint32_t grid[3], block[3], cluster[3] = {0, 0, 0};
	int cooperative = 0;

	if (!config || (config->numAttrs && !config->attrs))
		return CUDA_ERROR_INVALID_VALUE;
	for (unsigned i = 0; i < config->numAttrs; i++) {
		CUlaunchAttributeID id = config->attrs[i].id;
		if (id == CU_LAUNCH_ATTRIBUTE_COOPERATIVE)
			cooperative = config->attrs[i].value.cooperative != 0;
		if (id == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION) {
			cluster[0] = config->attrs[i].value.clusterDim.x;
			cluster[1] = config->attrs[i].value.clusterDim.y;
			cluster[2] = config->attrs[i].value.clusterDim.z;
			if (!cluster[0])
				return CUDA_ERROR_INVALID_CLUSTER_SIZE;
		}
	}
	grid[0] = config->gridDimX;
	grid[1] = config->gridDimY;
	grid[2] = config->gridDimZ;
	block[0] = config->blockDimX;
	block[1] = config->blockDimY;
	block[2] = config->blockDimZ;
	return launch(f, grid, block, config->sharedMemBytes, config->hStream, args, extra,
		      cooperative, cluster);
}
