/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bus-latency: measures vmsnapd's read path through the bus: ListSnapshots and
 * GetSnapshot latency (p50/p99 over N calls), and reads per second with C
 * concurrent clients, each on its own connection.
 *
 * Anchors run in the same process, so the figures can be read against what the
 * bus and sd-bus themselves cost: a Ping round trip (the smallest call); a "floor"
 * server on the same bus that answers ListSnapshots with the records vmsnapd gave,
 * serialized for each answer by vmsnapd's own code (dbus/records.c), and does
 * nothing else (what the bus and the reply's size cost without vmsnapd's work);
 * the same floor server over a socket pair, with no bus daemon between (what
 * sd-bus alone costs); and the building of that reply in memory, never sent, beside
 * the same records as an array of structs (what a leaner reply would cost).
 *
 *   bus-latency ADDRESS DOMAIN SNAPSHOT [CALLS] [CLIENTS] [SECONDS]
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-bus.h>
#include <time.h>

#include "../dbus/records.h"
#include "../plugin/util.h"

static const char *address, *domain, *snapshot;

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static sd_bus *connect_bus(void)
{
        sd_bus *bus = NULL;
        if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, address) < 0 ||
            sd_bus_set_bus_client(bus, 1) < 0 || sd_bus_start(bus) < 0) {
                fprintf(stderr, "bus-latency: cannot connect to %s\n", address);
                exit(1);
        }
        return bus;
}

typedef enum request {
        LIST_SNAPSHOTS,
        GET_SNAPSHOT,
        PING,
        FLOOR_LIST,
        PEER_LIST,
} request;

static const char *const request_names[] = {
        [LIST_SNAPSHOTS] = "ListSnapshots", [GET_SNAPSHOT] = "GetSnapshot", [PING] = "Peer.Ping",
        [FLOOR_LIST] = "floor List",        [PEER_LIST] = "no bus daemon",
};

#define FLOOR_NAME "org.example.SnapshotsBenchFloor"

static int call(sd_bus *bus, request what)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r;

        switch (what) {
        case LIST_SNAPSHOTS:
                r = sd_bus_call_method(bus, "org.example.Snapshots", "/org/example/Snapshots",
                                       "org.example.Snapshots", "ListSnapshots", &error, &reply, "s",
                                       domain);
                break;
        case GET_SNAPSHOT:
                r = sd_bus_call_method(bus, "org.example.Snapshots", "/org/example/Snapshots",
                                       "org.example.Snapshots", "GetSnapshot", &error, &reply, "ss", domain,
                                       snapshot);
                break;
        case PING:
                r = sd_bus_call_method(bus, "org.example.Snapshots", "/org/example/Snapshots",
                                       "org.freedesktop.DBus.Peer", "Ping", &error, &reply, NULL);
                break;
        case PEER_LIST:
                r = sd_bus_call_method(bus, NULL, "/floor", FLOOR_NAME, "ListSnapshots", &error, &reply, "s",
                                       domain);
                break;
        case FLOOR_LIST:
        default:
                r = sd_bus_call_method(bus, FLOOR_NAME, "/floor", FLOOR_NAME, "ListSnapshots", &error,
                                       &reply, "s", domain);
                break;
        }
        if (r < 0) {
                fprintf(stderr, "bus-latency: %s\n", error.message ? error.message : strerror(-r));
                exit(1);
        }
        sd_bus_message_unref(reply);
        sd_bus_error_free(&error);
        return 0;
}

