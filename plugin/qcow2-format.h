/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qcow2-format.h: the qcow2 on-disk format as docs/interop/qcow2.txt in qemu lays
 * it out: the header, its feature bits and extensions, and the bits of table
 * entries. One description for the reader (qcow2.c) and the writer (writer.c). Every field is big-endian on
 * disk. */
#pragma once

#include <stdint.h>

#define QCOW2_MAGIC 0x514649fbU /* "QFI\xfb" */
#define QCOW2_V2_HEADER_LENGTH 72
#define QCOW2_V3_HEADER_LENGTH_MIN 104
#define QCOW2_CLUSTER_BITS_MIN 9
#define QCOW2_CLUSTER_BITS_MAX 21
#define QCOW2_EXTENDED_L2_CLUSTER_BITS_MIN 14
#define QCOW2_REFCOUNT_ORDER_MAX 6
#define QCOW2_BACKING_NAME_MAX 1023
#define QCOW2_BACKING_FORMAT_MAX 15

#define QCOW2_INCOMPATIBLE_DIRTY (UINT64_C(1) << 0)
#define QCOW2_INCOMPATIBLE_CORRUPT (UINT64_C(1) << 1)
#define QCOW2_INCOMPATIBLE_DATA_FILE (UINT64_C(1) << 2)
#define QCOW2_INCOMPATIBLE_COMPRESSION_TYPE (UINT64_C(1) << 3)
#define QCOW2_INCOMPATIBLE_EXTENDED_L2 (UINT64_C(1) << 4)
#define QCOW2_INCOMPATIBLE_KNOWN                                                                            \
        (QCOW2_INCOMPATIBLE_DIRTY | QCOW2_INCOMPATIBLE_CORRUPT | QCOW2_INCOMPATIBLE_DATA_FILE |             \
         QCOW2_INCOMPATIBLE_COMPRESSION_TYPE | QCOW2_INCOMPATIBLE_EXTENDED_L2)

#define QCOW2_COMPRESSION_ZLIB 0
#define QCOW2_COMPRESSION_ZSTD 1

#define QCOW2_EXTENSION_END 0x00000000U
#define QCOW2_EXTENSION_BACKING_FORMAT 0xe2792acaU

/* L1 and L2 table entries. */
#define QCOW2_OFFSET_MASK UINT64_C(0x00fffffffffffe00)
#define QCOW2_OFLAG_COPIED (UINT64_C(1) << 63) /* refcount exactly one */
#define QCOW2_OFLAG_COMPRESSED (UINT64_C(1) << 62)
#define QCOW2_OFLAG_ZERO (UINT64_C(1) << 0)
#define QCOW2_SUBCLUSTERS_PER_CLUSTER 32
#define QCOW2_COMPRESSED_SECTOR_SIZE 512

/* The header up to the compression type, the last field qemu defines. */
typedef struct __attribute__((packed)) qcow2_header {
        uint32_t magic;
        uint32_t version;
        uint64_t backing_file_offset;
        uint32_t backing_file_size;
        uint32_t cluster_bits;
        uint64_t size;
        uint32_t crypt_method;
        uint32_t l1_size;
        uint64_t l1_table_offset;
        uint64_t refcount_table_offset;
        uint32_t refcount_table_clusters;
        uint32_t nb_snapshots;
        uint64_t snapshots_offset;
        /* version 3 */
        uint64_t incompatible_features;
        uint64_t compatible_features;
        uint64_t autoclear_features;
        uint32_t refcount_order;
        uint32_t header_length;
        /* optional, present when header_length > 104 */
        uint8_t compression_type;
} qcow2_header;

_Static_assert(sizeof(qcow2_header) == 105, "qcow2 header layout");
