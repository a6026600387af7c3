/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-collapse.c: vmsnap_collapse_run() and vmsnap_collapse_estimate() on chains built by
 * qemu-img and qemu-io: every copy reads what its source chain reads ("qemu-img compare"),
 * every qcow2 copy passes "qemu-img check", targets get their source's owner and mode, a
 * damaged chain is refused before anything is created, cancellation and failures leave no
 * target, unsupported chains go through qemu-img convert, XFS shares blocks by reflink with each
 * layer's clusters kept in the order of its file, a disk of more extents than one window is
 * copied whole, and a 64 GiB disk is copied in bounded memory. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "collapse.h"
#include "fileio.h"
#include "error.h"
#include "testlib.h"

typedef struct fixture {
        char *dir;
        vmsnap_pool *pool;
        char *mount_point; /* an XFS loop mount to take down after the test */
} fixture;

/* A chain with a bit of everything: data, zero clusters over data, discards, compressed
 * clusters, writes that do not fill their clusters. */
static char *chain_build(const char *dir, const char *prefix, const char *options)
{
        _cleanup_free_ char *base_name = NULL, *middle_name = NULL, *top_name = NULL;
        _cleanup_free_ char *base = NULL, *middle = NULL;
        char *top;

        assert_true(asprintf(&base_name, "%s-base.qcow2", prefix) >= 0);
        assert_true(asprintf(&middle_name, "%s-middle.qcow2", prefix) >= 0);
        assert_true(asprintf(&top_name, "%s-top.qcow2", prefix) >= 0);
        base = test_path_in(dir, base_name);
        middle = test_path_in(dir, middle_name);
        top = test_path_in(dir, top_name);

        test_image_create(base, options, NULL, NULL, "40M");
        test_qemu_io_all(base, "qcow2", "write -P 0x11 0 4M", "write -P 0x12 8M 3M",
                         "write -c -P 0x13 16M 2M", "write -P 0x14 30M 17k", NULL);
        test_image_create(middle, options, base, "qcow2", NULL);
        test_qemu_io_all(middle, "qcow2", "write -P 0x21 1M 64k", "write -z 2M 1M", "discard 8M 1M",
                         "write -c -P 0x22 20M 2M", "write -P 0x23 33333 4444", NULL);
        test_image_create(top, options, middle, "qcow2", NULL);
        test_qemu_io_all(top, "qcow2", "write -P 0x31 1536k 512k", "write -z 16M 64k",
                         "write -P 0x32 39M 1M", NULL);
        return top;
}

static int collapse(vmsnap_pool *pool, const char *source, const char *target, vmsnap_image_format format,
                    const vmsnap_hooks *hooks, vmsnap_error *error)
{
        vmsnap_collapse_item item = {.source = source, .target = target, .format = format};

        return vmsnap_collapse_run(pool, &item, 1, hooks, error);
}

static void assert_copy_reads_like(const char *target, vmsnap_image_format format, const char *source)
{
        const char *argv[] = {"qemu-img", "compare", "-q", "-f", vmsnap_image_format_name(format),
                              target,     source,    NULL};

        if (test_run(argv) != 0)
                fail_msg("%s does not read what %s reads", target, source);
        if (format == VMSNAP_FORMAT_QCOW2) {
                const char *check[] = {"qemu-img", "check", "-q", target, NULL};

                if (test_run(check) != 0)
                        fail_msg("qemu-img check finds errors or leaks in %s", target);
        }
}

static void assert_collapses(fixture *f, const char *source, vmsnap_image_format format)
{
        _cleanup_free_ char *target = NULL;
        vmsnap_error error = {0};

        assert_true(asprintf(&target, "%s.copy.%s", source, vmsnap_image_format_name(format)) >= 0);
        if (collapse(f->pool, source, target, format, NULL, &error) < 0)
                fail_msg("collapsing %s failed: %s", source, error.message);
        assert_copy_reads_like(target, format, source);
        unlink(target);
}

static bool exists(const char *path)
{
        struct stat st;

        return lstat(path, &st) == 0;
}

static int setup(void **state)
{
        fixture *f = calloc(1, sizeof(*f));
        vmsnap_error error = {0};

        assert_non_null(f);
        f->dir = test_tmpdir_new();
        if (vmsnap_pool_new(0, &f->pool, &error) < 0)
                fail_msg("%s", error.message);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture *f = *state;

        if (f->mount_point) {
                const char *umount_argv[] = {"umount", f->mount_point, NULL};

                if (test_run(umount_argv) != 0)
                        fprintf(stderr, "# umount %s failed\n", f->mount_point);
                free(f->mount_point);
        }
        vmsnap_pool_free(f->pool);
        test_tmpdir_remove(f->dir);
        free(f->dir);
        free(f);
        return 0;
}

static void test_collapse_copies_a_chain_to_qcow2_that_qemu_img_checks(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *top = chain_build(f->dir, "c", NULL);

        assert_collapses(f, top, VMSNAP_FORMAT_QCOW2);
}

