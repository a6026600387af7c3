/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* writer.c: writing the images vmsnap makes itself: the standalone image of a collapse,
 * and the empty overlay of a new snapshot (no data, a backing file). Owns the target's layout (raw:
 * guest offset = file offset, holes everywhere nothing is written; qcow2: header, L1
 * table, then L2 tables and data clusters in the order they are placed, refcounts at the
 * end) and the
 * moving of bytes: reflink first, then copy_file_range, then pread/pwrite, falling back
 * per source and per piece. Which extents exist is extent.c's; scheduling is pool.c's. */
#include <endian.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "qcow2-format.h"
#include "writer.h"

#define CLUSTER_BITS VMSNAP_WRITER_QCOW2_CLUSTER_BITS
#define CLUSTER_SIZE (UINT64_C(1) << CLUSTER_BITS)
#define L2_ENTRIES (CLUSTER_SIZE / sizeof(uint64_t))
#define L2_COVERAGE (CLUSTER_SIZE * L2_ENTRIES) /* guest bytes one L2 table maps: 512 MiB */
#define REFCOUNT_ORDER 4                        /* 16-bit refcounts, qemu's default */
#define REFCOUNT_BLOCK_ENTRIES (CLUSTER_SIZE * 8 / (1u << REFCOUNT_ORDER))
#define REFCOUNT_TABLE_ENTRIES (CLUSTER_SIZE / sizeof(uint64_t))
#define HEADER_LENGTH 112                  /* the version 3 fields and the compression type, padded to 8 */
#define COPY_PIECE_MAX (UINT64_C(1) << 30) /* one copy_file_range call; the kernel caps it anyway */

/* How bytes can move from one source into the target, best first. A source falls back for good
 * when the kernel says the method cannot work between these two files. */
enum {
        COPY_REFLINK = 0,
        COPY_FILE_RANGE,
        COPY_READ_WRITE,
};

struct vmsnap_writer {
        int fd;
        char *path;
        vmsnap_image_format format;
        uint64_t virtual_size;
        uint64_t block_size; /* the target file system's: reflinks must be aligned to it */
        unsigned n_sources;
        _Atomic int *copy_methods; /* per source */
        atomic_bool reflinked;

        /* qcow2 layout, all offsets in the target file. Clusters go where they are first
         * placed, in whatever order the caller places them; an L2 table stays in memory
         * until the caller says its guest range is all placed (vmsnap_writer_settle). */
        uint64_t *l1; /* host byte order; 0 for a table not allocated */
        uint64_t l1_size;
        uint64_t l1_clusters;
        uint64_t **tables;      /* per L1 entry: its L2 table in memory (host byte order), or NULL */
        uint64_t written_below; /* L1 index: every table before it is written and freed */
        uint64_t next_free;     /* first unused cluster */
        char *backing;          /* the backing file's name as the header keeps it, NULL: none */
        vmsnap_image_format backing_format;
};

static int write_failed(const vmsnap_writer *writer, int r, vmsnap_error *error)
{
        if (r == -ENOSPC || r == -EDQUOT)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_NO_SPACE,
                                        "there is no space left to write %s", writer->path);
        return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED, "cannot write %s: %s", writer->path,
                                strerror(-r));
}

static uint64_t div_round_up(uint64_t a, uint64_t b)
{
        return a / b + (a % b != 0);
}

/* Refcount blocks and refcount table clusters that cover `clusters` clusters plus themselves. */
static void refcount_layout(uint64_t clusters, uint64_t *blocks_ret, uint64_t *table_clusters_ret)
{
        uint64_t blocks = 0, table_clusters = 0;

        for (;;) {
                uint64_t total = clusters + blocks + table_clusters;
                uint64_t need_blocks = div_round_up(total, REFCOUNT_BLOCK_ENTRIES);
                uint64_t need_table = div_round_up(need_blocks, REFCOUNT_TABLE_ENTRIES);

                if (need_blocks == blocks && need_table == table_clusters)
                        break;
                blocks = need_blocks;
                table_clusters = need_table;
        }
        *blocks_ret = blocks;
        *table_clusters_ret = table_clusters;
}

