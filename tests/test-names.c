/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-names.c: what a snapshot name may be, the UUIDs vmsnap gives snapshots,
 * the names of error kinds and the version string. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "error.h"
#include "names.h"
#include "testlib.h"

static void assert_name_refused(const char *name, const char *expected_in_message)
{
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_name_validate(name, &error), -EINVAL);
        assert_int_equal(error.code, -EINVAL);
        assert_int_equal(error.kind, VMSNAP_ERROR_INVALID_ARGUMENT);
        if (!strstr(error.message, expected_in_message))
                fail_msg("message \"%s\" does not mention \"%s\"", error.message, expected_in_message);
}

static void assert_name_accepted(const char *name)
{
        vmsnap_error error = {0};

        if (vmsnap_name_validate(name, &error) != 0)
                fail_msg("\"%s\" was refused: %s", name, error.message);
}

static void test_name_validate_accepts_ordinary_names(void **state)
{
        assert_name_accepted("before upgrade");
        assert_name_accepted("snapshot-1");
        assert_name_accepted("x");
        assert_name_accepted(".hidden");
        assert_name_accepted("...");
        assert_name_accepted("Ünïcödé 快照");
        assert_name_accepted("release \xf0\x9f\x9a\x80"); /* U+1F680, four bytes */
        assert_name_accepted("a\\b:c*?\"<>|");
}

static void test_name_validate_accepts_255_bytes_and_refuses_256(void **state)
{
        char name[257];

        memset(name, 'n', 256);
        name[255] = '\0';
        assert_name_accepted(name);

        name[255] = 'n';
        name[256] = '\0';
        assert_name_refused(name, "256 bytes");
}

static void test_name_validate_counts_bytes_not_characters(void **state)
{
        char name[300] = "";

        /* 128 two-byte characters are 256 bytes. */
        for (int i = 0; i < 128; i++)
                strcat(name, "\xc3\xa9");
        assert_name_refused(name, "at most 255 bytes");

        name[254] = '\0';
        assert_name_accepted(name);
}

static void test_name_validate_refuses_empty_name(void **state)
{
        vmsnap_error error = {0};

        assert_name_refused("", "empty");
        assert_int_equal(vmsnap_name_validate(NULL, &error), -EINVAL);
}

static void test_name_validate_refuses_slash_with_sentence(void **state)
{
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_name_validate("a/b", &error), -EINVAL);
        assert_string_equal(error.message, "snapshot name \"a/b\" contains '/', which is not allowed");
        assert_name_refused("/", "'/'");
}

static void test_name_validate_refuses_control_characters(void **state)
{
        assert_name_refused("tab\there", "U+0009");
        assert_name_refused("line\nbreak", "U+000A");
        assert_name_refused("\x1b[31mred", "U+001B");
        assert_name_refused("delete\x7f", "U+007F");
        assert_name_refused("next line \xc2\x85", "U+0085");
        assert_name_refused("csi \xc2\x9b", "U+009B");
}

static void test_name_validate_refuses_invalid_utf8(void **state)
{
        assert_name_refused("lone \x80 continuation", "UTF-8");
        assert_name_refused("truncated \xc3", "UTF-8");
        assert_name_refused("overlong \xc0\xaf", "UTF-8");
        assert_name_refused("overlong \xe0\x80\xaf", "UTF-8");
        assert_name_refused("surrogate \xed\xa0\x80", "UTF-8");
        assert_name_refused("beyond \xf4\x90\x80\x80", "UTF-8");
        assert_name_refused("byte \xff", "UTF-8");
        assert_name_refused("latin-1 caf\xe9", "UTF-8");
}

static void test_name_validate_refuses_dot_and_dot_dot(void **state)
{
        assert_name_refused(".", "reserved");
        assert_name_refused("..", "reserved");
}

static void test_name_validate_refuses_leading_or_trailing_white_space(void **state)
{
        assert_name_refused(" leading", "white space");
        assert_name_refused("trailing ", "white space");
        assert_name_refused("no-break space\xc2\xa0", "white space");
        assert_name_refused("\xe3\x80\x80ideographic space", "white space");
        assert_name_accepted("inner space");
}

