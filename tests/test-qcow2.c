/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-qcow2.c: the chain reader (qcow2.c, extent.c) against images a real qemu-img and
 * qemu-io made: every cluster kind and size, compression with zlib and zstd, subclusters,
 * version 2, raw bases, relative backing names, short backing files and deep chains read
 * exactly what qemu reads (the disk is rendered through the extent map and compared with
 * "qemu-img compare"); damaged images are refused with a sentence and never crash. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
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
#include "extent.h"
#include "qcow2.h"
#include "testlib.h"

#define L2_OFFSET_MASK UINT64_C(0x00fffffffffffe00)

static int pwrite_all(int fd, const void *buffer, size_t size, uint64_t offset)
{
        return pwrite(fd, buffer, size, (off_t)offset) == (ssize_t)size ? 0 : -1;
}

/* Writes the disk as the extent map reads it into a raw file, window by window. */
static int render(const char *top, const char *raw_path, vmsnap_error *error)
{
        static uint8_t buffer[1 << 20];
        vmsnap_extent extents[16];
        vmsnap_extent_map *map = NULL;
        uint8_t *cluster = NULL, *scratch = NULL;
        uint64_t position = 0, size;
        int fd, r;

        r = vmsnap_extent_map_open(top, NULL, &map, error);
        if (r < 0)
                return r;
        size = vmsnap_extent_map_virtual_size(map);
        cluster = malloc(2 << 20);
        scratch = malloc(4 << 20);
        assert_non_null(cluster);
        assert_non_null(scratch);
        fd = open(raw_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t)size), 0);

        while (position < size && r >= 0) {
                size_t n;
                uint64_t end;

                r = vmsnap_extent_map_read(map, position, UINT64_C(64) << 20, extents, 16, &n, &end, error);
                if (r < 0)
                        break;
                assert_true(n > 0);
                assert_int_equal(extents[0].offset, position);
                for (size_t i = 0; i < n; i++) {
                        const vmsnap_extent *e = &extents[i];

                        assert_true(e->length > 0);
                        if (i > 0)
                                assert_int_equal(e->offset, extents[i - 1].offset + extents[i - 1].length);
                        if (e->kind == VMSNAP_EXTENT_DATA) {
                                for (uint64_t done = 0; done < e->length;) {
                                        size_t piece = e->length - done < sizeof(buffer) ? e->length - done
                                                                                         : sizeof(buffer);
                                        ssize_t got =
                                                pread(e->fd, buffer, piece, (off_t)(e->host_offset + done));

                                        assert_true(got >= 0);
                                        /* A cluster cut short by the end of its file reads zeroes. */
                                        memset(buffer + got, 0, piece - (size_t)got);
                                        assert_int_equal(pwrite_all(fd, buffer, piece, e->offset + done), 0);
                                        done += piece;
                                }
                        } else if (e->kind == VMSNAP_EXTENT_COMPRESSED) {
                                r = vmsnap_extent_read_compressed(e, cluster, scratch, error);
                                if (r < 0)
                                        break;
                                assert_true(e->offset >= e->cluster_offset);
                                assert_int_equal(pwrite_all(fd, cluster + (e->offset - e->cluster_offset),
                                                            e->length, e->offset),
                                                 0);
                        }
                }
                position = end;
        }

        close(fd);
        free(cluster);
        free(scratch);
        vmsnap_extent_map_free(map);
        return r;
}

/* The disk read through vmsnap's reader is byte for byte what qemu reads. */
static void assert_reads_like_qemu(const char *dir, const char *top)
{
        _cleanup_free_ char *rendered = test_path_in(dir, "rendered.raw");
        vmsnap_error error = {0};
        const char *compare[] = {"qemu-img", "compare", "-q", "-f", "raw", rendered, top, NULL};

        if (render(top, rendered, &error) < 0)
                fail_msg("reading %s failed: %s", top, error.message);
        if (test_run(compare) != 0)
                fail_msg("%s does not read what qemu reads", top);
        unlink(rendered);
}

