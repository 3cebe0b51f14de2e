/* libFuzzer: the CPU device's PTX parser and control-flow analysis, on text
 * a guest controls. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ptx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), log[512];
	struct ptx_module *m;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if ((m = ptx_parse(text, log, sizeof(log))) != NULL)
		ptx_module_free(m);
	free(text);
	return 0;
}
