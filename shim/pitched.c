/*
 * Runtime API: pitched memory (cudaMallocPitch, cudaMalloc3D) and 2D and 3D
 * copies and sets between host and device memory (not CUDA arrays). Each
 * copy or set is one request, whatever its number of rows (MemcpyPitched,
 * MemsetPitched): rows from the host travel packed in the payload, rows to
 * the host come back packed and are scattered where they go; page-locked
 * memory of an shm:// session travels in no message at all.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "shim.h"
#include "transport.h"

/* What cudaMallocPitch and cudaMalloc3D align rows to, as CUDA does for
 * memory that textures may read (textureAlignment). */
#define PITCH_ALIGN 512u

/* One side of a pitched copy: its first byte, its row pitch, and rows a
 * slice (so slices lie pitch * rows apart). */
struct side {
	const uint8_t *p;
	size_t pitch, rows;
	const struct cudaArray *arr; /* or an array, from byte x of row y of slice z */
	size_t x, y, z;
};

struct region {
	struct side dst, src;
	size_t width, height, depth; /* bytes a row, rows a slice, slices */
	enum cudaMemcpyKind kind;
	uint64_t stream;
	int async;
};

/* Bytes from a side's start to just past its last byte; 0 if that does not
 * fit in a size_t. */
static size_t side_extent(const struct side *s, const struct region *r)
{
	size_t slice, last;

	if (__builtin_mul_overflow(s->pitch, s->rows, &slice) ||
	    __builtin_mul_overflow(slice, r->depth - 1, &last) ||
	    __builtin_mul_overflow(s->pitch, r->height - 1, &slice) ||
	    __builtin_add_overflow(last, slice, &last) ||
	    __builtin_add_overflow(last, r->width, &last))
		return 0;
	return last;
}

static void region_request(const struct region *r, Vcuda__MemcpyPitched *m, uint32_t kind)
{
	m->kind = kind;
	m->dst = (uintptr_t)r->dst.p;
	m->dst_pitch = r->dst.pitch;
	m->dst_rows = r->dst.rows;
	m->src = (uintptr_t)r->src.p;
	m->src_pitch = r->src.pitch;
	m->src_rows = r->src.rows;
	m->width = r->width;
	m->height = r->height;
	m->depth = r->depth;
	m->stream = r->stream;
	m->async = r->async;
	if (r->dst.arr) {
		m->dst_array = r->dst.arr->id;
		m->dst_x = r->dst.x, m->dst_y = r->dst.y, m->dst_z = r->dst.z;
	}
	if (r->src.arr) {
		m->src_array = r->src.arr->id;
		m->src_x = r->src.x, m->src_y = r->src.y, m->src_z = r->src.z;
	}
}

/* Whether an array side holds the region: its bytes, rows and slices. */
static int side_fits_array(const struct side *s, const struct region *r)
{
	const struct cudaArray *a = s->arr;

	return shim_array_valid(a) && a->device == shim_device && s->x <= a->row_bytes &&
	       r->width <= a->row_bytes - s->x && s->y <= a->rows && r->height <= a->rows - s->y &&
	       s->z <= a->slices && r->depth <= a->slices - s->z;
}

/* Sends a request that carries no data (device to device, or the host side
 * in the shared heap): posted when the copy is asynchronous. */
static cudaError_t pitched_send(const struct region *r, Vcuda__MemcpyPitched *m)
{
	SHIM_REQUEST(rq, MEMCPY_PITCHED, memcpy_pitched, *m);
	return r->async ? shim_post(&rq, NULL, 0, 0, NULL, 0)
			: shim_call(&rq, NULL, 0, 0, NULL, 0, NULL);
}

/* Whether the page-locked host side lies in one buffer of the shm://
 * heap; then m names it by offset. */
static int pitched_in_heap(const struct region *r, const struct side *host, int pinned,
			   Vcuda__MemcpyPitched *m)
{
	uint64_t at;

	if (!pinned ||
	    vcuda_client_host_offset(shim.client, host->p, side_extent(host, r), &at) != 0)
		return 0;
	m->shared = 1;
	m->host_offset = at;
	return 1;
}

/* Host rows to the device: packed into payloads of whole rows (a copy's
 * chunk size), all but the last posted; from the shared heap, by offset. */
