/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-live.c: snapshots of running domains against a real libvirtd and QEMU
 * (TCG): live create with and without memory, a subset of disks, quiesce
 * refused without a guest agent, and the rollback when libvirt fails. Run
 * through tests/with-libvirtd.sh; skipped against the test driver. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "chain.h"
#include "domxml.h"
#include "op.h"
#include "fixture.h"
#include "testlib.h"

/* A tiny TCG domain (TESTBED): 64 MiB, no video, no balloon, QEMU as root through a
 * static seclabel; two qcow2 disks vda, vdb with distinct data; extra: more devices. */
static void define_tiny_domain_sized(fixture *f, const char *name, const char *extra, const char *size)
{
        char dir[1024], a[1100], b[1100], *xml;
        virDomainPtr d;

        snprintf(dir, sizeof(dir), "%s/%s", f->dir, name);
        mkdir(dir, 0755);
        snprintf(a, sizeof(a), "%s/a.qcow2", dir);
        snprintf(b, sizeof(b), "%s/b.qcow2", dir);
        test_qcow2_create(a, NULL, NULL, size);
        test_qcow2_create(b, NULL, NULL, size);
        test_qemu_io(a, "qcow2", "write -P 0x11 0 64k");
        test_qemu_io(b, "qcow2", "write -P 0x22 64k 64k");
        d = virDomainLookupByName(f->connection, name);
        if (d) {
                virDomainDestroy(d);
                virDomainUndefineFlags(d,
                                       VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | VIR_DOMAIN_UNDEFINE_NVRAM);
                virDomainFree(d);
        }
        if (asprintf(&xml,
                     "<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
                     "<os><type arch='x86_64'>hvm</type></os><devices>"
                     "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                     "<source file='%s'/><target dev='vda' bus='virtio'/></disk>"
                     "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                     "<source file='%s'/><target dev='vdb' bus='virtio'/></disk>"
                     "<video><model type='none'/></video><memballoon model='none'/>%s</devices>"
                     "<seclabel type='static' model='dac' relabel='no'><label>+0:+0</label></seclabel>"
                     "</domain>",
                     name, a, b, extra ? extra : "") < 0)
                abort();
        d = virDomainDefineXML(f->connection, xml);
        if (!d)
                fail_msg("cannot define %s: %s", name, virGetLastErrorMessage());
        if (virDomainCreate(d) < 0)
                fail_msg("cannot start %s: %s", name, virGetLastErrorMessage());
        virDomainFree(d);
        free(xml);
        f->defined = realloc(f->defined, (f->n_defined + 1) * sizeof(char *));
        f->defined[f->n_defined++] = strdup(name);
}

static void define_tiny_domain(fixture *f, const char *name, const char *extra)
{
        define_tiny_domain_sized(f, name, extra, FIXTURE_DISK_SIZE);
}

/* The source of a disk in the running (live) or persistent definition. */
static char *disk_source(fixture *f, const char *domain, const char *target, bool live)
{
        virDomainPtr d = virDomainLookupByName(f->connection, domain);
        char *xml = virDomainGetXMLDesc(d, live ? 0 : VIR_DOMAIN_XML_INACTIVE), *source = NULL;
        vmsnap_xml_disk *disks = NULL;
        size_t n = 0;

        assert_int_equal(vmsnap_xml_disks(xml, &disks, &n, NULL), 0);
        for (size_t i = 0; i < n; i++)
                if (strcmp(disks[i].target, target) == 0)
                        source = strdup(disks[i].source);
        vmsnap_xml_disks_free(disks, n);
        free(xml);
        virDomainFree(d);
        assert_non_null(source);
        return source;
}

static bool domain_running(fixture *f, const char *domain)
{
        virDomainPtr d = virDomainLookupByName(f->connection, domain);
        bool running = virDomainIsActive(d) == 1;
        virDomainFree(d);
        return running;
}

static void destroy(fixture *f, const char *domain)
{
        virDomainPtr d = virDomainLookupByName(f->connection, domain);
        virDomainDestroy(d);
        virDomainFree(d);
}

static const char *image_of(const vmsnap_snapshot_info *info, const char *target)
{
        for (size_t i = 0; i < info->n_disks; i++)
                if (strcmp(info->disks[i].target, target) == 0)
                        return info->disks[i].image;
        return NULL;
}

static int libvirt_snapshot_count(fixture *f, const char *domain)
{
        virDomainPtr d = virDomainLookupByName(f->connection, domain);
        int n = virDomainSnapshotNum(d, 0);
        virDomainFree(d);
        return n;
}

static void test_live_create_moves_the_running_disks_onto_new_overlays(void **state)
{
        fixture *f = *state;
        vmsnap_create_options options = {.name = "live"};
        vmsnap_snapshot_info info = {0};
        vmsnap_error error = {0};
        char a[1100], before_a[1100];

        snprintf(a, sizeof(a), "%s/vm/a.qcow2", f->dir);
        snprintf(before_a, sizeof(before_a), "%s/reference-a.qcow2", f->dir);
        define_tiny_domain(f, "vm", NULL);
        assert_int_equal(test_runf("cp %s %s", a, before_a), 0);

        assert_ok(vmsnap_snapshot_create(f->engine, "vm", &options, NULL, NULL, &error), &error);
        assert_true(domain_running(f, "vm"));
        assert_ok(vmsnap_snapshot_get(f->engine, "vm", "live", &info, &error), &error);
        assert_string_equal(info.state, "running");
        /* Taken without quiesce: the record says the disks are only crash-consistent. */
        assert_string_equal(info.consistency, "crash-consistent");
        assert_false(info.memory);
        for (int i = 0; i < 2; i++) {
                const char *target = i == 0 ? "vda" : "vdb";
                char *live = disk_source(f, "vm", target, true);
                char *persistent = disk_source(f, "vm", target, false);
                /* The running domain and its definition both continue on vmsnap's overlay. */
                assert_non_null(strstr(live, ".vmsnap-"));
                assert_string_equal(live, persistent);
                assert_non_null(strstr(image_of(&info, target), i == 0 ? "/a.qcow2" : "/b.qcow2"));
                free(live);
                free(persistent);
        }
        /* The frozen image reads what the disk held, while QEMU keeps it open read-only. */
        assert_int_equal(test_runf("qemu-img compare -U -q %s %s", image_of(&info, "vda"), before_a), 0);
        assert_int_equal(libvirt_snapshot_count(f, "vm"), 0);

        /* A second live snapshot stacks on the first; after stopping, nothing is orphaned. */
        vmsnap_create_options second = {.name = "live2"};
        assert_ok(vmsnap_snapshot_create(f->engine, "vm", &second, NULL, NULL, &error), &error);
        destroy(f, "vm");
        char *vda = fixture_active_source(f, "vm", "vda");
        assert_int_equal(test_runf("qemu-img check -q %s", vda), 0);
        assert_true(test_images_equal(vda, before_a));
        free(vda);
        vmsnap_snapshot_info_clear(&info);
}

static void test_live_create_of_one_disk_leaves_the_other_as_it_was(void **state)
{
        fixture *f = *state;
        const char *disks[] = {"vdb"};
        vmsnap_create_options options = {.name = "only-vdb", .disks = disks, .n_disks = 1};
        vmsnap_error error = {0};

        define_tiny_domain(f, "vm", NULL);
        char *vda_before = disk_source(f, "vm", "vda", true);
        assert_ok(vmsnap_snapshot_create(f->engine, "vm", &options, NULL, NULL, &error), &error);
        char *vda_after = disk_source(f, "vm", "vda", true), *vdb = disk_source(f, "vm", "vdb", true);
        assert_string_equal(vda_after, vda_before);
        assert_non_null(strstr(vdb, "b.vmsnap-"));
        free(vda_before);
        free(vda_after);
        free(vdb);
}

