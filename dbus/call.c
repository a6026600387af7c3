/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* call.c: the life of a method call: authorization (polkit, in a request
 * worker), the checks and reads done there, a change's turn in its domain's
 * queue (lanes.h), and the reply from the loop thread. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "audit.h"
#include "call.h"
#include "errors.h"
#include "job.h"
#include "lanes.h"
#include "polkit.h"
#include "util.h"

/* ---- calls ---- */

void call_free(call *c)
{
        if (!c)
                return;
        sd_bus_message_unref(c->message);
        free(c->sender);
        free(c->domain);
        free(c->snapshot);
        free(c->name);
        free(c->text);
        strv_free(c->disks);
        strv_free(c->preview_targets);
        strv_free(c->preview_snapshots);
        free(c->clone.target_dir);
        free(c->clone.pool);
        free(c->clone.format);
        clone_disk_list_clear(&c->clone.disks);
        free(c->domain_name);
        free(c->domain_uuid);
        free(c->snapshot_name);
        free(c->error_message);
        vmsnap_domain_info_array_free(c->domains, c->n_domains);
        vmsnap_snapshot_info_array_free(c->snapshots, c->n_snapshots);
        vmsnap_snapshot_info_clear(&c->snapshot_info);
        free(c->xml);
        vmsnap_image_info_array_free(c->images, c->n_images);
        free(c->new_name);
        vmsnap_history_entry_array_free(c->history, c->n_history);
        strv_free(c->read_domains);
        free(c->read_allowed);
        free(c);
}

void call_freep(call **c)
{
        call_free(*c);
}

void call_fail(call *c, const char *error_name, const char *message)
{
        if (c->error_name)
                return; /* the first failure is the one to report */
        c->error_name = error_name;
        c->error_message = xstrdup(strempty(message));
}

void call_fail_engine(call *c, const vmsnap_error *error)
{
        c->canceled = error->kind == VMSNAP_ERROR_CANCELED;
        call_fail(c, bus_error_name_from_kind(error->kind),
                  error->message[0] ? error->message : "the operation failed for an unknown reason");
}

/* The domain as the engine should see it: its UUID once known. */
const char *call_domain(const call *c)
{
        return c->domain_uuid ? c->domain_uuid : c->domain;
}

/* The domain as a person reads it. */
const char *call_domain_name(const call *c)
{
        return c->domain_name ? c->domain_name : c->domain;
}

const char *call_snapshot_name(const call *c)
{
        return c->snapshot_name ? c->snapshot_name : c->snapshot ? c->snapshot : "";
}

int call_new(manager *m, sd_bus_message *message, const method_spec *method, call **ret, sd_bus_error *error)
{
        _cleanup_(call_freep) call *c = xcalloc(1, sizeof(*c));
        int r;

        c->manager = m;
        c->method = method;
        c->message = sd_bus_message_ref(message);
        c->sender = xstrdup(strempty(sd_bus_message_get_sender(message)));
        c->interactive = sd_bus_message_get_allow_interactive_authorization(message) > 0;
        r = manager_caller_uid(m, message, &c->uid);
        if (r < 0)
                return sd_bus_error_setf(error, BUS_ERROR_NOT_AUTHORIZED,
                                         "Cannot tell who is calling %s: %s", method->member, strerror(-r));
        *ret = TAKE_PTR(c);
        return 0;
}

/* ---- authorization (request worker) ---- */

static void call_resolve(call *c)
{
        vmsnap_domain_info domain = {0};
        vmsnap_snapshot_info snapshot = {0};
        manager *m = c->manager;

        if (!c->domain)
                return;
        /* Who the domain and snapshot are, not their sizes: a stat of each of the domain's files,
         * or the merges a delete would make, would come first. */
        if (vmsnap_domain_identify(m->engine, c->domain, c->method->undefined_domains, &domain,
                                   &c->resolve_error) < 0)
                return;
        c->domain_name = xstrdup(strempty(domain.name));
        c->domain_uuid = xstrdup(strempty(domain.uuid));
        vmsnap_domain_info_clear(&domain);
        if (!c->snapshot)
                return;
        vmsnap_error *error = &c->resolve_error;
        if (vmsnap_snapshot_identify(m->engine, c->domain_uuid, c->snapshot, &snapshot, error) < 0)
                return;
        c->snapshot_name = xstrdup(strempty(snapshot.name));
        vmsnap_snapshot_info_clear(&snapshot);
}

