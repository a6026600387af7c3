/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* preview.c: preview of a snapshot (or a custom mix: configuration from one
 * snapshot, each disk from any other), then commit or undo; and revert, which
 * is a preview of every disk followed by a commit. Each previewed disk runs
 * on a temporary overlay, so the snapshot's own images stay frozen. With
 * restore_memory the domain then starts from the snapshot's memory file
 * (live.c), running on from the snapshot's instant. */
#include <libvirt/virterror.h>
#include <stdio.h>
#include <string.h>

#include "begin.h"
#include "eligibility.h"
#include "error.h"
#include "fileio.h"
#include "image.h"
#include "journal.h"
#include "live.h"
#include "rbd-disk.h"

typedef struct preview_plan {
        char *target;
        char *base; /* image the overlay sits on */
        char *base_format;
        char *snapshot_id; /* NULL: the disk keeps its current state */
        char *overlay;
        /* An RBD disk instead: the image it reads now, and the snapshot it shows with the
         * clone of it that it reads in the preview (both NULL: it keeps its state). */
        char *rbd_saved;
        char *rbd_snapshot;
        char *rbd_overlay;
        json_object *rbd_reach; /* its cluster, reached while planning */
} preview_plan;

static void plans_free(preview_plan *plans, size_t n)
{
        if (!plans)
                return;
        for (size_t i = 0; i < n; i++) {
                free(plans[i].target);
                free(plans[i].base);
                free(plans[i].base_format);
                free(plans[i].snapshot_id);
                free(plans[i].overlay);
                free(plans[i].rbd_saved);
                free(plans[i].rbd_snapshot);
                free(plans[i].rbd_overlay);
                json_object_put(plans[i].rbd_reach);
        }
        free(plans);
}

static const vmsnap_active_disk *active_find(const vmsnap_active_disk *active, size_t n, const char *target)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(active[i].target, target) == 0)
                        return &active[i];
        return NULL;
}

/* An RBD disk of the configuration: it shows its RBD snapshot in the snapshot chosen
 * through a new clone of it, or keeps its current state when that snapshot has none. Either
 * way the domain must have it as an RBD disk now: that image is what an undo goes back to. */
static int plan_rbd_disk(vmsnap_op *op, const char *target, const vmsnap_snapshot *chosen,
                         const vmsnap_disk_entry *entry, preview_plan *p)
{
        for (size_t i = 0; i < op->n_disks && !p->rbd_saved; i++)
                if (op->disks[i].rbd && strcmp(op->disks[i].target, target) == 0)
                        p->rbd_saved = xstrdup(op->disks[i].rbd);
        if (!p->rbd_saved)
                return vmsnap_error_set(
                        op->error, -ENOENT, VMSNAP_ERROR_INVALID_ARGUMENT,
                        "disk %s of snapshot \"%s\" is an RBD disk, and domain %s has no RBD "
                        "disk %s now; nothing was changed",
                        target, chosen->name, op->name, target);
        p->target = xstrdup(target);
        if (entry && entry->rbd_snapshot) {
                vmsnap_rbd_disk *disk = NULL;
                int r = vmsnap_rbd_disk_open_image(op, NULL, entry->rbd_snapshot, &disk);
                if (r < 0)
                        return r;
                p->rbd_reach = vmsnap_rbd_disk_reach(disk);
                vmsnap_rbd_disk_close(disk);
                p->rbd_snapshot = xstrdup(entry->rbd_snapshot);
                p->rbd_overlay = vmsnap_rbd_clone_name_new(entry->rbd_snapshot);
                p->snapshot_id = xstrdup(chosen->id);
        }
        return 0;
}

/* The snapshot a disk of the preview shows: from the custom choices, else config. */
static int choice_for(vmsnap_op *op, const vmsnap_preview_options *options, const char *target,
                      vmsnap_snapshot *config, vmsnap_snapshot **ret)
{
        for (size_t i = 0; options && i < options->n_disks; i++)
                if (strcmp(options->disks[i].target, target) == 0)
                        return vmsnap_op_find_snapshot(op, options->disks[i].snapshot, ret);
        *ret = config;
        return 0;
}

