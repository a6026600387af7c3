/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* chain.c: reading image headers and following backing chains. Owns the qcow2
 * header check (every field validated before it is trusted), raw detection, the
 * resolution of backing file names, and the one walk down a chain. Reading
 * clusters is left to qcow2.c. */
#include <endian.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain.h"
#include "error.h"
#include "fileio.h"
#include "qcow2-format.h"

/* qemu's implementation limits; an image beyond them is not one qemu wrote. */
#define QCOW2_L1_TABLE_BYTES_MAX (32u * 1024 * 1024)
#define QCOW2_REFCOUNT_TABLE_BYTES_MAX (8u * 1024 * 1024)
#define QCOW2_SNAPSHOTS_MAX 65536u
#define QCOW2_SNAPSHOT_ENTRY_BYTES_MIN 40u

#define CHAIN_DEPTH_MAX 1024

const char *vmsnap_image_format_name(vmsnap_image_format format)
{
        switch (format) {
        case VMSNAP_FORMAT_RAW:
                return "raw";
        case VMSNAP_FORMAT_QCOW2:
                return "qcow2";
        }
        return "unknown";
}

int vmsnap_image_format_parse(const char *name, vmsnap_image_format *ret)
{
        if (!name)
                return -EINVAL;
        if (strcmp(name, "qcow2") == 0)
                *ret = VMSNAP_FORMAT_QCOW2;
        else if (strcmp(name, "raw") == 0)
                *ret = VMSNAP_FORMAT_RAW;
        else
                return -EINVAL;
        return 0;
}

void vmsnap_image_header_clear(vmsnap_image_header *header)
{
        if (!header)
                return;
        free(header->backing);
        free(header->backing_raw);
        *header = (vmsnap_image_header){0};
}

static int header_invalid(vmsnap_error *error, const char *path, const char *format, ...)
        __attribute__((format(printf, 3, 4)));
static int header_invalid(vmsnap_error *error, const char *path, const char *format, ...)
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

/* Mirrors qemu's path_has_protocol(): a ':' before any '/' makes "nbd:host:port",
 * "json:{...}" and friends, which are not files. */
static bool name_has_protocol(const char *name)
{
        return name[strcspn(name, ":/")] == ':';
}

static char *path_join(const char *dir, const char *name)
{
        char *joined;

        if (asprintf(&joined, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name) < 0)
                return NULL;
        return joined;
}

/* The absolute directory holding path, without resolving symlinks (qemu resolves a
 * relative backing name against the image's directory as named, and so do we). */
static int image_directory(const char *path, char **ret)
{
        _cleanup_free_ char *cwd = NULL, *dir = NULL;
        const char *slash = strrchr(path, '/');

        if (slash == path)
                dir = strdup("/");
        else if (slash)
                dir = strndup(path, slash - path);
        if (slash && !dir)
                return -ENOMEM;

        if (dir && dir[0] == '/') {
                *ret = dir;
                dir = NULL;
                return 0;
        }

        cwd = getcwd(NULL, 0);
        if (!cwd)
                return -errno;
        if (!dir || strcmp(dir, ".") == 0) {
                *ret = cwd;
                cwd = NULL;
                return 0;
        }

        *ret = path_join(cwd, dir);
        return *ret ? 0 : -ENOMEM;
}

/* Turns the name stored in image path's header into the absolute path of a local file. */
static int backing_resolve(const char *path, const char *stored, char **ret, vmsnap_error *error)
{
        _cleanup_free_ char *dir = NULL;
        const char *name = stored;
        int r;

        /* "file:" names the local file protocol explicitly; it is still a file. */
        if (strncmp(name, "file:", 5) == 0)
                name += 5;

        if (name_has_protocol(name))
                return vmsnap_error_set(error, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED,
                                        "the backing file of %s is \"%s\", which is not a local file; only "
                                        "images backed by files are supported",
                                        path, stored);
        if (name[0] == '\0')
                return header_invalid(error, path, "the backing file name is empty");

        if (name[0] == '/') {
                *ret = strdup(name);
                if (!*ret)
                        return vmsnap_error_set(error, -ENOMEM, VMSNAP_ERROR_FAILED, "out of memory");
                return 0;
        }

        r = image_directory(path, &dir);
        if (r < 0)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED,
                                        "cannot find the directory of %s to resolve its backing file: %m",
                                        path);

        while (strncmp(name, "./", 2) == 0) {
                name += 2;
                while (name[0] == '/')
                        name++;
        }

        *ret = path_join(dir, name);
        if (!*ret)
                return vmsnap_error_set(error, -ENOMEM, VMSNAP_ERROR_FAILED, "out of memory");
        return 0;
}

