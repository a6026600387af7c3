/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-recovery.c: a crash at any step of any operation is recovered. For every
 * operation the test first runs it through once to learn what it does, then
 * again from the same starting state with a simulated crash at step 1, 2, ...
 * (the engine stops dead, as a killed daemon would), restarts the engine and
 * checks: the operation was either rolled back or completed, every snapshot
 * reads what it read before, no file is orphaned, the domain points at
 * existing images and no unfinished intent remains. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "op.h"
#include "fileio.h"
#include "fixture.h"
#include "store.h"
#include "testlib.h"

static const char *const writable[] = {"vda", "vdb", "vdc"};

/* What the domain reads: the active disks and every snapshot, by content. */
typedef struct observed {
        bool in_preview;
        char *current;
        size_t files;
        char *active[3];
        char *names[32];
        char *contents[32]; /* digests of a snapshot's included disks, joined */
        size_t n;
} observed;

static void observe(fixture *f, observed *o)
{
        vmsnap_snapshot_info *list = NULL;
        vmsnap_error error = {0};
        size_t n = 0;

        vmsnap_domain_info info = {0};

        *o = (observed){0};
        assert_ok(vmsnap_domain_get(f->engine, "vm", &info, &error), &error);
        o->in_preview = info.in_preview;
        o->current = strdup(info.current_snapshot);
        vmsnap_domain_info_clear(&info);
        o->files = fixture_count_files(f, "vm");
        for (int i = 0; i < 3; i++)
                o->active[i] = fixture_active_digest(f, "vm", writable[i]);
        assert_ok(vmsnap_snapshot_list(f->engine, "vm", &list, &n, &error), &error);
        assert_true(n <= 32);
        for (size_t i = 0; i < n; i++) {
                char joined[1024] = "";
                for (size_t j = 0; j < list[i].n_disks; j++)
                        if (list[i].disks[j].image) {
                                char *d = test_image_digest(list[i].disks[j].image);
                                strncat(joined, d, sizeof(joined) - strlen(joined) - 2);
                                strncat(joined, " ", sizeof(joined) - strlen(joined) - 1);
                                free(d);
                        }
                o->names[i] = strdup(list[i].name);
                o->contents[i] = strdup(joined);
        }
        o->n = n;
        vmsnap_snapshot_info_array_free(list, n);
}

static void observed_clear(observed *o)
{
        free(o->current);
        for (int i = 0; i < 3; i++)
                free(o->active[i]);
        for (size_t i = 0; i < o->n; i++) {
                free(o->names[i]);
                free(o->contents[i]);
        }
}

static bool observed_equal(const observed *a, const observed *b)
{
        if (a->n != b->n || a->in_preview != b->in_preview || strcmp(a->current, b->current) != 0 ||
            a->files != b->files)
                return false;
        for (int i = 0; i < 3; i++)
                if (strcmp(a->active[i], b->active[i]) != 0)
                        return false;
        for (size_t i = 0; i < a->n; i++)
                if (strcmp(a->names[i], b->names[i]) != 0 || strcmp(a->contents[i], b->contents[i]) != 0)
                        return false;
        return true;
}

typedef struct scenario {
        const char *name;
        void (*prepare)(fixture *f);
        int (*run)(fixture *f, vmsnap_error *error);
} scenario;

static void create_named(fixture *f, const char *name)
{
        vmsnap_create_options options = {.name = name};
        vmsnap_error error = {0};
        assert_ok(vmsnap_snapshot_create(f->engine, "vm", &options, NULL, NULL, &error), &error);
}

static void write_all(fixture *f, unsigned cluster, unsigned pattern)
{
        for (int i = 0; i < 3; i++)
                fixture_write(f, "vm", writable[i], cluster, pattern + (unsigned)i);
}

static void prepare_one_snapshot(fixture *f)
{
        write_all(f, 0, 0x10);
        create_named(f, "s1");
        write_all(f, 1, 0x20);
}

static void prepare_in_preview(fixture *f)
{
        vmsnap_error error = {0};
        prepare_one_snapshot(f);
        assert_ok(vmsnap_preview_start(f->engine, "vm", "s1", NULL, NULL, &error), &error);
        write_all(f, 2, 0x30);
}

