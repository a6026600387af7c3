/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* delete.h: the merge planner of delete.c as other files see it: run as a dry run,
 * it records what a merge would do to the files (which go away, which data moves
 * where) without doing it; sizes.c turns that into bytes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "op.h"

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

/* The merge planner run as a dry run over op (nothing is journaled and op->meta is
 * not changed). The image graph is read once by _new, then each snapshot's merge is
 * planned against it. */
typedef struct vmsnap_merge_estimator vmsnap_merge_estimator;
int vmsnap_merge_estimator_new(vmsnap_op *op, vmsnap_merge_estimator **ret);
int vmsnap_merge_estimate(vmsnap_merge_estimator *estimator, const vmsnap_snapshot *snapshot,
                          vmsnap_merge_effects *ret);
void vmsnap_merge_estimator_free(vmsnap_merge_estimator *estimator);
