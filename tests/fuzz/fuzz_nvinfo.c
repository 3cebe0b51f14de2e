/* libFuzzer: kernel parameter layouts from a cubin's .nv.info sections and
 * its variables' sections (libelf), as the shim and the server read them
 * from a program's fat binary. */
#include <stdint.h>

#include "kernels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vcuda_kernel_table t = {0};
	char why[256];
	uint64_t globals;

	vcuda_kernels_from_cubin(data, size, &t, why, sizeof(why));
	vcuda_globals_from_cubin(data, size, &globals, why, sizeof(why));
	for (size_t i = 0; i < t.n; i++)
		(void)vcuda_kernels_find(&t, t.k[i].name);
	vcuda_kernels_free(&t);
	return 0;
}
