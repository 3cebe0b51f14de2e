/* Session images (image.h): writing a session's state, and rebuilding it. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image.h"
#include "log.h"

static const char image_magic[8] = {'V', 'C', 'U', 'D', 'A', 'I', 'M', 'G'};

/* A record is a chunk and what frames it. */
#define IMAGE_MAX_RECORD (SESSION_IMAGE_CHUNK + 4096)
/* Per device: the limits cuCtxGetLimit knows. */
#define IMAGE_LIMITS 8

static int image_fail(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int image_fail(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -1;
}

/* Makes dev's primary context current (retaining it first). */
static CUresult image_use(struct session *s, int dev)
{
	Vcuda__Request rq = VCUDA__REQUEST__INIT;

	rq.device = dev;
	return session_use_device(s, &rq);
}

/* ---- writing ------------------------------------------------------------------- */

struct image_writer {
	struct session *s;
	const struct session_image_io *io;
	unsigned flags; /* SESSION_IMAGE_* */
	uint8_t *buf;	/* a packed record, then device memory read into it */
	char *why;
	size_t why_len;
};

static int image_put(struct image_writer *w, Vcuda__ImageRecord *r)
{
	size_t n = vcuda__image_record__get_packed_size(r);
	uint8_t len[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};

	if (n > IMAGE_MAX_RECORD)
		return image_fail(w->why, w->why_len, "a record of %zu bytes", n);
	vcuda__image_record__pack(r, w->buf);
	if (w->io->write(w->io->arg, len, 4) != 0 || w->io->write(w->io->arg, w->buf, n) != 0)
		return image_fail(w->why, w->why_len, "cannot write the image");
	return 0;
}

/* Zero runs are found at this grain: untouched memory costs a record per
 * run, not its bytes. */
#define IMAGE_ZERO_GRAIN (64u << 10)

static int image_is_zero(const uint8_t *p, size_t n)
{
	return p[0] == 0 && memcmp(p, p + 1, n - 1) == 0;
}

/* Device memory [addr, addr + size) of dev as chunks: data, or runs of
 * zeros with no data. buf has room for a chunk beside the record. */
static int image_put_memory(struct image_writer *w, int dev, uint64_t addr, uint64_t size)
{
	uint8_t *data = w->buf + IMAGE_MAX_RECORD;

	if (image_use(w->s, dev) != CUDA_SUCCESS)
		return image_fail(w->why, w->why_len, "device %d is not usable", dev);
	for (uint64_t off = 0; off < size;) {
		size_t n =
		    size - off < SESSION_IMAGE_CHUNK ? (size_t)(size - off) : SESSION_IMAGE_CHUNK;
		CUresult rc = w->s->be->cuMemcpyDtoH(data, addr + off, n);

		if (rc != CUDA_SUCCESS)
			return image_fail(
			    w->why, w->why_len, "cannot read device memory at 0x%llx: %s",
			    (unsigned long long)(addr + off), vcuda_backend_errname(w->s->be, rc));
		/* runs of grains of one kind, each a record */
		for (size_t at = 0; at < n;) {
			Vcuda__ImageRecord r = VCUDA__IMAGE_RECORD__INIT;
			Vcuda__ImageChunk c = VCUDA__IMAGE_CHUNK__INIT;
			size_t g = n - at < IMAGE_ZERO_GRAIN ? n - at : IMAGE_ZERO_GRAIN;
			int zero = image_is_zero(data + at, g);
			size_t end = at + g;

			while (end < n) {
				size_t k = n - end < IMAGE_ZERO_GRAIN ? n - end : IMAGE_ZERO_GRAIN;
				if (image_is_zero(data + end, k) != zero)
					break;
				end += k;
			}
			c.offset = addr + off + at;
			if (zero)
				c.zeros = end - at;
			else
				c.data = (ProtobufCBinaryData){end - at, data + at};
			r.r_case = VCUDA__IMAGE_RECORD__R_CHUNK;
			r.chunk = &c;
			if (image_put(w, &r) != 0)
				return -1;
			at = end;
		}
		off += n;
	}
	return 0;
}

const char *session_image_unmovable(struct session *s, char *why, size_t len)
{
	uint32_t cursor = 0;
	uint64_t id;
	void *obj;

	if (strcmp(s->be->kind, "cpu") != 0 || !s->be->place_next || !s->be->module_memory)
		return "on a GPU, device memory cannot be placed at chosen addresses yet";
	if (s->staging)
		return "a module is arriving in parts";
	if (strcmp(s->chan->ops->scheme, "shm") == 0)
		return "an shm:// session's host memory lives in its segment, which cannot follow "
		       "it";
	if (s->heap_registered > 0)
		return "the device maps the guest's shared heap (mapped host memory)";
	if (s->ipc_exported)
		return "its memory was exported through CUDA IPC";
	for (size_t i = 0; i < s->mem.n; i++)
		if (s->mem.r[i].data == SESSION_IPC_IMPORT)
			return "it opened another process's memory through CUDA IPC";
	while ((obj = vcuda_handle_next(&s->handles, 0, &cursor, &id)) != NULL) {
		int type = (int)(id >> 56);
		if (type == VCUDA_HT_ARRAY || type == VCUDA_HT_TEXTURE)
			return "it holds CUDA arrays or texture objects, which cannot move yet";
		if (type == VCUDA_HT_EVENT &&
		    (((struct session_event *)obj)->flags & CU_EVENT_INTERPROCESS))
			return "it holds an interprocess event";
	}
	for (int d = 0; d < s->ndevices; d++) {
		if (!s->primary[d])
			continue;
		if (image_use(s, d) != CUDA_SUCCESS || s->be->cuCtxSynchronize() != CUDA_SUCCESS)
			return "its device's work failed";
		if (s->be->context_movable && s->be->context_movable(why, len) != 0)
			return why;
	}
	return NULL;
}

static uint64_t image_module_id(struct session *s, const void *sm)
{
	uint32_t cursor = 0;
	uint64_t id;
	void *obj;

	while ((obj = vcuda_handle_next(&s->handles, VCUDA_HT_MODULE, &cursor, &id)) != NULL)
		if (obj == sm)
			return id;
	return 0;
}

static int image_put_header(struct image_writer *w)
{
	struct session *s = w->s;
	Vcuda__ImageRecord r = VCUDA__IMAGE_RECORD__INIT;
	Vcuda__ImageHeader h = VCUDA__IMAGE_HEADER__INIT;
	Vcuda__ImageDevice devs[SESSION_MAX_DEVICES], *dp[SESSION_MAX_DEVICES];
	uint64_t limits[SESSION_MAX_DEVICES][IMAGE_LIMITS];
	char names[SESSION_MAX_DEVICES][256];
	uint32_t *gens = malloc((s->handles.nslots ? s->handles.nslots : 1) * sizeof(*gens));
	int rc;

	if (!gens)
		return image_fail(w->why, w->why_len, "out of memory");
	for (uint32_t i = 0; i < s->handles.nslots; i++)
		gens[i] = vcuda_handle_gen(&s->handles, i);
	h.backend = (char *)s->be->kind;
	h.token = (ProtobufCBinaryData){SESSION_TOKEN_LEN, s->token};
	h.client = (char *)(s->client ? s->client : "");
	h.last_seq = s->last_seq;
	h.deferred = (int32_t)s->deferred;
	h.memory_file = (w->flags & SESSION_IMAGE_MEMORY_FILE) != 0;
	h.n_handle_gens = s->handles.nslots;
	h.handle_gens = gens;
	for (int d = 0; d < s->ndevices; d++) {
		Vcuda__ImageDevice *dev = &devs[h.n_devices];
		if (!s->primary[d])
			continue;
		vcuda__image_device__init(dev);
		dev->index = d;
		s->be->cuDeviceGetAttribute(&dev->major,
					    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d);
		s->be->cuDeviceGetAttribute(&dev->minor,
					    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d);
		if (s->be->cuDeviceGetName(names[d], sizeof(names[d]), d) != CUDA_SUCCESS)
			names[d][0] = 0;
		dev->name = names[d];
		image_use(s, d);
		for (int l = 0; l < IMAGE_LIMITS; l++) {
			size_t v = 0;
			if (!s->be->sc.ctx_get_limit ||
			    s->be->sc.ctx_get_limit(&v, (CUlimit)l) != CUDA_SUCCESS)
				v = 0;
			limits[d][l] = v;
		}
		dev->n_limits = IMAGE_LIMITS;
		dev->limits = limits[d];
		dp[h.n_devices++] = dev;
	}
	h.devices = dp;
	r.r_case = VCUDA__IMAGE_RECORD__R_HEADER;
	r.header = &h;
	rc = image_put(w, &r);
	free(gens);
	return rc;
}

static int image_put_modules(struct image_writer *w)
{
	struct session *s = w->s;
	struct session_module *sm;
	uint32_t cursor = 0;
	uint64_t id;

	while ((sm = vcuda_handle_next(&s->handles, VCUDA_HT_MODULE, &cursor, &id)) != NULL) {
		Vcuda__ImageRecord r = VCUDA__IMAGE_RECORD__INIT;
		Vcuda__ImageModule im = VCUDA__IMAGE_MODULE__INIT;
		uint64_t mem[4];

		if (!sm->image || s->be->module_memory(sm->m, mem) != 0)
			return image_fail(w->why, w->why_len, "a module without its image");
		im.id = id;
		im.device = sm->device;
		im.image_len = sm->image_len;
		im.n_memory = 4;
		im.memory = mem;
		r.r_case = VCUDA__IMAGE_RECORD__R_MODULE;
		r.module = &im;
		if (image_put(w, &r) != 0)
			return -1;
		for (uint64_t off = 0; off < sm->image_len; off += SESSION_IMAGE_CHUNK) {
			Vcuda__ImageChunk c = VCUDA__IMAGE_CHUNK__INIT;
			uint64_t n = sm->image_len - off;
			c.module = id;
			c.offset = off;
			c.data = (ProtobufCBinaryData){
			    n < SESSION_IMAGE_CHUNK ? n : SESSION_IMAGE_CHUNK, sm->image + off};
			r.r_case = VCUDA__IMAGE_RECORD__R_CHUNK;
			r.chunk = &c;
			if (image_put(w, &r) != 0)
				return -1;
		}
	}
	return 0;
}

/* Functions, streams and events. */
static int image_put_objects(struct image_writer *w)
{
	struct session *s = w->s;
	uint32_t cursor = 0;
	uint64_t id;
	void *obj;

	while ((obj = vcuda_handle_next(&s->handles, 0, &cursor, &id)) != NULL) {
		Vcuda__ImageRecord r = VCUDA__IMAGE_RECORD__INIT;
		Vcuda__ImageFunction f = VCUDA__IMAGE_FUNCTION__INIT;
		Vcuda__ImageStream st = VCUDA__IMAGE_STREAM__INIT;
		Vcuda__ImageEvent ev = VCUDA__IMAGE_EVENT__INIT;

		switch ((int)(id >> 56)) {
		case VCUDA_HT_FUNCTION: {
			const struct session_function *sf = obj;
			f.id = id;
			f.module = sf->module;
			f.name = (char *)sf->name;
			r.r_case = VCUDA__IMAGE_RECORD__R_FUNCTION;
			r.function = &f;
			break;
		}
		case VCUDA_HT_STREAM: {
			const struct session_stream *ss = obj;
			st.id = id;
			st.device = ss->device;
			st.flags = ss->flags;
			st.priority = ss->priority;
			r.r_case = VCUDA__IMAGE_RECORD__R_STREAM;
			r.stream = &st;
			break;
		}
		case VCUDA_HT_EVENT: {
			const struct session_event *se = obj;
			ev.id = id;
			ev.device = se->device;
			ev.flags = se->flags;
			r.r_case = VCUDA__IMAGE_RECORD__R_EVENT;
			r.event = &ev;
			break;
		}
		default:
			continue;
		}
		if (image_put(w, &r) != 0)
			return -1;
	}
	return 0;
}

int session_image_write(struct session *s, const struct session_image_io *io, unsigned flags,
			char *why, size_t len)
{
	struct image_writer w = {.s = s, .io = io, .flags = flags, .why = why, .why_len = len};
	uint8_t head[12];
	const char *no;
	int rc = -1;

	if ((no = session_image_unmovable(s, why, len)) != NULL)
		return image_fail(why, len, "the session cannot move: %s", no);
	if (!(w.buf = malloc(IMAGE_MAX_RECORD + SESSION_IMAGE_CHUNK)))
		return image_fail(why, len, "out of memory");
	memcpy(head, image_magic, 8);
	head[8] = SESSION_IMAGE_VERSION;
	head[9] = head[10] = head[11] = 0;
	if (io->write(io->arg, head, sizeof(head)) != 0) {
		image_fail(why, len, "cannot write the image");
		goto out;
	}
	if (image_put_header(&w) != 0)
		goto out;
	/* Allocations first: a module placed later must not take their place. */
	for (size_t i = 0; i < s->mem.n; i++) {
		Vcuda__ImageRecord r = VCUDA__IMAGE_RECORD__INIT;
		Vcuda__ImageAlloc a = VCUDA__IMAGE_ALLOC__INIT;
		if (s->mem.r[i].data)
			continue;
		a.addr = s->mem.r[i].base;
		a.size = s->mem.r[i].size;
		a.device = (int32_t)s->mem.r[i].tag;
		r.r_case = VCUDA__IMAGE_RECORD__R_ALLOC;
		r.alloc = &a;
		if (image_put(&w, &r) != 0)
			goto out;
	}
	if (image_put_modules(&w) != 0)
		goto out;
	for (size_t i = 0; i < s->mem.n; i++) {
		Vcuda__ImageRecord r = VCUDA__IMAGE_RECORD__INIT;
		Vcuda__ImageVariable v = VCUDA__IMAGE_VARIABLE__INIT;
		if (!s->mem.r[i].data)
			continue;
		v.module = image_module_id(s, s->mem.r[i].data);
		v.addr = s->mem.r[i].base;
		v.size = s->mem.r[i].size;
		r.r_case = VCUDA__IMAGE_RECORD__R_VARIABLE;
		r.variable = &v;
		if (image_put(&w, &r) != 0)
			goto out;
	}
	if (image_put_objects(&w) != 0)
		goto out;
	/* Contents: the allocations (unless they are in the memory file),
	 * then each module's constants and variables. */
	for (size_t i = 0; i < s->mem.n && !(flags & SESSION_IMAGE_MEMORY_FILE); i++) {
		struct vcuda_range m = s->mem.r[i];
		if (!m.data && image_put_memory(&w, (int)m.tag, m.base, m.size) != 0)
			goto out;
	}
	{
		struct session_module *sm;
		uint32_t cursor = 0;
		uint64_t id, mem[4];
		while ((sm = vcuda_handle_next(&s->handles, VCUDA_HT_MODULE, &cursor, &id)) != NULL)
			if (s->be->module_memory(sm->m, mem) != 0 ||
			    image_put_memory(&w, sm->device, mem[0], mem[1]) != 0 ||
			    image_put_memory(&w, sm->device, mem[2], mem[3]) != 0)
				goto out;
	}
	{
		Vcuda__ImageRecord r = VCUDA__IMAGE_RECORD__INIT;
		r.r_case = VCUDA__IMAGE_RECORD__R_END;
		r.end = 1;
		rc = image_put(&w, &r);
	}
out:
	free(w.buf);
	return rc;
}

/* ---- reading --------------------------------------------------------------------- */

struct image_reader {
	struct session *s;
	const struct session_image_io *io;
	uint8_t *buf;
	struct vcuda_rangemap writable; /* restored memory: where chunks may go; tag = device */
	int devices;			/* bit d: the header named device d */
	uint32_t variables;		/* ImageVariable records read (at most the handle limit) */
	/* The module whose image is arriving. */
	uint64_t module;
	int module_device;
	uint8_t *image;
	uint64_t image_len, image_have, memory[4];
	char *why;
	size_t why_len;
};

static int image_bad(struct image_reader *rd, const char *what)
{
	return image_fail(rd->why, rd->why_len, "the image is damaged: %s", what);
}

static int image_device(struct image_reader *rd, int32_t dev)
{
	if (dev < 0 || dev >= rd->s->ndevices || !(rd->devices & (1 << dev)))
		return image_bad(rd, "a device the header did not name");
	if (image_use(rd->s, dev) != CUDA_SUCCESS)
		return image_fail(rd->why, rd->why_len, "device %d is not usable here", dev);
	return 0;
}

static int image_read_header(struct image_reader *rd, const Vcuda__ImageHeader *h)
{
	struct session *s = rd->s;

	if (!h->backend || strcmp(h->backend, s->be->kind) != 0)
		return image_fail(
		    rd->why, rd->why_len,
		    "the image is of a session on the %s backend, this server runs %s",
		    h->backend ? h->backend : "?", s->be->kind);
	if (!s->be->place_next || !s->be->module_memory)
		return image_fail(rd->why, rd->why_len,
				  "this backend cannot place memory at chosen addresses");
	if (h->token.len != SESSION_TOKEN_LEN)
		return image_bad(rd, "no session token");
	/* A session goes back only to its own client. */
	if (s->client && (!h->client || strcmp(h->client, s->client) != 0))
		return image_fail(rd->why, rd->why_len, "the session is client '%s''s, not '%s''s",
				  h->client ? h->client : "?", s->client);
	/* The allocations' contents are where the image says: in the memory
	 * file the device took as its memory, or in chunks into memory that
	 * starts out zero; either way, not half of each. */
	if (h->memory_file != (s->be->store_adopted && s->be->store_adopted()))
		return image_fail(rd->why, rd->why_len,
				  h->memory_file
				      ? "the session's device memory was to come in the memory "
					"file beside the image, which the device did not take"
				      : "the device took a memory file the image does not use");
	memcpy(s->token, h->token.data, SESSION_TOKEN_LEN);
	s->last_seq = s->restored_seq = h->last_seq;
	s->deferred = (CUresult)h->deferred;
	if (h->n_handle_gens > UINT32_MAX ||
	    vcuda_handle_restore(&s->handles, (uint32_t)h->n_handle_gens, h->handle_gens) != 0)
		return image_fail(rd->why, rd->why_len,
				  "the image holds %zu handle slots, more than this server allows",
				  h->n_handle_gens);
	for (size_t i = 0; i < h->n_devices; i++) {
		const Vcuda__ImageDevice *d = h->devices[i];
		char name[256];
		int major = -1, minor = -1;
		if (d->index < 0 || d->index >= s->ndevices || (rd->devices & (1 << d->index)))
			return image_fail(rd->why, rd->why_len,
					  "the image needs device %d; this server has %d", d->index,
					  s->ndevices);
		s->be->cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
					    d->index);
		s->be->cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
					    d->index);
		if (s->be->cuDeviceGetName(name, sizeof(name), d->index) != CUDA_SUCCESS)
			name[0] = 0;
		if (major != d->major || minor != d->minor || !d->name || strcmp(name, d->name))
			return image_fail(rd->why, rd->why_len,
					  "device %d is %s (compute capability %d.%d) here, "
					  "%s (%d.%d) in the image",
					  d->index, name, major, minor, d->name ? d->name : "?",
					  d->major, d->minor);
		rd->devices |= 1 << d->index;
		if (image_use(s, d->index) != CUDA_SUCCESS)
			return image_fail(rd->why, rd->why_len, "device %d is not usable here",
					  d->index);
		for (size_t l = 0; l < d->n_limits && l < IMAGE_LIMITS; l++) {
			size_t now = 0;
			if (!s->be->sc.ctx_get_limit ||
			    s->be->sc.ctx_get_limit(&now, (CUlimit)l) != CUDA_SUCCESS ||
			    now == d->limits[l])
				continue;
			/* through the handler: the server's bounds hold */
			Vcuda__Request rq = VCUDA__REQUEST__INIT;
			union session_arg v[2] = {{.i32 = (int32_t)l}, {.u64 = d->limits[l]}};
			rq.device = d->index;
			if (srv_scalar_ctx_set_limit(s, &rq, v) != CUDA_SUCCESS)
				return image_fail(rd->why, rd->why_len,
						  "device %d refuses limit %zu = %llu", d->index, l,
						  (unsigned long long)d->limits[l]);
		}
	}
	return 0;
}

