/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-chain.c: reading image headers made by a real qemu-img (qcow2 v2 and v3,
 * raw, backing names and formats, snapshots, feature bits), refusing damaged
 * ones without crashing, and walking backing chains (loops, gaps, depth). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include "chain.h"
#include "header-cache.h"
#include "error.h"
#include "testlib.h"

static char *path_in(const char *dir, const char *name)
{
        char *path;

        assert_true(asprintf(&path, "%s/%s", dir, name) >= 0);
        return path;
}

static void write_file(const char *path, const void *data, size_t size)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, size), (ssize_t)size);
        assert_int_equal(close(fd), 0);
}

static size_t read_prefix(const char *path, void *buffer, size_t size)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        assert_true(fd >= 0);
        n = pread(fd, buffer, size, 0);
        assert_true(n >= 0);
        close(fd);
        return (size_t)n;
}

static void patch_bytes(const char *path, uint64_t offset, const void *bytes, size_t size)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, bytes, size, (off_t)offset), (ssize_t)size);
        assert_int_equal(close(fd), 0);
}

static void patch_be32(const char *path, uint64_t offset, uint32_t value)
{
        uint8_t bytes[4] = {value >> 24, value >> 16, value >> 8, value};

        patch_bytes(path, offset, bytes, sizeof(bytes));
}

static void patch_be64(const char *path, uint64_t offset, uint64_t value)
{
        patch_be32(path, offset, (uint32_t)(value >> 32));
        patch_be32(path, offset + 4, (uint32_t)value);
}

/* Offset of the first occurrence of needle in the first 64 KiB of path. */
static uint64_t find_bytes(const char *path, const void *needle, size_t size)
{
        static uint8_t buffer[65536];
        size_t n = read_prefix(path, buffer, sizeof(buffer));

        for (size_t i = 0; i + size <= n; i++)
                if (memcmp(buffer + i, needle, size) == 0)
                        return i;
        fail_msg("bytes not found in %s", path);
        return 0;
}

static void assert_header_refused(const char *path, int expected_code, vmsnap_error_kind expected_kind,
                                  const char *expected_in_message)
{
        vmsnap_image_header header = {0};
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_image_header_read(path, &header, &error), expected_code);
        assert_int_equal(error.kind, expected_kind);
        if (!strstr(error.message, expected_in_message))
                fail_msg("message \"%s\" does not mention \"%s\"", error.message, expected_in_message);
        assert_null(header.backing);
        assert_null(header.backing_raw);
}

static void test_header_reads_qcow2_version_3_fields(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "disk.qcow2");
        vmsnap_image_header header = {0};
        vmsnap_error error = {0};

        test_qcow2_create(path, NULL, NULL, "64M");
        assert_int_equal(vmsnap_image_header_read(path, &header, &error), 0);

        assert_int_equal(header.format, VMSNAP_FORMAT_QCOW2);
        assert_int_equal(header.qcow2_version, 3);
        assert_int_equal(header.virtual_size, 64 * 1024 * 1024);
        assert_null(header.backing);
        assert_null(header.backing_raw);
        assert_false(header.backing_format_known);
        assert_int_equal(header.internal_snapshots, 0);
        assert_false(header.encrypted);
        assert_false(header.dirty);
        assert_false(header.external_data_file);
        vmsnap_image_header_clear(&header);
}

static void test_header_of_compat_0_10_image_is_version_2(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "old.qcow2");
        const char *argv[] = {"qemu-img", "create",      "-q", "-f", "qcow2",
                              "-o",       "compat=0.10", path, "3G", NULL};
        vmsnap_image_header header = {0};
        vmsnap_error error = {0};

        assert_int_equal(test_run(argv), 0);
        assert_int_equal(vmsnap_image_header_read(path, &header, &error), 0);
        assert_int_equal(header.format, VMSNAP_FORMAT_QCOW2);
        assert_int_equal(header.qcow2_version, 2);
        assert_int_equal(header.virtual_size, UINT64_C(3) << 30);
        vmsnap_image_header_clear(&header);
}

static void test_header_of_file_without_magic_is_raw_with_file_size(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "disk.raw"), *empty = path_in(*state, "empty.raw");
        const char *argv[] = {"qemu-img", "create", "-q", "-f", "raw", path, "10M", NULL};
        vmsnap_image_header header = {0};
        vmsnap_error error = {0};

        assert_int_equal(test_run(argv), 0);
        assert_int_equal(vmsnap_image_header_read(path, &header, &error), 0);
        assert_int_equal(header.format, VMSNAP_FORMAT_RAW);
        assert_int_equal(header.qcow2_version, 0);
        assert_int_equal(header.virtual_size, 10 * 1024 * 1024);
        assert_null(header.backing);

        write_file(empty, "", 0);
        assert_int_equal(vmsnap_image_header_read(empty, &header, &error), 0);
        assert_int_equal(header.format, VMSNAP_FORMAT_RAW);
        assert_int_equal(header.virtual_size, 0);
}

