/*
 * For tests and fuzzers that serve a session in process, on the real CPU
 * device or a fake backend: a channel that sends nowhere (checking that a
 * handler never builds a message the transport would refuse), and a
 * session attached to it, as a worker would hold it after attach.
 */
#ifndef VCUDA_TESTS_SESSION_STUB_H
#define VCUDA_TESTS_SESSION_STUB_H

#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "transport.h"

static int stub_send(struct vcuda_chan *c, const void *hdr, size_t hdr_len, const void *payload,
		     size_t payload_len, unsigned flags)
{
	(void)c;
	(void)hdr;
	if (hdr_len > VCUDA_MAX_HEADER || payload_len > VCUDA_MAX_PAYLOAD)
		abort(); /* a handler built a message the transport would refuse */
	if (flags == VCUDA_SEND_GIFT)
		free((void *)payload);
	return 0;
}

static int stub_peer_lost(struct vcuda_chan *c)
{
	(void)c;
	return 0;
}

static const struct vcuda_transport_ops stub_ops = {
    .scheme = "null", .send = stub_send, .peer_lost = stub_peer_lost};
static struct vcuda_chan stub_chan = {&stub_ops};

static inline void stub_session_init(struct session *s, struct vcuda_backend *be,
				     const struct vcudad_limits *limits, const char *peer)
{
	memset(s, 0, sizeof(*s));
	s->be = be;
	s->chan = &stub_chan;
	s->limits = limits;
	s->peer = peer;
	s->attached = 1;
	s->current = -1;
	s->report_fd = s->ipc_fd = -1;
	s->ndevices = 1;
	vcuda_handle_table_init(&s->handles, limits->handles);
	vcuda_rangemap_init(&s->mem);
}

/* Frees everything the session holds, as a worker does at its end. */
static inline void stub_session_end(struct session *s)
{
	session_release(s, -1);
	vcuda_handle_table_fini(&s->handles);
	vcuda_rangemap_fini(&s->mem);
}

#endif
