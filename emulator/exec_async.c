/*
 * The interpreter's asynchronous copies and barriers: cp.async (and
 * cp.async.bulk) and mbarrier.
 *
 * A copy is done when it is issued: CUDA only promises that it is done
 * once waited for (cp.async.wait_group, an mbarrier phase), and sooner is
 * a valid schedule. So commit and wait are nothing, and an mbarrier that
 * tracks copies has nothing left to wait for.
 *
 * An mbarrier is 8 bytes of shared memory, laid out here as the CPU device
 * likes (programs only reach it through mbarrier instructions): bits 0-19
 * the arrivals a phase expects, 20-39 those still pending, 40-61 the
 * transaction bytes pending (biased by 2^21, as they may go below zero),
 * bit 63 the phase's parity. A warp whose test_wait or try_wait finds the
 * phase not complete yields (exec.c) so that the block's other warps run
 * and arrive.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "exec_int.h"

#define MB_COUNT_MASK 0xfffffull
#define MB_PENDING_SH 20
#define MB_TX_SH      40
#define MB_TX_MASK    0x3fffffull
#define MB_TX_BIAS    (1ll << 21)
#define MB_PHASE      (1ull << 63)

static uint64_t mb_expected(uint64_t w)
{
	return w & MB_COUNT_MASK;
}

static uint64_t mb_pending(uint64_t w)
{
	return (w >> MB_PENDING_SH) & MB_COUNT_MASK;
}

static int64_t mb_tx(uint64_t w)
{
	return (int64_t)((w >> MB_TX_SH) & MB_TX_MASK) - MB_TX_BIAS;
}

static uint64_t mb_make(uint64_t expected, uint64_t pending, int64_t tx, uint64_t phase)
{
	if (tx < -MB_TX_BIAS + 1)
		tx = -MB_TX_BIAS + 1;
	if (tx > MB_TX_BIAS - 1)
		tx = MB_TX_BIAS - 1;
	return (expected & MB_COUNT_MASK) | (pending & MB_COUNT_MASK) << MB_PENDING_SH |
	       ((uint64_t)(tx + MB_TX_BIAS) & MB_TX_MASK) << MB_TX_SH | (phase & MB_PHASE);
}

/* The phase completes once nothing is pending: the next begins. */
static uint64_t mb_settle(uint64_t w, int may_complete)
{
	if (may_complete && mb_pending(w) == 0 && mb_tx(w) == 0)
		return mb_make(mb_expected(w), mb_expected(w), 0, (w & MB_PHASE) ^ MB_PHASE);
	return w;
}

/* count arrivals (drop: the next phases expect that many fewer). */
static uint64_t mb_arrive(uint64_t w, uint64_t count, int drop, int may_complete)
{
	uint64_t pending = mb_pending(w), expected = mb_expected(w);

	pending = count > pending ? 0 : pending - count;
	if (drop)
		expected = count > expected ? 0 : expected - count;
	return mb_settle(mb_make(expected, pending, mb_tx(w), w), may_complete);
}

static uint64_t *mbarrier_at(const struct xctx *X, const struct ptx_insn *in,
			     const struct ptx_operand *o, int lane)
{
	uint8_t *p = emu_addr_of(X, in, o, 8, lane);

	if (p && ((uintptr_t)p & 7)) {
		emu_exec_fail(X->B, in, CUDA_ERROR_MISALIGNED_ADDRESS,
			      "mbarrier at a misaligned address by thread (%u,%u,%u)",
			      X->w->tid[0][lane], X->w->tid[1][lane], X->w->tid[2][lane]);
		return NULL;
	}
	return (uint64_t *)(void *)p;
}

/* mbarrier.test_wait and try_wait: whether the phase a lane asks about is
 * complete (the state an arrive returned, or .parity a phase's parity). */
static int mb_complete(uint64_t w, uint64_t asked, int parity)
{
	uint64_t cur = (w & MB_PHASE) != 0, want = parity ? (asked & 1) : (asked & MB_PHASE) != 0;

	return cur != want;
}

