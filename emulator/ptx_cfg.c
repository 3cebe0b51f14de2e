/*
 * Where the lanes of a warp that a branch divides meet again: the branch
 * block's immediate post-dominator, the classic reconvergence point of a
 * SIMT stack. Computed once per function at load time.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptx.h"

struct cfg {
	int nblocks;
	int *start;	/* first instruction of each block */
	int *block_of;	/* block of each instruction */
	int (*succ)[2]; /* -1: none; nblocks: the exit */
	uint64_t *pdom; /* nblocks+1 bitsets of words each */
	int words;
};

static int cfg_ends_block(const struct ptx_insn *in)
{
	return in->op == OP_BRA || in->op == OP_RET || in->op == OP_EXIT || in->op == OP_TRAP;
}

static int cfg_build(const struct ptx_func *f, struct cfg *g)
{
	char *leader = calloc((size_t)f->ninsns + 1, 1);
	int b = -1;

	g->start = malloc(((size_t)f->ninsns + 1) * sizeof(int));
	g->block_of = malloc(((size_t)f->ninsns + 1) * sizeof(int));
	if (!leader || !g->start || !g->block_of) {
		free(leader);
		return -1;
	}
	leader[0] = 1;
	for (int i = 0; i < f->ninsns; i++) {
		const struct ptx_insn *in = &f->insns[i];
		if (in->op == OP_BRA && in->target >= 0)
			leader[in->target] = 1;
		if (cfg_ends_block(in))
			leader[i + 1] = 1;
	}
	for (int i = 0; i < f->ninsns; i++) {
		if (leader[i])
			g->start[++b] = i;
		g->block_of[i] = b;
	}
	g->nblocks = b + 1;
	free(leader);
	g->succ = malloc(((size_t)g->nblocks + 1) * sizeof(*g->succ));
	if (!g->succ)
		return -1;
	for (b = 0; b < g->nblocks; b++) {
		int last = (b + 1 < g->nblocks ? g->start[b + 1] : f->ninsns) - 1;
		const struct ptx_insn *in = &f->insns[last];
		int fall = b + 1 < g->nblocks ? b + 1 : g->nblocks;
		g->succ[b][0] = fall;
		g->succ[b][1] = -1;
		if (in->op == OP_BRA) {
			g->succ[b][0] = g->block_of[in->target];
			if (in->guard >= 0)
				g->succ[b][1] = fall;
		} else if (in->op == OP_RET || in->op == OP_EXIT || in->op == OP_TRAP) {
			g->succ[b][0] = g->nblocks;
			if (in->guard >= 0)
				g->succ[b][1] = fall;
		}
	}
	return 0;
}

static int cfg_postdominators(struct cfg *g)
{
	int n = g->nblocks + 1, changed = 1;
	uint64_t *tmp;

	g->words = (n + 63) / 64;
	g->pdom = malloc((size_t)n * (size_t)g->words * sizeof(uint64_t));
	tmp = malloc((size_t)g->words * sizeof(uint64_t));
	if (!g->pdom || !tmp) {
		free(tmp);
		return -1;
	}
	for (int b = 0; b < n; b++)
		memset(g->pdom + (size_t)b * g->words, b == g->nblocks ? 0 : 0xff,
		       (size_t)g->words * sizeof(uint64_t));
	g->pdom[(size_t)g->nblocks * g->words + g->nblocks / 64] |= 1ull << (g->nblocks % 64);
	while (changed) {
		changed = 0;
		for (int b = g->nblocks - 1; b >= 0; b--) {
			memset(tmp, 0xff, (size_t)g->words * sizeof(uint64_t));
			for (int k = 0; k < 2; k++) {
				int s = g->succ[b][k];
				if (s < 0)
					continue;
				for (int w = 0; w < g->words; w++)
					tmp[w] &= g->pdom[(size_t)s * g->words + w];
			}
			tmp[b / 64] |= 1ull << (b % 64);
			if (memcmp(tmp, g->pdom + (size_t)b * g->words,
				   (size_t)g->words * sizeof(uint64_t))) {
				memcpy(g->pdom + (size_t)b * g->words, tmp,
				       (size_t)g->words * sizeof(uint64_t));
				changed = 1;
			}
		}
	}
	free(tmp);
	return 0;
}

static int cfg_popcount(const struct cfg *g, int b)
{
	int c = 0;

	for (int w = 0; w < g->words; w++)
		c += __builtin_popcountll(g->pdom[(size_t)b * g->words + w]);
	return c;
}

/* The strict post-dominator of b closest to it: the one post-dominated by
 * all the others, so the one with the most post-dominators. */
static int cfg_ipdom(const struct cfg *g, int b)
{
	int best = -1, best_count = -1;

	for (int d = 0; d <= g->nblocks; d++) {
		int c;
		if (d == b || !(g->pdom[(size_t)b * g->words + d / 64] & (1ull << (d % 64))))
			continue;
		if ((c = cfg_popcount(g, d)) > best_count) {
			best = d;
			best_count = c;
		}
	}
	return best;
}

static void cfg_free(struct cfg *g)
{
	free(g->start);
	free(g->block_of);
	free(g->succ);
	free(g->pdom);
}

int ptx_compute_reconvergence(struct ptx_module *m, char *log, size_t log_len)
{
	for (int fi = 0; fi < m->nfuncs; fi++) {
		struct ptx_func *f = &m->funcs[fi];
		struct cfg g = {0};
		if (!f->defined || f->ninsns == 0)
			continue;
		if (cfg_build(f, &g) != 0 || cfg_postdominators(&g) != 0) {
			cfg_free(&g);
			snprintf(log, log_len, "out of memory analysing %s", f->name);
			return -1;
		}
		for (int i = 0; i < f->ninsns; i++) {
			struct ptx_insn *in = &f->insns[i];
			int d;
			if (in->op != OP_BRA)
				continue;
			d = cfg_ipdom(&g, g.block_of[i]);
			in->reconv = (d < 0 || d >= g.nblocks) ? -1 : g.start[d];
		}
		cfg_free(&g);
	}
	return 0;
}
