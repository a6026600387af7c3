/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* delete-all.c: deleting every snapshot of a domain at once (the RFC's
 * snapshot-delete-all, the "Delete all" of VMware and VirtualBox). Each disk
 * keeps reading what it reads now and is left as its original image plus at most
 * one vmsnap overlay: a commit down into the lowest overlay, or a pull into the active
 * overlay when that writes clearly less (commit_preferred). With into_original the active chain is
 * committed into the original image itself, so that the disk is one file again. An image a
 * metadata-only delete left to the administrator, and what it reads, count as originals: never
 * written, and into_original is refused where one is in the way.
 * The plan is one journal intent (delete.c's steps, live or offline), so a crash
 * finishes it; the images nothing reads any more are collected after it. */
#include <stdio.h>
#include <string.h>

#include "begin.h"
#include "chain.h"
#include "domxml.h"
#include "error.h"
#include "fileio.h"
#include "guard.h"
#include "journal.h"
#include "live.h"

/* The images of one disk's active chain that vmsnap made and may change, top first, and
 * the first image below them that it may not (the original), if any: one it did not make,
 * or one that an image a metadata-only delete left to the administrator reads (forgotten). */
typedef struct owned_chain {
        char **paths;
        size_t n;
        char *original;
        char *original_format;
        const char *forgotten; /* the forgotten image that reads original, or NULL */
        vmsnap_op *op;
} owned_chain;

static void owned_chain_clear(owned_chain *chain)
{
        for (size_t i = 0; i < chain->n; i++)
                free(chain->paths[i]);
        free(chain->paths);
        free(chain->original);
        free(chain->original_format);
}

static int owned_chain_visit(const char *path, const vmsnap_image_header *header, unsigned depth,
                             void *userdata)
{
        owned_chain *chain = userdata;
        char *canonical = NULL;

        canonical = vmsnap_path_canonical_or_copy(path);
        chain->forgotten = vmsnap_op_forgotten_reader(chain->op, canonical);
        if (chain->forgotten || !vmsnap_domain_meta_owns(chain->op->meta, canonical)) {
                chain->original = canonical;
                return 1; /* vmsnap's part of the chain ends here */
        }
        chain->paths = xreallocarray(chain->paths, chain->n + 1, sizeof(*chain->paths));
        chain->paths[chain->n++] = canonical;
        /* What the original is, as the overlay above it declares. */
        free(chain->original_format);
        chain->original_format =
                header->backing ? xstrdup(vmsnap_image_format_name(header->backing_format)) : NULL;
        return 0;
}

/* A pull moves a byte more slowly than a commit: offline `qemu-img rebase` reads every
 * cluster the active overlay lacks through the old chain and the new one and compares
 * them, where `qemu-img commit` copies what the overlays hold; live, QEMU's stream job
 * is slower per byte than the mirror behind an active commit. On a chain of 20 overlays
 * of 16 MiB over a 704 MiB original, the pull took 1.3 to 2.5 times as long as the
 * commit of the same bytes. So the commit is chosen unless the pull writes less than
 * two thirds of what the commit would: near-even estimates go the faster way. */
static bool commit_preferred(uint64_t commit_cost, uint64_t pull_cost)
{
        return commit_cost <= pull_cost + pull_cost / 2;
}

typedef struct delete_all_plan {
        vmsnap_xml_disk_source *sources; /* disks that end on another file */
        size_t n_sources;
        char **kept; /* strings the sources point to */
        size_t n_kept;
        uint64_t bytes; /* upper bound of what the steps write */
        size_t n_steps;
} delete_all_plan;

static const char *plan_keep(delete_all_plan *plan, const char *text)
{
        plan->kept = xreallocarray(plan->kept, plan->n_kept + 1, sizeof(*plan->kept));
        plan->kept[plan->n_kept] = xstrdup(text);
        return plan->kept[plan->n_kept++];
}

static void plan_move_disk(delete_all_plan *plan, const char *target, const char *source, const char *format)
{
        plan->sources[plan->n_sources++] = (vmsnap_xml_disk_source){
                plan_keep(plan, target), plan_keep(plan, source), plan_keep(plan, format)};
}

/* Plans one disk: its active chain ends reading the same bytes from at most the
 * original plus one overlay (or the original alone with into_original). */
static int plan_disk(vmsnap_op *op, const vmsnap_active_disk *disk, bool into_original,
                     delete_all_plan *plan)
{
        owned_chain chain = {.op = op};
        vmsnap_image_format format;
        bool elsewhere = false;
        int r;

        if (!vmsnap_domain_meta_owns(op->meta, disk->source))
                return 0; /* the disk is still its original image */
        r = vmsnap_chain_walk_as(disk->source,
                                 vmsnap_image_format_parse(disk->format, &format) == 0 ? &format : NULL,
                                 owned_chain_visit, &chain, op->error);
        if (r < 0)
                goto out;
        r = 0;
        if (into_original && !chain.original) {
                vmsnap_op_message(
                        op,
                        "disk %s: every image of its chain was made by vmsnap, so there is no original "
                        "to commit into; it keeps one overlay",
                        disk->target);
                into_original = false;
        }
        if (into_original && chain.forgotten && strcmp(chain.forgotten, chain.original) == 0) {
                r = vmsnap_error_set(
                        op->error, -EBUSY, VMSNAP_ERROR_INVALID_ARGUMENT,
                        "disk %s of %s cannot be committed into its original image: its chain "
                        "goes through %s, which a metadata-only delete left to the administrator "
                        "and vmsnap never changes; delete all without into_original",
                        disk->target, op->name, chain.original);
                goto out;
        }
        if (into_original && chain.forgotten) {
                r = vmsnap_error_set(
                        op->error, -EBUSY, VMSNAP_ERROR_INVALID_ARGUMENT,
                        "disk %s of %s cannot be committed into its original image: %s, in its "
                        "chain, is read by %s, which a metadata-only delete left to the "
                        "administrator, and that would then read what it never held; delete all "
                        "without into_original",
                        disk->target, op->name, chain.original, chain.forgotten);
                goto out;
        }
        if (into_original) {
                r = vmsnap_op_used_elsewhere(op, chain.original, &elsewhere);
                if (r < 0)
                        goto out;
                if (elsewhere) {
                        r = vmsnap_error_set(op->error, -EBUSY, VMSNAP_ERROR_INVALID_ARGUMENT,
                                             "disk %s of %s cannot be committed into its original image %s: "
                                             "another domain reads that image, and would then read what it "
                                             "never held; delete all without into_original",
                                             disk->target, op->name, chain.original);
                        goto out;
                }
                vmsnap_journal_step_block_commit(op, disk->target, disk->source, chain.original, true, NULL);
                plan_move_disk(plan, disk->target, chain.original,
                               chain.original_format ? chain.original_format : "raw");
                plan->bytes += vmsnap_files_allocated(chain.paths, chain.n);
                plan->n_steps++;
                vmsnap_op_message(op, "disk %s: committed into its original image %s", disk->target,
                                  chain.original);
                goto out;
        }
        if (chain.n < 2)
                goto out; /* the original and one overlay already */

        const char *lowest = chain.paths[chain.n - 1];
        uint64_t pull_cost = vmsnap_files_allocated(chain.paths + 1, chain.n - 1);
        uint64_t commit_cost = vmsnap_files_allocated(chain.paths, chain.n - 1);

        r = vmsnap_op_used_elsewhere(op, lowest, &elsewhere);
        if (r < 0)
                goto out;
        if (commit_preferred(commit_cost, pull_cost) && !elsewhere) {
                /* The lowest overlay takes the data above it and becomes the disk's file. */
                vmsnap_journal_step_block_commit(op, disk->target, disk->source, lowest, true, NULL);
                plan_move_disk(plan, disk->target, lowest, "qcow2");
                plan->bytes += commit_cost;
        } else {
                /* The active overlay takes the data below it, down to the original. */
                r = vmsnap_journal_step_block_pull(op, disk->target, disk->source, chain.original,
                                                   chain.original_format);
                if (r < 0)
                        goto out;
                plan->bytes += pull_cost;
        }
        plan->n_steps++;
        if (chain.forgotten && strcmp(chain.forgotten, chain.original) == 0)
                vmsnap_op_message(op,
                                  "disk %s: %s, which a metadata-only delete left to the administrator, was "
                                  "left in place below the disk",
                                  disk->target, chain.original);
        else if (chain.forgotten)
                vmsnap_op_message(op,
                                  "disk %s: %s is read by %s, which a metadata-only delete left to the "
                                  "administrator; it was left in place below the disk",
                                  disk->target, chain.original, chain.forgotten);
        else if (chain.original)
                vmsnap_op_message(
                        op,
                        "disk %s: %s is the domain's original image, which vmsnap never changes; it "
                        "was left in place as the base of the disk",
                        disk->target, chain.original);
out:
        owned_chain_clear(&chain);
        return r;
}

static int check_space(vmsnap_op *op, const vmsnap_active_disk *active, size_t n_active, uint64_t bytes)
{
        for (size_t i = 0; i < n_active; i++) {
                _cleanup_free_ char *dir = path_dirname(active[i].source);
                uint64_t available;
                int r = vmsnap_dir_free_bytes(dir, &available, op->error);
                if (r < 0)
                        return r;
                if (bytes > available)
                        return vmsnap_error_set(
                                op->error, -ENOSPC, VMSNAP_ERROR_NO_SPACE,
                                "deleting every snapshot of %s needs up to %llu MiB in %s but "
                                "only %llu MiB are free; free some space first",
                                op->name, (unsigned long long)(bytes >> 20), dir,
                                (unsigned long long)(available >> 20));
        }
        return 0;
}

static int delete_all(vmsnap_op *op, bool into_original)
{
        vmsnap_active_disk *active = NULL;
        size_t n_active = 0, n_snapshots = op->meta->n_snapshots;
        delete_all_plan plan = {0};
        _cleanup_free_ char *new_xml = NULL;
        int r;

        r = vmsnap_op_active_disks(op, &active, &n_active);
        if (r < 0)
                return r;
        plan.sources = xcalloc(n_active + 1, sizeof(*plan.sources));
        for (size_t i = 0; r == 0 && i < n_active; i++)
                r = plan_disk(op, &active[i], into_original, &plan);
        if (r == 0 && plan.bytes > 0)
                r = check_space(op, active, n_active, plan.bytes);
        if (r == 0 && plan.n_sources > 0) {
                r = vmsnap_xml_set_disk_sources(op->xml, plan.sources, plan.n_sources, &new_xml, op->error);
                if (r == 0)
                        /* after the commits: they check the chain */
                        vmsnap_journal_step_define_after_merge(op, new_xml);
        }
        for (size_t i = 0; r == 0 && i < op->meta->n_snapshots; i++)
                r = vmsnap_journal_step_rbd_snapshots_remove(op, op->meta->snapshots[i]);
        if (r == 0 && vmsnap_op_canceled(op))
                r = vmsnap_error_set(op->error, -ECANCELED, VMSNAP_ERROR_CANCELED,
                                     "deleting every snapshot of %s was canceled; nothing was changed",
                                     op->name);
        if (r < 0) {
                json_object_put(op->meta->intent);
                op->meta->intent = NULL;
                goto out;
        }
        if (n_snapshots == 0 && plan.n_steps == 0) {
                vmsnap_op_message(op, "%s has no snapshots: nothing was deleted", op->name);
                goto out;
        }
        while (op->meta->n_snapshots > 0) {
                _cleanup_free_ char *id = xstrdup(op->meta->snapshots[op->meta->n_snapshots - 1]->id);
                vmsnap_domain_meta_remove_snapshot(op->meta, id);
        }
        free(op->meta->current_id);
        op->meta->current_id = NULL;
        /* From here on every disk is brought to its one or two files, also after a crash. */
        r = vmsnap_journal_commit(op);
out:
        for (size_t i = 0; i < plan.n_kept; i++)
                free(plan.kept[i]);
        free(plan.kept);
        free(plan.sources);
        vmsnap_active_disks_free(active, n_active);
        return r;
}

int vmsnap_snapshot_delete_all(vmsnap_engine *engine, const char *domain,
                               const vmsnap_delete_all_options *options, const vmsnap_hooks *hooks,
                               vmsnap_error *error)
{
        vmsnap_op *op;
        int r;

        /* A running domain is fine: its chains change only through block jobs. */
        r = vmsnap_op_begin(engine, domain, VMSNAP_OP_NO_PREVIEW | VMSNAP_OP_NO_FOREIGN_IN_CHAINS, hooks,
                            &op, error);
        if (r < 0)
                return r;
        r = vmsnap_live_hold(op, "merge");
        pthread_mutex_lock(&op->slot->data_lock);
        size_t clones = op->slot->n_clone_locks;
        pthread_mutex_unlock(&op->slot->data_lock);
        /* A merge rewrites images that a clone may be reading. */
        if (r == 0 && clones > 0)
                r = vmsnap_error_set(error, -EBUSY, VMSNAP_ERROR_LOCKED,
                                     "a clone from a snapshot of %s is running; deleting its snapshots must "
                                     "wait until it has finished",
                                     op->name);
        if (r == 0)
                r = delete_all(op, options && options->into_original);
        vmsnap_live_release(op);
        vmsnap_op_end(op);
        return r;
}
