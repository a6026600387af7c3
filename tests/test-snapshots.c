/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-snapshots.c: the snapshot workflow on a shut-off three-disk domain with
 * real qcow2 and raw images: create, list, preview (whole and custom), commit,
 * undo, revert, delete (merge, children, metadata only, and merges beside the
 * images a metadata-only delete left), rename. Every test
 * writes distinct data at each stage and checks what each disk reads with
 * qemu-img (digests of the guest-visible content). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <unistd.h>
#include <cmocka.h>

#include "fixture.h"
#include "testlib.h"

static const char *const writable[] = {"vda", "vdb", "vdc"};

typedef struct state_digest {
        char *disk[3];
} state_digest;

static state_digest capture(fixture *f, const char *domain)
{
        state_digest s;
        for (int i = 0; i < 3; i++)
                s.disk[i] = fixture_active_digest(f, domain, writable[i]);
        return s;
}

static void release(state_digest *s)
{
        for (int i = 0; i < 3; i++)
                free(s->disk[i]);
}

static void assert_reads(fixture *f, const char *domain, const state_digest *want)
{
        for (int i = 0; i < 3; i++) {
                char *now = fixture_active_digest(f, domain, writable[i]);
                if (strcmp(now, want->disk[i]) != 0)
                        fail_msg("disk %s reads %s, expected %s", writable[i], now, want->disk[i]);
                free(now);
        }
}

static void write_all(fixture *f, const char *domain, unsigned cluster, unsigned pattern)
{
        for (int i = 0; i < 3; i++)
                fixture_write(f, domain, writable[i], cluster, pattern + (unsigned)i);
}

static char *create(fixture *f, const char *domain, const char *name)
{
        vmsnap_create_options options = {.name = name, .description = "test"};
        vmsnap_error error = {0};
        char *created = NULL;
        assert_ok(vmsnap_snapshot_create(f->engine, domain, &options, NULL, &created, &error), &error);
        return created;
}

static void assert_snapshot_reads(fixture *f, const char *domain, const char *snapshot,
                                  const state_digest *want)
{
        vmsnap_snapshot_info info = {0};
        vmsnap_error error = {0};

        assert_ok(vmsnap_snapshot_get(f->engine, domain, snapshot, &info, &error), &error);
        for (size_t i = 0; i < info.n_disks; i++)
                for (int j = 0; j < 3; j++)
                        if (strcmp(info.disks[i].target, writable[j]) == 0 && info.disks[i].image) {
                                char *d = test_image_digest(info.disks[i].image);
                                if (strcmp(d, want->disk[j]) != 0)
                                        fail_msg("snapshot %s disk %s reads %s, expected %s", snapshot,
                                                 writable[j], d, want->disk[j]);
                                free(d);
                        }
        vmsnap_snapshot_info_clear(&info);
}

static int setup(void **state)
{
        fixture *f = fixture_new();
        fixture_define_three_disk_domain(f, "vm1");
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture_free(*state);
        return 0;
}

static void test_create_freezes_selected_disks_and_records_excluded_ones(void **state)
{
        fixture *f = *state;
        vmsnap_snapshot_info info = {0};
        vmsnap_error error = {0};
        const char *disks[] = {"vda", "vdc"};
        vmsnap_create_options options = {.name = "first", .disks = disks, .n_disks = 2};
        char *vdb_before = fixture_active_source(f, "vm1", "vdb");

        assert_ok(vmsnap_snapshot_create(f->engine, "vm1", &options, NULL, NULL, &error), &error);
        assert_ok(vmsnap_snapshot_get(f->engine, "vm1", "first", &info, &error), &error);
        assert_string_equal(info.state, "shutoff");
        assert_string_equal(info.consistency, "offline");
        assert_true(info.current);
        assert_string_equal(info.parent_id, "");
        for (size_t i = 0; i < info.n_disks; i++) {
                const vmsnap_snapshot_disk *d = &info.disks[i];
                if (strcmp(d->target, "vda") == 0 || strcmp(d->target, "vdc") == 0) {
                        assert_null(d->excluded_reason);
                        assert_non_null(
                                strstr(d->image, strcmp(d->target, "vda") == 0 ? "a.qcow2" : "c.qcow2"));
                } else if (strcmp(d->target, "vdb") == 0)
                        assert_string_equal(d->excluded_reason, "not selected");
                else if (strcmp(d->target, "hdc") == 0)
                        assert_string_equal(d->excluded_reason, "cdrom");
                else if (strcmp(d->target, "vdd") == 0)
                        assert_string_equal(d->excluded_reason, "read-only");
        }
        assert_int_equal(info.n_disks, 5);
        /* The frozen disks now run on overlays; the unselected one is untouched. */
        char *vda = fixture_active_source(f, "vm1", "vda"), *vdb = fixture_active_source(f, "vm1", "vdb");
        assert_non_null(strstr(vda, "a.vmsnap-"));
        assert_string_equal(vdb, vdb_before);
        free(vda);
        free(vdb);
        free(vdb_before);
        vmsnap_snapshot_info_clear(&info);
}

static void test_create_refuses_bad_input_before_changing_anything(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        size_t files = fixture_count_files(f, "vm1");
        char *xml = fixture_domain_xml(f, "vm1");
        const char *cdrom[] = {"hdc"}, *unknown[] = {"vdz"}, *twice[] = {"vda", "vda"}, *empty[] = {""};
        struct {
                vmsnap_create_options options;
                const char *says;
        } cases[] = {
                {{.name = "a/b"}, "'/'"},
                {{.name = "tab\there"}, "control"},
                {{.disks = cdrom, .n_disks = 1}, "cdrom"},
                {{.disks = unknown, .n_disks = 1}, "no disk vdz"},
                {{.disks = twice, .n_disks = 2}, "twice"},
                {{.disks = empty, .n_disks = 1}, "a disk target must not be empty"},
                {{.memory = true}, "running"},
        };

        free(create(f, "vm1", "taken"));
        files = fixture_count_files(f, "vm1");
        free(xml);
        xml = fixture_domain_xml(f, "vm1");
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int r = vmsnap_snapshot_create(f->engine, "vm1", &cases[i].options, NULL, NULL, &error);
                assert_true(r < 0);
                assert_int_equal(error.kind, VMSNAP_ERROR_INVALID_ARGUMENT);
                if (!strstr(error.message, cases[i].says))
                        fail_msg("case %zu: \"%s\" does not mention %s", i, error.message, cases[i].says);
        }
        vmsnap_create_options duplicate = {.name = "taken"};
        assert_true(vmsnap_snapshot_create(f->engine, "vm1", &duplicate, NULL, NULL, &error) < 0);
        assert_non_null(strstr(error.message, "already has a snapshot named"));
        assert_true(vmsnap_snapshot_create(f->engine, "no-such-vm", NULL, NULL, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_NOT_FOUND);

        assert_int_equal(fixture_count_files(f, "vm1"), files);
        char *after = fixture_domain_xml(f, "vm1");
        assert_string_equal(after, xml);
        free(after);
        free(xml);
}

static void test_default_names_are_generated_and_unique(void **state)
{
        fixture *f = *state;
        char *a = create(f, "vm1", NULL), *b = create(f, "vm1", "");

        assert_string_equal(a, "snapshot-1");
        assert_string_equal(b, "snapshot-2");
        free(a);
        free(b);
}

static void test_preview_shows_the_snapshot_and_undo_restores_the_current_state(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        vmsnap_domain_info info = {0};

        write_all(f, "vm1", 1, 0x10);
        state_digest at_s1 = capture(f, "vm1");
        free(create(f, "vm1", "s1"));
        write_all(f, "vm1", 2, 0x20);
        state_digest now = capture(f, "vm1");
        char *xml_before = fixture_domain_xml(f, "vm1");
        size_t files_before = fixture_count_files(f, "vm1");

        assert_ok(vmsnap_preview_start(f->engine, "vm1", "s1", NULL, NULL, &error), &error);
        assert_reads(f, "vm1", &at_s1);
        assert_ok(vmsnap_domain_get(f->engine, "vm1", &info, &error), &error);
        assert_true(info.in_preview);
        vmsnap_domain_info_clear(&info);
        /* Writing in the preview does not touch the snapshot. */
        write_all(f, "vm1", 3, 0x30);
        assert_snapshot_reads(f, "vm1", "s1", &at_s1);

        assert_ok(vmsnap_preview_undo(f->engine, "vm1", NULL, &error), &error);
        assert_reads(f, "vm1", &now);
        char *xml_after = fixture_domain_xml(f, "vm1");
        assert_string_equal(xml_after, xml_before);
        assert_int_equal(fixture_count_files(f, "vm1"), files_before);
        assert_ok(vmsnap_domain_get(f->engine, "vm1", &info, &error), &error);
        assert_false(info.in_preview);
        assert_string_equal(info.current_snapshot, "s1");
        vmsnap_domain_info_clear(&info);
        free(xml_before);
        free(xml_after);
        release(&at_s1);
        release(&now);
}

