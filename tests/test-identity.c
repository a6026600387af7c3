/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-identity.c: a UUID names one domain and an id one snapshot, whatever
 * names exist: every entry point that takes a domain or a snapshot takes a
 * UUID as a UUID first and only then as a name, and names that could be taken
 * for a UUID, or that hide characters, are refused before anything changes. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "error.h"
#include "fixture.h"
#include "engine.h"
#include "model.h"
#include "store.h"
#include "testlib.h"

static int setup(void **state)
{
        fixture *f = fixture_new();

        fixture_define_three_disk_domain(f, "vm");
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture_free(*state);
        return 0;
}

static void create_named(fixture *f, const char *domain, const char *name)
{
        vmsnap_create_options options = {.name = name};
        vmsnap_error error = {0};
        assert_ok(vmsnap_snapshot_create(f->engine, domain, &options, NULL, NULL, &error), &error);
}

static char *domain_uuid(fixture *f, const char *name)
{
        char uuid[VIR_UUID_STRING_BUFLEN];
        virDomainPtr d = virDomainLookupByName(f->connection, name);

        assert_non_null(d);
        assert_int_equal(virDomainGetUUIDString(d, uuid), 0);
        virDomainFree(d);
        return strdup(uuid);
}

static char *snapshot_id(fixture *f, const char *domain, const char *snapshot)
{
        vmsnap_snapshot_info info = {0};
        vmsnap_error error = {0};

        assert_ok(vmsnap_snapshot_get(f->engine, domain, snapshot, &info, &error), &error);
        char *id = strdup(info.id);
        vmsnap_snapshot_info_clear(&info);
        return id;
}

static char *uppercase(const char *text)
{
        char *copy = strdup(text);
        for (char *p = copy; *p; p++)
                *p = (char)toupper((unsigned char)*p);
        return copy;
}

static void snapshot_get_ok(fixture *f, const char *domain, const char *snapshot, vmsnap_snapshot_info *ret)
{
        vmsnap_error error = {0};
        assert_ok(vmsnap_snapshot_get(f->engine, domain, snapshot, ret, &error), &error);
}

static void on_change(void *userdata, const char *domain_uuid)
{
}

/* Changes the snapshot's name in the store behind the engine's back, as metadata
 * written before names were checked could hold it. */
static void store_rename(fixture *f, const char *domain, const char *id, const char *new_name)
{
        _cleanup_free_ char *uuid = domain_uuid(f, domain);
        vmsnap_domain_meta *meta = NULL;
        vmsnap_error error = {0};

        assert_ok(vmsnap_store_load(f->state_dir, uuid, &meta, &error), &error);
        vmsnap_snapshot *s = vmsnap_domain_meta_find_id(meta, id);
        assert_non_null(s);
        free(s->name);
        s->name = strdup(new_name);
        assert_ok(vmsnap_store_save(f->state_dir, meta, &error), &error);
        vmsnap_domain_meta_free(meta);
        vmsnap_engine_forget(f->engine);
}

