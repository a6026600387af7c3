/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-sizes.c: the sizes a listing gives to answer "what can I delete": each
 * snapshot's children, its size (the images it froze that vmsnap made) and its
 * reclaimable bytes, checked against the file system: a delete (pull, commit-down,
 * an image nothing reads, an original) frees what the listing said, within 1% or
 * 1 MiB (qcow2 metadata). And a domain's snapshot bytes. Real qcow2 chains on a
 * one-disk domain over libvirt's test driver. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <cmocka.h>

#include "fixture.h"
#include "testlib.h"

#define MiB (1024ULL * 1024)

typedef struct sized {
        fixture *f;
        char *dir;  /* the domain's images */
        char *base; /* its original image */
} sized;

static void write_active(sized *s, const char *command)
{
        char *source = fixture_active_source(s->f, "sz", "vda");
        test_qemu_io(source, "qcow2", command);
        free(source);
}

static void create(sized *s, const char *name)
{
        vmsnap_create_options options = {.name = name};
        vmsnap_error error = {0};
        assert_ok(vmsnap_snapshot_create(s->f->engine, "sz", &options, NULL, NULL, &error), &error);
}

static uint64_t allocated(const char *path)
{
        struct stat st;
        if (stat(path, &st) < 0)
                fail_msg("cannot stat %s", path);
        return (uint64_t)st.st_blocks * 512;
}

/* Allocated bytes of every image file of the domain, the original's with or without. */
static uint64_t dir_allocated(sized *s, bool with_base)
{
        DIR *dir = opendir(s->dir);
        struct dirent *entry;
        uint64_t total = 0;

        assert_non_null(dir);
        while ((entry = readdir(dir))) {
                char *path = test_path_in(s->dir, entry->d_name);
                struct stat st;
                if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (with_base || strcmp(path, s->base) != 0))
                        total += (uint64_t)st.st_blocks * 512;
                free(path);
        }
        closedir(dir);
        return total;
}

static vmsnap_snapshot_info get(sized *s, const char *name)
{
        vmsnap_snapshot_info info = {0};
        vmsnap_error error = {0};
        assert_ok(vmsnap_snapshot_get(s->f->engine, "sz", name, &info, &error), &error);
        return info;
}

/* a (freezes the original) -> b -> c -> {d, e}: b's merge is a pull (its child holds more
 * than it), e's a commit-down (its child, the active image, holds less), d's frozen image
 * is read by nothing (the leaf after it went at the revert), c has two children. */
static int setup(void **state)
{
        sized *s = calloc(1, sizeof(*s));
        vmsnap_error error = {0};
        char *devices;

        s->f = fixture_new();
        s->dir = test_path_in(s->f->dir, "sz");
        test_runf("mkdir -p %s", s->dir);
        s->base = test_path_in(s->dir, "base.qcow2");
        test_qcow2_create(s->base, NULL, NULL, "64M");
        test_qemu_io(s->base, "qcow2", "write -P 0x11 0 1M");
        if (asprintf(&devices,
                     "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                     "<source file='%s'/><target dev='vda' bus='virtio'/></disk>",
                     s->base) < 0)
                abort();
        fixture_define_domain(s->f, "sz", devices);
        free(devices);

        create(s, "a");
        write_active(s, "write -P 0x22 0 8M");
        create(s, "b");
        write_active(s, "write -P 0x33 4M 12M");
        create(s, "c");
        write_active(s, "write -P 0x44 16M 2M");
        create(s, "d");
        write_active(s, "write -P 0x45 40M 1M");
        assert_ok(vmsnap_snapshot_revert(s->f->engine, "sz", "c", NULL, NULL, &error), &error);
        write_active(s, "write -P 0x55 16M 12M");
        create(s, "e");
        write_active(s, "write -P 0x66 24M 8M");
        *state = s;
        return 0;
}

static int teardown(void **state)
{
        sized *s = *state;
        fixture_free(s->f);
        free(s->dir);
        free(s->base);
        free(s);
        return 0;
}

static void assert_frees_what_it_said(sized *s, const char *name)
{
        vmsnap_snapshot_info info = get(s, name);
        vmsnap_error error = {0};
        uint64_t before = dir_allocated(s, true), after;
        int64_t freed, said = (int64_t)info.reclaimable;

        assert_ok(vmsnap_snapshot_delete(s->f->engine, "sz", name, VMSNAP_DELETE_MERGE, NULL, &error),
                  &error);
        after = dir_allocated(s, true);
        freed = (int64_t)before - (int64_t)after;
        int64_t tolerance = freed / 100 > (int64_t)MiB ? freed / 100 : (int64_t)MiB;
        print_message("# %s: reclaimable %lld, freed %lld (size %llu)\n", name, (long long)said,
                      (long long)freed, (unsigned long long)info.size);
        if (llabs(said - freed) > tolerance)
                fail_msg("snapshot %s: reclaimable %lld bytes, but the delete freed %lld", name,
                         (long long)said, (long long)freed);
        vmsnap_snapshot_info_clear(&info);
}

