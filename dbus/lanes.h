/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lanes.h: the queues in front of vmsnapd's worker pools. Per caller, in front of the
 * request workers: every caller (a UID) has its own queue; the queues are served in
 * turn, a caller holds at most half the workers, and a caller past its bound of waiting
 * work is refused, so one caller's authorization checks and reads cannot starve
 * another's. Per domain, in front of the change workers: a domain's changes run one at
 * a time, in the order they came, and one still waiting can be canceled. What a task
 * is (a call, a job) is the caller's; these queues only order them. Loop thread only,
 * except where noted. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "worker.h"

/* Work one caller may have waiting or running at once; past it a call is refused with
 * org.example.Snapshots.Error.Busy. */
#define LANE_MAX_PENDING 64
/* A refusal for being past the bound is answered this much later, so that a caller that
 * calls again at once cannot keep the daemon and the bus busy answering it; at most
 * LANE_MAX_HELD refusals wait at once (more are answered at once). */
#define LANE_BUSY_DELAY_USEC (250 * 1000ULL)
#define LANE_MAX_HELD 1024

typedef struct lanes lanes;

/* Tasks go to pool's workers (n_workers of them), never more at once than it has free
 * threads, so the pool's own FIFO never holds a backlog; mailbox brings their ends back. */
lanes *lanes_new(sd_event *event, worker_pool *pool, unsigned n_workers, loop_mailbox *mailbox,
                 unsigned max_pending);
/* Queues run(userdata) in the lane of uid. discard(userdata) answers the task instead if
 * it never runs (shutdown). Returns -EBUSY when the caller already has max_pending tasks
 * waiting or running (the task is not taken), -ENOMEM never (abort). */
int lanes_submit(lanes *l, uid_t uid, worker_task_fn run, worker_task_fn discard, void *userdata);
/* Runs answer(userdata) on the loop LANE_BUSY_DELAY_USEC from now (a Busy refusal).
 * -ENOBUFS: LANE_MAX_HELD are waiting already, or the daemon stops; answer now. */
int lanes_hold(lanes *l, worker_task_fn answer, void *userdata);
/* At shutdown: answers every held refusal now. */
void lanes_release_held(lanes *l);
/* Tasks the caller has waiting or running. */
unsigned lanes_pending(const lanes *l, uid_t uid);
/* At shutdown, on the loop thread: hands every task still waiting in a lane to its discard. */
void lanes_discard_waiting(lanes *l);
/* The discard function for worker_pool_free of the pool behind l: tasks handed to the pool
 * that never started go to their own discard. */
void lanes_discard_task(void *entry);
/* After the pool is freed and the mailbox drained. */
void lanes_free(lanes *l);

/* ---- per-domain queues of changes ---- */

typedef struct change_lanes change_lanes;
typedef struct lane_entry lane_entry;

/* Why a change left its queue without running. */
typedef enum lane_drop_reason {
        LANE_CANCELED, /* lane_cancel */
        LANE_STOPPED,  /* the daemon stops */
        LANE_REFUSED,  /* the change pool would not take it */
} lane_drop_reason;

typedef void (*lane_drop_fn)(void *userdata, lane_drop_reason reason);

/* Changes go to pool's workers; mailbox brings their ends back to the loop. */
change_lanes *change_lanes_new(worker_pool *pool, loop_mailbox *mailbox);
/* Queues a change behind the others of key (a domain's UUID; NULL: a queue of its own,
 * beside every other). run(userdata) runs on a worker in its turn, then done(userdata)
 * on the loop; or, if it never runs, drop(userdata, reason) on the loop. The entry is
 * valid until done or drop has returned, and neither is called before this returns. */
lane_entry *lane_enqueue(change_lanes *d, const char *key, worker_task_fn run, worker_task_fn done,
                         lane_drop_fn drop, void *userdata);
/* Takes a change still waiting out of its queue and hands it to drop(LANE_CANCELED);
 * false (nothing done) once it started. */
bool lane_cancel(lane_entry *entry);
/* No change waits or runs. */
bool change_lanes_idle(const change_lanes *d);
/* At shutdown: takes no more turns, and hands every change still waiting to
 * drop(LANE_STOPPED). */
void change_lanes_discard_waiting(change_lanes *d);
/* The discard function for worker_pool_free of the pool behind d: a change handed to
 * the pool that never started goes to drop(LANE_STOPPED). */
void change_lanes_discard_task(void *entry);
/* After the pool is freed and the mailbox drained. */
void change_lanes_free(change_lanes *d);
