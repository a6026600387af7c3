/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rbd-clone-bench: clones an RBD image from vmsnap's snapshot through the engine's RBD
 * layer (plugin/rbd.c), for bench-rbd-clone.sh.
 * rbd-clone-bench CONF POOL IMAGE SNAPSHOT_ID TARGET_POOL TARGET linked|standalone
 * makes TARGET a linked clone (vmsnap_rbd_clone), or a standalone one (the clone, then
 * vmsnap_rbd_image_flatten with byte progress, as a Clone job runs it), and prints
 * "connect_ms N clone_ms N flatten_ms N progress_calls N". */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "rbd.h"

static double now_ms(void)
{
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void count_progress(void *userdata, uint64_t done, uint64_t total)
{
        (*(unsigned *)userdata)++;
}

static bool never_canceled(void *userdata)
{
        return false;
}

int main(int argc, char **argv)
{
        vmsnap_rbd_cluster *cluster = NULL;
        vmsnap_error error = {0};
        unsigned progress_calls = 0;
        vmsnap_hooks hooks = {
                .progress = count_progress, .is_canceled = never_canceled, .userdata = &progress_calls};

        if (argc != 8 || (strcmp(argv[7], "linked") != 0 && strcmp(argv[7], "standalone") != 0)) {
                fprintf(stderr,
                        "usage: %s CONF POOL IMAGE SNAPSHOT_ID TARGET_POOL TARGET linked|standalone\n",
                        argv[0]);
                return 2;
        }
        const char *conf = argv[1], *pool = argv[2], *image = argv[3], *snapshot_id = argv[4],
                   *target_pool = argv[5], *target = argv[6];
        bool standalone = strcmp(argv[7], "standalone") == 0;

        double start = now_ms();
        vmsnap_rbd_cluster_options options = {.config_file = conf};
        if (vmsnap_rbd_cluster_connect(&options, &cluster, &error) < 0) {
                fprintf(stderr, "%s\n", error.message);
                return 1;
        }
        double connected = now_ms();
        if (vmsnap_rbd_clone(cluster, pool, image, snapshot_id, target_pool, target, "bench", &error) < 0) {
                fprintf(stderr, "%s\n", error.message);
                vmsnap_rbd_cluster_disconnect(cluster);
                return 1;
        }
        double cloned = now_ms();
        if (standalone && vmsnap_rbd_image_flatten(cluster, target_pool, target, &hooks, &error) < 0) {
                fprintf(stderr, "%s\n", error.message);
                vmsnap_rbd_cluster_disconnect(cluster);
                return 1;
        }
        double flattened = now_ms();
        vmsnap_rbd_cluster_disconnect(cluster);
        printf("connect_ms %.1f clone_ms %.1f flatten_ms %.1f progress_calls %u\n", connected - start,
               cloned - connected, flattened - cloned, progress_calls);
        return 0;
}
