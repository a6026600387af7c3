/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* model.c: constructors, deep copies, lookups and tree walks of the in-memory
 * snapshot model (model.h). No I/O and no validation of what callers put in:
 * store.c checks documents on load, the operations check their arguments. */
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "names.h"
#include "util.h"

/* Grows *array by one element of size bytes and returns the new, zeroed element. */
static void *array_append(void *array_pointer, size_t *n, size_t size)
{
        void **array = array_pointer;
        char *grown = xreallocarray(*array, *n + 1, size);
        *array = grown;
        memset(grown + *n * size, 0, size);
        return grown + (*n)++ * size;
}

static bool streq_ptr(const char *a, const char *b)
{
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

vmsnap_domain_meta *vmsnap_domain_meta_new(const char *uuid, const char *name)
{
        vmsnap_domain_meta *meta = xcalloc(1, sizeof(*meta));
        meta->uuid = xstrdup(uuid);
        meta->name = xstrdup(name);
        meta->next_default_index = 1;
        return meta;
}

static void disk_entry_clear(vmsnap_disk_entry *entry)
{
        free(entry->target);
        free(entry->image);
        free(entry->format);
        free(entry->rbd_snapshot);
        free(entry->excluded_reason);
}

vmsnap_snapshot *vmsnap_snapshot_new(void)
{
        vmsnap_snapshot *snapshot = xcalloc(1, sizeof(vmsnap_snapshot));
        snapshot->refs = 1;
        return snapshot;
}

/* Published models are read by other threads while an operation copies and frees its
 * own: the count changes atomically. */
vmsnap_snapshot *vmsnap_snapshot_hold(const vmsnap_snapshot *snapshot)
{
        vmsnap_snapshot *held = (vmsnap_snapshot *)snapshot; /* only its count changes */
        __atomic_add_fetch(&held->refs, 1, __ATOMIC_RELAXED);
        return held;
}

void vmsnap_snapshot_free(vmsnap_snapshot *snapshot)
{
        if (!snapshot || __atomic_sub_fetch(&snapshot->refs, 1, __ATOMIC_ACQ_REL) > 0)
                return;
        free(snapshot->id);
        free(snapshot->name);
        free(snapshot->description);
        free(snapshot->parent_id);
        free(snapshot->state);
        free(snapshot->config_xml);
        for (size_t i = 0; i < snapshot->n_disks; i++)
                disk_entry_clear(&snapshot->disks[i]);
        free(snapshot->disks);
        free(snapshot->memory_file);
        free(snapshot->consistency);
        free(snapshot);
}

vmsnap_snapshot *vmsnap_snapshot_copy(const vmsnap_snapshot *snapshot)
{
        if (!snapshot)
                return NULL;
        vmsnap_snapshot *copy = vmsnap_snapshot_new();
        copy->id = xstrdup(snapshot->id);
        copy->name = xstrdup(snapshot->name);
        copy->description = xstrdup(snapshot->description);
        copy->created = snapshot->created;
        copy->parent_id = xstrdup(snapshot->parent_id);
        copy->state = xstrdup(snapshot->state);
        copy->config_xml = xstrdup(snapshot->config_xml);
        for (size_t i = 0; i < snapshot->n_disks; i++) {
                const vmsnap_disk_entry *disk = &snapshot->disks[i];
                vmsnap_snapshot_add_disk(copy, disk->target, disk->image, disk->format,
                                         disk->excluded_reason);
                copy->disks[i].rbd_snapshot = xstrdup(disk->rbd_snapshot);
        }
        copy->memory_file = xstrdup(snapshot->memory_file);
        copy->consistency = xstrdup(snapshot->consistency);
        return copy;
}

static bool same_text(const char *a, const char *b)
{
        return a == b || (a && b && strcmp(a, b) == 0);
}

bool vmsnap_snapshot_equal(const vmsnap_snapshot *a, const vmsnap_snapshot *b)
{
        if (!same_text(a->id, b->id) || !same_text(a->name, b->name) ||
            !same_text(a->description, b->description) || a->created != b->created ||
            !same_text(a->parent_id, b->parent_id) || !same_text(a->state, b->state) ||
            !same_text(a->config_xml, b->config_xml) || !same_text(a->memory_file, b->memory_file) ||
            !same_text(a->consistency, b->consistency) || a->n_disks != b->n_disks)
                return false;
        for (size_t i = 0; i < a->n_disks; i++) {
                const vmsnap_disk_entry *x = &a->disks[i], *y = &b->disks[i];
                if (!same_text(x->target, y->target) || !same_text(x->image, y->image) ||
                    !same_text(x->format, y->format) || !same_text(x->rbd_snapshot, y->rbd_snapshot) ||
                    !same_text(x->excluded_reason, y->excluded_reason))
                        return false;
        }
        return true;
}

void vmsnap_snapshot_add_disk(vmsnap_snapshot *snapshot, const char *target, const char *image,
                              const char *format, const char *excluded_reason)
{
        vmsnap_disk_entry *entry = array_append(&snapshot->disks, &snapshot->n_disks, sizeof(*entry));
        entry->target = xstrdup(target);
        entry->image = xstrdup(image);
        entry->format = xstrdup(format);
        entry->excluded_reason = xstrdup(excluded_reason);
}

void vmsnap_snapshot_add_rbd_disk(vmsnap_snapshot *snapshot, const char *target, const char *rbd_snapshot)
{
        vmsnap_snapshot_add_disk(snapshot, target, NULL, NULL, NULL);
        snapshot->disks[snapshot->n_disks - 1].rbd_snapshot = xstrdup(rbd_snapshot);
}

bool vmsnap_snapshot_has_rbd_disk(const vmsnap_snapshot *snapshot)
{
        for (size_t i = 0; i < snapshot->n_disks; i++)
                if (snapshot->disks[i].rbd_snapshot)
                        return true;
        return false;
}

const vmsnap_disk_entry *vmsnap_snapshot_find_disk(const vmsnap_snapshot *snapshot, const char *target)
{
        if (!snapshot || !target)
                return NULL;
        for (size_t i = 0; i < snapshot->n_disks; i++)
                if (streq_ptr(snapshot->disks[i].target, target))
                        return &snapshot->disks[i];
        return NULL;
}

static void preview_disk_clear(vmsnap_preview_disk *disk)
{
        free(disk->target);
        free(disk->overlay);
        free(disk->saved_leaf);
        free(disk->saved_format);
        free(disk->snapshot_id);
        free(disk->rbd_saved);
        free(disk->rbd_overlay);
}

void vmsnap_preview_free(vmsnap_preview *preview)
{
        if (!preview)
                return;
        free(preview->config_snapshot_id);
        free(preview->saved_xml);
        free(preview->saved_current_id);
        for (size_t i = 0; i < preview->n_disks; i++)
                preview_disk_clear(&preview->disks[i]);
        free(preview->disks);
        free(preview);
}

static vmsnap_preview *preview_copy(const vmsnap_preview *preview)
{
        if (!preview)
                return NULL;
        vmsnap_preview *copy = xcalloc(1, sizeof(*copy));
        copy->config_snapshot_id = xstrdup(preview->config_snapshot_id);
        copy->saved_xml = xstrdup(preview->saved_xml);
        copy->saved_current_id = xstrdup(preview->saved_current_id);
        if (preview->n_disks > 0) {
                copy->disks = xcalloc(preview->n_disks, sizeof(*copy->disks));
                copy->n_disks = preview->n_disks;
        }
        for (size_t i = 0; i < preview->n_disks; i++) {
                copy->disks[i].target = xstrdup(preview->disks[i].target);
                copy->disks[i].overlay = xstrdup(preview->disks[i].overlay);
                copy->disks[i].saved_leaf = xstrdup(preview->disks[i].saved_leaf);
                copy->disks[i].saved_format = xstrdup(preview->disks[i].saved_format);
                copy->disks[i].snapshot_id = xstrdup(preview->disks[i].snapshot_id);
                copy->disks[i].rbd_saved = xstrdup(preview->disks[i].rbd_saved);
                copy->disks[i].rbd_overlay = xstrdup(preview->disks[i].rbd_overlay);
        }
        return copy;
}

void vmsnap_domain_meta_free(vmsnap_domain_meta *meta)
{
        if (!meta)
                return;
        free(meta->uuid);
        free(meta->name);
        free(meta->current_id);
        for (size_t i = 0; i < meta->n_snapshots; i++)
                vmsnap_snapshot_free(meta->snapshots[i]);
        free(meta->snapshots);
        for (size_t i = 0; i < meta->n_owned; i++)
                free(meta->owned[i]);
        free(meta->owned);
        for (size_t i = 0; i < meta->n_forgotten; i++)
                free(meta->forgotten[i]);
        free(meta->forgotten);
        vmsnap_preview_free(meta->preview);
        json_object_put(meta->intent);
        free(meta);
}

vmsnap_domain_meta *vmsnap_domain_meta_copy(const vmsnap_domain_meta *meta)
{
        if (!meta)
                return NULL;
        vmsnap_domain_meta *copy = vmsnap_domain_meta_new(meta->uuid, meta->name);
        copy->current_id = xstrdup(meta->current_id);
        /* Arrays of the final size, and the owned paths taken as they are (they are unique
         * already): a copy of 1,000 snapshots costs linear time, not one search per path. */
        copy->snapshots = xcalloc(meta->n_snapshots + 1, sizeof(*copy->snapshots));
        for (size_t i = 0; i < meta->n_snapshots; i++)
                copy->snapshots[i] = vmsnap_snapshot_hold(meta->snapshots[i]);
        copy->n_snapshots = meta->n_snapshots;
        copy->owned = xcalloc(meta->n_owned + 1, sizeof(*copy->owned));
        for (size_t i = 0; i < meta->n_owned; i++)
                copy->owned[i] = xstrdup(meta->owned[i]);
        copy->n_owned = meta->n_owned;
        for (size_t i = 0; i < meta->n_forgotten; i++)
                vmsnap_domain_meta_add_forgotten(copy, meta->forgotten[i]);
        copy->preview = preview_copy(meta->preview);
        /* A copy of its own: the journal adds to the intent in place, and json-c's reference
         * counts are not atomic, so a published copy must not share it with the operation. */
        copy->intent = NULL;
        if (meta->intent && json_object_deep_copy(meta->intent, &copy->intent, NULL) < 0)
                oom();
        copy->next_default_index = meta->next_default_index;
        copy->generation = meta->generation;
        return copy;
}

void vmsnap_domain_meta_add_snapshot(vmsnap_domain_meta *meta, vmsnap_snapshot *snapshot)
{
        vmsnap_snapshot **slot = array_append(&meta->snapshots, &meta->n_snapshots, sizeof(*slot));
        *slot = snapshot;
}

bool vmsnap_domain_meta_remove_snapshot(vmsnap_domain_meta *meta, const char *id)
{
        if (!id)
                return false;
        for (size_t i = 0; i < meta->n_snapshots; i++) {
                if (!streq_ptr(meta->snapshots[i]->id, id))
                        continue;
                vmsnap_snapshot_free(meta->snapshots[i]);
                memmove(meta->snapshots + i, meta->snapshots + i + 1,
                        (meta->n_snapshots - i - 1) * sizeof(*meta->snapshots));
                meta->n_snapshots--;
                return true;
        }
        return false;
}

vmsnap_snapshot *vmsnap_domain_meta_writable(vmsnap_domain_meta *meta, const char *id)
{
        for (size_t i = 0; meta && id && i < meta->n_snapshots; i++) {
                vmsnap_snapshot *snapshot = meta->snapshots[i];
                if (!streq_ptr(snapshot->id, id))
                        continue;
                /* Held by this model alone: no other can take a hold of it meanwhile, as only
                 * this model's owner copies it. */
                if (__atomic_load_n(&snapshot->refs, __ATOMIC_ACQUIRE) > 1) {
                        meta->snapshots[i] = vmsnap_snapshot_copy(snapshot);
                        vmsnap_snapshot_free(snapshot);
                }
                return meta->snapshots[i];
        }
        return NULL;
}

vmsnap_snapshot *vmsnap_domain_meta_find_id(const vmsnap_domain_meta *meta, const char *id)
{
        if (!meta || !id)
                return NULL;
        for (size_t i = 0; i < meta->n_snapshots; i++)
                if (streq_ptr(meta->snapshots[i]->id, id))
                        return meta->snapshots[i];
        return NULL;
}

static int compare_ids(const void *a, const void *b, void *userdata)
{
        const vmsnap_domain_meta *meta = userdata;
        return strcmp(meta->snapshots[*(const size_t *)a]->id, meta->snapshots[*(const size_t *)b]->id);
}

size_t *vmsnap_domain_meta_sort_by_id(const vmsnap_domain_meta *meta)
{
        size_t *by_id = xcalloc(meta->n_snapshots + 1, sizeof(size_t));

        for (size_t i = 0; i < meta->n_snapshots; i++)
                by_id[i] = i;
        qsort_r(by_id, meta->n_snapshots, sizeof(size_t), compare_ids, (void *)meta);
        return by_id;
}

size_t vmsnap_domain_meta_find_sorted(const vmsnap_domain_meta *meta, const size_t *by_id, const char *id)
{
        size_t lo = 0, hi = meta->n_snapshots;

        while (id && lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(meta->snapshots[by_id[mid]]->id, id);
                if (c == 0)
                        return by_id[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return SIZE_MAX;
}

vmsnap_snapshot *vmsnap_domain_meta_find_name(const vmsnap_domain_meta *meta, const char *name)
{
        if (!meta || !name)
                return NULL;
        for (size_t i = 0; i < meta->n_snapshots; i++)
                if (streq_ptr(meta->snapshots[i]->name, name))
                        return meta->snapshots[i];
        return NULL;
}

vmsnap_snapshot *vmsnap_domain_meta_find(const vmsnap_domain_meta *meta, const char *id_or_name)
{
        vmsnap_snapshot *snapshot = NULL;
        char id[37];

        /* A UUID in any spelling is an id first; only then a name (names that parse as a
         * UUID are refused, but metadata from before that rule may hold one). */
        if (vmsnap_uuid_parse(id_or_name, id))
                snapshot = vmsnap_domain_meta_find_id(meta, id);
        return snapshot ? snapshot : vmsnap_domain_meta_find_name(meta, id_or_name);
}

size_t vmsnap_domain_meta_children(const vmsnap_domain_meta *meta, const char *id, vmsnap_snapshot ***ret)
{
        size_t n = 0;
        for (size_t i = 0; i < meta->n_snapshots; i++)
                if (streq_ptr(meta->snapshots[i]->parent_id, id))
                        n++;
        if (!ret)
                return n;

        vmsnap_snapshot **children = xcalloc(n + 1, sizeof(*children));
        size_t k = 0;
        for (size_t i = 0; i < meta->n_snapshots; i++)
                if (streq_ptr(meta->snapshots[i]->parent_id, id))
                        children[k++] = meta->snapshots[i];
        *ret = children;
        return n;
}

bool vmsnap_domain_meta_descends(const vmsnap_domain_meta *meta, const char *id, const char *ancestor_id)
{
        if (!id || !ancestor_id)
                return false;
        /* Bounded by the number of snapshots, so a parent loop in a hand-edited model cannot hang us. */
        const char *cursor = id;
        for (size_t steps = 0; cursor && steps <= meta->n_snapshots; steps++) {
                if (streq_ptr(cursor, ancestor_id))
                        return true;
                const vmsnap_snapshot *snapshot = vmsnap_domain_meta_find_id(meta, cursor);
                if (!snapshot)
                        return false;
                cursor = snapshot->parent_id;
        }
        return false;
}

/* The owned and the forgotten paths: lists without duplicates, in the order added. */
static bool path_list_has(char *const *paths, size_t n, const char *path)
{
        for (size_t i = 0; path && i < n; i++)
                if (streq_ptr(paths[i], path))
                        return true;
        return false;
}

static void path_list_add(char ***paths, size_t *n, const char *path)
{
        if (!path || path_list_has(*paths, *n, path))
                return;
        char **slot = array_append(paths, n, sizeof(*slot));
        *slot = xstrdup(path);
}

static void path_list_remove(char **paths, size_t *n, const char *path)
{
        size_t kept = 0;

        if (!path)
                return;
        for (size_t i = 0; i < *n; i++) {
                if (streq_ptr(paths[i], path))
                        free(paths[i]);
                else
                        paths[kept++] = paths[i];
        }
        *n = kept;
}

bool vmsnap_domain_meta_owns(const vmsnap_domain_meta *meta, const char *path)
{
        return meta && path_list_has(meta->owned, meta->n_owned, path);
}

void vmsnap_domain_meta_add_owned(vmsnap_domain_meta *meta, const char *path)
{
        path_list_add(&meta->owned, &meta->n_owned, path);
}

void vmsnap_domain_meta_remove_owned(vmsnap_domain_meta *meta, const char *path)
{
        path_list_remove(meta->owned, &meta->n_owned, path);
}

void vmsnap_domain_meta_add_forgotten(vmsnap_domain_meta *meta, const char *path)
{
        path_list_add(&meta->forgotten, &meta->n_forgotten, path);
}

void vmsnap_domain_meta_remove_forgotten(vmsnap_domain_meta *meta, const char *path)
{
        path_list_remove(meta->forgotten, &meta->n_forgotten, path);
}
