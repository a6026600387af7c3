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
        vmsnap_snapshot *record; /* a copy of the record text was made from */
        char *text;
        size_t size;
        bool moved; /* now owned by the array that replaces this one */
} kept_snapshot;

typedef struct kept_document {
        char *uuid;
        kept_snapshot *snapshots; /* sorted by record->id */
        size_t n_snapshots;
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

/* The kept text of snapshot, when its record is still the same: moved into *ret, its
 * slot in document marked as moved (its record, now *ret's, still names the slot's id
 * until the new array replaces document's). */
static bool take_kept(kept_document *document, const vmsnap_snapshot *snapshot, kept_snapshot *ret)
{
        size_t low = 0, high = document->n_snapshots;

        while (low < high) {
                size_t middle = low + (high - low) / 2;
                kept_snapshot *candidate = &document->snapshots[middle];
                int order = strcmp(candidate->record->id, snapshot->id);

                if (order == 0) {
                        if (candidate->moved || !vmsnap_snapshot_equal(candidate->record, snapshot))
                                return false;
                        *ret = *candidate;
                        candidate->moved = true;
                        return true;
                }
                if (order < 0)
                        low = middle + 1;
                else
                        high = middle;
        }
        return false;
}

static kept_snapshot snapshot_text(const vmsnap_snapshot *snapshot)
{
        json_object *object = snapshot_to_json(snapshot);
        size_t size = 0;
        const char *text = json_object_to_json_string_length(object, TEXT_FLAGS, &size);
        if (!text)
                oom();
        kept_snapshot made = {vmsnap_snapshot_copy(snapshot), xstrndup(text, size), size, false};
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

        for (size_t i = 0; i < document->n_snapshots; i++)
                if (!document->snapshots[i].moved)
                        kept_snapshot_clear(&document->snapshots[i]);
        free(document->snapshots);
        qsort(next, n, sizeof(*next), compare_kept);
        document->snapshots = next;
        document->n_snapshots = n;
        pthread_mutex_unlock(&kept_lock);

        free(head);
        free(tail);
        return text;
}

void vmsnap_document_forget(const char *uuid)
{
        pthread_mutex_lock(&kept_lock);
        for (size_t i = 0; i < n_kept; i++) {
                if (strcmp(kept[i].uuid, uuid) != 0)
                        continue;
                for (size_t j = 0; j < kept[i].n_snapshots; j++)
                        kept_snapshot_clear(&kept[i].snapshots[j]);
                free(kept[i].snapshots);
                free(kept[i].uuid);
                kept[i] = kept[--n_kept];
                break;
        }
        pthread_mutex_unlock(&kept_lock);
}