static int check_choices(vmsnap_op *op, const vmsnap_preview_options *options, vmsnap_snapshot *config,
                         const vmsnap_xml_disk *config_disks, size_t n_config_disks)
{
        for (size_t i = 0; options && i < options->n_disks; i++) {
                const vmsnap_disk_choice *choice = &options->disks[i];
                const vmsnap_disk_entry *entry;
                vmsnap_snapshot *chosen;
                bool in_config = false;
                int r;

                if (!choice->target || !choice->snapshot)
                        return vmsnap_error_set(op->error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                                "a disk choice needs both a disk target and a snapshot");
                if (!*choice->target)
                        return vmsnap_error_set(op->error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                                "a disk target must not be empty; name a disk of snapshot "
                                                "\"%s\" such as vda",
                                                config->name);
                for (size_t j = 0; j < i; j++)
                        if (strcmp(options->disks[j].target, choice->target) == 0)
                                return vmsnap_error_set(op->error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                                        "disk %s is chosen twice", choice->target);
                for (size_t j = 0; j < n_config_disks; j++)
                        if (strcmp(config_disks[j].target, choice->target) == 0)
                                in_config = true;
                if (!in_config)
                        return vmsnap_error_set(
                                op->error, -ENOENT, VMSNAP_ERROR_INVALID_ARGUMENT,
                                "disk %s is not part of the configuration of snapshot \"%s\"",
                                choice->target, config->name);
                r = vmsnap_op_find_snapshot(op, choice->snapshot, &chosen);
                if (r < 0)
                        return r;
                entry = vmsnap_snapshot_find_disk(chosen, choice->target);
                if (!entry || !entry->image)
                        return vmsnap_error_set(
                                op->error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                "snapshot \"%s\" does not include disk %s (%s); choose a snapshot "
                                "that does",
                                chosen->name, choice->target,
                                entry ? entry->excluded_reason : "the disk was not attached");
        }
        return 0;
}

static int plan_preview(vmsnap_op *op, vmsnap_snapshot *config, const vmsnap_preview_options *options,
                        preview_plan **ret, size_t *n_ret)
{
        vmsnap_xml_disk *config_disks = NULL;
        vmsnap_active_disk *active = NULL;
        size_t n_config_disks = 0, n_active = 0, n = 0;
        preview_plan *plans = NULL;
        int r;

        r = vmsnap_xml_disks(config->config_xml, &config_disks, &n_config_disks, op->error);
        if (r < 0)
                return r;
        r = check_choices(op, options, config, config_disks, n_config_disks);
        if (r < 0)
                goto out;
        r = vmsnap_op_active_disks(op, &active, &n_active);
        if (r < 0)
                goto out;
        plans = xcalloc(n_config_disks + 1, sizeof(*plans));
        for (size_t i = 0; i < n_config_disks; i++) {
                const vmsnap_xml_disk *disk = &config_disks[i];
                const vmsnap_disk_entry *entry;
                const vmsnap_active_disk *now;
                vmsnap_snapshot *chosen;
                preview_plan *p;

                if (vmsnap_disk_ineligible_reason(disk))
                        continue; /* cdroms and the like come with the configuration as they are */
                r = choice_for(op, options, disk->target, config, &chosen);
                if (r < 0)
                        goto out;
                entry = vmsnap_snapshot_find_disk(chosen, disk->target);
                if (disk->rbd || (entry && entry->rbd_snapshot)) {
                        r = plan_rbd_disk(op, disk->target, chosen, entry, &plans[n++]);
                        if (r < 0)
                                goto out;
                        continue;
                }
                p = &plans[n++];
                p->target = xstrdup(disk->target);
                if (entry && entry->image) {
                        if (!vmsnap_file_exists(entry->image)) {
                                r = vmsnap_error_set(op->error, -ENOENT, VMSNAP_ERROR_FAILED,
                                                     "image %s of disk %s in snapshot \"%s\" is missing",
                                                     entry->image, disk->target, chosen->name);
                                goto out;
                        }
                        p->base = xstrdup(entry->image);
                        p->base_format = xstrdup(entry->format);
                        p->snapshot_id = xstrdup(chosen->id);
                } else if ((now = active_find(active, n_active, disk->target))) {
                        /* As in oVirt: a disk the snapshot did not include keeps its current state. */
                        p->base = xstrdup(now->source);
                        p->base_format = xstrdup(now->format);
                } else {
                        r = vmsnap_error_set(
                                op->error, -ENOENT, VMSNAP_ERROR_INVALID_ARGUMENT,
                                "disk %s was not included in snapshot \"%s\" and the domain has no "
                                "disk %s now; choose a snapshot that includes it",
                                disk->target, chosen->name, disk->target);
                        goto out;
                }
                r = vmsnap_image_overlay_path(p->base, &p->overlay, op->error);
                if (r < 0)
                        goto out;
        }
        *ret = plans;
        *n_ret = n;
        plans = NULL;
        n = 0;
out:
        plans_free(plans, n);
        vmsnap_xml_disks_free(config_disks, n_config_disks);
        vmsnap_active_disks_free(active, n_active);
        return r;
}

