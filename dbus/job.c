/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* job.c: the org.example.Snapshots.Job objects: their properties, Cancel(),
 * the Progress and Completed signals, and their life from JobNew to JobRemoved.
 * The engine reports progress from a worker thread; the job keeps the latest
 * report under a lock and the loop publishes it at most ten times a second. A
 * job whose engine progress counts steps publishes only the fraction: its
 * BytesDone, BytesTotal, Rate and ExpectedEndTime stay 0. */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>

#include "errors.h"
#include "job.h"
#include "lanes.h"
#include "polkit.h"
#include "readers.h"
#include "util.h"

#define PROGRESS_INTERVAL_USEC (100 * 1000ULL) /* at most ten Progress signals a second */
#define AUDIENCE_MAX 64                        /* connections a job's own signals go to */

/* A signal that cannot go out is logged, except when the bus is gone (at exit). */
static void log_emit_failure(uint32_t id, const char *what, int r)
{
        if (r < 0 && r != -ENOTCONN && r != -ECONNRESET)
                fprintf(stderr, "vmsnapd: job %" PRIu32 ": cannot signal %s: %s\n", id, what, strerror(-r));
}

struct job {
        manager *manager;
        job *next;

        /* What the bus sees; loop thread only. */
        uint32_t id;
        char *path;
        char *operation;
        char *domain;
        char *snapshot;
        char *state;
        double progress;
        bool progress_valid;
        uint64_t bytes_done, bytes_total, rate;
        uint64_t start_time, expected_end_time; /* CLOCK_REALTIME µs, 0 when unknown */
        uint32_t started_by_uid;
        bool counts_bytes; /* else the engine's done/total are steps */
        bool cancelable;
        char *error;
        char *error_name; /* org.example.Snapshots.Error.* of a failed job, "" otherwise */
        char *result;
        char **messages;
        /* The unique names its own signals go to: its starter and those that read it. */
        char **audience;
        size_t n_audience;

        /* Reported by the worker that runs the job; guarded by lock. */
        pthread_mutex_t lock;
        struct {
                uint64_t start_realtime, start_monotonic;
                bool have_progress;
                uint64_t done, total;
                char **messages;
                char **all_messages; /* every message, for the job's history entry */
                bool past_point_of_no_return;
                bool flush_posted;
        } reported;
        atomic_bool cancel_requested;
        vmsnap_hooks hooks;

        /* Loop thread only. */
        lane_entry *queued; /* its change while it waits or runs */
        bool finished;
        uint64_t start_monotonic;
        uint64_t last_progress_emit;
        sd_event_source *progress_timer;
        sd_event_source *linger_timer;
};

uint32_t job_id(const job *j)
{
        return j->id;
}

const char *job_path(const job *j)
{
        return j->path;
}

void job_set_queued(job *j, lane_entry *entry)
{
        j->queued = j->finished ? NULL : entry;
}

char **job_messages_copy(job *j)
{
        char **copy = xcalloc(1, sizeof(char *));

        pthread_mutex_lock(&j->lock);
        for (char **m = j->reported.all_messages; m && *m; m++)
                strv_push(&copy, *m);
        pthread_mutex_unlock(&j->lock);
        return copy;
}

bool job_cancel_requested(job *j)
{
        return atomic_load(&j->cancel_requested);
}

job *job_next(const job *j)
{
        return j->next;
}

job *job_find(manager *m, uint32_t id)
{
        for (job *j = m->jobs; j; j = j->next)
                if (j->id == id)
                        return j;
        return NULL;
}

static void job_free(job *j)
{
        if (!j)
                return;
        sd_event_source_disable_unref(j->progress_timer);
        sd_event_source_disable_unref(j->linger_timer);
        pthread_mutex_destroy(&j->lock);
        strv_free(j->reported.messages);
        strv_free(j->reported.all_messages);
        strv_free(j->messages);
        strv_free(j->audience);
        free(j->path);
        free(j->operation);
        free(j->domain);
        free(j->snapshot);
        free(j->state);
        free(j->error);
        free(j->error_name);
        free(j->result);
        free(j);
}

static void job_unlink(job *j)
{
        for (job **p = &j->manager->jobs; *p; p = &(*p)->next)
                if (*p == j) {
                        *p = j->next;
                        return;
                }
}

/* ---- engine hooks (worker thread) ---- */

static void job_on_reported(void *userdata);

/* Called with j->lock held: makes sure the loop will look at the new report. */
static void job_post_flush_locked(job *j)
{
        if (j->reported.flush_posted)
                return;
        j->reported.flush_posted = true;
        loop_mailbox_post(j->manager->mailbox, job_on_reported, j);
}

