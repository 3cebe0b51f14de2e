/* vcuda-keygen: makes the key pairs that tcp:// servers and guests use. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <vcuda/version.h>

#include "curve.h"

static void usage(FILE *f)
{
	fputs("Usage: vcuda-keygen [-d DIR] NAME...\n"
	      "Make a key pair for each NAME, for vcuda over tcp:// (ZeroMQ CURVE: each\n"
	      "connection authenticated and encrypted).\n"
	      "\n"
	      "  -d, --dir DIR   where to write them (default: the current directory)\n"
	      "  -h, --help      show this help and exit\n"
	      "  -V, --version   show the version and exit\n"
	      "\n"
	      "Each NAME gets NAME.key (its public and secret key, mode 0600: keep it\n"
	      "secret) and NAME.pub (its public key, to give to the other side). An\n"
	      "existing file is never overwritten.\n"
	      "\n"
	      "The server:  vcudad --listen tcp://HOST:PORT --key server.key\n"
	      "                    --allow-keys DIR_OF_GUEST_PUB_FILES\n"
	      "A guest:     VCUDA_KEY=guest.key VCUDA_SERVER_KEY=server.pub \\\n"
	      "             vcuda-run --server tcp://HOST:PORT -- PROGRAM\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *dir = ".";
	char why[512];
	int c, failed = 0;

	while ((c = getopt_long(argc, argv, "d:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("vcuda-keygen (vcuda) %s\n", VCUDA_VERSION_STRING);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "vcuda-keygen: name the key pair to make (see --help)\n");
		return 2;
	}
	for (; optind < argc; optind++) {
		const char *name = argv[optind];
		if (!*name || strchr(name, '/')) {
			fprintf(stderr, "vcuda-keygen: '%s' is not a name (no '/')\n", name);
			failed = 1;
			continue;
		}
		if (vcuda_curve_generate(dir, name, why, sizeof(why)) != 0) {
			fprintf(stderr, "vcuda-keygen: %s\n", why);
			failed = 1;
			continue;
		}
		printf("%s/%s.key, %s/%s.pub\n", dir, name, dir, name);
	}
	return failed;
}
