/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* create.h: the checks that creating a snapshot shares with other operations:
 * which disks can be snapshotted, and what names and descriptions are valid. */
#pragma once

#include "op.h"

/* Why a disk cannot be snapshotted ("cdrom", "read-only", ...), or NULL when it can. */
const char *vmsnap_disk_ineligible_reason(const vmsnap_xml_disk *disk);
int vmsnap_description_validate(const char *description, vmsnap_error *error);
/* Valid and not used by another snapshot of the domain than except. */
int vmsnap_snapshot_name_check_free(vmsnap_op *op, const char *name, const vmsnap_snapshot *except);