static cudaError_t pitched_to_device(const struct region *r, int pinned)
{
	Vcuda__MemcpyPitched m = VCUDA__MEMCPY_PITCHED__INIT;
	size_t all = r->height * r->depth, per = shim.chunk / r->width, first = 0;

	if (!per) /* an array's row wider than a chunk (arrays' rows are at most 1 MiB) */
		per = 1;
	cudaError_t e = cudaSuccess;

	region_request(r, &m, 1);
	if (pitched_in_heap(r, &r->src, pinned, &m))
		return pitched_send(r, &m);
	while (first < all && e == cudaSuccess) {
		size_t n = all - first < per ? all - first : per;
		uint8_t *buf = malloc(n * r->width);
		if (!buf)
			return cudaErrorMemoryAllocation;
		for (size_t i = 0; i < n; i++) {
			size_t row = first + i;
			memcpy(buf + i * r->width,
			       r->src.p + row / r->height * r->src.pitch * r->src.rows +
				   row % r->height * r->src.pitch,
			       r->width);
		}
		m.first_row = first;
		SHIM_REQUEST(rq, MEMCPY_PITCHED, memcpy_pitched, m);
		first += n;
		if (first == all && !r->async)
			e = shim_call(&rq, buf, n * r->width, VCUDA_SEND_GIFT, NULL, 0, NULL);
		else
			e = shim_post(&rq, buf, n * r->width, VCUDA_SEND_GIFT, NULL, 0);
	}
	return e;
}

/* Device rows to the host: one request, answered with packed rows that the
 * client scatters; into the shared heap, by offset. */
static cudaError_t pitched_to_host(const struct region *r, int pinned)
{
	Vcuda__MemcpyPitched m = VCUDA__MEMCPY_PITCHED__INIT;
	struct vcuda_recv to = {.dst = (void *)r->dst.p,
				.len = r->width * r->height * r->depth,
				.width = r->width,
				.pitch = r->dst.pitch,
				.rows = r->height,
				.slice = r->dst.pitch * r->dst.rows};

	region_request(r, &m, 2);
	if (pitched_in_heap(r, &r->dst, pinned, &m))
		return pitched_send(r, &m);
	SHIM_REQUEST(rq, MEMCPY_PITCHED, memcpy_pitched, m);
	/* Into pageable memory CUDA returns only once the data is there. */
	return r->async && pinned ? shim_post_into(&rq, NULL, 0, 0, &to)
				  : shim_call_into(&rq, NULL, 0, 0, &to, NULL);
}

/* Rows too wide for one message (more than a chunk each) go one by one. */
static cudaError_t pitched_by_rows(const struct region *r)
{
	cudaError_t e = cudaSuccess;

	for (size_t z = 0; z < r->depth && e == cudaSuccess; z++)
		for (size_t y = 0; y < r->height && e == cudaSuccess; y++) {
			const uint8_t *s =
			    r->src.p + z * r->src.pitch * r->src.rows + y * r->src.pitch;
			uint8_t *d =
			    (uint8_t *)r->dst.p + z * r->dst.pitch * r->dst.rows + y * r->dst.pitch;
			e = r->async ? cudaMemcpyAsync(d, s, r->width, r->kind,
						       (cudaStream_t)(uintptr_t)r->stream)
				     : cudaMemcpy(d, s, r->width, r->kind);
		}
	return e;
}

