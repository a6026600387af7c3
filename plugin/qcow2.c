/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qcow2.c: reading one qcow2 image (versions 2 and 3, clusters of 512 B to 2 MiB,
 * standard and extended L2 entries, zero clusters, zlib and zstd compressed clusters):
 * first its header, then its clusters. Every header field and table offset is checked
 * against the file's size, its alignment and the other tables before it is used; what
 * does not hold is refused with a sentence. Probing and backing names are chain.c's;
 * the chain and raw images are extent.c's. */
#include <endian.h>
#include <stdarg.h>
#include <stddef.h>
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

/* The header.
 *
 * Every field is checked before it is trusted, in the order below: the version's fixed
 * fields, the cluster size, the version 3 fields, the incompatible feature bits and the
 * features they announce, the encryption method, the three tables, the backing file name.
 * Compatible and autoclear feature bits are not read: unknown compatible bits may be ignored
 * by definition, and autoclear bits only oblige a writer, which this reader is not. */

/* qemu's implementation limits; an image beyond them is not one qemu wrote. */
#define QCOW2_L1_TABLE_BYTES_MAX (32u * 1024 * 1024)
#define QCOW2_REFCOUNT_TABLE_BYTES_MAX (8u * 1024 * 1024)
#define QCOW2_SNAPSHOTS_MAX 65536u
#define QCOW2_SNAPSHOT_ENTRY_BYTES_MIN 40u

/* The header's fields in host byte order. Version 2 images get what version 2 means for the
 * fields it lacks. */
typedef struct header_fields {
        uint32_t version;
        uint32_t header_length;
        uint32_t cluster_bits;
        uint64_t cluster_size; /* set once cluster_bits is checked */
        uint64_t size;
        uint32_t crypt_method;
        uint32_t l1_size;
        uint64_t l1_table_offset;
        uint64_t refcount_table_offset;
        uint32_t refcount_table_clusters;
        uint32_t nb_snapshots;
        uint64_t snapshots_offset;
        uint64_t backing_file_offset;
        uint32_t backing_file_size;
        uint64_t incompatible;    /* version 3 */
        uint32_t refcount_order;  /* version 3; 4 (16-bit refcounts) in version 2 */
        uint8_t compression_type; /* when header_length covers it; zlib otherwise */
} header_fields;

int vmsnap_qcow2_invalid(vmsnap_error *error, const char *path, const char *format, ...)
{
        char reason[512];
        va_list ap;

        va_start(ap, format);
        vsnprintf(reason, sizeof(reason), format, ap);
        va_end(ap);
        return vmsnap_error_set(error, -EBADMSG, VMSNAP_ERROR_FAILED, "%s is not a valid qcow2 image: %s",
                                path, reason);
}

/* True when [offset, offset + length) lies inside a file of file_size bytes. */
static bool range_inside(uint64_t offset, uint64_t length, uint64_t file_size)
{
        return offset <= file_size && length <= file_size - offset;
}

/* A table at offset, length bytes long, aligned to a cluster and inside the file. */
static bool table_placed(const header_fields *f, uint64_t offset, uint64_t length, uint64_t file_size)
{
        return offset % f->cluster_size == 0 && offset != 0 && range_inside(offset, length, file_size);
}

static bool has_compression_type_field(uint32_t header_length)
{
        return header_length > offsetof(qcow2_header, compression_type);
}

