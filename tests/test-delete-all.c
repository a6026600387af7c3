/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-delete-all.c: DeleteAll removes every snapshot of a domain while every disk
 * reads exactly what it read before; each disk is left as its original plus at most
 * one vmsnap overlay (the lowest overlay takes the data above it, or the active one
 * the data below it when that writes clearly less), or as its original alone with
 * into_original, which is refused when another domain reads that original or an
 * image a metadata-only delete left is in the way. Real qcow2 and raw images on
 * libvirt's test driver. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "chain.h"
#include "fixture.h"
#include "testlib.h"

static const char *const writable[] = {"vda", "vdb", "vdc"};
#define N_WRITABLE 3

typedef struct messages {
        char text[4096];
} messages;

static void collect(void *userdata, const char *text)
{
        messages *m = userdata;
        strncat(m->text, text, sizeof(m->text) - strlen(m->text) - 2);
        strncat(m->text, "\n", sizeof(m->text) - strlen(m->text) - 1);
}

static void create_named(fixture *f, const char *name)
{
        vmsnap_create_options options = {.name = name};
        vmsnap_error error = {0};
        assert_ok(vmsnap_snapshot_create(f->engine, "vm", &options, NULL, NULL, &error), &error);
}

static void write_all(fixture *f, unsigned cluster, unsigned pattern)
{
        for (int i = 0; i < N_WRITABLE; i++)
                fixture_write(f, "vm", writable[i], cluster, pattern + (unsigned)i);
}

/* What the writable disks read, and what their original files hold. */
typedef struct disks_state {
        char *reads[N_WRITABLE];
        char *originals[N_WRITABLE];
} disks_state;

static void capture(fixture *f, char *const *original_paths, disks_state *s)
{
        for (int i = 0; i < N_WRITABLE; i++) {
                s->reads[i] = fixture_active_digest(f, "vm", writable[i]);
                s->originals[i] = test_image_digest(original_paths[i]);
        }
}

static void disks_state_clear(disks_state *s)
{
        for (int i = 0; i < N_WRITABLE; i++) {
                free(s->reads[i]);
                free(s->originals[i]);
        }
}

static int count_visit(const char *path, const vmsnap_image_header *header, unsigned depth, void *userdata)
{
        (*(unsigned *)userdata)++;
        return 0;
}

/* How many files the disk's chain has now. */
static unsigned chain_length(fixture *f, const char *target)
{
        char *source = fixture_active_source(f, "vm", target);
        vmsnap_error error = {0};
        unsigned n = 0;
        assert_ok(vmsnap_chain_walk(source, count_visit, &n, &error), &error);
        free(source);
        return n;
}

/* The image snapshot froze for target. */
static const char *frozen_image(const vmsnap_snapshot_info *snapshot, const char *target)
{
        for (size_t i = 0; i < snapshot->n_disks; i++)
                if (strcmp(snapshot->disks[i].target, target) == 0 && snapshot->disks[i].image)
                        return snapshot->disks[i].image;
        fail_msg("the snapshot has no image for %s", target);
        return NULL;
}

static size_t snapshot_count(fixture *f)
{
        vmsnap_snapshot_info *list = NULL;
        vmsnap_error error = {0};
        size_t n = 0;
        assert_ok(vmsnap_snapshot_list(f->engine, "vm", &list, &n, &error), &error);
        vmsnap_snapshot_info_array_free(list, n);
        return n;
}

typedef struct setup_state {
        fixture *f;
        char *originals[N_WRITABLE];
        size_t original_files;
} setup_state;

static int setup(void **state)
{
        setup_state *s = calloc(1, sizeof(*s));
        s->f = fixture_new();
        fixture_define_three_disk_domain(s->f, "vm");
        for (int i = 0; i < N_WRITABLE; i++)
                s->originals[i] = fixture_active_source(s->f, "vm", writable[i]);
        s->original_files = fixture_count_files(s->f, "vm");
        *state = s;
        return 0;
}

static int teardown(void **state)
{
        setup_state *s = *state;
        for (int i = 0; i < N_WRITABLE; i++)
                free(s->originals[i]);
        fixture_free(s->f);
        free(s);
        return 0;
}

/* root <- base <- {left, right}, the domain on right's branch. */
static void make_branched_tree(fixture *f)
{
        vmsnap_error error = {0};
        write_all(f, 0, 0x10);
        create_named(f, "root");
        write_all(f, 1, 0x20);
        create_named(f, "base");
        write_all(f, 2, 0x30);
        create_named(f, "left");
        write_all(f, 3, 0x40);
        assert_ok(vmsnap_snapshot_revert(f->engine, "vm", "base", NULL, NULL, &error), &error);
        write_all(f, 4, 0x50);
        create_named(f, "right");
        write_all(f, 5, 0x60);
}

