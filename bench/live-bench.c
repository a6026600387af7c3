/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* live-bench: times vmsnap's live snapshots of a running domain through the
 * engine, for bench-live.sh. live-bench URI STATE_DIR DOMAIN disk|memory COUNT
 * prints one line per snapshot: "ms <wall time>" and, with memory, the pause
 * ("downtime_ms") that libvirt's completed job statistics report.
 * live-bench URI watch DOMAIN SECONDS prints "paused_ms <n>" for every pause of the
 * domain (suspended to resumed lifecycle events) within SECONDS. */
#include <libvirt/libvirt.h>
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

static long long downtime_ms(virConnectPtr connection, const char *domain)
{
        virDomainPtr d = virDomainLookupByName(connection, domain);
        virTypedParameterPtr params = NULL;
        int type, n = 0;
        unsigned long long value = 0;
        long long result = -1;

        if (d && virDomainGetJobStats(d, &type, &params, &n, VIR_DOMAIN_JOB_STATS_COMPLETED) == 0 &&
            virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_DOWNTIME, &value) == 1)
                result = (long long)value;
        virTypedParamsFree(params, n);
        if (d)
                virDomainFree(d);
        return result;
}

static double paused_at = -1;

static int on_lifecycle(virConnectPtr connection, virDomainPtr domain, int event, int detail, void *opaque)
{
        if (event == VIR_DOMAIN_EVENT_SUSPENDED)
                paused_at = now_ms();
        else if (event == VIR_DOMAIN_EVENT_RESUMED && paused_at >= 0) {
                printf("paused_ms %.1f\n", now_ms() - paused_at);
                fflush(stdout);
                paused_at = -1;
        }
        return 0;
}

static int watch(const char *uri, const char *domain, int seconds)
{
        virConnectPtr connection;
        virDomainPtr d;
        double end;

        virEventRegisterDefaultImpl();
        connection = virConnectOpen(uri);
        d = connection ? virDomainLookupByName(connection, domain) : NULL;
        if (!d || virConnectDomainEventRegisterAny(connection, d, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                   VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), NULL, NULL) < 0)
                return 1;
        printf("ready\n");
        fflush(stdout);
        end = now_ms() + seconds * 1e3;
        while (now_ms() < end)
                virEventRunDefaultImpl();
        virDomainFree(d);
        virConnectClose(connection);
        return 0;
}

int main(int argc, char **argv)
{
        if (argc == 5 && strcmp(argv[2], "watch") == 0)
                return watch(argv[1], argv[3], atoi(argv[4]));
        vmsnap_engine *engine = NULL;
        vmsnap_error error = {0};
        virConnectPtr connection;

        if (argc != 6) {
                fprintf(stderr, "usage: live-bench URI STATE_DIR DOMAIN disk|memory COUNT\n");
                return 2;
        }
        bool memory = strcmp(argv[4], "memory") == 0;
        int count = atoi(argv[5]);
        if (vmsnap_engine_new(argv[1], argv[2], &engine, &error) < 0) {
                fprintf(stderr, "live-bench: %s\n", error.message);
                return 1;
        }
        connection = virConnectOpen(argv[1]);
        for (int i = 0; i < count; i++) {
                vmsnap_create_options options = {.memory = memory};
                double start = now_ms();
                if (vmsnap_snapshot_create(engine, argv[3], &options, NULL, NULL, &error) < 0) {
                        fprintf(stderr, "live-bench: %s\n", error.message);
                        return 1;
                }
                double elapsed = now_ms() - start;
                if (memory)
                        printf("ms %.1f downtime_ms %lld\n", elapsed, downtime_ms(connection, argv[3]));
                else
                        printf("ms %.1f\n", elapsed);
        }
        virConnectClose(connection);
        vmsnap_engine_free(engine);
        return 0;
}
