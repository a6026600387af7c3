/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store.c: the metadata store: the model (model.h) as one JSON document per
 * domain, <state_dir>/<uuid>.json, and the intent of its unfinished operation beside
 * it in <uuid>.journal.json (store.h). Owns both formats and their strict validation;
 * the atomic write and the read go through fileio.c. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "error.h"
#include "failpoint.h"
#include "fileio.h"
#include "document.h"
#include "names.h"
#include "store.h"

/* Every shape error of a document is reported the same way. */
/* The change log is written whole again (with the document) once it is as large as the
 * document, or this large for a small one: a change costs what it changed, and the log's
 * size what one document costs. */
#define LOG_LEAST_BYTES (UINT64_C(64) * 1024)

#define malformed(error, ...) vmsnap_error_set(error, -EBADMSG, VMSNAP_ERROR_FAILED, __VA_ARGS__)

static void domain_meta_freep(vmsnap_domain_meta **meta)
{
        vmsnap_domain_meta_free(*meta);
}
#define _cleanup_domain_meta_ _cleanup_(domain_meta_freep)

static void snapshot_freep(vmsnap_snapshot **snapshot)
{
        vmsnap_snapshot_free(*snapshot);
}
#define _cleanup_snapshot_ _cleanup_(snapshot_freep)

static void preview_freep(vmsnap_preview **preview)
{
        vmsnap_preview_free(*preview);
}
#define _cleanup_preview_ _cleanup_(preview_freep)

static void json_object_putp(json_object **object)
{
        json_object_put(*object);
}
#define _cleanup_json_ _cleanup_(json_object_putp)

static void json_add(json_object *object, const char *key, json_object *value)
{
        json_object_object_add(object, key, value);
}

static void json_tokener_freep(json_tokener **tokener)
{
        if (*tokener)
                json_tokener_free(*tokener);
}

/* ---- reading: every field is checked before it is used ---- */

/* where names the enclosing object the way a person finds it in the file, e.g. "snapshots[2]";
 * "" for the document itself. */
static void field_path(char *buffer, size_t size, const char *where, const char *key)
{
        snprintf(buffer, size, "%s%s%s", where, *where ? "." : "", key);
}

/* A string field: a JSON string without NUL bytes; when nullable, null or a missing key give NULL. */
static int read_string(json_object *object, const char *where, const char *key, bool nullable, char **ret,
                       vmsnap_error *error)
{
        char path[128];
        json_object *value = NULL;

        field_path(path, sizeof(path), where, key);
        if (!json_object_object_get_ex(object, key, &value) || !value) {
                if (nullable) {
                        *ret = NULL;
                        return 0;
                }
                return malformed(error, "field %s is missing or null; it must be a string", path);
        }
        if (!json_object_is_type(value, json_type_string))
                return malformed(error, "field %s must be a string%s, not %s", path,
                                 nullable ? " or null" : "", json_type_to_name(json_object_get_type(value)));

        const char *text = json_object_get_string(value);
        if ((size_t)json_object_get_string_len(value) != strlen(text))
                return malformed(error, "field %s contains a NUL character", path);

        *ret = xstrdup(text);
        return 0;
}

/* Like read_string, and the string must not be empty. */
static int read_name(json_object *object, const char *where, const char *key, bool nullable, char **ret,
                     vmsnap_error *error)
{
        char path[128];
        int r = read_string(object, where, key, nullable, ret, error);
        if (r < 0)
                return r;
        if (*ret && **ret == '\0') {
                free(*ret);
                *ret = NULL;
                field_path(path, sizeof(path), where, key);
                return malformed(error, "field %s must not be empty", path);
        }
        return 0;
}

static int read_int64(json_object *object, const char *where, const char *key, int64_t min, int64_t max,
                      int64_t *ret, vmsnap_error *error)
{
        char path[128];
        json_object *value = NULL;

        field_path(path, sizeof(path), where, key);
        if (!json_object_object_get_ex(object, key, &value) || !value)
                return malformed(error, "field %s is missing or null; it must be an integer", path);
        if (!json_object_is_type(value, json_type_int))
                return malformed(error, "field %s must be an integer, not %s", path,
                                 json_type_to_name(json_object_get_type(value)));

        /* json-c clamps values beyond int64 to the nearest end, which the range check then refuses. */
        int64_t number = json_object_get_int64(value);
        if (number < min || number > max)
                return malformed(error, "field %s is %" PRId64 ", outside %" PRId64 "..%" PRId64, path,
                                 number, min, max);
        *ret = number;
        return 0;
}

/* An array field; when optional, a missing key or null gives NULL. */
static int read_array(json_object *object, const char *where, const char *key, bool optional,
                      json_object **ret, vmsnap_error *error)
{
        char path[128];
        json_object *value = NULL;

        field_path(path, sizeof(path), where, key);
        if (!json_object_object_get_ex(object, key, &value) || !value) {
                if (optional) {
                        *ret = NULL;
                        return 0;
                }
                return malformed(error, "field %s is missing or null; it must be an array", path);
        }
        if (!json_object_is_type(value, json_type_array))
                return malformed(error, "field %s must be an array, not %s", path,
                                 json_type_to_name(json_object_get_type(value)));
        *ret = value;
        return 0;
}

/* Element i of the array key of the document, which must be an absolute path. */
static int read_absolute_path(json_object *array, const char *key, size_t i, const char **ret,
                              vmsnap_error *error)
{
        json_object *entry = json_object_array_get_idx(array, i);
        const char *path = json_object_get_string(entry);

        if (!json_object_is_type(entry, json_type_string) || !path || path[0] != '/' ||
            (size_t)json_object_get_string_len(entry) != strlen(path))
                return malformed(error, "field %s[%zu] must be an absolute path", key, i);
        *ret = path;
        return 0;
}

static int require_object(json_object *value, const char *path, vmsnap_error *error)
{
        if (!json_object_is_type(value, json_type_object))
                return malformed(error, "%s must be an object, not %s", path,
                                 json_type_to_name(json_object_get_type(value)));
        return 0;
}

/* A disk is a file (image and format), an RBD snapshot, or excluded (a reason): exactly one. */
static int check_disk_kind(const vmsnap_disk_entry *disk, const char *where, vmsnap_error *error)
{
        unsigned kinds = (disk->image || disk->format) + !!disk->rbd_snapshot + !!disk->excluded_reason;

        if (kinds != 1 || !disk->image != !disk->format)
                return malformed(error,
                                 "%s (disk %s) needs exactly one of: image and format, an rbd_snapshot, "
                                 "or an excluded_reason",
                                 where, disk->target);
        return 0;
}

