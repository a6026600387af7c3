/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-random.c: a seeded, reproducible random sequence of at least 300
 * operations (guest writes, create, preview, custom preview, commit, undo,
 * revert, delete in all three modes, rename, bad input) over a three-disk
 * domain, checked against a model of what every disk and every snapshot must
 * read. After every operation the active disks are read back with qemu-img;
 * every 25 operations and at the end every snapshot is, and so is every image a
 * metadata-only delete left (unchanged, byte for byte, and reading what its snapshot
 * read); no other orphan file may exist. VMSNAP_TEST_SEED and VMSNAP_TEST_OPS override
 * the seed and length. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "chain.h"
#include "fileio.h"
#include "fixture.h"
#include "testlib.h"

#define DISKS 3
#define CLUSTERS 32 /* 2 MiB disks in 64 KiB clusters */
#define MAX_SNAPSHOTS 64

static const char *const targets[DISKS] = {"vda", "vdb", "vdc"};

typedef struct model_snapshot {
        char name[32];
        int parent; /* index or -1 */
        bool alive;
        bool included[DISKS];
        unsigned char content[DISKS][CLUSTERS];
} model_snapshot;

/* An image a metadata-only delete left to the administrator: it stays, byte for byte,
 * and reads what its snapshot read. */
typedef struct forgotten_image {
        char *path;
        char *digest; /* of the file itself */
        unsigned char content[CLUSTERS];
} forgotten_image;

typedef struct model {
        unsigned char active[DISKS][CLUSTERS];
        unsigned char saved[DISKS][CLUSTERS]; /* before the preview */
        int saved_current;
        bool in_preview;
        int current;
        model_snapshot snapshots[MAX_SNAPSHOTS];
        int n_snapshots;
        unsigned next_name;
        forgotten_image *forgotten;
        size_t n_forgotten;
} model;

static unsigned seed;
static int step;

#define check_that(cond, ...)                                                                               \
        do {                                                                                                \
                if (!(cond)) {                                                                              \
                        print_message("# seed %u, operation %d: ", seed, step);                             \
                        fail_msg(__VA_ARGS__);                                                              \
                }                                                                                           \
        } while (0)

static void read_disk(const char *image, unsigned char out[CLUSTERS], const char *scratch)
{
        const char *argv[] = {"qemu-img", "convert", "-U", "-O", "raw", image, scratch, NULL};
        unsigned char cluster[65536];
        FILE *file;

        check_that(test_run(argv) == 0, "qemu-img convert of %s failed", image);
        file = fopen(scratch, "rb");
        check_that(file != NULL, "cannot open %s", scratch);
        for (int c = 0; c < CLUSTERS; c++) {
                size_t got = fread(cluster, 1, sizeof(cluster), file);
                check_that(got == sizeof(cluster), "%s is short", image);
                out[c] = cluster[0];
                for (size_t i = 1; i < sizeof(cluster); i++)
                        check_that(cluster[i] == cluster[0], "%s cluster %d is not uniform", image, c);
        }
        fclose(file);
}

static void check_active(fixture *f, const model *m, const char *scratch)
{
        unsigned char now[CLUSTERS];
        for (int d = 0; d < DISKS; d++) {
                char *source = fixture_active_source(f, "vm", targets[d]);
                read_disk(source, now, scratch);
                for (int c = 0; c < CLUSTERS; c++)
                        check_that(now[c] == m->active[d][c], "disk %s cluster %d reads %u, expected %u",
                                   targets[d], c, now[c], m->active[d][c]);
                free(source);
        }
}

