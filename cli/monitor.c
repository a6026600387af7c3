/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* monitor.c: the events of vmsnapd as readable lines, until Ctrl-C. JobNew and
 * JobRemoved are broadcast; a job's own signals come only to readers, so each
 * new job is read once (GetAll), which both labels it and subscribes to it.
 * With --json each event is one JSON object on a line of its own. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "bus.h"
#include "cli.h"
#include "exit-codes.h"
#include "job-wait.h"
#include "output.h"
#include "util.h"
#include "variant-json.h"
#include "verbs.h"

typedef struct monitor {
        sd_bus *bus;
        json_object *jobs;    /* path -> last properties */
        json_object *domains; /* uuid -> name */
        char *only_uuid;      /* a DOMAIN argument, resolved */
        char *only_name;
} monitor;

static void emit(const char *event, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void emit(const char *event, const char *format, ...)
{
        char when[16], *text = NULL;
        time_t now = time(NULL);
        struct tm tm;
        va_list ap;
        va_start(ap, format);
        if (vasprintf(&text, format, ap) < 0)
                abort();
        va_end(ap);
        if (arg.json) {
                _cleanup_(json_object_putp) json_object *line = json_object_new_object();
                json_object_object_add(line, "time", json_object_new_int64((int64_t)now));
                json_object_object_add(line, "event", json_object_new_string(event));
                json_object_object_add(line, "text", json_object_new_string(text));
                puts(json_object_to_json_string_ext(line, JSON_C_TO_STRING_PLAIN |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE));
        } else {
                strftime(when, sizeof(when), "%H:%M:%S", localtime_r(&now, &tm));
                printf("%s %s\n", when, text);
        }
        free(text);
        fflush(stdout);
}

static int read_domains(monitor *mon)
{
        _cleanup_(json_object_putp) json_object *domains = NULL;
        int r = bus_call_json(mon->bus, "cannot list the domains", &domains, "ListDomains", NULL);
        if (r != 0)
                return r;
        for (size_t i = 0; i < json_object_array_length(domains); i++) {
                json_object *d = json_object_array_get_idx(domains, i);
                json_object_object_add(mon->domains, record_string(d, "uuid"),
                                       json_object_new_string(record_string(d, "name")));
        }
        return 0;
}

static bool job_wanted(monitor *mon, json_object *job)
{
        return !mon->only_name || strcmp(record_string(job, "Domain"), mon->only_name) == 0;
}

/* Reads a job (which makes this connection one of its readers) and remembers it. */
static json_object *follow_job(monitor *mon, const char *path)
{
        json_object *job;
        if (json_object_object_get_ex(mon->jobs, path, &job))
                return job;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(mon->bus, SNAPSHOTS_SERVICE, path, "org.freedesktop.DBus.Properties",
                                   "GetAll", &error, &reply, "s", JOB_INTERFACE);
        sd_bus_error_free(&error);
        if (r < 0 || variant_json_read(reply, &job) < 0)
                return NULL; /* not ours to read */
        json_object_object_add(mon->jobs, path, job);
        return job;
}

static int on_job_new(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        monitor *mon = userdata;
        uint32_t id;
        const char *path;
        if (sd_bus_message_read(m, "uo", &id, &path) < 0)
                return 0;
        json_object *job = follow_job(mon, path);
        if (!job || !job_wanted(mon, job))
                return 0;
        char label[256];
        job_label(job, label, sizeof(label));
        emit("job-new", "%s: new, %s, started by uid %llu", label, record_string(job, "State"),
             (unsigned long long)record_uint(job, "StartedByUID"));
        return 0;
}

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        monitor *mon = userdata;
        uint32_t id;
        const char *path, *result;
        if (sd_bus_message_read(m, "uos", &id, &path, &result) < 0)
                return 0;
        json_object *job;
        if (!json_object_object_get_ex(mon->jobs, path, &job) || !job_wanted(mon, job))
                return 0;
        char label[256];
        job_label(job, label, sizeof(label));
        emit("job-removed", "%s: removed (%s)", label, result);
        json_object_object_del(mon->jobs, path);
        return 0;
}

