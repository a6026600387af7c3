/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* verbs.c: the table of verbs and their help. The order here is the order of
 * `vmsnapctl --help`, of the man page and of the completion's verb list. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "verbs.h"

#define WAIT OPT_NO_WAIT

const verb verbs[] = {
        {"list", 0, 0, 0, verb_list, "", "List the domains and their snapshot state", false},
        {"tree", 1, 1, 0, verb_tree, "DOMAIN", "Draw the snapshot tree of a domain", false},
        {"show", 2, 2, 0, verb_show, "DOMAIN SNAPSHOT", "Show one snapshot", false},
        {"config", 1, 2, OPT_DISKS, verb_config, "DOMAIN [SNAPSHOT]",
         "Print the domain XML recorded at a snapshot (now, without one), or its disks with --disks", false},
        {"create", 1, 2, OPT_DESCRIPTION | OPT_DISK | OPT_MEMORY | OPT_QUIESCE | WAIT, verb_create,
         "DOMAIN [NAME]", "Take a snapshot (of every eligible disk, or those given with --disk)", false},
        {"preview", 2, 2, OPT_DISK | OPT_MEMORY | OPT_STOP | WAIT, verb_preview, "DOMAIN SNAPSHOT",
         "Preview a snapshot (--disk TARGET=SNAPSHOT takes a disk from another one)", false},
        {"commit", 1, 1, OPT_STOP | WAIT, verb_commit, "DOMAIN", "Keep the running preview", false},
        {"undo", 1, 1, OPT_STOP | WAIT, verb_undo, "DOMAIN", "End the running preview, back to before it",
         false},
        {"revert", 2, 2, OPT_MEMORY | OPT_STOP | OPT_START | WAIT, verb_revert, "DOMAIN SNAPSHOT",
         "Go back to a snapshot", false},
        {"delete", 2, 2, OPT_CHILDREN | OPT_CHILDREN_ONLY | OPT_METADATA_ONLY | WAIT, verb_delete,
         "DOMAIN SNAPSHOT", "Delete a snapshot (merging its data into what reads it)", false},
        {"delete-all", 1, 1, OPT_INTO_ORIGINAL | WAIT, verb_delete_all, "DOMAIN",
         "Delete every snapshot of a domain; its disks read as before", false},
        {"purge", 1, 1, OPT_UNDEFINE | WAIT, verb_purge, "DOMAIN",
         "Remove what vmsnap keeps for a domain libvirt no longer defines", false},
        {"clone", 2, 3,
         OPT_DISK | OPT_FORMAT | OPT_DIR | OPT_POOL | OPT_START | OPT_ALLOW_PARTIAL | OPT_LINKED | WAIT,
         verb_clone, "DOMAIN SNAPSHOT [NEW]", "Define a new domain from a snapshot", false},
        {"rename", 3, 3, 0, verb_rename, "DOMAIN SNAPSHOT NEW", "Rename a snapshot", false},
        {"describe", 3, 3, 0, verb_describe, "DOMAIN SNAPSHOT TEXT", "Replace a snapshot's description",
         false},
        {"history", 1, 1, 0, verb_history, "DOMAIN", "Show the changes made to a domain's snapshots", false},
        {"jobs", 0, 0, 0, verb_jobs, "", "List the running and recent jobs", false},
        {"cancel", 1, 1, 0, verb_cancel, "JOB", "Cancel a job (its number or object path)", false},
        {"monitor", 0, 1, 0, verb_monitor, "[DOMAIN]", "Print jobs and snapshot changes as they happen",
         false},
        {"__names", 1, 2, 0, verb_names, "domains|snapshots DOMAIN|jobs", "Names for the shell's completion",
         true},
        {NULL},
};

