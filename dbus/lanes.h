/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lanes.h: per-caller queues in front of the request workers. Every caller (a UID) has
 * its own queue; the queues are served in turn, a caller holds at most half the workers,
 * and a caller past its bound of waiting work is refused, so one caller's authorization
 * checks and reads cannot starve another's. Loop thread only, except where noted. */
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
