/* The listener's clients: identities, their sections and quotas (clients.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "clients.h"
#include "log.h"
#include "util.h"

static const struct vcudad_client_conf *ident_conf(const struct vcudad_idents *t,
						   const struct vcudad_ident *id)
{
	const struct vcudad_client_conf *c = NULL;

	if (id->has_key)
		c = vcudad_client_by_key(&t->conf, id->key);
	else if (id->has_uid)
		c = vcudad_client_by_user(&t->conf, id->uid);
	return c ? c : &t->conf.defaults;
}

static uint64_t ident_limit(const struct vcudad_client_conf *c)
{
	return c->memory ? c->memory : UINT64_MAX;
}

/* Names an identity: its section's name, else what it is. */
static void ident_name(struct vcudad_ident *id)
{
	char z85[41];

	if (id->conf->name[0] && strcmp(id->conf->name, "default") != 0)
		snprintf(id->id, sizeof(id->id), "%s", id->conf->name);
	else if (id->has_key) {
		zmq_z85_encode(z85, id->key, 32);
		snprintf(id->id, sizeof(id->id), "key %.12s", z85);
	} else if (id->has_uid)
		snprintf(id->id, sizeof(id->id), "uid %u", (unsigned)id->uid);
	else
		snprintf(id->id, sizeof(id->id), "host %s", id->host[0] ? id->host : "local");
}

/* Fills id's key, user or host from what the listener learnt. A local
 * socket's peer address is "NAME:UID:GID:PID", from the kernel
 * (SO_PEERCRED): the user cannot be forged. */
static void ident_parse(struct vcudad_ident *id, const char *key_z85, const char *peer, int local)
{
	unsigned uid, gid, pid;
	const char *c = peer ? strchr(peer, ':') : NULL;

	if (key_z85 && strlen(key_z85) == 40 && zmq_z85_decode(id->key, key_z85))
		id->has_key = 1;
	else if (local && c && sscanf(c, ":%u:%u:%u", &uid, &gid, &pid) == 3) {
		id->has_uid = 1;
		id->uid = (uid_t)uid;
	} else if (peer)
		snprintf(id->host, sizeof(id->host), "%s", local ? "local" : peer);
}

static int ident_same(const struct vcudad_ident *a, const struct vcudad_ident *b)
{
	if (a->conf == b->conf && a->conf->name[0] && strcmp(a->conf->name, "default") != 0)
		return 1; /* one section: one client, whichever of its keys or users */
	if (a->has_key || b->has_key)
		return a->has_key && b->has_key && memcmp(a->key, b->key, 32) == 0;
	if (a->has_uid || b->has_uid)
		return a->has_uid && b->has_uid && a->uid == b->uid;
	return strcmp(a->host, b->host) == 0;
}

/* What a live group whose section a reload removed is held to: nothing. */
static const struct vcudad_client_conf group_gone = {.name = "", .share = 1};

/* The live group named name, made with its budget on first sight. */
static struct vcudad_group *group_get(struct vcudad_idents *t, const char *name)
{
	const struct vcudad_client_conf *c = vcudad_group_by_name(&t->conf, name);
	struct vcudad_group *g, **v;

	for (int i = 0; i < t->ngroups; i++)
		if (strcmp(t->groups[i]->name, name) == 0) {
			t->groups[i]->members++;
			return t->groups[i];
		}
	if (!(g = calloc(1, sizeof(*g))) ||
	    !(v = realloc(t->groups, (size_t)(t->ngroups + 1) * sizeof(*v)))) {
		free(g);
		return NULL;
	}
	t->groups = v;
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->conf = c ? c : &group_gone;
	g->id = ++t->next_group_id;
	g->members = 1;
	if (!(g->budget = vcuda_budget_create(ident_limit(g->conf), t->slots, &g->budget_fd))) {
		free(g);
		return NULL;
	}
	t->groups[t->ngroups++] = g;
	return g;
}

static void group_put(struct vcudad_idents *t, struct vcudad_group *g)
{
	if (--g->members > 0)
		return;
	for (int i = 0; i < t->ngroups; i++)
		if (t->groups[i] == g) {
			t->groups[i] = t->groups[--t->ngroups];
			break;
		}
	vcuda_budget_destroy(g->budget, g->budget_fd);
	free(g);
}

/* Tells the device scheduler id's share, and its group's. */
static void ident_schedule(struct vcudad_idents *t, const struct vcudad_ident *id)
{
	vcuda_sched_set_client(t->sched, id->sched_client, id->conf->share ? id->conf->share : 1,
			       id->group ? id->group->id : 0,
			       id->group ? id->group->conf->share : 0);
}