static cudaError_t pitched_copy(struct region *r, cudaStream_t stream, int per_thread)
{
	enum mem_kind dk, sk;
	size_t dext, sext;
	cudaError_t e = shim_begin();

	if (e || (e = shim_stream(stream, per_thread, &r->stream)) != cudaSuccess)
		return shim_ret(e);
	if ((unsigned)r->kind > cudaMemcpyDefault)
		return shim_ret(cudaErrorInvalidMemcpyDirection);
	if (!r->width || !r->height || !r->depth)
		return cudaSuccess;
	if ((!r->dst.arr && r->width > r->dst.pitch) || (!r->src.arr && r->width > r->src.pitch))
		return shim_ret(cudaErrorInvalidPitchValue);
	if ((!r->dst.arr && !r->dst.p) || (!r->src.arr && !r->src.p) ||
	    (r->depth > 1 && ((!r->dst.arr && r->dst.rows < r->height) ||
			      (!r->src.arr && r->src.rows < r->height))))
		return shim_ret(cudaErrorInvalidValue);
	if ((r->dst.arr && !side_fits_array(&r->dst, r)) ||
	    (r->src.arr && !side_fits_array(&r->src, r)))
		return shim_ret(cudaErrorInvalidValue);
	if (r->async && shim_graph_capturing(r->stream)) {
		struct cudaGraphNodeParams np = {.type = cudaGraphNodeTypeMemcpy};
		np.memcpy.copyParams.dstPtr =
		    shim_pitched_ptr((void *)r->dst.p, r->dst.pitch, r->width, r->dst.rows);
		np.memcpy.copyParams.srcPtr =
		    shim_pitched_ptr((void *)r->src.p, r->src.pitch, r->width, r->src.rows);
		np.memcpy.copyParams.extent = shim_extent(r->width, r->height, r->depth);
		np.memcpy.copyParams.kind = r->kind;
		if (r->dst.arr || r->src.arr) { /* arrays count their width in elements */
			const struct side *a = r->dst.arr ? &r->dst : &r->src;
			np.memcpy.copyParams.extent.width = r->width / a->arr->elem;
			if (r->dst.arr) {
				np.memcpy.copyParams.dstArray = (cudaArray_t)r->dst.arr;
				np.memcpy.copyParams.dstPos = (struct cudaPos){
				    r->dst.x / r->dst.arr->elem, r->dst.y, r->dst.z};
			}
			if (r->src.arr) {
				np.memcpy.copyParams.srcArray = (cudaArray_t)r->src.arr;
				np.memcpy.copyParams.srcPos = (struct cudaPos){
				    r->src.x / r->src.arr->elem, r->src.y, r->src.z};
			}
		}
		return shim_ret(shim_graph_capture(r->stream, &np));
	}
	dext = r->dst.arr ? 1 : side_extent(&r->dst, r);
	sext = r->src.arr ? 1 : side_extent(&r->src, r);
	if (!dext || !sext)
		return shim_ret(cudaErrorInvalidValue);
	dk = r->dst.arr ? MEM_DEVICE : shim_memory_kind(r->dst.p, dext);
	sk = r->src.arr ? MEM_DEVICE : shim_memory_kind(r->src.p, sext);
	if (r->kind == cudaMemcpyDefault)
		r->kind = (enum cudaMemcpyKind)((sk == MEM_DEVICE) * 2 + (dk == MEM_DEVICE));
	if ((r->kind == cudaMemcpyHostToDevice || r->kind == cudaMemcpyDeviceToDevice) &&
	    !r->dst.arr && !shim_memory_on_device(r->dst.p, dext))
		return shim_ret(cudaErrorInvalidValue);
	if ((r->kind == cudaMemcpyDeviceToHost || r->kind == cudaMemcpyDeviceToDevice) &&
	    !r->src.arr && !shim_memory_on_device(r->src.p, sext))
		return shim_ret(cudaErrorInvalidValue);
	if ((r->dst.arr && r->kind != cudaMemcpyHostToDevice &&
	     r->kind != cudaMemcpyDeviceToDevice) ||
	    (r->src.arr && r->kind != cudaMemcpyDeviceToHost &&
	     r->kind != cudaMemcpyDeviceToDevice))
		return shim_ret(cudaErrorInvalidMemcpyDirection);
	if ((r->kind == cudaMemcpyHostToDevice && sk == MEM_DEVICE) ||
	    (r->kind == cudaMemcpyDeviceToHost && dk == MEM_DEVICE) ||
	    (r->kind == cudaMemcpyHostToHost && (sk == MEM_DEVICE || dk == MEM_DEVICE)))
		return shim_ret(cudaErrorInvalidValue);
	switch (r->kind) {
	case cudaMemcpyHostToDevice:
		e = r->width > shim.chunk && !r->dst.arr ? pitched_by_rows(r)
							 : pitched_to_device(r, sk == MEM_PINNED);
		break;
	case cudaMemcpyDeviceToHost:
		e = r->width > VCUDA_MAX_PAYLOAD && !r->src.arr
			? pitched_by_rows(r)
			: pitched_to_host(r, dk == MEM_PINNED);
		break;
	case cudaMemcpyDeviceToDevice: {
		Vcuda__MemcpyPitched m = VCUDA__MEMCPY_PITCHED__INIT;
		region_request(r, &m, 3);
		e = pitched_send(r, &m);
		break;
	}
	default:
		for (size_t z = 0; z < r->depth; z++)
			for (size_t y = 0; y < r->height; y++)
				memmove((uint8_t *)r->dst.p + z * r->dst.pitch * r->dst.rows +
					    y * r->dst.pitch,
					r->src.p + z * r->src.pitch * r->src.rows +
					    y * r->src.pitch,
					r->width);
		break;
	}
	return shim_ret(e);
}

