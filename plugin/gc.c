/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gc.c: removes image files vmsnap created once nothing reads them (see gc.h).
 * Reachability is computed from the files' own headers, not from what the
 * metadata remembers, so a file is never removed while a chain still needs it.
 * An image a metadata-only delete left to the administrator is a root like a
 * snapshot's until its file is gone. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chain.h"
#include "error.h"
#include "fileio.h"
#include "gc.h"
#include "guard.h"
#include "path-set.h"

/* The files reached, by device and inode: open addressing, at most half full. */
typedef struct file_identity {
        uint64_t device, inode;
} file_identity;

typedef struct identity_set {
        file_identity *slots; /* inode 0: free (no file has inode 0) */
        size_t size, n;
} identity_set;

static file_identity *identity_slot(file_identity *slots, size_t size, file_identity key)
{
        size_t i = (size_t)((key.inode * UINT64_C(0x9e3779b97f4a7c15)) ^ key.device) & (size - 1);
        for (;; i = (i + 1) & (size - 1))
                if (slots[i].inode == 0 || (slots[i].inode == key.inode && slots[i].device == key.device))
                        return &slots[i];
}

/* Adds key: true; false when it was there. */
static bool identity_set_add(identity_set *set, file_identity key)
{
        if (2 * (set->n + 1) > set->size) {
                size_t size = set->size ? 2 * set->size : 256;
                file_identity *slots = xcalloc(size, sizeof(*slots));
                for (size_t i = 0; i < set->size; i++)
                        if (set->slots[i].inode)
                                *identity_slot(slots, size, set->slots[i]) = set->slots[i];
                free(set->slots);
                set->slots = slots;
                set->size = size;
        }
        file_identity *slot = identity_slot(set->slots, set->size, key);
        if (slot->inode)
                return false;
        *slot = key;
        set->n++;
        return true;
}

static bool identity_set_contains(const identity_set *set, file_identity key)
{
        return set->size && identity_slot(set->slots, set->size, key)->inode != 0;
}

/* What the walk reached, known two ways: the paths it was led by (a path names one file,
 * so the same path again is the same file), and each file's identity (device and inode, from
 * the header the walk reads anyway: the same file by another path). Neither needs another
 * look at a path, where canonical paths took an lstat() per file. */
typedef struct reach_set {
        vmsnap_path_set paths;
        identity_set identities;
        bool root_read; /* the walk under way read its first image */
} reach_set;

/* Whether the walk reached path: by its name, else by the file it names now. */
static bool reach_contains(const reach_set *set, const char *path)
{
        struct stat st;

        if (vmsnap_path_set_contains(&set->paths, path))
                return true;
        return stat(path, &st) == 0 &&
               identity_set_contains(&set->identities,
                                     (file_identity){(uint64_t)st.st_dev, (uint64_t)st.st_ino});
}

/* Marks the file path led to: 1 when that file was marked already (by any name). */
static int reach_mark(reach_set *set, const char *path, uint64_t device, uint64_t inode)
{
        if (!identity_set_add(&set->identities, (file_identity){device, inode}))
                return 1;
        vmsnap_path_set_add(&set->paths, xstrdup(path));
        return 0;
}

static int reach_visit(const char *path, const vmsnap_image_header *header, unsigned depth, void *userdata)
{
        reach_set *set = userdata;

        if (depth == 0)
                set->root_read = true;
        /* Already there: the rest of this chain is already marked. */
        return reach_mark(set, path, header->file_device, header->file_inode);
}

static int reach_add_root(reach_set *set, const char *path, vmsnap_error *error)
{
        vmsnap_image_header header = {0};
        int r;

        /* A root already reached by its name (a snapshot's image in the chain of a disk or of
         * a later snapshot) is where the walk would stop at once: its header need not be read. */
        if (!path || vmsnap_path_set_contains(&set->paths, path))
                return 0;
        /* Its own header first: a root whose backing file is marked already (a leaf of a
         * branch the walk went down before) ends there, without reading that one's header
         * again as the walk would. */
        r = vmsnap_image_header_read(path, &header, error);
        if (r == -ENOENT) {
                vmsnap_error_clear(error); /* a root that is gone reads nothing */
                return 0;
        }
        if (r < 0)
                return r;
        r = reach_mark(set, path, header.file_device, header.file_inode);
        if (r == 0 && header.backing && !vmsnap_path_set_contains(&set->paths, header.backing)) {
                set->root_read = false;
                r = vmsnap_chain_walk_as(header.backing,
                                         header.backing_format_known ? &header.backing_format : NULL,
                                         reach_visit, set, error);
                if (r == -ENOENT && !set->root_read)
                        r = vmsnap_error_set(error, -ENOENT, VMSNAP_ERROR_NOT_FOUND,
                                             "backing file %s of %s does not exist", header.backing, path);
        }
        vmsnap_image_header_clear(&header);
        return r < 0 ? r : 0;
}

