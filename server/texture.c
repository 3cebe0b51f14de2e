/*
 * Session calls: CUDA arrays, texture objects and surface objects. Arrays
 * count against the client's memory quota like any allocation. A texture
 * or surface object's value is the device's own (kernels take it as an
 * argument); the session keeps it by handle, and destroys whatever is left
 * when the session or its device is reset. Textures over device memory
 * must lie in the session's own allocations.
 */
#include "config.h"

#include <stdlib.h>

#include "kernels.h"
#include "session.h"

#define ARRAY_MAX_DIM 65536u

CUresult srv_array_create(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
			  struct session_reply *out)
{
	const Vcuda__ArrayCreate *c = rq->array_create;
	CUDA_ARRAY3D_DESCRIPTOR d = {0};
	struct session_array *sa;
	uint64_t elem = vcuda_array_format_size(c->format) * c->channels, bytes;
	CUresult rc;

	(void)m;
	if (!elem || (c->channels != 1 && c->channels != 2 && c->channels != 4) || !c->width ||
	    c->width > ARRAY_MAX_DIM || c->height > ARRAY_MAX_DIM || c->depth > ARRAY_MAX_DIM ||
	    (c->flags & ~(uint32_t)(CUDA_ARRAY3D_LAYERED | CUDA_ARRAY3D_SURFACE_LDST)))
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE, "impossible array");
	if (!(sa = calloc(1, sizeof(*sa))))
		return CUDA_ERROR_OUT_OF_MEMORY;
	sa->device = rq->device;
	sa->row_bytes = c->width * elem;
	sa->rows = c->height ? c->height : 1;
	sa->slices = c->depth ? c->depth : 1;
	bytes = sa->row_bytes * sa->rows * sa->slices; /* each at most 2^16: no overflow */
	sa->bytes = bytes;
	if (session_quota_charge(s, bytes, "array_create") != 0) {
		free(sa);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	d.Width = c->width;
	d.Height = c->height;
	d.Depth = c->depth;
	d.Format = (CUarray_format)c->format;
	d.NumChannels = c->channels;
	d.Flags = c->flags;
	if ((rc = s->be->cuArray3DCreate(&sa->a, &d)) == CUDA_SUCCESS &&
	    (rc = session_reply_handle(s, rq, VCUDA_HT_ARRAY, sa, out)) != CUDA_SUCCESS)
		s->be->cuArrayDestroy(sa->a);
	if (rc != CUDA_SUCCESS) {
		session_quota_credit(s, bytes);
		free(sa);
	}
	return rc;
}

CUresult srv_array_destroy(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
			   struct session_reply *out)
{
	struct session_array *sa =
	    vcuda_handle_free(&s->handles, VCUDA_HT_ARRAY, rq->array_destroy->array);
	CUresult rc;

	(void)m, (void)out;
	if (!sa)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_HANDLE, "unknown array");
	rc = s->be->cuArrayDestroy(sa->a);
	session_quota_credit(s, sa->bytes);
	free(sa);
	return rc;
}

struct session_array *session_array(struct session *s, uint64_t id, int device)
{
	struct session_array *sa = vcuda_handle_get(&s->handles, VCUDA_HT_ARRAY, id);

	return sa && sa->device == device ? sa : NULL;
}

CUresult srv_tex_create(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
			struct session_reply *out)
{
	const Vcuda__TexCreate *c = rq->tex_create;
	CUDA_RESOURCE_DESC r = {0};
	CUDA_TEXTURE_DESC d = {0};
	struct session_texture *tx;
	struct session_array *sa;
	uint64_t elem = vcuda_array_format_size(c->format) * c->channels, ext = 0;
	CUresult rc;

