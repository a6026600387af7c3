/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-history.c: the audit trail the engine keeps per domain UUID: entries read
 * back as appended, oldest first, the last 1,000 kept, through an engine restart, a
 * libvirt rename and an undefine, and a torn last line (a crash during an append)
 * is skipped and then mended. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fileio.h"
#include "fixture.h"
#include "testlib.h"

static int setup(void **state)
{
        fixture *f = fixture_new();

        fixture_define_three_disk_domain(f, "vm1");
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture_free(*state);
        return 0;
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

static void append(fixture *f, const char *domain, const char *snapshot, const char *result)
{
        vmsnap_history_entry entry = {
                .operation = (char *)"create",
                .snapshot = (char *)snapshot,
                .uid = 1000,
                .result = (char *)result,
                .error = (char *)"",
                .error_name = (char *)"",
        };
        vmsnap_error error = {0};

        assert_ok(vmsnap_history_append(f->engine, domain, &entry, &error), &error);
}

/* The snapshots named by the history of domain, oldest first, as "a,b,c". */
static char *history_snapshots(fixture *f, const char *domain, size_t *n_ret)
{
        vmsnap_history_entry *entries = NULL;
        vmsnap_error error = {0};
        size_t n = 0, length = 0;
        char *text = NULL;
        FILE *stream = open_memstream(&text, &length);

        assert_ok(vmsnap_history_list(f->engine, domain, &entries, &n, &error), &error);
        for (size_t i = 0; i < n; i++)
                fprintf(stream, "%s%s", i ? "," : "", entries[i].snapshot);
        fclose(stream);
        vmsnap_history_entry_array_free(entries, n);
        if (n_ret)
                *n_ret = n;
        return text;
}

static size_t file_lines(const char *path)
{
        char *data = NULL;
        size_t size = 0, lines = 0;
        vmsnap_error error = {0};

        assert_ok(vmsnap_file_read_all(path, &data, &size, &error), &error);
        for (size_t i = 0; i < size; i++)
                lines += data[i] == '\n';
        free(data);
        return lines;
}

static char *history_file(fixture *f, const char *uuid)
{
        char *path;
        if (asprintf(&path, "%s/%s.history", f->state_dir, uuid) < 0)
                abort();
        return path;
}

static void test_an_entry_reads_back_as_it_was_appended(void **state)
{
        fixture *f = *state;
        char *messages[] = {(char *)"the original image /x/vda.qcow2 was left in place",
                            (char *)"two\nlines, \"quoted\" and \xc3\xa9", NULL};
        vmsnap_history_entry entry = {
                .time_usec = 1700000000123456u,
                .operation = (char *)"delete",
                .snapshot = (char *)"before-upgrade",
                .uid = 4242,
                .result = (char *)"failed",
                .error = (char *)"disk vdz is not a disk of vm1",
                .error_name = (char *)"org.example.Snapshots.Error.InvalidArgument",
                .messages = messages,
        };
        vmsnap_history_entry *entries = NULL;
        vmsnap_error error = {0};
        size_t n = 0;

        append(f, "vm1", "first", "done");
        assert_ok(vmsnap_history_append(f->engine, "vm1", &entry, &error), &error);
        assert_ok(vmsnap_history_list(f->engine, "vm1", &entries, &n, &error), &error);
        assert_int_equal(n, 2);
        assert_string_equal(entries[0].snapshot, "first");
        assert_string_equal(entries[0].result, "done");
        assert_true(entries[0].time_usec > 1700000000000000u); /* 0 was stamped with the time now */
        assert_null(entries[0].messages[0]);

        assert_true(entries[1].time_usec == 1700000000123456u);
        assert_string_equal(entries[1].operation, "delete");
        assert_string_equal(entries[1].snapshot, "before-upgrade");
        assert_int_equal(entries[1].uid, 4242);
        assert_string_equal(entries[1].result, "failed");
        assert_string_equal(entries[1].error, "disk vdz is not a disk of vm1");
        assert_string_equal(entries[1].error_name, "org.example.Snapshots.Error.InvalidArgument");
        assert_string_equal(entries[1].messages[0], messages[0]);
        assert_string_equal(entries[1].messages[1], messages[1]);
        assert_null(entries[1].messages[2]);
        vmsnap_history_entry_array_free(entries, n);

        /* One history per domain: the UUID and the name read the same one. */
        char *uuid = domain_uuid(f, "vm1");
        char *by_uuid = history_snapshots(f, uuid, &n), *by_name = history_snapshots(f, "vm1", NULL);
        assert_string_equal(by_uuid, "first,before-upgrade");
        assert_string_equal(by_name, by_uuid);
        free(by_uuid);
        free(by_name);
        free(uuid);
}

static void test_the_history_keeps_the_last_1000_entries_and_appends_in_between(void **state)
{
        fixture *f = *state;
        char *uuid = domain_uuid(f, "vm1"), *path = history_file(f, uuid), name[32];
        size_t n;

        for (unsigned i = 0; i < 1005; i++) {
                snprintf(name, sizeof(name), "s%u", i);
                append(f, "vm1", name, "done");
        }
        char *list = history_snapshots(f, "vm1", &n);
        assert_int_equal(n, 1000);
        assert_true(strncmp(list, "s5,s6,", 6) == 0); /* the oldest 5 are gone */
        assert_true(strcmp(list + strlen(list) - 6, ",s1004") == 0);
        free(list);
        /* Past the bound the file grows by appends, not by rewrites of 1,000 entries... */
        assert_int_equal(file_lines(path), 1005);

        /* ...up to twice the bound, when it is cut back to the newest 1,000. */
        for (unsigned i = 1005; i < 2001; i++) {
                snprintf(name, sizeof(name), "s%u", i);
                append(f, "vm1", name, "done");
        }
        assert_true(file_lines(path) <= 2 * VMSNAP_HISTORY_MAX);
        assert_int_equal(file_lines(path), VMSNAP_HISTORY_MAX);
        list = history_snapshots(f, "vm1", &n);
        assert_int_equal(n, 1000);
        assert_true(strncmp(list, "s1001,s1002,", 12) == 0);
        assert_true(strcmp(list + strlen(list) - 6, ",s2000") == 0);
        free(list);
        free(path);
        free(uuid);
}

static void test_the_history_survives_an_engine_restart(void **state)
{
        fixture *f = *state;
        vmsnap_error error = {0};

        append(f, "vm1", "a", "done");
        append(f, "vm1", "b", "failed");
        vmsnap_engine_free(f->engine);
        assert_ok(vmsnap_engine_new(f->uri, f->state_dir, &f->engine, &error), &error);

        char *list = history_snapshots(f, "vm1", NULL);
        assert_string_equal(list, "a,b");
        free(list);
        append(f, "vm1", "c", "done");
        list = history_snapshots(f, "vm1", NULL);
        assert_string_equal(list, "a,b,c");
        free(list);
}

/* virsh domrename: the history follows the UUID to the new name. */
static void test_the_history_follows_a_libvirt_rename(void **state)
{
        fixture *f = *state;
        char *uuid = domain_uuid(f, "vm1");

        append(f, "vm1", "a", "done");
        virDomainPtr d = virDomainLookupByName(f->connection, "vm1");
        assert_int_equal(virDomainRename(d, "vm1-renamed", 0), 0);
        virDomainFree(d);

        append(f, "vm1-renamed", "b", "done");
        char *list = history_snapshots(f, "vm1-renamed", NULL), *by_uuid = history_snapshots(f, uuid, NULL);
        assert_string_equal(list, "a,b");
        assert_string_equal(by_uuid, "a,b");
        free(list);
        free(by_uuid);

        d = virDomainLookupByName(f->connection, "vm1-renamed");
        assert_int_equal(virDomainRename(d, "vm1", 0), 0);
        virDomainFree(d);
        list = history_snapshots(f, "vm1", NULL);
        assert_string_equal(list, "a,b");
        free(list);
        free(uuid);
}

/* A domain libvirt no longer defines still answers by UUID; a UUID vmsnap never knew
 * is NotFound. */
static void test_an_undefined_domain_answers_by_uuid(void **state)
{
        fixture *f = *state;
        char *uuid = domain_uuid(f, "vm1");
        vmsnap_history_entry *entries = NULL;
        vmsnap_error error = {0};
        size_t n = 0;

        append(f, "vm1", "a", "done");
        virDomainPtr d = virDomainLookupByName(f->connection, "vm1");
        char *xml = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE);
        assert_int_equal(virDomainUndefine(d), 0);
        virDomainFree(d);

        char *list = history_snapshots(f, uuid, NULL);
        assert_string_equal(list, "a");
        free(list);
        assert_true(vmsnap_history_list(f->engine, "6b1e2a3c-0000-4000-8000-000000000001", &entries, &n,
                                        &error) < 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_NOT_FOUND);

        d = virDomainDefineXML(f->connection, xml);
        assert_non_null(d);
        virDomainFree(d);
        free(xml);
        free(uuid);
}

