/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* output.c: tables, colour and the spelling of sizes and times. Everything a
 * script may parse (the columns, their order, the units) is listed as stable in
 * vmsnapctl(1); colour and padding are not. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "output.h"
#include "util.h"

bool output_colors(FILE *f)
{
        const char *term = getenv("TERM");
        if (getenv("NO_COLOR"))
                return false;
        if (term && strcmp(term, "dumb") == 0)
                return false;
        return isatty(fileno(f));
}

const char *color(const char *ansi)
{
        static int stdout_colors = -1;
        if (stdout_colors < 0)
                stdout_colors = output_colors(stdout);
        return stdout_colors ? ansi : "";
}

void format_bytes(uint64_t bytes, char *buffer, size_t size)
{
        static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        if (bytes < 1024) {
                snprintf(buffer, size, "%llu B", (unsigned long long)bytes);
                return;
        }
        double value = (double)bytes / 1024.0;
        size_t unit = 0;
        while (value >= 1024.0 && unit + 1 < sizeof(units) / sizeof(units[0])) {
                value /= 1024.0;
                unit++;
        }
        snprintf(buffer, size, "%.1f %s", value, units[unit]);
}

void format_time(int64_t seconds, char *buffer, size_t size)
{
        time_t t = (time_t)seconds;
        struct tm tm;
        if (seconds <= 0 || !localtime_r(&t, &tm) || strftime(buffer, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                snprintf(buffer, size, "-");
}

void format_duration(uint64_t seconds, char *buffer, size_t size)
{
        if (seconds >= 3600)
                snprintf(buffer, size, "%lluh%02llum", (unsigned long long)(seconds / 3600),
                         (unsigned long long)(seconds % 3600 / 60));
        else if (seconds >= 60)
                snprintf(buffer, size, "%llum%02llus", (unsigned long long)(seconds / 60),
                         (unsigned long long)(seconds % 60));
        else
                snprintf(buffer, size, "%llus", (unsigned long long)seconds);
}

void output_json(json_object *value)
{
        int flags = isatty(STDOUT_FILENO) ? JSON_C_TO_STRING_PRETTY : JSON_C_TO_STRING_PLAIN;
        puts(json_object_to_json_string_ext(value, flags | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* ---- tables ---- */

typedef struct cell {
        char *text;
        const char *ansi;
} cell;

struct table {
        size_t columns;
        size_t count; /* cells, the header row included */
        cell *cells;
};

static void table_push(table *t, const char *text, const char *ansi)
{
        cell *grown = realloc(t->cells, (t->count + 1) * sizeof(cell));
        if (!grown)
                abort();
        t->cells = grown;
        t->cells[t->count].text = xstrdup(strempty(text));
        t->cells[t->count].ansi = ansi;
        t->count++;
}

table *table_new(const char *first_header, ...)
{
        table *t = xcalloc(1, sizeof(table));
        va_list ap;
        va_start(ap, first_header);
        for (const char *header = first_header; header; header = va_arg(ap, const char *)) {
                table_push(t, header, NULL);
                t->columns++;
        }
        va_end(ap);
        return t;
}

void table_add(table *t, const char *text, const char *ansi)
{
        table_push(t, text, ansi);
}

void table_addf(table *t, const char *ansi, const char *format, ...)
{
        char *text = NULL;
        va_list ap;
        va_start(ap, format);
        if (vasprintf(&text, format, ap) < 0)
                abort();
        va_end(ap);
        table_push(t, text, ansi);
        free(text);
}

/* Width on a terminal: UTF-8 continuation bytes take no column. */
static size_t text_width(const char *s)
{
        size_t width = 0;
        for (; *s; s++)
                if (((unsigned char)*s & 0xc0) != 0x80)
                        width++;
        return width;
}

void table_print(table *t, bool legend)
{
        _cleanup_free_ size_t *widths = xcalloc(t->columns, sizeof(size_t));
        for (size_t i = legend ? 0 : t->columns; i < t->count; i++) {
                size_t w = text_width(t->cells[i].text);
                if (w > widths[i % t->columns])
                        widths[i % t->columns] = w;
        }
        for (size_t i = legend ? 0 : t->columns; i < t->count; i++) {
                size_t column = i % t->columns;
                bool header = i < t->columns;
                const char *ansi = header ? ANSI_BOLD : t->cells[i].ansi;
                bool last = column + 1 == t->columns;
                if (ansi && *color(ansi))
                        fputs(ansi, stdout);
                fputs(t->cells[i].text, stdout);
                if (ansi && *color(ansi))
                        fputs(ANSI_NORMAL, stdout);
                if (last)
                        fputc('\n', stdout);
                else
                        printf("%*s", (int)(widths[column] - text_width(t->cells[i].text) + 2), "");
        }
}

void table_free(table *t)
{
        if (!t)
                return;
        for (size_t i = 0; i < t->count; i++)
                free(t->cells[i].text);
        free(t->cells);
        free(t);
}