static void test_collapse_copies_a_chain_to_sparse_raw(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *top = chain_build(f->dir, "c", NULL),
                            *target = test_path_in(f->dir, "copy.raw");
        vmsnap_error error = {0};
        struct stat st;

        if (collapse(f->pool, top, target, VMSNAP_FORMAT_RAW, NULL, &error) < 0)
                fail_msg("%s", error.message);
        assert_copy_reads_like(target, VMSNAP_FORMAT_RAW, top);
        assert_int_equal(stat(target, &st), 0);
        assert_int_equal(st.st_size, 40 << 20);
        /* About 10 MiB of the 40 MiB hold data; zeroes and holes are not written. */
        assert_true((uint64_t)st.st_blocks * 512 < UINT64_C(16) << 20);
}

static void test_collapse_copies_chains_of_every_cluster_size_and_feature(void **state)
{
        static const struct {
                const char *prefix;
                const char *options;
        } kinds[] = {
                {"c512", "cluster_size=512"},
                {"c4k", "cluster_size=4096"},
                {"c2m", "cluster_size=2097152"},
                {"zstd", "compression_type=zstd"},
                {"sub", "extended_l2=on"},
                {"v2", "compat=0.10"},
                {"sub32k", "extended_l2=on,cluster_size=32768"},
        };
        fixture *f = *state;

        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
                _cleanup_free_ char *top = chain_build(f->dir, kinds[i].prefix, kinds[i].options);

                assert_collapses(f, top, VMSNAP_FORMAT_QCOW2);
                assert_collapses(f, top, VMSNAP_FORMAT_RAW);
        }
}

static void test_collapse_copies_a_raw_base_and_a_raw_disk(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *base = test_path_in(f->dir, "base.raw"),
                            *top = test_path_in(f->dir, "top.qcow2");

        test_raw_create(base, "8M");
        test_qemu_io_all(base, "raw", "write -P 0x41 1M 1M", "write -P 0x42 5M 12345", NULL);
        test_image_create(top, NULL, base, "raw", NULL);
        test_qemu_io_all(top, "qcow2", "write -P 0x43 1536k 4k", NULL);

        assert_collapses(f, top, VMSNAP_FORMAT_QCOW2);
        assert_collapses(f, top, VMSNAP_FORMAT_RAW);
        assert_collapses(f, base, VMSNAP_FORMAT_QCOW2);
}

/* A raw base of 20,480 blocks of 4 KiB, each a hole's width from the next, under a qcow2
 * overlay: more data extents than the collapse places at once (16,384), with the window's edge
 * inside a cluster and an L2 table of the qcow2 target. */
static char *many_extents_chain_build(const char *dir)
{
        _cleanup_free_ char *base = test_path_in(dir, "many.raw");
        char *top = test_path_in(dir, "many.qcow2");
        uint8_t block[4096];
        int fd;

        fd = open(base, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 160 << 20), 0);
        for (unsigned i = 0; i < 20480; i++) {
                memset(block, (int)(i % 251) + 1, sizeof(block));
                assert_int_equal(pwrite(fd, block, sizeof(block), (off_t)i * 8192), (ssize_t)sizeof(block));
        }
        assert_int_equal(close(fd), 0);

        test_image_create(top, NULL, base, "raw", NULL);
        test_qemu_io_all(top, "qcow2", "write -P 0x71 1M 64k", "write -P 0x72 130M 3M", "write -z 150M 1M",
                         NULL);
        return top;
}

static void test_collapse_copies_a_disk_of_more_extents_than_one_window(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *top = many_extents_chain_build(f->dir);

        assert_collapses(f, top, VMSNAP_FORMAT_QCOW2);
        assert_collapses(f, top, VMSNAP_FORMAT_RAW);
}

static void test_collapse_reads_zeroes_past_the_end_of_a_short_backing_file(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *base = test_path_in(f->dir, "base.qcow2"),
                            *top = test_path_in(f->dir, "top.qcow2");

        test_image_create(base, NULL, NULL, NULL, "3M");
        test_qemu_io_all(base, "qcow2", "write -P 0x51 0 3M", NULL);
        test_image_create(top, NULL, base, "qcow2", "8M");
        test_qemu_io_all(top, "qcow2", "write -P 0x52 6M 64k", NULL);

        assert_collapses(f, top, VMSNAP_FORMAT_QCOW2);
        assert_collapses(f, top, VMSNAP_FORMAT_RAW);
}

static void test_collapse_copies_a_chain_of_depth_50_with_relative_names(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *cwd = getcwd(NULL, 0);
        char *previous = test_path_in(f->dir, "layer0.qcow2");

        test_image_create(previous, NULL, NULL, NULL, "8M");
        test_qemu_io_all(previous, "qcow2", "write -P 0x01 0 8M", NULL);
        for (unsigned i = 1; i < 50; i++) {
                _cleanup_free_ char *name = NULL, *previous_name = NULL, *command = NULL;
                char *layer;

                assert_true(asprintf(&name, "layer%u.qcow2", i) >= 0);
                assert_true(asprintf(&previous_name, "layer%u.qcow2", i - 1) >= 0);
                layer = test_path_in(f->dir, name);
                test_image_create(layer, NULL, previous_name, "qcow2", "8M");
                assert_true(asprintf(&command, "write -P %u %u 5000", i + 1, i * 150000) >= 0);
                test_qemu_io_all(layer, "qcow2", command, NULL);
                free(previous);
                previous = layer;
        }

        /* Relative to each image's directory, not to ours. */
        assert_int_equal(chdir("/"), 0);
        assert_collapses(f, previous, VMSNAP_FORMAT_QCOW2);
        assert_int_equal(chdir(cwd), 0);
        free(previous);
}