static void assert_reads_as_before(fixture *f, const disks_state *before)
{
        for (int i = 0; i < N_WRITABLE; i++) {
                char *now = fixture_active_digest(f, "vm", writable[i]);
                if (strcmp(now, before->reads[i]) != 0)
                        fail_msg("disk %s reads other data than before the delete", writable[i]);
                free(now);
        }
}

static void test_delete_all_keeps_what_every_disk_reads_and_leaves_the_original_and_one_overlay(void **state)
{
        setup_state *s = *state;
        fixture *f = s->f;
        vmsnap_error error = {0};
        messages notes = {{0}};
        vmsnap_hooks hooks = {.message = collect, .userdata = &notes};
        disks_state before, after;

        make_branched_tree(f);
        capture(f, s->originals, &before);
        assert_ok(vmsnap_snapshot_delete_all(f->engine, "vm", NULL, &hooks, &error), &error);

        assert_int_equal(snapshot_count(f), 0);
        assert_reads_as_before(f, &before);
        capture(f, s->originals, &after);
        for (int i = 0; i < N_WRITABLE; i++) {
                assert_string_equal(after.originals[i], before.originals[i]); /* never written */
                assert_int_equal(chain_length(f, writable[i]), 2);
                char *source = fixture_active_source(f, "vm", writable[i]);
                assert_non_null(strstr(source, ".vmsnap-"));
                free(source);
                assert_non_null(strstr(notes.text, s->originals[i])); /* named as left in place */
        }
        assert_int_equal(fixture_count_files(f, "vm"), s->original_files + N_WRITABLE);
        fixture_assert_no_orphans(f, "vm");
        disks_state_clear(&before);
        disks_state_clear(&after);
}

static void test_delete_all_commits_down_when_the_lowest_overlay_holds_most(void **state)
{
        setup_state *s = *state;
        fixture *f = s->f;
        vmsnap_error error = {0};
        disks_state before;

        create_named(f, "s1");
        char *lowest = fixture_active_source(f, "vm", "vda");
        for (unsigned c = 0; c < 16; c++)
                write_all(f, c, 0x40 + c);
        create_named(f, "s2");
        write_all(f, 20, 0x60);
        create_named(f, "s3");
        write_all(f, 21, 0x70);
        capture(f, s->originals, &before);

        assert_ok(vmsnap_snapshot_delete_all(f->engine, "vm", NULL, NULL, &error), &error);
        assert_reads_as_before(f, &before);
        char *now = fixture_active_source(f, "vm", "vda");
        assert_string_equal(now, lowest); /* the heavy overlay stayed and took the rest */
        assert_int_equal(chain_length(f, "vda"), 2);
        fixture_assert_no_orphans(f, "vm");
        free(now);
        free(lowest);
        disks_state_clear(&before);
}

static void test_delete_all_pulls_when_the_active_overlay_holds_most(void **state)
{
        setup_state *s = *state;
        fixture *f = s->f;
        vmsnap_error error = {0};
        disks_state before;

        create_named(f, "s1");
        write_all(f, 0, 0x10);
        create_named(f, "s2");
        write_all(f, 1, 0x20);
        create_named(f, "s3");
        char *active = fixture_active_source(f, "vm", "vda");
        for (unsigned c = 0; c < 16; c++)
                write_all(f, c + 4, 0x40 + c);
        capture(f, s->originals, &before);

        assert_ok(vmsnap_snapshot_delete_all(f->engine, "vm", NULL, NULL, &error), &error);
        assert_reads_as_before(f, &before);
        char *now = fixture_active_source(f, "vm", "vda");
        assert_string_equal(now, active); /* the heavy active overlay took the data below it */
        assert_int_equal(chain_length(f, "vda"), 2);
        fixture_assert_no_orphans(f, "vm");
        free(now);
        free(active);
        disks_state_clear(&before);
}

/* Every overlay holds as much as the next: the pull would write about what the commit
 * does, and a commit moves bytes faster, so the lowest overlay takes the rest. */
static void test_delete_all_commits_down_when_the_costs_are_near_even(void **state)
{
        setup_state *s = *state;
        fixture *f = s->f;
        vmsnap_error error = {0};
        disks_state before;

        create_named(f, "s1");
        char *lowest = fixture_active_source(f, "vm", "vda");
        for (unsigned c = 0; c < 4; c++)
                write_all(f, c, 0x10 + c);
        create_named(f, "s2");
        for (unsigned c = 0; c < 4; c++)
                write_all(f, c + 4, 0x20 + c);
        create_named(f, "s3");
        for (unsigned c = 0; c < 4; c++)
                write_all(f, c + 8, 0x30 + c);
        capture(f, s->originals, &before);

        assert_ok(vmsnap_snapshot_delete_all(f->engine, "vm", NULL, NULL, &error), &error);
        assert_reads_as_before(f, &before);
        for (int i = 0; i < N_WRITABLE; i++)
                assert_int_equal(chain_length(f, writable[i]), 2);
        char *now = fixture_active_source(f, "vm", "vda");
        assert_string_equal(now, lowest);
        fixture_assert_no_orphans(f, "vm");
        free(now);
        free(lowest);
        disks_state_clear(&before);
}

