/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* output.h: how vmsnapctl writes for people and for programs: aligned tables,
 * colour only on a terminal and never under NO_COLOR, sizes and times in one
 * spelling, and the single JSON document of --json. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define ANSI_BOLD "\033[1m"
#define ANSI_GREEN "\033[32m"
#define ANSI_RED "\033[31m"
#define ANSI_YELLOW "\033[33m"
#define ANSI_GREY "\033[90m"
#define ANSI_NORMAL "\033[0m"

/* Whether text written to f may carry colour: f is a terminal and NO_COLOR is unset
 * (https://no-color.org), and TERM is not "dumb". */
bool output_colors(FILE *f);

/* The escape sequence when stdout takes colour, else "". */
const char *color(const char *ansi);

/* "0 B", "512 B", "1.5 KiB", "64.0 MiB": IEC units, one decimal. */
void format_bytes(uint64_t bytes, char *buffer, size_t size);
/* Local time "2026-12-05 07:50:47" of seconds or microseconds since the epoch. */
void format_time(int64_t seconds, char *buffer, size_t size);
/* "1h02m", "3m05s", "12s". */
void format_duration(uint64_t seconds, char *buffer, size_t size);

/* Prints a JSON value as the one document of --json (pretty on a terminal). */
void output_json(json_object *value);

/* A table: columns are added with their headers, rows cell by cell, and it prints
 * aligned, the header bold on a terminal. The last column is not padded. */
typedef struct table table;
table *table_new(const char *first_header, ...) __attribute__((sentinel));
/* Adds a cell to the current row (a new row starts when the last one is full);
 * ansi colours the cell on a terminal, may be NULL. */
void table_add(table *t, const char *text, const char *ansi);
void table_addf(table *t, const char *ansi, const char *format, ...) __attribute__((format(printf, 3, 4)));
void table_print(table *t, bool legend);
void table_free(table *t);
