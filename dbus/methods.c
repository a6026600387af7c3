/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* methods.c: the org.example.Snapshots interface, method by method: what each
 * parses (loop thread), the polkit action that authorizes it, what it checks and
 * does (workers) and what it answers (loop), then its vtable. How a call travels
 * between those threads is call.c's. */
#include <errno.h>
#include <stdio.h>

#include "call.h"
#include "errors.h"
#include "job.h"
#include "methods.h"
#include "polkit.h"
#include "readers.h"
#include "records.h"
#include "util.h"

#define ACTION_READ "org.example.snapshots.read"
#define ACTION_CREATE "org.example.snapshots.create"
#define ACTION_PREVIEW "org.example.snapshots.preview"
#define ACTION_DELETE "org.example.snapshots.delete"
#define ACTION_CLONE "org.example.snapshots.clone"

/* ---- what several methods parse (loop) ---- */

static int read_string(sd_bus_message *message, char **field)
{
        const char *value;
        int r = sd_bus_message_read(message, "s", &value);
        if (r < 0)
                return r;
        *field = xstrdup(strempty(value));
        return 0;
}

static int parse_domain(call *c, sd_bus_message *message, sd_bus_error *error)
{
        int r = read_string(message, &c->domain);
        if (r < 0)
                return r;
        if (!c->domain[0])
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_ARGUMENT,
                                         "no domain given: name a domain by its name or UUID");
        return 0;
}

static int parse_domain_snapshot(call *c, sd_bus_message *message, sd_bus_error *error)
{
        int r = parse_domain(c, message, error);
        if (r < 0)
                return r;
        r = read_string(message, &c->snapshot);
        if (r < 0)
                return r;
        if (!c->snapshot[0])
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_ARGUMENT,
                                         "no snapshot given: name a snapshot of %s by its name or id",
                                         c->domain);
        return 0;
}

/* The method's options (its spec's table), which every method that takes them reads last. */
static int read_method_options(call *c, sd_bus_message *message, sd_bus_error *error)
{
        return bus_read_options(message, c->method->member, c->method->options, c, error);
}

/* Methods whose arguments are a domain and their options. */
static int parse_domain_options(call *c, sd_bus_message *message, sd_bus_error *error)
{
        int r = parse_domain(c, message, error);
        if (r < 0)
                return r;
        return read_method_options(c, message, error);
}

/* Methods whose arguments are a domain, one of its snapshots and their options. */
static int parse_domain_snapshot_options(call *c, sd_bus_message *message, sd_bus_error *error)
{
        int r = parse_domain_snapshot(c, message, error);
        if (r < 0)
                return r;
        return read_method_options(c, message, error);
}

/* ---- ListDomains: every domain with its snapshot state ---- */

static void act_list_domains(call *c)
{
        vmsnap_error error = {0};

        if (vmsnap_domain_list(c->manager->engine, &c->domains, &c->n_domains, &error) < 0)
                call_fail_engine(c, &error);
}

static int reply_domains(call *c, sd_bus_message *reply)
{
        int r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (size_t i = 0; r >= 0 && i < c->n_domains; i++)
                r = bus_append_domain_record(reply, &c->domains[i]);
        return r < 0 ? r : sd_bus_message_close_container(reply);
}

static const method_spec list_domains_method = {
        .member = "ListDomains",
        .kind = METHOD_READ,
        .action = ACTION_READ,
        .phrase = "list domains and their snapshots",
        .act = act_list_domains,
        .reply = reply_domains,
};

/* ---- ListSnapshots: the tree of one domain ---- */

static void act_list_snapshots(call *c)
{
        vmsnap_error error = {0};

        if (vmsnap_snapshot_list(c->manager->engine, call_domain(c), &c->snapshots, &c->n_snapshots,
                                 &error) < 0)
                call_fail_engine(c, &error);
}

static int reply_snapshots(call *c, sd_bus_message *reply)
{
        int r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (size_t i = 0; r >= 0 && i < c->n_snapshots; i++)
                r = bus_append_snapshot_record(reply, &c->snapshots[i]);
        return r < 0 ? r : sd_bus_message_close_container(reply);
}