static int image_read_alloc(struct image_reader *rd, const Vcuda__ImageAlloc *a)
{
	struct session *s = rd->s;
	struct vcuda_range r = {.base = a->addr, .size = a->size, .tag = (uint64_t)a->device};
	CUdeviceptr p = 0;
	CUresult rc;

	if (image_device(rd, a->device) != 0)
		return -1;
	if (!a->size || a->addr + a->size < a->addr ||
	    vcuda_rangemap_find_span(&s->mem, a->addr, 1))
		return image_bad(rd, "an allocation overlaps another");
	if (session_quota_charge(s, a->size, "a restored allocation") != 0)
		return image_fail(rd->why, rd->why_len,
				  "the client's quota has no room for %llu bytes",
				  (unsigned long long)a->size);
	s->be->place_next(&a->addr, 1);
	rc = s->be->cuMemAlloc(&p, (size_t)a->size);
	s->be->place_next(NULL, 0);
	if (rc != CUDA_SUCCESS || p != a->addr) {
		if (rc == CUDA_SUCCESS)
			s->be->cuMemFree(p);
		session_quota_credit(s, a->size);
		return image_fail(rd->why, rd->why_len,
				  "cannot place %llu bytes at 0x%llx on device %d: %s",
				  (unsigned long long)a->size, (unsigned long long)a->addr,
				  a->device, vcuda_backend_errname(s->be, rc));
	}
	if (vcuda_rangemap_insert(&s->mem, &r) != 0 ||
	    vcuda_rangemap_insert(&rd->writable, &r) != 0) {
		vcuda_rangemap_remove(&s->mem, r.base, NULL);
		s->be->cuMemFree(p);
		session_quota_credit(s, a->size);
		return image_fail(rd->why, rd->why_len, "out of memory");
	}
	return 0;
}

