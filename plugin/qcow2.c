/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qcow2.c: the cluster reader for one qcow2 image (versions 2 and 3, clusters of 512 B
 * to 2 MiB, standard and extended L2 entries, zero clusters, zlib and zstd compressed
 * clusters). Every table offset is checked against the file's size, its alignment and
 * the other tables before it is used; what does not hold is refused with a sentence.
 * The header was validated by chain.c; the chain and raw images are extent.c's. */
#include <endian.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "error.h"
#include "fileio.h"
#include "qcow2-format.h"
#include "qcow2.h"

struct vmsnap_qcow2 {
        int fd;
        char *path;
        uint64_t file_size;
        uint64_t virtual_size;
        uint32_t version;
        unsigned cluster_bits;
        uint64_t cluster_size;
        unsigned l2_bits; /* log2 of the entries in one L2 table */
        bool extended_l2;
        uint8_t compression_type;

        /* Compressed cluster descriptor: offset in the low bits, extra sectors above. */
        unsigned compressed_size_shift;
        uint64_t compressed_size_mask;
        uint64_t compressed_offset_mask;

        /* The active L1 table in host byte order, only the entries the virtual size needs;
         * each non-zero one already checked. */
        uint64_t *l1;
        uint64_t l1_entries;

        /* Metadata no data cluster or L2 table may overlap: the header cluster, the L1 table
         * and the refcount table, as [start, end) file ranges. */
        uint64_t l1_start, l1_end;
        uint64_t refcount_table_start, refcount_table_end;

        /* One L2 table, big-endian as on disk; l2_cached_offset 0 when none is loaded. */
        uint64_t *l2;
        uint64_t l2_cached_offset;
};

const char *vmsnap_extent_kind_name(vmsnap_extent_kind kind)
{
        switch (kind) {
        case VMSNAP_EXTENT_UNALLOCATED:
                return "unallocated";
        case VMSNAP_EXTENT_ZERO:
                return "zero";
        case VMSNAP_EXTENT_DATA:
                return "data";
        case VMSNAP_EXTENT_COMPRESSED:
                return "compressed";
        }
        return "unknown";
}

static int corrupt(const vmsnap_qcow2 *image, vmsnap_error *error, const char *format, ...)
        __attribute__((format(printf, 3, 4)));
static int corrupt(const vmsnap_qcow2 *image, vmsnap_error *error, const char *format, ...)
{
        char reason[512];
        va_list ap;

        va_start(ap, format);
        vsnprintf(reason, sizeof(reason), format, ap);
        va_end(ap);
        return vmsnap_error_set(error, -EBADMSG, VMSNAP_ERROR_FAILED,
                                "%s is a damaged qcow2 image: %s; \"qemu-img check\" shows what is wrong",
                                image->path, reason);
}

static bool ranges_overlap(uint64_t a_start, uint64_t a_end, uint64_t b_start, uint64_t b_end)
{
        return a_start < b_end && b_start < a_end;
}

/* Names the metadata [start, end) overlaps, or NULL when it overlaps none. */
static const char *metadata_overlapped(const vmsnap_qcow2 *image, uint64_t start, uint64_t end)
{
        if (ranges_overlap(start, end, 0, image->cluster_size))
                return "the header";
        if (ranges_overlap(start, end, image->l1_start, image->l1_end))
                return "the L1 table";
        if (ranges_overlap(start, end, image->refcount_table_start, image->refcount_table_end))
                return "the refcount table";
        return NULL;
}

/* A cluster (L2 table or data) the image points at: aligned, starting inside the file, clear
 * of the header and tables. Its end may pass the end of the file; qemu reads that as zeroes. */
