/* vcudad: the vcuda server. Options are read and checked here only. */
#include "config.h"

#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "transport.h"
#include "util.h"
#include "session.h"
#include "vcudad.h"
#include <vcuda/version.h>

static void usage(FILE *f)
{
	fputs("Usage: vcudad --listen URL [--listen URL]... [OPTION]...\n"
	      "Serve CUDA to vcuda guests: run their calls on this host's GPU, or on\n"
	      "vcuda's CPU device where there is none.\n"
	      "\n"
	      "  -l, --listen URL         accept guests at URL (up to 8 times):\n"
	      "                             tcp://HOST:PORT  a TCP address\n"
	      "                             ipc:///PATH      a Unix socket, guarded by\n"
	      "                                              its file permissions\n"
	      "                             shm:///PATH      the same handshake, then\n"
	      "                                              shared memory (guests on\n"
	      "                                              this host)\n"
	      "  -b, --backend KIND       auto (default): NVIDIA's driver when it finds a\n"
	      "                           GPU, else the CPU device; cuda: the GPU only;\n"
	      "                           cpu: the CPU device only\n"
	      "      --cpu-device PATH    the CPU device library (default:\n"
	      "                           " VCUDA_CPU_DEVICE_PATH ")\n"
	      "      --attach-timeout MS  how long a new session waits for its guest\n"
	      "                           (default 10000)\n"
	      "      --log SPEC           what to log, as VCUDA_LOG (e.g. server:debug)\n"
	      "      --socket-mode MODE   permissions of ipc:// sockets, octal (default\n"
	      "                           0660: the daemon's user and group may connect)\n"
	      "      --socket-group GROUP the group of ipc:// sockets (name or number)\n"
	      "      --admin URL          vcuda-smi's socket, ipc:///PATH (default: beside\n"
	      "                           the first ipc:// endpoint, PATH.admin), mode 0600\n"
	      "      --admin-group GROUP  also let GROUP use it (mode 0660)\n"
	      "      --metrics HOST:PORT  serve the same figures to Prometheus at\n"
	      "                           http://HOST:PORT/metrics (PORT 0: a free one)\n"
	      "      --schedule MODE      how kernels share the device among clients, by\n"
	      "                           their shares: exclusive (one kernel at a time;\n"
	      "                           the CPU device's default), paced (kernels queued\n"
	      "                           within a window, timed with events; a GPU's\n"
	      "                           default), off (as the driver does; counted only)\n"
	      "      --mps MODE           with NVIDIA MPS, start each worker with an active\n"
	      "                           thread percentage from its client's share: auto\n"
	      "                           (default: when an MPS control daemon runs), on,\n"
	      "                           off\n"
	      "      --config FILE        read settings and clients from FILE (INI; see\n"
	      "                           docs/operations.md); the other options override\n"
	      "                           it; SIGHUP reads its clients again\n"
	      "      --allow-root         run as root (refused otherwise: run vcudad as\n"
	      "                           a user of its own with access to the GPU)\n"
	      "      --restore FILE       a session checkpoint (vcuda-smi --checkpoint) whose\n"
	      "                           guest may resume here: the first guest of the\n"
	      "                           same client that asks for it by its session\n"
	      "                           token gets it back, once (up to 64 times)\n"
	      "\n"
	      "Keys for tcp:// (ZeroMQ CURVE; make them with vcuda-keygen):\n"
	      "      --key FILE           the server's key file (NAME.key)\n"
	      "      --allow-keys PATH    the guests' public keys: a file of keys, one a\n"
	      "                           line, or a directory of NAME.pub files; a guest\n"
	      "                           whose key is not there is refused before any\n"
	      "                           call, and logged\n"
	      "      --peer-keys PATH     the public keys (file or directory, as above) of\n"
	      "                           the servers that may move sessions here from\n"
	      "                           other hosts (vcuda-smi --migrate --to tcp://...)\n"
	      "      --insecure           listen on tcp:// without keys: anyone who can\n"
	      "                           reach the port can run code on the GPU\n"
	      "\n"
	      "Limits on what one guest may make the host hold (SIZE takes K, M, G):\n"
	      "      --max-sessions N     sessions at once, all guests (default 1024)\n"
	      "      --max-pending N      handshakes in progress from one address\n"
	      "                           (default 8); more are refused and logged\n"
	      "      --max-modules N      modules a session holds at once (default 1024)\n"
	      "      --max-handles N      streams, events, modules and kernels a session\n"
	      "                           holds at once (default 65536)\n"
	      "      --max-module-size SIZE  one module's fat binary, every entry\n"
	      "                           decompressed (default 256M)\n"
	      "      --max-session-modules SIZE  all of one session's modules, so\n"
	      "                           measured (default 1G)\n"
	      "      --cpu-memory SIZE    the CPU device's memory for all guests together\n"
	      "                           (default half the RAM, at most 32G)\n"
	      "      --session-memory SIZE  the size of each guest's CPU device (default:\n"
	      "                           VCUDA_CPU_MEMORY, else --cpu-memory)\n"
	      "      --kernel-timeout SECONDS  end a kernel that runs longer with\n"
	      "                           CUDA_ERROR_LAUNCH_TIMEOUT (CPU device; default\n"
	      "                           0, no limit, as on a GPU without a display)\n"
	      "  -h, --help               show this help and exit\n"
	      "  -V, --version            show the version and exit\n"
	      "\n"
	      "Each guest gets a worker process of its own, with its own CUDA context;\n"
	      "when the guest disconnects or dies, its worker frees everything it held.\n"
	      "SIGINT or SIGTERM stops the server and its workers.\n"
	      "\n"
	      "Environment: VCUDA_LOG (log channels and levels); VCUDA_CPU_MEMORY (each\n"
	      "guest's CPU device size, e.g. 8G, where --session-memory is not given);\n"
	      "VCUDA_SHM_HEAP (the host memory each shm:// session shares with its guest\n"
	      "for page-locked buffers, default 256M); VCUDA_SHM_SPIN_US (how long a\n"
	      "waiting shm:// side spins before it sleeps, default 50); VCUDA_RECORD_DIR\n"
	      "(for testing: workers write each request they receive there, the\n"
	      "protocol fuzzer's seeds).\n",
	      f);
}

