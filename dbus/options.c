/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* options.c: the option dictionaries (a{sv}) of Create, Preview, Revert, Delete
 * and Clone. Which keys a method knows is its option table in methods.c; how a
 * dictionary is read, checked and refused is here. */
#include <errno.h>
#include <stdio.h>

#include "errors.h"
#include "options.h"
#include "util.h"

static const char *signature_description(const char *signature)
{
        static const struct {
                const char *signature, *description;
        } names[] = {
                {"b", "a boolean"},
                {"s", "a string"},
                {"o", "an object path"},
                {"g", "a signature"},
                {"y", "a byte"},
                {"n", "a 16-bit integer"},
                {"q", "a 16-bit unsigned integer"},
                {"i", "a 32-bit integer"},
                {"u", "a 32-bit unsigned integer"},
                {"x", "a 64-bit integer"},
                {"t", "a 64-bit unsigned integer"},
                {"d", "a double"},
                {"h", "a file descriptor"},
                {"v", "a variant"},
                {"as", "an array of strings"},
                {"a{sv}", "a dictionary (a{sv})"},
                {"a{ss}", "a dictionary of strings (a{ss})"},
        };

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strcmp(names[i].signature, signature) == 0)
                        return names[i].description;
        return "a value";
}

static void known_keys(const option_spec *specs, char *out, size_t size)
{
        size_t used = 0;

        out[0] = '\0';
        for (const option_spec *s = specs; s->key && used < size; s++)
                used += (size_t)snprintf(out + used, size - used, "%s%s", s == specs ? "" : ", ", s->key);
}

static int read_value(sd_bus_message *message, const char *method, const option_spec *spec, void *target,
                      sd_bus_error *error)
{
        void *field = (char *)target + spec->offset;
        int r;

        if (spec->read)
                return spec->read(message, method, spec, field, error);
        if (strcmp(spec->signature, "b") == 0) {
                int value;
                r = sd_bus_message_read(message, "b", &value);
                if (r < 0)
                        return r;
                *(bool *)field = value;
                return 0;
        }
        if (strcmp(spec->signature, "s") == 0) {
                const char *value;
                r = sd_bus_message_read(message, "s", &value);
                if (r < 0)
                        return r;
                string_update((char **)field, value);
                return 0;
        }
        return -EINVAL;
}

int bus_read_options(sd_bus_message *message, const char *method, const option_spec *specs, void *target,
                     sd_bus_error *error)
{
        const char *seen[64];
        size_t n_seen = 0;
        int r;

        r = sd_bus_message_enter_container(message, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(message, 'e', "sv")) > 0) {
                const option_spec *spec = NULL;
                const char *key, *contents;
                char known[256];

                r = sd_bus_message_read(message, "s", &key);
                if (r < 0)
                        return r;
                for (const option_spec *s = specs; s->key; s++)
                        if (strcmp(s->key, key) == 0)
                                spec = s;
                if (!spec) {
                        known_keys(specs, known, sizeof(known));
                        if (!known[0])
                                return sd_bus_error_setf(error, BUS_ERROR_INVALID_ARGUMENT,
                                                         "%s takes no options, but option \"%s\" was given",
                                                         method, key);
                        return sd_bus_error_setf(error, BUS_ERROR_INVALID_ARGUMENT,
                                                 "%s has no option \"%s\"; its options are: %s", method, key,
                                                 known);
                }
                for (size_t i = 0; i < n_seen; i++)
                        if (strcmp(seen[i], spec->key) == 0)
                                return sd_bus_error_setf(error, BUS_ERROR_INVALID_ARGUMENT,
                                                         "option \"%s\" of %s is given twice", key, method);
                if (n_seen < sizeof(seen) / sizeof(seen[0]))
                        seen[n_seen++] = spec->key;

                r = sd_bus_message_peek_type(message, NULL, &contents);
                if (r < 0)
                        return r;
                if (strcmp(contents, spec->signature) != 0)
                        return sd_bus_error_setf(error, BUS_ERROR_INVALID_ARGUMENT,
                                                 "option \"%s\" of %s must be %s (%s), not %s (%s)", key,
                                                 method, signature_description(spec->signature),
                                                 spec->signature, signature_description(contents), contents);
                r = sd_bus_message_enter_container(message, 'v', contents);
                if (r < 0)
                        return r;
                r = read_value(message, method, spec, target, error);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(message);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(message);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(message);
}