/* The chain is refused, when opened or at the latest while read from end to end. */
static void assert_refused(const char *top, int code, vmsnap_error_kind kind, const char *in_message)
{
        vmsnap_extent_map *map = NULL;
        vmsnap_error error = {0};
        int r;

        r = vmsnap_extent_map_open(top, NULL, &map, &error);
        if (r >= 0) {
                uint64_t size = vmsnap_extent_map_virtual_size(map), position = 0;
                uint8_t *cluster = malloc(2 << 20), *scratch = malloc(4 << 20);

                assert_non_null(cluster);
                assert_non_null(scratch);
                while (position < size) {
                        vmsnap_extent e;

                        r = vmsnap_extent_map_next(map, position, UINT64_MAX, &e, &error);
                        if (r < 0)
                                break;
                        if (e.kind == VMSNAP_EXTENT_COMPRESSED) {
                                r = vmsnap_extent_read_compressed(&e, cluster, scratch, &error);
                                if (r < 0)
                                        break;
                        }
                        position += e.length;
                }
                free(cluster);
                free(scratch);
                vmsnap_extent_map_free(map);
        }
        if (r >= 0)
                fail_msg("%s was read although it should be refused", top);
        assert_int_equal(r, code);
        assert_int_equal(error.code, code);
        assert_int_equal(error.kind, kind);
        if (!strstr(error.message, in_message))
                fail_msg("message \"%s\" does not mention \"%s\"", error.message, in_message);
}

static void expect_extent(vmsnap_extent_map *map, uint64_t offset, vmsnap_extent_kind kind, uint64_t length)
{
        vmsnap_extent e;
        vmsnap_error error = {0};

        if (vmsnap_extent_map_next(map, offset, UINT64_MAX, &e, &error) < 0)
                fail_msg("reading at %llu failed: %s", (unsigned long long)offset, error.message);
        if (e.kind != kind || e.length != length)
                fail_msg("at %llu: %s of %llu bytes, expected %s of %llu", (unsigned long long)offset,
                         vmsnap_extent_kind_name(e.kind), (unsigned long long)e.length,
                         vmsnap_extent_kind_name(kind), (unsigned long long)length);
}

static vmsnap_extent_map *map_open(const char *top)
{
        vmsnap_extent_map *map = NULL;
        vmsnap_error error = {0};

        if (vmsnap_extent_map_open(top, NULL, &map, &error) < 0)
                fail_msg("opening %s failed: %s", top, error.message);
        return map;
}

static uint64_t read_be(const char *path, uint64_t offset, size_t bytes)
{
        uint8_t buffer[8];
        uint64_t value = 0;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(pread(fd, buffer, bytes, (off_t)offset), (ssize_t)bytes);
        close(fd);
        for (size_t i = 0; i < bytes; i++)
                value = value << 8 | buffer[i];
        return value;
}

static void write_be(const char *path, uint64_t offset, uint64_t value, size_t bytes)
{
        uint8_t buffer[8];
        int fd = open(path, O_WRONLY | O_CLOEXEC);

        assert_true(fd >= 0);
        for (size_t i = 0; i < bytes; i++)
                buffer[i] = (uint8_t)(value >> (8 * (bytes - 1 - i)));
        assert_int_equal(pwrite(fd, buffer, bytes, (off_t)offset), (ssize_t)bytes);
        close(fd);
}

#define HEADER_CRYPT_METHOD 32
#define HEADER_L1_TABLE_OFFSET 40
#define HEADER_REFCOUNT_TABLE_OFFSET 48
#define HEADER_INCOMPATIBLE_FEATURES 72

/* File offset of the first L2 table (the one for guest offset 0). */
static uint64_t first_l2_table(const char *path)
{
        uint64_t l1 = read_be(path, HEADER_L1_TABLE_OFFSET, 8);

        return read_be(path, l1, 8) & L2_OFFSET_MASK;
}

static void test_reader_reads_clusters_of_every_size(void **state)
{
        static const char *const sizes[] = {"512", "4096", "65536", "2097152"};

        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                _cleanup_free_ char *base = test_path_in(*state, "base.qcow2"),
                                    *top = test_path_in(*state, "top.qcow2"), *options = NULL;

                assert_true(asprintf(&options, "cluster_size=%s", sizes[i]) >= 0);
                test_image_create(base, options, NULL, NULL, "16M");
                test_qemu_io_all(base, "qcow2", "write -P 0x11 0 1M", "write -P 0x12 3000 5000",
                                 "write -P 0x13 9M 2M", NULL);
                test_image_create(top, options, base, "qcow2", NULL);
                test_qemu_io_all(top, "qcow2", "write -P 0x21 512k 100k", "write -z 9M 64k",
                                 "write -P 0x22 15M 1M", "discard 10M 512k", NULL);
                assert_reads_like_qemu(*state, top);
                unlink(top);
                unlink(base);
        }
}

