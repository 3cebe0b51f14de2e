/* Runtime API: device management, answered from the guest's cache where CUDA
 * allows (DESIGN.md decision 4). */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cuda.h>

#include "shim.h"

cudaError_t cudaGetDeviceCount(int *count)
{
	cudaError_t e = shim_init();

	if (!count)
		return shim_ret(cudaErrorInvalidValue);
	*count = e ? 0 : shim.ndevices;
	return shim_ret(e);
}

cudaError_t cudaGetDevice(int *device)
{
	cudaError_t e = shim_init();

	if (e)
		return shim_ret(e);
	if (!device)
		return shim_ret(cudaErrorInvalidValue);
	*device = shim_device;
	return cudaSuccess;
}

cudaError_t cudaSetDevice(int device)
{
	cudaError_t e = shim_init();

	if (e)
		return shim_ret(e);
	if (device < 0 || device >= shim.ndevices)
		return shim_ret(cudaErrorInvalidDevice);
	shim_device = device;
	return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device)
{
	cudaError_t e = shim_init();
	int v;

	if (e)
		return shim_ret(e);
	if (!value)
		return shim_ret(cudaErrorInvalidValue);
	if (device < 0 || device >= shim.ndevices)
		return shim_ret(cudaErrorInvalidDevice);
	/* The runtime's attribute numbers are the driver's. */
	if ((v = shim_attribute(device, (int)attr)) < 0 && attr != cudaDevAttrNumaId &&
	    attr != cudaDevAttrHostNumaId)
		return shim_ret(cudaErrorInvalidValue);
	/* What vcuda does not provide reads 0 (shim_attribute). */
	*value = v;
	return cudaSuccess;
}

/* A property read from an attribute: where it goes and how wide it is. */
struct prop_field {
	int attr;
	size_t offset;
	int is_size_t;
};

#define PI(field, attr)                                                                            \
	{                                                                                          \
		CU_DEVICE_ATTRIBUTE_##attr, offsetof(struct cudaDeviceProp, field), 0              \
	}
#define PS(field, attr)                                                                            \
	{                                                                                          \
		CU_DEVICE_ATTRIBUTE_##attr, offsetof(struct cudaDeviceProp, field), 1              \
	}

