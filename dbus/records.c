/* records.c: serializing domain, snapshot and image records into a{sv}. The
 * keys and their types are part of the bus contract; adding one is allowed,
 * renaming or retyping one is not. */
#include "records.h"

static int append_string(sd_bus_message *reply, const char *key, const char *value)
{
        return sd_bus_message_append(reply, "{sv}", key, "s", value ? value : "");
}

static int append_bool(sd_bus_message *reply, const char *key, bool value)
{
        return sd_bus_message_append(reply, "{sv}", key, "b", (int)value);
}

int bus_append_domain_record(sd_bus_message *reply, const vmsnap_domain_info *info)
{
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        if ((r = append_string(reply, "name", info->name)) < 0 ||
            (r = append_string(reply, "uuid", info->uuid)) < 0 ||
            (r = append_string(reply, "state", info->state)) < 0 ||
            (r = append_string(reply, "current_snapshot", info->current_snapshot)) < 0 ||
            (r = append_bool(reply, "in_preview", info->in_preview)) < 0 ||
            (r = sd_bus_message_append(reply, "{sv}", "snapshot_count", "u",
                                       (uint32_t)info->snapshot_count)) < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

static int append_disks(sd_bus_message *reply, const vmsnap_snapshot_info *info)
{
        int r;

        r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", "disks");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'v', "as");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "s");
        for (size_t i = 0; r >= 0 && i < info->n_disks; i++)
                if (info->disks[i].image)
                        r = sd_bus_message_append(reply, "s", info->disks[i].target);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

static int append_excluded(sd_bus_message *reply, const vmsnap_snapshot_info *info)
{
        int r;

        r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", "excluded");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'v', "a(ss)");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ss)");
        for (size_t i = 0; r >= 0 && i < info->n_disks; i++)
                if (!info->disks[i].image)
                        r = sd_bus_message_append(
                                reply, "(ss)", info->disks[i].target,
                                info->disks[i].excluded_reason ? info->disks[i].excluded_reason : "");
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

int bus_append_snapshot_record(sd_bus_message *reply, const vmsnap_snapshot_info *info)
{
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        if ((r = append_string(reply, "id", info->id)) < 0 ||
            (r = append_string(reply, "name", info->name)) < 0 ||
            (r = append_string(reply, "description", info->description)) < 0 ||
            (r = sd_bus_message_append(reply, "{sv}", "created", "x", info->created)) < 0 ||
            (r = append_string(reply, "parent", info->parent_id)) < 0 ||
            (r = append_string(reply, "state", info->state)) < 0 || (r = append_disks(reply, info)) < 0 ||
            (r = append_excluded(reply, info)) < 0 || (r = append_bool(reply, "memory", info->memory)) < 0 ||
            (r = append_bool(reply, "current", info->current)) < 0 ||
            (r = append_bool(reply, "partial", info->partial)) < 0 ||
            (r = append_bool(reply, "locked", info->locked)) < 0 ||
            (r = append_bool(reply, "in_preview", info->in_preview)) < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

static int append_image_keys(sd_bus_message *reply, const vmsnap_image_info *info)
{
        int r;

        if ((r = append_string(reply, "target", info->target)) < 0 ||
            (r = append_string(reply, "image", info->image)) < 0 ||
            (r = append_string(reply, "format", info->format)) < 0 ||
            (r = sd_bus_message_append(reply, "{sv}", "virtual_size", "t", info->virtual_size)) < 0 ||
            (r = sd_bus_message_append(reply, "{sv}", "allocated", "t", info->allocated)) < 0)
                return r;
        return 0;
}

int bus_append_image_record(sd_bus_message *reply, const vmsnap_image_info *info)
{
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        if ((r = append_image_keys(reply, info)) < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

int bus_append_current_disk_record(sd_bus_message *reply, const vmsnap_image_info *info)
{
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        if ((r = append_image_keys(reply, info)) < 0 ||
            (r = append_bool(reply, "eligible", !info->ineligible_reason)) < 0 ||
            (r = append_string(reply, "reason", info->ineligible_reason)) < 0)
                return r;
        return sd_bus_message_close_container(reply);
}
