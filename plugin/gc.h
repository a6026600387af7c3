/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gc.h: removal of image files vmsnap created that nothing reads any more.
 * The one place that deletes images: a file is removed only if vmsnap owns it,
 * no snapshot, active disk, preview or forgotten image reaches it through a
 * backing chain, and no other domain's chain contains it (safety rules 1 and 2). */
#pragma once

#include "op.h"

/* Removes unreachable owned files and takes them from op->meta->owned, and drops the
 * records of forgotten images whose file is gone; *changed: whether it did, and the caller
 * must then save the metadata. */
int vmsnap_gc_run(vmsnap_op *op, bool *changed);

/* Whether anything of op's domain other than path itself reads path: an active disk, a
 * snapshot, the preview or another forgotten image, through its chain. A chain that cannot
 * be read counts as reading it. */
int vmsnap_gc_still_read(vmsnap_op *op, const char *path, bool *ret);