static const method_spec list_snapshots_method = {
        .member = "ListSnapshots",
        .kind = METHOD_READ,
        .action = ACTION_READ,
        .phrase = "read snapshots of",
        .parse = parse_domain,
        .act = act_list_snapshots,
        .reply = reply_snapshots,
};

/* ---- GetSnapshot ---- */

static void act_get_snapshot(call *c)
{
        vmsnap_error error = {0};

        if (vmsnap_snapshot_get(c->manager->engine, call_domain(c), c->snapshot, &c->snapshot_info, &error) <
            0)
                call_fail_engine(c, &error);
}

static int reply_snapshot(call *c, sd_bus_message *reply)
{
        return bus_append_snapshot_record(reply, &c->snapshot_info);
}

static const method_spec get_snapshot_method = {
        .member = "GetSnapshot",
        .kind = METHOD_READ,
        .action = ACTION_READ,
        .phrase = "read snapshots of",
        .parse = parse_domain_snapshot,
        .act = act_get_snapshot,
        .reply = reply_snapshot,
};

/* ---- GetConfiguration: at a snapshot, or now ---- */

/* GetConfiguration: an empty snapshot asks for the domain's configuration now. */
static int parse_configuration(call *c, sd_bus_message *message, sd_bus_error *error)
{
        int r = parse_domain(c, message, error);
        if (r < 0)
                return r;
        r = read_string(message, &c->snapshot);
        if (r < 0)
                return r;
        if (!c->snapshot[0]) {
                free(c->snapshot);
                c->snapshot = NULL;
        }
        return 0;
}

static void act_get_configuration(call *c)
{
        vmsnap_error error = {0};

        int r = c->snapshot
                        ? vmsnap_snapshot_get_configuration(c->manager->engine, call_domain(c), c->snapshot,
                                                            &c->xml, &c->images, &c->n_images, &error)
                        : vmsnap_domain_get_configuration(c->manager->engine, call_domain(c), &c->xml,
                                                          &c->images, &c->n_images, &error);
        if (r < 0)
                call_fail_engine(c, &error);
}

static int reply_configuration(call *c, sd_bus_message *reply)
{
        int r = sd_bus_message_append(reply, "s", c->xml ? c->xml : "");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (size_t i = 0; r >= 0 && i < c->n_images; i++)
                r = c->snapshot ? bus_append_image_record(reply, &c->images[i])
                                : bus_append_current_disk_record(reply, &c->images[i]);
        return r < 0 ? r : sd_bus_message_close_container(reply);
}

static const method_spec get_configuration_method = {
        .member = "GetConfiguration",
        .kind = METHOD_READ,
        .action = ACTION_READ,
        .phrase = "read snapshots of",
        .parse = parse_configuration,
        .act = act_get_configuration,
        .reply = reply_configuration,
};

/* ---- GetHistory ---- */

static void act_get_history(call *c)
{
        vmsnap_error error = {0};

        if (vmsnap_history_list(c->manager->engine, call_domain(c), &c->history, &c->n_history, &error) < 0)
                call_fail_engine(c, &error);
}

static int reply_history(call *c, sd_bus_message *reply)
{
        int r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (size_t i = 0; r >= 0 && i < c->n_history; i++)
                r = bus_append_history_record(reply, &c->history[i]);
        return r < 0 ? r : sd_bus_message_close_container(reply);
}

static const method_spec get_history_method = {
        .member = "GetHistory",
        .kind = METHOD_READ,
        .action = ACTION_READ,
        .phrase = "read the history of",
        .parse = parse_domain,
        .act = act_get_history,
        .reply = reply_history,
        .undefined_domains = true,
        .answers_undefined = true,
};

/* ---- Create (a job) ---- */

static const option_spec create_options[] = {
        {"memory", "b", offsetof(call, create.memory), NULL},
        {"quiesce", "b", offsetof(call, create.quiesce), NULL},
        {NULL, NULL, 0, NULL},
};

static int parse_create(call *c, sd_bus_message *message, sd_bus_error *error)
{
        int r = parse_domain(c, message, error);
        if (r < 0)
                return r;
        if ((r = read_string(message, &c->name)) < 0 || (r = read_string(message, &c->text)) < 0)
                return r;
        r = sd_bus_message_read_strv(message, &c->disks);
        if (r < 0)
                return r;
        return read_method_options(c, message, error);
}

