/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* delete.c: deleting a snapshot: merge (the default: its children move to its
 * parent and every image that read through its frozen images reads the same
 * bytes afterwards), with its whole subtree, of its subtree only, or of the
 * metadata only. The
 * merge plan picks per disk whichever copies less: pull the frozen image into
 * each child image, or commit the only child down into it. While the domain
 * runs, images in its running chains change only through libvirt block jobs
 * (live.c); other branches keep using qemu-img. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "begin.h"
#include "chain.h"
#include "delete.h"
#include "error.h"
#include "fileio.h"
#include "gc.h"
#include "guard.h"
#include "journal.h"
#include "live.h"
#include "path-set.h"

/* How many more bytes a merge may copy to commit the only child down rather than pull. */
#define COMMIT_PREFERRED_BYTES (UINT64_C(1) << 20)

/* A file the merge plan knows, with its backing file as its header says. */
typedef struct graph_node {
        char *path;
        char *backing; /* the path of the node it names when there is one, else canonical; NULL: none */
        char *backing_format;
        uint32_t internal_snapshots; /* qcow2 internal snapshots the file holds (safety rule 4) */
        uint64_t device, inode;      /* the file read */
} graph_node;

/* The files, in the order they were added, and three sorted indexes over them, so that
 * planning the merge of every snapshot of a domain of 1,000 (sizes.c's dry runs) costs
 * n log n lookups instead of n^2 string comparisons. Built once per plan. */
typedef struct image_graph {
        graph_node *nodes;
        size_t n;
        const graph_node **by_path;
        const graph_node **by_backing; /* the nodes with a backing file, by (backing, order) */
        size_t n_by_backing;
        char **owned; /* a copy of op->meta->owned, sorted */
        size_t n_owned;
        vmsnap_resolved_dirs dirs; /* the backing files' directories, each resolved once */
        bool running;              /* the domain ran when the graph was built */
} image_graph;

static void graph_clear(image_graph *graph)
{
        for (size_t i = 0; i < graph->n; i++) {
                free(graph->nodes[i].path);
                free(graph->nodes[i].backing);
                free(graph->nodes[i].backing_format);
        }
        free(graph->nodes);
        free(graph->by_path);
        free(graph->by_backing);
        for (size_t i = 0; i < graph->n_owned; i++)
                free(graph->owned[i]);
        free(graph->owned);
        vmsnap_resolved_dirs_clear(&graph->dirs);
        *graph = (image_graph){0};
}

