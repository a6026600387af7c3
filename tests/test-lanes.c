/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-lanes.c: the queues of dbus/lanes.c with a real worker pool and sd-event loop:
 * callers are served in turn, one caller never holds more than its share of the
 * workers, the bound refuses with -EBUSY, and held refusals wait; a domain's changes
 * run one at a time beside another domain's, and one still waiting can be canceled. */
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

static unsigned changes_done, changes_dropped;
static lane_drop_reason last_drop;

static void change_done(void *userdata)
{
        changes_done++;
}

static void change_drop(void *userdata, lane_drop_reason reason)
{
        changes_dropped++;
        last_drop = reason;
}

static void test_changes_of_a_domain_run_one_at_a_time_and_a_waiting_one_can_be_canceled(void **state)
{
        harness h;
        task tasks[4];
        lane_entry *entries[4];

        harness_init(&h, 2, 64);
        change_lanes *d = change_lanes_new(h.pool, h.mailbox);
        changes_done = changes_dropped = 0;
        for (int i = 0; i < 4; i++) {
                /* Three changes of domain 0, then one of domain 1. */
                tasks[i] = (task){&h, i < 3 ? 0 : 1};
                entries[i] = lane_enqueue(d, i < 3 ? "domain-0" : "domain-1", task_run, change_done,
                                          change_drop, &tasks[i]);
        }
        assert_false(lane_cancel(entries[0])); /* already running */
        assert_true(lane_cancel(entries[2]));  /* still waiting */
        assert_int_equal(changes_dropped, 1);
        assert_int_equal(last_drop, LANE_CANCELED);
        for (int i = 0; i < 5000 && !(changes_done == 3 && change_lanes_idle(d)); i++)
                assert_true(sd_event_run(h.event, 10 * 1000) >= 0);
        assert_int_equal(changes_done, 3);
        assert_true(change_lanes_idle(d));
        assert_int_equal(h.most_running_of[0], 1); /* never two changes of one domain at once */
        /* Domain 1 did not wait behind domain 0's queue: it started first or second. */
        assert_true(h.order[0] == 1 || h.order[1] == 1);
        harness_clear(&h);
        change_lanes_free(d);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_callers_are_served_in_turn),
                cmocka_unit_test(test_a_caller_past_its_bound_is_refused),
                cmocka_unit_test(test_held_refusals_wait_then_are_answered),
                cmocka_unit_test(
                        test_changes_of_a_domain_run_one_at_a_time_and_a_waiting_one_can_be_canceled),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
