/* Keys for tcp:// and their check (ZeroMQ CURVE and ZAP): see curve.h. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "curve.h"
#include "error.h"
#include "log.h"
#include "transport.h"

/* Whether s is a Z85 key: 40 characters that decode to 32 bytes. */
static int curve_valid(const char *s, uint8_t *bin)
{
	uint8_t tmp[32];

	return strlen(s) == VCUDA_KEY_Z85 - 1 && zmq_z85_decode(bin ? bin : tmp, s) != NULL;
}

/* The next line of f that is not blank or a comment, its spaces trimmed;
 * NULL at EOF. Only whole lines are comments: '#' is a Z85 character. */
static char *curve_line(FILE *f, char *buf, size_t len)
{
	while (fgets(buf, (int)len, f)) {
		char *s = buf, *e;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '#')
			continue;
		e = s + strlen(s);
		while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			*--e = 0;
		if (*s)
			return s;
	}
	return NULL;
}

static FILE *curve_open(const char *path, char *why, size_t why_len)
{
	FILE *f = fopen(path, "r");

	if (!f)
		snprintf(why, why_len, "cannot read %s: %s", path, strerror(errno));
	return f;
}

int vcuda_curve_read_keyfile(const char *path, struct vcuda_curve *k, char *why, size_t why_len)
{
	FILE *f = curve_open(path, why, why_len);
	char buf[256], *s;
	int n = 0;

	if (!f)
		return VCUDA_E_INVAL;
	k->public_key[0] = k->secret_key[0] = 0;
	while ((s = curve_line(f, buf, sizeof(buf))) != NULL) {
		char *dst = NULL;
		n++;
		if (strncmp(s, "public ", 7) == 0)
			dst = k->public_key, s += 7;
		else if (strncmp(s, "secret ", 7) == 0)
			dst = k->secret_key, s += 7;
		while (dst && *s == ' ')
			s++;
		if (!dst || !curve_valid(s, NULL)) {
			snprintf(why, why_len,
				 "%s: key line %d is not 'public KEY' or 'secret KEY' (see "
				 "vcuda-keygen)",
				 path, n);
			fclose(f);
			return VCUDA_E_INVAL;
		}
		memcpy(dst, s, VCUDA_KEY_Z85);
	}
	fclose(f);
	if (!k->public_key[0] || !k->secret_key[0]) {
		snprintf(why, why_len, "%s: the key file lacks its %s key", path,
			 k->public_key[0] ? "secret" : "public");
		return VCUDA_E_INVAL;
	}
	return 0;
}

int vcuda_curve_read_public(const char *spec, char *out, char *why, size_t why_len)
{
	FILE *f;
	char buf[256], *s;

	if (curve_valid(spec, NULL)) {
		memcpy(out, spec, VCUDA_KEY_Z85);
		return 0;
	}
	if (!(f = fopen(spec, "r"))) {
		snprintf(why, why_len, "'%s' is neither a key nor a readable key file", spec);
		return VCUDA_E_INVAL;
	}
	while ((s = curve_line(f, buf, sizeof(buf))) != NULL) {
		if (strncmp(s, "secret ", 7) == 0)
			continue;
		if (strncmp(s, "public ", 7) == 0)
			s += 7;
		while (*s == ' ')
			s++;
		if (curve_valid(s, NULL)) {
			memcpy(out, s, VCUDA_KEY_Z85);
			fclose(f);
			return 0;
		}
		break;
	}
	fclose(f);
	snprintf(why, why_len, "%s holds no public key", spec);
	return VCUDA_E_INVAL;
}