/* Create: a name the engine would refuse is refused now rather than by the job. */
static void check_create(call *c)
{
        vmsnap_create_options options = {.name = c->name};
        vmsnap_error error = {0};

        if (vmsnap_create_check(c->manager->engine, call_domain(c), &options, &error) < 0)
                call_fail_engine(c, &error);
}

static void act_create(call *c)
{
        vmsnap_error error = {0};
        vmsnap_create_options options = {
                .name = c->name,
                .description = c->text,
                .disks = (const char *const *)c->disks,
                .n_disks = strv_length(c->disks),
                .memory = c->create.memory,
                .quiesce = c->create.quiesce,
        };

        if (vmsnap_snapshot_create(c->manager->engine, call_domain(c), &options, call_hooks(c), &c->new_name,
                                   &error) < 0)
                call_fail_engine(c, &error);
}

static void summarize_create(call *c, char *out, size_t size)
{
        snprintf(out, size, "Created snapshot \"%s\" of %s", c->new_name ? c->new_name : "",
                 call_domain_name(c));
}

static const method_spec create_method = {
        .member = "Create",
        .kind = METHOD_JOB,
        .action = ACTION_CREATE,
        .phrase = "create snapshots of",
        .operation = "create",
        .options = create_options,
        .parse = parse_create,
        .check = check_create,
        .act = act_create,
        .summarize = summarize_create,
};

/* ---- Preview (a job) ---- */

static const option_spec preview_options[] = {
        {"restore_memory", "b", offsetof(call, preview.restore_memory), NULL},
        {"stop", "b", offsetof(call, preview.stop), NULL},
        {NULL, NULL, 0, NULL},
};

