/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* verbs.h: the verb table. Each verb names its arguments, the options it takes
 * beyond the global ones, and the function that runs it; main.c checks the
 * counts and the options against this table before any verb runs. */
#pragma once

#include <stdbool.h>

typedef struct verb {
        const char *name;
        unsigned min_args, max_args; /* after the verb */
        unsigned options;            /* OPT_* it accepts */
        int (*run)(int argc, char **argv);
        const char *arguments; /* for usage lines: "DOMAIN SNAPSHOT" */
        const char *summary;
        bool hidden; /* not in --help: for the completion */
} verb;

extern const verb verbs[];

const verb *verb_find(const char *name);
/* "--memory" for OPT_MEMORY. */
const char *option_name(unsigned option);
/* Help of one verb: usage, what it does, and its options. */
void verb_help(const verb *v);

/* verbs-read.c */
int verb_list(int argc, char **argv);
int verb_tree(int argc, char **argv);
int verb_show(int argc, char **argv);
int verb_config(int argc, char **argv);
int verb_jobs(int argc, char **argv);
int verb_history(int argc, char **argv);
int verb_names(int argc, char **argv);

/* verbs-change.c */
int verb_create(int argc, char **argv);
int verb_preview(int argc, char **argv);
int verb_commit(int argc, char **argv);
int verb_undo(int argc, char **argv);
int verb_revert(int argc, char **argv);
int verb_delete(int argc, char **argv);
int verb_delete_all(int argc, char **argv);
int verb_purge(int argc, char **argv);
int verb_clone(int argc, char **argv);
int verb_rename(int argc, char **argv);
int verb_describe(int argc, char **argv);
int verb_cancel(int argc, char **argv);

/* monitor.c */
int verb_monitor(int argc, char **argv);
