/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lanes.c: the queues of lanes.h. Per caller: each UID with work has a lane (a FIFO);
 * the lanes with work form a ring served round robin, one task per turn. A task goes
 * to the worker pool only when a worker is free and its lane holds fewer than its share
 * of the workers (half of them, at least one), so a caller that floods the daemon
 * waits in its own lane while everyone else's calls pass it. Per domain: a lane per
 * key with work, whose first change runs while the others wait. */
#include <errno.h>

#include "lanes.h"
#include "util.h"

typedef struct lane lane;

typedef struct lane_task {
        lanes *owner;
        lane *lane;
        worker_task_fn run, discard;
        void *userdata;
        struct lane_task *next;
} lane_task;

struct lane {
        uid_t uid;
        lane_task *head, *tail; /* waiting */
        unsigned running;       /* handed to the pool, end not yet seen on the loop */
        lane *next;             /* all lanes (a lane without work is freed) */
};

typedef struct held {
        worker_task_fn answer;
        void *userdata;
        uint64_t due; /* CLOCK_MONOTONIC µs */
        struct held *next;
} held;

struct lanes {
        sd_event *event;
        sd_event_source *hold_timer;
        held *held_head, *held_tail; /* in the order they are due */
        unsigned n_held;
        worker_pool *pool;
        loop_mailbox *mailbox;
        unsigned n_workers, share, max_pending;
        unsigned running; /* all lanes */
        lane *lanes;
        lane *cursor; /* the lane whose turn is next */
        bool stopped;
};

lanes *lanes_new(sd_event *event, worker_pool *pool, unsigned n_workers, loop_mailbox *mailbox,
                 unsigned max_pending)
{
        lanes *l = xcalloc(1, sizeof(*l));

        l->event = sd_event_ref(event);
        l->pool = pool;
        l->mailbox = mailbox;
        l->n_workers = n_workers ? n_workers : 1;
        /* Half the workers each: a second caller always finds a worker within one task's
         * time, whatever the first has queued. */
        l->share = l->n_workers > 1 ? l->n_workers / 2 : 1;
        l->max_pending = max_pending ? max_pending : 1;
        return l;
}

static lane *lane_find(const lanes *l, uid_t uid)
{
        for (lane *ln = l->lanes; ln; ln = ln->next)
                if (ln->uid == uid)
                        return ln;
        return NULL;
}

static unsigned lane_waiting(const lane *ln)
{
        unsigned n = 0;

        for (const lane_task *t = ln->head; t; t = t->next)
                n++;
        return n;
}

unsigned lanes_pending(const lanes *l, uid_t uid)
{
        const lane *ln = lane_find(l, uid);

        return ln ? ln->running + lane_waiting(ln) : 0;
}

static void lane_free_if_idle(lanes *l, lane *ln)
{
        if (ln->head || ln->running > 0)
                return;
        if (l->cursor == ln)
                l->cursor = ln->next;
        for (lane **p = &l->lanes; *p; p = &(*p)->next)
                if (*p == ln) {
                        *p = ln->next;
                        break;
                }
        free(ln);
}

static void task_on_done(void *userdata);

/* Worker thread. */
static void task_run(void *userdata)
{
        lane_task *t = userdata;

        t->run(t->userdata);
        loop_mailbox_post(t->owner->mailbox, task_on_done, t);
}

static void lanes_pump(lanes *l);

static void task_on_done(void *userdata)
{
        lane_task *t = userdata;
        lanes *l = t->owner;
        lane *ln = t->lane;

        free(t);
        ln->running--;
        l->running--;
        lane_free_if_idle(l, ln);
        lanes_pump(l);
}

/* The next lane in turn, after the cursor, with a waiting task and room in its share. */
static lane *lanes_next_turn(lanes *l)
{
        lane *start = l->cursor ? l->cursor : l->lanes, *ln = start;

        if (!ln)
                return NULL;
        do {
                if (ln->head && ln->running < l->share)
                        return ln;
                ln = ln->next ? ln->next : l->lanes;
        } while (ln != start);
        return NULL;
}

static void lanes_pump(lanes *l)
{
        lane *ln;

        while (!l->stopped && l->running < l->n_workers && (ln = lanes_next_turn(l))) {
                lane_task *t = ln->head;

                ln->head = t->next;
                if (!ln->head)
                        ln->tail = NULL;
                t->next = NULL;
                l->cursor = ln->next ? ln->next : l->lanes;
                ln->running++;
                l->running++;
                if (worker_pool_submit(l->pool, task_run, t) < 0) {
                        /* The pool refuses only when it is going away: answer as at shutdown. */
                        ln->running--;
                        l->running--;
                        t->discard(t->userdata);
                        free(t);
                        lane_free_if_idle(l, ln);
                }
        }
}