static cudaError_t copy2d(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
			  size_t height, enum cudaMemcpyKind kind, cudaStream_t s, int async,
			  int per_thread)
{
	struct region r = {.dst = {dst, dpitch, height},
			   .src = {src, spitch, height},
			   .width = width,
			   .height = height,
			   .depth = 1,
			   .kind = kind,
			   .async = async};

	return pitched_copy(&r, s, per_thread);
}

cudaError_t cudaMemcpy2D(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
			 size_t height, enum cudaMemcpyKind kind)
{
	return copy2d(dst, dpitch, src, spitch, width, height, kind, NULL, 0, 0);
}

cudaError_t cudaMemcpy2D_ptds(void *dst, size_t dpitch, const void *src, size_t spitch,
			      size_t width, size_t height, enum cudaMemcpyKind kind)
{
	return copy2d(dst, dpitch, src, spitch, width, height, kind, NULL, 0, 1);
}

cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch,
			      size_t width, size_t height, enum cudaMemcpyKind kind, cudaStream_t s)
{
	return copy2d(dst, dpitch, src, spitch, width, height, kind, s, 1, 0);
}

cudaError_t cudaMemcpy2DAsync_ptsz(void *dst, size_t dpitch, const void *src, size_t spitch,
				   size_t width, size_t height, enum cudaMemcpyKind kind,
				   cudaStream_t s)
{
	return copy2d(dst, dpitch, src, spitch, width, height, kind, s, 1, 1);
}

/* A 3D copy between pitched pointers (CUDA arrays are not supported). */
static cudaError_t copy3d(const struct cudaMemcpy3DParms *p, cudaStream_t s, int async,
			  int per_thread)
{
	struct region r;

	if (!p)
		return shim_ret(cudaErrorInvalidValue);
	r = (struct region){.dst = {(const uint8_t *)p->dstPtr.ptr +
					p->dstPos.z * p->dstPtr.pitch * p->dstPtr.ysize +
					p->dstPos.y * p->dstPtr.pitch + p->dstPos.x,
				    p->dstPtr.pitch, p->dstPtr.ysize},
			    .src = {(const uint8_t *)p->srcPtr.ptr +
					p->srcPos.z * p->srcPtr.pitch * p->srcPtr.ysize +
					p->srcPos.y * p->srcPtr.pitch + p->srcPos.x,
				    p->srcPtr.pitch, p->srcPtr.ysize},
			    .width = p->extent.width,
			    .height = p->extent.height,
			    .depth = p->extent.depth,
			    .kind = p->kind,
			    .async = async};
	/* A 2D copy's pointers may name no slice height. */
	if (r.depth == 1) {
		r.dst.rows = r.dst.rows ? r.dst.rows : r.height;
		r.src.rows = r.src.rows ? r.src.rows : r.height;
	}
	/* With an array on either side, the width counts elements. */
	if (p->dstArray || p->srcArray) {
		const struct cudaArray *a = p->dstArray ? p->dstArray : p->srcArray;
		if (!shim_array_valid(a) || (p->dstArray && !shim_array_valid(p->dstArray)) ||
		    (p->srcArray && !shim_array_valid(p->srcArray)))
			return shim_ret(cudaErrorInvalidResourceHandle);
		r.width = p->extent.width * a->elem;
	}
	if (p->dstArray) {
		r.dst = (struct side){.arr = p->dstArray,
				      .x = p->dstPos.x * p->dstArray->elem,
				      .y = p->dstPos.y,
				      .z = p->dstPos.z};
	}
	if (p->srcArray) {
		r.src = (struct side){.arr = p->srcArray,
				      .x = p->srcPos.x * p->srcArray->elem,
				      .y = p->srcPos.y,
				      .z = p->srcPos.z};
	}
	return pitched_copy(&r, s, per_thread);
}

cudaError_t cudaMemcpy3D(const struct cudaMemcpy3DParms *p)
{
	return copy3d(p, NULL, 0, 0);
}

