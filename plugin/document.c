/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* document.c: see document.h. The text is the JSON object of the document without
 * its snapshots, with the array of snapshots spliced in, one compact object per
 * line. What is kept per domain is sorted by snapshot id, replaced whole at each
 * write, and guarded by one mutex, as the engine writes documents from several
 * threads. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "document.h"
#include "path-set.h"
#include "util.h"

#define TEXT_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static json_object *json_string_or_null(const char *text)
{
        return text ? json_object_new_string(text) : NULL;
}

static void json_add(json_object *object, const char *key, json_object *value)
{
        json_object_object_add(object, key, value);
}

static json_object *disk_entry_to_json(const vmsnap_disk_entry *disk)
{
        json_object *object = json_object_new_object();
        json_add(object, "target", json_string_or_null(disk->target));
        json_add(object, "image", json_string_or_null(disk->image));
        json_add(object, "format", json_string_or_null(disk->format));
        if (disk->rbd_snapshot) /* only then: a file disk's entry reads as before */
                json_add(object, "rbd_snapshot", json_object_new_string(disk->rbd_snapshot));
        json_add(object, "excluded_reason", json_string_or_null(disk->excluded_reason));
        return object;
}

static json_object *snapshot_to_json(const vmsnap_snapshot *snapshot)
{
        json_object *object = json_object_new_object();
        json_add(object, "id", json_string_or_null(snapshot->id));
        json_add(object, "name", json_string_or_null(snapshot->name));
        json_add(object, "description", json_object_new_string(snapshot->description ?: ""));
        json_add(object, "created", json_object_new_int64(snapshot->created));
        json_add(object, "parent", json_string_or_null(snapshot->parent_id));
        json_add(object, "state", json_string_or_null(snapshot->state));
        json_add(object, "config_xml", json_string_or_null(snapshot->config_xml));
        json_object *disks = json_object_new_array();
        for (size_t i = 0; i < snapshot->n_disks; i++)
                json_object_array_add(disks, disk_entry_to_json(&snapshot->disks[i]));
        json_add(object, "disks", disks);
        json_add(object, "memory_file", json_string_or_null(snapshot->memory_file));
        if (snapshot->consistency) /* only then: an older snapshot's record reads as before */
                json_add(object, "consistency", json_object_new_string(snapshot->consistency));
        return object;
}

static json_object *preview_to_json(const vmsnap_preview *preview)
{
        json_object *object = json_object_new_object();
        json_add(object, "config_snapshot", json_string_or_null(preview->config_snapshot_id));
        json_add(object, "saved_xml", json_string_or_null(preview->saved_xml));
        json_add(object, "saved_current", json_string_or_null(preview->saved_current_id));
        json_object *disks = json_object_new_array();
        for (size_t i = 0; i < preview->n_disks; i++) {
                const vmsnap_preview_disk *disk = &preview->disks[i];
                json_object *entry = json_object_new_object();
                json_add(entry, "target", json_string_or_null(disk->target));
                json_add(entry, "overlay", json_string_or_null(disk->overlay));
                json_add(entry, "saved_leaf", json_string_or_null(disk->saved_leaf));
                json_add(entry, "saved_format", json_string_or_null(disk->saved_format));
                json_add(entry, "snapshot", json_string_or_null(disk->snapshot_id));
                if (disk->rbd_saved) { /* only then: a file disk's entry reads as before */
                        json_add(entry, "rbd_saved", json_object_new_string(disk->rbd_saved));
                        json_add(entry, "rbd_overlay", json_string_or_null(disk->rbd_overlay));
                }
                json_object_array_add(disks, entry);
        }
        json_add(object, "disks", disks);
        return object;
}

/* The images metadata-only deletes left (model.h). */
static json_object *forgotten_to_json(const vmsnap_domain_meta *meta)
{
        json_object *forgotten = json_object_new_array();
        for (size_t i = 0; i < meta->n_forgotten; i++)
                json_object_array_add(forgotten, json_object_new_string(meta->forgotten[i]));
        return forgotten;
}

