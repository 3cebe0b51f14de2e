/* The CPU device: initialization, device queries and error names. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "emu.h"
#include "log.h"
#include "errors.h"
#include "util.h"

struct emu_state emu = {.lock = PTHREAD_MUTEX_INITIALIZER};

CUresult emu_check_init(void)
{
	return emu.initialized ? CUDA_SUCCESS : CUDA_ERROR_NOT_INITIALIZED;
}

/* Device memory: VCUDA_CPU_MEMORY (bytes, K/M/G/T suffixes) or half of RAM,
 * at most 32 GiB. */
static uint64_t device_memory_size(void)
{
	const char *env = getenv("VCUDA_CPU_MEMORY");
	struct sysinfo si;
	uint64_t size;

	if (env && vcuda_parse_size(env, &size) == 0 && size >= (1u << 20))
		return size;
	if (env)
		VWARN(emulator, "ignoring bad VCUDA_CPU_MEMORY '%s'", env);
	if (sysinfo(&si) != 0)
		return 4ull << 30;
	size = (uint64_t)si.totalram * si.mem_unit / 2;
	if (size > (32ull << 30))
		size = 32ull << 30;
	return size & ~((uint64_t)(1u << 20) - 1);
}

/* Compute capability: VCUDA_CPU_CC ("8.0", "86"), 7.0 to 9.0; 8.0 if unset. */
static int device_cc(void)
{
	const char *env = getenv("VCUDA_CPU_CC");
	unsigned major, minor;
	char tail;

	if (!env)
		return 80;
	if (sscanf(env, "%u.%u%c", &major, &minor, &tail) == 2 ||
	    (sscanf(env, "%u%c", &major, &tail) == 1 && major >= 70 && major <= 90 &&
	     (minor = major % 10, major /= 10, 1))) {
		if (minor < 10 && major * 10 + minor >= 70 && major * 10 + minor <= 90)
			return (int)(major * 10 + minor);
	}
	VWARN(emulator, "ignoring VCUDA_CPU_CC '%s' (7.0 to 9.0, as 8.6 or 86); using 8.0", env);
	return 80;
}

static void device_describe(struct emu_device *d)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	d->ncores = n > 0 ? (int)n : 1;
	snprintf(d->name, sizeof(d->name), "vcuda CPU device (%d cores)", d->ncores);
	/* A fixed identity: "vcuda-cpu" and the device ordinal. */
	memset(d->uuid.bytes, 0, sizeof(d->uuid.bytes));
	memcpy(d->uuid.bytes, "vcuda-cpu", 9);
}

CUresult cuInit(unsigned int flags)
{
	CUresult rc = CUDA_SUCCESS;

	if (flags != 0)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&emu.lock);
	if (!emu.initialized) {
		/* The library's own log settings, from VCUDA_LOG, as a program
		 * that loads it directly has no vcuda code to set them. */
		vcuda_log_init("vcuda-cpu", VCUDA_LEVEL_WARN, NULL);
		device_describe(&emu.dev);
		emu.dev.cc = device_cc();
		emu.dev.total_mem = device_memory_size();
		rc = emu_memory_init(emu.dev.total_mem);
		emu.initialized = rc == CUDA_SUCCESS;
	}
	pthread_mutex_unlock(&emu.lock);
	return rc;
}

CUresult cuDriverGetVersion(int *version)
{
	if (!version)
		return CUDA_ERROR_INVALID_VALUE;
	*version = CUDA_VERSION;
	return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int *count)
{
	CUresult rc = emu_check_init();

	if (rc)
		return rc;
	if (!count)
		return CUDA_ERROR_INVALID_VALUE;
	*count = EMU_NDEVICES;
	return CUDA_SUCCESS;
}

CUresult cuDeviceGet(CUdevice *dev, int ordinal)
{
	CUresult rc = emu_check_init();

	if (rc)
		return rc;
	if (!dev)
		return CUDA_ERROR_INVALID_VALUE;
	if (ordinal < 0 || ordinal >= EMU_NDEVICES)
		return CUDA_ERROR_INVALID_DEVICE;
	*dev = ordinal;
	return CUDA_SUCCESS;
}

CUresult emu_device_check(CUdevice dev)
{
	CUresult rc = emu_check_init();

	if (rc)
		return rc;
	return (dev < 0 || dev >= EMU_NDEVICES) ? CUDA_ERROR_INVALID_DEVICE : CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char *name, int len, CUdevice dev)
{
	CUresult rc = emu_device_check(dev);

	if (rc)
		return rc;
	if (!name || len <= 0)
		return CUDA_ERROR_INVALID_VALUE;
	snprintf(name, (size_t)len, "%s", emu.dev.name);
	return CUDA_SUCCESS;
}

CUresult cuDeviceGetUuid(CUuuid *uuid, CUdevice dev)
{
	CUresult rc = emu_device_check(dev);

	if (rc)
		return rc;
	if (!uuid)
		return CUDA_ERROR_INVALID_VALUE;
	*uuid = emu.dev.uuid;
	uuid->bytes[15] = (char)dev;
	return CUDA_SUCCESS;
}

CUresult cuDeviceTotalMem(size_t *bytes, CUdevice dev)
{
	CUresult rc = emu_device_check(dev);

	if (rc)
		return rc;
	if (!bytes)
		return CUDA_ERROR_INVALID_VALUE;
	*bytes = (size_t)emu.dev.total_mem;
	return CUDA_SUCCESS;
}