static void test_reader_merges_adjacent_runs(void **state)
{
        _cleanup_free_ char *top = test_path_in(*state, "top.qcow2");
        vmsnap_extent_map *map;

        test_image_create(top, NULL, NULL, NULL, "64M");
        test_qemu_io_all(top, "qcow2", "write -P 0x31 0 8M", "write -z 8M 4M", NULL);
        map = map_open(top);
        /* One write of 8 MiB is contiguous in the file: one run, not 128 clusters. */
        expect_extent(map, 0, VMSNAP_EXTENT_DATA, 8 << 20);
        expect_extent(map, 8 << 20, VMSNAP_EXTENT_ZERO, 4 << 20);
        expect_extent(map, 12 << 20, VMSNAP_EXTENT_UNALLOCATED, 52 << 20);
        /* A run asked for from its middle starts there. */
        expect_extent(map, 1 << 20, VMSNAP_EXTENT_DATA, 7 << 20);
        vmsnap_extent_map_free(map);
}

static void test_reader_reports_zero_clusters_over_backing_data(void **state)
{
        _cleanup_free_ char *base = test_path_in(*state, "base.qcow2"),
                            *top = test_path_in(*state, "top.qcow2");
        vmsnap_extent_map *map;

        test_image_create(base, NULL, NULL, NULL, "4M");
        test_qemu_io_all(base, "qcow2", "write -P 0x41 0 4M", NULL);
        test_image_create(top, NULL, base, "qcow2", NULL);
        test_qemu_io_all(top, "qcow2", "write -z 1M 1M", NULL);

        map = map_open(top);
        expect_extent(map, 0, VMSNAP_EXTENT_DATA, 1 << 20);
        expect_extent(map, 1 << 20, VMSNAP_EXTENT_ZERO, 1 << 20);
        expect_extent(map, 2 << 20, VMSNAP_EXTENT_DATA, 2 << 20);
        vmsnap_extent_map_free(map);
        assert_reads_like_qemu(*state, top);
}

static void test_reader_decompresses_zlib_clusters(void **state)
{
        _cleanup_free_ char *base = test_path_in(*state, "base.qcow2"),
                            *top = test_path_in(*state, "top.qcow2");
        vmsnap_extent_map *map;

        test_image_create(base, NULL, NULL, NULL, "8M");
        test_qemu_io_all(base, "qcow2", "write -c -P 0x51 0 64k", "write -c -P 0x52 64k 64k",
                         "write -c -P 0x53 4M 256k", NULL);
        test_image_create(top, NULL, base, "qcow2", NULL);
        test_qemu_io_all(top, "qcow2", "write -c -P 0x54 1M 64k", "write -P 0x55 4160k 4k", NULL);

        map = map_open(top);
        /* Each compressed cluster is a run of its own. */
        expect_extent(map, 0, VMSNAP_EXTENT_COMPRESSED, 64 << 10);
        expect_extent(map, 4096, VMSNAP_EXTENT_COMPRESSED, 60 << 10);
        expect_extent(map, 64 << 10, VMSNAP_EXTENT_COMPRESSED, 64 << 10);
        vmsnap_extent_map_free(map);
        assert_reads_like_qemu(*state, top);
}

static void test_reader_decompresses_zstd_clusters(void **state)
{
        _cleanup_free_ char *base = test_path_in(*state, "base.qcow2"),
                            *top = test_path_in(*state, "top.qcow2");
        vmsnap_extent_map *map;

        test_image_create(base, "compression_type=zstd", NULL, NULL, "8M");
        test_qemu_io_all(base, "qcow2", "write -c -P 0x61 0 1M", "write -c -P 0x62 3M 128k", NULL);
        test_image_create(top, "compression_type=zstd,cluster_size=4096", base, "qcow2", NULL);
        test_qemu_io_all(top, "qcow2", "write -c -P 0x63 512k 64k", NULL);

        map = map_open(top);
        expect_extent(map, 512 << 10, VMSNAP_EXTENT_COMPRESSED, 4096);
        vmsnap_extent_map_free(map);
        assert_reads_like_qemu(*state, top);
}