	(void)m;
	r.resType = (CUresourcetype)c->res_type;
	switch (c->res_type) {
	case CU_RESOURCE_TYPE_ARRAY:
		if (!(sa = session_array(s, c->array, rq->device)))
			return session_refuse(s, rq, CUDA_ERROR_INVALID_HANDLE, "unknown array");
		r.res.array.hArray = sa->a;
		break;
	case CU_RESOURCE_TYPE_LINEAR:
		r.res.linear.devPtr = c->dptr;
		r.res.linear.format = (CUarray_format)c->format;
		r.res.linear.numChannels = c->channels;
		r.res.linear.sizeInBytes = c->size;
		ext = c->size;
		break;
	case CU_RESOURCE_TYPE_PITCH2D:
		r.res.pitch2D.devPtr = c->dptr;
		r.res.pitch2D.format = (CUarray_format)c->format;
		r.res.pitch2D.numChannels = c->channels;
		r.res.pitch2D.width = c->width;
		r.res.pitch2D.height = c->height;
		r.res.pitch2D.pitchInBytes = c->pitch;
		if (!c->width || !c->height || !elem || c->width > ARRAY_MAX_DIM ||
		    c->height > ARRAY_MAX_DIM || c->pitch < c->width * elem ||
		    c->pitch > (UINT64_MAX - c->width * elem) / c->height)
			return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
					      "impossible 2D texture");
		ext = c->pitch * (c->height - 1) + c->width * elem;
		break;
	default:
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE, "unknown resource type");
	}
	/* Device memory it reads must be the session's own. */
	if (c->res_type != CU_RESOURCE_TYPE_ARRAY &&
	    (!elem || !ext || !memory_owned(s, c->dptr, ext, rq->device)))
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
				      "texture memory outside the session's allocations");
	if (c->surface && c->res_type != CU_RESOURCE_TYPE_ARRAY)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE, "a surface needs an array");
	/* Every value the driver is given is one it defines. */
	if (c->n_address_mode > 3 || c->n_border > 4 || c->filter_mode > CU_TR_FILTER_MODE_LINEAR ||
	    (c->flags & ~(uint32_t)(CU_TRSF_READ_AS_INTEGER | CU_TRSF_NORMALIZED_COORDINATES)) ||
	    (c->res_type != CU_RESOURCE_TYPE_ARRAY && c->channels != 1 && c->channels != 2 &&
	     c->channels != 4))
		return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE, "bad texture description");
	for (size_t i = 0; i < c->n_address_mode; i++) {
		if (c->address_mode[i] > CU_TR_ADDRESS_MODE_BORDER)
			return session_refuse(s, rq, CUDA_ERROR_INVALID_VALUE,
					      "bad texture description");
		d.addressMode[i] = (CUaddress_mode)c->address_mode[i];
	}
	for (size_t i = 0; i < c->n_border; i++)
		d.borderColor[i] = c->border[i];
	d.filterMode = (CUfilter_mode)c->filter_mode;
	d.flags = c->flags;
	if (!(tx = calloc(1, sizeof(*tx))))
		return CUDA_ERROR_OUT_OF_MEMORY;
	tx->device = rq->device;
	tx->surface = c->surface;
	rc = c->surface ? s->be->cuSurfObjectCreate(&tx->value, &r)
			: s->be->cuTexObjectCreate(&tx->value, &r, &d, NULL);
	if (rc == CUDA_SUCCESS &&
	    (rc = session_reply_handle(s, rq, VCUDA_HT_TEXTURE, tx, out)) != CUDA_SUCCESS) {
		if (c->surface)
			s->be->cuSurfObjectDestroy(tx->value);
		else
			s->be->cuTexObjectDestroy(tx->value);
	}
	if (rc != CUDA_SUCCESS) {
		free(tx);
		return rc;
	}
	out->u.handle.value = tx->value;
	return CUDA_SUCCESS;
}

CUresult srv_tex_destroy(struct session *s, const Vcuda__Request *rq, const struct vcuda_msg *m,
			 struct session_reply *out)
{
	struct session_texture *tx =
	    vcuda_handle_free(&s->handles, VCUDA_HT_TEXTURE, rq->tex_destroy->object);
	CUresult rc;

	(void)m, (void)out;
	if (!tx)
		return session_refuse(s, rq, CUDA_ERROR_INVALID_HANDLE,
				      "unknown texture or surface object");
	rc = tx->surface ? s->be->cuSurfObjectDestroy(tx->value)
			 : s->be->cuTexObjectDestroy(tx->value);
	free(tx);
	return rc;
}