static int cluster_check(const vmsnap_qcow2 *image, uint64_t offset, const char *what, uint64_t guest_offset,
                         vmsnap_error *error)
{
        const char *overlapped;

        if (offset & (image->cluster_size - 1))
                return corrupt(image, error,
                               "the %s for guest offset %llu is at file offset %llu, which is "
                               "not aligned to a cluster",
                               what, (unsigned long long)guest_offset, (unsigned long long)offset);
        if (offset >= image->file_size)
                return corrupt(image, error,
                               "the %s for guest offset %llu is at file offset %llu, past the "
                               "end of the file (%llu bytes)",
                               what, (unsigned long long)guest_offset, (unsigned long long)offset,
                               (unsigned long long)image->file_size);
        overlapped = metadata_overlapped(image, offset, offset + image->cluster_size);
        if (overlapped)
                return corrupt(image, error, "the %s for guest offset %llu at file offset %llu overlaps %s",
                               what, (unsigned long long)guest_offset, (unsigned long long)offset,
                               overlapped);
        return 0;
}

void vmsnap_qcow2_free(vmsnap_qcow2 *image)
{
        if (!image)
                return;
        free(image->path);
        free(image->l1);
        free(image->l2);
        free(image);
}

static int l1_load(vmsnap_qcow2 *image, const vmsnap_image_header *header, vmsnap_error *error)
{
        uint64_t bytes_per_l1_entry = image->cluster_size << image->l2_bits;
        size_t bytes, got;
        int r;

        image->l1_entries =
                image->virtual_size / bytes_per_l1_entry + (image->virtual_size % bytes_per_l1_entry != 0);
        /* chain.c checked that l1_size covers the virtual size; checked again, since everything
         * below relies on it. */
        if (image->l1_entries > header->qcow2.l1_size)
                return corrupt(image, error, "its L1 table is too small for its virtual size");
        if (image->l1_entries == 0)
                return 0;

        bytes = (size_t)image->l1_entries * sizeof(uint64_t);
        image->l1 = malloc(bytes);
        if (!image->l1)
                return vmsnap_error_set(error, -ENOMEM, VMSNAP_ERROR_FAILED, "out of memory");
        r = vmsnap_pread_full(image->fd, image->l1, bytes, image->l1_start, &got);
        if (r < 0)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED, "cannot read the L1 table of %s: %m",
                                        image->path);
        if (got != bytes)
                return corrupt(image, error, "the file ends inside its L1 table");

        for (uint64_t i = 0; i < image->l1_entries; i++) {
                uint64_t l2_offset;

                image->l1[i] = be64toh(image->l1[i]);
                l2_offset = image->l1[i] & QCOW2_OFFSET_MASK;
                if (l2_offset == 0)
                        continue;
                r = cluster_check(image, l2_offset, "L2 table", i * bytes_per_l1_entry, error);
                if (r < 0)
                        return r;
        }
        return 0;
}

