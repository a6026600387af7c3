/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* collapse.c: copying backing chains into standalone images, the heavy part of clone.
 * Owns the order of a collapse (read every chain's metadata and refuse before creating
 * anything, create the targets, copy, finish, or remove every target), the hand-out of
 * bounded chunks to the pool, progress and cancellation on the caller's thread, and the
 * qemu-img convert fallback. Reading chains is extent.c's, writing targets writer.c's. */
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collapse.h"
#include "error.h"
#include "extent.h"
#include "fileio.h"
#include "pool.h"
#include "subprocess.h"
#include "writer.h"

/* A chunk, the unit a worker takes: at most this much data, or this many extents. */
#define CHUNK_BYTES (UINT64_C(8) << 20)
#define CHUNK_EXTENTS 256
/* How far ahead one question to the extent map looks across holes. */
#define SCAN_WINDOW (UINT64_C(256) << 20)
/* A window, the stretch of a disk whose data is placed in the target at once: at most this
 * many data extents, and at most this much of the guest disk, which bounds the L2 tables of a
 * qcow2 target held in memory (65 of 64 KiB). */
#define WINDOW_EXTENTS 16384
#define WINDOW_BYTES (UINT64_C(32) << 30)
#define PROGRESS_INTERVAL_MS 100
#define FALLBACK_CLUSTER_SIZE "cluster_size=65536"

typedef struct collapse_run collapse_run;

typedef struct collapse_job {
        const vmsnap_collapse_item *item;
        collapse_run *run;
        char *fallback_reason; /* why qemu-img copies this one; NULL when the native reader does */

        vmsnap_extent_map *map;
        vmsnap_writer *writer;
        uint64_t scratch_size;
        int target_fd;
        bool created;
        dev_t target_device;
        ino_t target_inode;

        pthread_mutex_t lock; /* the map, the writer's placement, the window and the cursor */
        bool lock_initialized;
        /* A qcow2 target whose sources share blocks with it: its clusters follow the sources'
         * order, so that each layer's runs become few reflinks. Else guest order, the layout
         * a guest reads fastest from a copy. */
        bool host_order;
        vmsnap_extent *window_extents; /* WINDOW_EXTENTS, the data extents of the window */
        struct collapse_piece *window; /* the window's pieces, placed, in the order handed out */
        size_t window_capacity;
        size_t window_count;
        size_t window_next;
        uint64_t cursor; /* guest offset where the next window begins */
        vmsnap_pool_task *task;
        atomic_bool limited; /* to one worker, once reflinks work */

        uint64_t total;
        _Atomic uint64_t done;
} collapse_job;

struct collapse_run {
        collapse_job *jobs;
        size_t n_jobs;
        const vmsnap_hooks *hooks;
        atomic_bool stop; /* a job failed or the caller canceled: hand out nothing more */
        bool canceled;
        pthread_mutex_t error_lock;
        bool failed;
        vmsnap_error first_error;
        uint64_t reported_done;
        uint64_t reported_at_ms;
};

/* Bytes to copy: extent.length bytes of the source from extent.host_offset to target. A DATA piece
 * may join runs that are apart in the guest but next to each other in both files; its
 * extent.offset then names only where its first byte is in the guest. */
typedef struct collapse_piece {
        vmsnap_extent extent;
        uint64_t target;
} collapse_piece;

static bool extent_has_data(const vmsnap_extent *extent)
{
        return extent->kind == VMSNAP_EXTENT_DATA || extent->kind == VMSNAP_EXTENT_COMPRESSED;
}

/* Keeps the first failure; every later one is a consequence of stopping. */
static void run_fail(collapse_run *run, const vmsnap_error *error)
{
        pthread_mutex_lock(&run->error_lock);
        if (!run->failed) {
                run->failed = true;
                run->first_error = *error;
        }
        pthread_mutex_unlock(&run->error_lock);
        atomic_store(&run->stop, true);
}

/* Reads a whole chain's metadata: the data bytes a collapse copies, and the clusters of a
 * qcow2 target they touch. */
