/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-store.c: the snapshot model's lookups and tree helpers (model.c) and the
 * metadata store (store.c): round trips, atomic saves, and strict refusal of
 * every malformed document without crashing. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "error.h"
#include "model.h"
#include "document.h"
#include "store.h"
#include "testlib.h"

#define UUID "0b5e6c1a-3d2f-4e8a-9c71-5a4f2b6d8e90"
#define ID_BASE "11111111-1111-4111-8111-111111111111"
#define ID_A "22222222-2222-4222-8222-222222222222"
#define ID_B "33333333-3333-4333-8333-333333333333"
#define ID_C "44444444-4444-4444-8444-444444444444"

static vmsnap_snapshot *snapshot_new(const char *id, const char *name, const char *parent_id)
{
        vmsnap_snapshot *snapshot = vmsnap_snapshot_new();
        snapshot->id = strdup(id);
        snapshot->name = strdup(name);
        snapshot->description = strdup("");
        snapshot->created = 1700000000;
        snapshot->parent_id = parent_id ? strdup(parent_id) : NULL;
        snapshot->state = strdup("shutoff");
        snapshot->config_xml = strdup("<domain type='kvm'><name>vm</name></domain>");
        return snapshot;
}

/* base -> a -> c, base -> b; current a; a preview of b running; an intent recorded. */
static vmsnap_domain_meta *sample_meta(void)
{
        vmsnap_domain_meta *meta = vmsnap_domain_meta_new(UUID, "vm1");

        vmsnap_snapshot *base = snapshot_new(ID_BASE, "base", NULL);
        free(base->description);
        base->description = strdup("fresh install, \"quoted\" and\nmultiline / with slashes");
        vmsnap_snapshot_add_disk(base, "vda", "/var/lib/libvirt/images/vm1.qcow2", "qcow2", NULL);
        vmsnap_snapshot_add_disk(base, "vdb", NULL, NULL, "read-only");
        vmsnap_domain_meta_add_snapshot(meta, base);

        vmsnap_snapshot *a = snapshot_new(ID_A, "a", ID_BASE);
        a->created = -5; /* before 1970: still an integer the store keeps */
        free(a->state);
        a->state = strdup("running");
        a->memory_file = strdup("/var/lib/libvirt/images/vm1.a.mem");
        a->consistency = strdup(VMSNAP_CONSISTENCY_CRASH);
        vmsnap_snapshot_add_disk(a, "vda", "/var/lib/libvirt/images/vm1.a.qcow2", "qcow2", NULL);
        vmsnap_snapshot_add_disk(a, "vdc", "/var/lib/libvirt/images/data.raw", "raw", NULL);
        vmsnap_snapshot_add_rbd_disk(a, "vdf", "rbd/ns/vm1-data@vmsnap-" ID_A);
        vmsnap_domain_meta_add_snapshot(meta, a);

        vmsnap_domain_meta_add_snapshot(meta, snapshot_new(ID_B, "b", ID_BASE));
        vmsnap_domain_meta_add_snapshot(meta, snapshot_new(ID_C, "c", ID_A));

        meta->current_id = strdup(ID_A);
        meta->next_default_index = 7;
        vmsnap_domain_meta_add_owned(meta, "/var/lib/libvirt/images/vm1.a.qcow2");
        vmsnap_domain_meta_add_owned(meta, "/var/lib/libvirt/images/vm1.b.qcow2");
        vmsnap_domain_meta_add_forgotten(meta, "/var/lib/libvirt/images/vm1.old.qcow2");

        vmsnap_preview *preview = calloc(1, sizeof(*preview));
        preview->config_snapshot_id = strdup(ID_B);
        preview->saved_xml = strdup("<domain><name>vm1</name></domain>");
        preview->saved_current_id = strdup(ID_A);
        preview->n_disks = 3;
        preview->disks = calloc(3, sizeof(*preview->disks));
        preview->disks[0].target = strdup("vda");
        preview->disks[0].overlay = strdup("/var/lib/libvirt/images/vm1.preview.qcow2");
        preview->disks[0].saved_leaf = strdup("/var/lib/libvirt/images/vm1.leaf.qcow2");
        preview->disks[0].saved_format = strdup("qcow2");
        preview->disks[0].snapshot_id = strdup(ID_B);
        preview->disks[1].target = strdup("vdc");
        preview->disks[1].saved_leaf = strdup("/var/lib/libvirt/images/data.raw");
        preview->disks[1].saved_format = strdup("raw");
        preview->disks[2].target = strdup("vdf");
        preview->disks[2].rbd_saved = strdup("rbd/ns/vm1-data");
        preview->disks[2].rbd_overlay = strdup("rbd/ns/vm1-data.1a2b3c4d");
        preview->disks[2].snapshot_id = strdup(ID_A);
        meta->preview = preview;

        meta->intent = json_tokener_parse("{\"operation\":\"delete\",\"step\":2,\"files\":[\"/x\"]}");
        return meta;
}

static void assert_string_equal_or_null(const char *a, const char *b)
{
        if (!a || !b)
                assert_ptr_equal(a, b);
        else
                assert_string_equal(a, b);
}

static void assert_meta_equal(const vmsnap_domain_meta *a, const vmsnap_domain_meta *b)
{
        assert_string_equal(a->uuid, b->uuid);
        assert_string_equal(a->name, b->name);
        assert_string_equal_or_null(a->current_id, b->current_id);
        assert_int_equal(a->next_default_index, b->next_default_index);

        assert_int_equal(a->n_snapshots, b->n_snapshots);
        for (size_t i = 0; i < a->n_snapshots; i++) {
                const vmsnap_snapshot *x = a->snapshots[i], *y = b->snapshots[i];
                assert_string_equal(x->id, y->id);
                assert_string_equal(x->name, y->name);
                assert_string_equal(x->description, y->description);
                assert_int_equal(x->created, y->created);
                assert_string_equal_or_null(x->parent_id, y->parent_id);
                assert_string_equal(x->state, y->state);
                assert_string_equal(x->config_xml, y->config_xml);
                assert_string_equal_or_null(x->memory_file, y->memory_file);
                assert_string_equal_or_null(x->consistency, y->consistency);
                assert_int_equal(x->n_disks, y->n_disks);
                for (size_t k = 0; k < x->n_disks; k++) {
                        assert_string_equal(x->disks[k].target, y->disks[k].target);
                        assert_string_equal_or_null(x->disks[k].image, y->disks[k].image);
                        assert_string_equal_or_null(x->disks[k].format, y->disks[k].format);
                        assert_string_equal_or_null(x->disks[k].rbd_snapshot, y->disks[k].rbd_snapshot);
                        assert_string_equal_or_null(x->disks[k].excluded_reason,
                                                    y->disks[k].excluded_reason);
                }
        }

        assert_int_equal(a->n_owned, b->n_owned);
        for (size_t i = 0; i < a->n_owned; i++)
                assert_string_equal(a->owned[i], b->owned[i]);
        assert_int_equal(a->n_forgotten, b->n_forgotten);
        for (size_t i = 0; i < a->n_forgotten; i++)
                assert_string_equal(a->forgotten[i], b->forgotten[i]);

        assert_int_equal(!a->preview, !b->preview);
        if (a->preview) {
                const vmsnap_preview *x = a->preview, *y = b->preview;
                assert_string_equal(x->config_snapshot_id, y->config_snapshot_id);
                assert_string_equal(x->saved_xml, y->saved_xml);
                assert_string_equal_or_null(x->saved_current_id, y->saved_current_id);
                assert_int_equal(x->n_disks, y->n_disks);
                for (size_t k = 0; k < x->n_disks; k++) {
                        assert_string_equal(x->disks[k].target, y->disks[k].target);
                        assert_string_equal_or_null(x->disks[k].overlay, y->disks[k].overlay);
                        assert_string_equal_or_null(x->disks[k].saved_leaf, y->disks[k].saved_leaf);
                        assert_string_equal_or_null(x->disks[k].saved_format, y->disks[k].saved_format);
                        assert_string_equal_or_null(x->disks[k].snapshot_id, y->disks[k].snapshot_id);
                        assert_string_equal_or_null(x->disks[k].rbd_saved, y->disks[k].rbd_saved);
                        assert_string_equal_or_null(x->disks[k].rbd_overlay, y->disks[k].rbd_overlay);
                }
        }

        assert_int_equal(!a->intent, !b->intent);
        if (a->intent)
                assert_true(json_object_equal(a->intent, b->intent));
}

/* ---- model ---- */