int vmsnap_qcow2_open(int fd, const char *path, const vmsnap_image_header *header, vmsnap_qcow2 **ret,
                      vmsnap_error *error)
{
        vmsnap_qcow2 *image = NULL;
        struct stat st;
        int r;

        if (fd < 0 || !path || !header || !ret)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no qcow2 image was given to read");
        if (header->format != VMSNAP_FORMAT_QCOW2)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "%s is not a qcow2 image", path);

        if (header->encrypted)
                return vmsnap_error_set(error, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED,
                                        "%s is encrypted; vmsnap's reader does not decrypt images", path);
        if (header->external_data_file)
                return vmsnap_error_set(error, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED,
                                        "%s keeps its data in an external data file, which vmsnap's reader "
                                        "does not follow",
                                        path);
        if (header->dirty)
                return vmsnap_error_set(
                        error, -EUCLEAN, VMSNAP_ERROR_FAILED,
                        "%s was not closed cleanly (its dirty bit is set): a VM may still be "
                        "writing to it; if none is, run \"qemu-img check -r all\" on it first",
                        path);

        if (fstat(fd, &st) < 0)
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot examine %s: %m", path);

        image = calloc(1, sizeof(*image));
        if (!image)
                return vmsnap_error_set(error, -ENOMEM, VMSNAP_ERROR_FAILED, "out of memory");
        image->path = strdup(path);
        if (!image->path) {
                r = vmsnap_error_set(error, -ENOMEM, VMSNAP_ERROR_FAILED, "out of memory");
                goto fail;
        }
        image->fd = fd;
        image->file_size = (uint64_t)st.st_size;
        image->virtual_size = header->virtual_size;
        image->version = header->qcow2_version;
        image->cluster_bits = header->qcow2.cluster_bits;
        image->cluster_size = UINT64_C(1) << image->cluster_bits;
        image->extended_l2 = header->qcow2.extended_l2;
        image->l2_bits = image->cluster_bits - (image->extended_l2 ? 4 : 3);
        image->compression_type = header->qcow2.compression_type;
        image->compressed_size_shift = 62 - (image->cluster_bits - 8);
        image->compressed_size_mask = (UINT64_C(1) << (image->cluster_bits - 8)) - 1;
        image->compressed_offset_mask = (UINT64_C(1) << image->compressed_size_shift) - 1;

        if (image->cluster_bits < 9 || image->cluster_bits > 21 ||
            (image->compression_type != QCOW2_COMPRESSION_ZLIB &&
             image->compression_type != QCOW2_COMPRESSION_ZSTD)) {
                r = corrupt(image, error, "its header is out of range");
                goto fail;
        }

        /* The header was read through this same descriptor, but the file may have been cut
         * since; the tables must still lie inside it. */
        image->l1_start = header->qcow2.l1_table_offset;
        image->l1_end = image->l1_start + (uint64_t)header->qcow2.l1_size * sizeof(uint64_t);
        image->refcount_table_start = header->qcow2.refcount_table_offset;
        image->refcount_table_end = image->refcount_table_start +
                                    (uint64_t)header->qcow2.refcount_table_clusters * image->cluster_size;
        if (header->qcow2.l1_size > 0 &&
            (image->l1_end > image->file_size || (image->l1_start & (image->cluster_size - 1)))) {
                r = corrupt(image, error,
                            "its L1 table at file offset %llu is unaligned or past the end of the file",
                            (unsigned long long)image->l1_start);
                goto fail;
        }
        if (image->refcount_table_end > image->file_size ||
            (image->refcount_table_start & (image->cluster_size - 1))) {
                r = corrupt(
                        image, error,
                        "its refcount table at file offset %llu is unaligned or past the end of the file",
                        (unsigned long long)image->refcount_table_start);
                goto fail;
        }
        if (header->qcow2.l1_size > 0 &&
            ranges_overlap(image->l1_start, image->l1_end, 0, image->cluster_size)) {
                r = corrupt(image, error, "its L1 table overlaps the header");
                goto fail;
        }
        if (ranges_overlap(image->refcount_table_start, image->refcount_table_end, 0, image->cluster_size)) {
                r = corrupt(image, error, "its refcount table overlaps the header");
                goto fail;
        }
        if (header->qcow2.l1_size > 0 &&
            ranges_overlap(image->l1_start, image->l1_end, image->refcount_table_start,
                           image->refcount_table_end)) {
                r = corrupt(image, error, "its L1 table overlaps its refcount table");
                goto fail;
        }

        r = l1_load(image, header, error);
        if (r < 0)
                goto fail;

        image->l2 = malloc(image->cluster_size);
        if (!image->l2) {
                r = vmsnap_error_set(error, -ENOMEM, VMSNAP_ERROR_FAILED, "out of memory");
                goto fail;
        }

        *ret = image;
        return 0;

fail:
        vmsnap_qcow2_free(image);
        return r;
}

uint64_t vmsnap_qcow2_virtual_size(const vmsnap_qcow2 *image)
{
        return image->virtual_size;
}

uint64_t vmsnap_qcow2_cluster_size(const vmsnap_qcow2 *image)
{
        return image->cluster_size;
}

uint64_t vmsnap_qcow2_compressed_scratch_size(const vmsnap_qcow2 *image)
{
        return 2 * image->cluster_size;
}

/* Makes the L2 table at l2_offset (checked by l1_load) the cached one. A table that the end of
 * the file cuts short reads as zeroes beyond it, as qemu reads it. */
