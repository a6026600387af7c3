/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepared.h: removing a file an operation's prepare phase recorded (journal.h) before
 * creating it, for the rollback of that operation and for a purge of its domain. */
#pragma once

#include "op.h"

/* Removes one file a prepare phase recorded ({"path", "backing"} or {"path", "memory":
 * true}) if it is what vmsnap was creating there; anything else at that path is left
 * alone and named in a message, and so is a file the running domain reads. */
void vmsnap_prepared_file_remove(vmsnap_op *op, json_object *file);