/* The fields every version has, and the version itself. */
static int version_read(const qcow2_header *h, size_t header_bytes, const char *path, header_fields *f,
                        vmsnap_error *error)
{
        if (header_bytes < QCOW2_V2_HEADER_LENGTH)
                return vmsnap_qcow2_invalid(error, path, "the header is truncated (%zu bytes)",
                                            header_bytes);

        *f = (header_fields){
                .version = be32toh(h->version),
                .header_length = QCOW2_V2_HEADER_LENGTH,
                .cluster_bits = be32toh(h->cluster_bits),
                .size = be64toh(h->size),
                .crypt_method = be32toh(h->crypt_method),
                .l1_size = be32toh(h->l1_size),
                .l1_table_offset = be64toh(h->l1_table_offset),
                .refcount_table_offset = be64toh(h->refcount_table_offset),
                .refcount_table_clusters = be32toh(h->refcount_table_clusters),
                .nb_snapshots = be32toh(h->nb_snapshots),
                .snapshots_offset = be64toh(h->snapshots_offset),
                .backing_file_offset = be64toh(h->backing_file_offset),
                .backing_file_size = be32toh(h->backing_file_size),
                .refcount_order = 4,
                .compression_type = QCOW2_COMPRESSION_ZLIB,
        };

        if (f->version != 2 && f->version != 3)
                return vmsnap_error_set(
                        error, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED,
                        "%s is a qcow2 image of version %u; only versions 2 and 3 are supported", path,
                        f->version);
        return 0;
}

static int cluster_size_check(header_fields *f, const char *path, vmsnap_error *error)
{
        if (f->cluster_bits < QCOW2_CLUSTER_BITS_MIN || f->cluster_bits > QCOW2_CLUSTER_BITS_MAX)
                return vmsnap_qcow2_invalid(error, path, "cluster_bits is %u, outside %u..%u",
                                            f->cluster_bits, QCOW2_CLUSTER_BITS_MIN, QCOW2_CLUSTER_BITS_MAX);
        f->cluster_size = UINT64_C(1) << f->cluster_bits;
        return 0;
}

/* Version 3 adds the feature bits, the refcount order and the header's own length. */
static int version3_read(const qcow2_header *h, size_t header_bytes, const char *path, header_fields *f,
                         vmsnap_error *error)
{
        if (f->version == 2)
                return 0;
        if (header_bytes < QCOW2_V3_HEADER_LENGTH_MIN)
                return vmsnap_qcow2_invalid(error, path, "the version 3 header is truncated (%zu bytes)",
                                            header_bytes);

        f->header_length = be32toh(h->header_length);
        f->refcount_order = be32toh(h->refcount_order);
        f->incompatible = be64toh(h->incompatible_features);

        if (f->header_length < QCOW2_V3_HEADER_LENGTH_MIN || f->header_length % 8 != 0 ||
            f->header_length > f->cluster_size)
                return vmsnap_qcow2_invalid(error, path,
                                            "header_length is %u; it must be a multiple of 8 between %u "
                                            "and the cluster size",
                                            f->header_length, QCOW2_V3_HEADER_LENGTH_MIN);
        if (f->refcount_order > QCOW2_REFCOUNT_ORDER_MAX)
                return vmsnap_qcow2_invalid(error, path, "refcount_order is %u, more than %u",
                                            f->refcount_order, QCOW2_REFCOUNT_ORDER_MAX);
        if (has_compression_type_field(f->header_length))
                f->compression_type = h->compression_type;
        return 0;
}

static int header_inside_file(const header_fields *f, uint64_t file_size, const char *path,
                              vmsnap_error *error)
{
        if (!range_inside(0, f->header_length, file_size))
                return vmsnap_qcow2_invalid(error, path, "the file ends inside its %u-byte header",
                                            f->header_length);
        return 0;
}

/* Refuses what a reader must not open: an image marked corrupt, and feature bits it does not
 * know. Dirty images and external data files are recorded for the caller to judge. */
static int incompatible_features_check(const header_fields *f, uint64_t file_size, const char *path,
                                       vmsnap_error *error)
{
        if (f->incompatible & QCOW2_INCOMPATIBLE_CORRUPT)
                return vmsnap_error_set(
                        error, -EUCLEAN, VMSNAP_ERROR_FAILED,
                        "%s is marked corrupt; repair it with \"qemu-img check -r all\" first", path);
        if (f->incompatible & ~QCOW2_INCOMPATIBLE_KNOWN)
                return vmsnap_error_set(
                        error, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED,
                        "%s uses qcow2 features unknown to vmsnap (incompatible feature bits "
                        "0x%llx)",
                        path, (unsigned long long)(f->incompatible & ~QCOW2_INCOMPATIBLE_KNOWN));
        return 0;
}

