/*
 * The CPU device: CUDA arrays, texture objects and surface objects, and
 * the texel arithmetic the interpreter's tex, tld4, suld and sust use.
 *
 * An array is ordinary device memory laid out linearly (rows of width
 * elements, rows * slices of them), so copies reach it as pitched memory.
 * A texture or surface object is a slot of a fixed table; its handle is
 * the slot number and the slot's generation, so a stale or forged handle
 * is refused. Filtering follows the CUDA programming guide's texture
 * fetching appendix: linear filtering of x - 0.5 between texels i and i+1
 * with the fraction kept as 9-bit fixed point (8 fractional bits).
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"
#include "exec_int.h"
#include "kernels.h"
#include "texture.h"

#define TEX_SLOTS 16384u

static struct emu_tex *tex_slots[TEX_SLOTS];
static uint32_t tex_used;

/* ---- arrays ---------------------------------------------------------------------------- */

size_t emu_format_size(CUarray_format f)
{
	return vcuda_array_format_size((unsigned)f);
}

int emu_array_valid(CUarray a)
{
	return a && a->magic == EMU_ARRAY_MAGIC;
}

CUresult cuArray3DCreate(CUarray *out, const CUDA_ARRAY3D_DESCRIPTOR *d)
{
	struct CUctx_st *ctx;
	struct CUarray_st *a;
	size_t elem, rows, slices, bytes;
	CUresult rc = emu_ctx_require(&ctx);

	if (rc)
		return rc;
	if (!out || !d)
		return CUDA_ERROR_INVALID_VALUE;
	elem = emu_format_size(d->Format);
	if (!elem || (d->NumChannels != 1 && d->NumChannels != 2 && d->NumChannels != 4) ||
	    !d->Width || d->Width > EMU_ARRAY_MAX_DIM || d->Height > EMU_ARRAY_MAX_DIM ||
	    d->Depth > EMU_ARRAY_MAX_DIM ||
	    (d->Depth && !d->Height && !(d->Flags & CUDA_ARRAY3D_LAYERED)))
		return CUDA_ERROR_INVALID_VALUE;
	/* Cubemaps, texture gather arrays, sparse and the rest: not here. */
	if (d->Flags & ~(unsigned)(CUDA_ARRAY3D_LAYERED | CUDA_ARRAY3D_SURFACE_LDST))
		return CUDA_ERROR_NOT_SUPPORTED;
	elem *= d->NumChannels;
	rows = d->Height ? d->Height : 1;
	slices = d->Depth ? d->Depth : 1;
	if (__builtin_mul_overflow(d->Width, elem, &bytes) ||
	    __builtin_mul_overflow(bytes, rows, &bytes) ||
	    __builtin_mul_overflow(bytes, slices, &bytes))
		return CUDA_ERROR_INVALID_VALUE;
	if (!(a = calloc(1, sizeof(*a))))
		return CUDA_ERROR_OUT_OF_MEMORY;
	if ((rc = cuMemAlloc(&a->mem, bytes)) != CUDA_SUCCESS) {
		free(a);
		return rc;
	}
	/* Arrays start zeroed, as fresh device memory reads here. */
	memset(emu_dev_to_host(a->mem, bytes), 0, bytes);
	a->magic = EMU_ARRAY_MAGIC;
	a->d = *d;
	a->elem = elem;
	a->pitch = d->Width * elem;
	a->rows = rows;
	a->slices = slices;
	*out = a;
	return CUDA_SUCCESS;
}

CUresult cuArrayCreate(CUarray *out, const CUDA_ARRAY_DESCRIPTOR *d)
{
	CUDA_ARRAY3D_DESCRIPTOR d3 = {0};

	if (!d)
		return CUDA_ERROR_INVALID_VALUE;
	d3.Width = d->Width;
	d3.Height = d->Height;
	d3.Format = d->Format;
	d3.NumChannels = d->NumChannels;
	return cuArray3DCreate(out, &d3);
}

