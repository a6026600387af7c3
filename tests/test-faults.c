/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-faults.c: every child an operation runs can be SIGKILLed at any instant, as
 * the OOM killer would, and sometimes the daemon with it. For each operation the
 * test first runs it once, watching its children, to learn how many it starts and
 * how long each lives; then, from the same starting state, it kills one of them
 * at a seeded random moment of its life, trial after trial. In every third trial
 * the engine dies at the same instant (failpoint.h: from then on nothing it does
 * reaches the disk or libvirt, as after a real SIGKILL) and a new engine recovers
 * the domain. Operations that start no child (commit, undo, clone) are killed
 * themselves at a random moment. After every trial: the domain is exactly as
 * before or as after the operation (every snapshot's content, the current disks,
 * the files), no intent is left, no file is orphaned, every qcow2 passes
 * qemu-img check, and the operation's result tells the truth (success only when
 * the domain is as after, failure only when it is as before).
 *
 * VMSNAP_FAULT_TRIALS sets the kills per operation (default 30), VMSNAP_FAULT_SEED
 * the seed (printed, so a failure can be replayed), VMSNAP_FAULT_ONLY a pattern of
 * the tests to run (e.g. "*merge*"). */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "failpoint.h"
#include "fileio.h"
#include "fixture.h"
#include "store.h"
#include "testlib.h"

#define MAX_CHILDREN 32
#define MAX_SNAPSHOTS 16
#define MAX_DISKS 3

static uint64_t seed_state;

static uint64_t random_next(void)
{
        /* xorshift64*: reproducible from the printed seed on any machine. */
        seed_state ^= seed_state >> 12;
        seed_state ^= seed_state << 25;
        seed_state ^= seed_state >> 27;
        return seed_state * 2685821657736338717ULL;
}

static uint64_t random_below(uint64_t bound)
{
        return bound ? random_next() % bound : 0;
}

static uint64_t now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static unsigned trials_per_operation(void)
{
        /* The build's default (meson sets it per build) yields to the caller's choice. */
        const char *value = getenv("VMSNAP_FAULT_TRIALS");
        if (!value || atoi(value) <= 0)
                value = getenv("VMSNAP_FAULT_TRIALS_DEFAULT");
        return value && atoi(value) > 0 ? (unsigned)atoi(value) : 30;
}

/* ---- the killer: a thread that watches this process's children ---- */

typedef struct killer {
        pthread_t thread;
        atomic_bool stop;
        /* The plan. */
        bool observe_only;
        unsigned target_child; /* 1-based; 0: kill the engine itself, delay_us after the start */
        uint64_t delay_us;
        bool engine_too;
        /* What happened. */
        unsigned children_seen;
        pid_t pids[MAX_CHILDREN];
        char names[MAX_CHILDREN][16];
        uint64_t born_us[MAX_CHILDREN], lifetime_us[MAX_CHILDREN];
        uint64_t started_us, ended_us;
        bool killed_child, killed_engine;
        char killed_name[16];
} killer;

/* The children of this process that are alive now (not zombies), by reading /proc. */
static size_t live_children(pid_t *pids, char (*names)[16], size_t max)
{
        pid_t self = getpid();
        DIR *proc = opendir("/proc");
        struct dirent *e;
        size_t n = 0;

        if (!proc)
                return 0;
        while ((e = readdir(proc)) && n < max) {
                char path[300], line[512], state;
                int ppid;
                FILE *stat_file;
                char *close_paren, *open_paren;

                if (e->d_name[0] < '0' || e->d_name[0] > '9')
                        continue;
                snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
                stat_file = fopen(path, "re");
                if (!stat_file)
                        continue;
                if (!fgets(line, sizeof(line), stat_file)) {
                        fclose(stat_file);
                        continue;
                }
                fclose(stat_file);
                open_paren = strchr(line, '(');
                close_paren = strrchr(line, ')');
                if (!open_paren || !close_paren || sscanf(close_paren + 2, "%c %d", &state, &ppid) != 2)
                        continue;
                if (ppid != self || state == 'Z')
                        continue;
                pids[n] = atoi(e->d_name);
                snprintf(names[n], 16, "%.*s", (int)(close_paren - open_paren - 1), open_paren + 1);
                n++;
        }
        closedir(proc);
        return n;
}