static const struct prop_field prop_fields[] = {
    PS(sharedMemPerBlock, MAX_SHARED_MEMORY_PER_BLOCK),
    PI(regsPerBlock, MAX_REGISTERS_PER_BLOCK),
    PI(warpSize, WARP_SIZE),
    PS(memPitch, MAX_PITCH),
    PI(maxThreadsPerBlock, MAX_THREADS_PER_BLOCK),
    PI(maxThreadsDim[0], MAX_BLOCK_DIM_X),
    PI(maxThreadsDim[1], MAX_BLOCK_DIM_Y),
    PI(maxThreadsDim[2], MAX_BLOCK_DIM_Z),
    PI(maxGridSize[0], MAX_GRID_DIM_X),
    PI(maxGridSize[1], MAX_GRID_DIM_Y),
    PI(maxGridSize[2], MAX_GRID_DIM_Z),
    PS(totalConstMem, TOTAL_CONSTANT_MEMORY),
    PI(major, COMPUTE_CAPABILITY_MAJOR),
    PI(minor, COMPUTE_CAPABILITY_MINOR),
    PS(textureAlignment, TEXTURE_ALIGNMENT),
    PS(texturePitchAlignment, TEXTURE_PITCH_ALIGNMENT),
    PI(multiProcessorCount, MULTIPROCESSOR_COUNT),
    PI(integrated, INTEGRATED),
    PI(maxTexture1D, MAXIMUM_TEXTURE1D_WIDTH),
    PI(maxTexture1DMipmap, MAXIMUM_TEXTURE1D_MIPMAPPED_WIDTH),
    PI(maxTexture2D[0], MAXIMUM_TEXTURE2D_WIDTH),
    PI(maxTexture2D[1], MAXIMUM_TEXTURE2D_HEIGHT),
    PI(maxTexture2DMipmap[0], MAXIMUM_TEXTURE2D_MIPMAPPED_WIDTH),
    PI(maxTexture2DMipmap[1], MAXIMUM_TEXTURE2D_MIPMAPPED_HEIGHT),
    PI(maxTexture2DLinear[0], MAXIMUM_TEXTURE2D_LINEAR_WIDTH),
    PI(maxTexture2DLinear[1], MAXIMUM_TEXTURE2D_LINEAR_HEIGHT),
    PI(maxTexture2DLinear[2], MAXIMUM_TEXTURE2D_LINEAR_PITCH),
    PI(maxTexture2DGather[0], MAXIMUM_TEXTURE2D_GATHER_WIDTH),
    PI(maxTexture2DGather[1], MAXIMUM_TEXTURE2D_GATHER_HEIGHT),
    PI(maxTexture3D[0], MAXIMUM_TEXTURE3D_WIDTH),
    PI(maxTexture3D[1], MAXIMUM_TEXTURE3D_HEIGHT),
    PI(maxTexture3D[2], MAXIMUM_TEXTURE3D_DEPTH),
    PI(maxTexture3DAlt[0], MAXIMUM_TEXTURE3D_WIDTH_ALTERNATE),
    PI(maxTexture3DAlt[1], MAXIMUM_TEXTURE3D_HEIGHT_ALTERNATE),
    PI(maxTexture3DAlt[2], MAXIMUM_TEXTURE3D_DEPTH_ALTERNATE),
    PI(maxTextureCubemap, MAXIMUM_TEXTURECUBEMAP_WIDTH),
    PI(maxTexture1DLayered[0], MAXIMUM_TEXTURE1D_LAYERED_WIDTH),
    PI(maxTexture1DLayered[1], MAXIMUM_TEXTURE1D_LAYERED_LAYERS),
    PI(maxTexture2DLayered[0], MAXIMUM_TEXTURE2D_LAYERED_WIDTH),
    PI(maxTexture2DLayered[1], MAXIMUM_TEXTURE2D_LAYERED_HEIGHT),
    PI(maxTexture2DLayered[2], MAXIMUM_TEXTURE2D_LAYERED_LAYERS),
    PI(maxTextureCubemapLayered[0], MAXIMUM_TEXTURECUBEMAP_LAYERED_WIDTH),
    PI(maxTextureCubemapLayered[1], MAXIMUM_TEXTURECUBEMAP_LAYERED_LAYERS),
    PI(maxSurface1D, MAXIMUM_SURFACE1D_WIDTH),
    PI(maxSurface2D[0], MAXIMUM_SURFACE2D_WIDTH),
    PI(maxSurface2D[1], MAXIMUM_SURFACE2D_HEIGHT),
    PI(maxSurface3D[0], MAXIMUM_SURFACE3D_WIDTH),
    PI(maxSurface3D[1], MAXIMUM_SURFACE3D_HEIGHT),
    PI(maxSurface3D[2], MAXIMUM_SURFACE3D_DEPTH),
    PI(maxSurface1DLayered[0], MAXIMUM_SURFACE1D_LAYERED_WIDTH),
    PI(maxSurface1DLayered[1], MAXIMUM_SURFACE1D_LAYERED_LAYERS),
    PI(maxSurface2DLayered[0], MAXIMUM_SURFACE2D_LAYERED_WIDTH),
    PI(maxSurface2DLayered[1], MAXIMUM_SURFACE2D_LAYERED_HEIGHT),
    PI(maxSurface2DLayered[2], MAXIMUM_SURFACE2D_LAYERED_LAYERS),
    PI(maxSurfaceCubemap, MAXIMUM_SURFACECUBEMAP_WIDTH),
    PI(maxSurfaceCubemapLayered[0], MAXIMUM_SURFACECUBEMAP_LAYERED_WIDTH),
    PI(maxSurfaceCubemapLayered[1], MAXIMUM_SURFACECUBEMAP_LAYERED_LAYERS),
    PS(surfaceAlignment, SURFACE_ALIGNMENT),
    PI(concurrentKernels, CONCURRENT_KERNELS),
    PI(ECCEnabled, ECC_ENABLED),
    PI(pciBusID, PCI_BUS_ID),
    PI(pciDeviceID, PCI_DEVICE_ID),
    PI(pciDomainID, PCI_DOMAIN_ID),
    PI(tccDriver, TCC_DRIVER),
    PI(asyncEngineCount, ASYNC_ENGINE_COUNT),
    PI(unifiedAddressing, UNIFIED_ADDRESSING),
    PI(memoryBusWidth, GLOBAL_MEMORY_BUS_WIDTH),
    PI(l2CacheSize, L2_CACHE_SIZE),
    PI(persistingL2CacheMaxSize, MAX_PERSISTING_L2_CACHE_SIZE),
    PI(maxThreadsPerMultiProcessor, MAX_THREADS_PER_MULTIPROCESSOR),
    PI(streamPrioritiesSupported, STREAM_PRIORITIES_SUPPORTED),
    PI(globalL1CacheSupported, GLOBAL_L1_CACHE_SUPPORTED),
    PI(localL1CacheSupported, LOCAL_L1_CACHE_SUPPORTED),
    PS(sharedMemPerMultiprocessor, MAX_SHARED_MEMORY_PER_MULTIPROCESSOR),
    PI(regsPerMultiprocessor, MAX_REGISTERS_PER_MULTIPROCESSOR),
    PI(isMultiGpuBoard, MULTI_GPU_BOARD),
    PI(multiGpuBoardGroupID, MULTI_GPU_BOARD_GROUP_ID),
    PI(hostNativeAtomicSupported, HOST_NATIVE_ATOMIC_SUPPORTED),
    PI(computePreemptionSupported, COMPUTE_PREEMPTION_SUPPORTED),
    PI(cooperativeLaunch, COOPERATIVE_LAUNCH),
    PS(sharedMemPerBlockOptin, MAX_SHARED_MEMORY_PER_BLOCK_OPTIN),
    PI(directManagedMemAccessFromHost, DIRECT_MANAGED_MEM_ACCESS_FROM_HOST),
    PI(maxBlocksPerMultiProcessor, MAX_BLOCKS_PER_MULTIPROCESSOR),
    PI(accessPolicyMaxWindowSize, MAX_ACCESS_POLICY_WINDOW_SIZE),
    PS(reservedSharedMemPerBlock, RESERVED_SHARED_MEMORY_PER_BLOCK),
    PI(sparseCudaArraySupported, SPARSE_CUDA_ARRAY_SUPPORTED),
    PI(hostRegisterReadOnlySupported, READ_ONLY_HOST_REGISTER_SUPPORTED),
    PI(timelineSemaphoreInteropSupported, TIMELINE_SEMAPHORE_INTEROP_SUPPORTED),
    PI(memoryPoolsSupported, MEMORY_POOLS_SUPPORTED),
    PI(gpuDirectRDMASupported, GPU_DIRECT_RDMA_SUPPORTED),
    PI(gpuDirectRDMAWritesOrdering, GPU_DIRECT_RDMA_WRITES_ORDERING),
    PI(deferredMappingCudaArraySupported, DEFERRED_MAPPING_CUDA_ARRAY_SUPPORTED),
    PI(ipcEventSupported, IPC_EVENT_SUPPORTED),
    PI(clusterLaunch, CLUSTER_LAUNCH),
    PI(unifiedFunctionPointers, UNIFIED_FUNCTION_POINTERS),
    PI(deviceNumaConfig, NUMA_CONFIG),
    PI(deviceNumaId, NUMA_ID),
    PI(mpsEnabled, MPS_ENABLED),
    PI(hostNumaId, HOST_NUMA_ID),
    PI(hostNumaMultinodeIpcSupported, HOST_NUMA_MULTINODE_IPC_SUPPORTED),
};

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device)
{
	cudaError_t e = shim_init();
	const Vcuda__DeviceInfo *d;

	if (e)
		return shim_ret(e);
	if (!prop)
		return shim_ret(cudaErrorInvalidValue);
	if (device < 0 || device >= shim.ndevices)
		return shim_ret(cudaErrorInvalidDevice);
	d = shim.devices[device];
	memset(prop, 0, sizeof(*prop));
	snprintf(prop->name, sizeof(prop->name), "%s", d->name ? d->name : "");
	if (d->uuid.len == sizeof(prop->uuid.bytes))
		memcpy(prop->uuid.bytes, d->uuid.data, sizeof(prop->uuid.bytes));
	prop->totalGlobalMem = d->total_mem;
	for (size_t i = 0; i < sizeof(prop_fields) / sizeof(*prop_fields); i++) {
		int v = shim_attribute(device, prop_fields[i].attr);
		char *field = (char *)prop + prop_fields[i].offset;
		if (prop_fields[i].is_size_t) {
			size_t sv = v < 0 ? 0 : (size_t)v;
			memcpy(field, &sv, sizeof(sv));
		} else {
			memcpy(field, &v, sizeof(v));
		}
	}
	/* What vcuda provides, as shim_attribute says it. */
	prop->canMapHostMemory = shim_attribute(device, CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY);
	prop->managedMemory = 1;
	prop->pageableMemoryAccess = 0;
	prop->concurrentManagedAccess = 0;
	prop->canUseHostPointerForRegisteredMem = 0;
	prop->hostRegisterSupported = 1;
	return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void)
{
	Vcuda__CtxSynchronize m = VCUDA__CTX_SYNCHRONIZE__INIT;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	SHIM_REQUEST(rq, CTX_SYNCHRONIZE, ctx_synchronize, m);
	return shim_ret(shim_call_sync(&rq, NULL, 0, 0, NULL, 0, NULL));
}

