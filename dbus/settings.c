/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* settings.c: see settings.h. */
#include <ctype.h>
#include <errno.h>
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

static const char *const known_names =
        "connect, state-dir, workers, job-linger, stop-timeout, clone-targets";

void settings_init(settings *s)
{
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);

        *s = (settings){
                .uri = xstrdup(VMSNAP_DEFAULT_URI),
                .state_dir = xstrdup(VMSNAP_DEFAULT_STATE_DIR),
                .workers = cpus > 0 ? (unsigned)(cpus < WORKERS_MAX ? cpus : WORKERS_MAX) : 1,
                .job_linger_sec = 300,
                .stop_timeout_sec = 60,
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

        copy.uri = s->uri ? xstrdup(s->uri) : NULL;
        copy.state_dir = s->state_dir ? xstrdup(s->state_dir) : NULL;
        copy.bus_address = s->bus_address ? xstrdup(s->bus_address) : NULL;
        copy.clone_targets = s->clone_targets ? xstrdup(s->clone_targets) : NULL;
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

static void replace(char **field, const char *value)
{
        free(*field);
        *field = xstrdup(value);
}

int settings_set(settings *s, const char *name, const char *value, bool from_file, char *error,
                 size_t error_size)
{
        uint64_t number;

        if (strcmp(name, "connect") == 0) {
                if (!value[0])
                        goto empty;
                replace(&s->uri, value);
        } else if (strcmp(name, "state-dir") == 0) {
                if (value[0] != '/') {
                        snprintf(error, error_size, "needs an absolute directory, not \"%s\"", value);
                        return -EINVAL;
                }
                replace(&s->state_dir, value);
        } else if (strcmp(name, "bus-address") == 0 && !from_file) {
                if (!value[0]) {
                        snprintf(error, error_size,
                                 "needs a D-Bus address such as unix:path=/run/dbus/system_bus_socket");
                        return -EINVAL;
                }
                replace(&s->bus_address, value);
        } else if (strcmp(name, "workers") == 0) {
                if (parse_number(value, 1, WORKERS_MAX, &number) < 0) {
                        snprintf(error, error_size, "takes a number from 1 to %d, not \"%s\"", WORKERS_MAX, value);
                        return -EINVAL;
                }
                s->workers = (unsigned)number;
        } else if (strcmp(name, "job-linger") == 0) {
                if (parse_number(value, 0, JOB_LINGER_MAX, &number) < 0) {
                        snprintf(error, error_size, "takes seconds from 0 to %llu, not \"%s\"",
                                 (unsigned long long)JOB_LINGER_MAX, value);
                        return -EINVAL;
                }
                s->job_linger_sec = number;
        } else if (strcmp(name, "stop-timeout") == 0) {
                if (parse_number(value, 0, STOP_TIMEOUT_MAX, &number) < 0) {
                        snprintf(error, error_size, "takes seconds from 0 to %llu, not \"%s\"",
                                 (unsigned long long)STOP_TIMEOUT_MAX, value);
                        return -EINVAL;
                }
                s->stop_timeout_sec = number;
        } else if (strcmp(name, "clone-targets") == 0) {
                if (value[0] != '/') {
                        snprintf(error, error_size, "needs an absolute file name, not \"%s\"", value);
                        return -EINVAL;
                }
                replace(&s->clone_targets, value);
        } else {
                snprintf(error, error_size, "is not a setting (the settings are %s)", known_names);
                return -ENOENT;
        }
        return 0;
empty:
        snprintf(error, error_size, "needs a value");
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
                        snprintf(error, error_size, "%s:%u: the line is longer than %d characters", path, number,
                                 LINE_MAX_LENGTH);
                        r = -EINVAL;
                        break;
                }
                if ((size_t)length != strlen(line) || strchr(line, '\r')) {
                        snprintf(error, error_size, "%s:%u: the line holds a NUL or carriage return character",
                                 path, number);
                        r = -EINVAL;
                        break;
                }
                char *text = trim(line);
                if (!text[0] || text[0] == '#')
                        continue;
                char *equals = strchr(text, '=');
                if (!equals) {
                        snprintf(error, error_size, "%s:%u: expected \"name = value\", found \"%s\"", path, number,
                                 text);
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
                                snprintf(error, error_size, "%s:%u: %s is set twice (first on line %u)", path,
                                         number, name, seen_line[i]);
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
                        seen[n_seen] = xstrdup(name);
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
