/*
 * Runtime API: CUDA arrays, texture objects and surface objects. An array
 * lives on the server (ArrayCreate); the guest keeps its geometry to check
 * copies, which travel as pitched copies with the array on one side
 * (shim/pitched.c). A texture or surface object is made on the server,
 * which answers with the value kernels take; the guest remembers which
 * server handle each value has, to destroy it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <cuda.h>

#include "shim.h"

static pthread_mutex_t tx_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vcuda_rangemap arrays;  /* live arrays, by address; data: the array */
static struct vcuda_rangemap objects; /* texture and surface values; tag: server handle,
				       * data: their tx_obj */

/* What a texture or surface object was made from, for the queries. */
struct tx_obj {
	int device;
	struct cudaResourceDesc res;
	struct cudaTextureDesc tex;
};

/* ---- channel descriptions (cudaCreateChannelDesc: shim/device.c) ---------------------------- */

/* The driver's format and channel count of a description; 0, or -1 for
 * one CUDA arrays cannot hold (3 channels, mixed sizes, other kinds). */
static int tx_format(const struct cudaChannelFormatDesc *d, CUarray_format *fmt, unsigned *nch,
		     size_t *elem)
{
	int bits[4] = {d->x, d->y, d->z, d->w}, n = 0;

	for (int i = 0; i < 4; i++) {
		if (!bits[i])
			break;
		if (bits[i] != d->x)
			return -1;
		n++;
	}
	for (int i = n; i < 4; i++)
		if (bits[i])
			return -1;
	if (n != 1 && n != 2 && n != 4)
		return -1;
	switch (d->f) {
	case cudaChannelFormatKindSigned:
		*fmt = d->x == 8    ? CU_AD_FORMAT_SIGNED_INT8
		       : d->x == 16 ? CU_AD_FORMAT_SIGNED_INT16
		       : d->x == 32 ? CU_AD_FORMAT_SIGNED_INT32
				    : 0;
		break;
	case cudaChannelFormatKindUnsigned:
		*fmt = d->x == 8    ? CU_AD_FORMAT_UNSIGNED_INT8
		       : d->x == 16 ? CU_AD_FORMAT_UNSIGNED_INT16
		       : d->x == 32 ? CU_AD_FORMAT_UNSIGNED_INT32
				    : 0;
		break;
	case cudaChannelFormatKindFloat:
		*fmt = d->x == 16 ? CU_AD_FORMAT_HALF : d->x == 32 ? CU_AD_FORMAT_FLOAT : 0;
		break;
	default:
		*fmt = 0;
		break;
	}
	if (!*fmt)
		return -1;
	*nch = (unsigned)n;
	*elem = (size_t)(d->x / 8) * (size_t)n;
	return 0;
}

/* ---- arrays ----------------------------------------------------------------------------- */

int shim_array_valid(const struct cudaArray *a)
{
	int ok;

	if (!a)
		return 0;
	pthread_mutex_lock(&tx_lock);
	ok = vcuda_rangemap_find(&arrays, (uintptr_t)a) != NULL;
	pthread_mutex_unlock(&tx_lock);
	return ok;
}