/* The fields before the snapshots: who the domain is and where its tree stands. */
static void add_head(json_object *object, const vmsnap_domain_meta *meta)
{
        json_add(object, "version", json_object_new_int(STORE_VERSION));
        json_add(object, "uuid", json_string_or_null(meta->uuid));
        json_add(object, "name", json_string_or_null(meta->name));
        json_add(object, "current", json_string_or_null(meta->current_id));
        json_add(object, "next_default_index", json_object_new_int64(meta->next_default_index));
}

/* The fields after the snapshots: the files vmsnap made or left, and the preview. */
static void add_tail(json_object *object, const vmsnap_domain_meta *meta)
{
        json_object *owned = json_object_new_array();
        for (size_t i = 0; i < meta->n_owned; i++)
                json_object_array_add(owned, json_object_new_string(meta->owned[i]));
        json_add(object, "owned", owned);
        json_add(object, "forgotten", forgotten_to_json(meta));
        json_add(object, "preview", meta->preview ? preview_to_json(meta->preview) : NULL);
}

json_object *vmsnap_store_to_json(const vmsnap_domain_meta *meta)
{
        json_object *object = json_object_new_object();
        add_head(object, meta);
        json_object *snapshots = json_object_new_array();
        for (size_t i = 0; i < meta->n_snapshots; i++)
                json_object_array_add(snapshots, snapshot_to_json(meta->snapshots[i]));
        json_add(object, "snapshots", snapshots);
        add_tail(object, meta);
        json_add(object, "intent", meta->intent ? json_object_get(meta->intent) : NULL);
        return object;
}

/* ---- the text, snapshot by snapshot ---- */

typedef struct kept_snapshot {
        vmsnap_snapshot *record; /* a hold of the record text was made from (model.h: held, it
                                    never changes, so the same pointer is the same record) */
        char *text;
        size_t size;
        bool moved;      /* now owned by the array that replaces this one */
        size_t position; /* its place in the text, as the kept order has it */
} kept_snapshot;

typedef struct kept_document {
        char *uuid;
        kept_snapshot *snapshots; /* sorted by record->id */
        size_t n_snapshots;
        char **order;                /* the snapshots' ids in the order of the text */
        kept_snapshot **by_position; /* the same order, into snapshots */
        char **owned;                /* the owned files as the text lists them */
        size_t n_owned;
        vmsnap_document_written written; /* valid only once the store says so */
} kept_document;

static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static kept_document *kept;
static size_t n_kept;

static void kept_snapshot_clear(kept_snapshot *snapshot)
{
        vmsnap_snapshot_free(snapshot->record);
        free(snapshot->text);
        *snapshot = (kept_snapshot){0};
}

static int compare_kept(const void *a, const void *b)
{
        return strcmp(((const kept_snapshot *)a)->record->id, ((const kept_snapshot *)b)->record->id);
}

/* The kept document of uuid, made empty when there is none. Call with kept_lock held. */
static kept_document *kept_document_of(const char *uuid)
{
        for (size_t i = 0; i < n_kept; i++)
                if (strcmp(kept[i].uuid, uuid) == 0)
                        return &kept[i];
        kept = xreallocarray(kept, n_kept + 1, sizeof(*kept));
        kept[n_kept] = (kept_document){.uuid = xstrdup(uuid)};
        return &kept[n_kept++];
}

static void kept_lists_replace(kept_document *document, const vmsnap_domain_meta *meta)
{
        for (size_t i = 0; i < document->n_snapshots; i++)
                free(document->order[i]);
        free(document->order);
        for (size_t i = 0; i < document->n_owned; i++)
                free(document->owned[i]);
        free(document->owned);
        document->order = xcalloc(meta->n_snapshots + 1, sizeof(*document->order));
        for (size_t i = 0; i < meta->n_snapshots; i++)
                document->order[i] = xstrdup(meta->snapshots[i]->id);
        document->owned = xcalloc(meta->n_owned + 1, sizeof(*document->owned));
        for (size_t i = 0; i < meta->n_owned; i++)
                document->owned[i] = xstrdup(meta->owned[i]);
        document->n_owned = meta->n_owned;
        document->written = (vmsnap_document_written){0};
}

