/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-clone.c: clone a new domain from a snapshot: every disk of the clone
 * reads what the snapshot's disk reads (qemu-img compare), the new domain has
 * its own name, UUID and MAC addresses, bad requests are refused before a byte
 * is written, the snapshot cannot be deleted while the copy runs, cancel and
 * crash leave no file behind, partial snapshots need the caller's consent. */
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
#include "op.h"
#include "fileio.h"
#include "fixture.h"
#include "testlib.h"

static const char *const writable[] = {"vda", "vdb", "vdc"};

static int setup(void **state)
{
        fixture *f = fixture_new();
        char devices[4096], dir[1024];
        char path[1100];

        fixture_define_three_disk_domain(f, "vm");
        /* A second domain with a network interface, for the MAC address. */
        snprintf(dir, sizeof(dir), "%s/net", f->dir);
        mkdir(dir, 0755);
        snprintf(path, sizeof(path), "%s/net/disk.qcow2", f->dir);
        test_qcow2_create(path, NULL, NULL, "2M");
        snprintf(devices, sizeof(devices),
                 "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
                 "<target dev='vda' bus='virtio'/></disk>"
                 "<interface type='network'><mac address='52:54:00:12:34:56'/><source network='default'/>"
                 "</interface>",
                 path);
        fixture_define_domain(f, "net", devices);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture *f = *state;
        virDomainPtr d;
        const char *clones[] = {"copy_of_vm",    "c1",     "c2", "raw-clone", "copy_of_net",
                                "running-clone", "partial"};
        for (size_t i = 0; i < sizeof(clones) / sizeof(clones[0]); i++)
                if ((d = virDomainLookupByName(f->connection, clones[i]))) {
                        virDomainUndefine(d);
                        virDomainFree(d);
                }
        fixture_free(f);
        return 0;
}

static void create_named(fixture *f, const char *domain, const char *name)
{
        vmsnap_create_options options = {.name = name};
        vmsnap_error error = {0};
        assert_ok(vmsnap_snapshot_create(f->engine, domain, &options, NULL, NULL, &error), &error);
}

static void write_all(fixture *f, unsigned cluster, unsigned pattern)
{
        for (int i = 0; i < 3; i++)
                fixture_write(f, "vm", writable[i], cluster, pattern + (unsigned)i);
}

static void assert_clone_reads_snapshot(fixture *f, const char *clone, const char *snapshot)
{
        vmsnap_snapshot_info info = {0};
        vmsnap_error error = {0};

        assert_ok(vmsnap_snapshot_get(f->engine, "vm", snapshot, &info, &error), &error);
        for (size_t i = 0; i < info.n_disks; i++) {
                if (!info.disks[i].image)
                        continue;
                char *copy = fixture_active_source(f, clone, info.disks[i].target);
                if (!test_images_equal(copy, info.disks[i].image))
                        fail_msg("disk %s of %s does not read what snapshot %s reads", info.disks[i].target,
                                 clone, snapshot);
                /* Standalone: no backing file. */
                const char *argv[] = {"qemu-img", "info", "-U", copy, NULL};
                char *out = test_capture(argv);
                assert_non_null(out);
                assert_null(strstr(out, "backing file:"));
                free(out);
                free(copy);
        }
        vmsnap_snapshot_info_clear(&info);
}

static void test_clone_copies_every_disk_at_the_snapshot_into_a_new_domain(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        char *name = NULL;

        write_all(f, 0, 0x10);
        create_named(f, "vm", "s1");
        write_all(f, 1, 0x20);
        create_named(f, "vm", "s2");
        write_all(f, 2, 0x30);

        assert_ok(vmsnap_snapshot_clone(f->engine, "vm", "s1", NULL, NULL, NULL, &name, &error), &error);
        assert_string_equal(name, "copy_of_vm");
        assert_clone_reads_snapshot(f, "copy_of_vm", "s1");
        /* A new UUID, the cdrom and the read-only disk shared as they were. */
        char *xml = fixture_domain_xml(f, "copy_of_vm"), *original = fixture_domain_xml(f, "vm");
        assert_non_null(strstr(xml, "cd.iso"));
        assert_non_null(strstr(xml, "ro.img"));
        char *uuid = strstr(original, "<uuid>"), *clone_uuid = strstr(xml, "<uuid>");
        assert_non_null(uuid);
        assert_non_null(clone_uuid);
        assert_int_not_equal(strncmp(uuid, clone_uuid, 42), 0);
        free(xml);
        free(original);
        free(name);
        /* Another clone of a later snapshot, raw. */
        vmsnap_clone_options raw = {.format = "raw"};
        assert_ok(vmsnap_snapshot_clone(f->engine, "vm", "s2", "raw-clone", &raw, NULL, NULL, &error),
                  &error);
        assert_clone_reads_snapshot(f, "raw-clone", "s2");
        char *copy = fixture_active_source(f, "raw-clone", "vda");
        assert_non_null(strstr(copy, "raw-clone-vda.img"));
        free(copy);
}

