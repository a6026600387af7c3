/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* verbs-change.c: the verbs that change something. Every argument is checked
 * before the connection is made (a malformed --disk never reaches the bus);
 * options go into the call's a{sv} only when given, so the daemon's defaults
 * stay its own. A job's verb then waits for it (job-wait.c) unless --no-wait. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "cli.h"
#include "exit-codes.h"
#include "job-wait.h"
#include "util.h"
#include "verbs.h"

/* Sends a method that answers with a job, then waits for the job or prints its path. */
static int run_job(sd_bus *bus, sd_bus_message *m, const char *what)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        int r = bus_call(bus, m, what, &reply);
        if (r != 0)
                return r;
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return bus_log_errno(r, "cannot read the job's path");
        if (arg.no_wait) {
                puts(path);
                return 0;
        }
        return job_wait(bus, path, NULL);
}

/* Connects and starts a call of method; returns an exit code. */
static int begin(sd_bus **bus, sd_bus_message **m, const char *method)
{
        int r = bus_get(bus);
        if (r != 0)
                return r;
        r = bus_new_call(*bus, m, method);
        return r < 0 ? bus_log_errno(r, "cannot build the call") : 0;
}

static int options_end(sd_bus_message *m, int r)
{
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r < 0 ? bus_log_errno(r, "cannot build the call") : 0;
}

/* A disk target as libvirt spells them: letters and digits, at most 32 bytes. */
static bool target_valid(const char *target, size_t length)
{
        if (length == 0 || length > 32)
                return false;
        for (size_t i = 0; i < length; i++)
                if (!isalnum((unsigned char)target[i]))
                        return false;
        return true;
}

int verb_create(int argc, char **argv)
{
        for (char **d = arg.disks; d && *d; d++)
                if (!target_valid(*d, strlen(*d)))
                        return usage_error("--disk \"%s\" is not a disk target (such as vda).", *d);
        sd_bus *bus;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r = begin(&bus, &m, "Create");
        if (r != 0)
                return r;
        r = sd_bus_message_append(m, "sss", argv[1], argc > 2 ? argv[2] : "",
                                  arg.description ? arg.description : "");
        if (r >= 0)
                r = sd_bus_message_append_strv(m, arg.disks);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && (arg.given & OPT_MEMORY))
                r = bus_append_bool_option(m, "memory", 1);
        if (r >= 0 && (arg.given & OPT_QUIESCE))
                r = bus_append_bool_option(m, "quiesce", 1);
        r = options_end(m, r);
        return r != 0 ? r : run_job(bus, m, "cannot create the snapshot");
}

int verb_preview(int argc, char **argv)
{
        for (char **d = arg.disks; d && *d; d++) {
                const char *equals = strchr(*d, '=');
                if (!equals || !target_valid(*d, (size_t)(equals - *d)) || !equals[1])
                        return usage_error(
                                "--disk \"%s\" is not TARGET=SNAPSHOT (such as vdb=before-upgrade).", *d);
        }
        sd_bus *bus;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r = begin(&bus, &m, "Preview");
        if (r != 0)
                return r;
        r = sd_bus_message_append(m, "ss", argv[1], argv[2]);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{ss}");
        for (char **d = arg.disks; r >= 0 && d && *d; d++) {
                _cleanup_free_ char *target = strndup(*d, strcspn(*d, "="));
                r = sd_bus_message_append(m, "{ss}", target, strchr(*d, '=') + 1);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && (arg.given & OPT_MEMORY))
                r = bus_append_bool_option(m, "restore_memory", 1);
        if (r >= 0 && (arg.given & OPT_STOP))
                r = bus_append_bool_option(m, "stop", 1);
        r = options_end(m, r);
        return r != 0 ? r : run_job(bus, m, "cannot start the preview");
}

static int preview_end(const char *method, const char *domain, const char *what)
{
        sd_bus *bus;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r = begin(&bus, &m, method);
        if (r != 0)
                return r;
        r = sd_bus_message_append(m, "s", domain);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && (arg.given & OPT_STOP))
                r = bus_append_bool_option(m, "stop", 1);
        r = options_end(m, r);
        return r != 0 ? r : run_job(bus, m, what);
}

int verb_commit(int argc, char **argv)
{
        return preview_end("Commit", argv[1], "cannot commit the preview");
}

int verb_undo(int argc, char **argv)
{
        return preview_end("Undo", argv[1], "cannot undo the preview");
}

