/*
 * The compiled tier's LLVM side, a module of its own (vcuda-jit.so, beside
 * libcuda.so.1) that jit.c loads for its first compile: libLLVM costs a
 * process about 45 MB of relocated memory, which the listener and the
 * workers whose kernels never compile do not pay. It builds a kernel's IR
 * (jit_gen.c), optimizes it, emits an object, and links objects into the
 * process with LLVM's ORC JIT. It calls nothing of libcuda's: the helpers
 * compiled code calls, and the names of ops, come in through start().
 */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Core.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <llvm-c/blake3.h>

#include "jit.h"

static struct {
	LLVMOrcLLJITRef jit;
	LLVMTargetMachineRef tm;
	char *triple, *cpu, *features;
	pthread_mutex_t lock; /* one compile at a time on the target machine */
} L = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void error_to(const char *what, LLVMErrorRef err, char *why, size_t why_len)
{
	char *msg = LLVMGetErrorMessage(err);

	snprintf(why, why_len, "%s: %s", what, msg);
	LLVMDisposeErrorMessage(msg);
}

/* The helpers by their names, and the C library's math (exp2f, log2f...)
 * from the process. */
static int define_helpers(void *const *addrs, const char *const *names, int n, char *why,
			  size_t why_len)
{
	LLVMOrcCSymbolMapPair *pairs = calloc((size_t)n, sizeof(*pairs));
	LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(L.jit);
	LLVMOrcDefinitionGeneratorRef gen;
	LLVMErrorRef err;

	if (!pairs)
		return -1;
	for (int i = 0; i < n; i++) {
		pairs[i].Name = LLVMOrcLLJITMangleAndIntern(L.jit, names[i]);
		pairs[i].Sym.Address = (LLVMOrcJITTargetAddress)(uintptr_t)addrs[i];
		pairs[i].Sym.Flags.GenericFlags =
		    LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable;
		pairs[i].Sym.Flags.TargetFlags = 0;
	}
	err = LLVMOrcJITDylibDefine(jd, LLVMOrcAbsoluteSymbols(pairs, (size_t)n));
	free(pairs);
	if (err) {
		error_to("helpers", err, why, why_len);
		return -1;
	}
	if ((err = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
		 &gen, LLVMOrcLLJITGetGlobalPrefix(L.jit), NULL, NULL))) {
		error_to("process symbols", err, why, why_len);
		return -1;
	}
	LLVMOrcJITDylibAddGenerator(jd, gen);
	return 0;
}

static int start(void *const *helpers, const char *const *names, int n,
		 const char *(*op_name)(int, char *, size_t), char *why, size_t why_len)
{
	LLVMErrorRef err;
	LLVMTargetRef target;
	char *msg = NULL;

	jit_op_name = op_name;
	if (LLVMInitializeNativeTarget() || LLVMInitializeNativeAsmPrinter()) {
		snprintf(why, why_len, "LLVM has no target for this host");
		return -1;
	}
	if ((err = LLVMOrcCreateLLJIT(&L.jit, LLVMOrcCreateLLJITBuilder()))) {
		error_to("LLJIT", err, why, why_len);
		return -1;
	}
	L.triple = LLVMGetDefaultTargetTriple();
	L.cpu = LLVMGetHostCPUName();
	L.features = LLVMGetHostCPUFeatures();
	if (LLVMGetTargetFromTriple(L.triple, &target, &msg)) {
		snprintf(why, why_len, "%s", msg);
		LLVMDisposeMessage(msg);
		return -1;
	}
	/* The large code model: the JIT's memory manager may place an
	 * object's constants and the helpers it calls further than 2 GiB
	 * from its code (it does under AddressSanitizer's layout), beyond
	 * what the small model's 32-bit relative addresses reach. */
	L.tm = LLVMCreateTargetMachine(target, L.triple, L.cpu, L.features, LLVMCodeGenLevelDefault,
				       LLVMRelocStatic, LLVMCodeModelLarge);
	if (!L.tm) {
		snprintf(why, why_len, "no target machine for %s", L.triple);
		return -1;
	}
	return define_helpers(helpers, names, n, why, why_len);
}

/* The cache key: the compiler's version, the host CPU, the module's PTX
 * and the kernel's name. */
