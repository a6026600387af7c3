/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* delete-all-bench.c: drives vmsnap's engine for bench-delete-all.sh, which builds the
 * chains and runs the qemu-img and virsh references beside it.
 *
 *   delete-all-bench URI STATE_DIR DOMAIN create
 *           takes one snapshot (the script writes data between two of them)
 *   delete-all-bench URI STATE_DIR DOMAIN delete-all [into_original]
 *           times vmsnap_snapshot_delete_all() and prints one line:
 *           "seconds=S write_bytes=B" (B: this process's write_bytes from /proc/self/io,
 *           which counts the qemu-img children it has reaped: the offline work)
 * On stderr, the job's messages and progress with the milliseconds since the call began,
 * so that a slow step shows where its time went. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmsnap/vmsnap.h"

static double now_ms(void)
{
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

typedef struct trace {
        double start;
        uint64_t last_total; /* progress lines are printed when the total or a tenth changes */
        uint64_t last_tenth;
} trace;

static void on_message(void *userdata, const char *text)
{
        trace *t = userdata;

        fprintf(stderr, "%9.1f ms  %s\n", now_ms() - t->start, text);
}

static void on_progress(void *userdata, uint64_t done, uint64_t total)
{
        trace *t = userdata;
        uint64_t tenth = total ? done * 10 / total : 0;

        if (total == t->last_total && tenth == t->last_tenth)
                return;
        t->last_total = total;
        t->last_tenth = tenth;
        fprintf(stderr, "%9.1f ms  progress %" PRIu64 "/%" PRIu64 "\n", now_ms() - t->start, done, total);
}

/* Bytes this process and the children it has waited for caused to be written. */
static long long write_bytes(void)
{
        char line[256];
        long long value = -1;
        FILE *io = fopen("/proc/self/io", "re");

        if (!io)
                return -1;
        while (fgets(line, sizeof(line), io))
                if (sscanf(line, "write_bytes: %lld", &value) == 1)
                        break;
        fclose(io);
        return value;
}

int main(int argc, char **argv)
{
        vmsnap_engine *engine = NULL;
        vmsnap_error error = {0};
        int r;

        if (argc < 5 || (strcmp(argv[4], "create") != 0 && strcmp(argv[4], "delete-all") != 0)) {
                fprintf(stderr,
                        "usage: delete-all-bench URI STATE_DIR DOMAIN create|delete-all [into_original]\n");
                return 2;
        }
        if (vmsnap_engine_new(argv[1], argv[2], &engine, &error) < 0) {
                fprintf(stderr, "delete-all-bench: %s\n", error.message);
                return 1;
        }
        if (strcmp(argv[4], "create") == 0) {
                r = vmsnap_snapshot_create(engine, argv[3], NULL, NULL, NULL, &error);
        } else {
                vmsnap_delete_all_options options = {.into_original = argc > 5 &&
                                                                      strcmp(argv[5], "into_original") == 0};
                trace t = {.start = now_ms(), .last_total = UINT64_MAX};
                vmsnap_hooks hooks = {.progress = on_progress, .message = on_message, .userdata = &t};
                long long before = write_bytes();

                r = vmsnap_snapshot_delete_all(engine, argv[3], &options, &hooks, &error);
                fprintf(stderr, "%9.1f ms  returned %d\n", now_ms() - t.start, r);
                if (r == 0)
                        printf("seconds=%.3f write_bytes=%lld\n", (now_ms() - t.start) / 1e3,
                               write_bytes() - before);
        }
        if (r < 0)
                fprintf(stderr, "delete-all-bench: %s\n", error.message);
        vmsnap_engine_free(engine);
        return r < 0 ? 1 : 0;
}