static int seen_index(const killer *k, pid_t pid)
{
        for (unsigned i = 0; i < k->children_seen; i++)
                if (k->pids[i] == pid)
                        return (int)i;
        return -1;
}

static void *killer_run(void *userdata)
{
        killer *k = userdata;
        bool acted = k->observe_only;

        /* The engine alone dies at its moment, however long a look at /proc takes. */
        if (!acted && k->target_child == 0) {
                while (!atomic_load(&k->stop) && now_us() - k->started_us < k->delay_us)
                        usleep(100);
                if (!atomic_load(&k->stop)) {
                        vmsnap_failpoint_die();
                        k->killed_engine = true;
                }
                return NULL;
        }
        while (!atomic_load(&k->stop)) {
                pid_t pids[64];
                char names[64][16];
                size_t n = live_children(pids, names, 64);
                uint64_t now = now_us();

                for (size_t i = 0; i < n; i++) {
                        int j = seen_index(k, pids[i]);
                        if (j < 0 && k->children_seen < MAX_CHILDREN) {
                                j = (int)k->children_seen++;
                                k->pids[j] = pids[i];
                                k->born_us[j] = now;
                        }
                        /* A child is this program until it has called execve(). */
                        if (j >= 0)
                                memcpy(k->names[j], names[i], 16);
                }
                for (unsigned j = 0; j < k->children_seen; j++) {
                        bool alive = false;
                        for (size_t i = 0; i < n; i++)
                                alive = alive || pids[i] == k->pids[j];
                        if (!alive && !k->lifetime_us[j])
                                k->lifetime_us[j] = now - k->born_us[j] + 1;
                }
                if (!acted && k->children_seen >= k->target_child &&
                    now - k->born_us[k->target_child - 1] >= k->delay_us) {
                        unsigned j = k->target_child - 1;
                        /* The engine first, so that nothing it does after its child died counts. */
                        if (k->engine_too) {
                                vmsnap_failpoint_die();
                                k->killed_engine = true;
                        }
                        if (!k->lifetime_us[j] && kill(k->pids[j], SIGKILL) == 0) {
                                k->killed_child = true;
                                memcpy(k->killed_name, k->names[j], 16);
                        }
                        acted = true;
                }
                usleep(500);
        }
        return NULL;
}

static void killer_start(killer *k)
{
        atomic_store(&k->stop, false);
        k->started_us = now_us();
        assert_int_equal(pthread_create(&k->thread, NULL, killer_run, k), 0);
}

static void killer_stop(killer *k)
{
        k->ended_us = now_us();
        atomic_store(&k->stop, true);
        assert_int_equal(pthread_join(k->thread, NULL), 0);
}

/* ---- what a domain reads ---- */

typedef struct observed {
        bool in_preview, copy_defined;
        char *current;
        size_t files;
        char *active[MAX_DISKS], *copy[MAX_DISKS];
        char *names[MAX_SNAPSHOTS], *contents[MAX_SNAPSHOTS];
        size_t n;
} observed;

typedef struct scenario {
        const char *name;
        const char *const *targets; /* the writable disks, NULL-terminated */
        void (*define)(fixture *f);
        void (*prepare)(fixture *f);
        int (*run)(fixture *f, vmsnap_error *error);
} scenario;

static bool domain_defined(fixture *f, const char *name)
{
        virDomainPtr d = virDomainLookupByName(f->connection, name);
        if (d)
                virDomainFree(d);
        return d != NULL;
}

