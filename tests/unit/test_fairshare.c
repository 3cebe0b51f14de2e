/*
 * The device scheduler's arithmetic and its waiting, in one process: how
 * much virtual time a kernel costs a session (its client's share, split
 * among the client's busy sessions and, in a group, the group's share split
 * among its busy members), and when a paced session is held back and let
 * go.
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fairshare.h"
#include "util.h"

#define MS 1000000ull

static struct vcuda_sched *region(enum vcuda_sched_mode mode)
{
	int fd;
	struct vcuda_sched *s = vcuda_sched_create(8, 8, mode, &fd);

	assert_non_null(s);
	close(fd);
	return s;
}

/* Exclusive: a kernel of 1 ms costs 1 ms times 1000 over the share. */
static void test_weights(void **state)
{
	struct vcuda_sched *s = region(VCUDA_SCHED_EXCLUSIVE);

	vcuda_sched_set_client(s, 0, 1, 0, 0);
	vcuda_sched_set_client(s, 1, 3, 0, 0);
	vcuda_sched_open(s, 0, 0);
	vcuda_sched_open(s, 1, 1);
	assert_int_equal(vcuda_sched_enter(s, 0), 0);
	vcuda_sched_leave(s, 0, MS);
	assert_int_equal(vcuda_sched_session(s, 0)->vtime, 1000 * MS);
	assert_int_equal(vcuda_sched_enter(s, 1), 0);
	vcuda_sched_leave(s, 1, 3 * MS);
	assert_int_equal(vcuda_sched_session(s, 1)->vtime, 1000 * MS);
	assert_int_equal(vcuda_sched_client(s, 1)->kernels, 1);
	assert_int_equal(vcuda_sched_client(s, 1)->kernel_ns, 3 * MS);
}

/* Paced, in groups: clients 0 (share 1) and 1 (share 3) in group 7 of
 * share 2, client 2 (share 2) alone. */
static void test_group_weights(void **state)
{
	struct vcuda_sched *s = region(VCUDA_SCHED_PACED);

	vcuda_sched_set_client(s, 0, 1, 7, 2);
	vcuda_sched_set_client(s, 1, 3, 7, 2);
	vcuda_sched_set_client(s, 2, 2, 0, 0);
	for (uint32_t i = 0; i < 3; i++)
		vcuda_sched_open(s, i, i);
	/* Client 0 alone in its group wanting the device: the group's
	 * share is all its own. */
	vcuda_sched_charge(s, 0, MS, 0, 0);
	assert_int_equal(vcuda_sched_session(s, 0)->vtime, 500 * MS);
	/* Both members busy: client 0 has a quarter of the group's 2. */
	vcuda_sched_session(s, 1)->inflight = 1;
	vcuda_sched_charge(s, 0, MS, 0, 0);
	assert_int_equal(vcuda_sched_session(s, 0)->vtime, 500 * MS + 2000 * MS);
	/* A client outside the group is not in the group's sum. */
	vcuda_sched_session(s, 1)->inflight = 0;
	vcuda_sched_session(s, 2)->inflight = 1;
	vcuda_sched_charge(s, 0, MS, 0, 0);
	assert_int_equal(vcuda_sched_session(s, 0)->vtime, 3000 * MS);
	/* Two busy sessions of one client split its weight. */
	vcuda_sched_open(s, 3, 2);
	vcuda_sched_session(s, 3)->inflight = 1;
	vcuda_sched_charge(s, 2, MS, 1, 0);
	assert_int_equal(vcuda_sched_session(s, 2)->vtime, 1000 * MS);
}

struct admitter {
	struct vcuda_sched *s;
	volatile int done;
};

static void *admit_main(void *arg)
{
	struct admitter *a = arg;

	vcuda_sched_admit(a->s, 0, 1, 0);
	a->done = 1;
	return NULL;
}

static void sleep_ms(unsigned ms)
{
	struct timespec t = {.tv_sec = 0, .tv_nsec = (long)ms * 1000000};

	nanosleep(&t, NULL);
}

/* A session far ahead of a busy one waits until that one's time is
 * charged; ahead of an idle one, it does not wait at all. */
static void test_paced_holds_the_session_ahead(void **state)
{
	struct vcuda_sched *s = region(VCUDA_SCHED_PACED);
	struct admitter a = {.s = s};
	pthread_t t;

	vcuda_sched_set_client(s, 0, 1, 0, 0);
	vcuda_sched_set_client(s, 1, 1, 0, 0);
	vcuda_sched_open(s, 0, 0);
	vcuda_sched_open(s, 1, 1);
	/* Session 1 has a kernel queued: it wants the device. */
	vcuda_sched_charge(s, 1, 0, 1, MS);
	vcuda_sched_charge(s, 0, 100 * MS, 0, 0); /* 0 is 100 ms ahead */
	sleep_ms(20);				  /* past 0's own grace */
	assert_int_equal(pthread_create(&t, NULL, admit_main, &a), 0);
	sleep_ms(100);
	assert_false(a.done);
	/* 1's kernel ran for 150 ms: 0 is behind now. */
	vcuda_sched_charge(s, 1, 150 * MS, 0, 0);
	for (int i = 0; i < 100 && !a.done; i++)
		sleep_ms(10);
	assert_true(a.done);
	pthread_join(t, NULL);
	/* Far ahead again, of a session that stopped wanting the device. */
	vcuda_sched_charge(s, 0, 500 * MS, 0, 0);
	sleep_ms(20); /* past 1's grace */
	a.done = 0;
	assert_int_equal(pthread_create(&t, NULL, admit_main, &a), 0);
	for (int i = 0; i < 50 && !a.done; i++)
		sleep_ms(10);
	assert_true(a.done);
	pthread_join(t, NULL);
}

/* A session back from idle starts from the busy ones' time, not from its
 * own old one (no banked time). */
static void test_idle_time_not_banked(void **state)
{
	struct vcuda_sched *s = region(VCUDA_SCHED_PACED);

	vcuda_sched_set_client(s, 0, 1, 0, 0);
	vcuda_sched_set_client(s, 1, 1, 0, 0);
	vcuda_sched_open(s, 0, 0);
	vcuda_sched_open(s, 1, 1);
	vcuda_sched_charge(s, 1, 0, 1, 0);
	vcuda_sched_session(s, 1)->vtime = 5000 * MS;
	assert_int_equal(vcuda_sched_admit(s, 0, 1, 0), 0);
	assert_int_equal(vcuda_sched_session(s, 0)->vtime, 5000 * MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_weights),
	    cmocka_unit_test(test_group_weights),
	    cmocka_unit_test(test_paced_holds_the_session_ahead),
	    cmocka_unit_test(test_idle_time_not_banked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
