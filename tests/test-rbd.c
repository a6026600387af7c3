/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-rbd.c: the engine's layer over librbd and librados (plugin/rbd.c) against a real
 * single-node Ceph cluster that tests/with-ceph.sh starts for the run. Contents are
 * checked by qemu-img compare on rbd: URLs (QEMU's own RBD driver) against raw files
 * written with the same qemu-io commands; foreign snapshots and images are made with the
 * rbd command, as someone else would. Skipped without the cluster. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "error.h"
#include "rbd.h"
#include "testlib.h"

static const char *ceph_conf, *ceph_mon_host, *pool, *other_pool;
static vmsnap_rbd_cluster *cluster;
static char *work_dir;

static double now_seconds(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* An image name no other case uses. */
static char *unique_name(const char *what)
{
        static unsigned counter;
        return xasprintf("%s-%d-%u", what, (int)getpid(), ++counter);
}

/* QEMU's name for an image (at an RBD snapshot when snapshot is not NULL). */
static char *rbd_url(const char *in_pool, const char *image, const char *snapshot)
{
        return xasprintf("rbd:%s/%s%s%s:conf=%s", in_pool, image, snapshot ? "@" : "",
                         snapshot ? snapshot : "", ceph_conf);
}

/* A raw image of size in the pool and a local raw file as its reference, both written
 * with the same qemu-io commands (up to a NULL). Returns the reference's path. */
static char *image_with_reference(const char *image, const char *size, ...)
{
        _cleanup_free_ char *url = rbd_url(pool, image, NULL);
        char *reference = xasprintf("%s/%s.raw", work_dir, image);
        const char *create[] = {"qemu-img", "create", "-f", "raw", url, size, NULL};
        va_list ap;

        assert_int_equal(test_run(create), 0);
        test_raw_create(reference, size);
        va_start(ap, size);
        for (const char *command; (command = va_arg(ap, const char *));) {
                test_qemu_io(url, "raw", command);
                test_qemu_io(reference, "raw", command);
        }
        va_end(ap);
        return reference;
}

/* The rbd command on the test cluster, with printf-formatted arguments (no spaces in them). */
static void rbd_cli(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void rbd_cli(const char *format, ...)
{
        _cleanup_free_ char *arguments = NULL;
        va_list ap;

        va_start(ap, format);
        int r = vasprintf(&arguments, format, ap);
        va_end(ap);
        if (r < 0)
                fail_msg("out of memory");
        assert_int_equal(test_runf("rbd -c %s %s", ceph_conf, arguments), 0);
}

static bool rbd_image_exists(const char *in_pool, const char *image)
{
        _cleanup_free_ char *command = xasprintf("rbd -c %s info %s/%s", ceph_conf, in_pool, image);
        return test_runf("%s", command) == 0;
}

static int setup(void **state)
{
        vmsnap_error error = {0};

        ceph_conf = getenv("VMSNAP_TEST_CEPH_CONF");
        ceph_mon_host = getenv("VMSNAP_TEST_CEPH_MON_HOST");
        pool = getenv("VMSNAP_TEST_CEPH_POOL");
        other_pool = getenv("VMSNAP_TEST_CEPH_OTHER_POOL");
        if (!ceph_conf || !ceph_mon_host || !pool || !other_pool)
                return 0; /* every case skips: run through tests/with-ceph.sh */
        vmsnap_rbd_cluster_options options = {.config_file = ceph_conf};
        if (vmsnap_rbd_cluster_connect(&options, &cluster, &error) < 0) {
                fprintf(stderr, "# %s\n", error.message);
                return -1;
        }
        work_dir = test_tmpdir_new();
        return 0;
}

static int teardown(void **state)
{
        vmsnap_rbd_cluster_disconnect(cluster);
        if (work_dir)
                test_tmpdir_remove(work_dir);
        free(work_dir);
        return 0;
}

#define REQUIRE_CLUSTER()                                                                                   \
        do {                                                                                                \
                if (!cluster)                                                                               \
                        skip();                                                                             \
        } while (0)

/* ---- connecting ---- */

static void test_unreachable_cluster_is_a_sentence_within_seconds(void **state)
{
        REQUIRE_CLUSTER();
        /* The configuration of the real cluster, but monitors where nothing listens. */
        vmsnap_rbd_cluster_options options = {
                .config_file = ceph_conf, .mon_host = "127.0.0.1:9", .timeout_seconds = 2};
        vmsnap_rbd_cluster *unreachable = NULL;
        vmsnap_error error = {0};

        double start = now_seconds();
        int r = vmsnap_rbd_cluster_connect(&options, &unreachable, &error);
        double elapsed = now_seconds() - start;
        assert_true(r < 0);
        assert_null(unreachable);
        assert_int_equal(error.kind, VMSNAP_ERROR_FAILED);
        assert_non_null(strstr(error.message, "the Ceph cluster at 127.0.0.1:9 is not reachable: "));
        /* Bounded by the timeout, not librados' default of 300 s; generous for a loaded machine. */
        assert_true(elapsed < 15);
        print_message("# unreachable cluster refused after %.1f s: %s\n", elapsed, error.message);
}

static void test_disk_source_from_domain_xml_reaches_the_cluster(void **state)
{
        REQUIRE_CLUSTER();
        _cleanup_free_ char *image = unique_name("xml");
        _cleanup_free_ char *reference = image_with_reference(image, "4M", "write -P 0x11 0 4k", NULL);
        const char *port = strrchr(ceph_mon_host, ':') + 1;
        _cleanup_free_ char *xml =
                xasprintf("<domain type='qemu'><name>d</name><devices>"
                          "<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
                          "<source protocol='rbd' name='%s/%s'><host name='127.0.0.1' port='%s'/>"
                          "<config file='%s'/></source><target dev='vda' bus='virtio'/></disk>"
                          "</devices></domain>",
                          pool, image, port, ceph_conf);
        vmsnap_xml_rbd_source source;
        vmsnap_rbd_cluster_options options;
        vmsnap_rbd_cluster *from_xml = NULL;
        vmsnap_rbd_snapshot *snapshots = NULL;
        size_t n = 99;
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_xml_rbd_source_read(xml, "vda", &source, &error), 0);
        vmsnap_rbd_cluster_options_from_source(&source, &options);
        assert_int_equal(vmsnap_rbd_cluster_connect(&options, &from_xml, &error), 0);
        _cleanup_free_ char *expected_hosts = xasprintf("127.0.0.1:%s", port);
        assert_string_equal(vmsnap_rbd_cluster_hosts(from_xml), expected_hosts);
        assert_int_equal(
                vmsnap_rbd_snapshot_list(from_xml, source.pool, source.image, &snapshots, &n, &error), 0);
        assert_int_equal(n, 0);
        vmsnap_rbd_snapshots_free(snapshots, n);
        vmsnap_rbd_cluster_disconnect(from_xml);
        vmsnap_xml_rbd_source_clear(&source);
}

static void test_missing_pool_and_image_are_named(void **state)
{
        REQUIRE_CLUSTER();
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_rbd_snapshot_create(cluster, "no-such-pool", "img", "s1", &error), -ENOENT);
        assert_int_equal(error.kind, VMSNAP_ERROR_NOT_FOUND);
        assert_non_null(strstr(error.message, "there is no pool no-such-pool in the Ceph cluster at "));
        assert_int_equal(vmsnap_rbd_snapshot_create(cluster, pool, "no-such-image", "s1", &error), -ENOENT);
        _cleanup_free_ char *expected = xasprintf("there is no image no-such-image in pool %s", pool);
        assert_string_equal(error.message, expected);
}

/* ---- snapshots ---- */

static void test_snapshot_keeps_what_the_image_read(void **state)
{
        REQUIRE_CLUSTER();
        _cleanup_free_ char *image = unique_name("snap");
        _cleanup_free_ char *reference =
                image_with_reference(image, "16M", "write -P 0x41 0 1M", "write -P 0x42 12M 64k", NULL);
        _cleanup_free_ char *url = rbd_url(pool, image, NULL);
        _cleanup_free_ char *snapshot_url = rbd_url(pool, image, VMSNAP_RBD_SNAPSHOT_PREFIX "s1");
        vmsnap_rbd_snapshot *snapshots = NULL;
        size_t n = 0;
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_rbd_snapshot_create(cluster, pool, image, "s1", &error), 0);
        test_qemu_io(url, "raw", "write -P 0x43 0 2M");
        assert_true(test_images_equal(snapshot_url, reference));
        assert_false(test_images_equal(url, reference));

        assert_int_equal(vmsnap_rbd_snapshot_list(cluster, pool, image, &snapshots, &n, &error), 0);
        assert_int_equal(n, 1);
        assert_string_equal(snapshots[0].name, "vmsnap-s1");
        assert_string_equal(snapshots[0].vmsnap_id, "s1");
        assert_int_equal(snapshots[0].size, 16 << 20);
        vmsnap_rbd_snapshots_free(snapshots, n);

        assert_int_equal(vmsnap_rbd_snapshot_create(cluster, pool, image, "s1", &error), -EEXIST);
        assert_non_null(strstr(error.message, "already has a snapshot vmsnap-s1"));
        assert_int_equal(vmsnap_rbd_snapshot_create(cluster, pool, image, "a/b", &error), -EINVAL);

        assert_int_equal(vmsnap_rbd_snapshot_remove(cluster, pool, image, "s1", &error), 0);
        assert_int_equal(vmsnap_rbd_snapshot_list(cluster, pool, image, &snapshots, &n, &error), 0);
        assert_int_equal(n, 0);
        vmsnap_rbd_snapshots_free(snapshots, n);
        assert_int_equal(vmsnap_rbd_snapshot_remove(cluster, pool, image, "s1", &error), -ENOENT);
        assert_int_equal(error.kind, VMSNAP_ERROR_NOT_FOUND);
        rbd_cli("rm --no-progress %s/%s", pool, image);
}

