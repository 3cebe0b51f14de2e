/*
 * The CPU device's run-time linker (cuLinkCreate, cuLinkAddData,
 * cuLinkAddFile, cuLinkComplete, cuLinkDestroy): PTX, and the PTX of fat
 * binaries, linked by name into one module (translators/ptxlink.c), which
 * cuModuleLoadData then takes. Machine code (cubins, host objects and
 * libraries) is refused, saying so, as the device runs PTX only.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"
#include "fatbin.h"
#include "ptx.h"
#include "ptxlink.h"

#define LINK_MAX_INPUTS	  1024
#define PTX_MAX_LINK_TEXT PTX_MAX_TEXT

struct link_state {
	uint32_t magic;
	char **texts;
	size_t n;
	char *out;
	char *error_log; /* the caller's CU_JIT_ERROR_LOG_BUFFER, if any */
	size_t error_log_len;
};

#define LINK_MAGIC 0x766c6e6bu /* "vlnk" */

static struct link_state *link_get(CUlinkState s)
{
	struct link_state *l = (struct link_state *)s;

	return l && l->magic == LINK_MAGIC ? l : NULL;
}

static void link_log(struct link_state *l, const char *fmt, const char *what)
{
	if (l->error_log && l->error_log_len)
		snprintf(l->error_log, l->error_log_len, fmt, what);
}

CUresult cuLinkCreate(unsigned int n, CUjit_option *options, void **values, CUlinkState *out)
{
	struct link_state *l;
	struct CUctx_st *ctx;
	CUresult rc = emu_ctx_require(&ctx);

	if (rc)
		return rc;
	if (!out || (n && (!options || !values)))
		return CUDA_ERROR_INVALID_VALUE;
	if (!(l = calloc(1, sizeof(*l))))
		return CUDA_ERROR_OUT_OF_MEMORY;
	l->magic = LINK_MAGIC;
	for (unsigned i = 0; i < n; i++) {
		if (options[i] == CU_JIT_ERROR_LOG_BUFFER)
			l->error_log = values[i];
		else if (options[i] == CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES)
			l->error_log_len = (size_t)(uintptr_t)values[i];
	}
	*out = (CUlinkState)l;
	return CUDA_SUCCESS;
}

/* Adds the PTX of one input. */
static CUresult link_add(struct link_state *l, CUjitInputType type, const void *data, size_t size,
			 const char *name)
{
	char *text = NULL, why[256];

	if (l->n >= LINK_MAX_INPUTS)
		return CUDA_ERROR_OUT_OF_MEMORY;
	if (type == CU_JIT_INPUT_PTX) {
		size_t len = strnlen(data, size);
		if (!(text = malloc(len + 1)))
			return CUDA_ERROR_OUT_OF_MEMORY;
		memcpy(text, data, len);
		text[len] = 0;
	} else if (type == CU_JIT_INPUT_FATBINARY) {
		struct vcuda_fatbin fb;
		const struct vcuda_fatbin_entry *e;
		size_t len;
		if (vcuda_fatbin_parse(data, size, &fb, why, sizeof(why)) != 0) {
			link_log(l, "%s", why);
			return CUDA_ERROR_INVALID_IMAGE;
		}
		e = vcuda_fatbin_best_ptx(&fb, (unsigned)emu.dev.cc);
		if (!e || vcuda_fatbin_extract(e, PTX_MAX_LINK_TEXT, (uint8_t **)&text, &len, why,
					       sizeof(why)) != 0) {
			vcuda_fatbin_free(&fb);
			link_log(l, "%s: no PTX the CPU device can run",
				 name ? name : "fat binary");
			return CUDA_ERROR_NO_BINARY_FOR_GPU;
		}
		vcuda_fatbin_free(&fb);
	} else {
		link_log(l, "%s: machine code; vcuda's CPU device links PTX only",
			 name ? name : "input");
		return CUDA_ERROR_NO_BINARY_FOR_GPU;
	}
	char **grown = realloc(l->texts, (l->n + 1) * sizeof(*grown));
	if (!grown) {
		free(text);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	l->texts = grown;
	l->texts[l->n++] = text;
	return CUDA_SUCCESS;
}

CUresult cuLinkAddData(CUlinkState state, CUjitInputType type, void *data, size_t size,
		       const char *name, unsigned int n, CUjit_option *options, void **values)
{
	struct link_state *l = link_get(state);

	(void)n;
	(void)options;
	(void)values;
	if (!l)
		return CUDA_ERROR_INVALID_HANDLE;
	if (!data || !size)
		return CUDA_ERROR_INVALID_VALUE;
	return link_add(l, type, data, size, name);
}

CUresult cuLinkAddFile(CUlinkState state, CUjitInputType type, const char *path, unsigned int n,
		       CUjit_option *options, void **values)
{
	struct link_state *l = link_get(state);
	FILE *f;
	long len;
	char *buf;
	CUresult rc;

	(void)n;
	(void)options;
	(void)values;
	if (!l)
		return CUDA_ERROR_INVALID_HANDLE;
	if (!path)
		return CUDA_ERROR_INVALID_VALUE;
	if (!(f = fopen(path, "rb")))
		return CUDA_ERROR_FILE_NOT_FOUND;
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) <= 0 || len > (long)PTX_MAX_LINK_TEXT ||
	    fseek(f, 0, SEEK_SET) != 0 || !(buf = malloc((size_t)len + 1))) {
		fclose(f);
		return CUDA_ERROR_INVALID_VALUE;
	}
	if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fclose(f);
		free(buf);
		return CUDA_ERROR_FILE_NOT_FOUND;
	}
	fclose(f);
	buf[len] = 0;
	rc = link_add(l, type, buf, (size_t)len + 1, path);
	free(buf);
	return rc;
}

CUresult cuLinkComplete(CUlinkState state, void **image, size_t *size)
{
	struct link_state *l = link_get(state);
	char why[256];

	if (!l)
		return CUDA_ERROR_INVALID_HANDLE;
	if (!image || !size || !l->n)
		return CUDA_ERROR_INVALID_VALUE;
	free(l->out);
	l->out = NULL;
	if (vcuda_ptx_link((const char *const *)l->texts, l->n, &l->out, why, sizeof(why)) != 0) {
		link_log(l, "%s", why);
		return CUDA_ERROR_INVALID_PTX;
	}
	*image = l->out;
	*size = strlen(l->out) + 1;
	return CUDA_SUCCESS;
}

CUresult cuLinkDestroy(CUlinkState state)
{
	struct link_state *l = link_get(state);

	if (!l)
		return CUDA_ERROR_INVALID_HANDLE;
	for (size_t i = 0; i < l->n; i++)
		free(l->texts[i]);
	free(l->texts);
	free(l->out);
	l->magic = 0;
	free(l);
	return CUDA_SUCCESS;
}
