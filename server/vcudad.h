/* vcudad: configuration and the two roles of the process. */
#ifndef VCUDA_VCUDAD_H
#define VCUDA_VCUDAD_H

#include "backend.h"

#define VCUDAD_MAX_LISTEN 8

/* Everything vcudad is told, read and checked in one place (main.c). */
struct vcudad_config {
	const char *listen[VCUDAD_MAX_LISTEN];
	int nlisten;
	enum vcuda_backend_choice backend;
	const char *cpu_device; /* path of the CPU device library */
	int attach_timeout_ms;
	/* Worker role (started by the listener, never by hand). */
	int worker;
	const char *bind_url;
	const char *peer;
	long parent;
};

/* The listener: accepts handshakes and starts one worker per client. */
int vcudad_listen(const struct vcudad_config *cfg, char *const argv0);
/* A session worker: serves the one client it was started for. */
int vcudad_worker(const struct vcudad_config *cfg);

#endif