int lanes_submit(lanes *l, uid_t uid, worker_task_fn run, worker_task_fn discard, void *userdata)
{
        lane *ln = lane_find(l, uid);
        lane_task *t;

        if (ln && ln->running + lane_waiting(ln) >= l->max_pending)
                return -EBUSY;
        if (!ln) {
                ln = xcalloc(1, sizeof(*ln));
                ln->uid = uid;
                /* New lanes go to the end of the ring: callers already waiting go first. */
                lane **tail = &l->lanes;
                while (*tail)
                        tail = &(*tail)->next;
                *tail = ln;
        }
        t = xcalloc(1, sizeof(*t));
        t->owner = l;
        t->lane = ln;
        t->run = run;
        t->discard = discard;
        t->userdata = userdata;
        if (ln->tail)
                ln->tail->next = t;
        else
                ln->head = t;
        ln->tail = t;
        lanes_pump(l);
        return 0;
}

/* ---- refusals held back ---- */

static int on_hold_timer(sd_event_source *source, uint64_t usec, void *userdata)
{
        lanes *l = userdata;
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        while (l->held_head && l->held_head->due <= now) {
                held *h = l->held_head;

                l->held_head = h->next;
                if (!l->held_head)
                        l->held_tail = NULL;
                l->n_held--;
                h->answer(h->userdata);
                free(h);
        }
        if (l->held_head) {
                (void)sd_event_source_set_time(source, l->held_head->due);
                (void)sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
        }
        return 0;
}

int lanes_hold(lanes *l, worker_task_fn answer, void *userdata)
{
        held *h;
        int r;

        if (l->stopped || l->n_held >= LANE_MAX_HELD)
                return -ENOBUFS;
        if (!l->hold_timer) {
                r = sd_event_add_time(l->event, &l->hold_timer, CLOCK_MONOTONIC, 0, 10 * 1000, on_hold_timer,
                                      l);
                if (r < 0)
                        return r;
                (void)sd_event_source_set_description(l->hold_timer, "busy-hold");
                (void)sd_event_source_set_enabled(l->hold_timer, SD_EVENT_OFF);
        }
        h = xcalloc(1, sizeof(*h));
        h->answer = answer;
        h->userdata = userdata;
        h->due = now_usec(CLOCK_MONOTONIC) + LANE_BUSY_DELAY_USEC;
        if (l->held_tail)
                l->held_tail->next = h;
        else {
                l->held_head = h;
                (void)sd_event_source_set_time(l->hold_timer, h->due);
                (void)sd_event_source_set_enabled(l->hold_timer, SD_EVENT_ONESHOT);
        }
        l->held_tail = h;
        l->n_held++;
        return 0;
}

void lanes_release_held(lanes *l)
{
        if (!l)
                return;
        while (l->held_head) {
                held *h = l->held_head;

                l->held_head = h->next;
                l->n_held--;
                h->answer(h->userdata);
                free(h);
        }
        l->held_tail = NULL;
        if (l->hold_timer)
                (void)sd_event_source_set_enabled(l->hold_timer, SD_EVENT_OFF);
}

void lanes_discard_waiting(lanes *l)
{
        l->stopped = true;
        for (lane *ln = l->lanes; ln; ln = ln->next)
                while (ln->head) {
                        lane_task *t = ln->head;

                        ln->head = t->next;
                        if (!ln->head)
                                ln->tail = NULL;
                        t->discard(t->userdata);
                        free(t);
                }
}

void lanes_discard_task(void *entry)
{
        lane_task *t = entry;

        /* Never ran, so no end is posted: the lane's count no longer matters at this point. */
        t->discard(t->userdata);
        free(t);
}

void lanes_free(lanes *l)
{
        if (!l)
                return;
        lanes_release_held(l);
        sd_event_source_disable_unref(l->hold_timer);
        sd_event_unref(l->event);
        while (l->lanes) {
                lane *ln = l->lanes;

                l->lanes = ln->next;
                while (ln->head) {
                        lane_task *t = ln->head;

                        ln->head = t->next;
                        free(t);
                }
                free(ln);
        }
        free(l);
}

/* ---- per-domain queues of changes ---- */

typedef struct change_lane change_lane;

struct lane_entry {
        change_lanes *owner;
        change_lane *queue;
        worker_task_fn run, done;
        lane_drop_fn drop;
        void *userdata;
        lane_entry *next;
};

/* The changes waiting for one key, and the one running. */
struct change_lane {
        change_lanes *owner;
        char *key; /* NULL: a queue of one change */
        lane_entry *head, *tail;
        lane_entry *running;
        change_lane *next;
};