static void test_listing_counts_each_snapshots_direct_children(void **state)
{
        sized *s = *state;
        vmsnap_snapshot_info *infos = NULL;
        vmsnap_error error = {0};
        size_t n = 0;
        const char *names[] = {"a", "b", "c", "d", "e"};
        const unsigned children[] = {1, 1, 2, 0, 0};

        assert_ok(vmsnap_snapshot_list(s->f->engine, "sz", &infos, &n, &error), &error);
        assert_int_equal(n, 5);
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < 5; k++)
                        if (strcmp(infos[i].name, names[k]) == 0 && infos[i].n_children != children[k])
                                fail_msg("snapshot %s has %zu children, expected %u", names[k],
                                         infos[i].n_children, children[k]);
        vmsnap_snapshot_info_array_free(infos, n);
}

static void test_size_is_the_allocation_of_the_frozen_images_vmsnap_made(void **state)
{
        sized *s = *state;
        vmsnap_snapshot_info *infos = NULL;
        vmsnap_error error = {0};
        size_t n = 0;

        assert_ok(vmsnap_snapshot_list(s->f->engine, "sz", &infos, &n, &error), &error);
        for (size_t i = 0; i < n; i++) {
                const char *image = infos[i].disks[0].image;
                /* a froze the original: vmsnap did not make it, it counts nothing. */
                uint64_t want = strcmp(image, s->base) == 0 ? 0 : allocated(image);
                if (infos[i].size != want)
                        fail_msg("snapshot %s: size %llu, its frozen image %s holds %llu", infos[i].name,
                                 (unsigned long long)infos[i].size, image, (unsigned long long)want);
                if (strcmp(infos[i].name, "a") == 0)
                        assert_true(allocated(s->base) >= MiB);
                else
                        assert_true(infos[i].size >= MiB);
        }
        vmsnap_snapshot_info_array_free(infos, n);
}

static void test_snapshot_bytes_is_the_allocation_of_every_file_vmsnap_made(void **state)
{
        sized *s = *state;
        vmsnap_domain_info info = {0};
        vmsnap_domain_info *all = NULL;
        vmsnap_error error = {0};
        size_t n = 0;
        uint64_t want = dir_allocated(s, false);

        assert_ok(vmsnap_domain_get(s->f->engine, "sz", &info, &error), &error);
        assert_true(want > 30 * MiB);
        assert_int_equal(info.snapshot_bytes, want);
        vmsnap_domain_info_clear(&info);
        assert_ok(vmsnap_domain_list(s->f->engine, &all, &n, &error), &error);
        for (size_t i = 0; i < n; i++)
                if (strcmp(all[i].name, "sz") == 0)
                        assert_int_equal(all[i].snapshot_bytes, want);
        vmsnap_domain_info_array_free(all, n);
}

static void test_reclaimable_of_a_branch_point_pulled_into_both_children_is_nothing(void **state)
{
        sized *s = *state;
        /* c's 12 MiB would be pulled into d's and e's images, which hold little of it. */
        vmsnap_snapshot_info c = get(s, "c");
        assert_true(c.size >= 12 * MiB);
        assert_int_equal(c.reclaimable, 0);
        vmsnap_snapshot_info_clear(&c);
}

static void test_reclaimable_is_what_a_pull_merge_frees(void **state)
{
        /* b: 8 MiB pulled into c's 12 MiB image, which holds 4 MiB of the same range. */
        assert_frees_what_it_said(*state, "b");
}

static void test_reclaimable_is_what_a_commit_down_frees(void **state)
{
        /* e: its child (the active image, 8 MiB) committed into e's 12 MiB, 4 MiB overlapping. */
        assert_frees_what_it_said(*state, "e");
}

static void test_reclaimable_of_an_image_nothing_reads_is_all_of_it(void **state)
{
        sized *s = *state;
        vmsnap_snapshot_info d = get(s, "d");
        assert_true(d.reclaimable >= 2 * MiB);
        vmsnap_snapshot_info_clear(&d);
        assert_frees_what_it_said(s, "d");
}

static void test_reclaimable_excludes_the_original_image(void **state)
{
        sized *s = *state;
        vmsnap_snapshot_info a = get(s, "a");
        assert_int_equal(a.size, 0);
        assert_int_equal(a.reclaimable, 0);
        vmsnap_snapshot_info_clear(&a);
        assert_frees_what_it_said(s, "a");
}

