/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* eligibility.c: which disks vmsnap can snapshot (eligibility.h): file disks in qcow2
 * or raw, and RBD disks in builds with RBD support, that the domain may write alone. */
#include <string.h>

#include "config.h"
#include "eligibility.h"

const char *vmsnap_disk_ineligible_reason(const vmsnap_xml_disk *disk)
{
        if (strcmp(disk->device, "cdrom") == 0)
                return "cdrom";
        if (strcmp(disk->device, "disk") != 0)
                return disk->device[0] ? disk->device : "not a disk";
        if (disk->rbd && HAVE_RBD) {
                if (disk->format && strcmp(disk->format, "raw") != 0)
                        return "format not supported";
        } else if (strcmp(disk->type, "file") != 0)
                return "not a file disk";
        else if (!disk->source)
                return "no source file";
        if (disk->readonly)
                return "read-only";
        if (disk->shareable)
                return "shareable";
        if (disk->format && strcmp(disk->format, "qcow2") != 0 && strcmp(disk->format, "raw") != 0)
                return "format not supported";
        return NULL;
}
