/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tree.h: a domain's snapshots drawn as a tree, as the demo draws it: one line per
 * snapshot under its parent, with its time, disks, size and marks (current,
 * preview, locked, partial, memory). */
#pragma once

#include <json-c/json.h>

/* Draws the records of ListSnapshots (every parent before its children). */
void tree_print(json_object *snapshots);
