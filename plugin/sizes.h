/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sizes.h: what snapshots occupy and what deleting one would free: a snapshot's
 * size (the files it froze that vmsnap made), its reclaimable bytes (what the merge
 * delete.c would run now frees, from that merge's own plan made as a dry run), and
 * a domain's snapshot bytes. delete.c decides; this file measures. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "op.h"
#include "vmsnap/vmsnap.h"

/* Data a merge step copies from one image into another. */
typedef struct vmsnap_merge_move {
        char *from;
        char *into;
        /* A commit (into the image below) also writes where into reads zeroes; a pull
         * (qemu-img rebase, block pull) writes only where into has nothing. */
        bool over_zero;
} vmsnap_merge_move;

/* What a merge would do to the files, as its plan decided. */
typedef struct vmsnap_merge_effects {
        char **removed; /* files that go away once the merge is done */
        size_t n_removed;
        vmsnap_merge_move *moves;
        size_t n_moves;
} vmsnap_merge_effects;

void vmsnap_merge_effects_remove(vmsnap_merge_effects *effects, const char *path);
void vmsnap_merge_effects_move(vmsnap_merge_effects *effects, const char *from, const char *into,
                               bool over_zero);
void vmsnap_merge_effects_clear(vmsnap_merge_effects *effects);

/* delete.c: the merge planner run as a dry run over op (nothing is journaled and
 * op->meta is not changed). The image graph is read once by _new, then each
 * snapshot's merge is planned against it. */
typedef struct vmsnap_merge_estimator vmsnap_merge_estimator;
int vmsnap_merge_estimator_new(vmsnap_op *op, vmsnap_merge_estimator **ret);
int vmsnap_merge_estimate(vmsnap_merge_estimator *estimator, const vmsnap_snapshot *snapshot,
                          vmsnap_merge_effects *ret);
void vmsnap_merge_estimator_free(vmsnap_merge_estimator *estimator);

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