static void test_a_domain_uuid_names_that_domain_before_a_domain_named_by_it(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        vmsnap_domain_info info = {0};
        vmsnap_snapshot_info *list = NULL, one = {0};
        vmsnap_image_info *disks = NULL;
        size_t n = 0;
        char *xml = NULL;

        _cleanup_free_ char *uuid = domain_uuid(f, "vm");
        _cleanup_free_ char *upper = uppercase(uuid);
        /* libvirt lets anyone name a domain after another's UUID; vmsnap never does. */
        fixture_define_three_disk_domain(f, uuid);
        _cleanup_free_ char *impostor = domain_uuid(f, uuid);
        assert_ok(vmsnap_engine_watch(f->engine, on_change, NULL, &error), &error);
        create_named(f, "vm", "s1");
        create_named(f, impostor, "i1");
        /* The impostor's facts are kept first, so a lookup that matched names as well as
         * UUIDs would find it. */
        assert_ok(vmsnap_domain_get(f->engine, impostor, &info, &error), &error);
        assert_string_equal(info.name, uuid);
        vmsnap_domain_info_clear(&info);

        const char *spellings[] = {uuid, upper};
        for (size_t i = 0; i < 2; i++) {
                assert_ok(vmsnap_domain_get(f->engine, spellings[i], &info, &error), &error);
                assert_string_equal(info.name, "vm");
                vmsnap_domain_info_clear(&info);
                assert_ok(vmsnap_snapshot_list(f->engine, spellings[i], &list, &n, &error), &error);
                assert_int_equal(n, 1);
                assert_string_equal(list[0].name, "s1");
                vmsnap_snapshot_info_array_free(list, n);
                snapshot_get_ok(f, spellings[i], "s1", &one);
                vmsnap_snapshot_info_clear(&one);
                assert_ok(vmsnap_snapshot_get_configuration(f->engine, spellings[i], "s1", &xml, &disks, &n,
                                                            &error),
                          &error);
                assert_non_null(strstr(xml, "<name>vm</name>"));
                free(xml);
                vmsnap_image_info_array_free(disks, n);
                assert_ok(vmsnap_domain_get_configuration(f->engine, spellings[i], &xml, &disks, &n, &error),
                          &error);
                assert_non_null(strstr(xml, "<name>vm</name>"));
                free(xml);
                vmsnap_image_info_array_free(disks, n);
        }

        /* Every change: the impostor has no s1, so each would fail there. */
        create_named(f, upper, "s2");
        snapshot_get_ok(f, "vm", "s2", &one);
        vmsnap_snapshot_info_clear(&one);
        assert_ok(vmsnap_preview_start(f->engine, uuid, "s1", NULL, NULL, &error), &error);
        assert_ok(vmsnap_preview_undo(f->engine, upper, NULL, &error), &error);
        assert_ok(vmsnap_preview_start(f->engine, upper, "s1", NULL, NULL, &error), &error);
        assert_ok(vmsnap_preview_commit(f->engine, uuid, NULL, &error), &error);
        assert_ok(vmsnap_snapshot_revert(f->engine, uuid, "s2", NULL, NULL, &error), &error);
        assert_ok(vmsnap_snapshot_set_description(f->engine, uuid, "s2", "by uuid", &error), &error);
        assert_ok(vmsnap_snapshot_rename(f->engine, uuid, "s2", "s3", &error), &error);
        fixture_add_defined(f, "c1");
        assert_ok(vmsnap_snapshot_clone(f->engine, uuid, "s3", "c1", NULL, NULL, NULL, &error), &error);
        assert_ok(vmsnap_snapshot_delete(f->engine, upper, "s3", VMSNAP_DELETE_MERGE, NULL, &error), &error);

        assert_ok(vmsnap_snapshot_list(f->engine, "vm", &list, &n, &error), &error);
        assert_int_equal(n, 1);
        assert_string_equal(list[0].name, "s1");
        vmsnap_snapshot_info_array_free(list, n);
        assert_ok(vmsnap_snapshot_list(f->engine, impostor, &list, &n, &error), &error);
        assert_int_equal(n, 1);
        assert_string_equal(list[0].name, "i1");
        assert_string_equal(list[0].description, "");
        vmsnap_snapshot_info_array_free(list, n);
}