static uint64_t snapshot_bytes(sized *s)
{
        vmsnap_domain_info info = {0};
        vmsnap_error error = {0};
        assert_ok(vmsnap_domain_get(s->f->engine, "sz", &info, &error), &error);
        uint64_t bytes = info.snapshot_bytes;
        vmsnap_domain_info_clear(&info);
        return bytes;
}

/* Every record's size is its frozen image's allocation, as the files are now. */
static void assert_sizes_match_the_files(sized *s)
{
        vmsnap_snapshot_info *infos = NULL;
        vmsnap_error error = {0};
        size_t n = 0;

        assert_ok(vmsnap_snapshot_list(s->f->engine, "sz", &infos, &n, &error), &error);
        for (size_t i = 0; i < n; i++) {
                const char *image = infos[i].disks[0].image;
                uint64_t want = strcmp(image, s->base) == 0 ? 0 : allocated(image);
                if (infos[i].size != want)
                        fail_msg("snapshot %s: size %llu, its frozen image holds %llu", infos[i].name,
                                 (unsigned long long)infos[i].size, (unsigned long long)want);
        }
        vmsnap_snapshot_info_array_free(infos, n);
}

/* Listings keep what they measured while nothing changed; each change, vmsnap's own or a
 * write by another process (the guest), shows in the very next listing. */
static void test_sizes_follow_each_change_at_once(void **state)
{
        sized *s = *state;

        write_active(s, "write -P 0x77 0 8M");
        assert_sizes_match_the_files(s); /* measured, and kept */
        create(s, "fresh");
        assert_sizes_match_the_files(s);
        vmsnap_snapshot_info fresh = get(s, "fresh");
        assert_true(fresh.size >= 8 * MiB);
        /* Its child, the active image, holds nothing yet: a delete would free little. */
        assert_true(fresh.reclaimable < MiB);
        vmsnap_snapshot_info_clear(&fresh);
        uint64_t bytes_before = snapshot_bytes(s);

        /* The guest writes 8 MiB over what fresh holds: committed down, they would free 8 MiB. */
        write_active(s, "write -P 0x78 0 8M");
        assert_true(snapshot_bytes(s) >= bytes_before + 8 * MiB);
        fresh = get(s, "fresh");
        if (fresh.reclaimable < 7 * MiB)
                fail_msg("after the guest wrote 8 MiB, fresh's reclaimable is still %llu bytes",
                         (unsigned long long)fresh.reclaimable);
        vmsnap_snapshot_info_clear(&fresh);
        assert_frees_what_it_said(s, "fresh");
        assert_sizes_match_the_files(s);
        assert_int_equal(snapshot_bytes(s), dir_allocated(s, false));
}

/* Not a check: ListSnapshots' cost with sizes on a 50-snapshot chain, printed. */
static void test_listing_fifty_snapshots_stays_fast(void **state)
{
        sized *s = *state;
        char name[16];
        struct timespec t0, t1;
        vmsnap_error error = {0};

        for (int i = 0; i < 49; i++) {
                char command[64];
                snprintf(command, sizeof(command), "write -P 0x%02x %dM 512k", 0x70 + i, i);
                write_active(s, command);
                snprintf(name, sizeof(name), "l%d", i);
                create(s, name);
        }
        for (int round = 0; round < 2; round++) {
                vmsnap_snapshot_info *infos = NULL;
                size_t n = 0;
                const int calls = 20;
                clock_gettime(CLOCK_MONOTONIC, &t0);
                for (int i = 0; i < calls; i++) {
                        assert_ok(vmsnap_snapshot_list(s->f->engine, "sz", &infos, &n, &error), &error);
                        vmsnap_snapshot_info_array_free(infos, n);
                }
                clock_gettime(CLOCK_MONOTONIC, &t1);
                double ms =
                        ((double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6) /
                        calls;
                print_message("# ListSnapshots of %zu snapshots: %.2f ms per call (%s)\n", n, ms,
                              round == 0 ? "first calls" : "warm");
        }
}

int main(void)
{
        /* In this order: the deletes change the tree the later cases read. */
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_listing_counts_each_snapshots_direct_children),
                cmocka_unit_test(test_size_is_the_allocation_of_the_frozen_images_vmsnap_made),
                cmocka_unit_test(test_snapshot_bytes_is_the_allocation_of_every_file_vmsnap_made),
                cmocka_unit_test(test_reclaimable_of_a_branch_point_pulled_into_both_children_is_nothing),
                cmocka_unit_test(test_reclaimable_is_what_a_pull_merge_frees),
                cmocka_unit_test(test_reclaimable_is_what_a_commit_down_frees),
                cmocka_unit_test(test_reclaimable_of_an_image_nothing_reads_is_all_of_it),
                cmocka_unit_test(test_reclaimable_excludes_the_original_image),
                cmocka_unit_test(test_sizes_follow_each_change_at_once),
                cmocka_unit_test(test_listing_fifty_snapshots_stays_fast),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
