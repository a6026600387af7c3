/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* worker.h: the daemon's threads. A worker pool runs tasks (authorization,
 * engine calls) off the bus thread; the loop mailbox carries their results back
 * to the sd-event loop, the only thread that touches sd-bus objects. */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

typedef void (*worker_task_fn)(void *userdata);

/* ---- the pool: a fixed number of threads taking tasks in order ---- */

typedef struct worker_pool worker_pool;

int worker_pool_new(const char *name, unsigned n_threads, worker_pool **ret);
/* Queues run(userdata) for the next free thread. */
int worker_pool_submit(worker_pool *pool, worker_task_fn run, void *userdata);
/* Lets the running tasks finish, joins the threads, and hands every task that never
 * started to discard(userdata) in the calling thread. */
void worker_pool_free(worker_pool *pool, worker_task_fn discard);

/* ---- the mailbox: closures posted from any thread, run on the loop thread ---- */

typedef struct loop_mailbox loop_mailbox;

int loop_mailbox_new(sd_event *event, loop_mailbox **ret);
/* Thread-safe. run(userdata) is called on the loop thread, in posting order. */
void loop_mailbox_post(loop_mailbox *mailbox, worker_task_fn run, void *userdata);
/* Runs what is posted but not yet run (the loop no longer does once it exited). */
void loop_mailbox_drain(loop_mailbox *mailbox);
void loop_mailbox_free(loop_mailbox *mailbox);
