/*
 * Framing of protocol messages on a channel: a protobuf-encoded header
 * frame, optionally followed by a payload frame (transport.h).
 */
#ifndef VCUDA_WIRE_H
#define VCUDA_WIRE_H

#include <stddef.h>

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
Vcuda__Reply *vcuda_wire_reply(const struct vcuda_msg *m);

/* The name of a request's call, for logs ("mem_alloc"); "?" if unknown. */
const char *vcuda_wire_call_name(int call_case);

#endif