static void check_snapshots(fixture *f, const model *m, const char *scratch)
{
        unsigned char now[CLUSTERS];
        vmsnap_snapshot_info *list = NULL;
        vmsnap_error error = {0};
        size_t n = 0, alive = 0;

        assert_ok(vmsnap_snapshot_list(f->engine, "vm", &list, &n, &error), &error);
        for (int s = 0; s < m->n_snapshots; s++)
                alive += m->snapshots[s].alive;
        check_that(n == alive, "the engine lists %zu snapshots, the model has %zu", n, alive);
        for (int s = 0; s < m->n_snapshots; s++) {
                const model_snapshot *ms = &m->snapshots[s];
                const vmsnap_snapshot_info *info = NULL;
                if (!ms->alive)
                        continue;
                for (size_t i = 0; i < n; i++)
                        if (strcmp(list[i].name, ms->name) == 0)
                                info = &list[i];
                check_that(info != NULL, "snapshot %s is missing", ms->name);
                check_that(info->current == (m->current == s), "snapshot %s: current is %d", ms->name,
                           info->current);
                const char *parent_name = "";
                for (size_t i = 0; i < n; i++)
                        if (strcmp(list[i].id, info->parent_id) == 0)
                                parent_name = list[i].name;
                check_that(strcmp(parent_name, ms->parent >= 0 ? m->snapshots[ms->parent].name : "") == 0,
                           "snapshot %s has parent \"%s\"", ms->name, parent_name);
                for (size_t i = 0; i < info->n_disks; i++)
                        for (int d = 0; d < DISKS; d++) {
                                if (strcmp(info->disks[i].target, targets[d]) != 0)
                                        continue;
                                check_that((info->disks[i].image != NULL) == ms->included[d],
                                           "snapshot %s disk %s inclusion differs", ms->name, targets[d]);
                                if (!ms->included[d])
                                        continue;
                                read_disk(info->disks[i].image, now, scratch);
                                for (int c = 0; c < CLUSTERS; c++)
                                        check_that(now[c] == ms->content[d][c],
                                                   "snapshot %s disk %s cluster %d reads %u, expected %u",
                                                   ms->name, targets[d], c, now[c], ms->content[d][c]);
                        }
        }
        vmsnap_snapshot_info_array_free(list, n);
}

/* Records the images of snapshot s before a metadata-only delete forgets them. */
static void remember_forgotten(fixture *f, model *m, int s)
{
        const model_snapshot *ms = &m->snapshots[s];
        vmsnap_snapshot_info info = {0};
        vmsnap_error error = {0};

        assert_ok(vmsnap_snapshot_get(f->engine, "vm", ms->name, &info, &error), &error);
        for (size_t i = 0; i < info.n_disks; i++)
                for (int d = 0; d < DISKS; d++)
                        if (info.disks[i].image && strcmp(info.disks[i].target, targets[d]) == 0) {
                                m->forgotten =
                                        realloc(m->forgotten, (m->n_forgotten + 1) * sizeof(*m->forgotten));
                                forgotten_image *image = &m->forgotten[m->n_forgotten++];
                                image->path = strdup(info.disks[i].image);
                                image->digest = test_file_digest(image->path);
                                memcpy(image->content, ms->content[d], CLUSTERS);
                        }
        vmsnap_snapshot_info_clear(&info);
}

/* Forgotten images are the administrator's: vmsnap neither removes nor changes them, nor
 * anything they read through. */
static void check_forgotten(const model *m, const char *scratch)
{
        unsigned char now[CLUSTERS];

        for (size_t i = 0; i < m->n_forgotten; i++) {
                const forgotten_image *image = &m->forgotten[i];
                check_that(vmsnap_file_exists(image->path), "forgotten image %s was removed", image->path);
                char *digest = test_file_digest(image->path);
                check_that(strcmp(digest, image->digest) == 0, "forgotten image %s was changed",
                           image->path);
                free(digest);
                read_disk(image->path, now, scratch);
                for (int c = 0; c < CLUSTERS; c++)
                        check_that(now[c] == image->content[c],
                                   "forgotten image %s cluster %d reads %u, expected %u", image->path, c,
                                   now[c], image->content[c]);
        }
}

static int pick_alive(const model *m)
{
        int alive[MAX_SNAPSHOTS], n = 0;
        for (int s = 0; s < m->n_snapshots; s++)
                if (m->snapshots[s].alive)
                        alive[n++] = s;
        return n ? alive[rand() % n] : -1;
}

static bool descends(const model *m, int s, int ancestor)
{
        for (; s >= 0; s = m->snapshots[s].parent)
                if (s == ancestor)
                        return true;
        return false;
}

static void reparent(model *m, int s)
{
        for (int i = 0; i < m->n_snapshots; i++)
                if (m->snapshots[i].alive && m->snapshots[i].parent == s)
                        m->snapshots[i].parent = m->snapshots[s].parent;
}

static void expect_refused(int r, const vmsnap_error *error, vmsnap_error_kind kind, const char *what)
{
        check_that(r < 0, "%s was accepted", what);
        check_that(error->kind == kind, "%s failed with kind %d (%s)", what, error->kind, error->message);
}