/* A preview's disk is a file (saved_leaf and saved_format, maybe an overlay) or an RBD
 * disk (rbd_saved, maybe an rbd_overlay), never both. */
static int check_preview_disk_kind(const vmsnap_preview_disk *disk, const char *where, vmsnap_error *error)
{
        if (disk->rbd_saved) {
                if (disk->saved_leaf || disk->saved_format || disk->overlay)
                        return malformed(
                                error,
                                "%s (disk %s) has an rbd_saved and also a saved_leaf, saved_format or "
                                "overlay",
                                where, disk->target);
                return 0;
        }
        if (disk->rbd_overlay)
                return malformed(error, "field %s.rbd_overlay needs an rbd_saved", where);
        if (!disk->saved_leaf)
                return malformed(error, "field %s.saved_leaf is missing or null; it must be a string",
                                 where);
        if (!disk->saved_format)
                return malformed(error, "field %s.saved_format is missing or null; it must be a string",
                                 where);
        return 0;
}

static int disk_entry_from_json(json_object *object, const char *where, vmsnap_snapshot *snapshot,
                                vmsnap_error *error)
{
        _cleanup_free_ char *target = NULL, *image = NULL, *format = NULL, *rbd = NULL, *reason = NULL;
        int r;

        r = require_object(object, where, error);
        if (r < 0)
                return r;
        r = read_name(object, where, "target", false, &target, error);
        if (r < 0)
                return r;
        r = read_name(object, where, "image", true, &image, error);
        if (r < 0)
                return r;
        r = read_name(object, where, "format", true, &format, error);
        if (r < 0)
                return r;
        r = read_string(object, where, "rbd_snapshot", true, &rbd, error);
        if (r < 0)
                return r;
        r = read_string(object, where, "excluded_reason", true, &reason, error);
        if (r < 0)
                return r;
        if (vmsnap_snapshot_find_disk(snapshot, target))
                return malformed(error, "%s repeats disk %s", where, target);

        vmsnap_snapshot_add_disk(snapshot, target, image, format, reason);
        snapshot->disks[snapshot->n_disks - 1].rbd_snapshot = TAKE_PTR(rbd);
        return check_disk_kind(&snapshot->disks[snapshot->n_disks - 1], where, error);
}

/* A snapshot's consistency is one vmsnap knows (model.h), or NULL in an older record. */
static int check_consistency(const char *value, const char *where, vmsnap_error *error)
{
        char path[128];

        if (!value || strcmp(value, VMSNAP_CONSISTENCY_OFFLINE) == 0 ||
            strcmp(value, VMSNAP_CONSISTENCY_QUIESCED) == 0 || strcmp(value, VMSNAP_CONSISTENCY_CRASH) == 0)
                return 0;
        field_path(path, sizeof(path), where, "consistency");
        return malformed(error, "field %s is \"%s\"; it must be \"%s\", \"%s\" or \"%s\"", path, value,
                         VMSNAP_CONSISTENCY_OFFLINE, VMSNAP_CONSISTENCY_QUIESCED, VMSNAP_CONSISTENCY_CRASH);
}

static int snapshot_from_json(json_object *object, const char *where, vmsnap_snapshot **ret,
                              vmsnap_error *error)
{
        _cleanup_snapshot_ vmsnap_snapshot *snapshot = vmsnap_snapshot_new();
        json_object *disks = NULL;
        int r;

        r = require_object(object, where, error);
        if (r < 0)
                return r;
        r = read_name(object, where, "id", false, &snapshot->id, error);
        if (r < 0)
                return r;
        r = read_name(object, where, "name", false, &snapshot->name, error);
        if (r < 0)
                return r;
        r = read_string(object, where, "description", false, &snapshot->description, error);
        if (r < 0)
                return r;
        r = read_int64(object, where, "created", INT64_MIN, INT64_MAX, &snapshot->created, error);
        if (r < 0)
                return r;
        r = read_name(object, where, "parent", true, &snapshot->parent_id, error);
        if (r < 0)
                return r;
        r = read_name(object, where, "state", false, &snapshot->state, error);
        if (r < 0)
                return r;
        r = read_string(object, where, "config_xml", false, &snapshot->config_xml, error);
        if (r < 0)
                return r;
        r = read_array(object, where, "disks", false, &disks, error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < json_object_array_length(disks); i++) {
                char disk_where[96];
                snprintf(disk_where, sizeof(disk_where), "%s.disks[%zu]", where, i);
                r = disk_entry_from_json(json_object_array_get_idx(disks, i), disk_where, snapshot, error);
                if (r < 0)
                        return r;
        }
        r = read_name(object, where, "memory_file", true, &snapshot->memory_file, error);
        if (r < 0)
                return r;
        r = read_name(object, where, "consistency", true, &snapshot->consistency, error);
        if (r == 0)
                r = check_consistency(snapshot->consistency, where, error);
        if (r < 0)
                return r;

        *ret = snapshot;
        snapshot = NULL;
        return 0;
}

static int preview_from_json(json_object *object, vmsnap_preview **ret, vmsnap_error *error)
{
        _cleanup_preview_ vmsnap_preview *preview = xcalloc(1, sizeof(*preview));
        json_object *disks = NULL;
        int r;

        r = require_object(object, "preview", error);
        if (r < 0)
                return r;
        r = read_name(object, "preview", "config_snapshot", false, &preview->config_snapshot_id, error);
        if (r < 0)
                return r;
        r = read_string(object, "preview", "saved_xml", false, &preview->saved_xml, error);
        if (r < 0)
                return r;
        r = read_name(object, "preview", "saved_current", true, &preview->saved_current_id, error);
        if (r < 0)
                return r;
        r = read_array(object, "preview", "disks", false, &disks, error);
        if (r < 0)
                return r;

        size_t n = json_object_array_length(disks);
        if (n > 0)
                preview->disks = xcalloc(n, sizeof(*preview->disks));
        for (size_t i = 0; i < n; i++) {
                json_object *entry = json_object_array_get_idx(disks, i);
                vmsnap_preview_disk *disk = &preview->disks[i];
                char where[64];

                snprintf(where, sizeof(where), "preview.disks[%zu]", i);
                r = require_object(entry, where, error);
                if (r < 0)
                        return r;
                /* Counted before filling so that vmsnap_preview_free() releases a half-read entry too. */
                preview->n_disks = i + 1;
                r = read_name(entry, where, "target", false, &disk->target, error);
                if (r < 0)
                        return r;
                r = read_name(entry, where, "overlay", true, &disk->overlay, error);
                if (r < 0)
                        return r;
                r = read_name(entry, where, "saved_leaf", true, &disk->saved_leaf, error);
                if (r < 0)
                        return r;
                r = read_name(entry, where, "saved_format", true, &disk->saved_format, error);
                if (r < 0)
                        return r;
                r = read_name(entry, where, "snapshot", true, &disk->snapshot_id, error);
                if (r < 0)
                        return r;
                r = read_string(entry, where, "rbd_saved", true, &disk->rbd_saved, error);
                if (r < 0)
                        return r;
                r = read_string(entry, where, "rbd_overlay", true, &disk->rbd_overlay, error);
                if (r < 0)
                        return r;
                r = check_preview_disk_kind(disk, where, error);
                if (r < 0)
                        return r;
                for (size_t k = 0; k < i; k++)
                        if (strcmp(preview->disks[k].target, disk->target) == 0)
                                return malformed(error, "%s repeats disk %s", where, disk->target);
        }

        *ret = preview;
        preview = NULL;
        return 0;
}

