/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* methods.h: the vtable of the org.example.Snapshots interface (methods.c),
 * served at /org/example/Snapshots with the manager as userdata. */
#pragma once

#include <systemd/sd-bus.h>

extern const sd_bus_vtable snapshots_vtable[];