static int map_measure(vmsnap_extent_map *map, uint64_t *data_ret, uint64_t *clusters_ret,
                       uint64_t *l2_tables_ret, vmsnap_error *error)
{
        uint64_t size = vmsnap_extent_map_virtual_size(map), position = 0, data = 0, clusters = 0,
                 tables = 0;
        uint64_t cluster_bytes = UINT64_C(1) << VMSNAP_WRITER_QCOW2_CLUSTER_BITS;
        uint64_t table_bytes = cluster_bytes * (cluster_bytes / sizeof(uint64_t));
        uint64_t next_cluster = 0, next_table = 0; /* first index not yet counted */

        while (position < size) {
                vmsnap_extent extent;
                int r;

                r = vmsnap_extent_map_next(map, position, SCAN_WINDOW, &extent, error);
                if (r < 0)
                        return r;
                if (extent_has_data(&extent)) {
                        uint64_t last_byte = extent.offset + extent.length - 1;
                        uint64_t first = extent.offset / cluster_bytes, last = last_byte / cluster_bytes;
                        uint64_t first_table = extent.offset / table_bytes,
                                 last_table = last_byte / table_bytes;

                        /* Runs come in guest order; a cluster or table shared with the previous run
                         * is counted once. */
                        data += extent.length;
                        if (first < next_cluster)
                                first = next_cluster;
                        if (last >= first)
                                clusters += last - first + 1;
                        next_cluster = last + 1;
                        if (first_table < next_table)
                                first_table = next_table;
                        if (last_table >= first_table)
                                tables += last_table - first_table + 1;
                        next_table = last_table + 1;
                }
                position += extent.length;
        }

        if (data_ret)
                *data_ret = data;
        if (clusters_ret)
                *clusters_ret = clusters;
        if (l2_tables_ret)
                *l2_tables_ret = tables;
        return 0;
}

/* The extent map of source as recorded: qcow2 and raw are read natively; a source recorded
 * as another format is qemu-img's to copy (-EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED). */
static int source_map_open(const char *source, const char *source_format, vmsnap_extent_map **ret,
                           vmsnap_error *error)
{
        vmsnap_image_format format;

        if (!source_format)
                return vmsnap_extent_map_open(source, NULL, ret, error);
        if (vmsnap_image_format_parse(source_format, &format) < 0)
                return vmsnap_error_set(
                        error, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED,
                        "%s is recorded as a %s image; vmsnap's reader reads only qcow2 and raw", source,
                        source_format);
        return vmsnap_extent_map_open(source, &format, ret, error);
}

int vmsnap_collapse_estimate(const char *source, const char *source_format, uint64_t *bytes_ret,
                             uint64_t *virtual_size_ret, vmsnap_error *error)
{
        vmsnap_extent_map *map = NULL;
        uint64_t clusters, tables, size;
        int r;

        if (!source)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no image was given to measure");

        r = source_map_open(source, source_format, &map, error);
        if (r == -EOPNOTSUPP) {
                /* qemu-img will copy it; without reading its data, the whole disk is the bound. */
                vmsnap_image_header header = {0};
                vmsnap_error ignored = {0};

                if (vmsnap_image_header_read(source, &header, &ignored) < 0)
                        return r;
                size = header.format == VMSNAP_FORMAT_QCOW2 ? header.virtual_size
                                                            : vmsnap_file_allocated(source);
                vmsnap_image_header_clear(&header);
                vmsnap_error_clear(error);
                if (bytes_ret)
                        *bytes_ret = vmsnap_writer_qcow2_size(size, size / 65536 + 1,
                                                              size / (UINT64_C(512) << 20) + 1);
                if (virtual_size_ret)
                        *virtual_size_ret = size;
                return 0;
        }
        if (r < 0)
                return r;

        size = vmsnap_extent_map_virtual_size(map);
        r = map_measure(map, NULL, &clusters, &tables, error);
        vmsnap_extent_map_free(map);
        if (r < 0)
                return r;

        /* The qcow2 target is the larger of the two: whole clusters and metadata. */
        if (bytes_ret)
                *bytes_ret = vmsnap_writer_qcow2_size(size, clusters, tables);
        if (virtual_size_ret)
                *virtual_size_ret = size;
        return 0;
}