/* Validates the fixed header fields; fills version, size, features and the backing name range. */
static int qcow2_header_check(const qcow2_header *h, size_t header_bytes, uint64_t file_size,
                              const char *path, vmsnap_image_header *ret, uint32_t *header_length_ret,
                              vmsnap_error *error)
{
        uint32_t version = be32toh(h->version), cluster_bits = be32toh(h->cluster_bits);
        uint32_t crypt_method = be32toh(h->crypt_method), l1_size = be32toh(h->l1_size);
        uint32_t refcount_table_clusters = be32toh(h->refcount_table_clusters);
        uint32_t nb_snapshots = be32toh(h->nb_snapshots), header_length, refcount_order;
        uint64_t size = be64toh(h->size), l1_table_offset = be64toh(h->l1_table_offset);
        uint64_t refcount_table_offset = be64toh(h->refcount_table_offset);
        uint64_t snapshots_offset = be64toh(h->snapshots_offset);
        uint64_t backing_file_offset = be64toh(h->backing_file_offset);
        uint32_t backing_file_size = be32toh(h->backing_file_size);
        uint64_t incompatible = 0, cluster_size, bytes_per_l1_entry, l1_needed;
        unsigned l2_entry_bytes = 8;

        if (header_bytes < QCOW2_V2_HEADER_LENGTH)
                return header_invalid(error, path, "the header is truncated (%zu bytes)", header_bytes);

        if (version != 2 && version != 3)
                return vmsnap_error_set(
                        error, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED,
                        "%s is a qcow2 image of version %u; only versions 2 and 3 are supported", path,
                        version);

        if (cluster_bits < QCOW2_CLUSTER_BITS_MIN || cluster_bits > QCOW2_CLUSTER_BITS_MAX)
                return header_invalid(error, path, "cluster_bits is %u, outside %u..%u", cluster_bits,
                                      QCOW2_CLUSTER_BITS_MIN, QCOW2_CLUSTER_BITS_MAX);
        cluster_size = UINT64_C(1) << cluster_bits;

        if (version == 2) {
                header_length = QCOW2_V2_HEADER_LENGTH;
                refcount_order = 4;
        } else {
                if (header_bytes < QCOW2_V3_HEADER_LENGTH_MIN)
                        return header_invalid(error, path, "the version 3 header is truncated (%zu bytes)",
                                              header_bytes);
                header_length = be32toh(h->header_length);
                refcount_order = be32toh(h->refcount_order);
                incompatible = be64toh(h->incompatible_features);

                if (header_length < QCOW2_V3_HEADER_LENGTH_MIN || header_length % 8 != 0 ||
                    header_length > cluster_size)
                        return header_invalid(
                                error, path,
                                "header_length is %u; it must be a multiple of 8 between %u and "
                                "the cluster size",
                                header_length, QCOW2_V3_HEADER_LENGTH_MIN);
                if (refcount_order > QCOW2_REFCOUNT_ORDER_MAX)
                        return header_invalid(error, path, "refcount_order is %u, more than %u",
                                              refcount_order, QCOW2_REFCOUNT_ORDER_MAX);
        }
        if (!range_inside(0, header_length, file_size))
                return header_invalid(error, path, "the file ends inside its %u-byte header", header_length);

        if (incompatible & QCOW2_INCOMPATIBLE_CORRUPT)
                return vmsnap_error_set(
                        error, -EUCLEAN, VMSNAP_ERROR_FAILED,
                        "%s is marked corrupt; repair it with \"qemu-img check -r all\" first", path);
        if (incompatible & ~QCOW2_INCOMPATIBLE_KNOWN)
                return vmsnap_error_set(
                        error, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED,
                        "%s uses qcow2 features unknown to vmsnap (incompatible feature bits "
                        "0x%llx)",
                        path, (unsigned long long)(incompatible & ~QCOW2_INCOMPATIBLE_KNOWN));

        if (incompatible & QCOW2_INCOMPATIBLE_EXTENDED_L2) {
                if (cluster_bits < QCOW2_EXTENDED_L2_CLUSTER_BITS_MIN)
                        return header_invalid(error, path,
                                              "extended L2 entries need clusters of at least 16 KiB, but "
                                              "cluster_bits is %u",
                                              cluster_bits);
                l2_entry_bytes = 16;
        }

        /* The compression type byte exists only when header_length covers it. */
        if (header_length > offsetof(qcow2_header, compression_type)) {
                uint8_t type = h->compression_type;

                if (!(incompatible & QCOW2_INCOMPATIBLE_COMPRESSION_TYPE) && type != QCOW2_COMPRESSION_ZLIB)
                        return header_invalid(
                                error, path,
                                "compression_type is %u but the compression type feature bit is "
                                "not set",
                                type);
                if ((incompatible & QCOW2_INCOMPATIBLE_COMPRESSION_TYPE) && type != QCOW2_COMPRESSION_ZSTD)
                        return vmsnap_error_set(error, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED,
                                                "%s uses compression type %u, which vmsnap does not know",
                                                path, type);
        } else if (incompatible & QCOW2_INCOMPATIBLE_COMPRESSION_TYPE)
                return header_invalid(error, path,
                                      "the compression type feature bit is set but the header has no "
                                      "compression_type field");

        if (crypt_method > 2)
                return header_invalid(error, path, "crypt_method is %u, not 0, 1 or 2", crypt_method);

        /* Every guest cluster must be reachable through the active L1 table. */
        bytes_per_l1_entry = cluster_size * (cluster_size / l2_entry_bytes);
        l1_needed = size / bytes_per_l1_entry + (size % bytes_per_l1_entry != 0);
        if ((uint64_t)l1_size * 8 > QCOW2_L1_TABLE_BYTES_MAX)
                return header_invalid(error, path, "the L1 table has %u entries, more than qemu allows",
                                      l1_size);
        if (l1_needed > l1_size)
                return header_invalid(
                        error, path, "the L1 table has %u entries, too few for a virtual size of %llu bytes",
                        l1_size, (unsigned long long)size);
        if (l1_size > 0 && (l1_table_offset % cluster_size != 0 || l1_table_offset == 0 ||
                            !range_inside(l1_table_offset, (uint64_t)l1_size * 8, file_size)))
                return header_invalid(error, path,
                                      "the L1 table offset %llu is unaligned or outside the file",
                                      (unsigned long long)l1_table_offset);

        if (refcount_table_clusters == 0 ||
            (uint64_t)refcount_table_clusters * cluster_size > QCOW2_REFCOUNT_TABLE_BYTES_MAX)
                return header_invalid(error, path, "the refcount table size of %u clusters is out of range",
                                      refcount_table_clusters);
        if (refcount_table_offset % cluster_size != 0 || refcount_table_offset == 0 ||
            !range_inside(refcount_table_offset, (uint64_t)refcount_table_clusters * cluster_size,
                          file_size))
                return header_invalid(error, path,
                                      "the refcount table offset %llu is unaligned or outside the file",
                                      (unsigned long long)refcount_table_offset);

        if (nb_snapshots > QCOW2_SNAPSHOTS_MAX)
                return header_invalid(error, path, "it claims %u internal snapshots, more than %u",
                                      nb_snapshots, QCOW2_SNAPSHOTS_MAX);
        if (nb_snapshots > 0 &&
            (snapshots_offset % cluster_size != 0 || snapshots_offset == 0 ||
             !range_inside(snapshots_offset, (uint64_t)nb_snapshots * QCOW2_SNAPSHOT_ENTRY_BYTES_MIN,
                           file_size)))
                return header_invalid(error, path,
                                      "the snapshot table offset %llu is unaligned or outside the file",
                                      (unsigned long long)snapshots_offset);

        if (backing_file_offset != 0) {
                if (backing_file_size == 0 || backing_file_size > QCOW2_BACKING_NAME_MAX)
                        return header_invalid(error, path,
                                              "the backing file name is %u bytes long; it must be 1 to %u",
                                              backing_file_size, QCOW2_BACKING_NAME_MAX);
                if (backing_file_offset < header_length ||
                    !range_inside(backing_file_offset, backing_file_size, cluster_size) ||
                    !range_inside(backing_file_offset, backing_file_size, file_size))
                        return header_invalid(error, path,
                                              "the backing file name at offset %llu lies outside the first "
                                              "cluster",
                                              (unsigned long long)backing_file_offset);
        }

        ret->format = VMSNAP_FORMAT_QCOW2;
        ret->qcow2_version = version;
        ret->virtual_size = size;
        ret->internal_snapshots = nb_snapshots;
        ret->encrypted = crypt_method != 0;
        ret->dirty = incompatible & QCOW2_INCOMPATIBLE_DIRTY;
        ret->external_data_file = incompatible & QCOW2_INCOMPATIBLE_DATA_FILE;
        ret->qcow2.cluster_bits = cluster_bits;
        ret->qcow2.header_length = header_length;
        ret->qcow2.l1_size = l1_size;
        ret->qcow2.l1_table_offset = l1_table_offset;
        ret->qcow2.refcount_table_offset = refcount_table_offset;
        ret->qcow2.refcount_table_clusters = refcount_table_clusters;
        ret->qcow2.extended_l2 = incompatible & QCOW2_INCOMPATIBLE_EXTENDED_L2;
        ret->qcow2.compression_type = header_length > offsetof(qcow2_header, compression_type)
                                              ? h->compression_type
                                              : QCOW2_COMPRESSION_ZLIB;
        *header_length_ret = header_length;
        return 0;
}