static void one_operation(fixture *f, model *m)
{
        vmsnap_error error = {0};
        int kind = rand() % 100, r;

        if (kind < 30) { /* a guest write */
                int d = rand() % DISKS, c = rand() % CLUSTERS;
                unsigned pattern = 1 + (unsigned)(rand() % 254);
                fixture_write(f, "vm", targets[d], (unsigned)c, pattern);
                m->active[d][c] = (unsigned char)pattern;
        } else if (kind < 50) { /* create */
                const char *selection[DISKS];
                vmsnap_create_options options = {0};
                char name[32];
                bool all = rand() % 2;
                for (int d = 0; d < DISKS; d++)
                        if (all || rand() % 2)
                                selection[options.n_disks++] = targets[d];
                if (options.n_disks == 0)
                        selection[options.n_disks++] = targets[rand() % DISKS];
                options.disks = selection;
                snprintf(name, sizeof(name), "r%u", m->next_name++);
                options.name = name;
                r = vmsnap_snapshot_create(f->engine, "vm", &options, NULL, NULL, &error);
                if (m->in_preview || m->n_snapshots == MAX_SNAPSHOTS) {
                        if (m->in_preview)
                                expect_refused(r, &error, VMSNAP_ERROR_IN_PREVIEW, "create during preview");
                        else if (r == 0)
                                fail_msg("model full");
                        return;
                }
                assert_ok(r, &error);
                model_snapshot *s = &m->snapshots[m->n_snapshots];
                snprintf(s->name, sizeof(s->name), "%s", name);
                s->parent = m->current;
                s->alive = true;
                for (size_t i = 0; i < options.n_disks; i++)
                        for (int d = 0; d < DISKS; d++)
                                if (strcmp(selection[i], targets[d]) == 0)
                                        s->included[d] = true;
                memcpy(s->content, m->active, sizeof(s->content));
                m->current = m->n_snapshots++;
        } else if (kind < 62) { /* preview, custom half the time */
                int config = pick_alive(m);
                vmsnap_disk_choice choices[DISKS];
                vmsnap_preview_options options = {.disks = choices};
                int chosen[DISKS];
                if (config < 0)
                        return;
                for (int d = 0; d < DISKS; d++) {
                        chosen[d] = config;
                        int other = pick_alive(m);
                        if (rand() % 2 && other >= 0 && m->snapshots[other].included[d]) {
                                chosen[d] = other;
                                choices[options.n_disks++] =
                                        (vmsnap_disk_choice){targets[d], m->snapshots[other].name};
                        }
                }
                r = vmsnap_preview_start(f->engine, "vm", m->snapshots[config].name, &options, NULL, &error);
                if (m->in_preview) {
                        expect_refused(r, &error, VMSNAP_ERROR_IN_PREVIEW, "second preview");
                        return;
                }
                assert_ok(r, &error);
                memcpy(m->saved, m->active, sizeof(m->saved));
                m->saved_current = m->current;
                for (int d = 0; d < DISKS; d++)
                        if (m->snapshots[chosen[d]].included[d])
                                memcpy(m->active[d], m->snapshots[chosen[d]].content[d], CLUSTERS);
                m->in_preview = true;
                m->current = config;
        } else if (kind < 68) { /* commit */
                r = vmsnap_preview_commit(f->engine, "vm", NULL, &error);
                if (!m->in_preview) {
                        expect_refused(r, &error, VMSNAP_ERROR_INVALID_ARGUMENT, "commit without preview");
                        return;
                }
                assert_ok(r, &error);
                m->in_preview = false;
        } else if (kind < 74) { /* undo */
                r = vmsnap_preview_undo(f->engine, "vm", NULL, &error);
                if (!m->in_preview) {
                        expect_refused(r, &error, VMSNAP_ERROR_INVALID_ARGUMENT, "undo without preview");
                        return;
                }
                assert_ok(r, &error);
                memcpy(m->active, m->saved, sizeof(m->active));
                m->current = m->saved_current;
                m->in_preview = false;
        } else if (kind < 80) { /* revert */
                int s = pick_alive(m);
                if (s < 0)
                        return;
                r = vmsnap_snapshot_revert(f->engine, "vm", m->snapshots[s].name, NULL, NULL, &error);
                if (m->in_preview) {
                        expect_refused(r, &error, VMSNAP_ERROR_IN_PREVIEW, "revert during preview");
                        return;
                }
                assert_ok(r, &error);
                for (int d = 0; d < DISKS; d++)
                        if (m->snapshots[s].included[d])
                                memcpy(m->active[d], m->snapshots[s].content[d], CLUSTERS);
                m->current = s;
        } else if (kind < 94) { /* delete */
                int s = pick_alive(m), mode = rand() % 10;
                vmsnap_delete_mode how = mode < 7   ? VMSNAP_DELETE_MERGE
                                         : mode < 9 ? VMSNAP_DELETE_CHILDREN
                                                    : VMSNAP_DELETE_METADATA_ONLY;
                if (s < 0)
                        return;
                size_t n_forgotten = m->n_forgotten;
                if (how == VMSNAP_DELETE_METADATA_ONLY && !m->in_preview)
                        remember_forgotten(f, m, s);
                r = vmsnap_snapshot_delete(f->engine, "vm", m->snapshots[s].name, how, NULL, &error);
                while (r < 0 && m->n_forgotten > n_forgotten) { /* the refusal is checked below */
                        m->n_forgotten--;
                        free(m->forgotten[m->n_forgotten].path);
                        free(m->forgotten[m->n_forgotten].digest);
                }
                if (m->in_preview) {
                        expect_refused(r, &error, VMSNAP_ERROR_IN_PREVIEW, "delete during preview");
                        return;
                }
                if (how == VMSNAP_DELETE_CHILDREN) {
                        if (m->current >= 0 && descends(m, m->current, s)) {
                                expect_refused(r, &error, VMSNAP_ERROR_INVALID_ARGUMENT,
                                               "delete of an ancestor");
                                return;
                        }
                        assert_ok(r, &error);
                        for (int i = 0; i < m->n_snapshots; i++)
                                if (m->snapshots[i].alive && descends(m, i, s) && i != s)
                                        m->snapshots[i].alive = false;
                        m->snapshots[s].alive = false;
                        return;
                }
                assert_ok(r, &error);
                reparent(m, s);
                if (m->current == s)
                        m->current = m->snapshots[s].parent;
                m->snapshots[s].alive = false;
        } else if (kind < 97) { /* rename */
                int s = pick_alive(m);
                char name[32];
                if (s < 0)
                        return;
                snprintf(name, sizeof(name), "r%u", m->next_name++);
                assert_ok(vmsnap_snapshot_rename(f->engine, "vm", m->snapshots[s].name, name, &error),
                          &error);
                snprintf(m->snapshots[s].name, sizeof(m->snapshots[s].name), "%s", name);
        } else { /* bad input never changes anything */
                vmsnap_create_options bad = {.name = rand() % 2 ? "bad/name" : "bad\x01name"};
                r = vmsnap_snapshot_create(f->engine, "vm", &bad, NULL, NULL, &error);
                expect_refused(r, &error,
                               m->in_preview ? VMSNAP_ERROR_IN_PREVIEW : VMSNAP_ERROR_INVALID_ARGUMENT,
                               "a bad name");
                r = vmsnap_snapshot_delete(f->engine, "vm", "no-such-snapshot", VMSNAP_DELETE_MERGE, NULL,
                                           &error);
                check_that(r < 0, "deleting a missing snapshot succeeded");
        }
}

