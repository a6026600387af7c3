/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* eligibility.h: which disks of a domain vmsnap can snapshot. The one rule that
 * creating a snapshot applies, that a preview keeps to and that the read side
 * reports; how each operation treats an ineligible disk is its own. */
#pragma once

#include "domxml.h"

/* Why a disk cannot be snapshotted ("cdrom", "read-only", ...), or NULL when it can. */
const char *vmsnap_disk_ineligible_reason(const vmsnap_xml_disk *disk);
