/*
 * The fat binary reader on real nvcc output (the kernels the end-to-end
 * tests build, in several forms) and on damaged copies of it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "error.h"
#include "fatbin.h"
#include "kernels.h"
#include "ptxlink.h"

static uint8_t *slurp(const char *name, size_t *len)
{
	char path[4096];
	const char *dir = getenv("E2E_BIN");
	FILE *f;
	uint8_t *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/e2e/bin", name);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	buf[n] = 0;
	*len = (size_t)n;
	return buf;
}

/* The PTX of a fat binary, decompressed. */
static uint8_t *fatbin_ptx(const char *fatbin_name, int want_compression, size_t *len)
{
	size_t flen;
	uint8_t *fb = slurp(fatbin_name, &flen), *text;
	struct vcuda_fatbin f;
	const struct vcuda_fatbin_entry *e;
	char why[256];

	assert_int_equal(vcuda_fatbin_parse(fb, flen, &f, why, sizeof(why)), 0);
	assert_true(f.container_len <= flen);
	e = vcuda_fatbin_best_ptx(&f, 1000);
	assert_non_null(e);
	assert_int_equal(e->compression, want_compression);
	assert_int_equal(
	    vcuda_fatbin_extract(e, VCUDA_FATBIN_MAX_ENTRY_DEFAULT, &text, len, why, sizeof(why)),
	    0);
	vcuda_fatbin_free(&f);
	free(fb);
	return text;
}

/* The same PTX, whatever the compression. */
static void check_same_as_raw(const char *name, int compression)
{
	size_t rlen, len;
	uint8_t *raw = fatbin_ptx("kernels-raw.fatbin", 0, &rlen),
		*text = fatbin_ptx(name, compression, &len);

	assert_true(strstr((char *)raw, ".entry vec_add(") != NULL);
	assert_true(strstr((char *)raw, ".target sm_") != NULL);
	assert_int_equal(len, rlen);
	assert_memory_equal(text, raw, rlen);
	free(raw);
	free(text);
}

static void test_zstd(void **state)
{
	check_same_as_raw("kernels.fatbin", 2);
}

static void test_lz4(void **state)
{
	check_same_as_raw("kernels-lz4.fatbin", 1);
}

static void test_uncompressed(void **state)
{
	check_same_as_raw("kernels-raw.fatbin", 0);
}

static void test_several_targets(void **state)
{
	size_t len;
	uint8_t *fb = slurp("kernels-multi.fatbin", &len);
	struct vcuda_fatbin f;
	int elf = 0, ptx = 0;

	assert_int_equal(vcuda_fatbin_parse(fb, len, &f, NULL, 0), 0);
	for (size_t i = 0; i < f.n; i++) {
		elf += f.entries[i].kind == VCUDA_FATBIN_ELF;
		ptx += f.entries[i].kind == VCUDA_FATBIN_PTX;
	}
	assert_int_equal(elf, 2); /* sm_75 and sm_90 cubins */
	assert_int_equal(ptx, 1); /* compute_80 */
	assert_int_equal(vcuda_fatbin_best_ptx(&f, 86)->arch, 80);
	assert_null(vcuda_fatbin_best_ptx(&f, 75));
	vcuda_fatbin_free(&f);
	free(fb);
}

static void test_ptx_only(void **state)
{
	size_t len;
	uint8_t *fb = slurp("kernels-ptxonly.fatbin", &len);
	struct vcuda_fatbin f;

	assert_int_equal(vcuda_fatbin_parse(fb, len, &f, NULL, 0), 0);
	assert_int_equal(f.n, 1);
	assert_int_equal(f.entries[0].kind, VCUDA_FATBIN_PTX);
	vcuda_fatbin_free(&f);
	free(fb);
}

static void test_wrapper(void **state)
{
	struct {
		int magic, version;
		const void *data, *unused;
	} w = {(int)VCUDA_FATBIN_WRAPPER_MAGIC, 1, (void *)0x1234, NULL};

	assert_ptr_equal(vcuda_fatbin_from_wrapper(&w), (void *)0x1234);
	w.magic = 0;
	assert_null(vcuda_fatbin_from_wrapper(&w));
}

/* Damage of every kind is an error, never a crash or a read out of bounds
 * (the sanitizer build runs this too). */