static void test_foreign_snapshots_are_listed_and_named_in_the_refusal(void **state)
{
        REQUIRE_CLUSTER();
        _cleanup_free_ char *image = unique_name("foreign");
        _cleanup_free_ char *reference = image_with_reference(image, "4M", "write -P 0x51 0 4k", NULL);
        vmsnap_rbd_snapshot *snapshots = NULL;
        size_t n = 0;
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_rbd_snapshot_create(cluster, pool, image, "mine", &error), 0);
        assert_int_equal(vmsnap_rbd_image_refuse_foreign_snapshots(cluster, pool, image, &error), 0);

        /* Someone else's, one of them with vmsnap's prefix alone. */
        rbd_cli("snap create --no-progress %s/%s@backup-1", pool, image);
        rbd_cli("snap create --no-progress %s/%s@vmsnap-", pool, image);
        assert_int_equal(vmsnap_rbd_snapshot_list(cluster, pool, image, &snapshots, &n, &error), 0);
        assert_int_equal(n, 3);
        size_t foreign = 0;
        for (size_t i = 0; i < n; i++)
                foreign += snapshots[i].vmsnap_id == NULL;
        assert_int_equal(foreign, 2);
        vmsnap_rbd_snapshots_free(snapshots, n);

        assert_int_equal(vmsnap_rbd_image_refuse_foreign_snapshots(cluster, pool, image, &error), -EPERM);
        assert_int_equal(error.kind, VMSNAP_ERROR_UNSUPPORTED);
        _cleanup_free_ char *expected = xasprintf(
                "image %s in pool %s has 2 snapshots vmsnap did not make (backup-1, vmsnap-)", image, pool);
        assert_non_null(strstr(error.message, expected));
        /* vmsnap's names cannot reach them. */
        assert_int_equal(vmsnap_rbd_snapshot_remove(cluster, pool, image, "", &error), -EINVAL);
        rbd_cli("snap purge --no-progress %s/%s", pool, image);
        rbd_cli("rm --no-progress %s/%s", pool, image);
}