static cudaError_t tx_array_create(cudaArray_t *out, const struct cudaChannelFormatDesc *desc,
				   struct cudaExtent ext, unsigned flags)
{
	Vcuda__ArrayCreate m = VCUDA__ARRAY_CREATE__INIT;
	Vcuda__Reply *rp = NULL;
	struct cudaArray *a;
	struct vcuda_range r;
	CUarray_format fmt;
	unsigned nch, f = 0;
	size_t elem;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!out || !desc || tx_format(desc, &fmt, &nch, &elem) != 0 || !ext.width ||
	    (ext.depth && !ext.height && !(flags & cudaArrayLayered)))
		return shim_ret(cudaErrorInvalidValue);
	if (flags &
	    ~(unsigned)(cudaArrayLayered | cudaArraySurfaceLoadStore | cudaArrayTextureGather))
		return shim_ret(cudaErrorNotSupported); /* cubemaps, sparse, deferred mapping */
	if (flags & cudaArrayLayered)
		f |= CUDA_ARRAY3D_LAYERED;
	if (flags & cudaArraySurfaceLoadStore)
		f |= CUDA_ARRAY3D_SURFACE_LDST;
	if (!(a = calloc(1, sizeof(*a))))
		return shim_ret(cudaErrorMemoryAllocation);
	m.format = fmt;
	m.channels = nch;
	m.width = ext.width;
	m.height = ext.height;
	m.depth = ext.depth;
	m.flags = f;
	SHIM_REQUEST(rq, ARRAY_CREATE, array_create, m);
	e = shim_call(&rq, NULL, 0, 0, NULL, 0, &rp);
	if (e == cudaSuccess && rp->ret_case != VCUDA__REPLY__RET_HANDLE)
		e = cudaErrorUnknown;
	if (e == cudaSuccess) {
		*a = (struct cudaArray){.id = rp->handle->handle,
					.device = shim_device,
					.desc = *desc,
					.extent = ext,
					.flags = flags,
					.elem = elem,
					.row_bytes = ext.width * elem,
					.rows = ext.height ? ext.height : 1,
					.slices = ext.depth ? ext.depth : 1};
		r = (struct vcuda_range){.base = (uintptr_t)a, .size = 1, .data = a};
		pthread_mutex_lock(&tx_lock);
		if (vcuda_rangemap_insert(&arrays, &r) != 0)
			e = cudaErrorMemoryAllocation;
		pthread_mutex_unlock(&tx_lock);
	}
	vcuda_client_reply_free(rp);
	if (e != cudaSuccess) {
		free(a);
		return shim_ret(e);
	}
	*out = a;
	return cudaSuccess;
}

cudaError_t cudaMallocArray(cudaArray_t *out, const struct cudaChannelFormatDesc *desc,
			    size_t width, size_t height, unsigned int flags)
{
	struct cudaExtent ext = {width, height, 0};

	return tx_array_create(out, desc, ext, flags);
}

cudaError_t cudaMalloc3DArray(cudaArray_t *out, const struct cudaChannelFormatDesc *desc,
			      struct cudaExtent ext, unsigned int flags)
{
	return tx_array_create(out, desc, ext, flags);
}

cudaError_t cudaFreeArray(cudaArray_t a)
{
	Vcuda__ArrayDestroy m = VCUDA__ARRAY_DESTROY__INIT;
	struct vcuda_range r;
	int known;
	cudaError_t e = shim_begin();

	if (e || !a)
		return shim_ret(e);
	pthread_mutex_lock(&tx_lock);
	known = vcuda_rangemap_remove(&arrays, (uintptr_t)a, &r) == 0;
	pthread_mutex_unlock(&tx_lock);
	if (!known)
		return shim_ret(cudaErrorInvalidValue);
	m.array = a->id;
	SHIM_REQUEST(rq, ARRAY_DESTROY, array_destroy, m);
	rq.device = a->device;
	e = shim_call(&rq, NULL, 0, 0, NULL, 0, NULL);
	free(a);
	return shim_ret(e);
}

cudaError_t cudaArrayGetInfo(struct cudaChannelFormatDesc *desc, struct cudaExtent *ext,
			     unsigned int *flags, cudaArray_t a)
{
	if (!shim_array_valid(a))
		return shim_ret(cudaErrorInvalidResourceHandle);
	if (desc)
		*desc = a->desc;
	if (ext)
		*ext = a->extent;
	if (flags)
		*flags = a->flags;
	return cudaSuccess;
}

cudaError_t cudaGetChannelDesc(struct cudaChannelFormatDesc *desc, cudaArray_const_t a)
{
	if (!desc)
		return shim_ret(cudaErrorInvalidValue);
	if (!shim_array_valid(a))
		return shim_ret(cudaErrorInvalidResourceHandle);
	*desc = a->desc;
	return cudaSuccess;
}

/* ---- copies to and from arrays ------------------------------------------------------------ */

