/* vcudad: the vcuda server. Options are read and checked here only. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "transport.h"
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
	      "  -b, --backend KIND       auto (default): NVIDIA's driver when it finds a\n"
	      "                           GPU, else the CPU device; cuda: the GPU only;\n"
	      "                           cpu: the CPU device only\n"
	      "      --cpu-device PATH    the CPU device library (default:\n"
	      "                           " VCUDA_CPU_DEVICE_PATH ")\n"
	      "      --attach-timeout MS  how long a new session waits for its guest\n"
	      "                           (default 10000)\n"
	      "      --log SPEC           what to log, as VCUDA_LOG (e.g. server:debug)\n"
	      "  -h, --help               show this help and exit\n"
	      "  -V, --version            show the version and exit\n"
	      "\n"
	      "Each guest gets a worker process of its own, with its own CUDA context;\n"
	      "when the guest disconnects or dies, its worker frees everything it held.\n"
	      "SIGINT or SIGTERM stops the server and its workers.\n"
	      "\n"
	      "Environment: VCUDA_LOG (log channels and levels), VCUDA_CPU_MEMORY (the\n"
	      "CPU device's memory size, e.g. 8G).\n",
	      f);
}

enum {
	OPT_CPU_DEVICE = 256,
	OPT_LOG,
	OPT_ATTACH_TIMEOUT,
	OPT_WORKER,
	OPT_BIND,
	OPT_PEER,
	OPT_PARENT
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

static int parse_args(int argc, char **argv, struct vcudad_config *cfg, const char **log_spec)
{
	int c;

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
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("vcudad (vcuda) %s, protocol %d\n", VCUDA_VERSION_STRING,
			       VCUDA_PROTOCOL_VERSION);
			exit(0);
		default:
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
	};
	const char *log_spec = NULL;
	int rc = parse_args(argc, argv, &cfg, &log_spec);

	if (rc == 0)
		rc = check_config(&cfg);
	if (rc)
		return rc;
	/* Workers inherit the spec through the environment. */
	if (log_spec)
		setenv("VCUDA_LOG", log_spec, 1);
	if (vcuda_log_init("vcudad", VCUDA_LEVEL_INFO, NULL) != 0 && log_spec)
		return 2;
	return cfg.worker ? vcudad_worker(&cfg) : vcudad_listen(&cfg, argv[0]);
}