static void test_live_create_with_memory_writes_a_memory_file_and_keeps_running(void **state)
{
        fixture *f = *state;
        vmsnap_create_options options = {.name = "with-memory", .memory = true};
        vmsnap_snapshot_info info = {0};
        vmsnap_error error = {0};
        char memory[1200];
        struct stat st;

        define_tiny_domain(f, "vm", NULL);
        assert_ok(vmsnap_snapshot_create(f->engine, "vm", &options, NULL, NULL, &error), &error);
        assert_true(domain_running(f, "vm"));
        assert_ok(vmsnap_snapshot_get(f->engine, "vm", "with-memory", &info, &error), &error);
        assert_true(info.memory);
        /* Beside the first disk, named after the domain and the snapshot. */
        snprintf(memory, sizeof(memory), "%s/vm/vm.vmsnap-%.8s.mem", f->dir, info.id);
        assert_int_equal(stat(memory, &st), 0);
        assert_true(st.st_size > 0);
        /* The guest's RAM is for root's eyes only, as the metadata is. */
        if ((st.st_mode & 07777) != 0600 || st.st_uid != 0 || st.st_gid != 0)
                fail_msg("the memory file is mode %04o, owner %u:%u; it must be 0600 root:root",
                         (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, (unsigned)st.st_gid);
        char *live = disk_source(f, "vm", "vda", true), *persistent = disk_source(f, "vm", "vda", false);
        assert_non_null(strstr(live, "a.vmsnap-"));
        assert_string_equal(live, persistent);
        assert_int_equal(libvirt_snapshot_count(f, "vm"), 0);
        free(live);
        free(persistent);

        /* The memory file belongs to the snapshot: a later operation's cleanup keeps it. */
        vmsnap_create_options next = {.name = "after"};
        assert_ok(vmsnap_snapshot_create(f->engine, "vm", &next, NULL, NULL, &error), &error);
        assert_int_equal(stat(memory, &st), 0);
        vmsnap_snapshot_info_clear(&info);
}

static void assert_nothing_changed(fixture *f, const char *domain, size_t files, const char *vda)
{
        vmsnap_snapshot_info *list = NULL;
        vmsnap_error error = {0};
        size_t n = 0;

        assert_int_equal(fixture_count_files(f, domain), files);
        char *live = disk_source(f, domain, "vda", true), *persistent = disk_source(f, domain, "vda", false);
        assert_string_equal(live, vda);
        assert_string_equal(persistent, vda);
        assert_ok(vmsnap_snapshot_list(f->engine, domain, &list, &n, &error), &error);
        assert_int_equal(n, 0);
        vmsnap_snapshot_info_array_free(list, n);
        assert_true(domain_running(f, domain));
        free(live);
        free(persistent);
}

static void test_quiesce_without_a_guest_agent_channel_is_refused_before_any_change(void **state)
{
        fixture *f = *state;
        vmsnap_create_options options = {.name = "quiet", .quiesce = true};
        vmsnap_error error = {0};

        define_tiny_domain(f, "vm", NULL);
        size_t files = fixture_count_files(f, "vm");
        char *vda = disk_source(f, "vm", "vda", true);
        assert_true(vmsnap_snapshot_create(f->engine, "vm", &options, NULL, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_UNSUPPORTED);
        assert_non_null(strstr(error.message, "guest agent"));
        assert_non_null(strstr(error.message, "nothing was changed"));
        assert_nothing_changed(f, "vm", files, vda);
        free(vda);
}

static void test_quiesce_with_a_silent_guest_agent_fails_and_removes_the_overlays(void **state)
{
        fixture *f = *state;
        vmsnap_create_options options = {.name = "quiet", .quiesce = true, .memory = false};
        vmsnap_error error = {0};

        /* The channel exists but nothing in the guest answers on it. */
        define_tiny_domain(f, "vm",
                           "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/>"
                           "</channel>");
        size_t files = fixture_count_files(f, "vm");
        char *vda = disk_source(f, "vm", "vda", true);
        assert_true(vmsnap_snapshot_create(f->engine, "vm", &options, NULL, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_FAILED);
        assert_non_null(strstr(error.message, "quiesce"));
        assert_non_null(strstr(error.message, "nothing was changed"));
        assert_nothing_changed(f, "vm", files, vda);
        free(vda);
}

static void test_a_crash_before_the_live_snapshot_is_rolled_back_removing_the_overlays(void **state)
{
        fixture *f = *state;
        vmsnap_create_options options = {.name = "crash", .memory = true};
        vmsnap_snapshot_info *list = NULL;
        vmsnap_error error = {0};
        size_t n = 0;

        define_tiny_domain(f, "vm", NULL);
        size_t files = fixture_count_files(f, "vm");
        char *vda = disk_source(f, "vm", "vda", true);
        vmsnap_failpoint_arm_step("create: before live snapshot");
        assert_true(vmsnap_snapshot_create(f->engine, "vm", &options, NULL, NULL, &error) < 0);
        vmsnap_failpoint_arm(0);
        assert_non_null(strstr(error.message, "before live snapshot"));
        /* The overlays exist until the recovery. */
        assert_int_equal(fixture_count_files(f, "vm"), files + 2);
        vmsnap_engine_forget(f->engine);
        assert_ok(vmsnap_snapshot_list(f->engine, "vm", &list, &n, &error), &error);
        vmsnap_snapshot_info_array_free(list, n);
        /* libvirt never switched: no record, no overlay, no memory file, the disks as they were. */
        assert_nothing_changed(f, "vm", files, vda);
        free(vda);
}

static void test_a_crash_after_the_live_snapshot_records_the_snapshot_at_recovery(void **state)
{
        fixture *f = *state;
        vmsnap_create_options options = {.name = "crash", .memory = true};
        vmsnap_snapshot_info info = {0};
        vmsnap_error error = {0};
        char a[1100], memory[1200];
        struct stat st;

        define_tiny_domain(f, "vm", NULL);
        snprintf(a, sizeof(a), "%s/vm/a.qcow2", f->dir);
        vmsnap_failpoint_arm_step("create: after live snapshot");
        assert_true(vmsnap_snapshot_create(f->engine, "vm", &options, NULL, NULL, &error) < 0);
        vmsnap_failpoint_arm(0);
        assert_non_null(strstr(error.message, "after live snapshot"));
        vmsnap_engine_forget(f->engine);

        /* libvirt switched the disks before the crash: recovery keeps the snapshot it took. */
        assert_ok(vmsnap_snapshot_get(f->engine, "vm", "crash", &info, &error), &error);
        assert_true(info.current);
        assert_true(info.memory);
        assert_string_equal(info.state, "running");
        assert_string_equal(info.consistency, "crash-consistent");
        assert_string_equal(image_of(&info, "vda"), a);
        char *live = disk_source(f, "vm", "vda", true), *persistent = disk_source(f, "vm", "vda", false);
        assert_non_null(strstr(live, "a.vmsnap-"));
        assert_string_equal(live, persistent);
        snprintf(memory, sizeof(memory), "%s/vm/vm.vmsnap-%.8s.mem", f->dir, info.id);
        assert_int_equal(stat(memory, &st), 0);
        assert_true(st.st_size > 0);
        assert_int_equal(st.st_mode & 07777, 0600);

        /* The recovered record is whole: the snapshot merges away and reverts like any other. */
        vmsnap_create_options next = {.name = "next"};
        assert_ok(vmsnap_snapshot_create(f->engine, "vm", &next, NULL, NULL, &error), &error);
        assert_ok(vmsnap_snapshot_delete(f->engine, "vm", "next", VMSNAP_DELETE_MERGE, NULL, &error),
                  &error);
        vmsnap_revert_options revert = {.restore_memory = true};
        assert_ok(vmsnap_snapshot_revert(f->engine, "vm", "crash", &revert, NULL, &error), &error);
        assert_true(domain_running(f, "vm"));
        destroy(f, "vm");
        char *vda = fixture_active_source(f, "vm", "vda");
        assert_int_equal(test_runf("qemu-img check -q %s", vda), 0);
        free(vda);
        free(live);
        free(persistent);
        vmsnap_snapshot_info_clear(&info);
}

/* ---- live delete ---- */

/* A write by the running guest into disk target (vda, vdb), mirrored into the
 * offline reference image that tracks what the disk should read. */
static void guest_write(fixture *f, const char *domain, const char *target, unsigned pattern,
                        unsigned offset, unsigned length)
{
        char command[512], reference[1100], io[128];
        unsigned index = strcmp(target, "vda") == 0 ? 0 : 1;

        snprintf(io, sizeof(io), "write -P %u %u %u", pattern, offset, length);
        snprintf(command, sizeof(command),
                 "qemu-io -d /machine/peripheral/virtio-disk%u/virtio-backend \"%s\"", index, io);
        const char *argv[] = {"virsh", "-q",    "-c",    f->uri, "qemu-monitor-command",
                              domain,  "--hmp", command, NULL};
        char *output = test_capture(argv);
        if (!output || strstr(output, "rror"))
                fail_msg("guest write failed: %s", output ? output : "?");
        free(output);
        snprintf(command, sizeof(command),
                 "qemu-io -d /machine/peripheral/virtio-disk%u/virtio-backend \"flush\"", index);
        argv[7] = command;
        free(test_capture(argv));
        snprintf(reference, sizeof(reference), "%s/reference-%s.qcow2", f->dir, target);
        test_qemu_io(reference, "qcow2", io);
}

/* The reference of what disk target reads now, kept as the state of snapshot `name`. */
static void keep_reference(fixture *f, const char *target, const char *name)
{
        assert_int_equal(test_runf("cp %s/reference-%s.qcow2 %s/reference-%s-%s.qcow2", f->dir, target,
                                   f->dir, target, name),
                         0);
}

static void snapshot_live(fixture *f, const char *name)
{
        vmsnap_create_options options = {.name = name};
        vmsnap_error error = {0};

        assert_ok(vmsnap_snapshot_create(f->engine, "vm", &options, NULL, NULL, &error), &error);
        keep_reference(f, "vda", name);
}

static char *frozen_image(fixture *f, const char *snapshot)
{
        vmsnap_snapshot_info info = {0};
        vmsnap_error error = {0};

        assert_ok(vmsnap_snapshot_get(f->engine, "vm", snapshot, &info, &error), &error);
        char *image = strdup(image_of(&info, "vda"));
        vmsnap_snapshot_info_clear(&info);
        return image;
}

static void assert_snapshot_reads_its_moment(fixture *f, const char *snapshot)
{
        char *image = frozen_image(f, snapshot);
        if (test_runf("qemu-img compare -U -q %s %s/reference-vda-%s.qcow2", image, f->dir, snapshot) != 0)
                fail_msg("snapshot %s (%s) no longer reads what it read when it was taken", snapshot, image);
        free(image);
}

/* Stops the domain and checks that its disk reads every write the guest made. */
static void assert_disk_kept_every_write(fixture *f)
{
        destroy(f, "vm");
        char *vda = fixture_active_source(f, "vm", "vda");
        assert_int_equal(test_runf("qemu-img check -q %s", vda), 0);
        if (test_runf("qemu-img compare -q %s %s/reference-vda.qcow2", vda, f->dir) != 0)
                fail_msg("disk vda (%s) does not read what the guest wrote", vda);
        free(vda);
}

/* a.qcow2 <- s1 frozen; o1 <- s2; o2 <- s3; o3 active. big_in: "o2" or "o3" gets 1 MiB more. */
static void build_three_live_snapshots(fixture *f, const char *big_in)
{
        char a[1100];

        define_tiny_domain(f, "vm", NULL);
        snprintf(a, sizeof(a), "%s/vm/a.qcow2", f->dir);
        assert_int_equal(test_runf("cp %s %s/reference-vda.qcow2", a, f->dir), 0);
        snapshot_live(f, "s1");
        guest_write(f, "vm", "vda", 0x21, 64 * 1024, 64 * 1024);
        snapshot_live(f, "s2");
        guest_write(f, "vm", "vda", 0x31, 128 * 1024, 64 * 1024);
        if (strcmp(big_in, "o2") == 0)
                guest_write(f, "vm", "vda", 0x32, 1024 * 1024, 1024 * 1024);
        snapshot_live(f, "s3");
        guest_write(f, "vm", "vda", 0x41, 192 * 1024, 64 * 1024);
        if (strcmp(big_in, "o3") == 0)
                guest_write(f, "vm", "vda", 0x42, 1024 * 1024, 1024 * 1024);
}

static void count_progress(void *userdata, uint64_t done, uint64_t total)
{
        (*(unsigned *)userdata)++;
}

static void test_live_delete_of_the_leaf_snapshot_commits_the_active_image_and_pivots(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        unsigned progress = 0;
        vmsnap_hooks hooks = {.progress = count_progress, .userdata = &progress};

        build_three_live_snapshots(f, "o2"); /* the active image is the smaller: commit it down */
        char *o2 = frozen_image(f, "s3"), *o3 = disk_source(f, "vm", "vda", true);
        assert_ok(vmsnap_snapshot_delete(f->engine, "vm", "s3", VMSNAP_DELETE_MERGE, &hooks, &error),
                  &error);
        assert_true(domain_running(f, "vm"));
        char *live = disk_source(f, "vm", "vda", true), *persistent = disk_source(f, "vm", "vda", false);
        assert_string_equal(live, o2);
        assert_string_equal(persistent, o2);
        assert_false(access(o3, F_OK) == 0);
        assert_true(progress > 0);
        assert_snapshot_reads_its_moment(f, "s1");
        assert_snapshot_reads_its_moment(f, "s2");
        assert_disk_kept_every_write(f);
        free(o2);
        free(o3);
        free(live);
        free(persistent);
}

static void test_live_delete_of_the_leaf_snapshot_pulls_when_that_copies_less(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};

        build_three_live_snapshots(f, "o3"); /* the frozen image is the smaller: pull it up */
        char *o1 = frozen_image(f, "s2"), *o2 = frozen_image(f, "s3"),
             *o3 = disk_source(f, "vm", "vda", true);
        assert_ok(vmsnap_snapshot_delete(f->engine, "vm", "s3", VMSNAP_DELETE_MERGE, NULL, &error), &error);
        char *live = disk_source(f, "vm", "vda", true);
        assert_string_equal(live, o3);
        assert_false(access(o2, F_OK) == 0);
        char *info = test_capture((const char *[]){"qemu-img", "info", "-U", o3, NULL});
        assert_non_null(strstr(info, o1));
        assert_snapshot_reads_its_moment(f, "s1");
        assert_snapshot_reads_its_moment(f, "s2");
        assert_disk_kept_every_write(f);
        free(info);
        free(o1);
        free(o2);
        free(o3);
        free(live);
}

static void test_live_delete_of_a_middle_snapshot_commits_below_the_active_image(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};

        build_three_live_snapshots(f, "none");
        char *o1 = frozen_image(f, "s2"), *o2 = frozen_image(f, "s3"),
             *o3 = disk_source(f, "vm", "vda", true);
        assert_ok(vmsnap_snapshot_delete(f->engine, "vm", "s2", VMSNAP_DELETE_MERGE, NULL, &error), &error);
        char *live = disk_source(f, "vm", "vda", true), *s3 = frozen_image(f, "s3");
        assert_string_equal(live, o3);
        /* s3's state now lives in o1, which took o2's place in the chain. */
        assert_string_equal(s3, o1);
        assert_false(access(o2, F_OK) == 0);
        assert_snapshot_reads_its_moment(f, "s1");
        assert_snapshot_reads_its_moment(f, "s3");
        assert_disk_kept_every_write(f);
        free(o1);
        free(o2);
        free(o3);
        free(live);
        free(s3);
}

static void test_live_delete_of_the_root_snapshot_leaves_the_original_image(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        char a[1100];

        build_three_live_snapshots(f, "none");
        snprintf(a, sizeof(a), "%s/vm/a.qcow2", f->dir);
        size_t files = fixture_count_files(f, "vm");
        assert_ok(vmsnap_snapshot_delete(f->engine, "vm", "s1", VMSNAP_DELETE_MERGE, NULL, &error), &error);
        assert_int_equal(fixture_count_files(f, "vm"), files);
        assert_true(access(a, F_OK) == 0);
        assert_snapshot_reads_its_moment(f, "s2");
        assert_snapshot_reads_its_moment(f, "s3");
        assert_disk_kept_every_write(f);
}

static char *digest_of_snapshot(fixture *f, const char *snapshot)
{
        char *image = frozen_image(f, snapshot), *digest = test_image_digest(image);
        free(image);
        return digest;
}

static void test_live_delete_pulls_other_branches_with_qemu_img_and_merges_the_running_one(void **state)
{
        fixture *f = *state;
        vmsnap_revert_options revert = {0};
        vmsnap_error error = {0};
        vmsnap_create_options s1 = {.name = "s1"}, s2 = {.name = "s2"}, s3 = {.name = "s3"};

        /* Offline: a <- o1 (s2) <- p (s3, another branch); a <- o1 <- r (active after reverting to s2). */
        define_tiny_domain(f, "vm", NULL);
        destroy(f, "vm");
        assert_ok(vmsnap_snapshot_create(f->engine, "vm", &s1, NULL, NULL, &error), &error);
        fixture_write(f, "vm", "vda", 1, 0x21);
        assert_ok(vmsnap_snapshot_create(f->engine, "vm", &s2, NULL, NULL, &error), &error);
        assert_ok(vmsnap_snapshot_revert(f->engine, "vm", "s2", &revert, NULL, &error), &error);
        fixture_write(f, "vm", "vda", 2, 0x31);
        assert_ok(vmsnap_snapshot_create(f->engine, "vm", &s3, NULL, NULL, &error), &error);
        assert_ok(vmsnap_snapshot_revert(f->engine, "vm", "s2", &revert, NULL, &error), &error);
        char *want_s1 = digest_of_snapshot(f, "s1"), *want_s3 = digest_of_snapshot(f, "s3");
        char *want_active = fixture_active_digest(f, "vm", "vda");
        char *o1 = frozen_image(f, "s2");

        virDomainPtr d = virDomainLookupByName(f->connection, "vm");
        assert_int_equal(virDomainCreate(d), 0);
        virDomainFree(d);
        assert_ok(vmsnap_snapshot_delete(f->engine, "vm", "s2", VMSNAP_DELETE_MERGE, NULL, &error), &error);
        assert_true(domain_running(f, "vm"));
        char *s1_now = digest_of_snapshot(f, "s1"), *s3_now = digest_of_snapshot(f, "s3");
        assert_string_equal(s1_now, want_s1);
        assert_string_equal(s3_now, want_s3);
        destroy(f, "vm");
        char *active_now = fixture_active_digest(f, "vm", "vda");
        assert_string_equal(active_now, want_active);
        char *vda = fixture_active_source(f, "vm", "vda");
        assert_int_equal(test_runf("qemu-img check -q %s", vda), 0);
        free(vda);
        free(o1);
        free(want_s1);
        free(want_s3);
        free(want_active);
        free(s1_now);
        free(s3_now);
        free(active_now);
}

/* ---- canceling a live merge ---- */

/* a.qcow2 <- o1 (s2's frozen image, 48 MiB of data) <- o2 (active, 49 MiB), built while
 * the domain is shut off, then started: deleting s2 pulls o1 into o2 (it copies less
 * than committing o2 down). */
static void build_a_running_domain_whose_merge_pulls(fixture *f)
{
        vmsnap_create_options s1 = {.name = "s1"}, s2 = {.name = "s2"};
        vmsnap_error error = {0};

        define_tiny_domain_sized(f, "vm", NULL, "128M");
        destroy(f, "vm");
        assert_ok(vmsnap_snapshot_create(f->engine, "vm", &s1, NULL, NULL, &error), &error);
        char *o1 = fixture_active_source(f, "vm", "vda");
        test_qemu_io(o1, "qcow2", "write -P 0x31 0 48M");
        assert_ok(vmsnap_snapshot_create(f->engine, "vm", &s2, NULL, NULL, &error), &error);
        char *o2 = fixture_active_source(f, "vm", "vda");
        test_qemu_io(o2, "qcow2", "write -P 0x41 16M 49M");
        virDomainPtr d = virDomainLookupByName(f->connection, "vm");
        assert_int_equal(virDomainCreate(d), 0);
        virDomainFree(d);
        free(o1);
        free(o2);
}

/* Hooks that slow the block job down to 1 MiB/s at its first report (libvirt's own
 * bandwidth control, as a busy host would), then cancel once part of it is done. */
struct cancel_midway {
        fixture *f;
        bool throttled, canceled;
        uint64_t done, total;
};

static void throttle_then_cancel(void *userdata, uint64_t done, uint64_t total)
{
        struct cancel_midway *c = userdata;

        if (!c->throttled) {
                virDomainPtr d = virDomainLookupByName(c->f->connection, "vm");
                c->throttled = virDomainBlockJobSetSpeed(d, "vda", 1024 * 1024,
                                                         VIR_DOMAIN_BLOCK_JOB_SPEED_BANDWIDTH_BYTES) == 0;
                virDomainFree(d);
        }
        if (!c->canceled && done > 0 && done < total) {
                c->canceled = true;
                c->done = done;
                c->total = total;
        }
}

static bool cancel_requested(void *userdata)
{
        return ((struct cancel_midway *)userdata)->canceled;
}

static bool block_job_on(fixture *f, const char *target)
{
        virDomainPtr d = virDomainLookupByName(f->connection, "vm");
        virDomainBlockJobInfo info = {0};
        int r = virDomainGetBlockJobInfo(d, target, &info, 0);
        virDomainFree(d);
        return r == 1;
}

static char *backing_of(const char *image)
{
        char *json = test_capture((const char *[]){"qemu-img", "info", "-U", "--output=json", image, NULL});
        char *key = json ? strstr(json, "\"full-backing-filename\": \"") : NULL, *backing = NULL;

        if (key) {
                key += strlen("\"full-backing-filename\": \"");
                backing = strndup(key, strcspn(key, "\""));
        }
        free(json);
        return backing;
}

static void test_cancel_during_a_live_pull_stops_the_block_job_and_changes_nothing(void **state)
{
        fixture *f = *state;
        struct cancel_midway cancel = {.f = f};
        vmsnap_hooks hooks = {
                .progress = throttle_then_cancel, .is_canceled = cancel_requested, .userdata = &cancel};
        vmsnap_snapshot_info *list = NULL;
        vmsnap_error error = {0};
        size_t n = 0;

        build_a_running_domain_whose_merge_pulls(f);
        char *o1 = frozen_image(f, "s2"), *o2 = disk_source(f, "vm", "vda", true);
        char *s1_before = digest_of_snapshot(f, "s1"), *s2_before = digest_of_snapshot(f, "s2");
        size_t files = fixture_count_files(f, "vm");

        assert_true(vmsnap_snapshot_delete(f->engine, "vm", "s2", VMSNAP_DELETE_MERGE, &hooks, &error) < 0);
        if (!cancel.canceled)
                fail_msg("the pull ended before it could be canceled: %s", error.message);
        print_message("# canceled at %.1f %% of the pull\n",
                      100.0 * (double)cancel.done / (double)cancel.total);
        assert_true(cancel.throttled);
        assert_int_equal(error.kind, VMSNAP_ERROR_CANCELED);
        assert_non_null(strstr(error.message, "canceled"));

        /* The block job is gone and the domain runs on the chain it had. */
        assert_false(block_job_on(f, "vda"));
        assert_true(domain_running(f, "vm"));
        char *live = disk_source(f, "vm", "vda", true), *persistent = disk_source(f, "vm", "vda", false);
        assert_string_equal(live, o2);
        assert_string_equal(persistent, o2);
        char *backing = backing_of(o2);
        assert_non_null(backing);
        assert_string_equal(backing, o1);
        /* The snapshot is still there, reads what it read, and so does its parent; no file came or went. */
        assert_ok(vmsnap_snapshot_list(f->engine, "vm", &list, &n, &error), &error);
        assert_int_equal(n, 2);
        char *s2_image = frozen_image(f, "s2"), *s1_after = digest_of_snapshot(f, "s1"),
             *s2_after = digest_of_snapshot(f, "s2");
        assert_string_equal(s2_image, o1);
        assert_string_equal(s1_after, s1_before);
        assert_string_equal(s2_after, s2_before);
        assert_int_equal(fixture_count_files(f, "vm"), files);

        /* Nothing is left pending: the same delete, not canceled, completes. */
        assert_ok(vmsnap_snapshot_delete(f->engine, "vm", "s2", VMSNAP_DELETE_MERGE, NULL, &error), &error);
        char *after_merge = backing_of(o2), *s1_merged = digest_of_snapshot(f, "s1");
        assert_string_not_equal(after_merge, o1);
        assert_string_equal(s1_merged, s1_before);
        /* o1 merged away (and vdb's image of s2 likewise), nothing else removed or left behind. */
        assert_false(access(o1, F_OK) == 0);
        assert_int_equal(fixture_count_files(f, "vm"), files - 2);
        free(after_merge);
        free(s1_merged);
        free(o1);
        free(o2);
        free(live);
        free(persistent);
        free(backing);
        free(s2_image);
        free(s1_before);
        free(s2_before);
        free(s1_after);
        free(s2_after);
        vmsnap_snapshot_info_array_free(list, n);
}

static void test_the_active_disk_reads_the_same_after_a_canceled_pull(void **state)
{
        fixture *f = *state;
        struct cancel_midway cancel = {.f = f};
        vmsnap_hooks hooks = {
                .progress = throttle_then_cancel, .is_canceled = cancel_requested, .userdata = &cancel};
        vmsnap_error error = {0};

        build_a_running_domain_whose_merge_pulls(f);
        destroy(f, "vm");
        size_t files = fixture_count_files(f, "vm");
        char *before = fixture_active_digest(f, "vm", "vda");
        virDomainPtr d = virDomainLookupByName(f->connection, "vm");
        assert_int_equal(virDomainCreate(d), 0);
        assert_true(vmsnap_snapshot_delete(f->engine, "vm", "s2", VMSNAP_DELETE_MERGE, &hooks, &error) < 0);
        assert_true(cancel.canceled);
        assert_int_equal(error.kind, VMSNAP_ERROR_CANCELED);
        destroy(f, "vm");
        /* Part of o1's data now sits in o2 as well: the disk reads the same bytes. */
        char *after = fixture_active_digest(f, "vm", "vda");
        assert_string_equal(after, before);
        char *o2 = fixture_active_source(f, "vm", "vda");
        assert_int_equal(test_runf("qemu-img check -q %s", o2), 0);
        assert_int_equal(fixture_count_files(f, "vm"), files);
        free(o2);
        free(before);
        free(after);
        virDomainFree(d);
}

static void test_a_pull_that_outlived_a_crash_is_stopped_by_the_recovery(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};

        build_a_running_domain_whose_merge_pulls(f);
        char *o1 = frozen_image(f, "s2"), *o2 = disk_source(f, "vm", "vda", true);
        vmsnap_failpoint_arm_step("delete: before block pull");
        assert_true(vmsnap_snapshot_delete(f->engine, "vm", "s2", VMSNAP_DELETE_MERGE, NULL, &error) < 0);
        vmsnap_failpoint_arm(0);
        assert_non_null(strstr(error.message, "before block pull"));
        /* As if the daemon had died after starting it: QEMU's job goes on (slowly). */
        char a[1100];
        snprintf(a, sizeof(a), "%s/vm/a.qcow2", f->dir);
        virDomainPtr d = virDomainLookupByName(f->connection, "vm");
        assert_int_equal(
                virDomainBlockRebase(d, "vda", a, 1024 * 1024, VIR_DOMAIN_BLOCK_REBASE_BANDWIDTH_BYTES), 0);
        virDomainFree(d);
        assert_true(block_job_on(f, "vda"));

        vmsnap_engine_forget(f->engine);
        vmsnap_snapshot_info *list = NULL;
        size_t n = 0;
        assert_ok(vmsnap_snapshot_list(f->engine, "vm", &list, &n, &error), &error);
        /* Reading recovers the domain: the job was stopped, the chain and the snapshots are as they were. */
        assert_false(block_job_on(f, "vda"));
        assert_int_equal(n, 2);
        char *backing = backing_of(o2), *live = disk_source(f, "vm", "vda", true);
        assert_string_equal(backing, o1);
        assert_string_equal(live, o2);
        vmsnap_snapshot_info_array_free(list, n);
        free(backing);
        free(live);
        free(o1);
        free(o2);
}

