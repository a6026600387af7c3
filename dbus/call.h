/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* call.h: one method call on its way through vmsnapd: parsed on the loop thread,
 * authorized and checked in a request worker, acted on there (reads) or in its
 * domain's queue (changes), answered from the loop thread. What each method
 * parses and does is methods.c's. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "manager.h"
#include "options.h"
#include "vmsnap/vmsnap.h"

typedef enum method_kind {
        METHOD_READ,   /* acted on in the request worker */
        METHOD_CHANGE, /* acted on in the domain's queue; replies when done */
        METHOD_JOB,    /* replies with a job at once; acted on in the domain's queue */
} method_kind;

typedef struct method_spec {
        const char *member;
        method_kind kind;
        const char *action;
        /* "You are not allowed to <phrase> [<domain>]" */
        const char *phrase;
        const char *operation; /* a job's Operation */
        /* The keys of its a{sv} options (NULL: it takes none); parse reads them. */
        const option_spec *options;
        int (*parse)(call *c, sd_bus_message *message, sd_bus_error *error);
        /* Request worker, after authorization: checks that need the engine but change nothing. */
        void (*check)(call *c);
        /* Worker: does the work and fills the outcome. */
        void (*act)(call *c);
        /* Loop: the reply's values (NULL: none). */
        int (*reply)(call *c, sd_bus_message *reply);
        /* A job's Completed message on success. */
        void (*summarize)(call *c, char *out, size_t size);
        /* The engine's progress for this job counts bytes (a clone's copying), so the job
         * publishes BytesDone, BytesTotal, Rate and ExpectedEndTime; other jobs count steps
         * and publish only the fraction. */
        bool progress_counts_bytes;
        /* Runs beside the domain's queued changes instead of after them (a clone only reads
         * frozen images; the engine keeps deletes away from them while it runs). */
        bool own_lane;
        /* The domain may be one libvirt no longer defines, known by its kept metadata
         * (Purge): the call resolves it among those too. */
        bool undefined_domains;
        /* A read that also answers for a domain libvirt no longer defines: a domain the
         * request worker cannot resolve is left to act (GetHistory by UUID). */
        bool answers_undefined;
} method_spec;

struct call {
        manager *manager;
        const method_spec *method;
        sd_bus_message *message; /* loop thread only */
        char *sender;
        uid_t uid;
        bool interactive;

        /* Arguments. */
        char *domain;   /* as given: name or UUID */
        char *snapshot; /* as given: name or id */
        char *name;     /* Create's name, Rename's and Clone's new_name */
        char *text;     /* Create's description, SetDescription's text */
        char **disks;   /* Create */
        char **preview_targets, **preview_snapshots;
        size_t n_preview_disks;
        struct {
                bool memory, quiesce;
        } create;
        struct {
                bool restore_memory, stop;
        } preview;
        struct {
                bool start, restore_memory, stop;
        } revert;
        struct {
                bool stop;
        } preview_end; /* Commit, Undo */
        struct {
                bool children, children_only, metadata_only;
        } delete;
        struct {
                bool into_original;
        } delete_all;
        struct {
                bool undefine;
        } purge;
        struct {
                char *target_dir, *pool, *format;
                clone_disk_list disks;
                bool start, allow_partial, linked;
        } clone;

        /* ListJobs: the domains of jobs the caller did not start, whose read polkit has not
         * answered recently (loop), and polkit's answers, true: allowed (request worker). */
        char **read_domains;
        bool *read_allowed;

        /* Resolved in the request worker before authorization. */
        char *domain_name, *domain_uuid, *snapshot_name;
        vmsnap_error resolve_error;

        /* Outcome: written by the worker that acted, read by the loop after the post. */
        const char *error_name; /* NULL: success */
        char *error_message;
        bool canceled;
        vmsnap_domain_info *domains;
        size_t n_domains;
        vmsnap_snapshot_info *snapshots;
        size_t n_snapshots;
        vmsnap_snapshot_info snapshot_info;
        char *xml;
        vmsnap_image_info *images;
        size_t n_images;
        char *new_name;
        vmsnap_history_entry *history;
        size_t n_history;
        /* The change's outcome went to the journal, which is stderr too (audit.h). */
        bool journaled;

        job *job;
};

/* Loop thread. Takes a reference on message and learns who sent it. */
int call_new(manager *m, sd_bus_message *message, const method_spec *method, call **ret,
             sd_bus_error *error);
void call_free(call *c);
void call_freep(call **c);
/* Loop thread: hands a parsed call to the request workers. Takes c, also on failure. */
int call_submit(call *c, sd_bus_error *error);

/* Workers: the first failure is the one reported. */
void call_fail(call *c, const char *error_name, const char *message);
void call_fail_engine(call *c, const vmsnap_error *error);

/* The domain as the engine should see it (its UUID once known) and as a person reads it. */
const char *call_domain(const call *c);
const char *call_domain_name(const call *c);
const char *call_snapshot_name(const call *c);
/* The engine hooks of the call's job, or NULL. */
const vmsnap_hooks *call_hooks(call *c);

/* Loop thread, at shutdown: answers a call that never ran (worker_task_fn). */
void call_discard(void *userdata);
