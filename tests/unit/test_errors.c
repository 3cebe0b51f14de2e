/* The runtime's and the driver's error tables and the mapping between them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cuda.h>
#include <cuda_runtime_api.h>

#include "errors.h"

static void test_names(void **state)
{
	assert_string_equal(vcuda_cudart_error_name(cudaErrorInvalidValue),
			    "cudaErrorInvalidValue");
	assert_string_equal(vcuda_cudart_error_name(cudaSuccess), "cudaSuccess");
	assert_string_equal(vcuda_cu_result_name(CUDA_ERROR_ILLEGAL_ADDRESS),
			    "CUDA_ERROR_ILLEGAL_ADDRESS");
	assert_null(vcuda_cudart_error_name(-5));
	assert_null(vcuda_cu_result_name(123456));
}

static void test_strings(void **state)
{
	assert_string_equal(vcuda_cudart_error_string(cudaErrorMemoryAllocation), "out of memory");
	assert_string_equal(vcuda_cudart_error_string(cudaErrorInvalidDevice),
			    "invalid device ordinal");
	/* One with no written message: made from its name. */
	assert_string_equal(vcuda_cudart_error_string(cudaErrorInvalidPitchValue),
			    "invalid pitch value");
	assert_string_equal(vcuda_cu_result_string(CUDA_ERROR_ILLEGAL_ADDRESS),
			    "an illegal memory access was encountered");
	assert_null(vcuda_cudart_error_string(-5));
}

static void test_mapping(void **state)
{
	assert_int_equal(vcuda_cu_to_cudart(CUDA_SUCCESS), cudaSuccess);
	assert_int_equal(vcuda_cu_to_cudart(CUDA_ERROR_OUT_OF_MEMORY), cudaErrorMemoryAllocation);
	assert_int_equal(vcuda_cu_to_cudart(CUDA_ERROR_INVALID_DEVICE), cudaErrorInvalidDevice);
	assert_int_equal(vcuda_cu_to_cudart(CUDA_ERROR_INVALID_HANDLE),
			 cudaErrorInvalidResourceHandle);
	assert_int_equal(vcuda_cu_to_cudart(CUDA_ERROR_ILLEGAL_ADDRESS), cudaErrorIllegalAddress);
	assert_int_equal(vcuda_cu_to_cudart(CUDA_ERROR_NOT_READY), cudaErrorNotReady);
	assert_int_equal(vcuda_cu_to_cudart(CUDA_ERROR_CONTEXT_ALREADY_CURRENT), cudaErrorUnknown);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_strings),
	    cmocka_unit_test(test_mapping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