static void device_forget(int device)
{
	pthread_mutex_lock(&shim.lock);
	for (size_t i = shim.dmem.n; i-- > 0;)
		if ((int)shim.dmem.r[i].tag == device)
			vcuda_rangemap_remove(&shim.dmem, shim.dmem.r[i].base, NULL);
	pthread_mutex_unlock(&shim.lock);
}

cudaError_t cudaDeviceReset(void)
{
	Vcuda__CtxReset m = VCUDA__CTX_RESET__INIT;
	cudaError_t e = shim_init();

	if (e)
		return shim_ret(e);
	if (__atomic_load_n(&shim.sticky, __ATOMIC_RELAXED) == cudaErrorDevicesUnavailable)
		return shim_ret(cudaErrorDevicesUnavailable);
	SHIM_REQUEST(rq, CTX_RESET, ctx_reset, m);
	e = shim_call(&rq, NULL, 0, 0, NULL, 0, NULL);
	device_forget(shim_device);
	shim_modules_forget(shim_device);
	shim_heap_forget(shim_device);
	shim_managed_forget(shim_device);
	shim_textures_forget(shim_device);
	shim_handles_forget(shim_device);
	__atomic_store_n(&shim.async_error, 0, __ATOMIC_RELAXED);
	/* A reset device starts over: errors that stuck to it are gone. */
	if (e == cudaSuccess)
		__atomic_store_n(&shim.sticky, 0, __ATOMIC_RELAXED);
	return shim_ret(e);
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total)
{
	Vcuda__MemGetInfo m = VCUDA__MEM_GET_INFO__INIT;
	Vcuda__Reply *rp = NULL;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!free_bytes || !total)
		return shim_ret(cudaErrorInvalidValue);
	SHIM_REQUEST(rq, MEM_GET_INFO, mem_get_info, m);
	e = shim_call(&rq, NULL, 0, 0, NULL, 0, &rp);
	if (e == cudaSuccess && rp && rp->ret_case == VCUDA__REPLY__RET_MEM_GET_INFO) {
		*free_bytes = (size_t)rp->mem_get_info->free;
		*total = (size_t)rp->mem_get_info->total;
	}
	vcuda_client_reply_free(rp);
	return shim_ret(e);
}