static void test_corrupt(void **state)
{
	size_t len;
	uint8_t *good = slurp("kernels.fatbin", &len), *bad = malloc(len);
	struct vcuda_fatbin f;
	char why[256];

	/* Truncated anywhere. */
	for (size_t cut = 0; cut < len; cut += 97) {
		if (vcuda_fatbin_parse(good, cut, &f, why, sizeof(why)) == 0)
			vcuda_fatbin_free(&f);
		else
			assert_true(strlen(why) > 0 || cut < 16);
	}
	assert_int_equal(vcuda_fatbin_parse(good, len - 1, &f, why, sizeof(why)), VCUDA_E_PROTO);
	/* Bad magic, a size that overflows, an entry that overruns. */
	memcpy(bad, good, len);
	bad[0] ^= 1;
	assert_int_equal(vcuda_fatbin_parse(bad, len, &f, why, sizeof(why)), VCUDA_E_PROTO);
	memcpy(bad, good, len);
	memset(bad + 8, 0xff, 8);
	assert_int_equal(vcuda_fatbin_parse(bad, len, &f, why, sizeof(why)), VCUDA_E_PROTO);
	memcpy(bad, good, len);
	memset(bad + 16 + 8, 0x7f, 8);
	assert_int_equal(vcuda_fatbin_parse(bad, len, &f, why, sizeof(why)), VCUDA_E_PROTO);
	/* Flipped bytes in compressed payloads: extraction fails or yields the
	 * right length, never more. */
	for (size_t pos = 200; pos < len; pos += 301) {
		memcpy(bad, good, len);
		bad[pos] ^= 0x5a;
		if (vcuda_fatbin_parse(bad, len, &f, why, sizeof(why)) != 0)
			continue;
		for (size_t i = 0; i < f.n; i++) {
			uint8_t *out;
			size_t n;
			if (vcuda_fatbin_extract(&f.entries[i], VCUDA_FATBIN_MAX_ENTRY_DEFAULT,
						 &out, &n, why, sizeof(why)) == 0) {
				assert_true(n <= f.entries[i].size);
				free(out);
			}
		}
		vcuda_fatbin_free(&f);
	}
	free(bad);
	free(good);
}

static void test_lz4_decoder(void **state)
{
	/* "abcabcabcabcX": literals "abc", a match of 9 at offset 3, then "X". */
	static const uint8_t block[] = {0x35, 'a', 'b', 'c', 3, 0, 0x10, 'X'};
	uint8_t out[13];

	assert_int_equal(vcuda_lz4_block_decode(block, sizeof(block), out, sizeof(out)), 0);
	assert_memory_equal(out, "abcabcabcabcX", 13);
	/* Wrong sizes and bad offsets are refused. */
	assert_int_equal(vcuda_lz4_block_decode(block, sizeof(block), out, 12), VCUDA_E_PROTO);
	{
		static const uint8_t back[] = {0x15, 'a', 9, 0, 0x10, 'b'};
		assert_int_equal(vcuda_lz4_block_decode(back, sizeof(back), out, 11),
				 VCUDA_E_PROTO);
	}
	{
		static const uint8_t runaway[] = {0xf0, 255, 255, 255};
		assert_int_equal(vcuda_lz4_block_decode(runaway, sizeof(runaway), out, sizeof(out)),
				 VCUDA_E_PROTO);
	}
}

/* Parameter layouts: the cubins' .nv.info and the PTX signatures agree, on
 * every kernel, including a 40-byte struct and mixed sizes. */
static void test_kernel_layouts(void **state)
{
	size_t len, n;
	uint8_t *fb = slurp("kernels-multi.fatbin", &len), *img;
	struct vcuda_fatbin f;
	struct vcuda_kernel_table from_ptx, from_elf;
	char why[256];
	int cubins = 0;

	assert_int_equal(vcuda_fatbin_parse(fb, len, &f, why, sizeof(why)), 0);
	assert_int_equal(vcuda_fatbin_extract(vcuda_fatbin_best_ptx(&f, 1000),
					      VCUDA_FATBIN_MAX_ENTRY_DEFAULT, &img, &n, why,
					      sizeof(why)),
			 0);
	assert_int_equal(vcuda_kernels_from_ptx((char *)img, &from_ptx, why, sizeof(why)), 0);
	free(img);
	assert_true(from_ptx.n >= 14);
	{
		const struct vcuda_kernel_info *k =
		    vcuda_kernels_find(&from_ptx, "_Z12mixed_paramsIdEvPT_c5MixedsS0_x");
		assert_non_null(k);
		assert_int_equal(k->nparams, 6);
		assert_int_equal(k->params[2].offset, 16);
		assert_int_equal(k->params[2].size, 40);
		assert_int_equal(k->params[5].offset, 72);
		assert_int_equal(k->param_size, 80);
	}
	for (size_t i = 0; i < f.n; i++) {
		if (f.entries[i].kind != VCUDA_FATBIN_ELF)
			continue;
		cubins++;
		assert_int_equal(vcuda_fatbin_extract(&f.entries[i], VCUDA_FATBIN_MAX_ENTRY_DEFAULT,
						      &img, &n, why, sizeof(why)),
				 0);
		assert_int_equal(vcuda_kernels_from_cubin(img, n, &from_elf, why, sizeof(why)), 0);
		assert_int_equal(from_elf.n, from_ptx.n);
		for (size_t k = 0; k < from_ptx.n; k++) {
			const struct vcuda_kernel_info *a = &from_ptx.k[k];
			const struct vcuda_kernel_info *b = vcuda_kernels_find(&from_elf, a->name);
			assert_non_null(b);
			assert_int_equal(b->nparams, a->nparams);
			assert_int_equal(b->param_size, a->param_size);
			for (int p = 0; p < a->nparams; p++) {
				assert_int_equal(b->params[p].offset, a->params[p].offset);
				assert_int_equal(b->params[p].size, a->params[p].size);
			}
		}
		/* Damaged copies are refused or read within bounds. */
		for (size_t pos = 64; pos < n; pos += 173) {
			struct vcuda_kernel_table t;
			img[pos] ^= 0xa5;
			if (vcuda_kernels_from_cubin(img, n, &t, why, sizeof(why)) == 0)
				vcuda_kernels_free(&t);
			img[pos] ^= 0xa5;
		}
		vcuda_kernels_free(&from_elf);
		free(img);
	}
	assert_int_equal(cubins, 2);
	assert_int_equal(vcuda_kernels_from_cubin("not an elf", 10, &from_elf, why, sizeof(why)),
			 VCUDA_E_PROTO);
	vcuda_kernels_free(&from_ptx);
	vcuda_fatbin_free(&f);
	free(fb);
}

