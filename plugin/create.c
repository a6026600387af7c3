/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* create.c: taking a snapshot: every selected disk gets a new qcow2 overlay on
 * top of its current leaf, the old leaf is frozen and recorded. A shut-off
 * domain is redefined onto the overlays; a running one is switched onto them by
 * libvirt (live.c), optionally with its memory state. Disks that cannot be
 * included are recorded with the reason. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "begin.h"
#include "chain.h"
#include "create.h"
#include "eligibility.h"
#include "error.h"
#include "facts.h"
#include "fileio.h"
#include "image.h"
#include "journal.h"
#include "live.h"
#include "names.h"
#include "rbd-disk.h"

#define DESCRIPTION_MAX 65536

int vmsnap_description_validate(const char *description, vmsnap_error *error)
{
        if (strlen(description) > DESCRIPTION_MAX)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "the description is %zu bytes long; at most %d are allowed",
                                        strlen(description), DESCRIPTION_MAX);
        return 0;
}

/* The one sentence of the rule "a domain's snapshots have distinct names". */
static int name_taken(vmsnap_error *error, const char *domain_name, const char *name)
{
        return vmsnap_error_set(error, -EEXIST, VMSNAP_ERROR_INVALID_ARGUMENT,
                                "domain %s already has a snapshot named \"%s\"; choose another name",
                                domain_name, name);
}

int vmsnap_snapshot_name_check_free(vmsnap_op *op, const char *name, const vmsnap_snapshot *except)
{
        int r = vmsnap_name_validate(name, op->error);
        if (r < 0)
                return r;
        vmsnap_snapshot *existing = vmsnap_domain_meta_find_name(op->meta, name);
        if (existing && existing != except)
                return name_taken(op->error, op->name, name);
        return 0;
}

int vmsnap_create_check(vmsnap_engine *engine, const char *domain, const vmsnap_create_options *options,
                        vmsnap_error *error)
{
        vmsnap_domain_facts facts = {0};
        vmsnap_snapshot_info existing = {0};
        vmsnap_domain_slot *slot;
        int r;

        vmsnap_error_clear(error);
        if (!options || !options->name || !options->name[0])
                return 0; /* a default name is always free */
        r = vmsnap_name_validate(options->name, error);
        if (r < 0)
                return r;
        /* Without the domain or its snapshot there is nothing to refuse now: the create
         * itself looks again and says what is wrong. A valid name is never spelled as a
         * UUID, so the snapshot found is the one of that name. */
        if (vmsnap_domain_facts_get(engine, domain, &facts, &slot, NULL) < 0)
                return 0;
        if (vmsnap_snapshot_get(engine, domain, options->name, &existing, NULL) == 0 &&
            strcmp(existing.name, options->name) == 0)
                r = name_taken(error, facts.name, options->name);
        vmsnap_snapshot_info_clear(&existing);
        vmsnap_domain_facts_clear(&facts);
        return r;
}

static char *default_name(vmsnap_op *op)
{
        char *name = NULL;

        for (;;) {
                free(name);
                name = xasprintf("snapshot-%u", op->meta->next_default_index++);
                if (!vmsnap_domain_meta_find_name(op->meta, name))
                        return name;
        }
}

static bool selected(const vmsnap_create_options *options, const char *target)
{
        if (options->n_disks == 0)
                return true;
        for (size_t i = 0; i < options->n_disks; i++)
                if (strcmp(options->disks[i], target) == 0)
                        return true;
        return false;
}

static int check_selection(vmsnap_op *op, const vmsnap_create_options *options)
{
        for (size_t i = 0; i < options->n_disks; i++) {
                const char *target = options->disks[i];
                const vmsnap_xml_disk *disk = NULL;
                const char *reason;

                if (!target || !*target)
                        return vmsnap_error_set(op->error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                                "a disk target must not be empty; name a disk of domain %s "
                                                "such as vda",
                                                op->name);
                for (size_t j = 0; j < i; j++)
                        if (strcmp(options->disks[j], target) == 0)
                                return vmsnap_error_set(op->error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                                        "disk %s is listed twice", target);
                for (size_t j = 0; j < op->n_disks; j++)
                        if (strcmp(op->disks[j].target, target) == 0)
                                disk = &op->disks[j];
                if (!disk)
                        return vmsnap_error_set(op->error, -ENOENT, VMSNAP_ERROR_INVALID_ARGUMENT,
                                                "domain %s has no disk %s", op->name, target);
                reason = vmsnap_disk_ineligible_reason(disk);
                if (reason)
                        return vmsnap_error_set(
                                op->error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                "disk %s cannot be snapshotted (%s); only writable file disks in "
                                "qcow2 or raw format can",
                                target, reason);
        }
        return 0;
}

