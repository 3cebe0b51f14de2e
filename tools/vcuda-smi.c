/* vcuda-smi: what a vcudad is doing, client by client. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include <vcuda/version.h>

#include "transport.h"
#include "curve.h"
#include "util.h"
#include "vcuda.pb-c.h"

static void usage(FILE *f)
{
	fputs(
	    "Usage: vcuda-smi [--server URL | --admin URL] [--json] [-l SECONDS]\n"
	    "       vcuda-smi [--server URL | --admin URL] --drain | --resume\n"
	    "       vcuda-smi [--server URL | --admin URL] --checkpoint PID FILE\n"
	    "       vcuda-smi [--server URL | --admin URL] --migrate PID --to URL [--to-key KEY]\n"
	    "       vcuda-smi [--server URL | --admin URL] --drain --to URL\n"
	    "                 [--wait SECONDS] [--dir DIR]\n"
	    "Show what a vcudad is doing: its device and memory, and each client's\n"
	    "sessions, memory, kernels, device time, share and bytes copied.\n"
	    "\n"
	    "  -s, --server URL   the server, ipc:///PATH or shm:///PATH (default:\n"
	    "                     $VCUDA_SERVER); its admin socket is PATH.admin\n"
	    "  -a, --admin URL    the admin socket itself (vcudad --admin)\n"
	    "  -j, --json         one JSON object a report, for scripts\n"
	    "  -l, --loop SECONDS report again every SECONDS until interrupted\n"
	    "      --drain        take no new sessions; the current ones go on\n"
	    "      --resume       take new sessions again\n"
	    "      --checkpoint PID FILE  write the session served by worker PID (the\n"
	    "                     PIDS column) to FILE, which must not exist, between\n"
	    "                     two of its guest's calls; the session goes on. A\n"
	    "                     server started with --restore FILE gives it back to\n"
	    "                     the same guest when it resumes (VCUDA_RESUME_MS)\n"
	    "      --migrate PID  move the session served by worker PID to the server\n"
	    "                     at --to URL: ipc:///PATH on this host (run by the same\n"
	    "                     user), or tcp://HOST:PORT on another (with --to-key;\n"
	    "                     that server must list this one's key in --peer-keys).\n"
	    "                     On the CPU device, with DIR on a memory file system\n"
	    "                     (or to another host),\n"
	    "                     its device memory is copied first while the guest\n"
	    "                     runs, in rounds, each sending what the guest wrote\n"
	    "                     since the last (pre-copy); then, at the guest's next\n"
	    "                     call that waits for its reply, the rest and the\n"
	    "                     session's other state are written, that server adopts\n"
	    "                     them, and the guest goes on there; if anything fails\n"
	    "                     first, it goes on here. Reports each round, what was\n"
	    "                     sent at the stop and how long the guest's call waited\n"
	    "      --to URL       where --migrate moves the session; with --drain, every\n"
	    "                     session moves there, one by one\n"
	    "      --to-key KEY   a tcp:// --to server's public key (Z85, or its .pub\n"
	    "                     file); the guest reconnects to it with that key\n"
	    "      --wait SECONDS how long --migrate waits for the guest's call, and\n"
	    "                     then for the new server to restore the session\n"
	    "                     (default 30)\n"
	    "      --dir DIR      where the session's image and memory are kept while\n"
	    "                     it moves; pre-copy needs a memory file system (tmpfs)\n"
	    "                     (default $TMPDIR, else /dev/shm, else /tmp)\n"
	    "  -h, --help         show this help and exit\n"
	    "  -V, --version      show the version and exit\n"
	    "\n"
	    "The admin socket is the server owner's (mode 0600), or its admin group's\n"
	    "(vcudad --admin-group). Device time is what the device scheduler measured\n"
	    "(vcudad --schedule; with 'off', only kernels are counted).\n",
	    f);
}

/* One request; NULL (with why printed) if no answer came. */
static Vcuda__AdminStatus *smi_ask(const char *url, const Vcuda__AdminRequest *rq)
{
	void *s = zmq_socket(vcuda_zmq_context(), ZMQ_REQ);
	static uint8_t req[8192], buf[1 << 20];
	/* a checkpoint takes as long as its memory takes to write */
	int linger = 0, n,
	    timeout =
		strcmp(rq->op, "checkpoint") == 0 || strcmp(rq->op, "migrate") == 0 ? 600000 : 5000;
	Vcuda__AdminStatus *st = NULL;

	if (vcuda__admin_request__get_packed_size(rq) > sizeof(req)) {
		fprintf(stderr, "vcuda-smi: the request is too long\n");
		zmq_close(s);
		return NULL;
	}
	n = (int)vcuda__admin_request__pack(rq, req);
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
	if (access(url + 6, F_OK) != 0) {
		fprintf(stderr,
			"vcuda-smi: no admin socket at %s (is vcudad running there? Its admin "
			"socket is beside its first ipc:// or shm:// endpoint, or where its "
			"--admin put it: name that one with --server or --admin)\n",
			url + 6);
	} else if (access(url + 6, W_OK) != 0) {
		fprintf(stderr,
			"vcuda-smi: %s is not yours to use: it is the server owner's, or its "
			"admin group's\n",
			url + 6);
	} else if (zmq_connect(s, url) != 0 || zmq_send(s, req, (size_t)n, 0) != n ||
		   (n = zmq_recv(s, buf, sizeof(buf), 0)) < 0) {
		fprintf(stderr, "vcuda-smi: no answer from %s: %s\n", url,
			zmq_strerror(zmq_errno()));
	} else if (!(st = vcuda__admin_status__unpack(NULL, (size_t)n, buf))) {
		fprintf(stderr, "vcuda-smi: a malformed answer from %s\n", url);
	}
	zmq_close(s);
	return st;
}