/* Cross-references: unique ids and names, parents and every other id reference resolve, no parent loops. */
static int compare_names(const void *a, const void *b, void *userdata)
{
        const vmsnap_domain_meta *meta = userdata;
        return strcmp(meta->snapshots[*(const size_t *)a]->name, meta->snapshots[*(const size_t *)b]->name);
}

/* Unique ids and names, existing parents, no parent loops: O(n log n), since the store is
 * checked on every load and documents may hold thousands of snapshots. */
static int check_tree(const vmsnap_domain_meta *meta, vmsnap_error *error)
{
        size_t n = meta->n_snapshots;
        _cleanup_free_ size_t *by_id = vmsnap_domain_meta_sort_by_id(meta);
        _cleanup_free_ size_t *by_name = xcalloc(n + 1, sizeof(size_t));
        _cleanup_free_ size_t *parent = xcalloc(n + 1, sizeof(size_t));
        _cleanup_free_ unsigned char *color = xcalloc(n + 1, 1); /* 0 new, 1 on the path, 2 reaches a root */

        for (size_t i = 0; i < n; i++)
                by_name[i] = i;
        qsort_r(by_name, n, sizeof(size_t), compare_names, (void *)meta);
        for (size_t i = 1; i < n; i++) {
                if (strcmp(meta->snapshots[by_id[i - 1]]->id, meta->snapshots[by_id[i]]->id) == 0)
                        return malformed(error, "snapshots[%zu] and snapshots[%zu] share the id %s",
                                         by_id[i - 1], by_id[i], meta->snapshots[by_id[i]]->id);
                if (strcmp(meta->snapshots[by_name[i - 1]]->name, meta->snapshots[by_name[i]]->name) == 0)
                        return malformed(error, "snapshots[%zu] and snapshots[%zu] share the name \"%s\"",
                                         by_name[i - 1], by_name[i], meta->snapshots[by_name[i]]->name);
        }
        for (size_t i = 0; i < n; i++) {
                const vmsnap_snapshot *snapshot = meta->snapshots[i];
                parent[i] = SIZE_MAX;
                if (!snapshot->parent_id)
                        continue;
                parent[i] = vmsnap_domain_meta_find_sorted(meta, by_id, snapshot->parent_id);
                if (parent[i] == SIZE_MAX)
                        return malformed(error,
                                         "snapshots[%zu] (\"%s\") names parent %s, which is not a snapshot",
                                         i, snapshot->name, snapshot->parent_id);
        }
        for (size_t i = 0; i < n; i++) {
                size_t cursor = i;
                /* Walk up until a root or a snapshot already known to reach one. */
                while (cursor != SIZE_MAX && color[cursor] == 0) {
                        color[cursor] = 1;
                        cursor = parent[cursor];
                }
                if (cursor != SIZE_MAX && color[cursor] == 1)
                        return malformed(error, "the parents of snapshots[%zu] (\"%s\") form a loop", i,
                                         meta->snapshots[i]->name);
                for (cursor = i; cursor != SIZE_MAX && color[cursor] == 1; cursor = parent[cursor])
                        color[cursor] = 2;
        }
        return 0;
}

static int domain_meta_check_references(const vmsnap_domain_meta *meta, vmsnap_error *error)
{
        int r = check_tree(meta, error);
        if (r < 0)
                return r;

        if (meta->current_id && !vmsnap_domain_meta_find_id(meta, meta->current_id))
                return malformed(error, "field current names %s, which is not a snapshot", meta->current_id);

        const vmsnap_preview *preview = meta->preview;
        if (!preview)
                return 0;
        if (!vmsnap_domain_meta_find_id(meta, preview->config_snapshot_id))
                return malformed(error, "field preview.config_snapshot names %s, which is not a snapshot",
                                 preview->config_snapshot_id);
        if (preview->saved_current_id && !vmsnap_domain_meta_find_id(meta, preview->saved_current_id))
                return malformed(error, "field preview.saved_current names %s, which is not a snapshot",
                                 preview->saved_current_id);
        for (size_t i = 0; i < preview->n_disks; i++) {
                const char *id = preview->disks[i].snapshot_id;
                if (id && !vmsnap_domain_meta_find_id(meta, id))
                        return malformed(
                                error, "field preview.disks[%zu].snapshot names %s, which is not a snapshot",
                                i, id);
        }
        return 0;
}