struct late_cancel {
        fixture *f;
        bool canceled;
        char messages[4096];
};

/* Cancels once vda's active commit runs (vdb's pull before it may be stopped by a cancel). */
static void cancel_during_the_commit(void *userdata, uint64_t done, uint64_t total)
{
        struct late_cancel *c = userdata;
        virDomainPtr d = virDomainLookupByName(c->f->connection, "vm");
        virDomainBlockJobInfo info = {0};

        if (virDomainGetBlockJobInfo(d, "vda", &info, 0) == 1 &&
            info.type == VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT)
                c->canceled = true;
        virDomainFree(d);
}

static bool late_cancel_requested(void *userdata)
{
        return ((struct late_cancel *)userdata)->canceled;
}

static void keep_message(void *userdata, const char *text)
{
        struct late_cancel *c = userdata;
        strncat(c->messages, text, sizeof(c->messages) - strlen(c->messages) - 2);
        strcat(c->messages, "\n");
}

static void test_cancel_during_a_live_commit_completes_the_merge_and_says_why(void **state)
{
        fixture *f = *state;
        struct late_cancel cancel = {.f = f};
        vmsnap_hooks hooks = {.progress = cancel_during_the_commit,
                              .message = keep_message,
                              .is_canceled = late_cancel_requested,
                              .userdata = &cancel};
        vmsnap_error error = {0};

        /* The active image is the smaller: s3 merges by an active commit into its frozen image,
         * which stopped halfway would hold neither s3's state nor the disk's. */
        build_three_live_snapshots(f, "o2");
        assert_ok(vmsnap_snapshot_delete(f->engine, "vm", "s3", VMSNAP_DELETE_MERGE, &hooks, &error),
                  &error);
        assert_true(cancel.canceled);
        if (!strstr(cancel.messages, "point of no return"))
                fail_msg("the late cancel was not answered; messages: %s", cancel.messages);
        assert_false(block_job_on(f, "vda"));
        assert_snapshot_reads_its_moment(f, "s1");
        assert_snapshot_reads_its_moment(f, "s2");
        assert_disk_kept_every_write(f);
}

