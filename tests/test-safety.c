/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-safety.c: the safety rules of the design, each with a test that would
 * catch its breach: (1) only files vmsnap made are changed or deleted, (2)
 * nothing another domain uses is touched, (3) new files are never more open
 * than their origin, (4) no mixing with libvirt-managed or internal snapshots,
 * (5) every check runs before the first change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <unistd.h>

#include "fixture.h"
#include "testlib.h"

static void create_named(fixture *f, const char *domain, const char *name)
{
        vmsnap_create_options options = {.name = name};
        vmsnap_error error = {0};
        assert_ok(vmsnap_snapshot_create(f->engine, domain, &options, NULL, NULL, &error), &error);
}

typedef struct messages {
        char text[4096];
} messages;

static void collect(void *userdata, const char *text)
{
        messages *m = userdata;
        strncat(m->text, text, sizeof(m->text) - strlen(m->text) - 2);
        strncat(m->text, "\n", sizeof(m->text) - strlen(m->text) - 1);
}

/* Two domains as linked clones of one template image. */
static void define_linked_clones(fixture *f, char *template_path, size_t size)
{
        char dir[600], a[800], b[800], devices[2048];

        snprintf(dir, sizeof(dir), "%s/shared", f->dir);
        mkdir(dir, 0755);
        snprintf(template_path, size, "%s/template.qcow2", dir);
        test_qcow2_create(template_path, NULL, NULL, "2M");
        test_qemu_io(template_path, "qcow2", "write -P 0x5a 0 1M");
        for (int i = 0; i < 2; i++) {
                const char *name = i ? "clone-b" : "clone-a";
                char vmdir[650];
                snprintf(vmdir, sizeof(vmdir), "%s/%s", f->dir, name);
                mkdir(vmdir, 0755);
                snprintf(i ? b : a, 800, "%s/disk.qcow2", vmdir);
                test_qcow2_create(i ? b : a, template_path, "qcow2", "2M");
                snprintf(devices, sizeof(devices),
                         "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source "
                         "file='%s'/>"
                         "<target dev='vda' bus='virtio'/></disk>",
                         i ? b : a);
                fixture_define_domain(f, name, devices);
        }
}

static void test_linked_clones_leave_the_template_and_the_other_clone_byte_identical(void **state)
{
        fixture *f = fixture_new();
        char template_path[700], b_path[1200];
        vmsnap_error error = {0};
        messages notes = {{0}};
        vmsnap_hooks hooks = {.message = collect, .userdata = &notes};

        define_linked_clones(f, template_path, sizeof(template_path));
        snprintf(b_path, sizeof(b_path), "%s/clone-b/disk.qcow2", f->dir);
        char *template_before = test_file_digest(template_path), *b_before = test_file_digest(b_path);
        char *b_reads = fixture_active_digest(f, "clone-b", "vda");

        fixture_write(f, "clone-a", "vda", 3, 0x11);
        create_named(f, "clone-a", "one");
        fixture_write(f, "clone-a", "vda", 4, 0x12);
        create_named(f, "clone-a", "two");
        fixture_write(f, "clone-a", "vda", 5, 0x13);
        char *a_reads = fixture_active_digest(f, "clone-a", "vda");
        /* "one" froze the clone's own original disk: it stays where it is, and the job says so. */
        assert_ok(vmsnap_snapshot_delete(f->engine, "clone-a", "one", VMSNAP_DELETE_MERGE, &hooks, &error),
                  &error);
        assert_non_null(strstr(notes.text, "original image"));
        assert_ok(vmsnap_snapshot_revert(f->engine, "clone-a", "two", NULL, NULL, &error), &error);
        assert_ok(vmsnap_snapshot_delete(f->engine, "clone-a", "two", VMSNAP_DELETE_MERGE, NULL, &error),
                  &error);

        char *template_after = test_file_digest(template_path), *b_after = test_file_digest(b_path);
        char *b_reads_after = fixture_active_digest(f, "clone-b", "vda");
        assert_string_equal(template_after, template_before);
        assert_string_equal(b_after, b_before);
        assert_string_equal(b_reads_after, b_reads);
        char a_original[1024];
        snprintf(a_original, sizeof(a_original), "%s/clone-a/disk.qcow2", f->dir);
        struct stat st;
        assert_int_equal(stat(a_original, &st), 0);
        free(a_reads);
        free(template_before);
        free(template_after);
        free(b_before);
        free(b_after);
        free(b_reads);
        free(b_reads_after);
        fixture_free(f);
}

