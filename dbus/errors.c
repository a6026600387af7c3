/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* errors.c: engine error kinds to the named errors of DESIGN.md ("The bus
 * API"). The engine's sentence travels unchanged; only the name is chosen here. */
#include <errno.h>

#include "errors.h"

const char *bus_error_name_from_kind(vmsnap_error_kind kind)
{
        switch (kind) {
        case VMSNAP_ERROR_NOT_FOUND:
                return BUS_ERROR_NOT_FOUND;
        case VMSNAP_ERROR_BUSY:
                return BUS_ERROR_BUSY;
        case VMSNAP_ERROR_INVALID_ARGUMENT:
                return BUS_ERROR_INVALID_ARGUMENT;
        case VMSNAP_ERROR_DOMAIN_RUNNING:
                return BUS_ERROR_DOMAIN_RUNNING;
        case VMSNAP_ERROR_IN_PREVIEW:
                return BUS_ERROR_IN_PREVIEW;
        case VMSNAP_ERROR_NO_SPACE:
                return BUS_ERROR_NO_SPACE;
        case VMSNAP_ERROR_LOCKED:
                return BUS_ERROR_LOCKED;
        case VMSNAP_ERROR_UNSUPPORTED:
                return BUS_ERROR_UNSUPPORTED;
        case VMSNAP_ERROR_NONE:
        case VMSNAP_ERROR_CANCELED:
        case VMSNAP_ERROR_FAILED:
        default:
                return BUS_ERROR_FAILED;
        }
}

static const sd_bus_error_map snapshots_error_map[] = {
        SD_BUS_ERROR_MAP(BUS_ERROR_NOT_FOUND, ENOENT),
        SD_BUS_ERROR_MAP(BUS_ERROR_BUSY, EBUSY),
        SD_BUS_ERROR_MAP(BUS_ERROR_INVALID_ARGUMENT, EINVAL),
        SD_BUS_ERROR_MAP(BUS_ERROR_DOMAIN_RUNNING, EBUSY),
        SD_BUS_ERROR_MAP(BUS_ERROR_IN_PREVIEW, EBUSY),
        SD_BUS_ERROR_MAP(BUS_ERROR_NO_SPACE, ENOSPC),
        SD_BUS_ERROR_MAP(BUS_ERROR_LOCKED, EBUSY),
        SD_BUS_ERROR_MAP(BUS_ERROR_NOT_AUTHORIZED, EACCES),
        SD_BUS_ERROR_MAP(BUS_ERROR_UNSUPPORTED, EOPNOTSUPP),
        SD_BUS_ERROR_MAP(BUS_ERROR_FAILED, EIO),
        SD_BUS_ERROR_MAP_END,
};

int bus_errors_register(void)
{
        return sd_bus_error_add_map(snapshots_error_map);
}