static uint64_t l1_size_for(uint64_t virtual_size)
{
        return div_round_up(virtual_size, L2_COVERAGE);
}

uint64_t vmsnap_writer_qcow2_size(uint64_t virtual_size, uint64_t data_clusters, uint64_t l2_tables)
{
        uint64_t l1_clusters = div_round_up(l1_size_for(virtual_size) * sizeof(uint64_t), CLUSTER_SIZE);
        uint64_t clusters = 1 + l1_clusters + l2_tables + data_clusters, blocks, table_clusters;

        refcount_layout(clusters, &blocks, &table_clusters);
        return (clusters + blocks + table_clusters) * CLUSTER_SIZE;
}

void vmsnap_writer_free(vmsnap_writer *writer)
{
        if (!writer)
                return;
        free(writer->path);
        free(writer->backing);
        free(writer->copy_methods);
        if (writer->tables)
                for (uint64_t i = 0; i < writer->l1_size; i++)
                        free(writer->tables[i]);
        free(writer->tables);
        free(writer->l1);
        free(writer);
}

int vmsnap_writer_new(int fd, const char *path, vmsnap_image_format format, uint64_t virtual_size,
                      unsigned n_sources, vmsnap_writer **ret, vmsnap_error *error)
{
        vmsnap_writer *writer;
        struct stat st;
        int r;

        if (fd < 0 || !path || !ret || n_sources == 0)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no target was given to write");
        if (fstat(fd, &st) < 0)
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot examine %s: %m", path);

        writer = xcalloc(1, sizeof(*writer));
        writer->fd = fd;
        writer->format = format;
        writer->virtual_size = virtual_size;
        writer->block_size = st.st_blksize > 0 ? (uint64_t)st.st_blksize : 4096;
        writer->n_sources = n_sources;
        writer->path = xstrdup(path);
        writer->copy_methods = xcalloc(n_sources, sizeof(*writer->copy_methods));
        for (unsigned i = 0; i < n_sources; i++)
                atomic_init(&writer->copy_methods[i], COPY_REFLINK);

        if (format == VMSNAP_FORMAT_RAW) {
                /* The whole disk as one hole; data is written into it. */
                if (ftruncate(fd, (off_t)virtual_size) < 0) {
                        r = write_failed(writer, -errno, error);
                        goto fail;
                }
        } else {
                writer->l1_size = l1_size_for(virtual_size);
                writer->l1_clusters = div_round_up(writer->l1_size * sizeof(uint64_t), CLUSTER_SIZE);
                if (writer->l1_size * sizeof(uint64_t) > UINT64_C(32) << 20) {
                        r = vmsnap_error_set(error, -EFBIG, VMSNAP_ERROR_INVALID_ARGUMENT,
                                             "a disk of %llu bytes is too large for a qcow2 image",
                                             (unsigned long long)virtual_size);
                        goto fail;
                }
                writer->l1 = xcalloc(writer->l1_size, sizeof(uint64_t));
                writer->tables = xcalloc(writer->l1_size, sizeof(*writer->tables));
                writer->next_free = (1 + writer->l1_clusters) * CLUSTER_SIZE;

                /* The file as large as the image can grow (a hole until written): every reflink
                 * and copy then lands inside it, and the file system need not extend the file
                 * with each one (XFS runs a transaction for each reflink past the end). The
                 * real size is set when the image is finished. A file system whose files
                 * cannot be that large (ext4 stops at 16 TiB) grows the file as it is written. */
                if (ftruncate(fd, (off_t)vmsnap_writer_qcow2_size(virtual_size,
                                                                  div_round_up(virtual_size, CLUSTER_SIZE),
                                                                  writer->l1_size)) < 0 &&
                    errno != EFBIG && errno != EINVAL) {
                        r = write_failed(writer, -errno, error);
                        goto fail;
                }
        }

        *ret = writer;
        return 0;

fail:
        vmsnap_writer_free(writer);
        return r;
}

