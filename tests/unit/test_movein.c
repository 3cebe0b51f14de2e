/* Sessions moving in from another host (server/movein.c): what a moving
 * server may write is bounded by the move it began, only that server
 * continues a move, moves are few at a time, and a committed move names
 * its image for the listener to adopt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "movein.h"

static const char *a = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char *b = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
#define SIZE (1u << 20)

/* Sends one message: its status (and path, for a commit). */
static int send_op(struct vcudad_movein *mi, const char *peer, uint8_t t, Vcuda__MoveChunk__Op op,
		   uint64_t offset, uint64_t size, const void *data, size_t n, char *path)
{
	Vcuda__MoveChunk c = VCUDA__MOVE_CHUNK__INIT;
	Vcuda__AdminStatus st = VCUDA__ADMIN_STATUS__INIT;
	uint8_t token[SESSION_TOKEN_LEN];
	char scratch[700];

	memset(token, t, sizeof(token));
	c.op = op;
	c.token = (ProtobufCBinaryData){sizeof(token), token};
	c.offset = offset;
	c.size = size;
	vcudad_movein_handle(mi, peer, &c, data, n, SIZE, &st, path ? path : scratch, 700);
	return st.status;
}

static int have_shm(void)
{
	struct stat s;
	return stat("/dev/shm", &s) == 0 && access("/dev/shm", W_OK) == 0;
}

static void test_bounds(void **state)
{
	struct vcudad_movein mi;
	uint8_t data[4096];
	char path[700], mem[720];
	struct stat st;

	(void)state;
	if (!have_shm())
		skip();
	memset(&mi, 0, sizeof(mi));
	memset(data, 7, sizeof(data));
	/* memory before its file, a file of another size */
	assert_int_not_equal(
	    send_op(&mi, a, 1, VCUDA__MOVE_CHUNK__OP__MEMORY, 0, 0, data, 16, NULL), 0);
	assert_int_not_equal(
	    send_op(&mi, a, 1, VCUDA__MOVE_CHUNK__OP__BEGIN, 0, SIZE / 2, NULL, 0, NULL), 0);
	assert_int_equal(send_op(&mi, a, 1, VCUDA__MOVE_CHUNK__OP__BEGIN, 0, SIZE, NULL, 0, NULL),
			 0);
	assert_int_equal(
	    send_op(&mi, a, 1, VCUDA__MOVE_CHUNK__OP__MEMORY, 8192, 0, data, sizeof(data), NULL),
	    0);
	/* past its end, however the sum wraps */
	assert_int_not_equal(
	    send_op(&mi, a, 1, VCUDA__MOVE_CHUNK__OP__MEMORY, SIZE - 8, 0, data, 16, NULL), 0);
	assert_int_not_equal(
	    send_op(&mi, a, 1, VCUDA__MOVE_CHUNK__OP__ZEROS, UINT64_MAX - 4, 16, NULL, 0, NULL), 0);
	/* another server cannot continue it */
	assert_int_not_equal(
	    send_op(&mi, b, 1, VCUDA__MOVE_CHUNK__OP__MEMORY, 0, 0, data, 16, NULL), 0);
	assert_int_not_equal(send_op(&mi, b, 1, VCUDA__MOVE_CHUNK__OP__COMMIT, 0, 0, NULL, 0, NULL),
			     0);
	/* no commit without an image; then it names the image, and the
	 * memory file beside it holds what was sent */
	assert_int_not_equal(send_op(&mi, a, 1, VCUDA__MOVE_CHUNK__OP__COMMIT, 0, 0, NULL, 0, path),
			     0);
	assert_int_equal(
	    send_op(&mi, a, 1, VCUDA__MOVE_CHUNK__OP__IMAGE, 0, 0, "VCUDAIMG", 8, NULL), 0);
	assert_int_equal(send_op(&mi, a, 1, VCUDA__MOVE_CHUNK__OP__COMMIT, 0, 0, NULL, 0, path), 0);
	assert_true(path[0] == '/');
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 8);
	snprintf(mem, sizeof(mem), "%s.mem", path);
	assert_int_equal(stat(mem, &st), 0);
	assert_int_equal(st.st_size, SIZE);
	/* committed: the move is over */
	assert_int_not_equal(
	    send_op(&mi, a, 1, VCUDA__MOVE_CHUNK__OP__MEMORY, 0, 0, data, 16, NULL), 0);
	vcudad_movein_fini(&mi);
	assert_int_not_equal(stat(mem, &st), 0); /* nobody came for it: removed */
}

static void test_few_at_a_time(void **state)
{
	struct vcudad_movein mi;
	char path[700];

	(void)state;
	if (!have_shm())
		skip();
	memset(&mi, 0, sizeof(mi));
	for (int i = 0; i < VCUDAD_MOVEIN_MAX; i++)
		assert_int_equal(send_op(&mi, a, (uint8_t)(10 + i), VCUDA__MOVE_CHUNK__OP__BEGIN, 0,
					 SIZE, NULL, 0, NULL),
				 0);
	assert_int_not_equal(
	    send_op(&mi, a, 99, VCUDA__MOVE_CHUNK__OP__BEGIN, 0, SIZE, NULL, 0, NULL), 0);
	/* an abandoned one makes room, its files gone */
	assert_int_equal(send_op(&mi, a, 10, VCUDA__MOVE_CHUNK__OP__ABORT, 0, 0, NULL, 0, NULL), 0);
	assert_int_equal(send_op(&mi, a, 99, VCUDA__MOVE_CHUNK__OP__IMAGE, 0, 0, "x", 1, NULL), 0);
	assert_int_equal(send_op(&mi, a, 99, VCUDA__MOVE_CHUNK__OP__COMMIT, 0, 0, NULL, 0, path),
			 0);
	vcudad_movein_fini(&mi);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_few_at_a_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
