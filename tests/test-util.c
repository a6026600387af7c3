/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-util.c: the helpers the engine, vmsnapd and vmsnapctl share (plugin/util.h)
 * and the model's one binary search by id. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model.h"
#include "testlib.h"
#include "util.h"

static void assert_dirname(const char *path, const char *expected)
{
        _cleanup_free_ char *dir = path_dirname(path);

        if (strcmp(dir, expected) != 0)
                fail_msg("the directory of \"%s\" came out as \"%s\", not \"%s\"", path, dir, expected);
}

static void test_path_dirname_takes_a_files_directory_as_dirname_does(void **state)
{
        assert_dirname("/var/lib/libvirt/images/vm.qcow2", "/var/lib/libvirt/images");
        assert_dirname("/vm.qcow2", "/");
        assert_dirname("vm.qcow2", ".");
        assert_dirname("images/vm.qcow2", "images");
        assert_dirname("./vm.qcow2", ".");
}

static void test_xstrdup_keeps_null_and_strempty_makes_it_empty(void **state)
{
        _cleanup_free_ char *copy = xstrdup("disk");
        _cleanup_free_ char *empty = xstrdup(strempty(NULL));

        assert_null(xstrdup(NULL));
        assert_string_equal(copy, "disk");
        assert_string_equal(empty, "");
}

static void test_xasprintf_formats(void **state)
{
        _cleanup_free_ char *text = xasprintf("%s-%03u", "snapshot", 7u);

        assert_string_equal(text, "snapshot-007");
}

static void test_strv_push_copies_and_keeps_the_vector_terminated(void **state)
{
        char **v = NULL;
        char name[] = "vda";

        strv_push(&v, name);
        strv_push(&v, NULL);
        name[2] = 'b';
        assert_int_equal(strv_length(v), 2);
        assert_string_equal(v[0], "vda");
        assert_string_equal(v[1], "");
        assert_null(v[2]);
        strv_free(v);
}

static void test_strv_copy_copies_each_string_and_takes_null_as_empty(void **state)
{
        char **v = NULL, **copy;

        strv_push(&v, "a");
        strv_push(&v, "b");
        copy = strv_copy(v);
        assert_int_equal(strv_length(copy), 2);
        assert_ptr_not_equal(copy[0], v[0]);
        assert_string_equal(copy[1], "b");
        assert_null(copy[2]);
        strv_free(v);
        assert_string_equal(copy[0], "a");
        strv_free(copy);

        copy = strv_copy(NULL);
        assert_non_null(copy);
        assert_int_equal(strv_length(copy), 0);
        strv_free(copy);
}

static void test_string_update_says_whether_the_value_changed(void **state)
{
        _cleanup_free_ char *field = NULL;

        assert_int_equal(string_update(&field, "running"), 1);
        assert_int_equal(string_update(&field, "running"), 0);
        assert_int_equal(string_update(&field, NULL), 1);
        assert_string_equal(field, "");
}

static void test_find_sorted_finds_every_id_and_no_other(void **state)
{
        static const char *const ids[] = {"c3", "a1", "e5", "b2", "d4"};
        vmsnap_domain_meta *meta = vmsnap_domain_meta_new("0b0e3d86-5a62-4b5e-9a3d-56f4c2b0a001", "vm");

        for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
                vmsnap_snapshot *s = vmsnap_snapshot_new();
                s->id = xstrdup(ids[i]);
                s->name = xasprintf("snapshot-%zu", i);
                vmsnap_domain_meta_add_snapshot(meta, s);
        }
        _cleanup_free_ size_t *by_id = vmsnap_domain_meta_sort_by_id(meta);

        for (size_t i = 0; i < meta->n_snapshots; i++) {
                size_t found = vmsnap_domain_meta_find_sorted(meta, by_id, meta->snapshots[i]->id);
                assert_int_equal(found, i);
        }
        assert_int_equal(vmsnap_domain_meta_find_sorted(meta, by_id, "a0"), SIZE_MAX);
        assert_int_equal(vmsnap_domain_meta_find_sorted(meta, by_id, "c"), SIZE_MAX);
        assert_int_equal(vmsnap_domain_meta_find_sorted(meta, by_id, "f6"), SIZE_MAX);
        assert_int_equal(vmsnap_domain_meta_find_sorted(meta, by_id, NULL), SIZE_MAX);
        vmsnap_domain_meta_free(meta);
}

static void test_find_sorted_in_an_empty_tree_finds_nothing(void **state)
{
        vmsnap_domain_meta *meta = vmsnap_domain_meta_new("0b0e3d86-5a62-4b5e-9a3d-56f4c2b0a002", "vm");
        _cleanup_free_ size_t *by_id = vmsnap_domain_meta_sort_by_id(meta);

        assert_int_equal(vmsnap_domain_meta_find_sorted(meta, by_id, "a1"), SIZE_MAX);
        vmsnap_domain_meta_free(meta);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_path_dirname_takes_a_files_directory_as_dirname_does),
                cmocka_unit_test(test_xstrdup_keeps_null_and_strempty_makes_it_empty),
                cmocka_unit_test(test_xasprintf_formats),
                cmocka_unit_test(test_strv_push_copies_and_keeps_the_vector_terminated),
                cmocka_unit_test(test_strv_copy_copies_each_string_and_takes_null_as_empty),
                cmocka_unit_test(test_string_update_says_whether_the_value_changed),
                cmocka_unit_test(test_find_sorted_finds_every_id_and_no_other),
                cmocka_unit_test(test_find_sorted_in_an_empty_tree_finds_nothing),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
