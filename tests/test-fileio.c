/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-fileio.c: the file-system primitives: atomic writes, exclusive creation
 * owned and moded like a template, removal that never follows a symlink, paths. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "error.h"
#include "fileio.h"
#include "testlib.h"

static char *path_in(const char *dir, const char *name)
{
        char *path;

        assert_true(asprintf(&path, "%s/%s", dir, name) >= 0);
        return path;
}

static void write_text(const char *path, const char *text)
{
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
}

static unsigned count_entries(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *entry;
        unsigned n = 0;

        assert_non_null(d);
        while ((entry = readdir(d)))
                if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

static mode_t mode_of(const char *path)
{
        struct stat st;

        assert_int_equal(lstat(path, &st), 0);
        return st.st_mode & 07777;
}

static void test_write_atomic_replaces_content_and_leaves_no_temp_file(void **state)
{
        const char *dir = *state;
        _cleanup_free_ char *path = path_in(dir, "metadata.json"), *data = NULL;
        vmsnap_error error = {0};
        size_t size;

        write_text(path, "old content that is longer than the new one\n");
        assert_int_equal(vmsnap_file_write_atomic(path, "new\n", 4, &error), 0);

        assert_int_equal(vmsnap_file_read_all(path, &data, &size, &error), 0);
        assert_int_equal(size, 4);
        assert_string_equal(data, "new\n");
        assert_int_equal(count_entries(dir), 1);
}

static void test_write_atomic_creates_file_with_mode_0600(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "private.json");
        vmsnap_error error = {0};
        mode_t old_umask = umask(0);

        assert_int_equal(vmsnap_file_write_atomic(path, "{}", 2, &error), 0);
        umask(old_umask);
        assert_int_equal(mode_of(path), 0600);
}

static void test_write_atomic_into_missing_directory_fails_with_sentence(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "missing/metadata.json");
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_file_write_atomic(path, "x", 1, &error), -ENOENT);
        assert_non_null(strstr(error.message, "missing"));
}

static void test_read_all_of_missing_file_is_not_found(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "absent"), *data = NULL;
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_file_read_all(path, &data, NULL, &error), -ENOENT);
        assert_int_equal(error.kind, VMSNAP_ERROR_NOT_FOUND);
        assert_non_null(strstr(error.message, path));
        assert_null(data);
}

static void test_read_all_reads_large_file_and_terminates_it(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "large"), *content = malloc(100001), *data = NULL;
        vmsnap_error error = {0};
        size_t size;

        assert_non_null(content);
        memset(content, 'x', 100000);
        content[100000] = '\0';
        write_text(path, content);

        assert_int_equal(vmsnap_file_read_all(path, &data, &size, &error), 0);
        assert_int_equal(size, 100000);
        assert_int_equal(data[100000], '\0');
        assert_memory_equal(data, content, 100000);
}

static void create_like_with_template_mode(const char *dir, mode_t template_mode, mode_t umask_value,
                                           mode_t expected)
{
        _cleanup_free_ char *template = path_in(dir, "template.qcow2"), *path = path_in(dir, "new.qcow2");
        vmsnap_error error = {0};
        mode_t old_umask;

        write_text(template, "");
        assert_int_equal(chmod(template, template_mode), 0);

        old_umask = umask(umask_value);
        assert_int_equal(vmsnap_file_create_like(path, template, &error), 0);
        umask(old_umask);

        assert_int_equal(mode_of(path), expected);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(unlink(template), 0);
}

static void test_create_like_copies_template_mode_0640(void **state)
{
        create_like_with_template_mode(*state, 0640, 022, 0640);
}

static void test_create_like_never_opens_mode_wider_than_template(void **state)
{
        create_like_with_template_mode(*state, 0600, 0, 0600);
        create_like_with_template_mode(*state, 0660, 0, 0660);
}

static void test_create_like_ignores_umask_that_would_narrow_mode(void **state)
{
        create_like_with_template_mode(*state, 0644, 077, 0644);
}

static void test_create_like_drops_execute_and_special_bits(void **state)
{
        create_like_with_template_mode(*state, 04755, 0, 0644);
}

static void test_create_like_copies_owner_and_group_when_root(void **state)
{
        _cleanup_free_ char *template = path_in(*state, "owned.qcow2"),
                            *path = path_in(*state, "copy.qcow2");
        vmsnap_error error = {0};
        struct stat st;

        if (geteuid() != 0)
                skip();

        write_text(template, "");
        assert_int_equal(chown(template, 4242, 4343), 0);
        assert_int_equal(vmsnap_file_create_like(path, template, &error), 0);

        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_uid, 4242);
        assert_int_equal(st.st_gid, 4343);
}

