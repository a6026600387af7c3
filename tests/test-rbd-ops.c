/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-rbd-ops.c: the operations on a domain with an RBD disk beside a qcow2 file disk,
 * through the public engine API, against a real single-node Ceph cluster that
 * tests/with-ceph.sh starts for the run and libvirt's test driver. What each RBD snapshot
 * reads is checked with qemu-img compare on rbd: URLs against raw files written with the
 * same qemu-io commands; what is in the cluster is read with the rbd command, as an
 * administrator would. Skipped without the cluster. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "error.h"
#include "failpoint.h"
#include "fixture.h"
#include "testlib.h"
#include "util.h"

static const char *ceph_conf, *ceph_mon_host, *pool;

/* QEMU's name for the image (at an RBD snapshot when snapshot is not NULL). */
static char *rbd_url(const char *image, const char *snapshot)
{
        return xasprintf("rbd:%s/%s%s%s:conf=%s", pool, image, snapshot ? "@" : "", snapshot ? snapshot : "",
                         ceph_conf);
}

/* The names of the image's RBD snapshots, one per line, as `rbd snap ls` gives them. */
static char *rbd_snapshots(const char *image)
{
        _cleanup_free_ char *spec = xasprintf("%s/%s", pool, image);
        return test_rbd_snapshot_list(ceph_conf, spec);
}