/* A raw disk whose guest wrote a qcow2 header over its first clusters is copied as the raw
 * disk it is: the snapshot recorded it raw, and the copy reads it as recorded, never probed. */
static void test_clone_reads_a_raw_disk_as_raw_whatever_its_first_bytes_say(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        char inner[512];

        char *raw = fixture_active_source(f, "vm", "vdb");
        assert_non_null(strstr(raw, ".img"));
        snprintf(inner, sizeof(inner), "%s/inner.qcow2", f->dir);
        assert_int_equal(test_runf("qemu-img create -q -f qcow2 %s 64M", inner), 0);
        test_qemu_io(inner, "qcow2", "write -P 0x66 0 1M");
        assert_int_equal(test_runf("dd if=%s of=%s bs=64k count=8 conv=notrunc status=none", inner, raw), 0);
        test_qemu_io(raw, "raw", "write -P 0x5a 1M 64k");
        create_named(f, "vm", "s1");

        /* The overlay over it has the raw disk's size, not the one its guest's header claims. */
        vmsnap_image_header header = {0};
        char *overlay = fixture_active_source(f, "vm", "vdb");
        assert_ok(vmsnap_image_header_read(overlay, &header, &error), &error);
        assert_int_equal(header.virtual_size, 2 * 1024 * 1024);
        vmsnap_image_header_clear(&header);
        free(overlay);

        assert_ok(vmsnap_snapshot_clone(f->engine, "vm", "s1", NULL, NULL, NULL, NULL, &error), &error);
        char *copy = fixture_active_source(f, "copy_of_vm", "vdb");
        assert_int_equal(test_runf("qemu-img compare -q -f raw -F qcow2 %s %s", raw, copy), 0);
        free(copy);
        free(raw);
}

static void test_clone_gets_new_mac_addresses(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};

        create_named(f, "net", "s1");
        assert_ok(vmsnap_snapshot_clone(f->engine, "net", "s1", NULL, NULL, NULL, NULL, &error), &error);
        char *xml = fixture_domain_xml(f, "copy_of_net");
        assert_null(strstr(xml, "52:54:00:12:34:56"));
        free(xml);
}

