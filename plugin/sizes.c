/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sizes.c: what snapshots occupy and what deleting one would free (see sizes.h).
 * Which files a merge removes and which data it moves is delete.c's plan, run as a
 * dry run; this file turns that plan into bytes: a removed file frees its allocated
 * blocks, a move grows its target by the clusters it did not hold. The allocation
 * maps come from qcow2.c and are cached per file version (device, inode, mtime,
 * size), so a listing reads an image's tables once until the image changes. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chain.h"
#include "delete.h"
#include "error.h"
#include "fileio.h"
#include "guard.h"
#include "qcow2.h"
#include "rbd-sizes.h"
#include "sizes.h"

/* ---- allocation maps, cached per file version ---- */

/* Guest runs of one kind, in order, adjacent runs of a kind merged. */
typedef struct allocation_map {
        char *path;
        dev_t dev;
        ino_t ino;
        struct timespec mtime;
        off_t size;
        uint64_t cluster_size;
        uint64_t virtual_size;
        vmsnap_qcow2_run *runs; /* kind, offset, length only */
        size_t n_runs;
} allocation_map;

/* The cache holds as many maps as the largest domain listed has files (so that a listing's
 * plans, remade every PLANS_MAX_AGE_USEC, find every image's map again), up to
 * MAP_CACHE_MAX_ENTRIES maps and MAP_CACHE_MAX_BYTES of runs and paths: the oldest go first. */
#define MAP_CACHE_MIN_ENTRIES 256
#define MAP_CACHE_MAX_ENTRIES 8192
#define MAP_CACHE_MAX_BYTES (64ULL * 1024 * 1024)

static pthread_mutex_t map_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static allocation_map **map_cache; /* a ring of map_cache_capacity slots */
static size_t map_cache_capacity, map_cache_next;
static uint64_t map_cache_bytes;

static void allocation_map_free(allocation_map *map)
{
        if (!map)
                return;
        free(map->path);
        free(map->runs);
        free(map);
}

static uint64_t allocation_map_cost(const allocation_map *map)
{
        return sizeof(*map) + strlen(map->path) + 1 + map->n_runs * sizeof(*map->runs);
}

/* Makes room for the maps of a domain's files. Called with map_cache_lock held. */
static void map_cache_reserve(size_t files)
{
        size_t wanted = files < MAP_CACHE_MIN_ENTRIES   ? MAP_CACHE_MIN_ENTRIES
                        : files > MAP_CACHE_MAX_ENTRIES ? MAP_CACHE_MAX_ENTRIES
                                                        : files;
        if (wanted <= map_cache_capacity)
                return;
        allocation_map **grown = xreallocarray(map_cache, wanted, sizeof(*grown));
        memset(grown + map_cache_capacity, 0, (wanted - map_cache_capacity) * sizeof(*grown));
        map_cache = grown;
        map_cache_next = map_cache_capacity; /* the new, empty slots are filled first */
        map_cache_capacity = wanted;
}

/* Called with map_cache_lock held. */
static void map_cache_drop(size_t slot)
{
        if (!map_cache[slot])
                return;
        map_cache_bytes -= allocation_map_cost(map_cache[slot]);
        allocation_map_free(map_cache[slot]);
        map_cache[slot] = NULL;
}

static allocation_map *allocation_map_copy(const allocation_map *map)
{
        allocation_map *copy = xmalloc(sizeof(*copy));
        *copy = *map;
        copy->path = xstrdup(map->path);
        copy->runs = xmalloc((map->n_runs + 1) * sizeof(*copy->runs));
        memcpy(copy->runs, map->runs, map->n_runs * sizeof(*copy->runs));
        return copy;
}

static bool same_version(const allocation_map *map, const char *path, const struct stat *st)
{
        /* The numbers first: with thousands of maps, most are told apart without a strcmp. */
        return map->ino == st->st_ino && map->dev == st->st_dev && map->mtime.tv_sec == st->st_mtim.tv_sec &&
               map->mtime.tv_nsec == st->st_mtim.tv_nsec && map->size == st->st_size &&
               strcmp(map->path, path) == 0;
}

static void map_append(allocation_map *map, const vmsnap_qcow2_run *run, size_t *capacity)
{
        vmsnap_qcow2_run *last = map->n_runs ? &map->runs[map->n_runs - 1] : NULL;

        if (last && last->kind == run->kind && last->offset + last->length == run->offset) {
                last->length += run->length;
                return;
        }
        if (map->n_runs == *capacity) {
                *capacity = *capacity ? *capacity * 2 : 64;
                map->runs = xreallocarray(map->runs, *capacity, sizeof(*map->runs));
        }
        map->runs[map->n_runs++] =
                (vmsnap_qcow2_run){.kind = run->kind, .offset = run->offset, .length = run->length};
}

