/* vcuda-run: runs a CUDA program through the vcuda shim. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <getopt.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vcuda/version.h>

#include "coverage.h"

static void usage(FILE *f)
{
	fputs("Usage: vcuda-run [--server URL] [--log SPEC] [--] PROGRAM [ARG]...\n"
	      "       vcuda-run --list-calls [STATUS]\n"
	      "Run an unmodified CUDA program with its CUDA runtime calls served by vcudad.\n"
	      "\n"
	      "  -s, --server URL  the vcudad to use: tcp://HOST:PORT or ipc:///PATH\n"
	      "                    (default: $VCUDA_SERVER)\n"
	      "      --log SPEC    what the shim logs, as VCUDA_LOG (e.g. shim:debug)\n"
	      "      --list-calls [STATUS]\n"
	      "                    list every CUDA runtime function with what vcuda does with\n"
	      "                    it (remoted, guest, unsupported), or only those of STATUS\n"
	      "  -h, --help        show this help and exit\n"
	      "  -V, --version     show the version and exit\n"
	      "\n"
	      "The program must use the shared CUDA runtime (nvcc -cudart shared). vcuda-run\n"
	      "puts the shim first on the library path and preloads it; the program's own\n"
	      "environment is otherwise unchanged.\n"
	      "\n"
	      "tcp:// servers want keys: VCUDA_KEY (this guest's key file, from\n"
	      "vcuda-keygen) and VCUDA_SERVER_KEY (the server's public key or .pub file).\n"
	      "\n"
	      "Environment: VCUDA_SERVER, VCUDA_LOG, VCUDA_CONNECT_TIMEOUT (ms, default\n"
	      "10000), VCUDA_CHUNK_SIZE (bytes per copy message, default 4M),\n"
	      "VCUDA_RESUME_MS (when the server goes away, how long to ask it for the\n"
	      "session back from a checkpoint; default 0),\n"
	      "VCUDA_SHIM_DIR (where the shim is, default " VCUDA_SHIM_DIR ").\n",
	      f);
}

/* Where a program's name leads on PATH, for inspection. */
static const char *run_resolve(const char *prog, char *buf, size_t cap)
{
	const char *path = getenv("PATH");

	if (strchr(prog, '/') || !path)
		return prog;
	while (*path) {
		size_t n = strcspn(path, ":");
		snprintf(buf, cap, "%.*s/%s", (int)n, path, prog);
		if (access(buf, X_OK) == 0)
			return buf;
		path += n + (path[n] == ':');
	}
	return prog;
}

/*
 * Whether an ELF program carries CUDA device code but does not load a
 * shared libcudart: it was linked with the static runtime, which no
 * library-level interposition can reach.
 */
static int run_static_cudart(const char *file)
{
	int fd = open(file, O_RDONLY), has_fatbin = 0, needs_cudart = 0;
	Elf *e;
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (fd < 0 || elf_version(EV_CURRENT) == EV_NONE)
		goto out_fd;
	if (!(e = elf_begin(fd, ELF_C_READ, NULL)) || elf_kind(e) != ELF_K_ELF ||
	    elf_getshdrstrndx(e, &shstrndx) != 0)
		goto out_elf;
	while ((scn = elf_nextscn(e, scn)) != NULL) {
		GElf_Shdr sh;
		const char *name;
		if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(e, shstrndx, sh.sh_name)))
			continue;
		if (strcmp(name, ".nv_fatbin") == 0 || strcmp(name, "__nv_relfatbin") == 0)
			has_fatbin = 1;
		if (sh.sh_type == SHT_DYNAMIC) {
			Elf_Data *d = elf_getdata(scn, NULL);
			for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
				GElf_Dyn dyn;
				const char *lib;
				if (gelf_getdyn(d, (int)i, &dyn) && dyn.d_tag == DT_NEEDED &&
				    (lib = elf_strptr(e, sh.sh_link, dyn.d_un.d_val)) &&
				    strncmp(lib, "libcudart.so", 12) == 0)
					needs_cudart = 1;
			}
		}
	}
out_elf:
	if (e)
		elf_end(e);
out_fd:
	if (fd >= 0)
		close(fd);
	return has_fatbin && !needs_cudart;
}

static int run_prepend(const char *var, const char *value)
{
	const char *old = getenv(var);
	char *buf;
	int rc;

	if (!old || !*old)
		return setenv(var, value, 1);
	if (asprintf(&buf, "%s:%s", value, old) < 0)
		return -1;
	rc = setenv(var, buf, 1);
	free(buf);
	return rc;
}

/* --list-calls: the coverage table, one function a line. */
static int run_list_calls(const char *status)
{
	unsigned shown = 0;

	if (status && strcmp(status, "remoted") != 0 && strcmp(status, "guest") != 0 &&
	    strcmp(status, "unsupported") != 0) {
		fprintf(stderr,
			"vcuda-run: --list-calls takes remoted, guest or unsupported, not '%s'\n",
			status);
		return 2;
	}
	for (unsigned i = 0; i < vcuda_coverage_count; i++) {
		const struct vcuda_coverage *c = &vcuda_coverage[i];
		if (status && strcmp(status, c->status) != 0)
			continue;
		if (*c->note)
			printf("%-52s %-11s %s\n", c->name, c->status, c->note);
		else
			printf("%-52s %s\n", c->name, c->status);
		shown++;
	}
	return shown ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"server", required_argument, NULL, 's'}, {"log", required_argument, NULL, 'l'},
	    {"list-calls", no_argument, NULL, 'L'},   {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
	};
	const char *shim_dir = getenv("VCUDA_SHIM_DIR") ? getenv("VCUDA_SHIM_DIR") : VCUDA_SHIM_DIR;
	char preload[4096], found[4096];
	int c;

	while ((c = getopt_long(argc, argv, "+s:hV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			setenv("VCUDA_SERVER", optarg, 1);
			break;
		case 'l':
			setenv("VCUDA_LOG", optarg, 1);
			break;
		case 'L':
			return run_list_calls(optind < argc ? argv[optind] : NULL);
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("vcuda-run (vcuda) %s\n", VCUDA_VERSION_STRING);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "vcuda-run: no program given (see vcuda-run --help)\n");
		return 2;
	}
	if (!getenv("VCUDA_SERVER") || !*getenv("VCUDA_SERVER")) {
		fprintf(stderr, "vcuda-run: no server: give --server URL or set VCUDA_SERVER\n");
		return 2;
	}
	if (run_static_cudart(run_resolve(argv[optind], found, sizeof(found)))) {
		fprintf(stderr,
			"vcuda-run: %s is linked with the static CUDA runtime (nvcc's default), "
			"which vcuda cannot intercept.\n"
			"Rebuild it with 'nvcc -cudart shared' (or link -lcudart instead of "
			"-lcudart_static) and run it again.\n",
			argv[optind]);
		return 2;
	}
	snprintf(preload, sizeof(preload), "%s/libcudart.so.%d", shim_dir, VCUDA_CUDART_MAJOR);
	if (access(preload, R_OK) != 0) {
		fprintf(stderr, "vcuda-run: the shim is not at %s (set VCUDA_SHIM_DIR)\n", preload);
		return 2;
	}
	if (run_prepend("LD_LIBRARY_PATH", shim_dir) != 0 ||
	    run_prepend("LD_PRELOAD", preload) != 0) {
		perror("vcuda-run");
		return 1;
	}
	execvp(argv[optind], &argv[optind]);
	fprintf(stderr, "vcuda-run: cannot run %s: %s\n", argv[optind], strerror(errno));
	return 127;
}