static void test_original_images_are_never_written_or_removed(void **state)
{
        fixture *f = fixture_new();
        vmsnap_error error = {0};
        char a[1024], b[1024], c[1024];

        fixture_define_three_disk_domain(f, "vm");
        snprintf(a, sizeof(a), "%s/vm/a.qcow2", f->dir);
        snprintf(b, sizeof(b), "%s/vm/b.img", f->dir);
        snprintf(c, sizeof(c), "%s/vm/c.qcow2", f->dir);
        fixture_write(f, "vm", "vda", 0, 0x21);
        char *ha = test_file_digest(a), *hb = test_file_digest(b), *hc = test_file_digest(c);

        create_named(f, "vm", "s1");
        fixture_write(f, "vm", "vda", 1, 0x22);
        create_named(f, "vm", "s2");
        assert_ok(vmsnap_preview_start(f->engine, "vm", "s1", NULL, NULL, &error), &error);
        assert_ok(vmsnap_preview_commit(f->engine, "vm", NULL, &error), &error);
        assert_ok(vmsnap_snapshot_delete(f->engine, "vm", "s2", VMSNAP_DELETE_CHILDREN, NULL, &error),
                  &error);
        assert_ok(vmsnap_snapshot_delete(f->engine, "vm", "s1", VMSNAP_DELETE_MERGE, NULL, &error), &error);

        char *ha2 = test_file_digest(a), *hb2 = test_file_digest(b), *hc2 = test_file_digest(c);
        assert_string_equal(ha, ha2);
        assert_string_equal(hb, hb2);
        assert_string_equal(hc, hc2);
        fixture_assert_no_orphans(f, "vm");
        free(ha);
        free(hb);
        free(hc);
        free(ha2);
        free(hb2);
        free(hc2);
        fixture_free(f);
}

static void test_an_image_another_domain_reads_is_never_changed_or_removed(void **state)
{
        fixture *f = fixture_new();
        vmsnap_error error = {0};
        vmsnap_snapshot_info s1 = {0};
        messages notes = {{0}};
        vmsnap_hooks hooks = {.message = collect, .userdata = &notes};
        char foreign[1024], devices[2048];

        fixture_define_three_disk_domain(f, "vm");
        create_named(f, "vm", "s0");
        fixture_write(f, "vm", "vda", 0, 0x31);
        create_named(f, "vm", "s1");
        fixture_write(f, "vm", "vda", 1, 0x32);
        assert_ok(vmsnap_snapshot_get(f->engine, "vm", "s1", &s1, &error), &error);
        const char *frozen = s1.disks[0].image; /* vda's image frozen by s1, made by vmsnap */
        assert_non_null(strstr(frozen, ".vmsnap-"));

        /* Somebody made a linked clone of that frozen image for another domain. */
        snprintf(foreign, sizeof(foreign), "%s/foreign.qcow2", f->dir);
        test_qcow2_create(foreign, frozen, "qcow2", "2M");
        snprintf(devices, sizeof(devices),
                 "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
                 "<target dev='vda' bus='virtio'/></disk>",
                 foreign);
        fixture_define_domain(f, "other", devices);
        char *frozen_before = test_file_digest(frozen),
             *other_reads = fixture_active_digest(f, "other", "vda");

        assert_ok(vmsnap_snapshot_delete(f->engine, "vm", "s1", VMSNAP_DELETE_MERGE, &hooks, &error),
                  &error);
        assert_non_null(strstr(notes.text, "another domain"));
        char *frozen_after = test_file_digest(frozen),
             *other_after = fixture_active_digest(f, "other", "vda");
        assert_string_equal(frozen_after, frozen_before);
        assert_string_equal(other_after, other_reads);
        free(frozen_before);
        free(frozen_after);
        free(other_reads);
        free(other_after);
        vmsnap_snapshot_info_clear(&s1);
        fixture_free(f);
}