static int image_read_module(struct image_reader *rd, const Vcuda__ImageModule *m)
{
	if (rd->image)
		return image_bad(rd, "a module before the last one's image ended");
	if ((m->id >> 56) != VCUDA_HT_MODULE || m->n_memory != 4 || image_device(rd, m->device))
		return image_bad(rd, "a module record");
	if (!m->image_len || m->image_len > rd->s->limits->module_bytes)
		return image_fail(rd->why, rd->why_len,
				  "a module image of %llu bytes is over this server's limit",
				  (unsigned long long)m->image_len);
	if (!(rd->image = malloc(m->image_len)))
		return image_fail(rd->why, rd->why_len, "out of memory");
	rd->module = m->id;
	rd->module_device = m->device;
	rd->image_len = m->image_len;
	rd->image_have = 0;
	memcpy(rd->memory, m->memory, sizeof(rd->memory));
	return 0;
}

/* The module's image is all here: load it where its memory was. */
static int image_load_module(struct image_reader *rd)
{
	struct session *s = rd->s;
	Vcuda__Request rq = VCUDA__REQUEST__INIT;
	struct session_module *sm;
	uint64_t at[2] = {rd->memory[0], rd->memory[2]}, got[4];
	uint8_t *image = rd->image;
	CUresult rc;

	rd->image = NULL;
	rq.device = rd->module_device;
	s->be->place_next(at, 2);
	rc = session_module_make(s, &rq, image, rd->image_len, &sm);
	s->be->place_next(NULL, 0);
	if (rc != CUDA_SUCCESS)
		return image_fail(rd->why, rd->why_len, "a module does not load here: %s",
				  vcuda_backend_errname(s->be, rc));
	if (s->be->module_memory(sm->m, got) != 0 || memcmp(got, rd->memory, sizeof(got)) != 0 ||
	    vcuda_handle_place(&s->handles, rd->module, sm) != 0) {
		session_module_drop(s, sm);
		return image_bad(rd, "a module's memory or handle is not where the image says");
	}
	for (int i = 0; i < 4; i += 2) {
		struct vcuda_range r = {
		    .base = got[i], .size = got[i + 1], .tag = (uint64_t)sm->device};
		if (vcuda_rangemap_insert(&rd->writable, &r) != 0)
			return image_fail(rd->why, rd->why_len, "out of memory");
	}
	return 0;
}