static void test_collapse_copies_several_disks_in_one_call(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *a = chain_build(f->dir, "a", NULL),
                            *b = chain_build(f->dir, "b", "cluster_size=4096"),
                            *a_copy = test_path_in(f->dir, "a.copy"),
                            *b_copy = test_path_in(f->dir, "b.copy"),
                            *c_copy = test_path_in(f->dir, "c.copy"),
                            *d_copy = test_path_in(f->dir, "d.copy");
        vmsnap_collapse_item items[] = {
                {.source = a, .target = a_copy, .format = VMSNAP_FORMAT_QCOW2},
                {.source = b, .target = b_copy, .format = VMSNAP_FORMAT_RAW},
                {.source = a, .target = c_copy, .format = VMSNAP_FORMAT_RAW},
                {.source = b, .target = d_copy, .format = VMSNAP_FORMAT_QCOW2},
        };
        vmsnap_error error = {0};

        if (vmsnap_collapse_run(f->pool, items, 4, NULL, &error) < 0)
                fail_msg("%s", error.message);
        for (size_t i = 0; i < 4; i++)
                assert_copy_reads_like(items[i].target, items[i].format, items[i].source);
}

static void test_collapse_removes_a_copy_not_created_in_the_checked_directory(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        struct stat dir;
        _cleanup_free_ char *a = chain_build(f->dir, "a", NULL), *a_copy = test_path_in(f->dir, "a.copy");

        /* As if a directory on the copy's path had been swapped after the check. */
        assert_int_equal(stat("/", &dir), 0);
        vmsnap_collapse_item item = {.source = a,
                                     .target = a_copy,
                                     .format = VMSNAP_FORMAT_QCOW2,
                                     .dir_device = dir.st_dev,
                                     .dir_inode = dir.st_ino};
        assert_int_equal(vmsnap_collapse_run(f->pool, &item, 1, NULL, &error), -ESTALE);
        assert_non_null(strstr(error.message, "was not created in the directory that was checked"));
        assert_false(vmsnap_file_exists(a_copy));

        /* The right directory: copied. */
        assert_int_equal(stat(f->dir, &dir), 0);
        item.dir_device = dir.st_dev;
        item.dir_inode = dir.st_ino;
        assert_int_equal(vmsnap_collapse_run(f->pool, &item, 1, NULL, &error), 0);
        assert_copy_reads_like(a_copy, VMSNAP_FORMAT_QCOW2, a);
}

typedef struct thread_job {
        vmsnap_pool *pool;
        const char *source;
        const char *target;
        int result;
        vmsnap_error error;
} thread_job;

static void *thread_collapse(void *userdata)
{
        thread_job *job = userdata;

        job->result = collapse(job->pool, job->source, job->target, VMSNAP_FORMAT_QCOW2, NULL, &job->error);
        return NULL;
}

static void test_collapse_runs_from_several_threads_on_one_pool(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *a = chain_build(f->dir, "a", NULL),
                            *b = chain_build(f->dir, "b", "cluster_size=2097152"),
                            *a_copy = test_path_in(f->dir, "a.copy"),
                            *b_copy = test_path_in(f->dir, "b.copy");
        thread_job jobs[2] = {
                {.pool = f->pool, .source = a, .target = a_copy},
                {.pool = f->pool, .source = b, .target = b_copy},
        };
        pthread_t threads[2];

        for (size_t i = 0; i < 2; i++)
                assert_int_equal(pthread_create(&threads[i], NULL, thread_collapse, &jobs[i]), 0);
        for (size_t i = 0; i < 2; i++) {
                assert_int_equal(pthread_join(threads[i], NULL), 0);
                if (jobs[i].result < 0)
                        fail_msg("%s", jobs[i].error.message);
                assert_copy_reads_like(jobs[i].target, VMSNAP_FORMAT_QCOW2, jobs[i].source);
        }
}

typedef struct recorder {
        uint64_t done, total;
        unsigned reports;
        bool backwards;
        pthread_t thread;
        bool other_thread;
        char messages[4096];
        bool cancel;              /* answer yes to is_canceled... */
        unsigned cancel_after;    /* ...once this many progress reports came */
        struct timespec canceled; /* when it first did */
} recorder;

static void record_progress(void *userdata, uint64_t done, uint64_t total)
{
        recorder *r = userdata;

        if (done < r->done || done > total)
                r->backwards = true;
        if (!pthread_equal(pthread_self(), r->thread))
                r->other_thread = true;
        r->done = done;
        r->total = total;
        r->reports++;
}

static void record_message(void *userdata, const char *text)
{
        recorder *r = userdata;

        if (!pthread_equal(pthread_self(), r->thread))
                r->other_thread = true;
        strncat(r->messages, text, sizeof(r->messages) - strlen(r->messages) - 2);
        strcat(r->messages, "\n");
}

static bool record_is_canceled(void *userdata)
{
        recorder *r = userdata;

        if (!pthread_equal(pthread_self(), r->thread))
                r->other_thread = true;
        if (!r->cancel || r->reports < r->cancel_after)
                return false;
        if (r->canceled.tv_sec == 0)
                clock_gettime(CLOCK_MONOTONIC, &r->canceled);
        return true;
}

