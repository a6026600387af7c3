/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* errors.h: the named D-Bus errors of org.example.Snapshots and the mapping of
 * engine failures onto them. Every reply that fails carries one of these names
 * and a sentence a person can act on. */
#pragma once

#include <systemd/sd-bus.h>

#include "vmsnap/vmsnap.h"

#define BUS_ERROR_NOT_FOUND "org.example.Snapshots.Error.NotFound"
#define BUS_ERROR_BUSY "org.example.Snapshots.Error.Busy"
#define BUS_ERROR_INVALID_ARGUMENT "org.example.Snapshots.Error.InvalidArgument"
#define BUS_ERROR_DOMAIN_RUNNING "org.example.Snapshots.Error.DomainRunning"
#define BUS_ERROR_IN_PREVIEW "org.example.Snapshots.Error.InPreview"
#define BUS_ERROR_NO_SPACE "org.example.Snapshots.Error.NoSpace"
#define BUS_ERROR_LOCKED "org.example.Snapshots.Error.Locked"
#define BUS_ERROR_NOT_AUTHORIZED "org.example.Snapshots.Error.NotAuthorized"
#define BUS_ERROR_UNSUPPORTED "org.example.Snapshots.Error.Unsupported"
#define BUS_ERROR_FAILED "org.example.Snapshots.Error.Failed"

/* The error name for an engine failure. A canceled direct call is a plain failure:
 * only jobs have a canceled state. */
const char *bus_error_name_from_kind(vmsnap_error_kind kind);

/* Makes sd-bus map these names to errno values (and back) for the whole process. */
int bus_errors_register(void);