static int l2_load(vmsnap_qcow2 *image, uint64_t l2_offset, vmsnap_error *error)
{
        size_t got = 0;
        int r;

        if (image->l2_cached_offset == l2_offset)
                return 0;

        image->l2_cached_offset = 0;
        r = vmsnap_pread_full(image->fd, image->l2, image->cluster_size, l2_offset, &got);
        if (r < 0)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED, "cannot read an L2 table of %s: %m",
                                        image->path);
        memset((uint8_t *)image->l2 + got, 0, image->cluster_size - got);
        image->l2_cached_offset = l2_offset;
        return 0;
}

/* The stretch of guest bytes that one table entry (or one subcluster) at offset describes,
 * from offset to end. */
typedef struct piece {
        vmsnap_extent_kind kind;
        uint64_t end;
        uint64_t host_offset; /* DATA: of offset; COMPRESSED: of the compressed bytes */
        uint64_t compressed_size;
        uint64_t cluster_offset;
} piece;

static int compressed_piece(const vmsnap_qcow2 *image, uint64_t entry, uint64_t cluster_start, piece *ret,
                            vmsnap_error *error)
{
        uint64_t host_offset = entry & image->compressed_offset_mask;
        uint64_t sectors = ((entry >> image->compressed_size_shift) & image->compressed_size_mask) + 1;
        uint64_t size =
                sectors * QCOW2_COMPRESSED_SECTOR_SIZE - (host_offset & (QCOW2_COMPRESSED_SECTOR_SIZE - 1));
        uint64_t readable_end;
        const char *overlapped;

        if (host_offset >= image->file_size)
                return corrupt(image, error,
                               "the compressed cluster for guest offset %llu is at file offset "
                               "%llu, past the end of the file (%llu bytes)",
                               (unsigned long long)cluster_start, (unsigned long long)host_offset,
                               (unsigned long long)image->file_size);
        readable_end = host_offset + size < image->file_size ? host_offset + size : image->file_size;
        overlapped = metadata_overlapped(image, host_offset, readable_end);
        if (overlapped)
                return corrupt(image, error,
                               "the compressed cluster for guest offset %llu at file offset %llu "
                               "overlaps %s",
                               (unsigned long long)cluster_start, (unsigned long long)host_offset,
                               overlapped);

        *ret = (piece){
                .kind = VMSNAP_EXTENT_COMPRESSED,
                .end = cluster_start + image->cluster_size,
                .host_offset = host_offset,
                .compressed_size = size,
                .cluster_offset = cluster_start,
        };
        return 0;
}

/* A standard (64-bit) L2 entry: the whole cluster is of one kind. */
static int standard_piece(const vmsnap_qcow2 *image, uint64_t entry, uint64_t offset, uint64_t cluster_start,
                          piece *ret, vmsnap_error *error)
{
        uint64_t host_cluster = entry & QCOW2_OFFSET_MASK;
        int r;

        *ret = (piece){.end = cluster_start + image->cluster_size};

        if (entry & QCOW2_OFLAG_ZERO) {
                /* Version 2 has no zero flag; qemu calls such an entry corruption. */
                if (image->version < 3)
                        return corrupt(image, error,
                                       "the entry for guest offset %llu has the zero flag, which "
                                       "version 2 images do not have",
                                       (unsigned long long)cluster_start);
                if (host_cluster != 0 && (host_cluster & (image->cluster_size - 1)))
                        return corrupt(image, error,
                                       "the zero cluster for guest offset %llu points at file "
                                       "offset %llu, which is not aligned to a cluster",
                                       (unsigned long long)cluster_start, (unsigned long long)host_cluster);
                ret->kind = VMSNAP_EXTENT_ZERO;
                return 0;
        }
        if (host_cluster == 0) {
                ret->kind = VMSNAP_EXTENT_UNALLOCATED;
                return 0;
        }

        r = cluster_check(image, host_cluster, "data cluster", cluster_start, error);
        if (r < 0)
                return r;
        ret->kind = VMSNAP_EXTENT_DATA;
        ret->host_offset = host_cluster + (offset - cluster_start);
        return 0;
}