static void hook_progress(void *userdata, uint64_t done, uint64_t total)
{
        job *j = userdata;

        pthread_mutex_lock(&j->lock);
        j->reported.have_progress = true;
        j->reported.done = done;
        j->reported.total = total;
        job_post_flush_locked(j);
        pthread_mutex_unlock(&j->lock);
}

static void hook_message(void *userdata, const char *text)
{
        job *j = userdata;

        pthread_mutex_lock(&j->lock);
        strv_push(&j->reported.messages, text);
        strv_push(&j->reported.all_messages, text);
        job_post_flush_locked(j);
        pthread_mutex_unlock(&j->lock);
}

static bool hook_is_canceled(void *userdata)
{
        return job_cancel_requested(userdata);
}

static void hook_past_point_of_no_return(void *userdata)
{
        job *j = userdata;

        pthread_mutex_lock(&j->lock);
        j->reported.past_point_of_no_return = true;
        job_post_flush_locked(j);
        pthread_mutex_unlock(&j->lock);
}

const vmsnap_hooks *job_engine_hooks(job *j)
{
        return &j->hooks;
}

static void job_on_started(void *userdata);

void job_report_started(job *j)
{
        pthread_mutex_lock(&j->lock);
        j->reported.start_realtime = now_usec(CLOCK_REALTIME);
        j->reported.start_monotonic = now_usec(CLOCK_MONOTONIC);
        pthread_mutex_unlock(&j->lock);
        loop_mailbox_post(j->manager->mailbox, job_on_started, j);
}

/* ---- publishing (loop thread) ---- */

void job_audience_add(job *j, const char *unique_name)
{
        if (!unique_name || unique_name[0] != ':')
                return;
        for (size_t i = 0; i < j->n_audience; i++)
                if (strcmp(j->audience[i], unique_name) == 0)
                        return;
        if (j->n_audience >= AUDIENCE_MAX)
                return; /* the rest reads the properties when it wants them */
        strv_push(&j->audience, unique_name);
        j->n_audience++;
}

typedef int (*signal_body)(job *j, sd_bus_message *signal, const void *data);

/* A job's own signals are unicast to its audience, never broadcast: whoever else
 * subscribed to the job's path must not learn what it does ("who may read a job"). */
static void job_signal(job *j, const char *interface, const char *member, signal_body body, const void *data)
{
        sd_bus *bus = j->manager->bus;

        if (!bus)
                return;
        for (size_t i = 0; i < j->n_audience; i++) {
                sd_bus_message *signal = NULL;
                int r;

                r = sd_bus_message_new_signal(bus, &signal, j->path, interface, member);
                if (r >= 0)
                        r = sd_bus_message_set_destination(signal, j->audience[i]);
                if (r >= 0)
                        r = body(j, signal, data);
                if (r >= 0)
                        r = sd_bus_send(bus, signal, NULL);
                sd_bus_message_unref(signal);
                log_emit_failure(j->id, member, r);
        }
}

static const sd_bus_vtable job_vtable[];

