/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* settings.c: see settings.h. */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "settings.h"
#include "util.h"

#define WORKERS_MAX 1024
#define JOB_LINGER_MAX (7ULL * 24 * 3600)
#define STOP_TIMEOUT_MAX (24ULL * 3600)
#define LINE_MAX_LENGTH 4096

void settings_init(settings *s)
{
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);

        *s = (settings){
                .uri = xstrdup(VMSNAP_DEFAULT_URI),
                .state_dir = xstrdup(VMSNAP_DEFAULT_STATE_DIR),
                .workers = cpus > 0 ? (unsigned)(cpus < WORKERS_MAX ? cpus : WORKERS_MAX) : 1,
                .job_linger_sec = 300,
                .stop_timeout_sec = 60,
                .rbd_lease_sec = 30,
        };
}

void settings_clear(settings *s)
{
        free(s->uri);
        free(s->state_dir);
        free(s->bus_address);
        free(s->clone_targets);
        *s = (settings){0};
}

static settings settings_copy(const settings *s)
{
        settings copy = *s;

        copy.uri = xstrdup(s->uri);
        copy.state_dir = xstrdup(s->state_dir);
        copy.bus_address = xstrdup(s->bus_address);
        copy.clone_targets = xstrdup(s->clone_targets);
        return copy;
}

static int parse_number(const char *text, uint64_t min, uint64_t max, uint64_t *ret)
{
        char *end;
        unsigned long long value;

        if (!text[0] || text[0] == '-' || text[0] == '+')
                return -EINVAL;
        errno = 0;
        value = strtoull(text, &end, 10);
        if (errno != 0 || *end != '\0' || value < min || value > max)
                return -ERANGE;
        *ret = value;
        return 0;
}

/* How each setting is read: its name (the long option), where it goes, and its rule. */
typedef enum setting_kind {
        SETTING_TEXT,     /* any text but empty */
        SETTING_ABSOLUTE, /* an absolute path */
        SETTING_SECONDS,  /* a number from min to max, into a uint64_t */
        SETTING_COUNT,    /* a number from min to max, into an unsigned */
} setting_kind;

typedef struct setting_spec {
        const char *name;
        setting_kind kind;
        size_t offset;
        uint64_t min, max;
        bool command_line_only;
        const char *what; /* for TEXT and ABSOLUTE: what the value must name */
} setting_spec;

static const setting_spec specs[] = {
        {"connect", SETTING_TEXT, offsetof(settings, uri), 0, 0, false, "a libvirt URI"},
        {"state-dir", SETTING_ABSOLUTE, offsetof(settings, state_dir), 0, 0, false, "directory"},
        {"workers", SETTING_COUNT, offsetof(settings, workers), 1, WORKERS_MAX, false, NULL},
        {"job-linger", SETTING_SECONDS, offsetof(settings, job_linger_sec), 0, JOB_LINGER_MAX, false, NULL},
        {"stop-timeout", SETTING_SECONDS, offsetof(settings, stop_timeout_sec), 0, STOP_TIMEOUT_MAX, false,
         NULL},
        {"clone-targets", SETTING_ABSOLUTE, offsetof(settings, clone_targets), 0, 0, false, "file name"},
        {"rbd-lease", SETTING_SECONDS, offsetof(settings, rbd_lease_sec), 2, 3600, false, NULL},
        {"bus-address", SETTING_TEXT, offsetof(settings, bus_address), 0, 0, true,
         "a D-Bus address such as unix:path=/run/dbus/system_bus_socket"},
};

static const setting_spec *spec_find(const char *name, bool from_file)
{
        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
                if (strcmp(specs[i].name, name) == 0 && !(from_file && specs[i].command_line_only))
                        return &specs[i];
        return NULL;
}

