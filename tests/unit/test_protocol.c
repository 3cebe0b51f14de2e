/*
 * The wire protocol: every message of vcuda.proto survives a round trip
 * with every field set, and truncated or inflated encodings are refused.
 * Messages are filled by walking their descriptors, so a call added to the
 * protocol is covered without touching this file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vcuda.pb-c.h"
#include "wire.h"
#include "error.h"

static uint8_t arena[1 << 20];
static size_t arena_used;

static void *arena_alloc(size_t n)
{
	void *p = arena + arena_used;

	arena_used += (n + 15) & ~(size_t)15;
	assert_true(arena_used <= sizeof(arena));
	memset(p, 0, n);
	return p;
}

static void fill_message(ProtobufCMessage *m, const ProtobufCMessageDescriptor *d, int depth,
			 unsigned oneof_pick);

/* A value for one scalar field, distinct per field and never the default. */
static void fill_value(void *at, const ProtobufCFieldDescriptor *f, int depth, unsigned k)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		*(int32_t *)at = -(int32_t)(1000 + k);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		*(uint32_t *)at = 0x80000000u + k;
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		*(int64_t *)at = -(int64_t)(1ll << 40) - k;
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		*(uint64_t *)at = 0xfedcba9876543210ull + k;
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		*(float *)at = 1.5f + (float)k;
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		*(double *)at = 2.25 + k;
		break;
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *)at = 1;
		break;
	case PROTOBUF_C_TYPE_STRING:
		*(char **)at = "a string value";
		break;
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *b = at;
		b->len = 37 + k;
		b->data = arena_alloc(b->len);
		for (size_t i = 0; i < b->len; i++)
			b->data[i] = (uint8_t)(i * 7 + k);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessageDescriptor *sub = f->descriptor;
		ProtobufCMessage *m = arena_alloc(sub->sizeof_message);
		fill_message(m, sub, depth + 1, 0);
		*(ProtobufCMessage **)at = m;
		break;
	}
	}
}

static size_t field_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	default:
		return 4;
	}
}

/* Sets every field; of a oneof only the member numbered oneof_pick (or the
 * first, when 0). */
static void fill_message(ProtobufCMessage *m, const ProtobufCMessageDescriptor *d, int depth,
			 unsigned oneof_pick)
{
	d->message_init(m);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char *at = (char *)m + f->offset;

		if (depth > 3 && f->type == PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t *which = (uint32_t *)((char *)m + f->quantifier_offset);
			if (*which != 0 || (oneof_pick && f->id != oneof_pick))
				continue;
			*which = f->id;
			fill_value(at, f, depth, i);
		} else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = 3, sz = field_size(f);
			char *arr = arena_alloc(n * sz);
			for (size_t j = 0; j < n; j++)
				fill_value(arr + j * sz, f, depth, i + (unsigned)j);
			*(size_t *)((char *)m + f->quantifier_offset) = n;
			*(void **)at = arr;
		} else {
			fill_value(at, f, depth, i);
		}
	}
}

/* Packs, unpacks and packs again: the two encodings must be identical. */
static void round_trip(const ProtobufCMessageDescriptor *d, unsigned oneof_pick)
{
	ProtobufCMessage *m, *back;
	size_t n, n2;
	uint8_t *buf, *buf2;

	arena_used = 0;
	m = arena_alloc(d->sizeof_message);
	fill_message(m, d, 0, oneof_pick);
	n = protobuf_c_message_get_packed_size(m);
	buf = arena_alloc(n);
	assert_int_equal(protobuf_c_message_pack(m, buf), n);
	back = protobuf_c_message_unpack(d, NULL, n, buf);
	assert_non_null(back);
	n2 = protobuf_c_message_get_packed_size(back);
	assert_int_equal(n2, n);
	buf2 = arena_alloc(n2);
	protobuf_c_message_pack(back, buf2);
	assert_memory_equal(buf, buf2, n);
	protobuf_c_message_free_unpacked(back, NULL);
}

/* Every top-level message, and each member of Request.call and Reply.ret. */
static void round_trip_all(const ProtobufCMessageDescriptor *d)
{
	int oneofs = 0;

	for (unsigned i = 0; i < d->n_fields; i++) {
		if (d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			round_trip(d, d->fields[i].id);
			oneofs++;
		}
	}
	if (!oneofs)
		round_trip(d, 0);
}

static void test_round_trip_requests(void **state)
{
	round_trip_all(&vcuda__request__descriptor);
}

static void test_round_trip_replies(void **state)
{
	round_trip_all(&vcuda__reply__descriptor);
}

static void test_round_trip_handshake(void **state)
{
	round_trip_all(&vcuda__hello__descriptor);
	round_trip_all(&vcuda__hello_reply__descriptor);
}