static const char *smi_bytes(uint64_t b, char *out, size_t len)
{
	const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)b;
	int u = 0;

	while (v >= 1024 && u < 4)
		v /= 1024, u++;
	snprintf(out, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
	return out;
}

static void smi_table(const Vcuda__AdminStatus *st)
{
	char a[32], b[32], c[32], d[32], since[32];

	printf("vcudad %s  backend %s  device %s\n", st->version, st->backend, st->device);
	printf("memory %s of %s in use  sessions %u%s\n\n", smi_bytes(st->memory_used, a, 32),
	       smi_bytes(st->memory_total, b, 32), st->sessions,
	       st->draining ? "  DRAINING: no new sessions" : "");
	printf("%-20s %-4s %-8s %4s %21s %8s %12s %5s %10s %10s %-8s %s\n", "CLIENT", "VIA",
	       "SINCE", "SESS", "MEMORY USED / QUOTA", "KERNELS", "DEVICE TIME", "SHARE",
	       "TO DEVICE", "FROM DEV", "GROUP", "PIDS");
	for (size_t i = 0; i < st->n_clients; i++) {
		const Vcuda__ClientStatus *cs = st->clients[i];
		time_t t = (time_t)(cs->since_ns / 1000000000u);
		struct tm tm;
		char mem[64];
		localtime_r(&t, &tm);
		strftime(since, sizeof(since), "%H:%M:%S", &tm);
		snprintf(mem, sizeof(mem), "%s / %s", smi_bytes(cs->memory_used, a, 32),
			 cs->memory_quota ? smi_bytes(cs->memory_quota, b, 32) : "none");
		printf("%-20.20s %-4s %-8s %4u %21s %8llu %10.3f s %5u %10s %10s %-8s", cs->name,
		       cs->transport, since, cs->sessions, mem, (unsigned long long)cs->kernels,
		       (double)cs->kernel_ns / 1e9, cs->share, smi_bytes(cs->bytes_in, c, 32),
		       smi_bytes(cs->bytes_out, d, 32), cs->group && *cs->group ? cs->group : "-");
		for (size_t k = 0; k < cs->n_session_pids; k++)
			printf("%s%u", k ? "," : " ", cs->session_pids[k]);
		printf("\n");
	}
	if (!st->n_clients)
		printf("(no clients)\n");
}

/* A JSON string: the names are printable, but quotes and backslashes are
 * escaped all the same. */
static void smi_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		if ((unsigned char)*s >= 0x20)
			putchar(*s);
	}
	putchar('"');
}