/* Walks the header extensions between the header and end (the backing file name or the end
 * of the first cluster). Only the backing format is read; unknown extensions are skipped. */
static int qcow2_extensions_read(int fd, uint64_t start, uint64_t end, uint64_t file_size, const char *path,
                                 vmsnap_image_header *ret, vmsnap_error *error)
{
        _cleanup_free_ uint8_t *area = NULL;
        bool seen_backing_format = false;
        size_t length, got, position = 0;
        int r;

        if (end > file_size)
                end = file_size;
        if (end <= start)
                return 0;
        length = (size_t)(end - start);

        area = malloc(length);
        if (!area)
                return vmsnap_error_set(error, -ENOMEM, VMSNAP_ERROR_FAILED, "out of memory");
        r = vmsnap_pread_full(fd, area, length, start, &got);
        if (r < 0)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED, "cannot read %s: %m", path);
        length = got;

        while (length - position >= 8) {
                uint32_t type, data_length;
                const uint8_t *data;

                memcpy(&type, area + position, 4);
                memcpy(&data_length, area + position + 4, 4);
                type = be32toh(type);
                data_length = be32toh(data_length);
                if (type == QCOW2_EXTENSION_END)
                        break;

                if (data_length > length - position - 8)
                        return header_invalid(
                                error, path,
                                "header extension 0x%08x at offset %llu runs past the header area", type,
                                (unsigned long long)(start + position));
                data = area + position + 8;

                if (type == QCOW2_EXTENSION_BACKING_FORMAT) {
                        char name[QCOW2_BACKING_FORMAT_MAX + 1];

                        if (seen_backing_format)
                                return header_invalid(error, path,
                                                      "the backing format extension appears twice");
                        seen_backing_format = true;

                        if (data_length == 0 || data_length > QCOW2_BACKING_FORMAT_MAX)
                                return header_invalid(error, path,
                                                      "the backing format name is %u bytes long",
                                                      data_length);
                        for (uint32_t i = 0; i < data_length; i++)
                                if (data[i] < 0x20 || data[i] > 0x7e)
                                        return header_invalid(
                                                error, path,
                                                "the backing format name is not printable text");
                        memcpy(name, data, data_length);
                        name[data_length] = '\0';

                        if (ret->backing_raw) {
                                if (vmsnap_image_format_parse(name, &ret->backing_format) < 0)
                                        return vmsnap_error_set(error, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED,
                                                                "the backing file of %s has format %s; only "
                                                                "qcow2 and raw are supported",
                                                                path, name);
                                ret->backing_format_known = true;
                        }
                }

                /* Data is padded to a multiple of 8; the last extension may end the area unpadded. */
                position += 8 + (((size_t)data_length + 7) & ~(size_t)7);
                if (position > length)
                        break;
        }

        return 0;
}

