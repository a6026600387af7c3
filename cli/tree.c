/* tree.c: the drawing only. ListSnapshots gives parents before children and roots
 * by creation time, so each snapshot's children are found in that order; a record
 * whose parent is missing is drawn as a root rather than lost. */
#include <stdio.h>
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

typedef struct tree {
        json_object *snapshots;
        size_t count;
        tree_line *lines;
        size_t n_lines;
} tree;

static bool has_parent(tree *t, const char *parent)
{
        if (!*parent)
                return false;
        for (size_t i = 0; i < t->count; i++)
                if (strcmp(record_string(json_object_array_get_idx(t->snapshots, i), "id"), parent) == 0)
                        return true;
        return false;
}

static bool is_child(tree *t, json_object *snapshot, const char *parent_id)
{
        const char *parent = record_string(snapshot, "parent");
        if (!parent_id)
                return !has_parent(t, parent);
        return strcmp(parent, parent_id) == 0;
}

/* Adds the children of parent_id (roots when NULL) and their subtrees. */
static void walk(tree *t, const char *parent_id, const char *indent)
{
        size_t last = SIZE_MAX;
        for (size_t i = 0; i < t->count; i++)
                if (is_child(t, json_object_array_get_idx(t->snapshots, i), parent_id))
                        last = i;
        for (size_t i = 0; i < t->count && last != SIZE_MAX; i++) {
                json_object *snapshot = json_object_array_get_idx(t->snapshots, i);
                if (!is_child(t, snapshot, parent_id))
                        continue;
                tree_line *line = &t->lines[t->n_lines++];
                line->snapshot = snapshot;
                if (asprintf(&line->prefix, "%s%s", indent, !parent_id ? "" : i == last ? "└─" : "├─") < 0)
                        abort();
                _cleanup_free_ char *deeper = NULL;
                if (asprintf(&deeper, "%s%s", indent, !parent_id ? "" : i == last ? "  " : "│ ") < 0)
                        abort();
                walk(t, record_string(snapshot, "id"), deeper);
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
        walk(&t, NULL, "");

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
}