static int image_read_chunk(struct image_reader *rd, const Vcuda__ImageChunk *c)
{
	struct session *s = rd->s;
	uint64_t n = c->data.len ? c->data.len : c->zeros;
	const struct vcuda_range *w;
	CUresult rc;

	if (c->module) { /* a piece of the module image arriving */
		if (!rd->image || c->module != rd->module || c->offset != rd->image_have ||
		    c->data.len > rd->image_len - rd->image_have || !c->data.len)
			return image_bad(rd, "a module image piece out of order");
		memcpy(rd->image + rd->image_have, c->data.data, c->data.len);
		rd->image_have += c->data.len;
		return rd->image_have == rd->image_len ? image_load_module(rd) : 0;
	}
	if ((c->data.len && c->zeros) || !n || n > SESSION_IMAGE_CHUNK ||
	    !(w = vcuda_rangemap_find_span(&rd->writable, c->offset, n)))
		return image_bad(rd, "device memory outside what it allocated");
	if (image_use(s, (int)w->tag) != CUDA_SUCCESS)
		return image_fail(rd->why, rd->why_len, "device %d is not usable here",
				  (int)w->tag);
	rc = c->data.len ? s->be->cuMemcpyHtoD(c->offset, c->data.data, n)
			 : s->be->cuMemsetD8(c->offset, 0, n);
	if (rc != CUDA_SUCCESS)
		return image_fail(rd->why, rd->why_len, "cannot write device memory: %s",
				  vcuda_backend_errname(s->be, rc));
	return 0;
}