static int parse_preview(call *c, sd_bus_message *message, sd_bus_error *error)
{
        const char *target, *snapshot;
        int r = parse_domain_snapshot(c, message, error);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(message, 'a', "{ss}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(message, "{ss}", &target, &snapshot)) > 0) {
                if (!target[0] || !snapshot[0])
                        return sd_bus_error_setf(
                                error, BUS_ERROR_INVALID_ARGUMENT,
                                "the disks of Preview map a disk target (vda) to a snapshot; "
                                "neither may be empty");
                strv_push(&c->preview_targets, target);
                strv_push(&c->preview_snapshots, snapshot);
                c->n_preview_disks++;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(message);
        if (r < 0)
                return r;
        return read_method_options(c, message, error);
}

static void check_preview(call *c)
{
        for (size_t i = 0; i < c->n_preview_disks; i++) {
                vmsnap_snapshot_info info = {0};
                vmsnap_error error = {0};

                if (vmsnap_snapshot_get(c->manager->engine, call_domain(c), c->preview_snapshots[i], &info,
                                        &error) < 0) {
                        call_fail_engine(c, &error);
                        return;
                }
                vmsnap_snapshot_info_clear(&info);
        }
}

static void act_preview(call *c)
{
        _cleanup_free_ vmsnap_disk_choice *choices = xcalloc(c->n_preview_disks, sizeof(*choices));
        vmsnap_error error = {0};

        for (size_t i = 0; i < c->n_preview_disks; i++)
                choices[i] = (vmsnap_disk_choice){c->preview_targets[i], c->preview_snapshots[i]};
        vmsnap_preview_options options = {
                .disks = choices,
                .n_disks = c->n_preview_disks,
                .restore_memory = c->preview.restore_memory,
                .stop = c->preview.stop,
        };
        if (vmsnap_preview_start(c->manager->engine, call_domain(c), c->snapshot, &options, call_hooks(c),
                                 &error) < 0)
                call_fail_engine(c, &error);
}

static void summarize_preview(call *c, char *out, size_t size)
{
        snprintf(out, size, "%s now previews snapshot \"%s\"; commit or undo the preview when done",
                 call_domain_name(c), call_snapshot_name(c));
}

static const method_spec preview_method = {
        .member = "Preview",
        .kind = METHOD_JOB,
        .action = ACTION_PREVIEW,
        .phrase = "preview snapshots of",
        .operation = "preview",
        .options = preview_options,
        .parse = parse_preview,
        .check = check_preview,
        .act = act_preview,
        .summarize = summarize_preview,
};

/* ---- Commit and Undo: the end of a preview (jobs) ---- */

static const option_spec preview_end_options[] = {
        {"stop", "b", offsetof(call, preview_end.stop), NULL},
        {NULL, NULL, 0, NULL},
};

/* Commit and Undo differ only in the engine calls that end the preview. */
static bool ends_by_commit(const call *c)
{
        return strcmp(c->method->member, "Commit") == 0;
}

/* Commit, Undo: a running domain without the option stop is refused with DomainRunning
 * before a job is made. */
static void check_preview_end(call *c)
{
        vmsnap_preview_end_options options = {.stop = c->preview_end.stop};
        vmsnap_error error = {0};
        int r = ends_by_commit(c)
                        ? vmsnap_preview_commit_check(c->manager->engine, call_domain(c), &options, &error)
                        : vmsnap_preview_undo_check(c->manager->engine, call_domain(c), &options, &error);

        if (r < 0)
                call_fail_engine(c, &error);
}

static void act_preview_end(call *c)
{
        vmsnap_error error = {0};
        vmsnap_preview_end_options options = {.stop = c->preview_end.stop};
        int r = ends_by_commit(c) ? vmsnap_preview_commit_with_options(c->manager->engine, call_domain(c),
                                                                       &options, call_hooks(c), &error)
                                  : vmsnap_preview_undo_with_options(c->manager->engine, call_domain(c),
                                                                     &options, call_hooks(c), &error);

        if (r < 0)
                call_fail_engine(c, &error);
}

static void summarize_commit(call *c, char *out, size_t size)
{
        snprintf(out, size, "Committed the preview of %s", call_domain_name(c));
}

static const method_spec commit_method = {
        .member = "Commit",
        .kind = METHOD_JOB,
        .action = ACTION_PREVIEW,
        .phrase = "commit snapshot previews of",
        .operation = "commit",
        .options = preview_end_options,
        .parse = parse_domain_options,
        .check = check_preview_end,
        .act = act_preview_end,
        .summarize = summarize_commit,
};

static void summarize_undo(call *c, char *out, size_t size)
{
        snprintf(out, size, "Undid the preview of %s", call_domain_name(c));
}

static const method_spec undo_method = {
        .member = "Undo",
        .kind = METHOD_JOB,
        .action = ACTION_PREVIEW,
        .phrase = "undo snapshot previews of",
        .operation = "undo",
        .options = preview_end_options,
        .parse = parse_domain_options,
        .check = check_preview_end,
        .act = act_preview_end,
        .summarize = summarize_undo,
};

/* ---- Revert (a job) ---- */

static const option_spec revert_options[] = {
        {"start", "b", offsetof(call, revert.start), NULL},
        {"restore_memory", "b", offsetof(call, revert.restore_memory), NULL},
        {"stop", "b", offsetof(call, revert.stop), NULL},
        {NULL, NULL, 0, NULL},
};

static void act_revert(call *c)
{
        vmsnap_error error = {0};
        vmsnap_revert_options options = {.start = c->revert.start,
                                         .restore_memory = c->revert.restore_memory,
                                         .stop = c->revert.stop};

        if (vmsnap_snapshot_revert(c->manager->engine, call_domain(c), c->snapshot, &options, call_hooks(c),
                                   &error) < 0)
                call_fail_engine(c, &error);
}

static void summarize_revert(call *c, char *out, size_t size)
{
        snprintf(out, size, "Reverted %s to snapshot \"%s\"", call_domain_name(c), call_snapshot_name(c));
}

static const method_spec revert_method = {
        .member = "Revert",
        .kind = METHOD_JOB,
        .action = ACTION_PREVIEW,
        .phrase = "revert to snapshots of",
        .operation = "revert",
        .options = revert_options,
        .parse = parse_domain_snapshot_options,
        .act = act_revert,
        .summarize = summarize_revert,
};

/* ---- Delete (a job) ---- */

static const option_spec delete_options[] = {
        {"children", "b", offsetof(call, delete.children), NULL},
        {"children_only", "b", offsetof(call, delete.children_only), NULL},
        {"metadata_only", "b", offsetof(call, delete.metadata_only), NULL},
        {NULL, NULL, 0, NULL},
};

static int parse_delete(call *c, sd_bus_message *message, sd_bus_error *error)
{
        int r = parse_domain_snapshot_options(c, message, error);
        if (r < 0)
                return r;
        if (c->delete.children + c->delete.children_only + c->delete.metadata_only > 1)
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_ARGUMENT,
                                         "options \"children\", \"children_only\" and \"metadata_only\" of "
                                         "Delete exclude each other: choose one");
        return 0;
}

