/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* guard.h: the safety rules that look beyond the domain (DESIGN.md's safety rules).
 * Rule 2: nothing another VM uses is touched, and neither is anything an image a
 * metadata-only delete left to the administrator reads. Rule 4: vmsnap does not mix with
 * libvirt-managed snapshots: a domain with libvirt snapshot metadata, or with qcow2
 * internal snapshots in any image it reads, is refused by every changing operation. */
#pragma once

#include "op.h"

/* Safety rule 4. */
int vmsnap_guard_no_foreign_snapshots(vmsnap_op *op);

/* Safety rule 2: true if another defined domain's chain contains path. The chains are read
 * once per operation, at the first question. */
int vmsnap_op_used_elsewhere(vmsnap_op *op, const char *path, bool *ret);

/* The image a metadata-only delete left to the administrator (op->meta->forgotten) whose
 * chain contains path, path itself included, or NULL: vmsnap writes into or removes no such
 * file, so that the image stays as it was and reads what it read. The chains are read once
 * per operation, at the first question; one that cannot be read protects what it reaches. */
const char *vmsnap_op_forgotten_reader(vmsnap_op *op, const char *path);

/* What these questions loaded into op is freed by vmsnap_op_guard_clear (op.h). */