enum {
	OPT_CPU_DEVICE = 256,
	OPT_LOG,
	OPT_ATTACH_TIMEOUT,
	OPT_WORKER,
	OPT_BIND,
	OPT_PEER,
	OPT_PARENT,
	OPT_ALLOW_ROOT,
	OPT_MAX_SESSIONS,
	OPT_MAX_PENDING,
	OPT_MAX_MODULES,
	OPT_MAX_HANDLES,
	OPT_MAX_MODULE_SIZE,
	OPT_MAX_SESSION_MODULES,
	OPT_KERNEL_TIMEOUT,
	OPT_SOCKET_MODE,
	OPT_SOCKET_GROUP,
	OPT_SOCKET_GID,
	OPT_CPU_MEMORY,
	OPT_SESSION_MEMORY,
	OPT_KEY,
	OPT_ALLOW_KEYS,
	OPT_PEER_KEYS,
	OPT_INSECURE,
	OPT_PEER_KEY,
	OPT_CONFIG,
	OPT_CLIENT,
	OPT_ADMIN,
	OPT_ADMIN_GROUP,
	OPT_METRICS,
	OPT_SCHEDULE,
	OPT_MPS,
	OPT_RESTORE,
	OPT_CONSUME_IMAGE,
};

static const struct option long_opts[] = {
    {"listen", required_argument, NULL, 'l'},
    {"backend", required_argument, NULL, 'b'},
    {"cpu-device", required_argument, NULL, OPT_CPU_DEVICE},
    {"attach-timeout", required_argument, NULL, OPT_ATTACH_TIMEOUT},
    {"log", required_argument, NULL, OPT_LOG},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {"worker", no_argument, NULL, OPT_WORKER},
    {"bind", required_argument, NULL, OPT_BIND},
    {"peer", required_argument, NULL, OPT_PEER},
    {"parent", required_argument, NULL, OPT_PARENT},
    {"allow-root", no_argument, NULL, OPT_ALLOW_ROOT},
    {"max-sessions", required_argument, NULL, OPT_MAX_SESSIONS},
    {"max-pending", required_argument, NULL, OPT_MAX_PENDING},
    {"max-modules", required_argument, NULL, OPT_MAX_MODULES},
    {"max-handles", required_argument, NULL, OPT_MAX_HANDLES},
    {"max-module-size", required_argument, NULL, OPT_MAX_MODULE_SIZE},
    {"max-session-modules", required_argument, NULL, OPT_MAX_SESSION_MODULES},
    {"kernel-timeout", required_argument, NULL, OPT_KERNEL_TIMEOUT},
    {"socket-mode", required_argument, NULL, OPT_SOCKET_MODE},
    {"socket-group", required_argument, NULL, OPT_SOCKET_GROUP},
    {"socket-gid", required_argument, NULL, OPT_SOCKET_GID},
    {"cpu-memory", required_argument, NULL, OPT_CPU_MEMORY},
    {"session-memory", required_argument, NULL, OPT_SESSION_MEMORY},
    {"key", required_argument, NULL, OPT_KEY},
    {"allow-keys", required_argument, NULL, OPT_ALLOW_KEYS},
    {"peer-keys", required_argument, NULL, OPT_PEER_KEYS},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"peer-key", required_argument, NULL, OPT_PEER_KEY},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"client", required_argument, NULL, OPT_CLIENT},
    {"admin", required_argument, NULL, OPT_ADMIN},
    {"admin-group", required_argument, NULL, OPT_ADMIN_GROUP},
    {"metrics", required_argument, NULL, OPT_METRICS},
    {"schedule", required_argument, NULL, OPT_SCHEDULE},
    {"mps", required_argument, NULL, OPT_MPS},
    {"restore", required_argument, NULL, OPT_RESTORE},
    {"consume-image", no_argument, NULL, OPT_CONSUME_IMAGE},
    {NULL, 0, NULL, 0},
};