/*
 * What the CPU device reports. It presents itself as a compute capability
 * 8.0 part: the PTX it runs targets sm_75 and newer, and its limits are the
 * ones kernels written for such parts assume. Multiprocessors are host
 * cores. Attributes not listed are features it does not have (0).
 */
static const int device_attributes[CU_DEVICE_ATTRIBUTE_MAX] = {
    [CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK] = 1024,
    [CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X] = 1024,
    [CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y] = 1024,
    [CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z] = 64,
    [CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X] = 2147483647,
    [CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y] = 65535,
    [CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z] = 65535,
    [CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK] = 48 * 1024,
    [CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY] = 64 * 1024,
    [CU_DEVICE_ATTRIBUTE_WARP_SIZE] = 32,
    [CU_DEVICE_ATTRIBUTE_MAX_PITCH] = 2147483647,
    [CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK] = 65536,
    [CU_DEVICE_ATTRIBUTE_CLOCK_RATE] = 1000000,
    [CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT] = 512,
    [CU_DEVICE_ATTRIBUTE_GPU_OVERLAP] = 1,
    [CU_DEVICE_ATTRIBUTE_INTEGRATED] = 1,
    [CU_DEVICE_ATTRIBUTE_COMPUTE_MODE] = CU_COMPUTEMODE_DEFAULT,
    [CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_WIDTH] = 131072,
    [CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_WIDTH] = 131072,
    [CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_HEIGHT] = 65536,
    [CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_WIDTH] = 16384,
    [CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_HEIGHT] = 16384,
    [CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_DEPTH] = 16384,
    [CU_DEVICE_ATTRIBUTE_SURFACE_ALIGNMENT] = 512,
    [CU_DEVICE_ATTRIBUTE_CONCURRENT_KERNELS] = 1,
    [CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE] = 1000000,
    [CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH] = 64,
    [CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE] = 4 * 1024 * 1024,
    [CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR] = 2048,
    [CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT] = 1,
    [CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING] = 1,
    [CU_DEVICE_ATTRIBUTE_TEXTURE_PITCH_ALIGNMENT] = 32,
    [CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR] = 8,
    [CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR] = 0,
    [CU_DEVICE_ATTRIBUTE_STREAM_PRIORITIES_SUPPORTED] = 1,
    [CU_DEVICE_ATTRIBUTE_GLOBAL_L1_CACHE_SUPPORTED] = 1,
    [CU_DEVICE_ATTRIBUTE_LOCAL_L1_CACHE_SUPPORTED] = 1,
    [CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR] = 164 * 1024,
    [CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR] = 65536,
    [CU_DEVICE_ATTRIBUTE_SINGLE_TO_DOUBLE_PRECISION_PERF_RATIO] = 2,
    [CU_DEVICE_ATTRIBUTE_COMPUTE_PREEMPTION_SUPPORTED] = 1,
    [CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH] = 1,
    [CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN] = 163 * 1024,
    [CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR] = 32,
    [CU_DEVICE_ATTRIBUTE_RESERVED_SHARED_MEMORY_PER_BLOCK] = 1024,
    [CU_DEVICE_ATTRIBUTE_MEM_SYNC_DOMAIN_COUNT] = 1,
    [CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED] = 1,
    [CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY] = 1,
    [CU_DEVICE_ATTRIBUTE_HOST_REGISTER_SUPPORTED] = 1,
};

static int device_attribute_value(CUdevice_attribute a)
{
	if (a == CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
		return emu.dev.ncores;
	if (a == CU_DEVICE_ATTRIBUTE_NUMA_ID || a == CU_DEVICE_ATTRIBUTE_HOST_NUMA_ID)
		return -1;
	if (a == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
		return emu.dev.cc / 10;
	if (a == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)
		return emu.dev.cc % 10;
	/* Thread block clusters come with 9.0. */
	if (a == CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH)
		return emu.dev.cc >= 90;
	return device_attributes[a];
}

CUresult cuDeviceComputeCapability(int *major, int *minor, CUdevice dev)
{
	CUresult rc = emu_device_check(dev);

	if (rc)
		return rc;
	if (!major || !minor)
		return CUDA_ERROR_INVALID_VALUE;
	*major = device_attribute_value(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
	*minor = device_attribute_value(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
	return CUDA_SUCCESS;
}

CUresult cuDeviceGetAttribute(int *value, CUdevice_attribute attrib, CUdevice dev)
{
	CUresult rc = emu_device_check(dev);

	if (rc)
		return rc;
	if (!value || (int)attrib <= 0 || attrib >= CU_DEVICE_ATTRIBUTE_MAX)
		return CUDA_ERROR_INVALID_VALUE;
	*value = device_attribute_value(attrib);
	return CUDA_SUCCESS;
}

CUresult cuGetErrorName(CUresult error, const char **str)
{
	const char *s = vcuda_cu_result_name((int)error);

	if (!str)
		return CUDA_ERROR_INVALID_VALUE;
	*str = s;
	return s ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuGetErrorString(CUresult error, const char **str)
{
	const char *s = vcuda_cu_result_string((int)error);

	if (!str)
		return CUDA_ERROR_INVALID_VALUE;
	*str = s;
	return s ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* Lets a loader tell this library from NVIDIA's libcuda.so.1. */
extern const int vcuda_cpu_device_marker;
const int vcuda_cpu_device_marker = 1;