/* Where the kept text of the snapshot with id is, or NULL. */
static kept_snapshot *kept_find(kept_document *document, const char *id)
{
        size_t low = 0, high = document->n_snapshots;

        while (low < high) {
                size_t middle = low + (high - low) / 2;
                int order = strcmp(document->snapshots[middle].record->id, id);
                if (order == 0)
                        return &document->snapshots[middle];
                if (order < 0)
                        low = middle + 1;
                else
                        high = middle;
        }
        return NULL;
}

/* The kept text of snapshot, when its record is still the same: moved into *ret, its
 * slot in document marked as moved (its record, now *ret's, still names the slot's id
 * until the new array replaces document's). */
static bool take_kept(kept_document *document, const vmsnap_snapshot *snapshot, kept_snapshot *ret)
{
        kept_snapshot *candidate = kept_find(document, snapshot->id);

        if (!candidate || candidate->moved ||
            (candidate->record != snapshot && !vmsnap_snapshot_equal(candidate->record, snapshot)))
                return false;
        *ret = *candidate;
        candidate->moved = true;
        return true;
}

static kept_snapshot snapshot_text(const vmsnap_snapshot *snapshot)
{
        json_object *object = snapshot_to_json(snapshot);
        size_t size = 0;
        const char *text = json_object_to_json_string_length(object, TEXT_FLAGS, &size);
        if (!text)
                oom();
        kept_snapshot made = {vmsnap_snapshot_hold(snapshot), xstrndup(text, size), size, false};
        json_object_put(object);
        return made;
}

/* The JSON text of object without its braces. */
static char *object_inside(json_object *object, size_t *ret_size)
{
        size_t size = 0;
        const char *text = json_object_to_json_string_length(object, TEXT_FLAGS, &size);
        if (!text || size < 2)
                oom();
        *ret_size = size - 2;
        return xstrndup(text + 1, size - 2);
}

/* Replaces what is kept of document by next (one text per snapshot of meta, in meta's
 * order; taken over), and the lists by meta's; what the store wrote stays to be confirmed. */
static void kept_replace(kept_document *document, const vmsnap_domain_meta *meta, kept_snapshot *next)
{
        kept_lists_replace(document, meta);
        for (size_t i = 0; i < document->n_snapshots; i++)
                if (!document->snapshots[i].moved)
                        kept_snapshot_clear(&document->snapshots[i]);
        free(document->snapshots);
        for (size_t i = 0; i < meta->n_snapshots; i++)
                next[i].position = i;
        qsort(next, meta->n_snapshots, sizeof(*next), compare_kept);
        document->snapshots = next;
        document->n_snapshots = meta->n_snapshots;
        free(document->by_position);
        document->by_position = xcalloc(meta->n_snapshots + 1, sizeof(*document->by_position));
        for (size_t i = 0; i < meta->n_snapshots; i++)
                document->by_position[next[i].position] = &next[i];
}

char *vmsnap_document_text(const vmsnap_domain_meta *meta, uint64_t generation, size_t *ret_size)
{
        size_t n = meta->n_snapshots;
        kept_snapshot *next = xcalloc(n + 1, sizeof(*next));
        size_t head_size, tail_size, size;
        char *head, *tail, *text, *at;

        json_object *object = json_object_new_object();
        add_head(object, meta);
        json_add(object, "generation", json_object_new_int64((int64_t)generation));
        head = object_inside(object, &head_size);
        json_object_put(object);

        object = json_object_new_object();
        add_tail(object, meta);
        tail = object_inside(object, &tail_size);
        json_object_put(object);

        pthread_mutex_lock(&kept_lock);
        kept_document *document = kept_document_of(meta->uuid);
        size = head_size + tail_size + 32;
        for (size_t i = 0; i < n; i++) {
                if (!take_kept(document, meta->snapshots[i], &next[i]))
                        next[i] = snapshot_text(meta->snapshots[i]);
                size += next[i].size + 2;
        }

        /* {HEAD,"snapshots":[\nS1,\nS2\n],TAIL}\n */
        text = at = xmalloc(size);
        at = stpcpy(at, "{");
        at = mempcpy(at, head, head_size);
        at = stpcpy(at, ",\"snapshots\":[");
        for (size_t i = 0; i < n; i++) {
                at = stpcpy(at, i ? ",\n" : "\n");
                at = mempcpy(at, next[i].text, next[i].size);
        }
        at = stpcpy(at, n ? "\n]," : "],");
        at = mempcpy(at, tail, tail_size);
        at = stpcpy(at, "}\n");
        *ret_size = (size_t)(at - text);

        kept_replace(document, meta, next);
        pthread_mutex_unlock(&kept_lock);

        free(head);
        free(tail);
        return text;
}

