/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-path-set.c: the set of paths a walk marks, and canonical paths with each
 * directory resolved once: the same answer as realpath() for plain files,
 * missing files, symlinks (to files and to directories), "." and "..", and the
 * same refusal for a missing directory. */
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
#include "path-set.h"
#include "testlib.h"

static void touch(const char *dir, const char *name)
{
        char *path = test_path_in(dir, name);
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fclose(f), 0);
        free(path);
}

/* Both ways give the same path, or fail with the same code. */
static void assert_same_canonical(vmsnap_resolved_dirs *dirs, const char *path)
{
        char *whole = NULL, *in = NULL;
        vmsnap_error error = {0};
        int r_whole = vmsnap_path_canonical(path, &whole, &error);
        vmsnap_error_clear(&error);
        int r_in = vmsnap_path_canonical_in(dirs, path, &in, &error);
        vmsnap_error_clear(&error);
        if (r_whole != r_in)
                fail_msg("%s: %d resolved whole, %d with resolved directories", path, r_whole, r_in);
        if (r_whole == 0 && strcmp(whole, in) != 0)
                fail_msg("%s: %s resolved whole, %s with resolved directories", path, whole, in);
        free(whole);
        free(in);
}

static void test_canonical_in_resolved_directories_matches_realpath(void **state)
{
        const char *dir = *state;
        vmsnap_resolved_dirs dirs = {0};
        char path[4096];

        assert_int_equal(test_runf("mkdir -p %s/real/sub", dir), 0);
        touch(dir, "real/a.qcow2");
        touch(dir, "real/sub/b.qcow2");
        snprintf(path, sizeof(path), "%s/real", dir);
        char *link_dir = test_path_in(dir, "linked");
        assert_int_equal(symlink(path, link_dir), 0);
        snprintf(path, sizeof(path), "%s/real/sub/b.qcow2", dir);
        char *link_file = test_path_in(dir, "real/c.qcow2");
        assert_int_equal(symlink(path, link_file), 0);

        const char *names[] = {
                "real/a.qcow2",         /* a plain file */
                "linked/a.qcow2",       /* through a symlinked directory */
                "linked/./a.qcow2",     /* "." inside */
                "real/sub/../a.qcow2",  /* ".." inside */
                "real/c.qcow2",         /* a symlink to a file elsewhere */
                "linked/c.qcow2",       /* the same, through the linked directory */
                "real/missing.qcow2",   /* missing: the directory resolved, the name kept */
                "linked/missing.qcow2", /* missing, through the link */
                "nowhere/a.qcow2",      /* a missing directory: both refuse */
                "real/sub/..",          /* a name that is ".." */
                "real/.",               /* a name that is "." */
                "real/a.qcow2/x",       /* below a file: both refuse */
        };
        /* Twice: the second round answers from the directories resolved in the first. */
        for (int round = 0; round < 2; round++)
                for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
                        assert_same_canonical(&dirs, path);
                }
        assert_same_canonical(&dirs, "/");
        assert_same_canonical(&dirs, "relative.qcow2");
        vmsnap_resolved_dirs_clear(&dirs);
        free(link_dir);
        free(link_file);
}

static void test_path_set_holds_each_path_once_as_it_grows(void **state)
{
        vmsnap_path_set set = {0};
        char path[64];

        for (int i = 0; i < 3000; i++) {
                snprintf(path, sizeof(path), "/images/disk.vmsnap-%08x.qcow2", i * 2654435761u);
                assert_true(vmsnap_path_set_add(&set, strdup(path)));
        }
        assert_int_equal(set.n, 3000);
        for (int i = 0; i < 3000; i++) {
                snprintf(path, sizeof(path), "/images/disk.vmsnap-%08x.qcow2", i * 2654435761u);
                assert_true(vmsnap_path_set_contains(&set, path));
                assert_false(vmsnap_path_set_add(&set, strdup(path)));
                snprintf(path, sizeof(path), "/images/other.vmsnap-%08x.qcow2", i * 2654435761u);
                assert_false(vmsnap_path_set_contains(&set, path));
        }
        assert_int_equal(set.n, 3000);
        vmsnap_path_set_clear(&set);
        assert_false(vmsnap_path_set_contains(&set, "/images/disk.qcow2"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_canonical_in_resolved_directories_matches_realpath,
                                                test_tmpdir_setup, test_tmpdir_teardown),
                cmocka_unit_test(test_path_set_holds_each_path_once_as_it_grows),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