static void act_delete(call *c)
{
        vmsnap_error error = {0};
        vmsnap_delete_mode mode = c->delete.children        ? VMSNAP_DELETE_CHILDREN
                                  : c->delete.children_only ? VMSNAP_DELETE_CHILDREN_ONLY
                                  : c->delete.metadata_only ? VMSNAP_DELETE_METADATA_ONLY
                                                            : VMSNAP_DELETE_MERGE;

        if (vmsnap_snapshot_delete(c->manager->engine, call_domain(c), c->snapshot, mode, call_hooks(c),
                                   &error) < 0)
                call_fail_engine(c, &error);
}

static void summarize_delete(call *c, char *out, size_t size)
{
        snprintf(out, size, "Deleted snapshot \"%s\" of %s", call_snapshot_name(c), call_domain_name(c));
}

static const method_spec delete_method = {
        .member = "Delete",
        .kind = METHOD_JOB,
        .action = ACTION_DELETE,
        .phrase = "delete snapshots of",
        .operation = "delete",
        .options = delete_options,
        .parse = parse_delete,
        .act = act_delete,
        .summarize = summarize_delete,
};

/* ---- DeleteAll (a job) ---- */

static const option_spec delete_all_options[] = {
        {"into_original", "b", offsetof(call, delete_all.into_original), NULL},
        {NULL, NULL, 0, NULL},
};

static void act_delete_all(call *c)
{
        vmsnap_error error = {0};
        vmsnap_delete_all_options options = {.into_original = c->delete_all.into_original};

        if (vmsnap_snapshot_delete_all(c->manager->engine, call_domain(c), &options, call_hooks(c), &error) <
            0)
                call_fail_engine(c, &error);
}

static void summarize_delete_all(call *c, char *out, size_t size)
{
        snprintf(out, size, "Deleted every snapshot of %s", call_domain_name(c));
}

static const method_spec delete_all_method = {
        .member = "DeleteAll",
        .kind = METHOD_JOB,
        .action = ACTION_DELETE,
        .phrase = "delete snapshots of",
        .operation = "delete-all",
        .options = delete_all_options,
        .parse = parse_domain_options,
        .act = act_delete_all,
        .summarize = summarize_delete_all,
};

/* ---- Purge (a job) ---- */

static const option_spec purge_options[] = {
        {"undefine", "b", offsetof(call, purge.undefine), NULL},
        {NULL, NULL, 0, NULL},
};

static void act_purge(call *c)
{
        vmsnap_error error = {0};
        vmsnap_purge_options options = {.undefine = c->purge.undefine};

        if (vmsnap_domain_purge(c->manager->engine, call_domain(c), &options, call_hooks(c), &error) < 0)
                call_fail_engine(c, &error);
}

static void summarize_purge(call *c, char *out, size_t size)
{
        snprintf(out, size, "%s %s: every file vmsnap made for it and its snapshot metadata are gone",
                 c->purge.undefine ? "Undefined and purged" : "Purged", call_domain_name(c));
}

static const method_spec purge_method = {
        .member = "Purge",
        .kind = METHOD_JOB,
        .action = ACTION_DELETE,
        .phrase = "purge the snapshots and files of",
        .operation = "purge",
        .options = purge_options,
        .parse = parse_domain_options,
        .act = act_purge,
        .summarize = summarize_purge,
        .undefined_domains = true,
};

/* ---- Clone (a job) ---- */

