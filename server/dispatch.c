/*
 * The dispatch table: one slot per call of vcuda.proto's Request.call,
 * indexed by its field number. Adding a call means a message and a field in
 * vcuda.proto, a line here, and its handler.
 */
#include "config.h"

#include <stddef.h>

#include "session.h"

#define CALL(NAME, name, dev) [VCUDA__REQUEST__CALL_##NAME] = {srv_##name, dev}

static const struct session_call calls[] = {
    CALL(ATTACH, attach, 0),
    CALL(CTX_INIT, ctx_init, 1),
    CALL(CTX_SYNCHRONIZE, ctx_synchronize, 1),
    CALL(CTX_RESET, ctx_reset, 1),
    CALL(MEM_GET_INFO, mem_get_info, 1),
    CALL(MEM_ALLOC, mem_alloc, 1),
    CALL(MEM_FREE, mem_free, 1),
    CALL(MEMCPY_HTOD, memcpy_htod, 1),
    CALL(MEMCPY_DTOH, memcpy_dtoh, 1),
    CALL(MEMCPY_DTOD, memcpy_dtod, 1),
    CALL(MEMSET, memset, 1),
    CALL(STREAM_CREATE, stream_create, 1),
    CALL(STREAM_DESTROY, stream_destroy, 1),
    CALL(STREAM_SYNCHRONIZE, stream_synchronize, 1),
    CALL(STREAM_QUERY, stream_query, 1),
    CALL(STREAM_WAIT_EVENT, stream_wait_event, 1),
    CALL(EVENT_CREATE, event_create, 1),
    CALL(EVENT_DESTROY, event_destroy, 1),
    CALL(EVENT_RECORD, event_record, 1),
    CALL(EVENT_SYNCHRONIZE, event_synchronize, 1),
    CALL(EVENT_QUERY, event_query, 1),
    CALL(EVENT_ELAPSED_TIME, event_elapsed_time, 1),
    CALL(MODULE_LOAD, module_load, 1),
    CALL(MODULE_UNLOAD, module_unload, 1),
    CALL(MODULE_GET_FUNCTION, module_get_function, 1),
    CALL(MODULE_GET_GLOBAL, module_get_global, 1),
    CALL(FUNC_GET_ATTRIBUTES, func_get_attributes, 1),
    CALL(FUNC_SET_ATTRIBUTE, func_set_attribute, 1),
    CALL(OCCUPANCY, occupancy, 1),
    CALL(LAUNCH, launch, 1),
};

const struct session_call *session_call_find(int call_case)
{
	if (call_case <= 0 || (size_t)call_case >= sizeof(calls) / sizeof(*calls) ||
	    !calls[call_case].fn)
		return NULL;
	return &calls[call_case];
}
