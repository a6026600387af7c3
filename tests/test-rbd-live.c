/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-rbd-live.c: a running TCG domain (real libvirtd and QEMU) whose vda is an RBD image
 * of a real single-node Ceph cluster and whose vdb is a qcow2 file: a live snapshot takes
 * the RBD snapshot and switches the file disk at one instant (the guest paused for it, and
 * running again after), a crash while the guest is held still is recovered with the guest
 * let go, and a revert with stop moves the disk onto a clone the domain then starts from.
 * Run through tests/with-ceph.sh and tests/with-libvirtd.sh; skipped without either. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "error.h"
#include "failpoint.h"
#include "fixture.h"
#include "testlib.h"
#include "util.h"

static const char *ceph_conf, *ceph_mon_host, *pool, *uri;

#define REQUIRE_BOTH()                                                                                      \
        do {                                                                                                \
                if (!ceph_conf || !ceph_mon_host || !pool || !uri || strcmp(uri, "qemu:///system") != 0)    \
                        skip(); /* run through tests/with-ceph.sh and tests/with-libvirtd.sh */             \
        } while (0)

typedef struct live_case {
        fixture *f;
        char *image; /* pool/image */
        char *image_url;
        char *before; /* a raw file: what the image read when the domain started */
} live_case;

/* A running domain "name": vda the RBD image written with 0x31, vdb a qcow2 file. */
static live_case *live_case_new(const char *name)
{
        live_case *c = xcalloc(1, sizeof(*c));
        _cleanup_free_ char *dir = NULL, *vdb = NULL, *xml = NULL;
        _cleanup_free_ char *host =
                xstrndup(ceph_mon_host, (size_t)(strrchr(ceph_mon_host, ':') - ceph_mon_host));
        virDomainPtr d;

        c->f = fixture_new();
        c->image = xasprintf("%s/%s-%d", pool, name, (int)getpid());
        c->image_url = xasprintf("rbd:%s:conf=%s", c->image, ceph_conf);
        c->before = xasprintf("%s/%s-before.raw", c->f->dir, name);
        assert_int_equal(test_runf("qemu-img create -q -f raw %s 4M", c->image_url), 0);
        test_qemu_io(c->image_url, "raw", "write -P 0x31 0 1M");
        test_raw_create(c->before, "4M");
        test_qemu_io(c->before, "raw", "write -P 0x31 0 1M");
        dir = xasprintf("%s/%s", c->f->dir, name);
        assert_int_equal(mkdir(dir, 0755), 0);
        vdb = xasprintf("%s/vdb.qcow2", dir);
        test_qcow2_create(vdb, NULL, NULL, FIXTURE_DISK_SIZE);
        xml = xasprintf("<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
                        "<os><type arch='x86_64'>hvm</type></os><devices>"
                        "<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
                        "<source protocol='rbd' name='%s'><host name='%s' port='%s'/>"
                        "<config file='%s'/></source><target dev='vda' bus='virtio'/></disk>"
                        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                        "<source file='%s'/><target dev='vdb' bus='virtio'/></disk>"
                        "<video><model type='none'/></video><memballoon model='none'/></devices>"
                        "<seclabel type='static' model='dac' relabel='no'><label>+0:+0</label></seclabel>"
                        "</domain>",
                        name, c->image, host, strrchr(ceph_mon_host, ':') + 1, ceph_conf, vdb);
        d = virDomainDefineXML(c->f->connection, xml);
        if (!d)
                fail_msg("cannot define %s: %s", name, virGetLastErrorMessage());
        if (virDomainCreate(d) < 0)
                fail_msg("cannot start %s: %s", name, virGetLastErrorMessage());
        virDomainFree(d);
        fixture_add_defined(c->f, name);
        return c;
}

static void live_case_free(live_case *c)
{
        test_runf("rbd -c %s snap purge %s", ceph_conf, c->image);
        fixture_free(c->f);
        test_runf("rbd -c %s rm %s", ceph_conf, c->image);
        free(c->image);
        free(c->image_url);
        free(c->before);
        free(c);
}

static int domain_state(live_case *c, const char *name)
{
        virDomainPtr d = virDomainLookupByName(c->f->connection, name);
        int state = -1, reason;

        assert_non_null(d);
        assert_int_equal(virDomainGetState(d, &state, &reason, 0), 0);
        virDomainFree(d);
        return state;
}

/* The RBD snapshot name the snapshot records for vda, as QEMU names it with the conf. */
static char *vda_snapshot_url(live_case *c, const char *domain, const char *snapshot)
{
        vmsnap_snapshot_info info = {0};
        vmsnap_error error = {0};
        char *url = NULL;

        assert_ok(vmsnap_snapshot_get(c->f->engine, domain, snapshot, &info, &error), &error);
        for (size_t i = 0; i < info.n_disks; i++)
                if (strcmp(info.disks[i].target, "vda") == 0 && info.disks[i].image)
                        url = xasprintf("%s:conf=%s", info.disks[i].image, ceph_conf);
        vmsnap_snapshot_info_clear(&info);
        assert_non_null(url);
        assert_int_equal(strncmp(url, "rbd:", 4), 0);
        return url;
}

static size_t rbd_snapshot_count(live_case *c)
{
        return test_rbd_snapshot_count(ceph_conf, c->image);
}