static const option_spec clone_options[] = {
        {"target_dir", "s", offsetof(call, clone.target_dir), NULL},
        {"pool", "s", offsetof(call, clone.pool), NULL},
        {"format", "s", offsetof(call, clone.format), NULL},
        {"disks", "a{sv}", offsetof(call, clone.disks), clone_disks_option_read},
        {"start", "b", offsetof(call, clone.start), NULL},
        {"allow_partial", "b", offsetof(call, clone.allow_partial), NULL},
        {"linked", "b", offsetof(call, clone.linked), NULL},
        {NULL, NULL, 0, NULL},
};

static int parse_clone(call *c, sd_bus_message *message, sd_bus_error *error)
{
        int r = parse_domain_snapshot(c, message, error);
        if (r < 0)
                return r;
        r = read_string(message, &c->name);
        if (r < 0)
                return r;
        r = read_method_options(c, message, error);
        if (r < 0)
                return r;
        if (c->clone.target_dir && c->clone.pool)
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_ARGUMENT,
                                         "options \"target_dir\" and \"pool\" of Clone exclude each other: "
                                         "choose one");
        if (c->clone.format && strcmp(c->clone.format, "qcow2") != 0 && strcmp(c->clone.format, "raw") != 0)
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_ARGUMENT,
                                         "option \"format\" of Clone is \"%s\"; it must be qcow2 or raw",
                                         c->clone.format);
        return 0;
}

/* Clone: an empty name asks for a default; a given one names the new domain. */
static void check_clone(call *c)
{
        vmsnap_error error = {0};

        if (c->name && *c->name && vmsnap_domain_name_validate(c->name, &error) < 0)
                call_fail_engine(c, &error);
}

static void act_clone(call *c)
{
        size_t n = c->clone.disks.n_disks;
        _cleanup_free_ vmsnap_clone_disk *disks = xcalloc(n + 1, sizeof(*disks));
        vmsnap_error error = {0};

        for (size_t i = 0; i < n; i++) {
                const clone_disk_options *d = &c->clone.disks.disks[i];
                disks[i] = (vmsnap_clone_disk){
                        .target = d->target,
                        .target_dir = d->target_dir,
                        .format = d->format,
                        .include = d->include_set ? d->include : 1,
                        .rbd_pool = d->rbd_pool,
                };
        }
        vmsnap_clone_options options = {
                .target_dir = c->clone.target_dir,
                .pool = c->clone.pool,
                .format = c->clone.format,
                .disks = disks,
                .n_disks = n,
                .start = c->clone.start,
                .allow_partial = c->clone.allow_partial,
                .linked = c->clone.linked,
        };
        if (vmsnap_snapshot_clone(c->manager->engine, call_domain(c), c->snapshot, c->name, &options,
                                  call_hooks(c), &c->new_name, &error) < 0)
                call_fail_engine(c, &error);
}

static void summarize_clone(call *c, char *out, size_t size)
{
        snprintf(out, size, "Cloned snapshot \"%s\" of %s as the new domain %s", call_snapshot_name(c),
                 call_domain_name(c), c->new_name ? c->new_name : "");
}

static const method_spec clone_method = {
        .member = "Clone",
        .kind = METHOD_JOB,
        .action = ACTION_CLONE,
        .phrase = "clone snapshots of",
        .operation = "clone",
        .options = clone_options,
        .parse = parse_clone,
        .check = check_clone,
        .act = act_clone,
        .summarize = summarize_clone,
        .own_lane = true,
        .progress_counts_bytes = true,
};

/* ---- Rename ---- */

static int parse_rename(call *c, sd_bus_message *message, sd_bus_error *error)
{
        int r = parse_domain_snapshot(c, message, error);
        if (r < 0)
                return r;
        return read_string(message, &c->name);
}

static void check_rename(call *c)
{
        vmsnap_error error = {0};

        if (!c->name || !c->name[0]) {
                call_fail(c, BUS_ERROR_INVALID_ARGUMENT, "no new name given: a snapshot needs a name");
                return;
        }
        if (vmsnap_name_validate(c->name, &error) < 0)
                call_fail_engine(c, &error);
}