static void observe(fixture *f, const scenario *s, observed *o)
{
        vmsnap_snapshot_info *list = NULL;
        vmsnap_domain_info info = {0};
        vmsnap_error error = {0};
        size_t n = 0;

        *o = (observed){0};
        assert_ok(vmsnap_domain_get(f->engine, "vm", &info, &error), &error);
        o->in_preview = info.in_preview;
        o->current = strdup(info.current_snapshot);
        vmsnap_domain_info_clear(&info);
        o->files = fixture_count_files(f, "vm");
        for (size_t i = 0; s->targets[i]; i++)
                o->active[i] = fixture_active_digest(f, "vm", s->targets[i]);
        o->copy_defined = domain_defined(f, "vm-copy");
        for (size_t i = 0; o->copy_defined && s->targets[i]; i++)
                o->copy[i] = fixture_active_digest(f, "vm-copy", s->targets[i]);
        assert_ok(vmsnap_snapshot_list(f->engine, "vm", &list, &n, &error), &error);
        assert_true(n <= MAX_SNAPSHOTS);
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
        for (int i = 0; i < MAX_DISKS; i++) {
                free(o->active[i]);
                free(o->copy[i]);
        }
        for (size_t i = 0; i < o->n; i++) {
                free(o->names[i]);
                free(o->contents[i]);
        }
}