static int parse_backend(const char *s, enum vcuda_backend_choice *out)
{
	if (strcmp(s, "auto") == 0)
		*out = VCUDA_BACKEND_AUTO;
	else if (strcmp(s, "cuda") == 0)
		*out = VCUDA_BACKEND_CUDA;
	else if (strcmp(s, "cpu") == 0)
		*out = VCUDA_BACKEND_CPU;
	else
		return -1;
	return 0;
}

/* A count option: a whole number from min to max. */
static int parse_count(const char *opt, const char *arg, uint64_t min, uint64_t max, uint32_t *out)
{
	char *end;
	unsigned long long v = strtoull(arg, &end, 10);

	if (!*arg || *end || *arg == '-' || v < min || v > max) {
		fprintf(stderr, "vcudad: --%s takes a number from %llu to %llu, not '%s'\n", opt,
			(unsigned long long)min, (unsigned long long)max, arg);
		return 2;
	}
	*out = (uint32_t)v;
	return 0;
}

static int parse_size_opt(const char *opt, const char *arg, uint64_t *out)
{
	if (vcuda_parse_size(arg, out) != 0 || *out == 0) {
		fprintf(stderr, "vcudad: --%s takes a size such as 256M, not '%s'\n", opt, arg);
		return 2;
	}
	return 0;
}

/* The options that set limits; 0, 2 on a bad value, 1 if c is not one. */
static int parse_limit(int c, struct vcudad_limits *l)
{
	uint32_t v;
	int rc;

	switch (c) {
	case OPT_MAX_SESSIONS:
		return parse_count("max-sessions", optarg, 1, 65536, &l->sessions);
	case OPT_MAX_PENDING:
		return parse_count("max-pending", optarg, 1, 1024, &l->pending_per_peer);
	case OPT_MAX_MODULES:
		return parse_count("max-modules", optarg, 1, 1u << 20, &l->modules);
	case OPT_MAX_HANDLES:
		return parse_count("max-handles", optarg, 16, 1u << 24, &l->handles);
	case OPT_MAX_MODULE_SIZE:
		return parse_size_opt("max-module-size", optarg, &l->module_bytes);
	case OPT_MAX_SESSION_MODULES:
		return parse_size_opt("max-session-modules", optarg, &l->session_module_bytes);
	case OPT_KERNEL_TIMEOUT:
		if ((rc = parse_count("kernel-timeout", optarg, 0, 86400 * 365, &v)) == 0)
			l->kernel_timeout_s = (int)v;
		return rc;
	}
	return 1;
}

static int parse_socket_opt(int c, const char *arg, struct vcudad_config *cfg)
{
	struct group *g;
	char *end;
	long v;

	if (c == OPT_SOCKET_MODE) {
		v = strtol(arg, &end, 8);
		if (!*arg || *end || v < 0 || v > 0777) {
			fprintf(stderr, "vcudad: --socket-mode takes an octal mode such as 0660\n");
			return 2;
		}
		cfg->socket_mode = (unsigned)v;
		return 0;
	}
	v = strtol(arg, &end, 10);
	if (*arg && !*end && v >= (c == OPT_SOCKET_GID ? -1 : 0)) {
		cfg->socket_gid = v;
		return 0;
	}
	if (c == OPT_SOCKET_GROUP && (g = getgrnam(arg)) != NULL) {
		cfg->socket_gid = (long)g->gr_gid;
		return 0;
	}
	fprintf(stderr, "vcudad: --socket-group: no group '%s'\n", arg);
	return 2;
}

