/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* collapse.h: copying a disk's backing chain into one standalone image, the
 * heavy part of clone. A native qcow2 chain reader resolves the chain into
 * extents; a shared pool of worker threads copies bounded chunks of every
 * running collapse (reflink, then copy_file_range, then pread/pwrite; holes and
 * zeroes cost nothing). What the reader does not support falls back to
 * `qemu-img convert -p`. Policy (which files, where, free space, locks) is the
 * caller's (clone.c). */
#pragma once

#include <sys/types.h>

#include <stdint.h>

#include "chain.h"
#include "pool.h"
#include "vmsnap/vmsnap.h"

typedef struct vmsnap_collapse_item {
        const char *source;         /* top of the chain to read (the frozen image of a snapshot) */
        const char *target;         /* new file; must not exist; created O_EXCL|O_NOFOLLOW */
        vmsnap_image_format format; /* of target: raw (sparse) or qcow2 (v3, 64 KiB clusters) */
        /* What source is recorded to be (qcow2, raw, or another format qemu reads, which
         * qemu-img then copies); NULL probes it. Always give it when it is known: a raw disk
         * whose guest wrote an image header into it must not be read as that image. */
        const char *source_format;
        /* The directory target must be created in, as confine.c found it (safety rule 6):
         * once created, the file must be reachable at target through no symlink, in this
         * directory, or it is removed and the collapse fails. 0, 0: not checked. */
        dev_t dir_device;
        ino_t dir_inode;
} vmsnap_collapse_item;

/* What collapsing source costs: bytes of data that must be written (upper bound) and its
 * virtual size. Reads only metadata. */
int vmsnap_collapse_estimate(const char *source, const char *source_format, uint64_t *bytes_ret,
                             uint64_t *virtual_size_ret, vmsnap_error *error);

/* Collapses every item, in parallel on the pool, and blocks until all are done.
 * Progress: bytes done over bytes to copy, summed over the items. Cancellation
 * (hooks->is_canceled) takes effect within one chunk. On failure or cancellation every
 * target this call created is removed. The target gets the owner, group and mode of
 * the item's source (never more open). A chain the native reader cannot read is copied
 * by qemu-img convert instead, and hooks->message says so, naming the reason. */
int vmsnap_collapse_run(vmsnap_pool *pool, const vmsnap_collapse_item *items, size_t n_items,
                        const vmsnap_hooks *hooks, vmsnap_error *error);