/* Appends {name: value} for one property, read as the job vtable declares it. */
static int append_property(job *j, sd_bus_message *signal, const char *name)
{
        for (const sd_bus_vtable *v = job_vtable; v->type != _SD_BUS_VTABLE_END; v++) {
                const char *type;
                const void *field;
                int r;

                if (v->type != _SD_BUS_VTABLE_PROPERTY || strcmp(v->x.property.member, name) != 0)
                        continue;
                type = v->x.property.signature;
                field = (const char *)j + v->x.property.offset;
                r = sd_bus_message_open_container(signal, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append(signal, "s", name);
                if (r >= 0)
                        r = sd_bus_message_open_container(signal, 'v', type);
                if (r < 0)
                        return r;
                if (strcmp(type, "s") == 0)
                        r = sd_bus_message_append(signal, "s", *(char *const *)field);
                else if (strcmp(type, "u") == 0)
                        r = sd_bus_message_append(signal, "u", *(const uint32_t *)field);
                else if (strcmp(type, "t") == 0)
                        r = sd_bus_message_append(signal, "t", *(const uint64_t *)field);
                else if (strcmp(type, "d") == 0)
                        r = sd_bus_message_append(signal, "d", *(const double *)field);
                else if (strcmp(type, "b") == 0)
                        r = sd_bus_message_append(signal, "b", (int)*(const bool *)field);
                else if (strcmp(type, "as") == 0)
                        r = sd_bus_message_append_strv(signal, *(char **const *)field);
                else
                        r = -EINVAL;
                if (r >= 0)
                        r = sd_bus_message_close_container(signal);
                return r < 0 ? r : sd_bus_message_close_container(signal);
        }
        return -ENOENT;
}

static int properties_changed_body(job *j, sd_bus_message *signal, const void *data)
{
        char *const *names = data;
        int r;

        r = sd_bus_message_append(signal, "s", JOB_INTERFACE);
        if (r >= 0)
                r = sd_bus_message_open_container(signal, 'a', "{sv}");
        for (size_t i = 0; r >= 0 && names[i]; i++)
                r = append_property(j, signal, names[i]);
        if (r >= 0)
                r = sd_bus_message_close_container(signal);
        return r < 0 ? r : sd_bus_message_append(signal, "as", 0);
}

static int progress_body(job *j, sd_bus_message *signal, const void *data)
{
        return sd_bus_message_append(signal, "dtt", j->progress, j->bytes_done, j->bytes_total);
}

typedef struct completion {
        bool success;
        const char *message;
} completion;

static int completed_body(job *j, sd_bus_message *signal, const void *data)
{
        const completion *outcome = data;

        return sd_bus_message_append(signal, "bs", outcome->success,
                                     outcome->message ? outcome->message : "");
}

static void emit_changed(job *j, char **names)
{
        if (!names || !names[0])
                return;
        job_signal(j, "org.freedesktop.DBus.Properties", "PropertiesChanged", properties_changed_body,
                   names);
}

static void job_on_started(void *userdata)
{
        job *j = userdata;
        char *changed[] = {"State", "StartTime", NULL};

        if (j->finished)
                return;
        pthread_mutex_lock(&j->lock);
        j->start_time = j->reported.start_realtime;
        j->start_monotonic = j->reported.start_monotonic;
        pthread_mutex_unlock(&j->lock);
        string_update(&j->state, "running");
        emit_changed(j, changed);
}

/* Takes the latest report and makes it what the bus sees: Progress never goes
 * back, even when the engine learns that the total is larger than it thought. */
static void job_publish_progress(job *j)
{
        char **changed = NULL, **new_messages;
        bool have_progress;
        uint64_t done, total, now = now_usec(CLOCK_MONOTONIC);

        pthread_mutex_lock(&j->lock);
        have_progress = j->reported.have_progress;
        done = j->reported.done;
        total = j->reported.total;
        new_messages = j->reported.messages;
        j->reported.messages = NULL;
        bool past_point_of_no_return = j->reported.past_point_of_no_return;
        pthread_mutex_unlock(&j->lock);

        /* Past its point of no return a job completes whatever happens: Cancel can no longer stop it. */
        if (past_point_of_no_return && j->cancelable) {
                j->cancelable = false;
                strv_push(&changed, "Cancelable");
        }

        for (char **m = new_messages; m && *m; m++)
                strv_push(&j->messages, *m);
        if (new_messages)
                strv_push(&changed, "Messages");
        strv_free(new_messages);

        if (have_progress) {
                double fraction = total > 0 ? (double)(done < total ? done : total) / (double)total : 0.0;
                bool valid = total > 0;
                uint64_t bytes_done = 0, bytes_total = 0, rate = 0, expected_end = 0;

                if (fraction < j->progress)
                        fraction = j->progress;
                if (j->counts_bytes) {
                        bytes_done = done > j->bytes_done ? done : j->bytes_done;
                        bytes_total = total;
                        if (j->start_monotonic > 0 && now > j->start_monotonic)
                                rate = (uint64_t)((double)bytes_done * 1e6 /
                                                  (double)(now - j->start_monotonic));
                        if (rate > 0 && bytes_total > bytes_done)
                                expected_end =
                                        now_usec(CLOCK_REALTIME) +
                                        (uint64_t)((double)(bytes_total - bytes_done) * 1e6 / (double)rate);
                }

                bool progress_changed = fraction != j->progress || bytes_done != j->bytes_done ||
                                        bytes_total != j->bytes_total;
                if (fraction != j->progress)
                        strv_push(&changed, "Progress");
                if (valid != j->progress_valid)
                        strv_push(&changed, "ProgressValid");
                if (bytes_done != j->bytes_done)
                        strv_push(&changed, "BytesDone");
                if (bytes_total != j->bytes_total)
                        strv_push(&changed, "BytesTotal");
                if (rate != j->rate)
                        strv_push(&changed, "Rate");
                if (expected_end != j->expected_end_time)
                        strv_push(&changed, "ExpectedEndTime");
                j->progress = fraction;
                j->progress_valid = valid;
                j->bytes_done = bytes_done;
                j->bytes_total = bytes_total;
                j->rate = rate;
                j->expected_end_time = expected_end;

                if (progress_changed)
                        job_signal(j, JOB_INTERFACE, "Progress", progress_body, NULL);
        }
        emit_changed(j, changed);
        strv_free(changed);
        j->last_progress_emit = now;
}

static int job_on_progress_timer(sd_event_source *source, uint64_t usec, void *userdata)
{
        job_publish_progress(userdata);
        return 0;
}

static void job_on_reported(void *userdata)
{
        job *j = userdata;
        uint64_t now = now_usec(CLOCK_MONOTONIC), due;
        int enabled = SD_EVENT_OFF, r;

        pthread_mutex_lock(&j->lock);
        j->reported.flush_posted = false;
        pthread_mutex_unlock(&j->lock);
        if (j->finished)
                return;

        if (j->progress_timer)
                (void)sd_event_source_get_enabled(j->progress_timer, &enabled);
        if (enabled != SD_EVENT_OFF)
                return; /* the pending emission will take this report too */

        due = j->last_progress_emit + PROGRESS_INTERVAL_USEC;
        if (j->last_progress_emit == 0 || now >= due) {
                job_publish_progress(j);
                return;
        }
        if (!j->progress_timer) {
                r = sd_event_add_time(j->manager->event, &j->progress_timer, CLOCK_MONOTONIC, due, 0,
                                      job_on_progress_timer, j);
                if (r < 0) {
                        job_publish_progress(j); /* better too often than never */
                        return;
                }
                (void)sd_event_source_set_description(j->progress_timer, "job-progress");
        } else
                (void)sd_event_source_set_time(j->progress_timer, due);
        (void)sd_event_source_set_enabled(j->progress_timer, SD_EVENT_ONESHOT);
}

/* ---- end of life ---- */

static const char *outcome_name(job_outcome outcome)
{
        switch (outcome) {
        case JOB_DONE:
                return "done";
        case JOB_CANCELED:
                return "canceled";
        case JOB_FAILED:
        default:
                return "failed";
        }
}

static void job_remove(job *j)
{
        manager *m = j->manager;
        int r;

        if (m->bus) {
                r = sd_bus_emit_signal(m->bus, SNAPSHOTS_OBJECT_PATH, SNAPSHOTS_INTERFACE, "JobRemoved",
                                       "uos", j->id, j->path, j->state);
                log_emit_failure(j->id, "its removal", r);
        }
        job_unlink(j);
        job_free(j);
}

static int job_on_linger_end(sd_event_source *source, uint64_t usec, void *userdata)
{
        job_remove(userdata);
        return 0;
}

void job_finish(job *j, job_outcome outcome, const char *error_name, const char *error, const char *result,
                const char *snapshot, const char *summary)
{
        char **changed = NULL;
        int r;

        if (j->finished)
                return;
        sd_event_source_set_enabled(j->progress_timer, SD_EVENT_OFF);
        job_publish_progress(j);
        j->finished = true;
        j->queued = NULL;

        if (outcome == JOB_DONE && (!j->progress_valid || j->progress < 1.0)) {
                /* Done is all of it, whatever the engine last said. */
                j->progress = 1.0;
                strv_push(&changed, "Progress");
                if (!j->progress_valid) {
                        j->progress_valid = true;
                        strv_push(&changed, "ProgressValid");
                }
                if (j->bytes_total > j->bytes_done) {
                        j->bytes_done = j->bytes_total;
                        strv_push(&changed, "BytesDone");
                }
                job_signal(j, JOB_INTERFACE, "Progress", progress_body, NULL);
        }
        if (string_update(&j->state, outcome_name(outcome)))
                strv_push(&changed, "State");
        if (j->expected_end_time != 0 || j->rate != 0) {
                j->expected_end_time = 0;
                j->rate = 0;
                strv_push(&changed, "ExpectedEndTime");
                strv_push(&changed, "Rate");
        }
        if (j->cancelable) {
                j->cancelable = false;
                strv_push(&changed, "Cancelable");
        }
        if (outcome != JOB_DONE && string_update(&j->error, error))
                strv_push(&changed, "Error");
        if (outcome == JOB_FAILED &&
            string_update(&j->error_name, error_name ? error_name : BUS_ERROR_FAILED))
                strv_push(&changed, "ErrorName");
        if (result && string_update(&j->result, result))
                strv_push(&changed, "Result");
        if (snapshot && string_update(&j->snapshot, snapshot))
                strv_push(&changed, "Snapshot");
        emit_changed(j, changed);
        strv_free(changed);

        job_signal(j, JOB_INTERFACE, "Completed", completed_body,
                   &(completion){.success = outcome == JOB_DONE,
                                 .message = outcome == JOB_DONE ? summary : error});

        if (j->manager->stopping)
                return;
        r = sd_event_add_time_relative(j->manager->event, &j->linger_timer, CLOCK_MONOTONIC,
                                       j->manager->job_linger_usec, 0, job_on_linger_end, j);
        if (r < 0) {
                fprintf(stderr, "vmsnapd: job %" PRIu32 " cannot linger (%s); removing it now\n", j->id,
                        strerror(-r));
                job_remove(j);
                return;
        }
        (void)sd_event_source_set_description(j->linger_timer, "job-linger");
}

void job_cancel(job *j)
{
        if (j->finished)
                return;
        atomic_store(&j->cancel_requested, true);
        if (j->queued)
                (void)lane_cancel(j->queued);
}

int job_new(manager *m, const char *operation, const char *domain, const char *snapshot, uid_t started_by,
            const char *starter, bool counts_bytes, job **ret)
{
        job *j = xcalloc(1, sizeof(*j));
        int r;

        j->manager = m;
        j->id = ++m->last_job_id;
        j->path = xasprintf(JOB_PATH_PREFIX "/%" PRIu32, j->id);
        j->operation = xstrdup(strempty(operation));
        j->domain = xstrdup(strempty(domain));
        j->snapshot = xstrdup(strempty(snapshot));
        j->state = xstrdup("queued");
        j->error = xstrdup("");
        j->error_name = xstrdup("");
        j->result = xstrdup("");
        j->messages = xcalloc(1, sizeof(char *));
        j->started_by_uid = (uint32_t)started_by;
        j->counts_bytes = counts_bytes;
        j->cancelable = true;
        job_audience_add(j, starter);
        pthread_mutex_init(&j->lock, NULL);
        j->hooks = (vmsnap_hooks){
                .progress = hook_progress,
                .message = hook_message,
                .is_canceled = hook_is_canceled,
                .userdata = j,
                .past_point_of_no_return = hook_past_point_of_no_return,
        };

        /* Kept in creation order, which is what ListJobs answers. */
        job **tail = &m->jobs;
        while (*tail)
                tail = &(*tail)->next;
        *tail = j;

        r = sd_bus_emit_signal(m->bus, SNAPSHOTS_OBJECT_PATH, SNAPSHOTS_INTERFACE, "JobNew", "uo", j->id,
                               j->path);
        if (r < 0) {
                job_unlink(j);
                job_free(j);
                return r;
        }
        *ret = j;
        return 0;
}

void job_cancel_all(manager *m)
{
        for (job *j = m->jobs; j; j = j->next)
                if (!j->finished)
                        atomic_store(&j->cancel_requested, true);
}

void job_free_all(manager *m)
{
        while (m->jobs) {
                job *j = m->jobs;
                m->jobs = j->next;
                job_free(j);
        }
}

/* ---- what a caller other than a job's starter asks polkit first ---- */

/* A held call (a Cancel, or a read of a job's object) that polkit decides in a request
 * worker (ask); reply answers it on the loop and frees it. */
typedef struct job_authorization {
        manager *manager;
        sd_bus_message *message;
        const char *action;
        char *sender;
        char *domain;
        char *snapshot; /* NULL: the action is on the domain */
        bool interactive;
        uint32_t job_id;
        void (*reply)(void *userdata);
        const char *shutdown_sentence; /* the answer when it is never asked */
        polkit_answer answer;
        char reason[512];
} job_authorization;

static void job_authorization_free(job_authorization *request)
{
        sd_bus_message_unref(request->message);
        free(request->sender);
        free(request->domain);
        free(request->snapshot);
        free(request);
}

static void job_authorization_ask(void *userdata)
{
        job_authorization *request = userdata;

        request->answer = polkit_check(request->sender, request->action, request->domain, request->snapshot,
                                       request->interactive, request->reason, sizeof(request->reason));
        loop_mailbox_post(request->manager->mailbox, request->reply, request);
}

static void job_authorization_discard(void *userdata)
{
        job_authorization *request = userdata;

        (void)sd_bus_reply_method_errorf(request->message, BUS_ERROR_FAILED, "%s",
                                         request->shutdown_sentence);
        job_authorization_free(request);
}

/* Queues the question in the caller's request lane; if the lane does not take it, it is
 * freed and error says why. */
static int job_authorization_submit(job_authorization *request, uid_t uid, sd_bus_error *error)
{
        manager *m = request->manager;
        int r;

        manager_work_begin(m);
        r = lanes_submit(m->request_lanes, uid, job_authorization_ask, job_authorization_discard, request);
        if (r < 0) {
                manager_work_end(m);
                job_authorization_free(request);
                return manager_request_refusal(m, uid, r, error);
        }
        return 0;
}

/* ---- Cancel() ---- */

/* A Cancel() by someone else than the job's starter: polkit decides in a worker. */
static void cancel_request_answer(void *userdata)
{
        job_authorization *request = userdata;
        manager *m = request->manager;
        job *j = job_find(m, request->job_id);

        switch (request->answer) {
        case POLKIT_ANSWER_ALLOWED:
                if (j)
                        job_cancel(j);
                (void)sd_bus_reply_method_return(request->message, NULL);
                break;
        case POLKIT_ANSWER_CHALLENGE:
                (void)sd_bus_reply_method_errorf(
                        request->message, BUS_ERROR_NOT_AUTHORIZED,
                        "Authentication is required to cancel job %" PRIu32
                        ", which another user started; call again with an authentication agent "
                        "running and interactive authorization allowed",
                        request->job_id);
                break;
        case POLKIT_ANSWER_DENIED:
                (void)sd_bus_reply_method_errorf(request->message, BUS_ERROR_NOT_AUTHORIZED,
                                                 "You are not allowed to cancel job %" PRIu32
                                                 ", which another user started",
                                                 request->job_id);
                break;
        case POLKIT_ANSWER_UNAVAILABLE:
                (void)sd_bus_reply_method_errorf(request->message, BUS_ERROR_NOT_AUTHORIZED,
                                                 "Cannot cancel job %" PRIu32 ": %s", request->job_id,
                                                 request->reason);
                break;
        }
        job_authorization_free(request);
        manager_work_end(m);
}

static int method_cancel(sd_bus_message *message, void *userdata, sd_bus_error *error)
{
        job *j = userdata;
        manager *m = j->manager;
        job_authorization *request;
        uid_t uid;
        int r;

        r = manager_caller_uid(m, message, &uid);
        if (r < 0)
                return sd_bus_error_setf(error, BUS_ERROR_NOT_AUTHORIZED,
                                         "Cannot tell who is asking to cancel job %" PRIu32 ": %s", j->id,
                                         strerror(-r));
        if (uid == 0 || uid == (uid_t)j->started_by_uid) {
                job_cancel(j);
                return sd_bus_reply_method_return(message, NULL);
        }

        request = xcalloc(1, sizeof(*request));
        request->manager = m;
        request->message = sd_bus_message_ref(message);
        request->action = "org.example.snapshots.manage-jobs";
        request->sender = xstrdup(strempty(sd_bus_message_get_sender(message)));
        request->domain = xstrdup(strempty(j->domain));
        request->snapshot = xstrdup(strempty(j->snapshot));
        request->interactive = sd_bus_message_get_allow_interactive_authorization(message) > 0;
        request->job_id = j->id;
        request->reply = cancel_request_answer;
        request->shutdown_sentence = "vmsnapd is shutting down; the job was not canceled";
        r = job_authorization_submit(request, uid, error);
        return r < 0 ? r : 1;
}

/* ---- properties and objects ---- */

static int property_get_bool(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        return sd_bus_message_append(reply, "b", (int)*(bool *)userdata);
}

static int property_get_strv(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        return sd_bus_message_append_strv(reply, *(char ***)userdata);
}

/* ---- who may read a job ----
 *
 * A job's properties and introspection are readable by its starter, by root, and by
 * callers whom polkit allows org.example.snapshots.read for the job's domain; anyone
 * else gets NotAuthorized with the same sentence whether the job exists or not.
 *
 * sd-bus answers property reads on the loop thread, inside job_object_find, which must
 * decide at once, while polkit's answer takes a round trip that must never block the
 * loop. So the decision is made in two steps:
 *  - starter and root are answered at once (the caller's UID is cached per unique name);
 *  - for anyone else a bus filter, which sees every message before sd-bus dispatches
 *    it, holds a message to a job object whose (caller, domain) has no recent answer,
 *    asks polkit in a request worker (through the caller's lane, so a flood of reads
 *    waits in its own queue), remembers the answer (readers.c: per unique name and
 *    domain, for 10 s) and hands the message back to sd-bus
 *    (sd_bus_enqueue_for_read), as systemd's bus_verify_polkit_async does;
 *  - job_object_find then reads the remembered answer.
 * ListJobs asks the same question for the domains of the jobs it may list, in its
 * request worker, and lists only the jobs the caller may read.
 *
 * Signals: JobNew and JobRemoved are broadcast on purpose and carry only the id and
 * path (and JobRemoved how the job ended), which tells that some job exists and
 * nothing about it. The job's own signals (PropertiesChanged, Progress, Completed) are
 * unicast to its audience: the connection that started it, and each connection that
 * was allowed to read it (a property, its introspection, Cancel, or ListJobs), at
 * most AUDIENCE_MAX of them. A subscriber that never read the job hears nothing;
 * one that reads it after JobNew hears every change from then on. */

/* The job a path names, or NULL (also for paths that are not job paths). */
static job *job_from_path(manager *m, const char *path, bool *is_job_path)
{
        const char *id_text;
        char *end;
        unsigned long id;

        *is_job_path = false;
        if (strncmp(path, JOB_PATH_PREFIX "/", strlen(JOB_PATH_PREFIX "/")) != 0)
                return NULL;
        id_text = path + strlen(JOB_PATH_PREFIX "/");
        if (*id_text < '1' || *id_text > '9')
                return NULL;
        errno = 0;
        id = strtoul(id_text, &end, 10);
        if (errno != 0 || *end != '\0' || id > UINT32_MAX)
                return NULL;
        *is_job_path = true;
        return job_find(m, (uint32_t)id);
}

const char *job_domain(const job *j)
{
        return j->domain;
}

uid_t job_started_by(const job *j)
{
        return (uid_t)j->started_by_uid;
}

bool job_readable_by(manager *m, const job *j, uid_t uid, const char *sender)
{
        if (uid == 0 || uid == (uid_t)j->started_by_uid)
                return true;
        return readers_lookup(m->readers, sender, j->domain) == 1;
}

static void read_request_answer(void *userdata)
{
        job_authorization *request = userdata;
        manager *m = request->manager;
        int r;

        if (request->answer == POLKIT_ANSWER_UNAVAILABLE) {
                (void)sd_bus_reply_method_errorf(request->message, BUS_ERROR_NOT_AUTHORIZED,
                                                 "Cannot check whether you may read %s: %s",
                                                 sd_bus_message_get_path(request->message), request->reason);
        } else {
                readers_remember(m->readers, request->sender, request->domain,
                                 request->answer == POLKIT_ANSWER_ALLOWED);
                /* Dispatched again: the filter now lets it pass and job_object_find decides. */
                r = sd_bus_enqueue_for_read(m->bus, request->message);
                if (r < 0)
                        (void)sd_bus_reply_method_errorf(request->message, BUS_ERROR_FAILED,
                                                         "vmsnapd cannot answer the read of %s now: %s",
                                                         sd_bus_message_get_path(request->message),
                                                         strerror(-r));
        }
        job_authorization_free(request);
        manager_work_end(m);
}

static int job_access_filter(sd_bus_message *message, void *userdata, sd_bus_error *ret_error)
{
        manager *m = userdata;
        const char *path = sd_bus_message_get_path(message), *sender = sd_bus_message_get_sender(message);
        uint8_t type = 0;
        bool is_job_path;
        _cleanup_(sd_bus_error_free) sd_bus_error refusal = SD_BUS_ERROR_NULL;
        job_authorization *request;
        job *j;
        uid_t uid;

        if (sd_bus_message_get_type(message, &type) < 0 || type != SD_BUS_MESSAGE_METHOD_CALL || !path ||
            !sender)
                return 0;
        j = job_from_path(m, path, &is_job_path);
        if (!j)
                return 0; /* job_object_find answers */
        if (manager_caller_uid(m, message, &uid) < 0 || uid == 0 || uid == (uid_t)j->started_by_uid ||
            readers_lookup(m->readers, sender, j->domain) >= 0)
                return 0;

        request = xcalloc(1, sizeof(*request));
        request->manager = m;
        request->message = sd_bus_message_ref(message);
        request->action = "org.example.snapshots.read";
        request->sender = xstrdup(strempty(sender));
        request->domain = xstrdup(strempty(j->domain));
        request->reply = read_request_answer;
        request->shutdown_sentence = "vmsnapd is shutting down";
        if (job_authorization_submit(request, uid, &refusal) < 0)
                (void)sd_bus_reply_method_error(message, &refusal);
        return 1; /* held until polkit answers */
}

static int job_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                           void **found, sd_bus_error *error)
{
        manager *m = userdata;
        sd_bus_message *message = sd_bus_get_current_message(bus);
        bool is_job_path;
        uid_t uid;
        job *j;

        j = job_from_path(m, path, &is_job_path);
        if (!is_job_path)
                return 0;
        /* A call not about this object (the daemon's own lookups) reads freely. */
        if (!message || !sd_bus_message_get_path(message) ||
            strcmp(sd_bus_message_get_path(message), path) != 0) {
                if (!j)
                        return 0;
                *found = j;
                return 1;
        }
        if (manager_caller_uid(m, message, &uid) < 0)
                return sd_bus_error_setf(error, BUS_ERROR_NOT_AUTHORIZED, "Cannot tell who is asking for %s",
                                         path);
        if (j && job_readable_by(m, j, uid, sd_bus_message_get_sender(message))) {
                job_audience_add(j, sd_bus_message_get_sender(message));
                *found = j;
                return 1;
        }
        if (!j && uid == 0)
                return 0; /* root may learn that a job is gone: UnknownObject */
        /* The same sentence whether the job exists or not. */
        return sd_bus_error_setf(error, BUS_ERROR_NOT_AUTHORIZED, "There is no job %s that you may read",
                                 path);
}