int vmsnap_store_from_json(json_object *object, vmsnap_domain_meta **ret, vmsnap_error *error)
{
        _cleanup_domain_meta_ vmsnap_domain_meta *meta = NULL;
        json_object *snapshots = NULL, *owned = NULL, *forgotten = NULL, *value = NULL;
        int64_t number;
        int r;

        if (!object || !json_object_is_type(object, json_type_object))
                return malformed(error, "the document must be a JSON object, not %s",
                                 json_type_to_name(json_object_get_type(object)));

        r = read_int64(object, "", "version", INT64_MIN, INT64_MAX, &number, error);
        if (r < 0)
                return r;
        if (number < STORE_VERSION_OLDEST || number > STORE_VERSION)
                return vmsnap_error_set(error, -EPROTONOSUPPORT, VMSNAP_ERROR_UNSUPPORTED,
                                        "the document has format version %" PRId64
                                        ", but this vmsnap reads versions %d to %d",
                                        number, STORE_VERSION_OLDEST, STORE_VERSION);

        meta = vmsnap_domain_meta_new(NULL, NULL);
        r = read_name(object, "", "uuid", false, &meta->uuid, error);
        if (r < 0)
                return r;
        r = read_string(object, "", "name", false, &meta->name, error);
        if (r < 0)
                return r;
        r = read_name(object, "", "current", true, &meta->current_id, error);
        if (r < 0)
                return r;
        r = read_int64(object, "", "next_default_index", 0, UINT_MAX, &number, error);
        if (r < 0)
                return r;
        meta->next_default_index = (unsigned)number;

        r = read_array(object, "", "snapshots", false, &snapshots, error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < json_object_array_length(snapshots); i++) {
                vmsnap_snapshot *snapshot = NULL;
                char where[48];

                snprintf(where, sizeof(where), "snapshots[%zu]", i);
                r = snapshot_from_json(json_object_array_get_idx(snapshots, i), where, &snapshot, error);
                if (r < 0)
                        return r;
                vmsnap_domain_meta_add_snapshot(meta, snapshot);
        }

        r = read_array(object, "", "owned", false, &owned, error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < json_object_array_length(owned); i++) {
                const char *path;
                r = read_absolute_path(owned, "owned", i, &path, error);
                if (r < 0)
                        return r;
                vmsnap_domain_meta_add_owned(meta, path);
        }
        /* Written since metadata-only deletes keep a record of what they left behind. */
        r = read_array(object, "", "forgotten", true, &forgotten, error);
        if (r < 0)
                return r;
        for (size_t i = 0; forgotten && i < json_object_array_length(forgotten); i++) {
                const char *path;
                r = read_absolute_path(forgotten, "forgotten", i, &path, error);
                if (r < 0)
                        return r;
                vmsnap_domain_meta_add_forgotten(meta, path);
        }

        if (json_object_object_get_ex(object, "preview", &value) && value) {
                r = preview_from_json(value, &meta->preview, error);
                if (r < 0)
                        return r;
        }

        if (json_object_object_get_ex(object, "intent", &value) && value) {
                r = require_object(value, "field intent", error);
                if (r < 0)
                        return r;
                meta->intent = json_object_get(value);
        }

        r = domain_meta_check_references(meta, error);
        if (r < 0)
                return r;

        *ret = meta;
        meta = NULL;
        return 0;
}

/* ---- the model checked before it is written ---- */

/* What vmsnap_store_from_json refuses, asked of the model itself, so that a save refuses
 * what a load would without reading its own document back. */
static int check_name(const char *value, bool nullable, const char *where, const char *key,
                      vmsnap_error *error)
{
        char path[128];

        if (value ? *value != '\0' : nullable)
                return 0;
        field_path(path, sizeof(path), where, key);
        return malformed(error, value ? "field %s must not be empty" : "field %s is missing or null", path);
}

static int check_text(const char *value, const char *where, const char *key, vmsnap_error *error)
{
        char path[128];

        if (value)
                return 0;
        field_path(path, sizeof(path), where, key);
        return malformed(error, "field %s is missing or null", path);
}

static int check_snapshot(const vmsnap_snapshot *snapshot, const char *where, vmsnap_error *error)
{
        int r = 0;

        if (r == 0)
                r = check_name(snapshot->id, false, where, "id", error);
        if (r == 0)
                r = check_name(snapshot->name, false, where, "name", error);
        if (r == 0)
                r = check_name(snapshot->parent_id, true, where, "parent", error);
        if (r == 0)
                r = check_name(snapshot->state, false, where, "state", error);
        if (r == 0)
                r = check_text(snapshot->config_xml, where, "config_xml", error);
        if (r == 0)
                r = check_name(snapshot->memory_file, true, where, "memory_file", error);
        if (r == 0)
                r = check_consistency(snapshot->consistency, where, error);
        for (size_t i = 0; r == 0 && i < snapshot->n_disks; i++) {
                const vmsnap_disk_entry *disk = &snapshot->disks[i];
                char disk_where[96];

                snprintf(disk_where, sizeof(disk_where), "%s.disks[%zu]", where, i);
                r = check_name(disk->target, false, disk_where, "target", error);
                if (r == 0)
                        r = check_name(disk->image, true, disk_where, "image", error);
                if (r == 0)
                        r = check_name(disk->format, true, disk_where, "format", error);
                if (r == 0)
                        r = check_name(disk->rbd_snapshot, true, disk_where, "rbd_snapshot", error);
                if (r < 0)
                        break;
                r = check_disk_kind(disk, disk_where, error);
                if (r < 0)
                        return r;
                for (size_t k = 0; k < i; k++)
                        if (strcmp(snapshot->disks[k].target, disk->target) == 0)
                                return malformed(error, "%s repeats disk %s", disk_where, disk->target);
        }
        return r;
}

static int check_preview(const vmsnap_preview *preview, vmsnap_error *error)
{
        int r = check_name(preview->config_snapshot_id, false, "preview", "config_snapshot", error);

        if (r == 0)
                r = check_text(preview->saved_xml, "preview", "saved_xml", error);
        if (r == 0)
                r = check_name(preview->saved_current_id, true, "preview", "saved_current", error);
        for (size_t i = 0; r == 0 && i < preview->n_disks; i++) {
                const vmsnap_preview_disk *disk = &preview->disks[i];
                char where[64];

                snprintf(where, sizeof(where), "preview.disks[%zu]", i);
                r = check_name(disk->target, false, where, "target", error);
                if (r == 0)
                        r = check_name(disk->overlay, true, where, "overlay", error);
                if (r == 0)
                        r = check_name(disk->saved_leaf, true, where, "saved_leaf", error);
                if (r == 0)
                        r = check_name(disk->saved_format, true, where, "saved_format", error);
                if (r == 0)
                        r = check_name(disk->rbd_saved, true, where, "rbd_saved", error);
                if (r == 0)
                        r = check_name(disk->rbd_overlay, true, where, "rbd_overlay", error);
                if (r == 0)
                        r = check_preview_disk_kind(disk, where, error);
                if (r == 0)
                        r = check_name(disk->snapshot_id, true, where, "snapshot", error);
                for (size_t k = 0; r == 0 && k < i; k++)
                        if (strcmp(preview->disks[k].target, disk->target) == 0)
                                return malformed(error, "%s repeats disk %s", where, disk->target);
        }
        return r;
}