static void test_custom_preview_takes_each_disk_from_its_snapshot(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};

        write_all(f, "vm1", 1, 0x11);
        state_digest at_s1 = capture(f, "vm1");
        free(create(f, "vm1", "s1"));
        write_all(f, "vm1", 1, 0x21);
        state_digest at_s2 = capture(f, "vm1");
        free(create(f, "vm1", "s2"));
        write_all(f, "vm1", 1, 0x31);

        /* Configuration and vda from s2, vdb from s1, vdc from s1. */
        vmsnap_disk_choice choices[] = {{"vdb", "s1"}, {"vdc", "s1"}};
        vmsnap_preview_options options = {.disks = choices, .n_disks = 2};
        assert_ok(vmsnap_preview_start(f->engine, "vm1", "s2", &options, NULL, &error), &error);
        state_digest want = {{at_s2.disk[0], at_s1.disk[1], at_s1.disk[2]}};
        assert_reads(f, "vm1", &want);

        /* A commit keeps the mix as the active state; s2 becomes current. */
        assert_ok(vmsnap_preview_commit(f->engine, "vm1", NULL, &error), &error);
        assert_reads(f, "vm1", &want);
        vmsnap_domain_info info = {0};
        assert_ok(vmsnap_domain_get(f->engine, "vm1", &info, &error), &error);
        assert_string_equal(info.current_snapshot, "s2");
        assert_false(info.in_preview);
        vmsnap_domain_info_clear(&info);
        assert_snapshot_reads(f, "vm1", "s1", &at_s1);
        assert_snapshot_reads(f, "vm1", "s2", &at_s2);
        release(&at_s1);
        release(&at_s2);
}

static void test_custom_preview_refuses_a_snapshot_without_the_disk(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        const char *only_vda[] = {"vda"};
        vmsnap_create_options options = {.name = "vda-only", .disks = only_vda, .n_disks = 1};

        free(create(f, "vm1", "all"));
        assert_ok(vmsnap_snapshot_create(f->engine, "vm1", &options, NULL, NULL, &error), &error);
        vmsnap_disk_choice choice[] = {{"vdb", "vda-only"}};
        vmsnap_preview_options preview = {.disks = choice, .n_disks = 1};
        assert_true(vmsnap_preview_start(f->engine, "vm1", "all", &preview, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_INVALID_ARGUMENT);
        assert_non_null(strstr(error.message, "does not include disk vdb"));
        vmsnap_disk_choice unknown[] = {{"vdz", "all"}};
        preview.disks = unknown;
        assert_true(vmsnap_preview_start(f->engine, "vm1", "all", &preview, NULL, &error) < 0);
        assert_non_null(strstr(error.message, "vdz"));
        vmsnap_disk_choice empty[] = {{"", "all"}};
        preview.disks = empty;
        assert_true(vmsnap_preview_start(f->engine, "vm1", "all", &preview, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_INVALID_ARGUMENT);
        assert_non_null(strstr(error.message, "a disk target must not be empty"));
}

static void test_excluded_disk_keeps_its_current_state_in_preview(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        const char *only_vda[] = {"vda"};
        vmsnap_create_options options = {.name = "vda-only", .disks = only_vda, .n_disks = 1};

        write_all(f, "vm1", 0, 0x40);
        state_digest at_snap = capture(f, "vm1");
        assert_ok(vmsnap_snapshot_create(f->engine, "vm1", &options, NULL, NULL, &error), &error);
        write_all(f, "vm1", 0, 0x50);
        state_digest now = capture(f, "vm1");

        assert_ok(vmsnap_preview_start(f->engine, "vm1", "vda-only", NULL, NULL, &error), &error);
        state_digest want = {{at_snap.disk[0], now.disk[1], now.disk[2]}};
        assert_reads(f, "vm1", &want);
        assert_ok(vmsnap_preview_undo(f->engine, "vm1", NULL, &error), &error);
        assert_reads(f, "vm1", &now);
        release(&at_snap);
        release(&now);
}

static void test_commit_drops_the_unsaved_state_and_keeps_every_snapshot(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};

        write_all(f, "vm1", 0, 0x12);
        state_digest at_s1 = capture(f, "vm1");
        free(create(f, "vm1", "s1"));
        write_all(f, "vm1", 0, 0x22);
        state_digest at_s2 = capture(f, "vm1");
        free(create(f, "vm1", "s2"));
        write_all(f, "vm1", 0, 0x32); /* unsaved */
        size_t files = fixture_count_files(f, "vm1");

        assert_ok(vmsnap_preview_start(f->engine, "vm1", "s1", NULL, NULL, &error), &error);
        assert_int_equal(fixture_count_files(f, "vm1"), files + 3);
        assert_ok(vmsnap_preview_commit(f->engine, "vm1", NULL, &error), &error);
        /* Three preview overlays became the leaves; the three unsaved leaves are gone. */
        assert_int_equal(fixture_count_files(f, "vm1"), files);
        assert_reads(f, "vm1", &at_s1);
        assert_snapshot_reads(f, "vm1", "s1", &at_s1);
        assert_snapshot_reads(f, "vm1", "s2", &at_s2);

        /* The tree keeps s2; a new snapshot branches from s1. */
        free(create(f, "vm1", "s3"));
        vmsnap_snapshot_info s3 = {0}, s1 = {0};
        assert_ok(vmsnap_snapshot_get(f->engine, "vm1", "s3", &s3, &error), &error);
        assert_ok(vmsnap_snapshot_get(f->engine, "vm1", "s1", &s1, &error), &error);
        assert_string_equal(s3.parent_id, s1.id);
        assert_int_equal(s1.n_children, 2);
        vmsnap_snapshot_info_clear(&s3);
        vmsnap_snapshot_info_clear(&s1);
        release(&at_s1);
        release(&at_s2);
}

static void test_revert_returns_every_disk_to_the_snapshot(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};

        write_all(f, "vm1", 5, 0x13);
        state_digest at_s1 = capture(f, "vm1");
        free(create(f, "vm1", "s1"));
        write_all(f, "vm1", 5, 0x23);
        free(create(f, "vm1", "s2"));
        write_all(f, "vm1", 6, 0x33);

        assert_ok(vmsnap_snapshot_revert(f->engine, "vm1", "s1", NULL, NULL, &error), &error);
        assert_reads(f, "vm1", &at_s1);
        vmsnap_domain_info info = {0};
        assert_ok(vmsnap_domain_get(f->engine, "vm1", &info, &error), &error);
        assert_string_equal(info.current_snapshot, "s1");
        assert_false(info.in_preview);
        vmsnap_domain_info_clear(&info);
        release(&at_s1);
}

static void test_list_returns_the_tree_parents_first(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        vmsnap_snapshot_info *list = NULL;
        size_t n = 0;

        free(create(f, "vm1", "root"));
        free(create(f, "vm1", "left"));
        assert_ok(vmsnap_snapshot_revert(f->engine, "vm1", "root", NULL, NULL, &error), &error);
        free(create(f, "vm1", "right"));
        assert_ok(vmsnap_snapshot_list(f->engine, "vm1", &list, &n, &error), &error);
        assert_int_equal(n, 3);
        assert_string_equal(list[0].name, "root");
        assert_int_equal(list[0].n_children, 2);
        assert_string_equal(list[1].parent_id, list[0].id);
        assert_string_equal(list[2].parent_id, list[0].id);
        assert_true(list[2].current || list[1].current);
        assert_string_equal(list[2].current ? list[2].name : list[1].name, "right");
        vmsnap_snapshot_info_array_free(list, n);
}

static void test_delete_merge_keeps_what_every_other_state_reads(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        state_digest at[4];
        char name[8];

        for (int i = 0; i < 4; i++) {
                write_all(f, "vm1", (unsigned)i, 0x40 + (unsigned)i);
                at[i] = capture(f, "vm1");
                snprintf(name, sizeof(name), "s%d", i);
                free(create(f, "vm1", name));
        }
        write_all(f, "vm1", 9, 0x99);
        state_digest now = capture(f, "vm1");

        /* Middle, then root, then leaf. */
        assert_ok(vmsnap_snapshot_delete(f->engine, "vm1", "s1", VMSNAP_DELETE_MERGE, NULL, &error), &error);
        assert_snapshot_reads(f, "vm1", "s0", &at[0]);
        assert_snapshot_reads(f, "vm1", "s2", &at[2]);
        assert_snapshot_reads(f, "vm1", "s3", &at[3]);
        assert_reads(f, "vm1", &now);
        vmsnap_snapshot_info s2 = {0}, s0 = {0};
        assert_ok(vmsnap_snapshot_get(f->engine, "vm1", "s2", &s2, &error), &error);
        assert_ok(vmsnap_snapshot_get(f->engine, "vm1", "s0", &s0, &error), &error);
        assert_string_equal(s2.parent_id, s0.id);
        vmsnap_snapshot_info_clear(&s2);
        vmsnap_snapshot_info_clear(&s0);

        assert_ok(vmsnap_snapshot_delete(f->engine, "vm1", "s0", VMSNAP_DELETE_MERGE, NULL, &error), &error);
        assert_snapshot_reads(f, "vm1", "s2", &at[2]);
        assert_snapshot_reads(f, "vm1", "s3", &at[3]);
        assert_reads(f, "vm1", &now);
        assert_ok(vmsnap_snapshot_delete(f->engine, "vm1", "s3", VMSNAP_DELETE_MERGE, NULL, &error), &error);
        assert_snapshot_reads(f, "vm1", "s2", &at[2]);
        assert_reads(f, "vm1", &now);
        assert_ok(vmsnap_snapshot_delete(f->engine, "vm1", "s2", VMSNAP_DELETE_MERGE, NULL, &error), &error);
        assert_reads(f, "vm1", &now);

        /* Every overlay merged away but one per disk; the originals are still there. */
        assert_int_equal(fixture_count_files(f, "vm1"), 5 + 3);
        for (int i = 0; i < 4; i++)
                release(&at[i]);
        release(&now);
}

