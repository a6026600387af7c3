/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rbd-sizes.c: see rbd-sizes.h. */
#include <pthread.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "rbd-sizes.h"
#include "util.h"

#if HAVE_RBD
#include "rbd-disk.h"
#include "rbd.h"

/* Figures that cannot change (the snapshot, the one before it and the one after it are all
 * snapshots), keyed "pool/image@before>id>after"; the oldest go first. */
#define USAGE_CACHE_MAX 1024

typedef struct usage_entry {
        char *key;
        uint64_t held, freed;
} usage_entry;

static pthread_mutex_t usage_lock = PTHREAD_MUTEX_INITIALIZER;
static usage_entry usage_cache[USAGE_CACHE_MAX];
static size_t usage_next;

static bool usage_lookup(const char *key, uint64_t *held, uint64_t *freed)
{
        bool found = false;

        pthread_mutex_lock(&usage_lock);
        for (size_t i = 0; i < USAGE_CACHE_MAX && !found; i++)
                if (usage_cache[i].key && strcmp(usage_cache[i].key, key) == 0) {
                        *held = usage_cache[i].held;
                        *freed = usage_cache[i].freed;
                        found = true;
                }
        pthread_mutex_unlock(&usage_lock);
        return found;
}

static void usage_store(const char *key, uint64_t held, uint64_t freed)
{
        pthread_mutex_lock(&usage_lock);
        usage_entry *slot = &usage_cache[usage_next];
        usage_next = (usage_next + 1) % USAGE_CACHE_MAX;
        free(slot->key);
        *slot = (usage_entry){xstrdup(key), held, freed};
        pthread_mutex_unlock(&usage_lock);
}

/* The record of snapshot id among infos, or NULL. */
static vmsnap_snapshot_info *info_of(vmsnap_snapshot_info *infos, size_t n, const char *id)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(infos[i].id, id) == 0)
                        return &infos[i];
        return NULL;
}

/* Adds the figures of the snapshots of one image ("pool[/namespace]/image") to the records
 * of those listed. */
static void image_sizes_add(vmsnap_op *op, const char *image_name, vmsnap_snapshot_info *infos, size_t n)
{
        vmsnap_rbd_disk *disk = NULL;
        vmsnap_rbd_snapshot *snapshots = NULL;
        size_t n_snapshots = 0;
        _cleanup_free_ char *owner = NULL;
        vmsnap_error error = {0};

        vmsnap_error *saved = op->error;
        op->error = &error;
        int r = vmsnap_rbd_disk_open_image(op, NULL, image_name, &disk);
        op->error = saved;
        if (r < 0)
                return; /* unreachable now: the records say what the files hold */
        _cleanup_free_ char *pool = vmsnap_rbd_disk_pool(disk);
        const char *image = strrchr(image_name, '/') + 1;
        vmsnap_rbd_cluster *cluster = vmsnap_rbd_disk_cluster(disk);
        if (vmsnap_rbd_snapshot_list(cluster, pool, image, &snapshots, &n_snapshots, &error) < 0 ||
            vmsnap_rbd_image_owner(cluster, pool, image, &owner, &error) < 0)
                goto out;
        bool made = owner && strcmp(owner, op->meta->uuid) == 0;
        for (size_t k = 0; k < n_snapshots; k++) {
                const char *id = snapshots[k].vmsnap_id;
                vmsnap_snapshot_info *info = id ? info_of(infos, n, id) : NULL;
                if (!info)
                        continue;
                const char *before = k > 0 ? snapshots[k - 1].vmsnap_id : NULL;
                const char *after = k + 1 < n_snapshots ? snapshots[k + 1].vmsnap_id : NULL;
                _cleanup_free_ char *key =
                        xasprintf("%s@%s>%s>%s", image_name, before ? before : "", id, after ? after : "");
                uint64_t held = 0, freed = 0;
                if (!after || !usage_lookup(key, &held, &freed)) {
                        if (vmsnap_rbd_snapshot_usage(cluster, pool, image, before, id, after, &held, &freed,
                                                      &error) < 0) {
                                vmsnap_error_clear(&error);
                                continue;
                        }
                        if (after)
                                usage_store(key, held, freed);
                }
                /* Removed while a clone reads it, it waits in the trash: nothing is freed. */
                bool read_by_clones = false;
                if (freed &&
                    vmsnap_rbd_snapshot_has_clones(cluster, pool, image, id, &read_by_clones, &error) < 0)
                        vmsnap_error_clear(&error);
                if (before || made)
                        info->size += held;
                if (!read_by_clones)
                        info->reclaimable += freed;
        }
out:
        vmsnap_error_clear(&error);
        vmsnap_rbd_snapshots_free(snapshots, n_snapshots);
        vmsnap_rbd_disk_close(disk);
}