/* ---- live delete of every snapshot ---- */

/* build_three_live_snapshots, and one guest write into vdb after s3, mirrored into
 * vdb's own reference. */
static void build_three_live_snapshots_of_both_disks(fixture *f)
{
        build_three_live_snapshots(f, "none");
        /* b.qcow2 is s1's frozen image of vdb: nothing has written it since. */
        assert_int_equal(test_runf("cp %s/vm/b.qcow2 %s/reference-vdb.qcow2", f->dir, f->dir), 0);
        guest_write(f, "vm", "vdb", 0x51, 256 * 1024, 64 * 1024);
}

static int count_chain_file(const char *path, const vmsnap_image_header *header, unsigned depth,
                            void *userdata)
{
        (*(unsigned *)userdata)++;
        return 0;
}

static unsigned chain_length(const char *image)
{
        vmsnap_error error = {0};
        unsigned n = 0;

        assert_ok(vmsnap_chain_walk(image, count_chain_file, &n, &error), &error);
        return n;
}

/* What a DeleteAll of a running domain must leave, whatever the option: no snapshot, no
 * block job, the running and the persistent definition on the same files, the domain
 * still running; then, stopped, every disk reads every write the guest made. */
static void assert_delete_all_kept_the_running_domain(fixture *f)
{
        vmsnap_snapshot_info *list = NULL;
        vmsnap_error error = {0};
        size_t n = 0;

        assert_true(domain_running(f, "vm"));
        assert_ok(vmsnap_snapshot_list(f->engine, "vm", &list, &n, &error), &error);
        assert_int_equal(n, 0);
        vmsnap_snapshot_info_array_free(list, n);
        assert_int_equal(libvirt_snapshot_count(f, "vm"), 0);
        for (int i = 0; i < 2; i++) {
                const char *target = i == 0 ? "vda" : "vdb";
                char *live = disk_source(f, "vm", target, true),
                     *persistent = disk_source(f, "vm", target, false);
                assert_false(block_job_on(f, target));
                assert_string_equal(live, persistent);
                free(live);
                free(persistent);
        }
        destroy(f, "vm");
        for (int i = 0; i < 2; i++) {
                const char *target = i == 0 ? "vda" : "vdb";
                char *disk = fixture_active_source(f, "vm", target);
                assert_int_equal(test_runf("qemu-img check -q %s", disk), 0);
                if (test_runf("qemu-img compare -q %s %s/reference-%s.qcow2", disk, f->dir, target) != 0)
                        fail_msg("disk %s (%s) does not read what the guest wrote", target, disk);
                free(disk);
        }
        fixture_assert_no_orphans(f, "vm");
}

