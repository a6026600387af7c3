/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* exit-codes.h: what vmsnapctl's exit status says. One distinct code per
 * org.example.Snapshots.Error.* name, one for a canceled job, 2 for bad usage;
 * vmsnapctl(1) lists them ("EXIT STATUS"). */
#pragma once

#include <systemd/sd-bus.h>

enum {
        EXIT_DONE = 0,
        EXIT_FAILURE_OTHER = 1, /* no bus, an unexpected reply, a local failure */
        EXIT_USAGE = 2,         /* bad command line: nothing was called */
        EXIT_CANCELED = 3,      /* the job ended canceled */
        EXIT_LEFT_RUNNING = 4,  /* a second Ctrl-C: the job runs on */
        EXIT_NOT_FOUND = 10,
        EXIT_BUSY = 11,
        EXIT_INVALID_ARGUMENT = 12,
        EXIT_DOMAIN_RUNNING = 13,
        EXIT_IN_PREVIEW = 14,
        EXIT_NO_SPACE = 15,
        EXIT_LOCKED = 16,
        EXIT_NOT_AUTHORIZED = 17,
        EXIT_UNSUPPORTED = 18,
        EXIT_FAILED = 19,
};

/* The exit code for a D-Bus error name (a failed call, or a failed job's ErrorName).
 * Names outside org.example.Snapshots.Error give EXIT_FAILURE_OTHER, except the bus's
 * own refusals of authorization, which give EXIT_NOT_AUTHORIZED. */
int exit_code_from_error_name(const char *name);