/* Reads the map of the qcow2 image open as fd. */
static int allocation_map_read(int fd, const char *path, allocation_map *map)
{
        const vmsnap_image_format qcow2 = VMSNAP_FORMAT_QCOW2;
        vmsnap_image_header header = {0};
        vmsnap_qcow2 *image = NULL;
        vmsnap_error ignored;
        size_t capacity = 0;
        int r;

        r = vmsnap_image_header_read_fd(fd, path, &qcow2, &header, &ignored);
        if (r == 0)
                r = vmsnap_qcow2_open(fd, path, &header, &image, &ignored);
        if (r < 0) {
                vmsnap_image_header_clear(&header);
                return r;
        }
        map->cluster_size = vmsnap_qcow2_cluster_size(image);
        map->virtual_size = vmsnap_qcow2_virtual_size(image);
        for (uint64_t offset = 0; r == 0 && offset < map->virtual_size;) {
                vmsnap_qcow2_run run;
                r = vmsnap_qcow2_map(image, offset, map->virtual_size - offset, &run, &ignored);
                if (r == 0 && run.length == 0)
                        r = -EBADMSG;
                if (r == 0) {
                        map_append(map, &run, &capacity);
                        offset += run.length;
                }
        }
        vmsnap_qcow2_free(image);
        vmsnap_image_header_clear(&header);
        return r;
}

/* A copy of the map of path as it is now, from the cache when the file has not changed
 * since it was read; NULL when path is not a qcow2 image vmsnap can read. */
static allocation_map *allocation_map_get(const char *path)
{
        allocation_map *map, *copy;
        struct stat st;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return NULL;
        if (fstat(fd, &st) < 0) {
                close(fd);
                return NULL;
        }
        pthread_mutex_lock(&map_cache_lock);
        for (size_t i = 0; i < map_cache_capacity; i++)
                if (map_cache[i] && same_version(map_cache[i], path, &st)) {
                        copy = allocation_map_copy(map_cache[i]);
                        pthread_mutex_unlock(&map_cache_lock);
                        close(fd);
                        return copy;
                }
        pthread_mutex_unlock(&map_cache_lock);

        map = xcalloc(1, sizeof(*map));
        *map = (allocation_map){.path = xstrdup(path),
                                .dev = st.st_dev,
                                .ino = st.st_ino,
                                .mtime = st.st_mtim,
                                .size = st.st_size};
        if (allocation_map_read(fd, path, map) < 0) {
                close(fd);
                allocation_map_free(map);
                return NULL;
        }
        close(fd);

        copy = allocation_map_copy(map);
        uint64_t cost = allocation_map_cost(map);
        if (cost > MAP_CACHE_MAX_BYTES) { /* not kept: it would push out everything else */
                allocation_map_free(map);
                return copy;
        }
        pthread_mutex_lock(&map_cache_lock);
        map_cache_reserve(0);
        for (size_t i = 0; i < map_cache_capacity; i++)
                if (map_cache[i] && strcmp(map_cache[i]->path, path) == 0)
                        map_cache_drop(i); /* an older version of the file */
        map_cache_drop(map_cache_next);    /* the oldest, then the next oldest while over the bound */
        for (size_t k = 1; k < map_cache_capacity && map_cache_bytes + cost > MAP_CACHE_MAX_BYTES; k++)
                map_cache_drop((map_cache_next + k) % map_cache_capacity);
        map_cache[map_cache_next] = map;
        map_cache_bytes += cost;
        map_cache_next = (map_cache_next + 1) % map_cache_capacity;
        pthread_mutex_unlock(&map_cache_lock);
        return copy;
}

/* ---- growth of a merge's target ---- */

/* Cluster index ranges [start, end) of into. */
typedef struct cluster_range {
        uint64_t start, end;
} cluster_range;

static void ranges_add(cluster_range **ranges, size_t *n, size_t *capacity, uint64_t start, uint64_t end)
{
        if (start >= end)
                return;
        if (*n > 0 && (*ranges)[*n - 1].end >= start) {
                if ((*ranges)[*n - 1].end < end)
                        (*ranges)[*n - 1].end = end;
                return;
        }
        if (*n == *capacity) {
                *capacity = *capacity ? *capacity * 2 : 64;
                *ranges = xreallocarray(*ranges, *capacity, sizeof(**ranges));
        }
        (*ranges)[(*n)++] = (cluster_range){start, end};
}

