/* Handle tables: ids name live objects of one type and nothing else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "error.h"
#include "handle.h"

static int objs[64];

static void test_alloc_get_free(void **state)
{
	struct vcuda_handle_table t;
	uint64_t a, b;

	vcuda_handle_table_init(&t, 0);
	assert_int_equal(vcuda_handle_alloc(&t, VCUDA_HT_STREAM, &objs[0], &a), 0);
	assert_int_equal(vcuda_handle_alloc(&t, VCUDA_HT_EVENT, &objs[1], &b), 0);
	assert_true(a != b);
	assert_ptr_equal(vcuda_handle_get(&t, VCUDA_HT_STREAM, a), &objs[0]);
	assert_ptr_equal(vcuda_handle_get(&t, VCUDA_HT_EVENT, b), &objs[1]);
	/* The wrong type never matches. */
	assert_null(vcuda_handle_get(&t, VCUDA_HT_EVENT, a));
	assert_null(vcuda_handle_get(&t, VCUDA_HT_STREAM, b));
	assert_ptr_equal(vcuda_handle_free(&t, VCUDA_HT_STREAM, a), &objs[0]);
	assert_null(vcuda_handle_get(&t, VCUDA_HT_STREAM, a));
	assert_null(vcuda_handle_free(&t, VCUDA_HT_STREAM, a));
	vcuda_handle_table_fini(&t);
}

static void test_stale_id_after_reuse(void **state)
{
	struct vcuda_handle_table t;
	uint64_t a, b;

	vcuda_handle_table_init(&t, 0);
	assert_int_equal(vcuda_handle_alloc(&t, VCUDA_HT_STREAM, &objs[0], &a), 0);
	vcuda_handle_free(&t, VCUDA_HT_STREAM, a);
	assert_int_equal(vcuda_handle_alloc(&t, VCUDA_HT_STREAM, &objs[2], &b), 0);
	/* Same slot, new generation: the old id is refused. */
	assert_true(a != b);
	assert_null(vcuda_handle_get(&t, VCUDA_HT_STREAM, a));
	assert_ptr_equal(vcuda_handle_get(&t, VCUDA_HT_STREAM, b), &objs[2]);
	vcuda_handle_table_fini(&t);
}

static void test_forged_ids(void **state)
{
	struct vcuda_handle_table t;
	uint64_t a;
	const uint64_t forged[] = {0, 1, 2, ~0ull, 0x0100000000000001ull, 0x01000000ffffffffull};

	vcuda_handle_table_init(&t, 0);
	assert_int_equal(vcuda_handle_alloc(&t, VCUDA_HT_STREAM, &objs[0], &a), 0);
	for (size_t i = 0; i < sizeof(forged) / sizeof(*forged); i++)
		if (forged[i] != a)
			assert_null(vcuda_handle_get(&t, VCUDA_HT_STREAM, forged[i]));
	assert_null(vcuda_handle_get(&t, VCUDA_HT_STREAM, a + (1ull << 32)));
	vcuda_handle_table_fini(&t);
}

static void test_ids_avoid_special_streams(void **state)
{
	struct vcuda_handle_table t;
	uint64_t id;

	vcuda_handle_table_init(&t, 0);
	for (int i = 0; i < 64; i++) {
		assert_int_equal(vcuda_handle_alloc(&t, VCUDA_HT_STREAM, &objs[i], &id), 0);
		assert_true(id > 2);
	}
	vcuda_handle_table_fini(&t);
}

static void test_limit_and_iteration(void **state)
{
	struct vcuda_handle_table t;
	uint64_t ids[8], id;
	uint32_t cursor = 0;
	int seen = 0;
	void *o;

	vcuda_handle_table_init(&t, 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(vcuda_handle_alloc(&t, i % 2 ? VCUDA_HT_EVENT : VCUDA_HT_STREAM,
						    &objs[i], &ids[i]),
				 0);
	assert_int_equal(vcuda_handle_alloc(&t, VCUDA_HT_STREAM, &objs[9], &id), VCUDA_E_FULL);
	assert_int_equal(vcuda_handle_alloc(&t, VCUDA_HT_STREAM, NULL, &id), VCUDA_E_INVAL);
	while ((o = vcuda_handle_next(&t, VCUDA_HT_EVENT, &cursor, &id)) != NULL) {
		assert_ptr_equal(vcuda_handle_get(&t, VCUDA_HT_EVENT, id), o);
		/* Freeing during iteration is allowed. */
		vcuda_handle_free(&t, VCUDA_HT_EVENT, id);
		seen++;
	}
	assert_int_equal(seen, 4);
	assert_int_equal(t.count, 4);
	vcuda_handle_table_fini(&t);
}

/* A table rebuilt from another's shape and live ids: the same ids resolve,
 * freed ids stay refused, and new ids do not collide with live ones. */
static void test_restore(void **state)
{
	struct vcuda_handle_table a, b;
	uint64_t ids[6], fresh, id;
	uint32_t gens[6], cursor = 0;
	void *o;

	(void)state;
	vcuda_handle_table_init(&a, 0);
	for (int i = 0; i < 6; i++)
		assert_int_equal(vcuda_handle_alloc(&a, VCUDA_HT_STREAM, &objs[i], &ids[i]), 0);
	vcuda_handle_free(&a, VCUDA_HT_STREAM, ids[1]);
	vcuda_handle_free(&a, VCUDA_HT_STREAM, ids[4]);
	for (uint32_t i = 0; i < a.nslots; i++)
		gens[i] = vcuda_handle_gen(&a, i);

	vcuda_handle_table_init(&b, 0);
	assert_int_equal(vcuda_handle_restore(&b, a.nslots, gens), 0);
	while ((o = vcuda_handle_next(&a, 0, &cursor, &id)) != NULL)
		assert_int_equal(vcuda_handle_place(&b, id, o), 0);
	vcuda_handle_relink(&b);
	/* a taken slot, a wrong generation, an index past the table */
	assert_int_not_equal(vcuda_handle_place(&b, ids[0], &objs[0]), 0);
	assert_int_not_equal(vcuda_handle_place(&b, ids[1], &objs[1]), 0);
	assert_int_not_equal(vcuda_handle_place(&b, ids[5] + 7, &objs[5]), 0);
	assert_int_equal(b.count, 4);
	for (int i = 0; i < 6; i++)
		if (i == 1 || i == 4)
			assert_null(vcuda_handle_get(&b, VCUDA_HT_STREAM, ids[i]));
		else
			assert_ptr_equal(vcuda_handle_get(&b, VCUDA_HT_STREAM, ids[i]), &objs[i]);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(vcuda_handle_alloc(&b, VCUDA_HT_EVENT, &objs[0], &fresh), 0);
		for (int k = 0; k < 6; k++)
			assert_true((uint32_t)fresh != (uint32_t)ids[k] || k == 1 || k == 4);
	}
	/* only an empty table can be restored */
	assert_int_not_equal(vcuda_handle_restore(&b, 2, gens), 0);
	vcuda_handle_table_fini(&a);
	vcuda_handle_table_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_alloc_get_free),
	    cmocka_unit_test(test_stale_id_after_reuse),
	    cmocka_unit_test(test_forged_ids),
	    cmocka_unit_test(test_ids_avoid_special_streams),
	    cmocka_unit_test(test_limit_and_iteration),
	    cmocka_unit_test(test_restore),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
