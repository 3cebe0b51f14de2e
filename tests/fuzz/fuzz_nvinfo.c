/* libFuzzer: kernel parameter layouts from a cubin's .nv.info sections
 * (libelf), as the shim reads them from a program's fat binary. */
#include <stdint.h>

#include "kernels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vcuda_kernel_table t = {0};
	char why[256];

	vcuda_kernels_from_cubin(data, size, &t, why, sizeof(why));
	for (size_t i = 0; i < t.n; i++)
		(void)vcuda_kernels_find(&t, t.k[i].name);
	vcuda_kernels_free(&t);
	return 0;
}