static void test_random_sequence_keeps_every_state_readable(void **state)
{
        fixture *f = fixture_new();
        model *m = calloc(1, sizeof(*m));
        const char *seed_text = getenv("VMSNAP_TEST_SEED"), *ops_text = getenv("VMSNAP_TEST_OPS");
        int operations = ops_text ? atoi(ops_text) : 300;
        char scratch[1100];

        seed = seed_text ? (unsigned)strtoul(seed_text, NULL, 10) : 20261122u;
        print_message("# random sequence: seed %u, %d operations (VMSNAP_TEST_SEED=%u to repeat)\n", seed,
                      operations, seed);
        srand(seed);
        snprintf(scratch, sizeof(scratch), "%s/scratch.raw", f->dir);
        fixture_define_three_disk_domain(f, "vm");
        m->current = -1;
        for (step = 0; step < operations; step++) {
                one_operation(f, m);
                check_active(f, m, scratch);
                if (step % 25 == 24) {
                        check_snapshots(f, m, scratch);
                        check_forgotten(m, scratch);
                }
        }
        check_snapshots(f, m, scratch);
        check_forgotten(m, scratch);
        const char **kept = calloc(m->n_forgotten + 1, sizeof(*kept));
        for (size_t i = 0; i < m->n_forgotten; i++)
                kept[i] = m->forgotten[i].path;
        fixture_assert_no_orphans_beside(f, "vm", kept, m->n_forgotten);
        free(kept);
        for (size_t i = 0; i < m->n_forgotten; i++) {
                free(m->forgotten[i].path);
                free(m->forgotten[i].digest);
        }
        free(m->forgotten);
        free(m);
        fixture_free(f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_random_sequence_keeps_every_state_readable),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
