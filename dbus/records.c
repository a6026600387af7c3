/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* records.c: serializing domain, snapshot and image records into a{sv}. The
 * keys and their types are part of the bus contract; adding one is allowed,
 * renaming or retyping one is not.
 *
 * A list of 1,000 snapshots is 13,000 dictionary entries, built on the loop
 * thread: entries are appended with sd_bus_message_append_basic() and explicit
 * containers, which costs about two thirds of what the format-string parser of
 * sd_bus_message_append() does for the same message. */
#include "records.h"

/* One {sv} entry whose variant holds a basic value; type is its D-Bus type code. */
static int append_entry(sd_bus_message *m, const char *key, char type, const void *value)
{
        const char signature[2] = {type, 0};
        int r;

        r = sd_bus_message_open_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
        if (r >= 0)
                r = sd_bus_message_append_basic(m, SD_BUS_TYPE_STRING, key);
        if (r >= 0)
                r = sd_bus_message_open_container(m, SD_BUS_TYPE_VARIANT, signature);
        if (r >= 0)
                r = sd_bus_message_append_basic(m, type, value);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

/* Each helper does nothing once an earlier append failed, so a record is a plain
 * sequence of calls with one check at the end. */
static void append_string(sd_bus_message *m, int *r, const char *key, const char *value)
{
        if (*r >= 0)
                *r = append_entry(m, key, SD_BUS_TYPE_STRING, value ? value : "");
}

static void append_bool(sd_bus_message *m, int *r, const char *key, bool value)
{
        int b = value;
        if (*r >= 0)
                *r = append_entry(m, key, SD_BUS_TYPE_BOOLEAN, &b);
}

static void append_uint32(sd_bus_message *m, int *r, const char *key, uint32_t value)
{
        if (*r >= 0)
                *r = append_entry(m, key, SD_BUS_TYPE_UINT32, &value);
}

static void append_uint64(sd_bus_message *m, int *r, const char *key, uint64_t value)
{
        if (*r >= 0)
                *r = append_entry(m, key, SD_BUS_TYPE_UINT64, &value);
}

static void append_int64(sd_bus_message *m, int *r, const char *key, int64_t value)
{
        if (*r >= 0)
                *r = append_entry(m, key, SD_BUS_TYPE_INT64, &value);
}

static void open_container(sd_bus_message *m, int *r, char type, const char *contents)
{
        if (*r >= 0)
                *r = sd_bus_message_open_container(m, type, contents);
}

static void close_container(sd_bus_message *m, int *r)
{
        if (*r >= 0)
                *r = sd_bus_message_close_container(m);
}

/* "key": variant of signature, opened for the caller to fill and close with end_entry(). */
static void begin_entry(sd_bus_message *m, int *r, const char *key, const char *signature)
{
        open_container(m, r, SD_BUS_TYPE_DICT_ENTRY, "sv");
        if (*r >= 0)
                *r = sd_bus_message_append_basic(m, SD_BUS_TYPE_STRING, key);
        open_container(m, r, SD_BUS_TYPE_VARIANT, signature);
}

static void end_entry(sd_bus_message *m, int *r)
{
        close_container(m, r); /* variant */
        close_container(m, r); /* dict entry */
}

int bus_append_domain_record(sd_bus_message *reply, const vmsnap_domain_info *info)
{
        int r = 0;

        open_container(reply, &r, SD_BUS_TYPE_ARRAY, "{sv}");
        append_string(reply, &r, "name", info->name);
        append_string(reply, &r, "uuid", info->uuid);
        append_string(reply, &r, "state", info->state);
        append_string(reply, &r, "current_snapshot", info->current_snapshot);
        append_bool(reply, &r, "in_preview", info->in_preview);
        append_uint32(reply, &r, "snapshot_count", (uint32_t)info->snapshot_count);
        append_bool(reply, &r, "defined", info->defined);
        append_uint64(reply, &r, "snapshot_bytes", info->snapshot_bytes);
        close_container(reply, &r);
        return r;
}

int bus_append_snapshot_record(sd_bus_message *reply, const vmsnap_snapshot_info *info)
{
        int r = 0;

        open_container(reply, &r, SD_BUS_TYPE_ARRAY, "{sv}");
        append_string(reply, &r, "id", info->id);
        append_string(reply, &r, "name", info->name);
        append_string(reply, &r, "description", info->description);
        append_int64(reply, &r, "created", info->created);
        append_string(reply, &r, "parent", info->parent_id);
        append_string(reply, &r, "state", info->state);

        /* disks: the targets with an image; excluded: (target, reason) of the others */
        begin_entry(reply, &r, "disks", "as");
        open_container(reply, &r, SD_BUS_TYPE_ARRAY, "s");
        for (size_t i = 0; r >= 0 && i < info->n_disks; i++)
                if (info->disks[i].image)
                        r = sd_bus_message_append_basic(reply, SD_BUS_TYPE_STRING, info->disks[i].target);
        close_container(reply, &r);
        end_entry(reply, &r);
        begin_entry(reply, &r, "excluded", "a(ss)");
        open_container(reply, &r, SD_BUS_TYPE_ARRAY, "(ss)");
        for (size_t i = 0; r >= 0 && i < info->n_disks; i++)
                if (!info->disks[i].image)
                        r = sd_bus_message_append(
                                reply, "(ss)", info->disks[i].target,
                                info->disks[i].excluded_reason ? info->disks[i].excluded_reason : "");
        close_container(reply, &r);
        end_entry(reply, &r);

        append_string(reply, &r, "consistency", info->consistency);
        append_bool(reply, &r, "memory", info->memory);
        append_bool(reply, &r, "current", info->current);
        append_bool(reply, &r, "partial", info->partial);
        append_bool(reply, &r, "locked", info->locked);
        append_bool(reply, &r, "in_preview", info->in_preview);
        append_uint32(reply, &r, "children", (uint32_t)info->n_children);
        append_uint64(reply, &r, "size", info->size);
        append_uint64(reply, &r, "reclaimable", info->reclaimable);
        close_container(reply, &r);
        return r;
}

static void append_image_keys(sd_bus_message *reply, int *r, const vmsnap_image_info *info)
{
        append_string(reply, r, "target", info->target);
        append_string(reply, r, "image", info->image);
        append_string(reply, r, "format", info->format);
        append_uint64(reply, r, "virtual_size", info->virtual_size);
        append_uint64(reply, r, "allocated", info->allocated);
}

int bus_append_image_record(sd_bus_message *reply, const vmsnap_image_info *info)
{
        int r = 0;

        open_container(reply, &r, SD_BUS_TYPE_ARRAY, "{sv}");
        append_image_keys(reply, &r, info);
        close_container(reply, &r);
        return r;
}

int bus_append_current_disk_record(sd_bus_message *reply, const vmsnap_image_info *info)
{
        int r = 0;

        open_container(reply, &r, SD_BUS_TYPE_ARRAY, "{sv}");
        append_image_keys(reply, &r, info);
        append_bool(reply, &r, "eligible", !info->ineligible_reason);
        append_string(reply, &r, "reason", info->ineligible_reason);
        close_container(reply, &r);
        return r;
}

int bus_append_history_record(sd_bus_message *reply, const vmsnap_history_entry *entry)
{
        int r = 0;

        open_container(reply, &r, SD_BUS_TYPE_ARRAY, "{sv}");
        append_uint64(reply, &r, "time", entry->time_usec);
        append_string(reply, &r, "operation", entry->operation);
        append_string(reply, &r, "snapshot", entry->snapshot);
        append_uint32(reply, &r, "uid", entry->uid);
        append_string(reply, &r, "result", entry->result);
        append_string(reply, &r, "error", entry->error);
        append_string(reply, &r, "error_name", entry->error_name);
        begin_entry(reply, &r, "messages", "as");
        open_container(reply, &r, SD_BUS_TYPE_ARRAY, "s");
        for (char **m = entry->messages; r >= 0 && m && *m; m++)
                r = sd_bus_message_append_basic(reply, SD_BUS_TYPE_STRING, *m);
        close_container(reply, &r);
        end_entry(reply, &r);
        close_container(reply, &r);
        return r;
}