static void act_rename(call *c)
{
        vmsnap_error error = {0};

        if (vmsnap_snapshot_rename(c->manager->engine, call_domain(c), c->snapshot, c->name, &error) < 0)
                call_fail_engine(c, &error);
}

static const method_spec rename_method = {
        .member = "Rename",
        .kind = METHOD_CHANGE,
        .action = ACTION_DELETE,
        .phrase = "rename snapshots of",
        .operation = "rename",
        .parse = parse_rename,
        .check = check_rename,
        .act = act_rename,
};

/* ---- SetDescription ---- */

static int parse_set_description(call *c, sd_bus_message *message, sd_bus_error *error)
{
        int r = parse_domain_snapshot(c, message, error);
        if (r < 0)
                return r;
        return read_string(message, &c->text);
}

static void act_set_description(call *c)
{
        vmsnap_error error = {0};

        if (vmsnap_snapshot_set_description(c->manager->engine, call_domain(c), c->snapshot, c->text,
                                            &error) < 0)
                call_fail_engine(c, &error);
}

static const method_spec set_description_method = {
        .member = "SetDescription",
        .kind = METHOD_CHANGE,
        .action = ACTION_DELETE,
        .phrase = "change snapshot descriptions of",
        .operation = "set-description",
        .parse = parse_set_description,
        .act = act_set_description,
};

/* ---- ListJobs: the jobs the caller may read ---- */

/* Loop: the domains of the jobs the caller may not read by right (it did not start them,
 * it is not root) on which polkit has not answered lately; the request worker asks. */
static int parse_list_jobs(call *c, sd_bus_message *message, sd_bus_error *error)
{
        manager *m = c->manager;

        if (c->uid == 0)
                return 0;
        for (job *j = m->jobs; j; j = job_next(j)) {
                bool listed = false;

                if (job_started_by(j) == c->uid || readers_lookup(m->readers, c->sender, job_domain(j)) >= 0)
                        continue;
                for (char **d = c->read_domains; d && *d && !listed; d++)
                        listed = strcmp(*d, job_domain(j)) == 0;
                if (!listed)
                        strv_push(&c->read_domains, job_domain(j));
        }
        return 0;
}

/* Request worker, after ListJobs itself was allowed. */
static void check_list_jobs(call *c)
{
        size_t n = strv_length(c->read_domains);
        char reason[512];

        c->read_allowed = xcalloc(n ? n : 1, sizeof(bool));
        for (size_t i = 0; i < n; i++)
                c->read_allowed[i] = polkit_check(c->sender, ACTION_READ, c->read_domains[i], NULL, false,
                                                  reason, sizeof(reason)) == POLKIT_ANSWER_ALLOWED;
}

/* Loop: only the jobs the caller may read (job.c, "who may read a job"). */
static int reply_jobs(call *c, sd_bus_message *reply)
{
        manager *m = c->manager;
        int r;

        for (size_t i = 0; c->read_allowed && c->read_domains && c->read_domains[i]; i++)
                readers_remember(m->readers, c->sender, c->read_domains[i], c->read_allowed[i]);
        r = sd_bus_message_open_container(reply, 'a', "o");
        for (job *j = m->jobs; r >= 0 && j; j = job_next(j))
                if (job_readable_by(m, j, c->uid, c->sender)) {
                        job_audience_add(j, c->sender);
                        r = sd_bus_message_append(reply, "o", job_path(j));
                }
        return r < 0 ? r : sd_bus_message_close_container(reply);
}

static const method_spec list_jobs_method = {
        .member = "ListJobs",
        .kind = METHOD_READ,
        .action = ACTION_READ,
        .phrase = "list snapshot jobs",
        .parse = parse_list_jobs,
        .check = check_list_jobs,
        .reply = reply_jobs,
};

/* ---- the interface ---- */

static const method_spec *const methods[] = {
        &list_domains_method, &list_snapshots_method, &get_snapshot_method, &get_configuration_method,
        &get_history_method,  &create_method,         &preview_method,      &commit_method,
        &undo_method,         &revert_method,         &delete_method,       &delete_all_method,
        &purge_method,        &clone_method,          &rename_method,       &set_description_method,
        &list_jobs_method,
};