static void test_header_resolves_relative_backing_against_image_directory(void **state)
{
        _cleanup_free_ char *base = path_in(*state, "base.qcow2"), *top = path_in(*state, "top.qcow2"),
                            *cwd = getcwd(NULL, 0), *cwd_here = NULL, *expected_here = NULL;
        vmsnap_image_header header = {0};
        vmsnap_error error = {0};

        test_qcow2_create(base, NULL, NULL, "16M");
        test_qcow2_create(top, "base.qcow2", "qcow2", NULL);

        /* Read from elsewhere: the image's directory counts, not ours. */
        assert_int_equal(chdir("/"), 0);
        assert_int_equal(vmsnap_image_header_read(top, &header, &error), 0);
        assert_string_equal(header.backing_raw, "base.qcow2");
        assert_string_equal(header.backing, base);
        vmsnap_image_header_clear(&header);

        /* Read by a relative path: the result is still absolute. */
        assert_int_equal(chdir(*state), 0);
        cwd_here = getcwd(NULL, 0);
        expected_here = path_in(cwd_here, "base.qcow2");
        assert_int_equal(vmsnap_image_header_read("top.qcow2", &header, &error), 0);
        assert_string_equal(header.backing, expected_here);
        vmsnap_image_header_clear(&header);

        assert_int_equal(chdir(cwd), 0);
}

static void test_header_keeps_absolute_backing_and_strips_file_protocol(void **state)
{
        _cleanup_free_ char *base = path_in(*state, "base.qcow2"), *top = path_in(*state, "top.qcow2"),
                            *prefixed = path_in(*state, "prefixed.qcow2");
        const char *argv[] = {"qemu-img",        "create", "-q",    "-f",     "qcow2", "-u", "-b",
                              "file:base.qcow2", "-F",     "qcow2", prefixed, "16M",   NULL};
        vmsnap_image_header header = {0};
        vmsnap_error error = {0};

        test_qcow2_create(base, NULL, NULL, "16M");
        test_qcow2_create(top, base, "qcow2", NULL);
        assert_int_equal(vmsnap_image_header_read(top, &header, &error), 0);
        assert_string_equal(header.backing, base);
        assert_string_equal(header.backing_raw, base);
        vmsnap_image_header_clear(&header);

        assert_int_equal(test_run(argv), 0);
        assert_int_equal(vmsnap_image_header_read(prefixed, &header, &error), 0);
        assert_string_equal(header.backing_raw, "file:base.qcow2");
        assert_string_equal(header.backing, base);
        vmsnap_image_header_clear(&header);
}

static void test_header_reads_backing_format_extension(void **state)
{
        _cleanup_free_ char *raw = path_in(*state, "base.raw"), *qcow2 = path_in(*state, "base.qcow2"),
                            *over_raw = path_in(*state, "over-raw.qcow2"),
                            *over_qcow2 = path_in(*state, "over-qcow2.qcow2");
        const char *create_raw[] = {"qemu-img", "create", "-q", "-f", "raw", raw, "16M", NULL};
        vmsnap_image_header header = {0};
        vmsnap_error error = {0};

        assert_int_equal(test_run(create_raw), 0);
        test_qcow2_create(qcow2, NULL, NULL, "16M");
        test_qcow2_create(over_raw, raw, "raw", NULL);
        test_qcow2_create(over_qcow2, qcow2, "qcow2", NULL);

        assert_int_equal(vmsnap_image_header_read(over_raw, &header, &error), 0);
        assert_true(header.backing_format_known);
        assert_int_equal(header.backing_format, VMSNAP_FORMAT_RAW);
        assert_int_equal(header.virtual_size, 16 * 1024 * 1024);
        vmsnap_image_header_clear(&header);

        assert_int_equal(vmsnap_image_header_read(over_qcow2, &header, &error), 0);
        assert_true(header.backing_format_known);
        assert_int_equal(header.backing_format, VMSNAP_FORMAT_QCOW2);
        vmsnap_image_header_clear(&header);
}

/* Turns the backing format extension into one of an unknown type, which readers skip. */
static void hide_backing_format_extension(const char *path)
{
        const uint8_t type[4] = {0xe2, 0x79, 0x2a, 0xca};

        patch_be32(path, find_bytes(path, type, sizeof(type)), 0x12345678);
}

static void test_header_without_backing_format_extension_leaves_format_unknown(void **state)
{
        _cleanup_free_ char *base = path_in(*state, "base.qcow2"), *top = path_in(*state, "top.qcow2");
        vmsnap_image_header header = {0};
        vmsnap_error error = {0};

        test_qcow2_create(base, NULL, NULL, "16M");
        test_qcow2_create(top, "base.qcow2", "qcow2", NULL);
        hide_backing_format_extension(top);

        assert_int_equal(vmsnap_image_header_read(top, &header, &error), 0);
        assert_string_equal(header.backing, base);
        assert_false(header.backing_format_known);
        vmsnap_image_header_clear(&header);
}

typedef struct visit_log {
        char *paths[2048];
        vmsnap_image_header headers[8];
        unsigned depths[2048];
        unsigned n;
        unsigned stop_at; /* 0: never */
} visit_log;

static int record_visit(const char *path, const vmsnap_image_header *header, unsigned depth, void *userdata)
{
        visit_log *log = userdata;

        if (log->n < 2048) {
                log->paths[log->n] = strdup(path);
                log->depths[log->n] = depth;
        }
        if (log->n < 8) {
                log->headers[log->n] = *header;
                /* The walker owns the strings; keep only what the tests compare. */
                log->headers[log->n].backing = NULL;
                log->headers[log->n].backing_raw = NULL;
        }
        log->n++;
        if (log->stop_at && log->n == log->stop_at)
                return 42;
        return 0;
}

