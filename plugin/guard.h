/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* guard.h: the safety rules that look beyond the domain (DESIGN.md's safety rules).
 * Rule 2: nothing another VM uses is touched, and neither is anything an image a
 * metadata-only delete left to the administrator reads. Rule 4: vmsnap does not mix with
 * libvirt-managed snapshots: a domain with libvirt snapshot metadata, or with qcow2
 * internal snapshots in an image the operation writes into or removes, is refused by
 * every changing operation. */
#pragma once

#include "op.h"

/* Safety rule 4: no libvirt snapshot metadata, and no qcow2 internal snapshot in any active
 * image of the domain, or, with whole_chains, in any image of its active chains (for the
 * operations that remove them all). The images below the active ones are frozen: a change
 * that writes into or removes one of them checks it where it plans to (delete.c reads the
 * header of every file a merge could touch, gc.c keeps an image that holds any), so that a
 * change on a chain 1,000 deep does not read 1,000 headers to learn nothing. */
int vmsnap_guard_no_foreign_snapshots(vmsnap_op *op, bool whole_chains);

/* Rule 4's refusal of image path (disk target of the domain, or NULL when the image is no
 * disk's active one), which holds count qcow2 internal snapshots: sets op->error, returns
 * its code. */
int vmsnap_guard_internal_snapshots_error(vmsnap_op *op, const char *path, const char *target,
                                          uint32_t count);

/* Safety rule 2: true if another defined domain's chain contains path. The chains are read
 * once per operation, at the first question. */
int vmsnap_op_used_elsewhere(vmsnap_op *op, const char *path, bool *ret);
/* The same for RBD: true if another defined domain has an RBD disk that reads name
 * ("pool[/namespace]/image", or one of its snapshots "…@snapshot"), or, for an image
 * name, any snapshot of it. */
int vmsnap_op_rbd_used_elsewhere(vmsnap_op *op, const char *name, bool *ret);

/* The image a metadata-only delete left to the administrator (op->meta->forgotten) whose
 * chain contains path, path itself included, or NULL: vmsnap writes into or removes no such
 * file, so that the image stays as it was and reads what it read. The chains are read once
 * per operation, at the first question; one that cannot be read protects what it reaches. */
const char *vmsnap_op_forgotten_reader(vmsnap_op *op, const char *path);

/* What these questions loaded into op is freed by vmsnap_op_guard_clear (op.h). */