static const struct {
        unsigned option;
        const char *name;
        const char *help;
} option_table[] = {
        {OPT_DESCRIPTION, "--description", "--description=TEXT  The new snapshot's description"},
        {OPT_DISK, "--disk", NULL},
        {OPT_MEMORY, "--memory", NULL},
        {OPT_QUIESCE, "--quiesce",
         "--quiesce           Freeze the guest's file systems (needs the guest agent)"},
        {OPT_STOP, "--stop", "--stop              Stop a running domain first"},
        {OPT_START, "--start", NULL},
        {OPT_CHILDREN, "--children", "--children          Delete the snapshot and every snapshot below it"},
        {OPT_CHILDREN_ONLY, "--children-only",
         "--children-only     Delete every snapshot below it, keep it"},
        {OPT_METADATA_ONLY, "--metadata-only", "--metadata-only     Forget the snapshot, keep every file"},
        {OPT_FORMAT, "--format", "--format=qcow2|raw  Format of the copies"},
        {OPT_DIR, "--dir", "--dir=DIR           Directory of the copies (default: beside each image)"},
        {OPT_POOL, "--pool", "--pool=POOL         libvirt dir pool of the copies"},
        {OPT_ALLOW_PARTIAL, "--allow-partial",
         "--allow-partial     Clone a partial snapshot without its lost disks"},
        {OPT_LINKED, "--linked",
         "--linked            RBD disks: copy-on-write clones of the snapshot, not flattened"},
        {OPT_INTO_ORIGINAL, "--into-original",
         "--into-original     Commit into each original image: one file per disk"},
        {OPT_UNDEFINE, "--undefine", "--undefine          Undefine a defined, shut-off domain first"},
        {OPT_DISKS, "--disks", "--disks             The disks (target, image, format, sizes), not the XML"},
        {OPT_NO_WAIT, "--no-wait", "--no-wait           Print the job's path and return at once"},
};

const char *option_name(unsigned option)
{
        for (size_t i = 0; i < sizeof(option_table) / sizeof(option_table[0]); i++)
                if (option_table[i].option == option)
                        return option_table[i].name;
        return "?";
}

const verb *verb_find(const char *name)
{
        for (const verb *v = verbs; v->name; v++)
                if (strcmp(v->name, name) == 0)
                        return v;
        return NULL;
}

/* Options whose meaning depends on the verb. */
static const char *verb_option_help(const verb *v, unsigned option)
{
        const char *name = v->name;
        switch (option) {
        case OPT_DISK:
                if (strcmp(name, "create") == 0)
                        return "--disk=TARGET       Include this disk (repeat; default: every eligible "
                               "disk)";
                if (strcmp(name, "preview") == 0)
                        return "--disk=TARGET=SNAP  Take this disk from another snapshot (repeat)";
                return "--disk=TARGET:KEY=VALUE[,...]\n"
                       "                      Per disk: format=qcow2|raw, dir=DIR, include=yes|no (repeat)";
        case OPT_MEMORY:
                if (strcmp(name, "create") == 0)
                        return "--memory            Save the memory of a running domain too";
                return "--memory            Restore the snapshot's memory state";
        case OPT_START:
                if (strcmp(name, "clone") == 0)
                        return "--start             Start the new domain";
                return "--start             Start the domain afterwards";
        default:
                for (size_t i = 0; i < sizeof(option_table) / sizeof(option_table[0]); i++)
                        if (option_table[i].option == option)
                                return option_table[i].help;
                return NULL;
        }
}

void verb_help(const verb *v)
{
        printf("vmsnapctl [OPTIONS...] %s%s%s\n\n%s.\n", v->name, *v->arguments ? " " : "", v->arguments,
               v->summary);
        if (v->options) {
                printf("\nOptions:\n");
                for (size_t i = 0; i < sizeof(option_table) / sizeof(option_table[0]); i++)
                        if (v->options & option_table[i].option)
                                printf("  %s\n", verb_option_help(v, option_table[i].option));
        }
        printf("\nSee vmsnapctl --help for the global options, and vmsnapctl(1).\n");
}
