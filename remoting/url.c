/* Endpoint URLs: which transport serves a URL, and the URLs derived from it. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "transport.h"

static const struct vcuda_transport_ops *const transports[] = {
    &vcuda_zmq_tcp_ops,
    &vcuda_zmq_ipc_ops,
    &vcuda_shm_ops,
};

const struct vcuda_transport_ops *const *vcuda_transports(size_t *n)
{
	*n = sizeof(transports) / sizeof(*transports);
	return transports;
}

static int url_has_scheme(const char *url, const char *scheme)
{
	size_t n = strlen(scheme);

	return url && strncmp(url, scheme, n) == 0 && strncmp(url + n, "://", 3) == 0;
}

const struct vcuda_transport_ops *vcuda_transport_find(const char *url)
{
	for (size_t i = 0; i < sizeof(transports) / sizeof(*transports); i++)
		if (url_has_scheme(url, transports[i]->scheme))
			return transports[i];
	return NULL;
}

int vcuda_chan_bind_keys(const char *url, const struct vcuda_curve *keys, struct vcuda_chan **out)
{
	const struct vcuda_transport_ops *t = vcuda_transport_find(url);

	return t ? t->bind(url, keys, out) : VCUDA_E_URL;
}

int vcuda_chan_connect_keys(const char *url, const struct vcuda_curve *keys,
			    struct vcuda_chan **out)
{
	const struct vcuda_transport_ops *t = vcuda_transport_find(url);

	return t ? t->connect(url, keys, out) : VCUDA_E_URL;
}

int vcuda_chan_bind(const char *url, struct vcuda_chan **out)
{
	return vcuda_chan_bind_keys(url, NULL, out);
}

int vcuda_chan_connect(const char *url, struct vcuda_chan **out)
{
	return vcuda_chan_connect_keys(url, NULL, out);
}

static int url_fmt(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int url_fmt(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	return (n < 0 || (size_t)n >= cap) ? VCUDA_E_URL : 0;
}

/* The host part of a tcp URL: "tcp://HOST:PORT" -> HOST (with its brackets). */
static int url_tcp_host(const char *url, char *host, size_t cap)
{
	const char *h = url + 6, *colon = strrchr(h, ':');

	if (!colon || colon == h || (size_t)(colon - h) >= cap)
		return VCUDA_E_URL;
	memcpy(host, h, (size_t)(colon - h));
	host[colon - h] = '\0';
	return 0;
}

int vcuda_url_worker(const char *listen_url, const char *dir, const char *name, char *out,
		     size_t cap)
{
	char host[200];

	if (url_has_scheme(listen_url, "tcp")) {
		if (url_tcp_host(listen_url, host, sizeof(host)) != 0)
			return VCUDA_E_URL;
		return url_fmt(out, cap, "tcp://%s:*", host);
	}
	if (url_has_scheme(listen_url, "ipc"))
		return url_fmt(out, cap, "ipc://%s/%s", dir, name);
	if (url_has_scheme(listen_url, "shm"))
		return url_fmt(out, cap, "shm://%s/%s", dir, name);
	return VCUDA_E_URL;
}

int vcuda_url_for_client(const char *server_url, const char *worker_endpoint, char *out, size_t cap)
{
	char host[200];
	const char *port;

	if (!url_has_scheme(worker_endpoint, "tcp"))
		return url_fmt(out, cap, "%s", worker_endpoint);
	port = strrchr(worker_endpoint + 6, ':');
	if (!port || !url_has_scheme(server_url, "tcp") ||
	    url_tcp_host(server_url, host, sizeof(host)) != 0)
		return VCUDA_E_URL;
	return url_fmt(out, cap, "tcp://%s%s", host, port);
}

int vcuda_url_handshake(const char *server_url, char *out, size_t cap)
{
	if (url_has_scheme(server_url, "shm"))
		return url_fmt(out, cap, "ipc://%s", server_url + 6);
	if (vcuda_transport_find(server_url))
		return url_fmt(out, cap, "%s", server_url);
	return VCUDA_E_URL;
}