static bool same_string(const char *a, const char *b)
{
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool observed_equal(const observed *a, const observed *b)
{
        if (a->n != b->n || a->in_preview != b->in_preview || !same_string(a->current, b->current) ||
            a->files != b->files || a->copy_defined != b->copy_defined)
                return false;
        for (int i = 0; i < MAX_DISKS; i++)
                if (!same_string(a->active[i], b->active[i]) || !same_string(a->copy[i], b->copy[i]))
                        return false;
        for (size_t i = 0; i < a->n; i++)
                if (strcmp(a->names[i], b->names[i]) != 0 || strcmp(a->contents[i], b->contents[i]) != 0)
                        return false;
        return true;
}

static void describe(const char *label, const observed *o)
{
        print_message("#   %s: %zu snapshots, current '%s', %s, %zu files, copy %s\n", label, o->n,
                      o->current, o->in_preview ? "in preview" : "not in preview", o->files,
                      o->copy_defined ? "defined" : "absent");
}

/* ---- the domains and their histories ---- */

static const char *const three_disks[] = {"vda", "vdb", "vdc", NULL};
static const char *const one_disk[] = {"vda", NULL};

static void define_three_disks(fixture *f)
{
        fixture_define_three_disk_domain(f, "vm");
}

/* One qcow2 disk big enough that a merge's qemu-img runs for tens of milliseconds. */
static void define_big_disk(fixture *f)
{
        char *dir = test_path_in(f->dir, "vm"), *image = test_path_in(dir, "big.qcow2"), devices[1024];

        mkdir(dir, 0755);
        test_qcow2_create(image, NULL, NULL, "32M");
        snprintf(devices, sizeof(devices),
                 "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/>"
                 "<target dev='vda' bus='virtio'/></disk>",
                 image);
        fixture_define_domain(f, "vm", devices);
        free(image);
        free(dir);
}

static void create_named(fixture *f, const char *name)
{
        vmsnap_create_options options = {.name = name};
        vmsnap_error error = {0};
        assert_ok(vmsnap_snapshot_create(f->engine, "vm", &options, NULL, NULL, &error), &error);
}

static void write_three(fixture *f, unsigned cluster, unsigned pattern)
{
        for (int i = 0; i < 3; i++)
                fixture_write(f, "vm", three_disks[i], cluster, pattern + (unsigned)i);
}

static void write_big(fixture *f, const char *command)
{
        char *source = fixture_active_source(f, "vm", "vda");
        test_qemu_io(source, "qcow2", command);
        free(source);
}

static void prepare_one_snapshot(fixture *f)
{
        write_three(f, 0, 0x10);
        create_named(f, "s1");
        write_three(f, 1, 0x20);
}

static void prepare_in_preview(fixture *f)
{
        vmsnap_error error = {0};
        prepare_one_snapshot(f);
        assert_ok(vmsnap_preview_start(f->engine, "vm", "s1", NULL, NULL, &error), &error);
        write_three(f, 2, 0x30);
}

/* base (0x11) <- s1 <- s2 <- s3, as in the report of the data loss: s2 holds 0x22 over
 * [2M, 18M), the image frozen at s3 holds 0x33 over [10M, 30M), more than s2's: deleting s2
 * pulls s2's 8 MiB that s3 does not cover into s3's image. */
static void prepare_light_middle(fixture *f)
{
        write_big(f, "write -P 0x11 0 4M");
        create_named(f, "s1");
        write_big(f, "write -P 0x22 2M 16M");
        create_named(f, "s2");
        write_big(f, "write -P 0x33 10M 20M");
        create_named(f, "s3");
        write_big(f, "write -P 0x44 30M 1M");
}

/* The same with a heavy s2 (20 MiB) and a light child (4 MiB): the child is committed down. */
static void prepare_heavy_middle(fixture *f)
{
        write_big(f, "write -P 0x11 0 4M");
        create_named(f, "s1");
        write_big(f, "write -P 0x22 2M 20M");
        create_named(f, "s2");
        write_big(f, "write -P 0x33 10M 4M");
        create_named(f, "s3");
        write_big(f, "write -P 0x44 30M 1M");
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

static int run_delete_s2(fixture *f, vmsnap_error *error)
{
        return vmsnap_snapshot_delete(f->engine, "vm", "s2", VMSNAP_DELETE_MERGE, NULL, error);
}

static int run_delete_all_into_original(fixture *f, vmsnap_error *error)
{
        vmsnap_delete_all_options options = {.into_original = true};
        return vmsnap_snapshot_delete_all(f->engine, "vm", &options, NULL, error);
}

static int run_clone(fixture *f, vmsnap_error *error)
{
        char *name = NULL;
        int r = vmsnap_snapshot_clone(f->engine, "vm", "s1", "vm-copy", NULL, NULL, &name, error);
        free(name);
        return r;
}

/* ---- the trials ---- */

static void engine_start(fixture *f)
{
        vmsnap_error error = {0};
        if (!f->engine)
                assert_ok(vmsnap_engine_new(f->uri, f->state_dir, &f->engine, &error), &error);
        /* Holds go beside the images, not to the machine's /run. */
        assert_ok(vmsnap_engine_set_run_dir(f->engine, f->dir, &error), &error);
}

static void engine_restart(fixture *f)
{
        vmsnap_engine_free(f->engine);
        f->engine = NULL;
        engine_start(f);
}

static void assert_no_intent(fixture *f, const char *what)
{
        vmsnap_domain_meta *meta = NULL;
        vmsnap_error error = {0};
        char uuid[VIR_UUID_STRING_BUFLEN];
        virDomainPtr d = virDomainLookupByName(f->connection, "vm");

        virDomainGetUUIDString(d, uuid);
        virDomainFree(d);
        assert_ok(vmsnap_store_load(f->state_dir, uuid, &meta, &error), &error);
        if (meta->intent)
                fail_msg("%s: an intent is left: %s", what, json_object_to_json_string(meta->intent));
        vmsnap_domain_meta_free(meta);
}

static fixture *scenario_fixture(const scenario *s)
{
        fixture *f = fixture_new();
        engine_start(f);
        s->define(f);
        s->prepare(f);
        return f;
}

static void run_scenario(const scenario *s)
{
        unsigned trials = trials_per_operation(), kills = 0, engine_kills = 0, child_kills = 0, attempts = 0;
        unsigned outcome_before = 0, outcome_after = 0;
        observed before, after;
        killer watch = {.observe_only = true};
        vmsnap_error error = {0};
        uint64_t duration_us;

        /* A clean run: what the operation does, which children it starts and how long they live.
         * Every trial starts from a copy of the state it started from, built once. */
        fixture *f = scenario_fixture(s);
        fixture_checkpoint *prepared = fixture_checkpoint_take(f);
        observe(f, s, &before);
        killer_start(&watch);
        assert_ok(s->run(f, &error), &error);
        killer_stop(&watch);
        duration_us = watch.ended_us - watch.started_us;
        observe(f, s, &after);
        assert_false(observed_equal(&before, &after));
        print_message("# %s: %u children in %.1f ms:", s->name, watch.children_seen, duration_us / 1000.0);
        for (unsigned i = 0; i < watch.children_seen; i++)
                print_message(" %s %.1f ms", watch.names[i], watch.lifetime_us[i] / 1000.0);
        print_message("\n");

        /* Until `trials` kills hit (a child that had already ended, or an operation that had, is no
         * kill), at most four times as many tries. */
        while (kills < trials && attempts < 4 * trials) {
                killer k = {0};
                observed now;
                unsigned trial = attempts++;
                int r;

                if (watch.children_seen > 0) {
                        k.target_child = 1 + (unsigned)random_below(watch.children_seen);
                        uint64_t life = watch.lifetime_us[k.target_child - 1];
                        k.delay_us = random_below(life + 1);
                        k.engine_too = trial % 3 == 2;
                } else {
                        /* Within the clean run's time, which a trial may beat. */
                        k.delay_us = random_below(duration_us * 3 / 4 + 1);
                }

                fixture_checkpoint_restore(f, prepared);
                engine_start(f);
                if (trial == 0) {
                        /* The copy reads as the state it was taken from. */
                        observe(f, s, &now);
                        if (!observed_equal(&now, &before))
                                fail_msg("%s: the restored copy of the prepared state reads differently",
                                         s->name);
                        observed_clear(&now);
                }
                error = (vmsnap_error){0};
                killer_start(&k);
                r = s->run(f, &error);
                killer_stop(&k);
                if (k.killed_child || k.killed_engine)
                        kills++;
                else if (watch.children_seen == 0 && k.ended_us - k.started_us < duration_us)
                        /* The operation ended before the kill: later kills fall within its fastest
                         * run, which a warm engine (or a sanitizer's whims) may make shorter than
                         * the clean one. */
                        duration_us = k.ended_us - k.started_us;
                child_kills += k.killed_child;
                engine_kills += k.killed_engine;

                if (k.killed_engine) {
                        /* The daemon died: a new one recovers the domain when it first looks at it. */
                        vmsnap_failpoint_revive();
                        engine_restart(f);
                        observe(f, s, &now);
                        if (!observed_equal(&now, &before) && !observed_equal(&now, &after)) {
                                describe("before", &before);
                                describe("after", &after);
                                describe("now", &now);
                                fail_msg("%s trial %u: killed %s at %.1f ms and the engine with it: after "
                                         "recovery "
                                         "the domain is neither as before nor as after the operation",
                                         s->name, trial, k.killed_child ? k.killed_name : "nothing",
                                         k.delay_us / 1000.0);
                        }
                } else {
                        /* Only the child died (or nothing): the result must say what happened. */
                        observe(f, s, &now);
                        if (r == 0 && !observed_equal(&now, &after)) {
                                describe("after", &after);
                                describe("now", &now);
                                fail_msg("%s trial %u: killed %s at %.1f ms; the operation reported success "
                                         "but "
                                         "the domain is not as after it",
                                         s->name, trial, k.killed_child ? k.killed_name : "nothing",
                                         k.delay_us / 1000.0);
                        }
                        if (r < 0 && !observed_equal(&now, &before)) {
                                describe("before", &before);
                                describe("now", &now);
                                fail_msg("%s trial %u: killed %s at %.1f ms; the operation failed (%s) but "
                                         "the "
                                         "domain is not as before it",
                                         s->name, trial, k.killed_child ? k.killed_name : "nothing",
                                         k.delay_us / 1000.0, error.message);
                        }
                }
                if (observed_equal(&now, &before))
                        outcome_before++;
                else
                        outcome_after++;
                /* Nothing is left for a restart to do. */
                assert_no_intent(f, s->name);
                fixture_assert_no_orphans(f, "vm");
                observed_clear(&now);
        }
        fixture_free(f);
        fixture_checkpoint_free(prepared);
        print_message(
                "# %s: %u trials, %u kills (%u children, %u with the engine); %u ended as before, %u as "
                "after\n",
                s->name, attempts, kills, child_kills, engine_kills, outcome_before, outcome_after);
        if (kills < trials)
                fail_msg("%s: only %u of %u kills hit something alive", s->name, kills, trials);
        observed_clear(&before);
        observed_clear(&after);
}

#define FAULT_TEST(test_name, targets, define, prepare, run)                                                \
        static void test_name(void **state)                                                                 \
        {                                                                                                   \
                static const scenario s = {#test_name, targets, define, prepare, run};                      \
                run_scenario(&s);                                                                           \
        }

FAULT_TEST(test_killed_during_create_is_before_or_after, three_disks, define_three_disks,
           prepare_one_snapshot, run_create)
FAULT_TEST(test_killed_during_preview_is_before_or_after, three_disks, define_three_disks,
           prepare_one_snapshot, run_preview)
FAULT_TEST(test_killed_during_commit_is_before_or_after, three_disks, define_three_disks, prepare_in_preview,
           run_commit)
FAULT_TEST(test_killed_during_undo_is_before_or_after, three_disks, define_three_disks, prepare_in_preview,
           run_undo)
FAULT_TEST(test_killed_during_revert_is_before_or_after, three_disks, define_three_disks,
           prepare_one_snapshot, run_revert)
FAULT_TEST(test_killed_during_merge_by_pull_is_before_or_after, one_disk, define_big_disk,
           prepare_light_middle, run_delete_s2)
FAULT_TEST(test_killed_during_merge_by_commit_down_is_before_or_after, one_disk, define_big_disk,
           prepare_heavy_middle, run_delete_s2)
FAULT_TEST(test_killed_during_delete_all_into_original_is_before_or_after, one_disk, define_big_disk,
           prepare_light_middle, run_delete_all_into_original)
FAULT_TEST(test_killed_during_clone_is_before_or_after, three_disks, define_three_disks,
           prepare_one_snapshot, run_clone)

int main(void)
{
        const char *seed = getenv("VMSNAP_FAULT_SEED");
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_killed_during_create_is_before_or_after),
                cmocka_unit_test(test_killed_during_preview_is_before_or_after),
                cmocka_unit_test(test_killed_during_commit_is_before_or_after),
                cmocka_unit_test(test_killed_during_undo_is_before_or_after),
                cmocka_unit_test(test_killed_during_revert_is_before_or_after),
                cmocka_unit_test(test_killed_during_merge_by_pull_is_before_or_after),
                cmocka_unit_test(test_killed_during_merge_by_commit_down_is_before_or_after),
                cmocka_unit_test(test_killed_during_delete_all_into_original_is_before_or_after),
                cmocka_unit_test(test_killed_during_clone_is_before_or_after),
        };

        const char *only = getenv("VMSNAP_FAULT_ONLY");
        if (only && *only)
                cmocka_set_test_filter(only);
        seed_state = seed && *seed ? strtoull(seed, NULL, 0) : (uint64_t)time(NULL) * 2654435761ULL;
        if (seed_state == 0)
                seed_state = 1;
        print_message("# VMSNAP_FAULT_SEED=%llu, %u kills per operation\n", (unsigned long long)seed_state,
                      trials_per_operation());
        return cmocka_run_group_tests(tests, NULL, NULL);
}