/* A file no chain reads but a root keeps (a memory state). */
static void reach_add_file(reach_set *set, const char *path)
{
        struct stat st;

        if (path && stat(path, &st) == 0)
                reach_mark(set, path, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
}

static void reach_clear(reach_set *set)
{
        vmsnap_path_set_clear(&set->paths);
        free(set->identities.slots);
        set->identities = (identity_set){0};
}

/* Whether every owned file is itself a root of the walk (a disk's active file, a snapshot's
 * image or memory file, a file of the preview): then every one is reached and the walk,
 * which reads the header of every file of every chain, would remove nothing. That is the
 * case after most changes (a new snapshot, a revert), while a deep chain makes the walk the
 * larger part of their cost. Owned paths are canonical, as the roots the walk marks are;
 * were one not, it would only be kept, never removed, for want of the walk. Whether the
 * files exist is not asked (a stat per snapshot): a root someone removed keeps its record
 * until its snapshot goes, and the walk after that change drops it. */
static bool owned_are_roots(const vmsnap_domain_meta *meta, const vmsnap_active_disk *active,
                            size_t n_active)
{
        vmsnap_path_set roots = {0};
        bool all = true;

        for (size_t i = 0; i < n_active; i++)
                if (active[i].source)
                        vmsnap_path_set_add_borrowed(&roots, active[i].source);
        for (size_t i = 0; i < meta->n_snapshots; i++) {
                if (meta->snapshots[i]->memory_file)
                        vmsnap_path_set_add_borrowed(&roots, meta->snapshots[i]->memory_file);
                for (size_t j = 0; j < meta->snapshots[i]->n_disks; j++)
                        if (meta->snapshots[i]->disks[j].image)
                                vmsnap_path_set_add_borrowed(&roots, meta->snapshots[i]->disks[j].image);
        }
        for (size_t i = 0; meta->preview && i < meta->preview->n_disks; i++) {
                if (meta->preview->disks[i].saved_leaf)
                        vmsnap_path_set_add_borrowed(&roots, meta->preview->disks[i].saved_leaf);
                if (meta->preview->disks[i].overlay)
                        vmsnap_path_set_add_borrowed(&roots, meta->preview->disks[i].overlay);
        }
        for (size_t i = 0; all && i < meta->n_owned; i++)
                all = vmsnap_path_set_contains(&roots, meta->owned[i]);
        vmsnap_path_set_clear(&roots);
        return all;
}

/* Marks what the domain reads: its active disks, its snapshots' images and memory states,
 * the preview's files and, unless except, the forgotten images, each with its chain. */
static int reach_all(const vmsnap_domain_meta *meta, const vmsnap_active_disk *active, size_t n_active,
                     const char *except, reach_set *reached, vmsnap_error *walk_error)
{
        int r = 0;

        for (size_t i = 0; r == 0 && i < n_active; i++)
                r = reach_add_root(reached, active[i].source, walk_error);
        for (size_t i = 0; r == 0 && i < meta->n_snapshots; i++) {
                /* A memory file is read by no chain; its snapshot keeps it. */
                reach_add_file(reached, meta->snapshots[i]->memory_file);
                for (size_t j = 0; r == 0 && j < meta->snapshots[i]->n_disks; j++)
                        r = reach_add_root(reached, meta->snapshots[i]->disks[j].image, walk_error);
        }
        if (meta->preview)
                for (size_t i = 0; r == 0 && i < meta->preview->n_disks; i++) {
                        r = reach_add_root(reached, meta->preview->disks[i].saved_leaf, walk_error);
                        if (r == 0)
                                r = reach_add_root(reached, meta->preview->disks[i].overlay, walk_error);
                }
        for (size_t i = 0; r == 0 && i < meta->n_forgotten; i++)
                if (!except || strcmp(meta->forgotten[i], except) != 0)
                        r = reach_add_root(reached, meta->forgotten[i], walk_error);
        return r;
}

/* A forgotten image the administrator removed protects nothing any more: its record goes,
 * and what only it read is collected with the rest. Only a file certainly gone: one that
 * cannot be looked at now (a directory without access, an I/O error) still protects. */
static bool forget_removed_images(vmsnap_domain_meta *meta)
{
        bool changed = false;
        struct stat st;

        for (size_t i = 0; i < meta->n_forgotten;)
                if (lstat(meta->forgotten[i], &st) == 0 || errno != ENOENT)
                        i++;
                else {
                        _cleanup_free_ char *path = xstrdup(meta->forgotten[i]);
                        vmsnap_domain_meta_remove_forgotten(meta, path); /* shifts the next into i */
                        changed = true;
                }
        return changed;
}

/* The qcow2 internal snapshots path holds: someone else's (vmsnap makes none), which a removal
 * would lose (safety rule 4). 0 for a file that is no qcow2 image or cannot be read. */
static uint32_t internal_snapshots_of(const char *path)
{
        vmsnap_image_header header = {0};
        vmsnap_error ignored = {0};
        uint32_t count = 0;

        if (vmsnap_image_header_read(path, &header, &ignored) == 0)
                count = header.internal_snapshots;
        vmsnap_image_header_clear(&header);
        return count;
}

int vmsnap_gc_still_read(vmsnap_op *op, const char *path, bool *ret)
{
        vmsnap_active_disk *active = NULL;
        size_t n_active = 0;
        reach_set reached = {0};
        vmsnap_error walk_error = {0};
        int r;

        *ret = true;
        r = vmsnap_op_active_disks(op, &active, &n_active);
        if (r < 0)
                return r;
        r = reach_all(op->meta, active, n_active, path, &reached, &walk_error);
        vmsnap_active_disks_free(active, n_active);
        if (r == 0)
                *ret = reach_contains(&reached, path);
        reach_clear(&reached);
        return 0; /* a chain that cannot be read may read path: it is taken as read */
}

int vmsnap_gc_run(vmsnap_op *op, bool *changed_ret)
{
        vmsnap_domain_meta *meta = op->meta;
        vmsnap_active_disk *active = NULL;
        size_t n_active = 0;
        vmsnap_error walk_error = {0};
        reach_set reached = {0};
        bool changed;
        int r;

        *changed_ret = changed = forget_removed_images(meta);
        r = vmsnap_op_active_disks(op, &active, &n_active);
        if (r < 0)
                return r;
        if (owned_are_roots(meta, active, n_active)) {
                vmsnap_active_disks_free(active, n_active);
                return 0;
        }
        r = reach_all(meta, active, n_active, NULL, &reached, &walk_error);
        vmsnap_active_disks_free(active, n_active);
        if (r < 0) {
                /* Without the whole picture nothing may be removed. */
                vmsnap_op_message(op, "unused images were not removed: %s", walk_error.message);
                reach_clear(&reached);
                return 0;
        }

        for (size_t i = 0; i < meta->n_owned;) {
                /* A copy: the entry itself is freed when it leaves the owned set. */
                _cleanup_free_ char *path = xstrdup(meta->owned[i]);
                bool elsewhere = false;

                if (reach_contains(&reached, path)) {
                        i++;
                        continue;
                }
                r = vmsnap_op_used_elsewhere(op, path, &elsewhere);
                if (r < 0)
                        break;
                uint32_t internal = elsewhere ? 0 : internal_snapshots_of(path);
                if (elsewhere) {
                        vmsnap_op_message(
                                op,
                                "%s is no longer used by %s but another domain uses it; it was kept "
                                "and is no longer managed by vmsnap",
                                path, op->name);
                } else if (internal > 0) {
                        vmsnap_op_message(op,
                                          "%s is no longer used by %s but holds %u qcow2 internal "
                                          "snapshot(s) vmsnap did not make; it was kept and is no longer "
                                          "managed by vmsnap",
                                          path, op->name, internal);
                } else {
                        r = vmsnap_file_remove(path, op->error);
                        if (r == 0)
                                r = vmsnap_op_failpoint(op, "collect: after removal");
                        if (r < 0)
                                break;
                }
                vmsnap_domain_meta_remove_owned(meta, path); /* shifts the next entry into i */
                changed = true;
        }
        reach_clear(&reached);
        *changed_ret = changed;
        return r;
}