/* vda's three overlays hold as much as one another, so its lowest overlay takes the data
 * above it by an active commit that pivots the running disk onto it; vdb's active overlay
 * holds most, so it pulls the data below it and stays the running file. */
static void
test_live_delete_all_keeps_what_the_running_disks_read_on_the_original_and_one_overlay(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        char a[1100];

        build_three_live_snapshots_of_both_disks(f);
        guest_write(f, "vm", "vdb", 0x52, 1024 * 1024, 1024 * 1024);
        snprintf(a, sizeof(a), "%s/vm/a.qcow2", f->dir);
        char *lowest_vda = frozen_image(f, "s2"), *active_vdb = disk_source(f, "vm", "vdb", true);
        /* a.qcow2, b.qcow2 and three overlays of each. */
        assert_int_equal(fixture_count_files(f, "vm"), 8);
        assert_ok(vmsnap_snapshot_delete_all(f->engine, "vm", NULL, NULL, &error), &error);

        /* The originals are read-only to vmsnap: each disk runs on one overlay of its own. */
        for (int i = 0; i < 2; i++) {
                const char *target = i == 0 ? "vda" : "vdb";
                char *live = disk_source(f, "vm", target, true), *backing = backing_of(live);
                assert_string_equal(live, i == 0 ? lowest_vda : active_vdb);
                assert_non_null(backing);
                assert_non_null(strstr(backing, i == 0 ? "/a.qcow2" : "/b.qcow2"));
                assert_int_equal(chain_length(live), 2);
                free(live);
                free(backing);
        }
        assert_int_equal(fixture_count_files(f, "vm"), 4);
        /* a.qcow2 still reads the state s1 froze. */
        assert_int_equal(test_runf("qemu-img compare -U -q %s %s/reference-vda-s1.qcow2", a, f->dir), 0);
        assert_delete_all_kept_the_running_domain(f);
        free(lowest_vda);
        free(active_vdb);
}

