/*
 * Transport conformance: the same tests over every session channel
 * transport (transport.h states the contract they check).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <signal.h>
#include <sys/wait.h>
#include <zmq.h>

#include "curve.h"
#include "error.h"
#include "transport.h"
#include "util.h"

struct pair {
	char url[256];
	struct vcuda_chan *server, *client;
};

static char tmpdir[] = "/tmp/vcuda-test-XXXXXX";

/* Keys of the "tcp with keys" run (NULL in the others): the server's, and
 * a client's that knows the server's public key. */
static struct vcuda_curve *srv_keys, *cli_keys;
static struct vcuda_curve srv_key_store, cli_key_store;

static int setup_pair(void **state, const char *url)
{
	struct pair *p = calloc(1, sizeof(*p));

	snprintf(p->url, sizeof(p->url), "%s", url);
	if (vcuda_chan_bind_keys(p->url, srv_keys, &p->server) != 0)
		return -1;
	if (vcuda_chan_connect_keys(vcuda_chan_endpoint(p->server), cli_keys, &p->client) != 0)
		return -1;
	*state = p;
	return 0;
}

/* The transport the conformance group is running over. */
static const struct vcuda_transport_ops *current;

/* A URL to bind for the current transport. A transport added to the table
 * without one here fails the suite, so that none goes untested. */
static int setup(void **state)
{
	static int n;
	char url[256];

	if (strcmp(current->scheme, "tcp") == 0)
		snprintf(url, sizeof(url), "tcp://127.0.0.1:*");
	else if (strcmp(current->scheme, "ipc") == 0) /* a fresh path: old files go late */
		snprintf(url, sizeof(url), "ipc://%s/chan%d", tmpdir, n++);
	else if (strcmp(current->scheme, "shm") == 0)
		snprintf(url, sizeof(url), "shm://%s/shm%d", tmpdir, n++);
	else
		fail_msg("no conformance URL for transport %s", current->scheme);
	return setup_pair(state, url);
}

/* A peer that writes frames as it likes: what a hostile or broken guest
 * sends. For the ZeroMQ transports, a bare PAIR socket. */
/* A channel has one peer, and the pair's client was it: a fresh server
 * channel, with no peer yet, for a test that brings its own. */
static void fresh_server(struct pair *p)
{
	static int n;
	char url[300];

	vcuda_chan_close(p->client);
	vcuda_chan_close(p->server);
	p->client = NULL;
	if (p->url[strlen(p->url) - 1] == '*')
		snprintf(url, sizeof(url), "%s", p->url);
	else
		snprintf(url, sizeof(url), "%s-fresh%d", p->url, n++);
	assert_int_equal(vcuda_chan_bind_keys(url, srv_keys, &p->server), 0);
}

/* A peer that writes what it likes. For the ZeroMQ transports, a bare PAIR
 * socket; for shm://, a channel writing raw records into its ring. */
struct raw {
	void *sock;
	struct vcuda_chan *chan;
};

static struct raw raw_peer(struct pair *p)
{
	struct raw r = {0};

	fresh_server(p);
	if (strcmp(current->scheme, "shm") == 0) {
		assert_int_equal(vcuda_chan_connect(vcuda_chan_endpoint(p->server), &r.chan), 0);
		return r;
	}
	r.sock = zmq_socket(vcuda_zmq_context(), ZMQ_PAIR);
	assert_non_null(r.sock);
	if (cli_keys)
		assert_int_equal(vcuda_curve_apply(r.sock, cli_keys, 0), 0);
	assert_int_equal(zmq_connect(r.sock, vcuda_chan_endpoint(p->server)), 0);
	return r;
}

/* Sends one message of nframes frames of these lengths; over shm://, a
 * message of two frames is a record of a message with a payload, any
 * other a record of a kind that is not a message. */
static void raw_send(struct raw *r, size_t nframes, const size_t *len)
{
	if (r->chan) {
		assert_int_equal(vcuda_shm_send_raw(r->chan, nframes == 2 ? 0x101u : 7u,
						    (uint32_t)len[0], nframes > 1 ? len[1] : 0),
				 0);
		return;
	}
	for (size_t i = 0; i < nframes; i++) {
		char *buf = calloc(1, len[i] ? len[i] : 1);
		assert_int_equal(zmq_send(r->sock, buf, len[i], i + 1 < nframes ? ZMQ_SNDMORE : 0),
				 (int)len[i]);
		free(buf);
	}
}

