/*
 * The protocol, the dispatch table and the handlers agree
 * (session_calls_verify), and the check fails when they do not: a request
 * without a dispatch row, a row without its request.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "calls.h"
#include "session.h"

static char why[256];

static void test_tables_agree(void **state)
{
	const char *r = session_calls_verify(&vcuda__request__descriptor, &vcuda__reply__descriptor,
					     why, sizeof(why));
	if (r)
		fail_msg("%s", r);
}

/* The Request descriptor with its fields changed by edit. */
static const char *verify_edited(const ProtobufCMessageDescriptor *base, int is_reply,
				 unsigned (*edit)(ProtobufCFieldDescriptor *f, unsigned n))
{
	ProtobufCMessageDescriptor d = *base;
	ProtobufCFieldDescriptor *f = calloc(base->n_fields + 1, sizeof(*f));
	ProtobufCIntRange *ranges = calloc(base->n_fields + 2, sizeof(*ranges));
	const char *r;

	memcpy(f, base->fields, base->n_fields * sizeof(*f));
	d.n_fields = edit(f, base->n_fields);
	d.fields = f;
	/* get_field searches the ranges of field numbers; with one range a
	 * field (the edits keep them in order) every lookup stays right. */
	for (unsigned i = 0; i < d.n_fields; i++)
		ranges[i] = (ProtobufCIntRange){(int)f[i].id, i};
	ranges[d.n_fields] = (ProtobufCIntRange){0, d.n_fields};
	d.n_field_ranges = d.n_fields;
	d.field_ranges = ranges;
	r = is_reply ? session_calls_verify(&vcuda__request__descriptor, &d, why, sizeof(why))
		     : session_calls_verify(&d, &vcuda__reply__descriptor, why, sizeof(why));
	free(ranges);
	free(f);
	return r;
}

/* Drops the Launch call from the protocol: its row has no request. */
static unsigned drop_launch(ProtobufCFieldDescriptor *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (f[i].id == VCUDA__REQUEST__CALL_LAUNCH) {
			memmove(&f[i], &f[i + 1], (n - i - 1) * sizeof(*f));
			return n - 1;
		}
	return n;
}

/* Renames a call: the row names another field. */
static unsigned rename_memset(ProtobufCFieldDescriptor *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (f[i].id == VCUDA__REQUEST__CALL_MEMSET)
			f[i].name = "memset_d8";
	return n;
}

/* Adds a member named name, numbered id, to the oneof of member like. */
static unsigned add_member(ProtobufCFieldDescriptor *f, unsigned n, unsigned like, unsigned id,
			   const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (f[i].id == like) {
			f[n] = f[i];
			f[n].id = id;
			f[n].name = name;
			return n + 1;
		}
	return n;
}

/* Adds a call the dispatch table lacks. */
static unsigned add_call(ProtobufCFieldDescriptor *f, unsigned n)
{
	return add_member(f, n, VCUDA__REQUEST__CALL_SCALAR, 200, "memcpy_3d");
}

/* Adds a reply member calls.def lacks. */
static unsigned add_reply(ProtobufCFieldDescriptor *f, unsigned n)
{
	return add_member(f, n, VCUDA__REPLY__RET_SCALAR, 201, "array_info");
}

/* The check fails on the edited protocol, and its message names word. */
static void expect_found(const ProtobufCMessageDescriptor *base, int is_reply,
			 unsigned (*edit)(ProtobufCFieldDescriptor *f, unsigned n),
			 const char *word)
{
	const char *r = verify_edited(base, is_reply, edit);

	if (!r || !strstr(r, word))
		fail_msg("expected a disagreement naming %s, got %s", word, r ? r : "none");
}

static void test_disagreement_found(void **state)
{
	expect_found(&vcuda__request__descriptor, 0, drop_launch, "launch");
	expect_found(&vcuda__request__descriptor, 0, rename_memset, "memset");
	expect_found(&vcuda__request__descriptor, 0, add_call, "memcpy_3d");
	expect_found(&vcuda__reply__descriptor, 1, add_reply, "array_info");
}

static void test_scalar_table(void **state)
{
	unsigned n;
	const struct vcuda_scalar_desc *all = vcuda_scalar_all(&n);

	assert_true(n > 0);
	for (unsigned i = 0; i < n; i++) {
		assert_ptr_equal(vcuda_scalar_find(all[i].op), &all[i]);
		assert_int_equal(all[i].nin + all[i].nout, all[i].nargs);
		for (unsigned k = 0; k < all[i].nargs; k++)
			assert_true(all[i].kinds[k] <= VCUDA_ARG_OUT_F32);
	}
	assert_null(vcuda_scalar_find(0));
	/* cudaEventElapsedTime: an out-float and two events, in that order. */
	const struct vcuda_scalar_desc *d = vcuda_scalar_find(VCUDA_OP_event_elapsed_time);
	assert_non_null(d);
	assert_int_equal(d->nargs, 3);
	assert_int_equal(d->kinds[0], VCUDA_ARG_OUT_F32);
	assert_int_equal(d->kinds[1], VCUDA_ARG_EVENT);
	assert_int_equal(d->nin, 2);
	assert_string_equal(d->runtime, "cudaEventElapsedTime");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tables_agree),
	    cmocka_unit_test(test_disagreement_found),
	    cmocka_unit_test(test_scalar_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