static void visit_log_free(visit_log *log)
{
        for (unsigned i = 0; i < log->n && i < 2048; i++)
                free(log->paths[i]);
        free(log);
}

static void test_walk_probes_backing_format_when_extension_absent(void **state)
{
        _cleanup_free_ char *base = path_in(*state, "base.qcow2"), *top = path_in(*state, "top.qcow2");
        visit_log *log = calloc(1, sizeof(*log));
        vmsnap_error error = {0};

        test_qcow2_create(base, NULL, NULL, "16M");
        test_qcow2_create(top, "base.qcow2", "qcow2", NULL);
        hide_backing_format_extension(top);

        assert_int_equal(vmsnap_chain_walk(top, record_visit, log, &error), 0);
        assert_int_equal(log->n, 2);
        assert_false(log->headers[0].backing_format_known);
        assert_int_equal(log->headers[0].backing_format, VMSNAP_FORMAT_QCOW2);
        assert_int_equal(log->headers[1].format, VMSNAP_FORMAT_QCOW2);
        assert_int_equal(log->headers[1].virtual_size, 16 * 1024 * 1024);
        visit_log_free(log);
}

static void test_header_counts_internal_snapshots(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "disk.qcow2");
        const char *first[] = {"qemu-img", "snapshot", "-c", "first", path, NULL};
        const char *second[] = {"qemu-img", "snapshot", "-c", "second", path, NULL};
        vmsnap_image_header header = {0};
        vmsnap_error error = {0};

        test_qcow2_create(path, NULL, NULL, "16M");
        assert_int_equal(test_run(first), 0);
        assert_int_equal(test_run(second), 0);

        assert_int_equal(vmsnap_image_header_read(path, &header, &error), 0);
        assert_int_equal(header.internal_snapshots, 2);
        vmsnap_image_header_clear(&header);
}

static visit_log *walk_ok(const char *top)
{
        visit_log *log = calloc(1, sizeof(*log));
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_chain_walk(top, record_visit, log, &error), 0);
        return log;
}

/* Headers of files unchanged for two seconds are kept (header-cache.h), and given again
 * only while the file is the same: a new internal snapshot, a header rewritten in place
 * at the same size, or another file put at the path are all seen. */
/* A qcow2 header read by probing is the one a read as declared qcow2 gives, and the other
 * way round; one read as raw is not. The planner probes the files vmsnap made and the walks
 * read each as its parent declares it: they share what is kept instead of replacing it. */
static void test_header_kept_serves_probed_and_declared_reads_alike(void **state)
{
        _cleanup_free_ char *image = path_in(*state, "image.qcow2");
        _cleanup_free_ char *disk = path_in(*state, "disk.raw");
        vmsnap_image_format qcow2 = VMSNAP_FORMAT_QCOW2, raw = VMSNAP_FORMAT_RAW;
        vmsnap_image_header header = {0};
        vmsnap_error error = {0};
        unsigned long hits;

        test_qcow2_create(image, NULL, NULL, "16M");
        assert_int_equal(test_runf("qemu-img create -q -f raw %s 4M", disk), 0);
        vmsnap_header_cache_clear();
        usleep(2100 * 1000);

        assert_int_equal(vmsnap_image_header_read(image, &header, &error), 0); /* probed, kept */
        vmsnap_image_header_clear(&header);
        hits = vmsnap_header_cache_hits();
        assert_int_equal(vmsnap_image_header_read_as(image, &qcow2, &header, &error), 0);
        assert_int_equal(header.format, VMSNAP_FORMAT_QCOW2);
        vmsnap_image_header_clear(&header);
        assert_int_equal(vmsnap_header_cache_hits(), hits + 1);
        /* Declared raw, a qcow2 file reads as raw: not from what was kept. */
        assert_int_equal(vmsnap_image_header_read_as(image, &raw, &header, &error), 0);
        assert_int_equal(header.format, VMSNAP_FORMAT_RAW);
        assert_null(header.backing);
        vmsnap_image_header_clear(&header);
        assert_int_equal(vmsnap_header_cache_hits(), hits + 1);
        /* Kept as declared qcow2 now, it serves a probe. */
        assert_int_equal(vmsnap_image_header_read_as(image, &qcow2, &header, &error), 0);
        vmsnap_image_header_clear(&header);
        hits = vmsnap_header_cache_hits();
        assert_int_equal(vmsnap_image_header_read(image, &header, &error), 0);
        assert_int_equal(header.format, VMSNAP_FORMAT_QCOW2);
        vmsnap_image_header_clear(&header);
        assert_int_equal(vmsnap_header_cache_hits(), hits + 1);

        /* A raw file probed serves a read declared raw; one read declared raw serves no probe
         * (a declared raw file is raw whatever its first bytes say). */
        assert_int_equal(vmsnap_image_header_read(disk, &header, &error), 0);
        vmsnap_image_header_clear(&header);
        hits = vmsnap_header_cache_hits();
        assert_int_equal(vmsnap_image_header_read_as(disk, &raw, &header, &error), 0);
        assert_int_equal(header.format, VMSNAP_FORMAT_RAW);
        vmsnap_image_header_clear(&header);
        assert_int_equal(vmsnap_header_cache_hits(), hits + 1);
        vmsnap_header_cache_clear();
        assert_int_equal(vmsnap_image_header_read_as(disk, &raw, &header, &error), 0);
        vmsnap_image_header_clear(&header);
        hits = vmsnap_header_cache_hits();
        assert_int_equal(vmsnap_image_header_read(disk, &header, &error), 0);
        vmsnap_image_header_clear(&header);
        assert_int_equal(vmsnap_header_cache_hits(), hits);
}

