/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qcow2.h: reading the clusters of one qcow2 image: for a guest range, whether this
 * image holds data there (and where in its file), a compressed cluster, zeroes, or
 * nothing (its backing file shows through). Reading headers is chain.c's; following
 * the chain and raw layers is extent.c's; copying is writer.c's. */
#pragma once

#include <stdint.h>

#include "chain.h"

typedef enum vmsnap_extent_kind {
        VMSNAP_EXTENT_UNALLOCATED = 0, /* not in this image: the backing file shows through */
        VMSNAP_EXTENT_ZERO,            /* reads as zeroes */
        VMSNAP_EXTENT_DATA,            /* bytes stored at a file offset */
        VMSNAP_EXTENT_COMPRESSED,      /* a part of one compressed cluster */
} vmsnap_extent_kind;

const char *vmsnap_extent_kind_name(vmsnap_extent_kind kind);

/* Guest bytes [offset, offset + length) of one kind in one image. */
typedef struct vmsnap_qcow2_run {
        vmsnap_extent_kind kind;
        uint64_t offset;
        uint64_t length;
        uint64_t host_offset;     /* DATA: where guest byte offset lies in the file;
                                     COMPRESSED: where the cluster's compressed bytes start */
        uint64_t compressed_size; /* COMPRESSED: bytes at host_offset; the last of them may lie past the
                                     end of the file (they read as zeroes, as in qemu) */
        uint64_t cluster_offset;  /* COMPRESSED: guest offset of the cluster's first byte */
} vmsnap_qcow2_run;

typedef struct vmsnap_qcow2 vmsnap_qcow2;

/* Prepares reading the qcow2 image open as fd (which stays the caller's and must stay open),
 * whose header chain.c read from that fd. Loads and checks the L1 table. Refuses with a
 * sentence: images marked dirty or corrupt (FAILED), encrypted ones or ones with an external
 * data file (UNSUPPORTED, code -EOPNOTSUPP), and tables that overlap each other or lie outside
 * the file (FAILED, -EBADMSG). */
int vmsnap_qcow2_open(int fd, const char *path, const vmsnap_image_header *header, vmsnap_qcow2 **ret,
                      vmsnap_error *error);
void vmsnap_qcow2_free(vmsnap_qcow2 *image);

uint64_t vmsnap_qcow2_virtual_size(const vmsnap_qcow2 *image);
uint64_t vmsnap_qcow2_cluster_size(const vmsnap_qcow2 *image);

/* The longest run of one kind that starts at guest offset (below the virtual size), at most
 * length bytes and never past the virtual size. A DATA run is contiguous in the file; a
 * COMPRESSED run stays inside its cluster. Every table entry is checked before it is used.
 * Keeps one L2 table cached, so calls with increasing offsets are cheap; not thread-safe. */
int vmsnap_qcow2_map(vmsnap_qcow2 *image, uint64_t offset, uint64_t length, vmsnap_qcow2_run *ret,
                     vmsnap_error *error);

/* Bytes of scratch memory vmsnap_qcow2_read_compressed() needs: twice the cluster size. */
uint64_t vmsnap_qcow2_compressed_scratch_size(const vmsnap_qcow2 *image);

/* Decompresses the cluster of a COMPRESSED run (zlib or zstd, as the image says) into out,
 * which holds one cluster. Only reads the file: safe to call from several threads at once. */
int vmsnap_qcow2_read_compressed(const vmsnap_qcow2 *image, const vmsnap_qcow2_run *run, void *out,
                                 void *scratch, vmsnap_error *error);
