/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tree.c: the drawing only. ListSnapshots gives parents before children and roots
 * by creation time, so each snapshot's children are found in that order; a record
 * whose parent is missing is drawn as a root rather than lost. */
#include <stdio.h>
#include <sys/types.h>
#include <string.h>

#include "output.h"
#include "tree.h"
#include "util.h"
#include "variant-json.h"

#define NAME_COLUMN_MAX 48

typedef struct tree_line {
        char *prefix; /* "│ └─" */
        json_object *snapshot;
} tree_line;

/* Each snapshot's children as index lists, built once: a tree of 1,000 is drawn in
 * linear time. parent[i] is the index of i's parent, or -1 for a root (also when
 * the parent is missing). */
typedef struct tree {
        json_object *snapshots;
        size_t count;
        ssize_t *parent;
        size_t *first_child, *n_children, *children; /* children of i: children[first_child[i]...] */
        size_t *roots, n_roots;
        tree_line *lines;
        size_t n_lines;
} tree;

static void index_tree(tree *t)
{
        _cleanup_(json_object_putp) json_object *by_id = json_object_new_object();
        for (size_t i = 0; i < t->count; i++)
                json_object_object_add(by_id,
                                       record_string(json_object_array_get_idx(t->snapshots, i), "id"),
                                       json_object_new_int64((int64_t)i));
        t->parent = xcalloc(t->count, sizeof(ssize_t));
        t->first_child = xcalloc(t->count, sizeof(size_t));
        t->n_children = xcalloc(t->count, sizeof(size_t));
        t->children = xcalloc(t->count, sizeof(size_t));
        t->roots = xcalloc(t->count, sizeof(size_t));
        for (size_t i = 0; i < t->count; i++) {
                json_object *found;
                const char *parent = record_string(json_object_array_get_idx(t->snapshots, i), "parent");
                t->parent[i] = *parent && json_object_object_get_ex(by_id, parent, &found)
                                       ? (ssize_t)json_object_get_int64(found)
                                       : -1;
                if (t->parent[i] < 0)
                        t->roots[t->n_roots++] = i;
                else
                        t->n_children[t->parent[i]]++;
        }
        size_t next = 0;
        for (size_t i = 0; i < t->count; i++) {
                t->first_child[i] = next;
                next += t->n_children[i];
                t->n_children[i] = 0;
        }
        for (size_t i = 0; i < t->count; i++)
                if (t->parent[i] >= 0) {
                        size_t p = (size_t)t->parent[i];
                        t->children[t->first_child[p] + t->n_children[p]++] = i;
                }
}

/* Adds the snapshots of list (n of them) and their subtrees, under indent. */
static void walk(tree *t, const size_t *list, size_t n, const char *indent, bool roots)
{
        for (size_t k = 0; k < n; k++) {
                size_t i = list[k];
                bool last = k + 1 == n;
                tree_line *line = &t->lines[t->n_lines++];
                line->snapshot = json_object_array_get_idx(t->snapshots, i);
                if (asprintf(&line->prefix, "%s%s", indent, roots ? "" : last ? "└─" : "├─") < 0)
                        abort();
                _cleanup_free_ char *deeper = NULL;
                if (asprintf(&deeper, "%s%s", indent, roots ? "" : last ? "  " : "│ ") < 0)
                        abort();
                walk(t, t->children + t->first_child[i], t->n_children[i], deeper, false);
        }
}

static size_t width(const char *s)
{
        size_t n = 0;
        for (; *s; s++)
                if (((unsigned char)*s & 0xc0) != 0x80)
                        n++;
        return n;
}

static void join_disks(json_object *snapshot, char *buffer, size_t size)
{
        json_object *disks = record_array(snapshot, "disks");
        buffer[0] = '\0';
        for (size_t i = 0; disks && i < json_object_array_length(disks); i++) {
                size_t used = strlen(buffer);
                snprintf(buffer + used, size - used, "%s%s", i ? "," : "",
                         json_object_get_string(json_object_array_get_idx(disks, i)));
        }
        if (!buffer[0])
                snprintf(buffer, size, "-");
}

void tree_print(json_object *snapshots)
{
        tree t = {.snapshots = snapshots, .count = json_object_array_length(snapshots)};
        if (t.count == 0) {
                puts("No snapshots.");
                return;
        }
        t.lines = xcalloc(t.count, sizeof(tree_line));
        index_tree(&t);
        walk(&t, t.roots, t.n_roots, "", true);

        size_t name_width = 0, disks_width = 0;
        char disks[512];
        /* Names align in one column, unless a deep branch would push it past NAME_COLUMN_MAX:
         * those lines keep two spaces. */
        for (size_t i = 0; i < t.n_lines; i++) {
                size_t w = width(t.lines[i].prefix) + 2 + width(record_string(t.lines[i].snapshot, "name"));
                if (w > name_width && w <= NAME_COLUMN_MAX)
                        name_width = w;
                join_disks(t.lines[i].snapshot, disks, sizeof(disks));
                if (strlen(disks) > disks_width)
                        disks_width = strlen(disks);
        }
        for (size_t i = 0; i < t.n_lines; i++) {
                json_object *s = t.lines[i].snapshot;
                const char *name = record_string(s, "name");
                char created[32], size[32];
                format_time(record_int(s, "created"), created, sizeof(created));
                format_bytes(record_uint(s, "size"), size, sizeof(size));
                join_disks(s, disks, sizeof(disks));
                bool current = record_bool(s, "current");
                size_t w = width(t.lines[i].prefix) + 2 + width(name);
                printf("%s%s● %s%s%s%*s  %s  %-*s  %9s", t.lines[i].prefix, current ? color(ANSI_GREEN) : "",
                       current ? color(ANSI_BOLD) : "", name, current ? color(ANSI_NORMAL) : "",
                       (int)(w < name_width ? name_width - w : 0), "", created, (int)disks_width, disks,
                       size);
                if (current)
                        printf("  %s<- current%s", color(ANSI_GREEN), color(ANSI_NORMAL));
                if (record_bool(s, "in_preview"))
                        printf("  %s(preview)%s", color(ANSI_YELLOW), color(ANSI_NORMAL));
                if (record_bool(s, "locked"))
                        printf("  %s(locked)%s", color(ANSI_RED), color(ANSI_NORMAL));
                if (record_bool(s, "partial"))
                        printf("  (partial)");
                if (record_bool(s, "memory"))
                        printf("  (memory)");
                putchar('\n');
                free(t.lines[i].prefix);
        }
        free(t.lines);
        free(t.parent);
        free(t.first_child);
        free(t.n_children);
        free(t.children);
        free(t.roots);
}