/* ---- one change, as a line of the change log ---- */

/* The owned files of the change: removed and added ones when replaying them (removed ones
 * out, added ones at the end) gives meta's list, else the whole list. */
static void add_owned_change(json_object *object, const kept_document *document,
                             const vmsnap_domain_meta *meta)
{
        vmsnap_path_set before = {0}, now = {0};
        json_object *removed = json_object_new_array(), *added = json_object_new_array();
        size_t at = 0;
        bool follows = true;

        /* Most changes add files at the end, or none. */
        while (at < document->n_owned && at < meta->n_owned &&
               strcmp(document->owned[at], meta->owned[at]) == 0)
                at++;
        if (at == document->n_owned) {
                for (; at < meta->n_owned; at++)
                        json_object_array_add(added, json_object_new_string(meta->owned[at]));
                json_add(object, "owned_removed", removed);
                json_add(object, "owned_added", added);
                return;
        }
        at = 0;
        for (size_t i = 0; i < document->n_owned; i++)
                vmsnap_path_set_add_borrowed(&before, document->owned[i]);
        for (size_t i = 0; i < meta->n_owned; i++)
                vmsnap_path_set_add_borrowed(&now, meta->owned[i]);
        for (size_t i = 0; i < document->n_owned; i++) {
                if (!vmsnap_path_set_contains(&now, document->owned[i])) {
                        json_object_array_add(removed, json_object_new_string(document->owned[i]));
                        continue;
                }
                if (at < meta->n_owned && strcmp(meta->owned[at], document->owned[i]) == 0)
                        at++;
                else
                        follows = false;
        }
        for (; at < meta->n_owned; at++) {
                if (vmsnap_path_set_contains(&before, meta->owned[at]))
                        follows = false;
                json_object_array_add(added, json_object_new_string(meta->owned[at]));
        }
        if (follows &&
            json_object_array_length(added) + json_object_array_length(removed) <= meta->n_owned) {
                json_add(object, "owned_removed", removed);
                json_add(object, "owned_added", added);
        } else {
                json_object_put(removed);
                json_object_put(added);
                json_object *owned = json_object_new_array();
                for (size_t i = 0; i < meta->n_owned; i++)
                        json_object_array_add(owned, json_object_new_string(meta->owned[i]));
                json_add(object, "owned", owned);
        }
        vmsnap_path_set_clear(&before);
        vmsnap_path_set_clear(&now);
}