/* An overlay and the frozen image below it that hold as many bytes: the merge commits the
 * overlay down, which qemu-img does opening those two files alone, rather than pulling the
 * frozen image up, which opens the whole chain twice. The disks move onto the frozen files. */
static void test_delete_merge_at_equal_bytes_commits_the_overlay_down(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        char *frozen[3];

        free(create(f, "vm1", "s0"));
        write_all(f, "vm1", 1, 0x51);
        for (int i = 0; i < 3; i++)
                frozen[i] = fixture_active_source(f, "vm1", writable[i]);
        free(create(f, "vm1", "s1"));
        write_all(f, "vm1", 2, 0x61);
        state_digest now = capture(f, "vm1");

        assert_ok(vmsnap_snapshot_delete(f->engine, "vm1", "s1", VMSNAP_DELETE_MERGE, NULL, &error), &error);
        assert_reads(f, "vm1", &now);
        for (int i = 0; i < 3; i++) {
                char *source = fixture_active_source(f, "vm1", writable[i]);
                if (strcmp(source, frozen[i]) != 0)
                        fail_msg("disk %s is on %s after the merge, expected %s (committed down)",
                                 writable[i], source, frozen[i]);
                free(source);
                free(frozen[i]);
        }
        assert_int_equal(fixture_count_files(f, "vm1"), 5 + 3);
        release(&now);
}

static void test_delete_merge_of_a_branch_point_keeps_both_branches(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};

        free(create(f, "vm1", "root")); /* base then freezes overlays vmsnap made */
        write_all(f, "vm1", 0, 0x61);
        free(create(f, "vm1", "base"));
        write_all(f, "vm1", 1, 0x62);
        state_digest at_left = capture(f, "vm1");
        free(create(f, "vm1", "left"));
        assert_ok(vmsnap_snapshot_revert(f->engine, "vm1", "base", NULL, NULL, &error), &error);
        write_all(f, "vm1", 2, 0x63);
        state_digest at_right = capture(f, "vm1");
        free(create(f, "vm1", "right"));
        write_all(f, "vm1", 3, 0x64);
        state_digest now = capture(f, "vm1");

        assert_ok(vmsnap_snapshot_delete(f->engine, "vm1", "base", VMSNAP_DELETE_MERGE, NULL, &error),
                  &error);
        assert_snapshot_reads(f, "vm1", "left", &at_left);
        assert_snapshot_reads(f, "vm1", "right", &at_right);
        assert_reads(f, "vm1", &now);
        release(&at_left);
        release(&at_right);
        release(&now);
}

static void test_delete_children_removes_the_subtree_and_its_files(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        vmsnap_snapshot_info *list = NULL;
        size_t n = 0;

        free(create(f, "vm1", "keep"));
        size_t files = fixture_count_files(f, "vm1");
        free(create(f, "vm1", "drop"));
        free(create(f, "vm1", "drop-child"));
        write_all(f, "vm1", 0, 0x70);
        /* Refused while the current state descends from it. */
        assert_true(vmsnap_snapshot_delete(f->engine, "vm1", "drop", VMSNAP_DELETE_CHILDREN, NULL, &error) <
                    0);
        assert_non_null(strstr(error.message, "descends"));

        assert_ok(vmsnap_snapshot_revert(f->engine, "vm1", "keep", NULL, NULL, &error), &error);
        state_digest now = capture(f, "vm1");
        assert_ok(vmsnap_snapshot_delete(f->engine, "vm1", "drop", VMSNAP_DELETE_CHILDREN, NULL, &error),
                  &error);
        assert_ok(vmsnap_snapshot_list(f->engine, "vm1", &list, &n, &error), &error);
        assert_int_equal(n, 1);
        assert_string_equal(list[0].name, "keep");
        vmsnap_snapshot_info_array_free(list, n);
        assert_int_equal(fixture_count_files(f, "vm1"), files);
        assert_reads(f, "vm1", &now);
        release(&now);
}

static void test_delete_children_only_removes_the_subtree_below_and_keeps_the_snapshot(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        vmsnap_snapshot_info *list = NULL;
        size_t n = 0;

        free(create(f, "vm1", "root"));
        write_all(f, "vm1", 0, 0x72);
        state_digest at_keep = capture(f, "vm1");
        free(create(f, "vm1", "keep"));
        write_all(f, "vm1", 1, 0x73);
        free(create(f, "vm1", "child"));
        write_all(f, "vm1", 2, 0x74);
        free(create(f, "vm1", "grandchild"));
        write_all(f, "vm1", 3, 0x75);
        /* Refused while the current state descends from a child, and nothing changes. */
        size_t files_before = fixture_count_files(f, "vm1");
        assert_true(vmsnap_snapshot_delete(f->engine, "vm1", "keep", VMSNAP_DELETE_CHILDREN_ONLY, NULL,
                                           &error) < 0);
        assert_non_null(strstr(error.message, "descends from a child of snapshot \"keep\""));
        assert_int_equal(fixture_count_files(f, "vm1"), files_before);

        /* From keep itself it goes: the children and their images, keep and what it reads stay. */
        assert_ok(vmsnap_snapshot_revert(f->engine, "vm1", "keep", NULL, NULL, &error), &error);
        size_t files_at_keep = fixture_count_files(f, "vm1");
        state_digest now = capture(f, "vm1");
        assert_ok(
                vmsnap_snapshot_delete(f->engine, "vm1", "keep", VMSNAP_DELETE_CHILDREN_ONLY, NULL, &error),
                &error);
        assert_ok(vmsnap_snapshot_list(f->engine, "vm1", &list, &n, &error), &error);
        assert_int_equal(n, 2);
        assert_string_equal(list[0].name, "root");
        assert_string_equal(list[1].name, "keep");
        assert_true(list[1].current);
        vmsnap_snapshot_info_array_free(list, n);
        assert_reads(f, "vm1", &now);
        assert_snapshot_reads(f, "vm1", "keep", &at_keep);
        assert_reads(f, "vm1", &at_keep);
        assert_true(fixture_count_files(f, "vm1") < files_at_keep);
        fixture_assert_no_orphans(f, "vm1");

        /* Nothing below: nothing to do, and it says so. */
        assert_ok(
                vmsnap_snapshot_delete(f->engine, "vm1", "keep", VMSNAP_DELETE_CHILDREN_ONLY, NULL, &error),
                &error);
        release(&now);
        release(&at_keep);
}

static void test_delete_metadata_only_keeps_every_file(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};

        free(create(f, "vm1", "s1"));
        free(create(f, "vm1", "s2"));
        write_all(f, "vm1", 0, 0x71);
        state_digest now = capture(f, "vm1");
        size_t files = fixture_count_files(f, "vm1");
        assert_ok(vmsnap_snapshot_delete(f->engine, "vm1", "s1", VMSNAP_DELETE_METADATA_ONLY, NULL, &error),
                  &error);
        assert_int_equal(fixture_count_files(f, "vm1"), files);
        assert_reads(f, "vm1", &now);
        vmsnap_snapshot_info s2 = {0};
        assert_ok(vmsnap_snapshot_get(f->engine, "vm1", "s2", &s2, &error), &error);
        assert_string_equal(s2.parent_id, "");
        vmsnap_snapshot_info_clear(&s2);
        release(&now);
}

typedef struct notes {
        char text[8192];
} notes;

static void note(void *userdata, const char *text)
{
        notes *n = userdata;
        strncat(n->text, text, sizeof(n->text) - strlen(n->text) - 2);
        strncat(n->text, "\n", sizeof(n->text) - strlen(n->text) - 1);
}

/* The images a snapshot froze: each file's bytes and what it reads, before a metadata-only
 * delete leaves them to the administrator. */
typedef struct forgotten_images {
        char *path[3];
        char *bytes[3];
        char *reads[3];
} forgotten_images;

static forgotten_images remember_images(fixture *f, const char *domain, const char *snapshot)
{
        forgotten_images kept = {{0}};
        vmsnap_snapshot_info info = {0};
        vmsnap_error error = {0};

        assert_ok(vmsnap_snapshot_get(f->engine, domain, snapshot, &info, &error), &error);
        for (size_t i = 0, n = 0; i < info.n_disks; i++) {
                if (!info.disks[i].image)
                        continue; /* the cdrom and the read-only disk */
                assert_true(n < 3);
                assert_non_null(strstr(info.disks[i].image, ".vmsnap-"));
                kept.path[n] = strdup(info.disks[i].image);
                kept.bytes[n] = test_file_digest(kept.path[n]);
                kept.reads[n] = test_image_digest(kept.path[n]);
                n++;
        }
        assert_non_null(kept.path[2]);
        vmsnap_snapshot_info_clear(&info);
        return kept;
}

