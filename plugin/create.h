/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* create.h: the checks that creating a snapshot shares with other operations:
 * what names and descriptions are valid (which disks can be snapshotted is
 * eligibility.h's). */
#pragma once

#include "op.h"

int vmsnap_description_validate(const char *description, vmsnap_error *error);
/* Valid and not used by another snapshot of the domain than except. */
int vmsnap_snapshot_name_check_free(vmsnap_op *op, const char *name, const vmsnap_snapshot *except);