static int image_read_variable(struct image_reader *rd, const Vcuda__ImageVariable *v)
{
	struct session *s = rd->s;
	struct session_module *sm = vcuda_handle_get(&s->handles, VCUDA_HT_MODULE, v->module);
	struct vcuda_range r = {.base = v->addr, .size = v->size, .data = sm};
	const struct vcuda_range *w = vcuda_rangemap_find_span(&rd->writable, v->addr, v->size);

	/* as many as a guest could name, at most: each costs the host an entry */
	if (++rd->variables > s->handles.limit)
		return image_bad(rd, "more variables than the session could have named");
	if (!sm || !v->size || !w || (int)w->tag != sm->device ||
	    vcuda_rangemap_find_span(&s->mem, v->addr, 1))
		return image_bad(rd, "a variable outside its module");
	r.tag = (uint64_t)sm->device;
	return vcuda_rangemap_insert(&s->mem, &r) == 0
		   ? 0
		   : image_fail(rd->why, rd->why_len, "out of memory");
}

static int image_read_function(struct image_reader *rd, const Vcuda__ImageFunction *f)
{
	struct session *s = rd->s;
	struct session_module *sm = vcuda_handle_get(&s->handles, VCUDA_HT_MODULE, f->module);
	struct session_function *sf;
	size_t n = f->name ? strlen(f->name) : 0;

	if (!sm || !n || (f->id >> 56) != VCUDA_HT_FUNCTION)
		return image_bad(rd, "a function record");
	if (!(sf = calloc(1, sizeof(*sf) + n + 1)))
		return image_fail(rd->why, rd->why_len, "out of memory");
	memcpy(sf->name, f->name, n);
	sf->module = f->module;
	sf->device = sm->device;
	if (image_use(s, sm->device) != CUDA_SUCCESS ||
	    s->be->cuModuleGetFunction(&sf->f, sm->m, sf->name) != CUDA_SUCCESS) {
		free(sf);
		return image_fail(rd->why, rd->why_len, "its module has no function %s", f->name);
	}
	if (vcuda_handle_place(&s->handles, f->id, sf) != 0) {
		free(sf);
		return image_bad(rd, "a function's handle is taken");
	}
	return 0;
}

