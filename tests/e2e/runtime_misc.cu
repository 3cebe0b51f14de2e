// Runtime calls answered without the device, as CUDA answers them on a
// device where they change nothing the program can see: cache and shared
// memory preferences, the profiler, persisting L2, peer attributes, stream
// ids and attributes.
#include <cstdio>
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
	OK(cudaStreamDestroy(a));
	OK(cudaStreamDestroy(b));
	return check_done("runtime_misc");
}
