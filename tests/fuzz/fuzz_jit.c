/* libFuzzer: the CPU device's compiler (emulator/jit_gen.c) on PTX a guest
 * controls: every kernel of a module the parser takes is turned into LLVM
 * IR, which must be valid (or the kernel refused with a reason). Nothing is
 * optimized or run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Core.h>

#include "jit.h"
#include "ptx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), log[512], why[256];
	struct ptx_module *m;

	if (!text)
		return 0;
	jit_op_name = ptx_op_name;
	memcpy(text, data, size);
	text[size] = '\0';
	if ((m = ptx_parse(text, log, sizeof(log))) != NULL) {
		LLVMContextRef C = LLVMContextCreate();
		LLVMModuleRef M = LLVMModuleCreateWithNameInContext("fuzz", C);
		struct jit_build jb = {C, M};
		for (int i = 0; i < m->nfuncs; i++) {
			struct jit_code code = {0};
			char symbol[32];
			if (!m->funcs[i].is_entry || !m->funcs[i].defined)
				continue;
			snprintf(symbol, sizeof(symbol), "k%d", i);
			why[0] = '\0';
			if (jit_gen_kernel(&jb, m, &m->funcs[i], symbol, &code, why, sizeof(why)) ==
			    0) {
				if (jit_verify(M, why, sizeof(why)) != 0) {
					fprintf(stderr, "invalid IR for %s: %s\n", m->funcs[i].name,
						why);
					abort();
				}
				free(code.stops);
			} else if (!why[0]) {
				fprintf(stderr, "%s refused without a reason\n", m->funcs[i].name);
				abort();
			}
		}
		LLVMDisposeModule(M);
		LLVMContextDispose(C);
		ptx_module_free(m);
	}
	free(text);
	return 0;
}