/* A guest range the caller may place: inside the disk, not empty. */
static int range_check(const vmsnap_writer *writer, uint64_t offset, uint64_t length, vmsnap_error *error)
{
        if (!writer || length == 0 || offset >= writer->virtual_size ||
            length > writer->virtual_size - offset)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "a guest range outside the disk was placed");
        return 0;
}

/* The L2 table of guest cluster index, allocated (at the first unused cluster) when it is new. */
static int table_for(vmsnap_writer *writer, uint64_t index, uint64_t **ret, vmsnap_error *error)
{
        uint64_t l2_index = index / L2_ENTRIES;

        if (l2_index < writer->written_below)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_FAILED,
                                        "data of %s was placed after its L2 table was written",
                                        writer->path);
        if (!writer->tables[l2_index]) {
                writer->tables[l2_index] = xcalloc(L2_ENTRIES, sizeof(uint64_t));
                writer->l1[l2_index] = writer->next_free | QCOW2_OFLAG_COPIED;
                writer->next_free += CLUSTER_SIZE;
        }
        *ret = writer->tables[l2_index];
        return 0;
}

int vmsnap_writer_reserve_tables(vmsnap_writer *writer, uint64_t offset, uint64_t length,
                                 vmsnap_error *error)
{
        uint64_t *table;
        int r;

        r = range_check(writer, offset, length, error);
        if (r < 0)
                return r;
        if (writer->format == VMSNAP_FORMAT_RAW)
                return 0;

        for (uint64_t index = offset >> CLUSTER_BITS; index <= (offset + length - 1) >> CLUSTER_BITS;
             index += L2_ENTRIES - index % L2_ENTRIES) {
                r = table_for(writer, index, &table, error);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Where guest cluster index lives, allocating it when it is new. */
static int qcow2_cluster(vmsnap_writer *writer, uint64_t index, uint64_t *ret, vmsnap_error *error)
{
        uint64_t *table = NULL, *entry;
        int r;

        r = table_for(writer, index, &table, error);
        if (r < 0)
                return r;
        entry = &table[index % L2_ENTRIES];
        if (*entry == 0) {
                *entry = writer->next_free | QCOW2_OFLAG_COPIED;
                writer->next_free += CLUSTER_SIZE;
        }
        *ret = *entry & QCOW2_OFFSET_MASK;
        return 0;
}

int vmsnap_writer_place(vmsnap_writer *writer, uint64_t offset, uint64_t length, uint64_t *target_ret,
                        uint64_t *length_ret, vmsnap_error *error)
{
        uint64_t first, last, host = 0, placed;
        int r;

        r = range_check(writer, offset, length, error);
        if (r < 0)
                return r;

        if (writer->format == VMSNAP_FORMAT_RAW) {
                *target_ret = offset;
                *length_ret = length;
                return 0;
        }

        first = offset >> CLUSTER_BITS;
        last = (offset + length - 1) >> CLUSTER_BITS;

        r = qcow2_cluster(writer, first, &host, error);
        if (r < 0)
                return r;
        *target_ret = host + (offset & (CLUSTER_SIZE - 1));
        placed = CLUSTER_SIZE - (offset & (CLUSTER_SIZE - 1));

        for (uint64_t index = first + 1; index <= last; index++) {
                uint64_t next = 0;

                /* Stop before a cluster that lies elsewhere (placed before, or after a new L2
                 * table) rather than allocate it: the caller places the rest again. */
                if (index % L2_ENTRIES == 0 && !writer->tables[index / L2_ENTRIES])
                        break;
                r = qcow2_cluster(writer, index, &next, error);
                if (r < 0)
                        return r;
                if (next != host + (index - first) * CLUSTER_SIZE)
                        break;
                placed += CLUSTER_SIZE;
        }

        *length_ret = placed < length ? placed : length;
        return 0;
}

int vmsnap_writer_settle(vmsnap_writer *writer, uint64_t offset, vmsnap_error *error)
{
        uint64_t below;
        int r;

        if (!writer)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT, "no target to write");
        if (writer->format == VMSNAP_FORMAT_RAW)
                return 0;

        below = offset >= writer->virtual_size ? writer->l1_size : offset / L2_COVERAGE;
        for (; writer->written_below < below; writer->written_below++) {
                uint64_t *table = writer->tables[writer->written_below];

                if (!table)
                        continue;
                for (uint64_t i = 0; i < L2_ENTRIES; i++)
                        table[i] = htobe64(table[i]);
                r = vmsnap_pwrite_full(writer->fd, table, CLUSTER_SIZE,
                                       writer->l1[writer->written_below] & QCOW2_OFFSET_MASK);
                free(table);
                writer->tables[writer->written_below] = NULL;
                if (r < 0)
                        return write_failed(writer, r, error);
        }
        return 0;
}

uint64_t vmsnap_writer_scratch_size(const vmsnap_extent_map *map)
{
        /* One cluster decompressed, its compressed bytes, and a buffer for pread/pwrite. */
        uint64_t compressed = vmsnap_extent_map_scratch_size(map);
        uint64_t size = compressed / 2 * 3;

        return size > (UINT64_C(1) << 20) ? size : UINT64_C(1) << 20;
}

static bool all_zero(const uint8_t *p, size_t size)
{
        return size == 0 || (p[0] == 0 && memcmp(p, p + 1, size - 1) == 0);
}

/* Writes buffer to the target, skipping the blocks that are all zero (the target reads zeroes
 * there already). */
static int write_skipping_zeroes(vmsnap_writer *writer, const uint8_t *buffer, size_t size, uint64_t target)
{
        size_t block = (size_t)writer->block_size, position = 0;

        while (position < size) {
                size_t n = block - (size_t)((target + position) % block);
                int r;

                if (n > size - position)
                        n = size - position;
                if (!all_zero(buffer + position, n)) {
                        r = vmsnap_pwrite_full(writer->fd, buffer + position, n, target + position);
                        if (r < 0)
                                return r;
                }
                position += n;
        }
        return 0;
}

static bool method_unsupported(int error_number)
{
        return error_number == EOPNOTSUPP || error_number == EXDEV || error_number == ENOSYS ||
               error_number == ENOTTY || error_number == EINVAL || error_number == EBADF;
}

/* copy_file_range, else pread/pwrite. A source that ends early leaves zeroes in the target,
 * which is how qemu reads a cluster cut short by the end of its file. */
static int copy_bytes(vmsnap_writer *writer, _Atomic int *method, int source_fd, uint64_t source,
                      uint64_t target, uint64_t length, void *scratch, uint64_t scratch_size,
                      vmsnap_error *error)
{
        while (length > 0) {
                ssize_t n;
                int r;

                if (atomic_load_explicit(method, memory_order_relaxed) <= COPY_FILE_RANGE) {
                        loff_t in = (loff_t)source, out = (loff_t)target;

                        n = copy_file_range(source_fd, &in, writer->fd, &out,
                                            length < COPY_PIECE_MAX ? length : COPY_PIECE_MAX, 0);
                        if (n > 0) {
                                source += (uint64_t)n;
                                target += (uint64_t)n;
                                length -= (uint64_t)n;
                                continue;
                        }
                        if (n == 0)
                                return 0;
                        if (errno == EINTR)
                                continue;
                        if (!method_unsupported(errno))
                                return errno == ENOSPC || errno == EDQUOT
                                               ? write_failed(writer, -errno, error)
                                               : vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED,
                                                                  "cannot copy data into %s: %m",
                                                                  writer->path);
                        atomic_store_explicit(method, COPY_READ_WRITE, memory_order_relaxed);
                }

                n = pread(source_fd, scratch, length < scratch_size ? length : scratch_size, (off_t)source);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED,
                                                "cannot read the data to copy into %s: %m", writer->path);
                }
                if (n == 0)
                        return 0;
                r = write_skipping_zeroes(writer, scratch, (size_t)n, target);
                if (r < 0)
                        return write_failed(writer, r, error);
                source += (uint64_t)n;
                target += (uint64_t)n;
                length -= (uint64_t)n;
        }
        return 0;
}

