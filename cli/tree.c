/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tree.c: the drawing only. ListSnapshots gives parents before children and roots
 * by creation time, so each snapshot's children are found in that order; a record
 * whose parent is missing is drawn as a root rather than lost. The records are read
 * straight from the reply into a small struct per snapshot (its strings stay in the
 * message): with 1,000 snapshots a JSON document built first would cost more than
 * the drawing. As with variant-json.h's record lookups, a key missing or of another
 * type counts as empty. */
#include <errno.h>
#include <stdio.h>
#include <sys/types.h>
#include <string.h>

#include "output.h"
#include "tree.h"
#include "util.h"

#define NAME_COLUMN_MAX 48
#define DISKS_TEXT_MAX 512

/* What a line shows of one record of ListSnapshots. */
typedef struct tree_record {
        const char *id, *name, *parent; /* into the reply */
        int64_t created;
        uint64_t size;
        char *disks; /* the targets joined with ",", or "-" */
        bool current, in_preview, locked, partial, memory;
} tree_record;

/* The value of the open dictionary entry's variant, when it holds type; false (and the
 * value skipped) otherwise. */
static int read_variant(sd_bus_message *m, const char *type, void *value)
{
        const char *contents;
        int r = sd_bus_message_peek_type(m, NULL, &contents);
        if (r < 0)
                return r;
        if (strcmp(contents, type) != 0)
                return sd_bus_message_skip(m, "v");
        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, type);
        if (r >= 0)
                r = sd_bus_message_read_basic(m, type[0], value);
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        return r;
}

/* "vda,vdb" of an as variant, cut at DISKS_TEXT_MAX as the drawing always cut it. */
static int read_disks(sd_bus_message *m, char **ret)
{
        char text[DISKS_TEXT_MAX] = "";
        const char *contents, *target;
        size_t count = 0;
        int r = sd_bus_message_peek_type(m, NULL, &contents);
        if (r < 0)
                return r;
        if (strcmp(contents, "as") != 0)
                return sd_bus_message_skip(m, "v");
        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, "as");
        if (r >= 0)
                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "s");
        while (r >= 0 && (r = sd_bus_message_read_basic(m, SD_BUS_TYPE_STRING, &target)) > 0) {
                size_t used = strlen(text);
                snprintf(text + used, sizeof(text) - used, "%s%s", count++ ? "," : "", target);
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        free(*ret);
        *ret = xstrdup(strempty(text));
        return 0;
}

static int read_record(sd_bus_message *m, tree_record *record)
{
        int r;
        *record = (tree_record){.id = "", .name = "", .parent = ""};
        while ((r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv")) > 0) {
                const char *key;
                int flag;
                r = sd_bus_message_read_basic(m, SD_BUS_TYPE_STRING, &key);
                if (r < 0)
                        return r;
                if (strcmp(key, "id") == 0)
                        r = read_variant(m, "s", &record->id);
                else if (strcmp(key, "name") == 0)
                        r = read_variant(m, "s", &record->name);
                else if (strcmp(key, "parent") == 0)
                        r = read_variant(m, "s", &record->parent);
                else if (strcmp(key, "created") == 0)
                        r = read_variant(m, "x", &record->created);
                else if (strcmp(key, "size") == 0)
                        r = read_variant(m, "t", &record->size);
                else if (strcmp(key, "disks") == 0)
                        r = read_disks(m, &record->disks);
                else {
                        bool *mark = strcmp(key, "current") == 0      ? &record->current
                                     : strcmp(key, "in_preview") == 0 ? &record->in_preview
                                     : strcmp(key, "locked") == 0     ? &record->locked
                                     : strcmp(key, "partial") == 0    ? &record->partial
                                     : strcmp(key, "memory") == 0     ? &record->memory
                                                                      : NULL;
                        flag = mark ? *mark : 0;
                        r = mark ? read_variant(m, "b", &flag) : sd_bus_message_skip(m, "v");
                        if (mark)
                                *mark = flag;
                }
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        if (!record->disks)
                record->disks = xstrdup("");
        if (!*record->disks) {
                free(record->disks);
                record->disks = xstrdup("-");
        }
        return 0;
}

/* Reads the aa{sv} of ListSnapshots; the strings stay in m. */
static int read_records(sd_bus_message *m, tree_record **ret, size_t *n_ret)
{
        tree_record *records = NULL;
        size_t n = 0, capacity = 0;
        int r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "a{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}")) > 0) {
                if (n == capacity) {
                        capacity = capacity ? capacity * 2 : 64;
                        tree_record *grown = realloc(records, capacity * sizeof(*grown));
                        if (!grown)
                                abort();
                        records = grown;
                }
                r = read_record(m, &records[n]);
                n++;
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        free(records[i].disks);
                free(records);
                return r;
        }
        *ret = records;
        *n_ret = n;
        return 0;
}

typedef struct tree_line {
        char *prefix;        /* "│ └─" */
        size_t prefix_width; /* its columns, 2 a level: counted here, not on text up to 2,000 long */
        const tree_record *snapshot;
} tree_line;

/* Each snapshot's children as index lists, built once: a tree of 1,000 is drawn in
 * n log n time. parent[i] is the index of i's parent, or -1 for a root (also when
 * the parent is missing). */