static const method_spec *method_find(const char *member)
{
        for (size_t i = 0; member && i < sizeof(methods) / sizeof(methods[0]); i++)
                if (strcmp(methods[i]->member, member) == 0)
                        return methods[i];
        return NULL;
}

/* ---- the handler every method shares: parse on the loop, the rest in workers ---- */

static int method_call(sd_bus_message *message, void *userdata, sd_bus_error *error)
{
        manager *m = userdata;
        const method_spec *method = method_find(sd_bus_message_get_member(message));
        _cleanup_(call_freep) call *c = NULL;
        int r;

        if (!method)
                return sd_bus_error_setf(error, SD_BUS_ERROR_UNKNOWN_METHOD, "Unknown method %s",
                                         sd_bus_message_get_member(message));
        if (m->stopping)
                return sd_bus_error_setf(error, BUS_ERROR_BUSY,
                                         "vmsnapd is stopping: it takes no new work while its running jobs "
                                         "end; call again once it is back");
        r = call_new(m, message, method, &c, error);
        if (r < 0)
                return r;
        if (method->parse) {
                r = method->parse(c, message, error);
                if (r < 0)
                        return r;
        }
        return call_submit(TAKE_PTR(c), error);
}

const sd_bus_vtable snapshots_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("ListDomains", SD_BUS_NO_ARGS, SD_BUS_RESULT("aa{sv}", domains), method_call,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListSnapshots", SD_BUS_ARGS("s", domain),
                                SD_BUS_RESULT("aa{sv}", snapshots), method_call, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetSnapshot", SD_BUS_ARGS("s", domain, "s", snapshot),
                                SD_BUS_RESULT("a{sv}", record), method_call, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetConfiguration", SD_BUS_ARGS("s", domain, "s", snapshot),
                                SD_BUS_RESULT("s", xml, "aa{sv}", disks), method_call,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetHistory", SD_BUS_ARGS("s", domain), SD_BUS_RESULT("aa{sv}", entries),
                                method_call, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "Create",
                SD_BUS_ARGS("s", domain, "s", name, "s", description, "as", disks, "a{sv}", options),
                SD_BUS_RESULT("o", job), method_call, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Preview",
                                SD_BUS_ARGS("s", domain, "s", snapshot, "a{ss}", disks, "a{sv}", options),
                                SD_BUS_RESULT("o", job), method_call, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Commit", SD_BUS_ARGS("s", domain, "a{sv}", options),
                                SD_BUS_RESULT("o", job), method_call, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Undo", SD_BUS_ARGS("s", domain, "a{sv}", options), SD_BUS_RESULT("o", job),
                                method_call, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Revert", SD_BUS_ARGS("s", domain, "s", snapshot, "a{sv}", options),
                                SD_BUS_RESULT("o", job), method_call, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Delete", SD_BUS_ARGS("s", domain, "s", snapshot, "a{sv}", options),
                                SD_BUS_RESULT("o", job), method_call, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("DeleteAll", SD_BUS_ARGS("s", domain, "a{sv}", options),
                                SD_BUS_RESULT("o", job), method_call, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Purge", SD_BUS_ARGS("s", domain, "a{sv}", options), SD_BUS_RESULT("o", job),
                                method_call, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Clone",
                                SD_BUS_ARGS("s", domain, "s", snapshot, "s", new_name, "a{sv}", options),
                                SD_BUS_RESULT("o", job), method_call, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Rename", SD_BUS_ARGS("s", domain, "s", snapshot, "s", new_name),
                                SD_BUS_NO_RESULT, method_call, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetDescription", SD_BUS_ARGS("s", domain, "s", snapshot, "s", text),
                                SD_BUS_NO_RESULT, method_call, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListJobs", SD_BUS_NO_ARGS, SD_BUS_RESULT("ao", jobs), method_call,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("JobNew", SD_BUS_ARGS("u", id, "o", path), 0),
        SD_BUS_SIGNAL_WITH_ARGS("JobRemoved", SD_BUS_ARGS("u", id, "o", path, "s", result), 0),
        SD_BUS_SIGNAL_WITH_ARGS("SnapshotsChanged", SD_BUS_ARGS("s", domain_uuid), 0),
        SD_BUS_VTABLE_END,
};
