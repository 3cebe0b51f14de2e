/*
 * vcudad --metrics HOST:PORT: the figures vcuda-smi shows, in Prometheus'
 * text format over HTTP (libmicrohttpd, on a thread of its own). The
 * listener hands it a new text as the figures change (at most a few
 * times a second); a scrape gets the latest.
 */
#ifndef VCUDA_METRICS_H
#define VCUDA_METRICS_H

#include "vcuda.pb-c.h"

struct vcudad_metrics;

/* Serves http://HOST:PORT/metrics (PORT 0: a free one, logged). NULL, with
 * the reason logged, if it cannot. */
struct vcudad_metrics *vcudad_metrics_start(const char *hostport);
/* The figures now, as the admin socket's status answer has them. */
void vcudad_metrics_update(struct vcudad_metrics *m, const Vcuda__AdminStatus *st);
void vcudad_metrics_stop(struct vcudad_metrics *m);

#endif