static bool call_authorize(call *c)
{
        const method_spec *method = c->method;
        /* polkit's rules see the domain's name; a refusal echoes what the caller gave, so that
         * a caller who named the domain by UUID does not learn its name from the refusal. */
        const char *domain = c->domain;
        char reason[512], sentence[1024];

        if (c->uid == 0)
                return true; /* root is not asked about, as polkit itself would answer yes */

        switch (polkit_check(c->sender, method->action, c->domain ? call_domain_name(c) : NULL,
                             c->snapshot ? call_snapshot_name(c) : NULL, c->interactive, reason,
                             sizeof(reason))) {
        case POLKIT_ANSWER_ALLOWED:
                return true;
        case POLKIT_ANSWER_DENIED:
                snprintf(sentence, sizeof(sentence), "You are not allowed to %s%s%s", method->phrase,
                         domain ? " " : "", domain ? domain : "");
                break;
        case POLKIT_ANSWER_CHALLENGE:
                snprintf(sentence, sizeof(sentence),
                         "Authentication is required to %s%s%s; call again with an authentication agent "
                         "running and interactive authorization allowed",
                         method->phrase, domain ? " " : "", domain ? domain : "");
                break;
        case POLKIT_ANSWER_UNAVAILABLE:
        default:
                snprintf(sentence, sizeof(sentence), "Cannot check whether you may %s%s%s: %s",
                         method->phrase, domain ? " " : "", domain ? domain : "", reason);
                break;
        }
        call_fail(c, BUS_ERROR_NOT_AUTHORIZED, sentence);
        return false;
}

static void request_done(void *userdata);

static void request_task(void *userdata)
{
        call *c = userdata;

        /* Resolved first so that polkit rules see the domain's name whatever the caller
         * gave, but reported only after authorization: a caller who may not read a
         * domain does not learn whether it exists. */
        call_resolve(c);
        if (call_authorize(c)) {
                if (c->resolve_error.code < 0 &&
                    !(c->method->answers_undefined && c->resolve_error.kind == VMSNAP_ERROR_NOT_FOUND))
                        call_fail_engine(c, &c->resolve_error);
                if (!c->error_name && c->method->check)
                        c->method->check(c);
                if (!c->error_name && c->method->kind == METHOD_READ && c->method->act)
                        c->method->act(c);
        }
        loop_mailbox_post(c->manager->mailbox, request_done, c);
}

/* ---- replies (loop) ---- */

/* Copies text for a log line with control characters (a newline in a domain argument)
 * made visible, so that one refusal stays one line. */
static void log_safe(char *out, size_t size, const char *text)
{
        size_t n = 0;

        for (const char *p = text ? text : ""; *p && n + 5 < size; p++) {
                unsigned char ch = (unsigned char)*p;
                if (ch < 0x20 || ch == 0x7f)
                        n += (size_t)snprintf(out + n, size - n, "\\x%02x", ch);
                else
                        out[n++] = (char)ch;
        }
        out[n] = '\0';
}

/* One line on stderr (the journal) for every change refused or failed: method, domain,
 * caller's UID, error name and sentence. Reads are not logged: they change nothing; nor is
 * a change whose structured entry already went to the journal that stderr is (audit.h). */
static void call_log_failure(const call *c)
{
        char domain[256], message[1024], job_text[32] = "";

        if (c->method->kind == METHOD_READ || !c->error_name || c->canceled || c->journaled)
                return;
        log_safe(domain, sizeof(domain), c->domain ? call_domain_name(c) : "");
        log_safe(message, sizeof(message), c->error_message);
        if (c->job)
                snprintf(job_text, sizeof(job_text), " (job %" PRIu32 ")", job_id(c->job));
        fprintf(stderr, "vmsnapd: %s of %s by uid %u%s failed: %s: %s\n", c->method->member, domain,
                (unsigned)c->uid, job_text, c->error_name, message);
}