static int extended_l2_check(const header_fields *f, uint64_t file_size, const char *path,
                             vmsnap_error *error)
{
        if ((f->incompatible & QCOW2_INCOMPATIBLE_EXTENDED_L2) &&
            f->cluster_bits < QCOW2_EXTENDED_L2_CLUSTER_BITS_MIN)
                return vmsnap_qcow2_invalid(error, path,
                                            "extended L2 entries need clusters of at least 16 KiB, but "
                                            "cluster_bits is %u",
                                            f->cluster_bits);
        return 0;
}

/* The compression type byte and its feature bit must agree; zlib needs neither. */
static int compression_type_check(const header_fields *f, uint64_t file_size, const char *path,
                                  vmsnap_error *error)
{
        bool announced = f->incompatible & QCOW2_INCOMPATIBLE_COMPRESSION_TYPE;

        if (!has_compression_type_field(f->header_length)) {
                if (announced)
                        return vmsnap_qcow2_invalid(error, path,
                                                    "the compression type feature bit is set but the header "
                                                    "has no compression_type field");
                return 0;
        }
        if (!announced && f->compression_type != QCOW2_COMPRESSION_ZLIB)
                return vmsnap_qcow2_invalid(error, path,
                                            "compression_type is %u but the compression type feature bit "
                                            "is not set",
                                            f->compression_type);
        if (announced && f->compression_type != QCOW2_COMPRESSION_ZSTD)
                return vmsnap_error_set(error, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED,
                                        "%s uses compression type %u, which vmsnap does not know", path,
                                        f->compression_type);
        return 0;
}

static int encryption_check(const header_fields *f, uint64_t file_size, const char *path,
                            vmsnap_error *error)
{
        if (f->crypt_method > 2)
                return vmsnap_qcow2_invalid(error, path, "crypt_method is %u, not 0, 1 or 2",
                                            f->crypt_method);
        return 0;
}

/* Every guest cluster must be reachable through the active L1 table, which lies in the file. */
static int l1_table_check(const header_fields *f, uint64_t file_size, const char *path, vmsnap_error *error)
{
        unsigned l2_entry_bytes = f->incompatible & QCOW2_INCOMPATIBLE_EXTENDED_L2 ? 16 : 8;
        uint64_t bytes_per_l1_entry = f->cluster_size * (f->cluster_size / l2_entry_bytes);
        uint64_t l1_needed = f->size / bytes_per_l1_entry + (f->size % bytes_per_l1_entry != 0);

        if ((uint64_t)f->l1_size * 8 > QCOW2_L1_TABLE_BYTES_MAX)
                return vmsnap_qcow2_invalid(
                        error, path, "the L1 table has %u entries, more than qemu allows", f->l1_size);
        if (l1_needed > f->l1_size)
                return vmsnap_qcow2_invalid(
                        error, path, "the L1 table has %u entries, too few for a virtual size of %llu bytes",
                        f->l1_size, (unsigned long long)f->size);
        if (f->l1_size > 0 && !table_placed(f, f->l1_table_offset, (uint64_t)f->l1_size * 8, file_size))
                return vmsnap_qcow2_invalid(error, path,
                                            "the L1 table offset %llu is unaligned or outside the file",
                                            (unsigned long long)f->l1_table_offset);
        return 0;
}