static int compare_strings(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int compare_node_paths(const void *a, const void *b)
{
        return strcmp((*(const graph_node *const *)a)->path, (*(const graph_node *const *)b)->path);
}

static int compare_node_backings(const void *a, const void *b)
{
        const graph_node *x = *(const graph_node *const *)a, *y = *(const graph_node *const *)b;
        int c = strcmp(x->backing, y->backing);
        return c ? c : (x > y) - (x < y);
}

static const graph_node *graph_find(const image_graph *graph, const char *path)
{
        graph_node key = {.path = (char *)path};
        const graph_node *key_pointer = &key;
        const graph_node **found =
                bsearch(&key_pointer, graph->by_path, graph->n, sizeof(*graph->by_path), compare_node_paths);
        return found ? *found : NULL;
}

/* Whether vmsnap made path: vmsnap_domain_meta_owns() over the sorted copy. */
static bool graph_owns(const image_graph *graph, const char *path)
{
        return path && bsearch(&path, graph->owned, graph->n_owned, sizeof(*graph->owned), compare_strings);
}

/* A file to add: its path, what it is recorded to be, and when it was named. */
typedef struct graph_candidate {
        const char *path;
        const char *format;
        size_t order;
} graph_candidate;

static int compare_candidates(const void *a, const void *b)
{
        const graph_candidate *x = a, *y = b;
        int c = strcmp(x->path, y->path);
        return c ? c : (x->order > y->order) - (x->order < y->order);
}

static int compare_candidate_orders(const void *a, const void *b)
{
        const graph_candidate *x = a, *y = b;
        return (x->order > y->order) - (x->order < y->order);
}

/* format: what path is recorded to be; it is read as that, never probed. NULL only for
 * files vmsnap made itself. */
static int graph_add(vmsnap_op *op, image_graph *graph, const char *path, const char *format)
{
        vmsnap_image_header header = {0};
        vmsnap_image_format known;
        graph_node *node;
        int r;

        r = vmsnap_image_header_read_as(path, vmsnap_image_format_parse(format, &known) == 0 ? &known : NULL,
                                        &header, op->error);
        if (r == -ENOENT) { /* a file that is gone is no node */
                vmsnap_error_clear(op->error);
                return 0;
        }
        if (r < 0)
                return r;
        node = &graph->nodes[graph->n++];
        *node = (graph_node){xstrdup(path),      xstrdup(header.backing), NULL, header.internal_snapshots,
                             header.file_device, header.file_inode};
        if (header.backing) /* as the header names it: graph_resolve_backings */
                node->backing_format = xstrdup(vmsnap_image_format_name(header.backing_format));
        vmsnap_image_header_clear(&header);
        return 0;
}

/* Names each node's backing file by the path of the node it is: most headers name it by that
 * very path; another spelling (a symlink, a relative name) is told by the file's identity,
 * and a file that is no node by its canonical path. */
static void graph_resolve_backings(image_graph *graph)
{
        for (size_t i = 0; i < graph->n; i++) {
                graph_node *node = &graph->nodes[i];
                char *resolved = NULL;
                struct stat st;

                if (!node->backing || graph_find(graph, node->backing))
                        continue;
                if (stat(node->backing, &st) == 0)
                        for (size_t j = 0; j < graph->n && !resolved; j++)
                                if (graph->nodes[j].device == (uint64_t)st.st_dev &&
                                    graph->nodes[j].inode == (uint64_t)st.st_ino)
                                        resolved = xstrdup(graph->nodes[j].path);
                if (resolved ||
                    vmsnap_path_canonical_in(&graph->dirs, node->backing, &resolved, NULL) == 0) {
                        free(node->backing);
                        node->backing = resolved;
                }
        }
}

/* The files vmsnap made (their headers are its own), the snapshots' images and the active
 * ones, each read once: the first naming of a path decides how it is read. */
static int graph_build(vmsnap_op *op, const vmsnap_active_disk *active, size_t n_active, image_graph *graph)
{
        size_t n = 0, capacity = op->meta->n_owned + n_active + 1;
        graph_candidate *candidates;
        int r = 0;

        for (size_t i = 0; i < op->meta->n_snapshots; i++)
                capacity += op->meta->snapshots[i]->n_disks;
        candidates = xcalloc(capacity, sizeof(*candidates));
        graph->nodes = xcalloc(capacity, sizeof(*graph->nodes));
        graph->by_path = xcalloc(capacity, sizeof(*graph->by_path));
        graph->by_backing = xcalloc(capacity, sizeof(*graph->by_backing));
        graph->owned = xcalloc(op->meta->n_owned + 1, sizeof(*graph->owned));
        for (size_t i = 0; i < op->meta->n_owned; i++) {
                graph->owned[graph->n_owned++] = xstrdup(op->meta->owned[i]);
                candidates[n] = (graph_candidate){op->meta->owned[i], NULL, n};
                n++;
        }
        qsort(graph->owned, graph->n_owned, sizeof(*graph->owned), compare_strings);
        for (size_t i = 0; i < op->meta->n_snapshots; i++)
                for (size_t j = 0; j < op->meta->snapshots[i]->n_disks; j++)
                        if (op->meta->snapshots[i]->disks[j].image) {
                                candidates[n] =
                                        (graph_candidate){op->meta->snapshots[i]->disks[j].image,
                                                          op->meta->snapshots[i]->disks[j].format, n};
                                n++;
                        }
        for (size_t i = 0; i < n_active; i++)
                if (active[i].source) {
                        candidates[n] = (graph_candidate){active[i].source, active[i].format, n};
                        n++;
                }
        /* The first naming of each path, in the order they were named. */
        qsort(candidates, n, sizeof(*candidates), compare_candidates);
        size_t kept = 0;
        for (size_t i = 0; i < n; i++)
                if (kept == 0 || strcmp(candidates[kept - 1].path, candidates[i].path) != 0)
                        candidates[kept++] = candidates[i];
        qsort(candidates, kept, sizeof(*candidates), compare_candidate_orders);
        for (size_t i = 0; r == 0 && i < kept; i++)
                r = graph_add(op, graph, candidates[i].path, candidates[i].format);
        free(candidates);

        for (size_t i = 0; i < graph->n; i++)
                graph->by_path[i] = &graph->nodes[i];
        qsort(graph->by_path, graph->n, sizeof(*graph->by_path), compare_node_paths);
        graph_resolve_backings(graph);
        for (size_t i = 0; i < graph->n; i++)
                if (graph->nodes[i].backing)
                        graph->by_backing[graph->n_by_backing++] = &graph->nodes[i];
        qsort(graph->by_backing, graph->n_by_backing, sizeof(*graph->by_backing), compare_node_backings);
        graph->running = virDomainIsActive(op->domain) == 1;
        return r;
}

/* Safety rule 4 over every file the graph holds: the plan may write into or remove any of
 * them, and their headers are read already (the operation's beginning checked only the
 * active images, guard.h). */
static int graph_refuse_internal_snapshots(vmsnap_op *op, const image_graph *graph)
{
        for (size_t i = 0; i < graph->n; i++)
                if (graph->nodes[i].internal_snapshots > 0)
                        return vmsnap_guard_internal_snapshots_error(op, graph->nodes[i].path, NULL,
                                                                     graph->nodes[i].internal_snapshots);
        return 0;
}

/* The images whose backing file is path, in the order they were added. */
static size_t graph_children(const image_graph *graph, const char *path, const graph_node **ret, size_t max)
{
        size_t low = 0, high = graph->n_by_backing, n = 0;

        while (low < high) { /* the first node whose backing is not below path */
                size_t middle = low + (high - low) / 2;
                if (strcmp(graph->by_backing[middle]->backing, path) < 0)
                        low = middle + 1;
                else
                        high = middle;
        }
        for (size_t i = low; i < graph->n_by_backing && strcmp(graph->by_backing[i]->backing, path) == 0;
             i++) {
                if (n < max)
                        ret[n] = graph->by_backing[i];
                n++;
        }
        return n;
}

/* Replaces every reference to old_path in the model by new_path (commit-down). */
static void model_replace_image(vmsnap_domain_meta *meta, const char *old_path, const char *new_path)
{
        for (size_t i = 0; i < meta->n_snapshots; i++)
                for (size_t j = 0; j < meta->snapshots[i]->n_disks; j++) {
                        const vmsnap_disk_entry *entry = &meta->snapshots[i]->disks[j];
                        if (entry->image && strcmp(entry->image, old_path) == 0) {
                                vmsnap_disk_entry *changed =
                                        &vmsnap_domain_meta_writable(meta, meta->snapshots[i]->id)->disks[j];
                                free(changed->image);
                                changed->image = xstrdup(new_path);
                        }
                }
}

/* A pull into a running disk's active image: run before the commit point. */
typedef struct planned_pull {
        char *target;
        char *base; /* NULL: the whole chain */
} planned_pull;

typedef struct merge_plan {
        vmsnap_xml_disk_source *sources; /* active disks that move onto another file */
        size_t n_sources;
        planned_pull *pulls;
        size_t n_pulls;
        uint64_t bytes; /* upper bound of what the merge writes */
        /* A dry run (vmsnap_merge_estimate): the decisions are recorded here, and nothing
         * is journaled or changed. */
        vmsnap_merge_effects *effects;
} merge_plan;

/* The running domain reads frozen through disk target's chain: of its children, the
 * one in that chain (K) is merged by a block job, the others (other snapshots'
 * branches) are pulled by qemu-img first, so that frozen then has K alone. K the
 * active image: active commit with pivot or pull, whichever copies less. K frozen
 * itself: commit K down (libvirt cannot pull into an image below the active one). */
static int plan_live_merge(vmsnap_op *op, const image_graph *graph, const vmsnap_disk_entry *entry,
                           const graph_node *const *kids, size_t n_kids, const char *active_source,
                           merge_plan *plan)
{
        const char *frozen = entry->image, *in_chain = NULL;
        const graph_node *node = graph_find(graph, frozen), *grandkids[64];
        size_t n_grandkids;
        int r;

        for (size_t i = 0; i < n_kids && !in_chain; i++) {
                bool contains = false;
                r = vmsnap_live_chain_contains(op, entry->target, kids[i]->path, &contains);
                if (r < 0)
                        return r;
                if (contains)
                        in_chain = kids[i]->path;
        }
        if (!in_chain)
                return vmsnap_error_set(op->error, -EIO, VMSNAP_ERROR_FAILED,
                                        "disk %s of domain %s reads %s, but none of its overlays is in the "
                                        "running chain; vmsnap's metadata does not match the images",
                                        entry->target, op->name, frozen);
        for (size_t i = 0; i < n_kids; i++)
                if (kids[i]->path != in_chain && plan->effects)
                        vmsnap_merge_effects_move(plan->effects, frozen, kids[i]->path, false);
                else if (kids[i]->path != in_chain) {
                        r = vmsnap_journal_step_rebase(op, kids[i]->path, node->backing,
                                                       node->backing_format, true);
                        if (r < 0)
                                return r;
                        plan->bytes += vmsnap_file_allocated(frozen);
                }
        if (strcmp(in_chain, active_source) == 0) {
                uint64_t commit_cost = vmsnap_file_allocated(in_chain),
                         pull_cost = vmsnap_file_allocated(frozen);
                if (plan->effects) {
                        const char *from = commit_cost < pull_cost ? in_chain : frozen;
                        const char *into = commit_cost < pull_cost ? frozen : in_chain;
                        vmsnap_merge_effects_move(plan->effects, from, into, commit_cost < pull_cost);
                        vmsnap_merge_effects_remove(plan->effects, from);
                } else if (commit_cost < pull_cost) {
                        vmsnap_journal_step_block_commit(op, entry->target, in_chain, frozen, true, NULL);
                        model_replace_image(op->meta, in_chain, frozen);
                        plan->sources[plan->n_sources++] =
                                (vmsnap_xml_disk_source){entry->target, frozen, "qcow2"};
                        plan->bytes += commit_cost;
                } else {
                        r = vmsnap_journal_step_block_pull(op, entry->target, in_chain, node->backing,
                                                           node->backing_format);
                        if (r < 0)
                                return r;
                        plan->pulls[plan->n_pulls++] =
                                (planned_pull){xstrdup(entry->target), xstrdup(node->backing)};
                        plan->bytes += pull_cost;
                }
                return 0;
        }
        /* The image above K in the running chain is moved onto frozen by libvirt; K's other
         * children only need their header changed: frozen will read what K read. */
        const char *above = NULL;
        n_grandkids = graph_children(graph, in_chain, grandkids, 64);
        if (n_grandkids > 64)
                return vmsnap_error_set(op->error, -E2BIG, VMSNAP_ERROR_UNSUPPORTED,
                                        "%s has more than 64 overlays", in_chain);
        for (size_t i = 0; i < n_grandkids && !above; i++) {
                bool contains = false;
                r = vmsnap_live_chain_contains(op, entry->target, grandkids[i]->path, &contains);
                if (r < 0)
                        return r;
                if (contains)
                        above = grandkids[i]->path;
        }
        if (plan->effects) {
                vmsnap_merge_effects_move(plan->effects, in_chain, frozen, true);
                vmsnap_merge_effects_remove(plan->effects, in_chain);
                return 0;
        }
        vmsnap_journal_step_block_commit(op, entry->target, in_chain, frozen, false, above);
        for (size_t i = 0; i < n_grandkids; i++)
                if (grandkids[i]->path != above) {
                        r = vmsnap_journal_step_rebase(op, grandkids[i]->path, frozen, "qcow2", false);
                        if (r < 0)
                                return r;
                }
        model_replace_image(op->meta, in_chain, frozen);
        plan->bytes += vmsnap_file_allocated(in_chain);
        return 0;
}

/* Plans the merge of one frozen image out of its chain. */
static int plan_disk_merge(vmsnap_op *op, const image_graph *graph, const vmsnap_disk_entry *entry,
                           const vmsnap_active_disk *active, size_t n_active, merge_plan *plan)
{
        const char *frozen = entry->image, *forgotten;
        const graph_node *kids[64], *grandkids[64], *node;
        size_t n_kids, n_grandkids;
        bool elsewhere;
        int r;

        if (!graph_owns(graph, frozen)) {
                vmsnap_op_message(op,
                                  "disk %s: %s is the domain's original image, which vmsnap never changes; "
                                  "it was left in place as the base of the chain",
                                  entry->target, frozen);
                return 0;
        }
        forgotten = vmsnap_op_forgotten_reader(op, frozen);
        if (forgotten) {
                vmsnap_op_message(op,
                                  "disk %s: %s is read by %s, which a metadata-only delete left to the "
                                  "administrator; it was left in place",
                                  entry->target, frozen, forgotten);
                return 0;
        }
        r = vmsnap_op_used_elsewhere(op, frozen, &elsewhere);
        if (r < 0)
                return r;
        n_kids = graph_children(graph, frozen, kids, 64);
        if (elsewhere || n_kids > 64) {
                vmsnap_op_message(op, "disk %s: %s is used by another domain; it was left in place",
                                  entry->target, frozen);
                return 0;
        }
        for (size_t i = 0; i < n_kids; i++) {
                r = vmsnap_op_used_elsewhere(op, kids[i]->path, &elsewhere);
                if (r < 0)
                        return r;
                if (elsewhere || !graph_owns(graph, kids[i]->path)) {
                        vmsnap_op_message(op,
                                          "disk %s: %s is read by %s, which vmsnap may not change; it was "
                                          "left in place",
                                          entry->target, frozen, kids[i]->path);
                        return 0;
                }
        }
        if (n_kids == 0) {
                /* nothing reads it: collected after the commit point */
                if (plan->effects)
                        vmsnap_merge_effects_remove(plan->effects, frozen);
                return 0;
        }
        if (graph->running)
                for (size_t i = 0; i < n_active; i++) {
                        bool in_chain = false;
                        if (strcmp(active[i].target, entry->target) != 0)
                                continue;
                        r = vmsnap_live_chain_contains(op, entry->target, frozen, &in_chain);
                        if (r < 0)
                                return r;
                        if (in_chain)
                                return plan_live_merge(op, graph, entry, kids, n_kids, active[i].source,
                                                       plan);
                }

        /* Within COMMIT_PREFERRED_BYTES the commit: qemu-img opens two images for it
         * (image.c), where a pull opens the child's whole chain, twice, which costs more the
         * deeper the chain is; and two files holding the same clusters can differ by a few
         * blocks of the file system's own. */
        node = graph_find(graph, frozen);
        uint64_t pull_cost = vmsnap_file_allocated(frozen) * n_kids;
        uint64_t commit_cost = n_kids == 1 ? vmsnap_file_allocated(kids[0]->path) : UINT64_MAX;
        bool commit = n_kids == 1 && commit_cost <= pull_cost + COMMIT_PREFERRED_BYTES;

        if (plan->effects) {
                for (size_t i = 0; i < n_kids; i++)
                        if (commit)
                                vmsnap_merge_effects_move(plan->effects, kids[i]->path, frozen, true);
                        else
                                vmsnap_merge_effects_move(plan->effects, frozen, kids[i]->path, false);
                vmsnap_merge_effects_remove(plan->effects, commit ? kids[0]->path : frozen);
        } else if (commit) {
                /* Commit the only child down: frozen takes the child's place everywhere. */
                const char *child = kids[0]->path;
                n_grandkids = graph_children(graph, child, grandkids, 64);
                if (n_grandkids > 64)
                        return vmsnap_error_set(op->error, -E2BIG, VMSNAP_ERROR_UNSUPPORTED,
                                                "%s has more than 64 overlays", child);
                vmsnap_journal_step_commit(op, child, frozen);
                for (size_t i = 0; i < n_grandkids; i++) {
                        r = vmsnap_journal_step_rebase(op, grandkids[i]->path, frozen, "qcow2", false);
                        if (r < 0)
                                return r;
                }
                model_replace_image(op->meta, child, frozen);
                for (size_t i = 0; i < n_active; i++)
                        if (strcmp(active[i].source, child) == 0)
                                plan->sources[plan->n_sources++] =
                                        (vmsnap_xml_disk_source){active[i].target, frozen, "qcow2"};
                plan->bytes += commit_cost;
        } else {
                for (size_t i = 0; i < n_kids; i++) {
                        r = vmsnap_journal_step_rebase(op, kids[i]->path, node->backing,
                                                       node->backing_format, true);
                        if (r < 0)
                                return r;
                }
                plan->bytes += pull_cost;
        }
        return 0;
}

static int check_space(vmsnap_op *op, const char *dir_of, uint64_t bytes)
{
        _cleanup_free_ char *dir = path_dirname(dir_of);
        uint64_t available;
        int r;

        r = vmsnap_dir_free_bytes(dir, &available, op->error);
        if (r < 0)
                return r;
        if (bytes > available)
                return vmsnap_error_set(
                        op->error, -ENOSPC, VMSNAP_ERROR_NO_SPACE,
                        "merging needs up to %llu MiB in %s but only %llu MiB are free; free some "
                        "space or delete with children instead",
                        (unsigned long long)(bytes >> 20), dir, (unsigned long long)(available >> 20));
        return 0;
}

static void reparent_children(vmsnap_domain_meta *meta, const vmsnap_snapshot *snapshot)
{
        for (size_t i = 0; i < meta->n_snapshots; i++) {
                const vmsnap_snapshot *s = meta->snapshots[i];
                if (s->parent_id && strcmp(s->parent_id, snapshot->id) == 0) {
                        vmsnap_snapshot *child = vmsnap_domain_meta_writable(meta, s->id);
                        free(child->parent_id);
                        child->parent_id = xstrdup(snapshot->parent_id);
                }
        }
        if (meta->current_id && strcmp(meta->current_id, snapshot->id) == 0) {
                free(meta->current_id);
                meta->current_id = xstrdup(snapshot->parent_id);
        }
}

static bool pull_canceled(void *userdata)
{
        vmsnap_op_steps *p = userdata;
        return vmsnap_op_canceled(p->op);
}

/* The pulls into running disks run before the commit point: a pull changes nothing that
 * any snapshot or disk reads, so a cancel (or a crash) during one stops its block job and
 * leaves the snapshot, the chains and the metadata as they were. Commits write into a
 * snapshot's image and run after the commit point. before: the model before the plan,
 * which the prepare phase is recorded on; op->meta (the plan) is restored on success. */
static int pull_before_commit(vmsnap_op *op, vmsnap_domain_meta **before, const merge_plan *plan,
                              const char *snapshot_name)
{
        vmsnap_domain_meta *planned = op->meta;
        vmsnap_op_steps progress = {op, 0, plan->n_pulls};
        vmsnap_hooks hooks = {
                .progress = vmsnap_op_step_progress, .is_canceled = pull_canceled, .userdata = &progress};
        const char *target = NULL;
        int r;

        if (plan->n_pulls == 0)
                return 0;
        op->meta = *before;
        *before = NULL;
        r = vmsnap_journal_prepare(op, "delete", "");
        for (size_t i = 0; r == 0 && i < plan->n_pulls; i++)
                r = vmsnap_journal_add_block_job(op, plan->pulls[i].target);
        for (size_t i = 0; r == 0 && i < plan->n_pulls; i++) {
                progress.index = i;
                target = plan->pulls[i].target;
                r = vmsnap_op_failpoint(op, "delete: before block pull");
                if (r == 0)
                        r = vmsnap_live_block_pull(op, target, plan->pulls[i].base, &hooks);
        }
        if (r < 0) {
                if (r == -ECANCELED)
                        vmsnap_error_set(op->error, -ECANCELED, VMSNAP_ERROR_CANCELED,
                                         "the delete of snapshot \"%s\" was canceled while data was pulled "
                                         "into disk %s; the block job was stopped and nothing was changed",
                                         snapshot_name, target);
                vmsnap_journal_rollback(op);
                vmsnap_domain_meta_free(planned);
                return r;
        }
        vmsnap_domain_meta_free(op->meta);
        op->meta = planned;
        return 0;
}

static int delete_merge(vmsnap_op *op, vmsnap_snapshot *snapshot)
{
        vmsnap_domain_meta *before = vmsnap_domain_meta_copy(op->meta);
        vmsnap_active_disk *active = NULL;
        size_t n_active = 0;
        image_graph graph = {0};
        merge_plan plan = {0};
        _cleanup_free_ char *new_xml = NULL;
        _cleanup_free_ char *id = xstrdup(snapshot->id);
        _cleanup_free_ char *name = xstrdup(snapshot->name);
        int r;

        r = vmsnap_op_active_disks(op, &active, &n_active);
        if (r < 0)
                goto out;
        r = graph_build(op, active, n_active, &graph);
        if (r == 0)
                r = graph_refuse_internal_snapshots(op, &graph);
        if (r < 0)
                goto out;
        plan.sources = xcalloc(n_active + 1, sizeof(*plan.sources));
        plan.pulls = xcalloc(snapshot->n_disks + 1, sizeof(*plan.pulls));
        for (size_t i = 0; r == 0 && i < snapshot->n_disks; i++) {
                const vmsnap_disk_entry *entry = &snapshot->disks[i];
                if (entry->image)
                        r = plan_disk_merge(op, &graph, entry, active, n_active, &plan);
        }
        for (size_t i = 0; r == 0 && i < snapshot->n_disks; i++)
                if (snapshot->disks[i].image && plan.bytes > 0)
                        r = check_space(op, snapshot->disks[i].image, plan.bytes);
        if (r == 0)
                r = vmsnap_journal_step_rbd_snapshots_remove(op, snapshot);
        if (r < 0)
                goto out;
        if (plan.n_sources > 0) {
                r = vmsnap_xml_set_disk_sources(op->xml, plan.sources, plan.n_sources, &new_xml, op->error);
                if (r < 0)
                        goto out;
                vmsnap_journal_step_define_after_merge(op, new_xml);
        }
        if (vmsnap_op_canceled(op)) {
                r = vmsnap_error_set(op->error, -ECANCELED, VMSNAP_ERROR_CANCELED,
                                     "the delete was canceled; nothing was changed");
                goto out;
        }
        r = pull_before_commit(op, &before, &plan, name);
        if (r < 0)
                goto out;
        if (plan.n_pulls > 0 && vmsnap_op_canceled(op)) {
                r = vmsnap_error_set(op->error, -ECANCELED, VMSNAP_ERROR_CANCELED,
                                     "the delete was canceled after data had been pulled into the running "
                                     "disks; snapshot \"%s\" stays and every disk reads what it read before",
                                     name);
                vmsnap_journal_rollback(op);
                goto out;
        }
        snapshot = vmsnap_domain_meta_find_id(op->meta, id);
        reparent_children(op->meta, snapshot);
        vmsnap_domain_meta_remove_snapshot(op->meta, id);
        /* From here on the merge completes, also after a crash. */
        r = vmsnap_journal_commit(op);
out:
        vmsnap_domain_meta_free(before);
        for (size_t i = 0; i < plan.n_pulls; i++) {
                free(plan.pulls[i].target);
                free(plan.pulls[i].base);
        }
        free(plan.pulls);
        free(plan.sources);
        graph_clear(&graph);
        vmsnap_active_disks_free(active, n_active);
        return r;
}

/* Removes the subtree below snapshot, and snapshot itself unless keep_snapshot (the
 * RFC's CHILDREN_ONLY). The images nothing reads any more are collected after the
 * commit point. */
static int delete_children(vmsnap_op *op, vmsnap_snapshot *snapshot, bool keep_snapshot)
{
        _cleanup_free_ char *id = xstrdup(snapshot->id);
        const char *current = op->meta->current_id;
        size_t removed = 0;

        if (current && vmsnap_domain_meta_descends(op->meta, current, id) &&
            !(keep_snapshot && strcmp(current, id) == 0))
                return vmsnap_error_set(op->error, -EBUSY, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        keep_snapshot ? "the current state of %s descends from a child of "
                                                        "snapshot \"%s\"; revert to it or to a snapshot "
                                                        "outside its subtree first"
                                                      : "the current state of %s descends from snapshot "
                                                        "\"%s\"; revert to a snapshot outside its subtree "
                                                        "first, or delete it without children",
                                        op->name, snapshot->name);
        for (size_t i = op->meta->n_snapshots; i > 0; i--) {
                vmsnap_snapshot *s = op->meta->snapshots[i - 1];
                if (strcmp(s->id, id) != 0 && vmsnap_domain_meta_descends(op->meta, s->id, id)) {
                        int r = vmsnap_journal_step_rbd_snapshots_remove(op, s);
                        if (r < 0)
                                return r;
                        vmsnap_domain_meta_remove_snapshot(op->meta, s->id);
                        removed++;
                }
        }
        if (!keep_snapshot) {
                int r = vmsnap_journal_step_rbd_snapshots_remove(op, snapshot);
                if (r < 0)
                        return r;
                vmsnap_domain_meta_remove_snapshot(op->meta, id);
        } else if (removed == 0) {
                vmsnap_op_message(op, "snapshot \"%s\" of %s has no children: nothing was deleted",
                                  snapshot->name, op->name);
                return 0;
        }
        return vmsnap_journal_commit(op);
}

/* Forgets the snapshot and leaves its files to the administrator. The images vmsnap made
 * are recorded as forgotten: from now on they are never changed or removed, nor is any file
 * they read through (guard.h), so each keeps reading what the snapshot read. The job names
 * every file it leaves, and says which ones nothing reads any more. */
static int delete_metadata(vmsnap_op *op, vmsnap_snapshot *snapshot)
{
        /* A copy, for the messages: the model's is freed below. */
        vmsnap_snapshot *forgotten = vmsnap_snapshot_copy(snapshot);
        _cleanup_free_ bool *left = xcalloc(forgotten->n_disks + 1, sizeof(*left));
        int r;

        for (size_t i = 0; i < forgotten->n_disks; i++) {
                const char *image = forgotten->disks[i].image;
                /* An original stays what it was: vmsnap never changed it. */
                left[i] = image && vmsnap_domain_meta_owns(op->meta, image);
                if (left[i]) {
                        vmsnap_domain_meta_remove_owned(op->meta, image);
                        vmsnap_domain_meta_add_forgotten(op->meta, image);
                }
        }
        /* A memory state is read by no chain: it only stops being vmsnap's. */
        vmsnap_domain_meta_remove_owned(op->meta, forgotten->memory_file);
        reparent_children(op->meta, snapshot);
        vmsnap_domain_meta_remove_snapshot(op->meta, forgotten->id);
        r = vmsnap_op_save(op);
        for (size_t i = 0; r == 0 && i < forgotten->n_disks; i++) {
                bool read = true;
                if (!left[i])
                        continue;
                vmsnap_gc_still_read(op, forgotten->disks[i].image, &read);
                vmsnap_op_message(op,
                                  read ? "disk %s: %s, which snapshot \"%s\" froze, is no longer vmsnap's; "
                                         "chains still read it, and vmsnap will never change or remove it"
                                       : "disk %s: %s, which snapshot \"%s\" froze, is left to you: nothing "
                                         "reads it any more, and vmsnap will never change or remove it",
                                  forgotten->disks[i].target, forgotten->disks[i].image, forgotten->name);
        }
        for (size_t i = 0; r == 0 && i < forgotten->n_disks; i++)
                if (forgotten->disks[i].rbd_snapshot)
                        vmsnap_op_message(op,
                                          "disk %s: the RBD snapshot %s of snapshot \"%s\" is left to you: "
                                          "vmsnap no longer manages it and never removes it",
                                          forgotten->disks[i].target, forgotten->disks[i].rbd_snapshot,
                                          forgotten->name);
        if (r == 0 && forgotten->memory_file)
                vmsnap_op_message(op,
                                  "the memory state %s of snapshot \"%s\" is left to you: vmsnap no longer "
                                  "manages it and never removes it",
                                  forgotten->memory_file, forgotten->name);
        vmsnap_snapshot_free(forgotten);
        return r;
}

int vmsnap_snapshot_delete(vmsnap_engine *engine, const char *domain, const char *snapshot,
                           vmsnap_delete_mode mode, const vmsnap_hooks *hooks, vmsnap_error *error)
{
        vmsnap_snapshot *target;
        vmsnap_op *op;
        unsigned flags = VMSNAP_OP_NO_PREVIEW;
        int r;

        /* A running domain is fine: its chains change only through block jobs. */
        if (mode != VMSNAP_DELETE_METADATA_ONLY)
                flags |= VMSNAP_OP_NO_FOREIGN_SNAPSHOTS;
        if (mode > VMSNAP_DELETE_CHILDREN_ONLY)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "unknown delete mode %d", (int)mode);
        r = vmsnap_op_begin(engine, domain, flags, hooks, &op, error);
        if (r < 0)
                return r;
        if (mode != VMSNAP_DELETE_METADATA_ONLY)
                r = vmsnap_live_hold(op, "merge");
        if (r == 0)
                r = vmsnap_op_find_snapshot(op, snapshot, &target);
        if (r == 0 && mode != VMSNAP_DELETE_METADATA_ONLY) {
                pthread_mutex_lock(&op->slot->data_lock);
                size_t clones = op->slot->n_clone_locks;
                pthread_mutex_unlock(&op->slot->data_lock);
                /* A merge rewrites images that a clone may be reading. */
                if (clones > 0)
                        r = vmsnap_error_set(
                                error, -EBUSY, VMSNAP_ERROR_LOCKED,
                                "a clone from a snapshot of %s is running; deleting snapshots of "
                                "%s must wait until it has finished",
                                op->name, op->name);
        }
        if (r == 0) {
                switch (mode) {
                case VMSNAP_DELETE_MERGE:
                        r = delete_merge(op, target);
                        break;
                case VMSNAP_DELETE_CHILDREN:
                case VMSNAP_DELETE_CHILDREN_ONLY:
                        r = delete_children(op, target, mode == VMSNAP_DELETE_CHILDREN_ONLY);
                        break;
                case VMSNAP_DELETE_METADATA_ONLY:
                        r = delete_metadata(op, target);
                        break;
                }
        }
        if (mode != VMSNAP_DELETE_METADATA_ONLY)
                vmsnap_live_release(op);
        vmsnap_op_end(op);
        return r;
}