static int job_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                               sd_bus_error *error)
{
        manager *m = userdata;
        sd_bus_message *message = sd_bus_get_current_message(bus);
        char **list = xcalloc(1, sizeof(char *));
        uid_t uid = 0;

        if (message && manager_caller_uid(m, message, &uid) < 0) {
                *nodes = list; /* nobody known: nothing to show */
                return 1;
        }
        for (job *j = m->jobs; j; j = j->next)
                if (!message || job_readable_by(m, j, uid, sd_bus_message_get_sender(message)))
                        strv_push(&list, j->path);
        *nodes = list;
        return 1;
}

#define JOB_PROPERTY(name, signature, field, flags)                                                         \
        SD_BUS_PROPERTY(name, signature, NULL, offsetof(job, field), flags)
#define JOB_PROPERTY_CUSTOM(name, signature, getter, field, flags)                                          \
        SD_BUS_PROPERTY(name, signature, getter, offsetof(job, field), flags)

static const sd_bus_vtable job_vtable[] = {
        SD_BUS_VTABLE_START(0),
        JOB_PROPERTY("Id", "u", id, SD_BUS_VTABLE_PROPERTY_CONST),
        JOB_PROPERTY("Operation", "s", operation, SD_BUS_VTABLE_PROPERTY_CONST),
        JOB_PROPERTY("Domain", "s", domain, SD_BUS_VTABLE_PROPERTY_CONST),
        JOB_PROPERTY("Snapshot", "s", snapshot, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        JOB_PROPERTY("State", "s", state, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        JOB_PROPERTY("Progress", "d", progress, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        JOB_PROPERTY_CUSTOM("ProgressValid", "b", property_get_bool, progress_valid,
                            SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        JOB_PROPERTY("BytesDone", "t", bytes_done, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        JOB_PROPERTY("BytesTotal", "t", bytes_total, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        JOB_PROPERTY("Rate", "t", rate, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        JOB_PROPERTY("StartTime", "t", start_time, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        JOB_PROPERTY("ExpectedEndTime", "t", expected_end_time, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        JOB_PROPERTY("StartedByUID", "u", started_by_uid, SD_BUS_VTABLE_PROPERTY_CONST),
        JOB_PROPERTY_CUSTOM("Cancelable", "b", property_get_bool, cancelable,
                            SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        JOB_PROPERTY("Error", "s", error, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        JOB_PROPERTY("ErrorName", "s", error_name, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        JOB_PROPERTY("Result", "s", result, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        JOB_PROPERTY_CUSTOM("Messages", "as", property_get_strv, messages,
                            SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("Cancel", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_cancel,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("Progress", SD_BUS_ARGS("d", fraction, "t", done, "t", total), 0),
        SD_BUS_SIGNAL_WITH_ARGS("Completed", SD_BUS_ARGS("b", success, "s", message), 0),
        SD_BUS_VTABLE_END,
};

int job_objects_register(manager *m)
{
        int r;

        r = sd_bus_add_fallback_vtable(m->bus, &m->job_slot, JOB_PATH_PREFIX, JOB_INTERFACE, job_vtable,
                                       job_object_find, m);
        if (r < 0)
                return r;
        r = sd_bus_add_node_enumerator(m->bus, &m->job_enumerator_slot, JOB_PATH_PREFIX, job_node_enumerator,
                                       m);
        if (r < 0)
                return r;
        return sd_bus_add_filter(m->bus, &m->job_filter_slot, job_access_filter, m);
}