/* One RBD disk to freeze: its cluster, and the RBD snapshot it gains. */
typedef struct rbd_freeze {
        vmsnap_rbd_disk *disk;
        char *rbd_snapshot;
} rbd_freeze;

/* The RBD disk's part of the plan: its cluster is reached, and its image holds no
 * snapshot vmsnap did not make (safety rule 4), before anything changes. A memory state
 * is taken only with the file disks libvirt switches: with an RBD disk it is refused,
 * naming the disk. */
static int plan_rbd_disk(vmsnap_op *op, const vmsnap_xml_disk *disk, vmsnap_snapshot *snapshot, bool memory,
                         rbd_freeze *ret)
{
        int r;

        if (memory)
                return vmsnap_error_set(
                        op->error, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED,
                        "disk %s of domain %s is an RBD disk, and vmsnap does not take memory "
                        "states with RBD disks yet; nothing was changed: take the snapshot "
                        "without memory, or leave the disk out",
                        disk->target, op->name);
        r = vmsnap_rbd_disk_open(op, op->xml, disk->target, &ret->disk);
        if (r == 0)
                r = vmsnap_rbd_disk_refuse_foreign_snapshots(op, ret->disk);
        if (r < 0)
                return r;
        ret->rbd_snapshot = vmsnap_rbd_disk_snapshot_name(ret->disk, snapshot->id);
        vmsnap_snapshot_add_rbd_disk(snapshot, disk->target, ret->rbd_snapshot);
        return 0;
}

/* One disk to freeze: its current leaf and the overlay that replaces it. */
typedef struct freeze_plan {
        const vmsnap_xml_disk *disk; /* into op->disks: valid until the domain is redefined */
        char *target;
        char *leaf;
        char *format;
        char *overlay;
} freeze_plan;

static int plan_disks(vmsnap_op *op, const vmsnap_create_options *options, vmsnap_snapshot *snapshot,
                      freeze_plan *plan, size_t *n_plan, rbd_freeze *rbd_plan, size_t *n_rbd)
{
        *n_plan = *n_rbd = 0;
        for (size_t i = 0; i < op->n_disks; i++) {
                const vmsnap_xml_disk *disk = &op->disks[i];
                const char *reason = vmsnap_disk_ineligible_reason(disk);
                vmsnap_image_header header = {0};
                freeze_plan *p;
                int r;

                if (!reason && !selected(options, disk->target))
                        reason = "not selected";
                if (reason) {
                        vmsnap_snapshot_add_disk(snapshot, disk->target, NULL, NULL, reason);
                        continue;
                }
                if (disk->rbd) {
                        r = plan_rbd_disk(op, disk, snapshot, options->memory, &rbd_plan[(*n_rbd)++]);
                        if (r < 0)
                                return r;
                        continue;
                }
                p = &plan[(*n_plan)++];
                p->disk = disk;
                p->target = xstrdup(disk->target);
                r = vmsnap_path_canonical(disk->source, &p->leaf, op->error);
                if (r < 0)
                        return r;
                /* The domain's <driver type> decides, as it does for qemu. libvirt reads a disk
                 * that declares none as raw and never probes a format (a guest could write
                 * any header into a raw disk), and neither does vmsnap. A disk declared
                 * qcow2 must be one: an overlay over anything else would not open. */
                vmsnap_image_format declared = VMSNAP_FORMAT_RAW;
                if (disk->format && vmsnap_image_format_parse(disk->format, &declared) < 0)
                        return vmsnap_error_set(op->error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                                "disk %s has format %s, which cannot be snapshotted",
                                                disk->target, disk->format);
                r = vmsnap_image_header_read_as(p->leaf, &declared, &header, op->error);
                if (r < 0)
                        return vmsnap_error_prefix(op->error, "disk %s (declared %s in the domain)",
                                                   disk->target, vmsnap_image_format_name(declared));
                p->format = xstrdup(vmsnap_image_format_name(header.format));
                vmsnap_image_header_clear(&header);
                r = vmsnap_image_overlay_path(p->leaf, &p->overlay, op->error);
                if (r < 0)
                        return r;
                vmsnap_snapshot_add_disk(snapshot, disk->target, p->leaf, p->format, NULL);
        }
        if (*n_plan + *n_rbd == 0)
                return vmsnap_error_set(
                        op->error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                        "no disk of domain %s can be snapshotted: a snapshot needs at least one "
                        "writable file disk in qcow2 or raw format, or an RBD disk",
                        op->name);
        return 0;
}