/* ---- clones, flatten, removal ---- */

static void test_clone_into_another_pool_reads_the_snapshot_and_is_marked(void **state)
{
        REQUIRE_CLUSTER();
        _cleanup_free_ char *image = unique_name("parent");
        _cleanup_free_ char *clone = unique_name("clone");
        _cleanup_free_ char *reference =
                image_with_reference(image, "16M", "write -P 0x61 0 1M", "write -P 0x62 8M 1M", NULL);
        _cleanup_free_ char *url = rbd_url(pool, image, NULL);
        _cleanup_free_ char *snapshot_url = rbd_url(pool, image, "vmsnap-base");
        _cleanup_free_ char *clone_url = rbd_url(other_pool, clone, NULL);
        _cleanup_free_ char *owner = NULL, *parent = NULL;
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_rbd_snapshot_create(cluster, pool, image, "base", &error), 0);
        test_qemu_io(url, "raw", "write -P 0x63 0 4M");
        assert_int_equal(vmsnap_rbd_clone(cluster, pool, image, "base", other_pool, clone, "uuid-1", &error),
                         0);
        assert_true(test_images_equal(clone_url, reference));

        assert_int_equal(vmsnap_rbd_image_owner(cluster, other_pool, clone, &owner, &error), 0);
        assert_string_equal(owner, "uuid-1");
        assert_int_equal(vmsnap_rbd_image_parent(cluster, other_pool, clone, &parent, &error), 0);
        _cleanup_free_ char *expected_parent = xasprintf("%s/%s@vmsnap-base", pool, image);
        assert_string_equal(parent, expected_parent);

        /* Writing the clone leaves the snapshot as it was. */
        test_qemu_io(clone_url, "raw", "write -P 0x64 8M 64k");
        assert_true(test_images_equal(snapshot_url, reference));
        assert_false(test_images_equal(clone_url, reference));

        assert_int_equal(vmsnap_rbd_clone(cluster, pool, image, "base", other_pool, clone, "uuid-1", &error),
                         -EEXIST);
        assert_non_null(strstr(error.message, "a clone never replaces one"));
        assert_int_equal(
                vmsnap_rbd_clone(cluster, pool, image, "nothing", other_pool, "x", "uuid-1", &error),
                -ENOENT);
        assert_false(rbd_image_exists(other_pool, "x"));

        /* The parent snapshot goes to the trash while its clone lives (v2 clones). */
        assert_int_equal(vmsnap_rbd_snapshot_remove(cluster, pool, image, "base", &error), 0);
        assert_true(test_images_equal(clone_url, clone_url));
        assert_int_equal(vmsnap_rbd_image_remove(cluster, other_pool, clone, &error), 0);
        assert_false(rbd_image_exists(other_pool, clone));
        rbd_cli("rm --no-progress %s/%s", pool, image);
}

typedef struct progress_record {
        unsigned calls;
        uint64_t done, total;
        unsigned cancel_after; /* 0: never */
        bool monotonic;
} progress_record;

static void record_progress(void *userdata, uint64_t done, uint64_t total)
{
        progress_record *record = userdata;
        if (done < record->done)
                record->monotonic = false;
        record->calls++;
        record->done = done;
        record->total = total;
}

static bool cancel_when_asked(void *userdata)
{
        progress_record *record = userdata;
        return record->cancel_after && record->calls >= record->cancel_after;
}

/* A parent of 64 objects (4 MiB each), every one with data, snapshotted; returns its reference. */
static char *parent_of_many_objects(const char *image)
{
        char *reference = image_with_reference(image, "256M", NULL);
        _cleanup_free_ char *url = rbd_url(pool, image, NULL);
        const char *commands[64];
        char *owned[64];
        for (int i = 0; i < 64; i++)
                commands[i] = owned[i] = xasprintf("write -P 0x%02x %dM 64k", 0x10 + i, 4 * i);
        test_qemu_io_list(url, "raw", commands, 64);
        test_qemu_io_list(reference, "raw", commands, 64);
        for (int i = 0; i < 64; i++)
                free(owned[i]);
        return reference;
}