char *vmsnap_document_change_text(const vmsnap_domain_meta *meta, uint64_t from, uint64_t generation,
                                  size_t *ret_size)
{
        size_t n = meta->n_snapshots, head_size, size;
        char *head, *text = NULL, *at;

        pthread_mutex_lock(&kept_lock);
        kept_document *document = kept_document_of(meta->uuid);
        if (!document->written.valid || document->written.generation != from) {
                pthread_mutex_unlock(&kept_lock);
                return NULL;
        }

        /* Which snapshots are new, which changed, which went. A line replays as: the removed
         * ones out of the kept order, the changed ones in their place, the new ones at the
         * end; any other order (snapshots that changed places) takes the whole document. */
        _cleanup_free_ kept_snapshot **found = xcalloc(n + 1, sizeof(*found));
        _cleanup_free_ bool *is_put = xcalloc(n + 1, sizeof(*is_put));
        _cleanup_free_ bool *seen = xcalloc(document->n_snapshots + 1, sizeof(*seen));
        bool follows = true, after_new = false;
        size_t last = 0;
        for (size_t i = 0; follows && i < n; i++) {
                /* Most stand where they stood: the next place is asked first. */
                kept_snapshot *kept_one =
                        last < document->n_snapshots && strcmp(document->by_position[last]->record->id,
                                                               meta->snapshots[i]->id) == 0
                                ? document->by_position[last]
                                : kept_find(document, meta->snapshots[i]->id);
                found[i] = kept_one;
                is_put[i] = !kept_one;
                if (!kept_one) {
                        after_new = true;
                        continue;
                }
                follows =
                        !after_new && !seen[kept_one->position] && (last == 0 || kept_one->position >= last);
                seen[kept_one->position] = true;
                last = kept_one->position + 1;
                is_put[i] = kept_one->record != meta->snapshots[i] &&
                            !vmsnap_snapshot_equal(kept_one->record, meta->snapshots[i]);
        }
        if (!follows) {
                pthread_mutex_unlock(&kept_lock);
                return NULL;
        }

        json_object *object = json_object_new_object();
        json_add(object, "base", json_object_new_int64((int64_t)document->written.base));
        json_add(object, "base_crc32", json_object_new_int64(document->written.base_crc32));
        json_add(object, "generation", json_object_new_int64((int64_t)generation));
        json_add(object, "name", json_string_or_null(meta->name));
        json_add(object, "current", json_string_or_null(meta->current_id));
        json_add(object, "next_default_index", json_object_new_int64(meta->next_default_index));
        json_object *removed = json_object_new_array();
        for (size_t i = 0; i < document->n_snapshots; i++)
                if (!seen[i])
                        json_object_array_add(removed, json_object_new_string(document->order[i]));
        json_add(object, "removed", removed);
        add_owned_change(object, document, meta);
        json_add(object, "forgotten", forgotten_to_json(meta));
        json_add(object, "preview", meta->preview ? preview_to_json(meta->preview) : NULL);
        head = object_inside(object, &head_size);
        json_object_put(object);

        kept_snapshot *next = xcalloc(n + 1, sizeof(*next));
        size = head_size + 32;
        for (size_t i = 0; i < n; i++) {
                if (is_put[i]) {
                        next[i] = snapshot_text(meta->snapshots[i]);
                        size += next[i].size + 1;
                } else {
                        next[i] = *found[i];
                        found[i]->moved = true;
                }
        }
        /* {HEAD,"put":[S1,S2]}\n */
        text = at = xmalloc(size);
        at = stpcpy(at, "{");
        at = mempcpy(at, head, head_size);
        at = stpcpy(at, ",\"put\":[");
        bool first = true;
        for (size_t i = 0; i < n; i++)
                if (is_put[i]) {
                        if (!first)
                                at = stpcpy(at, ",");
                        at = mempcpy(at, next[i].text, next[i].size);
                        first = false;
                }
        at = stpcpy(at, "]}\n");
        *ret_size = (size_t)(at - text);
        kept_replace(document, meta, next);
        pthread_mutex_unlock(&kept_lock);
        free(head);
        return text;
}

bool vmsnap_document_written_get(const char *uuid, vmsnap_document_written *ret)
{
        pthread_mutex_lock(&kept_lock);
        *ret = kept_document_of(uuid)->written;
        pthread_mutex_unlock(&kept_lock);
        return ret->valid;
}

void vmsnap_document_written_set(const char *uuid, const vmsnap_document_written *written)
{
        pthread_mutex_lock(&kept_lock);
        kept_document_of(uuid)->written = written ? *written : (vmsnap_document_written){0};
        pthread_mutex_unlock(&kept_lock);
}

void vmsnap_document_forget(const char *uuid)
{
        pthread_mutex_lock(&kept_lock);
        for (size_t i = 0; i < n_kept; i++) {
                if (strcmp(kept[i].uuid, uuid) != 0)
                        continue;
                for (size_t j = 0; j < kept[i].n_snapshots; j++) {
                        kept_snapshot_clear(&kept[i].snapshots[j]);
                        free(kept[i].order[j]);
                }
                free(kept[i].snapshots);
                free(kept[i].by_position);
                free(kept[i].order);
                for (size_t j = 0; j < kept[i].n_owned; j++)
                        free(kept[i].owned[j]);
                free(kept[i].owned);
                free(kept[i].uuid);
                kept[i] = kept[--n_kept];
                break;
        }
        pthread_mutex_unlock(&kept_lock);
}
