/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tree.c: the tree indexes of a domain's snapshots (see tree.h). */
#include <stdlib.h>
#include <string.h>

#include "tree.h"
#include "util.h"

static int compare_created(const void *a, const void *b, void *userdata)
{
        const vmsnap_domain_meta *meta = userdata;
        const vmsnap_snapshot *x = meta->snapshots[*(const size_t *)a];
        const vmsnap_snapshot *y = meta->snapshots[*(const size_t *)b];
        if (x->created != y->created)
                return x->created < y->created ? -1 : 1;
        return strcmp(x->name, y->name);
}

vmsnap_tree *vmsnap_tree_build(const vmsnap_domain_meta *meta)
{
        size_t n = meta->n_snapshots;
        vmsnap_tree *tree = xcalloc(1, sizeof(*tree));
        size_t *by_id = vmsnap_domain_meta_sort_by_id(meta);
        size_t *by_created = xcalloc(n, sizeof(size_t));
        size_t *stack = xcalloc(n, sizeof(size_t));
        size_t n_stack = 0;

        tree->n = n;
        tree->parent = xcalloc(n, sizeof(size_t));
        tree->children = xcalloc(n, sizeof(size_t *));
        tree->n_children = xcalloc(n, sizeof(size_t));
        tree->depth_first = xcalloc(n, sizeof(size_t));
        for (size_t i = 0; i < n; i++)
                by_created[i] = i;
        qsort_r(by_created, n, sizeof(size_t), compare_created, (void *)meta);
        for (size_t i = 0; i < n; i++)
                tree->parent[i] = vmsnap_domain_meta_find_sorted(meta, by_id, meta->snapshots[i]->parent_id);

        /* Children in creation order: walk the sorted order and append. */
        for (size_t k = 0; k < n; k++) {
                size_t i = by_created[k], p = tree->parent[i];
                if (p == VMSNAP_TREE_NO_PARENT)
                        continue;
                tree->children[p] =
                        xreallocarray(tree->children[p], tree->n_children[p] + 1, sizeof(size_t));
                tree->children[p][tree->n_children[p]++] = i;
        }

        /* Depth first without recursion: a chain of thousands of snapshots is a deep tree.
         * Roots and children are pushed in reverse so that they come out in creation order. */
        for (size_t k = n; k-- > 0;)
                if (tree->parent[by_created[k]] == VMSNAP_TREE_NO_PARENT)
                        stack[n_stack++] = by_created[k];
        while (n_stack > 0) {
                size_t i = stack[--n_stack];
                tree->depth_first[tree->n_depth_first++] = i;
                for (size_t c = tree->n_children[i]; c-- > 0;)
                        stack[n_stack++] = tree->children[i][c];
        }
        free(stack);
        free(by_created);
        free(by_id);
        return tree;
}

void vmsnap_tree_free(vmsnap_tree *tree)
{
        if (!tree)
                return;
        for (size_t i = 0; i < tree->n; i++)
                free(tree->children[i]);
        free(tree->children);
        free(tree->n_children);
        free(tree->parent);
        free(tree->depth_first);
        free(tree);
}
