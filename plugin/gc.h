/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gc.h: removal of image files vmsnap created that nothing reads any more.
 * The one place that deletes images: a file is removed only if vmsnap owns it,
 * no snapshot, active disk or preview reaches it through a backing chain, and
 * no other domain's chain contains it (safety rules 1 and 2). */
#pragma once

#include "op.h"

/* Removes unreachable owned files and takes them from op->meta->owned; *changed: whether
 * it did, and the caller must then save the metadata. */
int vmsnap_gc_run(vmsnap_op *op, bool *changed);