static void test_model_finds_snapshots_by_id_or_by_name(void **state)
{
        vmsnap_domain_meta *meta = sample_meta();

        assert_string_equal(vmsnap_domain_meta_find_id(meta, ID_B)->name, "b");
        assert_null(vmsnap_domain_meta_find_id(meta, "b"));
        assert_string_equal(vmsnap_domain_meta_find_name(meta, "c")->id, ID_C);
        assert_null(vmsnap_domain_meta_find_name(meta, ID_C));
        assert_string_equal(vmsnap_domain_meta_find(meta, ID_A)->name, "a");
        assert_string_equal(vmsnap_domain_meta_find(meta, "base")->id, ID_BASE);
        assert_null(vmsnap_domain_meta_find(meta, "nonexistent"));
        assert_null(vmsnap_domain_meta_find(meta, NULL));

        vmsnap_domain_meta_free(meta);
}

static void test_model_find_prefers_an_id_over_a_name_that_looks_like_one(void **state)
{
        vmsnap_domain_meta *meta = sample_meta();
        /* A snapshot may be named like another's id; the id wins, as documented. */
        vmsnap_domain_meta_add_snapshot(meta, snapshot_new(ID_C "-x", ID_A, NULL));

        assert_string_equal(vmsnap_domain_meta_find(meta, ID_A)->id, ID_A);

        vmsnap_domain_meta_free(meta);
}

static void test_model_finds_disks_by_target(void **state)
{
        vmsnap_domain_meta *meta = sample_meta();
        const vmsnap_snapshot *base = vmsnap_domain_meta_find_id(meta, ID_BASE);

        assert_string_equal(vmsnap_snapshot_find_disk(base, "vda")->format, "qcow2");
        assert_string_equal(vmsnap_snapshot_find_disk(base, "vdb")->excluded_reason, "read-only");
        assert_null(vmsnap_snapshot_find_disk(base, "vdb")->image);
        assert_null(vmsnap_snapshot_find_disk(base, "vdz"));

        vmsnap_domain_meta_free(meta);
}

static void test_model_children_of_null_are_the_roots(void **state)
{
        vmsnap_domain_meta *meta = sample_meta();
        vmsnap_domain_meta_add_snapshot(meta, snapshot_new(ID_C "-root", "second root", NULL));
        vmsnap_snapshot **roots = NULL;

        assert_int_equal(vmsnap_domain_meta_children(meta, NULL, &roots), 2);
        assert_string_equal(roots[0]->name, "base");
        assert_string_equal(roots[1]->name, "second root");
        assert_int_equal(vmsnap_domain_meta_children(meta, NULL, NULL), 2);

        free(roots);
        vmsnap_domain_meta_free(meta);
}

static void test_model_children_are_direct_children_only_in_order(void **state)
{
        vmsnap_domain_meta *meta = sample_meta();
        vmsnap_snapshot **children = NULL;

        assert_int_equal(vmsnap_domain_meta_children(meta, ID_BASE, &children), 2);
        assert_string_equal(children[0]->name, "a");
        assert_string_equal(children[1]->name, "b");
        free(children);

        assert_int_equal(vmsnap_domain_meta_children(meta, ID_C, NULL), 0);
        assert_int_equal(vmsnap_domain_meta_children(meta, ID_A, NULL), 1);

        vmsnap_domain_meta_free(meta);
}

static void test_model_descends_covers_self_and_every_ancestor(void **state)
{
        vmsnap_domain_meta *meta = sample_meta();

        assert_true(vmsnap_domain_meta_descends(meta, ID_C, ID_C));
        assert_true(vmsnap_domain_meta_descends(meta, ID_C, ID_A));
        assert_true(vmsnap_domain_meta_descends(meta, ID_C, ID_BASE));
        assert_false(vmsnap_domain_meta_descends(meta, ID_A, ID_C));
        assert_false(vmsnap_domain_meta_descends(meta, ID_C, ID_B));
        assert_false(vmsnap_domain_meta_descends(meta, ID_B, ID_A));
        assert_false(vmsnap_domain_meta_descends(meta, NULL, ID_A));
        assert_false(vmsnap_domain_meta_descends(meta, ID_A, NULL));

        vmsnap_domain_meta_free(meta);
}

static void test_model_descends_terminates_on_a_parent_loop(void **state)
{
        vmsnap_domain_meta *meta = sample_meta();
        vmsnap_snapshot *base = vmsnap_domain_meta_find_id(meta, ID_BASE);
        base->parent_id = strdup(ID_C); /* base -> a -> c -> base */

        assert_false(vmsnap_domain_meta_descends(meta, ID_C, ID_B));

        vmsnap_domain_meta_free(meta);
}

static void test_model_remove_snapshot_keeps_the_others_in_order(void **state)
{
        vmsnap_domain_meta *meta = sample_meta();

        assert_true(vmsnap_domain_meta_remove_snapshot(meta, ID_A));
        assert_false(vmsnap_domain_meta_remove_snapshot(meta, ID_A));
        assert_false(vmsnap_domain_meta_remove_snapshot(meta, "a"));
        assert_int_equal(meta->n_snapshots, 3);
        assert_string_equal(meta->snapshots[0]->name, "base");
        assert_string_equal(meta->snapshots[1]->name, "b");
        assert_string_equal(meta->snapshots[2]->name, "c");

        vmsnap_domain_meta_free(meta);
}

static void test_model_owned_set_holds_each_path_once(void **state)
{
        vmsnap_domain_meta *meta = vmsnap_domain_meta_new(UUID, "vm1");

        assert_false(vmsnap_domain_meta_owns(meta, "/images/a.qcow2"));
        vmsnap_domain_meta_add_owned(meta, "/images/a.qcow2");
        vmsnap_domain_meta_add_owned(meta, "/images/b.qcow2");
        vmsnap_domain_meta_add_owned(meta, "/images/a.qcow2");
        assert_int_equal(meta->n_owned, 2);
        assert_true(vmsnap_domain_meta_owns(meta, "/images/a.qcow2"));
        assert_false(vmsnap_domain_meta_owns(meta, "/images/a.qcow"));

        vmsnap_domain_meta_remove_owned(meta, "/images/a.qcow2");
        vmsnap_domain_meta_remove_owned(meta, "/images/never-owned.qcow2");
        assert_int_equal(meta->n_owned, 1);
        assert_false(vmsnap_domain_meta_owns(meta, "/images/a.qcow2"));
        assert_true(vmsnap_domain_meta_owns(meta, "/images/b.qcow2"));

        vmsnap_domain_meta_free(meta);
}

static void test_model_copy_changes_apart_from_the_original_and_copies_the_intent(void **state)
{
        vmsnap_domain_meta *meta = sample_meta();
        vmsnap_domain_meta *copy = vmsnap_domain_meta_copy(meta);

        assert_meta_equal(meta, copy);
        /* The intent too: the journal extends an operation's intent in place while readers
         * hold published copies, and json-c's reference counts are not atomic. */
        assert_ptr_not_equal(meta->intent, copy->intent);
        assert_true(json_object_equal(meta->intent, copy->intent));
        assert_ptr_not_equal(meta->preview, copy->preview);

        /* Changing the copy leaves the original alone: a snapshot the two share is copied
         * when it is to change, and only that one. */
        assert_ptr_equal(meta->snapshots[0], copy->snapshots[0]);
        vmsnap_snapshot *changed = vmsnap_domain_meta_writable(copy, ID_BASE);
        assert_ptr_not_equal(meta->snapshots[0], changed);
        assert_ptr_equal(copy->snapshots[0], changed);
        assert_ptr_not_equal(meta->snapshots[0]->disks, changed->disks);
        assert_ptr_equal(vmsnap_domain_meta_writable(copy, ID_BASE), changed); /* its own now */
        assert_ptr_equal(meta->snapshots[1], copy->snapshots[1]);
        changed->name[0] = 'X';
        copy->preview->disks[0].target[0] = 'X';
        vmsnap_domain_meta_add_owned(copy, "/images/new.qcow2");
        assert_string_equal(meta->snapshots[0]->name, "base");
        assert_string_equal(meta->preview->disks[0].target, "vda");
        assert_int_equal(meta->n_owned, 2);

        /* Extending the original's intent leaves the copy's alone. */
        json_object_array_add(json_object_object_get(meta->intent, "files"), json_object_new_string("/y"));
        assert_int_equal(json_object_array_length(json_object_object_get(copy->intent, "files")), 1);
        vmsnap_domain_meta_free(meta);
        assert_int_equal(json_object_get_int(json_object_object_get(copy->intent, "step")), 2);
        assert_string_equal(copy->snapshots[1]->name, "a"); /* a shared one outlives the original */
        vmsnap_domain_meta_free(copy);
}