/* Each still exists, byte for byte as it was, and reads what it read. */
static void assert_unchanged(const forgotten_images *kept)
{
        for (size_t i = 0; i < 3; i++) {
                struct stat st;
                if (stat(kept->path[i], &st) != 0)
                        fail_msg("the forgotten image %s was removed", kept->path[i]);
                char *bytes = test_file_digest(kept->path[i]), *reads = test_image_digest(kept->path[i]);
                if (strcmp(bytes, kept->bytes[i]) != 0)
                        fail_msg("the forgotten image %s was changed", kept->path[i]);
                if (strcmp(reads, kept->reads[i]) != 0)
                        fail_msg("the forgotten image %s reads what it never held", kept->path[i]);
                free(bytes);
                free(reads);
        }
}

static void forgotten_images_clear(forgotten_images *kept)
{
        for (size_t i = 0; i < 3; i++) {
                free(kept->path[i]);
                free(kept->bytes[i]);
                free(kept->reads[i]);
        }
}

/* s1 <- s2 <- s3 <- s4 with the domain back at s2 (its disks on an overlay of s2's images),
 * then s3, in the middle, forgotten: s4's images read through s3's, which read through
 * s2's. The merge of s2 would commit the small overlay down into s2's images, which s3's
 * read: that would change what s3's images and s4 read. */
static void test_a_merge_never_writes_into_what_a_forgotten_image_reads(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        notes forget = {{0}}, merge = {{0}};
        vmsnap_hooks forget_hooks = {.message = note, .userdata = &forget},
                     merge_hooks = {.message = note, .userdata = &merge};

        free(create(f, "vm1", "s1"));
        for (unsigned c = 0; c < 8; c++)
                write_all(f, "vm1", c, 0x20 + c * 3); /* s2's images hold the most */
        free(create(f, "vm1", "s2"));
        write_all(f, "vm1", 9, 0x50);
        free(create(f, "vm1", "s3"));
        write_all(f, "vm1", 10, 0x60);
        free(create(f, "vm1", "s4"));
        state_digest at_s4 = capture(f, "vm1");
        assert_ok(vmsnap_snapshot_revert(f->engine, "vm1", "s2", NULL, NULL, &error), &error);
        write_all(f, "vm1", 0, 0x70);
        state_digest now = capture(f, "vm1");
        forgotten_images kept = remember_images(f, "vm1", "s3");

        assert_ok(vmsnap_snapshot_delete(f->engine, "vm1", "s3", VMSNAP_DELETE_METADATA_ONLY, &forget_hooks,
                                         &error),
                  &error);
        for (size_t i = 0; i < 3; i++) {
                assert_non_null(strstr(forget.text, kept.path[i]));
                assert_non_null(strstr(forget.text, "chains still read it"));
        }
        assert_ok(vmsnap_snapshot_delete(f->engine, "vm1", "s2", VMSNAP_DELETE_MERGE, &merge_hooks, &error),
                  &error);
        assert_non_null(strstr(merge.text, "a metadata-only delete left to the administrator"));

        assert_unchanged(&kept);
        assert_snapshot_reads(f, "vm1", "s4", &at_s4);
        assert_reads(f, "vm1", &now);
        fixture_assert_no_orphans(f, "vm1"); /* s4 still reads s3's images */
        forgotten_images_clear(&kept);
        release(&at_s4);
        release(&now);
}

/* s1 <- s2 <- s3 with the domain back at s1, then s3 forgotten: nothing but s3's images
 * reads s2's any more, and the merge of s2 would remove them. Once the administrator
 * removes s3's images, what only they read is collected. */
static void test_a_merge_never_removes_what_only_a_forgotten_image_reads(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        vmsnap_snapshot_info s2 = {0};
        notes forget = {{0}};
        vmsnap_hooks hooks = {.message = note, .userdata = &forget};

        free(create(f, "vm1", "s1"));
        write_all(f, "vm1", 0, 0x21);
        free(create(f, "vm1", "s2"));
        write_all(f, "vm1", 1, 0x31);
        free(create(f, "vm1", "s3"));
        assert_ok(vmsnap_snapshot_revert(f->engine, "vm1", "s1", NULL, NULL, &error), &error);
        state_digest now = capture(f, "vm1");
        forgotten_images kept = remember_images(f, "vm1", "s3");
        assert_ok(vmsnap_snapshot_get(f->engine, "vm1", "s2", &s2, &error), &error);

        /* The job names every image nothing reads any more. */
        assert_ok(
                vmsnap_snapshot_delete(f->engine, "vm1", "s3", VMSNAP_DELETE_METADATA_ONLY, &hooks, &error),
                &error);
        for (size_t i = 0; i < 3; i++)
                assert_non_null(strstr(forget.text, kept.path[i]));
        assert_non_null(strstr(forget.text, "is left to you: nothing reads it any more"));
        assert_null(strstr(forget.text, "chains still read it"));

        assert_ok(vmsnap_snapshot_delete(f->engine, "vm1", "s2", VMSNAP_DELETE_MERGE, NULL, &error), &error);
        assert_unchanged(&kept);
        assert_reads(f, "vm1", &now);
        const char *kept_paths[] = {kept.path[0], kept.path[1], kept.path[2]};
        fixture_assert_no_orphans_beside(f, "vm1", kept_paths, 3);

        for (size_t i = 0; i < 3; i++)
                assert_int_equal(unlink(kept.path[i]), 0);
        free(create(f, "vm1", "after"));
        for (size_t i = 0; i < s2.n_disks; i++)
                if (s2.disks[i].image && access(s2.disks[i].image, F_OK) == 0)
                        fail_msg("%s, which only the removed forgotten images read, was not collected",
                                 s2.disks[i].image);
        fixture_assert_no_orphans(f, "vm1");
        vmsnap_snapshot_info_clear(&s2);
        forgotten_images_clear(&kept);
        release(&now);
}

