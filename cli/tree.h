/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tree.h: a domain's snapshots drawn as a tree, as the demo draws it: one line per
 * snapshot under its parent, with its time, disks, size and marks (current,
 * preview, locked, partial, memory). */
#pragma once

#include <systemd/sd-bus.h>

/* Draws the records of a ListSnapshots reply (every parent before its children), read
 * from its current position. Returns 0, or a negative errno when the reply is not
 * the aa{sv} of ListSnapshots. */
int tree_print(sd_bus_message *reply);