struct change_lanes {
        worker_pool *pool;
        loop_mailbox *mailbox;
        change_lane *lanes;
        bool stopped;
};

change_lanes *change_lanes_new(worker_pool *pool, loop_mailbox *mailbox)
{
        change_lanes *d = xcalloc(1, sizeof(*d));

        d->pool = pool;
        d->mailbox = mailbox;
        return d;
}

bool change_lanes_idle(const change_lanes *d)
{
        return !d->lanes;
}

static void change_lane_remove(change_lanes *d, change_lane *queue)
{
        for (change_lane **p = &d->lanes; *p; p = &(*p)->next)
                if (*p == queue) {
                        *p = queue->next;
                        break;
                }
        free(queue->key);
        free(queue);
}

static void change_lane_dispatch(change_lane *queue);

static void entry_done(void *userdata)
{
        lane_entry *e = userdata;
        change_lane *queue = e->queue;

        queue->running = NULL;
        e->done(e->userdata);
        free(e);
        change_lane_dispatch(queue);
}

/* Worker thread. */
static void entry_run(void *userdata)
{
        lane_entry *e = userdata;

        e->run(e->userdata);
        loop_mailbox_post(e->owner->mailbox, entry_done, e);
}

/* The pool refused the change: it leaves its queue from the loop, as a change that ran
 * would, so that lane_enqueue never drops what it was just given. */
static void entry_refused(void *userdata)
{
        lane_entry *e = userdata;
        change_lane *queue = e->queue;

        queue->running = NULL;
        e->drop(e->userdata, LANE_REFUSED);
        free(e);
        change_lane_dispatch(queue);
}

static void change_lane_dispatch(change_lane *queue)
{
        change_lanes *d = queue->owner;
        lane_entry *e = queue->head;

        if (queue->running || d->stopped)
                return;
        if (!e) {
                change_lane_remove(d, queue);
                return;
        }
        queue->head = e->next;
        if (!queue->head)
                queue->tail = NULL;
        e->next = NULL;
        queue->running = e;
        if (worker_pool_submit(d->pool, entry_run, e) < 0)
                loop_mailbox_post(d->mailbox, entry_refused, e);
}

lane_entry *lane_enqueue(change_lanes *d, const char *key, worker_task_fn run, worker_task_fn done,
                         lane_drop_fn drop, void *userdata)
{
        change_lane *queue = NULL;
        lane_entry *e;

        for (change_lane *l = key ? d->lanes : NULL; l; l = l->next)
                if (l->key && strcmp(l->key, key) == 0) {
                        queue = l;
                        break;
                }
        if (!queue) {
                queue = xcalloc(1, sizeof(*queue));
                queue->owner = d;
                queue->key = xstrdup(key);
                queue->next = d->lanes;
                d->lanes = queue;
        }
        e = xcalloc(1, sizeof(*e));
        e->owner = d;
        e->queue = queue;
        e->run = run;
        e->done = done;
        e->drop = drop;
        e->userdata = userdata;
        if (queue->tail)
                queue->tail->next = e;
        else
                queue->head = e;
        queue->tail = e;
        change_lane_dispatch(queue);
        return e;
}

bool lane_cancel(lane_entry *entry)
{
        change_lane *queue = entry->queue;

        if (queue->running == entry)
                return false;
        for (lane_entry **p = &queue->head; *p; p = &(*p)->next)
                if (*p == entry) {
                        *p = entry->next;
                        break;
                }
        if (queue->tail == entry) {
                queue->tail = NULL;
                for (lane_entry *t = queue->head; t; t = t->next)
                        queue->tail = t;
        }
        entry->drop(entry->userdata, LANE_CANCELED);
        free(entry);
        change_lane_dispatch(queue);
        return true;
}

void change_lanes_discard_waiting(change_lanes *d)
{
        d->stopped = true;
        for (change_lane *queue = d->lanes; queue; queue = queue->next)
                while (queue->head) {
                        lane_entry *e = queue->head;

                        queue->head = e->next;
                        if (!queue->head)
                                queue->tail = NULL;
                        e->drop(e->userdata, LANE_STOPPED);
                        free(e);
                }
}

void change_lanes_discard_task(void *entry)
{
        lane_entry *e = entry;

        /* Never ran, so no end is posted: its queue is freed with the rest. */
        e->drop(e->userdata, LANE_STOPPED);
        free(e);
}

void change_lanes_free(change_lanes *d)
{
        if (!d)
                return;
        while (d->lanes) {
                change_lane *queue = d->lanes;

                while (queue->head) {
                        lane_entry *e = queue->head;

                        queue->head = e->next;
                        free(e);
                }
                change_lane_remove(d, queue);
        }
        free(d);
}