static void test_clone_refuses_bad_requests_before_writing_anything(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        char other_dir[1100], existing[1200];

        create_named(f, "vm", "s1");
        size_t files = fixture_count_files(f, "vm");
        vmsnap_clone_options bad_format = {.format = "vmdk"};
        vmsnap_clone_options missing_dir = {.target_dir = "/nonexistent/dir"};
        vmsnap_clone_options both = {.target_dir = "/tmp", .pool = "default"};
        vmsnap_clone_disk unknown_disk[] = {{.target = "vdz"}};
        vmsnap_clone_options unknown = {.disks = unknown_disk, .n_disks = 1};
        struct {
                const char *name;
                const vmsnap_clone_options *options;
                const char *says;
        } cases[] = {
                {"vm", NULL, "already exists"}, {"bad/name", NULL, "'/'"},
                {"c1", &bad_format, "vmdk"},    {"c1", &missing_dir, "/nonexistent/dir"},
                {"c1", &both, "not both"},      {"c1", &unknown, "vdz"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                assert_true(vmsnap_snapshot_clone(f->engine, "vm", "s1", cases[i].name, cases[i].options,
                                                  NULL, NULL, &error) < 0);
                if (!strstr(error.message, cases[i].says))
                        fail_msg("case %zu: \"%s\" does not mention %s", i, error.message, cases[i].says);
        }
        assert_true(vmsnap_snapshot_clone(f->engine, "vm", "nope", "c1", NULL, NULL, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_NOT_FOUND);

        /* An existing file at the copy's path is never overwritten. */
        snprintf(other_dir, sizeof(other_dir), "%s/out", f->dir);
        mkdir(other_dir, 0755);
        fixture_allow_clone_target(f, other_dir);
        snprintf(existing, sizeof(existing), "%s/c1-vda.qcow2", other_dir);
        FILE *file = fopen(existing, "w");
        fputs("precious", file);
        fclose(file);
        vmsnap_clone_options into = {.target_dir = other_dir};
        assert_true(vmsnap_snapshot_clone(f->engine, "vm", "s1", "c1", &into, NULL, NULL, &error) < 0);
        assert_non_null(strstr(error.message, "already exists"));
        char *text = NULL;
        size_t size = 0;
        assert_int_equal(vmsnap_file_read_all(existing, &text, &size, NULL), 0);
        assert_string_equal(text, "precious");
        free(text);
        assert_int_equal(fixture_count_files(f, "vm"), files);
        virDomainPtr d = virDomainLookupByName(f->connection, "c1");
        assert_null(d);
}

typedef struct during {
        fixture *f;
        int delete_result;
        vmsnap_error_kind delete_kind;
        bool tried;
        bool cancel;
} during;

static void progress_tries_delete(void *userdata, uint64_t done, uint64_t total)
{
        during *d = userdata;
        vmsnap_error error = {0};
        if (d->tried)
                return;
        d->tried = true;
        d->delete_result =
                vmsnap_snapshot_delete(d->f->engine, "vm", "s1", VMSNAP_DELETE_MERGE, NULL, &error);
        d->delete_kind = error.kind;
}

static bool cancel_once_started(void *userdata)
{
        during *d = userdata;
        return d->cancel && d->tried;
}

static void test_snapshot_cannot_be_deleted_while_it_is_cloned(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        during d = {.f = f};
        vmsnap_hooks hooks = {.progress = progress_tries_delete, .userdata = &d};

        create_named(f, "vm", "s0");
        write_all(f, 0, 0x41);
        create_named(f, "vm", "s1");
        assert_ok(vmsnap_snapshot_clone(f->engine, "vm", "s1", "c1", NULL, &hooks, NULL, &error), &error);
        assert_true(d.tried);
        assert_true(d.delete_result < 0);
        assert_int_equal(d.delete_kind, VMSNAP_ERROR_LOCKED);
        /* Afterwards it can. */
        assert_ok(vmsnap_snapshot_delete(f->engine, "vm", "s1", VMSNAP_DELETE_MERGE, NULL, &error), &error);
}

static void test_canceled_clone_leaves_no_file_and_no_domain(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        during d = {.f = f, .cancel = true, .tried = false};
        vmsnap_hooks hooks = {
                .progress = progress_tries_delete, .is_canceled = cancel_once_started, .userdata = &d};
        char out[1100];

        snprintf(out, sizeof(out), "%s/out", f->dir);
        mkdir(out, 0755);
        fixture_allow_clone_target(f, out);
        for (unsigned c = 0; c < 30; c++)
                write_all(f, c, 0x50 + c);
        create_named(f, "vm", "s1");
        vmsnap_clone_options into = {.target_dir = out};
        int r = vmsnap_snapshot_clone(f->engine, "vm", "s1", "c2", &into, &hooks, NULL, &error);
        assert_true(r < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_CANCELED);
        assert_int_equal(fixture_count_files(f, "out"), 0);
        assert_null(virDomainLookupByName(f->connection, "c2"));
}

static void collect(void *userdata, const char *text)
{
        strncat(userdata, text, 2047 - strlen(userdata));
}

static void test_partial_snapshot_needs_consent_and_is_reported(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        vmsnap_snapshot_info info = {0};
        char notes[2048] = "";

        create_named(f, "vm", "s0");
        create_named(f, "vm", "s1");
        assert_ok(vmsnap_snapshot_get(f->engine, "vm", "s1", &info, &error), &error);
        /* vdb's frozen image at s1 disappears (a user removed it by hand). */
        for (size_t i = 0; i < info.n_disks; i++)
                if (strcmp(info.disks[i].target, "vdb") == 0)
                        assert_int_equal(unlink(info.disks[i].image), 0);
        vmsnap_snapshot_info_clear(&info);
        assert_true(vmsnap_snapshot_clone(f->engine, "vm", "s1", "partial", NULL, NULL, NULL, &error) < 0);
        assert_non_null(strstr(error.message, "partial"));

        vmsnap_hooks hooks = {.message = collect, .userdata = notes};
        vmsnap_clone_options allow = {.allow_partial = true};
        assert_ok(vmsnap_snapshot_clone(f->engine, "vm", "s1", "partial", &allow, &hooks, NULL, &error),
                  &error);
        assert_non_null(strstr(notes, "vdb"));
        char *xml = fixture_domain_xml(f, "partial");
        assert_null(strstr(xml, "dev=\"vdb\""));
        assert_null(strstr(xml, "dev='vdb'"));
        free(xml);
}

static void test_clone_of_a_running_domain_works(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};

        write_all(f, 3, 0x61);
        create_named(f, "vm", "s1");
        virDomainPtr d = virDomainLookupByName(f->connection, "vm");
        assert_int_equal(virDomainCreate(d), 0);
        assert_ok(vmsnap_snapshot_clone(f->engine, "vm", "s1", "running-clone", NULL, NULL, NULL, &error),
                  &error);
        assert_clone_reads_snapshot(f, "running-clone", "s1");
        virDomainDestroy(d);
        virDomainFree(d);
}

static void test_a_crash_before_define_leaves_no_copy_after_restart(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        char out[1100];

        snprintf(out, sizeof(out), "%s/out", f->dir);
        mkdir(out, 0755);
        fixture_allow_clone_target(f, out);
        create_named(f, "vm", "s1");
        vmsnap_clone_options into = {.target_dir = out};
        vmsnap_failpoint_arm_step("clone: before define");
        assert_true(vmsnap_snapshot_clone(f->engine, "vm", "s1", "c1", &into, NULL, NULL, &error) < 0);
        vmsnap_failpoint_arm(0);
        assert_non_null(strstr(error.message, "simulated crash at clone: before define"));
        assert_true(fixture_count_files(f, "out") > 0); /* the copies were left, as by a crash */
        vmsnap_engine_free(f->engine);
        vmsnap_failpoint_revive(); /* a failpoint may have killed the process: a new one starts */
        assert_ok(vmsnap_engine_new(f->uri, f->state_dir, &f->engine, &error), &error);
        assert_int_equal(fixture_count_files(f, "out"), 0);
}

static void test_clone_refuses_a_target_without_room_before_writing(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        char small[1100];

        if (geteuid() != 0) {
                print_message("# needs root to mount a small tmpfs\n");
                skip();
        }
        snprintf(small, sizeof(small), "%s/small", f->dir);
        mkdir(small, 0755);
        fixture_allow_clone_target(f, small);
        if (test_runf("mount -t tmpfs -o size=256k tmpfs %s", small) != 0) {
                print_message("# mounting a tmpfs is not possible here\n");
                skip();
        }
        for (unsigned c = 0; c < 16; c++)
                write_all(f, c, 0x70 + c); /* 1 MiB per disk to copy */
        create_named(f, "vm", "s1");
        vmsnap_clone_options into = {.target_dir = small};
        int r = vmsnap_snapshot_clone(f->engine, "vm", "s1", "c1", &into, NULL, NULL, &error);
        size_t left = fixture_count_files(f, "small");
        test_runf("umount %s", small);
        assert_true(r < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_NO_SPACE);
        assert_non_null(strstr(error.message, "MiB"));
        assert_int_equal(left, 0);
        assert_null(virDomainLookupByName(f->connection, "c1"));
}

static void test_clone_into_a_storage_pool_writes_into_its_directory(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        char dir[1100], xml[1400];

        if (f->real_daemon)
                skip();
        snprintf(dir, sizeof(dir), "%s/pool", f->dir);
        mkdir(dir, 0755);
        snprintf(xml, sizeof(xml),
                 "<pool type='dir'><name>clones</name><target><path>%s</path></target></pool>", dir);
        virStoragePoolPtr pool = virStoragePoolCreateXML(f->connection, xml, 0);
        assert_non_null(pool);
        create_named(f, "vm", "s1");
        vmsnap_clone_options options = {.pool = "clones"};
        assert_ok(vmsnap_snapshot_clone(f->engine, "vm", "s1", "c1", &options, NULL, NULL, &error), &error);
        assert_int_equal(fixture_count_files(f, "pool"), 3);
        vmsnap_clone_options missing = {.pool = "no-such-pool"};
        assert_true(vmsnap_snapshot_clone(f->engine, "vm", "s1", "c2", &missing, NULL, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_NOT_FOUND);
        virStoragePoolDestroy(pool);
        virStoragePoolFree(pool);
}

static void test_clone_never_writes_through_a_symlink_at_its_target(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        char out[1100], link_path[1200], victim[1200];

        snprintf(out, sizeof(out), "%s/out", f->dir);
        mkdir(out, 0755);
        fixture_allow_clone_target(f, out);
        snprintf(victim, sizeof(victim), "%s/victim", f->dir);
        snprintf(link_path, sizeof(link_path), "%s/c1-vda.qcow2", out);
        assert_int_equal(symlink(victim, link_path), 0);
        create_named(f, "vm", "s1");
        vmsnap_clone_options into = {.target_dir = out};
        assert_true(vmsnap_snapshot_clone(f->engine, "vm", "s1", "c1", &into, NULL, NULL, &error) < 0);
        assert_non_null(strstr(error.message, "already exists"));
        struct stat st;
        assert_int_equal(lstat(victim, &st), -1);
}

/* Refused with InvalidArgument before anything is written, naming the allowed places. */
static void assert_clone_confined(fixture *f, const vmsnap_clone_options *options, const char *says)
{
        vmsnap_error error = {0};
        char images[1100];

        size_t files = fixture_count_files(f, "vm");
        int r = vmsnap_snapshot_clone(f->engine, "vm", "s1", "c1", options, NULL, NULL, &error);
        if (r >= 0)
                fail_msg("the clone into %s was not refused", says);
        assert_int_equal(error.kind, VMSNAP_ERROR_INVALID_ARGUMENT);
        if (!strstr(error.message, says))
                fail_msg("\"%s\" does not say \"%s\"", error.message, says);
        snprintf(images, sizeof(images), "%s/vm", f->dir);
        if (!strstr(error.message, "clone") || !strstr(error.message, f->clone_targets))
                fail_msg("\"%s\" does not name the allowed places", error.message);
        assert_int_equal(fixture_count_files(f, "vm"), files);
        virDomainPtr d = virDomainLookupByName(f->connection, "c1");
        if (d)
                fail_msg("after \"%s\", a domain c1 exists", error.message);
}

static void test_clone_writes_nowhere_but_the_allowed_places(void **state)
{
        fixture *f = *state;
        char out[1100], images[1100], link_dir[1100], via_link[1200], link_parent[1100], via_parent[1200];

        create_named(f, "vm", "s1");
        snprintf(out, sizeof(out), "%s/out", f->dir);
        mkdir(out, 0755);
        fixture_allow_clone_target(f, out);
        snprintf(images, sizeof(images), "%s/vm", f->dir);
        /* A symlink as the last component, and one on the way to an allowed directory. */
        snprintf(link_dir, sizeof(link_dir), "%s/link", f->dir);
        assert_int_equal(symlink(out, link_dir), 0);
        snprintf(link_parent, sizeof(link_parent), "%s/parent", f->dir);
        assert_int_equal(symlink(f->dir, link_parent), 0);
        snprintf(via_parent, sizeof(via_parent), "%s/out", link_parent);
        snprintf(via_link, sizeof(via_link), "%s/", link_dir);

        const struct {
                const char *dir;
                const char *says;
        } cases[] = {
                {"/etc", "the target directory /etc is not a place clones may be written to"},
                {"/dev", "/dev is not a place"},
                {"/proc", "/proc is not a place"},
                {"/", "the target directory / is not a place"},
                {f->dir, "is not a place"},
                {link_dir, "symbolic link \"link\""},
                {via_link, "symbolic link \"link\""},
                {via_parent, "symbolic link \"parent\""},
                {"etc", "not an absolute directory path"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                vmsnap_clone_options into = {.target_dir = cases[i].dir};
                assert_clone_confined(f, &into, cases[i].says);
        }
        /* The places are named: the images' directory and the configured one. */
        vmsnap_error error = {0};
        vmsnap_clone_options etc = {.target_dir = "/etc"};
        assert_true(vmsnap_snapshot_clone(f->engine, "vm", "s1", "c1", &etc, NULL, NULL, &error) < 0);
        assert_non_null(strstr(error.message, images));
        assert_non_null(strstr(error.message, out));
        struct stat st;
        assert_int_equal(stat("/etc/c1-vda.qcow2", &st), -1);

        /* One disk's own target directory is confined the same way. */
        vmsnap_clone_disk per_disk[] = {{.target = "vdb", .target_dir = "/etc", .include = 1}};
        vmsnap_clone_options disk_outside = {.target_dir = out, .disks = per_disk, .n_disks = 1};
        assert_clone_confined(f, &disk_outside, "the target directory of disk vdb /etc is not a place");
        assert_int_equal(fixture_count_files(f, "out"), 0);
        vmsnap_clone_disk per_disk_link[] = {{.target = "vdc", .target_dir = link_dir, .include = 1}};
        vmsnap_clone_options disk_link = {.disks = per_disk_link, .n_disks = 1};
        assert_clone_confined(f, &disk_link, "symbolic link");
        assert_int_equal(fixture_count_files(f, "out"), 0);
}

static void test_clone_goes_into_a_directory_the_configuration_lists(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        char out[1100];
        FILE *file;

        create_named(f, "vm", "s1");
        snprintf(out, sizeof(out), "%s/out", f->dir);
        mkdir(out, 0755);
        vmsnap_clone_options into = {.target_dir = out};
        assert_clone_confined(f, &into, "is not a place");

        /* Read at each clone: an edit applies at once. Comments and blank lines are skipped. */
        file = fopen(f->clone_targets, "w");
        assert_non_null(file);
        fprintf(file, "# clone directories\n\n   %s/  \n", out);
        fclose(file);
        chmod(f->clone_targets, 0644);
        assert_ok(vmsnap_snapshot_clone(f->engine, "vm", "s1", "c1", &into, NULL, NULL, &error), &error);
        assert_int_equal(fixture_count_files(f, "out"), 3);
        assert_clone_reads_snapshot(f, "c1", "s1");

        /* The source domain's image directory needs no listing. */
        assert_ok(vmsnap_snapshot_clone(f->engine, "vm", "s1", "c2", NULL, NULL, NULL, &error), &error);
}

static void test_a_clone_targets_file_others_may_write_is_not_used(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        char out[1100];

        create_named(f, "vm", "s1");
        snprintf(out, sizeof(out), "%s/out", f->dir);
        mkdir(out, 0755);
        fixture_allow_clone_target(f, out);
        chmod(f->clone_targets, 0666);
        vmsnap_clone_options into = {.target_dir = out};
        assert_clone_confined(f, &into, "not used: it is writable by others (mode 0666)");
        chmod(f->clone_targets, 0664);
        assert_clone_confined(f, &into, "writable by its group (mode 0664)");
        assert_int_equal(fixture_count_files(f, "out"), 0);

        /* Owned by anyone but root (or the engine's own user): not used either. */
        if (geteuid() == 0) {
                chmod(f->clone_targets, 0644);
                assert_int_equal(chown(f->clone_targets, 65534, 65534), 0);
                assert_clone_confined(f, &into, "not used: it is owned by uid 65534, not by root");
                assert_int_equal(chown(f->clone_targets, 0, 0), 0);
        }

        /* Writable by its owner only: used. */
        chmod(f->clone_targets, 0600);
        assert_ok(vmsnap_snapshot_clone(f->engine, "vm", "s1", "c1", &into, NULL, NULL, &error), &error);
        assert_int_equal(fixture_count_files(f, "out"), 3);
}

static void test_clone_into_a_pool_needs_an_active_dir_pool(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        char dir[1100], xml[1400];

        if (f->real_daemon)
                skip();
        snprintf(dir, sizeof(dir), "%s/pool", f->dir);
        mkdir(dir, 0755);
        snprintf(xml, sizeof(xml),
                 "<pool type='dir'><name>idle</name><target><path>%s</path></target></pool>", dir);
        virStoragePoolPtr pool = virStoragePoolDefineXML(f->connection, xml, 0);
        assert_non_null(pool);
        create_named(f, "vm", "s1");
        vmsnap_clone_options options = {.pool = "idle"};
        assert_true(vmsnap_snapshot_clone(f->engine, "vm", "s1", "c1", &options, NULL, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_INVALID_ARGUMENT);
        assert_non_null(strstr(error.message, "storage pool \"idle\" is not an active pool of type dir"));
        /* Nor is an inactive pool's directory a place of its own. */
        vmsnap_clone_options into = {.target_dir = dir};
        assert_clone_confined(f, &into, "is not a place");
        assert_int_equal(fixture_count_files(f, "pool"), 0);

        /* Once active, its directory is. */
        assert_int_equal(virStoragePoolCreate(pool, 0), 0);
        assert_ok(vmsnap_snapshot_clone(f->engine, "vm", "s1", "c1", &into, NULL, NULL, &error), &error);
        assert_int_equal(fixture_count_files(f, "pool"), 3);
        virStoragePoolDestroy(pool);
        virStoragePoolUndefine(pool);
        virStoragePoolFree(pool);
}

static void test_clone_says_a_proc_target_cannot_hold_images(void **state)
{
        fixture *f = *state;

        /* Even an administrator's listing does not make /proc a place for images. */
        create_named(f, "vm", "s1");
        fixture_allow_clone_target(f, "/proc");
        vmsnap_clone_options into = {.target_dir = "/proc"};
        vmsnap_error error = {0};
        assert_true(vmsnap_snapshot_clone(f->engine, "vm", "s1", "c1", &into, NULL, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_INVALID_ARGUMENT);
        if (!strstr(error.message, "/proc is on a proc file system"))
                fail_msg("\"%s\" does not say that /proc cannot hold images", error.message);
        assert_null(virDomainLookupByName(f->connection, "c1"));
}

static void test_clone_names_an_empty_disk_target(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};

        create_named(f, "vm", "s1");
        vmsnap_clone_disk empty[] = {{.target = "", .include = 1}};
        vmsnap_clone_options options = {.disks = empty, .n_disks = 1};
        assert_true(vmsnap_snapshot_clone(f->engine, "vm", "s1", "c1", &options, NULL, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_INVALID_ARGUMENT);
        assert_non_null(strstr(error.message, "a disk target must not be empty"));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_clone_copies_every_disk_at_the_snapshot_into_a_new_domain),
                T(test_clone_reads_a_raw_disk_as_raw_whatever_its_first_bytes_say),
                T(test_clone_gets_new_mac_addresses),
                T(test_clone_refuses_bad_requests_before_writing_anything),
                T(test_snapshot_cannot_be_deleted_while_it_is_cloned),
                T(test_canceled_clone_leaves_no_file_and_no_domain),
                T(test_partial_snapshot_needs_consent_and_is_reported),
                T(test_clone_of_a_running_domain_works),
                T(test_a_crash_before_define_leaves_no_copy_after_restart),
                T(test_clone_refuses_a_target_without_room_before_writing),
                T(test_clone_into_a_storage_pool_writes_into_its_directory),
                T(test_clone_never_writes_through_a_symlink_at_its_target),
                T(test_clone_writes_nowhere_but_the_allowed_places),
                T(test_clone_goes_into_a_directory_the_configuration_lists),
                T(test_a_clone_targets_file_others_may_write_is_not_used),
                T(test_clone_into_a_pool_needs_an_active_dir_pool),
                T(test_clone_says_a_proc_target_cannot_hold_images),
                T(test_clone_names_an_empty_disk_target),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