static int compare(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

/* Prints p50 and p99 of n samples (sorting them) under name, with what they were. */
static void report(const char *name, double *samples, int n, const char *what)
{
        qsort(samples, (size_t)n, sizeof(double), compare);
        printf("%-14s p50 %7.3f ms   p99 %7.3f ms   (%s)\n", name, samples[n / 2], samples[n * 99 / 100],
               what);
}

static void latency(sd_bus *bus, request what, int calls)
{
        double *samples = calloc((size_t)calls, sizeof(double));
        char described[64];
        for (int i = 0; i < 20; i++)
                call(bus, what); /* warm up */
        for (int i = 0; i < calls; i++) {
                double start = now_ms();
                call(bus, what);
                samples[i] = now_ms() - start;
        }
        snprintf(described, sizeof(described), "%d calls", calls);
        report(request_names[what], samples, calls, described);
        free(samples);
}

/* ---- the floor server: the same reply, with nothing behind it ---- */

static vmsnap_snapshot_info *floor_records;
static size_t n_floor_records;
static volatile bool floor_stop;

static void add_disk(vmsnap_snapshot_info *info, const char *target, const char *reason)
{
        info->disks = xreallocarray(info->disks, info->n_disks + 1, sizeof(*info->disks));
        info->disks[info->n_disks++] = (vmsnap_snapshot_disk){
                .target = xstrdup(strempty(target)),
                .image = reason ? NULL : xstrdup("image"),
                .excluded_reason = reason ? xstrdup(reason) : NULL,
        };
}

/* One a{sv} snapshot record of a ListSnapshots reply back into the engine's struct. */
static int parse_record(sd_bus_message *m, vmsnap_snapshot_info *info)
{
        const char *key, *text, *target, *reason;
        char **strv = NULL;
        int r, b;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r <= 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                if (sd_bus_message_read(m, "s", &key) < 0)
                        return -EIO;
                if (strcmp(key, "created") == 0)
                        r = sd_bus_message_read(m, "v", "x", &info->created);
                else if (strcmp(key, "disks") == 0) {
                        r = sd_bus_message_enter_container(m, 'v', "as");
                        if (r >= 0)
                                r = sd_bus_message_read_strv(m, &strv);
                        for (char **t = strv; r >= 0 && t && *t; t++)
                                add_disk(info, *t, NULL);
                        for (char **t = strv; t && *t; t++)
                                free(*t);
                        free(strv);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(m);
                } else if (strcmp(key, "excluded") == 0) {
                        r = sd_bus_message_enter_container(m, 'v', "a(ss)");
                        if (r >= 0)
                                r = sd_bus_message_enter_container(m, 'a', "(ss)");
                        while (r >= 0 && (r = sd_bus_message_read(m, "(ss)", &target, &reason)) > 0)
                                add_disk(info, target, reason);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(m);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(m);
                } else if (sd_bus_message_peek_type(m, NULL, &text) >= 0 && strcmp(text, "b") == 0) {
                        r = sd_bus_message_read(m, "v", "b", &b);
                        if (strcmp(key, "memory") == 0)
                                info->memory = b;
                        else if (strcmp(key, "current") == 0)
                                info->current = b;
                        else if (strcmp(key, "partial") == 0)
                                info->partial = b;
                        else if (strcmp(key, "locked") == 0)
                                info->locked = b;
                        else if (strcmp(key, "in_preview") == 0)
                                info->in_preview = b;
                } else if (sd_bus_message_peek_type(m, NULL, &text) >= 0 && strcmp(text, "t") == 0) {
                        uint64_t bytes = 0;
                        r = sd_bus_message_read(m, "v", "t", &bytes);
                        if (strcmp(key, "size") == 0)
                                info->size = bytes;
                        else if (strcmp(key, "reclaimable") == 0)
                                info->reclaimable = bytes;
                } else if (sd_bus_message_peek_type(m, NULL, &text) >= 0 && strcmp(text, "u") == 0) {
                        uint32_t count = 0;
                        r = sd_bus_message_read(m, "v", "u", &count);
                        /* Only the count travels; the floor's record holds as many empty ids. */
                        if (r >= 0 && strcmp(key, "children") == 0) {
                                info->children_ids = xcalloc(count + 1, sizeof(char *));
                                info->n_children = count;
                        }
                } else if (sd_bus_message_peek_type(m, NULL, &text) >= 0 && strcmp(text, "s") != 0) {
                        r = sd_bus_message_skip(m, "v");
                } else {
                        r = sd_bus_message_read(m, "v", "s", &text);
                        if (r >= 0) {
                                char **field = strcmp(key, "id") == 0            ? &info->id
                                               : strcmp(key, "name") == 0        ? &info->name
                                               : strcmp(key, "description") == 0 ? &info->description
                                               : strcmp(key, "parent") == 0      ? &info->parent_id
                                                                                 : &info->state;
                                free(*field);
                                *field = xstrdup(text);
                        }
                }
                if (r < 0 || sd_bus_message_exit_container(m) < 0)
                        return -EIO;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m) < 0 ? -EIO : 1;
}

static int parse_records(sd_bus_message *m)
{
        vmsnap_snapshot_info info;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "a{sv}");
        if (r < 0)
                return r;
        for (;;) {
                info = (vmsnap_snapshot_info){0};
                r = parse_record(m, &info);
                if (r <= 0)
                        break;
                floor_records = xreallocarray(floor_records, n_floor_records + 1, sizeof(*floor_records));
                floor_records[n_floor_records++] = info;
        }
        vmsnap_snapshot_info_clear(&info);
        return r;
}