/* A 3D copy: mode TX_ASYNC, TX_PER_THREAD (a _ptds/_ptsz entry point). */
#define TX_ASYNC      1
#define TX_PER_THREAD 2
static cudaError_t tx_copy3d(const struct cudaMemcpy3DParms *p, cudaStream_t s, int mode)
{
	switch (mode) {
	case TX_ASYNC:
		return cudaMemcpy3DAsync(p, s);
	case TX_ASYNC | TX_PER_THREAD:
		return cudaMemcpy3DAsync_ptsz(p, s);
	case TX_PER_THREAD:
		return cudaMemcpy3D_ptds(p);
	default:
		return cudaMemcpy3D(p);
	}
}

/* A 2D copy with an array on one side (arr, from byte x of row y) and
 * pitched memory on the other: one 3D copy, its width in elements. */
static cudaError_t tx_copy2d(cudaArray_const_t arr, int to_array, size_t x, size_t y, void *mem,
			     size_t pitch, size_t width, size_t height, enum cudaMemcpyKind kind,
			     cudaStream_t s, int mode)
{
	struct cudaMemcpy3DParms p = {0};

	if (!shim_array_valid(arr))
		return shim_ret(cudaErrorInvalidResourceHandle);
	if (x % arr->elem || width % arr->elem)
		return shim_ret(cudaErrorInvalidValue);
	if (to_array) {
		p.dstArray = (cudaArray_t)arr;
		p.dstPos = (struct cudaPos){x / arr->elem, y, 0};
		p.srcPtr = shim_pitched_ptr(mem, pitch, width, height);
	} else {
		p.srcArray = (cudaArray_t)arr;
		p.srcPos = (struct cudaPos){x / arr->elem, y, 0};
		p.dstPtr = shim_pitched_ptr(mem, pitch, width, height);
	}
	p.extent = shim_extent(width / arr->elem, height, 1);
	p.kind = kind;
	return tx_copy3d(&p, s, mode);
}

#define TX_2D_TO(name, mode)                                                                       \
	cudaError_t name(cudaArray_t dst, size_t x, size_t y, const void *src, size_t spitch,      \
			 size_t width, size_t height, enum cudaMemcpyKind kind);                   \
	cudaError_t name(cudaArray_t dst, size_t x, size_t y, const void *src, size_t spitch,      \
			 size_t width, size_t height, enum cudaMemcpyKind kind)                    \
	{                                                                                          \
		return tx_copy2d(dst, 1, x, y, (void *)src, spitch, width, height, kind, NULL,     \
				 mode);                                                            \
	}
#define TX_2D_TO_ASYNC(name, mode)                                                                 \
	cudaError_t name(cudaArray_t dst, size_t x, size_t y, const void *src, size_t spitch,      \
			 size_t width, size_t height, enum cudaMemcpyKind kind, cudaStream_t s);   \
	cudaError_t name(cudaArray_t dst, size_t x, size_t y, const void *src, size_t spitch,      \
			 size_t width, size_t height, enum cudaMemcpyKind kind, cudaStream_t s)    \
	{                                                                                          \
		return tx_copy2d(dst, 1, x, y, (void *)src, spitch, width, height, kind, s, mode); \
	}
#define TX_2D_FROM(name, mode)                                                                     \
	cudaError_t name(void *dst, size_t dpitch, cudaArray_const_t src, size_t x, size_t y,      \
			 size_t width, size_t height, enum cudaMemcpyKind kind);                   \
	cudaError_t name(void *dst, size_t dpitch, cudaArray_const_t src, size_t x, size_t y,      \
			 size_t width, size_t height, enum cudaMemcpyKind kind)                    \
	{                                                                                          \
		return tx_copy2d(src, 0, x, y, dst, dpitch, width, height, kind, NULL, mode);      \
	}
#define TX_2D_FROM_ASYNC(name, mode)                                                               \
	cudaError_t name(void *dst, size_t dpitch, cudaArray_const_t src, size_t x, size_t y,      \
			 size_t width, size_t height, enum cudaMemcpyKind kind, cudaStream_t s);   \
	cudaError_t name(void *dst, size_t dpitch, cudaArray_const_t src, size_t x, size_t y,      \
			 size_t width, size_t height, enum cudaMemcpyKind kind, cudaStream_t s)    \
	{                                                                                          \
		return tx_copy2d(src, 0, x, y, dst, dpitch, width, height, kind, s, mode);         \
	}