int verb_revert(int argc, char **argv)
{
        sd_bus *bus;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r = begin(&bus, &m, "Revert");
        if (r != 0)
                return r;
        r = sd_bus_message_append(m, "ss", argv[1], argv[2]);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && (arg.given & OPT_START))
                r = bus_append_bool_option(m, "start", 1);
        if (r >= 0 && (arg.given & OPT_MEMORY))
                r = bus_append_bool_option(m, "restore_memory", 1);
        if (r >= 0 && (arg.given & OPT_STOP))
                r = bus_append_bool_option(m, "stop", 1);
        r = options_end(m, r);
        return r != 0 ? r : run_job(bus, m, "cannot revert");
}

int verb_delete(int argc, char **argv)
{
        unsigned kinds = arg.given & (OPT_CHILDREN | OPT_CHILDREN_ONLY | OPT_METADATA_ONLY);
        if (kinds & (kinds - 1))
                return usage_error("--children, --children-only and --metadata-only exclude each other.");
        sd_bus *bus;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r = begin(&bus, &m, "Delete");
        if (r != 0)
                return r;
        r = sd_bus_message_append(m, "ss", argv[1], argv[2]);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && (kinds & OPT_CHILDREN))
                r = bus_append_bool_option(m, "children", 1);
        if (r >= 0 && (kinds & OPT_CHILDREN_ONLY))
                r = bus_append_bool_option(m, "children_only", 1);
        if (r >= 0 && (kinds & OPT_METADATA_ONLY))
                r = bus_append_bool_option(m, "metadata_only", 1);
        r = options_end(m, r);
        return r != 0 ? r : run_job(bus, m, "cannot delete the snapshot");
}

int verb_delete_all(int argc, char **argv)
{
        sd_bus *bus;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r = begin(&bus, &m, "DeleteAll");
        if (r != 0)
                return r;
        r = sd_bus_message_append(m, "s", argv[1]);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && (arg.given & OPT_INTO_ORIGINAL))
                r = bus_append_bool_option(m, "into_original", 1);
        r = options_end(m, r);
        return r != 0 ? r : run_job(bus, m, "cannot delete the snapshots");
}

int verb_purge(int argc, char **argv)
{
        sd_bus *bus;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r = begin(&bus, &m, "Purge");
        if (r != 0)
                return r;
        r = sd_bus_message_append(m, "s", argv[1]);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && (arg.given & OPT_UNDEFINE))
                r = bus_append_bool_option(m, "undefine", 1);
        r = options_end(m, r);
        return r != 0 ? r : run_job(bus, m, "cannot purge the domain");
}

/* One --disk of clone: TARGET:KEY=VALUE[,KEY=VALUE...], keys format, dir, include,
 * rbd-pool. */
typedef struct clone_disk {
        char *target;
        char *format, *dir, *rbd_pool;
        int include; /* -1: not given */
} clone_disk;

static int parse_yes_no(const char *value)
{
        if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
                return 1;
        if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
                return 0;
        return -1;
}

static int parse_clone_disk(const char *spec, clone_disk *disk)
{
        const char *colon = strchr(spec, ':');
        *disk = (clone_disk){.include = -1};
        if (!colon || !target_valid(spec, (size_t)(colon - spec)) || !colon[1])
                return usage_error(
                        "--disk \"%s\" is not TARGET:KEY=VALUE[,...] (such as vda:format=raw,dir=/srv).",
                        spec);
        disk->target = strndup(spec, (size_t)(colon - spec));
        _cleanup_free_ char *settings = xstrdup(colon + 1);
        char *saveptr = NULL;
        for (char *item = strtok_r(settings, ",", &saveptr); item; item = strtok_r(NULL, ",", &saveptr)) {
                char *equals = strchr(item, '=');
                if (!equals || !equals[1])
                        return usage_error("--disk \"%s\": \"%s\" is not KEY=VALUE.", spec, item);
                *equals = '\0';
                const char *value = equals + 1;
                if (strcmp(item, "format") == 0) {
                        if (strcmp(value, "qcow2") != 0 && strcmp(value, "raw") != 0)
                                return usage_error("--disk \"%s\": format must be qcow2 or raw.", spec);
                        string_update(&disk->format, value);
                } else if (strcmp(item, "dir") == 0)
                        string_update(&disk->dir, value);
                else if (strcmp(item, "rbd-pool") == 0)
                        string_update(&disk->rbd_pool, value);
                else if (strcmp(item, "include") == 0) {
                        disk->include = parse_yes_no(value);
                        if (disk->include < 0)
                                return usage_error("--disk \"%s\": include must be yes or no.", spec);
                } else
                        return usage_error(
                                "--disk \"%s\": unknown key \"%s\" (format, dir, include, rbd-pool).", spec,
                                item);
        }
        return 0;
}

static void clone_disks_free(clone_disk *disks, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(disks[i].target);
                free(disks[i].format);
                free(disks[i].dir);
                free(disks[i].rbd_pool);
        }
        free(disks);
}

