/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tree.h: the snapshot tree of one published metadata as indexes: each
 * snapshot's parent, its children in creation order, and the depth-first order
 * readers list them in. Built once per published metadata, on the first read
 * after a change, and kept in the domain's slot until the metadata is replaced,
 * so a read of a large tree does not sort it again. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define VMSNAP_TREE_NO_PARENT SIZE_MAX

typedef struct vmsnap_tree {
        size_t n;          /* meta->n_snapshots when built */
        size_t *parent;    /* index of the parent, or VMSNAP_TREE_NO_PARENT for a root */
        size_t **children; /* per snapshot, in creation order */
        size_t *n_children;
        /* Every parent before its children, siblings by creation. Snapshots whose parents
         * loop never reach it (the store refuses such metadata). */
        size_t *depth_first;
        size_t n_depth_first;
} vmsnap_tree;

vmsnap_tree *vmsnap_tree_build(const vmsnap_domain_meta *meta);
void vmsnap_tree_free(vmsnap_tree *tree);