static int store_check(const vmsnap_domain_meta *meta, vmsnap_error *error)
{
        int r = check_name(meta->uuid, false, "", "uuid", error);

        if (r == 0)
                r = check_text(meta->name, "", "name", error);
        if (r == 0)
                r = check_name(meta->current_id, true, "", "current", error);
        for (size_t i = 0; r == 0 && i < meta->n_snapshots; i++) {
                char where[48];

                snprintf(where, sizeof(where), "snapshots[%zu]", i);
                r = check_snapshot(meta->snapshots[i], where, error);
        }
        for (size_t i = 0; r == 0 && i < meta->n_owned; i++)
                if (!meta->owned[i] || meta->owned[i][0] != '/')
                        return malformed(error, "field owned[%zu] must be an absolute path", i);
        for (size_t i = 0; r == 0 && i < meta->n_forgotten; i++)
                if (!meta->forgotten[i] || meta->forgotten[i][0] != '/')
                        return malformed(error, "field forgotten[%zu] must be an absolute path", i);
        if (r == 0 && meta->preview)
                r = check_preview(meta->preview, error);
        if (r == 0 && meta->intent && !json_object_is_type(meta->intent, json_type_object))
                return malformed(error, "field intent must be an object, not %s",
                                 json_type_to_name(json_object_get_type(meta->intent)));
        if (r == 0)
                r = domain_meta_check_references(meta, error);
        return r;
}

/* ---- files ---- */

static int store_path(const char *state_dir, const char *uuid, char **ret, vmsnap_error *error)
{
        /* The uuid becomes a file name: nothing in it may lead out of the state directory. */
        if (!uuid || !*uuid || strchr(uuid, '/') || uuid[0] == '.')
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "\"%s\" is not a domain UUID usable as a metadata file name",
                                        uuid ? uuid : "(null)");
        if (!state_dir || !*state_dir)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no state directory was given for the metadata of domain %s", uuid);
        *ret = xasprintf("%s/%s.json", state_dir, uuid);
        return 0;
}

/* Parses all of data as one JSON value; trailing text other than white space is refused. */
static int json_parse_document(const char *data, size_t size, json_object **ret, vmsnap_error *error)
{
        _cleanup_(json_tokener_freep) json_tokener *tokener = NULL;

        if (size > INT_MAX)
                return malformed(error, "the document is too large (%zu bytes)", size);
        tokener = json_tokener_new();
        if (!tokener)
                oom();
        json_tokener_set_flags(tokener, JSON_TOKENER_STRICT);

        json_object *object = json_tokener_parse_ex(tokener, data, (int)size);
        enum json_tokener_error parse_error = json_tokener_get_error(tokener);
        if (parse_error == json_tokener_continue)
                return malformed(error, "the document ends in the middle of a JSON value (truncated?)");
        if (!object || parse_error != json_tokener_success) {
                json_object_put(object);
                return malformed(error, "the document is not valid JSON: %s at offset %zu",
                                 json_tokener_error_desc(parse_error), json_tokener_get_parse_end(tokener));
        }
        for (size_t offset = json_tokener_get_parse_end(tokener); offset < size; offset++)
                if (!strchr(" \t\r\n", data[offset]) || data[offset] == '\0') {
                        json_object_put(object);
                        return malformed(error, "the document has trailing data at offset %zu", offset);
                }
        *ret = object;
        return 0;
}

/* <uuid>.json becomes <uuid><suffix>. */
static int path_beside(const char *state_dir, const char *uuid, const char *suffix, char **ret,
                       vmsnap_error *error)
{
        int r = store_path(state_dir, uuid, ret, error);
        if (r < 0)
                return r;
        char *path = xasprintf("%.*s%s", (int)(strlen(*ret) - strlen(".json")), *ret, suffix);
        free(*ret);
        *ret = path;
        return 0;
}

/* Reads a file beside the document that may not be there: 1 and its text, 0 when it is
 * missing (nothing to read, no error), or a failure. */
static int read_if_present(const char *path, char **data, size_t *size, vmsnap_error *error)
{
        vmsnap_error read_error = {};
        int r = vmsnap_file_read_all(path, data, size, &read_error);

        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                if (error)
                        *error = read_error;
                return r;
        }
        return 1;
}

/* ---- the change log beside the document (store.h) ---- */

static int log_path(const char *state_dir, const char *uuid, char **ret, vmsnap_error *error)
{
        return path_beside(state_dir, uuid, ".changes.json", ret, error);
}

static uint32_t text_crc32(const char *text, size_t size)
{
        uLong crc = crc32(0L, Z_NULL, 0);
        while (size > 0) {
                uInt part = size > UINT_MAX ? UINT_MAX : (uInt)size;
                crc = crc32(crc, (const Bytef *)text, part);
                text += part;
                size -= part;
        }
        return (uint32_t)crc;
}

static int read_path_list(json_object *object, const char *where, const char *key, char ***paths, size_t *n,
                          vmsnap_error *error)
{
        json_object *array;
        int r = read_array(object, where, key, false, &array, error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < json_object_array_length(array); i++) {
                const char *path;
                r = read_absolute_path(array, key, i, &path, error);
                if (r < 0)
                        return r;
                *paths = xreallocarray(*paths, *n + 1, sizeof(**paths));
                (*paths)[(*n)++] = xstrdup(path);
        }
        return 0;
}

static void path_list_clear(char ***paths, size_t *n)
{
        for (size_t i = 0; i < *n; i++)
                free((*paths)[i]);
        free(*paths);
        *paths = NULL;
        *n = 0;
}