static void test_a_snapshot_id_names_that_snapshot_before_a_snapshot_named_by_it(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        vmsnap_snapshot_info one = {0}, other = {0};
        vmsnap_image_info *disks = NULL;
        size_t n = 0;
        char *xml = NULL;

        create_named(f, "vm", "a");
        fixture_write(f, "vm", "vda", 0, 0x5a);
        create_named(f, "vm", "b");
        _cleanup_free_ char *a = snapshot_id(f, "vm", "a");
        _cleanup_free_ char *b = snapshot_id(f, "vm", "b");
        _cleanup_free_ char *upper = uppercase(a);
        store_rename(f, "vm", b, a);

        snapshot_get_ok(f, "vm", a, &one);
        assert_string_equal(one.id, a);
        vmsnap_snapshot_info_clear(&one);
        snapshot_get_ok(f, "vm", upper, &one);
        assert_string_equal(one.id, a);
        vmsnap_snapshot_info_clear(&one);
        assert_ok(vmsnap_snapshot_get_configuration(f->engine, "vm", upper, &xml, &disks, &n, &error),
                  &error);
        snapshot_get_ok(f, "vm", a, &one);
        for (size_t i = 0; i < n; i++)
                if (strcmp(disks[i].target, "vda") == 0)
                        assert_string_equal(disks[i].image, one.disks[0].image);
        vmsnap_snapshot_info_clear(&one);
        free(xml);
        vmsnap_image_info_array_free(disks, n);

        /* Preview: the main snapshot and a disk's choice. */
        assert_ok(vmsnap_preview_start(f->engine, "vm", upper, NULL, NULL, &error), &error);
        snapshot_get_ok(f, "vm", a, &one);
        snapshot_get_ok(f, "vm", b, &other);
        assert_true(one.in_preview);
        assert_false(other.in_preview);
        vmsnap_snapshot_info_clear(&one);
        vmsnap_snapshot_info_clear(&other);
        assert_ok(vmsnap_preview_undo(f->engine, "vm", NULL, &error), &error);
        vmsnap_disk_choice choice[] = {{"vda", a}};
        vmsnap_preview_options custom = {.disks = choice, .n_disks = 1};
        assert_ok(vmsnap_preview_start(f->engine, "vm", b, &custom, NULL, &error), &error);
        snapshot_get_ok(f, "vm", a, &one);
        assert_true(one.in_preview);
        vmsnap_snapshot_info_clear(&one);
        assert_ok(vmsnap_preview_undo(f->engine, "vm", NULL, &error), &error);

        assert_ok(vmsnap_snapshot_set_description(f->engine, "vm", a, "the first", &error), &error);
        snapshot_get_ok(f, "vm", "a", &one);
        assert_string_equal(one.description, "the first");
        vmsnap_snapshot_info_clear(&one);
        assert_ok(vmsnap_snapshot_revert(f->engine, "vm", upper, NULL, NULL, &error), &error);
        vmsnap_domain_info info = {0};
        assert_ok(vmsnap_domain_get(f->engine, "vm", &info, &error), &error);
        assert_string_equal(info.current_snapshot, "a");
        vmsnap_domain_info_clear(&info);
        assert_ok(vmsnap_snapshot_rename(f->engine, "vm", a, "a2", &error), &error);
        snapshot_get_ok(f, "vm", b, &other);
        assert_string_equal(other.name, a); /* the other keeps its name */
        vmsnap_snapshot_info_clear(&other);

        fixture_add_defined(f, "c1");
        assert_ok(vmsnap_snapshot_clone(f->engine, "vm", a, "c1", NULL, NULL, NULL, &error), &error);
        snapshot_get_ok(f, "vm", "a2", &one);
        _cleanup_free_ char *copy = fixture_active_source(f, "c1", "vda");
        assert_true(test_images_equal(copy, one.disks[0].image));
        vmsnap_snapshot_info_clear(&one);

        assert_ok(vmsnap_snapshot_delete(f->engine, "vm", a, VMSNAP_DELETE_MERGE, NULL, &error), &error);
        snapshot_get_ok(f, "vm", b, &other);
        vmsnap_snapshot_info_clear(&other);
        /* With no snapshot of that id left, the text is a name again. */
        snapshot_get_ok(f, "vm", a, &other);
        assert_string_equal(other.id, b);
        vmsnap_snapshot_info_clear(&other);
}

static void assert_refused(int r, const vmsnap_error *error, const char *says)
{
        assert_int_equal(r, -EINVAL);
        assert_int_equal(error->kind, VMSNAP_ERROR_INVALID_ARGUMENT);
        if (!strstr(error->message, says))
                fail_msg("\"%s\" does not say \"%s\"", error->message, says);
}