static void test_create_and_delete_are_refused_during_a_preview(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};

        free(create(f, "vm1", "s1"));
        assert_ok(vmsnap_preview_start(f->engine, "vm1", "s1", NULL, NULL, &error), &error);
        assert_true(vmsnap_snapshot_create(f->engine, "vm1", NULL, NULL, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_IN_PREVIEW);
        assert_true(vmsnap_snapshot_delete(f->engine, "vm1", "s1", VMSNAP_DELETE_MERGE, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_IN_PREVIEW);
        assert_true(vmsnap_preview_start(f->engine, "vm1", "s1", NULL, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_IN_PREVIEW);
        assert_ok(vmsnap_preview_undo(f->engine, "vm1", NULL, &error), &error);
        assert_true(vmsnap_preview_commit(f->engine, "vm1", NULL, &error) < 0);
        assert_non_null(strstr(error.message, "not previewing"));
}

static void test_rename_and_description_change_only_metadata(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        vmsnap_snapshot_info info = {0};

        free(create(f, "vm1", "old"));
        free(create(f, "vm1", "other"));
        assert_ok(vmsnap_snapshot_rename(f->engine, "vm1", "old", "new name", &error), &error);
        assert_ok(
                vmsnap_snapshot_set_description(f->engine, "vm1", "new name", "before the upgrade", &error),
                &error);
        assert_ok(vmsnap_snapshot_get(f->engine, "vm1", "new name", &info, &error), &error);
        assert_string_equal(info.description, "before the upgrade");
        vmsnap_snapshot_info_clear(&info);
        assert_true(vmsnap_snapshot_get(f->engine, "vm1", "old", &info, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_NOT_FOUND);
        assert_true(vmsnap_snapshot_rename(f->engine, "vm1", "new name", "other", &error) < 0);
        assert_non_null(strstr(error.message, "already has"));
        assert_true(vmsnap_snapshot_rename(f->engine, "vm1", "new name", "", &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_INVALID_ARGUMENT);

        /* A fresh engine reads the same from the store. */
        vmsnap_engine_free(f->engine);
        assert_ok(vmsnap_engine_new(f->uri, f->state_dir, &f->engine, &error), &error);
        assert_ok(vmsnap_snapshot_get(f->engine, "vm1", "new name", &info, &error), &error);
        assert_string_equal(info.description, "before the upgrade");
        vmsnap_snapshot_info_clear(&info);
}

static void test_configuration_at_a_snapshot_names_its_frozen_images(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        vmsnap_image_info *disks = NULL;
        size_t n = 0;
        char *xml = NULL;

        write_all(f, "vm1", 0, 0x72);
        free(create(f, "vm1", "s1"));
        assert_ok(vmsnap_snapshot_get_configuration(f->engine, "vm1", "s1", &xml, &disks, &n, &error),
                  &error);
        assert_non_null(strstr(xml, "<name>vm1</name>"));
        assert_int_equal(n, 3);
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(disks[i].virtual_size, 2 * 1024 * 1024);
                assert_true(disks[i].allocated > 0);
        }
        assert_string_equal(disks[1].format, "raw");
        vmsnap_image_info_array_free(disks, n);
        free(xml);
}

static const vmsnap_image_info *image_of(const vmsnap_image_info *disks, size_t n, const char *target)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(disks[i].target, target) == 0)
                        return &disks[i];
        fail_msg("no disk %s in the configuration", target);
        return NULL;
}

static void test_configuration_now_lists_every_disk_and_whether_a_snapshot_can_include_it(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        vmsnap_image_info *disks = NULL;
        size_t n = 0;
        char *xml = NULL;

        /* Before any snapshot: the domain's own images. */
        assert_ok(vmsnap_domain_get_configuration(f->engine, "vm1", &xml, &disks, &n, &error), &error);
        assert_non_null(strstr(xml, "<name>vm1</name>"));
        assert_int_equal(n, 5);
        for (size_t i = 0; i < 3; i++) {
                const vmsnap_image_info *disk = image_of(disks, n, writable[i]);
                char *source = fixture_active_source(f, "vm1", writable[i]);
                assert_null(disk->ineligible_reason);
                assert_string_equal(disk->image, source);
                assert_int_equal(disk->virtual_size, 2 * 1024 * 1024);
                free(source);
        }
        assert_string_equal(image_of(disks, n, "vda")->format, "qcow2");
        assert_string_equal(image_of(disks, n, "vdb")->format, "raw");
        assert_true(image_of(disks, n, "vda")->allocated > 0);
        assert_string_equal(image_of(disks, n, "hdc")->ineligible_reason, "cdrom");
        assert_string_equal(image_of(disks, n, "vdd")->ineligible_reason, "read-only");
        vmsnap_image_info_array_free(disks, n);
        free(xml);

        /* After a snapshot of vda only: vda runs on its new overlay, which the next
         * snapshot would freeze; the allocation counts the whole chain. */
        const char *only_vda[] = {"vda"};
        vmsnap_create_options options = {.name = "s1", .disks = only_vda, .n_disks = 1};
        fixture_write(f, "vm1", "vda", 0, 0x41);
        assert_ok(vmsnap_snapshot_create(f->engine, "vm1", &options, NULL, NULL, &error), &error);
        fixture_write(f, "vm1", "vda", 1, 0x42);
        assert_ok(vmsnap_domain_get_configuration(f->engine, "vm1", &xml, &disks, &n, &error), &error);
        char *overlay = fixture_active_source(f, "vm1", "vda");
        const vmsnap_image_info *vda = image_of(disks, n, "vda");
        assert_string_equal(vda->image, overlay);
        assert_string_equal(vda->format, "qcow2");
        assert_null(vda->ineligible_reason);
        assert_int_equal(vda->virtual_size, 2 * 1024 * 1024);
        assert_true(vda->allocated >= 2 * 64 * 1024);
        assert_null(image_of(disks, n, "vdb")->ineligible_reason); /* "not selected" then, eligible now */
        free(overlay);
        vmsnap_image_info_array_free(disks, n);
        free(xml);
}

static void test_configuration_now_gives_the_reason_create_would_give_for_each_disk(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        vmsnap_image_info *disks = NULL;
        size_t n = 0;
        char *xml = NULL, *devices = NULL, image[512], shared[512], vmdk[512];
        vmsnap_snapshot_info info = {0};

        snprintf(image, sizeof(image), "%s/mixed-a.qcow2", f->dir);
        snprintf(shared, sizeof(shared), "%s/mixed-shared.img", f->dir);
        snprintf(vmdk, sizeof(vmdk), "%s/mixed.vmdk", f->dir);
        test_qcow2_create(image, NULL, NULL, FIXTURE_DISK_SIZE);
        assert_int_equal(test_runf("qemu-img create -q -f raw %s 1M", shared), 0);
        assert_int_equal(test_runf("qemu-img create -q -f raw %s 1M", vmdk), 0);
        if (asprintf(&devices,
                     "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
                     "<target dev='vda' bus='virtio'/></disk>"
                     "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/>"
                     "<target dev='vdb' bus='virtio'/><shareable/></disk>"
                     "<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
                     "<source protocol='nbd' name='export'><host name='192.0.2.1' port='10809'/></source>"
                     "<target dev='vdc' bus='virtio'/></disk>"
                     "<disk type='block' device='disk'><driver name='qemu' type='raw'/>"
                     "<source dev='/dev/null'/><target dev='vdd' bus='virtio'/></disk>"
                     "<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/></disk>"
                     "<disk type='file' device='disk'><driver name='qemu' type='vmdk'/><source file='%s'/>"
                     "<target dev='vde' bus='virtio'/></disk>",
                     image, shared, vmdk) < 0)
                abort();
        fixture_define_domain(f, "mixed", devices);
        free(devices);

        assert_ok(vmsnap_domain_get_configuration(f->engine, "mixed", &xml, &disks, &n, &error), &error);
        assert_int_equal(n, 6);
        assert_null(image_of(disks, n, "vda")->ineligible_reason);
        assert_string_equal(image_of(disks, n, "vda")->format, "qcow2");
        assert_string_equal(image_of(disks, n, "vdb")->ineligible_reason, "shareable");
        assert_string_equal(image_of(disks, n, "vdc")->ineligible_reason, "not a file disk");
        assert_null(image_of(disks, n, "vdc")->image);
        assert_string_equal(image_of(disks, n, "vdd")->ineligible_reason, "not a file disk");
        assert_string_equal(image_of(disks, n, "hdc")->ineligible_reason, "cdrom");
        assert_null(image_of(disks, n, "hdc")->image);
        assert_string_equal(image_of(disks, n, "vde")->ineligible_reason, "format not supported");
        assert_string_equal(image_of(disks, n, "vde")->format,
                            "vmdk"); /* as declared: the header cannot tell */

        /* The snapshot records exactly those reasons for the disks it leaves out. */
        vmsnap_create_options options = {.name = "s1"};
        assert_ok(vmsnap_snapshot_create(f->engine, "mixed", &options, NULL, NULL, &error), &error);
        assert_ok(vmsnap_snapshot_get(f->engine, "mixed", "s1", &info, &error), &error);
        assert_int_equal(info.n_disks, n);
        for (size_t i = 0; i < info.n_disks; i++) {
                const vmsnap_image_info *now = image_of(disks, n, info.disks[i].target);
                if (now->ineligible_reason)
                        assert_string_equal(info.disks[i].excluded_reason, now->ineligible_reason);
                else
                        assert_null(info.disks[i].excluded_reason);
        }
        vmsnap_snapshot_info_clear(&info);
        vmsnap_image_info_array_free(disks, n);
        free(xml);
}

static void test_configuration_now_of_an_unknown_domain_is_not_found(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        vmsnap_image_info *disks = NULL;
        size_t n = 0;
        char *xml = NULL;

        assert_true(vmsnap_domain_get_configuration(f->engine, "no-such-vm", &xml, &disks, &n, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_NOT_FOUND);
        assert_non_null(strstr(error.message, "no-such-vm"));
        assert_null(xml);
        assert_null(disks);
}

static void test_domain_listing_reports_snapshot_state(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        vmsnap_domain_info *list = NULL;
        size_t n = 0;
        bool seen = false;

        free(create(f, "vm1", "s1"));
        free(create(f, "vm1", "s2"));
        assert_ok(vmsnap_domain_list(f->engine, &list, &n, &error), &error);
        for (size_t i = 0; i < n; i++)
                if (strcmp(list[i].name, "vm1") == 0) {
                        seen = true;
                        assert_string_equal(list[i].state, "shutoff");
                        assert_string_equal(list[i].current_snapshot, "s2");
                        assert_int_equal(list[i].snapshot_count, 2);
                        assert_false(list[i].in_preview);
                }
        assert_true(seen);
        vmsnap_domain_info_array_free(list, n);
}

typedef struct watch_log {
        pthread_mutex_t lock;
        char uuids[64][VIR_UUID_STRING_BUFLEN];
        size_t n;
} watch_log;

static void on_change(void *userdata, const char *uuid)
{
        watch_log *log = userdata;
        pthread_mutex_lock(&log->lock);
        if (log->n < 64)
                snprintf(log->uuids[log->n++], VIR_UUID_STRING_BUFLEN, "%s", uuid);
        pthread_mutex_unlock(&log->lock);
}

/* One log for the whole run, emptied for each test: a watcher's callbacks may come
 * until its engine is freed, in teardown, after the test's own frame is gone. */
static watch_log *fresh_watch_log(void)
{
        static watch_log the_log = {.lock = PTHREAD_MUTEX_INITIALIZER};
        pthread_mutex_lock(&the_log.lock);
        the_log.n = 0;
        pthread_mutex_unlock(&the_log.lock);
        return &the_log;
}

/* Waits up to 5 s for uuid to be reported; clears the log. */
static bool heard(watch_log *log, const char *uuid)
{
        for (int i = 0; i < 500; i++) {
                bool found = false;
                pthread_mutex_lock(&log->lock);
                for (size_t j = 0; j < log->n; j++)
                        found = found || strcmp(log->uuids[j], uuid) == 0;
                if (found)
                        log->n = 0;
                pthread_mutex_unlock(&log->lock);
                if (found)
                        return true;
                usleep(10000);
        }
        return false;
}

/* libvirtd closes a connection whose keepalive pings go unanswered, and the next call
 * on it dies of SIGPIPE. An engine that only acts must not promise answers (no event
 * loop of its own), and once a watcher has started libvirt's loop in the process, that
 * loop must keep answering for every later engine, also after the watcher is gone.
 * with-libvirtd.sh starts libvirtd with keepalives every second, two missed at most,
 * and says in VMSNAP_TEST_IDLE_SECONDS how long to stay idle. */
static void test_engines_keep_their_libvirt_connection_while_idle(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        watch_log *log = fresh_watch_log();
        vmsnap_domain_info domain = {0};
        vmsnap_engine *watcher, *later;
        const char *idle = getenv("VMSNAP_TEST_IDLE_SECONDS");

        if (!f->real_daemon || !idle) {
                skip(); /* needs a libvirtd with short keepalives (tests/with-libvirtd.sh) */
                return;
        }
        sleep((unsigned)atoi(idle));
        assert_ok(vmsnap_domain_get(f->engine, "vm1", &domain, &error), &error);
        vmsnap_domain_info_clear(&domain);

        assert_ok(vmsnap_engine_new(f->uri, f->state_dir, &watcher, &error), &error);
        assert_ok(vmsnap_engine_watch(watcher, on_change, log, &error), &error);
        vmsnap_engine_free(watcher);
        assert_ok(vmsnap_engine_new(f->uri, f->state_dir, &later, &error), &error);
        sleep((unsigned)atoi(idle));
        assert_ok(vmsnap_domain_get(later, "vm1", &domain, &error), &error);
        assert_string_equal(domain.name, "vm1");
        vmsnap_domain_info_clear(&domain);
        vmsnap_engine_free(later);
}

/* vmsnapd starts, and owns its bus name, while libvirtd is down. Its engine answers every
 * call with the URI and libvirt's reason, and connects (and its watcher subscribes) once
 * libvirt is there. Against a real libvirtd the socket "appears" as a symbolic link to
 * libvirtd's own, made after the engine started; on the test driver only the first half
 * runs (there is no socket to wait for). */
static void test_an_engine_starts_without_libvirt_and_connects_when_it_appears(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        watch_log *log = fresh_watch_log();
        vmsnap_domain_info *list = NULL;
        vmsnap_engine *engine;
        char socket[700], uri[800];
        size_t n = 0;

        snprintf(socket, sizeof(socket), "%s/libvirt-sock", f->dir);
        snprintf(uri, sizeof(uri), "qemu+unix:///system?socket=%s", socket);
        assert_ok(vmsnap_engine_new(uri, f->state_dir, &engine, &error), &error);
        assert_ok(vmsnap_engine_watch(engine, on_change, log, &error), &error);
        assert_true(vmsnap_domain_list(engine, &list, &n, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_FAILED);
        char expected[900];
        snprintf(expected, sizeof(expected), "libvirt at %s is not reachable: ", uri);
        if (strncmp(error.message, expected, strlen(expected)) != 0)
                fail_msg("the refusal should name the URI and why: %s", error.message);
        assert_true(vmsnap_domain_get(engine, "vm1", &(vmsnap_domain_info){0}, &error) < 0);
        assert_non_null(strstr(error.message, "is not reachable"));

        if (f->real_daemon) {
                assert_int_equal(symlink("/run/libvirt/libvirt-sock", socket), 0);
                assert_ok(vmsnap_domain_list(engine, &list, &n, &error), &error);
                bool found = false;
                for (size_t i = 0; i < n; i++)
                        found = found || strcmp(list[i].name, "vm1") == 0;
                assert_true(found);
                vmsnap_domain_info_array_free(list, n);
                /* The watcher subscribed on that connection: a change is heard. */
                char uuid[VIR_UUID_STRING_BUFLEN];
                virDomainPtr d = virDomainLookupByName(f->connection, "vm1");
                virDomainGetUUIDString(d, uuid);
                virDomainFree(d);
                free(create(f, "vm1", "s1"));
                assert_true(heard(log, uuid));
        }
        vmsnap_engine_free(engine);
}

static bool listed_as(fixture *f, const char *uuid, const char *name, bool defined, unsigned snapshots)
{
        vmsnap_domain_info *list = NULL;
        vmsnap_error error = {0};
        size_t n = 0;
        bool found = false;

        assert_ok(vmsnap_domain_list(f->engine, &list, &n, &error), &error);
        for (size_t i = 0; i < n; i++)
                if (strcmp(list[i].uuid, uuid) == 0)
                        found = strcmp(list[i].name, name) == 0 && list[i].defined == defined &&
                                list[i].snapshot_count == snapshots &&
                                strcmp(list[i].state, defined ? list[i].state : "undefined") == 0;
        vmsnap_domain_info_array_free(list, n);
        return found;
}

static void
test_watchers_hear_of_every_change_and_an_undefine_keeps_the_tree_until_defined_again(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        watch_log *log = fresh_watch_log();
        vmsnap_snapshot_info info = {0};
        char uuid[VIR_UUID_STRING_BUFLEN], metadata[1200];
        struct stat st;

        assert_ok(vmsnap_engine_watch(f->engine, on_change, log, &error), &error);
        virDomainPtr d = virDomainLookupByName(f->connection, "vm1");
        virDomainGetUUIDString(d, uuid);
        free(create(f, "vm1", "s1"));
        assert_true(heard(log, uuid));
        assert_ok(vmsnap_snapshot_rename(f->engine, "vm1", "s1", "renamed", &error), &error);
        assert_true(heard(log, uuid));

        /* Undefined behind vmsnap's back (as virsh undefine, then define of the saved XML,
         * edits a VM): the tree and the images stay, and the domain is listed as undefined. */
        char *leaf = fixture_active_source(f, "vm1", "vda");
        char *xml = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE);
        snprintf(metadata, sizeof(metadata), "%s/%s.json", f->state_dir, uuid);
        assert_int_equal(stat(metadata, &st), 0);
        assert_int_equal(virDomainUndefine(d), 0);
        virDomainFree(d);
        assert_true(heard(log, uuid));
        assert_int_equal(stat(metadata, &st), 0);
        assert_int_equal(stat(leaf, &st), 0);
        assert_true(listed_as(f, uuid, "vm1", false, 1));

        d = virDomainDefineXML(f->connection, xml);
        assert_non_null(d);
        virDomainFree(d);
        assert_true(heard(log, uuid));
        assert_true(listed_as(f, uuid, "vm1", true, 1));
        assert_ok(vmsnap_snapshot_get(f->engine, "vm1", "renamed", &info, &error), &error);
        vmsnap_snapshot_info_clear(&info);
        free(xml);
        free(leaf);
}

/* The tree as a reader sees it: each snapshot's id, name and parent, in list order. */
static char *tree_of(fixture *f, const char *domain)
{
        vmsnap_snapshot_info *list = NULL;
        vmsnap_error error = {0};
        char *tree = NULL;
        size_t n = 0, size = 0;
        FILE *text = open_memstream(&tree, &size);

        assert_ok(vmsnap_snapshot_list(f->engine, domain, &list, &n, &error), &error);
        for (size_t i = 0; i < n; i++)
                fprintf(text, "%s %s <- %s%s\n", list[i].id, list[i].name, list[i].parent_id,
                        list[i].current ? " (current)" : "");
        fclose(text);
        vmsnap_snapshot_info_array_free(list, n);
        return tree;
}

/* The domain's ListDomains record as one line; "" when it is not listed. */
static char *listing_of(fixture *f, const char *uuid)
{
        vmsnap_domain_info *list = NULL;
        vmsnap_error error = {0};
        char *line = strdup("");
        size_t n = 0;

        assert_ok(vmsnap_domain_list(f->engine, &list, &n, &error), &error);
        for (size_t i = 0; i < n; i++)
                if (strcmp(list[i].uuid, uuid) == 0) {
                        free(line);
                        if (asprintf(&line,
                                     "name %s, defined %d, current \"%s\", in preview %d, %u snapshots",
                                     list[i].name, list[i].defined, list[i].current_snapshot,
                                     list[i].in_preview, list[i].snapshot_count) < 0)
                                abort();
                }
        vmsnap_domain_info_array_free(list, n);
        return line;
}

static char *listing_as_defined(const char *listing, bool defined)
{
        char *line = strdup(listing), *flag = strstr(line, "defined ");
        assert_non_null(flag);
        flag[strlen("defined ")] = defined ? '1' : '0';
        return line;
}

/* vmsnapd stopped (an upgrade) while an administrator edits a VM with virsh undefine and
 * define: the engine that starts meanwhile heard no event and finds the tree in its state
 * directory alone. The define of the saved XML brings back the tree, the current snapshot
 * and the preview, which undo then ends as if nothing had happened. */
static void
test_an_undefine_while_no_engine_runs_keeps_the_tree_current_and_preview_until_defined_again(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        char uuid[VIR_UUID_STRING_BUFLEN];

        write_all(f, "vm1", 1, 0x10);
        state_digest at_s1 = capture(f, "vm1");
        free(create(f, "vm1", "s1"));
        write_all(f, "vm1", 2, 0x20);
        free(create(f, "vm1", "s2"));
        write_all(f, "vm1", 3, 0x30);
        state_digest now = capture(f, "vm1");
        assert_ok(vmsnap_preview_start(f->engine, "vm1", "s1", NULL, NULL, &error), &error);
        virDomainPtr d = virDomainLookupByName(f->connection, "vm1");
        virDomainGetUUIDString(d, uuid);
        char *xml = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE);
        char *tree = tree_of(f, "vm1"), *listing = listing_of(f, uuid);
        size_t files = fixture_count_files(f, "vm1");
        assert_non_null(strstr(listing, "in preview 1, 2 snapshots"));

        vmsnap_engine_free(f->engine);
        f->engine = NULL;
        assert_int_equal(virDomainUndefineFlags(d, 0), 0);
        virDomainFree(d);
        assert_ok(vmsnap_engine_new(f->uri, f->state_dir, &f->engine, &error), &error);

        /* Listed as undefined with what it had (from the state directory alone); no file gone. */
        char *undefined = listing_of(f, uuid), *want_undefined = listing_as_defined(listing, false);
        assert_string_equal(undefined, want_undefined);
        assert_int_equal(fixture_count_files(f, "vm1"), files);

        d = virDomainDefineXML(f->connection, xml);
        assert_non_null(d);
        virDomainFree(d);
        char *defined = listing_of(f, uuid), *tree_again = tree_of(f, "vm1");
        assert_string_equal(defined, listing);
        assert_string_equal(tree_again, tree);
        /* Still previewing s1, and undo returns to the state the preview had set aside. */
        assert_reads(f, "vm1", &at_s1);
        assert_ok(vmsnap_preview_undo(f->engine, "vm1", NULL, &error), &error);
        assert_reads(f, "vm1", &now);
        fixture_assert_no_orphans(f, "vm1");
        free(xml);
        free(tree);
        free(listing);
        free(undefined);
        free(want_undefined);
        free(defined);
        free(tree_again);
        release(&at_s1);
        release(&now);
}

/* The undefine comes from the merge's own progress report, while qemu-img is halfway
 * through its work; it returns once the engine's watcher has heard of it. */
struct undefine_midway {
        fixture *f;
        watch_log *log;
        const char *uuid;
        bool undefined, heard;
        uint64_t done, total;
        char messages[4096];
};

static void undefine_during_the_merge(void *userdata, uint64_t done, uint64_t total)
{
        struct undefine_midway *m = userdata;

        if (m->undefined || done == 0 || done >= total)
                return;
        virDomainPtr d = virDomainLookupByUUIDString(m->f->connection, m->uuid);
        m->undefined = d && virDomainUndefineFlags(d, 0) == 0;
        if (d)
                virDomainFree(d);
        m->done = done;
        m->total = total;
        m->heard = m->undefined && heard(m->log, m->uuid);
}

static void note_message(void *userdata, const char *text)
{
        struct undefine_midway *m = userdata;
        strncat(m->messages, text, sizeof(m->messages) - strlen(m->messages) - 2);
        strncat(m->messages, "\n", sizeof(m->messages) - strlen(m->messages) - 1);
}

/* virsh undefine while a Delete (or DeleteAll) merges (libvirt asks nobody): the merge
 * completes, and does not define again a domain its administrator undefined; the tree
 * waits in the state directory, and the XML saved before, defined again, brings the
 * domain back on disks that read what they read, with every file it names still there.
 * listed: the domain's ListDomains record after the merge, but for "defined". */
static void undefine_during_a_merge(fixture *f, bool delete_all, const char *listed)
{
        vmsnap_error error = {0};
        watch_log *log = fresh_watch_log();
        struct undefine_midway midway = {.f = f, .log = log};
        vmsnap_hooks hooks = {
                .progress = undefine_during_the_merge, .message = note_message, .userdata = &midway};
        vmsnap_create_options s1 = {.name = "s1"}, s2 = {.name = "s2"};
        char dir[1100], a[1200], *devices, uuid[VIR_UUID_STRING_BUFLEN];

        /* a.qcow2 <- o1 (s2's frozen image, 48 MiB of data) <- o2 (active, 32 MiB): deleting s2
         * commits o2 down into o1, which copies less than pulling o1 up, and moves the disk
         * onto o1 (the define step); so does DeleteAll, which leaves the original and o1. */
        snprintf(dir, sizeof(dir), "%s/big", f->dir);
        mkdir(dir, 0755);
        snprintf(a, sizeof(a), "%s/a.qcow2", dir);
        test_qcow2_create(a, NULL, NULL, "64M");
        if (asprintf(&devices,
                     "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
                     "<target dev='vda' bus='virtio'/></disk>",
                     a) < 0)
                abort();
        fixture_define_domain(f, "big", devices);
        free(devices);
        test_qemu_io(a, "qcow2", "write -P 0x21 0 1M");
        assert_ok(vmsnap_snapshot_create(f->engine, "big", &s1, NULL, NULL, &error), &error);
        char *o1 = fixture_active_source(f, "big", "vda");
        test_qemu_io(o1, "qcow2", "write -P 0x31 0 48M");
        assert_ok(vmsnap_snapshot_create(f->engine, "big", &s2, NULL, NULL, &error), &error);
        char *o2 = fixture_active_source(f, "big", "vda");
        test_qemu_io(o2, "qcow2", "write -P 0x41 16M 32M");
        char *reads = fixture_active_digest(f, "big", "vda"), *s1_reads = test_image_digest(a);

        virDomainPtr d = virDomainLookupByName(f->connection, "big");
        virDomainGetUUIDString(d, uuid);
        char *xml = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE);
        virDomainFree(d);
        midway.uuid = uuid;
        assert_ok(vmsnap_engine_watch(f->engine, on_change, log, &error), &error);

        if (delete_all)
                assert_ok(vmsnap_snapshot_delete_all(f->engine, "big", NULL, &hooks, &error), &error);
        else
                assert_ok(
                        vmsnap_snapshot_delete(f->engine, "big", "s2", VMSNAP_DELETE_MERGE, &hooks, &error),
                        &error);
        if (!midway.undefined)
                fail_msg("the merge ended before the domain could be undefined during it");
        print_message("# undefined at %.0f %% of the merge\n",
                      100.0 * (double)midway.done / (double)midway.total);
        assert_true(midway.heard);
        /* Undefined it stays, listed with the tree the merge left. */
        d = virDomainLookupByUUIDString(f->connection, uuid);
        if (d) {
                virDomainFree(d);
                fail_msg("the merge defined again the domain that was undefined during it");
        }
        assert_non_null(strstr(midway.messages, "undefined during the merge"));
        char *listing = listing_of(f, uuid), *want_undefined = listing_as_defined(listed, false);
        assert_string_equal(listing, want_undefined);
        assert_true(access(o2, F_OK) == 0);

        /* Defined again from the saved XML: on o2, which reads through to the merged o1. */
        d = virDomainDefineXML(f->connection, xml);
        assert_non_null(d);
        virDomainFree(d);
        char *defined = listing_of(f, uuid), *after = fixture_active_digest(f, "big", "vda"),
             *s1_after = test_image_digest(a), *source = fixture_active_source(f, "big", "vda");
        assert_string_equal(defined, listed);
        assert_string_equal(source, o2);
        assert_int_equal(test_runf("qemu-img check -q %s", o2), 0);
        assert_string_equal(after, reads);
        assert_string_equal(s1_after, s1_reads);
        fixture_assert_no_orphans(f, "big");
        free(o1);
        free(o2);
        free(reads);
        free(s1_reads);
        free(xml);
        free(listing);
        free(want_undefined);
        free(defined);
        free(after);
        free(s1_after);
        free(source);
}