static int qcow2_backing_read(int fd, const qcow2_header *h, const char *path, vmsnap_image_header *ret,
                              vmsnap_error *error)
{
        uint64_t offset = be64toh(h->backing_file_offset);
        uint32_t length = be32toh(h->backing_file_size);
        size_t got;
        int r;

        if (offset == 0)
                return 0;

        ret->backing_raw = malloc((size_t)length + 1);
        if (!ret->backing_raw)
                return vmsnap_error_set(error, -ENOMEM, VMSNAP_ERROR_FAILED, "out of memory");
        r = vmsnap_pread_full(fd, ret->backing_raw, length, offset, &got);
        if (r < 0)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED, "cannot read %s: %m", path);
        if (got != length)
                return header_invalid(error, path, "the file ends inside the backing file name");
        ret->backing_raw[length] = '\0';
        if (strlen(ret->backing_raw) != length)
                return header_invalid(error, path, "the backing file name contains a NUL byte");

        return backing_resolve(path, ret->backing_raw, &ret->backing, error);
}

/* Reads the header of the image open as fd. With forced set, the format is the one a parent
 * image declared and is not probed: a raw disk stays raw whatever its guest wrote at its start. */
static int image_header_read_fd(int fd, const char *path, const vmsnap_image_format *forced,
                                vmsnap_image_header *ret, vmsnap_error *error)
{
        vmsnap_image_header header = {0};
        qcow2_header h = {0};
        uint32_t header_length = 0;
        uint64_t file_size;
        struct stat st;
        size_t got;
        int r;

        if (fstat(fd, &st) < 0)
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot examine image %s: %m",
                                        path);
        if (!S_ISREG(st.st_mode))
                return vmsnap_error_set(error, -EOPNOTSUPP, VMSNAP_ERROR_UNSUPPORTED,
                                        "%s is not a regular file; only file images are supported", path);
        file_size = (uint64_t)st.st_size;

        if (forced && *forced == VMSNAP_FORMAT_RAW)
                goto raw;

        r = vmsnap_pread_full(fd, &h, sizeof(h), 0, &got);
        if (r < 0)
                return vmsnap_error_set(error, r, VMSNAP_ERROR_FAILED, "cannot read image %s: %m", path);

        if (got < 4 || be32toh(h.magic) != QCOW2_MAGIC) {
                if (forced)
                        return vmsnap_error_set(
                                error, -EBADMSG, VMSNAP_ERROR_FAILED,
                                "%s should be a qcow2 image but does not start with the qcow2 magic", path);
                goto raw;
        }

        r = qcow2_header_check(&h, got, file_size, path, &header, &header_length, error);
        if (r < 0)
                return r;

        r = qcow2_backing_read(fd, &h, path, &header, error);
        if (r < 0)
                goto fail;

        r = qcow2_extensions_read(fd, header_length,
                                  be64toh(h.backing_file_offset) ?: UINT64_C(1) << be32toh(h.cluster_bits),
                                  file_size, path, &header, error);
        if (r < 0)
                goto fail;

        *ret = header;
        return 0;