int emu_do_mbarrier(const struct xctx *X, const struct ptx_insn *in, uint32_t m, uint32_t *waiting)
{
	int parity = (in->sub2 & MB_F_PARITY) != 0;

	*waiting = 0;
	if (in->sub == MB_PENDING) { /* pending_count d, state */
		LANES(m) set_reg(X, &in->o[0], (int)l, mb_pending(opv(X, &in->o[1], (int)l)));
		return 0;
	}
	LANES(m)
	{
		int a = in->sub == MB_INIT || in->sub == MB_INVAL || in->sub == MB_EXPECT_TX ||
				in->sub == MB_COMPLETE_TX
			    ? 0
			    : 1; /* the address operand */
		uint64_t *w = mbarrier_at(X, in, &in->o[a], (int)l), old;
		uint64_t n = in->nops > a + 1 ? opv(X, &in->o[a + 1], (int)l) : 1;
		if (!w)
			return -1;
		old = *w;
		switch (in->sub) {
		case MB_INIT:
			*w = mb_make(n, n, 0, 0);
			break;
		case MB_INVAL:
			*w = 0;
			break;
		case MB_EXPECT_TX:
			*w = mb_make(mb_expected(old), mb_pending(old), mb_tx(old) + (int64_t)n,
				     old);
			break;
		case MB_COMPLETE_TX:
			*w = mb_settle(mb_make(mb_expected(old), mb_pending(old),
					       mb_tx(old) - (int64_t)n, old),
				       1);
			break;
		case MB_ARRIVE:
		case MB_ARRIVE_DROP:
			if (in->sub2 &
			    MB_F_EXPECT_TX) { /* arrive.expect_tx: n bytes, one arrival */
				old = mb_make(mb_expected(old), mb_pending(old),
					      mb_tx(old) + (int64_t)n, old);
				n = 1;
			}
			*w = mb_arrive(old, n, in->sub == MB_ARRIVE_DROP,
				       !(in->sub2 & MB_F_NOCOMPLETE));
			set_reg(X, &in->o[0], (int)l, old); /* the state: the phase arrived in */
			break;
		default: { /* test_wait, try_wait: p, [addr], state or parity */
			int done =
			    mb_complete(old, in->nops > 2 ? opv(X, &in->o[2], (int)l) : 0, parity);
			set_pred(X, &in->o[0], (int)l, done);
			if (!done)
				*waiting |= 1u << l;
			break;
		}
		}
	}
	return 0;
}

/* cp.async [dst], [src], cp-size{, src-size | ignore-src}: the bytes past
 * src-size (all of them when ignore-src) are zeros. cp.async.bulk [dst],
 * [src], size{, [mbarrier]}: and complete_tx of size on the mbarrier. */
static int async_copy(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	int bulk = in->sub == CP_BULK;

	LANES(m)
	{
		uint64_t size = opv(X, &in->o[2], (int)l), from = size;
		uint64_t dst = emu_addr_value(X, in, &in->o[0], (int)l);
		uint64_t src = emu_addr_value(X, in, &in->o[1], (int)l);
		uint8_t *d, *s = NULL;
		if (!bulk && in->nops > 3) {
			const struct ptx_operand *o = &in->o[3];
			from =
			    o->kind == OK_PRED ? (opv(X, o, (int)l) ? 0 : size) : opv(X, o, (int)l);
			from = from < size ? from : size;
		}
		if (bulk ? (size & 15) || size > (1u << 20)
			 : size != 4 && size != 8 && size != 16) {
			emu_exec_fail(X->B, in, CUDA_ERROR_INVALID_VALUE,
				      "cp.async of %llu bytes (a multiple of 16 up to 1 MiB for "
				      "bulk copies, else 4, 8 or 16)",
				      (unsigned long long)size);
			return -1;
		}
		d = emu_mem_at(X, in->space, dst, (unsigned)size, (int)l);
		if (from)
			s = emu_mem_at(X, in->type3, src, (unsigned)from, (int)l);
		if (!d || (from && !s)) {
			emu_exec_fail(X->B, in, CUDA_ERROR_ILLEGAL_ADDRESS,
				      "cp.async of %llu bytes from 0x%llx to 0x%llx by thread "
				      "(%u,%u,%u) is outside any allocation",
				      (unsigned long long)size, (unsigned long long)src,
				      (unsigned long long)dst, X->w->tid[0][l], X->w->tid[1][l],
				      X->w->tid[2][l]);
			return -1;
		}
		memmove(d, s ? s : d, from);
		memset(d + from, 0, size - from);
		if (bulk && (in->sub2 & CP_F_COMPLETE_TX) && in->nops > 3) {
			struct ptx_insn bar = *in;
			uint64_t *w;
			bar.space = PS_SHARED;
			if (!(w = mbarrier_at(X, &bar, &in->o[3], (int)l)))
				return -1;
			*w = mb_settle(
			    mb_make(mb_expected(*w), mb_pending(*w), mb_tx(*w) - (int64_t)size, *w),
			    1);
		}
	}
	return 0;
}

int emu_do_cp(const struct xctx *X, const struct ptx_insn *in, uint32_t m)
{
	switch (in->sub) {
	case CP_COPY:
	case CP_BULK:
		return async_copy(X, in, m);
	case CP_MBARRIER_ARRIVE:
		/* The copies this thread issued are done: without .noinc the
		 * arrival was counted in advance and cancels out; with it, it
		 * is one of those the phase expects. */
		if (in->sub2 & CP_F_NOINC) {
			LANES(m)
			{
				uint64_t *w = mbarrier_at(X, in, &in->o[0], (int)l);
				if (!w)
					return -1;
				*w = mb_arrive(*w, 1, 0, 1);
			}
		}
		return 0;
	default: /* commit_group, wait_group, wait_all: the copies are done */
		return 0;
	}
}
