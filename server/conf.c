/* vcudad's configuration file, read with inih (conf.h). */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "conf.h"
#include "curve.h"
#include "error.h"
#include "util.h"
#include "vcudad.h"

struct config_state {
	struct vcudad_config *cfg;
	int in_group; /* cur is a [group] */
	int server;   /* apply [server] */
	int server_seen;
	struct vcudad_clients cl;
	struct vcudad_client_conf *cur; /* the section being read */
	char err[512];			/* the first error, for its line */
};

static int config_fail(struct config_state *st, const char *fmt, const char *a, const char *b)
{
	if (!st->err[0])
		snprintf(st->err, sizeof(st->err), fmt, a, b);
	return 0;
}

static int config_count(const char *v, uint64_t max, uint32_t *out)
{
	char *end;
	unsigned long long n = strtoull(v, &end, 10);

	if (!*v || *end || *v == '-' || n > max)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

static int config_user(const char *v, uid_t *out)
{
	struct passwd *pw = getpwnam(v);
	uint32_t n;

	if (pw) {
		*out = pw->pw_uid;
		return 0;
	}
	if (config_count(v, 0x7fffffff, &n) != 0)
		return -1;
	*out = (uid_t)n;
	return 0;
}

/* memory, max-sessions, share: [defaults], [client NAME] and [group NAME]
 * alike; key, user and group: clients only. */
static int config_client_value(struct config_state *st, const char *name, const char *value)
{
	struct vcudad_client_conf *c = st->cur;
	char why[200];

	if (strcmp(name, "memory") == 0) {
		if (vcuda_parse_size(value, &c->memory) != 0)
			return config_fail(st, "memory takes a size such as 4G, not '%s'%s", value,
					   "");
	} else if (strcmp(name, "max-sessions") == 0) {
		if (config_count(value, 65536, &c->max_sessions) != 0)
			return config_fail(st, "max-sessions takes a number, not '%s'%s", value,
					   "");
	} else if (strcmp(name, "share") == 0) {
		if (config_count(value, 10000, &c->share) != 0 || c->share == 0)
			return config_fail(st, "share takes a number from 1 to 10000, not '%s'%s",
					   value, "");
	} else if (st->in_group) {
		return config_fail(st, "unknown setting '%s' in a group section%s", name, "");
	} else if (c != &st->cl.defaults && strcmp(name, "group") == 0) {
		if (!*value || strlen(value) >= sizeof(c->group))
			return config_fail(st, "group takes a group's name, not '%s'%s", value, "");
		snprintf(c->group, sizeof(c->group), "%s", value);
	} else if (c != &st->cl.defaults && strcmp(name, "key") == 0) {
		char z85[VCUDA_KEY_Z85];
		if (c->nkeys == VCUDAD_CLIENT_KEYS)
			return config_fail(st, "at most 8 keys a client%s%s", "", "");
		if (vcuda_curve_read_public(value, z85, why, sizeof(why)) != 0)
			return config_fail(st, "key: %s%s", why, "");
		zmq_z85_decode(c->keys[c->nkeys++], z85);
	} else if (c != &st->cl.defaults && strcmp(name, "user") == 0) {
		if (c->nusers == VCUDAD_CLIENT_KEYS)
			return config_fail(st, "at most 8 users a client%s%s", "", "");
		if (config_user(value, &c->users[c->nusers++]) != 0)
			return config_fail(st, "user: no user '%s'%s", value, "");
	} else {
		return config_fail(st, "unknown setting '%s' in a client section%s", name, "");
	}
	return 1;
}

/* The [server] strings the configuration keeps for the process's life
 * (listen URLs, paths): held here, where they stay reachable. */
static char *config_strings[64];

static char *config_keep(const char *value)
{
	for (size_t i = 0; i < sizeof(config_strings) / sizeof(*config_strings); i++)
		if (!config_strings[i])
			return config_strings[i] = strdup(value);
	return NULL;
}

static int config_server_value(struct config_state *st, const char *name, const char *value)
{
	struct vcudad_config *cfg = st->cfg;
	char *v;
	uint32_t n;

	if (!st->server)
		return 1; /* a reload: the caller compares what needs a restart */
	if (!(v = config_keep(value)))
		return config_fail(st, "out of memory, or too many settings%s%s", "", "");
	if (strcmp(name, "listen") == 0) {
		if (cfg->nlisten == VCUDAD_MAX_LISTEN)
			return config_fail(st, "at most 8 listen URLs%s%s", "", "");
		cfg->listen[cfg->nlisten++] = v;
	} else if (strcmp(name, "backend") == 0) {
		if (strcmp(v, "auto") && strcmp(v, "cuda") && strcmp(v, "cpu"))
			return config_fail(st, "backend is auto, cuda or cpu, not '%s'%s", v, "");
		cfg->backend = !strcmp(v, "cuda")  ? VCUDA_BACKEND_CUDA
			       : !strcmp(v, "cpu") ? VCUDA_BACKEND_CPU
						   : VCUDA_BACKEND_AUTO;
	} else if (strcmp(name, "cpu-device") == 0) {
		cfg->cpu_device = v;
	} else if (strcmp(name, "key") == 0) {
		cfg->key_file = v;
	} else if (strcmp(name, "admin") == 0) {
		cfg->admin_url = v;
	} else if (strcmp(name, "metrics") == 0) {
		cfg->metrics = v;
	} else if (strcmp(name, "admin-group") == 0) {
		struct group *g = getgrnam(v);
		if (!g)
			return config_fail(st, "admin-group: no group '%s'%s", v, "");
		cfg->admin_gid = (long)g->gr_gid;
	} else if (strcmp(name, "allow-keys") == 0) {
		cfg->allow_keys = v;
	} else if (strcmp(name, "peer-keys") == 0) {
		cfg->peer_keys = v;
	} else if (strcmp(name, "insecure") == 0) {
		cfg->insecure = !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1");
	} else if (strcmp(name, "socket-mode") == 0) {
		char *end;
		long m = strtol(v, &end, 8);
		if (!*v || *end || m < 0 || m > 0777)
			return config_fail(st, "socket-mode is an octal mode, not '%s'%s", v, "");
		cfg->socket_mode = (unsigned)m;
	} else if (strcmp(name, "socket-group") == 0) {
		struct group *g = getgrnam(v);
		if (!g)
			return config_fail(st, "socket-group: no group '%s'%s", v, "");
		cfg->socket_gid = (long)g->gr_gid;
	} else if (strcmp(name, "cpu-memory") == 0) {
		if (vcuda_parse_size(v, &cfg->cpu_memory) != 0)
			return config_fail(st, "cpu-memory takes a size, not '%s'%s", v, "");
	} else if (strcmp(name, "schedule") == 0) {
		if (vcudad_parse_schedule(v, &cfg->schedule) != 0)
			return config_fail(
			    st, "schedule is auto, exclusive, paced or off, not '%s'%s", v, "");
	} else if (strcmp(name, "mps") == 0) {
		if (vcudad_parse_mps(v, &cfg->mps) != 0)
			return config_fail(st, "mps is auto, on or off, not '%s'%s", v, "");
	} else if (strcmp(name, "max-sessions") == 0) {
		if (config_count(v, 65536, &n) != 0 || n == 0)
			return config_fail(st, "max-sessions takes a number, not '%s'%s", v, "");
		cfg->limits.sessions = n;
	} else {
		return config_fail(st, "unknown setting '%s' in [server]%s", name, "");
	}
	return 1;
}

/* Finds or adds [client NAME] (in *v, *n): clients and groups alike. */
static struct vcudad_client_conf *config_section(struct vcudad_client_conf **v, int *n,
						 const char *name)
{
	struct vcudad_client_conf *c;

	for (int i = 0; i < *n; i++)
		if (strcmp((*v)[i].name, name) == 0)
			return &(*v)[i];
	if (!(c = realloc(*v, (size_t)(*n + 1) * sizeof(*c))))
		return NULL;
	*v = c;
	c = &(*v)[(*n)++];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	return c;
}

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
	struct config_state *st = user;
	const char *n = strchr(section, ' ');

	st->in_group = 0;
	if (strcmp(section, "server") == 0) {
		st->server_seen = 1;
		return config_server_value(st, name, value);
	}
	if (strcmp(section, "defaults") == 0) {
		st->cur = &st->cl.defaults;
		return config_client_value(st, name, value);
	}
	st->in_group = strncmp(section, "group ", 6) == 0;
	if ((strncmp(section, "client ", 7) == 0 || st->in_group) && n[1] && strlen(n + 1) < 64) {
		n++;
		if (!(st->cur = st->in_group ? config_section(&st->cl.g, &st->cl.ng, n)
					     : config_section(&st->cl.c, &st->cl.n, n)))
			return config_fail(st, "out of memory%s%s", "", "");
		return config_client_value(st, name, value);
	}
	return config_fail(st, "unknown section [%s]%s", section, "");
}