/* Every message type of the file, including the ones only nested. */
static void test_round_trip_every_message(void **state)
{

	for (unsigned i = 0; i < vcuda__request__descriptor.n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &vcuda__request__descriptor.fields[i];
		if (f->type == PROTOBUF_C_TYPE_MESSAGE)
			round_trip_all(f->descriptor);
	}
	for (unsigned i = 0; i < vcuda__reply__descriptor.n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &vcuda__reply__descriptor.fields[i];
		if (f->type == PROTOBUF_C_TYPE_MESSAGE)
			round_trip_all(f->descriptor);
	}
}

static size_t pack_attach(uint8_t *buf, size_t token_len)
{
	Vcuda__Request rq = VCUDA__REQUEST__INIT;
	Vcuda__Attach at = VCUDA__ATTACH__INIT;
	static uint8_t token[64];

	rq.seq = 0x123456789abcull; /* a multi-byte varint first */
	rq.call_case = VCUDA__REQUEST__CALL_ATTACH;
	rq.attach = &at;
	at.token = (ProtobufCBinaryData){token_len, token};
	return vcuda__request__pack(&rq, buf);
}

static void test_truncated_refused(void **state)
{
	uint8_t buf[256];
	size_t n = pack_attach(buf, 16);
	Vcuda__Request *r;

	/* Cut inside the token: its length says more than there is. */
	for (size_t cut = n - 15; cut < n; cut++)
		assert_null(vcuda__request__unpack(NULL, cut, buf));
	/* Cut inside the first varint. */
	assert_null(vcuda__request__unpack(NULL, 3, buf));
	r = vcuda__request__unpack(NULL, n, buf);
	assert_non_null(r);
	assert_int_equal(r->attach->token.len, 16);
	vcuda__request__free_unpacked(r, NULL);
}

static void test_inflated_length_refused(void **state)
{
	uint8_t buf[256];
	size_t n = pack_attach(buf, 4);

	/* The attach field's length byte claims 100 bytes that are not there;
	 * nothing may be read or allocated past the buffer. */
	for (size_t i = 0; i + 1 < n; i++) {
		if (buf[i] == ((10u << 3) | 2)) {
			buf[i + 1] = 100;
			break;
		}
	}
	assert_null(vcuda__request__unpack(NULL, n, buf));
}

static void test_garbage_refused(void **state)
{
	uint8_t junk[64];

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = 0xff;
	assert_null(vcuda__request__unpack(NULL, sizeof(junk), junk));
	assert_null(vcuda__reply__unpack(NULL, sizeof(junk), junk));
}

/* A batch: entries come back as they went in, with and without payloads;
 * one that claims more than is there ends the reading. */
static void test_batch(void **state)
{
	struct vcuda_batch b = {0};
	Vcuda__Request rq = VCUDA__REQUEST__INIT;
	Vcuda__Launch l = VCUDA__LAUNCH__INIT;
	struct vcuda_msg sub;
	uint8_t params[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	size_t off = 0;

	rq.call_case = VCUDA__REQUEST__CALL_LAUNCH;
	rq.launch = &l;
	for (uint64_t i = 1; i <= 3; i++) {
		rq.seq = i;
		assert_int_equal(vcuda_batch_add(&b, &rq.base, i == 2 ? NULL : params,
						 i == 2 ? 0 : sizeof(params)),
				 0);
	}
	assert_int_equal(b.count, 3);
	for (uint64_t i = 1; i <= 3; i++) {
		Vcuda__Request *got;
		assert_int_equal(vcuda_batch_next(b.buf, b.len, &off, &sub), 1);
		got = vcuda__request__unpack(NULL, sub.hdr_len, sub.hdr);
		assert_non_null(got);
		assert_int_equal(got->seq, i);
		assert_int_equal(got->call_case, VCUDA__REQUEST__CALL_LAUNCH);
		vcuda__request__free_unpacked(got, NULL);
		if (i == 2) {
			assert_null(sub.payload);
		} else {
			assert_int_equal(sub.payload_len, sizeof(params));
			assert_memory_equal(sub.payload, params, sizeof(params));
		}
	}
	assert_int_equal(vcuda_batch_next(b.buf, b.len, &off, &sub), 0);
	/* Cut short, or a length inflated: refused, never read past the end. */
	off = 0;
	assert_int_equal(vcuda_batch_next(b.buf, 20, &off, &sub), VCUDA_E_PROTO);
	off = 0;
	b.buf[8] = 0xff; /* the first entry's payload length */
	assert_int_equal(vcuda_batch_next(b.buf, b.len, &off, &sub), VCUDA_E_PROTO);
	free(b.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_batch),
	    cmocka_unit_test(test_round_trip_requests),
	    cmocka_unit_test(test_round_trip_replies),
	    cmocka_unit_test(test_round_trip_handshake),
	    cmocka_unit_test(test_round_trip_every_message),
	    cmocka_unit_test(test_truncated_refused),
	    cmocka_unit_test(test_inflated_length_refused),
	    cmocka_unit_test(test_garbage_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