int settings_set(settings *s, const char *name, const char *value, bool from_file, char *error,
                 size_t error_size)
{
        const setting_spec *spec = spec_find(name, from_file);
        char *field;
        uint64_t number;

        if (!spec) {
                size_t used = (size_t)snprintf(error, error_size, "is not a setting (the settings are");
                for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
                        if (!specs[i].command_line_only && used < error_size)
                                used += (size_t)snprintf(error + used, error_size - used, "%s %s",
                                                         i ? "," : "", specs[i].name);
                if (used < error_size)
                        snprintf(error + used, error_size - used, ")");
                return -ENOENT;
        }
        field = (char *)s + spec->offset;
        switch (spec->kind) {
        case SETTING_TEXT:
        case SETTING_ABSOLUTE:
                if (spec->kind == SETTING_TEXT ? !value[0] : value[0] != '/') {
                        if (spec->kind == SETTING_TEXT)
                                snprintf(error, error_size, "needs %s", spec->what);
                        else
                                snprintf(error, error_size, "needs an absolute %s, not \"%s\"", spec->what,
                                         value);
                        return -EINVAL;
                }
                free(*(char **)field);
                *(char **)field = xstrdup(strempty(value));
                return 0;
        case SETTING_SECONDS:
        case SETTING_COUNT:
                if (parse_number(value, spec->min, spec->max, &number) < 0) {
                        snprintf(error, error_size, "takes %s from %llu to %llu, not \"%s\"",
                                 spec->kind == SETTING_SECONDS ? "seconds" : "a number",
                                 (unsigned long long)spec->min, (unsigned long long)spec->max, value);
                        return -EINVAL;
                }
                if (spec->kind == SETTING_SECONDS)
                        *(uint64_t *)field = number;
                else
                        *(unsigned *)field = (unsigned)number;
                return 0;
        }
        return -EINVAL;
}

static char *trim(char *text)
{
        char *end;

        while (isspace((unsigned char)*text))
                text++;
        end = text + strlen(text);
        while (end > text && isspace((unsigned char)end[-1]))
                *--end = '\0';
        return text;
}

/* Applies the file's lines to s; on an error says which line and why. */
static int read_lines(settings *s, FILE *file, const char *path, char *error, size_t error_size)
{
        char *line = NULL, reason[512];
        size_t capacity = 0;
        char *seen[16] = {0};
        unsigned seen_line[16] = {0};
        size_t n_seen = 0;
        unsigned number = 0;
        ssize_t length;
        int r = 0;

        while (r == 0 && (length = getline(&line, &capacity, file)) >= 0) {
                number++;
                if (length > LINE_MAX_LENGTH) {
                        snprintf(error, error_size, "%s:%u: the line is longer than %d characters", path,
                                 number, LINE_MAX_LENGTH);
                        r = -EINVAL;
                        break;
                }
                if ((size_t)length != strlen(line) || strchr(line, '\r')) {
                        snprintf(error, error_size,
                                 "%s:%u: the line holds a NUL or carriage return character", path, number);
                        r = -EINVAL;
                        break;
                }
                char *text = trim(line);
                if (!text[0] || text[0] == '#')
                        continue;
                char *equals = strchr(text, '=');
                if (!equals) {
                        snprintf(error, error_size, "%s:%u: expected \"name = value\", found \"%s\"", path,
                                 number, text);
                        r = -EINVAL;
                        break;
                }
                *equals = '\0';
                char *name = trim(text), *value = trim(equals + 1);
                if (!name[0]) {
                        snprintf(error, error_size, "%s:%u: a value without a name", path, number);
                        r = -EINVAL;
                        break;
                }
                for (size_t i = 0; i < n_seen; i++)
                        if (strcmp(seen[i], name) == 0) {
                                snprintf(error, error_size, "%s:%u: %s is set twice (first on line %u)",
                                         path, number, name, seen_line[i]);
                                r = -EINVAL;
                        }
                if (r < 0)
                        break;
                if (!value[0]) {
                        snprintf(error, error_size, "%s:%u: %s needs a value", path, number, name);
                        r = -EINVAL;
                        break;
                }
                r = settings_set(s, name, value, true, reason, sizeof(reason));
                if (r < 0) {
                        snprintf(error, error_size, "%s:%u: %s %s", path, number, name, reason);
                        break;
                }
                if (n_seen < sizeof(seen) / sizeof(seen[0])) {
                        seen[n_seen] = xstrdup(strempty(name));
                        seen_line[n_seen++] = number;
                }
        }
        if (r == 0 && ferror(file)) {
                snprintf(error, error_size, "%s: cannot be read: %s", path, strerror(errno));
                r = -EIO;
        }
        for (size_t i = 0; i < n_seen; i++)
                free(seen[i]);
        free(line);
        return r;
}

int settings_read_file(settings *s, const char *path, bool must_exist, char *error, size_t error_size)
{
        FILE *file = fopen(path, "re");
        settings scratch;
        int r;

        if (!file) {
                if (errno == ENOENT && !must_exist)
                        return 0;
                r = -errno;
                snprintf(error, error_size, "%s: cannot be read: %s", path, strerror(errno));
                return r;
        }
        /* Into a copy: a file with an error changes nothing. */
        scratch = settings_copy(s);
        r = read_lines(&scratch, file, path, error, error_size);
        fclose(file);
        if (r < 0) {
                settings_clear(&scratch);
                return r;
        }
        settings_clear(s);
        *s = scratch;
        return 0;
}
