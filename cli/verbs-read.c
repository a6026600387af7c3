/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* verbs-read.c: the verbs that only read (list, tree, show, config, jobs,
 * history, and the completion's names). Each makes its calls, then prints the
 * reply either as one JSON document (--json) or for people; both come from the
 * same reply, so they never disagree. list and tree write --json as they read the
 * reply, and tree draws from the reply itself: with 1,000 snapshots a JSON
 * document built first costs more than the rest of the process. */
#include <stdio.h>
#include <string.h>

#include "bus.h"
#include "cli.h"
#include "exit-codes.h"
#include "output.h"
#include "tree.h"
#include "util.h"
#include "variant-json.h"
#include "verbs.h"

static const char *state_color(const char *state)
{
        if (strcmp(state, "running") == 0 || strcmp(state, "done") == 0)
                return ANSI_GREEN;
        if (strcmp(state, "failed") == 0 || strcmp(state, "undefined") == 0)
                return ANSI_RED;
        if (strcmp(state, "paused") == 0 || strcmp(state, "canceled") == 0 || strcmp(state, "queued") == 0)
                return ANSI_YELLOW;
        return NULL;
}

int verb_list(int argc, char **argv)
{
        sd_bus *bus;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(json_object_putp) json_object *domains = NULL;
        int r = bus_get(&bus);
        if (r == 0)
                r = bus_call_reply(bus, "cannot list the domains", &reply, "ListDomains", NULL);
        if (r != 0)
                return r;
        if (arg.json)
                return bus_reply_print_json(reply);
        r = bus_reply_json(reply, &domains);
        if (r < 0)
                return bus_log_errno(r, "cannot read the reply");
        table *t = table_new("NAME", "STATE", "SNAPSHOTS", "CURRENT", "PREVIEW", "SIZE", "UUID", NULL);
        for (size_t i = 0; i < json_object_array_length(domains); i++) {
                json_object *d = json_object_array_get_idx(domains, i);
                const char *state = record_string(d, "state");
                const char *current = record_string(d, "current_snapshot");
                char size[32];
                format_bytes(record_uint(d, "snapshot_bytes"), size, sizeof(size));
                table_add(t, record_string(d, "name"), NULL);
                table_add(t, state, state_color(state));
                table_addf(t, NULL, "%llu", (unsigned long long)record_uint(d, "snapshot_count"));
                table_add(t, *current ? current : "-", NULL);
                table_add(t, record_bool(d, "in_preview") ? "yes" : "no",
                          record_bool(d, "in_preview") ? ANSI_YELLOW : NULL);
                table_add(t, size, NULL);
                table_add(t, record_string(d, "uuid"), NULL);
        }
        table_print(t, arg.legend);
        table_free(t);
        if (arg.legend)
                printf("\n%zu domains listed.\n", json_object_array_length(domains));
        return 0;
}

int verb_tree(int argc, char **argv)
{
        sd_bus *bus;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r = bus_get(&bus);
        if (r == 0)
                r = bus_call_reply(bus, "cannot list the snapshots", &reply, "ListSnapshots", "s", argv[1]);
        if (r != 0)
                return r;
        if (arg.json)
                return bus_reply_print_json(reply);
        r = tree_print(reply);
        if (r < 0)
                return bus_log_errno(r, "cannot read the reply");
        return 0;
}

static void show_field(const char *key, const char *value)
{
        printf("%*s: %s\n", 12, key, value);
}

int verb_show(int argc, char **argv)
{
        sd_bus *bus;
        _cleanup_(json_object_putp) json_object *s = NULL;
        int r = bus_get(&bus);
        if (r == 0)
                r = bus_call_json(bus, "cannot read the snapshot", &s, "GetSnapshot", "ss", argv[1],
                                  argv[2]);
        if (r != 0)
                return r;
        if (arg.json) {
                output_json(s);
                return 0;
        }
        char text[1024], created[32], size[32], reclaimable[32];
        format_time(record_int(s, "created"), created, sizeof(created));
        format_bytes(record_uint(s, "size"), size, sizeof(size));
        format_bytes(record_uint(s, "reclaimable"), reclaimable, sizeof(reclaimable));
        show_field("Name", record_string(s, "name"));
        show_field("Id", record_string(s, "id"));
        show_field("Description", record_string(s, "description"));
        show_field("Created", created);
        show_field("Parent", *record_string(s, "parent") ? record_string(s, "parent") : "-");
        show_field("State", record_string(s, "state"));
        const char *consistency = record_string(s, "consistency");
        show_field("Consistency", consistency && *consistency ? consistency : "unknown");
        json_object *disks = record_array(s, "disks");
        text[0] = '\0';
        for (size_t i = 0; disks && i < json_object_array_length(disks); i++) {
                size_t used = strlen(text);
                snprintf(text + used, sizeof(text) - used, "%s%s", i ? " " : "",
                         json_object_get_string(json_object_array_get_idx(disks, i)));
        }
        show_field("Disks", *text ? text : "-");
        json_object *excluded = record_array(s, "excluded");
        for (size_t i = 0; excluded && i < json_object_array_length(excluded); i++) {
                json_object *pair = json_object_array_get_idx(excluded, i);
                snprintf(text, sizeof(text), "%s (%s)",
                         json_object_get_string(json_object_array_get_idx(pair, 0)),
                         json_object_get_string(json_object_array_get_idx(pair, 1)));
                show_field(i == 0 ? "Excluded" : "", text);
        }
        show_field("Memory", record_bool(s, "memory") ? "yes" : "no");
        show_field("Current", record_bool(s, "current") ? "yes" : "no");
        show_field("In preview", record_bool(s, "in_preview") ? "yes" : "no");
        show_field("Locked", record_bool(s, "locked") ? "yes" : "no");
        show_field("Partial", record_bool(s, "partial") ? "yes" : "no");
        snprintf(text, sizeof(text), "%llu", (unsigned long long)record_uint(s, "children"));
        show_field("Children", text);
        show_field("Size", size);
        show_field("Reclaimable", reclaimable);
        return 0;
}

int verb_config(int argc, char **argv)
{
        sd_bus *bus;
        _cleanup_(json_object_putp) json_object *reply = NULL;
        const char *snapshot = argc > 2 ? argv[2] : "";
        int r = bus_get(&bus);
        if (r == 0)
                r = bus_call_json(bus, "cannot read the configuration", &reply, "GetConfiguration", "ss",
                                  argv[1], snapshot);
        if (r != 0)
                return r;
        json_object *xml = json_object_array_get_idx(reply, 0), *disks = json_object_array_get_idx(reply, 1);
        if (arg.json) {
                _cleanup_(json_object_putp) json_object *document = json_object_new_object();
                json_object_object_add(document, "xml", json_object_get(xml));
                json_object_object_add(document, "disks", json_object_get(disks));
                output_json(document);
                return 0;
        }
        if (!arg.show_disks) {
                fputs(json_object_get_string(xml), stdout);
                if (!*json_object_get_string(xml) ||
                    json_object_get_string(xml)[strlen(json_object_get_string(xml)) - 1] != '\n')
                        putchar('\n');
                return 0;
        }
        bool now = !*snapshot;
        table *t = now ? table_new("TARGET", "FORMAT", "VIRTUAL", "ALLOCATED", "ELIGIBLE", "IMAGE", "REASON",
                                   NULL)
                       : table_new("TARGET", "FORMAT", "VIRTUAL", "ALLOCATED", "IMAGE", NULL);
        for (size_t i = 0; i < json_object_array_length(disks); i++) {
                json_object *d = json_object_array_get_idx(disks, i);
                char virtual_size[32], allocated[32];
                format_bytes(record_uint(d, "virtual_size"), virtual_size, sizeof(virtual_size));
                format_bytes(record_uint(d, "allocated"), allocated, sizeof(allocated));
                const char *image = record_string(d, "image");
                table_add(t, record_string(d, "target"), NULL);
                table_add(t, *record_string(d, "format") ? record_string(d, "format") : "-", NULL);
                table_add(t, virtual_size, NULL);
                table_add(t, allocated, NULL);
                if (now)
                        table_add(t, record_bool(d, "eligible") ? "yes" : "no", NULL);
                table_add(t, *image ? image : "-", NULL);
                if (now)
                        table_add(t, *record_string(d, "reason") ? record_string(d, "reason") : "-", NULL);
        }
        table_print(t, arg.legend);
        table_free(t);
        return 0;
}

/* Every readable job's properties, with its path added as "path". */
static int read_jobs(sd_bus *bus, json_object **ret)
{
        _cleanup_(json_object_putp) json_object *paths = NULL;
        int r = bus_call_json(bus, "cannot list the jobs", &paths, "ListJobs", NULL);
        if (r != 0)
                return r;
        json_object *jobs = json_object_new_array();
        for (size_t i = 0; i < json_object_array_length(paths); i++) {
                const char *path = json_object_get_string(json_object_array_get_idx(paths, i));
                json_object *job = NULL;
                /* A job may end and go between the list and the read: skip it quietly. */
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                sd_bus_error error = SD_BUS_ERROR_NULL;
                r = sd_bus_call_method(bus, SNAPSHOTS_SERVICE, path, "org.freedesktop.DBus.Properties",
                                       "GetAll", &error, &reply, "s", JOB_INTERFACE);
                sd_bus_error_free(&error);
                if (r < 0 || variant_json_read(reply, &job) < 0)
                        continue;
                json_object_object_add(job, "path", json_object_new_string(path));
                json_object_array_add(jobs, job);
        }
        *ret = jobs;
        return 0;
}

int verb_jobs(int argc, char **argv)
{
        sd_bus *bus;
        _cleanup_(json_object_putp) json_object *jobs = NULL;
        int r = bus_get(&bus);
        if (r == 0)
                r = read_jobs(bus, &jobs);
        if (r != 0)
                return r;
        if (arg.json) {
                output_json(jobs);
                return 0;
        }
        table *t = table_new("ID", "OPERATION", "DOMAIN", "SNAPSHOT", "STATE", "PROGRESS", "UID", "RESULT",
                             NULL);
        for (size_t i = 0; i < json_object_array_length(jobs); i++) {
                json_object *j = json_object_array_get_idx(jobs, i);
                const char *state = record_string(j, "State");
                const char *snapshot = record_string(j, "Snapshot");
                table_addf(t, NULL, "%llu", (unsigned long long)record_uint(j, "Id"));
                table_add(t, record_string(j, "Operation"), NULL);
                table_add(t, record_string(j, "Domain"), NULL);
                table_add(t, *snapshot ? snapshot : "-", NULL);
                table_add(t, state, state_color(state));
                if (record_bool(j, "ProgressValid"))
                        table_addf(t, NULL, "%.0f%%", record_double(j, "Progress") * 100.0);
                else
                        table_add(t, "-", NULL);
                table_addf(t, NULL, "%llu", (unsigned long long)record_uint(j, "StartedByUID"));
                const char *result = strcmp(state, "failed") == 0 ? record_string(j, "Error")
                                                                  : record_string(j, "Result");
                table_add(t, *result ? result : "-", NULL);
        }
        table_print(t, arg.legend);
        table_free(t);
        if (arg.legend)
                printf("\n%zu jobs listed.\n", json_object_array_length(jobs));
        return 0;
}

int verb_history(int argc, char **argv)
{
        sd_bus *bus;
        _cleanup_(json_object_putp) json_object *entries = NULL;
        int r = bus_get(&bus);
        if (r == 0)
                r = bus_call_json(bus, "cannot read the history", &entries, "GetHistory", "s", argv[1]);
        if (r != 0)
                return r;
        if (arg.json) {
                output_json(entries);
                return 0;
        }
        table *t = table_new("TIME", "OPERATION", "SNAPSHOT", "UID", "RESULT", "ERROR", NULL);
        for (size_t i = 0; i < json_object_array_length(entries); i++) {
                json_object *e = json_object_array_get_idx(entries, i);
                char when[32];
                const char *result = record_string(e, "result");
                const char *snapshot = record_string(e, "snapshot");
                const char *error = record_string(e, "error");
                format_time((int64_t)(record_uint(e, "time") / 1000000), when, sizeof(when));
                table_add(t, when, NULL);
                table_add(t, record_string(e, "operation"), NULL);
                table_add(t, *snapshot ? snapshot : "-", NULL);
                table_addf(t, NULL, "%llu", (unsigned long long)record_uint(e, "uid"));
                table_add(t, result, state_color(result));
                table_add(t, *error ? error : "-", NULL);
        }
        table_print(t, arg.legend);
        table_free(t);
        return 0;
}

/* For the completion: one name per line, nothing on failure. */
int verb_names(int argc, char **argv)
{
        sd_bus *bus;
        _cleanup_(json_object_putp) json_object *items = NULL;
        const char *what = argv[1];
        const char *key;
        int r = bus_get(&bus);
        if (r != 0)
                return r;
        if (strcmp(what, "domains") == 0) {
                key = "name";
                r = bus_call_json(bus, "cannot list the domains", &items, "ListDomains", NULL);
        } else if (strcmp(what, "snapshots") == 0 && argc > 2) {
                key = "name";
                r = bus_call_json(bus, "cannot list the snapshots", &items, "ListSnapshots", "s", argv[2]);
        } else if (strcmp(what, "jobs") == 0) {
                key = "Id";
                r = read_jobs(bus, &items);
        } else
                return usage_error("__names takes domains, snapshots DOMAIN or jobs, not \"%s\".", what);
        if (r != 0)
                return r;
        for (size_t i = 0; i < json_object_array_length(items); i++) {
                json_object *value;
                if (json_object_object_get_ex(json_object_array_get_idx(items, i), key, &value))
                        puts(json_object_get_string(value));
        }
        return 0;
}
