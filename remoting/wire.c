#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "wire.h"

int vcuda_wire_send(struct vcuda_chan *c, const ProtobufCMessage *msg, const void *payload,
		    size_t payload_len, unsigned flags)
{
	uint8_t stack[512];
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = n <= sizeof(stack) ? stack : malloc(n);
	int rc;

	if (!buf) {
		if (flags == VCUDA_SEND_GIFT)
			free((void *)payload);
		return VCUDA_E_NOMEM;
	}
	protobuf_c_message_pack(msg, buf);
	rc = vcuda_chan_send(c, buf, n, payload, payload_len, flags);
	if (buf != stack)
		free(buf);
	return rc;
}

Vcuda__Request *vcuda_wire_request(const struct vcuda_msg *m)
{
	return vcuda__request__unpack(NULL, m->hdr_len, m->hdr);
}

Vcuda__Reply *vcuda_wire_reply(const struct vcuda_msg *m)
{
	return vcuda__reply__unpack(NULL, m->hdr_len, m->hdr);
}

const char *vcuda_wire_call_name(int call_case)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
	    &vcuda__request__descriptor, (unsigned)call_case);

	return f ? f->name : "?";
}

#define BATCH_ENTRY_HEAD  16u /* u32 header length, u32 flags, u64 payload length */
#define BATCH_HAS_PAYLOAD 1u

static size_t batch_pad(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

int vcuda_batch_add(struct vcuda_batch *b, const ProtobufCMessage *msg, const void *payload,
		    size_t payload_len)
{
	size_t hdr_len = protobuf_c_message_get_packed_size(msg);
	size_t need = BATCH_ENTRY_HEAD + batch_pad(hdr_len) + batch_pad(payload_len);
	uint32_t h = (uint32_t)hdr_len, flags = payload ? BATCH_HAS_PAYLOAD : 0;
	uint64_t pl = payload_len;
	uint8_t *p;

	if (hdr_len > VCUDA_MAX_HEADER || need > VCUDA_MAX_PAYLOAD - b->len)
		return VCUDA_E_FULL;
	if (b->len + need > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + need)
			cap *= 2;
		if (cap > VCUDA_MAX_PAYLOAD)
			cap = VCUDA_MAX_PAYLOAD;
		if (!(p = realloc(b->buf, cap)))
			return VCUDA_E_NOMEM;
		b->buf = p;
		b->cap = cap;
	}
	p = b->buf + b->len;
	memcpy(p, &h, 4);
	memcpy(p + 4, &flags, 4);
	memcpy(p + 8, &pl, 8);
	memset(p + BATCH_ENTRY_HEAD, 0, batch_pad(hdr_len) + batch_pad(payload_len));
	protobuf_c_message_pack(msg, p + BATCH_ENTRY_HEAD);
	if (payload_len)
		memcpy(p + BATCH_ENTRY_HEAD + batch_pad(hdr_len), payload, payload_len);
	b->len += need;
	b->count++;
	return 0;
}

int vcuda_batch_next(const void *buf, size_t len, size_t *off, struct vcuda_msg *sub)
{
	const uint8_t *p = (const uint8_t *)buf + *off;
	size_t left = len - *off, need;
	uint32_t h, flags;
	uint64_t pl;

	if (*off >= len)
		return 0;
	if (left < BATCH_ENTRY_HEAD)
		return VCUDA_E_PROTO;
	memcpy(&h, p, 4);
	memcpy(&flags, p + 4, 4);
	memcpy(&pl, p + 8, 8);
	if (h > VCUDA_MAX_HEADER || pl > VCUDA_MAX_PAYLOAD || (flags & ~BATCH_HAS_PAYLOAD) ||
	    (!(flags & BATCH_HAS_PAYLOAD) && pl))
		return VCUDA_E_PROTO;
	need = BATCH_ENTRY_HEAD + batch_pad(h) + batch_pad((size_t)pl);
	if (need > left)
		return VCUDA_E_PROTO;
	memset(sub, 0, sizeof(*sub));
	sub->hdr = p + BATCH_ENTRY_HEAD;
	sub->hdr_len = h;
	sub->payload = (flags & BATCH_HAS_PAYLOAD) ? p + BATCH_ENTRY_HEAD + batch_pad(h) : NULL;
	sub->payload_len = (size_t)pl;
	*off += need;
	return 1;
}

void vcuda_batch_clear(struct vcuda_batch *b)
{
	b->len = 0;
	b->count = 0;
}

static void *arena_alloc(void *data, size_t size)
{
	struct vcuda_arena *ar = data;
	size_t n = (size + 15) & ~(size_t)15;

	if (n >= size && n <= sizeof(ar->buf) - ar->used) {
		void *p = ar->buf + ar->used;
		ar->used += n;
		return p;
	}
	return malloc(size);
}

static void arena_free(void *data, void *p)
{
	struct vcuda_arena *ar = data;

	if ((uint8_t *)p < ar->buf || (uint8_t *)p >= ar->buf + sizeof(ar->buf))
		free(p);
}

void vcuda_arena_init(struct vcuda_arena *ar)
{
	ar->a.alloc = arena_alloc;
	ar->a.free = arena_free;
	ar->a.allocator_data = ar;
	ar->used = 0;
}