static vmsnap_hooks recorder_hooks(recorder *r)
{
        r->thread = pthread_self();
        return (vmsnap_hooks){
                .progress = record_progress,
                .message = record_message,
                .is_canceled = record_is_canceled,
                .userdata = r,
        };
}

static void test_collapse_reports_progress_on_the_callers_thread_up_to_the_data_size(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *top = chain_build(f->dir, "c", NULL),
                            *target = test_path_in(f->dir, "copy.qcow2");
        recorder r = {0};
        vmsnap_hooks hooks = recorder_hooks(&r);
        vmsnap_error error = {0};

        if (collapse(f->pool, top, target, VMSNAP_FORMAT_QCOW2, &hooks, &error) < 0)
                fail_msg("%s", error.message);
        assert_true(r.reports >= 2);
        assert_false(r.backwards);
        assert_false(r.other_thread);
        assert_int_equal(r.done, r.total);
        /* Bytes to copy, not the virtual size: about 10 MiB of 40. */
        assert_true(r.total >= (UINT64_C(9) << 20) && r.total <= (UINT64_C(12) << 20));
        assert_string_equal(r.messages, "");
}

static void test_collapse_gives_the_target_the_owner_and_mode_of_its_source(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *top = chain_build(f->dir, "c", NULL),
                            *target = test_path_in(f->dir, "copy.qcow2");
        vmsnap_error error = {0};
        struct stat st;

        assert_int_equal(chmod(top, 0640), 0);
        if (geteuid() == 0)
                assert_int_equal(chown(top, 4321, 4322), 0);
        if (collapse(f->pool, top, target, VMSNAP_FORMAT_QCOW2, NULL, &error) < 0)
                fail_msg("%s", error.message);
        assert_int_equal(stat(target, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);
        if (geteuid() == 0) {
                assert_int_equal(st.st_uid, 4321);
                assert_int_equal(st.st_gid, 4322);
        }
}

static void test_collapse_refuses_an_existing_target_and_leaves_it_alone(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *top = chain_build(f->dir, "c", NULL),
                            *target = test_path_in(f->dir, "copy.qcow2"),
                            *link = test_path_in(f->dir, "link.qcow2");
        vmsnap_error error = {0};
        struct stat st;
        int fd;

        fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "keep", 4), 4);
        close(fd);

        assert_int_equal(collapse(f->pool, top, target, VMSNAP_FORMAT_QCOW2, NULL, &error), -EEXIST);
        assert_non_null(strstr(error.message, "already exists"));
        assert_int_equal(stat(target, &st), 0);
        assert_int_equal(st.st_size, 4);

        /* Nor through a symlink, dangling or not. */
        assert_int_equal(symlink("nowhere", link), 0);
        assert_int_equal(collapse(f->pool, top, link, VMSNAP_FORMAT_QCOW2, NULL, &error), -EEXIST);
        assert_int_equal(lstat(link, &st), 0);
        assert_true(S_ISLNK(st.st_mode));
}

static void test_collapse_refuses_a_damaged_chain_before_creating_any_target(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *good = chain_build(f->dir, "good", NULL),
                            *bad = test_path_in(f->dir, "bad.qcow2"),
                            *good_copy = test_path_in(f->dir, "good.copy"),
                            *bad_copy = test_path_in(f->dir, "bad.copy");
        vmsnap_collapse_item items[] = {
                {.source = good, .target = good_copy, .format = VMSNAP_FORMAT_QCOW2},
                {.source = bad, .target = bad_copy, .format = VMSNAP_FORMAT_QCOW2},
        };
        vmsnap_error error = {0};
        uint8_t entry[8] = {0x80, 0, 0, 0x10, 0, 0, 0, 0}; /* a data cluster at 64 GiB */
        uint8_t l1_bytes[8];
        uint64_t l1 = 0, l2 = 0;
        int fd;

        test_image_create(bad, NULL, NULL, NULL, "8M");
        test_qemu_io_all(bad, "qcow2", "write -P 1 0 1M", NULL);
        fd = open(bad, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, l1_bytes, 8, 40), 8);
        for (int i = 0; i < 8; i++)
                l1 = l1 << 8 | l1_bytes[i];
        assert_int_equal(pread(fd, l1_bytes, 8, (off_t)l1), 8);
        for (int i = 0; i < 8; i++)
                l2 = l2 << 8 | l1_bytes[i];
        l2 &= UINT64_C(0x00fffffffffffe00);
        assert_int_equal(pwrite(fd, entry, 8, (off_t)(l2 + 8 * 3)), 8);
        close(fd);

        assert_int_equal(vmsnap_collapse_run(f->pool, items, 2, NULL, &error), -EBADMSG);
        assert_int_equal(error.kind, VMSNAP_ERROR_FAILED);
        assert_non_null(strstr(error.message, bad));
        assert_non_null(strstr(error.message, "past the end of the file"));
        assert_false(exists(good_copy));
        assert_false(exists(bad_copy));
}