/* ---- the same plan as a dry run, for sizes.c ---- */

void vmsnap_merge_effects_remove(vmsnap_merge_effects *effects, const char *path)
{
        for (size_t i = 0; i < effects->n_removed; i++)
                if (strcmp(effects->removed[i], path) == 0)
                        return;
        effects->removed =
                xreallocarray(effects->removed, effects->n_removed + 1, sizeof(*effects->removed));
        effects->removed[effects->n_removed++] = xstrdup(path);
}

void vmsnap_merge_effects_move(vmsnap_merge_effects *effects, const char *from, const char *into,
                               bool over_zero)
{
        effects->moves = xreallocarray(effects->moves, effects->n_moves + 1, sizeof(*effects->moves));
        effects->moves[effects->n_moves++] = (vmsnap_merge_move){xstrdup(from), xstrdup(into), over_zero};
}

void vmsnap_merge_effects_clear(vmsnap_merge_effects *effects)
{
        for (size_t i = 0; i < effects->n_removed; i++)
                free(effects->removed[i]);
        free(effects->removed);
        for (size_t i = 0; i < effects->n_moves; i++) {
                free(effects->moves[i].from);
                free(effects->moves[i].into);
        }
        free(effects->moves);
        *effects = (vmsnap_merge_effects){0};
}