static void test_delete_all_into_original_leaves_each_disk_one_file(void **state)
{
        setup_state *s = *state;
        fixture *f = s->f;
        vmsnap_error error = {0};
        vmsnap_delete_all_options options = {.into_original = true};
        disks_state before;

        make_branched_tree(f);
        capture(f, s->originals, &before);
        assert_ok(vmsnap_snapshot_delete_all(f->engine, "vm", &options, NULL, &error), &error);

        assert_int_equal(snapshot_count(f), 0);
        assert_reads_as_before(f, &before);
        for (int i = 0; i < N_WRITABLE; i++) {
                char *now = fixture_active_source(f, "vm", writable[i]);
                assert_string_equal(now, s->originals[i]);
                assert_int_equal(chain_length(f, writable[i]), 1);
                free(now);
        }
        assert_int_equal(fixture_count_files(f, "vm"), s->original_files);
        fixture_assert_no_orphans(f, "vm");
        disks_state_clear(&before);
}

static void test_delete_all_into_original_is_refused_when_another_domain_reads_the_original(void **state)
{
        setup_state *s = *state;
        fixture *f = s->f;
        vmsnap_error error = {0};
        vmsnap_delete_all_options options = {.into_original = true};
        char foreign[1024], devices[2048];
        disks_state before, after;

        make_branched_tree(f);
        /* Another domain runs on a linked clone of vda's original image. */
        snprintf(foreign, sizeof(foreign), "%s/foreign.qcow2", f->dir);
        test_qcow2_create(foreign, s->originals[0], "qcow2", FIXTURE_DISK_SIZE);
        snprintf(devices, sizeof(devices),
                 "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
                 "<target dev='vda' bus='virtio'/></disk>",
                 foreign);
        fixture_define_domain(f, "other", devices);
        char *other_reads = fixture_active_digest(f, "other", "vda");
        size_t files = fixture_count_files(f, "vm");
        capture(f, s->originals, &before);

        assert_int_equal(vmsnap_snapshot_delete_all(f->engine, "vm", &options, NULL, &error), -EBUSY);
        assert_int_equal(error.kind, VMSNAP_ERROR_INVALID_ARGUMENT);
        assert_non_null(strstr(error.message, s->originals[0]));
        assert_non_null(strstr(error.message, "another domain reads that image"));
        /* Nothing changed. */
        assert_int_equal(snapshot_count(f), 4);
        assert_int_equal(fixture_count_files(f, "vm"), files);
        assert_reads_as_before(f, &before);
        capture(f, s->originals, &after);
        for (int i = 0; i < N_WRITABLE; i++)
                assert_string_equal(after.originals[i], before.originals[i]);
        disks_state_clear(&after);

        /* Without into_original the original is only read: the delete goes through. */
        assert_ok(vmsnap_snapshot_delete_all(f->engine, "vm", NULL, NULL, &error), &error);
        assert_int_equal(snapshot_count(f), 0);
        assert_reads_as_before(f, &before);
        char *other_now = fixture_active_digest(f, "other", "vda");
        assert_string_equal(other_now, other_reads);
        capture(f, s->originals, &after);
        assert_string_equal(after.originals[0], before.originals[0]);
        free(other_now);
        free(other_reads);
        disks_state_clear(&before);
        disks_state_clear(&after);
}

/* root <- middle <- top, then middle forgotten: its images, which vmsnap made, stay in the
 * middle of each disk's chain, and are the administrator's now. */