/* s1 <- s2 <- s3, where s2's frozen images hold much more than the next leaf: a
 * merge of s2 commits the child down. */
static void prepare_heavy_middle(fixture *f)
{
        write_all(f, 0, 0x10);
        create_named(f, "s1");
        for (unsigned c = 0; c < 12; c++)
                write_all(f, c, 0x40 + c);
        create_named(f, "s2");
        write_all(f, 20, 0x60);
        create_named(f, "s3");
        write_all(f, 21, 0x70);
}

/* The same shape with a light s2 and a heavy child: a merge of s2 pulls. */
static void prepare_light_middle(fixture *f)
{
        write_all(f, 0, 0x10);
        create_named(f, "s1");
        write_all(f, 1, 0x20);
        create_named(f, "s2");
        for (unsigned c = 0; c < 12; c++)
                write_all(f, c + 2, 0x40 + c);
        create_named(f, "s3");
        write_all(f, 21, 0x70);
}

static void prepare_branches(fixture *f)
{
        vmsnap_error error = {0};
        create_named(f, "root"); /* so that base freezes overlays vmsnap made, not the originals */
        write_all(f, 0, 0x10);
        create_named(f, "base");
        write_all(f, 1, 0x20);
        create_named(f, "left");
        assert_ok(vmsnap_snapshot_revert(f->engine, "vm", "base", NULL, NULL, &error), &error);
        write_all(f, 2, 0x30);
        create_named(f, "right");
        write_all(f, 3, 0x40);
}

/* s1 <- s2 <- s3 where vda's lowest overlay holds most (a delete-all commits it down)
 * and vdb's active one does (a delete-all pulls into it): both plans in one run. */
static void prepare_mixed_weights(fixture *f)
{
        write_all(f, 0, 0x10);
        create_named(f, "s1");
        for (unsigned c = 0; c < 8; c++)
                fixture_write(f, "vm", "vda", c + 1, 0x40 + c);
        write_all(f, 20, 0x20);
        create_named(f, "s2");
        write_all(f, 21, 0x30);
        create_named(f, "s3");
        for (unsigned c = 0; c < 8; c++)
                fixture_write(f, "vm", "vdb", c + 4, 0x50 + c);
}

static int run_create(fixture *f, vmsnap_error *error)
{
        vmsnap_create_options options = {.name = "new"};
        return vmsnap_snapshot_create(f->engine, "vm", &options, NULL, NULL, error);
}

static int run_preview(fixture *f, vmsnap_error *error)
{
        return vmsnap_preview_start(f->engine, "vm", "s1", NULL, NULL, error);
}

static int run_commit(fixture *f, vmsnap_error *error)
{
        return vmsnap_preview_commit(f->engine, "vm", NULL, error);
}

static int run_undo(fixture *f, vmsnap_error *error)
{
        return vmsnap_preview_undo(f->engine, "vm", NULL, error);
}

static int run_revert(fixture *f, vmsnap_error *error)
{
        return vmsnap_snapshot_revert(f->engine, "vm", "s1", NULL, NULL, error);
}

static int run_delete_middle(fixture *f, vmsnap_error *error)
{
        return vmsnap_snapshot_delete(f->engine, "vm", "s2", VMSNAP_DELETE_MERGE, NULL, error);
}

static int run_delete_base(fixture *f, vmsnap_error *error)
{
        return vmsnap_snapshot_delete(f->engine, "vm", "base", VMSNAP_DELETE_MERGE, NULL, error);
}

static int run_delete_left_subtree(fixture *f, vmsnap_error *error)
{
        return vmsnap_snapshot_delete(f->engine, "vm", "left", VMSNAP_DELETE_CHILDREN, NULL, error);
}

/* A delete-all of prepare_mixed_weights that, when it runs to the end, shows both plans:
 * vda now reads its lowest overlay (committed down), vdb still its active one (pulled into). */