static bool holds_data(vmsnap_extent_kind kind)
{
        return kind == VMSNAP_EXTENT_DATA || kind == VMSNAP_EXTENT_COMPRESSED;
}

uint64_t vmsnap_image_growth(const char *from, const char *into, bool over_zero)
{
        allocation_map *source = allocation_map_get(from), *target = allocation_map_get(into);
        cluster_range *moved = NULL, *held = NULL;
        size_t n_moved = 0, n_held = 0, capacity_moved = 0, capacity_held = 0;
        uint64_t clusters = 0, growth;

        if (!source || !target) {
                /* Not read: at most everything from holds lands in into. */
                allocation_map_free(source);
                allocation_map_free(target);
                return vmsnap_file_allocated(from);
        }
        uint64_t size = target->cluster_size;
        for (size_t i = 0; i < source->n_runs; i++) {
                const vmsnap_qcow2_run *run = &source->runs[i];
                uint64_t end = run->offset + run->length;
                if (!holds_data(run->kind) || run->offset >= target->virtual_size)
                        continue;
                if (end > target->virtual_size)
                        end = target->virtual_size;
                ranges_add(&moved, &n_moved, &capacity_moved, run->offset / size, (end + size - 1) / size);
        }
        for (size_t i = 0; i < target->n_runs; i++) {
                const vmsnap_qcow2_run *run = &target->runs[i];
                /* Only whole clusters: a cluster partly held (subclusters) still takes data. */
                if (holds_data(run->kind) || (!over_zero && run->kind == VMSNAP_EXTENT_ZERO))
                        ranges_add(&held, &n_held, &capacity_held, (run->offset + size - 1) / size,
                                   (run->offset + run->length) / size);
        }
        /* |moved \ held|: both sorted and disjoint. */
        size_t j = 0;
        for (size_t i = 0; i < n_moved; i++) {
                uint64_t start = moved[i].start, end = moved[i].end, covered = 0;
                while (j < n_held && held[j].end <= start)
                        j++;
                for (size_t k = j; k < n_held && held[k].start < end; k++) {
                        uint64_t a = held[k].start > start ? held[k].start : start;
                        uint64_t b = held[k].end < end ? held[k].end : end;
                        covered += b - a;
                }
                clusters += (end - start) - covered;
        }
        growth = clusters * size;
        free(moved);
        free(held);
        allocation_map_free(source);
        allocation_map_free(target);
        return growth;
}

/* ---- records ---- */

