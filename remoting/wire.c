#include "config.h"

#include <stdlib.h>

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