static int floor_append_records(sd_bus_message *reply)
{
        int r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (size_t i = 0; r >= 0 && i < n_floor_records; i++)
                r = bus_append_snapshot_record(reply, &floor_records[i]);
        return r < 0 ? r : sd_bus_message_close_container(reply);
}

static int floor_list(sd_bus_message *message, void *userdata, sd_bus_error *error)
{
        sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(message, &reply);
        if (r >= 0)
                r = floor_append_records(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        sd_bus_message_unref(reply);
        return r < 0 ? r : 1;
}

static const sd_bus_vtable floor_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("ListSnapshots", "s", "aa{sv}", floor_list, 0),
        SD_BUS_VTABLE_END,
};

static pthread_mutex_t floor_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t floor_ready = PTHREAD_COND_INITIALIZER;
static bool floor_up;

/* The floor server on the bus (peer_fd < 0), which first reads vmsnapd's records, or
 * on one end of a socket pair (the records read already). */
static void *floor_server(void *userdata)
{
        int peer_fd = *(int *)userdata;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *template = NULL;
        sd_bus *bus = NULL;
        sd_id128_t id;

        if (peer_fd < 0) {
                bus = connect_bus();
                if (sd_bus_call_method(bus, "org.example.Snapshots", "/org/example/Snapshots",
                                       "org.example.Snapshots", "ListSnapshots", &error, &template, "s",
                                       domain) < 0 ||
                    parse_records(template) < 0 || sd_bus_request_name(bus, FLOOR_NAME, 0) < 0) {
                        fprintf(stderr, "bus-latency: cannot start the floor server\n");
                        exit(1);
                }
        } else if (sd_bus_new(&bus) < 0 || sd_bus_set_fd(bus, peer_fd, peer_fd) < 0 ||
                   sd_id128_randomize(&id) < 0 || sd_bus_set_server(bus, 1, id) < 0 ||
                   sd_bus_set_anonymous(bus, 1) < 0 || sd_bus_start(bus) < 0) {
                fprintf(stderr, "bus-latency: cannot start the floor server on a socket pair\n");
                exit(1);
        }
        if (sd_bus_add_object_vtable(bus, NULL, "/floor", FLOOR_NAME, floor_vtable, NULL) < 0) {
                fprintf(stderr, "bus-latency: cannot serve the floor object\n");
                exit(1);
        }
        pthread_mutex_lock(&floor_lock);
        floor_up = true;
        pthread_cond_signal(&floor_ready);
        pthread_mutex_unlock(&floor_lock);
        while (!floor_stop) {
                int r = sd_bus_process(bus, NULL);
                if (r == 0)
                        sd_bus_wait(bus, 100 * 1000);
        }
        sd_bus_message_unref(template);
        sd_bus_flush_close_unref(bus);
        return NULL;
}

static void floor_start(pthread_t *thread, int *peer_fd)
{
        floor_up = false;
        floor_stop = false;
        pthread_create(thread, NULL, floor_server, peer_fd);
        pthread_mutex_lock(&floor_lock);
        while (!floor_up)
                pthread_cond_wait(&floor_ready, &floor_lock);
        pthread_mutex_unlock(&floor_lock);
}

static void floor_end(pthread_t thread)
{
        floor_stop = true;
        pthread_join(thread, NULL);
}

/* The same records as an array of structs, one struct per snapshot (fields in the
 * order of ListSnapshots' keys): what a leaner reply than aa{sv} would cost. */
static int append_struct_records(sd_bus_message *m)
{
        int r = sd_bus_message_open_container(m, 'a', "(ssssxsasa(ss)bbbbb)");
        for (size_t i = 0; r >= 0 && i < n_floor_records; i++) {
                const vmsnap_snapshot_info *info = &floor_records[i];
                r = sd_bus_message_open_container(m, 'r', "ssssxsasa(ss)bbbbb");
                if (r >= 0)
                        r = sd_bus_message_append(m, "ssssxs", info->id, info->name, info->description,
                                                  info->parent_id, info->created, info->state);
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'a', "s");
                for (size_t d = 0; r >= 0 && d < info->n_disks; d++)
                        if (info->disks[d].image)
                                r = sd_bus_message_append_basic(m, 's', info->disks[d].target);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'a', "(ss)");
                for (size_t d = 0; r >= 0 && d < info->n_disks; d++)
                        if (!info->disks[d].image)
                                r = sd_bus_message_append(m, "(ss)", info->disks[d].target,
                                                          info->disks[d].excluded_reason);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_message_append(m, "bbbbb", info->memory, info->current, info->partial,
                                                  info->locked, info->in_preview);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        return r < 0 ? r : sd_bus_message_close_container(m);
}