static int image_read_stream(struct image_reader *rd, const Vcuda__ImageStream *st)
{
	struct session *s = rd->s;
	struct session_stream *ss;

	if ((st->id >> 56) != VCUDA_HT_STREAM || image_device(rd, st->device) != 0)
		return image_bad(rd, "a stream record");
	if (!(ss = calloc(1, sizeof(*ss))))
		return image_fail(rd->why, rd->why_len, "out of memory");
	ss->device = st->device;
	ss->flags = st->flags;
	ss->priority = st->priority;
	if (s->be->cuStreamCreateWithPriority(&ss->s, st->flags, st->priority) != CUDA_SUCCESS) {
		free(ss);
		return image_fail(rd->why, rd->why_len, "cannot make a stream with flags %u",
				  st->flags);
	}
	if (vcuda_handle_place(&s->handles, st->id, ss) != 0) {
		s->be->cuStreamDestroy(ss->s);
		free(ss);
		return image_bad(rd, "a stream's handle is taken");
	}
	return 0;
}

static int image_read_event(struct image_reader *rd, const Vcuda__ImageEvent *ev)
{
	struct session *s = rd->s;
	struct session_event *se;

	if ((ev->id >> 56) != VCUDA_HT_EVENT || image_device(rd, ev->device) != 0 ||
	    (ev->flags & CU_EVENT_INTERPROCESS))
		return image_bad(rd, "an event record");
	if (!(se = calloc(1, sizeof(*se))))
		return image_fail(rd->why, rd->why_len, "out of memory");
	se->device = ev->device;
	se->flags = ev->flags;
	if (s->be->cuEventCreate(&se->e, ev->flags) != CUDA_SUCCESS) {
		free(se);
		return image_fail(rd->why, rd->why_len, "cannot make an event with flags %u",
				  ev->flags);
	}
	if (vcuda_handle_place(&s->handles, ev->id, se) != 0) {
		s->be->cuEventDestroy(se->e);
		free(se);
		return image_bad(rd, "an event's handle is taken");
	}
	return 0;
}

