/* libFuzzer: the fat binary reader and its decompressors (zstd, LZ4), then
 * the parameter layouts and module variables of what comes out (the
 * shim's path at registration, the server's before loading). */
#include <stdint.h>
#include <stdlib.h>

#include "fatbin.h"
#include "kernels.h"

/* Small enough that a claimed size cannot make the fuzzer itself run out. */
#define FUZZ_MAX_ENTRY (16u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vcuda_fatbin fb;
	char why[256];

	if (vcuda_fatbin_parse(data, size, &fb, why, sizeof(why)) != 0)
		return 0;
	(void)vcuda_fatbin_unpacked_size(&fb);
	(void)vcuda_fatbin_best_ptx(&fb, 1000);
	for (size_t i = 0; i < fb.n; i++) {
		struct vcuda_kernel_table t = {0};
		uint8_t *img;
		size_t n;
		if (vcuda_fatbin_extract(&fb.entries[i], FUZZ_MAX_ENTRY, &img, &n, why,
					 sizeof(why)) != 0)
			continue;
		uint64_t globals;
		if (fb.entries[i].kind == VCUDA_FATBIN_ELF) {
			vcuda_kernels_from_cubin(img, n, &t, why, sizeof(why));
			vcuda_globals_from_cubin(img, n, &globals, why, sizeof(why));
		} else if (fb.entries[i].kind == VCUDA_FATBIN_PTX) {
			vcuda_kernels_from_ptx((char *)img, &t, why, sizeof(why));
			vcuda_globals_from_ptx((char *)img, &globals, why, sizeof(why));
		}
		vcuda_kernels_free(&t);
		free(img);
	}
	vcuda_fatbin_free(&fb);
	return 0;
}
