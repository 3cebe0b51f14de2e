/* Helpers for the end-to-end test programs: each check states what CUDA
 * documents, prints what failed, and the program ends with PASS or FAIL. */
#ifndef VCUDA_E2E_CHECK_H
#define VCUDA_E2E_CHECK_H

#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

static int check_failures;

#define EXPECT(cond)                                                                               \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);        \
			check_failures++;                                                          \
		}                                                                                  \
	} while (0)

#define EXPECT_ERR(call, want)                                                                     \
	do {                                                                                       \
		cudaError_t got_ = (call);                                                         \
		if (got_ != (want)) {                                                              \
			fprintf(stderr, "%s:%d: %s returned %s, expected %s\n", __FILE__,          \
				__LINE__, #call, cudaGetErrorName(got_), cudaGetErrorName(want));  \
			check_failures++;                                                          \
		}                                                                                  \
	} while (0)

#define OK(call) EXPECT_ERR(call, cudaSuccess)

static inline int check_done(const char *name)
{
	printf("%s: %s\n", name, check_failures ? "FAIL" : "PASS");
	return check_failures ? 1 : 0;
}

#endif