/* One record: 1 at the end, 0 for more, -1 on failure. */
static int image_read_record(struct image_reader *rd, int first)
{
	uint8_t len[4];
	uint32_t n;
	Vcuda__ImageRecord *r;
	int rc;

	if (rd->io->read(rd->io->arg, len, 4) != 0)
		return image_bad(rd, "it ends before its end record");
	n = (uint32_t)len[0] | (uint32_t)len[1] << 8 | (uint32_t)len[2] << 16 |
	    (uint32_t)len[3] << 24;
	if (n > IMAGE_MAX_RECORD)
		return image_bad(rd, "a record longer than any the server writes");
	if (rd->io->read(rd->io->arg, rd->buf, n) != 0)
		return image_bad(rd, "it ends inside a record");
	if (!(r = vcuda__image_record__unpack(NULL, n, rd->buf)))
		return image_bad(rd, "a record that does not decode");
	if (first != (r->r_case == VCUDA__IMAGE_RECORD__R_HEADER)) {
		vcuda__image_record__free_unpacked(r, NULL);
		return image_bad(rd, first ? "no header" : "a second header");
	}
	if (rd->image && r->r_case != VCUDA__IMAGE_RECORD__R_CHUNK) {
		vcuda__image_record__free_unpacked(r, NULL);
		return image_bad(rd, "a module image cut short");
	}
	switch (r->r_case) {
	case VCUDA__IMAGE_RECORD__R_HEADER:
		rc = image_read_header(rd, r->header);
		break;
	case VCUDA__IMAGE_RECORD__R_ALLOC:
		rc = image_read_alloc(rd, r->alloc);
		break;
	case VCUDA__IMAGE_RECORD__R_MODULE:
		rc = image_read_module(rd, r->module);
		break;
	case VCUDA__IMAGE_RECORD__R_CHUNK:
		rc = image_read_chunk(rd, r->chunk);
		break;
	case VCUDA__IMAGE_RECORD__R_VARIABLE:
		rc = image_read_variable(rd, r->variable);
		break;
	case VCUDA__IMAGE_RECORD__R_FUNCTION:
		rc = image_read_function(rd, r->function);
		break;
	case VCUDA__IMAGE_RECORD__R_STREAM:
		rc = image_read_stream(rd, r->stream);
		break;
	case VCUDA__IMAGE_RECORD__R_EVENT:
		rc = image_read_event(rd, r->event);
		break;
	case VCUDA__IMAGE_RECORD__R_END:
		rc = 1;
		break;
	default:
		rc = image_bad(rd, "a record of an unknown kind");
	}
	vcuda__image_record__free_unpacked(r, NULL);
	return rc;
}

