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
	int *ipdom;	/* immediate post-dominator of each block; -1: none */
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

/*
 * Immediate post-dominators by Cooper, Harvey and Kennedy's iterative
 * algorithm ("A Simple, Fast Dominance Algorithm") on the reversed graph,
 * rooted at the exit. Memory is linear in the number of blocks, so a
 * module with a huge control-flow graph cannot make the host allocate a
 * quadratic bit matrix. Blocks from which the exit cannot be reached (an
 * endless loop) have none.
 */
static int cfg_postdominators(struct cfg *g)
{
	int n = g->nblocks + 1, exit_node = g->nblocks, k = 0, changed = 1;
	int *npred = calloc((size_t)n + 1, sizeof(int)),
	    *pred = malloc((size_t)n * 2 * sizeof(int));
	int *po = malloc((size_t)n * sizeof(int)), *order = malloc((size_t)n * sizeof(int));
	int *stack = malloc((size_t)n * sizeof(int)), *next = calloc((size_t)n, sizeof(int));
	int rc = -1, sp = 0;

	g->ipdom = malloc((size_t)n * sizeof(int));
	if (!npred || !pred || !po || !order || !stack || !next || !g->ipdom)
		goto out_free;
	/* CFG predecessors (the reversed graph's successors), as offsets. */
	for (int b = 0; b < g->nblocks; b++)
		for (int j = 0; j < 2; j++)
			if (g->succ[b][j] >= 0)
				npred[g->succ[b][j] + 1]++;
	for (int b = 0; b < n; b++)
		npred[b + 1] += npred[b];
	for (int b = 0; b < g->nblocks; b++)
		for (int j = 0; j < 2; j++)
			if (g->succ[b][j] >= 0)
				pred[npred[g->succ[b][j]] + next[g->succ[b][j]]++] = b;
	/* Post-order of a depth-first walk of the reversed graph from the exit. */
	for (int b = 0; b < n; b++) {
		po[b] = -1;
		next[b] = 0;
		g->ipdom[b] = -1;
	}
	stack[sp++] = exit_node;
	po[exit_node] = -2; /* on the stack */
	while (sp > 0) {
		int b = stack[sp - 1];
		if (npred[b] + next[b] < npred[b + 1]) {
			int q = pred[npred[b] + next[b]++];
			if (po[q] == -1) {
				po[q] = -2;
				stack[sp++] = q;
			}
			continue;
		}
		sp--;
		po[b] = k;
		order[k++] = b;
	}
	g->ipdom[exit_node] = exit_node;
	while (changed) {
		changed = 0;
		for (int i = k - 2; i >= 0; i--) { /* reverse post-order, the exit first */
			int b = order[i], d = -1;
			for (int j = 0; j < 2; j++) {
				int s = g->succ[b][j];
				if (s < 0 || g->ipdom[s] < 0)
					continue;
				if (d < 0) {
					d = s;
					continue;
				}
				while (d != s) {
					while (po[d] < po[s])
						d = g->ipdom[d];
					while (po[s] < po[d])
						s = g->ipdom[s];
				}
			}
			if (d != g->ipdom[b]) {
				g->ipdom[b] = d;
				changed = 1;
			}
		}
	}
	rc = 0;
out_free:
	free(npred);
	free(pred);
	free(po);
	free(order);
	free(stack);
	free(next);
	return rc;
}

static void cfg_free(struct cfg *g)
{
	free(g->start);
	free(g->block_of);
	free(g->succ);
	free(g->ipdom);
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
			d = g.ipdom[g.block_of[i]];
			in->reconv = (d < 0 || d >= g.nblocks) ? -1 : g.start[d];
		}
		cfg_free(&g);
	}
	return 0;
}