static void test_live_delete_all_into_original_commits_the_running_disks_into_their_originals(void **state)
{
        fixture *f = *state;
        vmsnap_delete_all_options options = {.into_original = true};
        vmsnap_error error = {0};
        char original[1100];

        build_three_live_snapshots_of_both_disks(f);
        assert_ok(vmsnap_snapshot_delete_all(f->engine, "vm", &options, NULL, &error), &error);

        /* Every overlay committed down and gone: each disk is its original file alone. */
        for (int i = 0; i < 2; i++) {
                const char *target = i == 0 ? "vda" : "vdb";
                char *live = disk_source(f, "vm", target, true);
                snprintf(original, sizeof(original), "%s/vm/%s", f->dir, i == 0 ? "a.qcow2" : "b.qcow2");
                assert_string_equal(live, original);
                assert_int_equal(chain_length(live), 1);
                free(live);
        }
        assert_int_equal(fixture_count_files(f, "vm"), 2);
        assert_delete_all_kept_the_running_domain(f);
}

/* ---- revert to a running moment, stop, the hook ---- */

static void test_revert_with_memory_runs_on_from_the_snapshot_instant(void **state)
{
        fixture *f = *state;
        vmsnap_create_options options = {.name = "m", .memory = true};
        vmsnap_revert_options revert = {.restore_memory = true};
        vmsnap_error error = {0};
        char a[1100];
        int domain_state, reason;

        define_tiny_domain(f, "vm", NULL);
        snprintf(a, sizeof(a), "%s/vm/a.qcow2", f->dir);
        assert_int_equal(test_runf("cp %s %s/reference-vda.qcow2", a, f->dir), 0);
        guest_write(f, "vm", "vda", 0x51, 0, 64 * 1024);
        assert_ok(vmsnap_snapshot_create(f->engine, "vm", &options, NULL, NULL, &error), &error);
        keep_reference(f, "vda", "m");
        guest_write(f, "vm", "vda", 0x61, 64 * 1024, 64 * 1024); /* after the snapshot: must vanish */
        char *m = frozen_image(f, "m"), *before = disk_source(f, "vm", "vda", true);

        assert_ok(vmsnap_snapshot_revert(f->engine, "vm", "m", &revert, NULL, &error), &error);
        virDomainPtr d = virDomainLookupByName(f->connection, "vm");
        assert_int_equal(virDomainGetState(d, &domain_state, &reason, 0), 0);
        assert_int_equal(domain_state, VIR_DOMAIN_RUNNING);
        assert_int_equal(reason, VIR_DOMAIN_RUNNING_RESTORED);
        virDomainFree(d);
        char *live = disk_source(f, "vm", "vda", true), *persistent = disk_source(f, "vm", "vda", false);
        /* A new overlay on the snapshot's frozen image, in the running and the persistent definition. */
        assert_string_not_equal(live, before);
        assert_string_equal(live, persistent);
        char *info = test_capture((const char *[]){"qemu-img", "info", "-U", live, NULL});
        assert_non_null(strstr(info, m));
        /* The disk reads the snapshot's moment; the memory file restores again. */
        destroy(f, "vm");
        assert_int_equal(test_runf("qemu-img compare -q %s %s/reference-vda-m.qcow2", live, f->dir), 0);
        assert_ok(vmsnap_snapshot_revert(f->engine, "vm", "m", &revert, NULL, &error), &error);
        assert_true(domain_running(f, "vm"));
        free(info);
        free(m);
        free(before);
        free(live);
        free(persistent);
}

/* Clone reads only frozen images, which QEMU shares for reading: the VM runs on while
 * its snapshot is copied. A pause and resume would leave the domain running with the
 * reason "unpaused"; it keeps the reason it had. */
static void test_clone_of_a_running_domain_copies_the_snapshot_without_pausing_it(void **state)
{
        fixture *f = *state;
        vmsnap_create_options options = {.name = "s1"};
        vmsnap_snapshot_info info = {0};
        vmsnap_error error = {0};
        int state_before, reason_before, state_after, reason_after;

        define_tiny_domain(f, "vm", NULL);
        assert_ok(vmsnap_snapshot_create(f->engine, "vm", &options, NULL, NULL, &error), &error);
        assert_ok(vmsnap_snapshot_get(f->engine, "vm", "s1", &info, &error), &error);
        virDomainPtr d = virDomainLookupByName(f->connection, "vm");
        assert_int_equal(virDomainGetState(d, &state_before, &reason_before, 0), 0);
        assert_int_equal(state_before, VIR_DOMAIN_RUNNING);
        assert_int_equal(reason_before,
                         VIR_DOMAIN_RUNNING_BOOTED); /* the live snapshot did not pause it either */

        f->defined = realloc(f->defined, (f->n_defined + 1) * sizeof(char *));
        f->defined[f->n_defined++] = strdup("vm-clone");
        assert_ok(vmsnap_snapshot_clone(f->engine, "vm", "s1", "vm-clone", NULL, NULL, NULL, &error),
                  &error);

        assert_int_equal(virDomainGetState(d, &state_after, &reason_after, 0), 0);
        assert_int_equal(state_after, VIR_DOMAIN_RUNNING);
        assert_int_equal(reason_after, reason_before);
        virDomainFree(d);
        for (int i = 0; i < 2; i++) {
                const char *target = i == 0 ? "vda" : "vdb";
                char *copy = disk_source(f, "vm-clone", target, false);
                assert_int_equal(test_runf("qemu-img compare -U -q %s %s", image_of(&info, target), copy),
                                 0);
                free(copy);
        }
        assert_false(domain_running(f, "vm-clone"));
        vmsnap_snapshot_info_clear(&info);
        destroy(f, "vm");
}

