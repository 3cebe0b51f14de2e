/* vcudad --metrics: Prometheus text over HTTP (metrics.h). */
#include "config.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stddef.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"

struct vcudad_metrics {
	struct MHD_Daemon *d;
	pthread_mutex_t lock; /* text: the listener writes it, MHD's thread reads it */
	char *text;
	size_t len;
};

/* A growing text buffer; on allocation failure it stays as it was. */
struct metrics_buf {
	char *s;
	size_t len, cap;
};

static void metrics_add(struct metrics_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->s && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		char *g = realloc(b->s, b->cap + (size_t)n + 4096);
		if (!g)
			return;
		b->s = g;
		b->cap += (size_t)n + 4096;
	}
}

/* A label value: the client names are printable; quotes and backslashes
 * are escaped all the same. */
static const char *metrics_label(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (; *in && o + 3 < len; in++) {
		if (*in == '"' || *in == '\\')
			out[o++] = '\\';
		out[o++] = *in;
	}
	out[o] = 0;
	return out;
}

static void metrics_family(struct metrics_buf *b, const char *name, const char *type,
			   const char *help)
{
	metrics_add(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void vcudad_metrics_update(struct vcudad_metrics *m, const Vcuda__AdminStatus *st)
{
	static const struct {
		const char *name, *type, *help;
		size_t off; /* of the uint64 or uint32 in Vcuda__ClientStatus */
		int u32;
		double scale;
	} fam[] = {
#define MF(n, t, h, f, u, s) {n, t, h, offsetof(Vcuda__ClientStatus, f), u, s}
	    MF("vcuda_client_sessions", "gauge", "Sessions the client holds.", sessions, 1, 1),
	    MF("vcuda_client_memory_bytes", "gauge",
	       "Device memory the client's sessions hold, in bytes.", memory_used, 0, 1),
	    MF("vcuda_client_memory_quota_bytes", "gauge",
	       "The client's device memory quota, in bytes (0: none).", memory_quota, 0, 1),
	    MF("vcuda_client_kernels_total", "counter", "Kernels the client launched.", kernels, 0,
	       1),
	    MF("vcuda_client_device_seconds_total", "counter",
	       "Device time of the client's kernels, in seconds (CPU device; 0 on a GPU).",
	       kernel_ns, 0, 1e-9),
	    MF("vcuda_client_share", "gauge", "The client's weight in device time.", share, 1, 1),
	    MF("vcuda_client_to_device_bytes_total", "counter",
	       "Bytes the client copied to the device.", bytes_in, 0, 1),
	    MF("vcuda_client_from_device_bytes_total", "counter",
	       "Bytes the client copied from the device.", bytes_out, 0, 1),
#undef MF
	};
	struct metrics_buf b = {0};
	char name[256], via[16];

	metrics_family(&b, "vcuda_info", "gauge", "The server: version, backend and device.");
	metrics_add(&b, "vcuda_info{version=\"%s\",backend=\"%s\",device=\"%s\"} 1\n", st->version,
		    st->backend, metrics_label(st->device, name, sizeof(name)));
	metrics_family(&b, "vcuda_memory_total_bytes", "gauge",
		       "Device memory the server has for guests, in bytes.");
	metrics_add(&b, "vcuda_memory_total_bytes %llu\n", (unsigned long long)st->memory_total);
	metrics_family(&b, "vcuda_memory_used_bytes", "gauge",
		       "Device memory all guests hold, in bytes.");
	metrics_add(&b, "vcuda_memory_used_bytes %llu\n", (unsigned long long)st->memory_used);
	metrics_family(&b, "vcuda_sessions", "gauge", "Sessions, all clients together.");
	metrics_add(&b, "vcuda_sessions %u\n", st->sessions);
	metrics_family(&b, "vcuda_draining", "gauge", "1 while the server takes no new sessions.");
	metrics_add(&b, "vcuda_draining %d\n", st->draining ? 1 : 0);
	for (size_t f = 0; f < sizeof(fam) / sizeof(*fam); f++) {
		metrics_family(&b, fam[f].name, fam[f].type, fam[f].help);
		for (size_t i = 0; i < st->n_clients; i++) {
			const uint8_t *p = (const uint8_t *)st->clients[i] + fam[f].off;
			double v = fam[f].u32 ? (double)*(const uint32_t *)p
					      : (double)*(const uint64_t *)p;
			metrics_add(&b, "%s{client=\"%s\",transport=\"%s\"} %.17g\n", fam[f].name,
				    metrics_label(st->clients[i]->name, name, sizeof(name)),
				    metrics_label(st->clients[i]->transport, via, sizeof(via)),
				    v * fam[f].scale);
		}
	}
	if (!b.s)
		return;
	pthread_mutex_lock(&m->lock);
	free(m->text);
	m->text = b.s;
	m->len = b.len;
	pthread_mutex_unlock(&m->lock);
}

static enum MHD_Result metrics_answer(void *cls, struct MHD_Connection *c, const char *url,
				      const char *method, const char *version, const char *upload,
				      size_t *upload_len, void **state)
{
	struct vcudad_metrics *m = cls;
	struct MHD_Response *r;
	enum MHD_Result rc;
	int found = strcmp(url, "/metrics") == 0;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return MHD_NO;
	pthread_mutex_lock(&m->lock);
	if (found && m->text)
		r = MHD_create_response_from_buffer(m->len, m->text, MHD_RESPMEM_MUST_COPY);
	else
		r = MHD_create_response_from_buffer(strlen("not found: /metrics\n"),
						    (void *)"not found: /metrics\n",
						    MHD_RESPMEM_PERSISTENT);
	pthread_mutex_unlock(&m->lock);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	rc = MHD_queue_response(c, found ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND, r);
	MHD_destroy_response(r);
	return rc;
}

struct vcudad_metrics *vcudad_metrics_start(const char *hostport)
{
	struct vcudad_metrics *m = calloc(1, sizeof(*m));
	struct sockaddr_in sa = {.sin_family = AF_INET};
	const union MHD_DaemonInfo *info;
	char host[64];
	const char *colon = strrchr(hostport, ':');
	long port = colon ? strtol(colon + 1, NULL, 10) : -1;

	if (!m)
		return NULL;
	if (!colon || (size_t)(colon - hostport) >= sizeof(host) || port < 0 || port > 65535) {
		VERR(server, "--metrics takes HOST:PORT (PORT 0: any free one), not '%s'",
		     hostport);
		goto out_free;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - hostport), hostport);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		VERR(server, "--metrics: '%s' is not an IPv4 address", host);
		goto out_free;
	}
	sa.sin_port = htons((uint16_t)port);
	pthread_mutex_init(&m->lock, NULL);
	m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
				metrics_answer, m, MHD_OPTION_SOCK_ADDR, &sa,
				MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_CONNECTION_TIMEOUT,
				10u, MHD_OPTION_END);
	if (!m->d) {
		VERR(server, "cannot serve metrics at %s", hostport);
		goto out_free;
	}
	info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
	VINFO(server, "metrics at http://%s:%u/metrics", host,
	      info ? (unsigned)info->port : (unsigned)port);
	return m;
out_free:
	free(m);
	return NULL;
}

void vcudad_metrics_stop(struct vcudad_metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->d);
	free(m->text);
	free(m);
}