static bool piece_continues(const collapse_piece *piece, const vmsnap_extent *extent, uint64_t target)
{
        return piece->extent.kind == VMSNAP_EXTENT_DATA && extent->kind == VMSNAP_EXTENT_DATA &&
               piece->extent.depth == extent->depth &&
               piece->extent.host_offset + piece->extent.length == extent->host_offset &&
               piece->target + piece->extent.length == target;
}

/* The order of a host-order window: each layer's runs as they lie in its file. */
static int extent_compare_host(const void *a, const void *b)
{
        const vmsnap_extent *x = a, *y = b;

        if (x->depth != y->depth)
                return x->depth < y->depth ? -1 : 1;
        if (x->host_offset != y->host_offset)
                return x->host_offset < y->host_offset ? -1 : 1;
        return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int window_append(collapse_job *job, const vmsnap_extent *extent, uint64_t target, uint64_t length,
                         vmsnap_error *error)
{
        collapse_piece *last = job->window_count > 0 ? &job->window[job->window_count - 1] : NULL;

        if (last && piece_continues(last, extent, target)) {
                last->extent.length += length;
                return 0;
        }
        if (job->window_count == job->window_capacity) {
                size_t capacity = job->window_capacity ? job->window_capacity * 2 : 1024;
                job->window = xreallocarray(job->window, capacity, sizeof(*job->window));
                job->window_capacity = capacity;
        }
        job->window[job->window_count] = (collapse_piece){.extent = *extent, .target = target};
        job->window[job->window_count].extent.length = length;
        job->window_count++;
        return 0;
}

/* Reads the next window of the chain and places its data in the target (in the sources' order
 * or the guest's), merging what lies next to each other in both files into one piece; then the
 * target's L2 tables that are complete are written. */
static int job_fill_window(collapse_job *job, vmsnap_error *error)
{
        uint64_t size = vmsnap_extent_map_virtual_size(job->map);
        uint64_t limit = size - job->cursor < WINDOW_BYTES ? size : job->cursor + WINDOW_BYTES;
        size_t n = 0;
        int r;

        if (!job->window_extents) {
                job->window_extents = xcalloc(WINDOW_EXTENTS, sizeof(*job->window_extents));
        }
        job->window_count = job->window_next = 0;

        while (job->cursor < limit && n < WINDOW_EXTENTS) {
                vmsnap_extent *extent = &job->window_extents[n];

                r = vmsnap_extent_map_next(job->map, job->cursor,
                                           limit - job->cursor < SCAN_WINDOW ? limit - job->cursor
                                                                             : SCAN_WINDOW,
                                           extent, error);
                if (r < 0)
                        return r;
                job->cursor += extent->length;
                if (!extent_has_data(extent))
                        continue;
                /* The window's tables first, in guest order: its data then lies in one stretch. */
                r = vmsnap_writer_reserve_tables(job->writer, extent->offset, extent->length, error);
                if (r < 0)
                        return r;
                n++;
        }

        if (job->host_order)
                qsort(job->window_extents, n, sizeof(*job->window_extents), extent_compare_host);

        for (size_t i = 0; i < n; i++) {
                vmsnap_extent extent = job->window_extents[i];

                while (extent.length > 0) {
                        uint64_t target, placed;

                        r = vmsnap_writer_place(job->writer, extent.offset, extent.length, &target, &placed,
                                                error);
                        if (r < 0)
                                return r;
                        r = window_append(job, &extent, target, placed, error);
                        if (r < 0)
                                return r;
                        extent.offset += placed;
                        extent.length -= placed;
                        if (extent.kind == VMSNAP_EXTENT_DATA)
                                extent.host_offset += placed;
                }
        }

        return vmsnap_writer_settle(job->writer, job->cursor, error);
}

/* Hands the next chunk of job to the calling worker: pieces of the current window in order,
 * a long piece cut at the chunk's size. */
static int job_claim(collapse_job *job, collapse_piece *pieces, size_t *n_ret, vmsnap_error *error)
{
        uint64_t size = vmsnap_extent_map_virtual_size(job->map), bytes = 0;
        size_t n = 0;
        int r;

        while (job->window_next == job->window_count && job->cursor < size) {
                r = job_fill_window(job, error);
                if (r < 0)
                        return r;
        }

        while (job->window_next < job->window_count && n < CHUNK_EXTENTS && bytes < CHUNK_BYTES) {
                collapse_piece *piece = &job->window[job->window_next];
                uint64_t take = piece->extent.length;

                if (piece->extent.kind == VMSNAP_EXTENT_DATA && take > CHUNK_BYTES - bytes)
                        take = CHUNK_BYTES - bytes;
                pieces[n] = *piece;
                pieces[n].extent.length = take;
                n++;
                bytes += take;

                if (take == piece->extent.length) {
                        job->window_next++;
                        continue;
                }
                piece->extent.offset += take;
                piece->extent.host_offset += take;
                piece->extent.length -= take;
                piece->target += take;
        }

        *n_ret = n;
        return 0;
}

/* One chunk on a worker thread: claim it under the job's lock, copy it outside. */
static int job_work(void *userdata, vmsnap_pool_worker *worker)
{
        collapse_job *job = userdata;
        collapse_run *run = job->run;
        collapse_piece pieces[CHUNK_EXTENTS];
        vmsnap_error error = {0};
        uint64_t low = UINT64_MAX, high = 0;
        void *scratch;
        size_t n = 0;
        int r;

        if (atomic_load(&run->stop))
                return 0;

        pthread_mutex_lock(&job->lock);
        r = job_claim(job, pieces, &n, &error);
        pthread_mutex_unlock(&job->lock);
        if (r < 0) {
                vmsnap_error_prefix(&error, "cannot copy %s", job->item->source);
                run_fail(run, &error);
                return 0;
        }
        if (n == 0)
                return 0;

        scratch = vmsnap_pool_worker_scratch(worker, job->scratch_size);

        for (size_t i = 0; i < n; i++) {
                if (atomic_load(&run->stop))
                        return 0;
                r = vmsnap_writer_copy(job->writer, &pieces[i].extent, pieces[i].target, scratch,
                                       job->scratch_size, &error);
                if (r < 0) {
                        run_fail(run, &error);
                        return 0;
                }
                atomic_fetch_add(&job->done, pieces[i].extent.length);
                if (pieces[i].target < low)
                        low = pieces[i].target;
                if (pieces[i].target + pieces[i].extent.length > high)
                        high = pieces[i].target + pieces[i].extent.length;
        }

        /* Reflinks into one file contend for its locks: one worker at a time goes faster, and the
         * others serve other disks. */
        if (vmsnap_writer_reflinks(job->writer) && !atomic_exchange(&job->limited, true))
                vmsnap_pool_worker_limit_task(worker, 1);

        /* Start writing the chunk to disk now rather than all at the final flush, so that the
         * disk works while the next chunks are copied. */
        (void)sync_file_range(job->target_fd, (off64_t)low, (off64_t)(high - low), SYNC_FILE_RANGE_WRITE);
        return 1;
}

/* Progress over every job, from the caller's thread only: the hooks need not be thread-safe. */
static void run_report(collapse_run *run, bool force)
{
        uint64_t done = 0, total = 0, now = now_usec(CLOCK_MONOTONIC) / 1000;

        if (!run->hooks || !run->hooks->progress)
                return;
        if (!force && now - run->reported_at_ms < PROGRESS_INTERVAL_MS)
                return;

        for (size_t i = 0; i < run->n_jobs; i++) {
                uint64_t job_done = atomic_load(&run->jobs[i].done);

                done += job_done < run->jobs[i].total ? job_done : run->jobs[i].total;
                total += run->jobs[i].total;
        }
        if (done < run->reported_done)
                done = run->reported_done;
        run->reported_done = done;
        run->reported_at_ms = now;
        run->hooks->progress(run->hooks->userdata, done, total);
}

/* Polled often while the caller's thread waits; turns the caller's cancellation into the flag
 * the workers read. */
static bool run_check_canceled(collapse_run *run)
{
        if (!run->canceled && run->hooks && run->hooks->is_canceled &&
            run->hooks->is_canceled(run->hooks->userdata)) {
                run->canceled = true;
                atomic_store(&run->stop, true);
        }
        return run->canceled;
}

static void run_message(collapse_run *run, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void run_message(collapse_run *run, const char *format, ...)
{
        char text[2048];
        va_list ap;

        if (!run->hooks || !run->hooks->message)
                return;
        va_start(ap, format);
        vsnprintf(text, sizeof(text), format, ap);
        va_end(ap);
        run->hooks->message(run->hooks->userdata, text);
}

typedef struct fallback_context {
        collapse_run *run;
        collapse_job *job;
} fallback_context;

static void fallback_progress(void *userdata, uint64_t done, uint64_t total)
{
        fallback_context *context = userdata;

        if (total > 0)
                atomic_store(&context->job->done, (uint64_t)((double)context->job->total * done / total));
        run_report(context->run, false);
}

static bool fallback_is_canceled(void *userdata)
{
        fallback_context *context = userdata;

        run_report(context->run, false);
        run_check_canceled(context->run);
        return atomic_load(&context->run->stop);
}

/* The target is still the file this call created: nobody swapped it while qemu-img wrote it. */
static int target_unchanged(const collapse_job *job, vmsnap_error *error)
{
        struct stat st;

        if (lstat(job->item->target, &st) < 0 || !S_ISREG(st.st_mode) || st.st_dev != job->target_device ||
            st.st_ino != job->target_inode)
                return vmsnap_error_set(error, -ESTALE, VMSNAP_ERROR_FAILED,
                                        "%s was replaced by another file while it was being written",
                                        job->item->target);
        return 0;
}

/* qemu-img convert, writing into the empty file this call created (it keeps that file, its
 * owner and its mode), then a flush: qemu-img converts with cache=unsafe. */
static int job_fallback(collapse_job *job, vmsnap_error *error)
{
        collapse_run *run = job->run;
        fallback_context context = {.run = run, .job = job};
        vmsnap_hooks hooks = {
                .progress = fallback_progress,
                .is_canceled = fallback_is_canceled,
                .userdata = &context,
        };
        const char *argv[] = {"qemu-img", "convert", "-p", "-O", vmsnap_image_format_name(job->item->format),
                              NULL,       NULL,      NULL, NULL, NULL,
                              NULL,       NULL};
        size_t n = 5;
        int fd, r;

        /* The recorded format, never a probe (qemu-img would warn and guess). */
        if (job->item->source_format) {
                argv[n++] = "-f";
                argv[n++] = job->item->source_format;
        }
        if (job->item->format == VMSNAP_FORMAT_QCOW2) {
                argv[n++] = "-o";
                argv[n++] = FALLBACK_CLUSTER_SIZE;
        }
        argv[n++] = job->item->source;
        argv[n++] = job->item->target;

        run_message(run, "%s is copied by qemu-img convert, not by vmsnap's own reader: %s",
                    job->item->source, job->fallback_reason);

        r = vmsnap_spawn(argv, &hooks, error);
        if (r < 0)
                return r;
        r = target_unchanged(job, error);
        if (r < 0)
                return r;

        fd = open(job->item->target, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot open %s: %m",
                                        job->item->target);
        r = fsync(fd) < 0 ? -errno : 0;
        close(fd);
        if (r < 0)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED, "cannot flush %s to disk: %s",
                                        job->item->target, strerror(-r));

        atomic_store(&job->done, job->total);
        return 0;
}

/* Opens the chain, or decides on the fallback; refuses what is damaged. Creates nothing. */
static int job_prepare(collapse_job *job, vmsnap_error *error)
{
        vmsnap_error reason = {0};
        int r;

        r = source_map_open(job->item->source, job->item->source_format, &job->map, &reason);
        if (r == -EOPNOTSUPP && reason.kind == VMSNAP_ERROR_UNSUPPORTED) {
                vmsnap_image_header header = {0};
                vmsnap_error ignored = {0};

                job->fallback_reason = xstrdup(reason.message);
                /* Progress for qemu-img is a fraction; weigh it by the disk's size. */
                if (vmsnap_image_header_read(job->item->source, &header, &ignored) == 0 &&
                    header.format == VMSNAP_FORMAT_QCOW2)
                        job->total = header.virtual_size;
                else
                        job->total = vmsnap_file_allocated(job->item->source);
                vmsnap_image_header_clear(&header);
                return 0;
        }
        if (r < 0) {
                *error = reason;
                return r;
        }

        job->scratch_size = vmsnap_writer_scratch_size(job->map);
        return map_measure(job->map, &job->total, NULL, NULL, error);
}

/* The file just created (st) is at item->target in the directory confine.c chose, through
 * no symlink: what closes most of the window between that check and the creation by path. */
static int target_in_its_place(const vmsnap_collapse_item *item, const struct stat *st, vmsnap_error *error)
{
        _cleanup_free_ char *dir = NULL;
        struct stat dir_st, at;
        int dir_fd, r;

        if (item->dir_device == 0 && item->dir_inode == 0)
                return 0;
        dir = path_dirname(item->target);
        r = vmsnap_dir_open_nofollow(dir, &dir_fd, NULL, error);
        if (r < 0)
                return vmsnap_error_prefix(error, "%s was created elsewhere than checked", item->target);
        const char *base = strrchr(item->target, '/') ? strrchr(item->target, '/') + 1 : item->target;
        r = fstat(dir_fd, &dir_st) < 0 || fstatat(dir_fd, base, &at, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
        close(dir_fd);
        if (r < 0 || dir_st.st_dev != item->dir_device || dir_st.st_ino != item->dir_inode ||
            at.st_dev != st->st_dev || at.st_ino != st->st_ino)
                return vmsnap_error_set(error, -ESTALE, VMSNAP_ERROR_FAILED,
                                        "%s was not created in the directory that was checked: a directory "
                                        "on its path was replaced meanwhile",
                                        item->target);
        return 0;
}

static int job_create_target(collapse_job *job, vmsnap_error *error)
{
        struct stat st;
        int r;

        r = vmsnap_file_create_like(job->item->target, job->item->source, error);
        if (r < 0)
                return r;
        job->created = true;

        job->target_fd = open(job->item->target, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (job->target_fd < 0)
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot open %s: %m",
                                        job->item->target);
        if (fstat(job->target_fd, &st) < 0)
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot examine %s: %m",
                                        job->item->target);
        if (!S_ISREG(st.st_mode) || st.st_size != 0)
                return vmsnap_error_set(error, -ESTALE, VMSNAP_ERROR_FAILED,
                                        "%s was replaced by another file right after it was created",
                                        job->item->target);
        job->target_device = st.st_dev;
        job->target_inode = st.st_ino;
        r = target_in_its_place(job->item, &st, error);
        if (r < 0)
                return r;

        if (job->fallback_reason) {
                /* qemu-img opens the file by name itself. */
                close(job->target_fd);
                job->target_fd = -EBADF;
                return 0;
        }
        r = vmsnap_writer_new(job->target_fd, job->item->target, job->item->format,
                              vmsnap_extent_map_virtual_size(job->map), vmsnap_extent_map_depth(job->map),
                              &job->writer, error);
        if (r < 0)
                return r;

        /* A raw target keeps guest order whatever happens: guest offset is file offset. The top and
         * the base of the chain stand for the images between. */
        if (job->item->format == VMSNAP_FORMAT_QCOW2) {
                unsigned base = vmsnap_extent_map_depth(job->map) - 1;

                job->host_order =
                        vmsnap_writer_probe_reflink(job->writer, 0, vmsnap_extent_map_fd(job->map, 0)) &&
                        (base == 0 || vmsnap_writer_probe_reflink(job->writer, base,
                                                                  vmsnap_extent_map_fd(job->map, base)));
        }
        return 0;
}

static void job_clear(collapse_job *job)
{
        free(job->window_extents);
        free(job->window);
        vmsnap_writer_free(job->writer);
        vmsnap_extent_map_free(job->map);
        if (job->target_fd >= 0)
                close(job->target_fd);
        if (job->lock_initialized)
                pthread_mutex_destroy(&job->lock);
        free(job->fallback_reason);
}

static int items_check(const vmsnap_collapse_item *items, size_t n_items, vmsnap_error *error)
{
        for (size_t i = 0; i < n_items; i++) {
                if (!items[i].source || !items[i].target || items[i].source[0] == '\0' ||
                    items[i].target[0] == '\0')
                        return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                                "every disk to copy needs a source and a target");
                if (items[i].format != VMSNAP_FORMAT_RAW && items[i].format != VMSNAP_FORMAT_QCOW2)
                        return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                                "the copy of %s must be raw or qcow2", items[i].source);
                for (size_t j = 0; j < i; j++)
                        if (strcmp(items[i].target, items[j].target) == 0)
                                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                                        "%s is the target of two disks", items[i].target);
        }
        return 0;
}

