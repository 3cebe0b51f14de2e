/* The interpreter: operands, state spaces and their addresses, faults, and
 * device printf. */
#include "config.h"

#include <fenv.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dprintf.h"
#include "exec_int.h"
#include "util.h"

/* ---- errors ---------------------------------------------------------------------- */

static pthread_mutex_t exec_error_lock = PTHREAD_MUTEX_INITIALIZER;

void emu_exec_fail(struct block *B, const struct ptx_insn *in, CUresult rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

void emu_exec_fail(struct block *B, const struct ptx_insn *in, CUresult rc, const char *fmt, ...)
{
	va_list ap;
	int n;

	pthread_mutex_lock(&exec_error_lock);
	if (B->L->error == CUDA_SUCCESS) {
		B->L->error = rc;
		n = snprintf(B->L->message, sizeof(B->L->message),
			     "%s, block (%u,%u,%u), PTX line %d: ", B->L->kernel->name, B->ctaid[0],
			     B->ctaid[1], B->ctaid[2], in ? in->line : 0);
		va_start(ap, fmt);
		if (n > 0 && (size_t)n < sizeof(B->L->message))
			vsnprintf(B->L->message + n, sizeof(B->L->message) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&exec_error_lock);
}

int emu_exec_failed(const struct block *B)
{
	return __atomic_load_n(&B->L->error, __ATOMIC_RELAXED) != CUDA_SUCCESS;
}

uint64_t emu_sreg_value(const struct xctx *X, int sr, int lane)
{
	const struct block *B = X->B;
	const struct exec_launch *L = B->L;

	switch (sr) {
	case SR_TID_X:
		return X->w->tid[0][lane];
	case SR_TID_Y:
		return X->w->tid[1][lane];
	case SR_TID_Z:
		return X->w->tid[2][lane];
	case SR_NTID_X:
		return L->block[0];
	case SR_NTID_Y:
		return L->block[1];
	case SR_NTID_Z:
		return L->block[2];
	case SR_CTAID_X:
		return B->ctaid[0];
	case SR_CTAID_Y:
		return B->ctaid[1];
	case SR_CTAID_Z:
		return B->ctaid[2];
	case SR_NCTAID_X:
		return L->grid[0];
	case SR_NCTAID_Y:
		return L->grid[1];
	case SR_NCTAID_Z:
		return L->grid[2];
	case SR_LANEID:
		return (uint64_t)lane;
	case SR_WARPID:
		return (uint64_t)X->w->id;
	case SR_NWARPID:
		return (uint64_t)B->nwarps;
	case SR_SMID:
		return 0;
	case SR_NSMID:
		return (uint64_t)emu.dev.ncores;
	case SR_GRIDID:
		return 1;
	case SR_CLOCK:
		return (uint32_t)vcuda_now_ns();
	case SR_CLOCK64:
	case SR_GLOBALTIMER:
		return vcuda_now_ns();
	case SR_LANEMASK_EQ:
		return 1u << lane;
	case SR_LANEMASK_LT:
		return (1u << lane) - 1;
	case SR_LANEMASK_LE:
		return (uint32_t)((2ull << lane) - 1);
	case SR_LANEMASK_GT:
		return (uint32_t) ~((2ull << lane) - 1);
	case SR_LANEMASK_GE:
		return (uint32_t) ~((1u << lane) - 1);
	case SR_DYN_SMEM:
		return L->dyn_smem;
	/* Cooperative launches: the grid sync state's address, high and low. */
	case SR_ENVREG0 + 1:
		return (uint32_t)(L->grid_workspace >> 32);
	case SR_ENVREG0 + 2:
		return (uint32_t)L->grid_workspace;
	case SR_TOTAL_SMEM:
		return L->static_smem + L->dyn_smem;
	case SR_AGGR_SMEM:
		return B->smem_size;
	case SR_CLOCK_HI:
	case SR_GLOBALTIMER_HI:
		return (uint32_t)(vcuda_now_ns() >> 32);
	case SR_GLOBALTIMER_LO:
		return (uint32_t)vcuda_now_ns();
	/* The reserved region follows the kernel's own shared memory. */
	case SR_RESERVED_BEGIN:
	case SR_RESERVED_0:
		return B->smem_size - PTX_RESERVED_SMEM;
	case SR_RESERVED_1:
		return B->smem_size - PTX_RESERVED_SMEM + 8;
	case SR_RESERVED_END:
		return B->smem_size;
	case SR_RESERVED_CAP:
		return PTX_RESERVED_SMEM;
	case SR_CLUSTER_CTAID_X:
	case SR_CLUSTER_CTAID_Y:
	case SR_CLUSTER_CTAID_Z:
		return B->ctaid[sr - SR_CLUSTER_CTAID_X] % L->cluster[sr - SR_CLUSTER_CTAID_X];
	case SR_CLUSTER_NCTAID_X:
	case SR_CLUSTER_NCTAID_Y:
	case SR_CLUSTER_NCTAID_Z:
		return L->cluster[sr - SR_CLUSTER_NCTAID_X];
	case SR_CLUSTERID_X:
	case SR_CLUSTERID_Y:
	case SR_CLUSTERID_Z:
		return B->cl->id[sr - SR_CLUSTERID_X];
	case SR_NCLUSTERID_X:
	case SR_NCLUSTERID_Y:
	case SR_NCLUSTERID_Z:
		return L->grid[sr - SR_NCLUSTERID_X] / L->cluster[sr - SR_NCLUSTERID_X];
	case SR_CLUSTER_CTARANK:
		return (uint64_t)B->rank;
	case SR_CLUSTER_NCTARANK:
		return (uint64_t)B->cl->n;
	case SR_IS_EXPLICIT_CLUSTER:
		return (uint64_t)L->explicit_cluster;
	default:
		return 0;
	}
}

/* The address a symbol names, as the instruction sees it. */
uint64_t emu_sym_address(const struct xctx *X, int s)
{
	const struct ptx_sym *sym = &X->B->L->mod->syms[s];

	switch (sym->kind) {
	case SYM_GLOBAL:
		return X->B->L->sym_addr[s];
	case SYM_CONST:
		return sym->offset;
	case SYM_SHARED:
		return sym->is_array_unsized ? X->B->L->static_smem
		       : sym->shared_index >= 0 && X->B->L->kernel->shared_off
			   ? X->B->L->kernel->shared_off[sym->shared_index]
			   : sym->offset;
	case SYM_LOCAL:
		return X->F->local_base + sym->offset;
	case SYM_KPARAM:
		return GWIN_PARAM | sym->offset;
	case SYM_FUNC:
		return PTX_FUNC_ADDR((uint64_t)sym->func);
	default:
		return sym->offset;
	}
}

/* ---- memory ------------------------------------------------------------------------- */

/* Resolves an address of a state space to a host pointer for lane, or NULL. */
uint8_t *emu_mem_at(const struct xctx *X, int space, uint64_t a, unsigned len, int lane)
{
	struct block *B = X->B;

	if (space == PS_GENERIC || space == PS_NONE) {
		switch (a >> GWIN_SHIFT) {
		case 0:
			space = PS_GLOBAL;
			break;
		case 1:
			space = PS_SHARED;
			a &= GWIN_MASK;
			break;
		case 2:
			space = PS_LOCAL;
			a &= GWIN_MASK;
			break;
		case 3:
			space = PS_CONST;
			a &= GWIN_MASK;
			break;
		case 4:
			space = PS_PARAM;
			break;
		default:
			return NULL;
		}
	}
	switch (space) {
	case PS_GLOBAL:
		return emu_dev_span(a, len);
	case PS_SHARED:
		a &= GWIN_MASK;
		if (a >> PTX_CLUSTER_SHIFT) { /* a block of the cluster, by rank + 1 */
			uint64_t r = (a >> PTX_CLUSTER_SHIFT) - 1;
			if (r >= (uint64_t)B->cl->n)
				return NULL;
			B = &B->cl->blocks[r];
			a &= (1ull << PTX_CLUSTER_SHIFT) - 1;
		}
		return (a < B->smem_size && len <= B->smem_size - a) ? B->smem + a : NULL;
	case PS_LOCAL:
		a &= GWIN_MASK;
		return (a < B->local_stride && len <= B->local_stride - a)
			   ? B->local + (size_t)(X->w->id * 32 + (int)lane) * B->local_stride + a
			   : NULL;
	case PS_CONST:
		a &= GWIN_MASK;
		return emu_dev_span(B->L->const_base + a, len);
	case PS_PARAM:
		if (a >> GWIN_SHIFT == 4) {
			a &= GWIN_MASK;
			return (a < B->L->kernel->param_size && len <= B->L->kernel->param_size - a)
				   ? (uint8_t *)B->L->params + a
				   : NULL;
		}
		return NULL;
	default:
		return NULL;
	}
}

/* The host pointer for operand o (an address) of instruction in, for lane. */
uint64_t emu_addr_value(const struct xctx *X, const struct ptx_insn *in,
			const struct ptx_operand *o, int lane)
{
	const struct ptx_sym *sym = o->reg >= 0 ? &X->B->L->mod->syms[o->reg] : NULL;
	uint64_t a;

	if (sym && sym->kind == SYM_KPARAM && o->base < 0)
		a = GWIN_PARAM | (sym->offset + (uint64_t)o->imm);
	else
		a = (o->base >= 0 ? X->F->R[o->base * 32 + lane]
		     : sym	  ? emu_sym_address(X, o->reg)
				  : 0) +
		    (uint64_t)o->imm;
	if (in->space == PS_PARAM && a >> GWIN_SHIFT == 0)
		a |= GWIN_PARAM;
	return a;
}

uint8_t *emu_addr_of(const struct xctx *X, const struct ptx_insn *in, const struct ptx_operand *o,
		     unsigned len, int lane)
{
	uint64_t a;
	const struct ptx_sym *sym = o->reg >= 0 ? &X->B->L->mod->syms[o->reg] : NULL;
	uint8_t *p;

	if (sym && sym->kind == SYM_FPARAM && o->base < 0) {
		uint32_t fsz = X->F->f->frame_param_size;
		uint64_t off = sym->offset + (uint64_t)o->imm;
		return (off + len <= fsz) ? X->F->fparam + (size_t)lane * fsz + off : NULL;
	}
	a = emu_addr_value(X, in, o, lane);
	p = emu_mem_at(X, in->space, a, len, lane);
	if (!p)
		emu_exec_fail(X->B, in, CUDA_ERROR_ILLEGAL_ADDRESS,
			      "%s of %u bytes at address 0x%llx (%s space) by thread (%u,%u,%u) is "
			      "outside any allocation",
			      in->op == OP_ST || in->op == OP_RED ? "write"
			      : in->op == OP_LD			  ? "read"
								  : "access",
			      len, (unsigned long long)a,
			      in->space == PS_SHARED   ? "shared"
			      : in->space == PS_LOCAL  ? "local"
			      : in->space == PS_GLOBAL ? "global"
			      : in->space == PS_CONST  ? "const"
						       : "generic",
			      X->w->tid[0][lane], X->w->tid[1][lane], X->w->tid[2][lane]);
	return p;
}

uint64_t emu_load_elem(const uint8_t *p, uint8_t type)
{
	unsigned size = PTX_SIZE(type);
	uint64_t v = 0;

	memcpy(&v, p, size);
	if (PTX_KIND(type) == PK_S)
		return (uint64_t)sext(v, size);
	return v;
}

/* ---- device printf -------------------------------------------------------------------- */

static pthread_mutex_t printf_lock = PTHREAD_MUTEX_INITIALIZER;

/* Reads a NUL-terminated string from device memory (generic address). */
int emu_device_string(const struct xctx *X, uint64_t a, char *out, size_t cap, int lane)
{
	size_t n = 0;

	while (n + 1 < cap) {
		const uint8_t *p = emu_mem_at(X, PS_GENERIC, a + n, 1, lane);
		if (!p)
			return -1;
		if ((out[n] = (char)*p) == '\0')
			return 0;
		n++;
	}
	out[n] = '\0';
	return 0;
}

struct printf_ctx {
	const struct xctx *X;
	uint64_t args;
	int lane;
};

static int printf_fetch(void *ctx, size_t offset, unsigned size, void *dst)
{
	struct printf_ctx *c = ctx;
	const uint8_t *p = emu_mem_at(c->X, PS_GENERIC, c->args + offset, size, c->lane);

	if (!p)
		return -1;
	memcpy(dst, p, size);
	return 0;
}

static int printf_string(void *ctx, uint64_t addr, char *dst, size_t cap)
{
	struct printf_ctx *c = ctx;

	return emu_device_string(c->X, addr, dst, cap, c->lane);
}

/* vprintf(format, args): formatted by dprintf.c. Output goes to stdout, one
 * call at a time. */
int emu_device_printf(const struct xctx *X, uint64_t fmt_addr, uint64_t args, int lane)
{
	char fmt[DPRINTF_MAX_FORMAT], out[DPRINTF_MAX_OUTPUT];
	struct printf_ctx ctx = {X, args, lane};
	struct dprintf_source src = {printf_fetch, printf_string, &ctx};
	int n;

	if (emu_device_string(X, fmt_addr, fmt, sizeof(fmt), lane) != 0)
		return -1;
	if ((n = dprintf_format(fmt, &src, out, sizeof(out))) < 0)
		return -1;
	pthread_mutex_lock(&printf_lock);
	fwrite(out, 1, (size_t)n, stdout);
	pthread_mutex_unlock(&printf_lock);
	return n;
}