static int parse_args(int argc, char **argv, struct vcudad_config *cfg, const char **log_spec)
{
	int c, rc;

	while ((c = getopt_long(argc, argv, "l:b:hV", long_opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (cfg->nlisten == VCUDAD_MAX_LISTEN) {
				fprintf(stderr, "vcudad: at most %d --listen URLs\n",
					VCUDAD_MAX_LISTEN);
				return 2;
			}
			cfg->listen[cfg->nlisten++] = optarg;
			break;
		case 'b':
			if (parse_backend(optarg, &cfg->backend) != 0) {
				fprintf(stderr,
					"vcudad: --backend must be auto, cuda or cpu, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case OPT_CPU_DEVICE:
			cfg->cpu_device = optarg;
			break;
		case OPT_ATTACH_TIMEOUT:
			cfg->attach_timeout_ms = atoi(optarg);
			break;
		case OPT_LOG:
			*log_spec = optarg;
			break;
		case OPT_WORKER:
			cfg->worker = 1;
			break;
		case OPT_BIND:
			cfg->bind_url = optarg;
			break;
		case OPT_PEER:
			cfg->peer = optarg;
			break;
		case OPT_PARENT:
			cfg->parent = atol(optarg);
			break;
		case OPT_ALLOW_ROOT:
			cfg->allow_root = 1;
			break;
		case OPT_KEY:
			cfg->key_file = optarg;
			break;
		case OPT_ALLOW_KEYS:
			cfg->allow_keys = optarg;
			break;
		case OPT_PEER_KEYS:
			cfg->peer_keys = optarg;
			break;
		case OPT_INSECURE:
			cfg->insecure = 1;
			break;
		case OPT_PEER_KEY:
			cfg->peer_key = optarg;
			break;
		case OPT_CONFIG: /* read before the other options (main) */
			break;
		case OPT_CLIENT:
			cfg->client = optarg;
			break;
		case OPT_ADMIN:
			cfg->admin_url = optarg;
			break;
		case OPT_METRICS:
			cfg->metrics = optarg;
			break;
		case OPT_SCHEDULE:
			if (vcudad_parse_schedule(optarg, &cfg->schedule) != 0) {
				fprintf(stderr,
					"vcudad: --schedule is auto, exclusive, paced or off, not "
					"'%s'\n",
					optarg);
				return 2;
			}
			break;
		case OPT_RESTORE:
			if (cfg->nrestore == VCUDAD_MAX_RESTORE) {
				fprintf(stderr, "vcudad: at most %d --restore files\n",
					VCUDAD_MAX_RESTORE);
				return 2;
			}
			cfg->restore[cfg->nrestore++] = optarg;
			break;
		case OPT_CONSUME_IMAGE: /* worker role */
			cfg->consume_image = 1;
			break;
		case OPT_MPS:
			if (vcudad_parse_mps(optarg, &cfg->mps) != 0) {
				fprintf(stderr, "vcudad: --mps is auto, on or off, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case OPT_ADMIN_GROUP: {
			struct group *g = getgrnam(optarg);
			char *end;
			long v = strtol(optarg, &end, 10);
			if (g)
				cfg->admin_gid = (long)g->gr_gid;
			else if (*optarg && !*end && v >= 0)
				cfg->admin_gid = v;
			else {
				fprintf(stderr, "vcudad: --admin-group: no group '%s'\n", optarg);
				return 2;
			}
			break;
		}
		case OPT_CPU_MEMORY:
			if (parse_size_opt("cpu-memory", optarg, &cfg->cpu_memory) != 0)
				return 2;
			break;
		case OPT_SESSION_MEMORY:
			if (parse_size_opt("session-memory", optarg, &cfg->session_memory) != 0)
				return 2;
			break;
		case OPT_SOCKET_MODE:
		case OPT_SOCKET_GROUP:
		case OPT_SOCKET_GID:
			if (parse_socket_opt(c, optarg, cfg) != 0)
				return 2;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("vcudad (vcuda) %s, protocol %d\n", VCUDA_VERSION_STRING,
			       VCUDA_PROTOCOL_VERSION);
			exit(0);
		default:
			if ((rc = parse_limit(c, &cfg->limits)) == 0)
				break;
			if (rc == 1)
				usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vcudad: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	return 0;
}

/* tcp:// is open to anyone who can reach the port: keys, or a stated
 * --insecure. */
static int check_keys(const struct vcudad_config *cfg)
{
	int tcp = 0;

	for (int i = 0; i < cfg->nlisten; i++)
		tcp |= strncmp(cfg->listen[i], "tcp://", 6) == 0;
	int client_keys = 0;

	for (int i = 0; i < cfg->clients.n; i++)
		client_keys |= cfg->clients.c[i].nkeys > 0;
	if (cfg->key_file && !cfg->allow_keys && !client_keys) {
		fprintf(stderr,
			"vcudad: --key needs the guests' keys it accepts: --allow-keys, or\n"
			"key = lines in the [client] sections of --config\n");
		return 2;
	}
	if (cfg->allow_keys && !cfg->key_file) {
		fprintf(stderr, "vcudad: --allow-keys needs the server's own key: --key\n");
		return 2;
	}
	if (cfg->peer_keys && !cfg->key_file) {
		fprintf(stderr, "vcudad: --peer-keys needs the server's own key: --key\n");
		return 2;
	}
	if (tcp && !cfg->key_file && !cfg->insecure) {
		fprintf(stderr,
			"vcudad: listening on tcp:// needs keys: give --key (the server's) and\n"
			"--allow-keys (the guests'), made with vcuda-keygen; or --insecure to let\n"
			"anyone who can reach the port run code on this host's GPU.\n");
		return 2;
	}
	return 0;
}

/* --config FILE is read first, so that the other options override it. */
static int read_config(int argc, char **argv, struct vcudad_config *cfg)
{
	char why[512];

	for (int i = 1; i < argc; i++) {
		const char *path = NULL;
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			path = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			path = argv[i] + 9;
		if (!path)
			continue;
		if (vcudad_config_load(path, cfg, 1, &cfg->clients, why, sizeof(why)) != 0) {
			fprintf(stderr, "vcudad: %s\n", why);
			return 2;
		}
		cfg->config_file = path;
		return 0;
	}
	return 0;
}

static int check_config(const struct vcudad_config *cfg)
{
	if (cfg->worker)
		return cfg->bind_url && cfg->peer ? 0 : 2;
	if (cfg->nlisten == 0) {
		fprintf(stderr, "vcudad: give at least one --listen URL (see vcudad --help)\n");
		return 2;
	}
	for (int i = 0; i < cfg->nlisten; i++) {
		if (!vcuda_transport_find(cfg->listen[i])) {
			fprintf(
			    stderr,
			    "vcudad: cannot listen at '%s': use tcp://HOST:PORT or ipc:///PATH\n",
			    cfg->listen[i]);
			return 2;
		}
	}
	if (check_keys(cfg) != 0)
		return 2;
	if (geteuid() == 0 && !cfg->allow_root) {
		fprintf(stderr,
			"vcudad: refusing to run as root: a guest's kernels and the files it\n"
			"names would be handled with root's rights. Run vcudad as a user of its\n"
			"own with access to the GPU's device nodes (the installed systemd unit\n"
			"uses 'vcuda'), or pass --allow-root to accept the risk.\n");
		return 2;
	}
	if (cfg->attach_timeout_ms <= 0) {
		fprintf(stderr,
			"vcudad: --attach-timeout must be a positive number of milliseconds\n");
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct vcudad_config cfg = {
	    .backend = VCUDA_BACKEND_AUTO,
	    .cpu_device =
		getenv("VCUDA_CPU_DEVICE") ? getenv("VCUDA_CPU_DEVICE") : VCUDA_CPU_DEVICE_PATH,
	    .attach_timeout_ms = 10000,
	    .socket_mode = 0660,
	    .socket_gid = -1,
	    .clients = {.defaults = {.name = "default", .share = 1}},
	    .admin_gid = -1,
	    .schedule = -1,
	    .mps = -1,
	    .limits = {.module_bytes = 256u << 20,
		       .session_module_bytes = 1u << 30,
		       .modules = 1024,
		       .handles = 65536,
		       .sessions = 1024,
		       .pending_per_peer = 8},
	};
	const char *log_spec = NULL;
	char why[512];
	int rc = read_config(argc, argv, &cfg);

	if (rc == 0)
		rc = parse_args(argc, argv, &cfg, &log_spec);

	if (rc == 0)
		rc = check_config(&cfg);
	if (rc)
		return rc;
	/* Workers inherit the spec through the environment. */
	if (log_spec)
		setenv("VCUDA_LOG", log_spec, 1);
	if (vcuda_log_init("vcudad", VCUDA_LEVEL_INFO, NULL) != 0 && log_spec)
		return 2;
	if (session_calls_verify(&vcuda__request__descriptor, &vcuda__reply__descriptor, why,
				 sizeof(why))) {
		VERR(server, "this vcudad was built inconsistently: %s", why);
		return 1;
	}
	return cfg.worker ? vcudad_worker(&cfg) : vcudad_listen(&cfg, argv[0]);
}