TX_2D_TO(cudaMemcpy2DToArray, 0)
TX_2D_TO(cudaMemcpy2DToArray_ptds, TX_PER_THREAD)
TX_2D_TO_ASYNC(cudaMemcpy2DToArrayAsync, TX_ASYNC)
TX_2D_TO_ASYNC(cudaMemcpy2DToArrayAsync_ptsz, TX_ASYNC | TX_PER_THREAD)
TX_2D_FROM(cudaMemcpy2DFromArray, 0)
TX_2D_FROM(cudaMemcpy2DFromArray_ptds, TX_PER_THREAD)
TX_2D_FROM_ASYNC(cudaMemcpy2DFromArrayAsync, TX_ASYNC)
TX_2D_FROM_ASYNC(cudaMemcpy2DFromArrayAsync_ptsz, TX_ASYNC | TX_PER_THREAD)

static cudaError_t tx_array_to_array(cudaArray_t dst, size_t dx, size_t dy, cudaArray_const_t src,
				     size_t sx, size_t sy, size_t width, size_t height,
				     enum cudaMemcpyKind kind, int mode)
{
	struct cudaMemcpy3DParms p = {0};

	if (!shim_array_valid(dst) || !shim_array_valid(src))
		return shim_ret(cudaErrorInvalidResourceHandle);
	if (dst->elem != src->elem || dx % dst->elem || sx % src->elem || width % dst->elem)
		return shim_ret(cudaErrorInvalidValue);
	p.dstArray = dst;
	p.dstPos = (struct cudaPos){dx / dst->elem, dy, 0};
	p.srcArray = (cudaArray_t)src;
	p.srcPos = (struct cudaPos){sx / src->elem, sy, 0};
	p.extent = shim_extent(width / dst->elem, height, 1);
	p.kind = kind == cudaMemcpyDefault ? cudaMemcpyDeviceToDevice : kind;
	return tx_copy3d(&p, NULL, mode);
}

cudaError_t cudaMemcpy2DArrayToArray(cudaArray_t dst, size_t dx, size_t dy, cudaArray_const_t src,
				     size_t sx, size_t sy, size_t width, size_t height,
				     enum cudaMemcpyKind kind)
{
	return tx_array_to_array(dst, dx, dy, src, sx, sy, width, height, kind, 0);
}

cudaError_t cudaMemcpy2DArrayToArray_ptds(cudaArray_t dst, size_t dx, size_t dy,
					  cudaArray_const_t src, size_t sx, size_t sy, size_t width,
					  size_t height, enum cudaMemcpyKind kind);
cudaError_t cudaMemcpy2DArrayToArray_ptds(cudaArray_t dst, size_t dx, size_t dy,
					  cudaArray_const_t src, size_t sx, size_t sy, size_t width,
					  size_t height, enum cudaMemcpyKind kind)
{
	return tx_array_to_array(dst, dx, dy, src, sx, sy, width, height, kind, TX_PER_THREAD);
}

/*
 * cudaMemcpyToArray and cudaMemcpyFromArray (deprecated, still used):
 * count bytes from (x, y) on, row after row. As many as three 2D copies:
 * the rest of the first row, whole rows, the start of the last.
 */
static cudaError_t tx_linear(cudaArray_t a, size_t x, size_t y, void *host, size_t count,
			     enum cudaMemcpyKind kind, int to_array, cudaStream_t s, int mode)
{
	cudaError_t e = cudaSuccess;

	if (!shim_array_valid(a))
		return shim_ret(cudaErrorInvalidResourceHandle);
	while (count && e == cudaSuccess) {
		size_t n, rows = 1;
		if (x >= a->row_bytes)
			return shim_ret(cudaErrorInvalidValue);
		n = a->row_bytes - x < count ? a->row_bytes - x : count;
		if (x == 0 && count >= a->row_bytes) {
			rows = count / a->row_bytes;
			n = a->row_bytes;
		}
		e = tx_copy2d(a, to_array, x, y, host, n, n, rows, kind, s, mode);
		host = (uint8_t *)host + n * rows;
		count -= n * rows;
		y += rows;
		x = (x + n) % a->row_bytes;
		if (x)
			y--; /* a partial row: the next part starts in it */
	}
	return e;
}

