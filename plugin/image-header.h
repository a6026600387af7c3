/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* image-header.h: what vmsnap knows of an image from its header alone: its
 * format, virtual size, backing file and, for qcow2, where its tables are.
 * chain.c fills it (telling qcow2 from raw, resolving the backing name) with the
 * qcow2 header checks of qcow2.c; both include this, neither includes the other's
 * header for it. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

typedef enum vmsnap_image_format {
        VMSNAP_FORMAT_RAW = 0,
        VMSNAP_FORMAT_QCOW2,
} vmsnap_image_format;

typedef struct vmsnap_image_header {
        vmsnap_image_format format;
        /* The file the header was read from, as fstat() saw it: which file a path led to,
         * without another look at the path. */
        uint64_t file_device, file_inode;
        uint32_t qcow2_version; /* 2 or 3; 0 for raw */
        uint64_t virtual_size;  /* bytes */
        char *backing;          /* absolute path of the backing file (resolved against the image's
                                   directory when relative), NULL when none */
        char *backing_raw;      /* the name exactly as stored in the header, NULL when none */
        vmsnap_image_format backing_format; /* from the header extension; probed when absent */
        bool backing_format_known;
        uint32_t internal_snapshots; /* qcow2 nb_snapshots */
        bool encrypted;
        bool dirty;              /* incompatible feature bit 0 */
        bool external_data_file; /* incompatible feature bit 2 */
        /* Where a qcow2 image keeps its tables (all zero for raw), checked against the file's size
         * when the header was read; the cluster reader (qcow2.c) starts from these. */
        struct {
                uint32_t cluster_bits;
                uint32_t header_length;
                uint32_t l1_size; /* entries */
                uint64_t l1_table_offset;
                uint64_t refcount_table_offset;
                uint32_t refcount_table_clusters;
                bool extended_l2;         /* incompatible feature bit 4: 128-bit L2 entries */
                uint8_t compression_type; /* 0 zlib, 1 zstd */
        } qcow2;
} vmsnap_image_header;

/* Inline, so that the qcow2 reader, which chain.c calls, names formats without calling back. */
static inline const char *vmsnap_image_format_name(vmsnap_image_format format)
{
        switch (format) {
        case VMSNAP_FORMAT_RAW:
                return "raw";
        case VMSNAP_FORMAT_QCOW2:
                return "qcow2";
        }
        return "unknown";
}

/* "qcow2" or "raw" -> format; -EINVAL otherwise. */
static inline int vmsnap_image_format_parse(const char *name, vmsnap_image_format *ret)
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