static void test_an_undefine_during_a_merge_keeps_the_tree_and_the_data_until_defined_again(void **state)
{
        undefine_during_a_merge(*state, false,
                                "name big, defined 1, current \"s1\", in preview 0, 1 snapshots");
}

static void test_an_undefine_during_a_delete_all_keeps_the_data_until_defined_again(void **state)
{
        undefine_during_a_merge(*state, true,
                                "name big, defined 1, current \"\", in preview 0, 0 snapshots");
}

/* virsh domrename, virt-manager and cockpit-machines rename through libvirt, which
 * announces it as an undefine and a define: the tree follows the UUID. */
static void test_a_libvirt_rename_keeps_the_tree_and_every_operation_works_under_the_new_name(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        watch_log *log = fresh_watch_log();
        vmsnap_snapshot_info *list = NULL;
        char uuid[VIR_UUID_STRING_BUFLEN];
        size_t n = 0;

        assert_ok(vmsnap_engine_watch(f->engine, on_change, log, &error), &error);
        virDomainPtr d = virDomainLookupByName(f->connection, "vm1");
        virDomainGetUUIDString(d, uuid);
        fixture_write(f, "vm1", "vda", 0, 0x31);
        free(create(f, "vm1", "s1"));
        fixture_write(f, "vm1", "vda", 1, 0x32);
        free(create(f, "vm1", "s2"));
        char *before = fixture_active_digest(f, "vm1", "vda");

        assert_int_equal(virDomainRename(d, "vm1-renamed", 0), 0);
        virDomainFree(d);
        assert_true(heard(log, uuid));
        assert_true(listed_as(f, uuid, "vm1-renamed", true, 2));
        assert_ok(vmsnap_snapshot_list(f->engine, "vm1-renamed", &list, &n, &error), &error);
        assert_int_equal(n, 2);
        vmsnap_snapshot_info_array_free(list, n);

        /* Changes work under the new name, and merges keep what the disk reads. */
        assert_ok(vmsnap_snapshot_delete(f->engine, "vm1-renamed", "s1", VMSNAP_DELETE_MERGE, NULL, &error),
                  &error);
        free(create(f, "vm1-renamed", "s3"));
        char *after = fixture_active_digest(f, "vm1-renamed", "vda");
        assert_string_equal(before, after);
        free(before);
        free(after);

        /* Back to the name the fixture knows (its images' directory, its teardown). */
        d = virDomainLookupByName(f->connection, "vm1-renamed");
        assert_int_equal(virDomainRename(d, "vm1", 0), 0);
        virDomainFree(d);
        assert_true(listed_as(f, uuid, "vm1", true, 2));
        fixture_assert_no_orphans(f, "vm1");
}

