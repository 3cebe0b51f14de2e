/* The CPU device's arrays, texture and surface objects (texture.c). */
#ifndef VCUDA_EMU_TEXTURE_H
#define VCUDA_EMU_TEXTURE_H

#include <stddef.h>
#include <stdint.h>

#include <cuda.h>

#define EMU_ARRAY_MAGIC	  0x76617272u /* "varr" */
#define EMU_ARRAY_MAX_DIM 65536u      /* each of width, height, depth or layers */

/* An array: device memory of slices of rows of elements, laid out linearly. */
struct CUarray_st {
	uint32_t magic;
	CUDA_ARRAY3D_DESCRIPTOR d;
	CUdeviceptr mem;
	size_t elem;   /* bytes an element (all channels) */
	size_t pitch;  /* bytes a row: Width * elem */
	size_t rows;   /* rows a slice: Height, or 1 */
	size_t slices; /* Depth (or layers), or 1 */
};

/* A texture or surface object. */
struct emu_tex {
	int live, surf;
	uint32_t gen;
	/* What it reads. */
	CUdeviceptr base;
	size_t pitch, slice, elem;
	size_t width, height, depth, layers;
	int dims, layered, linear;
	CUarray_format fmt;
	unsigned nch;
	/* How. */
	int am[3], filter;
	unsigned flags;
	float border[4];
	CUDA_RESOURCE_DESC res;
	CUDA_TEXTURE_DESC desc;
};

/* Bytes a channel of format f, or 0 for a format the CPU device lacks. */
size_t emu_format_size(CUarray_format f);
int emu_array_valid(CUarray a);

/* The live object of handle h (a surface when surf), or NULL. */
const struct emu_tex *emu_tex_get(uint64_t h, int surf);

/*
 * One texture fetch: coordinates coord (floats) or icoord (integers, when
 * is_int), layer for layered textures; gather 0 for tex, or 1 + the
 * component for tld4. out gets four 32-bit values: floats, or integers
 * when out_int. 0, or -1 if the memory behind the texture is gone.
 */
int emu_tex_fetch(const struct emu_tex *t, const float coord[3], const int32_t icoord[3],
		  int is_int, long layer, int gather, uint64_t out[4], int out_int);

/* Surface boundary modes (suld/sust .trap, .clamp, .zero). */
enum { EMU_SURF_TRAP, EMU_SURF_CLAMP, EMU_SURF_ZERO };

/* The host address of size bytes at byte xbytes of row y, slice z, layer
 * layer of surface t; NULL with *out_of_range set when outside it (after
 * clamping, in clamp mode), or NULL alone if its memory is gone. */
uint8_t *emu_surf_at(const struct emu_tex *t, int64_t xbytes, int64_t y, int64_t z, int64_t layer,
		     unsigned size, int mode, int *out_of_range);

#endif
