/*
 * Device printf's formatter against C's printf: the conversions CUDA
 * documents print as C prints them; what a hostile format asks for (%n,
 * arguments past the buffer, huge widths, '*') cannot write or read
 * anything it should not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "dprintf.h"

/* An argument buffer packed as nvcc packs one: each value aligned to its size. */
struct args {
	uint8_t buf[256];
	size_t len;
};

static void put(struct args *a, const void *v, size_t size)
{
	a->len = (a->len + size - 1) / size * size;
	memcpy(a->buf + a->len, v, size);
	a->len += size;
}

static int fetch(void *ctx, size_t offset, unsigned size, void *dst)
{
	struct args *a = ctx;

	if (offset > a->len || size > a->len - offset)
		return -1;
	memcpy(dst, a->buf + offset, size);
	return 0;
}

/* Device "addresses" 1 and 2 are strings; anything else cannot be read. */
static int string(void *ctx, uint64_t addr, char *dst, size_t cap)
{
	(void)ctx;
	if (addr != 1 && addr != 2)
		return -1;
	snprintf(dst, cap, "%s", addr == 1 ? "hello" : "a longer string");
	return 0;
}

static int format(const char *fmt, struct args *a, char *out, size_t cap)
{
	struct dprintf_source src = {fetch, string, a};

	return dprintf_format(fmt, &src, out, cap);
}

static void test_conversions_match_c(void **state)
{
	struct args a = {0};
	int i = -42, c = 'Z';
	unsigned u = 3000000000u;
	long long ll = -1234567890123ll;
	double d = 3.14159, e = -1.5e-7;
	uint64_t s = 1, p = 0x1000;
	char out[512], want[512];
	int n;

	(void)state;
	put(&a, &i, 4);
	put(&a, &u, 4);
	put(&a, &ll, 8);
	put(&a, &d, 8);
	put(&a, &e, 8);
	put(&a, &s, 8);
	put(&a, &c, 4);
	put(&a, &p, 8);
	put(&a, &u, 4);
	n = format("%d|%-8u|%lld|%8.3f|%e|%10s|%c|%p|%#x %%", &a, out, sizeof(out));
	assert_int_equal(n, (int)strlen(out));
	snprintf(want, sizeof(want), "%d|%-8u|%lld|%8.3f|%e|%10s|%c|%p|%#x %%", i, u, ll, d, e,
		 "hello", c, (void *)0x1000, u);
	assert_string_equal(out, want);
}

/* %n would write through a pointer the kernel chose: it takes its argument
 * and prints as written; '*' widths and unknown conversions print literally. */
static void test_n_and_unknown_print_literally(void **state)
{
	struct args a = {0};
	uint64_t target = 0x41414141;
	int v = 7;
	char out[256];

	(void)state;
	put(&a, &target, 8);
	put(&a, &v, 4);
	assert_true(format("x%n %d z%*d %k", &a, out, sizeof(out)) > 0);
	assert_string_equal(out, "x%n 7 z%*d %k");
}

static void test_missing_arguments_fail(void **state)
{
	struct args a = {0};
	int v = 1;
	char out[256];

	(void)state;
	put(&a, &v, 4);
	assert_int_equal(format("%d %d", &a, out, sizeof(out)), -1);
	assert_int_equal(format("%f", &a, out, sizeof(out)), -1);
}

/* Widths and precisions past the limit are not conversions; output never
 * passes its buffer; an unreadable string says so. */
static void test_bounds(void **state)
{
	struct args a = {0};
	uint64_t bad = 99;
	int v = 5;
	char out[64];

	(void)state;
	put(&a, &v, 4);
	assert_true(format("%100000d", &a, out, sizeof(out)) > 0);
	assert_string_equal(out, "%100000d");
	assert_int_equal(format("%500d", &a, out, sizeof(out)), (int)sizeof(out) - 1);
	assert_int_equal(strlen(out), sizeof(out) - 1);
	a.len = 0;
	put(&a, &bad, 8);
	assert_true(format("[%s]", &a, out, sizeof(out)) > 0);
	assert_string_equal(out, "[(bad string)]");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_conversions_match_c),
	    cmocka_unit_test(test_n_and_unknown_print_literally),
	    cmocka_unit_test(test_missing_arguments_fail),
	    cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