static void test_reader_reads_subclusters_of_extended_l2_entries(void **state)
{
        _cleanup_free_ char *base = test_path_in(*state, "base.qcow2"),
                            *top = test_path_in(*state, "top.qcow2");
        vmsnap_extent_map *map;

        test_image_create(base, NULL, NULL, NULL, "4M");
        test_qemu_io_all(base, "qcow2", "write -P 0x71 0 4M", NULL);
        /* 64 KiB clusters of 32 subclusters of 2 KiB. */
        test_image_create(top, "extended_l2=on,cluster_size=65536", base, "qcow2", NULL);
        test_qemu_io_all(top, "qcow2", "write -P 0x72 4k 2k", "write -z 8k 4k", "write -P 0x73 128k 6k",
                         "write -c -P 0x74 1M 64k", NULL);

        map = map_open(top);
        expect_extent(map, 0, VMSNAP_EXTENT_DATA, 4096); /* from the base */
        expect_extent(map, 4096, VMSNAP_EXTENT_DATA, 2048);
        expect_extent(map, 8192, VMSNAP_EXTENT_ZERO, 4096);
        expect_extent(map, 1 << 20, VMSNAP_EXTENT_COMPRESSED, 64 << 10);
        vmsnap_extent_map_free(map);
        assert_reads_like_qemu(*state, top);
}

static void test_reader_reads_version_2_images(void **state)
{
        _cleanup_free_ char *base = test_path_in(*state, "base.qcow2"),
                            *top = test_path_in(*state, "top.qcow2");

        test_image_create(base, "compat=0.10", NULL, NULL, "8M");
        test_qemu_io_all(base, "qcow2", "write -P 0x81 0 8M", NULL);
        test_image_create(top, "compat=0.10", base, "qcow2", NULL);
        test_qemu_io_all(top, "qcow2", "write -P 0x82 1M 1M", "write -z 3M 1M", "write -c -P 0x83 5M 64k",
                         NULL);
        assert_reads_like_qemu(*state, top);
}

static void test_reader_reads_raw_base_with_holes(void **state)
{
        _cleanup_free_ char *base = test_path_in(*state, "base.raw"),
                            *top = test_path_in(*state, "top.qcow2");
        vmsnap_extent_map *map;

        test_raw_create(base, "16M");
        test_qemu_io_all(base, "raw", "write -P 0x91 2M 1M", "write -P 0x92 10M 64k", NULL);
        test_image_create(top, NULL, base, "raw", NULL);
        test_qemu_io_all(top, "qcow2", "write -P 0x93 2560k 64k", NULL);

        map = map_open(top);
        /* qemu-img writes the first block of a new raw file (to learn its alignment); the rest
         * up to the data is a hole. */
        expect_extent(map, 0, VMSNAP_EXTENT_DATA, 4096);
        expect_extent(map, 4096, VMSNAP_EXTENT_ZERO, (2 << 20) - 4096);
        expect_extent(map, 2 << 20, VMSNAP_EXTENT_DATA, 512 << 10);
        vmsnap_extent_map_free(map);
        assert_reads_like_qemu(*state, top);
}

static void test_reader_resolves_relative_backing_names(void **state)
{
        _cleanup_free_ char *sub = test_path_in(*state, "images"),
                            *base = test_path_in(*state, "images/base.qcow2"),
                            *middle = test_path_in(*state, "images/middle.qcow2"),
                            *top = test_path_in(*state, "top.qcow2");
        _cleanup_free_ char *cwd = getcwd(NULL, 0);

        assert_int_equal(mkdir(sub, 0755), 0);
        test_image_create(base, NULL, NULL, NULL, "4M");
        test_qemu_io_all(base, "qcow2", "write -P 0xa1 0 4M", NULL);
        /* Names relative to each image's own directory, not to the caller's. */
        test_image_create(middle, NULL, "base.qcow2", "qcow2", "4M");
        test_qemu_io_all(middle, "qcow2", "write -P 0xa2 1M 1M", NULL);
        test_image_create(top, NULL, "images/middle.qcow2", "qcow2", "4M");
        test_qemu_io_all(top, "qcow2", "write -P 0xa3 3M 64k", NULL);

        assert_int_equal(chdir("/"), 0);
        assert_reads_like_qemu(*state, top);
        assert_int_equal(chdir(cwd), 0);
}