typedef struct tree {
        const tree_record *records;
        size_t count;
        ssize_t *parent;
        size_t *first_child, *n_children, *children; /* children of i: children[first_child[i]...] */
        size_t *roots, n_roots;
        tree_line *lines;
        size_t n_lines;
} tree;

static const tree_record *sorting_records;

/* By id, and of equal ids the later record last: a parent named by an id that two
 * records carry is the later one. */
static int compare_by_id(const void *a, const void *b)
{
        size_t i = *(const size_t *)a, j = *(const size_t *)b;
        int order = strcmp(sorting_records[i].id, sorting_records[j].id);
        return order ? order : (i > j) - (i < j);
}

/* The index of the last record with this id, or -1. */
static ssize_t find_id(const tree *t, const size_t *by_id, const char *id)
{
        size_t low = 0, high = t->count; /* the first index in by_id whose id sorts after id */
        while (low < high) {
                size_t middle = low + (high - low) / 2;
                if (strcmp(t->records[by_id[middle]].id, id) <= 0)
                        low = middle + 1;
                else
                        high = middle;
        }
        return low > 0 && strcmp(t->records[by_id[low - 1]].id, id) == 0 ? (ssize_t)by_id[low - 1] : -1;
}

static void index_tree(tree *t)
{
        _cleanup_free_ size_t *by_id = xcalloc(t->count, sizeof(size_t));
        for (size_t i = 0; i < t->count; i++)
                by_id[i] = i;
        sorting_records = t->records;
        qsort(by_id, t->count, sizeof(size_t), compare_by_id);
        t->parent = xcalloc(t->count, sizeof(ssize_t));
        t->first_child = xcalloc(t->count, sizeof(size_t));
        t->n_children = xcalloc(t->count, sizeof(size_t));
        t->children = xcalloc(t->count, sizeof(size_t));
        t->roots = xcalloc(t->count, sizeof(size_t));
        for (size_t i = 0; i < t->count; i++) {
                const char *parent = t->records[i].parent;
                t->parent[i] = *parent ? find_id(t, by_id, parent) : -1;
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
static void walk(tree *t, const size_t *list, size_t n, const char *indent, size_t indent_width, bool roots)
{
        for (size_t k = 0; k < n; k++) {
                size_t i = list[k];
                bool last = k + 1 == n;
                tree_line *line = &t->lines[t->n_lines++];
                line->snapshot = &t->records[i];
                line->prefix_width = indent_width + (roots ? 0 : 2);
                if (asprintf(&line->prefix, "%s%s", indent, roots ? "" : last ? "└─" : "├─") < 0)
                        abort();
                _cleanup_free_ char *deeper = NULL;
                if (asprintf(&deeper, "%s%s", indent, roots ? "" : last ? "  " : "│ ") < 0)
                        abort();
                walk(t, t->children + t->first_child[i], t->n_children[i], deeper, line->prefix_width,
                     false);
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

static void draw(const tree_record *records, size_t count)
{
        tree t = {.records = records, .count = count};
        if (t.count == 0) {
                puts("No snapshots.");
                return;
        }
        t.lines = xcalloc(t.count, sizeof(tree_line));
        index_tree(&t);
        walk(&t, t.roots, t.n_roots, "", 0, true);

        size_t name_width = 0, disks_width = 0;
        /* Names align in one column, unless a deep branch would push it past NAME_COLUMN_MAX:
         * those lines keep two spaces. */
        for (size_t i = 0; i < t.n_lines; i++) {
                size_t w = t.lines[i].prefix_width + 2 + width(t.lines[i].snapshot->name);
                if (w > name_width && w <= NAME_COLUMN_MAX)
                        name_width = w;
                if (strlen(t.lines[i].snapshot->disks) > disks_width)
                        disks_width = strlen(t.lines[i].snapshot->disks);
        }
        for (size_t i = 0; i < t.n_lines; i++) {
                const tree_record *s = t.lines[i].snapshot;
                char created[32], size[32];
                format_time(s->created, created, sizeof(created));
                format_bytes(s->size, size, sizeof(size));
                size_t w = t.lines[i].prefix_width + 2 + width(s->name);
                printf("%s%s● %s%s%s%*s  %s  %-*s  %9s", t.lines[i].prefix,
                       s->current ? color(ANSI_GREEN) : "", s->current ? color(ANSI_BOLD) : "", s->name,
                       s->current ? color(ANSI_NORMAL) : "", (int)(w < name_width ? name_width - w : 0), "",
                       created, (int)disks_width, s->disks, size);
                if (s->current)
                        printf("  %s<- current%s", color(ANSI_GREEN), color(ANSI_NORMAL));
                if (s->in_preview)
                        printf("  %s(preview)%s", color(ANSI_YELLOW), color(ANSI_NORMAL));
                if (s->locked)
                        printf("  %s(locked)%s", color(ANSI_RED), color(ANSI_NORMAL));
                if (s->partial)
                        printf("  (partial)");
                if (s->memory)
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

int tree_print(sd_bus_message *reply)
{
        tree_record *records;
        size_t n;
        int r = read_records(reply, &records, &n);
        if (r < 0)
                return r;
        draw(records, n);
        for (size_t i = 0; i < n; i++)
                free(records[i].disks);
        free(records);
        return 0;
}