/* What a and b both name: "key", "user", or NULL. */
static const char *config_shared(const struct vcudad_client_conf *a,
				 const struct vcudad_client_conf *b)
{
	for (int i = 0; i < a->nkeys; i++)
		for (int j = 0; j < b->nkeys; j++)
			if (memcmp(a->keys[i], b->keys[j], 32) == 0)
				return "key";
	for (int i = 0; i < a->nusers; i++)
		for (int j = 0; j < b->nusers; j++)
			if (a->users[i] == b->users[j])
				return "user";
	return NULL;
}

/* The same key or user in two clients would make the identity ambiguous;
 * a client's group must exist. */
static int config_check(struct config_state *st)
{
	for (int i = 0; i < st->cl.n; i++)
		if (st->cl.c[i].group[0] && !vcudad_group_by_name(&st->cl, st->cl.c[i].group)) {
			config_fail(st, "client %s is in group %s, which has no [group] section",
				    st->cl.c[i].name, st->cl.c[i].group);
			return -1;
		}
	for (int i = 0; i < st->cl.n; i++)
		for (int j = i + 1; j < st->cl.n; j++) {
			const char *what = config_shared(&st->cl.c[i], &st->cl.c[j]);
			char names[160];
			if (!what)
				continue;
			snprintf(names, sizeof(names), "%s and %s", st->cl.c[i].name,
				 st->cl.c[j].name);
			config_fail(st, "clients %s share a %s", names, what);
			return -1;
		}
	return 0;
}