/* The disks of the preview: the files on their overlays, the RBD disks on their clones
 * or on the images they read now. */
static void plan_sources(const preview_plan *plans, size_t n, vmsnap_xml_disk_source *sources)
{
        for (size_t i = 0; i < n; i++) {
                const preview_plan *p = &plans[i];
                if (p->rbd_saved)
                        sources[i] = (vmsnap_xml_disk_source){.target = p->target,
                                                              .rbd_image = p->rbd_overlay ? p->rbd_overlay
                                                                                          : p->rbd_saved};
                else
                        sources[i] = (vmsnap_xml_disk_source){p->target, p->overlay, "qcow2"};
        }
}

/* The preview configuration: the snapshot's XML under the domain's current name, its
 * disks on the overlays. */
static int preview_xml(vmsnap_op *op, vmsnap_snapshot *config, preview_plan *plans, size_t n, char **ret)
{
        vmsnap_xml_disk_source sources[n + 1];
        _cleanup_free_ char *renamed = NULL;
        int r;

        plan_sources(plans, n, sources);
        r = vmsnap_xml_set_name(config->config_xml, op->name, &renamed, op->error);
        if (r < 0)
                return r;
        return vmsnap_xml_set_disk_sources(renamed, sources, n, ret, op->error);
}

static vmsnap_preview *preview_record(vmsnap_op *op, vmsnap_snapshot *config, preview_plan *plans, size_t n)
{
        vmsnap_preview *preview = xcalloc(1, sizeof(*preview));
        vmsnap_active_disk *active = NULL;
        size_t n_active = 0;

        if (vmsnap_op_active_disks(op, &active, &n_active) < 0)
                abort();
        preview->config_snapshot_id = xstrdup(config->id);
        preview->saved_xml = xstrdup(op->xml);
        preview->saved_current_id = xstrdup(op->meta->current_id);
        preview->disks = xcalloc(n + n_active + 1, sizeof(*preview->disks));
        for (size_t i = 0; i < n; i++) {
                const vmsnap_active_disk *now = active_find(active, n_active, plans[i].target);
                vmsnap_preview_disk *d = &preview->disks[preview->n_disks++];
                d->target = xstrdup(plans[i].target);
                if (plans[i].rbd_saved) {
                        d->rbd_saved = xstrdup(plans[i].rbd_saved);
                        d->rbd_overlay = xstrdup(plans[i].rbd_overlay);
                        d->snapshot_id = xstrdup(plans[i].snapshot_id);
                        continue;
                }
                d->overlay = xstrdup(plans[i].overlay);
                d->saved_leaf = now ? xstrdup(now->source) : NULL;
                d->saved_format = now ? xstrdup(now->format) : NULL;
                d->snapshot_id = xstrdup(plans[i].snapshot_id);
        }
        for (size_t i = 0; i < n_active; i++) {
                bool planned = false;
                for (size_t j = 0; j < n; j++)
                        planned = planned || strcmp(plans[j].target, active[i].target) == 0;
                if (planned)
                        continue;
                vmsnap_preview_disk *d = &preview->disks[preview->n_disks++];
                d->target = xstrdup(active[i].target);
                d->saved_leaf = xstrdup(active[i].source);
                d->saved_format = xstrdup(active[i].format);
        }
        vmsnap_active_disks_free(active, n_active);
        return preview;
}