cudaError_t cudaMemcpy3D_ptds(const struct cudaMemcpy3DParms *p)
{
	return copy3d(p, NULL, 0, 1);
}

cudaError_t cudaMemcpy3DAsync(const struct cudaMemcpy3DParms *p, cudaStream_t s)
{
	return copy3d(p, s, 1, 0);
}

cudaError_t cudaMemcpy3DAsync_ptsz(const struct cudaMemcpy3DParms *p, cudaStream_t s)
{
	return copy3d(p, s, 1, 1);
}

/* ---- allocation ------------------------------------------------------------------ */

static int pitch_for(size_t width, size_t *pitch)
{
	if (width > SIZE_MAX - PITCH_ALIGN)
		return -1;
	*pitch = (width + PITCH_ALIGN - 1) / PITCH_ALIGN * PITCH_ALIGN;
	return 0;
}

cudaError_t cudaMallocPitch(void **ptr, size_t *pitch, size_t width, size_t height)
{
	size_t size;

	if (!ptr || !pitch)
		return shim_ret(cudaErrorInvalidValue);
	if (pitch_for(width, pitch) != 0 || __builtin_mul_overflow(*pitch, height, &size))
		return shim_ret(cudaErrorMemoryAllocation);
	return cudaMalloc(ptr, size);
}

cudaError_t cudaMalloc3D(struct cudaPitchedPtr *p, struct cudaExtent e)
{
	size_t pitch, size;
	cudaError_t err;

	if (!p)
		return shim_ret(cudaErrorInvalidValue);
	if (pitch_for(e.width, &pitch) != 0 || __builtin_mul_overflow(pitch, e.height, &size) ||
	    __builtin_mul_overflow(size, e.depth, &size))
		return shim_ret(cudaErrorMemoryAllocation);
	*p = (struct cudaPitchedPtr){NULL, pitch, e.width, e.height};
	if ((err = cudaMalloc(&p->ptr, size)) != cudaSuccess)
		p->ptr = NULL;
	return err;
}

/* ---- sets ------------------------------------------------------------------------- */

static cudaError_t set3d(void *p, size_t pitch, size_t rows, int value, size_t width, size_t height,
			 size_t depth, cudaStream_t s, int async, int per_thread)
{
	Vcuda__MemsetPitched m = VCUDA__MEMSET_PITCHED__INIT;
	struct region r = {
	    .dst = {p, pitch, rows}, .width = width, .height = height, .depth = depth};
	size_t ext;
	cudaError_t e = shim_begin();

	if (e || (e = shim_stream(s, per_thread, &m.stream)) != cudaSuccess)
		return shim_ret(e);
	if (!width || !height || !depth)
		return cudaSuccess;
	if (width > pitch)
		return shim_ret(cudaErrorInvalidPitchValue);
	if ((depth > 1 && rows < height) || !(ext = side_extent(&r.dst, &r)) ||
	    !shim_memory_on_device(p, ext))
		return shim_ret(cudaErrorInvalidValue);
	/* Captured: a memset node a slice. */
	for (size_t z = 0; async && z < depth && shim_graph_capturing(m.stream); z++) {
		struct cudaGraphNodeParams np = {.type = cudaGraphNodeTypeMemset};
		np.memset.dst = (uint8_t *)p + z * pitch * rows;
		np.memset.pitch = pitch;
		np.memset.value = (unsigned)(value & 0xff);
		np.memset.elementSize = 1;
		np.memset.width = width;
		np.memset.height = height;
		if ((e = shim_graph_capture(m.stream, &np)) != cudaSuccess || z + 1 == depth)
			return shim_ret(e);
	}
	m.dst = (uintptr_t)p;
	m.pitch = pitch;
	m.rows = rows;
	m.value = (uint32_t)(value & 0xff);
	m.width = width;
	m.height = height;
	m.depth = depth;
	m.async = async;
	SHIM_REQUEST(rq, MEMSET_PITCHED, memset_pitched, m);
	return shim_ret(async ? shim_post(&rq, NULL, 0, 0, NULL, 0)
			      : shim_call(&rq, NULL, 0, 0, NULL, 0, NULL));
}

cudaError_t cudaMemset2D(void *p, size_t pitch, int value, size_t width, size_t height)
{
	return set3d(p, pitch, height, value, width, height, 1, NULL, 0, 0);
}