CUresult cuArrayDestroy(CUarray a)
{
	CUresult rc = emu_check_init();

	if (rc)
		return rc;
	if (!emu_array_valid(a))
		return CUDA_ERROR_INVALID_HANDLE;
	a->magic = 0;
	rc = cuMemFree(a->mem);
	free(a);
	return rc;
}

CUresult cuArray3DGetDescriptor(CUDA_ARRAY3D_DESCRIPTOR *d, CUarray a)
{
	if (!d)
		return CUDA_ERROR_INVALID_VALUE;
	if (!emu_array_valid(a))
		return CUDA_ERROR_INVALID_HANDLE;
	*d = a->d;
	return CUDA_SUCCESS;
}

CUresult cuArrayGetDescriptor(CUDA_ARRAY_DESCRIPTOR *d, CUarray a)
{
	if (!d)
		return CUDA_ERROR_INVALID_VALUE;
	if (!emu_array_valid(a))
		return CUDA_ERROR_INVALID_HANDLE;
	if (a->d.Depth)
		return CUDA_ERROR_INVALID_VALUE; /* a 3D array: cuArray3DGetDescriptor */
	d->Width = a->d.Width;
	d->Height = a->d.Height;
	d->Format = a->d.Format;
	d->NumChannels = a->d.NumChannels;
	return CUDA_SUCCESS;
}

/* ---- texture and surface objects --------------------------------------------------------- */

/* Fills t's resource from r. */
static CUresult tex_resource(struct emu_tex *t, const CUDA_RESOURCE_DESC *r)
{
	const struct CUarray_st *a;

	switch (r->resType) {
	case CU_RESOURCE_TYPE_ARRAY:
		a = r->res.array.hArray;
		if (!emu_array_valid(r->res.array.hArray))
			return CUDA_ERROR_INVALID_HANDLE;
		t->base = a->mem;
		t->fmt = a->d.Format;
		t->nch = a->d.NumChannels;
		t->pitch = a->pitch;
		t->width = a->d.Width;
		t->height = a->rows;
		t->layered = (a->d.Flags & CUDA_ARRAY3D_LAYERED) != 0;
		t->dims = a->d.Depth && !t->layered ? 3 : a->d.Height ? 2 : 1;
		t->depth = t->dims == 3 ? a->slices : 1;
		t->layers = t->layered ? a->slices : 1;
		if (t->layered && t->dims == 1) { /* a 1D layered array keeps layers as rows */
			t->height = 1;
			t->layers = a->slices;
		}
		t->slice = a->pitch * a->rows;
		break;
	case CU_RESOURCE_TYPE_LINEAR:
		t->fmt = r->res.linear.format;
		t->nch = r->res.linear.numChannels;
		if (!emu_format_size(t->fmt) || (t->nch != 1 && t->nch != 2 && t->nch != 4))
			return CUDA_ERROR_INVALID_VALUE;
		t->base = r->res.linear.devPtr;
		t->width = r->res.linear.sizeInBytes / (emu_format_size(t->fmt) * t->nch);
		t->height = t->depth = t->layers = 1;
		t->pitch = t->slice = r->res.linear.sizeInBytes;
		t->dims = 1;
		t->linear = 1;
		if (!t->width || !emu_dev_to_host(t->base, r->res.linear.sizeInBytes))
			return CUDA_ERROR_INVALID_VALUE;
		break;
	case CU_RESOURCE_TYPE_PITCH2D:
		t->fmt = r->res.pitch2D.format;
		t->nch = r->res.pitch2D.numChannels;
		if (!emu_format_size(t->fmt) || (t->nch != 1 && t->nch != 2 && t->nch != 4))
			return CUDA_ERROR_INVALID_VALUE;
		t->base = r->res.pitch2D.devPtr;
		t->width = r->res.pitch2D.width;
		t->height = r->res.pitch2D.height;
		t->pitch = r->res.pitch2D.pitchInBytes;
		t->depth = t->layers = 1;
		t->slice = t->pitch * t->height;
		t->dims = 2;
		if (!t->width || !t->height ||
		    t->pitch < t->width * emu_format_size(t->fmt) * t->nch ||
		    !emu_dev_to_host(t->base, t->pitch * (t->height - 1) +
						  t->width * emu_format_size(t->fmt) * t->nch))
			return CUDA_ERROR_INVALID_VALUE;
		break;
	default: /* mipmapped arrays */
		return CUDA_ERROR_NOT_SUPPORTED;
	}
	t->elem = emu_format_size(t->fmt) * t->nch;
	return CUDA_SUCCESS;
}