static void call_reply(call *c)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        if (c->error_name) {
                call_log_failure(c);
                r = sd_bus_reply_method_errorf(c->message, c->error_name, "%s", c->error_message);
                goto out;
        }
        r = sd_bus_message_new_method_return(c->message, &reply);
        if (r >= 0 && c->method->reply)
                r = c->method->reply(c, reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        if (r < 0)
                r = sd_bus_reply_method_errorf(c->message, BUS_ERROR_FAILED,
                                               "Cannot build the reply to %s: %s", c->method->member,
                                               strerror(-r));
out:
        /* A caller that left before its answer is not an error of the daemon. */
        if (r < 0 && r != -ENOTCONN && r != -ECONNRESET)
                fprintf(stderr, "vmsnapd: cannot reply to %s from %s: %s\n", c->method->member, c->sender,
                        strerror(-r));
}

static void call_reply_shutting_down(call *c)
{
        call_fail(c, BUS_ERROR_FAILED, "vmsnapd is shutting down; nothing was changed");
        call_reply(c);
}

/* Reports a finished change: as the job's outcome, or as the reply. */
static void call_finish_change(call *c)
{
        char summary[1024] = "";

        if (!c->job) {
                call_reply(c);
                return;
        }
        if (!c->error_name) {
                if (c->method->summarize)
                        c->method->summarize(c, summary, sizeof(summary));
                /* Only Create learns its snapshot's name now; a clone's job keeps the snapshot it
                 * copied, and the new domain's name is its Result. */
                job_finish(c->job, JOB_DONE, NULL, NULL, c->new_name, c->snapshot ? NULL : c->new_name,
                           summary);
        } else {
                call_log_failure(c);
                job_finish(c->job, c->canceled ? JOB_CANCELED : JOB_FAILED, c->error_name, c->error_message,
                           NULL, NULL, NULL);
        }
}

/* ---- changes, in their domain's queue (lanes.h) ---- */

/* Worker thread: the change's history and journal entry (audit.h). */
static bool call_audit(call *c)
{
        const char *operation = c->method->operation ? c->method->operation : c->method->member;
        char **messages = c->job ? job_messages_copy(c->job) : xcalloc(1, sizeof(char *));
        const char *snapshot;
        char made[1024] = "";
        bool journaled;

        /* The snapshot as it was named when the change ended: a Create's new snapshot,
         * else the one the call named (Rename: its name before). */
        if (!c->error_name && c->new_name && !c->snapshot)
                snapshot = c->new_name;
        else if (c->snapshot)
                snapshot = call_snapshot_name(c);
        else
                snapshot = c->name ? c->name : "";
        /* What the change made is named in the history too. */
        if (!c->error_name && strcmp(operation, "clone") == 0 && c->new_name)
                snprintf(made, sizeof(made), "the new domain is \"%s\"", c->new_name);
        else if (!c->error_name && strcmp(operation, "rename") == 0 && c->name)
                snprintf(made, sizeof(made), "the new name is \"%s\"", c->name);
        if (made[0])
                strv_push(&messages, made);

        vmsnap_history_entry entry = {
                .time_usec = now_usec(CLOCK_REALTIME),
                .operation = (char *)operation,
                .snapshot = (char *)snapshot,
                .uid = (uint32_t)c->uid,
                .result = (char *)(!c->error_name ? "done"
                                   : c->canceled  ? "canceled"
                                                  : "failed"),
                .error = c->error_message ? c->error_message : (char *)"",
                .error_name = (char *)(c->error_name && !c->canceled ? c->error_name : ""),
                .messages = messages,
        };
        journaled = audit_record(c->manager->engine, &(audit_change){
                                                             .domain_name = call_domain_name(c),
                                                             .domain_uuid = call_domain(c),
                                                             .job_id = c->job ? job_id(c->job) : 0,
                                                             .entry = &entry,
                                                     });
        strv_free(messages);
        return journaled;
}

/* Worker thread, in the change's turn. */
static void change_task(void *userdata)
{
        call *c = userdata;

        if (c->job && job_cancel_requested(c->job)) {
                c->canceled = true;
                call_fail(c, BUS_ERROR_FAILED,
                          "the job was canceled before it started; nothing was changed");
        } else {
                if (c->job)
                        job_report_started(c->job);
                c->method->act(c);
        }
        c->journaled = call_audit(c);
}

static void change_done(void *userdata)
{
        call *c = userdata;
        manager *m = c->manager;

        call_finish_change(c);
        call_free(c);
        manager_work_end(m);
}

