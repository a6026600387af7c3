/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pool.h: the fixed set of worker threads every collapse shares. A task is anything
 * that hands out bounded pieces of work one call at a time; workers take pieces round
 * robin from every task, so all running collapses advance together. What a piece is
 * belongs to the task (collapse.c); the pool only schedules. The engine owns the one
 * pool (vmsnap_engine_pool). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "vmsnap/vmsnap.h"

typedef struct vmsnap_pool vmsnap_pool;

/* A fixed pool of worker threads shared by every collapse; workers 0: the CPU count. */
int vmsnap_pool_new(unsigned workers, vmsnap_pool **ret, vmsnap_error *error);
void vmsnap_pool_free(vmsnap_pool *pool);

typedef struct vmsnap_pool_task vmsnap_pool_task;
typedef struct vmsnap_pool_worker vmsnap_pool_worker;

/* Does one bounded piece of work on a worker thread. Returns > 0 after doing a piece, 0 when the
 * task has nothing more to hand out (pieces other workers took may still be running). A task
 * keeps its own errors; the pool only stops asking it. */
typedef int (*vmsnap_pool_work_fn)(void *userdata, vmsnap_pool_worker *worker);

/* Adds a task; workers start calling work at once. */
int vmsnap_pool_task_submit(vmsnap_pool *pool, vmsnap_pool_work_fn work, void *userdata,
                            vmsnap_pool_task **ret, vmsnap_error *error);

/* At most limit workers at once on the task the calling worker serves (0: no limit). Reflinks
 * into one file, for one, go faster from one thread than from several that contend. */
void vmsnap_pool_worker_limit_task(vmsnap_pool_worker *worker, unsigned limit);

/* Waits until the task has handed out its last piece and every piece has returned, or until
 * timeout_ms passed. Returns true when the task is done; it is then removed from the pool and
 * freed. */
bool vmsnap_pool_task_wait(vmsnap_pool_task *task, unsigned timeout_ms);

/* Memory private to the calling worker, kept between pieces, at least size bytes and aligned to
 * 4 KiB. */
void *vmsnap_pool_worker_scratch(vmsnap_pool_worker *worker, size_t size);

unsigned vmsnap_pool_workers(const vmsnap_pool *pool);