/* Shares the blocks of the source with the target where both offsets sit alike within a
 * file system block; the unaligned ends, and everything when reflink cannot work, are copied. */
static int copy_data(vmsnap_writer *writer, _Atomic int *method, int source_fd, uint64_t source,
                     uint64_t target, uint64_t length, void *scratch, uint64_t scratch_size,
                     vmsnap_error *error)
{
        uint64_t block = writer->block_size, head, body;
        struct file_clone_range range;
        int r;

        if (atomic_load_explicit(method, memory_order_relaxed) != COPY_REFLINK ||
            source % block != target % block)
                return copy_bytes(writer, method, source_fd, source, target, length, scratch, scratch_size,
                                  error);

        head = (block - target % block) % block;
        if (length <= head || (length - head) / block == 0)
                return copy_bytes(writer, method, source_fd, source, target, length, scratch, scratch_size,
                                  error);
        body = (length - head) / block * block;

        range = (struct file_clone_range){
                .src_fd = source_fd,
                .src_offset = source + head,
                .src_length = body,
                .dest_offset = target + head,
        };
        if (ioctl(writer->fd, FICLONERANGE, &range) < 0) {
                /* EINVAL also comes from a range that passes the end of the source (a cluster cut
                 * short): copy this piece, keep trying reflink for the next. */
                if (errno != EINVAL) {
                        if (!method_unsupported(errno) && errno != EPERM)
                                return errno == ENOSPC || errno == EDQUOT
                                               ? write_failed(writer, -errno, error)
                                               : vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED,
                                                                  "cannot share data with %s: %m",
                                                                  writer->path);
                        atomic_store_explicit(method, COPY_FILE_RANGE, memory_order_relaxed);
                }
                return copy_bytes(writer, method, source_fd, source, target, length, scratch, scratch_size,
                                  error);
        }

        atomic_store_explicit(&writer->reflinked, true, memory_order_relaxed);
        r = copy_bytes(writer, method, source_fd, source, target, head, scratch, scratch_size, error);
        if (r < 0)
                return r;
        return copy_bytes(writer, method, source_fd, source + head + body, target + head + body,
                          length - head - body, scratch, scratch_size, error);
}

