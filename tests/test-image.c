/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-image.c: the changes image.c makes, checked by a real qemu-img. A new overlay,
 * which vmsnap writes itself, is a clean qcow2 that qemu reads through to its
 * backing file and writes into like one qemu-img made. A commit into
 * the backing file reads the same whether qemu-img opened the chain below it or
 * not, and it leaves that chain unopened only where no cluster of the target is
 * written in part (a part written alone would be filled from below, which is not
 * open: zeros instead of data). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "error.h"
#include "image.h"
#include "testlib.h"

typedef struct chain {
        char *dir;
        char *below; /* the base's own backing file, full of 0x11 */
        char *base;  /* 0x22 in 100-400 KiB, the rest read from below */
        char *top;
        char *expected; /* what top reads before the commit, as raw */
} chain;

static int setup(void **state)
{
        chain *c = calloc(1, sizeof(*c));
        c->dir = test_tmpdir_new();
        c->below = test_path_in(c->dir, "below.qcow2");
        c->base = test_path_in(c->dir, "base.qcow2");
        c->top = test_path_in(c->dir, "top.qcow2");
        c->expected = test_path_in(c->dir, "expected.raw");
        test_qcow2_create(c->below, NULL, NULL, "4M");
        test_qemu_io(c->below, "qcow2", "write -P 0x11 0 4M");
        test_qcow2_create(c->base, c->below, "qcow2", "4M");
        test_qemu_io(c->base, "qcow2", "write -P 0x22 100k 300k");
        *state = c;
        return 0;
}

static int teardown(void **state)
{
        chain *c = *state;
        test_tmpdir_remove(c->dir);
        free(c->dir);
        free(c->below);
        free(c->base);
        free(c->top);
        free(c->expected);
        free(c);
        return 0;
}

/* Makes top over base with options, writes into it what each test needs (parts of clusters
 * among them) and keeps what it reads as the expected content of base after the commit. */
static void make_top(chain *c, const char *options)
{
        test_image_create(c->top, options, c->base, "qcow2", "4M");
        test_qemu_io_all(c->top, "qcow2", "write -P 0x33 1000 5000", "write -z 2M 64k",
                         "write -P 0x44 3M 1k", NULL);
        assert_int_equal(test_runf("qemu-img convert -f qcow2 -O raw %s %s", c->top, c->expected), 0);
}

static void commit(chain *c)
{
        vmsnap_error error = {0};
        int r = vmsnap_image_commit(c->top, c->base, NULL, &error);
        if (r < 0)
                fail_msg("commit failed: %s", error.message);
        vmsnap_error_clear(&error);
        assert_true(test_images_equal(c->base, c->expected));
        assert_int_equal(test_runf("qemu-img check -q %s", c->base), 0);
}

/* Renames the file below base away for the commit, so that the commit can only succeed
 * if qemu-img never opens it. */
static void commit_without_below(chain *c)
{
        char *away = test_path_in(c->dir, "below-away.qcow2");
        assert_int_equal(rename(c->below, away), 0);
        vmsnap_error error = {0};
        int r = vmsnap_image_commit(c->top, c->base, NULL, &error);
        assert_int_equal(rename(away, c->below), 0);
        free(away);
        if (r < 0)
                fail_msg("the commit opened what lies below its target: %s", error.message);
        vmsnap_error_clear(&error);
        assert_true(test_images_equal(c->base, c->expected));
        assert_int_equal(test_runf("qemu-img check -q %s", c->base), 0);
}

static void test_commit_into_backing_file_opens_only_the_two_images(void **state)
{
        chain *c = *state;

        make_top(c, NULL);
        commit_without_below(c);
}

static void test_commit_from_smaller_clusters_reads_below_the_target(void **state)
{
        chain *c = *state;

        /* 4 KiB clusters of top write parts of base's 64 KiB clusters, whose rest must come
         * from below (0x11), not zeros. */
        make_top(c, "cluster_size=4096");
        commit(c);
}

static void test_commit_from_subclusters_reads_below_the_target(void **state)
{
        chain *c = *state;

        make_top(c, "extended_l2=on");
        commit(c);
}

static void test_commit_of_clusters_larger_than_its_pieces_opens_only_the_two_images(void **state)
{
        chain *c = *state;

        /* 128 KiB clusters, which qemu-img writes in 64 KiB pieces: the first piece of each
         * is filled from below (zeros, as nothing is open there), the second overwrites that. */
        test_image_create(c->base, "cluster_size=131072", c->below, "qcow2", "4M");
        test_qemu_io(c->base, "qcow2", "write -P 0x22 100k 300k");
        make_top(c, "cluster_size=131072");
        commit_without_below(c);
}

static void test_commit_of_a_shorter_image_reads_below_the_target(void **state)
{
        chain *c = *state;

        /* top ends 1 KiB into a cluster of base, whose rest base reads from below */
        test_image_create(c->top, NULL, c->base, "qcow2", "3073k");
        test_qemu_io(c->top, "qcow2", "write -P 0x33 3M 1k");
        assert_int_equal(test_runf("qemu-img convert -f qcow2 -O raw %s %s", c->base, c->expected), 0);
        test_qemu_io(c->expected, "raw", "write -P 0x33 3M 1k");
        commit(c);
}