/* Creates the overlays and switches the domain to the preview; on return the model
 * holds the preview but is not saved yet (the caller commits it). */
/* The XML the domain restores its memory with: the memory file's own, on the overlays. */
static int restore_xml(vmsnap_op *op, vmsnap_snapshot *config, preview_plan *plans, size_t n, char **ret)
{
        vmsnap_xml_disk_source sources[n + 1];

        plan_sources(plans, n, sources);
        return vmsnap_live_restore_xml(op, config->memory_file, sources, n, ret);
}

static int preview_apply(vmsnap_op *op, vmsnap_snapshot *config, const vmsnap_preview_options *options,
                         const char *operation, bool stop)
{
        preview_plan *plans = NULL;
        size_t n = 0;
        _cleanup_free_ char *saved_xml = xstrdup(op->xml);
        _cleanup_free_ char *new_xml = NULL, *memory_xml = NULL;
        vmsnap_preview *preview = NULL;
        int r;

        if (options && options->restore_memory && !config->memory_file)
                return vmsnap_error_set(
                        op->error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                        "snapshot \"%s\" has no memory state to restore; take snapshots with "
                        "memory from a running domain to restore one",
                        config->name);
        r = plan_preview(op, config, options, &plans, &n);
        if (r < 0)
                return r;
        if (options && options->restore_memory) {
                r = restore_xml(op, config, plans, n, &memory_xml);
                if (r < 0) {
                        plans_free(plans, n);
                        return r;
                }
        }
        /* The record is built before any change, while op->xml is still the saved state. */
        preview = preview_record(op, config, plans, n);
        if (stop) {
                r = vmsnap_live_stop(op);
                if (r < 0)
                        goto out;
        }

        vmsnap_journal_overlay *overlays = xcalloc(n + 1, sizeof(*overlays));
        size_t n_overlays = 0;
        for (size_t i = 0; i < n; i++)
                if (plans[i].overlay)
                        overlays[n_overlays++] = (vmsnap_journal_overlay){plans[i].overlay, plans[i].base};
        r = vmsnap_journal_prepare_overlays(op, operation, saved_xml, overlays, n_overlays);
        free(overlays);
        for (size_t i = 0; r == 0 && i < n; i++)
                if (plans[i].rbd_overlay)
                        r = vmsnap_journal_add_rbd_clone(op, plans[i].rbd_overlay,
                                                         json_object_get(plans[i].rbd_reach));
        if (r < 0)
                goto out;
        for (size_t i = 0; i < n; i++) {
                if (vmsnap_op_canceled(op)) {
                        r = vmsnap_error_set(op->error, -ECANCELED, VMSNAP_ERROR_CANCELED,
                                             "the %s was canceled; nothing was changed", operation);
                        goto fail;
                }
                r = vmsnap_op_failpoint(op, "preview: before overlay");
                if (r == 0 && plans[i].rbd_overlay)
                        r = vmsnap_rbd_snapshot_clone(op, plans[i].rbd_reach, plans[i].rbd_snapshot,
                                                      plans[i].rbd_overlay, op->meta->uuid);
                else if (r == 0 && plans[i].overlay)
                        r = vmsnap_image_create_overlay(plans[i].overlay, plans[i].base,
                                                        plans[i].base_format, op->error);
                if (r == 0)
                        r = vmsnap_op_failpoint(op, "preview: after overlay");
                if (r < 0)
                        goto fail;
                vmsnap_op_progress(op, i + 1, n + 1);
        }
        r = preview_xml(op, config, plans, n, &new_xml);
        if (r == 0)
                r = vmsnap_op_define(op, new_xml);
        if (r == 0)
                r = vmsnap_op_failpoint(op, "preview: after define");
        if (r < 0)
                goto fail;

        for (size_t i = 0; i < n; i++)
                if (plans[i].overlay)
                        vmsnap_domain_meta_add_owned(op->meta, plans[i].overlay);
        vmsnap_preview_free(op->meta->preview);
        op->meta->preview = preview;
        preview = NULL;
        free(op->meta->current_id);
        op->meta->current_id = xstrdup(config->id);
        if (memory_xml)
                vmsnap_journal_step_restore(op, config->memory_file, memory_xml);
        goto out;
fail:
        vmsnap_journal_rollback(op);
out:
        vmsnap_preview_free(preview);
        plans_free(plans, n);
        return r;
}