/* ---- store: round trips ---- */

typedef struct store_fixture {
        char *dir;
} store_fixture;

static int setup_state_dir(void **state)
{
        store_fixture *fixture = calloc(1, sizeof(*fixture));
        fixture->dir = test_tmpdir_new();
        assert_non_null(fixture->dir);
        *state = fixture;
        return 0;
}

static int teardown_state_dir(void **state)
{
        store_fixture *fixture = *state;
        test_tmpdir_remove(fixture->dir);
        free(fixture->dir);
        free(fixture);
        return 0;
}

static void write_document(const char *dir, const char *uuid, const char *text, size_t size)
{
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s.json", dir, uuid);
        FILE *file = fopen(path, "w");
        assert_non_null(file);
        assert_int_equal(fwrite(text, 1, size, file), size);
        assert_int_equal(fclose(file), 0);
}

static void test_store_save_then_load_gives_the_same_model(void **state)
{
        store_fixture *fixture = *state;
        vmsnap_domain_meta *meta = sample_meta(), *loaded = NULL;
        vmsnap_error error = {};

        assert_int_equal(vmsnap_store_save(fixture->dir, meta, &error), 0);
        assert_int_equal(vmsnap_store_load(fixture->dir, UUID, &loaded, &error), 0);
        assert_meta_equal(meta, loaded);

        vmsnap_domain_meta_free(loaded);
        vmsnap_domain_meta_free(meta);
}

static void test_store_round_trips_an_empty_domain(void **state)
{
        store_fixture *fixture = *state;
        vmsnap_domain_meta *meta = vmsnap_domain_meta_new(UUID, ""), *loaded = NULL;
        vmsnap_error error = {};

        assert_int_equal(vmsnap_store_save(fixture->dir, meta, &error), 0);
        assert_int_equal(vmsnap_store_load(fixture->dir, UUID, &loaded, &error), 0);
        assert_meta_equal(meta, loaded);
        assert_null(loaded->preview);
        assert_null(loaded->intent);
        assert_null(loaded->current_id);

        vmsnap_domain_meta_free(loaded);
        vmsnap_domain_meta_free(meta);
}