static void test_header_kept_is_given_again_only_while_the_file_is_unchanged(void **state)
{
        _cleanup_free_ char *base = path_in(*state, "base.qcow2");
        _cleanup_free_ char *top = path_in(*state, "top.qcow2");
        _cleanup_free_ char *other = path_in(*state, "other.qcow2");
        const char *snapshot[] = {"qemu-img", "snapshot", "-c", "first", base, NULL};
        vmsnap_image_header header = {0};
        vmsnap_error error = {0};
        unsigned long hits;

        test_qcow2_create(base, NULL, NULL, "16M");
        test_qcow2_create(top, base, "qcow2", "16M");
        test_qcow2_create(other, NULL, NULL, "32M");
        vmsnap_header_cache_clear();

        /* Just written: read, not kept (a write in the same tick would not show). */
        hits = vmsnap_header_cache_hits();
        assert_int_equal(vmsnap_image_header_read(base, &header, &error), 0);
        vmsnap_image_header_clear(&header);
        assert_int_equal(vmsnap_image_header_read(base, &header, &error), 0);
        vmsnap_image_header_clear(&header);
        assert_int_equal(vmsnap_header_cache_hits(), hits);

        /* Two seconds later: kept, and given again. */
        usleep(2100 * 1000);
        visit_log *log = walk_ok(top);
        visit_log_free(log);
        hits = vmsnap_header_cache_hits();
        log = walk_ok(top);
        assert_int_equal(log->n, 2);
        assert_int_equal(log->headers[1].internal_snapshots, 0);
        visit_log_free(log);
        assert_int_equal(vmsnap_header_cache_hits(), hits + 2);

        /* A new internal snapshot is seen at once. */
        assert_int_equal(test_run(snapshot), 0);
        log = walk_ok(top);
        assert_int_equal(log->headers[1].internal_snapshots, 1);
        visit_log_free(log);

        /* So is a header field rewritten in place, the file's size unchanged. */
        usleep(2100 * 1000);
        assert_int_equal(vmsnap_image_header_read(base, &header, &error), 0);
        vmsnap_image_header_clear(&header);
        patch_be64(base, 24, 8 * 1024 * 1024);
        assert_int_equal(vmsnap_image_header_read(base, &header, &error), 0);
        assert_int_equal(header.virtual_size, 8 * 1024 * 1024);
        vmsnap_image_header_clear(&header);

        /* And another file renamed into the path. */
        assert_int_equal(vmsnap_image_header_read(top, &header, &error), 0);
        vmsnap_image_header_clear(&header);
        assert_int_equal(rename(other, top), 0);
        assert_int_equal(vmsnap_image_header_read(top, &header, &error), 0);
        assert_int_equal(header.virtual_size, 32 * 1024 * 1024);
        assert_null(header.backing);
        vmsnap_image_header_clear(&header);
}

static void test_header_reports_encryption_and_external_data_file(void **state)
{
        _cleanup_free_ char *encrypted = path_in(*state, "aes.qcow2"),
                            *with_data = path_in(*state, "meta.qcow2"), *data = path_in(*state, "data.raw"),
                            *data_option = NULL;
        vmsnap_image_header header = {0};
        vmsnap_error error = {0};

        /* crypt_method 1 (AES) patched in: creating a LUKS image benchmarks PBKDF, which is flaky in VMs. */
        test_qcow2_create(encrypted, NULL, NULL, "16M");
        patch_be32(encrypted, 32, 1);
        assert_int_equal(vmsnap_image_header_read(encrypted, &header, &error), 0);
        assert_true(header.encrypted);
        assert_false(header.external_data_file);
        vmsnap_image_header_clear(&header);

        assert_true(asprintf(&data_option, "data_file=%s", data) >= 0);
        const char *create_with_data[] = {"qemu-img", "create",    "-q",      "-f",  "qcow2",
                                          "-o",       data_option, with_data, "16M", NULL};
        assert_int_equal(test_run(create_with_data), 0);
        assert_int_equal(vmsnap_image_header_read(with_data, &header, &error), 0);
        assert_true(header.external_data_file);
        assert_false(header.encrypted);
        vmsnap_image_header_clear(&header);
}

static void test_header_refuses_unknown_crypt_method(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "disk.qcow2");

        test_qcow2_create(path, NULL, NULL, "16M");
        patch_be32(path, 32, 3);
        assert_header_refused(path, -EBADMSG, VMSNAP_ERROR_FAILED, "crypt_method is 3");
}

static void test_header_reports_dirty_bit(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "disk.qcow2");
        vmsnap_image_header header = {0};
        vmsnap_error error = {0};

        test_qcow2_create(path, NULL, NULL, "16M");
        patch_be64(path, 72, 1);

        assert_int_equal(vmsnap_image_header_read(path, &header, &error), 0);
        assert_true(header.dirty);
        vmsnap_image_header_clear(&header);
}

