/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* writer.h: the new images vmsnap writes itself: the standalone image a collapse
 * writes, and the empty qcow2 overlay of a new snapshot (vmsnap_writer_set_backing, then
 * vmsnap_writer_finish with nothing placed). Raw: sparse, only data is
 * written. qcow2: version 3, 64 KiB clusters, data clusters in the order the caller
 * places them, zeroes and holes left unallocated, the header written last. Bytes move by
 * FICLONERANGE (reflink), else copy_file_range, else pread/pwrite, decided per piece;
 * compressed clusters are decompressed. Which extents to copy is the caller's (collapse.c, from extent.h).
 */
#pragma once

#include <stdint.h>

#include "chain.h"
#include "extent.h"

#define VMSNAP_WRITER_QCOW2_CLUSTER_BITS 16

typedef struct vmsnap_writer vmsnap_writer;

/* Starts writing the empty file fd (kept open by the caller until vmsnap_writer_free) as an
 * image of format with virtual_size bytes. n_sources: images the extents come from (extent
 * depths 0..n_sources-1); the writer remembers per source which copy method works. */
int vmsnap_writer_new(int fd, const char *path, vmsnap_image_format format, uint64_t virtual_size,
                      unsigned n_sources, vmsnap_writer **ret, vmsnap_error *error);
void vmsnap_writer_free(vmsnap_writer *writer);

/* qcow2: allocates now the L2 tables that map guest bytes [offset, offset + length), those not
 * allocated yet, so that the data clusters placed after them lie next to each other. Calling it
 * for the data of a stretch of the disk before placing that data is optional but keeps tables
 * from landing between clusters. Raw: nothing to do. */
int vmsnap_writer_reserve_tables(vmsnap_writer *writer, uint64_t offset, uint64_t length,
                                 vmsnap_error *error);

/* Reserves room in the target for guest bytes [offset, offset + length) that hold data
 * (qcow2: allocates the clusters not placed before, at the end of what is allocated; a
 * cluster an earlier call placed is used again). Calls may come in any guest order, so the
 * target's clusters can follow the order of the sources' clusters. *target_ret: where guest
 * byte offset goes; *length_ret: how many of the bytes follow contiguously from there (fewer
 * when the next cluster lies elsewhere: place the rest with another call). Not thread-safe:
 * one caller at a time. */
int vmsnap_writer_place(vmsnap_writer *writer, uint64_t offset, uint64_t length, uint64_t *target_ret,
                        uint64_t *length_ret, vmsnap_error *error);

/* Every guest byte below offset that holds data is placed: writes the L2 tables that map only
 * such bytes and frees their memory, so that memory stays bounded on any disk. A later
 * vmsnap_writer_place() below offset fails. */
int vmsnap_writer_settle(vmsnap_writer *writer, uint64_t offset, vmsnap_error *error);

/* Bytes of scratch memory vmsnap_writer_copy() needs for extents of map. */
uint64_t vmsnap_writer_scratch_size(const vmsnap_extent_map *map);

/* Copies a DATA or COMPRESSED extent to target (from vmsnap_writer_place for the extent's
 * whole length). Thread-safe: several workers copy different extents at once. */
int vmsnap_writer_copy(vmsnap_writer *writer, const vmsnap_extent *extent, uint64_t target, void *scratch,
                       uint64_t scratch_size, vmsnap_error *error);

/* Whether blocks of the source at depth (open as source_fd) can be shared with the target by
 * reflink: one block of it is reflinked into an unnamed file beside the target, gone once
 * closed; the target itself is not touched. A source that cannot is copied from then on without
 * trying again. */
bool vmsnap_writer_probe_reflink(vmsnap_writer *writer, unsigned depth, int source_fd);

/* True once a reflink into the target succeeded. */
bool vmsnap_writer_reflinks(const vmsnap_writer *writer);

/* qcow2: the image reads what it does not hold itself from backing, a file of format:
 * the header names it exactly as given (the name qemu then opens, relative to the image's
 * directory unless absolute) with a backing format extension. Before vmsnap_writer_finish. */
int vmsnap_writer_set_backing(vmsnap_writer *writer, const char *backing, vmsnap_image_format format,
                              vmsnap_error *error);

/* Completes the image once every copy is done: qcow2 metadata (the L2 tables not written yet,
 * refcounts, the L1 table, then the header), the final size, and fsync. */
int vmsnap_writer_finish(vmsnap_writer *writer, vmsnap_error *error);
/* The same without flushing, for an unnamed file that nothing can see until its naming
 * flushes it whole (vmsnap_file_link_unnamed): a crash before then leaves no file, so the
 * order in which its parts reach the disk does not matter. */
int vmsnap_writer_finish_unnamed(vmsnap_writer *writer, vmsnap_error *error);

/* The qcow2 file vmsnap_writer would write for data_clusters clusters (of 64 KiB) holding data,
 * spread over l2_tables L2 tables, on a disk of virtual_size bytes: an upper bound of what
 * a collapse writes. */
uint64_t vmsnap_writer_qcow2_size(uint64_t virtual_size, uint64_t data_clusters, uint64_t l2_tables);