/* ---- Clone's disks ---- */

static int read_include(sd_bus_message *message, const char *method, const option_spec *spec, void *field,
                        sd_bus_error *error)
{
        int value, r;

        r = sd_bus_message_read(message, "b", &value);
        if (r < 0)
                return r;
        *(int *)field = value ? 1 : 0;
        return 0;
}

typedef struct clone_disk_parsed {
        char *target_dir;
        char *format;
        char *rbd_pool;
        int include; /* -1: not given */
} clone_disk_parsed;

static const option_spec clone_disk_specs[] = {
        {"target_dir", "s", offsetof(clone_disk_parsed, target_dir), NULL},
        {"format", "s", offsetof(clone_disk_parsed, format), NULL},
        {"rbd_pool", "s", offsetof(clone_disk_parsed, rbd_pool), NULL},
        {"include", "b", offsetof(clone_disk_parsed, include), read_include},
        {NULL, NULL, 0, NULL},
};

void clone_disk_list_clear(clone_disk_list *list)
{
        for (size_t i = 0; i < list->n_disks; i++) {
                free(list->disks[i].target);
                free(list->disks[i].target_dir);
                free(list->disks[i].format);
                free(list->disks[i].rbd_pool);
        }
        free(list->disks);
        list->disks = NULL;
        list->n_disks = 0;
}

int clone_disks_option_read(sd_bus_message *message, const char *method, const option_spec *spec,
                            void *field, sd_bus_error *error)
{
        clone_disk_list *list = field;
        int r;

        r = sd_bus_message_enter_container(message, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(message, 'e', "sv")) > 0) {
                clone_disk_parsed parsed = {.include = -1};
                char what[300];
                const char *target, *contents;

                r = sd_bus_message_read(message, "s", &target);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < list->n_disks; i++)
                        if (strcmp(list->disks[i].target, target) == 0)
                                return sd_bus_error_setf(error, BUS_ERROR_INVALID_ARGUMENT,
                                                         "disk %s is given twice in option \"disks\" of %s",
                                                         target, method);
                r = sd_bus_message_peek_type(message, NULL, &contents);
                if (r < 0)
                        return r;
                if (strcmp(contents, "a{sv}") != 0)
                        return sd_bus_error_setf(error, BUS_ERROR_INVALID_ARGUMENT,
                                                 "disk %s in option \"disks\" of %s must be a dictionary "
                                                 "(a{sv}), not %s (%s)",
                                                 target, method, signature_description(contents), contents);
                r = sd_bus_message_enter_container(message, 'v', "a{sv}");
                if (r < 0)
                        return r;
                snprintf(what, sizeof(what), "%s (option \"disks\", disk %s)", method, target);
                r = bus_read_options(message, what, clone_disk_specs, &parsed, error);
                if (r >= 0) {
                        list->disks = xreallocarray(list->disks, list->n_disks + 1, sizeof(*list->disks));
                        list->disks[list->n_disks++] = (clone_disk_options){
                                .target = xstrdup(strempty(target)),
                                .target_dir = parsed.target_dir,
                                .format = parsed.format,
                                .rbd_pool = parsed.rbd_pool,
                                .include = parsed.include != 0,
                                .include_set = parsed.include >= 0,
                        };
                } else {
                        free(parsed.target_dir);
                        free(parsed.format);
                        free(parsed.rbd_pool);
                        return r;
                }
                r = sd_bus_message_exit_container(message);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(message);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(message);
}
