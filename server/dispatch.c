/*
 * The dispatch table: one slot per VCUDA_CALL row of calls.def, indexed by
 * its Request.call field number. A row whose call vcuda.proto lacks does
 * not compile; tests/unit/test_calls.c finds a call without a row.
 */
#include "config.h"

#include <stddef.h>

#include "session.h"

static const struct session_call calls[] = {
#define VCUDA_CALL(NAME, name, dev) [VCUDA__REQUEST__CALL_##NAME] = {srv_##name, dev},
#include "calls.def"
};

const struct session_call *session_call_find(int call_case)
{
	if (call_case <= 0 || (size_t)call_case >= sizeof(calls) / sizeof(*calls) ||
	    !calls[call_case].fn)
		return NULL;
	return &calls[call_case];
}