/* An entry may claim any decompressed size: a 17 KB zstd frame claimed a
 * gigabyte once. The claim is checked against the caller's limit before
 * anything is allocated, and the server counts every entry's claim. */
static void test_decompression_is_bounded(void **state)
{
	size_t len;
	uint8_t *fb = slurp("kernels.fatbin", &len), *img;
	struct vcuda_fatbin f;
	char why[256];
	int patched = 0;

	(void)state;
	/* Walk the container: header length at byte 6, entries after it, each
	 * with its header length at 4, stored size at 8 and flags at 40. */
	for (size_t off = (size_t)(fb[6] | fb[7] << 8); off + 64 <= len;) {
		uint32_t hdr;
		uint64_t stored, flags, claim = 1ull << 30;
		memcpy(&hdr, fb + off + 4, 4);
		memcpy(&stored, fb + off + 8, 8);
		memcpy(&flags, fb + off + 40, 8);
		if (flags & 0xa000u) { /* compressed: the decompressed size is at 56 */
			memcpy(fb + off + 56, &claim, 8);
			patched++;
		}
		off += hdr + stored;
	}
	assert_true(patched > 0);
	assert_int_equal(vcuda_fatbin_parse(fb, len, &f, why, sizeof(why)), 0);
	assert_true(vcuda_fatbin_unpacked_size(&f) >= (1ull << 30));
	for (size_t i = 0; i < f.n; i++) {
		size_t n;
		if (!f.entries[i].compression)
			continue;
		assert_int_equal(vcuda_fatbin_extract(&f.entries[i], VCUDA_FATBIN_MAX_ENTRY_DEFAULT,
						      &img, &n, why, sizeof(why)),
				 VCUDA_E_TOOBIG);
		assert_non_null(strstr(why, "limit"));
	}
	vcuda_fatbin_free(&f);
	free(fb);
}

/* Module variables in PTX: arrays of any rank, vectors, initializers with
 * commas, lists of names, and nothing from instructions, externs or
 * function bodies. */
static void test_ptx_globals(void **state)
{
	const char *ptx = ".version 8.0\n.target sm_80\n.address_size 64\n"
			  ".file 1 \"/tmp/{odd}.cu\"\n"
			  ".extern .global .align 4 .b8 elsewhere[1000];\n"
			  ".visible .global .align 1 .b8 big[33554432];\n"
			  ".global .align 16 .v4 .f32 vec[2][3];\n"
			  ".visible .const .align 4 .u32 table[4] = {1, 2, 3, 4};\n"
			  ".global .u64 a, b = 7, c[2] = {1, 2};\n"
			  ".visible .entry k(.param .u64 p)\n{\n"
			  "\t.reg .b32 %r<3>;\n\tld.global.u32 %r1, [big];\n"
			  "\tld.const.u32 %r2, [table];\n\tret;\n}\n";
	uint64_t n = 0;
	char why[128];

	assert_int_equal(vcuda_globals_from_ptx(ptx, &n, why, sizeof(why)), 0);
	assert_int_equal(n, 33554432ull + 16 * 6 + 16 + 8 * 4);
	assert_int_not_equal(
	    vcuda_globals_from_ptx(".global .b8 x[4294967296][4294967296];", &n, why, sizeof(why)),
	    0);
	assert_int_not_equal(vcuda_globals_from_ptx(".global x;", &n, why, sizeof(why)), 0);
	assert_int_equal(vcuda_globals_from_ptx("", &n, why, sizeof(why)), 0);
	assert_int_equal(n, 0);
}