int session_image_read(struct session *s, const struct session_image_io *io, char *why, size_t len)
{
	struct image_reader rd = {.s = s, .io = io, .why = why, .why_len = len};
	uint8_t head[12];
	int rc = -1;

	if (s->mem.n || s->handles.count || s->handles.nslots)
		return image_fail(why, len, "the session already holds state");
	if (io->read(io->arg, head, sizeof(head)) != 0 || memcmp(head, image_magic, 8) != 0)
		return image_fail(why, len, "not a session image");
	if (head[8] != SESSION_IMAGE_VERSION || head[9] || head[10] || head[11])
		return image_fail(why, len, "a session image of version %u; this server reads %u",
				  (unsigned)head[8] | (unsigned)head[9] << 8,
				  SESSION_IMAGE_VERSION);
	if (!(rd.buf = malloc(IMAGE_MAX_RECORD)))
		return image_fail(why, len, "out of memory");
	vcuda_rangemap_init(&rd.writable);
	for (int first = 1; (rc = image_read_record(&rd, first)) == 0; first = 0)
		;
	free(rd.image);
	free(rd.buf);
	vcuda_rangemap_fini(&rd.writable);
	vcuda_handle_relink(&s->handles);
	if (rc < 0) {
		session_release(s, -1);
		vcuda_handle_table_fini(&s->handles);
		vcuda_handle_table_init(&s->handles, s->limits->handles);
		return -1;
	}
	return 0;
}

int session_image_peek(const char *path, uint8_t token[SESSION_TOKEN_LEN], char *client,
		       size_t client_len, char *why, size_t len)
{
	uint8_t head[16], *buf = NULL;
	Vcuda__ImageRecord *r = NULL;
	FILE *f = fopen(path, "rb");
	uint32_t n;
	int rc = -1;

	if (!f)
		return image_fail(why, len, "cannot open %s: %s", path, strerror(errno));
	if (fread(head, 1, sizeof(head), f) != sizeof(head) || memcmp(head, image_magic, 8) != 0) {
		image_fail(why, len, "%s is not a session image", path);
		goto out;
	}
	if (head[8] != SESSION_IMAGE_VERSION || head[9] || head[10] || head[11]) {
		image_fail(why, len, "%s is a session image of another version", path);
		goto out;
	}
	n = (uint32_t)head[12] | (uint32_t)head[13] << 8 | (uint32_t)head[14] << 16 |
	    (uint32_t)head[15] << 24;
	if (n > IMAGE_MAX_RECORD || !(buf = malloc(n ? n : 1)) || fread(buf, 1, n, f) != n ||
	    !(r = vcuda__image_record__unpack(NULL, n, buf)) ||
	    r->r_case != VCUDA__IMAGE_RECORD__R_HEADER ||
	    r->header->token.len != SESSION_TOKEN_LEN) {
		image_fail(why, len, "%s is damaged: no header", path);
		goto out;
	}
	memcpy(token, r->header->token.data, SESSION_TOKEN_LEN);
	snprintf(client, client_len, "%s", r->header->client ? r->header->client : "");
	rc = 0;
out:
	if (r)
		vcuda__image_record__free_unpacked(r, NULL);
	free(buf);
	fclose(f);
	return rc;
}

/* ---- over a file descriptor ---------------------------------------------------------- */

static int image_fd_write(void *arg, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t k = write(*(int *)arg, b, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static int image_fd_read(void *arg, void *p, size_t n)
{
	uint8_t *b = p;

	while (n) {
		ssize_t k = read(*(int *)arg, b, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

struct session_image_io session_image_fd(int *fd)
{
	return (struct session_image_io){.write = image_fd_write, .read = image_fd_read, .arg = fd};
}