static void test_reader_reads_zeroes_past_the_end_of_a_short_backing_file(void **state)
{
        _cleanup_free_ char *base = test_path_in(*state, "base.qcow2"),
                            *middle = test_path_in(*state, "middle.qcow2"),
                            *top = test_path_in(*state, "top.qcow2");
        vmsnap_extent_map *map;

        test_image_create(base, NULL, NULL, NULL, "8M");
        test_qemu_io_all(base, "qcow2", "write -P 0xb1 0 8M", NULL);
        /* The middle image is shorter than its backing file: past its end, the base does not show. */
        test_image_create(middle, NULL, base, "qcow2", "2M");
        test_image_create(top, NULL, middle, "qcow2", "6M");
        test_qemu_io_all(top, "qcow2", "write -P 0xb2 5M 64k", NULL);

        map = map_open(top);
        assert_int_equal(vmsnap_extent_map_virtual_size(map), 6 << 20);
        expect_extent(map, 0, VMSNAP_EXTENT_DATA, 2 << 20);
        expect_extent(map, 2 << 20, VMSNAP_EXTENT_ZERO, 3 << 20);
        vmsnap_extent_map_free(map);
        assert_reads_like_qemu(*state, top);
}

static void test_reader_follows_a_chain_of_depth_60(void **state)
{
        char *previous = test_path_in(*state, "layer0.qcow2");
        vmsnap_extent_map *map;

        test_image_create(previous, "cluster_size=4096", NULL, NULL, "1M");
        test_qemu_io_all(previous, "qcow2", "write -P 0x01 0 1M", NULL);
        for (unsigned i = 1; i < 60; i++) {
                _cleanup_free_ char *name = NULL, *command = NULL;
                char *layer;

                assert_true(asprintf(&name, "layer%u.qcow2", i) >= 0);
                layer = test_path_in(*state, name);
                test_image_create(layer, "cluster_size=4096", previous, "qcow2", NULL);
                assert_true(asprintf(&command, "write -P %u %u 4096", i + 1, i * 8192) >= 0);
                test_qemu_io_all(layer, "qcow2", command, NULL);
                free(previous);
                previous = layer;
        }

        map = map_open(previous);
        assert_int_equal(vmsnap_extent_map_depth(map), 60);
        vmsnap_extent_map_free(map);
        assert_reads_like_qemu(*state, previous);
        free(previous);
}

static void test_reader_reads_large_sparse_disks_in_bounded_windows(void **state)
{
        _cleanup_free_ char *top = test_path_in(*state, "top.qcow2");
        vmsnap_extent_map *map;
        vmsnap_extent extents[4];
        vmsnap_error error = {0};
        uint64_t position = 0, end, windows = 0;
        size_t n;

        test_image_create(top, NULL, NULL, NULL, "1T");
        test_qemu_io_all(top, "qcow2", "write -P 0xc1 0 64k", "write -P 0xc2 300G 64k",
                         "write -P 0xc3 1023G 64k", NULL);

        map = map_open(top);
        while (position < (UINT64_C(1) << 40)) {
                assert_int_equal(vmsnap_extent_map_read(map, position, UINT64_C(1) << 40, extents, 4, &n,
                                                        &end, &error),
                                 0);
                assert_true(n > 0 && n <= 4);
                assert_true(end > position);
                position = end;
                windows++;
        }
        /* 3 data runs and the holes between them. */
        assert_true(windows <= 3);
        vmsnap_extent_map_free(map);
}

static void test_reader_refuses_a_dirty_image(void **state)
{
        _cleanup_free_ char *top = test_path_in(*state, "top.qcow2");

        test_image_create(top, NULL, NULL, NULL, "4M");
        write_be(top, HEADER_INCOMPATIBLE_FEATURES, 1, 8);
        assert_refused(top, -EUCLEAN, VMSNAP_ERROR_FAILED, "was not closed cleanly");
        assert_refused(top, -EUCLEAN, VMSNAP_ERROR_FAILED, "qemu-img check -r all");
}

static void test_reader_refuses_an_image_marked_corrupt(void **state)
{
        _cleanup_free_ char *top = test_path_in(*state, "top.qcow2");

        test_image_create(top, NULL, NULL, NULL, "4M");
        write_be(top, HEADER_INCOMPATIBLE_FEATURES, 2, 8);
        assert_refused(top, -EUCLEAN, VMSNAP_ERROR_FAILED, "marked corrupt");
}