static void test_name_validate_works_without_error_object(void **state)
{
        assert_int_equal(vmsnap_name_validate("a/b", NULL), -EINVAL);
        assert_int_equal(vmsnap_name_validate("fine", NULL), 0);
}

static void test_name_validate_refuses_names_spelled_as_a_uuid(void **state)
{
        assert_name_refused("0b5c3c1e-8f1d-4a53-9c0e-2f6a1b7d9e41", "has the form of a UUID");
        assert_name_refused("0B5C3C1E-8F1D-4A53-9C0E-2F6A1B7D9E41", "has the form of a UUID");
        assert_name_refused("0b5c3c1e8f1d4a539c0e2f6a1b7d9e41", "has the form of a UUID");
        /* Near misses are names. */
        assert_name_accepted("0b5c3c1e-8f1d-4a53-9c0e-2f6a1b7d9e4");
        assert_name_accepted("0b5c3c1e-8f1d-4a53-9c0e-2f6a1b7d9e4g");
        assert_name_accepted("before 0b5c3c1e-8f1d-4a53-9c0e-2f6a1b7d9e41");
}

static void test_name_validate_refuses_invisible_and_bidirectional_characters(void **state)
{
        static const struct {
                const char *name;
                const char *says;
        } cases[] = {
                {"a\u200bb", "U+200B, a zero-width character (character 2, byte 1)"},
                {"ab\u200e", "U+200E, a bidirectional control character (character 3, byte 2)"},
                {"\u200fx", "U+200F"},
                {"abc\u202etxt.exe", "U+202E, a bidirectional control character (character 4"},
                {"x\u202ay", "U+202A"},
                {"x\u2066y", "U+2066"},
                {"x\u2069y", "U+2069"},
                {"\ufeffname", "U+FEFF, a zero-width character (character 1, byte 0)"},
                {"x\u00adx", "U+00AD, a format character"},
                {"line\u2028two", "U+2028, a line separator (character 5, byte 4)"},
                {"para\u2029two", "U+2029, a paragraph separator"},
                {"\u00e9\u200dx", "U+200D, a zero-width character (character 2, byte 2)"},
                {"tag\U000E0041", "U+E0041, a format character"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                assert_name_refused(cases[i].name, cases[i].says);
}

static void test_name_check_calls_a_domain_name_a_domain_name(void **state)
{
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_name_check("a/b", VMSNAP_NAME_DOMAIN, &error), -EINVAL);
        assert_non_null(strstr(error.message, "domain name \"a/b\""));
        assert_null(strstr(error.message, "snapshot"));
        assert_int_equal(
                vmsnap_name_check("0b5c3c1e-8f1d-4a53-9c0e-2f6a1b7d9e41", VMSNAP_NAME_DOMAIN, &error),
                -EINVAL);
        assert_non_null(strstr(error.message, "always names a domain by its id"));
        assert_int_equal(vmsnap_name_check("", VMSNAP_NAME_DOMAIN, &error), -EINVAL);
        assert_string_equal(error.message, "domain name is empty");
        assert_int_equal(vmsnap_domain_name_validate("x\u2029", &error), -EINVAL);
        assert_non_null(strstr(error.message, "domain name contains U+2029"));
}

static void test_uuid_parse_takes_every_spelling_to_the_lowercase_form(void **state)
{
        char out[37];

        assert_true(vmsnap_uuid_parse("0B5C3C1E-8F1D-4A53-9C0E-2F6A1B7D9E41", out));
        assert_string_equal(out, "0b5c3c1e-8f1d-4a53-9c0e-2f6a1b7d9e41");
        assert_true(vmsnap_uuid_parse("0b5c3c1e8f1d4a539c0e2f6a1b7d9e41", out));
        assert_string_equal(out, "0b5c3c1e-8f1d-4a53-9c0e-2f6a1b7d9e41");
        assert_false(vmsnap_uuid_parse("0b5c3c1e-8f1d4a53-9c0e-2f6a1b7d9e41-", out));
        assert_false(vmsnap_uuid_parse("0b5c3c1e-8f1d-4a53-9c0e-2f6a1b7d9e4x", out));
        assert_false(vmsnap_uuid_parse("", out));
        assert_false(vmsnap_uuid_parse(NULL, out));
}

static void test_uuid_generate_is_lowercase_version_4(void **state)
{
        char uuid[37];

        for (int i = 0; i < 100; i++) {
                vmsnap_uuid_generate(uuid);
                assert_int_equal(strlen(uuid), 36);
                assert_true(vmsnap_uuid_is_valid(uuid));
                assert_int_equal(uuid[14], '4');
                assert_non_null(strchr("89ab", uuid[19]));
                for (int j = 0; j < 36; j++)
                        assert_false(uuid[j] >= 'A' && uuid[j] <= 'Z');
        }
}

static int compare_strings(const void *a, const void *b)
{
        return strcmp(a, b);
}

static void test_uuid_generate_never_repeats(void **state)
{
        enum { COUNT = 10000 };
        char(*uuids)[37] = calloc(COUNT, sizeof(*uuids));

        assert_non_null(uuids);
        for (int i = 0; i < COUNT; i++)
                vmsnap_uuid_generate(uuids[i]);
        qsort(uuids, COUNT, sizeof(*uuids), compare_strings);
        for (int i = 1; i < COUNT; i++)
                assert_string_not_equal(uuids[i - 1], uuids[i]);
        free(uuids);
}

static void test_uuid_is_valid_refuses_malformed_text(void **state)
{
        assert_true(vmsnap_uuid_is_valid("123e4567-e89b-42d3-a456-426614174000"));
        assert_false(vmsnap_uuid_is_valid(NULL));
        assert_false(vmsnap_uuid_is_valid(""));
        assert_false(vmsnap_uuid_is_valid("123E4567-E89B-42D3-A456-426614174000"));
        assert_false(vmsnap_uuid_is_valid("123e4567e89b42d3a456426614174000"));
        assert_false(vmsnap_uuid_is_valid("123e4567-e89b-42d3-a456-42661417400"));
        assert_false(vmsnap_uuid_is_valid("123e4567-e89b-42d3-a456-4266141740000"));
        assert_false(vmsnap_uuid_is_valid("123e4567-e89b-42d3-a456_426614174000"));
        assert_false(vmsnap_uuid_is_valid("g23e4567-e89b-42d3-a456-426614174000"));
        assert_false(vmsnap_uuid_is_valid("snapshot-1"));
}

static void test_error_kind_name_names_every_kind(void **state)
{
        assert_string_equal(vmsnap_error_kind_name(VMSNAP_ERROR_NONE), "None");
        assert_string_equal(vmsnap_error_kind_name(VMSNAP_ERROR_NOT_FOUND), "NotFound");
        assert_string_equal(vmsnap_error_kind_name(VMSNAP_ERROR_BUSY), "Busy");
        assert_string_equal(vmsnap_error_kind_name(VMSNAP_ERROR_INVALID_ARGUMENT), "InvalidArgument");
        assert_string_equal(vmsnap_error_kind_name(VMSNAP_ERROR_DOMAIN_RUNNING), "DomainRunning");
        assert_string_equal(vmsnap_error_kind_name(VMSNAP_ERROR_IN_PREVIEW), "InPreview");
        assert_string_equal(vmsnap_error_kind_name(VMSNAP_ERROR_NO_SPACE), "NoSpace");
        assert_string_equal(vmsnap_error_kind_name(VMSNAP_ERROR_LOCKED), "Locked");
        assert_string_equal(vmsnap_error_kind_name(VMSNAP_ERROR_UNSUPPORTED), "Unsupported");
        assert_string_equal(vmsnap_error_kind_name(VMSNAP_ERROR_CANCELED), "Canceled");
        assert_string_equal(vmsnap_error_kind_name(VMSNAP_ERROR_FAILED), "Failed");
}

static void test_error_set_stores_code_kind_and_sentence(void **state)
{
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_error_set(&error, -EBUSY, VMSNAP_ERROR_BUSY, "domain %s is busy", "web"),
                         -EBUSY);
        assert_int_equal(error.code, -EBUSY);
        assert_int_equal(error.kind, VMSNAP_ERROR_BUSY);
        assert_string_equal(error.message, "domain web is busy");
        assert_int_equal(vmsnap_error_set(NULL, -EBUSY, VMSNAP_ERROR_BUSY, "ignored"), -EBUSY);
}

