/* Range maps: disjoint ranges, found by any address inside them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "error.h"
#include "rangemap.h"

static int add(struct vcuda_rangemap *m, uint64_t base, uint64_t size)
{
	struct vcuda_range r = {.base = base, .size = size, .tag = base};

	return vcuda_rangemap_insert(m, &r);
}

static void test_insert_and_find(void **state)
{
	struct vcuda_rangemap m;

	vcuda_rangemap_init(&m);
	assert_int_equal(add(&m, 0x1000, 0x100), 0);
	assert_int_equal(add(&m, 0x3000, 0x100), 0);
	assert_int_equal(add(&m, 0x2000, 0x100), 0);
	assert_int_equal(m.total, 0x300);
	assert_null(vcuda_rangemap_find(&m, 0xfff));
	assert_int_equal(vcuda_rangemap_find(&m, 0x1000)->base, 0x1000);
	assert_int_equal(vcuda_rangemap_find(&m, 0x10ff)->base, 0x1000);
	assert_null(vcuda_rangemap_find(&m, 0x1100));
	assert_int_equal(vcuda_rangemap_find(&m, 0x2080)->tag, 0x2000);
	assert_null(vcuda_rangemap_find(&m, 0x3100));
	vcuda_rangemap_fini(&m);
}

static void test_overlap_refused(void **state)
{
	struct vcuda_rangemap m;

	vcuda_rangemap_init(&m);
	assert_int_equal(add(&m, 0x1000, 0x100), 0);
	assert_int_equal(add(&m, 0x10ff, 0x10), VCUDA_E_INVAL);
	assert_int_equal(add(&m, 0xf00, 0x101), VCUDA_E_INVAL);
	assert_int_equal(add(&m, 0xf00, 0x100), 0);
	assert_int_equal(add(&m, 0x1100, 1), 0);
	assert_int_equal(add(&m, 0x5000, 0), VCUDA_E_INVAL);
	assert_int_equal(add(&m, UINT64_MAX - 4, 16), VCUDA_E_INVAL);
	vcuda_rangemap_fini(&m);
}

static void test_span(void **state)
{
	struct vcuda_rangemap m;

	vcuda_rangemap_init(&m);
	assert_int_equal(add(&m, 0x1000, 0x100), 0);
	assert_int_equal(add(&m, 0x1100, 0x100), 0);
	assert_non_null(vcuda_rangemap_find_span(&m, 0x1000, 0x100));
	assert_non_null(vcuda_rangemap_find_span(&m, 0x10f0, 0x10));
	/* Adjacent allocations are still two: a span may not cross. */
	assert_null(vcuda_rangemap_find_span(&m, 0x10f0, 0x11));
	assert_null(vcuda_rangemap_find_span(&m, 0x1000, UINT64_MAX));
	assert_non_null(vcuda_rangemap_find_span(&m, 0x1000, 0));
	vcuda_rangemap_fini(&m);
}

static void test_remove(void **state)
{
	struct vcuda_rangemap m;
	struct vcuda_range out;

	vcuda_rangemap_init(&m);
	for (uint64_t i = 0; i < 100; i++)
		assert_int_equal(add(&m, 0x10000 + i * 0x100, 0x80), 0);
	assert_int_equal(vcuda_rangemap_remove(&m, 0x10010, NULL), VCUDA_E_NOTFOUND);
	assert_int_equal(vcuda_rangemap_remove(&m, 0x10100, &out), 0);
	assert_int_equal(out.size, 0x80);
	assert_null(vcuda_rangemap_find(&m, 0x10100));
	assert_int_equal(m.n, 99);
	assert_int_equal(m.total, 99 * 0x80);
	vcuda_rangemap_fini(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_insert_and_find),
	    cmocka_unit_test(test_overlap_refused),
	    cmocka_unit_test(test_span),
	    cmocka_unit_test(test_remove),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