static int compare_paths(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static uint64_t effects_freed(const vmsnap_merge_effects *effects)
{
        uint64_t freed = 0, grown = 0;

        for (size_t i = 0; i < effects->n_removed; i++)
                freed += vmsnap_file_allocated(effects->removed[i]);
        for (size_t i = 0; i < effects->n_moves; i++)
                grown += vmsnap_image_growth(effects->moves[i].from, effects->moves[i].into,
                                             effects->moves[i].over_zero);
        return freed > grown ? freed - grown : 0;
}

/* An operation context for the planner that takes no lock and changes nothing: the
 * domain as libvirt defines it now, and a copy of the published metadata. */
static int estimate_op_open(vmsnap_engine *engine, const char *uuid, const vmsnap_domain_meta *meta,
                            vmsnap_error *error, vmsnap_op *op)
{
        *op = (vmsnap_op){.engine = engine, .error = error};
        int r = vmsnap_engine_lookup(engine, uuid, &op->domain, error);
        if (r < 0)
                return r;
        op->slot = vmsnap_engine_slot(engine, uuid);
        op->meta = vmsnap_domain_meta_copy(meta);
        return vmsnap_op_reload_xml(op);
}

static void estimate_op_close(vmsnap_op *op)
{
        vmsnap_op_kept_release(op);
        vmsnap_op_guard_clear(op);
        vmsnap_xml_disks_free(op->disks, op->n_disks);
        vmsnap_domain_meta_free(op->meta);
        free(op->xml);
        free(op->name);
        if (op->domain)
                virDomainFree(op->domain);
}

/* ---- the plans of a domain, cached ---- */

/* What a domain's plans were made from: its snapshots' images and the files vmsnap made,
 * each as (path, device, inode, mtime, size). What libvirt says (the active disks, the
 * files other domains use) is not in it; that is why a result is kept at most
 * PLANS_MAX_AGE_USEC, as facts.h keeps libvirt's answers. */
#define PLANS_MAX_AGE_USEC (2ULL * 1000 * 1000)
#define PLANS_CACHE_MAX 64

/* A snapshot's reclaimable bytes, kept in a domain's plans sorted by id. */
typedef struct planned_size {
        char *id;
        uint64_t reclaimable;
} planned_size;

static int compare_planned(const void *a, const void *b)
{
        return strcmp(((const planned_size *)a)->id, ((const planned_size *)b)->id);
}

typedef struct domain_plans {
        char uuid[VIR_UUID_STRING_BUFLEN];
        char *fingerprint;
        uint64_t made_usec;
        planned_size *sizes; /* sorted by id */
        size_t n;
} domain_plans;

static pthread_mutex_t plans_lock = PTHREAD_MUTEX_INITIALIZER;
static domain_plans plans_cache[PLANS_CACHE_MAX];

/* Every file a listing measures (the snapshots' images and memory states, the files vmsnap
 * made, the images it forgot), sorted and stated once: its allocated bytes are the sizes,
 * its version is part of the fingerprint. */
typedef struct measured_file {
        const char *path; /* into the caller's metadata */
        bool exists;
        struct stat st;
} measured_file;

typedef struct measured_files {
        measured_file *files;
        size_t n;
} measured_files;

static int compare_measured(const void *a, const void *b)
{
        return strcmp(((const measured_file *)a)->path, ((const measured_file *)b)->path);
}

static void measured_add(measured_files *table, const char *path)
{
        if (path)
                table->files[table->n++] = (measured_file){.path = path};
}

static void measure_files(const vmsnap_domain_meta *meta, measured_files *table)
{
        size_t capacity = meta->n_owned + meta->n_forgotten + 1, kept = 0;

        for (size_t i = 0; i < meta->n_snapshots; i++)
                capacity += meta->snapshots[i]->n_disks + 1;
        table->files = xcalloc(capacity, sizeof(*table->files));
        table->n = 0;
        for (size_t i = 0; i < meta->n_snapshots; i++) {
                measured_add(table, meta->snapshots[i]->memory_file);
                for (size_t j = 0; j < meta->snapshots[i]->n_disks; j++)
                        measured_add(table, meta->snapshots[i]->disks[j].image);
        }
        for (size_t i = 0; i < meta->n_owned; i++)
                measured_add(table, meta->owned[i]);
        /* Measured for the fingerprint alone: while one exists, what it reads stays. */
        for (size_t i = 0; i < meta->n_forgotten; i++)
                measured_add(table, meta->forgotten[i]);
        qsort(table->files, table->n, sizeof(*table->files), compare_measured);
        for (size_t i = 0; i < table->n; i++)
                if (kept == 0 || strcmp(table->files[kept - 1].path, table->files[i].path) != 0)
                        table->files[kept++] = table->files[i];
        table->n = kept;
        vmsnap_stat_directory directory = {.fd = -1};
        for (size_t i = 0; i < table->n; i++)
                table->files[i].exists =
                        vmsnap_stat_in_directory(&directory, table->files[i].path, &table->files[i].st);
        vmsnap_stat_directory_close(&directory);
}

static uint64_t measured_allocated(const measured_files *table, const char *path)
{
        measured_file key = {.path = path};
        const measured_file *found =
                path ? bsearch(&key, table->files, table->n, sizeof(*table->files), compare_measured) : NULL;
        return found && found->exists ? (uint64_t)found->st.st_blocks * 512 : 0;
}

/* The domain's tree and every file's version: while it is the same, so are the plans
 * (up to what libvirt says, see PLANS_MAX_AGE_USEC). */
static char *fingerprint_make(const vmsnap_domain_meta *meta, const measured_files *table)
{
        char *text = NULL;
        size_t size = 0;
        FILE *out = open_memstream(&text, &size);

        if (!out)
                oom();
        fprintf(out, "%s\n", meta->current_id ? meta->current_id : "");
        for (size_t i = 0; i < meta->n_snapshots; i++) {
                const vmsnap_snapshot *s = meta->snapshots[i];
                fprintf(out, "%s %s %s\n", s->id, s->parent_id ? s->parent_id : "",
                        s->memory_file ? s->memory_file : "");
                for (size_t j = 0; j < s->n_disks; j++)
                        fprintf(out, " %s\n", s->disks[j].image ? s->disks[j].image : "-");
        }
        for (size_t i = 0; i < meta->n_owned; i++)
                fprintf(out, "owned %s\n", meta->owned[i]);
        for (size_t i = 0; i < meta->n_forgotten; i++)
                fprintf(out, "forgotten %s\n", meta->forgotten[i]);
        for (size_t i = 0; i < table->n; i++) {
                const measured_file *f = &table->files[i];
                if (!f->exists)
                        fprintf(out, "%s -\n", f->path);
                else
                        fprintf(out, "%s %llu %llu %lld.%09ld %lld\n", f->path,
                                (unsigned long long)f->st.st_dev, (unsigned long long)f->st.st_ino,
                                (long long)f->st.st_mtim.tv_sec, f->st.st_mtim.tv_nsec,
                                (long long)f->st.st_size);
        }
        if (fclose(out) != 0)
                oom();
        return text;
}

/* A snapshot's size: the allocated bytes of the images it froze that vmsnap made. */
static uint64_t snapshot_size(const vmsnap_snapshot *snapshot, char *const *owned_sorted, size_t n_owned,
                              const measured_files *table)
{
        uint64_t total = 0;
        for (size_t i = 0; i < snapshot->n_disks; i++) {
                const char *image = snapshot->disks[i].image;
                if (image && bsearch(&image, owned_sorted, n_owned, sizeof(*owned_sorted), compare_paths))
                        total += measured_allocated(table, image);
        }
        return total;
}

static void plans_clear(domain_plans *plans)
{
        free(plans->fingerprint);
        for (size_t i = 0; i < plans->n; i++)
                free(plans->sizes[i].id);
        free(plans->sizes);
        *plans = (domain_plans){0};
}

/* Fills reclaimable from a fresh cached result; false when there is none. */
static bool plans_lookup(const char *uuid, const char *fingerprint, vmsnap_snapshot_info *infos, size_t n)
{
        bool found = false;

        pthread_mutex_lock(&plans_lock);
        for (size_t k = 0; k < PLANS_CACHE_MAX && !found; k++) {
                domain_plans *plans = &plans_cache[k];
                if (!plans->fingerprint || strcmp(plans->uuid, uuid) != 0)
                        continue;
                found = strcmp(plans->fingerprint, fingerprint) == 0 &&
                        now_usec(CLOCK_MONOTONIC) - plans->made_usec < PLANS_MAX_AGE_USEC;
                for (size_t i = 0; found && i < n; i++) {
                        planned_size key = {.id = infos[i].id};
                        const planned_size *planned = bsearch(&key, plans->sizes, plans->n,
                                                              sizeof(*plans->sizes), compare_planned);
                        infos[i].reclaimable = planned ? planned->reclaimable : 0;
                }
        }
        pthread_mutex_unlock(&plans_lock);
        return found;
}

static void plans_store(const char *uuid, const char *fingerprint, uint64_t made_usec,
                        const vmsnap_snapshot_info *infos, size_t n)
{
        domain_plans *slot = NULL;

        pthread_mutex_lock(&plans_lock);
        for (size_t k = 0; k < PLANS_CACHE_MAX && !slot; k++)
                if (plans_cache[k].fingerprint && strcmp(plans_cache[k].uuid, uuid) == 0)
                        slot = &plans_cache[k];
        for (size_t k = 0; k < PLANS_CACHE_MAX && !slot; k++)
                if (!plans_cache[k].fingerprint)
                        slot = &plans_cache[k];
        if (!slot) /* full: the oldest goes */
                for (size_t k = 0; k < PLANS_CACHE_MAX; k++)
                        if (!slot || plans_cache[k].made_usec < slot->made_usec)
                                slot = &plans_cache[k];
        plans_clear(slot);
        snprintf(slot->uuid, sizeof(slot->uuid), "%s", uuid);
        slot->fingerprint = xstrdup(fingerprint);
        slot->made_usec = made_usec;
        slot->sizes = xcalloc(n + 1, sizeof(*slot->sizes));
        for (size_t i = 0; i < n; i++)
                slot->sizes[i] = (planned_size){xstrdup(infos[i].id), infos[i].reclaimable};
        qsort(slot->sizes, n, sizeof(*slot->sizes), compare_planned);
        slot->n = n;
        pthread_mutex_unlock(&plans_lock);
}

/* The reclaimable bytes of every record, from the merge plans made now. */
static void plans_make(vmsnap_engine *engine, const char *uuid, const vmsnap_domain_meta *meta,
                       vmsnap_snapshot_info *infos, size_t n)
{
        vmsnap_merge_estimator *estimator = NULL;
        vmsnap_error error = {0};
        vmsnap_op op;

        if (estimate_op_open(engine, uuid, meta, &error, &op) < 0 ||
            vmsnap_merge_estimator_new(&op, &estimator) < 0) {
                estimate_op_close(&op);
                return; /* reclaimable stays 0: the plan cannot be made now */
        }
        for (size_t i = 0; i < n; i++) {
                const vmsnap_snapshot *s = vmsnap_domain_meta_find_id(op.meta, infos[i].id);
                vmsnap_merge_effects effects = {0};

                if (!s || vmsnap_merge_estimate(estimator, s, &effects) < 0) {
                        vmsnap_merge_effects_clear(&effects);
                        continue;
                }
                /* The snapshot's memory state goes with it (gc.c). */
                if (s->memory_file && vmsnap_domain_meta_owns(op.meta, s->memory_file))
                        vmsnap_merge_effects_remove(&effects, s->memory_file);
                infos[i].reclaimable = effects_freed(&effects);
                vmsnap_merge_effects_clear(&effects);
        }
        vmsnap_merge_estimator_free(estimator);
        estimate_op_close(&op);
}

/* What the domain's RBD snapshots occupy and free (rbd-sizes.h), added to what its files do. */
static void rbd_sizes_add(vmsnap_engine *engine, const char *uuid, const vmsnap_domain_meta *meta,
                          vmsnap_snapshot_info *infos, size_t n)
{
        vmsnap_error error = {0};
        vmsnap_op op;
        bool any = false;

        for (size_t i = 0; i < meta->n_snapshots && !any; i++)
                any = vmsnap_snapshot_has_rbd_disk(meta->snapshots[i]);
        if (!any)
                return;
        if (estimate_op_open(engine, uuid, meta, &error, &op) == 0)
                vmsnap_rbd_sizes_add(&op, infos, n);
        estimate_op_close(&op);
        vmsnap_error_clear(&error);
}

void vmsnap_sizes_fill_rbd_images(vmsnap_engine *engine, const char *uuid, const vmsnap_domain_meta *meta,
                                  vmsnap_image_info *images, size_t n)
{
        vmsnap_error error = {0};
        vmsnap_op op;

        if (estimate_op_open(engine, uuid, meta, &error, &op) == 0)
                vmsnap_rbd_image_infos_fill(&op, images, n);
        estimate_op_close(&op);
        vmsnap_error_clear(&error);
}

/* The files' part: sizes from their allocation, reclaimable from the merge plans. */
static void file_sizes_fill(vmsnap_engine *engine, const char *uuid, const vmsnap_domain_meta *meta,
                            vmsnap_snapshot_info *infos, size_t n)
{
        uint64_t started = now_usec(CLOCK_MONOTONIC);
        measured_files table;

        /* Each file stated once, each lookup a binary search: a listing of 1,000 snapshots
         * costs n log n, not n^2 string comparisons. */
        measure_files(meta, &table);
        _cleanup_free_ char *fingerprint = fingerprint_make(meta, &table);
        char **owned = xcalloc(meta->n_owned + 1, sizeof(*owned));
        size_t *by_id = vmsnap_domain_meta_sort_by_id(meta);
        memcpy(owned, meta->owned, meta->n_owned * sizeof(*owned));
        qsort(owned, meta->n_owned, sizeof(*owned), compare_paths);
        for (size_t i = 0; i < n; i++) {
                size_t s = vmsnap_domain_meta_find_sorted(meta, by_id, infos[i].id);
                infos[i].size =
                        s != SIZE_MAX ? snapshot_size(meta->snapshots[s], owned, meta->n_owned, &table) : 0;
        }
        free(owned);
        free(by_id);
        size_t n_files = table.n;
        free(table.files);
        if (plans_lookup(uuid, fingerprint, infos, n))
                return;
        pthread_mutex_lock(&map_cache_lock);
        map_cache_reserve(n_files);
        pthread_mutex_unlock(&map_cache_lock);
        plans_make(engine, uuid, meta, infos, n);
        /* Only a listing's plans are kept: a record of one snapshot is planned alone. */
        if (n > 1 || meta->n_snapshots <= 1)
                plans_store(uuid, fingerprint, started, infos, n);
}

void vmsnap_sizes_fill(vmsnap_engine *engine, const char *uuid, const vmsnap_domain_meta *meta,
                       vmsnap_snapshot_info *infos, size_t n)
{
        file_sizes_fill(engine, uuid, meta, infos, n);
        rbd_sizes_add(engine, uuid, meta, infos, n);
}