/* An extended (128-bit) L2 entry: 32 subclusters, each allocated, zero or unallocated. */
static int extended_piece(const vmsnap_qcow2 *image, uint64_t entry, uint64_t bitmap, uint64_t offset,
                          uint64_t cluster_start, piece *ret, vmsnap_error *error)
{
        uint64_t host_cluster = entry & QCOW2_OFFSET_MASK;
        uint32_t allocated = (uint32_t)bitmap, zero = (uint32_t)(bitmap >> 32);
        uint64_t subcluster_size = image->cluster_size / QCOW2_SUBCLUSTERS_PER_CLUSTER;
        unsigned index = (unsigned)((offset - cluster_start) / subcluster_size);
        int r;

        if (allocated & zero)
                return corrupt(image, error,
                               "the subcluster bitmap for guest offset %llu marks subclusters "
                               "both allocated and zero",
                               (unsigned long long)cluster_start);
        if (allocated && host_cluster == 0)
                return corrupt(image, error,
                               "the entry for guest offset %llu has allocated subclusters but "
                               "no cluster",
                               (unsigned long long)cluster_start);

        *ret = (piece){.end = cluster_start + (uint64_t)(index + 1) * subcluster_size};

        if (allocated & (UINT32_C(1) << index)) {
                r = cluster_check(image, host_cluster, "data cluster", cluster_start, error);
                if (r < 0)
                        return r;
                ret->kind = VMSNAP_EXTENT_DATA;
                ret->host_offset = host_cluster + (offset - cluster_start);
        } else if (zero & (UINT32_C(1) << index))
                ret->kind = VMSNAP_EXTENT_ZERO;
        else
                ret->kind = VMSNAP_EXTENT_UNALLOCATED;
        return 0;
}

static int piece_at(vmsnap_qcow2 *image, uint64_t offset, piece *ret, vmsnap_error *error)
{
        uint64_t cluster_index = offset >> image->cluster_bits;
        uint64_t l1_index = cluster_index >> image->l2_bits;
        uint64_t l2_index = cluster_index & ((UINT64_C(1) << image->l2_bits) - 1);
        uint64_t cluster_start = cluster_index << image->cluster_bits;
        uint64_t l2_offset, entry, bitmap = 0;
        int r;

        l2_offset = image->l1[l1_index] & QCOW2_OFFSET_MASK;
        if (l2_offset == 0) {
                *ret = (piece){
                        .kind = VMSNAP_EXTENT_UNALLOCATED,
                        .end = (l1_index + 1) << (image->l2_bits + image->cluster_bits),
                };
                return 0;
        }

        r = l2_load(image, l2_offset, error);
        if (r < 0)
                return r;

        if (image->extended_l2) {
                entry = be64toh(image->l2[2 * l2_index]);
                bitmap = be64toh(image->l2[2 * l2_index + 1]);
        } else
                entry = be64toh(image->l2[l2_index]);

        /* Compressed clusters have no subclusters; their bitmap is reserved. */
        if (entry & QCOW2_OFLAG_COMPRESSED)
                return compressed_piece(image, entry, cluster_start, ret, error);
        if (image->extended_l2)
                return extended_piece(image, entry, bitmap, offset, cluster_start, ret, error);
        return standard_piece(image, entry, offset, cluster_start, ret, error);
}

int vmsnap_qcow2_map(vmsnap_qcow2 *image, uint64_t offset, uint64_t length, vmsnap_qcow2_run *ret,
                     vmsnap_error *error)
{
        uint64_t limit, end;
        piece first = {0};
        int r;

        if (!image || !ret || offset >= image->virtual_size || length == 0)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "a guest range outside the image was asked for");

        limit = length < image->virtual_size - offset ? offset + length : image->virtual_size;

        r = piece_at(image, offset, &first, error);
        if (r < 0)
                return r;
        end = first.end;

        /* Extend while the next piece continues this one: same kind, and for data the next bytes
         * of the file. Each compressed cluster is a run of its own. */
        while (end < limit && first.kind != VMSNAP_EXTENT_COMPRESSED) {
                piece next = {0};

                r = piece_at(image, end, &next, error);
                if (r < 0)
                        return r;
                if (next.kind != first.kind)
                        break;
                if (first.kind == VMSNAP_EXTENT_DATA &&
                    next.host_offset != first.host_offset + (end - offset))
                        break;
                end = next.end;
        }
        if (end > limit)
                end = limit;

        *ret = (vmsnap_qcow2_run){
                .kind = first.kind,
                .offset = offset,
                .length = end - offset,
                .host_offset = first.host_offset,
                .compressed_size = first.compressed_size,
                .cluster_offset = first.cluster_offset,
        };
        return 0;
}