bool vmsnap_writer_probe_reflink(vmsnap_writer *writer, unsigned depth, int source_fd)
{
        _cleanup_free_ char *directory = NULL;
        struct file_clone_range range;
        struct stat st;
        bool shared;
        int fd;

        if (!writer || depth >= writer->n_sources ||
            atomic_load_explicit(&writer->copy_methods[depth], memory_order_relaxed) != COPY_REFLINK)
                return false;
        if (fstat(source_fd, &st) < 0 || (uint64_t)st.st_size < writer->block_size)
                return false;

        directory = path_dirname(writer->path);

        fd = open(directory, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0)
                return false;
        range = (struct file_clone_range){.src_fd = source_fd, .src_length = writer->block_size};
        shared = ioctl(fd, FICLONERANGE, &range) == 0;
        if (!shared && method_unsupported(errno) && errno != EINVAL)
                atomic_store_explicit(&writer->copy_methods[depth], COPY_FILE_RANGE, memory_order_relaxed);
        close(fd);
        return shared;
}

static int copy_compressed(vmsnap_writer *writer, const vmsnap_extent *extent, uint64_t target,
                           void *scratch, uint64_t scratch_size, vmsnap_error *error)
{
        uint64_t cluster_size = vmsnap_extent_cluster_size(extent);
        uint8_t *cluster = scratch, *compressed = (uint8_t *)scratch + cluster_size;
        uint64_t skip = extent->offset - extent->cluster_offset;
        int r;

        if (cluster_size == 0 || scratch_size < 3 * cluster_size || skip + extent->length > cluster_size)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_FAILED,
                                        "a compressed extent does not fit its cluster");

        r = vmsnap_extent_read_compressed(extent, cluster, compressed, error);
        if (r < 0)
                return r;
        r = write_skipping_zeroes(writer, cluster + skip, (size_t)extent->length, target);
        if (r < 0)
                return write_failed(writer, r, error);
        return 0;
}

