/*
 * The registration ABI that nvcc puts in every program: fat binaries, their
 * kernels and variables, recorded at start-up. Loading modules on the
 * server and launching kernels build on these records.
 */
#include "config.h"

#include <stdlib.h>

#include "log.h"
#include "shim.h"

struct shim_fatbin {
	void *module; /* first member: the handle nvcc's code holds is its address */
	const void *wrapper;
	int nfunctions, nvars;
};

void **__cudaRegisterFatBinary(void *fat_cubin);
void __cudaRegisterFatBinaryEnd(void **handle);
void __cudaUnregisterFatBinary(void **handle);
char __cudaInitModule(void **handle);
void __cudaRegisterFunction(void **handle, const char *host_fun, char *device_fun,
			    const char *device_name, int thread_limit, uint3 *tid, uint3 *bid,
			    dim3 *bdim, dim3 *gdim, int *wsize);
void __cudaRegisterVar(void **handle, char *host_var, char *device_address, const char *device_name,
		       int ext, size_t size, int constant, int global);

void **__cudaRegisterFatBinary(void *fat_cubin)
{
	struct shim_fatbin *f = calloc(1, sizeof(*f));

	if (!f) {
		VERR(shim, "out of memory registering a fat binary");
		abort();
	}
	f->wrapper = fat_cubin;
	return &f->module;
}

void __cudaRegisterFatBinaryEnd(void **handle)
{
	struct shim_fatbin *f = (struct shim_fatbin *)handle;

	VDEBUG(shim, "fat binary %p: %d kernels, %d variables", f->wrapper, f->nfunctions,
	       f->nvars);
}

void __cudaUnregisterFatBinary(void **handle)
{
	free(handle);
}

char __cudaInitModule(void **handle)
{
	return 1;
}

void __cudaRegisterFunction(void **handle, const char *host_fun, char *device_fun,
			    const char *device_name, int thread_limit, uint3 *tid, uint3 *bid,
			    dim3 *bdim, dim3 *gdim, int *wsize)
{
	((struct shim_fatbin *)handle)->nfunctions++;
	VDEBUG(shim, "kernel %s registered", device_name);
}

void __cudaRegisterVar(void **handle, char *host_var, char *device_address, const char *device_name,
		       int ext, size_t size, int constant, int global)
{
	((struct shim_fatbin *)handle)->nvars++;
	VDEBUG(shim, "variable %s (%zu bytes) registered", device_name, size);
}