static void key(const char *abi, const char *text, const char *name, uint8_t out[32])
{
	llvm_blake3_hasher h;

	llvm_blake3_hasher_init(&h);
	llvm_blake3_hasher_update(&h, abi, strlen(abi) + 1);
	llvm_blake3_hasher_update(&h, L.triple, strlen(L.triple) + 1);
	llvm_blake3_hasher_update(&h, L.cpu, strlen(L.cpu) + 1);
	llvm_blake3_hasher_update(&h, L.features, strlen(L.features) + 1);
	llvm_blake3_hasher_update(&h, text, strlen(text) + 1);
	llvm_blake3_hasher_update(&h, name, strlen(name) + 1);
	llvm_blake3_hasher_finalize(&h, out, 32);
}

/* f's IR, verified, optimized and emitted as an object (malloc'd). */
static int compile(const struct ptx_module *mod, const struct ptx_func *f, const char *symbol,
		   struct jit_code *code, void **bytes, size_t *len, char *why, size_t why_len)
{
	LLVMContextRef C = LLVMContextCreate();
	LLVMModuleRef M = LLVMModuleCreateWithNameInContext(symbol, C);
	struct jit_build jb = {C, M};
	LLVMMemoryBufferRef buf = NULL;
	LLVMPassBuilderOptionsRef opts;
	LLVMTargetDataRef dl;
	LLVMErrorRef err;
	char *msg = NULL;
	int rc = -1;

	*bytes = NULL;
	pthread_mutex_lock(&L.lock);
	LLVMSetTarget(M, L.triple);
	dl = LLVMCreateTargetDataLayout(L.tm);
	LLVMSetModuleDataLayout(M, dl);
	LLVMDisposeTargetData(dl);
	if (jit_gen_kernel(&jb, mod, f, symbol, code, why, why_len) != 0 ||
	    jit_verify(M, why, why_len) != 0)
		goto out;
	opts = LLVMCreatePassBuilderOptions();
	err = LLVMRunPasses(M, "default<O2>", L.tm, opts);
	LLVMDisposePassBuilderOptions(opts);
	if (err) {
		error_to("optimizer", err, why, why_len);
		goto out;
	}
	if (LLVMTargetMachineEmitToMemoryBuffer(L.tm, M, LLVMObjectFile, &msg, &buf)) {
		snprintf(why, why_len, "code generation: %s", msg ? msg : "failed");
		LLVMDisposeMessage(msg);
		goto out;
	}
	*len = LLVMGetBufferSize(buf);
	if ((*bytes = malloc(*len ? *len : 1)) != NULL) {
		memcpy(*bytes, LLVMGetBufferStart(buf), *len);
		rc = 0;
	}
	LLVMDisposeMemoryBuffer(buf);
out:
	LLVMDisposeModule(M);
	LLVMContextDispose(C);
	pthread_mutex_unlock(&L.lock);
	if (rc != 0) {
		free(code->stops);
		code->stops = NULL;
	}
	return rc;
}

/* Links an object into the process: its resource tracker (for unload),
 * and the kernel's address in *fn. */
static void *load(const void *bytes, size_t len, const char *symbol, jit_kernel_fn *fn, char *why,
		  size_t why_len)
{
	LLVMOrcResourceTrackerRef rt =
	    LLVMOrcJITDylibCreateResourceTracker(LLVMOrcLLJITGetMainJITDylib(L.jit));
	LLVMMemoryBufferRef buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(bytes, len, symbol);
	LLVMOrcExecutorAddress addr;
	LLVMErrorRef err;

	if ((err = LLVMOrcLLJITAddObjectFileWithRT(L.jit, rt, buf)) ||
	    (err = LLVMOrcLLJITLookup(L.jit, &addr, symbol))) {
		error_to("loading the code", err, why, why_len);
		LLVMOrcResourceTrackerRemove(rt);
		LLVMOrcReleaseResourceTracker(rt);
		return NULL;
	}
	*fn = (jit_kernel_fn)(uintptr_t)addr;
	return rt;
}

static void unload(void *handle)
{
	LLVMOrcResourceTrackerRemove(handle);
	LLVMOrcReleaseResourceTracker(handle);
}

__attribute__((visibility("default"))) const struct jit_llvm *vcuda_jit_llvm(void);
const struct jit_llvm *vcuda_jit_llvm(void)
{
	static const struct jit_llvm api = {start, key, compile, load, unload};

	return &api;
}