int vcuda_curve_from_env(struct vcuda_curve *k, char *why, size_t why_len)
{
	const char *key = getenv("VCUDA_KEY"), *server = getenv("VCUDA_SERVER_KEY");
	int rc;

	if ((!key || !*key) && (!server || !*server))
		return 0;
	if (!key || !*key || !server || !*server) {
		snprintf(why, why_len, "%s is set but not %s: a tcp:// guest needs both",
			 key && *key ? "VCUDA_KEY" : "VCUDA_SERVER_KEY",
			 key && *key ? "VCUDA_SERVER_KEY" : "VCUDA_KEY");
		return VCUDA_E_INVAL;
	}
	if ((rc = vcuda_curve_read_keyfile(key, k, why, why_len)) != 0 ||
	    (rc = vcuda_curve_read_public(server, k->server_key, why, why_len)) != 0)
		return rc;
	return 1;
}

int vcuda_curve_apply(void *sock, const struct vcuda_curve *k, int server)
{
	int one = 1;

	if (server)
		return zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof(one)) == 0 &&
			       zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, k->secret_key, 40) == 0
			   ? 0
			   : VCUDA_E_TRANSPORT;
	return zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, k->server_key, 40) == 0 &&
		       zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, k->public_key, 40) == 0 &&
		       zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, k->secret_key, 40) == 0
		   ? 0
		   : VCUDA_E_TRANSPORT;
}

static int curve_write(const char *path, mode_t mode, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	size_t n = strlen(text);

	if (fd < 0)
		return -1;
	if (write(fd, text, n) != (ssize_t)n) {
		close(fd);
		unlink(path);
		return -1;
	}
	return close(fd);
}

int vcuda_curve_generate(const char *dir, const char *name, char *why, size_t why_len)
{
	char pub[VCUDA_KEY_Z85], sec[VCUDA_KEY_Z85], path[4096], text[256];

	if (zmq_curve_keypair(pub, sec) != 0) {
		snprintf(why, why_len, "cannot make a key pair: %s (is libzmq built with CURVE?)",
			 zmq_strerror(errno));
		return VCUDA_E_SYSTEM;
	}
	snprintf(text, sizeof(text),
		 "# vcuda key pair '%s': keep this file secret (vcuda-keygen)\n"
		 "public %s\nsecret %s\n",
		 name, pub, sec);
	snprintf(path, sizeof(path), "%s/%s.key", dir, name);
	if (curve_write(path, 0600, text) != 0)
		goto out_fail;
	snprintf(text, sizeof(text), "# vcuda public key '%s'\n%s\n", name, pub);
	snprintf(path, sizeof(path), "%s/%s.pub", dir, name);
	if (curve_write(path, 0644, text) != 0)
		goto out_fail;
	return 0;
out_fail:
	snprintf(why, why_len, "cannot write %s: %s", path, strerror(errno));
	return VCUDA_E_SYSTEM;
}

/* ---- the set of accepted keys ---------------------------------------------------- */

static int keyset_add(struct vcuda_keyset *s, const char *z85)
{
	uint8_t(*k)[32] = realloc(s->keys, (s->n + 1) * sizeof(*s->keys));

	if (!k)
		return VCUDA_E_NOMEM;
	s->keys = k;
	zmq_z85_decode(s->keys[s->n++], z85);
	return 0;
}

static int keyset_file(const char *path, struct vcuda_keyset *s, char *why, size_t why_len)
{
	FILE *f = curve_open(path, why, why_len);
	char buf[256], *line;
	int n = 0;

	if (!f)
		return VCUDA_E_INVAL;
	while ((line = curve_line(f, buf, sizeof(buf))) != NULL) {
		n++;
		if (strncmp(line, "public ", 7) == 0)
			line += 7;
		if (!curve_valid(line, NULL) || keyset_add(s, line) != 0) {
			snprintf(why, why_len, "%s: key %d is not a Z85 public key", path, n);
			fclose(f);
			return VCUDA_E_INVAL;
		}
	}
	fclose(f);
	return 0;
}