static int refcount_table_check(const header_fields *f, uint64_t file_size, const char *path,
                                vmsnap_error *error)
{
        uint64_t bytes = (uint64_t)f->refcount_table_clusters * f->cluster_size;

        if (f->refcount_table_clusters == 0 || bytes > QCOW2_REFCOUNT_TABLE_BYTES_MAX)
                return vmsnap_qcow2_invalid(error, path,
                                            "the refcount table size of %u clusters is out of range",
                                            f->refcount_table_clusters);
        if (!table_placed(f, f->refcount_table_offset, bytes, file_size))
                return vmsnap_qcow2_invalid(
                        error, path, "the refcount table offset %llu is unaligned or outside the file",
                        (unsigned long long)f->refcount_table_offset);
        return 0;
}

/* Internal snapshots are not read, but their count is reported and must be plausible. */
static int snapshot_table_check(const header_fields *f, uint64_t file_size, const char *path,
                                vmsnap_error *error)
{
        if (f->nb_snapshots > QCOW2_SNAPSHOTS_MAX)
                return vmsnap_qcow2_invalid(error, path, "it claims %u internal snapshots, more than %u",
                                            f->nb_snapshots, QCOW2_SNAPSHOTS_MAX);
        if (f->nb_snapshots > 0 &&
            !table_placed(f, f->snapshots_offset, (uint64_t)f->nb_snapshots * QCOW2_SNAPSHOT_ENTRY_BYTES_MIN,
                          file_size))
                return vmsnap_qcow2_invalid(
                        error, path, "the snapshot table offset %llu is unaligned or outside the file",
                        (unsigned long long)f->snapshots_offset);
        return 0;
}

/* The backing file name lies after the header, inside the first cluster and the file. */
static int backing_name_check(const header_fields *f, uint64_t file_size, const char *path,
                              vmsnap_error *error)
{
        if (f->backing_file_offset == 0)
                return 0;
        if (f->backing_file_size == 0 || f->backing_file_size > QCOW2_BACKING_NAME_MAX)
                return vmsnap_qcow2_invalid(error, path,
                                            "the backing file name is %u bytes long; it must be 1 to %u",
                                            f->backing_file_size, QCOW2_BACKING_NAME_MAX);
        if (f->backing_file_offset < f->header_length ||
            !range_inside(f->backing_file_offset, f->backing_file_size, f->cluster_size) ||
            !range_inside(f->backing_file_offset, f->backing_file_size, file_size))
                return vmsnap_qcow2_invalid(error, path,
                                            "the backing file name at offset %llu lies outside the first "
                                            "cluster",
                                            (unsigned long long)f->backing_file_offset);
        return 0;
}

typedef int (*header_check_fn)(const header_fields *f, uint64_t file_size, const char *path,
                               vmsnap_error *error);

/* After the version and the cluster size, in the order the header's sentences are given. */
static const header_check_fn header_checks[] = {
        header_inside_file,   incompatible_features_check,
        extended_l2_check,    compression_type_check,
        encryption_check,     l1_table_check,
        refcount_table_check, snapshot_table_check,
        backing_name_check,
};

/* What the cluster reader relies on, checked again by vmsnap_qcow2_open() against the file as
 * it is then: the header may have been read from it a while ago, or filled in by hand. */
static const header_check_fn reader_checks[] = {
        compression_type_check,
        l1_table_check,
        refcount_table_check,
};

static int checks_run(const header_check_fn *checks, size_t n_checks, const header_fields *f,
                      uint64_t file_size, const char *path, vmsnap_error *error)
{
        for (size_t i = 0; i < n_checks; i++) {
                int r = checks[i](f, file_size, path, error);

                if (r < 0)
                        return r;
        }
        return 0;
}