/* Applies one change (vmsnap_document_change_text's line) to meta. */
static int change_apply(json_object *change, const char *where, vmsnap_domain_meta *meta,
                        vmsnap_error *error)
{
        json_object *removed, *put, *value;
        _cleanup_free_ char *name = NULL, *current = NULL;
        char **paths = NULL;
        size_t n_paths = 0;
        int64_t number;
        int r;

        r = read_string(change, where, "name", false, &name, error);
        if (r >= 0)
                r = read_name(change, where, "current", true, &current, error);
        if (r >= 0)
                r = read_int64(change, where, "next_default_index", 0, UINT_MAX, &number, error);
        if (r >= 0)
                r = read_array(change, where, "removed", false, &removed, error);
        if (r >= 0)
                r = read_array(change, where, "put", false, &put, error);
        if (r < 0)
                return r;
        free(meta->name);
        meta->name = TAKE_PTR(name);
        free(meta->current_id);
        meta->current_id = TAKE_PTR(current);
        meta->next_default_index = (unsigned)number;

        for (size_t i = 0; i < json_object_array_length(removed); i++) {
                const char *id = json_object_get_string(json_object_array_get_idx(removed, i));
                if (!json_object_is_type(json_object_array_get_idx(removed, i), json_type_string) ||
                    !vmsnap_domain_meta_remove_snapshot(meta, id))
                        return malformed(error, "%s: removed[%zu] names no snapshot of the document", where,
                                         i);
        }
        for (size_t i = 0; i < json_object_array_length(put); i++) {
                vmsnap_snapshot *snapshot = NULL;
                char at[80];
                size_t j;

                snprintf(at, sizeof(at), "%s.put[%zu]", where, i);
                r = snapshot_from_json(json_object_array_get_idx(put, i), at, &snapshot, error);
                if (r < 0)
                        return r;
                for (j = 0; j < meta->n_snapshots; j++)
                        if (strcmp(meta->snapshots[j]->id, snapshot->id) == 0)
                                break;
                if (j < meta->n_snapshots) {
                        vmsnap_snapshot_free(meta->snapshots[j]);
                        meta->snapshots[j] = snapshot;
                } else
                        vmsnap_domain_meta_add_snapshot(meta, snapshot);
        }

        if (json_object_object_get_ex(change, "owned", NULL)) {
                r = read_path_list(change, where, "owned", &paths, &n_paths, error);
                if (r >= 0) {
                        path_list_clear(&meta->owned, &meta->n_owned);
                        for (size_t i = 0; i < n_paths; i++)
                                vmsnap_domain_meta_add_owned(meta, paths[i]);
                }
        } else {
                r = read_path_list(change, where, "owned_removed", &paths, &n_paths, error);
                for (size_t i = 0; r >= 0 && i < n_paths; i++)
                        vmsnap_domain_meta_remove_owned(meta, paths[i]);
                path_list_clear(&paths, &n_paths);
                if (r >= 0)
                        r = read_path_list(change, where, "owned_added", &paths, &n_paths, error);
                for (size_t i = 0; r >= 0 && i < n_paths; i++)
                        vmsnap_domain_meta_add_owned(meta, paths[i]);
        }
        path_list_clear(&paths, &n_paths);
        if (r < 0)
                return r;
        r = read_path_list(change, where, "forgotten", &paths, &n_paths, error);
        if (r >= 0) {
                path_list_clear(&meta->forgotten, &meta->n_forgotten);
                for (size_t i = 0; i < n_paths; i++)
                        vmsnap_domain_meta_add_forgotten(meta, paths[i]);
        }
        path_list_clear(&paths, &n_paths);
        if (r < 0)
                return r;
        vmsnap_preview_free(meta->preview);
        meta->preview = NULL;
        if (json_object_object_get_ex(change, "preview", &value) && value)
                return preview_from_json(value, &meta->preview, error);
        return 0;
}

/* Replays the change log onto meta, the document read from text at its generation: the
 * changes built on this very document (its generation and checksum) that follow one
 * another, each one generation on. A last line a crash cut short was never acknowledged
 * and is left out; a bad line before another is damage and refuses the metadata. Lines
 * of another base are left from before the document was last written whole. */
static int log_replay(const char *path, const char *text, size_t text_size, vmsnap_domain_meta *meta,
                      vmsnap_error *error)
{
        _cleanup_free_ char *data = NULL;
        uint64_t base = meta->generation;
        uint32_t crc = text_crc32(text, text_size);
        size_t size = 0, line = 0;
        int r;

        r = read_if_present(path, &data, &size, error);
        if (r <= 0)
                return r;
        for (char *at = data; at < data + size; line++) {
                char *end = memchr(at, '\n', (size_t)(data + size - at));
                _cleanup_json_ json_object *change = NULL;
                int64_t change_base, change_generation, change_crc;
                char where[48];

                snprintf(where, sizeof(where), "change %zu", line + 1);
                if (!end)
                        break; /* cut short by a crash: never acknowledged */
                r = json_parse_document(at, (size_t)(end - at), &change, error);
                if (r >= 0)
                        r = require_object(change, where, error);
                if (r < 0) {
                        if (end + 1 == data + size)
                                break; /* the last line, cut short in a way that kept its newline */
                        return vmsnap_error_prefix(error, "refusing change log %s", path);
                }
                at = end + 1;
                r = read_int64(change, where, "base", 0, INT64_MAX, &change_base, error);
                if (r >= 0)
                        r = read_int64(change, where, "base_crc32", 0, UINT32_MAX, &change_crc, error);
                if (r >= 0)
                        r = read_int64(change, where, "generation", 1, INT64_MAX, &change_generation, error);
                if (r < 0)
                        return vmsnap_error_prefix(error, "refusing change log %s", path);
                if ((uint64_t)change_base != base || (uint32_t)change_crc != crc ||
                    (uint64_t)change_generation <= meta->generation)
                        continue;
                if ((uint64_t)change_generation != meta->generation + 1)
                        return malformed(error,
                                         "refusing change log %s: %s is generation %" PRId64
                                         " but the metadata is at %" PRIu64,
                                         path, where, change_generation, meta->generation);
                r = change_apply(change, where, meta, error);
                if (r < 0)
                        return vmsnap_error_prefix(error, "refusing change log %s", path);
                meta->generation = (uint64_t)change_generation;
        }
        return 0;
}

/* ---- the intent journal beside the document (store.h) ---- */

static int journal_path(const char *state_dir, const char *uuid, char **ret, vmsnap_error *error)
{
        return path_beside(state_dir, uuid, ".journal.json", ret, error);
}

typedef struct journal_record {
        json_object *document; /* owns the rest */
        uint64_t generation;
        json_object *intent;   /* NULL: none */
        json_object *previous; /* NULL: none, or the document's own */
        bool has_previous;
} journal_record;

static void journal_record_clear(journal_record *record)
{
        json_object_put(record->document);
        *record = (journal_record){0};
}

/* An intent field: an object, or null or missing for none. */
static int read_intent(json_object *object, const char *key, json_object **ret, bool *present,
                       vmsnap_error *error)
{
        json_object *value = NULL;

        *ret = NULL;
        *present = json_object_object_get_ex(object, key, &value);
        if (!value)
                return 0;
        if (!json_object_is_type(value, json_type_object))
                return malformed(error, "field %s must be an object or null, not %s", key,
                                 json_type_to_name(json_object_get_type(value)));
        *ret = value;
        return 0;
}

