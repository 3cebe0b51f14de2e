/*
 * Backends: libcuda-compatible libraries loaded with dlopen. The real one is
 * NVIDIA's libcuda.so.1; the CPU device (emulator/) exports the same
 * functions. The server calls the driver API only through this table, so
 * the code that serves a GPU is the code CI tests on the CPU device.
 */
#ifndef VCUDA_BACKEND_H
#define VCUDA_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include <cuda.h>

/* Every driver function the server calls. */
#define VCUDA_BACKEND_FUNCTIONS(X)                                                                 \
	X(cuInit)                                                                                  \
	X(cuDriverGetVersion)                                                                      \
	X(cuGetErrorName)                                                                          \
	X(cuDeviceGetCount)                                                                        \
	X(cuDeviceGet)                                                                             \
	X(cuDeviceGetName)                                                                         \
	X(cuDeviceGetUuid)                                                                         \
	X(cuDeviceTotalMem)                                                                        \
	X(cuDeviceGetAttribute)                                                                    \
	X(cuDevicePrimaryCtxRetain)                                                                \
	X(cuDevicePrimaryCtxRelease)                                                               \
	X(cuDevicePrimaryCtxReset)                                                                 \
	X(cuCtxSetCurrent)                                                                         \
	X(cuCtxSynchronize)                                                                        \
	X(cuMemGetInfo)                                                                            \
	X(cuMemAlloc)                                                                              \
	X(cuMemFree)                                                                               \
	X(cuMemcpyHtoD)                                                                            \
	X(cuMemcpyHtoDAsync)                                                                       \
	X(cuMemcpyDtoH)                                                                            \
	X(cuMemcpyDtoHAsync)                                                                       \
	X(cuMemcpyDtoD)                                                                            \
	X(cuMemcpyDtoDAsync)                                                                       \
	X(cuMemcpy2D)                                                                              \
	X(cuMemcpy2DAsync)                                                                         \
	X(cuMemcpy3D)                                                                              \
	X(cuMemcpy3DAsync)                                                                         \
	X(cuArray3DCreate)                                                                         \
	X(cuArrayDestroy)                                                                          \
	X(cuTexObjectCreate)                                                                       \
	X(cuTexObjectDestroy)                                                                      \
	X(cuSurfObjectCreate)                                                                      \
	X(cuSurfObjectDestroy)                                                                     \
	X(cuMemsetD2D8)                                                                            \
	X(cuMemsetD2D8Async)                                                                       \
	X(cuMemsetD8)                                                                              \
	X(cuMemsetD16)                                                                             \
	X(cuMemsetD32)                                                                             \
	X(cuMemsetD8Async)                                                                         \
	X(cuMemsetD16Async)                                                                        \
	X(cuMemsetD32Async)                                                                        \
	X(cuStreamCreateWithPriority)                                                              \
	X(cuStreamDestroy)                                                                         \
	X(cuStreamSynchronize)                                                                     \
	X(cuStreamQuery)                                                                           \
	X(cuStreamWaitEvent)                                                                       \
	X(cuEventCreate)                                                                           \
	X(cuEventDestroy)                                                                          \
	X(cuEventRecordWithFlags)                                                                  \
	X(cuEventSynchronize)                                                                      \
	X(cuEventQuery)                                                                            \
	X(cuEventElapsedTime)                                                                      \
	X(cuModuleLoadData)                                                                        \
	X(cuModuleUnload)                                                                          \
	X(cuModuleGetFunction)                                                                     \
	X(cuModuleGetGlobal)                                                                       \
	X(cuFuncGetAttribute)                                                                      \
	X(cuFuncSetAttribute)                                                                      \
	X(cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags)                                    \
	X(cuLaunchKernel)                                                                          \
	X(cuLaunchCooperativeKernel)                                                               \
	X(cuLaunchKernelEx)                                                                        \
	X(cuFuncGetParamInfo)

/* The driver functions of calls.def's scalar calls, one member per row,
 * named after the row; NULL where the library lacks the function. */
struct vcuda_backend_scalar {
#define VCUDA_SCALAR(op, name, runtime_fn, driver_fn, ...) __typeof__(driver_fn) *name;
#include "calls.def"
};

struct vcuda_backend {
	void *dl;
	const char *kind; /* "cuda" or "cpu" */
	char path[512];
#define VCUDA_BACKEND_MEMBER(fn) __typeof__(fn) *fn;
	VCUDA_BACKEND_FUNCTIONS(VCUDA_BACKEND_MEMBER)
#undef VCUDA_BACKEND_MEMBER
	struct vcuda_backend_scalar sc;
	/* Optional (NULL where the library lacks it): page-locks host memory
	 * for the device's DMA, as cuMemHostRegister. */
	CUresult (*mem_host_register)(void *p, size_t n, unsigned int flags);
	/* Optional: the device address of registered host memory. */
	CUresult (*mem_host_device_pointer)(CUdeviceptr *d, void *p, unsigned int flags);
	/* CUDA IPC on the CPU device (emulator/memory.c); NULL elsewhere. */
	int (*ipc_export)(CUdeviceptr d, int *fd, uint64_t *offset, uint64_t *size);
	int (*ipc_import)(int fd, uint64_t offset, uint64_t size, CUdeviceptr *d);
	int (*ipc_close)(CUdeviceptr d);
	/* Session images on the CPU device (emulator/memory.c, module.c,
	 * context.c); NULL elsewhere: the calling thread's next allocations
	 * at these addresses, where a module's memory lies, and whether the
	 * current context holds only what an image carries. */
	int (*place_next)(const uint64_t *addrs, int n);
	int (*module_memory)(CUmodule m, uint64_t out[4]);
	int (*context_movable)(char *why, size_t len);
	/* Moving a session with pre-copy (emulator/memory.c); NULL elsewhere:
	 * where device memory lies in this process, noting what is written
	 * (one bit per grain of it), and whether it came with a moved
	 * session (VCUDA_CPU_STORE). */
	int (*store)(uint64_t *base, const uint8_t **store, uint64_t *size, uint64_t *grain);
	int (*track_start)(void);
	int (*track_take)(uint64_t *bits, size_t words);
	void (*track_stop)(uint64_t *bits, size_t words);
	int (*store_adopted)(void);
};

enum vcuda_backend_choice { VCUDA_BACKEND_AUTO, VCUDA_BACKEND_CUDA, VCUDA_BACKEND_CPU };

/*
 * Loads and initializes (cuInit) a backend. For AUTO: NVIDIA's driver when
 * it loads and reports a device, else the CPU device. cpu_path: the CPU
 * device library. On failure writes why and returns VCUDA_E_BACKEND.
 */
int vcuda_backend_open(enum vcuda_backend_choice choice, const char *cpu_path,
		       struct vcuda_backend *be, char *why, size_t why_len);
void vcuda_backend_close(struct vcuda_backend *be);
/* "CUDA_ERROR_INVALID_VALUE", never NULL. */
const char *vcuda_backend_errname(const struct vcuda_backend *be, CUresult r);

#endif
