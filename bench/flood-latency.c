/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* flood-latency: ListSnapshots latency of one caller (p50/p99 over N calls, one at a
 * time on one connection), for bench-flood.sh to measure root's reads with and
 * without a flood from other callers.
 *
 *   flood-latency ADDRESS DOMAIN [CALLS]   prints "p50_ms p99_ms max_ms"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>

static double now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int compare(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
        sd_bus *bus = NULL;
        double *samples;
        int calls;

        if (argc < 3) {
                fprintf(stderr, "usage: flood-latency ADDRESS DOMAIN [CALLS]\n");
                return 2;
        }
        calls = argc > 3 ? atoi(argv[3]) : 500;
        if (calls < 1)
                calls = 1;
        if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, argv[1]) < 0 ||
            sd_bus_set_bus_client(bus, 1) < 0 || sd_bus_start(bus) < 0) {
                fprintf(stderr, "flood-latency: cannot connect to %s\n", argv[1]);
                return 1;
        }
        samples = calloc((size_t)calls, sizeof(double));
        if (!samples)
                abort();
        for (int i = -20; i < calls; i++) { /* the first 20 warm up */
                sd_bus_error error = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                double start = now_ms();
                int r = sd_bus_call_method(bus, "org.example.Snapshots", "/org/example/Snapshots",
                                           "org.example.Snapshots", "ListSnapshots", &error, &reply, "s",
                                           argv[2]);

                if (r < 0) {
                        fprintf(stderr, "flood-latency: %s\n", error.message ? error.message : strerror(-r));
                        return 1;
                }
                if (i >= 0)
                        samples[i] = now_ms() - start;
                sd_bus_message_unref(reply);
                sd_bus_error_free(&error);
        }
        qsort(samples, (size_t)calls, sizeof(double), compare);
        printf("%.3f %.3f %.3f\n", samples[calls / 2], samples[calls * 99 / 100], samples[calls - 1]);
        free(samples);
        sd_bus_flush_close_unref(bus);
        return 0;
}