static void test_collapse_refuses_an_image_not_closed_cleanly(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *top = chain_build(f->dir, "c", NULL),
                            *target = test_path_in(f->dir, "copy.qcow2");
        uint8_t dirty[8] = {0, 0, 0, 0, 0, 0, 0, 1};
        vmsnap_error error = {0};
        int fd = open(top, O_WRONLY | O_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, dirty, 8, 72), 8);
        close(fd);

        assert_int_equal(collapse(f->pool, top, target, VMSNAP_FORMAT_QCOW2, NULL, &error), -EUCLEAN);
        assert_non_null(strstr(error.message, "was not closed cleanly"));
        assert_non_null(strstr(error.message, "qemu-img check -r all"));
        assert_false(exists(target));
}

static double seconds_since(const struct timespec *then)
{
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &now);
        return (double)(now.tv_sec - then->tv_sec) + (double)(now.tv_nsec - then->tv_nsec) / 1e9;
}

static void test_collapse_canceled_mid_copy_leaves_no_target(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *base = test_path_in(f->dir, "big.raw"),
                            *top = test_path_in(f->dir, "top.qcow2"),
                            *a_copy = test_path_in(f->dir, "a.copy"),
                            *b_copy = test_path_in(f->dir, "b.copy");
        vmsnap_collapse_item items[] = {
                {.source = top, .target = a_copy, .format = VMSNAP_FORMAT_RAW},
                {.source = base, .target = b_copy, .format = VMSNAP_FORMAT_QCOW2},
        };
        /* The first report comes once the targets exist, before any data moves. */
        recorder r = {.cancel = true, .cancel_after = 1};
        vmsnap_hooks hooks = recorder_hooks(&r);
        vmsnap_error error = {0};

        /* 2 x 1 GiB of data: far more than the first look at the cancel flag lets through. */
        test_raw_create(base, "1G");
        test_qemu_io_all(base, "raw", "write -P 0x61 0 1G", NULL);
        test_image_create(top, NULL, base, "raw", NULL);

        assert_int_equal(vmsnap_collapse_run(f->pool, items, 2, &hooks, &error), -ECANCELED);
        assert_int_equal(error.kind, VMSNAP_ERROR_CANCELED);
        assert_true(r.canceled.tv_sec != 0);
        /* It stopped within a chunk or so, and long before the end. */
        assert_true(seconds_since(&r.canceled) < 2.0);
        assert_true(r.done < r.total / 2);
        assert_false(exists(a_copy));
        assert_false(exists(b_copy));
}

static void test_collapse_canceled_before_it_begins_creates_nothing(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *top = chain_build(f->dir, "c", NULL),
                            *target = test_path_in(f->dir, "copy.qcow2");
        recorder r = {.cancel = true};
        vmsnap_hooks hooks = recorder_hooks(&r);
        vmsnap_error error = {0};

        assert_int_equal(collapse(f->pool, top, target, VMSNAP_FORMAT_QCOW2, &hooks, &error), -ECANCELED);
        assert_int_equal(error.kind, VMSNAP_ERROR_CANCELED);
        assert_false(exists(target));
}

static void test_collapse_falls_back_to_qemu_img_for_an_external_data_file(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *top = test_path_in(f->dir, "top.qcow2"),
                            *data = test_path_in(f->dir, "data.raw"),
                            *target = test_path_in(f->dir, "copy.qcow2"), *options = NULL;
        recorder r = {0};
        vmsnap_hooks hooks = recorder_hooks(&r);
        vmsnap_error error = {0};
        struct stat st;

        assert_true(asprintf(&options, "data_file=%s", data) >= 0);
        test_image_create(top, options, NULL, NULL, "16M");
        test_qemu_io_all(top, "qcow2", "write -P 0x71 1M 3M", "write -P 0x72 9M 64k", NULL);
        assert_int_equal(chmod(top, 0604), 0);

        if (collapse(f->pool, top, target, VMSNAP_FORMAT_QCOW2, &hooks, &error) < 0)
                fail_msg("%s", error.message);
        assert_copy_reads_like(target, VMSNAP_FORMAT_QCOW2, top);
        assert_non_null(strstr(r.messages, "qemu-img convert"));
        assert_non_null(strstr(r.messages, "external data file"));
        assert_false(r.other_thread);
        assert_false(r.backwards);
        assert_int_equal(r.done, r.total);
        /* qemu-img wrote into the file vmsnap created, with the source's mode. */
        assert_int_equal(stat(target, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0604);
}

static void test_collapse_canceled_while_qemu_img_copies_leaves_no_target(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *top = test_path_in(f->dir, "top.qcow2"),
                            *data = test_path_in(f->dir, "data.raw"),
                            *target = test_path_in(f->dir, "copy.qcow2"), *options = NULL;
        recorder r = {.cancel = true, .cancel_after = 1};
        vmsnap_hooks hooks = recorder_hooks(&r);
        vmsnap_error error = {0};

        assert_true(asprintf(&options, "data_file=%s", data) >= 0);
        test_image_create(top, options, NULL, NULL, "1G");
        test_qemu_io_all(top, "qcow2", "write -P 0x75 0 768M", NULL);

        assert_int_equal(collapse(f->pool, top, target, VMSNAP_FORMAT_QCOW2, &hooks, &error), -ECANCELED);
        assert_int_equal(error.kind, VMSNAP_ERROR_CANCELED);
        assert_true(seconds_since(&r.canceled) < 2.0);
        assert_non_null(strstr(r.messages, "qemu-img convert"));
        assert_false(exists(target));
}

static void test_collapse_falls_back_to_qemu_img_for_a_vmdk_image(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *vmdk = test_path_in(f->dir, "disk.vmdk"),
                            *target = test_path_in(f->dir, "copy.raw");
        const char *create[] = {"qemu-img", "create", "-q", "-f", "vmdk", vmdk, "8M", NULL};
        recorder r = {0};
        vmsnap_hooks hooks = recorder_hooks(&r);
        vmsnap_error error = {0};

        assert_int_equal(test_run(create), 0);
        test_qemu_io_all(vmdk, "vmdk", "write -P 0x81 2M 1M", NULL);

        if (collapse(f->pool, vmdk, target, VMSNAP_FORMAT_RAW, &hooks, &error) < 0)
                fail_msg("%s", error.message);
        assert_copy_reads_like(target, VMSNAP_FORMAT_RAW, vmdk);
        assert_non_null(strstr(r.messages, "qemu-img convert"));
        assert_non_null(strstr(r.messages, "vmdk"));
}

static void test_collapse_removes_every_target_when_qemu_img_fails(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *good = chain_build(f->dir, "good", NULL),
                            *locked = test_path_in(f->dir, "locked.qcow2"),
                            *good_copy = test_path_in(f->dir, "good.copy"),
                            *locked_copy = test_path_in(f->dir, "locked.copy");
        vmsnap_collapse_item items[] = {
                {.source = good, .target = good_copy, .format = VMSNAP_FORMAT_QCOW2},
                {.source = locked, .target = locked_copy, .format = VMSNAP_FORMAT_QCOW2},
        };
        uint8_t aes[4] = {0, 0, 0, 1};
        vmsnap_error error = {0};
        int fd;

        /* Encrypted (qcow2's old AES): vmsnap hands it to qemu-img, which has no key for it. */
        test_image_create(locked, NULL, NULL, NULL, "8M");
        fd = open(locked, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, aes, 4, 32), 4);
        close(fd);

        assert_true(vmsnap_collapse_run(f->pool, items, 2, NULL, &error) < 0);
        assert_non_null(strstr(error.message, "qemu-img"));
        assert_false(exists(good_copy));
        assert_false(exists(locked_copy));
}