static void test_flatten_makes_the_clone_stand_alone_with_byte_progress(void **state)
{
        REQUIRE_CLUSTER();
        _cleanup_free_ char *image = unique_name("flat-parent");
        _cleanup_free_ char *clone = unique_name("flat");
        _cleanup_free_ char *reference = parent_of_many_objects(image);
        _cleanup_free_ char *clone_url = rbd_url(pool, clone, NULL);
        _cleanup_free_ char *parent = NULL;
        progress_record record = {.monotonic = true};
        vmsnap_hooks hooks = {
                .progress = record_progress, .is_canceled = cancel_when_asked, .userdata = &record};
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_rbd_snapshot_create(cluster, pool, image, "base", &error), 0);
        assert_int_equal(vmsnap_rbd_clone(cluster, pool, image, "base", pool, clone, "uuid-2", &error), 0);
        assert_int_equal(vmsnap_rbd_image_flatten(cluster, pool, clone, &hooks, &error), 0);
        assert_true(record.calls > 1);
        assert_true(record.monotonic);
        assert_int_equal(record.total, 256 << 20);
        assert_int_equal(record.done, record.total);
        assert_int_equal(vmsnap_rbd_image_parent(cluster, pool, clone, &parent, &error), 0);
        assert_null(parent);
        /* Standalone: the parent's snapshot and image may go. */
        assert_int_equal(vmsnap_rbd_snapshot_remove(cluster, pool, image, "base", &error), 0);
        rbd_cli("rm --no-progress %s/%s", pool, image);
        assert_true(test_images_equal(clone_url, reference));

        assert_int_equal(vmsnap_rbd_image_flatten(cluster, pool, clone, NULL, &error), -EINVAL);
        assert_non_null(strstr(error.message, "is not a clone; there is nothing to flatten"));
        assert_int_equal(vmsnap_rbd_image_remove(cluster, pool, clone, &error), 0);
}

static void test_canceled_flatten_leaves_a_clone_reading_the_same(void **state)
{
        REQUIRE_CLUSTER();
        _cleanup_free_ char *image = unique_name("cancel-parent");
        _cleanup_free_ char *clone = unique_name("cancel");
        _cleanup_free_ char *reference = parent_of_many_objects(image);
        _cleanup_free_ char *clone_url = rbd_url(pool, clone, NULL);
        _cleanup_free_ char *parent = NULL;
        progress_record record = {.monotonic = true, .cancel_after = 2};
        vmsnap_hooks hooks = {
                .progress = record_progress, .is_canceled = cancel_when_asked, .userdata = &record};
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_rbd_snapshot_create(cluster, pool, image, "base", &error), 0);
        assert_int_equal(vmsnap_rbd_clone(cluster, pool, image, "base", pool, clone, "uuid-3", &error), 0);
        assert_int_equal(vmsnap_rbd_image_flatten(cluster, pool, clone, &hooks, &error), -ECANCELED);
        assert_int_equal(error.kind, VMSNAP_ERROR_CANCELED);
        assert_true(record.done < record.total);
        print_message("# flatten canceled at %llu of %llu bytes\n", (unsigned long long)record.done,
                      (unsigned long long)record.total);
        assert_int_equal(vmsnap_rbd_image_parent(cluster, pool, clone, &parent, &error), 0);
        assert_non_null(parent);
        assert_true(test_images_equal(clone_url, reference));

        /* A later flatten finishes the job. */
        assert_int_equal(vmsnap_rbd_image_flatten(cluster, pool, clone, NULL, &error), 0);
        assert_true(test_images_equal(clone_url, reference));
        assert_int_equal(vmsnap_rbd_image_remove(cluster, pool, clone, &error), 0);
        assert_int_equal(vmsnap_rbd_snapshot_remove(cluster, pool, image, "base", &error), 0);
        rbd_cli("rm --no-progress %s/%s", pool, image);
}

static void test_images_vmsnap_did_not_make_are_neither_flattened_nor_removed(void **state)
{
        REQUIRE_CLUSTER();
        _cleanup_free_ char *image = unique_name("theirs");
        _cleanup_free_ char *clone = unique_name("their-clone");
        _cleanup_free_ char *reference = image_with_reference(image, "4M", "write -P 0x71 0 4k", NULL);
        _cleanup_free_ char *owner = NULL, *parent = NULL;
        vmsnap_error error = {0};

        rbd_cli("snap create --no-progress %s/%s@theirs", pool, image);
        rbd_cli("clone %s/%s@theirs %s/%s", pool, image, pool, clone);
        assert_int_equal(vmsnap_rbd_image_owner(cluster, pool, clone, &owner, &error), 0);
        assert_null(owner);

        assert_int_equal(vmsnap_rbd_image_flatten(cluster, pool, clone, NULL, &error), -EPERM);
        _cleanup_free_ char *expected =
                xasprintf("image %s in pool %s was not made by vmsnap (it has no vmsnap.owner metadata); "
                          "vmsnap does not flatten it",
                          clone, pool);
        assert_string_equal(error.message, expected);
        assert_int_equal(vmsnap_rbd_image_remove(cluster, pool, clone, &error), -EPERM);
        assert_int_equal(vmsnap_rbd_image_remove(cluster, pool, image, &error), -EPERM);
        assert_true(rbd_image_exists(pool, image));
        assert_true(rbd_image_exists(pool, clone));
        assert_int_equal(vmsnap_rbd_image_parent(cluster, pool, clone, &parent, &error), 0);
        assert_non_null(parent);

        rbd_cli("rm --no-progress %s/%s", pool, clone);
        rbd_cli("snap purge --no-progress %s/%s", pool, image);
        rbd_cli("rm --no-progress %s/%s", pool, image);
}

static int qemu_io_stdin = -1;

/* qemu-io with the image open, waiting for commands on a pipe (as QEMU holds a running VM's disk). */
static pid_t open_in_qemu_io(const char *url)
{
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY);
                dup2(fds[0], STDIN_FILENO);
                dup2(null, STDOUT_FILENO);
                close(fds[0]);
                close(fds[1]);
                execlp("qemu-io", "qemu-io", "-f", "raw", url, (char *)NULL);
                _exit(127);
        }
        close(fds[0]);
        qemu_io_stdin = fds[1];
        return pid;
}