/* Waits for every native job's last chunk, reporting progress and watching for cancellation. */
static void run_wait(collapse_run *run)
{
        for (;;) {
                collapse_job *waiting = NULL;

                for (size_t i = 0; i < run->n_jobs; i++) {
                        collapse_job *job = &run->jobs[i];

                        if (job->task && vmsnap_pool_task_wait(job->task, 0))
                                job->task = NULL;
                        if (job->task && !waiting)
                                waiting = job;
                }
                if (!waiting)
                        return;

                if (vmsnap_pool_task_wait(waiting->task, PROGRESS_INTERVAL_MS))
                        waiting->task = NULL;
                run_check_canceled(run);
                run_report(run, false);
        }
}

int vmsnap_collapse_run(vmsnap_pool *pool, const vmsnap_collapse_item *items, size_t n_items,
                        const vmsnap_hooks *hooks, vmsnap_error *error)
{
        collapse_run run = {.hooks = hooks};
        vmsnap_error job_error = {0};
        int r = 0;

        if (!pool || !items || n_items == 0)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no disks were given to copy");
        r = items_check(items, n_items, error);
        if (r < 0)
                return r;

        run.jobs = xcalloc(n_items, sizeof(*run.jobs));
        run.n_jobs = n_items;
        pthread_mutex_init(&run.error_lock, NULL);
        atomic_init(&run.stop, false);
        for (size_t i = 0; i < n_items; i++) {
                run.jobs[i].item = &items[i];
                run.jobs[i].run = &run;
                run.jobs[i].target_fd = -EBADF;
                atomic_init(&run.jobs[i].done, 0);
        }

        /* Every chain is read, and refused if damaged, before the first file is created. */
        for (size_t i = 0; i < n_items && r >= 0; i++)
                r = job_prepare(&run.jobs[i], error);
        if (r >= 0 && run_check_canceled(&run))
                r = vmsnap_error_set(error, -ECANCELED, VMSNAP_ERROR_CANCELED,
                                     "copying the disks was canceled before it began");
        for (size_t i = 0; i < n_items && r >= 0; i++)
                r = job_create_target(&run.jobs[i], error);
        if (r < 0)
                goto finish;
        run_report(&run, true);

        for (size_t i = 0; i < n_items && r >= 0; i++) {
                collapse_job *job = &run.jobs[i];

                if (job->fallback_reason)
                        continue;
                pthread_mutex_init(&job->lock, NULL);
                job->lock_initialized = true;
                r = vmsnap_pool_task_submit(pool, job_work, job, &job->task, &job_error);
                if (r < 0)
                        run_fail(&run, &job_error);
        }

        /* qemu-img runs from this thread while the workers copy the other disks. */
        for (size_t i = 0; i < n_items; i++) {
                collapse_job *job = &run.jobs[i];

                if (!job->fallback_reason || atomic_load(&run.stop))
                        continue;
                r = job_fallback(job, &job_error);
                if (r < 0 && !run.canceled)
                        run_fail(&run, &job_error);
        }

        run_wait(&run);

        for (size_t i = 0; i < n_items && !atomic_load(&run.stop); i++) {
                collapse_job *job = &run.jobs[i];

                if (!job->writer)
                        continue;
                r = vmsnap_writer_finish(job->writer, &job_error);
                if (r < 0)
                        run_fail(&run, &job_error);
                run_check_canceled(&run);
        }

        if (run.canceled)
                r = vmsnap_error_set(error, -ECANCELED, VMSNAP_ERROR_CANCELED,
                                     "copying the disks was canceled; the partial copies were removed");
        else if (run.failed) {
                *error = run.first_error;
                r = run.first_error.code < 0 ? run.first_error.code : -EIO;
        } else {
                r = 0;
                run_report(&run, true);
        }

finish:
        for (size_t i = 0; i < n_items; i++) {
                collapse_job *job = &run.jobs[i];
                vmsnap_error ignored = {0};

                job_clear(job);
                if (r < 0 && job->created)
                        (void)vmsnap_file_remove(job->item->target, &ignored);
        }
        pthread_mutex_destroy(&run.error_lock);
        free(run.jobs);
        return r;
}