static void test_collapse_estimate_bounds_what_is_written(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *top = chain_build(f->dir, "c", "cluster_size=4096"),
                            *qcow2 = test_path_in(f->dir, "copy.qcow2"),
                            *raw = test_path_in(f->dir, "copy.raw");
        uint64_t bytes = 0, virtual_size = 0;
        vmsnap_error error = {0};
        struct stat st;

        assert_int_equal(vmsnap_collapse_estimate(top, NULL, &bytes, &virtual_size, &error), 0);
        assert_int_equal(virtual_size, 40 << 20);
        assert_true(bytes < virtual_size);

        assert_int_equal(collapse(f->pool, top, qcow2, VMSNAP_FORMAT_QCOW2, NULL, &error), 0);
        assert_int_equal(stat(qcow2, &st), 0);
        assert_true((uint64_t)st.st_size <= bytes);
        assert_true((uint64_t)st.st_blocks * 512 <= bytes);
        assert_int_equal(collapse(f->pool, top, raw, VMSNAP_FORMAT_RAW, NULL, &error), 0);
        assert_int_equal(stat(raw, &st), 0);
        assert_true((uint64_t)st.st_blocks * 512 <= bytes);
}

/* ---- XFS with reflink, on a loop device (root only) ---- */

/* Mounts a fresh 1 GiB XFS with reflink at f->mount_point, or says why it cannot. */
static bool xfs_mount(fixture *f, char *reason, size_t reason_size)
{
        _cleanup_free_ char *image = test_path_in(f->dir, "xfs.img"),
                            *mount_point = test_path_in(f->dir, "xfs");
        const char *mkfs[] = {"mkfs.xfs", "-q", "-m", "reflink=1", image, NULL};
        const char *mount_loop[] = {"mount", "-o", "loop", image, mount_point, NULL};
        int fd;

        if (geteuid() != 0) {
                snprintf(reason, reason_size, "mounting a loop device needs root");
                return false;
        }
        fd = open(image, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, INT64_C(1) << 30), 0);
        close(fd);
        if (test_run(mkfs) != 0) {
                snprintf(reason, reason_size, "mkfs.xfs -m reflink=1 failed (is xfsprogs installed?)");
                return false;
        }
        assert_int_equal(mkdir(mount_point, 0755), 0);
        if (test_run(mount_loop) != 0) {
                snprintf(reason, reason_size,
                         "mount -o loop of an XFS image failed (no loop devices here?)");
                return false;
        }
        f->mount_point = mount_point;
        mount_point = NULL;
        return true;
}

/* The test goes on with an XFS mount at f->mount_point, or is skipped saying why there is none. */
static void xfs_mount_or_skip(fixture *f)
{
        char reason[256];

        if (!xfs_mount(f, reason, sizeof(reason))) {
                printf("# skipped: %s\n", reason);
                fflush(stdout);
                skip();
        }
}

