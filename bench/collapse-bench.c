/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* collapse-bench.c: runs vmsnap's collapse engine directly, the way clone does, and
 * prints how long it took and the process's peak memory. Driven by bench-clone.sh.
 *
 *   collapse-bench [--workers N] [--format raw|qcow2] SOURCE TARGET [SOURCE TARGET ...]
 *
 * Every pair is collapsed in one vmsnap_collapse_run() call, in parallel on one pool.
 * Output, one line: "seconds=S bytes=B peak_rss_kib=K maxrss_kib=M" (K: VmHWM of this process;
 * M: getrusage()'s ru_maxrss, which includes what the forked shell used before execve()). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "collapse.h"

static void on_message(void *userdata, const char *text)
{
        fprintf(stderr, "note: %s\n", text);
}

typedef struct progress_state {
        uint64_t done;
} progress_state;

static void on_progress(void *userdata, uint64_t done, uint64_t total)
{
        progress_state *state = userdata;

        state->done = done;
}

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
        return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* Peak resident memory of this process in KiB: VmHWM, which starts afresh at execve(), unlike
 * getrusage()'s ru_maxrss (Linux keeps that of the forked shell). */
static long peak_rss_kib(void)
{
        char line[256];
        long value = -1;
        FILE *status = fopen("/proc/self/status", "re");

        if (!status)
                return -1;
        while (fgets(line, sizeof(line), status))
                if (sscanf(line, "VmHWM: %ld kB", &value) == 1)
                        break;
        fclose(status);
        return value;
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
                {"workers", required_argument, NULL, 'w'},
                {"format", required_argument, NULL, 'f'},
                {},
        };
        vmsnap_image_format format = VMSNAP_FORMAT_QCOW2;
        vmsnap_collapse_item *items;
        vmsnap_pool *pool = NULL;
        vmsnap_error error = {0};
        unsigned workers = 0;
        progress_state state = {0};
        struct timespec start, end;
        struct rusage usage;
        size_t n_items;
        int c, r;

        while ((c = getopt_long(argc, argv, "w:f:", options, NULL)) >= 0) {
                switch (c) {
                case 'w':
                        workers = (unsigned)strtoul(optarg, NULL, 10);
                        break;
                case 'f':
                        if (vmsnap_image_format_parse(optarg, &format) < 0) {
                                fprintf(stderr, "unknown format %s\n", optarg);
                                return 2;
                        }
                        break;
                default:
                        return 2;
                }
        }
        if (argc - optind < 2 || (argc - optind) % 2 != 0) {
                fprintf(stderr,
                        "usage: %s [--workers N] [--format raw|qcow2] SOURCE TARGET [SOURCE TARGET ...]\n",
                        argv[0]);
                return 2;
        }

        n_items = (size_t)(argc - optind) / 2;
        items = calloc(n_items, sizeof(*items));
        if (!items)
                return 1;
        for (size_t i = 0; i < n_items; i++)
                items[i] = (vmsnap_collapse_item){
                        .source = argv[optind + 2 * i],
                        .target = argv[optind + 2 * i + 1],
                        .format = format,
                };

        if (vmsnap_pool_new(workers, &pool, &error) < 0) {
                fprintf(stderr, "%s\n", error.message);
                return 1;
        }

        vmsnap_hooks hooks = {.progress = on_progress, .message = on_message, .userdata = &state};
        clock_gettime(CLOCK_MONOTONIC, &start);
        r = vmsnap_collapse_run(pool, items, n_items, &hooks, &error);
        clock_gettime(CLOCK_MONOTONIC, &end);
        vmsnap_pool_free(pool);
        free(items);
        if (r < 0) {
                fprintf(stderr, "%s\n", error.message);
                return 1;
        }

        getrusage(RUSAGE_SELF, &usage);
        printf("seconds=%.3f bytes=%llu peak_rss_kib=%ld maxrss_kib=%ld\n", seconds_between(&start, &end),
               (unsigned long long)state.done, peak_rss_kib(), usage.ru_maxrss);
        return 0;
}