static int zlib_decompress(const void *in, size_t in_size, void *out, size_t out_size)
{
        z_stream stream = {
                .next_in = (Bytef *)in,
                .avail_in = (uInt)in_size,
                .next_out = out,
                .avail_out = (uInt)out_size,
        };
        int r;

        /* Raw deflate with a 4 KiB window, as qemu writes it. */
        if (inflateInit2(&stream, -12) != Z_OK)
                return -ENOMEM;
        r = inflate(&stream, Z_FINISH);
        inflateEnd(&stream);

        /* The compressed size is known only to the sector, so input may be left over; what
         * matters is that a whole cluster came out. */
        if ((r == Z_STREAM_END || r == Z_BUF_ERROR) && stream.avail_out == 0)
                return 0;
        return -EBADMSG;
}

static int zstd_decompress(const void *in, size_t in_size, void *out, size_t out_size)
{
        ZSTD_inBuffer input = {.src = in, .size = in_size};
        ZSTD_outBuffer output = {.dst = out, .size = out_size};
        ZSTD_DCtx *context;
        size_t r = 0;
        int result = 0;

        context = ZSTD_createDCtx();
        if (!context)
                return -ENOMEM;

        /* The cluster may be several frames; the sector padding after them is not one. Stop
         * when the cluster is full, and refuse a stream that stalls. */
        while (output.pos < output.size) {
                size_t in_before = input.pos, out_before = output.pos;

                r = ZSTD_decompressStream(context, &output, &input);
                if (ZSTD_isError(r) || (input.pos == in_before && output.pos == out_before)) {
                        result = -EBADMSG;
                        break;
                }
        }
        /* A frame that wants to produce more than a cluster is damaged. */
        if (result == 0 && r != 0)
                result = -EBADMSG;

        ZSTD_freeDCtx(context);
        return result;
}

int vmsnap_qcow2_read_compressed(const vmsnap_qcow2 *image, const vmsnap_qcow2_run *run, void *out,
                                 void *scratch, vmsnap_error *error)
{
        uint64_t size;
        size_t got = 0;
        int r;

        if (!image || !run || run->kind != VMSNAP_EXTENT_COMPRESSED || !out || !scratch)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no compressed cluster was given to read");

        size = run->compressed_size;
        if (size > 2 * image->cluster_size || run->host_offset >= image->file_size)
                return corrupt(image, error, "the compressed cluster for guest offset %llu is out of range",
                               (unsigned long long)run->cluster_offset);
        if (size > image->file_size - run->host_offset)
                size = image->file_size - run->host_offset;

        r = vmsnap_pread_full(image->fd, scratch, (size_t)size, run->host_offset, &got);
        if (r < 0)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED, "cannot read %s: %m", image->path);

        if (image->compression_type == QCOW2_COMPRESSION_ZSTD)
                r = zstd_decompress(scratch, got, out, image->cluster_size);
        else
                r = zlib_decompress(scratch, got, out, image->cluster_size);
        if (r == -ENOMEM)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED, "out of memory");
        if (r < 0)
                return corrupt(image, error,
                               "the %s-compressed cluster for guest offset %llu (file offset %llu) "
                               "does not decompress",
                               image->compression_type == QCOW2_COMPRESSION_ZSTD ? "zstd" : "zlib",
                               (unsigned long long)run->cluster_offset,
                               (unsigned long long)run->host_offset);
        return 0;
}
