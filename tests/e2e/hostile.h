/*
 * What the hostile client's two files share (hostile.c: one session's
 * misuse of the protocol; hostile_load.c: floods, junk and damaged modules
 * under load).
 */
#ifndef VCUDA_E2E_HOSTILE_H
#define VCUDA_E2E_HOSTILE_H

#include <stdint.h>
#include <stdio.h>

#include "client.h"
#include "vcuda.pb-c.h"

extern int failures;

#define EXPECT(cond)                                                                               \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);        \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

/* A request named rq for call NAME (field name) with message msg. */
#define REQ(rq, NAME, name, msg)                                                                   \
	Vcuda__Request rq = VCUDA__REQUEST__INIT;                                                  \
	rq.call_case = VCUDA__REQUEST__CALL_##NAME;                                                \
	rq.name = &(msg)

/* A session with the server at url, or NULL (counted as a failure). */
struct vcuda_client *session(const char *url);
/* Sends rq on c's channel and returns the reply's CUresult (status in
 * *status), or -1 with the transport's status. */
int call(struct vcuda_client *c, Vcuda__Request *rq, const void *payload, size_t len, int *status);
/* A raw socket speaks to a tcp:// server with the guest's keys
 * (VCUDA_KEY, VCUDA_SERVER_KEY), as a guest with a listed key that turned
 * hostile would: the attacks must reach the protocol, past the keys. */
void hostile_keys(void *sock, const char *url);
/* The load: returns the number of failures it saw. fatbin may be NULL. */
int hostile_load(const char *url, const char *fatbin, int max_modules);

#endif
