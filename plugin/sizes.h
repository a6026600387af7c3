/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sizes.h: what snapshots occupy and what deleting one would free: a snapshot's
 * size (the files it froze that vmsnap made) and its reclaimable bytes (what the
 * merge delete.c would run now frees, from that merge's own plan made as a dry run,
 * delete.h). delete.c decides; this file measures. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "op.h"
#include "vmsnap/vmsnap.h"

/* Bytes the image `into` grows by when the data of `from` is written into it: the
 * clusters of into that from holds data for and into does not (counted at into's
 * cluster size). Read from both images' tables, cached per file version. */
uint64_t vmsnap_image_growth(const char *from, const char *into, bool over_zero);

/* Fills size and reclaimable of every record (n of them, of domain uuid) from meta, a
 * copy the caller owns. File I/O and libvirt calls: never under the data lock. A file
 * that cannot be read counts as nothing. A listing's plans are kept while the snapshots'
 * images and vmsnap's files are unchanged, and at most 2 s (for what libvirt says: the
 * active disks, the files other domains use). */
void vmsnap_sizes_fill(vmsnap_engine *engine, const char *uuid, const vmsnap_domain_meta *meta,
                       vmsnap_snapshot_info *infos, size_t n);
/* The sizes of the image records that name an RBD snapshot (rbd-sizes.h), reached through
 * meta (a copy the caller owns) and the domain's XML. Never under the data lock. */
void vmsnap_sizes_fill_rbd_images(vmsnap_engine *engine, const char *uuid, const vmsnap_domain_meta *meta,
                                  vmsnap_image_info *images, size_t n);