static void test_create_like_refuses_existing_file(void **state)
{
        _cleanup_free_ char *template = path_in(*state, "t"), *path = path_in(*state, "existing"),
                            *data = NULL;
        vmsnap_error error = {0};

        write_text(template, "");
        write_text(path, "keep me");

        assert_int_equal(vmsnap_file_create_like(path, template, &error), -EEXIST);
        assert_non_null(strstr(error.message, path));
        assert_int_equal(vmsnap_file_read_all(path, &data, NULL, &error), 0);
        assert_string_equal(data, "keep me");
}

static void test_create_like_refuses_symlink_and_creates_nothing_at_its_target(void **state)
{
        _cleanup_free_ char *template = path_in(*state, "t"), *path = path_in(*state, "link"),
                            *target = path_in(*state, "target");
        vmsnap_error error = {0};

        write_text(template, "");
        assert_int_equal(symlink(target, path), 0); /* dangling: following it would create target */

        assert_int_equal(vmsnap_file_create_like(path, template, &error), -EEXIST);
        assert_false(vmsnap_file_exists(target));
}

static void test_create_like_refuses_symlinked_directory(void **state)
{
        _cleanup_free_ char *template = path_in(*state, "t"), *real_dir = path_in(*state, "real"),
                            *link_dir = path_in(*state, "linked"), *path = path_in(*state, "linked/new"),
                            *through = path_in(*state, "real/new");
        vmsnap_error error = {0};

        write_text(template, "");
        assert_int_equal(mkdir(real_dir, 0755), 0);
        assert_int_equal(symlink(real_dir, link_dir), 0);

        assert_int_equal(vmsnap_file_create_like(path, template, &error), -ELOOP);
        assert_non_null(strstr(error.message, "symbolic link"));
        assert_false(vmsnap_file_exists(through));
}

static void test_create_like_with_missing_template_is_not_found(void **state)
{
        _cleanup_free_ char *template = path_in(*state, "absent"), *path = path_in(*state, "new");
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_file_create_like(path, template, &error), -ENOENT);
        assert_int_equal(error.kind, VMSNAP_ERROR_NOT_FOUND);
        assert_false(vmsnap_file_exists(path));
}

static void test_make_private_narrows_mode_to_0600_and_takes_ownership(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "vm.vmsnap-1234abcd.mem");
        vmsnap_error error = {0};
        struct stat st;

        write_text(path, "guest memory");
        assert_int_equal(chmod(path, 0664), 0);
        if (geteuid() == 0)
                assert_int_equal(chown(path, 4242, 4343), 0);

        assert_int_equal(vmsnap_file_make_private(path, &error), 0);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(st.st_uid, geteuid());
        assert_int_equal(st.st_gid, getegid());
}

static void test_make_private_refuses_a_symlink_and_leaves_its_target(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "link.mem"), *target = path_in(*state, "target");
        vmsnap_error error = {0};

        write_text(target, "");
        assert_int_equal(chmod(target, 0644), 0);
        assert_int_equal(symlink(target, path), 0);

        assert_true(vmsnap_file_make_private(path, &error) < 0);
        assert_non_null(strstr(error.message, path));
        assert_int_equal(mode_of(target), 0644);
}

static void test_remove_deletes_regular_file(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "overlay.qcow2");
        vmsnap_error error = {0};

        write_text(path, "");
        assert_int_equal(vmsnap_file_remove(path, &error), 0);
        assert_false(vmsnap_file_exists(path));
}

static void test_remove_of_missing_file_succeeds(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "absent");
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_file_remove(path, &error), 0);
        assert_int_equal(error.code, 0);
}

static void test_remove_refuses_symlink_and_keeps_link_and_target(void **state)
{
        _cleanup_free_ char *target = path_in(*state, "target"), *link = path_in(*state, "link");
        vmsnap_error error = {0};

        write_text(target, "");
        assert_int_equal(symlink(target, link), 0);

        assert_int_equal(vmsnap_file_remove(link, &error), -ELOOP);
        assert_non_null(strstr(error.message, "symbolic link"));
        assert_true(vmsnap_file_exists(link));
        assert_true(vmsnap_file_exists(target));
}

