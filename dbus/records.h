/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* records.h: the engine's records as the a{sv} dictionaries of the bus API,
 * with exactly the keys DESIGN.md lists ("The bus API"). */
#pragma once

#include <systemd/sd-bus.h>

#include "vmsnap/vmsnap.h"

/* name, uuid, state, current_snapshot, in_preview, snapshot_count (u) */
int bus_append_domain_record(sd_bus_message *reply, const vmsnap_domain_info *info);
/* id, name, description, created (x, unix seconds), parent ("" for a root), state,
 * disks (as), excluded (a(ss)), memory, current, partial, locked */
int bus_append_snapshot_record(sd_bus_message *reply, const vmsnap_snapshot_info *info);
/* target, image, format, virtual_size (t), allocated (t): a disk at a snapshot */
int bus_append_image_record(sd_bus_message *reply, const vmsnap_image_info *info);
/* The same keys and eligible (b), reason (s, "" when eligible): a disk of the domain now */
int bus_append_current_disk_record(sd_bus_message *reply, const vmsnap_image_info *info);
/* time (t, µs since the epoch), operation, snapshot, uid (u), result, error, error_name,
 * messages (as): one entry of GetHistory */
int bus_append_history_record(sd_bus_message *reply, const vmsnap_history_entry *entry);
