/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-lanes.c: the per-caller queues of dbus/lanes.c with a real worker pool and
 * sd-event loop: callers are served in turn, one caller never holds more than its
 * share of the workers, the bound refuses with -EBUSY, and held refusals wait. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <time.h>
#include <unistd.h>

#include "lanes.h"
#include "util.h"

#define N_TASKS 16

typedef struct harness {
        sd_event *event;
        worker_pool *pool;
        loop_mailbox *mailbox;
        lanes *lanes;
        pthread_mutex_t lock;
        int order[N_TASKS * 2]; /* the uids in the order their tasks started */
        unsigned started, done;
        unsigned running_of[2], most_running_of[2];
} harness;

typedef struct task {
        harness *h;
        int uid;
} task;

static void task_run(void *userdata)
{
        task *t = userdata;
        harness *h = t->h;

        pthread_mutex_lock(&h->lock);
        h->order[h->started++] = t->uid;
        if (++h->running_of[t->uid] > h->most_running_of[t->uid])
                h->most_running_of[t->uid] = h->running_of[t->uid];
        pthread_mutex_unlock(&h->lock);
        usleep(3000);
        pthread_mutex_lock(&h->lock);
        h->running_of[t->uid]--;
        h->done++;
        pthread_mutex_unlock(&h->lock);
}

static void task_discard(void *userdata)
{
}

static void harness_init(harness *h, unsigned workers, unsigned max_pending)
{
        *h = (harness){0};
        pthread_mutex_init(&h->lock, NULL);
        assert_int_equal(sd_event_new(&h->event), 0);
        assert_int_equal(worker_pool_new("test-lanes", workers, &h->pool), 0);
        assert_int_equal(loop_mailbox_new(h->event, &h->mailbox), 0);
        h->lanes = lanes_new(h->event, h->pool, workers, h->mailbox, max_pending);
}

static void harness_run_until_done(harness *h, unsigned n)
{
        for (int i = 0; i < 5000; i++) {
                pthread_mutex_lock(&h->lock);
                unsigned done = h->done;
                pthread_mutex_unlock(&h->lock);
                if (done == n && lanes_pending(h->lanes, 0) == 0 && lanes_pending(h->lanes, 1) == 0)
                        return;
                assert_true(sd_event_run(h->event, 10 * 1000) >= 0);
        }
        fail_msg("the tasks did not end");
}

static void harness_clear(harness *h)
{
        worker_pool_free(h->pool, lanes_discard_task);
        loop_mailbox_drain(h->mailbox);
        loop_mailbox_free(h->mailbox);
        lanes_free(h->lanes);
        sd_event_unref(h->event);
        pthread_mutex_destroy(&h->lock);
}

static void test_callers_are_served_in_turn(void **state)
{
        harness h;
        task tasks[N_TASKS * 2];
        unsigned last_of_1 = 0;

        harness_init(&h, 2, 64);
        /* Caller 0 queues everything first; caller 1 comes after. */
        for (int i = 0; i < N_TASKS; i++) {
                tasks[i] = (task){&h, 0};
                assert_int_equal(lanes_submit(h.lanes, 0, task_run, task_discard, &tasks[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
                tasks[N_TASKS + i] = (task){&h, 1};
                assert_int_equal(lanes_submit(h.lanes, 1, task_run, task_discard, &tasks[N_TASKS + i]), 0);
        }
        harness_run_until_done(&h, N_TASKS + 4);
        for (unsigned i = 0; i < h.started; i++)
                if (h.order[i] == 1)
                        last_of_1 = i;
        /* In turn: caller 1's four tasks start within the first ten, not after caller 0's sixteen. */
        assert_true(last_of_1 < 10);
        /* Half the workers each: caller 0 never held both. */
        assert_int_equal(h.most_running_of[0], 1);
        harness_clear(&h);
}

static void test_a_caller_past_its_bound_is_refused(void **state)
{
        harness h;
        task tasks[6];

        harness_init(&h, 2, 4);
        for (int i = 0; i < 4; i++) {
                tasks[i] = (task){&h, 0};
                assert_int_equal(lanes_submit(h.lanes, 0, task_run, task_discard, &tasks[i]), 0);
        }
        tasks[4] = (task){&h, 0};
        assert_int_equal(lanes_submit(h.lanes, 0, task_run, task_discard, &tasks[4]), -EBUSY);
        assert_int_equal(lanes_pending(h.lanes, 0), 4);
        /* Another caller is not bound by the first one's calls. */
        tasks[5] = (task){&h, 1};
        assert_int_equal(lanes_submit(h.lanes, 1, task_run, task_discard, &tasks[5]), 0);
        harness_run_until_done(&h, 5);
        /* Once answered, the caller may call again. */
        assert_int_equal(lanes_submit(h.lanes, 0, task_run, task_discard, &tasks[4]), 0);
        harness_run_until_done(&h, 6);
        harness_clear(&h);
}

static void count_answer(void *userdata)
{
        (*(unsigned *)userdata)++;
}

static void test_held_refusals_wait_then_are_answered(void **state)
{
        harness h;
        unsigned answered = 0;
        uint64_t start = now_usec(CLOCK_MONOTONIC);

        harness_init(&h, 2, 4);
        assert_int_equal(lanes_hold(h.lanes, count_answer, &answered), 0);
        assert_int_equal(lanes_hold(h.lanes, count_answer, &answered), 0);
        while (answered < 2 && now_usec(CLOCK_MONOTONIC) - start < 5 * 1000 * 1000ULL)
                assert_true(sd_event_run(h.event, 50 * 1000) >= 0);
        assert_int_equal(answered, 2);
        assert_true(now_usec(CLOCK_MONOTONIC) - start >= LANE_BUSY_DELAY_USEC);
        /* At shutdown they are answered at once. */
        assert_int_equal(lanes_hold(h.lanes, count_answer, &answered), 0);
        lanes_release_held(h.lanes);
        assert_int_equal(answered, 3);
        harness_clear(&h);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_callers_are_served_in_turn),
                cmocka_unit_test(test_a_caller_past_its_bound_is_refused),
                cmocka_unit_test(test_held_refusals_wait_then_are_answered),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