static void header_fill(const header_fields *f, vmsnap_image_header *ret)
{
        ret->format = VMSNAP_FORMAT_QCOW2;
        ret->qcow2_version = f->version;
        ret->virtual_size = f->size;
        ret->internal_snapshots = f->nb_snapshots;
        ret->encrypted = f->crypt_method != 0;
        ret->dirty = f->incompatible & QCOW2_INCOMPATIBLE_DIRTY;
        ret->external_data_file = f->incompatible & QCOW2_INCOMPATIBLE_DATA_FILE;
        ret->qcow2.cluster_bits = f->cluster_bits;
        ret->qcow2.header_length = f->header_length;
        ret->qcow2.l1_size = f->l1_size;
        ret->qcow2.l1_table_offset = f->l1_table_offset;
        ret->qcow2.refcount_table_offset = f->refcount_table_offset;
        ret->qcow2.refcount_table_clusters = f->refcount_table_clusters;
        ret->qcow2.extended_l2 = f->incompatible & QCOW2_INCOMPATIBLE_EXTENDED_L2;
        ret->qcow2.compression_type = f->compression_type;
}

/* The fields vmsnap_qcow2_header_check() recorded, back as the header said them. */
static int fields_from_image_header(const vmsnap_image_header *header, const char *path, header_fields *f,
                                    vmsnap_error *error)
{
        *f = (header_fields){
                .version = header->qcow2_version,
                .header_length = header->qcow2.header_length,
                .cluster_bits = header->qcow2.cluster_bits,
                .size = header->virtual_size,
                .l1_size = header->qcow2.l1_size,
                .l1_table_offset = header->qcow2.l1_table_offset,
                .refcount_table_offset = header->qcow2.refcount_table_offset,
                .refcount_table_clusters = header->qcow2.refcount_table_clusters,
                .compression_type = header->qcow2.compression_type,
        };
        if (header->qcow2.extended_l2)
                f->incompatible |= QCOW2_INCOMPATIBLE_EXTENDED_L2;
        if (header->qcow2.compression_type != QCOW2_COMPRESSION_ZLIB)
                f->incompatible |= QCOW2_INCOMPATIBLE_COMPRESSION_TYPE;
        return cluster_size_check(f, path, error);
}

int vmsnap_qcow2_header_check(const qcow2_header *h, size_t header_bytes, uint64_t file_size,
                              const char *path, vmsnap_image_header *ret, vmsnap_error *error)
{
        header_fields f;
        int r;

        r = version_read(h, header_bytes, path, &f, error);
        if (r < 0)
                return r;
        r = cluster_size_check(&f, path, error);
        if (r < 0)
                return r;
        r = version3_read(h, header_bytes, path, &f, error);
        if (r < 0)
                return r;
        r = checks_run(header_checks, sizeof(header_checks) / sizeof(header_checks[0]), &f, file_size, path,
                       error);
        if (r < 0)
                return r;

        header_fill(&f, ret);
        return 0;
}

int vmsnap_qcow2_backing_name_read(int fd, const qcow2_header *h, const char *path, char **ret,
                                   vmsnap_error *error)
{
        uint64_t offset = be64toh(h->backing_file_offset);
        uint32_t length = be32toh(h->backing_file_size);
        _cleanup_free_ char *name = NULL;
        size_t got;
        int r;

        *ret = NULL;
        if (offset == 0)
                return 0;

        name = xmalloc((size_t)length + 1);
        r = vmsnap_pread_full(fd, name, length, offset, &got);
        if (r < 0)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED, "cannot read %s: %m", path);
        if (got != length)
                return vmsnap_qcow2_invalid(error, path, "the file ends inside the backing file name");
        name[length] = '\0';
        if (strlen(name) != length)
                return vmsnap_qcow2_invalid(error, path, "the backing file name contains a NUL byte");

        *ret = name;
        name = NULL;
        return 0;
}

/* The backing format extension: a short printable name, once, naming a format vmsnap reads
 * (only judged when the image has a backing file). */