/* Ends qemu-io (end of its input) and waits for it. */
static void close_qemu_io(pid_t pid)
{
        int status;
        close(qemu_io_stdin);
        qemu_io_stdin = -1;
        assert_int_equal(waitpid(pid, &status, 0), pid);
}

/* Whether a client watches the image (has it open), as 'rbd status' reports. */
static bool image_has_watcher(const char *in_pool, const char *image)
{
        _cleanup_free_ char *spec = xasprintf("%s/%s", in_pool, image);
        const char *argv[] = {"rbd", "-c", ceph_conf, "status", spec, NULL};
        _cleanup_free_ char *output = test_capture(argv);
        return output && strstr(output, "watcher=");
}

static void test_remove_refuses_an_image_with_snapshots_or_in_use(void **state)
{
        REQUIRE_CLUSTER();
        _cleanup_free_ char *image = unique_name("rm-parent");
        _cleanup_free_ char *clone = unique_name("rm");
        _cleanup_free_ char *reference = image_with_reference(image, "4M", "write -P 0x81 0 4k", NULL);
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_rbd_snapshot_create(cluster, pool, image, "base", &error), 0);
        assert_int_equal(vmsnap_rbd_clone(cluster, pool, image, "base", pool, clone, "uuid-4", &error), 0);
        assert_int_equal(vmsnap_rbd_snapshot_create(cluster, pool, clone, "child", &error), 0);
        assert_int_equal(vmsnap_rbd_image_remove(cluster, pool, clone, &error), -ENOTEMPTY);
        _cleanup_free_ char *expected = xasprintf("image %s in pool %s still has 1 snapshot", clone, pool);
        assert_non_null(strstr(error.message, expected));
        assert_true(rbd_image_exists(pool, clone));
        assert_int_equal(vmsnap_rbd_snapshot_remove(cluster, pool, clone, "child", &error), 0);

        /* A client that has the image open (as QEMU has a running VM's disk) keeps it. */
        _cleanup_free_ char *clone_url = rbd_url(pool, clone, NULL);
        pid_t holder = open_in_qemu_io(clone_url);
        for (int i = 0; i < 100 && !image_has_watcher(pool, clone); i++)
                usleep(100 * 1000);
        assert_int_equal(vmsnap_rbd_image_remove(cluster, pool, clone, &error), -EBUSY);
        assert_non_null(strstr(error.message, "is open in another client"));
        assert_true(rbd_image_exists(pool, clone));
        close_qemu_io(holder);
        assert_int_equal(vmsnap_rbd_image_remove(cluster, pool, clone, &error), 0);
        assert_false(rbd_image_exists(pool, clone));
        assert_int_equal(vmsnap_rbd_snapshot_remove(cluster, pool, image, "base", &error), 0);
        rbd_cli("rm --no-progress %s/%s", pool, image);
}

/* ---- sizes ---- */

static void test_sizes_count_the_image_own_bytes(void **state)
{
        REQUIRE_CLUSTER();
        _cleanup_free_ char *image = unique_name("sizes");
        _cleanup_free_ char *clone = unique_name("sizes-clone");
        _cleanup_free_ char *reference =
                image_with_reference(image, "64M", "write -P 0x91 0 1M", "write -P 0x92 32M 512k", NULL);
        _cleanup_free_ char *url = rbd_url(pool, image, NULL);
        _cleanup_free_ char *clone_url = rbd_url(pool, clone, NULL);
        uint64_t virtual_size = 0, allocated = 0;
        vmsnap_error error = {0};

        assert_int_equal(
                vmsnap_rbd_image_sizes(cluster, pool, image, NULL, NULL, &virtual_size, &allocated, &error),
                0);
        assert_int_equal(virtual_size, 64 << 20);
        assert_int_equal(allocated, 1536 << 10);

        assert_int_equal(vmsnap_rbd_snapshot_create(cluster, pool, image, "s1", &error), 0);
        test_qemu_io(url, "raw", "write -P 0x93 16M 256k");
        assert_int_equal(vmsnap_rbd_image_sizes(cluster, pool, image, "s1", NULL, NULL, &allocated, &error),
                         0);
        assert_int_equal(allocated, 256 << 10);
        assert_int_equal(vmsnap_rbd_image_sizes(cluster, pool, image, NULL, "s1", NULL, &allocated, &error),
                         0);
        assert_int_equal(allocated, 1536 << 10);
        assert_int_equal(
                vmsnap_rbd_image_sizes(cluster, pool, image, "nope", NULL, NULL, &allocated, &error),
                -ENOENT);

        /* A clone owns nothing until it is written. */
        assert_int_equal(vmsnap_rbd_clone(cluster, pool, image, "s1", pool, clone, "uuid-5", &error), 0);
        assert_int_equal(
                vmsnap_rbd_image_sizes(cluster, pool, clone, NULL, NULL, &virtual_size, &allocated, &error),
                0);
        assert_int_equal(virtual_size, 64 << 20);
        assert_int_equal(allocated, 0);
        test_qemu_io(clone_url, "raw", "write -P 0x94 40M 128k");
        assert_int_equal(vmsnap_rbd_image_sizes(cluster, pool, clone, NULL, NULL, NULL, &allocated, &error),
                         0);
        assert_int_equal(allocated, 128 << 10);

        assert_int_equal(vmsnap_rbd_image_remove(cluster, pool, clone, &error), 0);
        assert_int_equal(vmsnap_rbd_snapshot_remove(cluster, pool, image, "s1", &error), 0);
        rbd_cli("rm --no-progress %s/%s", pool, image);
}