int vmsnap_writer_copy(vmsnap_writer *writer, const vmsnap_extent *extent, uint64_t target, void *scratch,
                       uint64_t scratch_size, vmsnap_error *error)
{
        if (!writer || !extent || extent->depth >= writer->n_sources || !scratch || scratch_size == 0)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no extent was given to copy");

        switch (extent->kind) {
        case VMSNAP_EXTENT_DATA:
                return copy_data(writer, &writer->copy_methods[extent->depth], extent->fd,
                                 extent->host_offset, target, extent->length, scratch, scratch_size, error);
        case VMSNAP_EXTENT_COMPRESSED:
                return copy_compressed(writer, extent, target, scratch, scratch_size, error);
        case VMSNAP_EXTENT_ZERO:
        case VMSNAP_EXTENT_UNALLOCATED:
                return 0;
        }
        return 0;
}

/* The header area the writer puts at offset 0: the header fields, padded to HEADER_LENGTH,
 * then the extensions (the backing file's format, when there is a backing file) and their
 * end (type 0, length 0), then the backing file's name. All of it fits the first cluster:
 * the name is at most QCOW2_BACKING_NAME_MAX bytes. */
static size_t header_area(const vmsnap_writer *writer, const qcow2_header *fields, uint8_t *area)
{
        size_t at = HEADER_LENGTH;
        uint32_t word;
        qcow2_header header = *fields;

        if (writer->backing) {
                const char *format = vmsnap_image_format_name(writer->backing_format);
                size_t length = strlen(format), name_length = strlen(writer->backing);
                word = htobe32(QCOW2_EXTENSION_BACKING_FORMAT);
                memcpy(area + at, &word, 4);
                word = htobe32((uint32_t)length);
                memcpy(area + at + 4, &word, 4);
                memcpy(area + at + 8, format, length);
                at += 8 + (length + 7) / 8 * 8;
                at += 8; /* the end of the extensions */
                header.backing_file_offset = htobe64(at);
                header.backing_file_size = htobe32((uint32_t)name_length);
                memcpy(area + at, writer->backing, name_length);
                at += name_length;
        } else
                at += 8;
        memcpy(area, &header, sizeof(header));
        return at;
}

int vmsnap_writer_set_backing(vmsnap_writer *writer, const char *backing, vmsnap_image_format format,
                              vmsnap_error *error)
{
        if (writer->format != VMSNAP_FORMAT_QCOW2 || !backing || !*backing ||
            strlen(backing) > QCOW2_BACKING_NAME_MAX)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "%s cannot read through '%s': only a qcow2 image can have a backing "
                                        "file, named in at most %d bytes",
                                        writer->path, backing ? backing : "", QCOW2_BACKING_NAME_MAX);
        free(writer->backing);
        writer->backing = xstrdup(backing);
        writer->backing_format = format;
        return 0;
}

/* Every cluster up to the end of the refcount blocks is in use exactly once: the writer never
 * frees one. So each refcount block is all ones, except past the end. */
