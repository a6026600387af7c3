/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* guard.h: safety rule 4: vmsnap does not mix with libvirt-managed snapshots.
 * A domain with libvirt snapshot metadata, or with qcow2 internal snapshots in
 * any image it reads, is refused by every changing operation. */
#pragma once

#include "engine.h"

int vmsnap_guard_no_foreign_snapshots(vmsnap_op *op);
