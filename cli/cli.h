/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cli.h: the parsed command line every verb reads. main.c fills it before any
 * verb runs; nothing in it has touched the bus yet. */
#pragma once

#include <stdbool.h>

/* The options a verb may take beyond the global ones (vmsnapctl(1), "OPTIONS"),
 * as bits: a verb lists the ones it accepts, anything else is a usage error. */
enum {
        OPT_DESCRIPTION = 1u << 0,
        OPT_DISK = 1u << 1,
        OPT_MEMORY = 1u << 2,
        OPT_QUIESCE = 1u << 3,
        OPT_STOP = 1u << 4,
        OPT_START = 1u << 5,
        OPT_CHILDREN = 1u << 6,
        OPT_CHILDREN_ONLY = 1u << 7,
        OPT_METADATA_ONLY = 1u << 8,
        OPT_FORMAT = 1u << 9,
        OPT_DIR = 1u << 10,
        OPT_POOL = 1u << 11,
        OPT_ALLOW_PARTIAL = 1u << 12,
        OPT_INTO_ORIGINAL = 1u << 13,
        OPT_UNDEFINE = 1u << 14,
        OPT_DISKS = 1u << 15,
        OPT_NO_WAIT = 1u << 16,
        OPT_LINKED = 1u << 17,
};

typedef struct cli_options {
        /* global */
        bool json;
        bool legend;
        bool ask_password;
        const char *host;
        const char *bus_address;
        /* per verb; given says which were on the command line */
        unsigned given;
        const char *description;
        char **disks; /* every --disk, in order */
        bool memory, quiesce, stop, start;
        bool children, children_only, metadata_only;
        const char *format, *dir, *pool;
        bool allow_partial, into_original, undefine, show_disks, no_wait, linked;
} cli_options;

extern cli_options arg;

/* Prints "vmsnapctl: " and the sentence to stderr; returns EXIT_USAGE for
 * `return usage_error(...)`. */
int usage_error(const char *format, ...) __attribute__((format(printf, 1, 2)));
/* Prints "vmsnapctl: " and the sentence to stderr. */
void log_error(const char *format, ...) __attribute__((format(printf, 1, 2)));