static int backing_format_extension_read(const uint8_t *data, uint32_t length, bool *seen, const char *path,
                                         vmsnap_image_header *ret, vmsnap_error *error)
{
        char name[QCOW2_BACKING_FORMAT_MAX + 1];

        if (*seen)
                return vmsnap_qcow2_invalid(error, path, "the backing format extension appears twice");
        *seen = true;

        if (length == 0 || length > QCOW2_BACKING_FORMAT_MAX)
                return vmsnap_qcow2_invalid(error, path, "the backing format name is %u bytes long", length);
        for (uint32_t i = 0; i < length; i++)
                if (data[i] < 0x20 || data[i] > 0x7e)
                        return vmsnap_qcow2_invalid(error, path,
                                                    "the backing format name is not printable text");
        memcpy(name, data, length);
        name[length] = '\0';

        if (!ret->backing_raw)
                return 0;
        if (vmsnap_image_format_parse(name, &ret->backing_format) < 0)
                return vmsnap_error_set(error, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED,
                                        "the backing file of %s has format %s; only qcow2 and raw are "
                                        "supported",
                                        path, name);
        ret->backing_format_known = true;
        return 0;
}

/* Walks the extensions in [start, end) of area (already read, length bytes). */
static int extensions_walk(const uint8_t *area, size_t length, uint64_t start, const char *path,
                           vmsnap_image_header *ret, vmsnap_error *error)
{
        bool seen_backing_format = false;
        size_t position = 0;

        while (length - position >= 8) {
                uint32_t type, data_length;
                int r;

                memcpy(&type, area + position, 4);
                memcpy(&data_length, area + position + 4, 4);
                type = be32toh(type);
                data_length = be32toh(data_length);
                if (type == QCOW2_EXTENSION_END)
                        break;

                if (data_length > length - position - 8)
                        return vmsnap_qcow2_invalid(
                                error, path,
                                "header extension 0x%08x at offset %llu runs past the header area", type,
                                (unsigned long long)(start + position));

                if (type == QCOW2_EXTENSION_BACKING_FORMAT) {
                        r = backing_format_extension_read(area + position + 8, data_length,
                                                          &seen_backing_format, path, ret, error);
                        if (r < 0)
                                return r;
                }

                /* Data is padded to a multiple of 8; the last extension may end the area unpadded. */
                position += 8 + (((size_t)data_length + 7) & ~(size_t)7);
                if (position > length)
                        break;
        }
        return 0;
}

int vmsnap_qcow2_extensions_read(int fd, const qcow2_header *h, uint64_t file_size, const char *path,
                                 vmsnap_image_header *ret, vmsnap_error *error)
{
        _cleanup_free_ uint8_t *area = NULL;
        uint64_t start = ret->qcow2.header_length;
        uint64_t end = be64toh(h->backing_file_offset) ?: UINT64_C(1) << ret->qcow2.cluster_bits;
        size_t length, got;
        int r;

        if (end > file_size)
                end = file_size;
        if (end <= start)
                return 0;
        length = (size_t)(end - start);

        area = xmalloc(length);
        r = vmsnap_pread_full(fd, area, length, start, &got);
        if (r < 0)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED, "cannot read %s: %m", path);
        return extensions_walk(area, got, start, path, ret, error);
}

/* The clusters. */

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

/* Loads the L1 entries the virtual size needs; the header checks made sure the table has them. */
static int l1_load(vmsnap_qcow2 *image, vmsnap_error *error)
{
        uint64_t bytes_per_l1_entry = image->cluster_size << image->l2_bits;
        size_t bytes, got;
        int r;

        image->l1_entries =
                image->virtual_size / bytes_per_l1_entry + (image->virtual_size % bytes_per_l1_entry != 0);
        if (image->l1_entries == 0)
                return 0;

        bytes = (size_t)image->l1_entries * sizeof(uint64_t);
        image->l1 = xmalloc(bytes);
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

static int open_arguments_check(int fd, const char *path, const vmsnap_image_header *header,
                                vmsnap_qcow2 **ret, vmsnap_error *error)
{
        if (fd < 0 || !path || !header || !ret)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no qcow2 image was given to read");
        if (header->format != VMSNAP_FORMAT_QCOW2)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "%s is not a qcow2 image", path);
        return 0;
}