int vmsnap_preview_start(vmsnap_engine *engine, const char *domain, const char *snapshot,
                         const vmsnap_preview_options *options, const vmsnap_hooks *hooks,
                         vmsnap_error *error)
{
        vmsnap_snapshot *config;
        vmsnap_op *op;
        int r;

        bool running = false;

        r = vmsnap_op_begin(engine, domain, VMSNAP_OP_NO_PREVIEW | VMSNAP_OP_NO_FOREIGN_SNAPSHOTS, hooks,
                            &op, error);
        if (r < 0)
                return r;
        r = vmsnap_live_hold(op, "preview");
        if (r == 0)
                r = vmsnap_live_check_stopped(op, "a preview", options && options->stop, &running);
        if (r == 0)
                r = vmsnap_op_find_snapshot(op, snapshot, &config);
        if (r == 0)
                r = preview_apply(op, config, options, "preview", running);
        if (r == 0)
                r = vmsnap_journal_commit(op);
        vmsnap_live_release(op);
        vmsnap_op_end(op);
        return r;
}

/* A step that removes an RBD image vmsnap made once nothing needs it, with its cluster
 * reached now, while a configuration of the domain still names the image. */
static int step_rbd_image_remove(vmsnap_op *op, const char *image_name)
{
        vmsnap_rbd_disk *disk = NULL;
        int r = vmsnap_rbd_disk_open_image(op, NULL, image_name, &disk);

        if (r < 0)
                return r;
        vmsnap_journal_step_rbd_image_remove(op, image_name, vmsnap_rbd_disk_reach(disk));
        vmsnap_rbd_disk_close(disk);
        return 0;
}

/* The preview becomes the active state; the unsaved state it replaced is collected (an RBD
 * image vmsnap made, once nothing needs it). */
static int commit_apply(vmsnap_op *op)
{
        for (size_t i = 0; i < op->meta->preview->n_disks; i++)
                if (op->meta->preview->disks[i].rbd_overlay) {
                        int r = step_rbd_image_remove(op, op->meta->preview->disks[i].rbd_saved);
                        if (r < 0)
                                return r;
                }
        vmsnap_preview_free(op->meta->preview);
        op->meta->preview = NULL;
        return vmsnap_journal_commit(op);
}

/* What replaces a running domain's disks when its preview ends, as the refusal says it. */
static const char *end_change(const char *operation)
{
        return strcmp(operation, "commit") == 0 ? "the commit of its preview" : "the undo of its preview";
}

/* The refusal a commit or undo would meet at once, asked before it is queued: a running
 * domain in preview without the option stop. Lookups that fail are left to the operation. */
static int end_check(vmsnap_engine *engine, const char *domain, const char *operation,
                     const vmsnap_preview_end_options *options, vmsnap_error *error)
{
        vmsnap_domain_info info = {0};
        int r = 0;

        vmsnap_error_clear(error);
        if ((options && options->stop) || vmsnap_domain_get(engine, domain, &info, NULL) < 0)
                return 0;
        if (info.in_preview && (strcmp(info.state, "running") == 0 || strcmp(info.state, "paused") == 0))
                r = vmsnap_live_refuse_running(error, info.name, end_change(operation));
        vmsnap_domain_info_clear(&info);
        return r;
}

int vmsnap_preview_commit_check(vmsnap_engine *engine, const char *domain,
                                const vmsnap_preview_end_options *options, vmsnap_error *error)
{
        return end_check(engine, domain, "commit", options, error);
}

int vmsnap_preview_undo_check(vmsnap_engine *engine, const char *domain,
                              const vmsnap_preview_end_options *options, vmsnap_error *error)
{
        return end_check(engine, domain, "undo", options, error);
}