static void test_delete_all_never_changes_an_image_a_metadata_only_delete_left(void **state)
{
        setup_state *s = *state;
        fixture *f = s->f;
        vmsnap_error error = {0};
        vmsnap_delete_all_options options = {.into_original = true};
        vmsnap_snapshot_info middle = {0};
        messages notes = {{0}};
        vmsnap_hooks hooks = {.message = collect, .userdata = &notes};
        char *forgotten[N_WRITABLE], *bytes[N_WRITABLE], *reads[N_WRITABLE];
        disks_state before, after;

        write_all(f, 0, 0x10);
        create_named(f, "root");
        write_all(f, 1, 0x20);
        create_named(f, "middle");
        write_all(f, 2, 0x30);
        create_named(f, "top");
        write_all(f, 3, 0x40);
        assert_ok(vmsnap_snapshot_get(f->engine, "vm", "middle", &middle, &error), &error);
        for (int i = 0; i < N_WRITABLE; i++) {
                forgotten[i] = strdup(frozen_image(&middle, writable[i]));
                bytes[i] = test_file_digest(forgotten[i]);
                reads[i] = test_image_digest(forgotten[i]);
        }
        assert_ok(
                vmsnap_snapshot_delete(f->engine, "vm", "middle", VMSNAP_DELETE_METADATA_ONLY, NULL, &error),
                &error);
        capture(f, s->originals, &before);

        /* Committing into the originals would go through them: refused, nothing changed. */
        assert_int_equal(vmsnap_snapshot_delete_all(f->engine, "vm", &options, NULL, &error), -EBUSY);
        assert_int_equal(error.kind, VMSNAP_ERROR_INVALID_ARGUMENT);
        assert_non_null(strstr(error.message, forgotten[0]));
        assert_non_null(strstr(error.message, "a metadata-only delete left to the administrator"));
        assert_int_equal(snapshot_count(f), 2);
        assert_reads_as_before(f, &before);

        /* Without into_original they stay below each disk, as they were. */
        assert_ok(vmsnap_snapshot_delete_all(f->engine, "vm", NULL, &hooks, &error), &error);
        assert_int_equal(snapshot_count(f), 0);
        assert_reads_as_before(f, &before);
        capture(f, s->originals, &after);
        for (int i = 0; i < N_WRITABLE; i++) {
                assert_string_equal(after.originals[i], before.originals[i]);
                assert_non_null(strstr(notes.text, forgotten[i]));
                char *bytes_now = test_file_digest(forgotten[i]),
                     *reads_now = test_image_digest(forgotten[i]);
                assert_string_equal(bytes_now, bytes[i]);
                assert_string_equal(reads_now, reads[i]);
                free(bytes_now);
                free(reads_now);
                free(forgotten[i]);
                free(bytes[i]);
                free(reads[i]);
        }
        fixture_assert_no_orphans(f, "vm");
        vmsnap_snapshot_info_clear(&middle);
        disks_state_clear(&before);
        disks_state_clear(&after);
}

static void test_delete_all_is_refused_during_a_preview(void **state)
{
        setup_state *s = *state;
        fixture *f = s->f;
        vmsnap_error error = {0};

        make_branched_tree(f);
        assert_ok(vmsnap_preview_start(f->engine, "vm", "left", NULL, NULL, &error), &error);
        size_t files = fixture_count_files(f, "vm");
        char *reads = fixture_active_digest(f, "vm", "vda");

        assert_true(vmsnap_snapshot_delete_all(f->engine, "vm", NULL, NULL, &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_IN_PREVIEW);
        assert_non_null(strstr(error.message, "previewing snapshot \"left\""));
        assert_int_equal(snapshot_count(f), 4);
        assert_int_equal(fixture_count_files(f, "vm"), files);
        char *now = fixture_active_digest(f, "vm", "vda");
        assert_string_equal(now, reads);
        free(now);
        free(reads);
}

static void test_delete_all_of_a_domain_without_snapshots_changes_nothing(void **state)
{
        setup_state *s = *state;
        fixture *f = s->f;
        vmsnap_error error = {0};
        messages notes = {{0}};
        vmsnap_hooks hooks = {.message = collect, .userdata = &notes};

        assert_ok(vmsnap_snapshot_delete_all(f->engine, "vm", NULL, &hooks, &error), &error);
        assert_non_null(strstr(notes.text, "has no snapshots: nothing was deleted"));
        assert_int_equal(fixture_count_files(f, "vm"), s->original_files);
        assert_int_equal(vmsnap_snapshot_delete_all(f->engine, "no-such-domain", NULL, NULL, &error),
                         -ENOENT);
        assert_int_equal(error.kind, VMSNAP_ERROR_NOT_FOUND);
        assert_non_null(strstr(error.message, "no-such-domain"));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_delete_all_keeps_what_every_disk_reads_and_leaves_the_original_and_one_overlay),
                T(test_delete_all_commits_down_when_the_lowest_overlay_holds_most),
                T(test_delete_all_pulls_when_the_active_overlay_holds_most),
                T(test_delete_all_commits_down_when_the_costs_are_near_even),
                T(test_delete_all_into_original_leaves_each_disk_one_file),
                T(test_delete_all_into_original_is_refused_when_another_domain_reads_the_original),
                T(test_delete_all_never_changes_an_image_a_metadata_only_delete_left),
                T(test_delete_all_is_refused_during_a_preview),
                T(test_delete_all_of_a_domain_without_snapshots_changes_nothing),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