static CUresult tex_store(struct emu_tex *t, unsigned long long *out)
{
	pthread_mutex_lock(&emu.lock);
	for (uint32_t i = 0; i < TEX_SLOTS; i++) {
		uint32_t k = (tex_used + i) % TEX_SLOTS;
		struct emu_tex *s = tex_slots[k];
		if (s && s->live)
			continue;
		if (!s && !(s = tex_slots[k] = calloc(1, sizeof(*s)))) {
			pthread_mutex_unlock(&emu.lock);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
		t->gen = s->gen + 1;
		t->live = 1;
		*s = *t; /* slots are never freed: a kernel may still read one */
		tex_used = k + 1;
		*out = (uint64_t)t->gen << 32 | (k + 1);
		pthread_mutex_unlock(&emu.lock);
		return CUDA_SUCCESS;
	}
	pthread_mutex_unlock(&emu.lock);
	return CUDA_ERROR_OUT_OF_MEMORY;
}

const struct emu_tex *emu_tex_get(uint64_t h, int surf)
{
	uint32_t k = (uint32_t)h;
	const struct emu_tex *t;

	if (!k || k > TEX_SLOTS || !(t = __atomic_load_n(&tex_slots[k - 1], __ATOMIC_ACQUIRE)))
		return NULL;
	if (!t->live || t->gen != (uint32_t)(h >> 32) || t->surf != surf)
		return NULL;
	return t;
}

static CUresult tex_destroy(uint64_t h, int surf)
{
	CUresult rc = CUDA_ERROR_INVALID_VALUE;
	uint32_t k = (uint32_t)h;

	pthread_mutex_lock(&emu.lock);
	if (emu_tex_get(h, surf)) {
		tex_slots[k - 1]->live = 0;
		rc = CUDA_SUCCESS;
	}
	pthread_mutex_unlock(&emu.lock);
	return rc;
}

CUresult cuTexObjectCreate(CUtexObject *out, const CUDA_RESOURCE_DESC *r,
			   const CUDA_TEXTURE_DESC *d, const CUDA_RESOURCE_VIEW_DESC *v)
{
	struct emu_tex t = {0};
	struct CUctx_st *ctx;
	CUresult rc = emu_ctx_require(&ctx);

	if (rc)
		return rc;
	if (!out || !r || !d)
		return CUDA_ERROR_INVALID_VALUE;
	if (v)
		return CUDA_ERROR_NOT_SUPPORTED; /* resource views */
	if ((rc = tex_resource(&t, r)) != CUDA_SUCCESS)
		return rc;
	for (int i = 0; i < 3; i++) {
		if ((unsigned)d->addressMode[i] > CU_TR_ADDRESS_MODE_BORDER)
			return CUDA_ERROR_INVALID_VALUE;
		t.am[i] = d->addressMode[i];
	}
	if ((unsigned)d->filterMode > CU_TR_FILTER_MODE_LINEAR)
		return CUDA_ERROR_INVALID_VALUE;
	t.filter = d->filterMode;
	t.flags = d->flags;
	/* Linear filtering returns floats: not for integers read as such. */
	if (t.filter == CU_TR_FILTER_MODE_LINEAR &&
	    (t.linear || ((t.flags & CU_TRSF_READ_AS_INTEGER) && t.fmt != CU_AD_FORMAT_FLOAT &&
			  t.fmt != CU_AD_FORMAT_HALF)))
		return CUDA_ERROR_INVALID_VALUE;
	memcpy(t.border, d->borderColor, sizeof(t.border));
	t.res = *r;
	t.desc = *d;
	return tex_store(&t, out);
}

CUresult cuTexObjectDestroy(CUtexObject h)
{
	CUresult rc = emu_check_init();

	return rc ? rc : tex_destroy(h, 0);
}

CUresult cuTexObjectGetResourceDesc(CUDA_RESOURCE_DESC *r, CUtexObject h)
{
	const struct emu_tex *t = emu_tex_get(h, 0);

	if (!r || !t)
		return CUDA_ERROR_INVALID_VALUE;
	*r = t->res;
	return CUDA_SUCCESS;
}

CUresult cuTexObjectGetTextureDesc(CUDA_TEXTURE_DESC *d, CUtexObject h)
{
	const struct emu_tex *t = emu_tex_get(h, 0);

	if (!d || !t)
		return CUDA_ERROR_INVALID_VALUE;
	*d = t->desc;
	return CUDA_SUCCESS;
}

CUresult cuSurfObjectCreate(CUsurfObject *out, const CUDA_RESOURCE_DESC *r)
{
	struct emu_tex t = {0};
	struct CUctx_st *ctx;
	CUresult rc = emu_ctx_require(&ctx);

	if (rc)
		return rc;
	if (!out || !r || r->resType != CU_RESOURCE_TYPE_ARRAY)
		return CUDA_ERROR_INVALID_VALUE;
	if ((rc = tex_resource(&t, r)) != CUDA_SUCCESS)
		return rc;
	if (!(r->res.array.hArray->d.Flags & CUDA_ARRAY3D_SURFACE_LDST))
		return CUDA_ERROR_INVALID_VALUE; /* made without surface load/store */
	t.surf = 1;
	t.res = *r;
	return tex_store(&t, out);
}

CUresult cuSurfObjectDestroy(CUsurfObject h)
{
	CUresult rc = emu_check_init();

	return rc ? rc : tex_destroy(h, 1);
}

CUresult cuSurfObjectGetResourceDesc(CUDA_RESOURCE_DESC *r, CUsurfObject h)
{
	const struct emu_tex *t = emu_tex_get(h, 1);

	if (!r || !t)
		return CUDA_ERROR_INVALID_VALUE;
	*r = t->res;
	return CUDA_SUCCESS;
}

/* ---- texel arithmetic --------------------------------------------------------------------- */

/* Index i along an axis of n texels under address mode am; -1 for a texel
 * of the border. */
static long tex_address(long i, long n, int am)
{
	long p;

	switch (am) {
	case CU_TR_ADDRESS_MODE_WRAP:
		return ((i % n) + n) % n;
	case CU_TR_ADDRESS_MODE_MIRROR:
		p = ((i % (2 * n)) + 2 * n) % (2 * n);
		return p < n ? p : 2 * n - 1 - p;
	case CU_TR_ADDRESS_MODE_BORDER:
		return i < 0 || i >= n ? -1 : i;
	default: /* clamp */
		return i < 0 ? 0 : i >= n ? n - 1 : i;
	}
}

/* One channel of a texel as a float (normalized integers when the read
 * mode says so) or as its integer bits. */
static float tex_channel_float(const struct emu_tex *t, const uint8_t *p, int c)
{
	int norm = !(t->flags & CU_TRSF_READ_AS_INTEGER);

	switch (t->fmt) {
	case CU_AD_FORMAT_UNSIGNED_INT8:
		return norm ? p[c] / 255.0f : (float)p[c];
	case CU_AD_FORMAT_SIGNED_INT8: {
		float v = (float)(int8_t)p[c];
		return norm ? fmaxf(v / 127.0f, -1.0f) : v;
	}
	case CU_AD_FORMAT_UNSIGNED_INT16: {
		uint16_t v;
		memcpy(&v, p + 2 * c, 2);
		return norm ? v / 65535.0f : (float)v;
	}
	case CU_AD_FORMAT_SIGNED_INT16: {
		int16_t v;
		memcpy(&v, p + 2 * c, 2);
		return norm ? fmaxf(v / 32767.0f, -1.0f) : (float)v;
	}
	case CU_AD_FORMAT_HALF: {
		uint16_t v;
		memcpy(&v, p + 2 * c, 2);
		return emu_half_to_float(v);
	}
	case CU_AD_FORMAT_FLOAT: {
		float v;
		memcpy(&v, p + 4 * c, 4);
		return v;
	}
	default: { /* 32-bit integers are never normalized */
		int32_t v;
		memcpy(&v, p + 4 * c, 4);
		return t->fmt == CU_AD_FORMAT_UNSIGNED_INT32 ? (float)(uint32_t)v : (float)v;
	}
	}
}

static uint32_t tex_channel_int(const struct emu_tex *t, const uint8_t *p, int c)
{
	switch (t->fmt) {
	case CU_AD_FORMAT_UNSIGNED_INT8:
		return p[c];
	case CU_AD_FORMAT_SIGNED_INT8:
		return (uint32_t)(int32_t)(int8_t)p[c];
	case CU_AD_FORMAT_UNSIGNED_INT16:
	case CU_AD_FORMAT_SIGNED_INT16:
	case CU_AD_FORMAT_HALF: {
		uint16_t v;
		memcpy(&v, p + 2 * c, 2);
		return t->fmt == CU_AD_FORMAT_SIGNED_INT16 ? (uint32_t)(int32_t)(int16_t)v : v;
	}
	default: {
		uint32_t v;
		memcpy(&v, p + 4 * c, 4);
		return v;
	}
	}
}

/* The address of texel (x, y, z) of layer l, all in range; NULL if the
 * memory behind it is gone. */
static const uint8_t *tex_at(const struct emu_tex *t, long x, long y, long z, long l)
{
	uint64_t a =
	    t->base + (uint64_t)(z + l) * t->slice + (uint64_t)y * t->pitch + (uint64_t)x * t->elem;

	return emu_dev_span(a, t->elem);
}

/* Texel (x, y, z) after addressing, into v as floats; 0, or -1 if its
 * memory is gone. */
static int tex_texel_f(const struct emu_tex *t, long x, long y, long z, long l, float v[4])
{
	long n[3] = {(long)t->width, (long)t->height, (long)t->depth}, c[3] = {x, y, z};
	const uint8_t *p;

	for (int i = 0; i < t->dims; i++)
		if ((c[i] = tex_address(c[i], n[i], t->am[i])) < 0) {
			memcpy(v, t->border, 4 * sizeof(float));
			return 0;
		}
	if (!(p = tex_at(t, c[0], t->dims > 1 ? c[1] : 0, t->dims > 2 ? c[2] : 0, l)))
		return -1;
	for (int i = 0; i < 4; i++)
		v[i] = i < (int)t->nch ? tex_channel_float(t, p, i) : i == 3 ? 1.0f : 0.0f;
	return 0;
}

/* The 9-bit fixed-point weight of a fraction (8 fractional bits). */
static float tex_weight(float f)
{
	return roundf(f * 256.0f) / 256.0f;
}

int emu_tex_fetch(const struct emu_tex *t, const float coord[3], const int32_t icoord[3],
		  int is_int, long layer, int gather, uint64_t out[4], int out_int)
{
	long n[3] = {(long)t->width, (long)t->height, (long)t->depth};
	float u[3], v[4] = {0}, tx[4];
	int d = t->dims;

	layer = !t->layered		   ? 0
		: layer < 0		   ? 0
		: layer >= (long)t->layers ? (long)t->layers - 1
					   : layer;
	for (int i = 0; i < 3; i++)
		u[i] = i >= d					     ? 0.0f
		       : (t->flags & CU_TRSF_NORMALIZED_COORDINATES) ? coord[i] * (float)n[i]
								     : coord[i];
	if (!gather && (is_int || t->filter == CU_TR_FILTER_MODE_POINT)) {
		/* One texel. */
		long c[3];
		const uint8_t *p;
		for (int i = 0; i < 3; i++)
			c[i] = i >= d ? 0 : is_int ? icoord[i] : (long)floorf(u[i]);
		for (int i = 0; i < d; i++) {
			/* tex1Dfetch reads zero outside its memory. */
			long a = t->linear && (c[i] < 0 || c[i] >= n[i])
				     ? -2
				     : tex_address(c[i], n[i], t->am[i]);
			if (a < 0) {
				for (int k = 0; k < 4; k++)
					out[k] = a == -2 ? 0
						 : out_int
						     ? (uint64_t)(uint32_t)(int32_t)t->border[k]
						     : (uint64_t)bf32(t->border[k]);
				return 0;
			}
			c[i] = a;
		}
		if (!(p = tex_at(t, c[0], c[1], c[2], layer)))
			return -1;
		for (int i = 0; i < 4; i++)
			out[i] = i >= (int)t->nch
				     ? (out_int ? (i == 3) : bf32(i == 3 ? 1.0f : 0.0f))
				 : out_int ? tex_channel_int(t, p, i)
					   : bf32(tex_channel_float(t, p, i));
		return 0;
	}
	{
		/* Linear filtering, or tld4's footprint: texels i and i + 1 on
		 * each axis around x - 0.5. */
		long i0[3] = {0, 0, 0};
		float w[3] = {0, 0, 0};
		for (int k = 0; k < d; k++) {
			float b = u[k] - 0.5f;
			i0[k] = (long)floorf(b);
			w[k] = tex_weight(b - floorf(b));
		}
		if (gather) { /* the four texels' component, no weights */
			static const int order[4][2] = {{0, 1}, {1, 1}, {1, 0}, {0, 0}};
			for (int q = 0; q < 4; q++) {
				if (tex_texel_f(t, i0[0] + order[q][0], i0[1] + order[q][1], 0,
						layer, tx) != 0)
					return -1;
				v[q] = tx[gather - 1];
			}
		} else {
			for (int cnr = 0; cnr < 1 << d; cnr++) {
				float wt = 1.0f;
				long c[3] = {i0[0], i0[1], i0[2]};
				for (int k = 0; k < d; k++) {
					int hi = (cnr >> k) & 1;
					c[k] += hi;
					wt *= hi ? w[k] : 1.0f - w[k];
				}
				if (tex_texel_f(t, c[0], c[1], c[2], layer, tx) != 0)
					return -1;
				for (int i = 0; i < 4; i++)
					v[i] += wt * tx[i];
			}
		}
	}
	for (int i = 0; i < 4; i++)
		out[i] = out_int ? (uint64_t)(uint32_t)(int32_t)v[i] : bf32(v[i]);
	return 0;
}

uint8_t *emu_surf_at(const struct emu_tex *t, int64_t xbytes, int64_t y, int64_t z, int64_t layer,
		     unsigned size, int mode, int *out_of_range)
{
	int64_t wb = (int64_t)(t->width * t->elem),
		n[3] = {wb, (int64_t)t->height, (int64_t)t->depth};
	int64_t c[3] = {xbytes, y, z};
	uint64_t a;

	*out_of_range = 0;
	if (t->layered) {
		if (layer < 0 || layer >= (int64_t)t->layers) {
			*out_of_range = 1;
			return NULL;
		}
	} else {
		layer = 0;
	}
	for (int i = 0; i < t->dims; i++) {
		int64_t hi = i == 0 ? n[0] - (int64_t)size : n[i] - 1;
		if (c[i] >= 0 && c[i] <= hi)
			continue;
		if (mode != EMU_SURF_CLAMP || hi < 0) {
			*out_of_range = 1;
			return NULL;
		}
		c[i] = c[i] < 0 ? 0 : hi;
	}
	if (t->dims < 2)
		c[1] = 0;
	if (t->dims < 3)
		c[2] = 0;
	a = t->base + (uint64_t)(c[2] + layer) * t->slice + (uint64_t)c[1] * t->pitch +
	    (uint64_t)c[0];
	return emu_dev_span(a, size);
}

/* ---- the instructions ----------------------------------------------------------------------- */

/* The object named by an instruction's address operand o, for a lane. */
static uint64_t tex_handle(const struct xctx *X, const struct ptx_operand *o, int lane)
{
	return X->F->R[o->base * 32 + lane] + (uint64_t)o->imm;
}

/* Register r (a vector element) of lane, or the value 0 for an unused
 * element ("_"). */
static uint64_t tex_vec_get(const struct xctx *X, const struct ptx_operand *v, int i, int lane)
{
	return i < v->nvec && v->vec[i] >= 0 ? X->F->R[v->vec[i] * 32 + lane] : 0;
}

static void tex_vec_set(const struct xctx *X, const struct ptx_operand *v, int i, int lane,
			uint64_t value)
{
	if (v->kind == OK_REG && i == 0)
		X->F->R[v->reg * 32 + lane] = value;
	else if (v->kind == OK_VEC && i < v->nvec && v->vec[i] >= 0)
		X->F->R[v->vec[i] * 32 + lane] = value;
}

int emu_do_tex(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	int g = in->sub2 & 0x7f, layered = g == TEXG_A1D || g == TEXG_A2D;
	int dims = g == TEXG_A1D ? 1 : g == TEXG_A2D ? 2 : g;
	int is_int = PTX_KIND(in->type2) != PK_F, out_int = PTX_KIND(in->type) != PK_F;
	int gather = in->op == OP_TLD4 ? in->sub : 0;

	LANES(m)
	{
		uint64_t h = tex_handle(X, &in->o[1], (int)l), out[4];
		const struct emu_tex *t = emu_tex_get(h, 0);
		float f[3] = {0, 0, 0};
		int32_t iv[3] = {0, 0, 0};
		long layer = layered ? (long)(int32_t)tex_vec_get(X, &in->o[2], 0, (int)l) : 0;
		if (!t) {
			emu_exec_fail(X->B, in, CUDA_ERROR_ILLEGAL_ADDRESS,
				      "%#llx is no live texture object", (unsigned long long)h);
			return -1;
		}
		for (int i = 0; i < dims; i++) {
			uint64_t v = tex_vec_get(X, &in->o[2], i + layered, (int)l);
			f[i] = f32(v);
			iv[i] = (int32_t)v;
		}
		if (emu_tex_fetch(t, f, iv, is_int, layer, gather, out, out_int) != 0) {
			emu_exec_fail(X->B, in, CUDA_ERROR_ILLEGAL_ADDRESS,
				      "the memory of texture object %#llx is gone",
				      (unsigned long long)h);
			return -1;
		}
		for (int i = 0; i < 4; i++)
			tex_vec_set(X, &in->o[0], i, (int)l, out[i]);
	}
	return 0;
}

/* suld and sust: the element's address for a lane; NULL when there is
 * none, with *skip set when the access is to be dropped (.zero). */
static uint8_t *surf_lane(const struct xctx *X, const struct ptx_insn *in,
			  const struct ptx_operand *obj, const struct ptx_operand *coord, int lane,
			  unsigned size, int *skip)
{
	int g = in->sub2 & 0x7f, layered = g == TEXG_A1D || g == TEXG_A2D;
	int dims = g == TEXG_A1D ? 1 : g == TEXG_A2D ? 2 : g;
	uint64_t h = tex_handle(X, obj, lane);
	const struct emu_tex *t = emu_tex_get(h, 1);
	int64_t c[3] = {0, 0, 0}, layer;
	int out_of_range;
	uint8_t *p;

	*skip = 0;
	if (!t) {
		emu_exec_fail(X->B, in, CUDA_ERROR_ILLEGAL_ADDRESS,
			      "%#llx is no live surface object", (unsigned long long)h);
		return NULL;
	}
	layer = layered ? (int32_t)tex_vec_get(X, coord, 0, lane) : 0;
	for (int i = 0; i < dims; i++)
		c[i] = (int32_t)tex_vec_get(X, coord, i + layered, lane);
	p = emu_surf_at(t, c[0], c[1], c[2], layer, size, in->cmp, &out_of_range);
	if (p)
		return p;
	if (out_of_range && in->cmp == EMU_SURF_ZERO) {
		*skip = 1;
		return NULL;
	}
	emu_exec_fail(X->B, in, CUDA_ERROR_ILLEGAL_ADDRESS,
		      "surface access at (%lld, %lld, %lld) outside surface object %#llx",
		      (long long)c[0], (long long)c[1], (long long)c[2], (unsigned long long)h);
	return NULL;
}

int emu_do_surf(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	int store = in->op == OP_SUST;
	unsigned esize = PTX_SIZE(in->type), n = in->vec ? in->vec : 1;
	const struct ptx_operand *obj = &in->o[store ? 0 : 1], *coord = &in->o[store ? 1 : 2],
				 *val = &in->o[store ? 2 : 0];

	LANES(m)
	{
		int skip;
		uint8_t *p = surf_lane(X, in, obj, coord, (int)l, esize * n, &skip);
		if (!p && !skip)
			return -1;
		for (unsigned i = 0; i < n; i++) {
			uint64_t v = 0;
			if (store) {
				if (skip)
					break;
				v = val->kind == OK_REG ? X->F->R[val->reg * 32 + l]
							: tex_vec_get(X, val, (int)i, (int)l);
				memcpy(p + i * esize, &v, esize); /* little-endian: the low bytes */
			} else {
				if (!skip)
					memcpy(&v, p + i * esize, esize);
				tex_vec_set(X, val, (int)i, (int)l, v);
			}
		}
	}
	return 0;
}

int emu_do_txq(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	LANES(m)
	{
		uint64_t h = tex_handle(X, &in->o[1], (int)l), v = 0;
		const struct emu_tex *t = emu_tex_get(h, in->op == OP_SUQ);
		if (!t) {
			emu_exec_fail(X->B, in, CUDA_ERROR_ILLEGAL_ADDRESS,
				      "%#llx is no live texture or surface object",
				      (unsigned long long)h);
			return -1;
		}
		switch (in->sub) {
		case TXQ_WIDTH:
			v = t->width;
			break;
		case TXQ_HEIGHT:
			v = t->height;
			break;
		case TXQ_DEPTH:
			v = t->depth;
			break;
		case TXQ_ARRAY_SIZE:
			v = t->layered ? t->layers : 0;
			break;
		case TXQ_CHANNEL_DATA_TYPE:
			v = t->fmt;
			break;
		case TXQ_CHANNEL_ORDER:
			v = t->nch;
			break;
		case TXQ_NORMALIZED_COORDS:
			v = (t->flags & CU_TRSF_NORMALIZED_COORDINATES) != 0;
			break;
		case TXQ_FILTER_MODE:
			v = (uint64_t)t->filter;
			break;
		case TXQ_ADDR_MODE_0:
		case TXQ_ADDR_MODE_1:
		case TXQ_ADDR_MODE_2:
			v = (uint64_t)t->am[in->sub - TXQ_ADDR_MODE_0];
			break;
		case TXQ_NUM_MIPMAP_LEVELS:
			v = 1;
			break;
		default: /* samples: no multisample textures */
			v = 0;
			break;
		}
		set_reg(X, &in->o[0], (int)l, v);
	}
	return 0;
}
