/* libFuzzer: the protocol's decoders (protobuf-c), every message a peer can
 * send: a guest's Hello and Request, a server's HelloReply and Reply. What
 * decodes must encode again to no more bytes than the limits allow. The
 * same bytes as a batch's payload: every entry read stays inside it. */
#include <stdint.h>
#include <stdlib.h>

#include "error.h"
#include "transport.h"
#include "vcuda.pb-c.h"
#include "wire.h"

static void roundtrip(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t size)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, size, data);
	uint8_t *buf;
	size_t n;

	if (!m)
		return;
	n = protobuf_c_message_get_packed_size(m);
	if ((buf = malloc(n ? n : 1)) != NULL) {
		if (protobuf_c_message_pack(m, buf) != n)
			abort();
		free(buf);
	}
	protobuf_c_message_free_unpacked(m, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > VCUDA_MAX_HEADER)
		return 0;
	roundtrip(&vcuda__request__descriptor, data, size);
	roundtrip(&vcuda__reply__descriptor, data, size);
	roundtrip(&vcuda__hello__descriptor, data, size);
	roundtrip(&vcuda__hello_reply__descriptor, data, size);
	{
		struct vcuda_msg sub;
		size_t off = 0;
		while (vcuda_batch_next(data, size, &off, &sub) == 1) {
			const uint8_t *end = data + size;
			if ((const uint8_t *)sub.hdr + sub.hdr_len > end ||
			    (sub.payload && (const uint8_t *)sub.payload + sub.payload_len > end))
				abort();
			roundtrip(&vcuda__request__descriptor, sub.hdr, sub.hdr_len);
		}
	}
	return 0;
}
