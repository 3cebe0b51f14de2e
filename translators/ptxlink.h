/* Linking the PTX of objects built with nvcc -rdc=true into one module
 * (ptxlink.c). */
#ifndef VCUDA_PTXLINK_H
#define VCUDA_PTXLINK_H

#include <stddef.h>

/* Links the n PTX texts into one, in a malloc()ed string in *out. 0, or
 * VCUDA_E_PROTO (why says what) or VCUDA_E_NOMEM. */
int vcuda_ptx_link(const char *const *texts, size_t n, char **out, char *why, size_t why_len);

#endif