static void test_header_refuses_image_marked_corrupt(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "disk.qcow2");

        test_qcow2_create(path, NULL, NULL, "16M");
        patch_be64(path, 72, 2);
        assert_header_refused(path, -EUCLEAN, VMSNAP_ERROR_FAILED, "corrupt");
}

static void test_header_refuses_unknown_incompatible_feature_bit(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "disk.qcow2");

        test_qcow2_create(path, NULL, NULL, "16M");
        patch_be64(path, 72, UINT64_C(1) << 5);
        assert_header_refused(path, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED, "0x20");

        patch_be64(path, 72, UINT64_C(1) << 63);
        assert_header_refused(path, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED, "0x8000000000000000");
}

static void test_header_refuses_bad_cluster_bits(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "disk.qcow2");

        test_qcow2_create(path, NULL, NULL, "16M");
        patch_be32(path, 20, 30);
        assert_header_refused(path, -EBADMSG, VMSNAP_ERROR_FAILED, "cluster_bits is 30");
        patch_be32(path, 20, 8);
        assert_header_refused(path, -EBADMSG, VMSNAP_ERROR_FAILED, "cluster_bits is 8");
        patch_be32(path, 20, UINT32_MAX);
        assert_header_refused(path, -EBADMSG, VMSNAP_ERROR_FAILED, "cluster_bits");
}

static void test_header_refuses_truncated_header(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "disk.qcow2"), *tiny = path_in(*state, "tiny.qcow2");
        const uint8_t just_magic_and_version[] = {'Q', 'F', 'I', 0xfb, 0, 0, 0, 3, 0, 0, 0};

        test_qcow2_create(path, NULL, NULL, "16M");
        assert_int_equal(truncate(path, 90), 0);
        assert_header_refused(path, -EBADMSG, VMSNAP_ERROR_FAILED, "truncated");

        write_file(tiny, just_magic_and_version, sizeof(just_magic_and_version));
        assert_header_refused(tiny, -EBADMSG, VMSNAP_ERROR_FAILED, "truncated");
}

static void test_header_refuses_header_cut_off_after_first_cluster_fields(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "disk.qcow2");

        /* The header is complete but the tables it points to are gone. */
        test_qcow2_create(path, NULL, NULL, "16M");
        assert_int_equal(truncate(path, 4096), 0);
        assert_header_refused(path, -EBADMSG, VMSNAP_ERROR_FAILED, "outside the file");
}

static void test_header_refuses_unsupported_version(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "disk.qcow2");

        test_qcow2_create(path, NULL, NULL, "16M");
        patch_be32(path, 4, 4);
        assert_header_refused(path, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED, "version 4");
        patch_be32(path, 4, 1);
        assert_header_refused(path, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED, "version 1");
}

static void test_header_refuses_backing_name_longer_than_1023_bytes(void **state)
{
        _cleanup_free_ char *base = path_in(*state, "base.qcow2"), *top = path_in(*state, "top.qcow2");

        test_qcow2_create(base, NULL, NULL, "16M");
        test_qcow2_create(top, base, "qcow2", NULL);
        patch_be32(top, 16, 2000);
        assert_header_refused(top, -EBADMSG, VMSNAP_ERROR_FAILED, "2000 bytes");
}

static void test_header_refuses_backing_name_outside_first_cluster(void **state)
{
        _cleanup_free_ char *base = path_in(*state, "base.qcow2"), *top = path_in(*state, "top.qcow2");

        test_qcow2_create(base, NULL, NULL, "16M");
        test_qcow2_create(top, base, "qcow2", NULL);
        patch_be64(top, 8, 65536 - 4);
        assert_header_refused(top, -EBADMSG, VMSNAP_ERROR_FAILED, "first cluster");
        patch_be64(top, 8, UINT64_MAX - 2);
        assert_header_refused(top, -EBADMSG, VMSNAP_ERROR_FAILED, "first cluster");
}

static void test_header_refuses_extension_running_past_header_area(void **state)
{
        _cleanup_free_ char *base = path_in(*state, "base.qcow2"), *top = path_in(*state, "top.qcow2");
        const uint8_t type[4] = {0xe2, 0x79, 0x2a, 0xca};

        test_qcow2_create(base, NULL, NULL, "16M");
        test_qcow2_create(top, base, "qcow2", NULL);
        patch_be32(top, find_bytes(top, type, sizeof(type)) + 4, 0xfffffff0);
        assert_header_refused(top, -EBADMSG, VMSNAP_ERROR_FAILED, "runs past");
}

static void test_header_refuses_l1_table_outside_file(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "disk.qcow2");

        test_qcow2_create(path, NULL, NULL, "16M");
        patch_be64(path, 40, UINT64_C(1) << 40);
        assert_header_refused(path, -EBADMSG, VMSNAP_ERROR_FAILED, "L1 table");
        patch_be64(path, 40, 65536 + 8); /* unaligned */
        assert_header_refused(path, -EBADMSG, VMSNAP_ERROR_FAILED, "L1 table");
}