/* The floor's reply built in memory on the bus connection, never sent: as vmsnapd
 * builds it (aa{sv}), and as an array of structs. */
static void build_latency(sd_bus *bus, int calls, bool structs)
{
        double *samples = calloc((size_t)calls, sizeof(double));
        char described[96];
        for (int i = 0; i < calls; i++) {
                sd_bus_message *m = NULL;
                double start = now_ms();
                if (sd_bus_message_new_method_call(bus, &m, FLOOR_NAME, "/floor", FLOOR_NAME, "X") < 0 ||
                    (structs ? append_struct_records(m) : floor_append_records(m)) < 0) {
                        fprintf(stderr, "bus-latency: cannot build the reply\n");
                        exit(1);
                }
                samples[i] = now_ms() - start;
                sd_bus_message_unref(m);
        }
        snprintf(described, sizeof(described), "%d replies of %zu records built, not sent", calls,
                 n_floor_records);
        report(structs ? "build a(...)" : "build aa{sv}", samples, calls, described);
        free(samples);
}

static double deadline;
static long total_reads;
static pthread_mutex_t total_lock = PTHREAD_MUTEX_INITIALIZER;

static void *reader(void *userdata)
{
        sd_bus *bus = connect_bus();
        long reads = 0;
        while (now_ms() < deadline) {
                call(bus, GET_SNAPSHOT);
                reads++;
        }
        pthread_mutex_lock(&total_lock);
        total_reads += reads;
        pthread_mutex_unlock(&total_lock);
        sd_bus_flush_close_unref(bus);
        return NULL;
}

int main(int argc, char **argv)
{
        if (argc < 4) {
                fprintf(stderr, "usage: bus-latency ADDRESS DOMAIN SNAPSHOT [CALLS] [CLIENTS] [SECONDS]\n");
                return 2;
        }
        address = argv[1];
        domain = argv[2];
        snapshot = argv[3];
        int calls = argc > 4 ? atoi(argv[4]) : 500;
        int clients = argc > 5 ? atoi(argv[5]) : 8;
        double seconds = argc > 6 ? atof(argv[6]) : 5;

        sd_bus *bus = connect_bus();
        latency(bus, LIST_SNAPSHOTS, calls);
        latency(bus, GET_SNAPSHOT, calls * 4);

        pthread_t floor_thread;
        int no_fd = -1, pair[2];
        floor_start(&floor_thread, &no_fd);
        printf("anchors on the same bus:\n");
        latency(bus, PING, calls * 4);
        latency(bus, FLOOR_LIST, calls);
        floor_end(floor_thread);

        /* The floor again, over a socket pair: sd-bus on both ends, no bus daemon between. */
        sd_bus *peer = NULL;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0 || sd_bus_new(&peer) < 0 ||
            sd_bus_set_fd(peer, pair[0], pair[0]) < 0) {
                fprintf(stderr, "bus-latency: cannot make a socket pair\n");
                return 1;
        }
        floor_start(&floor_thread, &pair[1]);
        if (sd_bus_start(peer) < 0) {
                fprintf(stderr, "bus-latency: cannot talk to the floor server on the socket pair\n");
                return 1;
        }
        printf("the floor without the bus:\n");
        latency(peer, PEER_LIST, calls);
        floor_end(floor_thread);
        sd_bus_flush_close_unref(peer);
        build_latency(bus, calls, false);
        build_latency(bus, calls, true);
        sd_bus_flush_close_unref(bus);
        vmsnap_snapshot_info_array_free(floor_records, n_floor_records);

        pthread_t threads[64];
        if (clients > 64)
                clients = 64;
        deadline = now_ms() + seconds * 1e3;
        for (int i = 0; i < clients; i++)
                pthread_create(&threads[i], NULL, reader, NULL);
        for (int i = 0; i < clients; i++)
                pthread_join(threads[i], NULL);
        printf("GetSnapshot    %.0f reads/s with %d concurrent clients over %.0f s\n", total_reads / seconds,
               clients, seconds);
        return 0;
}