static void test_error_set_names_its_own_code_with_percent_m(void **state)
{
        vmsnap_error error = {0};

        errno = 0;
        vmsnap_error_set(&error, -ENOSPC, VMSNAP_ERROR_NO_SPACE, "cannot write: %m");
        assert_string_equal(error.message, "cannot write: No space left on device");
}

static void test_error_prefix_prepends_context_and_keeps_code(void **state)
{
        vmsnap_error error = {0};

        vmsnap_error_set(&error, -ENOENT, VMSNAP_ERROR_NOT_FOUND, "image /a.qcow2 does not exist");
        assert_int_equal(vmsnap_error_prefix(&error, "disk %s", "vda"), -ENOENT);
        assert_string_equal(error.message, "disk vda: image /a.qcow2 does not exist");
        assert_int_equal(error.kind, VMSNAP_ERROR_NOT_FOUND);
}

static void test_error_prefix_truncates_long_messages_safely(void **state)
{
        vmsnap_error error = {0};
        char long_text[2000];

        memset(long_text, 'x', sizeof(long_text) - 1);
        long_text[sizeof(long_text) - 1] = '\0';
        vmsnap_error_set(&error, -EIO, VMSNAP_ERROR_FAILED, "%s", long_text);
        assert_int_equal(strlen(error.message), sizeof(error.message) - 1);
        vmsnap_error_prefix(&error, "context");
        assert_int_equal(strlen(error.message), sizeof(error.message) - 1);
        assert_memory_equal(error.message, "context: xxx", 12);
}