struct vcudad_ident *vcudad_ident_get(struct vcudad_idents *t, const char *key_z85,
				      const char *peer_address, int local)
{
	struct vcudad_ident probe = {0}, *id, **v;

	ident_parse(&probe, key_z85, peer_address, local);
	probe.conf = ident_conf(t, &probe);
	for (int i = 0; i < t->n; i++)
		if (ident_same(t->v[i], &probe))
			return t->v[i];
	if (!(id = malloc(sizeof(*id))) || !(v = realloc(t->v, (size_t)(t->n + 1) * sizeof(*v)))) {
		free(id);
		return NULL;
	}
	t->v = v;
	*id = probe;
	ident_name(id);
	id->since_ns = vcuda_realtime_ns();
	/* A free scheduler slot exists: clients <= sessions <= slots. */
	for (id->sched_client = 0;
	     id->sched_client < t->slots && vcuda_sched_client(t->sched, id->sched_client)->share;
	     id->sched_client++)
		;
	if (!(id->budget = vcuda_budget_create(ident_limit(id->conf), t->slots, &id->budget_fd))) {
		free(id);
		return NULL;
	}
	if (id->conf->group[0] && !(id->group = group_get(t, id->conf->group))) {
		vcuda_budget_destroy(id->budget, id->budget_fd);
		free(id);
		return NULL;
	}
	ident_schedule(t, id);
	t->v[t->n++] = id;
	VDEBUG(server, "client %s: first session", id->id);
	return id;
}

const char *vcudad_ident_over(const struct vcudad_idents *t, const struct vcudad_ident *id,
			      char *why, size_t len)
{
	uint32_t n = 0;

	if (id->conf->max_sessions && (uint32_t)id->sessions > id->conf->max_sessions) {
		snprintf(why, len, "client %s holds its %u sessions (max-sessions)", id->id,
			 id->conf->max_sessions);
		return why;
	}
	if (!id->group || !id->group->conf->max_sessions)
		return NULL;
	for (int i = 0; i < t->n; i++)
		if (t->v[i]->group == id->group)
			n += (uint32_t)t->v[i]->sessions;
	if (n <= id->group->conf->max_sessions)
		return NULL;
	snprintf(why, len, "group %s holds its %u sessions (max-sessions)", id->group->name,
		 id->group->conf->max_sessions);
	return why;
}

void vcudad_ident_put(struct vcudad_idents *t, struct vcudad_ident *id, uint32_t slot)
{
	vcuda_budget_reclaim(id->budget, slot);
	if (id->group)
		vcuda_budget_reclaim(id->group->budget, slot);
	if (--id->sessions > 0)
		return;
	for (int i = 0; i < t->n; i++)
		if (t->v[i] == id) {
			t->v[i] = t->v[--t->n];
			break;
		}
	VDEBUG(server, "client %s: last session ended", id->id);
	vcuda_sched_set_client(t->sched, id->sched_client, 0, 0, 0);
	vcuda_budget_destroy(id->budget, id->budget_fd);
	if (id->group)
		group_put(t, id->group);
	free(id);
}

void vcudad_idents_reconfigure(struct vcudad_idents *t, struct vcudad_clients *conf)
{
	vcudad_clients_free(&t->conf);
	t->conf = *conf;
	for (int i = 0; i < t->n; i++) {
		struct vcudad_ident *id = t->v[i];
		id->conf = ident_conf(t, id);
		ident_name(id);
		__atomic_store_n(&id->budget->limit, ident_limit(id->conf), __ATOMIC_RELAXED);
	}
	/* A live group keeps its members until their last sessions end: a
	 * client moved to another group joins it then. */
	for (int i = 0; i < t->ngroups; i++) {
		struct vcudad_group *g = t->groups[i];
		const struct vcudad_client_conf *c = vcudad_group_by_name(&t->conf, g->name);
		g->conf = c ? c : &group_gone;
		__atomic_store_n(&g->budget->limit, ident_limit(g->conf), __ATOMIC_RELAXED);
	}
	for (int i = 0; i < t->n; i++)
		ident_schedule(t, t->v[i]);
}

unsigned vcudad_ident_mps_percent(const struct vcudad_idents *t, const struct vcudad_ident *id)
{
	uint32_t top = t->conf.defaults.share, mine;

	for (int i = 0; i < t->conf.n; i++)
		if (!t->conf.c[i].group[0] && t->conf.c[i].share > top)
			top = t->conf.c[i].share;
	for (int i = 0; i < t->conf.ng; i++)
		if (t->conf.g[i].share > top)
			top = t->conf.g[i].share;
	mine = id->group ? id->group->conf->share : id->conf->share;
	if (!top || !mine)
		return 100;
	mine = (uint32_t)(((uint64_t)mine * 100 + top - 1) / top);
	return mine < 1 ? 1 : mine > 100 ? 100 : mine;
}
