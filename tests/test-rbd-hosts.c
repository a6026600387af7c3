/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-rbd-hosts.c: one tree for every host that shares a Ceph cluster. Two engines with
 * state directories of their own (two hosts' vmsnapd) serve the same domain, whose only
 * disk is an RBD image of a real single-node cluster that tests/with-ceph.sh starts; the
 * domain's tree lives in RADOS under a lease (shared-tree.h). A change through one is seen
 * by the other, a change while another holder has the lease is refused with Busy naming
 * it, and an engine killed in the middle of a change leaves the lease to run out, after
 * which the other finishes the job the way a restart would. Skipped without the cluster. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine.h"
#include "error.h"
#include "failpoint.h"
#include "fixture.h"
#include "rbd.h"
#include "testlib.h"
#include "util.h"

static const char *ceph_conf, *ceph_mon_host, *pool;

#define REQUIRE_CLUSTER()                                                                                   \
        do {                                                                                                \
                if (!ceph_conf || !ceph_mon_host || !pool)                                                  \
                        skip(); /* run through tests/with-ceph.sh */                                        \
        } while (0)

typedef struct two_hosts {
        fixture *f;       /* host a: f->engine */
        vmsnap_engine *b; /* host b, with a state directory of its own */
        char *b_state_dir;
        char *image; /* pool/image, the domain's only disk */
        char uuid[VIR_UUID_STRING_BUFLEN];
} two_hosts;

static two_hosts *two_hosts_new(const char *name)
{
        two_hosts *h = xcalloc(1, sizeof(*h));
        _cleanup_free_ char *host =
                xstrndup(ceph_mon_host, (size_t)(strrchr(ceph_mon_host, ':') - ceph_mon_host));
        _cleanup_free_ char *url = NULL, *devices = NULL;
        vmsnap_error error = {0};

        h->f = fixture_new();
        h->image = xasprintf("%s/%s-%d", pool, name, (int)getpid());
        url = xasprintf("rbd:%s:conf=%s", h->image, ceph_conf);
        assert_int_equal(test_runf("qemu-img create -q -f raw %s 4M", url), 0);
        devices = xasprintf("<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
                            "<source protocol='rbd' name='%s'><host name='%s' port='%s'/>"
                            "<config file='%s'/></source><target dev='vda' bus='virtio'/></disk>",
                            h->image, host, strrchr(ceph_mon_host, ':') + 1, ceph_conf);
        fixture_define_domain(h->f, name, devices);
        virDomainPtr d = virDomainLookupByName(h->f->connection, name);
        assert_non_null(d);
        assert_int_equal(virDomainGetUUIDString(d, h->uuid), 0);
        virDomainFree(d);
        h->b_state_dir = xasprintf("%s/host-b", h->f->dir);
        assert_int_equal(test_runf("mkdir -p %s", h->b_state_dir), 0);
        assert_ok(vmsnap_engine_new(h->f->uri, h->b_state_dir, &h->b, &error), &error);
        return h;
}

static void two_hosts_free(two_hosts *h)
{
        vmsnap_engine_free(h->b);
        test_runf("rbd -c %s snap purge %s", ceph_conf, h->image);
        test_runf("rbd -c %s rm %s", ceph_conf, h->image);
        test_runf("rados -c %s -p %s rm vmsnap.domain.%s", ceph_conf, pool, h->uuid);
        fixture_free(h->f);
        free(h->b_state_dir);
        free(h->image);
        free(h);
}

/* The names of the domain's snapshots as an engine lists them, in tree order, joined by spaces. */
static char *names(vmsnap_engine *engine, const char *domain)
{
        vmsnap_snapshot_info *list = NULL;
        size_t n = 0;
        vmsnap_error error = {0};
        char *joined = xstrdup("");

        assert_ok(vmsnap_snapshot_list(engine, domain, &list, &n, &error), &error);
        for (size_t i = 0; i < n; i++) {
                char *next = xasprintf("%s%s%s", joined, *joined ? " " : "", list[i].name);
                free(joined);
                joined = next;
        }
        vmsnap_snapshot_info_array_free(list, n);
        return joined;
}

static size_t rbd_snapshot_count(two_hosts *h)
{
        return test_rbd_snapshot_count(ceph_conf, h->image);
}

static void create(vmsnap_engine *engine, const char *domain, const char *name)
{
        vmsnap_create_options options = {.name = name};
        vmsnap_error error = {0};
        assert_ok(vmsnap_snapshot_create(engine, domain, &options, NULL, NULL, &error), &error);
}

/* A read trusts its copy of a shared tree for two seconds. */
static void let_reads_look_again(void)
{
        usleep(2100 * 1000);
}

static void test_a_change_through_one_host_is_seen_by_the_other(void **state)
{
        REQUIRE_CLUSTER();
        two_hosts *h = two_hosts_new("hosts-seen");

        create(h->f->engine, "hosts-seen", "on-a");
        _cleanup_free_ char *seen_by_b = names(h->b, "hosts-seen");
        assert_string_equal(seen_by_b, "on-a");

        create(h->b, "hosts-seen", "on-b");
        vmsnap_snapshot_info info = {0};
        vmsnap_error error = {0};
        assert_ok(vmsnap_snapshot_get(h->b, "hosts-seen", "on-b", &info, &error), &error);
        _cleanup_free_ char *parent_id = xstrdup(info.parent_id);
        vmsnap_snapshot_info_clear(&info);
        assert_ok(vmsnap_snapshot_get(h->b, "hosts-seen", "on-a", &info, &error), &error);
        assert_string_equal(parent_id, info.id); /* b built on a's snapshot */
        vmsnap_snapshot_info_clear(&info);

        let_reads_look_again();
        _cleanup_free_ char *seen_by_a = names(h->f->engine, "hosts-seen");
        assert_string_equal(seen_by_a, "on-a on-b");
        assert_int_equal(rbd_snapshot_count(h), 2);

        /* A delete through a removes what b made. */
        assert_ok(vmsnap_snapshot_delete(h->f->engine, "hosts-seen", "on-b", VMSNAP_DELETE_MERGE, NULL,
                                         &error),
                  &error);
        let_reads_look_again();
        _cleanup_free_ char *after = names(h->b, "hosts-seen");
        assert_string_equal(after, "on-a");
        assert_int_equal(rbd_snapshot_count(h), 1);
        two_hosts_free(h);
}

static void test_a_change_while_another_host_holds_the_lease_is_busy(void **state)
{
        REQUIRE_CLUSTER();
        two_hosts *h = two_hosts_new("hosts-busy");
        vmsnap_rbd_cluster_options options = {.config_file = ceph_conf};
        vmsnap_rbd_cluster *cluster = NULL;
        vmsnap_rbd_lease *lease = NULL;
        vmsnap_create_options create_options = {.name = "refused"};
        vmsnap_error error = {0};

        create(h->f->engine, "hosts-busy", "first");
        assert_ok(vmsnap_rbd_cluster_connect(&options, &cluster, &error), &error);
        assert_ok(vmsnap_rbd_lease_acquire(cluster, pool, h->uuid, "host c, vmsnapd 99", 30, &lease, &error),
                  &error);

        assert_int_not_equal(vmsnap_snapshot_create(h->b, "hosts-busy", &create_options, NULL, NULL, &error),
                             0);
        assert_int_equal(error.kind, VMSNAP_ERROR_BUSY);
        if (!strstr(error.message, "host c"))
                fail_msg("the refusal does not name the holder: %s", error.message);
        vmsnap_error_clear(&error);
        assert_int_equal(rbd_snapshot_count(h), 1);
        /* Reads need no lease. */
        _cleanup_free_ char *seen = names(h->b, "hosts-busy");
        assert_string_equal(seen, "first");

        vmsnap_rbd_lease_release(lease);
        create(h->b, "hosts-busy", "after");
        assert_int_equal(rbd_snapshot_count(h), 2);
        vmsnap_rbd_cluster_disconnect(cluster);
        two_hosts_free(h);
}

static void test_a_host_killed_in_a_change_is_recovered_by_the_other_after_the_lease(void **state)
{
        REQUIRE_CLUSTER();
        two_hosts *h = two_hosts_new("hosts-killed");
        vmsnap_create_options options = {.name = "killed"};
        vmsnap_error error = {0};

        h->f->engine->rbd_lease_seconds = 3;
        h->b->rbd_lease_seconds = 3;
        create(h->f->engine, "hosts-killed", "first");
        vmsnap_failpoint_arm_step("create: after rbd snapshot");
        assert_int_not_equal(
                vmsnap_snapshot_create(h->f->engine, "hosts-killed", &options, NULL, NULL, &error), 0);
        vmsnap_failpoint_arm(0);
        vmsnap_failpoint_revive(); /* host a stays dead: only b acts from here on */
        vmsnap_error_clear(&error);
        assert_int_equal(rbd_snapshot_count(h), 2); /* the half-made snapshot's RBD snapshot */

        /* Within the lease the dead host still holds it. */
        options.name = "too-soon";
        assert_int_not_equal(vmsnap_snapshot_create(h->b, "hosts-killed", &options, NULL, NULL, &error), 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_BUSY);
        vmsnap_error_clear(&error);

        usleep(3500 * 1000);
        create(h->b, "hosts-killed", "after");
        _cleanup_free_ char *seen = names(h->b, "hosts-killed");
        assert_string_equal(seen, "first after");
        assert_int_equal(rbd_snapshot_count(h), 2); /* first's and after's: the killed one's is gone */
        two_hosts_free(h);
}

static void test_an_unreachable_cluster_leaves_reads_to_the_copy_and_refuses_changes(void **state)
{
        REQUIRE_CLUSTER();
        two_hosts *h = two_hosts_new("hosts-cut-off");
        vmsnap_create_options options = {.name = "refused"};
        vmsnap_error error = {0};

        create(h->f->engine, "hosts-cut-off", "first");
        _cleanup_free_ char *seen = names(h->b, "hosts-cut-off");
        assert_string_equal(seen, "first");

        /* The monitor moves where nothing listens (the port block's last, which ceph.sh leaves free). */
        virDomainPtr d = virDomainLookupByName(h->f->connection, "hosts-cut-off");
        _cleanup_free_ char *xml = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE);
        virDomainFree(d);
        const char *port = strrchr(ceph_mon_host, ':') + 1;
        _cleanup_free_ char *old_port = xasprintf("port='%s'", port); /* as libvirt writes it */
        _cleanup_free_ char *new_port = xasprintf("port='%d'", atoi(port) + 98);
        char *at = strstr(xml, old_port);
        assert_non_null(at);
        _cleanup_free_ char *moved =
                xasprintf("%.*s%s%s", (int)(at - xml), xml, new_port, at + strlen(old_port));
        d = virDomainDefineXML(h->f->connection, moved);
        assert_non_null(d);
        virDomainFree(d);

        let_reads_look_again();
        _cleanup_free_ char *from_copy = names(h->b, "hosts-cut-off");
        assert_string_equal(from_copy, "first");
        assert_int_not_equal(vmsnap_snapshot_create(h->b, "hosts-cut-off", &options, NULL, NULL, &error), 0);
        if (!strstr(error.message, "is not reachable"))
                fail_msg("the refusal does not say the cluster is out of reach: %s", error.message);
        vmsnap_error_clear(&error);
        assert_int_equal(rbd_snapshot_count(h), 1);
        two_hosts_free(h);
}

static int setup(void **state)
{
        ceph_conf = getenv("VMSNAP_TEST_CEPH_CONF");
        ceph_mon_host = getenv("VMSNAP_TEST_CEPH_MON_HOST");
        pool = getenv("VMSNAP_TEST_CEPH_POOL");
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_a_change_through_one_host_is_seen_by_the_other),
                cmocka_unit_test(test_a_change_while_another_host_holds_the_lease_is_busy),
                cmocka_unit_test(test_a_host_killed_in_a_change_is_recovered_by_the_other_after_the_lease),
                cmocka_unit_test(test_an_unreachable_cluster_leaves_reads_to_the_copy_and_refuses_changes),
        };
        return cmocka_run_group_tests(tests, setup, NULL);
}