cudaError_t cudaMemcpyToArray(cudaArray_t dst, size_t x, size_t y, const void *src, size_t count,
			      enum cudaMemcpyKind kind)
{
	return tx_linear(dst, x, y, (void *)src, count, kind, 1, NULL, 0);
}

cudaError_t cudaMemcpyFromArray(void *dst, cudaArray_const_t src, size_t x, size_t y, size_t count,
				enum cudaMemcpyKind kind)
{
	return tx_linear((cudaArray_t)src, x, y, dst, count, kind, 0, NULL, 0);
}

cudaError_t cudaMemcpyToArrayAsync(cudaArray_t dst, size_t x, size_t y, const void *src,
				   size_t count, enum cudaMemcpyKind kind, cudaStream_t s)
{
	return tx_linear(dst, x, y, (void *)src, count, kind, 1, s, TX_ASYNC);
}

cudaError_t cudaMemcpyFromArrayAsync(void *dst, cudaArray_const_t src, size_t x, size_t y,
				     size_t count, enum cudaMemcpyKind kind, cudaStream_t s)
{
	return tx_linear((cudaArray_t)src, x, y, dst, count, kind, 0, s, TX_ASYNC);
}

cudaError_t cudaMemcpyToArray_ptds(cudaArray_t dst, size_t x, size_t y, const void *src,
				   size_t count, enum cudaMemcpyKind kind);
cudaError_t cudaMemcpyToArray_ptds(cudaArray_t dst, size_t x, size_t y, const void *src,
				   size_t count, enum cudaMemcpyKind kind)
{
	return tx_linear(dst, x, y, (void *)src, count, kind, 1, NULL, TX_PER_THREAD);
}

cudaError_t cudaMemcpyFromArray_ptds(void *dst, cudaArray_const_t src, size_t x, size_t y,
				     size_t count, enum cudaMemcpyKind kind);
cudaError_t cudaMemcpyFromArray_ptds(void *dst, cudaArray_const_t src, size_t x, size_t y,
				     size_t count, enum cudaMemcpyKind kind)
{
	return tx_linear((cudaArray_t)src, x, y, dst, count, kind, 0, NULL, TX_PER_THREAD);
}

cudaError_t cudaMemcpyToArrayAsync_ptsz(cudaArray_t dst, size_t x, size_t y, const void *src,
					size_t count, enum cudaMemcpyKind kind, cudaStream_t s);
cudaError_t cudaMemcpyToArrayAsync_ptsz(cudaArray_t dst, size_t x, size_t y, const void *src,
					size_t count, enum cudaMemcpyKind kind, cudaStream_t s)
{
	return tx_linear(dst, x, y, (void *)src, count, kind, 1, s, TX_ASYNC | TX_PER_THREAD);
}

cudaError_t cudaMemcpyFromArrayAsync_ptsz(void *dst, cudaArray_const_t src, size_t x, size_t y,
					  size_t count, enum cudaMemcpyKind kind, cudaStream_t s);
cudaError_t cudaMemcpyFromArrayAsync_ptsz(void *dst, cudaArray_const_t src, size_t x, size_t y,
					  size_t count, enum cudaMemcpyKind kind, cudaStream_t s)
{
	return tx_linear((cudaArray_t)src, x, y, dst, count, kind, 0, s, TX_ASYNC | TX_PER_THREAD);
}

/* After cudaDeviceReset the server has destroyed the device's arrays and
 * objects: their handles go (an array the program still names is then
 * unknown, as in CUDA). */
void shim_textures_forget(int device)
{
	pthread_mutex_lock(&tx_lock);
	for (size_t i = arrays.n; i-- > 0;) {
		struct cudaArray *a = arrays.r[i].data;
		if (a->device == device) {
			vcuda_rangemap_remove(&arrays, arrays.r[i].base, NULL);
			free(a);
		}
	}
	for (size_t i = objects.n; i-- > 0;) {
		struct tx_obj *o = objects.r[i].data;
		if (o->device == device) {
			vcuda_rangemap_remove(&objects, objects.r[i].base, NULL);
			free(o);
		}
	}
	pthread_mutex_unlock(&tx_lock);
}

/* ---- texture and surface objects ------------------------------------------------------------ */