static int run_delete_all_mixed(fixture *f, vmsnap_error *error)
{
        char *vda = fixture_active_source(f, "vm", "vda"), *vdb = fixture_active_source(f, "vm", "vdb");
        int r = vmsnap_snapshot_delete_all(f->engine, "vm", NULL, NULL, error);

        if (r == 0) {
                char *vda_after = fixture_active_source(f, "vm", "vda");
                char *vdb_after = fixture_active_source(f, "vm", "vdb");
                if (strcmp(vda, vda_after) == 0 || strcmp(vdb, vdb_after) != 0)
                        fail_msg("vda should be committed down (%s -> %s) and vdb pulled into (%s -> %s)",
                                 vda, vda_after, vdb, vdb_after);
                free(vda_after);
                free(vdb_after);
        }
        free(vda);
        free(vdb);
        return r;
}

static int run_delete_all_into_original(fixture *f, vmsnap_error *error)
{
        vmsnap_delete_all_options options = {.into_original = true};
        return vmsnap_snapshot_delete_all(f->engine, "vm", &options, NULL, error);
}

/* What the engine's log said during a restart: the decision and the end of a recovery. */
typedef struct recovery_log {
        unsigned decisions, completions;
} recovery_log;

static void on_engine_log(void *userdata, const char *text)
{
        recovery_log *log = userdata;

        if (strstr(text, "domain vm: the interrupted") &&
            (strstr(text, "rolling it back") || strstr(text, "finishing it")))
                log->decisions++;
        if (strstr(text, "domain vm: the interrupted operation is completed"))
                log->completions++;
}

/* Returns how many recoveries the engine's log reported (each with its decision and its end). */
static unsigned restart_engine(fixture *f)
{
        vmsnap_error error = {0};
        vmsnap_domain_info info = {0};
        recovery_log log = {0};

        vmsnap_engine_free(f->engine);
        vmsnap_failpoint_revive(); /* a failpoint may have killed the process: a new one starts */
        assert_ok(vmsnap_engine_new(f->uri, f->state_dir, &f->engine, &error), &error);
        vmsnap_engine_set_log(f->engine, on_engine_log, &log);
        /* The first look at the domain recovers it, outside any operation's hooks. */
        assert_ok(vmsnap_domain_get(f->engine, "vm", &info, &error), &error);
        vmsnap_domain_info_clear(&info);
        vmsnap_engine_set_log(f->engine, NULL, NULL);
        assert_int_equal(log.decisions, log.completions);
        return log.decisions;
}

static void assert_no_intent(fixture *f)
{
        vmsnap_domain_meta *meta = NULL;
        vmsnap_error error = {0};
        char uuid[VIR_UUID_STRING_BUFLEN];
        virDomainPtr d = virDomainLookupByName(f->connection, "vm");

        virDomainGetUUIDString(d, uuid);
        virDomainFree(d);
        assert_ok(vmsnap_store_load(f->state_dir, uuid, &meta, &error), &error);
        assert_null(meta->intent);
        vmsnap_domain_meta_free(meta);
}

static void assert_sources_exist(fixture *f)
{
        for (int i = 0; i < 3; i++) {
                char *source = fixture_active_source(f, "vm", writable[i]);
                if (!vmsnap_file_exists(source))
                        fail_msg("disk %s points at %s, which does not exist", writable[i], source);
                free(source);
        }
}