/* Reads the journal at path; record->document NULL when there is none. */
static int journal_read(const char *path, journal_record *record, vmsnap_error *error)
{
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        int64_t generation;
        bool present;
        int r;

        *record = (journal_record){0};
        r = read_if_present(path, &data, &size, error);
        if (r <= 0)
                return r;
        r = json_parse_document(data, size, &record->document, error);
        if (r >= 0)
                r = require_object(record->document, "the journal", error);
        if (r >= 0)
                r = read_int64(record->document, "", "generation", 0, INT64_MAX, &generation, error);
        if (r >= 0)
                r = read_intent(record->document, "intent", &record->intent, &present, error);
        if (r >= 0)
                r = read_intent(record->document, "previous", &record->previous, &record->has_previous,
                                error);
        if (r < 0) {
                journal_record_clear(record);
                return vmsnap_error_prefix(error, "refusing journal file %s", path);
        }
        record->generation = (uint64_t)generation;
        return 0;
}

/* The intent in force for a document at generation, as the journal tells it: its own when
 * it goes with that generation; the one before when it was written for the next
 * generation, whose document never came (*intent NULL then: the document's own); and
 * nothing (*applies false) when it is left from an older generation. */
static void journal_intent_at(const journal_record *record, uint64_t generation, json_object **intent,
                              bool *applies)
{
        *intent = NULL;
        *applies = false;
        if (!record->document)
                return;
        if (record->generation == generation) {
                *intent = record->intent;
                *applies = true;
        } else if (record->generation == generation + 1 && record->has_previous && record->previous) {
                *intent = record->previous;
                *applies = true;
        }
}

static int journal_write(const char *path, uint64_t generation, json_object *intent, bool with_previous,
                         json_object *previous, vmsnap_error *error)
{
        _cleanup_json_ json_object *document = json_object_new_object();
        size_t size = 0;

        json_add(document, "generation", json_object_new_int64((int64_t)generation));
        json_add(document, "intent", intent ? json_object_get(intent) : NULL);
        if (with_previous)
                json_add(document, "previous", previous ? json_object_get(previous) : NULL);
        const char *text = json_object_to_json_string_length(
                document, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE,
                &size);
        if (!text)
                oom();
        return vmsnap_file_write_atomic(path, text, size, error);
}

int vmsnap_store_load(const char *state_dir, const char *uuid, vmsnap_domain_meta **ret, vmsnap_error *error)
{
        _cleanup_free_ char *path = NULL, *data = NULL, *journal = NULL, *changes = NULL;
        _cleanup_json_ json_object *document = NULL;
        _cleanup_domain_meta_ vmsnap_domain_meta *meta = NULL;
        _cleanup_(journal_record_clear) journal_record record = {0};
        vmsnap_error read_error = {};
        json_object *intent;
        bool applies;
        int64_t generation = 0;
        size_t size = 0;
        int r;

        r = store_path(state_dir, uuid, &path, error);
        if (r < 0)
                return r;

        r = vmsnap_file_read_all(path, &data, &size, &read_error);
        if (r == -ENOENT)
                return r; /* no metadata yet: not an error for the caller to report */
        if (r < 0) {
                if (error)
                        *error = read_error;
                return r;
        }

        r = json_parse_document(data, size, &document, error);
        if (r >= 0)
                r = vmsnap_store_from_json(document, &meta, error);
        if (r >= 0 && strcmp(meta->uuid, uuid) != 0)
                r = malformed(error, "the document describes domain %s, not %s", meta->uuid, uuid);
        /* A document written before generations were counted is at generation 0. */
        if (r >= 0 && json_object_object_get_ex(document, "generation", NULL))
                r = read_int64(document, "", "generation", 0, INT64_MAX, &generation, error);
        if (r < 0) {
                vmsnap_error_prefix(error, "refusing metadata file %s", path);
                return r;
        }
        meta->generation = (uint64_t)generation;
        r = log_path(state_dir, uuid, &changes, error);
        if (r >= 0)
                r = log_replay(changes, data, size, meta, error);
        if (r >= 0)
                r = domain_meta_check_references(meta, error);
        if (r < 0)
                return r;

        r = journal_path(state_dir, uuid, &journal, error);
        if (r >= 0)
                r = journal_read(journal, &record, error);
        if (r < 0)
                return r;
        journal_intent_at(&record, meta->generation, &intent, &applies);
        if (applies && intent != meta->intent) {
                json_object_put(meta->intent);
                meta->intent = intent ? json_object_get(intent) : NULL;
        }

        *ret = meta;
        meta = NULL;
        return 0;
}

/* The change from meta->generation to the next as one line of the change log, when what
 * the store wrote last is still what its files hold and the log is smaller than the
 * document it builds on: NULL when the whole document is to be written instead. */
static char *change_text(const char *path, const vmsnap_domain_meta *meta, vmsnap_document_written *written,
                         size_t *size)
{
        struct stat st;

        if (!vmsnap_document_written_get(meta->uuid, written) || written->generation != meta->generation ||
            written->log_size >=
                    (written->document_size > LOG_LEAST_BYTES ? written->document_size : LOG_LEAST_BYTES))
                return NULL;
        if (stat(path, &st) < 0 || (uint64_t)st.st_ino != written->document_inode ||
            (uint64_t)st.st_dev != written->document_device ||
            (uint64_t)st.st_size != written->document_size)
                return NULL;
        return vmsnap_document_change_text(meta, meta->generation, meta->generation + 1, size);
}

/* Writes the change as the log's next line (its first: the log is made new). -ESTALE: the
 * log is not what the store wrote last. */
static int log_write(const char *changes, const char *text, size_t size,
                     const vmsnap_document_written *written, vmsnap_error *error)
{
        if (written->log_size == 0)
                return vmsnap_file_write_atomic(changes, text, size, error);
        return vmsnap_file_append_at(changes, text, size, written->log_size, error);
}