static cudaError_t tx_object(Vcuda__TexCreate *m, const struct cudaResourceDesc *res,
			     const struct cudaTextureDesc *tex, unsigned long long *out)
{
	Vcuda__Reply *rp = NULL;
	struct vcuda_range r;
	struct tx_obj *o = calloc(1, sizeof(*o));
	cudaError_t e;

	if (!o)
		return cudaErrorMemoryAllocation;
	o->device = shim_device;
	o->res = *res;
	if (tex)
		o->tex = *tex;

	SHIM_REQUEST(rq, TEX_CREATE, tex_create, *m);
	e = shim_call(&rq, NULL, 0, 0, NULL, 0, &rp);
	if (e == cudaSuccess && rp->ret_case != VCUDA__REPLY__RET_HANDLE)
		e = cudaErrorUnknown;
	if (e == cudaSuccess) {
		r = (struct vcuda_range){
		    .base = rp->handle->value, .size = 1, .tag = rp->handle->handle, .data = o};
		pthread_mutex_lock(&tx_lock);
		if (vcuda_rangemap_insert(&objects, &r) != 0)
			e = cudaErrorMemoryAllocation;
		else
			o = NULL; /* the map's */
		pthread_mutex_unlock(&tx_lock);
		*out = rp->handle->value;
	}
	free(o);
	vcuda_client_reply_free(rp);
	return e;
}

/* What object value was made from, or cudaErrorInvalidValue. */
static cudaError_t tx_describe(unsigned long long value, struct cudaResourceDesc *res,
			       struct cudaTextureDesc *tex)
{
	const struct vcuda_range *r;
	cudaError_t e = cudaErrorInvalidValue;

	pthread_mutex_lock(&tx_lock);
	if ((r = vcuda_rangemap_find(&objects, value)) != NULL && r->base == value) {
		const struct tx_obj *o = r->data;
		if (res)
			*res = o->res;
		if (tex)
			*tex = o->tex;
		e = cudaSuccess;
	}
	pthread_mutex_unlock(&tx_lock);
	return e;
}

cudaError_t cudaGetTextureObjectResourceDesc(struct cudaResourceDesc *res, cudaTextureObject_t t)
{
	return res ? shim_ret(tx_describe(t, res, NULL)) : shim_ret(cudaErrorInvalidValue);
}

cudaError_t cudaGetTextureObjectTextureDesc(struct cudaTextureDesc *tex, cudaTextureObject_t t)
{
	return tex ? shim_ret(tx_describe(t, NULL, tex)) : shim_ret(cudaErrorInvalidValue);
}

cudaError_t cudaGetSurfaceObjectResourceDesc(struct cudaResourceDesc *res, cudaSurfaceObject_t s)
{
	return res ? shim_ret(tx_describe(s, res, NULL)) : shim_ret(cudaErrorInvalidValue);
}

/* The widest 1D texture over linear memory of this format, as the device
 * gives it. */
cudaError_t cudaDeviceGetTexture1DLinearMaxWidth(size_t *width,
						 const struct cudaChannelFormatDesc *desc,
						 int device)
{
	CUarray_format fmt;
	unsigned nch;
	size_t elem;
	int limit;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!width || !desc || tx_format(desc, &fmt, &nch, &elem) != 0)
		return shim_ret(cudaErrorInvalidValue);
	if (device < 0 || device >= shim.ndevices)
		return shim_ret(cudaErrorInvalidDevice);
	limit = shim_attribute(device, CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_LINEAR_WIDTH);
	*width = limit > 0 ? (size_t)limit : 0;
	return cudaSuccess;
}