/* Begins commit or undo: holds the domain, and refuses or stops it when it runs. */
static int end_begin(vmsnap_engine *engine, const char *domain, const char *operation,
                     const vmsnap_preview_end_options *options, const vmsnap_hooks *hooks, vmsnap_op **ret,
                     vmsnap_error *error)
{
        vmsnap_op *op;
        int r;

        r = vmsnap_op_begin(engine, domain, VMSNAP_OP_IN_PREVIEW, hooks, &op, error);
        if (r < 0)
                return r;
        r = vmsnap_live_hold(op, operation);
        if (r == 0)
                r = vmsnap_live_check_stopped(op, end_change(operation), options && options->stop, NULL);
        if (r == 0)
                r = vmsnap_live_stop(op);
        if (r < 0) {
                vmsnap_live_release(op);
                vmsnap_op_end(op);
                return r;
        }
        *ret = op;
        return 0;
}

int vmsnap_preview_commit_with_options(vmsnap_engine *engine, const char *domain,
                                       const vmsnap_preview_end_options *options, const vmsnap_hooks *hooks,
                                       vmsnap_error *error)
{
        vmsnap_op *op;
        int r;

        r = end_begin(engine, domain, "commit", options, hooks, &op, error);
        if (r < 0)
                return r;
        r = commit_apply(op);
        vmsnap_live_release(op);
        vmsnap_op_end(op);
        return r;
}

int vmsnap_preview_commit(vmsnap_engine *engine, const char *domain, const vmsnap_hooks *hooks,
                          vmsnap_error *error)
{
        return vmsnap_preview_commit_with_options(engine, domain, NULL, hooks, error);
}

int vmsnap_preview_undo(vmsnap_engine *engine, const char *domain, const vmsnap_hooks *hooks,
                        vmsnap_error *error)
{
        return vmsnap_preview_undo_with_options(engine, domain, NULL, hooks, error);
}

int vmsnap_preview_undo_with_options(vmsnap_engine *engine, const char *domain,
                                     const vmsnap_preview_end_options *options, const vmsnap_hooks *hooks,
                                     vmsnap_error *error)
{
        vmsnap_preview *preview;
        vmsnap_op *op;
        int r;

        r = end_begin(engine, domain, "undo", options, hooks, &op, error);
        if (r < 0)
                return r;
        preview = op->meta->preview;
        vmsnap_journal_step_define(op, preview->saved_xml);
        for (size_t i = 0; r == 0 && i < preview->n_disks; i++)
                if (preview->disks[i].rbd_overlay)
                        r = step_rbd_image_remove(op, preview->disks[i].rbd_overlay);
        if (r == 0) {
                op->meta->preview = NULL;
                free(op->meta->current_id);
                op->meta->current_id = xstrdup(preview->saved_current_id);
                vmsnap_preview_free(preview);
                r = vmsnap_journal_commit(op);
        }
        vmsnap_live_release(op);
        vmsnap_op_end(op);
        return r;
}

int vmsnap_snapshot_revert(vmsnap_engine *engine, const char *domain, const char *snapshot,
                           const vmsnap_revert_options *options, const vmsnap_hooks *hooks,
                           vmsnap_error *error)
{
        vmsnap_preview_options preview_options = {.restore_memory = options && options->restore_memory};
        vmsnap_snapshot *target;
        vmsnap_op *op;
        bool running = false;
        int r;

        r = vmsnap_op_begin(engine, domain, VMSNAP_OP_NO_PREVIEW | VMSNAP_OP_NO_FOREIGN_SNAPSHOTS, hooks,
                            &op, error);
        if (r < 0)
                return r;
        r = vmsnap_live_hold(op, "revert");
        /* Going back to a running moment replaces what runs now: restore_memory implies stop. */
        if (r == 0)
                r = vmsnap_live_check_stopped(
                        op, "a revert", options && (options->stop || options->restore_memory), &running);
        if (r == 0)
                r = vmsnap_op_find_snapshot(op, snapshot, &target);
        if (r == 0)
                r = preview_apply(op, target, &preview_options, "revert", running);
        if (r == 0)
                r = commit_apply(op);
        vmsnap_live_release(op);
        if (r == 0 && options && options->start && !options->restore_memory &&
            virDomainCreate(op->domain) < 0) {
                virErrorPtr last = virGetLastError();
                r = vmsnap_error_set(error, -EIO, VMSNAP_ERROR_FAILED,
                                     "domain %s was reverted to \"%s\" but did not start: %s", op->name,
                                     target->name, last && last->message ? last->message : "unknown error");
        }
        vmsnap_live_release(op);
        vmsnap_op_end(op);
        return r;
}
