/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* settings.h: what vmsnapd runs with: its defaults, then the configuration file
 * (/etc/vmsnap/vmsnapd.conf), then the command line, each overriding the one before.
 * The file and the options share names and checks: a file line `workers = 8` is
 * `--workers 8`. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SETTINGS_DEFAULT_FILE "/etc/vmsnap/vmsnapd.conf"

typedef struct settings {
        char *uri;
        char *state_dir;
        char *bus_address;   /* NULL: the system bus */
        char *clone_targets; /* NULL: the engine's default, /etc/vmsnap/clone-targets */
        unsigned workers;
        uint64_t job_linger_sec;
        uint64_t stop_timeout_sec;
        uint64_t rbd_lease_sec;
} settings;

/* The built-in defaults (the URI and state directory of the build, a worker per CPU). */
void settings_init(settings *s);
void settings_clear(settings *s);

/* Sets the setting named as its long option (without the dashes) from text. On a bad
 * name or value returns a negative errno and says why in error, as a phrase that
 * follows the name ("takes a number from 1 to 1024, not \"x\""). from_file: the name
 * came from the configuration file, where bus-address is not accepted. */
int settings_set(settings *s, const char *name, const char *value, bool from_file, char *error,
                 size_t error_size);

/* Reads a configuration file of `name = value` lines (blank lines and lines starting
 * with # ignored). A missing file is fine unless must_exist. On any error nothing of
 * the file is applied, and error holds one line naming the file, the line and what
 * is wrong. */
int settings_read_file(settings *s, const char *path, bool must_exist, char *error, size_t error_size);