cudaError_t cudaDriverGetVersion(int *version)
{
	if (!version)
		return shim_ret(cudaErrorInvalidValue);
	/* With no device there is no driver, which CUDA reports as version 0. */
	*version = shim_init() == cudaSuccess ? shim.driver_version : 0;
	return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int *version)
{
	if (!version)
		return shim_ret(cudaErrorInvalidValue);
	*version = CUDART_VERSION;
	return cudaSuccess;
}

cudaError_t cudaDeviceGetStreamPriorityRange(int *least, int *greatest)
{
	cudaError_t e = shim_init();

	if (e)
		return shim_ret(e);
	if (least)
		*least = 0;
	if (greatest)
		*greatest =
		    shim_attribute(shim_device, CU_DEVICE_ATTRIBUTE_STREAM_PRIORITIES_SUPPORTED) > 0
			? -5
			: 0;
	return cudaSuccess;
}

cudaError_t cudaSetDeviceFlags(unsigned int flags)
{
	cudaError_t e = shim_init();

	if (e)
		return shim_ret(e);
	if (flags & ~(unsigned)(cudaDeviceScheduleMask | cudaDeviceMapHost |
				cudaDeviceLmemResizeToMax | cudaDeviceSyncMemops))
		return shim_ret(cudaErrorInvalidValue);
	return cudaSuccess;
}

cudaError_t cudaGetDeviceFlags(unsigned int *flags)
{
	cudaError_t e = shim_init();

	if (e)
		return shim_ret(e);
	if (!flags)
		return shim_ret(cudaErrorInvalidValue);
	*flags = 0;
	return cudaSuccess;
}

struct cudaChannelFormatDesc cudaCreateChannelDesc(int x, int y, int z, int w,
						   enum cudaChannelFormatKind f)
{
	struct cudaChannelFormatDesc d = {x, y, z, w, f};

	return d;
}