/* ---- the domain's document and its lease ---- */

static void test_document_is_written_and_read_under_the_lease(void **state)
{
        REQUIRE_CLUSTER();
        _cleanup_free_ char *domain = unique_name("doc");
        _cleanup_free_ char *text = NULL;
        vmsnap_rbd_lease *lease = NULL;
        uint64_t version = 0, next_version = 0;
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_rbd_document_read(cluster, pool, domain, &text, &version, &error), 0);
        assert_null(text);
        assert_int_equal(vmsnap_rbd_lease_acquire(cluster, pool, domain, "host-a", 30, &lease, &error), 0);
        assert_int_equal(vmsnap_rbd_document_read(cluster, pool, domain, &text, &version, &error), 0);
        assert_null(text);
        assert_int_equal(vmsnap_rbd_document_write(lease, "{\"snapshots\":[]}", &error), 0);
        assert_int_equal(vmsnap_rbd_document_read(cluster, pool, domain, &text, &next_version, &error), 0);
        assert_string_equal(text, "{\"snapshots\":[]}");
        assert_true(next_version > version);
        free(text);

        /* Larger than one read: the whole of it comes back. */
        _cleanup_free_ char *large = malloc(200001);
        assert_non_null(large);
        memset(large, 'x', 200000);
        large[200000] = '\0';
        assert_int_equal(vmsnap_rbd_document_write(lease, large, &error), 0);
        assert_int_equal(vmsnap_rbd_document_read(cluster, pool, domain, &text, NULL, &error), 0);
        assert_string_equal(text, large);
        free(text);
        text = NULL;
        vmsnap_rbd_lease_release(lease);
        assert_int_equal(vmsnap_rbd_document_read(cluster, pool, domain, &text, NULL, &error), 0);
        assert_string_equal(text, large);
}

/* A second client of the cluster: another host. */
static vmsnap_rbd_cluster *second_client(void)
{
        vmsnap_rbd_cluster_options options = {.config_file = ceph_conf};
        vmsnap_rbd_cluster *other = NULL;
        vmsnap_error error = {0};
        if (vmsnap_rbd_cluster_connect(&options, &other, &error) < 0)
                fail_msg("%s", error.message);
        return other;
}

static void test_lease_is_exclusive_and_names_its_holder(void **state)
{
        REQUIRE_CLUSTER();
        _cleanup_free_ char *domain = unique_name("excl");
        vmsnap_rbd_cluster *host_b = second_client();
        vmsnap_rbd_lease *lease_a = NULL, *lease_b = NULL;
        vmsnap_error error = {0};

        assert_int_equal(
                vmsnap_rbd_lease_acquire(cluster, pool, domain, "host-a vmsnapd 11", 30, &lease_a, &error),
                0);
        assert_int_equal(vmsnap_rbd_lease_acquire(host_b, pool, domain, "host-b", 30, &lease_b, &error),
                         -EBUSY);
        assert_int_equal(error.kind, VMSNAP_ERROR_BUSY);
        assert_non_null(strstr(error.message, "is being changed by host-a vmsnapd 11 (client."));
        assert_null(lease_b);
        /* The same host's second attempt is a second holder too. */
        assert_int_equal(vmsnap_rbd_lease_acquire(cluster, pool, domain, "host-a", 30, &lease_b, &error),
                         -EBUSY);

        vmsnap_rbd_lease_release(lease_a);
        assert_int_equal(vmsnap_rbd_lease_acquire(host_b, pool, domain, "host-b", 30, &lease_b, &error), 0);
        vmsnap_rbd_lease_release(lease_b);
        vmsnap_rbd_cluster_disconnect(host_b);
}

/* ---- two hosts: another process holds the lease ----
 *
 * The other host is this program run again as "test-rbd hold CONF POOL DOMAIN HOLDER
 * SECONDS": its own process and cluster connection. It takes the lease, says "held", and
 * then answers one line per command on its input: "write TEXT" (the document), "held?"
 * and "renew". At the end of its input it releases the lease and exits. */

