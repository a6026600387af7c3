/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pool.c: the worker threads shared by every collapse and the round-robin hand-out of
 * pieces of work from all submitted tasks. Owns thread start and stop, the task list, and
 * per-worker scratch memory. What a piece of work is, progress and cancellation are the
 * task's (collapse.c). */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "pool.h"

#define SCRATCH_ALIGNMENT 4096

struct vmsnap_pool_task {
        vmsnap_pool *pool;
        vmsnap_pool_work_fn work;
        void *userdata;
        unsigned running;
        unsigned limit; /* most workers at once; 0 for any number */
        bool exhausted;
        vmsnap_pool_task *previous, *next;
};

struct vmsnap_pool_worker {
        vmsnap_pool *pool;
        pthread_t thread;
        bool started;
        vmsnap_pool_task *task; /* served now */
        void *scratch;
        size_t scratch_size;
};

struct vmsnap_pool {
        pthread_mutex_t lock;
        pthread_cond_t work_changed; /* a task arrived, or the pool stops */
        pthread_cond_t task_done;    /* a task handed out its last piece and all returned */
        vmsnap_pool_task *first, *last;
        bool stopping;
        unsigned n_workers;
        vmsnap_pool_worker *workers;
};

static void task_unlink(vmsnap_pool *pool, vmsnap_pool_task *task)
{
        if (task->previous)
                task->previous->next = task->next;
        else
                pool->first = task->next;
        if (task->next)
                task->next->previous = task->previous;
        else
                pool->last = task->previous;
        task->previous = task->next = NULL;
}

static void task_append(vmsnap_pool *pool, vmsnap_pool_task *task)
{
        task->previous = pool->last;
        task->next = NULL;
        if (pool->last)
                pool->last->next = task;
        else
                pool->first = task;
        pool->last = task;
}

static bool task_done(const vmsnap_pool_task *task)
{
        return task->exhausted && task->running == 0;
}

/* The first task with pieces left and room for another worker; it goes to the back of the line
 * so that the next worker serves another task. Called with the lock held. */
static vmsnap_pool_task *task_next(vmsnap_pool *pool)
{
        for (vmsnap_pool_task *task = pool->first; task; task = task->next)
                if (!task->exhausted && (task->limit == 0 || task->running < task->limit)) {
                        task_unlink(pool, task);
                        task_append(pool, task);
                        return task;
                }
        return NULL;
}

static void *worker_main(void *userdata)
{
        vmsnap_pool_worker *worker = userdata;
        vmsnap_pool *pool = worker->pool;

        pthread_mutex_lock(&pool->lock);
        for (;;) {
                vmsnap_pool_task *task;
                int r;

                if (pool->stopping)
                        break;
                task = task_next(pool);
                if (!task) {
                        pthread_cond_wait(&pool->work_changed, &pool->lock);
                        continue;
                }

                task->running++;
                worker->task = task;
                pthread_mutex_unlock(&pool->lock);
                r = task->work(task->userdata, worker);
                pthread_mutex_lock(&pool->lock);
                worker->task = NULL;
                task->running--;
                if (r <= 0)
                        task->exhausted = true;
                if (task_done(task))
                        pthread_cond_broadcast(&pool->task_done);
                else if (task->limit > 0 && !task->exhausted)
                        /* A worker waiting for room in this task may go on. */
                        pthread_cond_broadcast(&pool->work_changed);
        }
        pthread_mutex_unlock(&pool->lock);
        return NULL;
}

void vmsnap_pool_free(vmsnap_pool *pool)
{
        if (!pool)
                return;

        pthread_mutex_lock(&pool->lock);
        pool->stopping = true;
        pthread_cond_broadcast(&pool->work_changed);
        pthread_mutex_unlock(&pool->lock);

        for (unsigned i = 0; i < pool->n_workers; i++) {
                if (pool->workers[i].started)
                        pthread_join(pool->workers[i].thread, NULL);
                free(pool->workers[i].scratch);
        }
        free(pool->workers);
        pthread_cond_destroy(&pool->work_changed);
        pthread_cond_destroy(&pool->task_done);
        pthread_mutex_destroy(&pool->lock);
        free(pool);
}