static void test_header_refuses_l1_table_too_small_for_virtual_size(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "disk.qcow2");

        test_qcow2_create(path, NULL, NULL, "16M");
        patch_be64(path, 24, UINT64_C(1) << 50);
        assert_header_refused(path, -EBADMSG, VMSNAP_ERROR_FAILED, "too few");
}

static void test_header_refuses_backing_over_network_protocol(void **state)
{
        _cleanup_free_ char *nbd = path_in(*state, "nbd.qcow2"), *json = path_in(*state, "json.qcow2");
        const char *create_nbd[] = {
                "qemu-img", "create", "-q", "-f",  "qcow2", "-u", "-b", "nbd:localhost:10809",
                "-F",       "raw",    nbd,  "16M", NULL};
        const char *create_json[] = {
                "qemu-img", "create", "-q", "-f",
                "qcow2",    "-u",     "-b", "json:{\"file.driver\":\"file\",\"file.filename\":\"/x\"}",
                "-F",       "raw",    json, "16M",
                NULL};

        assert_int_equal(test_run(create_nbd), 0);
        assert_header_refused(nbd, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED, "nbd:localhost:10809");
        assert_int_equal(test_run(create_json), 0);
        assert_header_refused(json, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED, "not a local file");
}

static void test_header_refuses_directory(void **state)
{
        assert_header_refused(*state, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED, "not a regular file");
}

static void test_header_of_missing_image_is_not_found(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "absent.qcow2");

        assert_header_refused(path, -ENOENT, VMSNAP_ERROR_NOT_FOUND, path);
}

static void test_header_survives_random_corruption(void **state)
{
        _cleanup_free_ char *base = path_in(*state, "base.qcow2"), *top = path_in(*state, "top.qcow2"),
                            *fuzzed = path_in(*state, "fuzzed.qcow2");
        static uint8_t original[4096], copy[4096];
        unsigned seed = 20240501;

        test_qcow2_create(base, NULL, NULL, "16M");
        test_qcow2_create(top, "base.qcow2", "qcow2", NULL);
        assert_int_equal(read_prefix(top, original, sizeof(original)), sizeof(original));
        /* The tables after the first cluster stay as they are; only the header bytes change. */
        assert_int_equal(test_runf("cp %s %s", top, fuzzed), 0);

        for (unsigned round = 0; round < 3000; round++) {
                vmsnap_image_header header = {0};
                vmsnap_error error = {0};
                unsigned flips = 1 + rand_r(&seed) % 8;

                memcpy(copy, original, sizeof(copy));
                for (unsigned i = 0; i < flips; i++) {
                        /* Mostly the fixed header, sometimes the extensions and backing name. */
                        unsigned offset = rand_r(&seed) % (i % 2 ? 512 : 112);
                        copy[offset] = (uint8_t)rand_r(&seed);
                }
                patch_bytes(fuzzed, 0, copy, sizeof(copy));

                if (vmsnap_image_header_read(fuzzed, &header, &error) < 0)
                        assert_int_not_equal(error.message[0], '\0');
                vmsnap_image_header_clear(&header);
        }
}

static void test_walk_visits_top_to_base_with_depths_and_formats(void **state)
{
        _cleanup_free_ char *base = path_in(*state, "base.raw"), *middle = path_in(*state, "middle.qcow2"),
                            *top = path_in(*state, "top.qcow2");
        const char *create_raw[] = {"qemu-img", "create", "-q", "-f", "raw", base, "8M", NULL};
        visit_log *log = calloc(1, sizeof(*log));
        vmsnap_error error = {0};

        assert_int_equal(test_run(create_raw), 0);
        test_qcow2_create(middle, "base.raw", "raw", NULL);
        test_qcow2_create(top, "middle.qcow2", "qcow2", NULL);

        assert_int_equal(vmsnap_chain_walk(top, record_visit, log, &error), 0);
        assert_int_equal(log->n, 3);
        assert_string_equal(log->paths[0], top);
        assert_string_equal(log->paths[1], middle);
        assert_string_equal(log->paths[2], base);
        for (unsigned i = 0; i < 3; i++)
                assert_int_equal(log->depths[i], i);
        assert_int_equal(log->headers[0].format, VMSNAP_FORMAT_QCOW2);
        assert_int_equal(log->headers[1].backing_format, VMSNAP_FORMAT_RAW);
        assert_int_equal(log->headers[2].format, VMSNAP_FORMAT_RAW);
        assert_int_equal(log->headers[2].virtual_size, 8 * 1024 * 1024);
        visit_log_free(log);
}

static void test_walk_stops_when_visit_returns_nonzero(void **state)
{
        _cleanup_free_ char *base = path_in(*state, "base.qcow2"), *top = path_in(*state, "top.qcow2");
        visit_log *log = calloc(1, sizeof(*log));
        vmsnap_error error = {0};

        test_qcow2_create(base, NULL, NULL, "8M");
        test_qcow2_create(top, "base.qcow2", "qcow2", NULL);

        log->stop_at = 1;
        assert_int_equal(vmsnap_chain_walk(top, record_visit, log, &error), 42);
        assert_int_equal(log->n, 1);
        visit_log_free(log);
}