/* Reads take the domain's name, state and disks from what libvirt last said while the
 * engine watches; a change made behind vmsnap's back is seen by the first read after
 * its event, not up to the facts' maximum age later. */
static void test_reads_see_changes_made_behind_vmsnaps_back_at_once(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        watch_log *log = fresh_watch_log();
        vmsnap_snapshot_info info = {0};
        vmsnap_domain_info domain = {0};
        char uuid[VIR_UUID_STRING_BUFLEN];

        assert_ok(vmsnap_engine_watch(f->engine, on_change, log, &error), &error);
        virDomainPtr d = virDomainLookupByName(f->connection, "vm1");
        virDomainGetUUIDString(d, uuid);
        free(create(f, "vm1", "s1"));
        assert_true(heard(log, uuid));

        /* Read once, so that the facts are kept. */
        assert_ok(vmsnap_snapshot_get(f->engine, "vm1", "s1", &info, &error), &error);
        assert_false(info.partial);
        vmsnap_snapshot_info_clear(&info);
        assert_ok(vmsnap_domain_get(f->engine, uuid, &domain, &error), &error);
        assert_string_equal(domain.state, "shutoff");
        vmsnap_domain_info_clear(&domain);

        /* vdc detached from the persistent configuration: s1 becomes partial. */
        char *xml = fixture_domain_xml(f, "vm1");
        char *target = strstr(xml, "<target dev='vdc'");
        assert_non_null(target);
        char *begin = target, *end = strstr(target, "</disk>");
        while (begin > xml && strncmp(begin, "<disk ", 6) != 0)
                begin--;
        assert_non_null(end);
        memmove(begin, end + strlen("</disk>"), strlen(end + strlen("</disk>")) + 1);
        virDomainPtr redefined = virDomainDefineXML(f->connection, xml);
        assert_non_null(redefined);
        virDomainFree(redefined);
        free(xml);
        assert_true(heard(log, uuid));
        assert_ok(vmsnap_snapshot_get(f->engine, "vm1", "s1", &info, &error), &error);
        assert_true(info.partial);
        vmsnap_snapshot_info_clear(&info);

        /* Started: the domain reads as running. */
        assert_int_equal(virDomainCreate(d), 0);
        assert_true(heard(log, uuid));
        assert_ok(vmsnap_domain_get(f->engine, "vm1", &domain, &error), &error);
        assert_string_equal(domain.state, "running");
        vmsnap_domain_info_clear(&domain);
        assert_int_equal(virDomainDestroy(d), 0);
        assert_true(heard(log, uuid));
        assert_ok(vmsnap_domain_get(f->engine, "vm1", &domain, &error), &error);
        assert_string_equal(domain.state, "shutoff");
        vmsnap_domain_info_clear(&domain);
        virDomainFree(d);
}

