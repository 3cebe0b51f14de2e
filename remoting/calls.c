/* The scalar calls' descriptions, generated from calls.def. */
#include "config.h"

#include <stddef.h>

#include "calls.h"

#define CALLS_KIND(i, KIND, type, name)	 VCUDA_ARG_##KIND
#define CALLS_IS_IN(i, KIND, type, name) +!VCUDA_ARG_IS_OUT(VCUDA_ARG_##KIND)
#define CALLS_ROW(op_, name_, runtime_fn, driver_fn, flags_, stub, ...)                            \
	{.op = (op_),                                                                              \
	 .name = #name_,                                                                           \
	 .runtime = #runtime_fn,                                                                   \
	 .driver = #driver_fn,                                                                     \
	 .flags = (flags_),                                                                        \
	 .nargs = VCUDA_NARGS(__VA_ARGS__),                                                        \
	 .nin = 0 VCUDA_MAP(CALLS_IS_IN, VCUDA_SEP_NONE, __VA_ARGS__),                             \
	 .nout =                                                                                   \
	     VCUDA_NARGS(__VA_ARGS__) - (0 VCUDA_MAP(CALLS_IS_IN, VCUDA_SEP_NONE, __VA_ARGS__)),   \
	 .kinds = {VCUDA_MAP(CALLS_KIND, VCUDA_SEP_COMMA, __VA_ARGS__)}},

static const struct vcuda_scalar_desc calls_scalar[] = {
#define VCUDA_SCALAR CALLS_ROW
#include "calls.def"
};

#define CALLS_N (sizeof(calls_scalar) / sizeof(*calls_scalar))

enum calls_index {
#define VCUDA_SCALAR(op, name, ...) CALLS_IX_##name,
#include "calls.def"
};

/* A switch, so that two rows with one number do not compile. */
const struct vcuda_scalar_desc *vcuda_scalar_find(uint32_t op)
{
	switch (op) {
#define VCUDA_SCALAR(op_, name, ...)                                                               \
	case (op_): {                                                                              \
		_Static_assert((op_) > 0, "scalar call numbers start at 1");                       \
		return &calls_scalar[CALLS_IX_##name];                                             \
	}
#include "calls.def"
	}
	return NULL;
}

const struct vcuda_scalar_desc *vcuda_scalar_all(unsigned *n)
{
	*n = (unsigned)CALLS_N;
	return calls_scalar;
}