struct vmsnap_merge_estimator {
        vmsnap_op *op;
        vmsnap_active_disk *active;
        size_t n_active;
        image_graph graph;
};

int vmsnap_merge_estimator_new(vmsnap_op *op, vmsnap_merge_estimator **ret)
{
        vmsnap_merge_estimator *estimator = xcalloc(1, sizeof(*estimator));
        int r;

        estimator->op = op;
        r = vmsnap_op_active_disks(op, &estimator->active, &estimator->n_active);
        if (r == 0)
                r = graph_build(op, estimator->active, estimator->n_active, &estimator->graph);
        if (r < 0) {
                vmsnap_merge_estimator_free(estimator);
                return r;
        }
        *ret = estimator;
        return 0;
}

int vmsnap_merge_estimate(vmsnap_merge_estimator *estimator, const vmsnap_snapshot *snapshot,
                          vmsnap_merge_effects *ret)
{
        merge_plan plan = {.effects = ret};
        int r = 0;

        for (size_t i = 0; r == 0 && i < snapshot->n_disks; i++)
                if (snapshot->disks[i].image)
                        r = plan_disk_merge(estimator->op, &estimator->graph, &snapshot->disks[i],
                                            estimator->active, estimator->n_active, &plan);
        return r;
}

void vmsnap_merge_estimator_free(vmsnap_merge_estimator *estimator)
{
        if (!estimator)
                return;
        graph_clear(&estimator->graph);
        vmsnap_active_disks_free(estimator->active, estimator->n_active);
        free(estimator);
}