static int compare_strings(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in the state directory, sorted, joined by spaces. */
static char *state_dir_entries(const char *path)
{
        char *names[8];
        size_t n = 0, length = 1;
        DIR *dir = opendir(path);
        struct dirent *entry;

        assert_non_null(dir);
        while ((entry = readdir(dir))) {
                if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
                        continue;
                assert_true(n < 8);
                names[n] = strdup(entry->d_name);
                length += strlen(names[n++]) + 1;
        }
        closedir(dir);
        qsort(names, n, sizeof(char *), compare_strings);
        char *joined = calloc(1, length);
        assert_non_null(joined);
        for (size_t i = 0; i < n; i++) {
                strcat(joined, i ? " " : "");
                strcat(joined, names[i]);
                free(names[i]);
        }
        return joined;
}

static void test_store_save_replaces_the_document_and_leaves_no_temporary_files(void **state)
{
        store_fixture *fixture = *state;
        vmsnap_domain_meta *meta = sample_meta(), *loaded = NULL;
        vmsnap_error error = {};
        char *entries;

        assert_int_equal(vmsnap_store_save(fixture->dir, meta, &error), 0);
        assert_true(vmsnap_domain_meta_remove_snapshot(meta, ID_C));
        assert_int_equal(vmsnap_store_save(fixture->dir, meta, &error), 0);

        /* The document, the change the second save wrote beside it, and the journal of its
         * intent. */
        entries = state_dir_entries(fixture->dir);
        assert_string_equal(entries, UUID ".changes.json " UUID ".journal.json " UUID ".json");
        free(entries);

        assert_int_equal(vmsnap_store_load(fixture->dir, UUID, &loaded, &error), 0);
        assert_int_equal(loaded->n_snapshots, 3);
        assert_non_null(loaded->intent);
        vmsnap_domain_meta_free(loaded);

        /* Without an intent the journal goes. */
        json_object_put(meta->intent);
        meta->intent = NULL;
        assert_int_equal(vmsnap_store_save(fixture->dir, meta, &error), 0);
        entries = state_dir_entries(fixture->dir);
        assert_string_equal(entries, UUID ".changes.json " UUID ".json");
        free(entries);
        vmsnap_domain_meta_free(meta);
}

static char *read_text(const char *path)
{
        FILE *file = fopen(path, "re");
        char *text = calloc(1, 1 << 16);

        assert_non_null(file);
        assert_non_null(text);
        assert_true(fread(text, 1, (1 << 16) - 1, file) > 0);
        fclose(file);
        return text;
}

static void write_journal(const char *dir, const char *text)
{
        char *path = NULL;
        FILE *file;

        assert_true(asprintf(&path, "%s/" UUID ".journal.json", dir) > 0);
        file = fopen(path, "we");
        assert_non_null(file);
        fputs(text, file);
        fclose(file);
        free(path);
}

static const char *intent_operation(const vmsnap_domain_meta *meta)
{
        json_object *operation;

        if (!meta->intent || !json_object_object_get_ex(meta->intent, "operation", &operation))
                return "(none)";
        return json_object_get_string(operation);
}

/* ---- the change log ---- */

static char *state_file(const char *dir, const char *suffix)
{
        char *path = NULL;
        assert_true(asprintf(&path, "%s/" UUID "%s", dir, suffix) > 0);
        return path;
}

static off_t file_size(const char *path)
{
        struct stat st;
        return stat(path, &st) == 0 ? st.st_size : -1;
}

static void assert_loads_as(const char *dir, const vmsnap_domain_meta *meta)
{
        vmsnap_domain_meta *loaded = NULL;
        vmsnap_error error = {};

        assert_int_equal(vmsnap_store_load(dir, UUID, &loaded, &error), 0);
        assert_meta_equal(meta, loaded);
        assert_int_equal(loaded->generation, meta->generation);
        vmsnap_domain_meta_free(loaded);
}

/* The i-th change of a long run: new snapshots with their files, removals, renames, moves
 * of the current state, forgotten images, and now and then two snapshots changing places
 * (which no line says: the whole document is written then). */
static void change_model(vmsnap_domain_meta *meta, unsigned i)
{
        char id[40], name[32], path[96];

        snprintf(id, sizeof(id), "55555555-5555-4555-8555-%012u", i);
        snprintf(name, sizeof(name), "n%u", i);
        snprintf(path, sizeof(path), "/var/lib/libvirt/images/vm1.n%u.qcow2", i);
        switch (i % 6) {
        case 0:
        case 1:
        case 3: {
                const char *parent = meta->snapshots[meta->n_snapshots - 1]->id;
                vmsnap_snapshot *added = snapshot_new(id, name, parent);
                vmsnap_snapshot_add_disk(added, "vda", path, "qcow2", NULL);
                vmsnap_domain_meta_add_snapshot(meta, added);
                vmsnap_domain_meta_add_owned(meta, path);
                break;
        }
        case 2: {
                /* The newest, a leaf the current state and the preview do not need. */
                vmsnap_snapshot *last = meta->snapshots[meta->n_snapshots - 1];
                if (strncmp(last->id, "55555555", 8) == 0) {
                        vmsnap_domain_meta_remove_owned(meta, last->disks[0].image);
                        vmsnap_domain_meta_remove_snapshot(meta, last->id);
                }
                break;
        }
        case 4: {
                vmsnap_snapshot *renamed =
                        vmsnap_domain_meta_writable(meta, meta->snapshots[i % meta->n_snapshots]->id);
                snprintf(name, sizeof(name), "renamed%u", i);
                free(renamed->name);
                renamed->name = strdup(name);
                free(meta->current_id);
                meta->current_id = strdup(meta->snapshots[(i / 6) % meta->n_snapshots]->id);
                meta->next_default_index = i;
                break;
        }
        default:
                if (i % 4 == 1)
                        vmsnap_domain_meta_add_forgotten(meta, path);
                else if (meta->n_forgotten > 0) {
                        char *first = strdup(meta->forgotten[0]); /* the list's own is freed */
                        vmsnap_domain_meta_remove_forgotten(meta, first);
                        free(first);
                }
                if (i % 7 == 0) {
                        vmsnap_snapshot *moved = meta->snapshots[1];
                        meta->snapshots[1] = meta->snapshots[2];
                        meta->snapshots[2] = moved;
                }
                break;
        }
}

/* Saves meta whole, then after each of the first n changes of change_model: a document and
 * a change log of n lines. */
static void save_with_changes(const char *dir, vmsnap_domain_meta *meta, unsigned n)
{
        vmsnap_error error = {};

        assert_int_equal(vmsnap_store_save(dir, meta, &error), 0);
        for (unsigned i = 0; i < n; i++) {
                change_model(meta, i);
                assert_int_equal(vmsnap_store_save(dir, meta, &error), 0);
        }
}

/* Each save after the first writes one line that says what changed, load replays the lines,
 * and once the log is as large as the document both are folded into a new document. */
static void test_store_change_log_replays_every_change_and_is_folded_into_the_document(void **state)
{
        store_fixture *fixture = *state;
        vmsnap_domain_meta *meta = sample_meta();
        vmsnap_error error = {};
        char *document = state_file(fixture->dir, ".json"),
             *changes = state_file(fixture->dir, ".changes.json");
        unsigned lines = 0, folds = 0;
        off_t largest_log = 0;

        json_object_put(meta->intent);
        meta->intent = NULL;
        assert_int_equal(vmsnap_store_save(fixture->dir, meta, &error), 0);
        for (unsigned i = 0; i < 600; i++) {
                off_t before = file_size(changes);
                change_model(meta, i);
                assert_int_equal(vmsnap_store_save(fixture->dir, meta, &error), 0);
                off_t after = file_size(changes);
                if (after > before)
                        lines++;
                else
                        folds++;
                if (after > largest_log)
                        largest_log = after;
                assert_loads_as(fixture->dir, meta);
                if (i % 97 == 0) {
                        /* A new process knows nothing of what it wrote: it writes whole. */
                        vmsnap_document_forget(UUID);
                }
        }
        /* Mostly lines, some whole documents, and a log never much larger than one. */
        assert_true(lines > 400);
        assert_true(folds > 2);
        assert_true(largest_log < file_size(document) * 2 + 64 * 1024);
        free(document);
        free(changes);
        vmsnap_domain_meta_free(meta);
}

/* A crash in the middle of an append leaves part of a line, never acknowledged: load leaves
 * it out, and the next save writes the whole document rather than after it. */
static void test_store_change_log_leaves_out_a_last_line_cut_short(void **state)
{
        store_fixture *fixture = *state;
        vmsnap_domain_meta *meta = sample_meta();
        vmsnap_error error = {};
        char *changes = state_file(fixture->dir, ".changes.json");

        save_with_changes(fixture->dir, meta, 2);
        assert_true(file_size(changes) > 0);

        FILE *file = fopen(changes, "ae");
        assert_non_null(file);
        fputs("{\"base\":1,\"base_crc32\":12,\"generation\":4,\"name\":\"tor", file);
        fclose(file);
        assert_loads_as(fixture->dir, meta);
        /* A line cut short that kept its newline (zeros where a crash lost the data). */
        file = fopen(changes, "ae");
        assert_non_null(file);
        fputs("\n", file);
        fclose(file);
        assert_loads_as(fixture->dir, meta);

        change_model(meta, 3);
        assert_int_equal(vmsnap_store_save(fixture->dir, meta, &error), 0);
        assert_int_equal(file_size(changes), -1);
        assert_loads_as(fixture->dir, meta);
        free(changes);
        vmsnap_domain_meta_free(meta);
}

/* A damaged line with changes after it is no crash: the metadata is refused, naming the log. */
static void test_store_change_log_refuses_a_damaged_line_before_others(void **state)
{
        store_fixture *fixture = *state;
        vmsnap_domain_meta *meta = sample_meta(), *loaded = NULL;
        vmsnap_error error = {};
        char *changes = state_file(fixture->dir, ".changes.json");

        save_with_changes(fixture->dir, meta, 2);

        char *text = read_text(changes);
        text[3] = '#';
        FILE *file = fopen(changes, "we");
        assert_non_null(file);
        fputs(text, file);
        fclose(file);
        free(text);
        assert_int_equal(vmsnap_store_load(fixture->dir, UUID, &loaded, &error), -EBADMSG);
        assert_non_null(strstr(error.message, ".changes.json"));
        assert_non_null(strstr(error.message, "change 1"));
        free(changes);
        vmsnap_domain_meta_free(meta);
}

/* Lines left from before the document was last written whole (their removal lost in a
 * crash) build on another document and say nothing, even of the same generation. */
static void test_store_change_log_ignores_lines_of_an_older_document(void **state)
{
        store_fixture *fixture = *state;
        vmsnap_domain_meta *meta = sample_meta();
        vmsnap_error error = {};
        char *changes = state_file(fixture->dir, ".changes.json");

        save_with_changes(fixture->dir, meta, 1);
        char *old_lines = read_text(changes);

        /* The same generations again from a document written whole with other content. */
        vmsnap_domain_meta_free(meta);
        meta = sample_meta();
        assert_int_equal(vmsnap_store_remove(fixture->dir, UUID, &error), 0);
        change_model(meta, 1);
        assert_int_equal(vmsnap_store_save(fixture->dir, meta, &error), 0);
        assert_int_equal(file_size(changes), -1);
        FILE *file = fopen(changes, "we");
        assert_non_null(file);
        fputs(old_lines, file);
        fclose(file);
        free(old_lines);
        assert_loads_as(fixture->dir, meta);
        free(changes);
        vmsnap_domain_meta_free(meta);
}

static void test_store_saves_an_intent_without_writing_the_document(void **state)
{
        store_fixture *fixture = *state;
        vmsnap_domain_meta *meta = sample_meta(), *loaded = NULL;
        vmsnap_error error = {};
        char *path = NULL, *before, *after;

        assert_int_equal(vmsnap_store_save(fixture->dir, meta, &error), 0);
        assert_int_equal(meta->generation, 1);
        assert_true(asprintf(&path, "%s/" UUID ".json", fixture->dir) > 0);
        before = read_text(path);

        /* A step of the operation: the intent changes, and the model in memory too, which
         * is saved only with the document's next write. */
        json_object_put(meta->intent);
        meta->intent = json_tokener_parse("{\"operation\": \"create\", \"phase\": \"prepare\"}");
        meta->next_default_index = 99;
        assert_int_equal(vmsnap_store_save_intent(fixture->dir, meta, &error), 0);
        after = read_text(path);
        assert_string_equal(before, after);
        assert_int_equal(vmsnap_store_load(fixture->dir, UUID, &loaded, &error), 0);
        assert_string_equal(intent_operation(loaded), "create");
        assert_int_not_equal(loaded->next_default_index, 99);
        assert_int_equal(loaded->generation, 1);
        vmsnap_domain_meta_free(loaded);

        /* Cleared: no intent, and no journal left. */
        json_object_put(meta->intent);
        meta->intent = NULL;
        assert_int_equal(vmsnap_store_save_intent(fixture->dir, meta, &error), 0);
        assert_int_equal(vmsnap_store_load(fixture->dir, UUID, &loaded, &error), 0);
        assert_null(loaded->intent);
        vmsnap_domain_meta_free(loaded);
        char *entries = state_dir_entries(fixture->dir);
        assert_string_equal(entries, UUID ".json");
        free(entries);

        free(before);
        free(after);
        free(path);
        vmsnap_domain_meta_free(meta);
}

/* What a crash between the journal's write and the document's leaves: the journal names
 * the next generation, the document is the one before, and the intent in force before the
 * write still is. */
static void test_store_load_keeps_the_previous_intent_when_the_document_never_came(void **state)
{
        store_fixture *fixture = *state;
        vmsnap_domain_meta *meta = sample_meta(), *loaded = NULL;
        vmsnap_error error = {};

        assert_int_equal(vmsnap_store_save(fixture->dir, meta, &error), 0);
        assert_int_equal(meta->generation, 1);
        write_journal(fixture->dir, "{\"generation\": 2, \"intent\": {\"operation\": \"create\", "
                                    "\"phase\": \"finish\"}, \"previous\": {\"operation\": \"create\", "
                                    "\"phase\": \"prepare\"}}");
        assert_int_equal(vmsnap_store_load(fixture->dir, UUID, &loaded, &error), 0);
        assert_string_equal(json_object_get_string(json_object_object_get(loaded->intent, "phase")),
                            "prepare");
        vmsnap_domain_meta_free(loaded);

        /* The document came: the journal's own intent. */
        json_object_put(meta->intent);
        meta->intent = NULL;
        meta->generation = 1;
        /* (written by hand: a save would write the journal again) */
        write_journal(fixture->dir, "{\"generation\": 1, \"intent\": {\"operation\": \"delete\", "
                                    "\"phase\": \"finish\"}}");
        assert_int_equal(vmsnap_store_load(fixture->dir, UUID, &loaded, &error), 0);
        assert_string_equal(intent_operation(loaded), "delete");
        vmsnap_domain_meta_free(loaded);

        /* A journal of an older generation is left from before and says nothing. */
        write_journal(fixture->dir, "{\"generation\": 0, \"intent\": {\"operation\": \"purge\"}}");
        assert_int_equal(vmsnap_store_load(fixture->dir, UUID, &loaded, &error), 0);
        assert_null(loaded->intent);
        vmsnap_domain_meta_free(loaded);

        /* A journal vmsnap cannot read is refused, naming it. */
        write_journal(fixture->dir, "{\"generation\": \"one\"}");
        assert_int_equal(vmsnap_store_load(fixture->dir, UUID, &loaded, &error), -EBADMSG);
        assert_non_null(strstr(error.message, "refusing journal file"));
        assert_non_null(strstr(error.message, "generation"));
        vmsnap_domain_meta_free(meta);
}

/* A document of an earlier version kept the intent inside and counts no generation. */
static void test_store_reads_the_intent_a_document_of_an_earlier_version_holds(void **state)
{
        store_fixture *fixture = *state;
        vmsnap_domain_meta *meta = sample_meta(), *loaded = NULL;
        vmsnap_error error = {};
        json_object *document = vmsnap_store_to_json(meta);
        char *path = NULL;

        assert_true(asprintf(&path, "%s/" UUID ".json", fixture->dir) > 0);
        assert_int_equal(json_object_to_file(path, document), 0);
        assert_int_equal(vmsnap_store_load(fixture->dir, UUID, &loaded, &error), 0);
        assert_int_equal(loaded->generation, 0);
        assert_string_equal(intent_operation(loaded), "delete");

        /* Its next write moves the intent into the journal. */
        assert_int_equal(vmsnap_store_save(fixture->dir, loaded, &error), 0);
        vmsnap_domain_meta_free(loaded);
        assert_int_equal(vmsnap_store_load(fixture->dir, UUID, &loaded, &error), 0);
        assert_int_equal(loaded->generation, 1);
        assert_string_equal(intent_operation(loaded), "delete");
        vmsnap_domain_meta_free(loaded);
        json_object_put(document);
        free(path);
        vmsnap_domain_meta_free(meta);
}

/* A document written before metadata-only deletes kept a record has no forgotten images. */
static void test_store_reads_a_document_without_forgotten_images(void **state)
{
        store_fixture *fixture = *state;
        vmsnap_domain_meta *meta = sample_meta(), *loaded = NULL;
        vmsnap_error error = {};
        json_object *document = vmsnap_store_to_json(meta);
        char *path = NULL;

        json_object_object_del(document, "forgotten");
        assert_true(asprintf(&path, "%s/" UUID ".json", fixture->dir) > 0);
        assert_int_equal(json_object_to_file(path, document), 0);
        assert_int_equal(vmsnap_store_load(fixture->dir, UUID, &loaded, &error), 0);
        assert_int_equal(loaded->n_forgotten, 0);
        assert_int_equal(loaded->n_owned, meta->n_owned);
        vmsnap_domain_meta_free(loaded);
        json_object_put(document);
        free(path);
        vmsnap_domain_meta_free(meta);
}

static void test_store_load_of_a_missing_document_is_enoent_without_a_message(void **state)
{
        store_fixture *fixture = *state;
        vmsnap_domain_meta *loaded = NULL;
        vmsnap_error error = {};

        assert_int_equal(vmsnap_store_load(fixture->dir, UUID, &loaded, &error), -ENOENT);
        assert_null(loaded);
        assert_int_equal(error.code, 0);
        assert_string_equal(error.message, "");
}

static void test_store_remove_deletes_the_document_and_accepts_a_missing_one(void **state)
{
        store_fixture *fixture = *state;
        vmsnap_domain_meta *meta = sample_meta(), *loaded = NULL;
        vmsnap_error error = {};

        assert_int_equal(vmsnap_store_save(fixture->dir, meta, &error), 0);
        assert_int_equal(vmsnap_store_remove(fixture->dir, UUID, &error), 0);
        assert_int_equal(vmsnap_store_load(fixture->dir, UUID, &loaded, &error), -ENOENT);
        assert_int_equal(vmsnap_store_remove(fixture->dir, UUID, &error), 0);

        vmsnap_domain_meta_free(meta);
}

static void test_store_refuses_a_uuid_that_leaves_the_state_directory(void **state)
{
        store_fixture *fixture = *state;
        vmsnap_domain_meta *loaded = NULL;
        vmsnap_error error = {};

        assert_int_equal(vmsnap_store_load(fixture->dir, "../escape", &loaded, &error), -EINVAL);
        assert_int_equal(error.kind, VMSNAP_ERROR_INVALID_ARGUMENT);
        assert_int_equal(vmsnap_store_remove(fixture->dir, "a/b", &error), -EINVAL);
}

static void test_store_save_refuses_a_model_it_could_not_load_back(void **state)
{
        store_fixture *fixture = *state;
        vmsnap_domain_meta *meta = sample_meta(), *loaded = NULL;
        vmsnap_error error = {};

        vmsnap_domain_meta_add_snapshot(meta, snapshot_new(ID_C "-orphan", "orphan", "no-such-parent"));
        assert_int_equal(vmsnap_store_save(fixture->dir, meta, &error), -EBADMSG);
        assert_non_null(strstr(error.message, "no-such-parent"));
        assert_int_equal(vmsnap_store_load(fixture->dir, UUID, &loaded, &error), -ENOENT);

        vmsnap_domain_meta_free(meta);
}

/* A save refuses, by checking the model itself, each model its load would refuse, and leaves
 * the document saved before as it was. */
static void replace_text(char **field, const char *value)
{
        free(*field);
        *field = value ? strdup(value) : NULL;
}

static void test_store_save_refuses_each_model_a_load_refuses(void **state)
{
        store_fixture *fixture = *state;
        static const struct {
                const char *what, *says;
        } cases[] = {
                {"an empty snapshot name", "snapshots[1]"},
                {"a snapshot without its configuration", "config_xml"},
                {"a disk both included and excluded", "disks[0]"},
                {"a disk neither included nor excluded", "disks[1]"},
                {"a repeated disk", "repeats"},
                {"an empty image name", "image"},
                {"a repeated snapshot name", "share the name"},
                {"a parent loop", "loop"},
                {"a relative owned path", "owned[1]"},
                {"a preview disk without its saved leaf", "saved_leaf"},
                {"a current that is not a snapshot", "current"},
                {"an intent that is not an object", "intent"},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                vmsnap_domain_meta *meta = sample_meta(), *loaded = NULL, *reread = NULL;
                vmsnap_error error = {};

                test_tmpdir_remove(fixture->dir);
                assert_int_equal(mkdir(fixture->dir, 0700), 0);
                assert_int_equal(vmsnap_store_save(fixture->dir, meta, &error), 0);
                switch (i) {
                case 0:
                        replace_text(&meta->snapshots[1]->name, "");
                        break;
                case 1:
                        replace_text(&meta->snapshots[2]->config_xml, NULL);
                        break;
                case 2:
                        replace_text(&meta->snapshots[0]->disks[0].excluded_reason, "cdrom");
                        break;
                case 3:
                        replace_text(&meta->snapshots[0]->disks[1].excluded_reason, NULL);
                        break;
                case 4:
                        replace_text(&meta->snapshots[1]->disks[1].target, "vda");
                        break;
                case 5:
                        replace_text(&meta->snapshots[1]->disks[0].image, "");
                        break;
                case 6:
                        replace_text(&meta->snapshots[3]->name, "b");
                        break;
                case 7:
                        replace_text(&meta->snapshots[0]->parent_id, ID_C);
                        break;
                case 8:
                        replace_text(&meta->owned[1], "images/vm1.b.qcow2");
                        break;
                case 9:
                        replace_text(&meta->preview->disks[1].saved_leaf, NULL);
                        break;
                case 10:
                        replace_text(&meta->current_id, "gone");
                        break;
                case 11:
                        json_object_put(meta->intent);
                        meta->intent = json_object_new_array();
                        break;
                }
                /* The reader refuses it too: the two checks say the same. */
                json_object *document = vmsnap_store_to_json(meta);
                if (vmsnap_store_from_json(document, &reread, &error) != -EBADMSG)
                        fail_msg("the reader accepts %s", cases[i].what);
                json_object_put(document);
                if (vmsnap_store_save(fixture->dir, meta, &error) != -EBADMSG)
                        fail_msg("a save of %s was not refused", cases[i].what);
                if (!strstr(error.message, cases[i].says) || !strstr(error.message, "refusing to save"))
                        fail_msg("the refusal of %s says \"%s\", without \"%s\"", cases[i].what,
                                 error.message, cases[i].says);
                vmsnap_domain_meta_free(meta);
                meta = sample_meta();
                assert_int_equal(vmsnap_store_load(fixture->dir, UUID, &loaded, &error), 0);
                assert_meta_equal(meta, loaded);
                vmsnap_domain_meta_free(loaded);
                vmsnap_domain_meta_free(meta);
        }
}

/* The document keeps each snapshot's text while the snapshot stays the same (document.h):
 * a change to any one field of a snapshot still reaches the file. */
static void test_store_save_writes_every_change_to_any_field_of_a_snapshot(void **state)
{
        store_fixture *fixture = *state;
        vmsnap_domain_meta *meta = sample_meta();
        vmsnap_error error = {};

        assert_int_equal(vmsnap_store_save(fixture->dir, meta, &error), 0);
        for (int step = 0; step < 16; step++) {
                /* Changed as the engine changes one: through a record of the model's own
                 * (the store holds the one it wrote, model.h). */
                vmsnap_snapshot *a = vmsnap_domain_meta_writable(meta, ID_A);
                vmsnap_domain_meta *loaded = NULL;

                switch (step) {
                case 0:
                        replace_text(&a->name, "a-renamed");
                        break;
                case 1:
                        replace_text(&a->description, "now described");
                        break;
                case 2:
                        a->created++;
                        break;
                case 3:
                        replace_text(&vmsnap_domain_meta_writable(meta, meta->snapshots[3]->id)->parent_id,
                                     ID_B);
                        break;
                case 4:
                        replace_text(&a->state, "paused");
                        break;
                case 5:
                        replace_text(&a->config_xml,
                                     "<domain type='kvm'><name>vm</name><vcpu>2</vcpu></domain>");
                        break;
                case 6:
                        replace_text(&a->memory_file, NULL);
                        break;
                case 7:
                        replace_text(&a->disks[0].image, "/var/lib/libvirt/images/vm1.a2.qcow2");
                        break;
                case 8:
                        replace_text(&a->disks[1].format, "qcow2");
                        break;
                case 9:
                        replace_text(&a->disks[1].target, "vdd");
                        break;
                case 10:
                        replace_text(&a->disks[1].image, NULL);
                        replace_text(&a->disks[1].format, NULL);
                        replace_text(&a->disks[1].excluded_reason, "shareable");
                        break;
                case 11:
                        vmsnap_snapshot_add_disk(a, "vde", "/var/lib/libvirt/images/e.qcow2", "qcow2", NULL);
                        break;
                case 12:
                        vmsnap_domain_meta_remove_snapshot(meta, ID_C);
                        break;
                case 13:
                        /* The same snapshots in another order, and one made anew with the id of one gone. */
                        vmsnap_domain_meta_add_snapshot(meta, snapshot_new(ID_C, "c2", ID_BASE));
                        break;
                case 14:
                        replace_text(&a->disks[2].rbd_snapshot, "rbd/ns/vm1-data.1a2b3c4d@vmsnap-" ID_A);
                        break;
                case 15:
                        replace_text(&a->consistency, VMSNAP_CONSISTENCY_QUIESCED);
                        break;
                }
                assert_int_equal(vmsnap_store_save(fixture->dir, meta, &error), 0);
                assert_int_equal(vmsnap_store_load(fixture->dir, UUID, &loaded, &error), 0);
                assert_meta_equal(meta, loaded);
                vmsnap_domain_meta_free(loaded);
        }
        vmsnap_domain_meta_free(meta);
}

/* ---- store: refusing malformed documents ---- */

static json_object *sample_document(void)
{
        vmsnap_domain_meta *meta = sample_meta();
        json_object *document = vmsnap_store_to_json(meta);
        vmsnap_domain_meta_free(meta);
        return document;
}

static json_object *snapshot_in(json_object *document, size_t index)
{
        return json_object_array_get_idx(json_object_object_get(document, "snapshots"), index);
}

/* Checks that the document is refused as malformed with a sentence containing each of the given words. */
static void assert_refused_with_code(json_object *document, int code, const char *word, ...)
{
        vmsnap_domain_meta *meta = NULL;
        vmsnap_error error = {};
        va_list ap;

        assert_int_equal(vmsnap_store_from_json(document, &meta, &error), code);
        assert_null(meta);
        assert_int_equal(error.code, code);
        va_start(ap, word);
        for (const char *w = word; w; w = va_arg(ap, const char *)) {
                if (!strstr(error.message, w))
                        fail_msg("expected \"%s\" in the error message \"%s\"", w, error.message);
        }
        va_end(ap);
        json_object_put(document);
}
#define assert_refused(document, ...) assert_refused_with_code(document, -EBADMSG, __VA_ARGS__, NULL)

static void test_store_accepts_its_own_document(void **state)
{
        json_object *document = sample_document();
        vmsnap_domain_meta *meta = NULL;
        vmsnap_error error = {};

        assert_int_equal(vmsnap_store_from_json(document, &meta, &error), 0);
        vmsnap_domain_meta_free(meta);
        json_object_put(document);
}

static void test_store_refuses_a_document_that_is_not_an_object(void **state)
{
        assert_refused(json_object_new_array(), "object");
        assert_refused(json_object_new_string("{}"), "object");

        vmsnap_domain_meta *meta = NULL;
        vmsnap_error error = {};
        assert_int_equal(vmsnap_store_from_json(NULL, &meta, &error), -EBADMSG);
}

static void test_store_refuses_an_unknown_version(void **state)
{
        json_object *document = sample_document();
        json_object_object_add(document, "version", json_object_new_int(3));
        assert_refused_with_code(document, -EPROTONOSUPPORT, "version 3", NULL);
        document = sample_document();
        json_object_object_add(document, "version", json_object_new_int(0));
        assert_refused_with_code(document, -EPROTONOSUPPORT, "version 0", NULL);

        document = sample_document();
        json_object_object_del(document, "version");
        assert_refused(document, "version", "missing");

        document = sample_document();
        json_object_object_add(document, "version", json_object_new_string("1"));
        assert_refused(document, "version", "integer");
}

static void test_store_refuses_fields_of_the_wrong_type(void **state)
{
        json_object *document = sample_document();
        json_object_object_add(document, "uuid", json_object_new_int(7));
        assert_refused(document, "field uuid", "string");

        document = sample_document();
        json_object_object_add(document, "current", json_object_new_boolean(true));
        assert_refused(document, "field current", "string or null");

        document = sample_document();
        json_object_object_add(document, "snapshots", json_object_new_object());
        assert_refused(document, "field snapshots", "array");

        document = sample_document();
        json_object_object_add(snapshot_in(document, 1), "created", json_object_new_double(1.5));
        assert_refused(document, "snapshots[1].created", "integer");

        document = sample_document();
        json_object_object_add(snapshot_in(document, 0), "disks", json_object_new_string("vda"));
        assert_refused(document, "snapshots[0].disks", "array");

        document = sample_document();
        json_object_array_put_idx(json_object_object_get(snapshot_in(document, 0), "disks"), 0,
                                  json_object_new_int(1));
        assert_refused(document, "snapshots[0].disks[0]", "object");

        document = sample_document();
        json_object_array_add(json_object_object_get(document, "owned"), json_object_new_int(3));
        assert_refused(document, "owned[2]");

        document = sample_document();
        json_object_array_add(json_object_object_get(document, "forgotten"),
                              json_object_new_string("old.qcow2"));
        assert_refused(document, "forgotten[1]");

        document = sample_document();
        json_object_object_add(document, "intent", json_object_new_array());
        assert_refused(document, "intent", "object");

        document = sample_document();
        json_object_object_add(json_object_object_get(document, "preview"), "disks", json_object_new_int(0));
        assert_refused(document, "preview.disks", "array");
}

static void test_store_refuses_a_snapshot_without_an_id(void **state)
{
        json_object *document = sample_document();
        json_object_object_del(snapshot_in(document, 2), "id");
        assert_refused(document, "snapshots[2].id", "missing");

        document = sample_document();
        json_object_object_add(snapshot_in(document, 2), "id", json_object_new_string(""));
        assert_refused(document, "snapshots[2].id", "empty");
}

static void test_store_refuses_a_string_with_a_nul_character(void **state)
{
        json_object *document = sample_document();
        json_object_object_add(snapshot_in(document, 0), "name", json_object_new_string_len("ba\0se", 5));
        assert_refused(document, "snapshots[0].name", "NUL");
}

static void test_store_refuses_a_snapshot_with_an_unknown_parent(void **state)
{
        json_object *document = sample_document();
        json_object_object_add(snapshot_in(document, 3), "parent", json_object_new_string(ID_C "-gone"));
        assert_refused(document, "snapshots[3]", "parent", ID_C "-gone");
}

static void test_store_refuses_snapshots_whose_parents_form_a_loop(void **state)
{
        json_object *document = sample_document();
        json_object_object_add(snapshot_in(document, 0), "parent", json_object_new_string(ID_C));
        assert_refused(document, "loop");
}

static void test_store_refuses_duplicate_snapshot_ids(void **state)
{
        json_object *document = sample_document();
        json_object_object_add(snapshot_in(document, 3), "id", json_object_new_string(ID_B));
        assert_refused(document, "snapshots[2]", "snapshots[3]", ID_B);
}

static void test_store_refuses_duplicate_snapshot_names(void **state)
{
        json_object *document = sample_document();
        json_object_object_add(snapshot_in(document, 2), "name", json_object_new_string("a"));
        assert_refused(document, "snapshots[1]", "snapshots[2]", "name");
}

static void test_store_refuses_a_disk_both_included_and_excluded(void **state)
{
        json_object *document = sample_document();
        json_object *disk =
                json_object_array_get_idx(json_object_object_get(snapshot_in(document, 0), "disks"), 0);
        json_object_object_add(disk, "excluded_reason", json_object_new_string("cdrom"));
        assert_refused(document, "snapshots[0].disks[0]", "vda");

        document = sample_document();
        disk = json_object_array_get_idx(json_object_object_get(snapshot_in(document, 0), "disks"), 1);
        json_object_object_add(disk, "excluded_reason", NULL);
        assert_refused(document, "snapshots[0].disks[1]", "vdb");
}

/* A snapshot says how consistent it is; an older one's record has no such field and reads
 * as unknown, and a value vmsnap does not know is refused, naming it. */
static void test_store_reads_a_snapshots_consistency_and_refuses_an_unknown_one(void **state)
{
        json_object *document = sample_document();
        vmsnap_domain_meta *meta = NULL;
        vmsnap_error error = {};

        assert_string_equal(
                json_object_get_string(json_object_object_get(snapshot_in(document, 1), "consistency")),
                "crash-consistent");
        assert_false(json_object_object_get_ex(snapshot_in(document, 0), "consistency", NULL));
        assert_int_equal(vmsnap_store_from_json(document, &meta, &error), 0);
        assert_null(meta->snapshots[0]->consistency);
        assert_string_equal(meta->snapshots[1]->consistency, "crash-consistent");
        vmsnap_domain_meta_free(meta);
        json_object_put(document);

        document = sample_document();
        json_object_object_add(snapshot_in(document, 1), "consistency", json_object_new_string("hopeful"));
        assert_refused(document, "snapshots[1].consistency", "hopeful", "quiesced");
        document = sample_document();
        json_object_object_add(snapshot_in(document, 1), "consistency", json_object_new_int(1));
        assert_refused(document, "snapshots[1].consistency", "string");
}

static void test_store_refuses_an_rbd_disk_that_also_names_a_file(void **state)
{
        json_object *document = sample_document();
        json_object *disk =
                json_object_array_get_idx(json_object_object_get(snapshot_in(document, 1), "disks"), 2);
        json_object_object_add(disk, "image", json_object_new_string("/var/lib/libvirt/images/x.qcow2"));
        json_object_object_add(disk, "format", json_object_new_string("qcow2"));
        assert_refused(document, "snapshots[1].disks[2]", "vdf", "exactly one");

        document = sample_document();
        disk = json_object_array_get_idx(
                json_object_object_get(json_object_object_get(document, "preview"), "disks"), 2);
        json_object_object_add(disk, "saved_leaf",
                               json_object_new_string("/var/lib/libvirt/images/x.qcow2"));
        assert_refused(document, "preview.disks[2]", "vdf", "rbd_saved");

        document = sample_document();
        disk = json_object_array_get_idx(
                json_object_object_get(json_object_object_get(document, "preview"), "disks"), 0);
        json_object_object_add(disk, "rbd_overlay", json_object_new_string("rbd/vm1.1a2b3c4d"));
        assert_refused(document, "preview.disks[0].rbd_overlay");
}

static void test_store_refuses_a_repeated_disk_target(void **state)
{
        json_object *document = sample_document();
        json_object *disks = json_object_object_get(snapshot_in(document, 0), "disks");
        json_object_array_add(disks, json_object_get(json_object_array_get_idx(disks, 0)));
        assert_refused(document, "snapshots[0]", "repeats", "vda");
}

static void test_store_refuses_references_to_missing_snapshots(void **state)
{
        json_object *document = sample_document();
        json_object_object_add(document, "current", json_object_new_string("gone"));
        assert_refused(document, "current", "gone");

        document = sample_document();
        json_object_object_add(json_object_object_get(document, "preview"), "config_snapshot",
                               json_object_new_string("gone"));
        assert_refused(document, "preview.config_snapshot", "gone");

        document = sample_document();
        json_object_object_add(json_object_object_get(document, "preview"), "saved_current",
                               json_object_new_string("gone"));
        assert_refused(document, "preview.saved_current", "gone");

        document = sample_document();
        json_object *disk = json_object_array_get_idx(
                json_object_object_get(json_object_object_get(document, "preview"), "disks"), 0);
        json_object_object_add(disk, "snapshot", json_object_new_string("gone"));
        assert_refused(document, "preview.disks[0].snapshot", "gone");
}

static void test_store_refuses_a_preview_disk_without_its_saved_leaf(void **state)
{
        json_object *document = sample_document();
        json_object *disk = json_object_array_get_idx(
                json_object_object_get(json_object_object_get(document, "preview"), "disks"), 1);
        json_object_object_del(disk, "saved_leaf");
        assert_refused(document, "preview.disks[1].saved_leaf", "missing");
}

static void test_store_refuses_a_next_default_index_out_of_range(void **state)
{
        json_object *document = sample_document();
        json_object_object_add(document, "next_default_index", json_object_new_int(-1));
        assert_refused(document, "next_default_index");

        document = sample_document();
        json_object_object_add(document, "next_default_index", json_object_new_int64(INT64_MAX));
        assert_refused(document, "next_default_index");
}

static void test_store_load_refuses_truncated_json_naming_the_file(void **state)
{
        store_fixture *fixture = *state;
        vmsnap_domain_meta *loaded = NULL;
        vmsnap_error error = {};
        const char *text = "{\"version\": 1, \"uuid\": \"" UUID "\", \"snapshots\": [";

        write_document(fixture->dir, UUID, text, strlen(text));
        assert_int_equal(vmsnap_store_load(fixture->dir, UUID, &loaded, &error), -EBADMSG);
        assert_null(loaded);
        assert_int_equal(error.kind, VMSNAP_ERROR_FAILED);
        assert_non_null(strstr(error.message, fixture->dir));
        assert_non_null(strstr(error.message, UUID ".json"));
        assert_non_null(strstr(error.message, "truncated"));
}

static void test_store_load_refuses_trailing_data_after_the_document(void **state)
{
        store_fixture *fixture = *state;
        vmsnap_domain_meta *meta = sample_meta(), *loaded = NULL;
        vmsnap_error error = {};
        json_object *document = vmsnap_store_to_json(meta);
        char *text = NULL;

        assert_true(asprintf(&text, "%s\n  {}", json_object_to_json_string(document)) > 0);
        write_document(fixture->dir, UUID, text, strlen(text));
        assert_int_equal(vmsnap_store_load(fixture->dir, UUID, &loaded, &error), -EBADMSG);
        assert_non_null(strstr(error.message, "offset"));

        /* A NUL byte after the document is not white space either. */
        const char *plain = json_object_to_json_string(document);
        write_document(fixture->dir, UUID, plain, strlen(plain) + 1);
        assert_int_equal(vmsnap_store_load(fixture->dir, UUID, &loaded, &error), -EBADMSG);
        assert_non_null(strstr(error.message, "trailing"));

        free(text);
        json_object_put(document);
        vmsnap_domain_meta_free(meta);
}

static void test_store_load_refuses_a_document_of_another_domain(void **state)
{
        store_fixture *fixture = *state;
        vmsnap_domain_meta *meta = sample_meta(), *loaded = NULL;
        vmsnap_error error = {};
        const char *other = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";

        assert_int_equal(vmsnap_store_save(fixture->dir, meta, &error), 0);
        char from[4096], to[4096];
        snprintf(from, sizeof(from), "%s/%s.json", fixture->dir, UUID);
        snprintf(to, sizeof(to), "%s/%s.json", fixture->dir, other);
        assert_int_equal(rename(from, to), 0);

        assert_int_equal(vmsnap_store_load(fixture->dir, other, &loaded, &error), -EBADMSG);
        assert_non_null(strstr(error.message, UUID));
        assert_non_null(strstr(error.message, other));

        vmsnap_domain_meta_free(meta);
}

/* Not a fuzzer, but the cheapest part of one: every prefix and many byte flips of a valid
 * document must load or be refused, never crash or leak (run under ASan to see the latter). */
static void test_store_load_survives_every_truncation_and_byte_flip(void **state)
{
        store_fixture *fixture = *state;
        vmsnap_domain_meta *meta = sample_meta();
        json_object *document = vmsnap_store_to_json(meta);
        const char *text = json_object_to_json_string_ext(document, JSON_C_TO_STRING_PLAIN);
        size_t size = strlen(text);
        char *mutated = malloc(size + 1);
        static const char replacements[] = {'\0', '"', '{', ']', '0', 'x', '-', '\\', ',', ' '};

        for (size_t length = 0; length < size; length++) {
                vmsnap_domain_meta *loaded = NULL;
                vmsnap_error error = {};
                write_document(fixture->dir, UUID, text, length);
                assert_int_equal(vmsnap_store_load(fixture->dir, UUID, &loaded, &error), -EBADMSG);
                assert_true(error.message[0] != '\0');
        }

        for (size_t offset = 0; offset < size; offset += 3) {
                for (size_t k = 0; k < sizeof(replacements); k++) {
                        vmsnap_domain_meta *loaded = NULL;
                        vmsnap_error error = {};
                        memcpy(mutated, text, size);
                        mutated[offset] = replacements[k];
                        write_document(fixture->dir, UUID, mutated, size);
                        int r = vmsnap_store_load(fixture->dir, UUID, &loaded, &error);
                        if (r < 0)
                                assert_true(error.message[0] != '\0');
                        vmsnap_domain_meta_free(loaded);
                }
        }

        free(mutated);
        json_object_put(document);
        vmsnap_domain_meta_free(meta);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_model_finds_snapshots_by_id_or_by_name),
                cmocka_unit_test(test_model_find_prefers_an_id_over_a_name_that_looks_like_one),
                cmocka_unit_test(test_model_finds_disks_by_target),
                cmocka_unit_test(test_model_children_of_null_are_the_roots),
                cmocka_unit_test(test_model_children_are_direct_children_only_in_order),
                cmocka_unit_test(test_model_descends_covers_self_and_every_ancestor),
                cmocka_unit_test(test_model_descends_terminates_on_a_parent_loop),
                cmocka_unit_test(test_model_remove_snapshot_keeps_the_others_in_order),
                cmocka_unit_test(test_model_owned_set_holds_each_path_once),
                cmocka_unit_test(test_model_copy_changes_apart_from_the_original_and_copies_the_intent),
                cmocka_unit_test_setup_teardown(test_store_save_then_load_gives_the_same_model,
                                                setup_state_dir, teardown_state_dir),
                cmocka_unit_test_setup_teardown(test_store_round_trips_an_empty_domain, setup_state_dir,
                                                teardown_state_dir),
                cmocka_unit_test_setup_teardown(
                        test_store_save_replaces_the_document_and_leaves_no_temporary_files, setup_state_dir,
                        teardown_state_dir),
                cmocka_unit_test_setup_teardown(test_store_saves_an_intent_without_writing_the_document,
                                                setup_state_dir, teardown_state_dir),
                cmocka_unit_test_setup_teardown(
                        test_store_load_keeps_the_previous_intent_when_the_document_never_came,
                        setup_state_dir, teardown_state_dir),
                cmocka_unit_test_setup_teardown(
                        test_store_reads_the_intent_a_document_of_an_earlier_version_holds, setup_state_dir,
                        teardown_state_dir),
                cmocka_unit_test_setup_teardown(test_store_reads_a_document_without_forgotten_images,
                                                setup_state_dir, teardown_state_dir),
                cmocka_unit_test_setup_teardown(
                        test_store_load_of_a_missing_document_is_enoent_without_a_message, setup_state_dir,
                        teardown_state_dir),
                cmocka_unit_test_setup_teardown(
                        test_store_remove_deletes_the_document_and_accepts_a_missing_one, setup_state_dir,
                        teardown_state_dir),
                cmocka_unit_test_setup_teardown(test_store_refuses_a_uuid_that_leaves_the_state_directory,
                                                setup_state_dir, teardown_state_dir),
                cmocka_unit_test_setup_teardown(
                        test_store_change_log_replays_every_change_and_is_folded_into_the_document,
                        setup_state_dir, teardown_state_dir),
                cmocka_unit_test_setup_teardown(test_store_change_log_leaves_out_a_last_line_cut_short,
                                                setup_state_dir, teardown_state_dir),
                cmocka_unit_test_setup_teardown(test_store_change_log_refuses_a_damaged_line_before_others,
                                                setup_state_dir, teardown_state_dir),
                cmocka_unit_test_setup_teardown(test_store_change_log_ignores_lines_of_an_older_document,
                                                setup_state_dir, teardown_state_dir),
                cmocka_unit_test_setup_teardown(test_store_save_refuses_each_model_a_load_refuses,
                                                setup_state_dir, teardown_state_dir),
                cmocka_unit_test_setup_teardown(
                        test_store_save_writes_every_change_to_any_field_of_a_snapshot, setup_state_dir,
                        teardown_state_dir),
                cmocka_unit_test_setup_teardown(test_store_save_refuses_a_model_it_could_not_load_back,
                                                setup_state_dir, teardown_state_dir),
                cmocka_unit_test(test_store_accepts_its_own_document),
                cmocka_unit_test(test_store_refuses_a_document_that_is_not_an_object),
                cmocka_unit_test(test_store_refuses_an_unknown_version),
                cmocka_unit_test(test_store_refuses_fields_of_the_wrong_type),
                cmocka_unit_test(test_store_refuses_a_snapshot_without_an_id),
                cmocka_unit_test(test_store_refuses_a_string_with_a_nul_character),
                cmocka_unit_test(test_store_refuses_a_snapshot_with_an_unknown_parent),
                cmocka_unit_test(test_store_refuses_snapshots_whose_parents_form_a_loop),
                cmocka_unit_test(test_store_refuses_duplicate_snapshot_ids),
                cmocka_unit_test(test_store_refuses_duplicate_snapshot_names),
                cmocka_unit_test(test_store_refuses_a_disk_both_included_and_excluded),
                cmocka_unit_test(test_store_refuses_a_repeated_disk_target),
                cmocka_unit_test(test_store_reads_a_snapshots_consistency_and_refuses_an_unknown_one),
                cmocka_unit_test(test_store_refuses_an_rbd_disk_that_also_names_a_file),
                cmocka_unit_test(test_store_refuses_references_to_missing_snapshots),
                cmocka_unit_test(test_store_refuses_a_preview_disk_without_its_saved_leaf),
                cmocka_unit_test(test_store_refuses_a_next_default_index_out_of_range),
                cmocka_unit_test_setup_teardown(test_store_load_refuses_truncated_json_naming_the_file,
                                                setup_state_dir, teardown_state_dir),
                cmocka_unit_test_setup_teardown(test_store_load_refuses_trailing_data_after_the_document,
                                                setup_state_dir, teardown_state_dir),
                cmocka_unit_test_setup_teardown(test_store_load_refuses_a_document_of_another_domain,
                                                setup_state_dir, teardown_state_dir),
                cmocka_unit_test_setup_teardown(test_store_load_survives_every_truncation_and_byte_flip,
                                                setup_state_dir, teardown_state_dir),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