static int on_job_changed(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        monitor *mon = userdata;
        const char *interface, *path = sd_bus_message_get_path(m);
        json_object *job, *changes = NULL;
        if (!path || !json_object_object_get_ex(mon->jobs, path, &job))
                return 0;
        if (sd_bus_message_read(m, "s", &interface) < 0 || strcmp(interface, JOB_INTERFACE) != 0 ||
            variant_json_read(m, &changes) < 0)
                return 0;
        json_object *state;
        bool state_changed = json_object_object_get_ex(changes, "State", &state) &&
                             strcmp(json_object_get_string(state), record_string(job, "State")) != 0;
        json_object_object_foreach(changes, key, value)
        {
                json_object_object_add(job, key, json_object_get(value));
        }
        json_object_put(changes);
        if (!state_changed || !job_wanted(mon, job))
                return 0;
        char label[256];
        job_label(job, label, sizeof(label));
        const char *now = record_string(job, "State");
        if (strcmp(now, "failed") == 0 || strcmp(now, "canceled") == 0)
                emit("job-state", "%s: %s: %s", label, now, record_string(job, "Error"));
        else
                emit("job-state", "%s: %s", label, now);
        return 0;
}

static int on_snapshots_changed(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        monitor *mon = userdata;
        const char *uuid;
        json_object *name;
        if (sd_bus_message_read(m, "s", &uuid) < 0)
                return 0;
        if (mon->only_uuid && strcmp(uuid, mon->only_uuid) != 0)
                return 0;
        if (!json_object_object_get_ex(mon->domains, uuid, &name)) {
                (void)read_domains(mon);
                json_object_object_get_ex(mon->domains, uuid, &name);
        }
        emit("snapshots-changed", "domain %s: snapshots or state changed",
             name ? json_object_get_string(name) : uuid);
        return 0;
}

static int resolve_domain(monitor *mon, const char *domain)
{
        json_object_object_foreach(mon->domains, uuid, name)
        {
                if (strcmp(uuid, domain) == 0 || strcmp(json_object_get_string(name), domain) == 0) {
                        mon->only_uuid = xstrdup(strempty(uuid));
                        mon->only_name = xstrdup(strempty(json_object_get_string(name)));
                        return 0;
                }
        }
        log_error("domain \"%s\" is not known to vmsnapd.", domain);
        return EXIT_NOT_FOUND;
}

int verb_monitor(int argc, char **argv)
{
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *job_new = NULL, *job_removed = NULL, *changed = NULL,
                                                  *snapshots = NULL;
        _cleanup_(json_object_putp) json_object *jobs = json_object_new_object();
        _cleanup_(json_object_putp) json_object *domains = json_object_new_object();
        monitor mon = {.jobs = jobs, .domains = domains};
        int r = bus_get(&mon.bus);
        if (r != 0)
                return r;
        r = read_domains(&mon);
        if (r != 0)
                return r;
        if (argc > 1) {
                r = resolve_domain(&mon, argv[1]);
                if (r != 0)
                        return r;
        }
        r = sd_event_default(&event);
        if (r >= 0)
                r = sd_bus_attach_event(mon.bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = sd_bus_match_signal(mon.bus, &job_new, NULL, SNAPSHOTS_PATH, SNAPSHOTS_INTERFACE,
                                        "JobNew", on_job_new, &mon);
        if (r >= 0)
                r = sd_bus_match_signal(mon.bus, &job_removed, NULL, SNAPSHOTS_PATH, SNAPSHOTS_INTERFACE,
                                        "JobRemoved", on_job_removed, &mon);
        if (r >= 0)
                r = sd_bus_match_signal(mon.bus, &snapshots, NULL, SNAPSHOTS_PATH, SNAPSHOTS_INTERFACE,
                                        "SnapshotsChanged", on_snapshots_changed, &mon);
        if (r >= 0)
                r = sd_bus_match_signal(mon.bus, &changed, NULL, NULL, "org.freedesktop.DBus.Properties",
                                        "PropertiesChanged", on_job_changed, &mon);
        if (r < 0)
                return bus_log_errno(r, "cannot subscribe to vmsnapd's signals");

        /* The jobs that already run. */
        _cleanup_(json_object_putp) json_object *paths = NULL;
        r = bus_call_json(mon.bus, "cannot list the jobs", &paths, "ListJobs", NULL);
        if (r != 0)
                return r;
        for (size_t i = 0; i < json_object_array_length(paths); i++)
                (void)follow_job(&mon, json_object_get_string(json_object_array_get_idx(paths, i)));

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        r = sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        if (r < 0)
                return bus_log_errno(r, "cannot set up the event loop");
        if (!arg.json)
                emit("start", "Monitoring %s; press Ctrl-C to stop.",
                     mon.only_name ? mon.only_name : "every domain");
        r = sd_event_loop(event);
        free(mon.only_uuid);
        free(mon.only_name);
        return r < 0 ? bus_log_errno(r, "monitoring failed") : 0;
}