static void test_reader_refuses_unknown_incompatible_features_as_unsupported(void **state)
{
        _cleanup_free_ char *top = test_path_in(*state, "top.qcow2");

        test_image_create(top, NULL, NULL, NULL, "4M");
        write_be(top, HEADER_INCOMPATIBLE_FEATURES, UINT64_C(1) << 40, 8);
        assert_refused(top, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED, "unknown");
}

static void test_reader_refuses_encrypted_images_as_unsupported(void **state)
{
        _cleanup_free_ char *top = test_path_in(*state, "top.qcow2");

        /* crypt_method 1, qcow2's old AES encryption (qemu-img still reads it given a key).
         * A LUKS image made here would need qemu's key-derivation benchmark, which is flaky
         * on a busy machine. */
        test_image_create(top, NULL, NULL, NULL, "4M");
        write_be(top, HEADER_CRYPT_METHOD, 1, 4);
        assert_refused(top, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED, "encrypted");
}

static void test_reader_refuses_external_data_files_as_unsupported(void **state)
{
        _cleanup_free_ char *top = test_path_in(*state, "top.qcow2"),
                            *data = test_path_in(*state, "data.raw"), *options = NULL;

        assert_true(asprintf(&options, "data_file=%s", data) >= 0);
        test_image_create(top, options, NULL, NULL, "4M");
        assert_refused(top, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED, "external data file");
}

static void test_reader_refuses_other_formats_as_unsupported(void **state)
{
        _cleanup_free_ char *vmdk = test_path_in(*state, "disk.vmdk"),
                            *top = test_path_in(*state, "top.qcow2");
        const char *argv[] = {"qemu-img", "create", "-q", "-f", "vmdk", vmdk, "4M", NULL};

        assert_int_equal(test_run(argv), 0);
        assert_refused(vmdk, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED, "vmdk");
        /* Named as a backing format, it is refused too. */
        test_image_create(top, NULL, vmdk, "vmdk", NULL);
        assert_refused(top, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED, "vmdk");
}

static void test_reader_refuses_backing_loops(void **state)
{
        _cleanup_free_ char *a = test_path_in(*state, "a.qcow2"), *b = test_path_in(*state, "b.qcow2");

        test_image_create(a, NULL, NULL, NULL, "4M");
        test_image_create(b, NULL, a, "qcow2", NULL);
        /* Point a back at b, as a careless "qemu-img rebase -u" would. */
        {
                const char *argv[] = {"qemu-img", "rebase", "-u",    "-f", "qcow2", "-b",
                                      b,          "-F",     "qcow2", a,    NULL};
                assert_int_equal(test_run(argv), 0);
        }
        assert_refused(b, -ELOOP, VMSNAP_ERROR_FAILED, "loops");
}

static void test_reader_refuses_an_l1_table_overlapping_the_refcount_table(void **state)
{
        _cleanup_free_ char *top = test_path_in(*state, "top.qcow2");

        test_image_create(top, NULL, NULL, NULL, "4M");
        test_qemu_io_all(top, "qcow2", "write -P 1 0 64k", NULL);
        write_be(top, HEADER_L1_TABLE_OFFSET, read_be(top, HEADER_REFCOUNT_TABLE_OFFSET, 8), 8);
        assert_refused(top, -EBADMSG, VMSNAP_ERROR_FAILED, "overlaps");
}

static void test_reader_refuses_an_l1_table_past_the_end_of_the_file(void **state)
{
        _cleanup_free_ char *top = test_path_in(*state, "top.qcow2");

        test_image_create(top, NULL, NULL, NULL, "4M");
        write_be(top, HEADER_L1_TABLE_OFFSET, UINT64_C(1) << 40, 8);
        assert_refused(top, -EBADMSG, VMSNAP_ERROR_FAILED, "L1 table");
}

static void test_reader_refuses_l2_tables_outside_the_file_or_unaligned(void **state)
{
        _cleanup_free_ char *top = test_path_in(*state, "top.qcow2");
        uint64_t l1;

        test_image_create(top, NULL, NULL, NULL, "4M");
        test_qemu_io_all(top, "qcow2", "write -P 1 0 64k", NULL);
        l1 = read_be(top, HEADER_L1_TABLE_OFFSET, 8);

        write_be(top, l1, (UINT64_C(1) << 40) | (UINT64_C(1) << 63), 8);
        assert_refused(top, -EBADMSG, VMSNAP_ERROR_FAILED, "past the end of the file");
        write_be(top, l1, 0x30200, 8);
        assert_refused(top, -EBADMSG, VMSNAP_ERROR_FAILED, "not aligned");
        /* An L2 table where the L1 table is. */
        write_be(top, l1, l1 | (UINT64_C(1) << 63), 8);
        assert_refused(top, -EBADMSG, VMSNAP_ERROR_FAILED, "overlaps the L1 table");
}

