/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* options.h: reading the a{sv} option dictionaries of the bus API against a
 * table of known keys. An unknown key, a key given twice or a value of the wrong
 * type is refused with InvalidArgument and a sentence naming the key. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-bus.h>

typedef struct option_spec option_spec;

/* Reads the value (the variant is already entered) into field. */
typedef int (*option_read_fn)(sd_bus_message *message, const char *method, const option_spec *spec,
                              void *field, sd_bus_error *error);

struct option_spec {
        const char *key;
        const char *signature; /* what the variant must hold */
        size_t offset;         /* of the field in the target struct */
        option_read_fn read;   /* NULL: "b" into a bool, "s" into a malloc'ed char * */
};

/* Reads an a{sv} from message into target according to specs (ending with {NULL}).
 * method names the call in error sentences. */
int bus_read_options(sd_bus_message *message, const char *method, const option_spec *specs, void *target,
                     sd_bus_error *error);

/* Clone's per-disk overrides: disks (a{sv}) maps a target to an a{sv} of
 * target_dir (s), format (s), include (b). */
typedef struct clone_disk_options {
        char *target;
        char *target_dir;
        char *format;
        char *rbd_pool;
        bool include;
        bool include_set;
} clone_disk_options;

typedef struct clone_disk_list {
        clone_disk_options *disks;
        size_t n_disks;
} clone_disk_list;

int clone_disks_option_read(sd_bus_message *message, const char *method, const option_spec *spec,
                            void *field, sd_bus_error *error);
void clone_disk_list_clear(clone_disk_list *list);