static void test_live_snapshot_takes_the_rbd_disk_and_the_file_disk_at_one_instant(void **state)
{
        REQUIRE_BOTH();
        live_case *c = live_case_new("rbd-live");
        vmsnap_create_options options = {.name = "running"};
        vmsnap_error error = {0};
        _cleanup_free_ char *vdb_before = fixture_active_source(c->f, "rbd-live", "vdb");

        assert_ok(vmsnap_snapshot_create(c->f->engine, "rbd-live", &options, NULL, NULL, &error), &error);
        /* The guest was paused for the instant and runs again. */
        assert_int_equal(domain_state(c, "rbd-live"), VIR_DOMAIN_RUNNING);
        _cleanup_free_ char *url = vda_snapshot_url(c, "rbd-live", "running");
        if (!test_images_equal(url, c->before))
                fail_msg("%s does not read what the image held when it was taken", url);
        _cleanup_free_ char *vdb_after = fixture_active_source(c->f, "rbd-live", "vdb");
        assert_string_not_equal(vdb_before, vdb_after);
        assert_int_equal(rbd_snapshot_count(c), 1);

        /* The RBD disk alone: no pause needed, Ceph takes it at an instant. */
        const char *only_vda[] = {"vda"};
        vmsnap_create_options one = {.name = "vda-only", .disks = only_vda, .n_disks = 1};
        assert_ok(vmsnap_snapshot_create(c->f->engine, "rbd-live", &one, NULL, NULL, &error), &error);
        assert_int_equal(domain_state(c, "rbd-live"), VIR_DOMAIN_RUNNING);
        assert_int_equal(rbd_snapshot_count(c), 2);

        /* A memory state with an RBD disk is refused before anything changes. */
        vmsnap_create_options memory = {.name = "with-memory", .memory = true};
        assert_int_not_equal(vmsnap_snapshot_create(c->f->engine, "rbd-live", &memory, NULL, NULL, &error),
                             0);
        assert_non_null(strstr(error.message, "disk vda"));
        vmsnap_error_clear(&error);
        assert_int_equal(rbd_snapshot_count(c), 2);
        live_case_free(c);
}

static void test_a_crash_while_the_guest_is_paused_is_recovered_with_the_guest_running(void **state)
{
        REQUIRE_BOTH();
        live_case *c = live_case_new("rbd-live-crash");
        vmsnap_create_options options = {.name = "crashed"};
        vmsnap_snapshot_info *list = NULL;
        size_t n = 99;
        vmsnap_error error = {0};

        vmsnap_failpoint_arm_step("create: after rbd snapshot");
        assert_int_not_equal(
                vmsnap_snapshot_create(c->f->engine, "rbd-live-crash", &options, NULL, NULL, &error), 0);
        vmsnap_failpoint_arm(0);
        vmsnap_error_clear(&error);
        assert_int_equal(domain_state(c, "rbd-live-crash"), VIR_DOMAIN_PAUSED);

        vmsnap_engine_free(c->f->engine);
        vmsnap_failpoint_revive();
        assert_ok(vmsnap_engine_new(c->f->uri, c->f->state_dir, &c->f->engine, &error), &error);
        assert_ok(vmsnap_snapshot_list(c->f->engine, "rbd-live-crash", &list, &n, &error), &error);
        assert_int_equal(n, 0);
        vmsnap_snapshot_info_array_free(list, n);
        assert_int_equal(domain_state(c, "rbd-live-crash"), VIR_DOMAIN_RUNNING);
        assert_int_equal(rbd_snapshot_count(c), 0);
        live_case_free(c);
}

static void test_revert_with_stop_starts_the_domain_on_a_clone_of_the_snapshot(void **state)
{
        REQUIRE_BOTH();
        live_case *c = live_case_new("rbd-live-revert");
        vmsnap_create_options options = {.name = "first"};
        vmsnap_revert_options revert = {.stop = true, .start = true};
        vmsnap_error error = {0};

        assert_ok(vmsnap_snapshot_create(c->f->engine, "rbd-live-revert", &options, NULL, NULL, &error),
                  &error);
        test_qemu_io(c->image_url, "raw", "write -P 0x32 0 64k");
        assert_ok(vmsnap_snapshot_revert(c->f->engine, "rbd-live-revert", "first", &revert, NULL, &error),
                  &error);
        assert_int_equal(domain_state(c, "rbd-live-revert"), VIR_DOMAIN_RUNNING);
        _cleanup_free_ char *xml = fixture_domain_xml(c->f, "rbd-live-revert");
        const char *name = strstr(strstr(xml, "protocol="), "name=") + strlen("name=") + 1;
        _cleanup_free_ char *clone = xstrndup(name, strcspn(name, "'\""));
        assert_string_not_equal(clone, c->image);
        /* The running domain holds the clone open; what it reads is the snapshot's. */
        _cleanup_free_ char *clone_url = xasprintf("rbd:%s:conf=%s", clone, ceph_conf);
        const char *compare[] = {"qemu-img", "compare", "-U", clone_url, c->before, NULL};
        assert_int_equal(test_run(compare), 0);
        virDomainPtr d = virDomainLookupByName(c->f->connection, "rbd-live-revert");
        virDomainDestroy(d);
        virDomainFree(d);
        test_runf("rbd -c %s rm %s", ceph_conf, clone); /* before its parent snapshot */
        live_case_free(c);
}

static int setup(void **state)
{
        ceph_conf = getenv("VMSNAP_TEST_CEPH_CONF");
        ceph_mon_host = getenv("VMSNAP_TEST_CEPH_MON_HOST");
        pool = getenv("VMSNAP_TEST_CEPH_POOL");
        uri = getenv("VMSNAP_TEST_URI");
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_live_snapshot_takes_the_rbd_disk_and_the_file_disk_at_one_instant),
                cmocka_unit_test(test_a_crash_while_the_guest_is_paused_is_recovered_with_the_guest_running),
                cmocka_unit_test(test_revert_with_stop_starts_the_domain_on_a_clone_of_the_snapshot),
        };
        return cmocka_run_group_tests(tests, setup, NULL);
}