/* The resource of a texture or surface, into m. */
static cudaError_t tx_resource(const struct cudaResourceDesc *r, Vcuda__TexCreate *m)
{
	CUarray_format fmt;
	unsigned nch;
	size_t elem;

	switch (r->resType) {
	case cudaResourceTypeArray:
		if (!shim_array_valid(r->res.array.array))
			return cudaErrorInvalidResourceHandle;
		m->res_type = CU_RESOURCE_TYPE_ARRAY;
		m->array = r->res.array.array->id;
		return cudaSuccess;
	case cudaResourceTypeLinear:
		if (tx_format(&r->res.linear.desc, &fmt, &nch, &elem) != 0)
			return cudaErrorInvalidChannelDescriptor;
		m->res_type = CU_RESOURCE_TYPE_LINEAR;
		m->dptr = (uintptr_t)r->res.linear.devPtr;
		m->size = r->res.linear.sizeInBytes;
		break;
	case cudaResourceTypePitch2D:
		if (tx_format(&r->res.pitch2D.desc, &fmt, &nch, &elem) != 0)
			return cudaErrorInvalidChannelDescriptor;
		m->res_type = CU_RESOURCE_TYPE_PITCH2D;
		m->dptr = (uintptr_t)r->res.pitch2D.devPtr;
		m->width = r->res.pitch2D.width;
		m->height = r->res.pitch2D.height;
		m->pitch = r->res.pitch2D.pitchInBytes;
		break;
	default: /* mipmapped arrays */
		return cudaErrorNotSupported;
	}
	m->format = fmt;
	m->channels = nch;
	return cudaSuccess;
}

cudaError_t cudaCreateTextureObject(cudaTextureObject_t *out, const struct cudaResourceDesc *r,
				    const struct cudaTextureDesc *t,
				    const struct cudaResourceViewDesc *v)
{
	Vcuda__TexCreate m = VCUDA__TEX_CREATE__INIT;
	uint32_t am[3];
	float border[4];
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!out || !r || !t)
		return shim_ret(cudaErrorInvalidValue);
	if (v || t->sRGB || t->maxAnisotropy > 1 || t->mipmapLevelBias != 0.0f)
		return shim_ret(cudaErrorNotSupported); /* views, sRGB, anisotropy, mipmaps */
	if ((e = tx_resource(r, &m)) != cudaSuccess)
		return shim_ret(e);
	for (int i = 0; i < 3; i++)
		am[i] = (uint32_t)t->addressMode[i];
	memcpy(border, t->borderColor, sizeof(border));
	m.n_address_mode = 3;
	m.address_mode = am;
	m.n_border = 4;
	m.border = border;
	m.filter_mode = (uint32_t)t->filterMode;
	m.flags = (t->readMode == cudaReadModeElementType ? CU_TRSF_READ_AS_INTEGER : 0) |
		  (t->normalizedCoords ? CU_TRSF_NORMALIZED_COORDINATES : 0);
	return shim_ret(tx_object(&m, r, t, out));
}

cudaError_t cudaCreateSurfaceObject(cudaSurfaceObject_t *out, const struct cudaResourceDesc *r)
{
	Vcuda__TexCreate m = VCUDA__TEX_CREATE__INIT;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	if (!out || !r)
		return shim_ret(cudaErrorInvalidValue);
	if (r->resType != cudaResourceTypeArray)
		return shim_ret(cudaErrorInvalidValue);
	if ((e = tx_resource(r, &m)) != cudaSuccess)
		return shim_ret(e);
	if (!(r->res.array.array->flags & cudaArraySurfaceLoadStore))
		return shim_ret(cudaErrorInvalidValue);
	m.surface = 1;
	return shim_ret(tx_object(&m, r, NULL, out));
}

static cudaError_t tx_destroy(unsigned long long value)
{
	Vcuda__TexDestroy m = VCUDA__TEX_DESTROY__INIT;
	struct vcuda_range r;
	int known;
	cudaError_t e = shim_begin();

	if (e)
		return shim_ret(e);
	pthread_mutex_lock(&tx_lock);
	known = value && vcuda_rangemap_remove(&objects, value, &r) == 0;
	pthread_mutex_unlock(&tx_lock);
	if (known)
		free(r.data);
	if (!known)
		return shim_ret(cudaErrorInvalidValue);
	m.object = r.tag;
	SHIM_REQUEST(rq, TEX_DESTROY, tex_destroy, m);
	return shim_ret(shim_call(&rq, NULL, 0, 0, NULL, 0, NULL));
}

cudaError_t cudaDestroyTextureObject(cudaTextureObject_t t)
{
	return tx_destroy(t);
}

cudaError_t cudaDestroySurfaceObject(cudaSurfaceObject_t s)
{
	return tx_destroy(s);
}
