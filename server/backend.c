#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "error.h"
#include "log.h"

#define BACKEND_STR2(x) #x
#define BACKEND_STR(x)	BACKEND_STR2(x)

static int backend_resolve(struct vcuda_backend *be, char *why, size_t why_len)
{
#define VCUDA_BACKEND_RESOLVE(fn)                                                                  \
	be->fn = (__typeof__(fn) *)dlsym(be->dl, BACKEND_STR(fn));                                 \
	if (!be->fn) {                                                                             \
		snprintf(why, why_len, "%s lacks %s", be->path, BACKEND_STR(fn));                  \
		return VCUDA_E_BACKEND;                                                            \
	}
	VCUDA_BACKEND_FUNCTIONS(VCUDA_BACKEND_RESOLVE)
#undef VCUDA_BACKEND_RESOLVE
	/* A scalar call whose function the library lacks answers
	 * CUDA_ERROR_NOT_SUPPORTED (server/scalar.c); the rest still work. */
#define VCUDA_SCALAR(op, name, runtime_fn, driver_fn, ...)                                         \
	be->sc.name = (__typeof__(driver_fn) *)dlsym(be->dl, BACKEND_STR(driver_fn));
#include "calls.def"
	be->mem_host_register =
	    (CUresult(*)(void *, size_t, unsigned int))dlsym(be->dl, "cuMemHostRegister_v2");
	be->mem_host_device_pointer = (CUresult(*)(CUdeviceptr *, void *, unsigned int))dlsym(
	    be->dl, "cuMemHostGetDevicePointer_v2");
	be->ipc_export = (int (*)(CUdeviceptr, int *, uint64_t *, uint64_t *))dlsym(
	    be->dl, "vcuda_cpu_ipc_export");
	be->ipc_import =
	    (int (*)(int, uint64_t, uint64_t, CUdeviceptr *))dlsym(be->dl, "vcuda_cpu_ipc_import");
	be->ipc_close = (int (*)(CUdeviceptr))dlsym(be->dl, "vcuda_cpu_ipc_close");
	be->place_next = (int (*)(const uint64_t *, int))dlsym(be->dl, "vcuda_cpu_place_next");
	be->module_memory = (int (*)(CUmodule, uint64_t *))dlsym(be->dl, "vcuda_cpu_module_memory");
	be->context_movable = (int (*)(char *, size_t))dlsym(be->dl, "vcuda_cpu_context_movable");
	be->store = (int (*)(uint64_t *, const uint8_t **, uint64_t *, uint64_t *))dlsym(
	    be->dl, "vcuda_cpu_store");
	be->track_start = (int (*)(void))dlsym(be->dl, "vcuda_cpu_track_start");
	be->track_take = (int (*)(uint64_t *, size_t))dlsym(be->dl, "vcuda_cpu_track_take");
	be->track_stop = (void (*)(uint64_t *, size_t))dlsym(be->dl, "vcuda_cpu_track_stop");
	be->store_adopted = (int (*)(void))dlsym(be->dl, "vcuda_cpu_store_adopted");
	return 0;
}

static int backend_load(struct vcuda_backend *be, const char *path, const char *kind, char *why,
			size_t why_len)
{
	int rc, count = 0;
	CUresult r;

	memset(be, 0, sizeof(*be));
	snprintf(be->path, sizeof(be->path), "%s", path);
	be->kind = kind;
	be->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!be->dl) {
		snprintf(why, why_len, "cannot load %s: %s", path, dlerror());
		return VCUDA_E_BACKEND;
	}
	/* libcuda.so.1 found on the library path may be the CPU device itself. */
	if (strcmp(kind, "cuda") == 0 && dlsym(be->dl, "vcuda_cpu_device_marker")) {
		snprintf(why, why_len,
			 "libcuda.so.1 on the library path is vcuda's CPU device, "
			 "not NVIDIA's driver");
		goto out_close;
	}
	if ((rc = backend_resolve(be, why, why_len)) != 0)
		goto out_close;
	if ((r = be->cuInit(0)) != CUDA_SUCCESS ||
	    (r = be->cuDeviceGetCount(&count)) != CUDA_SUCCESS || count == 0) {
		snprintf(why, why_len, "%s: no usable device (%s)", path,
			 r ? vcuda_backend_errname(be, r) : "device count is 0");
		goto out_close;
	}
	return 0;
out_close:
	dlclose(be->dl);
	be->dl = NULL;
	return VCUDA_E_BACKEND;
}

int vcuda_backend_open(enum vcuda_backend_choice choice, const char *cpu_path,
		       struct vcuda_backend *be, char *why, size_t why_len)
{
	char gpu_why[512] = "";
	int rc;

	if (choice != VCUDA_BACKEND_CPU) {
		rc = backend_load(be, "libcuda.so.1", "cuda", gpu_why, sizeof(gpu_why));
		if (rc == 0 || choice == VCUDA_BACKEND_CUDA) {
			snprintf(why, why_len, "%s", gpu_why);
			return rc;
		}
		VINFO(server, "no GPU backend (%s); using the CPU device", gpu_why);
	}
	return backend_load(be, cpu_path, "cpu", why, why_len);
}

void vcuda_backend_close(struct vcuda_backend *be)
{
	if (be->dl)
		dlclose(be->dl);
	be->dl = NULL;
}

const char *vcuda_backend_errname(const struct vcuda_backend *be, CUresult r)
{
	const char *name = NULL;

	if (be->cuGetErrorName && be->cuGetErrorName(r, &name) == CUDA_SUCCESS && name)
		return name;
	return "CUDA_ERROR_UNKNOWN_CODE";
}
