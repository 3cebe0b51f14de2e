/*
 * Names and messages of CUDA's two error enumerations (CUresult of the
 * driver API, cudaError_t of the runtime API), and the mapping between
 * them. The lists come from the toolkit headers at build time.
 */
#ifndef VCUDA_TRANSLATORS_ERRORS_H
#define VCUDA_TRANSLATORS_ERRORS_H

/* "CUDA_ERROR_INVALID_VALUE"; NULL if r is not a CUresult. */
const char *vcuda_cu_result_name(int r);
/* "invalid argument"; NULL if r is not a CUresult. */
const char *vcuda_cu_result_string(int r);
/* "cudaErrorInvalidValue"; NULL if e is not a cudaError_t. */
const char *vcuda_cudart_error_name(int e);
/* "invalid argument"; NULL if e is not a cudaError_t. */
const char *vcuda_cudart_error_string(int e);
/* The cudaError_t that the runtime reports for driver result r. */
int vcuda_cu_to_cudart(int r);

#endif