/* The persistent definition of a running domain must follow its disks onto the
 * overlays; libvirt does that itself for external snapshots, this makes sure, as a
 * step after the commit point (the disks have moved: there is no going back). */
static int follow_onto_overlays(vmsnap_op *op, const vmsnap_xml_disk_source *sources, size_t n)
{
        _cleanup_free_ char *new_xml = NULL;
        bool differs = false;
        int r;

        r = vmsnap_op_reload_xml(op);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < op->n_disks; j++)
                        if (strcmp(op->disks[j].target, sources[i].target) == 0)
                                differs = differs || !op->disks[j].source ||
                                          strcmp(op->disks[j].source, sources[i].source) != 0;
        if (!differs)
                return 0;
        r = vmsnap_xml_set_disk_sources(op->xml, sources, n, &new_xml, op->error);
        if (r < 0)
                return r;
        vmsnap_journal_step_define(op, new_xml);
        return 0;
}

/* What the model gains with the snapshot (which it takes over): the overlays and the
 * memory file become vmsnap's, and the snapshot becomes the current one. */
static void record_snapshot(vmsnap_domain_meta *meta, vmsnap_snapshot *snapshot, const freeze_plan *plan,
                            size_t n_plan)
{
        for (size_t i = 0; i < n_plan; i++)
                vmsnap_domain_meta_add_owned(meta, plan[i].overlay);
        if (snapshot->memory_file)
                vmsnap_domain_meta_add_owned(meta, snapshot->memory_file);
        free(meta->current_id);
        meta->current_id = xstrdup(snapshot->id);
        vmsnap_domain_meta_add_snapshot(meta, snapshot);
}

/* Before libvirt is asked: the model after the snapshot, for recovery to roll forward to
 * if libvirt moved the disks and vmsnap did not live to record it. */
static int expect_switch(vmsnap_op *op, const vmsnap_snapshot *snapshot, const freeze_plan *plan,
                         size_t n_plan, const vmsnap_xml_disk_source *sources)
{
        vmsnap_domain_meta *after = vmsnap_domain_meta_copy(op->meta);
        int r;

        json_object_put(after->intent);
        after->intent = NULL;
        record_snapshot(after, vmsnap_snapshot_copy(snapshot), plan, n_plan);
        r = vmsnap_journal_expect_switch(op, sources, n_plan, after);
        vmsnap_domain_meta_free(after);
        return r;
}