/* The snapshots of vm and the files under its directory, to compare before and after. */
static char *state_of(fixture *f)
{
        vmsnap_snapshot_info *list = NULL;
        vmsnap_error error = {0};
        size_t n = 0;
        char *text = NULL;

        assert_ok(vmsnap_snapshot_list(f->engine, "vm", &list, &n, &error), &error);
        if (asprintf(&text, "%zu files;", fixture_count_files(f, "vm")) < 0)
                abort();
        for (size_t i = 0; i < n; i++) {
                char *longer = NULL;
                if (asprintf(&longer, "%s %s=%s", text, list[i].id, list[i].name) < 0)
                        abort();
                free(text);
                text = longer;
        }
        vmsnap_snapshot_info_array_free(list, n);
        return text;
}

static void test_names_that_are_uuids_are_refused_at_create_rename_and_clone(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        vmsnap_create_options named = {0};

        create_named(f, "vm", "a");
        create_named(f, "vm", "b");
        _cleanup_free_ char *a = snapshot_id(f, "vm", "a");
        _cleanup_free_ char *upper = uppercase(a);
        _cleanup_free_ char *domain = domain_uuid(f, "vm");
        _cleanup_free_ char *before = state_of(f);

        named.name = "0b5c3c1e-8f1d-4a53-9c0e-2f6a1b7d9e41";
        assert_refused(vmsnap_snapshot_create(f->engine, "vm", &named, NULL, NULL, &error), &error,
                       "snapshot name \"0b5c3c1e-8f1d-4a53-9c0e-2f6a1b7d9e41\" has the form of a UUID");
        assert_refused(vmsnap_snapshot_rename(f->engine, "vm", "b", a, &error), &error, "form of a UUID");
        assert_refused(vmsnap_snapshot_rename(f->engine, "vm", "b", upper, &error), &error,
                       "form of a UUID");
        assert_refused(vmsnap_snapshot_clone(f->engine, "vm", "a", domain, NULL, NULL, NULL, &error), &error,
                       "domain name");
        assert_non_null(strstr(error.message, "form of a UUID"));
        assert_refused(vmsnap_snapshot_clone(f->engine, "vm", "a", "0b5c3c1e8f1d4a539c0e2f6a1b7d9e41", NULL,
                                             NULL, NULL, &error),
                       &error, "form of a UUID");

        _cleanup_free_ char *after = state_of(f);
        assert_string_equal(after, before);
        assert_null(virDomainLookupByUUIDString(f->connection, "0b5c3c1e-8f1d-4a53-9c0e-2f6a1b7d9e41"));
        virDomainPtr d = virDomainLookupByName(f->connection, domain);
        assert_null(d);
}

static void test_names_with_hidden_characters_are_refused_at_create_rename_and_clone(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};
        static const struct {
                const char *name;
                const char *says;
        } cases[] = {
                {"back\u202eup", "U+202E"},  {"zero\u200bwidth", "U+200B"}, {"mark\u200e", "U+200E"},
                {"iso\u2067late", "U+2067"}, {"line\u2028sep", "U+2028"},   {"para\u2029sep", "U+2029"},
                {"\ufeffbom", "U+FEFF"},
        };

        create_named(f, "vm", "a");
        _cleanup_free_ char *before = state_of(f);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                vmsnap_create_options named = {.name = cases[i].name};
                assert_refused(vmsnap_snapshot_create(f->engine, "vm", &named, NULL, NULL, &error), &error,
                               cases[i].says);
                assert_refused(vmsnap_snapshot_rename(f->engine, "vm", "a", cases[i].name, &error), &error,
                               cases[i].says);
                assert_refused(
                        vmsnap_snapshot_clone(f->engine, "vm", "a", cases[i].name, NULL, NULL, NULL, &error),
                        &error, cases[i].says);
                assert_non_null(strstr(error.message, "domain name"));
                assert_null(virDomainLookupByName(f->connection, cases[i].name));
        }
        _cleanup_free_ char *after = state_of(f);
        assert_string_equal(after, before);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_a_domain_uuid_names_that_domain_before_a_domain_named_by_it),
                T(test_a_snapshot_id_names_that_snapshot_before_a_snapshot_named_by_it),
                T(test_names_that_are_uuids_are_refused_at_create_rename_and_clone),
                T(test_names_with_hidden_characters_are_refused_at_create_rename_and_clone),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