static void test_reader_refuses_data_clusters_past_the_end_of_the_file(void **state)
{
        _cleanup_free_ char *top = test_path_in(*state, "top.qcow2");
        uint64_t l2;

        test_image_create(top, NULL, NULL, NULL, "4M");
        test_qemu_io_all(top, "qcow2", "write -P 1 0 64k", "write -P 2 1M 64k", NULL);
        l2 = first_l2_table(top);
        write_be(top, l2 + 16 * 8, (UINT64_C(1) << 40) | (UINT64_C(1) << 63), 8);
        assert_refused(top, -EBADMSG, VMSNAP_ERROR_FAILED, "past the end of the file");
}

static void test_reader_refuses_data_clusters_overlapping_metadata(void **state)
{
        _cleanup_free_ char *top = test_path_in(*state, "top.qcow2");
        uint64_t l2;

        test_image_create(top, NULL, NULL, NULL, "4M");
        test_qemu_io_all(top, "qcow2", "write -P 1 0 64k", NULL);
        l2 = first_l2_table(top);
        write_be(top, l2, read_be(top, HEADER_REFCOUNT_TABLE_OFFSET, 8) | (UINT64_C(1) << 63), 8);
        assert_refused(top, -EBADMSG, VMSNAP_ERROR_FAILED, "overlaps the refcount table");
}

static void test_reader_refuses_a_truncated_image(void **state)
{
        _cleanup_free_ char *top = test_path_in(*state, "top.qcow2");

        test_image_create(top, NULL, NULL, NULL, "64M");
        test_qemu_io_all(top, "qcow2", "write -P 1 0 1M", "write -P 2 32M 1M", NULL);
        /* Cut the file inside its tables: the header then points past its end. */
        assert_int_equal(truncate(top, 3 * 65536 + 100), 0);
        assert_refused(top, -EBADMSG, VMSNAP_ERROR_FAILED, "");
}

static void test_reader_refuses_the_zero_flag_in_version_2(void **state)
{
        _cleanup_free_ char *top = test_path_in(*state, "top.qcow2");
        uint64_t l2;

        test_image_create(top, "compat=0.10", NULL, NULL, "4M");
        test_qemu_io_all(top, "qcow2", "write -P 1 0 64k", NULL);
        l2 = first_l2_table(top);
        write_be(top, l2 + 8, 1, 8);
        assert_refused(top, -EBADMSG, VMSNAP_ERROR_FAILED, "version 2");
}

static void test_reader_refuses_subclusters_both_allocated_and_zero(void **state)
{
        _cleanup_free_ char *top = test_path_in(*state, "top.qcow2");
        uint64_t l2, bitmap;

        test_image_create(top, "extended_l2=on", NULL, NULL, "4M");
        test_qemu_io_all(top, "qcow2", "write -P 1 0 8k", NULL);
        l2 = first_l2_table(top);
        bitmap = read_be(top, l2 + 8, 8);
        assert_true(bitmap != 0);
        write_be(top, l2 + 8, bitmap | (bitmap << 32), 8);
        assert_refused(top, -EBADMSG, VMSNAP_ERROR_FAILED, "both allocated and zero");
}

static void test_reader_refuses_a_compressed_cluster_that_does_not_decompress(void **state)
{
        _cleanup_free_ char *top = test_path_in(*state, "top.qcow2");
        uint64_t l2, entry, host;
        static const uint8_t garbage[64] = {0xff, 0xfe, 0xfd, 0x00, 0x13, 0x37};
        int fd;

        test_image_create(top, NULL, NULL, NULL, "4M");
        test_qemu_io_all(top, "qcow2", "write -c -P 0x5a 0 64k", NULL);
        l2 = first_l2_table(top);
        entry = read_be(top, l2, 8);
        host = entry & ((UINT64_C(1) << 54) - 1);

        fd = open(top, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, garbage, sizeof(garbage), (off_t)host), (ssize_t)sizeof(garbage));
        close(fd);
        assert_refused(top, -EBADMSG, VMSNAP_ERROR_FAILED, "does not decompress");
}

