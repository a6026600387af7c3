/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rbd-bench: vmsnap's operations on domains with RBD disks, timed through the engine as
 * vmsnapd runs them (one engine for the whole run), for bench-rbd.sh. It reads one
 * request a line on stdin and answers each with one line on stdout:
 *   snapshot DOMAIN [NAME]              vmsnap_snapshot_create   -> "ms T name NAME"
 *   clone DOMAIN SNAPSHOT NEW linked|standalone POOL
 *                                       vmsnap_snapshot_clone, each RBD disk's image
 *                                       into POOL               -> "ms T progress N
 *                                       progress_span_ms S" (first to last progress call)
 *   layer-snapshot CONF POOL IMAGE ID   the engine's RBD layer alone: connect, then
 *                                       vmsnap_rbd_snapshot_create (the floor under
 *                                       "snapshot")             -> "ms T"
 * or "error SENTENCE". rbd-bench URI STATE_DIR opens the engine on URI with its
 * metadata in STATE_DIR. The script removes what the requests made. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "rbd.h"
#include "vmsnap/vmsnap.h"

#define MAX_WORDS 8

static double now_ms(void)
{
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* A clone's progress: how often it was called, and when first and last. For a standalone
 * clone of an RBD disk the calls come from the flatten, so that span is the flatten's. */
typedef struct progress_seen {
        unsigned calls;
        double first_ms, last_ms;
} progress_seen;

static void count_progress(void *userdata, uint64_t done, uint64_t total)
{
        progress_seen *seen = userdata;

        seen->last_ms = now_ms();
        if (seen->calls++ == 0)
                seen->first_ms = seen->last_ms;
}

static int snapshot(vmsnap_engine *engine, char **words, size_t n, vmsnap_error *error)
{
        vmsnap_create_options options = {.name = n > 2 ? words[2] : NULL};
        char *name = NULL;

        double start = now_ms();
        if (vmsnap_snapshot_create(engine, words[1], &options, NULL, &name, error) < 0)
                return -1;
        printf("ms %.1f name %s\n", now_ms() - start, name);
        free(name);
        return 0;
}

static int clone_domain(vmsnap_engine *engine, char **words, vmsnap_error *error)
{
        progress_seen seen = {0};
        vmsnap_hooks hooks = {.progress = count_progress, .userdata = &seen};
        /* The bench's domains have one disk, vda: its clone goes to POOL. */
        vmsnap_clone_disk disk = {.target = "vda", .include = 1, .rbd_pool = words[5]};
        vmsnap_clone_options options = {
                .linked = strcmp(words[4], "linked") == 0, .disks = &disk, .n_disks = 1};
        char *name = NULL;

        if (!options.linked && strcmp(words[4], "standalone") != 0) {
                vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                 "a clone is linked or standalone, not '%s'", words[4]);
                return -1;
        }
        double start = now_ms();
        if (vmsnap_snapshot_clone(engine, words[1], words[2], words[3], &options, &hooks, &name, error) < 0)
                return -1;
        printf("ms %.1f progress %u progress_span_ms %.1f\n", now_ms() - start, seen.calls,
               seen.last_ms - seen.first_ms);
        free(name);
        return 0;
}

static int layer_snapshot(char **words, vmsnap_error *error)
{
        vmsnap_rbd_cluster_options options = {.config_file = words[1]};
        vmsnap_rbd_cluster *cluster = NULL;
        int r;

        double start = now_ms();
        if (vmsnap_rbd_cluster_connect(&options, &cluster, error) < 0)
                return -1;
        r = vmsnap_rbd_snapshot_create(cluster, words[2], words[3], words[4], error);
        vmsnap_rbd_cluster_disconnect(cluster);
        if (r < 0)
                return -1;
        printf("ms %.1f\n", now_ms() - start);
        return 0;
}

int main(int argc, char **argv)
{
        vmsnap_engine *engine = NULL;
        vmsnap_error error = {0};
        char line[1024];

        if (argc != 3) {
                fprintf(stderr, "usage: rbd-bench URI STATE_DIR (requests on stdin)\n");
                return 2;
        }
        if (vmsnap_engine_new(argv[1], argv[2], &engine, &error) < 0) {
                fprintf(stderr, "rbd-bench: %s\n", error.message);
                return 1;
        }
        while (fgets(line, sizeof(line), stdin)) {
                char *words[MAX_WORDS], *save = NULL;
                size_t n = 0;
                int r;

                for (char *w = strtok_r(line, " \t\n", &save); w && n < MAX_WORDS;
                     w = strtok_r(NULL, " \t\n", &save))
                        words[n++] = w;
                if (n == 0)
                        continue;
                vmsnap_error_clear(&error);
                if (strcmp(words[0], "snapshot") == 0 && (n == 2 || n == 3))
                        r = snapshot(engine, words, n, &error);
                else if (strcmp(words[0], "clone") == 0 && n == 6)
                        r = clone_domain(engine, words, &error);
                else if (strcmp(words[0], "layer-snapshot") == 0 && n == 5)
                        r = layer_snapshot(words, &error);
                else
                        r = vmsnap_error_set(
                                &error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                "'%s' is not a request rbd-bench knows, or its arguments are wrong",
                                words[0]);
                if (r < 0)
                        printf("error %s\n", error.message);
                fflush(stdout);
        }
        vmsnap_engine_free(engine);
        return 0;
}