cudaError_t cudaMemset2D_ptds(void *p, size_t pitch, int value, size_t width, size_t height)
{
	return set3d(p, pitch, height, value, width, height, 1, NULL, 0, 1);
}

cudaError_t cudaMemset2DAsync(void *p, size_t pitch, int value, size_t width, size_t height,
			      cudaStream_t s)
{
	return set3d(p, pitch, height, value, width, height, 1, s, 1, 0);
}

cudaError_t cudaMemset2DAsync_ptsz(void *p, size_t pitch, int value, size_t width, size_t height,
				   cudaStream_t s)
{
	return set3d(p, pitch, height, value, width, height, 1, s, 1, 1);
}

cudaError_t cudaMemset3D(struct cudaPitchedPtr p, int value, struct cudaExtent e)
{
	return set3d(p.ptr, p.pitch, p.ysize, value, e.width, e.height, e.depth, NULL, 0, 0);
}

cudaError_t cudaMemset3D_ptds(struct cudaPitchedPtr p, int value, struct cudaExtent e)
{
	return set3d(p.ptr, p.pitch, p.ysize, value, e.width, e.height, e.depth, NULL, 0, 1);
}

cudaError_t cudaMemset3DAsync(struct cudaPitchedPtr p, int value, struct cudaExtent e,
			      cudaStream_t s)
{
	return set3d(p.ptr, p.pitch, p.ysize, value, e.width, e.height, e.depth, s, 1, 0);
}

cudaError_t cudaMemset3DAsync_ptsz(struct cudaPitchedPtr p, int value, struct cudaExtent e,
				   cudaStream_t s)
{
	return set3d(p.ptr, p.pitch, p.ysize, value, e.width, e.height, e.depth, s, 1, 1);
}

/* Peer 3D copies: between allocations of one device (vcuda serves each
 * device alone), a 3D copy there. */
static cudaError_t copy3d_peer(const struct cudaMemcpy3DPeerParms *pp, cudaStream_t s, int async,
			       int per_thread)
{
	struct cudaMemcpy3DParms p = {0};
	int saved = shim_device;
	cudaError_t e;

	if (!pp)
		return shim_ret(cudaErrorInvalidValue);
	if ((e = shim_begin()) != cudaSuccess)
		return shim_ret(e);
	if (pp->srcDevice < 0 || pp->srcDevice >= shim.ndevices || pp->dstDevice < 0 ||
	    pp->dstDevice >= shim.ndevices)
		return shim_ret(cudaErrorInvalidDevice);
	if (pp->srcDevice != pp->dstDevice) {
		static int warned;
		if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
			VWARN(shim, "3D copies between two devices are not supported by vcuda yet");
		return shim_ret(cudaErrorNotSupported);
	}
	p.srcArray = pp->srcArray;
	p.srcPos = pp->srcPos;
	p.srcPtr = pp->srcPtr;
	p.dstArray = pp->dstArray;
	p.dstPos = pp->dstPos;
	p.dstPtr = pp->dstPtr;
	p.extent = pp->extent;
	p.kind = cudaMemcpyDeviceToDevice;
	shim_device = pp->srcDevice;
	e = copy3d(&p, s, async, per_thread);
	shim_device = saved;
	return e;
}

cudaError_t cudaMemcpy3DPeer(const struct cudaMemcpy3DPeerParms *p)
{
	return copy3d_peer(p, NULL, 0, 0);
}

cudaError_t cudaMemcpy3DPeerAsync(const struct cudaMemcpy3DPeerParms *p, cudaStream_t s)
{
	return copy3d_peer(p, s, 1, 0);
}

cudaError_t cudaMemcpy3DPeer_ptds(const struct cudaMemcpy3DPeerParms *p);
cudaError_t cudaMemcpy3DPeer_ptds(const struct cudaMemcpy3DPeerParms *p)
{
	return copy3d_peer(p, NULL, 0, 1);
}

cudaError_t cudaMemcpy3DPeerAsync_ptsz(const struct cudaMemcpy3DPeerParms *p, cudaStream_t s);
cudaError_t cudaMemcpy3DPeerAsync_ptsz(const struct cudaMemcpy3DPeerParms *p, cudaStream_t s)
{
	return copy3d_peer(p, s, 1, 1);
}