int vmsnap_store_save(const char *state_dir, vmsnap_domain_meta *meta, vmsnap_error *error)
{
        _cleanup_free_ char *path = NULL, *journal = NULL, *changes = NULL, *text = NULL;
        uint64_t generation = meta->generation + 1;
        vmsnap_document_written written = {0};
        bool journal_written = false;
        size_t size = 0;
        struct stat st;
        int r;

        r = store_path(state_dir, meta->uuid, &path, error);
        if (r >= 0)
                r = journal_path(state_dir, meta->uuid, &journal, error);
        if (r >= 0)
                r = log_path(state_dir, meta->uuid, &changes, error);
        if (r < 0)
                return r;

        /* Never write a document that load would refuse: a bug here must not cost the user their tree. */
        r = store_check(meta, error);
        if (r < 0) {
                vmsnap_error_prefix(error, "refusing to save inconsistent metadata of domain %s",
                                    meta->uuid);
                return r;
        }
        text = change_text(path, meta, &written, &size);
        bool whole = !text;

        /* The journal first, for the coming generation and with the intent in force now: a
         * crash before the document is written leaves that intent in force, so the model and
         * its intent change together, as in one write. Without an intent before or after,
         * the document alone changes. */
        if (meta->intent || vmsnap_file_exists(journal)) {
                _cleanup_(journal_record_clear) journal_record record = {0};
                json_object *previous = NULL;
                bool applies;

                r = journal_read(journal, &record, error);
                if (r < 0)
                        return r;
                journal_intent_at(&record, meta->generation, &previous, &applies);
                r = journal_write(journal, generation, meta->intent, true, previous, error);
                if (r < 0)
                        return r;
                journal_written = true;
#ifdef VMSNAP_FAILPOINTS
                /* Tests: a crash between the two writes, as a kill there leaves it. */
                if (vmsnap_failpoint_fires("store: between journal and document")) {
                        vmsnap_failpoint_die();
                        return vmsnap_failpoint_dead_error(error);
                }
#endif
        }
        if (!whole) {
                r = log_write(changes, text, size, &written, error);
                if (r == -ESTALE) {
                        /* Someone else wrote it: the whole document, which says everything. */
                        vmsnap_error_clear(error);
                        free(TAKE_PTR(text));
                        whole = true;
                } else if (r < 0)
                        return r;
                else
                        written.log_size += size;
        }
        if (whole) {
                text = vmsnap_document_text(meta, generation, &size);
                r = vmsnap_file_write_atomic(path, text, size, error);
                if (r < 0)
                        return r;
                /* Its lines build on an older document now and say nothing (log_replay); should
                 * the removal be lost they still say nothing. */
                (void)vmsnap_file_remove(changes, NULL);
                written = (vmsnap_document_written){
                        .base = generation, .base_crc32 = text_crc32(text, size), .document_size = size};
                if (stat(path, &st) == 0) {
                        written.document_inode = (uint64_t)st.st_ino;
                        written.document_device = (uint64_t)st.st_dev;
                        written.valid = (uint64_t)st.st_size == size;
                }
        }
        written.generation = generation;
        vmsnap_document_written_set(meta->uuid, &written);
        meta->generation = generation;
        /* A journal of this generation without an intent says nothing: it goes, and should
         * its removal be lost it still says nothing. */
        if (journal_written && !meta->intent)
                (void)vmsnap_file_remove(journal, NULL);
        return 0;
}

int vmsnap_store_save_intent(const char *state_dir, const vmsnap_domain_meta *meta, vmsnap_error *error)
{
        _cleanup_free_ char *journal = NULL;
        int r;

        r = journal_path(state_dir, meta->uuid, &journal, error);
        if (r < 0)
                return r;
        if (meta->intent)
                return journal_write(journal, meta->generation, meta->intent, false, NULL, error);
        if (!vmsnap_file_exists(journal))
                return 0;
        /* Written without an intent before it goes: a removal a crash may lose would
         * otherwise bring the intent back. */
        r = journal_write(journal, meta->generation, NULL, false, NULL, error);
        if (r < 0)
                return r;
        (void)vmsnap_file_remove(journal, NULL);
        return 0;
}

int vmsnap_store_remove(const char *state_dir, const char *uuid, vmsnap_error *error)
{
        _cleanup_free_ char *path = NULL;
        int r;

        vmsnap_document_forget(uuid);
        r = store_path(state_dir, uuid, &path, error);
        if (r < 0)
                return r;
        r = vmsnap_file_remove(path, error);
        if (r < 0)
                return r;
        /* Lines that build on no document say nothing; it goes after it. */
        free(path);
        path = NULL;
        r = log_path(state_dir, uuid, &path, error);
        if (r < 0)
                return r;
        r = vmsnap_file_remove(path, error);
        if (r < 0)
                return r;
        /* After the document: a journal left without one is overwritten by the next
         * document's first write, and never read before it (store.h). */
        free(path);
        path = NULL;
        r = journal_path(state_dir, uuid, &path, error);
        if (r < 0)
                return r;
        return vmsnap_file_remove(path, error);
}

int vmsnap_store_list(const char *state_dir, char ***ret, size_t *n_ret, vmsnap_error *error)
{
        DIR *dir = opendir(state_dir);
        struct dirent *entry;
        char **uuids = NULL;
        size_t n = 0;

        *ret = NULL;
        *n_ret = 0;
        if (!dir) {
                if (errno == ENOENT)
                        return 0;
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED,
                                        "cannot read the state directory %s: %m", state_dir);
        }
        while ((entry = readdir(dir))) {
                char uuid[37];

                if (strlen(entry->d_name) != 36 + 5 || strcmp(entry->d_name + 36, ".json") != 0)
                        continue;
                snprintf(uuid, sizeof(uuid), "%.36s", entry->d_name);
                if (!vmsnap_uuid_is_valid(uuid))
                        continue;
                uuids = xreallocarray(uuids, n + 1, sizeof(char *));
                uuids[n++] = xstrdup(uuid);
        }
        closedir(dir);
        *ret = uuids;
        *n_ret = n;
        return 0;
}

const char *vmsnap_json_string(json_object *object, const char *key)
{
        json_object *value;

        if (!object || !json_object_object_get_ex(object, key, &value) ||
            !json_object_is_type(value, json_type_string))
                return NULL;
        return json_object_get_string(value);
}

static json_object *member_of_type(json_object *object, const char *key, json_type type)
{
        json_object *value;

        if (!object || !json_object_object_get_ex(object, key, &value) || !json_object_is_type(value, type))
                return NULL;
        return value;
}

json_object *vmsnap_json_array(json_object *object, const char *key)
{
        return member_of_type(object, key, json_type_array);
}

json_object *vmsnap_json_object(json_object *object, const char *key)
{
        return member_of_type(object, key, json_type_object);
}