int vcudad_config_load(const char *path, struct vcudad_config *cfg, int server,
		       struct vcudad_clients *out, char *why, size_t why_len)
{
	struct config_state st = {.cfg = cfg, .server = server};
	int line;

	snprintf(st.cl.defaults.name, sizeof(st.cl.defaults.name), "default");
	st.cl.defaults.share = 1;
	line = ini_parse(path, config_handler, &st);
	if (line == 0 && config_check(&st) == 0) {
		for (int i = 0; i < st.cl.n; i++)
			if (!st.cl.c[i].share)
				st.cl.c[i].share = st.cl.defaults.share;
		for (int i = 0; i < st.cl.ng; i++)
			if (!st.cl.g[i].share)
				st.cl.g[i].share = 1;
		*out = st.cl;
		return 0;
	}
	if (line < 0)
		snprintf(why, why_len, "%s: %s", path,
			 line == -1 ? strerror(errno) : "out of memory");
	else if (line > 0)
		snprintf(why, why_len, "%s:%d: %s", path, line,
			 st.err[0] ? st.err : "syntax error");
	else
		snprintf(why, why_len, "%s: %s", path, st.err);
	vcudad_clients_free(&st.cl);
	return VCUDA_E_INVAL;
}

int vcudad_parse_schedule(const char *v, int *out)
{
	static const char *const names[] = {"off", "exclusive", "paced"};

	if (strcmp(v, "auto") == 0) {
		*out = -1;
		return 0;
	}
	for (int i = 0; i < 3; i++)
		if (strcmp(v, names[i]) == 0) {
			*out = i; /* VCUDA_SCHED_COUNT, _EXCLUSIVE, _PACED */
			return 0;
		}
	return -1;
}

int vcudad_parse_mps(const char *v, int *out)
{
	*out = !strcmp(v, "auto") ? -1 : !strcmp(v, "on") ? 1 : !strcmp(v, "off") ? 0 : -2;
	return *out == -2 ? -1 : 0;
}

void vcudad_clients_free(struct vcudad_clients *c)
{
	free(c->c);
	free(c->g);
	c->c = c->g = NULL;
	c->n = c->ng = 0;
}

const struct vcudad_client_conf *vcudad_group_by_name(const struct vcudad_clients *c,
						      const char *name)
{
	for (int i = 0; i < c->ng; i++)
		if (strcmp(c->g[i].name, name) == 0)
			return &c->g[i];
	return NULL;
}

const struct vcudad_client_conf *vcudad_client_by_key(const struct vcudad_clients *c,
						      const uint8_t key[32])
{
	for (int i = 0; i < c->n; i++)
		for (int k = 0; k < c->c[i].nkeys; k++)
			if (memcmp(c->c[i].keys[k], key, 32) == 0)
				return &c->c[i];
	return NULL;
}

const struct vcudad_client_conf *vcudad_client_by_user(const struct vcudad_clients *c, uid_t uid)
{
	for (int i = 0; i < c->n; i++)
		for (int k = 0; k < c->c[i].nusers; k++)
			if (c->c[i].users[k] == uid)
				return &c->c[i];
	return NULL;
}