static void test_remove_refuses_directory(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "subdir");
        vmsnap_error error = {0};

        assert_int_equal(mkdir(path, 0755), 0);
        assert_int_equal(vmsnap_file_remove(path, &error), -EISDIR);
        assert_true(vmsnap_file_exists(path));
}

static void test_path_canonical_resolves_symlinks(void **state)
{
        _cleanup_free_ char *real_dir = path_in(*state, "real"), *link_dir = path_in(*state, "linked"),
                            *file = path_in(*state, "real/disk.qcow2"),
                            *through = path_in(*state, "linked/disk.qcow2"), *expected = NULL,
                            *resolved = NULL;
        vmsnap_error error = {0};

        assert_int_equal(mkdir(real_dir, 0755), 0);
        assert_int_equal(symlink(real_dir, link_dir), 0);
        write_text(file, "");
        expected = realpath(file, NULL);
        assert_non_null(expected);

        assert_int_equal(vmsnap_path_canonical(through, &resolved, &error), 0);
        assert_string_equal(resolved, expected);
}

static void test_path_canonical_of_missing_file_resolves_directory_and_keeps_name(void **state)
{
        _cleanup_free_ char *real_dir = path_in(*state, "real"), *link_dir = path_in(*state, "linked"),
                            *missing = path_in(*state, "linked/new.qcow2"), *expected = NULL,
                            *resolved_dir = NULL, *resolved = NULL;
        vmsnap_error error = {0};

        assert_int_equal(mkdir(real_dir, 0755), 0);
        assert_int_equal(symlink(real_dir, link_dir), 0);
        resolved_dir = realpath(real_dir, NULL);
        assert_non_null(resolved_dir);
        expected = path_in(resolved_dir, "new.qcow2");

        assert_int_equal(vmsnap_path_canonical(missing, &resolved, &error), 0);
        assert_string_equal(resolved, expected);
}

static void test_path_canonical_of_missing_directory_fails(void **state)
{
        _cleanup_free_ char *missing = path_in(*state, "no/such/file"), *resolved = NULL;
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_path_canonical(missing, &resolved, &error), -ENOENT);
        assert_null(resolved);
        assert_int_not_equal(error.message[0], '\0');
}

static void test_dir_ensure_creates_parents_and_private_last_directory(void **state)
{
        _cleanup_free_ char *parent = path_in(*state, "a"), *path = path_in(*state, "a/b/c");
        vmsnap_error error = {0};
        mode_t old_umask = umask(0);

        assert_int_equal(vmsnap_dir_ensure(path, &error), 0);
        umask(old_umask);
        assert_int_equal(mode_of(path), 0700);
        assert_int_equal(mode_of(parent), 0755);

        /* Again: an existing directory is fine. */
        assert_int_equal(vmsnap_dir_ensure(path, &error), 0);
}

static void test_dir_ensure_refuses_file_in_the_way(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "file");
        vmsnap_error error = {0};

        write_text(path, "");
        assert_int_equal(vmsnap_dir_ensure(path, &error), -ENOTDIR);
        assert_non_null(strstr(error.message, path));
}

static void test_dir_free_bytes_reports_space(void **state)
{
        vmsnap_error error = {0};
        uint64_t free_bytes = 0;

        assert_int_equal(vmsnap_dir_free_bytes(*state, &free_bytes, &error), 0);
        assert_true(free_bytes > 0);
}

static void test_dir_open_nofollow_refuses_every_symlinked_component(void **state)
{
        _cleanup_free_ char *real = path_in(*state, "real"), *inner = path_in(*state, "real/inner"),
                            *link = path_in(*state, "link"), *via = path_in(*state, "link/inner"),
                            *untidy = NULL, *normalized = NULL;
        vmsnap_error error = {0};
        int fd = -1;

        assert_int_equal(mkdir(real, 0755), 0);
        assert_int_equal(mkdir(inner, 0755), 0);
        assert_int_equal(symlink(real, link), 0);

        if (asprintf(&untidy, "%s//./inner/", real) < 0)
                abort();
        assert_int_equal(vmsnap_dir_open_nofollow(untidy, &fd, &normalized, &error), 0);
        assert_string_equal(normalized, inner);
        close(fd);

        assert_int_equal(vmsnap_dir_open_nofollow(via, &fd, NULL, &error), -ELOOP);
        assert_non_null(strstr(error.message, "symbolic link \"link\""));
        assert_int_equal(vmsnap_dir_open_nofollow(link, &fd, NULL, &error), -ELOOP);
        free(untidy);
        if (asprintf(&untidy, "%s/../real", inner) < 0)
                abort();
        assert_int_equal(vmsnap_dir_open_nofollow(untidy, &fd, NULL, &error), -EINVAL);
        assert_non_null(strstr(error.message, "\"..\""));
        assert_int_equal(vmsnap_dir_open_nofollow("relative", &fd, NULL, &error), -EINVAL);
}