static void test_error_clear_resets_everything(void **state)
{
        vmsnap_error error = {0};

        vmsnap_error_set(&error, -EIO, VMSNAP_ERROR_FAILED, "broken");
        vmsnap_error_clear(&error);
        assert_int_equal(error.code, 0);
        assert_int_equal(error.kind, VMSNAP_ERROR_NONE);
        assert_string_equal(error.message, "");
}

static void test_version_is_the_project_version(void **state)
{
        assert_string_equal(vmsnap_version(), VMSNAP_VERSION);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_name_validate_accepts_ordinary_names),
                cmocka_unit_test(test_name_validate_accepts_255_bytes_and_refuses_256),
                cmocka_unit_test(test_name_validate_counts_bytes_not_characters),
                cmocka_unit_test(test_name_validate_refuses_empty_name),
                cmocka_unit_test(test_name_validate_refuses_slash_with_sentence),
                cmocka_unit_test(test_name_validate_refuses_control_characters),
                cmocka_unit_test(test_name_validate_refuses_invalid_utf8),
                cmocka_unit_test(test_name_validate_refuses_dot_and_dot_dot),
                cmocka_unit_test(test_name_validate_refuses_leading_or_trailing_white_space),
                cmocka_unit_test(test_name_validate_works_without_error_object),
                cmocka_unit_test(test_name_validate_refuses_names_spelled_as_a_uuid),
                cmocka_unit_test(test_name_validate_refuses_invisible_and_bidirectional_characters),
                cmocka_unit_test(test_name_check_calls_a_domain_name_a_domain_name),
                cmocka_unit_test(test_uuid_parse_takes_every_spelling_to_the_lowercase_form),
                cmocka_unit_test(test_uuid_generate_is_lowercase_version_4),
                cmocka_unit_test(test_uuid_generate_never_repeats),
                cmocka_unit_test(test_uuid_is_valid_refuses_malformed_text),
                cmocka_unit_test(test_error_kind_name_names_every_kind),
                cmocka_unit_test(test_error_set_stores_code_kind_and_sentence),
                cmocka_unit_test(test_error_set_names_its_own_code_with_percent_m),
                cmocka_unit_test(test_error_prefix_prepends_context_and_keeps_code),
                cmocka_unit_test(test_error_prefix_truncates_long_messages_safely),
                cmocka_unit_test(test_error_clear_resets_everything),
                cmocka_unit_test(test_version_is_the_project_version),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
