/*
 * Framing of protocol messages on a channel: a protobuf-encoded header
 * frame, optionally followed by a payload frame (transport.h).
 */
#ifndef VCUDA_WIRE_H
#define VCUDA_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "transport.h"
#include "vcuda.pb-c.h"

/* Request.flags bits. */
#define VCUDA_REQ_WANT_REPLY 1u

/* Packs msg and sends it with an optional payload (flags: VCUDA_SEND_*).
 * Returns what the channel's send returns, or VCUDA_E_NOMEM / VCUDA_E_TOOBIG. */
int vcuda_wire_send(struct vcuda_chan *c, const ProtobufCMessage *msg, const void *payload,
		    size_t payload_len, unsigned flags);

/* Unpacks a received header; NULL if it is not a valid message of that kind.
 * Free with protobuf_c_message_free_unpacked(m, NULL). */
Vcuda__Request *vcuda_wire_request(const struct vcuda_msg *m);

/* An allocator for decoding one message at a time without malloc: blocks
 * come from a buffer until it is used up (then from malloc), and the
 * buffer is reused once the message is freed (vcuda_arena_reset after
 * protobuf_c_message_free_unpacked). Not thread-safe. */
struct vcuda_arena {
	ProtobufCAllocator a;
	size_t used;
	_Alignas(16) uint8_t buf[16384];
};
void vcuda_arena_init(struct vcuda_arena *ar);
static inline void vcuda_arena_reset(struct vcuda_arena *ar)
{
	ar->used = 0;
}
Vcuda__Reply *vcuda_wire_reply(const struct vcuda_msg *m);

/*
 * Batches (Request.batch): posted requests packed into one payload, each
 * entry its header and optional payload (vcuda.proto says the layout).
 * vcuda_batch_add appends msg and its payload to b (growing it up to
 * VCUDA_MAX_PAYLOAD): 0, VCUDA_E_FULL when it would not fit (nothing
 * added), VCUDA_E_NOMEM. vcuda_batch_next reads the entry at *off of a
 * received payload into sub (pointing into it) and advances *off: 1, 0 at
 * the end, or VCUDA_E_PROTO for an entry that does not fit what is there.
 */
struct vcuda_batch {
	uint8_t *buf;
	size_t len, cap;
	uint32_t count;
};
int vcuda_batch_add(struct vcuda_batch *b, const ProtobufCMessage *msg, const void *payload,
		    size_t payload_len);
int vcuda_batch_next(const void *buf, size_t len, size_t *off, struct vcuda_msg *sub);
void vcuda_batch_clear(struct vcuda_batch *b);

/* The name of a request's call, for logs ("mem_alloc"); "?" if unknown. */
const char *vcuda_wire_call_name(int call_case);

#endif