/* The domain's <driver type> decides what a disk is, never its first bytes: a disk declared
 * qcow2 that is not one is refused with what to fix, before anything is written. */
static void test_create_refuses_a_disk_declared_qcow2_that_is_not(void **state)
{
        fixture *f = *state;
        vmsnap_create_options options = {.name = "s1"};
        vmsnap_error error = {0};
        char path[512], devices[1024];

        snprintf(path, sizeof(path), "%s/mislabeled", f->dir);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/mislabeled/plain.img", f->dir);
        test_raw_create(path, "1M");
        snprintf(devices, sizeof(devices),
                 "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
                 "<target dev='vda' bus='virtio'/></disk>",
                 path);
        fixture_define_domain(f, "mislabeled", devices);
        size_t files = fixture_count_files(f, "mislabeled");
        assert_int_equal(files, 1);
        assert_true(vmsnap_snapshot_create(f->engine, "mislabeled", &options, NULL, NULL, &error) < 0);
        assert_non_null(strstr(error.message, "qcow2 magic"));
        assert_non_null(strstr(error.message, "vda"));
        assert_int_equal(fixture_count_files(f, "mislabeled"), files);
        virDomainPtr d = virDomainLookupByName(f->connection, "mislabeled");
        virDomainUndefine(d);
        virDomainFree(d);
}

/* A snapshot records the configuration whole, secrets included, so that a revert restores
 * it; readers get it without them (reading is allowed to more people than changing). */
static void test_configuration_at_a_snapshot_hides_secrets_a_revert_restores(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        vmsnap_image_info *disks = NULL;
        size_t n = 0;
        char *xml = NULL, path[512], devices[1024];

        snprintf(path, sizeof(path), "%s/guarded", f->dir);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/guarded/disk.qcow2", f->dir);
        test_qcow2_create(path, NULL, NULL, "1M");
        snprintf(devices, sizeof(devices),
                 "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
                 "<target dev='vda' bus='virtio'/></disk>"
                 "<graphics type='vnc' port='-1' autoport='yes' passwd='s3cretPw'/>",
                 path);
        fixture_define_domain(f, "guarded", devices);
        free(create(f, "guarded", "s1"));

        assert_ok(vmsnap_snapshot_get_configuration(f->engine, "guarded", "s1", &xml, &disks, &n, &error),
                  &error);
        assert_non_null(strstr(xml, "<graphics"));
        assert_null(strstr(xml, "s3cretPw"));
        vmsnap_image_info_array_free(disks, n);
        free(xml);

        virDomainPtr d = virDomainLookupByName(f->connection, "guarded");
        assert_ok(vmsnap_snapshot_revert(f->engine, "guarded", "s1", NULL, NULL, &error), &error);
        xml = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE);
        assert_non_null(strstr(xml, "s3cretPw"));
        free(xml);
        virDomainUndefine(d);
        virDomainFree(d);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_engines_keep_their_libvirt_connection_while_idle),
                T(test_create_freezes_selected_disks_and_records_excluded_ones),
                T(test_create_refuses_bad_input_before_changing_anything),
                T(test_default_names_are_generated_and_unique),
                T(test_preview_shows_the_snapshot_and_undo_restores_the_current_state),
                T(test_custom_preview_takes_each_disk_from_its_snapshot),
                T(test_custom_preview_refuses_a_snapshot_without_the_disk),
                T(test_excluded_disk_keeps_its_current_state_in_preview),
                T(test_commit_drops_the_unsaved_state_and_keeps_every_snapshot),
                T(test_revert_returns_every_disk_to_the_snapshot),
                T(test_list_returns_the_tree_parents_first),
                T(test_delete_merge_keeps_what_every_other_state_reads),
                T(test_delete_merge_at_equal_bytes_commits_the_overlay_down),
                T(test_delete_merge_of_a_branch_point_keeps_both_branches),
                T(test_delete_children_removes_the_subtree_and_its_files),
                T(test_delete_children_only_removes_the_subtree_below_and_keeps_the_snapshot),
                T(test_delete_metadata_only_keeps_every_file),
                T(test_a_merge_never_writes_into_what_a_forgotten_image_reads),
                T(test_a_merge_never_removes_what_only_a_forgotten_image_reads),
                T(test_create_and_delete_are_refused_during_a_preview),
                T(test_rename_and_description_change_only_metadata),
                T(test_configuration_at_a_snapshot_names_its_frozen_images),
                T(test_configuration_now_lists_every_disk_and_whether_a_snapshot_can_include_it),
                T(test_configuration_now_gives_the_reason_create_would_give_for_each_disk),
                T(test_configuration_now_of_an_unknown_domain_is_not_found),
                T(test_domain_listing_reports_snapshot_state),
                T(test_watchers_hear_of_every_change_and_an_undefine_keeps_the_tree_until_defined_again),
                T(test_an_engine_starts_without_libvirt_and_connects_when_it_appears),
                T(test_an_undefine_while_no_engine_runs_keeps_the_tree_current_and_preview_until_defined_again),
                T(test_an_undefine_during_a_merge_keeps_the_tree_and_the_data_until_defined_again),
                T(test_an_undefine_during_a_delete_all_keeps_the_data_until_defined_again),
                T(test_a_libvirt_rename_keeps_the_tree_and_every_operation_works_under_the_new_name),
                T(test_reads_see_changes_made_behind_vmsnaps_back_at_once),
                T(test_create_refuses_a_disk_declared_qcow2_that_is_not),
                T(test_configuration_at_a_snapshot_hides_secrets_a_revert_restores),
        };
        /* VMSNAP_TEST_FILTER=test_an_undefine_* runs the matching cases only. */
        if (getenv("VMSNAP_TEST_FILTER"))
                cmocka_set_test_filter(getenv("VMSNAP_TEST_FILTER"));
        return cmocka_run_group_tests(tests, NULL, NULL);
}
