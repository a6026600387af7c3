/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qcow2.h: reading one qcow2 image: its header (every field checked before it is
 * trusted, its backing file name and extensions) and its clusters: for a guest range,
 * whether this image holds data there (and where in its file), a compressed cluster,
 * zeroes, or nothing (its backing file shows through). Telling qcow2 from raw and
 * resolving backing names is chain.c's; following the chain and raw layers is
 * extent.c's; copying is writer.c's. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "image-header.h"
#include "qcow2-format.h"

/* Checks the fixed header h (the first header_bytes bytes of a file of file_size bytes that
 * starts with the qcow2 magic) and fills ret's format, version, sizes, features and table
 * placement. Refuses with a sentence: fields out of range or tables outside the file (FAILED,
 * -EBADMSG), images marked corrupt (FAILED, -EUCLEAN), versions, feature bits and compression
 * types vmsnap does not know (UNSUPPORTED, -EOPNOTSUPP). */
int vmsnap_qcow2_header_check(const qcow2_header *h, size_t header_bytes, uint64_t file_size,
                              const char *path, vmsnap_image_header *ret, vmsnap_error *error);
/* The backing file name exactly as h's image stores it, in *ret (NULL when it has none);
 * h passed vmsnap_qcow2_header_check(). */
int vmsnap_qcow2_backing_name_read(int fd, const qcow2_header *h, const char *path, char **ret,
                                   vmsnap_error *error);
/* Walks the header extensions between the header and the backing file name (or the end of
 * the first cluster) and fills ret's backing format from its extension; unknown extensions
 * are skipped. ret holds what vmsnap_qcow2_header_check() and the backing name gave. */
int vmsnap_qcow2_extensions_read(int fd, const qcow2_header *h, uint64_t file_size, const char *path,
                                 vmsnap_image_header *ret, vmsnap_error *error);
/* Refuses path as "not a valid qcow2 image" for the reason given (FAILED, -EBADMSG). */
int vmsnap_qcow2_invalid(vmsnap_error *error, const char *path, const char *format, ...)
        __attribute__((format(printf, 3, 4)));

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
 * whose header was read from that fd. Checks again what the reader relies on in the header
 * against the file as it is now, and loads and checks the L1 table. Refuses with a sentence:
 * images marked dirty (FAILED), encrypted ones or ones with an external data file
 * (UNSUPPORTED, code -EOPNOTSUPP), and tables that overlap each other or lie outside the file
 * (FAILED, -EBADMSG). */
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