/* A change that left its queue without running. */
static void change_dropped(void *userdata, lane_drop_reason reason)
{
        call *c = userdata;
        manager *m = c->manager;

        switch (reason) {
        case LANE_CANCELED:
                job_finish(c->job, JOB_CANCELED, NULL,
                           "the job was canceled before it started; nothing was changed", NULL, NULL, NULL);
                call_free(c);
                break;
        case LANE_REFUSED:
                call_fail(c, BUS_ERROR_FAILED, "vmsnapd cannot start the change now; nothing was changed");
                call_finish_change(c);
                call_free(c);
                break;
        case LANE_STOPPED:
        default:
                call_discard(c);
                break;
        }
        manager_work_end(m);
}

/* Hands an authorized change to its domain's queue (a clone to a queue of its own). Takes c. */
static void change_enqueue(call *c)
{
        manager *m = c->manager;
        job *j = c->job;
        lane_entry *entry;

        manager_work_begin(m);
        entry = lane_enqueue(m->change_lanes, c->method->own_lane ? NULL : call_domain(c), change_task,
                             change_done, change_dropped, c);
        if (j)
                job_set_queued(j, entry);
}

static void request_answer(call *c);

static void request_done(void *userdata)
{
        call *c = userdata;
        manager *m = c->manager;

        request_answer(c);
        manager_work_end(m);
}

/* Replies, or hands an authorized change to its domain's queue. Takes c. */
static void request_answer(call *c)
{
        manager *m = c->manager;
        int r;

        if (c->error_name || c->method->kind == METHOD_READ) {
                call_reply(c);
                call_free(c);
                return;
        }
        if (m->stopping) {
                call_reply_shutting_down(c);
                call_free(c);
                return;
        }
        if (c->method->kind == METHOD_JOB) {
                /* Create has no snapshot yet: its job shows the name asked for until it has one. */
                r = job_new(m, c->method->operation, call_domain_name(c),
                            c->snapshot ? call_snapshot_name(c)
                            : c->name   ? c->name
                                        : "",
                            c->uid, c->sender, c->method->progress_counts_bytes, &c->job);
                if (r < 0) {
                        call_fail(c, BUS_ERROR_FAILED, "cannot create the job object");
                        call_reply(c);
                        call_free(c);
                        return;
                }
                /* JobNew went out first: a client that subscribed before calling sees it. */
                r = sd_bus_reply_method_return(c->message, "o", job_path(c->job));
                if (r < 0)
                        fprintf(stderr, "vmsnapd: cannot reply with job %" PRIu32 " to %s: %s\n",
                                job_id(c->job), c->sender, strerror(-r));
        }
        change_enqueue(c);
}

/* A refusal for being past the bound of calls waiting, answered a little later (lanes.h). */
typedef struct busy_reply {
        sd_bus_message *message;
        sd_bus_error error;
} busy_reply;

static void busy_reply_send(void *userdata)
{
        busy_reply *busy = userdata;

        (void)sd_bus_reply_method_error(busy->message, &busy->error);
        sd_bus_error_free(&busy->error);
        sd_bus_message_unref(busy->message);
        free(busy);
}

int call_submit(call *c, sd_bus_error *error)
{
        manager *m = c->manager;
        busy_reply *busy;
        int r;

        manager_work_begin(m);
        r = lanes_submit(m->request_lanes, c->uid, request_task, call_discard, c);
        if (r == -EBUSY) {
                manager_work_end(m);
                busy = xcalloc(1, sizeof(*busy));
                busy->message = sd_bus_message_ref(c->message);
                busy->error = SD_BUS_ERROR_NULL;
                (void)manager_request_refusal(m, c->uid, r, &busy->error);
                if (lanes_hold(m->request_lanes, busy_reply_send, busy) < 0)
                        busy_reply_send(busy);
                call_free(c);
                return 1;
        }
        if (r < 0) {
                manager_work_end(m);
                r = manager_request_refusal(m, c->uid, r, error);
                call_free(c);
                return r;
        }
        return 1;
}

const vmsnap_hooks *call_hooks(call *c)
{
        return c->job ? job_engine_hooks(c->job) : NULL;
}

/* ---- shutdown ---- */

void call_discard(void *userdata)
{
        call *c = userdata;

        if (c->job)
                job_finish(c->job, JOB_CANCELED, NULL,
                           "vmsnapd stopped before the job started; nothing was changed", NULL, NULL, NULL);
        else
                call_reply_shutting_down(c);
        call_free(c);
}
