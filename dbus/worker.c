/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* worker.c: the fixed worker pools that run authorization and engine calls,
 * and the mailbox (an eventfd plus a locked FIFO) that brings their results
 * back to the loop thread. What the tasks do is the manager's and the jobs'. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util.h"
#include "worker.h"

typedef struct queued_task {
        worker_task_fn run;
        void *userdata;
        struct queued_task *next;
} queued_task;

static queued_task *queued_task_new(worker_task_fn run, void *userdata)
{
        queued_task *task = xcalloc(1, sizeof(*task));
        task->run = run;
        task->userdata = userdata;
        return task;
}

/* ---- pool ---- */

struct worker_pool {
        char name[32];
        pthread_mutex_t lock;
        pthread_cond_t wake;
        queued_task *head, *tail;
        bool stopping;
        pthread_t *threads;
        unsigned n_threads;
};

static void *worker_main(void *userdata)
{
        worker_pool *pool = userdata;

        for (;;) {
                queued_task *task;

                pthread_mutex_lock(&pool->lock);
                while (!pool->head && !pool->stopping)
                        pthread_cond_wait(&pool->wake, &pool->lock);
                if (pool->stopping) {
                        pthread_mutex_unlock(&pool->lock);
                        return NULL;
                }
                task = pool->head;
                pool->head = task->next;
                if (!pool->head)
                        pool->tail = NULL;
                pthread_mutex_unlock(&pool->lock);

                task->run(task->userdata);
                free(task);
        }
}

int worker_pool_new(const char *name, unsigned n_threads, worker_pool **ret)
{
        worker_pool *pool;
        int r;

        if (n_threads == 0)
                return -EINVAL;
        pool = xcalloc(1, sizeof(*pool));
        snprintf(pool->name, sizeof(pool->name), "%s", name);
        pthread_mutex_init(&pool->lock, NULL);
        pthread_cond_init(&pool->wake, NULL);
        pool->threads = xcalloc(n_threads, sizeof(pthread_t));
        for (unsigned i = 0; i < n_threads; i++) {
                char thread_name[32];

                r = pthread_create(&pool->threads[i], NULL, worker_main, pool);
                if (r != 0) {
                        worker_pool_free(pool, NULL);
                        return -r;
                }
                pool->n_threads++;
                /* Thread names are at most 15 bytes. */
                snprintf(thread_name, sizeof(thread_name), "%.10s-%u", pool->name, i % 10000);
                thread_name[15] = '\0';
                (void)pthread_setname_np(pool->threads[i], thread_name);
        }
        *ret = pool;
        return 0;
}

int worker_pool_submit(worker_pool *pool, worker_task_fn run, void *userdata)
{
        queued_task *task = queued_task_new(run, userdata);

        pthread_mutex_lock(&pool->lock);
        if (pool->stopping) {
                pthread_mutex_unlock(&pool->lock);
                free(task);
                return -ESHUTDOWN;
        }
        if (pool->tail)
                pool->tail->next = task;
        else
                pool->head = task;
        pool->tail = task;
        pthread_cond_signal(&pool->wake);
        pthread_mutex_unlock(&pool->lock);
        return 0;
}

void worker_pool_free(worker_pool *pool, worker_task_fn discard)
{
        queued_task *left;

        if (!pool)
                return;
        pthread_mutex_lock(&pool->lock);
        pool->stopping = true;
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->lock);
        for (unsigned i = 0; i < pool->n_threads; i++)
                pthread_join(pool->threads[i], NULL);

        left = pool->head;
        while (left) {
                queued_task *next = left->next;
                if (discard)
                        discard(left->userdata);
                free(left);
                left = next;
        }
        pthread_cond_destroy(&pool->wake);
        pthread_mutex_destroy(&pool->lock);
        free(pool->threads);
        free(pool);
}

/* ---- mailbox ---- */

struct loop_mailbox {
        int event_fd;
        sd_event_source *source;
        pthread_mutex_t lock;
        queued_task *head, *tail;
};

static queued_task *mailbox_take_all(loop_mailbox *mailbox)
{
        queued_task *all;

        pthread_mutex_lock(&mailbox->lock);
        all = mailbox->head;
        mailbox->head = mailbox->tail = NULL;
        pthread_mutex_unlock(&mailbox->lock);
        return all;
}

static void mailbox_run(queued_task *task)
{
        while (task) {
                queued_task *next = task->next;
                task->run(task->userdata);
                free(task);
                task = next;
        }
}

static int mailbox_on_event(sd_event_source *source, int fd, uint32_t revents, void *userdata)
{
        loop_mailbox *mailbox = userdata;
        uint64_t count;

        (void)!read(fd, &count, sizeof(count));
        mailbox_run(mailbox_take_all(mailbox));
        return 0;
}

int loop_mailbox_new(sd_event *event, loop_mailbox **ret)
{
        loop_mailbox *mailbox = xcalloc(1, sizeof(*mailbox));
        int r;

        pthread_mutex_init(&mailbox->lock, NULL);
        mailbox->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (mailbox->event_fd < 0) {
                r = -errno;
                loop_mailbox_free(mailbox);
                return r;
        }
        r = sd_event_add_io(event, &mailbox->source, mailbox->event_fd, EPOLLIN, mailbox_on_event, mailbox);
        if (r < 0) {
                loop_mailbox_free(mailbox);
                return r;
        }
        (void)sd_event_source_set_description(mailbox->source, "worker-mailbox");
        *ret = mailbox;
        return 0;
}

void loop_mailbox_post(loop_mailbox *mailbox, worker_task_fn run, void *userdata)
{
        queued_task *task = queued_task_new(run, userdata);
        uint64_t one = 1;

        pthread_mutex_lock(&mailbox->lock);
        if (mailbox->tail)
                mailbox->tail->next = task;
        else
                mailbox->head = task;
        mailbox->tail = task;
        pthread_mutex_unlock(&mailbox->lock);
        /* An eventfd counter cannot fill up in practice; a failed write still leaves the task queued. */
        (void)!write(mailbox->event_fd, &one, sizeof(one));
}

void loop_mailbox_drain(loop_mailbox *mailbox)
{
        queued_task *all;

        while ((all = mailbox_take_all(mailbox)))
                mailbox_run(all);
}

void loop_mailbox_free(loop_mailbox *mailbox)
{
        if (!mailbox)
                return;
        loop_mailbox_drain(mailbox);
        sd_event_source_disable_unref(mailbox->source);
        if (mailbox->event_fd >= 0)
                close(mailbox->event_fd);
        pthread_mutex_destroy(&mailbox->lock);
        free(mailbox);
}
