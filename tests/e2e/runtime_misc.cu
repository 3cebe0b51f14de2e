// Runtime calls answered without the device, as CUDA answers them on a
// device where they change nothing the program can see: cache and shared
// memory preferences, the profiler, persisting L2, peers, stream ids and
// attributes, capture status; and host memory the program registers.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cuda_profiler_api.h>

#include "check.h"

int main()
{
	enum cudaFuncCache cfg;
	enum cudaSharedMemConfig smem;
	cudaStream_t a, b;
	unsigned long long ida = 0, idb = 0, id0 = 0;
	cudaStreamAttrValue v = {}, got = {};
	int value = -1, lo, hi;

	// The device says what vcuda provides: managed memory, textures;
	// pools and host registration; mapped memory where the transport
	// shares memory (mapped.cu checks that it works when it says so).
	int attr = -1, can_map = -1;
	OK(cudaDeviceGetAttribute(&attr, cudaDevAttrManagedMemory, 0));
	EXPECT(attr == 1);
	OK(cudaDeviceGetAttribute(&attr, cudaDevAttrConcurrentManagedAccess, 0));
	EXPECT(attr == 0);
	OK(cudaDeviceGetAttribute(&can_map, cudaDevAttrCanMapHostMemory, 0));
	EXPECT(can_map == 0 || can_map == 1);
	OK(cudaDeviceGetAttribute(&attr, cudaDevAttrMemoryPoolsSupported, 0));
	EXPECT(attr == 1);
	OK(cudaDeviceGetAttribute(&attr, cudaDevAttrHostRegisterSupported, 0));
	EXPECT(attr == 1);
	cudaDeviceProp prop;
	OK(cudaGetDeviceProperties(&prop, 0));
	EXPECT(prop.managedMemory == 1 && prop.concurrentManagedAccess == 0 && prop.canMapHostMemory == can_map && prop.maxTexture1D == 65536);

	OK(cudaProfilerStart());
	OK(cudaProfilerStop());
	OK(cudaDeviceGetCacheConfig(&cfg));
	EXPECT(cfg == cudaFuncCachePreferNone);
	OK(cudaDeviceSetCacheConfig(cudaFuncCachePreferShared));
	OK(cudaDeviceGetCacheConfig(&cfg));
	EXPECT(cfg == cudaFuncCachePreferShared);
	EXPECT_ERR(cudaDeviceSetCacheConfig((enum cudaFuncCache)9), cudaErrorInvalidValue);
	OK(cudaDeviceGetSharedMemConfig(&smem));
	EXPECT(smem == cudaSharedMemBankSizeFourByte);
	OK(cudaCtxResetPersistingL2Cache());
	// One device is not its own peer.
	EXPECT_ERR(cudaDeviceGetP2PAttribute(&value, cudaDevP2PAttrAccessSupported, 0, 0),
		   cudaErrorInvalidDevice);

	OK(cudaDeviceGetStreamPriorityRange(&lo, &hi));
	OK(cudaStreamCreateWithPriority(&a, cudaStreamNonBlocking, hi));
	OK(cudaStreamCreate(&b));
	OK(cudaStreamGetId(a, &ida));
	OK(cudaStreamGetId(b, &idb));
	OK(cudaStreamGetId(0, &id0));
	EXPECT(ida != idb && ida != id0 && idb != id0);

	v.accessPolicyWindow.base_ptr = nullptr;
	v.accessPolicyWindow.num_bytes = 1 << 20;
	v.accessPolicyWindow.hitRatio = 0.5f;
	v.accessPolicyWindow.hitProp = cudaAccessPropertyPersisting;
	v.accessPolicyWindow.missProp = cudaAccessPropertyStreaming;
	OK(cudaStreamSetAttribute(a, cudaStreamAttributeAccessPolicyWindow, &v));
	OK(cudaStreamGetAttribute(a, cudaStreamAttributeAccessPolicyWindow, &got));
	EXPECT(got.accessPolicyWindow.num_bytes == (1 << 20) &&
	       got.accessPolicyWindow.hitRatio == 0.5f &&
	       got.accessPolicyWindow.hitProp == cudaAccessPropertyPersisting);
	OK(cudaStreamGetAttribute(b, cudaStreamAttributeAccessPolicyWindow, &got));
	EXPECT(got.accessPolicyWindow.num_bytes == 0); // b's own, never set
	OK(cudaStreamGetAttribute(a, cudaStreamAttributePriority, &got));
	EXPECT(got.priority == hi);
	v.accessPolicyWindow.hitRatio = 2.0f;
	EXPECT_ERR(cudaStreamSetAttribute(a, cudaStreamAttributeAccessPolicyWindow, &v),
		   cudaErrorInvalidValue);
	// Capture is never in progress; the capture mode is the thread's own.
	enum cudaStreamCaptureStatus cs = cudaStreamCaptureStatusActive;
	OK(cudaStreamIsCapturing(a, &cs));
	EXPECT(cs == cudaStreamCaptureStatusNone);
	enum cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
	OK(cudaThreadExchangeStreamCaptureMode(&mode));
	EXPECT(mode == cudaStreamCaptureModeGlobal);
	OK(cudaThreadExchangeStreamCaptureMode(&mode));
	EXPECT(mode == cudaStreamCaptureModeRelaxed);

	// Host memory the program pins itself.
	const size_t n = 1 << 20;
	unsigned char *host = (unsigned char *)malloc(n), *back = (unsigned char *)malloc(n), *d;
	unsigned int flags = 9;
	for (size_t i = 0; i < n; i++)
		host[i] = (unsigned char)(i * 13);
	OK(cudaHostRegister(host, n, cudaHostRegisterDefault));
	EXPECT_ERR(cudaHostRegister(host + 4096, 4096, 0), cudaErrorHostMemoryAlreadyRegistered);
	OK(cudaHostGetFlags(&flags, host));
	EXPECT(flags == cudaHostRegisterDefault);
	cudaPointerAttributes pa;
	OK(cudaPointerGetAttributes(&pa, host));
	EXPECT(pa.type == cudaMemoryTypeHost);
	EXPECT_ERR(cudaFreeHost(host), cudaErrorInvalidValue); // not the runtime's to free
	OK(cudaMalloc(&d, n));
	OK(cudaMemcpyAsync(d, host, n, cudaMemcpyHostToDevice, a));
	OK(cudaStreamSynchronize(a));
	OK(cudaHostUnregister(host));
	EXPECT_ERR(cudaHostUnregister(host), cudaErrorHostMemoryNotRegistered);
	// A peer copy on one device is a device-to-device copy.
	unsigned char *d2;
	OK(cudaMalloc(&d2, n));
	OK(cudaMemcpyPeer(d2, 0, d, 0, n));
	OK(cudaMemcpy(back, d2, n, cudaMemcpyDeviceToHost));
	EXPECT(memcmp(back, host, n) == 0);
	int can = 1;
	OK(cudaDeviceCanAccessPeer(&can, 0, 0));
	EXPECT(can == 0);
	EXPECT_ERR(cudaDeviceEnablePeerAccess(0, 0), cudaErrorInvalidDevice);
	OK(cudaFree(d));
	OK(cudaFree(d2));
	free(host);
	free(back);

	OK(cudaStreamDestroy(a));
	OK(cudaStreamDestroy(b));
	return check_done("runtime_misc");
}