static void smi_json(const Vcuda__AdminStatus *st)
{
	printf("{\"version\": ");
	smi_json_string(st->version);
	printf(", \"backend\": ");
	smi_json_string(st->backend);
	printf(", \"device\": ");
	smi_json_string(st->device);
	printf(", \"time_ns\": %llu, \"memory_total\": %llu, \"memory_used\": %llu, "
	       "\"sessions\": %u, \"draining\": %s, \"clients\": [",
	       (unsigned long long)st->now_ns, (unsigned long long)st->memory_total,
	       (unsigned long long)st->memory_used, st->sessions, st->draining ? "true" : "false");
	for (size_t i = 0; i < st->n_clients; i++) {
		const Vcuda__ClientStatus *cs = st->clients[i];
		printf("%s{\"name\": ", i ? ", " : "");
		smi_json_string(cs->name);
		printf(", \"transport\": ");
		smi_json_string(cs->transport);
		printf(", \"group\": ");
		smi_json_string(cs->group ? cs->group : "");
		printf(", \"since_ns\": %llu, \"sessions\": %u, \"memory_used\": %llu, "
		       "\"memory_quota\": %llu, \"kernels\": %llu, \"kernel_ns\": %llu, "
		       "\"share\": %u, \"bytes_to_device\": %llu, \"bytes_from_device\": %llu",
		       (unsigned long long)cs->since_ns, cs->sessions,
		       (unsigned long long)cs->memory_used, (unsigned long long)cs->memory_quota,
		       (unsigned long long)cs->kernels, (unsigned long long)cs->kernel_ns,
		       cs->share, (unsigned long long)cs->bytes_in,
		       (unsigned long long)cs->bytes_out);
		printf(", \"session_pids\": [");
		for (size_t k = 0; k < cs->n_session_pids; k++)
			printf("%s%u", k ? ", " : "", cs->session_pids[k]);
		printf("]}");
	}
	printf("]}\n");
}

/* The report of a move: the image, the guest's wait at the source, and
 * when the new server took the image (its worker removes it once the
 * session is restored there). */
static void smi_migrated(const Vcuda__AdminRequest *rq, const Vcuda__AdminStatus *st,
			 const char *dir, uint64_t t0)
{
	uint64_t moved = vcuda_now_ns(), taken = 0;

	unsigned waits = (rq->wait_ms ? rq->wait_ms : 30000) / 10;
	int remote = strncmp(rq->url, "tcp://", 6) == 0;

	/* on this host, the new server's worker removes the image once it has
	 * restored the session; another host's is not seen from here */
	for (unsigned i = 0; i < waits && !taken && !remote; i++) {
		if (access(rq->path, F_OK) != 0)
			taken = vcuda_now_ns();
		else
			usleep(10000);
	}
	printf("session of worker %u moved to %s\n", rq->session, rq->url);
	if (st->precopy)
		printf("  pre-copy        %s\n", st->precopy);
	if (st->n_round_bytes) {
		uint64_t sum = 0;
		printf("    round       sent       time   written meanwhile   dirty rate\n");
		for (size_t r = 0;
		     r < st->n_round_bytes && r < st->n_round_ns && r < st->n_round_dirty; r++) {
			double ms = (double)st->round_ns[r] / 1e6;
			sum += st->round_bytes[r];
			printf("    %5zu %8.1f MiB %8.1f ms %12.1f MiB %8.1f MiB/s\n", r,
			       (double)st->round_bytes[r] / 1048576.0, ms,
			       (double)st->round_dirty[r] / 1048576.0,
			       ms > 0 ? (double)st->round_dirty[r] / 1048576.0 / (ms / 1e3) : 0.0);
		}
		printf("  sent meanwhile  %.1f MiB in %zu round%s\n", (double)sum / 1048576.0,
		       st->n_round_bytes, st->n_round_bytes == 1 ? "" : "s");
		printf("  sent at stop    %.1f MiB (what the guest wrote since)\n",
		       (double)st->final_bytes / 1048576.0);
	}
	printf("  image           %.1f MiB\n", (double)st->image_bytes / 1048576.0);
	printf("  guest's call    waited %.1f ms at the source (sending the rest and "
	       "handing the session over)\n",
	       (double)st->stop_ns / 1e6);
	printf("  total           %.1f ms until the guest's call came\n",
	       (double)(moved - t0) / 1e6);
	if (remote)
		printf("  handed over     to %s, which restores it as the guest comes\n", rq->url);
	else if (taken)
		printf("  restored        %.1f ms later on the new server\n",
		       (double)(taken - moved) / 1e6);
	else
		printf("  restored        not within the wait: the image waits in %s (a guest the "
		       "new server fails goes on where it was)\n",
		       rq->path);
	if (taken || remote) {
		char mem[4300];
		/* the new server took the memory file too (or failed the guest
		 * before it could: then it has served nobody) */
		snprintf(mem, sizeof(mem), "%s.mem", rq->path);
		unlink(mem);
		rmdir(dir);
	}
}