int vcuda_keyset_load(const char *path, struct vcuda_keyset *s, char *why, size_t why_len)
{
	struct stat st;
	struct dirent *e;
	DIR *d;
	int rc = 0;

	s->keys = NULL;
	s->n = 0;
	if (stat(path, &st) != 0) {
		snprintf(why, why_len, "cannot read %s: %s", path, strerror(errno));
		return VCUDA_E_INVAL;
	}
	if (!S_ISDIR(st.st_mode))
		rc = keyset_file(path, s, why, why_len);
	else if (!(d = opendir(path))) {
		snprintf(why, why_len, "cannot read %s: %s", path, strerror(errno));
		rc = VCUDA_E_INVAL;
	} else {
		while (rc == 0 && (e = readdir(d)) != NULL) {
			size_t n = strlen(e->d_name);
			char file[4096];
			if (n < 5 || strcmp(e->d_name + n - 4, ".pub") != 0)
				continue;
			snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
			rc = keyset_file(file, s, why, why_len);
		}
		closedir(d);
	}
	if (rc)
		vcuda_keyset_free(s);
	return rc;
}

int vcuda_keyset_has(const struct vcuda_keyset *s, const uint8_t key[32])
{
	for (size_t i = 0; i < s->n; i++)
		if (memcmp(s->keys[i], key, 32) == 0)
			return 1;
	return 0;
}

void vcuda_keyset_free(struct vcuda_keyset *s)
{
	free(s->keys);
	s->keys = NULL;
	s->n = 0;
}

/* ---- ZAP: the check of each CURVE client ---------------------------------------- */

struct zap {
	void *sock;
	vcuda_zap_allow allow;
	void *arg;
};

/* One request: version, request id, domain, address, identity, mechanism,
 * then the client's 32-byte key. Frames past 16 are not read. */
static void zap_answer(struct zap *z)
{
	zmq_msg_t f[8];
	int n = 0, more = 1, ok = 0;
	char addr[64] = "", user[VCUDA_KEY_Z85] = "";

	while (more && n < 8) {
		zmq_msg_init(&f[n]);
		if (zmq_msg_recv(&f[n], z->sock, 0) < 0)
			break;
		more = zmq_msg_more(&f[n++]);
	}
	while (more) { /* a malformed request: drain it */
		zmq_msg_t x;
		zmq_msg_init(&x);
		more = zmq_msg_recv(&x, z->sock, 0) >= 0 && zmq_msg_more(&x);
		zmq_msg_close(&x);
	}
	if (n == 7 && zmq_msg_size(&f[5]) == 5 && memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0 &&
	    zmq_msg_size(&f[6]) == 32) {
		snprintf(addr, sizeof(addr), "%.*s", (int)zmq_msg_size(&f[3]),
			 (const char *)zmq_msg_data(&f[3]));
		ok = z->allow(z->arg, zmq_msg_data(&f[6]), addr);
		if (ok)
			zmq_z85_encode(user, zmq_msg_data(&f[6]), 32);
	}
	if (n >= 2) {
		zmq_send(z->sock, "1.0", 3, ZMQ_SNDMORE);
		zmq_send(z->sock, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
		zmq_send(z->sock, ok ? "200" : "400", 3, ZMQ_SNDMORE);
		zmq_send(z->sock, ok ? "OK" : "key not accepted", ok ? 2 : 16, ZMQ_SNDMORE);
		zmq_send(z->sock, user, strlen(user), ZMQ_SNDMORE);
		zmq_send(z->sock, "", 0, 0);
	}
	for (int i = 0; i < n; i++)
		zmq_msg_close(&f[i]);
}

static void *zap_main(void *arg)
{
	struct zap *z = arg;

	for (;;)
		zap_answer(z);
	return NULL;
}

int vcuda_zap_start(vcuda_zap_allow allow, void *arg)
{
	static struct zap z;
	pthread_t t;

	z.allow = allow;
	z.arg = arg;
	if (!vcuda_zmq_context() || !(z.sock = zmq_socket(vcuda_zmq_context(), ZMQ_REP)) ||
	    zmq_bind(z.sock, "inproc://zeromq.zap.01") != 0 ||
	    pthread_create(&t, NULL, zap_main, &z) != 0)
		return VCUDA_E_TRANSPORT;
	pthread_detach(t);
	return 0;
}