int vmsnap_pool_new(unsigned workers, vmsnap_pool **ret, vmsnap_error *error)
{
        pthread_condattr_t attributes;
        sigset_t all, saved;
        vmsnap_pool *pool;
        int r = 0;

        if (!ret)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT, "no pool to create");
        if (workers == 0) {
                long cpus = sysconf(_SC_NPROCESSORS_ONLN);
                workers = cpus > 0 ? (unsigned)cpus : 1;
        }
        if (workers > 1024)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "%u worker threads are too many; at most 1024", workers);

        pool = xcalloc(1, sizeof(*pool));
        pool->workers = xcalloc(workers, sizeof(*pool->workers));
        pool->n_workers = workers;

        pthread_mutex_init(&pool->lock, NULL);
        pthread_condattr_init(&attributes);
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
        pthread_cond_init(&pool->work_changed, NULL);
        pthread_cond_init(&pool->task_done, &attributes);
        pthread_condattr_destroy(&attributes);

        /* Workers take no signals: the daemon's main loop handles them. They inherit the mask
         * of the thread that creates them. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &saved);
        for (unsigned i = 0; i < workers; i++) {
                pool->workers[i].pool = pool;
                r = -pthread_create(&pool->workers[i].thread, NULL, worker_main, &pool->workers[i]);
                if (r < 0)
                        break;
                pool->workers[i].started = true;
        }
        pthread_sigmask(SIG_SETMASK, &saved, NULL);

        if (r < 0) {
                vmsnap_pool_free(pool);
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED, "cannot start %u worker threads: %m",
                                        workers);
        }

        *ret = pool;
        return 0;
}

unsigned vmsnap_pool_workers(const vmsnap_pool *pool)
{
        return pool->n_workers;
}

int vmsnap_pool_task_submit(vmsnap_pool *pool, vmsnap_pool_work_fn work, void *userdata,
                            vmsnap_pool_task **ret, vmsnap_error *error)
{
        vmsnap_pool_task *task;

        if (!pool || !work || !ret)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT, "no task to submit");

        task = xcalloc(1, sizeof(*task));
        task->pool = pool;
        task->work = work;
        task->userdata = userdata;

        pthread_mutex_lock(&pool->lock);
        task_append(pool, task);
        pthread_cond_broadcast(&pool->work_changed);
        pthread_mutex_unlock(&pool->lock);

        *ret = task;
        return 0;
}

void vmsnap_pool_worker_limit_task(vmsnap_pool_worker *worker, unsigned limit)
{
        vmsnap_pool *pool = worker->pool;

        pthread_mutex_lock(&pool->lock);
        if (worker->task)
                worker->task->limit = limit;
        pthread_cond_broadcast(&pool->work_changed);
        pthread_mutex_unlock(&pool->lock);
}

bool vmsnap_pool_task_wait(vmsnap_pool_task *task, unsigned timeout_ms)
{
        vmsnap_pool *pool = task->pool;
        struct timespec deadline;
        bool done;

        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
        if (deadline.tv_nsec >= 1000000000) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000;
        }

        pthread_mutex_lock(&pool->lock);
        while (!task_done(task))
                if (pthread_cond_timedwait(&pool->task_done, &pool->lock, &deadline) == ETIMEDOUT)
                        break;
        done = task_done(task);
        if (done)
                task_unlink(pool, task);
        pthread_mutex_unlock(&pool->lock);

        if (done)
                free(task);
        return done;
}

void *vmsnap_pool_worker_scratch(vmsnap_pool_worker *worker, size_t size)
{
        void *grown;

        if (worker->scratch_size >= size)
                return worker->scratch;

        if (posix_memalign(&grown, SCRATCH_ALIGNMENT, size) != 0)
                oom();
        free(worker->scratch);
        worker->scratch = grown;
        worker->scratch_size = size;
        return grown;
}