static void test_walk_detects_backing_loop(void **state)
{
        _cleanup_free_ char *a = path_in(*state, "a.qcow2"), *b = path_in(*state, "b.qcow2");
        const char *rebase[] = {"qemu-img", "rebase", "-u", "-b", "b.qcow2", "-F", "qcow2", a, NULL};
        visit_log *log = calloc(1, sizeof(*log));
        vmsnap_error error = {0};

        test_qcow2_create(a, NULL, NULL, "8M");
        test_qcow2_create(b, "a.qcow2", "qcow2", NULL);
        assert_int_equal(test_run(rebase), 0);

        assert_int_equal(vmsnap_chain_walk(b, record_visit, log, &error), -ELOOP);
        assert_non_null(strstr(error.message, "loops"));
        assert_int_equal(log->n, 2);
        visit_log_free(log);
}

static void test_walk_detects_image_backed_by_itself(void **state)
{
        _cleanup_free_ char *a = path_in(*state, "a.qcow2");
        const char *rebase[] = {"qemu-img", "rebase", "-u", "-b", "a.qcow2", "-F", "qcow2", a, NULL};
        visit_log *log = calloc(1, sizeof(*log));
        vmsnap_error error = {0};

        test_qcow2_create(a, NULL, NULL, "8M");
        assert_int_equal(test_run(rebase), 0);
        assert_int_equal(vmsnap_chain_walk(a, record_visit, log, &error), -ELOOP);
        visit_log_free(log);
}

static void test_walk_reports_missing_backing_file_naming_both_files(void **state)
{
        _cleanup_free_ char *base = path_in(*state, "base.qcow2"), *top = path_in(*state, "top.qcow2");
        visit_log *log = calloc(1, sizeof(*log));
        vmsnap_error error = {0};

        test_qcow2_create(base, NULL, NULL, "8M");
        test_qcow2_create(top, "base.qcow2", "qcow2", NULL);
        assert_int_equal(unlink(base), 0);

        assert_int_equal(vmsnap_chain_walk(top, record_visit, log, &error), -ENOENT);
        assert_int_equal(error.kind, VMSNAP_ERROR_NOT_FOUND);
        assert_non_null(strstr(error.message, base));
        assert_non_null(strstr(error.message, top));
        visit_log_free(log);
}

static void test_walk_of_missing_image_is_not_found(void **state)
{
        _cleanup_free_ char *path = path_in(*state, "absent.qcow2");
        visit_log *log = calloc(1, sizeof(*log));
        vmsnap_error error = {0};

        assert_int_equal(vmsnap_chain_walk(path, record_visit, log, &error), -ENOENT);
        assert_non_null(strstr(error.message, path));
        assert_int_equal(log->n, 0);
        visit_log_free(log);
}

static void test_walk_reads_backing_declared_raw_as_raw_even_with_qcow2_magic(void **state)
{
        _cleanup_free_ char *guest = path_in(*state, "guest-wrote-qcow2.img"),
                            *top = path_in(*state, "top.qcow2");
        const char *create_top[] = {
                "qemu-img", "create", "-q", "-f",  "qcow2", "-u", "-b", "guest-wrote-qcow2.img",
                "-F",       "raw",    top,  "64M", NULL};
        visit_log *log = calloc(1, sizeof(*log));
        vmsnap_error error = {0};
        struct stat st;

        /* What a guest may write to its raw disk: a qcow2 header pointing at a host file. */
        test_qcow2_create(guest, "/etc/passwd", "raw", "64M");
        assert_int_equal(test_run(create_top), 0);
        assert_int_equal(stat(guest, &st), 0);

        assert_int_equal(vmsnap_chain_walk(top, record_visit, log, &error), 0);
        assert_int_equal(log->n, 2);
        assert_int_equal(log->headers[1].format, VMSNAP_FORMAT_RAW);
        assert_int_equal(log->headers[1].virtual_size, (uint64_t)st.st_size);
        visit_log_free(log);
}

static void test_walk_refuses_backing_declared_qcow2_without_magic(void **state)
{
        _cleanup_free_ char *raw = path_in(*state, "base.raw"), *top = path_in(*state, "top.qcow2");
        const char *create_raw[] = {"qemu-img", "create", "-q", "-f", "raw", raw, "8M", NULL};
        const char *create_top[] = {"qemu-img", "create", "-q",    "-f", "qcow2", "-u", "-b",
                                    "base.raw", "-F",     "qcow2", top,  "8M",    NULL};
        visit_log *log = calloc(1, sizeof(*log));
        vmsnap_error error = {0};

        assert_int_equal(test_run(create_raw), 0);
        assert_int_equal(test_run(create_top), 0);
        assert_true(vmsnap_chain_walk(top, record_visit, log, &error) < 0);
        assert_non_null(strstr(error.message, raw));
        assert_non_null(strstr(error.message, "qcow2 magic"));
        visit_log_free(log);
}

/* Writes img-0000 .. img-<last>, each backed by the next, the last one without a backing file.
 * Copies of one small qemu-img image with the name patched: 1000 qemu-img runs would be slow. */