/* Valid images this reader leaves alone: it neither decrypts, nor follows an external data
 * file, nor reads what a running VM may be writing. */
static int unreadable_features_check(const char *path, const vmsnap_image_header *header,
                                     vmsnap_error *error)
{
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
        return 0;
}

/* The header's checks again, against the file as it is now (see reader_checks). */
static int header_recheck(int fd, const char *path, const vmsnap_image_header *header,
                          uint64_t *file_size_ret, vmsnap_error *error)
{
        header_fields f;
        struct stat st;
        int r;

        if (fstat(fd, &st) < 0)
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot examine %s: %m", path);
        r = fields_from_image_header(header, path, &f, error);
        if (r < 0)
                return r;
        r = checks_run(reader_checks, sizeof(reader_checks) / sizeof(reader_checks[0]), &f,
                       (uint64_t)st.st_size, path, error);
        if (r < 0)
                return r;
        *file_size_ret = (uint64_t)st.st_size;
        return 0;
}

static void geometry_set(vmsnap_qcow2 *image, const vmsnap_image_header *header)
{
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

        image->l1_start = header->qcow2.l1_table_offset;
        image->l1_end = image->l1_start + (uint64_t)header->qcow2.l1_size * sizeof(uint64_t);
        image->refcount_table_start = header->qcow2.refcount_table_offset;
        image->refcount_table_end = image->refcount_table_start +
                                    (uint64_t)header->qcow2.refcount_table_clusters * image->cluster_size;
}

/* The header cluster, the L1 table and the refcount table lie apart; the header check only
 * placed each inside the file. */
static int metadata_apart_check(const vmsnap_qcow2 *image, bool has_l1, vmsnap_error *error)
{
        if (has_l1 && ranges_overlap(image->l1_start, image->l1_end, 0, image->cluster_size))
                return corrupt(image, error, "its L1 table overlaps the header");
        if (ranges_overlap(image->refcount_table_start, image->refcount_table_end, 0, image->cluster_size))
                return corrupt(image, error, "its refcount table overlaps the header");
        if (has_l1 && ranges_overlap(image->l1_start, image->l1_end, image->refcount_table_start,
                                     image->refcount_table_end))
                return corrupt(image, error, "its L1 table overlaps its refcount table");
        return 0;
}

int vmsnap_qcow2_open(int fd, const char *path, const vmsnap_image_header *header, vmsnap_qcow2 **ret,
                      vmsnap_error *error)
{
        vmsnap_qcow2 *image = NULL;
        uint64_t file_size = 0;
        int r;

        r = open_arguments_check(fd, path, header, ret, error);
        if (r < 0)
                return r;
        r = unreadable_features_check(path, header, error);
        if (r < 0)
                return r;
        r = header_recheck(fd, path, header, &file_size, error);
        if (r < 0)
                return r;

        image = xcalloc(1, sizeof(*image));
        image->path = xstrdup(path);
        image->l2 = xmalloc(UINT64_C(1) << header->qcow2.cluster_bits);
        image->fd = fd;
        image->file_size = file_size;
        geometry_set(image, header);

        r = metadata_apart_check(image, header->qcow2.l1_size > 0, error);
        if (r < 0)
                goto fail;
        r = l1_load(image, error);
        if (r < 0)
                goto fail;

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

        /* Raw deflate with a 4 KiB window, as qemu writes it. With these fixed arguments
         * only memory can be missing. */
        if (inflateInit2(&stream, -12) != Z_OK)
                oom();
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
                oom();

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
        if (r < 0)
                return corrupt(image, error,
                               "the %s-compressed cluster for guest offset %llu (file offset %llu) "
                               "does not decompress",
                               image->compression_type == QCOW2_COMPRESSION_ZSTD ? "zstd" : "zlib",
                               (unsigned long long)run->cluster_offset,
                               (unsigned long long)run->host_offset);
        return 0;
}
