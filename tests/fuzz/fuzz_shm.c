/* libFuzzer: the shm:// ring reader, as a worker reads what its guest
 * writes. The input is a sequence of records ([length: 2 bytes][body]),
 * each published as the body of the next ring record whatever it says
 * (kind, lengths, header and payload); the bound side then reads until the
 * ring is empty or the channel gives up on its peer, when a fresh pair is
 * made for the next input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "transport.h"

static struct vcuda_chan *srv, *cli;

static int fuzz_pair(void)
{
	static int n;
	char url[128];

	vcuda_chan_close(cli);
	vcuda_chan_close(srv);
	srv = cli = NULL;
	snprintf(url, sizeof(url), "shm:///tmp/vcuda-fuzz-shm-%d-%d", (int)getpid(), n++);
	unlink(url + 6);
	if (vcuda_shm_ops.bind(url, NULL, &srv) != 0 || vcuda_shm_ops.connect(url, NULL, &cli) != 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vcuda_msg m;
	int rc = 0;

	if (!srv) {
		setenv("VCUDA_SHM_HEAP", "4K", 1);
		setenv("VCUDA_SHM_SPIN_US", "0", 1);
		fuzz_pair();
	}
	while (size >= 2) {
		size_t len = (size_t)data[0] | (size_t)data[1] << 8;
		if (len > size - 2)
			len = size - 2;
		if (vcuda_shm_send_bytes(cli, data + 2, len) != 0)
			break;
		data += 2 + len;
		size -= 2 + len;
	}
	while ((rc = vcuda_chan_recv(srv, &m, 0)) == 0 || rc == VCUDA_E_PROTO ||
	       rc == VCUDA_E_TOOBIG) {
		if (rc == 0) {
			/* What a handler would touch. */
			volatile uint8_t sum = 0;
			for (size_t i = 0; i < m.hdr_len; i++)
				sum += ((const uint8_t *)m.hdr)[i];
			for (size_t i = 0; i < m.payload_len; i += 4096)
				sum += ((const uint8_t *)m.payload)[i];
			if (m.payload_len)
				sum += ((const uint8_t *)m.payload)[m.payload_len - 1];
			vcuda_chan_release(srv, &m);
		}
	}
	if (rc != VCUDA_E_TIMEOUT)
		fuzz_pair(); /* the peer was given up: a fresh pair */
	return 0;
}