/* Whether the destination has room for the session of worker rq->session:
 * device memory free, and its client's quota there (where that client has
 * sessions there already). 0, or 1 (said why). */
static int smi_room(const Vcuda__AdminStatus *here, const Vcuda__AdminStatus *there,
		    const Vcuda__AdminRequest *rq)
{
	const Vcuda__ClientStatus *client = NULL;
	uint64_t need = 0, free_there;

	for (size_t i = 0; i < here->n_clients && !client; i++)
		for (size_t k = 0; k < here->clients[i]->n_session_pids; k++)
			if (here->clients[i]->session_pids[k] == rq->session) {
				client = here->clients[i];
				need = k < client->n_session_memory ? client->session_memory[k] : 0;
				break;
			}
	if (!client) {
		fprintf(stderr, "vcuda-smi: no session has worker pid %u (vcuda-smi lists them)\n",
			rq->session);
		return 1;
	}
	free_there =
	    there->memory_total > there->memory_used ? there->memory_total - there->memory_used : 0;
	if (need > free_there) {
		fprintf(stderr,
			"vcuda-smi: the session holds %.1f MiB of device memory; %s has %.1f MiB "
			"free\n",
			(double)need / 1048576.0, rq->url, (double)free_there / 1048576.0);
		return 1;
	}
	for (size_t i = 0; i < there->n_clients; i++) {
		const Vcuda__ClientStatus *c = there->clients[i];
		if (strcmp(c->name, client->name) != 0 || !c->memory_quota)
			continue;
		if (c->memory_used + need > c->memory_quota) {
			fprintf(
			    stderr,
			    "vcuda-smi: client '%s' holds %.1f MiB of its %.1f MiB quota at %s; "
			    "the session needs %.1f MiB\n",
			    c->name, (double)c->memory_used / 1048576.0,
			    (double)c->memory_quota / 1048576.0, rq->url, (double)need / 1048576.0);
			return 1;
		}
	}
	return 0;
}

/* Before a guest is paused for a move: the destination answers, runs the
 * same backend and device (a session moves only where its guest sees the
 * same device), takes new sessions and has room for it. 0, or 1 (said
 * why). */
static int smi_compatible(const char *url, const Vcuda__AdminRequest *rq)
{
	Vcuda__AdminRequest q = VCUDA__ADMIN_REQUEST__INIT;
	Vcuda__AdminStatus *here, *there;
	char admin[600];
	int rc = 1;

	if (strncmp(rq->url, "tcp://", 6) == 0)
		return 0; /* another host's: the moving worker asks it (precopy_remote) */
	if (strncmp(rq->url, "ipc://", 6) != 0) {
		fprintf(stderr,
			"vcuda-smi: sessions move to ipc:///PATH or tcp://HOST:PORT, not %s\n",
			rq->url);
		return 1;
	}
	snprintf(admin, sizeof(admin), "ipc://%s.admin", rq->url + 6);
	q.op = "status";
	if (!(here = smi_ask(url, &q)))
		return 1;
	if (!(there = smi_ask(admin, &q))) {
		vcuda__admin_status__free_unpacked(here, NULL);
		return 1;
	}
	if (strcmp(here->backend, there->backend) != 0 || strcmp(here->device, there->device) != 0)
		fprintf(stderr,
			"vcuda-smi: %s runs %s on %s, this server %s on %s: the guest would see "
			"another device\n",
			rq->url, there->backend, there->device, here->backend, here->device);
	else if (strcmp(here->version, there->version) != 0)
		fprintf(stderr,
			"vcuda-smi: %s runs vcuda %s, this server %s: a session moves between "
			"servers of one version\n",
			rq->url, there->version, here->version);
	else if (here->device_memory != there->device_memory)
		fprintf(
		    stderr,
		    "vcuda-smi: %s gives each guest a device of %.0f MiB, this server %.0f MiB: "
		    "the guest would see another device\n",
		    rq->url, (double)there->device_memory / 1048576.0,
		    (double)here->device_memory / 1048576.0);
	else if (there->draining)
		fprintf(stderr, "vcuda-smi: %s is draining: it takes no new sessions\n", rq->url);
	else
		rc = smi_room(here, there, rq);
	vcuda__admin_status__free_unpacked(here, NULL);
	vcuda__admin_status__free_unpacked(there, NULL);
	return rc;
}