static void test_commit_into_a_file_further_down_the_chain(void **state)
{
        chain *c = *state;
        char *middle = test_path_in(c->dir, "middle.qcow2");

        test_qcow2_create(middle, c->base, "qcow2", "4M");
        test_qemu_io(middle, "qcow2", "write -P 0x55 1M 100k");
        test_image_create(c->top, NULL, middle, "qcow2", "4M");
        test_qemu_io(c->top, "qcow2", "write -P 0x33 1000 5000");
        assert_int_equal(test_runf("qemu-img convert -f qcow2 -O raw %s %s", c->top, c->expected), 0);
        commit(c);
        free(middle);
}

static char *capture_info(const char *path)
{
        const char *argv[] = {"qemu-img", "info", "--output=json", path, NULL};
        char *info = test_capture(argv);
        assert_non_null(info);
        return info;
}

static void assert_overlay_of(const char *overlay, const char *backing, const char *format)
{
        char *info = capture_info(overlay), want[4200];

        assert_int_equal(test_runf("qemu-img check -q %s", overlay), 0);
        assert_true(test_images_equal(overlay, backing));
        snprintf(want, sizeof(want), "\"backing-filename\": \"%s\"", backing);
        if (!strstr(info, want))
                fail_msg("qemu-img info of %s lacks %s:\n%s", overlay, want, info);
        snprintf(want, sizeof(want), "\"backing-filename-format\": \"%s\"", format);
        if (!strstr(info, want))
                fail_msg("qemu-img info of %s lacks %s:\n%s", overlay, want, info);
        if (!strstr(info, "\"format\": \"qcow2\"") || !strstr(info, "\"compat\": \"1.1\""))
                fail_msg("%s is not a qcow2 version 3 image:\n%s", overlay, info);
        free(info);
}

static void test_overlay_reads_its_backing_file_and_takes_writes_as_qemu_img_would(void **state)
{
        chain *c = *state;
        vmsnap_error error = {0};
        char *made = test_path_in(c->dir, "made.qcow2"), *raw = test_path_in(c->dir, "disk.raw"),
             *over_raw = test_path_in(c->dir, "over-raw.qcow2");

        if (vmsnap_image_create_overlay(c->top, c->base, "qcow2", &error) < 0)
                fail_msg("%s", error.message);
        assert_overlay_of(c->top, c->base, "qcow2");
        /* Its virtual size is its backing file's, and it takes writes like one qemu-img made. */
        test_image_create(made, NULL, c->base, "qcow2", NULL);
        const char *const writes[] = {"write -P 0x66 0 4k", "write -P 0x67 1M 200k", "write -z 3M 64k",
                                      "write -P 0x68 4190208 4096"};
        test_qemu_io_list(c->top, "qcow2", writes, 4);
        test_qemu_io_list(made, "qcow2", writes, 4);
        assert_true(test_images_equal(c->top, made));
        assert_int_equal(test_runf("qemu-img check -q %s", c->top), 0);

        /* Over a raw disk, whose size is its file's. */
        test_raw_create(raw, "3M");
        test_qemu_io(raw, "raw", "write -P 0x71 0 3M");
        if (vmsnap_image_create_overlay(over_raw, raw, "raw", &error) < 0)
                fail_msg("%s", error.message);
        assert_overlay_of(over_raw, raw, "raw");

        /* A disk of 32 TiB: its L1 table spans clusters, and the file stays small, also where a
         * file cannot be as large as the disk (ext4 stops at 16 TiB). */
        char *large = test_path_in(c->dir, "large.qcow2"),
             *over_large = test_path_in(c->dir, "over-large.qcow2");
        test_qcow2_create(large, NULL, NULL, "32T");
        if (vmsnap_image_create_overlay(over_large, large, "qcow2", &error) < 0)
                fail_msg("%s", error.message);
        assert_int_equal(test_runf("qemu-img check -q %s", over_large), 0);
        test_qemu_io(over_large, "qcow2", "write -P 0x72 30T 64k");
        assert_int_equal(test_runf("qemu-img check -q %s", over_large), 0);
        struct stat st;
        assert_int_equal(stat(over_large, &st), 0);
        assert_true(st.st_size < 8 << 20);
        free(large);
        free(over_large);

        /* An overlay that is there already is never replaced. */
        assert_int_equal(vmsnap_image_create_overlay(over_raw, c->base, "qcow2", &error), -EEXIST);
        vmsnap_error_clear(&error);
        assert_overlay_of(over_raw, raw, "raw");
        free(made);
        free(raw);
        free(over_raw);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                TEST(test_overlay_reads_its_backing_file_and_takes_writes_as_qemu_img_would),
                TEST(test_commit_into_backing_file_opens_only_the_two_images),
                TEST(test_commit_from_smaller_clusters_reads_below_the_target),
                TEST(test_commit_from_subclusters_reads_below_the_target),
                TEST(test_commit_of_clusters_larger_than_its_pieces_opens_only_the_two_images),
                TEST(test_commit_of_a_shorter_image_reads_below_the_target),
                TEST(test_commit_into_a_file_further_down_the_chain),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