static uint64_t used_bytes(const char *dir)
{
        struct statvfs sv;

        assert_int_equal(statvfs(dir, &sv), 0);
        return (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
}

static void test_collapse_shares_blocks_by_reflink_on_xfs(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *base = NULL, *top = NULL, *qcow2 = NULL, *raw = NULL;
        vmsnap_error error = {0};
        uint64_t before, after;

        xfs_mount_or_skip(f);
        base = test_path_in(f->mount_point, "base.qcow2");
        qcow2 = test_path_in(f->mount_point, "copy.qcow2");
        raw = test_path_in(f->mount_point, "copy.raw");

        test_image_create(base, NULL, NULL, NULL, "256M");
        test_qemu_io_all(base, "qcow2", "write -P 0x91 0 128M", NULL);
        top = chain_build(f->mount_point, "x", "cluster_size=4096");
        sync();

        before = used_bytes(f->mount_point);
        if (collapse(f->pool, base, qcow2, VMSNAP_FORMAT_QCOW2, NULL, &error) < 0)
                fail_msg("%s", error.message);
        sync();
        after = used_bytes(f->mount_point);
        printf("# a collapse of 128 MiB of data on XFS took %llu KiB of new space\n",
               (unsigned long long)((after - before) >> 10));
        /* The data is shared, not copied: only metadata is new. */
        assert_true(after - before < UINT64_C(8) << 20);
        assert_copy_reads_like(qcow2, VMSNAP_FORMAT_QCOW2, base);

        /* A chain of 4 KiB clusters with compressed ones: shared where aligned, copied where not. */
        if (collapse(f->pool, top, raw, VMSNAP_FORMAT_RAW, NULL, &error) < 0)
                fail_msg("%s", error.message);
        assert_copy_reads_like(raw, VMSNAP_FORMAT_RAW, top);
}

/* Where qemu-img map says each of the guest offsets of the qcow2 image path lies in its file. */
static void mapped_offsets(const char *path, const uint64_t *guests, size_t n, uint64_t *offsets)
{
        const char *argv[] = {"qemu-img", "map", "--output=json", "-f", "qcow2", path, NULL};
        _cleanup_free_ char *output = test_capture(argv);
        json_object *map;

        assert_non_null(output);
        map = json_tokener_parse(output);
        assert_non_null(map);
        for (size_t i = 0; i < n; i++) {
                offsets[i] = UINT64_MAX;
                for (size_t j = 0; j < json_object_array_length(map); j++) {
                        json_object *run = json_object_array_get_idx(map, j), *start, *length, *offset;

                        if (!json_object_object_get_ex(run, "start", &start) ||
                            !json_object_object_get_ex(run, "length", &length) ||
                            !json_object_object_get_ex(run, "offset", &offset))
                                continue;
                        if (guests[i] >= (uint64_t)json_object_get_int64(start) &&
                            guests[i] < (uint64_t)json_object_get_int64(start) +
                                                (uint64_t)json_object_get_int64(length))
                                offsets[i] = (uint64_t)json_object_get_int64(offset) + guests[i] -
                                             (uint64_t)json_object_get_int64(start);
                }
                if (offsets[i] == UINT64_MAX)
                        fail_msg("qemu-img map places no data at guest offset %llu of %s",
                                 (unsigned long long)guests[i], path);
        }
        json_object_put(map);
}

/* With reflink, a qcow2 copy lays out its clusters the way each layer's file holds them, so that
 * a layer's clusters are shared in a few long reflinks rather than one each. */
static void test_collapse_on_xfs_keeps_each_layers_clusters_in_the_order_of_its_file(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *base = NULL, *top = NULL, *copy = NULL, *many = NULL;
        const char *writes[16];
        char commands[16][48];
        uint64_t guests[16], offsets[16];
        vmsnap_error error = {0};

        xfs_mount_or_skip(f);
        base = test_path_in(f->mount_point, "base.qcow2");
        top = test_path_in(f->mount_point, "top.qcow2");
        copy = test_path_in(f->mount_point, "copy.qcow2");

        test_image_create(base, NULL, NULL, NULL, "64M");
        test_qemu_io_all(base, "qcow2", "write -P 0x81 0 16M", NULL);
        /* The overlay's clusters, written from the end of the disk back: its file holds them in the
         * reverse of guest order. One of them hides a cluster of the base. */
        test_image_create(top, NULL, base, "qcow2", NULL);
        for (unsigned i = 0; i < 16; i++) {
                guests[i] = i == 15 ? UINT64_C(4) << 20 : (UINT64_C(47) - i) << 20;
                snprintf(commands[i], sizeof(commands[i]), "write -P %u %llu 64k", 0x90 + i,
                         (unsigned long long)guests[i]);
                writes[i] = commands[i];
        }
        test_qemu_io_list(top, "qcow2", writes, 16);

        if (collapse(f->pool, top, copy, VMSNAP_FORMAT_QCOW2, NULL, &error) < 0)
                fail_msg("%s", error.message);
        assert_copy_reads_like(copy, VMSNAP_FORMAT_QCOW2, top);

        /* In the copy as in the overlay: each cluster right after the one written before it. */
        mapped_offsets(copy, guests, 16, offsets);
        for (unsigned i = 1; i < 16; i++)
                if (offsets[i] != offsets[i - 1] + 65536)
                        fail_msg("the overlay's cluster at guest %llu lies at %llu of the copy, not right "
                                 "after the one written before it (%llu)",
                                 (unsigned long long)guests[i], (unsigned long long)offsets[i],
                                 (unsigned long long)offsets[i - 1]);

        /* The same across the edge of a window. */
        many = many_extents_chain_build(f->mount_point);
        assert_collapses(f, many, VMSNAP_FORMAT_QCOW2);
}

/* ---- memory ---- */

static void test_collapse_of_a_64_gib_sparse_disk_keeps_memory_bounded(void **state)
{
        fixture *f = *state;
        _cleanup_free_ char *top = test_path_in(f->dir, "big.qcow2"),
                            *qcow2 = test_path_in(f->dir, "copy.qcow2"),
                            *raw = test_path_in(f->dir, "copy.raw");
        const char *commands[64];
        char writes[64][48];
        long peak_kib = 0;

        test_image_create(top, NULL, NULL, NULL, "64G");
        for (unsigned i = 0; i < 64; i++) {
                snprintf(writes[i], sizeof(writes[i]), "write -P %u %uG 1M", i + 1, i);
                commands[i] = writes[i];
        }
        test_qemu_io_list(top, "qcow2", commands, 64);

        /* In a fresh process of its own (this program again), so that its peak memory is the
         * collapse's alone. */
        {
                const char *argv[] = {"/proc/self/exe", "--collapse-memory", top, qcow2, raw, NULL};
                _cleanup_free_ char *output = test_capture(argv);

                assert_non_null(output);
                peak_kib = strtol(output, NULL, 10);
                assert_true(peak_kib > 0);
        }

        printf("# peak RSS collapsing a 64 GiB disk (64 MiB of data) to qcow2 and raw: %ld KiB\n", peak_kib);
        fflush(stdout);
        assert_true(peak_kib < 32 * 1024);
        assert_copy_reads_like(qcow2, VMSNAP_FORMAT_QCOW2, top);
        assert_copy_reads_like(raw, VMSNAP_FORMAT_RAW, top);
}

/* The process's peak resident memory in KiB. VmHWM rather than getrusage()'s ru_maxrss,
 * which Linux carries over execve() from the forked parent. */
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

/* The child of the memory test: collapses argv[0] to qcow2 argv[1] and raw argv[2] on a fresh
 * pool, then prints its peak RSS in KiB. */
static int collapse_memory_child(char **argv)
{
        vmsnap_pool *pool = NULL;
        vmsnap_error error = {0};
        int r;

        r = vmsnap_pool_new(0, &pool, &error);
        if (r >= 0)
                r = collapse(pool, argv[0], argv[1], VMSNAP_FORMAT_QCOW2, NULL, &error);
        if (r >= 0)
                r = collapse(pool, argv[0], argv[2], VMSNAP_FORMAT_RAW, NULL, &error);
        vmsnap_pool_free(pool);
        if (r < 0) {
                fprintf(stderr, "%s\n", error.message);
                return 1;
        }
        printf("%ld\n", peak_rss_kib());
        return 0;
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
                TEST(test_collapse_copies_a_chain_to_qcow2_that_qemu_img_checks),
                TEST(test_collapse_copies_a_chain_to_sparse_raw),
                TEST(test_collapse_copies_chains_of_every_cluster_size_and_feature),
                TEST(test_collapse_copies_a_raw_base_and_a_raw_disk),
                TEST(test_collapse_copies_a_disk_of_more_extents_than_one_window),
                TEST(test_collapse_reads_zeroes_past_the_end_of_a_short_backing_file),
                TEST(test_collapse_copies_a_chain_of_depth_50_with_relative_names),
                TEST(test_collapse_copies_several_disks_in_one_call),
                TEST(test_collapse_runs_from_several_threads_on_one_pool),
                TEST(test_collapse_removes_a_copy_not_created_in_the_checked_directory),
                TEST(test_collapse_reports_progress_on_the_callers_thread_up_to_the_data_size),
                TEST(test_collapse_gives_the_target_the_owner_and_mode_of_its_source),
                TEST(test_collapse_refuses_an_existing_target_and_leaves_it_alone),
                TEST(test_collapse_refuses_a_damaged_chain_before_creating_any_target),
                TEST(test_collapse_refuses_an_image_not_closed_cleanly),
                TEST(test_collapse_canceled_mid_copy_leaves_no_target),
                TEST(test_collapse_canceled_before_it_begins_creates_nothing),
                TEST(test_collapse_falls_back_to_qemu_img_for_an_external_data_file),
                TEST(test_collapse_canceled_while_qemu_img_copies_leaves_no_target),
                TEST(test_collapse_falls_back_to_qemu_img_for_a_vmdk_image),
                TEST(test_collapse_removes_every_target_when_qemu_img_fails),
                TEST(test_collapse_estimate_bounds_what_is_written),
                TEST(test_collapse_shares_blocks_by_reflink_on_xfs),
                TEST(test_collapse_on_xfs_keeps_each_layers_clusters_in_the_order_of_its_file),
                TEST(test_collapse_of_a_64_gib_sparse_disk_keeps_memory_bounded),
        };

        if (argc == 5 && strcmp(argv[1], "--collapse-memory") == 0)
                return collapse_memory_child(argv + 2);

        return cmocka_run_group_tests(tests, NULL, NULL);
}