static void test_dir_free_bytes_says_a_kernel_file_system_cannot_hold_images(void **state)
{
        vmsnap_error error = {0};
        uint64_t free_bytes = 0;

        assert_int_equal(vmsnap_dir_free_bytes("/proc", &free_bytes, &error), -EINVAL);
        assert_int_equal(error.kind, VMSNAP_ERROR_INVALID_ARGUMENT);
        assert_non_null(strstr(error.message, "/proc is on a proc file system"));
        assert_int_equal(vmsnap_dir_free_bytes("/sys", &free_bytes, &error), -EINVAL);
        assert_non_null(strstr(error.message, "sysfs"));
}

static void test_file_allocated_counts_blocks_and_is_zero_when_missing(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "data"), *missing = path_in(*state, "absent");
        char block[65536];
        FILE *f;

        memset(block, 'a', sizeof(block));
        f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fwrite(block, 1, sizeof(block), f), sizeof(block));
        assert_int_equal(fclose(f), 0);

        assert_true(vmsnap_file_allocated(path) >= 4096);
        assert_int_equal(vmsnap_file_allocated(missing), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_write_atomic_replaces_content_and_leaves_no_temp_file,
                                                test_tmpdir_setup, test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_write_atomic_creates_file_with_mode_0600,
                                                test_tmpdir_setup, test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_write_atomic_into_missing_directory_fails_with_sentence,
                                                test_tmpdir_setup, test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_read_all_of_missing_file_is_not_found,
                                                test_tmpdir_setup, test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_read_all_reads_large_file_and_terminates_it,
                                                test_tmpdir_setup, test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_create_like_copies_template_mode_0640,
                                                test_tmpdir_setup, test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_create_like_never_opens_mode_wider_than_template,
                                                test_tmpdir_setup, test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_create_like_ignores_umask_that_would_narrow_mode,
                                                test_tmpdir_setup, test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_create_like_drops_execute_and_special_bits,
                                                test_tmpdir_setup, test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_create_like_copies_owner_and_group_when_root,
                                                test_tmpdir_setup, test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_create_like_refuses_existing_file, test_tmpdir_setup,
                                                test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(
                        test_create_like_refuses_symlink_and_creates_nothing_at_its_target,
                        test_tmpdir_setup, test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_create_like_refuses_symlinked_directory,
                                                test_tmpdir_setup, test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_make_private_narrows_mode_to_0600_and_takes_ownership,
                                                test_tmpdir_setup, test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_make_private_refuses_a_symlink_and_leaves_its_target,
                                                test_tmpdir_setup, test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_create_like_with_missing_template_is_not_found,
                                                test_tmpdir_setup, test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_remove_deletes_regular_file, test_tmpdir_setup,
                                                test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_remove_of_missing_file_succeeds, test_tmpdir_setup,
                                                test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_remove_refuses_symlink_and_keeps_link_and_target,
                                                test_tmpdir_setup, test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_remove_refuses_directory, test_tmpdir_setup,
                                                test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_path_canonical_resolves_symlinks, test_tmpdir_setup,
                                                test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(
                        test_path_canonical_of_missing_file_resolves_directory_and_keeps_name,
                        test_tmpdir_setup, test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_path_canonical_of_missing_directory_fails,
                                                test_tmpdir_setup, test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_dir_ensure_creates_parents_and_private_last_directory,
                                                test_tmpdir_setup, test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_dir_ensure_refuses_file_in_the_way, test_tmpdir_setup,
                                                test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_dir_free_bytes_reports_space, test_tmpdir_setup,
                                                test_tmpdir_teardown),
                cmocka_unit_test(test_dir_free_bytes_says_a_kernel_file_system_cannot_hold_images),
                cmocka_unit_test_setup_teardown(test_dir_open_nofollow_refuses_every_symlinked_component,
                                                test_tmpdir_setup, test_tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_file_allocated_counts_blocks_and_is_zero_when_missing,
                                                test_tmpdir_setup, test_tmpdir_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
