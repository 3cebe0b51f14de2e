/*
 * The listener's admin socket (vcuda-smi): an ipc:// REP socket that only
 * the server's owner, or its admin group, may connect to. It answers
 * AdminRequest with AdminStatus (vcuda.proto); it runs no CUDA call.
 */
#ifndef VCUDA_ADMIN_H
#define VCUDA_ADMIN_H

#include "vcuda.pb-c.h"

struct vcudad_admin {
	void *sock;
	char path[512];
	int waiting; /* a request is to be answered later (VCUDAD_ADMIN_LATER) */
};

/* What a vcudad_admin_fn returns to answer later, with vcudad_admin_answer
 * (the socket takes no other request until then). */
#define VCUDAD_ADMIN_LATER 1

/* Fills st for rq (op "status", "drain", "resume", "checkpoint"); returns
 * 0, or a vcuda status with st->message saying why. Strings st points to
 * must live until the answer is sent. */
typedef int (*vcudad_admin_fn)(void *arg, const Vcuda__AdminRequest *rq, Vcuda__AdminStatus *st);

/* Binds url (ipc:///PATH): mode 0600, or 0660 with group gid (>= 0).
 * Returns 0 or a vcuda status (logged). */
int vcudad_admin_open(struct vcudad_admin *a, const char *url, long gid);
/* Answers one request waiting on the socket (call when it is readable). */
void vcudad_admin_serve(struct vcudad_admin *a, vcudad_admin_fn fn, void *arg);
void vcudad_admin_close(struct vcudad_admin *a);
/* Sends the answer to the request being served, or the one left for later. */
void vcudad_admin_answer(struct vcudad_admin *a, Vcuda__AdminStatus *st);
/* The admin socket of a server URL: ipc:///PATH gives PATH.admin. 0 or
 * VCUDA_E_URL (a tcp:// server has none unless named). */
int vcudad_admin_url(const char *server_url, char *out, size_t len);

#endif