/* Linking objects' PTX (-rdc): internal names stay each object's own, an
 * .extern declaration of what another object defines becomes a forward
 * declaration, a weak definition made twice stays once, the header comes
 * once with the newest version and target, and every declaration comes
 * before the bodies that use it. */
static void test_ptx_link(void **state)
{
	static const char a[] = "//\n.version 8.0\n.target sm_75\n.address_size 64\n"
				".extern .func (.param .b32 r) helper(.param .b32 x);\n"
				".extern .global .align 4 .u32 shared_count;\n"
				".global .align 1 .b8 $str[3] = {104, 105, 0};\n"
				".func (.param .b32 r) local_fn(.param .b32 x)\n{\n\tret;\n}\n"
				".weak .func (.param .b32 r) tmpl(.param .b32 x)\n{\n\tret;\n}\n"
				".visible .entry k(.param .u64 p)\n{\n\t.reg .b32 %r<3>;\n"
				"\tmov.u64 %rd1, $str;\n\tcall.uni (retval0), local_fn, (param0);\n"
				"\tcall.uni (retval0), helper, (param0);\n\tret;\n}\n";
	static const char b[] = ".version 8.5\n.target sm_80\n.address_size 64\n"
				".visible .global .align 4 .u32 shared_count = 7;\n"
				".global .align 1 .b8 $str[4] = {121, 111, 117, 0};\n"
				".func (.param .b32 r) local_fn(.param .b32 x)\n{\n\tret;\n}\n"
				".weak .func (.param .b32 r) tmpl(.param .b32 x)\n{\n\tret;\n}\n"
				".visible .func (.param .b32 r) helper(.param .b32 x)\n{\n"
				"\tmov.u64 %rd1, $str;\n\tcall.uni (retval0), local_fn, (param0);\n"
				"\tret;\n}\n";
	const char *texts[] = {a, b};
	char *out = NULL, why[256] = "";
	const char *p, *decl, *body, *var;

	assert_int_equal(vcuda_ptx_link(texts, 2, &out, why, sizeof(why)), 0);
	assert_non_null(out);
	/* one header, the newest */
	assert_non_null(strstr(out, ".version 8.5\n.target sm_80\n.address_size 64\n"));
	assert_null(strstr(strstr(out, ".version") + 1, ".version"));
	/* each object's $str and local_fn are its own */
	assert_non_null(strstr(out, "__vcuda_o0_$str[3]"));
	assert_non_null(strstr(out, "__vcuda_o1_$str[4]"));
	assert_non_null(strstr(out, "call.uni (retval0), __vcuda_o0_local_fn"));
	assert_non_null(strstr(out, "call.uni (retval0), __vcuda_o1_local_fn"));
	assert_null(strstr(out, " local_fn"));
	/* visible names are not renamed; the weak definition comes once */
	assert_non_null(strstr(out, "helper, (param0)"));
	p = strstr(out, ".weak .func (.param .b32 r) tmpl");
	assert_non_null(p);
	assert_null(strstr(p + 1, ".weak .func (.param .b32 r) tmpl"));
	/* the variable is defined once, its extern declaration dropped, and
	 * helper is declared before the kernel's body calls it */
	var = strstr(out, ".visible .global .align 4 .u32 shared_count = 7;");
	assert_non_null(var);
	assert_null(strstr(out, ".extern .global .align 4 .u32 shared_count"));
	decl = strstr(out, ".extern .func (.param .b32 r) helper");
	body = strstr(out, ".visible .entry k");
	assert_non_null(decl);
	assert_non_null(body);
	assert_true(decl < var && var < body);
	free(out);
	/* no header: refused, saying why */
	texts[0] = ".visible .entry k() { ret; }\n";
	assert_int_equal(vcuda_ptx_link(texts, 1, &out, why, sizeof(why)), VCUDA_E_PROTO);
	assert_non_null(strstr(why, ".version"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decompression_is_bounded),
	    cmocka_unit_test(test_zstd),
	    cmocka_unit_test(test_lz4),
	    cmocka_unit_test(test_uncompressed),
	    cmocka_unit_test(test_several_targets),
	    cmocka_unit_test(test_ptx_only),
	    cmocka_unit_test(test_wrapper),
	    cmocka_unit_test(test_corrupt),
	    cmocka_unit_test(test_lz4_decoder),
	    cmocka_unit_test(test_ptx_link),
	    cmocka_unit_test(test_kernel_layouts),
	    cmocka_unit_test(test_ptx_globals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