/* Deterministic pseudo-random numbers, so that a failure can be replayed. */
static uint64_t next_random(uint64_t *state)
{
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        return *state;
}

static void test_reader_survives_random_damage_to_its_tables(void **state)
{
        _cleanup_free_ char *original = test_path_in(*state, "original.qcow2"),
                            *top = test_path_in(*state, "top.qcow2"),
                            *rendered = test_path_in(*state, "rendered.raw");
        uint64_t seed = 0x9e3779b97f4a7c15, file_size;
        struct stat st;
        vmsnap_error error = {0};

        test_image_create(original, "cluster_size=4096", NULL, NULL, "2M");
        test_qemu_io_all(original, "qcow2", "write -P 1 0 64k", "write -c -P 2 256k 64k", "write -z 512k 8k",
                         "write -P 3 1M 4k", NULL);
        assert_int_equal(stat(original, &st), 0);
        file_size = (uint64_t)st.st_size;

        for (unsigned round = 0; round < 150; round++) {
                const char *copy[] = {"cp", original, top, NULL};
                int fd;

                assert_int_equal(test_run(copy), 0);
                fd = open(top, O_WRONLY | O_CLOEXEC);
                assert_true(fd >= 0);
                for (unsigned flips = 1 + next_random(&seed) % 8; flips > 0; flips--) {
                        /* Mostly the header and the tables in the first clusters, sometimes anywhere. */
                        uint64_t span = next_random(&seed) % 4 ? 5 * 4096 : file_size;
                        uint64_t offset = 4 + next_random(&seed) % (span - 4);
                        uint8_t byte = (uint8_t)next_random(&seed);

                        assert_int_equal(pwrite(fd, &byte, 1, (off_t)offset), 1);
                }
                close(fd);

                /* Whatever comes out, it must not crash, and a refusal carries a sentence. */
                vmsnap_error_clear(&error);
                if (render(top, rendered, &error) < 0 && error.message[0] == '\0')
                        fail_msg("round %u: refused without a sentence", round);
        }
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, test_tmpdir_setup, test_tmpdir_teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                TEST(test_reader_reads_clusters_of_every_size),
                TEST(test_reader_merges_adjacent_runs),
                TEST(test_reader_reports_zero_clusters_over_backing_data),
                TEST(test_reader_decompresses_zlib_clusters),
                TEST(test_reader_decompresses_zstd_clusters),
                TEST(test_reader_reads_subclusters_of_extended_l2_entries),
                TEST(test_reader_reads_version_2_images),
                TEST(test_reader_reads_raw_base_with_holes),
                TEST(test_reader_resolves_relative_backing_names),
                TEST(test_reader_reads_zeroes_past_the_end_of_a_short_backing_file),
                TEST(test_reader_follows_a_chain_of_depth_60),
                TEST(test_reader_reads_large_sparse_disks_in_bounded_windows),
                TEST(test_reader_refuses_a_dirty_image),
                TEST(test_reader_refuses_an_image_marked_corrupt),
                TEST(test_reader_refuses_unknown_incompatible_features_as_unsupported),
                TEST(test_reader_refuses_encrypted_images_as_unsupported),
                TEST(test_reader_refuses_external_data_files_as_unsupported),
                TEST(test_reader_refuses_other_formats_as_unsupported),
                TEST(test_reader_refuses_backing_loops),
                TEST(test_reader_refuses_an_l1_table_overlapping_the_refcount_table),
                TEST(test_reader_refuses_an_l1_table_past_the_end_of_the_file),
                TEST(test_reader_refuses_l2_tables_outside_the_file_or_unaligned),
                TEST(test_reader_refuses_data_clusters_past_the_end_of_the_file),
                TEST(test_reader_refuses_data_clusters_overlapping_metadata),
                TEST(test_reader_refuses_a_truncated_image),
                TEST(test_reader_refuses_the_zero_flag_in_version_2),
                TEST(test_reader_refuses_subclusters_both_allocated_and_zero),
                TEST(test_reader_refuses_a_compressed_cluster_that_does_not_decompress),
                TEST(test_reader_survives_random_damage_to_its_tables),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