/* Records the RBD snapshots in the intent before any is taken. */
static int record_rbd_snapshots(vmsnap_op *op, rbd_freeze *rbd_plan, size_t n_rbd)
{
        for (size_t i = 0; i < n_rbd; i++) {
                int r = vmsnap_journal_add_rbd_snapshot(op, rbd_plan[i].rbd_snapshot,
                                                        vmsnap_rbd_disk_reach(rbd_plan[i].disk));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int take_rbd_snapshots(vmsnap_op *op, const vmsnap_snapshot *snapshot, rbd_freeze *rbd_plan,
                              size_t n_rbd, size_t n_plan)
{
        for (size_t i = 0; i < n_rbd; i++) {
                int r = vmsnap_op_failpoint(op, "create: before rbd snapshot");
                if (r == 0)
                        r = vmsnap_rbd_disk_freeze(op, rbd_plan[i].disk, snapshot->id);
                if (r == 0)
                        r = vmsnap_op_failpoint(op, "create: after rbd snapshot");
                if (r < 0)
                        return r;
                vmsnap_op_progress(op, n_plan + i + 1, n_plan + n_rbd + 1);
        }
        return 0;
}

/* A running domain's snapshot: RBD snapshots taken by vmsnap, the file disks switched by
 * libvirt. One instant for all of them needs the guest held still: its file systems frozen
 * when it is to be quiesced, else its vCPUs paused when there is more than one disk (one
 * RBD disk alone is snapshotted at an instant by Ceph). */
static int snapshot_running(vmsnap_op *op, const vmsnap_snapshot *snapshot,
                            const vmsnap_live_disk *live_disks, const vmsnap_xml_disk_source *sources,
                            size_t n_plan, rbd_freeze *rbd_plan, size_t n_rbd, bool quiesce)
{
        const char *still = n_rbd == 0 ? NULL : quiesce ? "frozen" : n_plan + n_rbd > 1 ? "paused" : NULL;
        int r = 0;

        if (still) {
                r = vmsnap_journal_guest_still(op, still);
                if (r == 0)
                        r = vmsnap_live_still_begin(op, still);
                if (r < 0) {
                        vmsnap_journal_guest_still(op, NULL);
                        return r;
                }
        }
        r = take_rbd_snapshots(op, snapshot, rbd_plan, n_rbd, n_plan);
        if (r == 0 && n_plan > 0) {
                r = vmsnap_op_failpoint(op, "create: before live snapshot");
                if (r == 0)
                        r = vmsnap_live_snapshot(op, live_disks, n_plan, snapshot->memory_file,
                                                 quiesce && !still);
                if (r == 0)
                        r = vmsnap_op_failpoint(op, "create: after live snapshot");
        }
        if (still && !op->crashed) {
                vmsnap_live_still_end(op, still);
                int ended = vmsnap_journal_guest_still(op, NULL);
                if (r == 0)
                        r = ended;
        }
        if (r < 0)
                return r;
        return n_plan > 0 ? follow_onto_overlays(op, sources, n_plan) : 0;
}

static int freeze_disks(vmsnap_op *op, const vmsnap_snapshot *snapshot, freeze_plan *plan, size_t n_plan,
                        rbd_freeze *rbd_plan, size_t n_rbd, bool live, bool quiesce)
{
        vmsnap_xml_disk_source sources[n_plan];
        vmsnap_live_disk live_disks[n_plan];
        _cleanup_free_ char *saved_xml = xstrdup(op->xml);
        _cleanup_free_ char *new_xml = NULL;
        int r;

        vmsnap_journal_overlay overlays[n_plan + 1];
        for (size_t i = 0; i < n_plan; i++)
                overlays[i] = (vmsnap_journal_overlay){plan[i].overlay, plan[i].leaf};
        r = vmsnap_journal_prepare_overlays(op, "create", live ? "" : saved_xml, overlays, n_plan);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_plan; i++) {
                if (vmsnap_op_canceled(op))
                        return vmsnap_error_set(op->error, -ECANCELED, VMSNAP_ERROR_CANCELED,
                                                "the snapshot was canceled; nothing was changed");
                r = vmsnap_op_failpoint(op, "create: before overlay");
                if (r < 0)
                        return r;
                r = vmsnap_image_create_overlay(plan[i].overlay, plan[i].leaf, plan[i].format, op->error);
                if (r < 0)
                        return r;
                r = vmsnap_op_failpoint(op, "create: after overlay");
                if (r < 0)
                        return r;
                sources[i] = (vmsnap_xml_disk_source){plan[i].target, plan[i].overlay, "qcow2"};
                live_disks[i] = (vmsnap_live_disk){plan[i].target, plan[i].overlay};
                vmsnap_op_progress(op, i + 1, n_plan + n_rbd + 1);
        }
        r = record_rbd_snapshots(op, rbd_plan, n_rbd);
        if (r < 0)
                return r;
        if (live) {
                if (snapshot->memory_file) {
                        r = vmsnap_journal_add_memory_file(op, snapshot->memory_file);
                        if (r < 0)
                                return r;
                }
                if (vmsnap_op_canceled(op))
                        return vmsnap_error_set(op->error, -ECANCELED, VMSNAP_ERROR_CANCELED,
                                                "the snapshot was canceled; nothing was changed");
                if (n_plan > 0) {
                        r = expect_switch(op, snapshot, plan, n_plan, sources);
                        if (r < 0)
                                return r;
                }
                return snapshot_running(op, snapshot, live_disks, sources, n_plan, rbd_plan, n_rbd, quiesce);
        }
        if (vmsnap_op_canceled(op))
                return vmsnap_error_set(op->error, -ECANCELED, VMSNAP_ERROR_CANCELED,
                                        "the snapshot was canceled; nothing was changed");
        r = take_rbd_snapshots(op, snapshot, rbd_plan, n_rbd, n_plan);
        if (r < 0)
                return r;
        if (n_plan == 0)
                return 0; /* RBD disks alone: the definition stays as it is */
        r = vmsnap_xml_set_disk_sources(saved_xml, sources, n_plan, &new_xml, op->error);
        if (r < 0)
                return r;
        r = vmsnap_op_define(op, new_xml);
        if (r < 0)
                return r;
        return vmsnap_op_failpoint(op, "create: after define");
}

int vmsnap_snapshot_create(vmsnap_engine *engine, const char *domain, const vmsnap_create_options *options,
                           const vmsnap_hooks *hooks, char **name_ret, vmsnap_error *error)
{
        static const vmsnap_create_options defaults = {0};
        vmsnap_snapshot *snapshot = NULL;
        vmsnap_op *op = NULL;
        freeze_plan *plan = NULL;
        rbd_freeze *rbd_plan = NULL;
        size_t n_plan = 0, n_rbd = 0;
        char *memory_file = NULL;
        bool live;
        char id[37];
        int r;

        if (!options)
                options = &defaults;
        r = vmsnap_op_begin(engine, domain, VMSNAP_OP_NO_PREVIEW | VMSNAP_OP_NO_FOREIGN_SNAPSHOTS, hooks,
                            &op, error);
        if (r < 0)
                return r;
        r = vmsnap_live_hold(op, "create");
        if (r < 0)
                goto out;
        live = virDomainIsActive(op->domain) == 1;
        if (!live && (options->memory || options->quiesce)) {
                r = vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                     "domain %s is shut off: %s only applies to a running domain", op->name,
                                     options->memory ? "memory" : "quiesce");
                goto out;
        }

        snapshot = vmsnap_snapshot_new();
        vmsnap_uuid_generate(id);
        snapshot->id = xstrdup(id);
        if (options->name && *options->name) {
                r = vmsnap_snapshot_name_check_free(op, options->name, NULL);
                if (r < 0)
                        goto out;
                snapshot->name = xstrdup(options->name);
        } else
                snapshot->name = default_name(op);
        snapshot->description = xstrdup(options->description ? options->description : "");
        r = vmsnap_description_validate(snapshot->description, error);
        if (r < 0)
                goto out;
        r = check_selection(op, options);
        if (r < 0)
                goto out;

        plan = xcalloc(op->n_disks + 1, sizeof(*plan));
        rbd_plan = xcalloc(op->n_disks + 1, sizeof(*rbd_plan));
        r = plan_disks(op, options, snapshot, plan, &n_plan, rbd_plan, &n_rbd);
        if (r < 0)
                goto out;
        if (options->quiesce) {
                bool agent = false;
                r = vmsnap_live_has_guest_agent(op, &agent);
                if (r < 0)
                        goto out;
                if (!agent) {
                        r = vmsnap_error_set(
                                error, -EINVAL, VMSNAP_ERROR_UNSUPPORTED,
                                "domain %s has no QEMU guest agent channel, so its file systems "
                                "cannot be quiesced; nothing was changed: add a channel of target "
                                "org.qemu.guest_agent.0 and run qemu-guest-agent in the guest, or take "
                                "the snapshot without quiesce",
                                op->name);
                        goto out;
                }
        }
        if (options->memory) {
                r = vmsnap_live_memory_path(op, plan[0].leaf, snapshot->id, &memory_file);
                if (r < 0)
                        goto out;
        }

        snapshot->created = time(NULL);
        snapshot->parent_id = xstrdup(op->meta->current_id);
        snapshot->state = xstrdup(vmsnap_domain_state_name(op->domain));
        snapshot->config_xml = xstrdup(op->xml);

        snapshot->memory_file = xstrdup(memory_file);
        snapshot->consistency = xstrdup(!live              ? VMSNAP_CONSISTENCY_OFFLINE
                                        : options->quiesce ? VMSNAP_CONSISTENCY_QUIESCED
                                                           : VMSNAP_CONSISTENCY_CRASH);

        r = freeze_disks(op, snapshot, plan, n_plan, rbd_plan, n_rbd, live, options->quiesce);
        if (r < 0) {
                vmsnap_journal_rollback(op);
                /* libvirt may have moved the disks although the call reported a failure (a
                 * lost reply): the rollback then recorded the snapshot, which is the outcome. */
                if (!op->crashed && vmsnap_domain_meta_find_id(op->meta, snapshot->id)) {
                        vmsnap_error_clear(error);
                        r = 0;
                        if (name_ret)
                                *name_ret = xstrdup(snapshot->name);
                }
                goto out;
        }

        record_snapshot(op->meta, snapshot, plan, n_plan);
        r = vmsnap_journal_commit(op);
        if (r == 0 && name_ret)
                *name_ret = xstrdup(snapshot->name);
        snapshot = NULL; /* owned by the model now */
        vmsnap_op_progress(op, n_plan + n_rbd + 1, n_plan + n_rbd + 1);
out:
        for (size_t i = 0; rbd_plan && i < n_rbd; i++) {
                vmsnap_rbd_disk_close(rbd_plan[i].disk);
                free(rbd_plan[i].rbd_snapshot);
        }
        free(rbd_plan);
        for (size_t i = 0; plan && i < n_plan; i++) {
                free(plan[i].target);
                free(plan[i].leaf);
                free(plan[i].format);
                free(plan[i].overlay);
        }
        free(plan);
        free(memory_file);
        vmsnap_snapshot_free(snapshot);
        vmsnap_live_release(op);
        vmsnap_op_end(op);
        return r;
}