static int refcounts_write(vmsnap_writer *writer, uint64_t table_offset, uint64_t table_clusters,
                           uint64_t blocks, uint64_t total_clusters, vmsnap_error *error)
{
        _cleanup_free_ uint16_t *block = NULL;
        _cleanup_free_ uint64_t *table = NULL;
        uint64_t blocks_offset = table_offset + table_clusters * CLUSTER_SIZE;
        int r;

        block = xmalloc(CLUSTER_SIZE);
        table = xcalloc(table_clusters, CLUSTER_SIZE);

        for (uint64_t b = 0; b < blocks; b++) {
                uint64_t first = b * REFCOUNT_BLOCK_ENTRIES;

                for (uint64_t i = 0; i < REFCOUNT_BLOCK_ENTRIES; i++)
                        block[i] = htobe16(first + i < total_clusters ? 1 : 0);
                r = vmsnap_pwrite_full(writer->fd, block, CLUSTER_SIZE, blocks_offset + b * CLUSTER_SIZE);
                if (r < 0)
                        return write_failed(writer, r, error);
                table[b] = htobe64(blocks_offset + b * CLUSTER_SIZE);
        }

        r = vmsnap_pwrite_full(writer->fd, table, table_clusters * CLUSTER_SIZE, table_offset);
        if (r < 0)
                return write_failed(writer, r, error);
        return 0;
}

static int qcow2_finish(vmsnap_writer *writer, bool flush, vmsnap_error *error)
{
        uint64_t clusters, blocks, table_clusters, table_offset, total;
        uint8_t area[HEADER_LENGTH + 32 + QCOW2_BACKING_NAME_MAX] = {0};
        int r;

        r = vmsnap_writer_settle(writer, writer->virtual_size, error);
        if (r < 0)
                return r;

        clusters = writer->next_free / CLUSTER_SIZE;
        refcount_layout(clusters, &blocks, &table_clusters);
        table_offset = writer->next_free;
        total = clusters + table_clusters + blocks;

        r = refcounts_write(writer, table_offset, table_clusters, blocks, total, error);
        if (r < 0)
                return r;

        if (writer->l1_size > 0) {
                for (uint64_t i = 0; i < writer->l1_size; i++)
                        writer->l1[i] = htobe64(writer->l1[i]);
                r = vmsnap_pwrite_full(writer->fd, writer->l1, writer->l1_size * sizeof(uint64_t),
                                       CLUSTER_SIZE);
                if (r < 0)
                        return write_failed(writer, r, error);
        }

        /* Everything the header points at is on disk before the header itself. */
        if (ftruncate(writer->fd, (off_t)(total * CLUSTER_SIZE)) < 0 || (flush && fdatasync(writer->fd) < 0))
                return write_failed(writer, -errno, error);

        qcow2_header fields = {
                .magic = htobe32(QCOW2_MAGIC),
                .version = htobe32(3),
                .cluster_bits = htobe32(CLUSTER_BITS),
                .size = htobe64(writer->virtual_size),
                .l1_size = htobe32((uint32_t)writer->l1_size),
                .l1_table_offset = htobe64(writer->l1_size > 0 ? CLUSTER_SIZE : 0),
                .refcount_table_offset = htobe64(table_offset),
                .refcount_table_clusters = htobe32((uint32_t)table_clusters),
                .refcount_order = htobe32(REFCOUNT_ORDER),
                .header_length = htobe32(HEADER_LENGTH),
                .compression_type = QCOW2_COMPRESSION_ZLIB,
        };
        r = vmsnap_pwrite_full(writer->fd, area, header_area(writer, &fields, area), 0);
        if (r < 0)
                return write_failed(writer, r, error);
        return 0;
}

bool vmsnap_writer_reflinks(const vmsnap_writer *writer)
{
        return atomic_load_explicit(&writer->reflinked, memory_order_relaxed);
}

static int finish(vmsnap_writer *writer, bool flush, vmsnap_error *error)
{
        int r;

        if (!writer)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no target to finish");

        if (writer->format == VMSNAP_FORMAT_QCOW2) {
                r = qcow2_finish(writer, flush, error);
                if (r < 0)
                        return r;
        }
        if (flush && fsync(writer->fd) < 0)
                return write_failed(writer, -errno, error);
        return 0;
}

int vmsnap_writer_finish(vmsnap_writer *writer, vmsnap_error *error)
{
        return finish(writer, true, error);
}

int vmsnap_writer_finish_unnamed(vmsnap_writer *writer, vmsnap_error *error)
{
        return finish(writer, false, error);
}