void vmsnap_rbd_sizes_add(vmsnap_op *op, vmsnap_snapshot_info *infos, size_t n)
{
        char **images = NULL;
        size_t n_images = 0;

        /* Each image once, whatever number of snapshots froze it. */
        for (size_t i = 0; i < op->meta->n_snapshots; i++) {
                const vmsnap_snapshot *s = op->meta->snapshots[i];
                for (size_t j = 0; j < s->n_disks; j++) {
                        const char *name = s->disks[j].rbd_snapshot;
                        if (!name || !strchr(name, '@'))
                                continue;
                        char *image_name = xstrndup(name, (size_t)(strrchr(name, '@') - name));
                        bool seen = false;
                        for (size_t k = 0; k < n_images && !seen; k++)
                                seen = strcmp(images[k], image_name) == 0;
                        if (seen || !strchr(image_name, '/')) {
                                free(image_name);
                                continue;
                        }
                        images = xreallocarray(images, n_images + 1, sizeof(*images));
                        images[n_images++] = image_name;
                }
        }
        for (size_t k = 0; k < n_images; k++) {
                image_sizes_add(op, images[k], infos, n);
                free(images[k]);
        }
        free(images);
}

void vmsnap_rbd_image_infos_fill(vmsnap_op *op, vmsnap_image_info *images, size_t n)
{
        static const char prefix[] = "rbd:", snapshot_prefix[] = "@vmsnap-";

        for (size_t i = 0; i < n; i++) {
                const char *name = images[i].image;
                const char *at =
                        name && strncmp(name, prefix, strlen(prefix)) == 0 ? strrchr(name, '@') : NULL;
                if (!at || strncmp(at, snapshot_prefix, strlen(snapshot_prefix)) != 0)
                        continue;
                _cleanup_free_ char *image_name =
                        xstrndup(name + strlen(prefix), (size_t)(at - name) - strlen(prefix));
                vmsnap_rbd_disk *disk = NULL;
                vmsnap_error error = {0}, *saved = op->error;
                op->error = &error;
                int r = strchr(image_name, '/') ? vmsnap_rbd_disk_open_image(op, NULL, image_name, &disk)
                                                : -EINVAL;
                op->error = saved;
                if (r == 0) {
                        _cleanup_free_ char *pool = vmsnap_rbd_disk_pool(disk);
                        (void)vmsnap_rbd_image_sizes(vmsnap_rbd_disk_cluster(disk), pool,
                                                     strrchr(image_name, '/') + 1, NULL,
                                                     at + strlen(snapshot_prefix), &images[i].virtual_size,
                                                     &images[i].allocated, &error);
                }
                vmsnap_error_clear(&error);
                vmsnap_rbd_disk_close(disk);
        }
}

#else

void vmsnap_rbd_image_infos_fill(vmsnap_op *op, vmsnap_image_info *images, size_t n)
{
        (void)op;
        (void)images;
        (void)n;
}

void vmsnap_rbd_sizes_add(vmsnap_op *op, vmsnap_snapshot_info *infos, size_t n)
{
        (void)op;
        (void)infos;
        (void)n;
}

#endif