/* Moves the session of worker rq->session to rq->url, its image in a
 * directory of its own under dir: 0, or 1 (said why; the guest goes on
 * where it was). */
static int smi_migrate(const char *url, Vcuda__AdminRequest *rq, const char *dir)
{
	char tmp[4096], path[4200];
	Vcuda__AdminStatus *st;
	uint64_t t0 = vcuda_now_ns();
	int rc = 0;

	if (smi_compatible(url, rq) != 0)
		return 1;
	snprintf(tmp, sizeof(tmp), "%s/vcuda-migrate.XXXXXX", dir);
	if (dir[0] != '/' || !mkdtemp(tmp)) {
		fprintf(stderr, "vcuda-smi: cannot make a directory in %s (an absolute path)\n",
			dir);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/session.img", tmp);
	rq->path = path;
	rq->op = "migrate";
	if (!(st = smi_ask(url, rq))) {
		rmdir(tmp);
		return 1;
	}
	if (st->status) {
		fprintf(stderr, "vcuda-smi: worker %u not moved: %s\n", rq->session, st->message);
		rmdir(tmp); /* the guest goes on where it was */
		rc = 1;
	} else {
		smi_migrated(rq, st, tmp, t0);
	}
	vcuda__admin_status__free_unpacked(st, NULL);
	fflush(stdout);
	return rc;
}

/* --drain --to URL: no new sessions here, and every session moves. */
static int smi_drain(const char *url, Vcuda__AdminRequest *rq, const char *dir)
{
	Vcuda__AdminStatus *st;
	uint32_t pids[4096];
	size_t n = 0;
	int rc = 0;

	rq->op = "drain";
	if (!(st = smi_ask(url, rq)))
		return 1;
	for (size_t i = 0; i < st->n_clients; i++)
		for (size_t k = 0; k < st->clients[i]->n_session_pids && n < 4096; k++)
			pids[n++] = st->clients[i]->session_pids[k];
	vcuda__admin_status__free_unpacked(st, NULL);
	printf("draining: no new sessions; moving %zu session%s to %s\n", n, n == 1 ? "" : "s",
	       rq->url);
	for (size_t i = 0; i < n; i++) {
		rq->session = pids[i];
		rc |= smi_migrate(url, rq, dir);
	}
	rq->op = "status";
	/* a moved session's old worker ends when its guest has left it */
	for (int i = 0;; i++) {
		if (!(st = smi_ask(url, rq)))
			return 1;
		if (!st->sessions || i == 50)
			break;
		vcuda__admin_status__free_unpacked(st, NULL);
		usleep(100000);
	}
	printf("%u session%s left here\n", st->sessions, st->sessions == 1 ? "" : "s");
	rc |= st->sessions != 0;
	vcuda__admin_status__free_unpacked(st, NULL);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"server", required_argument, NULL, 's'},
	    {"admin", required_argument, NULL, 'a'},
	    {"json", no_argument, NULL, 'j'},
	    {"loop", required_argument, NULL, 'l'},
	    {"drain", no_argument, NULL, 'D'},
	    {"resume", no_argument, NULL, 'R'},
	    {"checkpoint", required_argument, NULL, 'C'},
	    {"migrate", required_argument, NULL, 'M'},
	    {"to", required_argument, NULL, 'T'},
	    {"to-key", required_argument, NULL, 'K'},
	    {"wait", required_argument, NULL, 'W'},
	    {"dir", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *server = getenv("VCUDA_SERVER"), *admin = NULL, *op = "status";
	Vcuda__AdminRequest rq = VCUDA__ADMIN_REQUEST__INIT;
	/* a memory file system where there is one: pre-copy needs one */
	const char *dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR")
			  : access("/dev/shm", W_OK) == 0	? "/dev/shm"
								: "/tmp";
	char url[600], path[4096], to_key[VCUDA_KEY_Z85], why[512];
	int c, json = 0, loop = 0, rc = 0;

	while ((c = getopt_long(argc, argv, "s:a:jl:hVd:", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			server = optarg;
			break;
		case 'a':
			admin = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'l':
			if ((loop = atoi(optarg)) <= 0) {
				fprintf(stderr, "vcuda-smi: -l takes a number of seconds\n");
				return 2;
			}
			break;
		case 'D':
			op = "drain";
			break;
		case 'R':
			op = "resume";
			break;
		case 'M': {
			char *end;
			unsigned long pid = strtoul(optarg, &end, 10);
			if (*end || !pid) {
				fprintf(stderr, "vcuda-smi: --migrate takes a worker PID\n");
				return 2;
			}
			rq.session = (uint32_t)pid;
			op = "migrate";
			break;
		}
		case 'T':
			rq.url = optarg;
			break;
		case 'K':
			if (vcuda_curve_read_public(optarg, to_key, why, sizeof(why)) != 0) {
				fprintf(stderr, "vcuda-smi: --to-key: %s\n", why);
				return 2;
			}
			rq.key = to_key;
			break;
		case 'W':
			rq.wait_ms = (uint32_t)(atoi(optarg) > 0 ? atoi(optarg) * 1000 : 0);
			break;
		case 'd':
			dir = optarg;
			break;
		case 'C': {
			char *end;
			unsigned long pid = strtoul(optarg, &end, 10);
			if (*end || !pid || optind >= argc) {
				fprintf(stderr, "vcuda-smi: --checkpoint takes a worker PID and a "
						"FILE\n");
				return 2;
			}
			rq.session = (uint32_t)pid;
			/* the server writes it: an absolute path */
			if (argv[optind][0] == '/')
				snprintf(path, sizeof(path), "%s", argv[optind]);
			else if (getcwd(path, sizeof(path) / 2))
				snprintf(path + strlen(path), sizeof(path) - strlen(path), "/%s",
					 argv[optind]);
			optind++;
			rq.path = path;
			op = "checkpoint";
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("vcuda-smi (vcuda) %s\n", VCUDA_VERSION_STRING);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (admin)
		snprintf(url, sizeof(url), "%s", admin);
	else if (server && (strncmp(server, "ipc://", 6) == 0 || strncmp(server, "shm://", 6) == 0))
		snprintf(url, sizeof(url), "ipc://%s.admin", server + 6);
	else {
		fprintf(stderr, "vcuda-smi: name the server's ipc:// or shm:// endpoint (--server "
				"or VCUDA_SERVER) or its admin socket (--admin)\n");
		return 2;
	}
	if (strncmp(url, "ipc://", 6) != 0) {
		fprintf(stderr, "vcuda-smi: the admin socket is an ipc:///PATH, not %s\n", url);
		return 2;
	}
	if (strcmp(op, "migrate") == 0 && !rq.url) {
		fprintf(stderr, "vcuda-smi: --migrate needs --to URL\n");
		return 2;
	}
	if (rq.url && strncmp(rq.url, "tcp://", 6) == 0 && (!rq.key || !*rq.key)) {
		fprintf(stderr,
			"vcuda-smi: a server on another host (%s) is named with its public "
			"key: --to-key\n",
			rq.url);
		return 2;
	}
	if (strcmp(op, "migrate") == 0)
		return smi_migrate(url, &rq, dir);
	if (strcmp(op, "drain") == 0 && rq.url)
		return smi_drain(url, &rq, dir);
	for (;;) {
		Vcuda__AdminStatus *st;
		rq.op = (char *)op;
		st = smi_ask(url, &rq);
		if (!st)
			return 1;
		if (st->status) {
			fprintf(stderr, "vcuda-smi: %s\n", st->message);
			rc = 1;
		} else if (json) {
			smi_json(st);
		} else {
			if (strcmp(op, "checkpoint") == 0)
				printf("session of worker %u written to %s (%llu bytes)\n",
				       rq.session, rq.path, (unsigned long long)st->image_bytes);
			else if (strcmp(op, "status") != 0)
				printf("%s\n", st->draining ? "draining: no new sessions"
							    : "taking new sessions");
			smi_table(st);
		}
		vcuda__admin_status__free_unpacked(st, NULL);
		fflush(stdout);
		if (!loop || rc)
			return rc;
		op = "status";
		sleep((unsigned)loop);
		if (!json)
			printf("\n");
	}
}
