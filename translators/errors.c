#include "config.h"

#include <ctype.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include "cuda_tables.h"
#include "errors.h"

struct error_entry {
	int value;
	const char *name;
};

static const struct error_entry cu_results[] = {
#define ERR_ENTRY(name, value) {value, #name},
    VCUDA_CU_RESULT_LIST(ERR_ENTRY)};

static const struct error_entry cudart_errors[] = {VCUDA_CUDART_ERROR_LIST(ERR_ENTRY)
#undef ERR_ENTRY
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/*
 * The messages programs most often print, worded as CUDA words them so that
 * a program's output reads the same under vcuda. Codes not listed get a
 * message made from their enumerator's name.
 */
static const struct {
	int value;
	const char *msg;
} error_messages[] = {
    {0, "no error"},
    {1, "invalid argument"},
    {2, "out of memory"},
    {3, "initialization error"},
    {4, "driver shutting down"},
    {9, "invalid configuration argument"},
    {13, "invalid device symbol"},
    {17, "invalid device pointer"},
    {21, "invalid copy direction for memcpy"},
    {35, "CUDA driver version is insufficient for CUDA runtime version"},
    {46, "CUDA-capable device(s) is/are busy or unavailable"},
    {98, "invalid device function"},
    {100, "no CUDA-capable device is detected"},
    {101, "invalid device ordinal"},
    {200, "device kernel image is invalid"},
    {201, "invalid device context"},
    {209, "no kernel image is available for execution on the device"},
    {218, "a PTX JIT compilation failed"},
    {400, "invalid resource handle"},
    {500, "named symbol not found"},
    {600, "device not ready"},
    {700, "an illegal memory access was encountered"},
    {701, "too many resources requested for launch"},
    {702, "the launch timed out and was terminated"},
    {710, "device-side assert triggered"},
    {719, "unspecified launch failure"},
    {801, "operation not supported"},
    {999, "unknown error"},
};

/* Messages derived from names, made once: "InvalidPitchValue" -> "invalid pitch value". */
static char derived_cu[NELEM(cu_results)][96];
static char derived_rt[NELEM(cudart_errors)][96];
static pthread_once_t derived_once = PTHREAD_ONCE_INIT;

static void derive_from_camel(const char *name, char *out, size_t cap)
{
	size_t n = 0;

	for (const char *p = name; *p && n + 2 < cap; p++) {
		if (isupper((unsigned char)*p) && n > 0 && !isupper((unsigned char)p[-1]))
			out[n++] = ' ';
		out[n++] = (char)tolower((unsigned char)*p);
	}
	out[n] = '\0';
}

static void derive_from_upper(const char *name, char *out, size_t cap)
{
	size_t n = 0;

	for (const char *p = name; *p && n + 1 < cap; p++)
		out[n++] = *p == '_' ? ' ' : (char)tolower((unsigned char)*p);
	out[n] = '\0';
}

static void errors_derive(void)
{
	for (size_t i = 0; i < NELEM(cu_results); i++) {
		const char *n = cu_results[i].name;
		n += strncmp(n, "CUDA_ERROR_", 11) == 0 ? 11 : 5;
		derive_from_upper(n, derived_cu[i], sizeof(derived_cu[i]));
	}
	for (size_t i = 0; i < NELEM(cudart_errors); i++) {
		const char *n = cudart_errors[i].name;
		n += strncmp(n, "cudaError", 9) == 0 ? 9 : 4;
		derive_from_camel(n, derived_rt[i], sizeof(derived_rt[i]));
	}
}

static ptrdiff_t errors_find(const struct error_entry *t, size_t n, int value)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].value == value)
			return (ptrdiff_t)i;
	return -1;
}

static const char *errors_known_message(int value)
{
	for (size_t i = 0; i < NELEM(error_messages); i++)
		if (error_messages[i].value == value)
			return error_messages[i].msg;
	return NULL;
}

const char *vcuda_cu_result_name(int r)
{
	ptrdiff_t i = errors_find(cu_results, NELEM(cu_results), r);

	return i < 0 ? NULL : cu_results[i].name;
}

const char *vcuda_cu_result_string(int r)
{
	ptrdiff_t i = errors_find(cu_results, NELEM(cu_results), r);
	const char *msg;

	if (i < 0)
		return NULL;
	if ((msg = errors_known_message(r)) != NULL && r != 202 && r != 916)
		return msg;
	pthread_once(&derived_once, errors_derive);
	return derived_cu[i];
}

const char *vcuda_cudart_error_name(int e)
{
	ptrdiff_t i = errors_find(cudart_errors, NELEM(cudart_errors), e);

	return i < 0 ? NULL : cudart_errors[i].name;
}

const char *vcuda_cudart_error_string(int e)
{
	ptrdiff_t i = errors_find(cudart_errors, NELEM(cudart_errors), e);
	const char *msg;

	if (i < 0)
		return NULL;
	if ((msg = errors_known_message(e)) != NULL)
		return msg;
	pthread_once(&derived_once, errors_derive);
	return derived_rt[i];
}

/*
 * The runtime numbers its errors like the driver wherever both have the
 * code; the few driver results with no runtime twin become cudaErrorUnknown.
 */
int vcuda_cu_to_cudart(int r)
{
	if (errors_find(cudart_errors, NELEM(cudart_errors), r) >= 0)
		return r;
	return 999;
}