raw:
        *ret = (vmsnap_image_header){
                .format = VMSNAP_FORMAT_RAW,
                .virtual_size = file_size,
        };
        return 0;

fail:
        vmsnap_image_header_clear(&header);
        return r;
}

static int image_header_read(const char *path, const vmsnap_image_format *forced, vmsnap_image_header *ret,
                             vmsnap_error *error)
{
        _cleanup_close_ int fd = -EBADF;

        /* O_NONBLOCK: a FIFO put in an image's place must not hang us; it is refused as not a
         * regular file. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                if (errno == ENOENT)
                        return vmsnap_error_set(error, -ENOENT, VMSNAP_ERROR_NOT_FOUND,
                                                "image %s does not exist", path);
                return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED, "cannot open image %s: %m",
                                        path);
        }
        return image_header_read_fd(fd, path, forced, ret, error);
}

int vmsnap_image_header_read_fd(int fd, const char *path, const vmsnap_image_format *declared,
                                vmsnap_image_header *ret, vmsnap_error *error)
{
        if (fd < 0 || !path || !ret)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no image was given to read");
        return image_header_read_fd(fd, path, declared, ret, error);
}

/* Magic strings of the formats qemu reads and vmsnap does not, at offset 0. Other formats
 * (dmg) keep theirs elsewhere; a file probed as raw by qemu is raw for us too. */
static const struct {
        const char *name;
        const char *magic;
        size_t length;
} foreign_formats[] = {
        {"vmdk", "KDMV", 4},
        {"vmdk", "# Disk DescriptorFile", 21},
        {"vpc", "conectix", 8},
        {"vhdx", "vhdxfile", 8},
        {"qed", "QED\0", 4},
        {"luks", "LUKS\xba\xbe", 6},
        {"parallels", "WithoutFreeSpace", 16},
        {"parallels", "WithouFreSpacExt", 16},
        {"bochs", "Bochs Virtual HD Image", 22},
        {"cloop", "#!/bin/sh\n#V2.0 Format", 22},
};

const char *vmsnap_image_foreign_format(int fd)
{
        static const uint8_t vdi_signature[4] = {0x7f, 0x10, 0xda, 0xbe};
        uint8_t start[72];
        size_t got;

        if (vmsnap_pread_full(fd, start, sizeof(start), 0, &got) < 0)
                return NULL;

        for (size_t i = 0; i < sizeof(foreign_formats) / sizeof(foreign_formats[0]); i++)
                if (got >= foreign_formats[i].length &&
                    memcmp(start, foreign_formats[i].magic, foreign_formats[i].length) == 0)
                        return foreign_formats[i].name;
        /* vdi: a text banner, then its signature at byte 64 (little-endian 0xbeda107f). */
        if (got >= 68 && memcmp(start + 64, vdi_signature, sizeof(vdi_signature)) == 0)
                return "vdi";
        return NULL;
}

int vmsnap_image_header_read(const char *path, vmsnap_image_header *ret, vmsnap_error *error)
{
        if (!path || !ret)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no image was given to read");
        return image_header_read(path, NULL, ret, error);
}

int vmsnap_image_header_read_as(const char *path, const vmsnap_image_format *format, vmsnap_image_header *ret,
                                vmsnap_error *error)
{
        if (!path || !ret)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no image was given to read");
        return image_header_read(path, format, ret, error);
}

typedef struct file_identity {
        dev_t device;
        ino_t inode;
} file_identity;

int vmsnap_chain_walk(const char *path, vmsnap_chain_visit_fn visit, void *userdata, vmsnap_error *error)
{
        return vmsnap_chain_walk_as(path, NULL, visit, userdata, error);
}

int vmsnap_chain_walk_as(const char *path, const vmsnap_image_format *top_format, vmsnap_chain_visit_fn visit,
                         void *userdata, vmsnap_error *error)
{
        _cleanup_free_ file_identity *visited = NULL;
        _cleanup_free_ char *current = NULL;
        vmsnap_image_format declared = top_format ? *top_format : VMSNAP_FORMAT_RAW;
        bool format_declared = top_format != NULL;
        int r;

        if (!path || !visit)
                return vmsnap_error_set(error, -EINVAL, VMSNAP_ERROR_INVALID_ARGUMENT,
                                        "no image was given to walk");

        visited = calloc(CHAIN_DEPTH_MAX + 1, sizeof(*visited));
        current = strdup(path);
        if (!visited || !current)
                return vmsnap_error_set(error, -ENOMEM, VMSNAP_ERROR_FAILED, "out of memory");

        for (unsigned depth = 0;; depth++) {
                vmsnap_image_header header = {0};
                struct stat st;

                if (depth > CHAIN_DEPTH_MAX)
                        return vmsnap_error_set(error, -ELOOP, VMSNAP_ERROR_UNSUPPORTED,
                                                "the backing chain of %s is deeper than %u images", path,
                                                CHAIN_DEPTH_MAX);

                if (stat(current, &st) < 0) {
                        if (errno == ENOENT)
                                return vmsnap_error_set(error, -ENOENT, VMSNAP_ERROR_NOT_FOUND,
                                                        "image %s does not exist", current);
                        return vmsnap_error_set(error, -errno, VMSNAP_ERROR_FAILED,
                                                "cannot open image %s: %m", current);
                }
                for (unsigned i = 0; i < depth; i++)
                        if (visited[i].device == st.st_dev && visited[i].inode == st.st_ino)
                                return vmsnap_error_set(
                                        error, -ELOOP, VMSNAP_ERROR_FAILED,
                                        "the backing chain of %s loops: %s appears in it twice", path,
                                        current);
                visited[depth] = (file_identity){st.st_dev, st.st_ino};

                r = image_header_read(current, format_declared ? &declared : NULL, &header, error);
                if (r < 0)
                        return r;

                if (header.backing) {
                        vmsnap_image_header backing = {0};

                        r = image_header_read(header.backing,
                                              header.backing_format_known ? &header.backing_format : NULL,
                                              &backing, error);
                        if (r == -ENOENT)
                                r = vmsnap_error_set(error, -ENOENT, VMSNAP_ERROR_NOT_FOUND,
                                                     "backing file %s of %s does not exist", header.backing,
                                                     current);
                        if (r < 0) {
                                vmsnap_image_header_clear(&header);
                                return r;
                        }
                        /* An image that does not name its backing format gets the probed one. */
                        if (!header.backing_format_known)
                                header.backing_format = backing.format;
                        vmsnap_image_header_clear(&backing);
                }

                r = visit(current, &header, depth, userdata);
                if (r != 0 || !header.backing) {
                        vmsnap_image_header_clear(&header);
                        return r;
                }

                free(current);
                current = header.backing;
                header.backing = NULL;
                declared = header.backing_format;
                format_declared = true;
                vmsnap_image_header_clear(&header);
        }
}