static void raw_close(struct raw *r)
{
	if (r->sock)
		zmq_close(r->sock);
	vcuda_chan_close(r->chan);
}

static int teardown_pair(void **state)
{
	struct pair *p = *state;

	vcuda_chan_close(p->client);
	vcuda_chan_close(p->server);
	free(p);
	return 0;
}

static void expect_msg(struct vcuda_chan *c, const char *hdr, const void *payload, size_t len)
{
	struct vcuda_msg m;

	assert_int_equal(vcuda_chan_recv(c, &m, 5000), 0);
	assert_int_equal(m.hdr_len, strlen(hdr));
	assert_memory_equal(m.hdr, hdr, m.hdr_len);
	if (payload) {
		assert_non_null(m.payload);
		assert_int_equal(m.payload_len, len);
		if (len)
			assert_memory_equal(m.payload, payload, len);
	} else {
		assert_null(m.payload);
	}
	vcuda_chan_release(c, &m);
}

static void test_endpoint_resolved(void **state)
{
	struct pair *p = *state;
	const char *ep = vcuda_chan_endpoint(p->server);

	assert_non_null(ep);
	assert_null(strchr(ep, '*'));
	assert_ptr_equal(vcuda_transport_find(ep), vcuda_transport_find(p->url));
}

static void test_header_both_ways(void **state)
{
	struct pair *p = *state;

	assert_int_equal(vcuda_chan_send(p->client, "ping", 4, NULL, 0, 0), 0);
	expect_msg(p->server, "ping", NULL, 0);
	assert_int_equal(vcuda_chan_send(p->server, "pong!", 5, NULL, 0, 0), 0);
	expect_msg(p->client, "pong!", NULL, 0);
}

static void test_payload_sizes(void **state)
{
	struct pair *p = *state;
	static const size_t sizes[] = {0, 1, 4095, 4096, 1 << 20, VCUDA_MAX_PAYLOAD};
	uint8_t *buf = malloc(VCUDA_MAX_PAYLOAD);

	for (size_t i = 0; i < VCUDA_MAX_PAYLOAD; i++)
		buf[i] = (uint8_t)(i * 31 + (i >> 12));
	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
		assert_int_equal(
		    vcuda_chan_send(p->client, "data", 4, buf, sizes[i], VCUDA_SEND_COPY), 0);
		expect_msg(p->server, "data", buf, sizes[i]);
	}
	free(buf);
}

static void test_order_kept(void **state)
{
	struct pair *p = *state;
	char hdr[32];

	/* In batches smaller than a worker's receive queue: a sender waits
	 * while the queue is full, and here the same thread is the reader. */
	for (int first = 0; first < 2000; first += 40) {
		for (int i = first; i < first + 40; i++) {
			int n = snprintf(hdr, sizeof(hdr), "m%d", i);
			assert_int_equal(vcuda_chan_send(p->client, hdr, (size_t)n,
							 i % 3 ? NULL : hdr, (size_t)n, 0),
					 0);
		}
		for (int i = first; i < first + 40; i++) {
			snprintf(hdr, sizeof(hdr), "m%d", i);
			expect_msg(p->server, hdr, i % 3 ? NULL : hdr, strlen(hdr));
		}
	}
}

struct flood_arg {
	struct vcuda_chan *c;
	int sent;
};

#define FLOOD_N	  2000
#define FLOOD_LEN (16u << 10)
static uint8_t flood_payload[FLOOD_LEN];