static void test_preview_commit_and_undo_refuse_a_running_domain_unless_asked_to_stop_it(void **state)
{
        fixture *f = *state;
        vmsnap_create_options options = {.name = "s1"};
        vmsnap_preview_options preview = {0};
        vmsnap_preview_end_options end = {0};
        vmsnap_error error = {0};

        define_tiny_domain(f, "vm", NULL);
        assert_ok(vmsnap_snapshot_create(f->engine, "vm", &options, NULL, NULL, &error), &error);
        size_t files = fixture_count_files(f, "vm");
        assert_true(vmsnap_preview_start(f->engine, "vm", "s1", &preview, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_DOMAIN_RUNNING);
        assert_non_null(strstr(error.message, "option stop"));
        assert_int_equal(fixture_count_files(f, "vm"), files);
        assert_true(domain_running(f, "vm"));

        preview.stop = true;
        assert_ok(vmsnap_preview_start(f->engine, "vm", "s1", &preview, NULL, &error), &error);
        assert_false(domain_running(f, "vm"));
        virDomainPtr d = virDomainLookupByName(f->connection, "vm");
        assert_int_equal(virDomainCreate(d), 0);
        assert_true(vmsnap_preview_commit_with_options(f->engine, "vm", &end, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_DOMAIN_RUNNING);
        assert_true(vmsnap_preview_undo(f->engine, "vm", NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_DOMAIN_RUNNING);
        end.stop = true;
        assert_ok(vmsnap_preview_undo_with_options(f->engine, "vm", &end, NULL, &error), &error);
        assert_false(domain_running(f, "vm"));
        virDomainFree(d);
}

static const char hook_path[] = "/etc/libvirt/hooks/qemu.d/vmsnap";

struct start_attempt {
        fixture *f;
        bool tried;
        char message[1024];
};

static void try_start(void *userdata, uint64_t done, uint64_t total)
{
        struct start_attempt *attempt = userdata;
        virDomainPtr d;

        if (attempt->tried)
                return;
        attempt->tried = true;
        d = virDomainLookupByName(attempt->f->connection, "vm");
        if (virDomainCreate(d) == 0) {
                snprintf(attempt->message, sizeof(attempt->message), "started");
                virDomainDestroy(d);
        } else
                snprintf(attempt->message, sizeof(attempt->message), "%s", virGetLastErrorMessage());
        virDomainFree(d);
}

/* Field 22 of /proc/self/stat, counted after the command name's last ')'. */
static unsigned long long own_start_time(void)
{
        char stat[1024] = {0};
        unsigned long long start = 0;
        FILE *file = fopen("/proc/self/stat", "r");

        assert_non_null(file);
        assert_true(fread(stat, 1, sizeof(stat) - 1, file) > 0);
        fclose(file);
        const char *after = strrchr(stat, ')');
        assert_non_null(after);
        /* state (3), fields 4..21 (18), then 22 */
        char *field = strtok((char *)after + 1, " ");
        for (int i = 3; field && i < 22; i++)
                field = strtok(NULL, " ");
        assert_non_null(field);
        start = strtoull(field, NULL, 10);
        return start;
}

static void write_hold(const char *path, const char *content)
{
        FILE *file = fopen(path, "w");
        assert_non_null(file);
        fputs(content, file);
        fclose(file);
}

static void test_the_libvirt_hook_refuses_to_start_a_domain_during_an_offline_merge(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        struct start_attempt attempt = {f, false, ""};
        vmsnap_hooks hooks = {.progress = try_start, .userdata = &attempt};
        char uuid[VIR_UUID_STRING_BUFLEN], hold[256];

        if (access(hook_path, X_OK) != 0)
                skip(); /* libvirtd was started without vmsnap's hook */
        define_tiny_domain(f, "vm", NULL);
        destroy(f, "vm");
        vmsnap_create_options s1 = {.name = "s1"}, s2 = {.name = "s2"};
        assert_ok(vmsnap_snapshot_create(f->engine, "vm", &s1, NULL, NULL, &error), &error);
        fixture_write(f, "vm", "vda", 1, 0x71);
        assert_ok(vmsnap_snapshot_create(f->engine, "vm", &s2, NULL, NULL, &error), &error);
        fixture_write(f, "vm", "vda", 2, 0x72);
        /* s2's frozen image is vmsnap's: deleting it merges with qemu-img, holding the domain. */
        assert_ok(vmsnap_snapshot_delete(f->engine, "vm", "s2", VMSNAP_DELETE_MERGE, &hooks, &error),
                  &error);
        assert_true(attempt.tried);
        if (!strstr(attempt.message, "merge"))
                fail_msg("the start during the merge was not refused naming it: %s", attempt.message);

        /* Released afterwards; a hold whose process is gone does not block either, nor one
         * whose pid now belongs to another process (this one: alive, but started at another
         * time than the hold says). */
        virDomainPtr d = virDomainLookupByName(f->connection, "vm");
        virDomainGetUUIDString(d, uuid);
        snprintf(hold, sizeof(hold), "/run/vmsnap/hold/%s", uuid);
        assert_false(access(hold, F_OK) == 0);
        unsigned long long start = own_start_time();
        char stale_holds[3][128];
        snprintf(stale_holds[0], sizeof(stale_holds[0]), "merge 999999999 %llu\n", start);
        snprintf(stale_holds[1], sizeof(stale_holds[1]), "merge %ld %llu\n", (long)getpid(), start + 1);
        snprintf(stale_holds[2], sizeof(stale_holds[2]), "merge %ld 0\n", (long)getpid());
        for (int i = 0; i < 3; i++) {
                write_hold(hold, stale_holds[i]);
                int started = virDomainCreate(d);
                unlink(hold);
                if (started != 0)
                        fail_msg("the stale hold \"%.*s\" refused the start: %s",
                                 (int)strlen(stale_holds[i]) - 1, stale_holds[i], virGetLastErrorMessage());
                virDomainDestroy(d);
        }
        /* The same pid with its own start time is a hold. */
        char live_hold[128];
        snprintf(live_hold, sizeof(live_hold), "merge %ld %llu\n", (long)getpid(), start);
        write_hold(hold, live_hold);
        int started = virDomainCreate(d);
        unlink(hold);
        assert_int_not_equal(started, 0);
        assert_non_null(strstr(virGetLastErrorMessage(), "merge"));
        virDomainFree(d);
}

/* ---- a real Linux guest ---- */

/* The highest "tick N" on the console at or after offset; 0 when none. */
static unsigned last_tick(const char *console, long offset, unsigned *first)
{
        FILE *file = fopen(console, "r");
        char line[256];
        unsigned last = 0, n;

        if (first)
                *first = 0;
        if (!file)
                return 0;
        fseek(file, 0, SEEK_END);
        if (ftell(file) < offset)
                offset = 0; /* the file was truncated when the domain started again */
        fseek(file, offset, SEEK_SET);
        while (fgets(line, sizeof(line), file))
                if (sscanf(line, "tick %u", &n) == 1) {
                        if (first && *first == 0)
                                *first = n;
                        last = n;
                }
        fclose(file);
        return last;
}

static unsigned wait_tick(const char *console, long offset, unsigned at_least)
{
        for (int i = 0; i < 1200; i++) {
                unsigned last = last_tick(console, offset, NULL);
                if (last >= at_least)
                        return last;
                usleep(100 * 1000);
        }
        fail_msg("the guest did not reach tick %u within 120 s (see %s)", at_least, console);
        return 0;
}

/* The counter the guest last wrote to an image (read while the domain may run). */
static unsigned disk_counter(fixture *f, const char *image)
{
        char raw[1100], text[17] = {0};
        unsigned n = 0;

        snprintf(raw, sizeof(raw), "%s/counter.raw", f->dir);
        unlink(raw);
        assert_int_equal(test_runf("qemu-img convert -U -O raw %s %s", image, raw), 0);
        FILE *file = fopen(raw, "r");
        assert_non_null(file);
        assert_int_equal(fread(text, 1, 16, file), 16);
        fclose(file);
        unlink(raw);
        sscanf(text, "%u", &n);
        return n;
}

static long file_size(const char *path)
{
        struct stat st;
        return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

static void test_a_linux_guest_reverted_to_a_memory_snapshot_runs_on_from_that_moment(void **state)
{
        fixture *f = *state;
        char guest[1100], disk[1200], console[1200], *xml;
        vmsnap_error error = {0};

        snprintf(guest, sizeof(guest), "%s/guest", f->dir);
        const char *source = getenv("VMSNAP_SOURCE_ROOT");
        char script[1100];
        snprintf(script, sizeof(script), "%s/tests/live-guest.sh", source ? source : ".");
        if (test_runf("%s %s", script, guest) != 0) {
                print_message("# SKIP the guest's kernel and busybox could not be downloaded (apt-get "
                              "download)\n");
                skip();
        }
        mkdir(f->dir, 0755);
        char vmdir[1100];
        snprintf(vmdir, sizeof(vmdir), "%s/linux", f->dir);
        mkdir(vmdir, 0755);
        snprintf(disk, sizeof(disk), "%s/disk.qcow2", vmdir);
        snprintf(console, sizeof(console), "%s/console.log", guest);
        test_qcow2_create(disk, NULL, NULL, "1M");
        if (asprintf(&xml,
                     "<domain type='qemu'><name>linux</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>"
                     "<os><type "
                     "arch='x86_64'>hvm</type><kernel>%s/vmlinuz</kernel><initrd>%s/initrd.gz</initrd>"
                     "<cmdline>console=ttyS0 quiet</cmdline></os><features><acpi/></features><devices>"
                     "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
                     "<target dev='vda' bus='virtio'/></disk>"
                     "<serial type='file'><source path='%s'/><target port='0'/></serial>"
                     "<console type='file'><source path='%s'/><target type='serial' port='0'/></console>"
                     "<video><model type='none'/></video><memballoon model='none'/></devices>"
                     "<seclabel type='static' model='dac' "
                     "relabel='no'><label>+0:+0</label></seclabel></domain>",
                     guest, guest, disk, console, console) < 0)
                abort();
        virDomainPtr d = virDomainDefineXML(f->connection, xml);
        free(xml);
        if (!d)
                fail_msg("cannot define the guest: %s", virGetLastErrorMessage());
        f->defined = realloc(f->defined, (f->n_defined + 1) * sizeof(char *));
        f->defined[f->n_defined++] = strdup("linux");
        assert_int_equal(virDomainCreate(d), 0);
        wait_tick(console, 0, 3);

        vmsnap_create_options options = {.name = "moment", .memory = true};
        assert_ok(vmsnap_snapshot_create(f->engine, "linux", &options, NULL, NULL, &error), &error);
        unsigned at_snapshot = wait_tick(console, 0, 1);
        vmsnap_snapshot_info info = {0};
        assert_ok(vmsnap_snapshot_get(f->engine, "linux", "moment", &info, &error), &error);
        unsigned frozen = disk_counter(f, image_of(&info, "vda"));
        /* The frozen disk holds the counter of the snapshot's instant. */
        assert_true(frozen >= 3 && frozen <= at_snapshot + 1);
        unsigned later = wait_tick(console, 0, frozen + 4);
        print_message("# snapshot at tick %u (disk %u), guest ran on to %u\n", at_snapshot, frozen, later);

        long offset = file_size(console);
        vmsnap_revert_options revert = {.restore_memory = true};
        assert_ok(vmsnap_snapshot_revert(f->engine, "linux", "moment", &revert, NULL, &error), &error);
        assert_true(domain_running(f, "linux"));
        unsigned first = 0;
        for (int i = 0; i < 300 && first == 0; i++) {
                usleep(100 * 1000);
                last_tick(console, offset, &first);
        }
        /* The console goes on from the snapshot's counter, not from where the guest was. */
        if (first < frozen || first > frozen + 1)
                fail_msg("after the revert the guest printed tick %u first; the snapshot was at %u", first,
                         frozen);
        char *active = disk_source(f, "linux", "vda", true);
        unsigned on_disk = disk_counter(f, active);
        print_message("# after the revert: console tick %u, disk %u\n", first, on_disk);
        assert_true(on_disk >= frozen && on_disk < later);
        /* And it keeps running. */
        wait_tick(console, offset, first + 2);
        free(active);
        virDomainFree(d);
        vmsnap_snapshot_info_clear(&info);
}

static int setup(void **state)
{
        *state = fixture_new();
        return 0;
}

static int teardown(void **state)
{
        fixture_free(*state);
        return 0;
}

int main(void)
{
        const char *uri = getenv("VMSNAP_TEST_URI");
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        struct CMUnitTest tests[] = {
                T(test_live_create_moves_the_running_disks_onto_new_overlays),
                T(test_live_create_of_one_disk_leaves_the_other_as_it_was),
                T(test_live_create_with_memory_writes_a_memory_file_and_keeps_running),
                T(test_quiesce_without_a_guest_agent_channel_is_refused_before_any_change),
                T(test_quiesce_with_a_silent_guest_agent_fails_and_removes_the_overlays),
                T(test_a_crash_before_the_live_snapshot_is_rolled_back_removing_the_overlays),
                T(test_a_crash_after_the_live_snapshot_records_the_snapshot_at_recovery),
                T(test_live_delete_of_the_leaf_snapshot_commits_the_active_image_and_pivots),
                T(test_live_delete_of_the_leaf_snapshot_pulls_when_that_copies_less),
                T(test_live_delete_of_a_middle_snapshot_commits_below_the_active_image),
                T(test_live_delete_of_the_root_snapshot_leaves_the_original_image),
                T(test_live_delete_pulls_other_branches_with_qemu_img_and_merges_the_running_one),
                T(test_cancel_during_a_live_pull_stops_the_block_job_and_changes_nothing),
                T(test_the_active_disk_reads_the_same_after_a_canceled_pull),
                T(test_a_pull_that_outlived_a_crash_is_stopped_by_the_recovery),
                T(test_cancel_during_a_live_commit_completes_the_merge_and_says_why),
                T(test_live_delete_all_keeps_what_the_running_disks_read_on_the_original_and_one_overlay),
                T(test_live_delete_all_into_original_commits_the_running_disks_into_their_originals),
                T(test_revert_with_memory_runs_on_from_the_snapshot_instant),
                T(test_clone_of_a_running_domain_copies_the_snapshot_without_pausing_it),
                T(test_preview_commit_and_undo_refuse_a_running_domain_unless_asked_to_stop_it),
                T(test_the_libvirt_hook_refuses_to_start_a_domain_during_an_offline_merge),
                T(test_a_linux_guest_reverted_to_a_memory_snapshot_runs_on_from_that_moment),
        };

        if (!uri || strncmp(uri, "test:", 5) == 0) {
                printf("1..0 # SKIP live snapshots need a real libvirtd (run through with-libvirtd.sh)\n");
                return 0;
        }
        /* VMSNAP_TEST_FILTER=test_cancel_* runs the matching cases only. */
        if (getenv("VMSNAP_TEST_FILTER"))
                cmocka_set_test_filter(getenv("VMSNAP_TEST_FILTER"));
        return cmocka_run_group_tests_name("live snapshots", tests, NULL, NULL);
}