static void test_new_overlays_are_never_more_open_than_their_origin(void **state)
{
        fixture *f = fixture_new();
        vmsnap_error error = {0};
        char a[1024];
        struct stat st;

        fixture_define_three_disk_domain(f, "vm");
        snprintf(a, sizeof(a), "%s/vm/a.qcow2", f->dir);
        assert_int_equal(chmod(a, 0600), 0);
        mode_t old = umask(0);
        create_named(f, "vm", "s1");
        char *overlay = fixture_active_source(f, "vm", "vda");
        assert_int_equal(stat(overlay, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        free(overlay);
        /* A preview overlay derives from a frozen image: same rule. */
        assert_ok(vmsnap_preview_start(f->engine, "vm", "s1", NULL, NULL, &error), &error);
        overlay = fixture_active_source(f, "vm", "vda");
        assert_int_equal(stat(overlay, &st), 0);
        assert_int_equal(st.st_mode & 0077, 0);
        free(overlay);
        umask(old);
        fixture_free(f);
}

static void test_a_domain_with_libvirt_snapshots_is_refused_with_what_to_do(void **state)
{
        fixture *f = fixture_new();
        vmsnap_error error = {0};
        vmsnap_snapshot_info *list = NULL;
        size_t n = 0;

        fixture_define_three_disk_domain(f, "vm");
        virDomainPtr d = virDomainLookupByName(f->connection, "vm");
        virDomainSnapshotPtr snap = virDomainSnapshotCreateXML(
                d, "<domainsnapshot><name>libvirt-made</name></domainsnapshot>", 0);
        assert_non_null(snap);
        virDomainSnapshotFree(snap);
        virDomainFree(d);
        size_t files = fixture_count_files(f, "vm");
        assert_true(vmsnap_snapshot_create(f->engine, "vm", NULL, NULL, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_UNSUPPORTED);
        assert_non_null(strstr(error.message, "libvirt-made"));
        assert_non_null(strstr(error.message, "virsh snapshot-delete"));
        assert_int_equal(fixture_count_files(f, "vm"), files);
        /* Reading still works. */
        assert_ok(vmsnap_snapshot_list(f->engine, "vm", &list, &n, &error), &error);
        vmsnap_snapshot_info_array_free(list, n);
        fixture_free(f);
}

static void test_a_domain_with_internal_qcow2_snapshots_is_refused_naming_the_file(void **state)
{
        fixture *f = fixture_new();
        vmsnap_error error = {0};
        char a[1024];

        fixture_define_three_disk_domain(f, "vm");
        snprintf(a, sizeof(a), "%s/vm/a.qcow2", f->dir);
        assert_int_equal(test_runf("qemu-img snapshot -c inside %s", a), 0);
        assert_true(vmsnap_snapshot_create(f->engine, "vm", NULL, NULL, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_UNSUPPORTED);
        assert_non_null(strstr(error.message, "a.qcow2"));
        assert_non_null(strstr(error.message, "internal"));
        fixture_free(f);
}

/* A frozen image below the active ones is checked by the change that would write into it or
 * remove it, not by every change: a new snapshot on top leaves it as it is. */
static void test_internal_snapshots_in_a_frozen_image_refuse_the_merge_that_would_write_it(void **state)
{
        fixture *f = fixture_new();
        vmsnap_error error = {0};
        char a[1024];

        fixture_define_three_disk_domain(f, "vm");
        snprintf(a, sizeof(a), "%s/vm/a.qcow2", f->dir);
        fixture_write(f, "vm", "vda", 0, 0x41);
        create_named(f, "vm", "s1");
        fixture_write(f, "vm", "vda", 1, 0x42);
        assert_int_equal(test_runf("qemu-img snapshot -c inside %s", a), 0);
        char *a_before = test_file_digest(a);
        create_named(f, "vm", "s2");

        size_t files = fixture_count_files(f, "vm");
        char *reads = fixture_active_digest(f, "vm", "vda");
        assert_true(vmsnap_snapshot_delete(f->engine, "vm", "s1", VMSNAP_DELETE_MERGE, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_UNSUPPORTED);
        assert_non_null(strstr(error.message, "a.qcow2"));
        assert_non_null(strstr(error.message, "1 qcow2 internal snapshot"));
        assert_true(vmsnap_snapshot_delete_all(f->engine, "vm", NULL, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_UNSUPPORTED);
        assert_non_null(strstr(error.message, "a.qcow2"));

        char *a_after = test_file_digest(a), *reads_after = fixture_active_digest(f, "vm", "vda");
        assert_string_equal(a_before, a_after);
        assert_string_equal(reads, reads_after);
        assert_int_equal(fixture_count_files(f, "vm"), files);
        free(a_before);
        free(a_after);
        free(reads);
        free(reads_after);
        fixture_free(f);
}

/* An image vmsnap made that someone gave internal snapshots is kept when nothing reads it
 * any more: removing it would lose them. */
static void test_an_unused_image_with_internal_snapshots_is_kept_and_named(void **state)
{
        fixture *f = fixture_new();
        vmsnap_error error = {0};
        messages notes = {0};
        vmsnap_hooks hooks = {.message = collect, .userdata = &notes};

        fixture_define_three_disk_domain(f, "vm");
        create_named(f, "vm", "s1");
        fixture_write(f, "vm", "vda", 0, 0x51);
        /* The active image now becomes s2's frozen image. */
        char *s2_image = fixture_active_source(f, "vm", "vda");
        create_named(f, "vm", "s2");
        assert_ok(vmsnap_snapshot_revert(f->engine, "vm", "s1", NULL, NULL, &error), &error);
        assert_int_equal(test_runf("qemu-img snapshot -c inside %s", s2_image), 0);

        assert_ok(vmsnap_snapshot_delete(f->engine, "vm", "s2", VMSNAP_DELETE_CHILDREN, &hooks, &error),
                  &error);
        assert_true(access(s2_image, F_OK) == 0);
        const char *list[] = {"qemu-img", "snapshot", "-l", s2_image, NULL};
        char *listed = test_capture(list);
        assert_non_null(strstr(listed, "inside"));
        free(listed);
        assert_non_null(strstr(notes.text, s2_image));
        assert_non_null(strstr(notes.text, "internal snapshot"));
        /* No longer vmsnap's: gone from the domain's record, the tree is otherwise whole. */
        const char *kept[] = {s2_image, NULL};
        fixture_assert_no_orphans_beside(f, "vm", kept, 1);
        free(s2_image);
        fixture_free(f);
}

static void test_a_running_domain_is_refused_with_domain_running(void **state)
{
        fixture *f = fixture_new();
        vmsnap_error error = {0};

        fixture_define_three_disk_domain(f, "vm");
        create_named(f, "vm", "s1");
        virDomainPtr d = virDomainLookupByName(f->connection, "vm");
        assert_int_equal(virDomainCreate(d), 0);
        /* Create and delete work on a running domain through libvirt (test-live.c); preview does not. */
        size_t files = fixture_count_files(f, "vm");
        assert_true(vmsnap_preview_start(f->engine, "vm", "s1", NULL, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_DOMAIN_RUNNING);
        assert_non_null(strstr(error.message, "shut it down"));
        assert_int_equal(fixture_count_files(f, "vm"), files);
        virDomainDestroy(d);
        virDomainFree(d);
        fixture_free(f);
}

/* The libvirt hook refuses a start while vmsnap holds the domain; a hold that cannot be
 * written (a read-only /run, as under ProtectSystem=strict without RuntimeDirectory=)
 * would leave an offline change unprotected, so the change is refused before it starts. */
static void test_an_offline_change_that_cannot_hold_the_domain_is_refused_before_any_change(void **state)
{
        fixture *f = fixture_new();
        vmsnap_error error = {0};
        vmsnap_create_options options = {.name = "s2"};
        char run_dir[600];

        fixture_define_three_disk_domain(f, "vm");
        create_named(f, "vm", "s1");
        /* A regular file where the run directory should be: no hold can go under it. */
        snprintf(run_dir, sizeof(run_dir), "%s/run-is-a-file", f->dir);
        fclose(fopen(run_dir, "w"));
        assert_ok(vmsnap_engine_set_run_dir(f->engine, run_dir, &error), &error);
        size_t files = fixture_count_files(f, "vm");
        char *before = fixture_domain_xml(f, "vm");

        assert_true(vmsnap_snapshot_create(f->engine, "vm", &options, NULL, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_FAILED);
        assert_non_null(strstr(error.message, "cannot be held against starts during the create"));
        assert_non_null(strstr(error.message, run_dir));
        assert_true(vmsnap_snapshot_delete(f->engine, "vm", "s1", VMSNAP_DELETE_MERGE, NULL, &error) < 0);
        assert_non_null(strstr(error.message, "during the merge"));
        assert_true(vmsnap_snapshot_revert(f->engine, "vm", "s1", NULL, NULL, &error) < 0);
        assert_non_null(strstr(error.message, "during the revert"));
        assert_true(vmsnap_preview_start(f->engine, "vm", "s1", NULL, NULL, &error) < 0);
        assert_true(vmsnap_snapshot_delete_all(f->engine, "vm", NULL, NULL, &error) < 0);

        char *after = fixture_domain_xml(f, "vm");
        assert_string_equal(after, before);
        assert_int_equal(fixture_count_files(f, "vm"), files);
        vmsnap_snapshot_info *list = NULL;
        size_t n = 0;
        assert_ok(vmsnap_snapshot_list(f->engine, "vm", &list, &n, &error), &error);
        assert_int_equal(n, 1);
        vmsnap_snapshot_info_array_free(list, n);
        free(before);
        free(after);
        fixture_free(f);
}

static void test_metadata_is_readable_by_root_only(void **state)
{
        fixture *f = fixture_new();
        char uuid[VIR_UUID_STRING_BUFLEN], path[1024];
        struct stat st;

        fixture_define_three_disk_domain(f, "vm");
        create_named(f, "vm", "s1");
        virDomainPtr d = virDomainLookupByName(f->connection, "vm");
        virDomainGetUUIDString(d, uuid);
        virDomainFree(d);
        snprintf(path, sizeof(path), "%s/%s.json", f->state_dir, uuid);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0077, 0);
        fixture_free(f);
}

int main(void)
{
        struct CMUnitTest tests[] = {
                cmocka_unit_test(test_linked_clones_leave_the_template_and_the_other_clone_byte_identical),
                cmocka_unit_test(test_original_images_are_never_written_or_removed),
                cmocka_unit_test(test_an_image_another_domain_reads_is_never_changed_or_removed),
                cmocka_unit_test(test_new_overlays_are_never_more_open_than_their_origin),
                cmocka_unit_test(test_a_domain_with_internal_qcow2_snapshots_is_refused_naming_the_file),
                cmocka_unit_test(
                        test_internal_snapshots_in_a_frozen_image_refuse_the_merge_that_would_write_it),
                cmocka_unit_test(test_an_unused_image_with_internal_snapshots_is_kept_and_named),
                cmocka_unit_test(test_metadata_is_readable_by_root_only),
                cmocka_unit_test(
                        test_an_offline_change_that_cannot_hold_the_domain_is_refused_before_any_change),
                /* The last two make libvirt snapshots and start the domain, which the test
                 * driver does without a hypervisor; against a real daemon they are not run. */
                cmocka_unit_test(test_a_domain_with_libvirt_snapshots_is_refused_with_what_to_do),
                cmocka_unit_test(test_a_running_domain_is_refused_with_domain_running),
        };
        const char *uri = getenv("VMSNAP_TEST_URI");
        size_t n = sizeof(tests) / sizeof(tests[0]);

        if (uri && strncmp(uri, "test:", 5) != 0)
                n -= 2;
        return _cmocka_run_group_tests("safety rules", tests, n, NULL, NULL);
}