static size_t count_of(const char *text, const char *needle)
{
        size_t n = 0;
        for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

typedef struct rbd_case {
        fixture *f;
        char *image;     /* in pool */
        char *reference; /* a raw file written as the image was */
} rbd_case;

/* A shut-off domain "name" with vda, a qcow2 file, and vdb, a 4 MiB raw RBD image written
 * with pattern 0x11, reached through the monitor at mon (NULL: the cluster's). */
static rbd_case *case_new(const char *name, const char *mon)
{
        rbd_case *c = xcalloc(1, sizeof(*c));
        _cleanup_free_ char *devices = NULL, *vda = NULL, *url = NULL;
        const char *mon_host = mon ? mon : ceph_mon_host;
        _cleanup_free_ char *host = xstrndup(mon_host, (size_t)(strrchr(mon_host, ':') - mon_host));

        c->f = fixture_new();
        c->image = xasprintf("%s-%d", name, (int)getpid());
        c->reference = xasprintf("%s/%s.raw", c->f->dir, c->image);
        url = rbd_url(c->image, NULL);
        assert_int_equal(test_runf("qemu-img create -q -f raw %s 4M", url), 0);
        test_raw_create(c->reference, "4M");
        test_qemu_io(url, "raw", "write -P 0x11 0 1M");
        test_qemu_io(c->reference, "raw", "write -P 0x11 0 1M");
        _cleanup_free_ char *domain_dir = xasprintf("%s/%s", c->f->dir, name);
        if (mkdir(domain_dir, 0755) < 0)
                fail_msg("cannot make %s", domain_dir);
        vda = xasprintf("%s/vda.qcow2", domain_dir);
        test_qcow2_create(vda, NULL, NULL, FIXTURE_DISK_SIZE);
        devices = xasprintf("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                            "<source file='%s'/><target dev='vda' bus='virtio'/></disk>"
                            "<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
                            "<source protocol='rbd' name='%s/%s'><host name='%s' port='%s'/>"
                            "<config file='%s'/></source><target dev='vdb' bus='virtio'/></disk>",
                            vda, pool, c->image, host, strrchr(mon_host, ':') + 1, ceph_conf);
        fixture_define_domain(c->f, name, devices);
        return c;
}

static void case_free(rbd_case *c)
{
        const char *purge[] = {"rbd", "-c", ceph_conf, "snap", "purge", NULL, NULL};
        _cleanup_free_ char *spec = xasprintf("%s/%s", pool, c->image);

        purge[5] = spec;
        test_run(purge);
        test_runf("rbd -c %s rm %s", ceph_conf, spec);
        fixture_free(c->f);
        free(c->image);
        free(c->reference);
        free(c);
}

/* Writes the same qemu-io command into the image and its reference. */
static void case_write(rbd_case *c, const char *command)
{
        _cleanup_free_ char *url = rbd_url(c->image, NULL);
        test_qemu_io(url, "raw", command);
        test_qemu_io(c->reference, "raw", command);
}

/* A copy of the reference now, for what a snapshot taken now must read. */
static char *case_keep_reference(rbd_case *c, const char *label)
{
        char *copy = xasprintf("%s.%s", c->reference, label);
        assert_int_equal(test_runf("cp --sparse=always %s %s", c->reference, copy), 0);
        return copy;
}

static void assert_reads(rbd_case *c, const char *snapshot, const char *reference)
{
        _cleanup_free_ char *url = rbd_url(c->image, snapshot);
        if (!test_images_equal(url, reference))
                fail_msg("%s does not read what %s holds", url, reference);
}

/* The RBD snapshot name vmsnap records for the disk vdb of snapshot name. */
static char *rbd_snapshot_of(rbd_case *c, const char *domain, const char *name)
{
        vmsnap_snapshot_info info = {0};
        vmsnap_error error = {0};
        char *found = NULL;

        assert_ok(vmsnap_snapshot_get(c->f->engine, domain, name, &info, &error), &error);
        for (size_t i = 0; i < info.n_disks; i++)
                if (strcmp(info.disks[i].target, "vdb") == 0 && info.disks[i].image) {
                        const char *at = strrchr(info.disks[i].image, '@');
                        _cleanup_free_ char *prefix =
                                xasprintf("rbd:%s/%s", pool, c->image); /* or a clone of it */
                        assert_non_null(at);
                        assert_int_equal(strncmp(info.disks[i].image, prefix, strlen(prefix)), 0);
                        assert_string_equal(info.disks[i].format, "raw");
                        found = xstrdup(at + 1);
                }
        vmsnap_snapshot_info_clear(&info);
        if (!found)
                fail_msg("snapshot %s records no RBD snapshot for vdb", name);
        return found;
}

static int setup(void **state)
{
        ceph_conf = getenv("VMSNAP_TEST_CEPH_CONF");
        ceph_mon_host = getenv("VMSNAP_TEST_CEPH_MON_HOST");
        pool = getenv("VMSNAP_TEST_CEPH_POOL");
        return 0;
}

#define REQUIRE_CLUSTER()                                                                                   \
        do {                                                                                                \
                if (!ceph_conf || !ceph_mon_host || !pool)                                                  \
                        skip(); /* run through tests/with-ceph.sh */                                        \
        } while (0)

static void test_create_takes_an_rbd_snapshot_beside_the_file_overlay(void **state)
{
        REQUIRE_CLUSTER();
        rbd_case *c = case_new("rbd-create", NULL);
        vmsnap_create_options options = {.name = "first"};
        vmsnap_error error = {0};
        _cleanup_free_ char *first_reads = case_keep_reference(c, "first");
        _cleanup_free_ char *vda_before = fixture_active_source(c->f, "rbd-create", "vda");

        assert_ok(vmsnap_snapshot_create(c->f->engine, "rbd-create", &options, NULL, NULL, &error), &error);
        _cleanup_free_ char *first = rbd_snapshot_of(c, "rbd-create", "first");
        assert_int_equal(strncmp(first, "vmsnap-", 7), 0);
        _cleanup_free_ char *listed = rbd_snapshots(c->image);
        assert_int_equal(count_of(listed, "\"name\":\"vmsnap-"), 1);
        assert_non_null(strstr(listed, first));

        /* The file disk moved onto an overlay; the RBD disk's definition stays as it was. */
        _cleanup_free_ char *vda_after = fixture_active_source(c->f, "rbd-create", "vda");
        assert_string_not_equal(vda_before, vda_after);
        _cleanup_free_ char *xml = fixture_domain_xml(c->f, "rbd-create");
        _cleanup_free_ char *source = xasprintf("name='%s/%s'", pool, c->image);
        _cleanup_free_ char *source_quoted = xasprintf("name=\"%s/%s\"", pool, c->image);
        assert_true(strstr(xml, source) || strstr(xml, source_quoted));

        /* Writes after it leave the snapshot reading what it read. */
        case_write(c, "write -P 0x22 512k 1M");
        options.name = "second";
        assert_ok(vmsnap_snapshot_create(c->f->engine, "rbd-create", &options, NULL, NULL, &error), &error);
        case_write(c, "write -P 0x33 0 64k");
        assert_reads(c, first, first_reads);
        _cleanup_free_ char *second = rbd_snapshot_of(c, "rbd-create", "second");
        _cleanup_free_ char *now = rbd_url(c->image, NULL);
        assert_false(test_images_equal(now, first_reads));
        free(listed);
        listed = rbd_snapshots(c->image);
        assert_int_equal(count_of(listed, "\"name\":\"vmsnap-"), 2);
        fixture_assert_no_orphans(c->f, "rbd-create");
        case_free(c);
}

/* Size and reclaimable of the snapshots' records (vdb alone, so that no file counts). */
static void snapshot_sizes(rbd_case *c, const char *name, const char *snapshot, uint64_t *size,
                           uint64_t *reclaimable)
{
        vmsnap_snapshot_info info = {0};
        vmsnap_error error = {0};

        assert_ok(vmsnap_snapshot_get(c->f->engine, name, snapshot, &info, &error), &error);
        *size = info.size;
        *reclaimable = info.reclaimable;
        vmsnap_snapshot_info_clear(&info);
}

/* An RBD snapshot occupies what was written between the one before it and it (the first
 * one of the domain's own image counts 0); deleting it frees what of that also changed
 * after it, and nothing while a clone reads it. The image is one 4 MiB object. */
static void test_rbd_snapshots_report_what_they_hold_and_what_deleting_them_frees(void **state)
{
        REQUIRE_CLUSTER();
        rbd_case *c = case_new("rbd-sizes", NULL);
        const char *vdb[] = {"vdb"};
        vmsnap_create_options options = {.name = "first", .disks = vdb, .n_disks = 1};
        vmsnap_error error = {0};
        uint64_t size, reclaimable;

        assert_ok(vmsnap_snapshot_create(c->f->engine, "rbd-sizes", &options, NULL, NULL, &error), &error);
        snapshot_sizes(c, "rbd-sizes", "first", &size, &reclaimable);
        assert_int_equal(size, 0);        /* the original image's data */
        assert_int_equal(reclaimable, 0); /* nothing changed after it */

        case_write(c, "write -P 0x22 1M 1M");
        options.name = "second";
        assert_ok(vmsnap_snapshot_create(c->f->engine, "rbd-sizes", &options, NULL, NULL, &error), &error);
        snapshot_sizes(c, "rbd-sizes", "second", &size, &reclaimable);
        assert_int_equal(size, 1 << 20);
        assert_int_equal(reclaimable, 0);
        /* Its configuration lists the RBD disk as QEMU names the snapshot, with its sizes. */
        vmsnap_image_info *disks = NULL;
        size_t n_disks = 0;
        _cleanup_free_ char *xml = NULL;
        assert_ok(vmsnap_snapshot_get_configuration(c->f->engine, "rbd-sizes", "second", &xml, &disks,
                                                    &n_disks, &error),
                  &error);
        _cleanup_free_ char *second = rbd_snapshot_of(c, "rbd-sizes", "second");
        _cleanup_free_ char *expected = xasprintf("rbd:%s/%s@%s", pool, c->image, second);
        assert_int_equal(n_disks, 1);
        assert_string_equal(disks[0].target, "vdb");
        assert_string_equal(disks[0].image, expected);
        assert_string_equal(disks[0].format, "raw");
        assert_int_equal(disks[0].virtual_size, 4 << 20);
        assert_int_equal(disks[0].allocated, 2 << 20);
        vmsnap_image_info_array_free(disks, n_disks);
        /* first's object changed after it: deleting first frees the 1 MiB it held. */
        snapshot_sizes(c, "rbd-sizes", "first", &size, &reclaimable);
        assert_int_equal(size, 0);
        assert_int_equal(reclaimable, 1 << 20);

        /* The newest snapshot's figures follow the image as it is written. */
        case_write(c, "write -P 0x33 0 64k");
        snapshot_sizes(c, "rbd-sizes", "second", &size, &reclaimable);
        assert_int_equal(size, 1 << 20);
        assert_int_equal(reclaimable, 1 << 20);

        /* A clone reads first while it is previewed: deleting first would free nothing. */
        assert_ok(vmsnap_preview_start(c->f->engine, "rbd-sizes", "first", NULL, NULL, &error), &error);
        snapshot_sizes(c, "rbd-sizes", "first", &size, &reclaimable);
        assert_int_equal(reclaimable, 0);
        assert_ok(vmsnap_preview_undo(c->f->engine, "rbd-sizes", NULL, &error), &error);
        snapshot_sizes(c, "rbd-sizes", "first", &size, &reclaimable);
        assert_int_equal(reclaimable, 1 << 20);
        fixture_assert_no_orphans(c->f, "rbd-sizes");
        case_free(c);
}

static void test_delete_removes_its_rbd_snapshot_and_no_other(void **state)
{
        REQUIRE_CLUSTER();
        rbd_case *c = case_new("rbd-delete", NULL);
        vmsnap_create_options options = {.name = "first"};
        vmsnap_error error = {0};

        assert_ok(vmsnap_snapshot_create(c->f->engine, "rbd-delete", &options, NULL, NULL, &error), &error);
        case_write(c, "write -P 0x44 1M 1M");
        fixture_write(c->f, "rbd-delete", "vda", 3, 0x44);
        _cleanup_free_ char *second_reads = case_keep_reference(c, "second");
        options.name = "second";
        assert_ok(vmsnap_snapshot_create(c->f->engine, "rbd-delete", &options, NULL, NULL, &error), &error);
        case_write(c, "write -P 0x55 0 1M");
        _cleanup_free_ char *now_reads = case_keep_reference(c, "now");
        _cleanup_free_ char *first = rbd_snapshot_of(c, "rbd-delete", "first");
        _cleanup_free_ char *second = rbd_snapshot_of(c, "rbd-delete", "second");

        assert_ok(vmsnap_snapshot_delete(c->f->engine, "rbd-delete", "first", VMSNAP_DELETE_MERGE, NULL,
                                         &error),
                  &error);
        _cleanup_free_ char *listed = rbd_snapshots(c->image);
        assert_null(strstr(listed, first));
        assert_non_null(strstr(listed, second));
        assert_reads(c, second, second_reads);
        assert_reads(c, NULL, now_reads);
        fixture_assert_no_orphans(c->f, "rbd-delete");

        /* Delete-all takes the rest; the image keeps what it reads now. */
        assert_ok(vmsnap_snapshot_delete_all(c->f->engine, "rbd-delete", NULL, NULL, &error), &error);
        free(listed);
        listed = rbd_snapshots(c->image);
        assert_int_equal(count_of(listed, "\"name\":"), 0);
        assert_reads(c, NULL, now_reads);
        fixture_assert_no_orphans(c->f, "rbd-delete");
        case_free(c);
}

/* Nothing of a refused Create is left: no snapshot record, no overlay, no RBD snapshot. */
static void assert_create_refused(rbd_case *c, const char *domain, const char *expected)
{
        vmsnap_create_options options = {.name = "refused"};
        vmsnap_snapshot_info *list = NULL;
        size_t n = 99, files = fixture_count_files(c->f, domain);
        vmsnap_error error = {0};
        _cleanup_free_ char *vda = fixture_active_source(c->f, domain, "vda");

        assert_int_not_equal(vmsnap_snapshot_create(c->f->engine, domain, &options, NULL, NULL, &error), 0);
        if (!strstr(error.message, expected))
                fail_msg("the refusal \"%s\" does not say \"%s\"", error.message, expected);
        assert_ok(vmsnap_snapshot_list(c->f->engine, domain, &list, &n, &error), &error);
        assert_int_equal(n, 0);
        vmsnap_snapshot_info_array_free(list, n);
        assert_int_equal(fixture_count_files(c->f, domain), files);
        _cleanup_free_ char *vda_after = fixture_active_source(c->f, domain, "vda");
        assert_string_equal(vda, vda_after);
        vmsnap_error_clear(&error);
}

static void test_foreign_rbd_snapshot_refuses_create_naming_it(void **state)
{
        REQUIRE_CLUSTER();
        rbd_case *c = case_new("rbd-foreign", NULL);

        assert_int_equal(test_runf("rbd -c %s snap create %s/%s@before-upgrade", ceph_conf, pool, c->image),
                         0);
        assert_create_refused(c, "rbd-foreign", "before-upgrade");
        _cleanup_free_ char *listed = rbd_snapshots(c->image);
        assert_int_equal(count_of(listed, "\"name\":"), 1);
        case_free(c);
}

static void test_unreachable_cluster_refuses_create_before_anything_changes(void **state)
{
        REQUIRE_CLUSTER();
        /* A monitor address where nothing listens (the block's last port, which ceph.sh leaves free). */
        _cleanup_free_ char *base =
                xstrndup(ceph_mon_host, (size_t)(strrchr(ceph_mon_host, ':') - ceph_mon_host));
        _cleanup_free_ char *dead = xasprintf("%s:%d", base, atoi(strrchr(ceph_mon_host, ':') + 1) + 98);
        rbd_case *c = case_new("rbd-unreachable", dead);

        assert_create_refused(c, "rbd-unreachable", "is not reachable");
        case_free(c);
}

static void test_crash_after_the_rbd_snapshot_is_rolled_back(void **state)
{
        REQUIRE_CLUSTER();
        rbd_case *c = case_new("rbd-crash", NULL);
        vmsnap_create_options options = {.name = "crashed"};
        vmsnap_snapshot_info *list = NULL;
        size_t n = 99, files = fixture_count_files(c->f, "rbd-crash");
        vmsnap_error error = {0};

        vmsnap_failpoint_arm_step("create: after rbd snapshot");
        assert_int_not_equal(vmsnap_snapshot_create(c->f->engine, "rbd-crash", &options, NULL, NULL, &error),
                             0);
        vmsnap_failpoint_arm(0);
        vmsnap_error_clear(&error);
        /* The process died with the RBD snapshot taken and the intent naming it. */
        _cleanup_free_ char *listed = rbd_snapshots(c->image);
        assert_int_equal(count_of(listed, "\"name\":\"vmsnap-"), 1);

        vmsnap_engine_free(c->f->engine);
        vmsnap_failpoint_revive();
        assert_ok(vmsnap_engine_new(c->f->uri, c->f->state_dir, &c->f->engine, &error), &error);
        assert_ok(vmsnap_snapshot_list(c->f->engine, "rbd-crash", &list, &n, &error), &error);
        assert_int_equal(n, 0);
        vmsnap_snapshot_info_array_free(list, n);
        free(listed);
        listed = rbd_snapshots(c->image);
        assert_int_equal(count_of(listed, "\"name\":"), 0);
        assert_int_equal(fixture_count_files(c->f, "rbd-crash"), files);
        case_free(c);
}

/* The image name the domain's disk vdb reads now, "pool/image" (malloc'd). */
static char *vdb_image(rbd_case *c, const char *domain)
{
        _cleanup_free_ char *xml = fixture_domain_xml(c->f, domain);
        const char *disk = strstr(xml, "protocol=");
        const char *name = disk ? strstr(disk, "name=") : NULL;

        if (!name) {
                fail_msg("the domain's XML has no RBD source:\n%s", xml);
                return NULL;
        }
        name += strlen("name=") + 1;
        return xstrndup(name, strcspn(name, "'\""));
}

static bool image_exists(const char *image_name)
{
        return test_runf("rbd -c %s info %s", ceph_conf, image_name) == 0;
}

static void assert_image_reads(const char *image_name, const char *reference)
{
        _cleanup_free_ char *url = xasprintf("rbd:%s:conf=%s", image_name, ceph_conf);
        if (!test_images_equal(url, reference))
                fail_msg("%s does not read what %s holds", image_name, reference);
}

static void test_preview_undo_and_revert_read_the_rbd_snapshot_through_a_clone(void **state)
{
        REQUIRE_CLUSTER();
        rbd_case *c = case_new("rbd-preview", NULL);
        vmsnap_create_options options = {.name = "first"};
        vmsnap_error error = {0};
        _cleanup_free_ char *original = xasprintf("%s/%s", pool, c->image);
        _cleanup_free_ char *first_reads = case_keep_reference(c, "first");

        assert_ok(vmsnap_snapshot_create(c->f->engine, "rbd-preview", &options, NULL, NULL, &error), &error);
        case_write(c, "write -P 0x66 0 2M");
        _cleanup_free_ char *now_reads = case_keep_reference(c, "now");

        /* A preview reads the snapshot through a new clone; the image keeps what it read. */
        assert_ok(vmsnap_preview_start(c->f->engine, "rbd-preview", "first", NULL, NULL, &error), &error);
        _cleanup_free_ char *previewed = vdb_image(c, "rbd-preview");
        assert_string_not_equal(previewed, original);
        assert_image_reads(previewed, first_reads);
        assert_image_reads(original, now_reads);

        /* Undo goes back to the image and removes the clone. */
        assert_ok(vmsnap_preview_undo(c->f->engine, "rbd-preview", NULL, &error), &error);
        _cleanup_free_ char *undone = vdb_image(c, "rbd-preview");
        assert_string_equal(undone, original);
        assert_false(image_exists(previewed));
        assert_image_reads(original, now_reads);

        /* A revert moves the domain onto a clone for good; the original is not vmsnap's and stays. */
        assert_ok(vmsnap_snapshot_revert(c->f->engine, "rbd-preview", "first", NULL, NULL, &error), &error);
        _cleanup_free_ char *c1 = vdb_image(c, "rbd-preview");
        assert_string_not_equal(c1, original);
        assert_image_reads(c1, first_reads);
        assert_true(image_exists(original));

        /* A snapshot on the clone keeps it through the next revert; deleting that snapshot
         * then removes the clone nothing needs any more. */
        _cleanup_free_ char *c1_url = xasprintf("rbd:%s:conf=%s", c1, ceph_conf);
        test_qemu_io(c1_url, "raw", "write -P 0x77 3M 64k");
        options.name = "second";
        assert_ok(vmsnap_snapshot_create(c->f->engine, "rbd-preview", &options, NULL, NULL, &error), &error);
        assert_ok(vmsnap_snapshot_revert(c->f->engine, "rbd-preview", "first", NULL, NULL, &error), &error);
        _cleanup_free_ char *c2 = vdb_image(c, "rbd-preview");
        assert_string_not_equal(c2, c1);
        assert_true(image_exists(c1));
        assert_image_reads(c2, first_reads);
        assert_ok(vmsnap_snapshot_delete(c->f->engine, "rbd-preview", "second", VMSNAP_DELETE_MERGE, NULL,
                                         &error),
                  &error);
        assert_false(image_exists(c1));

        /* A revert from a clone without snapshots removes that clone. */
        assert_ok(vmsnap_snapshot_revert(c->f->engine, "rbd-preview", "first", NULL, NULL, &error), &error);
        _cleanup_free_ char *c3 = vdb_image(c, "rbd-preview");
        assert_false(image_exists(c2));
        assert_image_reads(c3, first_reads);

        /* Deleting the snapshot the domain's clone reads leaves the clone reading it. */
        assert_ok(vmsnap_snapshot_delete(c->f->engine, "rbd-preview", "first", VMSNAP_DELETE_MERGE, NULL,
                                         &error),
                  &error);
        assert_image_reads(c3, first_reads);
        fixture_assert_no_orphans(c->f, "rbd-preview");
        test_runf("rbd -c %s rm %s", ceph_conf, c3);
        case_free(c);
}

/* Defines a shut-off domain whose only disk reads the RBD name (an image or a snapshot). */
static void define_reader(rbd_case *c, const char *domain, const char *name)
{
        _cleanup_free_ char *host =
                xstrndup(ceph_mon_host, (size_t)(strrchr(ceph_mon_host, ':') - ceph_mon_host));
        _cleanup_free_ char *devices =
                xasprintf("<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
                          "<source protocol='rbd' name='%s'><host name='%s' port='%s'/></source>"
                          "<target dev='vda' bus='virtio'/></disk>",
                          name, host, strrchr(ceph_mon_host, ':') + 1);
        fixture_define_domain(c->f, domain, devices);
}

static void test_images_and_snapshots_another_domain_reads_are_kept(void **state)
{
        REQUIRE_CLUSTER();
        rbd_case *c = case_new("rbd-shared", NULL);
        vmsnap_create_options options = {.name = "first"};
        vmsnap_error error = {0};

        assert_ok(vmsnap_snapshot_create(c->f->engine, "rbd-shared", &options, NULL, NULL, &error), &error);
        assert_ok(vmsnap_snapshot_revert(c->f->engine, "rbd-shared", "first", NULL, NULL, &error), &error);
        _cleanup_free_ char *c1 = vdb_image(c, "rbd-shared");
        define_reader(c, "rbd-shared-reader", c1);

        /* Reverting again would remove the clone; another domain reads it, so it stays. */
        assert_ok(vmsnap_snapshot_revert(c->f->engine, "rbd-shared", "first", NULL, NULL, &error), &error);
        _cleanup_free_ char *c2 = vdb_image(c, "rbd-shared");
        assert_string_not_equal(c1, c2);
        assert_true(image_exists(c1));

        /* A snapshot another domain reads stays when its snapshot goes. */
        options.name = "second";
        assert_ok(vmsnap_snapshot_create(c->f->engine, "rbd-shared", &options, NULL, NULL, &error), &error);
        _cleanup_free_ char *second = rbd_snapshot_of(c, "rbd-shared", "second");
        _cleanup_free_ char *second_name = xasprintf("%s@%s", c2, second);
        define_reader(c, "rbd-shared-snapshot-reader", second_name);
        assert_ok(vmsnap_snapshot_delete(c->f->engine, "rbd-shared", "second", VMSNAP_DELETE_MERGE, NULL,
                                         &error),
                  &error);
        const char *argv[] = {"rbd", "-c", ceph_conf, "snap", "ls", "--format", "json", c2, NULL};
        _cleanup_free_ char *listed = test_capture(argv);
        assert_non_null(listed);
        assert_non_null(strstr(listed, second));

        test_runf("rbd -c %s snap purge %s", ceph_conf, c2);
        test_runf("rbd -c %s rm %s", ceph_conf, c2);
        test_runf("rbd -c %s rm %s", ceph_conf, c1);
        case_free(c);
}

static void test_crash_in_a_preview_removes_the_clone(void **state)
{
        REQUIRE_CLUSTER();
        rbd_case *c = case_new("rbd-preview-crash", NULL);
        vmsnap_create_options options = {.name = "first"};
        vmsnap_error error = {0};
        _cleanup_free_ char *original = xasprintf("%s/%s", pool, c->image);

        assert_ok(vmsnap_snapshot_create(c->f->engine, "rbd-preview-crash", &options, NULL, NULL, &error),
                  &error);
        vmsnap_failpoint_arm_step("preview: after define");
        assert_int_not_equal(
                vmsnap_preview_start(c->f->engine, "rbd-preview-crash", "first", NULL, NULL, &error), 0);
        vmsnap_failpoint_arm(0);
        vmsnap_error_clear(&error);
        _cleanup_free_ char *previewed = vdb_image(c, "rbd-preview-crash");
        assert_string_not_equal(previewed, original);
        assert_true(image_exists(previewed));

        vmsnap_engine_free(c->f->engine);
        vmsnap_failpoint_revive();
        assert_ok(vmsnap_engine_new(c->f->uri, c->f->state_dir, &c->f->engine, &error), &error);
        vmsnap_domain_info info = {0};
        assert_ok(vmsnap_domain_get(c->f->engine, "rbd-preview-crash", &info, &error), &error);
        assert_false(info.in_preview);
        vmsnap_domain_info_clear(&info);
        _cleanup_free_ char *after = vdb_image(c, "rbd-preview-crash");
        assert_string_equal(after, original);
        assert_false(image_exists(previewed));
        case_free(c);
}

static bool rbd_has_parent(const char *image_name)
{
        const char *argv[] = {"rbd", "-c", ceph_conf, "info", "--format", "json", image_name, NULL};
        _cleanup_free_ char *out = test_capture(argv);
        assert_non_null(out);
        return strstr(out, "\"parent\"") != NULL;
}

typedef struct clone_progress {
        uint64_t last, total;
        bool cancel;
} clone_progress;

static void on_clone_progress(void *userdata, uint64_t done, uint64_t total)
{
        clone_progress *p = userdata;
        p->last = done;
        p->total = total;
}

static bool clone_cancel(void *userdata)
{
        return ((clone_progress *)userdata)->cancel;
}

static void test_linked_and_standalone_clones_read_the_snapshot(void **state)
{
        REQUIRE_CLUSTER();
        rbd_case *c = case_new("rbd-clone", NULL);
        vmsnap_create_options options = {.name = "first"};
        vmsnap_error error = {0};
        const char *other_pool = getenv("VMSNAP_TEST_CEPH_OTHER_POOL");
        _cleanup_free_ char *first_reads = case_keep_reference(c, "first");

        assert_ok(vmsnap_snapshot_create(c->f->engine, "rbd-clone", &options, NULL, NULL, &error), &error);
        case_write(c, "write -P 0x88 0 1M");

        /* Linked: a copy-on-write clone of the snapshot, in the snapshot image's pool. */
        vmsnap_clone_options linked = {.linked = true};
        fixture_add_defined(c->f, "rbd-linked");
        assert_ok(vmsnap_snapshot_clone(c->f->engine, "rbd-clone", "first", "rbd-linked", &linked, NULL,
                                        NULL, &error),
                  &error);
        _cleanup_free_ char *linked_image = vdb_image(c, "rbd-linked");
        _cleanup_free_ char *expected_linked = xasprintf("%s/rbd-linked-vdb", pool);
        assert_string_equal(linked_image, expected_linked);
        assert_image_reads(linked_image, first_reads);
        assert_true(rbd_has_parent(linked_image));

        /* Standalone, into another pool: flattened with byte progress. */
        vmsnap_clone_disk into_other = {.target = "vdb", .include = 1, .rbd_pool = other_pool};
        vmsnap_clone_options standalone = {.disks = &into_other, .n_disks = 1};
        clone_progress progress = {0};
        vmsnap_hooks hooks = {
                .progress = on_clone_progress, .is_canceled = clone_cancel, .userdata = &progress};
        fixture_add_defined(c->f, "rbd-standalone");
        assert_ok(vmsnap_snapshot_clone(c->f->engine, "rbd-clone", "first", "rbd-standalone", &standalone,
                                        &hooks, NULL, &error),
                  &error);
        _cleanup_free_ char *standalone_image = vdb_image(c, "rbd-standalone");
        _cleanup_free_ char *expected_standalone = xasprintf("%s/rbd-standalone-vdb", other_pool);
        assert_string_equal(standalone_image, expected_standalone);
        assert_image_reads(standalone_image, first_reads);
        assert_false(rbd_has_parent(standalone_image));
        assert_int_equal(progress.last, progress.total);
        assert_true(progress.total >= 4 << 20);

        /* A name taken in the cluster is refused before anything is made. */
        _cleanup_free_ char *taken = xasprintf("rbd:%s/rbd-taken-vdb:conf=%s", pool, ceph_conf);
        assert_int_equal(test_runf("qemu-img create -q -f raw %s 1M", taken), 0);
        size_t files = fixture_count_files(c->f, "rbd-clone");
        assert_int_not_equal(vmsnap_snapshot_clone(c->f->engine, "rbd-clone", "first", "rbd-taken", NULL,
                                                   NULL, NULL, &error),
                             0);
        assert_non_null(strstr(error.message, "already exists"));
        vmsnap_error_clear(&error);
        assert_int_equal(fixture_count_files(c->f, "rbd-clone"), files);
        virDomainPtr none = virDomainLookupByName(c->f->connection, "rbd-taken");
        assert_null(none);

        test_runf("rbd -c %s rm %s/rbd-taken-vdb", ceph_conf, pool);
        fixture_free(c->f); /* the clones' domains go before their images */
        c->f = fixture_new();
        test_runf("rbd -c %s rm %s", ceph_conf, linked_image);
        test_runf("rbd -c %s rm %s", ceph_conf, standalone_image);
        case_free(c);
}

static void test_canceled_or_crashed_clone_leaves_no_rbd_image(void **state)
{
        REQUIRE_CLUSTER();
        rbd_case *c = case_new("rbd-clone-cancel", NULL);
        vmsnap_create_options options = {.name = "first"};
        vmsnap_error error = {0};
        _cleanup_free_ char *image = xasprintf("%s/rbd-canceled-vdb", pool);

        assert_ok(vmsnap_snapshot_create(c->f->engine, "rbd-clone-cancel", &options, NULL, NULL, &error),
                  &error);
        clone_progress progress = {.cancel = true};
        vmsnap_hooks hooks = {
                .progress = on_clone_progress, .is_canceled = clone_cancel, .userdata = &progress};
        assert_int_not_equal(vmsnap_snapshot_clone(c->f->engine, "rbd-clone-cancel", "first", "rbd-canceled",
                                                   NULL, &hooks, NULL, &error),
                             0);
        assert_int_equal(error.kind, VMSNAP_ERROR_CANCELED);
        vmsnap_error_clear(&error);
        assert_false(image_exists(image));
        assert_null(virDomainLookupByName(c->f->connection, "rbd-canceled"));

        /* Killed once the clone exists: the next start removes it. */
        vmsnap_failpoint_arm_step("clone: after rbd clone");
        assert_int_not_equal(vmsnap_snapshot_clone(c->f->engine, "rbd-clone-cancel", "first", "rbd-canceled",
                                                   NULL, NULL, NULL, &error),
                             0);
        vmsnap_failpoint_arm(0);
        vmsnap_error_clear(&error);
        assert_true(image_exists(image));
        vmsnap_engine_free(c->f->engine);
        vmsnap_failpoint_revive();
        assert_ok(vmsnap_engine_new(c->f->uri, c->f->state_dir, &c->f->engine, &error), &error);
        assert_false(image_exists(image));
        assert_null(virDomainLookupByName(c->f->connection, "rbd-canceled"));
        case_free(c);
}

/* A purge of a domain libvirt no longer defines whose tree is local (it has a file disk):
 * the RBD snapshots vmsnap took go, so does the clone a revert made (once its snapshots
 * are gone), and the image vmsnap did not make stays. */
static void test_purge_removes_the_rbd_snapshots_and_clones_vmsnap_made(void **state)
{
        REQUIRE_CLUSTER();
        rbd_case *c = case_new("rbd-purge", NULL);
        vmsnap_create_options options = {.name = "first"};
        vmsnap_error error = {0};
        _cleanup_free_ char *original = xasprintf("%s/%s", pool, c->image);

        assert_ok(vmsnap_snapshot_create(c->f->engine, "rbd-purge", &options, NULL, NULL, &error), &error);
        assert_ok(vmsnap_snapshot_revert(c->f->engine, "rbd-purge", "first", NULL, NULL, &error), &error);
        _cleanup_free_ char *clone = vdb_image(c, "rbd-purge");
        assert_string_not_equal(clone, original);
        options.name = "second";
        assert_ok(vmsnap_snapshot_create(c->f->engine, "rbd-purge", &options, NULL, NULL, &error), &error);
        _cleanup_free_ char *on_original = rbd_snapshots(c->image);
        assert_int_equal(count_of(on_original, "\"name\":\"vmsnap-"), 1);

        virDomainPtr d = virDomainLookupByName(c->f->connection, "rbd-purge");
        assert_non_null(d);
        assert_int_equal(virDomainUndefine(d), 0);
        virDomainFree(d);
        assert_ok(vmsnap_domain_purge(c->f->engine, "rbd-purge", NULL, NULL, &error), &error);

        free(on_original);
        on_original = rbd_snapshots(c->image);
        assert_int_equal(count_of(on_original, "\"name\":\"vmsnap-"), 0);
        assert_true(image_exists(original));
        assert_false(image_exists(clone));
        vmsnap_domain_info *domains = NULL;
        size_t n = 0;
        assert_ok(vmsnap_domain_list(c->f->engine, &domains, &n, &error), &error);
        for (size_t i = 0; i < n; i++)
                assert_string_not_equal(domains[i].name, "rbd-purge");
        vmsnap_domain_info_array_free(domains, n);
        case_free(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_create_takes_an_rbd_snapshot_beside_the_file_overlay),
                cmocka_unit_test(test_rbd_snapshots_report_what_they_hold_and_what_deleting_them_frees),
                cmocka_unit_test(test_delete_removes_its_rbd_snapshot_and_no_other),
                cmocka_unit_test(test_purge_removes_the_rbd_snapshots_and_clones_vmsnap_made),
                cmocka_unit_test(test_foreign_rbd_snapshot_refuses_create_naming_it),
                cmocka_unit_test(test_unreachable_cluster_refuses_create_before_anything_changes),
                cmocka_unit_test(test_crash_after_the_rbd_snapshot_is_rolled_back),
                cmocka_unit_test(test_preview_undo_and_revert_read_the_rbd_snapshot_through_a_clone),
                cmocka_unit_test(test_crash_in_a_preview_removes_the_clone),
                cmocka_unit_test(test_images_and_snapshots_another_domain_reads_are_kept),
                cmocka_unit_test(test_linked_and_standalone_clones_read_the_snapshot),
                cmocka_unit_test(test_canceled_or_crashed_clone_leaves_no_rbd_image),
        };
        return cmocka_run_group_tests(tests, setup, NULL);
}