static int append_clone_disks(sd_bus_message *m, clone_disk *disks, size_t n)
{
        int r = sd_bus_message_open_container(m, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", "disks");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "a{sv}");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        for (size_t i = 0; r >= 0 && i < n; i++) {
                r = sd_bus_message_open_container(m, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", disks[i].target);
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'v', "a{sv}");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'a', "{sv}");
                if (r >= 0 && disks[i].format)
                        r = bus_append_string_option(m, "format", disks[i].format);
                if (r >= 0 && disks[i].dir)
                        r = bus_append_string_option(m, "target_dir", disks[i].dir);
                if (r >= 0 && disks[i].include >= 0)
                        r = bus_append_bool_option(m, "include", disks[i].include);
                if (r >= 0 && disks[i].rbd_pool)
                        r = bus_append_string_option(m, "rbd_pool", disks[i].rbd_pool);
                for (int level = 0; r >= 0 && level < 3; level++)
                        r = sd_bus_message_close_container(m);
        }
        for (int level = 0; r >= 0 && level < 3; level++)
                r = sd_bus_message_close_container(m);
        return r;
}

int verb_clone(int argc, char **argv)
{
        if ((arg.given & OPT_DIR) && (arg.given & OPT_POOL))
                return usage_error("--dir and --pool exclude each other.");
        if (arg.format && strcmp(arg.format, "qcow2") != 0 && strcmp(arg.format, "raw") != 0)
                return usage_error("--format must be qcow2 or raw, not \"%s\".", arg.format);
        size_t n = strv_length(arg.disks);
        clone_disk *disks = xcalloc(n, sizeof(clone_disk));
        int r = 0;
        for (size_t i = 0; i < n && r == 0; i++)
                r = parse_clone_disk(arg.disks[i], &disks[i]);
        if (r != 0) {
                clone_disks_free(disks, n);
                return r;
        }
        sd_bus *bus;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        r = begin(&bus, &m, "Clone");
        if (r != 0) {
                clone_disks_free(disks, n);
                return r;
        }
        r = sd_bus_message_append(m, "sss", argv[1], argv[2], argc > 3 ? argv[3] : "");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && arg.dir)
                r = bus_append_string_option(m, "target_dir", arg.dir);
        if (r >= 0 && arg.pool)
                r = bus_append_string_option(m, "pool", arg.pool);
        if (r >= 0 && arg.format)
                r = bus_append_string_option(m, "format", arg.format);
        if (r >= 0 && n > 0)
                r = append_clone_disks(m, disks, n);
        if (r >= 0 && (arg.given & OPT_START))
                r = bus_append_bool_option(m, "start", 1);
        if (r >= 0 && (arg.given & OPT_ALLOW_PARTIAL))
                r = bus_append_bool_option(m, "allow_partial", 1);
        if (r >= 0 && (arg.given & OPT_LINKED))
                r = bus_append_bool_option(m, "linked", 1);
        clone_disks_free(disks, n);
        r = options_end(m, r);
        return r != 0 ? r : run_job(bus, m, "cannot clone the snapshot");
}

static int simple_call(const char *method, const char *what, char **argv)
{
        sd_bus *bus;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r = begin(&bus, &m, method);
        if (r != 0)
                return r;
        r = sd_bus_message_append(m, "sss", argv[1], argv[2], argv[3]);
        if (r < 0)
                return bus_log_errno(r, "cannot build the call");
        return bus_call(bus, m, what, NULL);
}

int verb_rename(int argc, char **argv)
{
        return simple_call("Rename", "cannot rename the snapshot", argv);
}

int verb_describe(int argc, char **argv)
{
        return simple_call("SetDescription", "cannot set the description", argv);
}

int verb_cancel(int argc, char **argv)
{
        _cleanup_free_ char *path = NULL;
        const char *job = argv[1];
        if (strncmp(job, JOB_PATH_PREFIX, strlen(JOB_PATH_PREFIX)) == 0)
                path = xstrdup(strempty(job));
        else {
                char *end;
                unsigned long id = strtoul(job, &end, 10);
                if (!*job || *end || !isdigit((unsigned char)*job))
                        return usage_error(
                                "\"%s\" is not a job: give its number (vmsnapctl jobs) or object path.",
                                job);
                if (asprintf(&path, JOB_PATH_PREFIX "%lu", id) < 0)
                        abort();
        }
        sd_bus *bus;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r = bus_get(&bus);
        if (r != 0)
                return r;
        r = sd_bus_message_new_method_call(bus, &m, SNAPSHOTS_SERVICE, path, JOB_INTERFACE, "Cancel");
        if (r < 0)
                return bus_log_errno(r, "cannot build the call");
        return bus_call(bus, m, "cannot cancel the job", NULL);
}