static void *flood_main(void *arg)
{
	struct flood_arg *f = arg;
	char hdr[32];

	for (int i = 0; i < FLOOD_N; i++) {
		int n = snprintf(hdr, sizeof(hdr), "f%d", i);
		if (vcuda_chan_send(f->c, hdr, (size_t)n, flood_payload, FLOOD_LEN, 0) != 0)
			break;
		__atomic_add_fetch(&f->sent, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* A sender whose peer does not read waits, since the queues between them
 * are bounded (32 MB is more than they hold), and goes on, in order and
 * losing nothing, once the peer reads. */
static void test_full_queue_waits(void **state)
{
	struct pair *p = *state;
	struct flood_arg f = {p->client, 0};
	pthread_t t;
	char hdr[32];

	assert_int_equal(pthread_create(&t, NULL, flood_main, &f), 0);
	usleep(500000);
	assert_true(__atomic_load_n(&f.sent, __ATOMIC_RELAXED) < FLOOD_N);
	for (int i = 0; i < FLOOD_N; i++) {
		snprintf(hdr, sizeof(hdr), "f%d", i);
		expect_msg(p->server, hdr, flood_payload, FLOOD_LEN);
	}
	pthread_join(t, NULL);
	assert_int_equal(f.sent, FLOOD_N);
}

static void test_ownership_modes(void **state)
{
	struct pair *p = *state;
	static char borrowed[] = "borrowed bytes";
	char *gift = strdup("a gift the transport frees");

	assert_int_equal(
	    vcuda_chan_send(p->client, "b", 1, borrowed, sizeof(borrowed), VCUDA_SEND_BORROW), 0);
	expect_msg(p->server, "b", borrowed, sizeof(borrowed));
	assert_int_equal(vcuda_chan_send(p->client, "g", 1, gift, strlen(gift), VCUDA_SEND_GIFT),
			 0);
	expect_msg(p->server, "g", "a gift the transport frees", 26);
}

static void test_oversize_refused(void **state)
{
	struct pair *p = *state;
	char *hdr = calloc(1, VCUDA_MAX_HEADER + 1);
	char *gift = malloc(16);

	assert_int_equal(vcuda_chan_send(p->client, hdr, VCUDA_MAX_HEADER + 1, NULL, 0, 0),
			 VCUDA_E_TOOBIG);
	assert_int_equal(vcuda_chan_send(p->client, "x", 1, hdr, (size_t)VCUDA_MAX_PAYLOAD + 1, 0),
			 VCUDA_E_TOOBIG);
	/* A gift is freed even when refused (the leak checker watches). */
	assert_int_equal(
	    vcuda_chan_send(p->client, hdr, VCUDA_MAX_HEADER + 1, gift, 16, VCUDA_SEND_GIFT),
	    VCUDA_E_TOOBIG);
	free(hdr);
	/* The channel still works. */
	assert_int_equal(vcuda_chan_send(p->client, "ok", 2, NULL, 0, 0), 0);
	expect_msg(p->server, "ok", NULL, 0);
}

static void test_recv_timeout(void **state)
{
	struct pair *p = *state;
	struct vcuda_msg m;
	uint64_t t0 = vcuda_now_ns();

	assert_int_equal(vcuda_chan_recv(p->server, &m, 300), VCUDA_E_TIMEOUT);
	assert_true(vcuda_now_ns() - t0 >= 250000000ull);
	assert_true(vcuda_now_ns() - t0 < 3000000000ull);
}

static void test_peer_lost(void **state)
{
	struct pair *p = *state;
	struct vcuda_msg m;
	uint64_t t0;

	/* Make sure the connection exists before it goes. */
	assert_int_equal(vcuda_chan_send(p->client, "hi", 2, NULL, 0, 0), 0);
	expect_msg(p->server, "hi", NULL, 0);
	vcuda_chan_close(p->client);
	p->client = NULL;
	t0 = vcuda_now_ns();
	assert_int_equal(vcuda_chan_recv(p->server, &m, 10000), VCUDA_E_PEER_LOST);
	assert_true(vcuda_now_ns() - t0 < 3000000000ull);
}

/* A message of three frames is not one of ours: refused, and the channel
 * goes on with the next message. */
static void test_three_frames(void **state)
{
	struct pair *p = *state;
	struct raw raw = raw_peer(p);
	struct vcuda_msg m;
	size_t three[3] = {4, 8, 8}, two[2] = {5, 16};

	raw_send(&raw, 3, three);
	raw_send(&raw, 2, two);
	assert_int_equal(vcuda_chan_recv(p->server, &m, 5000), VCUDA_E_PROTO);
	assert_int_equal(vcuda_chan_recv(p->server, &m, 5000), 0);
	assert_int_equal(m.hdr_len, 5);
	assert_int_equal(m.payload_len, 16);
	vcuda_chan_release(p->server, &m);
	raw_close(&raw);
}

/* A payload over VCUDA_MAX_PAYLOAD from a peer that ignores the limit is
 * never delivered: the receiver refuses it (VCUDA_E_TOOBIG) or, past what
 * the socket takes in at all, drops that peer. */
static void test_payload_over_limit(void **state)
{
	struct pair *p = *state;
	struct raw raw = raw_peer(p);
	struct vcuda_msg m;
	size_t big[2] = {4, (size_t)VCUDA_MAX_PAYLOAD + 1}, huge[2] = {4, 2 * VCUDA_MAX_PAYLOAD};
	int rc;

	raw_send(&raw, 2, big);
	rc = vcuda_chan_recv(p->server, &m, 5000);
	if (rc == 0)
		vcuda_chan_release(p->server, &m);
	assert_true(rc == VCUDA_E_TOOBIG || rc == VCUDA_E_PEER_LOST);
	raw_send(&raw, 2, huge);
	while ((rc = vcuda_chan_recv(p->server, &m, 5000)) == VCUDA_E_TOOBIG)
		;
	if (rc == 0)
		vcuda_chan_release(p->server, &m);
	assert_int_equal(rc, VCUDA_E_PEER_LOST);
	raw_close(&raw);
}

static const char *self_path;

/* A peer that dies while it sends: the receiver gets whole messages, then
 * VCUDA_E_PEER_LOST; never a part of one. The peer is another process
 * (test_transport --peer URL), killed while its 4 MiB messages flow. */
static void test_peer_dies_mid_send(void **state)
{
	struct pair *p = *state;
	struct vcuda_msg m;
	pid_t pid;
	int rc, got = 0, status;
	uint64_t t0;

	fresh_server(p); /* the other process is its client */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (cli_keys)
			execl(self_path, self_path, "--peer", vcuda_chan_endpoint(p->server),
			      cli_keys->public_key, cli_keys->secret_key, cli_keys->server_key,
			      (char *)NULL);
		else
			execl(self_path, self_path, "--peer", vcuda_chan_endpoint(p->server),
			      (char *)NULL);
		_exit(127);
	}
	while ((rc = vcuda_chan_recv(p->server, &m, 10000)) == 0) {
		assert_int_equal(m.hdr_len, 4);
		assert_int_equal(m.payload_len, VCUDA_MAX_PAYLOAD);
		assert_int_equal(((uint8_t *)m.payload)[VCUDA_MAX_PAYLOAD - 1], 0xa5);
		vcuda_chan_release(p->server, &m);
		if (++got == 2)
			kill(pid, SIGKILL);
	}
	t0 = vcuda_now_ns();
	assert_int_equal(rc, VCUDA_E_PEER_LOST);
	assert_true(got >= 2);
	assert_true(vcuda_now_ns() - t0 < 5000000000ull);
	waitpid(pid, &status, 0);
	assert_true(WIFSIGNALED(status));
}

/* --peer URL [PUBLIC SECRET SERVER]: sends 4 MiB messages to URL until
 * killed, with those keys if given. */
static int peer_main(const char *url, char **keys)
{
	struct vcuda_chan *c;
	struct vcuda_curve k;
	uint8_t *buf = malloc(VCUDA_MAX_PAYLOAD);

	if (keys) {
		snprintf(k.public_key, sizeof(k.public_key), "%s", keys[0]);
		snprintf(k.secret_key, sizeof(k.secret_key), "%s", keys[1]);
		snprintf(k.server_key, sizeof(k.server_key), "%s", keys[2]);
	}
	if (!buf || vcuda_chan_connect_keys(url, keys ? &k : NULL, &c) != 0)
		return 1;
	memset(buf, 0xa5, VCUDA_MAX_PAYLOAD);
	for (;;)
		if (vcuda_chan_send(c, "part", 4, buf, VCUDA_MAX_PAYLOAD, VCUDA_SEND_BORROW) != 0)
			return 1;
}

static void test_bad_urls(void **state)
{
	struct vcuda_chan *c;

	assert_int_equal(vcuda_chan_bind("http://x", &c), VCUDA_E_URL);
	assert_int_equal(vcuda_chan_connect("nonsense", &c), VCUDA_E_URL);
	assert_null(vcuda_transport_find("tcp:/x"));
}

static void test_url_derivation(void **state)
{
	char out[256];

	assert_int_equal(vcuda_url_worker("tcp://10.0.0.5:7000", NULL, "ab12", out, sizeof(out)),
			 0);
	assert_string_equal(out, "tcp://10.0.0.5:*");
	assert_int_equal(vcuda_url_worker("ipc:///run/vcuda/sock", "/run/vcuda/sock.w", "ab12", out,
					  sizeof(out)),
			 0);
	assert_string_equal(out, "ipc:///run/vcuda/sock.w/ab12");
	assert_int_equal(
	    vcuda_url_for_client("tcp://gpuhost:7000", "tcp://0.0.0.0:41234", out, sizeof(out)), 0);
	assert_string_equal(out, "tcp://gpuhost:41234");
	assert_int_equal(vcuda_url_for_client("ipc:///a", "ipc:///a.w1", out, sizeof(out)), 0);
	assert_string_equal(out, "ipc:///a.w1");
	assert_int_equal(vcuda_url_worker("shm:///run/vcuda/sock", "/run/vcuda/sock.w", "ab12", out,
					  sizeof(out)),
			 0);
	assert_string_equal(out, "shm:///run/vcuda/sock.w/ab12");
	assert_int_equal(vcuda_url_handshake("shm:///run/x", out, sizeof(out)), 0);
	assert_string_equal(out, "ipc:///run/x");
	assert_int_equal(vcuda_url_handshake("udp://x:1", out, sizeof(out)), VCUDA_E_URL);
}

#define CONFORMANCE(setup)                                                                         \
	cmocka_unit_test_setup_teardown(test_three_frames, setup, teardown_pair),                  \
	    cmocka_unit_test_setup_teardown(test_payload_over_limit, setup, teardown_pair),        \
	    cmocka_unit_test_setup_teardown(test_peer_dies_mid_send, setup, teardown_pair),        \
	    cmocka_unit_test_setup_teardown(test_endpoint_resolved, setup, teardown_pair),         \
	    cmocka_unit_test_setup_teardown(test_header_both_ways, setup, teardown_pair),          \
	    cmocka_unit_test_setup_teardown(test_payload_sizes, setup, teardown_pair),             \
	    cmocka_unit_test_setup_teardown(test_order_kept, setup, teardown_pair),                \
	    cmocka_unit_test_setup_teardown(test_full_queue_waits, setup, teardown_pair),          \
	    cmocka_unit_test_setup_teardown(test_ownership_modes, setup, teardown_pair),           \
	    cmocka_unit_test_setup_teardown(test_oversize_refused, setup, teardown_pair),          \
	    cmocka_unit_test_setup_teardown(test_recv_timeout, setup, teardown_pair),              \
	    cmocka_unit_test_setup_teardown(test_peer_lost, setup, teardown_pair)

static int allow_any(void *arg, const uint8_t key[32], const char *address)
{
	return 1;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest conformance[] = {CONFORMANCE(setup)};
	const struct vcuda_transport_ops *const *all;
	size_t n;
	const struct CMUnitTest urls[] = {
	    cmocka_unit_test(test_bad_urls),
	    cmocka_unit_test(test_url_derivation),
	};
	int failed = 0;

	if ((argc == 3 || argc == 6) && strcmp(argv[1], "--peer") == 0)
		return peer_main(argv[2], argc == 6 ? argv + 3 : NULL);
	self_path = argv[0];
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	all = vcuda_transports(&n);
	for (size_t i = 0; i < n; i++) {
		char name[64];
		current = all[i];
		snprintf(name, sizeof(name), "transport %s", current->scheme);
		failed += _cmocka_run_group_tests(
		    name, conformance, sizeof(conformance) / sizeof(*conformance), NULL, NULL);
	}
	/* shm:// again where the two sides could not wake each other (a
	 * segment shared across a VM boundary): polling with backoff. */
	setenv("VCUDA_SHM_POLL", "1", 1);
	current = vcuda_transport_find("shm:///x");
	failed += _cmocka_run_group_tests("transport shm polling", conformance,
					  sizeof(conformance) / sizeof(*conformance), NULL, NULL);
	unsetenv("VCUDA_SHM_POLL");
	/* tcp:// again with keys, as vcudad runs it: every case through CURVE,
	 * with a ZAP handler that lets in any key. */
	if (zmq_curve_keypair(srv_key_store.public_key, srv_key_store.secret_key) == 0 &&
	    zmq_curve_keypair(cli_key_store.public_key, cli_key_store.secret_key) == 0 &&
	    vcuda_zap_start(allow_any, NULL) == 0) {
		memcpy(cli_key_store.server_key, srv_key_store.public_key, VCUDA_KEY_Z85);
		srv_keys = &srv_key_store;
		cli_keys = &cli_key_store;
		current = vcuda_transport_find("tcp://x");
		failed +=
		    _cmocka_run_group_tests("transport tcp with keys", conformance,
					    sizeof(conformance) / sizeof(*conformance), NULL, NULL);
	} else {
		fprintf(stderr, "no CURVE in this libzmq\n");
		failed++;
	}
	failed += cmocka_run_group_tests_name("urls", urls, NULL, NULL);
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	return failed;
}