static void make_long_chain(const char *dir, unsigned last)
{
        _cleanup_free_ char *template = path_in(dir, "template.qcow2"), *image = NULL;
        const char *create[] = {
                "qemu-img",       "create", "-q",    "-f",     "qcow2", "-o", "cluster_size=512", "-u", "-b",
                "img-0001.qcow2", "-F",     "qcow2", template, "1M",    NULL};
        static uint8_t content[65536];
        uint64_t name_offset;
        size_t size;

        assert_int_equal(test_run(create), 0);
        size = read_prefix(template, content, sizeof(content));
        assert_true(size < sizeof(content));
        name_offset = find_bytes(template, "img-0001.qcow2", 14);

        for (unsigned i = 0; i <= last; i++) {
                char name[32], next[32];

                snprintf(name, sizeof(name), "img-%04u.qcow2", i);
                snprintf(next, sizeof(next), "img-%04u.qcow2", i + 1);
                memcpy(content + name_offset, next, 14);
                if (i == last)
                        memset(content + 8, 0, 8); /* backing_file_offset: none */
                image = path_in(dir, name);
                write_file(image, content, size);
                free(image);
                image = NULL;
        }
}

static void test_walk_refuses_chain_deeper_than_1024(void **state)
{
        _cleanup_free_ char *first = path_in(*state, "img-0000.qcow2"),
                            *second = path_in(*state, "img-0001.qcow2");
        visit_log *log = calloc(1, sizeof(*log));
        vmsnap_error error = {0};

        make_long_chain(*state, 1025);

        /* img-0001 .. img-1025: depths 0 to 1024 are allowed. */
        assert_int_equal(vmsnap_chain_walk(second, record_visit, log, &error), 0);
        assert_int_equal(log->n, 1025);
        assert_int_equal(log->depths[1024], 1024);
        visit_log_free(log);

        log = calloc(1, sizeof(*log));
        assert_int_equal(vmsnap_chain_walk(first, record_visit, log, &error), -ELOOP);
        assert_non_null(strstr(error.message, "deeper than 1024"));
        visit_log_free(log);
}

static void test_image_format_name_and_parse_round_trip(void **state)
{
        vmsnap_image_format format;

        assert_string_equal(vmsnap_image_format_name(VMSNAP_FORMAT_RAW), "raw");
        assert_string_equal(vmsnap_image_format_name(VMSNAP_FORMAT_QCOW2), "qcow2");

        assert_int_equal(vmsnap_image_format_parse("qcow2", &format), 0);
        assert_int_equal(format, VMSNAP_FORMAT_QCOW2);
        assert_int_equal(vmsnap_image_format_parse("raw", &format), 0);
        assert_int_equal(format, VMSNAP_FORMAT_RAW);
        assert_int_equal(vmsnap_image_format_parse("vmdk", &format), -EINVAL);
        assert_int_equal(vmsnap_image_format_parse("QCOW2", &format), -EINVAL);
        assert_int_equal(vmsnap_image_format_parse(NULL, &format), -EINVAL);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, test_tmpdir_setup, test_tmpdir_teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                TEST(test_header_reads_qcow2_version_3_fields),
                TEST(test_header_of_compat_0_10_image_is_version_2),
                TEST(test_header_of_file_without_magic_is_raw_with_file_size),
                TEST(test_header_resolves_relative_backing_against_image_directory),
                TEST(test_header_keeps_absolute_backing_and_strips_file_protocol),
                TEST(test_header_reads_backing_format_extension),
                TEST(test_header_without_backing_format_extension_leaves_format_unknown),
                TEST(test_walk_probes_backing_format_when_extension_absent),
                TEST(test_header_counts_internal_snapshots),
                TEST(test_header_kept_serves_probed_and_declared_reads_alike),
                TEST(test_header_kept_is_given_again_only_while_the_file_is_unchanged),
                TEST(test_header_reports_encryption_and_external_data_file),
                TEST(test_header_refuses_unknown_crypt_method),
                TEST(test_header_reports_dirty_bit),
                TEST(test_header_refuses_image_marked_corrupt),
                TEST(test_header_refuses_unknown_incompatible_feature_bit),
                TEST(test_header_refuses_bad_cluster_bits),
                TEST(test_header_refuses_truncated_header),
                TEST(test_header_refuses_header_cut_off_after_first_cluster_fields),
                TEST(test_header_refuses_unsupported_version),
                TEST(test_header_refuses_backing_name_longer_than_1023_bytes),
                TEST(test_header_refuses_backing_name_outside_first_cluster),
                TEST(test_header_refuses_extension_running_past_header_area),
                TEST(test_header_refuses_l1_table_outside_file),
                TEST(test_header_refuses_l1_table_too_small_for_virtual_size),
                TEST(test_header_refuses_backing_over_network_protocol),
                TEST(test_header_refuses_directory),
                TEST(test_header_of_missing_image_is_not_found),
                TEST(test_header_survives_random_corruption),
                TEST(test_walk_visits_top_to_base_with_depths_and_formats),
                TEST(test_walk_stops_when_visit_returns_nonzero),
                TEST(test_walk_detects_backing_loop),
                TEST(test_walk_detects_image_backed_by_itself),
                TEST(test_walk_reports_missing_backing_file_naming_both_files),
                TEST(test_walk_of_missing_image_is_not_found),
                TEST(test_walk_reads_backing_declared_raw_as_raw_even_with_qcow2_magic),
                TEST(test_walk_refuses_backing_declared_qcow2_without_magic),
                TEST(test_walk_refuses_chain_deeper_than_1024),
                TEST(test_image_format_name_and_parse_round_trip),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
