/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* extent.h: the virtual disk seen from the top of a backing chain, as runs of data (at an
 * offset of one image file), compressed clusters, zeroes and unallocated space, read a
 * piece at a time so that memory stays bounded whatever the disk size. Reading one qcow2
 * image is qcow2.c's; copying the runs is writer.c's. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "qcow2.h"

typedef struct vmsnap_extent {
        vmsnap_extent_kind kind;
        uint64_t offset; /* guest */
        uint64_t length;
        /* DATA and COMPRESSED: where the bytes are. */
        unsigned depth;            /* which image of the chain holds them, 0 for the top */
        int fd;                    /* that image's file, open for reading */
        const vmsnap_qcow2 *image; /* COMPRESSED: the image that decompresses them */
        uint64_t host_offset;      /* DATA: file offset of guest byte offset; COMPRESSED: of the cluster */
        uint64_t compressed_size;  /* COMPRESSED */
        uint64_t cluster_offset;   /* COMPRESSED: guest offset where the cluster starts */
} vmsnap_extent;

typedef struct vmsnap_extent_map vmsnap_extent_map;

/* Opens every image of the chain whose top is path: qcow2 (see qcow2.h) and raw images,
 * relative backing names resolved against each image's directory, at most 1024 deep, no
 * loops. What the reader does not support (other formats, encryption, external data files,
 * backings that are not files, unknown features) is refused as VMSNAP_ERROR_UNSUPPORTED with
 * code -EOPNOTSUPP; damaged images as VMSNAP_ERROR_FAILED; missing ones as NOT_FOUND.
 * format: what path is known to be (see vmsnap_chain_walk_as); NULL probes it. */
int vmsnap_extent_map_open(const char *path, const vmsnap_image_format *format, vmsnap_extent_map **ret,
                           vmsnap_error *error);
void vmsnap_extent_map_free(vmsnap_extent_map *map);

/* The virtual size of the top image: the size of the disk. */
uint64_t vmsnap_extent_map_virtual_size(const vmsnap_extent_map *map);
/* Number of images in the chain, and the one at depth (0 is the top). */
unsigned vmsnap_extent_map_depth(const vmsnap_extent_map *map);
const char *vmsnap_extent_map_path(const vmsnap_extent_map *map, unsigned depth);
/* The file of the image at depth, open for reading (the map keeps it); -EBADF past the base. */
int vmsnap_extent_map_fd(const vmsnap_extent_map *map, unsigned depth);
/* Bytes of scratch that decompressing any compressed extent of the map needs (0 when none can). */
uint64_t vmsnap_extent_map_scratch_size(const vmsnap_extent_map *map);

/* The extent at guest offset (below the virtual size) as the top image reads it: the
 * longest run of one kind, adjacent runs merged (DATA only while contiguous in one file),
 * at most length bytes. Parts of a backing file past its end, or past the end of any image
 * above it, read as ZERO. Cheap when called with increasing offsets; not thread-safe. */
int vmsnap_extent_map_next(vmsnap_extent_map *map, uint64_t offset, uint64_t length, vmsnap_extent *ret,
                           vmsnap_error *error);

/* The extents of [offset, offset + length), at most max_extents of them, into extents;
 * *end_ret: where they stop (offset + length, or earlier when max_extents were filled).
 * Memory stays what the caller gives, so any disk can be read window by window. */
int vmsnap_extent_map_read(vmsnap_extent_map *map, uint64_t offset, uint64_t length, vmsnap_extent *extents,
                           size_t max_extents, size_t *n_ret, uint64_t *end_ret, vmsnap_error *error);

/* Decompresses the cluster of a COMPRESSED extent into out (one cluster of that image);
 * scratch: vmsnap_extent_map_scratch_size() bytes. Thread-safe. */
int vmsnap_extent_read_compressed(const vmsnap_extent *extent, void *out, void *scratch,
                                  vmsnap_error *error);
/* The cluster size of the image holding a COMPRESSED extent. */
uint64_t vmsnap_extent_cluster_size(const vmsnap_extent *extent);