static int run_holder(char **argv)
{
        vmsnap_rbd_cluster_options options = {.config_file = argv[2]};
        vmsnap_rbd_cluster *host = NULL;
        vmsnap_rbd_lease *lease = NULL;
        vmsnap_error error = {0};
        char line[4096];

        /* A holder the test left stopped must not outlive it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (vmsnap_rbd_cluster_connect(&options, &host, &error) < 0 ||
            vmsnap_rbd_lease_acquire(host, argv[3], argv[4], argv[5], (unsigned)atoi(argv[6]), &lease,
                                     &error) < 0) {
                printf("failed %s\n", error.message);
                vmsnap_rbd_cluster_disconnect(host);
                return 1;
        }
        printf("held\n");
        while (fgets(line, sizeof(line), stdin)) {
                line[strcspn(line, "\n")] = '\0';
                int r = 0;
                if (strncmp(line, "write ", 6) == 0)
                        r = vmsnap_rbd_document_write(lease, line + 6, &error);
                else if (strcmp(line, "renew") == 0)
                        r = vmsnap_rbd_lease_renew(lease, &error);
                else if (strcmp(line, "held?") == 0)
                        r = vmsnap_rbd_lease_check(lease, &error);
                else
                        r = vmsnap_error_set(&error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                             "unknown command '%s'", line);
                if (r < 0)
                        printf("refused %s\n", error.message);
                else
                        printf("ok\n");
        }
        vmsnap_rbd_lease_release(lease);
        vmsnap_rbd_cluster_disconnect(host);
        return 0;
}

typedef struct other_host {
        pid_t pid;
        FILE *commands;
        FILE *answers;
} other_host;

/* The next answer of the other host, within a minute (it may be slow, never silent). */
static char *read_answer(other_host *host)
{
        char line[4096];
        struct pollfd ready = {.fd = fileno(host->answers), .events = POLLIN};
        assert_int_equal(poll(&ready, 1, 60 * 1000), 1);
        if (!fgets(line, sizeof(line), host->answers))
                fail_msg("the other host ended without an answer");
        line[strcspn(line, "\n")] = '\0';
        return xasprintf("%s", line);
}

/* Starts the other host and waits until it holds the lease. */
static other_host start_other_host(const char *domain, const char *holder, unsigned seconds)
{
        int to_host[2], from_host[2];
        char seconds_text[16];
        other_host host;

        snprintf(seconds_text, sizeof(seconds_text), "%u", seconds);
        assert_int_equal(pipe(to_host), 0);
        assert_int_equal(pipe(from_host), 0);
        host.pid = fork();
        assert_true(host.pid >= 0);
        if (host.pid == 0) {
                dup2(to_host[0], STDIN_FILENO);
                dup2(from_host[1], STDOUT_FILENO);
                close(to_host[0]);
                close(to_host[1]);
                close(from_host[0]);
                close(from_host[1]);
                execl("/proc/self/exe", "test-rbd", "hold", ceph_conf, pool, domain, holder, seconds_text,
                      (char *)NULL);
                _exit(127);
        }
        close(to_host[0]);
        close(from_host[1]);
        host.commands = fdopen(to_host[1], "w");
        host.answers = fdopen(from_host[0], "r");
        assert_non_null(host.commands);
        assert_non_null(host.answers);
        setvbuf(host.commands, NULL, _IOLBF, 0);
        _cleanup_free_ char *answer = read_answer(&host);
        assert_string_equal(answer, "held");
        return host;
}

static char *ask_other_host(other_host *host, const char *command)
{
        fprintf(host->commands, "%s\n", command);
        fflush(host->commands);
        return read_answer(host);
}

/* Ends the other host's input (it releases the lease) and returns its exit status, or
 * -signal when it was killed. */
static int stop_other_host(other_host *host)
{
        int status;
        if (host->commands)
                fclose(host->commands);
        fclose(host->answers);
        assert_int_equal(waitpid(host->pid, &status, 0), host->pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

/* Asks for the lease from host b until it is granted, within bound_seconds; returns how
 * long that took. */
static double take_over(vmsnap_rbd_cluster *host_b, const char *domain, double bound_seconds,
                        vmsnap_rbd_lease **ret)
{
        vmsnap_error error = {0};
        double start = now_seconds();
        for (;;) {
                int r = vmsnap_rbd_lease_acquire(host_b, pool, domain, "host-b", 30, ret, &error);
                if (r == 0)
                        return now_seconds() - start;
                assert_int_equal(r, -EBUSY);
                if (now_seconds() - start > bound_seconds)
                        fail_msg("the lease was not taken over within %.0f s: %s", bound_seconds,
                                 error.message);
                usleep(200 * 1000);
        }
}

#define LEASE_SECONDS 2

static void test_live_holder_keeps_the_lease_across_three_lengths(void **state)
{
        REQUIRE_CLUSTER();
        _cleanup_free_ char *domain = unique_name("renew");
        _cleanup_free_ char *text = NULL;
        vmsnap_rbd_cluster *host_b = second_client();
        vmsnap_rbd_lease *lease_b = NULL;
        vmsnap_error error = {0};
        unsigned refusals = 0;

        other_host host_a = start_other_host(domain, "host-a vmsnapd 101", LEASE_SECONDS);
        double start = now_seconds();
        /* Host a does nothing but live: its lease is renewed without being asked. */
        while (now_seconds() - start < 3 * LEASE_SECONDS) {
                assert_int_equal(vmsnap_rbd_lease_acquire(host_b, pool, domain, "host-b", LEASE_SECONDS,
                                                          &lease_b, &error),
                                 -EBUSY);
                assert_int_equal(error.kind, VMSNAP_ERROR_BUSY);
                assert_non_null(strstr(error.message, "is being changed by host-a vmsnapd 101 (client."));
                refusals++;
                usleep(250 * 1000);
        }
        char *answer = ask_other_host(&host_a, "held?");
        assert_string_equal(answer, "ok");
        free(answer);
        answer = ask_other_host(&host_a, "write written by a after three lease lengths");
        assert_string_equal(answer, "ok");
        free(answer);
        print_message("# host b refused %u times in %.1f s while host a renewed its %d s lease\n", refusals,
                      now_seconds() - start, LEASE_SECONDS);

        /* Released at the end of its work: the next host gets it at once, with its document. */
        assert_int_equal(stop_other_host(&host_a), 0);
        assert_int_equal(
                vmsnap_rbd_lease_acquire(host_b, pool, domain, "host-b", LEASE_SECONDS, &lease_b, &error),
                0);
        assert_int_equal(vmsnap_rbd_document_read(host_b, pool, domain, &text, NULL, &error), 0);
        assert_string_equal(text, "written by a after three lease lengths");
        vmsnap_rbd_lease_release(lease_b);
        vmsnap_rbd_cluster_disconnect(host_b);
}

static void test_killed_holder_is_taken_over_after_the_lease(void **state)
{
        REQUIRE_CLUSTER();
        _cleanup_free_ char *domain = unique_name("killed");
        _cleanup_free_ char *text = NULL;
        vmsnap_rbd_cluster *host_b = second_client();
        vmsnap_rbd_lease *lease_b = NULL;
        vmsnap_error error = {0};

        other_host host_a = start_other_host(domain, "host-a vmsnapd 102", LEASE_SECONDS);
        char *answer = ask_other_host(&host_a, "write written by a");
        assert_string_equal(answer, "ok");
        free(answer);

        kill(host_a.pid, SIGKILL);
        assert_int_equal(stop_other_host(&host_a), -SIGKILL);
        /* Dead, but its lease runs on: nobody may take the lock yet. */
        assert_int_equal(
                vmsnap_rbd_lease_acquire(host_b, pool, domain, "host-b", LEASE_SECONDS, &lease_b, &error),
                -EBUSY);
        assert_non_null(strstr(error.message, "is being changed by host-a vmsnapd 102 (client."));
        double waited = take_over(host_b, domain, LEASE_SECONDS + 20, &lease_b);
        print_message("# host b took the lease %.1f s after host a was killed (lease %d s)\n", waited,
                      LEASE_SECONDS);

        /* What the dead host wrote is there for the one that recovers. */
        assert_int_equal(vmsnap_rbd_document_read(host_b, pool, domain, &text, NULL, &error), 0);
        assert_string_equal(text, "written by a");
        assert_int_equal(vmsnap_rbd_document_write(lease_b, "written by b", &error), 0);
        vmsnap_rbd_lease_release(lease_b);
        vmsnap_rbd_cluster_disconnect(host_b);
}

static void test_stopped_holder_is_taken_over_and_its_late_writes_refused(void **state)
{
        REQUIRE_CLUSTER();
        _cleanup_free_ char *domain = unique_name("stopped");
        _cleanup_free_ char *text = NULL;
        vmsnap_rbd_cluster *host_b = second_client();
        vmsnap_rbd_lease *lease_b = NULL;
        vmsnap_error error = {0};

        other_host host_a = start_other_host(domain, "host-a vmsnapd 103", LEASE_SECONDS);
        char *answer = ask_other_host(&host_a, "write written by a");
        assert_string_equal(answer, "ok");
        free(answer);

        /* Host a hangs (renewer and all) past its lease, and host b takes over. */
        kill(host_a.pid, SIGSTOP);
        double waited = take_over(host_b, domain, LEASE_SECONDS + 20, &lease_b);
        print_message("# host b took the lease %.1f s after host a stopped\n", waited);
        assert_int_equal(vmsnap_rbd_document_write(lease_b, "written by b", &error), 0);

        /* Host a comes back and goes on where it was: the OSD refuses its write. */
        kill(host_a.pid, SIGCONT);
        answer = ask_other_host(&host_a, "write late write by a");
        assert_non_null(strstr(answer, "refused object vmsnap.domain."));
        assert_non_null(strstr(answer, "was not written: the lease on it ran out or was taken over"));
        free(answer);
        answer = ask_other_host(&host_a, "renew");
        assert_non_null(strstr(answer, "refused the lease on object"));
        free(answer);
        answer = ask_other_host(&host_a, "held?");
        assert_non_null(strstr(answer, "ran out or was taken over; the change must start again"));
        free(answer);
        assert_int_equal(vmsnap_rbd_document_read(host_b, pool, domain, &text, NULL, &error), 0);
        assert_string_equal(text, "written by b");

        /* Host a releasing its lost lease leaves b's lock alone. */
        assert_int_equal(stop_other_host(&host_a), 0);
        assert_int_equal(vmsnap_rbd_document_write(lease_b, "b again", &error), 0);
        vmsnap_rbd_lease_release(lease_b);
        vmsnap_rbd_cluster_disconnect(host_b);
}

int main(int argc, char **argv)
{
        if (argc == 7 && strcmp(argv[1], "hold") == 0)
                return run_holder(argv);

        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unreachable_cluster_is_a_sentence_within_seconds),
                cmocka_unit_test(test_disk_source_from_domain_xml_reaches_the_cluster),
                cmocka_unit_test(test_missing_pool_and_image_are_named),
                cmocka_unit_test(test_snapshot_keeps_what_the_image_read),
                cmocka_unit_test(test_foreign_snapshots_are_listed_and_named_in_the_refusal),
                cmocka_unit_test(test_clone_into_another_pool_reads_the_snapshot_and_is_marked),
                cmocka_unit_test(test_flatten_makes_the_clone_stand_alone_with_byte_progress),
                cmocka_unit_test(test_canceled_flatten_leaves_a_clone_reading_the_same),
                cmocka_unit_test(test_images_vmsnap_did_not_make_are_neither_flattened_nor_removed),
                cmocka_unit_test(test_remove_refuses_an_image_with_snapshots_or_in_use),
                cmocka_unit_test(test_sizes_count_the_image_own_bytes),
                cmocka_unit_test(test_document_is_written_and_read_under_the_lease),
                cmocka_unit_test(test_lease_is_exclusive_and_names_its_holder),
                cmocka_unit_test(test_live_holder_keeps_the_lease_across_three_lengths),
                cmocka_unit_test(test_killed_holder_is_taken_over_after_the_lease),
                cmocka_unit_test(test_stopped_holder_is_taken_over_and_its_late_writes_refused),
        };
        if (getenv("VMSNAP_TEST_FILTER"))
                cmocka_set_test_filter(getenv("VMSNAP_TEST_FILTER"));
        return cmocka_run_group_tests_name("rbd", tests, setup, teardown);
}
