/* libFuzzer: what a server moving a session here sends (server/movein.c).
 * The input is a run of messages, each a byte choosing which of two peer
 * keys sends it, a 2-byte little-endian length and that many bytes of
 * MoveChunk, a 4-byte little-endian length and that many bytes of data.
 * The moves' files go to a private directory on /dev/shm, removed after
 * each input. */
#include <stdint.h>
#include <string.h>

#include "movein.h"

static uint32_t take(const uint8_t **p, size_t *left, unsigned n)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < n && *left; i++, (*p)++, (*left)--)
		v |= (uint32_t) * *p << (8 * i);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *peers[2] = {"0123456789012345678901234567890123456789",
				       "abcdefghijabcdefghijabcdefghijabcdefghij"};
	struct vcudad_movein mi;
	const uint8_t *p = data;
	size_t left = size;

	memset(&mi, 0, sizeof(mi));
	while (left > 3) {
		const char *peer = peers[take(&p, &left, 1) & 1];
		size_t hlen = take(&p, &left, 2), dlen;
		const uint8_t *hdr = p;
		Vcuda__MoveChunk *c;
		Vcuda__AdminStatus st = VCUDA__ADMIN_STATUS__INIT;
		char path[700];

		if (hlen > left)
			hlen = left;
		p += hlen;
		left -= hlen;
		dlen = take(&p, &left, 4);
		if (dlen > left)
			dlen = left;
		c = vcuda__move_chunk__unpack(NULL, hlen, hdr);
		if (c) {
			vcudad_movein_handle(&mi, peer, c, p, dlen, 64u << 20, &st, path,
					     sizeof(path));
			vcuda__move_chunk__free_unpacked(c, NULL);
		}
		p += dlen;
		left -= dlen;
	}
	vcudad_movein_fini(&mi);
	return 0;
}