static void run_scenario(const scenario *s)
{
        observed before, after;
        unsigned crash_points, logged_recoveries = 0;

        /* A clean run tells what the operation does and how many steps it has. Every crash
         * starts from a copy of the state it started from, built once. */
        fixture *f = fixture_new();
        fixture_define_three_disk_domain(f, "vm");
        s->prepare(f);
        fixture_checkpoint *prepared = fixture_checkpoint_take(f);
        observe(f, &before);
        vmsnap_failpoint_arm(0);
        vmsnap_error error = {0};
        assert_ok(s->run(f, &error), &error);
        crash_points = vmsnap_failpoint_reached();
        observe(f, &after);
        assert_false(observed_equal(&before, &after));
        print_message("# %s: %u crash points\n", s->name, crash_points);
        assert_true(crash_points > 0);

        for (unsigned n = 1; n <= crash_points; n = test_next_crash_point(n, crash_points)) {
                observed now;
                fixture_checkpoint_restore(f, prepared);
                if (n == 1) {
                        /* The copy reads as the state it was taken from. */
                        observe(f, &now);
                        if (!observed_equal(&now, &before))
                                fail_msg("%s: the restored copy of the prepared state reads differently",
                                         s->name);
                        observed_clear(&now);
                }
                vmsnap_failpoint_arm(n);
                int r = s->run(f, &error);
                vmsnap_failpoint_arm(0);
                if (r >= 0)
                        fail_msg("%s: the crash at step %u did not happen", s->name, n);
                if (!strstr(error.message, "simulated crash"))
                        fail_msg("%s: step %u failed for another reason: %s", s->name, n, error.message);
                print_message("# %s: crash %u: %s\n", s->name, n, error.message);
                logged_recoveries += restart_engine(f);
                observe(f, &now);
                if (!observed_equal(&now, &before) && !observed_equal(&now, &after))
                        fail_msg("%s: after a crash at step %u and recovery the domain is neither as before "
                                 "nor "
                                 "as after the operation",
                                 s->name, n);
                assert_no_intent(f);
                assert_sources_exist(f);
                fixture_assert_no_orphans(f, "vm");
                observed_clear(&now);
        }
        fixture_free(f);
        fixture_checkpoint_free(prepared);
        observed_clear(&before);
        observed_clear(&after);
        /* A crash after the intent was written is recovered, and the log says so. */
        assert_true(logged_recoveries > 0);
}

#define SCENARIO_TEST(test_name, prepare, run)                                                              \
        static void test_name(void **state)                                                                 \
        {                                                                                                   \
                static const scenario s = {#test_name, prepare, run};                                       \
                run_scenario(&s);                                                                           \
        }

SCENARIO_TEST(test_crash_during_create_is_recovered, prepare_one_snapshot, run_create)
SCENARIO_TEST(test_crash_during_preview_is_recovered, prepare_one_snapshot, run_preview)
SCENARIO_TEST(test_crash_during_commit_is_recovered, prepare_in_preview, run_commit)
SCENARIO_TEST(test_crash_during_undo_is_recovered, prepare_in_preview, run_undo)
SCENARIO_TEST(test_crash_during_revert_is_recovered, prepare_one_snapshot, run_revert)
SCENARIO_TEST(test_crash_during_merge_by_commit_down_is_recovered, prepare_heavy_middle, run_delete_middle)
SCENARIO_TEST(test_crash_during_merge_by_pull_is_recovered, prepare_light_middle, run_delete_middle)
SCENARIO_TEST(test_crash_during_merge_of_a_branch_point_is_recovered, prepare_branches, run_delete_base)
SCENARIO_TEST(test_crash_during_delete_with_children_is_recovered, prepare_branches, run_delete_left_subtree)
SCENARIO_TEST(test_crash_during_delete_all_by_commit_down_and_by_pull_is_recovered, prepare_mixed_weights,
              run_delete_all_mixed)
SCENARIO_TEST(test_crash_during_delete_all_into_original_is_recovered, prepare_branches,
              run_delete_all_into_original)

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_crash_during_create_is_recovered),
                cmocka_unit_test(test_crash_during_preview_is_recovered),
                cmocka_unit_test(test_crash_during_commit_is_recovered),
                cmocka_unit_test(test_crash_during_undo_is_recovered),
                cmocka_unit_test(test_crash_during_revert_is_recovered),
                cmocka_unit_test(test_crash_during_merge_by_commit_down_is_recovered),
                cmocka_unit_test(test_crash_during_merge_by_pull_is_recovered),
                cmocka_unit_test(test_crash_during_merge_of_a_branch_point_is_recovered),
                cmocka_unit_test(test_crash_during_delete_with_children_is_recovered),
                cmocka_unit_test(test_crash_during_delete_all_by_commit_down_and_by_pull_is_recovered),
                cmocka_unit_test(test_crash_during_delete_all_into_original_is_recovered),
        };
        /* VMSNAP_TEST_FILTER=*delete_all* runs the matching scenarios only. */
        if (getenv("VMSNAP_TEST_FILTER"))
                cmocka_set_test_filter(getenv("VMSNAP_TEST_FILTER"));
        return cmocka_run_group_tests(tests, NULL, NULL);
}