/* A crash in the middle of an append leaves part of a line: reads skip it, and the next
 * append of a restarted engine writes the file again without it. */
static void test_a_torn_last_line_is_skipped_and_mended(void **state)
{
        fixture *f = *state;
        char *uuid = domain_uuid(f, "vm1"), *path = history_file(f, uuid);
        vmsnap_error error = {0};

        append(f, "vm1", "a", "done");
        FILE *file = fopen(path, "a");
        assert_non_null(file);
        fputs("{\"time\":1,\"operation\":\"cre", file);
        fclose(file);

        char *list = history_snapshots(f, "vm1", NULL);
        assert_string_equal(list, "a");
        free(list);

        vmsnap_engine_free(f->engine);
        assert_ok(vmsnap_engine_new(f->uri, f->state_dir, &f->engine, &error), &error);
        append(f, "vm1", "b", "done");
        list = history_snapshots(f, "vm1", NULL);
        assert_string_equal(list, "a,b");
        free(list);
        assert_int_equal(file_lines(path), 2);
        free(path);
        free(uuid);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_an_entry_reads_back_as_it_was_appended),
                T(test_the_history_keeps_the_last_1000_entries_and_appends_in_between),
                T(test_the_history_survives_an_engine_restart),
                T(test_the_history_follows_a_libvirt_rename),
                T(test_an_undefined_domain_answers_by_uuid),
                T(test_a_torn_last_line_is_skipped_and_mended),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
